//! Cryptographic endpoints. These run on the async workers directly: they
//! read key material from memory only.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::b64::{encode, B64};
use super::error::ApiResult;
use super::extract::{ApiJson, Authed};
use super::AppState;
use crate::crypto::context::EncryptionContext;
use crate::crypto::spec::MessageType;
use crate::error::Error;
use crate::keys::engine::Engine;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptReq {
    key: String,
    plaintext: B64,
    #[serde(default)]
    context: EncryptionContext,
}

fn do_encrypt(e: &Engine, r: &EncryptReq) -> Result<Value, Error> {
    let pt = r.plaintext.decode_secret("plaintext")?;
    let out = e.encrypt(&r.key, pt.expose(), &r.context)?;
    Ok(
        json!({ "ciphertext": encode(&out.ciphertext), "key_id": out.key_id, "version": out.version }),
    )
}

pub async fn encrypt(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<EncryptReq>,
) -> ApiResult<Json<Value>> {
    let e = st.seal.engine()?;
    Ok(Json(do_encrypt(&e, &r)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptReq {
    ciphertext: B64,
    #[serde(default)]
    context: EncryptionContext,
    #[serde(default)]
    key: Option<String>,
}

fn do_decrypt(e: &Engine, r: &DecryptReq) -> Result<Value, Error> {
    let ct = r.ciphertext.decode("ciphertext")?;
    let out = e.decrypt(&ct, &r.context, r.key.as_deref())?;
    Ok(
        json!({ "plaintext": encode(out.plaintext.expose()), "key_id": out.key_id, "version": out.version }),
    )
}

pub async fn decrypt(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<DecryptReq>,
) -> ApiResult<Json<Value>> {
    let e = st.seal.engine()?;
    Ok(Json(do_decrypt(&e, &r)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReencryptReq {
    ciphertext: B64,
    #[serde(default)]
    source_context: EncryptionContext,
    #[serde(default)]
    source_key: Option<String>,
    destination_key: String,
    #[serde(default)]
    destination_context: EncryptionContext,
}

pub async fn reencrypt(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<ReencryptReq>,
) -> ApiResult<Json<Value>> {
    let ct = r.ciphertext.decode("ciphertext")?;
    let (out, src_key, src_version) = st.seal.engine()?.reencrypt(
        &ct,
        &r.source_context,
        r.source_key.as_deref(),
        &r.destination_key,
        &r.destination_context,
    )?;
    Ok(Json(json!({
        "ciphertext": encode(&out.ciphertext),
        "key_id": out.key_id,
        "version": out.version,
        "source_key_id": src_key,
        "source_version": src_version,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataKeyReq {
    key: String,
    number_of_bytes: Option<usize>,
    #[serde(default)]
    context: EncryptionContext,
    #[serde(default = "yes")]
    include_plaintext: bool,
}

fn yes() -> bool {
    true
}

pub async fn generate_data_key(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<DataKeyReq>,
) -> ApiResult<Json<Value>> {
    let dk = st.seal.engine()?.generate_data_key(
        &r.key,
        r.number_of_bytes,
        &r.context,
        r.include_plaintext,
    )?;
    let mut v =
        json!({ "ciphertext": encode(&dk.ciphertext), "key_id": dk.key_id, "version": dk.version });
    if let Some(p) = &dk.plaintext {
        v["plaintext"] = Value::String(encode(p.expose()));
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomReq {
    number_of_bytes: usize,
}

pub async fn random(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<RandomReq>,
) -> ApiResult<Json<Value>> {
    let b = st.seal.engine()?.generate_random(r.number_of_bytes)?;
    Ok(Json(json!({ "random": encode(b.expose()) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignReq {
    key: String,
    message: B64,
    #[serde(default)]
    message_type: MessageType,
    signing_algorithm: Option<String>,
}

pub async fn sign(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<SignReq>,
) -> ApiResult<Json<Value>> {
    let msg = r.message.decode("message")?;
    let (sig, alg, key_id, version) =
        st.seal
            .engine()?
            .sign(&r.key, &msg, r.message_type, r.signing_algorithm.as_deref())?;
    Ok(Json(json!({
        "signature": encode(&sig),
        "signing_algorithm": alg.name(),
        "key_id": key_id,
        "version": version,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyReq {
    key: String,
    message: B64,
    #[serde(default)]
    message_type: MessageType,
    signature: B64,
    signing_algorithm: Option<String>,
}

pub async fn verify(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<VerifyReq>,
) -> ApiResult<Json<Value>> {
    let msg = r.message.decode("message")?;
    let sig = r.signature.decode("signature")?;
    let valid = st.seal.engine()?.verify(
        &r.key,
        &msg,
        r.message_type,
        &sig,
        r.signing_algorithm.as_deref(),
    )?;
    Ok(Json(json!({ "valid": valid })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacReq {
    key: String,
    message: B64,
}

pub async fn generate_mac(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<MacReq>,
) -> ApiResult<Json<Value>> {
    let msg = r.message.decode("message")?;
    let (mac, key_id, version) = st.seal.engine()?.generate_mac(&r.key, &msg)?;
    Ok(Json(
        json!({ "mac": encode(&mac), "key_id": key_id, "version": version }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyMacReq {
    key: String,
    message: B64,
    mac: B64,
}

pub async fn verify_mac(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<VerifyMacReq>,
) -> ApiResult<Json<Value>> {
    let msg = r.message.decode("message")?;
    let mac = r.mac.decode("mac")?;
    let valid = st.seal.engine()?.verify_mac(&r.key, &msg, &mac)?;
    Ok(Json(json!({ "valid": valid })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyOnly {
    key: String,
}

pub async fn public_key(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<KeyOnly>,
) -> ApiResult<Json<Value>> {
    let pk = st.seal.engine()?.get_public_key(&r.key)?;
    let b64 = encode(&pk.der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    Ok(Json(json!({
        "key_id": pk.key_id,
        "public_key": b64,
        "pem": pem,
        "spec": pk.spec.name(),
        "usage": pk.usage.name(),
        "signing_algorithms": pk.signing_algorithms.iter().map(|a| a.name()).collect::<Vec<_>>(),
    })))
}

pub const MAX_BATCH: usize = 1000;

fn batch_result(r: Result<Value, Error>) -> Value {
    match r {
        Ok(v) => v,
        Err(e) => json!({ "error": { "code": e.code(), "message": e.public_message() } }),
    }
}

fn check_batch_len(n: usize) -> Result<(), Error> {
    if n == 0 || n > MAX_BATCH {
        return Err(Error::InvalidArgument(format!(
            "a batch needs 1 to {MAX_BATCH} items (got {n})"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchEncryptReq {
    items: Vec<EncryptReq>,
}

pub async fn batch_encrypt(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<BatchEncryptReq>,
) -> ApiResult<Json<Value>> {
    check_batch_len(r.items.len())?;
    let e = st.seal.engine()?;
    let results: Vec<Value> = r
        .items
        .iter()
        .map(|i| batch_result(do_encrypt(&e, i)))
        .collect();
    Ok(Json(json!({ "results": results })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchDecryptReq {
    items: Vec<DecryptReq>,
}

pub async fn batch_decrypt(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<BatchDecryptReq>,
) -> ApiResult<Json<Value>> {
    check_batch_len(r.items.len())?;
    let e = st.seal.engine()?;
    let results: Vec<Value> = r
        .items
        .iter()
        .map(|i| batch_result(do_decrypt(&e, i)))
        .collect();
    Ok(Json(json!({ "results": results })))
}
