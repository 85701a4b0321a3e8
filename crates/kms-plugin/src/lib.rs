//! `strongroom kms-plugin`: a Kubernetes KMS v2 plugin. It serves
//! kube-apiserver's gRPC `KeyManagementService` on a unix socket and answers
//! each call with a request to a Strongroom server, as a client with its own
//! token (docs/KUBERNETES.md). Its own crate, so that gRPC and the async
//! runtime stay out of the CLI crate; the binary hands the command over
//! (`strongroom_cli::ServerSide::kms_plugin`).

pub mod plugin;
pub mod proto;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use strongroom_cli::client::{Client, Settings};
use strongroom_cli::CliError;

use plugin::{Plugin, MAX_CIPHERTEXT};
use proto::KeyManagementServiceServer;

/// A request message larger than this is refused by the gRPC layer before
/// it is decoded. Real requests are far smaller (a 32-byte seed, or a
/// ciphertext and key_id of at most 1 KiB each, plus annotations).
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(clap::Args)]
pub struct PluginArgs {
    /// The unix socket to serve on (the `endpoint` of the
    /// EncryptionConfiguration, without `unix://`). A stale socket file is
    /// replaced; any other file there is an error.
    #[arg(long)]
    pub socket: PathBuf,
    /// The Strongroom key that wraps kube-apiserver's seeds (id or alias/NAME;
    /// an ENCRYPT_DECRYPT key).
    #[arg(long)]
    pub key: String,
    /// The Strongroom server.
    #[arg(long, env = "STRONGROOM_ADDR", default_value = strongroom_cli::client::DEFAULT_ADDR)]
    pub addr: String,
    /// The plugin's token (an identity allowed kms:Encrypt, kms:Decrypt and
    /// kms:DescribeKey on the key). Prefer --token-file: a flag's value is
    /// visible in the process list.
    #[arg(long, env = "STRONGROOM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the token (read once, at start); it wins over
    /// --token and STRONGROOM_TOKEN.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// PEM file of the CA that signed the server's certificate (else: the
    /// system trust store for https://).
    #[arg(long, env = "STRONGROOM_CACERT")]
    pub cacert: Option<String>,
    /// PEM client certificate for mutual TLS (with --client-key): the
    /// plugin's identity when the certificate is bound to one and no token
    /// is given (docs/ACCESS.md, "Client certificates").
    #[arg(long, env = "STRONGROOM_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<String>,
    /// The client certificate's PEM private key.
    #[arg(long, env = "STRONGROOM_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<String>,
    /// How long one request to Strongroom may take, in milliseconds
    /// (kube-apiserver's own KMS timeout is 3 s by default).
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
}

/// `strongroom kms-plugin ARGS…`.
pub fn main_args(args: Vec<std::ffi::OsString>) -> Result<(), CliError> {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    #[command(
        name = "strongroom kms-plugin",
        about = "Kubernetes KMS v2 plugin: serves kube-apiserver's KeyManagementService (gRPC) on a unix socket, as a client of a Strongroom server (docs/KUBERNETES.md)"
    )]
    struct PluginCli {
        #[command(flatten)]
        args: PluginArgs,
    }
    let argv = std::iter::once(std::ffi::OsString::from("strongroom kms-plugin")).chain(args);
    match PluginCli::try_parse_from(argv) {
        Ok(p) => run(p.args),
        Err(e) => e.exit(),
    }
}

pub fn run(a: PluginArgs) -> Result<(), CliError> {
    let token = match &a.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| CliError::new(format!("--token-file {}: {e}", path.display())))?
                .trim()
                .to_string(),
        ),
        None => a.token.clone(),
    };
    let has_cert = a.client_cert.as_deref().is_some_and(|c| !c.is_empty());
    if token.as_deref().is_none_or(str::is_empty) && !has_cert {
        return Err(CliError::new(
            "no token and no client certificate: give --token-file FILE (or STRONGROOM_TOKEN) with a token, or --client-cert/--client-key (STRONGROOM_CLIENT_CERT/STRONGROOM_CLIENT_KEY) with a certificate bound to an identity, allowed kms:Encrypt, kms:Decrypt and kms:DescribeKey on the key",
        ));
    }
    let upstream = Client::new(Settings {
        addr: a.addr.clone(),
        token,
        cacert: a.cacert.clone(),
        client_cert: a.client_cert.clone(),
        client_key: a.client_key.clone(),
        timeout: Duration::from_millis(a.timeout_ms.max(1)),
    })?;
    let plugin = Arc::new(Plugin::new(upstream, a.key.clone()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the runtime: {e}")))?;
    rt.block_on(serve(plugin, &a.socket, &a.addr, &a.key))
}

async fn serve(plugin: Arc<Plugin>, socket: &Path, addr: &str, key: &str) -> Result<(), CliError> {
    let listener = bind(socket).await?;
    tracing::info!(
        "KMS v2 plugin on unix://{} for key {key} at {addr} (ciphertexts up to {MAX_CIPHERTEXT} bytes)",
        socket.display()
    );
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let service = KeyManagementServiceServer::new(plugin, MAX_MESSAGE);
    let result = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown())
        .await;
    let _ = std::fs::remove_file(socket);
    tracing::info!("KMS v2 plugin stopped; removed {}", socket.display());
    result.map_err(|e| CliError::new(format!("the gRPC server failed: {e}")))
}

/// Binds the socket, owner-only. A socket file nobody answers on (left by
/// a plugin that was killed) is replaced; a live one or any other file is
/// an error.
async fn bind(socket: &Path) -> Result<tokio::net::UnixListener, CliError> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let shown = socket.display();
    if let Ok(meta) = std::fs::symlink_metadata(socket) {
        if !meta.file_type().is_socket() {
            return Err(CliError::new(format!(
                "--socket {shown}: a file that is not a socket is there; remove it or choose another path"
            )));
        }
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            return Err(CliError::new(format!(
                "--socket {shown}: another process is serving on it"
            )));
        }
        std::fs::remove_file(socket).map_err(|e| {
            CliError::new(format!(
                "--socket {shown}: cannot remove the stale socket: {e}"
            ))
        })?;
    }
    let listener = tokio::net::UnixListener::bind(socket).map_err(|e| {
        CliError::new(format!(
            "--socket {shown}: cannot listen: {e} (does its directory exist and is it writable?)"
        ))
    })?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| CliError::new(format!("--socket {shown}: cannot make it owner-only: {e}")))?;
    Ok(listener)
}

/// SIGTERM (systemd, the kubelet) or Ctrl-C.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
