//! Transit's cryptographic paths: encrypt, decrypt, rewrap (with
//! `batch_input`), datakey, sign, verify, hmac, random, hash. Each item is
//! one call of the gate; key material comes from memory only.

use std::future::Future;

use axum::response::Response;
use serde_json::{json, Map, Value};

use strongroom_core::crypto::context::EncryptionContext;
use strongroom_core::crypto::spec::{KeySpec, MessageType};
use strongroom_core::error::Error;
use strongroom_service::gate::{Caller, Done, Kind};

use super::fields::{self, Fields};
use super::{alias_of, guarded, keys};
use crate::error::VaultError;
use crate::wire::{self, VaultRequest};
use crate::{authenticate, AppState};

/// The encryption-context entry `associated_data` is bound under.
pub const ASSOCIATED_DATA: &str = "vault:associated_data";

/// Ciphertexts, signatures and HMACs: `vault:v<version>:<base64>`.
pub fn format_versioned(version: u32, bytes: &[u8]) -> String {
    format!("vault:v{version}:{}", wire::b64(bytes))
}

/// Parses `vault:v<version>:<base64>`.
pub fn parse_versioned(field: &str, s: &str) -> Result<(u32, Vec<u8>), VaultError> {
    let bad = || {
        VaultError::bad_request(format!(
            "invalid {field}: expected vault:v<version>:<base64>, as encrypt, sign and hmac return it"
        ))
    };
    let rest = s.strip_prefix("vault:v").ok_or_else(bad)?;
    let (v, b) = rest.split_once(':').ok_or_else(bad)?;
    let version: u32 = v.parse().map_err(|_| bad())?;
    if version == 0 {
        return Err(bad());
    }
    Ok((version, wire::unb64(field, b)?))
}

fn context_of(item: &Fields) -> Result<EncryptionContext, VaultError> {
    if fields::string(item, "context")?.is_some_and(|c| !c.is_empty()) {
        return Err(VaultError::bad_request(
            "context is not supported: Strongroom does not derive per-context keys (derived=true is refused). Use associated_data to bind a ciphertext to its context",
        ));
    }
    if fields::string(item, "nonce")?.is_some_and(|c| !c.is_empty()) {
        return Err(VaultError::bad_request(
            "nonce is not supported: convergent encryption is not offered; the server makes every nonce",
        ));
    }
    let mut ctx = EncryptionContext::new();
    if let Some(ad) = fields::string(item, "associated_data")? {
        wire::unb64("associated_data", &ad)?;
        ctx.insert(ASSOCIATED_DATA.into(), ad);
    }
    Ok(ctx)
}

/// An error that ends the whole batch (not one item's fault).
fn fatal(e: &VaultError) -> bool {
    e.status == 403 || e.status == 429 || e.status >= 500 || e.approval_id.is_some()
}

/// Runs `one` for the request's single item or for each of `batch_input`,
/// and answers as Vault does: per-item `error`s, `reference` echoed, 400
/// when every item failed, `partial_failure_response_code` (default 400)
/// when some did.
async fn single_or_batch<F, Fut>(
    caller: &Caller,
    req: &VaultRequest,
    item_fields: &[&str],
    what: &str,
    failed_item: Value,
    mut one: F,
) -> Result<Response, VaultError>
where
    F: FnMut(Fields) -> Fut,
    Fut: Future<Output = Result<Value, VaultError>>,
{
    let Some(batch) = req.body.get("batch_input") else {
        let mut body = req.body.clone();
        body.remove("partial_failure_response_code");
        let data = one(body).await?;
        return Ok(wire::ok(&caller.request_id, data));
    };
    let items = batch.as_array().ok_or_else(|| {
        VaultError::bad_request(
            "batch_input must be a list of objects, e.g. [{\"plaintext\": \"...\"}]",
        )
    })?;
    if items.is_empty() {
        return Err(VaultError::bad_request(
            "batch_input is empty; send at least one item",
        ));
    }
    let partial = match fields::integer(&req.body, "partial_failure_response_code")? {
        None => 400,
        Some(c) if (200..=599).contains(&c) => c as u16,
        Some(c) => {
            return Err(VaultError::bad_request(format!(
                "partial_failure_response_code {c} is not an HTTP status code (200-599)"
            )))
        }
    };
    let mut results = Vec::with_capacity(items.len());
    let mut failed = 0usize;
    for item in items {
        let Value::Object(item) = item else {
            return Err(VaultError::bad_request(
                "every batch_input item must be an object",
            ));
        };
        fields::only(item, item_fields, what)?;
        let reference = item.get("reference").cloned().unwrap_or(json!(""));
        let mut item = item.clone();
        item.remove("reference");
        match one(item).await {
            Ok(mut v) => {
                v["reference"] = reference;
                results.push(v);
            }
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                failed += 1;
                let mut v = failed_item.clone();
                v["error"] = json!(e.message);
                v["reference"] = reference;
                results.push(v);
            }
        }
    }
    let status = if failed == 0 {
        200
    } else if failed == results.len() {
        400
    } else {
        partial
    };
    Ok(wire::json_response(
        status,
        &wire::envelope(&caller.request_id, json!({ "batch_results": results })),
    ))
}

