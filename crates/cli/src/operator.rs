//! `strongroom operator …`: init, unseal, seal, status, rekey,
//! generate-root, revoke-root, and the offline migrate-seal.
//!
//! Unseal shares are secrets: typed at a terminal they are read without
//! echo; they can also come on stdin or from `--shares-file` (one per
//! line). A share given as an argument still works, with a warning, since
//! it lands in shell history and the process list.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use serde_json::{json, Value};
use zeroize::Zeroize;

use super::client::Client;
use super::output::{self, Format};
use super::{seal, CliError};

#[derive(Subcommand)]
pub enum OperatorCmd {
    /// Initialize: create the root key and print the unseal shares and root token ONCE.
    Init {
        /// Number of shares (Shamir seal; default 5). Not with seal = "pkcs11".
        #[arg(long)]
        shares: Option<u8>,
        /// Shares needed to unseal (Shamir seal; default 3).
        #[arg(long)]
        threshold: Option<u8>,
    },
    /// Submit an unseal share: typed hidden at a terminal, or one line on stdin.
    Unseal {
        /// The share as an argument (works, but stays in shell history: prefer typing it when asked).
        share: Option<String>,
        /// Submit every share in this file (one per line) until the server is unsealed.
        #[arg(long, conflicts_with_all = ["share", "hsm"])]
        shares_file: Option<String>,
        /// PKCS#11 seal: ask the HSM to unseal again (after fixing what `status` shows).
        #[arg(long, conflicts_with = "share")]
        hsm: bool,
    },
    /// Seal the server: all key material leaves memory.
    Seal,
    /// Show initialization and seal status.
    Status,
    /// New unseal shares and threshold from a quorum of the current ones (which then stop working).
    Rekey {
        /// Number of new shares.
        #[arg(long)]
        shares: u8,
        /// New shares needed to unseal.
        #[arg(long)]
        threshold: u8,
        /// The current shares, one per line (default: typed hidden, or stdin).
        #[arg(long)]
        shares_file: Option<String>,
    },
    /// A new root token from a quorum of unseal shares, or (HSM seal, server stopped) --config.
    GenerateRoot {
        /// The current shares, one per line (default: typed hidden, or stdin).
        #[arg(long)]
        shares_file: Option<String>,
        /// PKCS#11 seal, offline: the stopped server's config file; the HSM unwraps the root key.
        #[arg(long, conflicts_with = "shares_file")]
        config: Option<String>,
    },
    /// Revoke the root token (call it with the root token itself). Get one back with generate-root.
    RevokeRoot,
    /// Offline, server stopped: move the root key between Shamir shares and a PKCS#11 HSM.
    MigrateSeal(seal::MigrateArgs),
}

/// Share texts, wiped from memory when dropped.
pub struct ShareList(pub Vec<String>);

impl Drop for ShareList {
    fn drop(&mut self) {
        for s in &mut self.0 {
            s.zeroize();
        }
    }
}

/// Reads shares: from `file` (every non-empty line), else typed hidden at
/// a terminal, else from stdin (one per line). `count` is how many to ask
/// for; `None` reads until an empty line or the end of input.
pub fn read_shares(file: Option<&str>, count: Option<usize>) -> Result<ShareList, CliError> {
    let mut shares = ShareList(Vec::new());
    if let Some(path) = file.filter(|p| *p != "-") {
        let mut text = std::fs::read_to_string(path)
            .map_err(|e| CliError::new(format!("cannot read --shares-file {path:?}: {e}")))?;
        shares.0 = non_empty_lines(&text);
        text.zeroize();
        return Ok(shares);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let mut i = 1;
        loop {
            if count.is_some_and(|n| i > n) {
                break;
            }
            let prompt = match count {
                Some(1) => "Unseal share (input is hidden): ".to_string(),
                Some(n) => format!("Unseal share {i} of {n} (input is hidden): "),
                None => format!("Unseal share {i} (input is hidden; empty line to finish): "),
            };
            let mut line = rpassword::prompt_password(prompt).map_err(|e| {
                CliError::new(format!("cannot read the share from the terminal: {e}"))
            })?;
            let share = line.trim().to_string();
            line.zeroize();
            if share.is_empty() {
                if count.is_none() {
                    break;
                }
                continue;
            }
            shares.0.push(share);
            i += 1;
        }
        return Ok(shares);
    }
    for line in stdin.lock().lines() {
        let mut line =
            line.map_err(|e| CliError::new(format!("cannot read shares from stdin: {e}")))?;
        let share = line.trim().to_string();
        line.zeroize();
        if share.is_empty() {
            if count.is_none() && !shares.0.is_empty() {
                break;
            }
            continue;
        }
        shares.0.push(share);
        if count.is_some_and(|n| shares.0.len() >= n) {
            break;
        }
    }
    Ok(shares)
}

