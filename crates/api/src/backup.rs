//! Backups and drills (`docs/LIFECYCLE.md`): `POST /v1/backup` answers with
//! the sealed snapshot (base64), `POST /v1/backup/drill` restores one into a
//! scratch in-memory instance inside the server and reports pass/fail.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::caller::Authed;
use super::error::ApiResult;
use super::extract::ApiJson;
use super::guard::{Done, Guarded, Kind};
use super::AppState;
use strongroom_core::error::Error;

fn guard(kind: Kind) -> Guarded<'static> {
    Guarded {
        action: "strongroom:Backup",
        key: None,
        context: None,
        kind,
        command: None,
    }
}

pub async fn create(State(st): State<Arc<AppState>>, Authed(c): Authed) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, guard(Kind::Change), |s| {
            let head = s.audit_log().ok().map(|l| l.head());
            let (blob, summary) = s.engine.backup(head)?;
            Ok(Done::new(json!({
                "backup": base64::engine::general_purpose::STANDARD.encode(blob),
                "summary": summary,
            })))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillReq {
    /// The backup file's bytes, base64.
    pub backup: String,
}

pub async fn drill(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<DrillReq>,
) -> ApiResult<Json<Value>> {
    let blob = base64::engine::general_purpose::STANDARD
        .decode(r.backup.trim())
        .map_err(|_| Error::InvalidArgument("backup must be base64".into()))?;
    Ok(Json(
        st.run(&c, guard(Kind::Change), move |s| {
            let report = s.drill(&blob)?;
            Ok(Done::new(json!(report)))
        })
        .await?,
    ))
}
