//! `strongroom backup restore`: writes a backup into an EMPTY storage,
//! offline, with the server stopped (`docs/LIFECYCLE.md`).
//!
//! The backup's header carries the seal metadata as it was stored (seal
//! config, wrapped root key, sealed root-token and audit-key records). The
//! root key is recovered from the wrapped root key with the unseal shares
//! (Shamir) or the configured HSM (PKCS#11); it must open the root-token
//! record and the sealed snapshot, whose `header_sha256` must match the
//! header. Then the metadata and every row are written in one transaction
//! (the seal config with `InsertMeta`, so a concurrent init conflicts).
//! Any failure leaves the storage as it was.

use base64::Engine as _;

use super::{
    migrate, pkcs11, root_key_aad, Barrier, Error, Op, Result, SealConfig, Transaction,
    KIND_PKCS11, KIND_SHAMIR, META_AUDIT_KEY, META_ROOT_KEY, META_ROOT_TOKEN, META_SEAL_CONFIG,
    ROOT_TOKEN_IDENTITY,
};
use crate::keys::engine::backup;
use crate::storage::Store;

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    pub seal: String,
    pub keys: usize,
    pub versions: usize,
    pub records: usize,
}

fn unb64(what: &str, s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| Error::InvalidArgument(format!("the backup header's {what} is not base64")))
}

/// Restores `blob` into `store`, which must be empty. `share_texts` are used
/// for a Shamir seal; `hsm` gives the HSM settings for a PKCS#11 seal.
pub fn restore(
    store: &dyn Store,
    blob: &[u8],
    share_texts: &[String],
    hsm: &dyn Fn() -> Result<pkcs11::Pkcs11Settings>,
) -> Result<RestoreSummary> {
    if store.get_meta(META_SEAL_CONFIG)?.is_some() || !store.load_keys()?.is_empty() {
        return Err(Error::InvalidArgument(
            "the storage named by the config is already initialized; a backup is restored only into an empty storage (point storage_path at a new file or database). Nothing was changed".into(),
        ));
    }
    let header = backup::read_header(blob)?;
    let cfg_bytes = unb64("seal config", &header.seal_config)?;
    let cfg: SealConfig = serde_json::from_slice(&cfg_bytes).map_err(|e| {
        Error::InvalidArgument(format!("the backup's seal config is unreadable: {e}"))
    })?;
    let wrapped = unb64("root key", &header.root_key)?;
    let root_token = unb64("root token", &header.root_token)?;
    let audit_key = match &header.audit_key {
        Some(a) => Some(unb64("audit key", a)?),
        None => None,
    };
    let root = match cfg.kind.as_str() {
        KIND_SHAMIR => migrate::root_from_share_texts(&cfg, share_texts, &wrapped)?,
        KIND_PKCS11 => {
            let settings = hsm()?;
            if let Some(l) = &cfg.pkcs11_key_label {
                if *l != settings.key_label {
                    return Err(Error::InvalidArgument(format!(
                        "the backup's root key was wrapped by the HSM key labelled {l:?}, but pkcs11_key_label is {:?}; set pkcs11_key_label = {l:?}",
                        settings.key_label
                    )));
                }
            }
            pkcs11::unwrap(
                &settings,
                root_key_aad(&cfg.cluster_id).as_bytes(),
                &wrapped,
            )?
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "the backup's seal type {other:?} is not one this version restores"
            )))
        }
    };
    let barrier = Barrier::new(&root)?;
    barrier
        .open(ROOT_TOKEN_IDENTITY, &root_token)
        .map_err(|_| {
            Error::InvalidShare(
                "the recovered root key does not open the backup's root-token record; nothing was changed".into(),
            )
        })?;
    let snap = backup::open_snapshot(&barrier, blob)?;
    let (keys, versions, records) = snap.counts();
    let mut tx = Transaction::new()
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
            value: root_token,
        });
    if let Some(a) = audit_key {
        tx = tx.push(Op::PutMeta {
            name: META_AUDIT_KEY.into(),
            value: a,
        });
    }
    let tx = backup::restore_ops(&snap, tx)?;
    store.commit(tx)?;
    Ok(RestoreSummary {
        seal: cfg.kind,
        keys,
        versions,
        records,
    })
}
