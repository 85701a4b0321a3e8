//! Drives `strongroom_core::keys::ciphertext::Header::parse` (the KMS ciphertext
//! header), with `Header::encode` and `strongroom_core::keys::ciphertext::aad`.
//!
//! Invariants: nothing panics; a header that parses re-encodes to exactly
//! the first `HEADER_LEN` input bytes, the body is the rest of the input and
//! at least as long as the algorithm needs; every failure is the one generic
//! `InvalidCiphertext` error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom_core::error::Error;
use strongroom_core::keys::ciphertext::{aad, Algorithm, Header, AES_OVERHEAD, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    match Header::parse(data) {
        Ok((h, body)) => {
            assert!(data.len() >= HEADER_LEN);
            let enc = h.encode();
            assert_eq!(&enc[..], &data[..HEADER_LEN], "encode(parse(x)) != x");
            assert_eq!(body, &data[HEADER_LEN..]);
            let min = match h.algorithm {
                Algorithm::Aes256Gcm => AES_OVERHEAD,
                Algorithm::RsaOaepSha256 => 1,
            };
            assert!(body.len() >= min);
            // parse(encode(h) || body) == h
            let mut again = enc.to_vec();
            again.extend_from_slice(body);
            assert_eq!(Header::parse(&again).ok().map(|x| x.0), Some(h));
            // The AAD starts with the header bytes.
            let a = aad(&enc, &Default::default());
            assert_eq!(&a[..HEADER_LEN], &enc[..]);
        }
        Err(e) => assert!(
            matches!(e, Error::InvalidCiphertext),
            "parse failed with another error than InvalidCiphertext: {e:?}"
        ),
    }
});
