//! Key lifecycle end to end through the real server and CLI
//! (docs/LIFECYCLE.md): activation and expiry dates, the compromise flow
//! with its exposure report counted against the operations performed,
//! the audited override, `rewrap`, and `inventory` with its filters,
//! formats and the expiry metric.

use crate::common;

use common::{cli, cli_err, cli_json, cli_ok, run_cmd, BIN};
use serde_json::{json, Value};
use strongroom_testkit::Server;

/// Runs `strongroom ARGS` with another identity's token.
fn as_(s: &Server, token: &str, args: &[&str]) -> (i32, String, String) {
    run_cmd(s.cli().env("STRONGROOM_TOKEN", token).args(args))
}

fn as_ok(s: &Server, token: &str, args: &[&str]) -> String {
    let (code, out, err) = as_(s, token, args);
    assert_eq!(code, 0, "strongroom {args:?} failed:\n{out}\n{err}");
    out
}

fn root_http(s: &Server, method: &str, path: &str, body: Option<&Value>) -> Value {
    let (st, v) = common::http(s, method, path, body, Some(&s.token));
    assert!(st < 300, "{method} {path}: {st} {v}");
    v
}

/// An identity with only the given actions on `resource`; returns its token.
fn identity(s: &Server, name: &str, actions: &[&str], resource: &str) -> String {
    root_http(
        s,
        "POST",
        "/v1/policies",
        Some(&json!({
            "name": format!("{name}-policy"),
            "statements": [{ "effect": "Allow", "actions": actions, "resources": [resource] }]
        })),
    );
    root_http(
        s,
        "POST",
        "/v1/identities",
        Some(
            &json!({ "name": name, "roles": ["key-user"], "policies": [format!("{name}-policy")] }),
        ),
    );
    let v = root_http(s, "POST", "/v1/tokens", Some(&json!({ "identity": name })));
    v["token"].as_str().unwrap().to_string()
}

fn create(s: &Server, args: &[&str]) -> String {
    let mut full = vec!["key", "create"];
    full.extend_from_slice(args);
    cli_json(s, &full)["id"].as_str().unwrap().to_string()
}

#[test]
fn dates_make_keys_pre_active_or_decrypt_only() {
    let s = Server::dev(BIN);
    let future = create(&s, &["--activate-at", "2999-01-01T00:00:00Z"]);
    let err = cli_err(&s, &["encrypt", "--key", &future, "--plaintext", "x"]);
    assert!(err.starts_with("error: KeyNotYetActive: "), "{err}");
    assert!(err.contains("2999-01-01T00:00:00Z"), "{err}");
    // Management works before activation; removing the date activates it.
    cli_ok(&s, &["key", "update", &future, "--activate-at", "none"]);
    cli_ok(&s, &["encrypt", "--key", &future, "--plaintext", "x"]);

    // Encrypt before expiry, then move the expiry date into the past.
    let k = create(&s, &["--expire-at", "2999-06-01"]);
    let ct = cli_ok(&s, &["encrypt", "--key", &k, "--plaintext", "kept"]);
    let d = cli_json(
        &s,
        &["key", "update", &k, "--expire-at", "2001-09-09T01:46:40Z"],
    );
    assert_eq!(d["expiry_date"], 1_000_000_000);
    let err = cli_err(&s, &["encrypt", "--key", &k, "--plaintext", "x"]);
    assert!(err.starts_with("error: KeyExpired: "), "{err}");
    assert!(err.contains("2001-09-09T01:46:40Z"), "{err}");
    let err = cli_err(&s, &["data-key", "--key", &k]);
    assert!(err.starts_with("error: KeyExpired: "), "{err}");
    assert_eq!(cli_ok(&s, &["decrypt", "--ciphertext", ct.trim()]), "kept");
    // A signing key past expiry still verifies but no longer signs.
    let sk = create(&s, &["--spec", "ECC_NIST_P256"]);
    let sig = cli_ok(&s, &["sign", "--key", &sk, "--message", "m"]);
    cli_ok(&s, &["key", "update", &sk, "--expire-at", "1000000000"]);
    assert!(
        cli_err(&s, &["sign", "--key", &sk, "--message", "m"]).starts_with("error: KeyExpired: ")
    );
    assert_eq!(
        cli_ok(
            &s,
            &[
                "verify",
                "--key",
                &sk,
                "--message",
                "m",
                "--signature",
                sig.trim()
            ]
        )
        .trim(),
        "valid"
    );
    // Bad input: a clear error, nothing changed.
    let err = cli_err(&s, &["key", "update", &k, "--expire-at", "next tuesday"]);
    assert!(
        err.contains("--expire-at") && err.contains("RFC 3339"),
        "{err}"
    );
    let err = cli_err(
        &s,
        &[
            "key",
            "create",
            "--activate-at",
            "2030-01-01",
            "--expire-at",
            "2029-01-01",
        ],
    );
    assert!(
        err.starts_with("error: InvalidArgument: ") && err.contains("must be after"),
        "{err}"
    );
}

