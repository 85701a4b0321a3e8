//! Key material: generation, and the prepared aws-lc-rs objects the hot path
//! uses. Material is held as PKCS#8 (RSA, ECDSA, Ed25519, ML-DSA) or raw
//! bytes (AES, HMAC, and the FIPS 203 decapsulation key of ML-KEM, which is
//! the only private-key form aws-lc-rs 1.19 reads back) in [`SecretBytes`];
//! [`LoadedKey`] is parsed once and cached by the engine.

use aws_lc_rs::aead::{Aad, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::encoding::{AsDer, AsRawBytes, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::kem::{DecapsulationKey, EncapsulationKey, ML_KEM_1024, ML_KEM_512, ML_KEM_768};
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, PqdsaKeyPair, RsaKeyPair};
use aws_lc_rs::{digest, hmac};

use super::secret::SecretBytes;
use super::spec::{KeySpec, MessageType, SigningAlgorithm};

/// A primitive failed. Deliberately carries no detail: callers map it to a
/// generic error so no oracle is exposed.
#[derive(Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// Authentication or decryption failed, or the input was malformed.
    Failed,
    /// The digest given for a DIGEST-type message has the wrong length for the algorithm.
    BadDigestLength { expected: usize },
    /// The operation is not available for this spec (for example a digest with Ed25519).
    Unsupported,
    /// The plaintext is too long for RSA-OAEP with this key.
    PlaintextTooLong { max: usize },
    /// An ML-KEM ciphertext of the wrong length for the key's parameter set.
    BadCiphertextLength { expected: usize },
}

pub const AES_KEY_LEN: usize = 32;
pub const GCM_TAG_LEN: usize = 16;

/// Generates fresh material for `spec`. AES and HMAC keys come from the
/// injected RNG; asymmetric keys from aws-lc-rs's own generators.
pub fn generate(spec: KeySpec, rng: &dyn super::rng::Rng) -> Result<SecretBytes, CryptoError> {
    let sym_len = match spec {
        KeySpec::Aes256Gcm => Some(AES_KEY_LEN),
        KeySpec::HmacSha256 => Some(32),
        KeySpec::HmacSha384 => Some(48),
        KeySpec::HmacSha512 => Some(64),
        _ => None,
    };
    if let Some(len) = sym_len {
        let mut k = SecretBytes::zeroed(len);
        rng.fill(k.expose_mut()).map_err(|_| CryptoError::Failed)?;
        return Ok(k);
    }
    let der: Vec<u8> = match spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let size = match spec {
                KeySpec::Rsa2048 => KeySize::Rsa2048,
                KeySpec::Rsa3072 => KeySize::Rsa3072,
                _ => KeySize::Rsa4096,
            };
            let k = RsaKeyPair::generate(size).map_err(|_| CryptoError::Failed)?;
            let d: Pkcs8V1Der<'static> = k.as_der().map_err(|_| CryptoError::Failed)?;
            d.as_ref().to_vec()
        }
        KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => {
            EcdsaKeyPair::generate(ecdsa_signing_alg(spec))
                .and_then(|k| k.to_pkcs8v1())
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| CryptoError::Failed)?
        }
        KeySpec::Ed25519 => Ed25519KeyPair::generate()
            .and_then(|k| k.to_pkcs8v1())
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| CryptoError::Failed)?,
        KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
            PqdsaKeyPair::generate(ml_dsa_signing_alg(spec))
                .and_then(|k| k.to_pkcs8v1())
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| CryptoError::Failed)?
        }
        KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
            DecapsulationKey::generate(ml_kem_alg(spec))
                .and_then(|k| k.key_bytes())
                .map(|b| b.as_ref().to_vec())
                .map_err(|_| CryptoError::Failed)?
        }
        _ => return Err(CryptoError::Unsupported),
    };
    // The DER vector is moved into the secret, not copied.
    Ok(SecretBytes::new(der))
}

fn ecdsa_signing_alg(spec: KeySpec) -> &'static signature::EcdsaSigningAlgorithm {
    match spec {
        KeySpec::EccNistP384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        KeySpec::EccNistP521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        _ => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    }
}

