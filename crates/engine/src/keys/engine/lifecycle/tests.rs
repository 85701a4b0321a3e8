//! Lifecycle tests with the manual clock: activation and expiry (the phase
//! table cell by cell), compromise, use statistics and the inventory, and
//! destruction that leaves no trace of the material in the database files.

use std::sync::Arc;

use super::super::*;
use super::exposure;
use super::AuditedUse;
use crate::clock::{Clock, ManualClock, SharedClock, Timestamp, DAY};
use crate::crypto::rng::SystemRng;
use crate::keys::state::{Phase, PHASE_TABLE};
use crate::seal::barrier::version_identity;
use crate::testing::TestSeal as Seal;
use strongroom_store_sql::sqlite::SqliteStore;

const T0: Timestamp = 1_700_000_000;

struct Env {
    clock: Arc<ManualClock>,
    engine: Arc<Engine>,
    _seal: Seal,
}

fn env() -> Env {
    let (seal, clock) = crate::testing::dev_seal_on_manual_clock(T0);
    let engine = seal.engine().expect("engine");
    Env {
        clock,
        engine,
        _seal: seal,
    }
}

fn code<T>(r: Result<T>) -> &'static str {
    match r {
        Ok(_) => "Ok",
        Err(e) => e.code(),
    }
}

fn ctx() -> EncryptionContext {
    EncryptionContext::new()
}

fn create(
    e: &Engine,
    spec: &str,
    activation: Option<Timestamp>,
    expiry: Option<Timestamp>,
) -> String {
    e.create(CreateKey {
        spec: Some(spec.into()),
        activation_date: activation,
        expiry_date: expiry,
        ..Default::default()
    })
    .expect("create")
    .id
}

/// Runs `op` against keys of a fitting spec; "Ok" or the error code.
/// Material-free operations are represented by UpdateMetadata and Rotate.
/// One key of each kind, with a ciphertext, signature and MAC made while active.
struct Fixture {
    aes: String,
    ecc: String,
    mac: String,
    kem: String,
    ct: Vec<u8>,
    sig: Vec<u8>,
    tag: Vec<u8>,
    kem_ct: Vec<u8>,
}

fn run(e: &Engine, op: Operation, f: &Fixture) -> &'static str {
    let (aes, ecc, mac, ct, sig, tag) = (&f.aes, &f.ecc, &f.mac, &f.ct[..], &f.sig[..], &f.tag[..]);
    let m = b"message";
    match op {
        Operation::Encrypt => code(e.encrypt(aes, m, &ctx())),
        Operation::Decrypt => code(e.decrypt(ct, &ctx(), None)),
        Operation::GenerateDataKey => code(e.generate_data_key(aes, None, &ctx(), true)),
        Operation::Sign => code(e.sign(ecc, m, MessageType::Raw, None)),
        Operation::Verify => match e.verify(ecc, m, MessageType::Raw, sig, None) {
            Ok(true) => "Ok",
            Ok(false) => "invalid",
            Err(x) => x.code(),
        },
        Operation::GenerateMac => code(e.generate_mac(mac, m)),
        Operation::VerifyMac => match e.verify_mac(mac, m, tag) {
            Ok(true) => "Ok",
            Ok(false) => "invalid",
            Err(x) => x.code(),
        },
        Operation::GetPublicKey => code(e.get_public_key(ecc)),
        Operation::Encapsulate => code(e.encapsulate(&f.kem)),
        Operation::Decapsulate => code(e.decapsulate(&f.kem, &f.kem_ct, None)),
        _ => unreachable!("only material operations are in PHASE_TABLE"),
    }
}

