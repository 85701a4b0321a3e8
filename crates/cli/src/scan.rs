//! `strongroom scan`: the scanner lives in the `strongroom-scan` crate
//! (crates/scan); this is its place in the command line. It exits with its
//! own codes: 0 no new findings, 1 new findings with `--exit-code`, 2 an error.
//! `--report` sends the findings' counts and fingerprints to the server
//! (`POST /v1/scans`) and `--import` stores found secrets in the secrets
//! engine (`PUT /v1/secrets/data/...`), both with this crate's client.

use serde_json::{json, Value};

pub use strongroom_scan::cli::ScanArgs;
use strongroom_scan::cli::Server;
use strongroom_scan::import::ImportItem;

use crate::client::Client;

fn report(body: &Value) -> Result<String, String> {
    let c = Client::from_env().map_err(|e| e.to_string())?;
    let v = c
        .call("POST", "/v1/scans", Some(body))
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "reported to {} as repository {:?}: {} open secret finding(s), {} weak-crypto, {} in the baseline, {} imported",
        c.base(),
        v["repository"].as_str().unwrap_or_default(),
        v["open_secrets"],
        v["open_weak_crypto"],
        v["baselined"],
        v["imported"],
    ))
}

/// Creates the secret (check-and-set 0: an existing secret is never
/// overwritten), then records where it was found in its metadata.
fn import(item: &ImportItem<'_>) -> Result<String, String> {
    let c = Client::from_env().map_err(|e| e.to_string())?;
    let f = item.finding;
    let v = c
        .call(
            "POST",
            &format!("/v1/secrets/data/{}", item.path),
            Some(&json!({ "data": { item.field.as_str(): item.value }, "cas": 0 })),
        )
        .map_err(|e| e.to_string())?;
    let mut found = json!({
        "scan_rule": f.rule,
        "scan_fingerprint": f.fingerprint,
        "scan_found_in": format!("{}:{}", f.path, f.line),
    });
    if let Some(commit) = &f.commit {
        found["scan_commit"] = json!(commit);
    }
    c.call(
        "PATCH",
        &format!("/v1/secrets/metadata/{}", item.path),
        Some(&json!({
            "purpose": format!("imported by strongroom scan from {}:{}", f.path, f.line),
            "custom_metadata": found,
        })),
    )
    .map_err(|e| format!("stored, but its metadata was not recorded: {e}"))?;
    Ok(format!(
        "imported {}:{} ({}) as secret {} v{}; in the code, read ${} from the environment and run the program with: strongroom run --secret {} -- <command>",
        f.path,
        f.line,
        f.rule,
        item.path,
        v["version"]["version"].as_u64().or(v["version"].as_u64()).unwrap_or_default(),
        item.field,
        item.path
    ))
}

pub fn run(args: ScanArgs) -> i32 {
    strongroom_scan::cli::run_reporting(
        args,
        Server {
            reporter: Some(&report),
            importer: Some(&import),
        },
    )
}
