//! Key specs, usages and signing algorithms: the names clients see.

use serde::{Deserialize, Serialize};

/// What kind of key a KMS key is. Names follow AWS where AWS has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeySpec {
    #[serde(rename = "AES_256_GCM")]
    Aes256Gcm,
    #[serde(rename = "HMAC_SHA_256")]
    HmacSha256,
    #[serde(rename = "HMAC_SHA_384")]
    HmacSha384,
    #[serde(rename = "HMAC_SHA_512")]
    HmacSha512,
    #[serde(rename = "RSA_2048")]
    Rsa2048,
    #[serde(rename = "RSA_3072")]
    Rsa3072,
    #[serde(rename = "RSA_4096")]
    Rsa4096,
    #[serde(rename = "ECC_NIST_P256")]
    EccNistP256,
    #[serde(rename = "ECC_NIST_P384")]
    EccNistP384,
    #[serde(rename = "ECC_NIST_P521")]
    EccNistP521,
    #[serde(rename = "ED25519")]
    Ed25519,
    /// ML-DSA-44 signatures (FIPS 204).
    #[serde(rename = "ML_DSA_44")]
    MlDsa44,
    #[serde(rename = "ML_DSA_65")]
    MlDsa65,
    #[serde(rename = "ML_DSA_87")]
    MlDsa87,
    /// ML-KEM-512 key encapsulation (FIPS 203).
    #[serde(rename = "ML_KEM_512")]
    MlKem512,
    #[serde(rename = "ML_KEM_768")]
    MlKem768,
    #[serde(rename = "ML_KEM_1024")]
    MlKem1024,
}

pub const ALL_SPECS: [KeySpec; 17] = [
    KeySpec::Aes256Gcm,
    KeySpec::HmacSha256,
    KeySpec::HmacSha384,
    KeySpec::HmacSha512,
    KeySpec::Rsa2048,
    KeySpec::Rsa3072,
    KeySpec::Rsa4096,
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
    KeySpec::Ed25519,
    KeySpec::MlDsa44,
    KeySpec::MlDsa65,
    KeySpec::MlDsa87,
    KeySpec::MlKem512,
    KeySpec::MlKem768,
    KeySpec::MlKem1024,
];

/// The one key encapsulation algorithm name (as AWS KMS): ML-KEM, FIPS 203.
pub const ENCAPSULATION_ALGORITHM: &str = "ML_KEM";

impl KeySpec {
    pub fn name(self) -> &'static str {
        match self {
            KeySpec::Aes256Gcm => "AES_256_GCM",
            KeySpec::HmacSha256 => "HMAC_SHA_256",
            KeySpec::HmacSha384 => "HMAC_SHA_384",
            KeySpec::HmacSha512 => "HMAC_SHA_512",
            KeySpec::Rsa2048 => "RSA_2048",
            KeySpec::Rsa3072 => "RSA_3072",
            KeySpec::Rsa4096 => "RSA_4096",
            KeySpec::EccNistP256 => "ECC_NIST_P256",
            KeySpec::EccNistP384 => "ECC_NIST_P384",
            KeySpec::EccNistP521 => "ECC_NIST_P521",
            KeySpec::Ed25519 => "ED25519",
            KeySpec::MlDsa44 => "ML_DSA_44",
            KeySpec::MlDsa65 => "ML_DSA_65",
            KeySpec::MlDsa87 => "ML_DSA_87",
            KeySpec::MlKem512 => "ML_KEM_512",
            KeySpec::MlKem768 => "ML_KEM_768",
            KeySpec::MlKem1024 => "ML_KEM_1024",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ALL_SPECS.iter().copied().find(|k| k.name() == s)
    }

