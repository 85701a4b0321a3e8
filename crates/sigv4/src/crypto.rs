//! SigV4's cryptography: SHA-256 and the HMAC-SHA256 key chain, all from
//! aws-lc-rs. Nothing here implements a primitive.

use aws_lc_rs::{digest, hmac};

/// Lowercase hex of the SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// Lowercase hex encoding.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The SigV4 string to sign:
/// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical_request)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut out = String::with_capacity(16 + 1 + amz_date.len() + 1 + scope.len() + 1 + 64);
    out.push_str(super::ALGORITHM);
    out.push('\n');
    out.push_str(amz_date);
    out.push('\n');
    out.push_str(scope);
    out.push('\n');
    out.push_str(&sha256_hex(canonical_request.as_bytes()));
    out
}

/// The SigV4 signature, lowercase hex:
/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`,
/// then `HMAC(kSigning, string_to_sign)`.
///
/// Intermediate key bytes are overwritten before they are dropped.
pub fn signature(
    secret: &[u8],
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let mut k = hmac_step(&k_secret, date.as_bytes());
    wipe(&mut k_secret);
    for part in [region.as_bytes(), service.as_bytes(), b"aws4_request"] {
        let next = hmac_step(&k, part);
        wipe(&mut k);
        k = next;
    }
    let tag = hmac_step(&k, string_to_sign.as_bytes());
    wipe(&mut k);
    hex(&tag)
}

fn hmac_step(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

/// Best-effort wipe of key bytes that are no longer needed (no `unsafe`, so
/// `black_box` keeps the writes from being optimised away).
pub(crate) fn wipe(buf: &mut Vec<u8>) {
    buf.fill(0);
    std::hint::black_box(&buf);
    buf.clear();
}
