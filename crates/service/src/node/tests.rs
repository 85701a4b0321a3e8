//! Seal tests (security.md 23–24): Shamir thresholds, duplicate, corrupted,
//! forged and foreign shares, init parameters, authentication, sealing
//! again, no secret on disk, and no plaintext in errors.

use super::*;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;

use crate::clock::ManualClock;
use crate::crypto::context::EncryptionContext;
use crate::crypto::rng::{Rng, RngError, SystemRng};
use crate::crypto::spec::MessageType;
use crate::keys::engine::CreateKey;
use strongroom_store_sql::sqlite::SqliteStore;

const T0: i64 = 1_700_000_000;

// ---------------------------------------------------------------- helpers

fn mem_store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(":memory:").expect("open sqlite"))
}

fn open_with(store: Arc<dyn Store>, rng: SharedRng) -> Seal {
    let clock: SharedClock = Arc::new(ManualClock::new(T0));
    Seal::open(
        store,
        clock,
        rng,
        EngineConfig::default(),
        crate::node::AuditConfig::in_temp_dir(),
    )
    .expect("open seal")
}

fn open(store: Arc<dyn Store>) -> Seal {
    open_with(store, Arc::new(SystemRng))
}

fn text(s: &SecretBytes) -> String {
    String::from_utf8(s.expose().to_vec()).expect("share text is UTF-8")
}

fn texts(out: &InitOutput) -> Vec<String> {
    out.shares.iter().map(text).collect()
}

fn code<T>(r: Result<T>) -> &'static str {
    match r {
        Ok(_) => "Ok",
        Err(e) => e.code(),
    }
}

