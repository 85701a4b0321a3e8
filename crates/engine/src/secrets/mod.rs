//! The secrets engine: versioned maps of string fields at strict paths
//! ([`path`]), each version sealed under the barrier with its path and
//! version number as AAD, so no stored record can stand in for another.
//!
//! Storage: one record of kind [`KIND_SECRET`] per secret (id = the path;
//! the sealed [`SecretMeta`]) and one of kind [`KIND_SECRET_VERSION`] per
//! live version (id = `<path>@<version, 10 digits>`; the sealed fields).
//! A new version is an `InsertRecord`, so two writers (even on two nodes)
//! can never both create the same version: the loser gets `Conflict`.
//!
//! Destroying a version deletes its record and purges the backend's files
//! (as key destruction does), so the value is gone from the database file,
//! its journal and its free pages.

pub mod cache;
pub mod config;
pub mod fields;
pub mod path;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::crypto::SecretBytes;
use crate::error::{Error, Result};
use crate::seal::barrier::Barrier;
use crate::storage::{Op, Store, Transaction};
pub use cache::CachedSecret;
pub use config::{deletion_time, ConfigUpdate, SecretsConfig, KIND_SECRET_CONFIG};
pub use fields::{SecretFields, MAX_FIELDS, MAX_VALUE_BYTES};

/// Record kind of a secret's metadata.
pub const KIND_SECRET: &str = "secret";
/// Record kind of one secret version's sealed fields.
pub const KIND_SECRET_VERSION: &str = "secret-version";
/// Record kind of a rotation lease ([`Secrets::lease_rotation`]).
pub const KIND_ROTATION_LEASE: &str = "secret-rotation-lease";
/// A rotation lease's window: a lease is exclusive for at least this long.
pub const ROTATION_LEASE_MS: i64 = 5 * 60 * 1000;
/// Versions kept when a secret does not say (`max_versions = 0`).
pub const DEFAULT_MAX_VERSIONS: u32 = 10;
/// The most versions a secret may keep.
pub const MAX_MAX_VERSIONS: u32 = 1000;
/// Most custom metadata entries, and their longest key and value.
pub const MAX_CUSTOM_METADATA: usize = 64;

/// What kind of secret: what `rotate` does with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// Any fields; rotation is by writing a new version.
    #[default]
    Generic,
    /// A PostgreSQL role's credentials: Strongroom rotates the password.
    Postgres,
    /// Rotated by an operator-configured hook (the secret's `rotation_hook`).
    Hook,
}

/// One version's facts (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub version: u32,
    pub created_ms: i64,
    /// Set by a soft delete (cleared by undelete), or in the future by
    /// `delete_version_after`: the version reads as deleted from then on.
    #[serde(default)]
    pub deletion_ms: Option<i64>,
    /// The value is gone for good (destroyed, crypto-shredded).
    #[serde(default)]
    pub destroyed: bool,
}

impl VersionMeta {
    /// Whether the version is soft-deleted at `now` (a deletion time in
    /// the future, set by `delete_version_after`, is not yet a deletion).
    pub fn is_deleted_at(&self, now: i64) -> bool {
        self.deletion_ms.is_some_and(|t| t <= now)
    }
}

/// A secret's metadata: everything but the values. Sealed as a record too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    pub path: String,
    pub kind: SecretKind,
    /// For kind `hook`: the name of the operator-configured hook that rotates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_hook: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The newest version (0: none written yet).
    pub current_version: u32,
    /// Versions kept; older ones are removed on write (0: the default, 10).
    pub max_versions: u32,
    /// Every write must give `cas`.
    pub cas_required: bool,
    pub owner: String,
    pub purpose: String,
    pub custom_metadata: BTreeMap<String, String>,
    /// Days between rotations (0: none).
    pub rotation_period_days: u32,
    /// When the next rotation is due (set from the period on each write).
    pub next_rotation_ms: Option<i64>,
    /// When the secret expires (shown as overdue from then on).
    pub expires_ms: Option<i64>,
    /// The versions still known (live, deleted or destroyed), by number.
    pub versions: BTreeMap<u32, VersionMeta>,
    /// Seconds after its creation at which each new version is
    /// soft-deleted (0: the engine's [`SecretsConfig`] decides).
    #[serde(default)]
    pub delete_version_after_secs: i64,
}

