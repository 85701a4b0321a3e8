//! The PostgreSQL backend, for several Strongroom nodes sharing one database.
//!
//! The [`Store`] trait is synchronous, and is called from blocking tasks and
//! from async handlers alike. So the store owns a small tokio runtime of its
//! own: each call spawns its work onto that runtime and waits on a plain
//! channel, which is safe from any thread (no `block_on` inside another
//! runtime). Connections come from a deadpool pool.
//!
//! Consistency: every commit is one `REPEATABLE READ` transaction. The
//! `(key_id, version)` primary key and the compare-and-set on `keys.revision`
//! make two nodes rotating the same key at once end with one winner and one
//! clean `Conflict`, never a duplicate version. Serialization failures and
//! deadlocks (SQLSTATE 40001 / 40P01) and connection failures before the
//! commit is sent are retried with bounded backoff; a connection lost while
//! the COMMIT itself is in flight is reported as `Unavailable` (the outcome
//! is unknown, so it is never acknowledged). Every call has a deadline, so a
//! database that is down gives `Unavailable`, never a hang.
//!
//! Change notification: each commit also sends `NOTIFY` (inside the same
//! transaction, so it is delivered only if the commit is) naming every key
//! and record it touched; [`PgStore::subscribe`] delivers them from a
//! dedicated `LISTEN` connection, which each node uses to refresh its caches
//! (see `server::ha`).

mod listen;
mod schema;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeSet;
use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls};

use strongroom_store::{
    Change, KeyRecord, Op, Record, Store, StoreError, Transaction, VersionRecord,
};

/// The default notification channel.
pub const CHANNEL: &str = "strongroom";
/// How long one store call may take in all, retries included.
const CALL_DEADLINE: Duration = Duration::from_secs(15);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Server-side statement timeout, in milliseconds.
const STATEMENT_TIMEOUT_MS: u64 = 8_000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const POOL_SIZE: usize = 16;

/// True for `postgres://` and `postgresql://` URLs.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

pub struct PgStore {
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    cfg: tokio_postgres::Config,
    channel: String,
    /// host:port/dbname, for messages (never the password).
    target: String,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime inside another runtime panics; this does not.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The outcome of one attempt: done, worth retrying, or final.
enum Attempt<T> {
    Done(T),
    Retry(String),
    Fail(StoreError),
}

fn is_retryable_code(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// A connection-level failure: closed, I/O (no server error code), a
/// connection exception (class 08), or the server ending the session
/// (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now),
/// as on a restart or failover.
fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(c) => {
            e.is_closed()
                || c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        }
    }
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Classifies an error from a statement inside a transaction (before COMMIT).
fn classify<T>(e: tokio_postgres::Error, conflict: impl FnOnce() -> String) -> Attempt<T> {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        Attempt::Fail(StoreError::Conflict(conflict()))
    } else if is_retryable_code(&e) || is_connection_error(&e) {
        Attempt::Retry(describe(&e))
    } else {
        Attempt::Fail(StoreError::Unavailable(format!(
            "postgres: {}",
            describe(&e)
        )))
    }
}

macro_rules! attempt {
    ($e:expr, $conflict:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return classify(err, $conflict),
        }
    };
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return classify(err, || String::from("conflict")),
        }
    };
}

