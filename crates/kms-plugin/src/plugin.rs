//! The plugin: kube-apiserver's Status, Encrypt and Decrypt, each answered
//! by one request to a Strongroom server (`/v1/sys/health` and
//! `/v1/keys/KEY`, `/v1/encrypt`, `/v1/decrypt`) with the plugin's own
//! token. The plugin holds no key material: Strongroom's policy, dual
//! control and audit apply to it as to any client.
//!
//! `key_id` is `KEYID:vN`: the key's id and its primary version. A rotation
//! in Strongroom changes it, so kube-apiserver makes a new seed; a
//! ciphertext of an earlier version still decrypts (it names its version).

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tonic::{Code, Request, Response, Status};
use zeroize::Zeroize as _;

use strongroom_cli::client::Client;
use strongroom_core::crypto::spec::KeyUsage;
use strongroom_core::keys::model::KeyMeta;
use strongroom_core::keys::state::KeyState;

use crate::proto::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, KeyManagementService,
    StatusRequest, StatusResponse,
};

/// kube-apiserver refuses a `key_id` or a ciphertext longer than this
/// (k8s.io/kms: `KeyIDMaxSize`, the ciphertext limit of KMS v2).
pub const MAX_KEY_ID: usize = 1024;
pub const MAX_CIPHERTEXT: usize = 1024;
/// KMS v2 asks to wrap a 32-byte seed (or, on old API servers, a DEK);
/// anything that could not give a ciphertext within the limit is refused
/// before it reaches Strongroom.
pub const MAX_PLAINTEXT: usize = 512;

/// The API version this plugin serves (`apiVersion: v2` in the
/// EncryptionConfiguration).
pub const API_VERSION: &str = "v2";

pub struct Plugin {
    upstream: Arc<Client>,
    /// The key as configured (`--key`: an id or an alias).
    key: String,
    /// The last `key_id` seen, reported while Strongroom cannot be asked.
    last_key_id: Mutex<String>,
}

impl Plugin {
    pub fn new(upstream: Client, key: String) -> Self {
        Self {
            upstream: Arc::new(upstream),
            key,
            last_key_id: Mutex::new(String::new()),
        }
    }

