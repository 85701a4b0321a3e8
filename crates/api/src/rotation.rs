//! `POST /v1/rotation-policy`: set or clear a key's automatic rotation
//! period (the AWS front-end's Enable/DisableKeyRotation use the same
//! engine call). The scheduler that rotates keys when `next_rotation_at`
//! passes is not part of this endpoint.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::caller::Authed;
use super::error::ApiResult;
use super::extract::ApiJson;
use super::guard::{Done, Guarded, Kind};
use super::AppState;
use strongroom_engine::keys::model::KeyMeta;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationPolicy {
    pub key: String,
    /// Days between automatic rotations (1–3650); `null` or absent clears it.
    #[serde(default)]
    pub days: Option<u32>,
}

pub async fn set(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<RotationPolicy>,
) -> ApiResult<Json<KeyMeta>> {
    let action = if r.days.is_some() {
        "kms:EnableKeyRotation"
    } else {
        "kms:DisableKeyRotation"
    };
    let (k, days) = (r.key.clone(), r.days);
    let g = Guarded {
        action,
        key: Some(&r.key),
        context: None,
        kind: Kind::Change,
        command: None,
    };
    Ok(Json(
        st.run(&c, g, move |s| {
            let m = s.engine.set_rotation_period(&k, days)?;
            let id = m.id.clone();
            Ok(Done::new(m).key(id, None))
        })
        .await?,
    ))
}
