#!/usr/bin/env bash
# Builds every fuzz target (fuzz/, outside the workspace) and runs each for
# $FUZZ_SECS seconds (default 600), one after the other, one libFuzzer
# process each. Prints one docs/FUZZING.md table row per target.
#
# Needs: the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Not part of scripts/test.sh (nightly, and an hour of CPU).
#
#   FUZZ_SECS=600      seconds per target
#   FUZZ_TARGETS="a b" only these targets (default: all, from `cargo fuzz list`)
#   FUZZ_SANITIZER=none  cargo fuzz --sanitizer (none: our code forbids unsafe;
#                        `address` also checks the C code underneath, slower)
#   FUZZ_WORK=fuzz/work  working corpora and logs (git-ignored); the committed
#                        seeds in fuzz/corpus/<target>/ are read, never written
#
# A crash stops that target; the input is in fuzz/artifacts/<target>/.
# The script exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${FUZZ_SECS:-600}"
san="${FUZZ_SANITIZER:-none}"
work="${FUZZ_WORK:-work}"
targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"

cargo +nightly fuzz build --sanitizer "$san"

status=0
rows=()
for t in $targets; do
  mkdir -p "$work/corpus/$t" "$work/logs"
  log="$work/logs/$t.log"
  load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "==> $t: ${secs}s (load before: $load_before), log $log" >&2
  rc=0
  # With -jobs=1 libFuzzer runs the fuzzing in one child process whose
  # output goes to ./fuzz-0.log (here: fuzz/); the parent only starts it.
  rm -f fuzz-0.log
  cargo +nightly fuzz run --sanitizer "$san" "$t" "$work/corpus/$t" "corpus/$t" -- \
    -max_total_time="$secs" -jobs=1 -workers=1 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$work/logs/$t.parent.log" 2>&1 || rc=$?
  if [ -f fuzz-0.log ]; then mv fuzz-0.log "$log"; else cp "$work/logs/$t.parent.log" "$log"; fi
  load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
  # Last status line: "#N  DONE|pulse|NEW ... cov: C ft: F corp: K/S ... exec/s: E"
  last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
  execs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")"
  corp="$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")"
  eps="$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")"
  # The final stats, when printed, are exact where the last status line may
  # be cut short.
  s_execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)"
  s_eps="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)"
  execs="${s_execs:-$execs}"
  eps="${s_eps:-$eps}"
  if [ "$rc" -eq 0 ] && ! grep -qE 'Test unit written to|panicked at|deadly signal|==ERROR' "$log"; then
    finding="none"
  else
    finding="CRASH (exit $rc), see $log and artifacts/$t/"
    status=1
  fi
  rows+=("| \`$t\` | ${secs} s | ${execs:-?} | ${eps:-?} | ${cov:-?} / ${ft:-?} | ${corp:-?} | $finding | $load_before → $load_after |")
done

echo
echo "| target | run | total execs | exec/s | cov / ft | corpus (files/bytes) | findings | load (1/5/15 min) before → after |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
exit "$status"