/// Refuses a `key_version` other than the latest (Strongroom encrypts,
/// signs and MACs under the primary version only).
fn check_latest(asked: Option<u32>, latest: u32) -> Result<(), Error> {
    match asked {
        None | Some(0) => Ok(()),
        Some(v) if v == latest => Ok(()),
        Some(v) => Err(Error::InvalidArgument(format!(
            "key_version {v}: Strongroom encrypts, signs and MACs under the latest version ({latest}) only; omit key_version or send 0"
        ))),
    }
}

const ENCRYPT_ITEM: &[&str] = &[
    "plaintext",
    "context",
    "key_version",
    "nonce",
    "reference",
    "associated_data",
];
const ENCRYPT_FIELDS: &[&str] = &[
    "plaintext",
    "context",
    "key_version",
    "nonce",
    "associated_data",
    "batch_input",
    "partial_failure_response_code",
    "type",
    "convergent_encryption",
];

/// `POST encrypt/<name>`. A missing key is created first, as Vault does,
/// when the caller may create keys (`kms:CreateKey`).
pub async fn encrypt(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    fields::only(&req.body, ENCRYPT_FIELDS, "encrypt")?;
    let caller = authenticate(st, req).await?;
    if !keys::exists(st, &alias)? {
        let mut create = Map::new();
        for f in ["type", "convergent_encryption"] {
            if let Some(v) = req.body.get(f) {
                create.insert(f.into(), v.clone());
            }
        }
        keys::create_key(st, &caller, &alias, &create).await?;
    }
    let (c, a) = (&caller, alias.as_str());
    single_or_batch(
        &caller,
        req,
        ENCRYPT_ITEM,
        "encrypt",
        json!({}),
        |item| async move { encrypt_one(st, c, a, &item).await },
    )
    .await
}

async fn encrypt_one(
    st: &AppState,
    caller: &Caller,
    alias: &str,
    item: &Fields,
) -> Result<Value, VaultError> {
    fields::only(item, ENCRYPT_ITEM, "encrypt")?;
    let pt = fields::required(item, "plaintext", "send the data as base64")?;
    let pt = wire::unb64("plaintext", &pt)?;
    let ctx = context_of(item)?;
    let asked = fields::version(item, "key_version")?;
    let c2 = ctx.clone();
    Ok(st
        .run_on_key(
            caller,
            guarded("kms:Encrypt", Some(alias), Some(&ctx), Kind::Use),
            move |s, h| {
                check_latest(asked, h.meta().primary_version)?;
                let out = s.engine.encrypt_resolved(h, &pt, &c2)?;
                let v = json!({
                    "ciphertext": format_versioned(out.version, &out.ciphertext),
                    "key_version": out.version,
                });
                Ok(Done::new(v).key(out.key_id, Some(out.version)))
            },
        )
        .await?)
}

const DECRYPT_ITEM: &[&str] = &[
    "ciphertext",
    "context",
    "nonce",
    "reference",
    "associated_data",
];
const DECRYPT_FIELDS: &[&str] = &[
    "ciphertext",
    "context",
    "nonce",
    "associated_data",
    "batch_input",
    "partial_failure_response_code",
];

