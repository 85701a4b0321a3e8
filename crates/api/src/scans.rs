//! Scan reports (`docs/SCAN.md`, "Reporting to the server"):
//! `POST /v1/scans` files what `strongroom scan --report` found (counts and
//! fingerprints, never values), `GET /v1/scans` lists the latest report of
//! every repository, `GET /v1/scans/{repository}` shows one with its findings.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::caller::Authed;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, PathName};
use super::AppState;
use strongroom_service::scans::{ScanReport, StoredScan};

pub async fn report(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<ScanReport>,
) -> ApiResult<Json<Value>> {
    Ok(Json(st.service.report_scan(&c, r).await.map_err(ApiError)?))
}

pub async fn list(State(st): State<Arc<AppState>>, Authed(c): Authed) -> ApiResult<Json<Value>> {
    let scans = st.service.list_scans(&c).await.map_err(ApiError)?;
    Ok(Json(json!({ "scans": scans })))
}

pub async fn show(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    PathName(repository): PathName,
) -> ApiResult<Json<StoredScan>> {
    Ok(Json(
        st.service
            .scan_of(&c, &repository)
            .await
            .map_err(ApiError)?,
    ))
}