fn ml_dsa_signing_alg(spec: KeySpec) -> &'static signature::PqdsaSigningAlgorithm {
    match spec {
        KeySpec::MlDsa44 => &signature::ML_DSA_44_SIGNING,
        KeySpec::MlDsa87 => &signature::ML_DSA_87_SIGNING,
        _ => &signature::ML_DSA_65_SIGNING,
    }
}

fn ml_kem_alg(spec: KeySpec) -> &'static aws_lc_rs::kem::Algorithm {
    match spec {
        KeySpec::MlKem512 => &ML_KEM_512,
        KeySpec::MlKem1024 => &ML_KEM_1024,
        _ => &ML_KEM_768,
    }
}

/// Sizes of an ML-KEM parameter set (FIPS 203, table 3): encapsulation key
/// and ciphertext, in bytes.
pub fn ml_kem_sizes(spec: KeySpec) -> Option<(usize, usize)> {
    match spec {
        KeySpec::MlKem512 => Some((800, 768)),
        KeySpec::MlKem768 => Some((1184, 1088)),
        KeySpec::MlKem1024 => Some((1568, 1568)),
        _ => None,
    }
}

/// The SubjectPublicKeyInfo algorithm identifiers (parameters absent) of
/// ML-KEM keys: id-alg-ml-kem-512/768/1024 = 2.16.840.1.101.3.4.4.1/2/3 from
/// NIST's CSOR registry, as used by draft-ietf-lamps-kyber-certificates
/// ("Algorithm Identifiers for ML-KEM", section 3).
pub fn ml_kem_oid(spec: KeySpec) -> Option<spki::ObjectIdentifier> {
    // Constants: a malformed OID string fails the build, not a request.
    const ID_ALG_ML_KEM_512: spki::ObjectIdentifier =
        spki::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.1");
    const ID_ALG_ML_KEM_768: spki::ObjectIdentifier =
        spki::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.2");
    const ID_ALG_ML_KEM_1024: spki::ObjectIdentifier =
        spki::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.3");
    Some(match spec {
        KeySpec::MlKem512 => ID_ALG_ML_KEM_512,
        KeySpec::MlKem768 => ID_ALG_ML_KEM_768,
        KeySpec::MlKem1024 => ID_ALG_ML_KEM_1024,
        _ => return None,
    })
}

/// aws-lc-rs 1.19 gives an ML-KEM encapsulation key only as raw bytes, so
/// its SubjectPublicKeyInfo is built with the `spki` crate (RustCrypto):
/// the key bytes are the BIT STRING, as the draft above specifies.
fn ml_kem_spki(spec: KeySpec, raw: &[u8]) -> Result<Vec<u8>, CryptoError> {
    use spki::der::Encode as _;
    let oid = ml_kem_oid(spec).ok_or(CryptoError::Unsupported)?;
    let info = spki::SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        },
        subject_public_key: spki::der::asn1::BitString::from_bytes(raw)
            .map_err(|_| CryptoError::Failed)?,
    };
    info.to_der().map_err(|_| CryptoError::Failed)
}

/// The raw encapsulation key inside an ML-KEM SubjectPublicKeyInfo of
/// `spec` (algorithm identifier and length checked).
pub fn ml_kem_public_from_spki(spec: KeySpec, der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    use spki::der::Decode as _;
    let oid = ml_kem_oid(spec).ok_or(CryptoError::Unsupported)?;
    let (ek_len, _) = ml_kem_sizes(spec).ok_or(CryptoError::Unsupported)?;
    let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| CryptoError::Failed)?;
    if info.algorithm.oid != oid || info.algorithm.parameters.is_some() {
        return Err(CryptoError::Failed);
    }
    let raw = info
        .subject_public_key
        .as_bytes()
        .ok_or(CryptoError::Failed)?;
    if raw.len() != ek_len {
        return Err(CryptoError::Failed);
    }
    Ok(raw.to_vec())
}

