//! The embedded SQLite backend: one file, WAL, `synchronous=FULL` so a
//! commit is on disk before it is acknowledged, `secure_delete` so replaced
//! pages are overwritten. `:memory:` serves dev mode.
//!
//! Commits are grouped: transactions that arrive while another group is
//! being written wait, and the next committer applies all of them in one
//! SQLite transaction (each inside its own savepoint, so one that fails
//! leaves the others intact) with one WAL sync. Every caller still returns
//! only after its own transaction is durable.

use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use strongroom_store::{KeyRecord, Op, Record, Store, StoreError, Transaction, VersionRecord};

pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Transactions waiting for the next group commit.
    pending: Mutex<Vec<Pending>>,
}

/// Where the group committer leaves one transaction's outcome.
type Slot = Arc<Mutex<Option<Result<(), StoreError>>>>;

struct Pending {
    txn: Transaction,
    slot: Slot,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each guarded value is replaced in single assignments, so a poisoned
    // lock still holds consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    id       TEXT PRIMARY KEY,
    seq      INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    body     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_seq ON keys(seq);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS key_versions (
    key_id         TEXT NOT NULL,
    version        INTEGER NOT NULL,
    body           BLOB NOT NULL,
    usage_reserved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, version)
);
";

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`; `:memory:` for an
    /// in-memory store.
    pub fn open(path: &str) -> Result<Self, StoreError> {
        if path != ":memory:" {
            // SQLite creates -wal and -shm with the database file's mode.
            strongroom_core::file_modes::precreate_private(std::path::Path::new(path)).map_err(
                |e| StoreError::Unavailable(format!("cannot create SQLite database {path:?}: {e}")),
            )?;
        }
        let conn = Connection::open(path).map_err(|e| {
            StoreError::Unavailable(format!("cannot open SQLite database {path:?}: {e}"))
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        if path != ":memory:" {
            let mode: String = conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .map_err(unavailable)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Unavailable(format!(
                    "could not enable WAL on {path:?} (got {mode})"
                )));
            }
        }
        // Free pages can be returned to the file system by `purge`. Takes
        // effect for new databases (before the first table is created).
        conn.execute_batch("PRAGMA auto_vacuum=INCREMENTAL;")
            .map_err(unavailable)?;
        conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;",
        )
        .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self {
            conn: Mutex::new(conn),
            pending: Mutex::new(Vec::new()),
        })
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Unavailable("sqlite connection lock poisoned".into()))?;
        f(&mut guard)
    }
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

fn apply(tx: &Connection, op: &Op) -> Result<(), StoreError> {
    let conflict_or = |e: rusqlite::Error, what: String| {
        if is_constraint(&e) {
            StoreError::Conflict(what)
        } else {
            unavailable(e)
        }
    };
    match op {
        Op::PutMeta { name, value } => {
            tx.execute(
                "INSERT INTO meta(name, value) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map_err(unavailable)?;
        }
        Op::InsertMeta { name, value } => {
            tx.execute(
                "INSERT INTO meta(name, value) VALUES (?1, ?2)",
                params![name, value],
            )
            .map_err(|e| conflict_or(e, format!("metadata {name} already exists")))?;
        }
        Op::UpdateMeta {
            name,
            expected,
            value,
        } => {
            let n = tx
                .execute(
                    "UPDATE meta SET value = ?1 WHERE name = ?2 AND value = ?3",
                    params![value, name, expected],
                )
                .map_err(unavailable)?;
            if n != 1 {
                return Err(StoreError::Conflict(format!(
                    "metadata {name} was changed concurrently"
                )));
            }
        }
        Op::InsertKey { id, body } => {
            tx.execute(
                "INSERT INTO keys(id, seq, revision, body)
                 VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM keys), 1, ?2)",
                params![id, body],
            )
            .map_err(|e| conflict_or(e, format!("key {id} already exists")))?;
        }
        Op::UpdateKey { id, expected, body } => {
            let n = tx
                .execute(
                    "UPDATE keys SET body = ?1, revision = revision + 1
                     WHERE id = ?2 AND revision = ?3",
                    params![body, id, *expected as i64],
                )
                .map_err(unavailable)?;
            if n != 1 {
                return Err(StoreError::Conflict(format!(
                    "key {id} was changed concurrently (expected revision {expected})"
                )));
            }
        }
        Op::InsertVersion {
            key_id,
            version,
            body,
        } => {
            tx.execute(
                "INSERT INTO key_versions(key_id, version, body) VALUES (?1, ?2, ?3)",
                params![key_id, version, body],
            )
            .map_err(|e| {
                conflict_or(
                    e,
                    format!("version {version} of key {key_id} already exists"),
                )
            })?;
        }
        Op::UpdateVersion {
            key_id,
            version,
            body,
        } => {
            let n = tx
                .execute(
                    "UPDATE key_versions SET body = ?1 WHERE key_id = ?2 AND version = ?3",
                    params![body, key_id, version],
                )
                .map_err(unavailable)?;
            if n != 1 {
                return Err(StoreError::Conflict(format!(
                    "version {version} of key {key_id} does not exist"
                )));
            }
        }
        Op::InsertRecord { .. } | Op::PutRecord { .. } | Op::DeleteRecord { .. } => {
            apply_record(tx, op)?;
        }
        Op::ReserveUsage {
            key_id,
            version,
            reserved,
        } => {
            let n = tx
                .execute(
                    "UPDATE key_versions SET usage_reserved = MAX(usage_reserved, ?1)
                     WHERE key_id = ?2 AND version = ?3",
                    params![*reserved as i64, key_id, version],
                )
                .map_err(unavailable)?;
            if n != 1 {
                return Err(StoreError::Conflict(format!(
                    "version {version} of key {key_id} does not exist"
                )));
            }
        }
    }
    Ok(())
}

fn apply_record(tx: &Connection, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::InsertRecord { kind, id, body } => {
            tx.execute(
                "INSERT INTO records(kind, id, body) VALUES (?1, ?2, ?3)",
                params![kind, id, body],
            )
            .map_err(|e| {
                if is_constraint(&e) {
                    StoreError::Conflict(format!("{kind} {id} already exists"))
                } else {
                    unavailable(e)
                }
            })?;
        }
        Op::PutRecord { kind, id, body } => {
            tx.execute(
                "INSERT INTO records(kind, id, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body",
                params![kind, id, body],
            )
            .map_err(unavailable)?;
        }
        Op::DeleteRecord { kind, id } => {
            tx.execute(
                "DELETE FROM records WHERE kind = ?1 AND id = ?2",
                params![kind, id],
            )
            .map_err(unavailable)?;
        }
        _ => {}
    }
    Ok(())
}

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRecord> {
    Ok(VersionRecord {
        key_id: r.get(0)?,
        version: r.get(1)?,
        body: r.get(2)?,
        usage_reserved: r.get::<_, i64>(3)? as u64,
    })
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_conn(|c| {
            c.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(unavailable)
        })
    }

    fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT id, revision, body FROM keys ORDER BY seq")
                .map_err(unavailable)?;
            let rows = st
                .query_map([], |r| {
                    Ok(KeyRecord {
                        id: r.get(0)?,
                        revision: r.get::<_, i64>(1)? as u64,
                        body: r.get(2)?,
                    })
                })
                .map_err(unavailable)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })
    }

    fn load_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT id, revision, body FROM keys WHERE id = ?1",
                [id],
                |r| {
                    Ok(KeyRecord {
                        id: r.get(0)?,
                        revision: r.get::<_, i64>(1)? as u64,
                        body: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(unavailable)
        })
    }

    fn load_versions(&self, key_id: &str) -> Result<Vec<VersionRecord>, StoreError> {
        self.with_conn(|c| {
            let mut st = c
                .prepare(
                    "SELECT key_id, version, body, usage_reserved FROM key_versions
                     WHERE key_id = ?1 ORDER BY version",
                )
                .map_err(unavailable)?;
            let rows = st.query_map([key_id], version_row).map_err(unavailable)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })
    }

    fn load_all_versions(&self) -> Result<Vec<VersionRecord>, StoreError> {
        self.with_conn(|c| {
            let mut st = c
                // Table order: a sequential scan. Sorting by key would walk
                // the primary key index and read the table at random (seconds
                // per million keys on a cold cache).
                .prepare("SELECT key_id, version, body, usage_reserved FROM key_versions")
                .map_err(unavailable)?;
            let rows = st.query_map([], version_row).map_err(unavailable)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })
    }

    fn load_records(&self, kind: &str) -> Result<Vec<Record>, StoreError> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT kind, id, body FROM records WHERE kind = ?1 ORDER BY id")
                .map_err(unavailable)?;
            let rows = st
                .query_map([kind], |r| {
                    Ok(Record {
                        kind: r.get(0)?,
                        id: r.get(1)?,
                        body: r.get(2)?,
                    })
                })
                .map_err(unavailable)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })
    }

    fn commit(&self, txn: Transaction) -> Result<(), StoreError> {
        let slot: Slot = Arc::new(Mutex::new(None));
        lock(&self.pending).push(Pending {
            txn,
            slot: slot.clone(),
        });
        // Whoever holds the connection commits everything queued so far.
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Unavailable("sqlite connection lock poisoned".into()))?;
        if let Some(done) = lock(&slot).take() {
            return done; // a previous group carried this transaction
        }
        let group = std::mem::take(&mut *lock(&self.pending));
        let results = commit_group(&mut conn, &group);
        for (p, r) in group.iter().zip(results) {
            *lock(&p.slot) = Some(r);
        }
        drop(conn);
        let done = lock(&slot).take();
        done.unwrap_or_else(|| {
            Err(StoreError::Unavailable(
                "sqlite group commit lost a transaction".into(),
            ))
        })
    }

    /// Destroyed material must not survive in the files: `secure_delete`
    /// (checked here) zeroes the old cell and freed pages, freed pages are
    /// returned to the file system (`incremental_vacuum`, or `VACUUM` for a
    /// database created before auto-vacuum was turned on), and a TRUNCATE
    /// checkpoint copies the zeroed pages into the main file and empties the
    /// WAL, which still held the old page images.
    fn purge(&self) -> Result<(), StoreError> {
        self.with_conn(|c| {
            let secure: i64 = c
                .query_row("PRAGMA secure_delete", [], |r| r.get(0))
                .map_err(unavailable)?;
            if secure != 1 {
                return Err(StoreError::Unavailable(
                    "sqlite secure_delete is off; destroyed material could remain in the file".into(),
                ));
            }
            let auto_vacuum: i64 = c
                .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
                .map_err(unavailable)?;
            if auto_vacuum == 2 {
                let mut st = c.prepare("PRAGMA incremental_vacuum").map_err(unavailable)?;
                let mut rows = st.query([]).map_err(unavailable)?;
                while rows.next().map_err(unavailable)?.is_some() {}
            } else {
                // A database created before auto-vacuum was on: one full
                // VACUUM rewrites it and switches it to incremental mode.
                c.execute_batch("PRAGMA auto_vacuum=INCREMENTAL; VACUUM;")
                    .map_err(unavailable)?;
            }
            let busy: i64 = c
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                .map_err(unavailable)?;
            if busy != 0 {
                return Err(StoreError::Unavailable(
                    "sqlite WAL checkpoint could not complete (database busy); destruction will be purged on the next sweep".into(),
                ));
            }
            Ok(())
        })
    }
}

#[cfg(any(test, feature = "test-util"))]
impl SqliteStore {
    /// Lets a test turn `secure_delete` off to see `purge` refuse.
    pub fn set_secure_delete_for_test(&self, on: bool) {
        let sql = format!("PRAGMA secure_delete={}", if on { "ON" } else { "OFF" });
        let _ = self.with_conn(|c| c.execute_batch(&sql).map_err(unavailable));
    }
}

/// Applies each transaction of `group` in its own savepoint inside one
/// SQLite transaction, commits once, and returns each one's outcome. A
/// transaction that fails is rolled back alone; if the final commit fails,
/// every transaction of the group fails.
fn commit_group(conn: &mut Connection, group: &[Pending]) -> Vec<Result<(), StoreError>> {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let e = unavailable(e);
            return group.iter().map(|_| Err(clone_err(&e))).collect();
        }
    };
    let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(group.len());
    for p in group {
        if tx.is_autocommit() {
            // An error (I/O, full disk) made SQLite roll back the whole
            // transaction: nothing of this group can be committed now.
            let e =
                StoreError::Unavailable("sqlite rolled back the transaction after an error".into());
            return group.iter().map(|_| Err(clone_err(&e))).collect();
        }
        let r = (|| {
            let sp = tx.savepoint().map_err(unavailable)?;
            for op in &p.txn.ops {
                apply(&sp, op)?; // dropping `sp` on error rolls it back
            }
            sp.commit().map_err(unavailable)
        })();
        results.push(r);
    }
    if tx.is_autocommit() {
        let e = StoreError::Unavailable("sqlite rolled back the transaction after an error".into());
        return group.iter().map(|_| Err(clone_err(&e))).collect();
    }
    if let Err(e) = tx.commit() {
        let e = unavailable(e);
        for r in results.iter_mut() {
            if r.is_ok() {
                *r = Err(clone_err(&e));
            }
        }
    }
    results
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_suite_on_memory() {
        strongroom_store::suite::run_all(&|| {
            Box::new(SqliteStore::open(":memory:").expect("open"))
        });
    }

    #[test]
    fn shared_suite_on_file_and_reopen_keeps_commits() {
        let dir = std::env::temp_dir().join(format!("sr-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let n = std::sync::atomic::AtomicU32::new(0);
        strongroom_store::suite::run_all(&|| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p = dir.join(format!("s{i}.db"));
            Box::new(SqliteStore::open(p.to_str().expect("utf8")).expect("open"))
        });
        let p = dir.join("reopen.db");
        let path = p.to_str().expect("utf8");
        {
            let s = SqliteStore::open(path).expect("open");
            s.commit(Transaction::new().push(Op::InsertKey {
                id: "k".into(),
                body: vec![1],
            }))
            .expect("commit");
        }
        let s = SqliteStore::open(path).expect("reopen");
        assert_eq!(
            s.load_key("k").expect("load").map(|r| r.body),
            Some(vec![1])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_commits_are_grouped_and_each_keeps_its_outcome() {
        let dir = std::env::temp_dir().join(format!("sr-sqlite-group-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let p = dir.join("group.db");
        let path = p.to_str().expect("utf8").to_string();
        {
            let s = Arc::new(SqliteStore::open(&path).expect("open"));
            s.commit(Transaction::new().push(Op::InsertKey {
                id: "taken".into(),
                body: vec![0],
            }))
            .expect("seed");
            let threads: Vec<_> = (0..16)
                .map(|t| {
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let mut outcomes = Vec::new();
                        for i in 0..20 {
                            // Every fifth transaction conflicts on its second op:
                            // it must write nothing, and not disturb the others.
                            let mut tx = Transaction::new().push(Op::InsertKey {
                                id: format!("k-{t}-{i}"),
                                body: vec![1],
                            });
                            if i % 5 == 0 {
                                tx = tx.push(Op::InsertKey {
                                    id: "taken".into(),
                                    body: vec![2],
                                });
                            }
                            outcomes.push((i, s.commit(tx)));
                        }
                        outcomes
                    })
                })
                .collect();
            for h in threads {
                for (i, r) in h.join().expect("thread") {
                    if i % 5 == 0 {
                        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
                    } else {
                        assert_eq!(r, Ok(()));
                    }
                }
            }
        }
        let s = SqliteStore::open(&path).expect("reopen");
        let keys = s.load_keys().expect("load");
        assert_eq!(
            keys.len(),
            1 + 16 * 16,
            "the seed plus every non-conflicting insert"
        );
        for t in 0..16 {
            for i in 0..20 {
                let present = s.load_key(&format!("k-{t}-{i}")).expect("load").is_some();
                assert_eq!(present, i % 5 != 0, "k-{t}-{i}");
            }
        }
        assert_eq!(
            s.load_key("taken").expect("load").map(|r| r.body),
            Some(vec![0])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unwritable_path_is_a_clear_error() {
        let e = SqliteStore::open("/nonexistent-dir/x/strongroom.db")
            .err()
            .expect("must fail");
        match e {
            StoreError::Unavailable(m) => {
                assert!(m.contains("cannot create SQLite database"), "{m}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
