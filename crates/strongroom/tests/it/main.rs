//! The strongroom crate's integration tests, in one test binary: one
//! compile of the shared helpers and one link instead of one per file
//! (scripts/test.sh cold time, docs/BENCHMARKS.md "Test suite wall time").
//! Each file is a module; a test's name is its module path, so one file's
//! tests run with `cargo test -p strongroom --test it -- access::`.
//!
//! The tests of different files now run side by side (`--test-threads`),
//! not one file after another: a test must not depend on another file's
//! tests being idle (each starts its own server on an ephemeral port, in
//! its own directory; the PostgreSQL tests make a database per test).

#![allow(clippy::unwrap_used)] // tests

mod access_common;
mod common;

mod access;
mod audit_log;
mod aws_sdk;
mod backup_restore;
mod bench_smoke;
mod canary;
mod cli;
mod cli_access;
mod cli_usability;
mod console;
mod ha_postgres;
mod hostile;
mod hsm;
mod http_api;
mod key_lifecycle;
mod kms_plugin;
mod lifecycle;
mod mtls;
mod operator;
mod rotation_hooks;
mod scan_cli;
mod schedules_reports;
mod secrets;
mod tls;
mod xks;
