//! The command line: `strongroom server` and a client command for every API
//! operation. It reads top to bottom: arguments, then one function per
//! command group.

/// `println!` that ignores a closed stdout (e.g. piped into `head`).
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}
/// `print!` that ignores a closed stdout.
#[macro_export]
macro_rules! outp {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

pub mod admin;
pub mod backup;
pub mod client;
pub mod completion;
pub mod dev;
pub mod file;
pub mod kem;
pub mod lifecycle;
pub mod operator;
pub mod output;
pub mod report;
pub mod run;
pub mod scan;
pub mod seal;
pub mod secret;

#[cfg(test)]
mod help_tests;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use client::Client;
use output::Format;

/// A CLI failure: printed as `error: ...` with exit status 1. Two special
/// cases: a request parked for dual-control approval ([`CliError::pending`],
/// exit status 0) and a negative result the command already printed
/// ([`CliError::reported`], exit status 1 with nothing more on stderr).
#[derive(Debug)]
pub struct CliError {
    message: String,
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    Failed,
    Reported,
    /// The server's 202 `ApprovalRequired` body.
    Pending(Box<Value>),
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: ErrorKind::Failed,
        }
    }
    pub fn api(code: &str, message: &str) -> Self {
        Self::new(format!("{code}: {message}"))
    }
    /// The request was accepted as a pending dual-control approval request.
    pub fn pending(body: Value) -> Self {
        Self {
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("the request needs approval")
                .to_string(),
            kind: ErrorKind::Pending(Box::new(body)),
        }
    }
    /// The command printed its (negative) result itself: exit 1 quietly.
    pub fn reported(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: ErrorKind::Reported,
        }
    }
    /// Prints what is left to print and returns the exit status.
    fn report(&self, fmt: Format) -> i32 {
        match &self.kind {
            ErrorKind::Failed => {
                eprintln!("error: {}", self.message);
                1
            }
            ErrorKind::Reported => 1,
            ErrorKind::Pending(body) => {
                match fmt {
                    Format::Json => output::json(body),
                    Format::Table => {
                        out!("Pending approval: {}", self.message);
                        if let Some(id) = body["approval_id"].as_str() {
                            out!("Approval id: {id}");
                        }
                    }
                }
                0
            }
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<strongroom_core::error::Error> for CliError {
    fn from(e: strongroom_core::error::Error) -> Self {
        CliError::api(e.code(), &e.public_message())
    }
}

/// Shown under `strongroom --help`: the environment the client commands
/// read, and the server's overrides (docs/OPERATIONS.md, "Configuration").
const ENVIRONMENT_HELP: &str = "\
Environment (client commands):
  STRONGROOM_ADDR    Server URL [default: http://127.0.0.1:8200]
  STRONGROOM_TOKEN   Bearer token (the root token, or an identity's token)
  STRONGROOM_CACERT  PEM file of a private CA or self-signed server certificate;
                     without it, https:// servers are checked against the system trust store
  STRONGROOM_CLIENT_CERT  PEM client certificate for mutual TLS (with STRONGROOM_CLIENT_KEY);
                     bound to an identity, it authenticates when no token is set
  STRONGROOM_CLIENT_KEY   The client certificate's PEM private key

Environment (server):
  STRONGROOM_LOG     Log level: error, warn, info (default), debug, trace
  STRONGROOM_<NAME>  Overrides the config setting <name>, e.g. STRONGROOM_LISTEN,
                     STRONGROOM_STORAGE_PATH, STRONGROOM_AUDIT_PATH, STRONGROOM_TLS_CERT,
                     STRONGROOM_TLS_KEY, STRONGROOM_TLS_CLIENT_CA, STRONGROOM_PKCS11_PIN
                     (docs/OPERATIONS.md)";

#[derive(Parser)]
#[command(
    name = "strongroom",
    version,
    about = "Strongroom: a self-hosted key management service (server and CLI)",
    after_help = ENVIRONMENT_HELP
)]
pub struct Cli {
    /// Output format for client commands.
    #[arg(long = "output", short = 'o', global = true, value_enum, default_value_t = output::OutputArg::Table)]
    format: output::OutputArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Server(ServerArgs),
    /// Initialize, unseal, seal and inspect the server; rekey shares; generate or revoke the root token.
    #[command(subcommand)]
    Operator(operator::OperatorCmd),
    /// Create and manage keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Manage aliases.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Encrypt a string (--plaintext) or a file of any size (--in/--out, envelope encryption).
    Encrypt(EncryptArgs),
    /// Decrypt a ciphertext (--ciphertext) or an envelope file (--in/--out).
    Decrypt(DecryptArgs),
    /// Re-encrypt a ciphertext under another key without exposing the plaintext.
    Reencrypt(ReencryptArgs),
    /// Generate a data key.
    DataKey(DataKeyArgs),
    /// Generate random bytes (base64).
    Random {
        #[arg(long, default_value_t = 32)]
        bytes: usize,
    },
    /// Sign a message or digest.
    Sign(SignArgs),
    /// Verify a signature.
    Verify(VerifyArgs),
    /// Generate an HMAC.
    Mac(MacArgs),
    /// Verify an HMAC.
    VerifyMac(VerifyMacArgs),
    /// ML-KEM: a new shared secret and its ciphertext (ML_KEM_* keys).
    Encapsulate(kem::EncapsulateArgs),
    /// ML-KEM: the shared secret of a ciphertext (ML_KEM_* keys).
    Decapsulate(kem::DecapsulateArgs),
    /// Identities (people and services), their roles and attached policies.
    #[command(subcommand)]
    Identity(admin::IdentityCmd),
    /// Bearer tokens for identities.
    #[command(subcommand)]
    Token(admin::TokenCmd),
    /// AWS-style access key pairs (SigV4) for identities.
    #[command(subcommand)]
    AccessKey(admin::AccessKeyCmd),
    /// Policies: store, show, delete, and explain a decision.
    #[command(subcommand)]
    Policy(admin::PolicyCmd),
    /// Dual control: list, approve and deny pending requests.
    #[command(subcommand)]
    Approval(admin::ApprovalCmd),
    /// The audit log: verify its hash chain, query it, export it.
    #[command(subcommand)]
    Audit(admin::AuditCmd),
    /// Versioned secrets: put, get, list, history, delete, undelete, destroy (docs/SECRETS.md).
    #[command(subcommand)]
    Secret(secret::SecretCmd),
    /// Run a program with secrets in its environment (or, with --files, in 0600 files
    /// on a private tmpfs directory removed when it exits).
    Run(run::RunArgs),
    /// Every key with owner, state, dates, last use and use counts per version.
    Inventory(lifecycle::InventoryArgs),
    /// Re-encrypt ciphertexts to the key's newest version, server-side.
    Rewrap(lifecycle::RewrapArgs),
    /// Load-test a running server against a bare AES-GCM ceiling (docs/BENCHMARKS.md;
    /// the load generator is the strongroom-bench crate: `strongroom bench --help`).
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Kubernetes KMS v2 plugin: serve kube-apiserver's gRPC API on a unix socket,
    /// as a client of this server (docs/KUBERNETES.md; `strongroom kms-plugin --help`).
    #[command(disable_help_flag = true)]
    KmsPlugin {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Dev server only: move its clock forward, run the scheduler now.
    #[command(subcommand)]
    Dev(dev::DevCmd),
    /// Compliance report (signed) and its verification.
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Backups and recovery drills.
    #[command(subcommand)]
    Backup(backup::BackupCmd),
    /// Print a shell completion script (bash, zsh, fish), e.g. `strongroom completion bash > ~/.local/share/bash-completion/completions/strongroom`.
    Completion(completion::CompletionArgs),
    /// Write the man pages into a directory (used to build the package).
    #[command(hide = true)]
    Manpages(completion::ManpagesArgs),
    /// Find hardcoded secrets and weak cryptography in files, staged changes or git history (docs/SCAN.md).
    Scan(scan::ScanArgs),
}

#[derive(Args)]
pub struct ServerArgs {
    /// Development mode: in memory, auto-unsealed, plain HTTP (TLS when
    /// STRONGROOM_TLS_CERT and STRONGROOM_TLS_KEY are set). Never for production.
    #[arg(long)]
    pub dev: bool,
    /// Configuration file (TOML) for a real server.
    #[arg(long, conflicts_with = "dev")]
    pub config: Option<String>,
    /// Listen address (overrides the config; default 127.0.0.1:8200).
    #[arg(long)]
    pub listen: Option<String>,
    /// Dev mode: use this root token instead of a random one.
    #[arg(long, requires = "dev")]
    pub dev_root_token: Option<String>,
    /// Dev mode: write the audit log here (default: a new file in the temp directory).
    #[arg(long, requires = "dev")]
    pub audit_path: Option<String>,
    /// Dev mode: turn dual control on (it is off by default in dev mode).
    #[arg(long, requires = "dev")]
    pub dev_dual_control: bool,
    /// Dev mode: no audit log at all. Only for measuring its cost.
    #[arg(long, requires = "dev")]
    pub dev_no_audit: bool,
    /// Dev mode: an AWS access key pair AKID:SECRET for the AWS KMS endpoint at `/` (acts as root).
    #[arg(long, requires = "dev")]
    pub dev_aws_credentials: Option<String>,
}

/// What the binary runs on the server side (strongroom-server) when the
/// command line asks for it: the server itself, the offline operator tools
/// that open the storage and the seal, and the load generator. The CLI
/// never opens a database or the seal; it hands these commands over.
pub trait ServerSide {
    /// `strongroom server`.
    fn serve(&self, args: ServerArgs) -> Result<(), CliError>;
    /// `strongroom operator migrate-seal` (offline).
    fn migrate_seal(&self, args: seal::MigrateArgs, fmt: Format) -> Result<(), CliError>;
    /// `strongroom operator generate-root --config FILE` (PKCS#11 seal, offline).
    fn generate_root_offline(
        &self,
        config: &str,
    ) -> Result<strongroom_core::crypto::SecretBytes, CliError>;
    /// `strongroom backup restore` (offline).
    fn restore_backup(
        &self,
        file: &str,
        config: &str,
        shares_file: Option<&str>,
        fmt: Format,
    ) -> Result<(), CliError>;
    /// `strongroom bench ARGS…`.
    fn bench(&self, args: Vec<std::ffi::OsString>, fmt: Format) -> Result<(), CliError>;
    /// `strongroom kms-plugin ARGS…` (the strongroom-kms-plugin crate: its
    /// gRPC server and async runtime stay out of the CLI crate).
    fn kms_plugin(&self, args: Vec<std::ffi::OsString>) -> Result<(), CliError>;
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create a key.
    Create {
        /// AES_256_GCM (default), HMAC_SHA_256/384/512, RSA_2048/3072/4096, ECC_NIST_P256/P384/P521, ED25519, ML_DSA_44/65/87, ML_KEM_512/768/1024.
        /// AWS names work too: SYMMETRIC_DEFAULT, HMAC_256/384/512, ECC_NIST_EDWARDS25519.
        #[arg(long)]
        spec: Option<String>,
        /// ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC or ENCAPSULATE_DECAPSULATE (default depends on the spec).
        #[arg(long)]
        usage: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "")]
        owner: String,
        #[arg(long, default_value = "")]
        purpose: String,
        /// key=value (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// alias/NAME (repeatable).
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// Activation date (RFC 3339, YYYY-MM-DD or Unix seconds); before it the key is usable for nothing.
        #[arg(long = "activate-at")]
        activate_at: Option<String>,
        /// Expiry date (RFC 3339, YYYY-MM-DD or Unix seconds); from then on decrypt/verify only.
        #[arg(long = "expire-at")]
        expire_at: Option<String>,
        /// Automatic rotation period in days (1-3650; 0 = none). Default: the
        /// server's `default_rotation_days` (365) for AES keys, none otherwise.
        #[arg(long = "rotation-days")]
        rotation_days: Option<u32>,
    },
    /// List keys.
    List {
        #[arg(long)]
        alias: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// Enabled, Disabled, PendingDeletion or Destroyed.
        #[arg(long)]
        state: Option<String>,
        /// key=value
        #[arg(long)]
        tag: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one key.
    Describe { key: String },
    /// Change description, owner, purpose or tags.
    Update {
        key: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        purpose: Option<String>,
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long = "remove-tag")]
        remove_tags: Vec<String>,
        /// New activation date (RFC 3339, YYYY-MM-DD or Unix seconds), or `none` to remove it.
        #[arg(long = "activate-at")]
        activate_at: Option<String>,
        /// New expiry date (RFC 3339, YYYY-MM-DD or Unix seconds), or `none` to remove it.
        #[arg(long = "expire-at")]
        expire_at: Option<String>,
    },
    /// Add a new primary version.
    Rotate { key: String },
    /// Enable a disabled key.
    Enable { key: String },
    /// Disable a key: no cryptographic use until enabled again.
    Disable { key: String },
    /// Enable one version of a key.
    EnableVersion { key: String, version: u32 },
    /// Disable one version of a key (not the primary: rotate first).
    DisableVersion { key: String, version: u32 },
    /// Refuse ciphertexts made under versions below VERSION.
    SetMinVersion { key: String, version: u32 },
    /// Schedule destruction after 7-30 days (default 30).
    ScheduleDeletion {
        key: String,
        #[arg(long)]
        days: Option<i64>,
    },
    /// Cancel a scheduled deletion (the key stays disabled).
    CancelDeletion { key: String },
    /// Print the public key (PEM) of an asymmetric key.
    PublicKey { key: String },
    /// Declare a version compromised: rotate at once and report who used it.
    Compromise {
        key: String,
        /// The compromised version (default: the primary version).
        #[arg(long)]
        version: Option<u32>,
        /// What happened (recorded with the key and in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Set (--days N, 1-3650) or clear (--disable) the automatic rotation period.
    RotationPolicy {
        key: String,
        #[arg(long, conflicts_with = "disable", required_unless_present = "disable")]
        days: Option<u32>,
        #[arg(long)]
        disable: bool,
    },
}

#[derive(Subcommand)]
enum AliasCmd {
    /// Point alias/NAME at a key.
    Create { alias: String, key: String },
    /// Remove an alias (the key stays).
    Delete { alias: String },
    /// List every alias and its key.
    List,
}

#[derive(Args)]
struct EncryptArgs {
    #[arg(long)]
    key: String,
    /// Encryption context entry key=value (repeatable); needed again to decrypt.
    #[arg(long = "context")]
    context: Vec<String>,
    /// A short plaintext (≤ 4096 bytes) to encrypt directly.
    #[arg(long, conflicts_with_all = ["in_path", "out_path"])]
    plaintext: Option<String>,
    /// File to encrypt (`-` for stdin); requires --out.
    #[arg(long = "in", requires = "out_path")]
    in_path: Option<String>,
    /// Where to write the envelope file (`-` for stdout).
    #[arg(long = "out", requires = "in_path")]
    out_path: Option<String>,
}

#[derive(Args)]
struct DecryptArgs {
    #[arg(long = "context")]
    context: Vec<String>,
    /// Require that the ciphertext was made under this key.
    #[arg(long)]
    key: Option<String>,
    /// Decrypt even under a version declared compromised (audited; needs strongroom:DecryptCompromised).
    #[arg(long)]
    allow_compromised: bool,
    /// A base64 ciphertext from `strongroom encrypt --plaintext`.
    #[arg(long, conflicts_with_all = ["in_path", "out_path"])]
    ciphertext: Option<String>,
    /// Envelope file to decrypt (`-` for stdin); requires --out.
    #[arg(long = "in", requires = "out_path")]
    in_path: Option<String>,
    /// Where to write the plaintext (`-` for stdout); an existing file needs --force.
    #[arg(long = "out", requires = "in_path")]
    out_path: Option<String>,
    /// Replace an existing --out file.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct ReencryptArgs {
    #[arg(long)]
    ciphertext: String,
    /// Destination key.
    #[arg(long)]
    key: String,
    #[arg(long = "context")]
    context: Vec<String>,
    #[arg(long = "destination-context")]
    destination_context: Vec<String>,
}

#[derive(Args)]
struct DataKeyArgs {
    #[arg(long)]
    key: String,
    #[arg(long, default_value_t = 32)]
    bytes: usize,
    #[arg(long = "context")]
    context: Vec<String>,
    #[arg(long)]
    without_plaintext: bool,
}

#[derive(Args)]
struct MessageArgs {
    /// The message as text.
    #[arg(long, conflicts_with = "input")]
    message: Option<String>,
    /// Read the message from a file (`-` for stdin).
    #[arg(long = "in")]
    input: Option<String>,
    /// The message is already a digest (raw bytes from --in, or base64 in --message).
    #[arg(long)]
    digest: bool,
}

#[derive(Args)]
struct SignArgs {
    #[arg(long)]
    key: String,
    #[command(flatten)]
    msg: MessageArgs,
    #[arg(long)]
    algorithm: Option<String>,
}

#[derive(Args)]
struct VerifyArgs {
    #[arg(long)]
    key: String,
    #[command(flatten)]
    msg: MessageArgs,
    /// Base64 signature.
    #[arg(long)]
    signature: String,
    #[arg(long)]
    algorithm: Option<String>,
}

#[derive(Args)]
struct MacArgs {
    #[arg(long)]
    key: String,
    #[command(flatten)]
    msg: MessageArgs,
}

#[derive(Args)]
struct VerifyMacArgs {
    #[arg(long)]
    key: String,
    #[command(flatten)]
    msg: MessageArgs,
    /// Base64 MAC.
    #[arg(long)]
    mac: String,
}

/// Entry point: returns the process exit code. `side` runs what the CLI
/// hands over to the server side.
pub fn main(side: &dyn ServerSide) -> i32 {
    let cli = Cli::parse();
    let fmt = output::select(cli.format);
    match run(cli, fmt, side) {
        Ok(()) => 0,
        Err(e) => e.report(fmt),
    }
}

fn run(cli: Cli, fmt: Format, side: &dyn ServerSide) -> Result<(), CliError> {
    match cli.command {
        Command::Server(a) => side.serve(a),
        Command::Operator(c) => operator::run(c, fmt, side),
        Command::Key(c) => key(c, fmt),
        Command::Alias(c) => alias(c, fmt),
        Command::Encrypt(a) => encrypt(a, fmt),
        Command::Decrypt(a) => decrypt(a, fmt),
        Command::Identity(c) => admin::identity(c, fmt),
        Command::Token(c) => admin::token(c, fmt),
        Command::AccessKey(c) => admin::access_key(c, fmt),
        Command::Policy(c) => admin::policy(c, fmt),
        Command::Approval(c) => admin::approval(c, fmt),
        Command::Audit(c) => admin::audit(c, fmt),
        Command::Secret(c) => secret::run(c, fmt),
        Command::Run(a) => std::process::exit(run::run(a)?),
        Command::Inventory(a) => lifecycle::inventory(a, fmt),
        Command::Rewrap(a) => lifecycle::rewrap(a, fmt),
        Command::Bench { args } => side.bench(args, fmt),
        Command::KmsPlugin { args } => side.kms_plugin(args),
        Command::Encapsulate(a) => kem::encapsulate(a, fmt),
        Command::Decapsulate(a) => kem::decapsulate(a, fmt),
        Command::Dev(c) => dev::dev(c, fmt),
        Command::Report(c) => report::run(c),
        Command::Backup(c) => backup::run(c, fmt, side),
        Command::Completion(a) => completion::completion(a),
        Command::Manpages(a) => completion::manpages(a),
        // exit codes 0/1/2 of its own (docs/SCAN.md)
        Command::Scan(a) => std::process::exit(scan::run(a)),
        Command::Reencrypt(a) => {
            let c = Client::from_env()?;
            let v = c.call(
                "POST",
                "/v1/reencrypt",
                Some(&json!({
                    "ciphertext": a.ciphertext,
                    "source_context": pairs("--context", &a.context)?,
                    "destination_key": a.key,
                    "destination_context": pairs("--destination-context", &a.destination_context)?,
                })),
            )?;
            print_field(&v, "ciphertext", fmt);
            Ok(())
        }
        Command::DataKey(a) => {
            let c = Client::from_env()?;
            let v = c.call(
                "POST",
                "/v1/generate-data-key",
                Some(&json!({
                    "key": a.key,
                    "number_of_bytes": a.bytes,
                    "context": pairs("--context", &a.context)?,
                    "include_plaintext": !a.without_plaintext,
                })),
            )?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => output::record(
                    &v,
                    &[
                        ("key_id", "Key ID"),
                        ("version", "Version"),
                        ("ciphertext", "Ciphertext"),
                        ("plaintext", "Plaintext"),
                    ],
                ),
            }
            Ok(())
        }
        Command::Random { bytes } => {
            let v = Client::from_env()?.call(
                "POST",
                "/v1/random",
                Some(&json!({ "number_of_bytes": bytes })),
            )?;
            print_field(&v, "random", fmt);
            Ok(())
        }
        Command::Sign(a) => {
            let (message, mt) = message(&a.msg)?;
            let mut body = json!({ "key": a.key, "message": message, "message_type": mt });
            if let Some(alg) = a.algorithm {
                body["signing_algorithm"] = Value::String(alg);
            }
            let v = Client::from_env()?.call("POST", "/v1/sign", Some(&body))?;
            print_field(&v, "signature", fmt);
            Ok(())
        }
        Command::Verify(a) => {
            let (message, mt) = message(&a.msg)?;
            let mut body = json!({ "key": a.key, "message": message, "message_type": mt, "signature": a.signature });
            if let Some(alg) = a.algorithm {
                body["signing_algorithm"] = Value::String(alg);
            }
            let v = Client::from_env()?.call("POST", "/v1/verify", Some(&body))?;
            validity(&v, fmt, "signature")
        }
        Command::Mac(a) => {
            let (message, _) = message(&a.msg)?;
            let v = Client::from_env()?.call(
                "POST",
                "/v1/mac",
                Some(&json!({ "key": a.key, "message": message })),
            )?;
            print_field(&v, "mac", fmt);
            Ok(())
        }
        Command::VerifyMac(a) => {
            let (message, _) = message(&a.msg)?;
            let v = Client::from_env()?.call(
                "POST",
                "/v1/verify-mac",
                Some(&json!({ "key": a.key, "message": message, "mac": a.mac })),
            )?;
            validity(&v, fmt, "MAC")
        }
    }
}