/// `POST decrypt/<name>`.
pub async fn decrypt(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    fields::only(&req.body, DECRYPT_FIELDS, "decrypt")?;
    let caller = authenticate(st, req).await?;
    let (c, a) = (&caller, alias.as_str());
    single_or_batch(
        &caller,
        req,
        DECRYPT_ITEM,
        "decrypt",
        json!({ "plaintext": "" }),
        |item| async move { decrypt_one(st, c, a, &item).await },
    )
    .await
}

async fn decrypt_one(
    st: &AppState,
    caller: &Caller,
    alias: &str,
    item: &Fields,
) -> Result<Value, VaultError> {
    fields::only(item, DECRYPT_ITEM, "decrypt")?;
    let ct = fields::required(
        item,
        "ciphertext",
        "send the vault:v<N>:... string encrypt returned",
    )?;
    let (version, ct) = parse_versioned("ciphertext", &ct)?;
    let ctx = context_of(item)?;
    let c2 = ctx.clone();
    Ok(st
        .run_on_key(
            caller,
            guarded("kms:Decrypt", Some(alias), Some(&ctx), Kind::Use),
            move |s, h| {
                let out = s.engine.decrypt_opts(&ct, &c2, Some(&h.meta().id), false)?;
                if out.version != version {
                    return Err(Error::InvalidCiphertext);
                }
                let v = json!({ "plaintext": wire::b64(out.plaintext.expose()) });
                Ok(Done::new(v).key(out.key_id, Some(out.version)))
            },
        )
        .await?)
}

const REWRAP_ITEM: &[&str] = &[
    "ciphertext",
    "context",
    "nonce",
    "reference",
    "key_version",
    "associated_data",
];
const REWRAP_FIELDS: &[&str] = &[
    "ciphertext",
    "context",
    "nonce",
    "key_version",
    "associated_data",
    "batch_input",
    "partial_failure_response_code",
];

/// `POST rewrap/<name>`: decrypt and encrypt under the latest version,
/// inside the server. Authorized as `kms:ReEncryptTo` and
/// `kms:ReEncryptFrom` on the key.
pub async fn rewrap(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    fields::only(&req.body, REWRAP_FIELDS, "rewrap")?;
    let caller = authenticate(st, req).await?;
    st.run_on_key(
        &caller,
        guarded("kms:ReEncryptTo", Some(&alias), None, Kind::Use),
        |_, h| Ok(Done::new(()).key(h.meta().id.clone(), None)),
    )
    .await?;
    let (c, a) = (&caller, alias.as_str());
    single_or_batch(
        &caller,
        req,
        REWRAP_ITEM,
        "rewrap",
        json!({}),
        |item| async move { rewrap_one(st, c, a, &item).await },
    )
    .await
}

async fn rewrap_one(
    st: &AppState,
    caller: &Caller,
    alias: &str,
    item: &Fields,
) -> Result<Value, VaultError> {
    fields::only(item, REWRAP_ITEM, "rewrap")?;
    let ct = fields::required(
        item,
        "ciphertext",
        "send the vault:v<N>:... string encrypt returned",
    )?;
    let (version, ct) = parse_versioned("ciphertext", &ct)?;
    let ctx = context_of(item)?;
    let asked = fields::version(item, "key_version")?;
    let c2 = ctx.clone();
    Ok(st
        .run_on_key(
            caller,
            guarded("kms:ReEncryptFrom", Some(alias), Some(&ctx), Kind::Use),
            move |s, h| {
                check_latest(asked, h.meta().primary_version)?;
                let id = h.meta().id.clone();
                let (out, _, from) = s.engine.reencrypt(&ct, &c2, Some(&id), &id, &c2)?;
                if from != version {
                    return Err(Error::InvalidCiphertext);
                }
                let v = json!({
                    "ciphertext": format_versioned(out.version, &out.ciphertext),
                    "key_version": out.version,
                });
                Ok(Done::new(v).key(out.key_id, Some(out.version)))
            },
        )
        .await?)
}

