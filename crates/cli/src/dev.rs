//! `strongroom dev …`: dev-server conveniences (`docs/LIFECYCLE.md`).

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::Client;
use super::output::{self, Format};
use super::CliError;
use strongroom_core::keys::dates::format_rfc3339;

#[derive(Subcommand)]
pub enum DevCmd {
    /// Move a dev server's clock forward, then run the destruction sweep and
    /// the rotation scheduler once (refused by a production server).
    AdvanceClock {
        #[arg(long, default_value_t = 0)]
        days: i64,
        #[arg(long, default_value_t = 0)]
        seconds: i64,
    },
    /// Run the destruction sweep and the rotation scheduler once, now.
    RunScheduler,
}

pub fn dev(cmd: DevCmd, fmt: Format) -> Result<(), CliError> {
    let c = Client::from_env()?;
    let v = match cmd {
        DevCmd::AdvanceClock { days, seconds } => c.call(
            "POST",
            "/v1/sys/dev/advance-clock",
            Some(&json!({ "days": days, "seconds": seconds })),
        )?,
        DevCmd::RunScheduler => c.call("POST", "/v1/sys/dev/run-scheduler", None)?,
    };
    if fmt == Format::Json {
        output::json(&v);
        return Ok(());
    }
    let now = v["now"].as_i64().unwrap_or(0);
    println!(
        "Server clock: {} ({} ahead of real time)",
        format_rfc3339(now),
        output::plural(
            (v["offset_seconds"].as_i64().unwrap_or(0) / 86_400).unsigned_abs(),
            "day",
            "days"
        )
    );
    let rotated = v["rotated"].as_array().cloned().unwrap_or_default();
    if rotated.is_empty() {
        println!("No scheduled rotation was due.");
    }
    for r in &rotated {
        println!(
            "Rotated {} to version {} (scheduled)",
            r["key_id"].as_str().unwrap_or("?"),
            r["version"]
        );
    }
    for r in v["rotation_failed"]
        .as_array()
        .unwrap_or(&Vec::<Value>::new())
    {
        println!(
            "Rotation of {} failed: {}",
            r["key_id"].as_str().unwrap_or("?"),
            r["error"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
