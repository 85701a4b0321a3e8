//! Tests for the policy module. Expectations come from tables written out
//! here by hand, not from the implementation's own data.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

const OWN: &str = "0b6f2c1e-8d3a-4c5b-9e7f-1a2b3c4d5e6f";
const OTHER: &str = "9f8e7d6c-5b4a-4392-8170-fedcba987654";

/// Independent classification of every action: (name, category, acts on a
/// key). A = Admin, C = Crypto, R = Read, I = Identity, P = Approval,
/// S = System.
const TABLE: &[(&str, char, bool)] = &[
    ("kms:CreateKey", 'A', false),
    ("kms:DescribeKey", 'R', true),
    ("kms:ListKeys", 'R', false),
    ("kms:ListAliases", 'R', false),
    ("kms:UpdateKeyDescription", 'A', true),
    ("kms:TagResource", 'A', true),
    ("kms:UntagResource", 'A', true),
    ("kms:CreateAlias", 'A', true),
    ("kms:DeleteAlias", 'A', true),
    ("kms:UpdateAlias", 'A', true),
    ("kms:EnableKey", 'A', true),
    ("kms:DisableKey", 'A', true),
    ("kms:RotateKeyOnDemand", 'A', true),
    ("kms:EnableKeyRotation", 'A', true),
    ("kms:DisableKeyRotation", 'A', true),
    ("kms:EnableKeyVersion", 'A', true),
    ("kms:DisableKeyVersion", 'A', true),
    ("kms:SetMinDecryptionVersion", 'A', true),
    ("kms:ScheduleKeyDeletion", 'A', true),
    ("kms:CancelKeyDeletion", 'A', true),
    ("kms:Encrypt", 'C', true),
    ("kms:Decrypt", 'C', true),
    ("kms:ReEncryptFrom", 'C', true),
    ("kms:ReEncryptTo", 'C', true),
    ("kms:GenerateDataKey", 'C', true),
    ("kms:GenerateDataKeyWithoutPlaintext", 'C', true),
    ("kms:GenerateDataKeyPair", 'C', true),
    ("kms:GenerateRandom", 'C', false),
    ("kms:Sign", 'C', true),
    ("kms:Verify", 'C', true),
    ("kms:GenerateMac", 'C', true),
    ("kms:VerifyMac", 'C', true),
    ("kms:GetPublicKey", 'C', true),
    ("kms:Encapsulate", 'C', true),
    ("kms:Decapsulate", 'C', true),
    ("kms:GetKeyPolicy", 'R', true),
    ("kms:PutKeyPolicy", 'A', true),
    ("kms:ImportKeyMaterial", 'A', true),
    ("kms:GetParametersForImport", 'A', true),
    ("kms:DeleteImportedKeyMaterial", 'A', true),
    ("strongroom:ExportKey", 'C', true),
    ("strongroom:DecryptCompromised", 'C', true),
    ("strongroom:CompromiseKey", 'A', true),
    ("strongroom:CreateIdentity", 'I', false),
    ("strongroom:ManageIdentities", 'I', false),
    ("strongroom:CreateToken", 'I', false),
    ("strongroom:RevokeToken", 'I', false),
    ("strongroom:CreateAccessKey", 'I', false),
    ("strongroom:RevokeAccessKey", 'I', false),
    ("strongroom:BindCertificate", 'I', false),
    ("strongroom:UnbindCertificate", 'I', false),
    ("strongroom:ManagePolicies", 'I', false),
    ("strongroom:ReadAudit", 'R', false),
    ("strongroom:ConfigureAudit", 'S', false),
    ("strongroom:ListApprovals", 'P', false),
    ("strongroom:Approve", 'P', false),
    ("strongroom:Seal", 'S', false),
    ("strongroom:ReadComplianceReport", 'R', false),
    ("strongroom:ReportScan", 'S', false),
    ("strongroom:ReadScans", 'R', false),
    ("strongroom:Backup", 'S', false),
    ("strongroom:DevClock", 'S', false),
    ("strongroom:ReadSecret", 'X', false),
    ("strongroom:ReadSecretMetadata", 'X', false),
    ("strongroom:ListSecrets", 'X', false),
    ("strongroom:WriteSecret", 'X', false),
    ("strongroom:DeleteSecret", 'X', false),
    ("strongroom:DestroySecret", 'X', false),
    ("strongroom:RotateSecret", 'X', false),
];

fn letter(c: Category) -> char {
    match c {
        Category::Admin => 'A',
        Category::Crypto => 'C',
        Category::Read => 'R',
        Category::Identity => 'I',
        Category::Approval => 'P',
        Category::System => 'S',
        Category::Secret => 'X',
    }
}

/// What each role may do, written from the spec (not from the code).
/// `grant_applies`: the identity also has the attached grant (Allow `*` on
/// `key/OWN`) and this request is a keyed action on OWN.
fn expected(role: &str, action: &str, cat: char, grant_applies: bool) -> bool {
    const KEY_USER: &[&str] = &["kms:DescribeKey", "kms:ListKeys", "kms:ListAliases"];
    const AUDITOR: &[&str] = &[
        "kms:DescribeKey",
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:GetKeyPolicy",
        "strongroom:ReadAudit",
        "strongroom:ReadScans",
        "strongroom:ListApprovals",
        "strongroom:ReadSecretMetadata",
        "strongroom:ListSecrets",
    ];
    const APPROVER: &[&str] = &[
        "strongroom:ListApprovals",
        "strongroom:Approve",
        "kms:DescribeKey",
        "kms:ListKeys",
    ];
    match role {
        "root" => true,
        "key-admin" => match cat {
            'A' => true,
            'R' if action.starts_with("kms:") => true,
            'C' => false, // explicit deny beats the grant
            _ => grant_applies,
        },
        "key-user" => match cat {
            'A' => false, // explicit deny beats the grant
            _ => KEY_USER.contains(&action) || grant_applies,
        },
        "auditor" => match cat {
            'A' | 'C' => false,
            // Secret metadata and listing, never values or changes.
            'X' => AUDITOR.contains(&action),
            _ => AUDITOR.contains(&action) || grant_applies,
        },
        "approver" => APPROVER.contains(&action) || grant_applies,
        "none" => grant_applies,
        other => panic!("no expectation for role {other}"),
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (s(k), s(v))).collect()
}