/// `POST datakey/<plaintext|wrapped>/<name>`.
pub async fn datakey(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    kind: &str,
    name: &str,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    let include = match kind {
        "plaintext" => true,
        "wrapped" => false,
        _ => {
            return Err(VaultError::bad_request(format!(
            "invalid data key type {:?}: use datakey/plaintext/<name> or datakey/wrapped/<name>",
            kind.chars().take(32).collect::<String>()
        )))
        }
    };
    let body = &req.body;
    fields::only(
        body,
        &["context", "nonce", "bits", "key_version", "associated_data"],
        "datakey",
    )?;
    let bits = fields::integer(body, "bits")?.unwrap_or(256);
    if ![128, 256, 512].contains(&bits) {
        return Err(VaultError::bad_request(format!(
            "bits={bits}: use 128, 256 or 512"
        )));
    }
    let ctx = context_of(body)?;
    let asked = fields::version(body, "key_version")?;
    let caller = authenticate(st, req).await?;
    let action = if include {
        "kms:GenerateDataKey"
    } else {
        "kms:GenerateDataKeyWithoutPlaintext"
    };
    let c2 = ctx.clone();
    let data = st
        .run_on_key(
            &caller,
            guarded(action, Some(&alias), Some(&ctx), Kind::Use),
            move |s, h| {
                check_latest(asked, h.meta().primary_version)?;
                let dk = s.engine.generate_data_key(
                    &h.meta().id,
                    Some((bits / 8) as usize),
                    &c2,
                    include,
                )?;
                let mut v = json!({
                    "ciphertext": format_versioned(dk.version, &dk.ciphertext),
                    "key_version": dk.version,
                });
                if let Some(p) = &dk.plaintext {
                    v["plaintext"] = json!(wire::b64(p.expose()));
                }
                Ok(Done::new(v).key(dk.key_id, Some(dk.version)))
            },
        )
        .await?;
    Ok(wire::ok(&caller.request_id, data))
}

/// The digest of a Vault hash name.
fn digest_of(name: &str) -> Result<&'static aws_lc_rs::digest::Algorithm, VaultError> {
    use aws_lc_rs::digest;
    Ok(match name {
        "sha2-224" => &digest::SHA224,
        "sha2-256" => &digest::SHA256,
        "sha2-384" => &digest::SHA384,
        "sha2-512" => &digest::SHA512,
        "sha2-512/256" => &digest::SHA512_256,
        "sha3-256" => &digest::SHA3_256,
        "sha3-384" => &digest::SHA3_384,
        "sha3-512" => &digest::SHA3_512,
        _ => {
            return Err(VaultError::bad_request(format!(
                "unsupported hash algorithm {:?}; use sha2-224, sha2-256, sha2-384, sha2-512, sha2-512/256, sha3-256, sha3-384 or sha3-512",
                name.chars().take(32).collect::<String>()
            )))
        }
    })
}

/// The Strongroom signing algorithm for a key spec and Vault's
/// `hash_algorithm` / `signature_algorithm`, and the digest a large or
/// prehashed input is taken with. Without a hash, ECDSA keys use the hash
/// of their curve size (Strongroom pairs them so).
fn signing_algorithm(
    spec: KeySpec,
    hash: Option<&str>,
    sig: Option<&str>,
) -> Result<(&'static str, Option<&'static aws_lc_rs::digest::Algorithm>), Error> {
    let h = |default: &'static str| hash.unwrap_or(default);
    let unsupported = |what: String| Error::InvalidArgument(what);
    let name = match spec {
        KeySpec::Ed25519 => return Ok(("ED25519_SHA_512", None)),
        KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => {
            let default = match spec {
                KeySpec::EccNistP256 => "sha2-256",
                KeySpec::EccNistP384 => "sha2-384",
                _ => "sha2-512",
            };
            match h(default) {
                "sha2-256" => "ECDSA_SHA_256",
                "sha2-384" => "ECDSA_SHA_384",
                "sha2-512" => "ECDSA_SHA_512",
                other => {
                    return Err(unsupported(format!(
                        "hash_algorithm {other:?} is not offered for ECDSA; use {default}"
                    )))
                }
            }
        }
        s if s.is_rsa() => match (sig.unwrap_or("pss"), h("sha2-256")) {
            ("pss", "sha2-256") => "RSASSA_PSS_SHA_256",
            ("pss", "sha2-384") => "RSASSA_PSS_SHA_384",
            ("pss", "sha2-512") => "RSASSA_PSS_SHA_512",
            ("pkcs1v15", "sha2-256") => "RSASSA_PKCS1_V1_5_SHA_256",
            ("pkcs1v15", "sha2-384") => "RSASSA_PKCS1_V1_5_SHA_384",
            ("pkcs1v15", "sha2-512") => "RSASSA_PKCS1_V1_5_SHA_512",
            (s, h) => {
                return Err(unsupported(format!(
                    "signature_algorithm {s:?} with hash_algorithm {h:?} is not offered; use pss or pkcs1v15 with sha2-256, sha2-384 or sha2-512"
                )))
            }
        },
        other => {
            return Err(Error::InvalidKeyUsage(format!(
                "a {} key cannot sign; create an ecdsa-*, ed25519 or rsa-* key",
                keys::type_of_spec(other)
            )))
        }
    };
    let digest = match name.rsplit('_').next() {
        Some("256") => Some(&aws_lc_rs::digest::SHA256),
        Some("384") => Some(&aws_lc_rs::digest::SHA384),
        Some("512") => Some(&aws_lc_rs::digest::SHA512),
        _ => None,
    };
    Ok((name, digest))
}

