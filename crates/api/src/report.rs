//! `GET /v1/reports/compliance`: the signed compliance report built from
//! live state (`strongroom_service::report`, `docs/LIFECYCLE.md`).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::caller::Authed;
use super::error::ApiResult;
use super::AppState;

pub async fn compliance(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    Ok(Json(st.compliance_report(&c, st.dev_mode).await?))
}
