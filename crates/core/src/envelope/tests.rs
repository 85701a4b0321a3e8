//! Unit tests for the envelope file format: round trips, short I/O, and every
//! kind of tampering the format must detect.

use super::*;
use std::io::Cursor;

const KEY: [u8; 32] = [0x42; 32];
const OTHER_KEY: [u8; 32] = [0x43; 32];
const WRAPPED: &[u8] = b"kms-ciphertext-of-the-data-key: opaque to the envelope layer";
const ENC: usize = CHUNK_SIZE + TAG_LEN;

fn header_len(wrapped_len: usize) -> usize {
    5 + 1 + 2 + wrapped_len + 4 + SALT_LEN
}

fn hl() -> usize {
    header_len(WRAPPED.len())
}

/// Deterministic, non-repeating-per-chunk test plaintext.
fn plaintext(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8) ^ (i >> 16)) as u8)
        .collect()
}

/// Ciphertext length for `n` plaintext bytes: every input ends with a final
/// chunk shorter than CHUNK_SIZE, so there are n / CHUNK_SIZE + 1 chunks.
fn expected_len(n: usize) -> usize {
    hl() + n + TAG_LEN * (n / CHUNK_SIZE + 1)
}

fn enc_with(pt: &[u8], key: &[u8], wrapped: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let total = encrypt_stream(key, wrapped, pt, &mut out, &mut |_| {}).unwrap();
    assert_eq!(total, pt.len() as u64);
    out
}

fn enc(pt: &[u8]) -> Vec<u8> {
    enc_with(pt, &KEY, WRAPPED)
}

/// Decrypts `ct` with `key`; returns the result and whatever plaintext was written.
fn dec_with(ct: &[u8], key: &[u8]) -> (Result<u64, EnvelopeError>, Vec<u8>) {
    let mut input = ct;
    let mut out = Vec::new();
    let res = read_header(&mut input)
        .and_then(|h| decrypt_stream(&h, key, &mut input, &mut out, &mut |_| {}));
    (res, out)
}

fn dec(ct: &[u8]) -> (Result<u64, EnvelopeError>, Vec<u8>) {
    dec_with(ct, &KEY)
}

fn chunk_range(i: usize) -> std::ops::Range<usize> {
    hl() + i * ENC..hl() + (i + 1) * ENC
}

#[track_caller]
fn assert_auth_fail(res: Result<u64, EnvelopeError>, chunk: u64) {
    match res {
        Err(EnvelopeError::ChunkAuthenticationFailed { chunk: c }) => assert_eq!(c, chunk),
        other => panic!("expected authentication failure of chunk {chunk}, got {other:?}"),
    }
}

/// A reader that returns at most `max` bytes per call, like a pipe.
struct ShortReader<'a> {
    inner: &'a [u8],
    max: usize,
    calls: usize,
    interrupt_every: usize,
}

impl<'a> ShortReader<'a> {
    fn new(inner: &'a [u8], max: usize) -> Self {
        Self {
            inner,
            max,
            calls: 0,
            interrupt_every: 0,
        }
    }
}

impl Read for ShortReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Every `interrupt_every`-th call fails with Interrupted (0 = never).
        self.calls += 1;
        if self.interrupt_every != 0 && self.calls == self.interrupt_every {
            self.calls = 0;
            return Err(io::Error::new(io::ErrorKind::Interrupted, "signal"));
        }
        let n = buf.len().min(self.max).min(self.inner.len());
        buf[..n].copy_from_slice(&self.inner[..n]);
        self.inner = &self.inner[n..];
        Ok(n)
    }
}

/// A writer that accepts at most `max` bytes per call.
struct ShortWriter {
    out: Vec<u8>,
    max: usize,
}

impl Write for ShortWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.max);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct FailingIo;

impl Read for FailingIo {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "read boom"))
    }
}

