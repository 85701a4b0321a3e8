//! The Vault/OpenBao-compatible front-end: the HTTP API that hvac, the
//! `vault`/`bao` CLI and the other Vault clients speak, on the same service
//! layer as the native and AWS front-ends. Transit mounts (`transit/` by
//! default), KV version 2 mounts on the secrets engine (`secret/` by
//! default) and the system paths those clients call.
//!
//! Which requests are Vault's (docs/VAULT.md, "Paths beside the native
//! API"): every `/v1/...` request that carries `X-Vault-Request` (hvac and
//! the Go client send it on every request), and, without that header, only
//! the paths the native API does not have: `/v1/<mount>/...` for a
//! configured mount, `/v1/auth/token/...`, `/v1/sys/mounts...` and
//! `/v1/sys/internal/ui/mounts...`. See [`claims`].

pub mod error;
pub mod kv;
pub mod sys;
pub mod transit;
pub mod wire;

use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use error::VaultError;
use strongroom_core::error::Error;
use strongroom_service::gate::Caller;
use wire::{Op, VaultRequest};

/// What a mount serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Transit,
    /// KV version 2 on the secrets engine.
    KvV2,
}

impl MountKind {
    pub fn type_name(self) -> &'static str {
        match self {
            MountKind::Transit => "transit",
            MountKind::KvV2 => "kv",
        }
    }
}

/// One mount: `/v1/<path>/...`.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Without slashes, e.g. `transit`.
    pub path: String,
    pub kind: MountKind,
}

/// The Vault front-end's settings.
#[derive(Debug, Clone)]
pub struct VaultSettings {
    pub mounts: Vec<Mount>,
}

impl Default for VaultSettings {
    fn default() -> Self {
        VaultSettings {
            mounts: vec![
                Mount {
                    path: "transit".into(),
                    kind: MountKind::Transit,
                },
                Mount {
                    path: "secret".into(),
                    kind: MountKind::KvV2,
                },
            ],
        }
    }
}

/// First path segments under `/v1/` that a mount may not take: the native
/// API's own (and Vault's system ones), so a path never means two things.
pub const RESERVED_MOUNT_NAMES: &[&str] = &[
    "sys",
    "auth",
    "identity",
    "cubbyhole",
    "openapi.json",
    "keys",
    "rotate",
    "rotation-policy",
    "enable",
    "disable",
    "enable-version",
    "disable-version",
    "min-decryption-version",
    "schedule-deletion",
    "cancel-deletion",
    "aliases",
    "encrypt",
    "decrypt",
    "reencrypt",
    "generate-data-key",
    "random",
    "sign",
    "verify",
    "mac",
    "verify-mac",
    "public-key",
    "encapsulate",
    "decapsulate",
    "batch",
    "identities",
    "tokens",
    "access-keys",
    "policies",
    "policy",
    "approvals",
    "audit",
    "compromise",
    "inventory",
    "reports",
    "backup",
    "secrets",
    "scans",
];

impl VaultSettings {
    /// Refuses mount names that are malformed, repeated or reserved.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.mounts {
            if m.path.is_empty()
                || m.path.len() > 64
                || !m
                    .path
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "vault mount {:?}: use 1-64 characters from A-Z a-z 0-9 - _ (no slashes)",
                    m.path
                ));
            }
            if RESERVED_MOUNT_NAMES.contains(&m.path.as_str()) {
                return Err(format!(
                    "vault mount {:?} would shadow a native /v1/{} path; choose another name",
                    m.path, m.path
                ));
            }
            if !seen.insert(m.path.clone()) {
                return Err(format!("vault mount {:?} is listed twice", m.path));
            }
        }
        Ok(())
    }

    pub fn mount(&self, name: &str) -> Option<&Mount> {
        self.mounts.iter().find(|m| m.path == name)
    }
}

/// The Vault front-end's state.
pub struct AppState {
    pub service: Arc<strongroom_service::Service>,
    pub settings: VaultSettings,
    /// The request body limit (`max_request_bytes`).
    pub max_body: usize,
}

impl std::ops::Deref for AppState {
    type Target = strongroom_service::Service;
    fn deref(&self) -> &Self::Target {
        &self.service
    }
}

/// Whether a request is the Vault front-end's (the rule in docs/VAULT.md).
pub fn claims(settings: &VaultSettings, path: &str, headers: &HeaderMap) -> bool {
    let Some(rest) = path.strip_prefix("/v1/") else {
        return false;
    };
    if headers.contains_key("x-vault-request") {
        return true;
    }
    let first = rest.split('/').next().unwrap_or("");
    settings.mount(first).is_some()
        || rest.starts_with("auth/token/")
        || rest == "sys/mounts"
        || rest.starts_with("sys/mounts/")
        || rest.starts_with("sys/internal/ui/mounts")
}

/// The Vault front-end's router: one route for every `/v1/...` path it
/// claims (the server sends only claimed requests here). The server adds
/// the shared HTTP layers.
pub fn router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/v1/{*path}", axum::routing::any(handle))
        .with_state(state)
}

