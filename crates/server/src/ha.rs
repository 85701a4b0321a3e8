//! Multi-node cache coherence. With a shared backend (PostgreSQL), every
//! commit on any node is announced ([`Change`]); this thread applies each
//! announcement to this node's in-memory engine and registry, so a key
//! created, rotated or disabled, a token revoked, or a root token generated
//! or revoked, on one node takes effect here as soon as the notification
//! arrives (milliseconds); a secret written elsewhere is dropped from this
//! node's secrets cache.
//!
//! Fallbacks, for notifications that cannot arrive: a full resync whenever
//! the listening connection is re-established, whenever this node becomes
//! unsealed, and every [`RESYNC_EVERY`] regardless.

use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use strongroom_engine::secrets::{KIND_ROTATION_LEASE, KIND_SECRET, KIND_SECRET_VERSION};
use strongroom_service::node::{Seal, Services};
use strongroom_store::{Change, Store};

/// The periodic full resync.
pub const RESYNC_EVERY: Duration = Duration::from_secs(10);
/// How often the thread checks whether the node was (re)unsealed.
const CHECK_SEAL_EVERY: Duration = Duration::from_millis(200);

/// Starts the sync thread if the store is shared; a no-op for SQLite.
pub fn spawn(seal: Arc<Seal>, store: &Arc<dyn Store>) {
    let Some(rx) = store.subscribe() else {
        return;
    };
    let r = std::thread::Builder::new()
        .name("strongroom-ha-sync".into())
        .spawn(move || run(seal, rx));
    if let Err(e) = r {
        tracing::error!(error = %e, "cannot start the cache sync thread");
    }
}

fn run(seal: Arc<Seal>, rx: std::sync::mpsc::Receiver<Change>) {
    let mut next_resync = Instant::now() + RESYNC_EVERY;
    // A weak reference: holding the services of a node that was sealed
    // would keep its audit log open, and an unseal within the next check
    // would find the file "already open in this process".
    let mut seen: Option<Weak<Services>> = None;
    loop {
        // A fresh unseal loaded from storage, but a change committed while
        // it was loading may have been announced before it was installed.
        if let Ok(s) = seal.services() {
            if !seen
                .as_ref()
                .is_some_and(|p| std::ptr::eq(p.as_ptr(), Arc::as_ptr(&s)))
            {
                apply(&s, &Change::Resync);
                root_token(&seal);
                seen = Some(Arc::downgrade(&s));
            }
        } else {
            seen = None;
        }
        let now = Instant::now();
        if now >= next_resync {
            if let Some(s) = seen.as_ref().and_then(Weak::upgrade) {
                apply(&s, &Change::Resync);
                root_token(&seal);
            }
            next_resync = now + RESYNC_EVERY;
        }
        let wait = CHECK_SEAL_EVERY.min(next_resync.saturating_duration_since(now));
        match rx.recv_timeout(wait) {
            Ok(c) => {
                if let Some(s) = seen.as_ref().and_then(Weak::upgrade) {
                    apply(&s, &c);
                    if matches!(c, Change::Meta(_)) {
                        root_token(&seal);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// A root token generated or revoked on another node (a metadata change).
fn root_token(seal: &Seal) {
    if let Err(e) = seal.reload_root_token() {
        tracing::warn!(error = %e, "root token reload failed; the next resync retries");
    }
}

fn apply(s: &Services, c: &Change) {
    let r = match c {
        Change::Key(id) => s.engine.reload_key(id).map(|_| ()),
        Change::Record { kind, id } if kind == KIND_SECRET || kind == KIND_SECRET_VERSION => {
            s.secrets.invalidate(id);
            Ok(())
        }
        Change::Record { kind, .. } if kind == KIND_ROTATION_LEASE => Ok(()),
        Change::Record { kind, id } => s.registry.reload_record(kind, id),
        Change::Meta(_) => Ok(()),
        Change::Resync => s.engine.resync_keys().and_then(|n| {
            s.secrets.clear_cache();
            if n > 0 {
                tracing::info!(keys = n, "resync: reloaded keys changed elsewhere");
            }
            s.registry.resync()
        }),
    };
    match r {
        Ok(()) => tracing::debug!(change = %c.payload(), "cache updated"),
        Err(e) => {
            tracing::warn!(change = %c.payload(), error = %e, "cache update failed; the next resync retries")
        }
    }
}
