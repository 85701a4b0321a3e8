//! Authentication: bearer tokens and the principal every handler receives.
//! Tokens are 256-bit random values; only their SHA-256 is stored, and the
//! comparison is constant-time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::crypto::rng::Rng;
use crate::crypto::secret::ct_eq;
use crate::crypto::SecretBytes;
use crate::error::Error;

pub const TOKEN_PREFIX: &str = "sr.";

/// Who is making a request, with the policies that decide what they may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: String,
    pub kind: PrincipalKind,
    pub roles: Vec<String>,
    /// Role policies followed by attached policies.
    pub policies: std::sync::Arc<Vec<crate::policy::Policy>>,
}

impl Principal {
    /// The break-glass root principal (the root token).
    pub fn root() -> Self {
        Principal {
            id: "root".into(),
            kind: PrincipalKind::Root,
            roles: vec!["root".into()],
            policies: std::sync::Arc::new(
                crate::policy::builtin_role("root").into_iter().collect(),
            ),
        }
    }

    pub fn is_root(&self) -> bool {
        self.kind == PrincipalKind::Root
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The root token from init or dev mode: break-glass, may do
    /// everything, and every use is flagged in the audit log.
    Root,
    /// A registered identity, limited by its roles and policies.
    Identity,
}

/// A new random token: `sr.` + 43 base64url characters (256 bits).
pub fn new_token(rng: &dyn Rng) -> Result<SecretBytes, Error> {
    let mut raw = SecretBytes::zeroed(32);
    rng.fill(raw.expose_mut())?;
    let s = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw.expose()));
    Ok(SecretBytes::new(s.into_bytes()))
}

/// The stored form of a token.
pub fn token_hash(token: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Constant-time check of a presented token against a stored hash.
pub fn token_matches(presented: &[u8], stored_hash: &[u8]) -> bool {
    ct_eq(&token_hash(presented), stored_hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rng::SystemRng;

    #[test]
    fn tokens_are_long_random_and_hash_checked() {
        let a = new_token(&SystemRng).expect("token");
        let b = new_token(&SystemRng).expect("token");
        assert!(!a.ct_eq(b.expose()));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        let h = token_hash(a.expose());
        assert!(token_matches(a.expose(), &h));
        assert!(!token_matches(b.expose(), &h));
        assert!(!token_matches(b"", &h));
    }
}
