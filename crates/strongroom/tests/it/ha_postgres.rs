//! Several real `strongroom server` processes on one PostgreSQL database:
//! concurrent rotation on two nodes, cache invalidation across nodes, and
//! the three-node kill -9 test under encrypt load.
//!
//! Each test gets a fresh database on the local PostgreSQL
//! (`STRONGROOM_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! scripts/test.sh starts the server). If PostgreSQL is not running, the
//! tests fail saying so.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::{b64, error_code, init_and_unseal, unb64, unseal_http, BIN};
use serde_json::{json, Value};
use strongroom_testkit::{Server, TempDir};

fn admin_url() -> String {
    std::env::var("STRONGROOM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn admin<T>(f: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is needed for this test and is not reachable at {} ({e}). Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
                    admin_url()
                )
            });
        tokio::spawn(conn);
        f(&c).await
    })
}

/// A fresh database, dropped (with its connections) at the end.
struct Db {
    name: String,
    url: String,
}

impl Db {
    fn new(tag: &str) -> Db {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("sr_ha_{tag}_{}_{nanos}", std::process::id());
        admin(async |c| {
            c.batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap()
        });
        let base = admin_url();
        let (prefix, _) = base.rsplit_once('/').unwrap();
        Db {
            url: format!("{prefix}/{name}"),
            name,
        }
    }

    fn versions(&self, key_id: &str) -> Vec<i64> {
        let url = self.url.clone();
        let id = key_id.to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            c.query(
                "SELECT version FROM key_versions WHERE key_id = $1 ORDER BY version",
                &[&id],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
        })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let name = self.name.clone();
        admin(async move |c| {
            let _ = c
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        });
    }
}

fn node(db: &Db) -> Server {
    node_with(db, &[])
}

fn node_with(db: &Db, env: &[(&str, &str)]) -> Server {
    Server::production_with_storage_env(BIN, TempDir::new("ha"), &db.url, env)
}

/// `n` nodes on `db`: the first is initialized (3 shares, threshold 2), every
/// node is unsealed independently with two shares. Returns the shares too.
fn cluster(db: &Db, n: usize) -> (Vec<Server>, Vec<String>) {
    cluster_with(db, n, &[])
}

/// [`cluster`] with extra environment for every node.
fn cluster_with(db: &Db, n: usize, env: &[(&str, &str)]) -> (Vec<Server>, Vec<String>) {
    let mut first = node_with(db, env);
    let shares = init_and_unseal(&mut first, 3, 2);
    let token = first.token.clone();
    let mut nodes = vec![first];
    for _ in 1..n {
        let mut s = node_with(db, env);
        s.token = token.clone();
        unseal_http(&s, &shares[1..3]);
        nodes.push(s);
    }
    for s in &nodes {
        let (st, v) = s.get("/v1/sys/seal-status");
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["storage"], "postgres", "{v}");
    }
    (nodes, shares)
}

