//! Dual-controlled changes as typed commands. A front-end that asks for one
//! of these builds a [`Command`] and calls [`Service::submit`]: the gate
//! either runs it at once (root, or dual control off for its action) or
//! stores it in an approval request. When the request reaches its quorum,
//! [`Service::execute_approved`] runs the stored command as its requester.
//! No front-end replays another front-end's requests: the command is the
//! service's, whichever door it came in by.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::gate::{Caller, Done, Guarded, Kind};
use crate::identity::IdentityKind;
use crate::keys::model::KeyMeta;
use crate::node::Services;
use crate::policy::key_policy;
use crate::policy::{ApprovalRequest, Policy};
use crate::Service;

/// `POST /v1/identities` (and the command that replays it).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentity {
    pub name: String,
    #[serde(default = "human")]
    pub kind: IdentityKind,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub policies: Vec<String>,
}

fn human() -> IdentityKind {
    IdentityKind::Human
}

/// `POST /v1/identity/grants` (and the command that replays it).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetGrants {
    pub name: String,
    pub roles: Option<Vec<String>>,
    pub policies: Option<Vec<String>>,
}

/// A change that may need approvals, as the service stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    ScheduleKeyDeletion {
        key: String,
        pending_window_days: Option<i64>,
    },
    SetMinDecryptionVersion {
        key: String,
        version: u32,
    },
    /// An identity created with roles or policies (a role change).
    CreateIdentity(CreateIdentity),
    SetGrants(SetGrants),
    PutPolicy(Policy),
    DeletePolicy {
        name: String,
    },
    /// A key policy document (AWS grammar), for the key id it names.
    PutKeyPolicy {
        key: String,
        policy: String,
    },
    /// BYOK material, wrapped under the import token's public key (base64).
    ImportKeyMaterial {
        key: String,
        import_token: String,
        encrypted_key_material: String,
    },
    /// Destroy secret versions (empty: the current one).
    DestroySecretVersions {
        path: String,
        versions: Vec<u32>,
    },
    /// Delete a whole secret: metadata and every version.
    DeleteSecret {
        path: String,
    },
}

/// What a command produced.
#[derive(Debug)]
pub enum CommandOutput {
    /// The key after the change.
    Key(Box<KeyMeta>),
    /// Anything else, as the native API shows it.
    Value(Value),
}

impl CommandOutput {
    pub fn into_json(self) -> Value {
        match self {
            CommandOutput::Key(m) => json!(*m),
            CommandOutput::Value(v) => v,
        }
    }
}

