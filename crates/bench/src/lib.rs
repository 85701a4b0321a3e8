//! `strongroom bench`: the load generator and its baselines (issue 6).
//!
//! One invocation measures, in this order: the ceiling (a bare AES-256-GCM
//! axum handler this process starts on an ephemeral port), then each
//! workload against a running server, each over N keep-alive connections
//! for a fixed time after a warm-up, then the in-process aws-lc-rs rate of
//! each workload's primitives. Every figure is also given as a ratio to the
//! ceiling measured in the same run. See docs/BENCHMARKS.md.

mod ceiling;
mod inproc;
mod load;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::{HeaderValue, Request};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::Args;
use serde_json::{json, Value};

use load::{MakeRequest, Measured, Plan};
use strongroom_cli::client::{Client, DEFAULT_ADDR};
use strongroom_cli::output::Format;
use strongroom_cli::CliError;
use strongroom_sigv4 as sigv4;

/// `strongroom bench` arguments.
#[derive(Args)]
pub struct BenchArgs {
    /// The server to drive (plain http://).
    #[arg(long, env = "STRONGROOM_ADDR", default_value = DEFAULT_ADDR)]
    addr: String,
    /// A token allowed to create keys and use them (the dev root token).
    #[arg(long, env = "STRONGROOM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM client certificate (mutual TLS) for the setup and file-envelope
    /// requests, which go through the CLI's HTTP client; with --client-key.
    #[arg(long, env = "STRONGROOM_CLIENT_CERT", requires = "client_key")]
    client_cert: Option<String>,
    /// The client certificate's PEM private key.
    #[arg(long, env = "STRONGROOM_CLIENT_KEY", requires = "client_cert")]
    client_key: Option<String>,
    /// AWS access key pair AKID:SECRET for the aws-encrypt workload (e.g. the
    /// dev server's --dev-aws-credentials). Without it aws-encrypt is skipped.
    #[arg(long, env = "STRONGROOM_BENCH_AWS_CREDENTIALS", hide_env_values = true)]
    aws_credentials: Option<String>,
    /// Every workload.
    #[arg(long)]
    all: bool,
    /// Workloads to run (repeatable or comma-separated): encrypt, decrypt,
    /// data-key, aws-encrypt, vault-encrypt, sign-ecdsa-p256, sign-ed25519,
    /// sign-rsa-2048, hmac, batch-encrypt, create-key, file-envelope,
    /// sign-ml-dsa-65, verify-ml-dsa-65, encapsulate-ml-kem-768,
    /// decapsulate-ml-kem-768, secret-get, secret-put.
    #[arg(long = "workload", short = 'w', value_delimiter = ',')]
    workloads: Vec<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, short = 'c', default_value_t = 16)]
    connections: usize,
    /// Measured time per workload (e.g. 10s, 1500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Warm-up before each measurement (not counted).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Load-generator threads (default: number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Instead of a timed run, send exactly this many requests per workload
    /// (no warm-up), e.g. to fill a store with keys.
    #[arg(long)]
    ops: Option<u64>,
    /// Skip the ceiling server.
    #[arg(long)]
    no_ceiling: bool,
    /// Skip the in-process crypto rates.
    #[arg(long)]
    no_inproc: bool,
    /// Seconds of each in-process loop.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    inproc_time: Duration,
    /// Size of the generated file for file-envelope, in MiB.
    #[arg(long, default_value_t = 1024)]
    file_mib: u64,
    /// Directory for file-envelope's input and output (default: the temp dir).
    #[arg(long)]
    file_dir: Option<std::path::PathBuf>,
    /// Run create-key against this server instead (one with a file-backed,
    /// durable store; the dev server's store is in memory).
    #[arg(long)]
    durable_addr: Option<String>,
    /// Connections for create-key (default: --connections). Each key
    /// creation waits for three syncs (audit intent, store, audit result),
    /// so more connections are needed to fill the groups.
    #[arg(long)]
    create_connections: Option<usize>,
    /// Token for --durable-addr.
    #[arg(long, hide_env_values = true, env = "STRONGROOM_BENCH_DURABLE_TOKEN")]
    durable_token: Option<String>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 10s, 1.5s or 500ms"))?;
    if !(0.0..=86_400.0).contains(&(v * scale)) {
        return Err(format!("{s:?} is out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// The workloads, in the order `--all` runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Encrypt,
    Decrypt,
    DataKey,
    AwsEncrypt,
    VaultEncrypt,
    SignEcdsaP256,
    SignEd25519,
    SignRsa2048,
    Hmac,
    BatchEncrypt,
    CreateKey,
    FileEnvelope,
    SignMlDsa65,
    VerifyMlDsa65,
    EncapsulateMlKem768,
    DecapsulateMlKem768,
    SecretGet,
    SecretPut,
}

const ALL: [Workload; 18] = [
    Workload::Encrypt,
    Workload::Decrypt,
    Workload::DataKey,
    Workload::AwsEncrypt,
    Workload::VaultEncrypt,
    Workload::SignEcdsaP256,
    Workload::SignEd25519,
    Workload::SignRsa2048,
    Workload::Hmac,
    Workload::BatchEncrypt,
    Workload::CreateKey,
    Workload::FileEnvelope,
    Workload::SignMlDsa65,
    Workload::VerifyMlDsa65,
    Workload::EncapsulateMlKem768,
    Workload::DecapsulateMlKem768,
    Workload::SecretGet,
    Workload::SecretPut,
];

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Encrypt => "encrypt",
            Workload::Decrypt => "decrypt",
            Workload::DataKey => "data-key",
            Workload::AwsEncrypt => "aws-encrypt",
            Workload::VaultEncrypt => "vault-encrypt",
            Workload::SignEcdsaP256 => "sign-ecdsa-p256",
            Workload::SignEd25519 => "sign-ed25519",
            Workload::SignRsa2048 => "sign-rsa-2048",
            Workload::Hmac => "hmac",
            Workload::BatchEncrypt => "batch-encrypt",
            Workload::CreateKey => "create-key",
            Workload::FileEnvelope => "file-envelope",
            Workload::SignMlDsa65 => "sign-ml-dsa-65",
            Workload::VerifyMlDsa65 => "verify-ml-dsa-65",
            Workload::EncapsulateMlKem768 => "encapsulate-ml-kem-768",
            Workload::DecapsulateMlKem768 => "decapsulate-ml-kem-768",
            Workload::SecretGet => "secret-get",
            Workload::SecretPut => "secret-put",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Workload::Encrypt => "POST /v1/encrypt, 1 KiB plaintext",
            Workload::Decrypt => "POST /v1/decrypt of a 1 KiB ciphertext",
            Workload::DataKey => "POST /v1/generate-data-key, 32 bytes",
            Workload::AwsEncrypt => "POST / TrentService.Encrypt, SigV4-signed per request, 1 KiB",
            Workload::VaultEncrypt => {
                "POST /v1/transit/encrypt/strongroom-bench (Vault Transit, X-Vault-Token), 1 KiB"
            }
            Workload::SignEcdsaP256 => "POST /v1/sign, ECC_NIST_P256, 1 KiB RAW message",
            Workload::SignEd25519 => "POST /v1/sign, ED25519, 1 KiB RAW message",
            Workload::SignRsa2048 => "POST /v1/sign, RSA_2048 (PSS SHA-256), 1 KiB RAW message",
            Workload::Hmac => "POST /v1/mac, HMAC_SHA_256, 1 KiB message",
            Workload::BatchEncrypt => "POST /v1/batch/encrypt, 100 items of 1 KiB",
            Workload::CreateKey => "POST /v1/keys (AES_256_GCM), durable when the store is a file",
            Workload::FileEnvelope => {
                "CLI envelope encryption code (encrypt --in/--out) on a generated file"
            }
            Workload::SignMlDsa65 => "POST /v1/sign, ML_DSA_65, 1 KiB RAW message",
            Workload::VerifyMlDsa65 => "POST /v1/verify, ML_DSA_65, 1 KiB RAW message",
            Workload::EncapsulateMlKem768 => "POST /v1/encapsulate, ML_KEM_768",
            Workload::DecapsulateMlKem768 => "POST /v1/decapsulate, ML_KEM_768",
            Workload::SecretGet => {
                "GET /v1/secrets/data/bench/db, 2 fields (user, 32-char password), audited read"
            }
            Workload::SecretPut => {
                "POST /v1/secrets/data/bench/put, a new version of 2 fields (durable when the store is a file)"
            }
        }
    }

    /// Items per request (only the batch has more than one).
    fn items(self) -> u64 {
        if self == Workload::BatchEncrypt {
            100
        } else {
            1
        }
    }

    fn parse(s: &str) -> Option<Workload> {
        ALL.into_iter().find(|w| w.name() == s.trim())
    }
}

