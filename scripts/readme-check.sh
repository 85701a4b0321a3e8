#!/usr/bin/env bash
# The README and docs check: runs every shell block of README.md and of each
# walkthrough in docs/*.md, verbatim, in order, in one bash session per
# document, against a fresh server started the way the document says; then
# does it all a second time (files left by the first pass stay, the server
# is new), since a reader may follow a document twice. Any failing command
# fails the check, which names the document and line. scripts/test.sh (and
# so CI) runs it after `cargo build --release`.
#
# The convention (scripts/readme_blocks.py extracts the blocks):
#   ```sh            runs (also ```bash, ```shell)
#   ```sh server     the server the reader starts and leaves running in another
#                    terminal: run in the background at that point (with
#                    `cargo run --release --` as the release binary), then
#                    waited for until its port (--listen, else 8200) answers.
#   ```sh norun      shown, not run: commands that never end, that need what
#                    CI lacks (systemd as PID 1, a second machine, nightly
#                    Rust) or that are measurements. Keep these rare. In
#                    docs/*.md the block's first line says why, as the reader
#                    sees it: `# not run in CI: REASON` (the check refuses a
#                    norun block there without one).
#   ```text, ```toml, ... never run.
# Each block starts in the repository root and runs under `set -eE -o pipefail`
# in the same shell as the blocks before it (variables and background jobs
# carry over), like a reader's terminal. So a block that expects a command to
# fail says so: `! cmd` at the start of a line (checked: the check fails if
# it succeeds) or `cmd || true`; a block that starts a server waits until it
# answers (no `sleep 1`), stops it at the end, cleans up what an earlier run
# left before it starts, and puts back the quickstart environment
# (STRONGROOM_ADDR=http://127.0.0.1:8200 STRONGROOM_TOKEN=dev-only-token) if it
# changed it. Files go in /tmp or a directory the block makes, never the
# repository.
#
# Every session starts with PATH, STRONGROOM_ADDR and STRONGROOM_TOKEN set as
# the quickstart says, and STRONGROOM_TRIAL=/tmp/strongroom-trial (the prefix
# under which docs/PRODUCTION.md's trial run puts the package's paths). A document with no `server` block gets the quickstart's
# dev server: `target/release/strongroom server --dev --dev-root-token
# dev-only-token` on 127.0.0.1:8200. Everything a pass starts runs in one
# process group, killed at the end of the pass, pass or fail. Ports the blocks
# listen on (and 8200) must be free: it waits up to 60 s for them, then fails
# naming the port.
#
#   scripts/readme-check.sh                 README.md and every docs/*.md with a shell block
#   scripts/readme-check.sh FILE.md...      those only
#   READMECHECK_PASSES=1 scripts/readme-check.sh   one pass only
#   READMECHECK_TIMEOUT=900                 seconds per pass
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
passes=${READMECHECK_PASSES:-2}
timeout_secs=${READMECHECK_TIMEOUT:-900}
bin=$repo/target/release/strongroom

