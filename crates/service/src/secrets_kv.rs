//! The secrets operations Vault KV v2 needs beyond [`crate::secrets`]:
//! each answer carries the version's facts and the secret's custom
//! metadata (Vault returns them with every read and write), a read of a
//! deleted or destroyed version answers with its facts and no value
//! (Vault's 404 with `data`), and the engine-wide configuration. Each is
//! one call of the gate, with the actions of [`crate::secrets`]:
//!
//! | operation | action |
//! |---|---|
//! | [`Service::kv_read`] | `strongroom:ReadSecret` on `secret/<path>` |
//! | [`Service::kv_write`], [`Service::kv_patch`] | `strongroom:WriteSecret` on `secret/<path>` |
//! | [`Service::secret_config`] | `strongroom:ReadSecretMetadata` on the whole tree (`secret/*`) |
//! | [`Service::secret_set_config`] | `strongroom:WriteSecret` on the whole tree (`secret/*`) |

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::gate::{Caller, Done, Guarded, Kind};
use crate::secrets_model::{ConfigUpdate, SecretFields, SecretMeta, SecretsConfig, VersionMeta};
use crate::Service;

/// One version as Vault shows it. `fields` is `None` when the version is
/// deleted or destroyed (or, for a write, always). No Debug of values.
pub struct KvVersion {
    pub version: VersionMeta,
    pub custom_metadata: BTreeMap<String, String>,
    pub fields: Option<SecretFields>,
}

fn resource(path: &str) -> String {
    format!("secret/{path}")
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

/// The version `version` (0 or `None`: the current one) of `m`.
fn version_of(m: &SecretMeta, version: Option<u32>) -> Result<VersionMeta> {
    let n = version.filter(|v| *v > 0).unwrap_or(m.current_version);
    m.versions.get(&n).cloned().ok_or_else(|| {
        Error::SecretNotFound(if m.current_version == 0 {
            format!("secret {:?} has no versions yet", m.path)
        } else {
            format!(
                "secret {:?} has no version {n}; the versions kept are {}..={}",
                m.path,
                m.oldest_version(),
                m.current_version
            )
        })
    })
}

impl Service {
    /// Reads a version (`None` or 0: the current one) with its facts; a
    /// deleted or destroyed version comes back without fields. Audited
    /// as a read of that version.
    pub async fn kv_read(
        &self,
        caller: &Caller,
        path: &str,
        version: Option<u32>,
    ) -> Result<KvVersion> {
        let p = path.to_string();
        let who = caller.principal.id.clone();
        self.run_on_secret(
            caller,
            guard("strongroom:ReadSecret", Kind::Read),
            path,
            move |s| {
                let m = s.secrets.metadata(&p)?;
                let vm = version_of(&m, version)?;
                let n = vm.version;
                let fields = if vm.destroyed || vm.is_deleted_at(s.now_ms()) {
                    None
                } else {
                    let (f, _) = s.secrets.get(&p, Some(n))?;
                    s.secrets.note_read(&p, &who, n);
                    Some(f)
                };
                Ok(Done::new(KvVersion {
                    version: vm,
                    custom_metadata: m.custom_metadata,
                    fields,
                })
                .key(resource(&p), Some(n)))
            },
        )
        .await
    }

    /// Writes a new version (`cas` as [`Service::secret_put`]).
    pub async fn kv_write(
        &self,
        caller: &Caller,
        path: &str,
        fields: SecretFields,
        cas: Option<u32>,
    ) -> Result<KvVersion> {
        let p = path.to_string();
        self.run_on_secret(
            caller,
            guard("strongroom:WriteSecret", Kind::Change),
            path,
            move |s| {
                let v = s.secrets.put(&p, &fields, cas)?;
                let custom = s.secrets.metadata(&p)?.custom_metadata;
                let n = v.version;
                Ok(Done::new(KvVersion {
                    version: v,
                    custom_metadata: custom,
                    fields: None,
                })
                .key(resource(&p), Some(n)))
            },
        )
        .await
    }

    /// A new version from the current one (`set` added or replaced,
    /// `remove` dropped); `cas` as [`Service::secret_put`]. A current
    /// version that is deleted or destroyed is [`Error::SecretNotFound`].
    pub async fn kv_patch(
        &self,
        caller: &Caller,
        path: &str,
        set: SecretFields,
        remove: Vec<String>,
        cas: Option<u32>,
    ) -> Result<KvVersion> {
        let p = path.to_string();
        self.run_on_secret(
            caller,
            guard("strongroom:WriteSecret", Kind::Change),
            path,
            move |s| {
                let v = s.secrets.patch(&p, &set, &remove, cas)?;
                let custom = s.secrets.metadata(&p)?.custom_metadata;
                let n = v.version;
                Ok(Done::new(KvVersion {
                    version: v,
                    custom_metadata: custom,
                    fields: None,
                })
                .key(resource(&p), Some(n)))
            },
        )
        .await
    }

    /// The secrets engine's configuration (Vault KV's `config`).
    pub async fn secret_config(&self, caller: &Caller) -> Result<SecretsConfig> {
        self.run_on_secret(
            caller,
            guard("strongroom:ReadSecretMetadata", Kind::Read),
            "",
            move |s| Ok(Done::new(s.secrets.config()?)),
        )
        .await
    }

    /// Changes the secrets engine's configuration: a write on every
    /// secret, so it needs `strongroom:WriteSecret` on the whole tree.
    pub async fn secret_set_config(
        &self,
        caller: &Caller,
        update: ConfigUpdate,
    ) -> Result<SecretsConfig> {
        self.run_on_secret(
            caller,
            guard("strongroom:WriteSecret", Kind::Change),
            "",
            move |s| Ok(Done::new(s.secrets.set_config(&update)?).key("secret/*", None)),
        )
        .await
    }
}
