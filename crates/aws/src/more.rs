//! AWS KMS operations added after the first set: rotation schedules, data
//! key pairs, BYOK import, key policies. Same guard, same audit as ops.rs.
//! Anything else answers UnsupportedOperationException.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::error::AwsError;
use super::ops::{b64, change, required, use_key, AwsConfig, Req};
use crate::AppState;
use strongroom_core::crypto::spec::KeySpec;
use strongroom_core::error::Error;
use strongroom_engine::keys::engine::WrappingAlgorithm;
use strongroom_engine::keys::model::{Origin, RotationType};
use strongroom_engine::policy::key_policy::{self, KEY_POLICY_NAME};
use strongroom_service::approvals::Command;
use strongroom_service::gate::{Caller, Done, Guarded, Kind};

/// AWS's limits for RotationPeriodInDays (the engine accepts 1–3650).
pub const AWS_ROTATION_DAYS: std::ops::RangeInclusive<i64> = 90..=2560;
const DEFAULT_ROTATION_DAYS: i64 = 365;

fn unsupported(message: impl Into<String>) -> AwsError {
    AwsError::new("UnsupportedOperationException", 400, message)
}

fn malformed(message: impl Into<String>) -> AwsError {
    AwsError::new("MalformedPolicyDocumentException", 400, message)
}

/// For operations where AWS answers UnsupportedOperationException when the
/// key's spec or origin does not fit: the engine says InvalidKeyUsage.
fn usage_as_unsupported(e: Error) -> AwsError {
    match e {
        Error::InvalidKeyUsage(m) => unsupported(m),
        other => other.into(),
    }
}

fn read<'a>(action: &'static str, key: Option<&'a str>) -> Guarded<'a> {
    Guarded {
        kind: Kind::Read,
        ..use_key(action, key, None)
    }
}

/// Only symmetric, Strongroom-generated keys rotate automatically (as AWS).
fn check_rotatable(m: &strongroom_engine::keys::model::KeyMeta) -> Result<(), Error> {
    if m.spec != KeySpec::Aes256Gcm {
        return Err(Error::InvalidKeyUsage(format!(
            "automatic rotation is supported for SYMMETRIC_DEFAULT keys only; key {} is {}. Rotate it with RotateKeyOnDemand",
            m.id,
            super::ops::spec_to_aws(m.spec)
        )));
    }
    if m.origin == Origin::External {
        return Err(Error::InvalidKeyUsage(format!(
            "key {} has imported key material (origin EXTERNAL); Strongroom cannot rotate it automatically",
            m.id
        )));
    }
    Ok(())
}

fn pair_spec(s: &str) -> Result<KeySpec, AwsError> {
    Ok(match s {
        "RSA_2048" => KeySpec::Rsa2048,
        "RSA_3072" => KeySpec::Rsa3072,
        "RSA_4096" => KeySpec::Rsa4096,
        "ECC_NIST_P256" => KeySpec::EccNistP256,
        "ECC_NIST_P384" => KeySpec::EccNistP384,
        "ECC_NIST_P521" => KeySpec::EccNistP521,
        "ECC_SECG_P256K1" | "SM2" | "ECC_NIST_EDWARDS25519" | "ML_KEM_512" | "ML_KEM_768"
        | "ML_KEM_1024" => {
            return Err(unsupported(format!(
                "KeyPairSpec {s} is not supported by Strongroom; use RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384 or ECC_NIST_P521"
            )))
        }
        other => {
            return Err(AwsError::validation(format!(
                "KeyPairSpec {other:?} is not a key pair spec; use RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384 or ECC_NIST_P521"
            )))
        }
    })
}

fn policy_name(r: &Req) -> Result<(), AwsError> {
    match r.policy_name.as_deref() {
        None | Some(KEY_POLICY_NAME) => Ok(()),
        Some(other) => Err(AwsError::new(
            "NotFoundException",
            400,
            format!("no key policy named {other:?}; the only key policy name is \"default\""),
        )),
    }
}