impl Write for FailingIo {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "write boom"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const SIZES: [usize; 7] = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    3 * CHUNK_SIZE,
    3 * CHUNK_SIZE + 17,
];

#[test]
fn round_trip_all_sizes() {
    for n in SIZES {
        let pt = plaintext(n);
        let ct = enc(&pt);
        assert_eq!(ct.len(), expected_len(n), "ciphertext length for {n}");
        let mut input = &ct[..];
        let header = read_header(&mut input).unwrap();
        assert_eq!(header.wrapped_key(), WRAPPED);
        let mut out = Vec::new();
        let total = decrypt_stream(&header, &KEY, &mut input, &mut out, &mut |_| {}).unwrap();
        assert_eq!(total, n as u64);
        assert_eq!(out, pt, "round trip of {n} bytes");
    }
}

#[test]
fn ciphertext_is_not_plaintext_and_salt_is_random() {
    let pt = plaintext(1000);
    let a = enc(&pt);
    let b = enc(&pt);
    assert_ne!(a, b, "two encryptions must differ (random salt)");
    let salt_at = hl() - SALT_LEN;
    assert_ne!(a[salt_at..hl()], b[salt_at..hl()]);
    assert!(!a.windows(64).any(|w| w == &pt[..64]), "plaintext leaked");
}

#[test]
fn short_reads_and_writes() {
    for n in [0, 5, CHUNK_SIZE, CHUNK_SIZE + 3] {
        let pt = plaintext(n);
        let mut w = ShortWriter {
            out: Vec::new(),
            max: 5,
        };
        let total =
            encrypt_stream(&KEY, WRAPPED, ShortReader::new(&pt, 7), &mut w, &mut |_| {}).unwrap();
        assert_eq!(total, n as u64);
        let ct = w.out;
        assert_eq!(ct.len(), expected_len(n));

        let mut r = ShortReader::new(&ct, 7);
        let header = read_header(&mut r).unwrap();
        let mut w = ShortWriter {
            out: Vec::new(),
            max: 3,
        };
        decrypt_stream(&header, &KEY, &mut r, &mut w, &mut |_| {}).unwrap();
        assert_eq!(w.out, pt);
    }
}

#[test]
fn interrupted_reads_are_retried() {
    let pt = plaintext(2 * CHUNK_SIZE + 9);
    let mut r = ShortReader::new(&pt, 4096);
    r.interrupt_every = 2;
    let mut ct = Vec::new();
    encrypt_stream(&KEY, WRAPPED, r, &mut ct, &mut |_| {}).unwrap();

    let mut r = ShortReader::new(&ct, 1000);
    r.interrupt_every = 3;
    let header = read_header(&mut r).unwrap();
    let mut out = Vec::new();
    decrypt_stream(&header, &KEY, &mut r, &mut out, &mut |_| {}).unwrap();
    assert_eq!(out, pt);
}

#[test]
fn read_header_consumes_exactly_the_header() {
    let ct = enc(&plaintext(10));
    let mut cur = Cursor::new(&ct);
    read_header(&mut cur).unwrap();
    assert_eq!(cur.position() as usize, hl());
}

