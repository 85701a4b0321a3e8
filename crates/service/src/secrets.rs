//! The secrets operations, for every front-end (native REST, Vault KV v2,
//! the console): typed requests in, typed results out, each one call of the
//! gate ([`Service::run_on_secret`]) with the policy resource
//! `secret/<path>` and its own action:
//!
//! | operation | action |
//! |---|---|
//! | read a value | `strongroom:ReadSecret` |
//! | read metadata and history | `strongroom:ReadSecretMetadata` |
//! | list a folder | `strongroom:ListSecrets` (resource: the folder) |
//! | put, patch, change metadata | `strongroom:WriteSecret` |
//! | soft-delete, undelete | `strongroom:DeleteSecret` |
//! | destroy versions, delete the whole secret | `strongroom:DestroySecret` (dual control) |
//! | rotate | `strongroom:RotateSecret` |
//!
//! Every read of a value is audited with its path (in `key_id`, as
//! `secret/<path>`), version and identity; never the value.

use serde::Serialize;

use crate::approvals::{Command, CommandOutput};
use crate::error::{Error, Result};
use crate::gate::{Caller, Done, Guarded, Kind};
use crate::secrets_model::{
    LastRead, ListPage, MetadataUpdate, SecretFields, SecretMeta, VersionMeta,
};
use crate::Service;
use strongroom_engine::secrets::Secrets;

/// A secret version's value with its facts. No Debug of the values.
pub struct SecretValue {
    pub path: String,
    pub version: VersionMeta,
    pub fields: SecretFields,
}

/// A secret's metadata as shown (everything but values).
#[derive(Debug, Clone, Serialize)]
pub struct SecretMetadata {
    #[serde(flatten)]
    pub meta: SecretMeta,
    pub oldest_version: u32,
    /// Rotation is due (or the secret has expired) at the node's clock.
    pub overdue: bool,
    /// The last read of a value on this node, if any since it was unsealed.
    pub last_read: Option<LastRead>,
}

fn resource(path: &str) -> String {
    format!("secret/{path}")
}

