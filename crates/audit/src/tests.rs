#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::format::{checkpoint_body, checkpoint_message, entry_hash, event_body, hex, parse_hash};
use super::segments::segment_path;
use super::writer::Fault;
use super::*;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "strongroom-audit-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ev(i: u64) -> AuditEvent {
    AuditEvent {
        time_ms: 1_700_000_000_000 + i64::try_from(i).unwrap(),
        request_id: format!("req-{i}"),
        identity: if i.is_multiple_of(3) { "alice" } else { "bob" }.to_string(),
        source: "127.0.0.1:5000".to_string(),
        operation: if i.is_multiple_of(2) {
            "kms:Encrypt"
        } else {
            "kms:Decrypt"
        }
        .to_string(),
        key_id: Some(format!("key-{}", i % 4)),
        key_version: Some(1),
        outcome: if i % 5 == 4 { "denied" } else { "allowed" }.to_string(),
        error_code: if i % 5 == 4 {
            Some("AccessDenied".to_string())
        } else {
            None
        },
        root: false,
        detail: None,
    }
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(p: &Path, l: &[String]) {
    let mut s = l.join("\n");
    s.push('\n');
    std::fs::write(p, s).unwrap();
}

fn verify(p: &Path, pk: &[u8]) -> VerifyReport {
    verify_file(p, pk, None).unwrap()
}

fn value(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap()
}

/// Recomputes the "hash" of an entry line from its own "prev" and contents.
fn rehash(line: &str) -> String {
    let mut v = value(line);
    let index = v["index"].as_u64().unwrap();
    let prev = parse_hash(v["prev"].as_str().unwrap()).unwrap();
    let body = if v.get("event").is_some() {
        let e: AuditEvent = serde_json::from_value(v["event"].clone()).unwrap();
        event_body(&e)
    } else {
        let sig = B64
            .decode(v["checkpoint"]["signature"].as_str().unwrap())
            .unwrap();
        let pk = B64
            .decode(v["checkpoint"]["public_key"].as_str().unwrap())
            .unwrap();
        checkpoint_body(&sig, &pk)
    };
    v["hash"] = serde_json::Value::String(hex(&entry_hash(&prev, index, &body)));
    serde_json::to_string(&v).unwrap()
}

/// Sets "prev" of a line to `prev` and rehashes it.
fn relink(line: &str, prev: &str) -> String {
    let mut v = value(line);
    v["prev"] = serde_json::Value::String(prev.to_string());
    rehash(&serde_json::to_string(&v).unwrap())
}

/// A log of `n` events with a checkpoint every `every` events, snapshotted while open (so
/// the tail after the last checkpoint stays unsigned). Returns the snapshot path, the public
/// key and the server head at snapshot time.
struct Fixture {
    _dir: TempDir,
    path: PathBuf,
    pk: Vec<u8>,
    head: (u64, String),
}

fn fixture(name: &str, n: u64, every: u64) -> Fixture {
    let dir = TempDir::new(name);
    let live = dir.path("live.jsonl");
    let snap = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&live, &key, every).unwrap();
    for i in 0..n {
        log.append_blocking(ev(i)).unwrap();
    }
    let head = log.head();
    std::fs::copy(&live, &snap).unwrap();
    let pk = log.public_key();
    drop(log);
    Fixture {
        _dir: dir,
        path: snap,
        pk,
        head,
    }
}

fn assert_bad(r: &VerifyReport, index: u64, reason_part: &str) {
    assert!(!r.ok, "expected failure, got {r:?}");
    assert_eq!(r.first_bad_index, Some(index), "{r:?}");
    let reason = r.reason.clone().unwrap_or_default();
    assert!(
        reason.contains(reason_part),
        "reason {reason:?} should contain {reason_part:?}"
    );
}

// Layout of the standard fixture: 25 events, checkpoint every 10 events:
//   0..=9 events, 10 checkpoint, 11..=20 events, 21 checkpoint, 22..=26 events (unsigned).
const N: u64 = 25;
const EVERY: u64 = 10;

// ---------------------------------------------------------------------------
// append, verify, reopen
// ---------------------------------------------------------------------------

#[test]
fn append_verify_and_reopen_continues_chain() {
    let dir = TempDir::new("reopen");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let pk = public_key_of(&key).unwrap();

    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    assert_eq!(log.public_key(), pk);
    assert_eq!(log.path(), path.as_path());
    assert_eq!(log.head(), (0, hex(&[0u8; 32])));
    let mut got = Vec::new();
    for i in 0..N {
        got.push(log.append_blocking(ev(i)).unwrap());
    }
    // Event indexes skip the checkpoints at 10 and 21.
    let want: Vec<u64> = (0..=26).filter(|i| *i != 10 && *i != 21).collect();
    assert_eq!(got, want);

    let r = verify(&path, &pk);
    assert!(r.ok, "{r:?}");
    assert_eq!((r.entries, r.events, r.checkpoints), (27, 25, 2));
    assert_eq!(r.unsigned_tail_events, 5);
    assert_eq!(r.last_checkpoint_index, Some(21));
    assert_eq!((r.entries, r.head_hash.clone()), log.head());
    let (n, h) = log.head();
    assert!(verify_file(&path, &pk, Some((n, &h))).unwrap().ok);

    // Every line carries its position as index and links to the previous line.
    let l = lines(&path);
    let mut prev = hex(&[0u8; 32]);
    for (i, line) in l.iter().enumerate() {
        let v = value(line);
        assert_eq!(v["index"].as_u64(), Some(u64::try_from(i).unwrap()));
        assert_eq!(v["prev"].as_str(), Some(prev.as_str()));
        prev = v["hash"].as_str().unwrap().to_string();
        assert!(v.get("event").is_some() != v.get("checkpoint").is_some());
    }

    // Checkpoint on demand.
    assert_eq!(log.checkpoint_now().unwrap(), 27);
    // Closing signs nothing more: the tail is already signed.
    drop(log);
    assert_eq!(lines(&path).len(), 28);

    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    assert_eq!(log.head().0, 28);
    assert_eq!(log.head().1, prev_hash_of_last(&path));
    for i in 0..3 {
        assert_eq!(log.append_blocking(ev(100 + i)).unwrap(), 28 + i);
    }
    let r = verify(&path, &pk);
    assert!(r.ok, "{r:?}");
    assert_eq!((r.entries, r.events, r.checkpoints), (31, 28, 3));
    drop(log);
    // Clean close appends a final checkpoint over the 3 unsigned events.
    let r = verify(&path, &pk);
    assert!(r.ok, "{r:?}");
    assert_eq!(
        (r.entries, r.checkpoints, r.unsigned_tail_events),
        (32, 4, 0)
    );
}

