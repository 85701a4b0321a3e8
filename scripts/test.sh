#!/usr/bin/env bash
# The whole test suite, from a fresh machine that has only the Rust toolchain.
# Installs what the tests need, then runs formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs what is missing (Debian packages, cargo-deb), creates/starts
# PostgreSQL with the `test` database: scripts/setup-test-machine.sh says what.
scripts/setup-test-machine.sh

# Installed (or already there): the HSM tests must run, not skip.
if [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null 2>&1; then
  export STRONGROOM_REQUIRE_SOFTHSM=1
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "==> cargo test"
# cargo test, not cargo-nextest: on 2 cores nextest was slower (tests/cli.rs
# + tests/cli_access.rs, 17 tests: 10.1 s under nextest -j 2 against 8.2 s
# under cargo test --test-threads 2; a process per test, a server per test).
cargo test --workspace -- --test-threads 2

# ---- #20a: the README check and the Debian package (need the release binary)
echo "==> cargo build --release"
cargo build --release

echo "==> strongroom scan: SARIF 2.1.0 schema check (scripts/scan-sarif-check.sh)"
scripts/scan-sarif-check.sh

echo "==> README check (scripts/readme-check.sh: every sh block, in order, twice)"
scripts/readme-check.sh

echo "==> Debian package: build, install, verify, run, remove (scripts/package-test.sh)"
scripts/package-test.sh
