//! Cryptographic endpoints. They go through the guard like every other
//! request, and run inline: key material comes from memory only.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::b64::{encode, B64};
use super::caller::Authed;
use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use super::guard::{Caller, Done, Guarded, Kind};
use super::AppState;
use strongroom_core::crypto::context::EncryptionContext;
use strongroom_core::crypto::spec::MessageType;
use strongroom_core::error::Error;

fn use_key<'a>(
    action: &'static str,
    key: Option<&'a str>,
    context: Option<&'a EncryptionContext>,
) -> Guarded<'a> {
    Guarded {
        action,
        key,
        context,
        kind: Kind::Use,
        command: None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptReq {
    key: String,
    plaintext: B64,
    #[serde(default)]
    context: EncryptionContext,
}

async fn do_encrypt(st: &AppState, c: &Caller, r: EncryptReq) -> Result<Value, ApiError> {
    let pt = r.plaintext.decode_secret("plaintext")?;
    let ctx = r.context.clone();
    st.run_on_key(c, use_key("kms:Encrypt", Some(&r.key), Some(&r.context)), move |s, key| {
        let out = s.engine.encrypt_resolved(key, pt.expose(), &ctx)?;
        let v = json!({ "ciphertext": encode(&out.ciphertext), "key_id": out.key_id, "version": out.version });
        Ok(Done::new(v).key(out.key_id, Some(out.version)))
    })
    .await
}

pub async fn encrypt(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<EncryptReq>,
) -> ApiResult<Json<Value>> {
    Ok(Json(do_encrypt(&st, &c, r).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptReq {
    ciphertext: B64,
    #[serde(default)]
    context: EncryptionContext,
    #[serde(default)]
    key: Option<String>,
    /// Decrypt even under a version declared compromised (audited as
    /// `strongroom:DecryptCompromised`, which the caller must be granted).
    #[serde(default)]
    allow_compromised: bool,
}

/// The key a ciphertext names, if it parses and the key exists. Unknown
/// keys stay unnamed so the answer is the generic `InvalidCiphertext`.
pub fn key_of(st: &AppState, ct: &[u8]) -> Option<String> {
    st.key_of_ciphertext(ct)
}

async fn do_decrypt(st: &AppState, c: &Caller, r: DecryptReq) -> Result<Value, ApiError> {
    let ct = r.ciphertext.decode("ciphertext")?;
    let key = key_of(st, &ct);
    let (ctx, expected, allow) = (r.context.clone(), r.key.clone(), r.allow_compromised);
    let action = if allow {
        "strongroom:DecryptCompromised"
    } else {
        "kms:Decrypt"
    };
    st.run(c, use_key(action, key.as_deref(), Some(&r.context)), move |s| {
        let out = s.engine.decrypt_opts(&ct, &ctx, expected.as_deref(), allow)?;
        let v = json!({ "plaintext": encode(out.plaintext.expose()), "key_id": out.key_id, "version": out.version });
        Ok(Done::new(v).key(out.key_id, Some(out.version)))
    })
    .await
}

pub async fn decrypt(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<DecryptReq>,
) -> ApiResult<Json<Value>> {
    Ok(Json(do_decrypt(&st, &c, r).await?))
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
    /// Re-encrypt even from a version declared compromised (authorized and
    /// audited as `strongroom:DecryptCompromised` instead of `kms:ReEncryptFrom`).
    #[serde(default)]
    allow_compromised: bool,
}

pub async fn reencrypt(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<ReencryptReq>,
) -> ApiResult<Json<Value>> {
    let ct = r.ciphertext.decode("ciphertext")?;
    // Both ends are authorized: ReEncryptTo on the destination first.
    st.run(
        &c,
        use_key(
            "kms:ReEncryptTo",
            Some(&r.destination_key),
            Some(&r.destination_context),
        ),
        |_| Ok(Done::new(())),
    )
    .await?;
    let key = key_of(&st, &ct);
    let ReencryptReq {
        source_context,
        source_key,
        destination_key,
        destination_context,
        allow_compromised,
        ..
    } = r;
    let sc = source_context.clone();
    let from = if allow_compromised {
        "strongroom:DecryptCompromised"
    } else {
        "kms:ReEncryptFrom"
    };
    Ok(Json(
        st.run(&c, use_key(from, key.as_deref(), Some(&sc)), move |s| {
            let (out, src_key, src_version) = s.engine.reencrypt_opts(
                &ct,
                &source_context,
                source_key.as_deref(),
                &destination_key,
                &destination_context,
                allow_compromised,
            )?;
            let v = json!({
                "ciphertext": encode(&out.ciphertext),
                "key_id": out.key_id,
                "version": out.version,
                "source_key_id": src_key,
                "source_version": src_version,
            });
            Ok(Done::new(v).key(src_key, Some(src_version)))
        })
        .await?,
    ))
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
    Authed(c): Authed,
    ApiJson(r): ApiJson<DataKeyReq>,
) -> ApiResult<Json<Value>> {
    let action = if r.include_plaintext {
        "kms:GenerateDataKey"
    } else {
        "kms:GenerateDataKeyWithoutPlaintext"
    };
    let (key, ctx, n, incl) = (
        r.key.clone(),
        r.context.clone(),
        r.number_of_bytes,
        r.include_plaintext,
    );
    Ok(Json(
        st.run(&c, use_key(action, Some(&r.key), Some(&r.context)), move |s| {
            let dk = s.engine.generate_data_key(&key, n, &ctx, incl)?;
            let mut v = json!({ "ciphertext": encode(&dk.ciphertext), "key_id": dk.key_id, "version": dk.version });
            if let Some(p) = &dk.plaintext {
                v["plaintext"] = Value::String(encode(p.expose()));
            }
            Ok(Done::new(v).key(dk.key_id, Some(dk.version)))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomReq {
    number_of_bytes: usize,
}

pub async fn random(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<RandomReq>,
) -> ApiResult<Json<Value>> {
    let n = r.number_of_bytes;
    Ok(Json(
        st.run(&c, use_key("kms:GenerateRandom", None, None), move |s| {
            let b = s.engine.generate_random(n)?;
            Ok(Done::new(json!({ "random": encode(b.expose()) })))
        })
        .await?,
    ))
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
    Authed(c): Authed,
    ApiJson(r): ApiJson<SignReq>,
) -> ApiResult<Json<Value>> {
    let msg = r.message.decode("message")?;
    let (key, mt, alg) = (r.key.clone(), r.message_type, r.signing_algorithm.clone());
    Ok(Json(
        st.run(&c, use_key("kms:Sign", Some(&r.key), None), move |s| {
            let (sig, alg, key_id, version) = s.engine.sign(&key, &msg, mt, alg.as_deref())?;
            let v = json!({ "signature": encode(&sig), "signing_algorithm": alg.name(), "key_id": key_id, "version": version });
            Ok(Done::new(v).key(key_id, Some(version)))
        })
        .await?,
    ))
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
    Authed(c): Authed,
    ApiJson(r): ApiJson<VerifyReq>,
) -> ApiResult<Json<Value>> {
    let msg = r.message.decode("message")?;
    let sig = r.signature.decode("signature")?;
    let (key, mt, alg) = (r.key.clone(), r.message_type, r.signing_algorithm.clone());
    Ok(Json(
        st.run(&c, use_key("kms:Verify", Some(&r.key), None), move |s| {
            let valid = s.engine.verify(&key, &msg, mt, &sig, alg.as_deref())?;
            Ok(Done::new(json!({ "valid": valid })))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacReq {
    key: String,
    message: B64,
}

pub async fn generate_mac(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<MacReq>,
) -> ApiResult<Json<Value>> {
    let msg = r.message.decode("message")?;
    let key = r.key.clone();
    Ok(Json(
        st.run(
            &c,
            use_key("kms:GenerateMac", Some(&r.key), None),
            move |s| {
                let (mac, key_id, version) = s.engine.generate_mac(&key, &msg)?;
                Ok(
                    Done::new(json!({ "mac": encode(&mac), "key_id": key_id, "version": version }))
                        .key(key_id, Some(version)),
                )
            },
        )
        .await?,
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
    Authed(c): Authed,
    ApiJson(r): ApiJson<VerifyMacReq>,
) -> ApiResult<Json<Value>> {
    let msg = r.message.decode("message")?;
    let mac = r.mac.decode("mac")?;
    let key = r.key.clone();
    Ok(Json(
        st.run(&c, use_key("kms:VerifyMac", Some(&r.key), None), move |s| {
            let valid = s.engine.verify_mac(&key, &msg, &mac)?;
            Ok(Done::new(json!({ "valid": valid })))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyOnly {
    key: String,
}

pub async fn public_key(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<KeyOnly>,
) -> ApiResult<Json<Value>> {
    let key = r.key.clone();
    Ok(Json(
        st.run(&c, use_key("kms:GetPublicKey", Some(&r.key), None), move |s| {
            let pk = s.engine.get_public_key(&key)?;
            let b64 = encode(&pk.der);
            let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
            for chunk in b64.as_bytes().chunks(64) {
                pem.push_str(&String::from_utf8_lossy(chunk));
                pem.push('\n');
            }
            pem.push_str("-----END PUBLIC KEY-----\n");
            let v = json!({
                "key_id": pk.key_id,
                "public_key": b64,
                "pem": pem,
                "spec": pk.spec.name(),
                "usage": pk.usage.name(),
                "signing_algorithms": pk.signing_algorithms.iter().map(|a| a.name()).collect::<Vec<_>>(),
            });
            let mut v = v;
            if pk.usage == strongroom_core::crypto::spec::KeyUsage::EncapsulateDecapsulate {
                v["encapsulation_algorithms"] = json!([strongroom_core::crypto::spec::ENCAPSULATION_ALGORITHM]);
            }
            Ok(Done::new(v).key(pk.key_id, None))
        })
        .await?,
    ))
}

pub const MAX_BATCH: usize = 1000;

fn check_batch_len(n: usize) -> Result<(), Error> {
    if n == 0 || n > MAX_BATCH {
        return Err(Error::InvalidArgument(format!(
            "a batch needs 1 to {MAX_BATCH} items (got {n})"
        )));
    }
    Ok(())
}

fn batch_result(r: Result<Value, ApiError>) -> Value {
    match r {
        Ok(v) => v,
        Err(ApiError(e)) => json!({ "error": { "code": e.code(), "message": e.public_message() } }),
    }
}

/// Runs every item as its own guarded request, concurrently (so their audit
/// records share fsyncs), and returns the results in order.
async fn run_batch<R, Fut>(
    st: Arc<AppState>,
    c: Caller,
    items: Vec<R>,
    f: fn(Arc<AppState>, Caller, R) -> Fut,
) -> Result<Vec<Value>, ApiError>
where
    R: Send + 'static,
    Fut: std::future::Future<Output = Result<Value, ApiError>> + Send + 'static,
{
    check_batch_len(items.len())?;
    let mut set = tokio::task::JoinSet::new();
    let n = items.len();
    for (i, item) in items.into_iter().enumerate() {
        let (st, c) = (st.clone(), c.clone());
        set.spawn(async move { (i, f(st, c, item).await) });
    }
    let mut out = vec![Value::Null; n];
    while let Some(r) = set.join_next().await {
        let (i, res) = r.map_err(|e| ApiError(Error::Internal(format!("batch item task: {e}"))))?;
        if let Err(ApiError(Error::AuditUnavailable)) = &res {
            return Err(ApiError(Error::AuditUnavailable));
        }
        out[i] = batch_result(res);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchEncryptReq {
    items: Vec<EncryptReq>,
}

pub async fn batch_encrypt(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<BatchEncryptReq>,
) -> ApiResult<Json<Value>> {
    let results = run_batch(st, c, r.items, |st, c, item| async move {
        do_encrypt(&st, &c, item).await
    })
    .await?;
    Ok(Json(json!({ "results": results })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchDecryptReq {
    items: Vec<DecryptReq>,
}

pub async fn batch_decrypt(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<BatchDecryptReq>,
) -> ApiResult<Json<Value>> {
    let results = run_batch(st, c, r.items, |st, c, item| async move {
        do_decrypt(&st, &c, item).await
    })
    .await?;
    Ok(Json(json!({ "results": results })))
}
