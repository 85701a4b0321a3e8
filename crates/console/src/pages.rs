//! The console's handlers. Each page is one or more gate calls
//! (`Service::run`, `submit`, `decide_approval`, `compliance_report`) as the
//! signed-in caller; each form post checks the session's anti-forgery token
//! first, then does one gate call, keeps its outcome as a one-time message
//! and redirects (303) back to the page.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use strongroom_audit::{self as audit, AuditFilter};
use strongroom_core::crypto::secret::SecretBytes;
use strongroom_core::error::Error;
use strongroom_core::keys::dates::{format_rfc3339, parse_time};
use strongroom_engine::keys::engine::{CreateKey, KeyFilter};
use strongroom_engine::keys::model::KeyMeta;
use strongroom_engine::keys::state::{KeyState, ALL_STATES};
use strongroom_engine::policy::ApprovalStatus;
use strongroom_service::approvals::{Command, CommandOutput};
use strongroom_service::gate::{Caller, Done, ErrorCode, Guarded, Kind};
use strongroom_service::Service;

use crate::session::{self, Current, Flash, NoSession, SESSION_COOKIE, SIGN_IN_COOKIE};
use crate::views::*;
use crate::ConsoleState;

pub(crate) type St = State<Arc<ConsoleState>>;

/// Audit records per page.
const AUDIT_PAGE: usize = 50;
/// Keys expiring within this many days are listed on the overview.
const EXPIRY_WARNING_DAYS: i64 = 30;

// ---------- answers ----------

pub(crate) fn html(status: StatusCode, t: impl Template) -> Response {
    match t.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// The HTTP status a refusal or failure is shown with (one match for every error).
pub(crate) fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::InvalidArgument(_)
        | Error::MalformedRequest(_)
        | Error::InvalidKeyUsage(_)
        | Error::InvalidCiphertext
        | Error::IncorrectKey
        | Error::InvalidShare(_)
        | Error::InvalidImportToken(_)
        | Error::ImportTokenExpired
        | Error::IncorrectKeyMaterial(_) => StatusCode::BAD_REQUEST,
        Error::Unauthenticated | Error::InvalidToken | Error::CertificateNotBound(_) => {
            StatusCode::UNAUTHORIZED
        }
        Error::AccessDenied(_) => StatusCode::FORBIDDEN,
        Error::ApprovalRequired { .. } => StatusCode::ACCEPTED,
        Error::KeyNotFound(_)
        | Error::AliasNotFound(_)
        | Error::VersionNotFound { .. }
        | Error::NotFound(_)
        | Error::SecretNotFound(_)
        | Error::ScanReportNotFound(_) => StatusCode::NOT_FOUND,
        Error::AliasExists(_)
        | Error::KeyDisabled(_)
        | Error::KeyPendingDeletion(_)
        | Error::KeyDestroyed(_)
        | Error::InvalidKeyState(_)
        | Error::VersionDisabled { .. }
        | Error::VersionBelowMinimum { .. }
        | Error::UsageLimitReached(_)
        | Error::Conflict(_)
        | Error::AlreadyInitialized
        | Error::KeyNotYetActive { .. }
        | Error::KeyExpired { .. }
        | Error::VersionCompromised { .. } => StatusCode::CONFLICT,
        Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Sealed
        | Error::NotInitialized
        | Error::AuditUnavailable
        | Error::AuditTampered { .. }
        | Error::StorageUnavailable(_)
        | Error::HsmUnavailable(_)
        | Error::AuditOpenFailed(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What the page says about a refusal or failure (never internals).
pub(crate) fn say(e: &Error) -> String {
    match e {
        Error::AccessDenied(_) => format!("Refused: {}", e.public_message()),
        Error::Sealed => {
            "The server is sealed: unseal it (strongroom operator unseal), then sign in again."
                .into()
        }
        _ => e.public_message(),
    }
}

pub(crate) fn chrome(c: &Ctx, nav: &'static str, title: impl Into<String>) -> Chrome {
    Chrome {
        user: c.caller.principal.id.clone(),
        root: c.caller.principal.is_root(),
        csrf: c.cur.csrf.clone(),
        flash: c.cur.flash.clone(),
        nav,
        title: title.into(),
    }
}

fn anonymous_chrome(title: &str) -> Chrome {
    Chrome {
        user: String::new(),
        root: false,
        csrf: String::new(),
        flash: None,
        nav: "",
        title: title.into(),
    }
}

pub(crate) fn message(
    c: Option<&Ctx>,
    status: StatusCode,
    title: &str,
    text: String,
    back: &str,
) -> Response {
    let chrome = match c {
        Some(c) => chrome(c, "", title),
        None => anonymous_chrome(title),
    };
    let mut resp = html(
        status,
        Message {
            chrome,
            text,
            back: back.into(),
        },
    );
    resp.extensions_mut()
        .insert(ErrorCode(match status.as_u16() {
            403 => "AccessDenied",
            404 => "NotFound",
            400 => "InvalidArgument",
            _ => "error",
        }));
    resp
}

/// After a form: the outcome as a one-time message, then back to `to`.
pub(crate) fn back_with(
    st: &ConsoleState,
    c: &Ctx,
    kind: &'static str,
    text: String,
    to: &str,
) -> Response {
    st.sessions.set_flash(&c.cur.id, Flash { kind, text });
    Redirect::to(to).into_response()
}

pub(crate) fn back_with_result<T>(
    st: &ConsoleState,
    c: &Ctx,
    r: Result<T, Error>,
    ok: impl FnOnce(T) -> String,
    to: &str,
) -> Response {
    match r {
        Ok(v) => back_with(st, c, "ok", ok(v), to),
        Err(Error::ApprovalRequired { id, .. }) => back_with(
            st,
            c,
            "info",
            format!(
                "Approval request {id} was created: this change is under dual control and runs once {} approvers (not you) approve it on the Approvals page.",
                st.service.dual_control.approvals
            ),
            to,
        ),
        Err(e) => back_with(st, c, "error", say(&e), to),
    }
}

pub(crate) fn time_s(t: i64) -> String {
    format_rfc3339(t)
}

pub(crate) fn time_ms(t: i64) -> String {
    format_rfc3339(t.div_euclid(1000))
}

pub(crate) fn opt_time(t: Option<i64>) -> String {
    t.map(time_s).unwrap_or_else(|| "—".into())
}

// ---------- the signed-in caller ----------

/// A signed-in request: the session and the caller its token authenticates.
pub struct Ctx {
    pub caller: Caller,
    pub cur: Current,
}

fn source_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl FromRequestParts<Arc<ConsoleState>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<ConsoleState>,
    ) -> Result<Self, Self::Rejection> {
        let now = st.service.now_ms();
        let Some(id) = session::cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Redirect::to("/ui/sign-in").into_response());
        };
        let (cur, token) = match st.sessions.touch(id, now) {
            Ok(s) => s,
            Err(NoSession::Absent) => return Err(Redirect::to("/ui/sign-in").into_response()),
            Err(NoSession::Expired) => {
                return Err(Redirect::to("/ui/sign-in?expired=1").into_response())
            }
        };
        let source = source_of(parts);
        let op = format!(
            "console {} {}",
            parts.method,
            parts.uri.path().chars().take(100).collect::<String>()
        );
        match st
            .service
            .authenticate_bearer(Some(token.expose()), source, || op)
            .await
        {
            Ok(caller) => Ok(Ctx { caller, cur }),
            Err(Error::InvalidToken) | Err(Error::Unauthenticated) => {
                // The token was revoked or expired: the session ends with it.
                st.sessions.end(&cur.id);
                Err(Redirect::to("/ui/sign-in?revoked=1").into_response())
            }
            Err(e) => Err(message(None, status_of(&e), "Unavailable", say(&e), "/ui/")),
        }
    }
}