const SIGN_ITEM: &[&str] = &["input", "context", "reference"];
const SIGN_FIELDS: &[&str] = &[
    "input",
    "context",
    "hash_algorithm",
    "algorithm",
    "prehashed",
    "signature_algorithm",
    "marshaling_algorithm",
    "key_version",
    "batch_input",
    "salt_length",
    "partial_failure_response_code",
];

struct SignOptions {
    hash: Option<String>,
    sig: Option<String>,
    prehashed: bool,
}

fn sign_options(body: &Fields, path_hash: Option<&str>) -> Result<SignOptions, VaultError> {
    let hash = match path_hash {
        Some(h) => Some(h.to_string()),
        None => match fields::string(body, "hash_algorithm")? {
            Some(h) => Some(h),
            None => fields::string(body, "algorithm")?,
        },
    };
    if let Some(h) = &hash {
        digest_of(h)?;
    }
    match fields::string(body, "marshaling_algorithm")?.as_deref() {
        None | Some("asn1") => {}
        Some("jws") => {
            return Err(VaultError::bad_request(
                "marshaling_algorithm jws is not supported; use asn1 (the default)",
            ))
        }
        Some(other) => {
            return Err(VaultError::bad_request(format!(
                "unknown marshaling_algorithm {:?}; use asn1",
                other.chars().take(32).collect::<String>()
            )))
        }
    }
    if fields::string(body, "salt_length")?.is_some_and(|s| s != "auto" && s != "hash") {
        return Err(VaultError::bad_request(
            "salt_length other than auto or hash is not supported (PSS uses the hash length)",
        ));
    }
    let sig = fields::string(body, "signature_algorithm")?;
    if let Some(s) = &sig {
        if s != "pss" && s != "pkcs1v15" {
            return Err(VaultError::bad_request(format!(
                "unknown signature_algorithm {:?}; use pss or pkcs1v15",
                s.chars().take(32).collect::<String>()
            )));
        }
    }
    Ok(SignOptions {
        hash,
        sig,
        prehashed: fields::boolean(body, "prehashed")?.unwrap_or(false),
    })
}

/// The message to hand the engine: the input, or its digest (prehashed
/// input as given; inputs over the engine's 4 KiB message limit hashed
/// here with the algorithm's digest).
fn message(
    input: Vec<u8>,
    prehashed: bool,
    digest: Option<&'static aws_lc_rs::digest::Algorithm>,
) -> Result<(Vec<u8>, MessageType), Error> {
    match (prehashed, digest) {
        (true, None) => Err(Error::InvalidArgument(
            "prehashed input is not supported for ed25519 keys; send the message".into(),
        )),
        (true, Some(_)) => Ok((input, MessageType::Digest)),
        (false, Some(d)) if input.len() > strongroom_engine::keys::engine::MAX_PLAINTEXT => Ok((
            aws_lc_rs::digest::digest(d, &input).as_ref().to_vec(),
            MessageType::Digest,
        )),
        (false, _) => Ok((input, MessageType::Raw)),
    }
}

