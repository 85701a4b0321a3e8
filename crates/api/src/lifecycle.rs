//! Lifecycle endpoints (`docs/LIFECYCLE.md`): declaring a compromise (with
//! its exposure report from the audit log) and the key inventory.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::caller::Authed;
use super::error::ApiResult;
use super::extract::ApiJson;
use super::guard::{Done, Guarded, Kind};
use super::AppState;
use strongroom_audit::AuditFilter;
use strongroom_core::error::Error;
use strongroom_engine::keys::state::KeyState;

/// Keys expiring within this many days are counted in
/// `strongroom_keys_expiring` (metrics) and flagged by `--expiring-within`'s default.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompromiseReq {
    pub key: String,
    /// Default: the primary version.
    #[serde(default)]
    pub version: Option<u32>,
    pub reason: String,
}

/// `POST /v1/compromise`: marks the version compromised, rotates at once,
/// and answers with the key and the exposure report.
pub async fn compromise(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<CompromiseReq>,
) -> ApiResult<Json<Value>> {
    let g = Guarded {
        action: "strongroom:CompromiseKey",
        key: Some(&r.key),
        context: None,
        kind: Kind::Change,
        command: None,
    };
    let (k, v, reason) = (r.key.clone(), r.version, r.reason.clone());
    Ok(Json(
        st.run(&c, g, move |s| {
            let (meta, report) = s.engine.compromise(&k, v, &reason)?;
            // The change is durable; from here on nothing may fail the request.
            let events = match s.audit_log() {
                Err(e) => Err(e.to_string()),
                Ok(log) => strongroom_audit::query(
                    log.path(),
                    &AuditFilter {
                        key_id: Some(meta.id.clone()),
                        ..AuditFilter::default()
                    },
                )
                .map(|rows| {
                    rows.into_iter()
                        .map(|(_, e)| strongroom_engine::keys::engine::AuditedUse {
                            time_ms: e.time_ms,
                            identity: e.identity,
                            source: e.source,
                            operation: e.operation,
                            key_id: e.key_id,
                            key_version: e.key_version,
                            outcome: e.outcome,
                        })
                        .collect()
                })
                .map_err(|e| e.to_string()),
            };
            let report = report.with_exposure(events);
            let (id, pv) = (meta.id.clone(), meta.primary_version);
            Ok(Done::new(json!({ "key": meta, "report": report })).key(id, Some(pv)))
        })
        .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct InventoryQuery {
    owner: Option<String>,
    /// Matched against `effective_state`: the stored state, except that an
    /// Enabled key outside its dates is PreActivation or Deactivated.
    state: Option<String>,
    /// `true`: only keys whose scheduled rotation is overdue.
    overdue: Option<bool>,
    /// Only keys (not destroyed) whose expiry date is within this many days
    /// from now, including already expired ones.
    expiring_within: Option<i64>,
    /// `true`: only keys without an owner.
    no_owner: Option<bool>,
}

fn keep(row: &Value, q: &InventoryQuery, state: Option<&str>) -> bool {
    let s = |f: &str| row.get(f).and_then(Value::as_str).unwrap_or("");
    q.owner.as_deref().is_none_or(|o| s("owner") == o)
        && state.is_none_or(|st| s("effective_state") == st)
        && (!q.overdue.unwrap_or(false)
            || row.get("rotation_overdue").and_then(Value::as_bool) == Some(true))
        && (!q.no_owner.unwrap_or(false) || s("owner").trim().is_empty())
        && q.expiring_within.is_none_or(|d| {
            s("state") != "Destroyed"
                && row
                    .get("expires_in_days")
                    .and_then(Value::as_i64)
                    .is_some_and(|left| left < d)
        })
}

/// `GET /v1/inventory`: every key with lifecycle facts, filtered.
pub async fn inventory(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    q: Result<Query<InventoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) =
        q.map_err(|r| Error::InvalidArgument(format!("bad query string: {}", r.body_text())))?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) if KeyState::parse(s).is_some() || s == "PreActivation" || s == "Deactivated" => {
            Some(s.to_string())
        }
        Some(s) => {
            return Err(Error::InvalidArgument(format!(
                "unknown state {s:?}; use Enabled, Disabled, PendingDeletion, Destroyed, PreActivation or Deactivated"
            ))
            .into())
        }
    };
    if let Some(d) = q.expiring_within {
        if !(0..=36_500).contains(&d) {
            return Err(Error::InvalidArgument(format!(
                "expiring_within {d} is out of range; give a number of days from 0 to 36500"
            ))
            .into());
        }
    }
    let g = Guarded {
        action: "kms:ListKeys",
        key: None,
        context: None,
        kind: Kind::Use,
        command: None,
    };
    Ok(Json(
        st.run(&c, g, move |s| {
            let now = s.engine.now();
            let keys: Vec<Value> = s
                .engine
                .inventory()?
                .into_iter()
                .filter(|r| keep(r, &q, state.as_deref()))
                .collect();
            Ok(Done::new(json!({ "now": now, "keys": keys })))
        })
        .await?,
    ))
}

/// Lines appended to `/metrics`: expiry warnings.
pub fn expiry_metrics(engine: &strongroom_engine::keys::engine::Engine) -> String {
    let Ok((soon, expired)) = engine.expiry_counts(EXPIRY_WARNING_DAYS) else {
        return String::new();
    };
    format!(
        "# HELP strongroom_keys_expiring Keys (not destroyed) whose expiry date is within the warning window.\n\
         # TYPE strongroom_keys_expiring gauge\n\
         strongroom_keys_expiring{{within_days=\"{EXPIRY_WARNING_DAYS}\"}} {soon}\n\
         # HELP strongroom_keys_expired Keys (not destroyed) past their expiry date (deactivated: decrypt/verify only).\n\
         # TYPE strongroom_keys_expired gauge\n\
         strongroom_keys_expired {expired}\n"
    )
}
