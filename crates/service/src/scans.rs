//! Scan reports: what `strongroom scan --report` files (`POST /v1/scans`).
//!
//! A report names a repository and lists each finding's rule, category,
//! place and fingerprint (a SHA-256 over the rule and the value, as in a
//! baseline file). It never holds a value or a redacted prefix: the request
//! shape has no field for one, and unknown fields are refused. The latest
//! report per repository is kept (record kind [`KIND_SCAN_REPORT`]); the
//! inventory lists them and the compliance report evaluates PCI DSS v4.0
//! 8.6.2 ("no hardcoded secrets in scanned repositories") from them.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gate::{Caller, Done, Guarded, Kind};
use crate::storage::{Op, Transaction};
use crate::Service;

/// The record kind of stored scan reports (id: the repository name).
pub const KIND_SCAN_REPORT: &str = "scan_report";

/// At most this many findings per report (a larger scan is refused, 400).
pub const MAX_FINDINGS: usize = 100_000;
/// The longest repository name.
pub const MAX_REPOSITORY_CHARS: usize = 200;
/// The longest finding path.
pub const MAX_PATH_CHARS: usize = 4096;

/// A finding as filed: where it is and its fingerprint, no value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScanFinding {
    /// 64 lowercase hex digits (`strongroom scan`'s fingerprint).
    pub fingerprint: String,
    pub rule: String,
    /// `secret` or `weak-crypto`.
    pub category: String,
    pub path: String,
    pub line: u64,
    /// For history findings: the full commit id (40 or 64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The team's baseline already accepts this finding.
    #[serde(default)]
    pub baselined: bool,
    /// The secret path `strongroom scan --import` stored the value at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_to: Option<String>,
}

/// `POST /v1/scans`'s body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanReport {
    pub repository: String,
    /// `tree`, `history` or `staged`.
    pub source: String,
    /// The scanner and its version, as it named itself.
    #[serde(default)]
    pub scanner: String,
    pub findings: Vec<ScanFinding>,
}

/// A filed report, as stored and shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredScan {
    pub repository: String,
    pub source: String,
    pub scanner: String,
    pub received_ms: i64,
    pub reported_by: String,
    /// Secret findings not in the baseline.
    pub open_secrets: usize,
    /// Weak-crypto findings not in the baseline.
    pub open_weak_crypto: usize,
    pub baselined: usize,
    /// Findings whose value was moved into the secrets engine (`--import`).
    #[serde(default)]
    pub imported: usize,
    /// Of those, the secrets that have a newer version than the imported
    /// one (rotated since the import). Not stored: filled in from the
    /// secrets engine when read ([`fill_rotations`]); what storage holds
    /// of it is ignored.
    #[serde(default, skip_deserializing)]
    pub rotated_since_import: usize,
    pub findings: Vec<ScanFinding>,
}

impl StoredScan {
    /// The report without its findings (listings, the inventory).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "repository": self.repository,
            "source": self.source,
            "scanner": self.scanner,
            "received": crate::keys::dates::format_rfc3339(self.received_ms.div_euclid(1000)),
            "reported_by": self.reported_by,
            "open_secrets": self.open_secrets,
            "open_weak_crypto": self.open_weak_crypto,
            "baselined": self.baselined,
            "imported": self.imported,
            "rotated_since_import": self.rotated_since_import,
            "findings": self.findings.len(),
        })
    }
}

