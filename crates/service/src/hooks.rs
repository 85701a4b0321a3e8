//! Rotation hooks: how secrets of kind `hook` are rotated.
//!
//! A hook is defined by the operator in the server's configuration
//! (`[[secret_rotation_hook]]`), never by a secret's writer: a secret only
//! names one (`rotation_hook`), so nobody who can write secrets can make
//! the server run a command of their choosing.
//!
//! A hook is a command or an HTTPS webhook. A command hook is run without a shell, with an empty environment
//! (`PATH=/usr/local/bin:/usr/bin:/bin` only; none of the server's
//! variables), in `/`, in its own process group. It reads on stdin:
//!
//! ```json
//! {"hook": "NAME", "path": "app/stripe", "version": 3, "fields": {"api_key": "..."}}
//! ```
//!
//! and must exit 0 after printing on stdout `{"fields": {"name": "value", …}}`:
//! the whole new version. Anything else (a non-zero exit, a timeout, output
//! that is not that JSON or breaks a secret's limits) is a failed rotation:
//! nothing is written. Its stdout and stderr are never logged, audited or
//! put in an error (stderr is read and thrown away).
//!
//! A webhook gets the same JSON as the body of a `POST` (HTTPS only, the
//! server's certificate checked against the system's trust store or the
//! hook's `ca_file`, no redirects) and must answer 2xx with the same
//! `{"fields": …}` body. Its answer is never logged either.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secrets_model::SecretFields;

/// The longest a hook may be given to run.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);
/// The default time a hook is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes read from a hook's stdout.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// What a hook runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookTarget {
    /// An executable (absolute path) and its arguments.
    Command(Vec<String>),
    /// An HTTPS URL the same JSON is POSTed to; the answer's body is the
    /// same JSON a command prints. `ca_file`: PEM certificates to trust
    /// instead of the system's trust store.
    Webhook {
        url: String,
        ca_file: Option<String>,
    },
}

/// One operator-configured rotation hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationHook {
    /// What a secret's `rotation_hook` names: 1-64 of `A-Z a-z 0-9 _ -`.
    pub name: String,
    pub target: HookTarget,
    pub timeout: Duration,
    /// Secret path patterns the hook may rotate (`app/db`, `app/*`, `*`).
    pub paths: Vec<String>,
}

/// A hook's name: 1 to 64 characters of `A-Z a-z 0-9 _ -`.
pub use crate::secrets_model::validate_hook_name as validate_name;

impl RotationHook {
    /// Checks a hook as configured; the message says what to fix.
    pub fn validate(&self) -> std::result::Result<(), String> {
        validate_name(&self.name)?;
        match &self.target {
            HookTarget::Command(argv) => match argv.first() {
                Some(p) if p.starts_with('/') => {}
                _ => {
                    return Err(format!(
                        "secret_rotation_hook {:?}: command must be a list whose first item is an absolute path to an executable, e.g. [\"/usr/local/bin/rotate\", \"--flag\"] (no shell is used)",
                        self.name
                    ))
                }
            },
            HookTarget::Webhook { url, ca_file } => {
                let ok = url.starts_with("https://")
                    && url
                        .parse::<ureq::http::Uri>()
                        .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()));
                if !ok {
                    return Err(format!(
                        "secret_rotation_hook {:?}: url must be an https:// URL with a host, e.g. \"https://rotator.internal/stripe\" (plain http is refused)",
                        self.name
                    ));
                }
                if let Some(f) = ca_file {
                    roots(Some(f)).map_err(|e| {
                        format!("secret_rotation_hook {:?}: ca_file: {e}", self.name)
                    })?;
                }
            }
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Err(format!(
                "secret_rotation_hook {:?}: timeout_secs is 1 to {}",
                self.name,
                MAX_TIMEOUT.as_secs()
            ));
        }
        for p in &self.paths {
            let base = p.strip_suffix("/*").unwrap_or(p);
            if p != "*" && crate::secrets_model::path::validate_path(base).is_err() {
                return Err(format!(
                    "secret_rotation_hook {:?}: paths entry {p:?} is not a secret path, `PATH/*` or `*`",
                    self.name
                ));
            }
        }
        Ok(())
    }

    /// Whether the hook may rotate the secret at `path` (no `paths`: any).
    pub fn covers(&self, path: &str) -> bool {
        self.paths.is_empty()
            || self.paths.iter().any(|p| {
                p == "*"
                    || p == path
                    || p.strip_suffix('*')
                        .is_some_and(|prefix| prefix.ends_with('/') && path.starts_with(prefix))
            })
    }
}