fn error<T>(r: Result<T>) -> Error {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn progress(seal: &Seal) -> u8 {
    seal.status().expect("status").progress
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("sr-seal-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }

    fn db(&self) -> String {
        self.0
            .join("strongroom.db")
            .to_str()
            .expect("utf-8 path")
            .to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file_store(dir: &TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.db()).expect("open sqlite file"))
}

/// Re-frames a share with a different `y` but a valid checksum, as a
/// careful forger (or a share from a different split of the same cluster)
/// would produce.
fn forge(share: &str) -> String {
    let mut f = URL_SAFE_NO_PAD.decode(share).expect("share is base64url");
    assert_eq!(f.len(), 60);
    f[20] ^= 0x5a;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"strongroom-share-v1");
    ctx.update(&f[3..19]);
    ctx.update(&f[19..20]);
    ctx.update(&f[20..52]);
    let d = ctx.finish();
    f[52..60].copy_from_slice(&d.as_ref()[..8]);
    URL_SAFE_NO_PAD.encode(&f)
}

// ------------------------------------------------------------- thresholds

#[test]
fn k_minus_one_shares_do_not_unseal() {
    let seal = open(mem_store());
    let st = seal.status().expect("status");
    assert!(!st.initialized && st.sealed);
    assert_eq!(code(seal.engine()), "NotInitialized");

    let out = seal.init(5, 3).expect("init 5/3");
    let s = texts(&out);
    assert_eq!(s.len(), 5);
    assert_eq!(
        s.iter().collect::<std::collections::HashSet<_>>().len(),
        5,
        "shares differ"
    );
    let st = seal.status().expect("status");
    assert_eq!(
        st,
        SealStatus {
            initialized: true,
            sealed: true,
            shares: 5,
            threshold: 3,
            progress: 0,
            storage: "sqlite".into(),
            seal_type: "shamir".into(),
            seal_error: None,
        }
    );
    assert_eq!(
        code(seal.engine()),
        "Sealed",
        "init leaves the server sealed"
    );

    let st = seal.unseal(&s[0]).expect("share 1");
    assert!(st.sealed);
    assert_eq!(st.progress, 1);
    let st = seal.unseal(&s[1]).expect("share 2");
    assert!(st.sealed);
    assert_eq!(st.progress, 2);
    assert_eq!(progress(&seal), 2);
    assert!(!seal.is_unsealed());
    assert_eq!(code(seal.engine()), "Sealed", "k-1 shares must not unseal");
    assert_eq!(code(seal.authenticate(out.root_token.expose())), "Sealed");

    let st = seal.unseal(&s[2]).expect("share 3");
    assert!(!st.sealed);
    assert_eq!(st.progress, 0);
    assert!(seal.is_unsealed());
    assert!(seal.engine().is_ok());
    // Further shares are a no-op.
    assert!(!seal.unseal(&s[3]).expect("extra share").sealed);

    // Any other 3 shares, in any order, work too.
    seal.seal().expect("seal");
    for sh in [&s[4], &s[1]] {
        seal.unseal(sh).expect("share");
    }
    assert_eq!(code(seal.engine()), "Sealed");
    seal.unseal(&s[3]).expect("third share");
    assert!(seal.engine().is_ok());
}

#[test]
fn duplicate_corrupted_and_foreign_shares_are_rejected() {
    let seal = open(mem_store());
    let s = texts(&seal.init(5, 3).expect("init"));
    seal.unseal(&s[0]).expect("share 1");
    assert_eq!(progress(&seal), 1);
    let mut rejected = Vec::new();

    // Duplicate, also when padded with whitespace.
    for dup in [s[0].clone(), format!("  {}\n", s[0])] {
        let e = error(seal.unseal(&dup));
        assert_eq!(e.code(), "InvalidShare");
        assert!(e.to_string().contains("already submitted"), "{e}");
        assert_eq!(progress(&seal), 1, "a duplicate does not count");
        rejected.push((dup, e));
    }

    // Corrupted: change any one character after the magic.
    let chars: Vec<char> = s[1].chars().collect();
    assert_eq!(chars.len(), 80);
    for i in 4..chars.len() {
        let mut c = chars.clone();
        c[i] = if c[i] == 'A' { 'B' } else { 'A' };
        let corrupted: String = c.into_iter().collect();
        let e = error(seal.unseal(&corrupted));
        assert_eq!(e.code(), "InvalidShare", "char {i}");
        assert!(e.to_string().contains("corrupted"), "char {i}: {e}");
        assert_eq!(progress(&seal), 1);
        rejected.push((corrupted, e));
    }

    // Foreign: a share of another installation.
    let other = open(mem_store());
    let foreign = texts(&other.init(5, 3).expect("init other"));
    for f in &foreign {
        let e = error(seal.unseal(f));
        assert_eq!(e.code(), "InvalidShare");
        assert!(
            e.to_string().contains("different Strongroom installation"),
            "{e}"
        );
        assert_eq!(progress(&seal), 1);
        rejected.push((f.clone(), e));
    }

    // Not shares at all.
    let padded = format!("{}AA", s[1]);
    for g in ["", "not a share!", "SS", &s[1][..40], padded.as_str()] {
        let e = error(seal.unseal(g));
        assert_eq!(e.code(), "InvalidShare", "{g:?}");
        assert_eq!(progress(&seal), 1);
    }

    // No error echoes the share it rejected, or any real share.
    for (share, e) in &rejected {
        for shown in [e.to_string(), format!("{e:?}"), e.public_message()] {
            assert!(
                !shown.contains(share.trim()),
                "error echoes the share: {shown}"
            );
            for real in &s {
                assert!(!shown.contains(real.as_str()));
            }
        }
    }

    // The rejected shares did not spoil the attempt.
    seal.unseal(&s[1]).expect("share 2");
    assert_eq!(code(seal.engine()), "Sealed");
    seal.unseal(&s[2]).expect("share 3");
    assert!(seal.engine().is_ok());
}

#[test]
fn forged_share_with_valid_framing_resets_progress() {
    let seal = open(mem_store());
    let s = texts(&seal.init(5, 3).expect("init"));
    seal.unseal(&s[0]).expect("share 1");
    seal.unseal(&s[1]).expect("share 2");
    let e = error(seal.unseal(&forge(&s[3])));
    assert_eq!(e.code(), "InvalidShare");
    assert!(e.to_string().contains("did not reconstruct"), "{e}");
    assert_eq!(progress(&seal), 0, "a failed attempt starts over");
    assert_eq!(code(seal.engine()), "Sealed");
    for sh in &s[..3] {
        seal.unseal(sh).expect("real share");
    }
    assert!(seal.engine().is_ok());
}

// ------------------------------------------------------------------- init

#[test]
fn init_parameters_and_second_init() {
    let store = mem_store();
    let seal = open(store.clone());
    assert_eq!(code(seal.unseal("anything")), "NotInitialized");
    assert_eq!(code(seal.authenticate(b"sr.x")), "NotInitialized");
    for (shares, threshold) in [(5u8, 0u8), (3, 5), (0, 0), (0, 1), (5, 1), (2, 1), (1, 2)] {
        assert_eq!(
            code(seal.init(shares, threshold)),
            "InvalidArgument",
            "{shares}/{threshold}"
        );
        assert!(!seal.status().expect("status").initialized);
    }
    let out = seal.init(1, 1).expect("init 1/1");
    assert_eq!(out.shares.len(), 1);
    assert_eq!(code(seal.init(1, 1)), "AlreadyInitialized");
    assert_eq!(code(seal.init(5, 3)), "AlreadyInitialized");
    assert_eq!(code(seal.init_dev(None)), "AlreadyInitialized");
    // Another process on the same storage.
    let again = open(store);
    assert_eq!(code(again.init(5, 3)), "AlreadyInitialized");
    assert_eq!(code(again.init_dev(None)), "AlreadyInitialized");
    // The original shares still unseal it.
    again.unseal(&text(&out.shares[0])).expect("unseal");
    assert!(again.engine().is_ok());
}

// --------------------------------------------------------- authentication

#[test]
fn authenticate_root_token() {
    let seal = open(mem_store());
    let token = seal.init_dev(None).expect("init_dev");
    let t = text(&token);
    assert!(t.starts_with("sr."));
    let p = seal.authenticate(token.expose()).expect("root token");
    assert_eq!(
        (p.id.as_str(), p.kind),
        ("root", crate::auth::PrincipalKind::Root)
    );
    let mut changed: Vec<u8> = token.expose().to_vec();
    let last = changed.len() - 1;
    changed[last] = if changed[last] == b'A' { b'B' } else { b'A' };
    let other = auth::new_token(&SystemRng).expect("token");
    // An empty token is no token at all.
    assert_eq!(code(seal.authenticate(b"")), "Unauthenticated");
    let wrong: Vec<Vec<u8>> = vec![
        changed,
        token.expose()[..token.len() - 1].to_vec(),
        [token.expose(), b"x"].concat(),
        t.to_uppercase().into_bytes(),
        format!(" {t}").into_bytes(),
        other.expose().to_vec(),
        auth::token_hash(token.expose()).to_vec(),
    ];
    for w in &wrong {
        let e = error(seal.authenticate(w));
        assert_eq!(e.code(), "InvalidToken");
        assert!(!e.to_string().contains(&t));
    }
    seal.seal().expect("seal");
    assert_eq!(code(seal.authenticate(token.expose())), "Sealed");

    // A chosen dev token.
    let seal = open(mem_store());
    let chosen = SecretBytes::from_slice(b"sr.chosen-dev-token");
    let got = seal.init_dev(Some(chosen.duplicate())).expect("init_dev");
    assert!(got.ct_eq(chosen.expose()));
    assert!(seal.authenticate(chosen.expose()).is_ok());
    assert_eq!(code(seal.authenticate(token.expose())), "InvalidToken");
}

// ----------------------------------------------------------- sealing again

#[test]
fn seal_drops_the_engine_and_unseal_restores_it() {
    let dir = TempDir::new("reseal");
    let seal = open(file_store(&dir));
    let out = seal.init(3, 2).expect("init 3/2");
    let s = texts(&out);
    seal.unseal(&s[0]).expect("share");
    seal.unseal(&s[1]).expect("share");
    let engine = seal.engine().expect("engine");
    let id = engine.create(CreateKey::default()).expect("create").id;
    let c: EncryptionContext = [("k".to_string(), "v".to_string())].into_iter().collect();
    let ct = engine
        .encrypt(&id, b"survives sealing", &c)
        .expect("encrypt")
        .ciphertext;
    let weak = Arc::downgrade(&engine);
    drop(engine);

    seal.seal().expect("seal");
    assert!(
        weak.upgrade().is_none(),
        "the sealed server still holds the engine and its keys"
    );
    assert_eq!(code(seal.engine()), "Sealed");
    assert_eq!(code(seal.authenticate(out.root_token.expose())), "Sealed");
    assert!(!seal.is_unsealed());
    let st = seal.status().expect("status");
    assert!(st.initialized && st.sealed);
    assert_eq!(st.progress, 0);
    seal.seal().expect("sealing twice is fine");

    seal.unseal(&s[2]).expect("share");
    assert_eq!(code(seal.engine()), "Sealed");
    seal.unseal(&s[0]).expect("share");
    let engine = seal.engine().expect("engine again");
    let d = engine.decrypt(&ct, &c, None).expect("decrypt after unseal");
    assert_eq!(d.plaintext.expose(), b"survives sealing");
    assert!(seal.authenticate(out.root_token.expose()).is_ok());
    drop(engine);
    drop(seal);

    // A restart: sealed until the threshold is met again.
    let seal = open(file_store(&dir));
    let st = seal.status().expect("status");
    assert!(st.initialized && st.sealed);
    assert_eq!((st.shares, st.threshold), (3, 2));
    assert_eq!(code(seal.engine()), "Sealed");
    seal.unseal(&s[1]).expect("share");
    seal.unseal(&s[2]).expect("share");
    let engine = seal.engine().expect("engine after restart");
    let d = engine
        .decrypt(&ct, &c, None)
        .expect("decrypt after restart");
    assert_eq!(d.plaintext.expose(), b"survives sealing");
    assert!(seal.authenticate(out.root_token.expose()).is_ok());
}

// ------------------------------------------------------- nothing on disk

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

fn read_dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let p = entry.expect("dir entry").path();
        if p.is_file() {
            out.push((
                p.display().to_string(),
                std::fs::read(&p).expect("read file"),
            ));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every encoding in which a secret could plausibly be stored.
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

fn assert_not_on_disk(files: &[(String, Vec<u8>)], secrets: &[(String, Vec<u8>)], when: &str) {
    for (name, data) in files {
        for (what, secret) in secrets {
            for enc in encodings(secret) {
                assert!(!contains(data, &enc), "{what} found in {name} ({when})");
            }
        }
    }
}

#[test]
fn no_root_key_or_key_material_reaches_disk_in_plaintext() {
    let dir = TempDir::new("disk");
    let rng = Arc::new(RecordingRng::default());
    let shared: SharedRng = rng.clone();
    let seal = open_with(file_store(&dir), shared);
    let out = seal.init(3, 2).expect("init");
    let shares = texts(&out);
    let token = text(&out.root_token);
    seal.unseal(&shares[0]).expect("share");
    seal.unseal(&shares[2]).expect("share");
    let engine = seal.engine().expect("engine");
    let aes = engine.create(CreateKey::default()).expect("create aes").id;
    let hmac = engine
        .create(CreateKey {
            spec: Some("HMAC_SHA_256".into()),
            ..Default::default()
        })
        .expect("create hmac")
        .id;
    let hmac512 = engine
        .create(CreateKey {
            spec: Some("HMAC_SHA_512".into()),
            ..Default::default()
        })
        .expect("create hmac 512")
        .id;
    let c = EncryptionContext::new();
    engine.encrypt(&aes, b"x", &c).expect("encrypt");
    engine.rotate(&aes).expect("rotate");
    engine.generate_mac(&hmac, b"m").expect("mac");
    engine.generate_mac(&hmac512, b"m").expect("mac");
    let dk = engine
        .generate_data_key(&aes, None, &c, true)
        .expect("data key");
    let dk_plain = dk.plaintext.as_ref().expect("plaintext").expose().to_vec();

    // Everything the RNG handed out that is 32 bytes or longer is secret:
    // root key, unseal key, root token, AES and HMAC material, the data key.
    let recorded = rng.outputs.lock().expect("lock").clone();
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, o) in recorded.iter().enumerate().filter(|(_, o)| o.len() >= 32) {
        secrets.push((format!("RNG output #{i} ({} bytes)", o.len()), o.clone()));
        for (j, w) in o.chunks(32).enumerate().filter(|(_, w)| w.len() == 32) {
            secrets.push((format!("RNG output #{i} chunk {j}"), w.to_vec()));
        }
    }
    // root, unseal, token, AES v1, HMAC-256, HMAC-512, AES v2, data key.
    let big = recorded.iter().filter(|o| o.len() >= 32).count();
    assert!(
        big >= 8,
        "expected at least 8 secret RNG outputs, saw {big}"
    );
    assert!(
        secrets.iter().any(|(_, s)| *s == dk_plain),
        "the data key came from the injected RNG"
    );
    secrets.push(("root token".into(), token.clone().into_bytes()));
    for (i, sh) in shares.iter().enumerate() {
        secrets.push((format!("share {i}"), sh.clone().into_bytes()));
        let raw = URL_SAFE_NO_PAD.decode(sh).expect("share base64");
        secrets.push((format!("share {i} y"), raw[20..52].to_vec()));
    }

    let check = |when: &str| {
        let files = read_dir_files(&dir.0);
        assert!(
            files.iter().any(|(_, d)| contains(d, aes.as_bytes())),
            "positive control: the key id is stored in plaintext, so the files were read ({when})"
        );
        assert_not_on_disk(&files, &secrets, when);
    };
    check("while running");
    drop(dk);
    drop(engine);
    seal.seal().expect("seal");
    drop(seal);
    check("after close");
}

// ----------------------------------------------------------------- canary

#[test]
fn plaintext_never_appears_in_errors_or_debug_output() {
    const CANARY: &str = "CANARY-PLAINTEXT-7f3a";
    let seal = open(mem_store());
    seal.init_dev(None).expect("init_dev");
    let e = seal.engine().expect("engine");
    let id = e.create(CreateKey::default()).expect("create").id;
    let other = e.create(CreateKey::default()).expect("create").id;
    let hmac = e
        .create(CreateKey {
            spec: Some("HMAC_SHA_256".into()),
            ..Default::default()
        })
        .expect("create hmac")
        .id;
    let c: EncryptionContext = [("purpose".to_string(), "canary".to_string())]
        .into_iter()
        .collect();
    let wrong: EncryptionContext = [("purpose".to_string(), "other".to_string())]
        .into_iter()
        .collect();
    let enc = e.encrypt(&id, CANARY.as_bytes(), &c).expect("encrypt");
    let ct = enc.ciphertext.clone();
    let mut flipped = ct.clone();
    flipped[30] ^= 1;
    let big = CANARY.repeat(200);

    let mut errors: Vec<Error> = Vec::new();
    let mut push = |r: Result<()>| {
        if let Err(err) = r {
            errors.push(err);
        }
    };
    push(e.decrypt(&ct, &wrong, None).map(drop));
    push(e.decrypt(&ct, &EncryptionContext::new(), None).map(drop));
    push(e.decrypt(&ct, &c, Some(&other)).map(drop));
    push(e.decrypt(&ct[..ct.len() - 1], &c, None).map(drop));
    push(e.decrypt(&flipped, &c, None).map(drop));
    push(e.decrypt(CANARY.as_bytes(), &c, None).map(drop));
    push(e.reencrypt(&ct, &wrong, None, &other, &c).map(drop));
    push(e.reencrypt(&ct, &c, None, &hmac, &c).map(drop));
    push(e.encrypt(&hmac, CANARY.as_bytes(), &c).map(drop));
    push(e.encrypt(&id, big.as_bytes(), &c).map(drop));
    push(
        e.sign(&id, CANARY.as_bytes(), MessageType::Raw, None)
            .map(drop),
    );
    push(e.generate_mac(&id, CANARY.as_bytes()).map(drop));
    push(e.generate_mac(&hmac, big.as_bytes()).map(drop));
    push(
        e.verify_mac(&hmac, big.as_bytes(), CANARY.as_bytes())
            .map(drop),
    );
    e.disable(&id).expect("disable");
    push(e.decrypt(&ct, &c, None).map(drop));
    push(e.encrypt(&id, CANARY.as_bytes(), &c).map(drop));
    e.enable(&id).expect("enable");
    e.rotate(&id).expect("rotate");
    e.set_version_enabled(&id, 1, false).expect("disable v1");
    push(e.decrypt(&ct, &c, None).map(drop));
    e.set_version_enabled(&id, 1, true).expect("enable v1");
    e.set_min_decryption_version(&id, 2).expect("min 2");
    push(e.decrypt(&ct, &c, None).map(drop));
    assert!(
        errors.len() >= 18,
        "every attempt above must fail, got {} errors",
        errors.len()
    );

    let canary_bytes = format!("{:?}", CANARY.as_bytes());
    let canary_list = canary_bytes.trim_start_matches('[').trim_end_matches(']');
    let hex: String = CANARY.bytes().map(|b| format!("{b:02x}")).collect();
    let forms = [
        CANARY.to_string(),
        canary_list.to_string(),
        hex,
        STANDARD_NO_PAD.encode(CANARY),
    ];
    let check = |what: &str, shown: &str| {
        for f in &forms {
            assert!(
                !shown.contains(f.as_str()),
                "{what} shows the plaintext: {shown}"
            );
        }
    };
    for err in &errors {
        check("Display", &err.to_string());
        check("Debug", &format!("{err:?}"));
        check("public_message", &err.public_message());
    }

    e.set_min_decryption_version(&id, 1).expect("min 1");
    let d = e.decrypt(&ct, &c, None).expect("decrypt");
    assert_eq!(d.plaintext.expose(), CANARY.as_bytes());
    let shown = format!("{:?}", d.plaintext);
    check("DecryptOutput plaintext Debug", &shown);
    assert!(shown.contains("redacted"), "{shown}");
    check("EncryptOutput Debug", &format!("{enc:?}"));
    let dk = e.generate_data_key(&id, None, &c, true).expect("data key");
    let dk_hex: String = dk
        .plaintext
        .as_ref()
        .expect("plaintext")
        .expose()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let shown = format!("{:?}", dk.plaintext);
    assert!(
        !shown.contains(&dk_hex) && shown.contains("redacted"),
        "{shown}"
    );
    check(
        "KeyMeta Debug",
        &format!("{:?}", e.describe(&id).expect("describe")),
    );
}

// ------------------------------------------------------- tampered storage

/// An installation with two keys on disk; returns the share and key ids.
fn tamper_fixture(dir: &TempDir) -> (String, String, String) {
    let seal = open(file_store(dir));
    let out = seal.init(1, 1).expect("init");
    let share = text(&out.shares[0]);
    seal.unseal(&share).expect("unseal");
    let e = seal.engine().expect("engine");
    let a = e.create(CreateKey::default()).expect("create a").id;
    let b = e.create(CreateKey::default()).expect("create b").id;
    (share, a, b)
}

fn sql(dir: &TempDir, statement: &str, params: &[&dyn rusqlite::ToSql]) {
    let conn = rusqlite::Connection::open(dir.db()).expect("open db");
    let n = conn.execute(statement, params).expect("tamper");
    assert!(n >= 1, "tampering changed no row: {statement}");
}

fn get_body(dir: &TempDir, table: &str, column: &str, id: &str) -> Vec<u8> {
    let conn = rusqlite::Connection::open(dir.db()).expect("open db");
    conn.query_row(
        &format!("SELECT body FROM {table} WHERE {column} = ?1"),
        [id],
        |r| r.get(0),
    )
    .expect("read body")
}

/// Unseals a tampered store with the right share; returns the error.
fn unseal_tampered(dir: &TempDir, share: &str) -> Error {
    let seal = open(file_store(dir));
    let e = error(seal.unseal(share));
    assert_eq!(
        code(seal.engine()),
        "Sealed",
        "a tampered store must stay sealed"
    );
    assert_eq!(progress(&seal), 0, "the failed attempt is reset");
    assert!(!seal.is_unsealed());
    e
}

/// Each way of tampering with a record: flipped byte in a key record,
/// key records swapped, flipped byte in a version record.
type Tamper = fn(&TempDir, &str, &str);

fn tamperings() -> Vec<(&'static str, Tamper)> {
    vec![
        ("flipped key record", |dir, a, _| {
            let mut body = get_body(dir, "keys", "id", a);
            let i = body.len() / 2;
            body[i] ^= 1;
            sql(dir, "UPDATE keys SET body = ?1 WHERE id = ?2", &[&body, &a]);
        }),
        ("swapped key records", |dir, a, b| {
            let ba = get_body(dir, "keys", "id", a);
            let bb = get_body(dir, "keys", "id", b);
            sql(dir, "UPDATE keys SET body = ?1 WHERE id = ?2", &[&bb, &a]);
            sql(dir, "UPDATE keys SET body = ?1 WHERE id = ?2", &[&ba, &b]);
        }),
        ("flipped version record", |dir, a, _| {
            let mut body = get_body(dir, "key_versions", "key_id", a);
            let i = body.len() / 2;
            body[i] ^= 1;
            sql(
                dir,
                "UPDATE key_versions SET body = ?1 WHERE key_id = ?2",
                &[&body, &a],
            );
        }),
    ]
}

#[test]
fn tampered_records_keep_the_server_sealed() {
    for (what, tamper) in tamperings() {
        let dir = TempDir::new("tamper");
        let (share, a, b) = tamper_fixture(&dir);
        // Untampered, the share unseals.
        let seal = open(file_store(&dir));
        seal.unseal(&share).expect("unseal before tampering");
        drop(seal);
        tamper(&dir, &a, &b);
        let e = unseal_tampered(&dir, &share);
        // An error, not a pending approval (the one non-error answer).
        assert!(!matches!(e, Error::ApprovalRequired { .. }), "{what}: {e}");
    }
}

/// `Seal::unseal` maps every failure of `unlock` other than `InvalidShare`
/// and `StorageUnavailable` to `InvalidShare("the shares did not reconstruct
/// the unseal key ...")`. When the shares are right but a stored record fails
/// its integrity check (`Engine::load` returns `Internal`), the operator is
/// told the shares are wrong, gets a 400, and is sent to re-enter shares
/// instead of investigating a tampered or corrupted database.
#[test]

fn tampered_records_are_not_blamed_on_the_shares() {
    for (what, tamper) in tamperings() {
        let dir = TempDir::new("tamper-msg");
        let (share, a, b) = tamper_fixture(&dir);
        tamper(&dir, &a, &b);
        let e = unseal_tampered(&dir, &share);
        assert_ne!(e.code(), "InvalidShare", "{what}: {e}");
        assert!(
            !e.to_string().contains("did not reconstruct"),
            "{what}: {e}"
        );
        assert_eq!(e.code(), "InternalError", "{what}: {e}");
    }
}