/// Whether the caller's policies allow `action` (on `key`), and if not, why.
pub(crate) fn may(c: &Ctx, action: &str, key: Option<&KeyMeta>) -> Allowed {
    let d = Service::decide(&c.caller.principal, action, key, None);
    Allowed {
        allowed: d.allowed,
        why: if d.allowed {
            String::new()
        } else {
            format!("Not available to you: {}", d.reason)
        },
    }
}

pub(crate) fn not_now(why: &str) -> Allowed {
    Allowed {
        allowed: false,
        why: why.into(),
    }
}

pub(crate) fn guarded<'a>(action: &'static str, key: Option<&'a str>, kind: Kind) -> Guarded<'a> {
    Guarded {
        action,
        key,
        context: None,
        kind,
        command: None,
    }
}

/// A form body (`application/x-www-form-urlencoded`), checked for the
/// session's anti-forgery token before anything else looks at it.
pub(crate) fn form(c: &Ctx, body: &Bytes) -> Result<BTreeMap<String, String>, Box<Response>> {
    let fields: BTreeMap<String, String> = serde_urlencoded::from_bytes(body).map_err(|_| {
        Box::new(message(
            Some(c),
            StatusCode::BAD_REQUEST,
            "Bad form",
            "The form could not be read; reload the page and submit it again.".into(),
            "/ui/",
        ))
    })?;
    if !session::csrf_ok(&c.cur.csrf, fields.get("csrf").map(String::as_str)) {
        return Err(Box::new(csrf_refused(Some(c))));
    }
    Ok(fields)
}

fn csrf_refused(c: Option<&Ctx>) -> Response {
    message(
        c,
        StatusCode::FORBIDDEN,
        "Refused",
        "Refused: the form did not carry this session's security token (CSRF protection). Nothing was changed. Reload the page and submit the form from it.".into(),
        "/ui/",
    )
}

pub(crate) fn field<'a>(f: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    f.get(name).map(|s| s.trim()).unwrap_or("")
}

// ---------- sign-in and sign-out ----------

#[derive(Deserialize)]
pub struct SignInQuery {
    expired: Option<String>,
    revoked: Option<String>,
}

pub async fn sign_in_page(State(st): St, q: QueryResult<SignInQuery>) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or(SignInQuery {
        expired: None,
        revoked: None,
    });
    let notice = if q.expired.is_some() {
        format!(
            "Your session ended after {} minutes without use. Sign in again.",
            crate::DEFAULT_IDLE_SECS / 60
        )
    } else if q.revoked.is_some() {
        "Your token no longer authenticates (revoked or expired), so the session ended.".into()
    } else {
        String::new()
    };
    sign_in_form(&st, StatusCode::OK, notice, String::new())
}

