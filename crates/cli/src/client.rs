//! The HTTP client the CLI uses: `STRONGROOM_ADDR`, `STRONGROOM_TOKEN`,
//! `STRONGROOM_CACERT`, and for mutual TLS `STRONGROOM_CLIENT_CERT` and
//! `STRONGROOM_CLIENT_KEY`. Errors from the server are shown with their code.
//! HTTPS servers are verified against the system trust store, or only
//! against `STRONGROOM_CACERT` when it is set (a private CA).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

use super::CliError;

pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8200";

/// Where the client connects and as whom: `STRONGROOM_ADDR`,
/// `STRONGROOM_TOKEN`, `STRONGROOM_CACERT`, and how long one request may take.
pub struct Settings {
    pub addr: String,
    pub token: Option<String>,
    pub cacert: Option<String>,
    /// A client certificate (PEM, leaf first) and its private key (PEM),
    /// presented when the server asks (mutual TLS).
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub timeout: Duration,
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    /// Whether STRONGROOM_CACERT named the trusted CA (else: the system store).
    private_ca: bool,
    /// Whether a client certificate is presented.
    client_cert: bool,
}

impl Client {
    pub fn from_env() -> Result<Self, CliError> {
        Self::new(Settings {
            addr: std::env::var("STRONGROOM_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_string()),
            token: std::env::var("STRONGROOM_TOKEN").ok(),
            cacert: std::env::var("STRONGROOM_CACERT").ok(),
            client_cert: std::env::var("STRONGROOM_CLIENT_CERT").ok(),
            client_key: std::env::var("STRONGROOM_CLIENT_KEY").ok(),
            timeout: Duration::from_secs(120),
        })
    }

    /// A client from explicit settings (the KMS plugin's flags); empty
    /// strings count as unset, as in the environment.
    pub fn new(s: Settings) -> Result<Self, CliError> {
        let base = s.addr.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(CliError::new(format!(
                "STRONGROOM_ADDR={base:?} must start with http:// or https://"
            )));
        }
        let token = s.token.filter(|t| !t.is_empty());
        let cacert = s.cacert.filter(|p| !p.is_empty());
        let roots = match &cacert {
            // A private CA (or a self-signed server certificate).
            Some(path) => strongroom_core::pem::read_certs(path)
                .map_err(|e| CliError::new(format!("STRONGROOM_CACERT={path:?}: {e}")))?
                .into_iter()
                .map(|der| Certificate::from_der(&der).to_owned())
                .collect(),
            None if base.starts_with("https://") => system_roots()?,
            None => Vec::new(),
        };
        let identity = client_identity(
            s.client_cert.filter(|p| !p.is_empty()),
            s.client_key.filter(|p| !p.is_empty()),
        )?;
        let client_cert = identity.is_some();
        let tls = TlsConfig::builder()
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .client_cert(identity);
        let cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(s.timeout))
            .tls_config(tls.build())
            .build();
        Ok(Self {
            agent: cfg.into(),
            base,
            token,
            private_ca: cacert.is_some(),
            client_cert,
        })
    }

    /// The server's address (`STRONGROOM_ADDR`), for messages.
    pub fn base(&self) -> &str {
        &self.base
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

    /// Sends a request and returns the HTTP status and the JSON body,
    /// whatever the status: for callers that map the server's errors
    /// themselves (the KMS plugin). Fails only when the server cannot be
    /// reached or its body is not JSON.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), CliError> {
        let (status, mut resp) = self.send(method, path, body)?;
        Ok((status, read_json(status, &mut resp)?))
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
            if let Some(wrong) = self.scheme_mismatch() {
                return wrong;
            }
            if let Some(hint) = self.client_cert_hint(&text) {
                CliError::new(format!("TLS to {} failed: {text}. {hint}", self.base))
            } else if text.contains("certificate") || text.contains("Certificate") {
                let hint = if self.private_ca {
                    "Check that STRONGROOM_CACERT names the certificate (or CA) the server uses"
                } else {
                    "The system trust store does not trust the server's certificate; for a private CA or a self-signed certificate set STRONGROOM_CACERT to its PEM file"
                };
                CliError::new(format!("TLS to {} failed: {text}. {hint}", self.base))
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

/// The client certificate and key of `STRONGROOM_CLIENT_CERT` and
/// `STRONGROOM_CLIENT_KEY`: both or neither.
fn client_identity(
    cert: Option<String>,
    key: Option<String>,
) -> Result<Option<ClientCert>, CliError> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => {
            return Err(CliError::new(
                "STRONGROOM_CLIENT_CERT is set but STRONGROOM_CLIENT_KEY is not; set both (the certificate and its private key, PEM) or neither",
            ))
        }
        (None, Some(_)) => {
            return Err(CliError::new(
                "STRONGROOM_CLIENT_KEY is set but STRONGROOM_CLIENT_CERT is not; set both (the certificate and its private key, PEM) or neither",
            ))
        }
    };
    let chain: Vec<Certificate<'static>> = strongroom_core::pem::read_certs(&cert)
        .map_err(|e| CliError::new(format!("STRONGROOM_CLIENT_CERT={cert:?}: {e}")))?
        .into_iter()
        .map(|der| Certificate::from_der(&der).to_owned())
        .collect();
    let pem = zeroize::Zeroizing::new(std::fs::read(&key).map_err(|e| {
        CliError::new(format!(
            "STRONGROOM_CLIENT_KEY={key:?}: cannot read it: {e}"
        ))
    })?);
    let private = PrivateKey::from_pem(&pem).map_err(|e| {
        CliError::new(format!(
            "STRONGROOM_CLIENT_KEY={key:?}: no PEM private key in it ({e}); give the key file of the client certificate"
        ))
    })?;
    Ok(Some(ClientCert::new_with_certs(&chain, private)))
}

