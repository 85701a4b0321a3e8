//! `strongroom kms-plugin` (the Kubernetes KMS v2 plugin) driven by a
//! tonic gRPC client over its unix socket, as kube-apiserver drives it,
//! against a real Strongroom server: Status, Encrypt, Decrypt, rotation,
//! least privilege, a sealed and an unreachable server, oversized and
//! malformed requests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use strongroom_kms_plugin::proto::{
    DecryptRequest, EncryptRequest, KeyManagementServiceClient, StatusResponse,
};
use strongroom_testkit::{Server, TempDir};
use tonic::Code;

use crate::access_common::{self, create_key, identity, ok, put_policy};
use crate::common::{assert_no_panic, BIN};

/// A running `strongroom kms-plugin`, killed on drop.
struct Plugin {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    /// Taken by [`Plugin::kill9`] to start another plugin in it.
    dir: Option<TempDir>,
}

impl Plugin {
    /// Starts the plugin for `key` at `addr` with `token` (from a file) and
    /// waits until its socket answers.
    fn start(addr: &str, token: &str, key: &str) -> Plugin {
        Self::start_in(TempDir::new("kms"), addr, token, key)
    }

    /// Like [`Plugin::start`], with its socket (and files) in `dir`.
    fn start_in(dir: TempDir, addr: &str, token: &str, key: &str) -> Plugin {
        let socket = dir.path().join("kms.sock");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let log = dir.path().join("plugin.log");
        let child = Command::new(BIN)
            .args(["kms-plugin", "--socket"])
            .arg(&socket)
            .args(["--key", key, "--addr", addr, "--token-file"])
            .arg(&token_file)
            .env_remove("STRONGROOM_TOKEN")
            .env_remove("STRONGROOM_ADDR")
            .env("STRONGROOM_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn strongroom kms-plugin");
        let mut p = Plugin {
            child,
            socket,
            log,
            dir: Some(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Until it answers (a stale socket file may be there already).
        while std::os::unix::net::UnixStream::connect(&p.socket).is_err() {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("the plugin exited ({status}):\n{}", p.logs());
            }
            assert!(
                Instant::now() < deadline,
                "no socket after 30 s:\n{}",
                p.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    /// SIGKILL; returns its directory (socket file included).
    fn kill9(mut self) -> TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.take().unwrap()
    }

    /// SIGTERM (as systemd or the kubelet stop it); waits for the exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(st.success());
        self.child.wait().unwrap()
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn client(&self) -> KeyManagementServiceClient {
        block(KeyManagementServiceClient::connect_unix(
            self.socket.clone(),
        ))
        .expect("connect to the plugin's socket")
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        assert_no_panic("strongroom kms-plugin", &self.logs());
    }
}

/// One runtime for every client of these tests: a tonic channel's
/// background task lives on the runtime it was made on.
static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
});

fn block<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}

fn status(c: &mut KeyManagementServiceClient) -> StatusResponse {
    block(c.status()).expect("Status")
}

fn encrypt(
    c: &mut KeyManagementServiceClient,
    pt: &[u8],
) -> Result<(Vec<u8>, String), tonic::Status> {
    let r = block(c.encrypt(EncryptRequest {
        plaintext: pt.to_vec(),
        uid: "uid-1".into(),
    }))?;
    assert!(r.annotations.is_empty(), "annotations: {:?}", r.annotations);
    Ok((r.ciphertext.clone(), r.key_id.clone()))
}

fn decrypt(
    c: &mut KeyManagementServiceClient,
    ct: &[u8],
    key_id: &str,
) -> Result<Vec<u8>, tonic::Status> {
    let mut r = block(c.decrypt(DecryptRequest {
        ciphertext: ct.to_vec(),
        uid: "uid-2".into(),
        key_id: key_id.into(),
        annotations: Default::default(),
    }))?;
    Ok(std::mem::take(&mut r.plaintext))
}

/// The error of a call that must fail: its code, and its message must say `says`.
fn refused<T>(r: Result<T, tonic::Status>, code: Code, says: &str) {
    match r {
        Ok(_) => panic!("expected {code:?} ({says}), got success"),
        Err(s) => {
            assert_eq!(s.code(), code, "{s:?}");
            assert!(s.message().contains(says), "{s:?} should say {says:?}");
        }
    }
}

/// The policy kube-apiserver's plugin needs on one key.
fn plugin_identity(s: &Server, name: &str, key: &str, actions: &[&str]) -> String {
    put_policy(
        s,
        json!({
            "name": format!("{name}-policy"),
            "statements": [{ "effect": "Allow", "actions": actions, "resources": [format!("key/{key}")] }]
        }),
    );
    identity(s, name, &[], &[&format!("{name}-policy")])
}

const PLUGIN_ACTIONS: [&str; 3] = ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"];

