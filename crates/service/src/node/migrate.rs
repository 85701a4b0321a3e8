//! `strongroom operator migrate-seal`: moves the root key between Shamir
//! shares and a PKCS#11 HSM, offline, on the storage of a stopped server.
//!
//! The root key itself does not change, so no data key and no stored record
//! is touched: only the wrapped root key and the seal configuration are
//! replaced, in one storage transaction. Before that transaction the old
//! wrapping is opened, the recovered root key is checked against the stored
//! root-token record (it must open it), and the new wrapping is opened again
//! and compared. Any failure leaves the storage as it was.

use super::{
    check_split, pkcs11, root_key_aad, shamir, Barrier, Error, Op, Result, SealConfig, SecretBytes,
    Transaction, AES_KEY_LEN, KIND_PKCS11, KIND_SHAMIR, META_ROOT_KEY, META_ROOT_TOKEN,
    META_SEAL_CONFIG, ROOT_TOKEN_IDENTITY,
};
use crate::clock::Clock as _;
use crate::crypto::material::LoadedKey;
use crate::crypto::rng::Rng;
use crate::crypto::spec::KeySpec;
use crate::storage::Store;

/// The seal a storage is sealed with now (None: not initialized).
pub fn current_kind(store: &dyn Store) -> Result<Option<String>> {
    Ok(read_config(store)?.map(|c| c.kind))
}

fn read_config(store: &dyn Store) -> Result<Option<SealConfig>> {
    match store.get_meta(META_SEAL_CONFIG)? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Internal(format!("seal config unreadable: {e}"))),
    }
}

fn initialized(store: &dyn Store) -> Result<SealConfig> {
    read_config(store)?.ok_or_else(|| {
        Error::InvalidArgument(
            "this storage is not initialized; there is nothing to migrate (run `strongroom operator init` on the server instead)".into(),
        )
    })
}

/// The root key must open the stored root-token record.
fn check_root(store: &dyn Store, root: &SecretBytes) -> Result<()> {
    let record = store
        .get_meta(META_ROOT_TOKEN)?
        .ok_or_else(|| Error::Internal("root token record missing".into()))?;
    Barrier::new(root)?.open(ROOT_TOKEN_IDENTITY, &record)?;
    Ok(())
}

fn cluster_bytes(cfg: &SealConfig) -> Result<[u8; 16]> {
    super::cluster_bytes(&cfg.cluster_id)
}

fn wrapped_root(store: &dyn Store) -> Result<Vec<u8>> {
    store
        .get_meta(META_ROOT_KEY)?
        .ok_or_else(|| Error::Internal("root key record missing".into()))
}

/// The root key of a PKCS#11-sealed storage, unwrapped by the HSM key the
/// config names and checked against the stored records; with its AAD.
fn unwrap_root_with_hsm(
    store: &dyn Store,
    cfg: &SealConfig,
    settings: &pkcs11::Pkcs11Settings,
) -> Result<(String, SecretBytes)> {
    if let Some(l) = &cfg.pkcs11_key_label {
        if *l != settings.key_label {
            return Err(Error::InvalidArgument(format!(
                "the root key was wrapped by the HSM key labelled {l:?}, but pkcs11_key_label is {:?}; set pkcs11_key_label = {l:?}",
                settings.key_label
            )));
        }
    }
    let aad = root_key_aad(&cfg.cluster_id);
    let root = pkcs11::unwrap(settings, aad.as_bytes(), &wrapped_root(store)?)?;
    check_root(store, &root)?;
    Ok((aad, root))
}

/// Recovers the root key of a Shamir-sealed storage from share texts.
fn root_from_shares(store: &dyn Store, cfg: &SealConfig, texts: &[String]) -> Result<SecretBytes> {
    root_from_share_texts(cfg, texts, &wrapped_root(store)?)
}

