#!/usr/bin/env bash
# The web console's server render time (docs/BENCHMARKS.md "Web console"):
# a dev server filled with N keys (`strongroom bench -w create-key --ops N`),
# a console session signed in with curl, then each page fetched R times on
# loopback; the native API's GET /v1/keys?limit=100 (the same 100 keys as
# JSON) is the baseline from the same run. Prints p50 and p90 of curl's
# time_total in ms, and the ratio of p50s to the baseline.
#
#   scripts/console-render-bench.sh [KEYS] [REPEATS]    default 100000 and 50
#   STRONGROOM_BIN=target/debug/strongroom scripts/console-render-bench.sh 10000
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STRONGROOM_BIN:-target/release/strongroom}
keys=${1:-100000}
reps=${2:-50}
port=${CONSOLE_BENCH_PORT:-8291}
addr=http://127.0.0.1:$port
tmp=$(mktemp -d)
"$bin" server --dev --dev-root-token dev-only-token --listen 127.0.0.1:$port > "$tmp/server.log" 2>&1 &
server=$!
trap 'kill $server 2> /dev/null || true; wait $server 2> /dev/null || true; rm -rf "$tmp"' EXIT
until curl -fs "$addr/v1/sys/health" > /dev/null 2>&1; do sleep 0.1; done

start=$(date +%s)
STRONGROOM_ADDR=$addr STRONGROOM_TOKEN=dev-only-token \
  "$bin" bench -w create-key --ops "$keys" --no-ceiling --no-inproc -c 32 > "$tmp/fill.txt"
echo "filled $keys keys in $(( $(date +%s) - start )) s (server RSS $(ps -o rss= -p $server | awk '{printf "%d MB", $1/1024}'))"

jar=$tmp/cookies
curl -fs -c "$jar" "$addr/ui/sign-in" > "$tmp/signin.html"
form=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$tmp/signin.html" | head -n 1)
curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$form" \
  --data-urlencode "token=dev-only-token" "$addr/ui/sign-in"
first=$(curl -fs -H 'Authorization: Bearer dev-only-token' "$addr/v1/keys?limit=1" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n 1)

measure() { # measure LABEL URL [auth]
  local label=$1 url=$2 auth=${3:-}
  local out=$tmp/t.txt
  : > "$out"
  for _ in $(seq "$reps"); do
    if [ -n "$auth" ]; then
      curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer dev-only-token" "$url" >> "$out"
    else
      curl -fs -o /dev/null -w '%{time_total}\n' -b "$jar" "$url" >> "$out"
    fi
  done
  sort -n "$out" | awk -v label="$label" '{ t[NR] = $1 * 1000 } END {
    printf "%-58s p50 %7.2f ms  p90 %7.2f ms\n", label, t[int(NR * 0.5 + 0.5)], t[int(NR * 0.9 + 0.5)] }'
}
echo "keys in the store: $keys; $reps requests each; curl time_total on loopback"
measure "baseline: GET /v1/keys?limit=100 (JSON)" "$addr/v1/keys?limit=100" auth
measure "GET /ui/keys (first page, 100 keys)" "$addr/ui/keys"
measure "GET /ui/keys?state=PendingImport (state index: no key matches)" "$addr/ui/keys?state=PendingImport"
measure "GET /ui/keys?state=Enabled (state index: every key matches)" "$addr/ui/keys?state=Enabled"
measure "GET /ui/keys?owner=nobody (owner index: no key matches)" "$addr/ui/keys?owner=nobody"
measure "GET /ui/keys?state=Enabled&tag=env=prod (smallest index: tag)" "$addr/ui/keys?state=Enabled&tag=env%3Dprod"
measure "GET /ui/keys/{id} (key detail)" "$addr/ui/keys/$first"
measure "baseline: GET /v1/keys/{id} (JSON)" "$addr/v1/keys/$first" auth
measure "GET /ui/ (overview; the first load starts the chain check)" "$addr/ui/"
start=$(date +%s)
while curl -fs -b "$jar" "$addr/ui/" | grep -q 'been running'; do sleep 1; done
echo "the background chain check ended within $(( $(date +%s) - start )) s of the last overview above"
csrf=$(curl -fs -b "$jar" "$addr/ui/" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -n 1)
t=$(curl -fs -o /dev/null -w '%{time_total}' -b "$jar" --data "csrf=$csrf" "$addr/ui/verify-chain")
awk -v t="$t" 'BEGIN { printf "%-58s once    %7.0f ms\n", "POST /ui/verify-chain (the whole audit chain verified)", t * 1000 }'
measure "GET /ui/ (overview, with the kept chain check)" "$addr/ui/"
