//! Dual control (m-of-n approval) as a pure state machine. Storage, ids,
//! clocks and role lookups belong to the caller.

use super::actions::{action_info, closest_action};
use super::PolicyError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The actions that need approval by default (a production server starts
/// with this set; dev mode starts with dual control off).
///
/// `kms:SetMinDecryptionVersion` needs approval only when it *lowers* the
/// minimum; the caller decides that and skips approval when raising it.
pub const DEFAULT_DUAL_CONTROL: &[&str] = &[
    "kms:ScheduleKeyDeletion",
    "kms:ImportKeyMaterial",
    "strongroom:ExportKey",
    "kms:SetMinDecryptionVersion",
    "strongroom:ManagePolicies",
    "strongroom:ConfigureAudit",
    "kms:PutKeyPolicy",
    "strongroom:DestroySecret",
];

/// Checks a configured dual-control set: every entry must be a known action
/// name (exact; no wildcards).
pub fn validate_dual_control_set(actions: &[String]) -> Result<(), PolicyError> {
    for a in actions {
        if action_info(a).is_none() {
            let hint = closest_action(a)
                .map(|c| format!(" (did you mean {c:?}?)"))
                .unwrap_or_default();
            return Err(PolicyError::Invalid(format!(
                "dual-control set: unknown action {a:?}{hint}; list exact action names, no wildcards"
            )));
        }
    }
    Ok(())
}

/// Whether `action` is in the dual-control set (exact comparison).
pub fn requires_approval(action: &str, set: &[String]) -> bool {
    set.iter().any(|a| a == action)
}

/// Where a pending request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApprovalStatus {
    /// Waiting for approvals.
    Pending,
    /// Quorum reached; the stored request may be executed once.
    Approved,
    /// An approver denied it; it will never execute.
    Denied,
    /// Its TTL passed before the quorum was reached.
    Expired,
    /// The stored request was executed.
    Executed,
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Executed => "executed",
        })
    }
}

/// A request for a dual-controlled action, waiting for its quorum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// Unguessable id, chosen by the caller.
    pub id: String,
    /// The action, e.g. `kms:ScheduleKeyDeletion`.
    pub action: String,
    /// The identity that asked for it.
    pub requester: String,
    /// The key it acts on, if any.
    pub key_id: Option<String>,
    /// The stored request to execute once approved.
    pub payload: serde_json::Value,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// The request expires at this time (ms since the Unix epoch).
    pub expires_ms: i64,
    /// Distinct approvals needed (m of m-of-n).
    pub required: u32,
    /// Identities that approved, in order.
    pub approvals: Vec<String>,
    /// Identities that denied.
    pub denials: Vec<String>,
    /// Current status.
    pub status: ApprovalStatus,
}

