//! Git history and staged changes, through the `git` command: the lines a
//! commit (or the index) adds are scanned, so a secret is reported at the
//! commit, path and line where it was introduced even if a later commit
//! removed it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::engine::Engine;
use crate::Finding;

#[derive(Debug)]
pub struct GitError(pub String);

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Marks the start of a commit in our `git log` format.
const COMMIT_MARK: &str = "\x01commit ";

/// Every commit reachable from any ref (minus the ancestors of `since`),
/// oldest first, so the first report of a value is where it was introduced.
pub fn scan_history(repo: &str, since: Option<&str>) -> Result<(Vec<Finding>, u64), GitError> {
    let mut args: Vec<String> = [
        "log",
        "--all",
        "--reverse",
        "-p",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--no-textconv",
        "--diff-filter=AMT",
        "--format=%x01commit %H",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(rev) = since {
        if rev.starts_with('-') {
            return Err(GitError(format!(
                "--since {rev:?}: a revision cannot start with '-'"
            )));
        }
        args.push(format!("^{rev}"));
    }
    args.push("--".into());
    let (findings, bytes) = run_diff(repo, &args)?;
    // Report each (rule, value, path) once: at its first (oldest) commit.
    let mut seen = std::collections::HashSet::new();
    let findings = findings
        .into_iter()
        .filter(|f| seen.insert((f.fingerprint.clone(), f.path.clone())))
        .collect();
    Ok((findings, bytes))
}

/// What `git commit` would record now: the index against HEAD.
pub fn scan_staged(repo: &str) -> Result<(Vec<Finding>, u64), GitError> {
    let args: Vec<String> = [
        "diff",
        "--cached",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--no-textconv",
        "--diff-filter=AMT",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_diff(repo, &args)
}

fn run_diff(repo: &str, args: &[String]) -> Result<(Vec<Finding>, u64), GitError> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "core.quotepath=off"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| GitError(format!("cannot run git: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| GitError("git: no stdout".into()))?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| GitError("git: no stderr".into()))?;
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut parser = DiffParser::default();
    let mut out = Vec::new();
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut line = Vec::new();
    let mut bytes = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| GitError(format!("reading git output: {e}")))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        parser.line(&line, &mut out);
    }
    parser.flush(&mut out);
    let status = child
        .wait()
        .map_err(|e| GitError(format!("waiting for git: {e}")))?;
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(GitError(format!(
            "git {} failed in {repo:?}: {}",
            args.first().map_or("", |s| s.as_str()),
            err.trim()
        )));
    }
    Ok((out, bytes))
}

/// Collects the added lines of each hunk of a `-U0` diff and scans them as
/// one buffer (so a multi-line private key is seen whole).
#[derive(Default)]
struct DiffParser {
    commit: Option<String>,
    path: Option<String>,
    in_header: bool,
    hunk: Vec<u8>,
    hunk_first_line: usize,
}

impl DiffParser {
    fn line(&mut self, raw: &[u8], out: &mut Vec<Finding>) {
        if let Some(rest) = raw.strip_prefix(COMMIT_MARK.as_bytes()) {
            self.flush(out);
            self.commit = Some(String::from_utf8_lossy(rest).trim().to_string());
            self.path = None;
            return;
        }
        if raw.starts_with(b"diff --git ") {
            self.flush(out);
            self.path = None;
            self.in_header = true;
            return;
        }
        if self.in_header {
            if let Some(p) = raw.strip_prefix(b"+++ ") {
                let p = String::from_utf8_lossy(p);
                let p = p.trim_end_matches(['\n', '\r']);
                self.path = p.strip_prefix("b/").map(|s| s.to_string());
                self.in_header = false;
            } else if raw.starts_with(b"Binary files ") {
                self.in_header = false;
                self.path = None;
            }
            return;
        }
        if let Some(h) = raw.strip_prefix(b"@@ ") {
            self.flush(out);
            // @@ -a[,b] +c[,d] @@
            let h = String::from_utf8_lossy(h);
            let start = h
                .split_whitespace()
                .find_map(|t| t.strip_prefix('+'))
                .and_then(|t| t.split(',').next())
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(1);
            self.hunk_first_line = start.max(1);
            return;
        }
        if self.path.is_some() {
            if let Some(added) = raw.strip_prefix(b"+") {
                self.hunk.extend_from_slice(added);
                if !added.ends_with(b"\n") {
                    self.hunk.push(b'\n');
                }
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<Finding>) {
        if self.hunk.is_empty() {
            return;
        }
        if let Some(path) = &self.path {
            let start = out.len();
            Engine::get().scan(path, &self.hunk, self.hunk_first_line, 0, out);
            for f in &mut out[start..] {
                f.commit = self.commit.clone();
            }
        }
        self.hunk.clear();
    }
}

/// The repository root of `dir` (`git rev-parse --show-toplevel`).
pub fn toplevel(dir: &str) -> Result<String, GitError> {
    let o = Command::new("git")
        .args(["-C", dir, "rev-parse", "--show-toplevel"])
        .output()
        .map_err(|e| GitError(format!("cannot run git: {e}")))?;
    if !o.status.success() {
        return Err(GitError(format!(
            "{dir:?} is not inside a git repository: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The pre-commit hook `strongroom scan install-hook` writes.
pub fn hook_script(exe: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # Installed by `strongroom scan install-hook`: refuses a commit that adds\n\
         # a secret. Bypass once with `git commit --no-verify`.\n\
         exec '{}' scan --staged --exit-code\n",
        exe.replace('\'', "'\\''")
    )
}

/// Writes `.git/hooks/pre-commit` (or the path git says hooks live at).
/// Refuses to overwrite a hook it did not write, unless `force`.
pub fn install_hook(repo: &str, exe: &str, force: bool) -> Result<String, GitError> {
    let o = Command::new("git")
        .args(["-C", repo, "rev-parse", "--git-path", "hooks"])
        .output()
        .map_err(|e| GitError(format!("cannot run git: {e}")))?;
    if !o.status.success() {
        return Err(GitError(format!(
            "{repo:?} is not inside a git repository: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    let hooks = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let hooks = if std::path::Path::new(&hooks).is_absolute() {
        std::path::PathBuf::from(hooks)
    } else {
        std::path::Path::new(repo).join(hooks)
    };
    std::fs::create_dir_all(&hooks)
        .map_err(|e| GitError(format!("creating {}: {e}", hooks.display())))?;
    let path = hooks.join("pre-commit");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if !existing.contains("strongroom scan install-hook") && !force {
            return Err(GitError(format!(
                "{} exists and was not written by strongroom; add `strongroom scan --staged --exit-code` to it, or pass --force to replace it",
                path.display()
            )));
        }
    }
    std::fs::write(&path, hook_script(exe))
        .map_err(|e| GitError(format!("writing {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| GitError(format!("chmod {}: {e}", path.display())))?;
    }
    Ok(path.display().to_string())
}
