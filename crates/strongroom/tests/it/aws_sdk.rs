//! The AWS KMS front-end (`POST /`, JSON 1.1, SigV4; docs/AWS.md) driven
//! through the official AWS SDK for Rust (`aws-sdk-kms`) against a real
//! `strongroom server --dev`. Credentials come from the identity registry
//! (`POST /v1/access-keys`), so every call goes through SigV4 verification,
//! the access-key lookup and the policy guard; one test covers
//! `--dev-aws-credentials`. Signatures and public-key encryption are
//! cross-checked locally with aws-lc-rs on the `GetPublicKey` output.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_lc_rs::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256,
};
use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_kms::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeySpec, EncryptionAlgorithmSpec, GrantOperation, KeySpec, KeyState, KeyUsageType,
    MacAlgorithmSpec, MessageType, SigningAlgorithmSpec, Tag,
};
use aws_sdk_kms::Client;
use aws_smithy_async::time::StaticTimeSource;
use serde_json::{json, Value};
use strongroom_testkit::{Server, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_strongroom");
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// SDK configuration for `addr` with these credentials, built as an
/// application would (endpoint URL, region, static credentials).
fn kms_config(addr: &str, akid: &str, secret: &str) -> aws_sdk_kms::config::Builder {
    aws_sdk_kms::Config::builder()
        .endpoint_url(addr)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(akid, secret, None, None, "test"))
        .behavior_version(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
}

fn kms(addr: &str, akid: &str, secret: &str) -> Client {
    Client::from_conf(kms_config(addr, akid, secret).build())
}

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

fn alias_arn(alias: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:{alias}")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn assert_uuid(id: &str) {
    let ok = id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
    assert!(ok, "key id {id:?} is not a lowercase hyphenated UUID");
}

fn ctx(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// The (code, message, HTTP status) of a failed call; panics on success.
fn aws_error<T: Debug, E: ProvideErrorMetadata + std::error::Error + 'static>(
    r: Result<T, SdkError<E>>,
) -> (String, String, u16) {
    match r {
        Ok(v) => panic!("expected an AWS error, got success: {v:?}"),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            let code = e.code().map(str::to_string).unwrap_or_else(|| {
                panic!(
                    "error without an AWS error code: {}",
                    DisplayErrorContext(&e)
                )
            });
            let message = e.message().unwrap_or_default().to_string();
            (code, message, status)
        }
    }
}

/// Asserts a call failed with this AWS error code and a 4xx status, and
/// returns the message.
#[track_caller]
fn expect_code<T: Debug, E: ProvideErrorMetadata + std::error::Error + 'static>(
    r: Result<T, SdkError<E>>,
    want: &str,
) -> String {
    let (code, message, status) = aws_error(r);
    assert_eq!(code, want, "wrong error code (HTTP {status}): {message}");
    assert!(
        (400..500).contains(&status),
        "{code} came with HTTP {status}, not a 4xx: {message}"
    );
    message
}

#[track_caller]
fn ok2xx(what: &str, (status, v): (u16, Value)) -> Value {
    assert!((200..300).contains(&status), "{what}: HTTP {status}: {v}");
    v
}

/// A new access key for an identity, via the native API with the root token.
fn access_key(s: &Server, identity: &str) -> (String, String) {
    let v = ok2xx(
        "create access key",
        s.post("/v1/access-keys", &json!({ "identity": identity })),
    );
    let akid = v["access_key_id"].as_str().expect("access_key_id");
    let secret = v["secret_access_key"].as_str().expect("secret_access_key");
    assert!(!akid.is_empty() && secret.len() >= 20, "{v}");
    (akid.to_string(), secret.to_string())
}

/// An identity with `roles` and one attached policy allowing `actions` on
/// every resource, and an access key for it.
fn identity(s: &Server, name: &str, roles: &[&str], actions: &[&str]) -> (String, String) {
    let policy = format!("{name}-policy");
    ok2xx(
        "create policy",
        s.post(
            "/v1/policies",
            &json!({
                "name": policy,
                "statements": [{ "effect": "Allow", "actions": actions, "resources": ["*"] }]
            }),
        ),
    );
    ok2xx(
        "create identity",
        s.post(
            "/v1/identities",
            &json!({ "name": name, "roles": roles, "policies": [policy] }),
        ),
    );
    access_key(s, name)
}

/// A dev server and an SDK client acting as identity `app`, which holds no
/// role and a policy allowing `kms:*` on `*`.
struct Env {
    _server: Server,
    kms: Client,
}

fn app_env() -> Env {
    let server = Server::dev(BIN);
    let (akid, secret) = identity(&server, "app", &[], &["kms:*"]);
    let kms = kms(&server.addr, &akid, &secret);
    Env {
        _server: server,
        kms,
    }
}

