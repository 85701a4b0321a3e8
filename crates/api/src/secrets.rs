//! `/v1/secrets/…`: the native REST face of the secrets operations
//! (`strongroom_service::secrets`). The secret path is the rest of the URL
//! path, taken as sent: never percent-decoded, cleaned or case-folded (the
//! path grammar needs no escaping, so `%`, `..` and `//` are refused by it).
//!
//! - `GET /v1/secrets/data/<path>[?version=N]`: a value;
//! - `PUT|POST /v1/secrets/data/<path>` `{"data": {..}, "cas": N?}`: a new version;
//! - `PATCH /v1/secrets/data/<path>` `{"data": {..}, "remove": [..], "cas": N?}`;
//! - `GET|PATCH|DELETE /v1/secrets/metadata/<path>`: metadata and history,
//!   change it, delete the whole secret (dual control);
//! - `GET /v1/secrets/list[/<folder>][?after=&limit=]`;
//! - `POST /v1/secrets/{delete,undelete,destroy}/<path>` `{"versions": [..]}`;
//! - `POST /v1/secrets/rotate/<path>`: rotate (kind `postgres` or `hook`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::caller::Authed;
use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use super::AppState;
use strongroom_core::error::Error;
use strongroom_engine::secrets::{MetadataUpdate, SecretFields};

/// The secret path (or folder) after `/v1/secrets/<operation>/`, raw.
pub struct SecretPath(pub String);

impl FromRequestParts<Arc<AppState>> for SecretPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.path();
        let rest = raw
            .strip_prefix("/v1/secrets/")
            .and_then(|r| r.split_once('/'))
            .map(|(_, p)| p)
            .unwrap_or("");
        Ok(SecretPath(rest.to_string()))
    }
}

fn fields_from(data: BTreeMap<String, String>) -> SecretFields {
    let mut f = SecretFields::new();
    for (k, v) in data {
        f.insert(k, v);
    }
    f
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// The fields of the new version (string values).
    pub data: BTreeMap<String, String>,
    /// Check-and-set: 0 = create only; n = only if the current version is n.
    #[serde(default)]
    pub cas: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub cas: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionsBody {
    /// Version numbers; empty or absent = the current version.
    #[serde(default)]
    pub versions: Vec<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    #[serde(default)]
    pub version: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError(Error::InvalidArgument(format!(
        "bad query string: {}",
        e.body_text()
    )))
}

pub async fn put(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
    ApiJson(b): ApiJson<PutBody>,
) -> ApiResult<Json<Value>> {
    let v = st
        .service
        .secret_put(&c, &path, fields_from(b.data), b.cas)
        .await?;
    Ok(Json(json!({ "path": path, "version": v })))
}

pub async fn patch(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
    ApiJson(b): ApiJson<PatchBody>,
) -> ApiResult<Json<Value>> {
    let v = st
        .service
        .secret_patch(&c, &path, fields_from(b.data), b.remove, b.cas)
        .await?;
    Ok(Json(json!({ "path": path, "version": v })))
}

pub async fn get(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
    q: Result<Query<GetQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad_query)?;
    let v = st.service.secret_get(&c, &path, q.version).await?;
    let data: serde_json::Map<String, Value> = v
        .fields
        .iter()
        .map(|(k, val)| (k.to_string(), Value::String(val.to_string())))
        .collect();
    Ok(Json(json!({
        "path": v.path,
        "version": v.version,
        "data": data,
    })))
}

pub async fn metadata(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
) -> ApiResult<Json<Value>> {
    let m = st.service.secret_metadata(&c, &path).await?;
    Ok(Json(json!(m)))
}

pub async fn update_metadata(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
    ApiJson(u): ApiJson<MetadataUpdate>,
) -> ApiResult<Json<Value>> {
    let m = st.service.secret_update_metadata(&c, &path, u).await?;
    Ok(Json(json!(m)))
}

pub async fn delete_all(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
) -> ApiResult<Json<Value>> {
    let n = st.service.secret_delete_all(&c, &path).await?;
    Ok(Json(json!({ "path": path, "versions_removed": n })))
}

pub async fn list(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(folder): SecretPath,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad_query)?;
    let page = st
        .service
        .secret_list(&c, &folder, q.after, q.limit)
        .await?;
    Ok(Json(json!(page)))
}

pub async fn delete(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
    ApiJson(b): ApiJson<VersionsBody>,
) -> ApiResult<Json<Value>> {
    let v = st.service.secret_delete(&c, &path, b.versions).await?;
    Ok(Json(json!({ "path": path, "deleted": v })))
}

pub async fn undelete(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
    ApiJson(b): ApiJson<VersionsBody>,
) -> ApiResult<Json<Value>> {
    let v = st.service.secret_undelete(&c, &path, b.versions).await?;
    Ok(Json(json!({ "path": path, "undeleted": v })))
}

pub async fn destroy(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
    ApiJson(b): ApiJson<VersionsBody>,
) -> ApiResult<Json<Value>> {
    let v = st.service.secret_destroy(&c, &path, b.versions).await?;
    Ok(Json(json!({ "path": path, "destroyed": v })))
}

pub async fn rotate(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    SecretPath(path): SecretPath,
) -> ApiResult<Json<Value>> {
    let v = st.service.secret_rotate(&c, &path).await?;
    Ok(Json(json!({ "path": path, "version": v })))
}

/// `GET /v1/secrets/inventory`: every secret's metadata, never a value.
pub async fn inventory(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    let all = st.service.secret_inventory(&c).await?;
    Ok(Json(json!({ "secrets": all })))
}