    /// Usages this spec may be created with; the first is the default.
    pub fn allowed_usages(self) -> &'static [KeyUsage] {
        match self {
            KeySpec::Aes256Gcm => &[KeyUsage::EncryptDecrypt],
            KeySpec::HmacSha256 | KeySpec::HmacSha384 | KeySpec::HmacSha512 => {
                &[KeyUsage::GenerateVerifyMac]
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                &[KeyUsage::SignVerify, KeyUsage::EncryptDecrypt]
            }
            KeySpec::EccNistP256
            | KeySpec::EccNistP384
            | KeySpec::EccNistP521
            | KeySpec::Ed25519
            | KeySpec::MlDsa44
            | KeySpec::MlDsa65
            | KeySpec::MlDsa87 => &[KeyUsage::SignVerify],
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
                &[KeyUsage::EncapsulateDecapsulate]
            }
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096)
    }

    /// ML-DSA (FIPS 204) signing keys.
    pub fn is_ml_dsa(self) -> bool {
        matches!(self, KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87)
    }

    /// ML-KEM (FIPS 203) key encapsulation keys.
    pub fn is_ml_kem(self) -> bool {
        matches!(
            self,
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024
        )
    }

    /// Signing algorithms valid for this spec; the first is the default.
    pub fn signing_algorithms(self) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm::*;
        match self {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
                RsassaPssSha256,
                RsassaPssSha384,
                RsassaPssSha512,
                RsassaPkcs1V15Sha256,
                RsassaPkcs1V15Sha384,
                RsassaPkcs1V15Sha512,
            ],
            KeySpec::EccNistP256 => &[EcdsaSha256],
            KeySpec::EccNistP384 => &[EcdsaSha384],
            KeySpec::EccNistP521 => &[EcdsaSha512],
            KeySpec::Ed25519 => &[Ed25519],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &[MlDsaShake256],
            _ => &[],
        }
    }
}

/// What a key may be used for; fixed at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyUsage {
    #[serde(rename = "ENCRYPT_DECRYPT")]
    EncryptDecrypt,
    #[serde(rename = "SIGN_VERIFY")]
    SignVerify,
    #[serde(rename = "GENERATE_VERIFY_MAC")]
    GenerateVerifyMac,
    /// ML-KEM keys: Encapsulate and Decapsulate (AWS KMS name).
    #[serde(rename = "ENCAPSULATE_DECAPSULATE")]
    EncapsulateDecapsulate,
}

impl KeyUsage {
    pub fn name(self) -> &'static str {
        match self {
            KeyUsage::EncryptDecrypt => "ENCRYPT_DECRYPT",
            KeyUsage::SignVerify => "SIGN_VERIFY",
            KeyUsage::GenerateVerifyMac => "GENERATE_VERIFY_MAC",
            KeyUsage::EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            KeyUsage::EncryptDecrypt,
            KeyUsage::SignVerify,
            KeyUsage::GenerateVerifyMac,
            KeyUsage::EncapsulateDecapsulate,
        ]
        .into_iter()
        .find(|u| u.name() == s)
    }
}

/// Signature schemes, named as in AWS KMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    #[serde(rename = "RSASSA_PSS_SHA_256")]
    RsassaPssSha256,
    #[serde(rename = "RSASSA_PSS_SHA_384")]
    RsassaPssSha384,
    #[serde(rename = "RSASSA_PSS_SHA_512")]
    RsassaPssSha512,
    #[serde(rename = "RSASSA_PKCS1_V1_5_SHA_256")]
    RsassaPkcs1V15Sha256,
    #[serde(rename = "RSASSA_PKCS1_V1_5_SHA_384")]
    RsassaPkcs1V15Sha384,
    #[serde(rename = "RSASSA_PKCS1_V1_5_SHA_512")]
    RsassaPkcs1V15Sha512,
    #[serde(rename = "ECDSA_SHA_256")]
    EcdsaSha256,
    #[serde(rename = "ECDSA_SHA_384")]
    EcdsaSha384,
    #[serde(rename = "ECDSA_SHA_512")]
    EcdsaSha512,
    #[serde(rename = "ED25519_SHA_512")]
    Ed25519,
    /// ML-DSA (FIPS 204), pure mode with an empty context string, over the
    /// RAW message (AWS KMS name: the message representative is SHAKE-256).
    #[serde(rename = "ML_DSA_SHAKE_256")]
    MlDsaShake256,
}

impl SigningAlgorithm {
    pub fn name(self) -> &'static str {
        use SigningAlgorithm::*;
        match self {
            RsassaPssSha256 => "RSASSA_PSS_SHA_256",
            RsassaPssSha384 => "RSASSA_PSS_SHA_384",
            RsassaPssSha512 => "RSASSA_PSS_SHA_512",
            RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
            RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
            RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
            EcdsaSha256 => "ECDSA_SHA_256",
            EcdsaSha384 => "ECDSA_SHA_384",
            EcdsaSha512 => "ECDSA_SHA_512",
            Ed25519 => "ED25519_SHA_512",
            MlDsaShake256 => "ML_DSA_SHAKE_256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        KeySpec::Rsa2048
            .signing_algorithms()
            .iter()
            .chain(KeySpec::EccNistP256.signing_algorithms())
            .chain(KeySpec::EccNistP384.signing_algorithms())
            .chain(KeySpec::EccNistP521.signing_algorithms())
            .chain(KeySpec::Ed25519.signing_algorithms())
            .chain(KeySpec::MlDsa65.signing_algorithms())
            .copied()
            .find(|a| a.name() == s)
    }

