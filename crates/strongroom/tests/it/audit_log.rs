//! The audit log of a real production server (security.md 18-19): tampering
//! with the file (delete, modify, re-hash, re-chain, reorder, truncate) is
//! reported at the right index by `GET /v1/audit/verify` and `strongroom
//! audit verify`; no secret reaches the file; an unwritable sink fails
//! closed.

use crate::access_common;
use crate::common;

use std::path::Path;

use access_common::{
    audit_file, call, create_key, denied, encrypt_as_root, fails, identity, ok, production,
    production_with, put_policy, reconfigure, restart_with_config, token_for,
};
use aws_lc_rs::digest;
use common::{b64, cli, error_code};
use serde_json::{json, Value};
use strongroom_testkit::Server;

// ---------------------------------------------------------------------------
// The entry hash, rebuilt from docs/AUDIT.md ("Hash")
// ---------------------------------------------------------------------------

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn put_opt_str(out: &mut Vec<u8>, v: &Value) {
    match v.as_str() {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s.as_bytes());
        }
    }
}

/// `hash = SHA-256(prev || "strongroom-audit-entry-v1" || u64_be(index) || payload)`.
fn entry_hash(entry: &Value) -> String {
    let mut b = unhex(entry["prev"].as_str().unwrap());
    b.extend_from_slice(b"strongroom-audit-entry-v1");
    b.extend_from_slice(&entry["index"].as_u64().unwrap().to_be_bytes());
    if let Some(e) = entry.get("event") {
        b.push(1);
        b.extend_from_slice(&e["time_ms"].as_i64().unwrap().to_be_bytes());
        for f in ["request_id", "identity", "source", "operation"] {
            put_str(&mut b, e[f].as_str().unwrap().as_bytes());
        }
        put_opt_str(&mut b, &e["key_id"]);
        match e["key_version"].as_u64() {
            None => b.push(0),
            Some(v) => {
                b.push(1);
                b.extend_from_slice(&(v as u32).to_be_bytes());
            }
        }
        put_str(&mut b, e["outcome"].as_str().unwrap().as_bytes());
        put_opt_str(&mut b, &e["error_code"]);
        b.push(u8::from(e["root"].as_bool().unwrap()));
        put_opt_str(&mut b, &e["detail"]);
    } else {
        let c = &entry["checkpoint"];
        b.push(2);
        put_str(&mut b, &common::unb64(c["signature"].as_str().unwrap()));
        put_str(&mut b, &common::unb64(c["public_key"].as_str().unwrap()));
    }
    hex(digest::digest(&digest::SHA256, &b).as_ref())
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {line}"))
}

fn read_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "the audit file ends with a full line");
    text.lines().map(str::to_string).collect()
}

/// Rewrites the file in place (same inode: the server keeps appending to it).
fn write_lines(path: &Path, lines: &[String]) -> Vec<u8> {
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    std::fs::write(path, &text).unwrap();
    text.into_bytes()
}

fn verify(s: &Server) -> Value {
    ok(s, "GET", "/v1/audit/verify", None, &s.token)
}

/// Whether the CLI has `audit verify` (another change adds it).
fn cli_has_audit(s: &Server) -> bool {
    let (code, _, _) = cli(s, &["audit", "--help"]);
    code == 0
}

/// Some traffic: allowed, denied and failed requests of several kinds.
fn workload(s: &Server) {
    let k = create_key(s, json!({ "aliases": ["alias/work"] }));
    let ct = encrypt_as_root(s, &k, b"hello", json!({ "a": "b" }));
    ok(
        s,
        "POST",
        "/v1/decrypt",
        Some(&json!({ "ciphertext": ct, "context": { "a": "b" } })),
        &s.token,
    );
    ok(
        s,
        "POST",
        "/v1/rotate",
        Some(&json!({ "key": k })),
        &s.token,
    );
    let t = identity(s, "worker", &["key-user"], &[]);
    denied(
        s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": k, "plaintext": b64(b"x") })),
        &t,
    );
    fails(
        s,
        "GET",
        "/v1/keys/alias/missing",
        None,
        Some(&s.token),
        404,
        "AliasNotFound",
    );
    ok(s, "GET", "/v1/keys", None, &t);
    for i in 0..6 {
        create_key(s, json!({ "description": format!("filler {i}") }));
    }
}

// ---------------------------------------------------------------------------
// security.md 18: tampering
// ---------------------------------------------------------------------------

