//! The CLI for people (docs/OPERATIONS.md, "CLI output and environment";
//! "File permissions"): RFC 3339 times, AWS spec names, human table widths
//! and `-o wide`, plurals, `decrypt --out` without clobbering, scheme
//! mismatch hints, private files, and the dev server's temp audit log.

use crate::common;

use common::*;
use strongroom_testkit::{Server, TempDir};

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && s.bytes()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

#[test]
fn describe_prints_rfc3339_times() {
    let s = Server::dev(BIN);
    cli_ok(
        &s,
        &[
            "key",
            "create",
            "--alias",
            "alias/times",
            "--expire-at",
            "2031-02-03",
        ],
    );
    let out = cli_ok(&s, &["key", "describe", "alias/times"]);
    assert!(!out.contains("unix"), "{out}");
    let field = |name: &str| -> String {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line:\n{out}"))[name.len()..]
            .trim()
            .to_string()
    };
    assert!(is_rfc3339(&field("Created")), "{out}");
    assert!(is_rfc3339(&field("Next rotation")), "{out}");
    assert_eq!(field("Expiry date"), "2031-02-03T00:00:00Z", "{out}");
    // The version table too.
    let version_row = out
        .lines()
        .find(|l| l.starts_with("1 "))
        .expect("version row");
    assert!(
        version_row.split_whitespace().any(is_rfc3339),
        "{version_row}"
    );
    // JSON keeps the numbers for scripts.
    let v = cli_json(&s, &["key", "describe", "alias/times"]);
    assert!(v["created_at"].is_i64(), "{v}");
}

#[test]
fn aws_spec_names_are_aliases() {
    let s = Server::dev(BIN);
    for (aws, native) in [
        ("SYMMETRIC_DEFAULT", "AES_256_GCM"),
        ("HMAC_256", "HMAC_SHA_256"),
        ("HMAC_512", "HMAC_SHA_512"),
        ("RSA_2048", "RSA_2048"),
        ("ECC_NIST_P256", "ECC_NIST_P256"),
        ("ECC_NIST_EDWARDS25519", "ED25519"),
    ] {
        let v = cli_json(&s, &["key", "create", "--spec", aws]);
        assert_eq!(v["spec"], native, "{aws}: {v}");
    }
    // Over the API too.
    let (st, v) = s.post("/v1/keys", &serde_json::json!({"spec": "HMAC_384"}));
    assert_eq!((st, v["spec"].as_str()), (200, Some("HMAC_SHA_384")), "{v}");
    let err = cli_err(&s, &["key", "create", "--spec", "AES_128"]);
    assert!(
        err.contains("InvalidArgument") && err.contains("AES_256_GCM"),
        "{err}"
    );
}

#[test]
fn tables_keep_a_human_width_unless_wide() {
    let s = Server::dev(BIN);
    let owner = "team-payments-platform-with-a-really-long-owner-name-for-tests";
    cli_ok(
        &s,
        &["key", "create", "--owner", owner, "--purpose", "card data"],
    );
    let narrow = cli_ok(&s, &["inventory"]);
    let wide = cli_ok(&s, &["-o", "wide", "inventory"]);
    let header = narrow.lines().next().unwrap();
    assert!(
        header.contains("KEY ID") && header.contains("NEXT ROTATION"),
        "{narrow}"
    );
    assert!(
        !header.contains("PURPOSE") && !header.contains("USES PER VERSION"),
        "{narrow}"
    );
    assert!(
        wide.lines().next().unwrap().contains("USES PER VERSION"),
        "{wide}"
    );
    assert!(narrow.contains('…') && !narrow.contains(owner), "{narrow}");
    assert!(wide.contains(owner) && wide.contains("card data"), "{wide}");
    let longest = narrow.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest <= 160, "{longest} columns:\n{narrow}");
    let longest_wide = wide.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest_wide > longest, "wide is not wider");
    // -o wide works for other tables, and -o json is unchanged.
    cli_ok(&s, &["-o", "wide", "key", "list"]);
    let v = cli_json(&s, &["inventory"]);
    assert_eq!(v["keys"][0]["owner"], owner);
}