    /// The digest a DIGEST-type message must be produced with, if any.
    pub fn digest(self) -> Option<&'static aws_lc_rs::digest::Algorithm> {
        use aws_lc_rs::digest;
        use SigningAlgorithm::*;
        match self {
            RsassaPssSha256 | RsassaPkcs1V15Sha256 | EcdsaSha256 => Some(&digest::SHA256),
            RsassaPssSha384 | RsassaPkcs1V15Sha384 | EcdsaSha384 => Some(&digest::SHA384),
            RsassaPssSha512 | RsassaPkcs1V15Sha512 | EcdsaSha512 => Some(&digest::SHA512),
            Ed25519 | MlDsaShake256 => None,
        }
    }
}

/// Whether a sign/verify message is the raw message or a precomputed digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum MessageType {
    #[default]
    #[serde(rename = "RAW")]
    Raw,
    #[serde(rename = "DIGEST")]
    Digest,
    /// ML-DSA's externally computed message representative (mu), as AWS
    /// KMS accepts it. Refused with a validation error: aws-lc-rs 1.19 has
    /// no interface to sign or verify a precomputed mu.
    #[serde(rename = "EXTERNAL_MU")]
    ExternalMu,
}

impl MessageType {
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Raw => "RAW",
            MessageType::Digest => "DIGEST",
            MessageType::ExternalMu => "EXTERNAL_MU",
        }
    }
}

/// AWS key spec names ↔ Strongroom's.
pub fn spec_from_aws(s: &str) -> Option<KeySpec> {
    Some(match s {
        "SYMMETRIC_DEFAULT" => KeySpec::Aes256Gcm,
        "HMAC_256" => KeySpec::HmacSha256,
        "HMAC_384" => KeySpec::HmacSha384,
        "HMAC_512" => KeySpec::HmacSha512,
        "RSA_2048" => KeySpec::Rsa2048,
        "RSA_3072" => KeySpec::Rsa3072,
        "RSA_4096" => KeySpec::Rsa4096,
        "ECC_NIST_P256" => KeySpec::EccNistP256,
        "ECC_NIST_P384" => KeySpec::EccNistP384,
        "ECC_NIST_P521" => KeySpec::EccNistP521,
        "ECC_NIST_EDWARDS25519" => KeySpec::Ed25519,
        "ML_DSA_44" => KeySpec::MlDsa44,
        "ML_DSA_65" => KeySpec::MlDsa65,
        "ML_DSA_87" => KeySpec::MlDsa87,
        "ML_KEM_512" => KeySpec::MlKem512,
        "ML_KEM_768" => KeySpec::MlKem768,
        "ML_KEM_1024" => KeySpec::MlKem1024,
        _ => return None,
    })
}

pub fn spec_to_aws(s: KeySpec) -> &'static str {
    match s {
        KeySpec::Aes256Gcm => "SYMMETRIC_DEFAULT",
        KeySpec::HmacSha256 => "HMAC_256",
        KeySpec::HmacSha384 => "HMAC_384",
        KeySpec::HmacSha512 => "HMAC_512",
        KeySpec::Rsa2048 => "RSA_2048",
        KeySpec::Rsa3072 => "RSA_3072",
        KeySpec::Rsa4096 => "RSA_4096",
        KeySpec::EccNistP256 => "ECC_NIST_P256",
        KeySpec::EccNistP384 => "ECC_NIST_P384",
        KeySpec::EccNistP521 => "ECC_NIST_P521",
        KeySpec::Ed25519 => "ECC_NIST_EDWARDS25519",
        // The post-quantum specs have the same names on both sides.
        s @ (KeySpec::MlDsa44
        | KeySpec::MlDsa65
        | KeySpec::MlDsa87
        | KeySpec::MlKem512
        | KeySpec::MlKem768
        | KeySpec::MlKem1024) => s.name(),
    }
}
