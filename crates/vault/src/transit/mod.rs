//! A Transit mount: `/v1/<mount>/...`. Transit keys are Strongroom keys:
//! the Transit key `<name>` on mount `<mount>` is the Strongroom key with
//! the alias `alias/<mount>/<name>` (docs/VAULT.md, "Key names").

pub mod crypto;
pub mod fields;
pub mod keys;

use axum::response::Response;

use strongroom_core::crypto::context::EncryptionContext;
use strongroom_service::gate::{Guarded, Kind};

use crate::error::VaultError;
use crate::wire::{Op, VaultRequest};
use crate::{expect, AppState};

/// Every Transit path.
pub async fn dispatch(
    st: &AppState,
    req: &VaultRequest,
    mount: &str,
    rest: &[&str],
) -> Result<Response, VaultError> {
    match rest {
        ["keys"] => {
            expect(req, &[Op::List])?;
            keys::list(st, req, mount).await
        }
        ["keys", name] => match req.op {
            Op::Write => keys::create(st, req, mount, name).await,
            Op::Read => keys::read(st, req, mount, name).await,
            Op::Delete => keys::delete(st, req, mount, name).await,
            _ => Err(VaultError::unsupported_operation()),
        },
        ["keys", name, "config"] => {
            expect(req, &[Op::Write])?;
            keys::config(st, req, mount, name).await
        }
        ["keys", name, "rotate"] => {
            expect(req, &[Op::Write])?;
            keys::rotate(st, req, mount, name).await
        }
        ["keys", _, "trim"] => Err(refused(
            "trim is not supported: Strongroom never deletes a key version's material short of destroying the whole key. Raise min_decryption_version (keys/<name>/config) to stop old versions from decrypting",
        )),
        ["keys", _, "import"] | ["keys", _, "import_version"] | ["wrapping_key"] => Err(refused(
            "importing key material through the Vault API is not supported; use the native import (`strongroom key import`, or the AWS GetParametersForImport/ImportKeyMaterial)",
        )),
        ["export", ..] => Err(refused(
            "export is not supported: Strongroom keys are never exportable (exportable=true is refused at creation), so key material never leaves the server",
        )),
        ["backup", ..] | ["restore", ..] => Err(refused(
            "backup and restore of single Transit keys are not supported; back up the whole server with `strongroom backup create` (its own sealed format) and restore it with `strongroom backup restore`",
        )),
        ["cache-config"] | ["config", ..] => Err(refused(
            "Transit mount configuration is not supported: keys are cached in memory while the server is unsealed",
        )),
        ["encrypt", name] => {
            expect(req, &[Op::Write])?;
            crypto::encrypt(st, req, mount, name).await
        }
        ["decrypt", name] => {
            expect(req, &[Op::Write])?;
            crypto::decrypt(st, req, mount, name).await
        }
        ["rewrap", name] => {
            expect(req, &[Op::Write])?;
            crypto::rewrap(st, req, mount, name).await
        }
        ["datakey", kind, name] => {
            expect(req, &[Op::Write])?;
            crypto::datakey(st, req, mount, kind, name).await
        }
        ["sign", name] | ["sign", name, _] => {
            expect(req, &[Op::Write])?;
            crypto::sign(st, req, mount, name, rest.get(2).copied()).await
        }
        ["verify", name] | ["verify", name, _] => {
            expect(req, &[Op::Write])?;
            crypto::verify(st, req, mount, name, rest.get(2).copied()).await
        }
        ["hmac", name] | ["hmac", name, _] => {
            expect(req, &[Op::Write])?;
            crypto::hmac(st, req, mount, name, rest.get(2).copied()).await
        }
        ["random", more @ ..] if more.len() <= 2 => {
            expect(req, &[Op::Write])?;
            crypto::random(st, req, more).await
        }
        ["hash"] | ["hash", _] => {
            expect(req, &[Op::Write])?;
            crypto::hash(st, req, rest.get(1).copied()).await
        }
        _ => Err(VaultError::unsupported_path(&req.path)),
    }
}

fn refused(message: &str) -> VaultError {
    VaultError::bad_request(message)
}

/// The Strongroom alias of a Transit key name, after checking the name.
pub fn alias_of(mount: &str, name: &str) -> Result<String, VaultError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(VaultError::bad_request(format!(
            "invalid key name {:?}: use 1-128 characters from A-Z a-z 0-9 - _ (the key is the Strongroom key with alias alias/{mount}/<name>)",
            name.chars().take(140).collect::<String>()
        )));
    }
    Ok(format!("alias/{mount}/{name}"))
}

/// One guarded request on a key (or none).
pub fn guarded<'a>(
    action: &'static str,
    key: Option<&'a str>,
    context: Option<&'a EncryptionContext>,
    kind: Kind,
) -> Guarded<'a> {
    Guarded {
        action,
        key,
        context,
        kind,
        command: None,
    }
}
