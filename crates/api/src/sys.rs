//! System endpoints: health, seal status, init, unseal, seal.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::caller::Authed;
use super::error::ApiResult;
use super::extract::ApiJson;
use super::guard::{Done, Guarded, Kind};
use super::AppState;
use strongroom_core::error::Error;
use strongroom_service::node::SealStatus;

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
    // Low space on the audit disk is a warning, not a failure: the node
    // still serves, and operators see it well before the disk is full.
    let disk = st.seal.audit_disk();
    let warnings: Vec<String> = disk.and_then(|d| d.warning()).into_iter().collect();
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
            "audit_disk_free_bytes": disk.map(|d| d.free_bytes),
            "audit_low_space": disk.is_some_and(|d| d.low()),
            "warnings": warnings,
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

pub async fn seal(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<SealStatus>> {
    let g = Guarded {
        action: "strongroom:Seal",
        key: None,
        context: None,
        kind: Kind::Use,
        command: None,
    };
    st.run(&c, g, |_| Ok(Done::new(()))).await?;
    st.seal.seal()?;
    tracing::warn!(principal = %c.principal.id, "sealed by request");
    Ok(Json(st.seal.status()?))
}

// ---- Rekey, generate-root, revoke-root (docs/OPERATIONS.md) ----

/// One rekey or generate-root at a time on this node, so two cannot both
/// check against the same old shares and the last one silently win.
static OPERATOR_CHANGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Who and where for an audit record of a share-authorized operation.
/// The shares are the authority (as for unseal), so no token is needed.
fn quorum_event(
    st: &AppState,
    ext: &axum::http::Extensions,
    operation: &str,
    outcome: &str,
    code: Option<&str>,
    detail: Option<String>,
) -> strongroom_audit::AuditEvent {
    strongroom_audit::AuditEvent {
        time_ms: st.now_ms(),
        request_id: st.request_id(),
        identity: "unseal-share-quorum".into(),
        source: ext
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.to_string())
            .unwrap_or_else(|| "unknown".into()),
        operation: operation.into(),
        key_id: None,
        key_version: None,
        outcome: outcome.into(),
        error_code: code.map(str::to_string),
        // generate-root mints the break-glass credential: flag it like its use.
        root: operation == "strongroom:GenerateRoot",
        detail,
    }
}

