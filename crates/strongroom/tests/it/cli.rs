//! CLI end to end against a real dev server: the README quickstart, file
//! envelope encryption, key management, the other crypto commands, and the
//! CLI's own error handling. Every CLI run asserts that nothing panicked.

use crate::common;

use std::path::Path;

use common::{
    b64, cli, cli_err, cli_json, cli_ok, pseudo_random, run_cmd, run_with_stdin, unb64, BIN,
};
use serde_json::Value;
use strongroom_testkit::Server;

fn create_key(s: &Server, extra: &[&str]) -> Value {
    let mut args = vec!["key", "create"];
    args.extend_from_slice(extra);
    cli_json(s, &args)
}

fn key_id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

/// Lists every file name in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn quickstart_encrypt_rotate_reencrypt() {
    let s = Server::dev(BIN);
    let created = create_key(&s, &["--alias", "alias/app", "--description", "quickstart"]);
    let id = key_id(&created);
    assert_eq!(created["primary_version"], 1);
    assert_eq!(created["aliases"][0], "alias/app");

    let ct = cli_ok(
        &s,
        &["encrypt", "--key", "alias/app", "--plaintext", "hello"],
    );
    let ct = ct.trim().to_string();
    let raw = unb64(&ct);
    assert_eq!(&raw[..2], b"SR", "ciphertext header");
    assert!(!ct.contains("hello"));
    let pt = cli_ok(&s, &["decrypt", "--ciphertext", &ct]);
    assert_eq!(
        pt, "hello",
        "decrypt prints exactly the plaintext when stdout is not a terminal"
    );

    // JSON output shows key id and version.
    let v = cli_json(
        &s,
        &["encrypt", "--key", "alias/app", "--plaintext", "hello"],
    );
    assert_eq!(v["version"], 1);
    assert_eq!(v["key_id"].as_str(), Some(id.as_str()));

    // Rotate: old ciphertext still decrypts, new ones use version 2.
    let rotated = cli_json(&s, &["key", "rotate", "alias/app"]);
    assert_eq!(rotated["primary_version"], 2);
    assert_eq!(rotated["versions"].as_array().unwrap().len(), 2);
    assert_eq!(cli_ok(&s, &["decrypt", "--ciphertext", &ct]), "hello");
    let v2 = cli_json(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--plaintext",
            "hello again",
        ],
    );
    assert_eq!(v2["version"], 2);
    let ct2 = v2["ciphertext"].as_str().unwrap();
    let d = cli_json(&s, &["decrypt", "--ciphertext", ct2]);
    assert_eq!(d["version"], 2);
    assert_eq!(unb64(d["plaintext"].as_str().unwrap()), b"hello again");
    // Table output of rotate is readable.
    let table = cli_ok(&s, &["key", "rotate", &id]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("Primary version") && l.trim_end().ends_with(" 3")),
        "{table}"
    );

    // Decrypt naming the right key works; naming another key is refused.
    assert_eq!(
        cli_ok(&s, &["decrypt", "--key", "alias/app", "--ciphertext", &ct]),
        "hello"
    );
    let other = create_key(&s, &["--alias", "alias/other"]);
    let err = cli_err(
        &s,
        &["decrypt", "--key", "alias/other", "--ciphertext", &ct],
    );
    assert!(err.contains("IncorrectKey"), "{err}");

    // Re-encrypt under another key, with a destination context.
    let re = cli_ok(
        &s,
        &[
            "reencrypt",
            "--ciphertext",
            &ct,
            "--key",
            "alias/other",
            "--destination-context",
            "t=1",
        ],
    );
    let re = re.trim();
    assert_ne!(re, ct);
    let d = cli_json(&s, &["decrypt", "--ciphertext", re, "--context", "t=1"]);
    assert_eq!(d["key_id"], other["id"]);
    assert_eq!(unb64(d["plaintext"].as_str().unwrap()), b"hello");
    let err = cli_err(&s, &["decrypt", "--ciphertext", re]);
    assert!(err.contains("InvalidCiphertext"), "{err}");
    let rj = cli_json(
        &s,
        &["reencrypt", "--ciphertext", &ct, "--key", &key_id(&other)],
    );
    assert_eq!(rj["source_key_id"].as_str(), Some(id.as_str()));
    assert_eq!(rj["source_version"], 1);

    // Context round trip on short ciphertexts; order of --context flags is irrelevant.
    let c = cli_ok(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--plaintext",
            "p",
            "--context",
            "a=1",
            "--context",
            "b=2",
        ],
    );
    assert_eq!(
        cli_ok(
            &s,
            &[
                "decrypt",
                "--ciphertext",
                c.trim(),
                "--context",
                "b=2",
                "--context",
                "a=1"
            ]
        ),
        "p"
    );
    let err = cli_err(
        &s,
        &["decrypt", "--ciphertext", c.trim(), "--context", "a=1"],
    );
    assert!(err.contains("InvalidCiphertext"), "{err}");
}

