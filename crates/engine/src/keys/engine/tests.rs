//! Engine tests: the state × operation table cell by cell, round trips for
//! every spec, ciphertext attacks, nonces and usage limits, deletion,
//! rotation, usage confusion, aliases, persistence, bad input and listing.
//!
//! Every engine here is real: SQLite storage (in memory, or a file for the
//! restart tests), the Shamir seal, a manual clock.

use super::*;

use std::collections::HashSet;
use std::path::PathBuf;

use crate::clock::{Clock, ManualClock};
use crate::crypto::context::canonical;
use crate::crypto::rng::SystemRng;
use crate::crypto::spec::ALL_SPECS;
use crate::keys::state::{cell, Cell, ALL_STATES, TABLE};
use crate::testing::TestSeal as Seal;
use strongroom_store_sql::sqlite::SqliteStore;

const T0: Timestamp = 1_700_000_000;
const AES: &str = "AES_256_GCM";
const ECC: &str = "ECC_NIST_P256";
const HMAC: &str = "HMAC_SHA_256";
const KEM: &str = "ML_KEM_768";

// ---------------------------------------------------------------- helpers

/// An unsealed engine on an in-memory store.
struct Env {
    clock: Arc<ManualClock>,
    engine: Arc<Engine>,
    _seal: Seal,
}

fn env_with(cfg: EngineConfig) -> Env {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("open sqlite"));
    let clock = Arc::new(ManualClock::new(T0));
    let shared_clock: SharedClock = clock.clone();
    let seal = Seal::open(store, shared_clock, Arc::new(SystemRng), cfg).expect("open seal");
    seal.init_dev(None).expect("init_dev");
    let engine = seal.engine().expect("engine after init_dev");
    Env {
        clock,
        engine,
        _seal: seal,
    }
}

fn env() -> Env {
    env_with(EngineConfig::default())
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p =
            std::env::temp_dir().join(format!("sr-engine-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }

    fn db(&self) -> String {
        self.0
            .join("strongroom.db")
            .to_str()
            .expect("utf-8 temp path")
            .to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file-backed installation (1 share, threshold 1) that can be restarted.
struct Disk {
    dir: TempDir,
    clock: Arc<ManualClock>,
    cfg: EngineConfig,
    share: String,
}

impl Disk {
    fn open_seal(&self) -> Seal {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&self.dir.db()).expect("open sqlite file"));
        let clock: SharedClock = self.clock.clone();
        Seal::open(store, clock, Arc::new(SystemRng), self.cfg.clone()).expect("open seal")
    }

    fn init(tag: &str, cfg: EngineConfig) -> (Disk, Seal, Arc<Engine>) {
        let mut disk = Disk {
            dir: TempDir::new(tag),
            clock: Arc::new(ManualClock::new(T0)),
            cfg,
            share: String::new(),
        };
        let seal = disk.open_seal();
        let out = seal.init(1, 1).expect("init 1/1");
        disk.share = String::from_utf8(out.shares[0].expose().to_vec()).expect("share is text");
        let st = seal.unseal(&disk.share).expect("unseal");
        assert!(!st.sealed);
        let engine = seal.engine().expect("engine");
        (disk, seal, engine)
    }

    /// A new process: new store connection, new seal, unsealed with the share.
    /// The caller drops the previous seal and engine first.
    fn restart(&self) -> (Seal, Arc<Engine>) {
        let seal = self.open_seal();
        assert!(
            seal.engine().is_err(),
            "a freshly opened seal must be sealed"
        );
        seal.unseal(&self.share).expect("unseal after restart");
        let engine = seal.engine().expect("engine after restart");
        (seal, engine)
    }
}

/// "Ok" or the error code.
fn outcome<T>(r: Result<T>) -> &'static str {
    match r {
        Ok(_) => "Ok",
        Err(e) => e.code(),
    }
}

/// Like `outcome`, but a verification that returns false is not "Ok".
fn verified(r: Result<bool>) -> &'static str {
    match r {
        Ok(true) => "Ok",
        Ok(false) => "Ok(false)",
        Err(e) => e.code(),
    }
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn no_ctx() -> EncryptionContext {
    EncryptionContext::new()
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

fn create(e: &Engine, spec: &str, usage: Option<&str>) -> KeyMeta {
    e.create(CreateKey {
        spec: Some(spec.to_string()),
        usage: usage.map(str::to_string),
        ..Default::default()
    })
    .expect("create key")
}

fn key(e: &Engine, spec: &str) -> String {
    create(e, spec, None).id
}

fn encrypt(e: &Engine, key_ref: &str, pt: &[u8], c: &EncryptionContext) -> Vec<u8> {
    e.encrypt(key_ref, pt, c).expect("encrypt").ciphertext
}

fn decrypt(e: &Engine, ct: &[u8], c: &EncryptionContext) -> Vec<u8> {
    e.decrypt(ct, c, None)
        .expect("decrypt")
        .plaintext
        .expose()
        .to_vec()
}

fn decrypt_code(e: &Engine, ct: &[u8], c: &EncryptionContext) -> &'static str {
    outcome(e.decrypt(ct, c, None))
}

fn count_all(e: &Engine) -> usize {
    e.list(&KeyFilter::default(), 1000, None)
        .expect("list")
        .0
        .len()
}

fn with_version(ct: &[u8], version: u32) -> Vec<u8> {
    let mut c = ct.to_vec();
    c[20..24].copy_from_slice(&version.to_be_bytes());
    c
}

// ------------------------------------------------- 1. state × operation

/// RSA-OAEP-SHA-256 of `material` to a wrapping key (what a BYOK client does).
fn oaep_wrap(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
    let k = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).expect("spki"))
        .expect("oaep key");
    let mut out = vec![0u8; k.ciphertext_size()];
    let n = k
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .expect("wrap")
        .len();
    out.truncate(n);
    out
}

/// Imports `material` into a PendingImport key.
fn import_material(e: &Engine, id: &str, material: &[u8]) {
    let p = e
        .parameters_for_import(id, WrappingAlgorithm::RsaesOaepSha256, KeySpec::Rsa2048)
        .expect("parameters for import");
    e.import_key_material(id, &p.token, &oaep_wrap(&p.public_der, material))
        .expect("import key material");
}

fn expected(c: Cell) -> &'static str {
    match c {
        Cell::Allowed => "Ok",
        Cell::Disabled => "KeyDisabled",
        Cell::Pending => "KeyPendingDeletion",
        Cell::Destroyed => "KeyDestroyed",
        Cell::Invalid => "InvalidKeyState",
    }
}

fn spec_for(op: Operation) -> &'static str {
    match op {
        Operation::Encrypt | Operation::Decrypt | Operation::GenerateDataKey => AES,
        Operation::Sign | Operation::Verify | Operation::GetPublicKey => ECC,
        Operation::GenerateMac | Operation::VerifyMac => HMAC,
        Operation::Encapsulate | Operation::Decapsulate => KEM,
        _ => AES,
    }
}

/// Puts a key into `state` through the public operations.
fn drive(env: &Env, id: &str, state: KeyState) {
    let e = &env.engine;
    match state {
        KeyState::Enabled => {}
        KeyState::Disabled => {
            e.disable(id).expect("disable");
        }
        KeyState::PendingDeletion => {
            e.schedule_deletion(id, None).expect("schedule deletion");
        }
        KeyState::Destroyed => {
            e.schedule_deletion(id, None).expect("schedule deletion");
            env.clock.advance(31 * DAY);
            let done = e.destroy_due().expect("destroy_due");
            assert!(
                done.contains(&id.to_string()),
                "destroy_due did not destroy {id}"
            );
        }
        KeyState::PendingImport => {
            e.delete_imported_key_material(id)
                .expect("delete imported material");
        }
    }
    assert_eq!(
        e.describe(id).expect("describe").state,
        state,
        "drive to {state:?}"
    );
}

/// Runs `op` on a fresh key in `state`; returns (what was called, outcome).
fn run_cell(state: KeyState, op: Operation) -> Vec<(&'static str, &'static str)> {
    let env = env();
    let e = &env.engine;
    let c = ctx(&[("cell", "state-table")]);
    // PendingImport keys, and the import operations in every state, use an
    // EXTERNAL (imported AES) key; the state check comes before the usage
    // check, so the spec of the key does not matter for refused cells.
    let external = state == KeyState::PendingImport
        || matches!(
            op,
            Operation::GetParametersForImport
                | Operation::ImportKeyMaterial
                | Operation::DeleteImportedKeyMaterial
        );
    let id = if external {
        let id = e
            .create_external(CreateKey::default())
            .expect("create external")
            .id;
        import_material(e, &id, &[9u8; 32]);
        id
    } else {
        key(e, spec_for(op))
    };
    if !external
        && matches!(
            op,
            Operation::EnableVersion
                | Operation::DisableVersion
                | Operation::SetMinDecryptionVersion
        )
    {
        e.rotate(&id).expect("rotate to get a non-primary version");
    }
    // Preparation that needs an enabled key.
    let ct = (op == Operation::Decrypt).then(|| encrypt(e, &id, b"cell", &c));
    let dest = (op == Operation::Decrypt).then(|| key(e, AES));
    let sig = (op == Operation::Verify).then(|| {
        if external {
            return vec![0u8; 64];
        }
        e.sign(&id, b"msg", MessageType::Raw, None)
            .expect("sign while enabled")
            .0
    });
    let kem_ct = (op == Operation::Decapsulate).then(|| {
        if external {
            return vec![0u8; 1088];
        }
        e.encapsulate(&id)
            .expect("encapsulate while enabled")
            .ciphertext
    });
    let mac = (op == Operation::VerifyMac).then(|| {
        if external {
            return vec![0u8; 32];
        }
        e.generate_mac(&id, b"msg").expect("mac").0
    });
    if op == Operation::ManageAliases {
        e.create_alias("alias/cell-existing", &id)
            .expect("alias while enabled");
    }

    drive(&env, &id, state);
    let before = e.describe(&id).expect("describe before");
    let mut out = Vec::new();
    match op {
        Operation::Encrypt => out.push(("encrypt", outcome(e.encrypt(&id, b"x", &c)))),
        Operation::Decrypt => {
            let ct = ct.expect("prepared ciphertext");
            let dest = dest.expect("prepared destination");
            out.push(("decrypt", outcome(e.decrypt(&ct, &c, None))));
            out.push((
                "decrypt naming the key",
                outcome(e.decrypt(&ct, &c, Some(&id))),
            ));
            out.push((
                "reencrypt source",
                outcome(e.reencrypt(&ct, &c, None, &dest, &c)),
            ));
        }
        Operation::GenerateDataKey => {
            out.push((
                "data key",
                outcome(e.generate_data_key(&id, None, &c, true)),
            ));
            out.push((
                "data key without plaintext",
                outcome(e.generate_data_key(&id, Some(16), &c, false)),
            ));
        }
        Operation::Sign => out.push(("sign", outcome(e.sign(&id, b"msg", MessageType::Raw, None)))),
        Operation::Verify => {
            let sig = sig.expect("prepared signature");
            out.push((
                "verify",
                verified(e.verify(&id, b"msg", MessageType::Raw, &sig, None)),
            ));
        }
        Operation::GenerateMac => out.push(("generate_mac", outcome(e.generate_mac(&id, b"msg")))),
        Operation::VerifyMac => {
            let mac = mac.expect("prepared mac");
            out.push(("verify_mac", verified(e.verify_mac(&id, b"msg", &mac))));
        }
        Operation::GetPublicKey => out.push(("get_public_key", outcome(e.get_public_key(&id)))),
        Operation::Describe => {
            out.push(("describe", outcome(e.describe(&id))));
            let listed = e
                .list(
                    &KeyFilter {
                        state: Some(state),
                        ..Default::default()
                    },
                    1000,
                    None,
                )
                .map(|(keys, _)| keys.iter().any(|k| k.id == id));
            out.push((
                "list",
                match listed {
                    Ok(true) => "Ok",
                    Ok(false) => "not listed",
                    Err(err) => err.code(),
                },
            ));
        }
        Operation::UpdateMetadata => out.push((
            "update",
            outcome(e.update(
                &id,
                UpdateKey {
                    description: Some("changed".into()),
                    ..Default::default()
                },
            )),
        )),
        Operation::ManageAliases => {
            out.push((
                "create_alias",
                outcome(e.create_alias("alias/cell-new", &id)),
            ));
            // Destruction removes aliases, so there is nothing left to delete.
            if state != KeyState::Destroyed {
                out.push((
                    "delete_alias",
                    outcome(e.delete_alias("alias/cell-existing")),
                ));
            }
        }
        Operation::Rotate => out.push(("rotate", outcome(e.rotate(&id)))),
        Operation::Enable => out.push(("enable", outcome(e.enable(&id)))),
        Operation::Disable => out.push(("disable", outcome(e.disable(&id)))),
        Operation::EnableVersion => out.push((
            "enable version 1",
            outcome(e.set_version_enabled(&id, 1, true)),
        )),
        Operation::DisableVersion => out.push((
            "disable version 1",
            outcome(e.set_version_enabled(&id, 1, false)),
        )),
        Operation::SetMinDecryptionVersion => out.push((
            "set_min_decryption_version",
            outcome(e.set_min_decryption_version(&id, 2)),
        )),
        Operation::ScheduleDeletion => out.push((
            "schedule_deletion",
            outcome(e.schedule_deletion(&id, Some(7))),
        )),
        Operation::CancelDeletion => out.push(("cancel_deletion", outcome(e.cancel_deletion(&id)))),
        Operation::Destroy => {
            // Destruction is not a call on one key: destroy_due picks every
            // pending key whose window has passed. Allowed means "it was
            // destroyed"; any refusal means "left exactly as it was".
            env.clock.advance(31 * DAY);
            let done = e.destroy_due().expect("destroy_due");
            let after = e.describe(&id).expect("describe after destroy_due");
            out.push((
                "destroy_due",
                if done.contains(&id) {
                    assert_eq!(after.state, KeyState::Destroyed);
                    assert_eq!(after.destroyed_at, Some(env.clock.now()));
                    "Ok"
                } else {
                    "not destroyed"
                },
            ));
        }
        Operation::SetRotationPolicy => out.push((
            "set_rotation_period",
            outcome(e.set_rotation_period(&id, Some(365))),
        )),
        Operation::GetParametersForImport => out.push((
            "parameters_for_import",
            outcome(e.parameters_for_import(
                &id,
                WrappingAlgorithm::RsaesOaepSha256,
                KeySpec::Rsa2048,
            )),
        )),
        Operation::ImportKeyMaterial => {
            // A valid token exists only while the key waits for material.
            let got = if state == KeyState::PendingImport {
                let p = e
                    .parameters_for_import(
                        &id,
                        WrappingAlgorithm::RsaesOaepSha256,
                        KeySpec::Rsa2048,
                    )
                    .expect("parameters while pending import");
                outcome(e.import_key_material(&id, &p.token, &oaep_wrap(&p.public_der, &[9u8; 32])))
            } else {
                outcome(e.import_key_material(&id, b"no-token", b"x"))
            };
            out.push(("import_key_material", got));
        }
        Operation::DeleteImportedKeyMaterial => out.push((
            "delete_imported_key_material",
            outcome(e.delete_imported_key_material(&id)),
        )),
        Operation::Encapsulate => out.push(("encapsulate", outcome(e.encapsulate(&id)))),
        Operation::Decapsulate => {
            let ct = kem_ct.expect("prepared KEM ciphertext");
            out.push(("decapsulate", outcome(e.decapsulate(&id, &ct, None))));
            out.push((
                "decapsulate naming version 1",
                outcome(e.decapsulate(&id, &ct, Some(1))),
            ));
        }
    }
    // A refused operation changes nothing.
    let refused = cell(state, op) != Cell::Allowed;
    if refused {
        assert_eq!(
            e.describe(&id).expect("describe after"),
            before,
            "{op:?} in {state:?} was refused but changed the key"
        );
    }
    out
}

