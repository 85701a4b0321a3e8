//! `strongroom operator rekey | generate-root | revoke-root` and how unseal
//! shares are given, against a real production-mode server (SQLite, plain
//! HTTP) started by the test kit.

use crate::common;

use common::*;
use serde_json::{json, Value};
use strongroom_testkit::{Server, TempDir};

fn status(s: &Server) -> Value {
    cli_json(s, &["operator", "status"])
}

/// Writes shares to a file in the server's temp dir, one per line.
fn shares_file(s: &Server, name: &str, shares: &[String]) -> String {
    let p = s.dir.path().join(name);
    std::fs::write(&p, shares.join("\n") + "\n").unwrap();
    p.display().to_string()
}

fn post(s: &Server, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
    s.request("POST", path, Some(&body), token)
}

fn audit_text(s: &Server) -> String {
    std::fs::read_to_string(s.dir.path().join("strongroom.db.audit.jsonl")).unwrap_or_default()
}

fn key_create_status(s: &Server, token: &str) -> u16 {
    post(s, "/v1/keys", json!({}), Some(token)).0
}

#[test]
fn rekey_issues_new_shares_and_old_ones_stop_working() {
    let mut s = Server::production(BIN, TempDir::new("rekey"), None);
    let old = init_and_unseal(&mut s, 3, 2);
    let ct = cli_ok(
        &s,
        &[
            "encrypt",
            "--key",
            &{
                let v = cli_json(&s, &["key", "create"]);
                v["id"].as_str().unwrap().to_string()
            },
            "--plaintext",
            "kept across a rekey",
        ],
    );

    // Bad input: each a clear 400, nothing changed.
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"shares": [old[0]], "new_shares": 3, "new_threshold": 2}),
            "InvalidShare",
            "1 share given, but 2",
        ),
        (
            json!({"shares": [old[0], old[0]], "new_shares": 3, "new_threshold": 2}),
            "InvalidShare",
            "given twice",
        ),
        (
            json!({"shares": [old[0], "not a share"], "new_shares": 3, "new_threshold": 2}),
            "InvalidShare",
            "share 2",
        ),
        (
            json!({"shares": [old[0], forge_share(&old[1], 200, &[9u8; 32])], "new_shares": 3, "new_threshold": 2}),
            "InvalidShare",
            "did not reconstruct",
        ),
        (
            json!({"shares": [old[0], old[1]], "new_shares": 3, "new_threshold": 4}),
            "InvalidArgument",
            "--threshold",
        ),
        (
            json!({"shares": [old[0], old[1]], "new_shares": 4, "new_threshold": 1}),
            "InvalidArgument",
            "threshold 1",
        ),
        (
            json!({"shares": [old[0], old[1]], "new_shares": 0, "new_threshold": 0}),
            "InvalidArgument",
            "--threshold",
        ),
        (
            json!({"shares": [old[0], old[1]], "new_shares": 3}),
            "MalformedRequest",
            "new_threshold",
        ),
    ];
    for (body, code, words) in &cases {
        let (st, v) = post(&s, "/v1/sys/rekey", body.clone(), None);
        assert_eq!(st, 400, "{body}: {v}");
        assert_eq!(error_code(st, &v), *code, "{body}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(words), "{body}: {msg}");
        for sh in &old {
            assert!(!msg.contains(&sh[..20]), "the error echoes a share: {msg}");
        }
    }
    // A share from another installation.
    let mut other = Server::production(BIN, TempDir::new("rekey-foreign"), None);
    let foreign = init_and_unseal(&mut other, 1, 1);
    let (st, v) = post(
        &s,
        "/v1/sys/rekey",
        json!({"shares": [old[0], foreign[0]], "new_shares": 3, "new_threshold": 2}),
        None,
    );
    assert_eq!(
        (st, error_code(st, &v)),
        (400, "InvalidShare".to_string()),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("different Strongroom installation"),
        "{v}"
    );
    drop(other);
    let st0 = status(&s);
    assert_eq!(
        (st0["shares"].clone(), st0["threshold"].clone()),
        (json!(3), json!(2))
    );

    // Rekey through the CLI, old shares from a file: 5 new, 3 needed.
    let file = shares_file(&s, "old-shares", &old[1..]);
    let v = cli_json(
        &s,
        &[
            "operator",
            "rekey",
            "--shares",
            "5",
            "--threshold",
            "3",
            "--shares-file",
            &file,
        ],
    );
    let new: Vec<String> = v["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new.len(), 5);
    assert_eq!(v["threshold"], 3);
    assert!(new.iter().all(|n| !old.contains(n)));
    let st1 = status(&s);
    assert_eq!(
        (
            st1["shares"].clone(),
            st1["threshold"].clone(),
            st1["sealed"].clone()
        ),
        (json!(5), json!(3), json!(false))
    );

    // The old shares no longer reconstruct anything: not for rekey, not for generate-root.
    let (st, v) = post(
        &s,
        "/v1/sys/generate-root",
        json!({"shares": old.clone()}),
        None,
    );
    assert_eq!(
        (st, error_code(st, &v)),
        (400, "InvalidShare".to_string()),
        "{v}"
    );

    // Seal; the old shares do not unseal; the new ones do (piped on stdin).
    cli_ok(&s, &["operator", "seal"]);
    for sh in &old[..2] {
        cli_ok(&s, &["operator", "unseal", sh]);
    }
    let err = cli_err(&s, &["operator", "unseal", &old[2]]);
    assert!(
        err.contains("InvalidShare") && err.contains("did not reconstruct"),
        "{err}"
    );
    assert_eq!(status(&s)["sealed"], true);
    for sh in &new[2..] {
        let (code, out, err) = run_with_stdin(
            s.cli().args(["operator", "unseal"]),
            format!("{sh}\n").as_bytes(),
        );
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("warning"), "stdin is not an argument: {err}");
        let _ = out;
    }
    s.wait_health(200);
    assert_eq!(
        cli_ok(&s, &["decrypt", "--ciphertext", ct.trim()]).trim(),
        "kept across a rekey"
    );

    // A restart keeps the new split.
    let s = s.restart();
    let file = shares_file(&s, "new-shares", &new[..3]);
    let out = cli_ok(&s, &["operator", "unseal", "--shares-file", &file]);
    assert!(out.contains("Unsealed"), "{out}");
    s.wait_health(200);

    // Audited: refusals as errors, the rekey as pending + allowed; no share in the log.
    let audit = audit_text(&s);
    let rekeys: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r.to_string().contains("strongroom:Rekey"))
        .collect();
    let count = |outcome: &str| {
        rekeys
            .iter()
            .filter(|r| {
                r.to_string()
                    .contains(&format!("\"outcome\":\"{outcome}\""))
            })
            .count()
    };
    // 7 refusals by the handler + the foreign share (the missing field is
    // refused before the handler and audited as a bad request).
    assert_eq!(
        (count("error"), count("pending"), count("allowed")),
        (8, 1, 1),
        "{rekeys:?}"
    );
    assert!(
        rekeys
            .iter()
            .any(|r| r.to_string().contains("InvalidShare")),
        "{rekeys:?}"
    );
    for sh in old.iter().chain(&new) {
        assert!(!audit.contains(&sh[..20]), "a share reached the audit log");
        assert!(
            !s.logs().contains(&sh[..20]),
            "a share reached the server log"
        );
    }
    cli_ok(&s, &["audit", "verify"]);
}