/// `POST sign/<name>[/<hash_algorithm>]` (`kms:Sign`).
pub async fn sign(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
    path_hash: Option<&str>,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    fields::only(&req.body, SIGN_FIELDS, "sign")?;
    let opts = std::sync::Arc::new(sign_options(&req.body, path_hash)?);
    let asked = fields::version(&req.body, "key_version")?;
    let caller = authenticate(st, req).await?;
    let (c, a) = (&caller, alias.as_str());
    single_or_batch(&caller, req, SIGN_ITEM, "sign", json!({}), |item| {
        let opts = opts.clone();
        async move {
            let input = fields::required(&item, "input", "send the message as base64")?;
            let input = wire::unb64("input", &input)?;
            if fields::string(&item, "context")?.is_some_and(|c| !c.is_empty()) {
                return Err(VaultError::bad_request(
                    "context is not supported: Strongroom does not derive per-context keys",
                ));
            }
            Ok(st
                .run_on_key(
                    c,
                    guarded("kms:Sign", Some(a), None, Kind::Use),
                    move |s, h| {
                        check_latest(asked, h.meta().primary_version)?;
                        let (alg, digest) = signing_algorithm(
                            h.meta().spec,
                            opts.hash.as_deref(),
                            opts.sig.as_deref(),
                        )?;
                        let (msg, mt) = message(input, opts.prehashed, digest)?;
                        let (sig, _, id, version) =
                            s.engine.sign(&h.meta().id, &msg, mt, Some(alg))?;
                        let v = json!({
                            "signature": format_versioned(version, &sig),
                            "key_version": version,
                        });
                        Ok(Done::new(v).key(id, Some(version)))
                    },
                )
                .await?)
        }
    })
    .await
}

const VERIFY_ITEM: &[&str] = &["name", "input", "signature", "hmac", "context", "reference"];
const VERIFY_FIELDS: &[&str] = &[
    // hvac sends the key's name in the body too; the path's name is used.
    "name",
    "input",
    "signature",
    "hmac",
    "context",
    "hash_algorithm",
    "algorithm",
    "prehashed",
    "signature_algorithm",
    "marshaling_algorithm",
    "batch_input",
    "salt_length",
    "partial_failure_response_code",
];

/// `POST verify/<name>[/<algorithm>]`: a signature (`kms:Verify`) or an
/// HMAC (`kms:VerifyMac`), as in Vault.
pub async fn verify(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
    path_hash: Option<&str>,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    fields::only(&req.body, VERIFY_FIELDS, "verify")?;
    let opts = std::sync::Arc::new(sign_options(&req.body, path_hash)?);
    let caller = authenticate(st, req).await?;
    let (c, a) = (&caller, alias.as_str());
    single_or_batch(
        &caller,
        req,
        VERIFY_ITEM,
        "verify",
        json!({ "valid": false }),
        |item| {
            let opts = opts.clone();
            async move {
                let input = fields::required(&item, "input", "send the message as base64")?;
                let input = wire::unb64("input", &input)?;
                let sig = fields::string(&item, "signature")?;
                let mac = fields::string(&item, "hmac")?;
                let (valid, _) = match (sig, mac) {
                    (Some(sig), None) => {
                        let (_, sig) = parse_versioned("signature", &sig)?;
                        let valid = st
                            .run_on_key(
                                c,
                                guarded("kms:Verify", Some(a), None, Kind::Use),
                                move |s, h| {
                                    let (alg, digest) = signing_algorithm(
                                        h.meta().spec,
                                        opts.hash.as_deref(),
                                        opts.sig.as_deref(),
                                    )?;
                                    let (msg, mt) = message(input, opts.prehashed, digest)?;
                                    let ok =
                                        s.engine.verify(&h.meta().id, &msg, mt, &sig, Some(alg))?;
                                    Ok(Done::new(ok).key(h.meta().id.clone(), None))
                                },
                            )
                            .await?;
                        (valid, ())
                    }
                    (None, Some(mac)) => {
                        let (_, mac) = parse_versioned("hmac", &mac)?;
                        let hash = opts.hash.clone();
                        let valid = st
                            .run_on_key(
                                c,
                                guarded("kms:VerifyMac", Some(a), None, Kind::Use),
                                move |s, h| {
                                    check_hmac_algorithm(h.meta().spec, hash.as_deref())?;
                                    let ok = s.engine.verify_mac(&h.meta().id, &input, &mac)?;
                                    Ok(Done::new(ok).key(h.meta().id.clone(), None))
                                },
                            )
                            .await?;
                        (valid, ())
                    }
                    _ => {
                        return Err(VaultError::bad_request(
                            "send exactly one of signature or hmac",
                        ))
                    }
                };
                Ok(json!({ "valid": valid }))
            }
        },
    )
    .await
}

