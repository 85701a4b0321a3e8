//! Operator commands after init (docs/OPERATIONS.md, "Rekey, generate-root,
//! revoke-root"):
//!
//! - **rekey**: a quorum of the current shares makes a new unseal key, split
//!   into a new number of shares with a new threshold; the root key is
//!   re-wrapped under it, so the old shares stop working. No data key changes.
//! - **generate-root**: a quorum of the current shares replaces the root
//!   token with a new one (the old one, if any, stops working).
//! - **revoke-root**: the root token revokes itself.
//!
//! Each is split into a `*_prepare` that checks everything and changes
//! nothing, and a commit, so the HTTP handler can write the audit record in
//! between: a change that cannot be audited is not made (fail closed).
//! Splitting and recombining is blahaj's, through [`shamir`].

use super::{
    auth, check_split, cluster_bytes, root_key_aad, shamir, Error, KeySpec, LoadedKey, Op, Result,
    SealConfig, SealKind, SecretBytes, State, Transaction, AES_KEY_LEN, KIND_SHAMIR, META_ROOT_KEY,
    META_ROOT_TOKEN, META_SEAL_CONFIG, ROOT_TOKEN_IDENTITY,
};

/// A checked rekey, not yet stored.
pub struct RekeyPlan {
    config: Vec<u8>,
    /// The wrapped root key the old shares opened: the commit replaces it
    /// only if it is still the stored one (compare-and-set), so two rekeys
    /// that checked the same old shares (on two nodes) cannot both win.
    old_wrapped_root: Vec<u8>,
    wrapped_root: Vec<u8>,
    /// The new shares, returned once by [`super::Seal::rekey_commit`].
    shares: Vec<SecretBytes>,
    pub shares_count: u8,
    pub threshold: u8,
}

/// A checked root-token replacement, not yet stored.
pub struct NewRoot {
    token: SecretBytes,
    record: Vec<u8>,
    hash: SecretBytes,
    /// What the quorum was checked against: the wrapped root key, and the
    /// root-token record it replaces (compare-and-set at commit).
    wrapped_root: Vec<u8>,
    old_record: Option<Vec<u8>>,
}

impl super::Seal {
    /// The Shamir seal configuration, or why these commands don't apply.
    fn shamir_config(&self) -> Result<SealConfig> {
        let cfg = self.config()?.ok_or(Error::NotInitialized)?;
        if matches!(self.kind, SealKind::Pkcs11(_)) || cfg.kind != KIND_SHAMIR {
            return Err(Error::InvalidArgument(
                "this server's root key is wrapped by the PKCS#11 HSM: it has no unseal shares, so rekey does not apply, and a new root token comes from `strongroom operator generate-root --config FILE` with the server stopped (docs/OPERATIONS.md)".into(),
            ));
        }
        Ok(cfg)
    }

    /// Checks a quorum of current shares and returns the root key they
    /// unlock: each share is parsed (framing, checksum, installation), a
    /// share given twice is refused, too few are refused, and the
    /// recombined unseal key must unwrap the stored root key.
    /// Also returns the wrapped root key it opened, for the commit's
    /// compare-and-set.
    fn root_from_quorum(
        &self,
        cfg: &SealConfig,
        texts: &[String],
    ) -> Result<(SecretBytes, Vec<u8>)> {
        let needed = cfg.threshold as usize;
        if texts.len() < needed {
            return Err(Error::InvalidShare(format!(
                "{} given, but {needed} of the {} current shares are needed",
                plural(texts.len(), "share"),
                cfg.shares
            )));
        }
        let cluster = cluster_bytes(&cfg.cluster_id)?;
        let mut parsed: Vec<shamir::ParsedShare> = Vec::with_capacity(texts.len());
        for (i, t) in texts.iter().enumerate() {
            let s = shamir::parse(t, &cluster).map_err(|e| match e {
                Error::InvalidShare(m) => Error::InvalidShare(format!("share {}: {m}", i + 1)),
                other => other,
            })?;
            if parsed.iter().any(|p| p.x == s.x) {
                return Err(Error::InvalidShare(format!(
                    "share {} was given twice; give {needed} different shares",
                    i + 1
                )));
            }
            parsed.push(s);
        }
        let unseal_key = shamir::combine(&parsed, cfg.threshold)?;
        let wrapped = self
            .store
            .get_meta(META_ROOT_KEY)?
            .ok_or_else(|| Error::Internal("root key record missing".into()))?;
        let wrap = LoadedKey::load(KeySpec::Aes256Gcm, &unseal_key)
            .map_err(|_| Error::Internal("unseal key did not load".into()))?;
        let root = wrap
            .aes_open(root_key_aad(&cfg.cluster_id).as_bytes(), &wrapped)
            .map_err(|_| {
                Error::InvalidShare(
                    "the shares did not reconstruct the unseal key (a share is from before a rekey, or mistyped); nothing was changed".into(),
                )
            })?;
        Ok((root, wrapped))
    }

