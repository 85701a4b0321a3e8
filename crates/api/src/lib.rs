//! The native REST front-end under `/v1`: one router on the service
//! layer. Handlers are thin: they parse the request, call the service
//! (`st.run` / `st.run_on_key` / `st.submit`) and shape the answer. The
//! server adds the HTTP layers every front-end shares (`strongroom-server`).

pub mod admin;
pub mod b64;
pub mod backup;
pub mod caller;
pub mod crypto;
pub mod dev;
pub mod error;
pub mod extract;
pub mod kem;
pub mod keys;
pub mod lifecycle;
pub mod openapi;
pub mod report;
pub mod rotation;
pub mod scans;
pub mod secrets;
pub mod sys;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use error::ApiError;

pub use strongroom_service::auth_limit;
pub use strongroom_service::gate as guard;
pub use strongroom_service::gate::page_limit;

pub struct AppState {
    /// The service layer: seal, gate, dual control, audit.
    pub service: Arc<strongroom_service::Service>,
    /// The request body limit (`max_request_bytes`), for the messages that name it.
    pub max_body: usize,
    pub dev_mode: bool,
}

impl AppState {
    /// The gate ([`strongroom_service::Service::run`]), with the native
    /// error shape.
    pub async fn run<T, F>(
        &self,
        caller: &guard::Caller,
        g: guard::Guarded<'_>,
        f: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(
                &strongroom_service::node::Services,
            ) -> strongroom_core::error::Result<guard::Done<T>>
            + Send
            + 'static,
    {
        self.service.run(caller, g, f).await.map_err(ApiError)
    }

    /// The gate for an operation on the request's key, resolved once
    /// ([`strongroom_service::Service::run_on_key`]).
    pub async fn run_on_key<T, F>(
        &self,
        caller: &guard::Caller,
        g: guard::Guarded<'_>,
        f: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(
                &strongroom_service::node::Services,
                &strongroom_engine::keys::engine::KeyHandle,
            ) -> strongroom_core::error::Result<guard::Done<T>>
            + Send
            + 'static,
    {
        self.service
            .run_on_key(caller, g, f)
            .await
            .map_err(ApiError)
    }
}

/// Handlers reach the service's fields directly.
impl std::ops::Deref for AppState {
    type Target = strongroom_service::Service;
    fn deref(&self) -> &Self::Target {
        &self.service
    }
}

/// The native front-end's routes. The server adds the shared HTTP layers
/// (body limit and timeout, metrics, the audit of refused requests).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/sys/health", get(sys::health))
        .route("/v1/sys/seal-status", get(sys::seal_status))
        .route("/v1/sys/init", post(sys::init))
        .route("/v1/sys/unseal", post(sys::unseal))
        .route("/v1/sys/seal", post(sys::seal))
        .route("/v1/sys/rekey", post(sys::rekey))
        .route("/v1/sys/generate-root", post(sys::generate_root))
        .route("/v1/sys/revoke-root", post(sys::revoke_root))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/keys", post(keys::create).get(keys::list))
        .route("/v1/keys/{*key}", get(keys::describe).patch(keys::update))
        .route("/v1/rotate", post(keys::rotate))
        .route("/v1/rotation-policy", post(rotation::set))
        .route("/v1/enable", post(keys::enable))
        .route("/v1/disable", post(keys::disable))
        .route("/v1/enable-version", post(keys::enable_version))
        .route("/v1/disable-version", post(keys::disable_version))
        .route(
            "/v1/min-decryption-version",
            post(keys::min_decryption_version),
        )
        .route("/v1/schedule-deletion", post(keys::schedule_deletion))
        .route("/v1/cancel-deletion", post(keys::cancel_deletion))
        .route(
            "/v1/aliases",
            get(keys::list_aliases).post(keys::create_alias),
        )
        .route(
            "/v1/aliases/{*alias}",
            axum::routing::delete(keys::delete_alias),
        )
        .route("/v1/encrypt", post(crypto::encrypt))
        .route("/v1/decrypt", post(crypto::decrypt))
        .route("/v1/reencrypt", post(crypto::reencrypt))
        .route("/v1/generate-data-key", post(crypto::generate_data_key))
        .route("/v1/random", post(crypto::random))
        .route("/v1/sign", post(crypto::sign))
        .route("/v1/verify", post(crypto::verify))
        .route("/v1/mac", post(crypto::generate_mac))
        .route("/v1/verify-mac", post(crypto::verify_mac))
        .route("/v1/public-key", post(crypto::public_key))
        .route("/v1/encapsulate", post(kem::encapsulate))
        .route("/v1/decapsulate", post(kem::decapsulate))
        .route("/v1/batch/encrypt", post(crypto::batch_encrypt))
        .route("/v1/batch/decrypt", post(crypto::batch_decrypt))
        .route(
            "/v1/identities",
            get(admin::list_identities).post(admin::create_identity),
        )
        .route("/v1/identities/{*name}", get(admin::show_identity))
        .route("/v1/identity/disable", post(admin::disable_identity))
        .route("/v1/identity/grants", post(admin::set_grants))
        .route("/v1/identity/bind-cert", post(admin::bind_cert))
        .route("/v1/identity/unbind-cert", post(admin::unbind_cert))
        .route("/v1/identity/certs", get(admin::list_cert_bindings))
        .route(
            "/v1/tokens",
            get(admin::list_tokens).post(admin::create_token),
        )
        .route("/v1/tokens/revoke", post(admin::revoke_token))
        .route(
            "/v1/access-keys",
            get(admin::list_access_keys).post(admin::create_access_key),
        )
        .route("/v1/access-keys/revoke", post(admin::revoke_access_key))
        .route(
            "/v1/policies",
            get(admin::list_policies).post(admin::put_policy),
        )
        .route(
            "/v1/policies/{*name}",
            get(admin::show_policy).delete(admin::delete_policy),
        )
        .route("/v1/policy/explain", post(admin::explain))
        .route("/v1/approvals", get(admin::list_approvals))
        .route("/v1/approvals/approve", post(admin::approve))
        .route("/v1/approvals/deny", post(admin::deny))
        .route("/v1/audit/verify", get(admin::audit_verify))
        .route("/v1/audit/query", get(admin::audit_query))
        .route("/v1/audit/export", get(admin::audit_export))
        .route("/v1/compromise", post(lifecycle::compromise))
        .route("/v1/inventory", get(lifecycle::inventory))
        .route("/v1/sys/dev/advance-clock", post(dev::advance_clock))
        .route("/v1/sys/dev/run-scheduler", post(dev::run_scheduler))
        .route("/v1/reports/compliance", get(report::compliance))
        .route("/v1/scans", post(scans::report).get(scans::list))
        .route("/v1/scans/{*repository}", get(scans::show))
        .route("/v1/backup", post(backup::create))
        .route("/v1/backup/drill", post(backup::drill))
        .route(
            "/v1/secrets/data/{*path}",
            get(secrets::get)
                .put(secrets::put)
                .post(secrets::put)
                .patch(secrets::patch),
        )
        .route(
            "/v1/secrets/metadata/{*path}",
            get(secrets::metadata)
                .patch(secrets::update_metadata)
                .delete(secrets::delete_all),
        )
        .route("/v1/secrets/list", get(secrets::list))
        .route("/v1/secrets/list/{*path}", get(secrets::list))
        .route("/v1/secrets/delete/{*path}", post(secrets::delete))
        .route("/v1/secrets/undelete/{*path}", post(secrets::undelete))
        .route("/v1/secrets/destroy/{*path}", post(secrets::destroy))
        .route("/v1/secrets/rotate/{*path}", post(secrets::rotate))
        .route("/v1/secrets/inventory", get(secrets::inventory))
        .with_state(state)
}