impl PgStore {
    /// Connects to the database at `url`, applies migrations, and returns
    /// the store. Tables live in the connection's default schema.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, None, CHANNEL)
    }

    /// Like [`open`](Self::open), but every table lives in `schema` (created
    /// if missing) and notifications use their own channel. Tests use this to
    /// give each store a fresh, isolated namespace in one database.
    pub fn open_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        if schema.is_empty()
            || schema.len() > 40
            || !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StoreError::Unavailable(format!(
                "schema name {schema:?} must be 1-40 characters of a-z 0-9 _"
            )));
        }
        Self::open_with(url, Some(schema), &format!("{CHANNEL}_{schema}"))
    }

    fn open_with(url: &str, schema: Option<&str>, channel: &str) -> Result<Self, StoreError> {
        let mut cfg = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Unavailable(format!(
                "storage URL is not a valid PostgreSQL URL: {e}; use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
            ))
        })?;
        let target = target_of(&cfg);
        let mut options = format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}");
        if let Some(s) = schema {
            options.push_str(&format!(" -c search_path={s}"));
        }
        if let Some(o) = cfg.get_options() {
            options = format!("{o} {options}");
        }
        cfg.options(options)
            .application_name("strongroom")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(10));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strongroom-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("postgres runtime: {e}")))?;
        let handle = rt.handle().clone();
        let mgr = Manager::from_config(
            cfg.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            // The pool's timers need the store's runtime.
            let _g = handle.enter();
            Pool::builder(mgr)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(ATTEMPT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
                .recycle_timeout(Some(Duration::from_secs(2)))
                .build()
                .map_err(|e| StoreError::Unavailable(format!("postgres pool: {e}")))?
        };
        let store = PgStore {
            rt: Some(rt),
            handle,
            pool,
            cfg,
            channel: channel.to_string(),
            target,
        };
        store.migrate(schema)?;
        Ok(store)
    }

    /// The notification channel this store sends on and listens to.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Runs `fut` on the store's runtime and waits for it from this thread.
    fn run<T, F>(&self, fut: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        match rx.recv_timeout(CALL_DEADLINE + Duration::from_secs(5)) {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!(
                "postgres at {} did not answer in time",
                self.target
            ))),
        }
    }

    /// Repeats `f` while it asks for a retry, with backoff, until the deadline.
    fn retrying<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(Pool) -> Fut + Send + 'static,
        Fut: Future<Output = Attempt<T>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let target = self.target.clone();
        self.run(async move {
            let start = Instant::now();
            let mut delay = Duration::from_millis(10);
            let mut tries = 0u32;
            loop {
                tries += 1;
                let last = match tokio::time::timeout(ATTEMPT_TIMEOUT, f(pool.clone())).await {
                    Ok(Attempt::Done(v)) => return Ok(v),
                    Ok(Attempt::Fail(e)) => return Err(e),
                    Ok(Attempt::Retry(m)) => m,
                    Err(_) => {
                        return Err(StoreError::Unavailable(format!(
                            "postgres at {target}: {what} timed out after {}s (not acknowledged; a commit that timed out may or may not have been applied)",
                            ATTEMPT_TIMEOUT.as_secs()
                        )))
                    }
                };
                if start.elapsed() + delay > CALL_DEADLINE {
                    return Err(StoreError::Unavailable(format!(
                        "postgres at {target} is unavailable ({what} failed {tries} times; last error: {last})"
                    )));
                }
                tracing::debug!(what, tries, error = %last, "postgres: retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(1000));
            }
        })
    }

    fn migrate(&self, schema: Option<&str>) -> Result<(), StoreError> {
        let schema = schema.map(str::to_string);
        self.retrying("migration", move |pool| {
            let schema = schema.clone();
            async move {
                let mut client = match pool.get().await {
                    Ok(c) => c,
                    Err(e) => return Attempt::Retry(format!("cannot connect: {e}")),
                };
                if let Some(s) = &schema {
                    attempt!(
                        client
                            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))
                            .await
                    );
                }
                let tx = attempt!(client.transaction().await);
                attempt!(
                    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::MIGRATION_LOCK])
                        .await
                );
                attempt!(tx.batch_execute(schema::CREATE_TABLE).await);
                let done: Vec<i64> = attempt!(
                    tx.query("SELECT version FROM schema_migrations", &[])
                        .await
                )
                .iter()
                .map(|r| r.get(0))
                .collect();
                let newest = schema::MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
                if let Some(v) = done.iter().find(|v| **v > newest) {
                    return Attempt::Fail(StoreError::Corrupt(format!(
                        "the database has schema version {v}, newer than this Strongroom knows ({newest}); upgrade Strongroom"
                    )));
                }
                for (v, sql) in schema::MIGRATIONS {
                    if done.contains(v) {
                        continue;
                    }
                    attempt!(tx.batch_execute(sql).await);
                    attempt!(
                        tx.execute("INSERT INTO schema_migrations(version) VALUES ($1)", &[v])
                            .await
                    );
                    tracing::info!(version = v, "postgres: applied schema migration");
                }
                attempt!(tx.commit().await);
                Attempt::Done(())
            }
        })
    }

    /// A read: retried on connection failures (reads are idempotent).
    fn read<T, F>(
        &self,
        what: &'static str,
        sql: &'static str,
        params: Vec<String>,
        map: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(Vec<tokio_postgres::Row>) -> Result<T, StoreError> + Send + Sync + Clone + 'static,
    {
        self.retrying(what, move |pool| {
            let params = params.clone();
            let map = map.clone();
            async move {
                let client = match pool.get().await {
                    Ok(c) => c,
                    Err(e) => return Attempt::Retry(format!("cannot connect: {e}")),
                };
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let rows = attempt!(client.query(sql, &refs).await);
                match map(rows) {
                    Ok(v) => Attempt::Done(v),
                    Err(e) => Attempt::Fail(e),
                }
            }
        })
    }
}

