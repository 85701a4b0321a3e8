//! Key management endpoints. Each names its AWS action and goes through
//! the guard; changes run on blocking threads because they commit to
//! storage (fsync) before answering.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::caller::Authed;
use super::error::ApiResult;
use super::extract::{ApiJson, PathName};
use super::guard::{Done, Guarded, Kind};
use super::AppState;
use strongroom_core::error::Error;
use strongroom_engine::keys::engine::{CreateKey, KeyFilter, UpdateKey};
use strongroom_engine::keys::model::KeyMeta;
use strongroom_engine::keys::state::KeyState;
use strongroom_service::approvals::{Command, CommandOutput};

fn done(m: KeyMeta) -> Done<KeyMeta> {
    let (id, v) = (m.id.clone(), m.primary_version);
    Done::new(m).key(id, Some(v))
}

fn change<'a>(action: &'static str, key: Option<&'a str>) -> Guarded<'a> {
    Guarded {
        action,
        key,
        context: None,
        kind: Kind::Change,
        command: None,
    }
}

fn read<'a>(action: &'static str, key: Option<&'a str>) -> Guarded<'a> {
    Guarded {
        action,
        key,
        context: None,
        kind: Kind::Use,
        command: None,
    }
}

pub async fn create(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(mut req): ApiJson<CreateKey>,
) -> ApiResult<Json<KeyMeta>> {
    // AWS KeySpec names (SYMMETRIC_DEFAULT, HMAC_256, ...) are accepted as
    // aliases of the native names, so one vocabulary works on both doors.
    if let Some(s) = req.spec.as_deref() {
        if strongroom_core::crypto::spec::KeySpec::parse(s).is_none() {
            if let Some(k) = strongroom_core::crypto::spec::spec_from_aws(s) {
                req.spec = Some(k.name().to_string());
            }
        }
    }
    // The server-wide default period applies to new AES keys (the AWS
    // endpoint keeps AWS's default: no automatic rotation).
    let aes = req.spec.as_deref().is_none_or(|s| {
        strongroom_core::crypto::spec::KeySpec::parse(s)
            == Some(strongroom_core::crypto::spec::KeySpec::Aes256Gcm)
    });
    if req.rotation_period_days.is_none() && aes && st.default_rotation_days > 0 {
        req.rotation_period_days = Some(st.default_rotation_days);
    }
    Ok(Json(
        st.run(&c, change("kms:CreateKey", None), move |s| {
            s.engine.create(req).map(done)
        })
        .await?,
    ))
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
    Authed(c): Authed,
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
    let limit = super::page_limit("limit", q.limit)?;
    let cursor = q.cursor;
    Ok(Json(
        st.run(&c, read("kms:ListKeys", None), move |s| {
            let (keys, next) = s.engine.list(&filter, limit, cursor.as_deref())?;
            Ok(Done::new(json!({ "keys": keys, "next_cursor": next })))
        })
        .await?,
    ))
}

pub async fn describe(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    PathName(key): PathName,
) -> ApiResult<Json<KeyMeta>> {
    let k = key.clone();
    Ok(Json(
        st.run(&c, read("kms:DescribeKey", Some(&key)), move |s| {
            s.engine.describe(&k).map(done)
        })
        .await?,
    ))
}

