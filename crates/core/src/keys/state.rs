//! The key state × operation table. This one table is what the engine
//! enforces, what `docs/STATE_TABLE.md` prints (a test keeps them equal), and
//! what the state tests walk cell by cell.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Key states. NIST SP 800-57 names in brackets:
/// Enabled (active), Disabled (suspended), PendingDeletion (suspended, with a
/// destruction date), Destroyed (destroyed: metadata and tombstone only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    Destroyed,
    /// Created with origin EXTERNAL (bring your own key) and waiting for its
    /// key material, or its imported material was deleted.
    PendingImport,
}

pub const ALL_STATES: [KeyState; 5] = [
    KeyState::Enabled,
    KeyState::Disabled,
    KeyState::PendingDeletion,
    KeyState::Destroyed,
    KeyState::PendingImport,
];

impl KeyState {
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::Destroyed => "Destroyed",
            KeyState::PendingImport => "PendingImport",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ALL_STATES.into_iter().find(|k| k.name() == s)
    }
}

/// Per-version state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionState {
    Enabled,
    Disabled,
    Destroyed,
    /// Declared compromised: never used to encrypt or sign again; decrypts
    /// only with an explicit, audited override.
    Compromised,
}

/// Every operation that touches an existing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Encrypt,
    Decrypt,
    GenerateDataKey,
    Sign,
    Verify,
    GenerateMac,
    VerifyMac,
    GetPublicKey,
    Describe,
    UpdateMetadata,
    ManageAliases,
    Rotate,
    Enable,
    Disable,
    EnableVersion,
    DisableVersion,
    SetMinDecryptionVersion,
    ScheduleDeletion,
    CancelDeletion,
    /// The deletion window ended: the material is destroyed (done by the server, not a caller).
    Destroy,
    /// Set or clear the automatic rotation period (AWS Enable/DisableKeyRotation).
    SetRotationPolicy,
    /// Get a wrapping key and import token (BYOK).
    GetParametersForImport,
    /// Import key material into an EXTERNAL key.
    ImportKeyMaterial,
    /// Delete the imported key material of an EXTERNAL key.
    DeleteImportedKeyMaterial,
    /// ML-KEM: a fresh shared secret and its ciphertext, under the public key.
    Encapsulate,
    /// ML-KEM: the shared secret of a ciphertext, with the private key.
    Decapsulate,
}

/// What the table says for one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Allowed,
    /// Refused with `KeyDisabled`.
    Disabled,
    /// Refused with `KeyPendingDeletion`.
    Pending,
    /// Refused with `KeyDestroyed`.
    Destroyed,
    /// Refused with `InvalidKeyState`.
    Invalid,
}

use Cell::{Allowed as A, Destroyed as X, Disabled as D, Invalid as I, Pending as P};

/// Rows: operation; columns: Enabled, Disabled, PendingDeletion, Destroyed,
/// PendingImport.
pub const TABLE: [(Operation, [Cell; 5]); 26] = [
    (Operation::Encrypt, [A, D, P, X, I]),
    (Operation::Decrypt, [A, D, P, X, I]),
    (Operation::GenerateDataKey, [A, D, P, X, I]),
    (Operation::Sign, [A, D, P, X, I]),
    (Operation::Verify, [A, D, P, X, I]),
    (Operation::GenerateMac, [A, D, P, X, I]),
    (Operation::VerifyMac, [A, D, P, X, I]),
    (Operation::GetPublicKey, [A, D, P, X, I]),
    (Operation::Describe, [A, A, A, A, A]),
    (Operation::UpdateMetadata, [A, A, P, X, A]),
    (Operation::ManageAliases, [A, A, P, X, A]),
    (Operation::Rotate, [A, D, P, X, I]),
    (Operation::Enable, [A, A, P, X, I]),
    (Operation::Disable, [A, A, P, X, I]),
    (Operation::EnableVersion, [A, A, P, X, I]),
    (Operation::DisableVersion, [A, A, P, X, I]),
    (Operation::SetMinDecryptionVersion, [A, A, P, X, I]),
    (Operation::ScheduleDeletion, [A, A, I, X, A]),
    (Operation::CancelDeletion, [I, I, A, X, I]),
    (Operation::Destroy, [I, I, A, X, I]),
    (Operation::SetRotationPolicy, [A, D, P, X, I]),
    (Operation::GetParametersForImport, [I, I, P, X, A]),
    (Operation::ImportKeyMaterial, [I, I, P, X, A]),
    (Operation::DeleteImportedKeyMaterial, [A, A, P, X, I]),
    (Operation::Encapsulate, [A, D, P, X, I]),
    (Operation::Decapsulate, [A, D, P, X, I]),
];

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Encrypt => "Encrypt",
            Operation::Decrypt => "Decrypt (and ReEncrypt source)",
            Operation::GenerateDataKey => "GenerateDataKey",
            Operation::Sign => "Sign",
            Operation::Verify => "Verify",
            Operation::GenerateMac => "GenerateMac",
            Operation::VerifyMac => "VerifyMac",
            Operation::GetPublicKey => "GetPublicKey",
            Operation::Describe => "Describe / List",
            Operation::UpdateMetadata => "UpdateMetadata",
            Operation::ManageAliases => "Create / delete alias",
            Operation::Rotate => "Rotate",
            Operation::Enable => "Enable",
            Operation::Disable => "Disable",
            Operation::EnableVersion => "EnableVersion",
            Operation::DisableVersion => "DisableVersion",
            Operation::SetMinDecryptionVersion => "SetMinDecryptionVersion",
            Operation::ScheduleDeletion => "ScheduleDeletion",
            Operation::CancelDeletion => "CancelDeletion",
            Operation::Destroy => "Destroy (end of deletion window)",
            Operation::SetRotationPolicy => "SetRotationPolicy",
            Operation::GetParametersForImport => "GetParametersForImport",
            Operation::ImportKeyMaterial => "ImportKeyMaterial",
            Operation::DeleteImportedKeyMaterial => "DeleteImportedKeyMaterial",
            Operation::Encapsulate => "Encapsulate",
            Operation::Decapsulate => "Decapsulate",
        }
    }
}