#[test]
fn file_envelope_round_trip_tamper_and_truncation() {
    let s = Server::dev(BIN);
    create_key(&s, &["--alias", "alias/app"]);
    let dir = s.dir.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let data = pseudo_random(3 * 1024 * 1024 + 17, 0x5eed);
    let f = dir.join("f");
    let enc = dir.join("f.enc");
    let dec = dir.join("f.dec");
    std::fs::write(&f, &data).unwrap();
    let (fp, ep, dp) = (
        f.to_str().unwrap(),
        enc.to_str().unwrap(),
        dec.to_str().unwrap(),
    );

    cli_ok(
        &s,
        &["encrypt", "--key", "alias/app", "--in", fp, "--out", ep],
    );
    let enc_bytes = std::fs::read(&enc).unwrap();
    assert!(
        enc_bytes.len() > data.len(),
        "envelope is larger than the plaintext"
    );
    assert!(enc_bytes.starts_with(b"SRENV"));
    assert!(
        !enc_bytes.windows(64).any(|w| w == &data[1000..1064]),
        "plaintext visible in the envelope file"
    );
    let v = cli_json(&s, &["decrypt", "--in", ep, "--out", dp]);
    assert_eq!(v["bytes"], data.len() as u64);
    assert!(
        std::fs::read(&dec).unwrap() == data,
        "decrypted file differs"
    );
    std::fs::remove_file(&dec).unwrap();

    // With an encryption context: needed again to decrypt.
    let encc = dir.join("fc.enc");
    let ecp = encc.to_str().unwrap();
    cli_ok(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--context",
            "a=b",
            "--in",
            fp,
            "--out",
            ecp,
        ],
    );
    let err = cli_err(&s, &["decrypt", "--in", ecp, "--out", dp]);
    assert!(err.contains("InvalidCiphertext"), "{err}");
    assert!(!dec.exists(), "failed decrypt left an output file");
    let err = cli_err(
        &s,
        &["decrypt", "--context", "a=c", "--in", ecp, "--out", dp],
    );
    assert!(err.contains("InvalidCiphertext"), "{err}");
    cli_ok(
        &s,
        &["decrypt", "--context", "a=b", "--in", ecp, "--out", dp],
    );
    assert!(std::fs::read(&dec).unwrap() == data);
    std::fs::remove_file(&dec).unwrap();

    // `-` for stdin and stdout.
    let (code, piped_enc, err) = run_with_stdin(
        s.cli()
            .args(["encrypt", "--key", "alias/app", "--in", "-", "--out", "-"]),
        &data,
    );
    assert_eq!(code, 0, "{err}");
    assert!(piped_enc.starts_with(b"SRENV"));
    let (code, piped_dec, err) = run_with_stdin(
        s.cli().args(["decrypt", "--in", "-", "--out", "-"]),
        &piped_enc,
    );
    assert_eq!(code, 0, "{err}");
    assert!(piped_dec == data, "stdin/stdout round trip differs");
    // Mixed: file in, stdout out.
    let (code, out, err) = run_with_stdin(s.cli().args(["decrypt", "--in", ep, "--out", "-"]), b"");
    assert_eq!(code, 0, "{err}");
    assert!(out == data);

    let before = names(&dir);
    let no_leftovers = |what: &str| {
        assert!(!dec.exists(), "{what}: failed decrypt left {dp}");
        assert_eq!(
            names(&dir),
            before,
            "{what}: failed decrypt left a file behind"
        );
    };

    // Tampered body: flip one byte in the middle, near the start of the
    // payload, and in the final chunk's tag.
    let total = enc_bytes.len();
    for (i, pos) in [total / 2, total - 40 * 65552, total - 1]
        .into_iter()
        .enumerate()
    {
        let mut bad = enc_bytes.clone();
        bad[pos] ^= 0x01;
        let bp = dir.join(format!("bad{i}.enc"));
        std::fs::write(&bp, &bad).unwrap();
        let (code, out, err) = cli(&s, &["decrypt", "--in", bp.to_str().unwrap(), "--out", dp]);
        assert_ne!(code, 0, "tampered byte {pos} decrypted: {out}");
        assert!(
            err.contains("authentication") || err.contains("modified"),
            "{err}"
        );
        std::fs::remove_file(&bp).unwrap();
        no_leftovers(&format!("tampered at {pos}"));
    }

    // Truncations: inside the last chunk, exactly without the final chunk,
    // at chunk boundaries, mid-chunk, inside the header, empty.
    let chunk_ct = 65536 + 16;
    let header_len = total - 48 * chunk_ct - (17 + 16);
    assert!(
        header_len > 30 && header_len < 1024,
        "unexpected envelope layout: header {header_len}"
    );
    let mut cuts = vec![
        total - 1,
        total - 16,
        total - 33,
        header_len,
        header_len + 1,
        10,
        0,
    ];
    for k in [1usize, 7, 30, 47] {
        cuts.push(header_len + k * chunk_ct);
        cuts.push(header_len + k * chunk_ct - 5);
    }
    for cut in cuts {
        let tp = dir.join("trunc.enc");
        std::fs::write(&tp, &enc_bytes[..cut]).unwrap();
        let (code, out, err) = cli(&s, &["decrypt", "--in", tp.to_str().unwrap(), "--out", dp]);
        assert_ne!(
            code, 0,
            "truncated to {cut} of {total} bytes decrypted: {out}"
        );
        assert!(err.starts_with("error: "), "cut {cut}: {err}");
        std::fs::remove_file(&tp).unwrap();
        no_leftovers(&format!("truncated to {cut}"));
    }
    // A truncated stream on stdin fails too.
    let (code, _, err) = run_with_stdin(
        s.cli().args(["decrypt", "--in", "-", "--out", dp]),
        &piped_enc[..piped_enc.len() - 33],
    );
    assert_ne!(code, 0);
    assert!(err.contains("truncated"), "{err}");
    no_leftovers("truncated stdin");

    // Not an envelope at all.
    let err = cli_err(&s, &["decrypt", "--in", fp, "--out", dp]);
    assert!(err.contains("envelope"), "{err}");
    no_leftovers("plain file");
    // Missing input file.
    let err = cli_err(&s, &["decrypt", "--in", "/nonexistent/x.enc", "--out", dp]);
    assert!(err.contains("/nonexistent/x.enc"), "{err}");
}

