//! Dev-mode endpoints (`strongroom server --dev` only): move the server's
//! clock forward and run the background passes (destruction sweep,
//! rotation scheduler) at once, so a newcomer can watch scheduled rotation,
//! expiry and destruction happen. Refused on a production server.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::caller::Authed;
use super::error::ApiResult;
use super::extract::ApiJson;
use super::guard::{Done, Guarded, Kind};
use super::AppState;
use strongroom_core::clock::{Clock, OffsetClock, DAY};
use strongroom_core::error::Error;

/// Most the clock can be moved in one call (about 20 years).
const MAX_DAYS: i64 = 7300;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvanceReq {
    #[serde(default)]
    pub days: i64,
    #[serde(default)]
    pub seconds: i64,
}

fn dev_clock(st: &AppState) -> Result<Arc<OffsetClock>, Error> {
    st.dev_clock.clone().filter(|_| st.dev_mode).ok_or_else(|| {
        Error::InvalidArgument(
            "the clock can be moved only on a dev server (`strongroom server --dev`); this server runs in production mode".into(),
        )
    })
}

fn guard() -> Guarded<'static> {
    Guarded {
        action: "strongroom:DevClock",
        key: None,
        context: None,
        kind: Kind::Change,
        command: None,
    }
}

/// Runs one destruction sweep and one rotation-scheduler pass now.
async fn run_passes(st: &AppState, clock: &OffsetClock) -> Value {
    let mut purge_pending = false;
    strongroom_service::sweep::sweep_once(&st.seal, &mut purge_pending).await;
    let run = strongroom_service::scheduler::rotate_once(&st.seal).await;
    json!({
        "now": clock.now(),
        "offset_seconds": clock.offset(),
        "rotated": run.rotated.iter().map(|(k, v)| json!({"key_id": k, "version": v})).collect::<Vec<_>>(),
        "rotation_failed": run.failed.iter().map(|(k, e)| json!({"key_id": k, "error": e})).collect::<Vec<_>>(),
    })
}

/// `POST /v1/sys/dev/advance-clock {"days": N}`: moves the dev clock forward
/// and runs the background passes once.
pub async fn advance_clock(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<AdvanceReq>,
) -> ApiResult<Json<Value>> {
    let clock = dev_clock(&st)?;
    if !(0..=MAX_DAYS).contains(&r.days) || !(0..=MAX_DAYS * DAY).contains(&r.seconds) {
        return Err(Error::InvalidArgument(format!(
            "days and seconds must be between 0 and {MAX_DAYS} days; the clock only moves forward"
        ))
        .into());
    }
    let secs = r.days * DAY + r.seconds;
    if secs == 0 {
        return Err(Error::InvalidArgument(
            "give {\"days\": N} or {\"seconds\": N} with N > 0".into(),
        )
        .into());
    }
    st.run(&c, guard(), |_| Ok(Done::new(()))).await?;
    clock.advance(secs);
    tracing::warn!(seconds = secs, "dev clock moved forward");
    Ok(Json(run_passes(&st, &clock).await))
}

/// `POST /v1/sys/dev/run-scheduler`: runs the background passes once now.
pub async fn run_scheduler(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    let clock = dev_clock(&st)?;
    st.run(&c, guard(), |_| Ok(Done::new(()))).await?;
    Ok(Json(run_passes(&st, &clock).await))
}
