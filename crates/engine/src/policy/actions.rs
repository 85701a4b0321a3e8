//! The action vocabulary: AWS KMS action names plus Strongroom's own
//! `strongroom:` actions, each with a category and a scope (whether the
//! action acts on one key or on the service as a whole).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every action a policy statement may name (besides the wildcards `*`,
/// `kms:*` and `strongroom:*`). Kept in the same order as the internal
/// table that gives each action its category and scope.
pub const ACTIONS: &[&str] = &[
    // Key management (Admin)
    "kms:CreateKey",
    "kms:UpdateKeyDescription",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:UpdateAlias",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:RotateKeyOnDemand",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:EnableKeyVersion",
    "kms:DisableKeyVersion",
    "kms:SetMinDecryptionVersion",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:PutKeyPolicy",
    "kms:ImportKeyMaterial",
    "kms:GetParametersForImport",
    "kms:DeleteImportedKeyMaterial",
    // Inventory reads (Read)
    "kms:DescribeKey",
    "kms:ListKeys",
    "kms:ListAliases",
    "kms:GetKeyPolicy",
    // Uses of key material (Crypto)
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateRandom",
    "kms:Sign",
    "kms:Verify",
    "kms:GenerateMac",
    "kms:VerifyMac",
    "kms:GetPublicKey",
    "kms:Encapsulate",
    "kms:Decapsulate",
    "strongroom:ExportKey",
    "strongroom:DecryptCompromised",
    // Identities and access (Identity)
    "strongroom:CreateIdentity",
    "strongroom:ManageIdentities",
    "strongroom:CreateToken",
    "strongroom:RevokeToken",
    "strongroom:CreateAccessKey",
    "strongroom:RevokeAccessKey",
    "strongroom:BindCertificate",
    "strongroom:UnbindCertificate",
    "strongroom:ManagePolicies",
    // Audit (Read / System)
    "strongroom:ReadAudit",
    "strongroom:ConfigureAudit",
    // Dual control (Approval)
    "strongroom:ListApprovals",
    "strongroom:Approve",
    // Operator (System)
    "strongroom:Seal",
    // Lifecycle (Admin)
    "strongroom:CompromiseKey",
    // Lifecycle: reports, backups, dev clock
    "strongroom:ReadComplianceReport",
    // Scan reports (`strongroom scan --report`)
    "strongroom:ReportScan",
    "strongroom:ReadScans",
    "strongroom:Backup",
    "strongroom:DevClock",
    // Secrets (Secret)
    "strongroom:ReadSecret",
    "strongroom:ReadSecretMetadata",
    "strongroom:ListSecrets",
    "strongroom:WriteSecret",
    "strongroom:DeleteSecret",
    "strongroom:DestroySecret",
    "strongroom:RotateSecret",
];

/// What kind of thing an action does. Built-in roles are defined in terms of
/// categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    /// Key management: create, configure, change the state of, or delete keys.
    Admin,
    /// Uses key material (or produces secret/random bytes).
    Crypto,
    /// Read-only inventory and audit reads.
    Read,
    /// Identities, tokens, access keys, policies and role assignments.
    Identity,
    /// Dual-control approvals.
    Approval,
    /// Service-wide operations: audit configuration, sealing.
    System,
    /// Secrets: reading values and metadata, listing, writing, deleting,
    /// destroying and rotating them.
    Secret,
}

impl Category {
    /// All categories, in declaration order.
    pub const ALL: &'static [Category] = &[
        Category::Admin,
        Category::Crypto,
        Category::Read,
        Category::Identity,
        Category::Approval,
        Category::System,
        Category::Secret,
    ];

    /// The category's name as used in documentation and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Admin => "Admin",
            Category::Crypto => "Crypto",
            Category::Read => "Read",
            Category::Identity => "Identity",
            Category::Approval => "Approval",
            Category::System => "System",
            Category::Secret => "Secret",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an action acts on one key (and so can be granted per key) or on
/// the service as a whole (and so only matches the resource `"*"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// The request names a key; resource patterns are matched against it.
    Key,
    /// No key is involved; only the resource `"*"` matches.
    Global,
    /// The request names a secret path (or, for listing, a folder);
    /// `secret/…` patterns are matched against it.
    Secret,
}

/// Category and scope of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionInfo {
    /// The action name, e.g. `kms:Decrypt`.
    pub name: &'static str,
    /// What kind of action it is.
    pub category: Category,
    /// Whether it acts on a key.
    pub scope: Scope,
}

const fn info(name: &'static str, category: Category, scope: Scope) -> ActionInfo {
    ActionInfo {
        name,
        category,
        scope,
    }
}

use Category::{Admin, Approval, Crypto, Identity, Read, System};
use Scope::{Global, Key};

