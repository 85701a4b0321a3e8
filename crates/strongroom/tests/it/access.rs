//! Access control over HTTP, against the real binary: the role × action ×
//! own/other-key privilege matrix, least privilege (security.md 14),
//! encryption-context conditions, literal resource patterns (16), dual
//! control (15), token revocation and expiry (17), and auditing of denied
//! requests (20).
//!
//! Expectations come from tables written here from docs/POLICY.md, not from
//! the implementation.

use crate::access_common;
use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use access_common::{
    audit_query, call, create_key, denied, encrypt_as_root, fails, identity, key_state, ok,
    production, put_policy, token_for,
};
use common::{b64, error_code, BIN};
use serde_json::{json, Value};
use strongroom_testkit::Server;

// ---------------------------------------------------------------------------
// The independent expectation table (docs/POLICY.md, "Actions" and
// "Built-in roles").
// ---------------------------------------------------------------------------

/// Every Admin-category action (POLICY.md action table).
const ADMIN: &[&str] = &[
    "kms:CreateKey",
    "kms:UpdateKeyDescription",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:UpdateAlias",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:RotateKeyOnDemand",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:EnableKeyVersion",
    "kms:DisableKeyVersion",
    "kms:SetMinDecryptionVersion",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:PutKeyPolicy",
    "kms:ImportKeyMaterial",
    "kms:GetParametersForImport",
    "kms:DeleteImportedKeyMaterial",
];

/// The `kms:` Read actions.
const KMS_READ: &[&str] = &[
    "kms:DescribeKey",
    "kms:ListKeys",
    "kms:ListAliases",
    "kms:GetKeyPolicy",
];

/// What the key-user's attached policy grants, on its own keys only.
const KEY_USER_GRANT: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:Sign",
    "kms:Verify",
    "kms:GenerateMac",
    "kms:VerifyMac",
    "kms:GetPublicKey",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    KeyAdmin,
    KeyUser,
    Auditor,
    Approver,
}

const ROLES: [Role; 5] = [
    Role::Root,
    Role::KeyAdmin,
    Role::KeyUser,
    Role::Auditor,
    Role::Approver,
];

/// Whether `role` may do `action`; `own` is whether the target key is one
/// the key-user's attached policy names (irrelevant for the other roles).
fn expected(role: Role, action: &str, own: bool) -> bool {
    match role {
        Role::Root => true,
        Role::KeyAdmin => ADMIN.contains(&action) || KMS_READ.contains(&action),
        Role::KeyUser => {
            ["kms:DescribeKey", "kms:ListKeys", "kms:ListAliases"].contains(&action)
                || (own && KEY_USER_GRANT.contains(&action))
        }
        Role::Auditor => [
            "kms:DescribeKey",
            "kms:ListKeys",
            "kms:ListAliases",
            "kms:GetKeyPolicy",
            "strongroom:ReadAudit",
            "strongroom:ListApprovals",
        ]
        .contains(&action),
        Role::Approver => [
            "strongroom:ListApprovals",
            "strongroom:Approve",
            "kms:DescribeKey",
            "kms:ListKeys",
        ]
        .contains(&action),
    }
}

// ---------------------------------------------------------------------------
// Privilege matrix
// ---------------------------------------------------------------------------

/// Keys and material the matrix works on: each kind has an "own" key (the
/// key-user's policy names it) and an "other" key.
struct Fixture {
    enc: [String; 2],
    sign: [String; 2],
    mac: [String; 2],
    ct: [String; 2],
    sig: [String; 2],
    tag: [String; 2],
    bystander_token_id: String,
}

fn idx(own: bool) -> usize {
    if own {
        0
    } else {
        1
    }
}

/// What a matrix cell needs to build its request.
struct Cell<'a> {
    fx: &'a Fixture,
    own: bool,
    /// Unique per cell (for names that must not collide).
    n: usize,
    /// The caller's identity name.
    who: &'a str,
}

type Build = Box<dyn Fn(&Cell) -> (&'static str, String, Option<Value>)>;
type Undo = Box<dyn Fn(&Server, &Cell)>;

struct Row {
    /// The actions the request needs (all of them must be allowed).
    actions: &'static [&'static str],
    /// Whether the request acts on a key (run for own and other).
    keyed: bool,
    build: Build,
    /// Status of an allowed request (200, or e.g. 400 when it is allowed
    /// but then fails on its input).
    allowed_status: u16,
    /// Run by root after an allowed request, to undo its effect.
    undo: Option<Undo>,
    /// Roles for which the cell is skipped (root sealing the server).
    skip: &'static [Role],
}

fn row(actions: &'static [&'static str], keyed: bool, build: Build) -> Row {
    Row {
        actions,
        keyed,
        build,
        allowed_status: 200,
        undo: None,
        skip: &[],
    }
}

