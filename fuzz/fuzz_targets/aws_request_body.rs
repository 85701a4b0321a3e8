//! Drives the AWS KMS front end's request-body handling:
//! `strongroom_aws::ops::Req` deserialized with `serde_json::from_slice`
//! (as `strongroom_aws` does for `POST /`), then the checks
//! `strongroom_aws::ops::dispatch` runs before the engine:
//! `AwsConfig::check_arn` on every key reference,
//! `strongroom_aws::ops::required` on required fields,
//! `strongroom_aws::ops::b64` on every blob field,
//! `strongroom_aws::ops::spec_from_aws` on the key spec and
//! `strongroom_service::gate::page_limit` on `Limit`.
//!
//! Invariants: nothing panics; a blob that decodes re-encodes to itself;
//! an ARN `check_arn` accepts names this server's partition, region and
//! account; a key spec maps back to the same AWS name; `required` never
//! returns an empty string.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use strongroom_aws::ops::{b64, required, spec_from_aws, spec_to_aws, AwsConfig, Req};

fn blob(field: &str, v: &Option<String>) {
    match b64(field, v) {
        Ok(bytes) => {
            let s = v.as_deref().expect("b64 accepted a missing field");
            assert_eq!(
                STANDARD.encode(&bytes),
                s,
                "{field}: non-canonical base64 accepted"
            );
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
}

fn arn(cfg: &AwsConfig, key_ref: &str) {
    if cfg.check_arn(key_ref).is_ok() {
        if let Some(rest) = key_ref.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            if let [partition, "kms", region, account, _] = parts.as_slice() {
                assert_eq!(*partition, "aws");
                assert_eq!(*region, cfg.region);
                assert_eq!(*account, cfg.account_id);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let r: Req = if data.is_empty() {
        Req::default()
    } else {
        match serde_json::from_slice(data) {
            Ok(r) => r,
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        }
    };
    let cfg = AwsConfig::default();
    for key_ref in [
        &r.key_id,
        &r.target_key_id,
        &r.source_key_id,
        &r.destination_key_id,
    ]
    .into_iter()
    .flatten()
    {
        arn(&cfg, key_ref);
    }
    for (field, v) in [
        ("KeyId", &r.key_id),
        ("AliasName", &r.alias_name),
        ("TargetKeyId", &r.target_key_id),
        ("DestinationKeyId", &r.destination_key_id),
        ("Policy", &r.policy),
    ] {
        if let Ok(s) = required(field, v) {
            assert!(!s.is_empty());
        }
    }
    for (field, v) in [
        ("Plaintext", &r.plaintext),
        ("CiphertextBlob", &r.ciphertext_blob),
        ("Message", &r.message),
        ("Signature", &r.signature),
        ("Mac", &r.mac),
        ("ImportToken", &r.import_token),
        ("EncryptedKeyMaterial", &r.encrypted_key_material),
        (
            "SharedSecretCiphertextBlob",
            &r.shared_secret_ciphertext_blob,
        ),
    ] {
        blob(field, v);
    }
    for s in [&r.key_spec, &r.customer_master_key_spec, &r.key_pair_spec]
        .into_iter()
        .flatten()
    {
        if let Some(k) = spec_from_aws(s) {
            assert_eq!(spec_to_aws(k), s.as_str());
        }
    }
    let _ = strongroom_service::gate::page_limit("Limit", r.limit);
});
