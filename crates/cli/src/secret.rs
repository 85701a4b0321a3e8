//! `strongroom secret …`: versioned secrets over `/v1/secrets/…`
//! (docs/SECRETS.md). Values are printed only by `get`; every other
//! command shows metadata.

use std::collections::BTreeMap;
use std::io::Read;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::Client;
use super::output::{self, Format};
use super::CliError;

#[derive(Subcommand)]
pub enum SecretCmd {
    /// Write a new version: `secret put app/db user=app password=-` (`-` reads
    /// the value from stdin, `@FILE` from a file) or `--from-file F` (a JSON
    /// object of string fields).
    Put(PutArgs),
    /// A new version from the current one: set some fields, `--remove` others.
    Patch(PatchArgs),
    /// Read the current version (or `--version N`); `--field F` prints one value alone.
    Get(GetArgs),
    /// List the secrets and folders under a folder (default: the top).
    List(ListArgs),
    /// Metadata and every version's dates (never values).
    History(PathArg),
    /// Change metadata: max versions, check-and-set, owner, purpose, rotation period, kind, rotation hook.
    SetMetadata(SetMetadataArgs),
    /// Soft-delete versions (default: the current one); `undelete` restores them.
    Delete(VersionsArgs),
    /// Restore soft-deleted versions (default: the current one).
    Undelete(VersionsArgs),
    /// Destroy versions for good (default: the current one), or `--all` to
    /// delete the whole secret. Under dual control by default.
    Destroy(DestroyArgs),
    /// Rotate a secret of kind postgres (a new password set with ALTER ROLE,
    /// checked by logging in) or kind hook (the operator-configured hook it
    /// names prints the new version); only then is it the current version.
    Rotate(PathArg),
}

#[derive(Args)]
pub struct PathArg {
    /// The secret's path, e.g. app/db.
    pub path: String,
}

#[derive(Args)]
pub struct PutArgs {
    pub path: String,
    /// Fields as NAME=VALUE, NAME=- (stdin) or NAME=@FILE.
    pub fields: Vec<String>,
    /// A JSON file holding an object of string fields (`-`: stdin).
    #[arg(long)]
    pub from_file: Option<String>,
    /// Check-and-set: 0 = only if the secret has no version; N = only if the current version is N.
    #[arg(long)]
    pub cas: Option<u32>,
}

#[derive(Args)]
pub struct PatchArgs {
    pub path: String,
    /// Fields to set, as for `put`.
    pub fields: Vec<String>,
    /// Fields to drop (repeatable).
    #[arg(long)]
    pub remove: Vec<String>,
    #[arg(long)]
    pub cas: Option<u32>,
}

#[derive(Args)]
pub struct GetArgs {
    pub path: String,
    /// Print only this field's value (no newline added in JSON mode).
    #[arg(long)]
    pub field: Option<String>,
    /// A version number (default: the current one).
    #[arg(long)]
    pub version: Option<u32>,
}

#[derive(Args)]
pub struct ListArgs {
    /// A folder, e.g. app or app/ (default: the top level).
    #[arg(default_value = "")]
    pub prefix: String,
    /// Start after this entry (paging).
    #[arg(long)]
    pub after: Option<String>,
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Args)]
pub struct SetMetadataArgs {
    pub path: String,
    #[arg(long)]
    pub max_versions: Option<u32>,
    #[arg(long)]
    pub cas_required: Option<bool>,
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long)]
    pub purpose: Option<String>,
    /// Days between rotations (0: none).
    #[arg(long)]
    pub rotation_period_days: Option<u32>,
    /// `generic`, `postgres` or `hook`.
    #[arg(long)]
    pub kind: Option<String>,
    /// For kind hook: the name of a rotation hook configured on the server
    /// (`[[secret_rotation_hook]]`); "" clears it.
    #[arg(long)]
    pub rotation_hook: Option<String>,
    /// Custom metadata as KEY=VALUE (repeatable; replaces the whole map).
    #[arg(long = "custom")]
    pub custom: Vec<String>,
}

#[derive(Args)]
pub struct VersionsArgs {
    pub path: String,
    /// Version numbers, comma-separated (default: the current version).
    #[arg(long, value_delimiter = ',')]
    pub versions: Vec<u32>,
}

#[derive(Args)]
pub struct DestroyArgs {
    pub path: String,
    #[arg(long, value_delimiter = ',', conflicts_with = "all")]
    pub versions: Vec<u32>,
    /// Delete the whole secret: its metadata and every version.
    #[arg(long)]
    pub all: bool,
}

