//! Secrets never reach the server log, an error response or CLI stderr.
//! Known canary values (plaintexts, tokens, data keys, unseal shares) are
//! pushed through successes and failures on servers logging at debug level;
//! then every log, error body and CLI stderr is searched for them.

use crate::common;

use std::cell::RefCell;

use common::{b64, run_cmd, unb64, BIN};
use serde_json::{json, Value};
use strongroom_testkit::{Server, TempDir};

const PT: &str = "CANARY-PT-91c2";
const CTX: &str = "CANARY-CTX-77aa";
const BAD_TOKEN: &str = "CANARY-TOKEN-5d1e";

/// Everything that must not leak, and every place it must not leak to.
#[derive(Default)]
struct Canaries {
    /// (label, text) pairs to search for.
    secrets: Vec<(String, String)>,
    /// (what, text) of every error body and every CLI stderr seen.
    outputs: RefCell<Vec<(String, String)>>,
}

impl Canaries {
    fn add(&mut self, label: &str, text: &str) {
        assert!(text.len() >= 8, "canary {label} too short to search for");
        self.secrets.push((label.to_string(), text.to_string()));
    }

    /// A secret byte string in every form a log line could show it.
    fn add_bytes(&mut self, label: &str, b: &[u8]) {
        self.add(&format!("{label} (base64)"), &b64(b));
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        self.add(&format!("{label} (hex)"), &hex);
        self.add(&format!("{label} (HEX)"), &hex.to_uppercase());
        let dbg = format!("{:?}", &b[..8]);
        self.add(&format!("{label} (Debug)"), dbg.trim_end_matches(']'));
        if let Ok(s) = std::str::from_utf8(b) {
            self.add(&format!("{label} (text)"), s);
        }
    }

    fn record(&self, what: impl Into<String>, text: impl Into<String>) {
        self.outputs.borrow_mut().push((what.into(), text.into()));
    }

    /// A request whose error body is recorded.
    fn req(
        &self,
        s: &Server,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let (st, v) = common::http(s, method, path, body, token);
        assert!(st < 500 || st == 503, "{method} {path}: HTTP {st}: {v}");
        if st >= 400 {
            self.record(format!("{method} {path} -> {st}"), v.to_string());
        }
        (st, v)
    }

    fn post(&self, s: &Server, path: &str, body: &Value) -> (u16, Value) {
        self.req(s, "POST", path, Some(body), Some(&s.token))
    }

    fn raw(&self, s: &Server, path: &str, body: &str) -> (u16, Value) {
        let (st, v) = common::http_raw(s, path, "application/json", body.as_bytes());
        assert!(
            (400..500).contains(&st),
            "POST {path} {body:?}: HTTP {st}: {v}"
        );
        self.record(format!("POST {path} raw -> {st}"), v.to_string());
        (st, v)
    }

    /// A CLI run whose stderr is recorded; returns (code, stdout).
    fn cli(&self, cmd: &mut std::process::Command) -> (i32, String) {
        let what = format!("{cmd:?}");
        let (code, out, err) = run_cmd(cmd);
        self.record(format!("stderr of {what}"), err);
        (code, out)
    }

    fn assert_clean(&self, logs: &[(&str, String)]) {
        let outputs = self.outputs.borrow();
        assert!(
            outputs.len() > 10,
            "too few outputs collected: {}",
            outputs.len()
        );
        let mut leaks = Vec::new();
        for (label, secret) in &self.secrets {
            for (where_, text) in logs
                .iter()
                .map(|(a, b)| (*a, b))
                .chain(outputs.iter().map(|(a, b)| (a.as_str(), b)))
            {
                if text.contains(secret.as_str()) {
                    leaks.push(format!("{label} found in {where_}"));
                }
            }
        }
        assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    }
}

fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "{}", r.1);
    r.1
}

