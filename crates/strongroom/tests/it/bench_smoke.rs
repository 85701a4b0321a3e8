//! CI smoke run of `strongroom bench` against a real dev server: a second of
//! a few workloads plus the ceiling. It asserts only that everything ran,
//! measured something and saw no errors (no timing assertions).

use crate::common;

use common::BIN;
use serde_json::{json, Value};
use strongroom_testkit::{run, Server};

#[track_caller]
fn ok(what: &str, (status, v): (u16, Value)) -> Value {
    assert!((200..300).contains(&status), "{what}: HTTP {status}: {v}");
    v
}

/// An identity allowed `kms:*` with an access key, for the SigV4 workload.
fn aws_credentials(s: &Server) -> String {
    ok(
        "policy",
        s.post(
            "/v1/policies",
            &json!({ "name": "bench", "statements": [{ "effect": "Allow", "actions": ["kms:*"], "resources": ["*"] }] }),
        ),
    );
    ok(
        "identity",
        s.post(
            "/v1/identities",
            &json!({ "name": "bench", "roles": [], "policies": ["bench"] }),
        ),
    );
    let v = ok(
        "access key",
        s.post("/v1/access-keys", &json!({ "identity": "bench" })),
    );
    format!(
        "{}:{}",
        v["access_key_id"].as_str().unwrap(),
        v["secret_access_key"].as_str().unwrap()
    )
}

#[test]
fn bench_runs_workloads_and_the_ceiling_without_errors() {
    let s = Server::dev(BIN);
    let creds = aws_credentials(&s);
    let (code, out, err) = run(s.cli().args([
        "bench",
        "-o",
        "json",
        "--workload",
        "encrypt,aws-encrypt,sign-ecdsa-p256,batch-encrypt,create-key,file-envelope",
        "--aws-credentials",
        &creds,
        "--connections",
        "4",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--inproc-time",
        "100ms",
        "--file-mib",
        "4",
        "--file-dir",
        &s.dir.path().display().to_string(),
    ]));
    assert_eq!(code, 0, "bench failed:\n{err}\n{out}");
    assert!(!err.contains("panicked"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));

    let ceiling = &v["ceiling"];
    assert!(ceiling["ops"].as_u64().unwrap() > 0, "{ceiling}");
    assert_eq!(ceiling["errors"], 0, "{ceiling}");
    assert!(ceiling["inproc_ops_per_sec"].as_f64().unwrap() > 0.0);

    let rows = v["workloads"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "encrypt",
            "aws-encrypt",
            "sign-ecdsa-p256",
            "batch-encrypt",
            "create-key",
            "file-envelope"
        ]
    );
    for r in rows {
        assert!(r["skipped"].is_null(), "{r}");
        assert!(r["inproc_ops_per_sec"].as_f64().unwrap() > 0.0, "{r}");
        if r["workload"] == "file-envelope" {
            assert_eq!(r["file"]["bytes"], 4 << 20, "{r}");
            continue;
        }
        let h = &r["http"];
        assert!(h["ops"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(h["errors"], 0, "{r}");
        assert!(h["ratio_to_ceiling"].as_f64().unwrap() > 0.0, "{r}");
    }

    // The requests really reached the server: every acknowledged SigV4
    // request of the identity has its audit record, and the keys exist.
    let aws_ops = rows[1]["http"]["ops"].as_u64().unwrap();
    let (_, audit) = s.get("/v1/audit/query?identity=bench&outcome=allowed");
    let records = audit["records"].as_array().unwrap().len() as u64;
    assert!(
        records >= aws_ops,
        "{records} audit records < {aws_ops} requests"
    );
    let (_, keys) = s.get("/v1/keys?limit=1000");
    assert!(keys["keys"].as_array().unwrap().len() > 5, "{keys}");
}

#[test]
fn bench_explains_bad_arguments() {
    let s = Server::dev(BIN);
    let (code, _, err) = run(s.cli().args(["bench", "--workload", "nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("unknown workload \"nope\""), "{err}");
    let (code, _, err) = run(s.cli().args(["bench", "--workload", "aws-encrypt"]));
    assert_eq!(code, 1);
    assert!(err.contains("--aws-credentials"), "{err}");
    let (code, _, err) = run(s.cli().args([
        "bench",
        "--workload",
        "encrypt",
        "--addr",
        "https://127.0.0.1:1",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("plain http://"), "{err}");
}