#[test]
fn byte_layout_matches_file_format_doc() {
    // Decrypt using only what docs/FILE_FORMAT.md says, with aws-lc-rs directly.
    let pt = plaintext(CHUNK_SIZE + 100);
    let ct = enc(&pt);
    assert_eq!(&ct[0..5], b"SRENV");
    assert_eq!(ct[5], 0x01);
    let wl = u16::from_be_bytes([ct[6], ct[7]]) as usize;
    assert_eq!(wl, WRAPPED.len());
    assert_eq!(&ct[8..8 + wl], WRAPPED);
    let cs = u32::from_be_bytes(ct[8 + wl..12 + wl].try_into().unwrap());
    assert_eq!(cs, 65536);
    let salt = &ct[12 + wl..28 + wl];
    let header_end = 28 + wl;
    assert_eq!(header_end, hl());

    let aad = digest::digest(&SHA256, &ct[..header_end]);
    let mut payload_key = [0u8; 32];
    Salt::new(HKDF_SHA256, salt)
        .extract(&KEY)
        .expand(&[b"strongroom envelope v1 payload key"], &AES_256_GCM)
        .unwrap()
        .fill(&mut payload_key)
        .unwrap();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &payload_key).unwrap());

    let mut c0 = ct[header_end..header_end + ENC].to_vec();
    let mut nonce0 = [0u8; 12];
    nonce0[11] = 0x00;
    let p0 = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce0),
            Aad::from(aad.as_ref()),
            &mut c0,
        )
        .unwrap();
    assert_eq!(p0, &pt[..CHUNK_SIZE]);

    let mut c1 = ct[header_end + ENC..].to_vec();
    assert_eq!(c1.len(), 100 + TAG_LEN);
    let mut nonce1 = [0u8; 12];
    nonce1[10] = 1; // counter = 1 (big-endian, bytes 0..11)
    nonce1[11] = 0x01; // final chunk
    let p1 = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce1),
            Aad::from(aad.as_ref()),
            &mut c1,
        )
        .unwrap();
    assert_eq!(p1, &pt[CHUNK_SIZE..]);
}

#[test]
fn exact_multiple_ends_with_empty_final_chunk() {
    let ct = enc(&plaintext(2 * CHUNK_SIZE));
    assert_eq!(ct.len(), hl() + 2 * ENC + TAG_LEN);
    // Dropping the empty final chunk leaves only full, non-final chunks.
    let (res, out) = dec(&ct[..hl() + 2 * ENC]);
    assert!(
        matches!(res, Err(EnvelopeError::MissingFinalChunk)),
        "{res:?}"
    );
    assert_eq!(out.len(), 2 * CHUNK_SIZE);
}

#[test]
fn truncation_at_every_chunk_boundary() {
    for n in [0, CHUNK_SIZE, 3 * CHUNK_SIZE, 3 * CHUNK_SIZE + 17] {
        let pt = plaintext(n);
        let ct = enc(&pt);
        let chunks = n / CHUNK_SIZE + 1;
        for k in 0..chunks {
            let (res, out) = dec(&ct[..hl() + k * ENC]);
            assert!(
                matches!(res, Err(EnvelopeError::MissingFinalChunk)),
                "n={n} k={k}: {res:?}"
            );
            // Authenticated full chunks before the cut were written, nothing else.
            assert_eq!(out, &pt[..k * CHUNK_SIZE]);
        }
    }
}

#[test]
fn truncation_inside_a_chunk() {
    let pt = plaintext(3 * CHUNK_SIZE + 17);
    let ct = enc(&pt);

    // Cut in the middle of chunk 1: it is read as a (bad) final chunk.
    let (res, out) = dec(&ct[..hl() + ENC + 1000]);
    assert_auth_fail(res, 1);
    assert_eq!(out, &pt[..CHUNK_SIZE], "only chunk 0 may be written");

    // Cut so that chunk 1 is shorter than a tag.
    let (res, out) = dec(&ct[..hl() + ENC + 5]);
    assert!(
        matches!(res, Err(EnvelopeError::TruncatedChunk { chunk: 1 })),
        "{res:?}"
    );
    assert_eq!(out, &pt[..CHUNK_SIZE]);

    // Cut one byte from the end (inside the final chunk).
    let (res, out) = dec(&ct[..ct.len() - 1]);
    assert_auth_fail(res, 3);
    assert_eq!(out, &pt[..3 * CHUNK_SIZE]);

    // One byte missing from a full chunk just before the end: chunk 2 becomes
    // short, so it is treated as final and fails.
    let (res, _) = dec(&ct[..hl() + 3 * ENC - 1]);
    assert_auth_fail(res, 2);

    // Empty final chunk (16 bytes) cut short.
    let ct = enc(&plaintext(CHUNK_SIZE));
    let (res, _) = dec(&ct[..ct.len() - 1]);
    assert!(
        matches!(res, Err(EnvelopeError::TruncatedChunk { chunk: 1 })),
        "{res:?}"
    );
}