fn sign_in_form(st: &ConsoleState, status: StatusCode, notice: String, error: String) -> Response {
    let Some(token) = session::random_token(st.service.seal.rng().as_ref()) else {
        return message(
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The random number generator failed; try again.".into(),
            "/ui/sign-in",
        );
    };
    let mut resp = html(
        status,
        SignIn {
            chrome: anonymous_chrome("Sign in"),
            form_token: token.clone(),
            notice,
            error,
        },
    );
    if let Ok(v) = session::set_cookie(SIGN_IN_COOKIE, &token, st.service.tls, Some(600)).parse() {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

pub async fn sign_in(State(st): St, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers: HeaderMap = parts.headers.clone();
    let source = source_of(&parts);
    // The shared layers have read the body already, within the request limit.
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
        return sign_in_form(
            &st,
            StatusCode::PAYLOAD_TOO_LARGE,
            String::new(),
            "The sign-in form was too large.".into(),
        );
    };
    let fields: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let expected = session::cookie(&headers, SIGN_IN_COOKIE).unwrap_or("");
    if !session::csrf_ok(expected, fields.get("csrf").map(String::as_str)) {
        return csrf_refused(None);
    }
    let token = SecretBytes::from_slice(
        fields
            .get("token")
            .map(|t| t.trim())
            .unwrap_or("")
            .as_bytes(),
    );
    drop(fields);
    if token.is_empty() {
        return sign_in_form(
            &st,
            StatusCode::BAD_REQUEST,
            String::new(),
            "Enter your Strongroom token.".into(),
        );
    }
    match st
        .service
        .authenticate_bearer(Some(token.expose()), source, || "console sign-in".into())
        .await
    {
        Ok(_) => {}
        Err(e) => {
            let status = status_of(&e);
            let text = match e {
                Error::InvalidToken | Error::Unauthenticated => {
                    "That token is not valid (unknown, expired or revoked).".to_string()
                }
                ref other => say(other),
            };
            let mut resp = sign_in_form(&st, status, String::new(), text);
            resp.extensions_mut().insert(ErrorCode(e.code()));
            return resp;
        }
    }
    let now = st.service.now_ms();
    let Some(id) = st
        .sessions
        .create(st.service.seal.rng().as_ref(), token, now)
    else {
        return message(
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The random number generator failed; try again.".into(),
            "/ui/sign-in",
        );
    };
    let mut resp = Redirect::to("/ui/").into_response();
    let h = resp.headers_mut();
    if let Ok(v) = session::set_cookie(SESSION_COOKIE, &id, st.service.tls, None).parse() {
        h.append(SET_COOKIE, v);
    }
    if let Ok(v) = session::set_cookie(SIGN_IN_COOKIE, "", st.service.tls, Some(0)).parse() {
        h.append(SET_COOKIE, v);
    }
    resp
}

pub async fn sign_out(State(st): St, c: Ctx, body: Bytes) -> Response {
    if let Err(r) = form(&c, &body) {
        return *r;
    }
    st.sessions.end(&c.cur.id);
    let mut resp = Redirect::to("/ui/sign-in").into_response();
    if let Ok(v) = session::set_cookie(SESSION_COOKIE, "", st.service.tls, Some(0)).parse() {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

pub async fn to_overview() -> Redirect {
    Redirect::permanent("/ui/")
}

pub async fn not_found(c: Result<Ctx, Response>) -> Response {
    message(
        c.as_ref().ok(),
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such console page.".into(),
        "/ui/",
    )
}

// ---------- overview ----------

fn chain_view(v: &audit::VerifyReport) -> Chain {
    Chain {
        ok: v.ok,
        entries: v.entries,
        checkpoints: v.checkpoints,
        first_bad: v
            .first_bad_index
            .map(|i| i.to_string())
            .unwrap_or_else(|| "?".into()),
        reason: v.reason.clone().unwrap_or_default(),
        head: v.head_hash.chars().take(16).collect(),
    }
}

fn audit_err(e: audit::AuditError) -> Error {
    match e {
        audit::AuditError::Unavailable(m) => Error::StorageUnavailable(format!("audit log: {m}")),
        other => Error::InvalidArgument(other.to_string()),
    }
}

/// Verifies the audit log's hash chain and checkpoint signatures as
/// `caller` (one gated `strongroom:ReadAudit` call).
pub(crate) async fn verify_chain_as(svc: &Service, caller: &Caller) -> Result<Chain, Error> {
    svc.run(
        caller,
        guarded("strongroom:ReadAudit", None, Kind::Read),
        |s| {
            let log = s.audit_log()?;
            let (next, head) = log.head();
            let report = audit::verify_log(log.path(), &log.public_key(), Some((next, &head)))
                .map_err(audit_err)?;
            Ok(Done::new(chain_view(&report)))
        },
    )
    .await
}

/// Verifies now (the audit page's check, "Verify now"), keeping the result
/// for the overview.
async fn verify_chain(st: &ConsoleState, c: &Ctx) -> Result<Chain, Error> {
    crate::chain::check_now(st, &c.caller)
        .await
        .map(|k| k.chain)
}

fn took(d: std::time::Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// "Verify now" on the overview: the chain check at once, as the caller.
pub async fn verify_now(State(st): St, c: Ctx, body: Bytes) -> Response {
    if let Err(r) = form(&c, &body) {
        return *r;
    }
    match crate::chain::check_now(&st, &c.caller).await {
        Ok(k) if k.chain.ok => back_with(
            &st,
            &c,
            "ok",
            format!(
                "Audit chain intact: {} entries, {} signed checkpoints (checked in {}).",
                k.chain.entries,
                k.chain.checkpoints,
                took(k.took)
            ),
            "/ui/",
        ),
        Ok(k) => back_with(
            &st,
            &c,
            "error",
            format!(
                "Audit chain BROKEN at index {}: {}",
                k.chain.first_bad, k.chain.reason
            ),
            "/ui/",
        ),
        Err(e) => back_with(&st, &c, "error", say(&e), "/ui/"),
    }
}

/// Most keys listed under overdue rotations and under expiry on the overview.
const OVERVIEW_LIST: usize = 50;
/// The overview counts overdue or expiring keys up to this many.
const OVERVIEW_COUNT_CAP: usize = 100_000;

fn capped(n: usize) -> String {
    if n >= OVERVIEW_COUNT_CAP {
        format!("At least {OVERVIEW_COUNT_CAP}")
    } else {
        n.to_string()
    }
}

fn chain_status(st: &Arc<ConsoleState>, c: &Ctx) -> ChainStatus {
    crate::chain::refresh_if_stale(st, &c.caller);
    let (last, running) = st.chain.snapshot();
    ChainStatus {
        checked: last
            .as_ref()
            .map(|k| format!("{} by {}, took {}", time_ms(k.at_ms), k.by, took(k.took)))
            .unwrap_or_default(),
        last: last.map(|k| k.chain),
        running_since: running.map(time_ms).unwrap_or_default(),
        every: format!(
            "The console checks again in the background when the result is over {} minutes old.",
            crate::chain::RECHECK_SECS / 60
        ),
    }
}

pub async fn overview(State(st): St, c: Ctx) -> Response {
    let svc = &st.service;
    let mut refusals = Vec::new();
    let status = svc.seal.status();
    let (seal, storage) = match &status {
        Ok(s) => (
            format!(
                "{} ({}){}",
                if s.sealed { "sealed" } else { "unsealed" },
                s.seal_type,
                if s.seal_type == "shamir" {
                    format!(", {} of {} shares", s.threshold, s.shares)
                } else {
                    String::new()
                }
            ),
            s.storage.clone(),
        ),
        Err(e) => (say(e), String::new()),
    };
    let dual_control = if svc.dual_control.enabled {
        format!(
            "on: {} approvals for {}",
            svc.dual_control.approvals,
            svc.dual_control.actions.join(", ")
        )
    } else {
        "off".into()
    };
    let (mut keys, mut total_keys, mut overdue, mut expiring) = (None, 0, None, None);
    let (mut overdue_total, mut expiring_total) = (String::new(), String::new());
    if may(&c, "kms:ListKeys", None).allowed {
        // Bounded reads of the engine's indexes: the counts by state, and
        // the first keys due, whatever the number of keys.
        let r = svc
            .run(&c.caller, guarded("kms:ListKeys", None, Kind::Use), |s| {
                let counts = s.engine.counts_by_state()?;
                let due = s
                    .engine
                    .rotation_overdue(OVERVIEW_LIST, OVERVIEW_COUNT_CAP)?;
                let exp = s.engine.expiring_within(
                    EXPIRY_WARNING_DAYS,
                    OVERVIEW_LIST,
                    OVERVIEW_COUNT_CAP,
                )?;
                Ok(Done::new((counts, due, exp)))
            })
            .await;
        match r {
            Ok((counts, due, exp)) => {
                total_keys = counts.values().sum();
                keys = Some(
                    ALL_STATES
                        .iter()
                        .map(|s| Count {
                            label: s.name().into(),
                            n: counts.get(s).copied().unwrap_or(0),
                        })
                        .collect(),
                );
                let now = svc.now_ms() / 1000;
                overdue_total = capped(due.total);
                overdue = Some(
                    due.keys
                        .into_iter()
                        .map(|m| Brief {
                            note: format!("rotation due since {}", opt_time(m.next_rotation_at)),
                            id: m.id,
                            owner: m.owner,
                        })
                        .collect(),
                );
                expiring_total = capped(exp.total);
                expiring = Some(
                    exp.keys
                        .into_iter()
                        .map(|m| {
                            let left = m
                                .expiry_date
                                .map(|x| (x - now).div_euclid(86_400))
                                .unwrap_or(0);
                            Brief {
                                note: if m.expiry_date.is_some_and(|x| x <= now) {
                                    "expired".into()
                                } else {
                                    format!("expires in {left} days")
                                },
                                id: m.id,
                                owner: m.owner,
                            }
                        })
                        .collect(),
                );
            }
            Err(e) => refusals.push(say(&e)),
        }
    }
    let mut pending = None;
    if may(&c, "strongroom:ListApprovals", None).allowed {
        match svc
            .run(
                &c.caller,
                guarded("strongroom:ListApprovals", None, Kind::Use),
                |s| Ok(Done::new(s.registry.list_approvals()?)),
            )
            .await
        {
            Ok(list) => {
                pending = Some(
                    list.iter()
                        .filter(|a| a.status == ApprovalStatus::Pending)
                        .count(),
                )
            }
            Err(e) => refusals.push(say(&e)),
        }
    }
    let mut chain = None;
    if may(&c, "strongroom:ReadAudit", None).allowed {
        // Seeing the kept result is reading the audit log: gated and audited.
        match svc
            .run(
                &c.caller,
                guarded("strongroom:ReadAudit", None, Kind::Use),
                |_| Ok(Done::new(())),
            )
            .await
        {
            Ok(()) => chain = Some(chain_status(&st, &c)),
            Err(e) => refusals.push(say(&e)),
        }
    }
    html(
        StatusCode::OK,
        Overview {
            chrome: chrome(&c, "overview", "Overview"),
            seal,
            storage,
            dual_control,
            keys,
            total_keys,
            overdue,
            overdue_total,
            expiring,
            expiring_total,
            pending,
            chain,
            refusals,
        },
    )
}

// ---------- keys ----------

#[derive(Deserialize, Default)]
pub struct KeysQuery {
    state: Option<String>,
    alias: Option<String>,
    owner: Option<String>,
    tag: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub(crate) fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn keys_link(q: &KeysQuery, cursor: Option<&str>) -> String {
    let mut p: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("state", &q.state),
        ("alias", &q.alias),
        ("owner", &q.owner),
        ("tag", &q.tag),
        ("sort", &q.sort),
        ("limit", &q.limit),
    ] {
        if let Some(v) = nonempty(v) {
            p.push((k, v));
        }
    }
    if let Some(c) = cursor {
        p.push(("cursor", c.to_string()));
    }
    format!(
        "/ui/keys?{}",
        serde_urlencoded::to_string(&p).unwrap_or_default()
    )
}

/// The key list's rows and next cursor for `q`, through the gate. Bad
/// filters are refused with what to write instead.
pub async fn list_keys(svc: &Service, caller: &Caller, q: &KeysQuery) -> Result<KeyList, Error> {
    let state = match nonempty(&q.state) {
        None => None,
        Some(s) => Some(KeyState::parse(&s).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown state {s:?}; choose Enabled, Disabled, PendingDeletion, Destroyed or PendingImport"
            ))
        })?),
    };
    let tag = match nonempty(&q.tag) {
        None => None,
        Some(t) => {
            let (k, v) = t.split_once('=').ok_or_else(|| {
                Error::InvalidArgument(format!("the tag filter {t:?} must be key=value"))
            })?;
            Some((k.trim().to_string(), v.trim().to_string()))
        }
    };
    let limit = match nonempty(&q.limit) {
        None => 100,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "{l:?} keys per page is out of range; use 1 to 1000"
                )))
            }
        },
    };
    let filter = KeyFilter {
        alias: nonempty(&q.alias),
        owner: nonempty(&q.owner),
        state,
        tag,
    };
    let cursor = nonempty(&q.cursor);
    let page = svc
        .run(caller, guarded("kms:ListKeys", None, Kind::Use), move |s| {
            Ok(Done::new(s.engine.list_bounded(
                &filter,
                limit,
                cursor.as_deref(),
                SCAN_BUDGET,
            )?))
        })
        .await?;
    let partial = if page.scan_limited {
        format!(
            "This page searched {} keys and found {} that match, so it stopped early; Next page goes on searching.",
            page.examined,
            page.keys.len()
        )
    } else {
        String::new()
    };
    let next = page.next;
    let mut rows: Vec<KeyRow> = page
        .keys
        .into_iter()
        .map(|m| KeyRow {
            alias: m.aliases.first().cloned().unwrap_or_default(),
            description: m.description,
            state: m.state.name().into(),
            spec: m.spec.name().into(),
            owner: m.owner,
            created: time_s(m.created_at),
            id: m.id,
        })
        .collect();
    match q.sort.as_deref() {
        Some("description") => rows.sort_by(|a, b| a.description.cmp(&b.description)),
        Some("state") => rows.sort_by(|a, b| a.state.cmp(&b.state)),
        _ => {}
    }
    Ok(KeyList {
        rows,
        next,
        limit,
        partial,
    })
}