impl ApprovalRequest {
    /// A new pending request. `required` must be at least 1 and `ttl_ms`
    /// positive.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        action: String,
        requester: String,
        key_id: Option<String>,
        payload: serde_json::Value,
        now_ms: i64,
        ttl_ms: i64,
        required: u32,
    ) -> Result<ApprovalRequest, PolicyError> {
        let bad = |m: String| Err(PolicyError::Approval(m));
        if id.is_empty() {
            return bad("an approval request needs a non-empty id".into());
        }
        if requester.is_empty() {
            return bad("an approval request needs a requester identity".into());
        }
        if action_info(&action).is_none() {
            return bad(format!("unknown action {action:?}"));
        }
        if required == 0 {
            return bad("the quorum must be at least 1 approval".into());
        }
        if ttl_ms <= 0 {
            return bad("the approval TTL must be positive".into());
        }
        let Some(expires_ms) = now_ms.checked_add(ttl_ms) else {
            return bad("the approval TTL is too large".into());
        };
        Ok(ApprovalRequest {
            id,
            action,
            requester,
            key_id,
            payload,
            created_ms: now_ms,
            expires_ms,
            required,
            approvals: Vec::new(),
            denials: Vec::new(),
            status: ApprovalStatus::Pending,
        })
    }

    /// Moves a pending request whose TTL has passed (`now_ms >= expires_ms`)
    /// to Expired. Returns whether it did.
    pub fn expire_if_due(&mut self, now_ms: i64) -> bool {
        if self.status == ApprovalStatus::Pending && now_ms >= self.expires_ms {
            self.status = ApprovalStatus::Expired;
            return true;
        }
        false
    }

    /// Approvals still needed (0 once the quorum is met).
    pub fn remaining(&self) -> u32 {
        let have = u32::try_from(self.approvals.len()).unwrap_or(u32::MAX);
        self.required.saturating_sub(have)
    }

    /// The message for a caller whose request was parked for approval
    /// (e.g. the AWS front-end's AccessDeniedException).
    pub fn pending_message(&self) -> String {
        format!(
            "{} requires dual control: pending request {} needs {} more approval(s) from other identities with the approver role; approve it with `strongroom approval approve {}`",
            self.action,
            self.id,
            self.remaining(),
            self.id
        )
    }

    /// Common checks before an approver acts. May move the request to
    /// Expired.
    fn check_actionable(
        &mut self,
        who: &str,
        is_approver: bool,
        now_ms: i64,
        verb: &str,
    ) -> Result<(), PolicyError> {
        if self.status != ApprovalStatus::Pending {
            return Err(PolicyError::Approval(format!(
                "request {} is {}, not pending; it can no longer be {verb}",
                self.id, self.status
            )));
        }
        if self.expire_if_due(now_ms) {
            return Err(PolicyError::Approval(format!(
                "request {} has expired (its TTL passed before the quorum was reached); submit the operation again",
                self.id
            )));
        }
        if who.is_empty() {
            return Err(PolicyError::Approval(
                "the approver identity is empty".into(),
            ));
        }
        if !is_approver {
            return Err(PolicyError::Approval(format!(
                "identity {who:?} does not hold the approver role, so it cannot act on request {}",
                self.id
            )));
        }
        Ok(())
    }

    /// Records an approval by `approver` (the caller checks the approver
    /// role and passes `is_approver`). Refused: not pending; expired
    /// (`now_ms >= expires_ms`, which also moves the request to Expired);
    /// not an approver; the requester approving their own request; the same
    /// approver twice. Returns the new status: Approved once the approvals
    /// reach `required`, else Pending.
    pub fn approve(
        &mut self,
        approver: &str,
        is_approver: bool,
        now_ms: i64,
    ) -> Result<ApprovalStatus, PolicyError> {
        self.check_actionable(approver, is_approver, now_ms, "approved")?;
        if approver == self.requester {
            return Err(PolicyError::Approval(format!(
                "identity {approver:?} requested {} and cannot approve its own request; another approver must approve it",
                self.id
            )));
        }
        if self.approvals.iter().any(|a| a == approver) {
            return Err(PolicyError::Approval(format!(
                "identity {approver:?} has already approved request {}; it needs {} more approval(s) from other approvers",
                self.id,
                self.remaining()
            )));
        }
        self.approvals.push(approver.to_string());
        if self.remaining() == 0 {
            self.status = ApprovalStatus::Approved;
        }
        Ok(self.status)
    }

    /// Records a denial. One denial by an approver denies the request (the
    /// requester, if an approver, may deny its own request to withdraw it).
    /// Refused: not pending; expired; not an approver.
    pub fn deny(
        &mut self,
        approver: &str,
        is_approver: bool,
        now_ms: i64,
    ) -> Result<ApprovalStatus, PolicyError> {
        self.check_actionable(approver, is_approver, now_ms, "denied")?;
        self.denials.push(approver.to_string());
        self.status = ApprovalStatus::Denied;
        Ok(self.status)
    }

    /// Marks an approved request as executed, so it can never run twice.
    /// Only an Approved request can be executed.
    pub fn mark_executed(&mut self) -> Result<(), PolicyError> {
        if self.status != ApprovalStatus::Approved {
            return Err(PolicyError::Approval(format!(
                "request {} is {}; only an approved request can be executed",
                self.id, self.status
            )));
        }
        self.status = ApprovalStatus::Executed;
        Ok(())
    }
}
