//! A KV version 2 mount: `/v1/<mount>/...` on Strongroom's secrets engine.
//! The Vault path `<mount>/data/<path>` is the Strongroom secret `<path>`
//! (policy resource `secret/<path>`): every KV mount serves the one
//! secrets tree (docs/VAULT.md, "KV v2"). Each handler translates the wire
//! format to one typed call of the service (`secret_*`, `kv_*`), which
//! applies the policy, dual control and audit.

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{json, Map, Value};

use strongroom_core::error::Error;
use strongroom_engine::secrets::{
    is_missing_secret, ConfigUpdate, MetadataUpdate, SecretFields, VersionMeta,
};
use strongroom_service::secrets_kv::KvVersion;

use crate::error::VaultError;
use crate::transit::fields::{self, Fields};
use crate::wire::{self, Op, VaultRequest};
use crate::{authenticate, expect, AppState};

/// Every path of a KV v2 mount.
pub async fn dispatch(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    rest: &[&str],
) -> Result<Response, VaultError> {
    match rest {
        ["config"] => match req.op {
            Op::Read => config_read(st, req).await,
            Op::Write => config_write(st, req).await,
            _ => Err(VaultError::unsupported_operation()),
        },
        ["data", path @ ..] if !path.is_empty() => {
            let path = path.join("/");
            match req.op {
                Op::Read => data_read(st, req, &path).await,
                Op::Write => data_write(st, req, &path).await,
                Op::Patch => data_patch(st, req, &path).await,
                Op::Delete => data_delete(st, req, &path).await,
                _ => Err(VaultError::unsupported_operation()),
            }
        }
        [verb @ ("delete" | "undelete" | "destroy"), path @ ..] if !path.is_empty() => {
            expect(req, &[Op::Write])?;
            versions_op(st, req, verb, &path.join("/")).await
        }
        ["metadata", path @ ..] => {
            let path = path.join("/");
            match req.op {
                Op::List => metadata_list(st, req, &path).await,
                _ if path.is_empty() => Err(VaultError::unsupported_operation()),
                Op::Read => metadata_read(st, req, &path).await,
                Op::Write => metadata_write(st, req, &path).await,
                Op::Patch => metadata_patch(st, req, &path).await,
                Op::Delete => metadata_delete(st, req, &path).await,
                Op::Head => Err(VaultError::unsupported_operation()),
            }
        }
        ["subkeys", path @ ..] if !path.is_empty() => {
            expect(req, &[Op::Read])?;
            subkeys(st, req, &path.join("/")).await
        }
        _ => Err(VaultError::new(
            404,
            "NotFound",
            format!(
                "unsupported path: /v1/{}; a KV v2 mount serves {mount}/config, {mount}/data/<path>, {mount}/delete/<path>, {mount}/undelete/<path>, {mount}/destroy/<path>, {mount}/metadata/<path> and {mount}/subkeys/<path>",
                req.path_for_audit()
            ),
        )),
    }
}

// ------------------------------------------------------------- formats ----

/// RFC 3339 with the milliseconds, as Vault shows times (Go trims the
/// fraction's trailing zeros).
pub fn time_ms(ms: i64) -> String {
    let base = wire::rfc3339(ms.div_euclid(1000));
    let frac = ms.rem_euclid(1000);
    if frac == 0 {
        return base;
    }
    let digits = format!("{frac:03}");
    let digits = digits.trim_end_matches('0');
    format!("{}.{digits}Z", base.trim_end_matches('Z'))
}

/// A version's deletion time as Vault shows it: "" when there is none.
fn deletion(v: &VersionMeta) -> String {
    v.deletion_ms.map(time_ms).unwrap_or_default()
}

