//! Helpers shared by the integration tests in this folder: CLI runners that
//! fail the test on any panic output, JSON and base64 shorthands.
#![allow(dead_code)] // each test file uses a different subset

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use strongroom_testkit::Server;

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_strongroom");

pub fn b64(b: &[u8]) -> String {
    STANDARD.encode(b)
}

pub fn unb64(s: &str) -> Vec<u8> {
    STANDARD
        .decode(s.trim())
        .unwrap_or_else(|e| panic!("not base64 ({e}): {s:?}"))
}

/// Fails the test if a process printed a Rust panic.
pub fn assert_no_panic(what: &str, stderr: &str) {
    assert!(
        !stderr.contains("panicked"),
        "{what}: the process panicked:\n{stderr}"
    );
}

/// Runs a prepared command (stdin closed): (exit code, stdout, stderr),
/// asserting it did not panic.
pub fn run_cmd(cmd: &mut Command) -> (i32, String, String) {
    let what = format!("{cmd:?}");
    let (code, out, err) = strongroom_testkit::run(cmd);
    assert_no_panic(&what, &err);
    assert_ne!(code, 101, "{what}: exit code 101 (panic)\n{err}");
    (code, out, err)
}

/// Runs `strongroom ARGS` against `s`.
pub fn cli(s: &Server, args: &[&str]) -> (i32, String, String) {
    run_cmd(s.cli().args(args))
}

/// Runs `strongroom ARGS`, requires success, returns stdout.
pub fn cli_ok(s: &Server, args: &[&str]) -> String {
    let (code, out, err) = cli(s, args);
    assert_eq!(
        code, 0,
        "strongroom {args:?} failed:\nstdout: {out}\nstderr: {err}"
    );
    out
}

/// Runs `strongroom -o json ARGS`, requires success, parses stdout.
pub fn cli_json(s: &Server, args: &[&str]) -> Value {
    let mut full = vec!["-o", "json"];
    full.extend_from_slice(args);
    let out = cli_ok(s, &full);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("strongroom {full:?}: not JSON ({e}):\n{out}"))
}

/// Runs `strongroom ARGS`, requires failure (exit 1), returns stderr.
pub fn cli_err(s: &Server, args: &[&str]) -> String {
    let (code, out, err) = cli(s, args);
    assert_eq!(
        code, 1,
        "strongroom {args:?} should fail with exit 1:\nstdout: {out}\nstderr: {err}"
    );
    err
}

/// Runs a command with `input` on stdin; returns (code, stdout bytes, stderr).
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> (i32, Vec<u8>, String) {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strongroom");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        // The child may exit early (error); a broken pipe is fine then.
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait strongroom");
    writer.join().expect("stdin writer");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_no_panic(&what, &err);
    (out.status.code().unwrap_or(-1), out.stdout, err)
}

/// `{"error": {"code", "message"}}` with a non-empty message; returns the code.
pub fn error_code(status: u16, body: &Value) -> String {
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("HTTP {status}: error body without error.code: {body}"));
    let msg = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("HTTP {status}: error body without error.message: {body}"));
    assert!(
        !msg.trim().is_empty(),
        "HTTP {status}: empty error message: {body}"
    );
    assert!(!code.is_empty(), "HTTP {status}: empty error code: {body}");
    code.to_string()
}

/// Initializes a production server through the CLI and unseals it with the
/// first `threshold` shares. Returns the shares; sets `s.token`.
pub fn init_and_unseal(s: &mut Server, shares: u8, threshold: u8) -> Vec<String> {
    let (code, out, err) = run_cmd(s.cli().args([
        "-o",
        "json",
        "operator",
        "init",
        "--shares",
        &shares.to_string(),
        "--threshold",
        &threshold.to_string(),
    ]));
    assert_eq!(code, 0, "operator init failed: {err}");
    let v: Value = serde_json::from_str(&out).expect("init JSON");
    let list: Vec<String> = v["shares"]
        .as_array()
        .expect("shares array")
        .iter()
        .map(|x| x.as_str().expect("share string").to_string())
        .collect();
    assert_eq!(list.len(), shares as usize);
    s.token = v["root_token"].as_str().expect("root_token").to_string();
    for sh in &list[..threshold as usize] {
        cli_ok(s, &["operator", "unseal", sh]);
    }
    s.wait_health(200);
    list
}

/// Unseals with the given shares over HTTP (no CLI), waits for health 200.
pub fn unseal_http(s: &Server, shares: &[String]) {
    for sh in shares {
        let (st, body) = s.request(
            "POST",
            "/v1/sys/unseal",
            Some(&serde_json::json!({ "share": sh })),
            None,
        );
        assert_eq!(st, 200, "unseal: {body}");
    }
    s.wait_health(200);
}

/// A deterministic, incompressible-looking byte stream (xorshift64*).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A share with valid framing and checksum for the installation of `real`,
/// but a made-up point: it passes every per-share check and can only be
/// caught when the shares are combined.
pub fn forge_share(real: &str, x: u8, y: &[u8; 32]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = URL_SAFE_NO_PAD
        .decode(real.trim())
        .expect("share is base64url");
    let cluster = &raw[3..19];
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"strongroom-share-v1");
    ctx.update(cluster);
    ctx.update(&[x]);
    ctx.update(y);
    let d = ctx.finish();
    let mut framed = raw[..19].to_vec();
    framed.push(x);
    framed.extend_from_slice(y);
    framed.extend_from_slice(&d.as_ref()[..8]);
    URL_SAFE_NO_PAD.encode(framed)
}

/// An HTTP client that opens a new connection for every request.
///
/// The test kit's client keeps connections alive. The server closes a
/// keep-alive connection, without `Connection: close`, when it answers a
/// request before reading its body (401, 503, 405, 413, wrong content
/// type). The next request on that connection then fails with "Peer
/// disconnected" (see `early_rejection_keeps_or_closes_cleanly` in
/// http_api.rs). Tests that provoke such answers use this client.
fn fresh_agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .build()
            .into()
    })
}

fn finish(what: &str, res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut resp = res.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_else(|e| panic!("{what}: reading the answer: {e}"));
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Any method, JSON body or none, any token or none; a new connection each time.
pub fn http(
    s: &Server,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let url = format!("{}{path}", s.addr);
    let auth = token.map(|t| format!("Bearer {t}"));
    let a = fresh_agent();
    let what = format!("{method} {path}");
    let res = match method {
        "GET" | "DELETE" | "HEAD" | "OPTIONS" => {
            let mut r = match method {
                "GET" => a.get(&url),
                "DELETE" => a.delete(&url),
                "HEAD" => a.head(&url),
                _ => a.options(&url),
            };
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.call()
        }
        _ => {
            let mut r = match method {
                "POST" => a.post(&url),
                "PATCH" => a.patch(&url),
                "PUT" => a.put(&url),
                other => panic!("unsupported method {other}"),
            };
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.send_json(body.cloned().unwrap_or(Value::Null))
        }
    };
    finish(&what, res)
}

/// POST raw bytes with a content type (empty: none), with the server's token.
pub fn http_raw(s: &Server, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let mut r = fresh_agent()
        .post(&format!("{}{path}", s.addr))
        .header("Authorization", &format!("Bearer {}", s.token));
    if !content_type.is_empty() {
        r = r.header("Content-Type", content_type);
    }
    finish(&format!("POST {path} (raw)"), r.send(body))
}
