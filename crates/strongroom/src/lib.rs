//! Strongroom: a self-hosted key management service.
//!
//! Layout, one concept per folder:
//! - `crypto`: aws-lc-rs wrappers, secret types, specs;
//! - `keys`: the key model, the state × operation table, the ciphertext format and the engine;
//! - `storage`: the storage trait and its backends;
//! - `seal`: the barrier, Shamir unseal and the seal state machine;
//! - `api`: the native REST API;
//! - `server`: configuration, TLS and the listener;
//! - `cli`: the command-line client;
//! - `envelope`: the streaming file format used by `strongroom encrypt --in`;
//! - `bench`: `strongroom bench`, the load generator and its baselines.

pub use strongroom_api as api;
pub use strongroom_audit as audit;
pub use strongroom_aws as aws;
pub use strongroom_engine::auth;
pub mod bench;
pub mod cli;
pub use strongroom_core::clock;
pub use strongroom_core::crypto;
pub use strongroom_core::envelope;
pub use strongroom_core::error;
pub use strongroom_engine::identity;
pub use strongroom_engine::keys;
pub use strongroom_engine::policy;
pub use strongroom_server as server;
pub use strongroom_service::node as seal;
pub use strongroom_service::report;
pub use strongroom_sigv4 as sigv4;
/// The storage trait (strongroom-store) and its backends (strongroom-store-sql).
pub mod storage {
    pub use strongroom_store::*;
    pub use strongroom_store_sql::{open_location, postgres, sqlite};
}
