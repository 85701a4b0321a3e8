//! `strongroom run --secret PATH[=PREFIX] … [--files DIR] -- CMD ARGS`:
//! runs a program with secrets' fields in its environment, or with
//! `--files` as 0600 files in a private (0700) directory on a tmpfs, which
//! is wiped and removed when the program exits. The program's exit status
//! is ours (128+N when it was killed by signal N); SIGINT, SIGTERM, SIGHUP,
//! SIGQUIT, SIGUSR1 and SIGUSR2 sent to `strongroom run` are passed on to it.
//!
//! Names: each field becomes `PREFIX` + the field name in upper case with
//! every character other than A-Z 0-9 turned into `_` (`password` →
//! `DB_PASSWORD` with `--secret app/db=DB_`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use clap::Args;
use zeroize::Zeroizing;

use super::client::Client;
use super::CliError;

#[derive(Args)]
pub struct RunArgs {
    /// A secret to expose, as PATH or PATH=PREFIX (repeatable).
    #[arg(long = "secret", required = true, value_name = "PATH[=PREFIX]")]
    pub secrets: Vec<String>,
    /// Write the fields as 0600 files in a new private directory under DIR
    /// (which must be on a tmpfs, e.g. /dev/shm) instead of the environment;
    /// the program finds the directory in STRONGROOM_SECRETS_DIR.
    #[arg(long, value_name = "DIR")]
    pub files: Option<PathBuf>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// The environment-style name of a field.
pub fn var_name(prefix: &str, field: &str) -> String {
    let mut s = prefix.to_string();
    for c in field.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_uppercase());
        } else {
            s.push('_');
        }
    }
    s
}

