//! Chain verification, shared by `verify_file` and `AuditLog::open`.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::format::{
    checkpoint_body, checkpoint_message, entry_hash, event_body, hex, parse_hash, read_line,
    EntryIn, Line, Payload, GENESIS_HASH,
};
use super::{AuditError, VerifyReport};

/// Where verification found the first problem.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bad {
    pub index: u64,
    pub reason: String,
}

/// How a scan of the file ended.
#[derive(Debug)]
pub(crate) enum ScanEnd {
    /// Every line verified.
    Clean,
    /// Verified up to a trailing fragment without newline (a torn write) at `index`.
    Torn { index: u64 },
    /// The chain is broken.
    Bad(Bad),
}

/// Running state of a verification pass over the entries, in file order.
pub(crate) struct ChainVerifier<'k> {
    public_key: &'k [u8],
    /// Index the next entry must carry (= number of entries verified).
    pub next_index: u64,
    /// Hash of the last verified entry (genesis: zeros).
    pub head: [u8; 32],
    /// Bytes of the file covered by verified entries.
    pub good_len: u64,
    pub events: u64,
    pub checkpoints: u64,
    /// Events after the last checkpoint.
    pub events_since_checkpoint: u64,
    pub last_checkpoint: Option<u64>,
    /// If set: capture the head and last checkpoint once `next_index` reaches this count.
    capture_at: Option<u64>,
    pub captured: Option<([u8; 32], Option<u64>)>,
    /// A segment of a rotated log (docs/AUDIT.md, "Rotation"): its first
    /// line may be a signed checkpoint at any index, which anchors the rest.
    pub segment_start: bool,
    /// Index and prev of the first entry verified (links segments).
    pub first: Option<(u64, [u8; 32])>,
}

impl<'k> ChainVerifier<'k> {
    pub(crate) fn new(public_key: &'k [u8], capture_at: Option<u64>) -> Self {
        let mut v = ChainVerifier {
            public_key,
            next_index: 0,
            head: GENESIS_HASH,
            good_len: 0,
            events: 0,
            checkpoints: 0,
            events_since_checkpoint: 0,
            last_checkpoint: None,
            capture_at,
            captured: None,
            segment_start: false,
            first: None,
        };
        v.maybe_capture();
        v
    }

    /// Continues a chain right after a verified checkpoint (see [`last_checkpoint`]):
    /// the entries before it are not read again.
    pub(crate) fn after(public_key: &'k [u8], anchor: &Anchor) -> Self {
        let mut v = ChainVerifier::new(public_key, None);
        v.next_index = anchor.index + 1;
        v.head = anchor.hash;
        v.good_len = anchor.end;
        v.checkpoints = 1;
        v.last_checkpoint = Some(anchor.index);
        v
    }

    fn maybe_capture(&mut self) {
        if self.capture_at == Some(self.next_index) && self.captured.is_none() {
            self.captured = Some((self.head, self.last_checkpoint));
        }
    }

    /// Checks one complete line (without newline) of `len` bytes (newline included).
    pub(crate) fn push_line(&mut self, line: &[u8], len: u64) -> Result<(), Bad> {
        if self.segment_start && self.first.is_none() && self.good_len == 0 {
            // A rotated segment starts from the previous segment's head under
            // a signed checkpoint: the signature vouches for that head.
            if let Some(a) = checkpoint_anchor(line, self.public_key, len) {
                if a.index > 0 {
                    self.first = Some((a.index, a.prev));
                    self.next_index = a.index + 1;
                    self.head = a.hash;
                    self.good_len = len;
                    self.checkpoints += 1;
                    self.events_since_checkpoint = 0;
                    self.last_checkpoint = Some(a.index);
                    self.maybe_capture();
                    return Ok(());
                }
            }
        }
        let at = self.next_index;
        let bad = |index: u64, reason: String| Bad { index, reason };
        if self.first.is_none() {
            if let Some(prev) = EntryIn::parse(line).ok().and_then(|e| parse_hash(&e.prev)) {
                self.first = Some((at, prev));
            }
        }

        let entry = EntryIn::parse(line).map_err(|r| bad(at, r))?;

        // 1. Index continuity: catches deletion, reordering, insertion and replay. The
        //    position is reported: everything before it is in place.
        if entry.index != at {
            return Err(bad(
                at,
                format!(
                    "index out of sequence: expected {at}, found {} (entry deleted, inserted or reordered)",
                    entry.index
                ),
            ));
        }

        let prev = parse_hash(&entry.prev)
            .ok_or_else(|| bad(at, "prev is not 64 lowercase hex digits".to_string()))?;
        let stored_hash = parse_hash(&entry.hash)
            .ok_or_else(|| bad(at, "hash is not 64 lowercase hex digits".to_string()))?;

        let payload = entry.payload().map_err(|r| bad(at, r))?;
        let (body, signature) = match payload {
            Payload::Event(e) => (event_body(e), None),
            Payload::Checkpoint(c) => {
                let sig = B64
                    .decode(c.signature.as_bytes())
                    .map_err(|_| bad(at, "checkpoint signature is not base64".to_string()))?;
                let pk = B64
                    .decode(c.public_key.as_bytes())
                    .map_err(|_| bad(at, "checkpoint public key is not base64".to_string()))?;
                let body = checkpoint_body(&sig, &pk);
                (body, Some((sig, pk)))
            }
        };
        let computed = entry_hash(&prev, at, &body);

        // 2. Link to the previous entry.
        if prev != self.head {
            if at > 0 && computed == stored_hash {
                // This entry is intact relative to the prev it was written with, and the
                // previous entry verified on its own: the previous entry was replaced and
                // re-hashed after this one was chained to it.
                return Err(bad(
                    at - 1,
                    format!(
                        "entry {} is not the entry that entry {at} was chained to (modified and re-hashed)",
                        at - 1
                    ),
                ));
            }
            return Err(bad(
                at,
                "prev does not match the hash of the previous entry".to_string(),
            ));
        }

        // 3. The entry's own hash.
        if computed != stored_hash {
            return Err(bad(
                at,
                "hash mismatch: entry contents were modified".to_string(),
            ));
        }

        // 4. Checkpoint signature over the head it follows.
        if let Some((sig, pk)) = signature {
            if pk != self.public_key {
                return Err(bad(
                    at,
                    "checkpoint is signed by a different key than the expected audit key"
                        .to_string(),
                ));
            }
            let msg = checkpoint_message(at, &prev);
            UnparsedPublicKey::new(&ED25519, self.public_key)
                .verify(&msg, &sig)
                .map_err(|_| bad(at, "checkpoint signature is invalid".to_string()))?;
            self.checkpoints += 1;
            self.events_since_checkpoint = 0;
            self.last_checkpoint = Some(at);
        } else {
            self.events += 1;
            self.events_since_checkpoint += 1;
        }

        self.head = stored_hash;
        self.next_index += 1;
        self.good_len += len;
        self.maybe_capture();
        Ok(())
    }

