//! Keys: the model, the state × operation table, the ciphertext format and
//! the engine that performs every key operation.

pub mod ciphertext;
pub mod dates;
pub mod engine;
pub mod model;
pub mod state;
