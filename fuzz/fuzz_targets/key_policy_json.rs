//! Drives `strongroom_engine::policy::key_policy::parse` (AWS PutKeyPolicy
//! documents), with `strongroom_engine::policy::key_policy::render` (GetKeyPolicy)
//! for a round trip and `Policy::validate_custom` (what the registry runs on
//! each stored policy).
//!
//! Invariants: nothing panics; every grant names this key only; a parsed
//! document rendered back (as GetKeyPolicy would) parses to the same grants,
//! unless the rendering exceeds the document's size or statement limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom_engine::policy::key_policy::{parse, render, stored_name, Scope, MAX_KEY_POLICY_BYTES};
use strongroom_engine::policy::{Policy, MAX_STATEMENTS};

const KEY: &str = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
const ACCOUNT: &str = "000000000000";

fuzz_target!(|data: &[u8]| {
    let doc = String::from_utf8_lossy(data);
    let arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY}");
    let scope = Scope {
        key_id: KEY,
        key_arn: &arn,
        account_id: ACCOUNT,
    };
    let grants = match parse(&doc, &scope) {
        Ok(g) => g,
        Err(m) => {
            assert!(!m.is_empty());
            return;
        }
    };
    let want = format!("key/{KEY}");
    for g in &grants {
        assert!(!g.statements.is_empty());
        for s in &g.statements {
            assert_eq!(
                s.resources,
                vec![want.clone()],
                "a grant names another resource"
            );
            assert!(!s.actions.is_empty());
            assert!(s.condition.is_none());
        }
    }
    // Identities are unique, in order of first appearance.
    for (i, g) in grants.iter().enumerate() {
        assert!(grants[..i].iter().all(|h| h.identity != g.identity));
    }
    let stored: Vec<(String, Policy)> = grants
        .iter()
        .enumerate()
        .map(|(i, g)| {
            (
                g.identity.clone(),
                Policy {
                    name: stored_name(KEY, i),
                    description: format!("key policy of key {KEY} for {}", g.identity),
                    statements: g.statements.clone(),
                },
            )
        })
        .collect();
    for (_, p) in &stored {
        if let Err(e) = p.validate_custom() {
            let _ = e.to_string();
        }
    }
    let rendered = render(&scope, &stored);
    let n_statements: usize = 1 + grants.iter().map(|g| g.statements.len()).sum::<usize>();
    if rendered.len() > MAX_KEY_POLICY_BYTES || n_statements > MAX_STATEMENTS {
        return;
    }
    match parse(&rendered, &scope) {
        Ok(again) => assert_eq!(again, grants, "render then parse changes the grants"),
        Err(e) => panic!("the rendered key policy does not parse: {e}\n{rendered}"),
    }
});