type Tamper = Box<dyn Fn(&mut Vec<String>) -> (u64, &'static str)>;

/// Positions (= indexes) of the checkpoint lines.
fn checkpoints(lines: &[String]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| parse(l).get("checkpoint").is_some())
        .map(|(i, _)| i)
        .collect()
}

/// Re-hashes lines `from..` so that each is internally consistent and
/// chained to the one before (what an attacker without the signing key
/// can do).
fn rechain(lines: &mut [String], from: usize) {
    let mut prev = if from == 0 {
        "0".repeat(64)
    } else {
        parse(&lines[from - 1])["hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for l in lines.iter_mut().skip(from) {
        let mut e = parse(l);
        e["prev"] = json!(prev);
        let h = entry_hash(&e);
        e["hash"] = json!(h);
        prev = h;
        *l = e.to_string();
    }
}

#[test]
fn tampering_is_reported_at_the_first_bad_index() {
    // A signed checkpoint every 5 events, so the file has several.
    let (s, _share) = production_with("audit-tamper", "audit_checkpoint_every = 5\n");
    workload(&s);
    let path = audit_file(&s);
    let report = verify(&s);
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["events"].as_u64().unwrap() > 20, "{report}");
    assert!(report["checkpoints"].as_u64().unwrap() >= 4, "{report}");
    assert_eq!(report["first_bad_index"], Value::Null);

    // The file is what docs/AUDIT.md describes: every hash can be rebuilt
    // from the documented encoding, and each entry chains to the previous.
    let lines = read_lines(&path);
    let mut prev = "0".repeat(64);
    for (i, l) in lines.iter().enumerate() {
        let e = parse(l);
        assert_eq!(e["index"], json!(i), "{l}");
        assert_eq!(e["prev"], json!(prev), "{l}");
        assert_eq!(e["hash"], json!(entry_hash(&e)), "entry {i}: {l}");
        prev = e["hash"].as_str().unwrap().to_string();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "audit file mode {mode:o}");
    }

    let cps = checkpoints(&lines);
    assert!(cps.len() >= 4, "{cps:?}");
    // An event with a checkpoint after it, and one after the last checkpoint.
    let k = cps[1] - 2;
    assert!(parse(&lines[k]).get("event").is_some());
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "delete a middle line",
            Box::new(move |l| {
                l.remove(k);
                (k as u64, "")
            }),
        ),
        (
            "modify a field (hash left as is)",
            Box::new(move |l| {
                let mut e = parse(&l[k]);
                e["event"]["outcome"] = json!("denied");
                l[k] = e.to_string();
                (k as u64, "")
            }),
        ),
        (
            "modify the key id in place, keeping the JSON spelling",
            Box::new(move |l| {
                let i = l.iter().position(|x| x.contains("\"key_id\":\"")).unwrap();
                let at = l[i].find("\"key_id\":\"").unwrap() + 10;
                let mut b = l[i].clone().into_bytes();
                b[at] = if b[at] == b'a' { b'b' } else { b'a' };
                l[i] = String::from_utf8(b).unwrap();
                (i as u64, "")
            }),
        ),
        (
            "modify a field and recompute its hash",
            Box::new(move |l| {
                let mut e = parse(&l[k]);
                e["event"]["identity"] = json!("nobody");
                e["hash"] = json!(entry_hash(&e));
                l[k] = e.to_string();
                (k as u64, "")
            }),
        ),
        (
            "modify a field and re-chain everything after it",
            Box::new(move |l| {
                let mut e = parse(&l[k]);
                e["event"]["identity"] = json!("nobody");
                l[k] = e.to_string();
                rechain(l, k);
                // The next checkpoint signed the old head.
                (cps[1] as u64, "")
            }),
        ),
        (
            "swap two lines",
            Box::new(move |l| {
                l.swap(k, k + 3);
                (k as u64, "")
            }),
        ),
        (
            "duplicate a line",
            Box::new(move |l| {
                let dup = l[k].clone();
                l.insert(k + 1, dup);
                (k as u64 + 1, "")
            }),
        ),
        (
            "truncate the last three lines",
            Box::new(|l| {
                let n = l.len();
                l.truncate(n - 3);
                ((n - 3) as u64, "truncated")
            }),
        ),
        (
            "truncate everything",
            Box::new(|l| {
                l.clear();
                (0, "truncated")
            }),
        ),
        (
            "rewrite and re-chain the unsigned tail",
            Box::new(|l| {
                let last_cp = *checkpoints(l).last().unwrap();
                let i = last_cp + 1;
                let mut e = parse(&l[i]);
                e["event"]["identity"] = json!("nobody");
                l[i] = e.to_string();
                rechain(l, i);
                (i as u64, "head mismatch")
            }),
        ),
    ];
    let with_cli = cli_has_audit(&s);
    for (name, tamper) in &cases {
        // The case that rewrites the unsigned tail needs one.
        while parse(read_lines(&path).last().unwrap())
            .get("checkpoint")
            .is_some()
        {
            ok(&s, "GET", "/v1/keys", None, &s.token);
        }
        let original = std::fs::read(&path).unwrap();
        let mut lines = read_lines(&path);
        let (want, reason) = tamper(&mut lines);
        let written = write_lines(&path, &lines);

        let r = verify(&s);
        assert_eq!(r["ok"], false, "{name}: not detected: {r}");
        assert_eq!(
            r["first_bad_index"],
            json!(want),
            "{name}: wrong index: {r}"
        );
        if !reason.is_empty() {
            assert!(
                r["reason"].as_str().unwrap_or_default().contains(reason),
                "{name}: reason: {r}"
            );
        }
        if with_cli {
            let (code, out, err) = cli(&s, &["-o", "json", "audit", "verify"]);
            assert_eq!(code, 1, "{name}: CLI exit status\n{out}\n{err}");
            let v: Value = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("{name}: CLI output is not JSON ({e}): {out}"));
            assert_eq!(v["first_bad_index"], json!(want), "{name}: CLI: {v}");
            let (code, out, err) = cli(&s, &["audit", "verify"]);
            assert_eq!(code, 1, "{name}: CLI exit status\n{out}\n{err}");
            assert!(
                out.contains(&format!("index {want}")),
                "{name}: CLI names the index:\n{out}\n{err}"
            );
        }

        // Restore: the original lines plus whatever the server appended
        // since (its writes go to the end of the same file).
        let now = std::fs::read(&path).unwrap();
        assert!(
            now.starts_with(&written),
            "{name}: the file changed under us"
        );
        let mut restored = original.clone();
        restored.extend_from_slice(&now[written.len()..]);
        std::fs::write(&path, &restored).unwrap();
        let r = verify(&s);
        assert_eq!(r["ok"], true, "{name}: restored file: {r}");
    }
    if with_cli {
        let (code, out, err) = cli(&s, &["audit", "verify"]);
        assert_eq!(code, 0, "intact log: {out}\n{err}");
    } else {
        eprintln!("note: `strongroom audit` is not available; CLI checks skipped");
    }
    assert!(!s.logs().contains("panicked"), "{}", s.logs());
}

