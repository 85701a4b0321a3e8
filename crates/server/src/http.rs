//! The HTTP layers every front-end shares, and the app that composes them:
//! the native router (`strongroom-api`) and the AWS router
//! (`strongroom-aws`) side by side, with the web console
//! (`strongroom-console`, at `/ui/`) unless `ui = false`, then the body limit and read timeout,
//! metrics, `/metrics`, the 404/405 answers and the audit of requests that
//! never reached the gate. A new front-end adds its router in [`app`].

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use strongroom_api::error::ApiError;
use strongroom_core::error::Error;
use strongroom_engine::keys::state::ALL_STATES;
use strongroom_service::gate::ErrorCode;
use strongroom_service::Service;

use crate::metrics;

/// What the shared layers need besides the service.
pub struct HttpSettings {
    pub max_body: usize,
    /// A request body must arrive whole within this time (`body_read_timeout_ms`).
    pub body_read_timeout: std::time::Duration,
    /// The listener's connection counters for `/metrics` (none in-process).
    pub listener: Option<crate::listener::ListenerStats>,
    pub dev_mode: bool,
    pub aws: strongroom_aws::AwsSettings,
    /// The Vault front-end's mounts.
    pub vault: strongroom_vault::VaultSettings,
    /// Serve the web console at `/ui/` (`ui` in the config).
    pub ui: bool,
    /// The XKS proxy API, when configured (`xks_path_prefix`).
    pub xks: Option<strongroom_xks::XksSettings>,
}

/// The shared layers' state.
pub struct HttpState {
    pub service: Arc<Service>,
    pub metrics: metrics::Metrics,
    pub max_body: usize,
    pub body_read_timeout: std::time::Duration,
    pub listener: Option<crate::listener::ListenerStats>,
}

impl std::ops::Deref for HttpState {
    type Target = Service;
    fn deref(&self) -> &Self::Target {
        &self.service
    }
}

/// Every front-end on one service, behind the shared layers.
pub fn app(service: Arc<Service>, settings: HttpSettings) -> Router {
    let native = strongroom_api::router(Arc::new(strongroom_api::AppState {
        service: service.clone(),
        max_body: settings.max_body,
        dev_mode: settings.dev_mode,
    }));
    let aws = strongroom_aws::router(Arc::new(strongroom_aws::AppState::new(
        service.clone(),
        settings.aws,
        settings.max_body,
    )));
    // The Vault front-end takes the requests `strongroom_vault::claims`
    // gives it (docs/VAULT.md, "Paths beside the native API"); the rest go
    // to the routers below. Its router gets the same metrics layer.
    let vault_settings = settings.vault.clone();
    let vault = strongroom_vault::router(Arc::new(strongroom_vault::AppState {
        service: service.clone(),
        settings: settings.vault,
        max_body: settings.max_body,
    }));
    let console = settings.ui.then(|| {
        strongroom_console::router(Arc::new(strongroom_console::ConsoleState::new(
            service.clone(),
            settings.dev_mode,
        )))
    });
    let xks = match settings.xks {
        Some(x) => strongroom_xks::router(Arc::new(strongroom_xks::AppState::new(
            service.clone(),
            x,
            settings.max_body,
        ))),
        None => Router::new(),
    };
    let limit = settings.max_body;
    let state = Arc::new(HttpState {
        service,
        metrics: metrics::Metrics::default(),
        max_body: settings.max_body,
        body_read_timeout: settings.body_read_timeout,
        listener: settings.listener,
    });
    let metrics_route = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(state.clone());
    let vault = vault.route_layer(middleware::from_fn_with_state(state.clone(), observe));
    let mut router = Router::new().merge(native).merge(aws).merge(xks);
    if let Some(console) = console {
        router = router.merge(console);
    }
    router
        .merge(metrics_route)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn_with_state(
            Arc::new((vault_settings, vault)),
            to_vault,
        ))
        .layer(middleware::from_fn_with_state(state, read_body_first))
        .layer(DefaultBodyLimit::max(limit))
}

/// Sends the requests the Vault front-end claims to its router.
async fn to_vault(
    State(vault): State<Arc<(strongroom_vault::VaultSettings, Router)>>,
    req: Request,
    next: Next,
) -> Response {
    if strongroom_vault::claims(&vault.0, req.uri().path(), req.headers()) {
        use tower::ServiceExt;
        match vault.1.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    } else {
        next.run(req).await
    }
}

