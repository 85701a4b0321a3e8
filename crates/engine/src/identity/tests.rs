//! Registry tests: tokens (hash-only storage, constant-time check, TTL,
//! revocation), identities, access keys and persistence, with an injected
//! clock so expiry is tested without sleeping.

use super::*;
use crate::clock::ManualClock;
use crate::crypto::rng::SystemRng;
use strongroom_store_sql::sqlite::SqliteStore;

struct Fixture {
    store: Arc<dyn Store>,
    barrier: Arc<Barrier>,
    clock: Arc<ManualClock>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            store: Arc::new(SqliteStore::open(":memory:").expect("store")),
            barrier: Arc::new(Barrier::new(&SecretBytes::from_slice(&[9u8; 32])).expect("barrier")),
            clock: Arc::new(ManualClock::new(1_700_000_000)),
        }
    }

    fn registry(&self) -> Registry {
        Registry::load(
            self.store.clone(),
            self.barrier.clone(),
            self.clock.clone(),
            Arc::new(SystemRng),
        )
        .expect("load")
    }
}

fn code<T>(r: Result<T>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn token_lifecycle_ttl_and_revocation() {
    let f = Fixture::new();
    let r = f.registry();
    r.create_identity(
        "alice",
        IdentityKind::Human,
        vec!["key-user".into()],
        vec![],
    )
    .expect("create");
    let (token, info) = r.create_token("alice", Some(60)).expect("token");
    let p = r.authenticate(token.expose()).expect("valid token");
    assert_eq!((p.id.as_str(), p.kind), ("alice", PrincipalKind::Identity));
    assert_eq!(p.roles, vec!["key-user".to_string()]);
    // Only the hash is kept.
    assert_ne!(info.hash.as_bytes(), token.expose());
    assert!(!format!("{info:?}").contains(std::str::from_utf8(token.expose()).expect("utf8")));
    // Valid through its last whole second, refused after it.
    f.clock.advance(60);
    assert_eq!(code(r.authenticate(token.expose())), "ok");
    f.clock.advance(1);
    assert_eq!(code(r.authenticate(token.expose())), "InvalidToken");

    let (t2, info2) = r.create_token("alice", None).expect("token");
    assert_eq!(code(r.authenticate(t2.expose())), "ok");
    r.revoke_token(&info2.id).expect("revoke");
    assert_eq!(code(r.authenticate(t2.expose())), "InvalidToken");
    // Revoking by the token text works too.
    let (t3, _) = r.create_token("alice", None).expect("token");
    r.revoke_token(std::str::from_utf8(t3.expose()).expect("utf8"))
        .expect("revoke by token");
    assert_eq!(code(r.authenticate(t3.expose())), "InvalidToken");
}

#[test]
fn tampered_or_foreign_tokens_are_refused() {
    let f = Fixture::new();
    let r = f.registry();
    r.create_identity("bob", IdentityKind::Service, vec![], vec![])
        .expect("create");
    let (token, _) = r.create_token("bob", None).expect("token");
    let t = std::str::from_utf8(token.expose())
        .expect("utf8")
        .to_string();
    let mut flipped = t.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    for bad in [
        flipped,
        t.as_bytes()[..t.len() - 1].to_vec(),
        format!("{t}x").into_bytes(),
        t.to_uppercase().into_bytes(),
        b"sr.0000000000000000.abc".to_vec(),
        b"garbage".to_vec(),
        vec![0xff, 0xfe],
    ] {
        assert_eq!(code(r.authenticate(&bad)), "InvalidToken");
    }
}

#[test]
fn disabling_an_identity_stops_its_tokens_at_once() {
    let f = Fixture::new();
    let r = f.registry();
    r.create_identity("carol", IdentityKind::Human, vec!["auditor".into()], vec![])
        .expect("create");
    let (token, _) = r.create_token("carol", None).expect("token");
    assert_eq!(code(r.authenticate(token.expose())), "ok");
    r.update_identity("carol", |i| i.disabled = true)
        .expect("disable");
    assert_eq!(code(r.authenticate(token.expose())), "InvalidToken");
    assert_eq!(code(r.create_token("carol", None)), "InvalidArgument");
}

#[test]
fn names_roles_and_policies_are_validated() {
    let f = Fixture::new();
    let r = f.registry();
    for bad in ["", "Alice", "root", "system", "a b", "../x", "ünï", "1abc"] {
        assert_eq!(
            code(r.create_identity(bad, IdentityKind::Human, vec![], vec![])),
            "InvalidArgument",
            "{bad:?}"
        );
    }
    assert_eq!(
        code(r.create_identity("x", IdentityKind::Human, vec!["superuser".into()], vec![])),
        "InvalidArgument"
    );
    assert_eq!(
        code(r.create_identity("x", IdentityKind::Human, vec!["root".into()], vec![])),
        "InvalidArgument"
    );
    assert_eq!(
        code(r.create_identity("x", IdentityKind::Human, vec![], vec!["nope".into()])),
        "InvalidArgument"
    );
    r.create_identity("x", IdentityKind::Human, vec![], vec![])
        .expect("create");
    assert_eq!(
        code(r.create_identity("x", IdentityKind::Human, vec![], vec![])),
        "Conflict"
    );
    // Nothing half-created by the failures above.
    assert_eq!(r.list_identities().expect("list").len(), 1);
}

#[test]
fn everything_persists_sealed_and_reloads() {
    let f = Fixture::new();
    let (token, key_id, secret) = {
        let r = f.registry();
        let p = Policy::from_json(
            r#"{"name":"app","statements":[{"effect":"Allow","actions":["kms:Encrypt"],"resources":["alias/app"]}]}"#,
        )
        .expect("policy");
        r.put_policy(p).expect("put");
        r.create_identity(
            "dave",
            IdentityKind::Service,
            vec!["key-user".into()],
            vec!["app".into()],
        )
        .expect("create");
        let (token, _) = r.create_token("dave", None).expect("token");
        let (key_id, secret) = r.create_access_key("dave").expect("access key");
        (token, key_id, secret)
    };
    let r = f.registry();
    let p = r
        .authenticate(token.expose())
        .expect("token survives reload");
    assert_eq!(
        p.policies
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        vec!["role:key-user", "app"]
    );
    let (s, who) = r.access_key(&key_id).expect("lookup").expect("exists");
    assert!(s.ct_eq(secret.expose()));
    assert_eq!(who.id, "dave");
    // No secret is stored in clear.
    for rec in ["identity", "token", "access_key", "policy"] {
        for row in f.store.load_records(rec).expect("records") {
            let hay = String::from_utf8_lossy(&row.body);
            assert!(!hay.contains(std::str::from_utf8(secret.expose()).expect("utf8")));
            assert!(!hay.contains("dave"), "{rec} record is not sealed");
        }
    }
    // A record moved to another id fails its integrity check.
    let rows = f.store.load_records(KIND_IDENTITY).expect("rows");
    f.store
        .commit(Transaction::new().push(Op::PutRecord {
            kind: KIND_IDENTITY.into(),
            id: "eve".into(),
            body: rows[0].body.clone(),
        }))
        .expect("plant");
    assert!(Registry::load(
        f.store.clone(),
        f.barrier.clone(),
        f.clock.clone(),
        Arc::new(SystemRng)
    )
    .is_err());
}

#[test]
fn revoked_access_keys_are_unknown() {
    let f = Fixture::new();
    let r = f.registry();
    r.create_identity("erin", IdentityKind::Service, vec![], vec![])
        .expect("create");
    let (id, _) = r.create_access_key("erin").expect("key");
    assert!(r.access_key(&id).expect("lookup").is_some());
    r.revoke_access_key(&id).expect("revoke");
    assert!(r.access_key(&id).expect("lookup").is_none());
    assert!(r.access_key("SRAKNOPE").expect("lookup").is_none());
    assert!(r
        .list_access_keys()
        .expect("list")
        .iter()
        .all(|k| k.revoked_at.is_some()));
}

fn cn(v: &str) -> CertName {
    CertName {
        field: CertField::Cn,
        value: v.into(),
    }
}

fn dns(v: &str) -> CertName {
    CertName {
        field: CertField::Dns,
        value: v.into(),
    }
}

#[test]
fn cert_bindings_match_exactly_and_stop_with_the_identity() {
    let f = Fixture::new();
    let r = f.registry();
    r.create_identity("alice", IdentityKind::Service, vec![], vec![])
        .expect("alice");
    r.create_identity("bob", IdentityKind::Service, vec![], vec![])
        .expect("bob");
    r.bind_cert("alice", CertField::Dns, "alice.svc.internal")
        .expect("bind");
    // Unknown or disabled identity, bad names, a name bound twice.
    assert_eq!(
        code(r.bind_cert("carol", CertField::Cn, "x")),
        "InvalidArgument"
    );
    assert_eq!(
        code(r.bind_cert("bob", CertField::Cn, "")),
        "InvalidArgument"
    );
    assert_eq!(
        code(r.bind_cert("bob", CertField::Cn, " x")),
        "InvalidArgument"
    );
    assert_eq!(
        code(r.bind_cert("bob", CertField::Cn, "a\nb")),
        "InvalidArgument"
    );
    assert_eq!(
        code(r.bind_cert("bob", CertField::Dns, "alice.svc.internal")),
        "Conflict"
    );
    assert_eq!(code(CertField::parse("email")), "InvalidArgument");

    let (p, by) = r
        .authenticate_cert(&[cn("whatever"), dns("alice.svc.internal")])
        .expect("bound");
    assert_eq!(p.id, "alice");
    assert_eq!(by.to_string(), "dns:alice.svc.internal");
    // Exact: another field, another case, a prefix: not the same name.
    for other in [
        cn("alice.svc.internal"),
        dns("Alice.svc.internal"),
        dns("alice.svc.internal."),
        dns("alice.svc"),
    ] {
        let e = r
            .authenticate_cert(std::slice::from_ref(&other))
            .expect_err("unbound");
        assert_eq!(e.code(), "CertificateNotBound", "{other}");
        assert!(e.to_string().contains(&other.to_string()), "{e}");
    }
    // Names bound to two identities: none.
    r.bind_cert("bob", CertField::Cn, "shared")
        .expect("bind bob");
    let e = r
        .authenticate_cert(&[dns("alice.svc.internal"), cn("shared")])
        .expect_err("ambiguous");
    assert!(e.to_string().contains("more than one identity"), "{e}");

    // Survives a reload; a disabled identity's certificate stops working.
    let r2 = f.registry();
    assert_eq!(r2.list_cert_bindings(None).expect("list").len(), 2);
    assert_eq!(r2.list_cert_bindings(Some("bob")).expect("list").len(), 1);
    r2.update_identity("alice", |i| i.disabled = true)
        .expect("disable");
    assert_eq!(
        code(r2.authenticate_cert(&[dns("alice.svc.internal")])),
        "CertificateNotBound"
    );
    // Unbinding stops it too.
    r2.unbind_cert(CertField::Cn, "shared").expect("unbind");
    assert_eq!(
        code(r2.authenticate_cert(&[cn("shared")])),
        "CertificateNotBound"
    );
    assert_eq!(
        code(r2.unbind_cert(CertField::Cn, "shared")),
        "InvalidArgument"
    );
    // Another node sees the unbind through reload_record.
    r.reload_record(KIND_CERT_BINDING, &binding_id(CertField::Cn, "shared"))
        .expect("reload");
    assert_eq!(
        code(r.authenticate_cert(&[cn("shared")])),
        "CertificateNotBound"
    );
}
