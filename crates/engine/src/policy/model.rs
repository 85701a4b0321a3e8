//! The policy document (JSON) and its validation.

use super::actions::{action_info, closest_action, Scope, ACTION_WILDCARDS};
use super::roles::BUILTIN_ROLES;
use super::PolicyError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Longest policy name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Longest policy description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Most statements in one policy.
pub const MAX_STATEMENTS: usize = 100;
/// Most actions, or most resources, in one statement.
pub const MAX_LIST_LEN: usize = 200;
/// Most entries in one condition map.
pub const MAX_CONDITION_ENTRIES: usize = 64;
/// Name prefix reserved for the built-in role policies (`role:key-admin`, …).
pub const ROLE_POLICY_PREFIX: &str = "role:";

/// Whether a matching statement grants or forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Effect {
    /// Grants the action.
    Allow,
    /// Forbids the action; wins over any Allow.
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

/// Conditions on the request's encryption context. A statement with a
/// condition only matches when every part of it holds; a request without an
/// encryption context is treated as having an empty one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Each pair must be present, with exactly this value, in the request's
    /// encryption context; other entries may be present too (AWS
    /// `EncryptionContextSubset`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context_equals: BTreeMap<String, String>,
    /// If set, the request's encryption context must be exactly this map: no
    /// missing, extra or different entries (AWS `EncryptionContextEquals`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_exact: Option<BTreeMap<String, String>>,
}

