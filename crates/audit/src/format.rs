//! On-disk format of the audit log: entry lines, canonical encoding, hashing,
//! checkpoint messages and a bounded line reader. See `docs/AUDIT.md`.

use std::io::{self, BufRead, Read};

use aws_lc_rs::digest;
use serde::Deserialize;

use super::{AuditError, AuditEvent};

/// Hash of the (virtual) entry before index 0.
pub(crate) const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// Prefix of the canonical encoding of every entry (domain separation and format version).
pub(crate) const ENTRY_TAG: &[u8] = b"strongroom-audit-entry-v1";

/// Prefix of the message a checkpoint signs.
pub(crate) const CHECKPOINT_TAG: &[u8] = b"strongroom-audit-checkpoint-v1";

/// Kind byte of an event entry in the canonical encoding.
pub(crate) const KIND_EVENT: u8 = 0x01;
/// Kind byte of a checkpoint entry in the canonical encoding.
pub(crate) const KIND_CHECKPOINT: u8 = 0x02;

/// Longest accepted line (without its newline). Readers reject longer lines, so a
/// corrupted file can never make them buffer unbounded amounts of memory.
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;

/// Longest accepted serialized event; leaves room for index, hashes and keys of the line.
pub(crate) const MAX_EVENT_JSON_BYTES: usize = MAX_LINE_BYTES - 512;

/// The outcomes an event may carry.
pub(crate) const OUTCOMES: [&str; 4] = ["allowed", "denied", "error", "pending"];

/// One parsed line of the file. Unknown fields are rejected, so nothing can be smuggled
/// into a line without failing verification.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryIn {
    pub index: u64,
    pub prev: String,
    pub hash: String,
    #[serde(default)]
    pub event: Option<AuditEvent>,
    #[serde(default)]
    pub checkpoint: Option<CheckpointIn>,
}

/// The payload of a checkpoint line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointIn {
    pub signature: String,
    pub public_key: String,
}

/// What a parsed line carries.
pub(crate) enum Payload<'a> {
    Event(&'a AuditEvent),
    Checkpoint(&'a CheckpointIn),
}

impl EntryIn {
    /// Parses one line (without its newline).
    pub(crate) fn parse(line: &[u8]) -> Result<EntryIn, String> {
        serde_json::from_slice::<EntryIn>(line).map_err(|e| {
            // serde_json messages name the position and the expected token; they never
            // echo the input, so they can be shown.
            format!("not a valid entry line: {e}")
        })
    }

    /// The one payload of the entry; an entry must carry exactly one.
    pub(crate) fn payload(&self) -> Result<Payload<'_>, String> {
        match (&self.event, &self.checkpoint) {
            (Some(e), None) => Ok(Payload::Event(e)),
            (None, Some(c)) => Ok(Payload::Checkpoint(c)),
            (Some(_), Some(_)) => Err("entry has both an event and a checkpoint".to_string()),
            (None, None) => Err("entry has neither an event nor a checkpoint".to_string()),
        }
    }
}

// ---------------------------------------------------------------------------
// Canonical encoding
// ---------------------------------------------------------------------------

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Lengths are bounded by MAX_LINE_BYTES, far below u32::MAX; saturate defensively
    // (such an entry could never be written or accepted anyway).
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
}

fn put_opt_str(out: &mut Vec<u8>, s: &Option<String>) {
    match s {
        None => out.push(0x00),
        Some(s) => {
            out.push(0x01);
            put_bytes(out, s.as_bytes());
        }
    }
}

/// Canonical encoding of an event payload (everything after the index).
pub(crate) fn event_body(e: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(KIND_EVENT);
    out.extend_from_slice(&e.time_ms.to_be_bytes());
    put_bytes(&mut out, e.request_id.as_bytes());
    put_bytes(&mut out, e.identity.as_bytes());
    put_bytes(&mut out, e.source.as_bytes());
    put_bytes(&mut out, e.operation.as_bytes());
    put_opt_str(&mut out, &e.key_id);
    match e.key_version {
        None => out.push(0x00),
        Some(v) => {
            out.push(0x01);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    put_bytes(&mut out, e.outcome.as_bytes());
    put_opt_str(&mut out, &e.error_code);
    out.push(u8::from(e.root));
    put_opt_str(&mut out, &e.detail);
    out
}

/// Canonical encoding of a checkpoint payload (everything after the index).
pub(crate) fn checkpoint_body(signature: &[u8], public_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 4 + signature.len() + 4 + public_key.len());
    out.push(KIND_CHECKPOINT);
    put_bytes(&mut out, signature);
    put_bytes(&mut out, public_key);
    out
}

/// `SHA-256(prev || ENTRY_TAG || index_be || body)`, i.e. SHA-256 of the previous hash
/// and the canonical bytes of the entry.
pub(crate) fn entry_hash(prev: &[u8; 32], index: u64, body: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev);
    ctx.update(ENTRY_TAG);
    ctx.update(&index.to_be_bytes());
    ctx.update(body);
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The message a checkpoint at `index` signs: it commits to the chain head it follows.
pub(crate) fn checkpoint_message(index: u64, prev: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_TAG.len() + 8 + 32);
    m.extend_from_slice(CHECKPOINT_TAG);
    m.extend_from_slice(&index.to_be_bytes());
    m.extend_from_slice(prev);
    m
}

