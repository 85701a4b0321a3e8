//! Transit key management: create, read, list, delete, config, rotate.

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{json, Map, Value};

use strongroom_core::crypto::spec::{KeySpec, KeyUsage};
use strongroom_core::error::Error;
use strongroom_engine::keys::engine::{CreateKey, UpdateKey};
use strongroom_engine::keys::model::KeyMeta;
use strongroom_engine::keys::state::KeyState;
use strongroom_service::approvals::{Command, CommandOutput};
use strongroom_service::gate::{Caller, Done, Kind};

use super::fields::{self, Fields};
use super::{alias_of, guarded};
use crate::error::VaultError;
use crate::wire::{self, VaultRequest};
use crate::{authenticate, AppState};

/// The tag that records `deletion_allowed` on the Strongroom key.
pub const DELETION_ALLOWED_TAG: &str = "vault:deletion_allowed";

/// The Strongroom spec and usage of a Transit key type.
pub fn spec_of_type(t: &str, key_size: Option<i64>) -> Result<(KeySpec, KeyUsage), VaultError> {
    let refuse = |why: &str| VaultError::bad_request(format!("key type {t:?}: {why}"));
    if key_size.is_some() && t != "hmac" {
        return Err(refuse("key_size applies to hmac keys only"));
    }
    Ok(match t {
        "aes256-gcm96" => (KeySpec::Aes256Gcm, KeyUsage::EncryptDecrypt),
        "ecdsa-p256" => (KeySpec::EccNistP256, KeyUsage::SignVerify),
        "ecdsa-p384" => (KeySpec::EccNistP384, KeyUsage::SignVerify),
        "ecdsa-p521" => (KeySpec::EccNistP521, KeyUsage::SignVerify),
        "ed25519" => (KeySpec::Ed25519, KeyUsage::SignVerify),
        "rsa-2048" => (KeySpec::Rsa2048, KeyUsage::SignVerify),
        "rsa-3072" => (KeySpec::Rsa3072, KeyUsage::SignVerify),
        "rsa-4096" => (KeySpec::Rsa4096, KeyUsage::SignVerify),
        "hmac" => match key_size.unwrap_or(32) {
            32 => (KeySpec::HmacSha256, KeyUsage::GenerateVerifyMac),
            48 => (KeySpec::HmacSha384, KeyUsage::GenerateVerifyMac),
            64 => (KeySpec::HmacSha512, KeyUsage::GenerateVerifyMac),
            n => return Err(refuse(&format!("key_size {n} is not offered; use 32, 48 or 64 (bytes)"))),
        },
        "aes128-gcm96" | "chacha20-poly1305" | "xchacha20-poly1305" => {
            return Err(refuse(
                "not offered: Strongroom's symmetric keys are AES-256-GCM; use aes256-gcm96",
            ))
        }
        "managed_key" | "aes128-cmac" | "aes256-cmac" | "rsa-8192" => {
            return Err(refuse("not offered by Strongroom"))
        }
        _ => {
            return Err(refuse(
                "unknown; use aes256-gcm96, ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519, rsa-2048, rsa-3072, rsa-4096 or hmac",
            ))
        }
    })
}

/// The Transit type name of a Strongroom key spec.
pub fn type_of_spec(spec: KeySpec) -> String {
    match spec {
        KeySpec::Aes256Gcm => "aes256-gcm96".into(),
        KeySpec::EccNistP256 => "ecdsa-p256".into(),
        KeySpec::EccNistP384 => "ecdsa-p384".into(),
        KeySpec::EccNistP521 => "ecdsa-p521".into(),
        KeySpec::Ed25519 => "ed25519".into(),
        KeySpec::Rsa2048 => "rsa-2048".into(),
        KeySpec::Rsa3072 => "rsa-3072".into(),
        KeySpec::Rsa4096 => "rsa-4096".into(),
        KeySpec::HmacSha256 | KeySpec::HmacSha384 | KeySpec::HmacSha512 => "hmac".into(),
        other => other.name().to_ascii_lowercase().replace('_', "-"),
    }
}

fn pem(der: &[u8]) -> String {
    let b = wire::b64(der);
    let mut s = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END PUBLIC KEY-----\n");
    s
}