fn target_of(cfg: &tokio_postgres::Config) -> String {
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", cfg.get_dbname().unwrap_or(""))
}

fn u64_of(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what} {v}")))
}

fn u32_of(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} out of range")))
}

fn key_rows(rows: Vec<tokio_postgres::Row>) -> Result<Vec<KeyRecord>, StoreError> {
    rows.into_iter()
        .map(|r| {
            Ok(KeyRecord {
                id: r.get(0),
                revision: u64_of(r.get(1), "revision")?,
                body: r.get(2),
            })
        })
        .collect()
}

fn version_rows(rows: Vec<tokio_postgres::Row>) -> Result<Vec<VersionRecord>, StoreError> {
    rows.into_iter()
        .map(|r| {
            Ok(VersionRecord {
                key_id: r.get(0),
                version: u32_of(r.get(1), "version")?,
                body: r.get(2),
                usage_reserved: u64_of(r.get(3), "usage reservation")?,
            })
        })
        .collect()
}

fn record_rows(rows: Vec<tokio_postgres::Row>) -> Result<Vec<Record>, StoreError> {
    Ok(rows
        .into_iter()
        .map(|r| Record {
            kind: r.get(0),
            id: r.get(1),
            body: r.get(2),
        })
        .collect())
}

/// The notification payloads for a transaction: one per key or record touched.
fn payloads(ops: &[Op]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for op in ops {
        match op {
            Op::InsertKey { id, .. } | Op::UpdateKey { id, .. } => {
                out.insert(Change::Key(id.clone()).payload());
            }
            Op::InsertVersion { key_id, .. }
            | Op::UpdateVersion { key_id, .. }
            | Op::ReserveUsage { key_id, .. } => {
                out.insert(Change::Key(key_id.clone()).payload());
            }
            Op::InsertRecord { kind, id, .. }
            | Op::PutRecord { kind, id, .. }
            | Op::DeleteRecord { kind, id } => {
                out.insert(
                    Change::Record {
                        kind: kind.clone(),
                        id: id.clone(),
                    }
                    .payload(),
                );
            }
            Op::PutMeta { name, .. }
            | Op::InsertMeta { name, .. }
            | Op::UpdateMeta { name, .. } => {
                out.insert(Change::Meta(name.clone()).payload());
            }
        }
    }
    out
}