/// After a restart the server resumes the same chain (verified on open).
#[test]
fn restart_resumes_the_chain() {
    let (s, share) = production("audit-restart");
    workload(&s);
    let before = verify(&s)["entries"].as_u64().unwrap();
    let s = reconfigure(s, &share, "", None);
    create_key(&s, json!({}));
    let r = verify(&s);
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["entries"].as_u64().unwrap() > before, "{r}");
    assert!(!s.logs().contains("panicked"), "{}", s.logs());
}

/// Deletes line `k` of the audit file of a stopped server, restarts it and
/// tries to unseal. Returns (server, HTTP status, body, tampered lines).
fn unseal_on_tampered_log(tag: &str) -> (Server, u16, Value, Vec<String>, usize) {
    let (s, share) = production(tag);
    workload(&s);
    let path = audit_file(&s);
    let mut lines = read_lines(&path);
    let k = lines.len() / 2;
    lines.remove(k);
    let s = restart_with_config(s, "", None);
    write_lines(&path, &lines);
    // Not `call`: this one may answer 500 (see the ignored test below).
    let (st, v) = common::http(
        &s,
        "POST",
        "/v1/sys/unseal",
        Some(&json!({ "share": share })),
        None,
    );
    (s, st, v, lines, k)
}

/// A tampered file keeps the server sealed: it does not go on writing after
/// a broken chain.
#[test]
fn tampered_log_keeps_the_server_sealed() {
    let (s, st, v, lines, _) = unseal_on_tampered_log("audit-tampered-open");
    assert_ne!(st, 200, "unsealed on top of a tampered audit log: {v}");
    error_code(st, &v);
    let (_, status) = call(&s, "GET", "/v1/sys/seal-status", None, None);
    assert_eq!(status["sealed"], true, "{status}");
    fails(&s, "GET", "/v1/keys", None, Some(&s.token), 503, "Sealed");
    assert_eq!(
        read_lines(&audit_file(&s)),
        lines,
        "nothing was appended to the tampered file"
    );
    assert!(!s.logs().contains("panicked"), "{}", s.logs());
}