fn stmt(effect: Effect, actions: &[&str], resources: &[&str]) -> Statement {
    Statement {
        effect,
        actions: actions.iter().map(|a| s(a)).collect(),
        resources: resources.iter().map(|r| s(r)).collect(),
        condition: None,
    }
}

fn policy(name: &str, statements: Vec<Statement>) -> Policy {
    Policy {
        name: s(name),
        description: String::new(),
        statements,
    }
}

struct Key {
    id: String,
    aliases: Vec<String>,
    tags: BTreeMap<String, String>,
}

impl Key {
    fn new(id: &str, aliases: &[&str], tags: &[(&str, &str)]) -> Key {
        Key {
            id: s(id),
            aliases: aliases.iter().map(|a| s(a)).collect(),
            tags: map(tags),
        }
    }
    fn facts(&self) -> KeyFacts<'_> {
        KeyFacts {
            id: &self.id,
            aliases: &self.aliases,
            tags: &self.tags,
        }
    }
}

fn decide(policies: &[Policy], action: &str, key: Option<&Key>) -> Decision {
    let refs: Vec<&Policy> = policies.iter().collect();
    evaluate(
        &refs,
        &Request {
            action,
            key: key.map(Key::facts),
            context: None,
            secret: None,
        },
    )
}

fn decide_ctx(
    policies: &[Policy],
    action: &str,
    key: &Key,
    ctx: Option<&BTreeMap<String, String>>,
) -> Decision {
    let refs: Vec<&Policy> = policies.iter().collect();
    evaluate(
        &refs,
        &Request {
            action,
            key: Some(key.facts()),
            context: ctx,
            secret: None,
        },
    )
}

fn allowed(policies: &[Policy], action: &str, key: Option<&Key>) -> bool {
    decide(policies, action, key).allowed
}

fn invalid(p: &Policy) -> String {
    match p.validate() {
        Err(PolicyError::Invalid(m)) => m,
        other => panic!("expected Invalid for {p:?}, got {other:?}"),
    }
}

fn invalid_resource(r: &str) -> String {
    invalid(&policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &[r])],
    ))
}

// ---------------------------------------------------------------- actions

#[test]
fn action_table_matches_independent_classification() {
    let ours: BTreeSet<&str> = TABLE.iter().map(|t| t.0).collect();
    let theirs: BTreeSet<&str> = ACTIONS.iter().copied().collect();
    assert_eq!(ours, theirs, "ACTIONS and the test table differ");
    assert_eq!(ACTIONS.len(), TABLE.len(), "duplicate entries in ACTIONS");
    for (name, cat, keyed) in TABLE {
        let info = action_info(name).unwrap_or_else(|| panic!("{name} has no info"));
        assert_eq!(letter(info.category), *cat, "category of {name}");
        assert_eq!(info.scope == Scope::Key, *keyed, "scope of {name}");
        assert_eq!(action_category(name), Some(info.category));
    }
    assert_eq!(action_info("kms:decrypt"), None, "names are case-sensitive");
    assert_eq!(action_info("kms:*"), None, "wildcards are not actions");
    assert!(actions_in(Category::Crypto).contains(&"kms:Decrypt"));
    assert!(!actions_in(Category::Admin).contains(&"kms:Decrypt"));
}

#[test]
fn action_wildcards_cover_their_namespace_only() {
    let k = Key::new(OWN, &[], &[]);
    let kms = [policy("p", vec![stmt(Effect::Allow, &["kms:*"], &["*"])])];
    let sr = [policy(
        "p",
        vec![stmt(Effect::Allow, &["strongroom:*"], &["*"])],
    )];
    let all = [policy("p", vec![stmt(Effect::Allow, &["*"], &["*"])])];
    for a in ACTIONS {
        let is_kms = a.starts_with("kms:");
        assert_eq!(allowed(&kms, a, Some(&k)), is_kms, "kms:* vs {a}");
        assert_eq!(allowed(&sr, a, Some(&k)), !is_kms, "strongroom:* vs {a}");
        assert!(allowed(&all, a, Some(&k)), "* vs {a}");
    }
    // Other star forms (only possible in unvalidated policies) match nothing.
    for bad in [
        "kms:Decrypt*",
        "kms:De*",
        "kms*",
        "*:Decrypt",
        "KMS:*",
        "kms:decrypt",
    ] {
        let p = [policy("p", vec![stmt(Effect::Allow, &[bad], &["*"])])];
        assert!(
            !allowed(&p, "kms:Decrypt", Some(&k)),
            "{bad} must not match"
        );
    }
}

#[test]
fn unknown_request_action_is_denied_even_for_root() {
    let root = [builtin_role("root").unwrap()];
    let k = Key::new(OWN, &[], &[]);
    assert!(allowed(&root, "kms:Decrypt", Some(&k)));
    for a in [
        "kms:decrypt",
        "kms:Decrypt ",
        "kms:Frobnicate",
        "",
        "*",
        "kms:*",
    ] {
        let d = decide(&root, a, Some(&k));
        assert!(!d.allowed, "{a:?}");
        assert!(d.reason.contains("unknown action"), "{}", d.reason);
        assert!(d.matched.is_empty());
    }
    let d = decide(&root, "kms:decrypt", Some(&k));
    assert!(
        d.reason.contains("did you mean \"kms:Decrypt\""),
        "{}",
        d.reason
    );
}

// ---------------------------------------------------------------- matrix

