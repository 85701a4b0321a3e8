//! Wycheproof vectors run through Strongroom's own crypto wrappers
//! (`strongroom::crypto::material`), not through aws-lc-rs directly, so that a
//! wrapper bug (wrong algorithm constant, wrong encoding, a lenient length
//! check) shows up here.
//!
//! Rules applied in every family:
//! * `Valid` vectors must be accepted, `Invalid` vectors must be rejected.
//! * `Acceptable` vectors may go either way; they are counted, never failed.
//! * Vectors whose parameters Strongroom does not expose (other curves,
//!   hashes, key/IV/tag sizes, ...) are counted as skipped, with a reason.
//! * Each family asserts a minimum number of vectors actually checked, so a
//!   renamed or emptied test set cannot make the test pass vacuously.
//! * Mismatches are collected (set, tcId, comment) and reported together.
//!
//! Only Wycheproof's public test data is ever printed, and never key bytes.

use std::collections::BTreeMap;

use strongroom::crypto::material::{
    rsa_oaep_encrypt, verify, CryptoError, EcdsaEncoding, LoadedKey,
};
use strongroom::crypto::spec::{KeySpec, MessageType, SigningAlgorithm};
use strongroom::crypto::SecretBytes;
use wycheproof::{HashFunction, Mgf, TestResult};

/// Counts for one algorithm family.
struct Tally {
    family: &'static str,
    checked: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    skipped: BTreeMap<String, usize>,
    /// Vectors checked, per Wycheproof test set.
    per_set: BTreeMap<String, usize>,
    /// `Acceptable` vectors and what Strongroom did with them.
    acceptable: Vec<String>,
    /// Extra, family-specific counts worth printing.
    notes: BTreeMap<String, usize>,
    mismatches: Vec<String>,
}

impl Tally {
    fn new(family: &'static str) -> Self {
        Tally {
            family,
            checked: 0,
            acceptable_accepted: 0,
            acceptable_rejected: 0,
            skipped: BTreeMap::new(),
            per_set: BTreeMap::new(),
            acceptable: Vec::new(),
            notes: BTreeMap::new(),
            mismatches: Vec::new(),
        }
    }

    fn skip(&mut self, reason: impl Into<String>, n: usize) {
        *self.skipped.entry(reason.into()).or_insert(0) += n;
    }

    fn note(&mut self, what: impl Into<String>) {
        *self.notes.entry(what.into()).or_insert(0) += 1;
    }

    /// Counts one checked vector of `set`.
    fn count(&mut self, set: &str) {
        self.checked += 1;
        *self.per_set.entry(set.to_owned()).or_insert(0) += 1;
    }

    fn mismatch(&mut self, set: &str, tc_id: usize, comment: &str, detail: impl AsRef<str>) {
        self.mismatches.push(format!(
            "{set} tcId {tc_id} ({comment:?}): {}",
            detail.as_ref()
        ));
    }

    /// Records a verify-style outcome: `accepted` is whether Strongroom
    /// accepted the vector (signature verified, ciphertext opened, ...).
    fn record(
        &mut self,
        set: &str,
        tc_id: usize,
        comment: &str,
        expected: TestResult,
        accepted: bool,
    ) {
        self.count(set);
        match (expected, accepted) {
            (TestResult::Valid, true) | (TestResult::Invalid, false) => {}
            (TestResult::Acceptable, _) => {
                if accepted {
                    self.acceptable_accepted += 1;
                } else {
                    self.acceptable_rejected += 1;
                }
                self.acceptable.push(format!(
                    "{set} tcId {tc_id} ({comment:?}): {}",
                    if accepted { "accepted" } else { "rejected" }
                ));
            }
            (TestResult::Valid, false) => self.mismatch(set, tc_id, comment, "valid but rejected"),
            (TestResult::Invalid, true) => {
                self.mismatch(set, tc_id, comment, "invalid but accepted")
            }
        }
    }

