//! Mutual TLS and certificate identities (issue #17 part 3): a dev server
//! serving TLS with `STRONGROOM_TLS_CLIENT_CA`, certificates made here with
//! the openssl CLI, driven through the real CLI binary (and curl for the
//! Vault front-end and the bare handshake). Accepted; wrong CA; expired;
//! unbound; revoked (disabled identity, unbound name); a certificate of
//! identity A on a key only B may use (403); a token beside a certificate
//! (the token wins); no certificate when one is required; the audit record
//! naming the identity and the certificate.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{run_cmd, BIN};
use serde_json::Value;
use strongroom_testkit::{Server, TempDir};

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate and its key, as files.
struct Pem {
    cert: PathBuf,
    key: PathBuf,
}

/// A CA (CA:TRUE, self-signed P-256) named `name` in `dir`.
fn ca(dir: &Path, name: &str) -> Pem {
    let p = Pem {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name}"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        s(&p.key),
        "-out",
        s(&p.cert),
    ]);
    p
}

/// A leaf certificate signed by `issuer`: subject `subj`, subjectAltName
/// `san` (if any), valid for `days` (negative: already expired), for
/// `usage` (clientAuth or serverAuth).
fn issue(
    dir: &Path,
    name: &str,
    issuer: &Pem,
    subj: &str,
    san: Option<&str>,
    days: i32,
    usage: &str,
) -> Pem {
    let p = Pem {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    let csr = dir.join(format!("{name}.csr"));
    let ext = dir.join(format!("{name}.ext"));
    let mut text = format!(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
    );
    if let Some(san) = san {
        text.push_str(&format!("subjectAltName={san}\n"));
    }
    std::fs::write(&ext, text).unwrap();
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        subj,
        "-keyout",
        s(&p.key),
        "-out",
        s(&csr),
    ]);
    static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1000);
    let serial = SERIAL
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string();
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&issuer.cert),
        "-CAkey",
        s(&issuer.key),
        "-set_serial",
        &serial,
        "-days",
        &days.to_string(),
        "-extfile",
        s(&ext),
        "-out",
        s(&p.cert),
    ]);
    p
}

/// The certificates of one test.
struct Pki {
    _dir: TempDir,
    ca: Pem,
    server: Pem,
    alice: Pem,
    bob: Pem,
    /// Same CN as alice, signed by another CA.
    stranger: Pem,
    /// Alice's DNS name, expired.
    expired: Pem,
    /// Signed by the CA, bound to nothing.
    nobody: Pem,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new("mtls-pki");
        let d = dir.path();
        let ca_ = ca(d, "client-ca");
        let other = ca(d, "other-ca");
        let server_ca = ca(d, "server-ca");
        let server = issue(
            d,
            "server",
            &server_ca,
            "/CN=localhost",
            Some("IP:127.0.0.1,DNS:localhost"),
            2,
            "serverAuth",
        );
        // The CLI trusts the server through its CA.
        std::fs::copy(&server_ca.cert, d.join("server-trust.pem")).unwrap();
        let alice = issue(
            d,
            "alice",
            &ca_,
            "/O=Example/CN=alice-client",
            Some("DNS:alice.svc.internal,URI:spiffe://example.org/alice"),
            2,
            "clientAuth",
        );
        let bob = issue(d, "bob", &ca_, "/CN=bob-client", None, 2, "clientAuth");
        let stranger = issue(
            d,
            "stranger",
            &other,
            "/CN=alice-client",
            Some("DNS:alice.svc.internal"),
            2,
            "clientAuth",
        );
        let expired = issue(
            d,
            "expired",
            &ca_,
            "/CN=alice-client",
            Some("DNS:alice.svc.internal"),
            -1,
            "clientAuth",
        );
        let nobody = issue(
            d,
            "nobody",
            &ca_,
            "/CN=nobody",
            Some("DNS:nobody.internal"),
            2,
            "clientAuth",
        );
        Pki {
            server,
            ca: ca_,
            alice,
            bob,
            stranger,
            expired,
            nobody,
            _dir: dir,
        }
    }

    fn trust(&self) -> PathBuf {
        self.server.cert.parent().unwrap().join("server-trust.pem")
    }

    fn start(&self, required: bool) -> Server {
        let mut env = vec![
            ("STRONGROOM_TLS_CERT", s(&self.server.cert)),
            ("STRONGROOM_TLS_KEY", s(&self.server.key)),
            ("STRONGROOM_TLS_CLIENT_CA", s(&self.ca.cert)),
        ];
        if required {
            env.push(("STRONGROOM_TLS_CLIENT_AUTH", "required"));
        }
        let srv = Server::dev_tls(BIN, &env);
        assert!(srv.addr.starts_with("https://127.0.0.1:"), "{}", srv.addr);
        srv
    }
}

