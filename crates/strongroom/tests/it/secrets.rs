//! Secrets end to end: the CLI (`strongroom secret …`, `strongroom run`),
//! the REST API through curl, bad input, policy over secret paths, the
//! audit of value reads, dual control of destroy, and canaries.

use std::process::Command;

use serde_json::{json, Value};
use strongroom_testkit::Server;

use crate::access_common::{self, audit_query, call, denied, fails, identity, ok, put_policy};
use crate::common::{self, cli, cli_err, cli_json, cli_ok, run_cmd, run_with_stdin, BIN};

/// curl as a client would use it: (HTTP status, JSON body).
fn curl(s: &Server, method: &str, path: &str, body: Option<&Value>, token: &str) -> (u16, Value) {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "--path-as-is",
        "-g",
        "-X",
        method,
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
    ])
    .arg("-H")
    .arg(format!("Authorization: Bearer {token}"));
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(b.to_string());
    }
    c.arg(format!("{}{path}", s.addr));
    let (code, out, err) = run_cmd(&mut c);
    assert_eq!(code, 0, "curl {method} {path}: {err}");
    let (text, status) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
    let status: u16 = status
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl status: {out}"));
    (
        status,
        serde_json::from_str(text).unwrap_or(Value::String(text.into())),
    )
}

fn curl_code(s: &Server, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let (st, v) = curl(s, method, path, body, &s.token);
    assert!(st < 500, "{method} {path}: HTTP {st}: {v}");
    let code = if st >= 400 {
        common::error_code(st, &v)
    } else {
        String::new()
    };
    (st, code)
}

