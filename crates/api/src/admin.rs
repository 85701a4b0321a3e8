//! Identity, policy, approval and audit endpoints. Like everything else
//! they go through the guard; policy and role changes are dual-controlled.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::caller::Authed;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, PathName};
use super::guard::{Caller, Done, Guarded, Kind};
use super::AppState;
use strongroom_audit::{self as audit, AuditFilter};
use strongroom_core::crypto::context::EncryptionContext;
use strongroom_core::error::{Error, Result};
use strongroom_engine::auth::Principal;
use strongroom_engine::policy::{self, Policy};
use strongroom_service::approvals::Command;

fn g(action: &'static str, kind: Kind) -> Guarded<'static> {
    Guarded {
        action,
        key: None,
        context: None,
        kind,
        command: None,
    }
}

// ---------- identities ----------

pub use strongroom_service::approvals::{CreateIdentity, SetGrants};

pub async fn create_identity(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<CreateIdentity>,
) -> ApiResult<Json<Value>> {
    // Giving an identity roles or policies is a role change: dual-controlled.
    if !r.roles.is_empty() || !r.policies.is_empty() {
        return Ok(Json(
            st.submit(&c, Command::CreateIdentity(r)).await?.into_json(),
        ));
    }
    Ok(Json(
        st.run(&c, g("strongroom:CreateIdentity", Kind::Change), move |s| {
            let i = s
                .registry
                .create_identity(&r.name, r.kind, r.roles, r.policies)?;
            Ok(Done::new(json!(i)))
        })
        .await?,
    ))
}

pub async fn list_identities(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("strongroom:ManageIdentities", Kind::Use), |s| {
            Ok(Done::new(
                json!({ "identities": s.registry.list_identities()? }),
            ))
        })
        .await?,
    ))
}

pub async fn show_identity(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    PathName(name): PathName,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("strongroom:ManageIdentities", Kind::Use), move |s| {
            let i = s.registry.identity(&name)?;
            let tokens = s.registry.list_tokens(Some(&name))?;
            Ok(Done::new(json!({ "identity": i, "tokens": tokens })))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameReq {
    name: String,
}

pub async fn disable_identity(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<NameReq>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(
            &c,
            g("strongroom:ManageIdentities", Kind::Change),
            move |s| {
                let i = s.registry.update_identity(&r.name, |i| i.disabled = true)?;
                Ok(Done::new(json!(i)))
            },
        )
        .await?,
    ))
}

pub async fn set_grants(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<SetGrants>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.submit(&c, Command::SetGrants(r)).await?.into_json(),
    ))
}

// ---------- tokens and access keys ----------