/// Prints `valid`/`invalid`; an invalid result is a non-zero exit.
fn validity(v: &Value, fmt: Format, what: &str) -> Result<(), CliError> {
    let valid = v["valid"].as_bool().unwrap_or(false);
    match fmt {
        Format::Json => output::json(v),
        Format::Table => out!("{}", if valid { "valid" } else { "invalid" }),
    }
    if valid {
        Ok(())
    } else {
        Err(CliError::new(format!("the {what} is not valid")))
    }
}

fn print_field(v: &Value, field: &str, fmt: Format) {
    match fmt {
        Format::Json => output::json(v),
        Format::Table => out!("{}", v[field].as_str().unwrap_or_default()),
    }
}

/// Parses repeated `k=v` arguments.
fn pairs(flag: &str, items: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut m = BTreeMap::new();
    for i in items {
        let (k, v) = i
            .split_once('=')
            .ok_or_else(|| CliError::new(format!("{flag} {i:?} must be key=value")))?;
        if m.insert(k.to_string(), v.to_string()).is_some() {
            return Err(CliError::new(format!("{flag} names {k:?} twice")));
        }
    }
    Ok(m)
}

/// The base64 message and its type from --message/--in/--digest.
fn message(m: &MessageArgs) -> Result<(String, &'static str), CliError> {
    let mt = if m.digest { "DIGEST" } else { "RAW" };
    let bytes = match (&m.message, &m.input) {
        (Some(s), None) if m.digest => STANDARD
            .decode(s)
            .map_err(|_| CliError::new("with --digest, --message must be the base64 digest"))?,
        (Some(s), None) => s.as_bytes().to_vec(),
        (None, Some(path)) => {
            let mut b = Vec::new();
            if path == "-" {
                std::io::stdin().read_to_end(&mut b)
            } else {
                std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut b))
            }
            .map_err(|e| CliError::new(format!("cannot read --in {path:?}: {e}")))?;
            b
        }
        _ => {
            return Err(CliError::new(
                "give the message with --message TEXT or --in FILE",
            ))
        }
    };
    Ok((STANDARD.encode(bytes), mt))
}

