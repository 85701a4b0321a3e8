//! Strongroom's storage backends, behind `strongroom_store::Store`:
//! - [`sqlite`]: the embedded default, one file;
//! - [`postgres`]: PostgreSQL for HA (several nodes, one database), with
//!   change notifications ([`postgres::listen`]).

pub mod postgres;
pub mod sqlite;

use strongroom_store::{Store, StoreError};

/// Opens the backend a configured storage location names: a
/// `postgres://` (or `postgresql://`) URL, or else a SQLite file path.
pub fn open_location(location: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if postgres::is_url(location) {
        Ok(std::sync::Arc::new(postgres::PgStore::open(location)?))
    } else {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(location)?))
    }
}