#[test]
fn key_management_commands() {
    let s = Server::dev(BIN);
    let id = key_id(&create_key(
        &s,
        &[
            "--alias",
            "alias/app",
            "--owner",
            "team-a",
            "--tag",
            "tier=1",
        ],
    ));

    // list: table and JSON
    let table = cli_ok(&s, &["key", "list"]);
    assert!(table.contains("KEY ID"), "{table}");
    assert!(table.contains(&id), "{table}");
    assert!(table.contains("alias/app"), "{table}");
    let list = cli_json(&s, &["key", "list"]);
    let keys = list["keys"].as_array().unwrap();
    assert!(
        keys.iter().any(|k| k["id"].as_str() == Some(id.as_str())),
        "{list}"
    );
    let filtered = cli_json(&s, &["key", "list", "--owner", "nobody"]);
    assert_eq!(filtered["keys"].as_array().unwrap().len(), 0, "{filtered}");

    // describe, by alias and by id
    let d = cli_json(&s, &["key", "describe", "alias/app"]);
    assert_eq!(d["id"].as_str(), Some(id.as_str()));
    assert_eq!(d["state"], "Enabled");
    assert_eq!(d["owner"], "team-a");
    assert_eq!(d["tags"]["tier"], "1");
    let t = cli_ok(&s, &["key", "describe", &id]);
    assert!(
        t.contains("Key ID") && t.contains(&id) && t.contains("Enabled"),
        "{t}"
    );
    let err = cli_err(&s, &["key", "describe", "alias/missing"]);
    assert!(err.contains("AliasNotFound"), "{err}");

    // update
    let u = cli_json(
        &s,
        &[
            "key",
            "update",
            "alias/app",
            "--owner",
            "X",
            "--tag",
            "env=prod",
        ],
    );
    assert_eq!(u["owner"], "X");
    assert_eq!(u["tags"]["env"], "prod");
    assert_eq!(u["tags"]["tier"], "1");
    let u = cli_json(
        &s,
        &[
            "key",
            "update",
            &id,
            "--remove-tag",
            "tier",
            "--description",
            "d2",
        ],
    );
    assert!(u["tags"].get("tier").is_none(), "{u}");
    assert_eq!(u["description"], "d2");
    assert_eq!(u["owner"], "X");
    let by_tag = cli_json(&s, &["key", "list", "--tag", "env=prod"]);
    assert_eq!(by_tag["keys"].as_array().unwrap().len(), 1);

    // aliases
    let a = cli_json(&s, &["alias", "create", "alias/second", &id]);
    assert!(
        a["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "alias/second"),
        "{a}"
    );
    let al = cli_ok(&s, &["alias", "list"]);
    assert!(al.contains("alias/second") && al.contains(&id), "{al}");
    let alj = cli_json(&s, &["alias", "list"]);
    assert_eq!(alj["aliases"].as_array().unwrap().len(), 2, "{alj}");
    assert!(!cli_ok(
        &s,
        &["encrypt", "--key", "alias/second", "--plaintext", "x"]
    )
    .trim()
    .is_empty());
    let err = cli_err(&s, &["alias", "create", "alias/second", &id]);
    assert!(err.contains("AliasExists"), "{err}");
    cli_ok(&s, &["alias", "delete", "alias/second"]);
    let al = cli_ok(&s, &["alias", "list"]);
    assert!(!al.contains("alias/second"), "{al}");
    let err = cli_err(
        &s,
        &["encrypt", "--key", "alias/second", "--plaintext", "x"],
    );
    assert!(err.contains("AliasNotFound"), "{err}");
    let err = cli_err(&s, &["alias", "delete", "alias/second"]);
    assert!(err.contains("AliasNotFound"), "{err}");

    // disable / enable
    let ct = cli_ok(
        &s,
        &["encrypt", "--key", "alias/app", "--plaintext", "kept"],
    );
    let d = cli_json(&s, &["key", "disable", "alias/app"]);
    assert_eq!(d["state"], "Disabled");
    let err = cli_err(&s, &["encrypt", "--key", "alias/app", "--plaintext", "x"]);
    assert!(err.contains("KeyDisabled"), "{err}");
    assert!(err.contains("strongroom key enable"), "no hint: {err}");
    let err = cli_err(&s, &["decrypt", "--ciphertext", ct.trim()]);
    assert!(err.contains("KeyDisabled"), "{err}");
    let e = cli_json(&s, &["key", "enable", "alias/app"]);
    assert_eq!(e["state"], "Enabled");
    assert_eq!(cli_ok(&s, &["decrypt", "--ciphertext", ct.trim()]), "kept");

    // versions and minimum decryption version
    cli_ok(&s, &["key", "rotate", &id]);
    let err = cli_err(&s, &["key", "disable-version", &id, "2"]);
    assert!(
        err.contains("InvalidKeyState"),
        "primary version disabled: {err}"
    );
    let v = cli_json(&s, &["key", "disable-version", &id, "1"]);
    assert_eq!(v["versions"][0]["state"], "Disabled");
    let err = cli_err(&s, &["decrypt", "--ciphertext", ct.trim()]);
    assert!(
        err.contains("VersionDisabled") && err.contains("enable-version"),
        "{err}"
    );
    cli_ok(&s, &["key", "enable-version", &id, "1"]);
    let m = cli_json(&s, &["key", "set-min-version", &id, "2"]);
    assert_eq!(m["min_decryption_version"], 2);
    let err = cli_err(&s, &["decrypt", "--ciphertext", ct.trim()]);
    assert!(err.contains("VersionBelowMinimum"), "{err}");
    cli_ok(&s, &["key", "set-min-version", &id, "1"]);
    assert_eq!(cli_ok(&s, &["decrypt", "--ciphertext", ct.trim()]), "kept");

    // scheduled deletion
    let err = cli_err(&s, &["key", "schedule-deletion", &id, "--days", "6"]);
    assert!(err.contains("InvalidArgument"), "{err}");
    let err = cli_err(&s, &["key", "schedule-deletion", &id, "--days", "31"]);
    assert!(err.contains("InvalidArgument"), "{err}");
    assert_eq!(
        cli_json(&s, &["key", "describe", &id])["state"],
        "Enabled",
        "a refused change changed nothing"
    );
    let p = cli_json(&s, &["key", "schedule-deletion", &id, "--days", "7"]);
    assert_eq!(p["state"], "PendingDeletion");
    let dd = p["deletion_date"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (dd - now - 7 * 86400).abs() < 600,
        "deletion date {dd} is not now + 7 days ({now})"
    );
    let err = cli_err(&s, &["encrypt", "--key", &id, "--plaintext", "x"]);
    assert!(
        err.contains("KeyPendingDeletion") && err.contains("cancel-deletion"),
        "{err}"
    );
    let c = cli_json(&s, &["key", "cancel-deletion", &id]);
    assert_eq!(c["state"], "Disabled", "cancel leaves the key disabled");
    assert!(c.get("deletion_date").is_none_or(Value::is_null), "{c}");
    let err = cli_err(&s, &["key", "cancel-deletion", &id]);
    assert!(err.contains("InvalidKeyState"), "{err}");
    cli_ok(&s, &["key", "enable", &id]);
    assert_eq!(cli_ok(&s, &["decrypt", "--ciphertext", ct.trim()]), "kept");
}

#[test]
fn data_keys_random_sign_verify_mac() {
    let s = Server::dev(BIN);
    create_key(&s, &["--alias", "alias/app"]);

    // data keys
    let dk = cli_json(&s, &["data-key", "--key", "alias/app"]);
    let pt = unb64(dk["plaintext"].as_str().unwrap());
    assert_eq!(pt.len(), 32);
    let back = cli_json(
        &s,
        &[
            "decrypt",
            "--ciphertext",
            dk["ciphertext"].as_str().unwrap(),
        ],
    );
    assert_eq!(
        unb64(back["plaintext"].as_str().unwrap()),
        pt,
        "data key ciphertext unwraps to its plaintext"
    );
    let dk = cli_json(
        &s,
        &[
            "data-key",
            "--key",
            "alias/app",
            "--without-plaintext",
            "--bytes",
            "16",
            "--context",
            "f=1",
        ],
    );
    assert!(dk.get("plaintext").is_none(), "{dk}");
    let back = cli_json(
        &s,
        &[
            "decrypt",
            "--ciphertext",
            dk["ciphertext"].as_str().unwrap(),
            "--context",
            "f=1",
        ],
    );
    assert_eq!(unb64(back["plaintext"].as_str().unwrap()).len(), 16);
    let t = cli_ok(&s, &["data-key", "--key", "alias/app"]);
    assert!(t.contains("Ciphertext") && t.contains("Plaintext"), "{t}");
    let err = cli_err(&s, &["data-key", "--key", "alias/app", "--bytes", "0"]);
    assert!(err.contains("InvalidArgument"), "{err}");

    // random
    let r = cli_ok(&s, &["random", "--bytes", "16"]);
    assert_eq!(unb64(&r).len(), 16);
    let r2 = cli_ok(&s, &["random", "--bytes", "16"]);
    assert_ne!(r, r2);
    assert_eq!(
        unb64(cli_json(&s, &["random"])["random"].as_str().unwrap()).len(),
        32
    );
    let err = cli_err(&s, &["random", "--bytes", "5000"]);
    assert!(err.contains("InvalidArgument"), "{err}");

    // sign / verify with three key specs
    let msgfile = s.dir.path().join("msg.txt");
    std::fs::write(&msgfile, b"message to sign").unwrap();
    for spec in ["ECC_NIST_P256", "ED25519", "RSA_2048"] {
        let k = create_key(&s, &["--spec", spec]);
        assert_eq!(k["usage"], "SIGN_VERIFY", "{k}");
        let id = key_id(&k);
        let sig = cli_ok(&s, &["sign", "--key", &id, "--message", "message to sign"]);
        let sig = sig.trim();
        assert!(!unb64(sig).is_empty());
        let out = cli_ok(
            &s,
            &[
                "verify",
                "--key",
                &id,
                "--message",
                "message to sign",
                "--signature",
                sig,
            ],
        );
        assert_eq!(out.trim(), "valid", "{spec}");
        // The same message from a file.
        let out = cli_ok(
            &s,
            &[
                "verify",
                "--key",
                &id,
                "--in",
                msgfile.to_str().unwrap(),
                "--signature",
                sig,
            ],
        );
        assert_eq!(out.trim(), "valid", "{spec}");
        // From stdin.
        let (code, out, err) = run_with_stdin(
            s.cli()
                .args(["verify", "--key", &id, "--in", "-", "--signature", sig]),
            b"message to sign",
        );
        assert_eq!(code, 0, "{spec}: {err}");
        assert_eq!(String::from_utf8_lossy(&out).trim(), "valid");
        let (code, out, err) = cli(
            &s,
            &[
                "verify",
                "--key",
                &id,
                "--message",
                "message to sign!",
                "--signature",
                sig,
            ],
        );
        assert_ne!(code, 0, "{spec}: wrong message verified");
        assert_eq!(out.trim(), "invalid", "{spec}: {err}");
        let j: Value = serde_json::from_str(
            &cli(
                &s,
                &[
                    "-o",
                    "json",
                    "verify",
                    "--key",
                    &id,
                    "--message",
                    "other",
                    "--signature",
                    sig,
                ],
            )
            .1,
        )
        .unwrap();
        assert_eq!(j["valid"], false);
        // Public key as PEM.
        let pem = cli_ok(&s, &["key", "public-key", &id]);
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\n"),
            "{spec}: {pem}"
        );
        assert!(
            pem.trim_end().ends_with("-----END PUBLIC KEY-----"),
            "{spec}: {pem}"
        );
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(unb64(&body).len() > 30, "{spec}: DER too short");
        // Signing with a digest.
        if spec == "ECC_NIST_P256" {
            let digest = b64(&[7u8; 32]);
            let sig = cli_ok(
                &s,
                &["sign", "--key", &id, "--digest", "--message", &digest],
            );
            let out = cli_ok(
                &s,
                &[
                    "verify",
                    "--key",
                    &id,
                    "--digest",
                    "--message",
                    &digest,
                    "--signature",
                    sig.trim(),
                ],
            );
            assert_eq!(out.trim(), "valid");
            let err = cli_err(
                &s,
                &[
                    "sign",
                    "--key",
                    &id,
                    "--digest",
                    "--message",
                    &b64(&[7u8; 31]),
                ],
            );
            assert!(err.contains("InvalidArgument"), "{err}");
        }
    }
    // The AES key has no public key.
    let err = cli_err(&s, &["key", "public-key", "alias/app"]);
    assert!(err.contains("InvalidKeyUsage"), "{err}");
    let err = cli_err(&s, &["sign", "--key", "alias/app", "--message", "m"]);
    assert!(err.contains("InvalidKeyUsage"), "{err}");
    let err = cli_err(&s, &["sign", "--key", "alias/app"]);
    assert!(err.contains("--message"), "{err}");

    // MAC
    let h = key_id(&create_key(&s, &["--spec", "HMAC_SHA_256"]));
    let mac = cli_ok(&s, &["mac", "--key", &h, "--message", "m1"]);
    let mac = mac.trim();
    assert_eq!(unb64(mac).len(), 32);
    assert_eq!(
        cli_ok(
            &s,
            &["verify-mac", "--key", &h, "--message", "m1", "--mac", mac]
        )
        .trim(),
        "valid"
    );
    let (code, out, _) = cli(
        &s,
        &["verify-mac", "--key", &h, "--message", "m2", "--mac", mac],
    );
    assert_ne!(code, 0);
    assert_eq!(out.trim(), "invalid");
    let err = cli_err(&s, &["encrypt", "--key", &h, "--plaintext", "x"]);
    assert!(err.contains("InvalidKeyUsage"), "{err}");
}