/// Credentials for another identity would let the caller act as it (for
/// example as two approvers at once): only root (break-glass, audited) may
/// issue them; everyone else only for themselves.
fn only_self_unless_root(me: &Principal, identity: &str, what: &str) -> Result<()> {
    if me.is_root() || me.id == identity {
        return Ok(());
    }
    Err(Error::AccessDenied(format!(
        "only root may create {what} for another identity ({identity}); {identity} can create its own"
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    identity: String,
    ttl_secs: Option<i64>,
}

pub async fn create_token(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<CreateToken>,
) -> ApiResult<Json<Value>> {
    let me = c.principal.clone();
    Ok(Json(
        st.run(&c, g("strongroom:CreateToken", Kind::Change), move |s| {
            only_self_unless_root(&me, &r.identity, "tokens")?;
            let (token, info) = s.registry.create_token(&r.identity, r.ttl_secs)?;
            Ok(Done::new(
                json!({ "token": String::from_utf8_lossy(token.expose()), "info": info }),
            ))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeToken {
    token_id: String,
}

impl Drop for RevokeToken {
    fn drop(&mut self) {
        // It may be the token itself.
        zeroize::Zeroize::zeroize(&mut self.token_id);
    }
}

pub async fn revoke_token(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<RevokeToken>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("strongroom:RevokeToken", Kind::Change), move |s| {
            Ok(Done::new(json!(s.registry.revoke_token(&r.token_id)?)))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityQuery {
    identity: Option<String>,
}

pub async fn list_tokens(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    Query(q): Query<IdentityQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("strongroom:ManageIdentities", Kind::Use), move |s| {
            Ok(Done::new(
                json!({ "tokens": s.registry.list_tokens(q.identity.as_deref())? }),
            ))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityReq {
    identity: String,
}

pub async fn create_access_key(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<IdentityReq>,
) -> ApiResult<Json<Value>> {
    let me = c.principal.clone();
    Ok(Json(
        st.run(
            &c,
            g("strongroom:CreateAccessKey", Kind::Change),
            move |s| {
                only_self_unless_root(&me, &r.identity, "access keys")?;
                let (id, secret) = s.registry.create_access_key(&r.identity)?;
                Ok(Done::new(json!({
                    "access_key_id": id,
                    "secret_access_key": String::from_utf8_lossy(secret.expose()),
                    "identity": r.identity,
                })))
            },
        )
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyReq {
    access_key_id: String,
}

pub async fn revoke_access_key(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<AccessKeyReq>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(
            &c,
            g("strongroom:RevokeAccessKey", Kind::Change),
            move |s| {
                Ok(Done::new(json!(s
                    .registry
                    .revoke_access_key(&r.access_key_id)?)))
            },
        )
        .await?,
    ))
}

pub async fn list_access_keys(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("strongroom:ManageIdentities", Kind::Use), |s| {
            Ok(Done::new(
                json!({ "access_keys": s.registry.list_access_keys()? }),
            ))
        })
        .await?,
    ))
}

// ---------- certificate identities ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindCert {
    identity: String,
    /// `cn`, `dns` or `uri`.
    field: String,
    value: String,
}

/// Binds a client-certificate name to an identity: a request over mutual
/// TLS with a certificate carrying that name, and no token, acts as it.
pub async fn bind_cert(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<BindCert>,
) -> ApiResult<Json<Value>> {
    let me = c.principal.clone();
    Ok(Json(
        st.run(
            &c,
            g("strongroom:BindCertificate", Kind::Change),
            move |s| {
                only_self_unless_root(&me, &r.identity, "certificate bindings")?;
                let field = strongroom_engine::identity::CertField::parse(&r.field)?;
                let b = s.registry.bind_cert(&r.identity, field, &r.value)?;
                Ok(Done::new(json!({ "binding": b })))
            },
        )
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnbindCert {
    field: String,
    value: String,
}

pub async fn unbind_cert(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<UnbindCert>,
) -> ApiResult<Json<Value>> {
    let me = c.principal.clone();
    Ok(Json(
        st.run(
            &c,
            g("strongroom:UnbindCertificate", Kind::Change),
            move |s| {
                let field = strongroom_engine::identity::CertField::parse(&r.field)?;
                let id = strongroom_engine::identity::binding_id(field, &r.value);
                // Only root, or the identity the name is bound to, may unbind it.
                if let Some(b) = s
                    .registry
                    .list_cert_bindings(None)?
                    .into_iter()
                    .find(|b| b.id == id)
                {
                    if !me.is_root() && me.id != b.identity {
                        return Err(Error::AccessDenied(format!(
                            "only root may unbind a certificate name bound to another identity ({})",
                            b.identity
                        )));
                    }
                }
                let b = s.registry.unbind_cert(field, &r.value)?;
                Ok(Done::new(json!({ "binding": b })))
            },
        )
        .await?,
    ))
}

pub async fn list_cert_bindings(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    Query(q): Query<IdentityQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("strongroom:ManageIdentities", Kind::Use), move |s| {
            Ok(Done::new(json!({
                "bindings": s.registry.list_cert_bindings(q.identity.as_deref())?
            })))
        })
        .await?,
    ))
}

// ---------- policies ----------

pub async fn put_policy(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(p): ApiJson<Policy>,
) -> ApiResult<Json<Value>> {
    if let Err(e) = p.validate_custom() {
        // Authorized (and audited) first: an unauthorized caller learns
        // nothing about validation.
        let msg = e.to_string();
        st.run(&c, g("strongroom:ManagePolicies", Kind::Use), move |_| {
            Err::<Done<()>, _>(Error::InvalidArgument(msg))
        })
        .await?;
    }
    Ok(Json(
        st.submit(&c, Command::PutPolicy(p)).await?.into_json(),
    ))
}

pub async fn delete_policy(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    PathName(name): PathName,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.submit(&c, Command::DeletePolicy { name })
            .await?
            .into_json(),
    ))
}

pub async fn list_policies(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("kms:GetKeyPolicy", Kind::Use), |s| {
            let roles: Vec<Policy> = policy::BUILTIN_ROLES
                .iter()
                .filter_map(|r| policy::builtin_role(r))
                .collect();
            Ok(Done::new(
                json!({ "policies": s.registry.list_policies()?, "roles": roles }),
            ))
        })
        .await?,
    ))
}

pub async fn show_policy(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    PathName(name): PathName,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("kms:GetKeyPolicy", Kind::Use), move |s| {
            let p = match name.strip_prefix("role:") {
                Some(r) => policy::builtin_role(r)
                    .ok_or_else(|| Error::InvalidArgument(format!("no role {r:?}")))?,
                None => s.registry.policy(&name)?,
            };
            Ok(Done::new(json!(p)))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainReq {
    identity: String,
    action: String,
    key: Option<String>,
    #[serde(default)]
    context: Option<EncryptionContext>,
}

pub async fn explain(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<ExplainReq>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("strongroom:ManageIdentities", Kind::Use), move |s| {
            let who: Principal = if r.identity == "root" {
                Principal::root()
            } else {
                s.registry.identity(&r.identity)?;
                s.registry.principal(&r.identity).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "identity {} is disabled: it can do nothing",
                        r.identity
                    ))
                })?
            };
            let meta = match &r.key {
                Some(k) => Some(s.engine.describe(k)?),
                None => None,
            };
            let d = strongroom_service::Service::decide(
                &who,
                &r.action,
                meta.as_ref(),
                r.context.as_ref(),
            );
            Ok(Done::new(json!({
                "identity": r.identity,
                "action": r.action,
                "key_id": meta.map(|m| m.id),
                "allowed": d.allowed,
                "reason": d.reason,
                "matched": d.matched,
                "roles": who.roles,
                "policies": who.policies.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            })))
        })
        .await?,
    ))
}