fn prev_hash_of_last(p: &Path) -> String {
    let l = lines(p);
    value(l.last().unwrap())["hash"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_append_and_checkpoint_every_zero() {
    let dir = TempDir::new("async");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, 0).unwrap();
    for i in 0..5 {
        assert_eq!(log.append(ev(i)).await.unwrap(), i);
    }
    let r = verify(&path, &log.public_key());
    assert!(
        r.ok && r.checkpoints == 0 && r.unsigned_tail_events == 5,
        "{r:?}"
    );
}

#[test]
fn same_file_cannot_be_opened_twice() {
    let dir = TempDir::new("twice");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    let again = AuditLog::open(&dir.0.join(".").join("audit.jsonl"), &key, EVERY);
    assert!(
        matches!(again, Err(AuditError::Unavailable(_))),
        "{again:?}"
    );
    drop(log);
    assert!(AuditLog::open(&path, &key, EVERY).is_ok());
}

#[test]
fn bad_keys_are_rejected() {
    assert!(matches!(
        public_key_of(b"nope"),
        Err(AuditError::Invalid(_))
    ));
    let dir = TempDir::new("badkey");
    let r = AuditLog::open(&dir.path("a.jsonl"), b"not a key", EVERY);
    assert!(matches!(r, Err(AuditError::Invalid(_))));
    let r = verify_file(&dir.path("a.jsonl"), &[0u8; 31], None);
    assert!(matches!(r, Err(AuditError::Invalid(_))));
    let r = verify_file(&dir.path("missing.jsonl"), &[0u8; 32], None);
    assert!(matches!(r, Err(AuditError::Unavailable(_))));
    let key = generate_signing_key().unwrap();
    let r = verify_file(
        &dir.path("a.jsonl"),
        &public_key_of(&key).unwrap(),
        Some((1, "xyz")),
    );
    assert!(matches!(r, Err(AuditError::Invalid(_))));
}

#[test]
fn empty_file_verifies() {
    let dir = TempDir::new("empty");
    let path = dir.path("audit.jsonl");
    std::fs::write(&path, b"").unwrap();
    let r = verify(&path, &[7u8; 32]);
    assert!(r.ok && r.entries == 0, "{r:?}");
    assert_eq!(r.head_hash, "0".repeat(64));
}

// ---------------------------------------------------------------------------
// tampering
// ---------------------------------------------------------------------------

#[test]
fn untouched_fixture_verifies() {
    let f = fixture("clean", N, EVERY);
    let r = verify_file(&f.path, &f.pk, Some((f.head.0, &f.head.1))).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.entries, 27);
}

#[test]
fn tamper_delete_middle_line() {
    let f = fixture("delete", N, EVERY);
    let mut l = lines(&f.path);
    l.remove(5);
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 5, "expected 5, found 6");
    // Deleting a checkpoint is the same.
    let f = fixture("delete-cp", N, EVERY);
    let mut l = lines(&f.path);
    l.remove(10);
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 10, "expected 10, found 11");
}

#[test]
fn tamper_modify_field_without_rehash() {
    let f = fixture("modify", N, EVERY);
    let mut l = lines(&f.path);
    assert!(l[4].contains("\"outcome\":\"denied\""));
    l[4] = l[4].replace("\"outcome\":\"denied\"", "\"outcome\":\"allowed\"");
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 4, "hash mismatch");
}

#[test]
fn tamper_modify_and_rehash_middle_entry_names_that_entry() {
    // The next entry is an event: its prev no longer matches, but it is itself intact, so
    // the modified predecessor is named.
    let f = fixture("rehash-mid", N, EVERY);
    let mut l = lines(&f.path);
    l[4] = rehash(&l[4].replace("\"outcome\":\"denied\"", "\"outcome\":\"allowed\""));
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 4, "modified and re-hashed");

    // The next entry is a checkpoint: same.
    let f = fixture("rehash-before-cp", N, EVERY);
    let mut l = lines(&f.path);
    l[9] = rehash(&l[9].replace("\"identity\":\"alice\"", "\"identity\":\"mallory\""));
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 9, "modified and re-hashed");
}

#[test]
fn tamper_rehash_whole_suffix_is_caught_by_next_checkpoint() {
    // Modify entry 4 and re-link every entry after it up to the checkpoint: no link is
    // broken any more, but the checkpoint at 10 signed the old head.
    let f = fixture("rehash-suffix", N, EVERY);
    let mut l = lines(&f.path);
    l[4] = rehash(&l[4].replace("\"outcome\":\"denied\"", "\"outcome\":\"allowed\""));
    for i in 5..=10 {
        let prev = value(&l[i - 1])["hash"].as_str().unwrap().to_string();
        l[i] = relink(&l[i], &prev);
    }
    write_lines(&f.path, &l);
    assert_bad(
        &verify(&f.path, &f.pk),
        10,
        "checkpoint signature is invalid",
    );
}

#[test]
fn tamper_modify_and_rehash_last_entry_needs_expected_head() {
    let f = fixture("rehash-last", N, EVERY);
    let mut l = lines(&f.path);
    assert_eq!(l.len(), 27);
    assert!(l[26].contains("\"request_id\":\"req-24\""));
    l[26] = rehash(&l[26].replace("\"request_id\":\"req-24\"", "\"request_id\":\"req-99\""));
    write_lines(&f.path, &l);
    // Nothing in the file follows it: the chain alone cannot see it.
    let r = verify(&f.path, &f.pk);
    assert!(r.ok, "{r:?}");
    // With the server's head it is caught; the first index not covered by a signature is
    // named (the last checkpoint is 21).
    let r = verify_file(&f.path, &f.pk, Some((f.head.0, &f.head.1))).unwrap();
    assert_bad(&r, 22, "head mismatch");
}

#[test]
fn tamper_swap_two_lines() {
    let f = fixture("swap", N, EVERY);
    let mut l = lines(&f.path);
    l.swap(5, 6);
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 5, "expected 5, found 6");

    let f = fixture("swap-far", N, EVERY);
    let mut l = lines(&f.path);
    l.swap(3, 15);
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 3, "expected 3, found 15");
}

#[test]
fn tamper_insert_and_replay() {
    // Replay (duplicate) of line 5 right after it.
    let f = fixture("replay", N, EVERY);
    let mut l = lines(&f.path);
    let dup = l[5].clone();
    l.insert(6, dup);
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 6, "expected 6, found 5");

    // A forged line with a wrong index.
    let f = fixture("insert", N, EVERY);
    let mut l = lines(&f.path);
    let forged = l[5].replace("\"index\":5", "\"index\":6");
    l.insert(6, forged);
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 6, "prev does not match");
}

#[test]
fn tamper_truncate_whole_lines_needs_expected_head() {
    let f = fixture("truncate", N, EVERY);
    let mut l = lines(&f.path);
    l.truncate(24);
    write_lines(&f.path, &l);
    // Whole-line truncation is invisible to the chain alone...
    let r = verify(&f.path, &f.pk);
    assert!(r.ok && r.entries == 24, "{r:?}");
    // ...but not against the server's head.
    let r = verify_file(&f.path, &f.pk, Some((f.head.0, &f.head.1))).unwrap();
    assert_bad(&r, 24, "truncated");
    assert_eq!(r.entries, 24);

    // Truncating everything.
    std::fs::write(&f.path, b"").unwrap();
    let r = verify_file(&f.path, &f.pk, Some((f.head.0, &f.head.1))).unwrap();
    assert_bad(&r, 0, "truncated");
}

