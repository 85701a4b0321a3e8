//! The audit chain check the overview shows. Verifying the whole log costs
//! time in proportion to its length (tens of seconds at millions of
//! records), so the overview never runs it in the request: it shows the
//! last result with when it was made, and starts a new check in the
//! background (as the identity whose page load found the result stale, so
//! the check is one gated, audited `strongroom:ReadAudit` call like any
//! other) when the last one is older than [`RECHECK_SECS`]. "Verify now"
//! (and the audit page's check) runs it at once and keeps the result.
//! The result is kept on this node only, in memory.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strongroom_service::gate::Caller;

use crate::views::Chain;
use crate::ConsoleState;

/// A check older than this is run again, in the background, by the next
/// overview that shows it.
pub const RECHECK_SECS: u64 = 300;

#[derive(Clone)]
pub struct Checked {
    pub chain: Chain,
    /// On the node's clock (what the page shows).
    pub at_ms: i64,
    pub by: String,
    pub took: Duration,
    /// On the monotonic clock (what decides staleness).
    pub when: Instant,
}

#[derive(Default)]
struct State {
    last: Option<Checked>,
    /// When the running background check started (node clock), if one is.
    running_since: Option<i64>,
}

#[derive(Default)]
pub struct ChainCache {
    state: Mutex<State>,
}

impl ChainCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last result and when the running check (if any) started.
    pub fn snapshot(&self) -> (Option<Checked>, Option<i64>) {
        let s = self.lock();
        (s.last.clone(), s.running_since)
    }

    /// Keeps a result (unless a newer one is kept already).
    pub fn keep(&self, c: Checked) {
        let mut s = self.lock();
        if s.last.as_ref().is_none_or(|l| l.when <= c.when) {
            s.last = Some(c);
        }
    }

    /// Claims the background check if the last result is missing or older
    /// than `max_age` and none is running.
    fn claim(&self, now_ms: i64, max_age: Duration) -> bool {
        let mut s = self.lock();
        let stale = s.last.as_ref().is_none_or(|l| l.when.elapsed() >= max_age);
        if stale && s.running_since.is_none() {
            s.running_since = Some(now_ms);
            true
        } else {
            false
        }
    }

    fn release(&self) {
        self.lock().running_since = None;
    }
}

/// Clears the running mark however the background task ends.
struct Running(Arc<ConsoleState>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.chain.release();
    }
}

/// Verifies the chain as `caller` (one gated `strongroom:ReadAudit`
/// call) and keeps the result.
pub async fn check_now(
    st: &ConsoleState,
    caller: &Caller,
) -> Result<Checked, strongroom_core::error::Error> {
    let t0 = Instant::now();
    let chain = crate::pages::verify_chain_as(&st.service, caller).await?;
    let c = Checked {
        chain,
        at_ms: st.service.now_ms(),
        by: caller.principal.id.clone(),
        took: t0.elapsed(),
        when: Instant::now(),
    };
    st.chain.keep(c.clone());
    Ok(c)
}

/// Starts a background check as `caller` if the last result is stale and
/// none is running. Answers whether it started one.
pub fn refresh_if_stale(st: &Arc<ConsoleState>, caller: &Caller) -> bool {
    if !st
        .chain
        .claim(st.service.now_ms(), Duration::from_secs(RECHECK_SECS))
    {
        return false;
    }
    let guard = Running(Arc::clone(st));
    let caller = caller.clone();
    tokio::spawn(async move {
        let st = Arc::clone(&guard.0);
        if let Err(e) = check_now(&st, &caller).await {
            tracing::warn!(error = %e.public_message(), "console: background audit chain check failed");
        }
        drop(guard);
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(when: Instant) -> Checked {
        Checked {
            chain: Chain {
                ok: true,
                entries: 1,
                checkpoints: 0,
                first_bad: String::new(),
                reason: String::new(),
                head: String::new(),
            },
            at_ms: 0,
            by: "a".into(),
            took: Duration::ZERO,
            when,
        }
    }

    #[test]
    fn one_background_check_at_a_time_and_only_when_stale() {
        let c = ChainCache::default();
        assert!(c.claim(1, Duration::from_secs(300)), "nothing kept yet");
        assert!(!c.claim(2, Duration::from_secs(300)), "one is running");
        assert_eq!(c.snapshot().1, Some(1));
        c.keep(checked(Instant::now()));
        c.release();
        assert!(!c.claim(3, Duration::from_secs(300)), "fresh");
        assert!(c.claim(4, Duration::ZERO), "stale at once");
        c.release();
        // An older result never replaces a newer one.
        let newer = Instant::now();
        c.keep(checked(newer));
        let older = newer.checked_sub(Duration::from_secs(1)).unwrap_or(newer);
        let mut o = checked(older);
        o.by = "older".into();
        c.keep(o);
        assert_eq!(c.snapshot().0.map(|x| x.by), Some("a".to_string()));
    }
}
