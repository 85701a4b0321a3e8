//! Drives the native `/v1` API's request-body parsing: every handler's
//! request type deserialized with `serde_json::from_slice` (what the
//! `strongroom::api::extract::ApiJson` extractor does through axum's `Json`),
//! then the checks a handler runs before it reaches the engine:
//! `strongroom::api::b64::B64::decode` (every base64 field),
//! `strongroom::policy::Policy::validate_custom` (PUT policy),
//! `strongroom::crypto::spec::KeySpec::parse` and
//! `strongroom::aws::ops::spec_from_aws` (create key).
//!
//! Input: first byte selects the body type (index into BODIES below, modulo
//! its length), the rest is the body.
//!
//! Invariants: nothing panics; a base64 field that decodes re-encodes to
//! itself (only canonical base64 is accepted); a valid policy survives the
//! JSON round trip the storage does; request types kept for dual-control
//! replay (serialized, later deserialized) round-trip.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use strongroom::api::b64::B64;
use strongroom::api::{admin, backup, crypto, dev, kem, keys, lifecycle, rotation, sys};
use strongroom::crypto::context::EncryptionContext;
use strongroom::crypto::spec::KeySpec;
use strongroom::keys::engine::{CreateKey, UpdateKey};
use strongroom::policy::Policy;

fn de<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match serde_json::from_slice::<T>(body) {
        Ok(v) => Some(v),
        Err(e) => {
            let _ = e.to_string();
            None
        }
    }
}

/// Types serialized into an approval request and deserialized when it is
/// replayed: the replay must see the same request.
fn replayable<T: DeserializeOwned + Serialize>(body: &[u8]) {
    if let Some(v) = de::<T>(body) {
        let once = serde_json::to_value(&v).expect("serialize request");
        let back: T = serde_json::from_value(once.clone()).expect("replayed request parses");
        assert_eq!(serde_json::to_value(&back).expect("serialize"), once);
    }
}

fn b64(body: &[u8]) {
    let Some(v) = de::<B64>(body) else { return };
    let Ok(s) = serde_json::from_slice::<String>(body) else {
        panic!("B64 parsed but String did not");
    };
    match v.decode("field") {
        Ok(bytes) => {
            assert_eq!(STANDARD.encode(&bytes), s, "non-canonical base64 accepted");
            let secret = v
                .decode_secret("field")
                .expect("decode_secret agrees with decode");
            assert_eq!(secret.expose(), &bytes[..]);
        }
        Err(e) => {
            assert!(v.decode_secret("field").is_err());
            let _ = e.to_string();
        }
    }
}

fn policy(body: &[u8]) {
    let Some(p) = de::<Policy>(body) else { return };
    if p.validate_custom().is_ok() {
        let json = serde_json::to_string(&p).expect("serialize policy");
        match Policy::from_json(&json) {
            Ok(q) => assert_eq!(p, q, "policy changes through its JSON form"),
            Err(e) => panic!("a valid policy does not reload: {e}"),
        }
    }
}

fn create_key(body: &[u8]) {
    let Some(r) = de::<CreateKey>(body) else {
        return;
    };
    if let Some(s) = r.spec.as_deref() {
        if let Some(k) = KeySpec::parse(s) {
            assert_eq!(k.name(), s);
        } else if let Some(k) = strongroom::aws::ops::spec_from_aws(s) {
            assert_eq!(strongroom::aws::ops::spec_to_aws(k), s);
        }
    }
}

type Body = fn(&[u8]);

const BODIES: &[Body] = &[
    |b| drop(de::<crypto::EncryptReq>(b)),
    |b| drop(de::<crypto::DecryptReq>(b)),
    |b| drop(de::<crypto::ReencryptReq>(b)),
    |b| drop(de::<crypto::DataKeyReq>(b)),
    |b| drop(de::<crypto::RandomReq>(b)),
    |b| drop(de::<crypto::SignReq>(b)),
    |b| drop(de::<crypto::VerifyReq>(b)),
    |b| drop(de::<crypto::MacReq>(b)),
    |b| drop(de::<crypto::VerifyMacReq>(b)),
    |b| drop(de::<crypto::KeyOnly>(b)),
    |b| drop(de::<crypto::BatchEncryptReq>(b)),
    |b| drop(de::<crypto::BatchDecryptReq>(b)),
    |b| drop(de::<kem::EncapsulateReq>(b)),
    |b| drop(de::<kem::DecapsulateReq>(b)),
    create_key,
    |b| drop(de::<UpdateKey>(b)),
    replayable::<keys::KeyRef>,
    replayable::<keys::KeyVersion>,
    replayable::<keys::ScheduleDeletion>,
    |b| drop(de::<keys::CreateAlias>(b)),
    replayable::<admin::CreateIdentity>,
    |b| drop(de::<admin::NameReq>(b)),
    replayable::<admin::SetGrants>,
    |b| drop(de::<admin::CreateToken>(b)),
    |b| drop(de::<admin::RevokeToken>(b)),
    |b| drop(de::<admin::IdentityReq>(b)),
    |b| drop(de::<admin::AccessKeyReq>(b)),
    policy,
    |b| drop(de::<admin::ExplainReq>(b)),
    |b| drop(de::<admin::ApprovalReq>(b)),
    |b| drop(de::<lifecycle::CompromiseReq>(b)),
    |b| drop(de::<rotation::RotationPolicy>(b)),
    |b| drop(de::<dev::AdvanceReq>(b)),
    |b| drop(de::<backup::DrillReq>(b)),
    |b| drop(de::<sys::InitRequest>(b)),
    |b| drop(de::<sys::UnsealRequest>(b)),
    |b| drop(de::<sys::RekeyRequest>(b)),
    |b| drop(de::<sys::GenerateRootRequest>(b)),
    // Field types shared by the bodies above.
    b64,
    |b| drop(de::<EncryptionContext>(b)),
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    BODIES[usize::from(sel) % BODIES.len()](body);
});
