//! Writes the labelled corpus to a directory, with `labels.json`, for
//! comparing other scanners on it (scripts/scan_compare.py).
//!
//! `cargo run -p strongroom-scan --example gen_corpus -- DIR [SEED] [ROUNDS]`

#[path = "../tests/corpus/mod.rs"]
mod corpus;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: gen_corpus DIR [SEED] [ROUNDS]");
        std::process::exit(2);
    };
    let seed = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026u64);
    let rounds = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4usize);
    let c = corpus::generate(seed, rounds);
    let dir = std::path::Path::new(dir);
    if let Err(e) = corpus::write(dir, &c) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let labels: Vec<serde_json::Value> = c
        .labels
        .iter()
        .map(|l| serde_json::json!({"path": l.path, "line": l.line, "family": l.family}))
        .collect();
    let out = serde_json::json!({"labels": labels, "traps": c.traps});
    if let Err(e) = std::fs::write(dir.join("labels.json"), out.to_string()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    println!(
        "{} files, {} labels, {} traps",
        c.files.len(),
        c.labels.len(),
        c.traps
    );
}