#[test]
fn privilege_matrix_roles_by_actions_by_own_and_other_key() {
    let own = Key::new(OWN, &["alias/app"], &[("env", "dev")]);
    let other = Key::new(OTHER, &["alias/other"], &[("env", "dev")]);
    let grant = policy(
        "grant-own",
        vec![stmt(Effect::Allow, &["*"], &[&format!("key/{OWN}")])],
    );
    let mut cases = 0;
    let mut roles: Vec<&str> = BUILTIN_ROLES.to_vec();
    roles.push("none");
    for role in roles {
        let role_list: Vec<String> = if role == "none" {
            vec![]
        } else {
            vec![s(role)]
        };
        for with_grant in [false, true] {
            let attached: Vec<Policy> = if with_grant {
                vec![grant.clone()]
            } else {
                vec![]
            };
            let eff = effective_policies(&role_list, &attached).unwrap();
            for (action, cat, keyed) in TABLE {
                for (which, key) in [("own", &own), ("other", &other)] {
                    let grant_applies = with_grant && *keyed && which == "own";
                    let want = expected(role, action, *cat, grant_applies);
                    let d = decide(&eff, action, Some(key));
                    assert_eq!(
                        d.allowed, want,
                        "role {role}, grant {with_grant}, {action} on {which} key: {}",
                        d.reason
                    );
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 6 * 2 * TABLE.len() * 2);
}

#[test]
fn encrypt_only_identity_can_do_nothing_else() {
    // security.md 14: allowed only Encrypt on K → cannot Decrypt, ReEncrypt,
    // read policy, manage K, or touch any other key.
    let k = Key::new(OWN, &["alias/k"], &[]);
    let other = Key::new(OTHER, &[], &[]);
    let p = policy(
        "enc-only",
        vec![stmt(
            Effect::Allow,
            &["kms:Encrypt"],
            &[&format!("key/{OWN}")],
        )],
    );
    let eff = effective_policies(&[], &[p]).unwrap();
    for a in ACTIONS {
        assert_eq!(allowed(&eff, a, Some(&k)), *a == "kms:Encrypt", "{a} on K");
        assert!(!allowed(&eff, a, Some(&other)), "{a} on other key");
        assert!(!allowed(&eff, a, None), "{a} with no key");
    }
}

#[test]
fn key_admin_cannot_use_keys_even_with_a_crypto_grant() {
    let k = Key::new(OWN, &[], &[]);
    let grant = policy(
        "crypto",
        vec![stmt(Effect::Allow, &["kms:*", "strongroom:*"], &["*"])],
    );
    let eff = effective_policies(&[s("key-admin")], &[grant]).unwrap();
    for a in actions_in(Category::Crypto) {
        let d = decide(&eff, a, Some(&k));
        assert!(!d.allowed, "{a}");
        assert!(d.reason.contains("role:key-admin"), "{}", d.reason);
        assert!(d.reason.contains("explicit deny wins"), "{}", d.reason);
    }
    assert!(allowed(&eff, "kms:ScheduleKeyDeletion", Some(&k)));
}

#[test]
fn admin_and_user_roles_together_block_both_duties() {
    let k = Key::new(OWN, &[], &[]);
    let grant = policy("g", vec![stmt(Effect::Allow, &["*"], &["*"])]);
    let eff = effective_policies(&[s("key-admin"), s("key-user")], &[grant]).unwrap();
    assert!(!allowed(&eff, "kms:Decrypt", Some(&k)));
    assert!(!allowed(&eff, "kms:ScheduleKeyDeletion", Some(&k)));
    assert!(allowed(&eff, "kms:DescribeKey", Some(&k)));
}

#[test]
fn builtin_roles_are_valid_named_and_unique() {
    for r in BUILTIN_ROLES {
        let p = builtin_role(r).unwrap();
        assert_eq!(p.name, format!("role:{r}"));
        p.validate().unwrap();
        assert!(p.statements.iter().all(|s| s.resources == ["*"]));
    }
    assert!(builtin_role("Root").is_none());
    assert!(builtin_role("root ").is_none());
    assert!(builtin_role("admin").is_none());
    let root = builtin_role("root").unwrap();
    assert!(
        matches!(root.validate_custom(), Err(PolicyError::Invalid(m)) if m.contains("reserved"))
    );
    let fake = policy("role:superuser", vec![stmt(Effect::Allow, &["*"], &["*"])]);
    assert!(invalid(&fake).contains("policy name"));
}

#[test]
fn effective_policies_errors_and_dedup() {
    let e = effective_policies(&[s("key-admn")], &[]).unwrap_err();
    assert_eq!(e, PolicyError::UnknownRole(s("key-admn")));
    let msg = e.to_string();
    assert!(msg.contains("did you mean \"key-admin\""), "{msg}");
    assert!(msg.contains("key-user"), "{msg}");
    assert!(effective_policies(&[s("ROOT")], &[]).is_err());
    let eff = effective_policies(&[s("auditor"), s("auditor")], &[]).unwrap();
    assert_eq!(eff.len(), 1);
    let bad = policy(
        "bad",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["key/*"])],
    );
    match effective_policies(&[s("key-user")], &[bad]) {
        Err(PolicyError::Invalid(m)) => assert!(m.contains("\"bad\""), "{m}"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- evaluation

#[test]
fn deny_by_default() {
    let k = Key::new(OWN, &[], &[]);
    let d = decide(&[], "kms:Decrypt", Some(&k));
    assert!(!d.allowed);
    assert_eq!(
        d.reason,
        format!("no policy grants kms:Decrypt on key {OWN} (deny by default)")
    );
    let d = decide(&[], "kms:ListKeys", None);
    assert_eq!(d.reason, "no policy grants kms:ListKeys (deny by default)");
    let d = decide(&[], "kms:Decrypt", None);
    assert!(d.reason.contains("names no key"), "{}", d.reason);
    // A policy for another action or another key grants nothing here.
    let p = [policy(
        "p",
        vec![
            stmt(Effect::Allow, &["kms:Encrypt"], &["*"]),
            stmt(Effect::Allow, &["kms:Decrypt"], &[&format!("key/{OTHER}")]),
        ],
    )];
    assert!(!allowed(&p, "kms:Decrypt", Some(&k)));
}

#[test]
fn explicit_deny_wins_in_any_order() {
    let prod = Key::new(OWN, &["alias/app"], &[("env", "prod")]);
    let dev = Key::new(OTHER, &["alias/app2"], &[("env", "dev")]);
    let allow = policy(
        "app-crypto",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["*"])],
    );
    let deny = policy(
        "no-prod",
        vec![
            stmt(Effect::Allow, &["kms:Encrypt"], &["*"]),
            stmt(Effect::Deny, &["kms:*"], &["tag/env=prod"]),
        ],
    );
    for order in [
        vec![allow.clone(), deny.clone()],
        vec![deny.clone(), allow.clone()],
    ] {
        let d = decide(&order, "kms:Decrypt", Some(&prod));
        assert!(!d.allowed);
        assert!(
            d.reason
                .starts_with("denied by policy 'no-prod' statement 1 (explicit deny wins)"),
            "{}",
            d.reason
        );
        assert!(
            d.reason
                .contains("overrides the allow in policy 'app-crypto' statement 0"),
            "{}",
            d.reason
        );
        assert_eq!(d.matched.len(), 2);
        let d = decide(&order, "kms:Decrypt", Some(&dev));
        assert!(d.allowed);
        assert_eq!(d.reason, "allowed by policy 'app-crypto' statement 0");
        assert_eq!(
            d.matched,
            vec![MatchedStatement {
                policy: s("app-crypto"),
                statement: 0,
                effect: Effect::Allow
            }]
        );
    }
    // Deny before Allow inside one policy, too.
    let one = [policy(
        "one",
        vec![
            stmt(Effect::Deny, &["kms:Decrypt"], &["alias/app"]),
            stmt(Effect::Allow, &["kms:Decrypt"], &["*"]),
        ],
    )];
    assert!(!allowed(&one, "kms:Decrypt", Some(&prod)));
    assert!(allowed(&one, "kms:Decrypt", Some(&dev)));
    // A deny alone is still a deny (not an allow of anything else).
    let only_deny = [policy(
        "d",
        vec![stmt(Effect::Deny, &["kms:Decrypt"], &["*"])],
    )];
    assert!(!allowed(&only_deny, "kms:Encrypt", Some(&dev)));
}

#[test]
fn resource_patterns_by_id_alias_prefix_and_tag() {
    let k = Key::new(
        OWN,
        &["alias/app/orders", "alias/billing"],
        &[("env", "prod"), ("team", "pay")],
    );
    let other = Key::new("11111111-2222-4333-8444-555555555555", &[], &[]);
    let cases: &[(&str, bool)] = &[
        ("*", true),
        (&format!("key/{OWN}"), true),
        (&format!("key/{OTHER}"), false),
        ("alias/billing", true),
        ("alias/app/orders", true),
        ("alias/app", false),
        ("alias/app/*", true),
        ("alias/app*", true),
        ("alias/bill*", true),
        ("alias/*", true),
        ("alias/orders", false),
        ("alias/app/orders/*", false),
        ("tag/env=prod", true),
        ("tag/team=pay", true),
        ("tag/env=dev", false),
        ("tag/owner=pay", false),
    ];
    for (pattern, want) in cases {
        let p = [policy(
            "p",
            vec![stmt(Effect::Allow, &["kms:Encrypt"], &[pattern])],
        )];
        p[0].validate().unwrap();
        assert_eq!(allowed(&p, "kms:Encrypt", Some(&k)), *want, "{pattern}");
        assert_eq!(
            allowed(&p, "kms:Encrypt", Some(&other)),
            *pattern == "*",
            "{pattern} vs key without aliases/tags"
        );
        assert_eq!(
            allowed(&p, "kms:Encrypt", None),
            *pattern == "*",
            "{pattern} vs no key"
        );
    }
    // Several resources: any one matching is enough.
    let p = [policy(
        "p",
        vec![stmt(
            Effect::Allow,
            &["kms:Encrypt"],
            &["alias/nope", "tag/team=pay"],
        )],
    )];
    assert!(allowed(&p, "kms:Encrypt", Some(&k)));
}

#[test]
fn keyless_actions_only_match_star() {
    let k = Key::new(OWN, &["alias/app"], &[("env", "prod")]);
    // Built by hand: validate() refuses this shape (see validation tests).
    let p = [policy(
        "p",
        vec![stmt(
            Effect::Allow,
            &["*"],
            &[&format!("key/{OWN}"), "alias/*", "tag/env=prod"],
        )],
    )];
    for (name, _, keyed) in TABLE {
        assert_eq!(allowed(&p, name, Some(&k)), *keyed, "{name}");
    }
    let star = [policy(
        "p",
        vec![stmt(
            Effect::Allow,
            &["kms:CreateKey", "kms:GenerateRandom"],
            &["*"],
        )],
    )];
    assert!(allowed(&star, "kms:CreateKey", None));
    assert!(allowed(&star, "kms:GenerateRandom", Some(&k)));
}

#[test]
fn strict_literal_alias_matching() {
    let prefix = [policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["alias/app*"])],
    )];
    let dir = [policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["alias/app/*"])],
    )];
    let exact = [policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["alias/app"])],
    )];
    for p in [&prefix, &dir, &exact] {
        p[0].validate().unwrap();
    }
    let with = |alias: &str| Key::new(OWN, &[alias], &[]);

    assert!(allowed(&prefix, "kms:Decrypt", Some(&with("alias/app"))));
    assert!(allowed(&prefix, "kms:Decrypt", Some(&with("alias/app-1"))));
    assert!(!allowed(&prefix, "kms:Decrypt", Some(&with("alias/ap"))));
    assert!(!allowed(&prefix, "kms:Decrypt", Some(&with("alias/App-1"))));

    assert!(allowed(&dir, "kms:Decrypt", Some(&with("alias/app/1"))));
    assert!(!allowed(&dir, "kms:Decrypt", Some(&with("alias/app"))));
    assert!(!allowed(&dir, "kms:Decrypt", Some(&with("alias/apx/1"))));
    assert!(!allowed(&dir, "kms:Decrypt", Some(&with("alias/app-1"))));

    assert!(allowed(&exact, "kms:Decrypt", Some(&with("alias/app"))));
    for variant in [
        "alias/App",
        "alias/APP",
        "alias/app ",
        " alias/app",
        "alias/app\t",
        "alias/\u{430}pp",   // Cyrillic а
        "alias/app\u{200b}", // zero-width space
        "alias/app%2F..",
        "alias/app/..",
        "alias/app/",
        "alias//app",
        "alias/./app",
        "alias/app*",
        "Alias/app",
        "app",
    ] {
        let k = with(variant);
        assert!(
            !allowed(&exact, "kms:Decrypt", Some(&k)),
            "exact vs {variant:?}"
        );
    }
    // Request aliases that are not well-formed never match, even a prefix.
    for variant in [
        "alias/app/../secret",
        "alias/app%2F..",
        "alias/app ",
        "alias/app/*",
        "alias/app?",
    ] {
        let k = with(variant);
        assert!(
            !allowed(&prefix, "kms:Decrypt", Some(&k)),
            "prefix vs {variant:?}"
        );
        assert!(
            !allowed(&dir, "kms:Decrypt", Some(&k)),
            "dir vs {variant:?}"
        );
    }
    // A key whose alias is literally "alias/*" gets nothing from "alias/x",
    // nor from the every-alias pattern (it is not a valid alias).
    let star = with("alias/*");
    let x = [policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["alias/x"])],
    )];
    assert!(!allowed(&x, "kms:Decrypt", Some(&star)));
    let any = [policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["alias/*"])],
    )];
    assert!(!allowed(&any, "kms:Decrypt", Some(&star)));
    assert!(allowed(&any, "kms:Decrypt", Some(&with("alias/x"))));
}

