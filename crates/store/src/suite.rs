//! The backend-agnostic storage test suite. Every backend's tests call
//! [`run_all`] with a factory that returns a fresh, empty store.

use super::{Op, Store, StoreError, Transaction};

/// Runs every check against fresh stores from `make`. Panics on failure
/// (it is test code).
pub fn run_all(make: &dyn Fn() -> Box<dyn Store>) {
    meta_round_trip(make().as_ref());
    insert_meta_conflicts(make().as_ref());
    update_meta_compare_and_set(make().as_ref());
    keys_insert_update_cas(make().as_ref());
    versions_unique(make().as_ref());
    failed_transaction_writes_nothing(make().as_ref());
    usage_reservation_never_lowers(make().as_ref());
    keys_listed_in_creation_order(make().as_ref());
    records_insert_put_delete(make().as_ref());
    record_lookup_by_id(make().as_ref());
    secret_records(make().as_ref());
}

/// What the secrets engine relies on: ids with `/`, `@` and `.`, a version
/// inserted twice conflicts (two writers never both win), and a version
/// and its secret's metadata change in one transaction or not at all.
fn secret_records(s: &dyn Store) {
    let version = |id: &str, b: u8| Op::InsertRecord {
        kind: "secret-version".into(),
        id: id.into(),
        body: vec![b],
    };
    let meta = |b: u8| Op::PutRecord {
        kind: "secret".into(),
        id: "team/app.v2/db".into(),
        body: vec![b],
    };
    s.commit(
        Transaction::new()
            .push(version("team/app.v2/db@0000000001", 1))
            .push(meta(1)),
    )
    .expect("first version");
    assert!(matches!(
        s.commit(
            Transaction::new()
                .push(version("team/app.v2/db@0000000001", 2))
                .push(meta(2))
        ),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.load_record("secret", "team/app.v2/db")
            .expect("load")
            .map(|r| r.body),
        Some(vec![1]),
        "the losing writer's metadata was not written"
    );
    s.commit(
        Transaction::new()
            .push(version("team/app.v2/db@0000000002", 2))
            .push(Op::DeleteRecord {
                kind: "secret-version".into(),
                id: "team/app.v2/db@0000000001".into(),
            })
            .push(meta(3)),
    )
    .expect("second version, first dropped");
    let ids: Vec<String> = s
        .load_records("secret-version")
        .expect("load")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec!["team/app.v2/db@0000000002".to_string()]);
    s.purge().expect("purge");
    assert_eq!(
        s.load_record("secret-version", "team/app.v2/db@0000000002")
            .expect("load")
            .map(|r| r.body),
        Some(vec![2])
    );
}

fn record_lookup_by_id(s: &dyn Store) {
    s.commit(Transaction::new().push(Op::InsertRecord {
        kind: "token".into(),
        id: "t1".into(),
        body: vec![4],
    }))
    .expect("insert");
    assert_eq!(
        s.load_record("token", "t1").expect("load").map(|r| r.body),
        Some(vec![4])
    );
    assert_eq!(s.load_record("token", "t2").expect("load"), None);
    assert_eq!(s.load_record("identity", "t1").expect("load"), None);
}

