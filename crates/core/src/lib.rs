//! Strongroom's core: what every other crate shares and what depends on
//! nothing of ours.
//!
//! - [`crypto`]: aws-lc-rs wrappers, secret types, key specs, the injected RNG;
//! - [`clock`]: the injected clock;
//! - [`keys`]: the key model, the state × operation table, key dates and the
//!   ciphertext format (the engine that uses them is `strongroom-engine`);
//! - [`envelope`]: the streaming file format of `strongroom encrypt --in`;
//! - [`file_modes`]: files that hold secrets are created 0600;
//! - [`pem`]: PEM certificate files;
//! - [`error`]: the service's error type (codes and messages; no HTTP).

pub mod clock;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod file_modes;
pub mod keys;
pub mod pem;
