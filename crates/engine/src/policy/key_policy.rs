//! AWS key policies (GetKeyPolicy / PutKeyPolicy) mapped onto Strongroom
//! policies. A key policy is stored as one Strongroom policy per principal,
//! named `kp-<key id>-<n>`, attached to that identity, whose statements name
//! the key (`key/<id>`). The subset accepted is documented in docs/AWS.md;
//! anything outside it is refused with a message naming what and why.
//!
//! Pure: parsing and rendering only; the registry stores the result.

use serde_json::{json, Map, Value};

use super::actions::ACTIONS;
use super::model::{Effect, Policy, Statement};

/// Name prefix of the policies that hold key policies.
pub const KEY_POLICY_PREFIX: &str = "kp-";
/// The only key policy name (as in AWS).
pub const KEY_POLICY_NAME: &str = "default";
/// Largest accepted document, in bytes (AWS: 32 KiB).
pub const MAX_KEY_POLICY_BYTES: usize = 32 * 1024;

/// Name of the `n`th stored policy of key `key_id`.
pub fn stored_name(key_id: &str, n: usize) -> String {
    format!("{KEY_POLICY_PREFIX}{key_id}-{n}")
}

/// Whether `name` is one of the stored policies of key `key_id`.
pub fn is_stored_for(name: &str, key_id: &str) -> bool {
    name.strip_prefix(KEY_POLICY_PREFIX)
        .and_then(|r| r.strip_prefix(key_id))
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The statements granted to one identity by a key policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub identity: String,
    pub statements: Vec<Statement>,
}

/// Where the key lives, for principals and resources.
pub struct Scope<'a> {
    pub key_id: &'a str,
    pub key_arn: &'a str,
    pub account_id: &'a str,
}

fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

fn strings(field: &str, v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{field} must be a string or a list of strings"))
            })
            .collect(),
        _ => Err(format!(
            "{field} must be a string or a non-empty list of strings"
        )),
    }
}

enum Principal {
    /// The account itself: "identity policies apply" (AWS's default statement).
    Account,
    Identity(String),
}

fn principal(p: &str, scope: &Scope<'_>) -> Result<Principal, String> {
    if p == scope.account_id || p == root_arn(scope.account_id) {
        return Ok(Principal::Account);
    }
    if p == "*" {
        return Err("Principal \"*\" (everyone) is not supported; name identities".into());
    }
    if let Some(rest) = p.strip_prefix("arn:aws:iam::") {
        let (account, res) = rest
            .split_once(':')
            .ok_or_else(|| format!("principal {p:?} is not an IAM ARN"))?;
        if account != scope.account_id {
            return Err(format!(
                "principal {p:?} is in account {account}; this server's account id is {}",
                scope.account_id
            ));
        }
        let name = res
            .strip_prefix("user/")
            .or_else(|| res.strip_prefix("role/"))
            .ok_or_else(|| {
                format!(
                    "principal {p:?}: use arn:aws:iam::ACCOUNT:user/IDENTITY (or role/IDENTITY)"
                )
            })?;
        return Ok(Principal::Identity(name.to_string()));
    }
    if p.contains(':') || p.contains('/') || p.is_empty() {
        return Err(format!(
            "principal {p:?} is not a Strongroom identity name or arn:aws:iam::ACCOUNT:user/IDENTITY"
        ));
    }
    Ok(Principal::Identity(p.to_string()))
}

fn actions(v: &Value) -> Result<Vec<String>, String> {
    let list = strings("Action", v)?;
    for a in &list {
        if a == "kms:*" {
            continue;
        }
        if !a.starts_with("kms:") || !ACTIONS.contains(&a.as_str()) {
            return Err(format!(
                "action {a:?} is not supported in a key policy; use \"kms:*\" or kms: action names listed in docs/POLICY.md (names are case-sensitive)"
            ));
        }
    }
    Ok(list)
}