fn err(e: impl std::fmt::Display) -> CliError {
    CliError::new(format!("bench: {e}"))
}

/// `http://host:port` → (socket address, Host header value).
fn target(addr: &str) -> Result<(SocketAddr, String), CliError> {
    let rest = addr.trim_end_matches('/').strip_prefix("http://").ok_or_else(|| {
        err(format!(
            "--addr {addr:?} must be a plain http:// address (the load generator does not speak TLS)"
        ))
    })?;
    let sock = rest
        .to_socket_addrs()
        .map_err(|e| err(format!("cannot resolve {rest:?}: {e}")))?
        .next()
        .ok_or_else(|| err(format!("{rest:?} resolves to no address")))?;
    Ok((sock, rest.to_string()))
}

/// What the workloads need from the server, created through the API.
struct Fixture {
    aes: String,
    ecc: String,
    ed: String,
    rsa: String,
    hmac: String,
    ciphertext: String,
    ml_dsa: String,
    /// An ML-DSA-65 signature over the 1 KiB message, for verify-ml-dsa-65.
    ml_dsa_signature: String,
    ml_kem: String,
    /// An ML-KEM-768 ciphertext, for decapsulate-ml-kem-768.
    ml_kem_ciphertext: String,
}

fn create_key(c: &Client, spec: &str) -> Result<String, CliError> {
    let v = c.call(
        "POST",
        "/v1/keys",
        Some(&json!({ "spec": spec, "description": "strongroom bench" })),
    )?;
    v["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| err("key creation answered without an id"))
}

fn setup(c: &Client, want: &[Workload], pt_b64: &str) -> Result<Fixture, CliError> {
    let needs = |ws: &[Workload]| ws.iter().any(|w| want.contains(w));
    let aes = if needs(&[
        Workload::Encrypt,
        Workload::Decrypt,
        Workload::DataKey,
        Workload::AwsEncrypt,
        Workload::BatchEncrypt,
        Workload::FileEnvelope,
    ]) {
        create_key(c, "AES_256_GCM")?
    } else {
        String::new()
    };
    let opt = |w: Workload, spec: &str| -> Result<String, CliError> {
        if want.contains(&w) {
            create_key(c, spec)
        } else {
            Ok(String::new())
        }
    };
    if want.contains(&Workload::VaultEncrypt) {
        // Vault's create is an upsert: a second run reuses the key. The same
        // call works on OpenBao (with transit/ enabled), for the comparison.
        c.call(
            "POST",
            &format!("/v1/transit/keys/{VAULT_BENCH_KEY}"),
            Some(&json!({})),
        )?;
    }
    let ciphertext = if want.contains(&Workload::Decrypt) {
        let v = c.call(
            "POST",
            "/v1/encrypt",
            Some(&json!({ "key": aes, "plaintext": pt_b64 })),
        )?;
        v["ciphertext"].as_str().unwrap_or_default().to_string()
    } else {
        String::new()
    };
    let ml_dsa = if needs(&[Workload::SignMlDsa65, Workload::VerifyMlDsa65]) {
        create_key(c, "ML_DSA_65")?
    } else {
        String::new()
    };
    let ml_dsa_signature = if want.contains(&Workload::VerifyMlDsa65) {
        let v = c.call(
            "POST",
            "/v1/sign",
            Some(&json!({ "key": ml_dsa, "message": pt_b64, "message_type": "RAW" })),
        )?;
        v["signature"].as_str().unwrap_or_default().to_string()
    } else {
        String::new()
    };
    let ml_kem = if needs(&[Workload::EncapsulateMlKem768, Workload::DecapsulateMlKem768]) {
        create_key(c, "ML_KEM_768")?
    } else {
        String::new()
    };
    if want.contains(&Workload::SecretGet) {
        c.call(
            "PUT",
            "/v1/secrets/data/bench/db",
            Some(&json!({ "data": { "user": "bench", "password": "0123456789abcdef0123456789abcdef" } })),
        )?;
    }
    let ml_kem_ciphertext = if want.contains(&Workload::DecapsulateMlKem768) {
        let v = c.call("POST", "/v1/encapsulate", Some(&json!({ "key": ml_kem })))?;
        v["ciphertext"].as_str().unwrap_or_default().to_string()
    } else {
        String::new()
    };
    Ok(Fixture {
        ml_dsa,
        ml_dsa_signature,
        ml_kem,
        ml_kem_ciphertext,
        ecc: opt(Workload::SignEcdsaP256, "ECC_NIST_P256")?,
        ed: opt(Workload::SignEd25519, "ED25519")?,
        rsa: opt(Workload::SignRsa2048, "RSA_2048")?,
        hmac: opt(Workload::Hmac, "HMAC_SHA_256")?,
        aes,
        ciphertext,
    })
}

fn header(v: &str) -> Result<HeaderValue, CliError> {
    HeaderValue::from_str(v)
        .map_err(|_| err("a header value is not valid (token with odd characters?)"))
}

/// A fixed-body POST with bearer auth.
fn post(host: &str, path: &'static str, token: &str, body: Value) -> Result<MakeRequest, CliError> {
    let host = header(host)?;
    let auth = header(&format!("Bearer {token}"))?;
    let body = Bytes::from(body.to_string());
    Ok(Arc::new(move || {
        Request::post(path)
            .header(HOST, host.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, auth.clone())
            .body(Body::from(body.clone()))
            .map_err(|e| e.to_string())
    }))
}

/// The Transit key the vault-encrypt workload uses.
const VAULT_BENCH_KEY: &str = "strongroom-bench";

/// A fixed-body POST as a Vault client sends it (`X-Vault-Token`,
/// `X-Vault-Request`).
fn vault_post(
    host: &str,
    path: &'static str,
    token: &str,
    body: Value,
) -> Result<MakeRequest, CliError> {
    let host = header(host)?;
    let token = header(token)?;
    let body = Bytes::from(body.to_string());
    Ok(Arc::new(move || {
        Request::post(path)
            .header(HOST, host.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("x-vault-token", token.clone())
            .header("x-vault-request", "true")
            .body(Body::from(body.clone()))
            .map_err(|e| e.to_string())
    }))
}

fn get(host: &str, path: &'static str, token: &str) -> Result<MakeRequest, CliError> {
    let host = header(host)?;
    let auth = header(&format!("Bearer {token}"))?;
    Ok(Arc::new(move || {
        Request::get(path)
            .header(HOST, host.clone())
            .header(AUTHORIZATION, auth.clone())
            .body(Body::empty())
            .map_err(|e| e.to_string())
    }))
}

/// TrentService.Encrypt, signed afresh for every request.
fn aws_encrypt(host: &str, creds: &str, key: &str, pt_b64: &str) -> Result<MakeRequest, CliError> {
    let (akid, secret) = creds
        .split_once(':')
        .filter(|(a, s)| !a.is_empty() && !s.is_empty())
        .ok_or_else(|| err("--aws-credentials must be ACCESS_KEY_ID:SECRET"))?;
    let (akid, secret) = (akid.to_string(), secret.as_bytes().to_vec());
    let host = host.to_string();
    let body = Bytes::from(json!({ "KeyId": key, "Plaintext": pt_b64 }).to_string());
    Ok(Arc::new(move || {
        let headers = vec![
            ("host".to_string(), host.clone()),
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            (
                "x-amz-target".to_string(),
                "TrentService.Encrypt".to_string(),
            ),
        ];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let (date, auth) = sigv4::sign::sign(
            &sigv4::WireRequest {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body: &body,
            },
            &sigv4::sign::SigningParams {
                access_key_id: &akid,
                secret: &secret,
                region: "us-east-1",
                service: "kms",
                time_unix: now,
            },
        )
        .map_err(|e| e.to_string())?;
        let mut r = Request::post("/");
        for (k, v) in &headers {
            r = r.header(k.as_str(), v.as_str());
        }
        r.header("x-amz-date", date)
            .header(AUTHORIZATION, auth)
            .body(Body::from(body.clone()))
            .map_err(|e| e.to_string())
    }))
}

/// One measured row of the report.
struct Row {
    workload: Workload,
    server: String,
    measured: Option<Measured>,
    file: Option<FileResult>,
    inproc: Option<f64>,
    skipped: Option<String>,
    connections: usize,
    /// Audit records written and fdatasyncs made during the workload (from /metrics).
    audit: Option<(u64, u64)>,
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1048576.0)
        .unwrap_or(0.0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu_model": cpu,
        "mem_gib": (mem_gib * 10.0).round() / 10.0,
        "loadavg_at_start": load,
    })
}