/// The folder a list request names: `""`, or the prefix with one `/` added
/// if it has none.
pub fn list_folder(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

fn guard(action: &'static str, kind: Kind) -> Guarded<'static> {
    Guarded {
        action,
        key: None,
        context: None,
        kind,
        command: None,
    }
}

impl Service {
    /// Writes a new version (`cas`: 0 = only if none exists yet; n = only
    /// if the current version is n).
    pub async fn secret_put(
        &self,
        caller: &Caller,
        path: &str,
        fields: SecretFields,
        cas: Option<u32>,
    ) -> Result<VersionMeta> {
        let p = path.to_string();
        self.run_on_secret(
            caller,
            guard("strongroom:WriteSecret", Kind::Change),
            path,
            move |s| {
                let v = s.secrets.put(&p, &fields, cas)?;
                let n = v.version;
                Ok(Done::new(v).key(resource(&p), Some(n)))
            },
        )
        .await
    }

    /// A new version from the current one with `set` fields added or
    /// replaced and `remove` fields dropped.
    pub async fn secret_patch(
        &self,
        caller: &Caller,
        path: &str,
        set: SecretFields,
        remove: Vec<String>,
        cas: Option<u32>,
    ) -> Result<VersionMeta> {
        let p = path.to_string();
        self.run_on_secret(
            caller,
            guard("strongroom:WriteSecret", Kind::Change),
            path,
            move |s| {
                let v = s.secrets.patch(&p, &set, &remove, cas)?;
                let n = v.version;
                Ok(Done::new(v).key(resource(&p), Some(n)))
            },
        )
        .await
    }

    /// Reads a value: the current version, or `version`. Audited with the
    /// path, the version read and the caller.
    pub async fn secret_get(
        &self,
        caller: &Caller,
        path: &str,
        version: Option<u32>,
    ) -> Result<SecretValue> {
        let p = path.to_string();
        let who = caller.principal.id.clone();
        // A warm cache answers from memory: the read runs inline (as an
        // encrypt does), on the entry found here, after the policy decision.
        let cached = self
            .seal
            .services()
            .ok()
            .and_then(|s| s.secrets.cached_read(path, version));
        let kind = if cached.is_some() {
            Kind::Use
        } else {
            Kind::Read
        };
        self.run_on_secret(
            caller,
            guard("strongroom:ReadSecret", kind),
            path,
            move |s| {
                let (fields, vm) = match cached
                    .as_deref()
                    .and_then(|e| Secrets::answer_cached(e, version, s.secrets.now()))
                {
                    Some(answer) => answer?,
                    None => s.secrets.get(&p, version)?,
                };
                s.secrets.note_read(&p, &who, vm.version);
                let n = vm.version;
                Ok(Done::new(SecretValue {
                    path: p.clone(),
                    version: vm,
                    fields,
                })
                .key(resource(&p), Some(n)))
            },
        )
        .await
    }

    /// Metadata and history (every version's facts, never a value).
    pub async fn secret_metadata(&self, caller: &Caller, path: &str) -> Result<SecretMetadata> {
        let p = path.to_string();
        self.run_on_secret(
            caller,
            guard("strongroom:ReadSecretMetadata", Kind::Read),
            path,
            move |s| {
                let meta = s.secrets.metadata(&p)?;
                Ok(Done::new(SecretMetadata {
                    oldest_version: meta.oldest_version(),
                    overdue: meta.rotation_overdue(s.now_ms()),
                    last_read: s.secrets.last_read(&p),
                    meta,
                })
                .key(resource(&p), None))
            },
        )
        .await
    }

    /// Changes metadata (creates the secret, without versions, if absent).
    pub async fn secret_update_metadata(
        &self,
        caller: &Caller,
        path: &str,
        update: MetadataUpdate,
    ) -> Result<SecretMeta> {
        let p = path.to_string();
        self.run_on_secret(
            caller,
            guard("strongroom:WriteSecret", Kind::Change),
            path,
            move |s| Ok(Done::new(s.secrets.update_metadata(&p, &update)?).key(resource(&p), None)),
        )
        .await
    }

    /// Names and sub-folders directly under `prefix` (a folder; a missing
    /// trailing `/` is added), paged with `after`.
    pub async fn secret_list(
        &self,
        caller: &Caller,
        prefix: &str,
        after: Option<String>,
        limit: Option<usize>,
    ) -> Result<ListPage> {
        let limit = crate::gate::page_limit("limit", limit)?;
        let folder = list_folder(prefix);
        let f = folder.clone();
        self.run_on_secret(
            caller,
            guard("strongroom:ListSecrets", Kind::Read),
            &folder,
            move |s| Ok(Done::new(s.secrets.list(&f, after.as_deref(), limit)?)),
        )
        .await
    }

    /// Soft-deletes versions (empty: the current one).
    pub async fn secret_delete(
        &self,
        caller: &Caller,
        path: &str,
        versions: Vec<u32>,
    ) -> Result<Vec<u32>> {
        let p = path.to_string();
        self.run_on_secret(
            caller,
            guard("strongroom:DeleteSecret", Kind::Change),
            path,
            move |s| {
                Ok(Done::new(s.secrets.delete_versions(&p, &versions)?).key(resource(&p), None))
            },
        )
        .await
    }

    /// Undoes soft deletes (empty: the current version).
    pub async fn secret_undelete(
        &self,
        caller: &Caller,
        path: &str,
        versions: Vec<u32>,
    ) -> Result<Vec<u32>> {
        let p = path.to_string();
        self.run_on_secret(
            caller,
            guard("strongroom:DeleteSecret", Kind::Change),
            path,
            move |s| {
                Ok(Done::new(s.secrets.undelete_versions(&p, &versions)?).key(resource(&p), None))
            },
        )
        .await
    }

    /// Destroys versions for good (empty: the current one). Dual-controlled
    /// when `strongroom:DestroySecret` is (the default): then the answer is
    /// `ApprovalRequired`.
    pub async fn secret_destroy(
        &self,
        caller: &Caller,
        path: &str,
        versions: Vec<u32>,
    ) -> Result<Vec<u32>> {
        let out = self
            .submit(
                caller,
                Command::DestroySecretVersions {
                    path: path.to_string(),
                    versions,
                },
            )
            .await?;
        versions_of(out)
    }

    /// Deletes the whole secret: metadata and every version, for good.
    /// Dual-controlled as destroy is.
    pub async fn secret_delete_all(&self, caller: &Caller, path: &str) -> Result<u32> {
        let out = self
            .submit(
                caller,
                Command::DeleteSecret {
                    path: path.to_string(),
                },
            )
            .await?;
        match out {
            CommandOutput::Value(v) => v["versions_removed"]
                .as_u64()
                .map(|n| n as u32)
                .ok_or_else(|| Error::Internal("delete-secret result".into())),
            CommandOutput::Key(_) => Err(Error::Internal("delete-secret result".into())),
        }
    }
}

impl Service {
    /// Rotates a secret Strongroom can rotate itself (kind `postgres`:
    /// [`crate::rotator`]). On failure nothing changes and the error is
    /// audited; the old version stays current.
    pub async fn secret_rotate(&self, caller: &Caller, path: &str) -> Result<VersionMeta> {
        let p = path.to_string();
        self.run_on_secret(
            caller,
            guard("strongroom:RotateSecret", Kind::Change),
            path,
            move |s| {
                let v = crate::rotator::rotate(s, &p)?;
                let n = v.version;
                Ok(Done::new(v).key(resource(&p), Some(n)))
            },
        )
        .await
    }
}

impl Service {
    /// Every secret's metadata (never a value), for the inventory: one
    /// `strongroom:ReadSecretMetadata` decision on the whole tree (the
    /// folder `""`: granted by `*` or `secret/*`).
    pub async fn secret_inventory(&self, caller: &Caller) -> Result<Vec<SecretMetadata>> {
        self.run_on_secret(
            caller,
            guard("strongroom:ReadSecretMetadata", Kind::Read),
            "",
            move |s| {
                let now = s.now_ms();
                let out = s
                    .secrets
                    .all()?
                    .into_iter()
                    .map(|meta| SecretMetadata {
                        oldest_version: meta.oldest_version(),
                        overdue: meta.rotation_overdue(now),
                        last_read: s.secrets.last_read(&meta.path),
                        meta,
                    })
                    .collect();
                Ok(Done::new(out))
            },
        )
        .await
    }
}

fn versions_of(out: CommandOutput) -> Result<Vec<u32>> {
    match out {
        CommandOutput::Value(v) => serde_json::from_value(v["versions"].clone())
            .map_err(|e| Error::Internal(format!("destroy result: {e}"))),
        CommandOutput::Key(_) => Err(Error::Internal("destroy result".into())),
    }
}
