//! Text, JSON and SARIF 2.1.0 output. Every format prints what a
//! [`Finding`] holds, which is never a whole secret.

use serde_json::{json, Value};

use crate::{crypto_rules, rules, Category, Finding};

/// A detector as SARIF and docs/SCAN.md describe it.
pub struct RuleInfo {
    pub id: &'static str,
    pub family: &'static str,
    pub category: Category,
    pub description: &'static str,
    pub doc: &'static str,
}

/// Every detector, secrets first.
pub fn all_rules() -> Vec<RuleInfo> {
    let mut v: Vec<RuleInfo> = rules::RULES
        .iter()
        .map(|r| RuleInfo {
            id: r.id,
            family: r.family,
            category: Category::Secret,
            description: r.description,
            doc: r.doc,
        })
        .collect();
    v.push(RuleInfo {
        id: rules::GENERIC_ID,
        family: "generic",
        category: Category::Secret,
        description: "High-entropy literal assigned to a secret-like name (password, secret, token, api_key, ...)",
        doc: "docs/SCAN.md#generic-secrets",
    });
    v.extend(crypto_rules::RULES.iter().map(|r| RuleInfo {
        id: r.id,
        family: r.family,
        category: Category::WeakCrypto,
        description: r.description,
        doc: r.doc,
    }));
    v
}

pub fn family_of(rule: &str) -> &'static str {
    all_rules()
        .into_iter()
        .find(|r| r.id == rule)
        .map_or("unknown", |r| r.family)
}

pub fn text(findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        s.push_str(&format!(
            "{}\t{}\t{}:{}\t{}",
            f.category.as_str(),
            f.rule,
            f.path,
            f.line,
            f.redacted
        ));
        if let Some(c) = &f.commit {
            s.push_str(&format!("\tcommit {c}"));
        }
        s.push('\n');
    }
    s
}

pub fn json(findings: &[Finding], new: usize) -> Value {
    json!({
        "findings": findings,
        "summary": {
            "total": findings.len(),
            "new": new,
            "secret": findings.iter().filter(|f| f.category == Category::Secret).count(),
            "weak_crypto": findings.iter().filter(|f| f.category == Category::WeakCrypto).count(),
        }
    })
}

/// What `strongroom scan --report` sends (`POST /v1/scans`): where each
/// finding is and its fingerprint, never its value or redacted prefix.
/// `baselined` marks findings the team's baseline already accepts.
pub fn report(
    repository: &str,
    source: &str,
    findings: &[Finding],
    baseline: Option<&crate::baseline::Baseline>,
    imported: &std::collections::HashMap<String, String>,
) -> Value {
    let rows: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut v = json!({
                "fingerprint": f.fingerprint,
                "rule": f.rule,
                "category": f.category.as_str(),
                "path": f.path,
                "line": f.line,
                "baselined": baseline.is_some_and(|b| b.contains(f)),
            });
            if let Some(c) = &f.commit {
                v["commit"] = json!(c);
            }
            if let Some(p) = imported.get(&f.fingerprint) {
                v["imported_to"] = json!(p);
            }
            v
        })
        .collect();
    json!({
        "repository": repository,
        "source": source,
        "scanner": concat!("strongroom-scan ", env!("CARGO_PKG_VERSION")),
        "findings": rows,
    })
}

/// Percent-encodes what may not appear raw in a SARIF `uri` (RFC 3986).
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

pub fn sarif(findings: &[Finding], version: &str) -> Value {
    let rules = all_rules();
    let rule_json: Vec<Value> = rules
        .iter()
        .map(|r| {
            let help = if r.doc.starts_with("http") {
                json!({"text": format!("Format documentation: {}", r.doc)})
            } else {
                json!({"text": format!("See {}", r.doc)})
            };
            let mut v = json!({
                "id": r.id,
                "name": r.id.split('-').map(|w| {
                    let mut c = w.chars();
                    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
                }).collect::<String>(),
                "shortDescription": {"text": r.description},
                "fullDescription": {"text": r.description},
                "help": help,
                "defaultConfiguration": {"level": match r.category { Category::Secret => "error", Category::WeakCrypto => "warning" }},
                "properties": {
                    "category": r.category.as_str(),
                    "family": r.family,
                    "tags": ["security", r.category.as_str()],
                    "security-severity": match r.category { Category::Secret => "8.0", Category::WeakCrypto => "5.0" },
                }
            });
            if r.doc.starts_with("http") {
                v["helpUri"] = json!(r.doc);
            }
            v
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let idx = rules.iter().position(|r| r.id == f.rule).unwrap_or(0);
            let mut props = json!({"category": f.category.as_str()});
            if let Some(c) = &f.commit {
                props["commit"] = json!(c);
            }
            json!({
                "ruleId": f.rule,
                "ruleIndex": idx,
                "level": match f.category { Category::Secret => "error", Category::WeakCrypto => "warning" },
                "message": {"text": match f.category {
                    Category::Secret => format!("{} ({}): {}", f.rule, f.category.as_str(), f.redacted),
                    Category::WeakCrypto => format!("{} ({}): {}", f.rule, f.category.as_str(), f.redacted),
                }},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&f.path)},
                        "region": {"startLine": f.line}
                    }
                }],
                "partialFingerprints": {"strongroomFingerprint/v1": f.fingerprint},
                "properties": props,
            })
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "strongroom-scan",
                "semanticVersion": version,
                "rules": rule_json,
            }},
            "results": results,
        }]
    })
}
