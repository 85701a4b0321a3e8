//! Time, injected: the engine never reads the system clock directly, so
//! rotation, expiry and deletion windows are tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Seconds since the Unix epoch.
pub type Timestamp = i64;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// Milliseconds since the Unix epoch (audit record times); agrees with
    /// [`Clock::now`] to the second, so a moved dev clock moves both.
    fn now_ms(&self) -> i64 {
        self.now().saturating_mul(1000)
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock tests move by hand.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start))
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}

pub type SharedClock = Arc<dyn Clock>;

pub const DAY: i64 = 86_400;

/// A clock that runs `offset` seconds ahead of another. Dev mode only: it
/// lets a newcomer watch scheduled rotation and expiry happen
/// (`POST /v1/sys/dev/advance-clock`). Never built in production.
pub struct OffsetClock {
    base: SharedClock,
    offset: AtomicI64,
}

impl OffsetClock {
    pub fn new(base: SharedClock) -> Self {
        Self {
            base,
            offset: AtomicI64::new(0),
        }
    }
    /// Moves the clock forward; returns the new total offset in seconds.
    pub fn advance(&self, secs: i64) -> i64 {
        self.offset.fetch_add(secs, Ordering::SeqCst) + secs
    }
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        self.base
            .now()
            .saturating_add(self.offset.load(Ordering::SeqCst))
    }
    fn now_ms(&self) -> i64 {
        self.base
            .now_ms()
            .saturating_add(self.offset.load(Ordering::SeqCst).saturating_mul(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_runs_ahead_by_what_was_added() {
        let base = Arc::new(ManualClock::new(1_000));
        let c = OffsetClock::new(base.clone());
        assert_eq!(c.now(), 1_000);
        assert_eq!(c.advance(3 * DAY), 3 * DAY);
        assert_eq!(c.now(), 1_000 + 3 * DAY);
        base.advance(5);
        assert_eq!(c.now(), 1_005 + 3 * DAY);
        assert_eq!(c.offset(), 3 * DAY);
    }
}
