//! `strongroom encapsulate` and `strongroom decapsulate`: ML-KEM with keys
//! of usage ENCAPSULATE_DECAPSULATE, through `/v1/encapsulate` and
//! `/v1/decapsulate`.

use clap::Args;
use serde_json::json;

use super::client::Client;
use super::output::{self, Format};
use super::CliError;

#[derive(Args)]
pub struct EncapsulateArgs {
    /// An ML_KEM_512/768/1024 key (id, alias/NAME or ARN).
    #[arg(long)]
    key: String,
}

#[derive(Args)]
pub struct DecapsulateArgs {
    /// An ML_KEM_512/768/1024 key (id, alias/NAME or ARN).
    #[arg(long)]
    key: String,
    /// The base64 ciphertext (from `strongroom encapsulate`, or made locally
    /// with the key's public key).
    #[arg(long)]
    ciphertext: String,
    /// The key version the ciphertext was made for (default: the primary).
    #[arg(long)]
    version: Option<u32>,
}

/// Prints the ciphertext, the shared secret (base64) and the key version.
pub fn encapsulate(a: EncapsulateArgs, fmt: Format) -> Result<(), CliError> {
    let v = Client::from_env()?.call("POST", "/v1/encapsulate", Some(&json!({ "key": a.key })))?;
    match fmt {
        Format::Json => output::json(&v),
        Format::Table => out!(
            "Ciphertext:    {}\nShared secret: {}\nKey:           {} (version {})",
            v["ciphertext"].as_str().unwrap_or_default(),
            v["shared_secret"].as_str().unwrap_or_default(),
            v["key_id"].as_str().unwrap_or_default(),
            v["version"]
        ),
    }
    Ok(())
}

/// Prints the shared secret (base64).
pub fn decapsulate(a: DecapsulateArgs, fmt: Format) -> Result<(), CliError> {
    let mut body = json!({ "key": a.key, "ciphertext": a.ciphertext });
    if let Some(n) = a.version {
        body["version"] = json!(n);
    }
    let v = Client::from_env()?.call("POST", "/v1/decapsulate", Some(&body))?;
    match fmt {
        Format::Json => output::json(&v),
        Format::Table => out!("{}", v["shared_secret"].as_str().unwrap_or_default()),
    }
    Ok(())
}
