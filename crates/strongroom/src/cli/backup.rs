//! `strongroom backup create|drill|restore` (`docs/LIFECYCLE.md`).

use base64::Engine as _;
use clap::Subcommand;
use serde_json::json;

use super::client::Client;
use super::output::{self, Format};
use super::CliError;

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Write an encrypted, integrity-protected snapshot (keys, versions,
    /// identities, tokens, access keys, policies, approvals, audit head).
    Create {
        #[arg(long)]
        out: String,
    },
    /// Restore a backup into a scratch in-memory instance inside the server
    /// and decrypt the sample ciphertexts recorded at backup time.
    Drill { file: String },
    /// Offline, with the server stopped: write a backup into the EMPTY
    /// storage named by the config. A Shamir-sealed backup needs its unseal
    /// shares; a PKCS#11-sealed one needs the HSM named in the config.
    Restore {
        file: String,
        /// The config file of the server that will run on the restored storage.
        #[arg(long)]
        config: String,
        /// The unseal shares, one per line (`-` or omitted: stdin; Shamir only).
        #[arg(long)]
        shares_file: Option<String>,
    },
}

fn restore(
    file: &str,
    config: &str,
    shares_file: Option<&str>,
    fmt: Format,
) -> Result<(), CliError> {
    let blob =
        std::fs::read(file).map_err(|e| CliError::new(format!("cannot read {file}: {e}")))?;
    let cfg = crate::server::config::Config::load(config)?;
    let location = cfg.storage_path.clone().unwrap_or_default();
    if location.is_empty() {
        return Err(CliError::new(format!("{config} does not set storage_path")));
    }
    let store = crate::storage::open_location(&location).map_err(crate::error::Error::from)?;
    let sealed_by_hsm = crate::keys::engine::backup::read_header(&blob)
        .ok()
        .map(|h| h.seal_config)
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .and_then(|c| serde_json::from_slice::<serde_json::Value>(&c).ok())
        .is_some_and(|c| c["type"] == "pkcs11");
    let shares = if sealed_by_hsm {
        super::operator::ShareList(Vec::new())
    } else {
        super::operator::read_shares(shares_file, None)?
    };
    let hsm = || cfg.pkcs11_settings(&|k| std::env::var(k).ok());
    let r = crate::seal::restore::restore(store.as_ref(), &blob, &shares.0, &hsm)?;
    if fmt == Format::Json {
        output::json(&json!({
            "seal": r.seal, "keys": r.keys, "versions": r.versions, "records": r.records,
        }));
    } else {
        println!(
            "Restored {file} into {}: {}, {}, {}, sealed with {}. Start the server and unseal it as before.",
            if crate::storage::postgres::is_url(&location) { "the PostgreSQL database" } else { location.as_str() },
            output::plural(r.keys as u64, "key", "keys"),
            output::plural(r.versions as u64, "version", "versions"),
            output::plural(r.records as u64, "record", "records"),
            r.seal
        );
    }
    Ok(())
}

pub fn run(cmd: BackupCmd, fmt: Format) -> Result<(), CliError> {
    if let BackupCmd::Restore {
        file,
        config,
        shares_file,
    } = &cmd
    {
        return restore(file, config, shares_file.as_deref(), fmt);
    }
    let c = Client::from_env()?;
    let b64 = base64::engine::general_purpose::STANDARD;
    match cmd {
        BackupCmd::Create { out } => {
            let v = c.call("POST", "/v1/backup", None)?;
            let blob = b64
                .decode(v["backup"].as_str().unwrap_or(""))
                .map_err(|_| CliError::new("the server's backup is not base64"))?;
            std::fs::write(&out, &blob)
                .map_err(|e| CliError::new(format!("cannot write {out}: {e}")))?;
            if fmt == Format::Json {
                output::json(&v["summary"]);
            } else {
                let s = &v["summary"];
                println!(
                    "Wrote {out} ({}): {}, {}, {}, {}",
                    output::plural(blob.len() as u64, "byte", "bytes"),
                    output::plural(s["keys"].as_u64().unwrap_or(0), "key", "keys"),
                    output::plural(s["versions"].as_u64().unwrap_or(0), "version", "versions"),
                    output::plural(s["records"].as_u64().unwrap_or(0), "record", "records"),
                    output::plural(
                        s["samples"].as_u64().unwrap_or(0),
                        "sample ciphertext",
                        "sample ciphertexts"
                    )
                );
            }
            Ok(())
        }
        BackupCmd::Drill { file } => {
            let blob = std::fs::read(&file)
                .map_err(|e| CliError::new(format!("cannot read {file}: {e}")))?;
            let v = c.call(
                "POST",
                "/v1/backup/drill",
                Some(&json!({ "backup": b64.encode(blob) })),
            )?;
            if fmt == Format::Json {
                output::json(&v);
            } else {
                println!(
                    "Drill {}: {} restored, {}/{} sample ciphertexts decrypted",
                    if v["passed"] == true {
                        "PASSED"
                    } else {
                        "FAILED"
                    },
                    output::plural(v["keys_restored"].as_u64().unwrap_or(0), "key", "keys"),
                    v["samples_decrypted"],
                    v["samples"]
                );
                for e in v["errors"].as_array().into_iter().flatten() {
                    println!("  {}", e.as_str().unwrap_or(""));
                }
            }
            if v["passed"] == true {
                Ok(())
            } else {
                Err(CliError::new("the backup drill failed"))
            }
        }
        BackupCmd::Restore { .. } => Ok(()),
    }
}
