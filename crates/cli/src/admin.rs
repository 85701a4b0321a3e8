//! Access-control commands: identities, tokens, access keys, policies,
//! dual-control approvals and the audit log. Each command is one call to
//! the `/v1` API (see `api/admin.rs`); a request that the server parks for
//! approval is reported by the client as `Pending approval: ...`.

use std::io::{Read, Write};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::Client;
use super::output::{self, Format};
use super::{key_path, pairs, urlencode, CliError};

// ---------- arguments ----------

#[derive(Subcommand)]
pub enum IdentityCmd {
    /// Create an identity. Giving it roles or policies is a role change:
    /// dual-controlled unless the caller is root.
    Create {
        name: String,
        /// human or service.
        #[arg(long, default_value = "human", value_parser = ["human", "service"])]
        kind: String,
        /// Built-in role: key-admin, key-user, auditor, approver (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Attached policy name (repeatable).
        #[arg(long = "policy")]
        policies: Vec<String>,
    },
    /// List identities.
    List,
    /// Show one identity and its tokens.
    Show { name: String },
    /// Disable an identity: its tokens and access keys stop working at once.
    Disable { name: String },
    /// Replace an identity's roles and/or attached policies (dual-controlled
    /// unless the caller is root). Only the lists you give are replaced.
    Grant {
        name: String,
        /// The new roles (repeatable); replaces all current roles.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Remove every role.
        #[arg(long, conflicts_with = "roles")]
        no_roles: bool,
        /// The new attached policies (repeatable); replaces all current ones.
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// Detach every policy.
        #[arg(long, conflicts_with = "policies")]
        no_policies: bool,
    },
    /// Bind a client-certificate name to an identity: a request over mutual
    /// TLS whose verified certificate carries that name, and no token, acts
    /// as the identity. Exact, case-sensitive match (docs/ACCESS.md).
    /// Only root binds names for another identity.
    BindCert {
        name: String,
        #[command(flatten)]
        cert: CertNameArg,
    },
    /// Remove a certificate name's binding; the certificate stops
    /// authenticating at once.
    UnbindCert {
        #[command(flatten)]
        cert: CertNameArg,
    },
    /// List certificate bindings (of one identity, or all).
    Certs { name: Option<String> },
}

/// One certificate name: exactly one of --cn, --dns, --uri.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct CertNameArg {
    /// The certificate's subject common name (CN).
    #[arg(long)]
    cn: Option<String>,
    /// A DNS name in the certificate's subjectAltName.
    #[arg(long)]
    dns: Option<String>,
    /// A URI in the certificate's subjectAltName (e.g. a SPIFFE id).
    #[arg(long)]
    uri: Option<String>,
}

impl CertNameArg {
    fn field_value(self) -> (&'static str, String) {
        match (self.cn, self.dns, self.uri) {
            (Some(v), _, _) => ("cn", v),
            (_, Some(v), _) => ("dns", v),
            (_, _, Some(v)) => ("uri", v),
            // clap's group makes one of them required.
            (None, None, None) => ("cn", String::new()),
        }
    }
}

