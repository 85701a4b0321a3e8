//! Server-side AWS Signature Version 4 verification, for the AWS KMS JSON 1.1
//! front end (`POST /` with `X-Amz-Target: TrentService.<Operation>`).
//!
//! The module is self-contained: it needs only std, aws-lc-rs (SHA-256 and
//! HMAC-SHA256; no primitive is implemented here) and `subtle` (constant-time
//! comparison). It works on [`WireRequest`], the request as the server saw it,
//! so it does not depend on the HTTP stack.
//!
//! [`verify`] is the entry point; the building blocks ([`parse_authorization`],
//! [`canonical_request`], [`string_to_sign`], [`signature`]) are public so the
//! AWS signing test suite can check each step. See `docs/SIGV4.md`.

mod authz;
mod canonical;
mod crypto;
mod error;
pub mod sign;
mod time;

#[cfg(test)]
mod tests;

use std::fmt;

use subtle::{Choice, ConstantTimeEq};

pub use authz::{parse_authorization, Authorization, MAX_AUTHORIZATION_LEN, MAX_SIGNED_HEADERS};
pub use canonical::{canonical_request, canonical_request_with_options, CanonicalOptions};
pub use crypto::{signature, string_to_sign};
pub use error::SigV4Error;
pub use time::parse_amz_date;

use canonical::{query_pairs, single_header, CONTENT_SHA256};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last element of every SigV4 credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";
/// Default clock-skew window: 5 minutes, as AWS.
pub const DEFAULT_MAX_SKEW_SECS: i64 = 300;
/// Headers that must be signed whatever the configuration says: without them
/// the signature would not bind the request to this server and this time.
pub const ALWAYS_REQUIRED_SIGNED_HEADERS: [&str; 2] = ["host", "x-amz-date"];

const SECURITY_TOKEN_HEADER: &str = "x-amz-security-token";
const SECURITY_TOKEN_PARAM: &[u8] = b"X-Amz-Security-Token";
const PRESIGN_PARAMS: [&[u8]; 3] = [b"X-Amz-Algorithm", b"X-Amz-Credential", b"X-Amz-Signature"];

/// A received HTTP request, as the server sees it on the wire.
#[derive(Clone, Copy)]
pub struct WireRequest<'a> {
    /// The method, e.g. `POST`.
    pub method: &'a str,
    /// The raw path, still percent-encoded, without the query.
    pub path: &'a str,
    /// The raw query string without `?`; may be empty.
    pub query: &'a str,
    /// Headers: name as received (any case), value as received; a repeated
    /// header appears repeatedly, in the order received. HTTP/2 servers must
    /// put the `:authority` here as `host`.
    pub headers: &'a [(String, String)],
    /// The body bytes.
    pub body: &'a [u8],
}

/// Debug shows the header names and the body length, never header values or
/// the body (it may hold plaintext).
impl fmt::Debug for WireRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field(
                "header_names",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// What [`verify`] enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyConfig {
    /// The service the credential scope must name: `kms`.
    pub service: String,
    /// The region the credential scope must name; `None` accepts any region.
    pub region: Option<String>,
    /// Largest accepted |server time - X-Amz-Date|, in seconds (default 300).
    pub max_skew_secs: i64,
    /// Headers that must appear in `SignedHeaders` (lowercase or not), e.g.
    /// `host`, `x-amz-date`, `x-amz-target`. `host` and `x-amz-date` are
    /// required even if missing from this list.
    pub required_signed_headers: Vec<String>,
    /// `false` refuses any `X-Amz-Security-Token`. `true` accepts one, but
    /// only when it is covered by the signature.
    pub allow_security_token: bool,
}

impl Default for VerifyConfig {
    /// The AWS KMS front end: service `kms`, any region, 5 minutes of skew,
    /// `host`, `x-amz-date` and `x-amz-target` signed, no session tokens.
    fn default() -> Self {
        VerifyConfig {
            service: "kms".to_string(),
            region: None,
            max_skew_secs: DEFAULT_MAX_SKEW_SECS,
            required_signed_headers: vec![
                "host".to_string(),
                "x-amz-date".to_string(),
                "x-amz-target".to_string(),
            ],
            allow_security_token: false,
        }
    }
}

/// A server's received headers as [`WireRequest::headers`] wants them:
/// names as received, values as (lossy) UTF-8, repeats kept in order.
pub fn header_pairs<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

/// An access key id's secret and its owner, if the key is known.
pub type OwnerLookup<'a, P> = &'a dyn Fn(&str) -> Option<(Vec<u8>, P)>;

/// [`verify`] with a lookup that also returns who the access key belongs
/// to: answers that owner once the signature checks out (the lookup is
/// asked once, so the caller's registry is read once).
pub fn verify_owner<P>(
    req: &WireRequest,
    cfg: &VerifyConfig,
    now_unix: i64,
    lookup: OwnerLookup<'_, P>,
) -> Result<P, SigV4Error> {
    let owner = std::cell::RefCell::new(None);
    verify(req, cfg, now_unix, &|akid| {
        let (secret, p) = lookup(akid)?;
        *owner.borrow_mut() = Some(p);
        Some(secret)
    })?;
    // `verify` succeeds only with a secret from `lookup`, which set the owner.
    owner.into_inner().ok_or(SigV4Error::SignatureMismatch)
}

