//! The policy matrix over secret paths: each pattern grants nothing beyond
//! what it literally names.

use super::*;

fn allow(resources: &[&str]) -> Policy {
    Policy {
        name: "p".into(),
        description: String::new(),
        statements: vec![Statement {
            effect: Effect::Allow,
            actions: vec![
                "strongroom:ReadSecret".into(),
                "strongroom:ListSecrets".into(),
            ],
            resources: resources.iter().map(|r| r.to_string()).collect(),
            condition: None,
        }],
    }
}

fn may(p: &Policy, action: &str, target: &str) -> bool {
    evaluate(
        &[p],
        &Request {
            action,
            key: None,
            context: None,
            secret: Some(target),
        },
    )
    .allowed
}

fn read(p: &Policy, path: &str) -> bool {
    may(p, "strongroom:ReadSecret", path)
}

#[test]
fn literal_names_only_itself() {
    let p = allow(&["secret/app"]);
    p.validate().expect("valid");
    assert!(read(&p, "app"));
    for other in [
        "app2",
        "app/db",
        "App",
        "APP",
        "ap",
        "app ",
        " app",
        "app/",
        "app/.",
        "app/..",
        "ａpp",
        "аpp",
        "app%2Fdb",
        "app//db",
        "app\u{200b}",
    ] {
        assert!(!read(&p, other), "secret/app granted {other:?}");
    }
}

#[test]
fn prefix_names_only_what_is_under_it() {
    let p = allow(&["secret/app/*"]);
    p.validate().expect("valid");
    for yes in ["app/db", "app/a/b/c", "app/x.y"] {
        assert!(read(&p, yes), "{yes}");
    }
    for no in [
        "app", "app2/db", "app2", "apq/db", "App/db", "app/../x", "app//db", "app/%2F", "app/ db",
        "app/db ", "аpp/db", "app/./db", "x/app/db",
    ] {
        assert!(!read(&p, no), "secret/app/* granted {no:?}");
    }
    // Listing: the folder itself and folders under it, never above or beside.
    assert!(may(&p, "strongroom:ListSecrets", "app/"));
    assert!(may(&p, "strongroom:ListSecrets", "app/a/"));
    assert!(!may(&p, "strongroom:ListSecrets", ""));
    assert!(!may(&p, "strongroom:ListSecrets", "app2/"));
    // A literal grant does not grant listing its parent.
    assert!(!may(
        &allow(&["secret/app/db"]),
        "strongroom:ListSecrets",
        "app/"
    ));
}

#[test]
fn key_patterns_never_match_secrets_and_back() {
    let p = allow(&["alias/*", "tag/a=b"]);
    assert!(!read(&p, "app"));
    let all = allow(&["secret/*"]);
    assert!(read(&all, "anything/at/all"));
    assert!(may(&all, "strongroom:ListSecrets", ""));
    let key_policy = Policy {
        name: "k".into(),
        description: String::new(),
        statements: vec![Statement {
            effect: Effect::Allow,
            actions: vec!["kms:Decrypt".into()],
            resources: vec!["secret/*".into()],
            condition: None,
        }],
    };
    let id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427".to_string();
    let (aliases, tags) = (vec![], std::collections::BTreeMap::new());
    let d = evaluate(
        &[&key_policy],
        &Request {
            action: "kms:Decrypt",
            key: Some(KeyFacts {
                id: &id,
                aliases: &aliases,
                tags: &tags,
            }),
            context: None,
            secret: None,
        },
    );
    assert!(!d.allowed);
}

#[test]
fn surprising_patterns_are_refused_with_a_reason() {
    for bad in [
        "secret/app*",
        "secret/a*/b",
        "secret/app/**",
        "secret/app/",
        "secret/../x",
        "secret/app//db",
        "secret/app%2Fdb",
        "secret/app ",
        "secret/аpp",
        "secret/",
        "secret/app/?",
        "secret/*/db",
    ] {
        let e = allow(&[bad]).validate().expect_err(bad);
        assert!(matches!(e, PolicyError::Invalid(_)), "{bad}");
    }
}

#[test]
fn auditor_sees_metadata_never_values() {
    let a = builtin_role("auditor").expect("auditor");
    let can = |action: &str| {
        evaluate(
            &[&a],
            &Request {
                action,
                key: None,
                context: None,
                secret: Some("app/db"),
            },
        )
        .allowed
    };
    assert!(can("strongroom:ReadSecretMetadata"));
    assert!(!can("strongroom:ReadSecret"));
    assert!(!can("strongroom:WriteSecret"));
    assert!(!can("strongroom:DestroySecret"));
    // An attached policy cannot give the auditor values: the role denies.
    let extra = allow(&["secret/*"]);
    let d = evaluate(
        &[&a, &extra],
        &Request {
            action: "strongroom:ReadSecret",
            key: None,
            context: None,
            secret: Some("app/db"),
        },
    );
    assert!(!d.allowed);
}