/// Encapsulates to an ML-KEM public key given as SubjectPublicKeyInfo DER
/// (what GetPublicKey returns): `(ciphertext, shared secret)`. What a
/// client does locally; the server's own Encapsulate uses its loaded key.
pub fn ml_kem_encapsulate_to(
    spec: KeySpec,
    public_der: &[u8],
) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
    let raw = ml_kem_public_from_spki(spec, public_der)?;
    ml_kem_encapsulate_raw(spec, &raw)
}

/// Encapsulates to a raw ML-KEM encapsulation key (FIPS 203 ByteEncode).
pub fn ml_kem_encapsulate_raw(
    spec: KeySpec,
    raw: &[u8],
) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
    if !spec.is_ml_kem() {
        return Err(CryptoError::Unsupported);
    }
    let ek = EncapsulationKey::new(ml_kem_alg(spec), raw).map_err(|_| CryptoError::Failed)?;
    encapsulate_with(&ek)
}

fn encapsulate_with(ek: &EncapsulationKey) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
    let (ct, ss) = ek.encapsulate().map_err(|_| CryptoError::Failed)?;
    Ok((ct.as_ref().to_vec(), SecretBytes::from_slice(ss.as_ref())))
}

/// FIPS 204 table 2: the length of an expanded ML-DSA private key.
fn ml_dsa_expanded_len(spec: KeySpec) -> usize {
    match spec {
        KeySpec::MlDsa44 => 2560,
        KeySpec::MlDsa65 => 4032,
        _ => 4896,
    }
}

/// Loads imported ML-DSA private key material: a bare 32-byte seed (FIPS
/// 204 xi), a bare expanded private key (FIPS 204 skEncode), or a PKCS#8
/// document (RFC 9881 forms aws-lc-rs reads). Returns `(stored, expanded)`:
/// the material in the stored form (the 54-byte seed PKCS#8 aws-lc-rs
/// writes, or, for a key given without its seed, the expanded key, since
/// aws-lc-rs writes no PKCS#8 for those) and the expanded key, which is the
/// same for every form of one key (for the re-import check).
pub fn ml_dsa_import(
    spec: KeySpec,
    material: &[u8],
) -> Result<(SecretBytes, SecretBytes), CryptoError> {
    if !spec.is_ml_dsa() {
        return Err(CryptoError::Unsupported);
    }
    let alg = ml_dsa_signing_alg(spec);
    let pair = if material.len() == alg.seed_len() {
        PqdsaKeyPair::from_seed(alg, material)
    } else if material.len() == ml_dsa_expanded_len(spec) {
        PqdsaKeyPair::from_raw_private_key(alg, material)
    } else {
        PqdsaKeyPair::from_pkcs8(alg, material)
    }
    .map_err(|_| CryptoError::Failed)?;
    let expanded = pair
        .private_key()
        .as_raw_bytes()
        .map(|b| SecretBytes::from_slice(b.as_ref()))
        .map_err(|_| CryptoError::Failed)?;
    let stored = match pair.to_pkcs8v1() {
        Ok(der) => SecretBytes::from_slice(der.as_ref()),
        Err(_) => expanded.duplicate(),
    };
    Ok((stored, expanded))
}

/// Loads stored ML-DSA material: seed PKCS#8, or an expanded private key.
fn ml_dsa_load(spec: KeySpec, m: &[u8]) -> Result<PqdsaKeyPair, CryptoError> {
    let alg = ml_dsa_signing_alg(spec);
    if m.len() == ml_dsa_expanded_len(spec) {
        PqdsaKeyPair::from_raw_private_key(alg, m)
    } else {
        PqdsaKeyPair::from_pkcs8(alg, m)
    }
    .map_err(|_| CryptoError::Failed)
}