/// Parses an AWS key policy document into grants per identity (in order of
/// first appearance). The account-root statement (`kms:*` for
/// `arn:aws:iam::ACCOUNT:root`) is accepted and stored as nothing: identity
/// policies always apply in Strongroom.
pub fn parse(doc: &str, scope: &Scope<'_>) -> Result<Vec<Grant>, String> {
    if doc.len() > MAX_KEY_POLICY_BYTES {
        return Err(format!(
            "the policy is {} bytes; at most {MAX_KEY_POLICY_BYTES} are allowed",
            doc.len()
        ));
    }
    let v: Value =
        serde_json::from_str(doc).map_err(|e| format!("the policy is not valid JSON: {e}"))?;
    let top = v
        .as_object()
        .ok_or("the policy must be a JSON object with Version and Statement")?;
    for k in top.keys() {
        if !["Version", "Id", "Statement"].contains(&k.as_str()) {
            return Err(format!(
                "top-level field {k:?} is not supported; use Version, Id and Statement"
            ));
        }
    }
    if let Some(ver) = top.get("Version") {
        if ver != "2012-10-17" && ver != "2008-10-17" {
            return Err(format!(
                "Version {ver} is not supported; use \"2012-10-17\""
            ));
        }
    }
    let stmts: Vec<&Value> = match top.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => return Err("Statement must be an object or a list of objects".into()),
    };
    if stmts.len() > super::MAX_STATEMENTS {
        return Err(format!(
            "{} statements; at most {} are allowed",
            stmts.len(),
            super::MAX_STATEMENTS
        ));
    }
    let mut grants: Vec<Grant> = Vec::new();
    for (i, s) in stmts.into_iter().enumerate() {
        let at = |m: String| format!("statement {i}: {m}");
        let o = s
            .as_object()
            .ok_or_else(|| at("a statement must be a JSON object".into()))?;
        for k in o.keys() {
            match k.as_str() {
                "Sid" | "Effect" | "Principal" | "Action" | "Resource" => {}
                "Condition" | "NotAction" | "NotPrincipal" | "NotResource" => {
                    return Err(at(format!(
                        "{k} is not supported; Strongroom key policies take Effect, Principal, Action and Resource only"
                    )))
                }
                other => return Err(at(format!("unknown field {other:?}"))),
            }
        }
        let effect = match o.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return Err(at("Effect must be \"Allow\" or \"Deny\"".into())),
        };
        let acts = actions(
            o.get("Action")
                .ok_or_else(|| at("Action is required".into()))?,
        )
        .map_err(at)?;
        let res = strings(
            "Resource",
            o.get("Resource")
                .ok_or_else(|| at("Resource is required".into()))?,
        )
        .map_err(at)?;
        if let Some(r) = res.iter().find(|r| *r != "*" && *r != scope.key_arn) {
            return Err(at(format!(
                "Resource {r:?} is not supported; in a key policy use \"*\" (this key) or this key's ARN"
            )));
        }
        let princ = match o.get("Principal") {
            Some(Value::Object(m)) => {
                if let Some(k) = m.keys().find(|k| *k != "AWS") {
                    return Err(at(format!(
                        "Principal type {k:?} is not supported; use {{\"AWS\": ...}}"
                    )));
                }
                strings(
                    "Principal.AWS",
                    m.get("AWS")
                        .ok_or_else(|| at("Principal needs an \"AWS\" entry".into()))?,
                )
                .map_err(at)?
            }
            Some(Value::String(s)) => vec![s.clone()],
            _ => {
                return Err(at(
                    "Principal is required: {\"AWS\": \"arn:aws:iam::ACCOUNT:user/IDENTITY\"}"
                        .into(),
                ))
            }
        };
        for p in princ {
            match principal(&p, scope).map_err(at)? {
                Principal::Account => {
                    if effect != Effect::Allow || acts != ["kms:*"] {
                        return Err(at(format!(
                            "the account principal {p:?} is accepted only as Allow kms:* (\"identity policies apply\", which always holds in Strongroom)"
                        )));
                    }
                }
                Principal::Identity(name) => {
                    let st = Statement {
                        effect,
                        actions: acts.clone(),
                        resources: vec![format!("key/{}", scope.key_id)],
                        condition: None,
                    };
                    match grants.iter_mut().find(|g| g.identity == name) {
                        Some(g) => g.statements.push(st),
                        None => grants.push(Grant {
                            identity: name,
                            statements: vec![st],
                        }),
                    }
                }
            }
        }
    }
    Ok(grants)
}

