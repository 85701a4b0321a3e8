use super::*;
use crate::clock::ManualClock;
use strongroom_store_sql::sqlite::SqliteStore;

fn setup() -> (Secrets, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("sqlite"));
    let barrier = Arc::new(Barrier::new(&SecretBytes::from_slice(&[9u8; 32])).expect("barrier"));
    let clock: SharedClock = Arc::new(ManualClock::new(1_700_000_000));
    (Secrets::new(store.clone(), barrier, clock), store)
}

fn fields(pairs: &[(&str, &str)]) -> SecretFields {
    let mut f = SecretFields::new();
    for (k, v) in pairs {
        f.insert(k.to_string(), v.to_string());
    }
    f
}

#[test]
fn versions_cas_and_history() {
    let (s, _) = setup();
    assert_eq!(
        s.put("app/db", &fields(&[("pw", "one")]), Some(0))
            .expect("v1")
            .version,
        1
    );
    assert!(matches!(
        s.put("app/db", &fields(&[("pw", "x")]), Some(0)),
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        s.put("app/db", &fields(&[("pw", "two")]), Some(1))
            .expect("v2")
            .version,
        2
    );
    assert_eq!(s.get("app/db", None).expect("get").0.get("pw"), Some("two"));
    assert_eq!(
        s.get("app/db", Some(1)).expect("get").0.get("pw"),
        Some("one")
    );
    let m = s.metadata("app/db").expect("meta");
    assert_eq!((m.current_version, m.oldest_version()), (2, 1));
    assert!(matches!(
        s.get("app/db", Some(3)),
        Err(Error::SecretNotFound(_))
    ));
    assert!(matches!(
        s.get("app/nope", None),
        Err(Error::SecretNotFound(_))
    ));
    assert!(matches!(
        s.get("app/../db", None),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn patch_keeps_other_fields() {
    let (s, _) = setup();
    s.put("p", &fields(&[("a", "1"), ("b", "2")]), None)
        .expect("put");
    s.patch("p", &fields(&[("b", "3")]), &["a".to_string()], Some(1))
        .expect("patch");
    let (f, v) = s.get("p", None).expect("get");
    assert_eq!((f.get("a"), f.get("b"), v.version), (None, Some("3"), 2));
}

#[test]
fn max_versions_trims_oldest() {
    let (s, store) = setup();
    s.update_metadata(
        "t",
        &MetadataUpdate {
            max_versions: Some(2),
            ..Default::default()
        },
    )
    .expect("meta");
    for i in 0..4 {
        s.put("t", &fields(&[("v", &i.to_string())]), None)
            .expect("put");
    }
    let m = s.metadata("t").expect("meta");
    assert_eq!(m.versions.keys().copied().collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(
        store.load_records(KIND_SECRET_VERSION).expect("load").len(),
        2
    );
}

#[test]
fn delete_undelete_destroy_delete_all() {
    let (s, store) = setup();
    s.put("d", &fields(&[("v", "1")]), None).expect("put");
    s.put("d", &fields(&[("v", "2")]), None).expect("put");
    assert_eq!(s.delete_versions("d", &[]).expect("del"), vec![2]);
    assert!(matches!(s.get("d", None), Err(Error::SecretNotFound(_))));
    s.undelete_versions("d", &[2]).expect("undel");
    assert_eq!(s.get("d", None).expect("get").0.get("v"), Some("2"));
    s.destroy_versions("d", &[1]).expect("destroy");
    assert!(s.metadata("d").expect("m").versions[&1].destroyed);
    assert!(matches!(s.get("d", Some(1)), Err(Error::SecretNotFound(_))));
    s.undelete_versions("d", &[1])
        .expect("undelete is a no-op on destroyed");
    assert!(s.get("d", Some(1)).is_err());
    assert_eq!(
        store.load_records(KIND_SECRET_VERSION).expect("load").len(),
        1
    );
    s.delete_all("d").expect("all");
    assert!(s.find("d").expect("find").is_none());
    assert!(store
        .load_records(KIND_SECRET_VERSION)
        .expect("load")
        .is_empty());
}

#[test]
fn a_swapped_version_record_fails_to_open() {
    let (s, store) = setup();
    s.put("a", &fields(&[("v", "a1")]), None).expect("put");
    s.put("a", &fields(&[("v", "a2")]), None).expect("put");
    s.put("b", &fields(&[("v", "b1")]), None).expect("put");
    let v1 = store
        .load_record(KIND_SECRET_VERSION, &version_record_id("a", 1))
        .expect("load")
        .expect("some");
    let b1 = store
        .load_record(KIND_SECRET_VERSION, &version_record_id("b", 1))
        .expect("load")
        .expect("some");
    // Version 1 copied over version 2 of the same path, and another path's.
    for (id, body) in [
        (version_record_id("a", 2), v1.body),
        (version_record_id("a", 1), b1.body),
    ] {
        store
            .commit(Transaction::new().push(Op::PutRecord {
                kind: KIND_SECRET_VERSION.into(),
                id,
                body,
            }))
            .expect("swap");
    }
    assert!(matches!(s.get("a", Some(2)), Err(Error::Internal(_))));
    assert!(matches!(s.get("a", Some(1)), Err(Error::Internal(_))));
    // Metadata swapped between paths fails too.
    let mb = store.load_record(KIND_SECRET, "b").expect("l").expect("s");
    store
        .commit(Transaction::new().push(Op::PutRecord {
            kind: KIND_SECRET.into(),
            id: "a".into(),
            body: mb.body,
        }))
        .expect("swap");
    assert!(s.metadata("a").is_err());
}

#[test]
fn list_children_paged() {
    let (s, _) = setup();
    for p in ["app/db", "app/api/key", "app2/x", "apq", "app/cache"] {
        s.put(p, &fields(&[("v", "1")]), None).expect("put");
    }
    let all = s.list("", None, 100).expect("list");
    assert_eq!(all.keys, vec!["app/", "app2/", "apq"]);
    let app = s.list("app/", None, 2).expect("list");
    assert_eq!(app.keys, vec!["api/", "cache"]);
    assert_eq!(app.next.as_deref(), Some("cache"));
    let rest = s.list("app/", app.next.as_deref(), 2).expect("list");
    assert_eq!((rest.keys, rest.next), (vec!["db".to_string()], None));
    assert!(matches!(
        s.list("app", None, 10),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn cas_required_and_limits() {
    let (s, _) = setup();
    s.update_metadata(
        "c",
        &MetadataUpdate {
            cas_required: Some(true),
            ..Default::default()
        },
    )
    .expect("meta");
    assert!(matches!(
        s.put("c", &fields(&[("v", "1")]), None),
        Err(Error::InvalidArgument(_))
    ));
    s.put("c", &fields(&[("v", "1")]), Some(0)).expect("cas 0");
    let big = "x".repeat(MAX_VALUE_BYTES + 1);
    assert!(matches!(
        s.put("c", &fields(&[("v", &big)]), Some(1)),
        Err(Error::PayloadTooLarge { .. })
    ));
    assert!(s
        .update_metadata(
            "c",
            &MetadataUpdate {
                max_versions: Some(MAX_MAX_VERSIONS + 1),
                ..Default::default()
            }
        )
        .is_err());
}

#[test]
fn destroy_leaves_no_sealed_bytes_in_any_database_file() {
    use crate::testing::{db_files, found_in};
    let dir = std::env::temp_dir().join(format!("sr-secrets-destroy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let db = dir.join("strongroom.db");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(db.to_str().expect("utf8")).expect("open"));
    let barrier = Arc::new(Barrier::new(&SecretBytes::from_slice(&[5u8; 32])).expect("barrier"));
    let clock: SharedClock = Arc::new(ManualClock::new(1_700_000_000));
    let s = Secrets::new(store.clone(), barrier, clock);
    let sealed = |path: &str, v: u32| {
        store
            .load_record(KIND_SECRET_VERSION, &version_record_id(path, v))
            .expect("load")
            .expect("present")
            .body
    };
    s.put(
        "app/db",
        &fields(&[("password", "canary-one-0123456789")]),
        None,
    )
    .expect("v1");
    s.put(
        "app/db",
        &fields(&[("password", "canary-two-0123456789")]),
        None,
    )
    .expect("v2");
    s.put(
        "app/other",
        &fields(&[("password", "canary-all-0123456789")]),
        None,
    )
    .expect("other");
    let (v1, v2, other) = (
        sealed("app/db", 1),
        sealed("app/db", 2),
        sealed("app/other", 1),
    );
    assert!(
        !found_in(&db_files(&db), &v1).is_empty(),
        "the scan sees live records"
    );
    // Plaintext never reaches the files at all: it is sealed.
    assert!(found_in(&db_files(&db), b"canary-one").is_empty());

    s.destroy_versions("app/db", &[1]).expect("destroy v1");
    s.delete_all("app/other").expect("delete all");
    let files = db_files(&db);
    for (what, bytes) in [("v1", &v1), ("other", &other)] {
        for needle in [&bytes[..], &bytes[16..48]] {
            let hits = found_in(&files, needle);
            assert!(hits.is_empty(), "destroyed {what} still in {hits:?}");
        }
    }
    assert!(
        !found_in(&files, &v2).is_empty(),
        "the live version is untouched"
    );
    assert_eq!(
        s.get("app/db", None).expect("v2 reads").0.get("password"),
        Some("canary-two-0123456789")
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn engine_config_applies_to_every_secret_and_delete_version_after_schedules_deletion() {
    use crate::clock::Clock;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("sqlite"));
    let barrier = Arc::new(Barrier::new(&SecretBytes::from_slice(&[9u8; 32])).expect("barrier"));
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let shared: SharedClock = clock.clone();
    let s = Secrets::new(store, barrier, shared);
    assert_eq!(s.config().expect("default"), SecretsConfig::default());
    // Engine-wide cas_required: a write without cas is refused with Vault's words.
    s.set_config(&ConfigUpdate {
        cas_required: Some(true),
        max_versions: Some(2),
        delete_version_after_secs: Some(60),
    })
    .expect("config");
    let e = s
        .put("kv/a", &fields(&[("k", "v")]), None)
        .expect_err("cas");
    assert!(
        e.to_string()
            .contains("check-and-set parameter required for this call"),
        "{e}"
    );
    for cas in 0..3 {
        s.put("kv/a", &fields(&[("k", "v")]), Some(cas))
            .expect("put");
    }
    let e = s
        .put("kv/a", &fields(&[("k", "v")]), Some(1))
        .expect_err("cas");
    assert!(
        e.to_string()
            .contains("check-and-set parameter did not match the current version"),
        "{e}"
    );
    // max_versions 2 from the engine: versions 2 and 3 remain.
    let m = s.metadata("kv/a").expect("meta");
    assert_eq!(m.versions.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
    // Deletion is scheduled 60 s after creation: readable until then.
    let v3 = &m.versions[&3];
    assert!(v3.deletion_ms.is_some() && !v3.is_deleted_at(clock.now_ms()));
    assert!(s.get("kv/a", None).is_ok());
    // The secret's own, shorter setting wins for its next versions.
    s.update_metadata(
        "kv/a",
        &MetadataUpdate {
            delete_version_after_secs: Some(10),
            ..MetadataUpdate::default()
        },
    )
    .expect("meta");
    let v4 = s.put("kv/a", &fields(&[("k", "4")]), Some(3)).expect("v4");
    assert_eq!(v4.deletion_ms, Some(clock.now_ms() + 10_000));
    clock.advance(11);
    assert!(matches!(s.get("kv/a", None), Err(Error::SecretNotFound(_))));
    assert!(s.get("kv/a", Some(3)).is_ok(), "v3 lives 60 s");
    // Undelete schedules the deletion again from now.
    s.undelete_versions("kv/a", &[4]).expect("undelete");
    assert!(s.get("kv/a", Some(4)).is_ok());
    clock.advance(11);
    assert!(s.get("kv/a", Some(4)).is_err());
    // A negative engine value switches it off for every secret.
    s.set_config(&ConfigUpdate {
        delete_version_after_secs: Some(-5),
        cas_required: Some(false),
        ..ConfigUpdate::default()
    })
    .expect("off");
    let v5 = s.put("kv/a", &fields(&[("k", "5")]), None).expect("v5");
    assert_eq!(v5.deletion_ms, None);
    assert_eq!(s.config().expect("c").delete_version_after_secs, -1);
    // Out-of-range values are refused and change nothing.
    assert!(s
        .set_config(&ConfigUpdate {
            max_versions: Some(5000),
            ..ConfigUpdate::default()
        })
        .is_err());
    assert!(s
        .update_metadata(
            "kv/a",
            &MetadataUpdate {
                delete_version_after_secs: Some(-1),
                ..MetadataUpdate::default()
            },
        )
        .is_err());
    assert_eq!(s.config().expect("c").max_versions, 2);
}

/// Two engines on one store: what two HA nodes sharing a database are.
fn two_nodes() -> (Secrets, Secrets, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("sqlite"));
    let barrier = Arc::new(Barrier::new(&SecretBytes::from_slice(&[9u8; 32])).expect("barrier"));
    let clock: SharedClock = Arc::new(ManualClock::new(1_700_000_000));
    (
        Secrets::new(store.clone(), barrier.clone(), clock.clone()),
        Secrets::new(store.clone(), barrier, clock),
        store,
    )
}

#[test]
fn reads_are_cached_and_every_write_here_invalidates() {
    let (s, store) = setup();
    s.put("app/db", &fields(&[("pw", "one")]), None)
        .expect("v1");
    assert_eq!(s.cache_size(), (0, 0), "a write caches nothing");
    assert!(s.cached_read("app/db", None).is_none());
    assert_eq!(s.get("app/db", None).expect("get").0.get("pw"), Some("one"));
    assert_eq!(s.cache_size().0, 1);
    // The next read needs no storage: the stored records can be gone.
    let e = s.cached_read("app/db", None).expect("warm");
    let (f, v) = Secrets::answer_cached(&e, None, 1_700_000_000_000)
        .expect("cached")
        .expect("ok");
    assert_eq!((f.get("pw"), v.version), (Some("one"), 1));
    store
        .commit(Transaction::new().push(Op::DeleteRecord {
            kind: KIND_SECRET_VERSION.into(),
            id: version_record_id("app/db", 1),
        }))
        .expect("delete behind its back");
    assert_eq!(
        s.get("app/db", None).expect("cached").0.get("pw"),
        Some("one")
    );
    // Each write on this node drops the entry.
    s.put("app/db", &fields(&[("pw", "two")]), Some(1))
        .expect("v2");
    assert!(s.cached_read("app/db", None).is_none());
    assert_eq!(s.get("app/db", None).expect("get").0.get("pw"), Some("two"));
    s.delete_versions("app/db", &[]).expect("soft delete");
    assert!(matches!(
        s.get("app/db", None),
        Err(Error::SecretNotFound(_))
    ));
    // An error the metadata gives is answered from the cache too.
    assert!(s.cached_read("app/db", None).is_some());
    s.undelete_versions("app/db", &[]).expect("undelete");
    assert_eq!(s.get("app/db", None).expect("get").0.get("pw"), Some("two"));
    s.update_metadata(
        "app/db",
        &MetadataUpdate {
            owner: Some("team".into()),
            ..Default::default()
        },
    )
    .expect("meta");
    assert_eq!(s.metadata("app/db").expect("m").owner, "team");
    assert!(s.cached_read("app/db", None).is_none());
    // A non-current version is read from storage and not cached.
    s.get("app/db", None).expect("warm");
    assert!(s.cached_read("app/db", Some(1)).is_none());
    s.clear_cache();
    assert_eq!(s.cache_size(), (0, 0));
    s.delete_all("app/db").expect("delete all");
    assert!(matches!(
        s.get("app/db", None),
        Err(Error::SecretNotFound(_))
    ));
}

#[test]
fn another_nodes_write_is_seen_after_invalidation_and_cas_never_trusts_the_cache() {
    let (a, b, _) = two_nodes();
    a.put("ha/db", &fields(&[("pw", "one")]), None).expect("v1");
    assert_eq!(a.get("ha/db", None).expect("a").0.get("pw"), Some("one"));
    b.put("ha/db", &fields(&[("pw", "two")]), Some(1))
        .expect("v2 on b");
    // Until the notification arrives, A answers from its cache...
    assert_eq!(a.get("ha/db", None).expect("a").0.get("pw"), Some("one"));
    // ...but a write on A decides check-and-set on what is stored.
    assert!(matches!(
        a.put("ha/db", &fields(&[("pw", "x")]), Some(1)),
        Err(Error::Conflict(_))
    ));
    // The notification names the version record or the metadata record.
    a.get("ha/db", None).expect("warm again");
    a.invalidate(&version_record_id("ha/db", 2));
    assert_eq!(a.get("ha/db", None).expect("a").0.get("pw"), Some("two"));
    b.put("ha/db", &fields(&[("pw", "three")]), Some(2))
        .expect("v3 on b");
    a.invalidate("ha/db");
    assert_eq!(a.get("ha/db", None).expect("a").0.get("pw"), Some("three"));
    // A version destroyed on B while A's metadata is stale: A answers
    // "not found" from storage, never a 500.
    a.get("ha/db", None).expect("warm");
    b.destroy_versions("ha/db", &[1]).expect("destroy on b");
    assert!(matches!(
        a.get("ha/db", Some(1)),
        Err(Error::SecretNotFound(_))
    ));
}

#[test]
fn one_rotation_lease_at_a_time_across_nodes_and_it_expires() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("sqlite"));
    let barrier = Arc::new(Barrier::new(&SecretBytes::from_slice(&[9u8; 32])).expect("barrier"));
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let shared: SharedClock = clock.clone();
    let a = Secrets::new(store.clone(), barrier.clone(), shared.clone());
    let b = Secrets::new(store.clone(), barrier, shared);
    let held = a.lease_rotation("app/db", "a").expect("a takes it");
    assert!(matches!(
        b.lease_rotation("app/db", "b"),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        a.lease_rotation("app/db", "a again"),
        Err(Error::Conflict(_))
    ));
    // Another secret's lease is independent.
    b.lease_rotation("app/other", "b")
        .expect("other path")
        .release()
        .expect("release");
    held.release().expect("release");
    let again = b.lease_rotation("app/db", "b").expect("free after release");
    // A holder that never gives it back: exclusive for at least one whole
    // window, then it expires.
    std::mem::forget(again);
    clock.advance(ROTATION_LEASE_MS / 1000 - 1);
    assert!(a.lease_rotation("app/db", "a").is_err(), "still held");
    clock.advance(ROTATION_LEASE_MS / 1000 + 1);
    let late = a.lease_rotation("app/db", "a").expect("expired");
    // The dead holder's records were cleaned up on the way.
    assert_eq!(store.load_records(KIND_ROTATION_LEASE).expect("l").len(), 2);
    drop(late);
    assert!(store
        .load_records(KIND_ROTATION_LEASE)
        .expect("l")
        .is_empty());
}
