//! Validators a candidate must pass before it is reported: checksums,
//! structure, entropy, and the false-positive filters (placeholders,
//! documented example keys, digests and identifiers).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// Shannon entropy in bits per character of the byte distribution:
/// H = -Σ p(c) log2 p(c). A random base64 string of length 40 scores about
/// 4.9, hex about 3.7-4.0, English words and identifiers about 2.5-3.3.
pub fn shannon_entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Base62 of a CRC32, left-padded with `0` to 6 characters.
pub fn base62_crc32(v: u32) -> String {
    let mut out = [b'0'; 6];
    let mut v = v as u64;
    let mut i = 6;
    while v > 0 && i > 0 {
        i -= 1;
        out[i] = BASE62[(v % 62) as usize];
        v /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GitHub's (and npm's) token checksum: the last 6 characters are the
/// base62 CRC32 of the 30 random characters before them
/// (https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/).
/// `body` is the part after the `ghp_` / `npm_` prefix: 36 characters.
pub fn github_checksum_ok(body: &[u8]) -> bool {
    if body.len() != 36 {
        return false;
    }
    let (random, check) = body.split_at(30);
    base62_crc32(crc32fast::hash(random)).as_bytes() == check
}

/// A Strongroom unseal share (crates/strongroom/src/seal/shamir.rs):
/// base64url of `"SS" 0x01 || cluster(16) || x(1) || y(32) || check(8)` with
/// `check = SHA-256("strongroom-share-v1" || cluster || x || y)[..8]`.
pub fn strongroom_share_ok(text: &[u8]) -> bool {
    let Ok(f) = URL_SAFE_NO_PAD.decode(text) else {
        return false;
    };
    if f.len() != 60 || &f[..3] != b"SS\x01" {
        return false;
    }
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"strongroom-share-v1");
    ctx.update(&f[3..52]);
    let d = ctx.finish();
    d.as_ref()[..8] == f[52..]
}

/// A Strongroom token's random part: 43 base64url characters = 32 bytes
/// (crates/strongroom/src/auth/mod.rs `new_token`).
pub fn strongroom_token_secret_ok(secret: &[u8]) -> bool {
    URL_SAFE_NO_PAD
        .decode(secret)
        .map(|b| b.len() == 32)
        .unwrap_or(false)
}

/// A JWT (RFC 7519 §3, RFC 7515 §7.1): the first segment is base64url JSON
/// holding an `alg` header parameter.
pub fn jwt_ok(token: &[u8]) -> bool {
    let Some(header) = token.split(|&b| b == b'.').next() else {
        return false;
    };
    match URL_SAFE_NO_PAD.decode(header.strip_suffix(b"=").unwrap_or(header)) {
        Ok(h) => {
            let h = String::from_utf8_lossy(&h);
            h.trim_start().starts_with('{') && h.contains("\"alg\"")
        }
        Err(_) => false,
    }
}

/// Standard base64 decoding to exactly `len` bytes.
pub fn base64_len(s: &[u8], len: usize) -> bool {
    STANDARD.decode(s).map(|b| b.len() == len).unwrap_or(false)
}

/// Values every vendor documents as examples, and obvious placeholders.
/// Lower-cased substrings; a value containing one is not a secret.
const PLACEHOLDER_MARKERS: &[&str] = &[
    "example",
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "your_",
    "your-",
    "yourtoken",
    "yourkey",
    "yoursecret",
    "<",
    ">",
    "${",
    "{{",
    "}}",
    "%(",
    "$(",
    "xxxx",
    "****",
    "....",
    "dummy",
    "redacted",
    "replace",
    "insert",
    "sample",
    "fake",
    "notreal",
    "not_real",
    "not-a-",
    "todo",
    "fixme",
    "secret123",
    "password123",
    "0123456789",
    "123456789",
    "abcdef0123",
    "abcdefgh",
];