/// Polls `f` until it returns true, failing after `limit`. No fixed sleeps.
fn within(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const ONE_SECOND: Duration = Duration::from_secs(1);

fn create_key(s: &Server, body: Value) -> String {
    let (st, v) = s.post("/v1/keys", &body);
    assert_eq!(st, 200, "create: {v}");
    v["id"].as_str().unwrap().to_string()
}

fn describe(s: &Server, key: &str) -> (u16, Value) {
    s.get(&format!("/v1/keys/{key}"))
}

fn encrypt(s: &Server, key: &str, pt: &[u8]) -> (u16, Value) {
    s.post(
        "/v1/encrypt",
        &json!({ "key": key, "plaintext": b64(pt), "context": {"t": "ha"} }),
    )
}

fn decrypt(s: &Server, ct: &str) -> (u16, Value) {
    s.post(
        "/v1/decrypt",
        &json!({ "ciphertext": ct, "context": {"t": "ha"} }),
    )
}

/// Two nodes rotate one key at the same time, many times. Every rotation
/// either succeeds or gets a clean 409 Conflict (then retried); versions end
/// up unique and contiguous, in the database and on both nodes.
#[test]
fn concurrent_rotation_on_two_nodes() {
    let db = Db::new("rot");
    let (nodes, _) = cluster(&db, 2);
    let id = create_key(&nodes[0], json!({}));
    within(ONE_SECOND, "key visible on node 2", || {
        describe(&nodes[1], &id).0 == 200
    });
    const THREADS_PER_NODE: usize = 2;
    const ROTATIONS: usize = 8;
    let conflicts = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for n in &nodes {
            for _ in 0..THREADS_PER_NODE {
                let (id, conflicts) = (&id, &conflicts);
                scope.spawn(move || {
                    let mut done = 0;
                    let deadline = Instant::now() + Duration::from_secs(120);
                    while done < ROTATIONS {
                        assert!(Instant::now() < deadline, "rotations did not finish");
                        let (st, v) = n.post("/v1/rotate", &json!({ "key": id }));
                        match st {
                            200 => done += 1,
                            409 => {
                                assert_eq!(error_code(st, &v), "Conflict", "{v}");
                                conflicts.fetch_add(1, Ordering::SeqCst);
                            }
                            _ => panic!("rotation failed with {st}: {v}"),
                        }
                    }
                });
            }
        }
    });
    let total = 1 + nodes.len() * THREADS_PER_NODE * ROTATIONS;
    let want: Vec<i64> = (1..=total as i64).collect();
    assert_eq!(db.versions(&id), want, "versions unique and contiguous");
    for n in &nodes {
        within(ONE_SECOND, "both nodes see the last version", || {
            let (_, v) = describe(n, &id);
            v["primary_version"].as_u64() == Some(total as u64)
                && v["versions"].as_array().map(|a| a.len()) == Some(total)
        });
    }
    eprintln!(
        "concurrent rotation: {} rotations, {} clean conflicts retried",
        total - 1,
        conflicts.load(Ordering::SeqCst)
    );
    // Ciphertexts under the newest version decrypt on both nodes.
    let (st, v) = encrypt(&nodes[1], &id, b"after");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["version"].as_u64(), Some(total as u64), "{v}");
    let ct = v["ciphertext"].as_str().unwrap();
    for n in &nodes {
        assert_eq!(decrypt(n, ct).0, 200);
    }
}

