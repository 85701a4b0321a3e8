//! PKCS#11 seal tests against a real SoftHSM2 token, with access to the
//! seal's internals: the RNG is recorded, so the root key's bytes are known
//! and the database, its WAL, the audit log and the SoftHSM token directory
//! can be searched for them.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` when the library is initialized, once per
//! process, and setting environment variables in a multi-threaded test
//! binary is unsound; so the parent test prepares a token in a temp dir and
//! re-runs this test binary, filtered to the `#[ignore]`d child test, with
//! `SOFTHSM2_CONF` set for that process only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;

use super::pkcs11::{Pkcs11Settings, DEFAULT_LIBRARY};
use super::*;
use crate::clock::ManualClock;
use crate::crypto::context::EncryptionContext;
use crate::crypto::rng::{Rng, RngError, SystemRng};
use crate::keys::engine::CreateKey;
use strongroom_store_sql::sqlite::SqliteStore;

const TOKEN: &str = "sr-unit";
const PIN: &str = "unit-pin-4e1c9a";
const WRONG_PIN: &str = "unit-wrong-77b3d0";
const KEY_LABEL: &str = "sr-unit-wrap";
const CHILD_DIR: &str = "STRONGROOM_HSM_UNIT_DIR";

/// Hands out system randomness and remembers every output.
#[derive(Default)]
struct RecordingRng {
    outputs: Mutex<Vec<Vec<u8>>>,
}

impl Rng for RecordingRng {
    fn fill(&self, dest: &mut [u8]) -> std::result::Result<(), RngError> {
        SystemRng.fill(dest)?;
        self.outputs
            .lock()
            .map_err(|_| RngError)?
            .push(dest.to_vec());
        Ok(())
    }
}

/// True when SoftHSM2 is here; otherwise says so loudly (and fails when
/// `STRONGROOM_REQUIRE_SOFTHSM` is set, as scripts/test.sh does).
pub(crate) fn softhsm_available() -> bool {
    let ok = Path::new(DEFAULT_LIBRARY).exists()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("STRONGROOM_REQUIRE_SOFTHSM").is_none(),
            "SoftHSM2 is required (STRONGROOM_REQUIRE_SOFTHSM is set) but {DEFAULT_LIBRARY} or softhsm2-util is missing"
        );
        eprintln!(
            "\n!!!!! SKIPPED: SoftHSM2 is not installed ({DEFAULT_LIBRARY}, softhsm2-util); \
             install it with `apt-get install -y softhsm2` to run the PKCS#11 seal tests !!!!!\n"
        );
    }
    ok
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let p = std::env::temp_dir().join(format!("sr-hsm-unit-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(p.join("tokens")).expect("create token dir");
    p
}

/// A SoftHSM2 config whose tokens live in `dir/tokens`, and one token.
fn init_token(dir: &Path) -> PathBuf {
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .expect("write softhsm2.conf");
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            "unit-so-pin-1",
            "--pin",
            PIN,
        ])
        .output()
        .expect("run softhsm2-util");
    assert!(
        out.status.success(),
        "softhsm2-util --init-token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

#[test]
fn root_key_never_on_disk_with_the_hsm_seal() {
    if !softhsm_available() {
        return;
    }
    let dir = temp_dir("disk");
    let conf = init_token(&dir);
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([
            "node::pkcs11_tests::hsm_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_DIR, &dir)
        .output()
        .expect("run child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test failed:\n{stdout}\n{stderr}"
    );
}

fn settings(pin: &str) -> Pkcs11Settings {
    Pkcs11Settings::new(
        DEFAULT_LIBRARY.into(),
        Some(TOKEN.into()),
        None,
        KEY_LABEL.into(),
        SecretBytes::from_slice(pin.as_bytes()),
    )
}

fn open_seal(dir: &Path, rng: SharedRng, pin: &str) -> Seal {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.join("strongroom.db").to_str().expect("utf-8")).expect("db"),
    );
    Seal::open(
        store,
        Arc::new(ManualClock::new(1_700_000_000)),
        rng,
        EngineConfig::default(),
        AuditConfig {
            path: dir.join("audit.jsonl"),
            checkpoint_every: 1000,
            enabled: true,
            rotation: crate::audit::Rotation::default(),
            low_space_bytes: 0,
        },
    )
    .expect("open seal")
    .with_pkcs11(settings(pin))
}

fn files_under(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            files_under(&p, out);
        } else if p.is_file() {
            out.push((p.display().to_string(), std::fs::read(&p).expect("read")));
        }
    }
}

fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        secret.to_vec(),
        STANDARD.encode(secret).into_bytes(),
        STANDARD_NO_PAD.encode(secret).into_bytes(),
        URL_SAFE.encode(secret).into_bytes(),
        URL_SAFE_NO_PAD.encode(secret).into_bytes(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
    ]
}

fn assert_not_on_disk(dir: &Path, root: &[u8], when: &str) {
    let mut files = Vec::new();
    files_under(dir, &mut files);
    assert!(
        files.iter().any(|(n, _)| n.contains("tokens")),
        "the token directory should hold the token's files"
    );
    assert!(files.iter().any(|(n, _)| n.ends_with("strongroom.db")));
    for (name, data) in &files {
        for enc in encodings(root) {
            assert!(
                !data.windows(enc.len()).any(|w| w == enc.as_slice()),
                "the root key is in {name} ({when})"
            );
        }
    }
}

/// Runs only as the child process of the test above.
#[test]
#[ignore = "run by root_key_never_on_disk_with_the_hsm_seal in its own process"]
fn hsm_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR).map(PathBuf::from) else {
        return;
    };
    let rng = Arc::new(RecordingRng::default());
    let seal = open_seal(&dir, rng.clone(), PIN);
    assert_eq!(seal.status().expect("status").seal_type, "pkcs11");
    assert_eq!(
        seal.init(5, 3).err().map(|e| e.code()),
        Some("InvalidArgument"),
        "a pkcs11 seal has no shares"
    );
    let out = seal.init_pkcs11(None).expect("init with the HSM");
    assert!(out.shares.is_empty());
    assert!(seal.is_unsealed(), "init with the HSM unseals at once");
    // The root key is the second 32-byte RNG output after the 16-byte
    // cluster id (see init_pkcs11): find it by trying every 32-byte output.
    let recorded = rng.outputs.lock().expect("lock").clone();
    let wrapped = seal
        .store
        .get_meta(META_ROOT_KEY)
        .expect("meta")
        .expect("root key");
    let cfg = seal.config().expect("config").expect("initialized");
    let root = recorded
        .iter()
        .filter(|o| o.len() == AES_KEY_LEN)
        .find(|o| {
            pkcs11::unwrap(
                &settings(PIN),
                root_key_aad(&cfg.cluster_id).as_bytes(),
                &wrapped,
            )
            .is_ok_and(|r| r.expose() == o.as_slice())
        })
        .cloned()
        .expect("the recorded RNG outputs include the root key");
    assert_ne!(wrapped.as_slice(), root.as_slice());

    let engine = seal.engine().expect("engine");
    let key = engine.create(CreateKey::default()).expect("create").id;
    let ctx = EncryptionContext::new();
    let ct = engine
        .encrypt(&key, b"before restart", &ctx)
        .expect("encrypt")
        .ciphertext;
    assert_not_on_disk(&dir, &root, "after init and use");

    // A new process: the HSM unseals it.
    drop(engine);
    drop(seal);
    let seal = open_seal(&dir, rng.clone(), PIN);
    assert!(!seal.is_unsealed());
    seal.auto_unseal().expect("auto-unseal");
    let pt = seal
        .engine()
        .expect("engine")
        .decrypt(&ct, &ctx, None)
        .expect("decrypt after restart");
    assert_eq!(pt.plaintext.expose(), b"before restart");
    assert!(seal.authenticate(out.root_token.expose()).is_ok());
    assert_eq!(
        seal.unseal("anything").err().map(|e| e.code()),
        Some("InvalidArgument"),
        "shares are refused on a pkcs11 seal"
    );

    // Wrong PIN: sealed, a clear error without the PIN.
    let bad = open_seal(&dir, rng.clone(), WRONG_PIN);
    let e = bad.auto_unseal().expect_err("wrong PIN must fail");
    let m = e.to_string();
    assert_eq!(e.code(), "HsmUnavailable");
    assert!(
        m.contains("PinIncorrect") && m.contains("PIN is wrong"),
        "{m}"
    );
    assert!(!m.contains(WRONG_PIN) && !m.contains(PIN), "{m}");
    assert!(!bad.is_unsealed());
    let st = bad.status().expect("status");
    assert!(st.sealed);
    assert!(st
        .seal_error
        .as_deref()
        .is_some_and(|s| s.contains("PinIncorrect")));

    // Migrate to Shamir and back: the root key does not change, data still
    // decrypts, and the root key is still nowhere on disk.
    let store = seal.store.clone();
    drop(seal); // closes its audit log
                // Data keys are not touched by a migration: every key and version row
                // (sealed bodies included) must be byte-identical afterwards.
    let rows = |st: &Arc<dyn Store>| {
        (
            st.load_keys().expect("keys"),
            st.load_all_versions().expect("versions"),
        )
    };
    let before = rows(&store);
    assert!(!before.0.is_empty() && !before.1.is_empty());
    let wrapped_before = store.get_meta(META_ROOT_KEY).expect("meta");
    let shares =
        migrate::to_shamir(store.as_ref(), rng.as_ref(), &settings(PIN), 3, 2).expect("to shamir");
    let texts: Vec<String> = shares
        .iter()
        .map(|s| String::from_utf8_lossy(s.expose()).into_owned())
        .collect();
    let plain = Seal::open(
        store.clone(),
        Arc::new(ManualClock::new(1_700_000_000)),
        rng.clone(),
        EngineConfig::default(),
        AuditConfig {
            path: dir.join("audit.jsonl"),
            checkpoint_every: 1000,
            enabled: true,
            rotation: crate::audit::Rotation::default(),
            low_space_bytes: 0,
        },
    )
    .expect("open");
    plain.unseal(&texts[0]).expect("share 1");
    plain.unseal(&texts[2]).expect("share 3");
    assert!(plain.is_unsealed());
    let pt = plain
        .engine()
        .expect("engine")
        .decrypt(&ct, &ctx, None)
        .expect("decrypt after migrating to shamir");
    assert_eq!(pt.plaintext.expose(), b"before restart");
    assert_not_on_disk(&dir, &root, "after migrating to shamir");
    assert!(
        rows(&store) == before,
        "migrate-seal changed a key or version row"
    );
    assert_ne!(store.get_meta(META_ROOT_KEY).expect("meta"), wrapped_before);
    drop(plain);

    // Wrong shares change nothing.
    let e = migrate::to_pkcs11(
        store.as_ref(),
        rng.as_ref(),
        &settings(PIN),
        &[texts[0].clone(), texts[0].clone()],
    )
    .expect_err("duplicate shares refused");
    assert_eq!(e.code(), "InvalidShare");
    assert_eq!(
        migrate::current_kind(store.as_ref())
            .expect("kind")
            .as_deref(),
        Some("shamir")
    );
    migrate::to_pkcs11(
        store.as_ref(),
        rng.as_ref(),
        &settings(PIN),
        &[texts[1].clone(), texts[2].clone()],
    )
    .expect("back to pkcs11");
    let again = open_seal(&dir, rng.clone(), PIN);
    again
        .auto_unseal()
        .expect("auto-unseal after migrating back");
    let pt = again
        .engine()
        .expect("engine")
        .decrypt(&ct, &ctx, None)
        .expect("decrypt after migrating back");
    assert_eq!(pt.plaintext.expose(), b"before restart");
    assert_not_on_disk(&dir, &root, "after migrating back to pkcs11");
    assert!(
        rows(&store) == before,
        "migrate-seal changed a key or version row"
    );
}
