//! In-process crypto rates: the aws-lc-rs primitive(s) behind each workload
//! in a loop on one thread, no HTTP. This is the most a single core could
//! serve if the request path cost nothing.

use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{self, SystemRandom};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use aws_lc_rs::{hmac, kem, rsa};

use super::Workload;
use strongroom_sigv4 as sigv4;

/// Operations per second of `f` on this thread, run for about `time`.
fn rate(time: Duration, mut f: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    // Warm caches and lazily-built tables first.
    for _ in 0..8 {
        f()?;
    }
    let start = Instant::now();
    let mut n: u64 = 0;
    loop {
        for _ in 0..16 {
            f()?;
        }
        n += 16;
        let el = start.elapsed();
        if el >= time {
            return Ok(n as f64 / el.as_secs_f64());
        }
    }
}

fn aes_key() -> Result<LessSafeKey, String> {
    let mut k = [0u8; 32];
    rand::fill(&mut k).map_err(|_| "rng")?;
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &k).map_err(|_| "AES key")?,
    ))
}

fn seal(key: &LessSafeKey, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce).map_err(|_| "rng")?;
    let mut buf = data.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
        .map_err(|_| "seal")?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

fn open(key: &LessSafeKey, ct: &[u8]) -> Result<(), String> {
    let (n, rest) = ct.split_at(NONCE_LEN);
    let mut buf = rest.to_vec();
    key.open_in_place(
        Nonce::try_assume_unique_for_key(n).map_err(|_| "nonce")?,
        Aad::empty(),
        &mut buf,
    )
    .map_err(|_| "open")?;
    Ok(())
}

/// A request signed once, verified in the loop (the AWS path's SigV4 cost).
fn sigv4_verifier() -> Result<impl Fn() -> Result<(), String>, String> {
    let body =
        br#"{"KeyId":"00000000-0000-4000-8000-000000000000","Plaintext":"aGVsbG8="}"#.to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut headers = vec![
        ("host".to_string(), "127.0.0.1:8200".to_string()),
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        (
            "x-amz-target".to_string(),
            "TrentService.Encrypt".to_string(),
        ),
    ];
    let (date, auth) = sigv4::sign::sign(
        &sigv4::WireRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &body,
        },
        &sigv4::sign::SigningParams {
            access_key_id: "AKIDBENCH",
            secret: b"bench-secret",
            region: "us-east-1",
            service: "kms",
            time_unix: now,
        },
    )
    .map_err(|e| e.to_string())?;
    headers.push(("x-amz-date".to_string(), date));
    headers.push(("authorization".to_string(), auth));
    let cfg = sigv4::VerifyConfig::default();
    Ok(move || {
        let req = sigv4::WireRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &body,
        };
        sigv4::verify(&req, &cfg, now, &|_| Some(b"bench-secret".to_vec()))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// What the in-process loop does for `w`, in words (for the report).
pub fn describe(w: Workload) -> &'static str {
    match w {
        Workload::Encrypt => "AES-256-GCM seal 1 KiB",
        Workload::Decrypt => "AES-256-GCM open 1 KiB",
        Workload::DataKey => "32 random bytes + AES-256-GCM seal of them",
        Workload::AwsEncrypt => "SigV4 verify + AES-256-GCM seal 1 KiB",
        Workload::VaultEncrypt => "AES-256-GCM seal 1 KiB",
        Workload::SignEcdsaP256 => "ECDSA P-256 SHA-256 sign 1 KiB",
        Workload::SignEd25519 => "Ed25519 sign 1 KiB",
        Workload::SignRsa2048 => "RSA-2048 PSS SHA-256 sign 1 KiB",
        Workload::Hmac => "HMAC-SHA-256 of 1 KiB",
        Workload::BatchEncrypt => "100 x AES-256-GCM seal 1 KiB",
        Workload::CreateKey => "AES-256 key generation + 2 AES-GCM seals of ~400 B",
        Workload::FileEnvelope => "AES-256-GCM over 64 KiB chunks (bytes/s)",
        Workload::SignMlDsa65 => "ML-DSA-65 sign 1 KiB",
        Workload::VerifyMlDsa65 => {
            "ML-DSA-65 verify 1 KiB (SPKI parsed per call, as the server does)"
        }
        Workload::EncapsulateMlKem768 => "ML-KEM-768 encapsulate",
        Workload::DecapsulateMlKem768 => "ML-KEM-768 decapsulate",
        Workload::SecretGet => "AES-256-GCM open of a ~100 B sealed version + its ~400 B metadata",
        Workload::SecretPut => "AES-256-GCM seal of a ~100 B version + its ~400 B metadata",
    }
}

