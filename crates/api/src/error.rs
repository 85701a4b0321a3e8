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
        let status =
            StatusCode::from_u16(http_status(&e)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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

/// The native API's HTTP status for each error: the one place it is decided.
pub fn http_status(e: &Error) -> u16 {
    match e {
        Error::InvalidArgument(_)
        | Error::MalformedRequest(_)
        | Error::InvalidKeyUsage(_)
        | Error::InvalidCiphertext
        | Error::IncorrectKey
        | Error::InvalidShare(_)
        | Error::InvalidImportToken(_)
        | Error::ImportTokenExpired
        | Error::IncorrectKeyMaterial(_) => 400,
        Error::ApprovalRequired { .. } => 202,
        Error::Unauthenticated | Error::InvalidToken | Error::CertificateNotBound(_) => 401,
        Error::AccessDenied(_) => 403,
        Error::KeyNotFound(_)
        | Error::AliasNotFound(_)
        | Error::VersionNotFound { .. }
        | Error::NotFound(_)
        | Error::SecretNotFound(_)
        | Error::ScanReportNotFound(_) => 404,
        Error::MethodNotAllowed => 405,
        Error::AliasExists(_)
        | Error::KeyDisabled(_)
        | Error::KeyPendingDeletion(_)
        | Error::KeyDestroyed(_)
        | Error::InvalidKeyState(_)
        | Error::VersionDisabled { .. }
        | Error::VersionBelowMinimum { .. }
        | Error::UsageLimitReached(_)
        | Error::AlreadyInitialized
        | Error::AuditTampered { .. }
        | Error::Conflict(_)
        | Error::KeyNotYetActive { .. }
        | Error::KeyExpired { .. }
        | Error::VersionCompromised { .. } => 409,
        Error::PayloadTooLarge { .. } => 413,
        Error::NotInitialized
        | Error::Sealed
        | Error::StorageUnavailable(_)
        | Error::AuditUnavailable => 503,
        Error::Internal(_) => 500,
        Error::HsmUnavailable(_) => 503,
        Error::AuditOpenFailed(_) => 503,
        Error::RequestTimeout { .. } => 408,
        Error::TooManyRequests { .. } => 429,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_list_every_code_with_its_status() {
        let doc = include_str!("../../../docs/API.md");
        for e in strongroom_core::error::every_variant() {
            let row = format!("| {} | {} |", e.code(), http_status(&e));
            assert!(doc.contains(&row), "docs/API.md lacks the row {row:?}");
        }
    }
}