/// The refusal is a clear, non-500 answer that says what is wrong.
#[test]

fn tampered_log_refusal_is_clear() {
    let (_s, st, v, _, k) = unseal_on_tampered_log("audit-tampered-clear");
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["code"], "AuditTampered", "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("audit") && msg.contains(&k.to_string()),
        "the message names the audit log and index {k}: {v}"
    );
}

// ---------------------------------------------------------------------------
// Canary: no secret in the audit file
// ---------------------------------------------------------------------------

#[test]
fn no_secret_reaches_the_audit_file() {
    let (s, share) = production("audit-canary");
    let k = create_key(&s, json!({ "aliases": ["alias/canary"] }));
    let hk = create_key(&s, json!({ "spec": "HMAC_SHA_256" }));
    put_policy(
        &s,
        json!({
            "name": "canary-crypto",
            "statements": [{
                "effect": "Allow",
                "actions": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
                "resources": ["alias/canary"]
            }]
        }),
    );
    let user = identity(&s, "canary-user", &["key-user"], &["canary-crypto"]);
    let user2 = token_for(&s, "canary-user", Some(3600));
    let ak = ok(
        &s,
        "POST",
        "/v1/access-keys",
        Some(&json!({ "identity": "canary-user" })),
        &s.token,
    );
    let ak_secret = ak["secret_access_key"].as_str().unwrap().to_string();
    assert!(ak_secret.len() >= 20, "{ak}");

    let pt = b"CANARY-PT-3d1f";
    let ctx = json!({ "purpose": "canary" });
    let enc = ok(
        &s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": "alias/canary", "plaintext": b64(pt), "context": ctx })),
        &user,
    );
    let ct = enc["ciphertext"].as_str().unwrap().to_string();
    let dec = ok(
        &s,
        "POST",
        "/v1/decrypt",
        Some(&json!({ "ciphertext": ct, "context": ctx })),
        &user,
    );
    assert_eq!(dec["plaintext"], json!(b64(pt)));
    let re = ok(
        &s,
        "POST",
        "/v1/reencrypt",
        Some(&json!({ "ciphertext": ct, "source_context": ctx, "destination_key": k })),
        &user2,
    );
    let ct2 = re["ciphertext"].as_str().unwrap().to_string();
    let dk = ok(
        &s,
        "POST",
        "/v1/generate-data-key",
        Some(&json!({ "key": k })),
        &user,
    );
    let dk_pt = dk["plaintext"].as_str().unwrap().to_string();
    let dk_ct = dk["ciphertext"].as_str().unwrap().to_string();
    let batch = ok(
        &s,
        "POST",
        "/v1/batch/encrypt",
        Some(&json!({ "items": [{ "key": k, "plaintext": b64(pt) }] })),
        &user,
    );
    let ct3 = batch["results"][0]["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();
    let rnd = ok(
        &s,
        "POST",
        "/v1/random",
        Some(&json!({ "number_of_bytes": 32 })),
        &s.token,
    )["random"]
        .as_str()
        .unwrap()
        .to_string();
    let mac = ok(
        &s,
        "POST",
        "/v1/mac",
        Some(&json!({ "key": hk, "message": b64(pt) })),
        &s.token,
    )["mac"]
        .as_str()
        .unwrap()
        .to_string();
    // Denied and failed requests carrying the canary.
    denied(
        &s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": hk, "plaintext": b64(pt) })),
        &user,
    );
    let fake = "sr.0123456789abcdef.CANARY-FAKE-TOKEN-77";
    let (st, _) = call(&s, "GET", "/v1/keys", None, Some(fake));
    assert_eq!(st, 401);
    let (st, _) = call(
        &s,
        "POST",
        "/v1/encrypt",
        Some(&json!({ "key": "alias/CANARY-PT-3d1f", "plaintext": b64(pt) })),
        Some(&s.token),
    );
    assert_eq!(st, 404);
    // Revoking a token by its value.
    ok(
        &s,
        "POST",
        "/v1/tokens/revoke",
        Some(&json!({ "token_id": user2 })),
        &s.token,
    );

    let r = verify(&s);
    assert_eq!(r["ok"], true, "{r}");
    let text = std::fs::read_to_string(audit_file(&s)).unwrap();
    // It is the right file, and it saw the traffic.
    assert!(text.contains("\"canary-user\""), "{text}");
    assert!(text.contains("kms:Encrypt") && text.contains("kms:GenerateDataKey"));
    assert!(text.contains("\"root\":true"));

    let secret_part = |t: &str| t.rsplit('.').next().unwrap().to_string();
    let mut secrets: Vec<(&str, String)> = vec![
        ("plaintext", String::from_utf8(pt.to_vec()).unwrap()),
        ("plaintext base64", b64(pt)),
        ("plaintext hex", hex(pt)),
        ("user token", user.clone()),
        ("user token secret", secret_part(&user)),
        ("second token", user2.clone()),
        ("second token secret", secret_part(&user2)),
        ("root token", s.token.clone()),
        ("root token secret", secret_part(&s.token)),
        ("fake token secret", "CANARY-FAKE-TOKEN-77".into()),
        ("access key secret", ak_secret.clone()),
        ("data key plaintext", dk_pt.clone()),
        ("data key plaintext hex", hex(&common::unb64(&dk_pt))),
        ("data key ciphertext", dk_ct),
        ("ciphertext", ct),
        ("re-encrypted ciphertext", ct2),
        ("batch ciphertext", ct3),
        ("random bytes", rnd),
        ("mac", mac),
        ("unseal share", share.clone()),
    ];
    // Shorter fragments too: a secret cut in half is still a leak. (Not
    // whole tokens: their first half holds the token id, which is no secret.)
    for (name, v) in secrets.clone() {
        if v.len() >= 24 && !v.starts_with("sr.") {
            secrets.push((name, v[..v.len() / 2].to_string()));
            secrets.push((name, v[v.len() / 2..].to_string()));
        }
    }
    for (name, v) in &secrets {
        assert!(!v.is_empty());
        assert!(
            !text.contains(v.as_str()),
            "the audit file contains the {name} ({v})"
        );
    }
}

// ---------------------------------------------------------------------------
// security.md 19: fail closed
// ---------------------------------------------------------------------------

/// The audit sink is /dev/full (every write fails with ENOSPC). Either the
/// server refuses to unseal, cleanly, or it answers every request 503
/// AuditUnavailable and executes none of them; after a restart with a good
/// sink nothing done during the outage exists.
#[test]
fn unwritable_audit_sink_fails_closed() {
    let (s, share) = production("audit-full");
    let before = create_key(&s, json!({ "aliases": ["alias/before"] }));
    let ct = encrypt_as_root(&s, &before, b"x", json!({}));
    let user = identity(&s, "full-user", &["key-admin"], &[]);
    let root = s.token.clone();
    let good_entries = verify(&s)["entries"].as_u64().unwrap();

    let s = restart_with_config(s, "audit_path = \"/dev/full\"\n", None);
    let (st, v) = call(
        &s,
        "POST",
        "/v1/sys/unseal",
        Some(&json!({ "share": share })),
        None,
    );
    let behaviour;
    if st != 200 {
        // Refused to unseal: clean error, still sealed.
        assert_eq!(st, 503, "unseal with an unwritable audit sink: {v}");
        error_code(st, &v);
        let (_, status) = call(&s, "GET", "/v1/sys/seal-status", None, None);
        assert_eq!(status["sealed"], true, "{status}");
        behaviour = "unseal refused";
    } else {
        // The failed audit write of the unseal itself marks the log failed:
        // health then says 503 so a load balancer stops sending traffic.
        let (hs, hv) = call(&s, "GET", "/v1/sys/health", None, None);
        assert_eq!((hs, &hv["audit_failed"]), (503, &json!(true)), "{hv}");
        behaviour = "unsealed; every request refused with 503 AuditUnavailable";
        let requests: Vec<(&str, &str, Option<Value>, &str)> = vec![
            (
                "POST",
                "/v1/keys",
                Some(json!({ "aliases": ["alias/outage"] })),
                &root,
            ),
            (
                "POST",
                "/v1/keys",
                Some(json!({ "aliases": ["alias/outage2"] })),
                &user,
            ),
            ("GET", "/v1/keys", None, root.as_str()),
            ("GET", "/v1/keys/alias/before", None, user.as_str()),
            (
                "POST",
                "/v1/encrypt",
                Some(json!({ "key": before, "plaintext": b64(b"during outage") })),
                &root,
            ),
            (
                "POST",
                "/v1/decrypt",
                Some(json!({ "ciphertext": ct })),
                &root,
            ),
            (
                "POST",
                "/v1/rotate",
                Some(json!({ "key": before })),
                user.as_str(),
            ),
            (
                "POST",
                "/v1/schedule-deletion",
                Some(json!({ "key": before })),
                &root,
            ),
            (
                "POST",
                "/v1/identities",
                Some(json!({ "name": "outage-user" })),
                &root,
            ),
            (
                "POST",
                "/v1/tokens",
                Some(json!({ "identity": "full-user" })),
                &root,
            ),
            (
                "POST",
                "/v1/identity/disable",
                Some(json!({ "name": "full-user" })),
                &root,
            ),
            // Denied, and unauthenticated, requests cannot be audited either.
            (
                "POST",
                "/v1/encrypt",
                Some(json!({ "key": before, "plaintext": b64(b"x") })),
                &user,
            ),
            ("GET", "/v1/keys", None, "sr.0123456789abcdef.bogus"),
            ("GET", "/v1/audit/verify", None, root.as_str()),
        ];
        for (method, path, body, token) in &requests {
            let (st, v) = call(&s, method, path, body.as_ref(), Some(token));
            assert_eq!(st, 503, "{method} {path} during the outage: {v}");
            assert_eq!(
                error_code(st, &v),
                "AuditUnavailable",
                "{method} {path}: {v}"
            );
        }
        // Still refusing (no recovery by itself, no crash).
        fails(
            &s,
            "GET",
            "/v1/keys",
            None,
            Some(root.as_str()),
            503,
            "AuditUnavailable",
        );
    }
    assert!(!s.logs().contains("panicked"), "{}", s.logs());

    // Back to the default sink: nothing done during the outage exists.
    let s = reconfigure(s, &share, "", Some("audit_path"));
    let keys = ok(&s, "GET", "/v1/keys", None, &root);
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(
        keys.len(),
        1,
        "a key was created during the outage: {keys:?}"
    );
    assert_eq!(keys[0]["id"], json!(before));
    let meta = ok(&s, "GET", "/v1/keys/alias/before", None, &root);
    assert_eq!(meta["state"], "Enabled", "{meta}");
    assert_eq!(
        meta["primary_version"], 1,
        "rotated during the outage: {meta}"
    );
    fails(
        &s,
        "GET",
        "/v1/keys/alias/outage",
        None,
        Some(root.as_str()),
        404,
        "AliasNotFound",
    );
    let ids = ok(&s, "GET", "/v1/identities", None, &root);
    assert!(!ids.to_string().contains("outage-user"), "{ids}");
    let who = ok(&s, "GET", "/v1/identities/full-user", None, &root);
    assert_eq!(who["identity"]["disabled"], false, "{who}");
    assert_eq!(who["tokens"].as_array().unwrap().len(), 1, "{who}");
    // The good log is intact and continues.
    let r = verify(&s);
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["entries"].as_u64().unwrap() > good_entries, "{r}");
    eprintln!("fail-closed behaviour with /dev/full: {behaviour}");
}

