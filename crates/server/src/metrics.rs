//! Prometheus metrics: request counts and latency per route and outcome,
//! seal state, and key counts by state.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, String), Series>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, outcome: &str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Ok(mut m) = self.series.lock() {
            let s = m
                .entry((method.to_string(), route.to_string(), outcome.to_string()))
                .or_default();
            s.count += 1;
            s.sum += secs;
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    s.buckets[i] += 1;
                }
            }
        }
    }

    /// Renders the text exposition format. `gauges` are appended as given.
    pub fn render(&self, sealed: bool, keys_by_state: &[(&str, usize)]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP strongroom_requests_total Requests by method, route and outcome (ok or error code).");
        let _ = writeln!(out, "# TYPE strongroom_requests_total counter");
        let m = match self.series.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        for ((method, route, outcome), s) in m.iter() {
            let _ = writeln!(out, "strongroom_requests_total{{method=\"{method}\",route=\"{route}\",outcome=\"{outcome}\"}} {}", s.count);
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_request_duration_seconds Request latency."
        );
        let _ = writeln!(out, "# TYPE strongroom_request_duration_seconds histogram");
        for ((method, route, outcome), s) in m.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",outcome=\"{outcome}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "strongroom_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "strongroom_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "strongroom_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "strongroom_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        drop(m);
        let _ = writeln!(out, "# HELP strongroom_sealed 1 if the server is sealed.");
        let _ = writeln!(out, "# TYPE strongroom_sealed gauge");
        let _ = writeln!(out, "strongroom_sealed {}", u8::from(sealed));
        let _ = writeln!(out, "# HELP strongroom_keys Keys by state.");
        let _ = writeln!(out, "# TYPE strongroom_keys gauge");
        for (state, n) in keys_by_state {
            let _ = writeln!(out, "strongroom_keys{{state=\"{state}\"}} {n}");
        }
        out
    }
}
