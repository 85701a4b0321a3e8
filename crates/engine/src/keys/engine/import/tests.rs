//! BYOK engine tests with a manual clock: parameter expiry, single-use
//! tokens, both wrapping algorithms, re-import of the same material only.

use super::*;

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};

use crate::clock::{Clock, ManualClock};
use crate::crypto::context::EncryptionContext;
use crate::crypto::rng::SystemRng;
use crate::storage::Store;
use crate::testing::TestSeal as Seal;
use strongroom_store_sql::sqlite::SqliteStore;

struct Env {
    clock: Arc<ManualClock>,
    engine: Arc<Engine>,
    _seal: Seal,
}

fn env() -> Env {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("open sqlite"));
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let shared: crate::clock::SharedClock = clock.clone();
    let seal = Seal::open(
        store,
        shared,
        Arc::new(SystemRng),
        super::super::EngineConfig::default(),
    )
    .expect("open seal");
    seal.init_dev(None).expect("init_dev");
    let engine = seal.engine().expect("engine");
    Env {
        clock,
        engine,
        _seal: seal,
    }
}

fn oaep(public_der: &[u8], pt: &[u8]) -> Vec<u8> {
    let k = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).expect("spki"))
        .expect("oaep key");
    let mut out = vec![0u8; k.ciphertext_size()];
    let n = k
        .encrypt(&OAEP_SHA256_MGF1SHA256, pt, &mut out, None)
        .expect("encrypt")
        .len();
    out.truncate(n);
    out
}

fn kwp(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    let aes = [7u8; 32];
    let mut out = oaep(public_der, &aes);
    let kek = AesKek::new(&AES_256, &aes).expect("kek");
    let mut wrapped = vec![0u8; material.len() + 16];
    let n = kek
        .wrap_with_padding(material, &mut wrapped)
        .expect("wrap")
        .len();
    out.extend_from_slice(&wrapped[..n]);
    out
}

fn external(e: &Engine) -> String {
    e.create_external(CreateKey::default())
        .expect("create external")
        .id
}

#[test]
fn import_makes_the_key_usable_and_tokens_are_single_use() {
    let env = env();
    let e = &env.engine;
    let id = external(e);
    let m = e.describe(&id).expect("describe");
    assert_eq!(
        (m.state, m.origin),
        (KeyState::PendingImport, Origin::External)
    );
    let ctx = EncryptionContext::default();
    assert_eq!(
        e.encrypt(&id, b"x", &ctx).err().map(|x| x.code()),
        Some("InvalidKeyState")
    );

    let material = [42u8; 32];
    let p = e
        .parameters_for_import(&id, WrappingAlgorithm::RsaesOaepSha256, KeySpec::Rsa2048)
        .expect("parameters");
    assert_eq!(p.valid_to, env.clock.now() + DAY);
    let wrapped = oaep(&p.public_der, &material);
    let m = e
        .import_key_material(&id, &p.token, &wrapped)
        .expect("import");
    assert_eq!(m.state, KeyState::Enabled);
    let ct = e.encrypt(&id, b"hello", &ctx).expect("encrypt").ciphertext;
    assert_eq!(
        e.decrypt(&ct, &ctx, None)
            .expect("decrypt")
            .plaintext
            .expose(),
        b"hello"
    );

    // The token was used up.
    e.delete_imported_key_material(&id)
        .expect("delete material");
    assert_eq!(
        e.import_key_material(&id, &p.token, &wrapped)
            .err()
            .map(|x| x.code()),
        Some("InvalidImportToken")
    );
    assert_eq!(
        e.decrypt(&ct, &ctx, None).err().map(|x| x.code()),
        Some("InvalidKeyState")
    );

    // Re-import through AES key wrap: only the same material is accepted,
    // and old ciphertexts decrypt again.
    let p = e
        .parameters_for_import(
            &id,
            WrappingAlgorithm::RsaAesKeyWrapSha256,
            KeySpec::Rsa3072,
        )
        .expect("parameters");
    assert_eq!(
        e.import_key_material(&id, &p.token, &kwp(&p.public_der, &[1u8; 32]))
            .err()
            .map(|x| x.code()),
        Some("IncorrectKeyMaterial")
    );
    let p = e
        .parameters_for_import(
            &id,
            WrappingAlgorithm::RsaAesKeyWrapSha256,
            KeySpec::Rsa2048,
        )
        .expect("parameters");
    e.import_key_material(&id, &p.token, &kwp(&p.public_der, &material))
        .expect("re-import");
    assert_eq!(
        e.decrypt(&ct, &ctx, None)
            .expect("decrypt")
            .plaintext
            .expose(),
        b"hello"
    );
}