async fn create_key(kms: &Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let meta = kms
        .create_key()
        .key_spec(spec.clone())
        .key_usage(usage.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {spec:?}: {}", DisplayErrorContext(&e)))
        .key_metadata
        .expect("KeyMetadata");
    assert_eq!(meta.key_spec(), Some(&spec));
    assert_eq!(meta.key_usage(), Some(&usage));
    meta.key_id().to_string()
}

async fn create_symmetric(kms: &Client) -> String {
    create_key(kms, KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt).await
}

async fn key_state(kms: &Client, key: &str) -> (KeyState, bool, Option<i64>) {
    let m = kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("KeyMetadata");
    (
        m.key_state().expect("KeyState").clone(),
        m.enabled(),
        m.deletion_date().map(|d| d.secs()),
    )
}

async fn encrypt(kms: &Client, key: &str, pt: &[u8], c: &HashMap<String, String>) -> Blob {
    kms.encrypt()
        .key_id(key)
        .plaintext(Blob::new(pt))
        .set_encryption_context(Some(c.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Encrypt with {key}: {}", DisplayErrorContext(&e)))
        .ciphertext_blob
        .expect("CiphertextBlob")
}

async fn decrypt(kms: &Client, ct: &Blob, c: &HashMap<String, String>) -> (Vec<u8>, String) {
    let out = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .set_encryption_context(Some(c.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Decrypt: {}", DisplayErrorContext(&e)));
    (
        out.plaintext().expect("Plaintext").as_ref().to_vec(),
        out.key_id().expect("KeyId").to_string(),
    )
}

#[track_caller]
fn verify_locally(alg: &'static dyn VerificationAlgorithm, der: &[u8], msg: &[u8], sig: &[u8]) {
    UnparsedPublicKey::new(alg, der)
        .verify(msg, sig)
        .unwrap_or_else(|_| panic!("aws-lc-rs rejects Strongroom's signature ({alg:?})"));
}

// ---------------------------------------------------------------------------
// 1. Symmetric keys: round trips
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn create_describe_and_encrypt_decrypt_with_context() {
    let env = app_env();
    let kms = &env.kms;
    let before = now_secs();
    let meta = kms
        .create_key()
        .description("orders data key")
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("KeyMetadata");
    let id = meta.key_id().to_string();
    assert_uuid(&id);
    let arn = key_arn(&id);
    assert_eq!(meta.arn(), Some(arn.as_str()));
    assert_eq!(meta.aws_account_id(), Some(ACCOUNT));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert!(meta.enabled());
    assert_eq!(meta.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(meta.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(meta.description(), Some("orders data key"));
    assert_eq!(
        meta.encryption_algorithms(),
        &[EncryptionAlgorithmSpec::SymmetricDefault]
    );
    assert_eq!(meta.deletion_date(), None);
    let created = meta.creation_date().expect("CreationDate").secs();
    assert!(
        (before - 5..=now_secs() + 5).contains(&created),
        "CreationDate {created} is not epoch seconds of now ({before})"
    );

    // DescribeKey by key id and by key ARN.
    for k in [&id, &arn] {
        let d = kms
            .describe_key()
            .key_id(k)
            .send()
            .await
            .expect("DescribeKey")
            .key_metadata
            .expect("KeyMetadata");
        assert_eq!(d.key_id(), id);
        assert_eq!(d.arn(), Some(arn.as_str()));
        assert_eq!(d.key_state(), Some(&KeyState::Enabled));
        assert_eq!(d.key_spec(), Some(&KeySpec::SymmetricDefault));
        assert_eq!(d.description(), Some("orders data key"));
    }

    // Encrypt with a context; Decrypt without a KeyId.
    let c = ctx(&[("app", "orders"), ("tenant", "t-42")]);
    let pt = b"attack at dawn";
    let enc = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(&pt[..]))
        .encryption_context("app", "orders")
        .encryption_context("tenant", "t-42")
        .send()
        .await
        .expect("Encrypt");
    assert_eq!(enc.key_id(), Some(arn.as_str()));
    assert_eq!(
        enc.encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    let ct = enc.ciphertext_blob().expect("CiphertextBlob").clone();
    assert!(ct.as_ref().len() > pt.len());
    assert!(!ct.as_ref().windows(pt.len()).any(|w| w == pt));
    let (out, key) = decrypt(kms, &ct, &c).await;
    assert_eq!(out, pt);
    assert_eq!(key, arn);

    // Decrypt with the KeyId (id or ARN) and the algorithm spelled out.
    for k in [&id, &arn] {
        let d = kms
            .decrypt()
            .key_id(k)
            .ciphertext_blob(ct.clone())
            .set_encryption_context(Some(c.clone()))
            .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
            .send()
            .await
            .expect("Decrypt with KeyId");
        assert_eq!(d.plaintext().expect("Plaintext").as_ref(), pt);
        assert_eq!(
            d.encryption_algorithm(),
            Some(&EncryptionAlgorithmSpec::SymmetricDefault)
        );
    }

    // The exact context is needed: missing, partial, different value,
    // extra entry, different key case.
    let wrong_contexts = [
        ctx(&[]),
        ctx(&[("app", "orders")]),
        ctx(&[("app", "orders"), ("tenant", "t-43")]),
        ctx(&[("app", "orders"), ("tenant", "t-42"), ("x", "y")]),
        ctx(&[("App", "orders"), ("tenant", "t-42")]),
    ];
    for wc in wrong_contexts {
        let r = kms
            .decrypt()
            .ciphertext_blob(ct.clone())
            .set_encryption_context(Some(wc.clone()))
            .send()
            .await;
        expect_code(r, "InvalidCiphertextException");
    }
    let r = kms.decrypt().ciphertext_blob(ct.clone()).send().await;
    expect_code(r, "InvalidCiphertextException");

    // A flipped byte in the ciphertext.
    let mut bad = ct.as_ref().to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let r = kms
        .decrypt()
        .ciphertext_blob(Blob::new(bad))
        .set_encryption_context(Some(c.clone()))
        .send()
        .await;
    expect_code(r, "InvalidCiphertextException");

    // Decrypt naming another key: IncorrectKeyException, as AWS documents.
    let other = create_symmetric(kms).await;
    let r = kms
        .decrypt()
        .key_id(&other)
        .ciphertext_blob(ct.clone())
        .set_encryption_context(Some(c.clone()))
        .send()
        .await;
    expect_code(r, "IncorrectKeyException");

    // Plaintext limit: 4096 bytes.
    let big = vec![7u8; 4096];
    let ct_big = encrypt(kms, &id, &big, &c).await;
    assert_eq!(decrypt(kms, &ct_big, &c).await.0, big);
    let r = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(vec![7u8; 4097]))
        .send()
        .await;
    expect_code(r, "ValidationException");
}

#[tokio::test(flavor = "multi_thread")]
async fn reencrypt_data_keys_and_random() {
    let env = app_env();
    let kms = &env.kms;
    let k1 = create_symmetric(kms).await;
    let k2 = create_symmetric(kms).await;
    let c1 = ctx(&[("purpose", "source")]);
    let c2 = ctx(&[("purpose", "destination")]);
    let pt = b"re-encrypt me";
    let ct1 = encrypt(kms, &k1, pt, &c1).await;

    // ReEncrypt to a second key, with a new context.
    let re = kms
        .re_encrypt()
        .ciphertext_blob(ct1.clone())
        .set_source_encryption_context(Some(c1.clone()))
        .destination_key_id(&k2)
        .set_destination_encryption_context(Some(c2.clone()))
        .send()
        .await
        .expect("ReEncrypt");
    assert_eq!(re.source_key_id(), Some(key_arn(&k1).as_str()));
    assert_eq!(re.key_id(), Some(key_arn(&k2).as_str()));
    let ct2 = re.ciphertext_blob().expect("CiphertextBlob").clone();
    assert_ne!(ct1.as_ref(), ct2.as_ref());
    let (out, key) = decrypt(kms, &ct2, &c2).await;
    assert_eq!(out, pt);
    assert_eq!(key, key_arn(&k2));
    // The new ciphertext is bound to the destination context only.
    let r = kms
        .decrypt()
        .ciphertext_blob(ct2.clone())
        .set_encryption_context(Some(c1.clone()))
        .send()
        .await;
    expect_code(r, "InvalidCiphertextException");
    // ReEncrypt with the wrong source context fails, and so does a wrong
    // SourceKeyId.
    let r = kms
        .re_encrypt()
        .ciphertext_blob(ct1.clone())
        .set_source_encryption_context(Some(c2.clone()))
        .destination_key_id(&k2)
        .send()
        .await;
    expect_code(r, "InvalidCiphertextException");
    let r = kms
        .re_encrypt()
        .ciphertext_blob(ct1.clone())
        .source_key_id(&k2)
        .set_source_encryption_context(Some(c1.clone()))
        .destination_key_id(&k2)
        .send()
        .await;
    expect_code(r, "IncorrectKeyException");

    // GenerateDataKey AES_256: 32 bytes; its CiphertextBlob decrypts to the
    // same plaintext, under the same context only.
    let dk_ctx = ctx(&[("bucket", "invoices")]);
    let dk = kms
        .generate_data_key()
        .key_id(&k1)
        .key_spec(DataKeySpec::Aes256)
        .set_encryption_context(Some(dk_ctx.clone()))
        .send()
        .await
        .expect("GenerateDataKey");
    assert_eq!(dk.key_id(), Some(key_arn(&k1).as_str()));
    let dk_pt = dk.plaintext().expect("Plaintext").as_ref().to_vec();
    assert_eq!(dk_pt.len(), 32);
    assert_ne!(dk_pt, vec![0u8; 32]);
    let dk_ct = dk.ciphertext_blob().expect("CiphertextBlob").clone();
    let (out, key) = decrypt(kms, &dk_ct, &dk_ctx).await;
    assert_eq!(out, dk_pt);
    assert_eq!(key, key_arn(&k1));
    let r = kms.decrypt().ciphertext_blob(dk_ct.clone()).send().await;
    expect_code(r, "InvalidCiphertextException");

    // AES_128 and NumberOfBytes.
    for (spec, n) in [(Some(DataKeySpec::Aes128), 16), (None, 64)] {
        let mut req = kms.generate_data_key().key_id(&k1);
        req = match spec {
            Some(s) => req.key_spec(s),
            None => req.number_of_bytes(n as i32),
        };
        let dk = req.send().await.expect("GenerateDataKey");
        let p = dk.plaintext().expect("Plaintext").as_ref().to_vec();
        assert_eq!(p.len(), n);
        let ct = dk.ciphertext_blob().expect("CiphertextBlob").clone();
        assert_eq!(decrypt(kms, &ct, &ctx(&[])).await.0, p);
    }
    // NumberOfBytes outside 1..=1024; both KeySpec and NumberOfBytes.
    for n in [0, 1025] {
        let r = kms
            .generate_data_key()
            .key_id(&k1)
            .number_of_bytes(n)
            .send()
            .await;
        expect_code(r, "ValidationException");
    }
    let r = kms
        .generate_data_key()
        .key_id(&k1)
        .key_spec(DataKeySpec::Aes256)
        .number_of_bytes(32)
        .send()
        .await;
    expect_code(r, "ValidationException");

    // GenerateDataKeyWithoutPlaintext: no plaintext in the answer, but the
    // blob decrypts to a 32-byte key.
    let w = kms
        .generate_data_key_without_plaintext()
        .key_id(&k2)
        .key_spec(DataKeySpec::Aes256)
        .set_encryption_context(Some(dk_ctx.clone()))
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    assert_eq!(w.key_id(), Some(key_arn(&k2).as_str()));
    let w_ct = w.ciphertext_blob().expect("CiphertextBlob").clone();
    let (out, key) = decrypt(kms, &w_ct, &dk_ctx).await;
    assert_eq!(out.len(), 32);
    assert_eq!(key, key_arn(&k2));

    // GenerateRandom.
    let mut seen = BTreeSet::new();
    for _ in 0..2 {
        let r = kms
            .generate_random()
            .number_of_bytes(32)
            .send()
            .await
            .expect("GenerateRandom");
        let p = r.plaintext().expect("Plaintext").as_ref().to_vec();
        assert_eq!(p.len(), 32);
        assert!(seen.insert(p), "GenerateRandom repeated itself");
    }
    let r = kms
        .generate_random()
        .number_of_bytes(1024)
        .send()
        .await
        .expect("GenerateRandom 1024");
    assert_eq!(r.plaintext().expect("Plaintext").as_ref().len(), 1024);
    for n in [0, 1025] {
        let r = kms.generate_random().number_of_bytes(n).send().await;
        expect_code(r, "ValidationException");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_name_keys_everywhere_a_key_id_goes() {
    let env = app_env();
    let kms = &env.kms;
    let k1 = create_symmetric(kms).await;
    let k2 = create_symmetric(kms).await;
    let alias = "alias/orders";

    kms.create_alias()
        .alias_name(alias)
        .target_key_id(&k1)
        .send()
        .await
        .expect("CreateAlias");
    // TargetKeyId may also be a key ARN.
    kms.create_alias()
        .alias_name("alias/by-arn")
        .target_key_id(key_arn(&k2))
        .send()
        .await
        .expect("CreateAlias with a key ARN");

    let all = kms.list_aliases().send().await.expect("ListAliases");
    let entry = all
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some(alias))
        .unwrap_or_else(|| panic!("{alias} missing from {:?}", all.aliases()));
    assert_eq!(entry.alias_arn(), Some(alias_arn(alias).as_str()));
    assert_eq!(entry.target_key_id(), Some(k1.as_str()));
    assert!(all
        .aliases()
        .iter()
        .any(|a| a.alias_name() == Some("alias/by-arn") && a.target_key_id() == Some(&k2)));
    // Filtered by key.
    let only = kms
        .list_aliases()
        .key_id(&k1)
        .send()
        .await
        .expect("ListAliases KeyId");
    let names: Vec<_> = only
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert_eq!(names, [alias]);

    // alias/NAME and the alias ARN work as KeyId.
    let c = ctx(&[("k", "v")]);
    for key in [alias.to_string(), alias_arn(alias)] {
        let d = kms
            .describe_key()
            .key_id(&key)
            .send()
            .await
            .expect("DescribeKey by alias")
            .key_metadata
            .expect("KeyMetadata");
        assert_eq!(d.key_id(), k1, "DescribeKey {key}");
        let enc = kms
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(&b"via alias"[..]))
            .set_encryption_context(Some(c.clone()))
            .send()
            .await
            .expect("Encrypt by alias");
        assert_eq!(enc.key_id(), Some(key_arn(&k1).as_str()), "{key}");
        let (pt, kid) = decrypt(kms, enc.ciphertext_blob().expect("blob"), &c).await;
        assert_eq!(pt, b"via alias");
        assert_eq!(kid, key_arn(&k1));
    }

    // Alias names start with `alias/`.
    let r = kms
        .create_alias()
        .alias_name("orders-without-prefix")
        .target_key_id(&k2)
        .send()
        .await;
    expect_code(r, "ValidationException");

    // A second alias with the same name is refused.
    let r = kms
        .create_alias()
        .alias_name(alias)
        .target_key_id(&k2)
        .send()
        .await;
    expect_code(r, "AlreadyExistsException");

    // UpdateAlias moves it; old ciphertexts still decrypt with k1.
    let old_ct = encrypt(kms, alias, b"old", &c).await;
    kms.update_alias()
        .alias_name(alias)
        .target_key_id(&k2)
        .send()
        .await
        .expect("UpdateAlias");
    assert_eq!(key_state(kms, alias).await.0, KeyState::Enabled);
    let d = kms
        .describe_key()
        .key_id(alias)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("KeyMetadata");
    assert_eq!(d.key_id(), k2);
    let new_ct = encrypt(kms, alias, b"new", &c).await;
    assert_eq!(decrypt(kms, &new_ct, &c).await.1, key_arn(&k2));
    assert_eq!(
        decrypt(kms, &old_ct, &c).await,
        (b"old".to_vec(), key_arn(&k1))
    );

    // DeleteAlias: the name is gone, the key is not.
    kms.delete_alias()
        .alias_name(alias)
        .send()
        .await
        .expect("DeleteAlias");
    let r = kms.describe_key().key_id(alias).send().await;
    expect_code(r, "NotFoundException");
    let r = kms
        .encrypt()
        .key_id(alias)
        .plaintext(Blob::new(&b"x"[..]))
        .send()
        .await;
    expect_code(r, "NotFoundException");
    let left = kms.list_aliases().send().await.expect("ListAliases");
    assert!(!left.aliases().iter().any(|a| a.alias_name() == Some(alias)));
    assert_eq!(key_state(kms, &k2).await.0, KeyState::Enabled);
    let r = kms.delete_alias().alias_name(alias).send().await;
    expect_code(r, "NotFoundException");
}

/// UpdateAlias to a key that does not exist must fail without touching the
/// alias (AWS: NotFoundException, alias unchanged).
#[tokio::test(flavor = "multi_thread")]
async fn failed_update_alias_leaves_the_alias_in_place() {
    let env = app_env();
    let kms = &env.kms;
    let k1 = create_symmetric(kms).await;
    kms.create_alias()
        .alias_name("alias/stable")
        .target_key_id(&k1)
        .send()
        .await
        .expect("CreateAlias");
    let r = kms
        .update_alias()
        .alias_name("alias/stable")
        .target_key_id("6f1f0f4e-0000-4000-8000-000000000000")
        .send()
        .await;
    expect_code(r, "NotFoundException");
    let d = kms
        .describe_key()
        .key_id("alias/stable")
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "alias/stable vanished after a failed UpdateAlias: {}",
                DisplayErrorContext(&e)
            )
        })
        .key_metadata
        .expect("KeyMetadata");
    assert_eq!(d.key_id(), k1);
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_and_description() {
    let env = app_env();
    let kms = &env.kms;
    let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().expect("Tag");
    let meta = kms
        .create_key()
        .description("before")
        .tags(tag("env", "dev"))
        .send()
        .await
        .expect("CreateKey with tags")
        .key_metadata
        .expect("KeyMetadata");
    let id = meta.key_id().to_string();
    let tags = |kms: Client, id: String| async move {
        let out = kms
            .list_resource_tags()
            .key_id(id)
            .send()
            .await
            .expect("ListResourceTags");
        assert!(!out.truncated());
        out.tags()
            .iter()
            .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    let want = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(tags(kms.clone(), id.clone()).await, want(&[("env", "dev")]));

    kms.tag_resource()
        .key_id(&id)
        .tags(tag("env", "prod"))
        .tags(tag("team", "payments"))
        .send()
        .await
        .expect("TagResource");
    assert_eq!(
        tags(kms.clone(), id.clone()).await,
        want(&[("env", "prod"), ("team", "payments")])
    );
    // By ARN too.
    kms.untag_resource()
        .key_id(key_arn(&id))
        .tag_keys("env")
        .send()
        .await
        .expect("UntagResource");
    assert_eq!(
        tags(kms.clone(), id.clone()).await,
        want(&[("team", "payments")])
    );

    kms.update_key_description()
        .key_id(&id)
        .description("after")
        .send()
        .await
        .expect("UpdateKeyDescription");
    let d = kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("KeyMetadata");
    assert_eq!(d.description(), Some("after"));

    let missing = "6f1f0f4e-0000-4000-8000-000000000001";
    let r = kms
        .tag_resource()
        .key_id(missing)
        .tags(tag("a", "b"))
        .send()
        .await;
    expect_code(r, "NotFoundException");
    let r = kms.list_resource_tags().key_id(missing).send().await;
    expect_code(r, "NotFoundException");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_keys_pages_with_limit_and_marker() {
    let env = app_env();
    let kms = &env.kms;
    let mut created = BTreeSet::new();
    for _ in 0..5 {
        created.insert(create_symmetric(kms).await);
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 20, "ListKeys never stops paging");
        let out = kms
            .list_keys()
            .limit(2)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListKeys");
        assert!(out.keys().len() <= 2, "Limit 2 gave {}", out.keys().len());
        for k in out.keys() {
            let id = k.key_id().expect("KeyId").to_string();
            assert_eq!(k.key_arn(), Some(key_arn(&id).as_str()));
            seen.push(id);
        }
        if out.truncated() {
            let next = out.next_marker().expect("Truncated without NextMarker");
            assert!(!next.is_empty());
            marker = Some(next.to_string());
        } else {
            assert_eq!(out.next_marker(), None);
            break;
        }
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a key was listed twice: {seen:?}");
    assert!(
        created.is_subset(&unique),
        "missing keys: {:?}",
        created.difference(&unique).collect::<Vec<_>>()
    );
    assert!(pages >= 3, "5 keys in pages of 2 took {pages} page(s)");

    // Without a limit, one page holds them all.
    let all = kms.list_keys().send().await.expect("ListKeys");
    assert!(!all.truncated());
    let ids: BTreeSet<_> = all
        .keys()
        .iter()
        .filter_map(|k| k.key_id().map(str::to_string))
        .collect();
    assert_eq!(ids, unique);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_on_demand_keeps_old_ciphertexts_decryptable() {
    let env = app_env();
    let kms = &env.kms;
    let id = create_symmetric(kms).await;
    let c = ctx(&[("gen", "1")]);
    let old = encrypt(kms, &id, b"before rotation", &c).await;
    let r = kms
        .rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    assert!(
        r.key_id().is_some_and(|k| k.ends_with(&id)),
        "RotateKeyOnDemand KeyId {:?}",
        r.key_id()
    );
    let new = encrypt(kms, &id, b"after rotation", &c).await;
    assert_eq!(
        decrypt(kms, &old, &c).await,
        (b"before rotation".to_vec(), key_arn(&id))
    );
    assert_eq!(
        decrypt(kms, &new, &c).await,
        (b"after rotation".to_vec(), key_arn(&id))
    );
    // A second rotation: both generations still decrypt.
    kms.rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .expect("RotateKeyOnDemand again");
    assert_eq!(decrypt(kms, &old, &c).await.0, b"before rotation");
    assert_eq!(decrypt(kms, &new, &c).await.0, b"after rotation");
}

// ---------------------------------------------------------------------------
// 2. Asymmetric and HMAC keys
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn ecdsa_p256_sign_verify_and_public_key() {
    let env = app_env();
    let kms = &env.kms;
    let id = create_key(kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let d = kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("KeyMetadata");
    assert_eq!(d.signing_algorithms(), &[SigningAlgorithmSpec::EcdsaSha256]);

    let msg = b"pay 100 EUR to Alice".to_vec();
    let raw = kms
        .sign()
        .key_id(&id)
        .message(Blob::new(msg.clone()))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("Sign RAW");
    assert_eq!(raw.key_id(), Some(key_arn(&id).as_str()));
    assert_eq!(
        raw.signing_algorithm(),
        Some(&SigningAlgorithmSpec::EcdsaSha256)
    );
    let sig_raw = raw.signature().expect("Signature").as_ref().to_vec();

    // DIGEST: Strongroom signs the given SHA-256 digest without hashing it
    // again, so the signature verifies as a signature over the message.
    let dig = kms
        .sign()
        .key_id(&id)
        .message(Blob::new(sha256(&msg)))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("Sign DIGEST");
    let sig_dig = dig.signature().expect("Signature").as_ref().to_vec();

    for sig in [&sig_raw, &sig_dig] {
        for (mt, m) in [
            (MessageType::Raw, msg.clone()),
            (MessageType::Digest, sha256(&msg)),
        ] {
            let v = kms
                .verify()
                .key_id(&id)
                .message(Blob::new(m))
                .message_type(mt.clone())
                .signature(Blob::new(sig.clone()))
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await
                .unwrap_or_else(|e| panic!("Verify {mt:?}: {}", DisplayErrorContext(&e)));
            assert!(v.signature_valid());
            assert_eq!(v.key_id(), Some(key_arn(&id).as_str()));
        }
    }

    // A wrong message or a damaged signature: KMSInvalidSignatureException.
    let r = kms
        .verify()
        .key_id(&id)
        .message(Blob::new(&b"pay 900 EUR to Mallory"[..]))
        .message_type(MessageType::Raw)
        .signature(Blob::new(sig_raw.clone()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await;
    expect_code(r, "KMSInvalidSignatureException");
    let mut damaged = sig_raw.clone();
    let n = damaged.len();
    damaged[n - 2] ^= 0x40;
    let r = kms
        .verify()
        .key_id(&id)
        .message(Blob::new(msg.clone()))
        .signature(Blob::new(damaged))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await;
    expect_code(r, "KMSInvalidSignatureException");

    // GetPublicKey: DER SubjectPublicKeyInfo that aws-lc-rs accepts.
    let pk = kms
        .get_public_key()
        .key_id(&id)
        .send()
        .await
        .expect("GetPublicKey");
    assert_eq!(pk.key_id(), Some(key_arn(&id).as_str()));
    assert_eq!(pk.key_spec(), Some(&KeySpec::EccNistP256));
    assert_eq!(pk.key_usage(), Some(&KeyUsageType::SignVerify));
    assert_eq!(
        pk.signing_algorithms(),
        &[SigningAlgorithmSpec::EcdsaSha256]
    );
    let der = pk.public_key().expect("PublicKey").as_ref().to_vec();
    assert_eq!(der[0], 0x30, "PublicKey is not DER");
    verify_locally(&ECDSA_P256_SHA256_ASN1, &der, &msg, &sig_raw);
    verify_locally(&ECDSA_P256_SHA256_ASN1, &der, &msg, &sig_dig);
    assert!(UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &der)
        .verify(b"something else", &sig_raw)
        .is_err());

    // A signing key cannot encrypt.
    let r = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(&b"x"[..]))
        .send()
        .await;
    expect_code(r, "InvalidKeyUsageException");
    // A DIGEST that is not a SHA-256 digest.
    let r = kms
        .sign()
        .key_id(&id)
        .message(Blob::new(vec![1u8; 31]))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await;
    expect_code(r, "ValidationException");
    // A symmetric key cannot sign.
    let sym = create_symmetric(kms).await;
    let r = kms
        .sign()
        .key_id(&sym)
        .message(Blob::new(msg.clone()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await;
    expect_code(r, "InvalidKeyUsageException");
}

#[tokio::test(flavor = "multi_thread")]
async fn rsa_signatures_verify_locally() {
    let env = app_env();
    let kms = &env.kms;
    let id = create_key(kms, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let der = kms
        .get_public_key()
        .key_id(&id)
        .send()
        .await
        .expect("GetPublicKey")
        .public_key
        .expect("PublicKey")
        .into_inner();
    let msg = b"release 2.0.0 artifacts".to_vec();
    let cases: [(SigningAlgorithmSpec, &'static dyn VerificationAlgorithm); 2] = [
        (
            SigningAlgorithmSpec::RsassaPssSha256,
            &RSA_PSS_2048_8192_SHA256,
        ),
        (
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
            &RSA_PKCS1_2048_8192_SHA256,
        ),
    ];
    for (alg, local) in cases {
        for (mt, m) in [
            (MessageType::Raw, msg.clone()),
            (MessageType::Digest, sha256(&msg)),
        ] {
            let sig = kms
                .sign()
                .key_id(&id)
                .message(Blob::new(m.clone()))
                .message_type(mt.clone())
                .signing_algorithm(alg.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("Sign {alg:?} {mt:?}: {}", DisplayErrorContext(&e)))
                .signature
                .expect("Signature")
                .into_inner();
            assert_eq!(sig.len(), 256);
            // aws-lc-rs's PSS verifier requires salt length = digest length,
            // as AWS KMS documents.
            verify_locally(local, &der, &msg, &sig);
            let v = kms
                .verify()
                .key_id(&id)
                .message(Blob::new(m))
                .message_type(mt)
                .signature(Blob::new(sig))
                .signing_algorithm(alg.clone())
                .send()
                .await
                .expect("Verify");
            assert!(v.signature_valid());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rsa_oaep_encrypt_decrypt() {
    let env = app_env();
    let kms = &env.kms;
    let id = create_key(kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let d = kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("KeyMetadata");
    assert!(d
        .encryption_algorithms()
        .contains(&EncryptionAlgorithmSpec::RsaesOaepSha256));

    let pt = b"a small secret".to_vec();
    let enc = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(pt.clone()))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("Encrypt RSAES_OAEP_SHA_256");
    assert_eq!(
        enc.encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::RsaesOaepSha256)
    );
    let ct = enc.ciphertext_blob().expect("CiphertextBlob").clone();
    let dec = kms
        .decrypt()
        .key_id(&id)
        .ciphertext_blob(ct.clone())
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("Decrypt RSAES_OAEP_SHA_256");
    assert_eq!(dec.plaintext().expect("Plaintext").as_ref(), &pt[..]);
    assert_eq!(dec.key_id(), Some(key_arn(&id).as_str()));
    assert_eq!(
        dec.encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::RsaesOaepSha256)
    );

    // SYMMETRIC_DEFAULT is not an algorithm of an RSA key.
    let (code, msg, status) = aws_error(
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new(pt.clone()))
            .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
            .send()
            .await,
    );
    assert!((400..500).contains(&status), "{code} {status} {msg}");
    assert!(
        code == "ValidationException" || code == "InvalidKeyUsageException",
        "{code}: {msg}"
    );
    // An encryption key cannot sign.
    let r = kms
        .sign()
        .key_id(&id)
        .message(Blob::new(pt.clone()))
        .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
        .send()
        .await;
    expect_code(r, "InvalidKeyUsageException");
}

/// AWS KMS interoperates with public-key encryption done elsewhere: the
/// CiphertextBlob of an RSAES_OAEP_SHA_256 Encrypt is the bare OAEP
/// ciphertext (modulus length, no label), and Decrypt accepts a ciphertext
/// that a client made with the GetPublicKey output (the documented "encrypt
/// outside KMS, decrypt in KMS" flow).
#[tokio::test(flavor = "multi_thread")]
async fn rsa_oaep_interoperates_with_public_key_encryption() {
    let env = app_env();
    let kms = &env.kms;
    let id = create_key(kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    // Cross-check: encrypt locally to the GetPublicKey output, decrypt in
    // Strongroom.
    let der = kms
        .get_public_key()
        .key_id(&id)
        .send()
        .await
        .expect("GetPublicKey")
        .public_key
        .expect("PublicKey")
        .into_inner();
    let public = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&der).expect("SPKI"))
        .expect("OAEP key");
    let local_pt = b"encrypted by aws-lc-rs".to_vec();
    let mut buf = vec![0u8; public.ciphertext_size()];
    let local_ct = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, &local_pt, &mut buf, None)
        .expect("local OAEP encrypt")
        .to_vec();
    let dec = kms
        .decrypt()
        .key_id(&id)
        .ciphertext_blob(Blob::new(local_ct))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("Decrypt of a locally made OAEP ciphertext");
    assert_eq!(dec.plaintext().expect("Plaintext").as_ref(), &local_pt[..]);

    // Strongroom's own ciphertext is a bare RSA_2048 OAEP ciphertext too.
    let ct = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(&b"x"[..]))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("CiphertextBlob");
    assert_eq!(ct.as_ref().len(), 256, "not a bare RSA_2048 ciphertext");
}

/// AWS: "You cannot use an asymmetric KMS key ... to generate a data key"
/// (GenerateDataKey*: InvalidKeyUsageException).
#[tokio::test(flavor = "multi_thread")]

async fn data_keys_need_a_symmetric_key() {
    let env = app_env();
    let kms = &env.kms;
    let rsa = create_key(kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let ecc = create_key(kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    for id in [&rsa, &ecc] {
        let r = kms
            .generate_data_key()
            .key_id(id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await;
        expect_code(r, "InvalidKeyUsageException");
        let r = kms
            .generate_data_key_without_plaintext()
            .key_id(id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await;
        expect_code(r, "InvalidKeyUsageException");
    }
}

/// AWS Sign/Verify: a signing algorithm that does not fit the key spec is
/// InvalidKeyUsageException ("The encryption algorithm or signing algorithm
/// specified for the operation is incompatible with the type of key
/// material in the KMS key").
#[tokio::test(flavor = "multi_thread")]
async fn signing_algorithm_of_another_key_spec_is_invalid_key_usage() {
    let env = app_env();
    let kms = &env.kms;
    let id = create_key(kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let msg = b"m".to_vec();
    let sig = kms
        .sign()
        .key_id(&id)
        .message(Blob::new(msg.clone()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("Sign")
        .signature
        .expect("Signature");
    for alg in [
        SigningAlgorithmSpec::EcdsaSha384,
        SigningAlgorithmSpec::RsassaPssSha256,
    ] {
        let r = kms
            .sign()
            .key_id(&id)
            .message(Blob::new(msg.clone()))
            .signing_algorithm(alg.clone())
            .send()
            .await;
        expect_code(r, "InvalidKeyUsageException");
        let r = kms
            .verify()
            .key_id(&id)
            .message(Blob::new(msg.clone()))
            .signature(sig.clone())
            .signing_algorithm(alg)
            .send()
            .await;
        expect_code(r, "InvalidKeyUsageException");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hmac_generate_and_verify_mac() {
    let env = app_env();
    let kms = &env.kms;
    let id = create_key(kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let d = kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("KeyMetadata");
    assert_eq!(d.mac_algorithms(), &[MacAlgorithmSpec::HmacSha256]);

    let msg = b"session=abc123".to_vec();
    let out = kms
        .generate_mac()
        .key_id(&id)
        .message(Blob::new(msg.clone()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("GenerateMac");
    assert_eq!(out.key_id(), Some(key_arn(&id).as_str()));
    assert_eq!(out.mac_algorithm(), Some(&MacAlgorithmSpec::HmacSha256));
    let mac = out.mac().expect("Mac").as_ref().to_vec();
    assert_eq!(mac.len(), 32);
    // Deterministic.
    let again = kms
        .generate_mac()
        .key_id(&id)
        .message(Blob::new(msg.clone()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("GenerateMac");
    assert_eq!(again.mac().expect("Mac").as_ref(), &mac[..]);

    let v = kms
        .verify_mac()
        .key_id(&id)
        .message(Blob::new(msg.clone()))
        .mac(Blob::new(mac.clone()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("VerifyMac");
    assert!(v.mac_valid());
    assert_eq!(v.key_id(), Some(key_arn(&id).as_str()));

    let mut wrong = mac.clone();
    wrong[0] ^= 1;
    let r = kms
        .verify_mac()
        .key_id(&id)
        .message(Blob::new(msg.clone()))
        .mac(Blob::new(wrong))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await;
    expect_code(r, "KMSInvalidMacException");
    let r = kms
        .verify_mac()
        .key_id(&id)
        .message(Blob::new(&b"session=abc124"[..]))
        .mac(Blob::new(mac.clone()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await;
    expect_code(r, "KMSInvalidMacException");
    // A MAC algorithm the key does not have.
    let r = kms
        .generate_mac()
        .key_id(&id)
        .message(Blob::new(msg.clone()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha512)
        .send()
        .await;
    expect_code(r, "InvalidKeyUsageException");
}

// ---------------------------------------------------------------------------
// 3. Key states
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn key_states_as_aws_documents() {
    let env = app_env();
    let kms = &env.kms;
    let id = create_symmetric(kms).await;
    let c = ctx(&[("s", "1")]);
    let ct = encrypt(kms, &id, b"state test", &c).await;

    // Disabled: DisabledException for Encrypt and Decrypt.
    kms.disable_key()
        .key_id(&id)
        .send()
        .await
        .expect("DisableKey");
    assert_eq!(key_state(kms, &id).await, (KeyState::Disabled, false, None));
    let r = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(&b"x"[..]))
        .send()
        .await;
    expect_code(r, "DisabledException");
    let r = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .set_encryption_context(Some(c.clone()))
        .send()
        .await;
    expect_code(r, "DisabledException");
    let r = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await;
    expect_code(r, "DisabledException");
    kms.enable_key()
        .key_id(&id)
        .send()
        .await
        .expect("EnableKey");
    assert_eq!(key_state(kms, &id).await, (KeyState::Enabled, true, None));
    encrypt(kms, &id, b"x", &c).await;

    // The pending window must be 7 to 30 days.
    for days in [6, 31] {
        let r = kms
            .schedule_key_deletion()
            .key_id(&id)
            .pending_window_in_days(days)
            .send()
            .await;
        expect_code(r, "ValidationException");
    }
    assert_eq!(key_state(kms, &id).await.0, KeyState::Enabled);

    // ScheduleKeyDeletion (dual control is off on the dev server).
    let before = now_secs();
    let s = kms
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_eq!(s.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(s.pending_window_in_days(), Some(7));
    assert!(s.key_id().is_some_and(|k| k.ends_with(&id)));
    let when = s.deletion_date().expect("DeletionDate").secs();
    let week = 7 * 86_400;
    assert!(
        (before + week - 5..=now_secs() + week + 5).contains(&when),
        "DeletionDate {when} is not 7 days from {before}"
    );
    let (state, enabled, deletion) = key_state(kms, &id).await;
    assert_eq!(state, KeyState::PendingDeletion);
    assert!(!enabled);
    assert_eq!(deletion, Some(when));

    // Pending deletion: KMSInvalidStateException.
    let r = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(&b"x"[..]))
        .send()
        .await;
    expect_code(r, "KMSInvalidStateException");
    let r = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .set_encryption_context(Some(c.clone()))
        .send()
        .await;
    expect_code(r, "KMSInvalidStateException");
    let r = kms.enable_key().key_id(&id).send().await;
    expect_code(r, "KMSInvalidStateException");

    // CancelKeyDeletion leaves the key Disabled, as in AWS.
    let cancel = kms
        .cancel_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("CancelKeyDeletion");
    assert!(cancel.key_id().is_some_and(|k| k.ends_with(&id)));
    assert_eq!(key_state(kms, &id).await, (KeyState::Disabled, false, None));
    let r = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(&b"x"[..]))
        .send()
        .await;
    expect_code(r, "DisabledException");
    kms.enable_key()
        .key_id(&id)
        .send()
        .await
        .expect("EnableKey");
    assert_eq!(decrypt(kms, &ct, &c).await.0, b"state test");

    // Without PendingWindowInDays the window is 30 days.
    let before = now_secs();
    let s30 = kms
        .schedule_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("ScheduleKeyDeletion (default window)");
    assert_eq!(s30.pending_window_in_days(), Some(30));
    let when = s30.deletion_date().expect("DeletionDate").secs();
    let month = 30 * 86_400;
    assert!((before + month - 5..=now_secs() + month + 5).contains(&when));
    kms.cancel_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("CancelKeyDeletion");

    // Unknown keys: NotFoundException, whatever the spelling.
    let missing = "0b1e28ba-2fa1-41d2-883f-0016d3cca427";
    for k in [
        missing.to_string(),
        key_arn(missing),
        "alias/no-such-alias".to_string(),
        alias_arn("alias/no-such-alias"),
    ] {
        let r = kms.describe_key().key_id(&k).send().await;
        expect_code(r, "NotFoundException");
        let r = kms
            .encrypt()
            .key_id(&k)
            .plaintext(Blob::new(&b"x"[..]))
            .send()
            .await;
        expect_code(r, "NotFoundException");
    }
    let r = kms
        .schedule_key_deletion()
        .key_id(missing)
        .pending_window_in_days(7)
        .send()
        .await;
    expect_code(r, "NotFoundException");
}

// ---------------------------------------------------------------------------
// 4. Authentication and authorization
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secret_and_unknown_access_key_get_the_same_error() {
    let server = Server::dev(BIN);
    let (akid, secret) = identity(&server, "app", &[], &["kms:*"]);
    kms(&server.addr, &akid, &secret)
        .list_keys()
        .send()
        .await
        .expect("ListKeys with the right secret");

    // Change the last character to a different one (never a no-op).
    let last = if secret.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &secret[..secret.len() - 1]);
    let (code_a, msg_a, status_a) =
        aws_error(kms(&server.addr, &akid, &wrong).create_key().send().await);
    let (code_b, msg_b, status_b) = aws_error(
        kms(&server.addr, "AKIAUNKNOWNUNKNOWN00", &secret)
            .create_key()
            .send()
            .await,
    );
    assert_eq!(code_a, "InvalidSignatureException", "{msg_a}");
    assert_eq!(
        (code_a, &msg_a, status_a),
        (code_b, &msg_b, status_b),
        "a wrong secret and an unknown access key id must be indistinguishable"
    );
    assert!(!msg_a.contains(&secret) && !msg_a.contains(&wrong));
    // Nothing was created by the refused calls.
    let keys = kms(&server.addr, &akid, &secret)
        .list_keys()
        .send()
        .await
        .expect("ListKeys");
    assert!(keys.keys().is_empty(), "{:?}", keys.keys());
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_access_key_is_refused() {
    let server = Server::dev(BIN);
    let (akid, secret) = identity(&server, "app", &[], &["kms:*"]);
    let (akid2, secret2) = access_key(&server, "app");
    let first = kms(&server.addr, &akid, &secret);
    let second = kms(&server.addr, &akid2, &secret2);
    let key = create_symmetric(&first).await;
    encrypt(&second, &key, b"x", &ctx(&[])).await;

    ok2xx(
        "revoke access key",
        server.post("/v1/access-keys/revoke", &json!({ "access_key_id": akid })),
    );
    let (code, msg, status) = aws_error(
        first
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(&b"x"[..]))
            .send()
            .await,
    );
    assert!(
        code == "InvalidSignatureException" || code == "UnrecognizedClientException",
        "revoked key: {code} (HTTP {status}): {msg}"
    );
    assert!((400..500).contains(&status), "{status}");
    // The identity's other access key still works.
    encrypt(&second, &key, b"still fine", &ctx(&[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_apply_to_aws_requests() {
    let server = Server::dev(BIN);
    let (akid, secret) = identity(&server, "app", &[], &["kms:*"]);
    let app = kms(&server.addr, &akid, &secret);
    let key = create_symmetric(&app).await;
    let c = ctx(&[("a", "b")]);
    let ct = encrypt(&app, &key, b"for app only", &c).await;

    // An identity allowed kms:Encrypt only.
    let (akid, secret) = identity(&server, "enc-only", &[], &["kms:Encrypt"]);
    let enc_only = kms(&server.addr, &akid, &secret);
    let ct2 = encrypt(&enc_only, &key, b"write-only", &c).await;
    assert_eq!(decrypt(&app, &ct2, &c).await.0, b"write-only");
    let msg = expect_code(
        enc_only
            .decrypt()
            .ciphertext_blob(ct.clone())
            .set_encryption_context(Some(c.clone()))
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(msg.contains("kms:Decrypt"), "{msg}");
    assert!(!msg.contains("for app only"));
    expect_code(
        enc_only
            .generate_data_key()
            .key_id(&key)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "AccessDeniedException",
    );
    expect_code(
        enc_only.describe_key().key_id(&key).send().await,
        "AccessDeniedException",
    );
    expect_code(enc_only.create_key().send().await, "AccessDeniedException");
    expect_code(
        enc_only.disable_key().key_id(&key).send().await,
        "AccessDeniedException",
    );
    assert_eq!(key_state(&app, &key).await.0, KeyState::Enabled);

    // key-admin can never use a key, even with kms:* attached
    // (docs/POLICY.md), but can manage keys.
    let (akid, secret) = identity(&server, "admin", &["key-admin"], &["kms:*"]);
    let admin = kms(&server.addr, &akid, &secret);
    let admin_key = create_symmetric(&admin).await;
    expect_code(
        admin
            .encrypt()
            .key_id(&admin_key)
            .plaintext(Blob::new(&b"x"[..]))
            .send()
            .await,
        "AccessDeniedException",
    );
    expect_code(
        admin.generate_random().number_of_bytes(8).send().await,
        "AccessDeniedException",
    );
    admin
        .disable_key()
        .key_id(&admin_key)
        .send()
        .await
        .expect("key-admin DisableKey");
}

/// Changes a request after the SDK has signed it.
#[derive(Debug)]
enum Tamper {
    /// Replaces `from` with `to` (same length) in the JSON body.
    Body(&'static str, &'static str),
    /// Drops `x-amz-target` from SignedHeaders (the signature is kept).
    UnsignTarget,
    /// Removes the X-Amz-Date header.
    DropDate,
}

impl Intercept for Tamper {
    fn name(&self) -> &'static str {
        "Tamper"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request_mut();
        match self {
            Tamper::Body(from, to) => {
                let body = req.body().bytes().ok_or("streaming body")?.to_vec();
                let text = String::from_utf8(body)?;
                let changed = text.replace(from, to);
                assert_ne!(changed, text, "nothing to tamper with in {text}");
                *req.body_mut() = changed.into();
            }
            Tamper::UnsignTarget => {
                let auth = req
                    .headers()
                    .get("authorization")
                    .ok_or("no Authorization header")?
                    .to_string();
                let changed = auth.replace(";x-amz-target", "");
                assert_ne!(changed, auth, "x-amz-target was not signed: {auth}");
                req.headers_mut().insert("authorization", changed);
            }
            Tamper::DropDate => {
                req.headers_mut()
                    .remove("x-amz-date")
                    .ok_or("no X-Amz-Date header")?;
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_changed_after_signing_are_refused() {
    let server = Server::dev(BIN);
    let (akid, secret) = identity(&server, "app", &[], &["kms:*"]);
    let with = |t: Tamper| {
        Client::from_conf(
            kms_config(&server.addr, &akid, &secret)
                .interceptor(t)
                .build(),
        )
    };
    let r = with(Tamper::Body("aaaa", "bbbb"))
        .create_key()
        .description("aaaa")
        .send()
        .await;
    expect_code(r, "InvalidSignatureException");
    let r = with(Tamper::UnsignTarget).create_key().send().await;
    let msg = expect_code(r, "IncompleteSignatureException");
    assert!(msg.contains("x-amz-target"), "{msg}");
    let r = with(Tamper::DropDate).create_key().send().await;
    expect_code(r, "IncompleteSignatureException");
    // None of them created a key.
    let keys = kms(&server.addr, &akid, &secret)
        .list_keys()
        .send()
        .await
        .expect("ListKeys");
    assert!(keys.keys().is_empty(), "{:?}", keys.keys());
}

/// Requests signed with a clock more than 5 minutes off are refused, in
/// both directions; within the window they pass.
#[tokio::test(flavor = "multi_thread")]
async fn signatures_outside_the_clock_skew_window_are_refused() {
    let server = Server::dev(BIN);
    let (akid, secret) = identity(&server, "app", &[], &["kms:*"]);
    let clock = |offset_secs: i64| {
        let now = std::time::SystemTime::now();
        let d = Duration::from_secs(offset_secs.unsigned_abs());
        let t = if offset_secs < 0 { now - d } else { now + d };
        kms_config(&server.addr, &akid, &secret).time_source(StaticTimeSource::new(t))
    };
    // The SDK corrects its clock from the Date header of an
    // InvalidSignatureException and retries; turn that off to see the
    // server's answer.
    let at = |offset_secs: i64| {
        Client::from_conf(
            clock(offset_secs)
                .disable_clock_skew_correction(true)
                .build(),
        )
    };
    let msg = expect_code(
        at(-600).list_keys().send().await,
        "InvalidSignatureException",
    );
    assert!(msg.contains("expired"), "{msg}");
    let msg = expect_code(
        at(600).list_keys().send().await,
        "InvalidSignatureException",
    );
    assert!(msg.contains("not yet current"), "{msg}");
    for offset in [-240, 240] {
        at(offset)
            .list_keys()
            .send()
            .await
            .unwrap_or_else(|e| panic!("clock {offset} s off: {}", DisplayErrorContext(&e)));
    }
    // With its default clock-skew correction the SDK recovers, which needs
    // the server's Date header and AWS's error code for a skewed request.
    for offset in [-600, 600] {
        Client::from_conf(clock(offset).build())
            .list_keys()
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "SDK clock-skew correction failed ({offset} s): {}",
                    DisplayErrorContext(&e)
                )
            });
    }
}

// ---------------------------------------------------------------------------
// 5. Unsupported operations
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_operations_say_so() {
    let env = app_env();
    let kms = &env.kms;
    let id = create_symmetric(kms).await;

    let mut results = Vec::new();
    results.push((
        "ListGrants",
        aws_error(kms.list_grants().key_id(&id).send().await),
    ));
    results.push((
        "CreateGrant",
        aws_error(
            kms.create_grant()
                .key_id(&id)
                .grantee_principal("arn:aws:iam::000000000000:role/app")
                .operations(GrantOperation::Decrypt)
                .send()
                .await,
        ),
    ));
    results.push((
        "DescribeCustomKeyStores",
        aws_error(kms.describe_custom_key_stores().send().await),
    ));
    results.push((
        "ReplicateKey",
        aws_error(
            kms.replicate_key()
                .key_id(&id)
                .replica_region("eu-west-1")
                .send()
                .await,
        ),
    ));
    for (op, (code, msg, status)) in results {
        assert_eq!(
            code, "UnsupportedOperationException",
            "{op}: HTTP {status}: {msg}"
        );
        assert_eq!(status, 400, "{op}: {msg}");
        assert!(msg.contains(op), "{op}: the message should name it: {msg}");
    }
    // Nothing happened to the key.
    assert_eq!(key_state(kms, &id).await.0, KeyState::Enabled);
}

// ---------------------------------------------------------------------------
// 6. --dev-aws-credentials
// ---------------------------------------------------------------------------

/// A `strongroom server --dev` started by this test (the testkit does not
/// pass `--dev-aws-credentials`); killed on drop.
struct DevProcess {
    child: Child,
    addr: String,
    stdout: Arc<Mutex<Vec<String>>>,
    dir: TempDir,
}

impl DevProcess {
    fn start(extra: &[&str]) -> DevProcess {
        let dir = TempDir::new("aws-dev");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        // The audit log goes in the test's temp dir, removed with it.
        let audit = dir.path().join("audit.jsonl").display().to_string();
        let mut child = Command::new(BIN)
            .args(["server", "--dev", "--listen", "127.0.0.1:0"])
            .args(["--audit-path", &audit])
            .args(extra)
            .env("STRONGROOM_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start strongroom server");
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                match line {
                    Ok(l) => sink.lock().unwrap().push(l),
                    Err(_) => break,
                }
            }
        });
        let mut p = DevProcess {
            child,
            addr: String::new(),
            stdout: lines,
            dir,
        };
        let line = p.wait_line(|l| l.contains(" listening on "));
        let addr = line
            .split(" listening on ")
            .nth(1)
            .expect("address")
            .trim()
            .to_string();
        assert!(addr.starts_with("http://127.0.0.1:"), "{line}");
        p.addr = addr;
        p
    }

    /// Waits (up to 30 s) for a stdout line matching `f`.
    fn wait_line(&mut self, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.stdout.lock().unwrap().iter().find(|l| f(l)) {
                return l.clone();
            }
            if Instant::now() > deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                panic!(
                    "server output never showed the expected line; stdout: {:?}; log:\n{}",
                    self.stdout.lock().unwrap(),
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_aws_credentials_act_as_root() {
    let mut p = DevProcess::start(&["--dev-aws-credentials", "AKIDTEST:SECRETTEST"]);
    // The banner tells the developer what to export.
    let export = p.wait_line(|l| l.contains("AWS_ENDPOINT_URL_KMS="));
    assert!(export.ends_with(&p.addr), "{export}");
    let creds = p.wait_line(|l| l.contains("AWS_ACCESS_KEY_ID="));
    assert!(
        creds.contains("AWS_ACCESS_KEY_ID=AKIDTEST") && creds.contains("SECRETTEST"),
        "{creds}"
    );

    let kms_root = kms(&p.addr, "AKIDTEST", "SECRETTEST");
    let id = create_symmetric(&kms_root).await;
    let c = ctx(&[("dev", "yes")]);
    let ct = encrypt(&kms_root, &id, b"dev mode", &c).await;
    assert_eq!(
        decrypt(&kms_root, &ct, &c).await,
        (b"dev mode".to_vec(), key_arn(&id))
    );
    // Root needs no dual control on the dev server either.
    kms_root
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion as root");

    // The dev secret is checked like any other.
    let (code, msg, _) = aws_error(
        kms(&p.addr, "AKIDTEST", "SECRETTESX")
            .create_key()
            .send()
            .await,
    );
    assert_eq!(code, "InvalidSignatureException", "{msg}");

    // Stop it: the server must go away when killed.
    p.child.kill().expect("kill server");
    let status = p.child.wait().expect("wait for server");
    assert!(!status.success(), "{status}");
}

/// The native API with a root token, for a server this test started.
fn root_post(addr: &str, token: &str, path: &str, body: &Value) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut resp = agent
        .post(&format!("{addr}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(body)
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    ok2xx(path, (status, v))
}

/// With dual control on, an identity's ScheduleKeyDeletion is parked for
/// approval and answered with AccessDeniedException naming the approval
/// request; root (here the dev AWS credentials) is exempt.
#[tokio::test(flavor = "multi_thread")]
async fn schedule_key_deletion_under_dual_control() {
    let token = "sr.aws-sdk-dual-control-root";
    let p = DevProcess::start(&[
        "--dev-dual-control",
        "--dev-root-token",
        token,
        "--dev-aws-credentials",
        "AKIDROOT:SECRETROOT",
    ]);
    root_post(
        &p.addr,
        token,
        "/v1/policies",
        &json!({
            "name": "aws-all",
            "statements": [{ "effect": "Allow", "actions": ["kms:*"], "resources": ["*"] }]
        }),
    );
    root_post(
        &p.addr,
        token,
        "/v1/identities",
        &json!({ "name": "app", "roles": [], "policies": ["aws-all"] }),
    );
    let ak = root_post(
        &p.addr,
        token,
        "/v1/access-keys",
        &json!({ "identity": "app" }),
    );
    let app = kms(
        &p.addr,
        ak["access_key_id"].as_str().expect("access_key_id"),
        ak["secret_access_key"].as_str().expect("secret_access_key"),
    );
    let id = create_symmetric(&app).await;
    let msg = expect_code(
        app.schedule_key_deletion()
            .key_id(&id)
            .pending_window_in_days(7)
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(
        msg.contains("kms:ScheduleKeyDeletion") && msg.contains("approv"),
        "{msg}"
    );
    assert_eq!(key_state(&app, &id).await, (KeyState::Enabled, true, None));

    // Root is never parked.
    let root = kms(&p.addr, "AKIDROOT", "SECRETROOT");
    root.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion as root");
    assert_eq!(key_state(&app, &id).await.0, KeyState::PendingDeletion);
}

// ---------------------------------------------------------------------------
// 7. Rotation schedules
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn rotation_schedule_status_and_list() {
    use aws_sdk_kms::types::RotationType;
    let server = Server::dev(BIN);
    let (akid, secret) = identity(&server, "app", &[], &["kms:*"]);
    let kms = &kms(&server.addr, &akid, &secret);
    let id = create_symmetric(kms).await;

    let st = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .expect("status");
    assert!(!st.key_rotation_enabled());
    assert_eq!(st.rotation_period_in_days(), None);
    assert_eq!(st.next_rotation_date(), None);

    // Default period: 365 days from now.
    let before = now_secs();
    kms.enable_key_rotation()
        .key_id(&id)
        .send()
        .await
        .expect("EnableKeyRotation");
    let after = now_secs();
    let st = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .expect("status");
    assert!(st.key_rotation_enabled());
    assert_eq!(st.key_id(), Some(key_arn(&id).as_str()));
    assert_eq!(st.rotation_period_in_days(), Some(365));
    let next = st.next_rotation_date().expect("NextRotationDate").secs();
    assert!(
        (before + 365 * 86_400..=after + 365 * 86_400).contains(&next),
        "{next}"
    );

    // The period shows in the native describe (it serializes the key model).
    let native = ok2xx("describe", server.get(&format!("/v1/keys/{id}")));
    assert_eq!(native["rotation_period_days"], json!(365));
    assert_eq!(native["next_rotation_at"], json!(next));

    // AWS bounds: 90–2560 days.
    for bad in [89, 2561, 0] {
        let msg = expect_code(
            kms.enable_key_rotation()
                .key_id(&id)
                .rotation_period_in_days(bad)
                .send()
                .await,
            "ValidationException",
        );
        assert!(msg.contains("90 to 2560"), "{msg}");
    }
    kms.enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation 90");
    assert_eq!(
        kms.get_key_rotation_status()
            .key_id(&id)
            .send()
            .await
            .expect("status")
            .rotation_period_in_days(),
        Some(90)
    );

    // An on-demand rotation is listed and advances the schedule.
    let rotations = kms
        .list_key_rotations()
        .key_id(&id)
        .send()
        .await
        .expect("list");
    assert!(rotations.rotations().is_empty());
    kms.rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .expect("rotate");
    let rotations = kms
        .list_key_rotations()
        .key_id(&id)
        .send()
        .await
        .expect("list");
    assert_eq!(rotations.rotations().len(), 1);
    let r = &rotations.rotations()[0];
    assert_eq!(r.rotation_type(), Some(&RotationType::OnDemand));
    assert_eq!(r.key_id(), Some(id.as_str()));
    assert!(r.rotation_date().expect("RotationDate").secs() >= before);
    let next2 = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .expect("status")
        .next_rotation_date()
        .expect("NextRotationDate")
        .secs();
    assert!(
        next2 >= r.rotation_date().unwrap().secs() + 90 * 86_400,
        "{next2}"
    );
    // Paging.
    kms.rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .expect("rotate");
    let p1 = kms
        .list_key_rotations()
        .key_id(&id)
        .limit(1)
        .send()
        .await
        .expect("page 1");
    assert!(p1.truncated());
    let p2 = kms
        .list_key_rotations()
        .key_id(&id)
        .limit(1)
        .marker(p1.next_marker().expect("NextMarker"))
        .send()
        .await
        .expect("page 2");
    assert!(!p2.truncated());
    assert_eq!(p2.rotations().len(), 1);

    kms.disable_key_rotation()
        .key_id(&id)
        .send()
        .await
        .expect("DisableKeyRotation");
    let st = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .expect("status");
    assert!(!st.key_rotation_enabled());
    assert_eq!(st.next_rotation_date(), None);

    // Asymmetric keys do not rotate automatically (as AWS).
    let ecc = create_key(kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let msg = expect_code(
        kms.enable_key_rotation().key_id(&ecc).send().await,
        "UnsupportedOperationException",
    );
    assert!(msg.contains("SYMMETRIC_DEFAULT"), "{msg}");
    expect_code(
        kms.list_key_rotations().key_id(&ecc).send().await,
        "UnsupportedOperationException",
    );
    // A disabled key refuses schedule changes.
    kms.disable_key().key_id(&id).send().await.expect("disable");
    expect_code(
        kms.enable_key_rotation().key_id(&id).send().await,
        "DisabledException",
    );
    // The native endpoint sets the same period.
    kms.enable_key().key_id(&id).send().await.expect("enable");
    let m = ok2xx(
        "rotation-policy",
        server.post("/v1/rotation-policy", &json!({ "key": id, "days": 30 })),
    );
    assert_eq!(m["rotation_period_days"], json!(30));
    let (status, v) = server.post("/v1/rotation-policy", &json!({ "key": id, "days": 4000 }));
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        kms.get_key_rotation_status()
            .key_id(&id)
            .send()
            .await
            .expect("status")
            .rotation_period_in_days(),
        Some(30)
    );
}

// ---------------------------------------------------------------------------
// 8. Data key pairs
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn data_key_pairs_decrypt_and_sign_locally() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PSS_SHA256,
    };
    use aws_sdk_kms::types::DataKeyPairSpec;

    let env = app_env();
    let kms = &env.kms;
    let id = create_symmetric(kms).await;
    let c = ctx(&[("purpose", "pair")]);
    let msg = b"signed with a data key pair";

    for spec in [DataKeyPairSpec::Rsa2048, DataKeyPairSpec::EccNistP256] {
        let out = kms
            .generate_data_key_pair()
            .key_id(&id)
            .key_pair_spec(spec.clone())
            .set_encryption_context(Some(c.clone()))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("GenerateDataKeyPair {spec:?}: {}", DisplayErrorContext(&e))
            });
        assert_eq!(out.key_id(), Some(key_arn(&id).as_str()));
        assert_eq!(out.key_pair_spec(), Some(&spec));
        let private = out
            .private_key_plaintext()
            .expect("PrivateKeyPlaintext")
            .as_ref()
            .to_vec();
        let public = out.public_key().expect("PublicKey").as_ref().to_vec();
        let blob = out
            .private_key_ciphertext_blob()
            .expect("PrivateKeyCiphertextBlob")
            .clone();
        // The ciphertext is an ordinary Strongroom ciphertext of the PKCS#8 key.
        let (decrypted, key) = decrypt(kms, &blob, &c).await;
        assert_eq!(decrypted, private, "{spec:?}");
        assert_eq!(key, key_arn(&id));
        expect_code(
            kms.decrypt().ciphertext_blob(blob).send().await,
            "InvalidCiphertextException",
        );
        // A signature made with the private key verifies with the public key.
        let rng = SystemRandom::new();
        if spec == DataKeyPairSpec::Rsa2048 {
            let kp = RsaKeyPair::from_pkcs8(&private).expect("RSA PKCS#8");
            let mut sig = vec![0u8; kp.public_modulus_len()];
            kp.sign(&RSA_PSS_SHA256, &rng, msg, &mut sig).expect("sign");
            verify_locally(&RSA_PSS_2048_8192_SHA256, &public, msg, &sig);
        } else {
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &private)
                .expect("EC PKCS#8");
            let sig = kp.sign(&rng, msg).expect("sign");
            verify_locally(&ECDSA_P256_SHA256_ASN1, &public, msg, sig.as_ref());
        }
    }

    // Without plaintext: only the ciphertext and the public key.
    let out = kms
        .generate_data_key_pair_without_plaintext()
        .key_id(&id)
        .key_pair_spec(DataKeyPairSpec::EccNistP384)
        .send()
        .await
        .expect("GenerateDataKeyPairWithoutPlaintext");
    assert!(out.public_key().is_some());
    let (pkcs8, _) = decrypt(
        kms,
        out.private_key_ciphertext_blob().expect("blob"),
        &HashMap::new(),
    )
    .await;
    let kp = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        &pkcs8,
    )
    .expect("P-384 PKCS#8");
    use aws_lc_rs::signature::KeyPair as _;
    let local_public = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
        kp.public_key(),
    )
    .expect("spki");
    assert_eq!(local_public.as_ref(), out.public_key().unwrap().as_ref());

    // Errors.
    let msg = expect_code(
        kms.generate_data_key_pair()
            .key_id(&id)
            .key_pair_spec(DataKeyPairSpec::EccSecgP256K1)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    assert!(msg.contains("ECC_SECG_P256K1"), "{msg}");
    let rsa = create_key(kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    expect_code(
        kms.generate_data_key_pair()
            .key_id(&rsa)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    kms.disable_key().key_id(&id).send().await.expect("disable");
    expect_code(
        kms.generate_data_key_pair()
            .key_id(&id)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await,
        "DisabledException",
    );
}

// ---------------------------------------------------------------------------
// 9. BYOK: import key material
// ---------------------------------------------------------------------------

/// RSA-OAEP-SHA-256 to a GetParametersForImport public key, as a BYOK client does.
fn wrap_oaep(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    let k = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).expect("spki"))
        .expect("OAEP key");
    let mut out = vec![0u8; k.ciphertext_size()];
    let n = k
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .expect("OAEP encrypt")
        .len();
    out.truncate(n);
    out
}

/// RSA_AES_KEY_WRAP_SHA_256: OAEP(ephemeral AES-256 key) || AES-KWP(material).
fn wrap_kwp(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
    let mut aes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut aes).unwrap();
    let mut out = wrap_oaep(public_der, &aes);
    let kek = AesKek::new(&AES_256, &aes).expect("KEK");
    let mut w = vec![0u8; material.len() + 16];
    let n = kek.wrap_with_padding(material, &mut w).expect("KWP").len();
    out.extend_from_slice(&w[..n]);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn byok_import_end_to_end() {
    use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, OriginType, WrappingKeySpec};
    let env = app_env();
    let kms = &env.kms;
    let c = ctx(&[("app", "byok")]);

    let meta = kms
        .create_key()
        .origin(OriginType::External)
        .description("imported")
        .send()
        .await
        .expect("CreateKey EXTERNAL")
        .key_metadata
        .expect("KeyMetadata");
    let id = meta.key_id().to_string();
    assert_eq!(meta.origin(), Some(&OriginType::External));
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    assert!(!meta.enabled());
    expect_code(
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new(b"x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );

    let params = kms
        .get_parameters_for_import()
        .key_id(&id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("GetParametersForImport");
    let valid_to = params
        .parameters_valid_to()
        .expect("ParametersValidTo")
        .secs();
    assert!(
        (now_secs() + 86_400 - 120..=now_secs() + 86_400).contains(&valid_to),
        "{valid_to}"
    );
    let public = params.public_key().expect("PublicKey").as_ref().to_vec();
    let token = params.import_token().expect("ImportToken").clone();
    let mut material = [0u8; 32];
    aws_lc_rs::rand::fill(&mut material).unwrap();

    // A tampered wrapped key: InvalidCiphertextException (and the token is spent).
    let mut tampered = wrap_oaep(&public, &material);
    tampered[10] ^= 0x40;
    expect_code(
        kms.import_key_material()
            .key_id(&id)
            .import_token(token.clone())
            .encrypted_key_material(Blob::new(tampered))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await,
        "InvalidCiphertextException",
    );
    expect_code(
        kms.import_key_material()
            .key_id(&id)
            .import_token(token.clone())
            .encrypted_key_material(Blob::new(wrap_oaep(&public, &material)))
            .send()
            .await,
        "InvalidImportTokenException",
    );
    expect_code(
        kms.import_key_material()
            .key_id(&id)
            .import_token(Blob::new(b"not a token".to_vec()))
            .encrypted_key_material(Blob::new(wrap_oaep(&public, &material)))
            .send()
            .await,
        "InvalidImportTokenException",
    );

    let params = kms
        .get_parameters_for_import()
        .key_id(&id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("GetParametersForImport");
    let public = params.public_key().unwrap().as_ref().to_vec();
    // Expiring material is not supported.
    expect_code(
        kms.import_key_material()
            .key_id(&id)
            .import_token(params.import_token().unwrap().clone())
            .encrypted_key_material(Blob::new(wrap_oaep(&public, &material)))
            .expiration_model(ExpirationModelType::KeyMaterialExpires)
            .valid_to(aws_sdk_kms::primitives::DateTime::from_secs(
                now_secs() + 86_400,
            ))
            .send()
            .await,
        "UnsupportedOperationException",
    );
    kms.import_key_material()
        .key_id(&id)
        .import_token(params.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrap_oaep(&public, &material)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ImportKeyMaterial: {}", DisplayErrorContext(&e)));
    let m = kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));
    assert_eq!(m.origin(), Some(&OriginType::External));
    assert_eq!(
        m.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
    );

    let ct = encrypt(kms, &id, b"imported", &c).await;
    assert_eq!(decrypt(kms, &ct, &c).await.0, b"imported");
    // Delete the material: PendingImport, ciphertexts unusable.
    kms.delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial");
    assert_eq!(key_state(kms, &id).await.0, KeyState::PendingImport);
    expect_code(
        kms.decrypt()
            .ciphertext_blob(ct.clone())
            .set_encryption_context(Some(c.clone()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    expect_code(
        kms.delete_imported_key_material().key_id(&id).send().await,
        "KMSInvalidStateException",
    );

    // Re-import through RSA_AES_KEY_WRAP_SHA_256: other material is refused,
    // the same material brings the old ciphertexts back.
    let p = kms
        .get_parameters_for_import()
        .key_id(&id)
        .wrapping_algorithm(AlgorithmSpec::RsaAesKeyWrapSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa3072)
        .send()
        .await
        .expect("GetParametersForImport KWP");
    expect_code(
        kms.import_key_material()
            .key_id(&id)
            .import_token(p.import_token().unwrap().clone())
            .encrypted_key_material(Blob::new(wrap_kwp(
                p.public_key().unwrap().as_ref(),
                &[5u8; 32],
            )))
            .send()
            .await,
        "IncorrectKeyMaterialException",
    );
    let p = kms
        .get_parameters_for_import()
        .key_id(&id)
        .wrapping_algorithm(AlgorithmSpec::RsaAesKeyWrapSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("GetParametersForImport KWP");
    let kwp = wrap_kwp(p.public_key().unwrap().as_ref(), &material);
    let mut bad = kwp.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    expect_code(
        kms.import_key_material()
            .key_id(&id)
            .import_token(p.import_token().unwrap().clone())
            .encrypted_key_material(Blob::new(bad))
            .send()
            .await,
        "InvalidCiphertextException",
    );
    let p = kms
        .get_parameters_for_import()
        .key_id(&id)
        .wrapping_algorithm(AlgorithmSpec::RsaAesKeyWrapSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("GetParametersForImport KWP");
    kms.import_key_material()
        .key_id(&id)
        .import_token(p.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrap_kwp(
            p.public_key().unwrap().as_ref(),
            &material,
        )))
        .send()
        .await
        .unwrap_or_else(|e| panic!("re-import: {}", DisplayErrorContext(&e)));
    assert_eq!(decrypt(kms, &ct, &c).await.0, b"imported");
    // An enabled imported key takes no new parameters; it cannot rotate.
    expect_code(
        kms.get_parameters_for_import()
            .key_id(&id)
            .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await,
        "KMSInvalidStateException",
    );
    expect_code(
        kms.enable_key_rotation().key_id(&id).send().await,
        "UnsupportedOperationException",
    );

    // A second EXTERNAL key with its own material cannot read the first's ciphertexts.
    let other = kms
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id()
        .to_string();
    let p = kms
        .get_parameters_for_import()
        .key_id(&other)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa4096)
        .send()
        .await
        .expect("GetParametersForImport 4096");
    kms.import_key_material()
        .key_id(&other)
        .import_token(p.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrap_oaep(
            p.public_key().unwrap().as_ref(),
            &[6u8; 32],
        )))
        .send()
        .await
        .expect("import other");
    expect_code(
        kms.decrypt()
            .key_id(&other)
            .ciphertext_blob(ct.clone())
            .set_encryption_context(Some(c.clone()))
            .send()
            .await,
        "IncorrectKeyException",
    );
    // Unsupported shapes.
    let gen = create_symmetric(kms).await;
    let msg = expect_code(
        kms.get_parameters_for_import()
            .key_id(&gen)
            .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    assert!(msg.contains("EXTERNAL"), "{msg}");
    expect_code(
        kms.delete_imported_key_material().key_id(&gen).send().await,
        "UnsupportedOperationException",
    );
    expect_code(
        kms.create_key()
            .origin(OriginType::External)
            .key_spec(KeySpec::Rsa2048)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    expect_code(
        kms.create_key()
            .origin(OriginType::AwsCloudhsm)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    let pending = kms
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id()
        .to_string();
    expect_code(
        kms.get_parameters_for_import()
            .key_id(&pending)
            .wrapping_algorithm(AlgorithmSpec::RsaesPkcs1V15)
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    // A PendingImport key can be scheduled for deletion; cancelling returns
    // it to PendingImport.
    kms.schedule_key_deletion()
        .key_id(&pending)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule");
    kms.cancel_key_deletion()
        .key_id(&pending)
        .send()
        .await
        .expect("cancel");
    assert_eq!(key_state(kms, &pending).await.0, KeyState::PendingImport);
    expect_code(
        kms.enable_key().key_id(&pending).send().await,
        "KMSInvalidStateException",
    );
}

// ---------------------------------------------------------------------------
// 10. Key policies
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn key_policy_grants_and_revokes_an_identity() {
    let server = Server::dev(BIN);
    let (akid, secret) = identity(&server, "admin", &[], &["kms:*"]);
    let admin = &kms(&server.addr, &akid, &secret);
    let (rakid, rsecret) = identity(&server, "reader", &[], &["kms:DescribeKey"]);
    let reader = &kms(&server.addr, &rakid, &rsecret);
    let id = create_symmetric(admin).await;

    expect_code(
        reader
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new(b"x"))
            .send()
            .await,
        "AccessDeniedException",
    );

    // Default: the account statement only.
    let doc = admin
        .get_key_policy()
        .key_id(&id)
        .send()
        .await
        .expect("GetKeyPolicy");
    assert_eq!(doc.policy_name(), Some("default"));
    let v: Value = serde_json::from_str(doc.policy().expect("Policy")).expect("JSON");
    assert_eq!(v["Statement"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(
        v["Statement"][0]["Principal"]["AWS"],
        json!(format!("arn:aws:iam::{ACCOUNT}:root"))
    );
    let names = admin
        .list_key_policies()
        .key_id(&id)
        .send()
        .await
        .expect("ListKeyPolicies");
    assert_eq!(names.policy_names(), ["default".to_string()]);

    let grant = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "reader", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/reader")},
             "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": "*"}
        ]
    });
    admin
        .put_key_policy()
        .key_id(&id)
        .policy_name("default")
        .policy(grant.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutKeyPolicy: {}", DisplayErrorContext(&e)));
    let ct = encrypt(reader, &id, b"granted", &HashMap::new()).await;
    // Only what was granted, only on this key.
    expect_code(
        reader.decrypt().ciphertext_blob(ct.clone()).send().await,
        "AccessDeniedException",
    );
    let other = create_symmetric(admin).await;
    expect_code(
        reader
            .encrypt()
            .key_id(&other)
            .plaintext(Blob::new(b"x"))
            .send()
            .await,
        "AccessDeniedException",
    );
    // GetKeyPolicy renders what is stored; it round-trips.
    let doc = admin
        .get_key_policy()
        .key_id(&id)
        .send()
        .await
        .expect("GetKeyPolicy");
    let v: Value = serde_json::from_str(doc.policy().unwrap()).unwrap();
    assert_eq!(v["Statement"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(
        v["Statement"][1]["Principal"]["AWS"],
        json!(format!("arn:aws:iam::{ACCOUNT}:user/reader"))
    );
    assert_eq!(
        v["Statement"][1]["Action"],
        json!(["kms:Encrypt", "kms:GenerateDataKey"])
    );
    admin
        .put_key_policy()
        .key_id(&id)
        .policy(doc.policy().unwrap())
        .send()
        .await
        .expect("PutKeyPolicy of the rendered document");
    encrypt(reader, &id, b"still granted", &HashMap::new()).await;
    // The stored policy is an ordinary Strongroom policy attached to the identity.
    let ident = ok2xx("identity", server.get("/v1/identities/reader"));
    assert!(ident.to_string().contains(&format!("kp-{id}-0")), "{ident}");

    // Outside the subset: MalformedPolicyDocumentException, nothing changes.
    for (bad, want) in [
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "reader"},
                "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:app": "x"}}}]}),
            "Condition",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "nobody"},
                "Action": "kms:Decrypt", "Resource": "*"}]}),
            "not a Strongroom identity",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "reader"},
                "Action": "s3:GetObject", "Resource": "*"}]}),
            "s3:GetObject",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": "kms:Decrypt", "Resource": "*"}]}),
            "everyone",
        ),
    ] {
        let msg = expect_code(
            admin
                .put_key_policy()
                .key_id(&id)
                .policy(bad.to_string())
                .send()
                .await,
            "MalformedPolicyDocumentException",
        );
        assert!(msg.contains(want), "{want}: {msg}");
    }
    expect_code(
        admin
            .put_key_policy()
            .key_id(&id)
            .policy("{not json")
            .send()
            .await,
        "MalformedPolicyDocumentException",
    );
    expect_code(
        admin
            .put_key_policy()
            .key_id(&id)
            .policy_name("other")
            .policy(grant.to_string())
            .send()
            .await,
        "NotFoundException",
    );
    encrypt(reader, &id, b"unchanged", &HashMap::new()).await;

    // A Deny in the key policy wins over the identity's own allow.
    let deny = json!({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "reader"}, "Action": "kms:Encrypt", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": "reader"}, "Action": "kms:DescribeKey", "Resource": "*"}
    ]});
    admin
        .put_key_policy()
        .key_id(&id)
        .policy(deny.to_string())
        .send()
        .await
        .expect("PutKeyPolicy deny");
    expect_code(
        reader.describe_key().key_id(&id).send().await,
        "AccessDeniedException",
    );
    reader
        .describe_key()
        .key_id(&other)
        .send()
        .await
        .expect("other key unaffected");

    // Replacing the policy without the reader revokes the grant.
    let none = json!({"Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"}]});
    admin
        .put_key_policy()
        .key_id(&id)
        .policy(none.to_string())
        .send()
        .await
        .expect("PutKeyPolicy");
    expect_code(
        reader
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new(b"x"))
            .send()
            .await,
        "AccessDeniedException",
    );
    // Only kms:PutKeyPolicy holders may change it.
    expect_code(
        reader
            .put_key_policy()
            .key_id(&id)
            .policy(grant.to_string())
            .send()
            .await,
        "AccessDeniedException",
    );
}

/// kms:PutKeyPolicy is dual-controlled by default: an identity's call is
/// parked for approval, and runs once approved.
#[tokio::test(flavor = "multi_thread")]
async fn put_key_policy_under_dual_control() {
    let token = "sr.aws-sdk-keypolicy-dual-control";
    let p = DevProcess::start(&["--dev-dual-control", "--dev-root-token", token]);
    root_post(
        &p.addr,
        token,
        "/v1/policies",
        &json!({ "name": "aws-all", "statements": [{ "effect": "Allow", "actions": ["kms:*"], "resources": ["*"] }] }),
    );
    root_post(
        &p.addr,
        token,
        "/v1/identities",
        &json!({ "name": "app", "roles": [], "policies": ["aws-all"] }),
    );
    root_post(
        &p.addr,
        token,
        "/v1/identities",
        &json!({ "name": "user", "roles": [] }),
    );
    let ak = root_post(
        &p.addr,
        token,
        "/v1/access-keys",
        &json!({ "identity": "app" }),
    );
    let app = kms(
        &p.addr,
        ak["access_key_id"].as_str().unwrap(),
        ak["secret_access_key"].as_str().unwrap(),
    );
    let id = create_symmetric(&app).await;
    let doc = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "user"}, "Action": "kms:Encrypt", "Resource": "*"}]});
    let msg = expect_code(
        app.put_key_policy()
            .key_id(&id)
            .policy(doc.to_string())
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(
        msg.contains("kms:PutKeyPolicy") && msg.contains("approv"),
        "{msg}"
    );
    let v = app
        .get_key_policy()
        .key_id(&id)
        .send()
        .await
        .expect("GetKeyPolicy");
    assert!(
        !v.policy().unwrap().contains("user/user"),
        "not applied before approval"
    );

    // Two approvers approve; the stored request then runs as its requester.
    let approval = msg
        .split("approval request ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("approval id in the message")
        .to_string();
    for name in ["appr1", "appr2"] {
        root_post(
            &p.addr,
            token,
            "/v1/identities",
            &json!({ "name": name, "roles": ["approver"] }),
        );
        let t = root_post(&p.addr, token, "/v1/tokens", &json!({ "identity": name }));
        let t = t["token"].as_str().expect("token").to_string();
        root_post(
            &p.addr,
            &t,
            "/v1/approvals/approve",
            &json!({ "id": approval }),
        );
    }
    let v = app
        .get_key_policy()
        .key_id(&id)
        .send()
        .await
        .expect("GetKeyPolicy");
    assert!(
        v.policy()
            .unwrap()
            .contains(&format!("arn:aws:iam::{ACCOUNT}:user/user")),
        "applied after approval: {}",
        v.policy().unwrap()
    );
}

// ---------------------------------------------------------------------------
// Post-quantum keys: ML-DSA (FIPS 204) signatures, ML-KEM (FIPS 203)
// Encapsulate/Decapsulate, cross-checked locally with aws-lc-rs.
// ---------------------------------------------------------------------------

/// The bytes after the SubjectPublicKeyInfo's SEQUENCE header (4 bytes: all
/// ML-DSA/ML-KEM SPKIs are longer than 255 bytes) must be this
/// AlgorithmIdentifier: id-ml-dsa-44/65/87 (RFC 9881) or
/// id-alg-ml-kem-512/768/1024 (draft-ietf-lamps-kyber-certificates), with
/// parameters absent. Returns the raw key: the BIT STRING's content.
#[track_caller]
fn pq_spki_raw_key(der: &[u8], oid_tail: [u8; 2], raw_len: usize) -> Vec<u8> {
    // The OID is 2.16.840.1.101.3.4.{3|4}.N: `oid_tail` is the family
    // (3 = signatures, 4 = KEMs) and N.
    let alg_id = [
        0x30,
        0x0b,
        0x06,
        0x09,
        0x60,
        0x86,
        0x48,
        0x01,
        0x65,
        0x03,
        0x04,
        oid_tail[0],
        oid_tail[1],
    ];
    assert_eq!(der[0], 0x30, "SPKI is a SEQUENCE");
    assert_eq!(
        &der[4..4 + alg_id.len()],
        &alg_id,
        "AlgorithmIdentifier: {:02x?}",
        &der[..20]
    );
    // BIT STRING (long form, 2 length bytes), then 0 unused bits.
    let bs = 4 + alg_id.len();
    assert_eq!((der[bs], der[bs + 1], der[bs + 4]), (0x03, 0x82, 0x00));
    let raw = der[bs + 5..].to_vec();
    assert_eq!(raw.len(), raw_len, "raw public key length");
    raw
}

#[tokio::test(flavor = "multi_thread")]
async fn ml_dsa_sign_verify_and_public_key() {
    use aws_lc_rs::signature::{ML_DSA_44, ML_DSA_65, ML_DSA_87};
    let env = app_env();
    let kms = &env.kms;
    let msg = b"post-quantum: pay 100 EUR to Alice".to_vec();
    for (spec, alg, oid, pk_len, sig_len) in [
        (
            KeySpec::MlDsa44,
            &ML_DSA_44,
            [3u8, 17],
            1312usize,
            2420usize,
        ),
        (KeySpec::MlDsa65, &ML_DSA_65, [3, 18], 1952, 3309),
        (KeySpec::MlDsa87, &ML_DSA_87, [3, 19], 2592, 4627),
    ] {
        let id = create_key(kms, spec.clone(), KeyUsageType::SignVerify).await;
        let d = kms
            .describe_key()
            .key_id(&id)
            .send()
            .await
            .expect("DescribeKey");
        let d = d.key_metadata.expect("KeyMetadata");
        assert_eq!(
            d.signing_algorithms(),
            &[SigningAlgorithmSpec::MlDsaShake256]
        );
        let pk = kms
            .get_public_key()
            .key_id(&id)
            .send()
            .await
            .expect("GetPublicKey");
        assert_eq!(pk.key_spec(), Some(&spec));
        assert_eq!(pk.key_usage(), Some(&KeyUsageType::SignVerify));
        assert_eq!(
            pk.signing_algorithms(),
            &[SigningAlgorithmSpec::MlDsaShake256]
        );
        let der = pk.public_key().expect("PublicKey").as_ref().to_vec();
        let raw = pq_spki_raw_key(&der, oid, pk_len);

        let out = kms
            .sign()
            .key_id(&id)
            .message(Blob::new(msg.clone()))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Sign {spec:?}: {}", DisplayErrorContext(&e)));
        assert_eq!(
            out.signing_algorithm(),
            Some(&SigningAlgorithmSpec::MlDsaShake256)
        );
        let sig = out.signature().expect("Signature").as_ref().to_vec();
        assert_eq!(sig.len(), sig_len);
        // Cross-check: aws-lc-rs verifies with the SPKI GetPublicKey returned
        // and with the raw key inside it.
        verify_locally(alg, &der, &msg, &sig);
        verify_locally(alg, &raw, &msg, &sig);
        let v = kms
            .verify()
            .key_id(&id)
            .message(Blob::new(msg.clone()))
            .message_type(MessageType::Raw)
            .signature(Blob::new(sig.clone()))
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await
            .expect("Verify");
        assert!(v.signature_valid());
        assert_eq!(
            v.signing_algorithm(),
            Some(&SigningAlgorithmSpec::MlDsaShake256)
        );
        // A damaged signature, a truncated one, another message.
        let mut bad = sig.clone();
        bad[sig_len / 2] ^= 1;
        for (m, s) in [
            (msg.clone(), bad),
            (msg.clone(), sig[..sig_len - 1].to_vec()),
            (b"another message".to_vec(), sig.clone()),
        ] {
            expect_code(
                kms.verify()
                    .key_id(&id)
                    .message(Blob::new(m))
                    .message_type(MessageType::Raw)
                    .signature(Blob::new(s))
                    .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
                    .send()
                    .await,
                "KMSInvalidSignatureException",
            );
        }
    }

    // Errors: EXTERNAL_MU and DIGEST (validation), another key's algorithm
    // (usage), an ML-DSA key for encryption.
    let id = create_key(kms, KeySpec::MlDsa65, KeyUsageType::SignVerify).await;
    let m = expect_code(
        kms.sign()
            .key_id(&id)
            .message(Blob::new(vec![7u8; 64]))
            .message_type(MessageType::ExternalMu)
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await,
        "ValidationException",
    );
    assert!(m.contains("EXTERNAL_MU") && m.contains("RAW"), "{m}");
    let m = expect_code(
        kms.sign()
            .key_id(&id)
            .message(Blob::new(sha256(&msg)))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await,
        "ValidationException",
    );
    assert!(m.contains("RAW"), "{m}");
    expect_code(
        kms.sign()
            .key_id(&id)
            .message(Blob::new(msg.clone()))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    expect_code(
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new(b"x"))
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    expect_code(
        kms.create_key()
            .key_spec(KeySpec::MlDsa65)
            .key_usage(KeyUsageType::EncryptDecrypt)
            .send()
            .await,
        "ValidationException",
    );
    // A disabled key signs nothing.
    kms.disable_key()
        .key_id(&id)
        .send()
        .await
        .expect("DisableKey");
    expect_code(
        kms.sign()
            .key_id(&id)
            .message(Blob::new(msg.clone()))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await,
        "DisabledException",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ml_kem_encapsulate_decapsulate() {
    use aws_lc_rs::kem::{EncapsulationKey, ML_KEM_1024, ML_KEM_512, ML_KEM_768};
    use aws_sdk_kms::types::EncapsulationAlgorithmSpec as Kem;
    let server = Server::dev(BIN);
    let (akid, secret) = identity(&server, "app", &[], &["kms:*"]);
    let kms = &kms(&server.addr, &akid, &secret);
    for (spec, alg, oid, ek_len, ct_len) in [
        (KeySpec::MlKem512, &ML_KEM_512, [4u8, 1], 800usize, 768usize),
        (KeySpec::MlKem768, &ML_KEM_768, [4, 2], 1184, 1088),
        (KeySpec::MlKem1024, &ML_KEM_1024, [4, 3], 1568, 1568),
    ] {
        let id = create_key(kms, spec.clone(), KeyUsageType::EncapsulateDecapsulate).await;
        let d = kms
            .describe_key()
            .key_id(&id)
            .send()
            .await
            .expect("DescribeKey");
        let d = d.key_metadata.expect("KeyMetadata");
        assert_eq!(d.encapsulation_algorithms(), &[Kem::MlKem]);
        assert!(d.signing_algorithms().is_empty() && d.encryption_algorithms().is_empty());
        let pk = kms
            .get_public_key()
            .key_id(&id)
            .send()
            .await
            .expect("GetPublicKey");
        assert_eq!(pk.key_usage(), Some(&KeyUsageType::EncapsulateDecapsulate));
        assert_eq!(pk.encapsulation_algorithms(), &[Kem::MlKem]);
        let der = pk.public_key().expect("PublicKey").as_ref().to_vec();
        let raw = pq_spki_raw_key(&der, oid, ek_len);

        let enc = kms
            .encapsulate()
            .key_id(&id)
            .encapsulation_algorithm(Kem::MlKem)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Encapsulate {spec:?}: {}", DisplayErrorContext(&e)));
        assert_eq!(enc.key_id(), Some(key_arn(&id).as_str()));
        assert_eq!(enc.encapsulation_algorithm(), Some(&Kem::MlKem));
        let ss = enc.shared_secret().expect("SharedSecret").as_ref().to_vec();
        let ct = enc
            .shared_secret_ciphertext_blob()
            .expect("SharedSecretCiphertextBlob")
            .as_ref()
            .to_vec();
        assert_eq!((ss.len(), ct.len()), (32, ct_len));
        let dec = kms
            .decapsulate()
            .key_id(&id)
            .shared_secret_ciphertext_blob(Blob::new(ct.clone()))
            .encapsulation_algorithm(Kem::MlKem)
            .send()
            .await
            .expect("Decapsulate");
        assert_eq!(
            dec.shared_secret().expect("SharedSecret").as_ref(),
            ss.as_slice()
        );
        assert_eq!(dec.key_id(), Some(key_arn(&id).as_str()));

        // Cross-check: encapsulate locally (aws-lc-rs) to the public key
        // GetPublicKey returned; the server decapsulates the same secret.
        let ek = EncapsulationKey::new(alg, &raw).expect("encapsulation key from the SPKI");
        let (local_ct, local_ss) = ek.encapsulate().expect("local encapsulation");
        let dec = kms
            .decapsulate()
            .key_id(&id)
            .shared_secret_ciphertext_blob(Blob::new(local_ct.as_ref()))
            .encapsulation_algorithm(Kem::MlKem)
            .send()
            .await
            .expect("Decapsulate local ciphertext");
        assert_eq!(
            dec.shared_secret().expect("SharedSecret").as_ref(),
            local_ss.as_ref()
        );

        // A tampered ciphertext decapsulates (FIPS 203 implicit rejection)
        // to a secret that is not the sender's; a wrong length is refused.
        let mut bad = ct.clone();
        bad[ct_len - 1] ^= 0x80;
        let dec = kms
            .decapsulate()
            .key_id(&id)
            .shared_secret_ciphertext_blob(Blob::new(bad))
            .encapsulation_algorithm(Kem::MlKem)
            .send()
            .await
            .expect("Decapsulate tampered");
        assert_ne!(
            dec.shared_secret().expect("SharedSecret").as_ref(),
            ss.as_slice()
        );
        let m = expect_code(
            kms.decapsulate()
                .key_id(&id)
                .shared_secret_ciphertext_blob(Blob::new(ct[..ct_len - 1].to_vec()))
                .encapsulation_algorithm(Kem::MlKem)
                .send()
                .await,
            "ValidationException",
        );
        assert!(m.contains(&ct_len.to_string()), "{m}");
    }

    // Wrong usage and a wrong algorithm.
    let kem_key = create_key(kms, KeySpec::MlKem768, KeyUsageType::EncapsulateDecapsulate).await;
    let aes = create_symmetric(kms).await;
    expect_code(
        kms.encapsulate()
            .key_id(&aes)
            .encapsulation_algorithm(Kem::MlKem)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    expect_code(
        kms.decapsulate()
            .key_id(&aes)
            .shared_secret_ciphertext_blob(Blob::new(vec![0u8; 1088]))
            .encapsulation_algorithm(Kem::MlKem)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    expect_code(
        kms.sign()
            .key_id(&kem_key)
            .message(Blob::new(b"x"))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    expect_code(
        kms.encrypt()
            .key_id(&kem_key)
            .plaintext(Blob::new(b"x"))
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    let m = expect_code(
        kms.encapsulate()
            .key_id(&kem_key)
            .encapsulation_algorithm(Kem::from("ML_KEM_2"))
            .send()
            .await,
        "ValidationException",
    );
    assert!(m.contains("ML_KEM"), "{m}");
    expect_code(
        kms.create_key()
            .key_spec(KeySpec::MlKem768)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await,
        "ValidationException",
    );

    // A disabled key: DisabledException both ways; enabled again, it works.
    let ct = kms
        .encapsulate()
        .key_id(&kem_key)
        .encapsulation_algorithm(Kem::MlKem)
        .send()
        .await
        .expect("Encapsulate")
        .shared_secret_ciphertext_blob
        .expect("blob");
    kms.disable_key()
        .key_id(&kem_key)
        .send()
        .await
        .expect("DisableKey");
    expect_code(
        kms.encapsulate()
            .key_id(&kem_key)
            .encapsulation_algorithm(Kem::MlKem)
            .send()
            .await,
        "DisabledException",
    );
    expect_code(
        kms.decapsulate()
            .key_id(&kem_key)
            .shared_secret_ciphertext_blob(ct.clone())
            .encapsulation_algorithm(Kem::MlKem)
            .send()
            .await,
        "DisabledException",
    );
    kms.enable_key()
        .key_id(&kem_key)
        .send()
        .await
        .expect("EnableKey");
    kms.decapsulate()
        .key_id(&kem_key)
        .shared_secret_ciphertext_blob(ct.clone())
        .encapsulation_algorithm(Kem::MlKem)
        .send()
        .await
        .expect("Decapsulate after EnableKey");

    // Policy: kms:Encapsulate alone does not allow Decapsulate.
    let (akid, secret) = identity(
        &server,
        "sender",
        &[],
        &["kms:Encapsulate", "kms:GetPublicKey"],
    );
    let sender = self::kms(&server.addr, &akid, &secret);
    sender
        .encapsulate()
        .key_id(&kem_key)
        .encapsulation_algorithm(Kem::MlKem)
        .send()
        .await
        .expect("sender may encapsulate");
    expect_code(
        sender
            .decapsulate()
            .key_id(&kem_key)
            .shared_secret_ciphertext_blob(ct)
            .encapsulation_algorithm(Kem::MlKem)
            .send()
            .await,
        "AccessDeniedException",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ml_dsa_byok_import() {
    use aws_lc_rs::signature::{KeyPair as _, PqdsaKeyPair, ML_DSA_65, ML_DSA_65_SIGNING};
    use aws_sdk_kms::types::{AlgorithmSpec, OriginType, WrappingKeySpec};
    let env = app_env();
    let kms = &env.kms;
    let theirs = PqdsaKeyPair::generate(&ML_DSA_65_SIGNING).expect("generate");
    let pkcs8 = theirs.to_pkcs8v1().expect("pkcs8");
    let meta = kms
        .create_key()
        .origin(OriginType::External)
        .key_spec(KeySpec::MlDsa65)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .expect("CreateKey EXTERNAL ML_DSA_65")
        .key_metadata
        .expect("KeyMetadata");
    let id = meta.key_id().to_string();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    let params = kms
        .get_parameters_for_import()
        .key_id(&id)
        .wrapping_algorithm(AlgorithmSpec::RsaAesKeyWrapSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa3072)
        .send()
        .await
        .expect("GetParametersForImport");
    let public = params.public_key().expect("PublicKey").as_ref().to_vec();
    kms.import_key_material()
        .key_id(&id)
        .import_token(params.import_token().expect("token").clone())
        .encrypted_key_material(Blob::new(wrap_kwp(&public, pkcs8.as_ref())))
        .send()
        .await
        .expect("ImportKeyMaterial");
    let sig = kms
        .sign()
        .key_id(&id)
        .message(Blob::new(b"imported ML-DSA"))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
        .send()
        .await
        .expect("Sign with the imported key")
        .signature
        .expect("Signature");
    // The caller's own public key verifies what the server signed.
    verify_locally(
        &ML_DSA_65,
        theirs.public_key().as_ref(),
        b"imported ML-DSA",
        sig.as_ref(),
    );
    // Another spec cannot be imported; ML-KEM keys cannot be EXTERNAL.
    expect_code(
        kms.create_key()
            .origin(OriginType::External)
            .key_spec(KeySpec::MlKem768)
            .key_usage(KeyUsageType::EncapsulateDecapsulate)
            .send()
            .await,
        "UnsupportedOperationException",
    );
}

// ---------------------------------------------------------------------------
// Issue #21: client errors answer HTTP 400 as AWS KMS does; ARNs of another
// partition, region or account are refused; paging limits are checked.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_400_foreign_arns_and_bad_limits_are_refused() {
    let env = app_env();
    let kms = &env.kms;
    let missing = "11111111-2222-3333-4444-555555555555";
    let (code, msg, status) = aws_error(kms.describe_key().key_id(missing).send().await);
    assert_eq!(code, "NotFoundException", "{msg}");
    assert_eq!(status, 400, "AWS answers 400 for NotFoundException: {msg}");

    let id = create_symmetric(kms).await;
    // This server's own ARN works.
    encrypt(kms, &key_arn(&id), b"x", &ctx(&[])).await;
    for arn in [
        format!("arn:aws-cn:kms:cn-north-9:999999999999:key/{id}"),
        format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{id}"),
        format!("arn:aws:kms:{REGION}:999999999999:key/{id}"),
    ] {
        let r = kms
            .encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await;
        let (code, msg, status) = aws_error(r);
        assert_eq!(code, "ValidationException", "{arn}: {msg}");
        assert_eq!(status, 400);
        assert!(msg.contains("this server"), "{msg}");
    }
    for limit in [0, 1001] {
        let (code, msg, status) = aws_error(kms.list_keys().limit(limit).send().await);
        assert_eq!(
            (code.as_str(), status),
            ("ValidationException", 400),
            "{msg}"
        );
        assert!(msg.contains("1 to 1000"), "{msg}");
    }
    kms.list_keys().limit(1000).send().await.unwrap();
}
