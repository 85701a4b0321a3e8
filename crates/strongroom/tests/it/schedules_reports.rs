//! Rotation schedules, the dev clock, the compliance report and backup
//! drills end to end through the real server and CLI (docs/LIFECYCLE.md).

use crate::common;

use common::{cli, cli_json, cli_ok, init_and_unseal, BIN};
use serde_json::Value;
use strongroom_testkit::{Server, TempDir};

fn control<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["report"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

#[test]
fn scheduled_rotation_report_and_drill_on_a_dev_server() {
    let s = Server::dev(BIN);
    // Native AES keys get the server default (365 days); --rotation-days overrides.
    let d = cli_json(&s, &["key", "create", "--owner", "team"]);
    assert_eq!(d["rotation_period_days"], 365);
    let k = cli_json(
        &s,
        &["key", "create", "--owner", "team", "--rotation-days", "90"],
    );
    let id = k["id"].as_str().unwrap().to_string();
    let none = cli_json(
        &s,
        &["key", "create", "--owner", "team", "--rotation-days", "0"],
    );
    assert!(none["next_rotation_at"].is_null());
    let ec = cli_json(
        &s,
        &[
            "key",
            "create",
            "--owner",
            "team",
            "--spec",
            "ECC_NIST_P256",
        ],
    );
    assert!(
        ec["rotation_period_days"].is_null(),
        "default is for AES keys only"
    );
    let paused = cli_json(
        &s,
        &["key", "create", "--owner", "team", "--rotation-days", "30"],
    );
    let paused = paused["id"].as_str().unwrap().to_string();
    cli_ok(&s, &["key", "disable", &paused]);

    // Not yet due: nothing rotates.
    let v = cli_json(&s, &["dev", "advance-clock", "--days", "89"]);
    assert!(v["rotated"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["key_id"] != id.as_str()));
    let v = cli_json(&s, &["dev", "advance-clock", "--days", "1"]);
    let rotated: Vec<&str> = v["rotated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(rotated, vec![id.as_str()], "exactly the due key");
    let m = cli_json(&s, &["key", "describe", &id]);
    assert_eq!(m["primary_version"], 2);
    assert_eq!(m["versions"][1]["rotation_type"], "AUTOMATIC");
    // Once: a second pass at the same time does nothing.
    let v = cli_json(&s, &["dev", "run-scheduler"]);
    assert!(v["rotated"].as_array().unwrap().is_empty());
    let audit = cli_json(
        &s,
        &["audit", "query", "--action", "strongroom:ScheduledRotation"],
    );
    let recs = audit["records"].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["event"]["identity"], "system");
    // The disabled key could not rotate: overdue.
    let inv = cli_json(&s, &["inventory", "--overdue"]);
    let rows = inv
        .as_array()
        .cloned()
        .unwrap_or_else(|| inv["keys"].as_array().cloned().unwrap_or_default());
    assert!(rows.iter().any(|r| r["id"] == paused.as_str()), "{inv}");

    // The report: 3.7.4 fails on the overdue key; the signed JSON verifies.
    let dir = TempDir::new("report");
    let path = dir.path().join("r.json");
    let p = path.to_str().unwrap();
    cli_ok(
        &s,
        &["report", "compliance", "--format", "json", "--out", p],
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(control(&r, "3.7.4")["status"], "fail");
    assert!(control(&r, "3.7.4")["findings"]
        .to_string()
        .contains(&paused));
    assert_eq!(control(&r, "8.2.2")["status"], "fail", "no drill yet");
    cli_ok(&s, &["report", "verify", p]);
    let forged = dir.path().join("forged.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("\"fail\"", "\"pass\"", 1);
    std::fs::write(&forged, text).unwrap();
    let (code, _, err) = cli(&s, &["report", "verify", forged.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("modified"), "{err}");
    assert!(control(&r, "3.7.4")["findings"]
        .to_string()
        .contains("without a cryptoperiod"));
    // Fixing both keys flips 3.7.4 back to pass.
    let none_id = none["id"].as_str().unwrap();
    cli_ok(&s, &["key", "rotation-policy", none_id, "--days", "365"]);
    cli_ok(&s, &["key", "enable", &paused]);
    cli_ok(&s, &["dev", "run-scheduler"]);
    let md = cli_ok(&s, &["report", "compliance"]);
    assert!(
        md.contains("| 3.7.4 Key changes at the end of the defined cryptoperiod | PASS |"),
        "{md}"
    );
    let html = cli_ok(&s, &["report", "compliance", "--format", "html"]);
    assert!(html.starts_with("<!doctype html>") && html.contains("<svg"));

    // Backup and drill; a tampered backup fails the drill and the report sees it.
    let b = dir.path().join("b.backup");
    cli_ok(&s, &["backup", "create", "--out", b.to_str().unwrap()]);
    let out = cli_ok(&s, &["backup", "drill", b.to_str().unwrap()]);
    assert!(out.contains("PASSED"), "{out}");
    let r = cli_json(&s, &["report", "compliance", "--format", "json"]);
    assert_eq!(control(&r, "8.2.2")["status"], "pass");
    let mut bytes = std::fs::read(&b).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 1;
    let t = dir.path().join("t.backup");
    std::fs::write(&t, bytes).unwrap();
    let (code, out, _) = cli(&s, &["backup", "drill", t.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(out.contains("does not authenticate"), "{out}");
    let r = cli_json(&s, &["report", "compliance", "--format", "json"]);
    assert_eq!(control(&r, "8.2.2")["status"], "fail");
}

#[test]
fn a_production_server_refuses_the_dev_clock() {
    let mut s = Server::production(BIN, TempDir::new("devclock-prod"), None);
    init_and_unseal(&mut s, 1, 1);
    let (code, _, err) = cli(&s, &["dev", "advance-clock", "--days", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("only on a dev server"), "{err}");
}
