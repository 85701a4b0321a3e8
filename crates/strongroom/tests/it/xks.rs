//! The AWS XKS proxy API (docs/XKS.md) against a real `strongroom server
//! --dev` with `STRONGROOM_XKS_PATH_PREFIX` / `STRONGROOM_XKS_KEYS`, every
//! request signed by curl's own SigV4 signer (`--aws-sigv4
//! aws:amz:REGION:kms-xks-proxy`) with access keys from the identity
//! registry.

use std::process::Command;

use aws_lc_rs::digest;
use base64::Engine as _;
use serde_json::{json, Value};
use strongroom_testkit::Server;

const BIN: &str = env!("CARGO_BIN_EXE_strongroom");
const PREFIX: &str = "/tenant-a";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_else(|| panic!("not a string: {v}")))
        .unwrap()
}

#[track_caller]
fn ok2xx(what: &str, (status, v): (u16, Value)) -> Value {
    assert!((200..300).contains(&status), "{what}: HTTP {status}: {v}");
    v
}

/// A signed XKS request through curl; (status, JSON body).
fn curl(
    s: &Server,
    method: &str,
    service: &str,
    cred: &(String, String),
    path: &str,
    body: &str,
) -> (u16, Value) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-X",
            method,
            "--aws-sigv4",
            &format!("aws:amz:us-east-1:{service}"),
            "--user",
            &format!("{}:{}", cred.0, cred.1),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
            "-w",
            "\n%{http_code}",
            &format!("{}{path}", s.addr),
        ])
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    let v = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    (code.trim().parse().unwrap(), v)
}

fn xks(s: &Server, cred: &(String, String), path: &str, body: &Value) -> (u16, Value) {
    curl(
        s,
        "POST",
        "kms-xks-proxy",
        cred,
        &format!("{PREFIX}/kms/xks/v1{path}"),
        &body.to_string(),
    )
}

#[track_caller]
fn expect_err((status, v): (u16, Value), code: u16, name: &str) -> String {
    assert_eq!(status, code, "{v}");
    assert_eq!(v["errorName"], name, "{v}");
    let m = v["errorMessage"].as_str().unwrap_or_default().to_string();
    assert!(!m.is_empty() && m.len() < 512, "{v}");
    m
}

fn meta(op: &str, req_id: &str) -> Value {
    json!({
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": op,
        "kmsRequestId": req_id,
        "kmsViaService": "ebs"
    })
}

/// An identity allowed `actions` on every key, and an access key for it.
fn identity(s: &Server, name: &str, actions: &[&str]) -> (String, String) {
    let policy = format!("{name}-policy");
    ok2xx(
        "policy",
        s.post(
            "/v1/policies",
            &json!({ "name": policy, "statements": [{ "effect": "Allow", "actions": actions, "resources": ["*"] }] }),
        ),
    );
    ok2xx(
        "identity",
        s.post(
            "/v1/identities",
            &json!({ "name": name, "roles": [], "policies": [policy] }),
        ),
    );
    access_key(s, name)
}

fn access_key(s: &Server, name: &str) -> (String, String) {
    let v = ok2xx(
        "access key",
        s.post("/v1/access-keys", &json!({ "identity": name })),
    );
    (
        v["access_key_id"].as_str().unwrap().to_string(),
        v["secret_access_key"].as_str().unwrap().to_string(),
    )
}

