//! `strongroom scan --import PREFIX`: moving found secrets into Strongroom's
//! secrets engine. This module decides where each one goes and reads its
//! value back from the file it was found in (findings never hold values);
//! the CLI crate stores it over HTTP ([`Importer`]).

use zeroize::Zeroize;

use crate::engine::Engine;
use crate::{Category, Finding};

/// One secret to store: at `path`, in the field `field`.
pub struct ImportItem<'a> {
    pub path: String,
    pub field: String,
    /// The secret itself (UTF-8: every secret rule matches text).
    pub value: &'a str,
    pub finding: &'a Finding,
}

/// Stores one item; returns the line to show (or why it failed).
pub type Importer<'a> = &'a dyn Fn(&ImportItem<'_>) -> Result<String, String>;

/// The secrets engine's segment grammar: 1 to 128 bytes of `A-Za-z0-9_-.`,
/// not `.` or `..` (docs/SECRETS.md).
fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Checks `--import PREFIX` against the secrets engine's path grammar.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let segs: Vec<&str> = prefix.split('/').collect();
    if prefix.len() > 256 || segs.len() > 8 || !segs.iter().all(|s| segment_ok(s)) {
        return Err(format!(
            "--import {prefix:?}: give a secret path prefix of 1 to 8 segments of A-Z a-z 0-9 _ - . joined by single '/', e.g. scanned/payments"
        ));
    }
    Ok(())
}

/// `PREFIX/<file>/<rule>`: the file's path with each segment made to fit
/// the grammar (other characters become `_`; `.`/`..`/empty segments are
/// dropped). Deep paths are folded into one segment to stay within 16.
pub fn secret_path(prefix: &str, f: &Finding) -> String {
    let clean = |s: &str| -> String {
        let mut out: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        out.truncate(128);
        out
    };
    let file: Vec<String> = f
        .path
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(clean)
        .collect();
    let used = prefix.split('/').count() + 1;
    let file = if used + file.len() > 16 {
        let mut one = clean(&file.join("_"));
        one.truncate(128);
        vec![one]
    } else {
        file
    };
    format!("{prefix}/{}/{}", file.join("/"), f.rule)
}

/// The field a secret is stored in: the rule in upper case with `-` as `_`
/// (`github-token` → `GITHUB_TOKEN`), so `strongroom run --secret PATH`
/// sets a variable of that name.
pub fn field_name(rule: &str) -> String {
    rule.to_ascii_uppercase().replace('-', "_")
}

/// Reads each finding's value back from its file (tree scans only: the
/// path is readable as shown). Values are returned in `findings` order;
/// `None` where the file no longer holds it.
pub fn read_values(findings: &[&Finding]) -> Vec<Option<String>> {
    let mut out = Vec::with_capacity(findings.len());
    for f in findings {
        let found = match std::fs::read(&f.path) {
            Err(_) => None,
            Ok(mut buf) => {
                let mut values = Engine::get().secret_values(&f.path, &buf);
                let v = values
                    .iter()
                    .find(|(fp, _)| *fp == f.fingerprint)
                    .and_then(|(_, v)| String::from_utf8(v.clone()).ok());
                for (_, v) in values.iter_mut() {
                    v.zeroize();
                }
                buf.zeroize();
                v
            }
        };
        out.push(found);
    }
    out
}

/// The findings `--import` takes: secrets not in the baseline.
pub fn candidates<'a>(new: &[&'a Finding]) -> Vec<&'a Finding> {
    new.iter()
        .copied()
        .filter(|f| f.category == Category::Secret)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(path: &str, rule: &'static str) -> Finding {
        Finding {
            rule,
            category: Category::Secret,
            path: path.into(),
            line: 1,
            commit: None,
            redacted: String::new(),
            fingerprint: String::new(),
        }
    }

    #[test]
    fn paths_fit_the_secrets_grammar() {
        assert_eq!(
            secret_path("scanned", &finding("./src/config.py", "github-token")),
            "scanned/src/config.py/github-token"
        );
        assert_eq!(
            secret_path("a/b", &finding("../x y/$z.env", "generic-secret")),
            "a/b/x_y/_z.env/generic-secret"
        );
        let deep = (0..20)
            .map(|i| format!("d{i}"))
            .collect::<Vec<_>>()
            .join("/");
        let p = secret_path("p", &finding(&format!("{deep}/f"), "r"));
        assert!(p.split('/').count() <= 16, "{p}");
        assert_eq!(field_name("aws-secret-access-key"), "AWS_SECRET_ACCESS_KEY");
        assert!(check_prefix("scanned/payments").is_ok());
        for bad in ["", "/x", "x/", "a//b", "..", "a b", "x/%2F"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