#[test]
fn every_cell_of_the_state_table_is_enforced() {
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for state in ALL_STATES {
        for (op, _) in TABLE {
            cells += 1;
            let want = match (op, cell(state, op)) {
                (Operation::Destroy, Cell::Allowed) => "Ok",
                (Operation::Destroy, _) => "not destroyed",
                (_, c) => expected(c),
            };
            for (what, got) in run_cell(state, op) {
                if got != want {
                    mismatches.push(format!(
                        "{state:?} × {op:?} ({what}): expected {want}, got {got}"
                    ));
                }
            }
        }
    }
    assert_eq!(cells, ALL_STATES.len() * TABLE.len());
    assert_eq!(cells, 130);
    assert!(
        mismatches.is_empty(),
        "state table mismatches:\n{}",
        mismatches.join("\n")
    );
}

/// The cell test above checks the engine against `TABLE`; this one pins
/// what docs/STATE_TABLE.md promises in prose, independently of the table's
/// exact contents, so an edit of the table that breaks a promise fails here.
#[test]
fn state_table_keeps_its_documented_promises() {
    use Operation::*;
    let crypto = [
        Encrypt,
        Decrypt,
        GenerateDataKey,
        Sign,
        Verify,
        GenerateMac,
        VerifyMac,
        GetPublicKey,
        Encapsulate,
        Decapsulate,
    ];
    for op in crypto {
        for state in ALL_STATES {
            assert_eq!(
                cell(state, op) == Cell::Allowed,
                state == KeyState::Enabled,
                "{op:?} in {state:?}: cryptographic use only while Enabled"
            );
        }
        assert_eq!(cell(KeyState::Disabled, op), Cell::Disabled);
        assert_eq!(cell(KeyState::PendingDeletion, op), Cell::Pending);
        assert_eq!(cell(KeyState::Destroyed, op), Cell::Destroyed);
    }
    for (op, _) in TABLE {
        assert_eq!(
            cell(KeyState::PendingDeletion, op) == Cell::Allowed,
            matches!(op, Describe | CancelDeletion | Destroy),
            "{op:?}: a pending key allows nothing but describe and cancel"
        );
        assert_eq!(
            cell(KeyState::Destroyed, op) == Cell::Allowed,
            op == Describe,
            "{op:?}: a destroyed key is a tombstone"
        );
        if !crypto.contains(&op)
            && !matches!(
                op,
                Rotate
                    | CancelDeletion
                    | Destroy
                    | SetRotationPolicy
                    | GetParametersForImport
                    | ImportKeyMaterial
            )
        {
            assert_eq!(
                cell(KeyState::Disabled, op),
                Cell::Allowed,
                "{op:?}: a disabled key's metadata can be managed"
            );
        }
    }
    assert_eq!(cell(KeyState::Disabled, Rotate), Cell::Disabled);
    assert_eq!(cell(KeyState::Disabled, SetRotationPolicy), Cell::Disabled);
    // A key waiting for its material is usable for nothing but metadata,
    // deletion and the import itself.
    for (op, _) in TABLE {
        assert_eq!(
            cell(KeyState::PendingImport, op) == Cell::Allowed,
            matches!(
                op,
                Describe
                    | UpdateMetadata
                    | ManageAliases
                    | ScheduleDeletion
                    | GetParametersForImport
                    | ImportKeyMaterial
            ),
            "{op:?} in PendingImport"
        );
    }
    for state in [KeyState::Enabled, KeyState::Disabled] {
        assert_eq!(cell(state, CancelDeletion), Cell::Invalid);
        assert_eq!(cell(state, Destroy), Cell::Invalid);
    }
}

#[test]
fn destroy_due_destroys_only_due_pending_keys() {
    let env = env();
    let e = &env.engine;
    let enabled = key(e, AES);
    let disabled = key(e, AES);
    e.disable(&disabled).expect("disable");
    let pending7 = key(e, AES);
    e.schedule_deletion(&pending7, Some(7)).expect("schedule 7");
    let pending30 = key(e, AES);
    e.schedule_deletion(&pending30, Some(30))
        .expect("schedule 30");

    env.clock.advance(7 * DAY - 1);
    assert!(e.destroy_due().expect("destroy_due").is_empty());
    env.clock.advance(1);
    assert_eq!(
        e.destroy_due().expect("destroy_due"),
        vec![pending7.clone()]
    );
    // Idempotent.
    assert!(e.destroy_due().expect("destroy_due").is_empty());
    env.clock.advance(23 * DAY);
    assert_eq!(
        e.destroy_due().expect("destroy_due"),
        vec![pending30.clone()]
    );
    env.clock.advance(365 * DAY);
    assert!(e.destroy_due().expect("destroy_due").is_empty());

    let state = |id: &str| e.describe(id).expect("describe").state;
    assert_eq!(state(&enabled), KeyState::Enabled);
    assert_eq!(state(&disabled), KeyState::Disabled);
    assert_eq!(state(&pending7), KeyState::Destroyed);
    assert_eq!(state(&pending30), KeyState::Destroyed);
    let counts = e.counts_by_state().expect("counts");
    assert_eq!(counts.get(&KeyState::Destroyed), Some(&2));
    assert_eq!(counts.get(&KeyState::Enabled), Some(&1));
    assert_eq!(counts.get(&KeyState::Disabled), Some(&1));
}

// ------------------------------------------------------- 2. round trips

#[test]
fn aes_round_trips_and_plaintext_limit() {
    let env = env();
    let e = &env.engine;
    let id = key(e, AES);
    let uuid = Uuid::parse_str(&id).expect("uuid");
    let c = ctx(&[("app", "billing")]);
    for n in [0usize, 1, 4096] {
        let pt = bytes(n, 3);
        let out = e.encrypt(&id, &pt, &c).expect("encrypt");
        assert_eq!(out.key_id, id);
        assert_eq!(out.version, 1);
        let ct = &out.ciphertext;
        assert_eq!(
            ct.len(),
            ciphertext::HEADER_LEN + 12 + n + 16,
            "len for {n}"
        );
        assert_eq!(&ct[0..2], b"SR");
        assert_eq!(ct[2], 1, "format version");
        assert_eq!(ct[3], 1, "algorithm AES-256-GCM");
        assert_eq!(&ct[4..20], uuid.as_bytes());
        assert_eq!(&ct[20..24], &1u32.to_be_bytes());
        let d = e.decrypt(ct, &c, None).expect("decrypt");
        assert_eq!(
            d.plaintext.expose(),
            pt.as_slice(),
            "round trip of {n} bytes"
        );
        assert_eq!(d.key_id, id);
        assert_eq!(d.version, 1);
        // Also by alias-less explicit key.
        let d = e.decrypt(ct, &c, Some(&id)).expect("decrypt naming key");
        assert_eq!(d.plaintext.expose(), pt.as_slice());
    }
    assert_eq!(
        outcome(e.encrypt(&id, &bytes(4097, 1), &c)),
        "InvalidArgument"
    );
    assert_eq!(
        e.usage_count(&id, 1).expect("usage"),
        3,
        "a refused encryption is not counted"
    );
}

#[test]
fn rsa_oaep_round_trips() {
    let env = env();
    let e = &env.engine;
    let c = ctx(&[("k", "v")]);
    for (spec, modulus) in [("RSA_2048", 256usize), ("RSA_3072", 384)] {
        let m = create(e, spec, Some("ENCRYPT_DECRYPT"));
        assert_eq!(m.usage, KeyUsage::EncryptDecrypt);
        for n in [0usize, 1, 190] {
            let pt = bytes(n, 9);
            let ct = encrypt(e, &m.id, &pt, &c);
            assert_eq!(ct.len(), ciphertext::HEADER_LEN + modulus, "{spec}");
            assert_eq!(ct[3], 2, "algorithm RSAES-OAEP-SHA-256");
            assert_eq!(decrypt(e, &ct, &c), pt, "{spec} round trip of {n} bytes");
            assert_eq!(
                decrypt_code(e, &ct, &no_ctx()),
                "InvalidCiphertext",
                "label binds context"
            );
        }
    }
    let m = create(e, "RSA_2048", Some("ENCRYPT_DECRYPT"));
    // 2048-bit OAEP-SHA-256 holds at most 190 bytes.
    assert_eq!(
        outcome(e.encrypt(&m.id, &bytes(191, 0), &c)),
        "InvalidArgument"
    );
    // Data keys are wrapped by symmetric keys only (as in AWS KMS).
    assert_eq!(
        outcome(e.generate_data_key(&m.id, Some(32), &c, true)),
        "InvalidKeyUsage"
    );
}