const CERT_BINDING_COLUMNS: &[(&str, &str)] = &[
    ("identity", "IDENTITY"),
    ("field", "FIELD"),
    ("value", "NAME"),
    ("created_at", "BOUND (UTC)"),
];

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a bearer token for an identity. It is printed once and never stored.
    Create {
        #[arg(long)]
        identity: String,
        /// Lifetime in seconds (default: the server's).
        #[arg(long)]
        ttl: Option<i64>,
    },
    /// Revoke a token, by its id or by the token itself (`-` reads it from stdin).
    /// It stops working at once.
    Revoke {
        #[arg(value_name = "TOKEN_ID_OR_TOKEN")]
        token: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        identity: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AccessKeyCmd {
    /// Create an AWS-style access key pair. The secret is printed once.
    Create {
        #[arg(long)]
        identity: String,
    },
    /// Revoke an access key by its id.
    Revoke { id: String },
    /// List access keys (never the secrets).
    List,
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Create or replace a policy from a JSON document (dual-controlled
    /// unless the caller is root). See docs/POLICY.md for the format.
    Put {
        /// The policy document (`-` for stdin).
        #[arg(long)]
        file: String,
    },
    /// List stored policies and the built-in roles.
    List,
    /// Show a policy (`role:NAME` for a built-in role).
    Show { name: String },
    /// Delete a policy (dual-controlled unless the caller is root).
    Delete { name: String },
    /// Explain whether an identity may do an action (on a key). Exit status
    /// 0 if allowed, 1 if denied.
    Explain(ExplainArgs),
}

#[derive(Args)]
pub struct ExplainArgs {
    #[arg(long)]
    identity: String,
    /// An action name, e.g. kms:Decrypt.
    #[arg(long)]
    action: String,
    /// Key id, alias or ARN, for actions on a key.
    #[arg(long)]
    key: Option<String>,
    /// Encryption context entry key=value (repeatable).
    #[arg(long = "context")]
    context: Vec<String>,
}

#[derive(Subcommand)]
pub enum ApprovalCmd {
    /// List approval requests.
    List,
    /// Approve a pending request; it runs once its quorum is met.
    Approve { id: String },
    /// Deny a pending request; it will never run.
    Deny { id: String },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Verify the hash chain and signed checkpoints; exit status 1 if broken.
    Verify,
    /// Query audit records.
    Query(AuditFilter),
    /// Export audit records as JSON Lines.
    Export {
        #[command(flatten)]
        filter: AuditFilter,
        /// Output file (`-` for stdout, the default).
        #[arg(long, default_value = "-")]
        out: String,
    },
}

#[derive(Args)]
pub struct AuditFilter {
    /// Key id, alias or ARN (an alias or ARN is resolved to the key id).
    #[arg(long)]
    key: Option<String>,
    #[arg(long)]
    identity: Option<String>,
    /// Operation, e.g. kms:Encrypt.
    #[arg(long)]
    action: Option<String>,
    /// allowed, denied, error or pending.
    #[arg(long)]
    outcome: Option<String>,
    /// From this time (Unix milliseconds, inclusive).
    #[arg(long)]
    since_ms: Option<i64>,
    /// Until this time (Unix milliseconds, exclusive).
    #[arg(long)]
    until_ms: Option<i64>,
    /// At most this many records (the first matches).
    #[arg(long)]
    limit: Option<usize>,
}

// ---------- helpers ----------

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Unix seconds or milliseconds as `YYYY-MM-DD HH:MM:SS` UTC.
fn utc(secs: i64, millis: Option<i64>) -> String {
    super::output::rfc3339(secs, millis)
}

/// Replaces the Unix-seconds fields of an object with readable UTC times.
fn with_times(v: &Value, secs_fields: &[&str], ms_fields: &[&str]) -> Value {
    let mut v = v.clone();
    for f in secs_fields {
        if let Some(t) = v[*f].as_i64() {
            v[*f] = Value::String(utc(t, None));
        }
    }
    for f in ms_fields {
        if let Some(t) = v[*f].as_i64() {
            v[*f] = Value::String(utc(t.div_euclid(1000), Some(t.rem_euclid(1000))));
        }
    }
    v
}

fn rows_with_times(rows: &[Value], secs_fields: &[&str], ms_fields: &[&str]) -> Vec<Value> {
    rows.iter()
        .map(|r| with_times(r, secs_fields, ms_fields))
        .collect()
}

/// A short text argument, or stdin for `-`.
fn read_arg_or_stdin(value: &str, what: &str) -> Result<String, CliError> {
    if value != "-" {
        return Ok(value.to_string());
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::new(format!("cannot read {what} from stdin: {e}")))?;
    Ok(s.trim().to_string())
}

// ---------- identities ----------

const IDENTITY_COLUMNS: &[(&str, &str)] = &[
    ("name", "NAME"),
    ("kind", "KIND"),
    ("roles", "ROLES"),
    ("policies", "POLICIES"),
    ("disabled", "DISABLED"),
    ("created_at", "CREATED (UTC)"),
];

const IDENTITY_FIELDS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("kind", "Kind"),
    ("roles", "Roles"),
    ("policies", "Policies"),
    ("disabled", "Disabled"),
    ("created_at", "Created (UTC)"),
];

const TOKEN_COLUMNS: &[(&str, &str)] = &[
    ("id", "TOKEN ID"),
    ("identity", "IDENTITY"),
    ("created_at", "CREATED (UTC)"),
    ("expires_at", "EXPIRES (UTC)"),
    ("revoked_at", "REVOKED (UTC)"),
];

const TOKEN_TIMES: &[&str] = &["created_at", "expires_at", "revoked_at"];

fn show_identity(v: &Value, fmt: Format) {
    match fmt {
        Format::Json => output::json(v),
        Format::Table => output::record(&with_times(v, &["created_at"], &[]), IDENTITY_FIELDS),
    }
}

pub fn identity(c: IdentityCmd, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    match c {
        IdentityCmd::Create {
            name,
            kind,
            roles,
            policies,
        } => {
            let v = client.call(
                "POST",
                "/v1/identities",
                Some(&json!({ "name": name, "kind": kind, "roles": roles, "policies": policies })),
            )?;
            show_identity(&v, fmt);
        }
        IdentityCmd::List => {
            let v = client.call("GET", "/v1/identities", None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => output::table(
                    &rows_with_times(arr(&v["identities"]), &["created_at"], &[]),
                    IDENTITY_COLUMNS,
                ),
            }
        }
        IdentityCmd::Show { name } => {
            let v = client.call("GET", &format!("/v1/identities/{}", urlencode(&name)), None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    show_identity(&v["identity"], fmt);
                    out!();
                    let tokens = arr(&v["tokens"]);
                    if tokens.is_empty() {
                        out!("No tokens.");
                    } else {
                        output::table(&rows_with_times(tokens, TOKEN_TIMES, &[]), TOKEN_COLUMNS);
                    }
                }
            }
        }
        IdentityCmd::Disable { name } => {
            let v = client.call(
                "POST",
                "/v1/identity/disable",
                Some(&json!({ "name": name })),
            )?;
            show_identity(&v, fmt);
        }
        IdentityCmd::Grant {
            name,
            roles,
            no_roles,
            policies,
            no_policies,
        } => {
            let mut body = json!({ "name": name });
            if !roles.is_empty() || no_roles {
                body["roles"] = json!(roles);
            }
            if !policies.is_empty() || no_policies {
                body["policies"] = json!(policies);
            }
            if body.get("roles").is_none() && body.get("policies").is_none() {
                return Err(CliError::new(
                    "give the new roles (--role R, repeatable, or --no-roles) and/or policies (--policy P, repeatable, or --no-policies)",
                ));
            }
            let v = client.call("POST", "/v1/identity/grants", Some(&body))?;
            show_identity(&v, fmt);
        }
        IdentityCmd::BindCert { name, cert } => {
            let (field, value) = cert.field_value();
            let v = client.call(
                "POST",
                "/v1/identity/bind-cert",
                Some(&json!({ "identity": name, "field": field, "value": value })),
            )?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => out!("Bound {field}:{value} to identity {name}."),
            }
        }
        IdentityCmd::UnbindCert { cert } => {
            let (field, value) = cert.field_value();
            let v = client.call(
                "POST",
                "/v1/identity/unbind-cert",
                Some(&json!({ "field": field, "value": value })),
            )?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => out!(
                    "Unbound {field}:{value} (it was bound to identity {}).",
                    v["binding"]["identity"].as_str().unwrap_or("?")
                ),
            }
        }
        IdentityCmd::Certs { name } => {
            let path = match &name {
                Some(n) => format!("/v1/identity/certs?identity={}", urlencode(n)),
                None => "/v1/identity/certs".to_string(),
            };
            let v = client.call("GET", &path, None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    let rows = arr(&v["bindings"]);
                    if rows.is_empty() {
                        out!("No certificate bindings.");
                    } else {
                        output::table(
                            &rows_with_times(rows, &["created_at"], &[]),
                            CERT_BINDING_COLUMNS,
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

// ---------- tokens ----------

pub fn token(c: TokenCmd, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    match c {
        TokenCmd::Create { identity, ttl } => {
            let mut body = json!({ "identity": identity });
            if let Some(t) = ttl {
                body["ttl_secs"] = json!(t);
            }
            let v = client.call("POST", "/v1/tokens", Some(&body))?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    let info = &v["info"];
                    out!("Token: {}", v["token"].as_str().unwrap_or_default());
                    out!("Token id: {}", info["id"].as_str().unwrap_or_default());
                    out!(
                        "Identity: {}",
                        info["identity"].as_str().unwrap_or_default()
                    );
                    match info["expires_at"].as_i64() {
                        Some(t) => out!("Expires: {}", utc(t, None)),
                        None => out!("Expires: never"),
                    }
                    out!();
                    out!("The token is shown once and is not stored; keep it now. Revoke it with `strongroom token revoke <token id>`.");
                }
            }
        }
        TokenCmd::Revoke { token } => {
            let token = read_arg_or_stdin(&token, "the token")?;
            let v = client.call(
                "POST",
                "/v1/tokens/revoke",
                Some(&json!({ "token_id": token })),
            )?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => out!(
                    "Revoked token {} of identity {}.",
                    v["id"].as_str().unwrap_or_default(),
                    v["identity"].as_str().unwrap_or_default()
                ),
            }
        }
        TokenCmd::List { identity } => {
            let path = match identity {
                Some(i) => format!("/v1/tokens?identity={}", urlencode(&i)),
                None => "/v1/tokens".to_string(),
            };
            let v = client.call("GET", &path, None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => output::table(
                    &rows_with_times(arr(&v["tokens"]), TOKEN_TIMES, &[]),
                    TOKEN_COLUMNS,
                ),
            }
        }
    }
    Ok(())
}

// ---------- access keys ----------

pub fn access_key(c: AccessKeyCmd, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    match c {
        AccessKeyCmd::Create { identity } => {
            let v = client.call(
                "POST",
                "/v1/access-keys",
                Some(&json!({ "identity": identity })),
            )?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    out!(
                        "Access key id: {}",
                        v["access_key_id"].as_str().unwrap_or_default()
                    );
                    out!(
                        "Secret access key: {}",
                        v["secret_access_key"].as_str().unwrap_or_default()
                    );
                    out!("Identity: {}", v["identity"].as_str().unwrap_or_default());
                    out!();
                    out!("The secret is shown once; keep it now. Revoke the pair with `strongroom access-key revoke <access key id>`.");
                }
            }
        }
        AccessKeyCmd::Revoke { id } => {
            let v = client.call(
                "POST",
                "/v1/access-keys/revoke",
                Some(&json!({ "access_key_id": id })),
            )?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => out!(
                    "Revoked access key {} of identity {}.",
                    v["id"].as_str().unwrap_or(&id),
                    v["identity"].as_str().unwrap_or_default()
                ),
            }
        }
        AccessKeyCmd::List => {
            let v = client.call("GET", "/v1/access-keys", None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => output::table(
                    &rows_with_times(arr(&v["access_keys"]), &["created_at", "revoked_at"], &[]),
                    &[
                        ("id", "ACCESS KEY ID"),
                        ("identity", "IDENTITY"),
                        ("created_at", "CREATED (UTC)"),
                        ("revoked_at", "REVOKED (UTC)"),
                    ],
                ),
            }
        }
    }
    Ok(())
}

