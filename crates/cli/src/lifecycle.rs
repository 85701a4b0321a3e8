//! Lifecycle commands: dates on keys, `key compromise`, `inventory` and
//! `rewrap` (`docs/LIFECYCLE.md`).

use std::io::{IsTerminal, Read, Write};

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use super::client::Client;
use super::output::{self, Format};
use super::{pairs, urlencode, CliError};
use strongroom_core::keys::dates::{format_rfc3339, parse_time};

/// Adds `activation_date`/`expiry_date` to a create or update body. On
/// update, `none` removes the date (JSON `null`).
pub fn add_dates(
    body: &mut Value,
    activate_at: Option<String>,
    expire_at: Option<String>,
    update: bool,
) -> Result<(), CliError> {
    for (field, flag, v) in [
        ("activation_date", "--activate-at", activate_at),
        ("expiry_date", "--expire-at", expire_at),
    ] {
        let Some(v) = v else { continue };
        if update && v.eq_ignore_ascii_case("none") {
            body[field] = Value::Null;
            continue;
        }
        let t = parse_time(&v).map_err(|e| CliError::new(format!("{flag}: {e}")))?;
        body[field] = json!(t);
    }
    Ok(())
}

fn time_cell(v: &Value) -> String {
    v.as_i64().map(format_rfc3339).unwrap_or_else(|| "-".into())
}

fn ms_cell(v: &Value) -> String {
    v.as_i64()
        .map(|ms| format_rfc3339(ms.div_euclid(1000)))
        .unwrap_or_else(|| "-".into())
}

