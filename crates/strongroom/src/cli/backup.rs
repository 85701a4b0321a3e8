//! `strongroom backup create|drill` (`docs/LIFECYCLE.md`).

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
}

pub fn run(cmd: BackupCmd, fmt: Format) -> Result<(), CliError> {
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
                    "Wrote {out} ({} bytes): {} keys, {} versions, {} records, {} sample ciphertexts",
                    blob.len(),
                    s["keys"],
                    s["versions"],
                    s["records"],
                    s["samples"]
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
                    "Drill {}: {} keys restored, {}/{} sample ciphertexts decrypted",
                    if v["passed"] == true {
                        "PASSED"
                    } else {
                        "FAILED"
                    },
                    v["keys_restored"],
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
    }
}