#[test]
fn status_encrypt_decrypt_and_rotation_with_its_own_identity() {
    let s = Server::dev(BIN);
    let key = create_key(&s, json!({ "aliases": ["alias/k8s"] }));
    let token = plugin_identity(&s, "kube-kms", &key, &PLUGIN_ACTIONS);
    let p = Plugin::start(&s.addr, &token, "alias/k8s");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&p.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the socket is owner-only");
    let mut c = p.client();

    let st = status(&mut c);
    assert_eq!(st.version, "v2");
    assert_eq!(st.healthz, "ok");
    let v1 = format!("{key}:v1");
    assert_eq!(st.key_id, v1);

    // kube-apiserver wraps a 32-byte seed.
    let seed: Vec<u8> = (0u8..32).collect();
    let (ct1, kid1) = encrypt(&mut c, &seed).unwrap();
    assert_eq!(kid1, v1);
    assert!(ct1.len() <= 1024, "{} bytes", ct1.len());
    assert!(!ct1.windows(seed.len()).any(|w| w == seed.as_slice()));
    assert_eq!(decrypt(&mut c, &ct1, &kid1).unwrap(), seed);

    // A rotation in Strongroom changes key_id (kube-apiserver makes a new
    // seed); the earlier ciphertext still decrypts under its key_id.
    ok(
        &s,
        "POST",
        "/v1/rotate",
        Some(&json!({ "key": key })),
        &s.token,
    );
    let v2 = format!("{key}:v2");
    assert_eq!(status(&mut c).key_id, v2);
    let (ct2, kid2) = encrypt(&mut c, &seed).unwrap();
    assert_eq!(kid2, v2);
    assert_eq!(decrypt(&mut c, &ct1, &kid1).unwrap(), seed);
    assert_eq!(decrypt(&mut c, &ct2, &kid2).unwrap(), seed);
    // A key_id that does not match its ciphertext is refused.
    refused(
        decrypt(&mut c, &ct1, &kid2),
        Code::InvalidArgument,
        "version",
    );
    refused(
        decrypt(&mut c, &ct1, "not-ours"),
        Code::InvalidArgument,
        "not one this plugin makes",
    );
    // A key_id naming another key: the ciphertext is not under it.
    let other = create_key(&s, json!({}));
    let (st, _) = access_common::call(&s, "GET", &format!("/v1/keys/{other}"), None, Some(&token));
    assert_eq!(
        st, 403,
        "the plugin's identity may not even see another key"
    );
    let e = decrypt(&mut c, &ct1, &format!("{other}:v1")).unwrap_err();
    assert!(
        matches!(e.code(), Code::PermissionDenied | Code::InvalidArgument),
        "{e:?}"
    );

    // The plugin is a client like any other: its uses are audited as its
    // identity.
    let recs = access_common::audit_query(&s, "identity=kube-kms&action=kms:Encrypt", &s.token);
    assert_eq!(recs.len(), 2, "{recs:?}");

    // A disabled key: Status says so, Encrypt is refused.
    ok(
        &s,
        "POST",
        "/v1/disable",
        Some(&json!({ "key": key })),
        &s.token,
    );
    let st = status(&mut c);
    assert!(st.healthz.contains("Disabled"), "{st:?}");
    assert_eq!(st.key_id, v2, "the last known key_id");
    let e = encrypt(&mut c, &seed).unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    assert!(e.message().starts_with("Strongroom: "), "{e:?}");
}

#[test]
fn least_privilege_applies_to_the_plugin() {
    let s = Server::dev(BIN);
    let key = create_key(&s, json!({}));
    let token = plugin_identity(&s, "enc-only", &key, &["kms:Encrypt", "kms:DescribeKey"]);
    let p = Plugin::start(&s.addr, &token, &key);
    let mut c = p.client();
    assert_eq!(status(&mut c).healthz, "ok");
    let (ct, kid) = encrypt(&mut c, b"0123456789abcdef0123456789abcdef").unwrap();
    refused(
        decrypt(&mut c, &ct, &kid),
        Code::PermissionDenied,
        "AccessDenied",
    );

    // Without DescribeKey, Status cannot tell the key version: not healthy.
    let token2 = plugin_identity(&s, "no-describe", &key, &["kms:Encrypt", "kms:Decrypt"]);
    let p2 = Plugin::start(&s.addr, &token2, &key);
    let st = status(&mut p2.client());
    assert_ne!(st.healthz, "ok");
    assert!(st.healthz.contains("AccessDenied"), "{st:?}");

    // A wrong token.
    let p3 = Plugin::start(&s.addr, "sr.not-a-token", &key);
    let mut c3 = p3.client();
    assert_ne!(status(&mut c3).healthz, "ok");
    let e = encrypt(&mut c3, b"x").unwrap_err();
    assert!(
        matches!(e.code(), Code::Unauthenticated | Code::PermissionDenied),
        "{e:?}"
    );
}