/// Refuses a body whose Content-Length exceeds the limit before reading it
/// (and closes the connection, since the body is left unread); otherwise
/// reads the whole body first, so answers given before a handler looks at
/// the body (401, 405, 503) leave the keep-alive connection usable.
async fn read_body_first(State(st): State<Arc<HttpState>>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > st.max_body as u64) {
        let mut resp = ApiError(Error::PayloadTooLarge { limit: st.max_body }).into_response();
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    let (parts, body) = req.into_parts();
    // A body that trickles in (or a chunked body that never ends) holds a
    // connection and memory: it gets a deadline, then 408 and a close.
    let read = tokio::time::timeout(
        st.body_read_timeout,
        axum::body::to_bytes(body, st.max_body),
    );
    let Ok(read) = read.await else {
        let mut resp = ApiError(Error::RequestTimeout {
            secs: st.body_read_timeout.as_secs_f64(),
        })
        .into_response();
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return resp;
    };
    match read {
        Ok(bytes) => {
            let audited = Arc::new(std::sync::atomic::AtomicBool::new(false));
            // Only what a late audit record needs, kept cheaply (no header
            // map copy, no formatting) since almost every request is audited
            // by the guard and never needs it.
            let method = parts.method.clone();
            let uri = parts.uri.clone();
            let authorization = parts
                .headers
                .get(axum::http::header::AUTHORIZATION)
                .cloned();
            let peer = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0);
            let cert = parts
                .extensions
                .get::<strongroom_service::gate::ClientCert>()
                .cloned();
            let resp = strongroom_service::gate::AUDITED
                .scope(
                    audited.clone(),
                    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))),
                )
                .await;
            if audited.load(std::sync::atomic::Ordering::Relaxed) {
                return resp;
            }
            let path: String = uri.path().chars().take(200).collect();
            let mut headers = axum::http::HeaderMap::new();
            if let Some(a) = authorization {
                headers.insert(axum::http::header::AUTHORIZATION, a);
            }
            let source = peer
                .map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".into());
            audit_unguarded(&st, &method, &path, &headers, cert.as_ref(), &source, resp).await
        }
        Err(_) => {
            // Over the limit while streaming (no or false Content-Length).
            let mut resp = ApiError(Error::PayloadTooLarge { limit: st.max_body }).into_response();
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    }
}

/// Audits a request the guard never saw: one refused before it (bad body,
/// unknown endpoint, bad query) or a seal operation. Health, metrics, the
/// OpenAPI document and seal status are not audited. Nothing is audited
/// while sealed (there is no audit log then).
async fn audit_unguarded(
    st: &HttpState,
    method: &axum::http::Method,
    path: &str,
    headers: &axum::http::HeaderMap,
    cert: Option<&strongroom_service::gate::ClientCert>,
    source: &str,
    resp: Response,
) -> Response {
    let status = resp.status();
    let quiet = matches!(
        path,
        "/v1/sys/health" | "/metrics" | "/v1/openapi.json" | "/v1/sys/seal-status"
    );
    let sys_change = matches!(path, "/v1/sys/init" | "/v1/sys/unseal" | "/v1/sys/seal");
    if quiet || (status.as_u16() < 400 && !sys_change) {
        return resp;
    }
    let Ok(services) = st.seal.services() else {
        return resp;
    };
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
        });
    // As the gate does: the token, or without one the client certificate.
    let (identity, via) = match (bearer, cert) {
        (Some(t), _) => (st.seal.authenticate(t.as_bytes()).ok(), None),
        (None, Some(c)) => match services.registry.authenticate_cert(&c.names) {
            Ok((p, name)) => (Some(p), Some(format!("via certificate {name}"))),
            Err(_) => (None, None),
        },
        (None, None) => (None, None),
    };
    if identity.is_none() && status.as_u16() >= 400 && !sys_change {
        // Anonymous errors (404 probes and the like) are audited compactly:
        // the first per source, code and interval on its own, the rest
        // counted. Init, unseal and seal attempts keep a record each.
        let code = resp
            .extensions()
            .get::<ErrorCode>()
            .map(|c| c.0)
            .unwrap_or("error");
        let ip = source.parse::<std::net::SocketAddr>().ok().map(|s| s.ip());
        let op = format!("{method} {path}");
        let verdict =
            st.auth_failures
                .record(ip, false, std::time::Instant::now(), st.now_ms(), &op, code);
        if !verdict.audit_now {
            return resp;
        }
    }
    let ev = strongroom_audit::AuditEvent {
        time_ms: st.now_ms(),
        request_id: st.request_id(),
        identity: identity
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_else(|| "anonymous".into()),
        source: source.to_string(),
        operation: format!("{method} {path}"),
        key_id: None,
        key_version: None,
        outcome: if status.as_u16() < 400 {
            "allowed"
        } else {
            "error"
        }
        .into(),
        error_code: resp
            .extensions()
            .get::<ErrorCode>()
            .map(|c| c.0.to_string()),
        root: identity.as_ref().is_some_and(|p| p.is_root()),
        detail: via,
    };
    match st.audit(&services, ev).await {
        Ok(()) => resp,
        Err(e) => {
            if path == "/v1/sys/unseal" {
                // An unseal that cannot be audited is undone.
                let _ = st.seal.seal();
            }
            ApiError(e).into_response()
        }
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError(Error::NotFound(
        req.uri().path().chars().take(200).collect(),
    ))
}

