//! Backups and recovery drills (`docs/LIFECYCLE.md`).
//!
//! A backup is a snapshot of the storage rows — keys, versions (material
//! still sealed), and the identity/token/access-key/policy/approval records
//! (still sealed) — plus the audit chain head and sample ciphertexts made at
//! backup time. The whole snapshot is sealed once more under the barrier
//! (AES-256-GCM under the root key, with its own identity as associated
//! data), so it is confidential and any change is detected when it is opened.
//!
//! A drill opens a backup with this server's root key, loads it into a
//! scratch in-memory SQLite store, opens an engine on that store, and
//! decrypts every sample; it passes if each one gives back the plaintext
//! whose SHA-256 was recorded. The result is kept (sealed) in storage for the
//! compliance report.

use aws_lc_rs::digest::{digest, SHA256};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::Engine;
use crate::clock::Timestamp;
use crate::crypto::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::keys::state::KeyState;
use crate::seal::barrier::Barrier;
use crate::storage::{Op, Store, Transaction};

const MAGIC: &[u8] = b"STRONGROOM-BACKUP-1\n";
/// Version 2: MAGIC2, a 4-byte big-endian length, the header (JSON), then
/// the sealed snapshot, whose `header_sha256` binds the header.
const MAGIC2: &[u8] = b"STRONGROOM-BACKUP-2\n";
/// Longest header accepted (it holds four small sealed blobs).
const MAX_HEADER: usize = 1 << 20;
const BACKUP_IDENTITY: &str = "strongroom/backup/v1";
const META_LAST_DRILL: &str = "backup_last_drill";
const DRILL_IDENTITY: &str = "strongroom/meta/backup_last_drill";
/// The record collections a backup carries.
pub const RECORD_KINDS: &[&str] = &[
    "identity",
    "token",
    "access_key",
    "policy",
    "approval",
    crate::identity::KIND_CERT_BINDING,
    crate::secrets::KIND_SECRET,
    crate::secrets::KIND_SECRET_VERSION,
    // The secrets engine's configuration (the test
    // `the_secrets_config_record_is_carried` checks the name).
    "secret-config",
];
/// Most secrets a drill reads back.
const MAX_SECRET_SAMPLES: usize = 50;
/// Most sample ciphertexts recorded in one backup.
const MAX_SAMPLES: usize = 50;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[derive(Serialize, Deserialize)]
struct Row {
    id: String,
    revision: u64,
    body: String,
}

#[derive(Serialize, Deserialize)]
struct VRow {
    key_id: String,
    version: u32,
    body: String,
    usage_reserved: u64,
}

#[derive(Serialize, Deserialize)]
struct RRow {
    kind: String,
    id: String,
    body: String,
}

#[derive(Serialize, Deserialize)]
struct Sample {
    key_id: String,
    ciphertext: String,
    plaintext_sha256: String,
}

/// The storage's seal metadata as stored (already wrapped or sealed), so an
/// empty storage can be restored offline (`strongroom backup restore`).
#[derive(Serialize, Deserialize)]
pub struct BackupHeader {
    pub seal_config: String,
    pub root_key: String,
    pub root_token: String,
    pub audit_key: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    /// SHA-256 (hex) of the version-2 header; empty in version-1 backups.
    #[serde(default)]
    header_sha256: String,
    created_at: Timestamp,
    audit_head: Option<(u64, String)>,
    keys: Vec<Row>,
    versions: Vec<VRow>,
    records: Vec<RRow>,
    samples: Vec<Sample>,
}

/// What a backup holds (for the caller; no secrets).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BackupSummary {
    pub created_at: Timestamp,
    pub keys: usize,
    pub versions: usize,
    pub records: usize,
    pub samples: usize,
}

/// A drill's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DrillReport {
    pub time: Timestamp,
    pub passed: bool,
    pub backup_created_at: Option<Timestamp>,
    pub keys_restored: usize,
    pub samples: usize,
    pub samples_decrypted: usize,
    /// Secrets in the backup, and how many of them the drill read back
    /// (the current version of up to 50, through the restored barrier).
    #[serde(default)]
    pub secrets_restored: usize,
    #[serde(default)]
    pub secrets_read: usize,
    /// Why it failed (empty when it passed).
    pub errors: Vec<String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Splits a backup into its header bytes (None for version 1) and the