fn non_empty_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn warn_share_argument() {
    eprintln!(
        "warning: a share given as an argument stays in your shell history and is visible in the process list; run `strongroom operator unseal` without it and type the share when asked (hidden), or pipe it on stdin"
    );
}

/// The current Shamir threshold, for asking exactly that many shares.
fn current_threshold(client: &Client) -> Result<usize, CliError> {
    let v = client.call("GET", "/v1/sys/seal-status", None)?;
    if v["seal_type"] == "pkcs11" {
        return Err(CliError::new(
            "this server is sealed by the PKCS#11 HSM and has no unseal shares: rekey does not apply, and generate-root runs offline with the server stopped: strongroom operator generate-root --config FILE",
        ));
    }
    match v["threshold"].as_u64() {
        Some(n) if n > 0 => Ok(n as usize),
        _ => Err(CliError::new(
            "the server is not initialized; run `strongroom operator init` first",
        )),
    }
}

const STATUS_FIELDS: &[(&str, &str)] = &[
    ("initialized", "Initialized"),
    ("sealed", "Sealed"),
    ("threshold", "Threshold"),
    ("shares", "Shares"),
    ("progress", "Unseal progress"),
    ("storage", "Storage"),
    ("seal_type", "Seal type"),
    ("seal_error", "Seal error"),
];

fn print_shares(v: &Value) {
    let empty = vec![];
    for (i, s) in v["shares"].as_array().unwrap_or(&empty).iter().enumerate() {
        out!("Unseal share {}: {}", i + 1, s.as_str().unwrap_or_default());
    }
}

fn print_unseal_progress(v: &Value) {
    if v["sealed"].as_bool() == Some(false) {
        out!("Unsealed.");
    } else {
        out!(
            "Share accepted: {} of {} needed. Still sealed.",
            v["progress"],
            v["threshold"]
        );
    }
}

