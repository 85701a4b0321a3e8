//! The AWS External Key Store (XKS) proxy API v1.0.3 at
//! `POST {prefix}/kms/xks/v1/keys/{externalKeyId}/{metadata,encrypt,decrypt}`
//! and `POST {prefix}/kms/xks/v1/health`, SigV4-signed (service
//! `kms-xks-proxy`) with a Strongroom access key, so the identity's
//! policies and the audit log apply. Only the keys named in `xks_keys` are
//! reachable. See `docs/XKS.md`.

pub mod error;
pub mod wire;

use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use strongroom_core::crypto::context::EncryptionContext;
use strongroom_core::crypto::SecretBytes;
use strongroom_core::error::Error;
use strongroom_core::keys::ciphertext::{Algorithm, Header, HEADER_LEN};
use strongroom_engine::auth::Principal;
use strongroom_service::gate::{Caller, Done, Guarded, Kind, AUDIT_DETAIL};
use strongroom_sigv4 as sigv4;

use error::XksError;

/// The one encryption context entry the XKS AAD input goes in.
pub const AAD_CONTEXT_KEY: &str = "aws:xks:aad";
/// `ciphertextMetadata`: format byte 1, then the key version (u32 big-endian).
pub const METADATA_FORMAT_V1: u8 = 1;
const METADATA_LEN: usize = 5;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// XKS settings (from the server config).
#[derive(Clone, Default)]
pub struct XksSettings {
    /// The optional path prefix before `/kms/xks/v1` ("" for none).
    pub path_prefix: String,
    /// The Strongroom keys XKS may use: key ids, or `alias/NAME` (served as
    /// externalKeyId `NAME`).
    pub keys: Vec<String>,
    /// `None` accepts any region in the credential scope.
    pub region: Option<String>,
    pub max_skew_secs: i64,
    /// Dev mode's `--dev-aws-credentials AKID:SECRET` (acts as root).
    pub dev_credentials: Option<(String, Arc<SecretBytes>)>,
}

/// Checks a configured path prefix: empty, or `/` then letters, digits,
/// `/`, `-`, `_`, not ending in `/`, and with `/kms/xks/v1` at most 128
/// characters (the `XksProxyUriPath` rules).
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    if !prefix.starts_with('/') || prefix.ends_with('/') {
        return Err(format!(
            "xks_path_prefix {prefix:?} must start with '/' and not end with '/' (e.g. \"/tenant-a\"), or be empty"
        ));
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'-' || b == b'_')
    {
        return Err(format!(
            "xks_path_prefix {prefix:?} may hold only letters, digits, '/', '-' and '_'"
        ));
    }
    if prefix.len() + "/kms/xks/v1".len() > 128 {
        return Err(format!(
            "xks_path_prefix is {} characters; with /kms/xks/v1 the XKS URI path must be at most 128",
            prefix.len()
        ));
    }
    Ok(())
}

/// Checks an externalKeyId: 1 to 128 of letters, digits, `-`, `.`, `_`.
pub fn validate_external_key_id(id: &str) -> Result<(), XksError> {
    if id.is_empty() || id.len() > 128 {
        return Err(XksError::validation(format!(
            "externalKeyId is {} characters; it must be 1 to 128",
            id.len()
        )));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(XksError::validation(
            "externalKeyId may hold only letters, digits, '-', '.' and '_'",
        ));
    }
    Ok(())
}

/// The XKS front-end's state.
pub struct AppState {
    pub service: Arc<strongroom_service::Service>,
    pub settings: XksSettings,
    pub max_body: usize,
    verify: sigv4::VerifyConfig,
}

impl AppState {
    pub fn new(
        service: Arc<strongroom_service::Service>,
        settings: XksSettings,
        max_body: usize,
    ) -> AppState {
        let verify = sigv4::VerifyConfig {
            service: "kms-xks-proxy".into(),
            region: settings.region.clone(),
            max_skew_secs: settings.max_skew_secs,
            required_signed_headers: vec!["host".into(), "x-amz-date".into()],
            allow_security_token: false,
        };
        AppState {
            service,
            settings,
            max_body,
            verify,
        }
    }

