//! Key custody: the root key that protects every stored record. The
//! [`barrier`] seals records under it; [`shamir`] splits and combines the
//! unseal key that wraps it; [`pkcs11`] keeps it wrapped by an HSM key
//! instead. The seal's state machine (uninitialized → sealed → unsealed) is
//! the running node's, in strongroom-service.

pub mod barrier;
pub mod pkcs11;
pub mod shamir;

/// Metadata record names and barrier identities of the custody records.
pub const META_SEAL_CONFIG: &str = "seal_config";
pub const META_ROOT_KEY: &str = "root_key";
pub const META_ROOT_TOKEN: &str = "root_token";
pub const ROOT_TOKEN_IDENTITY: &str = "strongroom/meta/root_token";
pub const META_AUDIT_KEY: &str = "audit_signing_key";
pub const AUDIT_KEY_IDENTITY: &str = "strongroom/meta/audit_signing_key";
