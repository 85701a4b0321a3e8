//! Vault's error shape: `{"errors": ["..."]}` with `application/json` and
//! Vault's status codes. The service's errors map here in one match.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use strongroom_core::error::Error;
use strongroom_service::gate::ErrorCode;

#[derive(Debug)]
pub struct VaultError {
    pub status: u16,
    pub message: String,
    pub code: &'static str,
    pub retry_after: Option<u64>,
    /// A dual-controlled change that now waits for approvals (202).
    pub approval_id: Option<String>,
}

impl VaultError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        VaultError {
            status,
            message: message.into(),
            code,
            retry_after: None,
            approval_id: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }

    pub fn unsupported_path(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!(
                "unsupported path: /v1/{} is not served by Strongroom's Vault front-end (docs/VAULT.md lists the paths)",
                path.chars().take(200).collect::<String>()
            ),
        )
    }

    pub fn unsupported_operation() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "unsupported operation: this path does not take this method (docs/VAULT.md lists each path's methods)",
        )
    }
}

/// Vault's status for each of the service's errors: the one place it is
/// decided. Vault answers a bad or missing token with 403, most refused
/// key states with 400.
pub fn status_of(e: &Error) -> u16 {
    match e {
        Error::InvalidArgument(_)
        | Error::MalformedRequest(_)
        | Error::InvalidKeyUsage(_)
        | Error::InvalidCiphertext
        | Error::IncorrectKey
        | Error::InvalidShare(_)
        | Error::InvalidImportToken(_)
        | Error::ImportTokenExpired
        | Error::IncorrectKeyMaterial(_)
        | Error::AliasExists(_)
        | Error::KeyDisabled(_)
        | Error::KeyPendingDeletion(_)
        | Error::KeyDestroyed(_)
        | Error::InvalidKeyState(_)
        | Error::VersionDisabled { .. }
        | Error::VersionBelowMinimum { .. }
        | Error::UsageLimitReached(_)
        | Error::AlreadyInitialized
        | Error::Conflict(_)
        | Error::KeyNotYetActive { .. }
        | Error::KeyExpired { .. }
        | Error::VersionCompromised { .. } => 400,
        Error::ApprovalRequired { .. } => 202,
        Error::Unauthenticated
        | Error::InvalidToken
        | Error::CertificateNotBound(_)
        | Error::AccessDenied(_) => 403,
        Error::KeyNotFound(_)
        | Error::AliasNotFound(_)
        | Error::VersionNotFound { .. }
        | Error::NotFound(_)
        | Error::SecretNotFound(_)
        | Error::ScanReportNotFound(_) => 404,
        Error::MethodNotAllowed => 405,
        Error::RequestTimeout { .. } => 408,
        Error::PayloadTooLarge { .. } => 413,
        Error::TooManyRequests { .. } => 429,
        Error::Internal(_) => 500,
        Error::NotInitialized
        | Error::Sealed
        | Error::StorageUnavailable(_)
        | Error::AuditUnavailable
        | Error::HsmUnavailable(_)
        | Error::AuditOpenFailed(_)
        | Error::AuditTampered { .. } => 503,
    }
}

impl From<Error> for VaultError {
    fn from(e: Error) -> Self {
        let status = status_of(&e);
        if status >= 500 {
            tracing::error!(code = e.code(), error = %e, "vault request failed");
        }
        let message = match &e {
            // Vault's own words, which clients and scripts look for.
            Error::Unauthenticated | Error::InvalidToken => {
                "permission denied: missing or invalid token (send X-Vault-Token: <a Strongroom token>)".to_string()
            }
            Error::AccessDenied(_) | Error::CertificateNotBound(_) => {
                format!("permission denied: {}", e.public_message())
            }
            Error::ApprovalRequired { message, .. } => message.clone(),
            _ => e.public_message(),
        };
        VaultError {
            status,
            message,
            code: e.code(),
            retry_after: match &e {
                Error::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
                _ => None,
            },
            approval_id: match &e {
                Error::ApprovalRequired { id, .. } => Some(id.clone()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for VaultError {
    fn into_response(self) -> Response {
        let body = match &self.approval_id {
            // Accepted, not done: the change waits for approvals.
            Some(id) => json!({
                "request_id": "",
                "lease_id": "",
                "renewable": false,
                "lease_duration": 0,
                "data": { "approval_id": id, "status": "pending_approval" },
                "wrap_info": null,
                "warnings": [self.message],
                "auth": null,
            }),
            None => json!({ "errors": [self.message] }),
        };
        let mut resp = crate::wire::json_response(self.status, &body);
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.extensions_mut().insert(ErrorCode(self.code));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_error_of_the_service_maps_to_a_2xx_but_approval() {
        for e in strongroom_core::error::every_variant() {
            let s = status_of(&e);
            assert!(
                s >= 400 || matches!(e, Error::ApprovalRequired { .. }),
                "{} maps to {s}",
                e.code()
            );
        }
    }

    #[test]
    fn a_bad_token_is_403_as_in_vault() {
        assert_eq!(status_of(&Error::InvalidToken), 403);
        assert_eq!(status_of(&Error::Unauthenticated), 403);
    }
}
