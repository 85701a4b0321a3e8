//! Reading PEM certificate files (the server's TLS chain, the CLI's
//! `STRONGROOM_CACERT`), with messages that name the file.

use crate::error::Error;

/// The DER certificates in the PEM file at `path`; at least one.
pub fn read_certs(path: &str) -> Result<Vec<Vec<u8>>, Error> {
    let data = std::fs::read(path).map_err(|e| {
        Error::InvalidArgument(format!("cannot read certificate file {path:?}: {e}"))
    })?;
    let certs: Vec<Vec<u8>> = rustls_pemfile::certs(&mut data.as_slice())
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| {
            Error::InvalidArgument(format!("certificate file {path:?} is not valid PEM: {e}"))
        })?;
    if certs.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "no certificate found in {path:?} (expected PEM `BEGIN CERTIFICATE`)"
        )));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_file_is_refused_with_its_name() {
        let e = read_certs("/nonexistent/ca.pem").expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let p = std::env::temp_dir().join(format!("sr-pem-{}.pem", std::process::id()));
        std::fs::write(&p, "not a certificate\n").expect("write");
        let e = read_certs(p.to_str().expect("utf8")).expect_err("empty");
        assert!(e.to_string().contains("no certificate found"), "{e}");
        let _ = std::fs::remove_file(&p);
    }
}