#[test]
fn compromise_reports_exactly_the_uses_performed_and_rewrap_moves_ciphertexts() {
    let s = Server::dev(BIN);
    let key = create(&s, &["--alias", "alias/payments", "--owner", "team-pay"]);
    let alice = identity(
        &s,
        "alice",
        &["kms:Encrypt", "kms:Decrypt"],
        "alias/payments",
    );
    let bob = identity(&s, "bob", &["kms:Encrypt", "kms:Decrypt"], "alias/payments");
    const K: usize = 5;
    const J: usize = 3;
    let mut cts = Vec::new();
    for i in 0..K {
        let ct = as_ok(
            &s,
            &alice,
            &[
                "encrypt",
                "--key",
                "alias/payments",
                "--plaintext",
                &format!("alice-{i}"),
            ],
        );
        cts.push(ct.trim().to_string());
    }
    for i in 0..J {
        let ct = as_ok(
            &s,
            &bob,
            &[
                "encrypt",
                "--key",
                "alias/payments",
                "--plaintext",
                &format!("bob-{i}"),
            ],
        );
        cts.push(ct.trim().to_string());
    }
    // Uses that must not count: a refused request and a metadata read.
    let (code, _, err) = as_(&s, &bob, &["data-key", "--key", "alias/payments"]);
    assert_eq!(code, 1, "bob may not make data keys: {err}");
    cli_ok(&s, &["key", "describe", "alias/payments"]);

    let v = cli_json(
        &s,
        &[
            "key",
            "compromise",
            "alias/payments",
            "--reason",
            "leaked in CI logs",
        ],
    );
    let r = &v["report"];
    assert_eq!(r["compromised_version"], 1);
    assert_eq!(r["new_primary_version"], 2);
    assert_eq!(r["total_uses"], (K + J) as u64, "{r}");
    let by: Vec<(&str, u64)> = r["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["identity"].as_str().unwrap(), i["uses"].as_u64().unwrap()))
        .collect();
    assert_eq!(by, vec![("alice", K as u64), ("bob", J as u64)], "{r}");
    let a = &r["identities"][0];
    assert_eq!(a["operations"]["kms:Encrypt"], K as u64);
    assert_eq!(a["sources"], json!(["127.0.0.1"]));
    assert!(a["first_ms"].as_i64().unwrap() <= a["last_ms"].as_i64().unwrap());
    assert_eq!(v["key"]["versions"][0]["state"], "Compromised");
    assert_eq!(v["key"]["compromises"][0]["reason"], "leaked in CI logs");

    // New encryptions use version 2; old ciphertexts need the audited override.
    let fresh = cli_json(
        &s,
        &["encrypt", "--key", "alias/payments", "--plaintext", "new"],
    );
    assert_eq!(fresh["version"], 2);
    let err = cli_err(&s, &["decrypt", "--ciphertext", &cts[0]]);
    assert!(err.starts_with("error: VersionCompromised: "), "{err}");
    let (code, _, err) = as_(
        &s,
        &alice,
        &["decrypt", "--allow-compromised", "--ciphertext", &cts[0]],
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: AccessDenied: "),
        "alice was not granted the override: {err}"
    );
    assert_eq!(
        cli_ok(
            &s,
            &["decrypt", "--allow-compromised", "--ciphertext", &cts[0]]
        ),
        "alice-0"
    );

    // Rewrap a file of ciphertexts, and single-ciphertext files in place.
    let dir = strongroom_testkit::TempDir::new("rewrap");
    let list = dir.path().join("cts.txt");
    std::fs::write(&list, cts[..6].join("\n") + "\n").unwrap();
    let (code, out, err) = cli(
        &s,
        &[
            "rewrap",
            "--key",
            "alias/payments",
            "--allow-compromised",
            "--ciphertexts",
            list.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("6/6 ciphertexts re-encrypted to version 2"),
        "{err}"
    );
    let new: Vec<&str> = out.lines().collect();
    assert_eq!(new.len(), 6);
    for (i, ct) in new.iter().enumerate() {
        assert_ne!(*ct, cts[i]);
        let d = cli_json(&s, &["decrypt", "--ciphertext", ct]);
        assert_eq!(d["version"], 2);
        let want = if i < K {
            format!("alice-{i}")
        } else {
            format!("bob-{}", i - K)
        };
        assert_eq!(
            common::unb64(d["plaintext"].as_str().unwrap()),
            want.as_bytes()
        );
    }
    let f1 = dir.path().join("one.ct");
    std::fs::write(&f1, format!("{}\n", cts[7])).unwrap();
    cli_ok(
        &s,
        &[
            "rewrap",
            "--key",
            &key,
            "--allow-compromised",
            "--in",
            f1.to_str().unwrap(),
        ],
    );
    let moved = std::fs::read_to_string(&f1).unwrap();
    assert_eq!(
        cli_ok(&s, &["decrypt", "--ciphertext", moved.trim()]),
        "bob-2"
    );
    // Without the override, rewrap stops at the first compromised ciphertext.
    let err = cli_err(
        &s,
        &[
            "rewrap",
            "--key",
            &key,
            "--ciphertexts",
            list.to_str().unwrap(),
        ],
    );
    assert!(
        err.contains("line 1") && err.contains("VersionCompromised"),
        "{err}"
    );

    // The overrides are in the audit log under their own action.
    let q = root_http(
        &s,
        "GET",
        "/v1/audit/query?action=strongroom:DecryptCompromised&outcome=allowed",
        None,
    );
    assert_eq!(q["records"].as_array().unwrap().len(), 1 + 6 + 1);
    let q = root_http(
        &s,
        "GET",
        "/v1/audit/query?action=strongroom:CompromiseKey&outcome=allowed",
        None,
    );
    assert_eq!(q["records"].as_array().unwrap().len(), 1);

    // Table output names the identities; a second compromise of v1 is refused.
    let out = cli_ok(&s, &["key", "compromise", &key, "--reason", "second look"]);
    assert!(
        out.contains("Version 2 of key") && out.contains("new primary version 3"),
        "{out}"
    );
    let err = cli_err(
        &s,
        &[
            "key",
            "compromise",
            &key,
            "--version",
            "1",
            "--reason",
            "again",
        ],
    );
    assert!(
        err.starts_with("error: InvalidKeyState: ") && err.contains("already"),
        "{err}"
    );
    let err = cli_err(&s, &["key", "compromise", &key, "--reason", " "]);
    assert!(err.starts_with("error: InvalidArgument: "), "{err}");
}

#[test]
fn inventory_lists_filters_and_exports() {
    let s = Server::dev(BIN);
    let owned = create(&s, &["--owner", "team-a", "--purpose", "tokens"]);
    let orphan = create(&s, &["--spec", "HMAC_SHA_256"]);
    let in_a_week = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 7 * 86_400)
        .to_string();
    let expiring = create(&s, &["--owner", "team-b", "--expire-at", &in_a_week]);
    let later = create(&s, &["--owner", "team-b", "--activate-at", "2999-01-01"]);
    for _ in 0..3 {
        cli_ok(&s, &["encrypt", "--key", &owned, "--plaintext", "x"]);
    }
    cli_ok(&s, &["key", "rotate", &owned]);
    cli_ok(&s, &["encrypt", "--key", &owned, "--plaintext", "x"]);
    cli_ok(&s, &["mac", "--key", &orphan, "--message", "m"]);

    let v = cli_json(&s, &["inventory"]);
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    let row = keys.iter().find(|k| k["id"] == owned.as_str()).unwrap();
    assert_eq!(row["owner"], "team-a");
    assert_eq!(row["purpose"], "tokens");
    assert_eq!(row["origin"], "GENERATED");
    assert_eq!(row["usage"][0]["uses"], 3);
    assert_eq!(row["usage"][1]["uses"], 1);
    assert!(row["last_used"].as_i64().unwrap() > 1_700_000_000);
    assert!(row["rotated_at"].is_i64());
    let ids = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["inventory"];
        full.extend_from_slice(args);
        cli_json(&s, &full)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&["--no-owner"]), vec![orphan.clone()]);
    assert_eq!(
        ids(&["--owner", "team-b"]),
        vec![expiring.clone(), later.clone()]
    );
    assert_eq!(ids(&["--expiring-within", "30"]), vec![expiring.clone()]);
    assert!(ids(&["--expiring-within", "3"]).is_empty());
    assert_eq!(ids(&["--state", "PreActivation"]), vec![later.clone()]);
    assert_eq!(
        ids(&["--state", "Enabled"]).len(),
        3,
        "the state filter uses the effective state"
    );
    // Overdue needs rotation schedules; without them nothing is overdue.
    assert!(ids(&["--overdue"]).is_empty());
    let err = cli_err(&s, &["inventory", "--state", "Sleeping"]);
    assert!(
        err.starts_with("error: InvalidArgument: ") && err.contains("PreActivation"),
        "{err}"
    );

    let csv = cli_ok(&s, &["inventory", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[0].starts_with("id,owner,purpose,spec,origin,effective_state,created,last_rotated,next_rotation,activation,expiry"), "{csv}");
    let owned_line = lines.iter().find(|l| l.starts_with(&owned)).unwrap();
    assert!(owned_line.ends_with(",v1=3 v2=1"), "{owned_line}");
    // The table shows the main columns; `-o wide` adds the dates and counts.
    let table = cli_ok(&s, &["inventory"]);
    assert!(
        table.starts_with("KEY ID") && table.contains("PreActivation"),
        "{table}"
    );
    let wide = cli_ok(&s, &["-o", "wide", "inventory"]);
    assert!(
        wide.starts_with("KEY ID")
            && wide.contains("ACTIVATION")
            && wide.contains("2999-01-01T00:00:00Z"),
        "{wide}"
    );

    let (st, metrics) = common::http(&s, "GET", "/metrics", None, None);
    assert_eq!(st, 200);
    let text = metrics.as_str().unwrap().to_string();
    assert!(
        text.contains("strongroom_keys_expiring{within_days=\"30\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("strongroom_keys_expired 0\n"), "{text}");
}