#[test]
fn truncation_inside_the_header() {
    let ct = enc(&plaintext(100));
    for cut in 0..hl() {
        let mut input = &ct[..cut];
        let res = read_header(&mut input);
        assert!(
            matches!(res, Err(EnvelopeError::TruncatedHeader)),
            "cut at {cut}: {res:?}"
        );
    }
    // Exactly the header and nothing else: header parses, body is missing.
    let (res, out) = dec(&ct[..hl()]);
    assert!(
        matches!(res, Err(EnvelopeError::MissingFinalChunk)),
        "{res:?}"
    );
    assert!(out.is_empty());
}

#[test]
fn swapped_chunks_fail() {
    let pt = plaintext(3 * CHUNK_SIZE + 17);
    let ct = enc(&pt);

    let mut bad = ct.clone();
    bad[chunk_range(0)].copy_from_slice(&ct[chunk_range(1)]);
    bad[chunk_range(1)].copy_from_slice(&ct[chunk_range(0)]);
    let (res, out) = dec(&bad);
    assert_auth_fail(res, 0);
    assert!(
        out.is_empty(),
        "nothing may be written before chunk 0 verifies"
    );

    let mut bad = ct.clone();
    bad[chunk_range(1)].copy_from_slice(&ct[chunk_range(2)]);
    bad[chunk_range(2)].copy_from_slice(&ct[chunk_range(1)]);
    let (res, out) = dec(&bad);
    assert_auth_fail(res, 1);
    assert_eq!(out, &pt[..CHUNK_SIZE]);
}

#[test]
fn duplicated_chunk_fails() {
    let pt = plaintext(3 * CHUNK_SIZE + 17);
    let ct = enc(&pt);
    let mut bad = ct[..chunk_range(1).end].to_vec();
    bad.extend_from_slice(&ct[chunk_range(1)]);
    bad.extend_from_slice(&ct[chunk_range(2).start..]);
    let (res, _) = dec(&bad);
    assert_auth_fail(res, 2);

    // Duplicating the final chunk = trailing data.
    let final_chunk = &ct[hl() + 3 * ENC..];
    let mut bad = ct.clone();
    bad.extend_from_slice(final_chunk);
    let (res, _) = dec(&bad);
    assert_auth_fail(res, 3);
}

#[test]
fn dropped_middle_chunk_fails() {
    let pt = plaintext(3 * CHUNK_SIZE + 17);
    let ct = enc(&pt);
    let mut bad = ct[..chunk_range(1).start].to_vec();
    bad.extend_from_slice(&ct[chunk_range(2).start..]);
    let (res, out) = dec(&bad);
    assert_auth_fail(res, 1);
    assert_eq!(out, &pt[..CHUNK_SIZE]);
}

#[test]
fn final_chunk_replayed_from_another_position_fails() {
    // Take a 1-chunk file's final chunk and graft it onto a longer file's
    // position 0 with the same header: nonce counter differs.
    let pt = plaintext(CHUNK_SIZE + 10);
    let ct = enc(&pt);
    let mut bad = ct[..hl()].to_vec();
    bad.extend_from_slice(&ct[hl() + ENC..]);
    let (res, _) = dec(&bad);
    assert_auth_fail(res, 0);
}

#[test]
fn bit_flips_anywhere_fail() {
    let pt = plaintext(3 * CHUNK_SIZE + 17);
    let ct = enc(&pt);
    let mut positions: Vec<usize> = (0..ct.len()).step_by(997).collect();
    positions.extend(0..hl()); // every header byte
    positions.extend([ct.len() - 1, ct.len() - TAG_LEN, hl() + ENC - 1, hl() + ENC]);
    for &pos in &positions {
        for bit in [0u8, 7] {
            let mut bad = ct.clone();
            bad[pos] ^= 1 << bit;
            let (res, _) = dec(&bad);
            assert!(
                res.is_err(),
                "flip of bit {bit} at byte {pos} went undetected"
            );
        }
    }
}