pub fn cell(state: KeyState, op: Operation) -> Cell {
    let col = match state {
        KeyState::Enabled => 0,
        KeyState::Disabled => 1,
        KeyState::PendingDeletion => 2,
        KeyState::Destroyed => 3,
        KeyState::PendingImport => 4,
    };
    TABLE
        .iter()
        .find(|(o, _)| *o == op)
        .map(|(_, cells)| cells[col])
        .unwrap_or(Cell::Invalid)
}

/// Enforces the table: `Ok` or the error the cell names.
pub fn check(state: KeyState, op: Operation, key_id: &str) -> Result<(), Error> {
    match cell(state, op) {
        Cell::Allowed => Ok(()),
        Cell::Disabled => Err(Error::KeyDisabled(key_id.to_string())),
        Cell::Pending => Err(Error::KeyPendingDeletion(key_id.to_string())),
        Cell::Destroyed => Err(Error::KeyDestroyed(key_id.to_string())),
        Cell::Invalid => Err(Error::InvalidKeyState(format!(
            "{} is not allowed while key {key_id} is {}",
            op.name(),
            state.name()
        ))),
    }
}

/// The table as Markdown, for `docs/STATE_TABLE.md`.
pub fn render_markdown() -> String {
    let mut s = String::from(
        "| operation | Enabled | Disabled | PendingDeletion | Destroyed | PendingImport |\n|---|---|---|---|---|---|\n",
    );
    for (op, cells) in TABLE {
        s.push_str("| ");
        s.push_str(op.name());
        for c in cells {
            s.push_str(" | ");
            s.push_str(match c {
                Cell::Allowed => "allowed",
                Cell::Disabled => "KeyDisabled",
                Cell::Pending => "KeyPendingDeletion",
                Cell::Destroyed => "KeyDestroyed",
                Cell::Invalid => "InvalidKeyState",
            });
        }
        s.push_str(" |\n");
    }
    s
}

/// Date-derived phases (NIST SP 800-57), evaluated against the injected
/// clock on every request, in memory. They narrow the table above: an
/// operation runs only if the key's stored state allows it **and** the
/// phase does. A key with neither date, or between them, is `Active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Before `activation_date`: usable for nothing.
    PreActivation,
    Active,
    /// At or after `expiry_date`: decrypt and verify only.
    Deactivated,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::PreActivation => "PreActivation",
            Phase::Active => "Active",
            Phase::Deactivated => "Deactivated",
        }
    }

    /// The phase of a key with these dates at `now`.
    pub fn at(
        activation: Option<crate::clock::Timestamp>,
        expiry: Option<crate::clock::Timestamp>,
        now: crate::clock::Timestamp,
    ) -> Phase {
        if expiry.is_some_and(|x| now >= x) {
            Phase::Deactivated
        } else if activation.is_some_and(|a| now < a) {
            Phase::PreActivation
        } else {
            Phase::Active
        }
    }
}

/// Rows: operation; columns: PreActivation, Deactivated (`true` = allowed).
/// Operations not listed (metadata and lifecycle management) are allowed in
/// every phase, so dates can always be corrected.
pub const PHASE_TABLE: [(Operation, [bool; 2]); 10] = [
    (Operation::Encrypt, [false, false]),
    (Operation::Decrypt, [false, true]),
    (Operation::GenerateDataKey, [false, false]),
    (Operation::Sign, [false, false]),
    (Operation::Verify, [false, true]),
    (Operation::GenerateMac, [false, false]),
    (Operation::VerifyMac, [false, true]),
    (Operation::GetPublicKey, [false, true]),
    (Operation::Encapsulate, [false, false]),
    (Operation::Decapsulate, [false, true]),
];

