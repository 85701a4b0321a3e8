//! The load generator: N HTTP/1.1 keep-alive connections (hyper client on
//! tokio), each sending its next request as soon as the previous answer is
//! read (closed loop), for a fixed time after a warm-up. Every latency of the
//! measured window is kept, so percentiles are exact (sorted sample).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use hyper_util::rt::TokioIo;

/// Builds the next request (called once per request, so signatures and
/// bodies can change).
pub type MakeRequest = Arc<dyn Fn() -> Result<Request<Body>, String> + Send + Sync>;

/// How long and how hard to drive one workload.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Stop after this many measured requests instead of after `duration`.
    pub max_ops: Option<u64>,
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Measured {
    /// Successful requests in the measured window.
    pub ops: u64,
    /// Failed requests (non-2xx status, connection or protocol errors).
    pub errors: u64,
    pub secs: f64,
    /// Latencies of successful requests, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub first_error: Option<String>,
}

impl Measured {
    pub fn ops_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Exact percentile (nearest rank) in milliseconds; 0 without samples.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * n as f64 - 1e-9).ceil() as usize;
        let i = rank.clamp(1, n) - 1;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    issued: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, e: String) {
        if self.measuring.load(Ordering::Acquire) && !self.stop.load(Ordering::Acquire) {
            self.errors.fetch_add(1, Ordering::Relaxed);
            let mut f = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
            if f.is_none() {
                *f = Some(e);
            }
        }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Body>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request: `Ok(())` on a 2xx answer whose body was read completely.
async fn one(sender: &mut Sender, req: Request<Body>) -> Result<(), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status();
    let body = axum::body::to_bytes(Body::new(resp.into_body()), 64 << 20)
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    if status.is_success() {
        Ok(())
    } else {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        Err(format!("HTTP {status}: {text}"))
    }
}

async fn worker(
    addr: SocketAddr,
    make: MakeRequest,
    shared: Arc<Shared>,
    max_ops: Option<u64>,
) -> Vec<u32> {
    let mut lat = Vec::with_capacity(1 << 16);
    let mut sender: Option<Sender> = None;
    while !shared.stop.load(Ordering::Acquire) {
        if let Some(max) = max_ops {
            if shared.issued.fetch_add(1, Ordering::AcqRel) >= max {
                break;
            }
        }
        let s = match &mut sender {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    shared.error(e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let req = match make() {
            Ok(r) => r,
            Err(e) => {
                shared.error(e);
                continue;
            }
        };
        let start = Instant::now();
        let res = one(s, req).await;
        let us = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
        match res {
            Ok(()) => {
                if shared.measuring.load(Ordering::Acquire) && !shared.stop.load(Ordering::Acquire)
                {
                    lat.push(us);
                }
            }
            Err(e) => {
                if e.starts_with("connection") || e.starts_with("request") {
                    sender = None;
                }
                shared.error(e);
            }
        }
    }
    lat
}

/// Drives `make`'s requests at `addr` as `plan` says.
pub async fn run(addr: SocketAddr, plan: Plan, make: MakeRequest) -> Measured {
    let shared = Arc::new(Shared {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        issued: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });
    let counted = plan.max_ops.is_some();
    if counted {
        shared.measuring.store(true, Ordering::Release);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..plan.connections.max(1) {
        tasks.push(tokio::spawn(worker(
            addr,
            make.clone(),
            shared.clone(),
            plan.max_ops,
        )));
    }
    let (t0, t1);
    if counted {
        t0 = start;
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap_or_default());
        }
        t1 = Instant::now();
        return finish(all, &shared, t1 - t0);
    }
    tokio::time::sleep(plan.warmup).await;
    t0 = Instant::now();
    shared.measuring.store(true, Ordering::Release);
    tokio::time::sleep(plan.duration).await;
    shared.stop.store(true, Ordering::Release);
    t1 = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.unwrap_or_default());
    }
    finish(all, &shared, t1 - t0)
}

fn finish(all: Vec<Vec<u32>>, shared: &Shared, window: Duration) -> Measured {
    let mut latencies_us: Vec<u32> = all.into_iter().flatten().collect();
    latencies_us.sort_unstable();
    Measured {
        ops: latencies_us.len() as u64,
        errors: shared.errors.load(Ordering::Relaxed),
        secs: window.as_secs_f64(),
        latencies_us,
        first_error: shared
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let m = Measured {
            ops: 1000,
            secs: 1.0,
            latencies_us: (1..=1000).collect(),
            ..Measured::default()
        };
        assert_eq!(m.percentile_ms(50.0), 0.5);
        assert_eq!(m.percentile_ms(99.0), 0.99);
        assert_eq!(m.percentile_ms(99.9), 0.999);
        assert_eq!(m.percentile_ms(100.0), 1.0);
        assert_eq!(Measured::default().percentile_ms(99.0), 0.0);
    }
}