#[test]
fn sign_and_verify_every_spec_algorithm_and_message_type() {
    let env = env();
    let e = &env.engine;
    let msg = b"the message to sign";
    let mut checked = 0;
    for spec in ALL_SPECS {
        if spec.signing_algorithms().is_empty() {
            continue;
        }
        let m = create(e, spec.name(), None);
        assert_eq!(
            m.usage,
            KeyUsage::SignVerify,
            "{spec:?} defaults to SIGN_VERIFY"
        );
        // The default algorithm is the first allowed one.
        let (sig, alg, kid, version) = e
            .sign(&m.id, msg, MessageType::Raw, None)
            .expect("sign default");
        assert_eq!(alg, spec.signing_algorithms()[0]);
        assert_eq!((kid.as_str(), version), (m.id.as_str(), 1));
        assert!(e
            .verify(&m.id, msg, MessageType::Raw, &sig, None)
            .expect("verify default"));
        for &alg in spec.signing_algorithms() {
            let name = Some(alg.name());
            let (sig, got, _, _) = e
                .sign(&m.id, msg, MessageType::Raw, name)
                .expect("sign raw");
            assert_eq!(got, alg);
            assert_eq!(
                verified(e.verify(&m.id, msg, MessageType::Raw, &sig, name)),
                "Ok",
                "{spec:?} {alg:?} raw"
            );
            assert_eq!(
                verified(e.verify(&m.id, b"another message", MessageType::Raw, &sig, name)),
                "Ok(false)",
                "{spec:?} {alg:?} wrong message"
            );
            match alg.digest() {
                Some(d) => {
                    let dg = aws_lc_rs::digest::digest(d, msg);
                    let (dsig, _, _, _) = e
                        .sign(&m.id, dg.as_ref(), MessageType::Digest, name)
                        .expect("sign digest");
                    assert!(e
                        .verify(&m.id, dg.as_ref(), MessageType::Digest, &dsig, name)
                        .expect("verify digest"));
                    // A signature over the digest is a signature over the message.
                    assert!(e
                        .verify(&m.id, msg, MessageType::Raw, &dsig, name)
                        .expect("verify raw"));
                    assert!(e
                        .verify(&m.id, dg.as_ref(), MessageType::Digest, &sig, name)
                        .expect("raw sig, digest verify"));
                    let short = &dg.as_ref()[1..];
                    assert_eq!(
                        outcome(e.sign(&m.id, short, MessageType::Digest, name)),
                        "InvalidArgument"
                    );
                    assert_eq!(
                        outcome(e.verify(&m.id, short, MessageType::Digest, &dsig, name)),
                        "InvalidArgument"
                    );
                }
                None => {
                    // Ed25519 and ML-DSA sign messages, never digests; ML-DSA
                    // says so in a validation error (as AWS: RAW only).
                    let want = if spec.is_ml_dsa() {
                        "InvalidArgument"
                    } else {
                        "InvalidKeyUsage"
                    };
                    assert_eq!(outcome(e.sign(&m.id, msg, MessageType::Digest, name)), want);
                    assert_eq!(
                        outcome(e.verify(&m.id, msg, MessageType::Digest, &sig, name)),
                        want
                    );
                }
            }
            // EXTERNAL_MU is refused for every key, with a validation error.
            for r in [
                e.sign(&m.id, msg, MessageType::ExternalMu, name)
                    .map(|_| ()),
                e.verify(&m.id, msg, MessageType::ExternalMu, &sig, name)
                    .map(|_| ()),
            ] {
                let err = r.expect_err("EXTERNAL_MU refused");
                assert_eq!(err.code(), "InvalidArgument");
                assert!(err.to_string().contains("EXTERNAL_MU"), "{err}");
            }
            checked += 1;
        }
        // Algorithms of other specs and unknown names are refused.
        let foreign = if spec.is_rsa() {
            "ECDSA_SHA_256"
        } else {
            "RSASSA_PSS_SHA_256"
        };
        assert_eq!(
            outcome(e.sign(&m.id, msg, MessageType::Raw, Some(foreign))),
            "InvalidKeyUsage"
        );
        assert_eq!(
            outcome(e.sign(&m.id, msg, MessageType::Raw, Some("NOPE"))),
            "InvalidArgument"
        );
        assert_eq!(
            outcome(e.sign(&m.id, &bytes(4096, 0), MessageType::Raw, None)),
            "Ok"
        );
        assert_eq!(
            outcome(e.sign(&m.id, &bytes(4097, 0), MessageType::Raw, None)),
            "InvalidArgument"
        );
    }
    // 3 RSA specs × 6 + 3 ECDSA + Ed25519 + 3 ML-DSA.
    assert_eq!(checked, 25);
}

#[test]
fn hmac_round_trips_for_every_size() {
    let env = env();
    let e = &env.engine;
    for (spec, len) in [
        ("HMAC_SHA_256", 32usize),
        ("HMAC_SHA_384", 48),
        ("HMAC_SHA_512", 64),
    ] {
        let id = key(e, spec);
        let (mac, kid, version) = e.generate_mac(&id, b"message").expect("mac");
        assert_eq!((kid.as_str(), version), (id.as_str(), 1));
        assert_eq!(mac.len(), len, "{spec}");
        assert_eq!(
            e.generate_mac(&id, b"message").expect("mac").0,
            mac,
            "HMAC is deterministic"
        );
        assert!(e.verify_mac(&id, b"message", &mac).expect("verify"));
        assert!(!e
            .verify_mac(&id, b"messagE", &mac)
            .expect("verify other message"));
        let (empty_mac, _, _) = e.generate_mac(&id, b"").expect("mac of empty message");
        assert!(e
            .verify_mac(&id, b"", &empty_mac)
            .expect("verify empty message"));
        let other = key(e, spec);
        assert!(!e
            .verify_mac(&other, b"message", &mac)
            .expect("verify under other key"));
        assert_eq!(
            outcome(e.generate_mac(&id, &bytes(4097, 0))),
            "InvalidArgument"
        );
    }
}

#[test]
fn public_keys_only_for_asymmetric_keys() {
    let env = env();
    let e = &env.engine;
    for spec in ALL_SPECS {
        for &usage in spec.allowed_usages() {
            let m = create(e, spec.name(), Some(usage.name()));
            let r = e.get_public_key(&m.id);
            if matches!(
                spec,
                KeySpec::Aes256Gcm
                    | KeySpec::HmacSha256
                    | KeySpec::HmacSha384
                    | KeySpec::HmacSha512
            ) {
                assert_eq!(outcome(r), "InvalidKeyUsage", "{spec:?}");
                continue;
            }
            let pk = r.expect("public key");
            assert!(!pk.der.is_empty());
            assert_eq!(
                (pk.key_id.as_str(), pk.spec, pk.usage),
                (m.id.as_str(), spec, usage)
            );
            if usage == KeyUsage::SignVerify {
                assert_eq!(pk.signing_algorithms, spec.signing_algorithms().to_vec());
                // The published key really is the signing key.
                let alg = spec.signing_algorithms()[0];
                let (sig, _, _, _) = e.sign(&m.id, b"pk", MessageType::Raw, None).expect("sign");
                assert!(material::verify(
                    spec,
                    alg,
                    EcdsaEncoding::Der,
                    &pk.der,
                    MessageType::Raw,
                    b"pk",
                    &sig
                )
                .expect("verify with published key"));
            } else {
                assert!(pk.signing_algorithms.is_empty());
            }
        }
    }
}

#[test]
fn data_keys_with_and_without_plaintext() {
    let env = env();
    let e = &env.engine;
    let id = key(e, AES);
    let c = ctx(&[("bucket", "b1")]);
    for n in [1usize, 16, 32, 1024] {
        let dk = e
            .generate_data_key(&id, Some(n), &c, true)
            .expect("data key");
        let pt = dk.plaintext.expect("plaintext requested").expose().to_vec();
        assert_eq!(pt.len(), n);
        assert_eq!((dk.key_id.as_str(), dk.version), (id.as_str(), 1));
        assert_eq!(decrypt(e, &dk.ciphertext, &c), pt, "data key of {n} bytes");
        let dk = e
            .generate_data_key(&id, Some(n), &c, false)
            .expect("data key without plaintext");
        assert!(dk.plaintext.is_none());
        assert_eq!(decrypt(e, &dk.ciphertext, &c).len(), n);
    }
    let dk = e
        .generate_data_key(&id, None, &c, true)
        .expect("default data key");
    assert_eq!(dk.plaintext.as_ref().map(SecretBytes::len), Some(32));
    let dk2 = e
        .generate_data_key(&id, None, &c, true)
        .expect("default data key");
    assert_ne!(
        dk.plaintext.as_ref().map(|p| p.expose().to_vec()),
        dk2.plaintext.as_ref().map(|p| p.expose().to_vec()),
        "data keys are random"
    );
    for n in [0usize, 1025, usize::MAX] {
        assert_eq!(
            outcome(e.generate_data_key(&id, Some(n), &c, true)),
            "InvalidArgument",
            "{n}"
        );
    }
    assert_eq!(
        outcome(e.generate_data_key(&key(e, HMAC), None, &c, true)),
        "InvalidKeyUsage"
    );
}

#[test]
fn generate_random_bounds() {
    let env = env();
    let e = &env.engine;
    for n in [1usize, 32, 1024] {
        assert_eq!(e.generate_random(n).expect("random").len(), n);
    }
    for n in [0usize, 1025] {
        assert_eq!(outcome(e.generate_random(n)), "InvalidArgument");
    }
    let a = e.generate_random(32).expect("random");
    let b = e.generate_random(32).expect("random");
    assert!(!a.ct_eq(b.expose()));
}

#[test]
fn reencrypt_to_another_key_and_context() {
    let env = env();
    let e = &env.engine;
    let a = key(e, AES);
    let b = key(e, AES);
    let rsa = create(e, "RSA_2048", Some("ENCRYPT_DECRYPT")).id;
    let ca = ctx(&[("from", "a")]);
    let cb = ctx(&[("to", "b")]);
    let ct = encrypt(e, &a, b"move me", &ca);
    let (out, src, src_version) = e.reencrypt(&ct, &ca, None, &b, &cb).expect("reencrypt");
    assert_eq!((src.as_str(), src_version), (a.as_str(), 1));
    assert_eq!((out.key_id.as_str(), out.version), (b.as_str(), 1));
    assert_eq!(decrypt(e, &out.ciphertext, &cb), b"move me");
    assert_eq!(decrypt_code(e, &out.ciphertext, &ca), "InvalidCiphertext");
    assert_eq!(
        outcome(e.decrypt(&out.ciphertext, &cb, Some(&a))),
        "IncorrectKey"
    );
    // Naming the source key: right and wrong.
    assert_eq!(outcome(e.reencrypt(&ct, &ca, Some(&a), &b, &cb)), "Ok");
    assert_eq!(
        outcome(e.reencrypt(&ct, &ca, Some(&b), &b, &cb)),
        "IncorrectKey"
    );
    // Wrong source context.
    assert_eq!(
        outcome(e.reencrypt(&ct, &cb, None, &b, &cb)),
        "InvalidCiphertext"
    );
    // AES → RSA-OAEP and back.
    let (to_rsa, _, _) = e.reencrypt(&ct, &ca, None, &rsa, &cb).expect("to rsa");
    assert_eq!(to_rsa.ciphertext[3], 2);
    let (back, _, _) = e
        .reencrypt(&to_rsa.ciphertext, &cb, None, &a, &ca)
        .expect("back to aes");
    assert_eq!(decrypt(e, &back.ciphertext, &ca), b"move me");
    // Destinations that cannot encrypt.
    assert_eq!(
        outcome(e.reencrypt(&ct, &ca, None, &key(e, HMAC), &cb)),
        "InvalidKeyUsage"
    );
    assert_eq!(
        outcome(e.reencrypt(&ct, &ca, None, &key(e, ECC), &cb)),
        "InvalidKeyUsage"
    );
}

// ---------------------------------------------- 3. encryption context

#[test]
fn encryption_context_is_bound() {
    let env = env();
    let e = &env.engine;
    let aes = key(e, AES);
    let rsa = create(e, "RSA_2048", Some("ENCRYPT_DECRYPT")).id;
    let mut forward = EncryptionContext::new();
    forward.insert("a".into(), "1".into());
    forward.insert("b".into(), "2".into());
    let mut backward = EncryptionContext::new();
    backward.insert("b".into(), "2".into());
    backward.insert("a".into(), "1".into());
    assert_eq!(canonical(&forward), canonical(&backward));
    for id in [&aes, &rsa] {
        let ct = encrypt(e, id, b"bound", &forward);
        assert_eq!(
            decrypt(e, &ct, &backward),
            b"bound",
            "same entries, other order"
        );
        assert_eq!(decrypt(e, &ct, &forward), b"bound");
        let bad = [
            ("changed value", ctx(&[("a", "1"), ("b", "3")])),
            ("changed key", ctx(&[("a", "1"), ("c", "2")])),
            ("missing entry", ctx(&[("a", "1")])),
            ("extra entry", ctx(&[("a", "1"), ("b", "2"), ("c", "3")])),
            ("empty", no_ctx()),
            ("moved boundary", ctx(&[("a", "1b"), ("", "2")])),
            ("case", ctx(&[("A", "1"), ("b", "2")])),
        ];
        for (what, c) in bad {
            assert_eq!(decrypt_code(e, &ct, &c), "InvalidCiphertext", "{what}");
        }
        // Empty context round-trips and refuses any entry.
        let ct = encrypt(e, id, b"bare", &no_ctx());
        assert_eq!(decrypt(e, &ct, &no_ctx()), b"bare");
        assert_eq!(decrypt_code(e, &ct, &ctx(&[("", "")])), "InvalidCiphertext");
    }
    // Limits: 64 entries pass, 65 do not; at most 8192 bytes.
    let many: EncryptionContext = (0..64)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    assert_eq!(outcome(e.encrypt(&aes, b"x", &many)), "Ok");
    let too_many: EncryptionContext = (0..65)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    assert_eq!(outcome(e.encrypt(&aes, b"x", &too_many)), "InvalidArgument");
    let big = ctx(&[("k", &"v".repeat(8192))]);
    assert_eq!(outcome(e.encrypt(&aes, b"x", &big)), "InvalidArgument");
}

