//! TLS: a production server with a self-signed certificate, reached by the
//! CLI through STRONGROOM_CACERT; and the start-up rules (TLS is required
//! unless `tls_disable = true`, which logs a warning).

use crate::common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_cmd, BIN};
use serde_json::Value;
use strongroom_testkit::{Server, TempDir};

fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A self-signed P-256 certificate for 127.0.0.1 and localhost: (cert, key).
/// `extra` adds `-addext` values to the documented command.
fn self_signed(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .args(extra.iter().flat_map(|e| ["-addext", e]))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// Marks the certificate as an end-entity certificate. OpenSSL's `req -x509`
/// makes CA certificates by default, which rustls/webpki refuse as a server
/// certificate (see `readme_self_signed_certificate_works`).
const LEAF: &[&str] = &["basicConstraints=critical,CA:FALSE"];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `strongroom server --config FILE` until it either exits or prints
/// its listening line (then it is killed). Returns (exit code if it exited,
/// stdout, stderr).
fn try_start(config_text: &str, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let dir = TempDir::new("tls-start");
    let config = dir.path().join("strongroom.toml");
    std::fs::write(&config, config_text.replace("@DIR@", s(dir.path()))).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["server", "--config", s(&config)])
        .env("STRONGROOM_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let out_reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = so.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&all).contains(" listening on ") {
                let _ = tx.send(());
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let err_reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = se.read_to_string(&mut all);
        all
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if rx.try_recv().is_ok() {
            // Give the start-up log a moment to be written, then stop it.
            std::thread::sleep(Duration::from_millis(100));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server neither started nor exited within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = out_reader.join().unwrap();
    let err = err_reader.join().unwrap();
    common::assert_no_panic("server start", &err);
    (code, out, err)
}

#[test]
fn cli_over_tls_with_cacert() {
    if !have_openssl() {
        eprintln!("SKIPPED cli_over_tls_with_cacert: `openssl` is not on PATH");
        return;
    }
    let dir = TempDir::new("tls");
    let (cert, key) = self_signed(dir.path(), "server", LEAF);
    let (other_cert, _) = self_signed(dir.path(), "other", LEAF);
    let mut srv = Server::production(BIN, dir, Some((s(&cert), s(&key))));
    assert!(srv.addr.starts_with("https://127.0.0.1:"), "{}", srv.addr);

    let with_ca = |srv: &Server, ca: &Path, args: &[&str]| -> (i32, String, String) {
        run_cmd(srv.cli().env("STRONGROOM_CACERT", ca).args(args))
    };

    // Status and init over TLS.
    let (code, out, err) = with_ca(&srv, &cert, &["-o", "json", "operator", "status"]);
    assert_eq!(code, 0, "{err}");
    let st: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["initialized"], false);
    let (code, out, err) = with_ca(
        &srv,
        &cert,
        &[
            "-o",
            "json",
            "operator",
            "init",
            "--shares",
            "3",
            "--threshold",
            "2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let init: Value = serde_json::from_str(&out).unwrap();
    srv.token = init["root_token"].as_str().unwrap().to_string();
    for sh in init["shares"].as_array().unwrap()[..2].iter() {
        let (code, _, err) = with_ca(&srv, &cert, &["operator", "unseal", sh.as_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = with_ca(&srv, &cert, &["-o", "json", "operator", "status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["sealed"],
        false
    );
    // Real work over TLS.
    let (code, _, err) = with_ca(&srv, &cert, &["key", "create", "--alias", "alias/tls"]);
    assert_eq!(code, 0, "{err}");
    let (code, ct, err) = with_ca(
        &srv,
        &cert,
        &["encrypt", "--key", "alias/tls", "--plaintext", "over tls"],
    );
    assert_eq!(code, 0, "{err}");
    let (code, pt, err) = with_ca(&srv, &cert, &["decrypt", "--ciphertext", ct.trim()]);
    assert_eq!((code, pt.as_str()), (0, "over tls"), "{err}");
    // https://localhost works too (the certificate names it).
    let port = srv.addr.rsplit(':').next().unwrap().to_string();
    let (code, _, err) = run_cmd(
        srv.cli()
            .env("STRONGROOM_CACERT", &cert)
            .env("STRONGROOM_ADDR", format!("https://localhost:{port}"))
            .args(["operator", "status"]),
    );
    assert_eq!(code, 0, "{err}");

    // No STRONGROOM_CACERT: the system trust store decides. It does not
    // know this self-signed certificate: a clear error naming the fix.
    let (code, out, err) = run_cmd(
        srv.cli()
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .args(["operator", "status"]),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("system trust store") && err.contains("STRONGROOM_CACERT"),
        "{err}"
    );
    // A system store that holds it (rustls-native-certs reads SSL_CERT_FILE
    // like OpenSSL): trusted without STRONGROOM_CACERT.
    let (code, out, err) = run_cmd(
        srv.cli()
            .env("SSL_CERT_FILE", &cert)
            .args(["-o", "json", "operator", "status"]),
    );
    assert_eq!(code, 0, "the system trust store was not used: {err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["sealed"],
        false
    );
    // STRONGROOM_CACERT, when set, is the only CA trusted.
    let (code, _, err) = run_cmd(
        srv.cli()
            .env("SSL_CERT_FILE", &cert)
            .env("STRONGROOM_CACERT", &other_cert)
            .args(["operator", "status"]),
    );
    assert_eq!(code, 1, "{err}");

    // A different self-signed certificate: the server is not trusted.
    let (code, out, err) = with_ca(&srv, &other_cert, &["operator", "status"]);
    assert_eq!(code, 1, "{out}");
    let lower = err.to_lowercase();
    assert!(
        lower.contains("certificate") || lower.contains("issuer"),
        "not a certificate error: {err}"
    );
    assert!(out.is_empty());
    // The token was not sent to the untrusted server: nothing to check
    // server-side, but the command must fail before any output.
    let (code, _, err) = with_ca(
        &srv,
        &other_cert,
        &["encrypt", "--key", "alias/tls", "--plaintext", "x"],
    );
    assert_eq!(code, 1, "{err}");

    // STRONGROOM_CACERT that is missing or not PEM.
    let (code, _, err) = with_ca(
        &srv,
        Path::new("/nonexistent/ca.pem"),
        &["operator", "status"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("STRONGROOM_CACERT") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
    let (code, _, err) = with_ca(&srv, &key, &["operator", "status"]);
    assert_eq!(code, 1);
    assert!(err.contains("certificate"), "a key file given as CA: {err}");

    // Plain HTTP to the TLS port fails cleanly and says what to change,
    // and the server survives it.
    let (code, _, err) = run_cmd(
        srv.cli()
            .env("STRONGROOM_ADDR", format!("http://127.0.0.1:{port}"))
            .args(["operator", "status"]),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("speaks HTTPS; use https://"), "{err}");
    let (code, _, err) = with_ca(&srv, &cert, &["operator", "status"]);
    assert_eq!(code, 0, "server died after a plain-HTTP request: {err}");
    let logs = srv.logs();
    assert!(!logs.contains("TLS is disabled"), "{logs}");
    common::assert_no_panic("TLS server", &logs);
}

/// The README's "A real server" and docs/OPERATIONS.md's TLS section
/// generate the certificate with exactly this command and tell clients to
/// trust it with STRONGROOM_CACERT=cert.pem.
#[test]
fn readme_self_signed_certificate_works() {
    if !have_openssl() {
        eprintln!("SKIPPED readme_self_signed_certificate_works: `openssl` is not on PATH");
        return;
    }
    let dir = TempDir::new("tls-readme");
    let (cert, key) = self_signed(
        dir.path(),
        "readme",
        &["basicConstraints=critical,CA:FALSE"],
    );
    let srv = Server::production(BIN, dir, Some((s(&cert), s(&key))));
    let (code, out, err) = run_cmd(
        srv.cli()
            .env("STRONGROOM_CACERT", &cert)
            .args(["-o", "json", "operator", "status"]),
    );
    assert_eq!(code, 0, "the documented TLS setup does not work: {err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["initialized"],
        false
    );
}

#[test]
fn tls_is_required_unless_explicitly_disabled() {
    // No TLS settings and no tls_disable: refused, naming the way out.
    let (code, out, err) = try_start(
        "listen = \"127.0.0.1:0\"\nstorage_path = \"@DIR@/s.db\"\n",
        &[],
    );
    assert!(
        code.is_some_and(|c| c != 0),
        "server started without TLS: {out}\n{err}"
    );
    assert!(err.contains("tls_disable"), "{err}");
    assert!(err.contains("tls_cert"), "{err}");
    assert!(!out.contains("listening"), "{out}");

    // A certificate but no key: refused too.
    let (code, _, err) = try_start(
        "listen = \"127.0.0.1:0\"\nstorage_path = \"@DIR@/s.db\"\ntls_cert = \"@DIR@/c.pem\"\n",
        &[],
    );
    assert!(code.is_some_and(|c| c != 0));
    assert!(err.contains("tls_key"), "{err}");

    // Files that do not exist: refused, naming the file.
    let (code, _, err) = try_start(
        "listen = \"127.0.0.1:0\"\nstorage_path = \"@DIR@/s.db\"\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n",
        &[],
    );
    assert!(code.is_some_and(|c| c != 0));
    assert!(err.contains("/nonexistent/c.pem"), "{err}");

    // tls_disable = true: starts plain HTTP, with a warning in the log.
    let (code, out, err) = try_start(
        "listen = \"127.0.0.1:0\"\nstorage_path = \"@DIR@/s.db\"\ntls_disable = true\n",
        &[],
    );
    assert_eq!(code, None, "did not start: {err}");
    assert!(out.contains("listening on http://127.0.0.1:"), "{out}");
    assert!(
        err.contains("WARN") && err.contains("TLS is disabled"),
        "no warning: {err}"
    );

    // The same through the environment override.
    let (code, out, err) = try_start(
        "listen = \"127.0.0.1:0\"\nstorage_path = \"@DIR@/s.db\"\n",
        &[("STRONGROOM_TLS_DISABLE", "true")],
    );
    assert_eq!(code, None, "did not start: {err}");
    assert!(out.contains("listening on http://"), "{out}");
    assert!(err.contains("TLS is disabled"), "{err}");
    let (code, _, err) = try_start(
        "listen = \"127.0.0.1:0\"\nstorage_path = \"@DIR@/s.db\"\n",
        &[("STRONGROOM_TLS_DISABLE", "maybe")],
    );
    assert!(code.is_some_and(|c| c != 0));
    assert!(err.contains("STRONGROOM_TLS_DISABLE"), "{err}");

    // The test kit's plain-HTTP production server logs the warning too.
    let srv = Server::production(BIN, TempDir::new("tls-off"), None);
    srv.wait_health(503);
    assert!(srv.logs().contains("TLS is disabled"), "{}", srv.logs());
}

#[test]
fn mismatched_key_is_refused_at_start() {
    if !have_openssl() {
        eprintln!("SKIPPED mismatched_key_is_refused_at_start: `openssl` is not on PATH");
        return;
    }
    let dir = TempDir::new("tls-mismatch");
    let (cert, _) = self_signed(dir.path(), "a", &[]);
    let (_, key_b) = self_signed(dir.path(), "b", &[]);
    let text = format!(
        "listen = \"127.0.0.1:0\"\nstorage_path = \"@DIR@/s.db\"\ntls_cert = {:?}\ntls_key = {:?}\n",
        s(&cert),
        s(&key_b)
    );
    let (code, out, err) = try_start(&text, &[]);
    assert!(
        code.is_some_and(|c| c != 0),
        "started with a key that does not match the certificate: {out}"
    );
    assert!(err.contains("tls_key") || err.contains("key"), "{err}");
    // A certificate file given as the key.
    let text = format!(
        "listen = \"127.0.0.1:0\"\nstorage_path = \"@DIR@/s.db\"\ntls_cert = {:?}\ntls_key = {:?}\n",
        s(&cert),
        s(&cert)
    );
    let (code, _, err) = try_start(&text, &[]);
    assert!(code.is_some_and(|c| c != 0));
    assert!(err.contains("private key"), "{err}");
}

/// Issue #21 on the TLS listener: a socket that never starts its handshake
/// is closed after the header read timeout, and at the connection cap a
/// fresh TLS client is still served (idle sockets are evicted).
#[test]
fn tls_listener_times_out_silent_sockets_and_serves_at_the_cap() {
    if !have_openssl() {
        eprintln!("SKIPPED tls_listener_times_out_silent_sockets_and_serves_at_the_cap: `openssl` is not on PATH");
        return;
    }
    let dir = TempDir::new("tls-limits");
    let (cert, key) = self_signed(dir.path(), "server", LEAF);
    let srv = Server::production_with(
        BIN,
        dir,
        Some((s(&cert), s(&key))),
        "header_read_timeout_ms = 700\nmax_connections = 6\n",
        &[],
    );
    let hostport = srv.addr.trim_start_matches("https://").to_string();
    let opened = Instant::now();
    let mut silent = std::net::TcpStream::connect(&hostport).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a byte");
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(9),
        "closed after the 700 ms timeout, not {waited:?}"
    );

    // Fill the cap with silent sockets; a fresh TLS client is still answered.
    let flood: Vec<_> = (0..20)
        .map(|_| std::net::TcpStream::connect(&hostport).unwrap())
        .collect();
    let (code, out, err) = run_cmd(
        srv.cli()
            .env("STRONGROOM_CACERT", &cert)
            .args(["-o", "json", "operator", "status"]),
    );
    assert_eq!(code, 0, "status over TLS at the cap: {err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["initialized"],
        false
    );
    drop(flood);
}
