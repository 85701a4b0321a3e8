//! `strongroom report compliance|verify` (`docs/LIFECYCLE.md`).

use clap::{Subcommand, ValueEnum};
use serde_json::Value;

use super::client::Client;
use super::CliError;
use strongroom_proto::report;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    Md,
    Json,
    Html,
}

#[derive(Subcommand)]
pub enum ReportCmd {
    /// Build the signed compliance report from the server's live state.
    Compliance {
        #[arg(long = "format", value_enum, default_value_t = ReportFormat::Md)]
        report_format: ReportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<String>,
    },
    /// Check a JSON compliance report's digest and signature.
    Verify {
        file: String,
        /// The audit public key (base64) the report must be signed with.
        #[arg(long = "public-key")]
        public_key: Option<String>,
    },
}

pub fn run(cmd: ReportCmd) -> Result<(), CliError> {
    match cmd {
        ReportCmd::Compliance { report_format, out } => {
            let env = Client::from_env()?.call("GET", "/v1/reports/compliance", None)?;
            let text = match report_format {
                ReportFormat::Json => {
                    let mut s = serde_json::to_string_pretty(&env)
                        .map_err(|e| CliError::new(format!("report: {e}")))?;
                    s.push('\n');
                    s
                }
                ReportFormat::Md => report::render_markdown(&env),
                ReportFormat::Html => report::render_html(&env),
            };
            match out {
                None => print!("{text}"),
                Some(p) => {
                    std::fs::write(&p, text)
                        .map_err(|e| CliError::new(format!("cannot write {p}: {e}")))?;
                    eprintln!(
                        "Wrote {p}: overall {}",
                        env["report"]["summary"]["overall"].as_str().unwrap_or("?")
                    );
                }
            }
            Ok(())
        }
        ReportCmd::Verify { file, public_key } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::new(format!("cannot read {file}: {e}")))?;
            let env: Value = serde_json::from_str(&text).map_err(|e| {
                CliError::new(format!(
                    "{file} is not a JSON report ({e}); only `--format json` reports carry a verifiable signature"
                ))
            })?;
            let pk = report::verify(&env, public_key.as_deref())
                .map_err(|e| CliError::new(format!("{file}: verification FAILED: {e}")))?;
            println!("{file}: signature OK (Ed25519, audit key {pk})");
            if public_key.is_none() {
                println!("Compare the key with the server's audit key (`strongroom report compliance --format json` on the live server) or pass --public-key.");
            }
            Ok(())
        }
    }
}