// ---------------------------------------------- 4. ciphertext attacks

#[test]
fn every_single_bit_flip_gives_the_one_generic_error() {
    let env = env();
    let e = &env.engine;
    let id = key(e, AES);
    let c = ctx(&[("x", "y")]);
    let ct = encrypt(e, &id, b"hi", &c);
    assert_eq!(ct.len(), 24 + 12 + 2 + 16);
    let mut messages = HashSet::new();
    for bit in 0..ct.len() * 8 {
        let mut bad = ct.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        match e.decrypt(&bad, &c, None) {
            Ok(_) => panic!("bit {bit} flipped still decrypts"),
            Err(err) => {
                assert_eq!(
                    err.code(),
                    "InvalidCiphertext",
                    "bit {bit} (byte {})",
                    bit / 8
                );
                assert!(matches!(err, Error::InvalidCiphertext));
                messages.insert(err.to_string());
            }
        }
    }
    assert_eq!(
        messages.len(),
        1,
        "the message must not say which part was wrong"
    );
    assert_eq!(decrypt(e, &ct, &c), b"hi", "the original still decrypts");
}

#[test]
fn bit_flips_on_rsa_and_multi_version_ciphertexts_never_decrypt() {
    let env = env();
    let e = &env.engine;
    let c = ctx(&[("x", "y")]);
    // RSA-OAEP: every header bit and one bit in every body byte.
    let rsa = create(e, "RSA_2048", Some("ENCRYPT_DECRYPT")).id;
    let ct = encrypt(e, &rsa, b"hi", &c);
    let mut positions: Vec<usize> = (0..ciphertext::HEADER_LEN * 8).collect();
    positions.extend((ciphertext::HEADER_LEN..ct.len()).map(|i| i * 8 + (i % 8)));
    for bit in positions {
        let mut bad = ct.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            decrypt_code(e, &bad, &c),
            "InvalidCiphertext",
            "rsa bit {bit}"
        );
    }
    // AES key with several versions, some disabled or below the minimum:
    // never decrypts, never an internal error.
    let id = key(e, AES);
    e.rotate(&id).expect("rotate");
    e.rotate(&id).expect("rotate");
    let ct3 = encrypt(e, &id, b"hi", &c);
    e.set_version_enabled(&id, 2, false).expect("disable v2");
    e.set_min_decryption_version(&id, 2).expect("min 2");
    for bit in 0..ct3.len() * 8 {
        let mut bad = ct3.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let code = decrypt_code(e, &bad, &c);
        assert!(
            [
                "InvalidCiphertext",
                "VersionDisabled",
                "VersionBelowMinimum"
            ]
            .contains(&code),
            "bit {bit}: {code}"
        );
    }
}

#[test]
fn truncations_and_garbage_are_invalid_ciphertext() {
    let env = env();
    let e = &env.engine;
    let c = no_ctx();
    let id = key(e, AES);
    let ct = encrypt(e, &id, b"some plaintext", &c);
    for n in 0..ct.len() {
        let code = decrypt_code(e, &ct[..n], &c);
        assert_eq!(code, "InvalidCiphertext", "truncated to {n}");
    }
    let rsa = create(e, "RSA_2048", Some("ENCRYPT_DECRYPT")).id;
    let rct = encrypt(e, &rsa, b"x", &c);
    for n in 0..rct.len() {
        assert_eq!(
            decrypt_code(e, &rct[..n], &c),
            "InvalidCiphertext",
            "rsa truncated to {n}"
        );
    }
    let mut extended = ct.clone();
    extended.push(0);
    assert_eq!(
        decrypt_code(e, &extended, &c),
        "InvalidCiphertext",
        "one byte appended"
    );
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        b"not a ciphertext at all, just some text".to_vec(),
        vec![0xff; 100],
        bytes(4096, 7),
        [b"SR\x01\x01".as_slice(), &[0u8; 60]].concat(),
        [b"SR\x01\x02".as_slice(), &[0u8; 300]].concat(),
        // A valid header for a real key, garbage body.
        [&ct[..24], &bytes(40, 1)[..]].concat(),
        [&rct[..24], &bytes(256, 1)[..]].concat(),
        // Header of the AES key, algorithm byte claiming RSA.
        [&ct[..3], &[2u8], &ct[4..]].concat(),
    ];
    for g in &garbage {
        assert_eq!(
            decrypt_code(e, g, &c),
            "InvalidCiphertext",
            "garbage of {} bytes",
            g.len()
        );
    }
}

#[test]
fn ciphertext_under_one_key_is_refused_when_naming_another() {
    let env = env();
    let e = &env.engine;
    let a = create(e, AES, None);
    let b = e
        .create(CreateKey {
            aliases: vec!["alias/key-b".into()],
            ..Default::default()
        })
        .expect("create b");
    e.create_alias("alias/key-a", &a.id).expect("alias a");
    let c = no_ctx();
    let ct = encrypt(e, &a.id, b"for a", &c);
    assert_eq!(outcome(e.decrypt(&ct, &c, Some(&b.id))), "IncorrectKey");
    assert_eq!(
        outcome(e.decrypt(&ct, &c, Some("alias/key-b"))),
        "IncorrectKey"
    );
    for name in [a.id.as_str(), "alias/key-a"] {
        let d = e
            .decrypt(&ct, &c, Some(name))
            .expect("naming the right key");
        assert_eq!(d.plaintext.expose(), b"for a");
    }
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_eq!(outcome(e.decrypt(&ct, &c, Some(unknown))), "KeyNotFound");
    assert_eq!(
        outcome(e.decrypt(&ct, &c, Some("alias/none"))),
        "AliasNotFound"
    );
    // A header naming an unknown key.
    let mut other = ct.clone();
    other[4..20].copy_from_slice(Uuid::parse_str(unknown).expect("uuid").as_bytes());
    assert_eq!(decrypt_code(e, &other, &c), "InvalidCiphertext");
    // The header naming key b with a's body: fails under b's key.
    let mut swapped = ct.clone();
    swapped[4..20].copy_from_slice(Uuid::parse_str(&b.id).expect("uuid").as_bytes());
    assert_eq!(decrypt_code(e, &swapped, &c), "InvalidCiphertext");
}

#[test]
fn minimum_decryption_version_and_edited_headers() {
    let env = env();
    let e = &env.engine;
    let id = key(e, AES);
    let c = ctx(&[("v", "min")]);
    let ct1 = encrypt(e, &id, b"one", &c);
    e.rotate(&id).expect("rotate 2");
    let ct2 = encrypt(e, &id, b"two", &c);
    e.rotate(&id).expect("rotate 3");
    let ct3 = encrypt(e, &id, b"three", &c);
    assert_eq!(ct3[20..24], 3u32.to_be_bytes());
    assert_eq!(
        outcome(e.set_min_decryption_version(&id, 0)),
        "InvalidArgument"
    );
    assert_eq!(
        outcome(e.set_min_decryption_version(&id, 4)),
        "InvalidArgument"
    );
    let m = e.set_min_decryption_version(&id, 3).expect("min 3");
    assert_eq!(m.min_decryption_version, 3);
    assert_eq!(decrypt_code(e, &ct1, &c), "VersionBelowMinimum");
    assert_eq!(decrypt_code(e, &ct2, &c), "VersionBelowMinimum");
    assert_eq!(decrypt(e, &ct3, &c), b"three");
    for v in [1u32, 2] {
        let code = decrypt_code(e, &with_version(&ct3, v), &c);
        assert!(
            ["VersionBelowMinimum", "InvalidCiphertext"].contains(&code),
            "v3 claiming v{v}: {code}"
        );
    }
    for v in [3u32, 4, 0, u32::MAX] {
        assert_eq!(
            decrypt_code(e, &with_version(&ct1, v), &c),
            "InvalidCiphertext",
            "v1 claiming v{v}"
        );
    }
    // Signatures/MACs of versions below the minimum no longer verify.
    let h = key(e, HMAC);
    let (mac1, _, _) = e.generate_mac(&h, b"m").expect("mac v1");
    e.rotate(&h).expect("rotate hmac");
    assert!(e
        .verify_mac(&h, b"m", &mac1)
        .expect("old mac still verifies"));
    e.set_min_decryption_version(&h, 2).expect("min 2");
    assert!(!e
        .verify_mac(&h, b"m", &mac1)
        .expect("old mac below minimum"));
}

// ------------------------------------------------- 5. nonces and usage

#[test]
fn a_million_encryptions_never_repeat_a_nonce() {
    let env = env();
    let e = &env.engine;
    let id = key(e, AES);
    let c = no_ctx();
    const N: usize = 1_000_000;
    let mut seen: HashSet<[u8; 12]> = HashSet::with_capacity(N);
    for i in 0..N {
        let out = e.encrypt(&id, b"x", &c).expect("encrypt");
        assert_eq!(out.version, 1);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&out.ciphertext[24..36]);
        assert!(seen.insert(nonce), "nonce repeated at encryption {i}");
    }
    assert_eq!(seen.len(), N);
    assert_eq!(e.usage_count(&id, 1).expect("usage"), N as u64);
}

#[test]
fn usage_counter_survives_restart_and_limit_is_enforced() {
    let cfg = EngineConfig {
        usage_block: 10,
        rotate_at_usage: u64::MAX,
        max_usage: 25,
    };
    let (disk, seal, engine) = Disk::init("usage", cfg);
    let id = key(&engine, AES);
    let c = no_ctx();
    let mut cts = Vec::new();
    for _ in 0..7 {
        cts.push(encrypt(&engine, &id, b"u", &c));
    }
    assert_eq!(engine.usage_count(&id, 1).expect("usage"), 7);
    drop(engine);
    drop(seal);

    let (seal, engine) = disk.restart();
    let after = engine.usage_count(&id, 1).expect("usage after restart");
    assert!(after >= 7, "usage went backwards over a restart: {after}");
    assert_eq!(
        after, 10,
        "reserved-block semantics: the whole reserved block counts as used"
    );
    for ct in &cts {
        assert_eq!(decrypt(&engine, ct, &c), b"u");
    }
    let mut ok = 0u64;
    let refusal = loop {
        match engine.encrypt(&id, b"u", &c) {
            Ok(out) => {
                ok += 1;
                assert!(ok <= 25, "never more than max_usage encryptions");
                cts.push(out.ciphertext);
            }
            Err(err) => break err,
        }
    };
    assert_eq!(refusal.code(), "UsageLimitReached");
    assert!(
        7 + ok <= 25,
        "{} encryptions under one version exceed max_usage 25",
        7 + ok
    );
    assert!(
        after + ok <= 25,
        "refused at counted use {} instead of by the 26th",
        after + ok + 1
    );
    assert_eq!(ok, 15, "counted uses 11..=25 succeed, the 26th is refused");
    for _ in 0..3 {
        assert_eq!(outcome(engine.encrypt(&id, b"u", &c)), "UsageLimitReached");
    }
    assert_eq!(
        outcome(engine.generate_data_key(&id, None, &c, true)),
        "UsageLimitReached"
    );
    // Decryption is unaffected.
    for ct in &cts {
        assert_eq!(decrypt(&engine, ct, &c), b"u");
    }
    drop(engine);
    drop(seal);

    // Still refused after another restart: the limit is durable.
    let (seal, engine) = disk.restart();
    assert!(engine.usage_count(&id, 1).expect("usage") >= 25);
    assert_eq!(outcome(engine.encrypt(&id, b"u", &c)), "UsageLimitReached");
    // Rotating gives a fresh version.
    engine.rotate(&id).expect("rotate");
    let out = engine.encrypt(&id, b"u", &c).expect("encrypt under v2");
    assert_eq!(out.version, 2);
    drop(engine);
    drop(seal);
}

