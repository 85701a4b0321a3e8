//! A baseline: the fingerprints of accepted findings (never the values). A
//! finding whose fingerprint is in the baseline is not new.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Finding;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub version: u32,
    /// What each fingerprint is: SHA-256 over a domain tag, the rule and the value.
    pub note: String,
    pub fingerprints: BTreeSet<String>,
}

pub const VERSION: u32 = 1;
const NOTE: &str =
    "strongroom scan baseline: fingerprints (SHA-256 of rule and value) of accepted findings, never values";

impl Baseline {
    pub fn of(findings: &[Finding]) -> Baseline {
        Baseline {
            version: VERSION,
            note: NOTE.into(),
            fingerprints: findings.iter().map(|f| f.fingerprint.clone()).collect(),
        }
    }

    pub fn load(path: &str) -> Result<Baseline, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read baseline {path:?}: {e}"))?;
        let b: Baseline = serde_json::from_str(&text).map_err(|e| {
            format!("baseline {path:?} is not a strongroom scan baseline (write one with --write-baseline): {e}")
        })?;
        if b.version != VERSION {
            return Err(format!(
                "baseline {path:?} has version {}, this strongroom reads version {VERSION}",
                b.version
            ));
        }
        if let Some(bad) = b
            .fingerprints
            .iter()
            .find(|f| f.len() != 64 || !f.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(format!(
                "baseline {path:?}: {bad:?} is not a fingerprint (64 hex digits)"
            ));
        }
        Ok(b)
    }

    pub fn save(&self, path: &str) -> Result<(), String> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        text.push('\n');
        std::fs::write(path, text).map_err(|e| format!("cannot write baseline {path:?}: {e}"))
    }

    pub fn contains(&self, f: &Finding) -> bool {
        self.fingerprints.contains(&f.fingerprint)
    }
}
