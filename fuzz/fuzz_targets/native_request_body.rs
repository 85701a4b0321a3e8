//! Drives the native `/v1` API's request-body parsing: every handler's
//! request type deserialized with `serde_json::from_slice` (what the
//! `strongroom_api::extract::ApiJson` extractor does through axum's `Json`),
//! then the checks a handler runs before it reaches the engine:
//! `strongroom_api::b64::B64::decode` (every base64 field),
//! `strongroom_engine::policy::Policy::validate_custom` (PUT policy),
//! `strongroom_core::crypto::spec::KeySpec::parse` and
//! `strongroom_aws::ops::spec_from_aws` (create key).
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
use strongroom_api::b64::B64;
use strongroom_api::{admin, backup, crypto, dev, kem, keys, lifecycle, rotation, sys};
use strongroom_core::crypto::context::EncryptionContext;
use strongroom_core::crypto::spec::KeySpec;
use strongroom_engine::keys::engine::{CreateKey, UpdateKey};
use strongroom_engine::policy::Policy;

fn de<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match serde_json::from_slice::<T>(body) {
        Ok(v) => Some(v),
        Err(e) => {
            let _ = e.to_string();
            None
        }
    }
}

/// Deserialization only: the handler's next step is the engine.
fn only<T: DeserializeOwned>(body: &[u8]) {
    let _ = de::<T>(body);
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
        } else if let Some(k) = strongroom_aws::ops::spec_from_aws(s) {
            assert_eq!(strongroom_aws::ops::spec_to_aws(k), s);
        }
    }
}

type Body = fn(&[u8]);

const BODIES: &[Body] = &[
    only::<crypto::EncryptReq>,
    only::<crypto::DecryptReq>,
    only::<crypto::ReencryptReq>,
    only::<crypto::DataKeyReq>,
    only::<crypto::RandomReq>,
    only::<crypto::SignReq>,
    only::<crypto::VerifyReq>,
    only::<crypto::MacReq>,
    only::<crypto::VerifyMacReq>,
    only::<crypto::KeyOnly>,
    only::<crypto::BatchEncryptReq>,
    only::<crypto::BatchDecryptReq>,
    only::<kem::EncapsulateReq>,
    only::<kem::DecapsulateReq>,
    create_key,
    only::<UpdateKey>,
    replayable::<keys::KeyRef>,
    replayable::<keys::KeyVersion>,
    replayable::<keys::ScheduleDeletion>,
    only::<keys::CreateAlias>,
    replayable::<admin::CreateIdentity>,
    only::<admin::NameReq>,
    replayable::<admin::SetGrants>,
    only::<admin::CreateToken>,
    only::<admin::RevokeToken>,
    only::<admin::IdentityReq>,
    only::<admin::AccessKeyReq>,
    policy,
    only::<admin::ExplainReq>,
    only::<admin::ApprovalReq>,
    only::<lifecycle::CompromiseReq>,
    only::<rotation::RotationPolicy>,
    only::<dev::AdvanceReq>,
    only::<backup::DrillReq>,
    only::<sys::InitRequest>,
    only::<sys::UnsealRequest>,
    only::<sys::RekeyRequest>,
    only::<sys::GenerateRootRequest>,
    // Field types shared by the bodies above.
    b64,
    only::<EncryptionContext>,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    BODIES[usize::from(sel) % BODIES.len()](body);
});