#[test]
fn automatic_rotation_at_usage_threshold() {
    let env = env_with(EngineConfig {
        usage_block: 10,
        rotate_at_usage: 5,
        max_usage: 100,
    });
    let e = &env.engine;
    let id = key(e, AES);
    let c = ctx(&[("auto", "rotate")]);
    let mut cts = Vec::new();
    for i in 1..=5u32 {
        let out = e.encrypt(&id, &[i as u8], &c).expect("encrypt");
        assert_eq!(out.version, 1);
        cts.push((out.ciphertext, i as u8));
        let primary = e.describe(&id).expect("describe").primary_version;
        assert_eq!(primary, if i < 5 { 1 } else { 2 }, "after {i} encryptions");
    }
    for i in 6..=10u32 {
        let out = e.encrypt(&id, &[i as u8], &c).expect("encrypt");
        assert_eq!(out.version, 2);
        cts.push((out.ciphertext, i as u8));
    }
    let m = e.describe(&id).expect("describe");
    assert_eq!(m.primary_version, 3);
    assert_eq!(
        m.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    for (ct, pt) in &cts {
        assert_eq!(decrypt(e, ct, &c), vec![*pt]);
    }
    // Data keys count too.
    for _ in 0..5 {
        e.generate_data_key(&id, None, &c, false).expect("data key");
    }
    assert_eq!(e.describe(&id).expect("describe").primary_version, 4);
}

// ---------------------------------------------------------- 6. deletion

#[test]
fn deletion_window_bounds() {
    let env = env();
    let e = &env.engine;
    let id = key(e, AES);
    let before = e.describe(&id).expect("describe");
    for days in [6i64, 31, 0, -1, i64::MAX, i64::MIN] {
        assert_eq!(
            outcome(e.schedule_deletion(&id, Some(days))),
            "InvalidArgument",
            "{days} days"
        );
        assert_eq!(
            e.describe(&id).expect("describe"),
            before,
            "{days} days changed the key"
        );
    }
    for days in [7i64, 30] {
        let k = key(e, AES);
        let m = e.schedule_deletion(&k, Some(days)).expect("schedule");
        assert_eq!(m.state, KeyState::PendingDeletion);
        assert_eq!(m.deletion_date, Some(T0 + days * DAY));
    }
    let m = e.schedule_deletion(&id, None).expect("default window");
    assert_eq!(m.deletion_date, Some(env.clock.now() + 30 * DAY));
    assert_eq!(
        outcome(e.schedule_deletion(&id, None)),
        "InvalidKeyState",
        "already pending"
    );
}

#[test]
fn cancel_deletion_leaves_the_key_disabled() {
    let env = env();
    let e = &env.engine;
    let id = key(e, AES);
    let c = no_ctx();
    let ct = encrypt(e, &id, b"keep", &c);
    e.schedule_deletion(&id, Some(7)).expect("schedule");
    assert_eq!(decrypt_code(e, &ct, &c), "KeyPendingDeletion");
    let m = e.cancel_deletion(&id).expect("cancel");
    assert_eq!(m.state, KeyState::Disabled);
    assert_eq!(m.deletion_date, None);
    assert_eq!(decrypt_code(e, &ct, &c), "KeyDisabled");
    // A cancelled key is not destroyed when its old date passes.
    env.clock.advance(8 * DAY);
    assert!(e.destroy_due().expect("destroy_due").is_empty());
    e.enable(&id).expect("enable");
    assert_eq!(decrypt(e, &ct, &c), b"keep");
    assert_eq!(outcome(e.cancel_deletion(&id)), "InvalidKeyState");
}

#[test]
fn destruction_after_the_window() {
    let env = env();
    let e = &env.engine;
    let m = e
        .create(CreateKey {
            aliases: vec!["alias/doomed".into()],
            description: "to be destroyed".into(),
            ..Default::default()
        })
        .expect("create");
    let id = m.id.clone();
    e.rotate(&id).expect("rotate");
    let c = ctx(&[("a", "b")]);
    let ct2 = encrypt(e, &id, b"v2", &c);
    e.schedule_deletion(&id, Some(10)).expect("schedule");

    env.clock.advance(10 * DAY - 1);
    assert!(
        e.destroy_due().expect("destroy_due").is_empty(),
        "before the window passes"
    );
    assert_eq!(
        e.describe(&id).expect("describe").state,
        KeyState::PendingDeletion
    );
    env.clock.advance(1);
    let when = env.clock.now();
    assert_eq!(e.destroy_due().expect("destroy_due"), vec![id.clone()]);

    let err = e
        .decrypt(&ct2, &c, None)
        .err()
        .expect("destroyed key must not decrypt");
    assert_eq!(err.code(), "KeyDestroyed");
    assert!(err.to_string().contains("destroyed"), "{err}");
    let d = e.describe(&id).expect("describe still works");
    assert_eq!(d.state, KeyState::Destroyed);
    assert_eq!(d.destroyed_at, Some(when));
    assert_eq!(d.description, "to be destroyed");
    assert!(d
        .versions
        .iter()
        .all(|v| v.state == VersionState::Destroyed && v.destroyed_at == Some(when)));
    // The alias is released and can name another key.
    assert!(d.aliases.is_empty());
    assert_eq!(outcome(e.describe("alias/doomed")), "AliasNotFound");
    let other = key(e, AES);
    e.create_alias("alias/doomed", &other)
        .expect("alias reused");
    assert_eq!(e.describe("alias/doomed").expect("describe").id, other);
    // Nothing brings it back.
    assert_eq!(outcome(e.enable(&id)), "KeyDestroyed");
    assert_eq!(outcome(e.cancel_deletion(&id)), "KeyDestroyed");
    assert_eq!(outcome(e.encrypt(&id, b"x", &c)), "KeyDestroyed");
}

/// 200 keys whose 7-day window has passed, and one thread running
/// `destroy_due` while another cancels (and, if `reschedule`, schedules
/// again) the first key a few milliseconds in. `check` gets, per round, the
/// engine, the ids, the result of `destroy_due` and the other thread's
/// outcomes.
fn destroy_due_race<F>(rounds: usize, reschedule: bool, mut check: F)
where
    F: FnMut(usize, &Env, &[String], Result<Vec<String>>, Vec<&'static str>),
{
    for round in 0..rounds {
        let env = env();
        let e = &env.engine;
        let ids: Vec<String> = (0..200)
            .map(|_| {
                let id = key(e, AES);
                e.schedule_deletion(&id, Some(7)).expect("schedule");
                id
            })
            .collect();
        env.clock.advance(8 * DAY);
        let target = &ids[0];
        let (res, other) = std::thread::scope(|s| {
            let a = s.spawn(|| e.destroy_due());
            let b = s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(3));
                let mut got = vec![outcome(e.cancel_deletion(target))];
                if reschedule {
                    got.push(outcome(e.schedule_deletion(target, Some(7))));
                }
                got
            });
            (
                a.join().expect("destroy thread"),
                b.join().expect("cancel thread"),
            )
        });
        check(round, &env, &ids, res, other);
    }
}

/// `destroy_due` collects the due keys under a read lock, then destroys them
/// one by one through `mutate(.., Operation::Destroy, ..)`, whose closure
/// never re-checks that the key is still due. A key cancelled and scheduled
/// again (new date 7 days ahead) while a run is in progress is destroyed at
/// once, 7 days before its deletion date. Reproduces in nearly every round.
#[test]

