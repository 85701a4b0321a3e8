//! The `strongroom` binary: server and CLI.

/// mimalloc instead of the system allocator: measured in docs/BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(strongroom::cli::main());
}
