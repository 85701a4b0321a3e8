//! The indexes against the keys themselves: after creates, updates,
//! state changes and destruction, the kept index equals one rebuilt from
//! scratch, and every filtered list, count and due list equals a plain
//! walk over all keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::super::{CreateKey, Engine, EngineConfig, KeyFilter, UpdateKey};
use super::index_matches;
use crate::clock::{ManualClock, SharedClock, Timestamp, DAY};
use crate::crypto::rng::SystemRng;
use crate::keys::model::KeyMeta;
use crate::keys::state::KeyState;
use crate::storage::Store;
use crate::testing::TestSeal as Seal;
use strongroom_store_sql::sqlite::SqliteStore;

const T0: Timestamp = 1_700_000_000;

fn engine() -> (Arc<ManualClock>, Arc<Engine>, Seal) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("open sqlite"));
    let clock = Arc::new(ManualClock::new(T0));
    let shared: SharedClock = clock.clone();
    let seal =
        Seal::open(store, shared, Arc::new(SystemRng), EngineConfig::default()).expect("open seal");
    seal.init_dev(None).expect("init_dev");
    let e = seal.engine().expect("engine");
    (clock, e, seal)
}

/// Every page of `filter`, walked with `limit` and `max_scan`, joined.
fn walk(e: &Engine, filter: &KeyFilter, limit: usize, max_scan: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let p = e
            .list_bounded(filter, limit, cursor.as_deref(), max_scan)
            .expect("list");
        assert!(p.keys.len() <= limit);
        assert!(p.examined <= max_scan);
        if p.scan_limited {
            assert!(p.next.is_some(), "a scan-limited page continues");
        }
        out.extend(p.keys.into_iter().map(|m| m.id));
        match p.next {
            Some(n) => cursor = Some(n),
            None => return out,
        }
    }
    panic!("the pages never ended");
}

fn naive(all: &[KeyMeta], f: &KeyFilter) -> Vec<String> {
    all.iter()
        .filter(|m| {
            f.alias.as_ref().is_none_or(|a| m.aliases.contains(a))
                && f.owner.as_ref().is_none_or(|o| &m.owner == o)
                && f.state.is_none_or(|s| m.state == s)
                && f.tag.as_ref().is_none_or(|(k, v)| m.tags.get(k) == Some(v))
        })
        .map(|m| m.id.clone())
        .collect()
}

