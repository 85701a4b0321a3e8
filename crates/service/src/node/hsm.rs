//! The seal's PKCS#11 paths: init with an HSM key, and the auto-unseal that
//! asks the HSM to unwrap the root key. A failure leaves the server sealed
//! (the reason is kept for `status`); there is no fallback to another seal.

use std::sync::Arc;

use super::{
    auth, pkcs11, root_key_aad, Barrier, Error, InitOutput, Result, SealConfig, SealKind,
    SealStatus, SecretBytes, State, AES_KEY_LEN, KIND_PKCS11, META_ROOT_KEY, ROOT_TOKEN_IDENTITY,
};

impl super::Seal {
    /// Whether the config asks for the PKCS#11 seal.
    pub fn is_pkcs11(&self) -> bool {
        matches!(self.kind, SealKind::Pkcs11(_))
    }

    fn settings(&self) -> Result<&pkcs11::Pkcs11Settings> {
        match &self.kind {
            SealKind::Pkcs11(s) => Ok(s),
            SealKind::Shamir => Err(Error::InvalidArgument(
                "this server uses Shamir shares (seal = \"shamir\"); unseal it with `strongroom operator unseal <share>`".into(),
            )),
        }
    }

    /// `operator init` on either seal: Shamir needs shares and threshold
    /// (default 5 of 3); the HSM seal takes neither.
    pub fn init_request(&self, shares: Option<u8>, threshold: Option<u8>) -> Result<InitOutput> {
        match self.kind {
            SealKind::Shamir => self.init(shares.unwrap_or(5), threshold.unwrap_or(3)),
            SealKind::Pkcs11(_) => {
                if shares.is_some() || threshold.is_some() {
                    return Err(Error::InvalidArgument(
                        "this server uses the PKCS#11 seal (seal = \"pkcs11\"): there are no unseal shares; run `strongroom operator init` without --shares/--threshold".into(),
                    ));
                }
                self.init_pkcs11(None)
            }
        }
    }

    /// Creates (or reuses, by label) the HSM key, creates the root key, has
    /// the HSM wrap it, stores the wrapped key and unseals at once. Returns
    /// the root token and no shares.
    pub fn init_pkcs11(&self, root_token: Option<SecretBytes>) -> Result<InitOutput> {
        let settings = self.settings()?;
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
        let created = pkcs11::ensure_key(settings)?;
        let aad = root_key_aad(&cluster_s);
        let wrapped = pkcs11::wrap(settings, self.rng.as_ref(), aad.as_bytes(), &root)?;
        // Round trip before anything is stored: the HSM must give it back.
        let back = pkcs11::unwrap(settings, aad.as_bytes(), &wrapped)?;
        if !back.ct_eq(root.expose()) {
            return Err(Error::HsmUnavailable(
                "the HSM did not return the root key it wrapped; nothing was stored".into(),
            ));
        }
        let token = match root_token {
            Some(t) => t,
            None => auth::new_token(self.rng.as_ref())?,
        };
        let barrier = Barrier::new(&root)?;
        let token_record = barrier.seal(ROOT_TOKEN_IDENTITY, &auth::token_hash(token.expose()))?;
        let cfg = SealConfig {
            version: 1,
            kind: KIND_PKCS11.into(),
            shares: 0,
            threshold: 0,
            cluster_id: cluster_s,
            pkcs11_key_label: Some(settings.key_label.clone()),
        };
        let cfg_bytes = serde_json::to_vec(&cfg).map_err(|e| Error::Internal(e.to_string()))?;
        self.store_custody(cfg_bytes, wrapped, token_record)?;
        tracing::info!(
            key_label = %settings.key_label,
            hsm_key_created = created,
            "initialized with the PKCS#11 seal"
        );
        *st = State::Sealed {
            progress: Vec::new(),
        };
        // The root token must reach the operator even if unsealing fails
        // now (e.g. an unwritable audit log): report it and stay sealed.
        match self.open_services(&root) {
            Ok((services, root_token_hash)) => {
                *st = State::Unsealed {
                    services: Arc::new(services),
                    root_token_hash,
                };
            }
            Err(e) => {
                tracing::error!(error = %e, "initialized, but unsealing failed; the server stays sealed");
                if let Ok(mut slot) = self.seal_error.lock() {
                    *slot = Some(e.to_string());
                }
            }
        }
        Ok(InitOutput {
            shares: Vec::new(),
            root_token: token,
        })
    }

    /// `operator unseal --hsm` (unauthenticated, like every unseal call):
    /// asks the HSM again, unless the last attempt failed on the PIN. The
    /// PIN is read at start, so a retry could only repeat the failure, and
    /// real HSMs lock the PIN after a few; anyone who can reach the server
    /// must not be able to lock the token.
    pub fn retry_hsm(&self) -> Result<SealStatus> {
        self.settings()?;
        if self.is_unsealed() {
            return self.status();
        }
        let pin_failed = self
            .seal_error
            .lock()
            .map_err(|_| Error::Internal("seal error lock poisoned".into()))?
            .as_deref()
            .is_some_and(|e| {
                e.contains("returned PinIncorrect") || e.contains("returned PinLocked")
            });
        if pin_failed {
            return Err(Error::InvalidArgument(
                "the last HSM attempt failed on the PIN; retrying with the same PIN could lock the token. Fix STRONGROOM_PKCS11_PIN or pkcs11_pin_file and restart the server".into(),
            ));
        }
        self.auto_unseal()
    }

    /// Asks the HSM to unwrap the root key and unseals. On failure the
    /// server stays sealed and the reason is kept for `status`.
    pub fn auto_unseal(&self) -> Result<SealStatus> {
        let r = self.try_auto_unseal();
        if let Ok(mut e) = self.seal_error.lock() {
            *e = r.as_ref().err().map(|e| e.to_string());
        }
        match r {
            Ok(()) => self.status(),
            Err(e) => {
                tracing::error!(error = %e, "HSM auto-unseal failed; the server stays sealed");
                Err(e)
            }
        }
    }

    fn try_auto_unseal(&self) -> Result<()> {
        let settings = self.settings()?;
        let cfg = self.config()?.ok_or(Error::NotInitialized)?;
        if cfg.kind != KIND_PKCS11 {
            return Err(Error::InvalidArgument(format!(
                "the config says seal = \"pkcs11\" but the storage is sealed with {:?}; move it with `strongroom operator migrate-seal --to pkcs11` (server stopped), or set seal = {:?}",
                cfg.kind, cfg.kind
            )));
        }
        if let Some(l) = &cfg.pkcs11_key_label {
            if *l != settings.key_label {
                return Err(Error::InvalidArgument(format!(
                    "the root key was wrapped by the HSM key labelled {l:?}, but pkcs11_key_label is {:?}; set pkcs11_key_label = {l:?}",
                    settings.key_label
                )));
            }
        }
        let mut st = self.lock()?;
        match &*st {
            State::Unsealed { .. } => return Ok(()),
            State::Uninitialized => return Err(Error::NotInitialized),
            State::Sealed { .. } => {}
        }
        let wrapped = self
            .store
            .get_meta(META_ROOT_KEY)?
            .ok_or_else(|| Error::Internal("root key record missing".into()))?;
        let root = pkcs11::unwrap(settings, root_key_aad(&cfg.cluster_id).as_bytes(), &wrapped)?;
        let (services, root_token_hash) = self.open_services(&root)?;
        *st = State::Unsealed {
            services: Arc::new(services),
            root_token_hash,
        };
        tracing::info!(key_label = %settings.key_label, "unsealed by the PKCS#11 HSM");
        Ok(())
    }
}