/// A duration as Go prints it (`0s`, `1h0m0s`, `30m0s`, `1m30s`).
pub fn go_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// A duration as Vault takes it: whole seconds (a number or a string of
/// digits, with an optional sign when `signed`), or Go's form with the
/// units h, m and s (and d), such as `768h`, `1h30m`, `90s`. Returns
/// seconds.
pub fn parse_duration(body: &Fields, name: &str, signed: bool) -> Result<Option<i64>, VaultError> {
    let bad = |v: &str| {
        VaultError::bad_request(format!(
            "{name}={v:?} is not a duration; use whole seconds or a duration such as 30m, 1h30m or 768h{}",
            if signed { " (a negative one switches it off)" } else { " (0 clears it)" }
        ))
    };
    let secs = match body.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| bad(&n.to_string()))?,
        Some(Value::String(s)) => {
            let t = s.trim();
            let (neg, body) = match t.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, t.strip_prefix('+').unwrap_or(t)),
            };
            if body.is_empty() {
                return Err(bad(s));
            }
            let mut total: i64 = 0;
            if body.bytes().all(|b| b.is_ascii_digit()) {
                total = body.parse::<i64>().map_err(|_| bad(s))?;
            } else {
                let mut num = String::new();
                for c in body.chars() {
                    if c.is_ascii_digit() {
                        num.push(c);
                        continue;
                    }
                    let unit = match c {
                        's' => 1,
                        'm' => 60,
                        'h' => 3600,
                        'd' => 86_400,
                        _ => return Err(bad(s)),
                    };
                    let n: i64 = num.parse().map_err(|_| bad(s))?;
                    num.clear();
                    total = n
                        .checked_mul(unit)
                        .and_then(|x| total.checked_add(x))
                        .ok_or_else(|| bad(s))?;
                }
                if !num.is_empty() {
                    return Err(bad(s));
                }
            }
            if neg {
                -total
            } else {
                total
            }
        }
        Some(_) => return Err(bad("?")),
    };
    if secs < 0 && !signed {
        return Err(VaultError::bad_request(format!(
            "{name} cannot be negative; 0 clears it"
        )));
    }
    Ok(Some(secs))
}

fn custom_json(c: &BTreeMap<String, String>) -> Value {
    if c.is_empty() {
        Value::Null
    } else {
        json!(c)
    }
}

/// A version's facts as Vault shows them with data reads and writes.
fn version_json(v: &VersionMeta, custom: &BTreeMap<String, String>) -> Value {
    json!({
        "created_time": time_ms(v.created_ms),
        "custom_metadata": custom_json(custom),
        "deletion_time": deletion(v),
        "destroyed": v.destroyed,
        "version": v.version,
    })
}

/// Refuses query parameters other than `allowed` (and `list`).
fn only_query(req: &VaultRequest, allowed: &[&str]) -> Result<(), VaultError> {
    for k in req.query.keys() {
        if k != "list" && !allowed.contains(&k.as_str()) {
            return Err(VaultError::bad_request(format!(
                "unknown query parameter {:?} for this path; it takes: {}",
                k.chars().take(64).collect::<String>(),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// A non-negative whole number from the query string.
fn query_number(req: &VaultRequest, name: &str) -> Result<Option<u32>, VaultError> {
    match req.query.get(name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v.trim().parse::<u32>().map(Some).map_err(|_| {
            VaultError::bad_request(format!(
                "{name}={:?} is not a whole number from 0 to {}",
                v.chars().take(32).collect::<String>(),
                u32::MAX
            ))
        }),
    }
}

/// A field that must be a JSON object (absent: `None`).
fn object<'a>(body: &'a Fields, name: &str, hint: &str) -> Result<Option<&'a Fields>, VaultError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(VaultError::bad_request(format!(
            "{name} must be a JSON object, e.g. {hint}"
        ))),
    }
}

