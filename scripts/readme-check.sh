#!/usr/bin/env bash
# The README check: runs every shell block of README.md, verbatim, in order,
# in one bash session, against a fresh dev server started the quickstart way;
# then does it all a second time (files left by the first pass stay, the dev
# server is new), since a reader may follow the README twice. Any failing
# command fails the check, which names the README line. scripts/test.sh (and
# so CI) runs it after `cargo build --release`.
#
# The convention (scripts/readme_blocks.py extracts the blocks):
#   ```sh            runs (also ```bash, ```shell)
#   ```sh norun      shown, not run: commands for another terminal or that
#                    never end (the two commands at the top), or that need
#                    what CI lacks. Keep these rare.
#   ```text, ```toml, ... never run.
# Each block starts in the repository root and runs under `set -eE -o pipefail`
# in the same shell as the blocks before it (variables and background jobs
# carry over), like a reader's terminal. So a block that expects a command to
# fail says so (`! cmd` or `cmd || true`); a block that starts a server waits
# until it answers (no `sleep 1`), stops it at the end, cleans up what an
# earlier run left before it starts, and puts back the quickstart environment
# (STRONGROOM_ADDR=http://127.0.0.1:8200 STRONGROOM_TOKEN=dev-only-token) if it
# changed it.
#
# The checker starts `target/release/strongroom server --dev --dev-root-token
# dev-only-token` on 127.0.0.1:8200 (the quickstart's first command, without
# cargo) and sets PATH, STRONGROOM_ADDR and STRONGROOM_TOKEN as the quickstart
# says. Everything the blocks start runs in one process group, killed at the
# end of each pass, pass or fail. Ports the blocks listen on (and 8200) must be
# free: it waits up to 60 s for them, then fails naming the port.
#
#   scripts/readme-check.sh [FILE.md]      default README.md
#   READMECHECK_PASSES=1 scripts/readme-check.sh   one pass only
#   READMECHECK_TIMEOUT=900                seconds per pass
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
doc=${1:-README.md}
passes=${READMECHECK_PASSES:-2}
timeout_secs=${READMECHECK_TIMEOUT:-900}
bin=$repo/target/release/strongroom

[ -x "$bin" ] || { echo "readme-check: $bin is missing; run cargo build --release first" >&2; exit 1; }
work=$(mktemp -d /tmp/strongroom-readme-check.XXXXXX)
pgid=
cleanup() {
  if [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null; then
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  pgid=
}
trap 'cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# The checker checks itself first: the extractor's tests, and a document
# whose second command fails must fail the check at that line.
if [ -z "${READMECHECK_INNER:-}" ]; then
  python3 scripts/readme_blocks_test.py >"$work/selftest.log" 2>&1 || { cat "$work/selftest.log" >&2; exit 1; }
  printf '# t\n\n```sh\nstrongroom operator status > /dev/null\nfalse\necho not reached\n```\n' >"$work/failing.md"
  if READMECHECK_INNER=1 READMECHECK_PASSES=1 scripts/readme-check.sh "$work/failing.md" >"$work/selftest.log" 2>&1 \
     || ! grep -q "FAILED at $work/failing.md line 5: false" "$work/selftest.log" \
     || grep -q "not reached" "$work/selftest.log"; then
    cat "$work/selftest.log" >&2
    echo "readme-check: the self-check failed: a failing block was not reported at its line" >&2
    exit 1
  fi
  echo "==> readme-check self-check OK (a failing command is caught at its line)"
fi

python3 scripts/readme_blocks.py "$doc" --map "$work/map" >"$work/blocks.sh"
nblocks=$(python3 scripts/readme_blocks.py "$doc" --list | wc -l)
ports="8200 $(python3 scripts/readme_blocks.py "$doc" --ports)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_ports_free() {
  local p
  for p in $ports; do
    for _ in $(seq 1 600); do port_busy "$p" || continue 2; sleep 0.1; done
    echo "readme-check: port $p on 127.0.0.1 is in use (the README's blocks listen on it); stop what holds it" >&2
    return 1
  done
}

# What runs in the pass's own session: the quickstart's setup, then the blocks.
cat >"$work/prologue.sh" <<EOF
set -eE -o pipefail
echo \$\$ > "$work/pgid"
README_REPO="$repo"
readme_block() { echo "readme-check: block \$1 of $nblocks ($doc line \$2)" >&2; }
trap 'echo "\$LINENO" > "$work/failed-line"' ERR
cd "\$README_REPO"
"$bin" server --dev --dev-root-token dev-only-token > "$work/dev-server.log" 2>&1 &
export PATH="\$README_REPO/target/release:\$PATH"
export STRONGROOM_ADDR=http://127.0.0.1:8200 STRONGROOM_TOKEN=dev-only-token
until strongroom operator status > /dev/null 2>&1; do kill -0 \$! || { echo "readme-check: the dev server exited" >&2; exit 1; }; sleep 0.1; done
trap 'echo "\$LINENO" > "$work/failed-line"' ERR
source "$work/blocks.sh"
EOF

for pass in $(seq 1 "$passes"); do
  wait_ports_free
  rm -f "$work/failed-line" "$work/pgid"
  echo "==> readme-check pass $pass of $passes: $nblocks blocks of $doc"
  start=$(date +%s)
  setsid bash "$work/prologue.sh" </dev/null >"$work/pass.log" 2>&1 &
  runner=$!
  for _ in $(seq 1 50); do [ -s "$work/pgid" ] && break; sleep 0.1; done
  pgid=$(cat "$work/pgid" 2>/dev/null || echo "$runner")
  status=0
  deadline=$((start + timeout_secs))
  while kill -0 "$runner" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "readme-check: pass $pass timed out after ${timeout_secs}s" >&2
      status=124
      break
    fi
    sleep 0.2
  done
  if [ "$status" = 0 ]; then wait "$runner" || status=$?; fi
  cleanup
  if [ "$status" != 0 ]; then
    echo "---- last output of pass $pass:" >&2
    tail -n 60 "$work/pass.log" >&2
    if [ -s "$work/failed-line" ]; then
      line=$(awk -v l="$(cat "$work/failed-line")" '$1 == l { print $2 }' "$work/map")
      [ -n "$line" ] && echo "readme-check: FAILED at $doc line $line: $(sed -n "${line}p" "$doc")" >&2
    fi
    echo "---- dev server log (tail):" >&2
    tail -n 20 "$work/dev-server.log" >&2 || true
    echo "readme-check: FAILED (pass $pass, exit status $status)" >&2
    exit 1
  fi
  echo "    pass $pass OK in $(( $(date +%s) - start ))s"
done
echo "readme-check: $doc OK ($nblocks blocks, $passes passes)"
