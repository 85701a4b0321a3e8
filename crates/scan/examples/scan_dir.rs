//! Times a scan of one directory with the library (no CLI):
//! `cargo run --release -p strongroom-scan --example scan_dir -- DIR [THREADS]`

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).cloned().unwrap_or_else(|| ".".into());
    let threads = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let t = std::time::Instant::now();
    let (f, stats) = strongroom_scan::walk::scan_paths(&[dir], threads);
    let s = t.elapsed().as_secs_f64();
    println!(
        "{} findings, {} files, {:.1} MB in {s:.2}s = {:.1} MB/s",
        f.len(),
        stats.files,
        stats.bytes as f64 / 1e6,
        stats.bytes as f64 / 1e6 / s
    );
}