impl Condition {
    /// Checks the condition against an encryption context. On failure,
    /// returns which part failed, naming context keys but never values.
    pub fn check(&self, context: &BTreeMap<String, String>) -> Result<(), String> {
        for (k, v) in &self.context_equals {
            match context.get(k) {
                None => {
                    return Err(format!(
                        "context_equals: key {k:?} is missing from the encryption context"
                    ))
                }
                Some(actual) if actual != v => {
                    return Err(format!(
                        "context_equals: the encryption context value for key {k:?} is not the required one"
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(exact) = &self.context_exact {
            if exact != context {
                let missing: Vec<&String> =
                    exact.keys().filter(|k| !context.contains_key(*k)).collect();
                let extra: Vec<&String> =
                    context.keys().filter(|k| !exact.contains_key(*k)).collect();
                let different: Vec<&String> = exact
                    .iter()
                    .filter(|(k, v)| context.get(*k).is_some_and(|a| a != *v))
                    .map(|(k, _)| k)
                    .collect();
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("missing keys {missing:?}"));
                }
                if !extra.is_empty() {
                    parts.push(format!("extra keys {extra:?}"));
                }
                if !different.is_empty() {
                    parts.push(format!("different values for keys {different:?}"));
                }
                return Err(format!(
                    "context_exact: the encryption context must be exactly the condition's map ({})",
                    parts.join("; ")
                ));
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.context_equals.is_empty() && self.context_exact.is_none()
    }
}

/// One rule of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Allow or Deny.
    pub effect: Effect,
    /// Exact action names, or one of the wildcards `*`, `kms:*`,
    /// `strongroom:*`.
    pub actions: Vec<String>,
    /// `*`, `key/<uuid>`, `alias/<name>`, `alias/<prefix>*` or
    /// `tag/<key>=<value>`.
    pub resources: Vec<String>,
    /// Optional encryption-context condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

/// A named set of statements. Policies are attached to identities; the
/// built-in roles are policies too (named `role:<role>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `[A-Za-z0-9][A-Za-z0-9_-]*`, at most 128 bytes (built-in role
    /// policies are named `role:<role>`).
    pub name: String,
    /// Free text, at most 1024 bytes, no control characters.
    #[serde(default)]
    pub description: String,
    /// At least one statement.
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Parses a policy from JSON and validates it.
    pub fn from_json(json: &str) -> Result<Policy, PolicyError> {
        let p: Policy = serde_json::from_str(json)
            .map_err(|e| PolicyError::Invalid(format!("policy is not valid policy JSON: {e}")))?;
        p.validate()?;
        Ok(p)
    }

    /// Checks the policy against the grammar. Every error names the policy,
    /// the statement and the offending entry, and says how to fix it.
    pub fn validate(&self) -> Result<(), PolicyError> {
        validate_name(&self.name).map_err(PolicyError::Invalid)?;
        let at = |i: usize, msg: String| {
            PolicyError::Invalid(format!("policy {:?}, statement {i}: {msg}", self.name))
        };
        if self.description.len() > MAX_DESCRIPTION_LEN {
            return Err(PolicyError::Invalid(format!(
                "policy {:?}: description is {} bytes; at most {MAX_DESCRIPTION_LEN} are allowed",
                self.name,
                self.description.len()
            )));
        }
        if self.description.chars().any(char::is_control) {
            return Err(PolicyError::Invalid(format!(
                "policy {:?}: description contains control characters; remove them",
                self.name
            )));
        }
        if self.statements.is_empty() {
            return Err(PolicyError::Invalid(format!(
                "policy {:?} has no statements; add at least one {{\"effect\", \"actions\", \"resources\"}} statement",
                self.name
            )));
        }
        if self.statements.len() > MAX_STATEMENTS {
            return Err(PolicyError::Invalid(format!(
                "policy {:?} has {} statements; at most {MAX_STATEMENTS} are allowed",
                self.name,
                self.statements.len()
            )));
        }
        for (i, s) in self.statements.iter().enumerate() {
            validate_statement(s).map_err(|m| at(i, m))?;
        }
        Ok(())
    }

    /// [`validate`](Self::validate), and also refuses the names reserved for
    /// the built-in roles (`role:…`). Use this for policies supplied by users.
    pub fn validate_custom(&self) -> Result<(), PolicyError> {
        if self.name.starts_with(ROLE_POLICY_PREFIX) {
            return Err(PolicyError::Invalid(format!(
                "policy name {:?} is reserved: names starting with {ROLE_POLICY_PREFIX:?} belong to the built-in roles; choose another name",
                self.name
            )));
        }
        self.validate()
    }
}

fn validate_name(name: &str) -> Result<(), String> {
    if let Some(role) = name.strip_prefix(ROLE_POLICY_PREFIX) {
        if BUILTIN_ROLES.contains(&role) {
            return Ok(());
        }
    }
    let rule =
        "policy names are 1-128 characters from A-Z a-z 0-9 _ -, starting with a letter or digit";
    if name.is_empty() {
        return Err(format!("policy name is empty; {rule}"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("policy name is {} bytes; {rule}", name.len()));
    }
    let starts_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    let chars_ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !starts_ok || !chars_ok {
        return Err(format!("invalid policy name {name:?}: {rule}"));
    }
    Ok(())
}

fn validate_statement(s: &Statement) -> Result<(), String> {
    if s.actions.is_empty() {
        return Err("\"actions\" is empty; name at least one action (e.g. \"kms:Decrypt\")".into());
    }
    if s.resources.is_empty() {
        return Err(
            "\"resources\" is empty; name at least one resource (\"*\", \"key/<uuid>\", \"alias/<name>\", \"alias/<prefix>*\" or \"tag/<key>=<value>\")"
                .into(),
        );
    }
    if s.actions.len() > MAX_LIST_LEN || s.resources.len() > MAX_LIST_LEN {
        return Err(format!(
            "a statement may list at most {MAX_LIST_LEN} actions and {MAX_LIST_LEN} resources"
        ));
    }
    for a in &s.actions {
        validate_action(a)?;
    }
    for r in &s.resources {
        validate_resource(r).map_err(|m| format!("resource {r:?}: {m}"))?;
    }
    let has_star = s.resources.iter().any(|r| r == "*");
    if !has_star {
        if let Some(global) = s
            .actions
            .iter()
            .find(|a| action_info(a).is_some_and(|i| i.scope == Scope::Global))
        {
            return Err(format!(
                "action {global:?} does not act on a key, so it only matches the resource \"*\"; move it to a statement with \"resources\": [\"*\"]"
            ));
        }
    }
    if let Some(c) = &s.condition {
        if c.is_empty() {
            return Err(
                "\"condition\" is empty; give \"context_equals\" and/or \"context_exact\", or remove it"
                    .into(),
            );
        }
        let exact_len = c.context_exact.as_ref().map_or(0, BTreeMap::len);
        if c.context_equals.len() > MAX_CONDITION_ENTRIES || exact_len > MAX_CONDITION_ENTRIES {
            return Err(format!(
                "a condition map may have at most {MAX_CONDITION_ENTRIES} entries"
            ));
        }
        let keys = c
            .context_equals
            .keys()
            .chain(c.context_exact.iter().flat_map(|m| m.keys()));
        for k in keys {
            if k.is_empty() {
                return Err("condition: encryption context keys must not be empty".into());
            }
        }
    }
    Ok(())
}

fn validate_action(a: &str) -> Result<(), String> {
    if action_info(a).is_some() || ACTION_WILDCARDS.iter().any(|(w, _)| *w == a) {
        return Ok(());
    }
    if a.contains('*') {
        return Err(format!(
            "action {a:?}: the only action wildcards are \"*\", \"kms:*\" and \"strongroom:*\"; otherwise list exact action names"
        ));
    }
    match closest_action(a) {
        Some(c) => Err(format!(
            "unknown action {a:?}; did you mean {c:?}? (action names are case-sensitive)"
        )),
        None => Err(format!(
            "unknown action {a:?}; see docs/POLICY.md for the list of actions"
        )),
    }
}

const STAR_RULE: &str = "'*' may only be the whole resource \"*\" or the single last character of an alias pattern such as \"alias/app-*\"";

/// Checks one resource pattern against the grammar:
/// `*` | `key/<canonical uuid>` | `alias/<name>` | `alias/<prefix>*` |
/// `tag/<key>=<value>`. Returns the reason on failure.
pub fn validate_resource(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("empty resource".into());
    }
    if let Some(c) = r.chars().find(|c| !c.is_ascii()) {
        return Err(format!(
            "contains the non-ASCII character U+{:04X}; patterns are matched byte-for-byte, so look-alike letters never match ASCII names",
            u32::from(c)
        ));
    }
    if r.bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(
            "contains whitespace or a control character; whitespace is significant and never trimmed"
                .into(),
        );
    }
    if r == "*" {
        return Ok(());
    }
    if r.contains('%') {
        return Err(
            "contains '%': percent-encoding is not decoded; write the name literally".into(),
        );
    }
    if r.contains('?') {
        return Err("contains '?', which is not a wildcard; write the name literally".into());
    }
    if let Some(id) = r.strip_prefix("key/") {
        if id.contains('*') {
            return Err("key patterns are exact; use the resource \"*\" to mean every key".into());
        }
        if is_canonical_uuid(id) {
            return Ok(());
        }
        let lower = id.to_ascii_lowercase();
        if is_canonical_uuid(&lower) {
            return Err(format!(
                "key ids are matched exactly in canonical form; write \"key/{lower}\" (lowercase)"
            ));
        }
        return Err(
            "not a canonical key id: use \"key/\" followed by the lowercase, hyphenated UUID (e.g. key/1b4e28ba-2fa1-11d2-883f-0016d3cca427)"
                .into(),
        );
    }
    if let Some(name) = r.strip_prefix("alias/") {
        return validate_alias_pattern(name);
    }
    if let Some(rest) = r.strip_prefix("tag/") {
        if rest.contains('*') {
            return Err("tag patterns are exact; '*' is not a wildcard there".into());
        }
        let Some((k, v)) = rest.split_once('=') else {
            return Err("tag patterns are \"tag/<key>=<value>\"; the '=' is missing".into());
        };
        if k.is_empty() {
            return Err("tag pattern has an empty tag key".into());
        }
        if k.len() > 128 || v.len() > 256 {
            return Err("tag keys are at most 128 bytes and values at most 256".into());
        }
        return Ok(());
    }
    if let Some(rest) = r.strip_prefix("secret/") {
        return validate_secret_pattern(rest);
    }
    if r.starts_with("arn:") {
        return Err(
            "ARNs are not accepted in policies; use \"key/<uuid>\" or \"alias/<name>\"".into(),
        );
    }
    if r.contains('*') {
        return Err(STAR_RULE.into());
    }
    Err("not a resource pattern: use \"*\", \"key/<uuid>\", \"alias/<name>\", \"alias/<prefix>*\", \"tag/<key>=<value>\", \"secret/<path>\" or \"secret/<path>/*\"".into())
}

/// `secret/*`, `secret/<path>` or `secret/<path>/*` (after `secret/`).
fn validate_secret_pattern(rest: &str) -> Result<(), String> {
    if rest == "*" {
        return Ok(());
    }
    let body = match rest.strip_suffix("/*") {
        Some(b) => b,
        None if rest.contains('*') => {
            return Err(
                "in a secret pattern '*' may only be a whole last segment: \"secret/*\" or \"secret/<path>/*\" (\"secret/app*\" is refused: it would also match app2)"
                    .into(),
            )
        }
        None => rest,
    };
    if body.contains('*') {
        return Err("in a secret pattern '*' may only be a whole last segment".into());
    }
    crate::secrets::path::validate_path(body)
}

fn validate_alias_pattern(name: &str) -> Result<(), String> {
    let stars = name.matches('*').count();
    let (body, prefix) = match (stars, name.strip_suffix('*')) {
        (0, _) => (name, false),
        (1, Some(body)) => (body, true),
        _ => return Err(STAR_RULE.into()),
    };
    if body.contains("..") {
        return Err(
            "'..' is not allowed: names are never path-cleaned, so '..' is just two dots and aliases cannot contain it"
                .into(),
        );
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-')
    {
        return Err("alias names may only contain A-Z a-z 0-9 / _ -".into());
    }
    if body.len() > 250 {
        return Err("alias names are at most 250 characters after \"alias/\"".into());
    }
    if body.starts_with('/') || body.contains("//") {
        return Err("alias names cannot start with '/' or contain \"//\"".into());
    }
    if !prefix {
        if body.is_empty() {
            return Err(
                "\"alias/\" needs a name; use \"alias/*\" to mean every key that has an alias"
                    .into(),
            );
        }
        if body.ends_with('/') {
            return Err(
                "alias names cannot end with '/'; to match everything under it, write \"alias/<prefix>/*\""
                    .into(),
            );
        }
    }
    Ok(())
}

/// Whether `s` is a UUID in canonical form: 8-4-4-4-12 lowercase hex digits.
pub(crate) fn is_canonical_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// Whether `a` is a well-formed alias as Strongroom stores them:
/// `alias/` then 1–250 of `[A-Za-z0-9/_-]`, no leading or trailing `/`, no
/// `//`. Aliases that are not well-formed never match any alias pattern.
pub(crate) fn is_valid_alias(a: &str) -> bool {
    let Some(name) = a.strip_prefix("alias/") else {
        return false;
    };
    !name.is_empty()
        && name.len() <= 250
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-')
}