/// `options.cas` of a data write or patch.
fn cas_of(body: &Fields) -> Result<Option<u32>, VaultError> {
    let Some(options) = object(body, "options", "{\"cas\": 1}")? else {
        return Ok(None);
    };
    fields::only(options, &["cas"], "options (KV v2 data)")?;
    match fields::integer(options, "cas") {
        Ok(None) => Ok(None),
        Ok(Some(n)) => u32::try_from(n).map(Some).map_err(|_| {
            VaultError::bad_request(format!(
                "error parsing check-and-set parameter: cas={n}; use 0 (create only) or the current version"
            ))
        }),
        Err(_) => Err(VaultError::bad_request(
            "error parsing check-and-set parameter: cas must be a whole number (0 to create only, else the current version)",
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A secret value from Vault's `data` map: every value must be a string
/// (Strongroom secrets are maps of string fields).
fn secret_fields(data: &Fields) -> Result<SecretFields, VaultError> {
    let mut f = SecretFields::new();
    for (k, v) in data {
        match v {
            Value::String(s) => f.insert(k.clone(), s.clone()),
            other => {
                return Err(VaultError::bad_request(format!(
                    "data.{} is {}: Strongroom secrets are maps of string fields, so every value must be a JSON string (send 5432 as \"5432\", and JSON-encode nested values)",
                    k.chars().take(64).collect::<String>(),
                    type_name(other)
                )))
            }
        }
    }
    Ok(f)
}

/// Vault's 404 for a read of a version that is deleted or destroyed: the
/// envelope with `data` still present (the value `null`).
fn gone(request_id: &str, data: Value) -> Response {
    wire::json_response(404, &wire::envelope(request_id, data))
}

/// Vault's 404 for something that is not there: `{"errors": []}`.
fn not_found() -> Response {
    wire::json_response(404, &json!({ "errors": [] }))
}

/// A missing secret is Vault's bare 404; other errors as usual.
fn or_not_found(e: Error) -> Result<Response, VaultError> {
    match e {
        Error::SecretNotFound(_) => Ok(not_found()),
        other => Err(other.into()),
    }
}

/// A delete of a secret that does not exist changes nothing: Vault's 204.
fn deleted_or_missing<T>(r: Result<T, Error>) -> Result<Response, VaultError> {
    match r {
        Ok(_) => Ok(wire::no_content()),
        Err(e) if is_missing_secret(&e) => Ok(wire::no_content()),
        Err(e) => Err(e.into()),
    }
}

fn require_merge_patch(req: &VaultRequest) -> Result<(), VaultError> {
    let ct = req
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/merge-patch+json") {
        Ok(())
    } else {
        Err(VaultError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "PATCH requires Content-Type: application/merge-patch+json (got {:?})",
                ct.chars().take(64).collect::<String>()
            ),
        ))
    }
}

// ------------------------------------------------------------- config -----

fn config_json(c: &strongroom_engine::secrets::SecretsConfig) -> Value {
    json!({
        "cas_required": c.cas_required,
        "delete_version_after": go_duration(c.delete_version_after_secs),
        "max_versions": c.max_versions,
        "metadata_cas_required": false,
    })
}

async fn config_read(st: &AppState, req: &VaultRequest) -> Result<Response, VaultError> {
    only_query(req, &[])?;
    let caller = authenticate(st, req).await?;
    let c = st.secret_config(&caller).await?;
    Ok(wire::ok(&caller.request_id, config_json(&c)))
}

const CONFIG_FIELDS: &[&str] = &[
    "max_versions",
    "cas_required",
    "delete_version_after",
    "metadata_cas_required",
];

async fn config_write(st: &AppState, req: &VaultRequest) -> Result<Response, VaultError> {
    let body = &req.body;
    fields::only(body, CONFIG_FIELDS, "KV v2 config")?;
    if fields::boolean(body, "metadata_cas_required")? == Some(true) {
        return Err(VaultError::bad_request(
            "metadata_cas_required=true is not supported: Strongroom has no check-and-set on metadata writes (every metadata change is audited)",
        ));
    }
    let update = ConfigUpdate {
        max_versions: fields::version(body, "max_versions")?,
        cas_required: fields::boolean(body, "cas_required")?,
        delete_version_after_secs: parse_duration(body, "delete_version_after", true)?,
    };
    let caller = authenticate(st, req).await?;
    if update.max_versions.is_none()
        && update.cas_required.is_none()
        && update.delete_version_after_secs.is_none()
    {
        return Ok(wire::no_content());
    }
    st.secret_set_config(&caller, update).await?;
    Ok(wire::no_content())
}

// --------------------------------------------------------------- data -----

async fn data_read(st: &AppState, req: &VaultRequest, path: &str) -> Result<Response, VaultError> {
    only_query(req, &["version"])?;
    let version = query_number(req, "version")?;
    let caller = authenticate(st, req).await?;
    let v: KvVersion = match st.kv_read(&caller, path, version).await {
        Ok(v) => v,
        Err(e) => return or_not_found(e),
    };
    let metadata = version_json(&v.version, &v.custom_metadata);
    match &v.fields {
        Some(f) => {
            let data: Map<String, Value> = f
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            Ok(wire::ok(
                &caller.request_id,
                json!({ "data": data, "metadata": metadata }),
            ))
        }
        None => Ok(gone(
            &caller.request_id,
            json!({ "data": null, "metadata": metadata }),
        )),
    }
}

async fn data_write(st: &AppState, req: &VaultRequest, path: &str) -> Result<Response, VaultError> {
    let body = &req.body;
    fields::only(body, &["data", "options"], "a KV v2 data write")?;
    let cas = cas_of(body)?;
    let data = object(body, "data", "{\"data\": {\"password\": \"...\"}}")?.ok_or_else(|| {
        VaultError::bad_request(
            "no data provided: send {\"data\": {\"<field>\": \"<value>\", ...}}",
        )
    })?;
    let f = secret_fields(data)?;
    let caller = authenticate(st, req).await?;
    let v = st.kv_write(&caller, path, f, cas).await?;
    Ok(wire::ok(
        &caller.request_id,
        version_json(&v.version, &v.custom_metadata),
    ))
}

async fn data_patch(st: &AppState, req: &VaultRequest, path: &str) -> Result<Response, VaultError> {
    require_merge_patch(req)?;
    let body = &req.body;
    fields::only(body, &["data", "options"], "a KV v2 data patch")?;
    let cas = cas_of(body)?;
    let data = object(body, "data", "{\"data\": {\"password\": \"...\"}}")?.ok_or_else(|| {
        VaultError::bad_request(
            "no data provided: send {\"data\": {\"<field>\": \"<new value>\" or null to remove}}",
        )
    })?;
    let mut set = SecretFields::new();
    let mut remove = Vec::new();
    for (k, v) in data {
        match v {
            Value::Null => remove.push(k.clone()),
            Value::String(s) => set.insert(k.clone(), s.clone()),
            other => {
                return Err(VaultError::bad_request(format!(
                    "data.{} is {}: Strongroom secrets are maps of string fields, so a patch sets JSON strings or removes a field with null",
                    k.chars().take(64).collect::<String>(),
                    type_name(other)
                )))
            }
        }
    }
    let caller = authenticate(st, req).await?;
    match st.kv_patch(&caller, path, set, remove, cas).await {
        Ok(v) => Ok(wire::ok(
            &caller.request_id,
            version_json(&v.version, &v.custom_metadata),
        )),
        Err(e) => or_not_found(e),
    }
}

async fn data_delete(
    st: &AppState,
    req: &VaultRequest,
    path: &str,
) -> Result<Response, VaultError> {
    only_query(req, &[])?;
    let caller = authenticate(st, req).await?;
    deleted_or_missing(st.secret_delete(&caller, path, vec![]).await)
}

/// `versions` as Vault takes it: a list of numbers (or numeric strings),
/// or one comma-separated string.
fn versions_of(body: &Fields) -> Result<Vec<u32>, VaultError> {
    let bad = |v: &str| {
        VaultError::bad_request(format!(
            "versions: {:?} is not a version number; send a list such as [1, 2] or \"1,2\"",
            v.chars().take(32).collect::<String>()
        ))
    };
    let num = |s: &str| s.trim().parse::<u32>().map_err(|_| bad(s));
    let mut out = Vec::new();
    match body.get("versions") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            for part in s.split(',').filter(|p| !p.trim().is_empty()) {
                out.push(num(part)?);
            }
        }
        Some(Value::Number(n)) => out.push(num(&n.to_string())?),
        Some(Value::Array(items)) => {
            for it in items {
                match it {
                    Value::Number(n) => out.push(num(&n.to_string())?),
                    Value::String(s) => out.push(num(s)?),
                    other => return Err(bad(&other.to_string())),
                }
            }
        }
        Some(other) => return Err(bad(&other.to_string())),
    }
    if out.is_empty() {
        return Err(VaultError::bad_request(
            "No version number provided: send {\"versions\": [1, 2]}",
        ));
    }
    if out.contains(&0) {
        return Err(VaultError::bad_request(
            "versions: 0 is not a version number (versions start at 1)",
        ));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

async fn versions_op(
    st: &AppState,
    req: &VaultRequest,
    verb: &str,
    path: &str,
) -> Result<Response, VaultError> {
    fields::only(&req.body, &["versions"], verb)?;
    let versions = versions_of(&req.body)?;
    let caller = authenticate(st, req).await?;
    deleted_or_missing(match verb {
        "delete" => st.secret_delete(&caller, path, versions).await,
        "undelete" => st.secret_undelete(&caller, path, versions).await,
        _ => st.secret_destroy(&caller, path, versions).await,
    })
}

async fn subkeys(st: &AppState, req: &VaultRequest, path: &str) -> Result<Response, VaultError> {
    only_query(req, &["version", "depth"])?;
    let version = query_number(req, "version")?;
    // Strongroom's values are flat string maps: every depth gives the same.
    let _depth = query_number(req, "depth")?;
    let caller = authenticate(st, req).await?;
    let v = match st.kv_read(&caller, path, version).await {
        Ok(v) => v,
        Err(e) => return or_not_found(e),
    };
    let metadata = version_json(&v.version, &v.custom_metadata);
    match &v.fields {
        Some(f) => {
            let keys: Map<String, Value> =
                f.names().map(|n| (n.to_string(), Value::Null)).collect();
            Ok(wire::ok(
                &caller.request_id,
                json!({ "subkeys": keys, "metadata": metadata }),
            ))
        }
        None => Ok(gone(
            &caller.request_id,
            json!({ "subkeys": null, "metadata": metadata }),
        )),
    }
}

// ----------------------------------------------------------- metadata -----

async fn metadata_list(
    st: &AppState,
    req: &VaultRequest,
    path: &str,
) -> Result<Response, VaultError> {
    only_query(req, &["after", "limit"])?;
    let limit = query_number(req, "limit")?.filter(|n| *n > 0);
    let mut after = req.query.get("after").filter(|a| !a.is_empty()).cloned();
    let caller = authenticate(st, req).await?;
    let mut keys: Vec<String> = Vec::new();
    loop {
        let want = limit.map(|l| (l as usize).saturating_sub(keys.len()).min(1000));
        let page = st
            .secret_list(&caller, path, after.clone(), Some(want.unwrap_or(1000)))
            .await?;
        keys.extend(page.keys);
        match page.next {
            Some(n) if limit.is_none_or(|l| keys.len() < l as usize) => after = Some(n),
            _ => break,
        }
    }
    if keys.is_empty() {
        return Ok(not_found());
    }
    Ok(wire::ok(&caller.request_id, json!({ "keys": keys })))
}

async fn metadata_read(
    st: &AppState,
    req: &VaultRequest,
    path: &str,
) -> Result<Response, VaultError> {
    only_query(req, &[])?;
    let caller = authenticate(st, req).await?;
    let md = match st.secret_metadata(&caller, path).await {
        Ok(m) => m,
        Err(e) => return or_not_found(e),
    };
    let m = &md.meta;
    let versions: Map<String, Value> = m
        .versions
        .values()
        .map(|v| {
            (
                v.version.to_string(),
                json!({
                    "created_time": time_ms(v.created_ms),
                    "deletion_time": deletion(v),
                    "destroyed": v.destroyed,
                }),
            )
        })
        .collect();
    let data = json!({
        "cas_required": m.cas_required,
        "created_time": time_ms(m.created_ms),
        "current_version": m.current_version,
        "custom_metadata": custom_json(&m.custom_metadata),
        "delete_version_after": go_duration(m.delete_version_after_secs),
        "max_versions": m.max_versions,
        "metadata_cas_required": false,
        // Vault counts from the first version trimmed by max_versions: 0
        // while version 1 is still kept.
        "oldest_version": if md.oldest_version <= 1 { 0 } else { md.oldest_version },
        "updated_time": time_ms(m.updated_ms),
        "versions": versions,
    });
    Ok(wire::ok(&caller.request_id, data))
}

const METADATA_FIELDS: &[&str] = &[
    "max_versions",
    "cas_required",
    "delete_version_after",
    "custom_metadata",
];

/// `custom_metadata` as Vault checks it: at most 64 keys of 1-128
/// bytes, values of 1-512 bytes, all printable. In a patch, `null`
/// removes a key (returned in the second list).
fn custom_metadata_of(
    raw: &Fields,
    patch: bool,
) -> Result<(BTreeMap<String, String>, Vec<String>), VaultError> {
    let prefix = "custom_metadata validation failed";
    let mut set = BTreeMap::new();
    let mut remove = Vec::new();
    if raw.len() > 64 {
        return Err(VaultError::bad_request(format!(
            "{prefix}: payload must contain at most 64 keys, provided {}",
            raw.len()
        )));
    }
    for (k, v) in raw {
        let shown: String = k.chars().take(64).collect();
        let value = match v {
            Value::Null if patch => {
                remove.push(k.clone());
                continue;
            }
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(VaultError::bad_request(format!(
                    "{prefix}: the value for key {shown:?} is {}; values are strings",
                    type_name(other)
                )))
            }
        };
        if k.is_empty() || k.len() > 128 {
            return Err(VaultError::bad_request(format!(
                "{prefix}: length of key {shown:?} is {} but must be 0 < len(key) <= 128",
                k.len()
            )));
        }
        if value.is_empty() || value.len() > 512 {
            return Err(VaultError::bad_request(format!(
                "{prefix}: length of value for key {shown:?} is {} but must be 0 < len(value) <= 512",
                value.len()
            )));
        }
        if k.chars().any(char::is_control) || value.chars().any(char::is_control) {
            return Err(VaultError::bad_request(format!(
                "{prefix}: key {shown:?} or its value contains unprintable characters"
            )));
        }
        set.insert(k.clone(), value);
    }
    Ok((set, remove))
}