fn show_key(v: &Value, fmt: Format) {
    match fmt {
        Format::Json => output::json(v),
        Format::Table => {
            output::record(v, output::KEY_FIELDS);
            if let Some(vs) = v["versions"].as_array() {
                out!();
                output::table(
                    vs,
                    &[
                        ("version", "VERSION"),
                        ("state", "STATE"),
                        ("created_at", "CREATED"),
                        ("destroyed_at", "DESTROYED"),
                    ],
                );
            }
        }
    }
}

fn key_path(key: &str) -> String {
    // Every byte outside the unreserved set is percent-encoded (the slash of
    // `alias/NAME` too), so `?`, `#` or `%` in a name can't change the URL.
    format!("/v1/keys/{}", urlencode(key))
}

fn key(c: KeyCmd, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    let v = match c {
        KeyCmd::Create {
            spec,
            usage,
            description,
            owner,
            purpose,
            tags,
            aliases,
            activate_at,
            expire_at,
            rotation_days,
        } => {
            let mut body = json!({
                "description": description,
                "owner": owner,
                "purpose": purpose,
                "tags": pairs("--tag", &tags)?,
                "aliases": aliases,
            });
            lifecycle::add_dates(&mut body, activate_at, expire_at, false)?;
            if let Some(d) = rotation_days {
                body["rotation_period_days"] = json!(d);
            }
            if let Some(s) = spec {
                body["spec"] = Value::String(s);
            }
            if let Some(u) = usage {
                body["usage"] = Value::String(u);
            }
            client.call("POST", "/v1/keys", Some(&body))?
        }
        KeyCmd::List {
            alias,
            owner,
            state,
            tag,
            limit,
            cursor,
        } => {
            let mut q = vec![format!("limit={limit}")];
            for (k, v) in [
                ("alias", alias),
                ("owner", owner),
                ("state", state),
                ("tag", tag),
                ("cursor", cursor),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", urlencode(&v)));
                }
            }
            let v = client.call("GET", &format!("/v1/keys?{}", q.join("&")), None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    let empty = vec![];
                    output::table(v["keys"].as_array().unwrap_or(&empty), output::KEY_COLUMNS);
                    if let Some(n) = v["next_cursor"].as_str() {
                        out!("(more: --cursor {n})");
                    }
                }
            }
            return Ok(());
        }
        KeyCmd::Describe { key } => client.call("GET", &key_path(&key), None)?,
        KeyCmd::Update {
            key,
            description,
            owner,
            purpose,
            tags,
            remove_tags,
            activate_at,
            expire_at,
        } => {
            let mut body = json!({
                "description": description,
                "owner": owner,
                "purpose": purpose,
                "set_tags": pairs("--tag", &tags)?,
                "remove_tags": remove_tags,
            });
            lifecycle::add_dates(&mut body, activate_at, expire_at, true)?;
            client.call("PATCH", &key_path(&key), Some(&body))?
        }
        KeyCmd::Rotate { key } => {
            client.call("POST", "/v1/rotate", Some(&json!({ "key": key })))?
        }
        KeyCmd::Enable { key } => {
            client.call("POST", "/v1/enable", Some(&json!({ "key": key })))?
        }
        KeyCmd::Disable { key } => {
            client.call("POST", "/v1/disable", Some(&json!({ "key": key })))?
        }
        KeyCmd::EnableVersion { key, version } => client.call(
            "POST",
            "/v1/enable-version",
            Some(&json!({ "key": key, "version": version })),
        )?,
        KeyCmd::DisableVersion { key, version } => client.call(
            "POST",
            "/v1/disable-version",
            Some(&json!({ "key": key, "version": version })),
        )?,
        KeyCmd::SetMinVersion { key, version } => client.call(
            "POST",
            "/v1/min-decryption-version",
            Some(&json!({ "key": key, "version": version })),
        )?,
        KeyCmd::ScheduleDeletion { key, days } => client.call(
            "POST",
            "/v1/schedule-deletion",
            Some(&json!({ "key": key, "pending_window_days": days })),
        )?,
        KeyCmd::CancelDeletion { key } => {
            client.call("POST", "/v1/cancel-deletion", Some(&json!({ "key": key })))?
        }
        KeyCmd::RotationPolicy { key, days, .. } => client.call(
            "POST",
            "/v1/rotation-policy",
            Some(&json!({ "key": key, "days": days })),
        )?,
        KeyCmd::PublicKey { key } => {
            let v = client.call("POST", "/v1/public-key", Some(&json!({ "key": key })))?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => outp!("{}", v["pem"].as_str().unwrap_or_default()),
            }
            return Ok(());
        }
        KeyCmd::Compromise {
            key,
            version,
            reason,
        } => return lifecycle::compromise(&client, &key, version, &reason, fmt),
    };
    show_key(&v, fmt);
    Ok(())
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn alias(c: AliasCmd, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    match c {
        AliasCmd::Create { alias, key } => {
            let v = client.call(
                "POST",
                "/v1/aliases",
                Some(&json!({ "alias": alias, "key": key })),
            )?;
            show_key(&v, fmt);
        }
        AliasCmd::Delete { alias } => {
            let v = client.call(
                "DELETE",
                &format!("/v1/aliases/{}", urlencode(&alias)),
                None,
            )?;
            show_key(&v, fmt);
        }
        AliasCmd::List => {
            let v = client.call("GET", "/v1/aliases", None)?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    let empty = vec![];
                    output::table(
                        v["aliases"].as_array().unwrap_or(&empty),
                        &[("alias", "ALIAS"), ("key_id", "KEY ID")],
                    );
                }
            }
        }
    }
    Ok(())
}