fn bad(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

fn is_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// Checks a repository name (also used for `GET /v1/scans/{repository}`).
pub fn check_repository(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > MAX_REPOSITORY_CHARS || !printable(name) || name.trim() != name {
        return Err(bad(format!(
            "repository must be 1 to {MAX_REPOSITORY_CHARS} printable characters without leading or trailing spaces; give it with `strongroom scan --report --repository NAME`"
        )));
    }
    Ok(())
}

impl ScanReport {
    /// Refuses what a scan cannot have produced, naming the first bad
    /// finding by its index (never echoing a value).
    pub fn validate(&self) -> Result<()> {
        check_repository(&self.repository)?;
        if !matches!(self.source.as_str(), "tree" | "history" | "staged") {
            return Err(bad(
                "source must be \"tree\", \"history\" or \"staged\"".into()
            ));
        }
        if self.scanner.chars().count() > 100 || !printable(&self.scanner) {
            return Err(bad(
                "scanner must be at most 100 printable characters".into()
            ));
        }
        if self.findings.len() > MAX_FINDINGS {
            return Err(bad(format!(
                "{} findings is more than the {MAX_FINDINGS} a report may hold; scan and report parts of the tree separately",
                self.findings.len()
            )));
        }
        for (i, f) in self.findings.iter().enumerate() {
            if f.fingerprint.len() != 64 || !is_hex(&f.fingerprint) {
                return Err(bad(format!(
                    "findings[{i}].fingerprint must be 64 lowercase hex digits (a strongroom scan fingerprint)"
                )));
            }
            if f.rule.is_empty()
                || f.rule.len() > 64
                || !f
                    .rule
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(bad(format!(
                    "findings[{i}].rule must be 1 to 64 characters of a-z, 0-9 and '-'"
                )));
            }
            if !matches!(f.category.as_str(), "secret" | "weak-crypto") {
                return Err(bad(format!(
                    "findings[{i}].category must be \"secret\" or \"weak-crypto\""
                )));
            }
            if f.path.is_empty() || f.path.chars().count() > MAX_PATH_CHARS || !printable(&f.path) {
                return Err(bad(format!(
                    "findings[{i}].path must be 1 to {MAX_PATH_CHARS} printable characters"
                )));
            }
            if f.line == 0 {
                return Err(bad(format!("findings[{i}].line must be 1 or more")));
            }
            if let Some(p) = &f.imported_to {
                if p.is_empty() || p.len() > 512 || !printable(p) {
                    return Err(bad(format!(
                        "findings[{i}].imported_to must be a secret path of 1 to 512 printable characters"
                    )));
                }
            }
            if let Some(c) = &f.commit {
                if !(c.len() == 40 || c.len() == 64) || !is_hex(c) {
                    return Err(bad(format!(
                        "findings[{i}].commit must be a full commit id (40 or 64 lowercase hex digits)"
                    )));
                }
            }
        }
        Ok(())
    }

    fn into_stored(self, received_ms: i64, reported_by: String) -> StoredScan {
        let open = |cat: &str| {
            self.findings
                .iter()
                .filter(|f| !f.baselined && f.category == cat)
                .count()
        };
        StoredScan {
            rotated_since_import: 0,
            open_secrets: open("secret"),
            open_weak_crypto: open("weak-crypto"),
            baselined: self.findings.iter().filter(|f| f.baselined).count(),
            imported: self
                .findings
                .iter()
                .filter(|f| f.imported_to.is_some())
                .count(),
            repository: self.repository,
            source: self.source,
            scanner: self.scanner,
            received_ms,
            reported_by,
            findings: self.findings,
        }
    }
}

/// Counts, for each report, the imported secrets rotated since: `--import`
/// creates version 1 (check-and-set 0), so a current version above 1 is a
/// rotation (or a new value written) after the import.
pub fn fill_rotations(scans: &mut [StoredScan], secrets: &[crate::secrets_model::SecretMeta]) {
    let current: std::collections::HashMap<&str, u32> = secrets
        .iter()
        .map(|m| (m.path.as_str(), m.current_version))
        .collect();
    for s in scans {
        s.rotated_since_import = s
            .findings
            .iter()
            .filter_map(|f| f.imported_to.as_deref())
            .filter(|p| current.get(p).is_some_and(|v| *v > 1))
            .count();
    }
}

/// Every stored report, by repository name.
pub fn load_all(store: &dyn crate::storage::Store) -> Result<Vec<StoredScan>> {
    let mut out = Vec::new();
    for r in store.load_records(KIND_SCAN_REPORT)? {
        out.push(
            serde_json::from_slice(&r.body)
                .map_err(|e| Error::Internal(format!("stored scan report {}: {e}", r.id)))?,
        );
    }
    out.sort_by(|a: &StoredScan, b| a.repository.cmp(&b.repository));
    Ok(out)
}

impl Service {
    /// Files a scan report (replacing the repository's earlier one).
    /// Answers its summary.
    pub async fn report_scan(
        &self,
        caller: &Caller,
        report: ScanReport,
    ) -> Result<serde_json::Value> {
        report.validate()?;
        let g = Guarded::global("strongroom:ReportScan", Kind::Change);
        let who = caller.principal.id.clone();
        self.run(caller, g, move |s| {
            let stored = report.into_stored(s.now_ms(), who);
            let body = serde_json::to_vec(&stored)
                .map_err(|e| Error::Internal(format!("scan report: {e}")))?;
            s.store.commit(Transaction::new().push(Op::PutRecord {
                kind: KIND_SCAN_REPORT.into(),
                id: stored.repository.clone(),
                body,
            }))?;
            Ok(Done::new(stored.summary()))
        })
        .await
    }

    /// The latest report of every repository, without findings.
    pub async fn list_scans(&self, caller: &Caller) -> Result<Vec<serde_json::Value>> {
        let g = Guarded::global("strongroom:ReadScans", Kind::Read);
        self.run(caller, g, |s| {
            let mut scans = load_all(s.store.as_ref())?;
            fill_rotations(&mut scans, &s.secrets.all()?);
            Ok(Done::new(scans.iter().map(StoredScan::summary).collect()))
        })
        .await
    }

