//! Key management endpoints. Changes run on blocking threads because they
//! commit to storage (fsync) before answering.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::extract::{ApiJson, Authed, PathName};
use super::{blocking, AppState};
use crate::error::Error;
use crate::keys::engine::{CreateKey, KeyFilter, UpdateKey};
use crate::keys::model::KeyMeta;
use crate::keys::state::KeyState;

pub async fn create(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(req): ApiJson<CreateKey>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(blocking(&st, move |e| e.create(req)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    alias: Option<String>,
    owner: Option<String>,
    state: Option<String>,
    /// `key=value`
    tag: Option<String>,
}

pub async fn list(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) =
        q.map_err(|r| Error::InvalidArgument(format!("bad query string: {}", r.body_text())))?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(KeyState::parse(s).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown state {s:?}; use Enabled, Disabled, PendingDeletion or Destroyed"
            ))
        })?),
    };
    let tag = match q.tag.as_deref() {
        None => None,
        Some(t) => {
            let (k, v) = t.split_once('=').ok_or_else(|| {
                Error::InvalidArgument(format!("tag filter {t:?} must be key=value"))
            })?;
            Some((k.to_string(), v.to_string()))
        }
    };
    let filter = KeyFilter {
        alias: q.alias,
        owner: q.owner,
        state,
        tag,
    };
    let engine = st.seal.engine()?;
    let (keys, next) = engine.list(&filter, q.limit.unwrap_or(100), q.cursor.as_deref())?;
    Ok(Json(json!({ "keys": keys, "next_cursor": next })))
}

pub async fn describe(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    PathName(key): PathName,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(st.seal.engine()?.describe(&key)?))
}

pub async fn update(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    PathName(key): PathName,
    ApiJson(req): ApiJson<UpdateKey>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(blocking(&st, move |e| e.update(&key, req)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyVersion {
    key: String,
    version: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDeletion {
    key: String,
    pending_window_days: Option<i64>,
}

pub async fn rotate(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<KeyRef>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(blocking(&st, move |e| e.rotate(&r.key)).await?))
}

pub async fn enable(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<KeyRef>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(blocking(&st, move |e| e.enable(&r.key)).await?))
}

pub async fn disable(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<KeyRef>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(blocking(&st, move |e| e.disable(&r.key)).await?))
}

pub async fn enable_version(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<KeyVersion>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(
        blocking(&st, move |e| e.set_version_enabled(&r.key, r.version, true)).await?,
    ))
}

pub async fn disable_version(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<KeyVersion>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(
        blocking(&st, move |e| {
            e.set_version_enabled(&r.key, r.version, false)
        })
        .await?,
    ))
}

pub async fn min_decryption_version(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<KeyVersion>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(
        blocking(&st, move |e| {
            e.set_min_decryption_version(&r.key, r.version)
        })
        .await?,
    ))
}

pub async fn schedule_deletion(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<ScheduleDeletion>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(
        blocking(&st, move |e| {
            e.schedule_deletion(&r.key, r.pending_window_days)
        })
        .await?,
    ))
}

pub async fn cancel_deletion(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<KeyRef>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(
        blocking(&st, move |e| e.cancel_deletion(&r.key)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAlias {
    alias: String,
    key: String,
}

pub async fn create_alias(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    ApiJson(r): ApiJson<CreateAlias>,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(
        blocking(&st, move |e| e.create_alias(&r.alias, &r.key)).await?,
    ))
}

pub async fn delete_alias(
    State(st): State<Arc<AppState>>,
    _a: Authed,
    PathName(alias): PathName,
) -> ApiResult<Json<KeyMeta>> {
    Ok(Json(blocking(&st, move |e| e.delete_alias(&alias)).await?))
}

pub async fn list_aliases(State(st): State<Arc<AppState>>, _a: Authed) -> ApiResult<Json<Value>> {
    let aliases: Vec<Value> = st
        .seal
        .engine()?
        .list_aliases()?
        .into_iter()
        .map(|(a, k)| json!({ "alias": a, "key_id": k }))
        .collect();
    Ok(Json(json!({ "aliases": aliases })))
}
