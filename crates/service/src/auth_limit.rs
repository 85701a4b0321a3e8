//! Anonymous failures per source address (issue #21): the failed-
//! authentication rate limit (429 + `Retry-After`) and the compact audit of
//! anonymous failures (docs/AUDIT.md, "Anonymous failures").
//!
//! * **Rate limit.** A token bucket per source: `auth_failure_burst`
//!   failures at once, then `auth_failures_per_minute`. Only failures spend
//!   it, and credentials are always checked first, so a valid token or
//!   signature is served whatever the bucket says, from any address.
//!   Tokens and secrets are 256-bit random, so the limit is about cost and
//!   audit volume, not guessing.
//! * **Compact audit.** The first anonymous failure of a source with a
//!   given error code in an interval is audited on its own, durably, before
//!   the answer (as before). The rest of that interval's failures with that
//!   code are counted and written as one aggregate record (count, first and
//!   last time) when the interval ends. So a flood costs at most two records
//!   per source, code and interval (at most 8 codes per source).
//!
//! A source is an IPv4 address or an IPv6 /64. At most [`MAX_SOURCES`]
//! sources are tracked; past that, new sources share one entry (`*`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::audit::AuditEvent;

/// The failed-authentication limits (server config: `auth_failure_burst`,
/// `auth_failures_per_minute`, `auth_failure_audit_interval_secs`).
#[derive(Debug, Clone)]
pub struct AuthFailureLimits {
    pub burst: u32,
    pub per_minute: u32,
    pub audit_interval: Duration,
}

/// Most sources tracked at once (about 100 bytes each).
pub const MAX_SOURCES: usize = 65_536;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What to do with one anonymous failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Write this failure's own audit record now (first in its interval).
    pub audit_now: bool,
    /// Answer 429 with this `Retry-After` (seconds) instead of the error.
    pub retry_after: Option<u64>,
}

/// Error codes with their own window per source; more share the last one.
const MAX_CODES: usize = 8;

struct Window {
    start: Instant,
    code: String,
    /// Failures counted but not yet audited (after the first of the window).
    count: u64,
    throttled: u64,
    first_ms: i64,
    last_ms: i64,
    last_op: String,
}

struct Source {
    tokens: f64,
    refilled: Instant,
    windows: Vec<Window>,
}

pub struct AuthFailures {
    limits: AuthFailureLimits,
    sources: Mutex<HashMap<IpAddr, Source>>,
}

/// The key a source is counted under: the address, an IPv6 /64, or `*` for
/// the shared overflow entry.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