    /// Reads and verifies every line of `reader`.
    pub(crate) fn scan<R: BufRead>(&mut self, reader: &mut R) -> Result<ScanEnd, AuditError> {
        let mut buf = Vec::with_capacity(1024);
        loop {
            let line = read_line(reader, &mut buf)
                .map_err(|e| AuditError::Unavailable(format!("cannot read audit log: {e}")))?;
            match line {
                Line::Eof => return Ok(ScanEnd::Clean),
                Line::Unterminated => {
                    return Ok(ScanEnd::Torn {
                        index: self.next_index,
                    })
                }
                Line::TooLong => {
                    return Ok(ScanEnd::Bad(Bad {
                        index: self.next_index,
                        reason: "line is longer than the maximum entry size".to_string(),
                    }))
                }
                Line::Complete { len } => {
                    if let Err(b) = self.push_line(&buf, len) {
                        return Ok(ScanEnd::Bad(b));
                    }
                }
            }
        }
    }
}

/// A checkpoint entry whose own hash and signature verify, and where its
/// line ends in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Anchor {
    pub index: u64,
    /// The head the checkpoint follows (and signs).
    pub prev: [u8; 32],
    pub hash: [u8; 32],
    /// Offset just past the checkpoint line's newline.
    pub end: u64,
}

/// Checks one line as a checkpoint signed by `public_key` on its own: its
/// hash over (prev, index, body) and its signature over (index, prev).
pub(crate) fn checkpoint_anchor(line: &[u8], public_key: &[u8], end: u64) -> Option<Anchor> {
    let entry = EntryIn::parse(line).ok()?;
    let Ok(Payload::Checkpoint(c)) = entry.payload() else {
        return None;
    };
    let prev = parse_hash(&entry.prev)?;
    let stored = parse_hash(&entry.hash)?;
    let sig = B64.decode(c.signature.as_bytes()).ok()?;
    let pk = B64.decode(c.public_key.as_bytes()).ok()?;
    if pk != public_key || entry_hash(&prev, entry.index, &checkpoint_body(&sig, &pk)) != stored {
        return None;
    }
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&checkpoint_message(entry.index, &prev), &sig)
        .ok()?;
    Some(Anchor {
        index: entry.index,
        prev,
        hash: stored,
        end,
    })
}