    /// One repository's latest report, with its findings.
    pub async fn scan_of(&self, caller: &Caller, repository: &str) -> Result<StoredScan> {
        check_repository(repository)?;
        let g = Guarded::global("strongroom:ReadScans", Kind::Read);
        let name = repository.to_string();
        self.run(caller, g, move |s| {
            let rec = s
                .store
                .load_record(KIND_SCAN_REPORT, &name)?
                .ok_or_else(|| {
                    Error::ScanReportNotFound(format!(
                        "no scan report for repository {name:?}; list them with `GET /v1/scans` (`strongroom inventory --scans`)"
                    ))
                })?;
            let stored: StoredScan = serde_json::from_slice(&rec.body)
                .map_err(|e| Error::Internal(format!("stored scan report: {e}")))?;
            let mut one = [stored];
            fill_rotations(&mut one, &s.secrets.all()?);
            let [stored] = one;
            Ok(Done::new(stored))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> ScanFinding {
        ScanFinding {
            fingerprint: "ab".repeat(32),
            rule: "github-token".into(),
            category: "secret".into(),
            path: "src/main.rs".into(),
            line: 3,
            commit: None,
            baselined: false,
            imported_to: None,
        }
    }

    fn report(findings: Vec<ScanFinding>) -> ScanReport {
        ScanReport {
            repository: "payments".into(),
            source: "tree".into(),
            scanner: "strongroom-scan 0.1.0".into(),
            findings,
        }
    }

    #[test]
    fn a_scan_report_is_accepted_and_counted() {
        let mut b = finding();
        b.baselined = true;
        let mut w = finding();
        w.category = "weak-crypto".into();
        w.rule = "md5-password".into();
        let r = report(vec![finding(), b, w]);
        r.validate().expect("valid");
        let s = r.into_stored(1_000, "ci".into());
        assert_eq!((s.open_secrets, s.open_weak_crypto, s.baselined), (1, 1, 1));
    }

    #[test]
    fn what_a_scan_cannot_produce_is_refused_by_name() {
        type Change = Box<dyn Fn(&mut ScanReport)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|r| r.repository = String::new()), "repository"),
            (Box::new(|r| r.repository = " x".into()), "repository"),
            (Box::new(|r| r.repository = "a\nb".into()), "repository"),
            (Box::new(|r| r.source = "disk".into()), "source"),
            (
                Box::new(|r| r.findings[0].fingerprint = "AB".repeat(32)),
                "findings[0].fingerprint",
            ),
            (
                Box::new(|r| r.findings[0].fingerprint = "ab".into()),
                "findings[0].fingerprint",
            ),
            (
                Box::new(|r| r.findings[0].rule = "Rule!".into()),
                "findings[0].rule",
            ),
            (
                Box::new(|r| r.findings[0].category = "other".into()),
                "findings[0].category",
            ),
            (
                Box::new(|r| r.findings[0].path = String::new()),
                "findings[0].path",
            ),
            (Box::new(|r| r.findings[0].line = 0), "findings[0].line"),
            (
                Box::new(|r| r.findings[0].commit = Some("abc".into())),
                "findings[0].commit",
            ),
        ];
        for (change, field) in cases {
            let mut r = report(vec![finding()]);
            change(&mut r);
            let e = r.validate().expect_err(field).to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn rotations_count_only_imported_secrets_past_version_1() {
        let mut imported = finding();
        imported.imported_to = Some("scanned/a/github-token".into());
        let mut other = finding();
        other.imported_to = Some("scanned/b/github-token".into());
        let mut s = report(vec![imported, other, finding()]).into_stored(0, "ci".into());
        let meta = |path: &str, v: u32| crate::secrets_model::SecretMeta {
            path: path.into(),
            kind: Default::default(),
            rotation_hook: None,
            created_ms: 0,
            updated_ms: 0,
            current_version: v,
            max_versions: 10,
            cas_required: false,
            owner: String::new(),
            purpose: String::new(),
            custom_metadata: Default::default(),
            rotation_period_days: 0,
            next_rotation_ms: None,
            expires_ms: None,
            versions: Default::default(),
            delete_version_after_secs: 0,
        };
        let mut one = [s];
        fill_rotations(
            &mut one,
            &[
                meta("scanned/a/github-token", 2),
                meta("scanned/b/github-token", 1),
            ],
        );
        [s] = one;
        assert_eq!((s.imported, s.rotated_since_import), (2, 1));
    }

    #[test]
    fn a_value_field_is_refused_not_stored() {
        let body = serde_json::json!({
            "repository": "r", "source": "tree", "scanner": "x",
            "findings": [{"fingerprint": "ab".repeat(32), "rule": "r", "category": "secret",
                          "path": "p", "line": 1, "value": "ghp_canary"}],
        });
        let e = serde_json::from_value::<ScanReport>(body).expect_err("unknown field");
        assert!(e.to_string().contains("unknown field `value`"), "{e}");
    }
}
