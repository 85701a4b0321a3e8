//! `strongroom operator migrate-seal` (offline) and the PKCS#11 side of
//! `operator init`'s output.

use std::io::Write;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use super::output::{self, Format};
use super::CliError;
use crate::seal::migrate;
use crate::server::config::Config;
use crate::storage::sqlite::SqliteStore;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SealTarget {
    /// Wrap the root key with the HSM key named in the config.
    Pkcs11,
    /// Wrap the root key with a new unseal key split into shares.
    Shamir,
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The seal to move to.
    #[arg(long, value_enum)]
    to: SealTarget,
    /// The server's config file (storage_path and the pkcs11_* settings).
    #[arg(long)]
    config: String,
    /// --to pkcs11: the current unseal shares, one per line (`-` or omitted: stdin).
    #[arg(long)]
    shares_file: Option<String>,
    /// --to shamir: number of new shares.
    #[arg(long, default_value_t = 5)]
    shares: u8,
    /// --to shamir: shares needed to unseal.
    #[arg(long, default_value_t = 3)]
    threshold: u8,
}

/// What `operator init` prints for a PKCS#11 seal: only the root token.
pub fn print_pkcs11_init(v: &Value) {
    out!(
        "Root token: {}",
        v["root_token"].as_str().unwrap_or_default()
    );
    out!();
    out!("The root key is wrapped by the PKCS#11 HSM; there are no unseal shares.");
    if v["sealed"] == false {
        out!("The server is unsealed and unseals itself at every start.");
    } else {
        out!("The server is still sealed: see `strongroom operator status` for why.");
    }
    out!("The root token is shown ONCE and is not stored.");
}

/// `operator generate-root --config FILE` for the PKCS#11 seal, with the
/// server stopped (it reads the root token at unseal): the HSM named in the
/// config unwraps the root key and a new root token is stored.
pub fn generate_root_offline(config: &str) -> Result<crate::crypto::SecretBytes, CliError> {
    let cfg = Config::load(config)?;
    let path = cfg.storage_path.clone().unwrap_or_default();
    if !std::path::Path::new(&path).exists() {
        return Err(CliError::new(format!(
            "the storage {path:?} named by {config} does not exist"
        )));
    }
    // The server must be stopped: it keeps the root token it read at start,
    // and two processes appending to one audit log would break its chain.
    use std::net::ToSocketAddrs as _;
    let listening = cfg.listen.to_socket_addrs().ok().and_then(|mut a| a.next());
    if let Some(addr) = listening.filter(|a| a.port() != 0) {
        if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500))
            .is_ok()
        {
            return Err(CliError::new(format!(
                "something is listening on {} (the server's listen address in {config}); stop the server first",
                cfg.listen
            )));
        }
    }
    let store = SqliteStore::open(&path).map_err(crate::error::Error::from)?;
    match migrate::current_kind(&store)?.as_deref() {
        Some("pkcs11") => {}
        None => {
            return Err(CliError::new(format!(
                "the storage {path:?} is not initialized; start the server and run `strongroom operator init`"
            )))
        }
        Some(_) => {
            return Err(CliError::new(
                "this storage is sealed with unseal shares: start the server and run `strongroom operator generate-root` with a quorum of them (no --config)",
            ))
        }
    }
    let settings = cfg.pkcs11_settings(&|k| std::env::var(k).ok())?;
    let rng = crate::crypto::rng::system();
    let audit = crate::seal::AuditConfig {
        path: cfg.audit_path().into(),
        checkpoint_every: cfg.audit_checkpoint_every,
        enabled: true,
        rotation: cfg.audit_rotation(),
    };
    Ok(migrate::generate_root_pkcs11(
        &store,
        rng.as_ref(),
        &settings,
        &audit,
    )?)
}

/// Runs the migration on the storage named in the config. The server must
/// be stopped: the command opens the database itself.
pub fn migrate(a: MigrateArgs, fmt: Format) -> Result<(), CliError> {
    let cfg = Config::load(&a.config)?;
    let path = cfg.storage_path.clone().unwrap_or_default();
    if !std::path::Path::new(&path).exists() {
        return Err(CliError::new(format!(
            "the storage {path:?} named by {} does not exist",
            a.config
        )));
    }
    let store = SqliteStore::open(&path).map_err(crate::error::Error::from)?;
    let settings = cfg.pkcs11_settings(&|k| std::env::var(k).ok())?;
    let rng = crate::crypto::rng::system();
    let from = migrate::current_kind(&store)?.unwrap_or_default();
    let (to, new_shares) = match a.to {
        SealTarget::Pkcs11 => {
            if from == "pkcs11" {
                return Err(CliError::new(
                    "the storage is already sealed by the PKCS#11 HSM; nothing to do",
                ));
            }
            let shares = super::operator::read_shares(a.shares_file.as_deref(), None)?;
            migrate::to_pkcs11(&store, rng.as_ref(), &settings, &shares.0)?;
            ("pkcs11", Vec::new())
        }
        SealTarget::Shamir => {
            if from == "shamir" {
                return Err(CliError::new(
                    "the storage is already sealed with Shamir shares; nothing to do",
                ));
            }
            let texts = migrate::to_shamir(&store, rng.as_ref(), &settings, a.shares, a.threshold)?;
            let texts: Vec<String> = texts
                .iter()
                .map(|t| String::from_utf8_lossy(t.expose()).into_owned())
                .collect();
            ("shamir", texts)
        }
    };
    let config_says = cfg.seal.as_str();
    match fmt {
        Format::Json => output::json(&json!({
            "from": from,
            "to": to,
            "shares": new_shares,
            "threshold": if to == "shamir" { a.threshold } else { 0 },
            "config_seal": config_says,
        })),
        Format::Table => {
            out!("Migrated the seal from {from} to {to}: the wrapped root key and seal configuration were replaced in one transaction; no data key changed.");
            if to == "shamir" {
                out!();
                for (i, s) in new_shares.iter().enumerate() {
                    out!("Unseal share {}: {s}", i + 1);
                }
                out!();
                out!(
                    "These shares are shown ONCE and are not stored. Unsealing needs {} of {}.",
                    a.threshold,
                    a.shares
                );
            } else {
                out!("The old unseal shares no longer unseal anything.");
            }
            if config_says != to {
                out!();
                out!(
                    "Now set seal = \"{to}\" in {} before starting the server.",
                    a.config
                );
            }
        }
    }
    let _ = std::io::stdout().flush();
    Ok(())
}