#[test]
fn expected_head_older_than_file_is_fine() {
    let f = fixture("older-head", N, EVERY);
    // The head recorded when 12 entries existed is a prefix of the file.
    let l = lines(&f.path);
    let h12 = value(&l[11])["hash"].as_str().unwrap().to_string();
    let r = verify_file(&f.path, &f.pk, Some((12, &h12))).unwrap();
    assert!(r.ok, "{r:?}");
    let wrong = "ab".repeat(32);
    let r = verify_file(&f.path, &f.pk, Some((12, &wrong))).unwrap();
    assert_bad(&r, 11, "head mismatch");
}

#[test]
fn tamper_torn_last_line() {
    let f = fixture("torn", N, EVERY);
    let mut bytes = std::fs::read(&f.path).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&f.path, &bytes).unwrap();
    assert_bad(&verify(&f.path, &f.pk), 26, "torn");
    let r = verify_file(&f.path, &f.pk, Some((f.head.0, &f.head.1))).unwrap();
    assert_bad(&r, 26, "torn");

    // Invalid JSON that is newline-terminated is reported at its index too.
    let f = fixture("torn-nl", N, EVERY);
    let mut l = lines(&f.path);
    let last = l.len() - 1;
    l[last].truncate(40);
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 26, "not a valid entry line");

    // A trailing fragment beyond an intact expected head is a write in progress.
    let f = fixture("in-progress", N, EVERY);
    let mut bytes = std::fs::read(&f.path).unwrap();
    bytes.extend_from_slice(b"{\"index\":27,\"pr");
    std::fs::write(&f.path, &bytes).unwrap();
    assert_bad(&verify(&f.path, &f.pk), 27, "torn");
    let r = verify_file(&f.path, &f.pk, Some((f.head.0, &f.head.1))).unwrap();
    assert!(r.ok, "{r:?}");
}

/// Replaces the signature (and optionally the public key) of checkpoint line `at` with a
/// signature by another key over the right message, and recomputes the entry hash.
fn forge_checkpoint(line: &str, at: u64, with_own_public_key: bool) -> String {
    let other = Ed25519KeyPair::generate().unwrap();
    let mut v = value(line);
    let prev = parse_hash(v["prev"].as_str().unwrap()).unwrap();
    let sig = other.sign(&checkpoint_message(at, &prev));
    v["checkpoint"]["signature"] = serde_json::Value::String(B64.encode(sig.as_ref()));
    if with_own_public_key {
        v["checkpoint"]["public_key"] =
            serde_json::Value::String(B64.encode(other.public_key().as_ref()));
    }
    rehash(&serde_json::to_string(&v).unwrap())
}

#[test]
fn tamper_forged_checkpoint_signature() {
    // A signature by another key, with the real public key left in place and the hash
    // recomputed so that only the signature check can catch it.
    let f = fixture("forge-cp", N, EVERY);
    let mut l = lines(&f.path);
    l[10] = forge_checkpoint(&l[10], 10, false);
    write_lines(&f.path, &l);
    assert_bad(
        &verify(&f.path, &f.pk),
        10,
        "checkpoint signature is invalid",
    );

    // Same, but the forger also puts its own public key in the checkpoint.
    let f = fixture("forge-cp-pk", N, EVERY);
    let mut l = lines(&f.path);
    l[21] = forge_checkpoint(&l[21], 21, true);
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 21, "different key");

    // Garbage signature without rehash: the hash check catches it first, same index.
    let f = fixture("forge-cp-raw", N, EVERY);
    let mut l = lines(&f.path);
    let mut v = value(&l[21]);
    v["checkpoint"]["signature"] = serde_json::Value::String(B64.encode([1u8; 64]));
    l[21] = serde_json::to_string(&v).unwrap();
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 21, "hash mismatch");
}

#[test]
fn tamper_whole_file_rewritten_with_other_key() {
    let f = fixture("rewrite", N, EVERY);
    // The attacker rebuilds the whole chain (consistent hashes) with its own key.
    let dir = TempDir::new("rewrite-attacker");
    let forged = dir.path("forged.jsonl");
    let attacker_key = generate_signing_key().unwrap();
    let log = AuditLog::open(&forged, &attacker_key, EVERY).unwrap();
    for i in 0..N {
        let mut e = ev(i);
        e.outcome = "allowed".to_string();
        e.error_code = None;
        log.append_blocking(e).unwrap();
    }
    drop(log);
    std::fs::copy(&forged, &f.path).unwrap();
    assert_bad(&verify(&f.path, &f.pk), 10, "different key");
}

#[test]
fn single_byte_corruption_anywhere_is_named_at_its_line() {
    let f = fixture("bytes", 6, 3);
    let orig = std::fs::read(&f.path).unwrap();
    // Line number of each byte.
    let mut line_of = Vec::with_capacity(orig.len());
    let mut line = 0u64;
    for b in &orig {
        line_of.push(line);
        if *b == b'\n' {
            line += 1;
        }
    }
    let total_lines = line;
    let tmp = f.path.with_extension("mut");
    for (pos, want) in line_of.iter().enumerate() {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut m = orig.clone();
            m[pos] ^= flip;
            std::fs::write(&tmp, &m).unwrap();
            let r = verify_file(&tmp, &f.pk, Some((f.head.0, &f.head.1))).unwrap();
            assert!(!r.ok, "byte {pos} ^ {flip:#x} not detected");
            // A corrupted final newline makes the last line torn: same index.
            assert_eq!(
                r.first_bad_index,
                Some(*want),
                "byte {pos} ^ {flip:#x}: {r:?}"
            );
            assert!(*want < total_lines);
            // query never panics either.
            let _ = query(&tmp, &AuditFilter::default());
        }
    }
}

#[test]
fn garbage_files_never_panic() {
    let dir = TempDir::new("garbage");
    let p = dir.path("g.jsonl");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let key = generate_signing_key().unwrap();
    let pk = public_key_of(&key).unwrap();
    let samples: Vec<Vec<u8>> = vec![
        b"\n\n\n".to_vec(),
        b"{}\n".to_vec(),
        b"null\n".to_vec(),
        b"{\"index\":0,\"prev\":\"\",\"hash\":\"\"}\n".to_vec(),
        b"{\"index\":18446744073709551615,\"prev\":\"00\",\"hash\":\"00\",\"event\":{}}\n".to_vec(),
        vec![b'a'; 200_000],
        vec![b'\n'; 10],
        [&[0xffu8, 0xfe][..], b"\n"].concat(),
    ];
    for s in samples {
        std::fs::write(&p, &s).unwrap();
        let r = verify(&p, &pk);
        assert!(!r.ok && r.first_bad_index == Some(0), "{r:?}");
        assert!(query(&p, &AuditFilter::default()).is_err());
        assert!(matches!(
            AuditLog::open(&p, &key, EVERY),
            Err(AuditError::Tampered { index: 0, .. })
        ));
    }
    for _ in 0..200 {
        let len = usize::try_from(next() % 4096).unwrap();
        let bytes: Vec<u8> = (0..len)
            .map(|_| u8::try_from(next() % 256).unwrap())
            .collect();
        std::fs::write(&p, &bytes).unwrap();
        let _ = verify(&p, &pk);
        let _ = query(&p, &AuditFilter::default());
    }
}

