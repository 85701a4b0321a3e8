#!/usr/bin/env bash
# Builds the Debian package: target/debian/strongroom_<version>_<arch>.deb.
# The man pages and shell completions come from the binary itself
# (`strongroom manpages DIR`, `strongroom completion SHELL`), so they match
# the commands; `cargo deb` (cargo install cargo-deb) then packs the assets
# listed in crates/strongroom/Cargo.toml [package.metadata.deb].
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target/release/strongroom
[ -x "$bin" ] || cargo build --release
# cargo-deb reads the generated files from ./target/packaging (Cargo.toml).
gen=$PWD/target/packaging
rm -rf "$gen" && mkdir -p "$gen/man" "$gen/completions"
"$bin" manpages "$gen/man"
gzip -9n "$gen"/man/*.1
"$bin" completion bash > "$gen/completions/strongroom"
"$bin" completion zsh > "$gen/completions/_strongroom"
"$bin" completion fish > "$gen/completions/strongroom.fish"
cargo deb -p strongroom --no-build --strip --quiet --output "$target/debian/" >&2
ls -t "$target"/debian/strongroom_*.deb | head -n 1
