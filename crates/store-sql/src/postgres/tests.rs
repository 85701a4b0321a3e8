//! The PostgreSQL backend against the real local server. Each store gets a
//! fresh schema, so tests run in parallel without seeing each other. The
//! server is `STRONGROOM_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); if it is not running these
//! tests fail with a message saying so (scripts/test.sh starts it).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

static N: AtomicU32 = AtomicU32::new(0);

pub fn test_url() -> String {
    std::env::var("STRONGROOM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn fresh_schema() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "sr_t_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn open(schema: &str) -> PgStore {
    PgStore::open_in_schema(&test_url(), schema).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is needed for this test and is not reachable at {} ({e:?}). Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
            test_url()
        )
    })
}

#[test]
fn shared_suite_on_postgres() {
    let schemas = std::sync::Mutex::new(Vec::new());
    strongroom_store::suite::run_all(&|| {
        let s = fresh_schema();
        schemas.lock().expect("lock").push(s.clone());
        Box::new(open(&s))
    });
    let names = schemas.into_inner().expect("lock");
    let admin = open(&names[0]);
    for s in &names {
        admin.drop_schema(s);
    }
}

#[test]
fn migrations_are_recorded_and_reopen_keeps_commits() {
    let schema = fresh_schema();
    {
        let s = open(&schema);
        s.commit(Transaction::new().push(Op::InsertKey {
            id: "k".into(),
            body: vec![1],
        }))
        .expect("commit");
    }
    let s = open(&schema);
    assert_eq!(
        s.load_key("k").expect("load").map(|r| r.body),
        Some(vec![1])
    );
    let pool = s.pool.clone();
    let versions: Vec<i64> = s
        .run(async move {
            let c = pool
                .get()
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let rows = c
                .query(
                    "SELECT version FROM schema_migrations ORDER BY version",
                    &[],
                )
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .expect("query");
    assert_eq!(versions, vec![1]);
    s.drop_schema(&schema);
}

#[test]
fn unreachable_server_is_a_clear_error_not_a_hang() {
    let started = Instant::now();
    // Port 1 on loopback: nothing listens there, connections are refused.
    let e = PgStore::open("postgres://postgres:secret-pw@127.0.0.1:1/test")
        .err()
        .expect("must fail");
    match e {
        StoreError::Unavailable(m) => {
            assert!(m.contains("127.0.0.1:1/test"), "{m}");
            assert!(m.contains("unavailable"), "{m}");
            assert!(!m.contains("secret-pw"), "password leaked: {m}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Bounded by CALL_DEADLINE, not a hang (generous bound for a loaded machine).
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn bad_url_is_a_clear_error() {
    let e = PgStore::open("postgres://u@h:notaport/db")
        .err()
        .expect("must fail");
    assert!(
        matches!(&e, StoreError::Unavailable(m) if m.contains("not a valid PostgreSQL URL")),
        "{e:?}"
    );
}

/// Two stores (two pools, as on two nodes) rotate one key from several
/// threads: read the revision, then CAS the key and insert the next version.
/// Every version number is taken once, and the sequence has no gaps.
#[test]
fn concurrent_rotations_from_two_stores_never_duplicate_versions() {
    let schema = fresh_schema();
    let a = Arc::new(open(&schema));
    let b = Arc::new(open(&schema));
    a.commit(
        Transaction::new()
            .push(Op::InsertKey {
                id: "k".into(),
                body: 1u32.to_be_bytes().to_vec(),
            })
            .push(Op::InsertVersion {
                key_id: "k".into(),
                version: 1,
                body: vec![],
            }),
    )
    .expect("create");
    let wins = Arc::new(AtomicU32::new(0));
    let conflicts = Arc::new(AtomicU32::new(0));
    let mut threads = Vec::new();
    for i in 0..6 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (wins, conflicts) = (wins.clone(), conflicts.clone());
        threads.push(std::thread::spawn(move || {
            for _ in 0..15 {
                let cur = s.load_key("k").expect("load").expect("exists");
                let latest = u32::from_be_bytes(cur.body[..4].try_into().expect("4 bytes"));
                let next = latest + 1;
                let r = s.commit(
                    Transaction::new()
                        .push(Op::UpdateKey {
                            id: "k".into(),
                            expected: cur.revision,
                            body: next.to_be_bytes().to_vec(),
                        })
                        .push(Op::InsertVersion {
                            key_id: "k".into(),
                            version: next,
                            body: vec![],
                        }),
                );
                match r {
                    Ok(()) => wins.fetch_add(1, Ordering::SeqCst),
                    Err(StoreError::Conflict(_)) => conflicts.fetch_add(1, Ordering::SeqCst),
                    Err(e) => panic!("only clean conflicts are allowed, got {e:?}"),
                };
            }
        }));
    }
    for t in threads {
        t.join().expect("thread");
    }
    let versions: Vec<u32> = a
        .load_versions("k")
        .expect("load")
        .iter()
        .map(|v| v.version)
        .collect();
    let w = wins.load(Ordering::SeqCst);
    assert_eq!(versions, (1..=w + 1).collect::<Vec<_>>());
    let k = a.load_key("k").expect("load").expect("exists");
    assert_eq!(k.revision, u64::from(w) + 1);
    assert_eq!(w + conflicts.load(Ordering::SeqCst), 90);
    a.drop_schema(&schema);
}

#[test]
fn commits_are_announced_to_listeners() {
    let schema = fresh_schema();
    let a = open(&schema);
    let b = open(&schema);
    let rx = b.subscribe().expect("postgres supports subscribe");
    let deadline = Instant::now() + Duration::from_secs(20);
    // The listener announces a full resync once it is listening.
    loop {
        let c = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("resync");
        if c == Change::Resync {
            break;
        }
    }
    a.commit(
        Transaction::new()
            .push(Op::InsertKey {
                id: "k9".into(),
                body: vec![],
            })
            .push(Op::PutRecord {
                kind: "token".into(),
                id: "t:1".into(),
                body: vec![],
            }),
    )
    .expect("commit");
    // A failed transaction announces nothing.
    assert!(a
        .commit(Transaction::new().push(Op::InsertKey {
            id: "k9".into(),
            body: vec![]
        }))
        .is_err());
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("notification"),
        );
    }
    got.sort_by_key(|c| c.payload());
    assert_eq!(
        got,
        vec![
            Change::Key("k9".into()),
            Change::Record {
                kind: "token".into(),
                id: "t:1".into()
            }
        ]
    );
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    a.drop_schema(&schema);
}

/// The sync trait is safe to call from inside an async runtime (a handler),
/// and dropping the store there does not panic either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usable_and_droppable_inside_a_runtime() {
    let schema = fresh_schema();
    let s = open(&schema);
    s.commit(Transaction::new().push(Op::PutMeta {
        name: "m".into(),
        value: vec![7],
    }))
    .expect("commit");
    assert_eq!(s.get_meta("m").expect("get"), Some(vec![7]));
    s.drop_schema(&schema);
    drop(s);
}

#[test]
fn payloads_round_trip() {
    for c in [
        Change::Key("a-b".into()),
        Change::Record {
            kind: "token".into(),
            id: "x:y".into(),
        },
        Change::Meta("root_key".into()),
        Change::Resync,
    ] {
        assert_eq!(Change::parse(&c.payload()), Some(c));
    }
    assert_eq!(Change::parse("bogus"), None);
}