impl Client {
    /// What to do about a handshake the server ended over the client
    /// certificate (mutual TLS), from the TLS error's text.
    fn client_cert_hint(&self, text: &str) -> Option<&'static str> {
        if text.contains("CertificateRequired") {
            return Some(if self.client_cert {
                "The server asked for a client certificate and did not accept the one given; check STRONGROOM_CLIENT_CERT and STRONGROOM_CLIENT_KEY"
            } else {
                "The server requires a client certificate (tls_client_auth = \"required\"): set STRONGROOM_CLIENT_CERT and STRONGROOM_CLIENT_KEY to a certificate signed by its tls_client_ca and its key"
            });
        }
        let refused = [
            "UnknownCA",
            "BadCertificate",
            "CertificateExpired",
            "CertificateRevoked",
            "UnsupportedCertificate",
            "CertificateUnknown",
            "DecryptError",
        ];
        if self.client_cert && text.contains("alert") && refused.iter().any(|r| text.contains(r)) {
            return Some(
                "The server refused the client certificate (STRONGROOM_CLIENT_CERT): it must be signed by the server's tls_client_ca, be within its validity dates, and allow client authentication",
            );
        }
        None
    }

    /// After a failed request: does the server answer on the other scheme?
    /// A health request (no token, no body) on `https://` without
    /// certificate checks, or on `http://`, tells which one it speaks.
    fn scheme_mismatch(&self) -> Option<CliError> {
        let (other, says) = if let Some(rest) = self.base.strip_prefix("http://") {
            (format!("https://{rest}"), "HTTPS; use https://")
        } else if let Some(rest) = self.base.strip_prefix("https://") {
            (format!("http://{rest}"), "plain HTTP; use http://")
        } else {
            return None;
        };
        let probe: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(3)))
            .tls_config(
                TlsConfig::builder()
                    .unversioned_rustls_crypto_provider(Arc::new(
                        rustls::crypto::aws_lc_rs::default_provider(),
                    ))
                    .disable_verification(true)
                    .build(),
            )
            .build()
            .into();
        probe.get(&format!("{other}/v1/sys/health")).call().ok()?;
        let fixed = other.clone();
        Some(CliError::new(format!(
            "the server at {} speaks {says} (STRONGROOM_ADDR={fixed})",
            self.base
        )))
    }
}

/// The operating system's trusted CA certificates (read from the usual
/// files and directories at run time, e.g. /etc/ssl/certs).
fn system_roots() -> Result<Vec<Certificate<'static>>, CliError> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        return Err(CliError::new(format!(
            "STRONGROOM_ADDR uses https, but no trusted CA certificates were found in the system trust store ({} while reading it); install the ca-certificates package, or set STRONGROOM_CACERT to the PEM file of the CA that signed the server certificate",
            super::output::plural(found.errors.len() as u64, "error", "errors")
        )));
    }
    Ok(found
        .certs
        .into_iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect())
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