    /// One request to Strongroom on a blocking thread (the CLI's client).
    /// Err: Strongroom could not be reached (or answered no JSON).
    async fn call(
        &self,
        method: &'static str,
        path: String,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let upstream = Arc::clone(&self.upstream);
        tokio::task::spawn_blocking(move || upstream.exchange(method, &path, body.as_ref()))
            .await
            .map_err(|e| format!("the request task failed: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// Like [`Plugin::call`], with any answer but 200 as a gRPC status.
    async fn call_ok(
        &self,
        method: &'static str,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, Status> {
        match self.call(method, path, body).await {
            Err(e) => Err(Status::unavailable(format!(
                "Strongroom is unreachable: {e}"
            ))),
            Ok((200, v)) => Ok(v),
            Ok((st, v)) => Err(status_of(st, &v)),
        }
    }

    fn remember(&self, key_id: &str) {
        if let Ok(mut last) = self.last_key_id.lock() {
            key_id.clone_into(&mut last);
        }
    }

    fn last_key_id(&self) -> String {
        self.last_key_id
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default()
    }

    /// "ok" and the current key_id, or why not.
    async fn health(&self) -> Result<String, String> {
        match self.call("GET", "/v1/sys/health".into(), None).await {
            Err(e) => return Err(format!("Strongroom is unreachable: {e}")),
            Ok((_, v)) if v["sealed"] == json!(true) => return Err("Strongroom is sealed".into()),
            Ok((_, v)) if v["initialized"] == json!(false) => {
                return Err("Strongroom is not initialized".into())
            }
            Ok((200, _)) => {}
            Ok((st, v)) => {
                let why = v["audit_problem"].as_str().unwrap_or("no reason given");
                return Err(format!("Strongroom is unhealthy (HTTP {st}): {why}"));
            }
        }
        let v = self
            .call_ok("GET", format!("/v1/keys/{}", self.key), None)
            .await
            .map_err(|s| format!("key {}: {}", self.key, s.message()))?;
        let meta: KeyMeta = serde_json::from_value(v)
            .map_err(|e| format!("key {}: unexpected answer from Strongroom: {e}", self.key))?;
        if meta.usage != KeyUsage::EncryptDecrypt {
            return Err(format!(
                "key {} is not an ENCRYPT_DECRYPT key; create one with `strongroom key create`",
                self.key
            ));
        }
        if meta.state != KeyState::Enabled {
            return Err(format!(
                "key {} is {}, not Enabled",
                self.key,
                meta.state.name()
            ));
        }
        let key_id = key_id(&meta.id, meta.primary_version);
        if key_id.len() > MAX_KEY_ID {
            return Err(format!(
                "key_id {key_id:?} is longer than {MAX_KEY_ID} bytes"
            ));
        }
        Ok(key_id)
    }
}

/// `KEYID:vN`.
pub fn key_id(id: &str, version: u32) -> String {
    format!("{id}:v{version}")
}

/// The key and version a `key_id` names, if it is one of ours.
pub fn parse_key_id(key_id: &str) -> Option<(&str, u32)> {
    let (id, v) = key_id.rsplit_once(":v")?;
    let version = v.parse().ok().filter(|v| *v > 0)?;
    (!id.is_empty() && !v.starts_with('+')).then_some((id, version))
}

/// A Strongroom error answer as a gRPC status: the code and message of
/// its `error`, under the gRPC code that says what kube-apiserver may do.
fn status_of(http: u16, v: &Value) -> Status {
    let code = v["error"]["code"].as_str().unwrap_or("Unknown");
    let msg = v["error"]["message"].as_str().unwrap_or("(no message)");
    let grpc = match http {
        400 | 413 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 | 412 => Code::FailedPrecondition,
        // Parked for dual-control approval: not something kube-apiserver can wait for.
        202 => Code::FailedPrecondition,
        429 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        _ => Code::Internal,
    };
    Status::new(grpc, format!("Strongroom: {code}: {msg}"))
}

fn invalid(msg: String) -> Status {
    Status::invalid_argument(msg)
}

impl KeyManagementService for Plugin {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let (healthz, key_id) = match self.health().await {
            Ok(key_id) => {
                self.remember(&key_id);
                ("ok".to_string(), key_id)
            }
            Err(why) => {
                tracing::warn!("status: not healthy: {why}");
                (why, self.last_key_id())
            }
        };
        Ok(Response::new(StatusResponse {
            version: API_VERSION.into(),
            healthz,
            key_id,
        }))
    }

    async fn encrypt(
        &self,
        req: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let req = req.into_inner();
        let n = req.plaintext.len();
        if n == 0 {
            return Err(invalid("the plaintext is empty".into()));
        }
        if n > MAX_PLAINTEXT {
            return Err(invalid(format!(
                "the plaintext is {n} bytes; this plugin wraps at most {MAX_PLAINTEXT} (KMS v2 sends a 32-byte seed, and its ciphertext must stay within {MAX_CIPHERTEXT} bytes)"
            )));
        }
        let mut plaintext = STANDARD.encode(&req.plaintext);
        let body = json!({ "key": self.key, "plaintext": plaintext, "context": {} });
        plaintext.zeroize();
        let v = self
            .call_ok("POST", "/v1/encrypt".into(), Some(body))
            .await
            .inspect_err(|s| tracing::warn!(uid = %req.uid, "encrypt failed: {}", s.message()))?;
        let (Some(ct), Some(id), Some(version)) = (
            v["ciphertext"].as_str(),
            v["key_id"].as_str(),
            v["version"].as_u64().and_then(|v| u32::try_from(v).ok()),
        ) else {
            return Err(Status::internal(
                "Strongroom's encrypt answer lacks ciphertext, key_id or version",
            ));
        };
        let ciphertext = STANDARD
            .decode(ct)
            .map_err(|_| Status::internal("Strongroom's ciphertext is not base64"))?;
        if ciphertext.len() > MAX_CIPHERTEXT {
            return Err(invalid(format!(
                "the ciphertext would be {} bytes; kube-apiserver accepts at most {MAX_CIPHERTEXT}",
                ciphertext.len()
            )));
        }
        let key_id = key_id(id, version);
        self.remember(&key_id);
        Ok(Response::new(EncryptResponse {
            ciphertext,
            key_id,
            // None: the ciphertext names its key version itself.
            annotations: Default::default(),
        }))
    }

    async fn decrypt(
        &self,
        req: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let req = req.into_inner();
        let n = req.ciphertext.len();
        if n == 0 {
            return Err(invalid("the ciphertext is empty".into()));
        }
        if n > MAX_CIPHERTEXT {
            return Err(invalid(format!(
                "the ciphertext is {n} bytes; KMS v2 ciphertexts are at most {MAX_CIPHERTEXT} (this one was not made by this plugin)"
            )));
        }
        if req.key_id.len() > MAX_KEY_ID {
            return Err(invalid(format!(
                "the key_id is {} bytes; KMS v2 allows at most {MAX_KEY_ID}",
                req.key_id.len()
            )));
        }
        let Some((key, version)) = parse_key_id(&req.key_id) else {
            return Err(invalid(format!(
                "key_id {:?} is not one this plugin makes (KEYID:vN)",
                req.key_id
            )));
        };
        // The ciphertext must be under the key its key_id names (which may
        // be an earlier --key than today's).
        let body =
            json!({ "ciphertext": STANDARD.encode(&req.ciphertext), "key": key, "context": {} });
        let mut v = self
            .call_ok("POST", "/v1/decrypt".into(), Some(body))
            .await
            .inspect_err(|s| tracing::warn!(uid = %req.uid, "decrypt failed: {}", s.message()))?;
        let Value::String(mut encoded) = v["plaintext"].take() else {
            return Err(Status::internal(
                "Strongroom's decrypt answer lacks the plaintext",
            ));
        };
        let plaintext = STANDARD.decode(&encoded);
        encoded.zeroize();
        let plaintext = DecryptResponse {
            plaintext: plaintext
                .map_err(|_| Status::internal("Strongroom's plaintext is not base64"))?,
        };
        if v["version"].as_u64() != Some(u64::from(version)) {
            // The key_id is stored beside the ciphertext in etcd: one that
            // does not match is refused rather than trusted.
            return Err(invalid(format!(
                "key_id {:?} names version {version}, but the ciphertext is under version {}",
                req.key_id, v["version"]
            )));
        }
        Ok(Response::new(plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_round_trip_and_refuse_what_is_not_ours() {
        let id = key_id("7d0c1f0e-aaaa-4bbb-8ccc-000000000001", 3);
        assert_eq!(id, "7d0c1f0e-aaaa-4bbb-8ccc-000000000001:v3");
        assert_eq!(
            parse_key_id(&id),
            Some(("7d0c1f0e-aaaa-4bbb-8ccc-000000000001", 3))
        );
        for bad in [
            "",
            "k",
            "k:v",
            ":v1",
            "k:v0",
            "k:vx",
            "k:v+1",
            "k:v-1",
            "k:v99999999999",
        ] {
            assert_eq!(parse_key_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn strongroom_errors_map_to_grpc_codes_with_their_message() {
        let v = json!({ "error": { "code": "Sealed", "message": "the server is sealed" } });
        let s = status_of(503, &v);
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), "Strongroom: Sealed: the server is sealed");
        assert_eq!(status_of(403, &v).code(), Code::PermissionDenied);
        assert_eq!(status_of(400, &v).code(), Code::InvalidArgument);
        assert_eq!(status_of(401, &v).code(), Code::Unauthenticated);
        assert_eq!(status_of(500, &json!({})).code(), Code::Internal);
    }
}
