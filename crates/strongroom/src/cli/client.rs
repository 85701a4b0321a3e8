//! The HTTP client the CLI uses: `STRONGROOM_ADDR`, `STRONGROOM_TOKEN`,
//! `STRONGROOM_CACERT`. Errors from the server are shown with their code.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use super::CliError;

pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8200";

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn from_env() -> Result<Self, CliError> {
        let base = std::env::var("STRONGROOM_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_string());
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(CliError::new(format!(
                "STRONGROOM_ADDR={base:?} must start with http:// or https://"
            )));
        }
        let token = std::env::var("STRONGROOM_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        let mut tls = TlsConfig::builder().unversioned_rustls_crypto_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ));
        if let Ok(path) = std::env::var("STRONGROOM_CACERT") {
            let pem = std::fs::read(&path).map_err(|e| {
                CliError::new(format!("cannot read STRONGROOM_CACERT {path:?}: {e}"))
            })?;
            let certs: Vec<Certificate<'static>> = crate::server::tls::load_certs(&path)
                .map_err(|e| CliError::new(e.to_string()))?
                .into_iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            drop(pem);
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
        } else if base.starts_with("https://") {
            return Err(CliError::new(
                "STRONGROOM_ADDR uses https; set STRONGROOM_CACERT to the PEM file of the CA that signed the server certificate".to_string(),
            ));
        }
        let cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .tls_config(tls.build())
            .build();
        Ok(Self {
            agent: cfg.into(),
            base,
            token,
        })
    }

    /// Sends a request and returns the JSON body, or the server's error.
    ///
    /// A dual-controlled request that was parked for approval (HTTP 202 with
    /// `error.code == "ApprovalRequired"`) is neither data nor a failure: it
    /// comes back as [`CliError::pending`], which every command reports as
    /// `Pending approval: ...` with exit status 0.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let (status, mut resp) = self.send(method, path, body)?;
        let v = read_json(status, &mut resp)?;
        if (200..300).contains(&status) {
            if status == 202 && v["error"]["code"].as_str() == Some("ApprovalRequired") {
                return Err(CliError::pending(v));
            }
            return Ok(v);
        }
        // Health answers 503 with its normal body when sealed.
        if path == "/v1/sys/health" {
            return Ok(v);
        }
        Err(api_error(&v))
    }

    /// A GET whose successful answer is not JSON (e.g. JSON Lines): returns
    /// a reader over the body. Errors are handled as in [`Client::call`].
    pub fn get_stream(&self, path: &str) -> Result<impl std::io::Read, CliError> {
        let (status, mut resp) = self.send("GET", path, None)?;
        if status == 200 {
            return Ok(resp.into_body().into_reader());
        }
        let v = read_json(status, &mut resp)?;
        if status == 202 && v["error"]["code"].as_str() == Some("ApprovalRequired") {
            return Err(CliError::pending(v));
        }
        Err(api_error(&v))
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, ureq::http::Response<ureq::Body>), CliError> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (m, b) => {
                let mut r = if m == "PATCH" {
                    self.agent.patch(&url)
                } else {
                    self.agent.post(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send_json(
                    b.cloned()
                        .unwrap_or_else(|| Value::Object(Default::default())),
                )
            }
        };
        let resp = result.map_err(|e| {
            let text = e.to_string();
            if text.contains("certificate") {
                CliError::new(format!(
                    "TLS to {} failed: {text}. Check that STRONGROOM_CACERT names the certificate (or CA) the server uses",
                    self.base
                ))
            } else {
                CliError::new(format!(
                    "cannot reach Strongroom at {}: {text}. Is the server running, and is STRONGROOM_ADDR right?",
                    self.base
                ))
            }
        })?;
        Ok((resp.status().as_u16(), resp))
    }
}

fn read_json(status: u16, resp: &mut ureq::http::Response<ureq::Body>) -> Result<Value, CliError> {
    resp.body_mut()
        .with_config()
        .limit(64 << 20)
        .read_json()
        .map_err(|e| {
            CliError::new(format!(
                "server answered HTTP {status} with an unreadable body: {e}"
            ))
        })
}

fn api_error(v: &Value) -> CliError {
    let code = v["error"]["code"].as_str().unwrap_or("Unknown");
    let msg = v["error"]["message"].as_str().unwrap_or("(no message)");
    CliError::api(code, msg)
}
