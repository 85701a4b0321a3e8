//! Tamper-evident, fail-closed, group-committed audit log.
//!
//! * **What is recorded:** one [`AuditEvent`] per request (allowed, denied, errors, and
//!   `pending` intents before a change). The type has no field for plaintext, ciphertext,
//!   key material, tokens or shares.
//! * **File sink:** JSON Lines, one entry per line, append-only. Every entry carries its
//!   index, the previous entry's hash and its own hash
//!   `SHA-256(prev || "strongroom-audit-entry-v1" || index_be64 || canonical payload)`.
//!   Every `checkpoint_every` events (and on [`AuditLog::checkpoint_now`] and clean close) a
//!   checkpoint entry carries an Ed25519 signature over
//!   `"strongroom-audit-checkpoint-v1" || index_be64 || prev`, the chain head it follows.
//! * **Fail closed:** [`AuditLog::append`] returns only after write + fdatasync; on failure it
//!   returns [`AuditError::Unavailable`] and the caller must refuse the operation.
//! * **Group commit:** concurrent appends share one write and one fdatasync.
//! * **Verification:** [`verify_file`] names the first bad index; [`query`] and [`export`]
//!   read the file.
//!
//! The full format and guarantees are in `docs/AUDIT.md`. This module uses only std and
//! external crates (no `crate::` imports).

use std::fmt;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};

mod format;
mod query;
mod segments;
mod verify;
mod writer;

#[cfg(test)]
mod tests;

pub use query::{export, query};
pub use segments::{segment_files, verify_log, Rotation};
pub use verify::verify_file;
pub use writer::AuditLog;

/// One audited request (what callers give to [`AuditLog::append`]). Never contains
/// plaintext, ciphertext, key material, tokens or shares.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    // Null fields are left out of the JSON line (shorter records); the entry
    // hash is over the canonical payload, where absent and null are the same.
    /// Unix milliseconds, supplied by the caller (injected clock).
    pub time_ms: i64,
    pub request_id: String,
    /// e.g. "root", "alice".
    pub identity: String,
    /// Client address "ip:port" or "internal".
    pub source: String,
    /// e.g. "kms:Encrypt".
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
    /// "allowed" | "denied" | "error" | "pending" (intent recorded before a change).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Break-glass root use: flagged.
    pub root: bool,
    /// Short non-secret note, e.g. an approval id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Errors of the audit log. Messages never include event contents other than the
/// operation name.
#[derive(Debug)]
pub enum AuditError {
    /// The record could not be durably written (or read): refuse the operation (503).
    Unavailable(String),
    /// The chain is broken at `index`.
    Tampered { index: u64, reason: String },
    /// Bad input: a malformed event, key or argument.
    Invalid(String),
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Unavailable(m) => write!(f, "audit log unavailable: {m}"),
            AuditError::Tampered { index, reason } => {
                write!(f, "audit log tampered at index {index}: {reason}")
            }
            AuditError::Invalid(m) => write!(f, "invalid audit input: {m}"),
        }
    }
}

impl std::error::Error for AuditError {}

/// Result of [`verify_file`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VerifyReport {
    /// True if the whole file verified (and matched `expected_head`, if given).
    pub ok: bool,
    /// Entries verified (events + checkpoints) before the end or the first problem.
    pub entries: u64,
    /// Events among the verified entries.
    pub events: u64,
    /// Checkpoints among the verified entries (each signature checked).
    pub checkpoints: u64,
    /// Verified events after the last verified checkpoint: not yet covered by a signature.
    pub unsigned_tail_events: u64,
    /// Index of the last verified checkpoint.
    pub last_checkpoint_index: Option<u64>,
    /// First index that is missing, out of place, modified or unverifiable.
    pub first_bad_index: Option<u64>,
    pub reason: Option<String>,
    /// Hex SHA-256 head of the verified entries (64 zeros for an empty file).
    pub head_hash: String,
}

/// Conditions for [`query`] and [`export`]; unset fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Exact key id; events without a key never match a set `key_id`.
    pub key_id: Option<String>,
    pub identity: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
    /// Inclusive lower bound on `time_ms`.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound on `time_ms`.
    pub to_ms: Option<i64>,
    /// At most this many events (the first ones in file order).
    pub limit: Option<usize>,
}

/// Generates a new Ed25519 audit signing key, PKCS#8 (v2) encoded. Store it under the
/// barrier and pass it to [`AuditLog::open`].
pub fn generate_signing_key() -> Result<Vec<u8>, AuditError> {
    let kp = Ed25519KeyPair::generate()
        .map_err(|_| AuditError::Unavailable("cannot generate audit signing key".to_string()))?;
    let doc = kp
        .to_pkcs8()
        .map_err(|_| AuditError::Unavailable("cannot encode audit signing key".to_string()))?;
    Ok(doc.as_ref().to_vec())
}

/// Raw 32-byte Ed25519 public key of a PKCS#8 audit signing key (what [`verify_file`] takes).
pub fn public_key_of(pkcs8: &[u8]) -> Result<Vec<u8>, AuditError> {
    let kp = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| {
        AuditError::Invalid("audit signing key is not a valid Ed25519 PKCS#8 key".to_string())
    })?;
    Ok(kp.public_key().as_ref().to_vec())
}
