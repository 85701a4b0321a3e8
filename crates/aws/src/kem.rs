//! AWS KMS Encapsulate and Decapsulate (ML-KEM keys, usage
//! ENCAPSULATE_DECAPSULATE), with AWS's field names: `KeyId`,
//! `EncapsulationAlgorithm` (only `ML_KEM`), `SharedSecretCiphertextBlob`,
//! `SharedSecret`. Same guard and audit as every other operation; the
//! actions are `kms:Encapsulate` and `kms:Decapsulate`.
//!
//! The AWS shapes carry no key version: Encapsulate uses the primary version
//! and Decapsulate the primary version too (the native `/v1/decapsulate`
//! takes a `version` for ciphertexts made before a rotation).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::error::AwsError;
use super::ops::{b64, required, use_key, AwsConfig, Req};
use crate::AppState;
use strongroom_core::crypto::spec::ENCAPSULATION_ALGORITHM;
use strongroom_service::gate::{Caller, Done};

fn check_algorithm(alg: &Option<String>) -> Result<(), AwsError> {
    match alg.as_deref() {
        None | Some(ENCAPSULATION_ALGORITHM) => Ok(()),
        Some(a) => Err(AwsError::validation(format!(
            "EncapsulationAlgorithm {a} is not supported; use {ENCAPSULATION_ALGORITHM}"
        ))),
    }
}

pub async fn dispatch(
    st: &AppState,
    cfg: &AwsConfig,
    c: &Caller,
    op: &str,
    r: Req,
) -> Result<Value, AwsError> {
    let k = required("KeyId", &r.key_id)?.to_string();
    check_algorithm(&r.encapsulation_algorithm)?;
    let (k2, cfg2) = (k.clone(), cfg.clone());
    if op == "Encapsulate" {
        return Ok(st
            .run(c, use_key("kms:Encapsulate", Some(&k), None), move |s| {
                let out = s.engine.encapsulate(&k2)?;
                let v = json!({
                    "KeyId": cfg2.key_arn(&out.key_id),
                    "SharedSecret": STANDARD.encode(out.shared_secret.expose()),
                    "SharedSecretCiphertextBlob": STANDARD.encode(&out.ciphertext),
                    "EncapsulationAlgorithm": ENCAPSULATION_ALGORITHM,
                });
                Ok(Done::new(v).key(out.key_id, Some(out.version)))
            })
            .await?);
    }
    let ct = b64(
        "SharedSecretCiphertextBlob",
        &r.shared_secret_ciphertext_blob,
    )?;
    Ok(st
        .run(c, use_key("kms:Decapsulate", Some(&k), None), move |s| {
            let out = s.engine.decapsulate(&k2, &ct, None)?;
            let v = json!({
                "KeyId": cfg2.key_arn(&out.key_id),
                "SharedSecret": STANDARD.encode(out.shared_secret.expose()),
                "EncapsulationAlgorithm": ENCAPSULATION_ALGORITHM,
            });
            Ok(Done::new(v).key(out.key_id, Some(out.version)))
        })
        .await?)
}
