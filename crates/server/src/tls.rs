//! TLS with rustls on the aws-lc-rs provider.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use strongroom_core::error::Error;

pub fn acceptor(cert_path: &str, key_path: &str) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let certs = load_certs(cert_path)?;
    let key = load_key(key_path)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS protocol setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            Error::InvalidArgument(format!(
                "TLS certificate/key rejected: {e}; check that tls_key matches tls_cert"
            ))
        })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

pub fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    Ok(strongroom_core::pem::read_certs(path)?
        .into_iter()
        .map(CertificateDer::from)
        .collect())
}

fn load_key(path: &str) -> Result<PrivateKeyDer<'static>, Error> {
    let data = std::fs::read(path).map_err(|e| {
        Error::InvalidArgument(format!("cannot read private key file {path:?}: {e}"))
    })?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|e| {
            Error::InvalidArgument(format!("private key file {path:?} is not valid PEM: {e}"))
        })?
        .ok_or_else(|| Error::InvalidArgument(format!("no private key found in {path:?}")))
}