/// Create, rotate, alias, disable on node A take effect on node B within a
/// second; a token created on A works on B, and once revoked on A it is
/// refused on B within a second (and on A at once).
#[test]
fn cache_invalidation_across_nodes() {
    let db = Db::new("inv");
    let (nodes, _) = cluster(&db, 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    let id = create_key(a, json!({ "aliases": ["alias/ha-one"] }));
    let t = within(ONE_SECOND, "created key usable on B", || {
        encrypt(b, "alias/ha-one", b"x").0 == 200
    });
    eprintln!("create on A -> usable on B after {t:?}");
    let (st, v) = a.post("/v1/rotate", &json!({ "key": id }));
    assert_eq!(st, 200, "{v}");
    let t = within(ONE_SECOND, "rotation on A seen by B", || {
        let (st, v) = encrypt(b, &id, b"x");
        st == 200 && v["version"].as_u64() == Some(2)
    });
    eprintln!("rotate on A -> new version used on B after {t:?}");
    let (st, v) = a.post("/v1/disable", &json!({ "key": id }));
    assert_eq!(st, 200, "{v}");
    let t = within(ONE_SECOND, "disable on A refused by B", || {
        let (st, v) = encrypt(b, &id, b"x");
        st != 200 && {
            assert_eq!(error_code(st, &v), "KeyDisabled", "{v}");
            true
        }
    });
    eprintln!("disable on A -> refused on B after {t:?}");

    // Tokens: an identity without roles authenticates (then is denied: 403);
    // a revoked token does not authenticate at all (401).
    let (st, v) = a.post("/v1/identities", &json!({ "name": "svc-ha" }));
    assert_eq!(st, 200, "{v}");
    let (st, v) = a.post("/v1/tokens", &json!({ "identity": "svc-ha" }));
    assert_eq!(st, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let token_id = v["info"]["id"].as_str().unwrap().to_string();
    let status_with = |s: &Server| s.request("GET", "/v1/keys", None, Some(&token)).0;
    within(ONE_SECOND, "token created on A accepted by B", || {
        status_with(b) != 401
    });
    let (st, v) = a.post("/v1/tokens/revoke", &json!({ "token_id": token_id }));
    assert_eq!(st, 200, "{v}");
    assert_eq!(status_with(a), 401, "refused on A at once");
    let t = within(ONE_SECOND, "token revoked on A refused by B", || {
        status_with(b) == 401
    });
    eprintln!("revoke on A -> refused on B after {t:?}");
}

/// One request of the load: (node index, plaintext, ciphertext).
type Acked = (usize, Vec<u8>, String);

/// Three nodes on one database under encrypt load from every node. During
/// the run: rotate the key on node 1, kill -9 node 2, restart and unseal it.
/// Afterwards every acknowledged ciphertext decrypts on every node, and every
/// acknowledged key creation exists everywhere.
#[test]
fn three_nodes_kill9_under_load() {
    let db = Db::new("kill");
    let (mut nodes, shares) = cluster(&db, 3);
    let id = create_key(&nodes[0], json!({}));
    for n in &nodes[1..] {
        within(ONE_SECOND, "key on every node", || {
            describe(n, &id).0 == 200
        });
    }
    let token = nodes[0].token.clone();
    let addrs = Arc::new(RwLock::new(
        nodes.iter().map(|n| n.addr.clone()).collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let created: Arc<Mutex<Vec<String>>> = Arc::default();
    // (node, description) of every failed request.
    let failures: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let call = {
        let (addrs, agent, token) = (addrs.clone(), agent.clone(), token.clone());
        move |node: usize, path: &str, body: &Value| -> Result<(u16, Value), String> {
            let url = format!("{}{path}", addrs.read().unwrap()[node]);
            let mut r = agent
                .post(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .send_json(body)
                .map_err(|e| e.to_string())?;
            let st = r.status().as_u16();
            let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
            Ok((st, serde_json::from_str(&text).unwrap_or(Value::Null)))
        }
    };
    let mut workers = Vec::new();
    for t in 0..6usize {
        let node = t % 3;
        let (call, stop, acked, created, failures, id) = (
            call.clone(),
            stop.clone(),
            acked.clone(),
            created.clone(),
            failures.clone(),
            id.clone(),
        );
        workers.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                // One request in 25 creates a key; the rest encrypt.
                if t == 5 && i.is_multiple_of(25) {
                    match call(node, "/v1/keys", &json!({})) {
                        Ok((200, v)) => created
                            .lock()
                            .unwrap()
                            .push(v["id"].as_str().unwrap().to_string()),
                        Ok((st, v)) => failures.lock().unwrap().push((node, format!("{st} {v}"))),
                        Err(e) => failures.lock().unwrap().push((node, e)),
                    }
                    continue;
                }
                let pt = format!("t{t}-op{i}").into_bytes();
                let body = json!({ "key": id, "plaintext": b64(&pt), "context": {"t": "ha"} });
                match call(node, "/v1/encrypt", &body) {
                    Ok((200, v)) => acked.lock().unwrap().push((
                        node,
                        pt,
                        v["ciphertext"].as_str().unwrap().to_string(),
                    )),
                    Ok((st, v)) => failures.lock().unwrap().push((node, format!("{st} {v}"))),
                    Err(e) => {
                        failures.lock().unwrap().push((node, e));
                        // The node is down: do not spin.
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        }));
    }
    let acked_count = || acked.lock().unwrap().len();
    let wait_for_more = |n: usize| {
        let target = acked_count() + n;
        within(Duration::from_secs(120), "load progressing", || {
            acked_count() >= target
        });
    };
    wait_for_more(300);
    let (st, v) = nodes[0].post("/v1/rotate", &json!({ "key": id }));
    assert_eq!(st, 200, "rotate on node 1: {v}");
    wait_for_more(300);
    // Failures recorded from here on may be node 2 being down.
    let killed_at = failures.lock().unwrap().len();
    nodes[1].kill9();
    wait_for_more(300);
    let restarted = nodes.remove(1).restart();
    unseal_http(&restarted, &shares[..2]);
    addrs.write().unwrap()[1] = restarted.addr.clone();
    nodes.insert(1, restarted);
    wait_for_more(300);
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }

    // Only node 2 may have failed requests, and only while it was down.
    let failures = failures.lock().unwrap();
    for (i, (node, why)) in failures.iter().enumerate() {
        assert_eq!(*node, 1, "a request to a healthy node failed: {why}");
        assert!(i >= killed_at, "node 2 failed before it was killed: {why}");
    }
    let acked = acked.lock().unwrap();
    let mut per_node: HashMap<usize, usize> = HashMap::new();
    let mut per_version: HashMap<u8, usize> = HashMap::new();
    for (n, _, ct) in acked.iter() {
        *per_node.entry(*n).or_default() += 1;
        // The header's version: the last byte of its 4-byte big-endian field.
        *per_version.entry(unb64(ct)[23]).or_default() += 1;
    }
    eprintln!(
        "three-node kill test: {} acknowledged encryptions (per node {per_node:?}, per version byte {per_version:?}), {} keys created, {} requests to node 2 failed while it was down",
        acked.len(),
        created.lock().unwrap().len(),
        failures.len()
    );
    // Every acknowledged ciphertext decrypts, to its plaintext, on every node.
    for n in &nodes {
        for (_, pt, ct) in acked.iter() {
            let (st, v) = decrypt(n, ct);
            assert_eq!(st, 200, "decrypt on {}: {v}", n.addr);
            assert_eq!(unb64(v["plaintext"].as_str().unwrap()), *pt);
        }
    }
    // Every acknowledged key creation is there, on every node.
    for n in &nodes {
        for k in created.lock().unwrap().iter() {
            within(ONE_SECOND, "created key on every node", || {
                describe(n, k).0 == 200
            });
        }
    }
    // The rotation took: version 2 is primary on every node.
    for n in &nodes {
        assert_eq!(describe(n, &id).1["primary_version"], 2);
        assert!(!n.logs().contains("panicked"), "{}", n.logs());
    }
    // One audit chain per node, each verifiable, including node 2's after
    // its kill -9 and restart.
    for n in &nodes {
        let (code, out, err) = common::run_cmd(n.cli().args(["audit", "verify"]));
        assert_eq!(code, 0, "audit verify on {}: {out}{err}", n.addr);
        assert!(out.starts_with("OK: "), "{out}");
    }
}

/// Encrypt throughput of one node against three nodes on one database, in
/// the same run (numbers for the closing note; no assertion on speed).
/// `cargo test -p strongroom --release --test it -- --ignored --nocapture ha_postgres::throughput`
#[test]
#[ignore]
fn throughput_one_node_vs_three() {
    let db = Db::new("tp");
    let (nodes, _) = cluster(&db, 3);
    let id = create_key(&nodes[0], json!({}));
    for n in &nodes[1..] {
        within(ONE_SECOND, "key on every node", || {
            describe(n, &id).0 == 200
        });
    }
    let clients: usize = std::env::var("HA_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let secs: u64 = std::env::var("HA_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let run = |targets: &[&Server]| -> f64 {
        let count = AtomicU64::new(0);
        let end = Instant::now() + Duration::from_secs(secs);
        let start = Instant::now();
        std::thread::scope(|scope| {
            for c in 0..clients {
                let s = targets[c % targets.len()];
                let (count, id) = (&count, &id);
                scope.spawn(move || {
                    let body = json!({ "key": id, "plaintext": b64(&[7u8; 64]) });
                    while Instant::now() < end {
                        let (st, _) = s.post("/v1/encrypt", &body);
                        assert_eq!(st, 200);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    };
    let one = run(&[&nodes[0]]);
    let three = run(&[&nodes[0], &nodes[1], &nodes[2]]);
    eprintln!(
        "encrypt throughput, {clients} client threads, {secs}s each, 64-byte plaintext, keep-alive HTTP/1.1: one node {one:.0} req/s, three nodes on one database {three:.0} req/s"
    );
}

/// The database drops every connection of both nodes (as on a PostgreSQL
/// restart or failover): writes still succeed (the pool reconnects and
/// retries), and node B's listener reconnects and catches up with changes.
#[test]
fn connections_killed_by_the_database_are_survived() {
    let db = Db::new("term");
    let (nodes, _) = cluster(&db, 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    let id = create_key(a, json!({}));
    within(ONE_SECOND, "key on B", || describe(b, &id).0 == 200);
    let name = db.name.clone();
    let kill_all = || {
        let name = name.clone();
        admin(async move |c| {
            c.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .await
            .unwrap()
            .len()
        })
    };
    for round in 2..=4u64 {
        let killed = kill_all();
        assert!(
            killed >= 2,
            "expected pool and listener connections, got {killed}"
        );
        let (st, v) = a.post("/v1/rotate", &json!({ "key": id }));
        assert_eq!(st, 200, "rotate after the connections were killed: {v}");
        within(
            Duration::from_secs(5),
            "B catches up after reconnecting",
            || describe(b, &id).1["primary_version"].as_u64() == Some(round),
        );
    }
    assert_eq!(db.versions(&id), vec![1, 2, 3, 4]);
    for n in &nodes {
        assert!(!n.logs().contains("panicked"), "{}", n.logs());
    }
}

/// A server pointed at a database that is not there exits with a clear
/// error (no hang, no password in the message).
#[test]
fn unreachable_database_stops_the_server_with_a_clear_error() {
    let dir = TempDir::new("nopg");
    let config = dir.path().join("strongroom.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nstorage_path = \"postgres://postgres:hunter2@127.0.0.1:1/nothing\"\naudit_path = {:?}\ntls_disable = true\n",
            dir.path().join("audit.jsonl").display().to_string()
        ),
    )
    .unwrap();
    let (code, out, err) = common::run_cmd(std::process::Command::new(BIN).args([
        "server",
        "--config",
        config.to_str().unwrap(),
    ]));
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("127.0.0.1:1/nothing") && err.contains("unavailable"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2") && !out.contains("hunter2"),
        "password leaked: {err}"
    );
    common::assert_no_panic("server start", &err);

    // And with PostgreSQL, each node must be given its own audit log.
    std::fs::write(
        &config,
        "storage_path = \"postgres://postgres@127.0.0.1:5432/test\"\ntls_disable = true\n",
    )
    .unwrap();
    let (code, _, err) = common::run_cmd(std::process::Command::new(BIN).args([
        "server",
        "--config",
        config.to_str().unwrap(),
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("audit_path must be set"), "{err}");
}

/// `backup restore` from a SQLite server into an empty PostgreSQL database
/// (docs/LIFECYCLE.md): one transaction, then a node on it unseals with the
/// same shares and decrypts what was encrypted before the backup.
#[test]
fn backup_restore_into_an_empty_postgres_database() {
    let mut a = Server::production(BIN, TempDir::new("pg-restore-a"), None);
    a.wait_health(503);
    let shares = init_and_unseal(&mut a, 3, 2);
    let key = create_key(&a, json!({}));
    let (st, v) = encrypt(&a, &key, b"from sqlite");
    assert_eq!(st, 200, "{v}");
    let ct = v["ciphertext"].as_str().unwrap().to_string();
    let file = a.dir.path().join("kms.backup").display().to_string();
    common::cli_ok(&a, &["backup", "create", "--out", &file]);
    a.stop();

    let db = Db::new("restore");
    let cfg = a.dir.path().join("pg.toml");
    std::fs::write(
        &cfg,
        format!(
            "storage_path = {:?}\naudit_path = {:?}\ntls_disable = true\n",
            db.url,
            a.dir.path().join("pg-audit.jsonl").display().to_string()
        ),
    )
    .unwrap();
    let sh = a.dir.path().join("shares.txt");
    std::fs::write(&sh, format!("{}\n{}\n", shares[0], shares[1])).unwrap();
    let restore = || {
        common::run_cmd(std::process::Command::new(BIN).args([
            "backup",
            "restore",
            &file,
            "--config",
            cfg.to_str().unwrap(),
            "--shares-file",
            sh.to_str().unwrap(),
        ]))
    };
    let (code, out, err) = restore();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the PostgreSQL database"), "{out}");
    let (code, _, err) = restore();
    assert!(code != 0 && err.contains("already initialized"), "{err}");

    let mut b = node(&db);
    b.token = a.token.clone();
    unseal_http(&b, &shares[1..3]);
    let (st, v) = decrypt(&b, &ct);
    assert_eq!(st, 200, "{v}");
    assert_eq!(unb64(v["plaintext"].as_str().unwrap()), b"from sqlite");
}

/// Each node caches the secrets it reads; a version written on one node
/// is what another node answers as soon as the change notification has
/// arrived (milliseconds), and two nodes can never both create the same
/// version (the second gets 409): writes decide on what is stored.
#[test]
fn secrets_written_on_one_node_are_read_on_another() {
    let db = Db::new("secrets");
    let (nodes, _) = cluster(&db, 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    let put = |s: &Server, v: &str, cas: Option<u64>| {
        let mut body = json!({ "data": { "password": v } });
        if let Some(c) = cas {
            body["cas"] = json!(c);
        }
        s.request("PUT", "/v1/secrets/data/ha/db", Some(&body), Some(&s.token))
    };
    let get = |s: &Server| s.request("GET", "/v1/secrets/data/ha/db", None, Some(&s.token));
    let reads = |s: &Server, want: &str| {
        let (st, v) = get(s);
        st == 200 && v["data"]["password"].as_str() == Some(want)
    };
    assert_eq!(put(a, "one", Some(0)).0, 200);
    // Both nodes read it, so both have it cached from here on.
    within(ONE_SECOND, "B reads version 1", || reads(b, "one"));
    assert!(reads(a, "one"));
    assert_eq!(put(b, "two", Some(1)).0, 200);
    assert!(reads(b, "two"), "the writer reads its own write at once");
    let took = within(ONE_SECOND, "A's cache drops version 1", || reads(a, "two"));
    eprintln!("secret change seen on the other node after {took:?}");
    // A stale check-and-set on the other node is refused.
    let (st, v) = put(a, "stale", Some(1));
    assert_eq!((st, error_code(st, &v).as_str()), (409, "Conflict"), "{v}");
    // Destroyed on B: gone on A (never a 500 while A's cache catches up).
    let (st, v) = b.request(
        "POST",
        "/v1/secrets/destroy/ha/db",
        Some(&json!({ "versions": [1] })),
        Some(&b.token),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = a.request(
        "GET",
        "/v1/secrets/data/ha/db?version=1",
        None,
        Some(&a.token),
    );
    assert_eq!(
        (st, error_code(st, &v).as_str()),
        (404, "SecretNotFound"),
        "{v}"
    );
    // Many changes on B, read on A after each: A never serves an old value
    // for longer than the notification takes.
    for i in 3..13u64 {
        let val = format!("v{i}");
        assert_eq!(put(b, &val, Some(i - 1)).0, 200);
        within(ONE_SECOND, "A sees B's write", || reads(a, &val));
    }
}

/// The rotation lease: a rotation running on node A (a slow hook) makes a
/// rotation of the same secret on node B answer 409 at once, the hook runs
/// once, and once A is done B may rotate.
#[test]
fn one_rotation_of_a_secret_at_a_time_across_nodes() {
    let work = TempDir::new("ha-hook");
    let dir = work.path();
    let script = dir.join("hook.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat >/dev/null\necho run >> {runs:?}\nsleep 3\nprintf '{{\"fields\":{{\"token\":\"r-%s\"}}}}' \"$$\"\n",
            runs = dir.join("runs").display().to_string()
        ),
    )
    .unwrap();
    let hooks = dir.join("hooks.toml");
    std::fs::write(
        &hooks,
        format!(
            "[[secret_rotation_hook]]\nname = \"slow\"\ncommand = [\"/bin/sh\", {:?}]\n",
            script.display().to_string()
        ),
    )
    .unwrap();
    let db = Db::new("lease");
    let env = [(
        "STRONGROOM_SECRET_ROTATION_HOOKS_FILE",
        hooks.to_str().unwrap(),
    )];
    let (nodes, _) = cluster_with(&db, 2, &env);
    let (a, b) = (&nodes[0], &nodes[1]);
    let (st, v) = a.request(
        "PUT",
        "/v1/secrets/data/svc/tok",
        Some(&json!({ "data": { "token": "first" } })),
        Some(&a.token),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = a.request(
        "PATCH",
        "/v1/secrets/metadata/svc/tok",
        Some(&json!({ "kind": "hook", "rotation_hook": "slow" })),
        Some(&a.token),
    );
    assert_eq!(st, 200, "{v}");
    let rotate = |s: &Server| {
        s.request(
            "POST",
            "/v1/secrets/rotate/svc/tok",
            Some(&json!({})),
            Some(&s.token),
        )
    };
    let runs = || {
        std::fs::read_to_string(dir.join("runs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    std::thread::scope(|scope| {
        let first = scope.spawn(|| rotate(a));
        within(Duration::from_secs(10), "the hook started on A", || {
            runs() == 1
        });
        let (st, v) = rotate(b);
        assert_eq!((st, error_code(st, &v).as_str()), (409, "Conflict"), "{v}");
        assert!(
            v.to_string().contains("already running"),
            "the answer says why: {v}"
        );
        let (st, v) = first.join().unwrap();
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["version"]["version"], 2, "{v}");
    });
    assert_eq!(runs(), 1, "the hook ran once");
    // The lease was given back: B rotates now.
    let (st, v) = rotate(b);
    assert_eq!(
        (st, v["version"]["version"].as_u64()),
        (200, Some(3)),
        "{v}"
    );
    assert_eq!(runs(), 2);
}

/// Two nodes on one database rekey at the same moment with the same
/// (current) shares, round after round: exactly one wins each round; the
/// other gets a clear 400 InvalidShare and changes nothing (a store-level
/// compare-and-set on the wrapped root key, so the loser's shares, which
/// would not unseal anything, are never handed out). Then the node that
/// did not rekey, sealed, refuses the old shares and takes the new ones;
/// and of two generate-roots at once on the two nodes, one token works.
#[test]
fn concurrent_rekeys_on_two_nodes_cannot_both_win() {
    let db = Db::new("rekey");
    let (nodes, first) = cluster(&db, 2);
    let rekey = |s: &Server, shares: &[String]| {
        s.request(
            "POST",
            "/v1/sys/rekey",
            Some(&json!({ "shares": shares, "new_shares": 3, "new_threshold": 2 })),
            None,
        )
    };
    const ROUNDS: usize = 8;
    let mut current: Vec<String> = first[..2].to_vec();
    let mut raced = 0;
    for round in 0..ROUNDS {
        let barrier = std::sync::Barrier::new(nodes.len());
        let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let handles: Vec<_> = nodes
                .iter()
                .map(|n| {
                    let (barrier, current) = (&barrier, &current);
                    scope.spawn(move || {
                        barrier.wait();
                        rekey(n, current)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<&Value> = results
            .iter()
            .filter(|(st, _)| *st == 200)
            .map(|(_, v)| v)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let (st, loser) = results.iter().find(|(st, _)| *st != 200).unwrap();
        assert_eq!(error_code(*st, loser), "InvalidShare", "{loser}");
        assert_eq!(*st, 400, "{loser}");
        let msg = loser["error"]["message"].as_str().unwrap();
        if msg.contains("was stored") {
            raced += 1; // both had checked the old shares: the compare-and-set refused the second
        } else {
            assert!(msg.contains("did not reconstruct"), "{msg}");
        }
        current = winners[0]["shares"].as_array().unwrap()[..2]
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
    }
    eprintln!("concurrent rekeys: {ROUNDS} rounds, {raced} refused by the compare-and-set");

    // Node 2 keeps no verifier of its own: sealed, it refuses the first
    // shares and unseals with the last winner's.
    let b = &nodes[1];
    let (st, v) = b.request("POST", "/v1/sys/seal", None, Some(&b.token));
    assert_eq!(st, 200, "{v}");
    let (st, v) = b.request(
        "POST",
        "/v1/sys/unseal",
        Some(&json!({ "share": first[0] })),
        None,
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = b.request(
        "POST",
        "/v1/sys/unseal",
        Some(&json!({ "share": first[1] })),
        None,
    );
    assert_eq!(
        (st, error_code(st, &v).as_str()),
        (400, "InvalidShare"),
        "old shares on the other node: {v}"
    );
    unseal_http(b, &current);

    // Two generate-roots at once, on the two nodes: one token, not two.
    let barrier = std::sync::Barrier::new(nodes.len());
    let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| {
                let (barrier, current) = (&barrier, &current);
                scope.spawn(move || {
                    barrier.wait();
                    n.request(
                        "POST",
                        "/v1/sys/generate-root",
                        Some(&json!({ "shares": current })),
                        None,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let tokens: Vec<String> = results
        .iter()
        .filter(|(st, _)| *st == 200)
        .map(|(_, v)| v["root_token"].as_str().unwrap_or_default().to_string())
        .collect();
    // One that checked the shares after the other was stored replaces it
    // (as generate-root does); one that overlapped is refused. Either way
    // the newest token works on both nodes (the other node reloads the
    // root token on the change notification), and only it.
    assert!(!tokens.is_empty(), "{results:?}");
    let working = |t: &String| {
        nodes
            .iter()
            .all(|n| n.request("POST", "/v1/keys", Some(&json!({})), Some(t)).0 == 200)
    };
    within(ONE_SECOND, "the new root token works on both nodes", || {
        tokens.iter().filter(|t| working(t)).count() == 1
    });
    for (st, v) in results.iter().filter(|(st, _)| *st != 200) {
        assert_eq!(
            (*st, error_code(*st, v).as_str()),
            (400, "InvalidShare"),
            "{v}"
        );
    }
}