/// sealed snapshot.
fn split(backup: &[u8]) -> Result<(Option<&[u8]>, &[u8])> {
    if let Some(body) = backup.strip_prefix(MAGIC) {
        return Ok((None, body));
    }
    let malformed =
        || Error::InvalidArgument("the backup is truncated or malformed: its header is cut".into());
    let Some(rest) = backup.strip_prefix(MAGIC2) else {
        return Err(Error::InvalidArgument(
            "not a Strongroom backup (it does not start with STRONGROOM-BACKUP-1 or -2)".into(),
        ));
    };
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > MAX_HEADER || len > rest.len() {
        return Err(malformed());
    }
    let (header, sealed) = rest.split_at(len);
    Ok((Some(header), sealed))
}

/// The header of a version-2 backup, not yet authenticated: the restore
/// needs the seal config and wrapped root key in it to get the root key,
/// then `open_snapshot` checks the header against the sealed snapshot.
pub fn read_header(backup: &[u8]) -> Result<BackupHeader> {
    match split(backup)? {
        (Some(h), _) => serde_json::from_slice(h)
            .map_err(|e| Error::InvalidArgument(format!("the backup header is malformed: {e}"))),
        (None, _) => Err(Error::InvalidArgument(
            "this is a version-1 backup, which does not carry the seal metadata; only `backup drill` can open it. Make a new backup with this version".into(),
        )),
    }
}

/// Opens a backup with `barrier` and checks that its header is the one the
/// sealed snapshot was made with.
pub fn open_snapshot(barrier: &Barrier, backup: &[u8]) -> Result<Snapshot> {
    let (header, body) = split(backup)?;
    let json = barrier.open(BACKUP_IDENTITY, body).map_err(|_| {
        Error::InvalidArgument(
            "the backup does not authenticate under this root key: it was modified, truncated, or made by another server".into(),
        )
    })?;
    let snap: Snapshot = serde_json::from_slice(json.expose())
        .map_err(|e| Error::InvalidArgument(format!("backup is malformed: {e}")))?;
    let want = header
        .map(|h| hex(digest(&SHA256, h).as_ref()))
        .unwrap_or_default();
    if !constant_time_eq(want.as_bytes(), snap.header_sha256.as_bytes()) {
        return Err(Error::InvalidArgument(
            "the backup header does not match the sealed snapshot: it was modified".into(),
        ));
    }
    Ok(snap)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Appends to `tx` the operations that write the snapshot's rows into an
/// empty storage, at their saved revisions.
pub fn restore_ops(snap: &Snapshot, mut tx: Transaction) -> Result<Transaction> {
    for k in &snap.keys {
        let body = unb64("a key", &k.body)?;
        tx = tx.push(Op::InsertKey {
            id: k.id.clone(),
            body: body.clone(),
        });
        // Storage numbers a new row revision 1; bring it to the saved one.
        for r in 1..k.revision {
            tx = tx.push(Op::UpdateKey {
                id: k.id.clone(),
                expected: r,
                body: body.clone(),
            });
        }
    }
    for v in &snap.versions {
        tx = tx.push(Op::InsertVersion {
            key_id: v.key_id.clone(),
            version: v.version,
            body: unb64("a version", &v.body)?,
        });
        if v.usage_reserved > 0 {
            tx = tx.push(Op::ReserveUsage {
                key_id: v.key_id.clone(),
                version: v.version,
                reserved: v.usage_reserved,
            });
        }
    }
    for r in &snap.records {
        tx = tx.push(Op::InsertRecord {
            kind: r.kind.clone(),
            id: r.id.clone(),
            body: unb64("a record", &r.body)?,
        });
    }
    Ok(tx)
}

impl Snapshot {
    /// (keys, versions, records) counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.keys.len(), self.versions.len(), self.records.len())
    }
}

fn unb64(what: &str, s: &str) -> Result<Vec<u8>> {
    b64()
        .decode(s)
        .map_err(|_| Error::InvalidArgument(format!("backup is malformed: {what} is not base64")))
}

