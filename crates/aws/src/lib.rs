//! The AWS KMS JSON 1.1 front-end at `POST /`: `X-Amz-Target:
//! TrentService.<Operation>`, SigV4-signed with an access key from the
//! identity registry (or the dev credentials), then the same guard as the
//! native API: same policies (AWS action names), same audit log.

pub mod error;
pub mod kem;
pub mod more;
pub mod ops;

/// The AWS front-end's state: the service, and how SigV4 is checked here.
pub struct AppState {
    pub service: Arc<strongroom_service::Service>,
    pub aws: AwsSettings,
    /// The request body limit (`max_request_bytes`).
    pub max_body: usize,
    /// What a signature must satisfy here, built once from `aws`.
    verify: sigv4::VerifyConfig,
}

impl AppState {
    pub fn new(
        service: Arc<strongroom_service::Service>,
        aws: AwsSettings,
        max_body: usize,
    ) -> AppState {
        let verify = sigv4::VerifyConfig {
            service: "kms".into(),
            region: aws.region.clone(),
            max_skew_secs: aws.max_skew_secs,
            required_signed_headers: vec![
                "host".into(),
                "x-amz-date".into(),
                "x-amz-target".into(),
            ],
            allow_security_token: false,
        };
        AppState {
            service,
            aws,
            max_body,
            verify,
        }
    }
}

/// Operations reach the service's fields and the gate (`st.run`) directly.
impl std::ops::Deref for AppState {
    type Target = strongroom_service::Service;
    fn deref(&self) -> &Self::Target {
        &self.service
    }
}

/// The AWS front-end's one route, `POST /`. The server adds the shared HTTP
/// layers.
pub fn router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::post(handle))
        .with_state(state)
}

use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};

use strongroom_service::gate::Caller;

use error::AwsError;
use strongroom_core::crypto::SecretBytes;
use strongroom_engine::auth::Principal;
use strongroom_sigv4 as sigv4;

/// AWS front-end settings.
#[derive(Clone)]
pub struct AwsSettings {
    /// `None` accepts any region in the credential scope.
    pub region: Option<String>,
    pub max_skew_secs: i64,
    /// Dev mode's `--dev-aws-credentials AKID:SECRET` (acts as root).
    pub dev_credentials: Option<(String, Arc<SecretBytes>)>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region: None,
            max_skew_secs: 300,
            dev_credentials: None,
        }
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Verifies the SigV4 signature and returns the caller's principal.
fn authenticate(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Principal, AwsError> {
    let services = st.seal.services()?;
    let hdrs = sigv4::header_pairs(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
    let wire = sigv4::WireRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &hdrs,
        body,
    };
    let dev = st.aws.dev_credentials.as_ref();
    // The registry is asked once: the principal comes back with the secret.
    let lookup = |akid: &str| -> Option<(Vec<u8>, Principal)> {
        if let Some((id, secret)) = dev {
            if id == akid {
                return Some((secret.expose().to_vec(), Principal::root()));
            }
        }
        let (secret, principal) = services.registry.access_key(akid).ok().flatten()?;
        Some((secret.expose().to_vec(), principal))
    };
    sigv4::verify_owner(&wire, &st.verify, now_unix(), &lookup).map_err(|e| {
        AwsError::new(
            e.aws_error_type(),
            if matches!(e, sigv4::SigV4Error::MissingAuthorization) {
                403
            } else {
                400
            },
            e.to_string(),
        )
    })
}

/// `POST /`: one AWS KMS operation.
pub async fn handle(State(st): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    // The outer middleware has already read (and size-checked) the body.
    let body = match axum::body::to_bytes(body, st.max_body).await {
        Ok(b) => b,
        Err(_) => return AwsError::validation("request body too large").into_response(),
    };
    let connect = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .cloned();
    match handle_inner(
        &st,
        connect,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
    )
    .await
    {
        Ok(v) => {
            let mut resp = v.to_string().into_response();
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn handle_inner(
    st: &AppState,
    connect: Option<ConnectInfo<std::net::SocketAddr>>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, AwsError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                400,
                "missing X-Amz-Target header (TrentService.<Operation>)",
            )
        })?;
    let op = target
        .strip_prefix("TrentService.")
        .ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                400,
                format!("unknown target {target:?}; expected TrentService.<Operation>"),
            )
        })?
        .to_string();
    let source = connect
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "unknown".into());
    let request_id = st.request_id();
    let principal = match authenticate(st, method, uri, headers, body) {
        Ok(p) => p,
        Err(e) => {
            // Failed authentication is audited too.
            if let Ok(services) = st.seal.services() {
                st.audit_auth_failure(
                    &services,
                    &request_id,
                    &source,
                    &format!("aws:{op}"),
                    e.type_name,
                )
                .await
                .map_err(AwsError::from)?;
            }
            return Err(e);
        }
    };
    let req: ops::Req = if body.is_empty() {
        ops::Req::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            AwsError::new(
                "SerializationException",
                400,
                format!("request body is not valid JSON for {op}: {e}"),
            )
        })?
    };
    let caller = Caller {
        principal,
        source,
        request_id,
        certificate: None,
    };
    ops::dispatch(st, &st.arn, &caller, &op, req).await
}