fn matrix_rows() -> Vec<Row> {
    let msg = b64(b"matrix message");
    let m1 = msg.clone();
    let m2 = msg.clone();
    let m3 = msg.clone();
    let m4 = msg.clone();
    vec![
        row(
            &["kms:CreateKey"],
            false,
            Box::new(|_| ("POST", "/v1/keys".into(), Some(json!({"description": "m"})))),
        ),
        row(
            &["kms:ListKeys"],
            false,
            Box::new(|_| ("GET", "/v1/keys".into(), None)),
        ),
        row(
            &["kms:ListAliases"],
            false,
            Box::new(|_| ("GET", "/v1/aliases".into(), None)),
        ),
        row(
            &["kms:GetKeyPolicy"],
            false,
            Box::new(|_| ("GET", "/v1/policies".into(), None)),
        ),
        row(
            &["kms:DescribeKey"],
            true,
            Box::new(|c| {
                let k = &c.fx.enc[idx(c.own)];
                ("GET", format!("/v1/keys/{k}"), None)
            }),
        ),
        row(
            &["kms:UpdateKeyDescription"],
            true,
            Box::new(|c| {
                let k = &c.fx.enc[idx(c.own)];
                (
                    "PATCH",
                    format!("/v1/keys/{k}"),
                    Some(json!({"description": format!("by {}", c.who)})),
                )
            }),
        ),
        row(
            &["kms:RotateKeyOnDemand"],
            true,
            Box::new(|c| {
                let k = &c.fx.enc[idx(c.own)];
                ("POST", "/v1/rotate".into(), Some(json!({ "key": k })))
            }),
        ),
        Row {
            undo: Some(Box::new(|s, c| {
                let k = &c.fx.enc[idx(c.own)];
                ok(
                    s,
                    "POST",
                    "/v1/enable",
                    Some(&json!({ "key": k })),
                    &s.token,
                );
            })),
            ..row(
                &["kms:DisableKey"],
                true,
                Box::new(|c| {
                    let k = &c.fx.enc[idx(c.own)];
                    ("POST", "/v1/disable".into(), Some(json!({ "key": k })))
                }),
            )
        },
        row(
            &["kms:EnableKey"],
            true,
            Box::new(|c| {
                let k = &c.fx.enc[idx(c.own)];
                ("POST", "/v1/enable".into(), Some(json!({ "key": k })))
            }),
        ),
        Row {
            undo: Some(Box::new(|s, c| {
                let k = &c.fx.enc[idx(c.own)];
                let body = json!({ "key": k });
                ok(s, "POST", "/v1/cancel-deletion", Some(&body), &s.token);
                ok(s, "POST", "/v1/enable", Some(&body), &s.token);
            })),
            ..row(
                &["kms:ScheduleKeyDeletion"],
                true,
                Box::new(|c| {
                    let k = &c.fx.enc[idx(c.own)];
                    (
                        "POST",
                        "/v1/schedule-deletion".into(),
                        Some(json!({ "key": k, "pending_window_days": 7 })),
                    )
                }),
            )
        },
        Row {
            undo: Some(Box::new(|s, c| {
                let path = format!("/v1/aliases/alias/matrix-{}", c.n);
                ok(s, "DELETE", &path, None, &s.token);
            })),
            ..row(
                &["kms:CreateAlias"],
                true,
                Box::new(|c| {
                    let k = &c.fx.enc[idx(c.own)];
                    (
                        "POST",
                        "/v1/aliases".into(),
                        Some(json!({ "alias": format!("alias/matrix-{}", c.n), "key": k })),
                    )
                }),
            )
        },
        row(
            &["kms:Encrypt"],
            true,
            Box::new(|c| {
                let k = &c.fx.enc[idx(c.own)];
                (
                    "POST",
                    "/v1/encrypt".into(),
                    Some(json!({ "key": k, "plaintext": b64(b"hello") })),
                )
            }),
        ),
        row(
            &["kms:Decrypt"],
            true,
            Box::new(|c| {
                let ct = &c.fx.ct[idx(c.own)];
                (
                    "POST",
                    "/v1/decrypt".into(),
                    Some(json!({ "ciphertext": ct })),
                )
            }),
        ),
        row(
            &["kms:ReEncryptFrom", "kms:ReEncryptTo"],
            true,
            Box::new(|c| {
                let i = idx(c.own);
                (
                    "POST",
                    "/v1/reencrypt".into(),
                    Some(json!({ "ciphertext": c.fx.ct[i], "destination_key": c.fx.enc[i] })),
                )
            }),
        ),
        row(
            &["kms:GenerateDataKey"],
            true,
            Box::new(|c| {
                let k = &c.fx.enc[idx(c.own)];
                (
                    "POST",
                    "/v1/generate-data-key".into(),
                    Some(json!({ "key": k })),
                )
            }),
        ),
        row(
            &["kms:GenerateDataKeyWithoutPlaintext"],
            true,
            Box::new(|c| {
                let k = &c.fx.enc[idx(c.own)];
                (
                    "POST",
                    "/v1/generate-data-key".into(),
                    Some(json!({ "key": k, "include_plaintext": false })),
                )
            }),
        ),
        row(
            &["kms:Sign"],
            true,
            Box::new(move |c| {
                let k = &c.fx.sign[idx(c.own)];
                (
                    "POST",
                    "/v1/sign".into(),
                    Some(json!({ "key": k, "message": m1 })),
                )
            }),
        ),
        row(
            &["kms:Verify"],
            true,
            Box::new(move |c| {
                let i = idx(c.own);
                (
                    "POST",
                    "/v1/verify".into(),
                    Some(json!({ "key": c.fx.sign[i], "message": m2, "signature": c.fx.sig[i] })),
                )
            }),
        ),
        row(
            &["kms:GenerateMac"],
            true,
            Box::new(move |c| {
                let k = &c.fx.mac[idx(c.own)];
                (
                    "POST",
                    "/v1/mac".into(),
                    Some(json!({ "key": k, "message": m3 })),
                )
            }),
        ),
        row(
            &["kms:VerifyMac"],
            true,
            Box::new(move |c| {
                let i = idx(c.own);
                (
                    "POST",
                    "/v1/verify-mac".into(),
                    Some(json!({ "key": c.fx.mac[i], "message": m4, "mac": c.fx.tag[i] })),
                )
            }),
        ),
        row(
            &["kms:GetPublicKey"],
            true,
            Box::new(|c| {
                let k = &c.fx.sign[idx(c.own)];
                ("POST", "/v1/public-key".into(), Some(json!({ "key": k })))
            }),
        ),
        row(
            &["kms:GenerateRandom"],
            false,
            Box::new(|_| {
                (
                    "POST",
                    "/v1/random".into(),
                    Some(json!({ "number_of_bytes": 16 })),
                )
            }),
        ),
        row(
            &["strongroom:ManageIdentities"],
            false,
            Box::new(|_| ("GET", "/v1/identities".into(), None)),
        ),
        row(
            &["strongroom:ManageIdentities"],
            false,
            Box::new(|_| ("GET", "/v1/identities/bystander".into(), None)),
        ),
        row(
            &["strongroom:ManageIdentities"],
            false,
            Box::new(|_| {
                (
                    "POST",
                    "/v1/policy/explain".into(),
                    Some(json!({ "identity": "bystander", "action": "kms:Encrypt" })),
                )
            }),
        ),
        row(
            &["strongroom:CreateIdentity"],
            false,
            Box::new(|c| {
                (
                    "POST",
                    "/v1/identities".into(),
                    Some(json!({ "name": format!("made-{}", c.n) })),
                )
            }),
        ),
        // Creating a token for someone else.
        row(
            &["strongroom:CreateToken"],
            false,
            Box::new(|_| {
                (
                    "POST",
                    "/v1/tokens".into(),
                    Some(json!({ "identity": "bystander", "ttl_secs": 60 })),
                )
            }),
        ),
        row(
            &["strongroom:RevokeToken"],
            false,
            Box::new(|c| {
                (
                    "POST",
                    "/v1/tokens/revoke".into(),
                    Some(json!({ "token_id": c.fx.bystander_token_id })),
                )
            }),
        ),
        row(
            &["strongroom:CreateAccessKey"],
            false,
            Box::new(|_| {
                (
                    "POST",
                    "/v1/access-keys".into(),
                    Some(json!({ "identity": "bystander" })),
                )
            }),
        ),
        // Escalation attempts: a policy change, and giving oneself a role.
        row(
            &["strongroom:ManagePolicies"],
            false,
            Box::new(|c| {
                (
                    "POST",
                    "/v1/policies".into(),
                    Some(json!({
                        "name": format!("made-{}", c.n),
                        "statements": [{"effect": "Allow", "actions": ["*"], "resources": ["*"]}]
                    })),
                )
            }),
        ),
        Row {
            skip: &[Role::Root],
            ..row(
                &["strongroom:ManagePolicies"],
                false,
                Box::new(|c| {
                    (
                        "POST",
                        "/v1/identity/grants".into(),
                        Some(
                            json!({ "name": c.who, "roles": ["key-admin", "key-user", "auditor", "approver"] }),
                        ),
                    )
                }),
            )
        },
        row(
            &["strongroom:ReadAudit"],
            false,
            Box::new(|_| ("GET", "/v1/audit/verify".into(), None)),
        ),
        row(
            &["strongroom:ReadAudit"],
            false,
            Box::new(|_| ("GET", "/v1/audit/query?limit=2".into(), None)),
        ),
        row(
            &["strongroom:ReadAudit"],
            false,
            Box::new(|_| ("GET", "/v1/audit/export?limit=2".into(), None)),
        ),
        row(
            &["strongroom:ListApprovals"],
            false,
            Box::new(|_| ("GET", "/v1/approvals".into(), None)),
        ),
        // Allowed by policy, then refused because the request does not
        // exist: the policy check comes first, so others cannot probe ids.
        Row {
            allowed_status: 400,
            ..row(
                &["strongroom:Approve"],
                false,
                Box::new(|_| {
                    (
                        "POST",
                        "/v1/approvals/approve".into(),
                        Some(json!({ "id": "0123456789abcdef" })),
                    )
                }),
            )
        },
        // Root is skipped: it would seal the server.
        Row {
            skip: &[Role::Root],
            ..row(
                &["strongroom:Seal"],
                false,
                Box::new(|_| ("POST", "/v1/sys/seal".into(), Some(json!({})))),
            )
        },
    ]
    // (The export answer is JSON Lines, not JSON: fine for the matrix, which
    // only looks at the status.)
}

fn matrix_fixture(s: &Server) -> Fixture {
    let enc = [
        create_key(s, json!({ "aliases": ["alias/own"] })),
        create_key(s, json!({ "aliases": ["alias/other"] })),
    ];
    let sign = [
        create_key(
            s,
            json!({ "spec": "ECC_NIST_P256", "aliases": ["alias/own-sign"] }),
        ),
        create_key(
            s,
            json!({ "spec": "ECC_NIST_P256", "aliases": ["alias/other-sign"] }),
        ),
    ];
    let mac = [
        create_key(
            s,
            json!({ "spec": "HMAC_SHA_256", "aliases": ["alias/own-mac"] }),
        ),
        create_key(
            s,
            json!({ "spec": "HMAC_SHA_256", "aliases": ["alias/other-mac"] }),
        ),
    ];
    let ct = [
        encrypt_as_root(s, &enc[0], b"own secret", json!({})),
        encrypt_as_root(s, &enc[1], b"other secret", json!({})),
    ];
    let msg = b64(b"matrix message");
    let sig = sign.clone().map(|k| {
        let v = ok(
            s,
            "POST",
            "/v1/sign",
            Some(&json!({ "key": k, "message": msg })),
            &s.token,
        );
        v["signature"].as_str().unwrap().to_string()
    });
    let tag = mac.clone().map(|k| {
        let v = ok(
            s,
            "POST",
            "/v1/mac",
            Some(&json!({ "key": k, "message": msg })),
            &s.token,
        );
        v["mac"].as_str().unwrap().to_string()
    });
    // The key-user's grant names its own keys by id and by exact alias.
    put_policy(
        s,
        json!({
            "name": "own-crypto",
            "statements": [{
                "effect": "Allow",
                "actions": KEY_USER_GRANT,
                "resources": [format!("key/{}", enc[0]), "alias/own-sign", "alias/own-mac"]
            }]
        }),
    );
    ok(
        s,
        "POST",
        "/v1/identities",
        Some(&json!({ "name": "bystander" })),
        &s.token,
    );
    let v = ok(
        s,
        "POST",
        "/v1/tokens",
        Some(&json!({ "identity": "bystander" })),
        &s.token,
    );
    Fixture {
        enc,
        sign,
        mac,
        ct,
        sig,
        tag,
        bystander_token_id: v["info"]["id"].as_str().unwrap().to_string(),
    }
}

