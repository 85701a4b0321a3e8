//! Keys: the model, the state × operation table, key dates and the
//! ciphertext format.

pub mod ciphertext;
pub mod dates;
pub mod model;
pub mod state;