/// The hooks a node knows (from its configuration).
#[derive(Debug, Clone, Default)]
pub struct RotationHooks {
    hooks: Vec<RotationHook>,
}

impl RotationHooks {
    /// Checks every hook and that no name is used twice.
    pub fn new(hooks: Vec<RotationHook>) -> std::result::Result<Self, String> {
        for (i, h) in hooks.iter().enumerate() {
            h.validate()?;
            if hooks[..i].iter().any(|o| o.name == h.name) {
                return Err(format!(
                    "secret_rotation_hook {:?} is defined twice; each name once",
                    h.name
                ));
            }
        }
        Ok(RotationHooks { hooks })
    }

    pub fn names(&self) -> Vec<&str> {
        self.hooks.iter().map(|h| h.name.as_str()).collect()
    }

    /// The hook named `name`, if it may rotate `path`.
    pub fn find(&self, name: &str, path: &str) -> Result<&RotationHook> {
        let h = self.hooks.iter().find(|h| h.name == name).ok_or_else(|| {
            let known = self.names();
            Error::InvalidArgument(format!(
                "rotation failed: secret {path} names rotation hook {name:?}, which is not configured on this server ({}); the operator defines hooks with [[secret_rotation_hook]] in the server configuration (docs/SECRETS.md)",
                if known.is_empty() {
                    "it has none".to_string()
                } else {
                    format!("it has: {}", known.join(", "))
                }
            ))
        })?;
        if !h.covers(path) {
            return Err(Error::InvalidArgument(format!(
                "rotation failed: rotation hook {name:?} may not rotate secret {path} (its paths are {:?})",
                h.paths
            )));
        }
        Ok(h)
    }
}

fn failed(name: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("rotation failed: hook {name:?}: {why}"))
}

/// The JSON a hook reads: the secret's path, current version and fields.
pub fn hook_input(
    name: &str,
    path: &str,
    version: u32,
    fields: &SecretFields,
) -> Result<Zeroizing<Vec<u8>>> {
    let head = serde_json::json!({ "hook": name, "path": path, "version": version }).to_string();
    let value = fields.to_json()?;
    let mut out = Zeroizing::new(Vec::with_capacity(head.len() + value.len() + 16));
    // `{"hook":…,"version":N` + `,"fields":` + the fields' object + `}`.
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    out.extend_from_slice(b",\"fields\":");
    out.extend_from_slice(value.expose());
    out.extend_from_slice(b"}\n");
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HookOutput {
    fields: std::collections::BTreeMap<String, String>,
}

/// The new version a hook printed (`{"fields": {…}}`), checked against the
/// secrets' limits. Errors never quote the output.
pub fn parse_output(name: &str, out: &[u8]) -> Result<SecretFields> {
    let parsed: HookOutput = serde_json::from_slice(out).map_err(|e| {
        failed(
            name,
            format!(
                "its output is not {{\"fields\": {{\"name\": \"value\", ...}}}} (JSON {} error at line {})",
                match e.classify() {
                    serde_json::error::Category::Io => "io",
                    serde_json::error::Category::Syntax => "syntax",
                    serde_json::error::Category::Data => "data",
                    serde_json::error::Category::Eof => "end of input",
                },
                e.line()
            ),
        )
    })?;
    let mut f = SecretFields::new();
    for (n, v) in parsed.fields {
        f.insert(n, v);
    }
    f.validate().map_err(|e| match e {
        Error::PayloadTooLarge { limit } => failed(
            name,
            format!("the new version it printed is over the {limit}-byte limit of a secret"),
        ),
        Error::InvalidArgument(m) => failed(name, format!("the new version it printed: {m}")),
        other => other,
    })?;
    Ok(f)
}

/// The certificates a webhook's server is checked against: `ca_file`'s,
/// or the system's trust store.
fn roots(
    ca_file: Option<&String>,
) -> std::result::Result<Vec<ureq::tls::Certificate<'static>>, String> {
    match ca_file {
        Some(path) => {
            let certs = strongroom_core::pem::read_certs(path).map_err(|e| e.to_string())?;
            if certs.is_empty() {
                return Err(format!("{path} holds no PEM certificate"));
            }
            Ok(certs
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect())
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                return Err(
                    "no trusted CA certificates were found in the system trust store; install ca-certificates or set ca_file"
                        .into(),
                );
            }
            Ok(found
                .certs
                .iter()
                .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                .collect())
        }
    }
}

