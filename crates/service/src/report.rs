//! The compliance report (`docs/LIFECYCLE.md`): live state evaluated
//! against PCI DSS v4 3.6–3.7, NIST SP 800-57, ISO 27001:2022 A.8.24,
//! SOC 2 CC6.1/CC6.7 and HIPAA 164.312(a)(2)(iv).
//!
//! The server builds the report ([`build`]) and signs the SHA-256 of its
//! canonical JSON with the audit signing key ([`SIGNING_DOMAIN`]). The CLI
//! renders Markdown or HTML from the signed JSON ([`render_markdown`],
//! [`render_html`]) and checks a saved JSON report with [`verify`].

use serde_json::{json, Value};

use crate::clock::{Timestamp, DAY};
use crate::keys::dates::format_rfc3339;

/// The backup-drill control wants a passing drill this recent.
pub const DRILL_MAX_AGE_DAYS: i64 = 90;

/// Service settings the controls look at.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub dual_control: bool,
    pub dual_control_approvals: u32,
    pub tls: bool,
    pub seal_type: String,
    pub shamir_threshold: u8,
    pub audit_enabled: bool,
    pub dev_mode: bool,
    pub default_rotation_days: u32,
}

/// What the audit log says.
#[derive(Debug, Clone, Default)]
pub struct AuditFacts {
    /// `audit::verify_file`'s report as JSON (`None`: audit off).
    pub verification: Option<Value>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub events: u64,
    /// (time_ms, operation) of requests made with the root token.
    pub root_uses: Vec<(i64, String)>,
    /// (time_ms, operation, key id, identity) of destructive operations
    /// that went through without dual-control approval.
    pub unapproved_destructive: Vec<(i64, String, Option<String>, String)>,
}

pub struct Inputs {
    pub now: Timestamp,
    /// `Engine::inventory` rows.
    pub keys: Vec<Value>,
    pub settings: Settings,
    pub audit: AuditFacts,
    /// (time, passed) of the last backup drill, if one was ever recorded.
    pub last_drill: Option<(Timestamp, bool)>,
    /// The latest scan report of each repository (`strongroom scan --report`).
    pub scans: Vec<crate::scans::StoredScan>,
    /// [`secret_rows`]: every secret's metadata, never a value.
    pub secrets: Vec<Value>,
}

/// One row per secret for the report (metadata only): path, kind, owner,
/// current version, rotation period, next rotation (ms) and `overdue`
/// (past its rotation date or expiry at `now_ms`).
pub fn secret_rows(all: &[crate::secrets_model::SecretMeta], now_ms: i64) -> Vec<Value> {
    all.iter()
        .map(|m| {
            json!({
                "path": m.path, "kind": m.kind, "owner": m.owner,
                "current_version": m.current_version,
                "rotation_period_days": m.rotation_period_days,
                "next_rotation_ms": m.next_rotation_ms,
                "overdue": m.rotation_overdue(now_ms),
            })
        })
        .collect()
}

/// Operations that destroy or retire key material or access.
pub const DESTRUCTIVE_OPERATIONS: &[&str] = &[
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:DeleteImportedKeyMaterial",
    "strongroom:CompromiseKey",
    "strongroom:ExportKey",
    "strongroom:Seal",
];

fn s<'a>(v: &'a Value, f: &str) -> &'a str {
    v.get(f).and_then(Value::as_str).unwrap_or("")
}

fn live(k: &Value) -> bool {
    s(k, "state") != "Destroyed"
}

struct Findings<'a> {
    overdue: Vec<&'a Value>,
    no_period: Vec<&'a Value>,
    no_owner: Vec<&'a Value>,
    expired_enabled: Vec<&'a Value>,
    chain_ok: bool,
    drill_ok: bool,
}

fn control(
    framework: &str,
    id: &str,
    title: &str,
    status: &str,
    evidence: Vec<String>,
    findings: Vec<String>,
) -> Value {
    json!({
        "framework": framework, "id": id, "title": title, "status": status,
        "evidence": evidence, "findings": findings,
    })
}

fn pass_fail(findings: &[String]) -> &'static str {
    if findings.is_empty() {
        "pass"
    } else {
        "fail"
    }
}

fn list(what: &str, keys: &[&Value]) -> Option<String> {
    (!keys.is_empty()).then(|| {
        let ids: Vec<&str> = keys.iter().map(|k| s(k, "id")).collect();
        format!("{} {what}: {}", keys.len(), ids.join(", "))
    })
}

