//! TLS with rustls on the aws-lc-rs provider, and mutual TLS: client
//! certificates verified against `tls_client_ca` (rustls'
//! `WebPkiClientVerifier`), whose names the listener hands to each request
//! as a [`ClientCert`] (docs/ACCESS.md, "Client certificates").

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::ClientAuth;
use strongroom_core::error::Error;
use strongroom_engine::identity::{CertField, CertName};
use strongroom_service::gate::ClientCert;

/// The acceptor for `tls_cert`/`tls_key`, verifying client certificates
/// when `client` names a CA bundle and whether a certificate is required.
pub fn acceptor(
    cert_path: &str,
    key_path: &str,
    client: Option<(&str, ClientAuth)>,
) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let certs = load_certs(cert_path)?;
    let key = load_key(key_path)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS protocol setup: {e}")))?;
    let builder = match client {
        None => builder.with_no_client_auth(),
        Some((ca_path, mode)) => {
            builder.with_client_cert_verifier(client_verifier(ca_path, mode, provider)?)
        }
    };
    let cfg = builder.with_single_cert(certs, key).map_err(|e| {
        Error::InvalidArgument(format!(
            "TLS certificate/key rejected: {e}; check that tls_key matches tls_cert"
        ))
    })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

fn client_verifier(
    ca_path: &str,
    mode: ClientAuth,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for der in load_certs(ca_path)? {
        roots.add(der).map_err(|e| {
            Error::InvalidArgument(format!(
                "tls_client_ca {ca_path:?}: a certificate in it cannot be a trust anchor: {e}"
            ))
        })?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = match mode {
        ClientAuth::Optional => builder.allow_unauthenticated(),
        ClientAuth::Required => builder,
    };
    builder
        .build()
        .map_err(|e| Error::InvalidArgument(format!("tls_client_ca {ca_path:?}: {e}")))
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

/// The names of a verified client certificate (the end-entity certificate
/// of the chain the handshake accepted): its URI SANs, its DNS SANs, then
/// its subject's commonName attributes, each in certificate order and
/// exactly as written. `None` if it cannot be parsed (rustls accepted it,
/// so that does not happen with a real certificate).
pub fn client_cert(end_entity: &CertificateDer<'_>) -> Option<ClientCert> {
    let ee = webpki::EndEntityCert::try_from(end_entity).ok()?;
    let mut names: Vec<CertName> = Vec::new();
    for u in ee.valid_uri_names() {
        names.push(CertName {
            field: CertField::Uri,
            value: u.to_string(),
        });
    }
    for d in ee.valid_dns_names() {
        names.push(CertName {
            field: CertField::Dns,
            value: d.to_string(),
        });
    }
    for cn in common_names(ee.subject()) {
        names.push(CertName {
            field: CertField::Cn,
            value: cn,
        });
    }
    Some(ClientCert {
        names: Arc::new(names),
    })
}

/// The DER of the commonName attribute type, 2.5.4.3.
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];

/// The commonName values of a subject (the contents of its RDNSequence,
/// as webpki gives it), in order: UTF8String, PrintableString, IA5String
/// and TeletexString as UTF-8, BMPString as UTF-16BE, other types skipped.
/// An unreadable subject gives what was read before the damage.
fn common_names(subject: &[u8]) -> Vec<String> {
    use der::asn1::AnyRef;
    use der::{Reader as _, SliceReader, Tag, Tagged as _};
    let mut out = Vec::new();
    let Ok(mut rdns) = SliceReader::new(subject) else {
        return out;
    };
    while !rdns.is_finished() {
        let Ok(set) = rdns.decode::<AnyRef<'_>>() else {
            break;
        };
        if set.tag() != Tag::Set {
            break;
        }
        let Ok(mut atvs) = SliceReader::new(set.value()) else {
            break;
        };
        while !atvs.is_finished() {
            let Ok(atv) = atvs.decode::<AnyRef<'_>>() else {
                break;
            };
            if atv.tag() != Tag::Sequence {
                break;
            }
            let Ok(mut parts) = SliceReader::new(atv.value()) else {
                break;
            };
            let (Ok(oid), Ok(value)) = (parts.decode::<AnyRef<'_>>(), parts.decode::<AnyRef<'_>>())
            else {
                break;
            };
            if oid.tag() != Tag::ObjectIdentifier || oid.value() != OID_CN {
                continue;
            }
            let text = match value.tag() {
                Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
                    std::str::from_utf8(value.value()).ok().map(str::to_string)
                }
                Tag::BmpString => {
                    let units: Vec<u16> = value
                        .value()
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16(&units).ok()
                }
                _ => None,
            };
            out.extend(text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of one RDN SET { SEQUENCE { OID, value } }.
    fn rdn(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut atv = vec![0x06, oid.len() as u8];
        atv.extend_from_slice(oid);
        atv.push(tag);
        atv.push(value.len() as u8);
        atv.extend_from_slice(value);
        let mut seq = vec![0x30, atv.len() as u8];
        seq.extend(atv);
        let mut set = vec![0x31, seq.len() as u8];
        set.extend(seq);
        set
    }

    #[test]
    fn common_names_are_read_in_order_and_other_attributes_skipped() {
        let mut subject = rdn(&[0x55, 0x04, 0x0a], 0x0c, b"Example Org"); // O
        subject.extend(rdn(OID_CN, 0x0c, b"payments.internal")); // UTF8String
        subject.extend(rdn(OID_CN, 0x13, b"Second CN")); // PrintableString
        subject.extend(rdn(OID_CN, 0x1e, &[0, b'b', 0, b'm', 0, b'p'])); // BMPString
        assert_eq!(
            common_names(&subject),
            ["payments.internal", "Second CN", "bmp"]
        );
        // Truncated or garbage input: what was read before it, no panic.
        let mut cut = rdn(OID_CN, 0x0c, b"first");
        cut.extend_from_slice(&[0x31, 0x7f, 0x30]);
        assert_eq!(common_names(&cut), ["first"]);
        assert!(common_names(&[0xff, 0xff, 0xff]).is_empty());
        assert!(common_names(&[]).is_empty());
    }
}
