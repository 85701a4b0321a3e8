//! Rotation schedules: the period a key is rotated on and when the next
//! rotation is due. The scheduler that acts on `next_rotation_at` is not
//! here; `rotate` advances the date whenever a period is set.

use super::{Engine, MutateExtra};
use crate::clock::{Timestamp, DAY};
use crate::error::{Error, Result};
use crate::keys::model::{KeyMeta, Origin, RotationType};
use crate::keys::state::Operation;

/// Allowed rotation periods, in days (the AWS front-end narrows this to 90–2560).
pub const ROTATION_PERIOD_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;

/// One rotation of a key (AWS ListKeyRotations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub version: u32,
    pub rotated_at: Timestamp,
    pub rotation_type: RotationType,
}

impl Engine {
    /// Sets (`Some(days)`) or clears (`None`) the automatic rotation period.
    /// Setting it schedules the next rotation `days` from now.
    pub fn set_rotation_period(&self, key_ref: &str, days: Option<u32>) -> Result<KeyMeta> {
        if let Some(d) = days {
            if !ROTATION_PERIOD_DAYS.contains(&d) {
                return Err(Error::InvalidArgument(format!(
                    "rotation period of {d} days is out of range; use {} to {} days",
                    ROTATION_PERIOD_DAYS.start(),
                    ROTATION_PERIOD_DAYS.end()
                )));
            }
        }
        let now = self.now();
        self.mutate(key_ref, Operation::SetRotationPolicy, |m, _| {
            if m.origin == Origin::External && days.is_some() {
                return Err(Error::InvalidKeyUsage(format!(
                    "key {} has imported key material; it cannot be rotated automatically",
                    m.id
                )));
            }
            m.rotation_period_days = days;
            m.next_rotation_at = days.map(|d| now + i64::from(d) * DAY);
            Ok(MutateExtra::default())
        })
    }

    /// The rotations of a key, oldest first: every version after the first.
    pub fn rotations(&self, key_ref: &str) -> Result<Vec<Rotation>> {
        let m = self.describe(key_ref)?;
        let first = m.versions.iter().map(|v| v.version).min().unwrap_or(0);
        Ok(m.versions
            .iter()
            .filter(|v| v.version != first)
            .map(|v| Rotation {
                version: v.version,
                rotated_at: v.created_at,
                rotation_type: v.rotation_type.unwrap_or(RotationType::OnDemand),
            })
            .collect())
    }
}