// ---------- approvals ----------

pub async fn list_approvals(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("strongroom:ListApprovals", Kind::Use), |s| {
            Ok(Done::new(
                json!({ "approvals": s.registry.list_approvals()? }),
            ))
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalReq {
    id: String,
}

pub async fn approve(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<ApprovalReq>,
) -> ApiResult<Json<Value>> {
    decide_approval(st, c, r.id, true).await
}

pub async fn deny(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    ApiJson(r): ApiJson<ApprovalReq>,
) -> ApiResult<Json<Value>> {
    decide_approval(st, c, r.id, false).await
}

async fn decide_approval(
    st: Arc<AppState>,
    c: Caller,
    id: String,
    approve: bool,
) -> ApiResult<Json<Value>> {
    let d = st.decide_approval(&c, id, approve).await?;
    Ok(Json(match d.executed {
        None => json!({ "approval": d.approval, "executed": false }),
        Some(output) => json!({
            "approval": d.approval,
            "executed": true,
            "result": output.into_json(),
        }),
    }))
}

// ---------- audit ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    key: Option<String>,
    identity: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    limit: Option<usize>,
}

impl AuditQuery {
    fn filter(self) -> AuditFilter {
        AuditFilter {
            key_id: self.key,
            identity: self.identity,
            operation: self.action,
            outcome: self.outcome,
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            limit: self.limit,
        }
    }
}

fn audit_err(e: audit::AuditError) -> Error {
    match e {
        audit::AuditError::Unavailable(m) => Error::StorageUnavailable(format!("audit log: {m}")),
        other => Error::InvalidArgument(other.to_string()),
    }
}

pub async fn audit_verify(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        st.run(&c, g("strongroom:ReadAudit", Kind::Read), |s| {
            let log = s.audit_log()?;
            let (next, head) = log.head();
            let report = audit::verify_log(log.path(), &log.public_key(), Some((next, &head)))
                .map_err(audit_err)?;
            Ok(Done::new(json!(report)))
        })
        .await?,
    ))
}

pub async fn audit_query(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) =
        q.map_err(|r| Error::InvalidArgument(format!("bad query string: {}", r.body_text())))?;
    let filter = q.filter();
    Ok(Json(
        st.run(&c, g("strongroom:ReadAudit", Kind::Read), move |s| {
            let rows = audit::query(s.audit_log()?.path(), &filter).map_err(audit_err)?;
            let records: Vec<Value> = rows
                .into_iter()
                .map(|(i, e)| json!({ "index": i, "event": e }))
                .collect();
            Ok(Done::new(json!({ "records": records })))
        })
        .await?,
    ))
}

pub async fn audit_export(
    State(st): State<Arc<AppState>>,
    Authed(c): Authed,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        q.map_err(|r| Error::InvalidArgument(format!("bad query string: {}", r.body_text())))?;
    let filter = q.filter();
    let body = st
        .run(&c, g("strongroom:ReadAudit", Kind::Read), move |s| {
            let mut out = Vec::new();
            audit::export(s.audit_log()?.path(), &filter, &mut out).map_err(audit_err)?;
            Ok(Done::new(out))
        })
        .await?;
    Ok(([(CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
