//! Rotation of the audit file (docs/AUDIT.md, "Rotation"): by size and age,
//! with an unbroken chain across segments.
//!
//! The live file is `PATH`. When it rotates, the writer signs its head (a
//! checkpoint, the segment's last line), renames it to `PATH.<first index>`
//! (20 digits, so names sort in chain order) and starts a new `PATH` whose
//! first line is a signed checkpoint over the previous segment's head: the
//! chain, the indexes and the signatures continue across files.
//! [`verify_log`] checks every segment and each link.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::format::hex;
use super::verify::verify_one;
use super::{AuditError, VerifyReport};

/// When the live file rotates, and how many rotated segments are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rotation {
    /// Rotate once the live file reaches this many bytes (0: never by size).
    pub max_bytes: u64,
    /// Rotate once the live file is this old (zero: never by age).
    pub max_age: Duration,
    /// Keep at most this many rotated segments, deleting the oldest (0: keep all).
    pub retain: usize,
}

impl Rotation {
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0 || !self.max_age.is_zero()
    }
}

/// The name of the segment whose first entry has index `first`.
pub fn segment_path(path: &Path, first: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{first:020}"));
    path.with_file_name(name)
}

/// The rotated segments of the log at `path`, oldest first: (first index, path).
pub fn segment_files(path: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(AuditError::Unavailable(format!(
                "cannot list the audit directory {}: {e}",
                dir.display()
            )))
        }
    };
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(base).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if rest.len() == 20 && rest.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(first) = rest.parse::<u64>() {
                out.push((first, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Verifies the whole log: every rotated segment, the live file, and that
/// each file starts where the previous one ended (index and head hash).
/// Without rotated segments this is [`verify_file`](super::verify_file).
/// `entries`, `events` and `checkpoints` count all files; the other fields
/// describe the end of the chain (the live file). The oldest kept segment
/// may start mid-chain (older ones deleted by retention): its first line is
/// a checkpoint whose signature vouches for the head before it.
pub fn verify_log(
    path: &Path,
    public_key: &[u8],
    expected_head: Option<(u64, &str)>,
) -> Result<VerifyReport, AuditError> {
    let segments = segment_files(path)?;
    if segments.is_empty() {
        return super::verify_file(path, public_key, expected_head);
    }
    let mut total = VerifyReport {
        ok: true,
        entries: 0,
        events: 0,
        checkpoints: 0,
        unsigned_tail_events: 0,
        last_checkpoint_index: None,
        first_bad_index: None,
        reason: None,
        head_hash: hex(&super::format::GENESIS_HASH),
    };
    // (next index, head) at the end of the previous file.
    let mut prev_end: Option<(u64, String)> = None;
    let files: Vec<(PathBuf, bool)> = segments
        .into_iter()
        .map(|(_, p)| (p, false))
        .chain(std::iter::once((path.to_path_buf(), true)))
        .collect();
    for (file, live) in files {
        let expected = if live { expected_head } else { None };
        let (r, first) = verify_one(&file, public_key, expected, true)?;
        let start = first.map(|(i, _)| i).unwrap_or(0);
        total.entries += r.entries;
        total.events += r.events;
        total.checkpoints += r.checkpoints;
        if let (Some((next, head)), Some((index, prev))) = (&prev_end, first) {
            if *next != index || *head != hex(&prev) {
                total.ok = false;
                total.first_bad_index = Some(index);
                total.reason = Some(format!(
                    "{} does not continue the previous segment (expected index {next} after head {head}, found index {index} after {}): a segment is missing, reordered or replaced",
                    file.display(),
                    hex(&prev)
                ));
                return Ok(total);
            }
        }
        total.unsigned_tail_events = r.unsigned_tail_events;
        total.last_checkpoint_index = r.last_checkpoint_index;
        total.head_hash = r.head_hash.clone();
        if !r.ok {
            total.ok = false;
            total.first_bad_index = r.first_bad_index;
            total.reason = r.reason.map(|m| format!("{}: {m}", file.display()));
            return Ok(total);
        }
        prev_end = Some((start + r.entries, r.head_hash));
    }
    Ok(total)
}