    fn finish(self, min_checked: usize) {
        let skipped_total: usize = self.skipped.values().sum();
        println!(
            "[wycheproof:{}] checked={} skipped={} acceptable={} (accepted {}, rejected {}) mismatches={}",
            self.family,
            self.checked,
            skipped_total,
            self.acceptable_accepted + self.acceptable_rejected,
            self.acceptable_accepted,
            self.acceptable_rejected,
            self.mismatches.len(),
        );
        for (set, n) in &self.per_set {
            println!("[wycheproof:{}]   checked {n:>5}: {set}", self.family);
        }
        for (what, n) in &self.notes {
            println!("[wycheproof:{}]   note    {n:>5}: {what}", self.family);
        }
        for a in &self.acceptable {
            println!("[wycheproof:{}]   acceptable: {a}", self.family);
        }
        for (reason, n) in &self.skipped {
            println!("[wycheproof:{}]   skipped {n:>5}: {reason}", self.family);
        }
        assert!(
            self.mismatches.is_empty(),
            "{}: {} mismatch(es):\n  {}",
            self.family,
            self.mismatches.len(),
            self.mismatches.join("\n  ")
        );
        assert!(
            self.checked >= min_checked,
            "{}: only {} vectors checked, expected at least {min_checked}",
            self.family,
            self.checked
        );
    }
}

fn hash_len(h: HashFunction) -> Option<usize> {
    match h {
        HashFunction::Sha2_256 => Some(32),
        HashFunction::Sha2_384 => Some(48),
        HashFunction::Sha2_512 => Some(64),
        _ => None,
    }
}

fn rsa_spec(key_size: usize) -> Option<KeySpec> {
    match key_size {
        2048 => Some(KeySpec::Rsa2048),
        3072 => Some(KeySpec::Rsa3072),
        4096 => Some(KeySpec::Rsa4096),
        _ => None,
    }
}

fn verify_raw(
    spec: KeySpec,
    alg: SigningAlgorithm,
    enc: EcdsaEncoding,
    public_key: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> Result<bool, CryptoError> {
    verify(spec, alg, enc, public_key, MessageType::Raw, msg, sig)
}

/// One signature vector and the Strongroom parameters to check it under.
struct SigCase<'a> {
    set: &'a str,
    tc_id: usize,
    comment: &'a str,
    expected: TestResult,
    spec: KeySpec,
    alg: SigningAlgorithm,
    enc: EcdsaEncoding,
    /// Public-key encodings to try, e.g. `("spki", der)`; all must agree.
    keys: &'a [(&'a str, &'a [u8])],
    msg: &'a [u8],
    sig: &'a [u8],
}

