//! The seal: the root key that protects every stored record, and the state
//! machine around it (uninitialized → sealed → unsealed). While sealed the
//! server holds no key material; unsealing needs `threshold` Shamir shares of
//! the unseal key, which decrypts the stored root key — or, with
//! `seal = "pkcs11"`, the HSM key that wraps the root key (see [`pkcs11`]);
//! such a server unseals itself at start.

mod hsm;
pub mod migrate;
pub mod restore;
mod root;

pub use strongroom_engine::seal::{barrier, pkcs11, shamir};
pub(crate) use strongroom_engine::seal::{
    AUDIT_KEY_IDENTITY, META_AUDIT_KEY, META_ROOT_KEY, META_ROOT_TOKEN, META_SEAL_CONFIG,
    ROOT_TOKEN_IDENTITY,
};

pub use root::{NewRoot, RekeyPlan};

use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::audit::AuditLog;
use crate::auth::{self, Principal};
use crate::clock::SharedClock;
use crate::crypto::material::{LoadedKey, AES_KEY_LEN};
use crate::crypto::rng::SharedRng;
use crate::crypto::spec::KeySpec;
use crate::crypto::SecretBytes;
use crate::error::{Error, Result};
use crate::identity::Registry;
use crate::keys::engine::{Engine, EngineConfig};
use crate::storage::{Op, Store, Transaction};
use barrier::Barrier;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SealConfig {
    version: u32,
    #[serde(rename = "type")]
    kind: String,
    shares: u8,
    threshold: u8,
    cluster_id: String,
    /// The HSM key's label (kind "pkcs11" only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs11_key_label: Option<String>,
}

const KIND_SHAMIR: &str = "shamir";
const KIND_PKCS11: &str = "pkcs11";

/// How this server's root key is protected (from the config).
pub enum SealKind {
    /// Shamir shares of an unseal key (the default).
    Shamir,
    /// An AES key inside a PKCS#11 HSM; the server unseals itself.
    Pkcs11(pkcs11::Pkcs11Settings),
}

impl SealKind {
    fn name(&self) -> &'static str {
        match self {
            SealKind::Shamir => KIND_SHAMIR,
            SealKind::Pkcs11(_) => KIND_PKCS11,
        }
    }
}

enum State {
    Uninitialized,
    Sealed {
        progress: Vec<shamir::ParsedShare>,
    },
    Unsealed {
        services: Arc<Services>,
        root_token_hash: SecretBytes,
    },
}

/// What `operator status` shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealStatus {
    pub initialized: bool,
    pub sealed: bool,
    pub shares: u8,
    pub threshold: u8,
    pub progress: u8,
    pub storage: String,
    /// "shamir" or "pkcs11": the stored seal when initialized, else the configured one.
    #[serde(default)]
    pub seal_type: String,
    /// Why the server is still sealed when the HSM could not unseal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_error: Option<String>,
}

/// What exists only while unsealed: the key engine, the identity registry
/// and the audit log (each opened with the root key).
pub struct Services {
    pub engine: Arc<Engine>,
    pub registry: Arc<Registry>,
    /// Versioned secrets, sealed under the same barrier.
    pub secrets: Arc<strongroom_engine::secrets::Secrets>,
    /// `None` only on a dev server started with `--dev-no-audit`.
    pub audit: Option<Arc<AuditLog>>,
    /// Seals records under the root key (the root token's, in [`root`]).
    pub(crate) barrier: Arc<Barrier>,
    /// The node's storage, for the service's own records (scan reports).
    pub store: Arc<dyn Store>,
    /// The node's injected clock and RNG: request times and ids come from
    /// them, so audit times agree with key dates on a moved dev clock.
    pub clock: SharedClock,
    pub rng: SharedRng,
    /// The operator-configured rotation hooks (secrets of kind `hook`).
    pub rotation_hooks: Arc<crate::hooks::RotationHooks>,
}