#[test]
fn generate_root_replaces_and_revoke_root_retires_the_root_token() {
    let mut s = Server::production(BIN, TempDir::new("genroot"), None);
    let shares = init_and_unseal(&mut s, 3, 2);
    let first_root = s.token.clone();

    // A non-root identity may not revoke the root token.
    cli_ok(&s, &["identity", "create", "ops", "--role", "key-admin"]);
    let t = cli_json(&s, &["token", "create", "--identity", "ops"]);
    let ops = t["token"].as_str().unwrap().to_string();
    let (st, v) = post(&s, "/v1/sys/revoke-root", json!({}), Some(&ops));
    assert_eq!(
        (st, error_code(st, &v)),
        (403, "AccessDenied".to_string()),
        "{v}"
    );
    let (st, v) = post(&s, "/v1/sys/revoke-root", json!({}), None);
    assert_eq!(st, 401, "{v}");
    assert_eq!(key_create_status(&s, &first_root), 200);

    // generate-root: too few, duplicate, bad shares are refused and change nothing.
    let (code, _, err) = run_with_stdin(
        s.cli().args(["operator", "generate-root"]),
        format!("{}\n", shares[0]).as_bytes(),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("InvalidShare") && err.contains("2 of the 3"),
        "{err}"
    );
    let (code, _, err) = run_with_stdin(
        s.cli().args(["operator", "generate-root"]),
        format!("{0}\n{0}\n", shares[0]).as_bytes(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("given twice"), "{err}");
    assert_eq!(
        key_create_status(&s, &first_root),
        200,
        "a refused generate-root changed the root token"
    );

    // A quorum on stdin makes a new root token; the old one stops working.
    let (code, out, err) = run_with_stdin(
        s.cli().args(["-o", "json", "operator", "generate-root"]),
        format!("{}\n{}\n", shares[2], shares[0]).as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_slice(&out).unwrap();
    let second_root = v["root_token"].as_str().unwrap().to_string();
    assert!(second_root.starts_with("sr.") && second_root != first_root);
    assert_eq!(key_create_status(&s, &first_root), 401);
    assert_eq!(key_create_status(&s, &second_root), 200);
    s.token = second_root.clone();

    // Revoke it with itself: every root request then fails, other identities keep working.
    let out = cli_ok(&s, &["operator", "revoke-root"]);
    assert!(
        out.contains("Root token revoked") && out.contains("generate-root"),
        "{out}"
    );
    assert_eq!(key_create_status(&s, &second_root), 401);
    assert_eq!(
        key_create_status(&s, &ops),
        200,
        "key-admin still manages keys"
    );
    let (st, _) = post(&s, "/v1/sys/revoke-root", json!({}), Some(&second_root));
    assert_eq!(st, 401);

    // Revocation survives a restart; generate-root from shares in a file brings one back.
    let mut s = s.restart();
    unseal_http(&s, &shares[..2]);
    assert_eq!(key_create_status(&s, &second_root), 401);
    assert_eq!(key_create_status(&s, &first_root), 401);
    let file = shares_file(&s, "quorum", &shares[1..]);
    s.token = String::new();
    let v = cli_json(&s, &["operator", "generate-root", "--shares-file", &file]);
    let third_root = v["root_token"].as_str().unwrap().to_string();
    assert_eq!(key_create_status(&s, &third_root), 200);
    s.token = third_root.clone();

    // Audited, flagged as root; tokens and shares never logged.
    let audit = audit_text(&s);
    for op in ["strongroom:GenerateRoot", "strongroom:RevokeRoot"] {
        assert!(
            audit
                .lines()
                .any(|l| l.contains(op) && l.contains("\"allowed\"")),
            "{op} not audited"
        );
    }
    assert!(audit
        .lines()
        .any(|l| l.contains("strongroom:RevokeRoot") && l.contains("AccessDenied")));
    for secret in [&first_root, &second_root, &third_root]
        .into_iter()
        .chain(&shares)
    {
        assert!(
            !audit.contains(&secret[..20]),
            "a secret reached the audit log"
        );
        assert!(
            !s.logs().contains(&secret[..20]),
            "a secret reached the server log"
        );
    }
    cli_ok(&s, &["audit", "verify"]);
}

#[test]
fn a_share_as_an_argument_works_with_a_warning() {
    let mut s = Server::production(BIN, TempDir::new("sharearg"), None);
    let v = cli_json(
        &s,
        &["operator", "init", "--shares", "1", "--threshold", "1"],
    );
    s.token = v["root_token"].as_str().unwrap().to_string();
    let share = v["shares"][0].as_str().unwrap().to_string();
    let (code, out, err) = cli(&s, &["operator", "unseal", &share]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Unsealed"), "{out}");
    assert!(
        err.contains("warning: a share given as an argument stays in your shell history"),
        "{err}"
    );
    s.wait_health(200);
    // No share on stdin: a clear error, no request.
    let (code, _, err) = run_with_stdin(s.cli().args(["operator", "unseal"]), b"");
    assert_eq!(code, 1);
    assert!(err.contains("no share was given"), "{err}");
    // A PKCS#11-free server: rekey and generate-root need the current threshold from status.
    let err = cli_err(
        &s,
        &[
            "operator",
            "rekey",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--shares-file",
            "/nonexistent/shares",
        ],
    );
    assert!(err.contains("cannot read --shares-file"), "{err}");

    // The offline (PKCS#11) form refuses a Shamir storage, with the way out.
    let cfg = s.dir.path().join("strongroom.toml").display().to_string();
    let mut s = s;
    s.stop();
    let (code, _, err) = run_cmd(std::process::Command::new(BIN).args([
        "operator",
        "generate-root",
        "--config",
        &cfg,
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("sealed with unseal shares") && err.contains("quorum"),
        "{err}"
    );
}

#[test]
fn offline_generate_root_refuses_while_the_server_listens() {
    // A fixed port in the config, the server running on it.
    let dir = TempDir::new("genroot-running");
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let cfg = dir.path().join("strongroom.toml");
    let db = dir.path().join("strongroom.db");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:{port}\"\nstorage_path = {:?}\ntls_disable = true\n",
            db.display().to_string()
        ),
    )
    .unwrap();
    let mut server = std::process::Command::new(BIN)
        .args(["server", "--config", &cfg.display().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "server did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, _, err) = run_cmd(std::process::Command::new(BIN).args([
        "operator",
        "generate-root",
        "--config",
        &cfg.display().to_string(),
    ]));
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stop the server first"), "{err}");
}

/// Runs `args` on a real pseudo-terminal (scripts/pty-drive.py, which makes
/// it the command's controlling terminal): each `(prompt, line)` is typed
/// after the prompt shows and, unless `echo_ok`, only once the terminal's
/// ECHO flag is off. Returns the exit status and everything the terminal
/// showed.
fn on_a_tty(
    env: &[(&str, &str)],
    typed: &[(&str, &str)],
    echo_ok: bool,
    args: &[&str],
) -> (Option<i64>, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pty-drive.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script);
    if echo_ok {
        cmd.arg("--echo-ok");
    }
    for (prompt, line) in typed {
        cmd.args(["--expect", prompt, "--send", line]);
    }
    cmd.arg("--").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (_, out, err) = run_cmd(&mut cmd);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (
        v["exit"].as_i64(),
        format!("{}{}", v["output"].as_str().unwrap_or_default(), v["error"]),
    )
}

/// Shares typed at a real terminal are not echoed, and they unseal; the
/// same for generate-root's prompts. The control: a prompt that leaves
/// ECHO on shows the typed share, so the check can see an echo.
#[test]
fn shares_typed_at_a_terminal_are_not_echoed() {
    let mut s = Server::production(BIN, TempDir::new("tty"), None);
    let v = cli_json(
        &s,
        &["operator", "init", "--shares", "3", "--threshold", "2"],
    );
    s.token = v["root_token"].as_str().unwrap().to_string();
    let shares: Vec<String> = v["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    let env = [
        ("STRONGROOM_ADDR", s.addr.as_str()),
        ("STRONGROOM_TOKEN", ""),
    ];
    // Any 12 characters of a share on the screen count as an echo.
    let shown = |out: &str, share: &str| {
        share
            .as_bytes()
            .windows(12)
            .any(|w| out.contains(std::str::from_utf8(w).unwrap()))
    };

    // The control: ECHO left on, the typed share is on the screen.
    let (code, out) = on_a_tty(
        &env,
        &[("share: ", shares[0].as_str())],
        true,
        &["sh", "-c", "printf 'share: '; read s; echo"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(shown(&out, &shares[0]), "the control saw no echo: {out}");

    const PROMPT: &str = "Unseal share (input is hidden): ";
    for (i, share) in shares[..2].iter().enumerate() {
        let (code, out) = on_a_tty(
            &env,
            &[(PROMPT, share.as_str())],
            false,
            &[BIN, "operator", "unseal"],
        );
        assert_eq!(code, Some(0), "unseal {i}: {out}");
        assert!(!shown(&out, share), "the share was echoed: {out}");
        assert!(!out.contains("warning"), "{out}");
        let want = if i == 0 { "1 of 2" } else { "Unsealed" };
        assert!(out.contains(want), "unseal {i}: {out}");
    }
    s.wait_health(200);
    assert_eq!(key_create_status(&s, &s.token), 200);

    // A mistyped share at the terminal: refused, not echoed in the error either.
    let typo = format!("{}x", &shares[2][..shares[2].len() - 1]);
    let (code, out) = on_a_tty(
        &env,
        &[
            (
                "Unseal share 1 of 2 (input is hidden): ",
                shares[2].as_str(),
            ),
            ("Unseal share 2 of 2 (input is hidden): ", typo.as_str()),
        ],
        false,
        &[BIN, "operator", "generate-root"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("InvalidShare"), "{out}");
    assert!(!shown(&out, &shares[2]) && !shown(&out, &typo), "{out}");

    // generate-root asks for the threshold, hidden, and makes a new root token.
    let (code, out) = on_a_tty(
        &env,
        &[
            (
                "Unseal share 1 of 2 (input is hidden): ",
                shares[2].as_str(),
            ),
            (
                "Unseal share 2 of 2 (input is hidden): ",
                shares[0].as_str(),
            ),
        ],
        false,
        &[BIN, "operator", "generate-root"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !shown(&out, &shares[2]) && !shown(&out, &shares[0]),
        "{out}"
    );
    assert_eq!(
        key_create_status(&s, &s.token),
        401,
        "the old root token still works after generate-root: {out}"
    );
}