/// Stores a key policy: parsed here first (a document Strongroom cannot
/// enforce is refused before any approval is asked for), then submitted as
/// the service's `PutKeyPolicy` command.
async fn put_key_policy(
    st: &AppState,
    cfg: &AwsConfig,
    c: &Caller,
    key_id: &str,
    doc: &str,
) -> Result<Value, AwsError> {
    strongroom_service::approvals::parse_key_policy(cfg, key_id, doc)
        .map_err(|e| malformed(e.public_message()))?;
    let cmd = Command::PutKeyPolicy {
        key: key_id.to_string(),
        policy: doc.to_string(),
    };
    st.submit(c, cmd).await.map_err(|e| match e {
        Error::InvalidArgument(m) if m.contains("is not a Strongroom identity") => {
            malformed(format!("the key policy is not supported: {m}"))
        }
        other => other.into(),
    })?;
    Ok(json!({}))
}

/// Imports material, as the service's `ImportKeyMaterial` command.
async fn import(
    st: &AppState,
    c: &Caller,
    key: &str,
    token: Vec<u8>,
    wrapped: Vec<u8>,
) -> Result<Value, AwsError> {
    let cmd = Command::ImportKeyMaterial {
        key: key.to_string(),
        import_token: STANDARD.encode(&token),
        encrypted_key_material: STANDARD.encode(&wrapped),
    };
    st.submit(c, cmd).await.map_err(usage_as_unsupported)?;
    Ok(json!({}))
}

