//! Matching one buffer: one Aho-Corasick pass finds which rules' keywords
//! occur, then only those rules' regexes run. The generic rule runs per
//! line around its keywords. A finding on a line holding
//! `strongroom:allow` is dropped.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::Regex;

use crate::crypto_rules::{self, Lang};
use crate::rules::{self, GENERIC_ID};
use crate::{fingerprint, redact, Category, Finding};

/// The inline marker that silences findings on its line.
pub const ALLOW_MARKER: &[u8] = b"strongroom:allow";

pub struct Engine {
    keywords: AhoCorasick,
    /// keyword pattern index -> rule index, or `None` for a generic keyword
    keyword_rule: Vec<Option<usize>>,
    secret: Vec<Regex>,
    generic: Regex,
    crypto: Vec<CompiledPattern>,
}

struct CompiledPattern {
    pattern: &'static crypto_rules::Pattern,
    regex: Regex,
    context: Option<Regex>,
}

/// A finding before its line is known: a byte offset in the buffer.
struct Hit {
    offset: usize,
    end: usize,
    rule: &'static str,
    category: Category,
    fingerprint: String,
    redacted: String,
}

impl Engine {
    /// The compiled rule set, built once per process.
    pub fn get() -> &'static Engine {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        ENGINE.get_or_init(Engine::build)
    }

    fn build() -> Engine {
        let mut pats: Vec<&str> = Vec::new();
        let mut keyword_rule = Vec::new();
        for (i, r) in rules::RULES.iter().enumerate() {
            for k in r.keywords {
                pats.push(k);
                keyword_rule.push(Some(i));
            }
        }
        for k in rules::GENERIC_KEYWORDS {
            pats.push(k);
            keyword_rule.push(None);
        }
        #[allow(clippy::expect_used)] // static patterns: a failure is a bug caught by every test
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&pats)
            .expect("keyword automaton");
        #[allow(clippy::expect_used)]
        // ASCII mode: Unicode word boundaries make the DFA give up on the
        // first non-ASCII byte and fall back to the slow PikeVM.
        let compile = |p: &str| Regex::new(&format!("(?-u){p}")).expect("static rule regex");
        Engine {
            keywords,
            keyword_rule,
            secret: rules::RULES.iter().map(|r| compile(r.pattern)).collect(),
            generic: compile(rules::GENERIC_PATTERN),
            crypto: crypto_rules::PATTERNS
                .iter()
                .map(|p| CompiledPattern {
                    pattern: p,
                    regex: compile(p.regex),
                    context: p.context.map(compile),
                })
                .collect(),
        }
    }

    /// Scans `buf`, whose first byte is on line `first_line` of `path`.
    /// Findings ending at or before `skip_before` are dropped: they lay wholly
    /// in the previous window of a streamed file and were reported from it.
    pub fn scan(
        &self,
        path: &str,
        buf: &[u8],
        first_line: usize,
        skip_before: usize,
        out: &mut Vec<Finding>,
    ) {
        let mut hits = self.hits(path, buf);
        hits.retain(|h| h.end > skip_before);
        if hits.is_empty() {
            return;
        }
        hits.sort_by_key(|h| h.offset);
        let mut line = first_line;
        let mut pos = 0;
        for h in hits {
            line += memchr::memchr_iter(b'\n', &buf[pos..h.offset]).count();
            pos = h.offset;
            let (ls, le) = line_bounds(buf, h.offset);
            if memchr::memmem::find(&buf[ls..le], ALLOW_MARKER).is_some() {
                continue;
            }
            out.push(Finding {
                rule: h.rule,
                category: h.category,
                path: path.to_string(),
                line,
                commit: None,
                redacted: h.redacted,
                fingerprint: h.fingerprint,
            });
        }
    }

    /// The value of each secret finding in `buf`, by fingerprint: what
    /// `--import` moves into Strongroom (the only caller that sees values).
    /// The caller wipes them after use.
    pub fn secret_values(&self, path: &str, buf: &[u8]) -> Vec<(String, Vec<u8>)> {
        self.hits(path, buf)
            .into_iter()
            .filter(|h| h.category == Category::Secret)
            .map(|h| (h.fingerprint, buf[h.offset..h.end].to_vec()))
            .collect()
    }

    /// Every rule's matches in `buf`, by byte offset.
    fn hits(&self, path: &str, buf: &[u8]) -> Vec<Hit> {
        let mut hits: Vec<Hit> = Vec::new();
        let mut rule_on = vec![false; rules::RULES.len()];
        let mut generic_lines: Vec<(usize, usize)> = Vec::new();
        for m in self.keywords.find_overlapping_iter(buf) {
            match self.keyword_rule[m.pattern().as_usize()] {
                Some(r) => rule_on[r] = true,
                None => {
                    let (s, e) = line_bounds(buf, m.start());
                    if generic_lines.last() != Some(&(s, e)) {
                        generic_lines.push((s, e));
                    }
                }
            }
        }
        for (i, on) in rule_on.iter().enumerate() {
            if !on {
                continue;
            }
            let rule = &rules::RULES[i];
            for c in self.secret[i].captures_iter(buf) {
                let Some(s) = c.name("s") else { continue };
                let v = s.as_bytes();
                if rules::is_documented_example(v) || !(rule.validate)(v) {
                    continue;
                }
                hits.push(Hit {
                    offset: s.start(),
                    end: s.end(),
                    rule: rule.id,
                    category: Category::Secret,
                    fingerprint: fingerprint(rule.id, v),
                    redacted: redact(v),
                });
            }
        }
        generic_lines.dedup();
        let specific_end = hits.len();
        for (ls, le) in generic_lines {
            let line = &buf[ls..le];
            for c in self.generic.captures_iter(line) {
                let (Some(name), Some(val)) = (c.name("name"), c.name("q").or(c.name("u"))) else {
                    continue;
                };
                let quoted = c.name("q").is_some();
                if !rules::generic_ok(name.as_bytes(), val.as_bytes(), quoted) {
                    continue;
                }
                let (start, end) = (ls + val.start(), ls + val.end());
                // a specific rule already reported this value
                if hits[..specific_end]
                    .iter()
                    .any(|h| h.offset < end && start < h.end)
                {
                    continue;
                }
                hits.push(Hit {
                    offset: start,
                    end,
                    rule: GENERIC_ID,
                    category: Category::Secret,
                    fingerprint: fingerprint(GENERIC_ID, val.as_bytes()),
                    redacted: redact(val.as_bytes()),
                });
            }
        }
        if let Some(lang) = Lang::of_path(path) {
            self.scan_crypto(lang, buf, &mut hits);
        }
        hits
    }

    fn scan_crypto(&self, lang: Lang, buf: &[u8], hits: &mut Vec<Hit>) {
        for cp in &self.crypto {
            let p = cp.pattern;
            if !p.langs.contains(&lang) {
                continue;
            }
            if let Some(req) = p.file_requires {
                if memchr::memmem::find(buf, req.as_bytes()).is_none() {
                    continue;
                }
            }
            for c in cp.regex.captures_iter(buf) {
                let Some(m) = c.get(0) else { continue };
                if let Some(limit) = p.number_below {
                    let n =
                        c.iter().skip(1).flatten().find_map(|g| {
                            std::str::from_utf8(g.as_bytes()).ok()?.parse::<u32>().ok()
                        });
                    match n {
                        Some(n) if n < limit => {}
                        _ => continue,
                    }
                }
                if let Some(ctx) = &cp.context {
                    let (ws, we) = window(buf, m.start(), p.context_lines);
                    if !ctx.is_match(&buf[ws..we]) {
                        continue;
                    }
                }
                let (ls, le) = line_bounds(buf, m.start());
                let code = String::from_utf8_lossy(&buf[ls..le]);
                let code = code.trim();
                // The matched call is not a secret: show it (bounded).
                let shown: String = String::from_utf8_lossy(m.as_bytes())
                    .chars()
                    .take(80)
                    .collect();
                hits.push(Hit {
                    offset: m.start(),
                    end: m.end(),
                    rule: p.rule,
                    category: Category::WeakCrypto,
                    // the trimmed code line: stable when lines move or the file is renamed
                    fingerprint: fingerprint(p.rule, code.as_bytes()),
                    redacted: shown,
                });
            }
        }
    }
}

/// Start and end (exclusive, without the newline) of the line holding `pos`.
fn line_bounds(buf: &[u8], pos: usize) -> (usize, usize) {
    let s = memchr::memrchr(b'\n', &buf[..pos]).map_or(0, |i| i + 1);
    let e = memchr::memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i);
    (s, e)
}

/// The lines from `n` before to `n` after the line holding `pos`.
fn window(buf: &[u8], pos: usize, n: usize) -> (usize, usize) {
    let (mut s, mut e) = line_bounds(buf, pos);
    for _ in 0..n {
        if s > 0 {
            s = line_bounds(buf, s - 1).0;
        }
        if e < buf.len() {
            e = line_bounds(buf, e + 1).1;
        }
    }
    (s, e)
}