/// A page of the key list.
pub struct KeyList {
    pub rows: Vec<KeyRow>,
    pub next: Option<String>,
    pub limit: usize,
    /// Why the page has fewer rows than asked ("" when it does not).
    pub partial: String,
}

/// Most keys one page of the key list examines: a filter the engine's
/// indexes answer walks only matching keys, but a combination of filters
/// whose smallest index is large may examine many keys that do not match
/// all of them; the page then stops here and says so.
const SCAN_BUDGET: usize = 100_000;

pub(crate) type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

pub(crate) fn bad_query(
    c: &Ctx,
    r: axum::extract::rejection::QueryRejection,
    back: &str,
) -> Response {
    message(
        Some(c),
        StatusCode::BAD_REQUEST,
        "Bad address",
        format!("The address's query string is not valid: {}", r.body_text()),
        back,
    )
}

pub async fn keys(State(st): St, c: Ctx, q: QueryResult<KeysQuery>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(r) => return bad_query(&c, r, "/ui/keys"),
    };
    let (
        KeyList {
            rows,
            next,
            limit,
            partial,
        },
        refused,
        status,
    ) = match list_keys(&st.service, &c.caller, &q).await {
        Ok(l) => (l, String::new(), StatusCode::OK),
        Err(e) => (
            KeyList {
                rows: Vec::new(),
                next: None,
                limit: 100,
                partial: String::new(),
            },
            say(&e),
            status_of(&e),
        ),
    };
    let state = nonempty(&q.state).unwrap_or_default();
    let page = Keys {
        chrome: chrome(&c, "keys", "Keys"),
        states: ALL_STATES
            .iter()
            .map(|s| (s.name(), s.name() == state))
            .collect(),
        state,
        alias: nonempty(&q.alias).unwrap_or_default(),
        owner: nonempty(&q.owner).unwrap_or_default(),
        tag: nonempty(&q.tag).unwrap_or_default(),
        sort: nonempty(&q.sort).unwrap_or_else(|| "created".into()),
        limit,
        next: next.as_deref().map(|n| keys_link(&q, Some(n))),
        first: nonempty(&q.cursor).map(|_| keys_link(&q, None)),
        rows,
        partial,
        refused,
        create: may(&c, "kms:CreateKey", None),
        specs: strongroom_core::crypto::spec::ALL_SPECS
            .iter()
            .map(|s| s.name())
            .collect(),
    };
    html(status, page)
}

