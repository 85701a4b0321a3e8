//! The key engine: every key operation. Metadata and loaded key material
//! live in memory (the hot path never reads storage); every change is
//! committed durably to storage before memory is updated and the caller is
//! told it happened.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde::Serialize;
use uuid::Uuid;

use super::ciphertext::{self, Algorithm, Header};
use super::model::{KeyMeta, Origin, RotationType, StoredVersion, VersionMeta};
use super::state::{check, KeyState, Operation, VersionState};
use crate::clock::{SharedClock, Timestamp, DAY};
use crate::crypto::context::EncryptionContext;
use crate::crypto::material::{self, CryptoError, EcdsaEncoding, LoadedKey};
use crate::crypto::rng::SharedRng;
use crate::crypto::spec::{KeySpec, KeyUsage, MessageType, SigningAlgorithm};
use crate::crypto::SecretBytes;
use crate::error::{Error, Result};
use crate::seal::barrier::{key_identity, version_identity, Barrier};
use crate::storage::{Op, Store, Transaction};

/// Limits that tests shrink.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// At this many encryptions the primary AES-GCM version is rotated automatically.
    pub rotate_at_usage: u64,
    /// Past this many encryptions a version refuses to encrypt (well below 2^32).
    pub max_usage: u64,
    /// Usage reservations are persisted in blocks of this size.
    pub usage_block: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            rotate_at_usage: 1 << 31,
            max_usage: (1u64 << 32) - (1 << 24),
            usage_block: 1 << 16,
        }
    }
}

/// One version in memory: its material (none once destroyed) and its
/// usage counter. Material read from storage stays sealed in memory until
/// the version is first used; it is then opened once and kept (no storage
/// read either way).
struct VersionEntry {
    sealed: Option<Box<[u8]>>,
    loaded: OnceLock<Arc<LoadedKey>>,
    used: AtomicU64,
    reserved: AtomicU64,
    reserve_lock: Mutex<()>,
    stats: lifecycle::UseStats,
}

/// Whether a stored version row still carries material (not destroyed).
fn holds_material(meta: &KeyMeta, v: &crate::storage::VersionRecord) -> bool {
    meta.version(v.version).map(|m| m.state) != Some(VersionState::Destroyed) && !v.body.is_empty()
}

impl VersionEntry {
    /// A version as storage holds it: sealed until first use, no material
    /// if destroyed.
    fn stored(meta: &KeyMeta, v: crate::storage::VersionRecord) -> VersionEntry {
        VersionEntry {
            sealed: holds_material(meta, &v).then(|| v.body.into_boxed_slice()),
            loaded: OnceLock::new(),
            // Everything reserved counts as used: a crash never lets a
            // counter go backwards.
            used: AtomicU64::new(v.usage_reserved),
            reserved: AtomicU64::new(v.usage_reserved),
            reserve_lock: Mutex::new(()),
            stats: Default::default(),
        }
    }

    /// A version whose material is gone.
    fn empty() -> VersionEntry {
        VersionEntry {
            sealed: None,
            loaded: OnceLock::new(),
            used: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
            reserve_lock: Mutex::new(()),
            stats: Default::default(),
        }
    }

    fn has_material(&self) -> bool {
        self.sealed.is_some() || self.loaded.get().is_some()
    }
}

struct KeyEntry {
    seq: u64,
    meta: KeyMeta,
    versions: HashMap<u32, Arc<VersionEntry>>,
    uuid: Uuid,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<Uuid, Arc<KeyEntry>>,
    aliases: HashMap<String, Uuid>,
    order: BTreeMap<u64, Uuid>,
    next_seq: u64,
    /// Keys by state, owner, tag, next rotation and expiry (`index.rs`).
    index: index::Index,
}

pub struct Engine {
    store: Arc<dyn Store>,
    barrier: Arc<Barrier>,
    clock: SharedClock,
    rng: SharedRng,
    cfg: EngineConfig,
    inner: RwLock<Inner>,
    /// Serializes changes on this node; storage revisions guard across nodes.
    write: Mutex<()>,
    auto_rotating: AtomicBool,
    /// Outstanding BYOK import parameters (wrapping keys), by import token.
    imports: import::PendingImports,
}

/// A resolved key as it is in memory now (see [`Engine::handle`]). The
/// gate resolves a request's key once and hands the handle to the
/// operation (`*_resolved`), which checks the state table itself.
pub struct KeyHandle(Arc<KeyEntry>);

impl Clone for KeyHandle {
    /// Another reference to the same in-memory key (no copy of anything).
    fn clone(&self) -> Self {
        KeyHandle(Arc::clone(&self.0))
    }
}

impl KeyHandle {
    pub fn meta(&self) -> &KeyMeta {
        &self.0.meta
    }
}

/// Input for key creation.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[serde(default)]
    pub spec: Option<String>,
    #[serde(default)]
    pub usage: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Unix seconds; before it the key is pre-active (usable for nothing).
    #[serde(default)]
    pub activation_date: Option<Timestamp>,
    /// Unix seconds; from it on the key is deactivated (decrypt/verify only).
    #[serde(default)]
    pub expiry_date: Option<Timestamp>,
    /// Automatic rotation period in days (1–3650); 0 or absent: none. The
    /// native API fills in the server default when absent.
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
}

/// Input for metadata updates; absent fields are unchanged.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    pub description: Option<String>,
    pub owner: Option<String>,
    pub purpose: Option<String>,
    #[serde(default)]
    pub set_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    /// Absent: unchanged; `null`: removed; a number: set (Unix seconds).
    #[serde(default, deserialize_with = "lifecycle::some_or_null")]
    pub activation_date: Option<Option<Timestamp>>,
    /// Absent: unchanged; `null`: removed; a number: set (Unix seconds).
    #[serde(default, deserialize_with = "lifecycle::some_or_null")]
    pub expiry_date: Option<Option<Timestamp>>,
}

/// Filters for listing.
#[derive(Debug, Default, Clone)]
pub struct KeyFilter {
    pub alias: Option<String>,
    pub owner: Option<String>,
    pub state: Option<KeyState>,
    pub tag: Option<(String, String)>,
}

#[derive(Debug, Serialize)]
pub struct EncryptOutput {
    pub ciphertext: Vec<u8>,
    pub key_id: String,
    pub version: u32,
}

pub struct DecryptOutput {
    pub plaintext: SecretBytes,
    pub key_id: String,
    pub version: u32,
}

pub struct DataKey {
    pub plaintext: Option<SecretBytes>,
    pub ciphertext: Vec<u8>,
    pub key_id: String,
    pub version: u32,
}

pub struct PublicKey {
    pub der: Vec<u8>,
    pub key_id: String,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub signing_algorithms: Vec<SigningAlgorithm>,
}

pub const MAX_PLAINTEXT: usize = 4096;
pub const MAX_CONTEXT_ENTRIES: usize = 64;
pub const MAX_CONTEXT_BYTES: usize = 8192;

fn crypto_err(e: CryptoError) -> Error {
    match e {
        CryptoError::Failed => Error::InvalidCiphertext,
        CryptoError::BadDigestLength { expected } => Error::InvalidArgument(format!(
            "message_type DIGEST needs a digest of exactly {expected} bytes for this algorithm"
        )),
        CryptoError::Unsupported => {
            Error::InvalidKeyUsage("this operation is not supported for this key spec".into())
        }
        CryptoError::PlaintextTooLong { max } => Error::InvalidArgument(format!(
            "plaintext too long for RSA-OAEP with this key: at most {max} bytes; use a data key for larger data"
        )),
        CryptoError::BadCiphertextLength { expected } => Error::InvalidArgument(format!(
            "the ciphertext has the wrong length for this key: exactly {expected} bytes are needed"
        )),
    }
}

