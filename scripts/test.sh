#!/usr/bin/env bash
# The whole test suite, from a fresh machine that has only the Rust toolchain.
# Installs what the tests need, then runs formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase's wall time, the CPU time of what it ran (user + system, its
# processes once they exited) and the load average at its end, printed at
# its end and in a summary: where a cold run's time goes (docs/BENCHMARKS.md
# "Test suite wall time"). On a shared machine the CPU time is the steadier figure.
children_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($16 + $17) / hz }' "/proc/$$/stat"; }
test_sh_start=$(date +%s) phase_start=$test_sh_start phase_cpu=$(children_cpu) phase_name= phase_times=
phase() { # phase NAME: ends the phase running (prints its times), starts NAME
  local now cpu line
  now=$(date +%s) cpu=$(children_cpu)
  if [ -n "$phase_name" ]; then
    line=$(printf '%5d s wall %5d s CPU  %s  (load %s)' "$((now - phase_start))" "$((cpu - phase_cpu))" \
      "$phase_name" "$(cut -d' ' -f1-3 /proc/loadavg)")
    echo "==> time: $line"
    phase_times+="$line"$'\n'
  fi
  phase_name=$1 phase_start=$now phase_cpu=$cpu
  [ -z "$1" ] || echo "==> $1"
}
summary() {
  phase ""
  printf '==> scripts/test.sh phases:\n%s%5d s wall %5d s CPU  total\n' "$phase_times" \
    "$(($(date +%s) - test_sh_start))" "$(children_cpu)"
}
trap 'summary' EXIT

# Installs what is missing (Debian packages, cargo-deb), creates/starts
# PostgreSQL with the `test` database: scripts/setup-test-machine.sh says what.
phase "setup (scripts/setup-test-machine.sh)"
scripts/setup-test-machine.sh

# CI runs in a fresh clone: incremental compilation's state (the workspace
# crates only) would be written and never read again.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi

# Installed (or already there): the HSM tests must run, not skip.
if [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null 2>&1; then
  export STRONGROOM_REQUIRE_SOFTHSM=1
fi

phase "cargo fmt --check"
cargo fmt --all -- --check

phase "crate arrows (scripts/check-arrows.py: the house rules of ARCHITECTURE.md)"
scripts/check-arrows.py

phase "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

phase "cargo test --no-run (build the tests)"
cargo test --workspace --no-run

phase "cargo test (run the tests)"
# cargo test, not cargo-nextest: on 2 cores nextest was slower (the tests of
# cli.rs + cli_access.rs, 17 tests: 10.1 s under nextest -j 2 against 8.2 s
# under cargo test --test-threads 2; a process per test, a server per test).
cargo test --workspace -- --test-threads 2 --skip kms_plugin::

phase "Kubernetes KMS v2 plugin: a tonic gRPC client on its socket, a real server (tests/it/kms_plugin.rs)"
cargo test -p strongroom --test it -- --test-threads 2 kms_plugin::

# ---- #20a: the README check and the Debian package (need the release binary)
phase "cargo build --release"
cargo build --release

phase "web console in a real browser (scripts/console-browser-test.sh: chromium + playwright-core + axe-core)"
scripts/console-browser-test.sh

phase "strongroom scan: SARIF 2.1.0 schema check (scripts/scan-sarif-check.sh)"
scripts/scan-sarif-check.sh

phase "Vault front-end: hvac, the bao CLI, shape diff against OpenBao (scripts/vault-test.sh)"
scripts/vault-test.sh

phase "README and docs check (scripts/readme-check.sh: every sh block of README.md and docs/*.md, in order, twice)"
scripts/readme-check.sh

phase "Debian package: build, install, verify, run, remove (scripts/package-test.sh)"
scripts/package-test.sh
