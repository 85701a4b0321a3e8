//! CLI end to end for access control, against real servers: the
//! docs/ACCESS.md walkthrough (roles, access-denied messages, a context
//! condition, a dual-controlled deletion with two approvers, self-approval
//! and double approval refused), token revocation, access keys, `policy
//! explain` exit codes, and `audit verify` before and after tampering.
//! Dual control is on by default in production mode, so those tests use a
//! production server (SQLite in a temp dir, plain HTTP), initialized and
//! unsealed through the CLI. Every CLI run asserts that nothing panicked.

use crate::common;

use std::path::PathBuf;

use common::{cli, cli_err, cli_json, cli_ok, init_and_unseal, run_cmd, BIN};
use serde_json::Value;
use strongroom_testkit::{Server, TempDir};

/// Runs `strongroom ARGS` with another identity's token.
fn as_(s: &Server, token: &str, args: &[&str]) -> (i32, String, String) {
    run_cmd(s.cli().env("STRONGROOM_TOKEN", token).args(args))
}

/// As `token`, requires success; returns stdout.
fn as_ok(s: &Server, token: &str, args: &[&str]) -> String {
    let (code, out, err) = as_(s, token, args);
    assert_eq!(
        code, 0,
        "strongroom {args:?} failed:\nstdout: {out}\nstderr: {err}"
    );
    out
}

/// As `token`, requires exit status 1 and an `error: CODE: ...` line;
/// returns stderr.
fn as_err(s: &Server, token: &str, args: &[&str], code: &str) -> String {
    let (status, out, err) = as_(s, token, args);
    assert_eq!(
        status, 1,
        "strongroom {args:?} should fail:\nstdout: {out}\nstderr: {err}"
    );
    assert!(
        err.starts_with(&format!("error: {code}: ")),
        "strongroom {args:?}: expected {code}, got:\n{err}"
    );
    err
}

/// As `token` with `-o json`, requires success; parses stdout.
fn as_json(s: &Server, token: &str, args: &[&str]) -> Value {
    let mut full = vec!["-o", "json"];
    full.extend_from_slice(args);
    let out = as_ok(s, token, &full);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{full:?}: not JSON ({e}):\n{out}"))
}

/// A new token for `identity` (as root), from the table output.
fn token_for(s: &Server, identity: &str) -> String {
    let out = cli_ok(s, &["token", "create", "--identity", identity]);
    assert!(out.contains("Token id: "), "{out}");
    assert!(out.contains("shown once"), "{out}");
    out.lines()
        .find_map(|l| l.strip_prefix("Token: "))
        .unwrap_or_else(|| panic!("no Token: line in\n{out}"))
        .to_string()
}

/// The approval id from a `Pending approval:` answer (table mode).
fn pending_id(out: &str) -> String {
    assert!(
        out.starts_with("Pending approval: "),
        "expected a pending approval, got:\n{out}"
    );
    out.lines()
        .find_map(|l| l.strip_prefix("Approval id: "))
        .unwrap_or_else(|| panic!("no Approval id: line in\n{out}"))
        .to_string()
}

const APP_CRYPTO: &str = r#"{
  "name": "app-crypto",
  "description": "The demo app may use alias/app, for its own context only",
  "statements": [
    {
      "effect": "Allow",
      "actions": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
      "resources": ["alias/app"],
      "condition": { "context_equals": { "app": "demo" } }
    }
  ]
}"#;

/// A production server (dual control on by default), initialized and unsealed.
fn production() -> Server {
    let mut s = Server::production(BIN, TempDir::new("access"), None);
    init_and_unseal(&mut s, 3, 2);
    s
}

/// Stores `app-crypto` and creates the walkthrough's identities, as root.
fn cast(s: &Server) {
    let file = s.dir.path().join("app-crypto.json");
    std::fs::write(&file, APP_CRYPTO).unwrap();
    let out = cli_ok(s, &["policy", "put", "--file", file.to_str().unwrap()]);
    assert!(out.contains("app-crypto"), "{out}");
    for (name, extra) in [
        ("admin", &["--role", "key-admin"][..]),
        (
            "alice",
            &["--role", "key-user", "--policy", "app-crypto"][..],
        ),
        ("auditor", &["--role", "auditor"][..]),
        ("approver1", &["--role", "approver"][..]),
        ("approver2", &["--role", "approver"][..]),
    ] {
        // Root is exempt from dual control: roles are given at once.
        let mut args = vec!["identity", "create", name];
        args.extend_from_slice(extra);
        let out = cli_ok(s, &args);
        assert!(!out.contains("Pending approval"), "{out}");
        assert!(out.contains(name), "{out}");
    }
}

