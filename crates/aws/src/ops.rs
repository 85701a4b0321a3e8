//! AWS KMS operations, mapped onto the engine through the same guard as the
//! native API (same policies with the same `kms:` action names, same audit).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::AwsError;
use crate::AppState;
use strongroom_core::crypto::context::EncryptionContext;
use strongroom_core::crypto::spec::{
    KeySpec, KeyUsage, MessageType, SigningAlgorithm, ENCAPSULATION_ALGORITHM,
};
use strongroom_core::error::Error;
use strongroom_engine::keys::engine::{CreateKey, KeyFilter, UpdateKey};
use strongroom_engine::keys::model::{KeyMeta, Origin};
use strongroom_engine::keys::state::KeyState;
use strongroom_service::approvals::{Command, CommandOutput};
use strongroom_service::gate::{Caller, Done, Guarded, Kind};

pub use strongroom_service::naming::ArnConfig as AwsConfig;

pub fn b64(field: &str, v: &Option<String>) -> Result<Vec<u8>, AwsError> {
    let s = v
        .as_deref()
        .ok_or_else(|| AwsError::validation(format!("{field} is required")))?;
    STANDARD
        .decode(s)
        .map_err(|_| AwsError::validation(format!("{field} is not valid base64")))
}

pub fn required<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, AwsError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AwsError::validation(format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null")))
}

pub use strongroom_core::crypto::spec::{spec_from_aws, spec_to_aws};

fn mac_algorithm(s: KeySpec) -> Option<&'static str> {
    match s {
        KeySpec::HmacSha256 => Some("HMAC_SHA_256"),
        KeySpec::HmacSha384 => Some("HMAC_SHA_384"),
        KeySpec::HmacSha512 => Some("HMAC_SHA_512"),
        _ => None,
    }
}

pub fn state_to_aws(s: KeyState) -> &'static str {
    match s {
        KeyState::Enabled => "Enabled",
        KeyState::Disabled => "Disabled",
        KeyState::PendingDeletion => "PendingDeletion",
        // AWS has no state for a destroyed key (it is gone); the closest is
        // Unavailable, which AWS clients treat as unusable.
        KeyState::Destroyed => "Unavailable",
        KeyState::PendingImport => "PendingImport",
    }
}