#[test]
fn open_refuses_tampered_file() {
    let f = fixture("open-tampered", N, EVERY);
    let key = generate_signing_key().unwrap();
    // Wrong key: the first checkpoint does not verify with the opener's key.
    let r = AuditLog::open(&f.path, &key, EVERY);
    assert!(
        matches!(r, Err(AuditError::Tampered { index: 10, .. })),
        "{r:?}"
    );

    let f = fixture("open-tampered2", N, EVERY);
    let mut l = lines(&f.path);
    l.remove(7);
    write_lines(&f.path, &l);
    // verify with the right key fails at 7; open with any key also fails at 7.
    assert_bad(&verify(&f.path, &f.pk), 7, "expected 7");
    let r = AuditLog::open(&f.path, &key, EVERY);
    match r {
        Err(e @ AuditError::Tampered { index: 7, .. }) => {
            assert!(e.to_string().contains("tampered at index 7"), "{e}");
        }
        other => panic!("expected Tampered at 7, got {other:?}"),
    }
}

#[test]
fn open_cuts_off_a_torn_tail_and_continues() {
    let dir = TempDir::new("torn-open");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    for i in 0..5 {
        log.append_blocking(ev(i)).unwrap();
    }
    let head = log.head();
    let pk = log.public_key();
    // Simulate a crash: copy the live file away before close appends its checkpoint.
    let crashed = dir.path("crashed.jsonl");
    std::fs::copy(&path, &crashed).unwrap();
    drop(log);
    let mut bytes = std::fs::read(&crashed).unwrap();
    bytes.extend_from_slice(b"{\"index\":5,\"prev\":\"ab");
    std::fs::write(&crashed, &bytes).unwrap();

    let log = AuditLog::open(&crashed, &key, EVERY).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(log.append_blocking(ev(5)).unwrap(), 5);
    let r = verify(&crashed, &pk);
    assert!(r.ok && r.entries == 6, "{r:?}");
}

// ---------------------------------------------------------------------------
// open from the last checkpoint (large files)
// ---------------------------------------------------------------------------

#[test]
fn a_file_locked_by_another_process_is_refused() {
    let dir = TempDir::new("locked");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    drop(AuditLog::open(&path, &key, EVERY).unwrap());
    // Another process holding the file looks like this: its own open file
    // description with an exclusive lock.
    let other = std::fs::OpenOptions::new().read(true).open(&path).unwrap();
    other.try_lock().unwrap();
    let r = AuditLog::open(&path, &key, EVERY);
    match r {
        Err(AuditError::Unavailable(m)) => assert!(m.contains("in use by another process"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    drop(other);
    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    assert_eq!(log.append_blocking(ev(0)).unwrap(), 0);
}

#[test]
fn resume_from_last_checkpoint_matches_a_full_scan() {
    // 0..=9, cp 10, 11..=20, cp 21, 22..=26 unsigned.
    let f = fixture("anchor-same", N, EVERY);
    let full = super::writer::resume_state(&f.path, &f.pk, u64::MAX).unwrap();
    let anchored = super::writer::resume_state(&f.path, &f.pk, 0).unwrap();
    assert_eq!(full, anchored);
    assert_eq!((full.0, full.1.clone()), f.head);
    assert_eq!(full.2, std::fs::metadata(&f.path).unwrap().len());

    // It really starts after checkpoint 21: a break before it is not read
    // (the full scan, and `audit verify`, still name it).
    let mut l = lines(&f.path);
    l[3] = l[3].replace("\"outcome\":\"allowed\"", "\"outcome\":\"denied\"");
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 3, "hash mismatch");
    assert!(matches!(
        super::writer::resume_state(&f.path, &f.pk, u64::MAX),
        Err(AuditError::Tampered { index: 3, .. })
    ));
    // Same chain state; the file is one byte shorter ("denied").
    let after = super::writer::resume_state(&f.path, &f.pk, 0).unwrap();
    assert_eq!((after.0, after.1), (anchored.0, anchored.1));
    assert_eq!(after.2, std::fs::metadata(&f.path).unwrap().len());
}

#[test]
fn resume_from_checkpoint_refuses_a_broken_tail() {
    // An event after the last checkpoint modified.
    let f = fixture("anchor-tail", N, EVERY);
    let mut l = lines(&f.path);
    l[24] = l[24].replace("\"outcome\":\"allowed\"", "\"outcome\":\"denied\"");
    write_lines(&f.path, &l);
    let r = super::writer::resume_state(&f.path, &f.pk, 0);
    assert!(
        matches!(r, Err(AuditError::Tampered { index: 24, .. })),
        "{r:?}"
    );

    // An old checkpoint copied to the end does not become the anchor's tail:
    // the entry after it is out of sequence.
    let f = fixture("anchor-replay", N, EVERY);
    let mut l = lines(&f.path);
    let old = l[10].clone();
    l.insert(23, old);
    write_lines(&f.path, &l);
    let r = super::writer::resume_state(&f.path, &f.pk, 0);
    assert!(matches!(r, Err(AuditError::Tampered { .. })), "{r:?}");

    // A checkpoint signed by another key is no anchor; the full scan then
    // refuses the file at the first checkpoint.
    let f = fixture("anchor-otherkey", N, EVERY);
    let other = generate_signing_key().unwrap();
    let other_pk = public_key_of(&other).unwrap();
    let r = super::writer::resume_state(&f.path, &other_pk, 0);
    assert!(
        matches!(r, Err(AuditError::Tampered { index: 10, .. })),
        "{r:?}"
    );
}

#[test]
fn resume_from_checkpoint_cuts_a_torn_tail_and_handles_no_checkpoint() {
    let f = fixture("anchor-torn", N, EVERY);
    let len = std::fs::metadata(&f.path).unwrap().len();
    let mut bytes = std::fs::read(&f.path).unwrap();
    bytes.extend_from_slice(b"{\"index\":27,\"prev\":\"ab");
    std::fs::write(&f.path, &bytes).unwrap();
    let (next, head, resumed) = super::writer::resume_state(&f.path, &f.pk, 0).unwrap();
    assert_eq!((next, head), f.head);
    assert_eq!(resumed, len);
    assert_eq!(std::fs::metadata(&f.path).unwrap().len(), len);

    // No checkpoint at all (every = 0 and copied before close): full scan.
    let f = fixture("anchor-none", 7, 0);
    let r = super::writer::resume_state(&f.path, &f.pk, 0).unwrap();
    assert_eq!((r.0, r.1), f.head);

    // Empty file.
    let dir = TempDir::new("anchor-empty");
    let p = dir.path("a.jsonl");
    std::fs::write(&p, b"").unwrap();
    let r = super::writer::resume_state(&p, &f.pk, 0).unwrap();
    assert_eq!(r.0, 0);
}

#[test]
fn last_checkpoint_reads_across_block_boundaries() {
    // Lines longer than a few KiB and many of them, so that the backward
    // reader joins lines split across its 256 KiB blocks.
    let dir = TempDir::new("anchor-blocks");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, 150).unwrap();
    for i in 0..400 {
        let mut e = ev(i);
        e.detail = Some("d".repeat(3000 + (i as usize % 7) * 100));
        log.append_blocking(e).unwrap();
    }
    let head = log.head();
    let pk = log.public_key();
    let copy = dir.path("copy.jsonl");
    std::fs::copy(&path, &copy).unwrap();
    drop(log);
    let file = std::fs::File::open(&copy).unwrap();
    let len = file.metadata().unwrap().len();
    let a = super::verify::last_checkpoint(&file, len, &pk)
        .unwrap()
        .unwrap();
    // checkpoints at 150 and 301 (150 events after the first).
    assert_eq!(a.index, 301);
    let r = super::writer::resume_state(&copy, &pk, 0).unwrap();
    assert_eq!((r.0, r.1), head);
}

// ---------------------------------------------------------------------------
// fail closed
// ---------------------------------------------------------------------------

#[test]
fn open_under_missing_directory_is_unavailable() {
    let key = generate_signing_key().unwrap();
    let r = AuditLog::open(
        Path::new("/nonexistent-strongroom-dir/sub/audit.jsonl"),
        &key,
        EVERY,
    );
    assert!(matches!(r, Err(AuditError::Unavailable(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_full_refuses_appends_and_keeps_head() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("no /dev/full; skipping");
        return;
    }
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(full, &key, EVERY).unwrap();
    let head = log.head();
    let r = log.append(ev(0)).await;
    assert!(matches!(r, Err(AuditError::Unavailable(_))), "{r:?}");
    assert_eq!(log.head(), head);
    assert_eq!(log.sync_count(), 0);
    // A device cannot be truncated back: the log stays failed.
    assert!(log.is_failed());
    let r = log.append_blocking(ev(1));
    assert!(matches!(r, Err(AuditError::Unavailable(_))), "{r:?}");
    assert!(matches!(
        log.checkpoint_now(),
        Err(AuditError::Unavailable(_))
    ));
    assert_eq!(log.head(), head);
}

#[test]
fn write_and_sync_failures_roll_back_and_chain_stays_valid() {
    for fault in [Fault::PartialWrite, Fault::Sync] {
        let dir = TempDir::new("rollback");
        let path = dir.path("audit.jsonl");
        let key = generate_signing_key().unwrap();
        let log = AuditLog::open(&path, &key, EVERY).unwrap();
        let pk = log.public_key();
        for i in 0..5 {
            log.append_blocking(ev(i)).unwrap();
        }
        let head = log.head();
        let len = std::fs::metadata(&path).unwrap().len();

        log.inject_fault(Some(fault));
        let r = log.append_blocking(ev(5));
        assert!(
            matches!(r, Err(AuditError::Unavailable(_))),
            "{fault:?}: {r:?}"
        );
        assert!(matches!(
            log.checkpoint_now(),
            Err(AuditError::Unavailable(_))
        ));
        assert_eq!(log.head(), head, "{fault:?}");
        assert!(!log.is_failed());
        // The file was cut back: it verifies and matches the unchanged head.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        let r = verify_file(&path, &pk, Some((head.0, &head.1))).unwrap();
        assert!(r.ok && r.entries == 5, "{fault:?}: {r:?}");

        // After the outage the chain continues at the same index.
        log.inject_fault(None);
        assert_eq!(log.append_blocking(ev(5)).unwrap(), 5);
        let (n, h) = log.head();
        let r = verify_file(&path, &pk, Some((n, &h))).unwrap();
        assert!(r.ok && r.entries == 6, "{fault:?}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_waiter_of_a_failed_batch_is_refused() {
    let dir = TempDir::new("batch-fail");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    log.append(ev(0)).await.unwrap();
    let head = log.head();
    log.inject_fault(Some(Fault::Sync));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move { log.append(ev(i)).await }));
    }
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Err(AuditError::Unavailable(_))));
    }
    assert_eq!(log.head(), head);
    let r = verify_file(&path, &log.public_key(), Some((head.0, &head.1))).unwrap();
    assert!(r.ok && r.entries == 1, "{r:?}");
}

