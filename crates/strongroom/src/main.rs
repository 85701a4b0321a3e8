//! The `strongroom` binary: server and CLI.

fn main() {
    std::process::exit(strongroom::cli::main());
}
