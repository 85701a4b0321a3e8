//! Latency of the KMS plugin's Encrypt (docs/BENCHMARKS.md "Kubernetes KMS
//! v2 plugin"): N sequential gRPC Encrypt calls of a 32-byte seed on the
//! plugin's socket, and as the baseline of the same run N sequential
//! `POST /v1/encrypt` of the same seed straight to Strongroom with the
//! client the plugin uses. Prints p50, p99 and the ratios.
//!
//!   cargo run --release -p strongroom-kms-plugin --example kms_latency -- SOCKET KEY [N]
//!
//! with STRONGROOM_ADDR and STRONGROOM_TOKEN set for the baseline.
#![allow(clippy::unwrap_used)] // a measuring tool: any failure ends it

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use strongroom_kms_plugin::proto::{EncryptRequest, KeyManagementServiceClient};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut d: Vec<Duration>) -> (Duration, Duration) {
    d.sort();
    let (p50, p99) = (percentile(&d, 0.50), percentile(&d, 0.99));
    println!(
        "{name:<34} n={:<6} p50 {:>8.1} µs   p99 {:>8.1} µs",
        d.len(),
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    (p50, p99)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (socket, key) = (args[1].clone(), args[2].clone());
    let n: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(2000);
    let seed = [7u8; 32];

    let http = strongroom_cli::client::Client::from_env().unwrap();
    let body = json!({
        "key": key,
        "plaintext": base64::engine::general_purpose::STANDARD.encode(seed),
    });
    let mut direct = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        let (st, _) = http.exchange("POST", "/v1/encrypt", Some(&body)).unwrap();
        assert_eq!(st, 200);
        if i >= n / 10 {
            direct.push(t.elapsed()); // after a 10 % warm-up
        }
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let grpc = rt.block_on(async {
        let mut c = KeyManagementServiceClient::connect_unix(socket)
            .await
            .unwrap();
        let mut out = Vec::with_capacity(n);
        for i in 0..n + n / 10 {
            let t = Instant::now();
            c.encrypt(EncryptRequest {
                plaintext: seed.to_vec(),
                uid: String::new(),
            })
            .await
            .unwrap();
            if i >= n / 10 {
                out.push(t.elapsed());
            }
        }
        out
    });

    let (d50, d99) = report("POST /v1/encrypt (baseline)", direct);
    let (g50, g99) = report("gRPC Encrypt via kms-plugin", grpc);
    println!(
        "plugin / baseline: p50 {:.2}x, p99 {:.2}x",
        g50.as_secs_f64() / d50.as_secs_f64(),
        g99.as_secs_f64() / d99.as_secs_f64()
    );
}
