//! Hostile traffic (issue #21) against a real production server: silent and
//! stalled sockets are closed after the configured timeouts, the connection
//! cap leaves room for a fresh health check, a bad-token flood is answered
//! 429 and audited compactly while an authenticated client is served, and
//! health tells the truth about the audit sink. Plus the small defects:
//! ambiguous credentials, token TTL overflow, page limits and foreign ARNs.

use crate::access_common;
use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use access_common::{audit_file, call, create_key, fails, ok, production, production_with};
use serde_json::{json, Value};
use strongroom_testkit::Server;

fn host_port(s: &Server) -> String {
    s.addr.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection; returns what it sent and
/// when it closed. Fails the test if it is still open after `max`.
fn read_until_closed(mut c: TcpStream, max: Duration) -> (String, Instant) {
    let start = Instant::now();
    c.set_read_timeout(Some(max)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "connection still open after {:?} ({e}); got {:?}",
                start.elapsed(),
                String::from_utf8_lossy(&got)
            ),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), Instant::now())
}

/// The listener limits are short here so the test sees them act.
const FAST_LIMITS: &str = "header_read_timeout_ms = 600\nbody_read_timeout_ms = 600\nkeep_alive_timeout_ms = 400\nmax_header_bytes = 8192\n";

#[test]
fn silent_stalled_and_slow_clients_are_closed_after_their_timeouts() {
    let (s, _) = production_with("hostile-timeouts", FAST_LIMITS);
    let addr = host_port(&s);

    let opened = Instant::now();
    // A socket that sends nothing.
    let silent = TcpStream::connect(&addr).unwrap();
    // A header that stops half-way.
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    // A body that never completes.
    let mut slow_body = TcpStream::connect(&addr).unwrap();
    slow_body
        .write_all(
            format!(
                "POST /v1/random HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"number",
                s.token
            )
            .as_bytes(),
        )
        .unwrap();
    // A keep-alive connection left idle after one answer.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    // Closed after the 600 ms timeout, not at once (a little slack for timers).
    let (got, t) = read_until_closed(silent, Duration::from_secs(10));
    assert!(
        t - opened >= Duration::from_millis(500),
        "closed too early: {:?}",
        t - opened
    );
    assert!(!got.contains("200"), "{got}");
    let (_, t) = read_until_closed(stalled, Duration::from_secs(10));
    assert!(
        t - opened >= Duration::from_millis(500),
        "closed too early: {:?}",
        t - opened
    );
    let (got, _) = read_until_closed(slow_body, Duration::from_secs(10));
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("RequestTimeout"), "{got}");
    let (got, _) = read_until_closed(idle, Duration::from_secs(10));
    assert!(
        got.starts_with("HTTP/1.1 200"),
        "served once, then closed: {got}"
    );

    // A header over max_header_bytes is refused.
    let mut big = TcpStream::connect(&addr).unwrap();
    let huge = "a".repeat(20_000);
    let _ = big.write_all(
        format!("GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n").as_bytes(),
    );
    let (got, _) = read_until_closed(big, Duration::from_secs(10));
    assert!(
        got.is_empty() || got.starts_with("HTTP/1.1 431"),
        "oversized header: {got}"
    );

    // The server is fine afterwards.
    assert_eq!(s.get("/v1/sys/health").0, 200);
}