/// `(audit records, audit fdatasyncs)` from a server's /metrics, if it has an audit log.
fn audit_counters(addr: &str) -> Option<(u64, u64)> {
    let url = format!("{}/metrics", addr.trim_end_matches('/'));
    let text = ureq::get(&url)
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    let find = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((
        find("strongroom_audit_records_total ")?,
        find("strongroom_audit_syncs_total ")?,
    ))
}

/// The disk's floor for a durable audit record: append 400 bytes +
/// fdatasync, repeated, in `dir`. Returns sorted latencies in microseconds.
fn fsync_probe(dir: &std::path::Path, time: Duration) -> Result<Vec<u32>, CliError> {
    use std::io::Write as _;
    let path = dir.join(format!("strongroom-bench-{}.fsync", std::process::id()));
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| err(format!("cannot create {}: {e}", path.display())))?;
        let line = [b'x'; 400];
        let start = Instant::now();
        let mut lat = Vec::new();
        while lat.len() < 20 || (start.elapsed() < time && lat.len() < 100_000) {
            let t = Instant::now();
            f.write_all(&line)
                .and_then(|()| f.sync_data())
                .map_err(|e| err(format!("fsync probe: {e}")))?;
            lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
        lat.sort_unstable();
        Ok(lat)
    })();
    let _ = std::fs::remove_file(&path);
    res
}

