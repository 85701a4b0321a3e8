//! Extractors: the authenticated principal, and JSON bodies whose rejections
//! use the API's error shape.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use super::error::ApiError;
use super::AppState;
use strongroom_core::error::Error;

/// `Json<T>` with our error shape for malformed or oversized bodies.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => {
                if rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    return Err(ApiError(Error::PayloadTooLarge {
                        limit: state.max_body,
                    }));
                }
                Err(ApiError(Error::MalformedRequest(rej.body_text())))
            }
        }
    }
}

/// The `{*key}` / `{*alias}` path segment, percent-decoded; undecodable
/// segments get the API's error shape.
pub struct PathName(pub String);

impl FromRequestParts<Arc<AppState>> for PathName {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(s)) => Ok(PathName(s)),
            Err(_) => Err(ApiError(Error::InvalidArgument(
                "the name in the URL path is not valid percent-encoded UTF-8".into(),
            ))),
        }
    }
}
