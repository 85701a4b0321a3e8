//! The web console at `/ui/` through curl (the browser tests in
//! scripts/console-browser-test.sh drive it in chromium): the security
//! headers and cookie attributes, sign-in, a form refused without its
//! anti-forgery token, a form with it doing one gated change, and
//! `ui = false` turning the console off.

use std::process::Command;

use crate::common::BIN;
use strongroom_testkit::{run, Server, TempDir};

/// `curl -si` with a cookie jar: (status, headers + body).
fn curl(jar: &std::path::Path, args: &[&str]) -> (u16, String) {
    let (code, out, err) = run(Command::new("curl")
        .args(["-si", "-b"])
        .arg(jar)
        .arg("-c")
        .arg(jar)
        .args(args));
    assert_eq!(code, 0, "curl {args:?}: {err}");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn form_token(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..at + 64].to_string()
}

#[test]
fn console_signs_in_with_a_token_and_refuses_forms_without_their_csrf_token() {
    let s = Server::dev(BIN);
    let dir = TempDir::new("console");
    let jar = dir.path().join("cookies");
    let ui = |p: &str| format!("{}{p}", s.addr);

    // Not signed in: every page sends the browser to the sign-in form.
    let (status, out) = curl(&jar, &[&ui("/ui/keys")]);
    assert_eq!(status, 303, "{out}");
    assert!(out.contains("location: /ui/sign-in"), "{out}");

    let (status, page) = curl(&jar, &[&ui("/ui/sign-in")]);
    assert_eq!(status, 200, "{page}");
    let lower = page.to_ascii_lowercase();
    assert!(lower.contains("content-security-policy: default-src 'none'; script-src 'none';"));
    assert!(!lower.contains("unsafe-inline") && !lower.contains("unsafe-eval"));
    assert!(lower.contains("x-content-type-options: nosniff"));
    assert!(lower.contains("x-frame-options: deny"));
    assert!(!page.contains("<script"), "no script on any page");

    // The sign-in form without its token: refused, no session.
    let (status, out) = curl(&jar, &["--data", "token=x", &ui("/ui/sign-in")]);
    assert_eq!(status, 403, "{out}");
    // A wrong token: refused with a clear message.
    let (_, page) = curl(&jar, &[&ui("/ui/sign-in")]);
    let t = form_token(&page);
    let (status, out) = curl(
        &jar,
        &[
            "--data",
            &format!("csrf={t}&token=wrong"),
            &ui("/ui/sign-in"),
        ],
    );
    assert_eq!(status, 401, "{out}");
    assert!(out.contains("That token is not valid"), "{out}");
    // The right token: a session cookie, HttpOnly and SameSite=Strict.
    let (_, page) = curl(&jar, &[&ui("/ui/sign-in")]);
    let t = form_token(&page);
    let (status, out) = curl(
        &jar,
        &[
            "--data-urlencode",
            &format!("csrf={t}"),
            "--data-urlencode",
            &format!("token={}", s.token),
            &ui("/ui/sign-in"),
        ],
    );
    assert_eq!(status, 303, "{out}");
    let cookie = out
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: strongroom_console=")
        })
        .unwrap_or_else(|| panic!("no session cookie: {out}"));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");

    // Signed in: the keys page, with the session's form token.
    let (status, page) = curl(&jar, &[&ui("/ui/keys")]);
    assert_eq!(status, 200, "{page}");
    let csrf = form_token(&page);
    // A change without the token (or with another): 403, nothing created.
    for body in ["description=forged", "description=forged&csrf=00"] {
        let (status, out) = curl(&jar, &["--data", body, &ui("/ui/keys")]);
        assert_eq!(status, 403, "{out}");
        assert!(out.contains("CSRF protection"), "{out}");
    }
    let (_, keys) = s.get("/v1/keys");
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(0), "{keys}");
    // With the token: created through the gate (and audited as root).
    let (status, out) = curl(
        &jar,
        &[
            "--data",
            &format!("csrf={csrf}&description=made+in+the+console&spec=AES_256_GCM"),
            &ui("/ui/keys"),
        ],
    );
    assert_eq!(status, 303, "{out}");
    let (_, keys) = s.get("/v1/keys");
    assert_eq!(
        keys["keys"][0]["description"], "made in the console",
        "{keys}"
    );
    let (_, audit) = s.get("/v1/audit/query?action=kms:CreateKey&outcome=allowed");
    assert_eq!(
        audit["records"].as_array().map(Vec::len),
        Some(1),
        "{audit}"
    );

    // A bad filter is refused with what to write instead, not a 500.
    let (status, out) = curl(&jar, &[&ui("/ui/keys?state=Sideways")]);
    assert_eq!(status, 400, "{out}");
    assert!(out.contains("unknown state"), "{out}");
    let (status, _) = curl(&jar, &[&ui("/ui/keys?limit=abc")]);
    assert_eq!(status, 400);

    // Sign-out ends the session on the server.
    let (status, _) = curl(
        &jar,
        &["--data", &format!("csrf={csrf}"), &ui("/ui/sign-out")],
    );
    assert_eq!(status, 303);
    let (status, _) = curl(&jar, &[&ui("/ui/keys")]);
    assert_eq!(status, 303);
}