pub fn run(c: OperatorCmd, fmt: Format, side: &dyn super::ServerSide) -> Result<(), CliError> {
    // Offline migrate-seal calls no server: the client is made per command.
    let client = Client::from_env;
    match c {
        OperatorCmd::MigrateSeal(a) => return side.migrate_seal(a, fmt),
        OperatorCmd::Init { shares, threshold } => {
            let mut body = json!({});
            if let Some(n) = shares {
                body["shares"] = json!(n);
            }
            if let Some(n) = threshold {
                body["threshold"] = json!(n);
            }
            let v = client()?.call("POST", "/v1/sys/init", Some(&body))?;
            let shares = v["shares"].as_array().map_or(0, Vec::len);
            let threshold = v["threshold"].as_u64().unwrap_or(0);
            match fmt {
                Format::Json => output::json(&v),
                Format::Table if v["seal_type"] == "pkcs11" => seal::print_pkcs11_init(&v),
                Format::Table => {
                    print_shares(&v);
                    out!();
                    out!(
                        "Root token: {}",
                        v["root_token"].as_str().unwrap_or_default()
                    );
                    out!();
                    out!("These shares and the root token are shown ONCE and are not stored.");
                    out!("Give each share to a different custodian. Unsealing needs {threshold} of {shares};");
                    out!("each custodian runs this and types their share when asked (it is not echoed):");
                    out!("    strongroom operator unseal");
                }
            }
        }
        OperatorCmd::Unseal { hsm: true, .. } => {
            let v = client()?.call("POST", "/v1/sys/unseal", Some(&json!({ "hsm": true })))?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => out!("Unsealed by the PKCS#11 HSM."),
            }
        }
        OperatorCmd::Unseal {
            share, shares_file, ..
        } => {
            let shares = match (share, shares_file) {
                (Some(s), _) => {
                    warn_share_argument();
                    ShareList(vec![s])
                }
                (None, Some(f)) => read_shares(Some(&f), None)?,
                (None, None) => read_shares(None, Some(1))?,
            };
            if shares.0.is_empty() {
                return Err(CliError::new("no share was given"));
            }
            let client = client()?;
            let mut last = Value::Null;
            for s in &shares.0 {
                last = client.call("POST", "/v1/sys/unseal", Some(&json!({ "share": s })))?;
                if last["sealed"].as_bool() == Some(false) {
                    break;
                }
            }
            match fmt {
                Format::Json => output::json(&last),
                Format::Table => print_unseal_progress(&last),
            }
        }
        OperatorCmd::Seal => {
            let v = client()?.call("POST", "/v1/sys/seal", None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => out!("Sealed."),
            }
        }
        OperatorCmd::Status => {
            let v = client()?.call("GET", "/v1/sys/seal-status", None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => output::record(&v, STATUS_FIELDS),
            }
        }
        OperatorCmd::Rekey {
            shares,
            threshold,
            shares_file,
        } => {
            let need = current_threshold(&client()?)?;
            let old = read_shares(shares_file.as_deref(), Some(need))?;
            let v = client()?.call(
                "POST",
                "/v1/sys/rekey",
                Some(&json!({ "shares": old.0, "new_shares": shares, "new_threshold": threshold })),
            )?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    print_shares(&v);
                    out!();
                    out!("These new shares are shown ONCE and are not stored. Unsealing now needs {threshold} of {shares}.");
                    out!("The old shares no longer unseal this server: destroy them.");
                }
            }
        }
        OperatorCmd::GenerateRoot {
            config: Some(config),
            ..
        } => {
            let token = side.generate_root_offline(&config)?;
            let token = String::from_utf8_lossy(token.expose()).into_owned();
            match fmt {
                Format::Json => output::json(&json!({ "root_token": token })),
                Format::Table => {
                    out!("Root token: {token}");
                    out!();
                    out!("It replaces the previous root token once the server starts, and is shown ONCE.");
                    out!("When the work is done, retire it: STRONGROOM_TOKEN=<this token> strongroom operator revoke-root");
                }
            }
        }
        OperatorCmd::GenerateRoot { shares_file, .. } => {
            let need = current_threshold(&client()?)?;
            let quorum = read_shares(shares_file.as_deref(), Some(need))?;
            let v = client()?.call(
                "POST",
                "/v1/sys/generate-root",
                Some(&json!({ "shares": quorum.0 })),
            )?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    out!(
                        "Root token: {}",
                        v["root_token"].as_str().unwrap_or_default()
                    );
                    out!();
                    out!("It replaces the previous root token and is shown ONCE. When the work is done, retire it:");
                    out!("    STRONGROOM_TOKEN=<this token> strongroom operator revoke-root");
                }
            }
        }
        OperatorCmd::RevokeRoot => {
            let v = client()?.call("POST", "/v1/sys/revoke-root", None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    out!("Root token revoked.");
                    out!("A new one needs a quorum of unseal shares: strongroom operator generate-root");
                }
            }
        }
    }
    let _ = std::io::stdout().flush();
    Ok(())
}
