//! Rotation of secrets that Strongroom can rotate itself: kind `postgres`
//! (below) and kind `hook` (an operator-configured hook: [`crate::hooks`]).
//!
//! Every rotation runs under the secret's rotation lease
//! (`Secrets::lease_rotation`), so two rotations of one secret never run
//! at once, on one node or on several sharing PostgreSQL; a scheduled one
//! re-reads the secret from storage under the lease and does nothing if
//! another node has just rotated it.
//!
//! A secret of kind `postgres` holds `url` (a connection URL for the role,
//! without its password, e.g. `postgres://app@db.internal:5432/orders`),
//! `role`, `password` and `admin`: the path of another secret whose `url`
//! field is a privileged connection URL (and optional `password` field)
//! that may run `ALTER ROLE`. Rotating it:
//!
//! 1. generates a strong password (24 bytes from the node's RNG, base64url: 32 characters);
//! 2. runs `ALTER ROLE "<role>" PASSWORD '<new>'` on the privileged connection;
//! 3. logs in as the role with the new password (`SELECT 1`);
//! 4. only then writes the new version (check-and-set on the version it read).
//!
//! If step 3 fails, the old password is put back (best effort) and the old
//! version stays current; every failure is an error answer, audited by the
//! gate. Connections are plain (NoTls): use it on a trusted network or a
//! local socket.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::node::Services;
use crate::secrets_model::{SecretFields, SecretKind, SecretMeta, VersionMeta};

/// How long a PostgreSQL rotation may take in all (connections, ALTER
/// ROLE, the check), well inside the rotation lease.
const PG_ROTATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn field<'a>(f: &'a SecretFields, path: &str, name: &str) -> Result<&'a str> {
    f.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "secret {path} (kind postgres) has no {name:?} field; a postgres secret holds url, role, password and admin (the path of the secret with the privileged connection's url)"
        ))
    })
}

/// `"name"`, with inner quotes doubled.
fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn pg_error(what: &str, e: &tokio_postgres::Error) -> Error {
    // Neither form holds the statement or a password.
    let why = match e.as_db_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    };
    Error::InvalidArgument(format!("rotation failed: {what}: {why}"))
}

fn config(url: &str, what: &str, password: Option<&str>) -> Result<tokio_postgres::Config> {
    let mut cfg: tokio_postgres::Config = url.parse().map_err(|_| {
        Error::InvalidArgument(format!(
            "rotation failed: the {what} url is not a PostgreSQL connection URL (postgres://user@host:port/db)"
        ))
    })?;
    if let Some(p) = password {
        cfg.password(p);
    }
    cfg.connect_timeout(std::time::Duration::from_secs(10));
    Ok(cfg)
}

async fn connect(cfg: &tokio_postgres::Config, what: &str) -> Result<tokio_postgres::Client> {
    let (client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| pg_error(&format!("connecting {what}"), &e))?;
    tokio::spawn(conn);
    Ok(client)
}

fn not_rotatable(path: &str) -> Error {
    Error::InvalidArgument(format!(
        "secret {path} is of kind generic: rotate it by writing a new version (`strongroom secret put`); Strongroom rotates kind postgres secrets itself, and kind hook secrets with an operator-configured hook (docs/SECRETS.md)"
    ))
}

/// Rotates the secret at `path` now (on demand). `Conflict` if another
/// rotation of it is running.
pub fn rotate(s: &Services, path: &str) -> Result<VersionMeta> {
    if s.secrets.metadata_stored(path)?.kind == SecretKind::Generic {
        return Err(not_rotatable(path));
    }
    let lease = s.secrets.lease_rotation(path, &s.request_id())?;
    let m = s.secrets.metadata_stored(path)?;
    let r = rotate_leased(s, &m);
    drop(lease);
    r
}