// ---------- policies ----------

fn show_policy(v: &Value, fmt: Format) {
    match fmt {
        Format::Json => output::json(v),
        Format::Table => {
            output::record(v, &[("name", "Name"), ("description", "Description")]);
            out!();
            let rows: Vec<Value> = arr(&v["statements"])
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut s = s.clone();
                    s["n"] = json!(i);
                    s
                })
                .collect();
            output::table(
                &rows,
                &[
                    ("n", "#"),
                    ("effect", "EFFECT"),
                    ("actions", "ACTIONS"),
                    ("resources", "RESOURCES"),
                    ("condition", "CONDITION"),
                ],
            );
        }
    }
}

pub fn policy(c: PolicyCmd, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    match c {
        PolicyCmd::Put { file } => {
            let mut text = String::new();
            if file == "-" {
                std::io::stdin().read_to_string(&mut text)
            } else {
                std::fs::File::open(&file).and_then(|mut f| f.read_to_string(&mut text))
            }
            .map_err(|e| CliError::new(format!("cannot read --file {file:?}: {e}")))?;
            let doc: Value = serde_json::from_str(&text).map_err(|e| {
                CliError::new(format!(
                    "--file {file:?} is not a JSON policy document: {e} (see docs/POLICY.md)"
                ))
            })?;
            let v = client.call("POST", "/v1/policies", Some(&doc))?;
            show_policy(&v, fmt);
        }
        PolicyCmd::List => {
            let v = client.call("GET", "/v1/policies", None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    let rows: Vec<Value> = arr(&v["roles"])
                        .iter()
                        .map(|p| (p, "built-in role"))
                        .chain(arr(&v["policies"]).iter().map(|p| (p, "policy")))
                        .map(|(p, kind)| {
                            json!({
                                "name": p["name"],
                                "kind": kind,
                                "statements": arr(&p["statements"]).len(),
                                "description": p["description"],
                            })
                        })
                        .collect();
                    output::table(
                        &rows,
                        &[
                            ("name", "NAME"),
                            ("kind", "KIND"),
                            ("statements", "STATEMENTS"),
                            ("description", "DESCRIPTION"),
                        ],
                    );
                }
            }
        }
        PolicyCmd::Show { name } => {
            let v = client.call("GET", &format!("/v1/policies/{}", urlencode(&name)), None)?;
            show_policy(&v, fmt);
        }
        PolicyCmd::Delete { name } => {
            let v = client.call(
                "DELETE",
                &format!("/v1/policies/{}", urlencode(&name)),
                None,
            )?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => out!("Deleted policy {}.", v["deleted"].as_str().unwrap_or(&name)),
            }
        }
        PolicyCmd::Explain(a) => return explain(&client, a, fmt),
    }
    Ok(())
}