impl SecretMeta {
    fn new(path: &str, now: i64) -> Self {
        SecretMeta {
            path: path.to_string(),
            kind: SecretKind::Generic,
            rotation_hook: None,
            created_ms: now,
            updated_ms: now,
            current_version: 0,
            max_versions: 0,
            cas_required: false,
            owner: String::new(),
            purpose: String::new(),
            custom_metadata: BTreeMap::new(),
            rotation_period_days: 0,
            next_rotation_ms: None,
            expires_ms: None,
            versions: BTreeMap::new(),
            delete_version_after_secs: 0,
        }
    }

    /// The oldest version still known (0: none).
    pub fn oldest_version(&self) -> u32 {
        self.versions.keys().next().copied().unwrap_or(0)
    }

    /// Versions kept: the secret's `max_versions`, else the engine's,
    /// else [`DEFAULT_MAX_VERSIONS`].
    fn keep(&self, config: &SecretsConfig) -> u32 {
        match (self.max_versions, config.max_versions) {
            (0, 0) => DEFAULT_MAX_VERSIONS,
            (0, n) | (n, _) => n,
        }
    }

    /// Whether the rotation date has come (what the scheduler rotates on;
    /// an expiry alone shows as overdue but is not rotated again and again).
    pub fn rotation_due(&self, now: i64) -> bool {
        self.next_rotation_ms.is_some_and(|t| t <= now)
    }

    /// Whether a rotation is due at `now` (or the secret has expired).
    pub fn rotation_overdue(&self, now: i64) -> bool {
        self.next_rotation_ms.is_some_and(|t| t <= now) || self.expires_ms.is_some_and(|t| t <= now)
    }
}

/// Changes to a secret's metadata; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataUpdate {
    #[serde(default)]
    pub max_versions: Option<u32>,
    #[serde(default)]
    pub cas_required: Option<bool>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub purpose: Option<String>,
    /// Replaces the whole map.
    #[serde(default)]
    pub custom_metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
    /// Milliseconds since the epoch; 0 clears it.
    #[serde(default)]
    pub expires_ms: Option<i64>,
    #[serde(default)]
    pub kind: Option<SecretKind>,
    /// Seconds after creation at which new versions are soft-deleted;
    /// 0 clears it (the engine's configuration applies).
    #[serde(default)]
    pub delete_version_after_secs: Option<i64>,
    /// The rotation hook's name ("" clears it).
    #[serde(default)]
    pub rotation_hook: Option<String>,
}

/// One page of `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListPage {
    /// Children of the folder: secret names, and sub-folders ending in `/`.
    pub keys: Vec<String>,
    /// Give this as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The secrets engine: reads and writes secrets through the store, sealing
/// under the barrier. Writes on one node are serialized. Reads are served
/// from a bounded cache of opened metadata and current values ([`cache`]),
/// invalidated by every write here and, with a shared backend, by the other
/// nodes' change notifications.
pub struct Secrets {
    store: Arc<dyn Store>,
    barrier: Arc<Barrier>,
    clock: SharedClock,
    write: Mutex<()>,
    cache: cache::Cache,
    /// Last read of a value, per path: kept in memory on this node only
    /// (writing it to storage would make every read a write).
    last_read: Mutex<std::collections::HashMap<String, LastRead>>,
}

/// When a secret's value was last read on this node, and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRead {
    pub time_ms: i64,
    pub identity: String,
    pub version: u32,
}

/// A held rotation lease; released by [`RotationLease::release`] or on drop.
pub struct RotationLease {
    store: Arc<dyn Store>,
    ids: Vec<String>,
}

impl RotationLease {
    /// Gives the lease back (its records are deleted).
    pub fn release(mut self) -> Result<()> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let mut tx = Transaction::new();
        for id in self.ids.drain(..) {
            tx = tx.push(Op::DeleteRecord {
                kind: KIND_ROTATION_LEASE.into(),
                id,
            });
        }
        self.store.commit(tx).map_err(Error::from)
    }
}

impl Drop for RotationLease {
    fn drop(&mut self) {
        // Best effort: a lease not given back expires with its windows.
        let _ = self.release_inner();
    }
}

fn lease_id(path: &str, window: i64) -> String {
    format!("{path}#{window}")
}

/// The AAD identity of a secret's metadata record.
pub fn meta_identity(path: &str) -> String {
    format!("strongroom/secret/{path}")
}

