//! The one error type of the service. Every variant has a stable code;
//! each front-end maps variants to its own wire shape (HTTP status and code
//! for native, `__type` and status for AWS) in one exhaustive match of its own. Messages say what was wrong
//! and how to fix it; none ever carries secret bytes.

use std::fmt;

/// Errors returned by the engine, the seal and the API.
#[derive(Debug)]
pub enum Error {
    /// A request field is missing, malformed or out of range.
    InvalidArgument(String),
    /// The request body is not valid JSON for this operation.
    MalformedRequest(String),
    /// The request body exceeds the configured limit.
    PayloadTooLarge { limit: usize },
    /// No such key (by id or alias).
    KeyNotFound(String),
    /// No such alias.
    AliasNotFound(String),
    /// The alias is already in use.
    AliasExists(String),
    /// No such key version.
    VersionNotFound { key_id: String, version: u32 },
    /// The key is disabled.
    KeyDisabled(String),
    /// The key is scheduled for deletion.
    KeyPendingDeletion(String),
    /// The key's material has been destroyed.
    KeyDestroyed(String),
    /// The operation is not valid in the key's (or version's) current state.
    InvalidKeyState(String),
    /// The key version is disabled.
    VersionDisabled { key_id: String, version: u32 },
    /// The ciphertext's version is below the key's minimum decryption version.
    VersionBelowMinimum {
        key_id: String,
        version: u32,
        minimum: u32,
    },
    /// The key's usage or spec does not allow this operation.
    InvalidKeyUsage(String),
    /// Decryption failed: malformed, tampered, wrong key or wrong context.
    /// Deliberately says nothing more (no oracle).
    InvalidCiphertext,
    /// The named key is not the key the ciphertext was made under.
    IncorrectKey,
    /// The AES-GCM usage limit of the primary version was reached and the
    /// automatic rotation failed.
    UsageLimitReached(String),
    /// No credentials were presented.
    Unauthenticated,
    /// The credentials are unknown, expired or revoked.
    InvalidToken,
    /// A verified client certificate was presented without a token, but
    /// none of its names is bound to an enabled identity (or its names are
    /// bound to more than one). The message lists the certificate's names.
    CertificateNotBound(String),
    /// The caller may not perform this operation.
    AccessDenied(String),
    /// The action is under dual control: a pending approval request was
    /// created instead of executing it.
    ApprovalRequired { id: String, message: String },
    /// The audit record could not be written durably; nothing was done.
    AuditUnavailable,
    /// The audit log failed verification when it was opened; the server stays sealed.
    AuditTampered {
        path: String,
        index: u64,
        reason: String,
    },
    /// The server is sealed.
    Sealed,
    /// The server has not been initialized yet.
    NotInitialized,
    /// The server is already initialized.
    AlreadyInitialized,
    /// An unseal share was rejected (corrupted, foreign or duplicate).
    InvalidShare(String),
    /// A concurrent change conflicted with this one; retry.
    Conflict(String),
    /// The endpoint does not exist.
    NotFound(String),
    /// No such secret, or no such (live) version of it; the message says which and what to do.
    SecretNotFound(String),
    /// No scan report for that repository (`GET /v1/scans/{repository}`).
    ScanReportNotFound(String),
    /// The HTTP method is not allowed for this endpoint.
    MethodNotAllowed,
    /// Storage is unavailable (write, fsync or connection failure). Nothing was changed.
    StorageUnavailable(String),
    /// An unexpected internal failure; details are in the server log only.
    Internal(String),
    /// The key's activation date has not come yet: it is usable for nothing.
    KeyNotYetActive { key_id: String, activation: i64 },
    /// The key's expiry date has passed: decrypt and verify only.
    KeyExpired { key_id: String, expiry: i64 },
    /// The version was declared compromised.
    VersionCompromised { key_id: String, version: u32 },
    /// A BYOK import token is unknown, already used, or for another key.
    InvalidImportToken(String),
    /// A BYOK import token's parameters are past their validity.
    ImportTokenExpired,
    /// Re-imported key material differs from the material imported before.
    IncorrectKeyMaterial(String),
    /// The PKCS#11 HSM that holds the seal key could not be used (library,
    /// token, PIN, session or key); the server stays sealed.
    HsmUnavailable(String),
    /// The audit log could not be opened at unseal (the message names the
    /// file and the cause); the server stays sealed.
    AuditOpenFailed(String),
    /// The request body did not arrive within the body read timeout.
    RequestTimeout { secs: f64 },
    /// Too many failed authentications from this source address; retry later.
    TooManyRequests { retry_after_secs: u64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "InvalidArgument",
            Error::MalformedRequest(_) => "MalformedRequest",
            Error::PayloadTooLarge { .. } => "PayloadTooLarge",
            Error::KeyNotFound(_) => "KeyNotFound",
            Error::AliasNotFound(_) => "AliasNotFound",
            Error::AliasExists(_) => "AliasExists",
            Error::VersionNotFound { .. } => "VersionNotFound",
            Error::KeyDisabled(_) => "KeyDisabled",
            Error::KeyPendingDeletion(_) => "KeyPendingDeletion",
            Error::KeyDestroyed(_) => "KeyDestroyed",
            Error::InvalidKeyState(_) => "InvalidKeyState",
            Error::VersionDisabled { .. } => "VersionDisabled",
            Error::VersionBelowMinimum { .. } => "VersionBelowMinimum",
            Error::InvalidKeyUsage(_) => "InvalidKeyUsage",
            Error::InvalidCiphertext => "InvalidCiphertext",
            Error::IncorrectKey => "IncorrectKey",
            Error::UsageLimitReached(_) => "UsageLimitReached",
            Error::Unauthenticated => "Unauthenticated",
            Error::InvalidToken => "InvalidToken",
            Error::CertificateNotBound(_) => "CertificateNotBound",
            Error::AccessDenied(_) => "AccessDenied",
            Error::ApprovalRequired { .. } => "ApprovalRequired",
            Error::AuditUnavailable => "AuditUnavailable",
            Error::AuditTampered { .. } => "AuditTampered",
            Error::Sealed => "Sealed",
            Error::NotInitialized => "NotInitialized",
            Error::AlreadyInitialized => "AlreadyInitialized",
            Error::InvalidShare(_) => "InvalidShare",
            Error::Conflict(_) => "Conflict",
            Error::NotFound(_) => "NotFound",
            Error::SecretNotFound(_) => "SecretNotFound",
            Error::ScanReportNotFound(_) => "ScanReportNotFound",
            Error::MethodNotAllowed => "MethodNotAllowed",
            Error::StorageUnavailable(_) => "StorageUnavailable",
            Error::Internal(_) => "InternalError",
            Error::KeyNotYetActive { .. } => "KeyNotYetActive",
            Error::KeyExpired { .. } => "KeyExpired",
            Error::VersionCompromised { .. } => "VersionCompromised",
            Error::InvalidImportToken(_) => "InvalidImportToken",
            Error::ImportTokenExpired => "ImportTokenExpired",
            Error::IncorrectKeyMaterial(_) => "IncorrectKeyMaterial",
            Error::HsmUnavailable(_) => "HsmUnavailable",
            Error::AuditOpenFailed(_) => "AuditUnavailable",
            Error::RequestTimeout { .. } => "RequestTimeout",
            Error::TooManyRequests { .. } => "TooManyRequests",
        }
    }

    /// The message shown to clients. 5xx messages stay generic.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "internal error; see the server log for details".to_string(),
            Error::StorageUnavailable(_) => {
                "storage is unavailable; nothing was changed. Retry once the database is reachable and writable".to_string()
            }
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "{m}"),
            Error::MalformedRequest(m) => write!(f, "malformed request body: {m}"),
            Error::PayloadTooLarge { limit } => write!(
                f,
                "request body is larger than the limit of {limit} bytes; send less data per request (use envelope encryption for large data)"
            ),
            Error::KeyNotFound(k) => write!(f, "key {k} not found; list keys with `strongroom key list`"),
            Error::AliasNotFound(a) => write!(f, "alias {a} not found; list aliases with `strongroom alias list`"),
            Error::AliasExists(a) => write!(f, "alias {a} already exists; delete it first or pick another name"),
            Error::VersionNotFound { key_id, version } => {
                write!(f, "key {key_id} has no version {version}")
            }
            Error::KeyDisabled(k) => write!(f, "key {k} is disabled; enable it with `strongroom key enable {k}`"),
            Error::KeyPendingDeletion(k) => write!(
                f,
                "key {k} is pending deletion; cancel with `strongroom key cancel-deletion {k}` (it will then be disabled)"
            ),
            Error::KeyDestroyed(k) => write!(f, "key {k} has been destroyed; its material is gone and its ciphertexts can never be decrypted"),
            Error::InvalidKeyState(m) => write!(f, "{m}"),
            Error::VersionDisabled { key_id, version } => write!(
                f,
                "version {version} of key {key_id} is disabled; enable it with `strongroom key enable-version {key_id} {version}`"
            ),
            Error::VersionBelowMinimum { key_id, version, minimum } => write!(
                f,
                "version {version} of key {key_id} is below the key's minimum decryption version {minimum}"
            ),
            Error::InvalidKeyUsage(m) => write!(f, "{m}"),
            Error::InvalidCiphertext => f.write_str(
                "the ciphertext could not be decrypted: it is malformed or was modified, or the encryption context differs from the one used to encrypt",
            ),
            Error::IncorrectKey => f.write_str(
                "the ciphertext was not produced under the key named in the request; omit the key or name the right one",
            ),
            Error::UsageLimitReached(k) => write!(
                f,
                "the primary version of key {k} reached its AES-GCM usage limit; rotate it with `strongroom key rotate {k}`"
            ),
            Error::Unauthenticated => f.write_str(
                "no token presented; set STRONGROOM_TOKEN or send `Authorization: Bearer <token>`",
            ),
            Error::InvalidToken => f.write_str("the token is invalid, expired or revoked"),
            Error::CertificateNotBound(m) => f.write_str(m),
            Error::AccessDenied(m) => write!(f, "access denied: {m}"),
            Error::ApprovalRequired { message, .. } => f.write_str(message),
            Error::AuditTampered { path, index, reason } => write!(
                f,
                "the audit log {path} fails verification at index {index} ({reason}); the server stays sealed. Keep the file as evidence, move it aside or restore it from a copy, then unseal again"
            ),
            Error::AuditUnavailable => f.write_str(
                "the audit log cannot be written, so the operation was refused and nothing was done; fix the audit sink (disk space, permissions) and retry",
            ),
            Error::Sealed => f.write_str(
                "the server is sealed; unseal it with `strongroom operator unseal` (one share per call)",
            ),
            Error::NotInitialized => f.write_str(
                "the server is not initialized; run `strongroom operator init --shares 5 --threshold 3`",
            ),
            Error::AlreadyInitialized => f.write_str("the server is already initialized"),
            Error::InvalidShare(m) => write!(f, "unseal share rejected: {m}"),
            Error::Conflict(m) => write!(f, "conflict: {m}; retry the request"),
            Error::NotFound(p) => write!(f, "no such endpoint: {p}; see /v1/openapi.json"),
            Error::SecretNotFound(m) => f.write_str(m),
            Error::ScanReportNotFound(m) => f.write_str(m),
            Error::MethodNotAllowed => f.write_str("method not allowed for this endpoint; see /v1/openapi.json"),
            Error::StorageUnavailable(m) => write!(f, "storage unavailable: {m}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
            Error::KeyNotYetActive { key_id, activation } => write!(
                f,
                "key {key_id} is not active yet: its activation date is {}; until then it can be used for nothing. Change it with `strongroom key update {key_id} --activate-at TIME`",
                crate::keys::dates::format_rfc3339(*activation)
            ),
            Error::KeyExpired { key_id, expiry } => write!(
                f,
                "key {key_id} expired at {} and is deactivated: it can still decrypt and verify, but not encrypt, sign or make data keys. Use a newer key, or move the date with `strongroom key update {key_id} --expire-at TIME`",
                crate::keys::dates::format_rfc3339(*expiry)
            ),
            Error::VersionCompromised { key_id, version } => write!(
                f,
                "version {version} of key {key_id} was declared compromised; it never encrypts or signs again, and decrypts only with the audited override (`allow_compromised: true`, CLI `--allow-compromised`, action strongroom:DecryptCompromised). Re-encrypt with `strongroom rewrap --key {key_id} --allow-compromised ...`"
            ),
            Error::InvalidImportToken(m) => write!(f, "invalid import token: {m}; call GetParametersForImport for a fresh wrapping key and token"),
            Error::ImportTokenExpired => f.write_str("the import token has expired; call GetParametersForImport for a fresh wrapping key and token"),
            Error::IncorrectKeyMaterial(m) => write!(f, "{m}"),
            Error::HsmUnavailable(m) => write!(f, "HSM unavailable: {m}"),
            Error::AuditOpenFailed(m) => write!(
                f,
                "the audit log cannot be opened, so the server stays sealed: {m}. Fix the file or its directory (permissions, disk space, a missing directory) or point audit_path elsewhere, then unseal again"
            ),
            Error::RequestTimeout { secs } => write!(
                f,
                "the request body did not arrive within {secs} s (body_read_timeout_ms); send the whole body promptly"
            ),
            Error::TooManyRequests { retry_after_secs } => write!(
                f,
                "too many failed authentications from this address; retry in {retry_after_secs} s with valid credentials"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::crypto::rng::RngError> for Error {
    fn from(_: crate::crypto::rng::RngError) -> Self {
        Error::Internal("random number generator failure".into())
    }
}

/// One of every variant, for the tests that check every variant is
/// documented and mapped (here and in each front-end).
#[cfg(any(test, feature = "test-util"))]
/// One of every variant. The match below fails to compile when a
/// variant is added, so this list cannot fall behind.
pub fn every_variant() -> Vec<Error> {
    let s = || String::from("x");
    let all = vec![
        Error::InvalidArgument(s()),
        Error::MalformedRequest(s()),
        Error::PayloadTooLarge { limit: 1 },
        Error::KeyNotFound(s()),
        Error::AliasNotFound(s()),
        Error::AliasExists(s()),
        Error::VersionNotFound {
            key_id: s(),
            version: 1,
        },
        Error::KeyDisabled(s()),
        Error::KeyPendingDeletion(s()),
        Error::KeyDestroyed(s()),
        Error::InvalidKeyState(s()),
        Error::VersionDisabled {
            key_id: s(),
            version: 1,
        },
        Error::VersionBelowMinimum {
            key_id: s(),
            version: 1,
            minimum: 2,
        },
        Error::InvalidKeyUsage(s()),
        Error::InvalidCiphertext,
        Error::IncorrectKey,
        Error::UsageLimitReached(s()),
        Error::Unauthenticated,
        Error::InvalidToken,
        Error::CertificateNotBound(s()),
        Error::AccessDenied(s()),
        Error::ApprovalRequired {
            id: s(),
            message: s(),
        },
        Error::AuditUnavailable,
        Error::AuditTampered {
            path: s(),
            index: 1,
            reason: s(),
        },
        Error::Sealed,
        Error::NotInitialized,
        Error::AlreadyInitialized,
        Error::InvalidShare(s()),
        Error::Conflict(s()),
        Error::NotFound(s()),
        Error::SecretNotFound(s()),
        Error::ScanReportNotFound(s()),
        Error::MethodNotAllowed,
        Error::StorageUnavailable(s()),
        Error::Internal(s()),
        Error::KeyNotYetActive {
            key_id: s(),
            activation: 1,
        },
        Error::KeyExpired {
            key_id: s(),
            expiry: 1,
        },
        Error::VersionCompromised {
            key_id: s(),
            version: 1,
        },
        Error::InvalidImportToken(s()),
        Error::ImportTokenExpired,
        Error::IncorrectKeyMaterial(s()),
        Error::HsmUnavailable(s()),
        Error::AuditOpenFailed(s()),
        Error::RequestTimeout { secs: 1.0 },
        Error::TooManyRequests {
            retry_after_secs: 1,
        },
    ];
    for e in &all {
        match e {
            Error::InvalidArgument(_)
            | Error::MalformedRequest(_)
            | Error::PayloadTooLarge { .. }
            | Error::KeyNotFound(_)
            | Error::AliasNotFound(_)
            | Error::AliasExists(_)
            | Error::VersionNotFound { .. }
            | Error::KeyDisabled(_)
            | Error::KeyPendingDeletion(_)
            | Error::KeyDestroyed(_)
            | Error::InvalidKeyState(_)
            | Error::VersionDisabled { .. }
            | Error::VersionBelowMinimum { .. }
            | Error::InvalidKeyUsage(_)
            | Error::InvalidCiphertext
            | Error::IncorrectKey
            | Error::UsageLimitReached(_)
            | Error::Unauthenticated
            | Error::InvalidToken
            | Error::CertificateNotBound(_)
            | Error::AccessDenied(_)
            | Error::ApprovalRequired { .. }
            | Error::AuditUnavailable
            | Error::AuditTampered { .. }
            | Error::Sealed
            | Error::NotInitialized
            | Error::AlreadyInitialized
            | Error::InvalidShare(_)
            | Error::Conflict(_)
            | Error::NotFound(_)
            | Error::SecretNotFound(_)
            | Error::ScanReportNotFound(_)
            | Error::MethodNotAllowed
            | Error::StorageUnavailable(_)
            | Error::Internal(_)
            | Error::KeyNotYetActive { .. }
            | Error::KeyExpired { .. }
            | Error::VersionCompromised { .. }
            | Error::InvalidImportToken(_)
            | Error::ImportTokenExpired
            | Error::IncorrectKeyMaterial(_)
            | Error::HsmUnavailable(_)
            | Error::AuditOpenFailed(_)
            | Error::RequestTimeout { .. }
            | Error::TooManyRequests { .. } => {}
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_stay_generic() {
        let e = Error::Internal("sqlite said SECRET-DETAIL".into());
        assert!(!e.public_message().contains("SECRET-DETAIL"));
        let e = Error::StorageUnavailable("disk /dev/sda1 SECRET".into());
        assert!(!e.public_message().contains("SECRET"));
    }
}