fn records_insert_put_delete(s: &dyn Store) {
    let ins = |id: &str, b: u8| Op::InsertRecord {
        kind: "identity".into(),
        id: id.into(),
        body: vec![b],
    };
    s.commit(Transaction::new().push(ins("bob", 1)).push(ins("alice", 2)))
        .expect("insert");
    assert!(matches!(
        s.commit(Transaction::new().push(ins("bob", 3))),
        Err(StoreError::Conflict(_))
    ));
    s.commit(Transaction::new().push(Op::PutRecord {
        kind: "token".into(),
        id: "bob".into(),
        body: vec![9],
    }))
    .expect("other kind, same id");
    let ids = |s: &dyn Store| -> Vec<(String, u8)> {
        s.load_records("identity")
            .expect("load")
            .into_iter()
            .map(|r| (r.id, r.body[0]))
            .collect()
    };
    assert_eq!(
        ids(s),
        vec![("alice".to_string(), 2), ("bob".to_string(), 1)]
    );
    s.commit(Transaction::new().push(Op::PutRecord {
        kind: "identity".into(),
        id: "bob".into(),
        body: vec![7],
    }))
    .expect("put");
    s.commit(Transaction::new().push(Op::DeleteRecord {
        kind: "identity".into(),
        id: "alice".into(),
    }))
    .expect("delete");
    assert_eq!(ids(s), vec![("bob".to_string(), 7)]);
    assert_eq!(s.load_records("token").expect("load").len(), 1);
    assert!(s.load_records("nothing").expect("load").is_empty());
}

fn meta_round_trip(s: &dyn Store) {
    assert_eq!(s.get_meta("a").expect("get"), None);
    s.commit(Transaction::new().push(Op::PutMeta {
        name: "a".into(),
        value: vec![1, 2],
    }))
    .expect("put");
    assert_eq!(s.get_meta("a").expect("get"), Some(vec![1, 2]));
    s.commit(Transaction::new().push(Op::PutMeta {
        name: "a".into(),
        value: vec![3],
    }))
    .expect("put");
    assert_eq!(s.get_meta("a").expect("get"), Some(vec![3]));
}

fn insert_meta_conflicts(s: &dyn Store) {
    let op = || Op::InsertMeta {
        name: "init".into(),
        value: vec![9],
    };
    s.commit(Transaction::new().push(op()))
        .expect("first insert");
    assert!(matches!(
        s.commit(Transaction::new().push(op())),
        Err(StoreError::Conflict(_))
    ));
}

