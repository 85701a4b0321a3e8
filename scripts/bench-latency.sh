#!/usr/bin/env bash
# Single-connection latency of native encrypt (1 KiB) and of XKS encrypt
# (1 KiB, SigV4 kms-xks-proxy) against a baseline measured in the same run
# on the same server: GET /v1/sys/health (no auth, no crypto). Needs wrk
# (apt-get install wrk) and curl. Prints wrk's summaries.
#
# The XKS request is signed once by curl --aws-sigv4 and replayed by wrk
# with the same headers: SigV4 has no nonce, and the signature stays valid
# for aws_max_skew_secs (300 s), far longer than DUR. The server verifies
# the signature on every request, as it would for AWS KMS.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
# BIN=path/to/strongroom skips the release build (e.g. to compare builds).
if [ -z "${BIN:-}" ]; then
  cargo build --release -p strongroom >/dev/null
  BIN=target/release/strongroom
fi
PORT=${PORT:-18299}
TOKEN=bench-token
DUR=${DUR:-10s}
STRONGROOM_XKS_PATH_PREFIX=/xks STRONGROOM_XKS_KEYS=alias/bench \
  $BIN server --dev --listen 127.0.0.1:$PORT --dev-root-token $TOKEN \
  --dev-aws-credentials AKIDBENCH:bench-secret >/dev/null 2>&1 &
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
XKS_URL=http://127.0.0.1:$PORT/xks/kms/xks/v1/keys/bench/encrypt
XKS_BODY='{"requestMetadata":{"awsPrincipalArn":"arn:aws:iam::123456789012:user/Bench","kmsKeyArn":"arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab","kmsOperation":"Encrypt","kmsRequestId":"4112f4d6-db54-4af4-ae30-c55a22a8dfae"},"plaintext":"'"$PT"'","encryptionAlgorithm":"AES_GCM","additionalAuthenticatedData":"cHJvamVjdD1uaWxl"}'
# Sign once with curl (and check that the request is accepted); keep the signed headers.
SIGNED=$(curl -sS -v --fail-with-body -o /dev/null --aws-sigv4 "aws:amz:us-east-1:kms-xks-proxy" \
  --user AKIDBENCH:bench-secret -H 'Content-Type: application/json' -d "$XKS_BODY" "$XKS_URL" 2>&1 \
  | tr -d '\r' | sed -n 's/^> \(Authorization\|X-Amz-Date\|x-amz-date\|x-amz-content-sha256\): /\1: /Ip')
XLUA=$(mktemp --suffix .lua)
{
  echo 'wrk.method = "POST"'
  echo 'wrk.headers["Content-Type"] = "application/json"'
  while IFS= read -r h; do
    [ -n "$h" ] && printf 'wrk.headers["%s"] = "%s"\n' "${h%%: *}" "${h#*: }"
  done <<< "$SIGNED"
  printf "wrk.body = '%s'\n" "$XKS_BODY"
} > "$XLUA"
echo "== XKS encrypt 1 KiB (SigV4 kms-xks-proxy), 1 connection, $DUR"
wrk -t1 -c1 -d"$DUR" --latency -s "$XLUA" "$XKS_URL" | grep -E 'Latency|50%|99%|Requests/sec|Non-2xx'
rm -f "$LUA" "$XLUA"
