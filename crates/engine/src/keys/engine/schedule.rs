//! The rotation scheduler's engine side: which keys are due, and rotating
//! one exactly once even when several nodes (each with its own scheduler)
//! share one database.
//!
//! The due check runs inside the compare-and-set mutate closure, so it sees
//! the revision that is about to be replaced. A node whose memory is stale
//! gets a revision conflict from storage; it then reloads the key and checks
//! again. If another node rotated it meanwhile, `next_rotation_at` has moved
//! on and the retry does nothing.

use std::cell::Cell;

use super::rotation::ROTATION_PERIOD_DAYS;
use super::Engine;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::keys::model::{KeyMeta, Origin, RotationType};
use crate::keys::state::{check, Operation};

/// How many times one key's rotation is retried after revision conflicts.
const CONFLICT_RETRIES: usize = 5;

/// What one scheduler pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationRun {
    /// (key id, new primary version) for each key this node rotated.
    pub rotated: Vec<(String, u32)>,
    /// Keys that were due here but turned out done by another node.
    pub skipped: Vec<String>,
    /// (key id, error) for rotations that failed; retried on the next pass.
    pub failed: Vec<(String, String)>,
}

/// The period a new key gets: `None`/`Some(0)` = none, else 1–3650 days.
pub(super) fn creation_period(days: Option<u32>) -> Result<Option<u32>> {
    match days {
        None | Some(0) => Ok(None),
        Some(d) if ROTATION_PERIOD_DAYS.contains(&d) => Ok(Some(d)),
        Some(d) => Err(Error::InvalidArgument(format!(
            "rotation_period_days of {d} is out of range; use {} to {} days, or 0 for no automatic rotation",
            ROTATION_PERIOD_DAYS.start(),
            ROTATION_PERIOD_DAYS.end()
        ))),
    }
}

/// Whether the scheduler should rotate this key at `now`.
fn is_due(m: &KeyMeta, now: Timestamp) -> bool {
    m.origin != Origin::External
        && m.next_rotation_at.is_some_and(|t| t <= now)
        && check(m.state, Operation::Rotate, &m.id).is_ok()
        && Engine::check_dates(m, Operation::Rotate, now).is_ok()
}

impl Engine {
    /// Ids of keys whose scheduled rotation is due (by this node's memory).
    pub fn due_for_rotation(&self) -> Result<Vec<String>> {
        let now = self.now();
        let mut ids: Vec<String> = self
            .read()?
            .keys
            .values()
            .filter(|e| is_due(&e.meta, now))
            .map(|e| e.meta.id.clone())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Rotates `id` if, in its freshest stored revision, it is still due.
    /// `Ok(None)`: not due (any more) — another node did it, or the schedule
    /// changed. A revision conflict reloads the key and checks again.
    pub fn rotate_if_due(&self, id: &str) -> Result<Option<KeyMeta>> {
        let now = self.now();
        for _ in 0..CONFLICT_RETRIES {
            let not_due = Cell::new(false);
            let r = self.mutate(id, Operation::Rotate, |m, _| {
                if !is_due(m, now) {
                    not_due.set(true);
                    // Aborts the mutate; nothing is written.
                    return Err(Error::Conflict("not due".into()));
                }
                self.rotation_step(m, RotationType::Automatic, now)
            });
            match r {
                Ok(m) => return Ok(Some(m)),
                Err(_) if not_due.get() => return Ok(None),
                Err(Error::Conflict(_)) => {
                    // Another node changed the key: read it back and re-check.
                    self.reload_key(id)?;
                }
                // The state changed under us (disabled, pending deletion,
                // outside its dates…): it waits, overdue, until it can rotate.
                Err(
                    Error::InvalidKeyState(_)
                    | Error::KeyNotFound(_)
                    | Error::KeyDisabled(_)
                    | Error::KeyPendingDeletion(_)
                    | Error::KeyDestroyed(_)
                    | Error::KeyNotYetActive { .. }
                    | Error::KeyExpired { .. },
                ) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "key {id} kept changing while its scheduled rotation was attempted; retried on the next pass"
        )))
    }