/// A dev server serving XKS under PREFIX for `alias/xks-main` and
/// `alias/xks-off`, both created; returns the server, the main key's id and
/// an access key of identity `kms` (Encrypt, Decrypt, DescribeKey).
fn setup() -> (Server, String, (String, String)) {
    let s = Server::dev_with_env(
        BIN,
        &[
            ("STRONGROOM_XKS_PATH_PREFIX", PREFIX),
            (
                "STRONGROOM_XKS_KEYS",
                "alias/xks-main,alias/xks-off,alias/xks-missing",
            ),
        ],
    );
    let mut ids = Vec::new();
    for alias in ["alias/xks-main", "alias/xks-off"] {
        let id = ok2xx("key", s.post("/v1/keys", &json!({})))["id"]
            .as_str()
            .unwrap()
            .to_string();
        ok2xx(
            "alias",
            s.post("/v1/aliases", &json!({ "alias": alias, "key": id })),
        );
        ids.push(id);
    }
    ok2xx("disable", s.post("/v1/disable", &json!({ "key": ids[1] })));
    let cred = identity(
        &s,
        "kms",
        &["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
    );
    (s, ids[0].clone(), cred)
}

fn encrypt_body(pt: &[u8], aad: Option<&[u8]>, op: &str, req_id: &str) -> Value {
    let mut b = json!({
        "requestMetadata": meta(op, req_id),
        "plaintext": b64(pt),
        "encryptionAlgorithm": "AES_GCM",
        "ciphertextDataIntegrityValueAlgorithm": "SHA_256"
    });
    if let Some(a) = aad {
        b["additionalAuthenticatedData"] = b64(a).into();
    }
    b
}

fn decrypt_body(enc: &Value, aad: Option<&[u8]>) -> Value {
    let mut b = json!({
        "requestMetadata": meta("Decrypt", "dec-1"),
        "ciphertext": enc["ciphertext"],
        "ciphertextMetadata": enc["ciphertextMetadata"],
        "initializationVector": enc["initializationVector"],
        "authenticationTag": enc["authenticationTag"],
        "encryptionAlgorithm": "AES_GCM"
    });
    if let Some(a) = aad {
        b["additionalAuthenticatedData"] = b64(a).into();
    }
    b
}

#[test]
fn every_endpoint_round_trip_rotation_and_audit() {
    let (s, key_id, cred) = setup();

    let h = ok2xx(
        "health",
        xks(
            &s,
            &cred,
            "/health",
            &json!({ "requestMetadata": { "kmsRequestId": "h-1", "kmsOperation": "KmsHealthCheck" } }),
        ),
    );
    assert_eq!(h["ekmFleetDetails"][0]["healthStatus"], "ACTIVE", "{h}");
    for f in [
        "xksProxyFleetSize",
        "xksProxyVendor",
        "xksProxyModel",
        "ekmVendor",
    ] {
        assert!(!h[f].is_null(), "{f} missing: {h}");
    }

    let m = ok2xx(
        "metadata",
        xks(
            &s,
            &cred,
            "/keys/xks-main/metadata",
            &json!({ "requestMetadata": meta("CreateKey", "m-1") }),
        ),
    );
    assert_eq!(
        m,
        json!({ "keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED" })
    );

    let pt = b"a 32-byte data key, in XKS form!";
    let aad = b"project=nile,department=marketing";
    let enc = ok2xx(
        "encrypt",
        xks(
            &s,
            &cred,
            "/keys/xks-main/encrypt",
            &encrypt_body(pt, Some(aad), "GenerateDataKey", "kms-req-enc-4112f4d6"),
        ),
    );
    let (ct, md, iv, tag) = (
        unb64(&enc["ciphertext"]),
        unb64(&enc["ciphertextMetadata"]),
        unb64(&enc["initializationVector"]),
        unb64(&enc["authenticationTag"]),
    );
    assert_eq!(ct.len(), pt.len());
    assert_ne!(&ct[..], &pt[..]);
    assert_eq!(iv.len(), 12);
    assert_eq!(tag.len(), 16);
    assert_eq!(md, vec![1, 0, 0, 0, 1], "metadata carries version 1");
    // CDIV: SHA-256 over AAD || metadata || IV || ciphertext || tag.
    let mut whole = aad.to_vec();
    for p in [&md, &iv, &ct, &tag] {
        whole.extend_from_slice(p);
    }
    assert_eq!(
        unb64(&enc["ciphertextDataIntegrityValue"]),
        digest::digest(&digest::SHA256, &whole).as_ref()
    );

    let dec = ok2xx(
        "decrypt",
        xks(
            &s,
            &cred,
            "/keys/xks-main/decrypt",
            &decrypt_body(&enc, Some(aad)),
        ),
    );
    assert_eq!(unb64(&dec["plaintext"]), pt);

    // Without CDIV algorithm: no CDIV; without AAD: decrypts without AAD only.
    let mut b = encrypt_body(b"x", None, "Encrypt", "e-2");
    b.as_object_mut()
        .unwrap()
        .remove("ciphertextDataIntegrityValueAlgorithm");
    let enc2 = ok2xx(
        "encrypt no cdiv",
        xks(&s, &cred, "/keys/xks-main/encrypt", &b),
    );
    assert!(enc2.get("ciphertextDataIntegrityValue").is_none(), "{enc2}");
    ok2xx(
        "decrypt no aad",
        xks(
            &s,
            &cred,
            "/keys/xks-main/decrypt",
            &decrypt_body(&enc2, None),
        ),
    );
    // The metadata passed as AAD instead of as metadata does not decrypt.
    let mut moved = decrypt_body(&enc2, Some(&[1, 0, 0, 0, 1]));
    moved.as_object_mut().unwrap().remove("ciphertextMetadata");
    expect_err(
        xks(&s, &cred, "/keys/xks-main/decrypt", &moved),
        400,
        "InvalidCiphertextException",
    );

    // Wrong AAD, edited metadata, tag or ciphertext: InvalidCiphertextException.
    expect_err(
        xks(
            &s,
            &cred,
            "/keys/xks-main/decrypt",
            &decrypt_body(&enc, Some(b"project=other")),
        ),
        400,
        "InvalidCiphertextException",
    );
    let mut bad = decrypt_body(&enc, Some(aad));
    bad["ciphertextMetadata"] = b64(&[1, 0, 0, 0, 2]).into();
    expect_err(
        xks(&s, &cred, "/keys/xks-main/decrypt", &bad),
        400,
        "InvalidCiphertextException",
    );
    let mut bad = decrypt_body(&enc, Some(aad));
    let mut t = tag.clone();
    t[0] ^= 1;
    bad["authenticationTag"] = b64(&t).into();
    expect_err(
        xks(&s, &cred, "/keys/xks-main/decrypt", &bad),
        400,
        "InvalidCiphertextException",
    );

    // An unknown kmsOperation is never refused.
    ok2xx(
        "future op",
        xks(
            &s,
            &cred,
            "/keys/xks-main/encrypt",
            &encrypt_body(b"y", None, "BulkEncryptFromTheFuture", "e-3"),
        ),
    );

    // Rotation: new ciphertexts name version 2; version 1's still decrypt.
    ok2xx("rotate", s.post("/v1/rotate", &json!({ "key": key_id })));
    let enc3 = ok2xx(
        "encrypt v2",
        xks(
            &s,
            &cred,
            "/keys/xks-main/encrypt",
            &encrypt_body(pt, None, "Encrypt", "e-4"),
        ),
    );
    assert_eq!(unb64(&enc3["ciphertextMetadata"]), vec![1, 0, 0, 0, 2]);
    let dec = ok2xx(
        "decrypt v1 after rotation",
        xks(
            &s,
            &cred,
            "/keys/xks-main/decrypt",
            &decrypt_body(&enc, Some(aad)),
        ),
    );
    assert_eq!(unb64(&dec["plaintext"]), pt);

    // The audit record holds requestMetadata with kmsRequestId; never the plaintext.
    let audit = std::fs::read_to_string(s.dir.path().join("audit.jsonl")).unwrap();
    let line = audit
        .lines()
        .find(|l| l.contains("kms-req-enc-4112f4d6"))
        .unwrap_or_else(|| panic!("no audit record with the kmsRequestId:\n{audit}"));
    let rec: Value = serde_json::from_str(line).unwrap();
    let rec = &rec["event"];
    assert_eq!(rec["operation"], "kms:Encrypt", "{rec}");
    assert_eq!(rec["identity"], "kms", "{rec}");
    assert_eq!(rec["key_id"], key_id.as_str(), "{rec}");
    assert_eq!(rec["outcome"], "allowed", "{rec}");
    let detail = rec["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"kmsOperation\":\"GenerateDataKey\"")
            && detail.contains("arn:aws:iam::123456789012:user/Alice"),
        "{detail}"
    );
    assert!(
        !audit.contains(&b64(pt)) && !audit.contains("in XKS form"),
        "plaintext in the audit log"
    );
    let logs = s.logs();
    assert!(
        !logs.contains(&b64(pt)) && !logs.contains("in XKS form") && !logs.contains(&cred.1),
        "plaintext or secret in the server log"
    );
}