/// Evaluates every control; the unsigned report.
pub fn build(inp: &Inputs) -> Value {
    let now = inp.now;
    let st = &inp.settings;
    let a = &inp.audit;
    let live_keys: Vec<&Value> = inp.keys.iter().filter(|k| live(k)).collect();
    let f = Findings {
        overdue: live_keys
            .iter()
            .copied()
            .filter(|k| k["rotation_overdue"].as_bool() == Some(true))
            .collect(),
        no_period: live_keys
            .iter()
            .copied()
            .filter(|k| {
                k["rotation_period_days"].is_null()
                    && k["expiry_date"].is_null()
                    && s(k, "spec").starts_with("AES")
            })
            .collect(),
        no_owner: live_keys
            .iter()
            .copied()
            .filter(|k| s(k, "owner").trim().is_empty())
            .collect(),
        expired_enabled: live_keys
            .iter()
            .copied()
            .filter(|k| {
                s(k, "state") == "Enabled" && k["expiry_date"].as_i64().is_some_and(|e| e <= now)
            })
            .collect(),
        chain_ok: a
            .verification
            .as_ref()
            .is_some_and(|v| v["ok"].as_bool() == Some(true)),
        drill_ok: inp
            .last_drill
            .is_some_and(|(t, ok)| ok && now - t <= DRILL_MAX_AGE_DAYS * DAY),
    };
    let audit_range = match (a.first_ms, a.last_ms) {
        (Some(x), Some(y)) => format!(
            "audit log {} events from {} to {}",
            a.events,
            format_rfc3339(x / 1000),
            format_rfc3339(y / 1000)
        ),
        _ => "audit log: no events".into(),
    };
    let chain = match &a.verification {
        None => "audit log is OFF (dev --dev-no-audit)".to_string(),
        Some(v) => format!(
            "audit chain verification: ok={} entries={} checkpoints={} unsigned_tail_events={}{}",
            v["ok"],
            v["entries"],
            v["checkpoints"],
            v["unsigned_tail_events"],
            v["first_bad_index"]
                .as_u64()
                .map(|i| format!(" FIRST BAD INDEX {i}"))
                .unwrap_or_default()
        ),
    };
    let chain_finding = (!f.chain_ok).then(|| format!("audit log does not verify: {chain}"));
    let root_finding = (!a.root_uses.is_empty()).then(|| {
        let last = a.root_uses.iter().map(|r| r.0).max().unwrap_or(0);
        format!(
            "root token used {} time(s), last at {} (e.g. {})",
            a.root_uses.len(),
            format_rfc3339(last / 1000),
            a.root_uses[a.root_uses.len() - 1].1
        )
    });
    let unapproved_finding = (!a.unapproved_destructive.is_empty()).then(|| {
        let items: Vec<String> = a
            .unapproved_destructive
            .iter()
            .take(10)
            .map(|(t, op, k, who)| {
                format!(
                    "{op} on {} by {who} at {}",
                    k.as_deref().unwrap_or("-"),
                    format_rfc3339(t / 1000)
                )
            })
            .collect();
        format!(
            "{} destructive operation(s) without dual-control approval: {}",
            a.unapproved_destructive.len(),
            items.join("; ")
        )
    });
    let drill_finding = (!f.drill_ok).then(|| match inp.last_drill {
        None => "no backup drill recorded".to_string(),
        Some((t, ok)) => format!(
            "last backup drill at {} {}; a passing drill within {DRILL_MAX_AGE_DAYS} days is required",
            format_rfc3339(t),
            if ok { "passed" } else { "FAILED" }
        ),
    });
    let settings_ev = format!(
        "seal={} tls={} dual_control={} (approvals {}) audit={} dev_mode={}",
        st.seal_type,
        st.tls,
        st.dual_control,
        st.dual_control_approvals,
        st.audit_enabled,
        st.dev_mode
    );
    let generated = live_keys
        .iter()
        .filter(|k| s(k, "origin") != "External")
        .count();
    let period_ev = format!(
        "{} live keys; {} with a rotation period; server default for new AES keys: {} days",
        live_keys.len(),
        live_keys
            .iter()
            .filter(|k| !k["rotation_period_days"].is_null())
            .count(),
        st.default_rotation_days
    );
    let opt = |v: Vec<Option<String>>| -> Vec<String> { v.into_iter().flatten().collect() };

    let mut controls = Vec::new();
    // ---- PCI DSS v4 ----
    let pci = "PCI DSS v4.0";
    let fnd = opt(vec![
        list("live keys without an owner", &f.no_owner),
        chain_finding.clone(),
    ]);
    controls.push(control(pci, "3.6.1", "Procedures protect cryptographic keys against disclosure and misuse; access restricted to the fewest custodians", pass_fail(&fnd), vec![settings_ev.clone(), chain.clone()], fnd));
    let mut by_spec: std::collections::BTreeMap<String, usize> = Default::default();
    for k in &live_keys {
        *by_spec.entry(s(k, "spec").to_string()).or_default() += 1;
    }
    let post_quantum: usize = by_spec
        .iter()
        .filter(|(spec, _)| spec.starts_with("ML_DSA_") || spec.starts_with("ML_KEM_"))
        .map(|(_, n)| n)
        .sum();
    let specs_ev = format!(
        "live keys by spec: {}; post-quantum (ML-DSA FIPS 204, ML-KEM FIPS 203): {post_quantum}",
        by_spec
            .iter()
            .map(|(spec, n)| format!("{spec}={n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    controls.push(control(pci, "3.7.1", "Key generation: strong keys", "pass", vec![format!("{generated} of {} live keys generated in the server by aws-lc-rs (FIPS-validated module); the rest imported (EXTERNAL)", live_keys.len()), specs_ev], vec![]));
    let fnd = opt(vec![(!st.tls).then(|| {
        "TLS is off: keys, tokens and plaintext travel in clear".to_string()
    })]);
    controls.push(control(pci, "3.7.2", "Key distribution: secure", pass_fail(&fnd), vec![format!("tls={}; key material never leaves the server except exportable keys (audited strongroom:ExportKey)", st.tls)], fnd));
    controls.push(control(pci, "3.7.3", "Key storage: secure", "pass", vec![format!("key material sealed under the root key (AES-256-GCM barrier); root key protected by seal={}", st.seal_type)], vec![]));
    let fnd = opt(vec![
        list("keys overdue for rotation", &f.overdue),
        list(
            "AES keys without a cryptoperiod (no rotation period, no expiry)",
            &f.no_period,
        ),
    ]);
    controls.push(control(
        pci,
        "3.7.4",
        "Key changes at the end of the defined cryptoperiod",
        pass_fail(&fnd),
        vec![period_ev.clone()],
        fnd.clone(),
    ));
    let fnd5 = opt(vec![list(
        "keys past their expiry date still in state Enabled (enforced decrypt/verify-only)",
        &f.expired_enabled,
    )]);
    controls.push(control(pci, "3.7.5", "Retirement, replacement or destruction of keys (end of cryptoperiod, weakened, compromised)", pass_fail(&fnd5), vec![format!("{} destroyed keys kept as tombstones; compromise response via strongroom key compromise", inp.keys.len() - live_keys.len())], fnd5.clone()));
    let fnd6 = opt(vec![
        (!st.dual_control).then(|| "dual control is off".to_string()),
        unapproved_finding.clone(),
        (st.seal_type == "shamir" && st.shamir_threshold < 2).then(|| {
            format!(
                "unseal needs only {} share (no split knowledge)",
                st.shamir_threshold
            )
        }),
    ]);
    controls.push(control(
        pci,
        "3.7.6",
        "Split knowledge and dual control for manual cleartext key operations",
        pass_fail(&fnd6),
        vec![
            settings_ev.clone(),
            format!("seal={} threshold={}", st.seal_type, st.shamir_threshold),
            audit_range.clone(),
        ],
        fnd6.clone(),
    ));
    let fnd7 = opt(vec![chain_finding.clone(), root_finding.clone()]);
    controls.push(control(
        pci,
        "3.7.7",
        "Prevention of unauthorized substitution of keys",
        pass_fail(&fnd7),
        vec![chain.clone(), audit_range.clone()],
        fnd7.clone(),
    ));
    controls.push(control(
        pci,
        "3.7.8",
        "Key custodians acknowledge their responsibilities",
        "not_applicable",
        vec!["manual control: a signed acknowledgement is kept outside Strongroom".into()],
        vec![],
    ));
    controls.push(control(
        pci,
        "3.7.9",
        "Guidance to customers when keys are shared with them (service providers)",
        "not_applicable",
        vec!["manual control: applies to service providers that share keys with customers".into()],
        vec![],
    ));
    // PCI DSS v4.0 8.6.2: passwords/passphrases of application and system
    // accounts are not hard coded in scripts, configuration or source code.
    // Evaluated from filed scan reports ("no hardcoded secrets in scanned
    // repositories"); with none filed it is not evaluated here.
    let scan_findings: Vec<String> = inp
        .scans
        .iter()
        .filter(|r| r.open_secrets > 0)
        .map(|r| {
            format!(
                "repository {:?}: {} hardcoded secret(s) not in its baseline (scan of {})",
                r.repository,
                r.open_secrets,
                format_rfc3339(r.received_ms.div_euclid(1000))
            )
        })
        .collect();
    let scan_status = if inp.scans.is_empty() {
        "not_applicable"
    } else {
        pass_fail(&scan_findings)
    };
    let scan_evidence = if inp.scans.is_empty() {
        vec!["no scan reports filed: run `strongroom scan --report` in each repository's CI".into()]
    } else {
        inp.scans
            .iter()
            .map(|r| {
                format!(
                    "repository {:?}: {} scan by {} at {}: {} open secret, {} open weak-crypto, {} baselined finding(s), {} imported into the secrets engine ({} rotated since)",
                    r.repository,
                    r.source,
                    r.reported_by,
                    format_rfc3339(r.received_ms.div_euclid(1000)),
                    r.open_secrets,
                    r.open_weak_crypto,
                    r.baselined,
                    r.imported,
                    r.rotated_since_import
                )
            })
            .collect()
    };
    controls.push(control(
        pci,
        "8.6.2",
        "No hardcoded secrets in scanned repositories (application and system account credentials not hard coded in scripts, configuration or source code)",
        scan_status,
        scan_evidence,
        scan_findings,
    ));
    // ---- NIST SP 800-57 ----
    let nist = "NIST SP 800-57 Part 1 Rev. 5";
    controls.push(control(
        nist,
        "5.3",
        "Cryptoperiods",
        pass_fail(&fnd),
        vec![period_ev.clone()],
        fnd.clone(),
    ));
    controls.push(control(nist, "7", "Key states and transitions (pre-activation, active, deactivated, compromised, destroyed)", pass_fail(&fnd5), vec!["activation/expiry dates enforced by the engine; compromise and destruction are audited".into()], fnd5.clone()));
    let fndb = opt(vec![drill_finding.clone()]);
    controls.push(control(
        nist,
        "8.2.2",
        "Key backup and recovery (tested)",
        pass_fail(&fndb),
        vec![match inp.last_drill {
            None => "no drill on record".into(),
            Some((t, ok)) => format!("last drill {} passed={ok}", format_rfc3339(t)),
        }],
        fndb.clone(),
    ));
    // ---- ISO 27001:2022 ----
    let fndi = opt(vec![
        list("live keys without an owner", &f.no_owner),
        list("keys overdue for rotation", &f.overdue),
        chain_finding.clone(),
        drill_finding.clone(),
    ]);
    controls.push(control(
        "ISO/IEC 27001:2022",
        "A.8.24",
        "Use of cryptography: rules for key management through the whole lifecycle",
        pass_fail(&fndi),
        vec![period_ev.clone(), chain.clone()],
        fndi,
    ));
    // ---- SOC 2 ----
    let fnds = opt(vec![
        root_finding.clone(),
        unapproved_finding.clone(),
        list("live keys without an owner", &f.no_owner),
    ]);
    controls.push(control(
        "SOC 2 (2017 TSC)",
        "CC6.1",
        "Logical access security over protected information assets",
        pass_fail(&fnds),
        vec![settings_ev.clone(), audit_range.clone()],
        fnds,
    ));
    let fndt = opt(vec![(!st.tls).then(|| {
        "TLS is off: keys, tokens and plaintext travel in clear".to_string()
    })]);
    controls.push(control(
        "SOC 2 (2017 TSC)",
        "CC6.7",
        "Transmission of information is restricted and protected",
        pass_fail(&fndt),
        vec![format!("tls={}", st.tls)],
        fndt,
    ));
    // ---- HIPAA ----
    let fndh = opt(vec![
        list("keys overdue for rotation", &f.overdue),
        chain_finding.clone(),
    ]);
    controls.push(control(
        "HIPAA Security Rule",
        "164.312(a)(2)(iv)",
        "Encryption and decryption (addressable)",
        pass_fail(&fndh),
        vec![
            format!(
                "{} live keys; AES-256-GCM with server-generated nonces",
                live_keys.len()
            ),
            chain.clone(),
        ],
        fndh,
    ));

    // Secrets: cryptoperiods of passwords and API keys (docs/SECRETS.md).
    let paths = |rows: Vec<&Value>| -> Vec<String> {
        rows.iter().map(|r| s(r, "path").to_string()).collect()
    };
    let overdue = paths(
        inp.secrets
            .iter()
            .filter(|r| r["overdue"] == true)
            .collect(),
    );
    let no_period = paths(
        inp.secrets
            .iter()
            .filter(|r| r["rotation_period_days"].as_u64().unwrap_or(0) == 0)
            .collect(),
    );
    let secret_evidence = vec![format!(
        "{} secrets; {} with a rotation period; {} past their rotation date or expiry",
        inp.secrets.len(),
        inp.secrets.len() - no_period.len(),
        overdue.len()
    )];
    let when_any = |findings: &[String]| {
        if inp.secrets.is_empty() {
            "not_applicable"
        } else {
            pass_fail(findings)
        }
    };
    let fnd_overdue: Vec<String> = if overdue.is_empty() {
        vec![]
    } else {
        vec![format!(
            "secrets past their rotation date or expiry: {}",
            overdue.join(", ")
        )]
    };
    let fnd_period: Vec<String> = if no_period.is_empty() {
        vec![]
    } else {
        vec![format!(
            "secrets without a rotation period: {}",
            no_period.join(", ")
        )]
    };
    controls.push(control(
        pci,
        "8.3.9",
        "Passwords and secrets are changed at least once per their period: no secret is past its rotation date or expiry",
        when_any(&fnd_overdue),
        secret_evidence.clone(),
        fnd_overdue.clone(),
    ));
    controls.push(control(
        pci,
        "8.6.3",
        "Passwords of application and system accounts are changed periodically: every secret has a rotation period",
        when_any(&fnd_period),
        secret_evidence.clone(),
        fnd_period,
    ));
    controls.push(control(
        nist,
        "5.3 (secrets)",
        "Cryptoperiods of secrets (passwords, API keys) are defined and kept",
        when_any(&fnd_overdue),
        secret_evidence,
        fnd_overdue,
    ));

    let count = |x: &str| controls.iter().filter(|c| c["status"] == x).count();
    let (p, fl, na) = (count("pass"), count("fail"), count("not_applicable"));
    let mut all_findings: Vec<String> = Vec::new();
    for c in &controls {
        for x in c["findings"].as_array().into_iter().flatten() {
            let x = x.as_str().unwrap_or("").to_string();
            if !all_findings.contains(&x) {
                all_findings.push(x);
            }
        }
    }
    let key_rows: Vec<Value> = inp
        .keys
        .iter()
        .map(|k| {
            json!({
                "id": s(k, "id"), "owner": s(k, "owner"), "spec": s(k, "spec"),
                "state": s(k, "effective_state"),
                "age_days": (now - k["rotated_at"].as_i64().or(k["created_at"].as_i64()).unwrap_or(now)) / DAY,
                "rotation_period_days": k["rotation_period_days"],
                "next_rotation_at": k["next_rotation_at"],
                "rotation_overdue": k["rotation_overdue"],
            })
        })
        .collect();
    json!({
        "format": "strongroom-compliance-report/1",
        "generated_at": now,
        "summary": {
            "overall": if fl == 0 { "pass" } else { "fail" },
            "pass": p, "fail": fl, "not_applicable": na,
            "keys": inp.keys.len(), "live_keys": live_keys.len(),
            "findings": all_findings,
        },
        "settings": {
            "seal": st.seal_type, "tls": st.tls, "dual_control": st.dual_control,
            "dual_control_approvals": st.dual_control_approvals, "audit": st.audit_enabled,
            "dev_mode": st.dev_mode, "default_rotation_days": st.default_rotation_days,
        },
        "audit": { "range": audit_range, "verification": a.verification, "root_token_uses": a.root_uses.len(), "unapproved_destructive": a.unapproved_destructive.len() },
        "last_drill": inp.last_drill.map(|(t, ok)| json!({"time": t, "passed": ok})),
        "scans": inp.scans.iter().map(crate::scans::StoredScan::summary).collect::<Vec<_>>(),
        "keys": key_rows,
        "secrets": inp.secrets,
        "controls": controls,
    })
}

pub use strongroom_proto::report::{
    envelope, hex, render_html, render_markdown, report_digest, verify, SIGNING_DOMAIN,
};

impl crate::Service {
    /// The signed compliance report built from live state, through the gate
    /// (`strongroom:ReadComplianceReport`): the envelope the native API
    /// answers and the console renders and offers as a download.
    pub async fn compliance_report(
        &self,
        caller: &crate::gate::Caller,
        dev_mode: bool,
    ) -> crate::error::Result<Value> {
        use crate::audit::{self as audit, AuditFilter};
        use crate::error::Error;
        let g = crate::gate::Guarded {
            action: "strongroom:ReadComplianceReport",
            key: None,
            context: None,
            kind: crate::gate::Kind::Read,
            command: None,
        };
        let status = self.seal.status()?;
        let settings = Settings {
            dual_control: self.dual_control.enabled,
            dual_control_approvals: self.dual_control.approvals,
            tls: self.tls,
            seal_type: status.seal_type.clone(),
            shamir_threshold: status.threshold,
            audit_enabled: true,
            dev_mode,
            default_rotation_days: self.default_rotation_days,
        };
        let dual = self.dual_control.clone();
        self.run(caller, g, move |s| {
            let mut settings = settings;
            let mut facts = AuditFacts::default();
            match s.audit_log() {
                Err(_) => settings.audit_enabled = false,
                Ok(log) => {
                    let (next, head) = log.head();
                    let v = audit::verify_log(log.path(), &log.public_key(), Some((next, &head)))
                        .map_err(|e| Error::Internal(format!("audit verification: {e}")))?;
                    facts.verification = Some(json!(v));
                    let rows = audit::query(log.path(), &AuditFilter::default())
                        .map_err(|e| Error::Internal(format!("audit query: {e}")))?;
                    facts.events = rows.len() as u64;
                    for (_, e) in rows {
                        facts.first_ms =
                            Some(facts.first_ms.map_or(e.time_ms, |x| x.min(e.time_ms)));
                        facts.last_ms = Some(facts.last_ms.map_or(e.time_ms, |x| x.max(e.time_ms)));
                        if e.root {
                            facts.root_uses.push((e.time_ms, e.operation.clone()));
                        }
                        let approved = e.detail.as_deref().is_some_and(|d| d.contains("approval"));
                        if e.outcome == "allowed"
                            && DESTRUCTIVE_OPERATIONS.contains(&e.operation.as_str())
                            && (e.root || !dual.requires(&e.operation))
                            && !approved
                        {
                            facts.unapproved_destructive.push((
                                e.time_ms,
                                e.operation,
                                e.key_id,
                                e.identity,
                            ));
                        }
                    }
                }
            }
            let all_secrets = s.secrets.all()?;
            let mut scans = crate::scans::load_all(s.store.as_ref())?;
            crate::scans::fill_rotations(&mut scans, &all_secrets);
            let inputs = Inputs {
                now: s.engine.now(),
                keys: s.engine.inventory()?,
                settings,
                audit: facts,
                last_drill: s.engine.last_drill()?.map(|d| (d.time, d.passed)),
                scans,
                secrets: secret_rows(&all_secrets, s.now_ms()),
            };
            let body = build(&inputs);
            let digest = report_digest(&body);
            let (sig, pk) = s.engine.sign_with_audit_key(SIGNING_DOMAIN, &digest)?;
            Ok(crate::gate::Done::new(envelope(body, &sig, &pk)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{ManualClock, SharedClock};
    use crate::crypto::rng::SystemRng;
    use crate::keys::engine::{CreateKey, Engine, EngineConfig};
    use crate::node::{AuditConfig, Seal};
    use crate::storage::Store;
    use strongroom_store_sql::sqlite::SqliteStore;

    fn setup() -> (Seal, Arc<Engine>, Arc<ManualClock>) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:").expect("open"));
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let c: SharedClock = clock.clone();
        let seal = Seal::open(
            store,
            c,
            Arc::new(SystemRng),
            EngineConfig::default(),
            AuditConfig::in_temp_dir(),
        )
        .expect("seal");
        seal.init_dev(None).expect("dev");
        let e = seal.engine().expect("engine");
        (seal, e, clock)
    }

    fn inputs(e: &Engine) -> Inputs {
        Inputs {
            now: e.now(),
            keys: e.inventory().expect("inventory"),
            settings: Settings {
                dual_control: true,
                dual_control_approvals: 2,
                tls: true,
                seal_type: "shamir".into(),
                shamir_threshold: 3,
                audit_enabled: true,
                dev_mode: false,
                default_rotation_days: 365,
            },
            audit: AuditFacts {
                verification: Some(
                    json!({"ok": true, "entries": 1, "checkpoints": 1, "unsigned_tail_events": 0}),
                ),
                ..AuditFacts::default()
            },
            last_drill: Some((e.now(), true)),
            scans: Vec::new(),
            secrets: vec![],
        }
    }

    fn status(r: &Value, fw: &str, id: &str) -> String {
        r["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .find(|c| c["id"] == id && c["framework"].as_str().unwrap_or("").starts_with(fw))
            .map(|c| c["status"].as_str().unwrap_or("").to_string())
            .expect("control present")
    }

    fn owned(e: &Engine, days: u32) -> String {
        e.create(CreateKey {
            owner: "payments".into(),
            rotation_period_days: Some(days),
            ..Default::default()
        })
        .expect("create")
        .id
    }

    #[test]
    fn a_clean_setup_passes_and_each_violation_flips_its_controls() {
        let (_seal, e, clock) = setup();
        owned(&e, 90);
        let r = build(&inputs(&e));
        assert_eq!(r["summary"]["overall"], "pass", "{:#}", r["summary"]);
        assert_eq!(status(&r, "PCI", "3.7.8"), "not_applicable");

        // A key without an owner: 3.6.1, A.8.24 and CC6.1 fail.
        let orphan = e
            .create(CreateKey {
                rotation_period_days: Some(90),
                ..Default::default()
            })
            .expect("create");
        let r = build(&inputs(&e));
        for (fw, id) in [("PCI", "3.6.1"), ("ISO", "A.8.24"), ("SOC", "CC6.1")] {
            assert_eq!(status(&r, fw, id), "fail", "{fw} {id}");
        }
        assert!(r["summary"]["findings"].to_string().contains(&orphan.id));
        e.update(
            &orphan.id,
            crate::keys::engine::UpdateKey {
                owner: Some("ops".into()),
                ..Default::default()
            },
        )
        .expect("owner");
        assert_eq!(build(&inputs(&e))["summary"]["overall"], "pass");

        // Overdue for rotation (the scheduler cannot rotate a disabled key).
        let stuck = owned(&e, 30);
        e.disable(&stuck).expect("disable");
        clock.advance(31 * DAY);
        let mut inp = inputs(&e);
        inp.last_drill = Some((e.now(), true));
        let r = build(&inp);
        assert_eq!(status(&r, "PCI", "3.7.4"), "fail");
        assert_eq!(status(&r, "NIST", "5.3"), "fail");
        assert!(r["summary"]["findings"].to_string().contains("overdue"));
        e.enable(&stuck).expect("enable");
        e.rotate_due().expect("rotate");
        // (the orphan and the first key are due too after 31 days)
        let r = build(&inputs(&e));
        assert_eq!(status(&r, "PCI", "3.7.4"), "pass", "{:#}", r["summary"]);

        // No drill within 90 days, root use, unapproved destruction, bad chain.
        let mut inp = inputs(&e);
        inp.last_drill = Some((e.now() - 91 * DAY, true));
        assert_eq!(status(&build(&inp), "NIST", "8.2.2"), "fail");
        let mut inp = inputs(&e);
        inp.audit.root_uses.push((1, "kms:CreateKey".into()));
        assert_eq!(status(&build(&inp), "SOC", "CC6.1"), "fail");
        let mut inp = inputs(&e);
        inp.audit.unapproved_destructive.push((
            1,
            "kms:ScheduleKeyDeletion".into(),
            None,
            "alice".into(),
        ));
        assert_eq!(status(&build(&inp), "PCI", "3.7.6"), "fail");
        let mut inp = inputs(&e);
        inp.audit.verification = Some(json!({"ok": false, "first_bad_index": 3}));
        assert_eq!(status(&build(&inp), "PCI", "3.7.7"), "fail");
    }

    fn scan(repository: &str, open_secrets: usize, baselined: usize) -> crate::scans::StoredScan {
        crate::scans::StoredScan {
            repository: repository.into(),
            source: "tree".into(),
            scanner: "strongroom-scan".into(),
            received_ms: 1_700_000_000_000,
            reported_by: "ci".into(),
            open_secrets,
            open_weak_crypto: 0,
            baselined,
            imported: 0,
            rotated_since_import: 0,
            findings: Vec::new(),
        }
    }

    #[test]
    fn hardcoded_secrets_in_a_scanned_repository_fail_8_6_2() {
        let (_seal, e, _clock) = setup();
        owned(&e, 90);
        // No report filed: not evaluated, and the report still passes.
        let r = build(&inputs(&e));
        assert_eq!(status(&r, "PCI", "8.6.2"), "not_applicable");
        // Clean repositories (baselined findings are accepted): pass.
        let mut inp = inputs(&e);
        inp.scans = vec![scan("payments", 0, 2), scan("web", 0, 0)];
        let r = build(&inp);
        assert_eq!(status(&r, "PCI", "8.6.2"), "pass");
        assert_eq!(r["scans"].as_array().map(Vec::len), Some(2));
        // One open secret anywhere: fail, naming the repository.
        inp.scans.push(scan("legacy", 3, 0));
        let r = build(&inp);
        assert_eq!(status(&r, "PCI", "8.6.2"), "fail");
        assert_eq!(r["summary"]["overall"], "fail");
        assert!(r["summary"]["findings"].to_string().contains("legacy"));
    }

    #[test]
    fn secrets_controls_name_overdue_and_unscheduled_secrets() {
        let (_seal, e, _clock) = setup();
        let mut inp = inputs(&e);
        let r = build(&inp);
        assert_eq!(status(&r, "PCI", "8.3.9"), "not_applicable");
        inp.secrets = vec![
            json!({"path": "app/db", "rotation_period_days": 30, "overdue": true}),
            json!({"path": "app/api", "rotation_period_days": 0, "overdue": false}),
            json!({"path": "app/ok", "rotation_period_days": 30, "overdue": false}),
        ];
        let r = build(&inp);
        assert_eq!(status(&r, "PCI", "8.3.9"), "fail");
        assert_eq!(status(&r, "PCI", "8.6.3"), "fail");
        assert_eq!(status(&r, "NIST", "5.3 (secrets)"), "fail");
        let text = r.to_string();
        assert!(
            text.contains("past their rotation date or expiry: app/db"),
            "{text}"
        );
        assert!(
            text.contains("without a rotation period: app/api"),
            "{text}"
        );
        inp.secrets.truncate(0);
        inp.secrets
            .push(json!({"path": "app/ok", "rotation_period_days": 30, "overdue": false}));
        let r = build(&inp);
        assert_eq!(status(&r, "PCI", "8.3.9"), "pass");
        assert_eq!(status(&r, "PCI", "8.6.3"), "pass");
    }

    #[test]
    fn post_quantum_keys_are_counted_as_strong_keys() {
        let (_seal, e, _clock) = setup();
        owned(&e, 90);
        for spec in ["ML_DSA_65", "ML_KEM_768", "ML_KEM_1024"] {
            e.create(CreateKey {
                spec: Some(spec.into()),
                owner: "pq".into(),
                ..Default::default()
            })
            .expect("create");
        }
        let r = build(&inputs(&e));
        let c = r["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .find(|c| c["id"] == "3.7.1")
            .expect("3.7.1")
            .clone();
        assert_eq!(c["status"], "pass");
        let ev = c["evidence"].to_string();
        assert!(
            ev.contains("AES_256_GCM=1, ML_DSA_65=1, ML_KEM_1024=1, ML_KEM_768=1")
                && ev.contains("post-quantum (ML-DSA FIPS 204, ML-KEM FIPS 203): 3"),
            "{ev}"
        );
        // Post-quantum keys without a rotation period are not AES keys
        // without a cryptoperiod.
        assert_eq!(r["summary"]["overall"], "pass", "{:#}", r["summary"]);
    }

    #[test]
    fn the_signed_report_verifies_and_any_change_is_detected() {
        let (_seal, e, _clock) = setup();
        owned(&e, 90);
        let body = build(&inputs(&e));
        let d = report_digest(&body);
        let (sig, pk) = e.sign_with_audit_key(SIGNING_DOMAIN, &d).expect("sign");
        let env = envelope(body, &sig, &pk);
        // Round trip through text, as `report verify FILE` does.
        let text = serde_json::to_string_pretty(&env).expect("json");
        let back: Value = serde_json::from_str(&text).expect("parse");
        let key = verify(&back, None).expect("verifies");
        verify(&back, Some(&key)).expect("pinned key");
        assert!(verify(&back, Some("AAAA")).is_err_and(|e| e.contains("different key")));
        let mut t = back.clone();
        assert_eq!(t["report"]["controls"][0]["status"], "pass");
        t["report"]["controls"][0]["status"] = json!("not_applicable");
        assert!(verify(&t, None).is_err_and(|e| e.contains("modified")));
        // Re-computing the digest does not help without the private key.
        let mut t2 = t.clone();
        t2["signature"]["sha256"] = json!(hex(&report_digest(&t["report"])));
        assert!(verify(&t2, None).is_err_and(|e| e.contains("does not verify")));
        // The Markdown and HTML forms carry the digest and signature.
        let md = render_markdown(&back);
        assert!(md.contains(back["signature"]["sha256"].as_str().unwrap_or("x")));
        let html = render_html(&back);
        assert!(html.contains("<svg") && html.starts_with("<!doctype html>"));
    }
}