if [ $# -gt 0 ]; then
  docs=("$@")
else
  docs=(README.md)
  for f in docs/*.md; do
    # every document with a shell block: run, or not run (whose reasons are checked)
    [ -n "$(python3 scripts/readme_blocks.py "$f" --list)$(python3 scripts/readme_blocks.py "$f" --norun)" ] \
      && docs+=("$f")
  done
fi

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

# The checker checks itself first: the extractor's tests; a document whose
# second command fails must fail the check at that line; and so must one
# whose `! cmd` succeeds.
if [ -z "${READMECHECK_INNER:-}" ]; then
  python3 scripts/readme_blocks_test.py >"$work/selftest.log" 2>&1 || { cat "$work/selftest.log" >&2; exit 1; }
  printf '# t\n\n```sh\nstrongroom operator status > /dev/null\nfalse\necho not reached\n```\n' >"$work/failing.md"
  printf '# t\n\n```sh\n! strongroom operator status > /dev/null\necho not reached\n```\n' >"$work/negated.md"
  for t in "failing.md|5|false" "negated.md|4|! strongroom operator status > /dev/null"; do
    IFS='|' read -r f line text <<<"$t"
    if READMECHECK_INNER=1 READMECHECK_PASSES=1 scripts/readme-check.sh "$work/$f" >"$work/selftest.log" 2>&1 \
       || ! grep -qF "FAILED at $work/$f line $line: $text" "$work/selftest.log" \
       || grep -q "not reached" "$work/selftest.log"; then
      cat "$work/selftest.log" >&2
      echo "readme-check: the self-check failed: a failing block ($f) was not reported at its line" >&2
      exit 1
    fi
  done
  echo "==> readme-check self-check OK (a failing command, and a \`! cmd\` that succeeds, are caught at their line)"
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_ports_free() {
  local p
  for p in $ports; do
    for _ in $(seq 1 600); do port_busy "$p" || continue 2; sleep 0.1; done
    echo "readme-check: port $p on 127.0.0.1 is in use (the blocks of $doc listen on it); stop what holds it" >&2
    return 1
  done
}

total_blocks=0
summary=()
for doc in "${docs[@]}"; do
  [ -f "$doc" ] || { echo "readme-check: no such document: $doc" >&2; exit 1; }
  strict=--strict
  [ "$(basename "$doc")" = README.md ] && strict=
  dwork=$work/$(echo "$doc" | tr '/.' '__')
  mkdir -p "$dwork"
  python3 scripts/readme_blocks.py "$doc" --norun $strict >"$dwork/norun"
  python3 scripts/readme_blocks.py "$doc" --map "$dwork/map" >"$dwork/blocks.sh"
  nblocks=$(python3 scripts/readme_blocks.py "$doc" --list | wc -l)
  nnorun=$(wc -l <"$dwork/norun")
  ports="8200 $(python3 scripts/readme_blocks.py "$doc" --ports)"
  if [ "$nblocks" = 0 ]; then
    summary+=("$doc: no block runs; $nnorun not run, each with its reason")
    continue
  fi
  # The document's own server (a `server` block), or the quickstart's dev server.
  if grep -q '^readme_server_wait ' "$dwork/blocks.sh"; then
    start_dev=:
  else
    start_dev="\"$bin\" server --dev --dev-root-token dev-only-token > \"$dwork/dev-server.log\" 2>&1 &
until strongroom operator status > /dev/null 2>&1; do kill -0 \$! || { echo \"readme-check: the dev server exited\" >&2; exit 1; }; sleep 0.1; done"
  fi

  # What runs in the pass's own session: the quickstart's setup, then the blocks.
  cat >"$dwork/prologue.sh" <<EOF
set -eE -o pipefail
echo \$\$ > "$dwork/pgid"
README_REPO="$repo"
README_WORK="$dwork"
readme_block() { echo "readme-check: block \$1 of $nblocks ($doc line \$2)" >&2; }
readme_must_fail() {  # after a \`! cmd\` line: \$? is 0 only if cmd failed
  if [ "\$1" != 0 ]; then
    echo "readme-check: this command is written \\\`! cmd\\\` (it must fail), but it succeeded" >&2
    return 1
  fi
}
readme_server_wait() {  # PID PORT LOG: until the server block's port answers
  local i
  for i in \$(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/\$2") 2>/dev/null && return 0
    kill -0 "\$1" 2>/dev/null || { echo "readme-check: the server block exited:" >&2; tail -n 20 "\$3" >&2; return 1; }
    sleep 0.1
  done
  echo "readme-check: the server block did not listen on port \$2 within 60 s" >&2
  return 1
}
cd "\$README_REPO"
export PATH="\$README_REPO/target/release:\$PATH"
export STRONGROOM_ADDR=http://127.0.0.1:8200 STRONGROOM_TOKEN=dev-only-token
export STRONGROOM_TRIAL=/tmp/strongroom-trial
$start_dev
trap 'echo "\$LINENO" > "$dwork/failed-line"' ERR
source "$dwork/blocks.sh"
EOF

  for pass in $(seq 1 "$passes"); do
    wait_ports_free
    rm -f "$dwork/failed-line" "$dwork/pgid"
    echo "==> readme-check pass $pass of $passes: $nblocks blocks of $doc ($nnorun not run)"
    start=$(date +%s)
    setsid bash "$dwork/prologue.sh" </dev/null >"$dwork/pass.log" 2>&1 &
    runner=$!
    for _ in $(seq 1 50); do [ -s "$dwork/pgid" ] && break; sleep 0.1; done
    pgid=$(cat "$dwork/pgid" 2>/dev/null || echo "$runner")
    status=0
    deadline=$((start + timeout_secs))
    while kill -0 "$runner" 2>/dev/null; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "readme-check: pass $pass of $doc timed out after ${timeout_secs}s" >&2
        status=124
        break
      fi
      sleep 0.2
    done
    if [ "$status" = 0 ]; then wait "$runner" || status=$?; fi
    cleanup
    if [ "$status" != 0 ]; then
      echo "---- last output of pass $pass:" >&2
      tail -n 60 "$dwork/pass.log" >&2
      if [ -s "$dwork/failed-line" ]; then
        line=$(awk -v l="$(cat "$dwork/failed-line")" '$1 == l { print $2 }' "$dwork/map")
        [ -n "$line" ] && echo "readme-check: FAILED at $doc line $line: $(sed -n "${line}p" "$doc")" >&2
      fi
      for log in "$dwork"/dev-server.log "$dwork"/server-*.log; do
        [ -f "$log" ] || continue
        echo "---- $(basename "$log") (tail):" >&2
        tail -n 20 "$log" >&2
      done
      echo "readme-check: FAILED ($doc, pass $pass, exit status $status)" >&2
      exit 1
    fi
    echo "    pass $pass OK in $(( $(date +%s) - start ))s"
  done
  total_blocks=$((total_blocks + nblocks))
  summary+=("$doc: $nblocks blocks, $passes passes; $nnorun not run, each with its reason")
done
printf 'readme-check: %s\n' "${summary[@]}"
echo "readme-check: OK (${#docs[@]} documents, $total_blocks blocks run)"
