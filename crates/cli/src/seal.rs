//! `strongroom operator migrate-seal`'s arguments (the migration itself is
//! offline, on the server side: `ServerSide::migrate_seal`) and the PKCS#11
//! side of `operator init`'s output.

use clap::{Args, ValueEnum};
use serde_json::Value;

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
    pub to: SealTarget,
    /// The server's config file (storage_path and the pkcs11_* settings).
    #[arg(long)]
    pub config: String,
    /// --to pkcs11: the current unseal shares, one per line (`-` or omitted: stdin).
    #[arg(long)]
    pub shares_file: Option<String>,
    /// --to shamir: number of new shares.
    #[arg(long, default_value_t = 5)]
    pub shares: u8,
    /// --to shamir: shares needed to unseal.
    #[arg(long, default_value_t = 3)]
    pub threshold: u8,
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
