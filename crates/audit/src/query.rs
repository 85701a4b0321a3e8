//! Reading the audit file: `query` and `export`.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use serde::Serialize;

use super::format::{read_line, EntryIn, Line, Payload};
use super::{AuditError, AuditEvent, AuditFilter};

impl AuditFilter {
    /// True if `e` passes every condition that is set. `from_ms` is inclusive, `to_ms`
    /// exclusive; string conditions are exact, case-sensitive matches.
    pub fn matches(&self, e: &AuditEvent) -> bool {
        fn eq(want: &Option<String>, got: &str) -> bool {
            want.as_deref().is_none_or(|w| w == got)
        }
        let key_ok = match &self.key_id {
            None => true,
            Some(k) => e.key_id.as_deref() == Some(k.as_str()),
        };
        key_ok
            && eq(&self.identity, &e.identity)
            && eq(&self.operation, &e.operation)
            && eq(&self.outcome, &e.outcome)
            && self.from_ms.is_none_or(|f| e.time_ms >= f)
            && self.to_ms.is_none_or(|t| e.time_ms < t)
    }
}

/// Calls `f` for each matching event in file order, up to `filter.limit`. Returns how many
/// matched. Checkpoints are skipped. Does not verify hashes (use `verify_file`), but a line
/// that cannot be parsed or carries the wrong index is reported as `Tampered`. A trailing
/// fragment without newline (a write in progress) is ignored.
fn scan_events<F>(path: &Path, filter: &AuditFilter, mut f: F) -> Result<u64, AuditError>
where
    F: FnMut(u64, AuditEvent) -> Result<(), AuditError>,
{
    // A rotated log: its segments, oldest first, then the live file.
    let mut files: Vec<std::path::PathBuf> = super::segments::segment_files(path)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let rotated = !files.is_empty();
    files.push(path.to_path_buf());
    let mut matched: u64 = 0;
    for file in files {
        matched += scan_file(&file, filter, matched, rotated, &mut f)?;
    }
    Ok(matched)
}

fn scan_file<F>(
    path: &Path,
    filter: &AuditFilter,
    already: u64,
    rotated: bool,
    f: &mut F,
) -> Result<u64, AuditError>
where
    F: FnMut(u64, AuditEvent) -> Result<(), AuditError>,
{
    let file = File::open(path).map_err(|e| {
        AuditError::Unavailable(format!("cannot open audit log {}: {e}", path.display()))
    })?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::with_capacity(1024);
    let mut position: u64 = 0;
    let mut first = true;
    let mut matched: u64 = 0;
    let limit = filter
        .limit
        .map(|l| u64::try_from(l).unwrap_or(u64::MAX).saturating_sub(already));
    loop {
        if limit.is_some_and(|l| matched >= l) {
            break;
        }
        let line = read_line(&mut reader, &mut buf)
            .map_err(|e| AuditError::Unavailable(format!("cannot read audit log: {e}")))?;
        match line {
            Line::Eof | Line::Unterminated => break,
            Line::TooLong => {
                return Err(AuditError::Tampered {
                    index: position,
                    reason: "line is longer than the maximum entry size".to_string(),
                })
            }
            Line::Complete { .. } => {}
        }
        let entry = EntryIn::parse(&buf).map_err(|reason| AuditError::Tampered {
            index: position,
            reason,
        })?;
        if first && rotated {
            // A segment starts where the previous one ended (verify checks the link).
            position = entry.index;
        }
        first = false;
        if entry.index != position {
            return Err(AuditError::Tampered {
                index: position,
                reason: format!(
                    "index out of sequence: expected {position}, found {}",
                    entry.index
                ),
            });
        }
        let is_match = match entry.payload() {
            Err(reason) => {
                return Err(AuditError::Tampered {
                    index: position,
                    reason,
                })
            }
            Ok(Payload::Checkpoint(_)) => false,
            Ok(Payload::Event(e)) => filter.matches(e),
        };
        if is_match {
            if let Some(e) = entry.event {
                matched += 1;
                f(position, e)?;
            }
        }
        position += 1;
    }
    Ok(matched)
}

/// Returns the matching events with their indexes, in file order, skipping checkpoints.
pub fn query(path: &Path, filter: &AuditFilter) -> Result<Vec<(u64, AuditEvent)>, AuditError> {
    let mut out = Vec::new();
    scan_events(path, filter, |i, e| {
        out.push((i, e));
        Ok(())
    })?;
    Ok(out)
}

#[derive(Serialize)]
struct ExportLine<'a> {
    index: u64,
    event: &'a AuditEvent,
}

/// Writes the matching events as JSON Lines, `{"index":..,"event":{..}}` per line, and
/// returns how many were written.
pub fn export(path: &Path, filter: &AuditFilter, out: &mut dyn Write) -> Result<u64, AuditError> {
    let n = scan_events(path, filter, |index, event| {
        let mut line = serde_json::to_vec(&ExportLine {
            index,
            event: &event,
        })
        .map_err(|e| AuditError::Invalid(format!("cannot serialize audit entry {index}: {e}")))?;
        line.push(b'\n');
        out.write_all(&line)
            .map_err(|e| AuditError::Unavailable(format!("cannot write export: {e}")))
    })?;
    out.flush()
        .map_err(|e| AuditError::Unavailable(format!("cannot write export: {e}")))?;
    Ok(n)
}