/// The URL path for an operation on a secret. Characters outside the path
/// grammar are percent-encoded so the request reaches the server, which
/// refuses them with the grammar (it never decodes).
pub fn url(op: &str, path: &str) -> String {
    let mut out = format!("/v1/secrets/{op}/");
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads `NAME=VALUE`, `NAME=-` (stdin, one trailing newline dropped) and
/// `NAME=@FILE` arguments.
fn read_fields(items: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut m = BTreeMap::new();
    let mut stdin_used = false;
    for i in items {
        let (k, v) = i.split_once('=').ok_or_else(|| {
            CliError::new(format!(
                "{i:?} is not NAME=VALUE; write NAME=VALUE, NAME=- (value from stdin) or NAME=@FILE"
            ))
        })?;
        let value = if v == "-" {
            if stdin_used {
                return Err(CliError::new(
                    "only one field can be read from stdin (NAME=-)",
                ));
            }
            stdin_used = true;
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::new(format!("reading {k} from stdin: {e}")))?;
            if s.ends_with('\n') {
                s.pop();
                if s.ends_with('\r') {
                    s.pop();
                }
            }
            s
        } else if let Some(file) = v.strip_prefix('@') {
            std::fs::read_to_string(file)
                .map_err(|e| CliError::new(format!("reading {k} from {file}: {e}")))?
        } else {
            v.to_string()
        };
        if m.insert(k.to_string(), value).is_some() {
            return Err(CliError::new(format!("field {k:?} is given twice")));
        }
    }
    Ok(m)
}

fn from_file(f: &str) -> Result<BTreeMap<String, String>, CliError> {
    let text = if f == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::new(format!("reading stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(f).map_err(|e| CliError::new(format!("reading {f}: {e}")))?
    };
    serde_json::from_str(&text).map_err(|_| {
        CliError::new(format!(
            "{f} is not a JSON object of string fields, such as {{\"user\": \"app\", \"password\": \"...\"}}"
        ))
    })
}

fn time(ms: &Value) -> String {
    match ms.as_i64() {
        Some(t) => output::rfc3339(t.div_euclid(1000), Some(t.rem_euclid(1000))),
        None => "-".into(),
    }
}

fn print_version(v: &Value, fmt: Format, what: &str) {
    match fmt {
        Format::Json => output::json(v),
        Format::Table => out!(
            "{what} {} version {}",
            v["path"].as_str().unwrap_or("?"),
            v["version"]["version"]
        ),
    }
}

pub fn run(cmd: SecretCmd, fmt: Format) -> Result<(), CliError> {
    let c = Client::from_env()?;
    match cmd {
        SecretCmd::Put(a) => {
            let mut data = match &a.from_file {
                Some(f) => from_file(f)?,
                None => BTreeMap::new(),
            };
            for (k, v) in read_fields(&a.fields)? {
                data.insert(k, v);
            }
            if data.is_empty() {
                return Err(CliError::new(
                    "no fields: give NAME=VALUE arguments or --from-file F",
                ));
            }
            let mut body = json!({ "data": data });
            if let Some(cas) = a.cas {
                body["cas"] = json!(cas);
            }
            let v = c.call("PUT", &url("data", &a.path), Some(&body))?;
            print_version(&v, fmt, "Wrote");
        }
        SecretCmd::Patch(a) => {
            let mut body = json!({ "data": read_fields(&a.fields)?, "remove": a.remove });
            if let Some(cas) = a.cas {
                body["cas"] = json!(cas);
            }
            let v = c.call("PATCH", &url("data", &a.path), Some(&body))?;
            print_version(&v, fmt, "Wrote");
        }
        SecretCmd::Get(a) => {
            let mut u = url("data", &a.path);
            if let Some(n) = a.version {
                u.push_str(&format!("?version={n}"));
            }
            let v = c.call("GET", &u, None)?;
            if let Some(f) = &a.field {
                let Some(val) = v["data"][f].as_str() else {
                    let names: Vec<&String> = v["data"]
                        .as_object()
                        .map(|o| o.keys().collect())
                        .unwrap_or_default();
                    return Err(CliError::new(format!(
                        "secret {} has no field {f:?}; its fields are {names:?}",
                        a.path
                    )));
                };
                match fmt {
                    Format::Json => output::json(&json!({ f: val })),
                    Format::Table => out!("{val}"),
                }
                return Ok(());
            }
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    out!(
                        "{} (version {}, written {})",
                        a.path,
                        v["version"]["version"],
                        time(&v["version"]["created_ms"])
                    );
                    if let Some(o) = v["data"].as_object() {
                        let w = o.keys().map(String::len).max().unwrap_or(0);
                        for (k, val) in o {
                            out!("{k:<w$}  {}", val.as_str().unwrap_or_default());
                        }
                    }
                }
            }
        }
        SecretCmd::List(a) => {
            let mut u = if a.prefix.is_empty() {
                "/v1/secrets/list".to_string()
            } else {
                url("list", &a.prefix)
            };
            let mut q = Vec::new();
            if let Some(after) = &a.after {
                q.push(format!("after={}", encode_query(after)));
            }
            if let Some(l) = a.limit {
                q.push(format!("limit={l}"));
            }
            if !q.is_empty() {
                u.push('?');
                u.push_str(&q.join("&"));
            }
            let v = c.call("GET", &u, None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    for k in v["keys"].as_array().into_iter().flatten() {
                        out!("{}", k.as_str().unwrap_or_default());
                    }
                    if let Some(n) = v["next"].as_str() {
                        out!("(more: --after {n})");
                    }
                }
            }
        }
        SecretCmd::History(a) => {
            let v = c.call("GET", &url("metadata", &a.path), None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => history(&v),
            }
        }
        SecretCmd::SetMetadata(a) => {
            let mut body = json!({});
            if let Some(n) = a.max_versions {
                body["max_versions"] = json!(n);
            }
            if let Some(b) = a.cas_required {
                body["cas_required"] = json!(b);
            }
            if let Some(o) = a.owner {
                body["owner"] = json!(o);
            }
            if let Some(p) = a.purpose {
                body["purpose"] = json!(p);
            }
            if let Some(d) = a.rotation_period_days {
                body["rotation_period_days"] = json!(d);
            }
            if let Some(k) = a.kind {
                body["kind"] = json!(k);
            }
            if let Some(h) = a.rotation_hook {
                body["rotation_hook"] = json!(h);
            }
            if !a.custom.is_empty() {
                body["custom_metadata"] = json!(super::pairs("--custom", &a.custom)?);
            }
            let v = c.call("PATCH", &url("metadata", &a.path), Some(&body))?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => out!("Updated the metadata of {}", a.path),
            }
        }
        SecretCmd::Delete(a) => {
            let v = c.call(
                "POST",
                &url("delete", &a.path),
                Some(&json!({ "versions": a.versions })),
            )?;
            done(&v, fmt, "Deleted", "deleted", &a.path);
        }
        SecretCmd::Undelete(a) => {
            let v = c.call(
                "POST",
                &url("undelete", &a.path),
                Some(&json!({ "versions": a.versions })),
            )?;
            done(&v, fmt, "Restored", "undeleted", &a.path);
        }
        SecretCmd::Rotate(a) => {
            let v = c.call("POST", &url("rotate", &a.path), None)?;
            print_version(&v, fmt, "Rotated");
        }
        SecretCmd::Destroy(a) => {
            if a.all {
                let v = c.call("DELETE", &url("metadata", &a.path), None)?;
                match fmt {
                    Format::Json => output::json(&v),
                    Format::Table => out!(
                        "Deleted secret {} and its {} for good",
                        a.path,
                        output::plural(
                            v["versions_removed"].as_u64().unwrap_or(0),
                            "version",
                            "versions"
                        )
                    ),
                }
            } else {
                let v = c.call(
                    "POST",
                    &url("destroy", &a.path),
                    Some(&json!({ "versions": a.versions })),
                )?;
                done(&v, fmt, "Destroyed", "destroyed", &a.path);
            }
        }
    }
    Ok(())
}

fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn done(v: &Value, fmt: Format, verb: &str, field: &str, path: &str) {
    match fmt {
        Format::Json => output::json(v),
        Format::Table => {
            let list: Vec<String> = v[field]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| n.to_string())
                .collect();
            out!("{verb} version(s) {} of {path}", list.join(", "));
        }
    }
}

fn history(v: &Value) {
    let text = |k: &str| match &v[k] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Null => "-".into(),
        Value::String(_) => "-".into(),
        other => other.to_string(),
    };
    out!("Path             {}", text("path"));
    out!("Kind             {}", text("kind"));
    if v["rotation_hook"].is_string() {
        out!("Rotation hook    {}", text("rotation_hook"));
    }
    out!("Current version  {}", text("current_version"));
    out!("Oldest version   {}", text("oldest_version"));
    out!("Max versions     {}", text("max_versions"));
    out!("CAS required     {}", text("cas_required"));
    out!("Owner            {}", text("owner"));
    out!("Purpose          {}", text("purpose"));
    out!("Created          {}", time(&v["created_ms"]));
    out!("Updated          {}", time(&v["updated_ms"]));
    out!("Rotation period  {} days", text("rotation_period_days"));
    out!("Next rotation    {}", time(&v["next_rotation_ms"]));
    out!("Overdue          {}", text("overdue"));
    match v["last_read"].as_object() {
        Some(r) => out!(
            "Last read        {} by {} (version {})",
            time(&r["time_ms"]),
            r["identity"].as_str().unwrap_or("?"),
            r["version"]
        ),
        None => out!("Last read        -"),
    }
    if let Some(c) = v["custom_metadata"].as_object() {
        for (k, val) in c {
            out!("Custom           {k}={}", val.as_str().unwrap_or_default());
        }
    }
    out!("");
    let rows: Vec<Value> = v["versions"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .map(|ver| {
            let state = if ver["destroyed"].as_bool() == Some(true) {
                "destroyed".to_string()
            } else if ver["deletion_ms"].is_i64() {
                format!("deleted {}", time(&ver["deletion_ms"]))
            } else {
                "live".to_string()
            };
            json!({ "version": ver["version"], "created": time(&ver["created_ms"]), "state": state })
        })
        .collect();
    output::table(
        &rows,
        &[
            ("version", "VERSION"),
            ("created", "CREATED"),
            ("state", "STATE"),
        ],
    );
}
