//! Drives `strongroom_core::envelope::read_header` and
//! `strongroom_core::envelope::decrypt_stream` (the `strongroom decrypt` file
//! reader) on arbitrary input, and `strongroom_core::envelope::encrypt_stream`
//! for a round trip with tampering.
//!
//! The data key is fixed (what the server's Decrypt would return for the
//! wrapped key is irrelevant here: the reader never looks inside it).
//!
//! Input, first byte even: the rest is an envelope file; it is read and
//! decrypted with the fixed key. Invariants: nothing panics; `read_header`
//! consumes exactly the header and no more; a decrypted stream's length is
//! the returned total; on failure only whole authenticated chunks were
//! written.
//!
//! First byte odd: the second byte is a repeat count, the rest a plaintext
//! pattern repeated (so streams cross chunk boundaries). The plaintext is
//! encrypted, then must decrypt to itself; the file with any one bit
//! flipped, truncated anywhere, or extended by a byte must not decrypt.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use strongroom_core::envelope::{
    decrypt_stream, encrypt_stream, read_header, EnvelopeError, CHUNK_SIZE,
};

const DATA_KEY: [u8; 32] = [0x42; 32];

/// Header bytes: magic(5) version(1) len(2) wrapped key chunk size(4) salt(16).
fn header_len(wrapped: usize) -> u64 {
    (5 + 1 + 2 + wrapped + 4 + 16) as u64
}

/// Reads and decrypts `file`; returns the plaintext or the error.
fn open(file: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut cur = Cursor::new(file);
    let h = read_header(&mut cur)?;
    let wl = h.wrapped_key().len();
    assert!((1..=4096).contains(&wl));
    assert_eq!(
        cur.position(),
        header_len(wl),
        "read_header read past the header"
    );
    let mut out = Vec::new();
    let mut last = 0u64;
    let r = decrypt_stream(&h, &DATA_KEY, &mut cur, &mut out, &mut |n| {
        assert!(n >= last);
        last = n;
    });
    match r {
        Ok(n) => {
            assert_eq!(n as usize, out.len());
            assert_eq!(n, last);
            Ok(out)
        }
        Err(e) => {
            // Plaintext is released only chunk by chunk, after authentication.
            assert_eq!(
                out.len() % CHUNK_SIZE,
                0,
                "unauthenticated plaintext written"
            );
            // A wrong key length is refused before anything is read.
            assert!(matches!(
                decrypt_stream(
                    &h,
                    &DATA_KEY[..31],
                    Cursor::new(&[][..]),
                    Vec::new(),
                    &mut |_| {}
                ),
                Err(EnvelopeError::InvalidDataKeyLength(31))
            ));
            Err(e)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Err(e) = open(rest) {
            let _ = e.to_string();
        }
        return;
    }

    let Some((&reps, pattern)) = rest.split_first() else {
        return;
    };
    let reps = usize::from(reps % 64) + 1;
    let plaintext: Vec<u8> = pattern.repeat(reps);
    let wrapped: &[u8] = if pattern.is_empty() {
        b"w"
    } else {
        &pattern[..pattern.len().min(64)]
    };
    let mut file = Vec::new();
    let mut progress = 0u64;
    let total = encrypt_stream(&DATA_KEY, wrapped, &plaintext[..], &mut file, &mut |n| {
        progress = n
    })
    .expect("encrypt to memory");
    assert_eq!(total as usize, plaintext.len());
    assert_eq!(progress, total);
    match open(&file) {
        Ok(pt) => assert!(pt == plaintext, "round trip changed the plaintext"),
        Err(e) => panic!("a file just written does not decrypt: {e}"),
    }

    // Tampering: positions chosen from the pattern.
    let seed = pattern.iter().fold(0usize, |a, &b| {
        a.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    let pos = seed % file.len();
    let mut flipped = file.clone();
    flipped[pos] ^= 1 << (seed % 8);
    assert!(
        open(&flipped).is_err(),
        "a file with bit {pos} flipped decrypts"
    );
    assert!(
        open(&file[..pos]).is_err(),
        "a file truncated to {pos} bytes decrypts"
    );
    let mut longer = file.clone();
    longer.push(pattern.first().copied().unwrap_or(0));
    assert!(
        open(&longer).is_err(),
        "a file extended by one byte decrypts"
    );
});
