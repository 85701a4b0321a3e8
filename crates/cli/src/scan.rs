//! `strongroom scan`: the scanner lives in the `strongroom-scan` crate
//! (crates/scan); this is its place in the command line. It exits with its
//! own codes: 0 no new findings, 1 new findings with `--exit-code`, 2 an error.

pub use strongroom_scan::cli::ScanArgs;

pub fn run(args: ScanArgs) -> i32 {
    strongroom_scan::cli::run(args)
}