fn explain(client: &Client, a: ExplainArgs, fmt: Format) -> Result<(), CliError> {
    let mut body = json!({ "identity": a.identity, "action": a.action });
    if let Some(k) = &a.key {
        body["key"] = json!(k);
    }
    if !a.context.is_empty() {
        body["context"] = json!(pairs("--context", &a.context)?);
    }
    let v = client.call("POST", "/v1/policy/explain", Some(&body))?;
    let allowed = v["allowed"].as_bool().unwrap_or(false);
    match fmt {
        Format::Json => output::json(&v),
        Format::Table => {
            let decision = json!({
                "decision": if allowed { "ALLOWED" } else { "DENIED" },
                "identity": v["identity"],
                "roles": v["roles"],
                "policies": v["policies"],
                "action": v["action"],
                "key": match (&a.key, v["key_id"].as_str()) {
                    (Some(k), Some(id)) if k != id => json!(format!("{k} ({id})")),
                    (_, Some(id)) => json!(id),
                    _ => Value::Null,
                },
                "reason": v["reason"],
            });
            output::record(
                &decision,
                &[
                    ("decision", "Decision"),
                    ("identity", "Identity"),
                    ("roles", "Roles"),
                    ("policies", "Policies"),
                    ("action", "Action"),
                    ("key", "Key"),
                    ("reason", "Reason"),
                ],
            );
        }
    }
    if allowed {
        Ok(())
    } else {
        Err(CliError::reported("denied"))
    }
}