/// Alias names: `alias/` then 1–250 of `[A-Za-z0-9/_-]`, no `..`, no
/// leading/trailing `/`. Matching is exact and case-sensitive.
pub fn validate_alias(alias: &str) -> Result<()> {
    let bad = || {
        Error::InvalidArgument(format!(
            "invalid alias {alias:?}: use `alias/` followed by 1-250 characters from A-Z a-z 0-9 / _ - (no `..`, no leading or trailing `/`)"
        ))
    };
    let name = alias.strip_prefix("alias/").ok_or_else(bad)?;
    if name.is_empty()
        || name.len() > 250
        || name.contains("..")
        || name.contains("//")
        || name.starts_with('/')
        || name.ends_with('/')
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-')
    {
        return Err(bad());
    }
    if name.starts_with("aws/") {
        return Err(Error::InvalidArgument(format!(
            "invalid alias {alias:?}: the alias/aws/ prefix is reserved"
        )));
    }
    Ok(())
}

fn validate_context(ctx: &EncryptionContext) -> Result<()> {
    if ctx.len() > MAX_CONTEXT_ENTRIES {
        return Err(Error::InvalidArgument(format!(
            "encryption context has {} entries; at most {MAX_CONTEXT_ENTRIES} are allowed",
            ctx.len()
        )));
    }
    let total: usize = ctx.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_CONTEXT_BYTES {
        return Err(Error::InvalidArgument(format!(
            "encryption context is {total} bytes; at most {MAX_CONTEXT_BYTES} are allowed"
        )));
    }
    Ok(())
}

fn validate_text(field: &str, v: &str, max: usize) -> Result<()> {
    if v.len() > max {
        return Err(Error::InvalidArgument(format!(
            "{field} is {} bytes; at most {max} are allowed",
            v.len()
        )));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidArgument(format!(
            "{field} contains control characters; remove them"
        )));
    }
    Ok(())
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > 50 {
        return Err(Error::InvalidArgument("at most 50 tags are allowed".into()));
    }
    for (k, v) in tags {
        if k.is_empty() {
            return Err(Error::InvalidArgument("tag keys must not be empty".into()));
        }
        validate_text("tag key", k, 128)?;
        validate_text("tag value", v, 256)?;
    }
    Ok(())
}

impl Engine {
    /// Builds the engine from storage: loads and opens every key record.
    pub fn load(
        store: Arc<dyn Store>,
        barrier: Arc<Barrier>,
        clock: SharedClock,
        rng: SharedRng,
        cfg: EngineConfig,
    ) -> Result<Self> {
        let t0 = std::time::Instant::now();
        let all_versions = store.load_all_versions()?;
        let t_versions = t0.elapsed().as_millis();
        let mut versions: HashMap<Uuid, Vec<crate::storage::VersionRecord>> = HashMap::new();
        for v in all_versions {
            if let Ok(u) = Uuid::try_parse(&v.key_id) {
                versions.entry(u).or_default().push(v);
            }
        }
        let t_grouped = t0.elapsed().as_millis();
        let records = store.load_keys()?;
        let t_records = t0.elapsed().as_millis();
        let metas = Self::open_metas(&barrier, records, &versions)?;
        let t_opened = t0.elapsed().as_millis();
        let mut inner = Inner::default();
        inner.keys.reserve(metas.len());
        for (uuid, meta) in metas {
            let mut ventries = HashMap::new();
            for v in versions.remove(&uuid).unwrap_or_default() {
                ventries.insert(v.version, Arc::new(VersionEntry::stored(&meta, v)));
            }
            inner.next_seq += 1;
            let seq = inner.next_seq;
            for a in &meta.aliases {
                inner.aliases.insert(a.clone(), uuid);
            }
            inner.order.insert(seq, uuid);
            inner.install(Arc::new(KeyEntry {
                seq,
                meta,
                versions: ventries,
                uuid,
            }));
        }
        tracing::info!(
            read_versions_ms = t_versions,
            grouped_ms = t_grouped,
            read_keys_ms = t_records,
            opened_ms = t_opened,
            indexed_ms = t0.elapsed().as_millis(),
            "engine loaded"
        );
        Ok(Self {
            store,
            barrier,
            clock,
            rng,
            cfg,
            inner: RwLock::new(inner),
            write: Mutex::new(()),
            auto_rotating: AtomicBool::new(false),
            imports: import::PendingImports::default(),
        })
    }

    /// Number of keys in memory (destroyed tombstones included).
    pub fn key_count(&self) -> usize {
        self.read().map(|i| i.keys.len()).unwrap_or(0)
    }