#[test]
fn expired_parameters_are_refused() {
    let env = env();
    let e = &env.engine;
    let id = external(e);
    let p = e
        .parameters_for_import(&id, WrappingAlgorithm::RsaesOaepSha256, KeySpec::Rsa2048)
        .expect("parameters");
    env.clock.advance(DAY - 1);
    let q = e
        .parameters_for_import(&id, WrappingAlgorithm::RsaesOaepSha256, KeySpec::Rsa2048)
        .expect("parameters");
    env.clock.advance(1);
    assert_eq!(
        e.import_key_material(&id, &p.token, &oaep(&p.public_der, &[3u8; 32]))
            .err()
            .map(|x| x.code()),
        Some("ImportTokenExpired")
    );
    // The second set is still valid for one more second.
    e.import_key_material(&id, &q.token, &oaep(&q.public_der, &[3u8; 32]))
        .expect("import just before expiry");
}

#[test]
fn bad_material_and_foreign_tokens() {
    let env = env();
    let e = &env.engine;
    let a = external(e);
    let b = external(e);
    let p = e
        .parameters_for_import(&a, WrappingAlgorithm::RsaesOaepSha256, KeySpec::Rsa2048)
        .expect("parameters");
    // A token for another key.
    assert_eq!(
        e.import_key_material(&b, &p.token, &oaep(&p.public_der, &[1u8; 32]))
            .err()
            .map(|x| x.code()),
        Some("InvalidImportToken")
    );
    // Tampered wrapped material.
    let mut w = oaep(&p.public_der, &[1u8; 32]);
    w[5] ^= 1;
    assert_eq!(
        e.import_key_material(&a, &p.token, &w)
            .err()
            .map(|x| x.code()),
        Some("InvalidCiphertext")
    );
    // Wrong length.
    let p = e
        .parameters_for_import(&a, WrappingAlgorithm::RsaesOaepSha256, KeySpec::Rsa2048)
        .expect("parameters");
    let err = e
        .import_key_material(&a, &p.token, &oaep(&p.public_der, &[1u8; 16]))
        .expect_err("16 bytes");
    assert!(err.to_string().contains("exactly 32 bytes"), "{err}");
    // Generated keys take no imported material.
    let g = e.create(CreateKey::default()).expect("create").id;
    for r in [
        e.parameters_for_import(&g, WrappingAlgorithm::RsaesOaepSha256, KeySpec::Rsa2048)
            .map(|_| ()),
        e.delete_imported_key_material(&g).map(|_| ()),
    ] {
        assert_eq!(r.err().map(|x| x.code()), Some("InvalidKeyUsage"));
    }
    // Only AES keys can be external.
    let err = e
        .create_external(CreateKey {
            spec: Some("RSA_2048".into()),
            ..CreateKey::default()
        })
        .expect_err("rsa external");
    assert_eq!(err.code(), "InvalidKeyUsage");
    // An imported key cannot be rotated or scheduled.
    assert_eq!(
        e.rotate(&a).err().map(|x| x.code()),
        Some("InvalidKeyState")
    );
}

#[test]
fn cancelled_deletion_of_a_key_without_material_returns_to_pending_import() {
    let env = env();
    let e = &env.engine;
    let id = external(e);
    e.schedule_deletion(&id, Some(7)).expect("schedule");
    let m = e.cancel_deletion(&id).expect("cancel");
    assert_eq!(m.state, KeyState::PendingImport);
}

