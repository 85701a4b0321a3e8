//! The SigV4 error type and its mapping to AWS error names.

use std::fmt;

/// Why a request failed SigV4 verification.
///
/// Every message is safe to return to the caller: none contains a secret, a
/// computed signature or the canonical request. An unknown access key and a
/// wrong secret are the same variant ([`SigV4Error::SignatureMismatch`]) with
/// the same message, so a caller cannot probe which access key ids exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// No `Authorization` header.
    MissingAuthorization,
    /// The `Authorization` header (or the signed-header list) is not a
    /// well-formed `AWS4-HMAC-SHA256` header. The text says what is wrong.
    MalformedAuthorization(String),
    /// No `X-Amz-Date` header.
    MissingDate,
    /// `X-Amz-Date` is not `yyyymmddThhmmssZ`, or appears more than once.
    BadDate(String),
    /// The credential scope names another service (the scoped service is given).
    WrongService(String),
    /// The credential scope names a region this server does not serve (the
    /// scoped region is given).
    WrongRegion(String),
    /// The date in the credential scope is not the date of `X-Amz-Date`.
    ScopeDateMismatch,
    /// `X-Amz-Date` is outside the allowed clock-skew window.
    /// `skew_secs` is `server time - request time`: positive when the request
    /// is older than the server clock, negative when it is in the future.
    ClockSkew {
        /// Server time minus request time, in seconds.
        skew_secs: i64,
    },
    /// A header that must be signed is not listed in `SignedHeaders`.
    UnsignedHeader(String),
    /// A header listed in `SignedHeaders` is not present in the request.
    MissingSignedHeader(String),
    /// A header that must appear at most once appears several times.
    DuplicateHeader(String),
    /// `X-Amz-Security-Token` is present but temporary credentials are not
    /// supported by this server.
    SecurityTokenNotSupported,
    /// The request carries presigned-URL (query-string) authentication
    /// parameters, which this verifier does not accept.
    PresignedUrlNotSupported,
    /// `X-Amz-Content-Sha256` is present but is not the SHA-256 of the body.
    ContentSha256Mismatch,
    /// The signature does not match, or the access key id is unknown. The two
    /// cases are deliberately indistinguishable.
    SignatureMismatch,
}

impl SigV4Error {
    /// The AWS error name (`__type` in a JSON 1.1 error body, and the
    /// `x-amzn-ErrorType` header) for this error.
    pub fn aws_error_type(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthorization => "MissingAuthenticationTokenException",
            SigV4Error::MalformedAuthorization(_)
            | SigV4Error::MissingDate
            | SigV4Error::BadDate(_)
            | SigV4Error::UnsignedHeader(_)
            | SigV4Error::MissingSignedHeader(_)
            | SigV4Error::DuplicateHeader(_)
            | SigV4Error::PresignedUrlNotSupported => "IncompleteSignatureException",
            SigV4Error::WrongService(_)
            | SigV4Error::WrongRegion(_)
            | SigV4Error::ScopeDateMismatch
            | SigV4Error::ClockSkew { .. }
            | SigV4Error::ContentSha256Mismatch
            | SigV4Error::SignatureMismatch => "InvalidSignatureException",
            SigV4Error::SecurityTokenNotSupported => "UnrecognizedClientException",
        }
    }

    /// The HTTP status to answer with. AWS JSON 1.1 services answer these
    /// authentication errors with 400, except a missing token (403).
    pub fn http_status(&self) -> u16 {
        match self {
            SigV4Error::MissingAuthorization => 403,
            _ => 400,
        }
    }
}

/// The one message for both an unknown access key and a wrong secret.
pub(crate) const SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not \
match the signature you provided. Check your AWS Secret Access Key and signing method.";

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigV4Error::MissingAuthorization => f.write_str(
                "Missing Authentication Token: the request has no Authorization header; \
                 sign it with AWS Signature Version 4 (AWS4-HMAC-SHA256)",
            ),
            SigV4Error::MalformedAuthorization(why) => {
                write!(f, "Malformed Authorization header: {why}")
            }
            SigV4Error::MissingDate => f.write_str(
                "Authorization header requires existence of an 'X-Amz-Date' header \
                 (format yyyyMMdd'T'HHmmss'Z', UTC)",
            ),
            SigV4Error::BadDate(why) => write!(f, "Invalid X-Amz-Date header: {why}"),
            SigV4Error::WrongService(got) => write!(
                f,
                "Credential should be scoped to the correct service; the request is scoped \
                 to service '{got}'"
            ),
            SigV4Error::WrongRegion(got) => write!(
                f,
                "Credential should be scoped to a valid region, not '{got}'; use the \
                 region this server is configured for"
            ),
            SigV4Error::ScopeDateMismatch => f.write_str(
                "Date in Credential scope does not match the yyyyMMdd date of the \
                 X-Amz-Date header",
            ),
            SigV4Error::ClockSkew { skew_secs } => {
                if *skew_secs >= 0 {
                    write!(
                        f,
                        "Signature expired: X-Amz-Date is {skew_secs} seconds behind the server \
                         clock, more than the allowed skew; check the client's clock and retry"
                    )
                } else {
                    write!(
                        f,
                        "Signature not yet current: X-Amz-Date is {} seconds ahead of the server \
                         clock, more than the allowed skew; check the client's clock and retry",
                        skew_secs.unsigned_abs()
                    )
                }
            }
            SigV4Error::UnsignedHeader(name) => write!(
                f,
                "Header '{name}' must be signed: add it to SignedHeaders in the \
                 Authorization header"
            ),
            SigV4Error::MissingSignedHeader(name) => write!(
                f,
                "Header '{name}' is listed in SignedHeaders but is not present in the request"
            ),
            SigV4Error::DuplicateHeader(name) => {
                write!(f, "Header '{name}' must appear only once in the request")
            }
            SigV4Error::SecurityTokenNotSupported => f.write_str(
                "The security token included in the request is invalid: X-Amz-Security-Token \
                 (temporary credentials) is not supported by this server; sign with a \
                 long-term access key",
            ),
            SigV4Error::PresignedUrlNotSupported => f.write_str(
                "Presigned-URL (query string) authentication is not supported; sign the \
                 request with an Authorization header",
            ),
            SigV4Error::ContentSha256Mismatch => f.write_str(
                "The provided 'x-amz-content-sha256' header does not match the SHA-256 of the \
                 request body",
            ),
            SigV4Error::SignatureMismatch => f.write_str(SIGNATURE_MISMATCH_MESSAGE),
        }
    }
}

impl std::error::Error for SigV4Error {}