impl Engine {
    /// Makes a backup: the sealed snapshot described in the module docs.
    /// `audit_head` is the audit log's (next index, head hash), if any.
    pub fn backup(&self, audit_head: Option<(u64, String)>) -> Result<(Vec<u8>, BackupSummary)> {
        let mut samples = Vec::new();
        let ids: Vec<String> = self
            .read()?
            .keys
            .values()
            .filter(|e| {
                e.meta.state == KeyState::Enabled
                    && e.meta.usage == crate::crypto::spec::KeyUsage::EncryptDecrypt
            })
            .map(|e| e.meta.id.clone())
            .collect();
        let ctx = EncryptionContext::default();
        for id in ids.into_iter().take(MAX_SAMPLES) {
            let mut pt = [0u8; 32];
            self.rng.fill(&mut pt)?;
            // Keys outside their dates cannot encrypt: no sample for them.
            if let Ok(out) = self.encrypt(&id, &pt, &ctx) {
                samples.push(Sample {
                    key_id: id,
                    ciphertext: b64().encode(&out.ciphertext),
                    plaintext_sha256: hex(digest(&SHA256, &pt).as_ref()),
                });
            }
        }
        // Rows are read after the samples, so every sample's key version is in them.
        let _w = self.lock_writes()?;
        let keys: Vec<Row> = self
            .store
            .load_keys()?
            .into_iter()
            .map(|k| Row {
                id: k.id,
                revision: k.revision,
                body: b64().encode(&k.body),
            })
            .collect();
        let mut all_versions = self.store.load_all_versions()?;
        all_versions.sort_by(|a, b| (&a.key_id, a.version).cmp(&(&b.key_id, b.version)));
        let versions: Vec<VRow> = all_versions
            .into_iter()
            .map(|v| VRow {
                key_id: v.key_id,
                version: v.version,
                body: b64().encode(&v.body),
                usage_reserved: v.usage_reserved,
            })
            .collect();
        let mut records = Vec::new();
        for kind in RECORD_KINDS {
            for r in self.store.load_records(kind)? {
                records.push(RRow {
                    kind: r.kind,
                    id: r.id,
                    body: b64().encode(&r.body),
                });
            }
        }
        drop(_w);
        let meta = |name: &str| -> Result<Vec<u8>> {
            self.store.get_meta(name)?.ok_or_else(|| {
                Error::Internal(format!("backup: seal metadata {name:?} is missing"))
            })
        };
        let header = BackupHeader {
            seal_config: b64().encode(meta(crate::seal::META_SEAL_CONFIG)?),
            root_key: b64().encode(meta(crate::seal::META_ROOT_KEY)?),
            root_token: b64().encode(meta(crate::seal::META_ROOT_TOKEN)?),
            audit_key: self
                .store
                .get_meta(crate::seal::META_AUDIT_KEY)?
                .map(|b| b64().encode(b)),
        };
        let header =
            serde_json::to_vec(&header).map_err(|e| Error::Internal(format!("backup: {e}")))?;
        let snap = Snapshot {
            header_sha256: hex(digest(&SHA256, &header).as_ref()),
            created_at: self.now(),
            audit_head,
            keys,
            versions,
            records,
            samples,
        };
        let summary = BackupSummary {
            created_at: snap.created_at,
            keys: snap.keys.len(),
            versions: snap.versions.len(),
            records: snap.records.len(),
            samples: snap.samples.len(),
        };
        let json =
            serde_json::to_vec(&snap).map_err(|e| Error::Internal(format!("backup: {e}")))?;
        let mut out = MAGIC2.to_vec();
        let len = u32::try_from(header.len())
            .map_err(|_| Error::Internal("backup header too long".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.barrier.seal(BACKUP_IDENTITY, &json)?);
        Ok((out, summary))
    }

    /// Restores `backup` into `scratch` (an empty store the caller made,
    /// in memory), decrypts its samples there, records the result and
    /// returns it. A backup that does not authenticate under this server's
    /// root key is a failed drill.
    pub fn drill(&self, backup: &[u8], scratch: Arc<dyn Store>) -> Result<DrillReport> {
        let mut report = DrillReport {
            time: self.now(),
            passed: false,
            backup_created_at: None,
            keys_restored: 0,
            samples: 0,
            samples_decrypted: 0,
            secrets_restored: 0,
            secrets_read: 0,
            errors: Vec::new(),
        };
        if let Err(e) = self.drill_into(backup, scratch, &mut report) {
            report.errors.push(e.to_string());
        }
        report.passed = report.errors.is_empty() && report.samples_decrypted == report.samples;
        let json =
            serde_json::to_vec(&report).map_err(|e| Error::Internal(format!("drill: {e}")))?;
        self.store.commit(Transaction::new().push(Op::PutMeta {
            name: META_LAST_DRILL.into(),
            value: self.barrier.seal(DRILL_IDENTITY, &json)?,
        }))?;
        Ok(report)
    }

    fn drill_into(
        &self,
        backup: &[u8],
        scratch: Arc<dyn Store>,
        report: &mut DrillReport,
    ) -> Result<()> {
        let snap = open_snapshot(&self.barrier, backup)?;
        report.backup_created_at = Some(snap.created_at);
        report.samples = snap.samples.len();
        let tx = restore_ops(&snap, Transaction::new())?;
        scratch.commit(tx)?;
        self.drill_secrets(scratch.clone(), report)?;
        let restored = Engine::load(
            scratch,
            self.barrier.clone(),
            self.clock.clone(),
            self.rng.clone(),
            self.cfg.clone(),
        )?;
        report.keys_restored = restored.read()?.keys.len();
        let ctx = EncryptionContext::default();
        for s in &snap.samples {
            let ct = unb64("a sample", &s.ciphertext)?;
            match restored.decrypt_opts(&ct, &ctx, Some(&s.key_id), true) {
                Ok(out)
                    if hex(digest(&SHA256, out.plaintext.expose()).as_ref())
                        == s.plaintext_sha256 =>
                {
                    report.samples_decrypted += 1;
                }
                Ok(_) => report.errors.push(format!(
                    "sample under key {} decrypted to different bytes",
                    s.key_id
                )),
                Err(e) => report.errors.push(format!(
                    "sample under key {} did not decrypt: {e}",
                    s.key_id
                )),
            }
        }
        Ok(())
    }

    /// Reads back the current version of up to [`MAX_SECRET_SAMPLES`]
    /// restored secrets (those that have a live one).
    fn drill_secrets(&self, scratch: Arc<dyn Store>, report: &mut DrillReport) -> Result<()> {
        let secrets =
            crate::secrets::Secrets::new(scratch, self.barrier.clone(), self.clock.clone());
        let all = secrets.all()?;
        report.secrets_restored = all.len();
        for m in all.iter().take(MAX_SECRET_SAMPLES) {
            let live = m
                .versions
                .get(&m.current_version)
                .is_some_and(|v| !v.destroyed && v.deletion_ms.is_none());
            if !live {
                continue;
            }
            match secrets.get(&m.path, None) {
                Ok(_) => report.secrets_read += 1,
                Err(e) => report
                    .errors
                    .push(format!("secret {} did not read back: {e}", m.path)),
            }
        }
        Ok(())
    }

    /// The last recorded drill, if any.
    pub fn last_drill(&self) -> Result<Option<DrillReport>> {
        let Some(sealed) = self.store.get_meta(META_LAST_DRILL)? else {
            return Ok(None);
        };
        let json = self.barrier.open(DRILL_IDENTITY, &sealed)?;
        Ok(serde_json::from_slice(json.expose()).ok())
    }
}

#[cfg(test)]
mod record_kinds_tests {
    #[test]
    fn the_secrets_config_record_is_carried() {
        assert!(super::RECORD_KINDS.contains(&crate::secrets::config::KIND_SECRET_CONFIG));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::{ManualClock, SharedClock};
    use crate::crypto::rng::SystemRng;
    use crate::keys::engine::{CreateKey, EngineConfig};
    use crate::testing::TestSeal as Seal;
    use strongroom_store_sql::sqlite::SqliteStore;

    fn scratch() -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(":memory:").expect("scratch store"))
    }
    use crate::storage::Store;