impl Services {
    /// Milliseconds since the epoch, from the injected clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A fresh request id, from the injected RNG.
    pub fn request_id(&self) -> String {
        crate::crypto::rng::request_id(self.rng.as_ref())
    }

    /// A restore drill of `backup` into a scratch in-memory SQLite store
    /// (see `Engine::drill`).
    pub fn drill(&self, backup: &[u8]) -> Result<crate::keys::engine::DrillReport> {
        let scratch: Arc<dyn Store> =
            Arc::new(strongroom_store_sql::sqlite::SqliteStore::open(":memory:")?);
        self.engine.drill(backup, scratch)
    }

    /// An audit record of something the node did by itself (scheduled
    /// rotation, the destruction sweep): identity `system`, source `internal`.
    pub fn system_event(
        &self,
        operation: &str,
        key_id: &str,
        version: Option<u32>,
        outcome: &str,
        detail: String,
    ) -> crate::audit::AuditEvent {
        crate::audit::AuditEvent {
            time_ms: self.now_ms(),
            request_id: self.request_id(),
            identity: "system".into(),
            source: "internal".into(),
            operation: operation.into(),
            key_id: Some(key_id.to_string()),
            key_version: version,
            outcome: outcome.into(),
            error_code: None,
            root: false,
            detail: Some(detail),
        }
    }

    /// Appends one audit record durably (a no-op when audit is off in dev).
    pub async fn audit_append(
        &self,
        ev: crate::audit::AuditEvent,
    ) -> std::result::Result<(), crate::audit::AuditError> {
        match &self.audit {
            Some(a) => a.append(ev).await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// The audit log, or a clear error when it was turned off (dev only).
    pub fn audit_log(&self) -> Result<&AuditLog> {
        self.audit.as_deref().ok_or_else(|| {
            Error::InvalidArgument(
                "audit logging is off on this dev server (--dev-no-audit); restart without that flag".into(),
            )
        })
    }
}

/// Where the audit log goes, and how often it is checkpointed.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub path: std::path::PathBuf,
    pub checkpoint_every: u64,
    /// Off only for dev-mode measurements (`--dev-no-audit`).
    pub enabled: bool,
    /// Rotation by size and age, and retention (docs/AUDIT.md, "Rotation").
    pub rotation: crate::audit::Rotation,
    /// Health and `/metrics` warn below this much free space on the audit
    /// log's filesystem (0: never).
    pub low_space_bytes: u64,
}

/// Free space on the audit log's filesystem, against the warning threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditDisk {
    /// Bytes an unprivileged writer may still use (statvfs `f_bavail`).
    pub free_bytes: u64,
    pub threshold_bytes: u64,
}

impl AuditDisk {
    /// Below the threshold: health and `/metrics` warn.
    pub fn low(&self) -> bool {
        self.free_bytes < self.threshold_bytes
    }

    /// The warning health shows, if any.
    pub fn warning(&self) -> Option<String> {
        self.low().then(|| {
            format!(
                "the audit log's filesystem has {} MiB free, below audit_low_space_bytes ({} MiB): when it fills, every request is refused (503); free space or move audit_path",
                self.free_bytes >> 20,
                self.threshold_bytes >> 20
            )
        })
    }
}

/// Test setup shared by engine, scheduler and sweep tests: a dev seal
/// (auto-initialized, audit log in the temp directory) over an in-memory
/// SQLite store, on a manual clock starting at `t0`.
#[cfg(test)]
pub(crate) fn dev_seal_on_manual_clock(
    t0: crate::clock::Timestamp,
) -> (Seal, Arc<crate::clock::ManualClock>) {
    let store: Arc<dyn Store> =
        Arc::new(strongroom_store_sql::sqlite::SqliteStore::open(":memory:").expect("open sqlite"));
    let clock = Arc::new(crate::clock::ManualClock::new(t0));
    let shared: crate::clock::SharedClock = clock.clone();
    let seal = Seal::open(
        store,
        shared,
        Arc::new(crate::crypto::rng::SystemRng),
        EngineConfig::default(),
        AuditConfig::in_temp_dir(),
    )
    .expect("open seal");
    seal.init_dev(None).expect("init_dev");
    (seal, clock)
}