#[test]
fn strict_literal_tag_and_id_matching() {
    let p = [policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["tag/env=prod"])],
    )];
    let tagged = |k: &str, v: &str| Key::new(OWN, &[], &[(k, v)]);
    assert!(allowed(&p, "kms:Decrypt", Some(&tagged("env", "prod"))));
    for (k, v) in [
        ("env", "Prod"),
        ("env", "prod*"),
        ("env", "pro"),
        ("env", "prod "),
        ("env", " prod"),
        ("env", "pr\u{43e}d"), // Cyrillic о
        ("env", "prod%00"),
        ("Env", "prod"),
        ("env ", "prod"),
        ("env=prod", ""),
        ("", "env=prod"),
    ] {
        assert!(
            !allowed(&p, "kms:Decrypt", Some(&tagged(k, v))),
            "tag {k:?}={v:?}"
        );
    }
    // Tag values containing '=' are matched by splitting at the first '='.
    let eq = [policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["tag/a=b=c"])],
    )];
    assert!(allowed(&eq, "kms:Decrypt", Some(&tagged("a", "b=c"))));
    assert!(!allowed(&eq, "kms:Decrypt", Some(&tagged("a=b", "c"))));

    let id = [policy(
        "p",
        vec![stmt(
            Effect::Allow,
            &["kms:Decrypt"],
            &[&format!("key/{OWN}")],
        )],
    )];
    for variant in [
        OWN.to_uppercase(),
        OWN.replace('-', ""),
        format!("{OWN} "),
        format!("{{{OWN}}}"),
        format!("key/{OWN}"),
    ] {
        let k = Key::new(&variant, &[], &[]);
        assert!(!allowed(&id, "kms:Decrypt", Some(&k)), "id {variant:?}");
    }
    // A key id in a request's alias or tag grants nothing.
    let disguised = Key::new(OTHER, &[&format!("alias/{OWN}")], &[("key", OWN)]);
    assert!(!allowed(&id, "kms:Decrypt", Some(&disguised)));
}