    /// Rekey, step 1: checks the old quorum and the new split, and makes the
    /// new unseal key, wrapped root key and shares. Nothing is stored.
    pub fn rekey_prepare(&self, old: &[String], shares: u8, threshold: u8) -> Result<RekeyPlan> {
        self.services()?;
        let cfg = self.shamir_config()?;
        check_split(shares, threshold)?;
        let (root, old_wrapped_root) = self.root_from_quorum(&cfg, old)?;
        let mut unseal_key = SecretBytes::zeroed(AES_KEY_LEN);
        self.rng.fill(unseal_key.expose_mut())?;
        let wrap = LoadedKey::load(KeySpec::Aes256Gcm, &unseal_key)
            .map_err(|_| Error::Internal("unseal key did not load".into()))?;
        let mut wrapped_root = Vec::new();
        wrap.aes_seal(
            root_key_aad(&cfg.cluster_id).as_bytes(),
            root.expose(),
            &mut wrapped_root,
        )
        .map_err(|_| Error::Internal("root key wrap failed".into()))?;
        let cluster = cluster_bytes(&cfg.cluster_id)?;
        let new_shares =
            shamir::split(&unseal_key, shares, threshold, &cluster, self.rng.as_ref())?;
        let new_cfg = SealConfig {
            shares,
            threshold,
            ..cfg
        };
        Ok(RekeyPlan {
            config: serde_json::to_vec(&new_cfg).map_err(|e| Error::Internal(e.to_string()))?,
            old_wrapped_root,
            wrapped_root,
            shares: new_shares,
            shares_count: shares,
            threshold,
        })
    }

