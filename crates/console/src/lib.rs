//! The web console at `/ui/`: server-rendered pages (askama templates,
//! escaped by default) for key custodians, approvers and auditors.
//!
//! It is a front-end beside `api` and `aws` and has no powers of its own:
//! a browser signs in with a Strongroom token, which the console keeps in a
//! server-side session (an HttpOnly, SameSite=Strict cookie names it) and
//! presents to [`Service::authenticate_bearer`] on every request. Every
//! page and action is one `Service::run` / `submit` / `decide_approval`
//! call: policy, dual control and audit apply as on the API. What the
//! caller's policies do not allow is shown disabled, with the reason.
//!
//! Every asset is embedded (one stylesheet); the pages have no script and
//! no inline style, and the Content Security Policy forbids both ([`security_headers`]).

mod chain;
mod pages;
mod secrets;
mod session;
mod views;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use strongroom_service::Service;

pub use session::{Sessions, DEFAULT_IDLE_SECS};

/// The console's state: the service, and the sessions of signed-in browsers.
pub struct ConsoleState {
    pub service: Arc<Service>,
    pub sessions: Sessions,
    /// Shown in the compliance report's settings.
    pub dev_mode: bool,
    /// The last audit chain check, for the overview (`chain.rs`).
    pub(crate) chain: chain::ChainCache,
}

impl ConsoleState {
    pub fn new(service: Arc<Service>, dev_mode: bool) -> Self {
        ConsoleState {
            service,
            sessions: Sessions::new(DEFAULT_IDLE_SECS),
            dev_mode,
            chain: chain::ChainCache::default(),
        }
    }
}

/// The strict policy every console answer carries: no script at all
/// (the pages need none), styles and images only from the console's own
/// embedded files, nothing inline, no framing, forms post only back to the console.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes, all under `/ui/`.
pub fn router(state: Arc<ConsoleState>) -> Router {
    Router::new()
        .route("/ui", get(pages::to_overview))
        .route("/ui/", get(pages::overview))
        .route("/ui/sign-in", get(pages::sign_in_page).post(pages::sign_in))
        .route("/ui/sign-out", post(pages::sign_out))
        .route("/ui/keys", get(pages::keys).post(pages::create_key))
        .route("/ui/keys/{id}", get(pages::key_detail))
        .route("/ui/keys/{id}/{action}", post(pages::key_action))
        .route("/ui/secrets", get(secrets::secrets))
        .route(
            "/ui/secrets/{*path}",
            get(secrets::secret).post(secrets::secret_action),
        )
        .route("/ui/verify-chain", post(pages::verify_now))
        .route("/ui/approvals", get(pages::approvals))
        .route("/ui/approvals/{id}/{decision}", post(pages::decide))
        .route("/ui/audit", get(pages::audit))
        .route("/ui/compliance", get(pages::compliance))
        .route("/ui/compliance.json", get(pages::compliance_json))
        .route("/ui/identities", get(pages::identities))
        .route("/ui/static/console.css", get(css))
        .fallback(pages::not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../static/console.css"),
    )
        .into_response()
}

/// The headers on every console answer.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