#[test]
fn unvalidated_bad_patterns_match_nothing() {
    let k = Key::new(OWN, &["alias/app"], &[("env", "prod")]);
    for bad in [
        "key/*",
        "key/",
        "alias/",
        "alias/a*p",
        "alias/**",
        "*/app",
        "alias/app?",
        "alias/%61pp",
        "tag/env=*",
        "tag/*",
        "tag/=prod",
        "tag/env",
        "ALIAS/app",
        "**",
        " *",
    ] {
        let p = [policy(
            "p",
            vec![stmt(Effect::Allow, &["kms:Decrypt"], &[bad])],
        )];
        assert!(p[0].validate().is_err(), "{bad:?} should be invalid");
        assert!(
            !allowed(&p, "kms:Decrypt", Some(&k)),
            "{bad:?} must match nothing"
        );
    }
}

// ---------------------------------------------------------------- conditions

fn cond_policy(cond: Condition) -> Vec<Policy> {
    let mut st = stmt(Effect::Allow, &["kms:Decrypt"], &[&format!("key/{OWN}")]);
    st.condition = Some(cond);
    let p = policy("app-crypto", vec![st]);
    p.validate().unwrap();
    vec![p]
}

#[test]
fn context_equals_is_a_subset_match() {
    let k = Key::new(OWN, &[], &[]);
    let p = cond_policy(Condition {
        context_equals: map(&[("app", "orders"), ("env", "prod")]),
        context_exact: None,
    });
    let ok = |c: &[(&str, &str)]| decide_ctx(&p, "kms:Decrypt", &k, Some(&map(c))).allowed;
    assert!(ok(&[("app", "orders"), ("env", "prod")]));
    assert!(
        ok(&[("app", "orders"), ("env", "prod"), ("extra", "x")]),
        "extra entries are fine"
    );
    assert!(!ok(&[("app", "orders")]), "missing pair");
    assert!(!ok(&[("app", "orders"), ("env", "Prod")]), "case differs");
    assert!(
        !ok(&[("app", "orders"), ("env", "prod ")]),
        "whitespace differs"
    );
    assert!(
        !ok(&[("App", "orders"), ("env", "prod")]),
        "key case differs"
    );
    assert!(!ok(&[]), "empty context");
    assert!(
        !decide_ctx(&p, "kms:Decrypt", &k, None).allowed,
        "no context"
    );
}

#[test]
fn context_exact_requires_the_same_map() {
    let k = Key::new(OWN, &[], &[]);
    let p = cond_policy(Condition {
        context_equals: BTreeMap::new(),
        context_exact: Some(map(&[("app", "orders")])),
    });
    let ok = |c: &[(&str, &str)]| decide_ctx(&p, "kms:Decrypt", &k, Some(&map(c))).allowed;
    assert!(ok(&[("app", "orders")]));
    assert!(!ok(&[("app", "orders"), ("extra", "x")]), "extra entry");
    assert!(!ok(&[("app", "other")]), "different value");
    assert!(!ok(&[]), "empty");
    assert!(
        !decide_ctx(&p, "kms:Decrypt", &k, None).allowed,
        "no context"
    );

    // An exact empty map means "no encryption context"; None counts as empty.
    let empty = cond_policy(Condition {
        context_equals: BTreeMap::new(),
        context_exact: Some(BTreeMap::new()),
    });
    assert!(decide_ctx(&empty, "kms:Decrypt", &k, None).allowed);
    assert!(decide_ctx(&empty, "kms:Decrypt", &k, Some(&map(&[]))).allowed);
    assert!(!decide_ctx(&empty, "kms:Decrypt", &k, Some(&map(&[("a", "b")]))).allowed);

    // Both parts must hold.
    let both = cond_policy(Condition {
        context_equals: map(&[("app", "orders")]),
        context_exact: Some(map(&[("app", "orders"), ("env", "prod")])),
    });
    assert!(
        decide_ctx(
            &both,
            "kms:Decrypt",
            &k,
            Some(&map(&[("app", "orders"), ("env", "prod")]))
        )
        .allowed
    );
    assert!(!decide_ctx(&both, "kms:Decrypt", &k, Some(&map(&[("app", "orders")]))).allowed);
}

