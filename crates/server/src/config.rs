//! Server configuration: a TOML file, each setting overridable by a
//! `STRONGROOM_*` environment variable.

use serde::Deserialize;

use strongroom_core::error::Error;

pub mod hooks;
pub mod limits;
mod pkcs11;
pub use pkcs11::RefusedSecret;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8200";
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. `STRONGROOM_LISTEN`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// SQLite database path, or a `postgres://` URL for PostgreSQL (several
    /// nodes may share one database). `STRONGROOM_STORAGE_PATH`.
    #[serde(default)]
    pub storage_path: Option<String>,
    /// PEM certificate chain. `STRONGROOM_TLS_CERT`.
    #[serde(default)]
    pub tls_cert: Option<String>,
    /// PEM private key. `STRONGROOM_TLS_KEY`.
    #[serde(default)]
    pub tls_key: Option<String>,
    /// Serve plain HTTP (logged as a warning at every start). `STRONGROOM_TLS_DISABLE`.
    #[serde(default)]
    pub tls_disable: bool,
    /// PEM bundle of the CA certificate(s) that sign client certificates:
    /// turns on mutual TLS (docs/ACCESS.md, "Client certificates").
    /// `STRONGROOM_TLS_CLIENT_CA`.
    #[serde(default)]
    pub tls_client_ca: Option<String>,
    /// With `tls_client_ca`: "optional" (the default; a client without a
    /// certificate still connects and uses a token) or "required" (the
    /// handshake fails without a valid client certificate).
    /// `STRONGROOM_TLS_CLIENT_AUTH`.
    #[serde(default)]
    pub tls_client_auth: Option<ClientAuth>,
    /// Request body limit in bytes. `STRONGROOM_MAX_REQUEST_BYTES`.
    #[serde(default = "default_max")]
    pub max_request_bytes: usize,
    /// The audit log file (JSON Lines, hash-chained). Defaults to the storage
    /// path with `.audit.jsonl` appended. `STRONGROOM_AUDIT_PATH`.
    #[serde(default)]
    pub audit_path: Option<String>,
    /// A signed checkpoint every this many audit records. `STRONGROOM_AUDIT_CHECKPOINT_EVERY`.
    #[serde(default = "default_checkpoint")]
    pub audit_checkpoint_every: u64,
    /// Dual control for sensitive actions (on by default). `STRONGROOM_DUAL_CONTROL`.
    #[serde(default = "yes")]
    pub dual_control: bool,
    /// The dual-controlled actions (default: the set in docs/POLICY.md).
    /// `STRONGROOM_DUAL_CONTROL_ACTIONS` (comma-separated).
    #[serde(default)]
    pub dual_control_actions: Option<Vec<String>>,
    /// Approvals needed for a dual-controlled action. `STRONGROOM_DUAL_CONTROL_APPROVALS`.
    #[serde(default = "two")]
    pub dual_control_approvals: u32,
    /// Region in ARNs and the only region accepted in SigV4 scopes (any if unset). `STRONGROOM_AWS_REGION`.
    #[serde(default)]
    pub aws_region: Option<String>,
    /// Account id in ARNs. `STRONGROOM_AWS_ACCOUNT_ID`.
    #[serde(default = "default_account")]
    pub aws_account_id: String,
    /// Allowed clock skew for SigV4, in seconds. `STRONGROOM_AWS_MAX_SKEW_SECS`.
    #[serde(default = "default_skew")]
    pub aws_max_skew_secs: i64,
    /// The Vault front-end's Transit mounts (docs/VAULT.md), default
    /// `["transit"]`. `STRONGROOM_VAULT_TRANSIT_MOUNTS` (comma-separated).
    #[serde(default = "default_vault_transit_mounts")]
    pub vault_transit_mounts: Vec<String>,
    /// The Vault front-end's KV version 2 mounts on the secrets engine
    /// (docs/VAULT.md, "KV v2"), default `["secret"]`.
    /// `STRONGROOM_VAULT_KV_MOUNTS` (comma-separated; empty: none).
    #[serde(default = "default_vault_kv_mounts")]
    pub vault_kv_mounts: Vec<String>,
    /// Serves the AWS XKS proxy API at `{prefix}/kms/xks/v1` when set ("" =
    /// no prefix; off when unset). `STRONGROOM_XKS_PATH_PREFIX`.
    #[serde(default)]
    pub xks_path_prefix: Option<String>,
    /// The keys XKS may use: key ids, or `alias/NAME` (externalKeyId `NAME`).
    /// `STRONGROOM_XKS_KEYS` (comma-separated).
    #[serde(default)]
    pub xks_keys: Vec<String>,
    /// How often the deletion sweep runs, in seconds. `STRONGROOM_SWEEP_INTERVAL_SECS`.
    #[serde(default = "default_sweep")]
    pub sweep_interval_secs: u64,
    /// How the root key is protected: "shamir" (default) or "pkcs11". `STRONGROOM_SEAL`.
    #[serde(default = "pkcs11::default_seal")]
    pub seal: String,
    /// PKCS#11 module (default: Debian's SoftHSM2). `STRONGROOM_PKCS11_LIBRARY`.
    #[serde(default)]
    pub pkcs11_library: Option<String>,
    /// The token's label. `STRONGROOM_PKCS11_TOKEN_LABEL`.
    #[serde(default)]
    pub pkcs11_token_label: Option<String>,
    /// Or the slot id. `STRONGROOM_PKCS11_SLOT`.
    #[serde(default)]
    pub pkcs11_slot: Option<u64>,
    /// The HSM key's label (default "strongroom-root-wrap"). `STRONGROOM_PKCS11_KEY_LABEL`.
    #[serde(default)]
    pub pkcs11_key_label: Option<String>,
    /// File holding the user PIN (else `STRONGROOM_PKCS11_PIN`). `STRONGROOM_PKCS11_PIN_FILE`.
    #[serde(default)]
    pub pkcs11_pin_file: Option<String>,
    /// Refused: a PIN never sits in the config in clear (never stored).
    #[serde(default)]
    pub pkcs11_pin: Option<RefusedSecret>,
    /// Automatic rotation period (days) given to new AES keys created through
    /// the native API; 0 = none. Default 365. `STRONGROOM_DEFAULT_ROTATION_DAYS`.
    #[serde(default = "default_rotation_days")]
    pub default_rotation_days: u32,
    /// Connection hygiene and abuse limits (config/limits.rs, docs/OPERATIONS.md).
    /// A client must send a complete request header within this many ms of
    /// connecting or of its previous answer. `STRONGROOM_HEADER_READ_TIMEOUT_MS`.
    #[serde(default = "limits::default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// A request body must arrive whole within this many ms. `STRONGROOM_BODY_READ_TIMEOUT_MS`.
    #[serde(default = "limits::default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this many ms. `STRONGROOM_KEEP_ALIVE_TIMEOUT_MS`.
    #[serde(default = "limits::default_keep_alive_timeout_ms")]
    pub keep_alive_timeout_ms: u64,
    /// Most concurrent client connections. `STRONGROOM_MAX_CONNECTIONS`.
    #[serde(default = "limits::default_max_connections")]
    pub max_connections: usize,
    /// Largest request line + headers, in bytes. `STRONGROOM_MAX_HEADER_BYTES`.
    #[serde(default = "limits::default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Failed authentications a source address may make in a burst before
    /// it is answered 429. `STRONGROOM_AUTH_FAILURE_BURST`.
    #[serde(default = "limits::default_auth_failure_burst")]
    pub auth_failure_burst: u32,
    /// Sustained failed authentications per minute per source address.
    /// `STRONGROOM_AUTH_FAILURES_PER_MINUTE`.
    #[serde(default = "limits::default_auth_failures_per_minute")]
    pub auth_failures_per_minute: u32,
    /// Anonymous failures from one source within this many seconds share one
    /// aggregate audit record (docs/AUDIT.md). `STRONGROOM_AUTH_FAILURE_AUDIT_INTERVAL_SECS`.
    #[serde(default = "limits::default_auth_failure_audit_interval_secs")]
    pub auth_failure_audit_interval_secs: u64,
    /// Rotate the audit file at this size in bytes (0: never by size).
    /// `STRONGROOM_AUDIT_ROTATE_BYTES`.
    #[serde(default = "limits::default_audit_rotate_bytes")]
    pub audit_rotate_bytes: u64,
    /// Rotate the audit file at this age in seconds (0: never by age).
    /// `STRONGROOM_AUDIT_ROTATE_SECS`.
    #[serde(default)]
    pub audit_rotate_secs: u64,
    /// Keep this many rotated segments, deleting the oldest (0: keep all).
    /// `STRONGROOM_AUDIT_RETAIN_SEGMENTS`.
    #[serde(default)]
    pub audit_retain_segments: usize,
    /// Health and `/metrics` warn when the audit log's filesystem has less
    /// free space than this many bytes (0: no warning).
    /// `STRONGROOM_AUDIT_LOW_SPACE_BYTES`.
    #[serde(default = "limits::default_audit_low_space_bytes")]
    pub audit_low_space_bytes: u64,
    /// Serve the web console at `/ui/` (on by default). `STRONGROOM_UI`.
    #[serde(default = "yes")]
    pub ui: bool,
    /// Rotation hooks for secrets of kind `hook` (config/hooks.rs); more in
    /// the file named by `STRONGROOM_SECRET_ROTATION_HOOKS_FILE`.
    #[serde(default)]
    pub secret_rotation_hook: Vec<hooks::HookConfig>,
}

