//! The `strongroom` binary: the CLI (strongroom-cli), which hands the
//! server-side commands (the server, offline operator tools, the load
//! generator) to [`server_side`].

mod server_side;

/// mimalloc instead of the system allocator: measured in docs/BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(strongroom_cli::main(&server_side::Binary));
}