pub fn compromise(
    client: &Client,
    key: &str,
    version: Option<u32>,
    reason: &str,
    fmt: Format,
) -> Result<(), CliError> {
    let v = client.call(
        "POST",
        "/v1/compromise",
        Some(&json!({ "key": key, "version": version, "reason": reason })),
    )?;
    if fmt == Format::Json {
        output::json(&v);
        return Ok(());
    }
    let r = &v["report"];
    let id = r["key_id"].as_str().unwrap_or_default();
    out!(
        "Version {} of key {id} is marked compromised ({}).",
        r["compromised_version"],
        r["reason"].as_str().unwrap_or_default()
    );
    out!(
        "Rotated: new primary version {}. New encryptions and signatures use it.",
        r["new_primary_version"]
    );
    out!();
    if let Some(e) = r["exposure_error"].as_str() {
        out!("Exposure report unavailable: {e}");
    } else {
        out!(
            "Exposure (from the audit log): {} use(s) of version {} by {} identit{}",
            r["total_uses"],
            r["compromised_version"],
            r["identities"].as_array().map_or(0, Vec::len),
            if r["identities"].as_array().map_or(0, Vec::len) == 1 {
                "y"
            } else {
                "ies"
            }
        );
        let rows: Vec<Value> = r["identities"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                json!({
                    "identity": i["identity"],
                    "uses": i["uses"],
                    "first": ms_cell(&i["first_ms"]),
                    "last": ms_cell(&i["last_ms"]),
                    "operations": i["operations"],
                    "sources": i["sources"],
                })
            })
            .collect();
        if !rows.is_empty() {
            out!();
            output::table(
                &rows,
                &[
                    ("identity", "IDENTITY"),
                    ("uses", "USES"),
                    ("first", "FIRST USE"),
                    ("last", "LAST USE"),
                    ("operations", "OPERATIONS"),
                    ("sources", "FROM"),
                ],
            );
        }
    }
    out!();
    match v["key"]["usage"].as_str() {
        Some("ENCAPSULATE_DECAPSULATE") => {
            out!("Shared secrets encapsulated to that version are exposed, and Decapsulate refuses it.");
            out!("Senders fetch the new public key and encapsulate fresh secrets:");
            out!("    strongroom key public-key {id}");
        }
        Some("SIGN_VERIFY") => {
            out!(
                "Signatures made with that version no longer verify; re-sign what must stay valid."
            );
        }
        _ => {
            out!("Re-encrypt stored ciphertexts to the new version without exposing plaintext:");
            out!("    strongroom rewrap --key {id} --allow-compromised --ciphertexts FILE > NEW_FILE");
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InventoryFormat {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
pub struct InventoryArgs {
    /// Only keys with this owner.
    #[arg(long)]
    owner: Option<String>,
    /// Only keys in this state: Enabled, Disabled, PendingDeletion, Destroyed,
    /// or the date-derived PreActivation / Deactivated.
    #[arg(long)]
    state: Option<String>,
    /// Only keys whose scheduled rotation is overdue.
    #[arg(long)]
    overdue: bool,
    /// Only keys expiring within DAYS (expired ones included).
    #[arg(long, value_name = "DAYS")]
    expiring_within: Option<i64>,
    /// Only keys without an owner.
    #[arg(long)]
    no_owner: bool,
    /// table (default), json or csv. `-o json` also gives JSON.
    #[arg(long = "format", id = "inventory_format", value_enum)]
    inventory_format: Option<InventoryFormat>,
    /// List the scanned repositories instead of keys: the latest
    /// `strongroom scan --report` of each, with its open findings.
    #[arg(long, conflicts_with_all = ["owner", "state", "overdue", "expiring_within", "no_owner"])]
    scans: bool,
}

/// `inventory --scans` columns.
const SCAN_COLUMNS: &[(&str, &str)] = &[
    ("repository", "REPOSITORY"),
    ("source", "SOURCE"),
    ("received", "RECEIVED"),
    ("reported_by", "REPORTED BY"),
    ("open_secrets", "OPEN SECRETS"),
    ("open_weak_crypto", "OPEN WEAK-CRYPTO"),
    ("baselined", "BASELINED"),
];

fn uses_cell(row: &Value) -> String {
    row["usage"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|u| format!("v{}={}", u["version"], u["uses"]))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Inventory columns: (field in the flattened row, header).
const COLUMNS: &[(&str, &str)] = &[
    ("id", "KEY ID"),
    ("owner", "OWNER"),
    ("purpose", "PURPOSE"),
    ("spec", "SPEC"),
    ("origin", "ORIGIN"),
    ("effective_state", "STATE"),
    ("created", "CREATED"),
    ("last_rotated", "LAST ROTATED"),
    ("next_rotation", "NEXT ROTATION"),
    ("activation", "ACTIVATION"),
    ("expiry", "EXPIRY"),
    ("destroyed", "DESTROYED"),
    ("last_used", "LAST USED"),
    ("uses", "USES PER VERSION"),
];

/// The inventory table at a human width; `-o wide` (or `--format csv`)
/// gives every column of [`COLUMNS`].
const NARROW_COLUMNS: &[(&str, &str)] = &[
    ("id", "KEY ID"),
    ("owner", "OWNER"),
    ("spec", "SPEC"),
    ("effective_state", "STATE"),
    ("next_rotation", "NEXT ROTATION"),
    ("last_used", "LAST USED"),
];

fn flatten(row: &Value) -> Value {
    json!({
        "id": row["id"],
        "owner": row["owner"],
        "purpose": row["purpose"],
        "spec": row["spec"],
        "origin": row["origin"],
        "effective_state": row["effective_state"],
        "created": time_cell(&row["created_at"]),
        "last_rotated": time_cell(&row["rotated_at"]),
        "next_rotation": time_cell(&row["next_rotation_at"]),
        "activation": time_cell(&row["activation_date"]),
        "expiry": time_cell(&row["expiry_date"]),
        "destroyed": time_cell(&row["destroyed_at"]),
        "last_used": time_cell(&row["last_used"]),
        "uses": uses_cell(row),
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn inventory(a: InventoryArgs, fmt: Format) -> Result<(), CliError> {
    if a.scans {
        let v = Client::from_env()?.call("GET", "/v1/scans", None)?;
        let rows: Vec<Value> = v["scans"].as_array().cloned().unwrap_or_default();
        match a.inventory_format.unwrap_or(match fmt {
            Format::Json => InventoryFormat::Json,
            Format::Table => InventoryFormat::Table,
        }) {
            InventoryFormat::Json => output::json(&v),
            InventoryFormat::Table => output::table(&rows, SCAN_COLUMNS),
            InventoryFormat::Csv => {
                out!(
                    "{}",
                    SCAN_COLUMNS
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(",")
                );
                for r in &rows {
                    let cells: Vec<String> = SCAN_COLUMNS
                        .iter()
                        .map(|(k, _)| match &r[*k] {
                            Value::String(s) => csv_field(s),
                            Value::Number(n) => n.to_string(),
                            _ => String::new(),
                        })
                        .collect();
                    out!("{}", cells.join(","));
                }
            }
        }
        return Ok(());
    }
    let mut q = Vec::new();
    if let Some(o) = &a.owner {
        q.push(format!("owner={}", urlencode(o)));
    }
    if let Some(s) = &a.state {
        q.push(format!("state={}", urlencode(s)));
    }
    if a.overdue {
        q.push("overdue=true".into());
    }
    if let Some(d) = a.expiring_within {
        q.push(format!("expiring_within={d}"));
    }
    if a.no_owner {
        q.push("no_owner=true".into());
    }
    let path = if q.is_empty() {
        "/v1/inventory".to_string()
    } else {
        format!("/v1/inventory?{}", q.join("&"))
    };
    let v = Client::from_env()?.call("GET", &path, None)?;
    let format = a.inventory_format.unwrap_or(match fmt {
        Format::Json => InventoryFormat::Json,
        Format::Table => InventoryFormat::Table,
    });
    let rows: Vec<Value> = v["keys"]
        .as_array()
        .map(|r| r.iter().map(flatten).collect())
        .unwrap_or_default();
    let secrets = secret_rows(&a);
    let mut v = v;
    if !secrets.is_empty() {
        v["secrets"] = Value::Array(secrets.clone());
    }
    match format {
        InventoryFormat::Json => output::json(&v),
        InventoryFormat::Table if !secrets.is_empty() => {
            if output::wide() {
                output::table(&rows, COLUMNS)
            } else {
                output::table(&rows, NARROW_COLUMNS)
            }
            out!("");
            output::table(&secrets, SECRET_COLUMNS);
        }
        InventoryFormat::Table if output::wide() => output::table(&rows, COLUMNS),
        InventoryFormat::Table => output::table(&rows, NARROW_COLUMNS),
        InventoryFormat::Csv => {
            out!(
                "{}",
                COLUMNS
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for r in &rows {
                let cells: Vec<String> = COLUMNS
                    .iter()
                    .map(|(k, _)| {
                        csv_field(match &r[*k] {
                            Value::String(s) => s,
                            _ => "",
                        })
                    })
                    .collect();
                out!("{}", cells.join(","));
            }
        }
    }
    Ok(())
}

const SECRET_COLUMNS: &[(&str, &str)] = &[
    ("path", "SECRET"),
    ("kind", "KIND"),
    ("owner", "OWNER"),
    ("current_version", "VERSION"),
    ("rotation_period_days", "ROTATION (DAYS)"),
    ("next_rotation", "NEXT ROTATION"),
    ("overdue", "OVERDUE"),
    ("last_read", "LAST READ"),
];

/// Secrets for the inventory (docs/SECRETS.md), filtered by owner and
/// overdue; none when a key-only filter (state, expiry) is given or the
/// caller may not read secrets' metadata.
fn secret_rows(a: &InventoryArgs) -> Vec<Value> {
    if a.state.is_some() || a.expiring_within.is_some() {
        return Vec::new();
    }
    let Ok(v) = Client::from_env().and_then(|c| c.call("GET", "/v1/secrets/inventory", None))
    else {
        return Vec::new();
    };
    let time = |t: &Value| {
        t.as_i64()
            .map(|ms| output::rfc3339(ms.div_euclid(1000), None))
            .unwrap_or_default()
    };
    v["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| a.owner.as_deref().is_none_or(|o| m["owner"] == o))
        .filter(|m| !a.no_owner || m["owner"].as_str().is_none_or(str::is_empty))
        .filter(|m| !a.overdue || m["overdue"] == true)
        .map(|m| {
            serde_json::json!({
                "path": m["path"],
                "kind": m["kind"],
                "owner": m["owner"],
                "current_version": m["current_version"].to_string(),
                "rotation_period_days": m["rotation_period_days"].to_string(),
                "next_rotation": time(&m["next_rotation_ms"]),
                "overdue": if m["overdue"] == true { "OVERDUE" } else { "" },
                "last_read": match m["last_read"].as_object() {
                    Some(r) => format!("{} by {}", time(&r["time_ms"]), r["identity"].as_str().unwrap_or("?")),
                    None => String::new(),
                },
            })
        })
        .collect()
}

#[derive(Args)]
pub struct RewrapArgs {
    /// The key whose ciphertexts are re-encrypted to its newest (primary) version.
    #[arg(long)]
    key: String,
    /// Files that each hold one ciphertext (base64 as printed by
    /// `strongroom encrypt --plaintext`, or raw bytes); rewritten in place.
    #[arg(long = "in", num_args = 1.., conflicts_with = "ciphertexts", required_unless_present = "ciphertexts")]
    inputs: Vec<String>,
    /// A file with one base64 ciphertext per line (`-` for stdin); the
    /// rewrapped ciphertexts are written in the same order to --out (default stdout).
    #[arg(long)]
    ciphertexts: Option<String>,
    /// Where --ciphertexts output goes (`-` = stdout).
    #[arg(long, requires = "ciphertexts")]
    out: Option<String>,
    /// Encryption context entry key=value (repeatable), the same for every ciphertext.
    #[arg(long = "context")]
    context: Vec<String>,
    /// Also re-encrypt ciphertexts made under a compromised version (audited;
    /// needs strongroom:DecryptCompromised).
    #[arg(long)]
    allow_compromised: bool,
}

/// A progress bar on stderr (redrawn in place on a terminal, a final line otherwise).
struct Progress {
    total: usize,
    done: usize,
    tty: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        let p = Progress {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
        };
        p.draw();
        p
    }
    fn draw(&self) {
        if !self.tty {
            return;
        }
        let width = 30;
        let filled = (self.done * width).checked_div(self.total).unwrap_or(width);
        eprint!(
            "\rrewrap [{}{}] {}/{}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.done,
            self.total
        );
        let _ = std::io::stderr().flush();
    }
    fn step(&mut self) {
        self.done += 1;
        self.draw();
    }
    fn finish(&self, version: &Value) {
        if self.tty {
            eprintln!();
        }
        eprintln!(
            "rewrap: {}/{} re-encrypted to version {version}",
            self.done,
            super::output::plural(self.total as u64, "ciphertext", "ciphertexts")
        );
    }
}

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

fn rewrap_one(
    client: &Client,
    a: &RewrapArgs,
    ctx: &Value,
    ct_b64: &str,
    what: &str,
) -> Result<(String, Value), CliError> {
    let v = client
        .call(
            "POST",
            "/v1/reencrypt",
            Some(&json!({
                "ciphertext": ct_b64,
                "source_key": a.key,
                "source_context": ctx,
                "destination_key": a.key,
                "destination_context": ctx,
                "allow_compromised": a.allow_compromised,
            })),
        )
        .map_err(|e| CliError::new(format!("{what}: {e}")))?;
    let ct = v["ciphertext"]
        .as_str()
        .ok_or_else(|| CliError::new(format!("{what}: the server answered without a ciphertext")))?
        .to_string();
    Ok((ct, v["version"].clone()))
}

fn write_atomically(path: &str, bytes: &[u8]) -> Result<(), CliError> {
    let tmp = format!("{path}.rewrap-tmp");
    let res = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::new(format!("cannot write {path:?}: {e}")));
    }
    Ok(())
}

pub fn rewrap(a: RewrapArgs, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    let ctx = json!(pairs("--context", &a.context)?);
    let mut version = Value::Null;
    if let Some(src) = &a.ciphertexts {
        let mut text = String::new();
        if src == "-" {
            std::io::stdin().read_to_string(&mut text)
        } else {
            std::fs::File::open(src).and_then(|mut f| f.read_to_string(&mut text))
        }
        .map_err(|e| CliError::new(format!("cannot read --ciphertexts {src:?}: {e}")))?;
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let mut p = Progress::new(lines.iter().filter(|l| !l.is_empty()).count());
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            if !line.is_empty() {
                let (ct, v) = rewrap_one(&client, &a, &ctx, line, &format!("line {}", i + 1))?;
                out.push_str(&ct);
                version = v;
                p.step();
            }
            out.push('\n');
        }
        match a.out.as_deref() {
            None | Some("-") => {
                std::io::stdout()
                    .lock()
                    .write_all(out.as_bytes())
                    .map_err(|e| CliError::new(format!("write to stdout: {e}")))?;
            }
            Some(path) => write_atomically(path, out.as_bytes())?,
        }
        p.finish(&version);
        return Ok(());
    }
    let mut p = Progress::new(a.inputs.len());
    let mut files = Vec::new();
    for path in &a.inputs {
        let bytes =
            std::fs::read(path).map_err(|e| CliError::new(format!("cannot read {path:?}: {e}")))?;
        if bytes.starts_with(b"SRENV") {
            return Err(CliError::new(format!(
                "{path:?} is an envelope file; rewrap handles single ciphertexts only. Decrypt and encrypt it again with `strongroom decrypt --in`/`strongroom encrypt --in`"
            )));
        }
        let text = std::str::from_utf8(&bytes).ok().map(str::trim);
        let (b64, is_text) = match text.filter(|t| STANDARD.decode(t).is_ok()) {
            Some(t) => (t.to_string(), true),
            None => (STANDARD.encode(&bytes), false),
        };
        let (ct, v) = rewrap_one(&client, &a, &ctx, &b64, path)?;
        let new = if is_text {
            format!("{ct}\n").into_bytes()
        } else {
            STANDARD
                .decode(&ct)
                .map_err(|_| CliError::new("the server answered with invalid base64"))?
        };
        write_atomically(path, &new)?;
        files.push(path.clone());
        version = v;
        p.step();
    }
    p.finish(&version);
    if fmt == Format::Json {
        output::json(&json!({ "rewrapped": files, "version": version }));
    }
    Ok(())
}