async fn apply(tx: &deadpool_postgres::Transaction<'_>, op: &Op) -> Attempt<()> {
    match op {
        Op::PutMeta { name, value } => {
            attempt!(
                tx.execute(
                    "INSERT INTO meta(name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    &[name, value],
                )
                .await
            );
        }
        Op::InsertMeta { name, value } => {
            attempt!(
                tx.execute(
                    "INSERT INTO meta(name, value) VALUES ($1, $2)",
                    &[name, value]
                )
                .await,
                || format!("metadata {name} already exists")
            );
        }
        Op::UpdateMeta {
            name,
            expected,
            value,
        } => {
            // Under READ COMMITTED a concurrent writer's UPDATE waits for
            // this row lock, then re-checks `value = $3` against the new row.
            let n = attempt!(
                tx.execute(
                    "UPDATE meta SET value = $1 WHERE name = $2 AND value = $3",
                    &[value, name, expected],
                )
                .await
            );
            if n != 1 {
                return Attempt::Fail(StoreError::Conflict(format!(
                    "metadata {name} was changed concurrently"
                )));
            }
        }
        Op::InsertKey { id, body } => {
            attempt!(
                tx.execute(
                    "INSERT INTO keys(id, revision, body) VALUES ($1, 1, $2)",
                    &[id, body]
                )
                .await,
                || format!("key {id} already exists")
            );
        }
        Op::UpdateKey { id, expected, body } => {
            let expected_i = *expected as i64;
            let n = attempt!(
                tx.execute(
                    "UPDATE keys SET body = $1, revision = revision + 1
                     WHERE id = $2 AND revision = $3",
                    &[body, id, &expected_i],
                )
                .await
            );
            if n != 1 {
                return Attempt::Fail(StoreError::Conflict(format!(
                    "key {id} was changed concurrently (expected revision {expected})"
                )));
            }
        }
        Op::InsertVersion {
            key_id,
            version,
            body,
        } => {
            let v = i64::from(*version);
            attempt!(
                tx.execute(
                    "INSERT INTO key_versions(key_id, version, body) VALUES ($1, $2, $3)",
                    &[key_id, &v, body],
                )
                .await,
                || format!("version {version} of key {key_id} already exists")
            );
        }
        Op::UpdateVersion {
            key_id,
            version,
            body,
        } => {
            let v = i64::from(*version);
            let n = attempt!(
                tx.execute(
                    "UPDATE key_versions SET body = $1 WHERE key_id = $2 AND version = $3",
                    &[body, key_id, &v],
                )
                .await
            );
            if n != 1 {
                return Attempt::Fail(StoreError::Conflict(format!(
                    "version {version} of key {key_id} does not exist"
                )));
            }
        }
        Op::ReserveUsage {
            key_id,
            version,
            reserved,
        } => {
            let v = i64::from(*version);
            let r = i64::try_from(*reserved).unwrap_or(i64::MAX);
            let n = attempt!(
                tx.execute(
                    "UPDATE key_versions SET usage_reserved = GREATEST(usage_reserved, $1)
                     WHERE key_id = $2 AND version = $3",
                    &[&r, key_id, &v],
                )
                .await
            );
            if n != 1 {
                return Attempt::Fail(StoreError::Conflict(format!(
                    "version {version} of key {key_id} does not exist"
                )));
            }
        }
        Op::InsertRecord { kind, id, body } => {
            attempt!(
                tx.execute(
                    "INSERT INTO records(kind, id, body) VALUES ($1, $2, $3)",
                    &[kind, id, body],
                )
                .await,
                || format!("{kind} {id} already exists")
            );
        }
        Op::PutRecord { kind, id, body } => {
            attempt!(
                tx.execute(
                    "INSERT INTO records(kind, id, body) VALUES ($1, $2, $3)
                     ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                    &[kind, id, body],
                )
                .await
            );
        }
        Op::DeleteRecord { kind, id } => {
            attempt!(
                tx.execute(
                    "DELETE FROM records WHERE kind = $1 AND id = $2",
                    &[kind, id]
                )
                .await
            );
        }
    }
    Attempt::Done(())
}

