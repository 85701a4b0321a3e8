//! AWS error shapes: `{"__type": "...", "message": "..."}` with the
//! `x-amzn-ErrorType` header. One exhaustive match from our errors to AWS
//! type names; the HTTP status is 400 for every client error, as AWS KMS
//! answers, and `Error::status` for server errors.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use strongroom_core::error::Error;

/// An error as the AWS front-end answers it.
pub struct AwsError {
    pub type_name: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl AwsError {
    pub fn new(type_name: &'static str, status: u16, message: impl Into<String>) -> Self {
        AwsError {
            type_name,
            message: message.into(),
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", 400, message)
    }
}

/// The AWS `__type` for each of our errors.
pub fn type_name(e: &Error) -> &'static str {
    match e {
        Error::InvalidArgument(_) | Error::MalformedRequest(_) | Error::PayloadTooLarge { .. } => {
            "ValidationException"
        }
        Error::KeyNotFound(_)
        | Error::AliasNotFound(_)
        | Error::VersionNotFound { .. }
        | Error::NotFound(_)
        | Error::SecretNotFound(_)
        | Error::ScanReportNotFound(_) => "NotFoundException",
        Error::AliasExists(_) => "AlreadyExistsException",
        Error::KeyDisabled(_) => "DisabledException",
        Error::KeyPendingDeletion(_)
        | Error::KeyDestroyed(_)
        | Error::InvalidKeyState(_)
        | Error::VersionDisabled { .. }
        | Error::VersionBelowMinimum { .. }
        | Error::Conflict(_) => "KMSInvalidStateException",
        Error::InvalidKeyUsage(_) => "InvalidKeyUsageException",
        Error::InvalidCiphertext => "InvalidCiphertextException",
        Error::IncorrectKey => "IncorrectKeyException",
        Error::UsageLimitReached(_) => "LimitExceededException",
        Error::Unauthenticated => "MissingAuthenticationTokenException",
        Error::InvalidToken | Error::CertificateNotBound(_) => "UnrecognizedClientException",
        Error::AccessDenied(_) | Error::ApprovalRequired { .. } => "AccessDeniedException",
        Error::MethodNotAllowed => "UnsupportedOperationException",
        Error::Sealed
        | Error::NotInitialized
        | Error::StorageUnavailable(_)
        | Error::AuditUnavailable => "KMSInternalException",
        Error::AlreadyInitialized | Error::InvalidShare(_) => "ValidationException",
        Error::AuditTampered { .. } => "KMSInternalException",
        Error::Internal(_) => "KMSInternalException",
        Error::KeyNotYetActive { .. }
        | Error::KeyExpired { .. }
        | Error::VersionCompromised { .. } => "KMSInvalidStateException",
        Error::InvalidImportToken(_) => "InvalidImportTokenException",
        Error::ImportTokenExpired => "ExpiredImportTokenException",
        Error::IncorrectKeyMaterial(_) => "IncorrectKeyMaterialException",
        Error::HsmUnavailable(_) => "KMSInternalException",
        Error::AuditOpenFailed(_) => "KMSInternalException",
        Error::RequestTimeout { .. } => "ValidationException",
        Error::TooManyRequests { .. } => "ThrottlingException",
    }
}

impl From<Error> for AwsError {
    fn from(e: Error) -> Self {
        // AWS KMS answers HTTP 400 for every client error (NotFoundException,
        // AccessDeniedException, ThrottlingException ...), and so do we; the
        // dual-control 202 is an AccessDeniedException here too.
        let status = match &e {
            Error::Internal(_) => 500,
            Error::Sealed
            | Error::NotInitialized
            | Error::StorageUnavailable(_)
            | Error::AuditUnavailable
            | Error::HsmUnavailable(_)
            | Error::AuditOpenFailed(_) => 503,
            _ => 400,
        };
        if status >= 500 {
            tracing::error!(code = e.code(), error = %e, "AWS request failed");
        }
        AwsError::new(type_name(&e), status, e.public_message())
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.type_name, "message": self.message });
        let mut resp = (self.status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        if let Ok(v) = HeaderValue::from_str(self.type_name) {
            h.insert("x-amzn-errortype", v);
        }
        resp.extensions_mut()
            .insert(strongroom_service::gate::ErrorCode(self.type_name));
        resp
    }
}
