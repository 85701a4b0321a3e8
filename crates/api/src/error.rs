//! Error responses: the `{"error": {"code", "message"}}` shape, with the
//! status from `Error::status()`. 5xx details go to the log, not the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use strongroom_core::error::Error;

/// Wrapper so handlers can `?` engine errors into responses.
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub use strongroom_service::gate::ErrorCode;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = e.code(), error = %e, "request failed");
        }
        let mut body = serde_json::json!({
            "error": { "code": e.code(), "message": e.public_message() }
        });
        if let Error::ApprovalRequired { id, .. } = &e {
            body["approval_id"] = serde_json::Value::String(id.clone());
        }
        let mut resp = (status, Json(body)).into_response();
        if let Error::TooManyRequests { retry_after_secs } = &e {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
        resp.extensions_mut().insert(ErrorCode(e.code()));
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