fn valid_var(n: &str) -> bool {
    !n.is_empty()
        && !n.as_bytes()[0].is_ascii_digit()
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Fetches every secret and names its fields; refuses collisions.
fn collect(specs: &[String]) -> Result<BTreeMap<String, Zeroizing<String>>, CliError> {
    let c = Client::from_env()?;
    let mut out: BTreeMap<String, Zeroizing<String>> = BTreeMap::new();
    let mut from: BTreeMap<String, String> = BTreeMap::new();
    for spec in specs {
        let (path, prefix) = spec.split_once('=').unwrap_or((spec.as_str(), ""));
        if !prefix.is_empty() && !valid_var(prefix) {
            return Err(CliError::new(format!(
                "--secret {spec}: the prefix {prefix:?} must be letters, digits and _ (not starting with a digit), e.g. DB_"
            )));
        }
        let v = c.call("GET", &super::secret::url("data", path), None)?;
        let Some(data) = v["data"].as_object() else {
            return Err(CliError::new(format!(
                "secret {path}: the server sent no data"
            )));
        };
        for (field, value) in data {
            let name = var_name(prefix, field);
            if !valid_var(&name) {
                return Err(CliError::new(format!(
                    "field {field:?} of {path} makes the name {name:?}, which is not a valid variable name; give a prefix: --secret {path}=PREFIX_"
                )));
            }
            if let Some(other) = from.get(&name) {
                return Err(CliError::new(format!(
                    "{name} would come from both {other} and {path}; give one of them a prefix (--secret {path}=PREFIX_)"
                )));
            }
            from.insert(name.clone(), path.to_string());
            out.insert(
                name,
                Zeroizing::new(value.as_str().unwrap_or_default().to_string()),
            );
        }
    }
    Ok(out)
}

/// The filesystem type of the mount holding `dir` (Linux: /proc/self/mountinfo).
fn fs_type(dir: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in info.lines() {
        let (pre, post) = line.split_once(" - ")?;
        let mount = pre.split(' ').nth(4)?.replace("\\040", " ");
        let fstype = post.split(' ').next()?.to_string();
        let mp = Path::new(&mount);
        if dir.starts_with(mp) {
            let len = mp.as_os_str().len();
            if best.as_ref().is_none_or(|(l, _)| len >= *l) {
                best = Some((len, fstype));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// A private directory of 0600 files, wiped and removed on drop.
struct SecretDir {
    path: PathBuf,
    files: Vec<(PathBuf, usize)>,
}

impl SecretDir {
    fn create(
        parent: &Path,
        values: &BTreeMap<String, Zeroizing<String>>,
    ) -> Result<Self, CliError> {
        let parent = parent
            .canonicalize()
            .map_err(|e| CliError::new(format!("--files {}: {e}", parent.display())))?;
        match fs_type(&parent).as_deref() {
            Some("tmpfs") | Some("ramfs") => {}
            Some(other) => {
                return Err(CliError::new(format!(
                    "--files {}: that directory is on {other}, not a tmpfs, so the secrets would reach a disk; use a tmpfs such as /dev/shm or $XDG_RUNTIME_DIR",
                    parent.display()
                )))
            }
            None => {
                return Err(CliError::new(format!(
                    "--files {}: cannot tell whether it is on a tmpfs (no /proc/self/mountinfo); use /dev/shm",
                    parent.display()
                )))
            }
        }
        let mut rnd = [0u8; 8];
        use strongroom_core::crypto::rng::Rng as _;
        strongroom_core::crypto::rng::SystemRng
            .fill(&mut rnd)
            .map_err(|_| CliError::new("the system RNG failed"))?;
        let name: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let path = parent.join(format!("strongroom-run-{name}"));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| CliError::new(format!("creating {}: {e}", path.display())))?;
        let mut dir = SecretDir {
            path,
            files: Vec::new(),
        };
        for (n, v) in values {
            let f = dir.path.join(n);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&f)
                .map_err(|e| CliError::new(format!("creating {}: {e}", f.display())))?;
            dir.files.push((f.clone(), v.len()));
            file.write_all(v.as_bytes())
                .map_err(|e| CliError::new(format!("writing {}: {e}", f.display())))?;
        }
        Ok(dir)
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        for (f, len) in &self.files {
            if let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(f) {
                let _ = file.write_all(&vec![0u8; *len]);
            }
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Sends `sig` (a name such as TERM) to `pid`. std cannot send a signal
/// other than SIGKILL without `unsafe`, so this asks kill(1).
fn forward(sig: &str, pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-s")
        .arg(sig)
        .arg(pid.to_string())
        .status();
}

/// Runs the command; returns its exit status for ours.
pub fn run(a: RunArgs) -> Result<i32, CliError> {
    let values = collect(&a.secrets)?;
    let Some((program, args)) = a.command.split_first() else {
        return Err(CliError::new("give the program to run after --"));
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    let dir = match &a.files {
        Some(parent) => {
            let d = SecretDir::create(parent, &values)?;
            cmd.env("STRONGROOM_SECRETS_DIR", &d.path);
            Some(d)
        }
        None => {
            for (n, v) in &values {
                cmd.env(n, v.as_str());
            }
            None
        }
    };
    drop(values);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("runtime: {e}")))?;
    let status = rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        // Install the handlers before the child exists, so no signal is lost.
        let kinds = [
            (SignalKind::interrupt(), "INT"),
            (SignalKind::terminate(), "TERM"),
            (SignalKind::hangup(), "HUP"),
            (SignalKind::quit(), "QUIT"),
            (SignalKind::user_defined1(), "USR1"),
            (SignalKind::user_defined2(), "USR2"),
        ];
        let mut streams = Vec::new();
        for (k, name) in kinds {
            let s = signal(k).map_err(|e| CliError::new(format!("signal handler: {e}")))?;
            streams.push((s, name));
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| CliError::new(format!("cannot run {}: {e}", program.to_string_lossy())))?;
        let pid = child.id();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        for (mut s, name) in streams {
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    forward(name, pid);
                }
            });
        }
        rx.await
            .map_err(|_| CliError::new("lost the child process"))?
            .map_err(|e| CliError::new(format!("waiting for the program: {e}")))
    })?;
    drop(dir);
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 1,
    })
}
