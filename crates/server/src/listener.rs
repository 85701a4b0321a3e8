//! The accept loop and connection hygiene for every listener, plain or TLS
//! (issue #21): header-read timeout (hyper's, with a tokio timer), a TLS
//! handshake timeout, a keep-alive idle timeout, a header size limit, a cap
//! on concurrent connections, and accept errors (EMFILE) that back off and
//! are logged once per interval instead of spinning.
//!
//! At the cap a new connection first evicts the connection that has been
//! idle longest (no request in flight: silent, sending a header slowly, in
//! its TLS handshake, or keep-alive idle), so a flood of idle sockets cannot
//! lock out a fresh client such as a load balancer's health check. Only when
//! every connection has a request in flight is the new one refused (plain
//! HTTP gets a one-line 503 first).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt as _;

use super::config::limits::ListenerLimits;
use strongroom_service::gate::ClientCert;

/// `busy` value of a connection chosen for closing: no new request starts on it.
const CLOSING: u32 = u32::MAX;

/// How often an accept error is logged at most (with the count since).
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(5);
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// File descriptors kept free for the database, the audit log and the
/// process itself when the connection cap is fitted to `RLIMIT_NOFILE`.
const FD_RESERVE: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One open connection, as the registry sees it.
struct Conn {
    /// Requests in flight, or [`CLOSING`].
    busy: AtomicU32,
    /// Milliseconds since the registry's epoch at which `busy` last became 0.
    idle_since_ms: AtomicU64,
    /// Requests answered on this connection (keep-alive once > 0).
    served: AtomicU64,
    close: Notify,
}

impl Conn {
    /// Marks a request in flight; false if the connection is being closed.
    fn begin(&self) -> bool {
        self.busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b != CLOSING).then(|| b + 1)
            })
            .is_ok()
    }
}

/// Ends a request when dropped (also when the request future is cancelled).
struct InFlight {
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn.served.fetch_add(1, Ordering::Relaxed);
        self.conn
            .idle_since_ms
            .store(self.registry.now_ms(), Ordering::Relaxed);
        let _ = self
            .conn
            .busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b != CLOSING && b > 0).then(|| b - 1)
            });
    }
}

/// The open connections of one listener.
pub struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    epoch: Instant,
    /// Connections closed to make room or for being idle too long (metrics, tests).
    evicted: AtomicU64,
    /// Connections refused at the cap.
    refused: AtomicU64,
    open: AtomicUsize,
}

impl Registry {
    fn new() -> Arc<Registry> {
        Arc::new(Registry {
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
            evicted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: AtomicUsize::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn len(&self) -> usize {
        lock(&self.conns).len()
    }

    fn insert(&self) -> (u64, Arc<Conn>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            busy: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            served: AtomicU64::new(0),
            close: Notify::new(),
        });
        let mut m = lock(&self.conns);
        m.insert(id, conn.clone());
        self.open.store(m.len(), Ordering::Relaxed);
        (id, conn)
    }

    fn remove(&self, id: u64) {
        let mut m = lock(&self.conns);
        m.remove(&id);
        self.open.store(m.len(), Ordering::Relaxed);
    }

    /// Closes the connection idle longest, if one is idle: makes room for a new one.
    fn evict_oldest_idle(&self) -> bool {
        let mut m = lock(&self.conns);
        let mut candidates: Vec<(u64, u64)> = m
            .iter()
            .filter(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, c)| (c.idle_since_ms.load(Ordering::Relaxed), *id))
            .collect();
        candidates.sort_unstable();
        for (_, id) in candidates {
            let Some(c) = m.get(&id) else { continue };
            // Only a connection still idle is closed: one whose request has
            // just begun keeps it.
            if c.busy
                .compare_exchange(0, CLOSING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                c.close.notify_one();
                m.remove(&id);
                self.open.store(m.len(), Ordering::Relaxed);
                self.evicted.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    /// Closes keep-alive connections idle for longer than `limit`.
    /// Connections that never completed a request are hyper's to time out
    /// (header read timeout).
    fn reap_idle(&self, limit: Duration) {
        let now = self.now_ms();
        let limit = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let mut m = lock(&self.conns);
        m.retain(|_, c| {
            let stale = c.served.load(Ordering::Relaxed) > 0
                && now.saturating_sub(c.idle_since_ms.load(Ordering::Relaxed)) >= limit
                && c.busy
                    .compare_exchange(0, CLOSING, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            if stale {
                c.close.notify_one();
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
            !stale
        });
        self.open.store(m.len(), Ordering::Relaxed);
    }
}

/// Counters of one listener, for `/metrics`.
#[derive(Clone)]
pub struct ListenerStats(Arc<Registry>);

impl ListenerStats {
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Relaxed)
    }
    pub fn evicted(&self) -> u64 {
        self.0.evicted.load(Ordering::Relaxed)
    }
    pub fn refused(&self) -> u64 {
        self.0.refused.load(Ordering::Relaxed)
    }
}

/// The connection cap actually used: the configured one, lowered to fit the
/// process's open-file limit (read from /proc on Linux).
pub fn effective_cap(configured: usize) -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        });
    match soft {
        Some(n) if n.saturating_sub(FD_RESERVE) < configured => {
            let cap = n.saturating_sub(FD_RESERVE).max(2);
            tracing::warn!(
                configured,
                open_file_limit = n,
                cap,
                "max_connections is above what the open-file limit allows; using the lower cap (raise LimitNOFILE / ulimit -n to use more)"
            );
            cap
        }
        _ => configured,
    }
}