/// Ops/s of `w`'s primitives on one thread (bytes/s for the file workload).
pub fn measure(w: Workload, time: Duration) -> Result<f64, String> {
    let msg = vec![0x5au8; 1024];
    let rng = SystemRandom::new();
    match w {
        Workload::Encrypt => {
            let k = aes_key()?;
            rate(time, || seal(&k, &msg).map(|_| ()))
        }
        Workload::SecretGet => {
            let k = aes_key()?;
            let (v, m) = (seal(&k, &msg[..100])?, seal(&k, &msg[..400])?);
            rate(time, || open(&k, &v).and_then(|()| open(&k, &m)))
        }
        Workload::SecretPut => {
            let k = aes_key()?;
            rate(time, || {
                seal(&k, &msg[..100])?;
                seal(&k, &msg[..400]).map(|_| ())
            })
        }
        Workload::Decrypt => {
            let k = aes_key()?;
            let ct = seal(&k, &msg)?;
            rate(time, || open(&k, &ct))
        }
        Workload::DataKey => {
            let k = aes_key()?;
            rate(time, || {
                let mut dk = [0u8; 32];
                rand::fill(&mut dk).map_err(|_| "rng")?;
                seal(&k, &dk).map(|_| ())
            })
        }
        Workload::VaultEncrypt => {
            let k = aes_key()?;
            rate(time, || seal(&k, &msg).map(|_| ()))
        }
        Workload::AwsEncrypt => {
            let k = aes_key()?;
            let v = sigv4_verifier()?;
            rate(time, || {
                v()?;
                seal(&k, &msg).map(|_| ())
            })
        }
        Workload::SignEcdsaP256 => {
            let doc =
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                    .map_err(|_| "ECDSA keygen")?;
            let kp =
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref())
                    .map_err(|_| "ECDSA key")?;
            rate(time, || {
                kp.sign(&rng, &msg).map(|_| ()).map_err(|_| "sign".into())
            })
        }
        Workload::SignEd25519 => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "Ed25519 keygen")?;
            let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| "Ed25519 key")?;
            let _ = kp.public_key();
            rate(time, || {
                let _ = kp.sign(&msg);
                Ok(())
            })
        }
        Workload::SignRsa2048 => {
            let kp = RsaKeyPair::generate(rsa::KeySize::Rsa2048).map_err(|_| "RSA keygen")?;
            let mut sig = vec![0u8; kp.public_modulus_len()];
            rate(time, || {
                kp.sign(&signature::RSA_PSS_SHA256, &rng, &msg, &mut sig)
                    .map_err(|_| "sign".to_string())
            })
        }
        Workload::Hmac => {
            let mut kb = [0u8; 32];
            rand::fill(&mut kb).map_err(|_| "rng")?;
            let k = hmac::Key::new(hmac::HMAC_SHA256, &kb);
            rate(time, || {
                let _ = hmac::sign(&k, &msg);
                Ok(())
            })
        }
        Workload::BatchEncrypt => {
            let k = aes_key()?;
            rate(time, || {
                for _ in 0..100 {
                    seal(&k, &msg)?;
                }
                Ok(())
            })
        }
        Workload::CreateKey => {
            let wrap = aes_key()?;
            let meta = vec![0x20u8; 400];
            rate(time, || {
                let k = aes_key()?;
                drop(k);
                seal(&wrap, &meta)?;
                seal(&wrap, &meta).map(|_| ())
            })
        }
        Workload::FileEnvelope => {
            let k = aes_key()?;
            let mut chunk = vec![0x33u8; 65536];
            let per = rate(time, || {
                let mut n = [0u8; NONCE_LEN];
                rand::fill(&mut n).map_err(|_| "rng")?;
                k.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(n),
                    Aad::from([0u8; 32]),
                    &mut chunk,
                )
                .map(|_| ())
                .map_err(|_| "seal".to_string())
            })?;
            Ok(per * 65536.0)
        }
        Workload::SignMlDsa65 => {
            let kp = signature::PqdsaKeyPair::generate(&signature::ML_DSA_65_SIGNING)
                .map_err(|_| "ML-DSA keygen")?;
            let mut sig = vec![0u8; signature::ML_DSA_65_SIGNING.signature_len()];
            rate(time, || {
                kp.sign(&msg, &mut sig)
                    .map(|_| ())
                    .map_err(|_| "sign".to_string())
            })
        }
        Workload::VerifyMlDsa65 => {
            let kp = signature::PqdsaKeyPair::generate(&signature::ML_DSA_65_SIGNING)
                .map_err(|_| "ML-DSA keygen")?;
            let mut sig = vec![0u8; signature::ML_DSA_65_SIGNING.signature_len()];
            kp.sign(&msg, &mut sig).map_err(|_| "sign")?;
            // The SubjectPublicKeyInfo, parsed on every call: what the
            // server's verify does with the public key it holds.
            let der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
                kp.public_key(),
            )
            .map_err(|_| "ML-DSA public key")?;
            let pk = signature::UnparsedPublicKey::new(&signature::ML_DSA_65, der.as_ref());
            rate(time, || {
                pk.verify(&msg, &sig).map_err(|_| "verify".to_string())
            })
        }
        Workload::EncapsulateMlKem768 => {
            let dk =
                kem::DecapsulationKey::generate(&kem::ML_KEM_768).map_err(|_| "ML-KEM keygen")?;
            let ek = dk.encapsulation_key().map_err(|_| "ML-KEM public key")?;
            rate(time, || {
                ek.encapsulate()
                    .map(|_| ())
                    .map_err(|_| "encapsulate".to_string())
            })
        }
        Workload::DecapsulateMlKem768 => {
            let dk =
                kem::DecapsulationKey::generate(&kem::ML_KEM_768).map_err(|_| "ML-KEM keygen")?;
            let ek = dk.encapsulation_key().map_err(|_| "ML-KEM public key")?;
            let (ct, _) = ek.encapsulate().map_err(|_| "encapsulate")?;
            let ct = ct.as_ref().to_vec();
            rate(time, || {
                dk.decapsulate(kem::Ciphertext::from(ct.as_slice()))
                    .map(|_| ())
                    .map_err(|_| "decapsulate".to_string())
            })
        }
    }
}
