//! The server: configuration, seal start-up, TLS, the accept loop, the
//! HTTP layers every front-end shares ([`http`]: body limit and timeout,
//! metrics, the audit of refused requests), HA, the background tasks, and
//! the offline operator tools ([`offline`]).

pub mod config;
pub use strongroom_core::file_modes;
pub mod ha;
mod hsm;
pub mod http;
pub mod listener;
pub mod metrics;
pub use strongroom_service::scheduler;
pub use strongroom_service::sweep;
pub mod tls;

use std::sync::Arc;

use tokio::net::TcpListener;

use config::Config;
use strongroom_api as api;
use strongroom_core::clock::{SharedClock, SystemClock};
use strongroom_core::crypto::rng;
use strongroom_core::crypto::SecretBytes;
use strongroom_core::error::Error;
use strongroom_engine::keys::engine::EngineConfig;
use strongroom_service::gate::DualControl;
use strongroom_service::node::{AuditConfig, Seal};
use strongroom_store::Store;
use strongroom_store_sql::sqlite::SqliteStore;

/// How the server was asked to run.
#[allow(clippy::large_enum_variant)] // built once at start
pub enum Mode {
    /// In-memory, auto-unsealed, plain HTTP.
    Dev {
        root_token: Option<String>,
        /// Turn dual control on in dev mode (off by default there).
        dual_control: bool,
        /// Turn the audit log off (benchmarks only).
        no_audit: bool,
        /// `AKID:SECRET` accepted by the AWS front-end (as root).
        aws_credentials: Option<String>,
        /// Audit log file; a fresh file in the temp directory if absent.
        audit_path: Option<String>,
    },
    /// The real server from a config file.
    Production(Config),
}

pub struct Options {
    pub mode: Mode,
    /// Overrides the listen address (dev mode flag, or tests).
    pub listen: Option<String>,
}