pub async fn update(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    PathName(key): PathName,
    ApiJson(req): ApiJson<UpdateKey>,
) -> ApiResult<Json<KeyMeta>> {
    let k = key.clone();
    Ok(Json(
        st.run(
            &c,
            change("kms:UpdateKeyDescription", Some(&key)),
            move |s| s.engine.update(&k, req).map(done),
        )
        .await?,
    ))
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    pub key: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyVersion {
    pub key: String,
    pub version: u32,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDeletion {
    pub key: String,
    pub pending_window_days: Option<i64>,
}

pub async fn rotate(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<KeyRef>,
) -> ApiResult<Json<KeyMeta>> {
    let k = r.key.clone();
    Ok(Json(
        st.run(
            &c,
            change("kms:RotateKeyOnDemand", Some(&r.key)),
            move |s| s.engine.rotate(&k).map(done),
        )
        .await?,
    ))
}

pub async fn enable(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<KeyRef>,
) -> ApiResult<Json<KeyMeta>> {
    let k = r.key.clone();
    Ok(Json(
        st.run(&c, change("kms:EnableKey", Some(&r.key)), move |s| {
            s.engine.enable(&k).map(done)
        })
        .await?,
    ))
}

pub async fn disable(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<KeyRef>,
) -> ApiResult<Json<KeyMeta>> {
    let k = r.key.clone();
    Ok(Json(
        st.run(&c, change("kms:DisableKey", Some(&r.key)), move |s| {
            s.engine.disable(&k).map(done)
        })
        .await?,
    ))
}

pub async fn enable_version(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<KeyVersion>,
) -> ApiResult<Json<KeyMeta>> {
    let (k, v) = (r.key.clone(), r.version);
    Ok(Json(
        st.run(&c, change("kms:EnableKeyVersion", Some(&r.key)), move |s| {
            s.engine.set_version_enabled(&k, v, true).map(done)
        })
        .await?,
    ))
}

pub async fn disable_version(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<KeyVersion>,
) -> ApiResult<Json<KeyMeta>> {
    let (k, v) = (r.key.clone(), r.version);
    Ok(Json(
        st.run(
            &c,
            change("kms:DisableKeyVersion", Some(&r.key)),
            move |s| s.engine.set_version_enabled(&k, v, false).map(done),
        )
        .await?,
    ))
}

pub async fn min_decryption_version(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<KeyVersion>,
) -> ApiResult<Json<KeyMeta>> {
    // Only lowering the minimum is dual-controlled (it re-enables old ciphertexts).
    let lowering = st
        .seal
        .engine()?
        .describe(&r.key)
        .map(|m| r.version < m.min_decryption_version)
        .unwrap_or(false);
    let cmd = Command::SetMinDecryptionVersion {
        key: r.key,
        version: r.version,
    };
    let out = if lowering {
        st.submit(&c, cmd).await?
    } else {
        st.submit_direct(&c, cmd).await?
    };
    Ok(Json(key_meta(out)?))
}

/// The key a key command returned.
fn key_meta(out: CommandOutput) -> Result<KeyMeta, super::error::ApiError> {
    match out {
        CommandOutput::Key(m) => Ok(*m),
        CommandOutput::Value(_) => Err(super::error::ApiError(Error::Internal(
            "a key command returned no key".into(),
        ))),
    }
}

pub async fn schedule_deletion(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<ScheduleDeletion>,
) -> ApiResult<Json<KeyMeta>> {
    let cmd = Command::ScheduleKeyDeletion {
        key: r.key,
        pending_window_days: r.pending_window_days,
    };
    Ok(Json(key_meta(st.submit(&c, cmd).await?)?))
}

pub async fn cancel_deletion(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<KeyRef>,
) -> ApiResult<Json<KeyMeta>> {
    let k = r.key.clone();
    Ok(Json(
        st.run(
            &c,
            change("kms:CancelKeyDeletion", Some(&r.key)),
            move |s| s.engine.cancel_deletion(&k).map(done),
        )
        .await?,
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
    Authed(c): Authed,
    ApiJson(r): ApiJson<CreateAlias>,
) -> ApiResult<Json<KeyMeta>> {
    let (a, k) = (r.alias.clone(), r.key.clone());
    Ok(Json(
        st.run(&c, change("kms:CreateAlias", Some(&r.key)), move |s| {
            s.engine.create_alias(&a, &k).map(done)
        })
        .await?,
    ))
}

pub async fn delete_alias(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    PathName(alias): PathName,
) -> ApiResult<Json<KeyMeta>> {
    let a = alias.clone();
    Ok(Json(
        st.run(&c, change("kms:DeleteAlias", Some(&alias)), move |s| {
            s.engine.delete_alias(&a).map(done)
        })
        .await?,
    ))
}

pub async fn list_aliases(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, read("kms:ListAliases", None), |s| {
            let aliases: Vec<Value> = s
                .engine
                .list_aliases()?
                .into_iter()
                .map(|(a, k)| json!({ "alias": a, "key_id": k }))
                .collect();
            Ok(Done::new(json!({ "aliases": aliases })))
        })
        .await?,
    ))
}