/// Rotates the secret at `path` if its rotation date has come at `now`
/// (the scheduler). `Ok(None)`: nothing to do, because it is not due (any
/// more: another node may have just rotated it) or another rotation of it
/// holds the lease.
pub fn rotate_if_due(s: &Services, path: &str, now: i64) -> Result<Option<VersionMeta>> {
    let lease = match s.secrets.lease_rotation(path, &s.request_id()) {
        Ok(l) => l,
        Err(Error::Conflict(_)) => {
            tracing::debug!(secret = %path, "another rotation holds the lease; skipped");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let m = s.secrets.metadata_stored(path)?;
    let r = if m.kind != SecretKind::Generic && m.rotation_due(now) {
        rotate_leased(s, &m).map(Some)
    } else {
        Ok(None)
    };
    drop(lease);
    r
}

fn rotate_leased(s: &Services, m: &SecretMeta) -> Result<VersionMeta> {
    match m.kind {
        SecretKind::Postgres => rotate_postgres(s, &m.path),
        SecretKind::Hook => rotate_hook(s, m),
        SecretKind::Generic => Err(not_rotatable(&m.path)),
    }
}

fn rotate_hook(s: &Services, m: &SecretMeta) -> Result<VersionMeta> {
    let path = &m.path;
    let name = m.rotation_hook.as_deref().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "secret {path} is of kind hook but names no rotation hook; set one with `strongroom secret set-metadata {path} --rotation-hook NAME`"
        ))
    })?;
    let hook = s.rotation_hooks.find(name, path)?;
    let (current, vm) = s.secrets.get_stored(path, None)?;
    let next = crate::hooks::rotate_with(hook, path, vm.version, &current)?;
    s.secrets.put(path, &next, Some(vm.version))
}

fn rotate_postgres(s: &Services, path: &str) -> Result<VersionMeta> {
    let (current, vm) = s.secrets.get_stored(path, None)?;
    let url = field(&current, path, "url")?.to_string();
    let role = field(&current, path, "role")?.to_string();
    let old = Zeroizing::new(field(&current, path, "password")?.to_string());
    let admin_path = field(&current, path, "admin")?.to_string();
    let (admin, _) = s.secrets.get_stored(&admin_path, None)?;
    let admin_url = field(&admin, &admin_path, "url")?.to_string();
    let admin_pw = admin.get("password").map(|p| Zeroizing::new(p.to_string()));

    let mut raw = Zeroizing::new([0u8; 24]);
    s.rng
        .fill(&mut raw[..])
        .map_err(|_| Error::Internal("the RNG failed".into()))?;
    let new = Zeroizing::new(URL_SAFE_NO_PAD.encode(&raw[..]));

    let admin_cfg = config(
        &admin_url,
        "privileged",
        admin_pw.as_ref().map(|p| p.as_str()),
    )?;
    let mut role_cfg = config(&url, "role's", Some(new.as_str()))?;
    role_cfg.user(&role);
    let alter = |pw: &str| {
        // base64url and the old password: single quotes doubled.
        Zeroizing::new(format!(
            "ALTER ROLE {} PASSWORD '{}'",
            quote_ident(&role),
            pw.replace('\'', "''")
        ))
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("rotation runtime: {e}")))?;
    rt.block_on(async {
        tokio::time::timeout(PG_ROTATION_TIMEOUT, async {
            let admin = connect(&admin_cfg, "the privileged connection").await?;
            admin
                .batch_execute(alter(&new).as_str())
                .await
                .map_err(|e| pg_error("ALTER ROLE", &e))?;
            let verified = match connect(&role_cfg, "as the role with the new password").await {
                Ok(c) => c
                    .simple_query("SELECT 1")
                    .await
                    .map(|_| ())
                    .map_err(|e| pg_error("SELECT 1 as the role", &e)),
                Err(e) => Err(e),
            };
            if let Err(e) = verified {
                // Put the old password back so the current version still works.
                let _ = admin.batch_execute(alter(&old).as_str()).await;
                return Err(e);
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|_| {
            Err(Error::InvalidArgument(format!(
                "rotation failed: PostgreSQL did not answer within {} s",
                PG_ROTATION_TIMEOUT.as_secs()
            )))
        })
    })?;
    let mut next = current.duplicate();
    next.insert("password".into(), new.to_string());
    s.secrets.put(path, &next, Some(vm.version))
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