fn hmac_alg(spec: KeySpec) -> hmac::Algorithm {
    match spec {
        KeySpec::HmacSha384 => hmac::HMAC_SHA384,
        KeySpec::HmacSha512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

/// Material parsed into ready-to-use aws-lc-rs keys. aws-lc-rs key objects
/// wipe their own memory when dropped.
pub enum LoadedKey {
    Aes(RandomizedNonceKey),
    Hmac(Box<hmac::Key>),
    Rsa {
        signing: RsaKeyPair,
        decrypting: OaepPrivateDecryptingKey,
        public_der: Vec<u8>,
    },
    Ecdsa {
        pair: EcdsaKeyPair,
        public_der: Vec<u8>,
    },
    Ed25519 {
        pair: Ed25519KeyPair,
        public_der: Vec<u8>,
    },
    MlDsa {
        pair: PqdsaKeyPair,
        public_der: Vec<u8>,
    },
    MlKem {
        decapsulation: DecapsulationKey,
        encapsulation: EncapsulationKey,
        ciphertext_len: usize,
        public_der: Vec<u8>,
    },
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            LoadedKey::Aes(_) => "Aes",
            LoadedKey::Hmac(_) => "Hmac",
            LoadedKey::Rsa { .. } => "Rsa",
            LoadedKey::Ecdsa { .. } => "Ecdsa",
            LoadedKey::Ed25519 { .. } => "Ed25519",
            LoadedKey::MlDsa { .. } => "MlDsa",
            LoadedKey::MlKem { .. } => "MlKem",
        };
        write!(f, "LoadedKey::{kind}(<redacted>)")
    }
}