/// The CLI as root (the dev root token), no client certificate.
fn root(pki: &Pki, srv: &Server, args: &[&str]) -> (i32, String, String) {
    run_cmd(
        srv.cli()
            .env("STRONGROOM_CACERT", pki.trust())
            .env_remove("STRONGROOM_CLIENT_CERT")
            .env_remove("STRONGROOM_CLIENT_KEY")
            .args(args),
    )
}

fn root_ok(pki: &Pki, srv: &Server, args: &[&str]) -> String {
    let (code, out, err) = root(pki, srv, args);
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    out
}

/// The CLI with a client certificate and no token.
fn with_cert(pki: &Pki, srv: &Server, c: &Pem, args: &[&str]) -> (i32, String, String) {
    run_cmd(
        srv.cli()
            .env_remove("STRONGROOM_TOKEN")
            .env("STRONGROOM_CACERT", pki.trust())
            .env("STRONGROOM_CLIENT_CERT", &c.cert)
            .env("STRONGROOM_CLIENT_KEY", &c.key)
            .args(args),
    )
}

fn audit(srv: &Server) -> Vec<Value> {
    std::fs::read_to_string(srv.dir.path().join("audit.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|r| r["event"].clone())
        .collect()
}

/// curl against the server with the given client certificate (or none):
/// (exit code, HTTP status or 0, body).
fn curl(pki: &Pki, srv: &Server, c: Option<&Pem>, path: &str, body: &str) -> (i32, u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--cacert", s(&pki.trust()), "-w", "\n%{http_code}"]);
    if let Some(c) = c {
        cmd.args(["--cert", s(&c.cert), "--key", s(&c.key)]);
    }
    cmd.args([
        "-H",
        "X-Vault-Request: true",
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
        &format!("{}{path}", srv.addr),
    ]);
    let (code, out, _) = run_cmd(&mut cmd);
    let (text, status) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code, status.trim().parse().unwrap_or(0), text.to_string())
}

fn setup_identities(pki: &Pki, srv: &Server) {
    let dir = TempDir::new("mtls-policies");
    for (name, keys) in [
        ("alice", r#"["alias/ka", "alias/transit/ka"]"#),
        ("bob", r#"["alias/kb"]"#),
    ] {
        let file = dir.path().join(format!("{name}.json"));
        std::fs::write(
            &file,
            format!(
                r#"{{"name": "{name}-keys", "statements": [{{"effect": "Allow", "actions": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "resources": {keys}}}]}}"#
            ),
        )
        .unwrap();
        root_ok(pki, srv, &["policy", "put", "--file", s(&file)]);
        root_ok(
            pki,
            srv,
            &[
                "identity",
                "create",
                name,
                "--kind",
                "service",
                "--policy",
                &format!("{name}-keys"),
            ],
        );
    }
    for alias in ["alias/ka", "alias/kb", "alias/transit/ka"] {
        root_ok(pki, srv, &["key", "create", "--alias", alias]);
    }
}

#[test]
fn client_certificates_authenticate_as_their_identity() {
    if !have("openssl") || !have("curl") {
        eprintln!(
            "SKIPPED client_certificates_authenticate_as_their_identity: needs openssl and curl"
        );
        return;
    }
    let pki = Pki::new();
    let srv = pki.start(false);
    // Optional: a client without a certificate connects and uses its token.
    setup_identities(&pki, &srv);

    // Bind alice by a DNS SAN, bob by the subject CN; list them.
    let out = root_ok(
        &pki,
        &srv,
        &[
            "identity",
            "bind-cert",
            "alice",
            "--dns",
            "alice.svc.internal",
        ],
    );
    assert!(
        out.contains("Bound dns:alice.svc.internal to identity alice"),
        "{out}"
    );
    root_ok(
        &pki,
        &srv,
        &["identity", "bind-cert", "bob", "--cn", "bob-client"],
    );
    let list: Value =
        serde_json::from_str(&root_ok(&pki, &srv, &["-o", "json", "identity", "certs"])).unwrap();
    let names: Vec<(String, String)> = list["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["identity"].as_str().unwrap().to_string(),
                format!(
                    "{}:{}",
                    b["field"].as_str().unwrap(),
                    b["value"].as_str().unwrap()
                ),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("alice".to_string(), "dns:alice.svc.internal".to_string()),
            ("bob".to_string(), "cn:bob-client".to_string())
        ]
    );

    // Bad input: a clear 4xx, nothing changes.
    let (code, _, err) = root(&pki, &srv, &["identity", "bind-cert", "carol", "--cn", "x"]);
    assert!(
        code == 1 && err.contains("InvalidArgument") && err.contains("carol"),
        "{err}"
    );
    let (code, _, err) = root(
        &pki,
        &srv,
        &[
            "identity",
            "bind-cert",
            "bob",
            "--dns",
            "alice.svc.internal",
        ],
    );
    assert!(
        code == 1 && err.contains("Conflict") && err.contains("alice"),
        "{err}"
    );
    let (code, _, err) = root(
        &pki,
        &srv,
        &["identity", "bind-cert", "bob", "--cn", " padded"],
    );
    assert!(code == 1 && err.contains("InvalidArgument"), "{err}");
    let (code, _, err) = root(
        &pki,
        &srv,
        &["identity", "bind-cert", "bob", "--cn", "a", "--dns", "b"],
    );
    assert!(code == 2 && err.contains("cannot be used with"), "{err}");
    let (code, _, err) = root(
        &pki,
        &srv,
        &["identity", "unbind-cert", "--uri", "spiffe://none"],
    );
    assert!(code == 1 && err.contains("not bound"), "{err}");
    let (code, _, err) = run_cmd(
        srv.cli()
            .env("STRONGROOM_CACERT", pki.trust())
            .env("STRONGROOM_CLIENT_CERT", &pki.alice.cert)
            .env_remove("STRONGROOM_CLIENT_KEY")
            .args(["key", "list"]),
    );
    assert!(code == 1 && err.contains("STRONGROOM_CLIENT_KEY"), "{err}");

    // Accepted: alice's certificate, no token, acts as alice.
    let (code, out, err) = with_cert(
        &pki,
        &srv,
        &pki.alice,
        &[
            "-o",
            "json",
            "encrypt",
            "--key",
            "alias/ka",
            "--plaintext",
            "by certificate",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let ct: Value = serde_json::from_str(&out).unwrap();
    let ct = ct["ciphertext"].as_str().unwrap().to_string();
    let (code, out, err) = with_cert(&pki, &srv, &pki.alice, &["decrypt", "--ciphertext", &ct]);
    assert_eq!((code, out.as_str()), (0, "by certificate"), "{err}");
    // The audit record names alice and the certificate name that bound her.
    let records = audit(&srv);
    let rec = records
        .iter()
        .rev()
        .find(|r| r["operation"] == "kms:Encrypt" && r["identity"] == "alice")
        .expect("alice's encrypt is audited");
    assert_eq!(rec["outcome"], "allowed");
    assert_eq!(rec["root"], false);
    assert_eq!(
        rec["detail"], "via certificate dns:alice.svc.internal",
        "{rec}"
    );

    // A: alice's certificate on a key only bob may use: 403, audited as alice.
    let (code, _, err) = with_cert(
        &pki,
        &srv,
        &pki.alice,
        &["encrypt", "--key", "alias/kb", "--plaintext", "x"],
    );
    assert!(code == 1 && err.contains("AccessDenied"), "{err}");
    assert!(audit(&srv).iter().any(|r| r["identity"] == "alice"
        && r["outcome"] == "denied"
        && r["detail"] == "via certificate dns:alice.svc.internal"));
    // B's own certificate (bound by CN) on it: allowed; but not alice's key.
    let (code, _, err) = with_cert(
        &pki,
        &srv,
        &pki.bob,
        &["encrypt", "--key", "alias/kb", "--plaintext", "x"],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = with_cert(
        &pki,
        &srv,
        &pki.bob,
        &["encrypt", "--key", "alias/ka", "--plaintext", "x"],
    );
    assert!(code == 1 && err.contains("AccessDenied"), "{err}");

    // A token beside a certificate wins: alice's certificate with the root
    // token creates a key (alice could not), audited as root, not "via certificate".
    let (code, _, err) = run_cmd(
        srv.cli()
            .env("STRONGROOM_CACERT", pki.trust())
            .env("STRONGROOM_CLIENT_CERT", &pki.alice.cert)
            .env("STRONGROOM_CLIENT_KEY", &pki.alice.key)
            .args(["key", "create", "--alias", "alias/by-root"]),
    );
    assert_eq!(code, 0, "{err}");
    let rec = audit(&srv)
        .into_iter()
        .rev()
        .find(|r| r["operation"] == "kms:CreateKey" && r["outcome"] == "allowed")
        .unwrap();
    assert_eq!(rec["identity"], "root");
    assert!(
        rec["detail"]
            .as_str()
            .is_none_or(|d| !d.contains("certificate")),
        "{rec}"
    );
    let (code, _, err) = with_cert(
        &pki,
        &srv,
        &pki.alice,
        &["key", "create", "--alias", "alias/by-alice"],
    );
    assert!(code == 1 && err.contains("AccessDenied"), "{err}");

    // The Vault front-end: alice's certificate and no token, through curl.
    let pt = "aGVsbG8="; // "hello"
    let (code, status, body) = curl(
        &pki,
        &srv,
        Some(&pki.alice),
        "/v1/transit/encrypt/ka",
        &format!(r#"{{"plaintext":"{pt}"}}"#),
    );
    assert_eq!((code, status), (0, 200), "{body}");
    assert!(body.contains("vault:v1:"), "{body}");
    let (_, status, body) = curl(
        &pki,
        &srv,
        Some(&pki.bob),
        "/v1/transit/encrypt/ka",
        &format!(r#"{{"plaintext":"{pt}"}}"#),
    );
    assert_eq!(status, 403, "{body}");

    // A certificate of the CA bound to nothing, and no token: 401 naming its names.
    let (code, _, err) = with_cert(&pki, &srv, &pki.nobody, &["key", "list"]);
    assert!(
        code == 1
            && err.contains("CertificateNotBound")
            && err.contains("dns:nobody.internal")
            && err.contains("cn:nobody"),
        "{err}"
    );
    let (_, status, body) = curl(
        &pki,
        &srv,
        Some(&pki.nobody),
        "/v1/transit/encrypt/ka",
        &format!(r#"{{"plaintext":"{pt}"}}"#),
    );
    assert!(
        status == 403 && body.contains("not bound"),
        "{status} {body}"
    );

    // Wrong CA and expired: refused in the handshake, whatever the name.
    for (what, c) in [("other CA", &pki.stranger), ("expired", &pki.expired)] {
        let (code, _, err) = with_cert(&pki, &srv, c, &["key", "list"]);
        assert!(
            code == 1 && err.contains("refused the client certificate"),
            "{what}: {err}"
        );
        let (code, status, _) = curl(&pki, &srv, Some(c), "/v1/transit/encrypt/ka", "{}");
        assert!(
            code != 0 && status == 0,
            "{what}: curl exit {code}, HTTP {status}"
        );
    }

    // Revoked: disabling alice stops her certificate at once...
    root_ok(&pki, &srv, &["identity", "disable", "alice"]);
    let (code, _, err) = with_cert(
        &pki,
        &srv,
        &pki.alice,
        &["encrypt", "--key", "alias/ka", "--plaintext", "x"],
    );
    assert!(code == 1 && err.contains("CertificateNotBound"), "{err}");
    // ...and so does unbinding bob's name.
    let out = root_ok(
        &pki,
        &srv,
        &["identity", "unbind-cert", "--cn", "bob-client"],
    );
    assert!(out.contains("bound to identity bob"), "{out}");
    let (code, _, err) = with_cert(
        &pki,
        &srv,
        &pki.bob,
        &["encrypt", "--key", "alias/kb", "--plaintext", "x"],
    );
    assert!(code == 1 && err.contains("CertificateNotBound"), "{err}");
    // Failed certificate authentications are audited (never a token).
    assert!(audit(&srv)
        .iter()
        .any(|r| r["error_code"] == "CertificateNotBound" && r["identity"] == "anonymous"));
}

#[test]
fn a_required_client_certificate_is_checked_in_the_handshake() {
    if !have("openssl") || !have("curl") {
        eprintln!("SKIPPED a_required_client_certificate_is_checked_in_the_handshake: needs openssl and curl");
        return;
    }
    let pki = Pki::new();
    let srv = pki.start(true);
    // No certificate: the handshake fails, the CLI says what to set.
    let (code, _, err) = root(&pki, &srv, &["key", "list"]);
    assert!(
        code == 1
            && err.contains("requires a client certificate")
            && err.contains("STRONGROOM_CLIENT_CERT"),
        "{err}"
    );
    let (code, status, _) = curl(&pki, &srv, None, "/v1/transit/encrypt/ka", "{}");
    assert!(code != 0 && status == 0, "curl exit {code}, HTTP {status}");
    // A valid certificate (bound to nothing yet) with the root token: in.
    let (code, _, err) = run_cmd(
        srv.cli()
            .env("STRONGROOM_CACERT", pki.trust())
            .env("STRONGROOM_CLIENT_CERT", &pki.nobody.cert)
            .env("STRONGROOM_CLIENT_KEY", &pki.nobody.key)
            .args(["identity", "create", "svc", "--kind", "service"]),
    );
    assert_eq!(code, 0, "{err}");
    // Bound by its URI SAN... (alice's certificate carries one)
    let (code, _, err) = run_cmd(
        srv.cli()
            .env("STRONGROOM_CACERT", pki.trust())
            .env("STRONGROOM_CLIENT_CERT", &pki.nobody.cert)
            .env("STRONGROOM_CLIENT_KEY", &pki.nobody.key)
            .args([
                "identity",
                "bind-cert",
                "svc",
                "--uri",
                "spiffe://example.org/alice",
            ]),
    );
    assert_eq!(code, 0, "{err}");
    // ...the certificate alone now acts as svc (which may list nothing: 403, as svc).
    let (code, _, err) = with_cert(&pki, &srv, &pki.alice, &["key", "list"]);
    assert!(code == 1 && err.contains("AccessDenied"), "{err}");
    let rec = audit(&srv)
        .into_iter()
        .rev()
        .find(|r| r["identity"] == "svc")
        .expect("svc audited");
    assert_eq!(
        rec["detail"],
        "via certificate uri:spiffe://example.org/alice"
    );
    // An expired certificate is refused here too.
    let (code, _, err) = with_cert(&pki, &srv, &pki.expired, &["key", "list"]);
    assert!(
        code == 1 && err.contains("refused the client certificate"),
        "{err}"
    );
}
