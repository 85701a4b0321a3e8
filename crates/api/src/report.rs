//! `GET /v1/reports/compliance`: the signed compliance report built from
//! live state (`strongroom_service::report`, `docs/LIFECYCLE.md`).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::caller::Authed;
use super::error::ApiResult;
use super::guard::{Done, Guarded, Kind};
use super::AppState;
use strongroom_audit::{self as audit, AuditFilter};
use strongroom_core::error::Error;
use strongroom_service::report::{self, AuditFacts, Inputs, Settings};

pub async fn compliance(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    let g = Guarded {
        action: "strongroom:ReadComplianceReport",
        key: None,
        context: None,
        kind: Kind::Read,
        command: None,
    };
    let status = st.seal.status()?;
    let settings = Settings {
        dual_control: st.dual_control.enabled,
        dual_control_approvals: st.dual_control.approvals,
        tls: st.tls,
        seal_type: status.seal_type.clone(),
        shamir_threshold: status.threshold,
        audit_enabled: true,
        dev_mode: st.dev_mode,
        default_rotation_days: st.default_rotation_days,
    };
    let dual = st.dual_control.clone();
    Ok(Json(
        st.run(&c, g, move |s| {
            let mut settings = settings;
            let mut facts = AuditFacts::default();
            match s.audit_log() {
                Err(_) => settings.audit_enabled = false,
                Ok(log) => {
                    let (next, head) = log.head();
                    let v = audit::verify_log(log.path(), &log.public_key(), Some((next, &head)))
                        .map_err(|e| Error::Internal(format!("audit verification: {e}")))?;
                    facts.verification = Some(json!(v));
                    let rows = audit::query(log.path(), &AuditFilter::default())
                        .map_err(|e| Error::Internal(format!("audit query: {e}")))?;
                    facts.events = rows.len() as u64;
                    for (_, e) in rows {
                        facts.first_ms =
                            Some(facts.first_ms.map_or(e.time_ms, |x| x.min(e.time_ms)));
                        facts.last_ms = Some(facts.last_ms.map_or(e.time_ms, |x| x.max(e.time_ms)));
                        if e.root {
                            facts.root_uses.push((e.time_ms, e.operation.clone()));
                        }
                        let approved = e.detail.as_deref().is_some_and(|d| d.contains("approval"));
                        if e.outcome == "allowed"
                            && report::DESTRUCTIVE_OPERATIONS.contains(&e.operation.as_str())
                            && (e.root || !dual.requires(&e.operation))
                            && !approved
                        {
                            facts.unapproved_destructive.push((
                                e.time_ms,
                                e.operation,
                                e.key_id,
                                e.identity,
                            ));
                        }
                    }
                }
            }
            let inputs = Inputs {
                now: s.engine.now(),
                keys: s.engine.inventory()?,
                settings,
                audit: facts,
                last_drill: s.engine.last_drill()?.map(|d| (d.time, d.passed)),
                secrets: report::secret_rows(&s.secrets.all()?, s.now_ms()),
            };
            let body = report::build(&inputs);
            let digest = report::report_digest(&body);
            let (sig, pk) = s
                .engine
                .sign_with_audit_key(report::SIGNING_DOMAIN, &digest)?;
            Ok(Done::new(report::envelope(body, &sig, &pk)))
        })
        .await?,
    ))
}