#[test]
fn ui_false_turns_the_console_off() {
    let on = Server::production(BIN, TempDir::new("console-on"), None);
    let (status, _) = on.request("GET", "/ui/sign-in", None, None);
    assert_eq!(status, 200);
    let off = Server::production_with(BIN, TempDir::new("console-off"), None, "ui = false\n", &[]);
    let (status, body) = off.request("GET", "/ui/sign-in", None, None);
    assert_eq!(status, 404, "{body}");
    let (status, _) = off.request("GET", "/ui/", None, None);
    assert_eq!(status, 404);
}

#[test]
fn a_console_session_never_shows_or_logs_its_token() {
    let s = Server::dev(BIN);
    let (status, _) = s.post("/v1/identities", &serde_json::json!({ "name": "carol" }));
    assert_eq!(status, 200);
    let (status, t) = s.post("/v1/tokens", &serde_json::json!({ "identity": "carol" }));
    assert_eq!(status, 200, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let dir = TempDir::new("console-canary");
    let jar = dir.path().join("cookies");
    let ui = |p: &str| format!("{}{p}", s.addr);
    let (_, page) = curl(&jar, &[&ui("/ui/sign-in")]);
    let t = form_token(&page);
    let (status, _) = curl(
        &jar,
        &[
            "--data-urlencode",
            &format!("csrf={t}"),
            "--data-urlencode",
            &format!("token={token}"),
            &ui("/ui/sign-in"),
        ],
    );
    assert_eq!(status, 303);
    let mut seen = String::new();
    for p in [
        "/ui/",
        "/ui/keys",
        "/ui/approvals",
        "/ui/audit",
        "/ui/identities",
    ] {
        let (status, page) = curl(&jar, &[&ui(p)]);
        assert!(status == 200 || status == 403, "{p}: {status}");
        seen.push_str(&page);
    }
    assert!(seen.contains("carol"), "signed in as carol");
    let jar_text = std::fs::read_to_string(&jar).unwrap();
    let (_, export) = s.get("/v1/audit/export");
    for (what, text) in [
        ("pages", seen.as_str()),
        ("cookies", jar_text.as_str()),
        ("audit log", &export.to_string()),
        ("server log", &s.logs()),
    ] {
        assert!(!text.contains(&token), "the token appears in the {what}");
    }
}

/// Signs a fresh cookie jar in with `token`; answers the session's form token.
fn sign_in(s: &Server, jar: &std::path::Path, token: &str) -> String {
    let ui = |p: &str| format!("{}{p}", s.addr);
    let (_, page) = curl(jar, &[&ui("/ui/sign-in")]);
    let t = form_token(&page);
    let (status, out) = curl(
        jar,
        &[
            "--data-urlencode",
            &format!("csrf={t}"),
            "--data-urlencode",
            &format!("token={token}"),
            &ui("/ui/sign-in"),
        ],
    );
    assert_eq!(status, 303, "{out}");
    let (status, page) = curl(jar, &[&ui("/ui/keys")]);
    assert_eq!(status, 200, "{page}");
    form_token(&page)
}

fn audit_records(s: &Server, query: &str) -> Vec<serde_json::Value> {
    let (status, v) = s.get(&format!("/v1/audit/query?{query}"));
    assert_eq!(status, 200, "{v}");
    v["records"].as_array().cloned().unwrap_or_default()
}

#[test]
fn console_secrets_show_metadata_and_reveal_a_value_only_by_an_audited_post() {
    let s = Server::dev(BIN);
    let canary = "canary-console-reveal-7c41e2";
    let (status, v) = s.request(
        "PUT",
        "/v1/secrets/data/app/db",
        Some(&serde_json::json!({ "data": { "password": canary, "user": "app" } })),
        Some(&s.token),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = s.request(
        "PATCH",
        "/v1/secrets/metadata/app/db",
        Some(&serde_json::json!({
            "owner": "payments",
            "rotation_period_days": 30,
            "custom_metadata": { "note": "<script>window.x=1</script>" }
        })),
        Some(&s.token),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = s.post(
        "/v1/identities",
        &serde_json::json!({ "name": "dave", "roles": ["auditor"] }),
    );
    assert_eq!(status, 200, "{v}");
    let (_, t) = s.post("/v1/tokens", &serde_json::json!({ "identity": "dave" }));
    let dave = t["token"].as_str().unwrap().to_string();
    let dir = TempDir::new("console-secrets");
    let ui = |p: &str| format!("{}{p}", s.addr);
    let jar = dir.path().join("root");
    let csrf = sign_in(&s, &jar, &s.token);

    // The folders, then the secret: metadata and history, never the value.
    let (status, page) = curl(&jar, &[&ui("/ui/secrets")]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("href=\"/ui/secrets?folder=app%2F\""),
        "{page}"
    );
    assert!(
        page.contains("href=\"/ui/secrets\" aria-current=\"page\""),
        "the nav link"
    );
    let (status, page) = curl(&jar, &[&ui("/ui/secrets?folder=app/")]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("href=\"/ui/secrets/app/db\""), "{page}");
    let (status, page) = curl(&jar, &[&ui("/ui/secrets/app/db")]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("payments") && page.contains("every 30 days"),
        "{page}"
    );
    assert!(page.contains("Reveal version 1 (audited)"), "{page}");
    assert!(
        page.contains("&#60;script&#62;window.x=1&#60;/script&#62;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "custom metadata is escaped");
    assert!(!page.contains(canary), "no value without a reveal");
    assert!(page.contains("not read on this node"), "{page}");

    // A reveal without the form token: refused, nothing read.
    let (status, out) = curl(
        &jar,
        &["--data", "action=reveal", &ui("/ui/secrets/app/db")],
    );
    assert_eq!(status, 403, "{out}");
    assert!(!out.contains(canary));
    assert!(audit_records(&s, "action=strongroom:ReadSecret").is_empty());
    // With it: the value once, in this answer, not cached, audited.
    let (status, out) = curl(
        &jar,
        &[
            "--data",
            &format!("csrf={csrf}&action=reveal"),
            &ui("/ui/secrets/app/db"),
        ],
    );
    assert_eq!(status, 200, "{out}");
    assert!(out.contains(canary), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("cache-control: no-store"),
        "{out}"
    );
    assert!(
        !out.to_ascii_lowercase().contains("location:"),
        "no redirect"
    );
    let reads = audit_records(&s, "action=strongroom:ReadSecret&outcome=allowed");
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(reads[0].to_string().contains("secret/app/db"), "{reads:?}");
    // The detail page now shows the last read, still no value.
    let (_, page) = curl(&jar, &[&ui("/ui/secrets/app/db")]);
    assert!(page.contains("by root, version 1"), "{page}");
    assert!(!page.contains(canary));
    // A bad version is refused with the reason.
    let (status, out) = curl(
        &jar,
        &[
            "--data",
            &format!("csrf={csrf}&action=reveal&version=x"),
            &ui("/ui/secrets/app/db"),
        ],
    );
    assert_eq!(status, 400, "{out}");
    assert!(out.contains("not a whole number"), "{out}");

    // The auditor sees metadata; the reveal is drawn disabled with the
    // reason, and forcing the form is refused (and audited), not an error.
    let jar2 = dir.path().join("dave");
    let csrf2 = sign_in(&s, &jar2, &dave);
    let (status, page) = curl(&jar2, &[&ui("/ui/secrets/app/db")]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("id=\"reveal\" disabled aria-describedby=\"why-reveal\""),
        "{page}"
    );
    assert!(page.contains("Not available to you"), "{page}");
    let (status, out) = curl(
        &jar2,
        &[
            "--data",
            &format!("csrf={csrf2}&action=reveal"),
            &ui("/ui/secrets/app/db"),
        ],
    );
    assert_eq!(status, 403, "{out}");
    assert!(
        out.contains("Refused") && out.contains("needs strongroom:ReadSecret"),
        "{out}"
    );
    assert!(!out.contains(canary));
    let denied = audit_records(
        &s,
        "identity=dave&action=strongroom:ReadSecret&outcome=denied",
    );
    assert_eq!(denied.len(), 1, "{denied:?}");

    // A path outside the grammar: refused with the rule, rendered inert.
    let (status, out) = curl(&jar, &[&ui("/ui/secrets/app/%3Cimg%20src=x%3E")]);
    assert_eq!(status, 400, "{out}");
    assert!(
        out.contains("&#60;img src=x&#62;") && !out.contains("<img"),
        "{out}"
    );

    // Soft delete, then the current version cannot be revealed; undelete.
    let (status, _) = curl(
        &jar,
        &[
            "--data",
            &format!("csrf={csrf}&action=delete&version=1"),
            &ui("/ui/secrets/app/db"),
        ],
    );
    assert_eq!(status, 303);
    let (_, page) = curl(&jar, &[&ui("/ui/secrets/app/db")]);
    assert!(
        page.contains("Deleted version 1") && page.contains("deleted at"),
        "{page}"
    );
    assert!(page.contains("id=\"reveal\" disabled"), "{page}");
    let (status, _) = curl(
        &jar,
        &[
            "--data",
            &format!("csrf={csrf}&action=undelete&version=1"),
            &ui("/ui/secrets/app/db"),
        ],
    );
    assert_eq!(status, 303);
    let (_, page) = curl(&jar, &[&ui("/ui/secrets/app/db")]);
    assert!(page.contains("Undeleted version 1"), "{page}");

    // The value is nowhere but in the one reveal answer.
    let (_, export) = s.get("/v1/audit/export");
    assert!(
        !export.to_string().contains(canary),
        "canary in the audit log"
    );
    assert!(!s.logs().contains(canary), "canary in the server log");
}

#[test]
fn console_overview_shows_the_kept_chain_check_and_verifies_on_request() {
    let s = Server::dev(BIN);
    for owner in ["a", "b"] {
        let (status, v) = s.post("/v1/keys", &serde_json::json!({ "owner": owner }));
        assert_eq!(status, 200, "{v}");
    }
    let dir = TempDir::new("console-overview");
    let jar = dir.path().join("cookies");
    let ui = |p: &str| format!("{}{p}", s.addr);
    let csrf = sign_in(&s, &jar, &s.token);
    let (status, page) = curl(&jar, &[&ui("/ui/")]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<p>2 keys.</p>"), "{page}");
    assert!(page.contains("id=\"verify-now\""), "{page}");
    // Verify now: the check runs in the request and is kept.
    let (status, _) = curl(
        &jar,
        &["--data", &format!("csrf={csrf}"), &ui("/ui/verify-chain")],
    );
    assert_eq!(status, 303);
    let (_, page) = curl(&jar, &[&ui("/ui/")]);
    assert!(page.contains("Audit chain intact"), "{page}");
    assert!(page.contains("id=\"chain-checked\">Checked at "), "{page}");
    assert!(page.contains("by root, took"), "{page}");
    // Without the form token: refused.
    let (status, _) = curl(&jar, &["--data", "x=1", &ui("/ui/verify-chain")]);
    assert_eq!(status, 403);
    // The key list filters walk the indexes: an owner filter finds its key.
    let (status, page) = curl(&jar, &[&ui("/ui/keys?owner=b")]);
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page.matches("<tr><td><a href=\"/ui/keys/").count(),
        1,
        "{page}"
    );
}