/// Whether `op` is allowed in `phase`.
pub fn phase_allows(phase: Phase, op: Operation) -> bool {
    let col = match phase {
        Phase::Active => return true,
        Phase::PreActivation => 0,
        Phase::Deactivated => 1,
    };
    PHASE_TABLE
        .iter()
        .find(|(o, _)| *o == op)
        .is_none_or(|(_, cells)| cells[col])
}

/// Enforces the phase table: `Ok`, `KeyNotYetActive` or `KeyExpired`.
pub fn check_phase(
    key_id: &str,
    activation: Option<crate::clock::Timestamp>,
    expiry: Option<crate::clock::Timestamp>,
    now: crate::clock::Timestamp,
    op: Operation,
) -> Result<(), Error> {
    let phase = Phase::at(activation, expiry, now);
    if phase_allows(phase, op) {
        return Ok(());
    }
    match phase {
        Phase::PreActivation => Err(Error::KeyNotYetActive {
            key_id: key_id.to_string(),
            activation: activation.unwrap_or_default(),
        }),
        _ => Err(Error::KeyExpired {
            key_id: key_id.to_string(),
            expiry: expiry.unwrap_or_default(),
        }),
    }
}

/// The phase table as Markdown, for `docs/STATE_TABLE.md`.
pub fn render_phase_markdown() -> String {
    let mut s = String::from("| operation | PreActivation | Deactivated |\n|---|---|---|\n");
    for (op, cells) in PHASE_TABLE {
        s.push_str("| ");
        s.push_str(op.name());
        s.push_str(if cells[0] {
            " | allowed"
        } else {
            " | KeyNotYetActive"
        });
        s.push_str(if cells[1] {
            " | allowed"
        } else {
            " | KeyExpired"
        });
        s.push_str(" |\n");
    }
    s.push_str("| every other operation | allowed | allowed |\n");
    s
}

#[cfg(test)]
mod phase_tests {
    use super::*;

    #[test]
    fn docs_print_the_phase_table_used_by_the_code() {
        let doc = include_str!("../../../../docs/STATE_TABLE.md");
        assert!(
            doc.contains(&render_phase_markdown()),
            "docs/STATE_TABLE.md is out of date; paste:\n{}",
            render_phase_markdown()
        );
    }

    #[test]
    fn phases_follow_the_dates() {
        assert_eq!(Phase::at(None, None, 5), Phase::Active);
        assert_eq!(Phase::at(Some(10), None, 5), Phase::PreActivation);
        assert_eq!(Phase::at(Some(10), None, 10), Phase::Active);
        assert_eq!(Phase::at(Some(10), Some(20), 19), Phase::Active);
        assert_eq!(Phase::at(Some(10), Some(20), 20), Phase::Deactivated);
        assert_eq!(Phase::at(None, Some(20), 30), Phase::Deactivated);
    }

    #[test]
    fn check_phase_names_the_dates() {
        let e = check_phase("k", Some(10), None, 5, Operation::Decrypt)
            .err()
            .map(|e| e.code());
        assert_eq!(e, Some("KeyNotYetActive"));
        let e = check_phase("k", None, Some(20), 25, Operation::Encrypt)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("1970-01-01T00:00:20Z"), "{e}");
        assert!(check_phase("k", None, Some(20), 25, Operation::Decrypt).is_ok());
        assert!(check_phase("k", Some(10), Some(20), 5, Operation::UpdateMetadata).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_print_the_table_used_by_the_code() {
        let doc = include_str!("../../../../docs/STATE_TABLE.md");
        assert!(
            doc.contains(&render_markdown()),
            "docs/STATE_TABLE.md is out of date; paste:\n{}",
            render_markdown()
        );
    }

    #[test]
    fn every_operation_has_exactly_one_row() {
        for (i, (op, _)) in TABLE.iter().enumerate() {
            assert_eq!(TABLE.iter().filter(|(o, _)| o == op).count(), 1, "row {i}");
        }
    }

    #[test]
    fn check_maps_cells_to_errors() {
        assert!(check(KeyState::Enabled, Operation::Encrypt, "k").is_ok());
        assert_eq!(
            check(KeyState::Disabled, Operation::Encrypt, "k")
                .err()
                .map(|e| e.code()),
            Some("KeyDisabled")
        );
        assert_eq!(
            check(KeyState::PendingDeletion, Operation::Sign, "k")
                .err()
                .map(|e| e.code()),
            Some("KeyPendingDeletion")
        );
        assert_eq!(
            check(KeyState::Destroyed, Operation::Decrypt, "k")
                .err()
                .map(|e| e.code()),
            Some("KeyDestroyed")
        );
        assert_eq!(
            check(KeyState::Enabled, Operation::CancelDeletion, "k")
                .err()
                .map(|e| e.code()),
            Some("InvalidKeyState")
        );
        assert!(check(KeyState::Destroyed, Operation::Describe, "k").is_ok());
    }
}
