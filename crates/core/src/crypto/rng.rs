//! Randomness, injected: production code uses the aws-lc-rs system RNG, tests
//! may substitute a deterministic source for ids and tokens.

use std::sync::Arc;

/// A source of cryptographically secure random bytes.
pub trait Rng: Send + Sync {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError>;
}

/// The RNG failed; nothing else is said about it.
#[derive(Debug)]
pub struct RngError;

impl std::fmt::Display for RngError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the random number generator failed")
    }
}

/// aws-lc-rs's system RNG.
pub struct SystemRng;

impl Rng for SystemRng {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        aws_lc_rs::rand::fill(dest).map_err(|_| RngError)
    }
}

pub type SharedRng = Arc<dyn Rng>;

pub fn system() -> SharedRng {
    Arc::new(SystemRng)
}

/// Adapts an [`Rng`] to `rand_core` 0.10 for the Shamir crate, so shares are
/// drawn from aws-lc-rs too.
pub struct RandCoreAdapter<'a>(pub &'a dyn Rng);

impl rand_core::TryRng for RandCoreAdapter<'_> {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.fill_or_abort(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.fill_or_abort(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.fill_or_abort(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for RandCoreAdapter<'_> {}

impl RandCoreAdapter<'_> {
    fn fill_or_abort(&mut self, dst: &mut [u8]) {
        // rand_core's infallible interface leaves no way to report failure;
        // continuing with predictable bytes would be worse than stopping.
        if self.0.fill(dst).is_err() {
            std::process::abort();
        }
    }
}

/// Deterministic RNG for tests only: a counter run through SHA-256.
pub struct TestRng(std::sync::atomic::AtomicU64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(seed))
    }
}

impl Rng for TestRng {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        for chunk in dest.chunks_mut(32) {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &n.to_le_bytes());
            chunk.copy_from_slice(&d.as_ref()[..chunk.len()]);
        }
        Ok(())
    }
}

/// A fresh random request id (16 hex digits) from `rng`, for audit records
/// and responses. An RNG failure gives an id of zeros rather than no answer:
/// the id correlates records, it protects nothing.
pub fn request_id(rng: &dyn Rng) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 8];
    let _ = rng.fill(&mut b);
    let mut s = String::with_capacity(16);
    for x in b {
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    s
}
