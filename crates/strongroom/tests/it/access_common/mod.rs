//! Helpers for the access-control and audit-log tests (`access.rs`,
//! `audit_log.rs`): HTTP calls as any identity that fail the test on a 500,
//! identity/token/policy/key shorthands, and a production server
//! initialized and unsealed over HTTP.
#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;

use serde_json::{json, Value};
use strongroom_testkit::{Server, TempDir};

use crate::common::{self, error_code, BIN};

/// One HTTP request as `token` (none: no Authorization header), on a fresh
/// connection. Fails the test on any 5xx other than 503 (a 500 is a bug
/// everywhere in these tests), and on a 503 without the error shape.
pub fn call(
    s: &Server,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let (st, v) = common::http(s, method, path, body, token);
    assert!(
        st < 500 || st == 503,
        "{method} {path}: HTTP {st} (no 5xx other than 503 is acceptable): {v}"
    );
    if st >= 400 || st == 202 {
        // Every refusal has the documented error shape.
        error_code(st, &v);
    }
    (st, v)
}

/// Requires 200; returns the body.
pub fn ok(s: &Server, method: &str, path: &str, body: Option<&Value>, token: &str) -> Value {
    let (st, v) = call(s, method, path, body, Some(token));
    assert_eq!(st, 200, "{method} {path} should succeed: {v}");
    v
}

/// Requires `status` with error `code`; returns the body.
pub fn fails(
    s: &Server,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
    status: u16,
    code: &str,
) -> Value {
    let (st, v) = call(s, method, path, body, token);
    assert_eq!(st, status, "{method} {path}: expected {status} {code}: {v}");
    assert_eq!(error_code(st, &v), code, "{method} {path}: {v}");
    v
}

/// Requires 403 AccessDenied.
pub fn denied(s: &Server, method: &str, path: &str, body: Option<&Value>, token: &str) -> Value {
    fails(s, method, path, body, Some(token), 403, "AccessDenied")
}

/// Root creates a policy (must succeed).
pub fn put_policy(s: &Server, policy: Value) {
    ok(s, "POST", "/v1/policies", Some(&policy), &s.token);
}

/// Root creates an identity with roles and attached policies, then a token
/// for it (no TTL). Returns the token.
pub fn identity(s: &Server, name: &str, roles: &[&str], policies: &[&str]) -> String {
    ok(
        s,
        "POST",
        "/v1/identities",
        Some(&json!({ "name": name, "roles": roles, "policies": policies })),
        &s.token,
    );
    token_for(s, name, None)
}

/// Root creates a token for `name`.
pub fn token_for(s: &Server, name: &str, ttl_secs: Option<i64>) -> String {
    let mut body = json!({ "identity": name });
    if let Some(t) = ttl_secs {
        body["ttl_secs"] = json!(t);
    }
    let v = ok(s, "POST", "/v1/tokens", Some(&body), &s.token);
    v["token"].as_str().expect("token string").to_string()
}

/// Root creates a key from `body`; returns its id.
pub fn create_key(s: &Server, body: Value) -> String {
    let v = ok(s, "POST", "/v1/keys", Some(&body), &s.token);
    v["id"].as_str().expect("key id").to_string()
}

/// The key's state as root sees it.
pub fn key_state(s: &Server, key: &str) -> String {
    let v = ok(s, "GET", &format!("/v1/keys/{key}"), None, &s.token);
    v["state"].as_str().expect("state").to_string()
}

/// Root encrypts `pt` under `key` with `ctx`; returns the base64 ciphertext.
pub fn encrypt_as_root(s: &Server, key: &str, pt: &[u8], ctx: Value) -> String {
    let v = ok(
        s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": key, "plaintext": common::b64(pt), "context": ctx })),
        &s.token,
    );
    v["ciphertext"].as_str().expect("ciphertext").to_string()
}

/// Audit records matching a query string (as `token`).
pub fn audit_query(s: &Server, query: &str, token: &str) -> Vec<Value> {
    let v = ok(s, "GET", &format!("/v1/audit/query?{query}"), None, token);
    v["records"].as_array().expect("records array").clone()
}

/// A production server on SQLite in a fresh directory (dual control on, 2
/// approvals), initialized with 1 share / threshold 1 over HTTP and
/// unsealed. `s.token` is the root token. Returns the server and the share.
pub fn production(tag: &str) -> (Server, String) {
    let mut s = Server::production(BIN, TempDir::new(tag), None);
    let (st, v) = call(
        &s,
        "POST",
        "/v1/sys/init",
        Some(&json!({ "shares": 1, "threshold": 1 })),
        None,
    );
    assert_eq!(st, 200, "init: {v}");
    let share = v["shares"][0].as_str().expect("share").to_string();
    s.token = v["root_token"].as_str().expect("root token").to_string();
    common::unseal_http(&s, std::slice::from_ref(&share));
    (s, share)
}

/// The audit file of a server started by `Server::production` (its config
/// sets no `audit_path`, so it is the database path plus `.audit.jsonl`).
pub fn audit_file(s: &Server) -> PathBuf {
    s.dir.path().join("strongroom.db.audit.jsonl")
}

/// Like [`production`], then restarted with `extra` appended to its config
/// file (TOML lines) and unsealed again.
pub fn production_with(tag: &str, extra: &str) -> (Server, String) {
    let (s, share) = production(tag);
    let s = reconfigure(s, &share, extra, None);
    (s, share)
}

/// Stops `s`, appends `extra` to its config (removing any line starting
/// with `remove` first), restarts it on the same database and unseals it.
pub fn reconfigure(s: Server, share: &str, extra: &str, remove: Option<&str>) -> Server {
    let s = restart_with_config(s, extra, remove);
    common::unseal_http(&s, &[share.to_string()]);
    s
}

/// Stops `s`, edits its config as [`reconfigure`] does, restarts it
/// (sealed: nothing else is done).
pub fn restart_with_config(mut s: Server, extra: &str, remove: Option<&str>) -> Server {
    s.stop();
    let cfg = s.dir.path().join("strongroom.toml");
    let text = std::fs::read_to_string(&cfg).expect("read config");
    let mut out: String = text
        .lines()
        .filter(|l| remove.is_none_or(|r| !l.starts_with(r)))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(extra);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    std::fs::write(&cfg, out).expect("write config");
    s.restart()
}
