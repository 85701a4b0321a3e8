//! The XKS request and response shapes (spec v1.0.3).

use base64::Engine as _;
use serde::Deserialize;

use strongroom_core::keys::model::KeyMeta;

use crate::error::XksError;

/// Largest AAD the spec requires (8192 bytes); the length goes in a u16.
pub const MAX_AAD: usize = 8192;
const MAX_ARN: usize = 2048;

/// `requestMetadata`: logged in the audit record; `kmsOperation` is never
/// refused, whatever its value.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMetadata {
    #[serde(default)]
    pub aws_principal_arn: Option<String>,
    #[serde(default)]
    pub aws_source_vpc: Option<String>,
    #[serde(default)]
    pub aws_source_vpce: Option<String>,
    #[serde(default)]
    pub kms_key_arn: Option<String>,
    pub kms_operation: String,
    pub kms_request_id: String,
    #[serde(default)]
    pub kms_via_service: Option<String>,
}

impl RequestMetadata {
    /// Required fields present and within the ARN length limit.
    pub fn check(&self, key_op: bool) -> Result<(), XksError> {
        if key_op && self.aws_principal_arn.is_none() {
            return Err(XksError::validation(
                "requestMetadata.awsPrincipalArn is required",
            ));
        }
        for (name, v) in [
            ("awsPrincipalArn", &self.aws_principal_arn),
            ("kmsKeyArn", &self.kms_key_arn),
        ] {
            if v.as_ref().is_some_and(|s| s.len() > MAX_ARN) {
                return Err(XksError::validation(format!(
                    "requestMetadata.{name} is longer than {MAX_ARN} characters"
                )));
            }
        }
        Ok(())
    }

    /// The audit record's detail: the XKS API and the whole requestMetadata.
    pub fn audit_detail(&self, api: &str) -> String {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), serde_json::Value::String(v.clone()));
            }
        };
        put("awsPrincipalArn", &self.aws_principal_arn);
        put("awsSourceVpc", &self.aws_source_vpc);
        put("awsSourceVpce", &self.aws_source_vpce);
        put("kmsKeyArn", &self.kms_key_arn);
        put("kmsOperation", &Some(self.kms_operation.clone()));
        put("kmsRequestId", &Some(self.kms_request_id.clone()));
        put("kmsViaService", &self.kms_via_service);
        format!("xks:{api} requestMetadata={}", serde_json::Value::Object(m))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthRequest {
    pub request_metadata: RequestMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataRequest {
    pub request_metadata: RequestMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptRequest {
    pub request_metadata: RequestMetadata,
    pub plaintext: String,
    pub encryption_algorithm: String,
    #[serde(default)]
    pub additional_authenticated_data: Option<String>,
    #[serde(default)]
    pub ciphertext_data_integrity_value_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptRequest {
    pub request_metadata: RequestMetadata,
    pub ciphertext: String,
    pub encryption_algorithm: String,
    pub initialization_vector: String,
    pub authentication_tag: String,
    #[serde(default)]
    pub additional_authenticated_data: Option<String>,
    #[serde(default)]
    pub ciphertext_metadata: Option<String>,
}

/// Parses a request body; a bad body is a ValidationException saying what is wrong.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, XksError> {
    serde_json::from_slice(body)
        .map_err(|e| XksError::validation(format!("request body is not a valid XKS request: {e}")))
}

pub fn b64(field: &str, v: &str) -> Result<Vec<u8>, XksError> {
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .map_err(|_| XksError::validation(format!("{field} is not valid base64")))
}

pub fn opt_b64(field: &str, v: Option<&str>) -> Result<Vec<u8>, XksError> {
    v.map(|s| b64(field, s))
        .transpose()
        .map(Option::unwrap_or_default)
}

pub fn check_aad(aad: &[u8]) -> Result<(), XksError> {
    if aad.len() > MAX_AAD {
        return Err(XksError::new(
            "UnsupportedOperationException",
            501,
            format!(
                "additionalAuthenticatedData is {} bytes; at most {MAX_AAD}",
                aad.len()
            ),
        ));
    }
    Ok(())
}

/// GetKeyMetadata's answer: a disabled (or otherwise unusable) key says DISABLED.
pub fn metadata(m: &KeyMeta) -> serde_json::Value {
    let aes = m.spec.name() == "AES_256_GCM";
    let status = if m.state == strongroom_core::keys::state::KeyState::Enabled {
        "ENABLED"
    } else {
        "DISABLED"
    };
    serde_json::json!({
        "keySpec": if aes { "AES_256" } else { m.spec.name() },
        "keyUsage": if aes { vec!["ENCRYPT", "DECRYPT"] } else { Vec::new() },
        "keyStatus": status,
    })
}

/// GetHealthStatus's answer.
pub fn health(unsealed: bool) -> serde_json::Value {
    serde_json::json!({
        "xksProxyFleetSize": 1,
        "xksProxyVendor": "Strongroom",
        "xksProxyModel": format!("Strongroom XKS proxy {}", env!("CARGO_PKG_VERSION")),
        "ekmVendor": "Strongroom",
        "ekmFleetDetails": [{
            "id": "strongroom",
            "model": format!("Strongroom {}", env!("CARGO_PKG_VERSION")),
            "healthStatus": if unsealed { "ACTIVE" } else { "UNAVAILABLE" },
        }],
    })
}

/// Encrypt's answer, with the CDIV (SHA-256 over AAD || metadata || IV ||
/// ciphertext || tag) when asked for.
pub fn encrypt_response(
    aad: &[u8],
    md: &[u8],
    iv: &[u8],
    ct: &[u8],
    tag: &[u8],
    cdiv: bool,
) -> serde_json::Value {
    let e = &base64::engine::general_purpose::STANDARD;
    let mut v = serde_json::json!({
        "ciphertext": e.encode(ct),
        "ciphertextMetadata": e.encode(md),
        "initializationVector": e.encode(iv),
        "authenticationTag": e.encode(tag),
    });
    if cdiv {
        v["ciphertextDataIntegrityValue"] = e.encode(cdiv_sha256(aad, md, iv, ct, tag)).into();
    }
    v
}

pub fn cdiv_sha256(aad: &[u8], md: &[u8], iv: &[u8], ct: &[u8], tag: &[u8]) -> Vec<u8> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in [aad, md, iv, ct, tag] {
        ctx.update(part);
    }
    ctx.finish().as_ref().to_vec()
}