#[test]
fn walkthrough_roles_context_condition_and_dual_controlled_deletion() {
    let s = production();
    cast(&s);
    let list = cli_ok(&s, &["identity", "list"]);
    for line in [
        "admin      human  key-admin",
        "alice      human  key-user   app-crypto",
    ] {
        assert!(list.contains(line), "identity list:\n{list}");
    }
    let admin = token_for(&s, "admin");
    let alice = token_for(&s, "alice");
    let approver1 = token_for(&s, "approver1");
    let approver2 = token_for(&s, "approver2");

    // The key administrator creates a key but cannot use it.
    let key = as_json(
        &s,
        &admin,
        &[
            "key",
            "create",
            "--alias",
            "alias/app",
            "--owner",
            "platform",
        ],
    );
    let key_id = key["id"].as_str().unwrap().to_string();
    let err = as_err(
        &s,
        &admin,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--context",
            "app=demo",
            "--plaintext",
            "hello",
        ],
        "AccessDenied",
    );
    assert!(
        err.contains("denied by policy 'role:key-admin'") && err.contains("explicit deny wins"),
        "{err}"
    );

    // The key user encrypts with the right context only.
    let ct = as_ok(
        &s,
        &alice,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--context",
            "app=demo",
            "--plaintext",
            "hello from alice",
        ],
    );
    let ct = ct.trim();
    assert_eq!(
        as_ok(
            &s,
            &alice,
            &["decrypt", "--context", "app=demo", "--ciphertext", ct]
        ),
        "hello from alice"
    );
    let err = as_err(
        &s,
        &alice,
        &["encrypt", "--key", "alias/app", "--plaintext", "no context"],
        "AccessDenied",
    );
    assert!(
        err.contains(
            "policy 'app-crypto' statement 0 matches the action and key but its condition failed"
        ) && err.contains("\"app\" is missing"),
        "{err}"
    );
    let err = as_err(
        &s,
        &alice,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--context",
            "app=other",
            "--plaintext",
            "x",
        ],
        "AccessDenied",
    );
    assert!(err.contains("condition failed"), "{err}");
    assert!(
        !err.contains("other"),
        "context values are never echoed: {err}"
    );
    // ... the admin cannot decrypt, and the user cannot delete.
    as_err(
        &s,
        &admin,
        &["decrypt", "--context", "app=demo", "--ciphertext", ct],
        "AccessDenied",
    );
    let err = as_err(
        &s,
        &alice,
        &["key", "schedule-deletion", "alias/app", "--days", "7"],
        "AccessDenied",
    );
    assert!(err.contains("role:key-user"), "{err}");

    // Dual-controlled deletion: pending, exit 0, nothing done yet.
    let out = as_ok(
        &s,
        &admin,
        &["key", "schedule-deletion", "alias/app", "--days", "7"],
    );
    let id = pending_id(&out);
    assert!(out.contains("kms:ScheduleKeyDeletion"), "{out}");
    assert_eq!(
        cli_json(&s, &["key", "describe", &key_id])["state"],
        "Enabled"
    );
    let pending = as_json(&s, &approver1, &["approval", "list"]);
    let req = pending["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not listed: {pending}"));
    assert_eq!(req["status"], "Pending");
    assert_eq!(req["requester"], "admin");
    assert_eq!(req["key_id"], key_id.as_str());
    let table = as_ok(&s, &approver1, &["approval", "list"]);
    assert!(table.contains(&id) && table.contains("0 of 2"), "{table}");

    // Neither a non-approver nor the requester can approve.
    let err = as_err(&s, &alice, &["approval", "approve", &id], "AccessDenied");
    assert!(err.contains("strongroom:Approve"), "{err}");
    as_err(&s, &admin, &["approval", "approve", &id], "AccessDenied");

    // One approval: still pending. The same approver again: refused.
    let out = as_ok(&s, &approver1, &["approval", "approve", &id]);
    assert!(
        out.contains("1 of 2 (approver1)") && out.contains("still pending"),
        "{out}"
    );
    let err = as_err(
        &s,
        &approver1,
        &["approval", "approve", &id],
        "AccessDenied",
    );
    assert!(err.contains("already approved"), "{err}");
    assert_eq!(
        cli_json(&s, &["key", "describe", &key_id])["state"],
        "Enabled"
    );

    // The second approver meets the quorum and the deletion runs.
    let v = as_json(&s, &approver2, &["approval", "approve", &id]);
    assert_eq!(v["executed"], true, "{v}");
    assert_eq!(v["approval"]["status"], "Executed", "{v}");
    assert_eq!(
        cli_json(&s, &["key", "describe", &key_id])["state"],
        "PendingDeletion"
    );
    // An executed request cannot be approved again.
    as_err(
        &s,
        &approver1,
        &["approval", "approve", &id],
        "AccessDenied",
    );

    // JSON mode shows the server's 202 body, still exit 0; a deny ends it.
    let other = as_json(&s, &admin, &["key", "create"]);
    let other_id = other["id"].as_str().unwrap();
    let v = as_json(&s, &admin, &["key", "schedule-deletion", other_id]);
    assert_eq!(v["error"]["code"], "ApprovalRequired", "{v}");
    let id2 = v["approval_id"].as_str().unwrap().to_string();
    let out = as_ok(&s, &approver2, &["approval", "deny", &id2]);
    assert!(out.contains("will never run"), "{out}");
    as_err(
        &s,
        &approver1,
        &["approval", "approve", &id2],
        "AccessDenied",
    );
    assert_eq!(
        cli_json(&s, &["key", "describe", other_id])["state"],
        "Enabled"
    );
}

