//! `strongroom scan`: finds hardcoded secrets and weak cryptography in a
//! working tree ([`walk`]), in staged changes and in git history ([`git`]).
//!
//! A [`Finding`] never holds a secret: only its rule, where it is, a redacted
//! prefix (a few leading characters) and a fingerprint (a SHA-256 of the rule
//! and the value), which the [`baseline`] stores. docs/SCAN.md lists the
//! rules, their sources and the measured precision and recall.

pub mod baseline;
pub mod checks;
pub mod cli;
pub mod crypto_rules;
pub mod engine;
pub mod git;
pub mod import;
pub mod output;
pub mod rules;
pub mod walk;

use serde::Serialize;

/// What a finding is about: teams gate on secrets and may only warn on crypto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Secret,
    WeakCrypto,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Secret => "secret",
            Category::WeakCrypto => "weak-crypto",
        }
    }
}

/// One finding. Holds no secret value (see the module comment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id, e.g. `github-token` (see [`rules::RULES`], [`crypto_rules::RULES`]).
    pub rule: &'static str,
    pub category: Category,
    /// Path as given or relative to the repository root (history, staged).
    pub path: String,
    /// 1-based line number.
    pub line: usize,
    /// The full commit id where a history finding was introduced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Secrets: the first few characters and the length. Weak crypto: the code matched.
    pub redacted: String,
    /// Hex SHA-256 over the rule and the matched value: stable across moves,
    /// what a baseline stores.
    pub fingerprint: String,
}

/// Domain separation for fingerprints, so they are not a plain SHA-256 of the value.
const FINGERPRINT_DOMAIN: &[u8] = b"strongroom-scan-fingerprint-v1\0";

/// The fingerprint of a matched value under a rule.
pub fn fingerprint(rule: &str, value: &[u8]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(FINGERPRINT_DOMAIN);
    ctx.update(rule.as_bytes());
    ctx.update(b"\0");
    ctx.update(value);
    let d = ctx.finish();
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// How many leading characters of a secret an output may show.
pub const SHOWN_PREFIX: usize = 4;

/// `ghp_…(40 chars)`: at most [`SHOWN_PREFIX`] leading characters, and fewer
/// for short values so that at least three quarters stay hidden.
pub fn redact(value: &[u8]) -> String {
    let s = String::from_utf8_lossy(value);
    let n = s.chars().count();
    let shown = SHOWN_PREFIX.min(n / 4);
    let head: String = s.chars().take(shown).collect();
    format!("{head}…({n} chars)")
}
