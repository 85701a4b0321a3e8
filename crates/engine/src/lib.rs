//! The key engine and what it needs to keep keys: custody of the root key,
//! identities and tokens, and policy.
//!
//! - [`keys::engine`]: every key operation, through the state table;
//! - [`seal`]: key custody: the barrier that seals every stored record,
//!   Shamir splitting of the unseal key, the PKCS#11 HSM;
//! - [`identity`]: the identity registry (identities, tokens, access keys,
//!   policies, approvals, key policies);
//! - [`auth`]: tokens and the authenticated principal;
//! - [`policy`]: the policy language, its evaluation and dual control;
//! - [`secrets`]: versioned secrets sealed under the barrier.
//!
//! Below the service layer: this crate knows no audit writer, no storage
//! backend (only `strongroom_store::Store`), no HTTP and no CLI.

pub mod auth;
pub mod identity;
pub mod policy;
pub mod seal;
pub mod secrets;

/// Keys: the model, state table, dates and ciphertext format (from
/// strongroom-core) and the engine.
pub mod keys {
    pub use strongroom_core::keys::{ciphertext, dates, model, state};
    pub mod engine;
}

pub(crate) use strongroom_core::{clock, crypto, error};
pub(crate) use strongroom_store as storage;

#[cfg(test)]
pub(crate) mod testing;