    /// The Strongroom key reference an externalKeyId names, if XKS may use it.
    fn key_ref(&self, external: &str) -> Option<String> {
        self.settings
            .keys
            .iter()
            .find(|k| k.as_str() == external || k.strip_prefix("alias/") == Some(external))
            .cloned()
    }
}

/// The XKS routes under the configured prefix (any method: non-POST
/// answers 405 here, unknown paths `InvalidUriPathException`).
pub fn router(state: Arc<AppState>) -> axum::Router {
    let base = format!("{}/kms/xks/v1", state.settings.path_prefix);
    axum::Router::new()
        .route(&format!("{base}/{{*rest}}"), axum::routing::any(handle))
        .with_state(state)
}

/// What a request asks for.
enum Op {
    Health,
    Metadata(String),
    Encrypt(String),
    Decrypt(String),
}

fn parse_path(st: &AppState, path: &str) -> Result<Op, XksError> {
    if path.len() > 256 {
        return Err(XksError::uri(format!(
            "the URI path is {} characters; XKS URIs are at most 256",
            path.len()
        )));
    }
    let base = format!("{}/kms/xks/v1/", st.settings.path_prefix);
    let rest = path
        .strip_prefix(&base)
        .ok_or_else(|| XksError::uri(format!("{path} is not under {base}")))?;
    if rest == "health" {
        return Ok(Op::Health);
    }
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["keys", id, op] => {
            validate_external_key_id(id)?;
            let id = id.to_string();
            match *op {
                "metadata" => Ok(Op::Metadata(id)),
                "encrypt" => Ok(Op::Encrypt(id)),
                "decrypt" => Ok(Op::Decrypt(id)),
                other => Err(XksError::uri(format!(
                    "unknown operation {other:?}; use metadata, encrypt or decrypt"
                ))),
            }
        }
        _ => Err(XksError::uri(format!(
            "{path} is not an XKS API path; use {base}health or {base}keys/<externalKeyId>/<metadata|encrypt|decrypt>"
        ))),
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Verifies the SigV4 signature (service `kms-xks-proxy`) against the
/// identity registry's access keys; returns the caller's principal.
fn authenticate(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Principal, XksError> {
    let services = st.service.seal.services().map_err(XksError::from)?;
    let hdrs = sigv4::header_pairs(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
    let wire = sigv4::WireRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &hdrs,
        body,
    };
    let dev = st.settings.dev_credentials.as_ref();
    let lookup = |akid: &str| -> Option<(Vec<u8>, Principal)> {
        if let Some((id, secret)) = dev {
            if id == akid {
                return Some((secret.expose().to_vec(), Principal::root()));
            }
        }
        let (secret, principal) = services.registry.access_key(akid).ok().flatten()?;
        Some((secret.expose().to_vec(), principal))
    };
    sigv4::verify_owner(&wire, &st.verify, now_unix(), &lookup)
        .map_err(|e| XksError::new("AuthenticationFailedException", 401, e.to_string()))
}

/// Every XKS request.
pub async fn handle(State(st): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST {
        let mut r = XksError::new(
            "ValidationException",
            405,
            format!(
                "{} is not allowed: every XKS proxy API is POST",
                parts.method
            ),
        )
        .into_response();
        r.headers_mut().insert(
            axum::http::header::ALLOW,
            axum::http::HeaderValue::from_static("POST"),
        );
        return r;
    }
    let body = match axum::body::to_bytes(body, st.max_body).await {
        Ok(b) => b,
        Err(_) => return XksError::validation("request body too large").into_response(),
    };
    let source = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "unknown".into());
    match handle_inner(
        &st,
        source,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
    )
    .await
    {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle_inner(
    st: &AppState,
    source: String,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, XksError> {
    let op = parse_path(st, uri.path())?;
    let op_name = match &op {
        Op::Health => "health",
        Op::Metadata(_) => "metadata",
        Op::Encrypt(_) => "encrypt",
        Op::Decrypt(_) => "decrypt",
    };
    let request_id = st.service.request_id();
    let principal = match authenticate(st, method, uri, headers, body) {
        Ok(p) => p,
        Err(e) => {
            if let Ok(services) = st.service.seal.services() {
                st.service
                    .audit_auth_failure(
                        &services,
                        &request_id,
                        &source,
                        &format!("xks:{op_name}"),
                        e.name,
                    )
                    .await
                    .map_err(XksError::from)?;
            }
            return Err(e);
        }
    };
    let caller = Caller {
        principal,
        source,
        request_id,
        certificate: None,
    };
    match op {
        Op::Health => {
            let req: wire::HealthRequest = wire::parse(body)?;
            req.request_metadata.check(false)?;
            Ok(wire::health(st.service.seal.services().is_ok()))
        }
        Op::Metadata(id) => {
            let req: wire::MetadataRequest = wire::parse(body)?;
            req.request_metadata.check(true)?;
            let key = key_ref(st, &id)?;
            let detail = req.request_metadata.audit_detail("GetKeyMetadata");
            let g = Guarded {
                action: "kms:DescribeKey",
                key: Some(&key),
                context: None,
                kind: Kind::Use,
                command: None,
            };
            let fut = st.service.run_on_key(&caller, g, |_s, h| {
                let m = h.meta();
                Ok(Done::new(wire::metadata(m)).key(m.id.clone(), Some(m.primary_version)))
            });
            AUDIT_DETAIL
                .scope(detail, fut)
                .await
                .map_err(XksError::from)
        }
        Op::Encrypt(id) => {
            let req: wire::EncryptRequest = wire::parse(body)?;
            req.request_metadata.check(true)?;
            if req.encryption_algorithm != "AES_GCM" {
                return Err(XksError::new(
                    "UnsupportedOperationException",
                    501,
                    format!(
                        "encryptionAlgorithm {:?} is not supported; use AES_GCM",
                        req.encryption_algorithm
                    ),
                ));
            }
            let cdiv = match req.ciphertext_data_integrity_value_algorithm.as_deref() {
                None => false,
                Some("SHA_256") => true,
                Some(other) => {
                    return Err(XksError::new(
                        "UnsupportedOperationException",
                        501,
                        format!(
                            "ciphertextDataIntegrityValueAlgorithm {other:?} is not supported; use SHA_256"
                        ),
                    ))
                }
            };
            let plaintext = SecretBytes::new(wire::b64("plaintext", &req.plaintext)?);
            let aad = wire::opt_b64(
                "additionalAuthenticatedData",
                req.additional_authenticated_data.as_deref(),
            )?;
            wire::check_aad(&aad)?;
            let key = key_ref(st, &id)?;
            let detail = req.request_metadata.audit_detail("Encrypt");
            let g = Guarded {
                action: "kms:Encrypt",
                key: Some(&key),
                context: None,
                kind: Kind::Use,
                command: None,
            };
            let fut = st.service.run_on_key(&caller, g, move |s, h| {
                let version = h.meta().primary_version;
                let md = metadata_bytes(version);
                let ctx = aad_context(&aad, &md);
                let out = s.engine.encrypt_resolved(h, plaintext.expose(), &ctx)?;
                if out.version != version || out.ciphertext.len() < HEADER_LEN + NONCE_LEN + TAG_LEN
                {
                    return Err(Error::Internal(
                        "the key's version changed during the encryption".into(),
                    ));
                }
                let body = &out.ciphertext[HEADER_LEN..];
                let (iv, rest) = body.split_at(NONCE_LEN);
                let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
                let v = wire::encrypt_response(&aad, &md, iv, ct, tag, cdiv);
                Ok(Done::new(v).key(out.key_id, Some(out.version)))
            });
            AUDIT_DETAIL
                .scope(detail, fut)
                .await
                .map_err(XksError::from)
        }
        Op::Decrypt(id) => {
            let req: wire::DecryptRequest = wire::parse(body)?;
            req.request_metadata.check(true)?;
            if req.encryption_algorithm != "AES_GCM" {
                return Err(XksError::new(
                    "UnsupportedOperationException",
                    501,
                    format!(
                        "encryptionAlgorithm {:?} is not supported; use AES_GCM",
                        req.encryption_algorithm
                    ),
                ));
            }
            let ct = wire::b64("ciphertext", &req.ciphertext)?;
            let iv = wire::b64("initializationVector", &req.initialization_vector)?;
            let tag = wire::b64("authenticationTag", &req.authentication_tag)?;
            let aad = wire::opt_b64(
                "additionalAuthenticatedData",
                req.additional_authenticated_data.as_deref(),
            )?;
            wire::check_aad(&aad)?;
            let md = wire::opt_b64("ciphertextMetadata", req.ciphertext_metadata.as_deref())?;
            if md.len() > 20 {
                return Err(XksError::validation(format!(
                    "ciphertextMetadata is {} bytes; at most 20",
                    md.len()
                )));
            }
            if iv.len() != 12 && iv.len() != 16 {
                return Err(XksError::validation(format!(
                    "initializationVector is {} bytes; it must be 12 or 16",
                    iv.len()
                )));
            }
            if tag.len() != TAG_LEN {
                return Err(XksError::validation(format!(
                    "authenticationTag is {} bytes; it must be 16",
                    tag.len()
                )));
            }
            let key = key_ref(st, &id)?;
            let detail = req.request_metadata.audit_detail("Decrypt");
            let g = Guarded {
                action: "kms:Decrypt",
                key: Some(&key),
                context: None,
                kind: Kind::Use,
                command: None,
            };
            let fut = st.service.run_on_key(&caller, g, move |s, h| {
                // Only what this proxy made decrypts: its metadata format,
                // a 12-byte IV; anything else is the one generic error.
                if md.len() != METADATA_LEN || md[0] != METADATA_FORMAT_V1 || iv.len() != NONCE_LEN {
                    return Err(Error::InvalidCiphertext);
                }
                let version = u32::from_be_bytes([md[1], md[2], md[3], md[4]]);
                let uuid = uuid::Uuid::parse_str(&h.meta().id)
                    .map_err(|_| Error::Internal("key id is not a UUID".into()))?;
                let header = Header {
                    algorithm: Algorithm::Aes256Gcm,
                    key_id: uuid,
                    version,
                }
                .encode();
                let mut full = Vec::with_capacity(HEADER_LEN + iv.len() + ct.len() + TAG_LEN);
                full.extend_from_slice(&header);
                full.extend_from_slice(&iv);
                full.extend_from_slice(&ct);
                full.extend_from_slice(&tag);
                let ctx = aad_context(&aad, &md);
                let out = s.engine.decrypt(&full, &ctx, Some(&h.meta().id))?;
                let v = serde_json::json!({
                    "plaintext": base64::engine::general_purpose::STANDARD.encode(out.plaintext.expose()),
                });
                Ok(Done::new(v).key(out.key_id, Some(out.version)))
            });
            AUDIT_DETAIL
                .scope(detail, fut)
                .await
                .map_err(XksError::from)
        }
    }
}

fn key_ref(st: &AppState, external: &str) -> Result<String, XksError> {
    st.key_ref(external).ok_or_else(|| {
        XksError::new(
            "KeyNotFoundException",
            404,
            format!(
                "external key {external:?} is not one of the keys this XKS proxy serves (xks_keys)"
            ),
        )
    })
}

/// `ciphertextMetadata` for a key version.
pub fn metadata_bytes(version: u32) -> [u8; METADATA_LEN] {
    let v = version.to_be_bytes();
    [METADATA_FORMAT_V1, v[0], v[1], v[2], v[3]]
}

/// The spec's AAD input, `u16 len(aad) || aad || u8 len(md) || md`, as the
/// one encryption context entry (the engine adds its own header, which also
/// names the key version).
pub fn aad_context(aad: &[u8], md: &[u8]) -> EncryptionContext {
    let mut input = Vec::with_capacity(3 + aad.len() + md.len());
    input.extend_from_slice(&(aad.len() as u16).to_be_bytes());
    input.extend_from_slice(aad);
    input.push(md.len() as u8);
    input.extend_from_slice(md);
    let mut ctx = EncryptionContext::new();
    ctx.insert(
        AAD_CONTEXT_KEY.into(),
        base64::engine::general_purpose::STANDARD.encode(input),
    );
    ctx
}

#[cfg(test)]
mod tests;