#[test]
fn every_cell_of_the_phase_table_is_enforced() {
    let env = env();
    let e = &env.engine;
    // Active window: [T0 + 1 day, T0 + 2 days).
    let (a, x) = (T0 + DAY, T0 + 2 * DAY);
    let aes = create(e, "AES_256_GCM", Some(a), Some(x));
    let ecc = create(e, "ECC_NIST_P256", Some(a), Some(x));
    let mac = create(e, "HMAC_SHA_256", Some(a), Some(x));
    let kem = create(e, "ML_KEM_768", Some(a), Some(x));
    // Produce valid inputs while active.
    env.clock.advance(DAY);
    let ct = e
        .encrypt(&aes, b"message", &ctx())
        .expect("encrypt while active")
        .ciphertext;
    let sig = e
        .sign(&ecc, b"message", MessageType::Raw, None)
        .expect("sign")
        .0;
    let tag = e.generate_mac(&mac, b"message").expect("mac").0;
    let kem_ct = e.encapsulate(&kem).expect("encapsulate").ciphertext;
    let f = Fixture {
        aes: aes.clone(),
        ecc,
        mac,
        kem,
        ct,
        sig,
        tag,
        kem_ct,
    };
    for (phase, at) in [
        (Phase::PreActivation, T0),
        (Phase::Active, a),
        (Phase::Deactivated, x),
    ] {
        let clock_now = env.clock.now();
        env.clock.advance(at - clock_now);
        for (op, cells) in PHASE_TABLE {
            let want = match phase {
                Phase::Active => "Ok",
                Phase::PreActivation if cells[0] => "Ok",
                Phase::PreActivation => "KeyNotYetActive",
                Phase::Deactivated if cells[1] => "Ok",
                Phase::Deactivated => "KeyExpired",
            };
            assert_eq!(run(e, op, &f), want, "{op:?} in {phase:?}");
        }
        // Management stays possible in every phase, so dates can be fixed.
        assert_eq!(
            code(e.update(
                &aes,
                UpdateKey {
                    description: Some("x".into()),
                    ..Default::default()
                }
            )),
            "Ok",
            "update in {phase:?}"
        );
        assert_eq!(code(e.describe(&aes)), "Ok");
    }
}

#[test]
fn expired_keys_decrypt_and_verify_but_name_the_date_when_refusing() {
    let env = env();
    let e = &env.engine;
    let expiry = T0 + 10 * DAY;
    let k = create(e, "AES_256_GCM", None, Some(expiry));
    let ct = e
        .encrypt(&k, b"before", &ctx())
        .expect("encrypt before expiry")
        .ciphertext;
    env.clock.advance(10 * DAY - 1);
    assert_eq!(
        code(e.encrypt(&k, b"x", &ctx())),
        "Ok",
        "one second before expiry"
    );
    env.clock.advance(1);
    let err = e
        .encrypt(&k, b"x", &ctx())
        .expect_err("refused after expiry");
    assert_eq!(err.code(), "KeyExpired");
    assert!(err.to_string().contains("2023-11-24T22:13:20Z"), "{err}");
    assert_eq!(
        code(e.generate_data_key(&k, None, &ctx(), false)),
        "KeyExpired"
    );
    // Re-encrypting *to* an expired key is an encryption: refused; *from* it is fine.
    let other = create(e, "AES_256_GCM", None, None);
    assert_eq!(
        code(e.reencrypt(&ct, &ctx(), None, &k, &ctx())),
        "KeyExpired"
    );
    let (moved, _, _) = e
        .reencrypt(&ct, &ctx(), None, &other, &ctx())
        .expect("reencrypt away");
    assert_eq!(
        e.decrypt(&moved.ciphertext, &ctx(), None)
            .expect("decrypt")
            .plaintext
            .expose(),
        b"before"
    );
    assert_eq!(
        e.decrypt(&ct, &ctx(), None)
            .expect("decrypt after expiry")
            .plaintext
            .expose(),
        b"before"
    );
    // Moving the date (or removing it) reactivates the key.
    e.update(
        &k,
        UpdateKey {
            expiry_date: Some(None),
            ..Default::default()
        },
    )
    .expect("clear expiry");
    assert_eq!(code(e.encrypt(&k, b"x", &ctx())), "Ok");
    assert_eq!(e.describe(&k).expect("describe").expiry_date, None);
}