fn update_meta_compare_and_set(s: &dyn Store) {
    let update = |expected: &[u8], value: &[u8]| Op::UpdateMeta {
        name: "root".into(),
        expected: expected.to_vec(),
        value: value.to_vec(),
    };
    // Absent: nothing to compare with.
    assert!(matches!(
        s.commit(Transaction::new().push(update(&[1], &[2]))),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_meta("root").expect("get"), None);
    s.commit(Transaction::new().push(Op::PutMeta {
        name: "root".into(),
        value: vec![1],
    }))
    .expect("put");
    // Two writers read [1]: the first wins, the second conflicts and
    // changes nothing, not even the other ops of its transaction.
    s.commit(Transaction::new().push(update(&[1], &[2])))
        .expect("first compare-and-set");
    assert!(matches!(
        s.commit(
            Transaction::new()
                .push(Op::PutMeta {
                    name: "config".into(),
                    value: vec![7],
                })
                .push(update(&[1], &[3]))
        ),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_meta("root").expect("get"), Some(vec![2]));
    assert_eq!(s.get_meta("config").expect("get"), None);
    // Same value as expected: allowed (a check that nothing changed).
    s.commit(Transaction::new().push(update(&[2], &[2])))
        .expect("unchanged compare-and-set");
}

fn keys_insert_update_cas(s: &dyn Store) {
    s.commit(Transaction::new().push(Op::InsertKey {
        id: "k1".into(),
        body: vec![1],
    }))
    .expect("insert");
    assert!(matches!(
        s.commit(Transaction::new().push(Op::InsertKey {
            id: "k1".into(),
            body: vec![2]
        })),
        Err(StoreError::Conflict(_))
    ));
    let r = s.load_key("k1").expect("load").expect("exists");
    assert_eq!((r.revision, r.body.clone()), (1, vec![1]));
    s.commit(Transaction::new().push(Op::UpdateKey {
        id: "k1".into(),
        expected: 1,
        body: vec![5],
    }))
    .expect("update");
    // A stale revision is refused: this is what keeps two writers from both winning.
    assert!(matches!(
        s.commit(Transaction::new().push(Op::UpdateKey {
            id: "k1".into(),
            expected: 1,
            body: vec![6]
        })),
        Err(StoreError::Conflict(_))
    ));
    let r = s.load_key("k1").expect("load").expect("exists");
    assert_eq!((r.revision, r.body), (2, vec![5]));
    assert_eq!(s.load_key("nope").expect("load"), None);
}

fn versions_unique(s: &dyn Store) {
    let ins = |v: u32, b: u8| Op::InsertVersion {
        key_id: "k".into(),
        version: v,
        body: vec![b],
    };
    s.commit(Transaction::new().push(ins(1, 1))).expect("v1");
    s.commit(Transaction::new().push(ins(2, 2))).expect("v2");
    assert!(matches!(
        s.commit(Transaction::new().push(ins(2, 3))),
        Err(StoreError::Conflict(_))
    ));
    let vs = s.load_versions("k").expect("load");
    assert_eq!(
        vs.iter()
            .map(|v| (v.version, v.body[0]))
            .collect::<Vec<_>>(),
        vec![(1, 1), (2, 2)]
    );
    s.commit(Transaction::new().push(Op::UpdateVersion {
        key_id: "k".into(),
        version: 1,
        body: vec![],
    }))
    .expect("update");
    assert_eq!(
        s.load_versions("k").expect("load")[0].body,
        Vec::<u8>::new()
    );
    assert!(matches!(
        s.commit(Transaction::new().push(Op::UpdateVersion {
            key_id: "k".into(),
            version: 9,
            body: vec![]
        })),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.load_all_versions().expect("all").len(), 2);
}

fn failed_transaction_writes_nothing(s: &dyn Store) {
    s.commit(Transaction::new().push(Op::InsertKey {
        id: "x".into(),
        body: vec![1],
    }))
    .expect("insert");
    let tx = Transaction::new()
        .push(Op::PutMeta {
            name: "m".into(),
            value: vec![1],
        })
        .push(Op::InsertKey {
            id: "y".into(),
            body: vec![1],
        })
        .push(Op::InsertVersion {
            key_id: "y".into(),
            version: 1,
            body: vec![1],
        })
        .push(Op::InsertKey {
            id: "x".into(),
            body: vec![2],
        }); // conflicts
    assert!(matches!(s.commit(tx), Err(StoreError::Conflict(_))));
    assert_eq!(s.get_meta("m").expect("get"), None);
    assert_eq!(s.load_key("y").expect("get"), None);
    assert!(s.load_versions("y").expect("get").is_empty());
    assert_eq!(s.load_key("x").expect("get").map(|r| r.body), Some(vec![1]));
}

fn usage_reservation_never_lowers(s: &dyn Store) {
    s.commit(Transaction::new().push(Op::InsertVersion {
        key_id: "u".into(),
        version: 1,
        body: vec![],
    }))
    .expect("insert");
    let res = |n: u64| Op::ReserveUsage {
        key_id: "u".into(),
        version: 1,
        reserved: n,
    };
    s.commit(Transaction::new().push(res(100)))
        .expect("reserve");
    s.commit(Transaction::new().push(res(50))).expect("reserve");
    assert_eq!(s.load_versions("u").expect("load")[0].usage_reserved, 100);
    assert!(matches!(
        s.commit(Transaction::new().push(Op::ReserveUsage {
            key_id: "u".into(),
            version: 2,
            reserved: 1
        })),
        Err(StoreError::Conflict(_))
    ));
}

fn keys_listed_in_creation_order(s: &dyn Store) {
    for id in ["c", "a", "b"] {
        s.commit(Transaction::new().push(Op::InsertKey {
            id: id.into(),
            body: vec![],
        }))
        .expect("insert");
    }
    let ids: Vec<String> = s
        .load_keys()
        .expect("load")
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, vec!["c", "a", "b"]);
}