/// file-envelope's timings.
#[derive(Clone, Copy)]
struct FileResult {
    bytes: u64,
    /// The CLI code: data key from the server, encrypt, fsync, rename.
    cli_secs: f64,
    /// `envelope::encrypt_stream` file to file, no fsync.
    no_sync_secs: f64,
    /// `envelope::encrypt_stream` to `io::sink()`.
    sink_secs: f64,
}

fn file_envelope(key: &str, dir: &std::path::Path, mib: u64) -> Result<FileResult, CliError> {
    use std::io::Write as _;
    let tag = format!("strongroom-bench-{}", std::process::id());
    let input = dir.join(format!("{tag}.in"));
    let output = dir.join(format!("{tag}.out"));
    let res = (|| {
        let mut block = vec![0u8; 1 << 20];
        aws_lc_rs::rand::fill(&mut block).map_err(|_| err("random data"))?;
        let mut f = std::fs::File::create(&input)
            .map_err(|e| err(format!("cannot create {}: {e}", input.display())))?;
        for i in 0..mib {
            block[0..8].copy_from_slice(&i.to_le_bytes());
            f.write_all(&block)
                .map_err(|e| err(format!("write {}: {e}", input.display())))?;
        }
        drop(f);
        let client = Client::from_env()?;
        let start = Instant::now();
        let n = strongroom_cli::file::encrypt_file(
            &client,
            key,
            &Default::default(),
            &input.display().to_string(),
            &output.display().to_string(),
        )?;
        let cli_secs = start.elapsed().as_secs_f64();
        // Where the time goes: the same streaming code file to file without
        // the CLI's final fsync (page cache only), and to nowhere (crypto and
        // reading only).
        let dk = [7u8; 32];
        let wrapped = [1u8; 64];
        let open_in = || {
            std::fs::File::open(&input)
                .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
                .map_err(|e| err(format!("open {}: {e}", input.display())))
        };
        let t = Instant::now();
        let out = std::fs::File::create(&output)
            .map_err(|e| err(format!("create {}: {e}", output.display())))?;
        strongroom_core::envelope::encrypt_stream(
            &dk,
            &wrapped,
            open_in()?,
            std::io::BufWriter::with_capacity(1 << 20, out),
            &mut |_| {},
        )
        .map_err(err)?;
        let no_sync = t.elapsed().as_secs_f64();
        let t = Instant::now();
        strongroom_core::envelope::encrypt_stream(
            &dk,
            &wrapped,
            open_in()?,
            std::io::sink(),
            &mut |_| {},
        )
        .map_err(err)?;
        let to_sink = t.elapsed().as_secs_f64();
        Ok(FileResult {
            bytes: n,
            cli_secs,
            no_sync_secs: no_sync,
            sink_secs: to_sink,
        })
    })();
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    res
}

