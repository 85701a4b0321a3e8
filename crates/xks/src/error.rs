//! XKS errors: `{"errorName", "errorMessage"}` with the spec's status codes,
//! and the one exhaustive mapping from Strongroom's error type.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use strongroom_core::error::Error;
use strongroom_service::gate::ErrorCode;

/// One XKS error answer.
#[derive(Debug)]
pub struct XksError {
    pub name: &'static str,
    pub status: u16,
    pub message: String,
}

impl XksError {
    pub fn new(name: &'static str, status: u16, message: impl Into<String>) -> Self {
        XksError {
            name,
            status,
            message: message.into(),
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", 400, message)
    }
    pub fn uri(message: impl Into<String>) -> Self {
        Self::new("InvalidUriPathException", 404, message)
    }
}

/// errorMessage: printable ASCII, under 512 characters.
pub fn clean_message(m: &str) -> String {
    m.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(511)
        .collect()
}

impl From<Error> for XksError {
    fn from(e: Error) -> Self {
        let (name, status) = match &e {
            Error::InvalidArgument(_)
            | Error::MalformedRequest(_)
            | Error::PayloadTooLarge { .. } => ("ValidationException", 400),
            Error::KeyNotFound(_)
            | Error::AliasNotFound(_)
            | Error::NotFound(_)
            | Error::SecretNotFound(_)
            | Error::ScanReportNotFound(_) => ("KeyNotFoundException", 404),
            Error::KeyDisabled(_)
            | Error::KeyPendingDeletion(_)
            | Error::KeyDestroyed(_)
            | Error::InvalidKeyState(_)
            | Error::KeyNotYetActive { .. }
            | Error::KeyExpired { .. }
            | Error::UsageLimitReached(_)
            | Error::VersionDisabled { .. }
            | Error::VersionBelowMinimum { .. }
            | Error::VersionCompromised { .. }
            | Error::Sealed
            | Error::NotInitialized => ("InvalidStateException", 400),
            Error::InvalidCiphertext | Error::IncorrectKey | Error::VersionNotFound { .. } => {
                ("InvalidCiphertextException", 400)
            }
            Error::InvalidKeyUsage(_) => ("InvalidKeyUsageException", 400),
            Error::Unauthenticated | Error::InvalidToken | Error::CertificateNotBound(_) => {
                ("AuthenticationFailedException", 401)
            }
            Error::AccessDenied(_) | Error::ApprovalRequired { .. } => {
                ("AccessDeniedException", 403)
            }
            Error::MethodNotAllowed => ("ValidationException", 405),
            Error::TooManyRequests { .. } => ("ThrottlingException", 429),
            Error::StorageUnavailable(_)
            | Error::HsmUnavailable(_)
            | Error::RequestTimeout { .. } => ("DependencyTimeoutException", 503),
            Error::AliasExists(_)
            | Error::AuditUnavailable
            | Error::AuditTampered { .. }
            | Error::AlreadyInitialized
            | Error::InvalidShare(_)
            | Error::Conflict(_)
            | Error::Internal(_)
            | Error::InvalidImportToken(_)
            | Error::ImportTokenExpired
            | Error::IncorrectKeyMaterial(_)
            | Error::AuditOpenFailed(_) => ("InternalException", 500),
        };
        // Internal details stay in the server log, not on the wire.
        let message = if status == 500 {
            "internal error; see the Strongroom server log".to_string()
        } else {
            e.to_string()
        };
        XksError::new(name, status, message)
    }
}

impl IntoResponse for XksError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({
            "errorName": self.name,
            "errorMessage": clean_message(&self.message),
        });
        let mut r = (status, axum::Json(body)).into_response();
        r.extensions_mut().insert(ErrorCode(self.name));
        r
    }
}