/// Vault names the HMAC's hash per call; a Strongroom HMAC key has one.
fn check_hmac_algorithm(spec: KeySpec, asked: Option<&str>) -> Result<(), Error> {
    let own = match spec {
        KeySpec::HmacSha256 => "sha2-256",
        KeySpec::HmacSha384 => "sha2-384",
        KeySpec::HmacSha512 => "sha2-512",
        other => {
            return Err(Error::InvalidKeyUsage(format!(
                "HMAC needs an hmac key; this key is {}. Create one with type=hmac",
                keys::type_of_spec(other)
            )))
        }
    };
    match asked {
        None => Ok(()),
        Some(a) if a == own => Ok(()),
        Some(a) => Err(Error::InvalidArgument(format!(
            "this hmac key computes {own}, not {a}; omit the algorithm or send {own} (key_size 32 = sha2-256, 48 = sha2-384, 64 = sha2-512)"
        ))),
    }
}

const HMAC_ITEM: &[&str] = &["input", "reference"];
const HMAC_FIELDS: &[&str] = &[
    "input",
    "algorithm",
    "key_version",
    "batch_input",
    "partial_failure_response_code",
];

/// `POST hmac/<name>[/<algorithm>]` (`kms:GenerateMac`).
pub async fn hmac(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
    path_alg: Option<&str>,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    fields::only(&req.body, HMAC_FIELDS, "hmac")?;
    let alg = match path_alg {
        Some(a) => Some(a.to_string()),
        None => fields::string(&req.body, "algorithm")?,
    };
    if let Some(a) = &alg {
        digest_of(a)?;
    }
    let asked = fields::version(&req.body, "key_version")?;
    let caller = authenticate(st, req).await?;
    let (c, a, alg) = (&caller, alias.as_str(), alg.as_deref());
    single_or_batch(&caller, req, HMAC_ITEM, "hmac", json!({}), |item| {
        let alg = alg.map(str::to_string);
        async move {
            let input = fields::required(&item, "input", "send the message as base64")?;
            let input = wire::unb64("input", &input)?;
            Ok(st
                .run_on_key(
                    c,
                    guarded("kms:GenerateMac", Some(a), None, Kind::Use),
                    move |s, h| {
                        check_latest(asked, h.meta().primary_version)?;
                        check_hmac_algorithm(h.meta().spec, alg.as_deref())?;
                        let (mac, id, version) = s.engine.generate_mac(&h.meta().id, &input)?;
                        let v = json!({ "hmac": format_versioned(version, &mac) });
                        Ok(Done::new(v).key(id, Some(version)))
                    },
                )
                .await?)
        }
    })
    .await
}

fn encode(format: Option<&str>, bytes: &[u8]) -> Result<String, VaultError> {
    match format.unwrap_or("base64") {
        "base64" => Ok(wire::b64(bytes)),
        "hex" => Ok(wire::hex(bytes)),
        other => Err(VaultError::bad_request(format!(
            "unsupported encoding format {:?}; use base64 or hex",
            other.chars().take(32).collect::<String>()
        ))),
    }
}

