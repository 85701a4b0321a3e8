//! Storage: the trait the engine and seal talk to. The backends (SQLite,
//! PostgreSQL) are in `strongroom-store-sql`; the suite every backend must
//! pass is [`suite`], behind the `test-suite` feature.
//!
//! Storage only ever sees sealed bytes (the barrier encrypts before writing),
//! plus the few plaintext columns it needs to enforce uniqueness and
//! compare-and-set: key id, revision, version number and usage reservations.
//! A [`Transaction`] is applied atomically and durably, or not at all.

#[cfg(feature = "test-suite")]
pub mod suite;

use strongroom_core::error::Error;

/// A key row: id, the compare-and-set revision and the sealed metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub revision: u64,
    pub body: Vec<u8>,
}

/// A version row: sealed material plus the durable usage reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub key_id: String,
    pub version: u32,
    pub body: Vec<u8>,
    pub usage_reserved: u64,
}

/// A generic sealed record (identities, tokens, access keys, policies,
/// approvals): `kind` names the collection, `id` the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: String,
    pub id: String,
    pub body: Vec<u8>,
}

/// One write inside a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Insert or replace a named metadata blob.
    PutMeta { name: String, value: Vec<u8> },
    /// Insert a named metadata blob; the transaction fails with `Conflict` if it exists.
    InsertMeta { name: String, value: Vec<u8> },
    /// Replace a named metadata blob if its value is still `expected`
    /// (compare-and-set); the transaction fails with `Conflict` if it
    /// changed or is absent. Two writers that read the same value cannot
    /// both win (the seal's rekey and generate-root across nodes).
    UpdateMeta {
        name: String,
        expected: Vec<u8>,
        value: Vec<u8>,
    },
    /// Insert a new key (revision 1); fails with `Conflict` if the id exists.
    InsertKey { id: String, body: Vec<u8> },
    /// Replace a key's body if its revision is still `expected`; the new revision is `expected + 1`.
    UpdateKey {
        id: String,
        expected: u64,
        body: Vec<u8>,
    },
    /// Insert a version; fails with `Conflict` if (key, version) exists.
    InsertVersion {
        key_id: String,
        version: u32,
        body: Vec<u8>,
    },
    /// Replace a version's sealed body (used to destroy material).
    UpdateVersion {
        key_id: String,
        version: u32,
        body: Vec<u8>,
    },
    /// Raise a version's usage reservation (never lowers it).
    ReserveUsage {
        key_id: String,
        version: u32,
        reserved: u64,
    },
    /// Insert a record; fails with `Conflict` if (kind, id) exists.
    InsertRecord {
        kind: String,
        id: String,
        body: Vec<u8>,
    },
    /// Insert or replace a record.
    PutRecord {
        kind: String,
        id: String,
        body: Vec<u8>,
    },
    /// Delete a record (no error if absent).
    DeleteRecord { kind: String, id: String },
}

#[derive(Debug, Default, Clone)]
pub struct Transaction {
    pub ops: Vec<Op>,
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }
}

/// Storage failures.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreError {
    /// A uniqueness or compare-and-set check failed; nothing was written.
    Conflict(String),
    /// The backend could not read or write (I/O, fsync, busy, disconnected); nothing was written.
    Unavailable(String),
    /// Stored data is not what this version of Strongroom expects.
    Corrupt(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Error::Conflict(m),
            StoreError::Unavailable(m) => Error::StorageUnavailable(m),
            StoreError::Corrupt(m) => Error::Internal(format!("corrupt storage: {m}")),
        }
    }
}

/// The storage backend. Implementations are synchronous and thread-safe;
/// the server calls them from blocking tasks.
pub trait Store: Send + Sync {
    /// A short name for logs and metrics ("sqlite", "postgres").
    fn backend(&self) -> &'static str;
    fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    fn load_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    fn load_versions(&self, key_id: &str) -> Result<Vec<VersionRecord>, StoreError>;
    /// Every version row, in no particular order.
    fn load_all_versions(&self) -> Result<Vec<VersionRecord>, StoreError>;
    /// Every record of one kind, ordered by id.
    fn load_records(&self, kind: &str) -> Result<Vec<Record>, StoreError>;
    /// Applies every op atomically and durably (the commit is on disk when this returns `Ok`).
    fn commit(&self, tx: Transaction) -> Result<(), StoreError>;
    /// Removes what overwritten or deleted records may have left in the
    /// backend's files (old page images, journal frames, free pages), so
    /// destroyed material cannot be recovered from them. Called after key
    /// destruction; backends without such remnants keep the default.
    fn purge(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// One record, if it exists. Backends may override the default scan.
    fn load_record(&self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.load_records(kind)?.into_iter().find(|r| r.id == id))
    }
    /// Changes committed by any node (including this one), for backends that
    /// several nodes share. `None` (the default) means only this process
    /// writes, so there is nothing to hear about.
    fn subscribe(&self) -> Option<std::sync::mpsc::Receiver<Change>> {
        None
    }
}

/// What a shared backend reports after a commit, so each node can refresh
/// what it caches. Carried as a `NOTIFY` payload by PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A key, its versions or their usage reservations changed.
    Key(String),
    /// A record (identity, token, access key, policy, approval) changed or was deleted.
    Record { kind: String, id: String },
    /// A metadata blob changed (seal configuration, audit key).
    Meta(String),
    /// Notifications may have been missed (the listener reconnected): reload everything.
    Resync,
}

impl Change {
    /// `key:<id>`, `record:<kind>:<id>`, `meta:<name>` or `resync`.
    pub fn payload(&self) -> String {
        match self {
            Change::Key(id) => format!("key:{id}"),
            Change::Record { kind, id } => format!("record:{kind}:{id}"),
            Change::Meta(n) => format!("meta:{n}"),
            Change::Resync => "resync".into(),
        }
    }

    /// The inverse of [`payload`](Self::payload); `None` for anything else.
    pub fn parse(p: &str) -> Option<Change> {
        if p == "resync" {
            return Some(Change::Resync);
        }
        let (tag, rest) = p.split_once(':')?;
        match tag {
            "key" => Some(Change::Key(rest.to_string())),
            "meta" => Some(Change::Meta(rest.to_string())),
            "record" => {
                let (kind, id) = rest.split_once(':')?;
                Some(Change::Record {
                    kind: kind.to_string(),
                    id: id.to_string(),
                })
            }
            _ => None,
        }
    }
}
