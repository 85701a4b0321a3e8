//! The system paths Vault clients call: `sys/health`, `sys/seal-status`,
//! `sys/mounts`, `sys/internal/ui/mounts/<path>` and
//! `auth/token/lookup-self`. Other `sys/` paths are refused with a pointer
//! to the native command.

use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::error::VaultError;
use crate::wire::{self, Op, VaultRequest};
use crate::{authenticate, expect, AppState, Mount, MountKind};

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub async fn dispatch(
    st: &AppState,
    req: &VaultRequest,
    rest: &[&str],
) -> Result<Response, VaultError> {
    match rest {
        ["health"] => health(st, req),
        ["seal-status"] => seal_status(st, req),
        ["leader"] => {
            // `bao status` asks; Strongroom's HA is not Vault's.
            expect(req, &[Op::Read])?;
            Ok(wire::json_response(200, &json!({ "ha_enabled": false })))
        }
        ["mounts"] => {
            expect(req, &[Op::Read])?;
            let caller = authenticate(st, req).await?;
            let mut data = Map::new();
            for m in &st.settings.mounts {
                data.insert(format!("{}/", m.path), mount_info(m));
            }
            // Vault answers with the mounts both in `data` and at the top.
            let mut body = wire::envelope(&caller.request_id, Value::Object(data.clone()));
            if let Value::Object(top) = &mut body {
                top.extend(data);
            }
            Ok(wire::json_response(200, &body))
        }
        ["mounts", path @ ..] if !path.is_empty() => enable_mount(st, req, &path.join("/")).await,
        ["internal", "ui", "mounts", path @ ..] => {
            expect(req, &[Op::Read])?;
            let caller = authenticate(st, req).await?;
            let name = path.first().copied().unwrap_or("");
            match st.settings.mount(name) {
                Some(m) => {
                    let mut info = mount_info(m);
                    info["path"] = json!(format!("{}/", m.path));
                    Ok(wire::ok(&caller.request_id, info))
                }
                None => Err(VaultError::new(
                    403,
                    "NotFound",
                    format!(
                        "preflight capability check returned 403, please ensure client's policies grant access to path \"{}/\" (this server has the mounts: {})",
                        name.chars().take(100).collect::<String>(),
                        mount_list(st)
                    ),
                )),
            }
        }
        ["init"] | ["unseal"] | ["seal"] | ["rekey", ..] | ["generate-root", ..] => {
            Err(VaultError::new(
                400,
                "InvalidArgument",
                format!(
                    "sys/{} is not served in Vault's shape; use the Strongroom CLI (`strongroom operator init|unseal|seal`) or the native /v1/sys/{} without the X-Vault-Request header",
                    rest.join("/"),
                    rest.join("/")
                ),
            ))
        }
        _ => Err(VaultError::unsupported_path(&req.path)),
    }
}

