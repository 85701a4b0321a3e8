#!/usr/bin/env bash
# The one benchmark command behind docs/BENCHMARKS.md.
#
#  1. builds the release binary;
#  2. starts a dev server (audit log ON in a file, bearer auth ON, an AWS
#     access key for the SigV4 workload) and a production-mode server on a
#     file-backed SQLite store (audit ON, auth ON, TLS off) for durable key
#     creation;
#  3. runs `strongroom bench --all`: the ceiling, every workload, the
#     in-process rates, printed as a markdown table;
#  4. fills the production store to KEYS keys, then measures RSS, list-page
#     latency and restart + unseal time with that many keys.
#
# Knobs (environment): DUR (10s), WARMUP (2s), C (16 connections),
# FILE_MIB (1024), KEYS (1000000; 0 skips step 4), CREATE_C (64 connections
# for filling the store), WORK (scratch directory on disk; default under
# /var/tmp, removed at the end unless KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
# The scanner's benchmark alone (scripts/bench-scan.sh): SCAN_ONLY=1 scripts/bench.sh
if [ "${SCAN_ONLY:-0}" = 1 ]; then exec scripts/bench-scan.sh; fi

DUR=${DUR:-10s}
WARMUP=${WARMUP:-2s}
C=${C:-16}
FILE_MIB=${FILE_MIB:-1024}
KEYS=${KEYS:-1000000}
CREATE_C=${CREATE_C:-64}
WORK=${WORK:-$(mktemp -d /var/tmp/strongroom-bench.XXXXXX)}
mkdir -p "$WORK"

cargo build --release -p strongroom >&2
BIN=$PWD/target/release/strongroom

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
# Waits for "listening on URL" in a server's stdout file and prints URL.
listen_addr() {
  for _ in $(seq 300); do
    if grep -q ' listening on ' "$1" 2>/dev/null; then
      sed -n 's/.* listening on \(http[^ ]*\).*/\1/p' "$1" | head -1
      return
    fi
    sleep 0.02
  done
  echo "server did not start; see $1" >&2
  exit 1
}
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

# --- production-mode server: file SQLite, audit on, auth on -------------------
cat > "$WORK/strongroom.toml" <<EOF
listen = "127.0.0.1:0"
storage_path = "$WORK/strongroom.db"
audit_path = "$WORK/prod-audit.jsonl"
tls_disable = true
EOF
start_prod() {
  STRONGROOM_LOG=${PROD_LOG:-warn} "$BIN" server --config "$WORK/strongroom.toml" >"$WORK/prod.out" 2>"$WORK/prod.log" &
  PROD_PID=$!
  PIDS+=("$PROD_PID")
  PADDR=$(listen_addr "$WORK/prod.out")
}
start_prod
INIT=$(STRONGROOM_ADDR=$PADDR "$BIN" -o json operator init --shares 1 --threshold 1)
SHARE=$(echo "$INIT" | sed -n 's/.*"shares": *\[ *"\([^"]*\)".*/\1/p')
PTOKEN=$(echo "$INIT" | sed -n 's/.*"root_token": *"\([^"]*\)".*/\1/p')
if [ -z "$SHARE" ]; then SHARE=$(echo "$INIT" | tr -d ' \n' | sed -n 's/.*"shares":\["\([^"]*\)".*/\1/p'); fi
if [ -z "$PTOKEN" ]; then PTOKEN=$(echo "$INIT" | tr -d ' \n' | sed -n 's/.*"root_token":"\([^"]*\)".*/\1/p'); fi
STRONGROOM_ADDR=$PADDR "$BIN" operator unseal "$SHARE" >/dev/null

# --- dev server: audit log on (a file in $WORK), auth on ----------------------
DTOKEN=bench-root-token
AWS=AKIDSTRONGROOMBENCH:bench-aws-secret-0123456789
STRONGROOM_LOG=warn "$BIN" server --dev --listen 127.0.0.1:0 --dev-root-token "$DTOKEN" \
  --dev-aws-credentials "$AWS" --audit-path "$WORK/dev-audit.jsonl" >"$WORK/dev.out" 2>"$WORK/dev.log" &
PIDS+=($!)
DADDR=$(listen_addr "$WORK/dev.out")

echo "# strongroom bench, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo '+dirty')"
echo
echo "Dev server $DADDR (audit: $WORK/dev-audit.jsonl, bearer auth); production server $PADDR (SQLite file, audit on)."
echo
"$BIN" bench --all --addr "$DADDR" --token "$DTOKEN" --aws-credentials "$AWS" \
  --durable-addr "$PADDR" --durable-token "$PTOKEN" --create-connections "$CREATE_C" \
  --connections "$C" --duration "$DUR" --warmup "$WARMUP" \
  --file-mib "$FILE_MIB" --file-dir "$WORK"
