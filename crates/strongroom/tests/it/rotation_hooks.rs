//! Rotation hooks for secrets of kind `hook`, end to end: a real shell
//! script configured by the operator (`STRONGROOM_SECRET_ROTATION_HOOKS_FILE`
//! on a dev server), rotated on demand and on schedule, a failing hook that
//! changes nothing and is audited, and canaries: neither the value the hook
//! reads nor what it prints (on stdout or stderr) reaches the server log,
//! the audit log or an error.

use strongroom_testkit::{Server, TempDir};

use crate::common::{cli_err, cli_json, cli_ok, BIN};

/// A hook script in `dir`: logs each run to `runs`, echoes its whole input
/// (the current value) to stderr, fails with status 7 while `fail` exists,
/// else prints a new `token` (and keeps `user`).
fn hook_script(dir: &std::path::Path, sleep_secs: u32) -> std::path::PathBuf {
    let script = dir.join("hook.sh");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
input=$(cat)
echo "hook stderr: $input" >&2
echo run >> "{d}/runs"
sleep {sleep_secs}
if [ -e "{d}/fail" ]; then exit 7; fi
n=$(wc -l < "{d}/runs" | tr -d ' ')
printf '{{"fields":{{"user":"svc","token":"rotated-token-%s-%s"}}}}' "$n" "$$"
"#
        ),
    )
    .unwrap();
    script
}

fn hooks_file(dir: &std::path::Path, script: &std::path::Path) -> std::path::PathBuf {
    let f = dir.join("hooks.toml");
    std::fs::write(
        &f,
        format!(
            "[[secret_rotation_hook]]\nname = \"token-hook\"\ncommand = [\"/bin/sh\", {:?}]\ntimeout_secs = 20\npaths = [\"svc/*\"]\n",
            script.display().to_string()
        ),
    )
    .unwrap();
    f
}

