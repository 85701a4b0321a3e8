//! Keeping the in-memory key cache in step with a database that several
//! nodes share. Another node's change reaches this node as a notification
//! naming the key (see `server::ha`); [`Engine::reload_key`] then reads that
//! one key back from storage and installs it if storage is newer.
//!
//! Usage counters survive a reload: versions already in memory keep their
//! counter, raised to at least what any node has reserved in storage, so
//! one node's reservations push the others' counters forward.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use uuid::Uuid;

use super::{holds_material, Engine, KeyEntry, VersionEntry};
use crate::error::Result;

impl Engine {
    /// Re-reads key `id` from storage and installs it when storage holds a
    /// newer revision than memory (or memory does not have it yet). Returns
    /// whether the metadata changed. Ids that are not key UUIDs are ignored.
    pub fn reload_key(&self, id: &str) -> Result<bool> {
        let Ok(uuid) = Uuid::try_parse(id) else {
            return Ok(false);
        };
        // Serialized with this node's own writes, so a local change that is
        // committed but not yet installed is never overwritten by its echo.
        let _w = self.lock_writes()?;
        let Some(rec) = self.store.load_key(id)? else {
            return Ok(false);
        };
        let vrecs = self.store.load_versions(id)?;
        let current = self.read()?.keys.get(&uuid).cloned();
        if let Some(cur) = &current {
            for v in &vrecs {
                if let Some(ve) = cur.versions.get(&v.version) {
                    ve.used.fetch_max(v.usage_reserved, Ordering::SeqCst);
                    ve.reserved.fetch_max(v.usage_reserved, Ordering::SeqCst);
                }
            }
            if cur.meta.revision >= rec.revision {
                return Ok(false);
            }
        }
        let meta = Self::open_meta(&self.barrier, &rec)?;
        let mut versions = HashMap::new();
        for v in &vrecs {
            let material = holds_material(&meta, v);
            let kept = current
                .as_ref()
                .and_then(|c| c.versions.get(&v.version))
                .filter(|ve| ve.has_material() && material)
                .cloned();
            let entry = match kept {
                Some(ve) => ve,
                None => {
                    // Checked now, as at unseal; opened on first use.
                    if material {
                        Self::open_stored(&self.barrier, &meta, v.version, &v.body)?;
                    }
                    Arc::new(VersionEntry::stored(&meta, v.clone()))
                }
            };
            versions.insert(v.version, entry);
        }
        let mut inner = self.write_inner()?;
        let seq = match &current {
            Some(c) => {
                for a in &c.meta.aliases {
                    if !meta.aliases.contains(a) && inner.aliases.get(a) == Some(&uuid) {
                        inner.aliases.remove(a);
                    }
                }
                c.seq
            }
            None => {
                inner.next_seq += 1;
                let seq = inner.next_seq;
                inner.order.insert(seq, uuid);
                seq
            }
        };
        for a in &meta.aliases {
            inner.aliases.insert(a.clone(), uuid);
        }
        inner.install(Arc::new(KeyEntry {
            seq,
            meta,
            versions,
            uuid,
        }));
        Ok(true)
    }