#[test]
fn operator_status_and_help() {
    let s = Server::dev(BIN);
    let st = cli_json(&s, &["operator", "status"]);
    assert_eq!(st["initialized"], true);
    assert_eq!(st["sealed"], false);
    let t = cli_ok(&s, &["operator", "status"]);
    assert!(t.contains("Initialized") && t.contains("Sealed"), "{t}");
    // Dev servers are already initialized.
    let err = cli_err(&s, &["operator", "init"]);
    assert!(err.contains("AlreadyInitialized"), "{err}");
    let (code, out, _) = cli(&s, &["--help"]);
    assert_eq!(code, 0);
    for c in [
        "encrypt",
        "decrypt",
        "key",
        "operator",
        "data-key",
        "verify-mac",
    ] {
        assert!(out.contains(c), "--help lacks {c}: {out}");
    }
    let (code, _, err) = cli(&s, &["no-such-command"]);
    assert_eq!(code, 2, "clap usage error: {err}");
}

#[test]
fn cli_errors_are_clear() {
    let s = Server::dev(BIN);
    create_key(&s, &["--alias", "alias/app"]);

    // Unreachable server.
    for args in [
        &["encrypt", "--key", "alias/app", "--plaintext", "x"][..],
        &["operator", "status"][..],
        &["key", "list"][..],
    ] {
        let (code, out, err) = run_cmd(
            s.cli()
                .env("STRONGROOM_ADDR", "http://127.0.0.1:1")
                .args(args),
        );
        assert_eq!(code, 1, "{args:?}: {out} {err}");
        assert!(err.contains("STRONGROOM_ADDR"), "{args:?}: {err}");
        assert!(err.contains("127.0.0.1:1"), "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
    }
    let (code, _, err) = run_cmd(
        s.cli()
            .env("STRONGROOM_ADDR", "127.0.0.1:8200")
            .args(["key", "list"]),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("STRONGROOM_ADDR") && err.contains("http://"),
        "{err}"
    );

    // Bad and missing tokens.
    let (code, _, err) = run_cmd(
        s.cli()
            .env("STRONGROOM_TOKEN", "sr.wrong")
            .args(["key", "list"]),
    );
    assert_eq!(code, 1);
    assert!(err.contains("InvalidToken"), "{err}");
    let (code, _, err) = run_cmd(s.cli().env_remove("STRONGROOM_TOKEN").args(["key", "list"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("Unauthenticated") && err.contains("STRONGROOM_TOKEN"),
        "{err}"
    );
    let (code, _, err) = run_cmd(s.cli().env("STRONGROOM_TOKEN", "").args([
        "encrypt",
        "--key",
        "alias/app",
        "--plaintext",
        "x",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("Unauthenticated"), "{err}");

    // Argument errors.
    let err = cli_err(&s, &["encrypt", "--key", "alias/app"]);
    assert!(err.contains("--plaintext") && err.contains("--in"), "{err}");
    let err = cli_err(&s, &["decrypt"]);
    assert!(err.contains("--ciphertext"), "{err}");
    let err = cli_err(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--plaintext",
            "x",
            "--context",
            "novalue",
        ],
    );
    assert!(
        err.contains("key=value") && err.contains("novalue"),
        "{err}"
    );
    let err = cli_err(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--plaintext",
            "x",
            "--context",
            "a=1",
            "--context",
            "a=2",
        ],
    );
    assert!(err.contains("twice"), "{err}");
    let err = cli_err(&s, &["decrypt", "--ciphertext", "not base64!"]);
    assert!(
        err.contains("InvalidArgument") && err.contains("ciphertext"),
        "{err}"
    );
    let err = cli_err(
        &s,
        &[
            "decrypt",
            "--ciphertext",
            &b64(b"garbage garbage garbage garbage garbage garbage"),
        ],
    );
    assert!(err.contains("InvalidCiphertext"), "{err}");
    let err = cli_err(&s, &["encrypt", "--key", "not-a-key", "--plaintext", "x"]);
    assert!(err.contains("InvalidArgument"), "{err}");
    let err = cli_err(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--plaintext",
            &"x".repeat(5000),
        ],
    );
    assert!(
        err.contains("InvalidArgument") && err.contains("4096"),
        "{err}"
    );
    let err = cli_err(&s, &["key", "create", "--spec", "DES"]);
    assert!(
        err.contains("InvalidArgument") && err.contains("AES_256_GCM"),
        "{err}"
    );
    let err = cli_err(&s, &["key", "create", "--tag", "novalue"]);
    assert!(err.contains("key=value"), "{err}");
    let err = cli_err(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--in",
            "/nonexistent/in",
            "--out",
            s.dir.path().join("never").to_str().unwrap(),
        ],
    );
    assert!(err.contains("/nonexistent/in"), "{err}");
    // Failed file encryptions leave no output and no temporary file.
    let work = s.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let input = work.join("in");
    std::fs::write(&input, b"some data").unwrap();
    let out = work.join("out.enc");
    let (inp, outp) = (input.to_str().unwrap(), out.to_str().unwrap());
    let err = cli_err(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/missing",
            "--in",
            inp,
            "--out",
            outp,
        ],
    );
    assert!(err.contains("AliasNotFound"), "{err}");
    let (code, _, err) = run_cmd(s.cli().env("STRONGROOM_ADDR", "http://127.0.0.1:1").args([
        "encrypt",
        "--key",
        "alias/app",
        "--in",
        inp,
        "--out",
        outp,
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("STRONGROOM_ADDR"), "{err}");
    assert_eq!(
        names(&work),
        vec!["in".to_string()],
        "a failed encryption left files behind"
    );
    // Clap errors (exit 2), not panics.
    let (code, _, err) = cli(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/app",
            "--plaintext",
            "x",
            "--in",
            "f",
            "--out",
            "g",
        ],
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli(&s, &["encrypt", "--key", "alias/app", "--in", "f"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli(&s, &["key", "enable-version", "alias/app", "notanumber"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run_cmd(std::process::Command::new(BIN).args(["server"]));
    assert_eq!(code, 1);
    assert!(err.contains("--config") && err.contains("--dev"), "{err}");
    let (code, _, err) = run_cmd(std::process::Command::new(BIN).args([
        "server",
        "--config",
        "/nonexistent/s.toml",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/s.toml"), "{err}");
}

#[test]
fn closed_stdout_is_not_a_panic() {
    // `strongroom key list | head -0`: stdout closed before output.
    let s = Server::dev(BIN);
    for _ in 0..3 {
        create_key(&s, &[]);
    }
    let mut child = s
        .cli()
        .args(["-o", "json", "key", "list"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    common::assert_no_panic("key list with closed stdout", &err);
    assert_ne!(out.status.code(), Some(101));
}

#[test]

fn json_output_does_not_corrupt_stdout_streams() {
    let s = Server::dev(BIN);
    create_key(&s, &["--alias", "alias/app"]);
    let data = pseudo_random(100_000, 7);
    let (code, enc, err) = run_with_stdin(
        s.cli().args([
            "-o",
            "json",
            "encrypt",
            "--key",
            "alias/app",
            "--in",
            "-",
            "--out",
            "-",
        ]),
        &data,
    );
    assert_eq!(code, 0, "{err}");
    let (code, dec, err) =
        run_with_stdin(s.cli().args(["decrypt", "--in", "-", "--out", "-"]), &enc);
    assert_eq!(
        code, 0,
        "the envelope written to stdout with -o json does not decrypt: {err}"
    );
    assert!(dec == data);
    let (code, clean, err) = run_with_stdin(
        s.cli()
            .args(["encrypt", "--key", "alias/app", "--in", "-", "--out", "-"]),
        &data,
    );
    assert_eq!(code, 0, "{err}");
    let (code, dec, err) = run_with_stdin(
        s.cli()
            .args(["-o", "json", "decrypt", "--in", "-", "--out", "-"]),
        &clean,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        dec.len(),
        data.len(),
        "stdout carries more than the plaintext"
    );
}

#[test]

fn names_are_not_reinterpreted_as_url_syntax() {
    let s = Server::dev(BIN);
    create_key(&s, &["--alias", "alias/app", "--owner", "me"]);
    let (code, out, _) = cli(&s, &["key", "describe", "alias/app#x"]);
    assert_ne!(
        code, 0,
        "`key describe alias/app#x` described another key:\n{out}"
    );
    let (code, _, _) = cli(&s, &["key", "update", "alias/app#x", "--owner", "evil"]);
    assert_ne!(code, 0);
    assert_eq!(
        cli_json(&s, &["key", "describe", "alias/app"])["owner"],
        "me",
        "update through `alias/app#x` changed alias/app"
    );
    let (code, _, _) = cli(&s, &["alias", "delete", "alias/app?x"]);
    assert_ne!(code, 0);
    let al = cli_ok(&s, &["alias", "list"]);
    assert!(
        al.contains("alias/app"),
        "`alias delete alias/app?x` deleted alias/app"
    );
}

/// The README's post-quantum line, and ML-KEM through `strongroom
/// encapsulate` / `decapsulate` (table and JSON output, a version after
/// rotation, and bad input).
#[test]
fn post_quantum_sign_verify_encapsulate_decapsulate() {
    let s = Server::dev(BIN);
    let k = create_key(&s, &["--alias", "alias/pq-sign", "--spec", "ML_DSA_65"]);
    assert_eq!(
        (k["spec"].as_str(), k["usage"].as_str()),
        (Some("ML_DSA_65"), Some("SIGN_VERIFY"))
    );
    let sig = cli_ok(
        &s,
        &[
            "sign",
            "--key",
            "alias/pq-sign",
            "--message",
            "hello, post-quantum",
        ],
    );
    assert_eq!(unb64(sig.trim()).len(), 3309);
    let out = cli_ok(
        &s,
        &[
            "verify",
            "--key",
            "alias/pq-sign",
            "--message",
            "hello, post-quantum",
            "--signature",
            sig.trim(),
        ],
    );
    assert_eq!(out.trim(), "valid");
    let (code, out, _) = cli(
        &s,
        &[
            "verify",
            "--key",
            "alias/pq-sign",
            "--message",
            "hello, quantum",
            "--signature",
            sig.trim(),
        ],
    );
    assert_eq!((code, out.trim()), (1, "invalid"));
    let err = cli_err(
        &s,
        &[
            "sign",
            "--key",
            "alias/pq-sign",
            "--digest",
            "--message",
            &b64(&[0u8; 32]),
        ],
    );
    assert!(err.contains("RAW"), "{err}");

    let k = create_key(&s, &["--alias", "alias/pq-kem", "--spec", "ML_KEM_1024"]);
    assert_eq!(k["usage"], "ENCAPSULATE_DECAPSULATE", "{k}");
    let enc = cli_json(&s, &["encapsulate", "--key", "alias/pq-kem"]);
    let ct = enc["ciphertext"].as_str().unwrap().to_string();
    let ss = enc["shared_secret"].as_str().unwrap().to_string();
    assert_eq!(
        (unb64(&ct).len(), unb64(&ss).len(), enc["version"].as_u64()),
        (1568, 32, Some(1))
    );
    let out = cli_ok(
        &s,
        &["decapsulate", "--key", "alias/pq-kem", "--ciphertext", &ct],
    );
    assert_eq!(out.trim(), ss);
    let table = cli_ok(&s, &["encapsulate", "--key", "alias/pq-kem"]);
    assert!(
        table.contains("Ciphertext:")
            && table.contains("Shared secret:")
            && table.contains("(version 1)"),
        "{table}"
    );
    cli_ok(&s, &["key", "rotate", "alias/pq-kem"]);
    let out = cli_ok(
        &s,
        &[
            "decapsulate",
            "--key",
            "alias/pq-kem",
            "--ciphertext",
            &ct,
            "--version",
            "1",
        ],
    );
    assert_eq!(out.trim(), ss);
    let out = cli_ok(
        &s,
        &["decapsulate", "--key", "alias/pq-kem", "--ciphertext", &ct],
    );
    assert_ne!(
        out.trim(),
        ss,
        "the primary version (2) does not open a version-1 ciphertext"
    );
    let err = cli_err(
        &s,
        &[
            "decapsulate",
            "--key",
            "alias/pq-kem",
            "--ciphertext",
            &b64(&[1u8; 10]),
        ],
    );
    assert!(err.contains("1568"), "{err}");
    let err = cli_err(&s, &["encapsulate", "--key", "alias/pq-sign"]);
    assert!(err.contains("InvalidKeyUsage"), "{err}");
}
