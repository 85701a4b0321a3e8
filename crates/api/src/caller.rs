//! The native API's credentials: `Authorization: Bearer <token>` (or
//! `X-Strongroom-Token`), or, without a token, the verified client
//! certificate of a mutual-TLS connection (a [`ClientCert`] the listener
//! put in the request), turned into the service's [`Caller`].

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use strongroom_core::error::Error;
use strongroom_service::gate::{Caller, ClientCert};

/// An authenticated native caller (the extractor for handlers).
pub struct Authed(pub Caller);

fn source_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // Sealed comes first: a sealed server answers nothing else.
        state.seal.services()?;
        // Two credentials are ambiguous (which one did the client mean, and
        // which one would a proxy in front have checked?): refused, as the
        // AWS front-end does.
        let presented = parts
            .headers
            .get_all(axum::http::header::AUTHORIZATION)
            .iter()
            .count()
            + parts.headers.get_all("x-strongroom-token").iter().count();
        if presented > 1 {
            return Err(ApiError(Error::InvalidArgument(
                "more than one credential in the request (several Authorization or X-Strongroom-Token headers); send exactly one `Authorization: Bearer <token>`".into(),
            )));
        }
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // The scheme is case-insensitive (RFC 9110 §11.1).
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest)
            })
            .or_else(|| {
                parts
                    .headers
                    .get("x-strongroom-token")
                    .and_then(|v| v.to_str().ok())
            });
        let cert = parts.extensions.get::<ClientCert>();
        let caller = state
            .authenticate_request(
                token.map(|t| t.trim().as_bytes()),
                cert,
                source_of(parts),
                || {
                    format!(
                        "{} {}",
                        parts.method,
                        parts.uri.path().chars().take(100).collect::<String>()
                    )
                },
            )
            .await?;
        Ok(Authed(caller))
    }
}