#[test]
fn unrecoverable_failure_is_permanent_until_reopen() {
    let dir = TempDir::new("perm-fail");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    let pk = log.public_key();
    for i in 0..3 {
        log.append_blocking(ev(i)).unwrap();
    }
    let head = log.head();
    log.inject_fault(Some(Fault::PartialWriteAndTruncate));
    assert!(log.append_blocking(ev(3)).is_err());
    assert!(log.is_failed());
    log.inject_fault(None);
    // Still refused: the file's tail is in an unknown state.
    assert!(matches!(
        log.append_blocking(ev(4)),
        Err(AuditError::Unavailable(_))
    ));
    assert_eq!(log.head(), head);
    drop(log); // no final checkpoint on a failed log
               // On disk: the good prefix plus half a line, which verify names...
    let r = verify_file(&path, &pk, Some((head.0, &head.1))).unwrap();
    assert!(
        r.ok,
        "fragment after the expected head is a write in progress: {r:?}"
    );
    assert_bad(&verify(&path, &pk), 3, "torn");
    // ...and reopening cuts off, then continues the chain.
    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(log.append_blocking(ev(3)).unwrap(), 3);
    assert!(verify(&path, &pk).ok);
}

// ---------------------------------------------------------------------------
// group commit
// ---------------------------------------------------------------------------