echo "Dev audit records written: $(wc -l < "$WORK/dev-audit.jsonl"); production audit records: $(wc -l < "$WORK/prod-audit.jsonl")."

# --- the same hot workloads with the audit log off, to show what it costs ----
STRONGROOM_LOG=warn "$BIN" server --dev --listen 127.0.0.1:0 --dev-root-token "$DTOKEN" \
  --dev-aws-credentials "$AWS" --dev-no-audit >"$WORK/noaudit.out" 2>"$WORK/noaudit.log" &
NOAUDIT_PID=$!
PIDS+=("$NOAUDIT_PID")
NADDR=$(listen_addr "$WORK/noaudit.out")
echo
echo "### Audit off (not a target configuration: shows what the durable audit costs)"
echo
"$BIN" bench --workload encrypt,aws-encrypt,sign-ecdsa-p256 --no-inproc --addr "$NADDR" \
  --token "$DTOKEN" --aws-credentials "$AWS" --connections "$C" --duration "$DUR" --warmup "$WARMUP" \
  | grep -E '^\|'
kill "$NOAUDIT_PID"; wait "$NOAUDIT_PID" 2>/dev/null || true

# --- Vault Transit (#14): native encrypt, the Vault front-end, OpenBao ----------
echo
DUR=$DUR WARMUP=$WARMUP C=$C STRONGROOM_BIN=$BIN scripts/bench-vault.sh

[ "$KEYS" -gt 0 ] || exit 0

# --- 1,000,000 keys -------------------------------------------------------------
list_ms() { # path -> milliseconds of one GET (best of 3)
  local best=999999
  for _ in 1 2 3; do
    local t
    t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $PTOKEN" "$PADDR$1")
    best=$(awk -v a="$best" -v b="$t" 'BEGIN { b*=1000; print (b<a)?b:a }')
  done
  printf '%.1f' "$best"
}
HAVE=$(curl -s -H "Authorization: Bearer $PTOKEN" "$PADDR/metrics" | awk '/^strongroom_keys\{/ {s+=$2} END {print s+0}')
NEED=$((KEYS - HAVE))
echo
echo "## $KEYS keys in the store"
echo
if [ "$NEED" -gt 0 ]; then
  T0=$(now)
  "$BIN" bench --workload create-key --ops "$NEED" --no-ceiling --no-inproc \
    --addr "$PADDR" --token "$PTOKEN" --connections "$CREATE_C" -o json >"$WORK/fill.json"
  T1=$(now)
  echo "- filled $NEED keys with $CREATE_C connections in $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}') s ($(awk -v a="$T0" -v b="$T1" -v n="$NEED" 'BEGIN{printf "%.0f", n/(b-a)}') keys/s, durable, audit on)"
fi
echo "- store: $(du -m "$WORK/strongroom.db" | cut -f1) MiB database + $(du -m "$WORK/strongroom.db-wal" 2>/dev/null | cut -f1 || echo 0) MiB WAL; audit log $(du -m "$WORK/prod-audit.jsonl" | cut -f1) MiB"
echo "- RSS of the running server after filling: $(rss_mib "$PROD_PID") MiB"
kill "$PROD_PID"; wait "$PROD_PID" 2>/dev/null || true
sync
T0=$(now)
PROD_LOG=info start_prod
T1=$(now)
STRONGROOM_ADDR=$PADDR "$BIN" operator unseal "$SHARE" >/dev/null
T2=$(now)
echo "- restart: process start to listening $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.2f", b-a}') s; unseal call $(awk -v a="$T1" -v b="$T2" 'BEGIN{printf "%.2f", b-a}') s; start + unseal $(awk -v a="$T0" -v b="$T2" 'BEGIN{printf "%.2f", b-a}') s"
echo "- RSS after restart + unseal: $(rss_mib "$PROD_PID") MiB right after; $(sleep 10; rss_mib "$PROD_PID") MiB after 10 s idle"
echo "- where the unseal time went (the server's own log; milliseconds since the engine started loading, cumulative): $(sed -n 's/.*engine loaded //p' "$WORK/prod.log" | head -1); audit log opened in $(sed -n 's/.*audit_ms=\([0-9]*\).*/\1/p' "$WORK/prod.log" | head -1) ms"
echo "- list page (limit=100), best of 3: first page $(list_ms '/v1/keys?limit=100') ms; page at cursor $((KEYS / 2)) $(list_ms "/v1/keys?limit=100&cursor=$((KEYS / 2))") ms; with a filter that matches nothing (scans every key) $(list_ms '/v1/keys?limit=100&owner=nobody') ms"
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- strongroom scan (#15): throughput and precision/recall, a block of its own ----
echo
scripts/bench-scan.sh