fn destroy_due_never_destroys_a_key_before_its_deletion_date() {
    let mut violations = Vec::new();
    destroy_due_race(10, true, |round, env, ids, _res, _other| {
        for id in ids {
            let m = env.engine.describe(id).expect("describe");
            if let (KeyState::Destroyed, Some(at), Some(date)) =
                (m.state, m.destroyed_at, m.deletion_date)
            {
                if at < date {
                    violations.push(format!(
                        "round {round}: {id} destroyed at {at}, {} s before its deletion date {date}",
                        date - at
                    ));
                }
            }
        }
    });
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The same race with a plain cancel: `mutate` then fails the cancelled key
/// with InvalidKeyState, and `destroy_due` returns that error at once (`?`),
/// leaving every due key after it in iteration order undestroyed for this
/// run. Reproduces in most rounds.
#[test]

fn destroy_due_is_not_derailed_by_a_concurrent_cancel() {
    let mut violations = Vec::new();
    destroy_due_race(10, false, |round, env, ids, res, other| {
        if let Err(err) = res {
            violations.push(format!(
                "round {round}: destroy_due failed: {}: {err}",
                err.code()
            ));
        }
        let cancelled = other[0] == "Ok";
        for id in ids.iter().skip(usize::from(cancelled)) {
            let state = env.engine.describe(id).expect("describe").state;
            if state != KeyState::Destroyed {
                violations.push(format!("round {round}: due key {id} left {state:?}"));
            }
        }
    });
    let shown: Vec<String> = violations.into_iter().take(10).collect();
    assert!(shown.is_empty(), "{}", shown.join("\n"));
}

// ---------------------------------------------------------- 7. rotation

#[test]
fn concurrent_rotation_and_encryption() {
    let env = env();
    let e = &env.engine;
    let aes = key(e, AES);
    let hmac = key(e, HMAC);
    const ROTATORS: usize = 4;
    const ROTATIONS: usize = 20;
    let done = AtomicBool::new(false);
    let c = ctx(&[("t", "concurrent")]);
    let (aes_r, hmac_r, done_r, c_r) = (&aes, &hmac, &done, &c);
    let (rotated, encrypted) = std::thread::scope(|s| {
        let rotators: Vec<_> = (0..ROTATORS)
            .map(|_| {
                s.spawn(move || {
                    let mut got = Vec::new();
                    for _ in 0..ROTATIONS {
                        let m = e.rotate(aes_r).expect("rotate aes");
                        let h = e.rotate(hmac_r).expect("rotate hmac");
                        let (tag, _, v) = e.generate_mac(hmac_r, b"probe").expect("mac");
                        got.push((m.primary_version, h.primary_version, v, tag));
                    }
                    got
                })
            })
            .collect();
        let encryptors: Vec<_> = (0..2u8)
            .map(|t| {
                s.spawn(move || {
                    let mut got = Vec::new();
                    let mut i = 0u32;
                    while !done_r.load(Ordering::SeqCst) || got.len() < 50 {
                        let pt = [t, (i >> 8) as u8, i as u8];
                        let out = e.encrypt(aes_r, &pt, c_r).expect("encrypt during rotation");
                        got.push((out.ciphertext, out.version, pt));
                        i += 1;
                    }
                    got
                })
            })
            .collect();
        let rotated: Vec<_> = rotators
            .into_iter()
            .flat_map(|h| h.join().expect("rotator thread"))
            .collect();
        done.store(true, Ordering::SeqCst);
        let encrypted: Vec<_> = encryptors
            .into_iter()
            .map(|h| h.join().expect("encryptor thread"))
            .collect();
        (rotated, encrypted)
    });
    let n = (ROTATORS * ROTATIONS) as u32 + 1;
    for id in [&aes, &hmac] {
        let m = e.describe(id).expect("describe");
        let versions: Vec<u32> = m.versions.iter().map(|v| v.version).collect();
        assert_eq!(
            versions,
            (1..=n).collect::<Vec<_>>(),
            "versions are exactly 1..={n}"
        );
        assert_eq!(m.primary_version, n);
    }
    // Every rotation returned a distinct new version.
    let aes_versions: HashSet<u32> = rotated.iter().map(|r| r.0).collect();
    let hmac_versions: HashSet<u32> = rotated.iter().map(|r| r.1).collect();
    assert_eq!(aes_versions, (2..=n).collect());
    assert_eq!(hmac_versions, (2..=n).collect());
    // No two HMAC versions share material: the MAC of a fixed message
    // differs per version (and is the same for the same version).
    let mut tag_of: HashMap<u32, Vec<u8>> = HashMap::new();
    for (_, _, v, tag) in &rotated {
        let prev = tag_of.entry(*v).or_insert_with(|| tag.clone());
        assert_eq!(prev, tag, "version {v} gave two different MACs");
    }
    let distinct: HashSet<&Vec<u8>> = tag_of.values().collect();
    assert_eq!(
        distinct.len(),
        tag_of.len(),
        "two versions share MAC material"
    );
    // Every ciphertext decrypts; each thread saw non-decreasing versions.
    let mut total = 0;
    for per_thread in &encrypted {
        let mut last = 0;
        for (ct, v, pt) in per_thread {
            assert!(*v >= last, "versions went backwards within one thread");
            last = *v;
            assert_eq!(&decrypt(e, ct, &c), pt);
            total += 1;
        }
    }
    assert!(total >= 100);
}

#[test]
fn every_version_has_its_own_material() {
    let env = env();
    let e = &env.engine;
    let ecc = key(e, ECC);
    let hmac = key(e, HMAC);
    let mut pks = HashSet::new();
    let mut tags = HashSet::new();
    pks.insert(e.get_public_key(&ecc).expect("pk").der);
    tags.insert(e.generate_mac(&hmac, b"m").expect("mac").0);
    for _ in 0..20 {
        e.rotate(&ecc).expect("rotate");
        e.rotate(&hmac).expect("rotate");
        pks.insert(e.get_public_key(&ecc).expect("pk").der);
        tags.insert(e.generate_mac(&hmac, b"m").expect("mac").0);
    }
    assert_eq!(pks.len(), 21, "public keys of versions must differ");
    assert_eq!(tags.len(), 21, "HMAC material of versions must differ");
}

#[test]
fn primary_version_cannot_be_disabled_before_rotation() {
    let env = env();
    let e = &env.engine;
    let id = key(e, AES);
    let c = no_ctx();
    let ct1 = encrypt(e, &id, b"v1", &c);
    assert_eq!(
        outcome(e.set_version_enabled(&id, 1, false)),
        "InvalidKeyState"
    );
    assert_eq!(
        e.describe(&id).expect("describe").versions[0].state,
        VersionState::Enabled
    );
    assert_eq!(
        outcome(e.set_version_enabled(&id, 9, false)),
        "VersionNotFound"
    );
    e.rotate(&id).expect("rotate");
    assert_eq!(
        outcome(e.set_version_enabled(&id, 2, false)),
        "InvalidKeyState",
        "new primary"
    );
    let m = e
        .set_version_enabled(&id, 1, false)
        .expect("disable old version");
    assert_eq!(m.versions[0].state, VersionState::Disabled);
    let err = e
        .decrypt(&ct1, &c, None)
        .err()
        .expect("disabled version must not decrypt");
    assert_eq!(err.code(), "VersionDisabled");
    // New encryptions use the primary and still work.
    let ct2 = encrypt(e, &id, b"v2", &c);
    assert_eq!(decrypt(e, &ct2, &c), b"v2");
    e.set_version_enabled(&id, 1, true).expect("re-enable");
    assert_eq!(decrypt(e, &ct1, &c), b"v1");

    // Signatures of a disabled version no longer verify (signatures do not
    // name their version, so the answer is `false`).
    let ecc = key(e, ECC);
    let (sig1, _, _, _) = e.sign(&ecc, b"m", MessageType::Raw, None).expect("sign v1");
    e.rotate(&ecc).expect("rotate");
    assert!(e
        .verify(&ecc, b"m", MessageType::Raw, &sig1, None)
        .expect("old signature verifies"));
    e.set_version_enabled(&ecc, 1, false).expect("disable v1");
    assert_eq!(
        verified(e.verify(&ecc, b"m", MessageType::Raw, &sig1, None)),
        "Ok(false)"
    );
    e.set_version_enabled(&ecc, 1, true).expect("enable v1");
    assert_eq!(
        verified(e.verify(&ecc, b"m", MessageType::Raw, &sig1, None)),
        "Ok"
    );
}

// -------------------------------------------------- 8. usage confusion

#[test]
fn usage_confusion_is_refused() {
    let env = env();
    let e = &env.engine;
    let aes = key(e, AES);
    let hmac = key(e, HMAC);
    let ecc = key(e, ECC);
    let ed = key(e, "ED25519");
    let rsa_sign = create(e, "RSA_2048", Some("SIGN_VERIFY")).id;
    let rsa_enc = create(e, "RSA_2048", Some("ENCRYPT_DECRYPT")).id;
    let c = no_ctx();
    let raw = MessageType::Raw;
    let cases: Vec<(&str, &'static str)> = vec![
        ("sign with AES", outcome(e.sign(&aes, b"m", raw, None))),
        (
            "sign with RSA ENCRYPT_DECRYPT",
            outcome(e.sign(&rsa_enc, b"m", raw, None)),
        ),
        ("sign with HMAC", outcome(e.sign(&hmac, b"m", raw, None))),
        (
            "verify with AES",
            outcome(e.verify(&aes, b"m", raw, b"sig", None)),
        ),
        (
            "verify with HMAC",
            outcome(e.verify(&hmac, b"m", raw, b"sig", None)),
        ),
        ("encrypt with HMAC", outcome(e.encrypt(&hmac, b"m", &c))),
        ("encrypt with ECC", outcome(e.encrypt(&ecc, b"m", &c))),
        ("encrypt with Ed25519", outcome(e.encrypt(&ed, b"m", &c))),
        (
            "encrypt with RSA SIGN_VERIFY",
            outcome(e.encrypt(&rsa_sign, b"m", &c)),
        ),
        (
            "data key with HMAC",
            outcome(e.generate_data_key(&hmac, None, &c, true)),
        ),
        (
            "data key with RSA SIGN_VERIFY",
            outcome(e.generate_data_key(&rsa_sign, None, &c, true)),
        ),
        ("MAC with ECC", outcome(e.generate_mac(&ecc, b"m"))),
        (
            "MAC with RSA SIGN_VERIFY",
            outcome(e.generate_mac(&rsa_sign, b"m")),
        ),
        ("MAC with AES", outcome(e.generate_mac(&aes, b"m"))),
        (
            "verify MAC with ECC",
            outcome(e.verify_mac(&ecc, b"m", b"tag")),
        ),
        (
            "verify MAC with AES",
            outcome(e.verify_mac(&aes, b"m", b"tag")),
        ),
    ];
    for (what, code) in cases {
        assert_eq!(code, "InvalidKeyUsage", "{what}");
    }
    // A ciphertext header naming a SIGN_VERIFY RSA key: the key is never
    // used to decrypt (that would be a signing oracle). The engine answers
    // with the generic decryption error.
    let donor = encrypt(e, &rsa_enc, b"m", &c);
    let mut forged = donor.clone();
    forged[4..20].copy_from_slice(Uuid::parse_str(&rsa_sign).expect("uuid").as_bytes());
    assert_eq!(decrypt_code(e, &forged, &c), "InvalidCiphertext");
    assert_eq!(
        outcome(e.decrypt(&forged, &c, Some(&rsa_sign))),
        "InvalidCiphertext"
    );
    assert_eq!(
        outcome(e.decrypt(&donor, &c, Some(&rsa_sign))),
        "IncorrectKey"
    );
    // Same with a header naming an HMAC or ECC key.
    let aes_ct = encrypt(e, &aes, b"m", &c);
    for other in [&hmac, &ecc] {
        let mut forged = aes_ct.clone();
        forged[4..20].copy_from_slice(Uuid::parse_str(other).expect("uuid").as_bytes());
        assert_eq!(decrypt_code(e, &forged, &c), "InvalidCiphertext");
    }
}

#[test]
fn mac_and_signature_verification_reject_bad_tags() {
    let env = env();
    let e = &env.engine;
    for spec in ["HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"] {
        let id = key(e, spec);
        let (mac, _, _) = e.generate_mac(&id, b"msg").expect("mac");
        let mut flipped = mac.clone();
        flipped[0] ^= 1;
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("truncated by one", mac[..mac.len() - 1].to_vec()),
            ("truncated to 16", mac[..16].to_vec()),
            ("one byte", mac[..1].to_vec()),
            ("over-long by one", [mac.as_slice(), &[0u8]].concat()),
            ("doubled", [mac.as_slice(), mac.as_slice()].concat()),
            ("flipped", flipped),
        ];
        for (what, tag) in bad {
            assert_eq!(
                verified(e.verify_mac(&id, b"msg", &tag)),
                "Ok(false)",
                "{spec} {what}"
            );
        }
        assert_eq!(verified(e.verify_mac(&id, b"msg", &mac)), "Ok");
    }
    for spec in ["ECC_NIST_P256", "ECC_NIST_P384", "ED25519", "RSA_2048"] {
        let id = key(e, spec);
        let raw = MessageType::Raw;
        let (sig, _, _, _) = e.sign(&id, b"msg", raw, None).expect("sign");
        let mut flipped = sig.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("truncated by one", sig[..sig.len() - 1].to_vec()),
            ("half", sig[..sig.len() / 2].to_vec()),
            ("over-long by one", [sig.as_slice(), &[0u8]].concat()),
            ("doubled", [sig.as_slice(), sig.as_slice()].concat()),
            ("flipped", flipped),
        ];
        for (what, s) in bad {
            assert_eq!(
                verified(e.verify(&id, b"msg", raw, &s, None)),
                "Ok(false)",
                "{spec} {what}"
            );
        }
        assert_eq!(verified(e.verify(&id, b"msg", raw, &sig, None)), "Ok");
    }
}

// ------------------------------------------------------------ 9. aliases

#[test]
fn aliases_resolve_exactly() {
    let env = env();
    let e = &env.engine;
    let m = e
        .create(CreateKey {
            aliases: vec!["alias/app".into(), "alias/team/app-1_x".into()],
            ..Default::default()
        })
        .expect("create with aliases");
    let id = m.id.clone();
    for r in [
        id.clone(),
        "alias/app".to_string(),
        "alias/team/app-1_x".to_string(),
        format!("arn:aws:kms:eu-west-1:111122223333:key/{id}"),
        "arn:aws:kms:eu-west-1:111122223333:alias/app".to_string(),
    ] {
        assert_eq!(e.describe(&r).expect("resolve").id, id, "{r}");
    }
    let c = no_ctx();
    let ct = encrypt(e, "alias/app", b"via alias", &c);
    assert_eq!(decrypt(e, &ct, &c), b"via alias");

    // Duplicates.
    let before = count_all(e);
    let dup = e.create(CreateKey {
        aliases: vec!["alias/app".into()],
        ..Default::default()
    });
    assert_eq!(outcome(dup), "AliasExists");
    let twice = e.create(CreateKey {
        aliases: vec!["alias/new".into(), "alias/new".into()],
        ..Default::default()
    });
    assert_eq!(outcome(twice), "AliasExists");
    assert_eq!(count_all(e), before, "a refused create adds no key");
    assert_eq!(outcome(e.describe("alias/new")), "AliasNotFound");
    let other = key(e, AES);
    assert_eq!(outcome(e.create_alias("alias/app", &other)), "AliasExists");
    assert_eq!(outcome(e.create_alias("alias/app", &id)), "AliasExists");
    assert_eq!(e.describe("alias/app").expect("still the first key").id, id);
    assert_eq!(
        outcome(e.create_alias("alias/x", "alias/app")),
        "InvalidArgument",
        "alias to alias"
    );

    // Invalid names, at create and at create_alias.
    let invalid = [
        "alias/../x",
        "alias/a/../b",
        "alias/a%2Fb",
        "alias/*",
        "alias/a*",
        "alias/ a",
        "alias/a ",
        " alias/a",
        "alias/",
        "alias//a",
        "alias/a/",
        "alias/a//b",
        "Alias/x",
        "ALIAS/x",
        "alias",
        "app",
        "alias/aws/x",
        "alias/\u{0430}pp", // Cyrillic а
        "alias/app\u{200b}",
        "alias/caf\u{e9}",
        "alias/a\nb",
        "alias/a\\b",
        "alias/a.b",
    ];
    let long = format!("alias/{}", "a".repeat(251));
    let ok_long = format!("alias/{}", "a".repeat(250));
    for a in invalid.iter().copied().chain([long.as_str()]) {
        let r = e.create(CreateKey {
            aliases: vec![a.to_string()],
            ..Default::default()
        });
        assert_eq!(outcome(r), "InvalidArgument", "create with {a:?}");
        assert_eq!(
            outcome(e.create_alias(a, &other)),
            "InvalidArgument",
            "create_alias {a:?}"
        );
    }
    assert_eq!(count_all(e), before + 1);
    e.create_alias(&ok_long, &other)
        .expect("250 characters are allowed");

    // Exact, case-sensitive matching; only the canonical id form names a key.
    assert_eq!(outcome(e.describe("alias/App")), "AliasNotFound");
    assert_eq!(outcome(e.describe("alias/APP")), "AliasNotFound");
    assert_eq!(outcome(e.describe("alias/app ")), "AliasNotFound");
    assert_eq!(outcome(e.describe("alias/\u{0430}pp")), "AliasNotFound");
    let upper = id.to_uppercase();
    assert_eq!(outcome(e.describe(&upper)), "KeyNotFound");
    assert_eq!(outcome(e.describe(&id.replace('-', ""))), "KeyNotFound");
    assert_eq!(outcome(e.describe(&format!("{{{id}}}"))), "KeyNotFound");
    assert_eq!(
        outcome(e.describe(&format!("urn:uuid:{id}"))),
        "KeyNotFound"
    );
    assert_eq!(outcome(e.describe(&format!(" {id}"))), "InvalidArgument");
    assert_eq!(outcome(e.describe(&format!("{id} "))), "InvalidArgument");
    assert_eq!(outcome(e.describe("../etc/passwd")), "InvalidArgument");
    assert_eq!(outcome(e.describe("*")), "InvalidArgument");
    assert_eq!(outcome(e.describe("")), "InvalidArgument");
    assert_eq!(
        outcome(e.describe("00000000-0000-4000-8000-000000000000")),
        "KeyNotFound"
    );
    // The uppercase id cannot be used for a cryptographic operation either.
    assert_eq!(outcome(e.encrypt(&upper, b"x", &c)), "KeyNotFound");

    // Deleting.
    let m = e.delete_alias("alias/app").expect("delete alias");
    assert_eq!(m.aliases, vec!["alias/team/app-1_x".to_string()]);
    assert_eq!(outcome(e.describe("alias/app")), "AliasNotFound");
    assert_eq!(outcome(e.delete_alias("alias/app")), "AliasNotFound");
    assert_eq!(outcome(e.delete_alias("alias/../app")), "InvalidArgument");
    e.create_alias("alias/app", &other)
        .expect("freed alias reused");
    assert_eq!(e.describe("alias/app").expect("describe").id, other);
    let listed = e.list_aliases().expect("list aliases");
    assert_eq!(listed, {
        let mut v = vec![
            ("alias/app".to_string(), other.clone()),
            ("alias/team/app-1_x".to_string(), id.clone()),
            (ok_long.clone(), other.clone()),
        ];
        v.sort();
        v
    });
}

