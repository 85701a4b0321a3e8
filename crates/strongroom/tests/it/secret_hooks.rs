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
        &["secret", "put", "svc/api", "user=svc", &format!("token={canary}")],
    );
    // A generic secret is not rotated; the hook is named in the metadata.
    let e = cli_err(&s, &["secret", "rotate", "svc/api"]);
    assert!(e.contains("kind generic"), "{e}");
    let e = cli_err(
        &s,
        &["secret", "set-metadata", "svc/api", "--rotation-hook", "no good"],
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
    assert!(
        out.contains("Rotated secret/svc/api to version 3"),
        "{out}"
    );
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
        &["secret", "set-metadata", "svc/api", "--rotation-hook", "nope"],
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
    for needle in [canary.as_str(), rotated.as_str(), newest.as_str(), "hook stderr"] {
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
