//! Data key pairs (AWS GenerateDataKeyPair): a fresh asymmetric key pair
//! whose private key (PKCS#8 DER) is encrypted under a symmetric key exactly
//! as a data key is, so `decrypt` returns it.

use super::{Engine, KeyEntry};
use crate::crypto::context::EncryptionContext;
use crate::crypto::material::{self, LoadedKey};
use crate::crypto::spec::{KeySpec, KeyUsage};
use crate::crypto::SecretBytes;
use crate::error::{Error, Result};
use crate::keys::state::Operation;

/// A generated key pair. The plaintext private key is `None` for the
/// "without plaintext" variant.
pub struct DataKeyPair {
    pub spec: KeySpec,
    pub public_der: Vec<u8>,
    pub private_plaintext: Option<SecretBytes>,
    pub private_ciphertext: Vec<u8>,
    pub key_id: String,
    pub version: u32,
}

impl Engine {
    /// Generates a key pair of `pair_spec` (RSA or NIST ECC) and encrypts its
    /// private key under the symmetric key `key_ref` with `ctx` bound.
    pub fn generate_data_key_pair(
        &self,
        key_ref: &str,
        pair_spec: KeySpec,
        ctx: &EncryptionContext,
        include_plaintext: bool,
    ) -> Result<DataKeyPair> {
        if !matches!(
            pair_spec,
            KeySpec::Rsa2048
                | KeySpec::Rsa3072
                | KeySpec::Rsa4096
                | KeySpec::EccNistP256
                | KeySpec::EccNistP384
                | KeySpec::EccNistP521
        ) {
            return Err(Error::InvalidArgument(format!(
                "key pair spec {} is not supported; use an RSA (2048/3072/4096) or NIST ECC (P-256/P-384/P-521) spec",
                pair_spec.name()
            )));
        }
        let e: std::sync::Arc<KeyEntry> =
            self.resolve_checked(key_ref, Operation::GenerateDataKey)?;
        Self::require_usage(&e, KeyUsage::EncryptDecrypt, "data key pair generation")?;
        if e.meta.spec != KeySpec::Aes256Gcm {
            return Err(Error::InvalidKeyUsage(format!(
                "data key pairs are encrypted by symmetric keys only; key {} is {}. Use an AES_256_GCM key",
                e.meta.id,
                e.meta.spec.name()
            )));
        }
        let private = material::generate(pair_spec, self.rng.as_ref())
            .map_err(|_| Error::Internal("key pair generation failed".into()))?;
        let public_der = LoadedKey::load(pair_spec, &private)
            .ok()
            .and_then(|k| k.public_key_der().map(<[u8]>::to_vec))
            .ok_or_else(|| Error::Internal("generated key pair did not load".into()))?;
        let out = self.encrypt_with(&e, private.expose(), ctx)?;
        Ok(DataKeyPair {
            spec: pair_spec,
            public_der,
            private_plaintext: include_plaintext.then_some(private),
            private_ciphertext: out.ciphertext,
            key_id: out.key_id,
            version: out.version,
        })
    }
}
