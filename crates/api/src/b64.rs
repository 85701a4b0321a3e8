//! Base64 request fields that fail with a message naming the field.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

use strongroom_core::crypto::SecretBytes;
use strongroom_core::error::Error;

/// A base64 string from a request, decoded on demand so errors name the field.
#[derive(Deserialize, Default)]
#[serde(transparent)]
pub struct B64(String);

impl B64 {
    pub fn decode(&self, field: &str) -> Result<Vec<u8>, Error> {
        STANDARD.decode(self.0.as_bytes()).map_err(|_| {
            Error::InvalidArgument(format!(
                "{field} is not valid standard base64 (RFC 4648 with padding)"
            ))
        })
    }

    /// Decodes straight into a secret (plaintexts, data keys).
    pub fn decode_secret(&self, field: &str) -> Result<SecretBytes, Error> {
        self.decode(field).map(SecretBytes::new)
    }
}

impl Drop for B64 {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

pub fn encode(b: &[u8]) -> String {
    STANDARD.encode(b)
}