    /// Rekey, step 2: stores the new seal configuration and wrapped root key
    /// in one transaction and returns the new shares (shown once). The
    /// wrapped root key is replaced only if it is still the one the old
    /// shares opened: a rekey that another node (sharing the database)
    /// stored in between wins, and this one is refused, changing nothing.
    pub fn rekey_commit(&self, plan: RekeyPlan) -> Result<Vec<SecretBytes>> {
        self.store
            .commit(
                Transaction::new()
                    .push(Op::PutMeta {
                        name: META_SEAL_CONFIG.into(),
                        value: plan.config,
                    })
                    .push(Op::UpdateMeta {
                        name: META_ROOT_KEY.into(),
                        expected: plan.old_wrapped_root,
                        value: plan.wrapped_root,
                    }),
            )
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => superseded("rekey"),
                other => other,
            })?;
        tracing::warn!(
            shares = plan.shares_count,
            threshold = plan.threshold,
            "rekeyed: new unseal shares issued; the old ones no longer unseal"
        );
        Ok(plan.shares)
    }

    /// Generate-root, step 1: checks the quorum and makes a new root token
    /// sealed under the barrier. Nothing is stored.
    pub fn generate_root_prepare(&self, shares: &[String]) -> Result<NewRoot> {
        let services = self.services()?;
        let cfg = self.shamir_config()?;
        let old_record = self.store.get_meta(META_ROOT_TOKEN)?;
        let (_, wrapped_root) = self.root_from_quorum(&cfg, shares)?;
        let token = auth::new_token(self.rng.as_ref())?;
        let hash = auth::token_hash(token.expose());
        let record = services.barrier.seal(ROOT_TOKEN_IDENTITY, &hash)?;
        Ok(NewRoot {
            token,
            record,
            hash: SecretBytes::from_slice(&hash),
            wrapped_root,
            old_record,
        })
    }

    /// Generate-root, step 2: stores the new root token's hash and uses it
    /// at once; returns the token (shown once).
    /// Refused, changing nothing, if a rekey or another generate-root (on
    /// another node sharing the database) was stored since the quorum was
    /// checked.
    pub fn generate_root_commit(&self, new: NewRoot) -> Result<SecretBytes> {
        let token_op = match new.old_record {
            Some(expected) => Op::UpdateMeta {
                name: META_ROOT_TOKEN.into(),
                expected,
                value: new.record,
            },
            None => Op::InsertMeta {
                name: META_ROOT_TOKEN.into(),
                value: new.record,
            },
        };
        // The unchanged root key is compared, not changed: the shares that
        // authorized this are still the current ones.
        let still_current = Op::UpdateMeta {
            name: META_ROOT_KEY.into(),
            expected: new.wrapped_root.clone(),
            value: new.wrapped_root,
        };
        self.replace_root_token(
            Transaction::new().push(still_current).push(token_op),
            new.hash,
        )
        .map_err(|e| match e {
            Error::Conflict(_) => superseded("generate-root"),
            other => other,
        })?;
        tracing::warn!("a new root token was generated from a quorum of unseal shares");
        Ok(new.token)
    }

    /// Revokes the root token: its stored hash becomes empty, which no
    /// token matches. A new one needs `generate-root`.
    pub fn revoke_root(&self) -> Result<()> {
        let services = self.services()?;
        let record = services.barrier.seal(ROOT_TOKEN_IDENTITY, &[])?;
        self.replace_root_token(
            Transaction::new().push(Op::PutMeta {
                name: META_ROOT_TOKEN.into(),
                value: record,
            }),
            SecretBytes::zeroed(0),
        )?;
        tracing::warn!("the root token was revoked");
        Ok(())
    }

    fn replace_root_token(&self, tx: Transaction, hash: SecretBytes) -> Result<()> {
        let mut st = self.lock()?;
        let State::Unsealed {
            root_token_hash, ..
        } = &mut *st
        else {
            return Err(Error::Sealed);
        };
        self.store.commit(tx)?;
        *root_token_hash = hash;
        Ok(())
    }

    /// Shared storage (several nodes): another node may have generated a
    /// new root token (or revoked it). Reloads this node's copy from the
    /// stored record, so a token generated there works here too; the HA
    /// sync thread calls it on every metadata change and resync. A no-op
    /// while sealed; a record that cannot be read leaves the copy as it is
    /// (`root_token_still_valid` still checks the record on every use).
    pub fn reload_root_token(&self) -> Result<()> {
        let services = self.services()?;
        let Some(record) = self.store.get_meta(META_ROOT_TOKEN)? else {
            return Ok(());
        };
        let hash = services.barrier.open(ROOT_TOKEN_IDENTITY, &record)?;
        let mut st = self.lock()?;
        if let State::Unsealed {
            root_token_hash,
            services: current,
        } = &mut *st
        {
            // Not across a seal and unseal in between: that one loaded its own.
            if std::sync::Arc::ptr_eq(current, &services) {
                *root_token_hash = hash;
            }
        }
        Ok(())
    }

    /// Shared storage (several nodes): the root token may have been revoked
    /// or replaced by another node, so a presented root token is checked
    /// against the stored record too. Fails closed when it cannot be read.
    pub(super) fn root_token_still_valid(&self, services: &super::Services, token: &[u8]) -> bool {
        if self.store.backend() == "sqlite" {
            // One process owns the file: the in-memory hash is the record.
            return true;
        }
        let stored = self
            .store
            .get_meta(META_ROOT_TOKEN)
            .ok()
            .flatten()
            .and_then(|r| services.barrier.open(ROOT_TOKEN_IDENTITY, &r).ok());
        match stored {
            Some(h) => !h.is_empty() && auth::token_matches(token, h.expose()),
            None => false,
        }
    }
}

/// A share-authorized change lost a race: the shares or the root token were
/// replaced (by another node, or another request) after its quorum was
/// checked. Nothing was changed.
fn superseded(what: &str) -> Error {
    Error::InvalidShare(format!(
        "a rekey or generate-root was stored (on this or another node sharing the storage) after this {what}'s shares were checked, so this {what} was not made and nothing was changed; check `strongroom operator status`, and use the current shares"
    ))
}

/// "1 share", "3 shares".
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