// ---------- approvals ----------

fn approval_row(a: &Value) -> Value {
    let mut r = with_times(a, &[], &["created_ms", "expires_ms"]);
    let names: Vec<&str> = arr(&a["approvals"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    r["progress"] = json!(format!(
        "{} of {}{}",
        names.len(),
        a["required"].as_u64().unwrap_or(0),
        if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.join(", "))
        }
    ));
    r
}

pub fn approval(c: ApprovalCmd, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    match c {
        ApprovalCmd::List => {
            let v = client.call("GET", "/v1/approvals", None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    let rows: Vec<Value> = arr(&v["approvals"]).iter().map(approval_row).collect();
                    output::table(
                        &rows,
                        &[
                            ("id", "ID"),
                            ("action", "ACTION"),
                            ("requester", "REQUESTER"),
                            ("key_id", "KEY ID"),
                            ("progress", "APPROVALS"),
                            ("status", "STATUS"),
                            ("expires_ms", "EXPIRES (UTC)"),
                        ],
                    );
                }
            }
        }
        ApprovalCmd::Approve { id } => {
            let v = client.call("POST", "/v1/approvals/approve", Some(&json!({ "id": id })))?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    let a = &v["approval"];
                    let row = approval_row(a);
                    let progress = row["progress"].as_str().unwrap_or_default();
                    let action = a["action"].as_str().unwrap_or_default();
                    if v["executed"].as_bool() == Some(true) {
                        out!("Approved: {progress}. The quorum is met and {action} was executed.");
                        let r = &v["result"];
                        if r["id"].is_string() && r["state"].is_string() {
                            out!(
                                "Key {} is now {}.",
                                r["id"].as_str().unwrap_or_default(),
                                r["state"].as_str().unwrap_or_default()
                            );
                        }
                    } else {
                        out!(
                            "Approved: {progress}. Request {id} ({action}) is still {}.",
                            a["status"].as_str().unwrap_or("pending").to_lowercase()
                        );
                    }
                }
            }
        }
        ApprovalCmd::Deny { id } => {
            let v = client.call("POST", "/v1/approvals/deny", Some(&json!({ "id": id })))?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => out!(
                    "Denied: request {id} ({}) will never run.",
                    v["approval"]["action"].as_str().unwrap_or_default()
                ),
            }
        }
    }
    Ok(())
}