/// The AAD identity of one secret version's record.
pub fn version_identity(path: &str, version: u32) -> String {
    format!("strongroom/secret-version/{path}/{version}")
}

/// The record id of one secret version.
pub fn version_record_id(path: &str, version: u32) -> String {
    format!("{path}@{version:010}")
}

fn check_path(p: &str) -> Result<()> {
    path::validate_path(p).map_err(Error::InvalidArgument)
}

const NO_SECRET: &str = "no secret at ";

fn not_found(p: &str) -> Error {
    Error::SecretNotFound(format!(
        "{NO_SECRET}{p:?}; list what exists with `strongroom secret list`"
    ))
}

/// Whether `e` says there is no secret at all at the path (rather than
/// no such version): Vault KV answers deletes of a missing secret with
/// success.
pub fn is_missing_secret(e: &Error) -> bool {
    matches!(e, Error::SecretNotFound(m) if m.starts_with(NO_SECRET))
}

impl Secrets {
    pub fn new(store: Arc<dyn Store>, barrier: Arc<Barrier>, clock: SharedClock) -> Self {
        Secrets {
            store,
            barrier,
            clock,
            write: Mutex::new(()),
            cache: cache::Cache::default(),
            last_read: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Notes a read of a value (this node, in memory).
    pub fn note_read(&self, path: &str, identity: &str, version: u32) {
        if let Ok(mut m) = self.last_read.lock() {
            m.insert(
                path.to_string(),
                LastRead {
                    time_ms: self.now(),
                    identity: identity.to_string(),
                    version,
                },
            );
        }
    }

    /// The last read of a value noted on this node since it was unsealed.
    pub fn last_read(&self, path: &str) -> Option<LastRead> {
        self.last_read.lock().ok()?.get(path).cloned()
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.write
            .lock()
            .map_err(|_| Error::Internal("secrets write lock poisoned".into()))
    }

    /// Forgets what is cached of the secret at `path` (another node changed
    /// it: `server::ha`). Also takes a version record id (`path@NNNNNNNNNN`).
    pub fn invalidate(&self, path_or_version_id: &str) {
        let path = match path_or_version_id.rsplit_once('@') {
            Some((p, v)) if v.len() == 10 && v.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => path_or_version_id,
        };
        self.cache.invalidate(path);
    }

    /// Forgets every cached secret (values zeroized): on seal, and when
    /// change notifications may have been missed.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// How many secrets are cached, and the bytes of their cached values.
    pub fn cache_size(&self) -> (usize, usize) {
        self.cache.size()
    }

    /// The cached entry for `path`, or loaded from storage and cached;
    /// `None` if there is no secret at `path`.
    fn entry(&self, path: &str) -> Result<Option<Arc<CachedSecret>>> {
        // The generation is taken before the lookup: an invalidation after
        // it (even of the entry just found) keeps a stale load out.
        let generation = self.cache.generation();
        if let Some(e) = self.cache.get(path) {
            return Ok(Some(e));
        }
        let Some(meta) = self.find_stored(path)? else {
            return Ok(None);
        };
        let entry = CachedSecret {
            meta,
            current: None,
        };
        if let Some(g) = generation {
            self.cache.insert(
                g,
                CachedSecret {
                    meta: entry.meta.clone(),
                    current: None,
                },
            );
        }
        Ok(Some(Arc::new(entry)))
    }

    /// A secret's metadata (from the cache when warm), or `None` if there
    /// is no secret at `path`.
    pub fn find(&self, path: &str) -> Result<Option<SecretMeta>> {
        check_path(path)?;
        Ok(self.entry(path)?.map(|e| e.meta.clone()))
    }

    /// A secret's metadata read from storage (what writes and rotations
    /// decide on), or `None`.
    pub fn find_stored(&self, path: &str) -> Result<Option<SecretMeta>> {
        check_path(path)?;
        let Some(rec) = self.store.load_record(KIND_SECRET, path)? else {
            return Ok(None);
        };
        let plain = self.barrier.open(&meta_identity(path), &rec.body)?;
        let m: SecretMeta = serde_json::from_slice(plain.expose())
            .map_err(|e| Error::Internal(format!("secret metadata {path} unreadable: {e}")))?;
        if m.path != path {
            return Err(Error::Internal(format!(
                "secret metadata {path} names another path"
            )));
        }
        Ok(Some(m))
    }

    /// A secret's metadata; `NotFound` if there is none.
    pub fn metadata(&self, path: &str) -> Result<SecretMeta> {
        self.find(path)?.ok_or_else(|| not_found(path))
    }

    /// [`Secrets::metadata`] read from storage.
    pub fn metadata_stored(&self, path: &str) -> Result<SecretMeta> {
        self.find_stored(path)?.ok_or_else(|| not_found(path))
    }

    /// Commits a change to the secret at `path`, then forgets its cache entry.
    fn commit(
        &self,
        path: &str,
        tx: Transaction,
    ) -> std::result::Result<(), crate::storage::StoreError> {
        let r = self.store.commit(tx);
        self.cache.invalidate(path);
        r
    }

    fn seal_meta(&self, m: &SecretMeta) -> Result<Vec<u8>> {
        let plain = serde_json::to_vec(m)
            .map_err(|e| Error::Internal(format!("secret metadata encoding: {e}")))?;
        self.barrier.seal(&meta_identity(&m.path), &plain)
    }

    fn put_meta_op(&self, m: &SecretMeta) -> Result<Op> {
        Ok(Op::PutRecord {
            kind: KIND_SECRET.into(),
            id: m.path.clone(),
            body: self.seal_meta(m)?,
        })
    }

    /// Writes a new version (`cas`: `Some(0)` only if the secret has no
    /// version yet, `Some(n)` only if the current version is `n`). Older
    /// versions past `max_versions` are removed in the same transaction.
    pub fn put(&self, path: &str, value: &SecretFields, cas: Option<u32>) -> Result<VersionMeta> {
        check_path(path)?;
        value.validate()?;
        let _w = self.lock()?;
        let now = self.now();
        let mut m = self
            .find_stored(path)?
            .unwrap_or_else(|| SecretMeta::new(path, now));
        self.write_version(&mut m, value, cas, now)
    }

    fn write_version(
        &self,
        m: &mut SecretMeta,
        value: &SecretFields,
        cas: Option<u32>,
        now: i64,
    ) -> Result<VersionMeta> {
        let config = self.config()?;
        match cas {
            Some(expected) if expected != m.current_version => {
                return Err(Error::Conflict(format!(
                    "check-and-set parameter did not match the current version: secret {:?} was given cas={expected} but the current version is {}; read it again and retry with cas={}",
                    m.path, m.current_version, m.current_version
                )))
            }
            None if m.cas_required || config.cas_required => {
                return Err(Error::InvalidArgument(format!(
                    "check-and-set parameter required for this call: secret {:?} requires check-and-set{}; give cas=<current version> ({}), or cas=0 to create",
                    m.path,
                    if m.cas_required { "" } else { " (the engine's configuration says so)" },
                    m.current_version
                )))
            }
            _ => {}
        }
        let version = m
            .current_version
            .checked_add(1)
            .ok_or_else(|| Error::Conflict("the secret has run out of version numbers".into()))?;
        let plain = value.to_json()?;
        let body = self
            .barrier
            .seal(&version_identity(&m.path, version), plain.expose())?;
        let vm = VersionMeta {
            version,
            created_ms: now,
            deletion_ms: deletion_time(now, &config, m.delete_version_after_secs),
            destroyed: false,
        };
        m.current_version = version;
        m.updated_ms = now;
        m.versions.insert(version, vm.clone());
        if m.rotation_period_days > 0 {
            m.next_rotation_ms = Some(now + i64::from(m.rotation_period_days) * 86_400_000);
        }
        let mut tx = Transaction::new().push(Op::InsertRecord {
            kind: KIND_SECRET_VERSION.into(),
            id: version_record_id(&m.path, version),
            body,
        });
        let keep = m.keep(&config) as usize;
        while m.versions.len() > keep {
            let Some((&old, _)) = m.versions.iter().next() else {
                break;
            };
            m.versions.remove(&old);
            tx = tx.push(Op::DeleteRecord {
                kind: KIND_SECRET_VERSION.into(),
                id: version_record_id(&m.path, old),
            });
        }
        tx = tx.push(self.put_meta_op(m)?);
        self.commit(&m.path, tx).map_err(|e| match e {
            crate::storage::StoreError::Conflict(_) => Error::Conflict(format!(
                "version {version} of secret {:?} was written concurrently; read it again and retry",
                m.path
            )),
            other => other.into(),
        })?;
        Ok(vm)
    }

    /// A version's fields (`None`: the current one) and its facts. Served
    /// from the cache when it holds the answer; the current version's
    /// value is cached once read.
    pub fn get(&self, path: &str, version: Option<u32>) -> Result<(SecretFields, VersionMeta)> {
        check_path(path)?;
        let generation = self.cache.generation();
        let Some(entry) = self.entry(path)? else {
            return Err(not_found(path));
        };
        if let Some(answer) = Self::answer_cached(&entry, version, self.now()) {
            return answer;
        }
        match self.get_in(&entry.meta, version) {
            Ok((fields, vm)) => {
                if let (Some(g), true) = (generation, vm.version == entry.meta.current_version) {
                    self.cache.insert(
                        g,
                        CachedSecret {
                            meta: entry.meta.clone(),
                            current: Some(fields.duplicate()),
                        },
                    );
                }
                Ok((fields, vm))
            }
            // The cached metadata may be stale (a version destroyed on
            // another node a moment ago): once more from storage.
            Err(_) => {
                self.cache.invalidate(path);
                self.get_stored(path, version)
            }
        }
    }

    /// [`Secrets::get`] from storage, bypassing the cache.
    pub fn get_stored(
        &self,
        path: &str,
        version: Option<u32>,
    ) -> Result<(SecretFields, VersionMeta)> {
        let m = self.metadata_stored(path)?;
        self.get_in(&m, version)
    }

    /// The cached entry for `path` if it answers a read of `version`
    /// (`None`: the current one) without storage: the value is cached, or
    /// the answer is an error the metadata alone gives (no such version,
    /// deleted, destroyed). The service runs such reads inline.
    pub fn cached_read(&self, path: &str, version: Option<u32>) -> Option<Arc<CachedSecret>> {
        let e = self.cache.get(path)?;
        let v = version.unwrap_or(e.meta.current_version);
        let answers = Self::readable(&e.meta, v, self.now()).is_err()
            || (v == e.meta.current_version && e.current.is_some());
        answers.then_some(e)
    }

    /// The answer a cached entry gives to a read of `version`, or `None`
    /// when it needs storage.
    /// `now`: the node's clock, which decides whether a scheduled deletion
    /// (`delete_version_after`) has come.
    pub fn answer_cached(
        e: &CachedSecret,
        version: Option<u32>,
        now: i64,
    ) -> Option<Result<(SecretFields, VersionMeta)>> {
        let v = version.unwrap_or(e.meta.current_version);
        match Self::readable(&e.meta, v, now) {
            Err(err) => Some(Err(err)),
            Ok(vm) => match &e.current {
                Some(f) if v == e.meta.current_version => Some(Ok((f.duplicate(), vm.clone()))),
                _ => None,
            },
        }
    }

    /// The facts of version `v` if its value can be read.
    fn readable(m: &SecretMeta, v: u32, now: i64) -> Result<&VersionMeta> {
        let path = &m.path;
        let Some(vm) = m.versions.get(&v) else {
            return Err(Error::SecretNotFound(if m.current_version == 0 {
                format!(
                    "secret {path:?} has no versions yet; write one with `strongroom secret put`"
                )
            } else {
                format!(
                    "secret {path:?} has no version {v}; the versions kept are {}..={} (see `strongroom secret history {path}`)",
                    m.oldest_version(),
                    m.current_version
                )
            }));
        };
        if vm.destroyed {
            return Err(Error::SecretNotFound(format!(
                "version {v} of secret {path:?} was destroyed; its value is gone for good"
            )));
        }
        if vm.is_deleted_at(now) {
            return Err(Error::SecretNotFound(format!(
                "version {v} of secret {path:?} is deleted; restore it with `strongroom secret undelete {path} --versions {v}`"
            )));
        }
        Ok(vm)
    }

    fn get_in(&self, m: &SecretMeta, version: Option<u32>) -> Result<(SecretFields, VersionMeta)> {
        let path = &m.path;
        let v = version.unwrap_or(m.current_version);
        let vm = Self::readable(m, v, self.now())?;
        let rec = self
            .store
            .load_record(KIND_SECRET_VERSION, &version_record_id(path, v))?
            .ok_or_else(|| {
                Error::Internal(format!(
                    "version {v} of secret {path} is missing from storage"
                ))
            })?;
        let plain: SecretBytes = self.barrier.open(&version_identity(path, v), &rec.body)?;
        Ok((SecretFields::from_json(plain.expose())?, vm.clone()))
    }

    /// A new version from the current one: `set` fields are added or
    /// replaced, `remove` fields dropped.
    pub fn patch(
        &self,
        path: &str,
        set: &SecretFields,
        remove: &[String],
        cas: Option<u32>,
    ) -> Result<VersionMeta> {
        check_path(path)?;
        let _w = self.lock()?;
        let mut m = self.metadata_stored(path)?;
        let (current, _) = self.get_in(&m, None)?;
        let mut next = current.duplicate();
        for (n, v) in set.iter() {
            next.insert(n.to_string(), v.to_string());
        }
        for n in remove {
            next.remove(n);
        }
        next.validate()?;
        self.write_version(&mut m, &next, cas, self.now())
    }

    /// Changes metadata; creates the secret (with no versions) if absent.
    pub fn update_metadata(&self, path: &str, u: &MetadataUpdate) -> Result<SecretMeta> {
        check_path(path)?;
        validate_update(u)?;
        let _w = self.lock()?;
        let now = self.now();
        let mut m = self
            .find_stored(path)?
            .unwrap_or_else(|| SecretMeta::new(path, now));
        let mut trim = Transaction::new();
        if let Some(n) = u.max_versions {
            m.max_versions = n;
            let keep = m.keep(&self.config()?) as usize;
            while m.versions.len() > keep {
                let Some((&old, _)) = m.versions.iter().next() else {
                    break;
                };
                m.versions.remove(&old);
                trim = trim.push(Op::DeleteRecord {
                    kind: KIND_SECRET_VERSION.into(),
                    id: version_record_id(path, old),
                });
            }
        }
        if let Some(c) = u.cas_required {
            m.cas_required = c;
        }
        if let Some(o) = &u.owner {
            m.owner = o.clone();
        }
        if let Some(p) = &u.purpose {
            m.purpose = p.clone();
        }
        if let Some(c) = &u.custom_metadata {
            m.custom_metadata = c.clone();
        }
        if let Some(k) = u.kind {
            m.kind = k;
        }
        if let Some(h) = &u.rotation_hook {
            m.rotation_hook = (!h.is_empty()).then(|| h.clone());
        }
        if let Some(d) = u.rotation_period_days {
            m.rotation_period_days = d;
            m.next_rotation_ms = if d == 0 {
                None
            } else {
                let from = m
                    .versions
                    .get(&m.current_version)
                    .map_or(now, |v| v.created_ms);
                Some(from + i64::from(d) * 86_400_000)
            };
        }
        if let Some(e) = u.expires_ms {
            m.expires_ms = if e == 0 { None } else { Some(e) };
        }
        if let Some(d) = u.delete_version_after_secs {
            m.delete_version_after_secs = d;
        }
        m.updated_ms = now;
        let tx = trim.push(self.put_meta_op(&m)?);
        self.commit(path, tx)?;
        Ok(m)
    }

    /// Secret names and sub-folders directly under `folder` (`""` or a
    /// path ending in `/`), sorted, after `after`, at most `limit`.
    pub fn list(&self, folder: &str, after: Option<&str>, limit: usize) -> Result<ListPage> {
        path::validate_folder(folder).map_err(Error::InvalidArgument)?;
        let mut keys: Vec<String> = Vec::new();
        for rec in self.store.load_records(KIND_SECRET)? {
            let Some(rest) = rec.id.strip_prefix(folder) else {
                continue;
            };
            let child = match rest.split_once('/') {
                Some((dir, _)) => format!("{dir}/"),
                None => rest.to_string(),
            };
            if keys.last() != Some(&child) && !keys.contains(&child) {
                keys.push(child);
            }
        }
        keys.sort();
        keys.dedup();
        let start = match after {
            Some(a) => keys.partition_point(|k| k.as_str() <= a),
            None => 0,
        };
        let page: Vec<String> = keys.iter().skip(start).take(limit).cloned().collect();
        let next = if start + page.len() < keys.len() {
            page.last().cloned()
        } else {
            None
        };
        Ok(ListPage { keys: page, next })
    }

    fn versions_or_current(m: &SecretMeta, versions: &[u32]) -> Result<Vec<u32>> {
        let list = if versions.is_empty() {
            vec![m.current_version]
        } else {
            versions.to_vec()
        };
        for v in &list {
            if !m.versions.contains_key(v) {
                return Err(Error::SecretNotFound(format!(
                    "secret {:?} has no version {v}; see `strongroom secret history {}`",
                    m.path, m.path
                )));
            }
        }
        Ok(list)
    }

    /// Soft-deletes versions (empty: the current one). Reversible. A
    /// version already deleted keeps its deletion time; one only scheduled
    /// for deletion (`delete_version_after`) is deleted now.
    pub fn delete_versions(&self, path: &str, versions: &[u32]) -> Result<Vec<u32>> {
        self.change_versions(path, versions, |vm, now, _| {
            if !vm.destroyed && !vm.is_deleted_at(now) {
                vm.deletion_ms = Some(now);
            }
        })
    }

    /// Undoes a soft delete (empty: the current version). With
    /// `delete_version_after` in force, the version is scheduled for
    /// deletion again, counted from now (as Vault does).
    pub fn undelete_versions(&self, path: &str, versions: &[u32]) -> Result<Vec<u32>> {
        let config = self.config()?;
        self.change_versions(path, versions, |vm, now, after| {
            if !vm.destroyed {
                vm.deletion_ms = deletion_time(now, &config, after);
            }
        })
    }

    fn change_versions(
        &self,
        path: &str,
        versions: &[u32],
        f: impl Fn(&mut VersionMeta, i64, i64),
    ) -> Result<Vec<u32>> {
        check_path(path)?;
        let _w = self.lock()?;
        let now = self.now();
        let mut m = self.metadata_stored(path)?;
        let list = Self::versions_or_current(&m, versions)?;
        let after = m.delete_version_after_secs;
        for v in &list {
            if let Some(vm) = m.versions.get_mut(v) {
                f(vm, now, after);
            }
        }
        m.updated_ms = now;
        self.commit(path, Transaction::new().push(self.put_meta_op(&m)?))?;
        Ok(list)
    }

    /// Destroys versions (empty: the current one): their records are
    /// deleted and the backend purged. Irreversible.
    pub fn destroy_versions(&self, path: &str, versions: &[u32]) -> Result<Vec<u32>> {
        check_path(path)?;
        let _w = self.lock()?;
        let now = self.now();
        let mut m = self.metadata_stored(path)?;
        let list = Self::versions_or_current(&m, versions)?;
        let mut tx = Transaction::new();
        for v in &list {
            if let Some(vm) = m.versions.get_mut(v) {
                vm.destroyed = true;
            }
            tx = tx.push(Op::DeleteRecord {
                kind: KIND_SECRET_VERSION.into(),
                id: version_record_id(path, *v),
            });
        }
        m.updated_ms = now;
        tx = tx.push(self.put_meta_op(&m)?);
        self.commit(path, tx)?;
        self.store.purge()?;
        Ok(list)
    }

    /// Deletes the whole secret: metadata and every version, then purges.
    pub fn delete_all(&self, path: &str) -> Result<u32> {
        check_path(path)?;
        let _w = self.lock()?;
        let m = self.metadata_stored(path)?;
        let mut tx = Transaction::new();
        for v in m.versions.keys() {
            tx = tx.push(Op::DeleteRecord {
                kind: KIND_SECRET_VERSION.into(),
                id: version_record_id(path, *v),
            });
        }
        tx = tx.push(Op::DeleteRecord {
            kind: KIND_SECRET.into(),
            id: path.to_string(),
        });
        self.commit(path, tx)?;
        self.store.purge()?;
        Ok(m.versions.len() as u32)
    }

    /// Takes the rotation lease of the secret at `path`, so that no other
    /// rotation of it (on this node or another sharing the store) runs
    /// until it is released or at least [`ROTATION_LEASE_MS`] have passed.
    /// `Conflict` when another rotation holds it.
    ///
    /// How: time is cut into windows of [`ROTATION_LEASE_MS`]; a lease is
    /// two records, one for the current window and one for the next,
    /// inserted in one transaction. Storage refuses a second insert of the
    /// same record, so two holders can never overlap, and a lease taken at
    /// any moment stays exclusive for at least one whole window, even if
    /// its holder dies without releasing it (it simply expires).
    pub fn lease_rotation(&self, path: &str, holder: &str) -> Result<RotationLease> {
        check_path(path)?;
        let window = self.now().div_euclid(ROTATION_LEASE_MS);
        let ids = [lease_id(path, window), lease_id(path, window + 1)];
        let body = |id: &str| {
            self.barrier.seal(
                &format!("strongroom/secret-rotation-lease/{id}"),
                serde_json::json!({ "holder": holder, "taken_ms": self.now() })
                    .to_string()
                    .as_bytes(),
            )
        };
        let mut tx = Transaction::new();
        for id in &ids {
            tx = tx.push(Op::InsertRecord {
                kind: KIND_ROTATION_LEASE.into(),
                id: id.clone(),
                body: body(id)?,
            });
        }
        // Windows already past are left over by holders that died: removed.
        let prefix = format!("{path}#");
        for rec in self.store.load_records(KIND_ROTATION_LEASE)? {
            let old = rec
                .id
                .strip_prefix(&prefix)
                .and_then(|w| w.parse::<i64>().ok())
                .is_some_and(|w| w < window);
            if old {
                tx = tx.push(Op::DeleteRecord {
                    kind: KIND_ROTATION_LEASE.into(),
                    id: rec.id,
                });
            }
        }
        match self.store.commit(tx) {
            Ok(()) => Ok(RotationLease {
                store: self.store.clone(),
                ids: ids.to_vec(),
            }),
            Err(crate::storage::StoreError::Conflict(_)) => Err(Error::Conflict(format!(
                "a rotation of secret {path:?} is already running (on this node or another one sharing the storage); it holds the rotation lease for up to {} minutes. Retry when it has finished",
                ROTATION_LEASE_MS / 60_000
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Every secret's metadata (inventory, reports, the rotation sweep).
    pub fn all(&self) -> Result<Vec<SecretMeta>> {
        let mut out = Vec::new();
        for rec in self.store.load_records(KIND_SECRET)? {
            let plain = self.barrier.open(&meta_identity(&rec.id), &rec.body)?;
            let m: SecretMeta = serde_json::from_slice(plain.expose()).map_err(|e| {
                Error::Internal(format!("secret metadata {} unreadable: {e}", rec.id))
            })?;
            out.push(m);
        }
        Ok(out)
    }
}

/// A rotation hook's name: 1 to 64 characters of `A-Z a-z 0-9 _ -`.
pub fn validate_hook_name(n: &str) -> std::result::Result<(), String> {
    if !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        Ok(())
    } else {
        Err(format!(
            "rotation hook name {n:?} is not allowed: use 1-64 characters of A-Z a-z 0-9 _ -"
        ))
    }
}

fn validate_update(u: &MetadataUpdate) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidArgument(m));
    if u.max_versions.is_some_and(|n| n > MAX_MAX_VERSIONS) {
        return bad(format!(
            "max_versions is at most {MAX_MAX_VERSIONS} (0 means the default, {DEFAULT_MAX_VERSIONS})"
        ));
    }
    for (name, v) in [("owner", &u.owner), ("purpose", &u.purpose)] {
        if let Some(s) = v {
            if s.len() > 256 || s.chars().any(char::is_control) {
                return bad(format!(
                    "{name} is at most 256 bytes with no control characters"
                ));
            }
        }
    }
    if let Some(c) = &u.custom_metadata {
        if c.len() > MAX_CUSTOM_METADATA {
            return bad(format!(
                "custom_metadata has at most {MAX_CUSTOM_METADATA} entries"
            ));
        }
        for (k, v) in c {
            if k.is_empty() || k.len() > 128 || v.len() > 512 {
                return bad(
                    "custom_metadata keys are 1-128 bytes and values at most 512 bytes".into(),
                );
            }
        }
    }
    if let Some(h) = u.rotation_hook.as_deref().filter(|h| !h.is_empty()) {
        validate_hook_name(h).map_err(Error::InvalidArgument)?;
    }
    if u.rotation_period_days.is_some_and(|d| d > 3650) {
        return bad("rotation_period_days is at most 3650 (0 turns rotation off)".into());
    }
    if u.expires_ms.is_some_and(|e| e < 0) {
        return bad("expires_ms is milliseconds since the epoch (0 clears it)".into());
    }
    if u.delete_version_after_secs
        .is_some_and(|d| !(0..=config::MAX_DELETE_VERSION_AFTER_SECS).contains(&d))
    {
        return bad(format!(
            "delete_version_after is 0 (off) to {} seconds (100 years); it cannot be negative",
            config::MAX_DELETE_VERSION_AFTER_SECS
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