/// POSTs `input` to a webhook hook and returns the answer's body, or a
/// failure that says why without quoting any of it. HTTPS only, no
/// redirects, the server's certificate checked (rustls on aws-lc-rs).
pub fn run_webhook(
    h: &RotationHook,
    url: &str,
    ca_file: Option<&String>,
    input: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>> {
    use ureq::tls::{RootCerts, TlsConfig};
    let name = h.name.as_str();
    let roots = roots(ca_file).map_err(|e| failed(name, e))?;
    let tls = TlsConfig::builder()
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .root_certs(RootCerts::Specific(std::sync::Arc::new(roots)))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .https_only(true)
        .max_redirects(0)
        .timeout_global(Some(h.timeout))
        .tls_config(tls)
        .build()
        .into();
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(&input[..])
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => failed(
                name,
                format!("{url} did not answer within {} s", h.timeout.as_secs()),
            ),
            other => failed(name, format!("POST {url} failed: {other}")),
        })?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(failed(
            name,
            format!(
                "{url} answered HTTP {status}; nothing was written (the answer's body is never logged)"
            ),
        ));
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_OUTPUT_BYTES as u64)
        .read_to_vec()
        .map_err(|_| {
            failed(
                name,
                format!("reading the answer of {url} failed (over {MAX_OUTPUT_BYTES} bytes, too slow, or the connection broke)"),
            )
        })?;
    Ok(Zeroizing::new(body))
}

/// Runs a command hook with `input` on stdin and returns its stdout, or a
/// failure that says why without quoting any output.
pub fn run_command(h: &RotationHook, input: Zeroizing<Vec<u8>>) -> Result<Zeroizing<Vec<u8>>> {
    let HookTarget::Command(argv) = &h.target else {
        return Err(Error::Internal("run_command on a webhook".into()));
    };
    let name = h.name.as_str();
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| failed(name, "no command is configured"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(name, format!("cannot start {program}: {e}")))?;
    let deadline = Instant::now() + h.timeout;
    let (tx, rx) = mpsc::channel::<std::io::Result<Zeroizing<Vec<u8>>>>();
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            // A hook that exits without reading its input breaks the pipe: ignored.
            let _ = stdin.write_all(&input);
        });
    }
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut buf = Zeroizing::new(Vec::new());
            let r = stdout
                .take(MAX_OUTPUT_BYTES as u64 + 1)
                .read_to_end(&mut buf)
                .map(|_| buf);
            let _ = tx.send(r);
        });
    }
    if let Some(mut stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            // Read and thrown away: never logged.
            let mut sink = Zeroizing::new([0u8; 4096]);
            while matches!(stderr.read(&mut sink[..]), Ok(n) if n > 0) {}
        });
    }
    let kill = |child: &mut std::process::Child| {
        // The whole group: a script's children too, so its pipes close.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() >= deadline => {
                kill(&mut child);
                return Err(failed(
                    name,
                    format!(
                        "it did not finish within {} s and was killed",
                        h.timeout.as_secs()
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                kill(&mut child);
                return Err(failed(name, format!("waiting for it failed: {e}")));
            }
        }
    };
    if !status.success() {
        // Whatever it left running goes too.
        kill(&mut child);
        let how = match status.code() {
            Some(c) => format!("it exited with status {c}"),
            None => "it was killed by a signal".to_string(),
        };
        return Err(failed(
            name,
            format!("{how}; nothing was written (its output is never logged: run it by hand to see why)"),
        ));
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let out = match rx.recv_timeout(left.max(Duration::from_millis(100))) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(failed(name, format!("reading its output failed: {e}"))),
        Err(_) => {
            kill(&mut child);
            return Err(failed(
                name,
                "it exited but something it started kept its stdout open",
            ));
        }
    };
    if out.len() > MAX_OUTPUT_BYTES {
        return Err(failed(
            name,
            format!("its output is over {MAX_OUTPUT_BYTES} bytes"),
        ));
    }
    Ok(out)
}