/// The table behind [`ACTIONS`], in the same order.
pub(crate) const ACTION_TABLE: &[ActionInfo] = &[
    info("kms:CreateKey", Admin, Global),
    info("kms:UpdateKeyDescription", Admin, Key),
    info("kms:TagResource", Admin, Key),
    info("kms:UntagResource", Admin, Key),
    info("kms:CreateAlias", Admin, Key),
    info("kms:DeleteAlias", Admin, Key),
    info("kms:UpdateAlias", Admin, Key),
    info("kms:EnableKey", Admin, Key),
    info("kms:DisableKey", Admin, Key),
    info("kms:RotateKeyOnDemand", Admin, Key),
    info("kms:EnableKeyRotation", Admin, Key),
    info("kms:DisableKeyRotation", Admin, Key),
    info("kms:EnableKeyVersion", Admin, Key),
    info("kms:DisableKeyVersion", Admin, Key),
    info("kms:SetMinDecryptionVersion", Admin, Key),
    info("kms:ScheduleKeyDeletion", Admin, Key),
    info("kms:CancelKeyDeletion", Admin, Key),
    info("kms:PutKeyPolicy", Admin, Key),
    info("kms:ImportKeyMaterial", Admin, Key),
    info("kms:GetParametersForImport", Admin, Key),
    info("kms:DeleteImportedKeyMaterial", Admin, Key),
    info("kms:DescribeKey", Read, Key),
    info("kms:ListKeys", Read, Global),
    info("kms:ListAliases", Read, Global),
    info("kms:GetKeyPolicy", Read, Key),
    info("kms:Encrypt", Crypto, Key),
    info("kms:Decrypt", Crypto, Key),
    info("kms:ReEncryptFrom", Crypto, Key),
    info("kms:ReEncryptTo", Crypto, Key),
    info("kms:GenerateDataKey", Crypto, Key),
    info("kms:GenerateDataKeyWithoutPlaintext", Crypto, Key),
    info("kms:GenerateDataKeyPair", Crypto, Key),
    info("kms:GenerateRandom", Crypto, Global),
    info("kms:Sign", Crypto, Key),
    info("kms:Verify", Crypto, Key),
    info("kms:GenerateMac", Crypto, Key),
    info("kms:VerifyMac", Crypto, Key),
    info("kms:GetPublicKey", Crypto, Key),
    info("kms:Encapsulate", Crypto, Key),
    info("kms:Decapsulate", Crypto, Key),
    info("strongroom:ExportKey", Crypto, Key),
    info("strongroom:DecryptCompromised", Crypto, Key),
    info("strongroom:CreateIdentity", Identity, Global),
    info("strongroom:ManageIdentities", Identity, Global),
    info("strongroom:CreateToken", Identity, Global),
    info("strongroom:RevokeToken", Identity, Global),
    info("strongroom:CreateAccessKey", Identity, Global),
    info("strongroom:RevokeAccessKey", Identity, Global),
    info("strongroom:BindCertificate", Identity, Global),
    info("strongroom:UnbindCertificate", Identity, Global),
    info("strongroom:ManagePolicies", Identity, Global),
    info("strongroom:ReadAudit", Read, Global),
    info("strongroom:ConfigureAudit", System, Global),
    info("strongroom:ListApprovals", Approval, Global),
    info("strongroom:Approve", Approval, Global),
    info("strongroom:Seal", System, Global),
    info("strongroom:CompromiseKey", Admin, Key),
    info("strongroom:ReadComplianceReport", Read, Global),
    info("strongroom:ReportScan", System, Global),
    info("strongroom:ReadScans", Read, Global),
    info("strongroom:Backup", System, Global),
    info("strongroom:DevClock", System, Global),
    info("strongroom:ReadSecret", Category::Secret, Scope::Secret),
    info(
        "strongroom:ReadSecretMetadata",
        Category::Secret,
        Scope::Secret,
    ),
    info("strongroom:ListSecrets", Category::Secret, Scope::Secret),
    info("strongroom:WriteSecret", Category::Secret, Scope::Secret),
    info("strongroom:DeleteSecret", Category::Secret, Scope::Secret),
    info("strongroom:DestroySecret", Category::Secret, Scope::Secret),
    info("strongroom:RotateSecret", Category::Secret, Scope::Secret),
];

/// Looks up an action by its exact (case-sensitive) name.
pub fn action_info(name: &str) -> Option<ActionInfo> {
    ACTION_TABLE.iter().copied().find(|a| a.name == name)
}

/// The category of an action, or `None` for an unknown name.
pub fn action_category(name: &str) -> Option<Category> {
    action_info(name).map(|a| a.category)
}

/// The names of all actions in a category, in [`ACTIONS`] order.
pub fn actions_in(category: Category) -> Vec<&'static str> {
    ACTION_TABLE
        .iter()
        .filter(|a| a.category == category)
        .map(|a| a.name)
        .collect()
}

/// The action wildcards a statement may use, and the namespace prefix each
/// one covers (`""` = every action).
pub(crate) const ACTION_WILDCARDS: &[(&str, &str)] = &[
    ("*", ""),
    ("kms:*", "kms:"),
    ("strongroom:*", "strongroom:"),
];

/// Whether a statement's action entry covers the (known) action `action`.
/// Exact, case-sensitive comparison; the three wildcards are the only
/// patterns.
pub(crate) fn action_matches(pattern: &str, action: &str) -> bool {
    if pattern == action {
        return true;
    }
    ACTION_WILDCARDS
        .iter()
        .any(|(w, prefix)| *w == pattern && action.starts_with(prefix))
}

/// The known action closest to `name` (edit distance, ignoring case), if it
/// is close enough to be a plausible typo.
pub(crate) fn closest_action(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(usize, &'static str)> = None;
    for candidate in ACTIONS {
        let full = candidate.to_ascii_lowercase();
        let mut d = edit_distance(&lower, &full);
        // "Decrypt" for "kms:Decrypt": the namespace was left out.
        if !lower.contains(':') {
            if let Some((_, bare)) = full.split_once(':') {
                d = d.min(edit_distance(&lower, bare));
            }
        }
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    match best {
        Some((d, c)) if d <= 3 || d * 4 <= c.len() => Some(c),
        _ => None,
    }
}

/// Levenshtein distance over chars.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(usize::MAX / 2) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX / 2) + 1;
            let ins = row.get(j).copied().unwrap_or(usize::MAX / 2) + 1;
            row.push(sub.min(del).min(ins));
        }
        prev = row;
    }
    prev.last().copied().unwrap_or(0)
}