fn check(e: &Engine) {
    assert!(index_matches(&e.read().expect("read")), "index out of step");
    let all = walk(e, &KeyFilter::default(), 1000, usize::MAX);
    let all: Vec<KeyMeta> = all
        .iter()
        .map(|id| e.describe(id).expect("describe"))
        .collect();
    let mut filters = vec![KeyFilter::default()];
    for s in [
        KeyState::Enabled,
        KeyState::Disabled,
        KeyState::PendingDeletion,
        KeyState::Destroyed,
        KeyState::PendingImport,
    ] {
        filters.push(KeyFilter {
            state: Some(s),
            ..KeyFilter::default()
        });
        filters.push(KeyFilter {
            state: Some(s),
            owner: Some("team-a".into()),
            ..KeyFilter::default()
        });
    }
    for o in ["team-a", "team-b", "nobody"] {
        filters.push(KeyFilter {
            owner: Some(o.into()),
            ..KeyFilter::default()
        });
    }
    for (k, v) in [("env", "prod"), ("env", "dev"), ("env", "none")] {
        filters.push(KeyFilter {
            tag: Some((k.into(), v.into())),
            ..KeyFilter::default()
        });
        filters.push(KeyFilter {
            tag: Some((k.into(), v.into())),
            owner: Some("team-b".into()),
            state: Some(KeyState::Enabled),
            ..KeyFilter::default()
        });
    }
    for a in ["alias/k3", "alias/k4", "alias/none"] {
        filters.push(KeyFilter {
            alias: Some(a.into()),
            ..KeyFilter::default()
        });
        filters.push(KeyFilter {
            alias: Some(a.into()),
            state: Some(KeyState::Disabled),
            ..KeyFilter::default()
        });
    }
    for f in &filters {
        let want = naive(&all, f);
        for (limit, max_scan) in [(1000, usize::MAX), (3, usize::MAX), (2, 5), (1000, 1)] {
            assert_eq!(
                walk(e, f, limit, max_scan),
                want,
                "{f:?} limit {limit} scan {max_scan}"
            );
        }
    }
    let counts = e.counts_by_state().expect("counts");
    for s in [
        KeyState::Enabled,
        KeyState::Disabled,
        KeyState::PendingDeletion,
        KeyState::Destroyed,
    ] {
        let n = all.iter().filter(|m| m.state == s).count();
        assert_eq!(counts.get(&s).copied().unwrap_or(0), n, "{s:?}");
    }
    let now = e.now();
    let overdue: Vec<&KeyMeta> = all
        .iter()
        .filter(|m| m.state != KeyState::Destroyed && m.next_rotation_at.is_some_and(|t| t <= now))
        .collect();
    let due = e.rotation_overdue(3, 1000).expect("overdue");
    assert_eq!(due.total, overdue.len());
    assert_eq!(due.keys.len(), overdue.len().min(3));
    assert!(due
        .keys
        .iter()
        .all(|m| m.next_rotation_at.is_some_and(|t| t <= now)));
    assert_eq!(
        e.rotation_overdue(3, 2).expect("capped").total,
        overdue.len().min(2)
    );
    let expiring = all
        .iter()
        .filter(|m| {
            m.state != KeyState::Destroyed && m.expiry_date.is_some_and(|t| t < now + 30 * DAY)
        })
        .count();
    assert_eq!(
        e.expiring_within(30, 50, 1000).expect("expiring").total,
        expiring
    );
}

#[test]
fn indexes_stay_in_step_and_filtered_lists_equal_a_full_walk() {
    let (clock, e, _seal) = engine();
    check(&e);
    let mut ids = Vec::new();
    for i in 0..24u32 {
        let mut tags = BTreeMap::new();
        tags.insert(
            "env".to_string(),
            if i % 3 == 0 { "prod" } else { "dev" }.to_string(),
        );
        let id = e
            .create(CreateKey {
                owner: if i % 2 == 0 { "team-a" } else { "team-b" }.into(),
                tags,
                aliases: vec![format!("alias/k{i}")],
                rotation_period_days: (i % 4 == 0).then_some(10),
                expiry_date: (i % 5 == 0).then_some(T0 + i64::from(i + 1) * DAY),
                ..CreateKey::default()
            })
            .expect("create")
            .id;
        ids.push(id);
    }
    check(&e);
    for id in ids.iter().step_by(4) {
        e.disable(id).expect("disable");
    }
    let scheduled: Vec<&String> = ids.iter().skip(1).step_by(5).collect();
    for id in &scheduled {
        e.schedule_deletion(id, Some(7)).expect("schedule");
    }
    for id in ids
        .iter()
        .skip(2)
        .step_by(3)
        .filter(|i| !scheduled.contains(i))
    {
        let mut set_tags = BTreeMap::new();
        set_tags.insert("env".to_string(), "prod".to_string());
        e.update(
            id,
            UpdateKey {
                owner: Some("team-a".into()),
                set_tags,
                expiry_date: Some(Some(T0 + 40 * DAY)),
                ..UpdateKey::default()
            },
        )
        .expect("update");
    }
    check(&e);
    // Rotations fall due, expiries come near, the pending deletions end.
    clock.advance(11 * DAY);
    check(&e);
    let destroyed = e.destroy_due().expect("destroy_due");
    assert!(!destroyed.is_empty());
    check(&e);
    e.rotate(&ids[2]).expect("rotate");
    e.rotate(&ids[3]).expect("rotate");
    check(&e);
}
