//! The server side of the binary: what the CLI hands over
//! ([`strongroom_cli::ServerSide`]) runs here, on strongroom-server: the
//! server itself, the offline operator tools that open the storage and the
//! seal (migrate-seal, offline generate-root, backup restore), and the load
//! generator (strongroom-bench), and the Kubernetes KMS plugin
//! (strongroom-kms-plugin).

use std::io::{IsTerminal as _, Write as _};

use base64::Engine as _;
use serde_json::json;

use strongroom_cli::output::{self, Format};
use strongroom_cli::seal::{MigrateArgs, SealTarget};
use strongroom_cli::{CliError, ServerArgs};
use strongroom_server::config::Config;
use strongroom_service::node::migrate;
use strongroom_store_sql::sqlite::SqliteStore;

/// The binary's [`strongroom_cli::ServerSide`].
pub struct Binary;

impl strongroom_cli::ServerSide for Binary {
    fn serve(&self, args: ServerArgs) -> Result<(), CliError> {
        serve(args)
    }
    fn migrate_seal(&self, args: MigrateArgs, fmt: Format) -> Result<(), CliError> {
        migrate(args, fmt)
    }
    fn generate_root_offline(
        &self,
        config: &str,
    ) -> Result<strongroom_core::crypto::SecretBytes, CliError> {
        generate_root_offline(config)
    }
    fn restore_backup(
        &self,
        file: &str,
        config: &str,
        shares_file: Option<&str>,
        fmt: Format,
    ) -> Result<(), CliError> {
        restore(file, config, shares_file, fmt)
    }
    fn bench(&self, args: Vec<std::ffi::OsString>, fmt: Format) -> Result<(), CliError> {
        strongroom_bench::main_args(args, fmt)
    }
    fn kms_plugin(&self, args: Vec<std::ffi::OsString>) -> Result<(), CliError> {
        init_logging();
        strongroom_kms_plugin::main_args(args)
    }
}

/// Logs to stderr at `STRONGROOM_LOG` (default info): the server's and the
/// KMS plugin's.
fn init_logging() {
    let level = std::env::var("STRONGROOM_LOG").unwrap_or_else(|_| "info".into());
    let level = match level.to_ascii_lowercase().as_str() {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn serve(a: ServerArgs) -> Result<(), CliError> {
    init_logging();
    let mode = if a.dev {
        strongroom_server::Mode::Dev {
            root_token: a.dev_root_token,
            dual_control: a.dev_dual_control,
            no_audit: a.dev_no_audit,
            aws_credentials: a.dev_aws_credentials,
            audit_path: a.audit_path,
        }
    } else {
        let path = a.config.ok_or_else(|| {
            CliError::new("give --config strongroom.toml for a real server, or --dev for a development server")
        })?;
        strongroom_server::Mode::Production(strongroom_server::config::Config::load(&path)?)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the runtime: {e}")))?;
    rt.block_on(strongroom_server::run(strongroom_server::Options {
        mode,
        listen: a.listen,
    }))?;
    Ok(())
}

/// `operator generate-root --config FILE` for the PKCS#11 seal, with the
/// server stopped (it reads the root token at unseal): the HSM named in the
/// config unwraps the root key and a new root token is stored.
fn generate_root_offline(config: &str) -> Result<strongroom_core::crypto::SecretBytes, CliError> {
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
    let store = SqliteStore::open(&path).map_err(strongroom_core::error::Error::from)?;
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
    let rng = strongroom_core::crypto::rng::system();
    let audit = strongroom_service::node::AuditConfig {
        path: cfg.audit_path().into(),
        checkpoint_every: cfg.audit_checkpoint_every,
        enabled: true,
        rotation: cfg.audit_rotation(),
        low_space_bytes: cfg.audit_low_space_bytes,
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
fn migrate(a: MigrateArgs, fmt: Format) -> Result<(), CliError> {
    let cfg = Config::load(&a.config)?;
    let path = cfg.storage_path.clone().unwrap_or_default();
    if !std::path::Path::new(&path).exists() {
        return Err(CliError::new(format!(
            "the storage {path:?} named by {} does not exist",
            a.config
        )));
    }
    let store = SqliteStore::open(&path).map_err(strongroom_core::error::Error::from)?;
    let settings = cfg.pkcs11_settings(&|k| std::env::var(k).ok())?;
    let rng = strongroom_core::crypto::rng::system();
    let from = migrate::current_kind(&store)?.unwrap_or_default();
    let (to, new_shares) = match a.to {
        SealTarget::Pkcs11 => {
            if from == "pkcs11" {
                return Err(CliError::new(
                    "the storage is already sealed by the PKCS#11 HSM; nothing to do",
                ));
            }
            let shares = strongroom_cli::operator::read_shares(a.shares_file.as_deref(), None)?;
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
            strongroom_cli::out!("Migrated the seal from {from} to {to}: the wrapped root key and seal configuration were replaced in one transaction; no data key changed.");
            if to == "shamir" {
                strongroom_cli::out!();
                for (i, s) in new_shares.iter().enumerate() {
                    strongroom_cli::out!("Unseal share {}: {s}", i + 1);
                }
                strongroom_cli::out!();
                strongroom_cli::out!(
                    "These shares are shown ONCE and are not stored. Unsealing needs {} of {}.",
                    a.threshold,
                    a.shares
                );
            } else {
                strongroom_cli::out!("The old unseal shares no longer unseal anything.");
            }
            if config_says != to {
                strongroom_cli::out!();
                strongroom_cli::out!(
                    "Now set seal = \"{to}\" in {} before starting the server.",
                    a.config
                );
            }
        }
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

fn restore(
    file: &str,
    config: &str,
    shares_file: Option<&str>,
    fmt: Format,
) -> Result<(), CliError> {
    let blob =
        std::fs::read(file).map_err(|e| CliError::new(format!("cannot read {file}: {e}")))?;
    let cfg = strongroom_server::config::Config::load(config)?;
    let location = cfg.storage_path.clone().unwrap_or_default();
    if location.is_empty() {
        return Err(CliError::new(format!("{config} does not set storage_path")));
    }
    let store = strongroom_store_sql::open_location(&location)
        .map_err(strongroom_core::error::Error::from)?;
    let sealed_by_hsm = strongroom_engine::keys::engine::backup::read_header(&blob)
        .ok()
        .map(|h| h.seal_config)
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .and_then(|c| serde_json::from_slice::<serde_json::Value>(&c).ok())
        .is_some_and(|c| c["type"] == "pkcs11");
    let shares = if sealed_by_hsm {
        strongroom_cli::operator::ShareList(Vec::new())
    } else {
        strongroom_cli::operator::read_shares(shares_file, None)?
    };
    let hsm = || cfg.pkcs11_settings(&|k| std::env::var(k).ok());
    let r = strongroom_service::node::restore::restore(store.as_ref(), &blob, &shares.0, &hsm)?;
    if fmt == Format::Json {
        output::json(&json!({
            "seal": r.seal, "keys": r.keys, "versions": r.versions, "records": r.records,
        }));
    } else {
        println!(
            "Restored {file} into {}: {}, {}, {}, sealed with {}. Start the server and unseal it as before.",
            if strongroom_store_sql::postgres::is_url(&location) { "the PostgreSQL database" } else { location.as_str() },
            output::plural(r.keys as u64, "key", "keys"),
            output::plural(r.versions as u64, "version", "versions"),
            output::plural(r.records as u64, "record", "records"),
            r.seal
        );
    }
    Ok(())
}