impl AuditConfig {
    /// A fresh log file in the temp directory (dev mode and tests).
    pub fn in_temp_dir() -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        AuditConfig {
            path: std::env::temp_dir().join(format!(
                "strongroom-audit-{}-{n}-{nanos}.jsonl",
                std::process::id()
            )),
            checkpoint_every: 1000,
            enabled: true,
            rotation: crate::audit::Rotation::default(),
            low_space_bytes: 0,
        }
    }
}

/// Printed once at init.
pub struct InitOutput {
    pub shares: Vec<SecretBytes>,
    pub root_token: SecretBytes,
}

pub struct Seal {
    store: Arc<dyn Store>,
    clock: SharedClock,
    rng: SharedRng,
    engine_cfg: EngineConfig,
    audit_cfg: AuditConfig,
    state: RwLock<State>,
    kind: SealKind,
    /// The last HSM unseal failure (shown by `status` while sealed).
    seal_error: Mutex<Option<String>>,
    rotation_hooks: Arc<crate::hooks::RotationHooks>,
}

fn cluster_bytes(hex: &str) -> Result<[u8; 16]> {
    let u = uuid::Uuid::try_parse(hex).map_err(|_| Error::Internal("bad cluster id".into()))?;
    Ok(*u.as_bytes())
}

fn root_key_aad(cluster: &str) -> String {
    format!("strongroom/root-key/{cluster}")
}

impl Seal {
    /// Reads the seal configuration; the result is uninitialized or sealed.
    pub fn open(
        store: Arc<dyn Store>,
        clock: SharedClock,
        rng: SharedRng,
        engine_cfg: EngineConfig,
        audit_cfg: AuditConfig,
    ) -> Result<Self> {
        let state = match store.get_meta(META_SEAL_CONFIG)? {
            None => State::Uninitialized,
            Some(_) => State::Sealed {
                progress: Vec::new(),
            },
        };
        Ok(Self {
            store,
            clock,
            rng,
            engine_cfg,
            audit_cfg,
            state: RwLock::new(state),
            kind: SealKind::Shamir,
            seal_error: Mutex::new(None),
            rotation_hooks: Arc::default(),
        })
    }

    /// The operator's rotation hooks (`[[secret_rotation_hook]]`).
    pub fn with_rotation_hooks(mut self, hooks: crate::hooks::RotationHooks) -> Self {
        self.rotation_hooks = Arc::new(hooks);
        self
    }

    /// Uses a PKCS#11 HSM instead of Shamir shares (`seal = "pkcs11"`).
    pub fn with_pkcs11(mut self, settings: pkcs11::Pkcs11Settings) -> Self {
        self.kind = SealKind::Pkcs11(settings);
        self
    }

