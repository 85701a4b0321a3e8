#!/usr/bin/env bash
# The web console's browser tests (crates/console/browser-tests): Debian's
# chromium (/usr/bin/chromium, installed by scripts/setup-test-machine.sh),
# driven headless by npm playwright-core, with axe-core, against a real dev
# server (dual control on) on an ephemeral port. `npm ci` installs the two
# packages from package-lock.json; no browser is downloaded (never
# `playwright install`). With CONSOLE_SCREENSHOTS=1 the tests also write
# the screenshots to docs/console/ (shown in docs/CONSOLE.md); without it
# they write nothing, so a CI run leaves the tree clean.
#
#   scripts/console-browser-test.sh              uses target/release/strongroom
#   STRONGROOM_BIN=target/debug/strongroom scripts/console-browser-test.sh
#   CONSOLE_SCREENSHOTS=1 scripts/console-browser-test.sh    (re)takes the screenshots
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=${STRONGROOM_BIN:-$repo/target/release/strongroom}
case $bin in /*) ;; *) bin=$repo/$bin ;; esac
[ -x "$bin" ] || { echo "no strongroom binary at $bin (cargo build --release, or set STRONGROOM_BIN)" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "/usr/bin/chromium is missing: run scripts/setup-test-machine.sh as root" >&2; exit 1; }
cd crates/console/browser-tests
npm ci --no-audit --no-fund --loglevel=error
shots=
[ "${CONSOLE_SCREENSHOTS:-}" = 1 ] && shots=$repo/docs/console
STRONGROOM_BIN=$bin SCREENSHOTS=$shots node console.test.mjs