#[test]
fn ml_dsa_private_keys_import_from_pkcs8_or_seed() {
    use crate::crypto::spec::MessageType;
    use aws_lc_rs::signature::{
        KeyPair as _, PqdsaKeyPair, UnparsedPublicKey, ML_DSA_65, ML_DSA_65_SIGNING,
    };
    let env = env();
    let e = &env.engine;
    let mldsa = |e: &Engine| {
        e.create_external(CreateKey {
            spec: Some("ML_DSA_65".into()),
            ..CreateKey::default()
        })
        .expect("create external ML-DSA")
    };
    // The caller's key pair, made outside Strongroom from a known seed.
    let seed = [0x2au8; 32];
    let theirs = PqdsaKeyPair::from_seed(&ML_DSA_65_SIGNING, &seed).expect("from seed");
    let their_pkcs8 = theirs.to_pkcs8v1().expect("pkcs8");
    for (how, material, algorithm) in [
        ("seed", seed.to_vec(), WrappingAlgorithm::RsaesOaepSha256),
        (
            "pkcs8",
            their_pkcs8.as_ref().to_vec(),
            WrappingAlgorithm::RsaAesKeyWrapSha256,
        ),
    ] {
        let m = mldsa(e);
        assert_eq!(
            (m.usage, m.state),
            (KeyUsage::SignVerify, KeyState::PendingImport)
        );
        let p = e
            .parameters_for_import(&m.id, algorithm, KeySpec::Rsa3072)
            .expect("parameters");
        let wrapped = match algorithm {
            WrappingAlgorithm::RsaesOaepSha256 => oaep(&p.public_der, &material),
            WrappingAlgorithm::RsaAesKeyWrapSha256 => kwp(&p.public_der, &material),
        };
        let m = e
            .import_key_material(&m.id, &p.token, &wrapped)
            .expect("import");
        assert_eq!(m.state, KeyState::Enabled, "{how}");
        // The server now signs with the caller's key.
        let (sig, _, _, _) = e
            .sign(&m.id, b"imported", MessageType::Raw, None)
            .expect("sign");
        UnparsedPublicKey::new(&ML_DSA_65, theirs.public_key().as_ref())
            .verify(b"imported", &sig)
            .expect("their public key verifies the server's signature");
        // Delete and re-import: the seed and the PKCS#8 are the same key.
        e.delete_imported_key_material(&m.id).expect("delete");
        let p = e
            .parameters_for_import(
                &m.id,
                WrappingAlgorithm::RsaAesKeyWrapSha256,
                KeySpec::Rsa2048,
            )
            .expect("parameters");
        let other = if how == "seed" {
            their_pkcs8.as_ref().to_vec()
        } else {
            seed.to_vec()
        };
        e.import_key_material(&m.id, &p.token, &kwp(&p.public_der, &other))
            .expect("re-import the same key in the other form");
        // Another key is refused.
        e.delete_imported_key_material(&m.id).expect("delete");
        let p = e
            .parameters_for_import(&m.id, WrappingAlgorithm::RsaesOaepSha256, KeySpec::Rsa2048)
            .expect("parameters");
        let err = e
            .import_key_material(&m.id, &p.token, &oaep(&p.public_der, &[0x2bu8; 32]))
            .expect_err("different key");
        assert_eq!(err.code(), "IncorrectKeyMaterial", "{how}");
    }
    // Garbage, an ML-DSA-44 key and an AES key are refused with a clear error.
    let other44 = PqdsaKeyPair::from_seed(&aws_lc_rs::signature::ML_DSA_44_SIGNING, &seed)
        .expect("44")
        .to_pkcs8v1()
        .expect("pkcs8");
    for bad in [vec![1u8; 31], vec![1u8; 40], other44.as_ref().to_vec()] {
        let m = mldsa(e);
        let p = e
            .parameters_for_import(
                &m.id,
                WrappingAlgorithm::RsaAesKeyWrapSha256,
                KeySpec::Rsa2048,
            )
            .expect("parameters");
        let err = e
            .import_key_material(&m.id, &p.token, &kwp(&p.public_der, &bad))
            .expect_err("bad ML-DSA material");
        assert_eq!(err.code(), "InvalidArgument");
        assert!(err.to_string().contains("ML_DSA_65"), "{err}");
        assert_eq!(e.describe(&m.id).expect("d").state, KeyState::PendingImport);
    }
    // ML-KEM and other asymmetric keys cannot be imported.
    for spec in ["ML_KEM_768", "ECC_NIST_P256"] {
        let err = e
            .create_external(CreateKey {
                spec: Some(spec.into()),
                ..CreateKey::default()
            })
            .expect_err("not importable");
        assert_eq!(err.code(), "InvalidKeyUsage", "{spec}");
    }
}