pub async fn create_key(State(st): St, c: Ctx, body: Bytes) -> Response {
    let f = match form(&c, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut req = CreateKey {
        description: field(&f, "description").to_string(),
        owner: field(&f, "owner").to_string(),
        ..CreateKey::default()
    };
    let spec = field(&f, "spec");
    if !spec.is_empty() {
        req.spec = Some(spec.to_string());
    }
    let alias = field(&f, "alias");
    if !alias.is_empty() {
        req.aliases = vec![alias.to_string()];
    }
    let tag = field(&f, "tag");
    if !tag.is_empty() {
        let Some((k, v)) = tag.split_once('=') else {
            return back_with(
                &st,
                &c,
                "error",
                format!("The tag {tag:?} must be key=value; nothing was created."),
                "/ui/keys",
            );
        };
        req.tags.insert(k.trim().to_string(), v.trim().to_string());
    }
    let aes = req.spec.as_deref().is_none_or(|s| {
        strongroom_core::crypto::spec::KeySpec::parse(s)
            == Some(strongroom_core::crypto::spec::KeySpec::Aes256Gcm)
    });
    if aes && st.service.default_rotation_days > 0 {
        req.rotation_period_days = Some(st.service.default_rotation_days);
    }
    let r = st
        .service
        .run(
            &c.caller,
            guarded("kms:CreateKey", None, Kind::Change),
            move |s| {
                let m = s.engine.create(req)?;
                let (id, v) = (m.id.clone(), m.primary_version);
                Ok(Done::new(m).key(id, Some(v)))
            },
        )
        .await;
    match r {
        Ok(m) => back_with(
            &st,
            &c,
            "ok",
            format!("Key {} was created.", m.id),
            &format!("/ui/keys/{}", m.id),
        ),
        Err(e) => back_with_result::<()>(&st, &c, Err(e), |_| String::new(), "/ui/keys"),
    }
}

fn key_actions(st: &ConsoleState, c: &Ctx, m: &KeyMeta) -> KeyActions {
    let state = m.state;
    let gate = |action: &str, ok_state: bool, why_state: &str| {
        let allowed = may(c, action, Some(m));
        if allowed.allowed && !ok_state {
            return not_now(why_state);
        }
        allowed
    };
    let dual = !c.caller.principal.is_root()
        && st.service.dual_control.requires("kms:ScheduleKeyDeletion");
    KeyActions {
        rotate: gate(
            "kms:RotateKeyOnDemand",
            state == KeyState::Enabled,
            "Only an enabled key can be rotated.",
        ),
        enable: gate(
            "kms:EnableKey",
            state == KeyState::Disabled,
            "Only a disabled key can be enabled.",
        ),
        disable: gate(
            "kms:DisableKey",
            state == KeyState::Enabled,
            "Only an enabled key can be disabled.",
        ),
        min_version: gate(
            "kms:SetMinDecryptionVersion",
            matches!(state, KeyState::Enabled | KeyState::Disabled),
            "Not while the key is pending deletion or destroyed.",
        ),
        schedule: gate(
            "kms:ScheduleKeyDeletion",
            matches!(
                state,
                KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport
            ),
            "The key is already pending deletion or destroyed.",
        ),
        cancel: gate(
            "kms:CancelKeyDeletion",
            state == KeyState::PendingDeletion,
            "The key is not pending deletion.",
        ),
        compromise: gate(
            "strongroom:CompromiseKey",
            matches!(state, KeyState::Enabled | KeyState::Disabled),
            "Not while the key is pending deletion or destroyed.",
        ),
        schedule_label: if dual {
            format!(
                "Request deletion (needs {} approvals)",
                st.service.dual_control.approvals
            )
        } else {
            "Schedule deletion".into()
        },
    }
}

/// Everything the key page shows, read through the gate as `caller`
/// (`kms:DescribeKey`; the public key under `kms:GetPublicKey` when allowed).
pub async fn key_view(
    svc: &Service,
    caller: &Caller,
    id: &str,
) -> Result<(KeyMeta, Vec<u64>, Vec<String>, String), Error> {
    let k = id.to_string();
    let principal = caller.principal.clone();
    svc.run_on_key(
        caller,
        guarded("kms:DescribeKey", Some(id), Kind::Use),
        move |s, h| {
            let m = h.meta().clone();
            let uses = m
                .versions
                .iter()
                .map(|v| s.engine.usage_count(&m.id, v.version).unwrap_or(0))
                .collect();
            let policy = s
                .registry
                .key_policy(&m.id)
                .unwrap_or_default()
                .into_iter()
                .map(|(who, p)| format!("{} (attached to {who})", p.name))
                .collect();
            let public_key_allowed =
                Service::decide(&principal, "kms:GetPublicKey", Some(&m), None).allowed;
            let pem = if public_key_allowed && m.spec.name() != "AES_256_GCM" {
                s.engine
                    .get_public_key(&k)
                    .map(|p| pem("PUBLIC KEY", &p.der))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let (id, v) = (m.id.clone(), m.primary_version);
            Ok(Done::new((m, uses, policy, pem)).key(id, Some(v)))
        },
    )
    .await
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----"));
    out
}

pub async fn key_detail(State(st): St, c: Ctx, Path(id): Path<String>) -> Response {
    let (m, uses, policy, public_key) = match key_view(&st.service, &c.caller, &id).await {
        Ok(v) => v,
        Err(e) => {
            return message(Some(&c), status_of(&e), "Key", say(&e), "/ui/keys");
        }
    };
    let actions = key_actions(&st, &c, &m);
    let mut versions: Vec<VersionRow> = m
        .versions
        .iter()
        .zip(uses)
        .map(|(v, n)| VersionRow {
            version: v.version,
            state: format!("{:?}", v.state),
            created: time_s(v.created_at),
            rotation: match v.rotation_type {
                None if v.version == 1 => "created".into(),
                None => "rotated".into(),
                Some(t) => format!("{t:?}"),
            },
            uses: n.to_string(),
            primary: v.version == m.primary_version,
        })
        .collect();
    versions.reverse();
    let facts = vec![
        ("Id".to_string(), m.id.clone()),
        ("Description".into(), m.description.clone()),
        ("State".into(), m.state.name().into()),
        ("Spec".into(), m.spec.name().into()),
        ("Usage".into(), format!("{:?}", m.usage)),
        ("Origin".into(), format!("{:?}", m.origin)),
        ("Owner".into(), m.owner.clone()),
        ("Purpose".into(), m.purpose.clone()),
        ("Created".into(), time_s(m.created_at)),
        ("Primary version".into(), m.primary_version.to_string()),
        (
            "Minimum decryption version".into(),
            m.min_decryption_version.to_string(),
        ),
        ("Activation".into(), opt_time(m.activation_date)),
        ("Expiry".into(), opt_time(m.expiry_date)),
        ("Deletion date".into(), opt_time(m.deletion_date)),
    ];
    let rotation = vec![
        (
            "Period".to_string(),
            m.rotation_period_days
                .map(|d| format!("every {d} days"))
                .unwrap_or_else(|| "none (on demand only)".into()),
        ),
        ("Next rotation".into(), opt_time(m.next_rotation_at)),
        ("Last rotation".into(), opt_time(m.rotated_at)),
    ];
    let compromises = m
        .compromises
        .iter()
        .map(|x| format!("version {} at {}: {}", x.version, time_s(x.at), x.reason))
        .collect();
    let audit_link = format!(
        "/ui/audit?{}",
        serde_urlencoded::to_string([("key", m.id.as_str())]).unwrap_or_default()
    );
    html(
        StatusCode::OK,
        KeyPage {
            chrome: chrome(
                &c,
                "keys",
                format!("Key {}", m.aliases.first().unwrap_or(&m.id)),
            ),
            id: m.id.clone(),
            facts,
            aliases: m.aliases.clone(),
            tags: m.tags.clone().into_iter().collect(),
            policy,
            versions,
            rotation,
            compromises,
            public_key,
            actions,
            audit_link,
        },
    )
}

fn key_meta(out: CommandOutput) -> Result<KeyMeta, Error> {
    match out {
        CommandOutput::Key(m) => Ok(*m),
        CommandOutput::Value(_) => Err(Error::Internal("a key command returned no key".into())),
    }
}

pub async fn key_action(
    State(st): St,
    c: Ctx,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let f = match form(&c, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let to = format!("/ui/keys/{id}");
    let svc = &st.service;
    let k = id.clone();
    let change = |action: &'static str| guarded(action, Some(id.as_str()), Kind::Change);
    let done = |m: KeyMeta| {
        let (i, v) = (m.id.clone(), m.primary_version);
        Done::new(m).key(i, Some(v))
    };
    let number = |name: &str, what: &str| -> Result<u32, String> {
        let v = field(&f, name);
        v.parse::<u32>()
            .map_err(|_| format!("{what} {v:?} is not a whole number; nothing was changed."))
    };
    let r: Result<KeyMeta, Error> = match action.as_str() {
        "rotate" => {
            svc.run(&c.caller, change("kms:RotateKeyOnDemand"), move |s| {
                s.engine.rotate(&k).map(done)
            })
            .await
        }
        "enable" => {
            svc.run(&c.caller, change("kms:EnableKey"), move |s| {
                s.engine.enable(&k).map(done)
            })
            .await
        }
        "disable" => {
            svc.run(&c.caller, change("kms:DisableKey"), move |s| {
                s.engine.disable(&k).map(done)
            })
            .await
        }
        "cancel-deletion" => {
            svc.run(&c.caller, change("kms:CancelKeyDeletion"), move |s| {
                s.engine.cancel_deletion(&k).map(done)
            })
            .await
        }
        "schedule-deletion" => {
            let days = match number("days", "The number of days") {
                Ok(d) => d,
                Err(m) => return back_with(&st, &c, "error", m, &to),
            };
            let cmd = Command::ScheduleKeyDeletion {
                key: k,
                pending_window_days: Some(i64::from(days)),
            };
            svc.submit(&c.caller, cmd).await.and_then(key_meta)
        }
        "min-version" => {
            let version = match number("version", "The version") {
                Ok(d) => d,
                Err(m) => return back_with(&st, &c, "error", m, &to),
            };
            // Only lowering the minimum is dual-controlled (as on the API).
            let lowering = svc
                .seal
                .engine()
                .and_then(|e| e.describe(&id))
                .map(|m| version < m.min_decryption_version)
                .unwrap_or(false);
            let cmd = Command::SetMinDecryptionVersion { key: k, version };
            if lowering {
                svc.submit(&c.caller, cmd).await.and_then(key_meta)
            } else {
                svc.submit_direct(&c.caller, cmd).await.and_then(key_meta)
            }
        }
        "compromise" => {
            let reason = field(&f, "reason").to_string();
            if reason.is_empty() {
                return back_with(
                    &st,
                    &c,
                    "error",
                    "Give the reason for the compromise; nothing was changed.".into(),
                    &to,
                );
            }
            let g = Guarded {
                action: "strongroom:CompromiseKey",
                key: Some(&id),
                context: None,
                kind: Kind::Change,
                command: None,
            };
            svc.run(&c.caller, g, move |s| {
                s.engine.compromise(&k, None, &reason).map(|(m, _)| done(m))
            })
            .await
        }
        _ => {
            return message(
                Some(&c),
                StatusCode::NOT_FOUND,
                "Not found",
                format!("There is no key action {action:?}."),
                &to,
            )
        }
    };
    let what = action.clone();
    back_with_result(
        &st,
        &c,
        r,
        move |m| match what.as_str() {
            "rotate" => format!("Rotated: the primary version is now {}.", m.primary_version),
            "compromise" => format!(
                "The version was declared compromised; the key was rotated to version {}.",
                m.primary_version
            ),
            _ => format!("Done: the key is {} now.", m.state.name()),
        },
        &to,
    )
}

// ---------- approvals ----------

pub async fn approvals(State(st): St, c: Ctx) -> Response {
    let r = st
        .service
        .run(
            &c.caller,
            guarded("strongroom:ListApprovals", None, Kind::Use),
            |s| Ok(Done::new(s.registry.list_approvals()?)),
        )
        .await;
    let (mut list, refused, status) = match r {
        Ok(l) => (l, String::new(), StatusCode::OK),
        Err(e) => (Vec::new(), say(&e), status_of(&e)),
    };
    // Pending first, then newest first.
    list.sort_by(|a, b| {
        (a.status != ApprovalStatus::Pending)
            .cmp(&(b.status != ApprovalStatus::Pending))
            .then(b.created_ms.cmp(&a.created_ms))
    });
    let now = st.service.now_ms();
    let me = c.caller.principal.id.clone();
    let can = may(&c, "strongroom:Approve", None);
    let is_approver = c.caller.principal.roles.iter().any(|r| r == "approver");
    let rows = list
        .into_iter()
        .take(200)
        .map(|a| {
            let pending = a.status == ApprovalStatus::Pending && a.expires_ms > now;
            let decide = if a.requester == me {
                not_now("You made this request: dual control needs another approver to decide it, so you cannot approve or deny your own request.")
            } else if a.approvals.contains(&me) {
                not_now("You have already approved this request; it needs another approver.")
            } else if !can.allowed {
                not_now(&can.why)
            } else if !is_approver {
                not_now("Only identities with the approver role can decide requests.")
            } else {
                Allowed {
                    allowed: true,
                    why: String::new(),
                }
            };
            let mut decided = a.approvals.iter().map(|x| format!("{x} (approved)")).collect::<Vec<_>>();
            decided.extend(a.denials.iter().map(|x| format!("{x} (denied)")));
            ApprovalRow {
                key_link: a
                    .key_id
                    .as_ref()
                    .map(|k| match k.strip_prefix("secret/") {
                        Some(p) => format!("/ui/secrets/{p}"),
                        None => format!("/ui/keys/{k}"),
                    })
                    .unwrap_or_default(),
                key: a.key_id.clone().unwrap_or_else(|| "—".into()),
                action: a.action,
                requester: a.requester,
                created: time_ms(a.created_ms),
                expires: time_ms(a.expires_ms),
                status: if a.status == ApprovalStatus::Pending && !pending {
                    "Expired".into()
                } else {
                    format!("{:?}", a.status)
                },
                progress: format!("{} of {}", a.approvals.len(), a.required),
                decided_by: decided.join(", "),
                pending,
                decide,
                id: a.id,
            }
        })
        .collect();
    html(
        status,
        Approvals {
            chrome: chrome(&c, "approvals", "Approvals"),
            rows,
            refused,
        },
    )
}

pub async fn decide(
    State(st): St,
    c: Ctx,
    Path((id, decision)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(r) = form(&c, &body) {
        return *r;
    }
    let approve = match decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return not_found(Ok(c)).await,
    };
    let r = st
        .service
        .decide_approval(&c.caller, id.clone(), approve)
        .await;
    back_with_result(
        &st,
        &c,
        r,
        move |d| match (approve, d.executed) {
            (false, _) => format!("You denied request {id}; it will never run."),
            (true, Some(_)) => {
                format!("You approved request {id}: the quorum was reached and the change ran.")
            }
            (true, None) => format!(
                "You approved request {id} ({} of {}); it needs more approvals.",
                d.approval.approvals.len(),
                d.approval.required
            ),
        },
        "/ui/approvals",
    )
}

// ---------- audit ----------

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    key: Option<String>,
    identity: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<usize>,
    verify: Option<String>,
}

const OUTCOMES: [&str; 4] = ["allowed", "denied", "error", "pending"];

fn audit_link(q: &AuditQuery, page: Option<usize>, verify: bool) -> String {
    let mut p: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("key", &q.key),
        ("identity", &q.identity),
        ("action", &q.action),
        ("outcome", &q.outcome),
        ("from", &q.from),
        ("to", &q.to),
    ] {
        if let Some(v) = nonempty(v) {
            p.push((k, v));
        }
    }
    if let Some(n) = page.filter(|n| *n > 0) {
        p.push(("page", n.to_string()));
    }
    if verify {
        p.push(("verify", "1".into()));
    }
    format!(
        "/ui/audit?{}",
        serde_urlencoded::to_string(&p).unwrap_or_default()
    )
}

fn audit_filter(q: &AuditQuery) -> Result<AuditFilter, Error> {
    let time = |v: &Option<String>, name: &str| -> Result<Option<i64>, Error> {
        match nonempty(v) {
            None => Ok(None),
            Some(s) => parse_time(&s)
                .map(|t| Some(t.saturating_mul(1000)))
                .map_err(|m| Error::InvalidArgument(format!("{name}: {m}"))),
        }
    };
    let outcome = nonempty(&q.outcome);
    if let Some(o) = &outcome {
        if !OUTCOMES.contains(&o.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "unknown outcome {o:?}; choose allowed, denied, error or pending"
            )));
        }
    }
    Ok(AuditFilter {
        key_id: nonempty(&q.key),
        identity: nonempty(&q.identity),
        operation: nonempty(&q.action),
        outcome,
        from_ms: time(&q.from, "from")?,
        to_ms: time(&q.to, "to")?,
        limit: None,
    })
}