pub fn key_metadata(cfg: &AwsConfig, m: &KeyMeta) -> Value {
    let mut v = json!({
        "AWSAccountId": cfg.account_id,
        "KeyId": m.id,
        "Arn": cfg.key_arn(&m.id),
        "CreationDate": m.created_at,
        "Enabled": m.state == KeyState::Enabled,
        "Description": m.description,
        "KeyUsage": m.usage.name(),
        "KeyState": state_to_aws(m.state),
        "Origin": match m.origin {
            Origin::Generated => "AWS_KMS",
            Origin::External => "EXTERNAL",
        },
        "KeyManager": "CUSTOMER",
        "KeySpec": spec_to_aws(m.spec),
        "CustomerMasterKeySpec": spec_to_aws(m.spec),
        "MultiRegion": false,
    });
    match m.usage {
        KeyUsage::EncryptDecrypt => {
            v["EncryptionAlgorithms"] = if m.spec == KeySpec::Aes256Gcm {
                json!(["SYMMETRIC_DEFAULT"])
            } else {
                json!(["RSAES_OAEP_SHA_256"])
            }
        }
        KeyUsage::SignVerify => {
            v["SigningAlgorithms"] = json!(m
                .spec
                .signing_algorithms()
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>())
        }
        KeyUsage::GenerateVerifyMac => {
            v["MacAlgorithms"] = json!(mac_algorithm(m.spec).into_iter().collect::<Vec<_>>())
        }
        KeyUsage::EncapsulateDecapsulate => {
            v["EncapsulationAlgorithms"] = json!([ENCAPSULATION_ALGORITHM])
        }
    }
    if let Some(d) = m.deletion_date {
        v["DeletionDate"] = json!(d);
    }
    if m.origin == Origin::External {
        v["ExpirationModel"] = json!("KEY_MATERIAL_DOES_NOT_EXPIRE");
    }
    v
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Req {
    pub key_id: Option<String>,
    pub description: Option<String>,
    pub key_usage: Option<String>,
    pub key_spec: Option<String>,
    pub customer_master_key_spec: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub tag_keys: Option<Vec<String>>,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    pub pending_window_in_days: Option<i64>,
    pub alias_name: Option<String>,
    pub target_key_id: Option<String>,
    pub plaintext: Option<String>,
    pub ciphertext_blob: Option<String>,
    pub encryption_context: Option<EncryptionContext>,
    pub encryption_algorithm: Option<String>,
    pub source_encryption_context: Option<EncryptionContext>,
    pub source_key_id: Option<String>,
    pub destination_key_id: Option<String>,
    pub destination_encryption_context: Option<EncryptionContext>,
    pub number_of_bytes: Option<usize>,
    pub message: Option<String>,
    pub message_type: Option<String>,
    pub signature: Option<String>,
    pub signing_algorithm: Option<String>,
    pub mac: Option<String>,
    pub mac_algorithm: Option<String>,
    pub origin: Option<String>,
    pub rotation_period_in_days: Option<i64>,
    pub key_pair_spec: Option<String>,
    pub wrapping_algorithm: Option<String>,
    pub wrapping_key_spec: Option<String>,
    pub import_token: Option<String>,
    pub encrypted_key_material: Option<String>,
    pub valid_to: Option<Value>,
    pub expiration_model: Option<String>,
    pub policy_name: Option<String>,
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: Option<bool>,
    pub include_key_material: Option<String>,
    pub recipient: Option<Value>,
    pub encapsulation_algorithm: Option<String>,
    pub shared_secret_ciphertext_blob: Option<String>,
}

#[derive(Deserialize, serde::Serialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    tag_key: String,
    tag_value: String,
}

pub fn use_key<'a>(
    action: &'static str,
    key: Option<&'a str>,
    ctx: Option<&'a EncryptionContext>,
) -> Guarded<'a> {
    Guarded {
        action,
        key,
        context: ctx,
        kind: Kind::Use,
        command: None,
    }
}

pub fn change<'a>(action: &'static str, key: Option<&'a str>) -> Guarded<'a> {
    Guarded {
        action,
        key,
        context: None,
        kind: Kind::Change,
        command: None,
    }
}

fn check_symmetric_algorithm(alg: &Option<String>, spec_rsa: bool) -> Result<(), AwsError> {
    match alg.as_deref() {
        None | Some("SYMMETRIC_DEFAULT") if !spec_rsa => Ok(()),
        None | Some("RSAES_OAEP_SHA_256") if spec_rsa => Ok(()),
        Some(a) => Err(AwsError::validation(format!(
            "EncryptionAlgorithm {a} is not supported for this key; use SYMMETRIC_DEFAULT (AES-256-GCM) or RSAES_OAEP_SHA_256 (RSA keys)"
        ))),
        None => Ok(()),
    }
}

fn message_type(s: &Option<String>) -> Result<MessageType, AwsError> {
    match s.as_deref() {
        None | Some("RAW") => Ok(MessageType::Raw),
        Some("DIGEST") => Ok(MessageType::Digest),
        // Parsed so the engine refuses it with its own message (aws-lc-rs
        // cannot sign a precomputed ML-DSA mu).
        Some("EXTERNAL_MU") => Ok(MessageType::ExternalMu),
        Some(o) => Err(AwsError::validation(format!(
            "MessageType {o} is not supported; use RAW or DIGEST"
        ))),
    }
}