fn encrypt(a: EncryptArgs, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    let ctx = pairs("--context", &a.context)?;
    match (a.plaintext, a.in_path, a.out_path) {
        (Some(p), None, None) => {
            let v = client.call(
                "POST",
                "/v1/encrypt",
                Some(&json!({ "key": a.key, "plaintext": STANDARD.encode(p.as_bytes()), "context": ctx })),
            )?;
            print_field(&v, "ciphertext", fmt);
            Ok(())
        }
        (None, Some(i), Some(o)) => {
            let n = file::encrypt_file(&client, &a.key, &ctx, &i, &o)?;
            json_summary(fmt, n, &o);
            Ok(())
        }
        _ => Err(CliError::new(
            "give --plaintext TEXT, or --in FILE --out FILE",
        )),
    }
}

/// With `-o json`, a summary of a file operation: on stdout, unless stdout
/// carries the data itself (`--out -`), then on stderr.
fn json_summary(fmt: Format, bytes: u64, out: &str) {
    if fmt == Format::Json {
        let v = json!({ "bytes": bytes, "out": out });
        if out == "-" {
            eprintln!("{v}");
        } else {
            output::json(&v);
        }
    }
}

fn decrypt(a: DecryptArgs, fmt: Format) -> Result<(), CliError> {
    let client = Client::from_env()?;
    let ctx = pairs("--context", &a.context)?;
    match (a.ciphertext, a.in_path, a.out_path) {
        (Some(_), None, None) if a.force => Err(CliError::new(
            "--force only applies to --out FILE (a file that may already exist)",
        )),
        (Some(c), None, None) => {
            let mut body = json!({ "ciphertext": c.trim(), "context": ctx });
            if a.allow_compromised {
                body["allow_compromised"] = Value::Bool(true);
            }
            if let Some(k) = a.key {
                body["key"] = Value::String(k);
            }
            let v = client.call("POST", "/v1/decrypt", Some(&body))?;
            match fmt {
                Format::Json => output::json(&v),
                Format::Table => {
                    let pt = file::b64_field(&v, "plaintext")?;
                    let mut out = std::io::stdout().lock();
                    out.write_all(&pt)
                        .map_err(|e| CliError::new(format!("write to stdout: {e}")))?;
                    if out.is_terminal() && !pt.ends_with(b"\n") {
                        let _ = out.write_all(b"\n");
                    }
                }
            }
            Ok(())
        }
        (None, Some(i), Some(o)) => {
            let n = file::decrypt_file(&client, a.key.as_deref(), &ctx, &i, &o, a.force)?;
            json_summary(fmt, n, &o);
            Ok(())
        }
        _ => Err(CliError::new(
            "give --ciphertext BASE64, or --in FILE --out FILE",
        )),
    }
}