impl Command {
    /// The policy action it is authorized, dual-controlled and audited as.
    pub fn action(&self) -> &'static str {
        match self {
            Command::ScheduleKeyDeletion { .. } => "kms:ScheduleKeyDeletion",
            Command::SetMinDecryptionVersion { .. } => "kms:SetMinDecryptionVersion",
            Command::CreateIdentity(_)
            | Command::SetGrants(_)
            | Command::PutPolicy(_)
            | Command::DeletePolicy { .. } => "strongroom:ManagePolicies",
            Command::PutKeyPolicy { .. } => "kms:PutKeyPolicy",
            Command::ImportKeyMaterial { .. } => "kms:ImportKeyMaterial",
            Command::DestroySecretVersions { .. } | Command::DeleteSecret { .. } => {
                "strongroom:DestroySecret"
            }
        }
    }

    /// The secret path it acts on, if it acts on a secret.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Command::DestroySecretVersions { path, .. } | Command::DeleteSecret { path } => {
                Some(path)
            }
            _ => None,
        }
    }

    /// The key it acts on, as the caller named it.
    pub fn key(&self) -> Option<&str> {
        match self {
            Command::ScheduleKeyDeletion { key, .. }
            | Command::SetMinDecryptionVersion { key, .. }
            | Command::PutKeyPolicy { key, .. }
            | Command::ImportKeyMaterial { key, .. } => Some(key),
            Command::CreateIdentity(_)
            | Command::SetGrants(_)
            | Command::PutPolicy(_)
            | Command::DeletePolicy { .. }
            | Command::DestroySecretVersions { .. }
            | Command::DeleteSecret { .. } => None,
        }
    }

    /// Performs the change (after the gate has authorized it).
    fn execute(self, s: &Services, arn: &crate::naming::ArnConfig) -> Result<Done<CommandOutput>> {
        let key = |m: KeyMeta| {
            let (id, v) = (m.id.clone(), m.primary_version);
            Done::new(CommandOutput::Key(Box::new(m))).key(id, Some(v))
        };
        Ok(match self {
            Command::ScheduleKeyDeletion {
                key: k,
                pending_window_days,
            } => key(s.engine.schedule_deletion(&k, pending_window_days)?),
            Command::SetMinDecryptionVersion { key: k, version } => {
                key(s.engine.set_min_decryption_version(&k, version)?)
            }
            Command::CreateIdentity(r) => {
                let i = s
                    .registry
                    .create_identity(&r.name, r.kind, r.roles, r.policies)?;
                Done::new(CommandOutput::Value(json!(i)))
            }
            Command::SetGrants(r) => {
                let i = s.registry.update_identity(&r.name, |i| {
                    if let Some(roles) = r.roles {
                        i.roles = roles;
                    }
                    if let Some(p) = r.policies {
                        i.policies = p;
                    }
                })?;
                Done::new(CommandOutput::Value(json!(i)))
            }
            Command::PutPolicy(p) => {
                Done::new(CommandOutput::Value(json!(s.registry.put_policy(p)?)))
            }
            Command::DeletePolicy { name } => {
                s.registry.delete_policy(&name)?;
                Done::new(CommandOutput::Value(json!({ "deleted": name })))
            }
            Command::PutKeyPolicy { key: k, policy } => {
                let grants = parse_key_policy(arn, &k, &policy)?;
                s.registry.set_key_policy(&k, grants)?;
                Done::new(CommandOutput::Value(json!({}))).key(k, None)
            }
            Command::ImportKeyMaterial {
                key: k,
                import_token,
                encrypted_key_material,
            } => {
                let token = STANDARD.decode(import_token).map_err(|_| {
                    Error::InvalidArgument("import_token is not valid base64".into())
                })?;
                let wrapped = STANDARD.decode(encrypted_key_material).map_err(|_| {
                    Error::InvalidArgument("encrypted_key_material is not valid base64".into())
                })?;
                key(s.engine.import_key_material(&k, &token, &wrapped)?)
            }
            Command::DestroySecretVersions { path, versions } => {
                let done = s.secrets.destroy_versions(&path, &versions)?;
                Done::new(CommandOutput::Value(
                    json!({ "path": path, "versions": done }),
                ))
                .key(format!("secret/{path}"), None)
            }
            Command::DeleteSecret { path } => {
                let n = s.secrets.delete_all(&path)?;
                Done::new(CommandOutput::Value(
                    json!({ "path": path, "versions_removed": n }),
                ))
                .key(format!("secret/{path}"), None)
            }
        })
    }
}

/// Parses a key policy document for `key_id` in this server's ARN scope.
pub fn parse_key_policy(
    arn: &crate::naming::ArnConfig,
    key_id: &str,
    doc: &str,
) -> Result<Vec<crate::policy::key_policy::Grant>> {
    let key_arn = arn.key_arn(key_id);
    key_policy::parse(
        doc,
        &key_policy::Scope {
            key_id,
            key_arn: &key_arn,
            account_id: &arn.account_id,
        },
    )
    .map_err(|m| {
        Error::InvalidArgument(format!(
            "the key policy is not supported: {m}; see docs/AWS.md (Key policies)"
        ))
    })
}

impl Service {
    /// Runs `cmd` through the gate as `caller`: authorized, audited, and
    /// under dual control when its action is (then the answer is
    /// `ApprovalRequired` with the stored request's id).
    pub async fn submit(&self, caller: &Caller, cmd: Command) -> Result<CommandOutput> {
        self.submit_inner(caller, cmd, true).await
    }

    /// As [`Service::submit`], but the change is not dual-controlled (a
    /// command that only sometimes is, such as raising a minimum decryption
    /// version, which only lowering is).
    pub async fn submit_direct(&self, caller: &Caller, cmd: Command) -> Result<CommandOutput> {
        self.submit_inner(caller, cmd, false).await
    }

    async fn submit_inner(
        &self,
        caller: &Caller,
        cmd: Command,
        dual: bool,
    ) -> Result<CommandOutput> {
        let key = cmd.key().map(str::to_string);
        let g = Guarded {
            action: cmd.action(),
            key: key.as_deref(),
            context: None,
            kind: Kind::Change,
            command: if dual { Some(&cmd) } else { None },
        };
        let arn = self.arn.clone();
        let run = cmd.clone();
        let secret = cmd.secret().map(str::to_string);
        self.run_inner(caller, g, secret.as_deref(), move |s, _| {
            run.execute(s, &arn)
        })
        .await
    }