/// Recovers the root key wrapped as `wrapped` from share texts.
pub(super) fn root_from_share_texts(
    cfg: &SealConfig,
    texts: &[String],
    wrapped: &[u8],
) -> Result<SecretBytes> {
    let cluster = cluster_bytes(cfg)?;
    let mut parsed: Vec<shamir::ParsedShare> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        if t.trim().is_empty() {
            continue;
        }
        let p = shamir::parse(t, &cluster).map_err(|e| match e {
            Error::InvalidShare(m) => Error::InvalidShare(format!("share {}: {m}", i + 1)),
            other => other,
        })?;
        if parsed.iter().any(|q| q.x == p.x) {
            return Err(Error::InvalidShare(format!(
                "share {} repeats an earlier share; give {} different shares",
                i + 1,
                cfg.threshold
            )));
        }
        parsed.push(p);
    }
    if parsed.len() < cfg.threshold as usize {
        return Err(Error::InvalidShare(format!(
            "{} share(s) given, {} needed; give one share per line",
            parsed.len(),
            cfg.threshold
        )));
    }
    let unseal_key = shamir::combine(&parsed, cfg.threshold)?;
    let wrap = LoadedKey::load(KeySpec::Aes256Gcm, &unseal_key)
        .map_err(|_| Error::Internal("unseal key did not load".into()))?;
    wrap.aes_open(root_key_aad(&cfg.cluster_id).as_bytes(), wrapped)
        .map_err(|_| {
            Error::InvalidShare(
                "the shares did not reconstruct the unseal key; nothing was changed".into(),
            )
        })
}

fn commit(store: &dyn Store, cfg: &SealConfig, wrapped: Vec<u8>) -> Result<()> {
    let cfg_bytes = serde_json::to_vec(cfg).map_err(|e| Error::Internal(e.to_string()))?;
    store.commit(
        Transaction::new()
            .push(Op::PutMeta {
                name: META_SEAL_CONFIG.into(),
                value: cfg_bytes,
            })
            .push(Op::PutMeta {
                name: META_ROOT_KEY.into(),
                value: wrapped,
            }),
    )?;
    Ok(())
}

/// Shamir → PKCS#11: the shares recover the root key, the HSM key (created
/// or reused by label) wraps it. The old shares are useless afterwards.
pub fn to_pkcs11(
    store: &dyn Store,
    rng: &dyn Rng,
    settings: &pkcs11::Pkcs11Settings,
    share_texts: &[String],
) -> Result<()> {
    let cfg = initialized(store)?;
    if cfg.kind != KIND_SHAMIR {
        return Err(Error::InvalidArgument(format!(
            "this storage is sealed with {:?}, not Shamir shares; nothing to migrate",
            cfg.kind
        )));
    }
    let root = root_from_shares(store, &cfg, share_texts)?;
    check_root(store, &root)?;
    pkcs11::ensure_key(settings)?;
    let aad = root_key_aad(&cfg.cluster_id);
    let wrapped = pkcs11::wrap(settings, rng, aad.as_bytes(), &root)?;
    let back = pkcs11::unwrap(settings, aad.as_bytes(), &wrapped)?;
    if !back.ct_eq(root.expose()) {
        return Err(Error::HsmUnavailable(
            "the HSM did not return the root key it wrapped; nothing was changed".into(),
        ));
    }
    let new_cfg = SealConfig {
        kind: KIND_PKCS11.into(),
        shares: 0,
        threshold: 0,
        pkcs11_key_label: Some(settings.key_label.clone()),
        ..cfg
    };
    commit(store, &new_cfg, wrapped)
}

/// PKCS#11 → Shamir: the HSM unwraps the root key, a new unseal key wraps
/// it and is split into `shares` shares, returned to be handed out once.
pub fn to_shamir(
    store: &dyn Store,
    rng: &dyn Rng,
    settings: &pkcs11::Pkcs11Settings,
    shares: u8,
    threshold: u8,
) -> Result<Vec<SecretBytes>> {
    check_split(shares, threshold)?;
    let cfg = initialized(store)?;
    if cfg.kind != KIND_PKCS11 {
        return Err(Error::InvalidArgument(format!(
            "this storage is sealed with {:?}, not the PKCS#11 seal; nothing to migrate",
            cfg.kind
        )));
    }
    let (aad, root) = unwrap_root_with_hsm(store, &cfg, settings)?;
    let mut unseal_key = SecretBytes::zeroed(AES_KEY_LEN);
    rng.fill(unseal_key.expose_mut())?;
    let wrap = LoadedKey::load(KeySpec::Aes256Gcm, &unseal_key)
        .map_err(|_| Error::Internal("unseal key did not load".into()))?;
    let mut wrapped = Vec::new();
    wrap.aes_seal(aad.as_bytes(), root.expose(), &mut wrapped)
        .map_err(|_| Error::Internal("root key wrap failed".into()))?;
    let cluster = cluster_bytes(&cfg)?;
    let texts = shamir::split(&unseal_key, shares, threshold, &cluster, rng)?;
    // The new shares must give the root key back before anything is stored.
    let as_strings: Vec<String> = texts
        .iter()
        .take(threshold as usize)
        .map(|t| String::from_utf8_lossy(t.expose()).into_owned())
        .collect();
    let new_cfg = SealConfig {
        kind: KIND_SHAMIR.into(),
        shares,
        threshold,
        pkcs11_key_label: None,
        ..cfg
    };
    let check = root_from_wrapped(&new_cfg, &as_strings, &wrapped)?;
    if !check.ct_eq(root.expose()) {
        return Err(Error::Internal(
            "the new shares did not give the root key back; nothing was changed".into(),
        ));
    }
    commit(store, &new_cfg, wrapped)?;
    Ok(texts)
}