#[test]
fn header_swap_between_files_fails() {
    let pt = plaintext(100);
    let a = enc(&pt);
    let b = enc(&pt);
    let mut bad = a[..hl()].to_vec();
    bad.extend_from_slice(&b[hl()..]);
    let (res, _) = dec(&bad);
    assert_auth_fail(res, 0);

    // Same-length wrapped key substituted: the header hash no longer matches.
    let mut bad = a.clone();
    bad[8] ^= 0xff;
    let (res, _) = dec(&bad);
    assert_auth_fail(res, 0);
}

#[test]
fn trailing_garbage_fails() {
    for n in [0, CHUNK_SIZE, 3 * CHUNK_SIZE + 17] {
        let pt = plaintext(n);
        let ct = enc(&pt);
        let final_index = (n / CHUNK_SIZE) as u64;
        for extra in [1usize, 100, ENC - 1, ENC, ENC + 5, 3 * ENC] {
            let mut bad = ct.clone();
            bad.extend(std::iter::repeat_n(0xA5u8, extra));
            let (res, out) = dec(&bad);
            assert_auth_fail(res, final_index);
            assert!(out.len() <= n);
        }
    }
}

#[test]
fn wrong_data_key_fails() {
    let ct = enc(&plaintext(CHUNK_SIZE + 1));
    let (res, out) = dec_with(&ct, &OTHER_KEY);
    assert_auth_fail(res, 0);
    assert!(out.is_empty());
}

#[test]
fn wrong_length_data_key_is_rejected() {
    for len in [0usize, 16, 31, 33, 64] {
        let key = vec![7u8; len];
        let mut out = Vec::new();
        let res = encrypt_stream(&key, WRAPPED, &b"hello"[..], &mut out, &mut |_| {});
        assert!(
            matches!(res, Err(EnvelopeError::InvalidDataKeyLength(l)) if l == len),
            "{res:?}"
        );
        assert!(out.is_empty(), "nothing written on argument error");
    }
    let ct = enc(b"hello");
    let (res, _) = dec_with(&ct, &[1u8; 31]);
    assert!(
        matches!(res, Err(EnvelopeError::InvalidDataKeyLength(31))),
        "{res:?}"
    );
    let msg = EnvelopeError::InvalidDataKeyLength(31).to_string();
    assert!(msg.contains("32") && msg.contains("31"), "{msg}");
}

#[test]
fn wrapped_key_length_bounds_on_write() {
    for len in [0usize, MAX_WRAPPED_KEY_LEN + 1, 70000] {
        let wrapped = vec![1u8; len];
        let res = encrypt_stream(&KEY, &wrapped, &b"x"[..], Vec::new(), &mut |_| {});
        assert!(
            matches!(res, Err(EnvelopeError::InvalidWrappedKeyLength(l)) if l == len),
            "{res:?}"
        );
    }
    for len in [1usize, MAX_WRAPPED_KEY_LEN] {
        let wrapped = vec![9u8; len];
        let pt = plaintext(CHUNK_SIZE + 2);
        let ct = enc_with(&pt, &KEY, &wrapped);
        let mut input = &ct[..];
        let header = read_header(&mut input).unwrap();
        assert_eq!(header.wrapped_key(), &wrapped[..]);
        let mut out = Vec::new();
        decrypt_stream(&header, &KEY, input, &mut out, &mut |_| {}).unwrap();
        assert_eq!(out, pt);
    }
}

fn header_with_len_field(len_field: u16, actual: usize) -> Vec<u8> {
    let mut h = b"SRENV\x01".to_vec();
    h.extend_from_slice(&len_field.to_be_bytes());
    h.extend(std::iter::repeat_n(3u8, actual));
    h.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
    h.extend_from_slice(&[0u8; SALT_LEN]);
    h
}