pub async fn audit(State(st): St, c: Ctx, q: QueryResult<AuditQuery>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(r) => return bad_query(&c, r, "/ui/audit"),
    };
    let page = q.page.unwrap_or(0);
    let outcome = nonempty(&q.outcome).unwrap_or_default();
    let mut view = Audit {
        chrome: chrome(&c, "audit", "Audit log"),
        key: nonempty(&q.key).unwrap_or_default(),
        identity: nonempty(&q.identity).unwrap_or_default(),
        action: nonempty(&q.action).unwrap_or_default(),
        from: nonempty(&q.from).unwrap_or_default(),
        to: nonempty(&q.to).unwrap_or_default(),
        outcomes: OUTCOMES.iter().map(|o| (*o, *o == outcome)).collect(),
        rows: Vec::new(),
        matched: 0,
        showing: String::new(),
        prev: None,
        next: None,
        chain: None,
        verify_link: audit_link(&q, Some(page), true),
        refused: String::new(),
    };
    let filter = match audit_filter(&q) {
        Ok(f) => f,
        Err(e) => {
            view.refused = say(&e);
            return html(StatusCode::BAD_REQUEST, view);
        }
    };
    let r = st
        .service
        .run(
            &c.caller,
            guarded("strongroom:ReadAudit", None, Kind::Read),
            move |s| {
                let rows = audit::query(s.audit_log()?.path(), &filter).map_err(audit_err)?;
                Ok(Done::new(rows))
            },
        )
        .await;
    let rows = match r {
        Ok(rows) => rows,
        Err(e) => {
            view.refused = say(&e);
            return html(status_of(&e), view);
        }
    };
    view.matched = rows.len();
    let skip = page.saturating_mul(AUDIT_PAGE);
    view.rows = rows
        .into_iter()
        .rev()
        .skip(skip)
        .take(AUDIT_PAGE)
        .map(|(i, e)| AuditRow {
            index: i,
            time: time_ms(e.time_ms),
            identity: e.identity,
            root: e.root,
            operation: e.operation,
            key: e
                .key_id
                .map(|k| match e.key_version {
                    Some(v) => format!("{k} v{v}"),
                    None => k,
                })
                .unwrap_or_default(),
            outcome: e.outcome,
            code: e.error_code.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        })
        .collect();
    if view.matched > AUDIT_PAGE {
        view.showing = format!(
            "; showing {} to {}",
            (skip + 1).min(view.matched),
            (skip + view.rows.len()).min(view.matched)
        );
    }
    if page > 0 {
        view.prev = Some(audit_link(&q, Some(page - 1), false));
    }
    if skip + AUDIT_PAGE < view.matched {
        view.next = Some(audit_link(&q, Some(page + 1), false));
    }
    if q.verify.is_some() {
        match verify_chain(&st, &c).await {
            Ok(ch) => view.chain = Some(ch),
            Err(e) => view.refused = say(&e),
        }
    }
    html(StatusCode::OK, view)
}