impl LoadedKey {
    pub fn load(spec: KeySpec, material: &SecretBytes) -> Result<Self, CryptoError> {
        let m = material.expose();
        Ok(match spec {
            KeySpec::Aes256Gcm => LoadedKey::Aes(
                RandomizedNonceKey::new(&AES_256_GCM, m).map_err(|_| CryptoError::Failed)?,
            ),
            KeySpec::HmacSha256 | KeySpec::HmacSha384 | KeySpec::HmacSha512 => {
                LoadedKey::Hmac(Box::new(hmac::Key::new(hmac_alg(spec), m)))
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                let signing = RsaKeyPair::from_pkcs8(m).map_err(|_| CryptoError::Failed)?;
                let dec = PrivateDecryptingKey::from_pkcs8(m).map_err(|_| CryptoError::Failed)?;
                let decrypting =
                    OaepPrivateDecryptingKey::new(dec).map_err(|_| CryptoError::Failed)?;
                let public_der = AsDer::<PublicKeyX509Der>::as_der(signing.public_key())
                    .map_err(|_| CryptoError::Failed)?
                    .as_ref()
                    .to_vec();
                LoadedKey::Rsa {
                    signing,
                    decrypting,
                    public_der,
                }
            }
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => {
                let pair = EcdsaKeyPair::from_pkcs8(ecdsa_signing_alg(spec), m)
                    .map_err(|_| CryptoError::Failed)?;
                let public_der = AsDer::<PublicKeyX509Der>::as_der(pair.public_key())
                    .map_err(|_| CryptoError::Failed)?
                    .as_ref()
                    .to_vec();
                LoadedKey::Ecdsa { pair, public_der }
            }
            KeySpec::Ed25519 => {
                let pair = Ed25519KeyPair::from_pkcs8(m).map_err(|_| CryptoError::Failed)?;
                let public_der = AsDer::<PublicKeyX509Der>::as_der(pair.public_key())
                    .map_err(|_| CryptoError::Failed)?
                    .as_ref()
                    .to_vec();
                LoadedKey::Ed25519 { pair, public_der }
            }
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
                let pair = ml_dsa_load(spec, m)?;
                // aws-lc-rs writes the SPKI with id-ml-dsa-44/65/87 (RFC 9881).
                let public_der = AsDer::<PublicKeyX509Der>::as_der(pair.public_key())
                    .map_err(|_| CryptoError::Failed)?
                    .as_ref()
                    .to_vec();
                LoadedKey::MlDsa { pair, public_der }
            }
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
                let decapsulation =
                    DecapsulationKey::new(ml_kem_alg(spec), m).map_err(|_| CryptoError::Failed)?;
                // aws-lc-rs cannot derive the encapsulation key of a
                // decapsulation key read back from bytes, so it is taken
                // from them: FIPS 203 (algorithm 16, ML-KEM.KeyGen_internal)
                // lays out dk = dk_PKE (384k bytes) || ek || H(ek) || z,
                // and the hash is checked as FIPS 203 section 7.3 asks.
                let (ek_len, ciphertext_len) =
                    ml_kem_sizes(spec).ok_or(CryptoError::Unsupported)?;
                let start = m
                    .len()
                    .checked_sub(ek_len + 64)
                    .ok_or(CryptoError::Failed)?;
                let ek = &m[start..start + ek_len];
                let hash = &m[start + ek_len..start + ek_len + 32];
                let want = digest::digest(&digest::SHA3_256, ek);
                if !super::secret::ct_eq(want.as_ref(), hash) {
                    return Err(CryptoError::Failed);
                }
                let encapsulation =
                    EncapsulationKey::new(ml_kem_alg(spec), ek).map_err(|_| CryptoError::Failed)?;
                let public_der = ml_kem_spki(spec, ek)?;
                LoadedKey::MlKem {
                    decapsulation,
                    encapsulation,
                    ciphertext_len,
                    public_der,
                }
            }
        })
    }

    /// ML-KEM Encapsulate with this key's encapsulation (public) key:
    /// `(ciphertext, 32-byte shared secret)`.
    pub fn kem_encapsulate(&self) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
        let LoadedKey::MlKem { encapsulation, .. } = self else {
            return Err(CryptoError::Unsupported);
        };
        encapsulate_with(encapsulation)
    }

    /// ML-KEM Decapsulate. A ciphertext of the wrong length is an error; one
    /// of the right length always yields a shared secret: FIPS 203's
    /// implicit rejection gives a tampered ciphertext a pseudorandom secret
    /// that matches nobody's, rather than an error (an oracle).
    pub fn kem_decapsulate(&self, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        let LoadedKey::MlKem {
            decapsulation,
            ciphertext_len,
            ..
        } = self
        else {
            return Err(CryptoError::Unsupported);
        };
        if ciphertext.len() != *ciphertext_len {
            return Err(CryptoError::BadCiphertextLength {
                expected: *ciphertext_len,
            });
        }
        let ss = decapsulation
            .decapsulate(aws_lc_rs::kem::Ciphertext::from(ciphertext))
            .map_err(|_| CryptoError::Failed)?;
        Ok(SecretBytes::from_slice(ss.as_ref()))
    }

    /// SubjectPublicKeyInfo DER for asymmetric keys.
    pub fn public_key_der(&self) -> Option<&[u8]> {
        match self {
            LoadedKey::Rsa { public_der, .. }
            | LoadedKey::Ecdsa { public_der, .. }
            | LoadedKey::Ed25519 { public_der, .. }
            | LoadedKey::MlDsa { public_der, .. }
            | LoadedKey::MlKem { public_der, .. } => Some(public_der),
            _ => None,
        }
    }

    /// AES-256-GCM with a nonce drawn inside aws-lc-rs: callers cannot choose
    /// one. Output is `nonce || ciphertext || tag` appended to `out`.
    pub fn aes_seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let LoadedKey::Aes(key) = self else {
            return Err(CryptoError::Unsupported);
        };
        let start = out.len();
        out.extend_from_slice(&[0u8; NONCE_LEN]);
        out.extend_from_slice(plaintext);
        let mut body = out.split_off(start + NONCE_LEN);
        let nonce = key
            .seal_in_place_append_tag(Aad::from(aad), &mut body)
            .map_err(|_| CryptoError::Failed)?;
        out[start..start + NONCE_LEN].copy_from_slice(nonce.as_ref());
        out.extend_from_slice(&body);
        Ok(())
    }

    /// Opens `nonce || ciphertext || tag`.
    pub fn aes_open(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        let LoadedKey::Aes(key) = self else {
            return Err(CryptoError::Unsupported);
        };
        if sealed.len() < NONCE_LEN + GCM_TAG_LEN {
            return Err(CryptoError::Failed);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| CryptoError::Failed)?;
        let mut buf = SecretBytes::from_slice(body);
        let len = key
            .open_in_place(nonce, Aad::from(aad), buf.expose_mut())
            .map_err(|_| CryptoError::Failed)?
            .len();
        let mut v = SecretBytes::zeroed(len);
        v.expose_mut().copy_from_slice(&buf.expose()[..len]);
        Ok(v)
    }

    pub fn hmac_sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let LoadedKey::Hmac(key) = self else {
            return Err(CryptoError::Unsupported);
        };
        Ok(hmac::sign(key, message).as_ref().to_vec())
    }

    /// Constant-time check; empty, truncated and over-long tags fail.
    pub fn hmac_verify(&self, message: &[u8], tag: &[u8]) -> Result<bool, CryptoError> {
        let LoadedKey::Hmac(key) = self else {
            return Err(CryptoError::Unsupported);
        };
        Ok(hmac::verify(key, message, tag).is_ok())
    }

    pub fn sign(
        &self,
        alg: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let digest = match (message_type, alg.digest()) {
            (MessageType::Digest, Some(d)) => Some(import_digest(message, d)?),
            (MessageType::Digest, None) | (MessageType::ExternalMu, _) => {
                return Err(CryptoError::Unsupported)
            }
            (MessageType::Raw, _) => None,
        };
        match self {
            LoadedKey::Rsa { signing, .. } => {
                let enc = rsa_encoding(alg).ok_or(CryptoError::Unsupported)?;
                let mut sig = vec![0u8; signing.public_modulus_len()];
                let rng = aws_lc_rs::rand::SystemRandom::new();
                match digest {
                    Some(d) => signing.sign_digest(enc, &d, &mut sig),
                    None => signing.sign(enc, &rng, message, &mut sig),
                }
                .map_err(|_| CryptoError::Failed)?;
                Ok(sig)
            }
            LoadedKey::Ecdsa { pair, .. } => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let sig = match digest {
                    Some(d) => pair.sign_digest(&d),
                    None => pair.sign(&rng, message),
                }
                .map_err(|_| CryptoError::Failed)?;
                Ok(sig.as_ref().to_vec())
            }
            LoadedKey::Ed25519 { pair, .. } => Ok(pair.sign(message).as_ref().to_vec()),
            LoadedKey::MlDsa { pair, .. } if alg == SigningAlgorithm::MlDsaShake256 => {
                let mut sig = vec![0u8; pair.algorithm().signature_len()];
                let len = pair
                    .sign(message, &mut sig)
                    .map_err(|_| CryptoError::Failed)?;
                sig.truncate(len);
                Ok(sig)
            }
            _ => Err(CryptoError::Unsupported),
        }
    }

    /// RSA-OAEP-SHA-256 decryption with `label` bound.
    pub fn rsa_oaep_decrypt(
        &self,
        ciphertext: &[u8],
        label: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let LoadedKey::Rsa { decrypting, .. } = self else {
            return Err(CryptoError::Unsupported);
        };
        let mut out = SecretBytes::zeroed(decrypting.min_output_size());
        let len = decrypting
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                ciphertext,
                out.expose_mut(),
                Some(label),
            )
            .map_err(|_| CryptoError::Failed)?
            .len();
        Ok(SecretBytes::from_slice(&out.expose()[..len]))
    }
}