#[test]
fn wrapped_key_length_bounds_on_read() {
    for len in [0u16, 4097, u16::MAX] {
        let h = header_with_len_field(len, usize::from(len));
        let res = read_header(&mut &h[..]);
        assert!(
            matches!(res, Err(EnvelopeError::InvalidWrappedKeyLength(l)) if l == usize::from(len)),
            "len {len}: {res:?}"
        );
    }
    let h = header_with_len_field(4096, 4096);
    assert_eq!(read_header(&mut &h[..]).unwrap().wrapped_key().len(), 4096);
    // Length field larger than the data actually present.
    let h = header_with_len_field(4000, 10);
    assert!(matches!(
        read_header(&mut &h[..]),
        Err(EnvelopeError::TruncatedHeader)
    ));
}

#[test]
fn bad_magic_is_reported() {
    let mut ct = enc(b"abc");
    ct[4] = b'X';
    assert!(matches!(
        read_header(&mut &ct[..]),
        Err(EnvelopeError::BadMagic)
    ));
    for input in [&b"hello world, plain text"[..], b"X", b"SRX", b"PK\x03\x04"] {
        let res = read_header(&mut &input[..]);
        assert!(
            matches!(res, Err(EnvelopeError::BadMagic)),
            "{input:?}: {res:?}"
        );
    }
    assert_eq!(
        EnvelopeError::BadMagic.to_string(),
        "not a Strongroom envelope file (bad magic)"
    );
}

#[test]
fn bad_version_is_reported() {
    for v in [0u8, 2, 0xff] {
        let mut ct = enc(b"abc");
        ct[5] = v;
        let res = read_header(&mut &ct[..]);
        assert!(
            matches!(res, Err(EnvelopeError::UnsupportedVersion(x)) if x == v),
            "{res:?}"
        );
    }
    assert_eq!(
        EnvelopeError::UnsupportedVersion(2).to_string(),
        "unsupported envelope format version 2 (this build supports version 1)"
    );
}

#[test]
fn altered_chunk_size_is_rejected_before_allocation() {
    let ct = enc(&plaintext(10));
    let at = 8 + WRAPPED.len();
    for size in [0u32, 1, 16, 65535, 65537, 1 << 20, 1 << 31, u32::MAX] {
        let mut bad = ct.clone();
        bad[at..at + 4].copy_from_slice(&size.to_be_bytes());
        let res = read_header(&mut &bad[..]);
        assert!(
            matches!(res, Err(EnvelopeError::UnsupportedChunkSize(s)) if s == size),
            "{size}: {res:?}"
        );
    }
}

#[test]
fn progress_is_monotone_and_ends_at_total() {
    for n in SIZES {
        let pt = plaintext(n);
        let mut seen = Vec::new();
        let mut ct = Vec::new();
        let total = encrypt_stream(&KEY, WRAPPED, &pt[..], &mut ct, &mut |p| seen.push(p)).unwrap();
        let chunks = n / CHUNK_SIZE + 1;
        assert_eq!(seen.len(), chunks, "one callback per chunk (n={n})");
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert_eq!(seen.last().copied(), Some(total));
        assert_eq!(total, n as u64);

        let mut seen = Vec::new();
        let mut input = &ct[..];
        let header = read_header(&mut input).unwrap();
        let total =
            decrypt_stream(&header, &KEY, input, io::sink(), &mut |p| seen.push(p)).unwrap();
        assert_eq!(seen.len(), chunks);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert_eq!(seen.last().copied(), Some(total));
        assert_eq!(total, n as u64);
    }
}