/// Runs the benchmark and prints the report.
/// `strongroom bench ARGS…`: parses the load generator's own arguments
/// (the binary hands them over from the CLI) and runs it.
pub fn main_args(args: Vec<std::ffi::OsString>, fmt: Format) -> Result<(), CliError> {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    #[command(
        name = "strongroom bench",
        about = "Load-test a running server against a bare AES-GCM ceiling (docs/BENCHMARKS.md)"
    )]
    struct BenchCli {
        #[command(flatten)]
        args: BenchArgs,
    }
    let argv = std::iter::once(std::ffi::OsString::from("strongroom bench")).chain(args);
    match BenchCli::try_parse_from(argv) {
        Ok(b) => run(b.args, fmt),
        // As every other command: --help prints and exits 0, a usage
        // error prints and exits 2.
        Err(e) => e.exit(),
    }
}

pub fn run(a: BenchArgs, fmt: Format) -> Result<(), CliError> {
    let mut want: Vec<Workload> = Vec::new();
    if a.all {
        want.extend(ALL);
    }
    for w in &a.workloads {
        let wl = Workload::parse(w).ok_or_else(|| {
            err(format!(
                "unknown workload {w:?}; use one of: {}",
                ALL.map(|w| w.name()).join(", ")
            ))
        })?;
        if !want.contains(&wl) {
            want.push(wl);
        }
    }
    want.sort_by_key(|w| ALL.iter().position(|x| x == w));
    if want.is_empty() && a.no_ceiling {
        return Err(err("nothing to run: give --all or --workload NAME"));
    }
    let token = a
        .token
        .clone()
        .ok_or_else(|| err("give a token with --token or STRONGROOM_TOKEN"))?;
    if want.contains(&Workload::AwsEncrypt) && a.aws_credentials.is_none() && !a.all {
        return Err(err(
            "aws-encrypt needs --aws-credentials AKID:SECRET (e.g. the dev server's --dev-aws-credentials)",
        ));
    }
    let (sock, host) = target(&a.addr)?;
    // The CLI's HTTP client (setup calls, and file-envelope's data key) reads these.
    std::env::set_var("STRONGROOM_ADDR", a.addr.trim_end_matches('/'));
    std::env::set_var("STRONGROOM_TOKEN", &token);
    if let (Some(c), Some(k)) = (&a.client_cert, &a.client_key) {
        std::env::set_var("STRONGROOM_CLIENT_CERT", c);
        std::env::set_var("STRONGROOM_CLIENT_KEY", k);
    }

    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads = a.threads.unwrap_or(cpus).max(1);
    let plan = Plan {
        connections: a.connections.max(1),
        warmup: a.warmup,
        duration: a.duration,
        max_ops: a.ops,
    };
    let machine = machine();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .map_err(|e| err(format!("runtime: {e}")))?;

    let pt = vec![0x5au8; 1024];
    let pt_b64 = STANDARD.encode(&pt);
    let probe_dir = a.file_dir.clone().unwrap_or_else(std::env::temp_dir);
    let fsync = if a.no_inproc {
        None
    } else {
        Some(fsync_probe(&probe_dir, a.inproc_time)?)
    };

    // 1. The ceiling.
    let ceiling = if a.no_ceiling {
        None
    } else {
        let server = ceiling::start(cpus).map_err(err)?;
        let ceil_host = server.addr.to_string();
        let body = Bytes::from(pt.clone());
        let make: MakeRequest = Arc::new(move || {
            Request::post("/")
                .header(HOST, ceil_host.as_str())
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(Body::from(body.clone()))
                .map_err(|e| e.to_string())
        });
        eprintln!(
            "bench: ceiling (bare AES-256-GCM axum handler) at {}",
            server.addr
        );
        let m = rt.block_on(load::run(server.addr, plan, make));
        drop(server);
        Some(m)
    };
    let ceiling_rate = ceiling.as_ref().map(|m| m.ops_per_sec()).unwrap_or(0.0);
    let ceiling_inproc = if a.no_inproc || a.no_ceiling {
        None
    } else {
        Some(inproc::measure(Workload::Encrypt, a.inproc_time).map_err(err)?)
    };

    // 2. The workloads.
    let client = Client::from_env()?;
    let fix = setup(&client, &want, &pt_b64)?;
    let mut rows = Vec::new();
    for &w in &want {
        let mut row = Row {
            workload: w,
            server: a.addr.clone(),
            measured: None,
            file: None,
            inproc: None,
            skipped: None,
            audit: None,
            connections: plan.connections,
        };
        let make = match w {
            Workload::Encrypt => Some(post(
                &host,
                "/v1/encrypt",
                &token,
                json!({ "key": fix.aes, "plaintext": pt_b64 }),
            )?),
            Workload::Decrypt => Some(post(
                &host,
                "/v1/decrypt",
                &token,
                json!({ "ciphertext": fix.ciphertext }),
            )?),
            Workload::DataKey => Some(post(
                &host,
                "/v1/generate-data-key",
                &token,
                json!({ "key": fix.aes, "number_of_bytes": 32 }),
            )?),
            Workload::AwsEncrypt => match &a.aws_credentials {
                Some(c) => Some(aws_encrypt(&host, c, &fix.aes, &pt_b64)?),
                None => {
                    row.skipped = Some("no --aws-credentials given".into());
                    None
                }
            },
            Workload::VaultEncrypt => Some(vault_post(
                &host,
                "/v1/transit/encrypt/strongroom-bench",
                &token,
                json!({ "plaintext": pt_b64 }),
            )?),
            Workload::SignEcdsaP256 => Some(post(
                &host,
                "/v1/sign",
                &token,
                json!({ "key": fix.ecc, "message": pt_b64, "message_type": "RAW" }),
            )?),
            Workload::SignEd25519 => Some(post(
                &host,
                "/v1/sign",
                &token,
                json!({ "key": fix.ed, "message": pt_b64, "message_type": "RAW" }),
            )?),
            Workload::SignRsa2048 => Some(post(
                &host,
                "/v1/sign",
                &token,
                json!({ "key": fix.rsa, "message": pt_b64, "message_type": "RAW" }),
            )?),
            Workload::Hmac => Some(post(
                &host,
                "/v1/mac",
                &token,
                json!({ "key": fix.hmac, "message": pt_b64 }),
            )?),
            Workload::BatchEncrypt => {
                let items: Vec<Value> = (0..100)
                    .map(|_| json!({ "key": fix.aes, "plaintext": pt_b64 }))
                    .collect();
                Some(post(
                    &host,
                    "/v1/batch/encrypt",
                    &token,
                    json!({ "items": items }),
                )?)
            }
            Workload::CreateKey => None,
            Workload::FileEnvelope => None,
            Workload::SignMlDsa65 => Some(post(
                &host,
                "/v1/sign",
                &token,
                json!({ "key": fix.ml_dsa, "message": pt_b64, "message_type": "RAW" }),
            )?),
            Workload::VerifyMlDsa65 => Some(post(
                &host,
                "/v1/verify",
                &token,
                json!({ "key": fix.ml_dsa, "message": pt_b64, "message_type": "RAW", "signature": fix.ml_dsa_signature }),
            )?),
            Workload::EncapsulateMlKem768 => Some(post(
                &host,
                "/v1/encapsulate",
                &token,
                json!({ "key": fix.ml_kem }),
            )?),
            Workload::DecapsulateMlKem768 => Some(post(
                &host,
                "/v1/decapsulate",
                &token,
                json!({ "key": fix.ml_kem, "ciphertext": fix.ml_kem_ciphertext }),
            )?),
            Workload::SecretGet => Some(get(&host, "/v1/secrets/data/bench/db", &token)?),
            Workload::SecretPut => Some(post(
                &host,
                "/v1/secrets/data/bench/put",
                &token,
                json!({ "data": { "user": "bench", "password": "0123456789abcdef0123456789abcdef" } }),
            )?),
        };
        if let Some(make) = make {
            eprintln!("bench: {} ({})", w.name(), w.what());
            let before = audit_counters(&a.addr);
            row.measured = Some(rt.block_on(load::run(sock, plan, make)));
            row.audit = delta(before, audit_counters(&a.addr));
        } else if w == Workload::CreateKey {
            let (csock, chost, ctoken) = match &a.durable_addr {
                Some(d) => {
                    let (s, h) = target(d)?;
                    let t = a.durable_token.clone().ok_or_else(|| {
                        err("--durable-addr needs --durable-token (or STRONGROOM_BENCH_DURABLE_TOKEN)")
                    })?;
                    row.server = d.clone();
                    (s, h, t)
                }
                None => (sock, host.clone(), token.clone()),
            };
            let make = post(
                &chost,
                "/v1/keys",
                &ctoken,
                json!({ "description": "strongroom bench" }),
            )?;
            eprintln!("bench: {} ({}) at {}", w.name(), w.what(), row.server);
            let before = audit_counters(&row.server);
            let cplan = Plan {
                connections: a.create_connections.unwrap_or(plan.connections).max(1),
                ..plan
            };
            row.connections = cplan.connections;
            row.measured = Some(rt.block_on(load::run(csock, cplan, make)));
            row.audit = delta(before, audit_counters(&row.server));
        } else if w == Workload::FileEnvelope {
            let dir = a.file_dir.clone().unwrap_or_else(std::env::temp_dir);
            eprintln!(
                "bench: {} ({} MiB in {})",
                w.name(),
                a.file_mib,
                dir.display()
            );
            row.file = Some(file_envelope(&fix.aes, &dir, a.file_mib)?);
        }
        if !a.no_inproc && row.skipped.is_none() {
            row.inproc = Some(inproc::measure(w, a.inproc_time).map_err(err)?);
        }
        rows.push(row);
    }
    drop(rt);

    let mut machine = machine;
    if let Some(l) = &fsync {
        let pct = |p: f64| {
            let i = (((p / 100.0) * l.len() as f64 - 1e-9).ceil() as usize).clamp(1, l.len()) - 1;
            f64::from(l[i]) / 1000.0
        };
        machine["fsync_probe"] = json!({
            "dir": probe_dir.display().to_string(),
            "what": "append 400 B + fdatasync",
            "samples": l.len(),
            "p50_ms": pct(50.0),
            "p99_ms": pct(99.0),
        });
    }
    report(
        fmt,
        &a,
        &plan,
        machine,
        ceiling.as_ref(),
        ceiling_rate,
        ceiling_inproc,
        &rows,
    );
    let errors: u64 = ceiling.iter().map(|m| m.errors).sum::<u64>()
        + rows
            .iter()
            .filter_map(|r| r.measured.as_ref())
            .map(|m| m.errors)
            .sum::<u64>();
    if errors > 0 {
        return Err(CliError::reported(format!("{errors} requests failed")));
    }
    Ok(())
}

