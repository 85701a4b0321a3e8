//! The `strongroom scan` command line. The `strongroom` binary embeds
//! [`ScanArgs`] as a subcommand and calls [`run`], which returns the exit
//! code: 0 no new findings (or without `--exit-code`), 1 new findings with
//! `--exit-code`, 2 an error.

use clap::{Args, Subcommand, ValueEnum};

use crate::baseline::Baseline;
use crate::{git, output, walk, Finding};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ScanArgs {
    #[command(subcommand)]
    pub command: Option<ScanCmd>,
    /// Files or directories to scan (default: the current directory). With
    /// --history or --staged: the repository (default: the current directory).
    pub paths: Vec<String>,
    /// Scan the lines added by every commit reachable from any ref.
    #[arg(long, conflicts_with = "staged")]
    pub history: bool,
    /// With --history: only commits not reachable from REV.
    #[arg(long, value_name = "REV", requires = "history")]
    pub since: Option<String>,
    /// Scan what is staged for the next commit (`git diff --cached`).
    #[arg(long)]
    pub staged: bool,
    /// Output format. (Its own id: `strongroom` has a global `--output` whose id is `format`.)
    #[arg(long = "format", id = "scan_format", value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Findings whose fingerprint is in this file are not new.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<String>,
    /// Write the fingerprints of all findings of this scan to FILE.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<String>,
    /// Exit 1 when there are new findings (the CI mode).
    #[arg(long)]
    pub exit_code: bool,
    /// Threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Send this scan's findings to the Strongroom server (STRONGROOM_ADDR,
    /// STRONGROOM_TOKEN) as counts and fingerprints: never a value, nor its
    /// redacted prefix. The inventory and the compliance report read them.
    #[arg(long)]
    pub report: bool,
    /// With --report: the name the scan is filed under (default: the
    /// repository's directory name; a later report replaces an earlier one).
    #[arg(long, value_name = "NAME", requires = "report")]
    pub repository: Option<String>,
    /// Store each new secret finding in Strongroom's secrets engine at
    /// PREFIX/<file>/<rule> (tree scans only) and print what replaces it
    /// in the code. Asks first, unless --yes.
    #[arg(long, value_name = "PREFIX", conflicts_with_all = ["history", "staged"])]
    pub import: Option<String>,
    /// With --import: do not ask.
    #[arg(long, requires = "import")]
    pub yes: bool,
}

/// Sends a scan report (the JSON of [`output::report`]) to the server;
/// returns what to tell the user. The CLI crate supplies it (this crate
/// has no HTTP client).
pub type Reporter<'a> = &'a dyn Fn(&serde_json::Value) -> Result<String, String>;

#[derive(Subcommand, Debug)]
pub enum ScanCmd {
    /// Write a git pre-commit hook that runs `strongroom scan --staged --exit-code`.
    InstallHook {
        /// The repository (default: the current directory).
        #[arg(default_value = ".")]
        repo: String,
        /// Replace an existing pre-commit hook that strongroom did not write.
        #[arg(long)]
        force: bool,
    },
}

/// Runs the command; returns the process exit code.
pub fn run(args: ScanArgs) -> i32 {
    run_reporting(args, Server::default())
}

/// What the CLI crate hands the scanner: `--report`'s sender and
/// `--import`'s store (this crate has no HTTP client).
#[derive(Default)]
pub struct Server<'a> {
    pub reporter: Option<Reporter<'a>>,
    pub importer: Option<crate::import::Importer<'a>>,
}