    /// One scheduler pass: rotates every due key (RotationType::Automatic).
    pub fn rotate_due(&self) -> Result<RotationRun> {
        let mut run = RotationRun::default();
        for id in self.due_for_rotation()? {
            match self.rotate_if_due(&id) {
                Ok(Some(m)) => run.rotated.push((id, m.primary_version)),
                Ok(None) => run.skipped.push(id),
                Err(e) => {
                    tracing::error!(key_id = %id, error = %e, "scheduled rotation failed; retried on the next pass");
                    run.failed.push((id, e.to_string()));
                }
            }
        }
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::{ManualClock, SharedClock, DAY};
    use crate::crypto::rng::SystemRng;
    use crate::keys::engine::{CreateKey, Engine, EngineConfig};
    use crate::keys::model::RotationType;
    use crate::storage::Store;
    use crate::testing::TestSeal as Seal;
    use strongroom_store_sql::sqlite::SqliteStore;

    /// Two nodes (each its own Seal, Engine and scheduler) on one store.
    fn two_nodes(open: impl Fn() -> Arc<dyn Store>) -> (Seal, Seal, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let node = || {
            let c: SharedClock = clock.clone();
            Seal::open(open(), c, Arc::new(SystemRng), EngineConfig::default()).expect("open seal")
        };
        let a = node();
        let out = a.init(1, 1).expect("init");
        let share = String::from_utf8(out.shares[0].expose().to_vec()).expect("text");
        a.unseal(&share).expect("unseal a");
        let b = node();
        b.unseal(&share).expect("unseal b");
        (a, b, clock)
    }

    fn fires_once_on_two_nodes(a: &Seal, b: &Seal, clock: &ManualClock) {
        let (ea, eb): (Arc<Engine>, Arc<Engine>) = (a.engine().expect("a"), b.engine().expect("b"));
        let mut ids = Vec::new();
        for _ in 0..4 {
            let k = ea
                .create(CreateKey {
                    rotation_period_days: Some(30),
                    ..Default::default()
                })
                .expect("create");
            assert_eq!(k.next_rotation_at, Some(1_700_000_000 + 30 * DAY));
            eb.reload_key(&k.id).expect("reload");
            ids.push(k.id);
        }
        // Not due a second early, on either node.
        clock.advance(30 * DAY - 1);
        assert!(ea.rotate_due().expect("a").rotated.is_empty());
        assert!(eb.rotate_due().expect("b").rotated.is_empty());
        clock.advance(1);
        // Both schedulers race; b's memory is never told about a's rotations.
        let (ta, tb) = (ea.clone(), eb.clone());
        let ha = std::thread::spawn(move || ta.rotate_due().expect("pass a"));
        let hb = std::thread::spawn(move || tb.rotate_due().expect("pass b"));
        let (ra, rb) = (ha.join().expect("a"), hb.join().expect("b"));
        assert!(
            ra.failed.is_empty() && rb.failed.is_empty(),
            "{ra:?} {rb:?}"
        );
        let mut all: Vec<String> = ra
            .rotated
            .iter()
            .chain(rb.rotated.iter())
            .map(|(k, v)| {
                assert_eq!(*v, 2);
                k.clone()
            })
            .collect();
        all.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(all, want, "each key rotated exactly once across both nodes");
        for id in &ids {
            eb.reload_key(id).expect("reload");
            ea.reload_key(id).expect("reload");
            for e in [&ea, &eb] {
                let m = e.describe(id).expect("describe");
                assert_eq!(m.primary_version, 2);
                assert_eq!(m.next_rotation_at, Some(1_700_000_000 + 60 * DAY));
                assert_eq!(m.versions[1].rotation_type, Some(RotationType::Automatic));
            }
        }
        // Passes after that do nothing until the next period ends.
        assert!(ea.rotate_due().expect("a").rotated.is_empty());
        assert!(eb.rotate_due().expect("b").rotated.is_empty());
        clock.advance(30 * DAY);
        // a goes first; b's memory is one revision behind, so b meets a
        // revision conflict, reloads, finds the key no longer due: a no-op.
        assert_eq!(ea.rotate_due().expect("a").rotated.len(), ids.len());
        let rb = eb.rotate_due().expect("b");
        assert!(rb.rotated.is_empty() && rb.failed.is_empty(), "{rb:?}");
        assert_eq!(rb.skipped.len(), ids.len());
    }

    #[test]
    fn scheduled_rotation_fires_once_with_two_schedulers_on_one_sqlite_file() {
        let dir = std::env::temp_dir().join(format!("sr-sched-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("shared.db").display().to_string();
        let (a, b, clock) = two_nodes(|| Arc::new(SqliteStore::open(&p).expect("open")));
        fires_once_on_two_nodes(&a, &b, &clock);
        drop((a, b));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scheduled_rotation_fires_once_with_two_schedulers_on_postgresql() {
        let url = std::env::var("STRONGROOM_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("sr_sched_{}", std::process::id());
        struct Cleanup(String, String);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                if let Ok(s) =
                    strongroom_store_sql::postgres::PgStore::open_in_schema(&self.0, &self.1)
                {
                    s.drop_schema(&self.1);
                }
            }
        }
        let _cleanup = Cleanup(url.clone(), schema.clone());
        let (a, b, clock) = two_nodes(|| {
            Arc::new(
                strongroom_store_sql::postgres::PgStore::open_in_schema(&url, &schema)
                    .unwrap_or_else(|e| panic!("PostgreSQL at {url} is needed: {e:?}")),
            )
        });
        fires_once_on_two_nodes(&a, &b, &clock);
    }

    #[test]
    fn not_due_and_paused_keys_are_left_alone() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("open"));
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let c: SharedClock = clock.clone();
        let seal =
            Seal::open(store, c, Arc::new(SystemRng), EngineConfig::default()).expect("seal");
        seal.init_dev(None).expect("dev");
        let e = seal.engine().expect("engine");
        let none = e.create(CreateKey::default()).expect("create");
        assert_eq!(none.rotation_period_days, None);
        let off = e
            .create(CreateKey {
                rotation_period_days: Some(0),
                ..Default::default()
            })
            .expect("create");
        assert_eq!(off.next_rotation_at, None);
        let bad = e.create(CreateKey {
            rotation_period_days: Some(3651),
            ..Default::default()
        });
        assert!(bad.is_err_and(|e| e.to_string().contains("3650")));
        let disabled = e
            .create(CreateKey {
                rotation_period_days: Some(1),
                ..Default::default()
            })
            .expect("create");
        e.disable(&disabled.id).expect("disable");
        clock.advance(2 * DAY);
        let run = e.rotate_due().expect("pass");
        assert_eq!(run, super::RotationRun::default(), "disabled keys wait");
        // A key whose schedule was cleared since is a no-op, not an error.
        e.enable(&disabled.id).expect("enable");
        e.set_rotation_period(&disabled.id, None).expect("clear");
        assert_eq!(e.rotate_if_due(&disabled.id).expect("no-op"), None);
    }
}