#[test]
fn cli_put_get_list_history_delete_undelete_destroy() {
    let s = Server::dev(BIN);
    let v = cli_json(
        &s,
        &["secret", "put", "app/db", "user=app", "password=first-pw"],
    );
    assert_eq!(v["version"]["version"], 1, "{v}");
    // A value from stdin (kept out of shell history), with cas.
    let (code, out, err) = run_with_stdin(
        s.cli().args([
            "-o",
            "json",
            "secret",
            "put",
            "app/db",
            "user=app",
            "password=-",
            "--cas",
            "1",
        ]),
        b"second-pw\n",
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["version"]["version"], 2);
    // A stale cas is refused and changes nothing.
    let e = cli_err(&s, &["secret", "put", "app/db", "password=x", "--cas", "1"]);
    assert!(
        e.contains("Conflict") && e.contains("current version is 2"),
        "{e}"
    );
    // cas 0 = create only.
    let e = cli_err(&s, &["secret", "put", "app/db", "password=x", "--cas", "0"]);
    assert!(e.contains("Conflict"), "{e}");

    assert_eq!(
        cli_ok(&s, &["secret", "get", "app/db", "--field", "password"]),
        "second-pw\n"
    );
    assert_eq!(
        cli_ok(
            &s,
            &[
                "secret",
                "get",
                "app/db",
                "--field",
                "password",
                "--version",
                "1"
            ]
        ),
        "first-pw\n"
    );
    let v = cli_json(&s, &["secret", "get", "app/db"]);
    assert_eq!(v["data"], json!({ "user": "app", "password": "second-pw" }));
    let e = cli_err(&s, &["secret", "get", "app/db", "--field", "nope"]);
    assert!(e.contains("no field") && e.contains("password"), "{e}");

    // --from-file and patch.
    let f = s.dir.path().join("api.json");
    std::fs::write(&f, r#"{"token": "t-1", "url": "https://x"}"#).unwrap();
    cli_ok(
        &s,
        &[
            "secret",
            "put",
            "app/api/stripe",
            "--from-file",
            f.to_str().unwrap(),
        ],
    );
    cli_ok(
        &s,
        &[
            "secret",
            "patch",
            "app/api/stripe",
            "token=t-2",
            "--remove",
            "url",
        ],
    );
    let v = cli_json(&s, &["secret", "get", "app/api/stripe"]);
    assert_eq!(
        (v["data"].clone(), v["version"]["version"].clone()),
        (json!({ "token": "t-2" }), json!(2))
    );

    cli_ok(&s, &["secret", "put", "app2/db", "password=other"]);
    let v = cli_json(&s, &["secret", "list"]);
    assert_eq!(v["keys"], json!(["app/", "app2/"]));
    assert_eq!(cli_ok(&s, &["secret", "list", "app"]), "api/\ndb\n");
    let v = cli_json(&s, &["secret", "list", "app/", "--limit", "1"]);
    assert_eq!(
        (v["keys"].clone(), v["next"].clone()),
        (json!(["api/"]), json!("api/"))
    );

    // Soft delete and undelete.
    cli_ok(&s, &["secret", "delete", "app/db"]);
    let e = cli_err(&s, &["secret", "get", "app/db"]);
    assert!(e.contains("deleted") && e.contains("undelete"), "{e}");
    let h = cli_json(&s, &["secret", "history", "app/db"]);
    assert!(h["versions"]["2"]["deletion_ms"].is_i64(), "{h}");
    cli_ok(&s, &["secret", "undelete", "app/db", "--versions", "2"]);
    assert_eq!(
        cli_ok(&s, &["secret", "get", "app/db", "--field", "password"]),
        "second-pw\n"
    );

    // Destroy version 1 (dual control is off on a dev server).
    let v = cli_json(&s, &["secret", "destroy", "app/db", "--versions", "1"]);
    assert_eq!(v["destroyed"], json!([1]));
    let e = cli_err(&s, &["secret", "get", "app/db", "--version", "1"]);
    assert!(e.contains("destroyed"), "{e}");
    let h = cli_json(&s, &["secret", "history", "app/db"]);
    assert_eq!(h["versions"]["1"]["destroyed"], true);
    assert_eq!(
        (h["current_version"].clone(), h["oldest_version"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(h["last_read"]["identity"], "root", "{h}");
    let table = cli_ok(&s, &["secret", "history", "app/db"]);
    assert!(
        table.contains("destroyed") && table.contains("live"),
        "{table}"
    );
    assert!(!table.contains("second-pw"), "history never shows values");

    // Metadata: max_versions trims, owner shown.
    cli_ok(
        &s,
        &[
            "secret",
            "set-metadata",
            "app/db",
            "--max-versions",
            "1",
            "--owner",
            "team-a",
        ],
    );
    let h = cli_json(&s, &["secret", "history", "app/db"]);
    assert_eq!(
        (h["oldest_version"].clone(), h["owner"].clone()),
        (json!(2), json!("team-a"))
    );

    // The whole secret.
    cli_ok(&s, &["secret", "destroy", "app/db", "--all"]);
    let e = cli_err(&s, &["secret", "history", "app/db"]);
    assert!(e.contains("SecretNotFound"), "{e}");
    assert_eq!(cli_ok(&s, &["secret", "list", "app"]), "api/\n");

    // The inventory lists secrets after keys (metadata only).
    let inv = cli_ok(&s, &["inventory"]);
    assert!(
        inv.contains("SECRET") && inv.contains("app/api/stripe") && inv.contains("app2/db"),
        "{inv}"
    );
    assert!(!inv.contains("t-2"), "the inventory never shows a value");
    let v = cli_json(&s, &["inventory", "--owner", "nobody"]);
    assert!(v.get("secrets").is_none(), "{v}");

    // Bad input from the CLI: a clear error, exit 1, nothing written.
    for args in [
        vec!["secret", "put", "app/../x", "a=b"],
        vec!["secret", "put", "app x", "a=b"],
        vec!["secret", "put", "/app", "a=b"],
        vec!["secret", "put", "app/y", "not-a-pair"],
        vec!["secret", "put", "app/y", "bad name=1"],
        vec!["secret", "put", "app/y"],
    ] {
        let e = cli_err(&s, &args);
        assert!(!e.contains("panicked") && e.len() > 10, "{args:?}: {e}");
    }
    assert_eq!(cli_ok(&s, &["secret", "list", "app"]), "api/\n");
}

#[test]
fn rest_api_through_curl_with_bad_input() {
    let s = Server::dev(BIN);
    let canary = "canary-rest-5f1e9d";
    let (st, v) = curl(
        &s,
        "PUT",
        "/v1/secrets/data/team/pay",
        Some(&json!({ "data": { "key": canary } })),
        &s.token,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["version"]["version"], 1);
    let (st, v) = curl(&s, "GET", "/v1/secrets/data/team/pay", None, &s.token);
    assert_eq!((st, v["data"]["key"].clone()), (200, json!(canary)), "{v}");
    let (st, v) = curl(
        &s,
        "PATCH",
        "/v1/secrets/data/team/pay",
        Some(&json!({ "data": { "extra": "1" }, "cas": 1 })),
        &s.token,
    );
    assert_eq!(
        (st, v["version"]["version"].clone()),
        (200, json!(2)),
        "{v}"
    );
    let (st, v) = curl(
        &s,
        "GET",
        "/v1/secrets/data/team/pay?version=1",
        None,
        &s.token,
    );
    assert_eq!((st, v["data"].clone()), (200, json!({ "key": canary })));
    let (st, v) = curl(&s, "GET", "/v1/secrets/metadata/team/pay", None, &s.token);
    assert_eq!((st, v["current_version"].clone()), (200, json!(2)));
    assert!(
        !v.to_string().contains(canary),
        "metadata never holds values"
    );
    let (st, v) = curl(&s, "GET", "/v1/secrets/list/team", None, &s.token);
    assert_eq!((st, v["keys"].clone()), (200, json!(["pay"])));

    let big = "x".repeat(40 * 1024);
    let cases: Vec<(&str, String, Option<Value>, u16, &str)> = vec![
        (
            "GET",
            "/v1/secrets/data/team/../team/pay".into(),
            None,
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/v1/secrets/data/team%2Fpay".into(),
            None,
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/v1/secrets/data/team//pay".into(),
            None,
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/v1/secrets/data/team/pay%20".into(),
            None,
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/v1/secrets/data/team/p%D0%B0y".into(),
            None,
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/v1/secrets/data/team/pay/".into(),
            None,
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/v1/secrets/data/Team/pay".into(),
            None,
            404,
            "SecretNotFound",
        ),
        (
            "GET",
            "/v1/secrets/data/team/pay?version=9".into(),
            None,
            404,
            "SecretNotFound",
        ),
        (
            "GET",
            "/v1/secrets/data/team/pay?version=x".into(),
            None,
            400,
            "InvalidArgument",
        ),
        (
            "PUT",
            "/v1/secrets/data/team/pay".into(),
            Some(json!({ "data": { "k": canary }, "cas": 1 })),
            409,
            "Conflict",
        ),
        (
            "PUT",
            "/v1/secrets/data/team/pay".into(),
            Some(json!({ "data": {} })),
            400,
            "InvalidArgument",
        ),
        (
            "PUT",
            "/v1/secrets/data/team/pay".into(),
            Some(json!({ "data": { "k": 1 } })),
            400,
            "MalformedRequest",
        ),
        (
            "PUT",
            "/v1/secrets/data/team/pay".into(),
            Some(json!({ "data": { "k": "v" }, "nope": 1 })),
            400,
            "MalformedRequest",
        ),
        (
            "PUT",
            "/v1/secrets/data/team/pay".into(),
            Some(json!({ "data": { "a b": "v" } })),
            400,
            "InvalidArgument",
        ),
        (
            "PUT",
            "/v1/secrets/data/team/pay".into(),
            Some(json!({ "data": { "k": big } })),
            413,
            "PayloadTooLarge",
        ),
        (
            "PATCH",
            "/v1/secrets/metadata/team/pay".into(),
            Some(json!({ "max_versions": 5000 })),
            400,
            "InvalidArgument",
        ),
        (
            "POST",
            "/v1/secrets/destroy/team/pay".into(),
            Some(json!({ "versions": [7] })),
            404,
            "SecretNotFound",
        ),
        (
            "GET",
            "/v1/secrets/list/team?limit=0".into(),
            None,
            400,
            "InvalidArgument",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (st, v) = curl(&s, method, &path, body.as_ref(), &s.token);
        assert_eq!(st, status, "{method} {path}: {v}");
        assert_eq!(common::error_code(st, &v), code, "{method} {path}: {v}");
        assert!(
            !v.to_string().contains(canary),
            "{method} {path}: the value leaked into an error: {v}"
        );
    }
    // Nothing above changed the secret.
    let (_, v) = curl(&s, "GET", "/v1/secrets/metadata/team/pay", None, &s.token);
    assert_eq!(v["current_version"], 2, "{v}");
    // No token: 401.
    let (st, _) = curl(&s, "GET", "/v1/secrets/data/team/pay", None, "wrong");
    assert_eq!(st, 401);
    let _ = curl_code;
}

fn read_policy(name: &str, resources: &[&str]) -> Value {
    json!({
        "name": name,
        "statements": [{
            "effect": "Allow",
            "actions": ["strongroom:ReadSecret", "strongroom:ReadSecretMetadata", "strongroom:ListSecrets"],
            "resources": resources,
        }],
    })
}

#[test]
fn policy_over_secret_paths_and_the_audit_of_reads() {
    let s = Server::dev(BIN);
    let canary = "canary-policy-7a7a7a";
    for p in ["app", "app/db", "app/cfg/x", "app2/db", "App/db"] {
        ok(
            &s,
            "PUT",
            &format!("/v1/secrets/data/{p}"),
            Some(&json!({ "data": { "v": canary } })),
            &s.token,
        );
    }
    put_policy(&s, read_policy("app-read", &["secret/app/*"]));
    put_policy(&s, read_policy("exact", &["secret/app"]));
    let app = identity(&s, "svc-app", &[], &["app-read"]);
    let exact = identity(&s, "svc-exact", &[], &["exact"]);
    let auditor = identity(&s, "aud", &["auditor"], &[]);
    let keyadmin = identity(&s, "kadmin", &["key-admin"], &[]);

    let data = |p: &str| format!("/v1/secrets/data/{p}");
    ok(&s, "GET", &data("app/db"), None, &app);
    ok(&s, "GET", &data("app/cfg/x"), None, &app);
    for p in ["app", "app2/db", "App/db"] {
        denied(&s, "GET", &data(p), None, &app);
    }
    ok(&s, "GET", &data("app"), None, &exact);
    for p in ["app/db", "app2/db"] {
        denied(&s, "GET", &data(p), None, &exact);
    }
    // Listing: the folder it was granted, not the top or a neighbour.
    ok(&s, "GET", "/v1/secrets/list/app", None, &app);
    denied(&s, "GET", "/v1/secrets/list", None, &app);
    denied(&s, "GET", "/v1/secrets/list/app2", None, &app);
    // Reading grants no writing.
    denied(
        &s,
        "PUT",
        &data("app/db"),
        Some(&json!({ "data": { "v": "x" } })),
        &app,
    );
    denied(
        &s,
        "POST",
        "/v1/secrets/destroy/app/db",
        Some(&json!({})),
        &app,
    );
    // The auditor sees metadata, never values; the key admin neither.
    ok(&s, "GET", "/v1/secrets/metadata/app/db", None, &auditor);
    ok(&s, "GET", "/v1/secrets/list", None, &auditor);
    denied(&s, "GET", &data("app/db"), None, &auditor);
    denied(&s, "GET", &data("app/db"), None, &keyadmin);
    // The inventory of every secret: the auditor yes, a per-folder grant no.
    let inv = ok(&s, "GET", "/v1/secrets/inventory", None, &auditor);
    assert_eq!(inv["secrets"].as_array().map(Vec::len), Some(5), "{inv}");
    assert!(!inv.to_string().contains(canary));
    denied(&s, "GET", "/v1/secrets/inventory", None, &app);
    // The compliance report names secrets without a rotation period (PCI DSS 8.6.3), never a value.
    let report = ok(&s, "GET", "/v1/reports/compliance", None, &s.token).to_string();
    assert!(
        report.contains("secrets without a rotation period: App/db, app, app/cfg/x"),
        "{report}"
    );
    assert!(report.contains("8.3.9") && !report.contains(canary));
    // Patterns that would surprise are refused when the policy is stored.
    for bad in [
        "secret/app*",
        "secret/app/",
        "secret/../app",
        "secret/app%2Fdb",
        "secret/аpp",
        "secret/app ",
    ] {
        let (st, v) = call(
            &s,
            "POST",
            "/v1/policies",
            Some(&read_policy("bad", &[bad])),
            Some(&s.token),
        );
        assert_eq!(st, 400, "{bad}: {v}");
    }

    // Every value read is audited with path, version and identity.
    let recs = audit_query(
        &s,
        "identity=svc-app&action=strongroom:ReadSecret",
        &s.token,
    );
    let allowed: Vec<&Value> = recs
        .iter()
        .filter(|r| r["event"]["outcome"] == "allowed" || r["outcome"] == "allowed")
        .collect();
    assert!(!allowed.is_empty(), "{recs:?}");
    let text = serde_json::to_string(&recs).unwrap();
    assert!(text.contains("secret/app/db"), "{text}");
    let audit = std::fs::read_to_string(s.dir.path().join("audit.jsonl")).unwrap();
    let line = audit
        .lines()
        .find(|l| {
            l.contains("\"svc-app\"")
                && l.contains("strongroom:ReadSecret")
                && l.contains("allowed")
        })
        .expect("an allowed read record");
    assert!(
        line.contains("\"key_id\":\"secret/app/db\"") && line.contains("\"key_version\":1"),
        "{line}"
    );
    assert!(audit.contains("\"denied\""), "denials are audited too");

    // The value never reaches the audit log, the server log or /metrics.
    assert!(!audit.contains(canary), "canary in the audit log");
    assert!(!s.logs().contains(canary), "canary in the server log");
    let (_, m) = s.request("GET", "/metrics", None, None);
    assert!(!m.to_string().contains(canary), "canary in /metrics");
    let m = m.as_str().unwrap_or_default().to_string();
    assert!(m.lines().any(|l| l == "strongroom_secrets 5"), "{m}");
    assert!(
        m.lines()
            .any(|l| l == "strongroom_secrets_rotation_overdue 0"),
        "{m}"
    );
}

#[test]
fn destroy_is_dual_controlled_in_production() {
    let (s, _share) = access_common::production("secrets-dual");
    put_policy(
        &s,
        json!({
            "name": "ops-secrets",
            "statements": [{
                "effect": "Allow",
                "actions": ["strongroom:WriteSecret", "strongroom:ReadSecret", "strongroom:DestroySecret", "strongroom:DeleteSecret"],
                "resources": ["secret/ops/*"],
            }],
        }),
    );
    let ops = identity(&s, "ops", &[], &["ops-secrets"]);
    let a1 = identity(&s, "appr1", &["approver"], &[]);
    let a2 = identity(&s, "appr2", &["approver"], &[]);
    ok(
        &s,
        "PUT",
        "/v1/secrets/data/ops/db",
        Some(&json!({ "data": { "pw": "one" } })),
        &ops,
    );
    ok(
        &s,
        "PUT",
        "/v1/secrets/data/ops/db",
        Some(&json!({ "data": { "pw": "two" } })),
        &ops,
    );
    // Soft delete is not dual-controlled; destroy is.
    ok(
        &s,
        "POST",
        "/v1/secrets/delete/ops/db",
        Some(&json!({ "versions": [1] })),
        &ops,
    );
    let (st, v) = call(
        &s,
        "POST",
        "/v1/secrets/destroy/ops/db",
        Some(&json!({ "versions": [1] })),
        Some(&ops),
    );
    assert_eq!(st, 202, "{v}");
    let id = v["approval_id"].as_str().expect("approval id").to_string();
    // Still there (deleted, not destroyed) until the quorum.
    let m = ok(&s, "GET", "/v1/secrets/metadata/ops/db", None, &s.token);
    assert_eq!(m["versions"]["1"]["destroyed"], false);
    for t in [&a1, &a2] {
        ok(
            &s,
            "POST",
            "/v1/approvals/approve",
            Some(&json!({ "id": id })),
            t,
        );
    }
    let m = ok(&s, "GET", "/v1/secrets/metadata/ops/db", None, &s.token);
    assert_eq!(m["versions"]["1"]["destroyed"], true, "{m}");
    fails(
        &s,
        "GET",
        "/v1/secrets/data/ops/db?version=1",
        None,
        Some(&ops),
        404,
        "SecretNotFound",
    );
    let v = ok(&s, "GET", "/v1/secrets/data/ops/db", None, &ops);
    assert_eq!(v["data"]["pw"], "two");
    // Deleting the whole secret waits for approval too.
    let (st, _) = call(
        &s,
        "DELETE",
        "/v1/secrets/metadata/ops/db",
        None,
        Some(&ops),
    );
    assert_eq!(st, 202);
    ok(&s, "GET", "/v1/secrets/data/ops/db", None, &ops);
}

fn run_cli(s: &Server, args: &[&str]) -> (i32, String, String) {
    let mut c = s.cli();
    c.arg("run").args(args);
    cli_like(&mut c)
}

fn cli_like(c: &mut Command) -> (i32, String, String) {
    let (code, out, err) = strongroom_testkit::run(c);
    common::assert_no_panic("strongroom run", &err);
    (code, out, err)
}

#[test]
fn run_passes_secrets_in_env_or_private_files_and_the_exit_status() {
    let s = Server::dev(BIN);
    cli_ok(
        &s,
        &[
            "secret",
            "put",
            "app/db",
            "user=app",
            "password=pw-123 with space",
        ],
    );
    cli_ok(&s, &["secret", "put", "app/api", "api-key=k-9"]);

    // Environment, with a prefix; the exit status passes through.
    let (code, out, err) = run_cli(
        &s,
        &[
            "--secret",
            "app/db=DB_",
            "--secret",
            "app/api",
            "--",
            "sh",
            "-c",
            "printf '%s|%s|%s' \"$DB_USER\" \"$DB_PASSWORD\" \"$API_KEY\"; exit 7",
        ],
    );
    assert_eq!(code, 7, "{err}");
    assert_eq!(out, "app|pw-123 with space|k-9");

    // Two secrets that would set the same variable are refused.
    cli_ok(&s, &["secret", "put", "other/db", "password=x"]);
    let (code, _, err) = run_cli(
        &s,
        &["--secret", "app/db", "--secret", "other/db", "--", "true"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("PASSWORD") && err.contains("prefix"), "{err}");

    // Files: 0600 in a private 0700 directory on tmpfs, gone after exit.
    let (code, out, err) = run_cli(
        &s,
        &[
            "--secret", "app/db=DB_", "--files", "/dev/shm", "--",
            "sh", "-c",
            "d=$STRONGROOM_SECRETS_DIR; echo $d; stat -c %a $d $d/DB_PASSWORD; cat $d/DB_PASSWORD; echo; env | grep -c pw-123 || true",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[1..],
        &["700", "600", "pw-123 with space", "0"],
        "{out}"
    );
    assert!(lines[0].starts_with("/dev/shm/strongroom-run-"), "{out}");
    assert!(
        !std::path::Path::new(lines[0]).exists(),
        "the directory outlived the program"
    );

    // A directory not on a tmpfs is refused before anything is written.
    let here = s.dir.path().to_str().unwrap().to_string();
    let fs = Command::new("stat")
        .args(["-f", "-c", "%T", &here])
        .output()
        .unwrap();
    let (code, _, err) = run_cli(&s, &["--secret", "app/db", "--files", &here, "--", "true"]);
    if String::from_utf8_lossy(&fs.stdout).trim() == "tmpfs" {
        assert_eq!(code, 0, "{err}");
    } else {
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("not a tmpfs"), "{err}");
        let left: Vec<_> = std::fs::read_dir(&here)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("strongroom-run-")
            })
            .collect();
        assert!(left.is_empty());
    }

    // A program killed by a signal: 128 + the signal, files still removed.
    let (code, out, _) = run_cli(
        &s,
        &[
            "--secret",
            "app/db",
            "--files",
            "/dev/shm",
            "--",
            "sh",
            "-c",
            "echo $STRONGROOM_SECRETS_DIR; kill -KILL $$",
        ],
    );
    assert_eq!(code, 137);
    assert!(!std::path::Path::new(out.trim()).exists());

    // SIGTERM to `strongroom run` reaches the program, whose exit status is ours.
    let marker = s.dir.path().join("started");
    let mut child = s
        .cli()
        .args(["run", "--secret", "app/db", "--files", "/dev/shm", "--", "sh", "-c"])
        .arg(format!(
            "trap 'exit 42' TERM; echo $STRONGROOM_SECRETS_DIR > {}; while true; do sleep 0.05; done",
            marker.display()
        ))
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&marker)
        .map(|t| t.trim().is_empty())
        .unwrap_or(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the program never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let dir = std::fs::read_to_string(&marker).unwrap().trim().to_string();
    assert!(std::path::Path::new(&dir).exists());
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(42));
    assert!(
        !std::path::Path::new(&dir).exists(),
        "files left after a signal"
    );

    // A secret that does not exist: a clear error, the program never runs.
    let (code, _, err) = run_cli(&s, &["--secret", "nope/x", "--", "sh", "-c", "exit 3"]);
    assert_eq!(code, 1);
    assert!(err.contains("SecretNotFound"), "{err}");
    let _ = cli;
}

/// POSTs a new version; `None` on a transport error (the server was killed).
fn put_version(
    agent: &ureq::Agent,
    addr: &str,
    token: &str,
    path: &str,
    value: &str,
) -> Option<(u16, Value)> {
    let mut resp = agent
        .post(&format!("{addr}/v1/secrets/data/{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(json!({ "data": { "v": value } }))
        .ok()?;
    let st = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().ok()?;
    Some((st, serde_json::from_str(&text).ok()?))
}

#[test]
fn kill_9_during_puts_loses_no_acknowledged_version() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    let mut s = Server::production(BIN, strongroom_testkit::TempDir::new("secrets-kill9"), None);
    let shares = common::init_and_unseal(&mut s, 1, 1);
    // (path, version, value) of every acknowledged put.
    let mut acked: Vec<(String, u64, String)> = Vec::new();
    for (i, delay) in [60u64, 250, 140, 330].iter().enumerate() {
        if i > 0 {
            s = s.restart();
            common::unseal_http(&s, &shares);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let (addr, token, stop) = (s.addr.clone(), s.token.clone(), stop.clone());
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(20)))
                        .build()
                        .into();
                    let path = format!("kill/w{w}");
                    let mut mine = Vec::new();
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let value = format!("i{i}-w{w}-n{n}");
                        match put_version(&agent, &addr, &token, &path, &value) {
                            Some((200, v)) => {
                                let ver = v["version"]["version"].as_u64().expect("version");
                                mine.push((path.clone(), ver, value));
                            }
                            Some((st, v)) => assert!(st == 503, "unexpected answer {st}: {v}"),
                            None => break,
                        }
                    }
                    mine
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(*delay));
        s.kill9();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            acked.extend(w.join().unwrap());
        }
        s = s.restart();
        common::unseal_http(&s, &shares);
        // Only the last max_versions (10) of each path are kept: check those.
        for (path, ver, value) in &acked {
            let (_, m) = common::http(
                &s,
                "GET",
                &format!("/v1/secrets/metadata/{path}"),
                None,
                Some(&s.token),
            );
            let current = m["current_version"].as_u64().unwrap();
            assert!(
                current >= *ver,
                "{path}: acknowledged version {ver} but current is {current}"
            );
            if current - ver < 10 {
                let (st, v) = common::http(
                    &s,
                    "GET",
                    &format!("/v1/secrets/data/{path}?version={ver}"),
                    None,
                    Some(&s.token),
                );
                assert_eq!(
                    (st, v["data"]["v"].as_str()),
                    (200, Some(value.as_str())),
                    "{path} v{ver}"
                );
            }
        }
        s.kill9();
    }
    assert!(
        acked.len() >= 12,
        "too little load to mean anything: {} puts",
        acked.len()
    );
}