    fn config(&self) -> Result<Option<SealConfig>> {
        match self.store.get_meta(META_SEAL_CONFIG)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Internal(format!("seal config unreadable: {e}"))),
        }
    }

    fn lock(&self) -> Result<std::sync::RwLockWriteGuard<'_, State>> {
        self.state
            .write()
            .map_err(|_| Error::Internal("seal lock poisoned".into()))
    }

    /// Free space on the audit log's filesystem, when a threshold is set and
    /// the audit log is on (`None` otherwise, or when the filesystem cannot
    /// be asked).
    pub fn audit_disk(&self) -> Option<AuditDisk> {
        if self.audit_cfg.low_space_bytes == 0 || !self.audit_cfg.enabled {
            return None;
        }
        let path = &self.audit_cfg.path;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        let free_bytes = fs2::available_space(dir).ok()?;
        Some(AuditDisk {
            free_bytes,
            threshold_bytes: self.audit_cfg.low_space_bytes,
        })
    }

    pub fn status(&self) -> Result<SealStatus> {
        let cfg = self.config()?;
        let st = self
            .state
            .read()
            .map_err(|_| Error::Internal("seal lock poisoned".into()))?;
        let (sealed, progress) = match &*st {
            State::Uninitialized => (true, 0),
            State::Sealed { progress } => (true, progress.len() as u8),
            State::Unsealed { .. } => (false, 0),
        };
        let seal_error = if sealed {
            self.seal_error.lock().ok().and_then(|e| e.clone())
        } else {
            None
        };
        Ok(SealStatus {
            seal_type: cfg
                .as_ref()
                .map(|c| c.kind.clone())
                .unwrap_or_else(|| self.kind.name().to_string()),
            seal_error,
            initialized: cfg.is_some(),
            sealed,
            shares: cfg.as_ref().map(|c| c.shares).unwrap_or(0),
            threshold: cfg.as_ref().map(|c| c.threshold).unwrap_or(0),
            progress,
            storage: self.store.backend().to_string(),
        })
    }

    /// Creates the root key and unseal key, splits the latter, stores the
    /// sealed root key, and returns the shares and a root token. The server
    /// stays sealed.
    pub fn init(&self, shares: u8, threshold: u8) -> Result<InitOutput> {
        self.init_with_token(shares, threshold, None)
    }

    fn init_with_token(
        &self,
        shares: u8,
        threshold: u8,
        root_token: Option<SecretBytes>,
    ) -> Result<InitOutput> {
        if let SealKind::Pkcs11(_) = self.kind {
            return Err(Error::InvalidArgument(
                "this server uses the PKCS#11 seal (seal = \"pkcs11\"): it has no unseal shares; run `strongroom operator init` without --shares/--threshold".into(),
            ));
        }
        check_split(shares, threshold)?;
        let mut st = self.lock()?;
        if !matches!(*st, State::Uninitialized) {
            return Err(Error::AlreadyInitialized);
        }
        let mut cid = [0u8; 16];
        self.rng.fill(&mut cid)?;
        let cluster = uuid::Builder::from_random_bytes(cid).into_uuid();
        let cluster_s = cluster.hyphenated().to_string();
        let mut root = SecretBytes::zeroed(AES_KEY_LEN);
        self.rng.fill(root.expose_mut())?;
        let mut unseal_key = SecretBytes::zeroed(AES_KEY_LEN);
        self.rng.fill(unseal_key.expose_mut())?;
        let wrap = LoadedKey::load(KeySpec::Aes256Gcm, &unseal_key)
            .map_err(|_| Error::Internal("unseal key did not load".into()))?;
        let mut wrapped = Vec::new();
        wrap.aes_seal(
            root_key_aad(&cluster_s).as_bytes(),
            root.expose(),
            &mut wrapped,
        )
        .map_err(|_| Error::Internal("root key wrap failed".into()))?;
        let token = match root_token {
            Some(t) => t,
            None => auth::new_token(self.rng.as_ref())?,
        };
        let barrier = Barrier::new(&root)?;
        let token_record = barrier.seal(ROOT_TOKEN_IDENTITY, &auth::token_hash(token.expose()))?;
        let cfg = SealConfig {
            version: 1,
            kind: KIND_SHAMIR.into(),
            shares,
            threshold,
            cluster_id: cluster_s,
            pkcs11_key_label: None,
        };
        let cfg_bytes = serde_json::to_vec(&cfg).map_err(|e| Error::Internal(e.to_string()))?;
        let share_texts = shamir::split(
            &unseal_key,
            shares,
            threshold,
            cluster.as_bytes(),
            self.rng.as_ref(),
        )?;
        self.store_custody(cfg_bytes, wrapped, token_record)?;
        *st = State::Sealed {
            progress: Vec::new(),
        };
        Ok(InitOutput {
            shares: share_texts,
            root_token: token,
        })
    }

    /// Dev mode: initialize with one share and unseal at once.
    pub fn init_dev(&self, root_token: Option<SecretBytes>) -> Result<SecretBytes> {
        if root_token
            .as_ref()
            .is_some_and(|t| t.len() < 8 || t.expose().iter().any(|b| !b.is_ascii_graphic()))
        {
            return Err(Error::InvalidArgument(
                "--dev-root-token must be at least 8 printable characters without spaces".into(),
            ));
        }
        let out = self.init_with_token(1, 1, root_token)?;
        let share = String::from_utf8(out.shares[0].expose().to_vec())
            .map_err(|_| Error::Internal("share text".into()))?;
        self.unseal(&share)?;
        Ok(out.root_token)
    }

    /// Takes one share. When the threshold is reached, unseals.
    pub fn unseal(&self, share_text: &str) -> Result<SealStatus> {
        let cfg = self.config()?.ok_or(Error::NotInitialized)?;
        if let SealKind::Pkcs11(_) = self.kind {
            return Err(Error::InvalidArgument(
                "this server uses the PKCS#11 seal (seal = \"pkcs11\"): it unseals itself with the HSM and takes no shares. See `strongroom operator status` for the HSM error, fix it, then run `strongroom operator unseal --hsm` (or restart the server)".into(),
            ));
        }
        if cfg.kind != KIND_SHAMIR {
            return Err(Error::InvalidArgument(format!(
                "the storage is sealed with {:?}, not Shamir shares; set seal = {:?} and its settings in the server config and restart",
                cfg.kind, cfg.kind
            )));
        }
        let cluster = cluster_bytes(&cfg.cluster_id)?;
        {
            let mut st = self.lock()?;
            let progress = match &mut *st {
                State::Unsealed { .. } => {
                    drop(st);
                    return self.status();
                }
                State::Uninitialized => return Err(Error::NotInitialized),
                State::Sealed { progress } => progress,
            };
            let share = shamir::parse(share_text, &cluster)?;
            if progress.iter().any(|s| s.x == share.x) {
                return Err(Error::InvalidShare(
                    "this share was already submitted in this unseal attempt; submit a different one".into(),
                ));
            }
            progress.push(share);
            if progress.len() >= cfg.threshold as usize {
                let shares = std::mem::take(progress);
                let unseal_key = shamir::combine(&shares, cfg.threshold)?;
                let engine_and_token = self.unlock(&cfg, &unseal_key);
                match engine_and_token {
                    Ok((services, root_token_hash)) => {
                        *st = State::Unsealed {
                            services: Arc::new(services),
                            root_token_hash,
                        };
                        tracing::info!("unsealed");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "unseal failed; progress reset");
                        // Only a root key that fails to unwrap blames the shares
                        // (`unlock` says so itself); a corrupt record stays an
                        // internal error and the server stays sealed.
                        return Err(e);
                    }
                }
            }
        }
        self.status()
    }

    fn unlock(
        &self,
        cfg: &SealConfig,
        unseal_key: &SecretBytes,
    ) -> Result<(Services, SecretBytes)> {
        let wrapped = self
            .store
            .get_meta(META_ROOT_KEY)?
            .ok_or_else(|| Error::Internal("root key record missing".into()))?;
        let wrap = LoadedKey::load(KeySpec::Aes256Gcm, unseal_key)
            .map_err(|_| Error::Internal("unseal key did not load".into()))?;
        let root = wrap
            .aes_open(root_key_aad(&cfg.cluster_id).as_bytes(), &wrapped)
            .map_err(|_| {
                Error::InvalidShare(
                    "the shares did not reconstruct the unseal key; progress was reset, submit the shares again".into(),
                )
            })?;
        self.open_services(&root)
    }

    /// Everything after the root key is known: the barrier, root token,
    /// audit log, engine and registry.
    fn open_services(&self, root: &SecretBytes) -> Result<(Services, SecretBytes)> {
        let barrier = Arc::new(Barrier::new(root)?);
        let token_record = self
            .store
            .get_meta(META_ROOT_TOKEN)?
            .ok_or_else(|| Error::Internal("root token record missing".into()))?;
        let token_hash = barrier.open(ROOT_TOKEN_IDENTITY, &token_record)?;
        let started = std::time::Instant::now();
        let audit = if self.audit_cfg.enabled {
            Some(Arc::new(self.open_audit(&barrier)?))
        } else {
            None
        };
        let audit_ms = started.elapsed().as_millis();
        let engine = Engine::load(
            self.store.clone(),
            barrier.clone(),
            self.clock.clone(),
            self.rng.clone(),
            self.engine_cfg.clone(),
        )?;
        let engine_ms = started.elapsed().as_millis() - audit_ms;
        let registry = Registry::load(
            self.store.clone(),
            barrier.clone(),
            self.clock.clone(),
            self.rng.clone(),
        )?;
        tracing::info!(
            keys = engine.key_count(),
            audit_ms,
            engine_ms,
            total_ms = started.elapsed().as_millis(),
            "services opened"
        );
        Ok((
            Services {
                engine: Arc::new(engine),
                registry: Arc::new(registry),
                secrets: Arc::new(strongroom_engine::secrets::Secrets::new(
                    self.store.clone(),
                    barrier.clone(),
                    self.clock.clone(),
                )),
                audit,
                barrier,
                store: self.store.clone(),
                clock: self.clock.clone(),
                rng: self.rng.clone(),
                rotation_hooks: self.rotation_hooks.clone(),
            },
            token_hash,
        ))
    }

    /// Opens the audit log with its signing key, which is created on first
    /// use and kept sealed under the barrier. A log that cannot be opened
    /// (unwritable, or a broken chain) keeps the server sealed.
    fn open_audit(&self, barrier: &Barrier) -> Result<AuditLog> {
        let key = match self.store.get_meta(META_AUDIT_KEY)? {
            Some(sealed) => barrier.open(AUDIT_KEY_IDENTITY, &sealed)?,
            None => {
                let k = SecretBytes::new(
                    crate::audit::generate_signing_key()
                        .map_err(|e| Error::Internal(format!("audit signing key: {e}")))?,
                );
                let sealed = barrier.seal(AUDIT_KEY_IDENTITY, k.expose())?;
                self.store.commit(Transaction::new().push(Op::PutMeta {
                    name: META_AUDIT_KEY.into(),
                    value: sealed,
                }))?;
                k
            }
        };
        AuditLog::open_rotating(
            &self.audit_cfg.path,
            key.expose(),
            self.audit_cfg.checkpoint_every,
            self.audit_cfg.rotation,
        )
        .map_err(|e| match e {
            // The client's error names the audit file, not the database.
            crate::audit::AuditError::Unavailable(m) => Error::AuditOpenFailed(m),
            crate::audit::AuditError::Tampered { index, reason } => Error::AuditTampered {
                path: self.audit_cfg.path.display().to_string(),
                index,
                reason,
            },
            other => Error::Internal(format!(
                "audit log {}: {other}",
                self.audit_cfg.path.display()
            )),
        })
    }

    /// Drops the engine and every cached key; the server is sealed again.
    pub fn seal(&self) -> Result<()> {
        let mut st = self.lock()?;
        if let State::Unsealed { services, .. } = &*st {
            // Cached secret values are zeroized now, not when the last
            // request holding these services ends.
            services.secrets.clear_cache();
        }
        if matches!(*st, State::Unsealed { .. }) {
            *st = State::Sealed {
                progress: Vec::new(),
            };
            tracing::info!("sealed: key material dropped from memory");
        }
        Ok(())
    }

    /// The engine, or `Sealed` / `NotInitialized`.
    pub fn engine(&self) -> Result<Arc<Engine>> {
        let st = self
            .state
            .read()
            .map_err(|_| Error::Internal("seal lock poisoned".into()))?;
        match &*st {
            State::Unsealed { services, .. } => Ok(services.engine.clone()),
            State::Sealed { .. } => Err(Error::Sealed),
            State::Uninitialized => Err(Error::NotInitialized),
        }
    }

    /// Engine, registry and audit log, or `Sealed` / `NotInitialized`.
    pub fn services(&self) -> Result<Arc<Services>> {
        let st = self
            .state
            .read()
            .map_err(|_| Error::Internal("seal lock poisoned".into()))?;
        match &*st {
            State::Unsealed { services, .. } => Ok(services.clone()),
            State::Sealed { .. } => Err(Error::Sealed),
            State::Uninitialized => Err(Error::NotInitialized),
        }
    }

    /// The node's injected clock (request times, key dates).
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The node's injected RNG (request ids, nonces, keys).
    pub fn rng(&self) -> &SharedRng {
        &self.rng
    }

    pub fn is_unsealed(&self) -> bool {
        self.state
            .read()
            .map(|s| matches!(*s, State::Unsealed { .. }))
            .unwrap_or(false)
    }

    /// Authenticates a bearer token: the root token, or an identity's token.
    pub fn authenticate(&self, token: &[u8]) -> Result<Principal> {
        if token.is_empty() {
            return Err(Error::Unauthenticated);
        }
        let registry = {
            let st = self
                .state
                .read()
                .map_err(|_| Error::Internal("seal lock poisoned".into()))?;
            match &*st {
                State::Unsealed {
                    root_token_hash,
                    services,
                } => {
                    // An empty hash is a revoked root token (`operator revoke-root`).
                    if !root_token_hash.expose().is_empty()
                        && auth::token_matches(token, root_token_hash.expose())
                    {
                        if !self.root_token_still_valid(services, token) {
                            return Err(Error::Unauthenticated);
                        }
                        return Ok(Principal::root());
                    }
                    services.registry.clone()
                }
                State::Sealed { .. } => return Err(Error::Sealed),
                State::Uninitialized => return Err(Error::NotInitialized),
            }
        };
        registry.authenticate(token)
    }
}

