//! `strongroom scan` through the real binary: exit codes, --staged with the
//! installed pre-commit hook refusing a commit, and the baseline.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strongroom")
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("strongroom-scan-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn scan(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .arg("scan")
        .args(args)
        .output()
        .expect("run strongroom")
}

fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git")
}

/// A GitHub-format token with a valid checksum, made at test time.
fn token(seed: u8) -> String {
    let random: String = (0..30)
        .map(|i| {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                [(i * 7 + seed as usize * 13) % 62] as char
        })
        .collect();
    let check = strongroom_scan::checks::base62_crc32(crc32(random.as_bytes()));
    format!("ghp_{random}{check}")
}

/// CRC-32 (IEEE), bitwise: the test does not depend on the crate under test for it.
fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn exit_codes_and_baseline() {
    let dir = tempdir("exit");
    std::fs::write(dir.join("clean.py"), "print('hello')\n").unwrap();
    let o = scan(&dir, &[".", "--exit-code"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let t = token(1);
    std::fs::write(dir.join("app.py"), format!("GH = \"{t}\"\n")).unwrap();
    // findings without --exit-code: 0; with it: 1
    let o = scan(&dir, &["."]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("github-token") && out.contains("app.py:1"),
        "{out}"
    );
    assert!(!out.contains(&t[4..]), "the token is redacted");
    let o = scan(&dir, &[".", "--exit-code", "--format", "sarif"]);
    assert_eq!(o.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sarif json");
    assert_eq!(
        sarif["runs"][0]["results"][0]["properties"]["category"],
        "secret"
    );
    // a baseline accepts it; a new secret is new again
    let o = scan(&dir, &[".", "--write-baseline", "baseline.json"]);
    assert_eq!(o.status.code(), Some(0));
    let b = std::fs::read_to_string(dir.join("baseline.json")).unwrap();
    assert!(!b.contains(&t[4..]));
    let o = scan(&dir, &[".", "--exit-code", "--baseline", "baseline.json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    std::fs::write(dir.join("more.env"), format!("TOKEN={}\n", token(2))).unwrap();
    let o = scan(
        &dir,
        &[
            ".",
            "--exit-code",
            "--baseline",
            "baseline.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["summary"]["new"], 1);
    // errors: exit 2 with a message
    let o = scan(&dir, &["no-such-dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such file"));
    std::fs::write(dir.join("bad.json"), "{}").unwrap();
    let o = scan(&dir, &[".", "--baseline", "bad.json"]);
    assert_eq!(o.status.code(), Some(2));
    let o = scan(&dir, &["--history"]);
    assert_eq!(o.status.code(), Some(2), "not a git repository");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn staged_and_the_pre_commit_hook() {
    let dir = tempdir("hook");
    assert!(git(&dir, &["init", "-q", "-b", "main"]).status.success());
    std::fs::write(dir.join("README"), "hi\n").unwrap();
    git(&dir, &["add", "."]);
    assert!(git(&dir, &["commit", "-qm", "first"]).status.success());
    let o = scan(&dir, &["install-hook"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let hook = std::fs::read_to_string(dir.join(".git/hooks/pre-commit")).unwrap();
    assert!(hook.contains("scan --staged --exit-code"));
    // a clean commit passes the hook
    std::fs::write(dir.join("a.txt"), "fine\n").unwrap();
    git(&dir, &["add", "a.txt"]);
    let o = git(&dir, &["commit", "-qm", "clean"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // a commit adding a secret is refused by the hook
    std::fs::write(dir.join("b.py"), format!("X = 1\nGH = \"{}\"\n", token(3))).unwrap();
    git(&dir, &["add", "b.py"]);
    let o = scan(&dir, &["--staged", "--exit-code"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("b.py:2"));
    let o = git(&dir, &["commit", "-qm", "secret"]);
    assert!(!o.status.success(), "the hook refused the commit");
    // git sends a hook's stdout to its stderr
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(said.contains("github-token"), "{said}");
    // a foreign hook is not overwritten without --force
    std::fs::write(dir.join(".git/hooks/pre-commit"), "#!/bin/sh\nexit 0\n").unwrap();
    let o = scan(&dir, &["install-hook"]);
    assert_eq!(o.status.code(), Some(2));
    let o = scan(&dir, &["install-hook", "--force"]);
    assert_eq!(o.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

/// `strongroom scan --report` against a real dev server: what is filed
/// (fingerprints, no value), the inventory's scan list, PCI DSS 8.6.2 in
/// the compliance report failing then passing once the finding is
/// baselined, bad reports refused with 4xx, and the value nowhere on the
/// server (answers, audit log, server log).
#[test]
fn report_to_the_server_feeds_inventory_and_compliance() {
    use crate::common::{cli_json, cli_ok, http, BIN};
    let s = strongroom_testkit::Server::dev(BIN);
    let dir = tempdir("report");
    let t = token(3);
    std::fs::write(dir.join("app.py"), format!("GH = \"{t}\"\n")).unwrap();
    let report = |extra: &[&str]| {
        let mut c = s.cli();
        c.current_dir(&dir)
            .args(["scan", ".", "--report", "--repository", "payments"])
            .args(extra);
        c.output().expect("run strongroom")
    };
    let o = report(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("reported to") && err.contains("\"payments\": 1 open secret"),
        "{err}"
    );

    let (st, one) = http(&s, "GET", "/v1/scans/payments", None, Some(&s.token));
    assert_eq!(st, 200, "{one}");
    assert_eq!(one["open_secrets"], 1, "{one}");
    assert_eq!(one["findings"][0]["rule"], "github-token");
    assert!(
        one["findings"][0]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("app.py")),
        "{one}"
    );
    assert_eq!(
        one["findings"][0]["fingerprint"].as_str().map(str::len),
        Some(64)
    );
    let inv = cli_ok(&s, &["inventory", "--scans"]);
    assert!(
        inv.contains("payments") && inv.contains("OPEN SECRETS"),
        "{inv}"
    );
    let control = |s: &strongroom_testkit::Server| {
        let r = cli_json(s, &["report", "compliance", "--format", "json"]);
        let body = if r["report"].is_object() {
            &r["report"]
        } else {
            &r
        };
        body["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .find(|c| c["id"] == "8.6.2")
            .cloned()
            .expect("8.6.2 present")
    };
    let c = control(&s);
    assert_eq!(c["status"], "fail", "{c}");
    assert!(c["findings"].to_string().contains("payments"), "{c}");

    // The team accepts the finding into its baseline: 8.6.2 passes.
    let o = report(&["--write-baseline", "b.json"]);
    assert_eq!(o.status.code(), Some(0));
    let o = report(&["--baseline", "b.json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("0 open secret") && err.contains("1 in the baseline"),
        "{err}"
    );
    assert_eq!(control(&s)["status"], "pass");

    // Bad reports: 4xx naming the field, and nothing filed.
    let good = |f: serde_json::Value| serde_json::json!({"repository": "bad", "source": "tree", "findings": [f]});
    let f = serde_json::json!({"fingerprint": "ab".repeat(32), "rule": "r", "category": "secret", "path": "p", "line": 1});
    for (body, says) in [
        (
            good(
                serde_json::json!({"fingerprint": "xyz", "rule": "r", "category": "secret", "path": "p", "line": 1}),
            ),
            "findings[0].fingerprint",
        ),
        (
            good({
                let mut g = f.clone();
                g["value"] = serde_json::json!(t);
                g
            }),
            "value",
        ),
        (
            serde_json::json!({"repository": "", "source": "tree", "findings": []}),
            "repository",
        ),
        (
            serde_json::json!({"repository": "x", "source": "disk", "findings": []}),
            "source",
        ),
    ] {
        let (st, v) = http(&s, "POST", "/v1/scans", Some(&body), Some(&s.token));
        assert_eq!(st, 400, "{v}");
        assert!(v.to_string().contains(says), "{says}: {v}");
        assert!(
            !v.to_string().contains(&t[4..]),
            "the value is not echoed: {v}"
        );
    }
    let (st, _) = http(&s, "POST", "/v1/scans", Some(&good(f.clone())), None);
    assert_eq!(st, 401);
    let (st, v) = http(&s, "GET", "/v1/scans/bad", None, Some(&s.token));
    assert_eq!(st, 404, "{v}");
    let (_, list) = http(&s, "GET", "/v1/scans", None, Some(&s.token));
    assert_eq!(list["scans"].as_array().map(Vec::len), Some(1), "{list}");

    // The value is nowhere on the server.
    let audit = cli_ok(&s, &["audit", "query"]);
    assert!(audit.contains("strongroom:ReportScan"), "{audit}");
    for (what, text) in [
        ("audit", audit),
        ("server log", s.logs()),
        ("answers", one.to_string()),
    ] {
        assert!(!text.contains(&t[4..]), "the token reached the {what}");
    }
}

/// `strongroom scan --import` against a real dev server: the found token is
/// stored in the secrets engine at PREFIX/<file>/<rule>, with where it was
/// found in its metadata; `strongroom run` hands it to a program; the scan
/// report counts it as imported; a second import never overwrites it; and
/// without a terminal or --yes nothing is stored.
#[test]
fn import_moves_a_found_secret_into_the_secrets_engine() {
    use crate::common::{cli_json, http, BIN};
    let s = strongroom_testkit::Server::dev(BIN);
    let dir = tempdir("import");
    let t = token(4);
    std::fs::write(dir.join("settings.py"), format!("GH = \"{t}\"\n")).unwrap();
    let scan_at = |args: &[&str]| {
        let mut c = s.cli();
        c.current_dir(&dir).arg("scan").args(args);
        c.stdin(std::process::Stdio::null());
        c.output().expect("run strongroom")
    };
    // No terminal and no --yes: refused, nothing stored.
    let o = scan_at(&[".", "--import", "scanned"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    let (st, _) = http(
        &s,
        "GET",
        "/v1/secrets/data/scanned/settings.py/github-token",
        None,
        Some(&s.token),
    );
    assert_eq!(st, 404);
    // History scans cannot import (the value must still be in a file).
    let o = scan_at(&[".", "--history", "--import", "scanned", "--yes"]);
    assert_eq!(o.status.code(), Some(2));

    let o = scan_at(&[
        ".",
        "--import",
        "scanned",
        "--yes",
        "--report",
        "--repository",
        "app",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("as secret scanned/settings.py/github-token v1")
            && err.contains("strongroom run --secret scanned/settings.py/github-token"),
        "{err}"
    );
    assert!(err.contains("1 imported"), "{err}");
    assert!(!err.contains(&t[4..]), "the value is not printed: {err}");
    let v = cli_json(&s, &["secret", "get", "scanned/settings.py/github-token"]);
    assert_eq!(v["data"]["GITHUB_TOKEN"], t.as_str(), "{v}");
    let (st, m) = http(
        &s,
        "GET",
        "/v1/secrets/metadata/scanned/settings.py/github-token",
        None,
        Some(&s.token),
    );
    assert_eq!(st, 200, "{m}");
    let meta = m.to_string();
    assert!(
        meta.contains("settings.py:1") && meta.contains("scan_fingerprint"),
        "{m}"
    );
    let (_, rep) = http(&s, "GET", "/v1/scans/app", None, Some(&s.token));
    assert_eq!(rep["imported"], 1, "{rep}");
    assert_eq!(
        rep["findings"][0]["imported_to"],
        "scanned/settings.py/github-token"
    );

    // The program gets it from strongroom run, not from the code.
    let o = s
        .cli()
        .args([
            "run",
            "--secret",
            "scanned/settings.py/github-token",
            "--",
            "sh",
            "-c",
        ])
        .arg(format!("test \"$GITHUB_TOKEN\" = '{t}'"))
        .output()
        .expect("strongroom run");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A new value written after the import counts as rotated since.
    assert_eq!(rep["rotated_since_import"], 0, "{rep}");
    let o = s
        .cli()
        .args([
            "secret",
            "put",
            "scanned/settings.py/github-token",
            "GITHUB_TOKEN=rotated-value",
        ])
        .output()
        .expect("secret put");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (_, rep) = http(&s, "GET", "/v1/scans/app", None, Some(&s.token));
    assert_eq!(rep["rotated_since_import"], 1, "{rep}");
    let r = cli_json(&s, &["report", "compliance", "--format", "json"]);
    assert!(
        r.to_string()
            .contains("1 imported into the secrets engine (1 rotated since)"),
        "{r}"
    );

    // A second import does not overwrite the stored secret.
    let o = scan_at(&[".", "--import", "scanned", "--yes"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&o.stderr).contains(&t[4..]));
}
