//! What the server and the CLI both speak, and nothing else: today the
//! signed compliance report's envelope ([`report`]). The CLI depends on
//! this crate and `strongroom-core` only, never on the engine, the seal or
//! storage.

pub mod report;
