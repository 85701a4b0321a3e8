//! Streaming envelope encryption file format (`strongroom encrypt` / `strongroom decrypt`).
//!
//! This module holds the byte-level reader and writer for Strongroom envelope
//! files: a small header carrying the KMS-wrapped data key, followed by the
//! payload encrypted with a STREAM-style chunked AEAD (AES-256-GCM, 64 KiB
//! chunks, per-file payload key derived with HKDF-SHA256 from the data key and
//! a random salt). Files of any size are processed in constant memory from
//! non-seekable streams. The authoritative description of the format is
//! `docs/FILE_FORMAT.md`; keep the two in sync.
//!
//! The module does no network or file-system work itself: the CLI obtains the
//! data key from the server, hands it to [`encrypt_stream`] /
//! [`decrypt_stream`], and is responsible for writing decrypted output to a
//! temporary file that is renamed into place only on success.

use std::fmt;
use std::io::{self, Read, Write};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest::{self, SHA256};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use zeroize::Zeroizing;

/// Plaintext bytes per chunk (every chunk except the final one is exactly this long).
pub const CHUNK_SIZE: usize = 65536;

/// Magic bytes at the start of every envelope file.
const MAGIC: &[u8; 5] = b"SRENV";
/// The only format version this code reads and writes.
const FORMAT_VERSION: u8 = 0x01;
/// Length of the data key handed out by the server (AES-256).
const DATA_KEY_LEN: usize = 32;
/// Bounds on the wrapped (KMS-encrypted) data key stored in the header.
const MIN_WRAPPED_KEY_LEN: usize = 1;
const MAX_WRAPPED_KEY_LEN: usize = 4096;
/// Length of the random HKDF salt in the header.
const SALT_LEN: usize = 16;
/// AES-GCM authentication tag length.
const TAG_LEN: usize = 16;
/// Hard cap on any chunk size we would ever allocate a buffer for.
const MAX_CHUNK_SIZE: usize = 1 << 20;
/// HKDF info string for the per-file payload key.
const PAYLOAD_KEY_INFO: &[u8] = b"strongroom envelope v1 payload key";
/// Last byte of the nonce: 0x00 for every chunk except the final one.
const FLAG_NOT_LAST: u8 = 0x00;
const FLAG_LAST: u8 = 0x01;

/// Everything that can go wrong while writing or reading an envelope file.
///
/// No variant ever carries key material or plaintext.
#[derive(Debug)]
pub enum EnvelopeError {
    /// Reading the input or writing the output failed.
    Io(io::Error),
    /// The data key passed in is not 32 bytes long.
    InvalidDataKeyLength(usize),
    /// The wrapped key is empty or longer than 4096 bytes (on write or in a header).
    InvalidWrappedKeyLength(usize),
    /// The input does not start with the envelope magic bytes.
    BadMagic,
    /// The header names a format version this build does not know.
    UnsupportedVersion(u8),
    /// The header names a chunk size this build does not accept.
    UnsupportedChunkSize(u32),
    /// The input ended before the header was complete.
    TruncatedHeader,
    /// The input ended inside a chunk, before even its authentication tag.
    TruncatedChunk {
        /// Zero-based index of the incomplete chunk.
        chunk: u64,
    },
    /// The input ended on a chunk boundary without a final chunk.
    MissingFinalChunk,
    /// A chunk did not authenticate (modified, truncated, extended, reordered,
    /// duplicated, or the wrong data key).
    ChunkAuthenticationFailed {
        /// Zero-based index of the chunk that failed.
        chunk: u64,
    },
    /// The stream has more chunks than the 64-bit chunk counter can number.
    TooLarge,
    /// The crypto library reported an internal failure (e.g. the random
    /// number generator).
    Crypto(&'static str),
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::InvalidDataKeyLength(len) => write!(
                f,
                "invalid data key length: expected {DATA_KEY_LEN} bytes, got {len}"
            ),
            Self::InvalidWrappedKeyLength(len) => write!(
                f,
                "invalid wrapped key length {len}: it must be between \
                 {MIN_WRAPPED_KEY_LEN} and {MAX_WRAPPED_KEY_LEN} bytes"
            ),
            Self::BadMagic => f.write_str("not a Strongroom envelope file (bad magic)"),
            Self::UnsupportedVersion(v) => write!(
                f,
                "unsupported envelope format version {v} (this build supports version {FORMAT_VERSION})"
            ),
            Self::UnsupportedChunkSize(size) => write!(
                f,
                "unsupported envelope chunk size {size} bytes (this build supports only {CHUNK_SIZE})"
            ),
            Self::TruncatedHeader => {
                f.write_str("the file is truncated: the envelope header is incomplete")
            }
            Self::TruncatedChunk { chunk } => {
                write!(f, "the file is truncated: chunk {chunk} is incomplete")
            }
            Self::MissingFinalChunk => {
                f.write_str("the file is truncated: the final chunk is missing")
            }
            Self::ChunkAuthenticationFailed { chunk } => write!(
                f,
                "chunk {chunk} failed authentication: the file was modified, truncated, \
                 extended, reordered, or the wrong key was used"
            ),
            Self::TooLarge => f.write_str("the stream is too large for the envelope format"),
            Self::Crypto(what) => write!(f, "cryptographic operation failed: {what}"),
        }
    }
}