/// Renders the key policy: AWS's default account statement, then one
/// statement per stored statement, with the identity as principal.
pub fn render(scope: &Scope<'_>, stored: &[(String, Policy)]) -> String {
    let mut statements = vec![json!({
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": { "AWS": root_arn(scope.account_id) },
        "Action": "kms:*",
        "Resource": "*",
    })];
    for (identity, p) in stored {
        for (i, s) in p.statements.iter().enumerate() {
            let mut o = Map::new();
            o.insert("Sid".into(), json!(format!("{identity}-{i}")));
            o.insert("Effect".into(), json!(s.effect.to_string()));
            o.insert(
                "Principal".into(),
                json!({ "AWS": format!("arn:aws:iam::{}:user/{identity}", scope.account_id) }),
            );
            o.insert(
                "Action".into(),
                if s.actions.len() == 1 {
                    json!(s.actions[0])
                } else {
                    json!(s.actions)
                },
            );
            o.insert("Resource".into(), json!("*"));
            statements.push(Value::Object(o));
        }
    }
    serde_json::to_string_pretty(&json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": statements,
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

    fn scope() -> (String, String) {
        (
            format!("arn:aws:kms:us-east-1:000000000000:key/{KEY}"),
            "000000000000".into(),
        )
    }

    fn parse_doc(doc: &str) -> Result<Vec<Grant>, String> {
        let (arn, acct) = scope();
        parse(
            doc,
            &Scope {
                key_id: KEY,
                key_arn: &arn,
                account_id: &acct,
            },
        )
    }

    #[test]
    fn parses_the_supported_subset() {
        let g = parse_doc(
            r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::000000000000:user/app","ops"]},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"},
              {"Effect":"Deny","Principal":{"AWS":"app"},"Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:000000000000:key/1b4e28ba-2fa1-41d2-883f-0016d3cca427"}
            ]}"#,
        )
        .expect("valid");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].identity, "app");
        assert_eq!(g[0].statements.len(), 2);
        assert_eq!(g[0].statements[1].effect, Effect::Deny);
        assert_eq!(g[0].statements[0].resources, vec![format!("key/{KEY}")]);
        assert_eq!(g[1].identity, "ops");
        for gr in &g {
            let p = Policy {
                name: stored_name(KEY, 0),
                description: String::new(),
                statements: gr.statements.clone(),
            };
            p.validate_custom().expect("stored policy validates");
        }
    }

    #[test]
    fn refuses_everything_outside_the_subset_with_a_reason() {
        for (doc, want) in [
            ("nope", "not valid JSON"),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"app"},"Action":"kms:Encrypt","Resource":"*","Condition":{}}]}"#,
                "Condition is not supported",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]}"#,
                "everyone",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:user/app"},"Action":"kms:Encrypt","Resource":"*"}]}"#,
                "account",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"app"},"Action":"kms:encrypt","Resource":"*"}]}"#,
                "not supported in a key policy",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"app"},"Action":"strongroom:Seal","Resource":"*"}]}"#,
                "not supported in a key policy",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"app"},"Action":"kms:Encrypt","Resource":"arn:aws:kms:us-east-1:000000000000:key/other"}]}"#,
                "Resource",
            ),
            (
                r#"{"Statement":[{"Effect":"Maybe","Principal":{"AWS":"app"},"Action":"kms:Encrypt","Resource":"*"}]}"#,
                "Effect",
            ),
            (
                r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#,
                "account principal",
            ),
            (r#"{"Version":"2001-01-01","Statement":[]}"#, "Version"),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"x"},"Action":"kms:Encrypt","Resource":"*"}]}"#,
                "Principal type",
            ),
        ] {
            let e = parse_doc(doc).expect_err(doc);
            assert!(e.contains(want), "{doc}: {e}");
        }
    }

    #[test]
    fn render_then_parse_round_trips() {
        let g = parse_doc(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"app"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#,
        )
        .expect("valid");
        let stored: Vec<(String, Policy)> = g
            .iter()
            .enumerate()
            .map(|(i, gr)| {
                (
                    gr.identity.clone(),
                    Policy {
                        name: stored_name(KEY, i),
                        description: String::new(),
                        statements: gr.statements.clone(),
                    },
                )
            })
            .collect();
        let (arn, acct) = scope();
        let sc = Scope {
            key_id: KEY,
            key_arn: &arn,
            account_id: &acct,
        };
        let doc = render(&sc, &stored);
        assert_eq!(parse(&doc, &sc).expect("rendered policy parses"), g);
        assert!(doc.contains("arn:aws:iam::000000000000:root"));
    }

    #[test]
    fn stored_names_belong_to_one_key() {
        assert!(is_stored_for(&stored_name(KEY, 3), KEY));
        assert!(!is_stored_for(&format!("kp-{KEY}-x"), KEY));
        assert!(!is_stored_for("kp-other-1", KEY));
        assert!(stored_name(KEY, 99).len() <= super::super::MAX_NAME_LEN);
    }
}
