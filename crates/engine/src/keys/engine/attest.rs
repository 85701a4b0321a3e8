//! Signing documents the server vouches for (the compliance report) with
//! the audit signing key: the same Ed25519 key (aws-lc-rs) that signs audit
//! checkpoints, read from storage sealed under the barrier. A domain prefix
//! keeps these signatures apart from checkpoint signatures.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

use super::Engine;
use crate::error::{Error, Result};
use crate::seal::{AUDIT_KEY_IDENTITY, META_AUDIT_KEY};

impl Engine {
    /// Signs `domain || 0x00 || message`; returns (signature, public key).
    pub fn sign_with_audit_key(&self, domain: &str, message: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        // The key is made when the audit log is first opened; a dev server
        // started with --dev-no-audit has none.
        let sealed = self.store.get_meta(META_AUDIT_KEY)?.ok_or_else(|| {
            Error::InvalidArgument(
                "this server has no audit signing key (the audit log is off: --dev-no-audit), so it cannot sign a report; start it with the audit log on".into(),
            )
        })?;
        let pkcs8 = self.barrier.open(AUDIT_KEY_IDENTITY, &sealed)?;
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.expose())
            .map_err(|_| Error::Internal("the audit signing key is unreadable".into()))?;
        let mut msg = Vec::with_capacity(domain.len() + 1 + message.len());
        msg.extend_from_slice(domain.as_bytes());
        msg.push(0);
        msg.extend_from_slice(message);
        Ok((
            kp.sign(&msg).as_ref().to_vec(),
            kp.public_key().as_ref().to_vec(),
        ))
    }
}
