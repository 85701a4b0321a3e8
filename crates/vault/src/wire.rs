//! Vault's wire format: the request (method → operation, `?list=true`,
//! the JSON body) and the response envelope.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::error::VaultError;

/// Vault's operations: POST and PUT are both writes; `LIST` and
/// `GET ?list=true` are both lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Delete,
    List,
    Patch,
    Head,
}

/// One parsed Vault request.
pub struct VaultRequest {
    pub method: Method,
    pub op: Op,
    /// The path after `/v1/`, without a trailing slash.
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    /// The JSON body's fields (`{}` when there is no body).
    pub body: Map<String, Value>,
    pub source: String,
    /// The verified client certificate of a mutual-TLS connection, which
    /// authenticates a request that has no token (docs/ACCESS.md).
    pub cert: Option<strongroom_service::gate::ClientCert>,
}

impl VaultRequest {
    pub fn parse(
        method: &Method,
        uri: &Uri,
        headers: HeaderMap,
        body: &[u8],
        source: String,
    ) -> Result<VaultRequest, VaultError> {
        let path = uri
            .path()
            .strip_prefix("/v1/")
            .unwrap_or("")
            .trim_end_matches('/')
            .to_string();
        let query: BTreeMap<String, String> = match uri.query() {
            None | Some("") => BTreeMap::new(),
            Some(q) => axum::extract::Query::<BTreeMap<String, String>>::try_from_uri(uri)
                .map(|axum::extract::Query(m)| m)
                .map_err(|e| {
                    VaultError::bad_request(format!(
                        "the query string {q:?} is not valid: {}",
                        e.body_text()
                    ))
                })?,
        };
        let list_query = query.get("list").is_some_and(|v| v == "true" || v == "1");
        let op = match method.as_str() {
            "GET" if list_query => Op::List,
            "GET" => Op::Read,
            "HEAD" => Op::Head,
            "POST" | "PUT" => Op::Write,
            "DELETE" => Op::Delete,
            "LIST" => Op::List,
            "PATCH" => Op::Patch,
            _ => return Err(VaultError::unsupported_operation()),
        };
        let body = if body.iter().all(|b| b.is_ascii_whitespace()) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => m,
                // `bao write -f` sends `null`.
                Ok(Value::Null) => Map::new(),
                Ok(_) => return Err(VaultError::bad_request(
                    "the request body must be a JSON object, e.g. {\"plaintext\": \"<base64>\"}",
                )),
                Err(e) => {
                    return Err(VaultError::bad_request(format!(
                        "failed to parse the request body as JSON: {e}"
                    )))
                }
            }
        };
        Ok(VaultRequest {
            method: method.clone(),
            op,
            path,
            query,
            headers,
            body,
            source,
            cert: None,
        })
    }

    pub fn segments(&self) -> Vec<&str> {
        if self.path.is_empty() {
            return vec![];
        }
        self.path.split('/').collect()
    }

    /// The path for audit records and messages: at most 100 characters.
    pub fn path_for_audit(&self) -> String {
        self.path.chars().take(100).collect()
    }

    /// The body as a typed request; unknown fields are refused with the
    /// field named (Vault ignores them with a warning; here a typo is an
    /// error, so it changes nothing).
    pub fn body_as<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, VaultError> {
        serde_json::from_value(Value::Object(self.body.clone()))
            .map_err(|e| VaultError::bad_request(format!("invalid request for {what}: {e}")))
    }
}

/// Vault's success envelope around `data`.
pub fn envelope(request_id: &str, data: Value) -> Value {
    json!({
        "request_id": request_id,
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": null,
    })
}

/// A JSON response with Vault's content type.
pub fn json_response(status: u16, body: &Value) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        body.to_string(),
    )
        .into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// 200 with the envelope.
pub fn ok(request_id: &str, data: Value) -> Response {
    json_response(200, &envelope(request_id, data))
}

/// 204, as Vault answers writes that return nothing.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard base64 (what Vault clients send), naming the field.
pub fn unb64(field: &str, s: &str) -> Result<Vec<u8>, VaultError> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| {
            VaultError::bad_request(format!(
                "{field} is not valid base64; encode the bytes with standard base64 (e.g. `base64 -w0`)"
            ))
        })
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// RFC 3339 (UTC, seconds) from Unix seconds, as Vault shows times.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_300_000), "2026-12-03T12:13:20Z");
    }

    #[test]
    fn hex_encodes_lowercase() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
    }

    #[test]
    fn list_by_query_and_by_method() {
        let m = Method::from_bytes(b"LIST").expect("method");
        let uri: Uri = "/v1/transit/keys".parse().expect("uri");
        let r = VaultRequest::parse(&m, &uri, HeaderMap::new(), b"", "x".into()).expect("parse");
        assert_eq!(r.op, Op::List);
        let uri: Uri = "/v1/transit/keys?list=true".parse().expect("uri");
        let r = VaultRequest::parse(&Method::GET, &uri, HeaderMap::new(), b"", "x".into())
            .expect("parse");
        assert_eq!(r.op, Op::List);
        assert_eq!(r.segments(), vec!["transit", "keys"]);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        let uri: Uri = "/v1/transit/encrypt/k".parse().expect("uri");
        let r = VaultRequest::parse(&Method::POST, &uri, HeaderMap::new(), b"[1]", "x".into());
        assert!(matches!(r, Err(e) if e.status == 400));
    }
}
