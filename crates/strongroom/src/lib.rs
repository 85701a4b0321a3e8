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

pub mod api;
pub mod audit;
pub mod auth;
pub mod aws;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod identity;
pub mod keys;
pub mod policy;
pub mod report;
pub mod seal;
pub mod server;
pub mod sigv4;
pub mod storage;