/// Every role × every endpoint category × own/other key, against the
/// table above. Dev mode: dual control is off, so admin changes execute.
#[test]
fn privilege_matrix() {
    let s = Server::dev(BIN);
    let fx = matrix_fixture(&s);
    let tokens: Vec<(Role, &str, String)> = vec![
        (Role::Root, "root", s.token.clone()),
        (
            Role::KeyAdmin,
            "kadmin",
            identity(&s, "kadmin", &["key-admin"], &[]),
        ),
        (
            Role::KeyUser,
            "kuser",
            identity(&s, "kuser", &["key-user"], &["own-crypto"]),
        ),
        (Role::Auditor, "aud", identity(&s, "aud", &["auditor"], &[])),
        (
            Role::Approver,
            "appr",
            identity(&s, "appr", &["approver"], &[]),
        ),
    ];
    assert_eq!(tokens.len(), ROLES.len());
    let rows = matrix_rows();
    let mut mismatches = Vec::new();
    let mut cells = 0;
    let mut allowed_seen = BTreeSet::new();
    let mut denied_seen = BTreeSet::new();
    let mut n = 0;
    for r in &rows {
        let targets: &[bool] = if r.keyed { &[true, false] } else { &[true] };
        for (role, who, token) in &tokens {
            if r.skip.contains(role) {
                continue;
            }
            for &own in targets {
                n += 1;
                let cell = Cell {
                    fx: &fx,
                    own,
                    n,
                    who,
                };
                let (method, path, body) = (r.build)(&cell);
                let want = r.actions.iter().all(|a| expected(*role, a, own));
                let (st, v) = call(&s, method, &path, body.as_ref(), Some(token));
                cells += 1;
                let target = if r.keyed {
                    if own {
                        " (own key)"
                    } else {
                        " (other key)"
                    }
                } else {
                    ""
                };
                let what = format!("{role:?} {method} {path}{target} [{}]", r.actions.join("+"));
                if want {
                    allowed_seen.insert(r.actions[0]);
                    if st != r.allowed_status {
                        mismatches.push(format!(
                            "{what}: expected {} (allowed), got {st}: {v}",
                            r.allowed_status
                        ));
                    }
                    if st == 200 {
                        if let Some(undo) = &r.undo {
                            undo(&s, &cell);
                        }
                    }
                } else {
                    denied_seen.insert(r.actions[0]);
                    let code = if st >= 400 {
                        error_code(st, &v)
                    } else {
                        String::new()
                    };
                    if st != 403 || code != "AccessDenied" {
                        mismatches
                            .push(format!("{what}: expected 403 AccessDenied, got {st}: {v}"));
                        if st == 200 {
                            if let Some(undo) = &r.undo {
                                undo(&s, &cell);
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {cells} matrix cells differ from the expected table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The matrix really exercised both outcomes on (nearly) every row.
    assert!(cells > 250, "only {cells} cells");
    for r in rows.iter().filter(|r| r.skip.is_empty()) {
        assert!(
            allowed_seen.contains(r.actions[0]),
            "no role was allowed {:?}",
            r.actions
        );
    }
    for a in ["kms:Encrypt", "kms:CreateKey", "strongroom:ReadAudit"] {
        assert!(denied_seen.contains(a), "no role was denied {a}");
    }
    // Nothing the denied cells tried left a trace: the keys are as the
    // allowed cells (and their undo) left them.
    for k in fx.enc.iter().chain(&fx.sign).chain(&fx.mac) {
        assert_eq!(key_state(&s, k), "Enabled", "key {k}");
    }
    let ids = ok(&s, "GET", "/v1/identities", None, &s.token);
    let kuser = ids["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "kuser")
        .unwrap();
    assert_eq!(kuser["roles"], json!(["key-user"]), "{kuser}");
}

// ---------------------------------------------------------------------------
// security.md 14: least privilege
// ---------------------------------------------------------------------------

/// An identity allowed only kms:Encrypt on key K cannot Decrypt, ReEncrypt,
/// read policy, manage K, or touch any other key.
#[test]
fn encrypt_only_identity_can_do_nothing_else() {
    let s = Server::dev(BIN);
    let k = create_key(&s, json!({ "aliases": ["alias/k14"] }));
    let other = create_key(&s, json!({ "aliases": ["alias/o14"] }));
    let sign_other = create_key(&s, json!({ "spec": "ECC_NIST_P256" }));
    let ct_k = encrypt_as_root(&s, &k, b"k secret", json!({}));
    let ct_o = encrypt_as_root(&s, &other, b"o secret", json!({}));
    put_policy(
        &s,
        json!({
            "name": "enc-only-k",
            "statements": [{ "effect": "Allow", "actions": ["kms:Encrypt"], "resources": [format!("key/{k}")] }]
        }),
    );
    let t = identity(&s, "enc-only", &[], &["enc-only-k"]);
    let pt = json!(b64(b"data"));

    // Allowed: Encrypt on K, however K is named.
    let mut mine = Vec::new();
    for name in [
        k.clone(),
        "alias/k14".to_string(),
        format!("arn:aws:kms:us-east-1:000000000000:key/{k}"),
    ] {
        let v = ok(
            &s,
            "POST",
            "/v1/encrypt",
            Some(&json!({ "key": name, "plaintext": pt })),
            &t,
        );
        assert_eq!(v["key_id"], json!(k), "{v}");
        mine.push(v["ciphertext"].as_str().unwrap().to_string());
    }

    let post = |path: &str, body: Value| denied(&s, "POST", path, Some(&body), &t);
    // No Decrypt, not even of its own ciphertexts, nor ReEncrypt, nor data keys.
    post("/v1/decrypt", json!({ "ciphertext": ct_k }));
    post("/v1/decrypt", json!({ "ciphertext": mine[0], "key": k }));
    post(
        "/v1/reencrypt",
        json!({ "ciphertext": ct_k, "destination_key": k }),
    );
    post(
        "/v1/reencrypt",
        json!({ "ciphertext": mine[1], "destination_key": k }),
    );
    post("/v1/generate-data-key", json!({ "key": k }));
    post(
        "/v1/generate-data-key",
        json!({ "key": k, "include_plaintext": false }),
    );
    // A batch answers per item.
    let v = ok(
        &s,
        "POST",
        "/v1/batch/decrypt",
        Some(&json!({ "items": [{ "ciphertext": ct_k }] })),
        &t,
    );
    assert_eq!(v["results"][0]["error"]["code"], "AccessDenied", "{v}");
    assert!(v["results"][0].get("plaintext").is_none(), "{v}");
    // Reading policy.
    denied(&s, "GET", "/v1/policies", None, &t);
    denied(&s, "GET", "/v1/policies/enc-only-k", None, &t);
    denied(&s, "GET", "/v1/policies/role:key-user", None, &t);
    // Managing K.
    denied(&s, "GET", &format!("/v1/keys/{k}"), None, &t);
    denied(
        &s,
        "PATCH",
        &format!("/v1/keys/{k}"),
        Some(&json!({ "description": "mine now" })),
        &t,
    );
    for path in [
        "/v1/rotate",
        "/v1/disable",
        "/v1/enable",
        "/v1/cancel-deletion",
    ] {
        post(path, json!({ "key": k }));
    }
    post("/v1/schedule-deletion", json!({ "key": k }));
    post(
        "/v1/min-decryption-version",
        json!({ "key": k, "version": 1 }),
    );
    post("/v1/disable-version", json!({ "key": k, "version": 1 }));
    post("/v1/aliases", json!({ "alias": "alias/stolen", "key": k }));
    denied(&s, "DELETE", "/v1/aliases/alias/k14", None, &t);
    // Any other key, any way.
    post("/v1/encrypt", json!({ "key": other, "plaintext": pt }));
    post(
        "/v1/encrypt",
        json!({ "key": "alias/o14", "plaintext": pt }),
    );
    post("/v1/decrypt", json!({ "ciphertext": ct_o }));
    post(
        "/v1/reencrypt",
        json!({ "ciphertext": ct_o, "destination_key": k }),
    );
    post("/v1/rotate", json!({ "key": other }));
    post("/v1/sign", json!({ "key": sign_other, "message": pt }));
    post("/v1/public-key", json!({ "key": sign_other }));
    denied(&s, "GET", &format!("/v1/keys/{other}"), None, &t);
    // Service-wide actions.
    denied(&s, "GET", "/v1/keys", None, &t);
    denied(&s, "GET", "/v1/aliases", None, &t);
    post("/v1/keys", json!({}));
    post("/v1/random", json!({ "number_of_bytes": 8 }));
    denied(&s, "GET", "/v1/identities", None, &t);
    post("/v1/tokens", json!({ "identity": "enc-only" }));
    post(
        "/v1/identity/grants",
        json!({ "name": "enc-only", "roles": ["key-admin"] }),
    );
    post(
        "/v1/policies",
        json!({ "name": "enc-only-k", "statements": [{ "effect": "Allow", "actions": ["*"], "resources": ["*"] }] }),
    );
    denied(&s, "GET", "/v1/audit/query", None, &t);
    denied(&s, "GET", "/v1/approvals", None, &t);
    // Batch encrypt: the item on K works, the item on the other key is denied.
    let v = ok(
        &s,
        "POST",
        "/v1/batch/encrypt",
        Some(&json!({ "items": [
            { "key": k, "plaintext": pt },
            { "key": other, "plaintext": pt }
        ] })),
        &t,
    );
    assert!(v["results"][0]["ciphertext"].is_string(), "{v}");
    assert_eq!(v["results"][1]["error"]["code"], "AccessDenied", "{v}");

    // Nothing changed.
    let meta = ok(&s, "GET", &format!("/v1/keys/{k}"), None, &s.token);
    assert_eq!(meta["state"], "Enabled");
    assert_eq!(meta["primary_version"], 1);
    assert_eq!(meta["description"], "");
    assert_eq!(meta["aliases"], json!(["alias/k14"]));
    let p = ok(&s, "GET", "/v1/policies/enc-only-k", None, &s.token);
    assert_eq!(p["statements"][0]["actions"], json!(["kms:Encrypt"]), "{p}");
    let who = ok(&s, "GET", "/v1/identities/enc-only", None, &s.token);
    assert_eq!(who["identity"]["roles"], json!([]), "{who}");
    assert_eq!(
        who["tokens"].as_array().unwrap().len(),
        1,
        "no token was created: {who}"
    );
}

/// A key administrator cannot use keys, even with an attached policy that
/// allows everything; a key user cannot manage them, even with the same
/// policy; an identity holding both roles can do neither.
#[test]
fn key_admin_cannot_use_keys_and_key_user_cannot_manage_them() {
    let s = Server::dev(BIN);
    let k = create_key(&s, json!({ "aliases": ["alias/sod"] }));
    let sk = create_key(&s, json!({ "spec": "ECC_NIST_P256" }));
    let mk = create_key(&s, json!({ "spec": "HMAC_SHA_256" }));
    let ct = encrypt_as_root(&s, &k, b"x", json!({}));
    put_policy(
        &s,
        json!({
            "name": "everything",
            "statements": [{ "effect": "Allow", "actions": ["*"], "resources": ["*"] }]
        }),
    );
    let admin = identity(&s, "admin", &["key-admin"], &["everything"]);
    let user = identity(&s, "user", &["key-user"], &["everything"]);
    let both = identity(&s, "both", &["key-admin", "key-user"], &[]);
    let m = json!(b64(b"m"));
    let uses = [
        ("/v1/encrypt", json!({ "key": k, "plaintext": m })),
        ("/v1/decrypt", json!({ "ciphertext": ct })),
        (
            "/v1/reencrypt",
            json!({ "ciphertext": ct, "destination_key": k }),
        ),
        ("/v1/generate-data-key", json!({ "key": k })),
        (
            "/v1/generate-data-key",
            json!({ "key": k, "include_plaintext": false }),
        ),
        ("/v1/random", json!({ "number_of_bytes": 8 })),
        ("/v1/sign", json!({ "key": sk, "message": m })),
        ("/v1/public-key", json!({ "key": sk })),
        ("/v1/mac", json!({ "key": mk, "message": m })),
        (
            "/v1/batch/decrypt",
            json!({ "items": [{ "ciphertext": ct }] }),
        ),
    ];
    for (path, body) in &uses {
        if path.starts_with("/v1/batch") {
            let v = ok(&s, "POST", path, Some(body), &admin);
            assert_eq!(v["results"][0]["error"]["code"], "AccessDenied", "{v}");
            assert!(v["results"][0].get("plaintext").is_none(), "{v}");
            continue;
        }
        denied(&s, "POST", path, Some(body), &admin);
        denied(&s, "POST", path, Some(body), &both);
        // The key user with "*" may use them (the deny is the admin role's).
        ok(&s, "POST", path, Some(body), &user);
    }
    let manages = [
        ("/v1/keys", json!({})),
        ("/v1/rotate", json!({ "key": k })),
        ("/v1/disable", json!({ "key": k })),
        ("/v1/schedule-deletion", json!({ "key": k })),
        ("/v1/aliases", json!({ "alias": "alias/sod2", "key": k })),
    ];
    for (path, body) in &manages {
        denied(&s, "POST", path, Some(body), &user);
        denied(&s, "POST", path, Some(body), &both);
    }
    denied(
        &s,
        "PATCH",
        &format!("/v1/keys/{k}"),
        Some(&json!({ "description": "x" })),
        &user,
    );
    assert_eq!(key_state(&s, &k), "Enabled");
    // The admin manages keys; "both" still reads.
    ok(&s, "POST", "/v1/keys", Some(&json!({})), &admin);
    ok(&s, "POST", "/v1/rotate", Some(&json!({ "key": k })), &admin);
    ok(&s, "GET", &format!("/v1/keys/{k}"), None, &both);
    ok(&s, "GET", "/v1/keys", None, &both);
}

// ---------------------------------------------------------------------------
// Encryption-context conditions
// ---------------------------------------------------------------------------

#[test]
fn context_condition_grants() {
    let s = Server::dev(BIN);
    let k = create_key(&s, json!({ "aliases": ["alias/ctx"] }));
    put_policy(
        &s,
        json!({
            "name": "orders-subset",
            "statements": [{
                "effect": "Allow",
                "actions": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                "resources": ["alias/ctx"],
                "condition": { "context_equals": { "app": "orders-v1", "tier": "gold" } }
            }]
        }),
    );
    put_policy(
        &s,
        json!({
            "name": "orders-exact",
            "statements": [{
                "effect": "Allow",
                "actions": ["kms:Encrypt", "kms:Decrypt"],
                "resources": ["alias/ctx"],
                "condition": { "context_exact": { "app": "orders-v1", "env": "prod" } }
            }]
        }),
    );
    put_policy(
        &s,
        json!({
            "name": "no-context",
            "statements": [{
                "effect": "Allow",
                "actions": ["kms:Encrypt"],
                "resources": ["alias/ctx"],
                "condition": { "context_exact": {} }
            }]
        }),
    );
    let sub = identity(&s, "sub", &["key-user"], &["orders-subset"]);
    let exact = identity(&s, "exact", &["key-user"], &["orders-exact"]);
    let none = identity(&s, "none", &["key-user"], &["no-context"]);
    let enc = |t: &str, ctx: Value| {
        call(
            &s,
            "POST",
            "/v1/encrypt",
            Some(&json!({ "key": k, "plaintext": b64(b"p"), "context": ctx })),
            Some(t),
        )
    };
    let allow = |t: &str, ctx: Value| {
        let (st, v) = enc(t, ctx.clone());
        assert_eq!(st, 200, "context {ctx} should be allowed: {v}");
        v["ciphertext"].as_str().unwrap().to_string()
    };
    let deny = |t: &str, ctx: Value| {
        let (st, v) = enc(t, ctx.clone());
        assert_eq!(st, 403, "context {ctx} should be denied: {v}");
        assert_eq!(error_code(st, &v), "AccessDenied");
        // The reason names context keys, never values.
        let msg = v["error"]["message"].as_str().unwrap();
        for secret in ["orders-v1", "gold", "prod"] {
            assert!(!msg.contains(secret), "message leaks {secret:?}: {msg}");
        }
    };

    // context_equals: subset semantics.
    let full = json!({ "app": "orders-v1", "tier": "gold" });
    let ct_sub = allow(&sub, full.clone());
    allow(
        &sub,
        json!({ "app": "orders-v1", "tier": "gold", "extra": "x" }),
    );
    deny(&sub, json!({}));
    deny(&sub, json!({ "app": "orders-v1" }));
    deny(&sub, json!({ "tier": "gold" }));
    deny(&sub, json!({ "app": "orders-v2", "tier": "gold" }));
    deny(&sub, json!({ "app": "Orders-v1", "tier": "gold" }));
    deny(&sub, json!({ "app": "orders-v1 ", "tier": "gold" }));
    deny(&sub, json!({ "App": "orders-v1", "tier": "gold" }));
    deny(&sub, json!({ "app": "orders-v1", "tier": "gold*" }));
    deny(&sub, json!({ "app": "orders-v1", "tier": "" }));
    // Without a context at all.
    let (st, v) = call(
        &s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": k, "plaintext": b64(b"p") })),
        Some(&sub),
    );
    assert_eq!(st, 403, "no context: {v}");
    // Decrypt is conditioned on the context presented, too.
    let v = ok(
        &s,
        "POST",
        "/v1/decrypt",
        Some(&json!({ "ciphertext": ct_sub, "context": full })),
        &sub,
    );
    assert_eq!(v["plaintext"], json!(b64(b"p")));
    denied(
        &s,
        "POST",
        "/v1/decrypt",
        Some(&json!({ "ciphertext": ct_sub })),
        &sub,
    );
    ok(
        &s,
        "POST",
        "/v1/generate-data-key",
        Some(&json!({ "key": k, "context": full })),
        &sub,
    );
    denied(
        &s,
        "POST",
        "/v1/generate-data-key",
        Some(&json!({ "key": k, "context": { "app": "orders-v1" } })),
        &sub,
    );

    // context_exact: exactly this map.
    let exact_ctx = json!({ "app": "orders-v1", "env": "prod" });
    let ct_exact = allow(&exact, exact_ctx.clone());
    deny(
        &exact,
        json!({ "app": "orders-v1", "env": "prod", "extra": "x" }),
    );
    deny(&exact, json!({ "app": "orders-v1" }));
    deny(&exact, json!({ "app": "orders-v1", "env": "Prod" }));
    deny(&exact, json!({ "app": "orders-v1", "env2": "prod" }));
    deny(&exact, json!({}));
    ok(
        &s,
        "POST",
        "/v1/decrypt",
        Some(&json!({ "ciphertext": ct_exact, "context": exact_ctx })),
        &exact,
    );
    // A ciphertext made (by root) with a superset context cannot be
    // decrypted by the exact identity: the context must be given in full.
    let ct_super = encrypt_as_root(
        &s,
        &k,
        b"p",
        json!({ "app": "orders-v1", "env": "prod", "extra": "x" }),
    );
    denied(
        &s,
        "POST",
        "/v1/decrypt",
        Some(
            &json!({ "ciphertext": ct_super, "context": { "app": "orders-v1", "env": "prod", "extra": "x" } }),
        ),
        &exact,
    );

    // context_exact {}: only requests without a context.
    let (st, v) = call(
        &s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": k, "plaintext": b64(b"p") })),
        Some(&none),
    );
    assert_eq!(st, 200, "{v}");
    allow(&none, json!({}));
    deny(&none, json!({ "app": "orders-v1" }));

    // A condition on a Deny applies only when it holds.
    put_policy(
        &s,
        json!({
            "name": "all-but-legacy",
            "statements": [
                { "effect": "Allow", "actions": ["kms:Encrypt"], "resources": ["alias/ctx"] },
                {
                    "effect": "Deny", "actions": ["kms:Encrypt"], "resources": ["alias/ctx"],
                    "condition": { "context_equals": { "app": "legacy" } }
                }
            ]
        }),
    );
    let mostly = identity(&s, "mostly", &["key-user"], &["all-but-legacy"]);
    allow(&mostly, json!({ "app": "new" }));
    allow(&mostly, json!({}));
    deny(&mostly, json!({ "app": "legacy" }));
    deny(&mostly, json!({ "app": "legacy", "more": "1" }));
}

// ---------------------------------------------------------------------------
// security.md 16: literal names and patterns
// ---------------------------------------------------------------------------

#[test]
fn invalid_resource_patterns_and_actions_are_rejected() {
    let s = Server::dev(BIN);
    let id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    let bad_resources = [
        "alias/app/../x".to_string(),
        "alias/../app".into(),
        "alias/app/./x".into(),
        "alias/app%2Fx".into(),
        "alias/app%2fx".into(),
        "alias/%61pp".into(),
        "alias/a*pp".into(),
        "alias/*app".into(),
        "alias/app**".into(),
        "alias/app*x".into(),
        "alias/app?".into(),
        "alias/\u{430}pp".into(),   // Cyrillic а
        "alias/app\u{200b}".into(), // zero-width space
        "alias/\u{ff41}pp".into(),  // fullwidth a
        "alias/app ".into(),
        " alias/app".into(),
        "alias/ app".into(),
        "alias/app\t".into(),
        "alias/app\n".into(),
        "ALIAS/app".into(),
        "Alias/app".into(),
        "alias//app".into(),
        "alias/app/".into(),
        "alias/".into(),
        "alias/app\\x".into(),
        "key/*".into(),
        format!("key/{}", id.to_uppercase()),
        format!("key/{}", id.replace('-', "")),
        format!("key/{id}*"),
        format!("key/{id} "),
        "key/..".into(),
        format!("arn:aws:kms:us-east-1:111122223333:key/{id}"),
        "tag/env=prod*".into(),
        "tag/=prod".into(),
        "tag/env=pr od".into(),
        "tag/*".into(),
        "**".into(),
        "*/*".into(),
        " *".into(),
        "".into(),
        "kms:*".into(),
    ];
    let mut n = 0;
    for r in &bad_resources {
        n += 1;
        let body = json!({
            "name": format!("bad-{n}"),
            "statements": [{ "effect": "Allow", "actions": ["kms:Encrypt"], "resources": [r] }]
        });
        fails(
            &s,
            "POST",
            "/v1/policies",
            Some(&body),
            Some(&s.token),
            400,
            "InvalidArgument",
        );
    }
    let bad_actions = [
        "kms:Gen*",
        "kms:decrypt",
        "KMS:Decrypt",
        "kms:Decrypt ",
        " kms:Decrypt",
        "kms:*crypt",
        "kms:Decrypt*",
        "kms:**",
        "*:*",
        "kms:Dеcrypt", // Cyrillic е
        "strongroom:*Audit",
        "",
    ];
    for a in bad_actions {
        n += 1;
        let body = json!({
            "name": format!("bad-{n}"),
            "statements": [{ "effect": "Allow", "actions": [a], "resources": ["*"] }]
        });
        fails(
            &s,
            "POST",
            "/v1/policies",
            Some(&body),
            Some(&s.token),
            400,
            "InvalidArgument",
        );
    }
    // None of them was stored.
    let v = ok(&s, "GET", "/v1/policies", None, &s.token);
    assert_eq!(v["policies"], json!([]), "{v}");
}

/// Keys cannot be given aliases that a pattern could over-match.
#[test]
fn key_aliases_with_special_characters_are_rejected() {
    let s = Server::dev(BIN);
    for a in [
        "alias/app*",
        "alias/app/../x",
        "alias/app%2Fx",
        "alias/\u{430}pp",
        "alias/app ",
        "alias/app?",
        "alias//x",
        "alias/x/",
    ] {
        let (st, v) = call(
            &s,
            "POST",
            "/v1/keys",
            Some(&json!({ "aliases": [a] })),
            Some(&s.token),
        );
        assert_eq!(st, 400, "alias {a:?} should be rejected: {v}");
    }
    let v = ok(&s, "GET", "/v1/keys", None, &s.token);
    assert_eq!(v["keys"], json!([]), "{v}");
}

#[test]
fn resource_patterns_grant_only_what_they_literally_name() {
    let s = Server::dev(BIN);
    let names = [
        "alias/app",
        "alias/app-x",
        "alias/app_",
        "alias/app/1",
        "alias/apx",
        "alias/App",
        "alias/APP",
        "alias/ap",
        "alias/apx/1",
        "alias/x/app",
        "alias/application",
    ];
    let ids: Vec<(String, String)> = names
        .iter()
        .map(|a| (a.to_string(), create_key(&s, json!({ "aliases": [a] }))))
        .collect();
    let id_of = |a: &str| ids.iter().find(|(n, _)| n == a).unwrap().1.clone();
    let patterns: [(&str, &str, &[&str]); 4] = [
        (
            "star",
            "alias/app*",
            &[
                "alias/app",
                "alias/app-x",
                "alias/app_",
                "alias/app/1",
                "alias/application",
            ],
        ),
        ("slash", "alias/app/*", &["alias/app/1"]),
        ("exact", "alias/app", &["alias/app"]),
        (
            "all-aliases",
            "alias/*",
            &[
                "alias/app",
                "alias/app-x",
                "alias/app_",
                "alias/app/1",
                "alias/apx",
                "alias/App",
                "alias/APP",
                "alias/ap",
                "alias/apx/1",
                "alias/x/app",
                "alias/application",
            ],
        ),
    ];
    let unaliased = create_key(&s, json!({}));
    let mut failures = Vec::new();
    for (who, pattern, grants) in patterns {
        put_policy(
            &s,
            json!({
                "name": format!("p-{who}"),
                "statements": [{
                    "effect": "Allow",
                    "actions": ["kms:Encrypt", "kms:DescribeKey"],
                    "resources": [pattern]
                }]
            }),
        );
        let t = identity(&s, &format!("p-{who}"), &[], &[&format!("p-{who}")]);
        for (alias, kid) in &ids {
            let want = grants.contains(&alias.as_str());
            // Named by alias and by id: the same answer.
            for name in [alias.as_str(), kid.as_str()] {
                let (st, v) = call(
                    &s,
                    "POST",
                    "/v1/encrypt",
                    Some(&json!({ "key": name, "plaintext": b64(b"p") })),
                    Some(&t),
                );
                let ok_status = if want { 200 } else { 403 };
                if st != ok_status {
                    failures.push(format!(
                        "pattern {pattern:?}, encrypt with {name} ({alias}): expected {ok_status}, got {st}: {v}"
                    ));
                }
            }
        }
        // A key without any alias matches no alias pattern.
        let (st, v) = call(
            &s,
            "POST",
            "/v1/encrypt",
            Some(&json!({ "key": unaliased, "plaintext": b64(b"p") })),
            Some(&t),
        );
        if st != 403 {
            failures.push(format!(
                "pattern {pattern:?}, unaliased key: expected 403, got {st}: {v}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Request-side tricks never reach a key the pattern does not name. The
    // star identity may use alias/app*, and must not reach alias/apx or
    // alias/App.
    let star = token_for(&s, "p-star", None);
    let granted: BTreeSet<String> = patterns[0].2.iter().map(|a| id_of(a)).collect();
    let tricks = [
        "alias/app/../apx",
        "alias/app-x/../../alias/apx",
        "alias/app/..%2Fapx",
        "alias/app%2F..%2Fapx",
        "alias/app/../App",
        "alias/app*",
        "alias/ap*",
        "alias/ap?",
        "alias/a*",
        "alias/*",
        "*",
        "alias/\u{430}pp",
        "alias/app ",
        " alias/app",
        "alias/app\n",
        "alias/APP",
        "ALIAS/app",
        "alias/%61pp",
        "alias//app",
        "alias/app/",
    ];
    for name in tricks {
        let (st, v) = call(
            &s,
            "POST",
            "/v1/encrypt",
            Some(&json!({ "key": name, "plaintext": b64(b"p") })),
            Some(&star),
        );
        if st == 200 {
            let used = v["key_id"].as_str().unwrap_or_default().to_string();
            assert!(
                granted.contains(&used),
                "{name:?} reached key {used}, which alias/app* does not name: {v}"
            );
        } else {
            assert!(
                [400, 403, 404].contains(&st),
                "{name:?}: unexpected {st}: {v}"
            );
        }
    }
    // The same through the URL path (percent-decoding happens once, at the
    // HTTP layer; the result is then taken literally).
    let apx = id_of("alias/apx");
    let paths = [
        "/v1/keys/alias%2Fapx".to_string(),
        "/v1/keys/alias/app/../apx".into(),
        "/v1/keys/alias/app/..%2Fapx".into(),
        "/v1/keys/alias/app%2F..%2Fapx".into(),
        "/v1/keys/alias/app%2F%2E%2E%2Fapx".into(),
        "/v1/keys/alias/App".into(),
        "/v1/keys/alias/app*".into(),
        "/v1/keys/alias/ap%2A".into(),
        "/v1/keys/alias/%D0%B0pp".into(),
        "/v1/keys/alias/app%20".into(),
        "/v1/keys/alias/app%00".into(),
        format!("/v1/keys/{}", apx.to_uppercase()),
        format!("/v1/keys/{apx}%20"),
    ];
    for path in &paths {
        let (st, v) = call(&s, "GET", path, None, Some(&star));
        if st == 200 {
            let used = v["id"].as_str().unwrap_or_default().to_string();
            assert!(
                granted.contains(&used),
                "GET {path} reached key {used}: {v}"
            );
        } else {
            assert!(
                [400, 403, 404].contains(&st),
                "GET {path}: unexpected {st}: {v}"
            );
        }
    }
    ok(&s, "GET", "/v1/keys/alias%2Fapp", None, &star);
    denied(&s, "GET", "/v1/keys/alias%2Fapx", None, &star);
}

#[test]
fn tag_and_key_id_patterns_are_exact() {
    let s = Server::dev(BIN);
    let mut created: Vec<(String, bool)> = Vec::new();
    // (tags, granted by tag/env=prod)
    let variants = [
        (json!({ "env": "prod" }), true),
        (json!({ "env": "prod", "team": "x" }), true),
        (json!({ "env": "Prod" }), false),
        (json!({ "env": "PROD" }), false),
        (json!({ "env": "pro" }), false),
        (json!({ "env": "prod2" }), false),
        (json!({ "env": "prod*" }), false),
        (json!({ "env": "prod " }), false),
        (json!({ "env": " prod" }), false),
        (json!({ "env": "pr\u{43e}d" }), false), // Cyrillic о
        (json!({ "Env": "prod" }), false),
        (json!({ "env ": "prod" }), false),
        (json!({ "environment": "prod" }), false),
        (json!({ "env=prod": "" }), false),
        (json!({}), false),
    ];
    for (tags, grant) in &variants {
        let (st, v) = call(
            &s,
            "POST",
            "/v1/keys",
            Some(&json!({ "tags": tags })),
            Some(&s.token),
        );
        if st == 400 {
            // A tag the server refuses cannot exist, so it cannot match.
            assert!(!grant, "{tags}: {v}");
            continue;
        }
        assert_eq!(st, 200, "{tags}: {v}");
        created.push((v["id"].as_str().unwrap().to_string(), *grant));
    }
    assert!(created.len() >= 8, "too few tag variants were accepted");
    let k1 = created[0].0.clone();
    put_policy(
        &s,
        json!({
            "name": "prod-tag",
            "statements": [{ "effect": "Allow", "actions": ["kms:Encrypt"], "resources": ["tag/env=prod"] }]
        }),
    );
    let t = identity(&s, "tagged", &[], &["prod-tag"]);
    for (kid, grant) in &created {
        let (st, v) = call(
            &s,
            "POST",
            "/v1/encrypt",
            Some(&json!({ "key": kid, "plaintext": b64(b"p") })),
            Some(&t),
        );
        let meta = ok(&s, "GET", &format!("/v1/keys/{kid}"), None, &s.token);
        assert_eq!(
            st,
            if *grant { 200 } else { 403 },
            "tags {}: {v}",
            meta["tags"]
        );
    }

    // key/<id> names exactly one key.
    put_policy(
        &s,
        json!({
            "name": "one-id",
            "statements": [{ "effect": "Allow", "actions": ["kms:Encrypt"], "resources": [format!("key/{k1}")] }]
        }),
    );
    let one = identity(&s, "one-id", &[], &["one-id"]);
    ok(
        &s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": k1, "plaintext": b64(b"p") })),
        &one,
    );
    let k2 = created[1].0.clone();
    for name in [
        k2.clone(),
        k2.to_uppercase(),
        k2.replace('-', ""),
        format!("{k1}/../{k2}"),
        format!("{k1}%2F..%2F{k2}"),
        format!("{k1} "),
        format!("{}*", &k1[..8]),
        "*".into(),
    ] {
        let (st, v) = call(
            &s,
            "POST",
            "/v1/encrypt",
            Some(&json!({ "key": name, "plaintext": b64(b"p") })),
            Some(&one),
        );
        if st == 200 {
            assert_eq!(v["key_id"], json!(k1), "{name:?} reached another key: {v}");
        } else {
            assert!([400, 403, 404].contains(&st), "{name:?}: {st} {v}");
        }
    }
}

// ---------------------------------------------------------------------------
// security.md 15: dual control (production server: on, 2 approvals)
// ---------------------------------------------------------------------------

/// Asks for a dual-controlled action: 202 ApprovalRequired with an id.
fn pending(s: &Server, path: &str, body: Value, token: &str) -> String {
    let (st, v) = call(s, "POST", path, Some(&body), Some(token));
    assert_eq!(st, 202, "POST {path} should need approval: {v}");
    assert_eq!(error_code(st, &v), "ApprovalRequired", "{v}");
    let id = v["approval_id"].as_str().expect("approval_id").to_string();
    assert!(
        v["error"]["message"].as_str().unwrap().contains(&id),
        "the message names the request: {v}"
    );
    id
}

fn approval(s: &Server, id: &str) -> Value {
    let v = ok(s, "GET", "/v1/approvals", None, &s.token);
    v["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("approval {id} not listed: {v}"))
        .clone()
}

fn approve(s: &Server, id: &str, token: &str) -> (u16, Value) {
    call(
        s,
        "POST",
        "/v1/approvals/approve",
        Some(&json!({ "id": id })),
        Some(token),
    )
}

fn refused_approval(s: &Server, id: &str, token: &str, why: &str) {
    let (st, v) = approve(s, id, token);
    assert_eq!(st, 403, "{why}: approval should be refused: {v}");
    assert_eq!(error_code(st, &v), "AccessDenied", "{why}: {v}");
    assert_ne!(v["executed"], true, "{why}: {v}");
}

#[test]
fn dual_control_cannot_be_bypassed() {
    let (s, _share) = production("dual");
    let requester = identity(&s, "req-admin", &["key-admin", "approver"], &[]);
    let a1 = identity(&s, "appr1", &["approver"], &[]);
    let a2 = identity(&s, "appr2", &["approver"], &[]);
    let a3 = identity(&s, "appr3", &["approver"], &[]);
    let auditor = identity(&s, "aud5", &["auditor"], &[]);
    put_policy(
        &s,
        json!({
            "name": "may-approve",
            "statements": [{ "effect": "Allow", "actions": ["strongroom:Approve", "strongroom:ListApprovals"], "resources": ["*"] }]
        }),
    );
    let fake = identity(&s, "fake-appr", &[], &["may-approve"]);

    // --- A: quorum of two distinct approvers, neither the requester.
    let k = ok(&s, "POST", "/v1/keys", Some(&json!({})), &requester)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = pending(
        &s,
        "/v1/schedule-deletion",
        json!({ "key": k, "pending_window_days": 7 }),
        &requester,
    );
    assert_eq!(key_state(&s, &k), "Enabled", "nothing runs before quorum");
    let a = approval(&s, &id);
    assert_eq!(a["status"], "Pending", "{a}");
    assert_eq!(a["requester"], "req-admin", "{a}");
    assert_eq!(a["key_id"], json!(k), "{a}");
    // The approvers can see it.
    let listed = ok(&s, "GET", "/v1/approvals", None, &a1);
    assert!(listed.to_string().contains(&id), "{listed}");

    refused_approval(&s, &id, &requester, "self-approval");
    refused_approval(&s, &id, &auditor, "auditor (no approver role)");
    refused_approval(
        &s,
        &id,
        &fake,
        "policy allows Approve, but no approver role",
    );
    assert_eq!(key_state(&s, &k), "Enabled");
    assert_eq!(approval(&s, &id)["approvals"], json!([]));

    let (st, v) = approve(&s, &id, &a1);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["executed"], false, "{v}");
    assert_eq!(key_state(&s, &k), "Enabled", "one approval is not a quorum");
    refused_approval(&s, &id, &a1, "second approval by the same approver");
    refused_approval(&s, &id, &requester, "self-approval after one approval");
    assert_eq!(key_state(&s, &k), "Enabled");
    assert_eq!(approval(&s, &id)["approvals"], json!(["appr1"]));

    let (st, v) = approve(&s, &id, &a2);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["executed"], true, "{v}");
    assert_eq!(key_state(&s, &k), "PendingDeletion", "executed at quorum");
    assert_eq!(approval(&s, &id)["status"], "Executed");
    // A third approval is refused and runs nothing again: cancel the
    // deletion, approve once more, and the key stays as it is.
    refused_approval(&s, &id, &a3, "approval after execution");
    ok(
        &s,
        "POST",
        "/v1/cancel-deletion",
        Some(&json!({ "key": k })),
        &s.token,
    );
    refused_approval(&s, &id, &a3, "approval after execution (again)");
    refused_approval(&s, &id, &a1, "re-approval after execution");
    assert_eq!(key_state(&s, &k), "Disabled", "the request ran once only");
    let runs = audit_query(
        &s,
        "identity=req-admin&action=kms:ScheduleKeyDeletion&outcome=allowed",
        &s.token,
    );
    assert_eq!(runs.len(), 1, "executed exactly once: {runs:?}");
    assert_eq!(runs[0]["event"]["key_id"], json!(k));

    // --- B: a denied request never executes.
    let k2 = ok(&s, "POST", "/v1/keys", Some(&json!({})), &requester)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id2 = pending(
        &s,
        "/v1/schedule-deletion",
        json!({ "key": k2 }),
        &requester,
    );
    assert_eq!(approve(&s, &id2, &a1).0, 200);
    // Only approvers may deny.
    let (st, v) = call(
        &s,
        "POST",
        "/v1/approvals/deny",
        Some(&json!({ "id": id2 })),
        Some(&auditor),
    );
    assert_eq!(st, 403, "{v}");
    let (st, v) = call(
        &s,
        "POST",
        "/v1/approvals/deny",
        Some(&json!({ "id": id2 })),
        Some(&a2),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(approval(&s, &id2)["status"], "Denied");
    refused_approval(&s, &id2, &a3, "approval after denial");
    refused_approval(&s, &id2, &a2, "approval by the denier");
    assert_eq!(key_state(&s, &k2), "Enabled", "a denied request never runs");

    // --- C: the stored request runs with the requester's permissions as
    // they are at quorum time.
    let k3 = ok(&s, "POST", "/v1/keys", Some(&json!({})), &requester)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id3 = pending(
        &s,
        "/v1/schedule-deletion",
        json!({ "key": k3 }),
        &requester,
    );
    assert_eq!(approve(&s, &id3, &a1).0, 200);
    ok(
        &s,
        "POST",
        "/v1/identity/grants",
        Some(&json!({ "name": "req-admin", "roles": ["approver"] })),
        &s.token,
    );
    let (st, v) = approve(&s, &id3, &a2);
    assert_ne!(
        v["executed"], true,
        "ran without the requester's rights: {v}"
    );
    assert!(st == 403 || st == 200, "{st}: {v}");
    assert_eq!(
        key_state(&s, &k3),
        "Enabled",
        "ran without the requester's rights"
    );
    ok(
        &s,
        "POST",
        "/v1/identity/grants",
        Some(&json!({ "name": "req-admin", "roles": ["key-admin", "approver"] })),
        &s.token,
    );

    // --- D: a role change (self-escalation) is dual-controlled too, and
    // takes effect only at quorum.
    put_policy(
        &s,
        json!({
            "name": "policy-admin",
            "statements": [{ "effect": "Allow", "actions": ["strongroom:ManagePolicies"], "resources": ["*"] }]
        }),
    );
    let pa = identity(&s, "pol-admin", &[], &["policy-admin"]);
    let id4 = pending(
        &s,
        "/v1/identity/grants",
        json!({ "name": "pol-admin", "roles": ["key-admin"] }),
        &pa,
    );
    denied(&s, "POST", "/v1/keys", Some(&json!({})), &pa);
    refused_approval(&s, &id4, &pa, "self-approval of a role change");
    assert_eq!(approve(&s, &id4, &a1).0, 200);
    denied(&s, "POST", "/v1/keys", Some(&json!({})), &pa);
    let (st, v) = approve(&s, &id4, &a3);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["executed"], true, "{v}");
    ok(&s, "POST", "/v1/keys", Some(&json!({})), &pa);

    // A new policy from a non-root identity waits for approval too, and
    // does not exist before it.
    let id5 = pending(
        &s,
        "/v1/policies",
        json!({
            "name": "sneaky",
            "statements": [{ "effect": "Allow", "actions": ["*"], "resources": ["*"] }]
        }),
        &pa,
    );
    let (st, v) = call(&s, "GET", "/v1/policies/sneaky", None, Some(&s.token));
    assert_ne!(st, 200, "the policy exists before approval: {v}");
    let (st, v) = call(
        &s,
        "POST",
        "/v1/approvals/deny",
        Some(&json!({ "id": id5 })),
        Some(&a2),
    );
    assert_eq!(st, 200, "{v}");
    let (st, _) = call(&s, "GET", "/v1/policies/sneaky", None, Some(&s.token));
    assert_ne!(st, 200);

    // Root is break-glass and exempt (documented), which the audit flags.
    let k4 = create_key(&s, json!({}));
    ok(
        &s,
        "POST",
        "/v1/schedule-deletion",
        Some(&json!({ "key": k4 })),
        &s.token,
    );
    let recs = audit_query(
        &s,
        &format!("key={k4}&action=kms:ScheduleKeyDeletion&outcome=allowed"),
        &s.token,
    );
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["event"]["root"], true);

    // Expiry: the approval TTL is fixed at 24 h on a real server, and the
    // server's clock cannot be moved from outside, so expired requests are
    // covered by the policy module's unit tests (policy/tests.rs), not here.
}

/// Two approvals that complete the quorum at the same moment (from two
/// approvers, or twice from the same one) execute the request once.
#[test]

fn concurrent_final_approvals_execute_once() {
    let (s, _share) = production("dual-race");
    let a1 = identity(&s, "appr1", &["approver"], &[]);
    let a2 = identity(&s, "appr2", &["approver"], &[]);
    let a3 = identity(&s, "appr3", &["approver"], &[]);
    put_policy(
        &s,
        json!({
            "name": "policy-admin",
            "statements": [{ "effect": "Allow", "actions": ["strongroom:ManagePolicies"], "resources": ["*"] }]
        }),
    );
    let pa = identity(&s, "pol-admin", &[], &["policy-admin"]);
    let rounds = 6;
    let mut problems = Vec::new();
    for round in 0..rounds {
        let id = pending(
            &s,
            "/v1/policies",
            json!({
                "name": format!("race-{round}"),
                "statements": [{ "effect": "Allow", "actions": ["kms:ListKeys"], "resources": ["*"] }]
            }),
            &pa,
        );
        assert_eq!(approve(&s, &id, &a1).0, 200);
        // Even rounds: two approvers at once; odd rounds: one approver twice.
        let finals: [&str; 2] = if round % 2 == 0 {
            [&a2, &a3]
        } else {
            [&a2, &a2]
        };
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<(u16, Value)> = std::thread::scope(|sc| {
            let hs: Vec<_> = finals
                .iter()
                .map(|t| {
                    let b = &barrier;
                    let s = &s;
                    let id = &id;
                    sc.spawn(move || {
                        b.wait();
                        approve(s, id, t)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let executed = results
            .iter()
            .filter(|(_, v)| v["executed"] == true)
            .count();
        let a = approval(&s, &id);
        let approvers = a["approvals"].as_array().unwrap().clone();
        let mut unique = approvers.clone();
        unique.sort_by_key(|v| v.to_string());
        unique.dedup();
        if executed != 1 || unique.len() != approvers.len() || a["status"] != "Executed" {
            problems.push(format!(
                "round {round}: executed {executed} times; approval {a}; answers {results:?}"
            ));
        }
    }
    let runs = audit_query(
        &s,
        "identity=pol-admin&action=strongroom:ManagePolicies&outcome=allowed",
        &s.token,
    );
    if runs.len() != rounds {
        problems.push(format!(
            "{} executions recorded for {rounds} approved requests",
            runs.len()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `strongroom:CreateToken` is not, on its own, a way around dual control:
/// an identity that may create tokens but holds no approver role must not
/// be able to complete a dual-controlled request alone by minting tokens
/// for approvers.
#[test]

fn create_token_cannot_be_used_to_impersonate_approvers() {
    let (s, _share) = production("dual-impersonate");
    identity(&s, "appr1", &["approver"], &[]);
    identity(&s, "appr2", &["approver"], &[]);
    put_policy(
        &s,
        json!({
            "name": "deleter",
            "statements": [
                { "effect": "Allow", "actions": ["kms:ScheduleKeyDeletion", "kms:DescribeKey"], "resources": ["*"] },
                { "effect": "Allow", "actions": ["strongroom:CreateToken"], "resources": ["*"] }
            ]
        }),
    );
    let mallory = identity(&s, "mallory", &[], &["deleter"]);
    let k = create_key(&s, json!({}));
    let id = pending(&s, "/v1/schedule-deletion", json!({ "key": k }), &mallory);
    for who in ["appr1", "appr2"] {
        let (st, v) = call(
            &s,
            "POST",
            "/v1/tokens",
            Some(&json!({ "identity": who, "ttl_secs": 60 })),
            Some(&mallory),
        );
        if st == 200 {
            let t = v["token"].as_str().unwrap().to_string();
            let _ = approve(&s, &id, &t);
        }
    }
    assert_eq!(
        key_state(&s, &k),
        "Enabled",
        "mallory scheduled the deletion alone by minting approver tokens"
    );
}

// ---------------------------------------------------------------------------
// security.md 17: tokens
// ---------------------------------------------------------------------------

fn invalid_token(s: &Server, token: &str, why: &str) {
    let (st, v) = call(s, "GET", "/v1/keys", None, Some(token));
    assert_eq!(st, 401, "{why}: {v}");
    assert_eq!(error_code(st, &v), "InvalidToken", "{why}: {v}");
}

#[test]
fn revoked_and_disabled_tokens_fail_at_once() {
    let s = Server::dev(BIN);
    let t1 = identity(&s, "tok", &["key-user"], &[]);
    let t2 = token_for(&s, "tok", None);
    let t3 = token_for(&s, "tok", Some(3600));
    ok(&s, "GET", "/v1/keys", None, &t1);
    ok(&s, "GET", "/v1/keys", None, &t2);
    ok(&s, "GET", "/v1/keys", None, &t3);

    // Revoke by id: the very next request fails; the others still work.
    let who = ok(&s, "GET", "/v1/identities/tok", None, &s.token);
    let tokens = who["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3, "{who}");
    assert!(
        !who.to_string().contains(t1.rsplit('.').next().unwrap()),
        "a token's secret is shown: {who}"
    );
    let id1 = t1.split('.').nth(1).unwrap();
    ok(
        &s,
        "POST",
        "/v1/tokens/revoke",
        Some(&json!({ "token_id": id1 })),
        &s.token,
    );
    invalid_token(&s, &t1, "revoked by id");
    ok(&s, "GET", "/v1/keys", None, &t2);
    // Revoke by the token itself.
    ok(
        &s,
        "POST",
        "/v1/tokens/revoke",
        Some(&json!({ "token_id": t2 })),
        &s.token,
    );
    invalid_token(&s, &t2, "revoked by value");
    invalid_token(&s, &t1, "still revoked");
    ok(&s, "GET", "/v1/keys", None, &t3);
    // A revoked token cannot un-revoke itself or do anything else.
    let (st, _) = call(
        &s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": "alias/none", "plaintext": b64(b"x") })),
        Some(&t1),
    );
    assert_eq!(st, 401);

    // Disabling the identity kills its remaining tokens at once, and no new
    // token can be made for it.
    ok(
        &s,
        "POST",
        "/v1/identity/disable",
        Some(&json!({ "name": "tok" })),
        &s.token,
    );
    invalid_token(&s, &t3, "identity disabled");
    let (st, v) = call(
        &s,
        "POST",
        "/v1/tokens",
        Some(&json!({ "identity": "tok" })),
        Some(&s.token),
    );
    assert_eq!(st, 400, "token for a disabled identity: {v}");

    // Malformed tokens and empty bearers.
    let mut tampered = t3.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let long = format!("sr.0123456789abcdef.{}", "A".repeat(10_000));
    let added = format!("{t3}x");
    let root_dot = format!("{}.", s.token);
    for (t, why) in [
        ("garbage", "garbage"),
        ("sr.", "prefix only"),
        ("sr..", "empty parts"),
        ("sr.0123456789abcdef.", "empty secret"),
        ("sr.0123456789abcdef.xyz", "unknown id"),
        ("sr.0123456789ABCDEF.xyz", "upper-case id"),
        (tampered.as_str(), "one character changed"),
        (added.as_str(), "one character added"),
        (&t3[..t3.len() - 1], "one character removed"),
        (long.as_str(), "very long"),
        (root_dot.as_str(), "root token plus a dot"),
    ] {
        let (st, v) = call(&s, "GET", "/v1/keys", None, Some(t));
        assert_eq!(st, 401, "{why}: {v}");
        let code = error_code(st, &v);
        assert!(
            code == "InvalidToken" || code == "Unauthenticated",
            "{why}: {v}"
        );
    }
    // No header, an empty bearer, and other schemes.
    let (st, v) = call(&s, "GET", "/v1/keys", None, None);
    assert_eq!(st, 401, "no token: {v}");
    let (st, v) = call(&s, "GET", "/v1/keys", None, Some(""));
    assert_eq!(st, 401, "empty bearer: {v}");
    let (st, v) = call(&s, "GET", "/v1/keys", None, Some("   "));
    assert_eq!(st, 401, "blank bearer: {v}");
    for header in [
        format!("Basic {}", s.token),
        s.token.clone(),
        format!("Bearer{}", s.token),
        "Bearer".to_string(),
    ] {
        let resp = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .get(&format!("{}/v1/keys", s.addr))
            .header("Authorization", &header)
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "Authorization: {header}");
    }
    // The root token still works after all that.
    ok(&s, "GET", "/v1/keys", None, &s.token);
}

/// A token with a 1-second TTL works at first and is refused after it.
#[test]
fn token_expires_after_its_ttl() {
    let s = Server::dev(BIN);
    identity(&s, "short", &["key-user"], &[]);
    // Expiry times have whole-second resolution; start early in a second so
    // "at first" has most of that second (see
    // `ttl_token_is_valid_for_its_whole_ttl` for the late case).
    wait_for_subsec(0, 300);
    let t = token_for(&s, "short", Some(1));
    ok(&s, "GET", "/v1/keys", None, &t);
    // Validity is counted in whole seconds and includes the last one, so a
    // 1 s token lives at least 1 s and less than 2 s.
    std::thread::sleep(Duration::from_millis(2100));
    invalid_token(&s, &t, "expired");
    ok(&s, "GET", "/v1/keys", None, &s.token);
}

/// Busy-waits (in short steps) until the wall clock's millisecond within
/// the second is in `[from, to)`.
fn wait_for_subsec(from: u32, to: u32) {
    loop {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        if (from..to).contains(&ms) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A token created late in a second, with ttl_secs = 2, is still valid one
/// second later.
#[test]

fn ttl_token_is_valid_for_its_whole_ttl() {
    let s = Server::dev(BIN);
    identity(&s, "late", &["key-user"], &[]);
    wait_for_subsec(900, 950);
    let t = token_for(&s, "late", Some(2));
    std::thread::sleep(Duration::from_millis(1100));
    // About 1.1 s into a 2 s TTL.
    ok(&s, "GET", "/v1/keys", None, &t);
}

// ---------------------------------------------------------------------------
// security.md 20: denied requests are audited
// ---------------------------------------------------------------------------

#[test]
fn denied_requests_are_audited() {
    let s = Server::dev(BIN);
    let k = create_key(&s, json!({ "aliases": ["alias/audited"] }));
    let snoop = identity(&s, "snoop", &["key-user"], &[]);
    let aud = identity(&s, "aud20", &["auditor"], &[]);
    denied(
        &s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": "alias/audited", "plaintext": b64(b"x") })),
        &snoop,
    );
    denied(&s, "GET", "/v1/identities", None, &snoop);
    denied(
        &s,
        "POST",
        "/v1/schedule-deletion",
        Some(&json!({ "key": k })),
        &snoop,
    );
    for reader in [&s.token, &aud] {
        let recs = audit_query(&s, "identity=snoop&outcome=denied", reader);
        let ops: Vec<(String, Value)> = recs
            .iter()
            .map(|r| {
                (
                    r["event"]["operation"].as_str().unwrap().to_string(),
                    r["event"]["key_id"].clone(),
                )
            })
            .collect();
        assert_eq!(recs.len(), 3, "{recs:?}");
        assert!(
            ops.contains(&("kms:Encrypt".into(), json!(k))),
            "encrypt denial with the key id: {ops:?}"
        );
        assert!(
            ops.contains(&("strongroom:ManageIdentities".into(), Value::Null)),
            "{ops:?}"
        );
        assert!(
            ops.contains(&("kms:ScheduleKeyDeletion".into(), json!(k))),
            "{ops:?}"
        );
        for r in &recs {
            let e = &r["event"];
            assert_eq!(e["identity"], "snoop");
            assert_eq!(e["outcome"], "denied");
            assert_eq!(e["error_code"], "AccessDenied");
            assert_eq!(e["root"], false);
            assert!(!e["request_id"].as_str().unwrap().is_empty());
            assert!(e["source"].as_str().unwrap().starts_with("127.0.0.1:"));
        }
        // Filters combine.
        let by_key = audit_query(
            &s,
            &format!("identity=snoop&outcome=denied&key={k}"),
            reader,
        );
        assert_eq!(by_key.len(), 2, "{by_key:?}");
    }
    // The auditor's own denied reads are audited too.
    denied(
        &s,
        "POST",
        "/v1/random",
        Some(&json!({ "number_of_bytes": 4 })),
        &aud,
    );
    let recs = audit_query(&s, "identity=aud20&outcome=denied", &s.token);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["event"]["operation"], "kms:GenerateRandom");
    // Failed authentication is audited as anonymous, without the token.
    let bogus = "sr.0123456789abcdef.CANARYnotAtoken";
    invalid_token(&s, bogus, "bogus");
    let recs = audit_query(&s, "identity=anonymous&outcome=denied", &s.token);
    assert!(
        recs.iter()
            .any(|r| r["event"]["error_code"] == "InvalidToken"),
        "{recs:?}"
    );
    let export = common::http(&s, "GET", "/v1/audit/export", None, Some(&s.token));
    assert_eq!(export.0, 200);
    assert!(!export.1.to_string().contains("CANARYnotAtoken"));
    // A key-user with no grant cannot read the audit log.
    denied(&s, "GET", "/v1/audit/query?identity=snoop", None, &snoop);
}

/// A caller without a right is denied (403, audited) whatever its input:
/// validation must not come first and turn the denial into an unaudited
/// 400.
#[test]

fn unauthorized_invalid_requests_are_denied_and_audited() {
    let s = Server::dev(BIN);
    let t = identity(&s, "nosy", &["key-user"], &[]);
    denied(
        &s,
        "POST",
        "/v1/policies",
        Some(&json!({
            "name": "p1",
            "statements": [{ "effect": "Allow", "actions": ["*"], "resources": ["alias/x%2F"] }]
        })),
        &t,
    );
    let recs = audit_query(&s, "identity=nosy&outcome=denied", &s.token);
    assert_eq!(recs.len(), 1, "{recs:?}");
}

/// The audit log records failed authentication as identity "anonymous";
/// no real identity may take that name, or its actions and failed logins
/// become indistinguishable in the log.
#[test]

fn audit_sentinel_identity_name_is_reserved() {
    let s = Server::dev(BIN);
    fails(
        &s,
        "POST",
        "/v1/identities",
        Some(&json!({ "name": "anonymous" })),
        Some(&s.token),
        400,
        "InvalidArgument",
    );
}