fn label(key: IpAddr) -> String {
    match key {
        OVERFLOW => "*".to_string(),
        IpAddr::V6(v6) => format!("{v6}/64"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

impl AuthFailures {
    pub fn new(limits: AuthFailureLimits) -> AuthFailures {
        AuthFailures {
            limits,
            sources: Mutex::new(HashMap::new()),
        }
    }

    pub fn interval(&self) -> Duration {
        self.limits.audit_interval
    }

    /// Records one anonymous failure from `ip` at `now` / `now_ms`.
    /// `auth` = a failed authentication (spends the rate limit); otherwise an
    /// anonymous error such as a 404 (audited compactly, never limited).
    pub fn record(
        &self,
        ip: Option<IpAddr>,
        auth: bool,
        now: Instant,
        now_ms: i64,
        op: &str,
        code: &str,
    ) -> Verdict {
        let Some(ip) = ip else {
            // No peer address (in-process callers): audit every one.
            return Verdict {
                audit_now: true,
                retry_after: None,
            };
        };
        let mut map = lock(&self.sources);
        let mut key = source_key(ip);
        if !map.contains_key(&key) && map.len() >= MAX_SOURCES {
            key = OVERFLOW;
        }
        let burst = f64::from(self.limits.burst);
        let rate = f64::from(self.limits.per_minute) / 60.0;
        let src = map.entry(key).or_insert_with(|| Source {
            tokens: burst,
            refilled: now,
            windows: Vec::new(),
        });
        let mut retry_after = None;
        if auth {
            let dt = now.saturating_duration_since(src.refilled).as_secs_f64();
            src.tokens = (src.tokens + dt * rate).min(burst);
            src.refilled = now;
            if src.tokens >= 1.0 {
                src.tokens -= 1.0;
            } else {
                let wait = ((1.0 - src.tokens) / rate).ceil().max(1.0);
                // Bounded: rate is at least 1 per minute.
                retry_after = Some(wait as u64);
            }
        }
        let interval = self.limits.audit_interval;
        let code: String = code.chars().take(40).collect();
        // One window per error code, at most MAX_CODES per source (then the
        // last one is shared), so each kind of failure keeps its own first record.
        let found = src.windows.iter().position(|w| w.code == code);
        let slot = match found {
            Some(i) => Some(i),
            None if src.windows.len() >= MAX_CODES => Some(src.windows.len() - 1),
            None => None,
        };
        if let Some(w) = slot.map(|i| &mut src.windows[i]) {
            let open = now.saturating_duration_since(w.start) < interval;
            if open || w.count > 0 {
                // Counted; a window that has ended but is not flushed yet
                // takes it too (the flush follows within a tick).
                w.count += 1;
                if retry_after.is_some() {
                    w.throttled += 1;
                }
                if w.count == 1 {
                    w.first_ms = now_ms;
                }
                w.last_ms = now_ms;
                w.last_op = op.chars().take(64).collect();
                return Verdict {
                    audit_now: false,
                    retry_after,
                };
            }
            // Ended with nothing counted: start afresh below.
        }
        let fresh = Window {
            start: now,
            code,
            count: 0,
            throttled: 0,
            first_ms: now_ms,
            last_ms: now_ms,
            last_op: String::new(),
        };
        match slot {
            Some(i) => src.windows[i] = fresh,
            None => src.windows.push(fresh),
        }
        Verdict {
            audit_now: true,
            retry_after,
        }
    }

    /// Takes the aggregate records of windows that have ended (all of them
    /// with `force`), and forgets sources with nothing pending and a full
    /// bucket.
    pub fn drain(&self, now: Instant, force: bool) -> Vec<AuditEvent> {
        let interval = self.limits.audit_interval;
        let burst = f64::from(self.limits.burst);
        let rate = f64::from(self.limits.per_minute) / 60.0;
        let mut out = Vec::new();
        let mut map = lock(&self.sources);
        map.retain(|key, src| {
            src.windows.retain(|w| {
                let ended = force || now.saturating_duration_since(w.start) >= interval;
                if ended && w.count > 0 {
                    out.push(aggregate_event(*key, w, interval));
                }
                !ended
            });
            let dt = now.saturating_duration_since(src.refilled).as_secs_f64();
            let full = src.tokens + dt * rate >= burst;
            !src.windows.is_empty() || !full
        });
        out
    }

    /// Puts back records whose write failed, so they are retried next tick.
    pub fn requeue(&self, events: Vec<AuditEvent>) {
        let mut map = lock(&self.sources);
        for ev in events {
            let Ok(key) = ev.source.trim_end_matches("/64").parse::<IpAddr>() else {
                continue; // the overflow entry "*": its count is in the error log
            };
            let (count, first_ms, last_ms) = parse_detail(ev.detail.as_deref().unwrap_or_default());
            let src = map.entry(key).or_insert_with(|| Source {
                tokens: f64::from(self.limits.burst),
                refilled: Instant::now(),
                windows: Vec::new(),
            });
            let code = ev.error_code.clone().unwrap_or_default();
            match src.windows.iter_mut().find(|w| w.code == code) {
                Some(w) => {
                    w.count += count;
                    w.first_ms = w.first_ms.min(first_ms);
                    w.last_ms = w.last_ms.max(last_ms);
                }
                None => src.windows.push(Window {
                    start: Instant::now(),
                    code,
                    count,
                    throttled: 0,
                    first_ms,
                    last_ms,
                    last_op: String::new(),
                }),
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.sources).len()
    }
}

fn aggregate_event(key: IpAddr, w: &Window, interval: Duration) -> AuditEvent {
    AuditEvent {
        time_ms: w.last_ms,
        // Set by `flush`, from the node's RNG.
        request_id: String::new(),
        identity: "anonymous".into(),
        source: label(key),
        operation: "anonymous-failures".into(),
        key_id: None,
        key_version: None,
        outcome: "denied".into(),
        error_code: Some(w.code.clone()),
        root: false,
        detail: Some(format!(
            "count={} first_ms={} last_ms={} throttled={} interval_s={} last_op={}",
            w.count,
            w.first_ms,
            w.last_ms,
            w.throttled,
            interval.as_secs(),
            w.last_op
        )),
    }
}

/// (count, first_ms, last_ms) from an aggregate record's detail.
fn parse_detail(d: &str) -> (u64, i64, i64) {
    let field = |name: &str| {
        d.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("0")
            .to_string()
    };
    (
        field("count").parse().unwrap_or(0),
        field("first_ms").parse().unwrap_or(0),
        field("last_ms").parse().unwrap_or(0),
    )
}

/// Writes the aggregate records of ended windows every tick, and all of
/// them at shutdown of the task (never: it runs for the process).
pub fn spawn_flush(state: Arc<crate::Service>) {
    let every = (state.auth_failures.interval() / 4)
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            flush(&state, false).await;
        }
    });
}

/// Writes the aggregate records due now (all with `force`).
pub async fn flush(state: &crate::Service, force: bool) {
    let Ok(services) = state.seal.services() else {
        return; // sealed: no log; the counts wait for the unseal
    };
    let due = state.auth_failures.drain(Instant::now(), force);
    let mut failed = Vec::new();
    for mut ev in due {
        if ev.request_id.is_empty() {
            ev.request_id = state.request_id();
        }
        if let Err(e) = services.audit_append(ev.clone()).await {
            tracing::error!(error = %e, source = %ev.source, detail = ?ev.detail, "cannot write an aggregate audit record; retrying");
            failed.push(ev);
        }
    }
    if !failed.is_empty() {
        state.auth_failures.requeue(failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(burst: u32, per_minute: u32, secs: u64) -> AuthFailures {
        AuthFailures::new(AuthFailureLimits {
            burst,
            per_minute,
            audit_interval: Duration::from_secs(secs),
        })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn burst_then_429_with_retry_after_and_refill() {
        let f = limits(3, 60, 60);
        let t0 = Instant::now();
        for i in 0..3 {
            let v = f.record(ip("10.0.0.1"), true, t0, 0, "GET /v1/keys", "InvalidToken");
            assert_eq!(v.retry_after, None, "failure {i} is within the burst");
        }
        let v = f.record(ip("10.0.0.1"), true, t0, 0, "GET /v1/keys", "InvalidToken");
        assert_eq!(v.retry_after, Some(1), "1 per second refill");
        // Another source is not affected.
        let v = f.record(ip("10.0.0.2"), true, t0, 0, "GET /v1/keys", "InvalidToken");
        assert_eq!(v.retry_after, None);
        // Anonymous 404s never spend the bucket.
        let v = f.record(ip("10.0.0.1"), false, t0, 0, "GET /nope", "NotFound");
        assert_eq!(v.retry_after, None);
        let v = f.record(
            ip("10.0.0.1"),
            true,
            t0 + Duration::from_secs(2),
            0,
            "GET /v1/keys",
            "InvalidToken",
        );
        assert_eq!(v.retry_after, None, "refilled after 2 s");
    }

    #[test]
    fn a_flood_is_one_record_then_one_aggregate_per_interval() {
        let f = limits(5, 60, 10);
        let t0 = Instant::now();
        let mut now_audits = 0;
        for i in 0..1000 {
            let v = f.record(
                ip("192.0.2.7"),
                true,
                t0,
                1000 + i,
                "GET /v1/keys",
                "InvalidToken",
            );
            now_audits += usize::from(v.audit_now);
        }
        assert_eq!(now_audits, 1, "only the first is audited on its own");
        assert!(
            f.drain(t0 + Duration::from_secs(1), false).is_empty(),
            "window open"
        );
        let out = f.drain(t0 + Duration::from_secs(10), false);
        assert_eq!(out.len(), 1);
        let ev = &out[0];
        assert_eq!(ev.source, "192.0.2.7");
        assert_eq!(ev.operation, "anonymous-failures");
        let d = ev.detail.as_deref().expect("detail");
        assert!(
            d.contains("count=999 first_ms=1001 last_ms=1999 throttled=995"),
            "{d}"
        );
        assert_eq!(parse_detail(d), (999, 1001, 1999));
        // Next interval: the first is audited on its own again.
        let later = t0 + Duration::from_secs(11);
        assert!(
            f.record(ip("192.0.2.7"), true, later, 5, "x", "y")
                .audit_now
        );
        // Requeued records come back in the next drain.
        f.requeue(out);
        let again = f.drain(later + Duration::from_secs(10), false);
        assert_eq!(again.len(), 1);
        assert!(
            again[0]
                .detail
                .as_deref()
                .unwrap_or("")
                .contains("count=999"),
            "{:?}",
            again[0].detail
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_sources_are_bounded() {
        let f = limits(2, 60, 60);
        let t0 = Instant::now();
        f.record(ip("2001:db8::1"), true, t0, 0, "x", "y");
        f.record(ip("2001:db8::2"), true, t0, 0, "x", "y");
        let v = f.record(ip("2001:db8::3"), true, t0, 0, "x", "y");
        assert!(v.retry_after.is_some(), "one /64 shares a bucket");
        for i in 0..(MAX_SOURCES as u32 + 10) {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            f.record(Some(a), false, t0, 0, "x", "y");
        }
        assert!(f.tracked() <= MAX_SOURCES + 1, "{}", f.tracked());
        let out = f.drain(t0, true);
        assert!(
            out.iter().any(|e| e.source == "*"),
            "overflow entry aggregates the rest"
        );
        assert!(out.iter().any(|e| e.source == "2001:db8::/64"));
    }
}
