//! Lifecycle parts of the engine (`docs/LIFECYCLE.md`): activation and
//! expiry dates, in-memory use statistics, compromise declarations with
//! their exposure report, the inventory, and destruction that also purges
//! the storage files.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use super::{EncryptOutput, Engine, KeyEntry, VersionEntry};
use crate::clock::{Timestamp, DAY};
use crate::crypto::context::EncryptionContext;
use crate::crypto::spec::KeyUsage;
use crate::error::{Error, Result};
use crate::keys::model::{Compromise, KeyMeta};
use crate::keys::state::{check_phase, KeyState, Operation, Phase, VersionState};

/// `Option<Option<T>>` for PATCH fields: absent → `None` (via
/// `#[serde(default)]`), `null` → `Some(None)`, a value → `Some(Some(v))`.
pub fn some_or_null<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Uses of one version since this server started: every successful
/// encrypt, decrypt, data key, sign, verify, MAC or MAC check. Memory only
/// (two atomics), so counting costs the hot path no storage access.
#[derive(Debug, Default)]
pub struct UseStats {
    uses: AtomicU64,
    last_used: AtomicI64,
}

/// Latest time that makes sense for a key date (year 9999).
const MAX_DATE: Timestamp = 253_402_300_799;

pub(super) fn validate_dates(
    activation: Option<Timestamp>,
    expiry: Option<Timestamp>,
) -> Result<()> {
    for (name, v) in [("activation_date", activation), ("expiry_date", expiry)] {
        if let Some(t) = v {
            if !(0..=MAX_DATE).contains(&t) {
                return Err(Error::InvalidArgument(format!(
                    "{name} {t} is out of range; give Unix seconds between 0 and {MAX_DATE} (year 9999)"
                )));
            }
        }
    }
    if let (Some(a), Some(x)) = (activation, expiry) {
        if x <= a {
            return Err(Error::InvalidArgument(format!(
                "expiry_date {} must be after activation_date {}",
                crate::keys::dates::format_rfc3339(x),
                crate::keys::dates::format_rfc3339(a)
            )));
        }
    }
    Ok(())
}

pub(super) fn apply_dates(
    m: &mut KeyMeta,
    activation: Option<Option<Timestamp>>,
    expiry: Option<Option<Timestamp>>,
) -> Result<()> {
    if let Some(a) = activation {
        m.activation_date = a;
    }
    if let Some(x) = expiry {
        m.expiry_date = x;
    }
    validate_dates(m.activation_date, m.expiry_date)
}

/// One audited use of a key, as the audit log recorded it (the service
/// layer reads the log; the engine only counts).
#[derive(Debug, Clone)]
pub struct AuditedUse {
    pub time_ms: i64,
    pub identity: String,
    pub source: String,
    pub operation: String,
    pub key_id: Option<String>,
    pub key_version: Option<u32>,
    pub outcome: String,
}

/// How one identity used a compromised version, from the audit log.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExposureByIdentity {
    pub identity: String,
    pub uses: u64,
    /// Unix milliseconds of the first and last use.
    pub first_ms: i64,
    pub last_ms: i64,
    /// Uses per audited action (`kms:Encrypt`, `kms:Decrypt`, ...).
    pub operations: BTreeMap<String, u64>,
    /// Client addresses (IP, port dropped) the uses came from.
    pub sources: BTreeSet<String>,
}

/// The answer of `strongroom key compromise`.
#[derive(Debug, Clone, Serialize)]
pub struct CompromiseReport {
    pub key_id: String,
    pub compromised_version: u32,
    pub reason: String,
    pub compromised_at: Timestamp,
    /// The fresh primary version created by the compromise.
    pub new_primary_version: u32,
    /// Total audited uses of the compromised version.
    pub total_uses: u64,
    pub identities: Vec<ExposureByIdentity>,
    /// Set if the audit log could not be read (the compromise itself is done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposure_error: Option<String>,
}

fn host_of(source: &str) -> String {
    match source.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            h.trim_start_matches('[').trim_end_matches(']').to_string()
        }
        _ => source.to_string(),
    }
}

/// Whether an audited operation used key material.
pub fn is_use_of_material(operation: &str) -> bool {
    operation == "strongroom:DecryptCompromised"
        || crate::policy::action_category(operation) == Some(crate::policy::Category::Crypto)
}