#[test]
fn errors_bad_input_disabled_key_denial_and_credentials() {
    let (s, _key_id, cred) = setup();
    let good = encrypt_body(b"hello", None, "Encrypt", "r-1");

    // GET (any method but POST): 405.
    let (st, _) = curl(
        &s,
        "GET",
        "kms-xks-proxy",
        &cred,
        &format!("{PREFIX}/kms/xks/v1/health"),
        "",
    );
    assert_eq!(st, 405);
    let (st, _) = curl(
        &s,
        "GET",
        "kms-xks-proxy",
        &cred,
        &format!("{PREFIX}/kms/xks/v1/keys/xks-main/metadata"),
        "",
    );
    assert_eq!(st, 405);

    // URI rules.
    expect_err(
        xks(&s, &cred, "/keys/xks-main/sign", &good),
        404,
        "InvalidUriPathException",
    );
    expect_err(
        xks(&s, &cred, "/keys/xks-main", &good),
        404,
        "InvalidUriPathException",
    );
    expect_err(
        xks(
            &s,
            &cred,
            &format!("/keys/{}/encrypt", "a".repeat(129)),
            &good,
        ),
        400,
        "ValidationException",
    );
    expect_err(
        xks(
            &s,
            &cred,
            &format!("/keys/{}/encrypt", "a".repeat(128)),
            &good,
        ),
        404,
        "KeyNotFoundException",
    );
    expect_err(
        xks(&s, &cred, "/keys/bad%24id/encrypt", &good),
        400,
        "ValidationException",
    );
    let long = format!("/keys/{}/encrypt", "b".repeat(128));
    let (st, v) = curl(
        &s,
        "POST",
        "kms-xks-proxy",
        &cred,
        &format!("{PREFIX}/{}/kms/xks/v1{long}", "p".repeat(100)),
        &good.to_string(),
    );
    assert_eq!(st, 404, "{v}");

    // Keys: not in xks_keys, in it but missing, disabled.
    expect_err(
        xks(&s, &cred, "/keys/other/encrypt", &good),
        404,
        "KeyNotFoundException",
    );
    expect_err(
        xks(&s, &cred, "/keys/xks-missing/encrypt", &good),
        404,
        "KeyNotFoundException",
    );
    let m = ok2xx(
        "metadata disabled",
        xks(
            &s,
            &cred,
            "/keys/xks-off/metadata",
            &json!({ "requestMetadata": meta("DescribeKey", "m-2") }),
        ),
    );
    assert_eq!(m["keyStatus"], "DISABLED", "{m}");
    expect_err(
        xks(&s, &cred, "/keys/xks-off/encrypt", &good),
        400,
        "InvalidStateException",
    );

    // Bodies.
    let (st, v) = curl(
        &s,
        "POST",
        "kms-xks-proxy",
        &cred,
        &format!("{PREFIX}/kms/xks/v1/keys/xks-main/encrypt"),
        "{not json",
    );
    assert_eq!(
        (st, v["errorName"].as_str()),
        (400, Some("ValidationException")),
        "{v}"
    );
    expect_err(
        xks(
            &s,
            &cred,
            "/keys/xks-main/encrypt",
            &json!({ "plaintext": "aGk=", "encryptionAlgorithm": "AES_GCM" }),
        ),
        400,
        "ValidationException",
    );
    let mut b = good.clone();
    b["plaintext"] = "***".into();
    let m = expect_err(
        xks(&s, &cred, "/keys/xks-main/encrypt", &b),
        400,
        "ValidationException",
    );
    assert!(m.contains("plaintext"), "{m}");
    let mut b = good.clone();
    b["encryptionAlgorithm"] = "RSAES_OAEP_SHA_256".into();
    expect_err(
        xks(&s, &cred, "/keys/xks-main/encrypt", &b),
        501,
        "UnsupportedOperationException",
    );
    let mut b = good.clone();
    b["ciphertextDataIntegrityValueAlgorithm"] = "MD5".into();
    expect_err(
        xks(&s, &cred, "/keys/xks-main/encrypt", &b),
        501,
        "UnsupportedOperationException",
    );
    let enc = ok2xx("encrypt", xks(&s, &cred, "/keys/xks-main/encrypt", &good));
    let mut b = decrypt_body(&enc, None);
    b["authenticationTag"] = b64(&[0; 12]).into();
    expect_err(
        xks(&s, &cred, "/keys/xks-main/decrypt", &b),
        400,
        "ValidationException",
    );
    let mut b = decrypt_body(&enc, None);
    b["ciphertextMetadata"] = b64(&[0; 21]).into();
    expect_err(
        xks(&s, &cred, "/keys/xks-main/decrypt", &b),
        400,
        "ValidationException",
    );

    // Policy: an identity allowed only DescribeKey may not encrypt.
    let reader = identity(&s, "reader", &["kms:DescribeKey"]);
    ok2xx(
        "reader metadata",
        xks(
            &s,
            &reader,
            "/keys/xks-main/metadata",
            &json!({ "requestMetadata": meta("DescribeKey", "m-3") }),
        ),
    );
    expect_err(
        xks(&s, &reader, "/keys/xks-main/encrypt", &good),
        403,
        "AccessDeniedException",
    );

    // Credentials: wrong secret, unknown key id, wrong service name, unsigned.
    expect_err(
        xks(
            &s,
            &(cred.0.clone(), "wrong-secret-wrong-secret-1234".into()),
            "/health",
            &json!({ "requestMetadata": meta("x", "y") }),
        ),
        401,
        "AuthenticationFailedException",
    );
    expect_err(
        xks(
            &s,
            &("AKIANOTAKEY000000000".into(), cred.1.clone()),
            "/health",
            &json!({ "requestMetadata": meta("x", "y") }),
        ),
        401,
        "AuthenticationFailedException",
    );
    expect_err(
        curl(
            &s,
            "POST",
            "kms",
            &cred,
            &format!("{PREFIX}/kms/xks/v1/health"),
            &good.to_string(),
        ),
        401,
        "AuthenticationFailedException",
    );
    let out = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            "--data-binary",
            "{}",
            "-w",
            "\n%{http_code}",
            &format!("{}{PREFIX}/kms/xks/v1/health", s.addr),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with("\n401"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Two credential sets at once (rotation), then the old one revoked.
    let second = access_key(&s, "kms");
    ok2xx("old key", xks(&s, &cred, "/keys/xks-main/encrypt", &good));
    ok2xx("new key", xks(&s, &second, "/keys/xks-main/encrypt", &good));
    ok2xx(
        "revoke",
        s.post(
            "/v1/access-keys/revoke",
            &json!({ "access_key_id": cred.0 }),
        ),
    );
    expect_err(
        xks(&s, &cred, "/keys/xks-main/encrypt", &good),
        401,
        "AuthenticationFailedException",
    );
    ok2xx(
        "new key after revoke",
        xks(&s, &second, "/keys/xks-main/encrypt", &good),
    );

    // A failed authentication is audited.
    let audit = std::fs::read_to_string(s.dir.path().join("audit.jsonl")).unwrap();
    // (the first failure from a source gets its own record; later ones are
    // counted into an aggregate one)
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"operation\":\"xks:health\"")
                && l.contains("AuthenticationFailedException")
                && l.contains("\"identity\":\"anonymous\"")),
        "no audited XKS auth failure:\n{audit}"
    );
}