#[test]
fn self_approval_is_refused_even_for_an_approver() {
    let s = production();
    cast(&s);
    // Root gives one identity both duties (at once: root is exempt).
    cli_ok(
        &s,
        &[
            "identity",
            "create",
            "both",
            "--role",
            "key-admin",
            "--role",
            "approver",
        ],
    );
    let both = token_for(&s, "both");
    let approver1 = token_for(&s, "approver1");
    let key = as_json(&s, &both, &["key", "create"]);
    let key_id = key["id"].as_str().unwrap();
    let id = pending_id(&as_ok(&s, &both, &["key", "schedule-deletion", key_id]));
    let err = as_err(&s, &both, &["approval", "approve", &id], "AccessDenied");
    assert!(err.contains("cannot approve its own request"), "{err}");
    as_ok(&s, &approver1, &["approval", "approve", &id]);
    let list = as_json(&s, &approver1, &["approval", "list"]);
    let req = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    assert_eq!(req["approvals"], serde_json::json!(["approver1"]));
    assert_eq!(req["status"], "Pending");
}

#[test]
fn role_and_policy_changes_by_a_non_root_identity_need_approval() {
    let s = production();
    cast(&s);
    std::fs::write(
        s.dir.path().join("secadmin.json"),
        r#"{"name":"secadmin","statements":[{"effect":"Allow","actions":["strongroom:ManagePolicies","strongroom:ManageIdentities","kms:GetKeyPolicy"],"resources":["*"]}]}"#,
    )
    .unwrap();
    cli_ok(
        &s,
        &[
            "policy",
            "put",
            "--file",
            s.dir.path().join("secadmin.json").to_str().unwrap(),
        ],
    );
    cli_ok(&s, &["identity", "create", "sec", "--policy", "secadmin"]);
    let sec = token_for(&s, "sec");
    let approver1 = token_for(&s, "approver1");
    let approver2 = token_for(&s, "approver2");

    // A grant and a policy deletion are parked, not done.
    let id = pending_id(&as_ok(
        &s,
        &sec,
        &["identity", "grant", "alice", "--no-policies"],
    ));
    let del = pending_id(&as_ok(&s, &sec, &["policy", "delete", "app-crypto"]));
    let alice = cli_json(&s, &["identity", "show", "alice"]);
    assert_eq!(
        alice["identity"]["policies"],
        serde_json::json!(["app-crypto"])
    );
    as_ok(&s, &approver1, &["approval", "approve", &id]);
    let out = as_ok(&s, &approver2, &["approval", "approve", &id]);
    assert!(out.contains("was executed"), "{out}");
    let alice = cli_json(&s, &["identity", "show", "alice"]);
    assert_eq!(alice["identity"]["policies"], serde_json::json!([]));
    assert_eq!(alice["identity"]["roles"], serde_json::json!(["key-user"]));
    // The policy still exists until its deletion is approved.
    cli_ok(&s, &["policy", "show", "app-crypto"]);
    as_ok(&s, &approver2, &["approval", "deny", &del]);
    cli_ok(&s, &["policy", "show", "app-crypto"]);

    // A grant without any list is a usage error, before any request.
    let err = cli_err(&s, &["identity", "grant", "alice"]);
    assert!(err.contains("--role"), "{err}");
}