/// Creating keys with the same alias concurrently: the check runs under the
/// write lock, so exactly one wins.
#[test]
fn concurrent_create_with_the_same_alias_gives_it_to_one_key() {
    let env = env();
    let e = &env.engine;
    for i in 0..50 {
        let alias = format!("alias/create-race-{i}");
        let barrier = std::sync::Barrier::new(2);
        let attempt = || {
            barrier.wait();
            outcome(e.create(CreateKey {
                aliases: vec![alias.clone()],
                ..Default::default()
            }))
        };
        let mut got = std::thread::scope(|s| {
            let ta = s.spawn(attempt);
            let tb = s.spawn(attempt);
            [ta.join().expect("thread a"), tb.join().expect("thread b")]
        });
        got.sort();
        assert_eq!(got, ["AliasExists", "Ok"], "{alias}");
        let holders = e
            .list(
                &KeyFilter {
                    alias: Some(alias.clone()),
                    ..Default::default()
                },
                1000,
                None,
            )
            .expect("list")
            .0
            .len();
        assert_eq!(holders, 1, "{alias}");
    }
}

/// `create_alias` checks that the alias is free before taking the write lock
/// (`if self.read()?.aliases.contains_key(alias)` ahead of `self.mutate`), so
/// two concurrent calls for the same alias on different keys both succeed
/// (about 1 run in 8 on a 2-core machine): both keys list the alias in their
/// stored metadata, the in-memory alias map keeps whichever wrote last, and
/// after a restart the alias may resolve to the other key.
#[test]

fn concurrent_create_alias_gives_the_alias_to_exactly_one_key() {
    let env = env();
    let e = &env.engine;
    let a = key(e, AES);
    let b = key(e, AES);
    let mut doubled = Vec::new();
    for i in 0..100 {
        let alias = format!("alias/race-{i}");
        let barrier = std::sync::Barrier::new(2);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| {
                barrier.wait();
                outcome(e.create_alias(&alias, &a))
            });
            let tb = s.spawn(|| {
                barrier.wait();
                outcome(e.create_alias(&alias, &b))
            });
            (ta.join().expect("thread a"), tb.join().expect("thread b"))
        });
        let mut got = [ra, rb];
        got.sort();
        if got != ["AliasExists", "Ok"] {
            doubled.push(format!("{alias}: {got:?}"));
        }
        let holders = [&a, &b]
            .iter()
            .filter(|k| e.describe(k).expect("describe").aliases.contains(&alias))
            .count();
        if holders != 1 {
            doubled.push(format!("{alias}: listed by {holders} keys"));
        }
    }
    assert!(
        doubled.is_empty(),
        "an alias was given twice:\n{}",
        doubled.join("\n")
    );
}

// -------------------------------------------------------- 10. persistence

#[test]
fn everything_survives_a_restart() {
    let (disk, seal, e) = Disk::init("persist", EngineConfig::default());
    let c = ctx(&[("tenant", "acme")]);
    let aes = e
        .create(CreateKey {
            spec: Some(AES.into()),
            description: "main data key".into(),
            owner: "team-a".into(),
            purpose: "tests".into(),
            tags: [("env".to_string(), "prod".to_string())]
                .into_iter()
                .collect(),
            aliases: vec!["alias/persist/aes".into()],
            ..Default::default()
        })
        .expect("create aes")
        .id;
    let ct1 = encrypt(&e, &aes, b"before rotation", &c);
    e.rotate(&aes).expect("rotate");
    let ct2 = encrypt(&e, &aes, b"after rotation", &c);
    let rsa = create(&e, "RSA_2048", Some("ENCRYPT_DECRYPT")).id;
    let ct_rsa = encrypt(&e, &rsa, b"rsa", &c);
    let p384 = key(&e, "ECC_NIST_P384");
    let (sig_p384, _, _, _) = e.sign(&p384, b"m", MessageType::Raw, None).expect("sign");
    let ed = key(&e, "ED25519");
    let (sig_ed, _, _, _) = e.sign(&ed, b"m", MessageType::Raw, None).expect("sign");
    e.disable(&ed).expect("disable ed");
    let rsa_pss = create(&e, "RSA_2048", Some("SIGN_VERIFY")).id;
    let (sig_rsa, _, _, _) = e
        .sign(&rsa_pss, b"m", MessageType::Raw, None)
        .expect("sign");
    let hmac = key(&e, "HMAC_SHA_512");
    let (mac1, _, _) = e.generate_mac(&hmac, b"m").expect("mac");
    e.rotate(&hmac).expect("rotate hmac");
    let (mac2, _, _) = e.generate_mac(&hmac, b"m").expect("mac");
    let ver = key(&e, AES);
    let ct_ver = encrypt(&e, &ver, b"v1", &c);
    e.rotate(&ver).expect("rotate");
    e.set_version_enabled(&ver, 1, false).expect("disable v1");
    let pending = key(&e, AES);
    let ct_pending = encrypt(&e, &pending, b"p", &c);
    e.schedule_deletion(&pending, None).expect("schedule 30");
    let gone = key(&e, AES);
    let ct_gone = encrypt(&e, &gone, b"g", &c);
    e.schedule_deletion(&gone, Some(7)).expect("schedule 7");
    disk.clock.advance(8 * DAY);
    assert_eq!(e.destroy_due().expect("destroy"), vec![gone.clone()]);
    e.update(
        &rsa,
        UpdateKey {
            description: Some("updated".into()),
            set_tags: [("k".to_string(), "v".to_string())].into_iter().collect(),
            ..Default::default()
        },
    )
    .expect("update");

    let all_before = e.list(&KeyFilter::default(), 1000, None).expect("list").0;
    let aliases_before = e.list_aliases().expect("aliases");
    let counts_before = e.counts_by_state().expect("counts");
    assert_eq!(all_before.len(), 9);
    drop(e);
    drop(seal);

    let (seal, e) = disk.restart();
    let all_after = e.list(&KeyFilter::default(), 1000, None).expect("list").0;
    assert_eq!(
        all_after, all_before,
        "metadata (state, versions, aliases, tags, order) survives"
    );
    for m in &all_before {
        assert_eq!(&e.describe(&m.id).expect("describe"), m);
    }
    assert_eq!(e.list_aliases().expect("aliases"), aliases_before);
    assert_eq!(e.counts_by_state().expect("counts"), counts_before);

    assert_eq!(decrypt(&e, &ct1, &c), b"before rotation");
    assert_eq!(decrypt(&e, &ct2, &c), b"after rotation");
    assert_eq!(decrypt(&e, &ct_rsa, &c), b"rsa");
    assert!(e
        .verify(&p384, b"m", MessageType::Raw, &sig_p384, None)
        .expect("verify p384"));
    assert!(e
        .verify(&rsa_pss, b"m", MessageType::Raw, &sig_rsa, None)
        .expect("verify rsa"));
    assert_eq!(
        outcome(e.verify(&ed, b"m", MessageType::Raw, &sig_ed, None)),
        "KeyDisabled"
    );
    e.enable(&ed).expect("enable");
    assert!(e
        .verify(&ed, b"m", MessageType::Raw, &sig_ed, None)
        .expect("verify ed"));
    assert!(e.verify_mac(&hmac, b"m", &mac1).expect("mac v1"));
    assert!(e.verify_mac(&hmac, b"m", &mac2).expect("mac v2"));
    assert_eq!(
        e.generate_mac(&hmac, b"m").expect("mac").0,
        mac2,
        "same v2 material after restart"
    );
    assert_eq!(decrypt_code(&e, &ct_ver, &c), "VersionDisabled");
    assert_eq!(decrypt_code(&e, &ct_pending, &c), "KeyPendingDeletion");
    assert_eq!(decrypt_code(&e, &ct_gone, &c), "KeyDestroyed");
    assert_eq!(e.describe("alias/persist/aes").expect("alias").id, aes);

    // New work after the restart does not collide with old versions or keys.
    let m = e.rotate(&aes).expect("rotate after restart");
    assert_eq!(m.primary_version, 3);
    let ct3 = encrypt(&e, &aes, b"v3", &c);
    let extra = key(&e, AES);
    let listed = e.list(&KeyFilter::default(), 1000, None).expect("list").0;
    assert_eq!(
        listed.last().map(|k| k.id.clone()),
        Some(extra.clone()),
        "creation order continues"
    );
    drop(e);
    drop(seal);

    let (seal, e) = disk.restart();
    assert_eq!(e.describe(&aes).expect("describe").primary_version, 3);
    assert_eq!(decrypt(&e, &ct3, &c), b"v3");
    assert_eq!(decrypt(&e, &ct1, &c), b"before rotation");
    assert_eq!(count_all(&e), 10);
    drop(e);
    drop(seal);
}

// --------------------------------------------------- 11. bad input

#[test]
fn bad_create_input_changes_nothing() {
    let env = env();
    let e = &env.engine;
    let existing = key(e, AES);
    let before = count_all(e);
    let tags = |n: usize| -> BTreeMap<String, String> {
        (0..n).map(|i| (format!("t{i}"), "v".to_string())).collect()
    };
    let cases: Vec<(&str, CreateKey)> = vec![
        (
            "unknown spec",
            CreateKey {
                spec: Some("AES_128_GCM".into()),
                ..Default::default()
            },
        ),
        (
            "lower-case spec",
            CreateKey {
                spec: Some("aes_256_gcm".into()),
                ..Default::default()
            },
        ),
        (
            "empty spec",
            CreateKey {
                spec: Some(String::new()),
                ..Default::default()
            },
        ),
        (
            "unknown usage",
            CreateKey {
                usage: Some("WRAP".into()),
                ..Default::default()
            },
        ),
        (
            "wrong usage for AES",
            CreateKey {
                usage: Some("SIGN_VERIFY".into()),
                ..Default::default()
            },
        ),
        (
            "wrong usage for ECC",
            CreateKey {
                spec: Some(ECC.into()),
                usage: Some("ENCRYPT_DECRYPT".into()),
                ..Default::default()
            },
        ),
        (
            "wrong usage for HMAC",
            CreateKey {
                spec: Some(HMAC.into()),
                usage: Some("SIGN_VERIFY".into()),
                ..Default::default()
            },
        ),
        (
            "MAC usage for RSA",
            CreateKey {
                spec: Some("RSA_2048".into()),
                usage: Some("GENERATE_VERIFY_MAC".into()),
                ..Default::default()
            },
        ),
        (
            "newline in description",
            CreateKey {
                description: "a\nb".into(),
                ..Default::default()
            },
        ),
        (
            "NUL in description",
            CreateKey {
                description: "a\u{0}b".into(),
                ..Default::default()
            },
        ),
        (
            "escape in owner",
            CreateKey {
                owner: "\u{1b}[31m".into(),
                ..Default::default()
            },
        ),
        (
            "tab in purpose",
            CreateKey {
                purpose: "a\tb".into(),
                ..Default::default()
            },
        ),
        (
            "long description",
            CreateKey {
                description: "d".repeat(8193),
                ..Default::default()
            },
        ),
        (
            "51 tags",
            CreateKey {
                tags: tags(51),
                ..Default::default()
            },
        ),
        (
            "empty tag key",
            CreateKey {
                tags: [(String::new(), "v".to_string())].into_iter().collect(),
                ..Default::default()
            },
        ),
        (
            "long tag key",
            CreateKey {
                tags: [("k".repeat(129), "v".to_string())].into_iter().collect(),
                ..Default::default()
            },
        ),
        (
            "control char in tag value",
            CreateKey {
                tags: [("k".to_string(), "v\r".to_string())].into_iter().collect(),
                ..Default::default()
            },
        ),
        (
            "bad alias after good one",
            CreateKey {
                aliases: vec!["alias/good".into(), "alias/b@d".into()],
                ..Default::default()
            },
        ),
    ];
    for (what, req) in cases {
        assert_eq!(outcome(e.create(req)), "InvalidArgument", "{what}");
        assert_eq!(count_all(e), before, "{what} added a key");
    }
    assert_eq!(outcome(e.describe("alias/good")), "AliasNotFound");
    assert_eq!(e.list_aliases().expect("aliases"), vec![]);
    // 50 tags are fine.
    assert_eq!(
        outcome(e.create(CreateKey {
            tags: tags(50),
            ..Default::default()
        })),
        "Ok"
    );

    // Updates: refused ones leave the key exactly as it was.
    e.update(
        &existing,
        UpdateKey {
            set_tags: tags(30),
            ..Default::default()
        },
    )
    .expect("30 tags");
    let m = e.describe(&existing).expect("describe");
    let more: BTreeMap<String, String> = (0..25)
        .map(|i| (format!("u{i}"), "v".to_string()))
        .collect();
    let bad_updates: Vec<(&str, UpdateKey)> = vec![
        (
            "55 tags in total",
            UpdateKey {
                set_tags: more,
                ..Default::default()
            },
        ),
        (
            "control chars",
            UpdateKey {
                description: Some("x\u{7}".into()),
                ..Default::default()
            },
        ),
        (
            "long owner",
            UpdateKey {
                owner: Some("o".repeat(257)),
                ..Default::default()
            },
        ),
    ];
    for (what, req) in bad_updates {
        assert_eq!(
            outcome(e.update(&existing, req)),
            "InvalidArgument",
            "{what}"
        );
        assert_eq!(
            e.describe(&existing).expect("describe"),
            m,
            "{what} changed the key"
        );
    }
}