#[test]
fn condition_failure_is_explained_without_values() {
    let k = Key::new(OWN, &[], &[]);
    let p = cond_policy(Condition {
        context_equals: map(&[("app", "s3cr3t-orders")]),
        context_exact: None,
    });
    let d = decide_ctx(&p, "kms:Decrypt", &k, Some(&map(&[("app", "w4rehouse")])));
    assert!(!d.allowed);
    assert!(d.reason.contains("deny by default"), "{}", d.reason);
    assert!(
        d.reason.contains("policy 'app-crypto' statement 0"),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("condition failed"), "{}", d.reason);
    assert!(d.reason.contains("\"app\""), "{}", d.reason);
    assert!(!d.reason.contains("s3cr3t"), "{}", d.reason);
    assert!(!d.reason.contains("w4rehouse"), "{}", d.reason);
    let d = decide_ctx(&p, "kms:Decrypt", &k, None);
    assert!(d.reason.contains("missing"), "{}", d.reason);

    let p = cond_policy(Condition {
        context_equals: BTreeMap::new(),
        context_exact: Some(map(&[("a", "1"), ("b", "2")])),
    });
    let d = decide_ctx(
        &p,
        "kms:Decrypt",
        &k,
        Some(&map(&[("a", "v-nine"), ("c", "v-three")])),
    );
    for part in [
        "context_exact",
        "missing keys [\"b\"]",
        "extra keys [\"c\"]",
        "different values for keys [\"a\"]",
    ] {
        assert!(d.reason.contains(part), "{part}: {}", d.reason);
    }
    for secret in ["v-nine", "v-three", "\"1\"", "\"2\""] {
        assert!(!d.reason.contains(secret), "{secret}: {}", d.reason);
    }
}

#[test]
fn deny_with_condition_applies_only_when_it_holds() {
    let k = Key::new(OWN, &[], &[]);
    let mut deny = stmt(Effect::Deny, &["kms:Decrypt"], &["*"]);
    deny.condition = Some(Condition {
        context_equals: map(&[("env", "prod")]),
        context_exact: None,
    });
    let p = vec![policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &["*"]), deny],
    )];
    p[0].validate().unwrap();
    assert!(!decide_ctx(&p, "kms:Decrypt", &k, Some(&map(&[("env", "prod")]))).allowed);
    assert!(decide_ctx(&p, "kms:Decrypt", &k, Some(&map(&[("env", "dev")]))).allowed);
    assert!(decide_ctx(&p, "kms:Decrypt", &k, None).allowed);
}

// ---------------------------------------------------------------- validation

#[test]
fn validation_accepts_the_grammar() {
    for r in [
        "*",
        &format!("key/{OWN}"),
        "alias/app",
        "alias/app/orders_2-x",
        "alias/app*",
        "alias/app/*",
        "alias/*",
        "tag/env=prod",
        "tag/env=",
        "tag/a=b=c",
    ] {
        policy("p", vec![stmt(Effect::Allow, &["kms:Decrypt"], &[r])])
            .validate()
            .unwrap_or_else(|e| panic!("{r}: {e}"));
    }
    for a in ["*", "kms:*", "strongroom:*"] {
        policy("p", vec![stmt(Effect::Allow, &[a], &["*"])])
            .validate()
            .unwrap();
    }
    for n in ["a", "App-crypto_2", &"x".repeat(128)] {
        policy(n, vec![stmt(Effect::Allow, &["*"], &["*"])])
            .validate()
            .unwrap();
    }
}

#[test]
fn validation_rejects_bad_resources_with_clear_messages() {
    let cases: &[(&str, &str)] = &[
        ("", "empty resource"),
        (
            &format!("key/{}", OWN.to_uppercase()),
            &format!("write \"key/{OWN}\" (lowercase)"),
        ),
        (&format!("key/{}", OWN.replace('-', "")), "canonical"),
        ("key/*", "use the resource \"*\""),
        ("key/123", "canonical"),
        ("alias/..", "'..'"),
        ("alias/app/../x", "'..'"),
        ("alias/app%2F..", "percent-encoding"),
        ("alias/app%2f", "percent-encoding"),
        ("alias/a*b", "'*' may only be"),
        ("alias/*app", "'*' may only be"),
        ("alias/app**", "'*' may only be"),
        ("*/x", "'*' may only be"),
        ("**", "'*' may only be"),
        ("alias/app?", "'?'"),
        ("alias/app ", "whitespace"),
        (" *", "whitespace"),
        ("alias/a\tb", "whitespace"),
        ("alias/\u{430}pp", "non-ASCII character U+0430"),
        ("alias/", "needs a name"),
        ("alias/app/", "cannot end with '/'"),
        ("alias//app", "\"//\""),
        ("alias/a.b", "A-Z a-z 0-9"),
        ("tag/env=pro*", "tag patterns are exact"),
        ("tag/env", "'=' is missing"),
        ("tag/=prod", "empty tag key"),
        ("arn:aws:kms:us-east-1:111122223333:key/x", "ARNs"),
        ("Alias/app", "not a resource pattern"),
        ("keys/x", "not a resource pattern"),
    ];
    for (r, needle) in cases {
        let m = invalid_resource(r);
        assert!(m.contains(needle), "{r:?}: {m}");
        assert!(m.contains("statement 0"), "{m}");
        assert!(m.contains("policy \"p\""), "{m}");
    }
}