fn root_from_wrapped(cfg: &SealConfig, texts: &[String], wrapped: &[u8]) -> Result<SecretBytes> {
    let cluster = cluster_bytes(cfg)?;
    let parsed = texts
        .iter()
        .map(|t| shamir::parse(t, &cluster))
        .collect::<Result<Vec<_>>>()?;
    let unseal_key = shamir::combine(&parsed, cfg.threshold)?;
    LoadedKey::load(KeySpec::Aes256Gcm, &unseal_key)
        .map_err(|_| Error::Internal("unseal key did not load".into()))?
        .aes_open(root_key_aad(&cfg.cluster_id).as_bytes(), wrapped)
        .map_err(|_| Error::Internal("new shares do not open the new wrapping".into()))
}

/// Offline generate-root for the PKCS#11 seal (server stopped): the HSM
/// unwraps the root key, and a new root token replaces the stored one. The
/// authority is what this needs: the server's config and storage, and the
/// HSM PIN (docs/OPERATIONS.md, "Rekey, generate-root, revoke-root").
pub fn generate_root_pkcs11(
    store: &dyn Store,
    rng: &dyn Rng,
    settings: &pkcs11::Pkcs11Settings,
    audit: &super::AuditConfig,
) -> Result<SecretBytes> {
    let cfg = read_config(store)?.ok_or(Error::NotInitialized)?;
    if cfg.kind != KIND_PKCS11 {
        return Err(Error::InvalidArgument(format!(
            "this storage is sealed with {:?}, not the PKCS#11 seal: start the server and run `strongroom operator generate-root` with a quorum of unseal shares",
            cfg.kind
        )));
    }
    let (_, root) = unwrap_root_with_hsm(store, &cfg, settings)?;
    let barrier = Barrier::new(&root)?;
    let token = crate::auth::new_token(rng)?;
    let record = barrier.seal(
        ROOT_TOKEN_IDENTITY,
        &crate::auth::token_hash(token.expose()),
    )?;
    // Audited like the online command, in the server's own log (its
    // signing key is sealed under the root key): the intent first, and
    // nothing is stored if that record cannot be written.
    let log = open_audit_offline(store, &barrier, audit)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("runtime: {e}")))?;
    let record_event = |outcome: &str, code: Option<&str>| {
        rt.block_on(log.append(crate::audit::AuditEvent {
            time_ms: crate::clock::SystemClock.now_ms(),
            request_id: crate::crypto::rng::request_id(rng),
            identity: "offline-hsm-operator".into(),
            source: "internal".into(),
            operation: "strongroom:GenerateRoot".into(),
            key_id: None,
            key_version: None,
            outcome: outcome.into(),
            error_code: code.map(str::to_string),
            root: true,
            detail: Some("operator generate-root --config (PKCS#11 seal, offline)".into()),
        }))
        .map(|_| ())
        .map_err(|e| Error::StorageUnavailable(format!("audit log: {e}")))
    };
    record_event("pending", None)?;
    let done = store
        .commit(Transaction::new().push(Op::PutMeta {
            name: META_ROOT_TOKEN.into(),
            value: record,
        }))
        .map_err(Error::from);
    match &done {
        Ok(()) => record_event("allowed", None)?,
        Err(e) => record_event("error", Some(e.code()))?,
    }
    done?;
    Ok(token)
}

fn open_audit_offline(
    store: &dyn Store,
    barrier: &Barrier,
    audit: &super::AuditConfig,
) -> Result<crate::audit::AuditLog> {
    let sealed = store.get_meta(super::META_AUDIT_KEY)?.ok_or_else(|| {
        Error::Internal("the audit signing key is missing; start the server once first".into())
    })?;
    let key = barrier.open(super::AUDIT_KEY_IDENTITY, &sealed)?;
    crate::audit::AuditLog::open(&audit.path, key.expose(), audit.checkpoint_every).map_err(|e| {
        Error::StorageUnavailable(format!(
            "cannot open the audit log {}: {e}",
            audit.path.display()
        ))
    })
}