impl Seal {
    /// Stores a new installation's custody records in one transaction: the
    /// seal configuration (which must not exist yet), the wrapped root key
    /// and the sealed root token. A second init loses the race cleanly.
    fn store_custody(
        &self,
        cfg_bytes: Vec<u8>,
        wrapped: Vec<u8>,
        token_record: Vec<u8>,
    ) -> Result<()> {
        self.store
            .commit(
                Transaction::new()
                    .push(Op::InsertMeta {
                        name: META_SEAL_CONFIG.into(),
                        value: cfg_bytes,
                    })
                    .push(Op::PutMeta {
                        name: META_ROOT_KEY.into(),
                        value: wrapped,
                    })
                    .push(Op::PutMeta {
                        name: META_ROOT_TOKEN.into(),
                        value: token_record,
                    }),
            )
            .map_err(|e| match e {
                crate::storage::StoreError::Conflict(_) => Error::AlreadyInitialized,
                other => other.into(),
            })?;
        Ok(())
    }
}

/// Checks a share count and threshold for a Shamir split.
fn check_split(shares: u8, threshold: u8) -> Result<()> {
    if shares == 0 || threshold == 0 || threshold > shares {
        return Err(Error::InvalidArgument(format!(
            "--threshold must be between 1 and --shares (got shares={shares}, threshold={threshold})"
        )));
    }
    if threshold == 1 && shares > 1 {
        return Err(Error::InvalidArgument(
            "threshold 1 with several shares would let any single share unseal; use --threshold 2 or more, or --shares 1".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod pkcs11_tests;
#[cfg(test)]
mod tests;