impl std::error::Error for EnvelopeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for EnvelopeError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Parsed envelope header; `wrapped_key()` returns the KMS ciphertext of the data key.
///
/// Only [`read_header`] constructs one, so every `Header` has been validated.
#[derive(Debug, Clone)]
pub struct Header {
    wrapped_key: Vec<u8>,
    chunk_size: u32,
    salt: [u8; SALT_LEN],
    /// SHA-256 of the exact header bytes; the AAD of every chunk.
    header_hash: [u8; 32],
}

impl Header {
    /// The wrapped (KMS-encrypted) data key to send to the server for unwrapping.
    pub fn wrapped_key(&self) -> &[u8] {
        &self.wrapped_key
    }
}

/// Chunk sizes accepted on read. Only the size we write is accepted.
fn check_chunk_size(size: u32) -> Result<usize, EnvelopeError> {
    let as_usize = usize::try_from(size).map_err(|_| EnvelopeError::UnsupportedChunkSize(size))?;
    if as_usize == CHUNK_SIZE && as_usize <= MAX_CHUNK_SIZE {
        Ok(as_usize)
    } else {
        Err(EnvelopeError::UnsupportedChunkSize(size))
    }
}

fn check_wrapped_key_len(len: usize) -> Result<(), EnvelopeError> {
    if (MIN_WRAPPED_KEY_LEN..=MAX_WRAPPED_KEY_LEN).contains(&len) {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidWrappedKeyLength(len))
    }
}

/// Serialises the header fields exactly as they appear on disk.
fn encode_header(
    wrapped_key: &[u8],
    chunk_size: u32,
    salt: &[u8; SALT_LEN],
) -> Result<Vec<u8>, EnvelopeError> {
    check_wrapped_key_len(wrapped_key.len())?;
    let wrapped_len = u16::try_from(wrapped_key.len())
        .map_err(|_| EnvelopeError::InvalidWrappedKeyLength(wrapped_key.len()))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 1 + 2 + wrapped_key.len() + 4 + SALT_LEN);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&wrapped_len.to_be_bytes());
    out.extend_from_slice(wrapped_key);
    out.extend_from_slice(&chunk_size.to_be_bytes());
    out.extend_from_slice(salt);
    Ok(out)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let d = digest::digest(&SHA256, bytes);
    out.copy_from_slice(d.as_ref());
    out
}

