#!/usr/bin/env bash
# Single-connection latency of native encrypt (1 KiB) against a baseline
# measured in the same run on the same server: GET /v1/sys/health (no auth,
# no crypto). Needs wrk (apt-get install wrk). Prints wrk's summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
cargo build --release -p strongroom >/dev/null
BIN=target/release/strongroom
PORT=${PORT:-18299}
TOKEN=bench-token
DUR=${DUR:-10s}
$BIN server --dev --listen 127.0.0.1:$PORT --dev-root-token $TOKEN >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/v1/sys/health >/dev/null && break; sleep 0.1; done
export STRONGROOM_ADDR=http://127.0.0.1:$PORT STRONGROOM_TOKEN=$TOKEN
$BIN key create --alias alias/bench >/dev/null
PT=$(head -c 1024 /dev/zero | base64 -w0)
LUA=$(mktemp --suffix .lua)
cat > "$LUA" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = '{"key":"alias/bench","plaintext":"$PT"}'
LUA
echo "== baseline: GET /v1/sys/health, 1 connection, $DUR"
wrk -t1 -c1 -d"$DUR" --latency http://127.0.0.1:$PORT/v1/sys/health | grep -E 'Latency|50%|99%|Requests/sec'
echo "== native encrypt 1 KiB, 1 connection, $DUR"
wrk -t1 -c1 -d"$DUR" --latency -s "$LUA" http://127.0.0.1:$PORT/v1/encrypt | grep -E 'Latency|50%|99%|Requests/sec|Non-2xx'
rm -f "$LUA"