async fn method_not_allowed() -> ApiError {
    ApiError(Error::MethodNotAllowed)
}

/// Refuses oversized bodies by Content-Length before reading them, and
/// records metrics for every request.
async fn observe(State(st): State<Arc<HttpState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Only standard methods get their own label, so made-up methods can't
    // grow the metrics without bound.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let resp = next.run(req).await;
    let outcome = resp
        .extensions()
        .get::<ErrorCode>()
        .map(|c| c.0)
        .unwrap_or("ok");
    st.metrics.observe(method, &route, outcome, start.elapsed());
    resp
}

async fn metrics_handler(State(st): State<Arc<HttpState>>) -> Response {
    let sealed = !st.seal.is_unsealed();
    let engine = st.seal.engine().ok();
    let counts = engine
        .as_ref()
        .and_then(|e| e.counts_by_state().ok())
        .unwrap_or_default();
    let by_state: Vec<(&str, usize)> = ALL_STATES
        .iter()
        .map(|s| (s.name(), counts.get(s).copied().unwrap_or(0)))
        .collect();
    let mut text = st.metrics.render(sealed, &by_state);
    if let Some(audit) = st.seal.services().ok().and_then(|s| s.audit.clone()) {
        // Records per fdatasync shows how well the audit group commit batches.
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "# HELP strongroom_audit_records_total Audit log entries durably written (next index).\n# TYPE strongroom_audit_records_total counter\nstrongroom_audit_records_total {}",
            audit.head().0
        );
        let _ = writeln!(
            text,
            "# HELP strongroom_audit_syncs_total fdatasync calls of the audit writer since start.\n# TYPE strongroom_audit_syncs_total counter\nstrongroom_audit_syncs_total {}",
            audit.sync_count()
        );
        let _ = writeln!(
            text,
            "# HELP strongroom_audit_sink_ok 1 if the audit sink takes records, 0 if writes fail or the file was removed or replaced (the reason is in /v1/sys/health).\n# TYPE strongroom_audit_sink_ok gauge\nstrongroom_audit_sink_ok {}",
            u8::from(audit.sink_problem().is_none())
        );
    }
    if let Some(d) = st.seal.audit_disk() {
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "# HELP strongroom_audit_disk_free_bytes Free bytes on the audit log's filesystem.\n# TYPE strongroom_audit_disk_free_bytes gauge\nstrongroom_audit_disk_free_bytes {}\n# HELP strongroom_audit_disk_low 1 when that is below audit_low_space_bytes (when the disk fills, every request is refused).\n# TYPE strongroom_audit_disk_low gauge\nstrongroom_audit_disk_low {}",
            d.free_bytes,
            u8::from(d.low())
        );
    }
    if let Ok(services) = st.seal.services() {
        text.push_str(&secrets_metrics(services).await);
    }
    if let Some(l) = &st.listener {
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "# HELP strongroom_connections_open Client connections open now.\n# TYPE strongroom_connections_open gauge\nstrongroom_connections_open {}\n# HELP strongroom_connections_evicted_total Idle connections closed for the keep-alive timeout or to make room at max_connections.\n# TYPE strongroom_connections_evicted_total counter\nstrongroom_connections_evicted_total {}\n# HELP strongroom_connections_refused_total Connections refused at max_connections with every connection busy.\n# TYPE strongroom_connections_refused_total counter\nstrongroom_connections_refused_total {}",
            l.open(),
            l.evicted(),
            l.refused()
        );
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text + &engine
            .map(|e| strongroom_api::lifecycle::expiry_metrics(&e))
            .unwrap_or_default(),
    )
        .into_response()
}

/// Secrets (docs/SECRETS.md): how many, and how many are past their
/// rotation date or expiry (PCI DSS 8.3.9/8.6.3, NIST SP 800-57
/// cryptoperiods). Counts only; never a path or a value.
async fn secrets_metrics(services: Arc<strongroom_service::node::Services>) -> String {
    let now = services.now_ms();
    let all = tokio::task::spawn_blocking(move || services.secrets.all())
        .await
        .ok()
        .and_then(|r| r.ok());
    let Some(all) = all else {
        return String::new();
    };
    let overdue = all.iter().filter(|m| m.rotation_overdue(now)).count();
    format!(
        "# HELP strongroom_secrets Secrets stored.\n# TYPE strongroom_secrets gauge\nstrongroom_secrets {}\n# HELP strongroom_secrets_rotation_overdue Secrets past their rotation date or expiry.\n# TYPE strongroom_secrets_rotation_overdue gauge\nstrongroom_secrets_rotation_overdue {overdue}\n",
        all.len()
    )
}