fn import_digest(
    message: &[u8],
    alg: &'static digest::Algorithm,
) -> Result<digest::Digest, CryptoError> {
    digest::Digest::import_less_safe(message, alg).map_err(|_| CryptoError::BadDigestLength {
        expected: alg.output_len(),
    })
}

fn rsa_encoding(alg: SigningAlgorithm) -> Option<&'static dyn signature::RsaEncoding> {
    use SigningAlgorithm::*;
    Some(match alg {
        RsassaPssSha256 => &signature::RSA_PSS_SHA256,
        RsassaPssSha384 => &signature::RSA_PSS_SHA384,
        RsassaPssSha512 => &signature::RSA_PSS_SHA512,
        RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_SHA256,
        RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_SHA384,
        RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_SHA512,
        _ => return None,
    })
}

/// How an ECDSA signature is encoded. The API speaks DER (as AWS does);
/// P1363 is kept for test vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcdsaEncoding {
    Der,
    P1363,
}

fn verification_alg(
    spec: KeySpec,
    alg: SigningAlgorithm,
    enc: EcdsaEncoding,
) -> Option<&'static dyn signature::VerificationAlgorithm> {
    use SigningAlgorithm::*;
    let der = enc == EcdsaEncoding::Der;
    Some(match (spec, alg) {
        (s, RsassaPssSha256) if s.is_rsa() => &signature::RSA_PSS_2048_8192_SHA256,
        (s, RsassaPssSha384) if s.is_rsa() => &signature::RSA_PSS_2048_8192_SHA384,
        (s, RsassaPssSha512) if s.is_rsa() => &signature::RSA_PSS_2048_8192_SHA512,
        (s, RsassaPkcs1V15Sha256) if s.is_rsa() => &signature::RSA_PKCS1_2048_8192_SHA256,
        (s, RsassaPkcs1V15Sha384) if s.is_rsa() => &signature::RSA_PKCS1_2048_8192_SHA384,
        (s, RsassaPkcs1V15Sha512) if s.is_rsa() => &signature::RSA_PKCS1_2048_8192_SHA512,
        (KeySpec::EccNistP256, EcdsaSha256) if der => &signature::ECDSA_P256_SHA256_ASN1,
        (KeySpec::EccNistP256, EcdsaSha256) => &signature::ECDSA_P256_SHA256_FIXED,
        (KeySpec::EccNistP384, EcdsaSha384) if der => &signature::ECDSA_P384_SHA384_ASN1,
        (KeySpec::EccNistP384, EcdsaSha384) => &signature::ECDSA_P384_SHA384_FIXED,
        (KeySpec::EccNistP521, EcdsaSha512) if der => &signature::ECDSA_P521_SHA512_ASN1,
        (KeySpec::EccNistP521, EcdsaSha512) => &signature::ECDSA_P521_SHA512_FIXED,
        (KeySpec::Ed25519, Ed25519) => &signature::ED25519,
        (KeySpec::MlDsa44, MlDsaShake256) => &signature::ML_DSA_44,
        (KeySpec::MlDsa65, MlDsaShake256) => &signature::ML_DSA_65,
        (KeySpec::MlDsa87, MlDsaShake256) => &signature::ML_DSA_87,
        _ => return None,
    })
}