/// Runs hook `h` on the current version of the secret at `path` and
/// returns the new version's fields (not yet written).
pub fn rotate_with(
    h: &RotationHook,
    path: &str,
    version: u32,
    current: &SecretFields,
) -> Result<SecretFields> {
    let input = hook_input(&h.name, path, version, current)?;
    let out = match &h.target {
        HookTarget::Command(_) => run_command(h, input)?,
        HookTarget::Webhook { url, ca_file } => run_webhook(h, url, ca_file.as_ref(), input)?,
    };
    parse_output(&h.name, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(argv: &[&str], paths: &[&str]) -> RotationHook {
        RotationHook {
            name: "h".into(),
            target: HookTarget::Command(argv.iter().map(|s| s.to_string()).collect()),
            timeout: Duration::from_secs(5),
            paths: paths.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn configuration_is_checked() {
        assert!(hook(&["/bin/true"], &[]).validate().is_ok());
        assert!(hook(&["true"], &[]).validate().is_err(), "relative");
        assert!(hook(&[], &[]).validate().is_err());
        assert!(hook(&["/bin/true"], &["app/../x"]).validate().is_err());
        let mut h = hook(&["/bin/true"], &[]);
        h.timeout = Duration::from_secs(121);
        assert!(h.validate().is_err());
        h.timeout = Duration::from_secs(1);
        h.name = "a b".into();
        assert!(h.validate().is_err());
        assert!(
            RotationHooks::new(vec![hook(&["/bin/true"], &[]), hook(&["/bin/true"], &[])]).is_err()
        );
    }

    #[test]
    fn paths_limit_what_a_hook_rotates() {
        let h = hook(&["/bin/true"], &["app/*", "db/main"]);
        assert!(h.covers("app/x") && h.covers("app/x/y") && h.covers("db/main"));
        assert!(!h.covers("app") && !h.covers("app2/x") && !h.covers("db/main2"));
        assert!(hook(&["/bin/true"], &[]).covers("anything"));
    }

    #[test]
    fn input_is_json_with_the_fields() {
        let mut f = SecretFields::new();
        f.insert("k".into(), "v\"1".into());
        let i = hook_input("h", "a/b", 3, &f).expect("input");
        let v: serde_json::Value = serde_json::from_slice(&i).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"hook": "h", "path": "a/b", "version": 3, "fields": {"k": "v\"1"}})
        );
    }

    #[test]
    fn output_must_be_fields_and_errors_never_quote_it() {
        let ok = parse_output("h", br#"{"fields": {"password": "new"}}"#).expect("ok");
        assert_eq!(ok.get("password"), Some("new"));
        for bad in [
            &br#"leaked-canary"#[..],
            br#"{"value": "leaked-canary"}"#,
            br#"{"fields": {"bad name": "leaked-canary"}}"#,
            br#"{"fields": {}}"#,
        ] {
            let e = parse_output("h", bad).expect_err("refused").to_string();
            assert!(!e.contains("leaked-canary"), "{e}");
            assert!(e.contains("rotation failed"), "{e}");
        }
    }

    #[test]
    fn commands_run_with_a_timeout_and_a_clean_environment() {
        let f = {
            let mut f = SecretFields::new();
            f.insert("k".into(), "v".into());
            f
        };
        // The environment is empty but PATH; the input arrives on stdin.
        let h = hook(
            &[
                "/bin/sh",
                "-c",
                "read -r line; printf '{\"fields\":{\"home\":\"%s\",\"n\":\"%s\"}}' \"${HOME:-none}\" \"${#line}\"",
            ],
            &[],
        );
        let out = rotate_with(&h, "a", 1, &f).expect("ran");
        assert_eq!(out.get("home"), Some("none"));
        assert!(out.get("n").is_some_and(|n| n != "0"));
        let e = rotate_with(
            &hook(&["/bin/sh", "-c", "echo leaked >&2; exit 3"], &[]),
            "a",
            1,
            &f,
        )
        .expect_err("fails")
        .to_string();
        assert!(e.contains("status 3") && !e.contains("leaked"), "{e}");
        let mut slow = hook(&["/bin/sh", "-c", "sleep 30; echo '{}'"], &[]);
        slow.timeout = Duration::from_secs(1);
        let t = Instant::now();
        let e = rotate_with(&slow, "a", 1, &f)
            .expect_err("timeout")
            .to_string();
        assert!(e.contains("killed"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
        let e = rotate_with(&hook(&["/nonexistent/hook"], &[]), "a", 1, &f)
            .expect_err("missing")
            .to_string();
        assert!(e.contains("cannot start"), "{e}");
    }
}