// ---------- audit ----------

impl AuditFilter {
    /// The query string; an alias or ARN in --key is resolved to the key id
    /// (the log records key ids).
    fn query(&self, client: &Client) -> Result<String, CliError> {
        let key = match &self.key {
            Some(k) if k.starts_with("alias/") || k.starts_with("arn:") => {
                let v = client.call("GET", &key_path(k), None)?;
                Some(
                    v["id"]
                        .as_str()
                        .ok_or_else(|| CliError::new(format!("cannot resolve --key {k:?}")))?
                        .to_string(),
                )
            }
            other => other.clone(),
        };
        let mut q = Vec::new();
        for (name, val) in [
            ("key", key),
            ("identity", self.identity.clone()),
            ("action", self.action.clone()),
            ("outcome", self.outcome.clone()),
            ("from_ms", self.since_ms.map(|n| n.to_string())),
            ("to_ms", self.until_ms.map(|n| n.to_string())),
            ("limit", self.limit.map(|n| n.to_string())),
        ] {
            if let Some(v) = val {
                q.push(format!("{name}={}", urlencode(&v)));
            }
        }
        Ok(if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        })
    }
}

pub fn audit(c: AuditCmd, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    match c {
        AuditCmd::Verify => {
            let v = client.call("GET", "/v1/audit/verify", None)?;
            let ok = v["ok"].as_bool().unwrap_or(false);
            match fmt {
                Format::Json => output::json(&v),
                Format::Table if ok => {
                    let n = |f: &str, one: &str, many: &str| {
                        output::plural(v[f].as_u64().unwrap_or(0), one, many)
                    };
                    out!(
                        "OK: {} verified ({}, {}).",
                        n("entries", "entry", "entries"),
                        n("events", "event", "events"),
                        n("checkpoints", "signed checkpoint", "signed checkpoints")
                    );
                    out!(
                        "{} after the last checkpoint {} chained but not yet signed.",
                        n("unsigned_tail_events", "event", "events"),
                        if v["unsigned_tail_events"] == 1 {
                            "is"
                        } else {
                            "are"
                        }
                    );
                    out!("Head: {}", v["head_hash"].as_str().unwrap_or_default());
                }
                Format::Table => {
                    out!(
                        "BROKEN at index {}: {}",
                        v["first_bad_index"],
                        v["reason"].as_str().unwrap_or("(no reason given)")
                    );
                    out!(
                        "{} before it verified; nothing from index {} on can be trusted.",
                        output::plural(v["entries"].as_u64().unwrap_or(0), "entry", "entries"),
                        v["first_bad_index"]
                    );
                }
            }
            if !ok {
                return Err(CliError::reported("the audit log is broken"));
            }
        }
        AuditCmd::Query(f) => {
            let q = f.query(&client)?;
            let v = client.call("GET", &format!("/v1/audit/query{q}"), None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    let rows: Vec<Value> = arr(&v["records"])
                        .iter()
                        .map(|r| {
                            let mut e = with_times(&r["event"], &[], &["time_ms"]);
                            e["index"] = r["index"].clone();
                            if e["root"].as_bool() == Some(true) {
                                e["identity"] = json!(format!(
                                    "{} (break-glass)",
                                    e["identity"].as_str().unwrap_or_default()
                                ));
                            }
                            e
                        })
                        .collect();
                    output::table(
                        &rows,
                        &[
                            ("index", "INDEX"),
                            ("time_ms", "TIME (UTC)"),
                            ("identity", "IDENTITY"),
                            ("operation", "OPERATION"),
                            ("key_id", "KEY ID"),
                            ("outcome", "OUTCOME"),
                            ("error_code", "CODE"),
                        ],
                    );
                }
            }
        }
        AuditCmd::Export { filter, out } => {
            let q = filter.query(&client)?;
            let mut body = client.get_stream(&format!("/v1/audit/export{q}"))?;
            if out == "-" {
                let mut stdout = std::io::stdout().lock();
                copy_lines(&mut body, &mut stdout).map_err(|e| {
                    CliError::new(format!("cannot write the export to stdout: {e}"))
                })?;
            } else {
                let mut f = create_private(&out)
                    .map_err(|e| CliError::new(format!("cannot create --out {out:?}: {e}")))?;
                let n = copy_lines(&mut body, &mut f)
                    .and_then(|n| f.sync_all().map(|_| n))
                    .map_err(|e| CliError::new(format!("cannot write --out {out:?}: {e}")))?;
                match fmt {
                    Format::Json => output::json(&json!({ "records": n, "out": out })),
                    Format::Table => out!(
                        "Exported {} to {out}.",
                        output::plural(n, "record", "records")
                    ),
                }
            }
        }
    }
    Ok(())
}

/// Copies the body and counts its lines.
fn copy_lines(from: &mut dyn Read, to: &mut dyn Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        to.write_all(&buf[..n])?;
    }
    to.flush()?;
    Ok(lines)
}

/// Creates (or truncates) a file readable only by its owner.
fn create_private(path: &str) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)
}