/// Derives the per-file AES-256-GCM payload key: HKDF-SHA256(salt, data_key, info).
fn payload_key(data_key: &[u8], salt: &[u8; SALT_LEN]) -> Result<LessSafeKey, EnvelopeError> {
    if data_key.len() != DATA_KEY_LEN {
        return Err(EnvelopeError::InvalidDataKeyLength(data_key.len()));
    }
    let prk = Salt::new(HKDF_SHA256, salt).extract(data_key);
    let info = [PAYLOAD_KEY_INFO];
    let okm = prk
        .expand(&info, &AES_256_GCM)
        .map_err(|_| EnvelopeError::Crypto("HKDF expand"))?;
    let mut key_bytes = Zeroizing::new([0u8; 32]);
    okm.fill(key_bytes.as_mut())
        .map_err(|_| EnvelopeError::Crypto("HKDF expand"))?;
    let unbound = UnboundKey::new(&AES_256_GCM, key_bytes.as_ref())
        .map_err(|_| EnvelopeError::Crypto("AES-256-GCM key setup"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Nonce = 11-byte big-endian chunk counter || 1-byte last-chunk flag.
fn chunk_nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    // Bytes 0..3 are the high bytes of the 88-bit counter and always zero
    // because the counter is a u64.
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = if last { FLAG_LAST } else { FLAG_NOT_LAST };
    Nonce::assume_unique_for_key(n)
}

/// Reads until `buf` is full or the input is at EOF; returns the bytes read.
/// Tolerates short reads and retries on `Interrupted`.
fn read_full<R: Read + ?Sized>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            // `min` guards against a misbehaving reader claiming more than it was given.
            Ok(n) => filled = filled.saturating_add(n).min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads exactly `buf.len()` header bytes or fails with `TruncatedHeader`.
fn read_header_field<R: Read + ?Sized>(input: &mut R, buf: &mut [u8]) -> Result<(), EnvelopeError> {
    if read_full(input, buf)? == buf.len() {
        Ok(())
    } else {
        Err(EnvelopeError::TruncatedHeader)
    }
}

/// Writes header + chunks. `data_key` must be 32 bytes (else error). `progress`
/// is called with the cumulative number of plaintext bytes processed after each
/// chunk. Returns total plaintext bytes.
pub fn encrypt_stream<R: Read, W: Write>(
    data_key: &[u8],
    wrapped_key: &[u8],
    mut input: R,
    mut output: W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, EnvelopeError> {
    if data_key.len() != DATA_KEY_LEN {
        return Err(EnvelopeError::InvalidDataKeyLength(data_key.len()));
    }
    check_wrapped_key_len(wrapped_key.len())?;

    let mut salt = [0u8; SALT_LEN];
    aws_lc_rs::rand::fill(&mut salt)
        .map_err(|_| EnvelopeError::Crypto("random salt generation"))?;
    let chunk_size_field =
        u32::try_from(CHUNK_SIZE).map_err(|_| EnvelopeError::UnsupportedChunkSize(u32::MAX))?;
    let header = encode_header(wrapped_key, chunk_size_field, &salt)?;
    let aad = sha256(&header);
    let key = payload_key(data_key, &salt)?;

    output.write_all(&header)?;

    // One buffer for the whole stream: plaintext is read into [..CHUNK_SIZE],
    // sealed in place, and the tag appended right after it.
    let mut buf = Zeroizing::new(vec![0u8; CHUNK_SIZE + TAG_LEN]);
    let mut counter: u64 = 0;
    let mut total: u64 = 0;
    loop {
        let n = read_full(&mut input, &mut buf[..CHUNK_SIZE])?;
        // A short read means EOF: this is the final chunk (possibly empty). A
        // full chunk is never final; if the input ends right after it, the
        // next iteration emits an empty final chunk.
        let last = n < CHUNK_SIZE;
        // n <= CHUNK_SIZE, so this is within the buffer.
        let chunk = &mut buf[..n + TAG_LEN];
        let (data, tag_slot) = chunk.split_at_mut(n);
        let tag = key
            .seal_in_place_separate_tag(chunk_nonce(counter, last), Aad::from(aad), data)
            .map_err(|_| EnvelopeError::Crypto("AES-256-GCM seal"))?;
        tag_slot.copy_from_slice(tag.as_ref());
        output.write_all(chunk)?;

        total = total.checked_add(n as u64).ok_or(EnvelopeError::TooLarge)?;
        progress(total);
        if last {
            break;
        }
        counter = counter.checked_add(1).ok_or(EnvelopeError::TooLarge)?;
    }
    output.flush()?;
    Ok(total)
}

/// Reads only the header from the input (the caller then unwraps the data key
/// via the server). Never reads past the end of the header.
pub fn read_header<R: Read>(input: &mut R) -> Result<Header, EnvelopeError> {
    // Magic + version.
    let mut prefix = [0u8; 6];
    let got = read_full(input, &mut prefix)?;
    let magic_seen = got.min(MAGIC.len());
    if prefix.get(..magic_seen) != MAGIC.get(..magic_seen) {
        return Err(EnvelopeError::BadMagic);
    }
    if got < prefix.len() {
        return Err(EnvelopeError::TruncatedHeader);
    }
    if prefix[5] != FORMAT_VERSION {
        return Err(EnvelopeError::UnsupportedVersion(prefix[5]));
    }

    let mut len_bytes = [0u8; 2];
    read_header_field(input, &mut len_bytes)?;
    let wrapped_len = usize::from(u16::from_be_bytes(len_bytes));
    check_wrapped_key_len(wrapped_len)?;
    // Bounded by MAX_WRAPPED_KEY_LEN (4096) above.
    let mut wrapped_key = vec![0u8; wrapped_len];
    read_header_field(input, &mut wrapped_key)?;

    let mut cs_bytes = [0u8; 4];
    read_header_field(input, &mut cs_bytes)?;
    let chunk_size = u32::from_be_bytes(cs_bytes);
    check_chunk_size(chunk_size)?;

    let mut salt = [0u8; SALT_LEN];
    read_header_field(input, &mut salt)?;

    let raw = encode_header(&wrapped_key, chunk_size, &salt)?;
    Ok(Header {
        header_hash: sha256(&raw),
        wrapped_key,
        chunk_size,
        salt,
    })
}

/// Decrypts the rest of the stream after read_header. Writes plaintext of each
/// chunk only after that chunk authenticated. Returns total plaintext bytes.
pub fn decrypt_stream<R: Read, W: Write>(
    header: &Header,
    data_key: &[u8],
    mut input: R,
    mut output: W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, EnvelopeError> {
    let chunk_size = check_chunk_size(header.chunk_size)?;
    let key = payload_key(data_key, &header.salt)?;
    let enc_chunk = chunk_size + TAG_LEN;

    let mut buf = Zeroizing::new(vec![0u8; enc_chunk]);
    let mut counter: u64 = 0;
    let mut total: u64 = 0;
    loop {
        let n = read_full(&mut input, &mut buf)?;
        // A full-size chunk is never the final one (the writer ends an input
        // that is a multiple of the chunk size with an empty final chunk), so
        // no lookahead is needed: anything shorter is the final chunk and the
        // input is already at EOF.
        let last = n < enc_chunk;
        if n == 0 {
            return Err(EnvelopeError::MissingFinalChunk);
        }
        if n < TAG_LEN {
            return Err(EnvelopeError::TruncatedChunk { chunk: counter });
        }
        let sealed = &mut buf[..n];
        let plain = key
            .open_in_place(
                chunk_nonce(counter, last),
                Aad::from(header.header_hash),
                sealed,
            )
            .map_err(|_| EnvelopeError::ChunkAuthenticationFailed { chunk: counter })?;
        output.write_all(plain)?;

        total = total
            .checked_add(plain.len() as u64)
            .ok_or(EnvelopeError::TooLarge)?;
        progress(total);
        if last {
            break;
        }
        counter = counter.checked_add(1).ok_or(EnvelopeError::TooLarge)?;
    }
    output.flush()?;
    Ok(total)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
