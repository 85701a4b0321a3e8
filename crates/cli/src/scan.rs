//! `strongroom scan`: the scanner lives in the `strongroom-scan` crate
//! (crates/scan); this is its place in the command line. It exits with its
//! own codes: 0 no new findings, 1 new findings with `--exit-code`, 2 an error.
//! `--report` sends the findings' counts and fingerprints to the server
//! (`POST /v1/scans`) with this crate's client.

use serde_json::Value;

pub use strongroom_scan::cli::ScanArgs;

use crate::client::Client;

pub fn run(args: ScanArgs) -> i32 {
    let send = |body: &Value| -> Result<String, String> {
        let c = Client::from_env().map_err(|e| e.to_string())?;
        let v = c
            .call("POST", "/v1/scans", Some(body))
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "reported to {} as repository {:?}: {} open secret finding(s), {} weak-crypto, {} in the baseline",
            c.base(),
            v["repository"].as_str().unwrap_or_default(),
            v["open_secrets"],
            v["open_weak_crypto"],
            v["baselined"],
        ))
    };
    strongroom_scan::cli::run_reporting(args, Some(&send))
}