// ---------- compliance ----------

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn compliance(State(st): St, c: Ctx) -> Response {
    let r = st.service.compliance_report(&c.caller, st.dev_mode).await;
    let mut view = Compliance {
        chrome: chrome(&c, "compliance", "Compliance report"),
        overall: String::new(),
        generated: String::new(),
        counts: String::new(),
        findings: Vec::new(),
        controls: Vec::new(),
        digest: String::new(),
        refused: String::new(),
    };
    let env = match r {
        Ok(v) => v,
        Err(e) => {
            view.refused = say(&e);
            return html(status_of(&e), view);
        }
    };
    let rep = &env["report"];
    let sum = &rep["summary"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    view.overall = s(&sum["overall"]);
    view.generated = rep["generated_at"].as_i64().map(time_s).unwrap_or_default();
    view.counts = format!(
        "{} pass, {} fail, {} not applicable; {} keys",
        sum["pass"], sum["fail"], sum["not_applicable"], sum["keys"]
    );
    view.findings = strings(&sum["findings"]);
    view.digest = s(&env["signature"]["sha256"]);
    view.controls = rep["controls"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| ControlRow {
                    framework: s(&c["framework"]),
                    id: s(&c["id"]),
                    title: s(&c["title"]),
                    status: s(&c["status"]),
                    evidence: strings(&c["evidence"]),
                    findings: strings(&c["findings"]),
                })
                .collect()
        })
        .unwrap_or_default();
    html(StatusCode::OK, view)
}