/// Whether a client certificate is required (`tls_client_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    Optional,
    Required,
}

impl ClientAuth {
    fn parse(name: &str, v: &str) -> Result<ClientAuth, Error> {
        match v.trim().to_ascii_lowercase().as_str() {
            "optional" => Ok(ClientAuth::Optional),
            "required" => Ok(ClientAuth::Required),
            _ => Err(Error::InvalidArgument(format!(
                "{name}={v:?}: use optional or required"
            ))),
        }
    }
}

fn default_rotation_days() -> u32 {
    365
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}
fn default_max() -> usize {
    DEFAULT_MAX_REQUEST_BYTES
}
fn default_sweep() -> u64 {
    60
}
fn default_account() -> String {
    "000000000000".into()
}
fn default_skew() -> i64 {
    300
}
fn yes() -> bool {
    true
}
fn two() -> u32 {
    2
}
fn default_checkpoint() -> u64 {
    1000
}

fn default_vault_transit_mounts() -> Vec<String> {
    vec!["transit".into()]
}

fn default_vault_kv_mounts() -> Vec<String> {
    vec!["secret".into()]
}

fn comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

impl Config {
    /// `STRONGROOM_VAULT_TRANSIT_MOUNTS` and `STRONGROOM_VAULT_KV_MOUNTS`
    /// (comma-separated), which a dev server reads too.
    pub fn apply_vault_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        if let Some(v) = env("STRONGROOM_VAULT_TRANSIT_MOUNTS") {
            self.vault_transit_mounts = comma_list(&v);
        }
        if let Some(v) = env("STRONGROOM_VAULT_KV_MOUNTS") {
            self.vault_kv_mounts = comma_list(&v);
        }
    }

    /// The Vault front-end's mounts, from `vault_transit_mounts` and
    /// `vault_kv_mounts` (a name in both is refused by `validate`).
    pub fn vault_settings(&self) -> strongroom_vault::VaultSettings {
        let mount = |kind| {
            move |p: &String| strongroom_vault::Mount {
                path: p.clone(),
                kind,
            }
        };
        strongroom_vault::VaultSettings {
            mounts: self
                .vault_transit_mounts
                .iter()
                .map(mount(strongroom_vault::MountKind::Transit))
                .chain(
                    self.vault_kv_mounts
                        .iter()
                        .map(mount(strongroom_vault::MountKind::KvV2)),
                )
                .collect(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            storage_path: None,
            tls_cert: None,
            tls_key: None,
            tls_disable: false,
            tls_client_ca: None,
            tls_client_auth: None,
            max_request_bytes: default_max(),
            audit_path: None,
            audit_checkpoint_every: default_checkpoint(),
            aws_region: None,
            aws_account_id: default_account(),
            aws_max_skew_secs: default_skew(),
            vault_transit_mounts: default_vault_transit_mounts(),
            vault_kv_mounts: default_vault_kv_mounts(),
            xks_path_prefix: None,
            xks_keys: Vec::new(),
            dual_control: true,
            dual_control_actions: None,
            dual_control_approvals: 2,
            sweep_interval_secs: default_sweep(),
            seal: pkcs11::default_seal(),
            pkcs11_library: None,
            pkcs11_token_label: None,
            pkcs11_slot: None,
            pkcs11_key_label: None,
            pkcs11_pin_file: None,
            pkcs11_pin: None,
            default_rotation_days: default_rotation_days(),
            header_read_timeout_ms: limits::default_header_read_timeout_ms(),
            body_read_timeout_ms: limits::default_body_read_timeout_ms(),
            keep_alive_timeout_ms: limits::default_keep_alive_timeout_ms(),
            max_connections: limits::default_max_connections(),
            max_header_bytes: limits::default_max_header_bytes(),
            auth_failure_burst: limits::default_auth_failure_burst(),
            auth_failures_per_minute: limits::default_auth_failures_per_minute(),
            auth_failure_audit_interval_secs: limits::default_auth_failure_audit_interval_secs(),
            audit_rotate_bytes: limits::default_audit_rotate_bytes(),
            audit_rotate_secs: 0,
            audit_retain_segments: 0,
            audit_low_space_bytes: limits::default_audit_low_space_bytes(),
            ui: true,
            secret_rotation_hook: Vec::new(),
        }
    }
}

