//! The barrier: every record is sealed under the root key with AES-256-GCM,
//! and the record's identity (table and primary key) is the AAD, so a record
//! copied over another one fails to open.
//!
//! Sealed record: `0x01 || nonce(12) || ciphertext || tag(16)`.

use crate::crypto::material::{LoadedKey, AES_KEY_LEN};
use crate::crypto::spec::KeySpec;
use crate::crypto::SecretBytes;
use crate::error::Error;

const RECORD_V1: u8 = 1;

pub struct Barrier {
    key: LoadedKey,
}

impl Barrier {
    pub fn new(root_key: &SecretBytes) -> Result<Self, Error> {
        if root_key.len() != AES_KEY_LEN {
            return Err(Error::Internal("root key has the wrong length".into()));
        }
        let key = LoadedKey::load(KeySpec::Aes256Gcm, root_key)
            .map_err(|_| Error::Internal("cannot load root key".into()))?;
        Ok(Self { key })
    }

    pub fn seal(&self, identity: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(1 + 12 + plaintext.len() + 16);
        out.push(RECORD_V1);
        self.key
            .aes_seal(identity.as_bytes(), plaintext, &mut out)
            .map_err(|_| Error::Internal("barrier seal failed".into()))?;
        Ok(out)
    }

    pub fn open(&self, identity: &str, sealed: &[u8]) -> Result<SecretBytes, Error> {
        match sealed.split_first() {
            Some((&RECORD_V1, rest)) => self.key.aes_open(identity.as_bytes(), rest).map_err(|_| {
                Error::Internal(format!(
                    "stored record {identity} failed its integrity check (tampered, substituted or wrong root key)"
                ))
            }),
            _ => Err(Error::Internal(format!("stored record {identity} has an unknown format"))),
        }
    }
}

/// The AAD identity of a key's metadata record.
pub fn key_identity(id: &str) -> String {
    format!("strongroom/key/{id}")
}

/// The AAD identity of a key version's record.
pub fn version_identity(id: &str, version: u32) -> String {
    format!("strongroom/key-version/{id}/{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substituted_record_fails() {
        let b = Barrier::new(&SecretBytes::from_slice(&[7u8; 32])).expect("barrier");
        let a = b.seal(&key_identity("a"), b"meta-a").expect("seal");
        assert_eq!(
            b.open(&key_identity("a"), &a).expect("open").expose(),
            b"meta-a"
        );
        assert!(b.open(&key_identity("b"), &a).is_err());
        let other = Barrier::new(&SecretBytes::from_slice(&[8u8; 32])).expect("barrier");
        assert!(other.open(&key_identity("a"), &a).is_err());
        assert!(b.open(&key_identity("a"), &[]).is_err());
        assert!(b.open(&key_identity("a"), &[1, 2, 3]).is_err());
    }
}