async fn commit_once(pool: Pool, ops: std::sync::Arc<Vec<Op>>, channel: String) -> Attempt<()> {
    let mut client = match pool.get().await {
        Ok(c) => c,
        Err(e) => return Attempt::Retry(format!("cannot connect: {e}")),
    };
    let tx = attempt!(
        client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .start()
            .await
    );
    for op in ops.iter() {
        match apply(&tx, op).await {
            Attempt::Done(()) => {}
            // Dropping `tx` rolls back.
            other => return other,
        }
    }
    for p in payloads(&ops) {
        attempt!(
            tx.execute("SELECT pg_notify($1, $2)", &[&channel, &p])
                .await
        );
    }
    match tx.commit().await {
        Ok(()) => Attempt::Done(()),
        // The server refused the commit: nothing was written, try again.
        Err(e) if is_retryable_code(&e) => Attempt::Retry(describe(&e)),
        Err(e) if is_connection_error(&e) => Attempt::Fail(StoreError::Unavailable(format!(
            "postgres: the connection was lost while committing ({}); the change was not acknowledged and may or may not have been applied",
            describe(&e)
        ))),
        Err(e) => Attempt::Fail(StoreError::Unavailable(format!("postgres: {}", describe(&e)))),
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(
            "read metadata",
            "SELECT value FROM meta WHERE name = $1",
            vec![name.to_string()],
            |rows| Ok(rows.first().map(|r| r.get(0))),
        )
    }

    fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(
            "load keys",
            "SELECT id, revision, body FROM keys ORDER BY seq",
            vec![],
            key_rows,
        )
    }

    fn load_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.read(
            "load key",
            "SELECT id, revision, body FROM keys WHERE id = $1",
            vec![id.to_string()],
            |rows| Ok(key_rows(rows)?.into_iter().next()),
        )
    }

    fn load_versions(&self, key_id: &str) -> Result<Vec<VersionRecord>, StoreError> {
        self.read(
            "load versions",
            "SELECT key_id, version, body, usage_reserved FROM key_versions
             WHERE key_id = $1 ORDER BY version",
            vec![key_id.to_string()],
            version_rows,
        )
    }

    fn load_all_versions(&self) -> Result<Vec<VersionRecord>, StoreError> {
        self.read(
            "load versions",
            "SELECT key_id, version, body, usage_reserved FROM key_versions
             ORDER BY key_id, version",
            vec![],
            version_rows,
        )
    }

    fn load_records(&self, kind: &str) -> Result<Vec<Record>, StoreError> {
        self.read(
            "load records",
            "SELECT kind, id, body FROM records WHERE kind = $1 ORDER BY id",
            vec![kind.to_string()],
            record_rows,
        )
    }

    fn load_record(&self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        self.read(
            "load record",
            "SELECT kind, id, body FROM records WHERE kind = $1 AND id = $2",
            vec![kind.to_string(), id.to_string()],
            |rows| Ok(record_rows(rows)?.into_iter().next()),
        )
    }

    fn commit(&self, tx: Transaction) -> Result<(), StoreError> {
        let ops = std::sync::Arc::new(tx.ops);
        let channel = self.channel.clone();
        self.retrying("commit", move |pool| {
            commit_once(pool, ops.clone(), channel.clone())
        })
    }

    fn subscribe(&self) -> Option<std::sync::mpsc::Receiver<Change>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(listen::run(
            self.cfg.clone(),
            self.channel.clone(),
            self.target.clone(),
            tx,
        ));
        Some(rx)
    }
}

#[cfg(any(test, feature = "test-util"))]
impl PgStore {
    /// Test cleanup: drops a schema made for one test.
    pub fn drop_schema(&self, schema: &str) {
        let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        let pool = self.pool.clone();
        let _ = self.run(async move {
            let c = pool
                .get()
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            c.batch_execute(&sql)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        });
    }
}
