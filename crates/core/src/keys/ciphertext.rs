//! The KMS ciphertext format (v1). Self-describing: the header names the
//! format, algorithm, key and version, and is authenticated as AAD together
//! with the canonical encryption context.
//!
//! ```text
//! offset size field
//! 0      2    magic "SR"
//! 2      1    format version (1)
//! 3      1    algorithm: 1 = AES-256-GCM, 2 = RSAES-OAEP-SHA-256
//! 4      16   key id (UUID, binary)
//! 20     4    key version (u32, big-endian)
//! 24     ..   body: AES-256-GCM: nonce(12) || ciphertext || tag(16);
//!                   RSA-OAEP: the RSA ciphertext (modulus length)
//! ```
//! AAD (AES-GCM) and OAEP label (RSA) = header(24) || canonical(context).

use uuid::Uuid;

use crate::crypto::context::{canonical_into, EncryptionContext};
use crate::error::Error;

pub const MAGIC: [u8; 2] = *b"SR";
pub const FORMAT_V1: u8 = 1;
pub const HEADER_LEN: usize = 24;
/// Nonce and tag around the AES-GCM body.
pub const AES_OVERHEAD: usize = 12 + 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Aes256Gcm = 1,
    RsaOaepSha256 = 2,
}

/// A parsed header. Parsing checks shape only; authenticity comes from the AEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub algorithm: Algorithm,
    pub key_id: Uuid,
    pub version: u32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..2].copy_from_slice(&MAGIC);
        h[2] = FORMAT_V1;
        h[3] = self.algorithm as u8;
        h[4..20].copy_from_slice(self.key_id.as_bytes());
        h[20..24].copy_from_slice(&self.version.to_be_bytes());
        h
    }

    /// Splits a ciphertext into header and body. Every malformed input gives
    /// the same `InvalidCiphertext` error.
    pub fn parse(ct: &[u8]) -> Result<(Header, &[u8]), Error> {
        if ct.len() < HEADER_LEN || ct[0..2] != MAGIC || ct[2] != FORMAT_V1 {
            return Err(Error::InvalidCiphertext);
        }
        let algorithm = match ct[3] {
            1 => Algorithm::Aes256Gcm,
            2 => Algorithm::RsaOaepSha256,
            _ => return Err(Error::InvalidCiphertext),
        };
        let mut id = [0u8; 16];
        id.copy_from_slice(&ct[4..20]);
        let mut v = [0u8; 4];
        v.copy_from_slice(&ct[20..24]);
        let body = &ct[HEADER_LEN..];
        let min_body = match algorithm {
            Algorithm::Aes256Gcm => AES_OVERHEAD,
            Algorithm::RsaOaepSha256 => 1,
        };
        if body.len() < min_body {
            return Err(Error::InvalidCiphertext);
        }
        Ok((
            Header {
                algorithm,
                key_id: Uuid::from_bytes(id),
                version: u32::from_be_bytes(v),
            },
            body,
        ))
    }
}

/// header || canonical(context): the bytes authenticated with the body.
pub fn aad(header: &[u8; HEADER_LEN], ctx: &EncryptionContext) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 4 + ctx.len() * 16);
    out.extend_from_slice(header);
    canonical_into(ctx, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_vector() {
        let h = Header {
            algorithm: Algorithm::Aes256Gcm,
            key_id: Uuid::from_bytes([0x11; 16]),
            version: 0x0102_0304,
        };
        let mut expected = vec![b'S', b'R', 1, 1];
        expected.extend_from_slice(&[0x11; 16]);
        expected.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(h.encode().to_vec(), expected);
        let mut ct = expected.clone();
        ct.extend_from_slice(&[0u8; AES_OVERHEAD]);
        assert_eq!(Header::parse(&ct).map(|x| x.0).ok(), Some(h));
    }

    #[test]
    fn every_truncation_and_bad_magic_is_invalid() {
        let h = Header {
            algorithm: Algorithm::Aes256Gcm,
            key_id: Uuid::from_bytes([7; 16]),
            version: 1,
        };
        let mut ct = h.encode().to_vec();
        ct.extend_from_slice(&[0u8; AES_OVERHEAD]);
        for n in 0..ct.len() {
            assert!(
                matches!(Header::parse(&ct[..n]), Err(Error::InvalidCiphertext)),
                "len {n}"
            );
        }
        for (i, b) in [(0usize, b'X'), (2, 2), (3, 9)] {
            let mut bad = ct.clone();
            bad[i] = b;
            assert!(matches!(Header::parse(&bad), Err(Error::InvalidCiphertext)));
        }
    }
}