    /// Runs the command of an approved request, as its requester (with the
    /// requester's permissions as they are now), without dual control.
    pub async fn execute_approved(
        &self,
        caller: &Caller,
        req: &ApprovalRequest,
    ) -> Result<CommandOutput> {
        let cmd: Command = serde_json::from_value(req.payload.clone()).map_err(|e| {
            Error::InvalidArgument(format!(
                "approval {} holds a request this version cannot run ({e}); it was made by an older version: create the request again",
                req.id
            ))
        })?;
        if cmd.action() != req.action {
            return Err(Error::Internal(format!(
                "approval {} is for {} but holds a {} command",
                req.id,
                req.action,
                cmd.action()
            )));
        }
        self.submit_direct(caller, cmd).await
    }
}

/// What deciding an approval request did.
pub struct ApprovalDecision {
    /// The request after the decision.
    pub approval: ApprovalRequest,
    /// The stored command's result when this decision reached the quorum.
    pub executed: Option<CommandOutput>,
}

impl Service {
    /// Approves (or denies) approval request `id` as `caller`, through the
    /// gate (`strongroom:Approve`); at quorum runs the stored command as
    /// its requester, with the requester's permissions as they are now. The
    /// requester cannot decide their own request (the refusal says so).
    pub async fn decide_approval(
        &self,
        caller: &Caller,
        id: String,
        approve: bool,
    ) -> Result<ApprovalDecision> {
        use crate::policy::ApprovalStatus;
        let approver = caller.principal.id.clone();
        let is_approver = caller.principal.roles.iter().any(|r| r == "approver");
        let now = self.now_ms();
        let g = Guarded {
            action: "strongroom:Approve",
            key: None,
            context: None,
            kind: Kind::Change,
            command: None,
        };
        // Decide and, at quorum, claim the single execution in one locked
        // step: the request is stored as Executed before it runs, so
        // concurrent final approvals cannot both execute it.
        let (approval, runs) = self
            .run(caller, g, move |s| {
                let (req, runs) = s.registry.update_approval(&id, |req| {
                    let outcome = if approve {
                        req.approve(&approver, is_approver, now)
                    } else {
                        req.deny(&approver, is_approver, now)
                    };
                    outcome.map_err(|e| Error::AccessDenied(e.to_string()))?;
                    if req.status == ApprovalStatus::Approved {
                        req.mark_executed()
                            .map_err(|e| Error::InvalidKeyState(e.to_string()))?;
                        return Ok(true);
                    }
                    Ok(false)
                })?;
                Ok(Done::new((req, runs)).key(id, None))
            })
            .await?;
        if !runs {
            return Ok(ApprovalDecision {
                approval,
                executed: None,
            });
        }
        let requester = self
            .seal
            .services()?
            .registry
            .principal(&approval.requester)
            .map_err(|_| {
                Error::AccessDenied(format!(
                    "the requester {} is disabled; the request cannot run",
                    approval.requester
                ))
            })?;
        let exec_caller = Caller {
            principal: requester,
            source: caller.source.clone(),
            request_id: caller.request_id.clone(),
            // The requester acts now; how the approver came is in the approve call's own audit record.
            certificate: None,
        };
        let output = self.execute_approved(&exec_caller, &approval).await?;
        Ok(ApprovalDecision {
            approval,
            executed: Some(output),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_through_their_stored_form() {
        let cmds = vec![
            Command::ScheduleKeyDeletion {
                key: "alias/a".into(),
                pending_window_days: Some(7),
            },
            Command::SetMinDecryptionVersion {
                key: "k".into(),
                version: 2,
            },
            Command::DeletePolicy { name: "p".into() },
            Command::PutKeyPolicy {
                key: "k".into(),
                policy: "{}".into(),
            },
        ];
        for c in cmds {
            let v = serde_json::to_value(&c).expect("serialize");
            assert!(v["command"].is_string(), "{v}");
            let back: Command = serde_json::from_value(v).expect("deserialize");
            assert_eq!(back.action(), c.action());
            assert_eq!(back.key(), c.key());
        }
    }

    #[test]
    fn a_payload_from_an_older_version_is_refused_clearly() {
        // The pre-command payload shape of a scheduled deletion.
        let old = json!({ "key": "k", "pending_window_days": 7 });
        assert!(serde_json::from_value::<Command>(old).is_err());
    }
}