fn mount_list(st: &AppState) -> String {
    st.settings
        .mounts
        .iter()
        .map(|m| format!("{}/ ({})", m.path, m.kind.type_name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mount_info(m: &Mount) -> Value {
    // The `bao kv` / `vault kv` preflight reads `options.version`.
    let (description, options) = match m.kind {
        MountKind::Transit => (
            "Strongroom transit (Strongroom keys, policies and audit)",
            json!({}),
        ),
        MountKind::KvV2 => (
            "Strongroom secrets (KV version 2 on Strongroom's secrets engine, policies and audit)",
            json!({ "version": "2" }),
        ),
    };
    json!({
        "type": m.kind.type_name(),
        "description": description,
        "accessor": format!("{}_strongroom", m.kind.type_name()),
        "config": {
            "default_lease_ttl": 0,
            "max_lease_ttl": 0,
            "force_no_cache": false,
        },
        "options": options,
        "deprecation_status": "supported",
        "local": false,
        "seal_wrap": false,
        "external_entropy_access": false,
        "plugin_version": "",
        "running_plugin_version": format!("v{VERSION}+builtin.strongroom"),
        "running_sha256": "",
        "uuid": "",
    })
}

/// `POST sys/mounts/<path>`: enabling a mount that exists with the same
/// type is accepted and changes nothing (clients and scripts do it
/// idempotently); anything else is refused: mounts are server
/// configuration here.
async fn enable_mount(
    st: &AppState,
    req: &VaultRequest,
    path: &str,
) -> Result<Response, VaultError> {
    expect(req, &[Op::Write, Op::Delete, Op::Read])?;
    authenticate(st, req).await?;
    let name = path.trim_end_matches('/');
    let wanted = req.body.get("type").and_then(Value::as_str).unwrap_or("");
    let same = |m: &Mount| match m.kind {
        MountKind::Transit => wanted == "transit",
        // `bao secrets enable -version=2 kv` and `... kv-v2`; not version 1.
        MountKind::KvV2 => {
            let version = req
                .body
                .get("options")
                .and_then(|o| o.get("version"))
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                });
            (wanted == "kv" && version.as_deref().is_none_or(|v| v == "2"))
                || (wanted == "kv-v2" && version.as_deref().is_none_or(|v| v == "2"))
        }
    };
    match (req.op, st.settings.mount(name)) {
        (Op::Write, Some(m)) if same(m) => Ok(wire::no_content()),
        (Op::Write, Some(m)) => Err(VaultError::bad_request(format!(
            "path is already in use at {}/ (type {}{}); mounts are set in Strongroom's configuration (vault_transit_mounts, vault_kv_mounts), not through sys/mounts",
            m.path,
            m.kind.type_name(),
            if m.kind == MountKind::KvV2 { ", version 2" } else { "" }
        ))),
        _ => Err(VaultError::bad_request(format!(
            "mounts are set in Strongroom's configuration, not through sys/mounts; this server has: {}. Enabling an existing mount with its type is accepted and changes nothing",
            mount_list(st)
        ))),
    }
}

/// `GET sys/health`: Vault's fields, status codes and query overrides.
fn health(st: &AppState, req: &VaultRequest) -> Result<Response, VaultError> {
    expect(req, &[Op::Read, Op::Head])?;
    let s = st.seal.status()?;
    let code = |name: &str, default: u16| -> Result<u16, VaultError> {
        match req.query.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| {
                    VaultError::bad_request(format!(
                        "{name}={v:?} is not an HTTP status code (100-599)"
                    ))
                }),
        }
    };
    // Every override is checked, whichever applies now.
    let (uninit, sealed, active) = (
        code("uninitcode", 501)?,
        code("sealedcode", 503)?,
        code("activecode", 200)?,
    );
    for other in ["standbycode", "drsecondarycode", "performancestandbycode"] {
        code(other, 200)?;
    }
    let status = if !s.initialized {
        uninit
    } else if s.sealed {
        sealed
    } else {
        active
    };
    let now = st.now_ms() / 1000;
    let body = json!({
        "initialized": s.initialized,
        "sealed": s.sealed,
        "standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": now,
        "version": format!("{VERSION}+strongroom"),
        "cluster_name": "strongroom",
        "cluster_id": "",
    });
    if req.op == Op::Head {
        let mut r = wire::json_response(status, &Value::Null);
        *r.body_mut() = axum::body::Body::empty();
        return Ok(r);
    }
    Ok(wire::json_response(status, &body))
}

/// `GET sys/seal-status`: Vault's shape.
fn seal_status(st: &AppState, req: &VaultRequest) -> Result<Response, VaultError> {
    expect(req, &[Op::Read])?;
    let s = st.seal.status()?;
    let body = json!({
        "type": s.seal_type,
        "initialized": s.initialized,
        "sealed": s.sealed,
        "t": s.threshold,
        "n": s.shares,
        "progress": s.progress,
        "nonce": "",
        "version": format!("{VERSION}+strongroom"),
        "commit_date": "",
        "migration": false,
        "cluster_name": "strongroom",
        "cluster_id": "",
        "recovery_seal": false,
        "storage_type": s.storage,
    });
    Ok(wire::json_response(200, &body))
}

/// `auth/token/lookup-self` (GET or POST): who the token is. The token
/// itself is not echoed back (`id` is empty).
pub async fn token(
    st: &AppState,
    req: &VaultRequest,
    rest: &[&str],
) -> Result<Response, VaultError> {
    match rest {
        ["lookup-self"] => {
            expect(req, &[Op::Read, Op::Write])?;
            let caller = authenticate(st, req).await?;
            let p = &caller.principal;
            let data = json!({
                "accessor": "",
                "creation_time": 0,
                "creation_ttl": 0,
                "display_name": p.id,
                "entity_id": p.id,
                "expire_time": null,
                "explicit_max_ttl": 0,
                "id": "",
                "issue_time": wire::rfc3339(st.now_ms() / 1000),
                "meta": null,
                "num_uses": 0,
                "orphan": true,
                "path": "auth/token/create",
                "policies": p.roles,
                "renewable": false,
                "ttl": 0,
                "type": "service",
            });
            Ok(wire::ok(&caller.request_id, data))
        }
        _ => Err(VaultError::new(
            404,
            "NotFound",
            format!(
                "unsupported path: /v1/{}; Strongroom tokens are made with `strongroom token create` (only auth/token/lookup-self is served here)",
                req.path_for_audit()
            ),
        )),
    }
}