/// "Every request, allowed or denied" is recorded: also authenticated
/// requests refused before they reach the guard (malformed body, bad
/// base64, bad query string, unknown endpoint).
#[test]

fn every_authenticated_request_is_audited() {
    let s = access_common::production("audit-every").0;
    let t = identity(&s, "alice", &["key-user"], &[]);
    let count = || access_common::audit_query(&s, "identity=alice", &s.token).len();
    let mut missing = Vec::new();
    for (method, path, body) in [
        (
            "POST",
            "/v1/schedule-deletion",
            Some(json!({ "key": "alias/x", "bogus": 1 })),
        ),
        (
            "POST",
            "/v1/encrypt",
            Some(json!({ "key": "alias/x", "plaintext": "!!!" })),
        ),
        ("GET", "/v1/keys?bogus=1", None),
        ("GET", "/v1/nothing", None),
        (
            "POST",
            "/v1/policies",
            Some(json!({
                "name": "p1",
                "statements": [{ "effect": "Allow", "actions": ["*"], "resources": ["alias/x%2F"] }]
            })),
        ),
    ] {
        let before = count();
        let (st, v) = call(&s, method, path, body.as_ref(), Some(&t));
        assert!((400..500).contains(&st), "{method} {path}: {st} {v}");
        if count() == before {
            missing.push(format!("{method} {path} ({st}) left no audit record"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
