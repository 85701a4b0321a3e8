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

pub fn run(cmd: BackupCmd, fmt: Format, side: &dyn super::ServerSide) -> Result<(), CliError> {
    if let BackupCmd::Restore {
        file,
        config,
        shares_file,
    } = &cmd
    {
        return side.restore_backup(file, config, shares_file.as_deref(), fmt);
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
