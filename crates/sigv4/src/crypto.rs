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
/// `kSigning` changes only with the secret, the day, the region and the
/// service, so each thread keeps the last one it derived (four HMACs saved
/// per request from the same key on the same day). Intermediate key bytes
/// are overwritten before they are dropped, and so is the kept secret.
pub fn signature(
    secret: &[u8],
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    LAST_SIGNING_KEY.with(|cell| {
        let mut last = cell.borrow_mut();
        let hit = last
            .as_ref()
            .is_some_and(|e| e.matches(secret, date, region, service));
        if !hit {
            *last = Some(SigningKey::derive(secret, date, region, service));
        }
        match last.as_ref() {
            Some(e) => hex(hmac::sign(&e.key, string_to_sign.as_bytes()).as_ref()),
            // Unreachable: set just above.
            None => String::new(),
        }
    })
}

/// A derived `kSigning` and what it was derived from.
struct SigningKey {
    secret: Vec<u8>,
    date: String,
    region: String,
    service: String,
    key: hmac::Key,
}

impl SigningKey {
    fn derive(secret: &[u8], date: &str, region: &str, service: &str) -> SigningKey {
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
        let key = hmac::Key::new(hmac::HMAC_SHA256, &k);
        wipe(&mut k);
        SigningKey {
            secret: secret.to_vec(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            key,
        }
    }

    /// Same inputs; the secret is compared in constant time.
    fn matches(&self, secret: &[u8], date: &str, region: &str, service: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.date == date
            && self.region == region
            && self.service == service
            && bool::from(self.secret.as_slice().ct_eq(secret))
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        wipe(&mut self.secret);
    }
}

thread_local! {
    static LAST_SIGNING_KEY: std::cell::RefCell<Option<SigningKey>> =
        const { std::cell::RefCell::new(None) };
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

#[cfg(test)]
mod cache_tests {
    use super::*;

    /// Derivation without the per-thread cache, for comparison.
    fn uncached(secret: &[u8], date: &str, region: &str, service: &str, sts: &str) -> String {
        let e = SigningKey::derive(secret, date, region, service);
        hex(hmac::sign(&e.key, sts.as_bytes()).as_ref())
    }

    #[test]
    fn the_kept_signing_key_never_answers_for_other_inputs() {
        let a = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let b = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ"; // same length, last byte differs
        let cases: [(&[u8], &str, &str, &str); 6] = [
            (a, "20150830", "us-east-1", "service"),
            (a, "20150830", "us-east-1", "service"),
            (b, "20150830", "us-east-1", "service"),
            (a, "20150831", "us-east-1", "service"),
            (a, "20150831", "eu-west-1", "service"),
            (a, "20150831", "eu-west-1", "kms"),
        ];
        let mut seen = std::collections::HashSet::new();
        for (secret, date, region, service) in cases {
            let got = signature(secret, date, region, service, "sts");
            assert_eq!(got, uncached(secret, date, region, service, "sts"));
            seen.insert(got);
        }
        // Five distinct inputs, five distinct signatures (the repeat hits the cache).
        assert_eq!(seen.len(), 5);
    }
}