/// `POST random[/<source>][/<bytes>]` (`kms:GenerateRandom`).
pub async fn random(
    st: &AppState,
    req: &VaultRequest,
    more: &[&str],
) -> Result<Response, VaultError> {
    let body = &req.body;
    fields::only(body, &["bytes", "format", "source"], "random")?;
    let mut n = fields::integer(body, "bytes")?;
    let mut source = fields::string(body, "source")?;
    for seg in more {
        match seg.parse::<i64>() {
            Ok(v) => n = Some(v),
            Err(_) => source = Some(seg.to_string()),
        }
    }
    match source.as_deref() {
        None | Some("platform") | Some("all") | Some("seal") => {}
        Some(other) => {
            return Err(VaultError::bad_request(format!(
                "unknown source {:?}; use platform, seal or all",
                other.chars().take(32).collect::<String>()
            )))
        }
    }
    let n = n.unwrap_or(32);
    if !(1..=1024).contains(&n) {
        return Err(VaultError::bad_request(format!(
            "bytes={n} is out of range; use 1 to 1024"
        )));
    }
    let format = fields::string(body, "format")?;
    encode(format.as_deref(), &[])?;
    let caller = authenticate(st, req).await?;
    let data = st
        .run(
            &caller,
            guarded("kms:GenerateRandom", None, None, Kind::Use),
            move |s| {
                let b = s.engine.generate_random(n as usize)?;
                let out = encode(format.as_deref(), b.expose())
                    .map_err(|e| Error::InvalidArgument(e.message))?;
                Ok(Done::new(json!({ "random_bytes": out })))
            },
        )
        .await?;
    Ok(wire::ok(&caller.request_id, data))
}

/// `POST hash[/<algorithm>]`: no key is involved; authorized and audited
/// as `kms:GenerateRandom`, Strongroom's keyless utility action.
pub async fn hash(
    st: &AppState,
    req: &VaultRequest,
    path_alg: Option<&str>,
) -> Result<Response, VaultError> {
    let body = &req.body;
    fields::only(body, &["input", "algorithm", "format"], "hash")?;
    let alg = match path_alg {
        Some(a) => a.to_string(),
        None => fields::string(body, "algorithm")?.unwrap_or_else(|| "sha2-256".into()),
    };
    let d = digest_of(&alg)?;
    let input = fields::required(body, "input", "send the data as base64")?;
    let input = wire::unb64("input", &input)?;
    let format = fields::string(body, "format")?;
    encode(format.as_deref(), &[])?;
    let caller = authenticate(st, req).await?;
    let data = st
        .run(
            &caller,
            guarded("kms:GenerateRandom", None, None, Kind::Use),
            move |_| {
                let sum = aws_lc_rs::digest::digest(d, &input);
                let out = encode(format.as_deref(), sum.as_ref())
                    .map_err(|e| Error::InvalidArgument(e.message))?;
                Ok(Done::new(json!({ "sum": out })))
            },
        )
        .await?;
    Ok(wire::ok(&caller.request_id, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_strings_round_trip_and_bad_ones_are_refused() {
        let s = format_versioned(3, b"abc");
        assert_eq!(s, "vault:v3:YWJj");
        let (v, b) = parse_versioned("ciphertext", &s).ok().unwrap_or_default();
        assert_eq!((v, b.as_slice()), (3, &b"abc"[..]));
        for bad in [
            "",
            "vault:v0:YWJj",
            "vault:vx:YWJj",
            "vault:v1",
            "v1:YWJj",
            "vault:v1:***",
        ] {
            assert!(
                parse_versioned("ciphertext", bad).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn signing_algorithms_follow_the_key_and_the_options() {
        let a = |spec, h, s| signing_algorithm(spec, h, s).map(|x| x.0).ok();
        assert_eq!(a(KeySpec::EccNistP384, None, None), Some("ECDSA_SHA_384"));
        assert_eq!(a(KeySpec::Rsa2048, None, None), Some("RSASSA_PSS_SHA_256"));
        assert_eq!(
            a(KeySpec::Rsa2048, Some("sha2-512"), Some("pkcs1v15")),
            Some("RSASSA_PKCS1_V1_5_SHA_512")
        );
        assert_eq!(
            a(KeySpec::Ed25519, Some("sha2-256"), None),
            Some("ED25519_SHA_512")
        );
        assert!(a(KeySpec::EccNistP256, Some("sha3-256"), None).is_none());
        assert!(a(KeySpec::Aes256Gcm, None, None).is_none());
    }

    #[test]
    fn hmac_algorithm_must_be_the_keys() {
        assert!(check_hmac_algorithm(KeySpec::HmacSha384, Some("sha2-384")).is_ok());
        assert!(check_hmac_algorithm(KeySpec::HmacSha384, Some("sha2-256")).is_err());
        assert!(check_hmac_algorithm(KeySpec::Aes256Gcm, None).is_err());
    }
}