impl Tally {
    /// Verifies `c` through `strongroom::crypto::material::verify` with every
    /// public-key form given and, when the algorithm has a digest, also as a
    /// DIGEST-type message (the vector's message hashed here). All outcomes
    /// must be `Ok` and agree; the common outcome is then recorded.
    fn check_signature(&mut self, c: &SigCase<'_>) {
        let mut outcomes: Vec<(String, Result<bool, CryptoError>)> = Vec::new();
        for (form, pk) in c.keys {
            let r = verify_raw(c.spec, c.alg, c.enc, pk, c.msg, c.sig);
            outcomes.push((format!("raw/{form}"), r));
        }
        if let (Some(d), Some((form, pk))) = (c.alg.digest(), c.keys.first()) {
            let digest = aws_lc_rs::digest::digest(d, c.msg);
            let r = verify(
                c.spec,
                c.alg,
                c.enc,
                pk,
                MessageType::Digest,
                digest.as_ref(),
                c.sig,
            );
            outcomes.push((format!("digest/{form}"), r));
        }
        let first = match outcomes.first() {
            Some((_, Ok(b))) => Some(*b),
            _ => None,
        };
        match first {
            Some(accepted) if outcomes.iter().all(|(_, r)| *r == Ok(accepted)) => {
                if outcomes.len() > 1 {
                    self.note(format!(
                        "vectors whose {} outcomes all agreed",
                        outcomes
                            .iter()
                            .map(|(f, _)| f.as_str())
                            .collect::<Vec<_>>()
                            .join(" + ")
                    ));
                }
                self.record(c.set, c.tc_id, c.comment, c.expected, accepted);
            }
            _ => {
                self.count(c.set);
                self.mismatch(
                    c.set,
                    c.tc_id,
                    c.comment,
                    format!("inconsistent or failed verification: {outcomes:?}"),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// AES-256-GCM (decryption direction only: Strongroom never takes a caller nonce)
// ---------------------------------------------------------------------------

#[test]
fn aes_256_gcm() {
    let mut t = Tally::new("aes-256-gcm");
    let name = wycheproof::aead::TestName::AesGcm;
    let set = wycheproof::aead::TestSet::load(name).expect("load aes_gcm vectors");
    let set_name = format!("{name:?}");
    for g in &set.test_groups {
        if g.key_size != 256 || g.nonce_size != 96 || g.tag_size != 128 {
            t.skip(
                format!(
                    "AES-GCM key={} iv={} tag={} (not exposed)",
                    g.key_size, g.nonce_size, g.tag_size
                ),
                g.tests.len(),
            );
            if g.key_size != 256 {
                // The one thing Strongroom can say about these: the key is
                // refused rather than silently used as something else.
                for tc in &g.tests {
                    match LoadedKey::load(KeySpec::Aes256Gcm, &SecretBytes::from_slice(&tc.key)) {
                        Err(_) => t.note(format!(
                            "skipped AES-{} keys refused by LoadedKey::load as required",
                            g.key_size
                        )),
                        Ok(_) => t.mismatch(
                            &set_name,
                            tc.tc_id,
                            &tc.comment,
                            format!("AES-{} key accepted as AES_256_GCM", g.key_size),
                        ),
                    }
                }
            }
            continue;
        }
        for tc in &g.tests {
            let key = LoadedKey::load(KeySpec::Aes256Gcm, &SecretBytes::from_slice(&tc.key))
                .expect("a 32-byte AES key must load");
            let mut sealed = Vec::with_capacity(tc.nonce.len() + tc.ct.len() + tc.tag.len());
            sealed.extend_from_slice(&tc.nonce);
            sealed.extend_from_slice(&tc.ct);
            sealed.extend_from_slice(&tc.tag);
            let accepted = match key.aes_open(&tc.aad, &sealed) {
                Ok(pt) if pt.expose() == tc.pt.as_slice() => true,
                Ok(_) => {
                    t.mismatch(
                        &set_name,
                        tc.tc_id,
                        &tc.comment,
                        "opened to wrong plaintext",
                    );
                    t.count(&set_name);
                    continue;
                }
                Err(_) => false,
            };
            t.record(&set_name, tc.tc_id, &tc.comment, tc.result, accepted);
        }
    }
    t.finish(60);
}

// ---------------------------------------------------------------------------
// HMAC-SHA-256/384/512
// ---------------------------------------------------------------------------

#[test]
fn hmac_sha2() {
    use wycheproof::mac::{TestName, TestSet};
    let mut t = Tally::new("hmac-sha2");
    for name in TestName::all() {
        let (spec, full_bits) = match name {
            TestName::HmacSha256 => (KeySpec::HmacSha256, 256),
            TestName::HmacSha384 => (KeySpec::HmacSha384, 384),
            TestName::HmacSha512 => (KeySpec::HmacSha512, 512),
            other => {
                let n = TestSet::load(other)
                    .map(|s| s.number_of_tests)
                    .expect("load mac vectors");
                t.skip(format!("{other:?} (not exposed)"), n);
                continue;
            }
        };
        let set = TestSet::load(name).expect("load hmac vectors");
        let set_name = format!("{name:?}");
        for g in &set.test_groups {
            let full = g.tag_size == full_bits;
            for tc in &g.tests {
                let key = LoadedKey::load(spec, &SecretBytes::from_slice(&tc.key))
                    .expect("an HMAC key of any length must load");
                let ok = key.hmac_verify(&tc.msg, &tc.tag).expect("hmac_verify");
                if !full {
                    // Strongroom only accepts full-length tags: a truncated
                    // tag (even a correct prefix) must never verify.
                    t.count(&set_name);
                    if ok {
                        t.mismatch(
                            &set_name,
                            tc.tc_id,
                            &tc.comment,
                            format!("truncated {}-bit tag accepted", g.tag_size),
                        );
                    } else {
                        t.note(format!(
                            "truncated-tag vectors rejected as required ({:?})",
                            tc.result
                        ));
                    }
                    continue;
                }
                let signed = key.hmac_sign(&tc.msg).expect("hmac_sign");
                let same = signed.as_slice() == tc.tag.as_slice();
                match tc.result {
                    TestResult::Valid if !same => t.mismatch(
                        &set_name,
                        tc.tc_id,
                        &tc.comment,
                        "hmac_sign differs from tag",
                    ),
                    TestResult::Invalid if same => t.mismatch(
                        &set_name,
                        tc.tc_id,
                        &tc.comment,
                        "hmac_sign equals an invalid tag",
                    ),
                    _ => {}
                }
                t.record(&set_name, tc.tc_id, &tc.comment, tc.result, ok);
            }
        }
    }
    t.finish(500);
}

// ---------------------------------------------------------------------------
// ECDSA (DER and P1363)
// ---------------------------------------------------------------------------

fn ecdsa_params(
    curve: wycheproof::EllipticCurve,
    hash: HashFunction,
) -> Option<(KeySpec, SigningAlgorithm)> {
    use wycheproof::EllipticCurve as C;
    match (curve, hash) {
        (C::Secp256r1, HashFunction::Sha2_256) => {
            Some((KeySpec::EccNistP256, SigningAlgorithm::EcdsaSha256))
        }
        (C::Secp384r1, HashFunction::Sha2_384) => {
            Some((KeySpec::EccNistP384, SigningAlgorithm::EcdsaSha384))
        }
        (C::Secp521r1, HashFunction::Sha2_512) => {
            Some((KeySpec::EccNistP521, SigningAlgorithm::EcdsaSha512))
        }
        _ => None,
    }
}

/// Runs every ECDSA test set whose groups have the given encoding. Each vector
/// is verified twice, once with the uncompressed SEC1 point and once with the
/// SubjectPublicKeyInfo DER (aws-lc-rs accepts both); both must agree with
/// the expected result.
fn ecdsa_family(family: &'static str, enc: EcdsaEncoding, min_checked: usize) {
    use wycheproof::ecdsa::{TestGroupTypeId, TestName, TestSet};
    let mut t = Tally::new(family);
    for name in TestName::all() {
        let set = TestSet::load(name).expect("load ecdsa vectors");
        let set_name = format!("{name:?}");
        for g in &set.test_groups {
            let group_enc = match g.test_type {
                TestGroupTypeId::Ecdsa => EcdsaEncoding::Der,
                TestGroupTypeId::EcdsaP1363 => EcdsaEncoding::P1363,
                TestGroupTypeId::EcdsaBitcoin => {
                    // DER-encoded, so counted once, by the DER family.
                    if enc == EcdsaEncoding::Der {
                        t.skip("bitcoin (low-s) ECDSA variant (not exposed)", g.tests.len());
                    }
                    continue;
                }
            };
            if group_enc != enc {
                // Counted by the other encoding's test.
                continue;
            }
            let Some((spec, alg)) = ecdsa_params(g.key.curve, g.hash) else {
                t.skip(
                    format!("{:?} with {:?} (not exposed)", g.key.curve, g.hash),
                    g.tests.len(),
                );
                continue;
            };
            for tc in &g.tests {
                t.check_signature(&SigCase {
                    set: &set_name,
                    tc_id: tc.tc_id,
                    comment: &tc.comment,
                    expected: tc.result,
                    spec,
                    alg,
                    enc,
                    keys: &[("sec1-point", &g.key.key), ("spki", &g.der)],
                    msg: &tc.msg,
                    sig: &tc.sig,
                });
            }
        }
    }
    t.finish(min_checked);
}

#[test]
fn ecdsa_der() {
    ecdsa_family("ecdsa-der", EcdsaEncoding::Der, 1400);
}

#[test]
fn ecdsa_p1363() {
    ecdsa_family("ecdsa-p1363", EcdsaEncoding::P1363, 1500);
}

// ---------------------------------------------------------------------------
// Ed25519
// ---------------------------------------------------------------------------

#[test]
fn ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    let mut t = Tally::new("ed25519");
    for name in TestName::all() {
        let set = TestSet::load(name).expect("load eddsa vectors");
        let set_name = format!("{name:?}");
        if name != TestName::Ed25519 {
            t.skip(format!("{name:?} (not exposed)"), set.number_of_tests);
            continue;
        }
        for g in &set.test_groups {
            for tc in &g.tests {
                // Raw 32-byte key and SPKI DER must give the same answer.
                // (Ed25519 has no DIGEST mode; `EcdsaEncoding` is ignored.)
                t.check_signature(&SigCase {
                    set: &set_name,
                    tc_id: tc.tc_id,
                    comment: &tc.comment,
                    expected: tc.result,
                    spec: KeySpec::Ed25519,
                    alg: SigningAlgorithm::Ed25519,
                    enc: EcdsaEncoding::Der,
                    keys: &[("raw", &g.key.pk), ("spki", &g.der)],
                    msg: &tc.msg,
                    sig: &tc.sig,
                });
            }
        }
    }
    t.finish(140);
}

// ---------------------------------------------------------------------------
// RSA signatures
// ---------------------------------------------------------------------------

#[test]
fn rsa_pkcs1v15() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let mut t = Tally::new("rsa-pkcs1v15");
    for name in TestName::all() {
        let set = TestSet::load(name).expect("load rsa pkcs1 vectors");
        let set_name = format!("{name:?}");
        for g in &set.test_groups {
            let alg = match g.hash {
                HashFunction::Sha2_256 => SigningAlgorithm::RsassaPkcs1V15Sha256,
                HashFunction::Sha2_384 => SigningAlgorithm::RsassaPkcs1V15Sha384,
                HashFunction::Sha2_512 => SigningAlgorithm::RsassaPkcs1V15Sha512,
                other => {
                    t.skip(format!("{other:?} (not exposed)"), g.tests.len());
                    continue;
                }
            };
            let Some(spec) = rsa_spec(g.key_size) else {
                t.skip(format!("RSA-{} (not exposed)", g.key_size), g.tests.len());
                continue;
            };
            for tc in &g.tests {
                t.check_signature(&SigCase {
                    set: &set_name,
                    tc_id: tc.tc_id,
                    comment: &tc.comment,
                    expected: tc.result,
                    spec,
                    alg,
                    enc: EcdsaEncoding::Der,
                    keys: &[("spki", &g.der), ("pkcs1", &g.asn_key)],
                    msg: &tc.msg,
                    sig: &tc.sig,
                });
            }
        }
    }
    t.finish(2200);
}

#[test]
fn rsa_pss() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let mut t = Tally::new("rsa-pss");
    for name in TestName::all() {
        let set = TestSet::load(name).expect("load rsa pss vectors");
        let set_name = format!("{name:?}");
        for g in &set.test_groups {
            let alg = match g.hash {
                HashFunction::Sha2_256 => SigningAlgorithm::RsassaPssSha256,
                HashFunction::Sha2_384 => SigningAlgorithm::RsassaPssSha384,
                HashFunction::Sha2_512 => SigningAlgorithm::RsassaPssSha512,
                other => {
                    t.skip(format!("hash {other:?} (not exposed)"), g.tests.len());
                    continue;
                }
            };
            if g.mgf != Mgf::Mgf1 || g.mgf_hash != Some(g.hash) {
                t.skip(
                    format!(
                        "{:?} with MGF {:?}/{:?} (not exposed)",
                        g.hash, g.mgf, g.mgf_hash
                    ),
                    g.tests.len(),
                );
                continue;
            }
            let Some(spec) = rsa_spec(g.key_size) else {
                t.skip(format!("RSA-{} (not exposed)", g.key_size), g.tests.len());
                continue;
            };
            if Some(g.salt_size) != hash_len(g.hash) {
                t.skip(
                    format!(
                        "{:?} with salt length {} (not exposed)",
                        g.hash, g.salt_size
                    ),
                    g.tests.len(),
                );
                // Strongroom's PSS pins the salt length to the hash length, so
                // a signature made with any other salt length must not verify
                // (this would catch a switch to "auto" salt-length recovery).
                for tc in &g.tests {
                    if tc.result == TestResult::Invalid {
                        continue;
                    }
                    match verify_raw(spec, alg, EcdsaEncoding::Der, &g.der, &tc.msg, &tc.sig) {
                        Ok(false) => t.note(format!(
                            "skipped {:?}-salt-{} signatures re-checked: rejected as required",
                            g.hash, g.salt_size
                        )),
                        other => t.mismatch(
                            &set_name,
                            tc.tc_id,
                            &tc.comment,
                            format!("salt length {} signature gave {other:?}", g.salt_size),
                        ),
                    }
                }
                continue;
            }
            for tc in &g.tests {
                t.check_signature(&SigCase {
                    set: &set_name,
                    tc_id: tc.tc_id,
                    comment: &tc.comment,
                    expected: tc.result,
                    spec,
                    alg,
                    enc: EcdsaEncoding::Der,
                    keys: &[("spki", &g.der), ("pkcs1", &g.asn_key)],
                    msg: &tc.msg,
                    sig: &tc.sig,
                });
            }
        }
    }
    t.finish(1100);
}

// ---------------------------------------------------------------------------
// RSA-OAEP decryption (SHA-256 / MGF1-SHA-256 only)
// ---------------------------------------------------------------------------

#[test]
fn rsa_oaep() {
    use wycheproof::rsa_oaep::{TestName, TestSet};
    let mut t = Tally::new("rsa-oaep");
    for name in TestName::all() {
        let set = TestSet::load(name).expect("load rsa oaep vectors");
        let set_name = format!("{name:?}");
        for g in &set.test_groups {
            if g.hash != HashFunction::Sha2_256
                || g.mgf != Mgf::Mgf1
                || g.mgf_hash != HashFunction::Sha2_256
            {
                t.skip(
                    format!(
                        "{:?} with MGF {:?}/{:?} (not exposed)",
                        g.hash, g.mgf, g.mgf_hash
                    ),
                    g.tests.len(),
                );
                continue;
            }
            let Some(spec) = rsa_spec(g.key_size) else {
                t.skip(format!("RSA-{} (not exposed)", g.key_size), g.tests.len());
                continue;
            };
            let key = match LoadedKey::load(spec, &SecretBytes::from_slice(&g.pkcs8)) {
                Ok(k) => k,
                Err(e) => {
                    t.checked += g.tests.len();
                    *t.per_set.entry(set_name.clone()).or_insert(0) += g.tests.len();
                    t.mismatches.push(format!(
                        "{set_name}: RSA-{} PKCS#8 key failed to load ({e:?}); {} vectors not run",
                        g.key_size,
                        g.tests.len()
                    ));
                    continue;
                }
            };
            for tc in &g.tests {
                let accepted = match key.rsa_oaep_decrypt(&tc.ct, &tc.label) {
                    Ok(pt) if pt.expose() == tc.pt.as_slice() => true,
                    Ok(_) => {
                        t.count(&set_name);
                        t.mismatch(
                            &set_name,
                            tc.tc_id,
                            &tc.comment,
                            "decrypted to wrong plaintext",
                        );
                        continue;
                    }
                    Err(_) => false,
                };
                t.record(&set_name, tc.tc_id, &tc.comment, tc.result, accepted);
                if tc.result == TestResult::Valid {
                    // Also round-trip the vector's plaintext and label through
                    // Strongroom's encrypt direction with the same key pair.
                    let public_der = key.public_key_der().expect("RSA key has a public key");
                    let round_trip = rsa_oaep_encrypt(public_der, &tc.pt, &tc.label)
                        .and_then(|ct| key.rsa_oaep_decrypt(&ct, &tc.label));
                    match round_trip {
                        Ok(pt) if pt.expose() == tc.pt.as_slice() => {
                            t.note("valid vectors also round-tripped via rsa_oaep_encrypt")
                        }
                        other => t.mismatch(
                            &set_name,
                            tc.tc_id,
                            &tc.comment,
                            format!("encrypt/decrypt round trip failed: {:?}", other.err()),
                        ),
                    }
                }
            }
        }
    }
    t.finish(110);
}

// ---------------------------------------------------------------------------
// The harness itself: a mismatch or too few vectors must fail the test.
// ---------------------------------------------------------------------------

#[test]
#[should_panic(expected = "mismatch")]
fn harness_fails_on_mismatch() {
    let mut t = Tally::new("self-test");
    t.record(
        "SelfTest",
        1,
        "invalid vector accepted",
        TestResult::Invalid,
        true,
    );
    t.finish(0);
}

#[test]
#[should_panic(expected = "vectors checked")]
fn harness_fails_when_too_few_vectors_checked() {
    let mut t = Tally::new("self-test");
    t.record(
        "SelfTest",
        1,
        "valid vector accepted",
        TestResult::Valid,
        true,
    );
    t.finish(2);
}

// ---------------------------------------------------------------------------
// Post-quantum: ML-DSA (FIPS 204) and ML-KEM (FIPS 203), from wycheproof 0.7
// (the crate `wycheproof-pq`; 0.6 above has no ML-DSA or ML-KEM vectors).
// ---------------------------------------------------------------------------

/// wycheproof 0.7's result type as 0.6's, which `Tally` speaks.
fn pq_result(r: wycheproof_pq::TestResult) -> TestResult {
    match r {
        wycheproof_pq::TestResult::Valid => TestResult::Valid,
        wycheproof_pq::TestResult::Invalid => TestResult::Invalid,
        wycheproof_pq::TestResult::Acceptable => TestResult::Acceptable,
    }
}

fn ml_dsa_spec(name: &str) -> KeySpec {
    if name.contains("44") {
        KeySpec::MlDsa44
    } else if name.contains("65") {
        KeySpec::MlDsa65
    } else {
        KeySpec::MlDsa87
    }
}

fn ml_kem_spec(name: &str) -> KeySpec {
    if name.contains("512") {
        KeySpec::MlKem512
    } else if name.contains("768") {
        KeySpec::MlKem768
    } else {
        KeySpec::MlKem1024
    }
}

/// ML-DSA verification through `material::verify`, with the raw public key
/// and with the SubjectPublicKeyInfo Wycheproof gives (id-ml-dsa-*, RFC
/// 9881): both must agree, which also checks the SPKI form Strongroom
/// publishes is the standard one.
#[test]
fn ml_dsa_verify() {
    use wycheproof_pq::mldsa_verify::{TestName, TestSet};
    let mut t = Tally::new("ml-dsa-verify");
    for name in TestName::all() {
        let set = TestSet::load(name).expect("load ML-DSA verify vectors");
        let set_name = format!("{name:?}");
        let spec = ml_dsa_spec(&set_name);
        for g in &set.test_groups {
            for tc in &g.tests {
                if tc.ctx.as_ref().is_some_and(|c| !c.is_empty()) {
                    t.skip(
                        "a non-empty context string (Strongroom signs and verifies with the empty context, as AWS KMS)",
                        1,
                    );
                    continue;
                }
                let mut keys: Vec<(&str, &[u8])> = vec![("raw", g.pubkey.as_slice())];
                if !g.der.is_empty() {
                    keys.push(("spki", g.der.as_slice()));
                }
                t.check_signature(&SigCase {
                    set: &set_name,
                    tc_id: tc.tc_id,
                    comment: &tc.comment,
                    expected: pq_result(tc.result),
                    spec,
                    alg: SigningAlgorithm::MlDsaShake256,
                    enc: EcdsaEncoding::Der,
                    keys: &keys,
                    msg: &tc.msg,
                    sig: &tc.sig,
                });
            }
        }
    }
    t.finish(550);
}

/// ML-DSA private keys as BYOK imports them (`material::ml_dsa_import`:
/// seed, expanded key, PKCS#8), loaded as the engine loads them: the public
/// key must be the vector's, the vector's signature must verify with it, and
/// a fresh signature (aws-lc-rs signs hedged, so it differs from the
/// vector's) must verify under the vector's public key.
#[test]
fn ml_dsa_sign_and_key_import() {
    use wycheproof_pq::mldsa_sign::{TestName, TestSet};
    let mut t = Tally::new("ml-dsa-sign");
    for name in TestName::all() {
        let set = TestSet::load(name).expect("load ML-DSA sign vectors");
        let set_name = format!("{name:?}");
        let spec = ml_dsa_spec(&set_name);
        for g in &set.test_groups {
            // Every private-key form the group gives must yield the same key.
            let forms: Vec<(&str, &[u8])> = [
                ("seed", g.privseed.as_deref()),
                ("expanded", g.privkey.as_deref()),
                ("pkcs8", g.privkey_pkcs8.as_deref()),
            ]
            .into_iter()
            .filter_map(|(f, b)| b.map(|b| (f, b.as_slice())))
            .collect();
            for tc in &g.tests {
                let Some(msg) = tc.msg.as_deref() else {
                    t.skip(
                        "the internal interface (a given mu); Strongroom refuses EXTERNAL_MU",
                        1,
                    );
                    continue;
                };
                if tc.ctx.as_ref().is_some_and(|c| !c.is_empty()) {
                    t.skip("a non-empty context string", 1);
                    continue;
                }
                let mut accepted = !forms.is_empty();
                for (form, bytes) in &forms {
                    let ok = (|| -> Option<bool> {
                        let (stored, _) =
                            strongroom::crypto::material::ml_dsa_import(spec, bytes).ok()?;
                        let k = LoadedKey::load(spec, &stored).ok()?;
                        let spki = k.public_key_der()?.to_vec();
                        let alg = SigningAlgorithm::MlDsaShake256;
                        let theirs_ok =
                            verify_raw(spec, alg, EcdsaEncoding::Der, &spki, msg, &tc.sig).ok()?;
                        let ours = k.sign(alg, MessageType::Raw, msg).ok()?;
                        let ours_ok = match g.pubkey.as_deref() {
                            Some(pk) => {
                                spki.ends_with(pk)
                                    && verify_raw(spec, alg, EcdsaEncoding::Der, pk, msg, &ours)
                                        .ok()?
                            }
                            None => {
                                verify_raw(spec, alg, EcdsaEncoding::Der, &spki, msg, &ours).ok()?
                            }
                        };
                        Some(theirs_ok && ours_ok)
                    })()
                    .unwrap_or(false);
                    if !ok {
                        t.note(format!("rejected in form {form}"));
                    }
                    accepted &= ok;
                }
                t.record(
                    &set_name,
                    tc.tc_id,
                    &tc.comment,
                    pq_result(tc.result),
                    accepted,
                );
            }
        }
    }
    t.finish(300);
}

/// ML-KEM decapsulation keys (FIPS 203 expanded form, what Strongroom
/// stores) loaded with `LoadedKey::load`, ciphertexts through
/// `kem_decapsulate`: valid vectors must give the vector's shared secret,
/// invalid keys and ciphertexts must be refused.
#[test]
fn ml_kem_decapsulate() {
    use wycheproof_pq::mlkem::{TestName, TestSet};
    let mut t = Tally::new("ml-kem");
    for name in TestName::all() {
        let set = TestSet::load(name).expect("load ML-KEM vectors");
        let set_name = format!("{name:?}");
        let spec = ml_kem_spec(&set_name);
        for g in &set.test_groups {
            for tc in &g.tests {
                let expected = pq_result(tc.result);
                match (&tc.decaps_key, &tc.ct, &tc.shared_secret, &tc.encaps_key, &tc.msg) {
                    // Decapsulation: (dk, c) -> K.
                    (Some(dk), Some(c), Some(k), _, None) => {
                        let got = LoadedKey::load(spec, &SecretBytes::from_slice(dk))
                            .ok()
                            .and_then(|key| key.kem_decapsulate(c).ok());
                        let accepted = match (&got, expected) {
                            (Some(ss), TestResult::Valid) => ss.ct_eq(k),
                            (Some(_), _) => true,
                            (None, _) => false,
                        };
                        t.record(&set_name, tc.tc_id, &tc.comment, expected, accepted);
                    }
                    // Key generation from a seed gives (ek, dk): Strongroom
                    // cannot generate from a seed (aws-lc-rs 1.19 has no such
                    // call) but must load dk and publish exactly ek.
                    (Some(dk), None, None, Some(ek), None) => {
                        let accepted = LoadedKey::load(spec, &SecretBytes::from_slice(dk))
                            .ok()
                            .and_then(|key| {
                                let spki = key.public_key_der()?.to_vec();
                                strongroom::crypto::material::ml_kem_public_from_spki(spec, &spki).ok()
                            })
                            .is_some_and(|raw| raw == ek.as_slice());
                        t.record(&set_name, tc.tc_id, &tc.comment, expected, accepted);
                    }
                    // Encapsulation with caller randomness m: not exposed
                    // (encapsulation is always randomized), but the
                    // encapsulation key check (FIPS 203, 7.2) is: invalid
                    // keys must be refused, valid ones must encapsulate.
                    (None, _, _, Some(ek), Some(_)) => {
                        let accepted =
                            strongroom::crypto::material::ml_kem_encapsulate_raw(spec, ek).is_ok();
                        t.note("encapsulation-key checks (no fixed randomness)");
                        t.record(&set_name, tc.tc_id, &tc.comment, expected, accepted);
                    }
                    _ => t.skip(
                        "needs the decapsulation key from a seed (d, z): aws-lc-rs 1.19 does not generate ML-KEM keys from a given seed",
                        1,
                    ),
                }
            }
        }
    }
    t.finish(700);
}

/// The SPKI Strongroom publishes for ML-KEM keys starts with the exact
/// AlgorithmIdentifier bytes the CA/Browser Forum baseline requirements
/// (7.1.3.2.5) and draft-ietf-lamps-kyber-certificates give, and for ML-DSA
/// with the id-ml-dsa-* bytes of RFC 9881 (as in Wycheproof's publicKeyDer).
#[test]
fn published_public_keys_use_the_standard_algorithm_identifiers() {
    use strongroom::crypto::rng::SystemRng;
    for (spec, alg_id) in [
        (KeySpec::MlKem512, "300b0609608648016503040401"),
        (KeySpec::MlKem768, "300b0609608648016503040402"),
        (KeySpec::MlKem1024, "300b0609608648016503040403"),
        (KeySpec::MlDsa44, "300b0609608648016503040311"),
        (KeySpec::MlDsa65, "300b0609608648016503040312"),
        (KeySpec::MlDsa87, "300b0609608648016503040313"),
    ] {
        let m = strongroom::crypto::material::generate(spec, &SystemRng).expect("generate");
        let k = LoadedKey::load(spec, &m).expect("load");
        let der = k.public_key_der().expect("public key");
        let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
        // SEQUENCE (4-byte long-form length) then the AlgorithmIdentifier.
        assert_eq!(
            &hex[8..8 + alg_id.len()],
            alg_id,
            "{spec:?}: {}",
            &hex[..40]
        );
    }
}
