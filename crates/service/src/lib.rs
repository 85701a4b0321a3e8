//! The service layer: what every front-end (native `/v1`, AWS JSON 1.1,
//! and those to come) calls, and nothing HTTP-shaped.
//!
//! - [`node`]: the running node: the seal's state machine (uninitialized →
//!   sealed → unsealed) and, while unsealed, the engine, the identity
//!   registry and the audit log;
//! - [`gate`]: the one place every request is authenticated, its key
//!   resolved, authorized, put under dual control, audited and executed;
//! - [`approvals`]: dual-controlled changes as typed commands, stored,
//!   approved and run here;
//! - [`secrets`]: the secrets operations, each through the gate;
//! - [`rotator`], [`hooks`]: rotation of secrets (PostgreSQL roles, and
//!   operator-configured rotation hooks);
//! - [`auth_limit`]: the failed-authentication limit per source;
//! - [`naming`]: key ids, aliases and ARNs;
//! - [`scheduler`], [`sweep`]: what the node does by itself (scheduled
//!   rotation, destruction when a deletion window ends), audited as `system`;
//! - [`report`]: the signed compliance report.

pub mod approvals;
pub mod auth_limit;
pub mod gate;
pub mod hooks;
pub mod naming;
pub mod node;
pub mod report;
pub mod rotator;
pub mod scans;
pub mod scheduler;
pub mod secrets;
pub mod secrets_kv;
pub mod sweep;

pub(crate) use strongroom_audit as audit;
pub(crate) use strongroom_core::{clock, crypto, error};
pub(crate) use strongroom_engine::secrets as secrets_model;
pub(crate) use strongroom_engine::{auth, identity, keys, policy};

pub use gate::Service;
pub(crate) use strongroom_store as storage;
