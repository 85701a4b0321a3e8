//! Policy evaluation: deny by default, an explicit Deny wins.

use super::actions::{action_info, action_matches, closest_action, Scope};
use super::model::{is_canonical_uuid, is_valid_alias, validate_resource, Effect, Policy};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the evaluator knows about the key a request acts on.
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts<'a> {
    /// The key id: the canonical lowercase hyphenated UUID, without `key/`.
    pub id: &'a str,
    /// The key's aliases, each in full form (`alias/name`).
    pub aliases: &'a [String],
    /// The key's tags.
    pub tags: &'a BTreeMap<String, String>,
}

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The action, e.g. `kms:Decrypt` (exact, case-sensitive).
    pub action: &'a str,
    /// The key the request acts on, if any. Ignored for actions that do not
    /// act on a key.
    pub key: Option<KeyFacts<'a>>,
    /// The request's encryption context, if it has one (`None` is treated
    /// as an empty context).
    pub context: Option<&'a BTreeMap<String, String>>,
    /// The secret path the request acts on (for `strongroom:ListSecrets`,
    /// the folder: `""` or a path ending in `/`). Only secret actions look
    /// at it.
    pub secret: Option<&'a str>,
}

/// A statement that matched the request (action, resource and condition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedStatement {
    /// The policy's name.
    pub policy: String,
    /// The statement's index in the policy (from 0).
    pub statement: usize,
    /// The statement's effect.
    pub effect: Effect,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// A sentence saying why (for `strongroom policy explain` and for
    /// AccessDenied messages). Names policies, statements, actions, key ids
    /// and encryption-context keys, never context values.
    pub reason: String,
    /// Every statement that fully matched, in policy then statement order.
    pub matched: Vec<MatchedStatement>,
}

/// Decides a request against a set of policies (the caller's built-in role
/// policies plus attached policies, see
/// [`effective_policies`](super::effective_policies)).
///
/// 1. An unknown action is denied.
/// 2. A statement matches when one of its actions covers the action, one of
///    its resources matches (only `"*"` for actions that do not act on a
///    key), and its condition, if any, holds.
/// 3. If any matching statement is a Deny, the request is denied (explicit
///    deny wins). Otherwise, if any matching statement is an Allow, it is
///    allowed. Otherwise it is denied (deny by default).
pub fn evaluate(policies: &[&Policy], req: &Request<'_>) -> Decision {
    let Some(info) = action_info(req.action) else {
        let hint = closest_action(req.action)
            .map(|c| format!(" (did you mean {c:?}?)"))
            .unwrap_or_default();
        return Decision {
            allowed: false,
            reason: format!("unknown action {:?}{hint}: denied", req.action),
            matched: Vec::new(),
        };
    };
    let key = match info.scope {
        Scope::Key => req.key.as_ref(),
        Scope::Global | Scope::Secret => None,
    };
    let secret = match info.scope {
        Scope::Secret => req.secret,
        Scope::Key | Scope::Global => None,
    };
    let empty = BTreeMap::new();
    let context = req.context.unwrap_or(&empty);

    let mut matched = Vec::new();
    let mut condition_misses: Vec<String> = Vec::new();
    for policy in policies {
        for (index, st) in policy.statements.iter().enumerate() {
            if !st.actions.iter().any(|a| action_matches(a, req.action)) {
                continue;
            }
            let hit = |r: &String| match info.scope {
                Scope::Secret => secret_resource_matches(r, secret),
                Scope::Key | Scope::Global => resource_matches(r, key),
            };
            if !st.resources.iter().any(hit) {
                continue;
            }
            if let Some(cond) = &st.condition {
                if let Err(why) = cond.check(context) {
                    if st.effect == Effect::Allow {
                        condition_misses.push(format!(
                            "policy '{}' statement {index} matches the action and key but its condition failed: {why}",
                            policy.name
                        ));
                    }
                    continue;
                }
            }
            matched.push(MatchedStatement {
                policy: policy.name.clone(),
                statement: index,
                effect: st.effect,
            });
        }
    }

    let first = |e: Effect| matched.iter().find(|m| m.effect == e);
    let target = match (info.scope, key) {
        (Scope::Key, Some(k)) => format!("{} on key {}", req.action, k.id),
        (Scope::Key, None) => format!("{} (the request names no key)", req.action),
        (Scope::Global, _) => req.action.to_string(),
        (Scope::Secret, _) => match secret {
            Some(p) => format!("{} on secret/{p}", req.action),
            None => format!("{} (the request names no secret)", req.action),
        },
    };
    let (allowed, reason) = if let Some(d) = first(Effect::Deny) {
        let mut reason = format!(
            "denied by policy '{}' statement {} (explicit deny wins)",
            d.policy, d.statement
        );
        if let Some(a) = first(Effect::Allow) {
            reason = format!(
                "{reason}; it overrides the allow in policy '{}' statement {}",
                a.policy, a.statement
            );
        }
        (false, reason)
    } else if let Some(a) = first(Effect::Allow) {
        (
            true,
            format!("allowed by policy '{}' statement {}", a.policy, a.statement),
        )
    } else {
        let mut reason = format!("no policy grants {target} (deny by default)");
        for miss in &condition_misses {
            reason.push_str("; ");
            reason.push_str(miss);
        }
        (false, reason)
    };
    Decision {
        allowed,
        reason,
        matched,
    }
}

/// Whether one resource pattern matches the key (`None`: the request has no
/// key, or the action does not act on one). Literal, byte-exact,
/// case-sensitive; a pattern outside the grammar matches nothing.
pub(crate) fn resource_matches(pattern: &str, key: Option<&KeyFacts<'_>>) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some(key) = key else {
        return false;
    };
    if validate_resource(pattern).is_err() {
        return false;
    }
    if let Some(id) = pattern.strip_prefix("key/") {
        return is_canonical_uuid(id) && key.id == id;
    }
    if pattern.starts_with("alias/") {
        return match pattern.strip_suffix('*') {
            Some(prefix) => key
                .aliases
                .iter()
                .any(|a| is_valid_alias(a) && a.starts_with(prefix)),
            None => key
                .aliases
                .iter()
                .any(|a| is_valid_alias(a) && a == pattern),
        };
    }
    if let Some(rest) = pattern.strip_prefix("tag/") {
        return match rest.split_once('=') {
            Some((k, v)) if !k.is_empty() => key.tags.get(k).is_some_and(|actual| actual == v),
            _ => false,
        };
    }
    false
}

/// Whether one resource pattern matches a secret path (or a folder, for
/// listing). `"*"` and `secret/*` match every secret; `secret/<path>`
/// matches exactly that path; `secret/<path>/*` matches every path under
/// `<path>/` (and listing that folder). Byte-exact and case-sensitive; a
/// pattern outside the grammar, or a target outside the path grammar,
/// matches nothing.
pub(crate) fn secret_resource_matches(pattern: &str, target: Option<&str>) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some(target) = target else {
        return false;
    };
    if validate_resource(pattern).is_err() {
        return false;
    }
    let target_ok = match target.strip_suffix('/') {
        Some(p) => crate::secrets::path::validate_path(p).is_ok(),
        None => target.is_empty() || crate::secrets::path::validate_path(target).is_ok(),
    };
    if !target_ok {
        return false;
    }
    let Some(rest) = pattern.strip_prefix("secret/") else {
        return false;
    };
    match rest.strip_suffix('*') {
        Some(prefix) => target.starts_with(prefix),
        None => target == rest,
    }
}
