//! ML-KEM key encapsulation (FIPS 203), the AWS KMS Encapsulate and
//! Decapsulate operations: a fresh 32-byte shared secret and its ciphertext
//! under a key's public half, and the shared secret of a ciphertext with its
//! private half. Memory only, like every cryptographic operation.
//!
//! A bare ML-KEM ciphertext does not say which key version it was made for,
//! and decapsulation cannot tell (FIPS 203 implicit rejection: a ciphertext
//! for another key yields a pseudorandom secret, not an error). So
//! Encapsulate uses the primary version and reports it, and Decapsulate uses
//! the version the caller names, the primary by default.

use super::Engine;
use crate::crypto::material::CryptoError;
use crate::crypto::spec::KeyUsage;
use crate::crypto::SecretBytes;
use crate::error::{Error, Result};
use crate::keys::state::Operation;

/// What Encapsulate returns. The shared secret is secret; the ciphertext is
/// not.
pub struct Encapsulated {
    pub ciphertext: Vec<u8>,
    pub shared_secret: SecretBytes,
    pub key_id: String,
    pub version: u32,
}

/// What Decapsulate returns.
pub struct Decapsulated {
    pub shared_secret: SecretBytes,
    pub key_id: String,
    pub version: u32,
}

impl Engine {
    /// ML-KEM Encapsulate with the primary version of `key_ref`.
    pub fn encapsulate(&self, key_ref: &str) -> Result<Encapsulated> {
        let e = self.resolve_checked(key_ref, Operation::Encapsulate)?;
        Self::require_usage(&e, KeyUsage::EncapsulateDecapsulate, "Encapsulate")?;
        let version = e.meta.primary_version;
        let (ve, loaded) = self.version_for_use(&e, version)?;
        let (ciphertext, shared_secret) = loaded.kem_encapsulate().map_err(|err| match err {
            CryptoError::Unsupported => {
                Error::InvalidKeyUsage(format!("key {} cannot encapsulate", e.meta.id))
            }
            _ => Error::Internal("encapsulation failed".into()),
        })?;
        self.note_use(&ve);
        Ok(Encapsulated {
            ciphertext,
            shared_secret,
            key_id: e.meta.id.clone(),
            version,
        })
    }

    /// ML-KEM Decapsulate of `ciphertext` with `version` of `key_ref` (the
    /// primary version if `None`). The version must be enabled and at or
    /// above the key's minimum decryption version.
    pub fn decapsulate(
        &self,
        key_ref: &str,
        ciphertext: &[u8],
        version: Option<u32>,
    ) -> Result<Decapsulated> {
        let e = self.resolve_checked(key_ref, Operation::Decapsulate)?;
        Self::require_usage(&e, KeyUsage::EncapsulateDecapsulate, "Decapsulate")?;
        let version = version.unwrap_or(e.meta.primary_version);
        if e.meta.version(version).is_none() {
            return Err(Error::VersionNotFound {
                key_id: e.meta.id.clone(),
                version,
            });
        }
        if version < e.meta.min_decryption_version {
            return Err(Error::VersionBelowMinimum {
                key_id: e.meta.id.clone(),
                version,
                minimum: e.meta.min_decryption_version,
            });
        }
        let (ve, loaded) = self.version_for_use(&e, version)?;
        let shared_secret = loaded
            .kem_decapsulate(ciphertext)
            .map_err(|err| match err {
                CryptoError::BadCiphertextLength { expected } => Error::InvalidArgument(format!(
                    "the ciphertext is {} bytes; an {} ciphertext is exactly {expected} bytes",
                    ciphertext.len(),
                    e.meta.spec.name()
                )),
                CryptoError::Unsupported => {
                    Error::InvalidKeyUsage(format!("key {} cannot decapsulate", e.meta.id))
                }
                _ => Error::InvalidCiphertext,
            })?;
        self.note_use(&ve);
        Ok(Decapsulated {
            shared_secret,
            key_id: e.meta.id.clone(),
            version,
        })
    }
}