#[test]
fn at_the_connection_cap_a_fresh_client_is_still_served() {
    // Long timeouts: the flood sockets stay open unless the cap evicts them.
    let (s, _) = production_with(
        "hostile-cap",
        "max_connections = 8\nheader_read_timeout_ms = 60000\nkeep_alive_timeout_ms = 60000\n",
    );
    let addr = host_port(&s);
    let mut flood = Vec::new();
    for i in 0..40 {
        let mut c = TcpStream::connect(&addr).unwrap();
        if i % 2 == 0 {
            // Half of them a slow header.
            let _ = c.write_all(b"GET /v1/sys/health HTTP/1.1\r\nX-Slow: ");
        }
        flood.push(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let (st, v) = common::http(&s, "GET", "/v1/sys/health", None, None);
        assert_eq!(st, 200, "health at the cap: {v}");
        let v = ok(
            &s,
            "POST",
            "/v1/random",
            Some(&json!({"number_of_bytes": 8})),
            &s.token,
        );
        assert!(v["random"].is_string() || v.is_object(), "{v}");
    }
    let (_, metrics) = common::http(&s, "GET", "/metrics", None, None);
    let text = metrics.as_str().unwrap_or_default().to_string();
    let evicted: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("strongroom_connections_evicted_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no eviction counter in /metrics:\n{text}"));
    assert!(evicted >= 30, "idle flood sockets were evicted: {evicted}");
    let open: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("strongroom_connections_open "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(open <= 8, "open connections within the cap: {open}");
    drop(flood);
}

fn audit_lines(s: &Server) -> Vec<Value> {
    std::fs::read_to_string(audit_file(s))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bad_token_flood_is_limited_and_audited_compactly_while_valid_clients_are_served() {
    let (s, _) = production_with(
        "hostile-flood",
        "auth_failure_burst = 5\nauth_failures_per_minute = 60\nauth_failure_audit_interval_secs = 3\n",
    );
    let before = audit_lines(&s).len();
    let start = Instant::now();
    let (mut n401, mut n429) = (0, 0);
    for i in 0..200 {
        let (st, v) = call(
            &s,
            "GET",
            "/v1/keys",
            None,
            Some("sr.0123456789abcdef.not-a-valid-token"),
        );
        match st {
            401 => n401 += 1,
            429 => {
                n429 += 1;
                assert_eq!(common::error_code(st, &v), "TooManyRequests");
            }
            other => panic!("bad token got {other}: {v}"),
        }
        if i % 50 == 0 {
            // The valid token is served in the middle of the flood, same address.
            ok(&s, "GET", "/v1/keys", None, &s.token);
        }
    }
    let secs = start.elapsed().as_secs();
    // The burst, plus one a second of refill while the flood ran.
    assert!(n401 >= 5 && n401 <= 6 + secs, "{n401} in {secs} s");
    assert_eq!(n401 + n429, 200);

    // Retry-After on the 429.
    let resp = ureq::get(&format!("{}/v1/keys", s.addr))
        .header("Authorization", "Bearer sr.0123456789abcdef.nope")
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let ra: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&ra), "{ra}");

    // After the interval, the aggregate record is written.
    let secs = start.elapsed().as_secs();
    std::thread::sleep(Duration::from_millis(4500));
    let lines = audit_lines(&s);
    let anon: Vec<&Value> = lines[before..]
        .iter()
        .filter(|l| l["event"]["identity"] == "anonymous")
        .collect();
    // At most 2 records per code and 3 s interval (flood from one address, one code).
    let bound = 2 * (secs as usize / 3 + 2);
    assert!(
        anon.len() <= bound,
        "201 failures in {secs} s: at most {bound} records: {anon:#?}"
    );
    let counted: u64 = anon
        .iter()
        .map(|l| {
            let d = l["event"]["detail"].as_str().unwrap_or("");
            match d.split(' ').find_map(|kv| kv.strip_prefix("count=")) {
                Some(n) => n.parse::<u64>().unwrap(),
                None => 1, // an individual record
            }
        })
        .sum();
    assert_eq!(counted, 201, "every failure is counted: {anon:#?}");
    let agg = anon
        .iter()
        .find(|l| l["event"]["operation"] == "anonymous-failures")
        .expect("an aggregate record");
    assert_eq!(agg["event"]["source"], "127.0.0.1");
    assert_eq!(agg["event"]["error_code"], "InvalidToken");
    // The chain still verifies.
    assert_eq!(
        ok(&s, "GET", "/v1/audit/verify", None, &s.token)["ok"],
        true
    );
}

#[test]
fn health_reports_a_removed_audit_file_and_unseal_names_an_unopenable_one() {
    let (mut s, share) = production("hostile-health");
    assert_eq!(s.get("/v1/sys/health").0, 200);
    let audit = audit_file(&s);
    let moved = audit.with_extension("moved");
    std::fs::rename(&audit, &moved).unwrap();
    let (st, v) = common::http(&s, "GET", "/v1/sys/health", None, None);
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["audit_failed"], true, "{v}");
    let why = v["audit_problem"].as_str().unwrap();
    assert!(why.contains("gone") && why.contains("audit"), "{why}");
    // And requests are refused, fail closed.
    let (st, _) = common::http(
        &s,
        "POST",
        "/v1/random",
        Some(&json!({"number_of_bytes": 4})),
        Some(&s.token),
    );
    assert_eq!(st, 503);

    // At unseal, an audit path that cannot be opened is named.
    s.stop();
    std::fs::create_dir(&audit).unwrap(); // a directory where the file should be
    let s = s.restart();
    let (st, v) = call(
        &s,
        "POST",
        "/v1/sys/unseal",
        Some(&json!({ "share": share })),
        None,
    );
    assert_eq!(st, 503, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&audit.display().to_string()),
        "names the file: {msg}"
    );
    assert!(!msg.contains("storage is unavailable"), "{msg}");
    // Restoring the file lets it unseal.
    let mut s = s;
    s.stop();
    std::fs::remove_dir(&audit).unwrap();
    std::fs::rename(&moved, &audit).unwrap();
    let s = s.restart();
    common::unseal_http(&s, &[share]);
}

