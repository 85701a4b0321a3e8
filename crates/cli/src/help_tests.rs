//! Checks on the command tree itself: every subcommand is described, the
//! environment is documented, typos get a suggestion, and output helpers
//! format times and counts for people.

use clap::CommandFactory;

use super::output;
use super::Cli;

/// Every subcommand at every depth, as "strongroom a b".
fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, bool)>) {
    for sub in cmd.get_subcommands() {
        let p = format!("{path} {}", sub.get_name());
        let described = sub
            .get_about()
            .is_some_and(|a| !a.to_string().trim().is_empty());
        out.push((p.clone(), described));
        walk(sub, &p, out);
    }
}

#[test]
fn every_subcommand_has_a_description() {
    let mut all = Vec::new();
    walk(&Cli::command(), "strongroom", &mut all);
    assert!(all.len() > 60, "only {} subcommands found", all.len());
    let missing: Vec<&str> = all
        .iter()
        .filter(|(_, d)| !d)
        .map(|(p, _)| p.as_str())
        .collect();
    assert!(missing.is_empty(), "no description: {missing:?}");
}

#[test]
fn help_lists_the_environment() {
    let help = Cli::command().render_help().to_string();
    for var in [
        "STRONGROOM_ADDR",
        "STRONGROOM_TOKEN",
        "STRONGROOM_CACERT",
        "STRONGROOM_CLIENT_CERT",
        "STRONGROOM_CLIENT_KEY",
        "STRONGROOM_TLS_CLIENT_CA",
        "STRONGROOM_LOG",
        "STRONGROOM_STORAGE_PATH",
    ] {
        assert!(help.contains(var), "{var} missing from --help:\n{help}");
    }
}

#[test]
fn a_typo_gets_a_suggestion() {
    for (typo, meant) in [
        ("keys", "key"),
        ("encrpyt", "encrypt"),
        ("inventroy", "inventory"),
    ] {
        let e = match Cli::command().try_get_matches_from(["strongroom", typo]) {
            Err(e) => e,
            Ok(_) => panic!("`{typo}` was accepted"),
        };
        let text = e.render().to_string();
        assert!(
            text.contains("similar subcommand") && text.contains(&format!("'{meant}'")),
            "{text}"
        );
    }
    let e = match Cli::command().try_get_matches_from([
        "strongroom",
        "operator",
        "rekey",
        "--shares",
        "3",
        "--treshold",
        "2",
    ]) {
        Err(e) => e,
        Ok(_) => panic!("`--treshold` was accepted"),
    };
    let text = e.render().to_string();
    assert!(text.contains("--threshold"), "{text}");
}

#[test]
fn output_is_rfc3339_with_plurals() {
    assert_eq!(output::rfc3339(0, None), "1970-01-01T00:00:00Z");
    assert_eq!(
        output::rfc3339(1_796_290_904, Some(7)),
        "2026-12-03T09:41:44.007Z"
    );
    assert_eq!(output::plural(1, "key", "keys"), "1 key");
    assert_eq!(output::plural(0, "key", "keys"), "0 keys");
    assert_eq!(output::plural(2, "entry", "entries"), "2 entries");
}
