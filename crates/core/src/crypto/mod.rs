//! Cryptographic building blocks, all on aws-lc-rs: secret types, the
//! injected RNG, key specs, key material and the encryption-context encoding.

pub mod context;
pub mod material;
pub mod rng;
pub mod secret;
pub mod spec;

pub use secret::SecretBytes;