// ---------------------------------------------------- 12. list paging

#[test]
fn list_pages_and_filters() {
    let env = env();
    let e = &env.engine;
    let mut ids = Vec::new();
    for i in 0..25 {
        let m = e
            .create(CreateKey {
                owner: if i % 2 == 0 {
                    "team-a".into()
                } else {
                    "team-b".into()
                },
                tags: if i % 5 == 0 {
                    [("env".to_string(), "prod".to_string())]
                        .into_iter()
                        .collect()
                } else {
                    BTreeMap::new()
                },
                aliases: if i == 12 {
                    vec!["alias/listed".into()]
                } else {
                    vec![]
                },
                ..Default::default()
            })
            .expect("create");
        ids.push(m.id);
    }
    for id in &ids[3..6] {
        e.disable(id).expect("disable");
    }
    let all = KeyFilter::default();
    let page = |f: &KeyFilter, limit: usize| -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (keys, next) = e.list(f, limit, cursor.as_deref()).expect("list page");
            pages.push(keys.into_iter().map(|k| k.id).collect());
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
            assert!(pages.len() < 100, "paging does not terminate");
        }
        pages
    };
    let pages = page(&all, 10);
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![10, 10, 5]
    );
    let flat: Vec<String> = pages.concat();
    assert_eq!(flat, ids, "every key exactly once, in creation order");

    let team_a = KeyFilter {
        owner: Some("team-a".into()),
        ..Default::default()
    };
    let pages = page(&team_a, 5);
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![5, 5, 3]
    );
    let expected_a: Vec<String> = ids.iter().step_by(2).cloned().collect();
    assert_eq!(pages.concat(), expected_a);

    let disabled = KeyFilter {
        state: Some(KeyState::Disabled),
        ..Default::default()
    };
    assert_eq!(page(&disabled, 100).concat(), ids[3..6].to_vec());
    let enabled = KeyFilter {
        state: Some(KeyState::Enabled),
        ..Default::default()
    };
    assert_eq!(page(&enabled, 100).concat().len(), 22);
    let prod = KeyFilter {
        tag: Some(("env".into(), "prod".into())),
        ..Default::default()
    };
    let expected_prod: Vec<String> = ids.iter().step_by(5).cloned().collect();
    assert_eq!(page(&prod, 2).concat(), expected_prod);
    let prod_wrong_value = KeyFilter {
        tag: Some(("env".into(), "Prod".into())),
        ..Default::default()
    };
    assert_eq!(page(&prod_wrong_value, 10).concat(), Vec::<String>::new());
    let aliased = KeyFilter {
        alias: Some("alias/listed".into()),
        ..Default::default()
    };
    assert_eq!(page(&aliased, 10).concat(), vec![ids[12].clone()]);
    let combined = KeyFilter {
        owner: Some("team-b".into()),
        state: Some(KeyState::Disabled),
        ..Default::default()
    };
    assert_eq!(
        page(&combined, 10).concat(),
        vec![ids[3].clone(), ids[5].clone()]
    );
    // A page that ends exactly at the last match has no next cursor.
    let (keys, next) = e.list(&prod, 5, None).expect("list");
    assert_eq!((keys.len(), next), (5, None));
    let (keys, next) = e.list(&all, 25, None).expect("list");
    assert_eq!((keys.len(), next), (25, None));
    let (keys, next) = e.list(&all, 24, None).expect("list");
    assert_eq!(keys.len(), 24);
    let (rest, next) = e.list(&all, 24, next.as_deref()).expect("list");
    assert_eq!(rest.len(), 1);
    assert!(next.is_none());
    let nobody = KeyFilter {
        owner: Some("team-c".into()),
        ..Default::default()
    };
    let (keys, next) = e.list(&nobody, 10, None).expect("list");
    assert!(keys.is_empty() && next.is_none());

    for bad in [
        "abc",
        "-1",
        "",
        "1.5",
        " 3",
        "0x10",
        "99999999999999999999999",
    ] {
        assert_eq!(
            outcome(e.list(&all, 10, Some(bad))),
            "InvalidArgument",
            "cursor {bad:?}"
        );
    }
    // Limits are clamped rather than refused.
    assert_eq!(e.list(&all, 0, None).expect("limit 0").0.len(), 1);
    assert_eq!(
        e.list(&all, usize::MAX, None).expect("huge limit").0.len(),
        25
    );
}

// ------------------------------------------------- ML-KEM (FIPS 203)

#[test]
fn ml_kem_encapsulate_decapsulate_every_parameter_set() {
    let env = env();
    let e = &env.engine;
    for (spec, ct_len) in [
        (KeySpec::MlKem512, 768),
        (KeySpec::MlKem768, 1088),
        (KeySpec::MlKem1024, 1568),
    ] {
        let m = create(e, spec.name(), None);
        assert_eq!(m.usage, KeyUsage::EncapsulateDecapsulate, "{spec:?}");
        let enc = e.encapsulate(&m.id).expect("encapsulate");
        assert_eq!(
            (enc.ciphertext.len(), enc.shared_secret.len()),
            (ct_len, 32)
        );
        assert_eq!((enc.key_id.as_str(), enc.version), (m.id.as_str(), 1));
        let dec = e
            .decapsulate(&m.id, &enc.ciphertext, None)
            .expect("decapsulate");
        assert!(
            dec.shared_secret.ct_eq(enc.shared_secret.expose()),
            "{spec:?}"
        );
        assert_eq!(dec.version, 1);
        // Two encapsulations never share a secret or a ciphertext.
        let enc2 = e.encapsulate(&m.id).expect("encapsulate again");
        assert_ne!(enc2.ciphertext, enc.ciphertext);
        assert!(!enc2.shared_secret.ct_eq(enc.shared_secret.expose()));
        // A flipped bit anywhere decapsulates (implicit rejection) to a
        // secret that is not the sender's.
        for i in [0, ct_len / 2, ct_len - 1] {
            let mut bad = enc.ciphertext.clone();
            bad[i] ^= 1;
            let d = e
                .decapsulate(&m.id, &bad, None)
                .expect("tampered decapsulates");
            assert!(
                !d.shared_secret.ct_eq(enc.shared_secret.expose()),
                "bit {i}"
            );
        }
        // Wrong lengths are a clear validation error.
        for n in [0, 1, ct_len - 1, ct_len + 1] {
            let err = e
                .decapsulate(&m.id, &vec![0u8; n], None)
                .err()
                .expect("wrong length refused");
            assert_eq!(err.code(), "InvalidArgument");
            assert!(err.to_string().contains(&ct_len.to_string()), "{err}");
        }
        // The published key is the one the server decapsulates with.
        let pk = e.get_public_key(&m.id).expect("public key");
        assert!(pk.signing_algorithms.is_empty());
        let (ct, ss) = material::ml_kem_encapsulate_to(spec, &pk.der).expect("local encapsulation");
        let d = e.decapsulate(&m.id, &ct, None).expect("decapsulate local");
        assert!(d.shared_secret.ct_eq(ss.expose()));
    }
}

#[test]
fn ml_kem_usage_confusion_is_refused() {
    let env = env();
    let e = &env.engine;
    let kem = key(e, KEM);
    let aes = key(e, AES);
    let ecc = key(e, ECC);
    let c = no_ctx();
    assert_eq!(outcome(e.encrypt(&kem, b"x", &c)), "InvalidKeyUsage");
    assert_eq!(
        outcome(e.generate_data_key(&kem, None, &c, true)),
        "InvalidKeyUsage"
    );
    assert_eq!(
        outcome(e.sign(&kem, b"x", MessageType::Raw, None)),
        "InvalidKeyUsage"
    );
    assert_eq!(outcome(e.generate_mac(&kem, b"x")), "InvalidKeyUsage");
    assert_eq!(outcome(e.encapsulate(&aes)), "InvalidKeyUsage");
    assert_eq!(outcome(e.encapsulate(&ecc)), "InvalidKeyUsage");
    assert_eq!(
        outcome(e.decapsulate(&aes, &[0u8; 1088], None)),
        "InvalidKeyUsage"
    );
    // ML-KEM keys take no other usage; ML-DSA keys only SIGN_VERIFY.
    for (spec, usage) in [
        (KEM, "ENCRYPT_DECRYPT"),
        (KEM, "SIGN_VERIFY"),
        ("ML_DSA_65", "ENCRYPT_DECRYPT"),
        ("ML_DSA_65", "ENCAPSULATE_DECAPSULATE"),
        (AES, "ENCAPSULATE_DECAPSULATE"),
    ] {
        let r = e.create(CreateKey {
            spec: Some(spec.into()),
            usage: Some(usage.into()),
            ..Default::default()
        });
        assert_eq!(outcome(r), "InvalidArgument", "{spec} with {usage}");
    }
}

#[test]
fn ml_kem_versions_rotation_and_compromise() {
    let env = env();
    let e = &env.engine;
    let id = key(e, KEM);
    let v1 = e.encapsulate(&id).expect("encapsulate v1");
    e.rotate(&id).expect("rotate");
    let v2 = e.encapsulate(&id).expect("encapsulate v2");
    assert_eq!((v1.version, v2.version), (1, 2));
    // The primary version by default; an older one by name.
    let d2 = e.decapsulate(&id, &v2.ciphertext, None).expect("v2");
    assert!(d2.shared_secret.ct_eq(v2.shared_secret.expose()));
    let d1 = e.decapsulate(&id, &v1.ciphertext, Some(1)).expect("v1");
    assert!(d1.shared_secret.ct_eq(v1.shared_secret.expose()));
    // A v1 ciphertext with v2 is implicit rejection, not v1's secret.
    let wrong = e
        .decapsulate(&id, &v1.ciphertext, None)
        .expect("decapsulates");
    assert!(!wrong.shared_secret.ct_eq(v1.shared_secret.expose()));
    assert_eq!(
        outcome(e.decapsulate(&id, &v1.ciphertext, Some(9))),
        "VersionNotFound"
    );
    e.set_version_enabled(&id, 1, false).expect("disable v1");
    assert_eq!(
        outcome(e.decapsulate(&id, &v1.ciphertext, Some(1))),
        "VersionDisabled"
    );
    e.set_version_enabled(&id, 1, true).expect("enable v1");
    e.set_min_decryption_version(&id, 2).expect("min 2");
    assert_eq!(
        outcome(e.decapsulate(&id, &v1.ciphertext, Some(1))),
        "VersionBelowMinimum"
    );
    // Compromise of the primary: rotated at once, the old version refused.
    let (m, report) = e.compromise(&id, None, "test").expect("compromise");
    assert_eq!((m.primary_version, report.compromised_version), (3, 2));
    assert_eq!(
        outcome(e.decapsulate(&id, &v2.ciphertext, Some(2))),
        "VersionCompromised"
    );
    let v3 = e.encapsulate(&id).expect("encapsulate v3");
    assert_eq!(v3.version, 3);
    // Disabled key: refused by the state table.
    e.disable(&id).expect("disable");
    assert_eq!(outcome(e.encapsulate(&id)), "KeyDisabled");
    assert_eq!(
        outcome(e.decapsulate(&id, &v3.ciphertext, None)),
        "KeyDisabled"
    );
}

#[test]
fn ml_kem_and_ml_dsa_keys_survive_a_restart() {
    let (disk, seal, engine) = Disk::init("pq-restart", EngineConfig::default());
    let kem = key(&engine, KEM);
    let dsa = key(&engine, "ML_DSA_65");
    let enc = engine.encapsulate(&kem).expect("encapsulate");
    let (sig, alg, _, _) = engine
        .sign(&dsa, b"survives", MessageType::Raw, None)
        .expect("sign");
    assert_eq!(alg, SigningAlgorithm::MlDsaShake256);
    let pk = engine.get_public_key(&dsa).expect("pk").der;
    drop(engine);
    drop(seal);
    let (_seal, engine) = disk.restart();
    let d = engine
        .decapsulate(&kem, &enc.ciphertext, None)
        .expect("decapsulate");
    assert!(d.shared_secret.ct_eq(enc.shared_secret.expose()));
    assert!(engine
        .verify(&dsa, b"survives", MessageType::Raw, &sig, None)
        .expect("verify"));
    assert_eq!(engine.get_public_key(&dsa).expect("pk").der, pk);
}