pub async fn compliance_json(State(st): St, c: Ctx) -> Response {
    match st.service.compliance_report(&c.caller, st.dev_mode).await {
        Ok(v) => (
            [
                (CONTENT_TYPE, "application/json"),
                (
                    CONTENT_DISPOSITION,
                    "attachment; filename=\"strongroom-compliance-report.json\"",
                ),
            ],
            serde_json::to_string_pretty(&v).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => message(
            Some(&c),
            status_of(&e),
            "Compliance report",
            say(&e),
            "/ui/compliance",
        ),
    }
}

// ---------- identities and tokens ----------

pub async fn identities(State(st): St, c: Ctx) -> Response {
    let r = st
        .service
        .run(
            &c.caller,
            guarded("strongroom:ManageIdentities", None, Kind::Use),
            |s| {
                Ok(Done::new((
                    s.registry.list_identities()?,
                    s.registry.list_tokens(None)?,
                )))
            },
        )
        .await;
    let mut view = Identities {
        chrome: chrome(&c, "identities", "Identities and tokens"),
        identities: Vec::new(),
        tokens: Vec::new(),
        refused: String::new(),
    };
    let (ids, tokens) = match r {
        Ok(v) => v,
        Err(e) => {
            view.refused = say(&e);
            return html(status_of(&e), view);
        }
    };
    let join = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut ids = ids;
    ids.sort_by(|a, b| a.name.cmp(&b.name));
    view.identities = ids
        .into_iter()
        .map(|i| IdentityRow {
            kind: format!("{:?}", i.kind),
            roles: join(&i.roles),
            policies: join(&i.policies),
            status: if i.disabled { "disabled" } else { "active" }.into(),
            created: time_s(i.created_at),
            name: i.name,
        })
        .collect();
    let now_s = st.service.now_ms() / 1000;
    view.tokens = tokens
        .into_iter()
        .map(|t| TokenRow {
            status: if t.revoked_at.is_some() {
                "revoked".into()
            } else if t.expires_at.is_some_and(|e| e <= now_s) {
                "expired".into()
            } else {
                "active".into()
            },
            id: t.id,
            identity: t.identity,
            created: time_s(t.created_at),
            expires: opt_time(t.expires_at),
        })
        .collect();
    html(StatusCode::OK, view)
}