#[test]
fn dev_server_secrets_stay_out_of_logs_errors_and_stderr() {
    let s = Server::dev(BIN);
    let mut c = Canaries::default();
    c.add("plaintext", PT);
    c.add("plaintext (base64)", &b64(PT.as_bytes()));
    c.add("root token", &s.token);
    c.add("wrong token", BAD_TOKEN);

    let id = ok(c.post(&s, "/v1/keys", &json!({ "aliases": ["alias/canary"] })))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ctx = json!({ "tenant": CTX });
    let ct = ok(c.post(
        &s,
        "/v1/encrypt",
        &json!({ "key": id, "plaintext": b64(PT.as_bytes()), "context": ctx }),
    ))["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();
    // The one place the plaintext may appear: a successful decrypt.
    let d = ok(c.post(
        &s,
        "/v1/decrypt",
        &json!({ "ciphertext": ct, "context": ctx }),
    ));
    assert_eq!(unb64(d["plaintext"].as_str().unwrap()), PT.as_bytes());

    // Data keys and random bytes are secrets too.
    let dk = ok(c.post(
        &s,
        "/v1/generate-data-key",
        &json!({ "key": id, "context": ctx }),
    ));
    let dk_plain = unb64(dk["plaintext"].as_str().unwrap());
    c.add_bytes("data key", &dk_plain);
    let dk_ct = dk["ciphertext"].as_str().unwrap().to_string();
    let rnd = ok(c.post(&s, "/v1/random", &json!({ "number_of_bytes": 32 })));
    c.add_bytes("random bytes", &unb64(rnd["random"].as_str().unwrap()));
    // A data key encrypted as a plaintext, then failures around it.
    let dk_ct2 = ok(c.post(
        &s,
        "/v1/encrypt",
        &json!({ "key": id, "plaintext": b64(&dk_plain) }),
    ))["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();

    // Failures: wrong, missing and extra context; tampering; wrong key.
    for bad_ctx in [
        json!({}),
        json!({ "tenant": "other" }),
        json!({ "tenant": CTX, "x": "y" }),
    ] {
        c.post(
            &s,
            "/v1/decrypt",
            &json!({ "ciphertext": ct, "context": bad_ctx }),
        );
        c.post(
            &s,
            "/v1/decrypt",
            &json!({ "ciphertext": dk_ct, "context": bad_ctx }),
        );
    }
    let mut tampered = unb64(&ct);
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    c.post(
        &s,
        "/v1/decrypt",
        &json!({ "ciphertext": b64(&tampered), "context": ctx }),
    );
    let other = ok(c.post(&s, "/v1/keys", &json!({})))["id"]
        .as_str()
        .unwrap()
        .to_string();
    c.post(
        &s,
        "/v1/decrypt",
        &json!({ "ciphertext": ct, "context": ctx, "key": other }),
    );
    c.post(
        &s,
        "/v1/decrypt",
        &json!({ "ciphertext": dk_ct2, "key": other }),
    );
    c.post(
        &s,
        "/v1/reencrypt",
        &json!({ "ciphertext": ct, "destination_key": "alias/nope" }),
    );
    c.post(
        &s,
        "/v1/reencrypt",
        &json!({ "ciphertext": ct, "destination_key": other }),
    );

    // Bad base64 containing the canary, in every base64 field.
    let bad = format!("{PT}!!");
    c.post(&s, "/v1/encrypt", &json!({ "key": id, "plaintext": bad }));
    c.post(&s, "/v1/decrypt", &json!({ "ciphertext": bad }));
    c.post(&s, "/v1/sign", &json!({ "key": id, "message": bad }));
    c.post(
        &s,
        "/v1/batch/encrypt",
        &json!({ "items": [{ "key": id, "plaintext": bad }] }),
    );
    c.post(
        &s,
        "/v1/batch/decrypt",
        &json!({ "items": [{ "ciphertext": bad }] }),
    );
    // Oversized and unusable plaintexts that contain the canary.
    let big = PT.repeat(400);
    c.post(
        &s,
        "/v1/encrypt",
        &json!({ "key": id, "plaintext": b64(big.as_bytes()) }),
    );
    c.post(
        &s,
        "/v1/encrypt",
        &json!({ "key": "alias/missing", "plaintext": b64(PT.as_bytes()) }),
    );
    ok(c.post(&s, "/v1/disable", &json!({ "key": id })));
    c.post(
        &s,
        "/v1/encrypt",
        &json!({ "key": id, "plaintext": b64(PT.as_bytes()), "context": ctx }),
    );
    c.post(
        &s,
        "/v1/decrypt",
        &json!({ "ciphertext": ct, "context": ctx }),
    );
    ok(c.post(&s, "/v1/enable", &json!({ "key": id })));

    // Malformed JSON with the canary in it.
    let pt64 = b64(PT.as_bytes());
    for body in [
        format!("{{\"key\":\"{id}\",\"plaintext\":\"{PT}"),
        format!("{{\"key\":\"{id}\",\"plaintext\":\"{pt64}\""),
        format!("{{\"key\":\"{id}\",\"plaintext\":\"{pt64}\",}}"),
        format!("{{\"key\":\"{id}\",\"plaintext\":\"{pt64}\"}} {PT}"),
        format!("{{\"key\":\"{id}\",\"plaintext\":\"{PT}\\q\"}}"),
        format!("{{\"key\":\"{id}\",\"plaintext\":\"{pt64}\",\"context\":5}}"),
        format!("{{\"key\":\"{id}\",\"plaintext\":\"{pt64}\",\"extra\":\"{PT}\"}}"),
        format!("{{\"key\":\"{id}\",\"plaintext\":\"{pt64}\",\"plaintext\":\"{pt64}\"}}"),
        format!("{{\"key\":5,\"plaintext\":\"{pt64}\"}}"),
        format!("{{\"key\":\"{id}\",\"plaintext\":{PT}}}"),
        format!("[\"{PT}\"]"),
    ] {
        c.raw(&s, "/v1/encrypt", &body);
    }
    c.raw(&s, "/v1/decrypt", &format!("{{\"ciphertext\":\"{ct}\",\"context\":{{\"tenant\":\"{CTX}\"}},\"plaintext\":\"{pt64}\"}}"));

    // Wrong token equal to a canary; the real token on failing requests.
    let enc = json!({ "key": id, "plaintext": b64(PT.as_bytes()) });
    c.req(&s, "POST", "/v1/encrypt", Some(&enc), Some(BAD_TOKEN));
    c.req(&s, "GET", "/v1/keys", None, Some(BAD_TOKEN));
    c.req(&s, "GET", "/v1/keys/alias/nope", None, Some(&s.token));
    // A token pasted into the path: the 404 names the path back to its own
    // caller (not recorded), but the log must not get it.
    let (st, _) = s.request("GET", &format!("/v1/{}", s.token), None, Some(&s.token));
    assert_eq!(st, 404);
    c.req(
        &s,
        "POST",
        "/v1/encrypt",
        Some(&enc),
        Some(&format!("{}x", s.token)),
    );

    // The CLI: failures with canaries on the command line and in the environment.
    let good_ctx = format!("tenant={CTX}");
    let cases: Vec<Vec<&str>> = vec![
        vec!["encrypt", "--key", "alias/missing", "--plaintext", PT],
        vec![
            "encrypt",
            "--key",
            "alias/canary",
            "--plaintext",
            PT,
            "--context",
            "novalue",
        ],
        vec!["decrypt", "--ciphertext", &ct],
        vec!["decrypt", "--ciphertext", &ct, "--context", "tenant=wrong"],
        vec!["decrypt", "--ciphertext", &dk_ct],
        vec![
            "decrypt",
            "--ciphertext",
            &ct,
            "--context",
            &good_ctx,
            "--key",
            &other,
        ],
        vec!["encrypt", "--key", "alias/canary", "--plaintext", &big],
        vec!["decrypt", "--ciphertext", &bad],
        vec!["sign", "--key", "alias/canary", "--message", PT],
        vec!["mac", "--key", "alias/canary", "--message", PT],
        vec![
            "verify-mac",
            "--key",
            "alias/canary",
            "--message",
            PT,
            "--mac",
            "AAAA",
        ],
    ];
    for args in &cases {
        let (code, _) = c.cli(s.cli().args(args));
        assert_ne!(code, 0, "{args:?} should fail");
    }
    let (code, _) = c.cli(s.cli().env("STRONGROOM_TOKEN", BAD_TOKEN).args([
        "encrypt",
        "--key",
        "alias/canary",
        "--plaintext",
        PT,
    ]));
    assert_eq!(code, 1);
    let (code, _) = c.cli(s.cli().env("STRONGROOM_ADDR", "http://127.0.0.1:1").args([
        "encrypt",
        "--key",
        "alias/canary",
        "--plaintext",
        PT,
    ]));
    assert_eq!(code, 1);
    let (code, _) = c.cli(
        s.cli()
            .env("STRONGROOM_ADDR", "https://127.0.0.1:1")
            .args(["key", "list"]),
    );
    assert_eq!(code, 1);
    // Successful CLI runs must not echo secrets on stderr either.
    let (code, out) = c.cli(s.cli().args([
        "decrypt",
        "--ciphertext",
        &ct,
        "--context",
        &format!("tenant={CTX}"),
    ]));
    assert_eq!((code, out.as_str()), (0, PT));
    let (code, _) = c.cli(
        s.cli()
            .args(["-o", "json", "data-key", "--key", "alias/canary"]),
    );
    assert_eq!(code, 0);
    // File envelopes: a tampered file's failure.
    let dir = s.dir.path();
    let f = dir.join("canary.txt");
    std::fs::write(&f, PT.repeat(10_000)).unwrap();
    let enc_path = dir.join("canary.enc");
    let (code, _) = c.cli(s.cli().args([
        "encrypt",
        "--key",
        "alias/canary",
        "--in",
        f.to_str().unwrap(),
        "--out",
        enc_path.to_str().unwrap(),
    ]));
    assert_eq!(code, 0);
    let mut e = std::fs::read(&enc_path).unwrap();
    let n = e.len();
    e[n - 20] ^= 1;
    std::fs::write(&enc_path, &e).unwrap();
    let (code, _) = c.cli(s.cli().args([
        "decrypt",
        "--in",
        enc_path.to_str().unwrap(),
        "--out",
        dir.join("canary.dec").to_str().unwrap(),
    ]));
    assert_ne!(code, 0);

    // ML-KEM: an encapsulated shared secret, through successes and failures
    // of Decapsulate (API and CLI).
    let kem = ok(c.post(&s, "/v1/keys", &json!({ "spec": "ML_KEM_768" })))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let enc = ok(c.post(&s, "/v1/encapsulate", &json!({ "key": kem })));
    c.add_bytes(
        "ML-KEM shared secret",
        &unb64(enc["shared_secret"].as_str().unwrap()),
    );
    let kem_ct = enc["ciphertext"].as_str().unwrap().to_string();
    ok(c.post(
        &s,
        "/v1/decapsulate",
        &json!({ "key": kem, "ciphertext": kem_ct }),
    ));
    for body in [
        json!({ "key": kem, "ciphertext": kem_ct, "version": 9 }),
        json!({ "key": "alias/canary", "ciphertext": kem_ct }),
        json!({ "key": kem, "ciphertext": b64(&[7u8; 40]) }),
    ] {
        let (st, _) = c.post(&s, "/v1/decapsulate", &body);
        assert!((400..500).contains(&st), "{body}");
    }
    let (code, _) = c.cli(
        s.cli()
            .args(["decapsulate", "--key", &kem, "--ciphertext", &kem_ct]),
    );
    assert_eq!(code, 0);
    let (code, _) = c.cli(s.cli().args([
        "decapsulate",
        "--key",
        &kem,
        "--ciphertext",
        &kem_ct,
        "--version",
        "3",
    ]));
    assert_eq!(code, 1);

    let logs = s.logs();
    assert!(
        logs.contains("DEBUG") || logs.contains("INFO"),
        "the server log is empty; nothing was checked:\n{logs}"
    );
    if logs.contains(CTX) {
        eprintln!("note: an encryption-context value appears in the server log (not a secret)");
    }
    c.assert_clean(&[("server log", logs)]);
}

#[test]
fn production_shares_and_root_token_stay_out_of_logs() {
    let mut s = Server::production(BIN, TempDir::new("canary-prod"), None);
    let mut c = Canaries::default();
    c.add("plaintext", PT);
    c.add("wrong token", BAD_TOKEN);

    let (code, out) = c.cli(s.cli().args([
        "-o",
        "json",
        "operator",
        "init",
        "--shares",
        "3",
        "--threshold",
        "2",
    ]));
    assert_eq!(code, 0);
    let init: Value = serde_json::from_str(&out).unwrap();
    let shares: Vec<String> = init["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    s.token = init["root_token"].as_str().unwrap().to_string();
    c.add("root token", &s.token);
    for (i, sh) in shares.iter().enumerate() {
        c.add(&format!("share {i}"), sh);
        // The secret part of a share (the Shamir y value), in case a log
        // prints a share with one character changed or cut short.
        c.add(&format!("share {i} (middle)"), &sh[28..60]);
    }
    // The table form of init prints to stdout only.
    let mut other = Server::production(BIN, TempDir::new("canary-prod2"), None);
    let (code, out) =
        c.cli(
            other
                .cli()
                .args(["operator", "init", "--shares", "3", "--threshold", "2"]),
        );
    assert_eq!(code, 0);
    assert!(out.contains("Root token: sr."), "{out}");
    let foreign = out
        .lines()
        .find_map(|l| l.strip_prefix("Unseal share 1: "))
        .unwrap()
        .to_string();
    c.add("foreign share", &foreign);
    other.kill9();

    // Sealed-state failures with secrets in them.
    let enc = json!({ "key": "alias/x", "plaintext": b64(PT.as_bytes()) });
    c.req(&s, "POST", "/v1/encrypt", Some(&enc), Some(&s.token));
    c.req(&s, "POST", "/v1/encrypt", Some(&enc), Some(BAD_TOKEN));
    let mut corrupted = shares[0].clone().into_bytes();
    corrupted[40] = if corrupted[40] == b'A' { b'B' } else { b'A' };
    let corrupted = String::from_utf8(corrupted).unwrap();
    for bad in [
        corrupted.as_str(),
        &foreign,
        &format!("{}!", shares[0]),
        &shares[0][..40],
    ] {
        let (code, _) = c.cli(s.cli().args(["operator", "unseal", bad]));
        assert_eq!(code, 1);
        c.req(
            &s,
            "POST",
            "/v1/sys/unseal",
            Some(&json!({ "share": bad })),
            None,
        );
    }
    c.raw(
        &s,
        "/v1/sys/unseal",
        &format!("{{\"share\":\"{}", shares[0]),
    );
    c.raw(
        &s,
        "/v1/sys/unseal",
        &format!("{{\"share\":\"{}\",\"x\":1}}", shares[0]),
    );
    c.raw(
        &s,
        "/v1/sys/unseal",
        &format!("{{\"shares\":[\"{}\"]}}", shares[0]),
    );
    let (code, _) = c.cli(s.cli().args(["operator", "unseal", &shares[1]]));
    assert_eq!(code, 0);
    // A forged share reaches the threshold and fails at combination (logged).
    let forged = common::forge_share(&shares[0], 77, &[0x3c; 32]);
    c.add("forged share", &forged);
    c.add("forged share (middle)", &forged[28..60]);
    let (code, _) = c.cli(s.cli().args(["operator", "unseal", &forged]));
    assert_eq!(code, 1, "forged share");
    let (code, _) = c.cli(s.cli().args(["operator", "unseal", &shares[1]]));
    assert_eq!(code, 0);
    let (code, _) = c.cli(s.cli().args(["operator", "unseal", &shares[1]]));
    assert_eq!(code, 1, "duplicate share");
    let (code, _) = c.cli(s.cli().args(["operator", "unseal", &shares[2]]));
    assert_eq!(code, 0);
    s.wait_health(200);

    // Unsealed: token failures, then a restart and unseal from stdin.
    c.req(&s, "GET", "/v1/keys", None, Some(BAD_TOKEN));
    c.req(&s, "GET", "/v1/keys", None, Some(&shares[0]));
    let (code, _) = c.cli(
        s.cli()
            .env("STRONGROOM_TOKEN", &shares[0])
            .args(["key", "list"]),
    );
    assert_eq!(code, 1);
    let (code, _) = c.cli(s.cli().args(["key", "create", "--alias", "alias/x"]));
    assert_eq!(code, 0);
    let (code, _) = c.cli(
        s.cli()
            .args(["encrypt", "--key", "alias/x", "--plaintext", PT]),
    );
    assert_eq!(code, 0);
    let mut s = s.restart();
    for sh in &shares[..2] {
        let (code, _, err) =
            common::run_with_stdin(s.cli().args(["operator", "unseal"]), sh.as_bytes());
        assert_eq!(code, 0, "{err}");
        c.record("stderr of unseal from stdin", err);
    }
    s.wait_health(200);
    let (code, _) = c.cli(s.cli().args(["operator", "seal"]));
    assert_eq!(code, 0);
    let logs = s.logs();
    s.kill9();

    // Every log this installation wrote (both runs).
    let mut all_logs = Vec::new();
    for e in std::fs::read_dir(s.dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("server-")
        {
            all_logs.push(("server log", std::fs::read_to_string(&p).unwrap()));
        }
    }
    assert!(all_logs.len() >= 2, "expected the logs of both runs");
    assert!(
        all_logs.iter().any(|(_, l)| l
            .lines()
            .any(|x| x.contains("WARN") && x.contains("unseal"))),
        "the forged share was not logged; the log path went unchecked"
    );
    assert!(logs.contains("unsealed"), "{logs}");
    c.assert_clean(&all_logs);
}