#[test]
fn ambiguous_credentials_ttl_overflow_and_page_limits_are_refused() {
    let (s, _) = production("hostile-defects");
    let url = format!("{}/v1/keys", s.addr);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .get(&url)
        .header("Authorization", &format!("Bearer {}", s.token))
        .header("Authorization", "Bearer sr.0123456789abcdef.other")
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400, "two Authorization headers");
    let resp = agent
        .get(&url)
        .header("Authorization", &format!("Bearer {}", s.token))
        .header("X-Strongroom-Token", &s.token)
        .call()
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        400,
        "Authorization and X-Strongroom-Token"
    );

    ok(
        &s,
        "POST",
        "/v1/identities",
        Some(&json!({"name": "ttl-user"})),
        &s.token,
    );
    for ttl in [i64::MAX, i64::MAX - 10, 100 * 365 * 86_400 + 1] {
        let v = fails(
            &s,
            "POST",
            "/v1/tokens",
            Some(&json!({"identity": "ttl-user", "ttl_secs": ttl})),
            Some(&s.token),
            400,
            "InvalidArgument",
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains("ttl"),
            "{v}"
        );
    }
    let v = ok(
        &s,
        "POST",
        "/v1/tokens",
        Some(&json!({"identity": "ttl-user", "ttl_secs": 3600})),
        &s.token,
    );
    assert!(v.to_string().contains("expires_at"), "{v}");

    for limit in ["0", "1001"] {
        let v = fails(
            &s,
            "GET",
            &format!("/v1/keys?limit={limit}"),
            None,
            Some(&s.token),
            400,
            "InvalidArgument",
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("1 to 1000"),
            "{v}"
        );
    }
    ok(&s, "GET", "/v1/keys?limit=1000", None, &s.token);

    // Key ARNs must name this server's partition, region and account.
    let k = create_key(&s, json!({}));
    let pt = json!(common::b64(b"x"));
    ok(
        &s,
        "POST",
        "/v1/encrypt",
        Some(
            &json!({"key": format!("arn:aws:kms:us-east-1:000000000000:key/{k}"), "plaintext": pt}),
        ),
        &s.token,
    );
    for arn in [
        format!("arn:aws-cn:kms:us-east-1:000000000000:key/{k}"),
        format!("arn:aws:kms:cn-north-9:000000000000:key/{k}"),
        format!("arn:aws:kms:us-east-1:999999999999:key/{k}"),
    ] {
        let v = fails(
            &s,
            "POST",
            "/v1/encrypt",
            Some(&json!({"key": arn, "plaintext": pt})),
            Some(&s.token),
            400,
            "InvalidArgument",
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("this server"),
            "{v}"
        );
    }
}