#[test]
fn token_revoke_and_disable_take_effect_at_once() {
    let s = Server::dev(BIN);
    cli_ok(
        &s,
        &[
            "identity", "create", "svc", "--kind", "service", "--role", "key-user",
        ],
    );
    let t1 = token_for(&s, "svc");
    let t2 = token_for(&s, "svc");
    as_ok(&s, &t1, &["key", "list"]);
    as_ok(&s, &t2, &["key", "list"]);

    // Revoke by id.
    let tokens = cli_json(&s, &["token", "list", "--identity", "svc"]);
    let tokens = tokens["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    let id1 = t1.split('.').nth(1).unwrap();
    assert!(tokens.iter().any(|t| t["id"] == id1));
    let listed = cli_ok(&s, &["token", "list"]);
    assert!(
        !listed.contains(&t1) && !listed.contains(&t2),
        "tokens are never listed"
    );
    let out = cli_ok(&s, &["token", "revoke", id1]);
    assert!(out.contains(id1) && out.contains("svc"), "{out}");
    let err = as_err(&s, &t1, &["key", "list"], "InvalidToken");
    assert!(err.contains("revoked"), "{err}");
    as_ok(&s, &t2, &["key", "list"]);
    let shown = cli_json(&s, &["identity", "show", "svc"]);
    let revoked = shown["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id1)
        .unwrap();
    assert!(revoked["revoked_at"].is_i64(), "{shown}");

    // Revoke by the token itself, read from stdin.
    let (code, out, err) = common::run_with_stdin(
        s.cli().args(["token", "revoke", "-"]),
        format!("{t2}\n").as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(String::from_utf8_lossy(&out).contains("Revoked"));
    as_err(&s, &t2, &["key", "list"], "InvalidToken");

    // A short TTL expires.
    let v = cli_json(&s, &["token", "create", "--identity", "svc", "--ttl", "1"]);
    let t3 = v["token"].as_str().unwrap().to_string();
    assert!(v["info"]["expires_at"].is_i64());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    as_err(&s, &t3, &["key", "list"], "InvalidToken");
    cli_err(&s, &["token", "create", "--identity", "svc", "--ttl", "0"]);

    // Disabling the identity stops its tokens at once.
    let t4 = token_for(&s, "svc");
    as_ok(&s, &t4, &["key", "list"]);
    let out = cli_ok(&s, &["identity", "disable", "svc"]);
    assert!(out.contains("true"), "{out}");
    let (code, _, err) = as_(&s, &t4, &["key", "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn access_keys_are_shown_once_and_revocable() {
    let s = Server::dev(BIN);
    cli_ok(&s, &["identity", "create", "app", "--kind", "service"]);
    let out = cli_ok(&s, &["access-key", "create", "--identity", "app"]);
    let akid = out
        .lines()
        .find_map(|l| l.strip_prefix("Access key id: "))
        .unwrap()
        .to_string();
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("Secret access key: "))
        .unwrap()
        .to_string();
    assert!(out.contains("shown once"), "{out}");
    assert!(!secret.is_empty());
    let v = cli_json(&s, &["access-key", "create", "--identity", "app"]);
    assert!(v["secret_access_key"].is_string());
    let list = cli_ok(&s, &["access-key", "list"]);
    assert!(list.contains(&akid), "{list}");
    assert!(!list.contains(&secret), "secrets are never listed");
    let listj = cli_json(&s, &["access-key", "list"]).to_string();
    assert!(!listj.contains(&secret));
    let out = cli_ok(&s, &["access-key", "revoke", &akid]);
    assert!(out.contains(&akid), "{out}");
    let v = cli_json(&s, &["access-key", "list"]);
    let row = v["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == akid.as_str())
        .unwrap();
    assert!(row["revoked_at"].is_i64(), "{v}");
    cli_err(&s, &["access-key", "create", "--identity", "nobody"]);
}

#[test]
fn policy_explain_exit_codes() {
    let s = Server::dev(BIN);
    let file = s.dir.path().join("p.json");
    std::fs::write(&file, APP_CRYPTO).unwrap();
    // From stdin too.
    let (code, _, err) = common::run_with_stdin(
        s.cli().args(["policy", "put", "--file", "-"]),
        APP_CRYPTO.as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    cli_ok(&s, &["identity", "create", "admin", "--role", "key-admin"]);
    cli_ok(
        &s,
        &[
            "identity",
            "create",
            "alice",
            "--role",
            "key-user",
            "--policy",
            "app-crypto",
        ],
    );
    cli_ok(&s, &["key", "create", "--alias", "alias/app"]);

    let explain = |args: &[&str]| {
        let mut full = vec!["policy", "explain"];
        full.extend_from_slice(args);
        cli(&s, &full)
    };
    let (code, out, err) = explain(&[
        "--identity",
        "alice",
        "--action",
        "kms:Decrypt",
        "--key",
        "alias/app",
        "--context",
        "app=demo",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ALLOWED") && out.contains("allowed by policy 'app-crypto'"),
        "{out}"
    );

    let (code, out, err) = explain(&[
        "--identity",
        "alice",
        "--action",
        "kms:Decrypt",
        "--key",
        "alias/app",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("DENIED") && out.contains("condition failed"),
        "{out}"
    );
    assert!(err.is_empty(), "a denial is a result, not an error: {err}");

    let (code, out, _) = explain(&[
        "--identity",
        "admin",
        "--action",
        "kms:Decrypt",
        "--key",
        "alias/app",
        "--context",
        "app=demo",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("explicit deny wins"), "{out}");

    let (code, out, _) = cli(
        &s,
        &[
            "-o",
            "json",
            "policy",
            "explain",
            "--identity",
            "admin",
            "--action",
            "kms:CreateKey",
        ],
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["allowed"], true);
    let (code, out, _) = cli(
        &s,
        &[
            "-o",
            "json",
            "policy",
            "explain",
            "--identity",
            "alice",
            "--action",
            "kms:CreateKey",
        ],
    );
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["allowed"], false);
    assert!(
        v["reason"].as_str().unwrap().contains("role:key-user"),
        "{v}"
    );

    // Errors are errors: exit 1 with a message on stderr.
    let err = cli_err(
        &s,
        &[
            "policy",
            "explain",
            "--identity",
            "nobody",
            "--action",
            "kms:Decrypt",
        ],
    );
    assert!(err.starts_with("error: "), "{err}");
    let err = cli_err(
        &s,
        &[
            "policy",
            "explain",
            "--identity",
            "alice",
            "--action",
            "kms:Decrypt",
            "--context",
            "nokv",
        ],
    );
    assert!(err.contains("key=value"), "{err}");

    // Policies and roles can be read back; root deletes at once.
    let shown = cli_ok(&s, &["policy", "show", "role:key-admin"]);
    assert!(
        shown.contains("Deny") && shown.contains("kms:Encrypt"),
        "{shown}"
    );
    let list = cli_ok(&s, &["policy", "list"]);
    assert!(
        list.contains("role:auditor") && list.contains("app-crypto"),
        "{list}"
    );
    let v = cli_json(&s, &["policy", "show", "app-crypto"]);
    assert_eq!(v["statements"][0]["resources"][0], "alias/app");
    let err = cli_err(&s, &["policy", "put", "--file", "/nonexistent/p.json"]);
    assert!(err.contains("cannot read --file"), "{err}");
    std::fs::write(&file, "{not json").unwrap();
    let err = cli_err(&s, &["policy", "put", "--file", file.to_str().unwrap()]);
    assert!(err.contains("not a JSON policy document"), "{err}");
    std::fs::write(&file, r#"{"name":"bad","statements":[{"effect":"allow","actions":["kms:Decrypt"],"resources":["*"]}]}"#).unwrap();
    let err = cli_err(&s, &["policy", "put", "--file", file.to_str().unwrap()]);
    assert!(err.starts_with("error: "), "{err}");
    cli_ok(&s, &["identity", "grant", "alice", "--no-policies"]);
    let out = cli_ok(&s, &["policy", "delete", "app-crypto"]);
    assert!(out.contains("Deleted policy app-crypto"), "{out}");
    cli_err(&s, &["policy", "show", "app-crypto"]);
}

/// The audit file of a production server made by the test kit.
fn audit_file(s: &Server) -> PathBuf {
    let p = s.dir.path().join("strongroom.db.audit.jsonl");
    assert!(p.exists(), "no audit file at {}", p.display());
    p
}

#[test]
fn audit_verify_query_export_and_tampering() {
    let s = production();
    cast(&s);
    let admin = token_for(&s, "admin");
    let auditor = token_for(&s, "auditor");
    as_ok(&s, &admin, &["key", "create", "--alias", "alias/app"]);
    as_err(
        &s,
        &admin,
        &["encrypt", "--key", "alias/app", "--plaintext", "x"],
        "AccessDenied",
    );

    // The auditor may read the log; the admin may not.
    as_err(&s, &admin, &["audit", "verify"], "AccessDenied");
    let out = as_ok(&s, &auditor, &["audit", "verify"]);
    assert!(out.starts_with("OK: "), "{out}");
    let v = as_json(&s, &auditor, &["audit", "verify"]);
    assert_eq!(v["ok"], true);

    // Query by identity, by key alias (resolved to its id), by outcome.
    let q = as_json(
        &s,
        &auditor,
        &[
            "audit",
            "query",
            "--identity",
            "admin",
            "--action",
            "kms:Encrypt",
        ],
    );
    let records = q["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{q}");
    let index = records[0]["index"].as_u64().unwrap();
    assert_eq!(records[0]["event"]["outcome"], "denied");
    assert_eq!(records[0]["event"]["error_code"], "AccessDenied");
    let by_key = as_json(
        &s,
        &auditor,
        &[
            "audit",
            "query",
            "--key",
            "alias/app",
            "--outcome",
            "denied",
        ],
    );
    assert!(by_key["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["index"] == index));
    let table = as_ok(
        &s,
        &auditor,
        &["audit", "query", "--identity", "root", "--limit", "2"],
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "header and two rows:\n{table}");
    assert!(
        lines[0].starts_with("INDEX") && lines[0].contains("OUTCOME"),
        "{table}"
    );
    assert!(lines[1].contains("root (break-glass)"), "{table}");
    let none = as_json(
        &s,
        &auditor,
        &["audit", "query", "--since-ms", "0", "--until-ms", "1"],
    );
    assert_eq!(none["records"], serde_json::json!([]));

    // Export: JSON Lines, same filters, to a file or stdout.
    let out_file = s.dir.path().join("export.jsonl");
    let out = as_ok(
        &s,
        &auditor,
        &[
            "audit",
            "export",
            "--identity",
            "admin",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(out.contains("Exported"), "{out}");
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["event"]["identity"], "admin");
    }
    let stdout = as_ok(&s, &auditor, &["audit", "export", "--identity", "admin"]);
    assert!(stdout.starts_with(text.lines().next().unwrap()), "{stdout}");
    assert!(
        !stdout.contains(&admin) && !text.contains(&admin),
        "tokens are never recorded"
    );

    // Tamper: rewrite the refused encryption as allowed.
    let path = audit_file(&s);
    let original = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    let line = &mut lines[index as usize];
    assert!(line.contains("\"outcome\":\"denied\""), "{line}");
    *line = line.replace("\"outcome\":\"denied\"", "\"outcome\":\"allowed\"");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let (code, out, err) = as_(&s, &auditor, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with(&format!("BROKEN at index {index}: ")),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");
    let (code, out, _) = as_(&s, &auditor, &["-o", "json", "audit", "verify"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_bad_index"], index);
}

#[test]
fn clear_errors_without_a_server_or_with_bad_input() {
    let s = Server::dev(BIN);
    let err = cli_err(&s, &["identity", "create", "Bad Name"]);
    assert!(err.starts_with("error: InvalidArgument: "), "{err}");
    let err = cli_err(&s, &["identity", "show", "nobody"]);
    assert!(err.starts_with("error: "), "{err}");
    let err = cli_err(&s, &["token", "create", "--identity", "nobody"]);
    assert!(err.starts_with("error: "), "{err}");
    let err = cli_err(&s, &["approval", "approve", "no-such-request"]);
    assert!(err.starts_with("error: "), "{err}");
    let err = cli_err(&s, &["policy", "show", "role:nope"]);
    assert!(err.contains("nope"), "{err}");
    // Odd characters in names are percent-encoded, never a different path.
    let err = cli_err(&s, &["identity", "show", "../keys"]);
    assert!(err.starts_with("error: "), "{err}");
    let err = cli_err(&s, &["policy", "delete", "x?y#z"]);
    assert!(err.starts_with("error: "), "{err}");

    // Nothing listening.
    let (code, _, err) = run_cmd(
        s.cli()
            .env("STRONGROOM_ADDR", "http://127.0.0.1:9")
            .args(["identity", "list"]),
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach Strongroom"), "{err}");
}
