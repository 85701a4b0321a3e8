//! System endpoints: health, seal status, init, unseal, seal.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiResult;
use super::extract::ApiJson;
use super::guard::{Caller, Done, Guarded, Kind};
use super::AppState;
use crate::error::Error;
use crate::seal::SealStatus;

pub async fn health(State(st): State<Arc<AppState>>) -> ApiResult<impl IntoResponse> {
    let s = st.seal.status()?;
    // A server whose audit sink cannot take records refuses everything: not
    // healthy, and the reason is given (a load balancer stops routing to it).
    // After a failed write, health retries the sink (a signed checkpoint, at
    // most once a second) so it turns healthy again when the disk has room.
    let audit = st.seal.services().ok().and_then(|svc| svc.audit.clone());
    let audit_problem = match audit {
        Some(a) => a.probe(std::time::Duration::from_secs(1)).await,
        None => None,
    };
    let code = if s.initialized && !s.sealed && audit_problem.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        code,
        Json(json!({
            "initialized": s.initialized,
            "sealed": s.sealed,
            "version": env!("CARGO_PKG_VERSION"),
            "dev_mode": st.dev_mode,
            "audit_failed": audit_problem.is_some(),
            "audit_problem": audit_problem,
        })),
    ))
}

pub async fn seal_status(State(st): State<Arc<AppState>>) -> ApiResult<Json<SealStatus>> {
    Ok(Json(st.seal.status()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    /// Shamir only (default 5); refused on a PKCS#11 seal.
    #[serde(default)]
    shares: Option<u8>,
    /// Shamir only (default 3); refused on a PKCS#11 seal.
    #[serde(default)]
    threshold: Option<u8>,
}

pub async fn init(
    State(st): State<Arc<AppState>>,
    ApiJson(req): ApiJson<InitRequest>,
) -> ApiResult<impl IntoResponse> {
    let seal = st.seal.clone();
    let out = tokio::task::spawn_blocking(move || seal.init_request(req.shares, req.threshold))
        .await
        .map_err(|e| Error::Internal(format!("init task: {e}")))??;
    let shares: Vec<String> = out
        .shares
        .iter()
        .map(|s| String::from_utf8_lossy(s.expose()).into_owned())
        .collect();
    let status = st.seal.status()?;
    tracing::info!(
        shares = status.shares,
        threshold = status.threshold,
        seal_type = %status.seal_type,
        "initialized; shares and root token returned once"
    );
    Ok(Json(json!({
        "shares": shares,
        "threshold": status.threshold,
        "root_token": String::from_utf8_lossy(out.root_token.expose()),
        "seal_type": status.seal_type,
        "sealed": status.sealed,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsealRequest {
    #[serde(default)]
    share: String,
    /// PKCS#11 seal: ask the HSM again (after fixing what `status` reported).
    #[serde(default)]
    hsm: bool,
}

impl Drop for UnsealRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.share);
    }
}

pub async fn unseal(
    State(st): State<Arc<AppState>>,
    ApiJson(req): ApiJson<UnsealRequest>,
) -> ApiResult<Json<SealStatus>> {
    let seal = st.seal.clone();
    let status = tokio::task::spawn_blocking(move || {
        if req.hsm {
            seal.retry_hsm()
        } else {
            seal.unseal(&req.share)
        }
    })
    .await
    .map_err(|e| Error::Internal(format!("unseal task: {e}")))??;
    Ok(Json(status))
}

pub async fn seal(State(st): State<Arc<AppState>>, c: Caller) -> ApiResult<Json<SealStatus>> {
    let g = Guarded {
        action: "strongroom:Seal",
        key: None,
        context: None,
        kind: Kind::Use,
        replay: None,
    };
    st.run(&c, g, |_| Ok(Done::new(()))).await?;
    st.seal.seal()?;
    tracing::warn!(principal = %c.principal.id, "sealed by request");
    Ok(Json(st.seal.status()?))
}