    /// Opens and checks every key record, and checks every version record
    /// (integrity and ownership; a tampered store keeps the server sealed),
    /// on all cores: a large store is opened at every unseal. Version
    /// material itself is kept sealed until first use. Keeps the records'
    /// order.
    fn open_metas(
        barrier: &Barrier,
        recs: Vec<crate::storage::KeyRecord>,
        versions: &HashMap<Uuid, Vec<crate::storage::VersionRecord>>,
    ) -> Result<Vec<(Uuid, KeyMeta)>> {
        let open_one = |rec: &crate::storage::KeyRecord| -> Result<(Uuid, KeyMeta)> {
            let meta = Self::open_meta(barrier, rec)?;
            let uuid = Uuid::parse_str(&meta.id)
                .map_err(|_| Error::Internal(format!("key record {} has a bad id", rec.id)))?;
            for v in versions.get(&uuid).map(Vec::as_slice).unwrap_or_default() {
                if holds_material(&meta, v) {
                    Self::open_stored(barrier, &meta, v.version, &v.body)?;
                }
            }
            Ok((uuid, meta))
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if recs.len() < 4096 || threads < 2 {
            return recs.iter().map(open_one).collect();
        }
        let chunk = recs.len().div_ceil(threads);
        let parts: Vec<Result<Vec<(Uuid, KeyMeta)>>> = std::thread::scope(|s| {
            let handles: Vec<_> = recs
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().map(open_one).collect()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Internal("key loading thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(recs.len());
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }

    /// Opens one sealed key record and checks that it is the row's key at
    /// the row's revision.
    fn open_meta(barrier: &Barrier, rec: &crate::storage::KeyRecord) -> Result<KeyMeta> {
        let body = barrier.open(&key_identity(&rec.id), &rec.body)?;
        let meta: KeyMeta = serde_json::from_slice(body.expose())
            .map_err(|e| Error::Internal(format!("key record {} unreadable: {e}", rec.id)))?;
        if meta.id != rec.id || meta.revision != rec.revision {
            return Err(Error::Internal(format!(
                "key record {} does not match its row",
                rec.id
            )));
        }
        Ok(meta)
    }

    /// Opens one sealed version record and checks that it belongs to this
    /// key and version.
    fn open_stored(
        barrier: &Barrier,
        meta: &KeyMeta,
        version: u32,
        sealed: &[u8],
    ) -> Result<StoredVersion> {
        let body = barrier.open(&version_identity(&meta.id, version), sealed)?;
        let sv: StoredVersion = serde_json::from_slice(body.expose()).map_err(|e| {
            Error::Internal(format!(
                "version record {}/{} unreadable: {e}",
                meta.id, version
            ))
        })?;
        if sv.key_id != meta.id || sv.version != version {
            return Err(Error::Internal(format!(
                "version record {}/{} does not match its row",
                meta.id, version
            )));
        }
        Ok(sv)
    }

    /// Opens one sealed version record into usable key material.
    fn open_version(
        barrier: &Barrier,
        meta: &KeyMeta,
        version: u32,
        sealed: &[u8],
    ) -> Result<LoadedKey> {
        let sv = Self::open_stored(barrier, meta, version, sealed)?;
        let material = SecretBytes::from_slice(&sv.material);
        LoadedKey::load(meta.spec, &material).map_err(|_| {
            Error::Internal(format!(
                "version {}/{} material unreadable",
                meta.id, version
            ))
        })
    }

    /// The usable material of a version, opened on its first use; `None`
    /// once destroyed.
    fn material(
        &self,
        meta: &KeyMeta,
        version: u32,
        ve: &VersionEntry,
    ) -> Result<Option<Arc<LoadedKey>>> {
        if let Some(k) = ve.loaded.get() {
            return Ok(Some(k.clone()));
        }
        let Some(sealed) = &ve.sealed else {
            return Ok(None);
        };
        let k = Arc::new(Self::open_version(&self.barrier, meta, version, sealed)?);
        Ok(Some(ve.loaded.get_or_init(|| k).clone()))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Inner>> {
        self.inner
            .read()
            .map_err(|_| Error::Internal("engine lock poisoned".into()))
    }

    fn write_inner(&self) -> Result<std::sync::RwLockWriteGuard<'_, Inner>> {
        self.inner
            .write()
            .map_err(|_| Error::Internal("engine lock poisoned".into()))
    }

    fn lock_writes(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.write
            .lock()
            .map_err(|_| Error::Internal("engine write lock poisoned".into()))
    }

    /// Resolves a key id (UUID), `alias/name`, or a key/alias ARN.
    fn resolve(&self, key_ref: &str) -> Result<Arc<KeyEntry>> {
        let inner = self.read()?;
        let r = match key_ref.strip_prefix("arn:") {
            // arn:PARTITION:kms:REGION:ACCOUNT:key/ID or …:alias/NAME
            Some(rest) => {
                let parts: Vec<&str> = rest.splitn(5, ':').collect();
                match parts.as_slice() {
                    [_, "kms", _, _, res] => match res.strip_prefix("key/") {
                        Some(id) => id,
                        None if res.starts_with("alias/") => res,
                        None => return Err(Error::KeyNotFound(key_ref.to_string())),
                    },
                    _ => return Err(Error::KeyNotFound(key_ref.to_string())),
                }
            }
            None => key_ref,
        };
        if r.starts_with("alias/") {
            let id = inner
                .aliases
                .get(r)
                .ok_or_else(|| Error::AliasNotFound(r.to_string()))?;
            return inner
                .keys
                .get(id)
                .cloned()
                .ok_or_else(|| Error::KeyNotFound(r.to_string()));
        }
        let uuid = Uuid::try_parse(r).map_err(|_| {
            Error::InvalidArgument(format!(
                "{key_ref:?} is not a key id (UUID), `alias/NAME`, or key ARN"
            ))
        })?;
        // Only the canonical hyphenated lower-case form names a key.
        if uuid.hyphenated().to_string() != r {
            return Err(Error::KeyNotFound(key_ref.to_string()));
        }
        inner
            .keys
            .get(&uuid)
            .cloned()
            .ok_or_else(|| Error::KeyNotFound(key_ref.to_string()))
    }

    fn resolve_checked(&self, key_ref: &str, op: Operation) -> Result<Arc<KeyEntry>> {
        let e = self.resolve(key_ref)?;
        check(e.meta.state, op, &e.meta.id)?;
        Self::check_dates(&e.meta, op, self.now())?;
        Ok(e)
    }

    fn require_usage(e: &KeyEntry, usage: KeyUsage, what: &str) -> Result<()> {
        if e.meta.usage != usage {
            return Err(Error::InvalidKeyUsage(format!(
                "key {} has usage {} and spec {}; {what} needs a key with usage {}",
                e.meta.id,
                e.meta.usage.name(),
                e.meta.spec.name(),
                usage.name()
            )));
        }
        Ok(())
    }

    // ---------- reads ----------

    /// The key `key_ref` names, shared with the engine (no copy): what the
    /// request guard needs on every request.
    pub fn handle(&self, key_ref: &str) -> Result<KeyHandle> {
        Ok(KeyHandle(
            self.resolve_checked(key_ref, Operation::Describe)?,
        ))
    }

    pub fn describe(&self, key_ref: &str) -> Result<KeyMeta> {
        Ok(self
            .resolve_checked(key_ref, Operation::Describe)?
            .meta
            .clone())
    }

    /// One page of keys in creation order; the cursor is opaque to clients.
    /// Filters walk an index (`list_bounded`), not every key.
    pub fn list(
        &self,
        filter: &KeyFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<KeyMeta>, Option<String>)> {
        let page = self.list_bounded(filter, limit, cursor, usize::MAX)?;
        Ok((page.keys, page.next))
    }

    pub fn list_aliases(&self) -> Result<Vec<(String, String)>> {
        let inner = self.read()?;
        let mut v: Vec<(String, String)> = inner
            .aliases
            .iter()
            .map(|(a, id)| (a.clone(), id.hyphenated().to_string()))
            .collect();
        v.sort();
        Ok(v)
    }

    // ---------- writes ----------

    /// Creates a key with its first version; durable before it returns.
    pub fn create(&self, req: CreateKey) -> Result<KeyMeta> {
        let spec = match req.spec.as_deref() {
            None => KeySpec::Aes256Gcm,
            Some(s) => KeySpec::parse(s).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown key spec {s:?}; use one of: {}",
                    crate::crypto::spec::ALL_SPECS.map(|k| k.name()).join(", ")
                ))
            })?,
        };
        let usage = match req.usage.as_deref() {
            None => spec.allowed_usages()[0],
            Some(u) => KeyUsage::parse(u).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown key usage {u:?}; use ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC or ENCAPSULATE_DECAPSULATE"
                ))
            })?,
        };
        if !spec.allowed_usages().contains(&usage) {
            return Err(Error::InvalidArgument(format!(
                "key spec {} cannot have usage {}; allowed: {}",
                spec.name(),
                usage.name(),
                spec.allowed_usages()
                    .iter()
                    .map(|u| u.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        validate_text("description", &req.description, 8192)?;
        validate_text("owner", &req.owner, 256)?;
        validate_text("purpose", &req.purpose, 1024)?;
        validate_tags(&req.tags)?;
        for a in &req.aliases {
            validate_alias(a)?;
        }
        lifecycle::validate_dates(req.activation_date, req.expiry_date)?;
        let rotation_period_days = schedule::creation_period(req.rotation_period_days)?;
        let mut idb = [0u8; 16];
        self.rng.fill(&mut idb)?;
        let uuid = uuid::Builder::from_random_bytes(idb).into_uuid();
        let id = uuid.hyphenated().to_string();
        let material = material::generate(spec, self.rng.as_ref())
            .map_err(|_| Error::Internal("key generation failed".into()))?;
        let loaded = LoadedKey::load(spec, &material)
            .map_err(|_| Error::Internal("generated key did not load".into()))?;
        let now = self.now();
        let meta = KeyMeta {
            id: id.clone(),
            aliases: req.aliases.clone(),
            description: req.description,
            owner: req.owner,
            purpose: req.purpose,
            tags: req.tags,
            usage,
            spec,
            origin: Origin::Generated,
            state: KeyState::Enabled,
            created_at: now,
            rotated_at: None,
            primary_version: 1,
            min_decryption_version: 1,
            deletion_date: None,
            destroyed_at: None,
            versions: vec![VersionMeta {
                version: 1,
                state: VersionState::Enabled,
                created_at: now,
                destroyed_at: None,
                rotation_type: None,
            }],
            revision: 1,
            activation_date: req.activation_date,
            expiry_date: req.expiry_date,
            compromises: Vec::new(),
            rotation_period_days,
            next_rotation_at: rotation_period_days.map(|d| now + i64::from(d) * DAY),
            import_check: None,
        };
        // Only aliases need the write lock (their uniqueness is checked here,
        // not by the store); creates without aliases commit concurrently, so
        // the store can group their commits.
        let _w = if meta.aliases.is_empty() {
            None
        } else {
            Some(self.lock_writes()?)
        };
        {
            let inner = self.read()?;
            let mut seen = std::collections::HashSet::new();
            for a in &req.aliases {
                if inner.aliases.contains_key(a) || !seen.insert(a) {
                    return Err(Error::AliasExists(a.clone()));
                }
            }
        }
        let tx = Transaction::new()
            .push(Op::InsertKey {
                id: id.clone(),
                body: self.seal_meta(&meta)?,
            })
            .push(Op::InsertVersion {
                key_id: id.clone(),
                version: 1,
                body: self.seal_version(&id, 1, &material)?,
            });
        self.store.commit(tx)?;
        let mut inner = self.write_inner()?;
        inner.next_seq += 1;
        let seq = inner.next_seq;
        for a in &meta.aliases {
            inner.aliases.insert(a.clone(), uuid);
        }
        inner.order.insert(seq, uuid);
        let mut versions = HashMap::new();
        versions.insert(1, Arc::new(Self::fresh_version(loaded)));
        inner.install(Arc::new(KeyEntry {
            seq,
            meta: meta.clone(),
            versions,
            uuid,
        }));
        Ok(meta)
    }

    fn fresh_version(loaded: LoadedKey) -> VersionEntry {
        VersionEntry {
            sealed: None,
            loaded: OnceLock::from(Arc::new(loaded)),
            used: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
            reserve_lock: Mutex::new(()),
            stats: Default::default(),
        }
    }

    fn seal_meta(&self, meta: &KeyMeta) -> Result<Vec<u8>> {
        let json =
            serde_json::to_vec(meta).map_err(|e| Error::Internal(format!("serialize key: {e}")))?;
        self.barrier.seal(&key_identity(&meta.id), &json)
    }

    fn seal_version(&self, id: &str, version: u32, material: &SecretBytes) -> Result<Vec<u8>> {
        let sv = StoredVersion {
            key_id: id.to_string(),
            version,
            material: material.expose().to_vec(),
        };
        let json = SecretBytes::new(
            serde_json::to_vec(&sv).map_err(|e| Error::Internal(format!("serialize: {e}")))?,
        );
        self.barrier
            .seal(&version_identity(id, version), json.expose())
    }

    /// Applies `f` to a copy of the key's metadata, commits it (plus any
    /// extra ops) with a revision check, then installs it in memory.
    fn mutate<F>(&self, key_ref: &str, op: Operation, f: F) -> Result<KeyMeta>
    where
        F: FnOnce(&mut KeyMeta, &KeyEntry) -> Result<MutateExtra>,
    {
        let _w = self.lock_writes()?;
        let entry = self.resolve_checked(key_ref, op)?;
        let mut meta = entry.meta.clone();
        let extra = f(&mut meta, &entry)?;
        let old_rev = meta.revision;
        meta.revision = old_rev + 1;
        let mut tx = Transaction::new().push(Op::UpdateKey {
            id: meta.id.clone(),
            expected: old_rev,
            body: self.seal_meta(&meta)?,
        });
        for o in extra.ops {
            tx = tx.push(o);
        }
        self.store.commit(tx)?;
        let mut versions = entry.versions.clone();
        for (v, ve) in extra.new_versions {
            versions.insert(v, ve);
        }
        for v in extra.drop_material {
            versions.insert(v, Arc::new(VersionEntry::empty()));
        }
        let mut inner = self.write_inner()?;
        for a in &entry.meta.aliases {
            if !meta.aliases.contains(a) {
                inner.aliases.remove(a);
            }
        }
        for a in &meta.aliases {
            inner.aliases.insert(a.clone(), entry.uuid);
        }
        inner.install(Arc::new(KeyEntry {
            seq: entry.seq,
            meta: meta.clone(),
            versions,
            uuid: entry.uuid,
        }));
        Ok(meta)
    }

    pub fn update(&self, key_ref: &str, req: UpdateKey) -> Result<KeyMeta> {
        if let Some(d) = &req.description {
            validate_text("description", d, 8192)?;
        }
        if let Some(o) = &req.owner {
            validate_text("owner", o, 256)?;
        }
        if let Some(p) = &req.purpose {
            validate_text("purpose", p, 1024)?;
        }
        validate_tags(&req.set_tags)?;
        self.mutate(key_ref, Operation::UpdateMetadata, |m, _| {
            if let Some(d) = req.description {
                m.description = d;
            }
            if let Some(o) = req.owner {
                m.owner = o;
            }
            if let Some(p) = req.purpose {
                m.purpose = p;
            }
            for k in &req.remove_tags {
                m.tags.remove(k);
            }
            m.tags.extend(req.set_tags);
            validate_tags(&m.tags)?;
            lifecycle::apply_dates(m, req.activation_date, req.expiry_date)?;
            Ok(MutateExtra::default())
        })
    }

    pub fn create_alias(&self, alias: &str, key_ref: &str) -> Result<KeyMeta> {
        validate_alias(alias)?;
        if key_ref.starts_with("alias/") {
            return Err(Error::InvalidArgument(
                "an alias must point at a key id, not at another alias".into(),
            ));
        }
        self.mutate(key_ref, Operation::ManageAliases, |m, _| {
            // Checked under the write lock, so two callers cannot both win.
            if self.read()?.aliases.contains_key(alias) {
                return Err(Error::AliasExists(alias.to_string()));
            }
            m.aliases.push(alias.to_string());
            Ok(MutateExtra::default())
        })
    }

    pub fn delete_alias(&self, alias: &str) -> Result<KeyMeta> {
        validate_alias(alias)?;
        let id = self
            .read()?
            .aliases
            .get(alias)
            .map(|u| u.hyphenated().to_string())
            .ok_or_else(|| Error::AliasNotFound(alias.to_string()))?;
        self.mutate(&id, Operation::ManageAliases, |m, _| {
            m.aliases.retain(|a| a != alias);
            Ok(MutateExtra::default())
        })
    }

    /// Adds a new primary version. Older versions stay able to decrypt/verify.
    pub fn rotate(&self, key_ref: &str) -> Result<KeyMeta> {
        self.rotate_as(key_ref, RotationType::OnDemand)
    }

    /// `rotate`, recording how the rotation was triggered.
    pub fn rotate_as(&self, key_ref: &str, kind: RotationType) -> Result<KeyMeta> {
        let now = self.now();
        self.mutate(key_ref, Operation::Rotate, |m, _| {
            self.rotation_step(m, kind, now)
        })
    }

    /// The change `rotate_as` makes: a fresh primary version, and the next
    /// scheduled rotation moved one period on. Also used by the scheduler.
    fn rotation_step(
        &self,
        m: &mut KeyMeta,
        kind: RotationType,
        now: Timestamp,
    ) -> Result<MutateExtra> {
        {
            if m.origin == Origin::External {
                return Err(Error::InvalidKeyUsage(format!(
                    "key {} has imported key material; Strongroom cannot generate new material for it",
                    m.id
                )));
            }
            let next = m.latest_version() + 1;
            let material = material::generate(m.spec, self.rng.as_ref())
                .map_err(|_| Error::Internal("key generation failed".into()))?;
            let loaded = LoadedKey::load(m.spec, &material)
                .map_err(|_| Error::Internal("generated key did not load".into()))?;
            let body = self.seal_version(&m.id, next, &material)?;
            m.versions.push(VersionMeta {
                version: next,
                state: VersionState::Enabled,
                created_at: now,
                destroyed_at: None,
                rotation_type: Some(kind),
            });
            m.primary_version = next;
            m.rotated_at = Some(now);
            m.next_rotation_at = m.rotation_period_days.map(|d| now + i64::from(d) * DAY);
            Ok(MutateExtra {
                ops: vec![Op::InsertVersion {
                    key_id: m.id.clone(),
                    version: next,
                    body,
                }],
                new_versions: vec![(next, Arc::new(Self::fresh_version(loaded)))],
                drop_material: vec![],
            })
        }
    }

    pub fn enable(&self, key_ref: &str) -> Result<KeyMeta> {
        self.mutate(key_ref, Operation::Enable, |m, _| {
            m.state = KeyState::Enabled;
            Ok(MutateExtra::default())
        })
    }

    pub fn disable(&self, key_ref: &str) -> Result<KeyMeta> {
        self.mutate(key_ref, Operation::Disable, |m, _| {
            m.state = KeyState::Disabled;
            Ok(MutateExtra::default())
        })
    }

    pub fn set_version_enabled(
        &self,
        key_ref: &str,
        version: u32,
        enabled: bool,
    ) -> Result<KeyMeta> {
        let op = if enabled {
            Operation::EnableVersion
        } else {
            Operation::DisableVersion
        };
        self.mutate(key_ref, op, |m, _| {
            let id = m.id.clone();
            if !enabled && m.primary_version == version {
                return Err(Error::InvalidKeyState(format!(
                    "version {version} is the primary version of key {id}; rotate the key first (`strongroom key rotate {id}`)"
                )));
            }
            let v = m
                .version_mut(version)
                .ok_or(Error::VersionNotFound { key_id: id.clone(), version })?;
            if v.state == VersionState::Destroyed {
                return Err(Error::InvalidKeyState(format!(
                    "version {version} of key {id} is destroyed"
                )));
            }
            v.state = if enabled {
                VersionState::Enabled
            } else {
                VersionState::Disabled
            };
            Ok(MutateExtra::default())
        })
    }

    pub fn set_min_decryption_version(&self, key_ref: &str, version: u32) -> Result<KeyMeta> {
        self.mutate(key_ref, Operation::SetMinDecryptionVersion, |m, _| {
            if version < 1 || version > m.primary_version {
                return Err(Error::InvalidArgument(format!(
                    "minimum decryption version must be between 1 and the primary version {}",
                    m.primary_version
                )));
            }
            m.min_decryption_version = version;
            Ok(MutateExtra::default())
        })
    }

    /// Schedules destruction after `days` (7–30, default 30). The key is
    /// unusable from now on; cancelling leaves it disabled.
    pub fn schedule_deletion(&self, key_ref: &str, days: Option<i64>) -> Result<KeyMeta> {
        let days = days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(Error::InvalidArgument(format!(
                "pending window of {days} days is out of range; use 7 to 30 days"
            )));
        }
        let when = self.now() + days * DAY;
        self.mutate(key_ref, Operation::ScheduleDeletion, |m, _| {
            m.state = KeyState::PendingDeletion;
            m.deletion_date = Some(when);
            Ok(MutateExtra::default())
        })
    }

    pub fn cancel_deletion(&self, key_ref: &str) -> Result<KeyMeta> {
        self.mutate(key_ref, Operation::CancelDeletion, |m, _| {
            // An EXTERNAL key without material goes back to waiting for it.
            m.state = if m.origin == Origin::External
                && !m
                    .versions
                    .iter()
                    .any(|v| v.state != VersionState::Destroyed)
            {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            m.deletion_date = None;
            Ok(MutateExtra::default())
        })
    }

    /// Destroys every key whose deletion date has passed: the sealed
    /// material is overwritten by an empty record and dropped from memory;
    /// metadata remains as a tombstone. Returns the ids destroyed.
    pub fn destroy_due(&self) -> Result<Vec<String>> {
        let now = self.now();
        let due: Vec<String> = self
            .read()?
            .keys
            .values()
            .filter(|e| {
                e.meta.state == KeyState::PendingDeletion
                    && e.meta.deletion_date.is_some_and(|d| d <= now)
            })
            .map(|e| e.meta.id.clone())
            .collect();
        let mut done = Vec::new();
        for id in due {
            let result = self.mutate(&id, Operation::Destroy, |m, _| {
                // Re-checked under the write lock: a key cancelled (or
                // rescheduled) since the scan above is left alone.
                if m.deletion_date.is_none_or(|d| d > now) {
                    return Err(Error::InvalidKeyState(format!(
                        "key {} is no longer due",
                        m.id
                    )));
                }
                m.state = KeyState::Destroyed;
                m.destroyed_at = Some(now);
                let mut ops = Vec::new();
                let mut dropped = Vec::new();
                for v in &mut m.versions {
                    v.state = VersionState::Destroyed;
                    v.destroyed_at = Some(now);
                    ops.push(Op::UpdateVersion {
                        key_id: m.id.clone(),
                        version: v.version,
                        body: Vec::new(),
                    });
                    dropped.push(v.version);
                }
                m.aliases.clear();
                Ok(MutateExtra {
                    ops,
                    new_versions: vec![],
                    drop_material: dropped,
                })
            });
            match result {
                Ok(_) => done.push(id),
                // Cancelled or rescheduled meanwhile: not an error.
                Err(Error::InvalidKeyState(_)) => {}
                Err(e) => {
                    tracing::error!(key_id = %id, error = %e, "destroying key failed; will retry on the next sweep");
                }
            }
        }
        Ok(done)
    }

    // ---------- cryptographic operations (memory only) ----------

    fn version_for_use(
        &self,
        e: &KeyEntry,
        version: u32,
    ) -> Result<(Arc<VersionEntry>, Arc<LoadedKey>)> {
        let m = &e.meta;
        let vm = m.version(version).ok_or(Error::InvalidCiphertext)?;
        match vm.state {
            VersionState::Enabled => {}
            VersionState::Disabled => {
                return Err(Error::VersionDisabled {
                    key_id: m.id.clone(),
                    version,
                })
            }
            VersionState::Destroyed => return Err(Error::KeyDestroyed(m.id.clone())),
            VersionState::Compromised => {
                return Err(Error::VersionCompromised {
                    key_id: m.id.clone(),
                    version,
                })
            }
        }
        let ve = e.versions.get(&version).ok_or(Error::InvalidCiphertext)?;
        let loaded = self
            .material(m, version, ve)?
            .ok_or_else(|| Error::KeyDestroyed(m.id.clone()))?;
        Ok((ve.clone(), loaded))
    }

    /// Counts one AES-GCM encryption; persists reservations in blocks and
    /// refuses past the hard limit.
    fn count_use(&self, e: &KeyEntry, version: u32, ve: &VersionEntry) -> Result<u64> {
        let n = ve.used.fetch_add(1, Ordering::SeqCst) + 1;
        if n > self.cfg.max_usage {
            return Err(Error::UsageLimitReached(e.meta.id.clone()));
        }
        if n > ve.reserved.load(Ordering::SeqCst) {
            self.reserve_through(e, version, ve, n)?;
        }
        Ok(n)
    }

    /// Makes the durable reservation of `version` cover use `want`: the
    /// next `usage_block` uses (or up to `want`, if more), committed before
    /// the counter may pass the old reservation. Serialized per version.
    fn reserve_through(
        &self,
        e: &KeyEntry,
        version: u32,
        ve: &VersionEntry,
        want: u64,
    ) -> Result<()> {
        let _g = ve
            .reserve_lock
            .lock()
            .map_err(|_| Error::Internal("usage lock poisoned".into()))?;
        let cur = ve.reserved.load(Ordering::SeqCst);
        if want > cur {
            let new = cur.saturating_add(self.cfg.usage_block).max(want);
            self.store
                .commit(Transaction::new().push(Op::ReserveUsage {
                    key_id: e.meta.id.clone(),
                    version,
                    reserved: new,
                }))?;
            ve.reserved.store(new, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Whether the next use of `key`'s primary version needs the blocking
    /// step first ([`Engine::prepare_use`]): its durable usage reservation
    /// is nearly spent, or it has reached the automatic-rotation threshold.
    /// Two atomic loads: the gate asks before every inline use, so that the
    /// storage write every `usage_block` uses (and the rotation) happen on a
    /// blocking thread, not on an async worker.
    pub fn use_needs_preparation(&self, key: &KeyHandle) -> bool {
        let e = &key.0;
        if e.meta.spec != KeySpec::Aes256Gcm {
            return false;
        }
        let Some(ve) = e.versions.get(&e.meta.primary_version) else {
            return false;
        };
        let used = ve.used.load(Ordering::Relaxed);
        used.saturating_add(self.reserve_margin()) > ve.reserved.load(Ordering::Relaxed)
            || used.saturating_add(1) >= self.cfg.rotate_at_usage
    }

    /// Uses ahead of the counter at which the next block is reserved.
    fn reserve_margin(&self) -> u64 {
        (self.cfg.usage_block / 4).max(1)
    }

    /// The blocking step before a use (storage writes: call it off the
    /// async workers). Reserves the primary version's next usage block when
    /// the current one is nearly spent, or runs the automatic rotation due
    /// at the usage threshold. Returns whether the key changed (then the
    /// caller resolves it again). An inline use that still outruns the
    /// reservation reserves for itself, so the counter is durable either way.
    pub fn prepare_use(&self, key: &KeyHandle) -> Result<bool> {
        let e = &key.0;
        let version = e.meta.primary_version;
        let Some(ve) = e.versions.get(&version) else {
            return Ok(false);
        };
        let used = ve.used.load(Ordering::SeqCst);
        if used.saturating_add(1) >= self.cfg.rotate_at_usage {
            self.maybe_auto_rotate(e, used.saturating_add(1));
            return Ok(true);
        }
        let want = used.saturating_add(self.reserve_margin());
        if want > ve.reserved.load(Ordering::SeqCst) {
            self.reserve_through(e, version, ve, want)?;
        }
        Ok(false)
    }

    fn maybe_auto_rotate(&self, e: &KeyEntry, used: u64) {
        if used >= self.cfg.rotate_at_usage
            && self
                .auto_rotating
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            // Only rotate if nobody rotated meanwhile.
            let still_primary = self
                .resolve(&e.meta.id)
                .map(|cur| cur.meta.primary_version == e.meta.primary_version)
                .unwrap_or(false);
            if still_primary {
                match self.rotate_as(&e.meta.id, RotationType::Automatic) {
                    Ok(m) => {
                        tracing::info!(key_id = %m.id, version = m.primary_version, "rotated automatically: AES-GCM usage threshold reached")
                    }
                    Err(err) => {
                        tracing::error!(key_id = %e.meta.id, error = %err, "automatic rotation failed")
                    }
                }
            }
            self.auto_rotating.store(false, Ordering::SeqCst);
        }
    }

    fn encrypt_with(
        &self,
        e: &KeyEntry,
        plaintext: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<EncryptOutput> {
        validate_context(ctx)?;
        let version = e.meta.primary_version;
        let (ve, loaded) = self.version_for_use(e, version)?;
        let (alg, body_len) = match e.meta.spec {
            KeySpec::Aes256Gcm => (
                Algorithm::Aes256Gcm,
                plaintext.len() + ciphertext::AES_OVERHEAD,
            ),
            s if s.is_rsa() && e.meta.usage == KeyUsage::EncryptDecrypt => {
                (Algorithm::RsaOaepSha256, 512)
            }
            _ => {
                Self::require_usage(e, KeyUsage::EncryptDecrypt, "encryption")?;
                return Err(Error::InvalidKeyUsage(format!(
                    "key {} cannot encrypt",
                    e.meta.id
                )));
            }
        };
        let header = Header {
            algorithm: alg,
            key_id: e.uuid,
            version,
        }
        .encode();
        let aad = ciphertext::aad(&header, ctx);
        let mut out = Vec::with_capacity(ciphertext::HEADER_LEN + body_len);
        out.extend_from_slice(&header);
        let used = match alg {
            Algorithm::Aes256Gcm => {
                let n = self.count_use(e, version, &ve)?;
                loaded
                    .aes_seal(&aad, plaintext, &mut out)
                    .map_err(crypto_err)?;
                Some(n)
            }
            Algorithm::RsaOaepSha256 => {
                let pk = loaded.public_key_der().ok_or(Error::InvalidCiphertext)?;
                out.extend_from_slice(
                    &material::rsa_oaep_encrypt(pk, plaintext, &aad).map_err(crypto_err)?,
                );
                None
            }
        };
        self.note_use(&ve);
        if let Some(n) = used {
            self.maybe_auto_rotate(e, n);
        }
        Ok(EncryptOutput {
            ciphertext: out,
            key_id: e.meta.id.clone(),
            version,
        })
    }

    pub fn encrypt(
        &self,
        key_ref: &str,
        plaintext: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<EncryptOutput> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(Error::InvalidArgument(format!(
                "plaintext is {} bytes; at most {MAX_PLAINTEXT} bytes can be encrypted directly. Use a data key (envelope encryption) for larger data",
                plaintext.len()
            )));
        }
        let e = self.resolve(key_ref)?;
        self.encrypt_resolved(&KeyHandle(e), plaintext, ctx)
    }

    /// [`Engine::encrypt`] under a key already resolved (no second lookup).
    pub fn encrypt_resolved(
        &self,
        key: &KeyHandle,
        plaintext: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<EncryptOutput> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(Error::InvalidArgument(format!(
                "plaintext is {} bytes; at most {MAX_PLAINTEXT} bytes can be encrypted directly. Use a data key (envelope encryption) for larger data",
                plaintext.len()
            )));
        }
        let e = &key.0;
        check(e.meta.state, Operation::Encrypt, &e.meta.id)?;
        Self::check_dates(&e.meta, Operation::Encrypt, self.now())?;
        Self::require_usage(e, KeyUsage::EncryptDecrypt, "encryption")?;
        self.encrypt_with(e, plaintext, ctx)
    }

    /// Decrypts; if `expected_key` is given, the ciphertext must be under it.
    pub fn decrypt(
        &self,
        ct: &[u8],
        ctx: &EncryptionContext,
        expected_key: Option<&str>,
    ) -> Result<DecryptOutput> {
        self.decrypt_opts(ct, ctx, expected_key, false)
    }

    /// `decrypt`, optionally also with a compromised version (the audited override).
    pub fn decrypt_opts(
        &self,
        ct: &[u8],
        ctx: &EncryptionContext,
        expected_key: Option<&str>,
        allow_compromised: bool,
    ) -> Result<DecryptOutput> {
        let (header, body) = Header::parse(ct)?;
        if let Some(k) = expected_key {
            let named = self.resolve(k)?;
            if named.uuid != header.key_id {
                return Err(Error::IncorrectKey);
            }
        }
        let e = {
            let inner = self.read()?;
            inner
                .keys
                .get(&header.key_id)
                .cloned()
                .ok_or(Error::InvalidCiphertext)?
        };
        check(e.meta.state, Operation::Decrypt, &e.meta.id)?;
        Self::check_dates(&e.meta, Operation::Decrypt, self.now())?;
        if e.meta.usage != KeyUsage::EncryptDecrypt {
            return Err(Error::InvalidCiphertext);
        }
        let vm = e
            .meta
            .version(header.version)
            .ok_or(Error::InvalidCiphertext)?;
        let ventry = e
            .versions
            .get(&header.version)
            .ok_or(Error::InvalidCiphertext)?;
        let loaded = self
            .material(&e.meta, header.version, ventry)?
            .ok_or_else(|| Error::KeyDestroyed(e.meta.id.clone()))?;
        // Authenticate before reporting the version's state, so an edited
        // header learns nothing but the one generic error.
        let hdr: [u8; ciphertext::HEADER_LEN] = header.encode();
        let aad = ciphertext::aad(&hdr, ctx);
        let plaintext = match (header.algorithm, e.meta.spec) {
            (Algorithm::Aes256Gcm, KeySpec::Aes256Gcm) => loaded.aes_open(&aad, body),
            (Algorithm::RsaOaepSha256, s) if s.is_rsa() => loaded.rsa_oaep_decrypt(body, &aad),
            _ => Err(CryptoError::Failed),
        }
        .map_err(|_| Error::InvalidCiphertext)?;
        if header.version < e.meta.min_decryption_version {
            return Err(Error::VersionBelowMinimum {
                key_id: e.meta.id.clone(),
                version: header.version,
                minimum: e.meta.min_decryption_version,
            });
        }
        match vm.state {
            VersionState::Enabled => {}
            VersionState::Disabled => {
                return Err(Error::VersionDisabled {
                    key_id: e.meta.id.clone(),
                    version: header.version,
                })
            }
            VersionState::Destroyed => return Err(Error::KeyDestroyed(e.meta.id.clone())),
            VersionState::Compromised if allow_compromised => {}
            VersionState::Compromised => {
                return Err(Error::VersionCompromised {
                    key_id: e.meta.id.clone(),
                    version: header.version,
                })
            }
        }
        self.note_use(ventry);
        Ok(DecryptOutput {
            plaintext,
            key_id: e.meta.id.clone(),
            version: header.version,
        })
    }

    /// RSA-OAEP-SHA-256 exactly as AWS KMS does it: the bare RSA ciphertext,
    /// no header, no label (so it interoperates with encryption done locally
    /// with the public key). Only for RSA `ENCRYPT_DECRYPT` keys.
    pub fn encrypt_rsa_raw(&self, key_ref: &str, plaintext: &[u8]) -> Result<EncryptOutput> {
        let e = self.resolve(key_ref)?;
        self.encrypt_rsa_raw_resolved(&KeyHandle(e), plaintext)
    }

    /// [`Engine::encrypt_rsa_raw`] under a key already resolved.
    pub fn encrypt_rsa_raw_resolved(
        &self,
        key: &KeyHandle,
        plaintext: &[u8],
    ) -> Result<EncryptOutput> {
        let e = &key.0;
        check(e.meta.state, Operation::Encrypt, &e.meta.id)?;
        Self::check_dates(&e.meta, Operation::Encrypt, self.now())?;
        Self::require_usage(e, KeyUsage::EncryptDecrypt, "encryption")?;
        if !e.meta.spec.is_rsa() {
            return Err(Error::InvalidKeyUsage(format!(
                "key {} is not an RSA key",
                e.meta.id
            )));
        }
        let version = e.meta.primary_version;
        let (ve, loaded) = self.version_for_use(e, version)?;
        let pk = loaded.public_key_der().ok_or(Error::InvalidCiphertext)?;
        let ciphertext = material::rsa_oaep_encrypt(pk, plaintext, &[]).map_err(crypto_err)?;
        self.note_use(&ve);
        Ok(EncryptOutput {
            ciphertext,
            key_id: e.meta.id.clone(),
            version,
        })
    }

    /// Decrypts a bare RSA-OAEP-SHA-256 ciphertext (see `encrypt_rsa_raw`)
    /// with the named key, trying each enabled version at or above the
    /// minimum, newest first (a bare ciphertext does not say which).
    pub fn decrypt_rsa_raw(&self, key_ref: &str, ciphertext: &[u8]) -> Result<DecryptOutput> {
        let e = self.resolve_checked(key_ref, Operation::Decrypt)?;
        Self::require_usage(&e, KeyUsage::EncryptDecrypt, "decryption")?;
        if !e.meta.spec.is_rsa() {
            return Err(Error::InvalidKeyUsage(format!(
                "key {} is not an RSA key",
                e.meta.id
            )));
        }
        for vm in e.meta.versions.iter().rev() {
            if vm.state != VersionState::Enabled || vm.version < e.meta.min_decryption_version {
                continue;
            }
            let Ok((ve, loaded)) = self.version_for_use(&e, vm.version) else {
                continue;
            };
            if let Ok(plaintext) = loaded.rsa_oaep_decrypt(ciphertext, &[]) {
                self.note_use(&ve);
                return Ok(DecryptOutput {
                    plaintext,
                    key_id: e.meta.id.clone(),
                    version: vm.version,
                });
            }
        }
        Err(Error::InvalidCiphertext)
    }

    /// Decrypts under the source key and encrypts under the destination key;
    /// the plaintext never leaves the server.
    pub fn reencrypt(
        &self,
        ct: &[u8],
        source_ctx: &EncryptionContext,
        source_key: Option<&str>,
        dest_key: &str,
        dest_ctx: &EncryptionContext,
    ) -> Result<(EncryptOutput, String, u32)> {
        let dest = self.resolve_checked(dest_key, Operation::Encrypt)?;
        Self::require_usage(&dest, KeyUsage::EncryptDecrypt, "re-encryption")?;
        let d = self.decrypt(ct, source_ctx, source_key)?;
        let out = self.encrypt_with(&dest, d.plaintext.expose(), dest_ctx)?;
        Ok((out, d.key_id, d.version))
    }

    pub fn generate_data_key(
        &self,
        key_ref: &str,
        bytes: Option<usize>,
        ctx: &EncryptionContext,
        include_plaintext: bool,
    ) -> Result<DataKey> {
        let n = bytes.unwrap_or(32);
        if !(1..=1024).contains(&n) {
            return Err(Error::InvalidArgument(format!(
                "number_of_bytes {n} is out of range; use 1 to 1024 (32 for an AES-256 key)"
            )));
        }
        let e = self.resolve_checked(key_ref, Operation::GenerateDataKey)?;
        Self::require_usage(&e, KeyUsage::EncryptDecrypt, "data key generation")?;
        if e.meta.spec != KeySpec::Aes256Gcm {
            return Err(Error::InvalidKeyUsage(format!(
                "data keys are wrapped by symmetric keys only; key {} is {}. Use an AES_256_GCM key",
                e.meta.id,
                e.meta.spec.name()
            )));
        }
        let mut dk = SecretBytes::zeroed(n);
        self.rng.fill(dk.expose_mut())?;
        let out = self.encrypt_with(&e, dk.expose(), ctx)?;
        Ok(DataKey {
            plaintext: include_plaintext.then_some(dk),
            ciphertext: out.ciphertext,
            key_id: out.key_id,
            version: out.version,
        })
    }

    pub fn generate_random(&self, n: usize) -> Result<SecretBytes> {
        if !(1..=1024).contains(&n) {
            return Err(Error::InvalidArgument(format!(
                "number_of_bytes {n} is out of range; use 1 to 1024"
            )));
        }
        let mut b = SecretBytes::zeroed(n);
        self.rng.fill(b.expose_mut())?;
        Ok(b)
    }

    fn signing_alg(e: &KeyEntry, alg: Option<&str>) -> Result<SigningAlgorithm> {
        let allowed = e.meta.spec.signing_algorithms();
        let a = match alg {
            None => *allowed
                .first()
                .ok_or_else(|| Error::InvalidKeyUsage(format!("key {} cannot sign", e.meta.id)))?,
            Some(s) => SigningAlgorithm::parse(s).ok_or_else(|| {
                Error::InvalidArgument(format!("unknown signing algorithm {s:?}"))
            })?,
        };
        if !allowed.contains(&a) {
            return Err(Error::InvalidKeyUsage(format!(
                "signing algorithm {} does not fit key spec {}; use one of: {}",
                a.name(),
                e.meta.spec.name(),
                allowed
                    .iter()
                    .map(|x| x.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(a)
    }

    /// What every signing key accepts as a message, and what ML-DSA keys
    /// refuse: a precomputed digest (ML-DSA signs the message itself) and
    /// EXTERNAL_MU (aws-lc-rs 1.19 cannot sign or verify a given mu).
    fn check_message_type(e: &KeyEntry, message_type: MessageType) -> Result<()> {
        match message_type {
            MessageType::ExternalMu => Err(Error::InvalidArgument(format!(
                "message_type EXTERNAL_MU is not supported: Strongroom's crypto library (aws-lc-rs 1.19) cannot sign or verify a precomputed ML-DSA mu. Send the message itself (up to {MAX_PLAINTEXT} bytes) with message_type RAW"
            ))),
            MessageType::Digest if e.meta.spec.is_ml_dsa() => Err(Error::InvalidArgument(format!(
                "key {} is {}: ML-DSA signs the message itself, not a digest. Send it with message_type RAW (up to {MAX_PLAINTEXT} bytes)",
                e.meta.id,
                e.meta.spec.name()
            ))),
            _ => Ok(()),
        }
    }

    fn check_message(message: &[u8]) -> Result<()> {
        if message.len() > MAX_PLAINTEXT {
            return Err(Error::InvalidArgument(format!(
                "message is {} bytes; at most {MAX_PLAINTEXT} are allowed. Send a digest with message_type DIGEST instead",
                message.len()
            )));
        }
        Ok(())
    }

    pub fn sign(
        &self,
        key_ref: &str,
        message: &[u8],
        message_type: MessageType,
        alg: Option<&str>,
    ) -> Result<(Vec<u8>, SigningAlgorithm, String, u32)> {
        Self::check_message(message)?;
        let e = self.resolve_checked(key_ref, Operation::Sign)?;
        Self::require_usage(&e, KeyUsage::SignVerify, "signing")?;
        let a = Self::signing_alg(&e, alg)?;
        Self::check_message_type(&e, message_type)?;
        let version = e.meta.primary_version;
        let (ve, loaded) = self.version_for_use(&e, version)?;
        self.note_use(&ve);
        let sig = loaded
            .sign(a, message_type, message)
            .map_err(|err| match err {
                CryptoError::Failed => Error::Internal("signing failed".into()),
                other => crypto_err(other),
            })?;
        Ok((sig, a, e.meta.id.clone(), version))
    }

    /// Verifies with every enabled version at or above the minimum, so
    /// signatures made before a rotation keep verifying.
    pub fn verify(
        &self,
        key_ref: &str,
        message: &[u8],
        message_type: MessageType,
        signature: &[u8],
        alg: Option<&str>,
    ) -> Result<bool> {
        Self::check_message(message)?;
        let e = self.resolve_checked(key_ref, Operation::Verify)?;
        Self::require_usage(&e, KeyUsage::SignVerify, "verification")?;
        let a = Self::signing_alg(&e, alg)?;
        Self::check_message_type(&e, message_type)?;
        for vm in e.meta.versions.iter().rev() {
            if vm.state != VersionState::Enabled || vm.version < e.meta.min_decryption_version {
                continue;
            }
            let Ok((ve, loaded)) = self.version_for_use(&e, vm.version) else {
                continue;
            };
            let Some(pk) = loaded.public_key_der() else {
                continue;
            };
            if material::verify(
                e.meta.spec,
                a,
                EcdsaEncoding::Der,
                pk,
                message_type,
                message,
                signature,
            )
            .map_err(crypto_err)?
            {
                self.note_use(&ve);
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub fn generate_mac(&self, key_ref: &str, message: &[u8]) -> Result<(Vec<u8>, String, u32)> {
        Self::check_message(message)?;
        let e = self.resolve_checked(key_ref, Operation::GenerateMac)?;
        Self::require_usage(&e, KeyUsage::GenerateVerifyMac, "MAC generation")?;
        let version = e.meta.primary_version;
        let (ve, loaded) = self.version_for_use(&e, version)?;
        self.note_use(&ve);
        let mac = loaded.hmac_sign(message).map_err(crypto_err)?;
        Ok((mac, e.meta.id.clone(), version))
    }

    pub fn verify_mac(&self, key_ref: &str, message: &[u8], mac: &[u8]) -> Result<bool> {
        Self::check_message(message)?;
        let e = self.resolve_checked(key_ref, Operation::VerifyMac)?;
        Self::require_usage(&e, KeyUsage::GenerateVerifyMac, "MAC verification")?;
        for vm in e.meta.versions.iter().rev() {
            if vm.state != VersionState::Enabled || vm.version < e.meta.min_decryption_version {
                continue;
            }
            let Ok((ve, loaded)) = self.version_for_use(&e, vm.version) else {
                continue;
            };
            if loaded.hmac_verify(message, mac).map_err(crypto_err)? {
                self.note_use(&ve);
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub fn get_public_key(&self, key_ref: &str) -> Result<PublicKey> {
        let e = self.resolve_checked(key_ref, Operation::GetPublicKey)?;
        let (_, loaded) = self.version_for_use(&e, e.meta.primary_version)?;
        let der = loaded
            .public_key_der()
            .ok_or_else(|| {
                Error::InvalidKeyUsage(format!(
                    "key {} is symmetric ({}); it has no public key",
                    e.meta.id,
                    e.meta.spec.name()
                ))
            })?
            .to_vec();
        Ok(PublicKey {
            der,
            key_id: e.meta.id.clone(),
            spec: e.meta.spec,
            usage: e.meta.usage,
            signing_algorithms: if e.meta.usage == KeyUsage::SignVerify {
                e.meta.spec.signing_algorithms().to_vec()
            } else {
                vec![]
            },
        })
    }

    /// The usage counter of a version, for tests and metrics.
    pub fn usage_count(&self, key_ref: &str, version: u32) -> Result<u64> {
        let e = self.resolve(key_ref)?;
        Ok(e.versions
            .get(&version)
            .map(|v| v.used.load(Ordering::SeqCst))
            .unwrap_or(0))
    }
}

#[derive(Default)]
struct MutateExtra {
    ops: Vec<Op>,
    new_versions: Vec<(u32, Arc<VersionEntry>)>,
    drop_material: Vec<u32>,
}

mod lifecycle;
pub use lifecycle::{AuditedUse, CompromiseReport, ExposureByIdentity, UseStats};
mod attest;
pub mod backup;
pub use backup::{BackupSummary, DrillReport};
mod data_key_pair;
mod import;
mod index;
pub use index::{DueKeys, KeyListPage};
mod kem;
pub use kem::{Decapsulated, Encapsulated};
mod rotation;
mod schedule;
pub use rotation::ROTATION_PERIOD_DAYS;
pub use schedule::RotationRun;

pub use data_key_pair::DataKeyPair;
pub use import::{ImportParameters, WrappingAlgorithm};

mod sync;
#[cfg(test)]
mod tests;
