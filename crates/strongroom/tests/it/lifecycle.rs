//! Production mode on SQLite: init and unseal through the CLI, the sealed
//! server's answers, restart and re-seal, what reaches the database file,
//! and `kill -9` under write load (acknowledged means durable).

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    b64, cli, cli_err, cli_json, cli_ok, error_code, init_and_unseal, run_with_stdin, unb64,
    unseal_http, BIN,
};
use serde_json::{json, Value};
use strongroom_testkit::{Server, TempDir};

fn expect_status(
    s: &Server,
    method: &str,
    path: &str,
    body: Option<&Value>,
    status: u16,
    code: &str,
) {
    let (st, v) = common::http(s, method, path, body, Some(&s.token));
    assert_eq!(st, status, "{method} {path}: {v}");
    assert_eq!(error_code(st, &v), code, "{method} {path}: {v}");
}

/// Every key endpoint answers 503 `Sealed` (or `NotInitialized`).
fn assert_refuses_key_operations(s: &Server, code: &str) {
    let enc = json!({ "key": "alias/app", "plaintext": b64(b"x") });
    let any = json!({ "key": "alias/app" });
    for (method, path, body) in [
        ("GET", "/v1/keys", None),
        ("POST", "/v1/keys", Some(&json!({}))),
        ("GET", "/v1/keys/alias/app", None),
        ("POST", "/v1/encrypt", Some(&enc)),
        (
            "POST",
            "/v1/decrypt",
            Some(&json!({ "ciphertext": "AAAA" })),
        ),
        ("POST", "/v1/rotate", Some(&any)),
        ("POST", "/v1/generate-data-key", Some(&any)),
        ("POST", "/v1/random", Some(&json!({ "number_of_bytes": 4 }))),
        ("GET", "/v1/aliases", None),
        ("POST", "/v1/sys/seal", Some(&json!({}))),
    ] {
        expect_status(s, method, path, body, 503, code);
        // Without a token too: sealed comes first, before authentication.
        let (st, v) = common::http(s, method, path, body, None);
        assert_eq!(st, 503, "{method} {path} without token: {v}");
    }
    assert_eq!(s.request("GET", "/v1/sys/health", None, None).0, 503);
    let (st, v) = s.request("GET", "/v1/sys/seal-status", None, None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sealed"], true);
    let (st, m) = s.request("GET", "/metrics", None, None);
    assert_eq!(st, 200);
    assert!(
        m.as_str()
            .unwrap()
            .lines()
            .any(|l| l == "strongroom_sealed 1"),
        "{m}"
    );
}

fn status(s: &Server) -> Value {
    cli_json(s, &["operator", "status"])
}

/// Changes one character in the middle of a share (keeps it base64url).
fn corrupt(share: &str) -> String {
    let mut b = share.as_bytes().to_vec();
    let i = b.len() / 2;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

fn db_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    let mut found = 0;
    for name in [
        "strongroom.db",
        "strongroom.db-wal",
        "strongroom.db-shm",
        "strongroom.db-journal",
    ] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            found += 1;
            all.extend_from_slice(&b);
        }
    }
    assert!(found >= 1, "no database file in {}", dir.display());
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn init_unseal_restart_seal_through_the_cli() {
    let mut s = Server::production(BIN, TempDir::new("lifecycle"), None);

    // Not initialized yet.
    let st = status(&s);
    assert_eq!(st["initialized"], false);
    assert_eq!(st["storage"], "sqlite");
    assert_refuses_key_operations(&s, "NotInitialized");
    let err = cli_err(&s, &["operator", "unseal", "AAAA"]);
    assert!(err.contains("NotInitialized"), "{err}");
    let err = cli_err(
        &s,
        &["operator", "init", "--shares", "5", "--threshold", "1"],
    );
    assert!(err.contains("InvalidArgument"), "threshold 1 of 5: {err}");
    let err = cli_err(
        &s,
        &["operator", "init", "--shares", "3", "--threshold", "4"],
    );
    assert!(err.contains("InvalidArgument"), "{err}");

    // Init through the CLI.
    let (code, out, err) = cli(
        &s,
        &[
            "-o",
            "json",
            "operator",
            "init",
            "--shares",
            "5",
            "--threshold",
            "3",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let init: Value = serde_json::from_str(&out).unwrap();
    let shares: Vec<String> = init["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(shares.len(), 5);
    let distinct: std::collections::HashSet<&String> = shares.iter().collect();
    assert_eq!(distinct.len(), 5, "shares repeat");
    assert_eq!(init["threshold"], 3);
    s.token = init["root_token"].as_str().unwrap().to_string();
    assert!(
        s.token.starts_with("sr.") && s.token.len() >= 46,
        "root token looks weak"
    );
    let err = cli_err(&s, &["operator", "init"]);
    assert!(err.contains("AlreadyInitialized"), "{err}");

    // Initialized but sealed.
    let st = status(&s);
    assert_eq!(
        (
            st["initialized"].clone(),
            st["sealed"].clone(),
            st["threshold"].clone(),
            st["shares"].clone()
        ),
        (json!(true), json!(true), json!(3), json!(5))
    );
    assert_refuses_key_operations(&s, "Sealed");

    // Two shares: still sealed, progress 2.
    let out = cli_ok(&s, &["operator", "unseal", &shares[0]]);
    assert!(out.contains("Still sealed"), "{out}");
    let v = cli_json(&s, &["operator", "unseal", &shares[1]]);
    assert_eq!(v["sealed"], true);
    assert_eq!(v["progress"], 2);
    assert_refuses_key_operations(&s, "Sealed");
    // The same share again, a corrupted share, a foreign share: rejected, progress kept.
    let err = cli_err(&s, &["operator", "unseal", &shares[1]]);
    assert!(
        err.contains("InvalidShare") && err.contains("already submitted"),
        "{err}"
    );
    let err = cli_err(&s, &["operator", "unseal", &corrupt(&shares[2])]);
    assert!(
        err.contains("InvalidShare") && err.contains("corrupted"),
        "{err}"
    );
    assert!(
        !err.contains(&shares[2][..20]),
        "the error echoes the share"
    );
    let err = cli_err(&s, &["operator", "unseal", "not a share"]);
    assert!(err.contains("InvalidShare"), "{err}");
    let mut other = Server::production(BIN, TempDir::new("foreign"), None);
    let foreign = init_and_unseal(&mut other, 3, 2);
    drop(other);
    let err = cli_err(&s, &["operator", "unseal", &foreign[2]]);
    assert!(
        err.contains("InvalidShare") && err.contains("different"),
        "{err}"
    );
    assert_eq!(status(&s)["progress"], 2);
    assert_eq!(s.get("/v1/sys/health").0, 503);
    // A forged share (right installation and checksum, wrong point) is only
    // caught when the threshold is reached: refused, progress reset.
    let forged = common::forge_share(&shares[0], 200, &[0x5a; 32]);
    let err = cli_err(&s, &["operator", "unseal", &forged]);
    assert!(
        err.contains("InvalidShare") && err.contains("reset"),
        "{err}"
    );
    assert_eq!(status(&s)["progress"], 0);
    assert_refuses_key_operations(&s, "Sealed");
    cli_ok(&s, &["operator", "unseal", &shares[0]]);
    cli_ok(&s, &["operator", "unseal", &shares[1]]);
    assert_eq!(status(&s)["progress"], 2);

    // The third share, from stdin: unsealed.
    let (code, out, err) = run_with_stdin(
        s.cli().args(["operator", "unseal"]),
        format!("{}\n", shares[2]).as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        String::from_utf8_lossy(&out).contains("Unsealed"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    s.wait_health(200);
    let st = status(&s);
    assert_eq!(st["sealed"], false);
    // A share after unsealing is harmless.
    cli_ok(&s, &["operator", "unseal", &shares[3]]);

    // Work: keys, ciphertexts, rotation, signatures.
    let plaintexts: Vec<String> = (0..4)
        .map(|i| format!("LIFECYCLE-PLAINTEXT-{i}-9f3b1c"))
        .collect();
    let aes = cli_json(
        &s,
        &[
            "key",
            "create",
            "--alias",
            "alias/app",
            "--owner",
            "ops",
            "--tag",
            "env=prod",
        ],
    );
    let aes_id = aes["id"].as_str().unwrap().to_string();
    let mut cts = Vec::new();
    for (i, p) in plaintexts.iter().enumerate() {
        if i == 2 {
            cli_ok(&s, &["key", "rotate", "alias/app"]);
        }
        let ct = cli_ok(
            &s,
            &[
                "encrypt",
                "--key",
                "alias/app",
                "--plaintext",
                p,
                "--context",
                "n=1",
            ],
        );
        cts.push(ct.trim().to_string());
    }
    let ecc = cli_json(
        &s,
        &[
            "key",
            "create",
            "--spec",
            "ECC_NIST_P256",
            "--alias",
            "alias/signer",
        ],
    );
    let ecc_id = ecc["id"].as_str().unwrap().to_string();
    let sig = cli_ok(&s, &["sign", "--key", "alias/signer", "--message", "m"]);
    let hmac = cli_json(&s, &["key", "create", "--spec", "HMAC_SHA_256"]);
    let hmac_id = hmac["id"].as_str().unwrap().to_string();
    let mac = cli_ok(&s, &["mac", "--key", &hmac_id, "--message", "m"]);
    let disabled = cli_json(&s, &["key", "create"]);
    let disabled_id = disabled["id"].as_str().unwrap().to_string();
    cli_ok(&s, &["key", "disable", &disabled_id]);
    let pending = cli_json(&s, &["key", "create"]);
    let pending_id = pending["id"].as_str().unwrap().to_string();
    cli_ok(
        &s,
        &["key", "schedule-deletion", &pending_id, "--days", "10"],
    );
    let ids = [&aes_id, &ecc_id, &hmac_id, &disabled_id, &pending_id];
    let describe_all = |s: &Server| -> Vec<Value> {
        ids.iter()
            .map(|id| cli_json(s, &["key", "describe", id]))
            .collect()
    };
    let before = describe_all(&s);
    assert_eq!(before[0]["primary_version"], 2);
    let aliases_before = cli_json(&s, &["alias", "list"]);
    // A data key, whose plaintext must not reach the database either.
    let dk = cli_json(&s, &["data-key", "--key", "alias/app"]);
    let dk_plain = unb64(dk["plaintext"].as_str().unwrap());

    // Nothing secret in the database files (while running, WAL not checkpointed).
    let check_db = |s: &Server| {
        let db = db_bytes(s.dir.path());
        assert!(
            !contains(&db, s.token.as_bytes()),
            "root token in the database"
        );
        for p in &plaintexts {
            assert!(
                !contains(&db, p.as_bytes()),
                "plaintext {p} in the database"
            );
        }
        for sh in &shares {
            assert!(
                !contains(&db, sh.as_bytes()),
                "an unseal share in the database"
            );
        }
        assert!(!contains(&db, &dk_plain), "a data key in the database");
    };
    check_db(&s);

    // Restart: sealed again; unseal with three other shares.
    let mut s = s.restart();
    assert_refuses_key_operations(&s, "Sealed");
    assert_eq!(
        status(&s)["progress"],
        0,
        "unseal progress must not survive a restart"
    );
    for sh in [&shares[4], &shares[3]] {
        cli_ok(&s, &["operator", "unseal", sh]);
    }
    assert_eq!(s.get("/v1/sys/health").0, 503);
    cli_ok(&s, &["operator", "unseal", &shares[1]]);
    s.wait_health(200);
    for (ct, p) in cts.iter().zip(&plaintexts) {
        assert_eq!(
            &cli_ok(&s, &["decrypt", "--ciphertext", ct, "--context", "n=1"]),
            p
        );
    }
    assert_eq!(describe_all(&s), before, "metadata changed across restart");
    assert_eq!(cli_json(&s, &["alias", "list"]), aliases_before);
    assert_eq!(
        cli_ok(
            &s,
            &[
                "verify",
                "--key",
                &ecc_id,
                "--message",
                "m",
                "--signature",
                sig.trim()
            ]
        )
        .trim(),
        "valid"
    );
    assert_eq!(
        cli_ok(
            &s,
            &[
                "verify-mac",
                "--key",
                &hmac_id,
                "--message",
                "m",
                "--mac",
                mac.trim()
            ]
        )
        .trim(),
        "valid"
    );
    let back = cli_json(
        &s,
        &[
            "decrypt",
            "--ciphertext",
            dk["ciphertext"].as_str().unwrap(),
        ],
    );
    assert_eq!(unb64(back["plaintext"].as_str().unwrap()), dk_plain);
    let v = cli_json(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--plaintext",
            "after restart",
        ],
    );
    assert_eq!(v["version"], 2);
    let err = cli_err(&s, &["encrypt", "--key", &disabled_id, "--plaintext", "x"]);
    assert!(err.contains("KeyDisabled"), "{err}");
    let err = cli_err(&s, &["encrypt", "--key", &pending_id, "--plaintext", "x"]);
    assert!(err.contains("KeyPendingDeletion"), "{err}");

    // Seal through the CLI: 503 afterwards, then unseal again.
    let (code, out, err) = cli(&s, &["operator", "seal"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Sealed"), "{out}");
    assert_refuses_key_operations(&s, "Sealed");
    let err = cli_err(
        &s,
        &["decrypt", "--ciphertext", &cts[0], "--context", "n=1"],
    );
    assert!(
        err.contains("Sealed") && err.contains("operator unseal"),
        "{err}"
    );
    let err = cli_err(&s, &["operator", "seal"]);
    assert!(err.contains("Sealed"), "{err}");
    for sh in [&shares[2], &shares[0], &shares[4]] {
        cli_ok(&s, &["operator", "unseal", sh]);
    }
    s.wait_health(200);
    assert_eq!(
        cli_ok(
            &s,
            &["decrypt", "--ciphertext", &cts[3], "--context", "n=1"]
        ),
        plaintexts[3]
    );
    assert_eq!(describe_all(&s), before);

    // After a kill -9 too, nothing secret on disk.
    s.kill9();
    check_db(&s);
    let logs = s.logs();
    assert!(logs.contains("TLS is disabled"), "{logs}");
}

// ---------- kill -9 under load ----------

#[derive(Default)]
struct Acks {
    created: Vec<String>,
    /// (key id, primary version reported by the rotation)
    rotated: Vec<(String, u32)>,
    /// (ciphertext base64, plaintext)
    encrypted: Vec<(String, Vec<u8>)>,
    /// Keys whose deletion was scheduled.
    scheduled: Vec<String>,
    /// Answers that were neither success nor a dropped connection.
    unexpected: Vec<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// POSTs JSON; `None` on a transport error (the server was killed).
fn send(
    agent: &ureq::Agent,
    addr: &str,
    token: &str,
    path: &str,
    body: &Value,
) -> Option<(u16, Value)> {
    let mut resp = agent
        .post(&format!("{addr}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(body)
        .ok()?;
    let st = resp.status().as_u16();
    // A body cut off by the kill is a transport error, not an answer.
    let text = resp.body_mut().read_to_string().ok()?;
    Some((st, serde_json::from_str(&text).ok()?))
}

fn load(
    addr: String,
    token: String,
    worker: usize,
    iteration: usize,
    stop: Arc<AtomicBool>,
) -> Acks {
    let agent = agent();
    let mut acks = Acks::default();
    // Keys used for rotation and encryption (never scheduled for deletion).
    let mut pool: Vec<String> = Vec::new();
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let step = n % 6;
        let r = if step == 0 || pool.is_empty() {
            let r = send(
                &agent,
                &addr,
                &token,
                "/v1/keys",
                &json!({ "description": format!("w{worker} i{iteration} n{n}") }),
            );
            if let Some((200, v)) = &r {
                let id = v["id"].as_str().unwrap().to_string();
                acks.created.push(id.clone());
                pool.push(id);
            }
            r
        } else if step == 1 || step == 4 {
            let k = pool[n % pool.len()].clone();
            let r = send(&agent, &addr, &token, "/v1/rotate", &json!({ "key": k }));
            if let Some((200, v)) = &r {
                acks.rotated
                    .push((k, v["primary_version"].as_u64().unwrap() as u32));
            }
            r
        } else if step == 5 && n.is_multiple_of(5) {
            // A key of its own, created and then scheduled for deletion.
            let r = send(
                &agent,
                &addr,
                &token,
                "/v1/keys",
                &json!({ "description": "doomed" }),
            );
            match &r {
                Some((200, v)) => {
                    let id = v["id"].as_str().unwrap().to_string();
                    acks.created.push(id.clone());
                    let r = send(
                        &agent,
                        &addr,
                        &token,
                        "/v1/schedule-deletion",
                        &json!({ "key": id, "pending_window_days": 7 }),
                    );
                    if let Some((200, _)) = &r {
                        acks.scheduled.push(id);
                    }
                    r
                }
                _ => r,
            }
        } else {
            let k = pool[n % pool.len()].clone();
            let pt = format!("kill9 w{worker} i{iteration} n{n}").into_bytes();
            let r = send(
                &agent,
                &addr,
                &token,
                "/v1/encrypt",
                &json!({ "key": k, "plaintext": b64(&pt) }),
            );
            if let Some((200, v)) = &r {
                acks.encrypted
                    .push((v["ciphertext"].as_str().unwrap().to_string(), pt));
            }
            r
        };
        match r {
            None => break, // killed
            Some((200, _)) => {}
            Some((st, v)) => acks.unexpected.push(format!("HTTP {st}: {v}")),
        }
    }
    acks
}

/// Every key on the server, by id.
fn all_keys(s: &Server) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/v1/keys?limit=1000".to_string(),
            Some(c) => format!("/v1/keys?limit=1000&cursor={c}"),
        };
        let (st, v) = s.get(&path);
        assert_eq!(st, 200, "{v}");
        for k in v["keys"].as_array().unwrap() {
            out.insert(k["id"].as_str().unwrap().to_string(), k.clone());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

fn verify_acks(s: &Server, acks: &Acks, iteration: usize) {
    let keys = all_keys(s);
    for id in &acks.created {
        assert!(
            keys.contains_key(id),
            "iteration {iteration}: acknowledged key {id} lost after kill -9"
        );
    }
    for (id, v) in &acks.rotated {
        let k = &keys[id];
        let primary = k["primary_version"].as_u64().unwrap() as u32;
        assert!(
            primary >= *v,
            "iteration {iteration}: key {id} primary {primary} < acknowledged rotation {v}"
        );
        assert!(
            k["versions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["version"] == *v),
            "iteration {iteration}: key {id} lost version {v}"
        );
    }
    for id in &acks.scheduled {
        assert_eq!(
            keys[id]["state"], "PendingDeletion",
            "iteration {iteration}: scheduled deletion of {id} lost"
        );
    }
    for batch in acks.encrypted.chunks(1000) {
        let items: Vec<Value> = batch
            .iter()
            .map(|(c, _)| json!({ "ciphertext": c }))
            .collect();
        let (st, v) = s.post("/v1/batch/decrypt", &json!({ "items": items }));
        assert_eq!(st, 200, "{v}");
        for ((_, pt), r) in batch.iter().zip(v["results"].as_array().unwrap()) {
            let got = r["plaintext"].as_str().unwrap_or_else(|| {
                panic!("iteration {iteration}: acknowledged ciphertext no longer decrypts: {r}")
            });
            assert_eq!(&unb64(got), pt, "iteration {iteration}");
        }
    }
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let started = Instant::now();
    let mut s = Server::production(BIN, TempDir::new("kill9"), None);
    let shares = init_and_unseal(&mut s, 3, 2);
    let mut total = Acks::default();
    let delays_ms = [50u64, 400, 120, 275, 80, 330, 200, 160, 365, 95, 240, 310];
    for (i, delay) in delays_ms.iter().enumerate() {
        if i > 0 {
            s = s.restart();
            unseal_http(&s, &shares[i % 2..i % 2 + 2]);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let (addr, token, stop) = (s.addr.clone(), s.token.clone(), stop.clone());
                std::thread::spawn(move || load(addr, token, w, i, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(*delay));
        s.kill9();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            let a = w.join().unwrap();
            assert!(
                a.unexpected.is_empty(),
                "iteration {i}: unexpected answers under load: {:?}",
                a.unexpected
            );
            total.created.extend(a.created);
            total.rotated.extend(a.rotated);
            total.encrypted.extend(a.encrypted);
            total.scheduled.extend(a.scheduled);
        }
        s = s.restart();
        unseal_http(&s, &shares[1..3]);
        verify_acks(&s, &total, i);
        s.kill9();
    }
    eprintln!(
        "kill -9: {} iterations, {} keys, {} rotations, {} ciphertexts, {} deletions acknowledged and verified in {:?}",
        delays_ms.len(),
        total.created.len(),
        total.rotated.len(),
        total.encrypted.len(),
        total.scheduled.len(),
        started.elapsed()
    );
    assert!(
        total.created.len() >= 16,
        "too little load to mean anything: {} keys",
        total.created.len()
    );
    assert!(
        total.rotated.len() >= 16,
        "too few rotations: {}",
        total.rotated.len()
    );
    assert!(
        total.encrypted.len() >= 16,
        "too few encryptions: {}",
        total.encrypted.len()
    );
    assert!(!total.scheduled.is_empty(), "no deletion was scheduled");
}

#[test]
fn concurrent_rotations_and_alias_races() {
    let mut s = Server::production(BIN, TempDir::new("races"), None);
    let shares = init_and_unseal(&mut s, 3, 2);
    let (st, v) = s.post("/v1/keys", &json!({ "aliases": ["alias/hot"] }));
    assert_eq!(st, 200, "{v}");
    let id = v["id"].as_str().unwrap().to_string();

    // 3 rotators and 2 encryptors on one key at once.
    let mut handles = Vec::new();
    for w in 0..5usize {
        let (addr, token, id) = (s.addr.clone(), s.token.clone(), id.clone());
        handles.push(std::thread::spawn(move || {
            let agent = agent();
            let mut seen: Vec<(u16, Value)> = Vec::new();
            let mut cts: Vec<(String, u32, Vec<u8>)> = Vec::new();
            for i in 0..15 {
                if w < 3 {
                    seen.push(
                        send(&agent, &addr, &token, "/v1/rotate", &json!({ "key": id }))
                            .expect("server alive"),
                    );
                } else {
                    let pt = format!("race {w} {i}").into_bytes();
                    let (st, v) = send(
                        &agent,
                        &addr,
                        &token,
                        "/v1/encrypt",
                        &json!({ "key": id, "plaintext": b64(&pt) }),
                    )
                    .expect("server alive");
                    assert_eq!(st, 200, "{v}");
                    cts.push((
                        v["ciphertext"].as_str().unwrap().to_string(),
                        v["version"].as_u64().unwrap() as u32,
                        pt,
                    ));
                }
            }
            (seen, cts)
        }));
    }
    let mut rotated_to = Vec::new();
    let mut all_cts = Vec::new();
    for h in handles {
        let (seen, cts) = h.join().unwrap();
        for (st, v) in seen {
            match st {
                200 => rotated_to.push(v["primary_version"].as_u64().unwrap() as u32),
                409 => assert_eq!(error_code(st, &v), "Conflict", "{v}"),
                _ => panic!("concurrent rotate: HTTP {st}: {v}"),
            }
        }
        // One encryptor's versions never go backwards.
        assert!(
            cts.windows(2).all(|w| w[0].1 <= w[1].1),
            "versions went backwards"
        );
        all_cts.extend(cts);
    }
    let mut sorted = rotated_to.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        rotated_to.len(),
        "two rotations reported the same new version: {rotated_to:?}"
    );
    let check = |s: &Server| {
        let (st, k) = s.get(&format!("/v1/keys/{id}"));
        assert_eq!(st, 200);
        let versions: Vec<u64> = k["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = (1..=rotated_to.len() as u64 + 1).collect();
        assert_eq!(
            versions, expected,
            "versions are not 1..=N without gaps or repeats"
        );
        assert_eq!(
            k["primary_version"].as_u64().unwrap(),
            rotated_to.len() as u64 + 1
        );
        for (ct, version, pt) in &all_cts {
            let (st, v) = s.post("/v1/decrypt", &json!({ "ciphertext": ct }));
            assert_eq!(st, 200, "{v}");
            assert_eq!(v["version"].as_u64().unwrap() as u32, *version);
            assert_eq!(&unb64(v["plaintext"].as_str().unwrap()), pt);
        }
    };
    check(&s);

    // Many creators racing for one alias: exactly one wins.
    let mut handles = Vec::new();
    for _ in 0..6 {
        let (addr, token) = (s.addr.clone(), s.token.clone());
        handles.push(std::thread::spawn(move || {
            send(
                &agent(),
                &addr,
                &token,
                "/v1/keys",
                &json!({ "aliases": ["alias/contested"] }),
            )
            .expect("server alive")
        }));
    }
    let results: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners = results.iter().filter(|(st, _)| *st == 200).count();
    assert_eq!(winners, 1, "{results:?}");
    for (st, v) in results.iter().filter(|(st, _)| *st != 200) {
        assert_eq!(*st, 409, "{v}");
        assert!(
            ["AliasExists", "Conflict"].contains(&error_code(*st, v).as_str()),
            "{v}"
        );
    }
    let (_, aliases) = s.get("/v1/aliases");
    let n = aliases["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["alias"] == "alias/contested")
        .count();
    assert_eq!(n, 1);
    // Losers left no key behind.
    let (_, list) = s.get("/v1/keys?limit=1000");
    assert_eq!(
        list["keys"].as_array().unwrap().len(),
        2,
        "a refused create left a key: {list}"
    );

    let s = s.restart();
    unseal_http(&s, &shares[..2]);
    check(&s);
}