/// Vault's key data for a Strongroom key. `public` is the primary
/// version's public key (DER), for asymmetric keys.
pub fn key_data(name: &str, m: &KeyMeta, public: Option<&[u8]>) -> Value {
    let asymmetric = m.usage == KeyUsage::SignVerify;
    let mut keys = Map::new();
    for v in &m.versions {
        let entry = if asymmetric {
            let public_key = match public {
                Some(der) if v.version == m.primary_version => {
                    if m.spec == KeySpec::Ed25519 {
                        // Vault shows the raw 32-byte key; it ends the SPKI.
                        wire::b64(&der[der.len().saturating_sub(32)..])
                    } else {
                        pem(der)
                    }
                }
                _ => String::new(),
            };
            json!({
                "creation_time": wire::rfc3339(v.created_at),
                "name": match m.spec {
                    KeySpec::EccNistP256 => "P-256",
                    KeySpec::EccNistP384 => "P-384",
                    KeySpec::EccNistP521 => "P-521",
                    KeySpec::Ed25519 => "ed25519",
                    _ => "rsa",
                },
                "public_key": public_key,
            })
        } else {
            json!(v.created_at)
        };
        keys.insert(v.version.to_string(), entry);
    }
    let period = m
        .rotation_period_days
        .map(|d| i64::from(d) * 86_400)
        .unwrap_or(0);
    let mut v = json!({
        "name": name,
        "type": type_of_spec(m.spec),
        "keys": keys,
        "latest_version": m.primary_version,
        "min_available_version": 0,
        "min_decryption_version": m.min_decryption_version,
        "min_encryption_version": 0,
        "deletion_allowed": m.tags.get(DELETION_ALLOWED_TAG).is_some_and(|v| v == "true"),
        "derived": false,
        "exportable": false,
        "allow_plaintext_backup": false,
        "supports_encryption": m.usage == KeyUsage::EncryptDecrypt,
        "supports_decryption": m.usage == KeyUsage::EncryptDecrypt,
        "supports_derivation": false,
        "supports_signing": asymmetric,
        "imported_key": false,
        "auto_rotate_period": period,
        "strongroom_key_id": m.id,
        "strongroom_state": m.state.name(),
    });
    // Vault shows an HMAC key's size, not its versions.
    let size = match m.spec {
        KeySpec::HmacSha256 => Some(32),
        KeySpec::HmacSha384 => Some(48),
        KeySpec::HmacSha512 => Some(64),
        _ => None,
    };
    if let (Some(size), Value::Object(o)) = (size, &mut v) {
        o.remove("keys");
        o.insert("key_size".into(), json!(size));
    }
    v
}

/// Reads a key's data through the gate (`kms:DescribeKey`).
pub async fn read_data(
    st: &AppState,
    caller: &Caller,
    alias: &str,
    name: &str,
) -> Result<Value, VaultError> {
    let name = name.to_string();
    Ok(st
        .run_on_key(
            caller,
            guarded("kms:DescribeKey", Some(alias), None, Kind::Use),
            move |s, h| {
                let m = h.meta().clone();
                let public = if m.usage == KeyUsage::SignVerify {
                    Some(s.engine.get_public_key(&m.id)?.der)
                } else {
                    None
                };
                let v = key_data(&name, &m, public.as_deref());
                let id = m.id.clone();
                Ok(Done::new(v).key(id, Some(m.primary_version)))
            },
        )
        .await?)
}

