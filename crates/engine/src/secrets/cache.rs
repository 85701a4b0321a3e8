//! A bounded in-memory cache of opened secret metadata and of the current
//! version's opened value, so a read of a secret costs no storage read and
//! no barrier open once it is warm (as a key's material is in memory).
//!
//! Coherence:
//! - every write on this node invalidates its path after the commit;
//! - with a shared backend (PostgreSQL), every other node's commit arrives
//!   as a notification naming the record, and `server::ha` invalidates the
//!   path ([`super::Secrets::invalidate`]); a lost notification connection,
//!   and every periodic resync, clears the whole cache;
//! - a load from storage is installed only if nothing was invalidated
//!   while it was in flight (a generation counter), so an invalidation can
//!   never be overtaken by the older value it replaced;
//! - sealing clears it; values are zeroized when their entry is dropped
//!   (evicted, invalidated or cleared).
//!
//! Writes never trust it: they read the metadata from storage under the
//! write lock, so check-and-set is decided on what is stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{SecretFields, SecretMeta};

/// Most secrets cached.
pub const MAX_ENTRIES: usize = 4096;
/// Most bytes held by all entries: their values (field names + values) and
/// an estimate of their metadata (a secret may keep 1000 versions).
pub const MAX_BYTES_CACHED: usize = 16 << 20;
/// A value larger than this is not cached (read from storage each time).
pub const MAX_VALUE_CACHED: usize = MAX_BYTES_CACHED / 32;

/// One cached secret: its metadata, and the current version's value once
/// it has been read. No Debug or Clone (it holds a value).
pub struct CachedSecret {
    pub(crate) meta: SecretMeta,
    pub(crate) current: Option<SecretFields>,
}

impl CachedSecret {
    /// What the entry counts against [`MAX_BYTES_CACHED`].
    fn cost(&self) -> usize {
        let m = &self.meta;
        let meta = 256
            + m.path.len()
            + m.owner.len()
            + m.purpose.len()
            + m.versions.len() * 64
            + m.custom_metadata
                .iter()
                .map(|(k, v)| k.len() + v.len() + 32)
                .sum::<usize>();
        meta + self.current.as_ref().map_or(0, SecretFields::size)
    }
}

#[derive(Default)]
struct State {
    map: HashMap<String, Arc<CachedSecret>>,
    bytes: usize,
    /// Bumped by every invalidation and clear.
    generation: u64,
}

#[derive(Default)]
pub(crate) struct Cache {
    state: Mutex<State>,
}

impl Cache {
    pub(crate) fn get(&self, path: &str) -> Option<Arc<CachedSecret>> {
        self.state.lock().ok()?.map.get(path).cloned()
    }

    /// The generation to hand back to [`Cache::insert`] after a load.
    pub(crate) fn generation(&self) -> Option<u64> {
        self.state.lock().ok().map(|s| s.generation)
    }

    /// Installs `entry` if nothing was invalidated since `generation`.
    pub(crate) fn insert(&self, generation: u64, entry: CachedSecret) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if s.generation != generation {
            return;
        }
        let mut entry = entry;
        if entry.current.as_ref().map_or(0, SecretFields::size) > MAX_VALUE_CACHED {
            // A very large value is read from storage each time.
            entry.current = None;
        }
        let add = entry.cost();
        if add > MAX_BYTES_CACHED / 4 {
            return;
        }
        if let Some(old) = s.map.remove(&entry.meta.path) {
            s.bytes -= old.cost();
        }
        while !s.map.is_empty() && (s.map.len() >= MAX_ENTRIES || s.bytes + add > MAX_BYTES_CACHED)
        {
            // Any entry: the cache only has to stay bounded.
            let Some(k) = s.map.keys().next().cloned() else {
                break;
            };
            if let Some(old) = s.map.remove(&k) {
                s.bytes -= old.cost();
            }
        }
        s.bytes += add;
        s.map.insert(entry.meta.path.clone(), Arc::new(entry));
    }

    pub(crate) fn invalidate(&self, path: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.generation += 1;
            if let Some(old) = s.map.remove(path) {
                s.bytes -= old.cost();
            }
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.generation += 1;
            s.map.clear();
            s.bytes = 0;
        }
    }

    /// (entries, bytes counted: values and metadata).
    pub(crate) fn size(&self) -> (usize, usize) {
        self.state
            .lock()
            .map(|s| (s.map.len(), s.bytes))
            .unwrap_or((0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, value_len: usize) -> CachedSecret {
        let mut f = SecretFields::new();
        f.insert("v".into(), "x".repeat(value_len));
        CachedSecret {
            meta: SecretMeta::new(path, 0),
            current: Some(f),
        }
    }

    #[test]
    fn bounded_in_entries_and_in_value_bytes() {
        let c = Cache::default();
        let g = c.generation().expect("generation");
        let big = MAX_VALUE_CACHED - 1;
        for i in 0..80 {
            c.insert(g, entry(&format!("big/{i}"), big));
            assert!(c.size().1 <= MAX_BYTES_CACHED, "{:?}", c.size());
        }
        assert!(c.size().0 >= 30, "{:?}", c.size());
        // Too large to cache: the metadata is kept, the value is not.
        c.insert(g, entry("huge", MAX_VALUE_CACHED + 1));
        assert!(c.get("huge").is_some_and(|e| e.current.is_none()));
        for i in 0..(MAX_ENTRIES + 100) {
            c.insert(g, entry(&format!("small/{i}"), 1));
        }
        assert!(c.size().0 <= MAX_ENTRIES, "{:?}", c.size());
        // The byte count stays exact through evictions and replacements.
        let sum: usize = c
            .state
            .lock()
            .expect("lock")
            .map
            .values()
            .map(|e| e.cost())
            .sum();
        assert_eq!(c.size().1, sum);
        c.clear();
        assert_eq!(c.size(), (0, 0));
    }

    #[test]
    fn a_load_older_than_an_invalidation_is_not_installed() {
        let c = Cache::default();
        let before = c.generation().expect("generation");
        c.invalidate("a");
        c.insert(before, entry("a", 1));
        assert!(c.get("a").is_none());
        let now = c.generation().expect("generation");
        c.insert(now, entry("a", 1));
        assert!(c.get("a").is_some());
    }
}