/// [`run`], with the server calls of `--report` and `--import`.
pub fn run_reporting(args: ScanArgs, server: Server<'_>) -> i32 {
    match run_inner(args, server) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn run_inner(args: ScanArgs, server: Server<'_>) -> Result<i32, String> {
    let reporter = server.reporter;
    if let Some(ScanCmd::InstallHook { repo, force }) = &args.command {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the strongroom executable: {e}"))?;
        let path = git::install_hook(repo, &exe.to_string_lossy(), *force).map_err(|e| e.0)?;
        println!("wrote {path}: commits that add a secret are refused (bypass once: git commit --no-verify)");
        return Ok(0);
    }
    let baseline = match &args.baseline {
        Some(p) => Some(Baseline::load(p)?),
        None => None,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    let reporter = match (args.report, reporter) {
        (false, _) => None,
        (true, Some(r)) => Some(r),
        (true, None) => {
            return Err(
                "--report needs a Strongroom client; run it as `strongroom scan --report`".into(),
            )
        }
    };
    let importer = match (&args.import, server.importer) {
        (None, _) => None,
        (Some(prefix), Some(i)) => {
            crate::import::check_prefix(prefix)?;
            Some((prefix.clone(), i))
        }
        (Some(_), None) => {
            return Err(
                "--import needs a Strongroom client; run it as `strongroom scan --import`".into(),
            )
        }
    };
    let started = std::time::Instant::now();
    let (findings, bytes, files): (Vec<Finding>, u64, Option<u64>) = if args.history || args.staged
    {
        let repo = match args.paths.as_slice() {
            [] => ".".to_string(),
            [one] => one.clone(),
            _ => return Err("--history and --staged take one repository path".into()),
        };
        let top = git::toplevel(&repo).map_err(|e| e.0)?;
        let (f, b) = if args.history {
            git::scan_history(&top, args.since.as_deref())
        } else {
            git::scan_staged(&top)
        }
        .map_err(|e| e.0)?;
        (f, b, None)
    } else {
        let roots = if args.paths.is_empty() {
            vec![".".to_string()]
        } else {
            args.paths.clone()
        };
        for r in &roots {
            if std::fs::metadata(r).is_err() {
                return Err(format!("{r:?}: no such file or directory"));
            }
        }
        let (f, stats) = walk::scan_paths(&roots, threads);
        for e in &stats.errors {
            eprintln!("warning: {e}");
        }
        (f, stats.bytes, Some(stats.files))
    };
    let elapsed = started.elapsed();
    let repository = match (&args.repository, reporter.is_some()) {
        (_, false) => None,
        (Some(name), true) => Some(name.clone()),
        (None, true) => Some(default_repository(&args)?),
    };
    if let Some(p) = &args.write_baseline {
        Baseline::of(&findings).save(p)?;
    }
    let new: Vec<&Finding> = findings
        .iter()
        .filter(|f| baseline.as_ref().is_none_or(|b| !b.contains(f)))
        .collect();
    let shown: Vec<Finding> = new.iter().map(|f| (*f).clone()).collect();
    match args.format {
        OutputFormat::Text => {
            print!("{}", output::text(&shown));
            let secrets = shown
                .iter()
                .filter(|f| f.category == crate::Category::Secret)
                .count();
            eprintln!(
                "{} new finding(s) ({} secret, {} weak-crypto){}; {:.1} MB{} in {:.2}s",
                shown.len(),
                secrets,
                shown.len() - secrets,
                if findings.len() > shown.len() {
                    format!(", {} in the baseline", findings.len() - shown.len())
                } else {
                    String::new()
                },
                bytes as f64 / 1e6,
                files.map_or(String::new(), |n| format!(" in {n} files")),
                elapsed.as_secs_f64()
            );
        }
        OutputFormat::Json => {
            println!("{}", output::json(&shown, shown.len()));
        }
        OutputFormat::Sarif => {
            println!(
                "{}",
                serde_json::to_string_pretty(&output::sarif(&shown, env!("CARGO_PKG_VERSION")))
                    .map_err(|e| e.to_string())?
            );
        }
    }
    let mut imported: std::collections::HashMap<String, String> = Default::default();
    let mut import_failed = false;
    if let Some((prefix, store)) = importer {
        let todo = crate::import::candidates(&new);
        if todo.is_empty() {
            eprintln!("--import: no new secret findings to import");
        } else if args.yes || confirm(&prefix, todo.len())? {
            let values = crate::import::read_values(&todo);
            for (f, v) in todo.iter().zip(values) {
                let Some(value) = v else {
                    eprintln!(
                        "--import: {}:{} no longer holds the {} value; skipped",
                        f.path, f.line, f.rule
                    );
                    import_failed = true;
                    continue;
                };
                let item = crate::import::ImportItem {
                    path: crate::import::secret_path(&prefix, f),
                    field: crate::import::field_name(f.rule),
                    value: &value,
                    finding: f,
                };
                match store(&item) {
                    Ok(said) => {
                        eprintln!("{said}");
                        imported.insert(f.fingerprint.clone(), item.path);
                    }
                    Err(e) => {
                        eprintln!("--import: {}:{} ({}): {e}", f.path, f.line, f.rule);
                        import_failed = true;
                    }
                }
                let mut value = value;
                zeroize::Zeroize::zeroize(&mut value);
            }
        } else {
            eprintln!("--import: nothing imported");
        }
    }
    if let (Some(send), Some(repository)) = (reporter, repository) {
        let source = if args.history {
            "history"
        } else if args.staged {
            "staged"
        } else {
            "tree"
        };
        let body = output::report(&repository, source, &findings, baseline.as_ref(), &imported);
        let said = send(&body).map_err(|e| format!("--report: {e}"))?;
        eprintln!("{said}");
    }
    if import_failed {
        return Err("--import: some secrets were not imported (see above)".into());
    }
    Ok(if args.exit_code && !shown.is_empty() {
        1
    } else {
        0
    })
}

/// The name a report is filed under without `--repository`: the git
/// repository's directory name, or the scanned directory's.
fn default_repository(args: &ScanArgs) -> Result<String, String> {
    let first = args.paths.first().map_or(".", String::as_str);
    let dir = git::toplevel(first).unwrap_or_else(|_| first.to_string());
    let abs = std::fs::canonicalize(&dir).map_err(|e| format!("{dir:?}: {e}"))?;
    abs.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            format!(
                "{dir:?} has no directory name to file the report under; give --repository NAME"
            )
        })
}

/// Asks on the terminal before `--import` stores anything; without a
/// terminal it refuses (use `--yes`).
fn confirm(prefix: &str, n: usize) -> Result<bool, String> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "--import would store {n} secret(s) under {prefix}/: add --yes to confirm when not at a terminal"
        ));
    }
    eprint!("Store {n} secret(s) in Strongroom under {prefix}/? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