async fn concurrent_appends(log: &AuditLog, n: u64) -> (Vec<u64>, f64) {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(n).unwrap());
    for i in 0..n {
        let log = log.clone();
        tasks.push(tokio::spawn(async move { log.append(ev(i)).await }));
    }
    let mut idx = Vec::with_capacity(tasks.len());
    for t in tasks {
        idx.push(t.await.unwrap().unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    (idx, f64::from(u32::try_from(n).unwrap()) / secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_2000_concurrent_appends() {
    const APPENDS: u64 = 2000;
    let dir = TempDir::new("group");
    let key = generate_signing_key().unwrap();

    let path = dir.path("group.jsonl");
    let log = AuditLog::open(&path, &key, 1000).unwrap();
    let (idx, rate) = concurrent_appends(&log, APPENDS).await;
    let unique: HashSet<u64> = idx.iter().copied().collect();
    assert_eq!(unique.len(), idx.len());
    let syncs = log.sync_count();
    let (n, h) = log.head();
    let r = verify_file(&path, &log.public_key(), Some((n, &h))).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(
        (r.events, r.checkpoints, r.entries),
        (APPENDS, 2, APPENDS + 2)
    );
    // Every event index is an event line, and all are accounted for.
    let events: HashSet<u64> = query(&path, &AuditFilter::default())
        .unwrap()
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(events, unique);
    println!(
        "group commit: {APPENDS} concurrent appends, {rate:.0} appends/s, {syncs} fdatasyncs ({:.1} appends per sync)",
        f64::from(u32::try_from(APPENDS).unwrap()) / f64::from(u32::try_from(syncs).unwrap())
    );
    assert!(
        syncs * 4 <= APPENDS,
        "group commit did not batch: {syncs} syncs"
    );

    // Same load with group commit disabled: one write + fdatasync per append.
    let path1 = dir.path("single.jsonl");
    let log1 = AuditLog::open_with(&path1, &key, 1000, 1, Rotation::default()).unwrap();
    let (idx1, rate1) = concurrent_appends(&log1, APPENDS).await;
    assert_eq!(idx1.len(), usize::try_from(APPENDS).unwrap());
    let syncs1 = log1.sync_count();
    assert_eq!(syncs1, APPENDS);
    println!(
        "one fdatasync per append: {APPENDS} concurrent appends, {rate1:.0} appends/s, {syncs1} fdatasyncs; group commit speed-up {:.1}x",
        rate / rate1
    );
}

// ---------------------------------------------------------------------------
// canary: errors never carry event contents
// ---------------------------------------------------------------------------

const CANARY: &str = "CANARY-5f3c9a-SECRET";

fn canary_event() -> AuditEvent {
    AuditEvent {
        time_ms: 1,
        request_id: format!("{CANARY}-req"),
        identity: format!("{CANARY}-id"),
        source: format!("{CANARY}-src"),
        operation: "kms:Decrypt".to_string(),
        key_id: Some(format!("{CANARY}-key")),
        key_version: Some(3),
        outcome: "allowed".to_string(),
        error_code: Some(format!("{CANARY}-code")),
        root: true,
        detail: Some(format!("{CANARY}-detail")),
    }
}

fn assert_no_canary(e: &AuditError) {
    let shown = format!("{e} / {e:?}");
    assert!(
        !shown.contains(CANARY),
        "error leaks event contents: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_do_not_leak_event_contents() {
    let dir = TempDir::new("canary");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&dir.path("a.jsonl"), &key, EVERY).unwrap();

    // Too large.
    let mut big = canary_event();
    big.detail = Some(CANARY.repeat(10_000));
    let e = log.append(big).await.unwrap_err();
    assert!(matches!(e, AuditError::Invalid(_)));
    assert!(e.to_string().contains("kms:Decrypt"), "{e}");
    assert_no_canary(&e);

    // Unknown outcome.
    let mut bad = canary_event();
    bad.outcome = format!("{CANARY}-outcome");
    let e = log.append_blocking(bad).unwrap_err();
    assert!(matches!(e, AuditError::Invalid(_)));
    assert_no_canary(&e);

    // Write failures.
    log.inject_fault(Some(Fault::PartialWrite));
    let e = log.append(canary_event()).await.unwrap_err();
    assert!(matches!(e, AuditError::Unavailable(_)));
    assert_no_canary(&e);
    if Path::new("/dev/full").exists() {
        let full = AuditLog::open(Path::new("/dev/full"), &key, EVERY).unwrap();
        let e = full.append(canary_event()).await.unwrap_err();
        assert_no_canary(&e);
        let e = full.append(canary_event()).await.unwrap_err();
        assert_no_canary(&e);
    }
    assert!(!format!("{log:?}").contains(CANARY));
}

#[test]
fn file_holds_exactly_the_event_fields() {
    let dir = TempDir::new("fields");
    let path = dir.path("a.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    log.append_blocking(canary_event()).unwrap();
    drop(log);
    let raw = std::fs::read_to_string(&path).unwrap();
    // The signing key never reaches the file.
    let pkcs8_b64 = B64.encode(&key);
    assert!(!raw.contains(&pkcs8_b64));
    let l = lines(&path);
    let v = value(&l[0]);
    let keys: Vec<&str> = v["event"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "detail",
            "error_code",
            "identity",
            "key_id",
            "key_version",
            "operation",
            "outcome",
            "request_id",
            "root",
            "source",
            "time_ms"
        ]
    );
    let back: AuditEvent = serde_json::from_value(v["event"].clone()).unwrap();
    assert_eq!(back, canary_event());
}

#[test]
fn unknown_fields_are_rejected() {
    let f = fixture("unknown-field", N, EVERY);
    let mut l = lines(&f.path);
    l[3] = l[3].replace("\"root\":false", "\"root\":false,\"plaintext\":\"x\"");
    write_lines(&f.path, &l);
    assert_bad(&verify(&f.path, &f.pk), 3, "unknown field");
    assert!(matches!(
        query(&f.path, &AuditFilter::default()),
        Err(AuditError::Tampered { index: 3, .. })
    ));
}

// ---------------------------------------------------------------------------
// query / export
// ---------------------------------------------------------------------------

#[test]
fn query_and_export_filters() {
    let f = fixture("query", N, EVERY);
    let all = query(&f.path, &AuditFilter::default()).unwrap();
    assert_eq!(all.len(), 25);
    // Checkpoints (10, 21) are skipped, indexes are file indexes.
    assert!(all.iter().all(|(i, _)| *i != 10 && *i != 21));
    assert_eq!(all[10], (11, ev(10)));

    let by = |flt: AuditFilter| -> Vec<u64> {
        query(&f.path, &flt)
            .unwrap()
            .into_iter()
            .map(|(_, e)| u64::try_from(e.time_ms - 1_700_000_000_000).unwrap())
            .collect()
    };
    let want = |p: &dyn Fn(u64) -> bool| -> Vec<u64> { (0..N).filter(|i| p(*i)).collect() };

    assert_eq!(
        by(AuditFilter {
            key_id: Some("key-1".into()),
            ..Default::default()
        }),
        want(&|i| i % 4 == 1)
    );
    assert_eq!(
        by(AuditFilter {
            identity: Some("alice".into()),
            ..Default::default()
        }),
        want(&|i| i % 3 == 0)
    );
    assert_eq!(
        by(AuditFilter {
            operation: Some("kms:Decrypt".into()),
            ..Default::default()
        }),
        want(&|i| i % 2 == 1)
    );
    assert_eq!(
        by(AuditFilter {
            outcome: Some("denied".into()),
            ..Default::default()
        }),
        want(&|i| i % 5 == 4)
    );
    assert_eq!(
        by(AuditFilter {
            from_ms: Some(1_700_000_000_005),
            to_ms: Some(1_700_000_000_009),
            ..Default::default()
        }),
        vec![5, 6, 7, 8]
    );
    assert_eq!(
        by(AuditFilter {
            identity: Some("bob".into()),
            outcome: Some("allowed".into()),
            operation: Some("kms:Encrypt".into()),
            ..Default::default()
        }),
        want(&|i| i % 3 != 0 && i % 5 != 4 && i % 2 == 0)
    );
    assert_eq!(
        by(AuditFilter {
            outcome: Some("allowed".into()),
            limit: Some(3),
            ..Default::default()
        }),
        vec![0, 1, 2]
    );
    assert!(by(AuditFilter {
        limit: Some(0),
        ..Default::default()
    })
    .is_empty());
    assert!(by(AuditFilter {
        key_id: Some("KEY-1".into()),
        ..Default::default()
    })
    .is_empty());

    // Export: one {"index","event"} object per line.
    let mut out = Vec::new();
    let flt = AuditFilter {
        outcome: Some("denied".into()),
        ..Default::default()
    };
    let n = export(&f.path, &flt, &mut out).unwrap();
    assert_eq!(n, 5);
    let text = String::from_utf8(out).unwrap();
    let exported: Vec<(u64, AuditEvent)> = text
        .lines()
        .map(|l| {
            let v = value(l);
            assert_eq!(v.as_object().unwrap().len(), 2);
            (
                v["index"].as_u64().unwrap(),
                serde_json::from_value(v["event"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(exported, query(&f.path, &flt).unwrap());
}

#[test]
fn query_missing_file_is_unavailable() {
    let r = query(
        Path::new("/nonexistent-strongroom-dir/a.jsonl"),
        &AuditFilter::default(),
    );
    assert!(matches!(r, Err(AuditError::Unavailable(_))));
}

/// Closed-loop benchmark for docs/AUDIT.md: `clients` tasks each append sequentially (wait
/// for durability, then the next), with group commit and with one fdatasync per append.
/// Run: `cargo test --release -- --ignored bench_group_commit --nocapture`
#[test]
#[ignore = "benchmark; run explicitly"]
fn bench_group_commit() {
    const TOTAL: u64 = 8192;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let key = generate_signing_key().unwrap();
    println!("| clients | mode | appends/s | fdatasyncs | appends per fdatasync |");
    println!("|---|---|---|---|---|");
    for clients in [1u64, 8, 64, 256] {
        for (mode, max_batch) in [("group commit", 8192usize), ("fdatasync per append", 1)] {
            let dir = TempDir::new("bench");
            let path = dir.path("bench.jsonl");
            let log =
                AuditLog::open_with(&path, &key, 1000, max_batch, Rotation::default()).unwrap();
            let per = TOTAL / clients;
            let start = Instant::now();
            rt.block_on(async {
                let mut tasks = Vec::new();
                for c in 0..clients {
                    let log = log.clone();
                    tasks.push(tokio::spawn(async move {
                        for i in 0..per {
                            log.append(ev(c * per + i)).await.unwrap();
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
            let secs = start.elapsed().as_secs_f64();
            let n = per * clients;
            let syncs = log.sync_count();
            println!(
                "| {clients} | {mode} | {:.0} | {syncs} | {:.1} |",
                f64::from(u32::try_from(n).unwrap()) / secs,
                f64::from(u32::try_from(n).unwrap()) / f64::from(u32::try_from(syncs).unwrap())
            );
            let (h, hh) = log.head();
            assert!(
                verify_file(&path, &log.public_key(), Some((h, &hh)))
                    .unwrap()
                    .ok
            );
        }
    }
}

/// Recomputes entry hashes and the checkpoint signature exactly as docs/AUDIT.md describes
/// them, without the module's encoder.
#[test]
fn byte_layout_matches_audit_doc() {
    use aws_lc_rs::digest::{digest, SHA256};
    use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};

    fn s(out: &mut Vec<u8>, v: &str) {
        out.extend_from_slice(&u32::try_from(v.len()).unwrap().to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    let dir = TempDir::new("layout");
    let path = dir.path("a.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, 0).unwrap();
    let e = AuditEvent {
        time_ms: -5,
        request_id: "r1".into(),
        identity: "root".into(),
        source: "10.0.0.1:443".into(),
        operation: "kms:ScheduleKeyDeletion".into(),
        key_id: Some("k1".into()),
        key_version: None,
        outcome: "pending".into(),
        error_code: None,
        root: true,
        detail: Some("approval a-1".into()),
    };
    log.append_blocking(e).unwrap();
    log.checkpoint_now().unwrap();
    let pk = log.public_key();
    drop(log);
    let l = lines(&path);
    assert_eq!(l.len(), 2);

    // Entry 0.
    let mut c = b"strongroom-audit-entry-v1".to_vec();
    c.extend_from_slice(&0u64.to_be_bytes());
    c.push(0x01);
    c.extend_from_slice(&(-5i64).to_be_bytes());
    s(&mut c, "r1");
    s(&mut c, "root");
    s(&mut c, "10.0.0.1:443");
    s(&mut c, "kms:ScheduleKeyDeletion");
    c.push(0x01);
    s(&mut c, "k1");
    c.push(0x00); // key_version: None
    s(&mut c, "pending");
    c.push(0x00); // error_code: None
    c.push(0x01); // root: true
    c.push(0x01);
    s(&mut c, "approval a-1");
    let mut input = vec![0u8; 32];
    input.extend_from_slice(&c);
    let h0 = hex(digest(&SHA256, &input).as_ref());
    let v0 = value(&l[0]);
    assert_eq!(v0["prev"].as_str().unwrap(), "0".repeat(64));
    assert_eq!(v0["hash"].as_str().unwrap(), h0);

    // Entry 1: checkpoint over head h0.
    let v1 = value(&l[1]);
    assert_eq!(v1["prev"].as_str().unwrap(), h0);
    let sig = B64
        .decode(v1["checkpoint"]["signature"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        B64.decode(v1["checkpoint"]["public_key"].as_str().unwrap())
            .unwrap(),
        pk
    );
    let mut msg = b"strongroom-audit-checkpoint-v1".to_vec();
    msg.extend_from_slice(&1u64.to_be_bytes());
    msg.extend_from_slice(&parse_hash(&h0).unwrap());
    UnparsedPublicKey::new(&ED25519, &pk)
        .verify(&msg, &sig)
        .unwrap();
    let mut c = b"strongroom-audit-entry-v1".to_vec();
    c.extend_from_slice(&1u64.to_be_bytes());
    c.push(0x02);
    c.extend_from_slice(&64u32.to_be_bytes());
    c.extend_from_slice(&sig);
    c.extend_from_slice(&32u32.to_be_bytes());
    c.extend_from_slice(&pk);
    let mut input = parse_hash(&h0).unwrap().to_vec();
    input.extend_from_slice(&c);
    assert_eq!(
        v1["hash"].as_str().unwrap(),
        hex(digest(&SHA256, &input).as_ref())
    );
    // Key order of the lines, as documented.
    assert!(l[0].starts_with("{\"index\":0,\"prev\":\""));
    assert!(l[1].contains("\"checkpoint\":{\"signature\":\""));
}

/// An editor's `sed -i` or a `mv` replaces the file: the log must refuse
/// rather than keep writing to a file nobody can read.
#[test]
fn replaced_or_removed_file_is_refused() {
    let dir = TempDir::new("replaced");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    log.append_blocking(ev(0)).unwrap();
    let copy = dir.path("copy.jsonl");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::rename(&copy, &path).unwrap();
    let e = log.append_blocking(ev(1)).unwrap_err();
    assert!(
        matches!(&e, AuditError::Unavailable(m) if m.contains("replaced")),
        "{e}"
    );
    std::fs::remove_file(&path).unwrap();
    let e = log.append_blocking(ev(2)).unwrap_err();
    assert!(
        matches!(&e, AuditError::Unavailable(m) if m.contains("gone")),
        "{e}"
    );
    assert_eq!(
        log.head().0,
        1,
        "nothing was acknowledged after the replacement"
    );
}

/// Health's view of the sink (issue #21): a failed write (ENOSPC, EIO, an
/// fdatasync error) is reported until a write succeeds again; the probe
/// finds the recovery by itself; a removed or replaced file is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_problem_reports_failures_recovery_and_a_replaced_file() {
    let dir = TempDir::new("sink-problem");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let log = AuditLog::open(&path, &key, EVERY).unwrap();
    log.append(ev(0)).await.unwrap();
    assert_eq!(log.sink_problem(), None);
    assert_eq!(log.probe(std::time::Duration::ZERO).await, None);

    for fault in [Fault::Sync, Fault::PartialWrite] {
        log.inject_fault(Some(fault));
        assert!(log.append(ev(1)).await.is_err());
        let why = log.sink_problem().expect("reported");
        assert!(why.contains("injected"), "{fault:?}: {why}");
        // Still failing: the probe does not clear it.
        assert!(log.probe(std::time::Duration::ZERO).await.is_some());
        // The disk has room again: the probe's checkpoint succeeds.
        log.inject_fault(None);
        assert_eq!(
            log.probe(std::time::Duration::ZERO).await,
            None,
            "{fault:?}"
        );
        assert!(!log.is_failed());
    }
    let (n, h) = log.head();
    let r = verify_file(&path, &log.public_key(), Some((n, &h))).unwrap();
    assert!(r.ok, "{r:?}");

    // Probes are rate-limited: no checkpoint storm from health checks.
    log.inject_fault(Some(Fault::Sync));
    assert!(log.append(ev(2)).await.is_err());
    log.inject_fault(None);
    let head = log.head();
    for _ in 0..5 {
        // A probe ran moments ago: not again within the hour.
        assert!(log
            .probe(std::time::Duration::from_secs(3600))
            .await
            .is_some());
    }
    assert_eq!(log.head(), head, "no probe checkpoint within the interval");
    // A real write clears it as well.
    log.append(ev(2)).await.unwrap();
    assert_eq!(log.sink_problem(), None);

    // Replaced on disk (an editor's rename): reported, and writes refused.
    let other = dir.path("other.jsonl");
    std::fs::write(&other, b"").unwrap();
    std::fs::rename(&other, &path).unwrap();
    let why = log.sink_problem().expect("replaced");
    assert!(why.contains("replaced"), "{why}");
    assert!(log.append(ev(3)).await.is_err());
    // Removed.
    std::fs::remove_file(&path).unwrap();
    let why = log.sink_problem().expect("gone");
    assert!(why.contains("gone"), "{why}");
    assert!(log.probe(std::time::Duration::ZERO).await.is_some());
}

/// Rotation (issue #21): by size, the chain continues across segments under
/// signed checkpoints; `verify_log` checks every segment and link; query
/// reads all of them; reopening continues; a crash between the two renames
/// is recovered; retention keeps the newest segments; a removed middle
/// segment or a replaced live file is named.
#[test]
fn rotation_keeps_one_chain_across_segments() {
    let dir = TempDir::new("rotation");
    let path = dir.path("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let rot = Rotation {
        max_bytes: 8 * 1024,
        max_age: std::time::Duration::ZERO,
        retain: 0,
    };
    let log = AuditLog::open_rotating(&path, &key, 10, rot).unwrap();
    let pk = log.public_key();
    for i in 0..200 {
        log.append_blocking(ev(i)).unwrap();
    }
    let segs = segment_files(&path).unwrap();
    assert!(segs.len() >= 5, "{segs:?}");
    assert_eq!(segs[0].0, 0);
    for (_, p) in &segs {
        assert!(std::fs::metadata(p).unwrap().len() >= 8 * 1024, "{p:?}");
    }
    let (n, h) = log.head();
    let r = verify_log(&path, &pk, Some((n, &h))).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.events, 200, "{r:?}");
    assert_eq!(r.entries, n, "every index once across the files: {r:?}");
    // The live file alone is not the whole story: plain verify_file refuses
    // a file that starts mid-chain.
    assert!(!verify_file(&path, &pk, None).unwrap().ok);
    // Query reads every segment, in order.
    let all = query(&path, &AuditFilter::default()).unwrap();
    assert_eq!(all.len(), 200);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));

    // Reopen continues the chain.
    drop(log);
    let log = AuditLog::open_rotating(&path, &key, 10, rot).unwrap();
    log.append_blocking(ev(200)).unwrap();
    let (n, h) = log.head();
    drop(log);
    assert!(verify_log(&path, &pk, None).unwrap().ok);

    // A crash between the renames: the live file is gone, the segment is there.
    let last_first = segment_files(&path).unwrap().last().unwrap().0;
    let live_first = {
        let text = std::fs::read_to_string(&path).unwrap();
        value(text.lines().next().unwrap())["index"]
            .as_u64()
            .unwrap()
    };
    assert!(live_first > last_first);
    std::fs::rename(&path, segment_path(&path, live_first)).unwrap();
    std::fs::write(dir.path("audit.jsonl.next"), b"partial").unwrap();
    let log = AuditLog::open_rotating(&path, &key, 10, rot).unwrap();
    assert!(!dir.path("audit.jsonl.next").exists());
    assert!(log.head().0 > n, "continued after {n}: {:?}", log.head());
    log.append_blocking(ev(201)).unwrap();
    let (n2, h2) = log.head();
    drop(log);
    let r = verify_log(&path, &pk, None).unwrap();
    assert!(r.ok, "{r:?}");
    assert_ne!(h, h2);
    assert!(n2 > n);

    // A removed middle segment breaks the chain, and is named.
    let segs = segment_files(&path).unwrap();
    let mid = &segs[segs.len() / 2].1;
    let moved = dir.path("moved-segment");
    std::fs::rename(mid, &moved).unwrap();
    let r = verify_log(&path, &pk, None).unwrap();
    assert!(!r.ok, "{r:?}");
    assert!(
        r.reason.as_deref().unwrap().contains("does not continue"),
        "{r:?}"
    );
    std::fs::rename(&moved, mid).unwrap();
    assert!(verify_log(&path, &pk, None).unwrap().ok);

    // A live file that does not continue the last segment is refused at open.
    let saved = std::fs::read(&path).unwrap();
    std::fs::write(&path, b"").unwrap();
    let other = AuditLog::open_rotating(&path, &generate_signing_key().unwrap(), 10, rot);
    assert!(other.is_err(), "a different key cannot continue this chain");
    std::fs::write(&path, &saved).unwrap();

    // Retention keeps the newest segments; what is left still verifies.
    let keep = Rotation { retain: 2, ..rot };
    let log = AuditLog::open_rotating(&path, &key, 10, keep).unwrap();
    for i in 0..60 {
        log.append_blocking(ev(300 + i)).unwrap();
    }
    drop(log);
    let segs = segment_files(&path).unwrap();
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert!(segs[0].0 > 0);
    let r = verify_log(&path, &pk, None).unwrap();
    assert!(r.ok, "{r:?}");
}