/// Groups the allowed, material-using audit events of `key_id` version
/// `version` by identity.
pub fn exposure(events: &[AuditedUse], key_id: &str, version: u32) -> Vec<ExposureByIdentity> {
    let mut by: BTreeMap<String, ExposureByIdentity> = BTreeMap::new();
    for e in events {
        if e.key_id.as_deref() != Some(key_id)
            || e.key_version != Some(version)
            || e.outcome != "allowed"
            || !is_use_of_material(&e.operation)
        {
            continue;
        }
        let x = by
            .entry(e.identity.clone())
            .or_insert_with(|| ExposureByIdentity {
                identity: e.identity.clone(),
                uses: 0,
                first_ms: e.time_ms,
                last_ms: e.time_ms,
                operations: BTreeMap::new(),
                sources: BTreeSet::new(),
            });
        x.uses += 1;
        x.first_ms = x.first_ms.min(e.time_ms);
        x.last_ms = x.last_ms.max(e.time_ms);
        *x.operations.entry(e.operation.clone()).or_insert(0) += 1;
        x.sources.insert(host_of(&e.source));
    }
    let mut v: Vec<_> = by.into_values().collect();
    v.sort_by(|a, b| b.uses.cmp(&a.uses).then(a.identity.cmp(&b.identity)));
    v
}

impl CompromiseReport {
    /// Fills the exposure part from audit events (or records why it could not).
    pub fn with_exposure(mut self, events: std::result::Result<Vec<AuditedUse>, String>) -> Self {
        match events {
            Ok(ev) => {
                self.identities = exposure(&ev, &self.key_id, self.compromised_version);
                self.total_uses = self.identities.iter().map(|i| i.uses).sum();
            }
            Err(e) => self.exposure_error = Some(e),
        }
        self
    }
}

impl Engine {
    pub(super) fn note_use(&self, ve: &VersionEntry) {
        ve.stats.uses.fetch_add(1, Ordering::Relaxed);
        ve.stats.last_used.fetch_max(self.now(), Ordering::Relaxed);
    }

    pub(super) fn check_dates(meta: &KeyMeta, op: Operation, now: Timestamp) -> Result<()> {
        if meta.activation_date.is_none() && meta.expiry_date.is_none() {
            return Ok(());
        }
        check_phase(&meta.id, meta.activation_date, meta.expiry_date, now, op)
    }