/// `changeme`, `<your-token>`, `${VAR}`, `{{ .Values.x }}`, AWS's documented
/// example keys (`AKIAIOSFODNN7EXAMPLE`), ...
pub fn is_placeholder(value: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(value).to_ascii_lowercase();
    if PLACEHOLDER_MARKERS.iter().any(|m| lower.contains(m)) {
        return true;
    }
    // One character repeated (`aaaaaaaa`, `00000000`), or a run of a single
    // character over half the value.
    let bytes = lower.as_bytes();
    let mut best = 0usize;
    let mut run = 0usize;
    for i in 0..bytes.len() {
        if i > 0 && bytes[i] == bytes[i - 1] {
            run += 1;
        } else {
            run = 1;
        }
        best = best.max(run);
    }
    best * 2 > bytes.len() || best >= 8
}

/// A git object id, a UUID, or a lockfile integrity hash: identifiers and
/// digests that look random but are not secrets.
pub fn is_identifier_or_digest(value: &[u8]) -> bool {
    let s = value;
    let all_hex = |v: &[u8]| v.iter().all(|b| b.is_ascii_hexdigit());
    // git commit/object ids (SHA-1 and SHA-256 repositories)
    if (s.len() == 40 || s.len() == 64) && all_hex(s) {
        return true;
    }
    // UUID 8-4-4-4-12
    if s.len() == 36 {
        let parts: Vec<&[u8]> = s.split(|&b| b == b'-').collect();
        if parts.len() == 5
            && parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
            && parts.iter().all(|p| all_hex(p))
        {
            return true;
        }
    }
    // Subresource Integrity, as in package-lock.json / yarn.lock (W3C SRI §3.5)
    for p in [&b"sha1-"[..], b"sha256-", b"sha384-", b"sha512-"] {
        if s.starts_with(p) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_orders_random_above_words() {
        assert!(shannon_entropy(b"q8Zt2LmP0vXw7RkYb3NcH6sJ") > 4.0);
        assert!(shannon_entropy(b"passwordpassword") < 3.0);
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
    }

    #[test]
    fn github_checksum_round_trip_and_look_alike() {
        let random = b"abcdEFGHijklMNOPqrstUVWXyz0123";
        let body = format!(
            "{}{}",
            String::from_utf8_lossy(random),
            base62_crc32(crc32fast::hash(random))
        );
        assert!(github_checksum_ok(body.as_bytes()));
        let mut bad = body.into_bytes();
        bad[0] = b'X';
        assert!(!github_checksum_ok(&bad));
        assert!(!github_checksum_ok(b"short"));
    }

    #[test]
    fn base62_pads_to_six() {
        assert_eq!(base62_crc32(0), "000000");
        assert_eq!(base62_crc32(61), "00000z");
        assert_eq!(base62_crc32(62), "000010");
    }

    #[test]
    fn placeholders_and_identifiers() {
        assert!(is_placeholder(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(is_placeholder(b"${DB_PASSWORD}"));
        assert!(is_placeholder(b"<your-token>"));
        assert!(is_placeholder(b"00000000000000000000"));
        assert!(!is_placeholder(b"q8Zt2LmP0vXw7RkYb3NcH6sJ"));
        assert!(is_identifier_or_digest(
            b"9fceb02d0ae598e95dc970b74767f19372d61af8"
        ));
        assert!(is_identifier_or_digest(
            b"123e4567-e89b-12d3-a456-426614174000"
        ));
        assert!(is_identifier_or_digest(b"sha512-abc"));
        assert!(!is_identifier_or_digest(b"q8Zt2LmP0vXw7RkYb3NcH6sJ"));
    }

    #[test]
    fn jwt_header_must_be_json_with_alg() {
        // {"alg":"HS256"} . {"a":1} . sig
        assert!(jwt_ok(b"eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.c2ln"));
        assert!(!jwt_ok(b"eyJmb28iOjF9.eyJhIjoxfQ.c2ln"));
    }
}