#[test]
fn counts_have_correct_plurals() {
    let s = Server::dev(BIN);
    let out = cli_ok(&s, &["dev", "advance-clock", "--days", "1"]);
    assert!(out.contains("(1 day ahead"), "{out}");
    let out = cli_ok(&s, &["dev", "advance-clock", "--days", "1"]);
    assert!(out.contains("(2 days ahead"), "{out}");
    let file = s.dir.path().join("export.jsonl").display().to_string();
    let out = cli_ok(&s, &["audit", "export", "--out", &file]);
    assert!(out.contains(" records to "), "{out}");
    let out = cli_ok(&s, &["audit", "verify"]);
    assert!(
        out.starts_with("OK: ") && out.contains(" entries verified"),
        "{out}"
    );
}

#[test]
fn decrypt_out_does_not_overwrite_without_force() {
    let s = Server::dev(BIN);
    cli_ok(&s, &["key", "create", "--alias", "alias/files"]);
    let d = s.dir.path();
    let (plain, enc, out) = (d.join("p.bin"), d.join("p.enc"), d.join("out.bin"));
    std::fs::write(&plain, b"the plaintext").unwrap();
    let p = |x: &std::path::Path| x.display().to_string();
    cli_ok(
        &s,
        &[
            "encrypt",
            "--key",
            "alias/files",
            "--in",
            &p(&plain),
            "--out",
            &p(&enc),
        ],
    );
    std::fs::write(&out, b"precious").unwrap();
    let err = cli_err(&s, &["decrypt", "--in", &p(&enc), "--out", &p(&out)]);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("strongroom-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    cli_ok(
        &s,
        &["decrypt", "--in", &p(&enc), "--out", &p(&out), "--force"],
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"the plaintext");
    // A new path needs no --force; --force needs --out.
    cli_ok(
        &s,
        &["decrypt", "--in", &p(&enc), "--out", &p(&d.join("new.bin"))],
    );
    let err = cli_err(&s, &["decrypt", "--ciphertext", "AAAA", "--force"]);
    assert!(err.contains("--force only applies to --out"), "{err}");
}

#[test]
fn an_https_address_to_a_plain_http_server_says_so() {
    let s = Server::dev(BIN);
    let https = s.addr.replace("http://", "https://");
    let (code, out, err) = run_cmd(
        s.cli()
            .env("STRONGROOM_ADDR", &https)
            .args(["operator", "status"]),
    );
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("speaks plain HTTP; use http://"), "{err}");
    assert!(!err.contains(&s.token), "{err}");
}

#[cfg(unix)]
#[test]
fn database_and_audit_files_are_private_and_loose_ones_are_reported() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut s = Server::production(BIN, TempDir::new("modes"), None);
    init_and_unseal(&mut s, 1, 1);
    cli_ok(&s, &["key", "create"]);
    let db = s.dir.path().join("strongroom.db");
    let files = [
        db.clone(),
        s.dir.path().join("strongroom.db-wal"),
        s.dir.path().join("strongroom.db-shm"),
        s.dir.path().join("strongroom.db.audit.jsonl"),
    ];
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    assert!(!s.logs().contains("can be read or written by other users"));
    // Loosened by someone: the next start warns, naming the file and the fix.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = s.restart();
    let logs = s.logs();
    assert!(
        logs.contains("can be read or written by other users")
            && logs.contains(&format!("chmod 600 {}", db.display())),
        "{logs}"
    );
}

#[test]
fn a_dev_server_removes_its_temp_audit_log_on_a_clean_exit() {
    let dir = TempDir::new("devaudit");
    let path = dir.path().to_path_buf();
    let mut s = Server::dev_default_audit(BIN, dir);
    cli_ok(&s, &["key", "create"]);
    let audit_logs = || -> Vec<String> {
        std::fs::read_dir(&path)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("strongroom-dev-") && n.ends_with("-audit.jsonl"))
            .collect()
    };
    assert_eq!(
        audit_logs().len(),
        1,
        "the dev server writes its audit log in TMPDIR"
    );
    assert_eq!(s.terminate(), Some(0));
    assert!(audit_logs().is_empty(), "left behind: {:?}", audit_logs());
    let logs = s.logs();
    assert!(
        logs.contains("removed the dev audit log") && !logs.contains("audit write failed"),
        "{logs}"
    );
}

/// `strongroom bench` is its own crate behind the binary: its help and its
/// usage errors behave as every other command's (0 and 2).
#[test]
fn bench_help_and_usage_errors_exit_as_every_command() {
    let (code, out, _) = run_cmd(std::process::Command::new(BIN).args(["bench", "--help"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Usage: strongroom bench"), "{out}");
    assert!(out.contains("--workload"), "{out}");
    let (code, _, err) = run_cmd(std::process::Command::new(BIN).args(["bench", "--no-such-flag"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");
}
