//! The labelled corpus (tests/corpus/mod.rs) scanned end to end: precision
//! and recall per rule family, every rule exercised, and no output holding
//! a secret (canaries).

use crate::corpus;

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use corpus::Label;
use strongroom_scan::{output, walk, Finding};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("strongroom-scan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn scan_corpus(name: &str, seed: u64) -> (corpus::Corpus, Vec<Finding>, PathBuf) {
    let c = corpus::generate(seed, 4);
    let dir = tempdir(name);
    corpus::write(&dir, &c).expect("write corpus");
    let (findings, stats) = walk::scan_paths(&[dir.to_string_lossy().into_owned()], 2);
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    (c, findings, dir)
}

fn labels_of(findings: &[Finding], dir: &std::path::Path) -> Vec<Label> {
    let prefix = format!("{}/", dir.to_string_lossy());
    findings
        .iter()
        .map(|f| Label {
            path: f.path.strip_prefix(&prefix).unwrap_or(&f.path).to_string(),
            line: f.line,
            family: output::family_of(f.rule).to_string(),
        })
        .collect()
}

#[test]
fn precision_and_recall_per_family_at_least_095() {
    let (c, findings, dir) = scan_corpus("pr", 0x5eed_2026);
    let reported = labels_of(&findings, &dir);
    let scores = corpus::score(&c.labels, &reported);
    println!("| family | expected | TP | FP | FN | precision | recall |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut bad = Vec::new();
    for (family, s) in &scores {
        println!(
            "| {family} | {} | {} | {} | {} | {:.3} | {:.3} |",
            s.tp + s.fn_,
            s.tp,
            s.fp,
            s.fn_,
            s.precision(),
            s.recall()
        );
        if s.precision() < 0.95 || s.recall() < 0.95 {
            bad.push(family.clone());
        }
    }
    let expected: BTreeSet<&Label> = c.labels.iter().collect();
    for r in &reported {
        if !expected.contains(r) {
            println!("FP: {r:?}");
        }
    }
    let got: BTreeSet<&Label> = reported.iter().collect();
    for l in &c.labels {
        if !got.contains(l) {
            println!("FN: {l:?}");
        }
    }
    assert!(bad.is_empty(), "families under 0.95: {bad:?}");
    // every family of the corpus has samples, and every detector fired
    assert!(scores.len() >= 14, "{scores:?}");
    let fired: BTreeSet<&str> = findings.iter().map(|f| f.rule).collect();
    for r in output::all_rules() {
        assert!(
            fired.contains(r.id),
            "rule {} never fired on the corpus",
            r.id
        );
    }
    // the ignored directory and the inline allow were honoured
    assert!(!findings.iter().any(|f| f.path.contains("/ignored/")));
    assert!(!findings.iter().any(|f| f.path.ends_with("allowed.py")));
    let _ = std::fs::remove_dir_all(dir);
}

/// All 12-character windows of `s`.
fn grams(s: &str, n: usize) -> HashSet<&[u8]> {
    s.as_bytes().windows(n).collect()
}

#[test]
fn no_output_format_contains_a_secret() {
    let (c, findings, dir) = scan_corpus("canary", 0xca_7a_41);
    assert!(findings.len() > 100);
    let text = output::text(&findings);
    let json = output::json(&findings, findings.len()).to_string();
    let sarif = output::sarif(&findings, "test").to_string();
    for (name, out) in [("text", &text), ("json", &json), ("sarif", &sarif)] {
        let g = grams(out, 12);
        for s in &c.secrets {
            assert!(
                !out.contains(s.as_str()),
                "{name} output holds a whole secret"
            );
            for w in s.as_bytes().windows(12) {
                assert!(
                    !g.contains(w),
                    "{name} output holds 12 consecutive characters of a secret"
                );
            }
        }
    }
    // the redaction shows at most SHOWN_PREFIX leading characters
    for f in findings
        .iter()
        .filter(|f| f.category == strongroom_scan::Category::Secret)
    {
        let head = f.redacted.split('…').next().unwrap_or("");
        assert!(
            head.chars().count() <= strongroom_scan::SHOWN_PREFIX,
            "{}",
            f.redacted
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sarif_has_one_rule_per_detector_and_result_properties() {
    let (_, findings, dir) = scan_corpus("sarif", 7);
    let s = output::sarif(&findings, "0.1.0");
    assert_eq!(s["version"], "2.1.0");
    let rules = s["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    assert_eq!(rules.len(), output::all_rules().len());
    let ids: BTreeSet<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), rules.len(), "rule ids are unique");
    for r in rules {
        assert!(r["shortDescription"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
    }
    let results = s["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), findings.len());
    for r in results {
        let cat = r["properties"]["category"].as_str().expect("category");
        assert!(cat == "secret" || cat == "weak-crypto");
        let fp = r["partialFingerprints"]["strongroomFingerprint/v1"]
            .as_str()
            .expect("fp");
        assert_eq!(fp.len(), 64);
        let idx = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
    }
    // fingerprints are stable: a second scan gives the same ones
    let (f2, _) = walk::scan_paths(&[dir.to_string_lossy().into_owned()], 1);
    let a: BTreeSet<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
    let b: BTreeSet<&str> = f2.iter().map(|f| f.fingerprint.as_str()).collect();
    assert_eq!(a, b);
    let _ = std::fs::remove_dir_all(dir);
}
