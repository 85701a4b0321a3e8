//! Built-in roles (separation of duties), expressed as ordinary policies.

use super::actions::{actions_in, edit_distance, Category};
use super::model::{Effect, Policy, Statement, ROLE_POLICY_PREFIX};
use super::PolicyError;

/// The built-in roles.
pub const BUILTIN_ROLES: &[&str] = &["key-admin", "key-user", "auditor", "approver", "root"];

fn statement(effect: Effect, actions: Vec<&str>) -> Statement {
    Statement {
        effect,
        actions: actions.into_iter().map(String::from).collect(),
        resources: vec!["*".to_string()],
        condition: None,
    }
}

/// The policy of a built-in role, named `role:<name>`, or `None` if `name`
/// is not a built-in role.
///
/// - `key-admin`: allows every Admin action and the `kms:` Read actions;
///   denies every Crypto action.
/// - `key-user`: allows `kms:DescribeKey`, `kms:ListKeys`,
///   `kms:ListAliases`; denies every Admin action. Crypto rights come only
///   from attached policies that name keys.
/// - `auditor`: allows `kms:DescribeKey`, `kms:ListKeys`, `kms:ListAliases`,
///   `kms:GetKeyPolicy`, `strongroom:ReadAudit`, `strongroom:ReadScans`, `strongroom:ListApprovals`,
///   `strongroom:ReadSecretMetadata`, `strongroom:ListSecrets`; denies every
///   Crypto and Admin action and every other Secret action (never a value).
/// - `approver`: allows `strongroom:ListApprovals`, `strongroom:Approve`,
///   `kms:DescribeKey`, `kms:ListKeys`.
/// - `root`: allows everything (break-glass).
///
/// All statements use the resource `"*"`.
pub fn builtin_role(name: &str) -> Option<Policy> {
    let (description, statements) = match name {
        "key-admin" => {
            let mut allow = actions_in(Category::Admin);
            allow.extend(
                actions_in(Category::Read)
                    .into_iter()
                    .filter(|a| a.starts_with("kms:")),
            );
            (
                "Key administrator: manages keys; can never use them (every Crypto action is denied)",
                vec![
                    statement(Effect::Allow, allow),
                    statement(Effect::Deny, actions_in(Category::Crypto)),
                ],
            )
        }
        "key-user" => (
            "Key user: may list and describe keys; cryptographic use only on keys its attached policies grant; every Admin action is denied",
            vec![
                statement(
                    Effect::Allow,
                    vec!["kms:DescribeKey", "kms:ListKeys", "kms:ListAliases"],
                ),
                statement(Effect::Deny, actions_in(Category::Admin)),
            ],
        ),
        "auditor" => {
            let mut deny = actions_in(Category::Crypto);
            deny.extend(actions_in(Category::Admin));
            // Secret metadata, never values, and no changes to secrets.
            deny.extend(
                actions_in(Category::Secret)
                    .into_iter()
                    .filter(|a| !matches!(*a, "strongroom:ReadSecretMetadata" | "strongroom:ListSecrets")),
            );
            (
                "Auditor: read-only inventory and audit; every Crypto and Admin action is denied",
                vec![
                    statement(
                        Effect::Allow,
                        vec![
                            "kms:DescribeKey",
                            "kms:ListKeys",
                            "kms:ListAliases",
                            "kms:GetKeyPolicy",
                            "strongroom:ReadAudit",
                            "strongroom:ReadScans",
                            "strongroom:ListApprovals",
                            "strongroom:ReadSecretMetadata",
                            "strongroom:ListSecrets",
                        ],
                    ),
                    statement(Effect::Deny, deny),
                ],
            )
        }
        "approver" => (
            "Approver / security officer: may list and decide dual-control requests",
            vec![statement(
                Effect::Allow,
                vec![
                    "strongroom:ListApprovals",
                    "strongroom:Approve",
                    "kms:DescribeKey",
                    "kms:ListKeys",
                ],
            )],
        ),
        "root" => (
            "Break-glass root: allows everything; every use is flagged in the audit log",
            vec![statement(Effect::Allow, vec!["*"])],
        ),
        _ => return None,
    };
    Some(Policy {
        name: format!("{ROLE_POLICY_PREFIX}{name}"),
        description: description.to_string(),
        statements,
    })
}

/// The policies that apply to an identity: the policies of its roles (each
/// role once, in the order given) followed by its attached policies. Every
/// attached policy is validated; an unknown role or an invalid attached
/// policy is an error, so a broken identity is refused rather than
/// evaluated with part of its policies.
pub fn effective_policies(
    roles: &[String],
    attached: &[Policy],
) -> Result<Vec<Policy>, PolicyError> {
    let mut out = Vec::with_capacity(roles.len() + attached.len());
    let mut seen: Vec<&str> = Vec::new();
    for role in roles {
        if seen.contains(&role.as_str()) {
            continue;
        }
        let policy = builtin_role(role).ok_or_else(|| PolicyError::UnknownRole(role.clone()))?;
        seen.push(role);
        out.push(policy);
    }
    for p in attached {
        p.validate()?;
        out.push(p.clone());
    }
    Ok(out)
}

/// The built-in role closest to `name`, for "did you mean" hints.
pub(crate) fn closest_role(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    BUILTIN_ROLES
        .iter()
        .copied()
        .map(|r| (edit_distance(&lower, r), r))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, _)| *d <= 3)
        .map(|(_, r)| r)
}