/// psql as the tests' superuser; panics on failure.
fn psql_admin(sql: &str) {
    let (code, _, err) = run_cmd(Command::new("psql").args([
        "-w",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        "test",
        "-qAtc",
        sql,
    ]));
    assert_eq!(code, 0, "psql {sql}: {err}");
}

/// Whether `role` logs in with `password` (psql, password authentication).
fn logs_in(role: &str, password: &str) -> bool {
    let (code, out, _) = run_cmd(
        Command::new("psql")
            .args([
                "-w",
                "-h",
                "127.0.0.1",
                "-U",
                role,
                "-d",
                "test",
                "-Atc",
                "select 1",
            ])
            .env("PGPASSWORD", password),
    );
    code == 0 && out.trim() == "1"
}

struct DropRole(String);

impl Drop for DropRole {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-w",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-qAtc",
            ])
            .arg(format!("DROP ROLE IF EXISTS {}", self.0))
            .output();
    }
}

#[test]
fn postgres_rotator_sets_a_new_password_that_works_and_the_old_one_stops() {
    let role = format!("sr_rot_{}", std::process::id());
    let _cleanup = DropRole(role.clone());
    psql_admin(&format!("DROP ROLE IF EXISTS {role}"));
    psql_admin(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'initial-pw-1' IN ROLE strongroom_pw_test"
    ));
    // The test means something only if passwords are checked for this role.
    assert!(
        logs_in(&role, "initial-pw-1"),
        "the role cannot log in at all"
    );
    assert!(
        !logs_in(&role, "a-wrong-password"),
        "PostgreSQL accepts any password for {role}: run scripts/setup-test-machine.sh (it adds the pg_hba.conf line for +strongroom_pw_test)"
    );

    let s = Server::dev(BIN);
    cli_ok(
        &s,
        &[
            "secret",
            "put",
            "db/admin",
            "url=postgres://postgres@127.0.0.1:5432/test",
        ],
    );
    let url = format!("url=postgres://{role}@127.0.0.1:5432/test");
    let role_f = format!("role={role}");
    cli_ok(
        &s,
        &[
            "secret",
            "put",
            "app/pg",
            &url,
            &role_f,
            "password=initial-pw-1",
            "admin=db/admin",
        ],
    );
    // A generic secret is not rotated by Strongroom.
    let e = cli_err(&s, &["secret", "rotate", "app/pg"]);
    assert!(e.contains("kind generic"), "{e}");
    cli_ok(
        &s,
        &[
            "secret",
            "set-metadata",
            "app/pg",
            "--kind",
            "postgres",
            "--rotation-period-days",
            "30",
        ],
    );

    let v = cli_json(&s, &["secret", "rotate", "app/pg"]);
    assert_eq!(v["version"]["version"], 2, "{v}");
    let new = cli_ok(&s, &["secret", "get", "app/pg", "--field", "password"]);
    let new = new.trim_end();
    assert_eq!(new.len(), 32, "a 24-byte base64url password");
    assert!(logs_in(&role, new), "the new password does not log in");
    assert!(
        !logs_in(&role, "initial-pw-1"),
        "the old password still logs in"
    );
    let h = cli_json(&s, &["secret", "history", "app/pg"]);
    assert!(h["next_rotation_ms"].as_i64().is_some(), "{h}");

    // A failed rotation changes nothing: the privileged connection is unreachable.
    cli_ok(
        &s,
        &[
            "secret",
            "put",
            "db/admin",
            "url=postgres://postgres@127.0.0.1:1/test",
        ],
    );
    let e = cli_err(&s, &["secret", "rotate", "app/pg"]);
    assert!(
        e.contains("rotation failed") && e.contains("privileged"),
        "{e}"
    );
    assert!(!e.contains(new), "the password leaked into an error");
    // Verification fails (the role's database does not exist): the new
    // password is taken back and the old version stays current.
    cli_ok(
        &s,
        &[
            "secret",
            "put",
            "db/admin",
            "url=postgres://postgres@127.0.0.1:5432/test",
        ],
    );
    let bad_url = format!("url=postgres://{role}@127.0.0.1:5432/no_such_db_{role}");
    cli_ok(&s, &["secret", "patch", "app/pg", &bad_url]);
    let e = cli_err(&s, &["secret", "rotate", "app/pg"]);
    assert!(
        e.contains("rotation failed") && e.contains("as the role"),
        "{e}"
    );
    let h = cli_json(&s, &["secret", "history", "app/pg"]);
    assert_eq!(
        h["current_version"], 3,
        "a failed rotation wrote no version: {h}"
    );
    assert!(
        logs_in(&role, new),
        "after a failed verification the current password still works"
    );

    // On schedule: once the period has passed, the scheduler rotates it (a
    // failed pass keeps it due, so the next one retries).
    let good_url = format!("url=postgres://{role}@127.0.0.1:5432/test");
    cli_ok(&s, &["secret", "patch", "app/pg", &good_url]);
    let out = cli_ok(&s, &["dev", "advance-clock", "--days", "31"]);
    assert!(out.contains("Rotated secret/app/pg to version 5"), "{out}");
    let newest = cli_ok(&s, &["secret", "get", "app/pg", "--field", "password"]);
    let newest = newest.trim_end();
    assert_ne!(newest, new);
    assert!(logs_in(&role, newest) && !logs_in(&role, new));
    let out = cli_ok(&s, &["dev", "run-scheduler"]);
    assert!(!out.contains("secret/app/pg"), "not due again: {out}");

    // The failures are audited, never with a password.
    let audit = std::fs::read_to_string(s.dir.path().join("audit.jsonl")).unwrap();
    let rotations: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("strongroom:RotateSecret"))
        .collect();
    assert!(
        rotations.iter().any(|l| l.contains("\"error\"")),
        "{rotations:?}"
    );
    assert!(
        rotations.iter().any(|l| l.contains("\"allowed\"")),
        "{rotations:?}"
    );
    assert!(
        !audit.contains(new) && !s.logs().contains(new),
        "a password reached the audit or the log"
    );
}