#[test]
fn sealed_or_unreachable_strongroom_is_unhealthy_and_refuses() {
    let (s, share) = access_common::production("kms-seal");
    let key = create_key(&s, json!({}));
    let p = Plugin::start(&s.addr, &s.token, &key);
    let mut c = p.client();
    assert_eq!(status(&mut c).healthz, "ok");
    let (ct, kid) = encrypt(&mut c, &[7u8; 32]).unwrap();

    ok(&s, "POST", "/v1/sys/seal", Some(&json!({})), &s.token);
    let st = status(&mut c);
    assert_eq!(st.healthz, "Strongroom is sealed");
    assert_eq!(st.version, "v2");
    assert_eq!(st.key_id, kid, "the last known key_id");
    refused(encrypt(&mut c, &[7u8; 32]), Code::Unavailable, "Sealed");
    refused(decrypt(&mut c, &ct, &kid), Code::Unavailable, "Sealed");

    // Unsealed again: healthy, and the old ciphertext decrypts.
    crate::common::unseal_http(&s, &[share]);
    assert_eq!(status(&mut c).healthz, "ok");
    assert_eq!(decrypt(&mut c, &ct, &kid).unwrap(), [7u8; 32]);

    // Nothing listening: a free port, closed again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gone = format!("http://127.0.0.1:{port}");
    let p2 = Plugin::start(&gone, &s.token, &key);
    let mut c2 = p2.client();
    let st = status(&mut c2);
    assert!(
        st.healthz.starts_with("Strongroom is unreachable"),
        "{st:?}"
    );
    refused(
        encrypt(&mut c2, &[1u8; 32]),
        Code::Unavailable,
        "unreachable",
    );
    refused(
        decrypt(&mut c2, &ct, &kid),
        Code::Unavailable,
        "unreachable",
    );
}

#[test]
fn oversized_and_malformed_requests_get_clear_errors() {
    let s = Server::dev(BIN);
    let key = create_key(&s, json!({}));
    let p = Plugin::start(&s.addr, &s.token, &key);
    let mut c = p.client();
    let kid = status(&mut c).key_id;
    let (ct, _) = encrypt(&mut c, &[9u8; 32]).unwrap();

    refused(
        decrypt(&mut c, &vec![0u8; 2048], &kid),
        Code::InvalidArgument,
        "at most 1024",
    );
    refused(
        encrypt(&mut c, &vec![1u8; 4096]),
        Code::InvalidArgument,
        "4096 bytes",
    );
    refused(encrypt(&mut c, b""), Code::InvalidArgument, "empty");
    refused(decrypt(&mut c, b"", &kid), Code::InvalidArgument, "empty");
    refused(
        decrypt(&mut c, &ct, &"k".repeat(1025)),
        Code::InvalidArgument,
        "at most 1024",
    );
    // Garbage and a flipped bit: Strongroom's generic refusal.
    refused(
        decrypt(&mut c, b"garbage", &kid),
        Code::InvalidArgument,
        "Strongroom: ",
    );
    let mut flipped = ct.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    refused(
        decrypt(&mut c, &flipped, &kid),
        Code::InvalidArgument,
        "Strongroom: ",
    );
    // A message over the gRPC limit is refused before it is decoded.
    let e = block(c.encrypt(EncryptRequest {
        plaintext: vec![0u8; 100 * 1024],
        uid: String::new(),
    }))
    .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    // Still serving, and nothing was changed.
    assert_eq!(status(&mut c).healthz, "ok");
    assert_eq!(decrypt(&mut c, &ct, &kid).unwrap(), [9u8; 32]);
    // The plaintexts never reach the plugin's log.
    assert!(!p.logs().contains("CQkJCQkJ"), "{}", p.logs());
}

#[test]
fn a_stale_socket_is_replaced_and_sigterm_removes_it() {
    let s = Server::dev(BIN);
    let key = create_key(&s, json!({}));
    // SIGKILL leaves the socket file behind; the next plugin on the
    // same path replaces it.
    let p = Plugin::start(&s.addr, &s.token, &key);
    let socket = p.socket.clone();
    let dir = p.kill9();
    assert!(socket.exists(), "a killed plugin leaves its socket");
    let mut p2 = Plugin::start_in(dir, &s.addr, &s.token, &key);
    assert_eq!(status(&mut p2.client()).healthz, "ok");
    // A second plugin on a live socket refuses to start.
    let out = Command::new(BIN)
        .args(["kms-plugin", "--socket"])
        .arg(&p2.socket)
        .args(["--key", &key, "--addr", &s.addr, "--token", &s.token])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("another process is serving on it"), "{err}");
    // SIGTERM: a clean exit, and the socket is gone.
    let st = p2.terminate();
    assert!(st.success(), "{st:?}\n{}", p2.logs());
    assert!(!p2.socket.exists());
}

#[test]
fn the_socket_path_is_checked() {
    let dir = TempDir::new("kms-sock");
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "x").unwrap();
    let run = |path: &Path, extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["kms-plugin", "--socket"])
            .arg(path)
            .args(["--key", "k", "--addr", "http://127.0.0.1:1"])
            .args(extra)
            .env_remove("STRONGROOM_TOKEN")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_no_panic("kms-plugin", &err);
        (out.status.code(), err)
    };
    let (code, err) = run(&file, &["--token", "t"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x", "left alone");
    let (code, err) = run(&dir.path().join("no/such/dir/s.sock"), &["--token", "t"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("does its directory exist"), "{err}");
    let (code, err) = run(&dir.path().join("s.sock"), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no token"), "{err}");
}