/// A fresh registry and its stats handle (the stats go into `AppState`
/// before the accept loop starts).
pub fn new_registry() -> (Arc<Registry>, ListenerStats) {
    let r = Registry::new();
    (r.clone(), ListenerStats(r))
}

/// Serves `app` on `listener` until SIGINT/SIGTERM.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ListenerLimits,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()>,
) {
    let cap = effective_cap(limits.max_connections);
    let limits = Arc::new(limits);
    {
        let registry = registry.clone();
        let keep_alive = limits.keep_alive_timeout;
        let every = (keep_alive / 4).clamp(Duration::from_millis(25), Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                registry.reap_idle(keep_alive);
            }
        });
    }
    tokio::pin!(shutdown);
    let mut backoff = Duration::ZERO;
    let mut last_log: Option<Instant> = None;
    let mut failures_since_log: u64 = 0;
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => {
                    backoff = Duration::ZERO;
                    x
                }
                Err(e) => {
                    // EMFILE/ENFILE: an idle connection gives its descriptor back.
                    registry.evict_oldest_idle();
                    failures_since_log += 1;
                    if last_log.is_none_or(|t| t.elapsed() >= ACCEPT_LOG_EVERY) {
                        tracing::warn!(
                            error = %e,
                            failures = failures_since_log,
                            open_connections = registry.len(),
                            "accept failed; backing off (logged at most every 5 s)"
                        );
                        last_log = Some(Instant::now());
                        failures_since_log = 0;
                    }
                    backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
            _ = &mut shutdown => {
                tracing::info!("shutting down");
                return;
            }
        };
        if registry.len() >= cap && !registry.evict_oldest_idle() {
            registry.refused.fetch_add(1, Ordering::Relaxed);
            refuse(stream, tls.is_some());
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (id, conn) = registry.insert();
        let svc = app
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        let tls = tls.clone();
        let limits = limits.clone();
        let registry = registry.clone();
        tokio::spawn(async move {
            let close = conn.clone();
            let reg = registry.clone();
            let work = async move {
                match tls {
                    Some(acceptor) => {
                        // A stalled handshake is timed out like a stalled header.
                        match tokio::time::timeout(
                            limits.header_read_timeout,
                            acceptor.accept(stream),
                        )
                        .await
                        {
                            Ok(Ok(s)) => {
                                // Mutual TLS: the certificate the handshake
                                // verified goes with every request of the
                                // connection (docs/ACCESS.md).
                                let cert = s
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(|c| c.first())
                                    .and_then(super::tls::client_cert);
                                serve_conn(TokioIo::new(s), svc, peer, &limits, conn, reg, cert)
                                    .await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    }
                    None => {
                        serve_conn(TokioIo::new(stream), svc, peer, &limits, conn, reg, None).await
                    }
                }
            };
            tokio::select! {
                _ = work => {}
                _ = close.close.notified() => {
                    tracing::debug!(%peer, "idle connection closed (keep-alive timeout or connection cap)");
                }
            }
            registry.remove(id);
        });
    }
}

/// Answers a connection over the cap and closes it, without waiting on it.
fn refuse(stream: tokio::net::TcpStream, tls: bool) {
    if !tls {
        // Best effort, never blocks: a full socket buffer just gets the close.
        let _ = stream.try_write(
            b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n",
        );
    }
    drop(stream);
}

async fn serve_conn<I>(
    io: I,
    svc: axum::Router,
    peer: SocketAddr,
    limits: &ListenerLimits,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
    cert: Option<ClientCert>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let tracked = Tracked {
        svc,
        conn,
        registry,
        cert,
    };
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(
            limits
                .max_header_bytes
                .max(super::config::limits::MIN_HEADER_BYTES),
        )
        .keep_alive(true)
        .serve_connection(io, tracked)
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The router, counting requests in flight on its connection.
#[derive(Clone)]
struct Tracked {
    svc: axum::Router,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
    /// The connection's verified client certificate (mutual TLS).
    cert: Option<ClientCert>,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<axum::response::Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = BoxFuture;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        if !self.conn.begin() {
            // Chosen for closing between reading this header and now.
            let resp = axum::response::Response::builder()
                .status(503)
                .header("connection", "close")
                .header("retry-after", "1")
                .body(axum::body::Body::empty())
                .unwrap_or_default();
            return Box::pin(std::future::ready(Ok(resp)));
        }
        let guard = InFlight {
            conn: self.conn.clone(),
            registry: self.registry.clone(),
        };
        let mut req = req.map(axum::body::Body::new);
        if let Some(c) = &self.cert {
            req.extensions_mut().insert(c.clone());
        }
        let fut = self.svc.clone().oneshot(req);
        Box::pin(async move {
            let resp = fut.await;
            drop(guard);
            resp
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_takes_the_longest_idle_and_spares_busy_connections() {
        let r = Registry::new();
        let (a, ca) = r.insert();
        let (_b, cb) = r.insert();
        let (_c, cc) = r.insert();
        ca.idle_since_ms.store(5, Ordering::Relaxed);
        cb.idle_since_ms.store(1, Ordering::Relaxed);
        cc.idle_since_ms.store(3, Ordering::Relaxed);
        assert!(cb.begin(), "b has a request in flight");
        assert!(r.evict_oldest_idle());
        assert_eq!(
            cc.busy.load(Ordering::Relaxed),
            CLOSING,
            "c was idle longest"
        );
        assert!(!cc.begin(), "a closing connection takes no request");
        assert!(r.evict_oldest_idle());
        assert_eq!(ca.busy.load(Ordering::Relaxed), CLOSING);
        assert!(!r.evict_oldest_idle(), "only the busy connection is left");
        assert_eq!(r.len(), 1);
        assert_eq!(r.evicted.load(Ordering::Relaxed), 2);
        r.remove(a); // removing twice is harmless
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn reaper_closes_only_keep_alive_connections_past_the_limit() {
        let r = Registry::new();
        let (_a, fresh) = r.insert();
        let (_b, kept) = r.insert();
        kept.served.store(1, Ordering::Relaxed);
        kept.idle_since_ms.store(0, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(30));
        r.reap_idle(Duration::from_millis(10));
        assert_eq!(kept.busy.load(Ordering::Relaxed), CLOSING);
        assert_eq!(
            fresh.busy.load(Ordering::Relaxed),
            0,
            "never served: hyper's timeout"
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn cap_fits_the_open_file_limit() {
        assert_eq!(effective_cap(10), 10);
        assert!(effective_cap(usize::MAX / 2) < usize::MAX / 2);
    }
}