#[test]
fn validation_rejects_bad_actions_names_and_shapes() {
    let one = |a: &str| invalid(&policy("p", vec![stmt(Effect::Allow, &[a], &["*"])]));
    let m = one("kms:Decyrpt");
    assert!(
        m.contains("unknown action \"kms:Decyrpt\"") && m.contains("did you mean \"kms:Decrypt\""),
        "{m}"
    );
    let m = one("kms:decrypt");
    assert!(
        m.contains("did you mean \"kms:Decrypt\"") && m.contains("case-sensitive"),
        "{m}"
    );
    assert!(one("Decrypt").contains("did you mean \"kms:Decrypt\""));
    assert!(one("kms:Encrypt*").contains("only action wildcards"));
    assert!(one("kms:Gen*").contains("only action wildcards"));
    assert!(one("totally-unrelated-thing-here").contains("docs/POLICY.md"));
    assert!(one("").contains("unknown action"));

    let m = invalid(&policy("p", vec![]));
    assert!(m.contains("no statements"), "{m}");
    let m = invalid(&policy("p", vec![stmt(Effect::Allow, &[], &["*"])]));
    assert!(m.contains("\"actions\" is empty"), "{m}");
    let m = invalid(&policy(
        "p",
        vec![stmt(Effect::Allow, &["kms:Decrypt"], &[])],
    ));
    assert!(m.contains("\"resources\" is empty"), "{m}");
    let m = invalid(&policy(
        "p",
        vec![
            stmt(Effect::Allow, &["kms:Decrypt"], &["*"]),
            stmt(
                Effect::Allow,
                &["kms:Decrypt", "kms:CreateKey"],
                &["alias/app"],
            ),
        ],
    ));
    assert!(
        m.contains("statement 1") && m.contains("\"kms:CreateKey\" does not act on a key"),
        "{m}"
    );

    let mut st = stmt(Effect::Allow, &["kms:Decrypt"], &["*"]);
    st.condition = Some(Condition::default());
    assert!(invalid(&policy("p", vec![st.clone()])).contains("\"condition\" is empty"));
    st.condition = Some(Condition {
        context_equals: map(&[("", "x")]),
        context_exact: None,
    });
    assert!(invalid(&policy("p", vec![st])).contains("must not be empty"));

    for bad in [
        "",
        "-x",
        "a b",
        "a/b",
        "a.b",
        "ünï",
        "role:nope",
        "role:",
        &"x".repeat(129),
    ] {
        let m = invalid(&policy(bad, vec![stmt(Effect::Allow, &["*"], &["*"])]));
        assert!(m.contains("policy name"), "{bad:?}: {m}");
    }
    let mut p = policy("p", vec![stmt(Effect::Allow, &["*"], &["*"])]);
    p.description = s("line\nbreak");
    assert!(invalid(&p).contains("control characters"));
    p.description = "x".repeat(MAX_DESCRIPTION_LEN + 1);
    assert!(invalid(&p).contains("description"));
    let many = policy(
        "p",
        (0..=MAX_STATEMENTS)
            .map(|_| stmt(Effect::Allow, &["*"], &["*"]))
            .collect(),
    );
    assert!(invalid(&many).contains("at most"));

    let e = policy("p", vec![]).validate().unwrap_err();
    assert!(e.to_string().starts_with("invalid policy: "), "{e}");
}