/// Finds the last complete line of the first `len` bytes of `file` that is
/// a valid checkpoint of `public_key`, reading backwards in blocks. `None`
/// when there is none (then the whole file must be verified).
pub(crate) fn last_checkpoint(
    file: &File,
    len: u64,
    public_key: &[u8],
) -> io::Result<Option<Anchor>> {
    use std::os::unix::fs::FileExt as _;
    const BLOCK: u64 = 256 * 1024;
    // `tail` holds the bytes from `pos` up to the start of the last line
    // already looked at (or to `len`).
    let mut pos = len;
    let mut tail: Vec<u8> = Vec::new();
    // The bytes after the last newline are an unterminated fragment, never
    // a checkpoint; they are skipped by starting from the last newline.
    let mut seen_newline = false;
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; usize::try_from(pos - start).unwrap_or(0)];
        file.read_exact_at(&mut block, start)?;
        block.extend_from_slice(&tail);
        tail = block;
        pos = start;
        // Complete lines in `tail`: those that end with a newline and whose
        // start is known (a newline before them, or the file start).
        while let Some(nl) = tail.iter().rposition(|&b| b == b'\n') {
            if !seen_newline {
                seen_newline = true;
                tail.truncate(nl + 1);
                continue;
            }
            // `tail` ends with a newline at `nl`; find its line's start.
            let body = &tail[..nl];
            let line_start = match body.iter().rposition(|&b| b == b'\n') {
                Some(p) => p + 1,
                None if pos == 0 => 0,
                None => break, // the line starts in an earlier block
            };
            let line = &tail[line_start..nl];
            let end = pos + u64::try_from(nl + 1).unwrap_or(u64::MAX);
            if line.len() <= super::format::MAX_LINE_BYTES
                && line.windows(14).any(|w| w == b"\"checkpoint\":{")
            {
                if let Some(a) = checkpoint_anchor(line, public_key, end) {
                    return Ok(Some(a));
                }
            }
            tail.truncate(line_start);
            if line_start == 0 {
                break;
            }
        }
        if tail.len() > super::format::MAX_LINE_BYTES + 1 {
            // A line longer than any entry: let the full scan name it.
            return Ok(None);
        }
    }
    Ok(None)
}

/// Verifies a whole audit file. See the module docs and `docs/AUDIT.md`.
/// A rotated log is verified across its segments by
/// [`verify_log`](super::segments::verify_log).
pub fn verify_file(
    path: &Path,
    public_key: &[u8],
    expected_head: Option<(u64, &str)>,
) -> Result<VerifyReport, AuditError> {
    verify_one(path, public_key, expected_head, false).map(|(r, _)| r)
}

/// (index, prev hash) of a file's first entry.
pub(crate) type FirstEntry = (u64, [u8; 32]);

/// One file; with `segment_start`, it may start with an anchoring checkpoint.
/// Also returns the (index, prev) of its first entry.
pub(crate) fn verify_one(
    path: &Path,
    public_key: &[u8],
    expected_head: Option<(u64, &str)>,
    segment_start: bool,
) -> Result<(VerifyReport, Option<FirstEntry>), AuditError> {
    if public_key.len() != 32 {
        return Err(AuditError::Invalid(format!(
            "audit public key must be 32 bytes (raw Ed25519), got {}",
            public_key.len()
        )));
    }
    let expected = match expected_head {
        None => None,
        Some((n, h)) => {
            let hash = parse_hash(h).ok_or_else(|| {
                AuditError::Invalid("expected head hash is not 64 lowercase hex digits".to_string())
            })?;
            Some((n, hash))
        }
    };

    let file = File::open(path).map_err(|e| {
        AuditError::Unavailable(format!("cannot open audit log {}: {e}", path.display()))
    })?;
    let mut reader = BufReader::new(file);
    let mut v = ChainVerifier::new(public_key, expected.map(|(n, _)| n));
    v.segment_start = segment_start;
    let end = v.scan(&mut reader)?;

    let mut first_bad: Option<Bad> = match &end {
        ScanEnd::Clean => None,
        ScanEnd::Torn { index } => Some(Bad {
            index: *index,
            reason: "torn last line: incomplete entry at the end of the file".to_string(),
        }),
        ScanEnd::Bad(b) => Some(b.clone()),
    };

    if let Some((n, want)) = expected {
        let head_problem = match v.captured {
            // The file holds fewer verified entries than the server has written.
            None if v.next_index < n => Some(Bad {
                index: v.next_index,
                reason: format!(
                    "truncated: the file ends (or breaks) at index {} but the server's head is at {n}",
                    v.next_index
                ),
            }),
            None => None,
            Some((got, last_cp)) if got != want => {
                let from = last_cp.map_or(0, |c| c + 1);
                Some(Bad {
                    index: from,
                    reason: format!(
                        "head mismatch: hash at index {} differs from the server's head; an entry after the last checkpoint (from index {from}) was rewritten",
                        n.saturating_sub(1)
                    ),
                })
            }
            Some(_) => None,
        };
        // A trailing fragment beyond an intact expected head is a write in progress.
        if head_problem.is_none() {
            if let (ScanEnd::Torn { index }, Some(_)) = (&end, v.captured) {
                if *index >= n {
                    first_bad = None;
                }
            }
        }
        if let Some(hp) = head_problem {
            match &first_bad {
                Some(b) if b.index <= hp.index => {}
                _ => first_bad = Some(hp),
            }
        }
    }

    let first = v.first;
    let entries = match first {
        Some((i, _)) if segment_start => v.next_index - i,
        _ => v.next_index,
    };
    Ok((
        VerifyReport {
            ok: first_bad.is_none(),
            entries,
            events: v.events,
            checkpoints: v.checkpoints,
            unsigned_tail_events: v.events_since_checkpoint,
            last_checkpoint_index: v.last_checkpoint,
            first_bad_index: first_bad.as_ref().map(|b| b.index),
            reason: first_bad.map(|b| b.reason),
            head_hash: hex(&v.head),
        },
        first,
    ))
}
