//! The secrets engine's own configuration: defaults every secret follows
//! unless its metadata says otherwise (Vault KV v2's `config` path sets
//! them; docs/VAULT.md, "KV v2"). One sealed record of kind
//! [`KIND_SECRET_CONFIG`]; absent means all defaults.

use serde::{Deserialize, Serialize};

use super::{Secrets, MAX_MAX_VERSIONS};
use crate::error::{Error, Result};
use crate::storage::{Op, Transaction};

/// Record kind of the engine's configuration (one record).
pub const KIND_SECRET_CONFIG: &str = "secret-config";
/// The id of that one record.
const CONFIG_ID: &str = "engine";
/// Its AAD identity.
const CONFIG_IDENTITY: &str = "strongroom/secret-config/engine";
/// Longest `delete_version_after`: 100 years, in seconds.
pub const MAX_DELETE_VERSION_AFTER_SECS: i64 = 100 * 365 * 86_400;

/// The engine-wide defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsConfig {
    /// Versions kept by a secret whose own `max_versions` is 0 (0: 10).
    #[serde(default)]
    pub max_versions: u32,
    /// Every write to every secret must give `cas`.
    #[serde(default)]
    pub cas_required: bool,
    /// Seconds after its creation at which a new version is soft-deleted
    /// (0: never, unless the secret says; negative: never, whatever the
    /// secret says).
    #[serde(default)]
    pub delete_version_after_secs: i64,
}

/// Changes to the configuration; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigUpdate {
    #[serde(default)]
    pub max_versions: Option<u32>,
    #[serde(default)]
    pub cas_required: Option<bool>,
    #[serde(default)]
    pub delete_version_after_secs: Option<i64>,
}

/// When a version created (or undeleted) at `from_ms` is to be deleted:
/// the shorter of the engine's and the secret's `delete_version_after`
/// where set (> 0); never when the engine's is negative (switched off).
pub fn deletion_time(from_ms: i64, config: &SecretsConfig, secret_after_secs: i64) -> Option<i64> {
    let engine = config.delete_version_after_secs;
    if engine < 0 {
        return None;
    }
    let after = match (engine, secret_after_secs.max(0)) {
        (0, 0) => return None,
        (0, s) => s,
        (e, 0) => e,
        (e, s) => e.min(s),
    };
    Some(from_ms.saturating_add(after.saturating_mul(1000)))
}

impl Secrets {
    /// The engine's configuration (all defaults when never set).
    pub fn config(&self) -> Result<SecretsConfig> {
        let Some(rec) = self.store.load_record(KIND_SECRET_CONFIG, CONFIG_ID)? else {
            return Ok(SecretsConfig::default());
        };
        let plain = self.barrier.open(CONFIG_IDENTITY, &rec.body)?;
        serde_json::from_slice(plain.expose())
            .map_err(|e| Error::Internal(format!("secrets configuration unreadable: {e}")))
    }

    /// Changes the configuration. Secrets already written keep the
    /// versions and deletion times they have; the new values apply from
    /// each secret's next write.
    pub fn set_config(&self, u: &ConfigUpdate) -> Result<SecretsConfig> {
        if u.max_versions.is_some_and(|n| n > MAX_MAX_VERSIONS) {
            return Err(Error::InvalidArgument(format!(
                "max_versions is at most {MAX_MAX_VERSIONS} (0 means the default, {})",
                super::DEFAULT_MAX_VERSIONS
            )));
        }
        if u.delete_version_after_secs
            .is_some_and(|d| d.abs() > MAX_DELETE_VERSION_AFTER_SECS)
        {
            return Err(Error::InvalidArgument(format!(
                "delete_version_after is at most {MAX_DELETE_VERSION_AFTER_SECS} seconds (100 years); 0 clears it, a negative value switches it off for every secret"
            )));
        }
        let _w = self.lock()?;
        let mut c = self.config()?;
        if let Some(n) = u.max_versions {
            c.max_versions = n;
        }
        if let Some(b) = u.cas_required {
            c.cas_required = b;
        }
        if let Some(d) = u.delete_version_after_secs {
            c.delete_version_after_secs = if d < 0 { -1 } else { d };
        }
        let plain = serde_json::to_vec(&c)
            .map_err(|e| Error::Internal(format!("secrets configuration encoding: {e}")))?;
        let body = self.barrier.seal(CONFIG_IDENTITY, &plain)?;
        self.store.commit(Transaction::new().push(Op::PutRecord {
            kind: KIND_SECRET_CONFIG.into(),
            id: CONFIG_ID.into(),
            body,
        }))?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_time_takes_the_shorter_and_the_engine_can_switch_it_off() {
        let c = |d| SecretsConfig {
            delete_version_after_secs: d,
            ..SecretsConfig::default()
        };
        assert_eq!(deletion_time(1000, &c(0), 0), None);
        assert_eq!(deletion_time(1000, &c(10), 0), Some(11_000));
        assert_eq!(deletion_time(1000, &c(0), 5), Some(6_000));
        assert_eq!(deletion_time(1000, &c(10), 5), Some(6_000));
        assert_eq!(deletion_time(1000, &c(3), 5), Some(4_000));
        assert_eq!(deletion_time(1000, &c(-1), 5), None);
    }
}