#[test]
fn audit_rotation_on_a_real_server_verifies_across_segments_and_restarts() {
    let (s, share) = production_with("hostile-rotation", "audit_rotate_bytes = 8192\n");
    for _ in 0..60 {
        ok(
            &s,
            "POST",
            "/v1/random",
            Some(&json!({"number_of_bytes": 8})),
            &s.token,
        );
    }
    let live = audit_file(&s);
    let name = live.file_name().unwrap().to_str().unwrap().to_string();
    let segments: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{name}.")) && n.len() == name.len() + 21)
        .collect();
    assert!(
        segments.len() >= 2,
        "rotated segments next to {name}: {segments:?}"
    );
    // `strongroom audit verify` checks the whole chain, every segment.
    let v = common::cli_json(&s, &["audit", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["events"].as_u64().unwrap() >= 60, "{v}");
    // Query reads the old segments too: the first records of the log are there.
    let (st, q) = common::http(&s, "GET", "/v1/audit/query?limit=5", None, Some(&s.token));
    assert_eq!(st, 200, "{q}");
    assert_eq!(q["records"][0]["index"], 0, "{q}");
    assert_eq!(s.get("/v1/sys/health").0, 200);
    // A restart continues the chain in the live segment.
    let s = access_common::reconfigure(s, &share, "", None);
    ok(
        &s,
        "POST",
        "/v1/random",
        Some(&json!({"number_of_bytes": 8})),
        &s.token,
    );
    let v = common::cli_json(&s, &["audit", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
}

/// The low-space guard: with the threshold above the disk's free space,
/// health stays 200 (the node still serves) but warns, and `/metrics` says
/// so; the free-space figure is the filesystem's (checked against `df`);
/// with a threshold below it there is no warning; 0 turns the guard off.
#[test]
fn health_and_metrics_warn_when_the_audit_disk_runs_low() {
    // 4 EiB: more than any disk here has free.
    let (s, share) = production_with(
        "hostile-lowspace",
        "audit_low_space_bytes = 4611686018427387904\n",
    );
    let (st, v) = common::http(&s, "GET", "/v1/sys/health", None, None);
    assert_eq!(st, 200, "low space is a warning, not a failure: {v}");
    assert_eq!(v["audit_low_space"], true, "{v}");
    let warning = v["warnings"][0].as_str().expect("a warning");
    assert!(
        warning.contains("audit_low_space_bytes") && warning.contains("MiB free"),
        "{warning}"
    );
    let free = v["audit_disk_free_bytes"].as_u64().expect("free bytes");
    let df = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(s.dir.path())
        .output()
        .expect("df");
    let df_free: u64 = String::from_utf8_lossy(&df.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df's figure");
    // Other processes write meanwhile: the two readings agree within 1 GiB.
    assert!(
        free.abs_diff(df_free) < 1 << 30,
        "health {free} vs df {df_free}"
    );
    let (_, metrics) = s.get("/metrics");
    let text = metrics.as_str().unwrap_or_default().to_string();
    assert!(text.contains("strongroom_audit_disk_low 1"), "{text}");
    assert!(text.contains("strongroom_audit_disk_free_bytes "), "{text}");

    // A threshold below the free space: no warning.
    let s = access_common::reconfigure(
        s,
        &share,
        "audit_low_space_bytes = 1\n",
        Some("audit_low_space_bytes"),
    );
    let (st, v) = common::http(&s, "GET", "/v1/sys/health", None, None);
    assert_eq!((st, &v["audit_low_space"]), (200, &json!(false)), "{v}");
    assert_eq!(v["warnings"], json!([]), "{v}");
    let (_, metrics) = s.get("/metrics");
    assert!(metrics
        .as_str()
        .unwrap_or_default()
        .contains("strongroom_audit_disk_low 0"));

    // 0: the guard is off, and says nothing.
    let s = access_common::reconfigure(
        s,
        &share,
        "audit_low_space_bytes = 0\n",
        Some("audit_low_space_bytes"),
    );
    let (_, v) = common::http(&s, "GET", "/v1/sys/health", None, None);
    assert_eq!(v["audit_disk_free_bytes"], json!(null), "{v}");
    let (_, metrics) = s.get("/metrics");
    assert!(!metrics
        .as_str()
        .unwrap_or_default()
        .contains("strongroom_audit_disk_low"));
}

/// Out of file descriptors (EMFILE): the server's open-file limit is
/// lowered, while it runs, to what it has open (`prlimit`), with idle
/// connections holding descriptors. A new client is still served, because
/// a failed accept evicts the oldest idle connection and backs off; the
/// failure is logged a few times, not in a tight loop.
#[test]
fn out_of_file_descriptors_evicts_an_idle_connection_and_serves_the_client() {
    let (s, _) = production_with(
        "hostile-emfile",
        "header_read_timeout_ms = 60000\nkeep_alive_timeout_ms = 60000\n",
    );
    let addr = host_port(&s);
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&addr).unwrap());
    }
    std::thread::sleep(Duration::from_millis(300));
    let pid = s.pid().expect("server pid");
    let open_fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let st = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={open_fds}:{open_fds}"))
        .status()
        .expect("prlimit");
    assert!(st.success(), "prlimit failed");
    // Every descriptor is in use: the next accept fails with EMFILE.
    for i in 0..3 {
        let (st, v) = common::http(&s, "GET", "/v1/sys/health", None, None);
        assert_eq!(st, 200, "request {i} with no descriptor free: {v}");
    }
    let (_, metrics) = common::http(&s, "GET", "/metrics", None, None);
    let text = metrics.as_str().unwrap_or_default().to_string();
    let evicted: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("strongroom_connections_evicted_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("eviction counter");
    assert!(
        evicted >= 1,
        "an idle connection gave its descriptor back:\n{text}"
    );
    let logs = s.logs();
    let warned = logs.matches("accept failed; backing off").count();
    assert!(
        (1..=5).contains(&warned),
        "the EMFILE was logged, at most every 5 s ({warned} lines):\n{logs}"
    );
    drop(idle);
}