/// Runs a share-authorized change: `prepare` checks everything (a refusal
/// is audited as "error" and changes nothing), the intent is audited as
/// "pending", then `commit` stores it and its outcome is audited. A
/// change whose audit record cannot be written is not made.
async fn quorum_change<P, T>(
    st: &AppState,
    ext: &axum::http::Extensions,
    operation: &'static str,
    detail: Option<String>,
    prepare: impl FnOnce() -> strongroom_core::error::Result<P> + Send + 'static,
    commit: impl FnOnce(P) -> strongroom_core::error::Result<T> + Send + 'static,
) -> ApiResult<T>
where
    P: Send + 'static,
    T: Send + 'static,
{
    let _one = OPERATOR_CHANGE.lock().await;
    let services = st.seal.services()?;
    let prepared = tokio::task::spawn_blocking(prepare)
        .await
        .map_err(|e| Error::Internal(format!("{operation} task: {e}")))?;
    let plan = match prepared {
        Ok(p) => p,
        Err(e) => {
            st.audit(
                &services,
                quorum_event(st, ext, operation, "error", Some(e.code()), detail),
            )
            .await?;
            return Err(e.into());
        }
    };
    st.audit(
        &services,
        quorum_event(st, ext, operation, "pending", None, detail.clone()),
    )
    .await?;
    let done = tokio::task::spawn_blocking(move || commit(plan))
        .await
        .map_err(|e| Error::Internal(format!("{operation} task: {e}")))?;
    let (outcome, code) = match &done {
        Ok(_) => ("allowed", None),
        Err(e) => ("error", Some(e.code())),
    };
    st.audit(
        &services,
        quorum_event(st, ext, operation, outcome, code, detail),
    )
    .await?;
    Ok(done?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RekeyRequest {
    /// A quorum (the current threshold) of the current unseal shares.
    shares: Vec<String>,
    /// How many new shares to make.
    new_shares: u8,
    /// How many of the new shares unseal.
    new_threshold: u8,
}

impl Drop for RekeyRequest {
    fn drop(&mut self) {
        for s in &mut self.shares {
            zeroize::Zeroize::zeroize(s);
        }
    }
}

/// `POST /v1/sys/rekey`: new unseal shares (and threshold) from a quorum of
/// the current ones; the current ones stop working. Needs an unsealed server.
pub async fn rekey(
    State(st): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    ApiJson(req): ApiJson<RekeyRequest>,
) -> ApiResult<impl IntoResponse> {
    let (n, k) = (req.new_shares, req.new_threshold);
    let (seal, seal2) = (st.seal.clone(), st.seal.clone());
    let shares = quorum_change(
        &st,
        &ext,
        "strongroom:Rekey",
        Some(format!("new shares={n} threshold={k}")),
        move || seal.rekey_prepare(&req.shares, n, k),
        move |plan| seal2.rekey_commit(plan),
    )
    .await?;
    let shares: Vec<String> = shares
        .iter()
        .map(|s| String::from_utf8_lossy(s.expose()).into_owned())
        .collect();
    Ok(Json(json!({ "shares": shares, "threshold": k })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRootRequest {
    /// A quorum (the current threshold) of the current unseal shares.
    shares: Vec<String>,
}

impl Drop for GenerateRootRequest {
    fn drop(&mut self) {
        for s in &mut self.shares {
            zeroize::Zeroize::zeroize(s);
        }
    }
}

/// `POST /v1/sys/generate-root`: a new root token from a quorum of unseal
/// shares; it replaces the current one (if not revoked). Returned once.
pub async fn generate_root(
    State(st): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    ApiJson(req): ApiJson<GenerateRootRequest>,
) -> ApiResult<impl IntoResponse> {
    let (seal, seal2) = (st.seal.clone(), st.seal.clone());
    let token = quorum_change(
        &st,
        &ext,
        "strongroom:GenerateRoot",
        None,
        move || seal.generate_root_prepare(&req.shares),
        move |new| seal2.generate_root_commit(new),
    )
    .await?;
    Ok(Json(json!({
        "root_token": String::from_utf8_lossy(token.expose()),
    })))
}

/// `POST /v1/sys/revoke-root`: only the root token itself may call it; it
/// stops working at once. Audited.
pub async fn revoke_root(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<impl IntoResponse> {
    let services = st.seal.services()?;
    let ev = |outcome: &str, code: Option<&str>| strongroom_audit::AuditEvent {
        time_ms: st.now_ms(),
        request_id: c.request_id.clone(),
        identity: c.principal.id.clone(),
        source: c.source.clone(),
        operation: "strongroom:RevokeRoot".into(),
        key_id: None,
        key_version: None,
        outcome: outcome.into(),
        error_code: code.map(str::to_string),
        root: c.principal.is_root(),
        detail: None,
    };
    if !c.principal.is_root() {
        st.audit(&services, ev("denied", Some("AccessDenied")))
            .await?;
        return Err(Error::AccessDenied(
            "only the root token can revoke itself: call this with STRONGROOM_TOKEN set to the root token".into(),
        )
        .into());
    }
    st.audit(&services, ev("pending", None)).await?;
    let seal = st.seal.clone();
    let done = tokio::task::spawn_blocking(move || seal.revoke_root())
        .await
        .map_err(|e| Error::Internal(format!("revoke-root task: {e}")))?;
    let (outcome, code) = match &done {
        Ok(()) => ("allowed", None),
        Err(e) => ("error", Some(e.code())),
    };
    st.audit(&services, ev(outcome, code)).await?;
    done?;
    tracing::warn!(principal = %c.principal.id, "root token revoked by request");
    Ok(Json(json!({ "revoked": true })))
}