#[test]
fn json_format_is_strict() {
    let good = r#"{"name":"app","statements":[{"effect":"Allow","actions":["kms:Decrypt"],"resources":["alias/app"],"condition":{"context_equals":{"app":"orders"}}}]}"#;
    let p = Policy::from_json(good).unwrap();
    assert_eq!(p.description, "");
    assert_eq!(p.statements[0].effect, Effect::Allow);
    let back = serde_json::to_string(&p).unwrap();
    assert_eq!(Policy::from_json(&back).unwrap(), p);

    for bad in [
        r#"{"name":"app","statements":[{"effect":"allow","actions":["kms:Decrypt"],"resources":["*"]}]}"#,
        r#"{"name":"app","statements":[{"Effect":"Allow","actions":["kms:Decrypt"],"resources":["*"]}]}"#,
        r#"{"name":"app","statements":[{"effect":"Allow","actions":["kms:Decrypt"],"resources":["*"],"principal":"x"}]}"#,
        r#"{"name":"app","statements":[{"effect":"Allow","actions":["kms:Decrypt"],"resources":["*"],"condition":{"StringLike":{}}}]}"#,
        r#"{"name":"app","version":"2012-10-17","statements":[]}"#,
        r#"{"name":"app","statements":[{"effect":"Allow","actions":"kms:Decrypt","resources":["*"]}]}"#,
        r#"{"name":"app"}"#,
        "not json",
    ] {
        match Policy::from_json(bad) {
            Err(PolicyError::Invalid(m)) => assert!(!m.is_empty()),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Valid JSON, invalid policy: validation runs too.
    let e = Policy::from_json(
        r#"{"name":"app","statements":[{"effect":"Allow","actions":["kms:Decrypt"],"resources":["key/*"]}]}"#,
    );
    assert!(matches!(e, Err(PolicyError::Invalid(m)) if m.contains("key patterns are exact")));
}

#[test]
fn docs_examples_parse_and_validate() {
    let doc = include_str!("../../../../docs/POLICY.md");
    let mut count = 0;
    let mut rest = doc;
    while let Some(start) = rest.find("```json\n") {
        let after = &rest[start + "```json\n".len()..];
        let end = after.find("```").unwrap();
        let block = &after[..end];
        if block.contains("\"statements\"") {
            let p = Policy::from_json(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
            p.validate_custom().unwrap();
            count += 1;
        }
        rest = &after[end..];
    }
    assert!(count >= 2, "expected policy examples in docs/POLICY.md");
}

#[test]
fn decision_serializes_for_explain() {
    let k = Key::new(OWN, &[], &[]);
    let d = decide(&[builtin_role("root").unwrap()], "kms:Decrypt", Some(&k));
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["matched"][0]["policy"], "role:root");
    assert_eq!(v["matched"][0]["effect"], "Allow");
}

// ---------------------------------------------------------------- dual control

const T0: i64 = 1_700_000_000_000;
const TTL: i64 = 3_600_000;

fn pending(required: u32) -> ApprovalRequest {
    ApprovalRequest::new(
        s("apr-1"),
        s("kms:ScheduleKeyDeletion"),
        s("alice"),
        Some(s(OWN)),
        serde_json::json!({"key_id": OWN, "pending_window_days": 7}),
        T0,
        TTL,
        required,
    )
    .unwrap()
}

fn approval_err(r: Result<ApprovalStatus, PolicyError>) -> String {
    match r {
        Err(PolicyError::Approval(m)) => m,
        other => panic!("expected an approval error, got {other:?}"),
    }
}

#[test]
fn self_approval_is_refused() {
    let mut r = pending(1);
    let m = approval_err(r.approve("alice", true, T0 + 1));
    assert!(m.contains("cannot approve its own request"), "{m}");
    assert_eq!(r.status, ApprovalStatus::Pending);
    assert!(r.approvals.is_empty());
    assert!(r.mark_executed().is_err());
}

#[test]
fn double_approval_is_refused_and_cannot_reach_quorum() {
    let mut r = pending(2);
    assert_eq!(
        r.approve("bob", true, T0 + 1).unwrap(),
        ApprovalStatus::Pending
    );
    let m = approval_err(r.approve("bob", true, T0 + 2));
    assert!(
        m.contains("already approved") && m.contains("1 more"),
        "{m}"
    );
    assert_eq!(r.approvals, vec![s("bob")]);
    assert_eq!(r.status, ApprovalStatus::Pending);
    // Identities are compared exactly: the caller must pass canonical ids.
    assert_eq!(
        r.approve("carol", true, T0 + 3).unwrap(),
        ApprovalStatus::Approved
    );
}

#[test]
fn non_approver_is_refused() {
    let mut r = pending(1);
    let m = approval_err(r.approve("mallory", false, T0 + 1));
    assert!(m.contains("does not hold the approver role"), "{m}");
    let m = approval_err(r.deny("mallory", false, T0 + 1));
    assert!(m.contains("does not hold the approver role"), "{m}");
    assert!(approval_err(r.approve("", true, T0 + 1)).contains("empty"));
    assert_eq!(r.status, ApprovalStatus::Pending);
    assert!(r.approvals.is_empty() && r.denials.is_empty());
}

#[test]
fn expired_request_cannot_be_approved() {
    let mut r = pending(1);
    let m = approval_err(r.approve("bob", true, T0 + TTL));
    assert!(m.contains("expired"), "{m}");
    assert_eq!(r.status, ApprovalStatus::Expired);
    assert!(r.approvals.is_empty());
    let m = approval_err(r.approve("bob", true, T0 + 1));
    assert!(m.contains("is expired, not pending"), "{m}");
    assert!(r.mark_executed().is_err());

    let mut r = pending(1);
    assert_eq!(
        r.approve("bob", true, T0 + TTL - 1).unwrap(),
        ApprovalStatus::Approved
    );

    let mut r = pending(1);
    assert!(!r.expire_if_due(T0 + TTL - 1));
    assert!(r.expire_if_due(T0 + TTL));
    assert!(approval_err(r.deny("bob", true, T0)).contains("not pending"));
}

#[test]
fn quorum_two_of_n_then_execute_once() {
    let mut r = pending(2);
    assert_eq!(r.remaining(), 2);
    assert!(r.mark_executed().is_err(), "pending cannot execute");
    assert_eq!(
        r.approve("bob", true, T0 + 1).unwrap(),
        ApprovalStatus::Pending
    );
    assert_eq!(r.remaining(), 1);
    assert!(
        r.pending_message().contains("apr-1")
            && r.pending_message()
                .contains("strongroom approval approve apr-1")
    );
    assert!(r.mark_executed().is_err(), "one of two cannot execute");
    assert_eq!(
        r.approve("carol", true, T0 + 2).unwrap(),
        ApprovalStatus::Approved
    );
    assert_eq!(r.remaining(), 0);
    let m = approval_err(r.approve("dave", true, T0 + 3));
    assert!(m.contains("is approved, not pending"), "{m}");
    r.mark_executed().unwrap();
    assert_eq!(r.status, ApprovalStatus::Executed);
    assert!(r.mark_executed().is_err(), "executes only once");
    assert!(r.deny("dave", true, T0 + 4).is_err());
    assert_eq!(r.approvals, vec![s("bob"), s("carol")]);

    // 3-of-n needs three distinct non-requesters.
    let mut r = pending(3);
    for who in ["bob", "carol"] {
        assert_eq!(
            r.approve(who, true, T0 + 1).unwrap(),
            ApprovalStatus::Pending
        );
    }
    assert!(r.approve("alice", true, T0 + 1).is_err());
    assert!(r.approve("carol", true, T0 + 1).is_err());
    assert_eq!(
        r.approve("dave", true, T0 + 1).unwrap(),
        ApprovalStatus::Approved
    );
}

#[test]
fn one_denial_denies() {
    let mut r = pending(2);
    r.approve("bob", true, T0 + 1).unwrap();
    assert_eq!(
        r.deny("carol", true, T0 + 2).unwrap(),
        ApprovalStatus::Denied
    );
    assert_eq!(r.denials, vec![s("carol")]);
    assert!(approval_err(r.approve("dave", true, T0 + 3)).contains("is denied"));
    assert!(r.mark_executed().is_err());
    // The requester (if an approver) may withdraw its own request.
    let mut r = pending(1);
    assert_eq!(
        r.deny("alice", true, T0 + 1).unwrap(),
        ApprovalStatus::Denied
    );
}

#[test]
fn approval_request_construction_and_serde() {
    let new = |action: &str, requester: &str, ttl: i64, required: u32| {
        ApprovalRequest::new(
            s("id"),
            s(action),
            s(requester),
            None,
            serde_json::Value::Null,
            T0,
            ttl,
            required,
        )
    };
    assert!(new("kms:ScheduleKeyDeletion", "alice", TTL, 0).is_err());
    assert!(new("kms:ScheduleKeyDeletion", "alice", 0, 1).is_err());
    assert!(new("kms:ScheduleKeyDeletion", "", TTL, 1).is_err());
    assert!(new("kms:Nope", "alice", TTL, 1).is_err());
    assert!(new("kms:ScheduleKeyDeletion", "alice", i64::MAX, 1).is_err());
    let r = new("kms:ScheduleKeyDeletion", "alice", TTL, 1).unwrap();
    assert_eq!(r.expires_ms, T0 + TTL);
    let json = serde_json::to_string(&r).unwrap();
    let back: ApprovalRequest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    assert!(json.contains("\"status\":\"Pending\""), "{json}");
}

#[test]
fn default_dual_control_set() {
    let set: Vec<String> = DEFAULT_DUAL_CONTROL.iter().map(|a| s(a)).collect();
    validate_dual_control_set(&set).unwrap();
    for a in [
        "kms:ScheduleKeyDeletion",
        "kms:ImportKeyMaterial",
        "strongroom:ExportKey",
        "kms:SetMinDecryptionVersion",
        "strongroom:ManagePolicies",
        "strongroom:ConfigureAudit",
        "kms:PutKeyPolicy",
    ] {
        assert!(requires_approval(a, &set), "{a}");
    }
    assert!(!requires_approval("kms:Decrypt", &set));
    assert!(!requires_approval("kms:schedulekeydeletion", &set));
    let e = validate_dual_control_set(&[s("kms:ScheduleKeyDeleton")]).unwrap_err();
    assert!(
        e.to_string()
            .contains("did you mean \"kms:ScheduleKeyDeletion\""),
        "{e}"
    );
    assert!(validate_dual_control_set(&[s("kms:*")]).is_err());
}

#[test]
fn errors_display_and_are_std_errors() {
    let e: Box<dyn std::error::Error> = Box::new(PolicyError::Approval(s("x")));
    assert_eq!(e.to_string(), "dual control: x");
    assert_eq!(
        PolicyError::Invalid(s("y")).to_string(),
        "invalid policy: y"
    );
}