/// The operations of this file; anything unknown is unsupported.
pub async fn dispatch(
    st: &AppState,
    cfg: &AwsConfig,
    c: &Caller,
    op: &str,
    r: Req,
) -> Result<Value, AwsError> {
    match op {
        "EnableKeyRotation" | "DisableKeyRotation" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let enable = op == "EnableKeyRotation";
            let days = match (enable, r.rotation_period_in_days) {
                (true, d) => {
                    let d = d.unwrap_or(DEFAULT_ROTATION_DAYS);
                    if !AWS_ROTATION_DAYS.contains(&d) {
                        return Err(AwsError::validation(format!(
                            "RotationPeriodInDays {d} is out of range; use {} to {} days (default {DEFAULT_ROTATION_DAYS})",
                            AWS_ROTATION_DAYS.start(),
                            AWS_ROTATION_DAYS.end()
                        )));
                    }
                    u32::try_from(d).ok()
                }
                (false, Some(_)) => {
                    return Err(AwsError::validation(
                        "RotationPeriodInDays is only valid with EnableKeyRotation",
                    ))
                }
                (false, None) => None,
            };
            let action = if enable {
                "kms:EnableKeyRotation"
            } else {
                "kms:DisableKeyRotation"
            };
            let k2 = k.clone();
            st.run(c, change(action, Some(&k)), move |s| {
                check_rotatable(&s.engine.describe(&k2)?)?;
                let m = s.engine.set_rotation_period(&k2, days)?;
                Ok(Done::new(()).key(m.id, None))
            })
            .await
            .map_err(usage_as_unsupported)?;
            Ok(json!({}))
        }
        "GetKeyRotationStatus" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let (k2, cfg2) = (k.clone(), cfg.clone());
            Ok(st
                .run(c, use_key("kms:DescribeKey", Some(&k), None), move |s| {
                    let m = s.engine.describe(&k2)?;
                    let mut v = json!({
                        "KeyId": cfg2.key_arn(&m.id),
                        "KeyRotationEnabled": m.rotation_period_days.is_some(),
                    });
                    if let Some(d) = m.rotation_period_days {
                        v["RotationPeriodInDays"] = json!(d);
                    }
                    if let Some(n) = m.next_rotation_at {
                        v["NextRotationDate"] = json!(n);
                    }
                    Ok(Done::new(v).key(m.id, None))
                })
                .await?)
        }
        "ListKeyRotations" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let limit = strongroom_service::gate::page_limit("Limit", r.limit)?;
            let start: usize = match r.marker.as_deref() {
                None => 0,
                Some(m) => m.parse().map_err(|_| {
                    AwsError::new(
                        "InvalidMarkerException",
                        400,
                        "Marker is not valid; pass the NextMarker of the previous page",
                    )
                })?,
            };
            let k2 = k.clone();
            st.run(c, use_key("kms:DescribeKey", Some(&k), None), move |s| {
                let m = s.engine.describe(&k2)?;
                if m.spec != KeySpec::Aes256Gcm {
                    return Err(Error::InvalidKeyUsage(format!(
                        "ListKeyRotations is supported for SYMMETRIC_DEFAULT keys only; key {} is {}",
                        m.id,
                        super::ops::spec_to_aws(m.spec)
                    )));
                }
                let all = s.engine.rotations(&k2)?;
                let page: Vec<Value> = all
                    .iter()
                    .skip(start)
                    .take(limit)
                    .map(|r| {
                        json!({
                            "KeyId": m.id,
                            "RotationDate": r.rotated_at,
                            "RotationType": match r.rotation_type {
                                RotationType::OnDemand => "ON_DEMAND",
                                RotationType::Automatic => "AUTOMATIC",
                            },
                        })
                    })
                    .collect();
                let next = start + page.len();
                let mut v = json!({ "Rotations": page, "Truncated": next < all.len() });
                if next < all.len() {
                    v["NextMarker"] = json!(next.to_string());
                }
                Ok(Done::new(v).key(m.id, None))
            })
            .await
            .map_err(usage_as_unsupported)
        }
        "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let spec_name = required("KeyPairSpec", &r.key_pair_spec)?.to_string();
            let spec = pair_spec(&spec_name)?;
            if r.recipient.is_some() {
                return Err(unsupported(
                    "Recipient (attested enclaves) is not supported by Strongroom",
                ));
            }
            let with = op == "GenerateDataKeyPair";
            let ctx = r.encryption_context.clone().unwrap_or_default();
            let (k2, ctx2, cfg2) = (k.clone(), ctx.clone(), cfg.clone());
            Ok(st
                .run(
                    c,
                    // RSA generation takes a while: off the async threads.
                    Guarded {
                        kind: Kind::Read,
                        ..use_key("kms:GenerateDataKeyPair", Some(&k), Some(&ctx))
                    },
                    move |s| {
                        let p = s.engine.generate_data_key_pair(&k2, spec, &ctx2, with)?;
                        let mut v = json!({
                            "PrivateKeyCiphertextBlob": STANDARD.encode(&p.private_ciphertext),
                            "PublicKey": STANDARD.encode(&p.public_der),
                            "KeyId": cfg2.key_arn(&p.key_id),
                            "KeyPairSpec": spec_name,
                        });
                        if let Some(pt) = &p.private_plaintext {
                            v["PrivateKeyPlaintext"] = json!(STANDARD.encode(pt.expose()));
                        }
                        Ok(Done::new(v).key(p.key_id, Some(p.version)))
                    },
                )
                .await?)
        }
        "GetParametersForImport" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let alg = match required("WrappingAlgorithm", &r.wrapping_algorithm)? {
                "RSAES_OAEP_SHA_256" => WrappingAlgorithm::RsaesOaepSha256,
                "RSA_AES_KEY_WRAP_SHA_256" => WrappingAlgorithm::RsaAesKeyWrapSha256,
                a @ ("RSAES_PKCS1_V1_5" | "RSAES_OAEP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_1" | "SM2PKE") => {
                    return Err(unsupported(format!(
                        "WrappingAlgorithm {a} is not supported; use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256"
                    )))
                }
                other => {
                    return Err(AwsError::validation(format!(
                        "WrappingAlgorithm {other:?} is not valid; use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256"
                    )))
                }
            };
            let spec = match required("WrappingKeySpec", &r.wrapping_key_spec)? {
                "RSA_2048" => KeySpec::Rsa2048,
                "RSA_3072" => KeySpec::Rsa3072,
                "RSA_4096" => KeySpec::Rsa4096,
                "SM2" => return Err(unsupported("WrappingKeySpec SM2 is not supported; use RSA_2048, RSA_3072 or RSA_4096")),
                other => {
                    return Err(AwsError::validation(format!(
                        "WrappingKeySpec {other:?} is not valid; use RSA_2048, RSA_3072 or RSA_4096"
                    )))
                }
            };
            let (k2, cfg2) = (k.clone(), cfg.clone());
            st.run(c, read("kms:GetParametersForImport", Some(&k)), move |s| {
                let p = s.engine.parameters_for_import(&k2, alg, spec)?;
                let v = json!({
                    "KeyId": cfg2.key_arn(&p.key_id),
                    "ImportToken": STANDARD.encode(&p.token),
                    "PublicKey": STANDARD.encode(&p.public_der),
                    "ParametersValidTo": p.valid_to,
                });
                Ok(Done::new(v).key(p.key_id, None))
            })
            .await
            .map_err(usage_as_unsupported)
        }
        "ImportKeyMaterial" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let token = b64("ImportToken", &r.import_token)?;
            let wrapped = b64("EncryptedKeyMaterial", &r.encrypted_key_material)?;
            match (r.expiration_model.as_deref(), &r.valid_to) {
                (None | Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), None) => {}
                (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(_)) => {
                    return Err(AwsError::validation(
                        "ValidTo must not be set with ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE",
                    ))
                }
                (None | Some("KEY_MATERIAL_EXPIRES"), _) => {
                    return Err(unsupported(
                        "expiring key material is not supported; omit ValidTo and use ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE",
                    ))
                }
                (Some(other), _) => {
                    return Err(AwsError::validation(format!(
                        "ExpirationModel {other:?} is not valid; use KEY_MATERIAL_DOES_NOT_EXPIRE"
                    )))
                }
            }
            import(st, c, &k, token, wrapped).await
        }
        "DeleteImportedKeyMaterial" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let k2 = k.clone();
            st.run(c, change("kms:DeleteImportedKeyMaterial", Some(&k)), move |s| {
                let m = s.engine.delete_imported_key_material(&k2)?;
                Ok(Done::new(()).key(m.id, None))
            })
            .await
            .map_err(usage_as_unsupported)?;
            Ok(json!({}))
        }
        "GetKeyPolicy" | "ListKeyPolicies" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            if op == "ListKeyPolicies" {
                let k2 = k.clone();
                return Ok(st
                    .run(c, use_key("kms:GetKeyPolicy", Some(&k), None), move |s| {
                        let id = s.engine.describe(&k2)?.id;
                        Ok(Done::new(json!({ "PolicyNames": [KEY_POLICY_NAME], "Truncated": false })).key(id, None))
                    })
                    .await?);
            }
            policy_name(&r)?;
            let (k2, cfg2) = (k.clone(), cfg.clone());
            Ok(st
                .run(c, use_key("kms:GetKeyPolicy", Some(&k), None), move |s| {
                    let id = s.engine.describe(&k2)?.id;
                    let arn = cfg2.key_arn(&id);
                    let stored = s.registry.key_policy(&id)?;
                    let doc = key_policy::render(
                        &key_policy::Scope {
                            key_id: &id,
                            key_arn: &arn,
                            account_id: &cfg2.account_id,
                        },
                        &stored,
                    );
                    Ok(Done::new(json!({ "Policy": doc, "PolicyName": KEY_POLICY_NAME })).key(id, None))
                })
                .await?)
        }
        "PutKeyPolicy" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            policy_name(&r)?;
            let doc = required("Policy", &r.policy)?.to_string();
            // The guard resolves the key the same way; the policy names its id.
            let id = st.seal.engine()?.describe(&k)?.id;
            put_key_policy(st, cfg, c, &id, &doc).await
        }
        other => Err(unsupported(format!(
            "TrentService.{other} is not supported by Strongroom; see docs/AWS.md for the supported operations"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pair_specs() {
        assert_eq!(pair_spec("RSA_3072").ok(), Some(KeySpec::Rsa3072));
        assert_eq!(pair_spec("ECC_NIST_P521").ok(), Some(KeySpec::EccNistP521));
        assert_eq!(
            pair_spec("ECC_SECG_P256K1").err().map(|e| e.type_name),
            Some("UnsupportedOperationException")
        );
        assert_eq!(
            pair_spec("RSA_1024").err().map(|e| e.type_name),
            Some("ValidationException")
        );
    }
}