    fn seal() -> Seal {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("open"));
        let c: SharedClock = Arc::new(ManualClock::new(1_700_000_000));
        let s = Seal::open(store, c, Arc::new(SystemRng), EngineConfig::default()).expect("seal");
        s.init_dev(None).expect("dev");
        s
    }

    #[test]
    fn backup_then_drill_passes_and_is_recorded() {
        let s = seal();
        let e = s.engine().expect("engine");
        let a = e.create(CreateKey::default()).expect("create");
        e.rotate(&a.id).expect("rotate"); // revision > 1, two versions
        e.create(CreateKey::default()).expect("create");
        e.create(CreateKey {
            spec: Some("ECC_NIST_P256".into()),
            ..Default::default()
        })
        .expect("create");
        assert_eq!(e.last_drill().expect("read"), None);
        let (blob, sum) = e.backup(None).expect("backup");
        assert_eq!((sum.keys, sum.versions, sum.samples), (3, 4, 2));
        let r = e.drill(&blob, scratch()).expect("drill");
        assert!(r.passed, "{r:?}");
        assert_eq!((r.keys_restored, r.samples_decrypted), (3, 2));
        assert_eq!(e.last_drill().expect("read"), Some(r));
    }

    #[test]
    fn backups_carry_secrets_and_the_drill_reads_them_back() {
        let s = seal();
        let e = s.engine().expect("engine");
        e.create(CreateKey::default()).expect("create");
        let secrets =
            crate::secrets::Secrets::new(e.store.clone(), e.barrier.clone(), e.clock.clone());
        let mut f = crate::secrets::SecretFields::new();
        f.insert("password".into(), "drill-canary".into());
        secrets.put("app/db", &f, None).expect("put");
        secrets.put("app/db", &f, None).expect("put v2");
        secrets.put("app/gone", &f, None).expect("put");
        secrets.delete_versions("app/gone", &[]).expect("delete");
        let (blob, sum) = e.backup(None).expect("backup");
        assert!(sum.records >= 5, "{sum:?}");
        let scratch = scratch();
        let r = e.drill(&blob, scratch.clone()).expect("drill");
        assert!(r.passed, "{r:?}");
        assert_eq!((r.secrets_restored, r.secrets_read), (2, 1));
        let restored = crate::secrets::Secrets::new(scratch, e.barrier.clone(), e.clock.clone());
        assert_eq!(
            restored
                .get("app/db", Some(1))
                .expect("v1")
                .0
                .get("password"),
            Some("drill-canary")
        );
    }

    #[test]
    fn a_tampered_or_foreign_backup_fails_the_drill_clearly() {
        let s = seal();
        let e = s.engine().expect("engine");
        e.create(CreateKey::default()).expect("create");
        let (blob, _) = e.backup(None).expect("backup");
        let mut bad = blob.clone();
        let n = bad.len();
        bad[n - 40] ^= 1;
        let r = e.drill(&bad, scratch()).expect("drill runs");
        assert!(!r.passed);
        assert!(r.errors[0].contains("does not authenticate"), "{r:?}");
        assert_eq!(e.last_drill().expect("read").map(|d| d.passed), Some(false));
        let r = e.drill(&blob[..n - 1], scratch()).expect("drill runs");
        assert!(!r.passed);
        let r = e.drill(b"hello", scratch()).expect("drill runs");
        assert!(r.errors[0].contains("not a Strongroom backup"));
        // Another server's root key cannot open it.
        let other = seal();
        let r = other
            .engine()
            .expect("engine")
            .drill(&blob, scratch())
            .expect("drill runs");
        assert!(!r.passed && r.errors[0].contains("does not authenticate"));
    }

    #[test]
    fn the_header_is_bound_to_the_sealed_snapshot() {
        let s = seal();
        let e = s.engine().expect("engine");
        e.create(CreateKey::default()).expect("create");
        let (blob, _) = e.backup(None).expect("backup");
        assert!(blob.starts_with(super::MAGIC2));
        let h = super::read_header(&blob).expect("header");
        assert!(!h.root_key.is_empty() && !h.seal_config.is_empty());
        // Swap in a different (well-formed) header: the snapshot still
        // authenticates, but the binding check refuses it.
        let (header, sealed) = super::split(&blob).expect("split");
        let mut other: super::BackupHeader =
            serde_json::from_slice(header.expect("v2")).expect("json");
        other.audit_key = None;
        let other = serde_json::to_vec(&other).expect("json");
        let mut forged = super::MAGIC2.to_vec();
        forged.extend_from_slice(&(other.len() as u32).to_be_bytes());
        forged.extend_from_slice(&other);
        forged.extend_from_slice(sealed);
        let r = e.drill(&forged, scratch()).expect("drill runs");
        assert!(!r.passed);
        assert!(r.errors[0].contains("header does not match"), "{r:?}");
        // A cut header is malformed, not a panic.
        let r = e
            .drill(&blob[..super::MAGIC2.len() + 6], scratch())
            .expect("drill runs");
        assert!(!r.passed && r.errors[0].contains("truncated"), "{r:?}");
        assert!(e.drill(&blob, scratch()).expect("drill").passed);
    }
}