/// Whether a key with this alias exists (memory only).
pub fn exists(st: &AppState, alias: &str) -> Result<bool, VaultError> {
    match st.seal.engine()?.handle(alias) {
        Ok(_) => Ok(true),
        Err(Error::KeyNotFound(_) | Error::AliasNotFound(_) | Error::NotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

const CREATE_FIELDS: &[&str] = &[
    "type",
    "key_size",
    "derived",
    "convergent_encryption",
    "exportable",
    "allow_plaintext_backup",
    "auto_rotate_period",
    "context",
];

/// Creates a key through the gate (`kms:CreateKey`) from Vault's fields.
pub async fn create_key(
    st: &AppState,
    caller: &Caller,
    alias: &str,
    body: &Fields,
) -> Result<KeyMeta, VaultError> {
    for refused in ["derived", "convergent_encryption"] {
        if fields::boolean(body, refused)? == Some(true) {
            return Err(VaultError::bad_request(format!(
                "{refused}=true is not supported: Strongroom does not derive per-context keys. Use associated_data to bind a ciphertext to its context instead"
            )));
        }
    }
    for refused in ["exportable", "allow_plaintext_backup"] {
        if fields::boolean(body, refused)? == Some(true) {
            return Err(VaultError::bad_request(format!(
                "{refused}=true is not supported: Strongroom key material never leaves the server"
            )));
        }
    }
    let t = fields::string(body, "type")?.unwrap_or_else(|| "aes256-gcm96".into());
    let (spec, usage) = spec_of_type(&t, fields::integer(body, "key_size")?)?;
    let days = rotation_days(body)?;
    let req = CreateKey {
        spec: Some(spec.name().into()),
        usage: Some(usage.name().into()),
        aliases: vec![alias.to_string()],
        description: format!("Vault Transit key {alias}"),
        rotation_period_days: Some(days.unwrap_or(0)),
        ..CreateKey::default()
    };
    Ok(st
        .run(
            caller,
            guarded("kms:CreateKey", None, None, Kind::Change),
            move |s| {
                let m = s.engine.create(req)?;
                let (id, v) = (m.id.clone(), m.primary_version);
                Ok(Done::new(m).key(id, Some(v)))
            },
        )
        .await?)
}

/// `auto_rotate_period` as whole days (Strongroom schedules rotation in
/// days): 0 turns it off.
fn rotation_days(body: &Fields) -> Result<Option<u32>, VaultError> {
    match fields::duration(body, "auto_rotate_period")? {
        None => Ok(None),
        Some(0) => Ok(Some(0)),
        Some(secs) if secs % 86_400 == 0 && (1..=3650).contains(&(secs / 86_400)) => {
            Ok(Some((secs / 86_400) as u32))
        }
        Some(secs) => Err(VaultError::bad_request(format!(
            "auto_rotate_period={secs}s: Strongroom rotates in whole days from 1 to 3650 (e.g. 720h or 30d), or 0 to turn rotation off"
        ))),
    }
}

/// `POST keys/<name>`: creates the key; an existing key is left as it is
/// (Vault's upsert) and its data returned.
pub async fn create(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    fields::only(&req.body, CREATE_FIELDS, "transit key creation")?;
    if fields::string(&req.body, "context")?.is_some() {
        return Err(VaultError::bad_request(
            "context is not supported: Strongroom does not derive per-context keys",
        ));
    }
    let caller = authenticate(st, req).await?;
    if !exists(st, &alias)? {
        create_key(st, &caller, &alias, &req.body).await?;
    }
    let data = read_data(st, &caller, &alias, name).await?;
    Ok(wire::ok(&caller.request_id, data))
}

/// `GET keys/<name>`.
pub async fn read(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    let caller = authenticate(st, req).await?;
    let data = read_data(st, &caller, &alias, name).await?;
    Ok(wire::ok(&caller.request_id, data))
}

/// `LIST keys`: the names of the mount's keys that are not being deleted.
/// No keys is Vault's 404.
pub async fn list(st: &AppState, req: &VaultRequest, mount: &str) -> Result<Response, VaultError> {
    let caller = authenticate(st, req).await?;
    let prefix = format!("alias/{mount}/");
    let names: Vec<String> = st
        .run(
            &caller,
            guarded("kms:ListAliases", None, None, Kind::Use),
            move |s| {
                let mut names = vec![];
                for (alias, id) in s.engine.list_aliases()? {
                    let Some(name) = alias.strip_prefix(&prefix) else {
                        continue;
                    };
                    let live = s
                        .engine
                        .handle(&id)
                        .map(|h| matches!(h.meta().state, KeyState::Enabled | KeyState::Disabled))
                        .unwrap_or(false);
                    if live {
                        names.push(name.to_string());
                    }
                }
                Ok(Done::new(names))
            },
        )
        .await?;
    if names.is_empty() {
        return Ok(wire::json_response(404, &json!({ "errors": [] })));
    }
    Ok(wire::ok(&caller.request_id, json!({ "keys": names })))
}

/// `DELETE keys/<name>`: only after `deletion_allowed`; then the key's
/// deletion is scheduled like any Strongroom key's (dual-controlled when
/// the server says so: 202 with the approval id).
pub async fn delete(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    let caller = authenticate(st, req).await?;
    let data = read_data(st, &caller, &alias, name).await?;
    if data["deletion_allowed"] != json!(true) {
        return Err(VaultError::bad_request(
            "deletion is not allowed for this key: set deletion_allowed=true with keys/<name>/config first",
        ));
    }
    let id = data["strongroom_key_id"]
        .as_str()
        .unwrap_or(&alias)
        .to_string();
    st.submit(
        &caller,
        Command::ScheduleKeyDeletion {
            key: id,
            pending_window_days: None,
        },
    )
    .await?;
    Ok(wire::no_content())
}

const CONFIG_FIELDS: &[&str] = &[
    "min_decryption_version",
    "min_encryption_version",
    "deletion_allowed",
    "exportable",
    "allow_plaintext_backup",
    "auto_rotate_period",
];

/// `POST keys/<name>/config`. Each field is its own Strongroom change
/// (its own action, audit record and dual control).
pub async fn config(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    let body = &req.body;
    fields::only(body, CONFIG_FIELDS, "transit key config")?;
    // Every field is checked before anything changes.
    for refused in ["exportable", "allow_plaintext_backup"] {
        if fields::boolean(body, refused)? == Some(true) {
            return Err(VaultError::bad_request(format!(
                "{refused}=true is not supported: Strongroom key material never leaves the server"
            )));
        }
    }
    if let Some(v) = fields::version(body, "min_encryption_version")? {
        if v != 0 {
            return Err(VaultError::bad_request(
                "min_encryption_version is not supported (Strongroom always encrypts under the latest version); use 0",
            ));
        }
    }
    let min_dec = fields::version(body, "min_decryption_version")?;
    let deletion = fields::boolean(body, "deletion_allowed")?;
    let days = rotation_days(body)?;
    let caller = authenticate(st, req).await?;
    let current = read_data(st, &caller, &alias, name).await?;
    let id = current["strongroom_key_id"]
        .as_str()
        .unwrap_or(&alias)
        .to_string();
    if let Some(v) = min_dec {
        let latest = current["latest_version"].as_u64().unwrap_or(0);
        if u64::from(v) > latest {
            return Err(VaultError::bad_request(format!(
                "min_decryption_version {v} is above the latest version {latest}"
            )));
        }
        let v = v.max(1);
        let now = current["min_decryption_version"].as_u64().unwrap_or(1);
        let cmd = Command::SetMinDecryptionVersion {
            key: id.clone(),
            version: v,
        };
        // Only lowering it is dual-controlled (it re-enables old ciphertexts).
        let out: CommandOutput = if u64::from(v) < now {
            st.submit(&caller, cmd).await?
        } else {
            st.submit_direct(&caller, cmd).await?
        };
        drop(out);
    }
    if let Some(allowed) = deletion {
        let k = id.clone();
        let mut set_tags = BTreeMap::new();
        set_tags.insert(DELETION_ALLOWED_TAG.to_string(), allowed.to_string());
        st.run(
            &caller,
            guarded("kms:TagResource", Some(&id), None, Kind::Change),
            move |s| {
                let m = s.engine.update(
                    &k,
                    UpdateKey {
                        set_tags,
                        ..UpdateKey::default()
                    },
                )?;
                let id = m.id.clone();
                Ok(Done::new(()).key(id, None))
            },
        )
        .await?;
    }
    if let Some(d) = days {
        let action = if d == 0 {
            "kms:DisableKeyRotation"
        } else {
            "kms:EnableKeyRotation"
        };
        let k = id.clone();
        st.run(
            &caller,
            guarded(action, Some(&id), None, Kind::Change),
            move |s| {
                let m = s.engine.set_rotation_period(&k, (d > 0).then_some(d))?;
                let id = m.id.clone();
                Ok(Done::new(()).key(id, None))
            },
        )
        .await?;
    }
    let data = read_data(st, &caller, &alias, name).await?;
    Ok(wire::ok(&caller.request_id, data))
}

/// `POST keys/<name>/rotate` (`kms:RotateKeyOnDemand`).
pub async fn rotate(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    name: &str,
) -> Result<Response, VaultError> {
    let alias = alias_of(mount, name)?;
    fields::only(&req.body, &["managed_key_name", "managed_key_id"], "rotate")?;
    if !req.body.is_empty() {
        return Err(VaultError::bad_request(
            "managed keys are not supported; send no fields",
        ));
    }
    let caller = authenticate(st, req).await?;
    let k = alias.clone();
    st.run(
        &caller,
        guarded("kms:RotateKeyOnDemand", Some(&alias), None, Kind::Change),
        move |s| {
            let m = s.engine.rotate(&k)?;
            let (id, v) = (m.id.clone(), m.primary_version);
            Ok(Done::new(()).key(id, Some(v)))
        },
    )
    .await?;
    let data = read_data(st, &caller, &alias, name).await?;
    Ok(wire::ok(&caller.request_id, data))
}