/// The metadata fields of a POST or PATCH, checked before anything
/// changes. Returns the update and, for a patch, the custom metadata keys
/// to set and to remove (merged by the caller with the current map).
#[allow(clippy::type_complexity)]
fn metadata_update_of(
    body: &Fields,
    patch: bool,
) -> Result<
    (
        MetadataUpdate,
        Option<(BTreeMap<String, String>, Vec<String>)>,
    ),
    VaultError,
> {
    fields::only(body, METADATA_FIELDS, "KV v2 metadata")?;
    let custom = match object(body, "custom_metadata", "{\"owner\": \"team-a\"}")? {
        None => None,
        Some(raw) => Some(custom_metadata_of(raw, patch)?),
    };
    let update = MetadataUpdate {
        max_versions: fields::version(body, "max_versions")?,
        cas_required: fields::boolean(body, "cas_required")?,
        delete_version_after_secs: parse_duration(body, "delete_version_after", false)?,
        ..MetadataUpdate::default()
    };
    Ok((update, custom))
}

fn is_empty_update(u: &MetadataUpdate) -> bool {
    u.max_versions.is_none() && u.cas_required.is_none() && u.delete_version_after_secs.is_none()
}

async fn metadata_write(
    st: &AppState,
    req: &VaultRequest,
    path: &str,
) -> Result<Response, VaultError> {
    let (mut update, custom) = metadata_update_of(&req.body, false)?;
    let caller = authenticate(st, req).await?;
    if let Some((set, _)) = custom {
        update.custom_metadata = Some(set);
    }
    // Vault: a write with no fields changes (and creates) nothing.
    if is_empty_update(&update) && update.custom_metadata.is_none() {
        return Ok(wire::no_content());
    }
    st.secret_update_metadata(&caller, path, update).await?;
    Ok(wire::no_content())
}