/// Runs one operation. Unknown operations get UnsupportedOperationException.
pub async fn dispatch(
    st: &AppState,
    cfg: &AwsConfig,
    c: &Caller,
    op: &str,
    r: Req,
) -> Result<Value, AwsError> {
    let arn = |id: &str| cfg.key_arn(id);
    for key_ref in [
        &r.key_id,
        &r.target_key_id,
        &r.source_key_id,
        &r.destination_key_id,
    ]
    .into_iter()
    .flatten()
    {
        cfg.check_arn(key_ref)?;
    }
    match op {
        "CreateKey" => {
            let spec_aws = r
                .key_spec
                .clone()
                .or(r.customer_master_key_spec.clone())
                .unwrap_or_else(|| "SYMMETRIC_DEFAULT".into());
            let spec = spec_from_aws(&spec_aws).ok_or_else(|| {
                AwsError::new(
                    "UnsupportedOperationException",
                    400,
                    format!("KeySpec {spec_aws} is not supported by Strongroom"),
                )
            })?;
            let external = match r.origin.as_deref() {
                None | Some("AWS_KMS") => false,
                Some("EXTERNAL") => true,
                Some(o) => {
                    return Err(AwsError::new(
                        "UnsupportedOperationException",
                        400,
                        format!("Origin {o} is not supported; use AWS_KMS (Strongroom generates the material) or EXTERNAL (you import it)"),
                    ))
                }
            };
            if external && spec != KeySpec::Aes256Gcm && !spec.is_ml_dsa() {
                return Err(AwsError::new(
                    "UnsupportedOperationException",
                    400,
                    format!("Origin EXTERNAL is supported for SYMMETRIC_DEFAULT and ML_DSA_44/65/87 keys only, not {spec_aws}"),
                ));
            }
            let tags: BTreeMap<String, String> = r
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.tag_key, t.tag_value))
                .collect();
            let req = CreateKey {
                spec: Some(spec.name().to_string()),
                usage: r.key_usage.clone(),
                description: r.description.unwrap_or_default(),
                tags,
                ..CreateKey::default()
            };
            let cfg2 = cfg.clone();
            let v = st
                .run(c, change("kms:CreateKey", None), move |s| {
                    let m = if external {
                        s.engine.create_external(req)?
                    } else {
                        s.engine.create(req)?
                    };
                    let id = m.id.clone();
                    let v = (!external).then_some(1);
                    Ok(Done::new(json!({ "KeyMetadata": key_metadata(&cfg2, &m) })).key(id, v))
                })
                .await?;
            Ok(v)
        }
        "DescribeKey" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let cfg2 = cfg.clone();
            let k2 = k.clone();
            Ok(st
                .run(c, use_key("kms:DescribeKey", Some(&k), None), move |s| {
                    Ok(Done::new(
                        json!({ "KeyMetadata": key_metadata(&cfg2, &s.engine.describe(&k2)?) }),
                    ))
                })
                .await?)
        }
        "ListKeys" => {
            let limit = strongroom_service::gate::page_limit("Limit", r.limit)?;
            let marker = r.marker.clone();
            let cfg2 = cfg.clone();
            Ok(st
                .run(c, use_key("kms:ListKeys", None, None), move |s| {
                    let (keys, next) =
                        s.engine
                            .list(&KeyFilter::default(), limit, marker.as_deref())?;
                    let ks: Vec<Value> = keys
                        .iter()
                        .map(|m| json!({ "KeyId": m.id, "KeyArn": cfg2.key_arn(&m.id) }))
                        .collect();
                    let mut v = json!({ "Keys": ks, "Truncated": next.is_some() });
                    if let Some(n) = next {
                        v["NextMarker"] = json!(n);
                    }
                    Ok(Done::new(v))
                })
                .await?)
        }
        "EnableKey" | "DisableKey" | "CancelKeyDeletion" | "RotateKeyOnDemand" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let action = match op {
                "EnableKey" => "kms:EnableKey",
                "DisableKey" => "kms:DisableKey",
                "CancelKeyDeletion" => "kms:CancelKeyDeletion",
                _ => "kms:RotateKeyOnDemand",
            };
            let (k2, op2) = (k.clone(), op.to_string());
            let m: KeyMeta = st
                .run(c, change(action, Some(&k)), move |s| {
                    let m = match op2.as_str() {
                        "EnableKey" => s.engine.enable(&k2)?,
                        "DisableKey" => s.engine.disable(&k2)?,
                        "CancelKeyDeletion" => s.engine.cancel_deletion(&k2)?,
                        _ => s.engine.rotate(&k2)?,
                    };
                    Ok(Done::new(m))
                })
                .await?;
            Ok(match op {
                "EnableKey" | "DisableKey" => json!({}),
                _ => json!({ "KeyId": arn(&m.id) }),
            })
        }
        "ScheduleKeyDeletion" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let days = r.pending_window_in_days;
            let cmd = Command::ScheduleKeyDeletion {
                key: k,
                pending_window_days: days,
            };
            let m: KeyMeta = match st.submit(c, cmd).await? {
                CommandOutput::Key(m) => *m,
                CommandOutput::Value(_) => {
                    return Err(Error::Internal("a key command returned no key".into()).into())
                }
            };
            Ok(json!({
                "KeyId": arn(&m.id),
                "DeletionDate": m.deletion_date,
                "KeyState": state_to_aws(m.state),
                "PendingWindowInDays": days.unwrap_or(30),
            }))
        }
        "UpdateKeyDescription" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let (k2, d) = (k.clone(), r.description.unwrap_or_default());
            st.run(c, change("kms:UpdateKeyDescription", Some(&k)), move |s| {
                s.engine.update(
                    &k2,
                    UpdateKey {
                        description: Some(d),
                        ..UpdateKey::default()
                    },
                )?;
                Ok(Done::new(()))
            })
            .await?;
            Ok(json!({}))
        }
        "TagResource" | "UntagResource" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let set: BTreeMap<String, String> = r
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.tag_key, t.tag_value))
                .collect();
            let remove = r.tag_keys.unwrap_or_default();
            let action = if op == "TagResource" {
                "kms:TagResource"
            } else {
                "kms:UntagResource"
            };
            let k2 = k.clone();
            st.run(c, change(action, Some(&k)), move |s| {
                s.engine.update(
                    &k2,
                    UpdateKey {
                        set_tags: set,
                        remove_tags: remove,
                        ..UpdateKey::default()
                    },
                )?;
                Ok(Done::new(()))
            })
            .await?;
            Ok(json!({}))
        }
        "ListResourceTags" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let k2 = k.clone();
            Ok(st
                .run(c, use_key("kms:DescribeKey", Some(&k), None), move |s| {
                    let m = s.engine.describe(&k2)?;
                    let tags: Vec<Value> = m
                        .tags
                        .iter()
                        .map(|(k, v)| json!({ "TagKey": k, "TagValue": v }))
                        .collect();
                    Ok(Done::new(json!({ "Tags": tags, "Truncated": false })))
                })
                .await?)
        }
        "CreateAlias" | "UpdateAlias" => {
            let alias = required("AliasName", &r.alias_name)?.to_string();
            let target = required("TargetKeyId", &r.target_key_id)?.to_string();
            let (a2, t2, upd) = (alias.clone(), target.clone(), op == "UpdateAlias");
            let action = if upd {
                "kms:UpdateAlias"
            } else {
                "kms:CreateAlias"
            };
            st.run(c, change(action, Some(&target)), move |s| {
                if upd {
                    s.engine.delete_alias(&a2)?;
                }
                s.engine.create_alias(&a2, &t2)?;
                Ok(Done::new(()))
            })
            .await?;
            Ok(json!({}))
        }
        "DeleteAlias" => {
            let alias = required("AliasName", &r.alias_name)?.to_string();
            let a2 = alias.clone();
            st.run(c, change("kms:DeleteAlias", Some(&alias)), move |s| {
                s.engine.delete_alias(&a2)?;
                Ok(Done::new(()))
            })
            .await?;
            Ok(json!({}))
        }
        "ListAliases" => {
            let filter = r.key_id.clone();
            let cfg2 = cfg.clone();
            Ok(st
                .run(c, use_key("kms:ListAliases", None, None), move |s| {
                    let want = match &filter {
                        Some(k) => Some(s.engine.describe(k)?.id),
                        None => None,
                    };
                    let aliases: Vec<Value> = s
                        .engine
                        .list_aliases()?
                        .into_iter()
                        .filter(|(_, id)| want.as_ref().is_none_or(|w| w == id))
                        .map(|(a, id)| json!({ "AliasName": a, "AliasArn": cfg2.alias_arn(&a), "TargetKeyId": id }))
                        .collect();
                    Ok(Done::new(json!({ "Aliases": aliases, "Truncated": false })))
                })
                .await?)
        }
        "Encrypt" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let pt = strongroom_core::crypto::SecretBytes::new(b64("Plaintext", &r.plaintext)?);
            let ctx = r.encryption_context.clone().unwrap_or_default();
            let alg = r.encryption_algorithm.clone();
            let (ctx2, cfg2) = (ctx.clone(), cfg.clone());
            Ok(st
                .run_on_key(c, use_key("kms:Encrypt", Some(&k), Some(&ctx)), move |s, key| {
                    let m = key.meta();
                    check_symmetric_algorithm(&alg, m.spec.is_rsa()).map_err(|e| Error::InvalidArgument(e.message))?;
                    let out = if m.spec.is_rsa() {
                        // As AWS: the bare OAEP ciphertext; no encryption context.
                        if !ctx2.is_empty() {
                            return Err(Error::InvalidArgument(
                                "EncryptionContext is not supported with asymmetric keys".into(),
                            ));
                        }
                        s.engine.encrypt_rsa_raw_resolved(key, pt.expose())?
                    } else {
                        s.engine.encrypt_resolved(key, pt.expose(), &ctx2)?
                    };
                    let v = json!({
                        "CiphertextBlob": STANDARD.encode(&out.ciphertext),
                        "KeyId": cfg2.key_arn(&out.key_id),
                        "EncryptionAlgorithm": if m.spec.is_rsa() { "RSAES_OAEP_SHA_256" } else { "SYMMETRIC_DEFAULT" },
                    });
                    Ok(Done::new(v).key(out.key_id, Some(out.version)))
                })
                .await?)
        }
        "Decrypt" => {
            let ct = b64("CiphertextBlob", &r.ciphertext_blob)?;
            let ctx = r.encryption_context.clone().unwrap_or_default();
            // An RSA KeyId means a bare AWS-style OAEP ciphertext (AWS requires
            // KeyId for asymmetric decryption); otherwise the header names the key.
            let rsa_key = r
                .key_id
                .as_deref()
                .and_then(|k| st.seal.engine().ok()?.handle(k).ok())
                .filter(|h| h.meta().spec.is_rsa())
                .map(|h| h.meta().id.clone());
            let key = rsa_key.clone().or_else(|| st.key_of_ciphertext(&ct));
            let (ctx2, expected, cfg2) = (ctx.clone(), r.key_id.clone(), cfg.clone());
            Ok(st
                .run(c, use_key("kms:Decrypt", key.as_deref(), Some(&ctx)), move |s| {
                    let out = match &rsa_key {
                        Some(k) => s.engine.decrypt_rsa_raw(k, &ct)?,
                        None => s.engine.decrypt(&ct, &ctx2, expected.as_deref())?,
                    };
                    let rsa = s.engine.handle(&out.key_id).map(|h| h.meta().spec.is_rsa()).unwrap_or(false);
                    let v = json!({
                        "Plaintext": STANDARD.encode(out.plaintext.expose()),
                        "KeyId": cfg2.key_arn(&out.key_id),
                        "EncryptionAlgorithm": if rsa { "RSAES_OAEP_SHA_256" } else { "SYMMETRIC_DEFAULT" },
                    });
                    Ok(Done::new(v).key(out.key_id, Some(out.version)))
                })
                .await?)
        }
        "ReEncrypt" => {
            let ct = b64("CiphertextBlob", &r.ciphertext_blob)?;
            let dest = required("DestinationKeyId", &r.destination_key_id)?.to_string();
            let sctx = r.source_encryption_context.clone().unwrap_or_default();
            let dctx = r.destination_encryption_context.clone().unwrap_or_default();
            st.run(
                c,
                use_key("kms:ReEncryptTo", Some(&dest), Some(&dctx)),
                |_| Ok(Done::new(())),
            )
            .await?;
            let key = st.key_of_ciphertext(&ct);
            let (sctx2, src, cfg2) = (sctx.clone(), r.source_key_id.clone(), cfg.clone());
            Ok(st
                .run(
                    c,
                    use_key("kms:ReEncryptFrom", key.as_deref(), Some(&sctx)),
                    move |s| {
                        let (out, sk, sv) =
                            s.engine
                                .reencrypt(&ct, &sctx2, src.as_deref(), &dest, &dctx)?;
                        let v = json!({
                            "CiphertextBlob": STANDARD.encode(&out.ciphertext),
                            "SourceKeyId": cfg2.key_arn(&sk),
                            "KeyId": cfg2.key_arn(&out.key_id),
                            "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                            "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                        });
                        Ok(Done::new(v).key(sk, Some(sv)))
                    },
                )
                .await?)
        }
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let n = match (r.key_spec.as_deref(), r.number_of_bytes) {
                (Some(_), Some(_)) => {
                    return Err(AwsError::validation(
                        "give KeySpec or NumberOfBytes, not both",
                    ))
                }
                (Some("AES_256"), None) => 32,
                (Some("AES_128"), None) => 16,
                (Some(o), None) => {
                    return Err(AwsError::validation(format!(
                        "KeySpec {o} is not valid for a data key; use AES_256 or AES_128"
                    )))
                }
                (None, Some(n)) => n,
                (None, None) => {
                    return Err(AwsError::validation(
                        "give KeySpec (AES_256 or AES_128) or NumberOfBytes",
                    ))
                }
            };
            let with = op == "GenerateDataKey";
            let action = if with {
                "kms:GenerateDataKey"
            } else {
                "kms:GenerateDataKeyWithoutPlaintext"
            };
            let ctx = r.encryption_context.clone().unwrap_or_default();
            let (k2, ctx2, cfg2) = (k.clone(), ctx.clone(), cfg.clone());
            Ok(st
                .run(c, use_key(action, Some(&k), Some(&ctx)), move |s| {
                    let dk = s.engine.generate_data_key(&k2, Some(n), &ctx2, with)?;
                    let mut v = json!({ "CiphertextBlob": STANDARD.encode(&dk.ciphertext), "KeyId": cfg2.key_arn(&dk.key_id) });
                    if let Some(p) = &dk.plaintext {
                        v["Plaintext"] = json!(STANDARD.encode(p.expose()));
                    }
                    Ok(Done::new(v).key(dk.key_id, Some(dk.version)))
                })
                .await?)
        }
        "GenerateRandom" => {
            let n = r
                .number_of_bytes
                .ok_or_else(|| AwsError::validation("NumberOfBytes is required"))?;
            Ok(st
                .run(c, use_key("kms:GenerateRandom", None, None), move |s| {
                    Ok(Done::new(json!({ "Plaintext": STANDARD.encode(s.engine.generate_random(n)?.expose()) })))
                })
                .await?)
        }
        "Sign" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let msg = b64("Message", &r.message)?;
            let mt = message_type(&r.message_type)?;
            let alg = required("SigningAlgorithm", &r.signing_algorithm)?.to_string();
            let (k2, cfg2) = (k.clone(), cfg.clone());
            Ok(st
                .run(c, use_key("kms:Sign", Some(&k), None), move |s| {
                    let (sig, a, id, v) = s.engine.sign(&k2, &msg, mt, Some(&alg))?;
                    Ok(Done::new(json!({ "KeyId": cfg2.key_arn(&id), "Signature": STANDARD.encode(&sig), "SigningAlgorithm": a.name() })).key(id, Some(v)))
                })
                .await?)
        }
        "Verify" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let msg = b64("Message", &r.message)?;
            let sig = b64("Signature", &r.signature)?;
            let mt = message_type(&r.message_type)?;
            let alg = required("SigningAlgorithm", &r.signing_algorithm)?.to_string();
            let (k2, alg2) = (k.clone(), alg.clone());
            let valid = st
                .run(c, use_key("kms:Verify", Some(&k), None), move |s| {
                    Ok(Done::new(s.engine.verify(
                        &k2,
                        &msg,
                        mt,
                        &sig,
                        Some(&alg2),
                    )?))
                })
                .await?;
            if !valid {
                return Err(AwsError::new(
                    "KMSInvalidSignatureException",
                    400,
                    "the signature is not valid for this message and key",
                ));
            }
            let id = st.seal.engine()?.describe(&k)?.id;
            Ok(
                json!({ "KeyId": arn(&id), "SignatureValid": true, "SigningAlgorithm": SigningAlgorithm::parse(&alg).map(|a| a.name()).unwrap_or_default() }),
            )
        }
        "GenerateMac" | "VerifyMac" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let msg = b64("Message", &r.message)?;
            let want_alg = required("MacAlgorithm", &r.mac_algorithm)?.to_string();
            let meta = st.seal.engine()?.describe(&k)?;
            if mac_algorithm(meta.spec) != Some(want_alg.as_str()) {
                return Err(AwsError::new(
                    "InvalidKeyUsageException",
                    400,
                    format!(
                        "MacAlgorithm {want_alg} does not match key {} ({})",
                        meta.id,
                        spec_to_aws(meta.spec)
                    ),
                ));
            }
            let k2 = k.clone();
            if op == "GenerateMac" {
                let (mac, id) = st
                    .run(c, use_key("kms:GenerateMac", Some(&k), None), move |s| {
                        let (mac, id, v) = s.engine.generate_mac(&k2, &msg)?;
                        Ok(Done::new((mac, id.clone())).key(id, Some(v)))
                    })
                    .await?;
                return Ok(
                    json!({ "Mac": STANDARD.encode(&mac), "MacAlgorithm": want_alg, "KeyId": arn(&id) }),
                );
            }
            let mac = b64("Mac", &r.mac)?;
            let valid = st
                .run(c, use_key("kms:VerifyMac", Some(&k), None), move |s| {
                    Ok(Done::new(s.engine.verify_mac(&k2, &msg, &mac)?))
                })
                .await?;
            if !valid {
                return Err(AwsError::new(
                    "KMSInvalidMacException",
                    400,
                    "the MAC is not valid for this message and key",
                ));
            }
            Ok(json!({ "KeyId": arn(&meta.id), "MacValid": true, "MacAlgorithm": want_alg }))
        }
        "GetPublicKey" => {
            let k = required("KeyId", &r.key_id)?.to_string();
            let (k2, cfg2) = (k.clone(), cfg.clone());
            Ok(st
                .run(c, use_key("kms:GetPublicKey", Some(&k), None), move |s| {
                    let pk = s.engine.get_public_key(&k2)?;
                    let mut v = json!({
                        "KeyId": cfg2.key_arn(&pk.key_id),
                        "PublicKey": STANDARD.encode(&pk.der),
                        "KeySpec": spec_to_aws(pk.spec),
                        "CustomerMasterKeySpec": spec_to_aws(pk.spec),
                        "KeyUsage": pk.usage.name(),
                    });
                    match pk.usage {
                        KeyUsage::SignVerify => {
                            v["SigningAlgorithms"] = json!(pk
                                .signing_algorithms
                                .iter()
                                .map(|a| a.name())
                                .collect::<Vec<_>>());
                        }
                        KeyUsage::EncapsulateDecapsulate => {
                            v["EncapsulationAlgorithms"] = json!([ENCAPSULATION_ALGORITHM]);
                        }
                        _ => v["EncryptionAlgorithms"] = json!(["RSAES_OAEP_SHA_256"]),
                    }
                    Ok(Done::new(v).key(pk.key_id, None))
                })
                .await?)
        }
        "Encapsulate" | "Decapsulate" => super::kem::dispatch(st, cfg, c, op, r).await,
        other => super::more::dispatch(st, cfg, c, other, r).await,
    }
}