    /// Compares every key's revision with storage and reloads the ones that
    /// differ (or are new). The fallback when notifications may have been
    /// missed. Returns how many keys were reloaded.
    pub fn resync_keys(&self) -> Result<usize> {
        let mut n = 0;
        for rec in self.store.load_keys()? {
            let stale = match Uuid::try_parse(&rec.id) {
                Ok(u) => self
                    .read()?
                    .keys
                    .get(&u)
                    .is_none_or(|e| e.meta.revision < rec.revision),
                Err(_) => false,
            };
            if stale && self.reload_key(&rec.id)? {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Two engines (two "nodes") on one PostgreSQL schema, with a shared manual
/// clock. Needs the local PostgreSQL (see `storage::postgres::tests`).
#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::{ManualClock, SharedClock, DAY};
    use crate::crypto::context::EncryptionContext;
    use crate::crypto::rng::SystemRng;
    use crate::keys::engine::{CreateKey, Engine, EngineConfig};
    use crate::keys::state::KeyState;
    use crate::storage::Store;
    use crate::testing::TestSeal as Seal;
    use strongroom_store_sql::postgres::PgStore;

    struct Node {
        seal: Seal,
        store: Arc<dyn Store>,
    }

    /// Drops the test's schema at the end (declare it before the nodes).
    struct Cleanup(String, String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            if let Ok(s) = PgStore::open_in_schema(&self.0, &self.1) {
                s.drop_schema(&self.1);
            }
        }
    }

    impl Node {
        fn engine(&self) -> Arc<Engine> {
            self.seal.engine().expect("unsealed")
        }
    }

    fn two_nodes(tag: &str, cfg: EngineConfig) -> (Cleanup, Node, Node, Arc<ManualClock>) {
        let url = std::env::var("STRONGROOM_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!(
            "sr_e_{tag}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let open = || {
            let store: Arc<dyn Store> = Arc::new(
                PgStore::open_in_schema(&url, &schema)
                    .unwrap_or_else(|e| panic!("PostgreSQL at {url} is needed: {e:?}")),
            );
            let c: SharedClock = clock.clone();
            let seal =
                Seal::open(store.clone(), c, Arc::new(SystemRng), cfg.clone()).expect("open seal");
            Node { seal, store }
        };
        let a = open();
        let out = a.seal.init(1, 1).expect("init");
        let share = String::from_utf8(out.shares[0].expose().to_vec()).expect("text");
        a.seal.unseal(&share).expect("unseal a");
        let b = open();
        b.seal.unseal(&share).expect("unseal b");
        (Cleanup(url.clone(), schema.clone()), a, b, clock)
    }

    #[test]
    fn a_change_on_one_node_is_installed_on_the_other_by_reload() {
        let (_cleanup, a, b, _clock) = two_nodes("reload", EngineConfig::default());
        let (ea, eb) = (a.engine(), b.engine());
        let k = ea
            .create(CreateKey {
                aliases: vec!["alias/one".into()],
                ..Default::default()
            })
            .expect("create");
        assert!(eb.describe(&k.id).is_err(), "not there before the reload");
        assert!(eb.reload_key(&k.id).expect("reload"));
        assert_eq!(eb.describe("alias/one").expect("alias").id, k.id);
        // Reloading what memory already has changes nothing.
        assert!(!eb.reload_key(&k.id).expect("reload again"));
        let ctx = EncryptionContext::default();
        let before = eb.encrypt(&k.id, b"v1", &ctx).expect("encrypt on b");
        ea.rotate(&k.id).expect("rotate on a");
        ea.delete_alias("alias/one").expect("drop alias");
        ea.create_alias("alias/two", &k.id).expect("alias");
        assert!(eb.reload_key(&k.id).expect("reload"));
        let m = eb.describe(&k.id).expect("describe");
        assert_eq!(m.primary_version, 2);
        assert!(eb.describe("alias/one").is_err());
        let after = eb.encrypt("alias/two", b"v2", &ctx).expect("encrypt on b");
        assert_eq!(after.version, 2);
        for ct in [&before.ciphertext, &after.ciphertext] {
            ea.decrypt(ct, &ctx, None)
                .expect("a decrypts b's ciphertext");
        }
        // A write from a stale node is refused by the revision check, not applied.
        let (ea2, eb2) = (a.engine(), b.engine());
        ea2.disable(&k.id).expect("disable on a");
        let e = eb2.rotate(&k.id).expect_err("b is stale");
        assert!(matches!(e, crate::error::Error::Conflict(_)), "{e:?}");
        eb2.reload_key(&k.id).expect("reload");
        assert_eq!(eb2.describe(&k.id).expect("d").state, KeyState::Disabled);
        assert!(eb2.encrypt(&k.id, b"x", &ctx).is_err());
        // The full resync finds keys it has never heard of.
        let k2 = ea.create(CreateKey::default()).expect("create");
        assert_eq!(eb.resync_keys().expect("resync"), 1);
        eb.describe(&k2.id).expect("present after resync");
        drop(b.store);
    }

    /// The deletion sweep runs on every node; the revision check lets exactly
    /// one destroy each key, the other sees a conflict (logged, retried on
    /// the next sweep, where the key is no longer due).
    #[test]
    fn deletion_sweep_on_two_nodes_destroys_once() {
        let (_cleanup, a, b, clock) = two_nodes("sweep", EngineConfig::default());
        let (ea, eb) = (a.engine(), b.engine());
        let mut ids = Vec::new();
        for _ in 0..5 {
            let k = ea.create(CreateKey::default()).expect("create");
            ea.schedule_deletion(&k.id, Some(7)).expect("schedule");
            eb.reload_key(&k.id).expect("reload");
            ids.push(k.id);
        }
        clock.advance(8 * DAY);
        let (ta, tb) = (ea.clone(), eb.clone());
        let ha = std::thread::spawn(move || ta.destroy_due().expect("sweep a"));
        let hb = std::thread::spawn(move || tb.destroy_due().expect("sweep b"));
        let (da, db) = (ha.join().expect("a"), hb.join().expect("b"));
        let mut all: Vec<String> = da.iter().chain(db.iter()).cloned().collect();
        all.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(all, want, "each key destroyed exactly once across nodes");
        for id in &ids {
            eb.reload_key(id).expect("reload");
            ea.reload_key(id).expect("reload");
            assert_eq!(eb.describe(id).expect("d").state, KeyState::Destroyed);
            assert_eq!(ea.describe(id).expect("d").state, KeyState::Destroyed);
            for v in a.store.load_versions(id).expect("versions") {
                assert!(v.body.is_empty(), "material overwritten");
            }
        }
        // A second sweep finds nothing due anywhere.
        assert!(ea.destroy_due().expect("sweep").is_empty());
        assert!(eb.destroy_due().expect("sweep").is_empty());
    }

    /// One node's usage reservations push the other node's counter forward.
    #[test]
    fn usage_reserved_elsewhere_raises_the_local_counter() {
        let cfg = EngineConfig {
            usage_block: 10,
            ..EngineConfig::default()
        };
        let (_cleanup, a, b, _clock) = two_nodes("usage", cfg);
        let (ea, eb) = (a.engine(), b.engine());
        let k = ea.create(CreateKey::default()).expect("create");
        eb.reload_key(&k.id).expect("reload");
        let ctx = EncryptionContext::default();
        for _ in 0..15 {
            ea.encrypt(&k.id, b"x", &ctx).expect("encrypt");
        }
        eb.reload_key(&k.id).expect("reload");
        assert!(eb.usage_count(&k.id, 1).expect("count") >= 20);
    }
}
