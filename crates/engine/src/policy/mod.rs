//! Access policy: the action vocabulary, policy documents and their
//! validation, evaluation (deny by default, explicit deny wins), the
//! built-in roles (separation of duties) and the dual-control state machine.
//!
//! Pure: no I/O, no clock, no storage. Depends only on std, serde and
//! serde_json. See docs/POLICY.md.

mod actions;
mod approval;
mod eval;
pub mod key_policy;
mod model;
mod roles;

pub use actions::{action_category, action_info, actions_in, ActionInfo, Category, Scope, ACTIONS};
pub use approval::{
    requires_approval, validate_dual_control_set, ApprovalRequest, ApprovalStatus,
    DEFAULT_DUAL_CONTROL,
};
pub use eval::{evaluate, Decision, KeyFacts, MatchedStatement, Request};
pub use model::{
    validate_resource, Condition, Effect, Policy, Statement, MAX_CONDITION_ENTRIES,
    MAX_DESCRIPTION_LEN, MAX_LIST_LEN, MAX_NAME_LEN, MAX_STATEMENTS, ROLE_POLICY_PREFIX,
};
pub use roles::{builtin_role, effective_policies, BUILTIN_ROLES};

use std::fmt;

/// Errors from policy validation, role lookup and dual control. Messages
/// say what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The policy (or dual-control set) does not follow the grammar.
    Invalid(String),
    /// The role is not a built-in role.
    UnknownRole(String),
    /// A dual-control step was refused.
    Approval(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Invalid(m) => write!(f, "invalid policy: {m}"),
            PolicyError::UnknownRole(r) => {
                write!(
                    f,
                    "unknown role {r:?}; the built-in roles are {}",
                    BUILTIN_ROLES.join(", ")
                )?;
                if let Some(c) = roles::closest_role(r) {
                    write!(f, " (did you mean {c:?}?)")?;
                }
                Ok(())
            }
            PolicyError::Approval(m) => write!(f, "dual control: {m}"),
        }
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod secret_tests;