/// Verifies a signature against a SubjectPublicKeyInfo (RSA, ECDSA, ML-DSA)
/// or a raw 32-byte Ed25519 key / SPKI. Empty, truncated and over-long
/// signatures fail. ML-DSA is FIPS 204 pure mode with an empty context.
pub fn verify(
    spec: KeySpec,
    alg: SigningAlgorithm,
    enc: EcdsaEncoding,
    public_key: &[u8],
    message_type: MessageType,
    message: &[u8],
    sig: &[u8],
) -> Result<bool, CryptoError> {
    let valg = verification_alg(spec, alg, enc).ok_or(CryptoError::Unsupported)?;
    let key = signature::UnparsedPublicKey::new(valg, public_key);
    match (message_type, alg.digest()) {
        (MessageType::Raw, _) => Ok(key.verify(message, sig).is_ok()),
        (MessageType::Digest, Some(d)) => {
            let d = import_digest(message, d)?;
            Ok(key.verify_digest(&d, sig).is_ok())
        }
        (MessageType::Digest, None) | (MessageType::ExternalMu, _) => Err(CryptoError::Unsupported),
    }
}

/// RSA-OAEP-SHA-256 encryption to a SubjectPublicKeyInfo, with `label` bound.
pub fn rsa_oaep_encrypt(
    public_der: &[u8],
    plaintext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let pk = PublicEncryptingKey::from_der(public_der).map_err(|_| CryptoError::Failed)?;
    let key = OaepPublicEncryptingKey::new(pk).map_err(|_| CryptoError::Failed)?;
    let max = key.max_plaintext_size(&OAEP_SHA256_MGF1SHA256);
    if plaintext.len() > max {
        return Err(CryptoError::PlaintextTooLong { max });
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, Some(label))
        .map_err(|_| CryptoError::Failed)?
        .len();
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rng::SystemRng;
    use crate::crypto::spec::ALL_SPECS;

    #[test]
    fn every_spec_generates_and_loads() {
        for spec in ALL_SPECS {
            let m = generate(spec, &SystemRng).expect("generate");
            let k = LoadedKey::load(spec, &m).unwrap_or_else(|e| panic!("load {spec:?}: {e:?}"));
            assert!(!format!("{k:?}").is_empty());
            assert_eq!(
                k.public_key_der().is_some(),
                !spec.signing_algorithms().is_empty() || spec.is_ml_kem(),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn aes_round_trip_and_tamper() {
        let m = generate(KeySpec::Aes256Gcm, &SystemRng).expect("gen");
        let k = LoadedKey::load(KeySpec::Aes256Gcm, &m).expect("load");
        let mut out = b"HDR".to_vec();
        k.aes_seal(b"aad", b"hello", &mut out).expect("seal");
        assert_eq!(&out[..3], b"HDR");
        let pt = k.aes_open(b"aad", &out[3..]).expect("open");
        assert_eq!(pt.expose(), b"hello");
        assert_eq!(
            k.aes_open(b"aae", &out[3..]).err(),
            Some(CryptoError::Failed)
        );
        let mut bad = out[3..].to_vec();
        bad[14] ^= 1;
        assert_eq!(k.aes_open(b"aad", &bad).err(), Some(CryptoError::Failed));
    }

    #[test]
    fn signatures_round_trip_for_all_algorithms() {
        for spec in ALL_SPECS {
            if spec.signing_algorithms().is_empty() {
                continue;
            }
            let m = generate(spec, &SystemRng).expect("gen");
            let k = LoadedKey::load(spec, &m).expect("load");
            let pk = k.public_key_der().expect("pk").to_vec();
            for &alg in spec.signing_algorithms() {
                let sig = k.sign(alg, MessageType::Raw, b"msg").expect("sign");
                assert!(verify(
                    spec,
                    alg,
                    EcdsaEncoding::Der,
                    &pk,
                    MessageType::Raw,
                    b"msg",
                    &sig
                )
                .expect("v"));
                assert!(!verify(
                    spec,
                    alg,
                    EcdsaEncoding::Der,
                    &pk,
                    MessageType::Raw,
                    b"msh",
                    &sig
                )
                .expect("v"));
                assert!(!verify(
                    spec,
                    alg,
                    EcdsaEncoding::Der,
                    &pk,
                    MessageType::Raw,
                    b"msg",
                    &[]
                )
                .expect("v"));
                if let Some(d) = alg.digest() {
                    let dg = digest::digest(d, b"msg");
                    let sig2 = k
                        .sign(alg, MessageType::Digest, dg.as_ref())
                        .expect("sign digest");
                    // A digest signature verifies as a signature over the raw message.
                    assert!(verify(
                        spec,
                        alg,
                        EcdsaEncoding::Der,
                        &pk,
                        MessageType::Raw,
                        b"msg",
                        &sig2
                    )
                    .expect("v"));
                    assert!(matches!(
                        k.sign(alg, MessageType::Digest, &dg.as_ref()[1..]),
                        Err(CryptoError::BadDigestLength { .. })
                    ));
                }
            }
        }
    }

    #[test]
    fn rsa_oaep_round_trip_with_label() {
        let m = generate(KeySpec::Rsa2048, &SystemRng).expect("gen");
        let k = LoadedKey::load(KeySpec::Rsa2048, &m).expect("load");
        let pk = k.public_key_der().expect("pk").to_vec();
        let ct = rsa_oaep_encrypt(&pk, b"secret", b"label").expect("enc");
        assert_eq!(
            k.rsa_oaep_decrypt(&ct, b"label").expect("dec").expose(),
            b"secret"
        );
        assert!(k.rsa_oaep_decrypt(&ct, b"other").is_err());
        assert!(matches!(
            rsa_oaep_encrypt(&pk, &[0u8; 300], b""),
            Err(CryptoError::PlaintextTooLong { max: 190 })
        ));
    }
}