async fn metadata_patch(
    st: &AppState,
    req: &VaultRequest,
    path: &str,
) -> Result<Response, VaultError> {
    require_merge_patch(req)?;
    let (mut update, custom) = metadata_update_of(&req.body, true)?;
    let caller = authenticate(st, req).await?;
    // The secret must exist (Vault: 404), and custom_metadata is merged
    // into the current map.
    let current = match st.secret_metadata(&caller, path).await {
        Ok(m) => m,
        Err(e) => return or_not_found(e),
    };
    if let Some((set, remove)) = custom {
        let mut merged = current.meta.custom_metadata.clone();
        for k in remove {
            merged.remove(&k);
        }
        merged.extend(set);
        if merged.len() > 64 {
            return Err(VaultError::bad_request(
                "custom_metadata validation failed: the merged map would have more than 64 keys",
            ));
        }
        update.custom_metadata = Some(merged);
    }
    if is_empty_update(&update) && update.custom_metadata.is_none() {
        return Ok(wire::no_content());
    }
    st.secret_update_metadata(&caller, path, update).await?;
    Ok(wire::no_content())
}

async fn metadata_delete(
    st: &AppState,
    req: &VaultRequest,
    path: &str,
) -> Result<Response, VaultError> {
    only_query(req, &[])?;
    let caller = authenticate(st, req).await?;
    deleted_or_missing(st.secret_delete_all(&caller, path).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: Value) -> Fields {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn times_are_rfc3339_with_trimmed_milliseconds() {
        assert_eq!(time_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(time_ms(1_500), "1970-01-01T00:00:01.5Z");
        assert_eq!(time_ms(1_796_300_000_123), "2026-12-03T12:13:20.123Z");
    }

    #[test]
    fn durations_print_and_parse_as_vault_does() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(90), "1m30s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(768 * 3600), "768h0m0s");
        assert_eq!(go_duration(-1), "-1s");
        let b = f(
            json!({"a": "1h30m", "b": 90, "c": "45", "d": "-1s", "e": "2d", "x": "1y", "y": "h", "z": "10m5"}),
        );
        assert_eq!(parse_duration(&b, "a", false).ok().flatten(), Some(5400));
        assert_eq!(parse_duration(&b, "b", false).ok().flatten(), Some(90));
        assert_eq!(parse_duration(&b, "c", false).ok().flatten(), Some(45));
        assert_eq!(parse_duration(&b, "d", true).ok().flatten(), Some(-1));
        assert_eq!(parse_duration(&b, "e", false).ok().flatten(), Some(172_800));
        assert!(parse_duration(&b, "d", false).is_err());
        for bad in ["x", "y", "z"] {
            assert!(parse_duration(&b, bad, true).is_err(), "{bad}");
        }
        assert_eq!(parse_duration(&b, "missing", true).ok().flatten(), None);
    }

    #[test]
    fn cas_and_versions_parse_and_refuse_clearly() {
        assert_eq!(
            cas_of(&f(json!({"options": {"cas": 3}}))).ok().flatten(),
            Some(3)
        );
        assert_eq!(
            cas_of(&f(json!({"options": {"cas": "0"}}))).ok().flatten(),
            Some(0)
        );
        assert_eq!(cas_of(&f(json!({"options": {}}))).ok().flatten(), None);
        assert!(
            matches!(cas_of(&f(json!({"options": {"cas": -1}}))), Err(e) if e.message.contains("check-and-set"))
        );
        assert!(
            matches!(cas_of(&f(json!({"options": {"cas": "x"}}))), Err(e) if e.message.contains("check-and-set"))
        );
        assert!(
            matches!(cas_of(&f(json!({"options": {"ttl": 1}}))), Err(e) if e.message.contains("\"ttl\""))
        );
        assert!(cas_of(&f(json!({"options": 5}))).is_err());
        assert_eq!(
            versions_of(&f(json!({"versions": [2, "1", 2]}))).ok(),
            Some(vec![1, 2])
        );
        assert_eq!(
            versions_of(&f(json!({"versions": "3,1"}))).ok(),
            Some(vec![1, 3])
        );
        for bad in [
            json!({}),
            json!({"versions": []}),
            json!({"versions": [0]}),
            json!({"versions": ["a"]}),
            json!({"versions": {"1": 1}}),
        ] {
            assert!(versions_of(&f(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_must_be_strings_and_name_the_field_not_the_value() {
        let ok = secret_fields(&f(json!({"user": "app", "password": "s3cret"}))).expect("ok");
        assert_eq!(ok.get("password"), Some("s3cret"));
        let e = secret_fields(&f(json!({"port": 6543}))).expect_err("refused");
        assert!(
            e.message.contains("data.port is a number") && !e.message.contains("6543"),
            "{}",
            e.message
        );
        assert!(secret_fields(&f(json!({"nested": {"a": "b"}}))).is_err());
    }

    #[test]
    fn custom_metadata_follows_vaults_limits() {
        let (set, rm) =
            custom_metadata_of(&f(json!({"owner": "a", "n": 3, "gone": null})), true).expect("ok");
        assert_eq!(set.get("n").map(String::as_str), Some("3"));
        assert_eq!(rm, vec!["gone".to_string()]);
        assert!(custom_metadata_of(&f(json!({"gone": null})), false).is_err());
        assert!(custom_metadata_of(&f(json!({"k": ""})), false).is_err());
        assert!(custom_metadata_of(&f(json!({"k": "x".repeat(513)})), false).is_err());
        assert!(custom_metadata_of(&f(json!({"k": "a\u{7}b"})), false).is_err());
        let many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(custom_metadata_of(&many, false).is_err());
    }
}