fn parse_bool(name: &str, v: &str) -> Result<bool, Error> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(Error::InvalidArgument(format!(
            "{name}={v:?} is not a boolean; use true or false"
        ))),
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, Error> {
    v.trim()
        .parse()
        .map_err(|_| Error::InvalidArgument(format!("{name}={v:?} is not a valid number")))
}

impl Config {
    /// The audit log path: configured, or next to the database.
    pub fn audit_path(&self) -> String {
        match &self.audit_path {
            Some(p) if !p.is_empty() => p.clone(),
            _ => format!(
                "{}.audit.jsonl",
                self.storage_path.as_deref().unwrap_or("strongroom.db")
            ),
        }
    }

    /// Parses TOML text, then applies overrides from `env` (name → value).
    pub fn from_toml(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let mut c: Config = toml::from_str(text)
            .map_err(|e| Error::InvalidArgument(format!("invalid configuration: {e}")))?;
        c.apply_env(env)?;
        c.validate()?;
        Ok(c)
    }

    pub fn load(path: &str) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidArgument(format!("cannot read config file {path:?}: {e}"))
        })?;
        Self::from_toml(&text, &|k| std::env::var(k).ok())
    }

    /// `STRONGROOM_TLS_CERT`, `STRONGROOM_TLS_KEY`, `STRONGROOM_TLS_CLIENT_CA`
    /// and `STRONGROOM_TLS_CLIENT_AUTH`; a dev server reads them too (and
    /// serves TLS when the first two are set).
    pub fn apply_tls_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Error> {
        if let Some(v) = env("STRONGROOM_TLS_CERT") {
            self.tls_cert = Some(v);
        }
        if let Some(v) = env("STRONGROOM_TLS_KEY") {
            self.tls_key = Some(v);
        }
        if let Some(v) = env("STRONGROOM_TLS_CLIENT_CA") {
            self.tls_client_ca = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("STRONGROOM_TLS_CLIENT_AUTH") {
            self.tls_client_auth = Some(ClientAuth::parse("STRONGROOM_TLS_CLIENT_AUTH", &v)?);
        }
        Ok(())
    }

    /// The client-certificate settings agree with the rest of TLS.
    pub fn validate_client_auth(&self) -> Result<(), Error> {
        if self.tls_client_auth.is_some() && self.tls_client_ca.is_none() {
            return Err(Error::InvalidArgument(
                "tls_client_auth needs tls_client_ca: set tls_client_ca = \"/etc/strongroom/client-ca.pem\" (the CA that signs client certificates), or remove tls_client_auth".into(),
            ));
        }
        if self.tls_client_ca.is_some() && self.tls_disable {
            return Err(Error::InvalidArgument(
                "tls_client_ca needs TLS: client certificates are checked in the TLS handshake, so remove tls_disable = true (and set tls_cert and tls_key) or remove tls_client_ca".into(),
            ));
        }
        Ok(())
    }

    /// `tls_client_ca` and how it applies, when mutual TLS is on.
    pub fn client_auth(&self) -> Option<(&str, ClientAuth)> {
        self.tls_client_ca
            .as_deref()
            .map(|ca| (ca, self.tls_client_auth.unwrap_or(ClientAuth::Optional)))
    }

    /// `STRONGROOM_XKS_PATH_PREFIX` and `STRONGROOM_XKS_KEYS` (comma-separated);
    /// a dev server reads them too.
    pub fn apply_xks_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        if let Some(v) = env("STRONGROOM_XKS_PATH_PREFIX") {
            self.xks_path_prefix = Some(v);
        }
        if let Some(v) = env("STRONGROOM_XKS_KEYS") {
            self.xks_keys = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
    }

    /// The XKS prefix and key names follow the XKS URI rules.
    pub fn validate_xks(&self) -> Result<(), Error> {
        if let Some(p) = &self.xks_path_prefix {
            strongroom_xks::validate_prefix(p).map_err(Error::InvalidArgument)?;
        }
        for k in &self.xks_keys {
            let external = k.strip_prefix("alias/").unwrap_or(k);
            if strongroom_xks::validate_external_key_id(external).is_err() {
                return Err(Error::InvalidArgument(format!(
                    "xks_keys entry {k:?}: a key id or alias/NAME whose id or NAME is 1 to 128 letters, digits, '-', '.' or '_'"
                )));
            }
        }
        Ok(())
    }

    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Error> {
        if let Some(v) = env("STRONGROOM_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = env("STRONGROOM_STORAGE_PATH") {
            self.storage_path = Some(v);
        }
        self.apply_tls_env(env)?;
        if let Some(v) = env("STRONGROOM_TLS_DISABLE") {
            self.tls_disable = parse_bool("STRONGROOM_TLS_DISABLE", &v)?;
        }
        if let Some(v) = env("STRONGROOM_MAX_REQUEST_BYTES") {
            self.max_request_bytes = parse_num("STRONGROOM_MAX_REQUEST_BYTES", &v)?;
        }
        if let Some(v) = env("STRONGROOM_AUDIT_PATH") {
            self.audit_path = Some(v);
        }
        if let Some(v) = env("STRONGROOM_AUDIT_CHECKPOINT_EVERY") {
            self.audit_checkpoint_every = parse_num("STRONGROOM_AUDIT_CHECKPOINT_EVERY", &v)?;
        }
        if let Some(v) = env("STRONGROOM_AWS_REGION") {
            self.aws_region = Some(v);
        }
        if let Some(v) = env("STRONGROOM_AWS_ACCOUNT_ID") {
            self.aws_account_id = v;
        }
        if let Some(v) = env("STRONGROOM_AWS_MAX_SKEW_SECS") {
            self.aws_max_skew_secs = parse_num("STRONGROOM_AWS_MAX_SKEW_SECS", &v)?;
        }
        self.apply_vault_env(env);
        if let Some(v) = env("STRONGROOM_UI") {
            self.ui = parse_bool("STRONGROOM_UI", &v)?;
        }
        self.apply_xks_env(env);
        if let Some(v) = env("STRONGROOM_DUAL_CONTROL") {
            self.dual_control = parse_bool("STRONGROOM_DUAL_CONTROL", &v)?;
        }
        if let Some(v) = env("STRONGROOM_DUAL_CONTROL_ACTIONS") {
            self.dual_control_actions = Some(
                v.split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect(),
            );
        }
        if let Some(v) = env("STRONGROOM_DUAL_CONTROL_APPROVALS") {
            self.dual_control_approvals = parse_num("STRONGROOM_DUAL_CONTROL_APPROVALS", &v)?;
        }
        if let Some(v) = env("STRONGROOM_SWEEP_INTERVAL_SECS") {
            self.sweep_interval_secs = parse_num("STRONGROOM_SWEEP_INTERVAL_SECS", &v)?;
        }
        if let Some(v) = env("STRONGROOM_DEFAULT_ROTATION_DAYS") {
            self.default_rotation_days = parse_num("STRONGROOM_DEFAULT_ROTATION_DAYS", &v)?;
        }
        self.apply_pkcs11_env(env)?;
        self.apply_limits_env(env)?;
        Ok(())
    }

    pub fn validate(&self) -> Result<(), Error> {
        if self.storage_path.as_deref().is_none_or(str::is_empty) {
            return Err(Error::InvalidArgument(
                "storage_path is not set; set storage_path = \"/var/lib/strongroom/strongroom.db\" in the config (or STRONGROOM_STORAGE_PATH)".into(),
            ));
        }
        if strongroom_store_sql::postgres::is_url(self.storage_path.as_deref().unwrap_or_default())
            && self.audit_path.as_deref().is_none_or(str::is_empty)
        {
            return Err(Error::InvalidArgument(
                "storage_path is a PostgreSQL URL, so audit_path must be set: each node writes its own audit log, e.g. audit_path = \"/var/lib/strongroom/audit.jsonl\" (or STRONGROOM_AUDIT_PATH)".into(),
            ));
        }
        if !self.tls_disable && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return Err(Error::InvalidArgument(
                "TLS needs tls_cert and tls_key in the config; to serve plain HTTP set tls_disable = true explicitly".into(),
            ));
        }
        self.validate_client_auth()?;
        if self.max_request_bytes < 1024 {
            return Err(Error::InvalidArgument(
                "max_request_bytes must be at least 1024".into(),
            ));
        }
        if let Some(actions) = &self.dual_control_actions {
            strongroom_engine::policy::validate_dual_control_set(actions)
                .map_err(|e| Error::InvalidArgument(format!("dual_control_actions: {e}")))?;
        }
        if self.dual_control_approvals == 0 || self.dual_control_approvals > 16 {
            return Err(Error::InvalidArgument(
                "dual_control_approvals must be between 1 and 16".into(),
            ));
        }
        self.validate_xks()?;
        if self.aws_account_id.len() != 12
            || !self.aws_account_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::InvalidArgument(
                "aws_account_id must be 12 digits".into(),
            ));
        }
        if !(1..=3600).contains(&self.aws_max_skew_secs) {
            return Err(Error::InvalidArgument(
                "aws_max_skew_secs must be between 1 and 3600".into(),
            ));
        }
        self.vault_settings()
            .validate()
            .map_err(Error::InvalidArgument)?;
        if self.audit_checkpoint_every == 0 {
            return Err(Error::InvalidArgument(
                "audit_checkpoint_every must be at least 1".into(),
            ));
        }
        if self.sweep_interval_secs == 0 {
            return Err(Error::InvalidArgument(
                "sweep_interval_secs must be at least 1".into(),
            ));
        }
        if self.default_rotation_days != 0
            && !strongroom_engine::keys::engine::ROTATION_PERIOD_DAYS
                .contains(&self.default_rotation_days)
        {
            return Err(Error::InvalidArgument(format!(
                "default_rotation_days = {} is out of range; use 1 to 3650, or 0 for no automatic rotation",
                self.default_rotation_days
            )));
        }
        self.validate_seal()?;
        self.validate_limits()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_and_overrides() {
        let c = Config::from_toml("storage_path = \"a.db\"\ntls_disable = true\n", &no_env)
            .expect("parse");
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert_eq!(c.storage_path.as_deref(), Some("a.db"));
        let env = |k: &str| match k {
            "STRONGROOM_LISTEN" => Some("0.0.0.0:9000".to_string()),
            "STRONGROOM_MAX_REQUEST_BYTES" => Some("4096".to_string()),
            _ => None,
        };
        let c = Config::from_toml("storage_path = \"a.db\"\ntls_disable = true\n", &env)
            .expect("parse");
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.max_request_bytes, 4096);
    }

    #[test]
    fn bad_configs_are_clear() {
        let e = Config::from_toml("storage_path = \"a.db\"\n", &no_env).expect_err("tls required");
        assert!(e.to_string().contains("tls_disable = true"), "{e}");
        let e = Config::from_toml("tls_disable = true\n", &no_env).expect_err("storage required");
        assert!(e.to_string().contains("storage_path"), "{e}");
        let e = Config::from_toml("storage_pth = \"x\"\n", &no_env).expect_err("unknown field");
        assert!(e.to_string().contains("storage_pth"), "{e}");
        let env = |k: &str| (k == "STRONGROOM_TLS_DISABLE").then(|| "maybe".to_string());
        let e = Config::from_toml("storage_path = \"a.db\"\n", &env).expect_err("bad bool");
        assert!(e.to_string().contains("STRONGROOM_TLS_DISABLE"), "{e}");
    }

    #[test]
    fn client_auth_settings_are_checked() {
        let tls = "storage_path = \"a.db\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
        let c = Config::from_toml(tls, &no_env).expect("no mTLS");
        assert!(c.client_auth().is_none());
        let c = Config::from_toml(&format!("{tls}tls_client_ca = \"ca.pem\"\n"), &no_env)
            .expect("optional by default");
        assert_eq!(c.client_auth(), Some(("ca.pem", ClientAuth::Optional)));
        let env = |k: &str| match k {
            "STRONGROOM_TLS_CLIENT_CA" => Some("env-ca.pem".to_string()),
            "STRONGROOM_TLS_CLIENT_AUTH" => Some("Required".to_string()),
            _ => None,
        };
        let c = Config::from_toml(tls, &env).expect("from env");
        assert_eq!(c.client_auth(), Some(("env-ca.pem", ClientAuth::Required)));
        let e = Config::from_toml(&format!("{tls}tls_client_auth = \"required\"\n"), &no_env)
            .expect_err("auth without a CA");
        assert!(e.to_string().contains("needs tls_client_ca"), "{e}");
        let e = Config::from_toml(&format!("{tls}tls_client_auth = \"sometimes\"\n"), &no_env)
            .expect_err("bad value");
        assert!(e.to_string().contains("optional"), "{e}");
        let env = |k: &str| (k == "STRONGROOM_TLS_CLIENT_AUTH").then(|| "maybe".to_string());
        let e = Config::from_toml(tls, &env).expect_err("bad env value");
        assert!(e.to_string().contains("STRONGROOM_TLS_CLIENT_AUTH"), "{e}");
        let e = Config::from_toml(
            "storage_path = \"a.db\"\ntls_disable = true\ntls_client_ca = \"ca.pem\"\n",
            &no_env,
        )
        .expect_err("mTLS without TLS");
        assert!(e.to_string().contains("tls_client_ca needs TLS"), "{e}");
    }

    #[test]
    fn vault_mounts_are_read_and_checked() {
        let base = "storage_path = \"a.db\"\ntls_disable = true\n";
        let c = Config::from_toml(base, &no_env).expect("default");
        assert_eq!(c.vault_transit_mounts, ["transit"]);
        let c = Config::from_toml(
            &format!("{base}vault_transit_mounts = [\"transit\", \"payments\"]\n"),
            &no_env,
        )
        .expect("two mounts");
        // Two Transit mounts and the default KV mount `secret`.
        assert_eq!(c.vault_settings().mounts.len(), 3);
        let env = |k: &str| (k == "STRONGROOM_VAULT_TRANSIT_MOUNTS").then(|| "keys".to_string());
        let e = Config::from_toml(base, &env).expect_err("a native path");
        assert!(e.to_string().contains("shadow a native /v1/keys"), "{e}");
        assert_eq!(c.vault_kv_mounts, ["secret"]);
        let env = |k: &str| (k == "STRONGROOM_VAULT_KV_MOUNTS").then(|| "kv, team".to_string());
        let c = Config::from_toml(base, &env).expect("kv mounts");
        assert_eq!(c.vault_kv_mounts, ["kv", "team"]);
        assert_eq!(c.vault_settings().mounts.len(), 3);
        let env = |k: &str| (k == "STRONGROOM_VAULT_KV_MOUNTS").then(String::new);
        let c = Config::from_toml(base, &env).expect("no kv mounts");
        assert_eq!(c.vault_settings().mounts.len(), 1);
        let e = Config::from_toml(&format!("{base}vault_kv_mounts = [\"transit\"]\n"), &no_env)
            .expect_err("a name in both lists");
        assert!(e.to_string().contains("listed twice"), "{e}");
        let env = |k: &str| (k == "STRONGROOM_VAULT_KV_MOUNTS").then(|| "secrets".to_string());
        let e = Config::from_toml(base, &env).expect_err("the native secrets path");
        assert!(e.to_string().contains("shadow a native /v1/secrets"), "{e}");
    }
}