/// A secret that is never a real one, used for unknown access keys so that
/// they cost the same work as a known key with a wrong secret.
const UNKNOWN_KEY_SECRET: &[u8] = b"strongroom-sigv4-unknown-access-key-placeholder";

/// Verifies the SigV4 signature of `req` and returns the access key id.
///
/// Checks, in this order (the first failure is returned):
/// 1. no presigned-URL parameters in the query;
/// 2. exactly one `Authorization` header, well-formed (see [`parse_authorization`]);
/// 3. the scope's service is `cfg.service`, its region `cfg.region` (if set);
/// 4. exactly one valid `X-Amz-Date`, whose date equals the scope date;
/// 5. |`now_unix` - X-Amz-Date| <= `cfg.max_skew_secs`;
/// 6. `host`, `x-amz-date` and every `cfg.required_signed_headers` are signed;
/// 7. `X-Amz-Security-Token` refused unless allowed (and then it must be signed);
/// 8. `X-Amz-Content-Sha256`, if present, is the SHA-256 of the body;
/// 9. the secret from `lookup(access_key_id)` reproduces the signature
///    (constant-time comparison). An unknown key and a wrong secret give the
///    same [`SigV4Error::SignatureMismatch`].
pub fn verify(
    req: &WireRequest,
    cfg: &VerifyConfig,
    now_unix: i64,
    lookup: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<String, SigV4Error> {
    // 1. Query-string (presigned) authentication is not accepted.
    let query_names: Vec<Vec<u8>> = query_pairs(req.query).map(|(k, _)| k).collect();
    if query_names
        .iter()
        .any(|k| PRESIGN_PARAMS.contains(&k.as_slice()))
    {
        return Err(SigV4Error::PresignedUrlNotSupported);
    }

    // 2. The Authorization header.
    let auth_value =
        single_header(req.headers, "authorization")?.ok_or(SigV4Error::MissingAuthorization)?;
    let auth = parse_authorization(auth_value)?;

    // 3. Service and region of the credential scope.
    if auth.service != cfg.service {
        return Err(SigV4Error::WrongService(auth.service));
    }
    if let Some(region) = &cfg.region {
        if &auth.region != region {
            return Err(SigV4Error::WrongRegion(auth.region));
        }
    }

    // 4. X-Amz-Date, and the scope date.
    let amz_date = single_header(req.headers, "x-amz-date")?
        .ok_or(SigV4Error::MissingDate)?
        .trim_matches(' ');
    let request_time = parse_amz_date(amz_date)?;
    if amz_date.get(..8) != Some(auth.date.as_str()) {
        return Err(SigV4Error::ScopeDateMismatch);
    }

    // 5. Clock skew; the boundary itself is inside the window.
    let skew_secs = now_unix.saturating_sub(request_time);
    if skew_secs.unsigned_abs() > cfg.max_skew_secs.max(0).unsigned_abs() {
        return Err(SigV4Error::ClockSkew { skew_secs });
    }

    // 6. Required signed headers.
    let required = ALWAYS_REQUIRED_SIGNED_HEADERS
        .iter()
        .map(|h| h.to_string())
        .chain(
            cfg.required_signed_headers
                .iter()
                .map(|h| h.trim().to_ascii_lowercase()),
        );
    for name in required {
        if !auth.signed_headers.contains(&name) {
            return Err(SigV4Error::UnsignedHeader(name));
        }
    }

    // 7. Session tokens.
    let token_header = req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case(SECURITY_TOKEN_HEADER));
    let token_param = query_names.iter().any(|k| k == SECURITY_TOKEN_PARAM);
    if token_header || token_param {
        if !cfg.allow_security_token {
            return Err(SigV4Error::SecurityTokenNotSupported);
        }
        if token_header
            && !auth
                .signed_headers
                .iter()
                .any(|h| h == SECURITY_TOKEN_HEADER)
        {
            return Err(SigV4Error::UnsignedHeader(
                SECURITY_TOKEN_HEADER.to_string(),
            ));
        }
    }

    // 8. A declared payload hash must be the body's hash, or the signature
    // would not cover the body.
    if let Some(declared) = single_header(req.headers, CONTENT_SHA256)? {
        if declared.trim_matches(' ') != crypto::sha256_hex(req.body) {
            return Err(SigV4Error::ContentSha256Mismatch);
        }
    }

    // 9. Recompute and compare.
    let creq = canonical_request(req, &auth.signed_headers)?;
    let sts = string_to_sign(amz_date, &auth.scope(), &creq);
    let found = lookup(&auth.access_key_id);
    let known = found.is_some();
    let mut secret = found.unwrap_or_else(|| UNKNOWN_KEY_SECRET.to_vec());
    let expected = signature(&secret, &auth.date, &auth.region, &auth.service, &sts);
    crypto::wipe(&mut secret);
    let same = expected.as_bytes().ct_eq(auth.signature.as_bytes()) & Choice::from(u8::from(known));
    if bool::from(same) {
        Ok(auth.access_key_id)
    } else {
        Err(SigV4Error::SignatureMismatch)
    }
}
