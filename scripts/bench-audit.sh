#!/usr/bin/env bash
# Encrypt throughput with the durable audit log on and off, in one run:
# two dev servers (release build), wrk with C connections for DUR each,
# 1 KiB plaintext, bearer auth. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
cargo build --release -p strongroom >/dev/null
BIN=target/release/strongroom
C=${C:-16}
DUR=${DUR:-10s}
TOKEN=bench-token-0001
PT=$(head -c 1024 /dev/zero | base64 -w0)
LUA=$(mktemp --suffix .lua)
cat > "$LUA" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = '{"key":"alias/bench","plaintext":"$PT"}'
LUA
AUDIT=$(mktemp --suffix .audit.jsonl)
run() {
  local label=$1 port=$2; shift 2
  $BIN server --dev --listen 127.0.0.1:$port --dev-root-token $TOKEN "$@" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/v1/sys/health >/dev/null && break; sleep 0.1; done
  STRONGROOM_ADDR=http://127.0.0.1:$port STRONGROOM_TOKEN=$TOKEN $BIN key create --alias alias/bench >/dev/null
  echo "== $label: encrypt 1 KiB, $C connections, $DUR"
  wrk -t2 -c"$C" -d"$DUR" --latency -s "$LUA" http://127.0.0.1:$port/v1/encrypt | grep -E 'Latency  |50%|99%|Requests/sec|Non-2xx'
  kill $pid; wait $pid 2>/dev/null || true
}
run "audit OFF (--dev-no-audit)" 18311 --dev-no-audit
run "audit ON (fsync'd, group commit)" 18312 --audit-path "$AUDIT"
echo "audit records written: $(wc -l < "$AUDIT")"
rm -f "$LUA" "$AUDIT"