fn source_of(connect: Option<&ConnectInfo<std::net::SocketAddr>>) -> String {
    connect
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The token of a request: `X-Vault-Token`, or `Authorization: Bearer`.
/// Two different credentials are refused (which one was meant?).
fn token_of(headers: &HeaderMap) -> Result<Option<String>, VaultError> {
    let vault: Vec<&str> = headers
        .get_all("x-vault-token")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let bearer: Vec<&str> = headers
        .get_all(axum::http::header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
        })
        .collect();
    let all: Vec<&str> = vault
        .iter()
        .chain(bearer.iter())
        .map(|s| s.trim())
        .collect();
    match all.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.to_string())),
        [first, rest @ ..] if rest.iter().all(|t| t == first) => Ok(Some(first.to_string())),
        _ => Err(VaultError::bad_request(
            "more than one different token in the request (X-Vault-Token and Authorization: Bearer); send exactly one",
        )),
    }
}

/// Authenticates the request's token, or without one its verified client
/// certificate, through the service (failures are audited and
/// rate-limited there).
pub async fn authenticate(st: &AppState, req: &VaultRequest) -> Result<Caller, VaultError> {
    let token = token_of(&req.headers)?;
    let op = format!("vault:{} {}", req.method, req.path_for_audit());
    st.authenticate_request(
        token.as_deref().map(str::as_bytes),
        req.cert.as_ref(),
        req.source.clone(),
        move || op,
    )
    .await
    .map_err(VaultError::from)
}

/// Every Vault request.
pub async fn handle(State(st): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, st.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return VaultError::from(Error::PayloadTooLarge { limit: st.max_body }).into_response()
        }
    };
    let source = source_of(parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>());
    let cert = parts
        .extensions
        .get::<strongroom_service::gate::ClientCert>()
        .cloned();
    let mut req = match VaultRequest::parse(&parts.method, &parts.uri, parts.headers, &body, source)
    {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    req.cert = cert;
    match dispatch(&st, &req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(st: &AppState, req: &VaultRequest) -> Result<Response, VaultError> {
    let segs: Vec<&str> = req.segments();
    match segs.as_slice() {
        ["sys", rest @ ..] => sys::dispatch(st, req, rest).await,
        ["auth", "token", rest @ ..] => sys::token(st, req, rest).await,
        [mount, rest @ ..] => match st.settings.mount(mount) {
            Some(m) => match m.kind {
                MountKind::Transit => transit::dispatch(st, req, &m.path, rest).await,
                MountKind::KvV2 => kv::dispatch(st, req, &m.path, rest).await,
            },
            None => Err(VaultError::unsupported_path(&req.path)),
        },
        [] => Err(VaultError::unsupported_path(&req.path)),
    }
}

/// The method a handler accepts, or Vault's 405.
pub fn expect(req: &VaultRequest, ops: &[Op]) -> Result<(), VaultError> {
    if ops.contains(&req.op) {
        Ok(())
    } else {
        Err(VaultError::unsupported_operation())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(vault: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if vault {
            h.insert(
                "x-vault-request",
                axum::http::HeaderValue::from_static("true"),
            );
        }
        h
    }

    #[test]
    fn the_header_decides_the_shared_system_paths() {
        let s = VaultSettings::default();
        for p in [
            "/v1/sys/health",
            "/v1/sys/seal-status",
            "/v1/sys/unseal",
            "/v1/keys",
        ] {
            assert!(
                !claims(&s, p, &headers(false)),
                "{p} taken without the header"
            );
            assert!(
                claims(&s, p, &headers(true)),
                "{p} not taken with the header"
            );
        }
    }

    #[test]
    fn vault_only_paths_need_no_header() {
        let s = VaultSettings::default();
        for p in [
            "/v1/transit/encrypt/k",
            "/v1/transit/keys",
            "/v1/secret/data/app/db",
            "/v1/secret/metadata",
            "/v1/auth/token/lookup-self",
            "/v1/sys/mounts",
            "/v1/sys/mounts/transit",
            "/v1/sys/internal/ui/mounts/transit",
        ] {
            assert!(claims(&s, p, &headers(false)), "{p}");
        }
        for p in [
            "/v1/encrypt",
            "/v1/secrets/data/app/db",
            "/v1/transitx/encrypt/k",
            "/",
            "/metrics",
            "/v1/sys/mountsx",
        ] {
            assert!(!claims(&s, p, &headers(false)), "{p}");
        }
        // Outside /v1 nothing is Vault's, header or not (the AWS front-end is `POST /`).
        assert!(!claims(&s, "/", &headers(true)));
    }

    #[test]
    fn mount_names_that_would_shadow_native_paths_are_refused() {
        let bad = |p: &str| VaultSettings {
            mounts: vec![Mount {
                path: p.into(),
                kind: MountKind::Transit,
            }],
        };
        for p in [
            "keys", "encrypt", "sys", "auth", "secrets", "scans", "", "a/b", "x y",
        ] {
            assert!(bad(p).validate().is_err(), "{p:?} accepted");
        }
        assert!(bad("payments").validate().is_ok());
        let twice = VaultSettings {
            mounts: vec![
                Mount {
                    path: "t".into(),
                    kind: MountKind::Transit,
                },
                Mount {
                    path: "t".into(),
                    kind: MountKind::Transit,
                },
            ],
        };
        assert!(twice.validate().is_err());
    }
}