fn delta(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<(u64, u64)> {
    let (b, a) = (before?, after?);
    Some((a.0.saturating_sub(b.0), a.1.saturating_sub(b.1)))
}

fn ratio(x: f64, ceiling: f64) -> Option<f64> {
    (ceiling > 0.0).then(|| x / ceiling)
}

fn measured_json(m: &Measured, items: u64, ceiling: f64) -> Value {
    json!({
        "ops": m.ops,
        "errors": m.errors,
        "seconds": m.secs,
        "ops_per_sec": m.ops_per_sec(),
        "items_per_sec": m.ops_per_sec() * items as f64,
        "p50_ms": m.percentile_ms(50.0),
        "p99_ms": m.percentile_ms(99.0),
        "p99_9_ms": m.percentile_ms(99.9),
        "ratio_to_ceiling": ratio(m.ops_per_sec(), ceiling),
        "first_error": m.first_error,
    })
}

#[allow(clippy::too_many_arguments)]
fn report(
    fmt: Format,
    a: &BenchArgs,
    plan: &Plan,
    machine: Value,
    ceiling: Option<&Measured>,
    ceiling_rate: f64,
    ceiling_inproc: Option<f64>,
    rows: &[Row],
) {
    match fmt {
        Format::Json => {
            let workloads: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let mut v = json!({
                        "workload": r.workload.name(),
                        "what": r.workload.what(),
                        "server": r.server,
                        "connections": r.connections,
                        "items_per_request": r.workload.items(),
                        "inproc_ops_per_sec": r.inproc,
                        "inproc_what": inproc::describe(r.workload),
                        "inproc_ratio_to_ceiling": r.inproc.and_then(|x| ratio(x, ceiling_rate)),
                        "skipped": r.skipped,
                        "audit_records": r.audit.map(|x| x.0),
                        "audit_fdatasyncs": r.audit.map(|x| x.1),
                    });
                    if let Some(m) = &r.measured {
                        v["http"] = measured_json(m, r.workload.items(), ceiling_rate);
                    }
                    if let Some(f) = r.file {
                        let gbs = |secs: f64| f.bytes as f64 / secs.max(1e-9) / 1e9;
                        v["file"] = json!({
                            "bytes": f.bytes,
                            "seconds": f.cli_secs,
                            "gb_per_sec": gbs(f.cli_secs),
                            "no_fsync_gb_per_sec": gbs(f.no_sync_secs),
                            "to_sink_gb_per_sec": gbs(f.sink_secs),
                        });
                    }
                    v
                })
                .collect();
            let v = json!({
                "machine": machine,
                "connections": plan.connections,
                "warmup_secs": plan.warmup.as_secs_f64(),
                "duration_secs": plan.duration.as_secs_f64(),
                "max_ops": plan.max_ops,
                "server": a.addr,
                "ceiling": ceiling.map(|m| {
                    let mut v = measured_json(m, 1, ceiling_rate);
                    v["inproc_ops_per_sec"] = json!(ceiling_inproc);
                    v
                }),
                "workloads": workloads,
            });
            strongroom_cli::output::json(&v);
        }
        Format::Table => {
            let mut out = String::new();
            out.push_str(&format!(
                "Machine: {} CPUs, {}, {} GiB RAM, load average at start {}\n",
                machine["cpus"],
                machine["cpu_model"].as_str().unwrap_or_default(),
                machine["mem_gib"],
                machine["loadavg_at_start"].as_str().unwrap_or_default(),
            ));
            if let Some(p) = machine.get("fsync_probe") {
                out.push_str(&format!(
                    "Disk floor ({} in {}): p50 {:.2} ms, p99 {:.2} ms over {} samples\n",
                    p["what"].as_str().unwrap_or_default(),
                    p["dir"].as_str().unwrap_or_default(),
                    p["p50_ms"].as_f64().unwrap_or(0.0),
                    p["p99_ms"].as_f64().unwrap_or(0.0),
                    p["samples"],
                ));
            }
            out.push_str(&format!(
                "Load: {} keep-alive connections, {:.1}s warm-up, {}; server {}\n\n",
                plan.connections,
                plan.warmup.as_secs_f64(),
                match plan.max_ops {
                    Some(n) => format!("{n} requests per workload"),
                    None => format!("{:.1}s measured per workload", plan.duration.as_secs_f64()),
                },
                a.addr
            ));
            out.push_str("| workload | ops/s | p50 ms | p99 ms | p99.9 ms | errors | × ceiling | audit records per fdatasync | in-process ops/s (1 core) | in-process × ceiling |\n");
            out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            let f2 = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
            let n0 = |x: f64| {
                let s = format!("{:.0}", x);
                let mut o = String::new();
                for (i, ch) in s.chars().enumerate() {
                    if i > 0 && (s.len() - i) % 3 == 0 {
                        o.push(',');
                    }
                    o.push(ch);
                }
                o
            };
            let mut notes = Vec::new();
            if let Some(m) = ceiling {
                out.push_str(&format!(
                    "| **ceiling** (bare AES-256-GCM handler, 1 KiB) | {} | {:.2} | {:.2} | {:.2} | {} | 1.00 | – | {} | {} |\n",
                    n0(m.ops_per_sec()),
                    m.percentile_ms(50.0),
                    m.percentile_ms(99.0),
                    m.percentile_ms(99.9),
                    m.errors,
                    ceiling_inproc.map(n0).unwrap_or_else(|| "–".into()),
                    f2(ceiling_inproc.and_then(|x| ratio(x, ceiling_rate))),
                ));
            }
            for r in rows {
                let name = r.workload.name();
                let inp = r.inproc.map(n0).unwrap_or_else(|| "–".into());
                let inr = f2(r.inproc.and_then(|x| ratio(x, ceiling_rate)));
                if let Some(why) = &r.skipped {
                    out.push_str(&format!("| {name} | skipped: {why} | | | | | | | | |\n"));
                } else if let Some(f) = r.file {
                    let (bytes, secs) = (f.bytes, f.cli_secs);
                    let gbs = bytes as f64 / secs.max(1e-9) / 1e9;
                    notes.push(format!(
                        "file-envelope: CLI code {gbs:.2} GB/s end to end (data key, encrypt, fsync, rename); the same stream without the final fsync {:.2} GB/s; encrypting to nowhere {:.2} GB/s",
                        bytes as f64 / f.no_sync_secs.max(1e-9) / 1e9,
                        bytes as f64 / f.sink_secs.max(1e-9) / 1e9,
                    ));
                    let inp_gbs = r
                        .inproc
                        .map(|b| format!("{:.2} GB/s", b / 1e9))
                        .unwrap_or_else(|| "–".into());
                    out.push_str(&format!(
                        "| {name} ({} MiB) | **{gbs:.2} GB/s** ({secs:.2} s) | | | | 0 | – | – | {inp_gbs} | – |\n",
                        bytes >> 20
                    ));
                } else if let Some(m) = &r.measured {
                    let label = if r.workload.items() > 1 {
                        format!(
                            "{name} ({} items/s)",
                            n0(m.ops_per_sec() * r.workload.items() as f64)
                        )
                    } else {
                        name.to_string()
                    };
                    let per_sync = match r.audit {
                        Some((recs, syncs)) if syncs > 0 => {
                            format!("{:.1}", recs as f64 / syncs as f64)
                        }
                        _ => "–".into(),
                    };
                    out.push_str(&format!(
                        "| {label} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {per_sync} | {inp} | {inr} |\n",
                        n0(m.ops_per_sec()),
                        m.percentile_ms(50.0),
                        m.percentile_ms(99.0),
                        m.percentile_ms(99.9),
                        m.errors,
                        f2(ratio(m.ops_per_sec(), ceiling_rate)),
                    ));
                }
            }
            for r in rows {
                if let Some(m) = &r.measured {
                    if let Some(e) = &m.first_error {
                        notes.push(format!("{}: first error: {e}", r.workload.name()));
                    }
                }
                if r.server != a.addr {
                    notes.push(format!("{} ran against {}", r.workload.name(), r.server));
                }
                if r.measured.is_some() && r.connections != plan.connections {
                    notes.push(format!(
                        "{} used {} connections",
                        r.workload.name(),
                        r.connections
                    ));
                }
            }
            if !notes.is_empty() {
                out.push('\n');
                for n in notes {
                    out.push_str(&format!("- {n}\n"));
                }
            }
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout().lock(), "{out}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn every_workload_has_a_unique_name() {
        for w in ALL {
            assert_eq!(Workload::parse(w.name()), Some(w));
        }
        assert_eq!(Workload::parse("nope"), None);
    }

    #[test]
    fn help_lists_every_workload() {
        use clap::CommandFactory as _;
        #[derive(clap::Parser)]
        struct Top {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let mut cmd = Top::command();
        let help = cmd.render_long_help().to_string();
        for w in ALL {
            assert!(help.contains(w.name()), "--help does not list {}", w.name());
        }
    }
}