pub async fn run(opts: Options) -> Result<(), Error> {
    // Dev mode runs on a clock that `POST /v1/sys/dev/advance-clock` moves forward.
    let dev_clock = matches!(opts.mode, Mode::Dev { .. }).then(|| {
        Arc::new(strongroom_core::clock::OffsetClock::new(Arc::new(
            SystemClock,
        )))
    });
    let clock: SharedClock = match &dev_clock {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    let rng = rng::system();
    let dev_root_token = opts.mode_token();
    let (dev_audit_path, dev_dual_control, dev_no_audit) = match &opts.mode {
        Mode::Dev {
            audit_path,
            dual_control,
            no_audit,
            ..
        } => (audit_path.clone(), *dual_control, *no_audit),
        Mode::Production(_) => (None, false, false),
    };
    let dev_aws = match &opts.mode {
        Mode::Dev {
            aws_credentials: Some(c),
            ..
        } => {
            let (id, secret) = c
                .split_once(':')
                .filter(|(i, s)| !i.is_empty() && !s.is_empty())
                .ok_or_else(|| {
                    Error::InvalidArgument(
                        "--dev-aws-credentials must be ACCESS_KEY_ID:SECRET".into(),
                    )
                })?;
            Some((
                id.to_string(),
                Arc::new(SecretBytes::from_slice(secret.as_bytes())),
            ))
        }
        _ => None,
    };
    let (cfg, store, dev) = match opts.mode {
        Mode::Dev { .. } => {
            let mut cfg = Config {
                tls_disable: true,
                ..Config::default()
            };
            // The listener limits can be tried on a dev server too.
            cfg.apply_limits_env(&|k| std::env::var(k).ok())?;
            cfg.validate_limits()?;
            // And the Vault front-end's mounts (docs/VAULT.md, "Mounts").
            cfg.apply_vault_env(&|k| std::env::var(k).ok());
            cfg.vault_settings()
                .validate()
                .map_err(Error::InvalidArgument)?;
            // The XKS proxy can be tried on a dev server too.
            cfg.apply_xks_env(&|k| std::env::var(k).ok());
            cfg.validate_xks()?;
            // And TLS with client certificates: STRONGROOM_TLS_CERT and
            // STRONGROOM_TLS_KEY turn TLS on (docs/ACCESS.md).
            cfg.apply_tls_env(&|k| std::env::var(k).ok())?;
            if cfg.tls_cert.is_some() || cfg.tls_key.is_some() {
                if cfg.tls_cert.is_none() || cfg.tls_key.is_none() {
                    return Err(Error::InvalidArgument(
                        "a dev server serves TLS only with both STRONGROOM_TLS_CERT and STRONGROOM_TLS_KEY set".into(),
                    ));
                }
                cfg.tls_disable = false;
            }
            cfg.validate_client_auth()?;
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(":memory:")?);
            (cfg, store, true)
        }
        Mode::Production(cfg) => {
            let path = cfg.storage_path.clone().unwrap_or_default();
            // A postgres:// URL selects PostgreSQL; anything else is a SQLite file.
            let store = strongroom_store_sql::open_location(&path).map_err(|e| {
                // Clients get a generic message; the operator starting the server needs this one.
                let e = Error::from(e);
                tracing::error!(error = %e, "cannot open storage");
                e
            })?;
            (cfg, store, false)
        }
    };
    let listen = opts.listen.unwrap_or_else(|| cfg.listen.clone());
    let audit_path = match &dev_audit_path {
        Some(p) => p.clone(),
        None if dev => std::env::temp_dir()
            .join(format!("strongroom-dev-{}-audit.jsonl", std::process::id()))
            .display()
            .to_string(),
        None => cfg.audit_path(),
    };
    if !dev {
        // The database was already opened (created 0600 by the store).
        let mut files = vec![("audit log", audit_path.clone())];
        if let Some(db) = cfg
            .storage_path
            .clone()
            .filter(|p| !strongroom_store_sql::postgres::is_url(p))
        {
            files.push(("SQLite WAL", format!("{db}-wal")));
            files.push(("SQLite shared-memory file", format!("{db}-shm")));
            files.push(("SQLite database", db));
        }
        files.extend(cfg.tls_key.clone().map(|k| ("TLS private key", k)));
        files.extend(cfg.pkcs11_pin_file.clone().map(|k| ("HSM PIN file", k)));
        file_modes::warn_if_loose(&files);
    }
    let audit_cfg = AuditConfig {
        path: audit_path.clone().into(),
        checkpoint_every: cfg.audit_checkpoint_every,
        enabled: !dev_no_audit,
        rotation: cfg.audit_rotation(),
        low_space_bytes: cfg.audit_low_space_bytes,
    };
    let shared_store = store.clone();
    let rotation_hooks =
        config::hooks::rotation_hooks(&cfg.secret_rotation_hook, &|k| std::env::var(k).ok())?;
    if !rotation_hooks.names().is_empty() {
        tracing::info!(hooks = ?rotation_hooks.names(), "secret rotation hooks configured");
    }
    let seal = Arc::new(hsm::configure(
        Seal::open(store, clock, rng, EngineConfig::default(), audit_cfg)?
            .with_rotation_hooks(rotation_hooks),
        &cfg,
        dev,
    )?);
    let tls = if cfg.tls_disable {
        None
    } else {
        Some(tls::acceptor(
            cfg.tls_cert.as_deref().unwrap_or_default(),
            cfg.tls_key.as_deref().unwrap_or_default(),
            cfg.client_auth(),
        )?)
    };
    if let Some((ca, mode)) = cfg.client_auth() {
        tracing::info!(
            client_ca = %ca,
            required = mode == config::ClientAuth::Required,
            "mutual TLS: client certificates are verified against tls_client_ca"
        );
    }
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| Error::InvalidArgument(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("local address: {e}")))?;
    let scheme = if tls.is_some() { "https" } else { "http" };

    let mut dev_token = None;
    if dev {
        let token = dev_root_token.map(|t| SecretBytes::new(t.into_bytes()));
        let seal2 = seal.clone();
        dev_token = Some(
            tokio::task::spawn_blocking(move || seal2.init_dev(token))
                .await
                .map_err(|e| Error::Internal(format!("dev init: {e}")))??,
        );
    } else if cfg.tls_disable {
        tracing::warn!(
            "TLS is disabled (tls_disable = true): traffic, tokens and plaintext travel in clear"
        );
    }

    let (registry, listener_stats) = listener::new_registry();
    let service = Arc::new(strongroom_service::Service {
        seal: seal.clone(),
        auth_failures: api::auth_limit::AuthFailures::new(cfg.auth_failure_limits()),
        arn: strongroom_service::naming::ArnConfig {
            region: cfg.aws_region.clone().unwrap_or_else(|| "us-east-1".into()),
            account_id: cfg.aws_account_id.clone(),
        },
        default_rotation_days: cfg.default_rotation_days,
        dev_clock,
        tls: tls.is_some(),
        dual_control: if (dev && !dev_dual_control) || !cfg.dual_control {
            DualControl::off()
        } else {
            let default = DualControl::default_on();
            DualControl {
                approvals: cfg.dual_control_approvals,
                actions: cfg
                    .dual_control_actions
                    .clone()
                    .unwrap_or(default.actions.clone()),
                ..default
            }
        },
    });
    api::auth_limit::spawn_flush(service.clone());
    let app = http::app(
        service,
        http::HttpSettings {
            max_body: cfg.max_request_bytes,
            body_read_timeout: cfg.body_read_timeout(),
            listener: Some(listener_stats),
            dev_mode: dev,
            aws: strongroom_aws::AwsSettings {
                region: cfg.aws_region.clone(),
                max_skew_secs: cfg.aws_max_skew_secs,
                dev_credentials: dev_aws.clone(),
            },
            vault: cfg.vault_settings(),
            ui: cfg.ui,
            xks: cfg
                .xks_path_prefix
                .clone()
                .map(|path_prefix| strongroom_xks::XksSettings {
                    path_prefix,
                    keys: cfg.xks_keys.clone(),
                    region: cfg.aws_region.clone(),
                    max_skew_secs: cfg.aws_max_skew_secs,
                    dev_credentials: dev_aws.clone(),
                }),
        },
    );

    println!(
        "Strongroom {} listening on {scheme}://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    if dev_no_audit {
        println!("Audit log: OFF (--dev-no-audit)");
    } else {
        println!("Audit log: {audit_path}");
    }
    if let Some(t) = &dev_token {
        eprintln!();
        eprintln!("WARNING: DEVELOPMENT MODE. Storage is in memory and lost on exit, the server");
        if scheme == "https" {
            eprintln!("WARNING: unsealed itself. Never use --dev in production.");
        } else {
            eprintln!("WARNING: unsealed itself, and TLS is off. Never use --dev in production.");
        }
        if dev_dual_control {
            eprintln!("Dual control is ON (--dev-dual-control).");
        } else {
            eprintln!("Dual control is OFF in dev mode; turn it on with --dev-dual-control.");
        }
        eprintln!();
        println!("Root token: {}", String::from_utf8_lossy(t.expose()));
        println!();
        println!("    export STRONGROOM_ADDR={scheme}://{addr}");
        println!(
            "    export STRONGROOM_TOKEN={}",
            String::from_utf8_lossy(t.expose())
        );
        println!();
        if let Some((id, secret)) = &dev_aws {
            println!(
                "AWS KMS endpoint at {scheme}://{addr} (any region; this access key acts as root):"
            );
            println!();
            println!(
                "    export AWS_ACCESS_KEY_ID={id} AWS_SECRET_ACCESS_KEY={} AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1",
                String::from_utf8_lossy(secret.expose())
            );
            println!("    export AWS_ENDPOINT_URL_KMS={scheme}://{addr}");
            println!();
        }
    } else if !hsm::start(&seal).await? {
        let st = seal.status()?;
        if !st.initialized {
            println!("Not initialized: run `strongroom operator init --shares 5 --threshold 3`");
        } else {
            println!(
                "Sealed: run `strongroom operator unseal` with {} of {} shares",
                st.threshold, st.shares
            );
        }
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();

    spawn_sweep(seal.clone(), cfg.sweep_interval_secs);
    ha::spawn(seal.clone(), &shared_store);
    listener::serve(
        listener,
        app,
        tls,
        cfg.listener_limits(),
        registry,
        shutdown_signal(),
    )
    .await;
    if dev && dev_audit_path.is_none() && !dev_no_audit {
        // The dev server's own temp file: gone with its in-memory data on a
        // clean exit. Sealing drops the audit log, whose writer appends its
        // final checkpoint and stops (audit::writer), before the file goes.
        let _ = seal.seal();
        match std::fs::remove_file(&audit_path) {
            Ok(()) => tracing::info!(path = %audit_path, "removed the dev audit log"),
            Err(e) => {
                tracing::warn!(path = %audit_path, error = %e, "could not remove the dev audit log")
            }
        }
    }
    Ok(())
}

impl Options {
    fn mode_token(&self) -> Option<String> {
        match &self.mode {
            Mode::Dev { root_token, .. } => root_token.clone(),
            Mode::Production(_) => None,
        }
    }
}

/// Destroys keys whose deletion window has ended and rotates keys whose
/// rotation is due, on a fixed interval.
fn spawn_sweep(seal: Arc<Seal>, secs: u64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs));
        let mut purge_pending = false;
        loop {
            tick.tick().await;
            sweep::sweep_once(&seal, &mut purge_pending).await;
            scheduler::rotate_once(&seal).await;
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
