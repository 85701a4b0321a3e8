//! `/v1/encapsulate` and `/v1/decapsulate`: ML-KEM (FIPS 203) with keys of
//! usage ENCAPSULATE_DECAPSULATE. Guarded and audited as `kms:Encapsulate`
//! and `kms:Decapsulate`; the shared secret goes to the caller only.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::b64::{encode, B64};
use super::caller::Authed;
use super::error::ApiResult;
use super::extract::ApiJson;
use super::guard::{Done, Guarded, Kind};
use super::AppState;
use strongroom_core::crypto::spec::ENCAPSULATION_ALGORITHM;

fn use_key<'a>(action: &'static str, key: &'a str) -> Guarded<'a> {
    Guarded {
        action,
        key: Some(key),
        context: None,
        kind: Kind::Use,
        command: None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncapsulateReq {
    key: String,
}

pub async fn encapsulate(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<EncapsulateReq>,
) -> ApiResult<Json<Value>> {
    let key = r.key.clone();
    Ok(Json(
        st.run(&c, use_key("kms:Encapsulate", &r.key), move |s| {
            let out = s.engine.encapsulate(&key)?;
            let v = json!({
                "ciphertext": encode(&out.ciphertext),
                "shared_secret": encode(out.shared_secret.expose()),
                "key_id": out.key_id,
                "version": out.version,
                "encapsulation_algorithm": ENCAPSULATION_ALGORITHM,
            });
            Ok(Done::new(v).key(out.key_id, Some(out.version)))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecapsulateReq {
    key: String,
    ciphertext: B64,
    /// The key version the ciphertext was made for (what Encapsulate
    /// returned); the primary version if absent.
    #[serde(default)]
    version: Option<u32>,
}

pub async fn decapsulate(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<DecapsulateReq>,
) -> ApiResult<Json<Value>> {
    let ct = r.ciphertext.decode("ciphertext")?;
    let (key, version) = (r.key.clone(), r.version);
    Ok(Json(
        st.run(&c, use_key("kms:Decapsulate", &r.key), move |s| {
            let out = s.engine.decapsulate(&key, &ct, version)?;
            let v = json!({
                "shared_secret": encode(out.shared_secret.expose()),
                "key_id": out.key_id,
                "version": out.version,
                "encapsulation_algorithm": ENCAPSULATION_ALGORITHM,
            });
            Ok(Done::new(v).key(out.key_id, Some(out.version)))
        })
        .await?,
    ))
}