fn runs(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("runs"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_hook_rotates_on_demand_and_on_schedule_and_a_failure_changes_nothing() {
    let work = TempDir::new("hooks");
    let dir = work.path();
    let script = hook_script(dir, 0);
    let file = hooks_file(dir, &script);
    let s = Server::dev_with_env(
        BIN,
        &[(
            "STRONGROOM_SECRET_ROTATION_HOOKS_FILE",
            file.to_str().unwrap(),
        )],
    );
    let canary = format!("CANARY-hook-value-{}", std::process::id());
    cli_ok(
        &s,
        &[
            "secret",
            "put",
            "svc/api",
            "user=svc",
            &format!("token={canary}"),
        ],
    );
    // A generic secret is not rotated; the hook is named in the metadata.
    let e = cli_err(&s, &["secret", "rotate", "svc/api"]);
    assert!(e.contains("kind generic"), "{e}");
    let e = cli_err(
        &s,
        &[
            "secret",
            "set-metadata",
            "svc/api",
            "--rotation-hook",
            "no good",
        ],
    );
    assert!(e.contains("not allowed"), "{e}");
    cli_ok(
        &s,
        &[
            "secret",
            "set-metadata",
            "svc/api",
            "--kind",
            "hook",
            "--rotation-hook",
            "token-hook",
            "--rotation-period-days",
            "30",
        ],
    );
    let h = cli_json(&s, &["secret", "history", "svc/api"]);
    assert_eq!(
        (h["kind"].as_str(), h["rotation_hook"].as_str()),
        (Some("hook"), Some("token-hook")),
        "{h}"
    );

    // On demand: the hook's output is the new version.
    let v = cli_json(&s, &["secret", "rotate", "svc/api"]);
    assert_eq!(v["version"]["version"], 2, "{v}");
    assert_eq!(runs(dir), 1);
    let got = cli_json(&s, &["secret", "get", "svc/api"]);
    let rotated = got["data"]["token"].as_str().unwrap().to_string();
    assert!(rotated.starts_with("rotated-token-1-"), "{got}");
    assert_eq!(got["data"]["user"], "svc");

    // A failing hook (exit 7): nothing written, the error says why without
    // any output, and the failure is audited.
    std::fs::write(dir.join("fail"), "").unwrap();
    let e = cli_err(&s, &["secret", "rotate", "svc/api"]);
    assert!(
        e.contains("rotation failed") && e.contains("status 7"),
        "{e}"
    );
    assert!(!e.contains(&rotated) && !e.contains("hook stderr"), "{e}");
    assert_eq!(runs(dir), 2);
    let h = cli_json(&s, &["secret", "history", "svc/api"]);
    assert_eq!(h["current_version"], 2, "{h}");

    // On schedule: due after 30 days; a failing pass keeps it due...
    let out = cli_ok(&s, &["dev", "advance-clock", "--days", "31"]);
    assert!(out.contains("Rotation of secret/svc/api failed"), "{out}");
    assert_eq!(
        cli_json(&s, &["secret", "history", "svc/api"])["current_version"],
        2
    );
    // ...and the next pass retries it.
    std::fs::remove_file(dir.join("fail")).unwrap();
    let out = cli_ok(&s, &["dev", "run-scheduler"]);
    assert!(out.contains("Rotated secret/svc/api to version 3"), "{out}");
    let newest = cli_ok(&s, &["secret", "get", "svc/api", "--field", "token"]);
    let newest = newest.trim_end().to_string();
    assert!(newest.starts_with("rotated-token-4-"), "{newest}");
    let out = cli_ok(&s, &["dev", "run-scheduler"]);
    assert!(!out.contains("secret/svc/api"), "not due again: {out}");

    // A hook may rotate only the paths the operator gave it.
    cli_ok(&s, &["secret", "put", "other/api", "token=x"]);
    cli_ok(
        &s,
        &[
            "secret",
            "set-metadata",
            "other/api",
            "--kind",
            "hook",
            "--rotation-hook",
            "token-hook",
        ],
    );
    let e = cli_err(&s, &["secret", "rotate", "other/api"]);
    assert!(e.contains("may not rotate secret other/api"), "{e}");
    // A name the server does not have.
    cli_ok(
        &s,
        &[
            "secret",
            "set-metadata",
            "svc/api",
            "--rotation-hook",
            "nope",
        ],
    );
    let e = cli_err(&s, &["secret", "rotate", "svc/api"]);
    assert!(
        e.contains("not configured on this server") && e.contains("token-hook"),
        "{e}"
    );
    assert_eq!(runs(dir), 4, "no hook ran for the refused rotations");

    // The audit has the rotations and their failures (system ones too).
    let audit = std::fs::read_to_string(s.dir.path().join("audit.jsonl")).unwrap();
    let rot: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("strongroom:RotateSecret") && l.contains("secret/svc/api"))
        .collect();
    assert!(
        rot.iter()
            .any(|l| l.contains("\"error\"") && l.contains("\"identity\":\"system\"")),
        "{rot:?}"
    );
    assert!(
        rot.iter()
            .any(|l| l.contains("\"error\"") && !l.contains("\"identity\":\"system\"")),
        "the on-demand failure: {rot:?}"
    );
    assert!(rot.iter().any(|l| l.contains("\"allowed\"")), "{rot:?}");
    // Canaries: the value the hook read (and echoed to stderr), and what it
    // printed, are nowhere in the server's log or the audit log.
    let logs = s.logs();
    for needle in [
        canary.as_str(),
        rotated.as_str(),
        newest.as_str(),
        "hook stderr",
    ] {
        assert!(!logs.contains(needle), "{needle} reached the server log");
        assert!(!audit.contains(needle), "{needle} reached the audit log");
    }
}

#[test]
fn hooks_are_refused_at_start_when_misconfigured() {
    let work = TempDir::new("hooks-bad");
    let f = work.path().join("hooks.toml");
    std::fs::write(
        &f,
        "[[secret_rotation_hook]]\nname = \"x\"\ncommand = [\"sh\", \"-c\", \"echo\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["server", "--dev", "--listen", "127.0.0.1:0"])
        .env("STRONGROOM_SECRET_ROTATION_HOOKS_FILE", &f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("absolute path"), "{err}");
}

/// A small HTTPS webhook (Python's http.server behind `ssl`): records each
/// call, answers 500 (with the input in its body) while `fail` exists,
/// else a new `token` and the old one as `old`.
const WEBHOOK_PY: &str = r#"
import http.server, json, os, ssl, sys
cert, key, portfile, calls = sys.argv[1:5]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open(calls, "a") as f:
            f.write("%s %s %s\n" % (self.headers["Content-Type"], body["path"], body["version"]))
        if os.path.exists(calls + ".fail"):
            out = ("leaked-in-body " + json.dumps(body)).encode()
            self.send_response(500)
        else:
            out = json.dumps({"fields": {"token": "web-token-%d" % (body["version"] + 1),
                                         "old": body["fields"]["token"]}}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
"#;

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_webhook_rotates_over_https_and_an_untrusted_or_failing_one_changes_nothing() {
    let work = TempDir::new("webhook");
    let dir = work.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (installed by scripts/setup-test-machine.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py = dir.join("webhook.py");
    std::fs::write(&py, WEBHOOK_PY).unwrap();
    let (portfile, calls) = (dir.join("port"), dir.join("calls"));
    let _srv = KillOnDrop(
        std::process::Command::new("python3")
            .arg(&py)
            .args([&cert, &key, &portfile, &calls])
            .spawn()
            .expect("python3"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&portfile) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let url = format!("https://127.0.0.1:{port}/rotate");
    let hooks = dir.join("hooks.toml");
    std::fs::write(
        &hooks,
        format!(
            "[[secret_rotation_hook]]\nname = \"web\"\nurl = {url:?}\nca_file = {:?}\ntimeout_secs = 10\n\n[[secret_rotation_hook]]\nname = \"web-untrusted\"\nurl = {url:?}\n",
            cert.display().to_string()
        ),
    )
    .unwrap();
    let s = Server::dev_with_env(
        BIN,
        &[(
            "STRONGROOM_SECRET_ROTATION_HOOKS_FILE",
            hooks.to_str().unwrap(),
        )],
    );
    let canary = format!("CANARY-webhook-{}", std::process::id());
    cli_ok(
        &s,
        &["secret", "put", "web/api", &format!("token={canary}")],
    );
    cli_ok(
        &s,
        &[
            "secret",
            "set-metadata",
            "web/api",
            "--kind",
            "hook",
            "--rotation-hook",
            "web",
        ],
    );
    let v = cli_json(&s, &["secret", "rotate", "web/api"]);
    assert_eq!(v["version"]["version"], 2, "{v}");
    let got = cli_json(&s, &["secret", "get", "web/api"]);
    assert_eq!(
        (got["data"]["token"].as_str(), got["data"]["old"].as_str()),
        (Some("web-token-2"), Some(canary.as_str())),
        "the webhook got the current value and its answer is the new version: {got}"
    );
    let seen = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(seen.trim(), "application/json web/api 1", "{seen}");

    // A failing webhook (HTTP 500 with the value in its body): nothing
    // written, the error names the status only.
    std::fs::write(dir.join("calls.fail"), "").unwrap();
    let e = cli_err(&s, &["secret", "rotate", "web/api"]);
    assert!(e.contains("HTTP 500"), "{e}");
    assert!(
        !e.contains("leaked-in-body") && !e.contains("web-token-2"),
        "{e}"
    );
    std::fs::remove_file(dir.join("calls.fail")).unwrap();
    // Not trusted (the system's store does not know this certificate):
    // refused before anything is sent.
    cli_ok(
        &s,
        &[
            "secret",
            "set-metadata",
            "web/api",
            "--rotation-hook",
            "web-untrusted",
        ],
    );
    let e = cli_err(&s, &["secret", "rotate", "web/api"]);
    assert!(e.contains("rotation failed"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap().lines().count(),
        2,
        "the untrusted server got nothing"
    );
    let h = cli_json(&s, &["secret", "history", "web/api"]);
    assert_eq!(h["current_version"], 2, "{h}");
    let audit = std::fs::read_to_string(s.dir.path().join("audit.jsonl")).unwrap();
    let logs = s.logs();
    for needle in [canary.as_str(), "web-token-2", "leaked-in-body"] {
        assert!(!logs.contains(needle), "{needle} reached the server log");
        assert!(!audit.contains(needle), "{needle} reached the audit log");
    }
}