#[test]
fn dates_are_validated_and_null_removes_them() {
    let env = env();
    let e = &env.engine;
    let bad = e.create(CreateKey {
        activation_date: Some(T0 + DAY),
        expiry_date: Some(T0 + DAY),
        ..Default::default()
    });
    assert_eq!(code(bad), "InvalidArgument");
    assert_eq!(
        code(e.create(CreateKey {
            expiry_date: Some(-5),
            ..Default::default()
        })),
        "InvalidArgument"
    );
    let k = create(e, "AES_256_GCM", Some(T0 + DAY), None);
    let r = e.update(
        &k,
        UpdateKey {
            expiry_date: Some(Some(T0)),
            ..Default::default()
        },
    );
    assert_eq!(code(r), "InvalidArgument", "expiry before activation");
    assert_eq!(
        e.describe(&k).expect("describe").expiry_date,
        None,
        "a refused update changes nothing"
    );
    // JSON: absent = unchanged, null = removed.
    let u: UpdateKey = serde_json::from_str(r#"{"activation_date": null}"#).expect("parse");
    assert_eq!(u.activation_date, Some(None));
    let u: UpdateKey = serde_json::from_str(r#"{}"#).expect("parse");
    assert_eq!(u.activation_date, None);
    e.update(
        &k,
        serde_json::from_str(r#"{"activation_date": null}"#).expect("parse"),
    )
    .expect("clear");
    assert_eq!(code(e.encrypt(&k, b"x", &ctx())), "Ok");
}

#[test]
fn compromise_rotates_and_gates_decryption_behind_the_override() {
    let env = env();
    let e = &env.engine;
    let k = create(e, "AES_256_GCM", None, None);
    let old = e
        .encrypt(&k, b"secret", &ctx())
        .expect("encrypt")
        .ciphertext;
    env.clock.advance(60);
    let (meta, report) = e.compromise(&k, None, "laptop stolen").expect("compromise");
    assert_eq!(report.compromised_version, 1);
    assert_eq!(meta.primary_version, 2);
    assert_eq!(report.new_primary_version, 2);
    assert_eq!(
        meta.version(1).map(|v| v.state),
        Some(VersionState::Compromised)
    );
    assert_eq!(meta.compromises.len(), 1);
    assert_eq!(meta.compromises[0].reason, "laptop stolen");
    assert_eq!(meta.compromises[0].at, T0 + 60);
    assert_eq!(meta.rotated_at, Some(T0 + 60));
    // New encryptions use the fresh version.
    assert_eq!(e.encrypt(&k, b"new", &ctx()).expect("encrypt").version, 2);
    // Old ciphertexts: refused, unless the override is given.
    assert_eq!(code(e.decrypt(&old, &ctx(), None)), "VersionCompromised");
    assert_eq!(
        e.decrypt_opts(&old, &ctx(), None, true)
            .expect("override")
            .plaintext
            .expose(),
        b"secret"
    );
    assert_eq!(
        code(e.reencrypt(&old, &ctx(), Some(&k), &k, &ctx())),
        "VersionCompromised"
    );
    let (moved, _, from) = e
        .reencrypt_opts(&old, &ctx(), Some(&k), &k, &ctx(), true)
        .expect("rewrap");
    assert_eq!((from, moved.version), (1, 2));
    assert_eq!(
        e.decrypt(&moved.ciphertext, &ctx(), None)
            .expect("decrypt rewrapped")
            .plaintext
            .expose(),
        b"secret"
    );
    // Twice, a destroyed version, an unknown version, no reason: clear errors.
    assert_eq!(code(e.compromise(&k, Some(1), "again")), "InvalidKeyState");
    assert_eq!(code(e.compromise(&k, Some(9), "x")), "VersionNotFound");
    assert_eq!(code(e.compromise(&k, None, "  ")), "InvalidArgument");
    // A compromised signing version is never used to sign or verify again.
    let s = create(e, "ECC_NIST_P256", None, None);
    let sig = e.sign(&s, b"m", MessageType::Raw, None).expect("sign").0;
    e.compromise(&s, Some(1), "key leaked")
        .expect("compromise signer");
    assert!(
        !e.verify(&s, b"m", MessageType::Raw, &sig, None)
            .expect("verify"),
        "old signature no longer verifies"
    );
    assert_eq!(e.sign(&s, b"m", MessageType::Raw, None).expect("sign").3, 2);
    // Works on a disabled key too (the key stays disabled).
    let d = create(e, "AES_256_GCM", None, None);
    e.disable(&d).expect("disable");
    let m = e
        .compromise(&d, None, "x")
        .expect("compromise disabled key")
        .0;
    assert_eq!((m.state, m.primary_version), (KeyState::Disabled, 2));
}

fn ev(
    identity: &str,
    op: &str,
    key: &str,
    version: Option<u32>,
    outcome: &str,
    t: i64,
    src: &str,
) -> AuditedUse {
    AuditedUse {
        time_ms: t,
        identity: identity.into(),
        source: src.into(),
        operation: op.into(),
        key_id: Some(key.into()),
        key_version: version,
        outcome: outcome.into(),
    }
}

#[test]
fn exposure_counts_only_allowed_uses_of_that_version() {
    let events = vec![
        ev(
            "alice",
            "kms:Encrypt",
            "k",
            Some(1),
            "allowed",
            10,
            "10.0.0.1:5000",
        ),
        ev(
            "alice",
            "kms:Decrypt",
            "k",
            Some(1),
            "allowed",
            30,
            "10.0.0.1:5001",
        ),
        ev(
            "alice",
            "kms:Encrypt",
            "k",
            Some(2),
            "allowed",
            40,
            "10.0.0.1:5002",
        ),
        ev(
            "bob",
            "kms:Decrypt",
            "k",
            Some(1),
            "allowed",
            20,
            "[::1]:7000",
        ),
        ev(
            "bob",
            "kms:Decrypt",
            "k",
            Some(1),
            "error",
            25,
            "[::1]:7000",
        ),
        ev(
            "bob",
            "kms:DescribeKey",
            "k",
            Some(1),
            "allowed",
            26,
            "[::1]:7000",
        ),
        ev(
            "carol",
            "kms:Encrypt",
            "other",
            Some(1),
            "allowed",
            5,
            "x:1",
        ),
        ev(
            "dave",
            "strongroom:DecryptCompromised",
            "k",
            Some(1),
            "allowed",
            50,
            "internal",
        ),
    ];
    let x = exposure(&events, "k", 1);
    let names: Vec<(&str, u64)> = x.iter().map(|i| (i.identity.as_str(), i.uses)).collect();
    assert_eq!(names, vec![("alice", 2), ("bob", 1), ("dave", 1)]);
    assert_eq!((x[0].first_ms, x[0].last_ms), (10, 30));
    assert_eq!(x[0].sources.iter().collect::<Vec<_>>(), vec!["10.0.0.1"]);
    assert_eq!(x[1].sources.iter().collect::<Vec<_>>(), vec!["::1"]);
    assert_eq!(x[0].operations.get("kms:Decrypt"), Some(&1));
}

#[test]
fn inventory_counts_uses_per_version_and_warns_before_expiry() {
    let env = env();
    let e = &env.engine;
    let k = create(e, "AES_256_GCM", None, Some(T0 + 20 * DAY));
    let _late = create(e, "AES_256_GCM", None, Some(T0 + 90 * DAY));
    let _none = create(e, "AES_256_GCM", Some(T0 + DAY), None);
    let mut cts = Vec::new();
    for _ in 0..3 {
        cts.push(e.encrypt(&k, b"x", &ctx()).expect("encrypt").ciphertext);
    }
    env.clock.advance(5);
    e.decrypt(&cts[0], &ctx(), None).expect("decrypt");
    e.rotate(&k).expect("rotate");
    e.encrypt(&k, b"x", &ctx()).expect("encrypt v2");
    // Failures are not uses.
    let _ = e.decrypt(b"garbage", &ctx(), None);
    let inv = e.inventory().expect("inventory");
    assert_eq!(inv.len(), 3);
    let row = &inv[0];
    assert_eq!(row["id"], k.as_str());
    assert_eq!(row["usage"][0]["uses"], 4);
    assert_eq!(row["usage"][1]["uses"], 1);
    assert_eq!(row["last_used"], T0 + 5);
    assert_eq!(row["expires_in_days"], 19);
    assert_eq!(row["effective_state"], "Enabled");
    assert_eq!(inv[2]["effective_state"], "PreActivation");
    assert!(row.get("revision").is_none());
    assert_eq!(e.expiry_counts(30).expect("counts"), (1, 0));
    env.clock.advance(20 * DAY);
    assert_eq!(e.expiry_counts(30).expect("counts"), (0, 1));
    assert_eq!(
        e.inventory().expect("inventory")[0]["effective_state"],
        "Deactivated"
    );
    assert_eq!(e.expiry_counts(100).expect("counts"), (1, 1));
}

// ------------------------------------------------------------ destruction

use crate::testing::{db_files, found_in};

struct Canary {
    id: String,
    sealed: Vec<u8>,
    material: Vec<u8>,
}

fn plant(e: &Engine, spec: &str) -> Canary {
    let id = create(e, spec, None, None);
    let rec = e.store.load_versions(&id).expect("load versions").remove(0);
    let body = e
        .barrier
        .open(&version_identity(&id, 1), &rec.body)
        .expect("open version");
    let sv: StoredVersion = serde_json::from_slice(body.expose()).expect("stored version");
    Canary {
        id,
        sealed: rec.body.clone(),
        material: sv.material.clone(),
    }
}

fn assert_gone(files: &[(String, Vec<u8>)], c: &Canary) {
    assert!(c.sealed.len() > 64 && c.material.len() >= 32);
    for (what, needle) in [
        ("sealed version record", &c.sealed[..]),
        ("32 bytes from inside the sealed record", &c.sealed[16..48]),
        ("raw key material", &c.material[..]),
    ] {
        let hits = found_in(files, needle);
        assert!(hits.is_empty(), "{what} of key {} still in {hits:?}", c.id);
    }
}

#[test]
fn destruction_leaves_no_canary_bytes_in_any_database_file() {
    let dir = std::env::temp_dir().join(format!("sr-lifecycle-destroy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let db = dir.join("strongroom.db");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(db.to_str().expect("utf8")).expect("open"));
    let clock = Arc::new(ManualClock::new(T0));
    let shared: SharedClock = clock.clone();
    let seal =
        Seal::open(store, shared, Arc::new(SystemRng), EngineConfig::default()).expect("seal");
    let out = seal.init(1, 1).expect("init");
    seal.unseal(std::str::from_utf8(out.shares[0].expose()).expect("share"))
        .expect("unseal");
    let e = seal.engine().expect("engine");

    let aes = plant(&e, "AES_256_GCM");
    let rsa = plant(&e, "RSA_2048");
    let keep = plant(&e, "AES_256_GCM");
    let ct = e
        .encrypt(&aes.id, b"canary plaintext", &ctx())
        .expect("encrypt")
        .ciphertext;
    assert!(
        !found_in(&db_files(&db), &aes.sealed).is_empty(),
        "the scan must see the record before destruction"
    );

    // Without the purge, the overwritten record survives in the files: the
    // scan below can fail.
    let witness = plant(&e, "AES_256_GCM");
    e.schedule_deletion(&witness.id, Some(7))
        .expect("schedule witness");
    clock.advance(7 * DAY);
    assert_eq!(
        e.destroy_due().expect("destroy without purge"),
        vec![witness.id.clone()]
    );
    assert!(
        !found_in(&db_files(&db), &witness.sealed).is_empty(),
        "without purge the WAL still holds the old record"
    );

    e.schedule_deletion(&aes.id, Some(7)).expect("schedule");
    e.schedule_deletion(&rsa.id, Some(7)).expect("schedule");
    clock.advance(7 * DAY - 1);
    assert!(e.destroy_due_and_purge().expect("not yet due").is_empty());
    clock.advance(1);
    let mut done = e.destroy_due_and_purge().expect("destroy and purge");
    done.sort();
    let mut want = vec![aes.id.clone(), rsa.id.clone()];
    want.sort();
    assert_eq!(done, want);

    let files = db_files(&db);
    assert!(files
        .iter()
        .any(|(p, b)| p.ends_with(".db") && !b.is_empty()));
    for c in [&aes, &rsa, &witness] {
        assert_gone(&files, c);
    }
    assert!(
        !found_in(&files, &keep.sealed).is_empty(),
        "live keys are untouched"
    );
    // The tombstone stays, with its time; the ciphertext is dead.
    let m = e.describe(&aes.id).expect("describe tombstone");
    assert_eq!(
        (m.state, m.destroyed_at),
        (KeyState::Destroyed, Some(T0 + 14 * DAY))
    );
    assert_eq!(code(e.decrypt(&ct, &ctx(), None)), "KeyDestroyed");
    // And after a restart the store still loads.
    drop(e);
    drop(seal);
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(db.to_str().expect("utf8")).expect("reopen"));
    let shared: SharedClock = clock.clone();
    let seal =
        Seal::open(store, shared, Arc::new(SystemRng), EngineConfig::default()).expect("seal");
    seal.unseal(std::str::from_utf8(out.shares[0].expose()).expect("share"))
        .expect("unseal again");
    let e = seal.engine().expect("engine");
    assert_eq!(
        e.describe(&aes.id).expect("describe").state,
        KeyState::Destroyed
    );
    assert_eq!(
        e.encrypt(&keep.id, b"x", &ctx())
            .expect("live key works")
            .version,
        1
    );
    drop(e);
    drop(seal);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn purge_converts_old_databases_and_refuses_without_secure_delete() {
    let dir = std::env::temp_dir().join(format!("sr-lifecycle-purge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let db = dir.join("x.db");
    let s = SqliteStore::open(db.to_str().expect("utf8")).expect("open");
    assert_eq!(s.purge(), Ok(()));
    // A database made before auto-vacuum was on is switched by its first purge.
    let old = dir.join("old.db");
    rusqlite::Connection::open(&old)
        .and_then(|c| c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x);"))
        .expect("old-style database");
    let o = SqliteStore::open(old.to_str().expect("utf8")).expect("open old");
    let mode = || {
        rusqlite::Connection::open(&old)
            .and_then(|c| c.query_row("PRAGMA auto_vacuum", [], |r| r.get::<_, i64>(0)))
            .expect("read auto_vacuum")
    };
    assert_eq!(mode(), 0);
    assert_eq!(o.purge(), Ok(()));
    assert_eq!(mode(), 2, "incremental from now on");
    assert_eq!(o.purge(), Ok(()));
    s.set_secure_delete_for_test(false);
    assert!(
        matches!(s.purge(), Err(crate::storage::StoreError::Unavailable(m)) if m.contains("secure_delete"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