    /// Declares a version compromised (default: the primary) and rotates
    /// to a fresh primary version in the same durable change. The state
    /// table is consulted as for `DisableVersion`.
    pub fn compromise(
        &self,
        key_ref: &str,
        version: Option<u32>,
        reason: &str,
    ) -> Result<(KeyMeta, CompromiseReport)> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::InvalidArgument(
                "a reason is required: say what happened (--reason TEXT)".into(),
            ));
        }
        super::validate_text("reason", reason, 1024)?;
        let now = self.now();
        let mut chosen = 0;
        let meta = self.mutate(key_ref, Operation::DisableVersion, |m, _| {
            let id = m.id.clone();
            let v = version.unwrap_or(m.primary_version);
            chosen = v;
            let vm = m.version_mut(v).ok_or(Error::VersionNotFound {
                key_id: id.clone(),
                version: v,
            })?;
            match vm.state {
                VersionState::Destroyed => {
                    return Err(Error::InvalidKeyState(format!(
                        "version {v} of key {id} is destroyed; there is nothing left to compromise"
                    )))
                }
                VersionState::Compromised => {
                    return Err(Error::InvalidKeyState(format!(
                        "version {v} of key {id} is already marked compromised"
                    )))
                }
                VersionState::Enabled | VersionState::Disabled => {}
            }
            vm.state = VersionState::Compromised;
            m.compromises.push(Compromise {
                version: v,
                at: now,
                reason: reason.to_string(),
            });
            // The fresh version is made exactly as a rotation makes it.
            self.rotation_step(m, crate::keys::model::RotationType::OnDemand, now)
        })?;
        let report = CompromiseReport {
            key_id: meta.id.clone(),
            compromised_version: chosen,
            reason: reason.to_string(),
            compromised_at: now,
            new_primary_version: meta.primary_version,
            total_uses: 0,
            identities: vec![],
            exposure_error: None,
        };
        Ok((meta, report))
    }

    /// `reencrypt`, optionally allowing a compromised source version.
    pub fn reencrypt_opts(
        &self,
        ct: &[u8],
        source_ctx: &EncryptionContext,
        source_key: Option<&str>,
        dest_key: &str,
        dest_ctx: &EncryptionContext,
        allow_compromised: bool,
    ) -> Result<(EncryptOutput, String, u32)> {
        let dest = self.resolve_checked(dest_key, Operation::Encrypt)?;
        Self::require_usage(&dest, KeyUsage::EncryptDecrypt, "re-encryption")?;
        let d = self.decrypt_opts(ct, source_ctx, source_key, allow_compromised)?;
        let out = self.encrypt_with(&dest, d.plaintext.expose(), dest_ctx)?;
        Ok((out, d.key_id, d.version))
    }

    fn inventory_row(e: &KeyEntry, now: Timestamp) -> Value {
        let m = &e.meta;
        let mut row = serde_json::to_value(m).unwrap_or_else(|_| json!({ "id": m.id }));
        let phase = Phase::at(m.activation_date, m.expiry_date, now);
        let effective = match (m.state, phase) {
            (KeyState::Enabled, Phase::PreActivation) => "PreActivation",
            (KeyState::Enabled, Phase::Deactivated) => "Deactivated",
            (s, _) => s.name(),
        };
        let mut last_used: Option<Timestamp> = None;
        let usage: Vec<Value> = m
            .versions
            .iter()
            .map(|v| {
                let (uses, last) = e
                    .versions
                    .get(&v.version)
                    .map(|ve| {
                        (
                            ve.stats.uses.load(Ordering::Relaxed),
                            ve.stats.last_used.load(Ordering::Relaxed),
                        )
                    })
                    .unwrap_or((0, 0));
                let last = (last > 0).then_some(last);
                if last > last_used {
                    last_used = last;
                }
                json!({ "version": v.version, "state": v.state, "uses": uses, "last_used": last })
            })
            .collect();
        let obj = row.as_object_mut();
        if let Some(o) = obj {
            o.insert("effective_state".into(), json!(effective));
            o.insert("last_used".into(), json!(last_used));
            o.insert("usage".into(), Value::Array(usage));
            o.remove("revision");
            // Whole days left (negative once expired), rounded down.
            o.insert(
                "expires_in_days".into(),
                json!(m.expiry_date.map(|x| (x - now).div_euclid(DAY))),
            );
            let overdue = o
                .get("next_rotation_at")
                .and_then(Value::as_i64)
                .is_some_and(|t| t <= now)
                && m.state != KeyState::Destroyed;
            o.insert("rotation_overdue".into(), json!(overdue));
        }
        row
    }

    /// Every key in creation order, with lifecycle facts the metadata alone
    /// does not hold: `effective_state` (dates applied), `last_used`, per
    /// version `usage`, `expires_in_days` and `rotation_overdue`. Memory only.
    pub fn inventory(&self) -> Result<Vec<Value>> {
        let now = self.now();
        let inner = self.read()?;
        Ok(inner
            .order
            .values()
            .filter_map(|id| inner.keys.get(id))
            .map(|e| Self::inventory_row(e, now))
            .collect())
    }

    /// Keys that are not destroyed and expire within `days` (already
    /// expired keys not counted), and keys already past their expiry.
    pub fn expiry_counts(&self, days: i64) -> Result<(usize, usize)> {
        let now = self.now();
        let inner = self.read()?;
        let mut soon = 0;
        let mut expired = 0;
        for e in inner.keys.values() {
            let m = &e.meta;
            if m.state == KeyState::Destroyed {
                continue;
            }
            match m.expiry_date {
                Some(x) if x <= now => expired += 1,
                Some(x) if x <= now + days * DAY => soon += 1,
                _ => {}
            }
        }
        Ok((soon, expired))
    }

    /// Ids of keys whose deletion window has ended.
    pub fn due_for_destruction(&self) -> Result<Vec<String>> {
        let now = self.now();
        Ok(self
            .read()?
            .keys
            .values()
            .filter(|e| {
                e.meta.state == KeyState::PendingDeletion
                    && e.meta.deletion_date.is_some_and(|d| d <= now)
            })
            .map(|e| e.meta.id.clone())
            .collect())
    }

    /// `destroy_due`, then has storage purge what the overwritten records
    /// left behind (for SQLite: WAL checkpoint and free-page reclaim), so the
    /// sealed material is gone from the database files, not just unlinked.
    pub fn destroy_due_and_purge(&self) -> Result<Vec<String>> {
        let done = self.destroy_due()?;
        if !done.is_empty() {
            self.store.purge()?;
        }
        Ok(done)
    }
}

impl Engine {
    /// Has storage purge remnants of overwritten records (see `Store::purge`).
    pub fn purge_storage(&self) -> Result<()> {
        Ok(self.store.purge()?)
    }
}

#[cfg(test)]
mod tests;