#[test]
fn io_errors_are_propagated() {
    let res = encrypt_stream(&KEY, WRAPPED, FailingIo, Vec::new(), &mut |_| {});
    assert!(matches!(res, Err(EnvelopeError::Io(_))), "{res:?}");
    let res = encrypt_stream(&KEY, WRAPPED, &b"abc"[..], FailingIo, &mut |_| {});
    assert!(matches!(res, Err(EnvelopeError::Io(_))), "{res:?}");
    assert!(matches!(
        read_header(&mut FailingIo),
        Err(EnvelopeError::Io(_))
    ));
    let ct = enc(b"abc");
    let mut input = &ct[..];
    let header = read_header(&mut input).unwrap();
    let res = decrypt_stream(&header, &KEY, input, FailingIo, &mut |_| {});
    let err = res.unwrap_err();
    assert!(matches!(err, EnvelopeError::Io(_)));
    assert!(std::error::Error::source(&err).is_some());
    assert!(err.to_string().contains("write boom"), "{err}");
}

#[test]
fn error_messages_are_specific() {
    let cases = [
        (
            EnvelopeError::MissingFinalChunk,
            "the file is truncated: the final chunk is missing",
        ),
        (
            EnvelopeError::ChunkAuthenticationFailed { chunk: 3 },
            "chunk 3 failed authentication: the file was modified, truncated, extended, \
             reordered, or the wrong key was used",
        ),
        (
            EnvelopeError::TruncatedHeader,
            "the file is truncated: the envelope header is incomplete",
        ),
        (
            EnvelopeError::TruncatedChunk { chunk: 2 },
            "the file is truncated: chunk 2 is incomplete",
        ),
        (
            EnvelopeError::UnsupportedChunkSize(7),
            "unsupported envelope chunk size 7 bytes (this build supports only 65536)",
        ),
        (
            EnvelopeError::InvalidWrappedKeyLength(0),
            "invalid wrapped key length 0: it must be between 1 and 4096 bytes",
        ),
    ];
    for (err, msg) in cases {
        assert_eq!(err.to_string(), msg);
        assert!(std::error::Error::source(&err).is_none());
    }
}

#[test]
fn nonce_layout() {
    let n = chunk_nonce(0x0102_0304_0506_0708, true);
    assert_eq!(
        n.as_ref(),
        &[0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x01],
        "11-byte BE counter || last flag"
    );
    let n = chunk_nonce(0, false);
    assert_eq!(n.as_ref(), &[0u8; 12]);
}

/// Throughput check (best of 3, output buffers pre-faulted so page faults are
/// not measured): `cargo test --release -- --ignored --nocapture envelope_throughput`
#[test]
#[ignore = "benchmark; run in release mode"]
fn envelope_throughput_256mib() {
    use std::time::Instant;
    let size = 256 * 1024 * 1024;
    let pt = plaintext(size);
    let prefault = |cap: usize| {
        let mut v = vec![1u8; cap];
        v.clear();
        v
    };
    let mut ct = prefault(size + size / 1000 + 4096);
    let mut out = prefault(size);
    let (mut best_enc, mut best_dec) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        ct.clear();
        out.clear();
        let t = Instant::now();
        encrypt_stream(&KEY, WRAPPED, &pt[..], &mut ct, &mut |_| {}).unwrap();
        best_enc = best_enc.min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let mut input = &ct[..];
        let header = read_header(&mut input).unwrap();
        decrypt_stream(&header, &KEY, input, &mut out, &mut |_| {}).unwrap();
        best_dec = best_dec.min(t.elapsed().as_secs_f64());
        assert!(out == pt);
    }
    let mib = size as f64 / (1024.0 * 1024.0);
    println!(
        "envelope 256 MiB (best of 3): encrypt {:.3}s ({:.0} MiB/s), decrypt {:.3}s \
         ({:.0} MiB/s), encrypt+decrypt {:.3}s ({:.0} MiB/s)",
        best_enc,
        mib / best_enc,
        best_dec,
        mib / best_dec,
        best_enc + best_dec,
        mib / (best_enc + best_dec)
    );
}