// ---------------------------------------------------------------------------
// Hex
// ---------------------------------------------------------------------------

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Parses exactly 64 lowercase hex digits.
pub(crate) fn parse_hash(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Event validation and line building
// ---------------------------------------------------------------------------

/// Shortens an operation name for use in an error message.
pub(crate) fn op_label(op: &str) -> String {
    let mut s: String = op.chars().filter(|c| !c.is_control()).take(64).collect();
    if s.is_empty() {
        s.push_str("<none>");
    }
    s
}

/// An event checked and encoded by the caller's thread, ready for the writer.
pub(crate) struct PreparedEvent {
    pub body: Vec<u8>,
    pub json: String,
}

/// Validates an event and precomputes its canonical body and JSON. Error messages name at
/// most the operation, never other contents of the event.
pub(crate) fn prepare_event(e: &AuditEvent) -> Result<PreparedEvent, AuditError> {
    let op = op_label(&e.operation);
    if e.operation.is_empty() {
        return Err(AuditError::Invalid(
            "audit event has an empty operation".to_string(),
        ));
    }
    if !OUTCOMES.contains(&e.outcome.as_str()) {
        return Err(AuditError::Invalid(format!(
            "audit event for {op} has an unknown outcome (expected one of {})",
            OUTCOMES.join(", ")
        )));
    }
    let json = serde_json::to_string(e)
        .map_err(|_| AuditError::Invalid(format!("audit event for {op} cannot be serialized")))?;
    if json.len() > MAX_EVENT_JSON_BYTES {
        return Err(AuditError::Invalid(format!(
            "audit event for {op} is too large ({} bytes, at most {MAX_EVENT_JSON_BYTES})",
            json.len()
        )));
    }
    Ok(PreparedEvent {
        body: event_body(e),
        json,
    })
}

/// Appends one event line (with newline) to `out`.
pub(crate) fn push_event_line(
    out: &mut Vec<u8>,
    index: u64,
    prev: &[u8; 32],
    hash: &[u8; 32],
    event_json: &str,
) {
    // serde_json's compact output never contains a raw newline, and the other parts are
    // digits and hex, so this is exactly one line.
    out.extend_from_slice(
        format!(
            "{{\"index\":{index},\"prev\":\"{}\",\"hash\":\"{}\",\"event\":{event_json}}}\n",
            hex(prev),
            hex(hash)
        )
        .as_bytes(),
    );
}

/// Appends one checkpoint line (with newline) to `out`.
pub(crate) fn push_checkpoint_line(
    out: &mut Vec<u8>,
    index: u64,
    prev: &[u8; 32],
    hash: &[u8; 32],
    signature_b64: &str,
    public_key_b64: &str,
) {
    out.extend_from_slice(
        format!(
            "{{\"index\":{index},\"prev\":\"{}\",\"hash\":\"{}\",\"checkpoint\":{{\"signature\":\"{signature_b64}\",\"public_key\":\"{public_key_b64}\"}}}}\n",
            hex(prev),
            hex(hash)
        )
        .as_bytes(),
    );
}

// ---------------------------------------------------------------------------
// Bounded line reader
// ---------------------------------------------------------------------------

/// One step of reading the file line by line.
pub(crate) enum Line {
    /// A complete line; the newline is stripped. `len` counts the bytes consumed, newline included.
    Complete { len: u64 },
    /// Bytes at the end of the file with no terminating newline (a torn write).
    Unterminated,
    /// A line longer than `MAX_LINE_BYTES`.
    TooLong,
    /// End of file.
    Eof,
}

/// Reads the next line into `buf` (cleared first), never buffering more than
/// `MAX_LINE_BYTES + 1` bytes.
pub(crate) fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<Line> {
    buf.clear();
    let limit = u64::try_from(MAX_LINE_BYTES + 1).unwrap_or(u64::MAX);
    let n = reader.by_ref().take(limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Line::Eof);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        Ok(Line::Complete {
            len: u64::try_from(n).unwrap_or(u64::MAX),
        })
    } else if n > MAX_LINE_BYTES {
        Ok(Line::TooLong)
    } else {
        Ok(Line::Unterminated)
    }
}
