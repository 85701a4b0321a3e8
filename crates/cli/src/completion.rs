//! `strongroom completion SHELL` (shell completion scripts, clap_complete)
//! and the hidden `strongroom manpages DIR` (man pages, clap_mangen), both
//! generated from the one clap definition in cli/mod.rs, so they never drift
//! from the real commands. The Debian package ships their output
//! (scripts/package-deb.sh).

use clap::{Args, CommandFactory};

use super::{Cli, CliError};

#[derive(Args)]
pub struct CompletionArgs {
    /// The shell: bash, zsh, fish (also elvish, powershell).
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Args)]
pub struct ManpagesArgs {
    /// Directory to write strongroom.1 and one page per subcommand into (created if missing).
    dir: std::path::PathBuf,
}

/// Prints the completion script for `a.shell` on stdout.
pub fn completion(a: CompletionArgs) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "strongroom", &mut out);
    Ok(())
}

/// Writes `strongroom.1` and `strongroom-<sub>[-<sub>].1` pages into `a.dir`.
pub fn manpages(a: ManpagesArgs) -> Result<(), CliError> {
    std::fs::create_dir_all(&a.dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", a.dir.display())))?;
    clap_mangen::generate_to(Cli::command(), &a.dir).map_err(|e| {
        CliError::new(format!(
            "cannot write man pages into {}: {e}",
            a.dir.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_scripts_name_real_subcommands() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "strongroom", &mut buf);
            let text = String::from_utf8(buf).expect("utf-8");
            for word in ["operator", "encrypt", "migrate-seal", "completion"] {
                assert!(text.contains(word), "{shell:?} completion lacks {word}");
            }
        }
    }

    #[test]
    fn man_pages_cover_subcommands() {
        let dir = std::env::temp_dir().join(format!("strongroom-man-{}", std::process::id()));
        manpages(ManpagesArgs { dir: dir.clone() }).expect("generate");
        let main = std::fs::read_to_string(dir.join("strongroom.1")).expect("strongroom.1");
        assert!(main.contains(".TH strongroom"), "{main}");
        assert!(dir.join("strongroom-operator-init.1").exists());
        assert!(dir.join("strongroom-key-create.1").exists());
        // hidden commands get no page
        assert!(!dir.join("strongroom-manpages.1").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
