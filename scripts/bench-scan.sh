#!/usr/bin/env bash
# `strongroom scan` benchmark (docs/BENCHMARKS.md, "Scanner"): throughput
# over the cargo registry sources against grep -rIE with a comparable combined
# pattern and against detect-secrets (PyPI, in a venv), and precision/recall
# of all three on the labelled corpus. Runs alone (scripts/bench.sh calls it
# last; SCAN_ONLY=1 scripts/bench.sh runs only this).
# Knobs: SCAN_TREE (~/.cargo/registry/src), DS_MB (4: size of the subtree
# detect-secrets is timed on; it is too slow for the whole tree).
set -euo pipefail
cd "$(dirname "$0")/.."
TREE=${SCAN_TREE:-$HOME/.cargo/registry/src}
DS_MB=${DS_MB:-4}
BIN=target/release/strongroom
cargo build --release -p strongroom >&2
cargo build --release -p strongroom-scan --example gen_corpus >&2
VENV=${SCAN_VENV:-target/scan-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import jsonschema, detect_secrets' 2>/dev/null || "$VENV/bin/pip" install -q jsonschema detect-secrets
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export LC_ALL=C
# One combined extended regex for grep: the same formats, without checksums or filters.
PAT='(AKIA|ASIA)[A-Z2-7]{16}|AIza[0-9A-Za-z_-]{35}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{70,}|glpat-[A-Za-z0-9_-]{20}|npm_[A-Za-z0-9]{36}|pypi-AgEIcHlwaS5vcmc|xox[bpaesr]-[0-9A-Za-z-]{20,}|[sr]k_live_[0-9A-Za-z]{20,}|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}|SK[0-9a-f]{32}|hooks\.slack\.com/services/|discord(app)?\.com/api/webhooks/|-----BEGIN [A-Z ]*PRIVATE KEY|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.|://[^:/@ ]+:[^@/ ]+@|AccountKey=|[Pp]assword=[^;]+;|sr\.[A-Za-z0-9_-]{43}|SRAK[A-Z2-7]{16}|U1MB[A-Za-z0-9_-]{76}|([Ss]ecret|[Pp]assword|[Tt]oken|[Aa]pi_?[Kk]ey)[A-Za-z0-9_]*["'\'']?[[:space:]]*[:=][[:space:]]*["'\''][^"'\'']{16,}'
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
now() { date +%s.%N; }
BYTES=$(du -sb "$TREE" | cut -f1)
MB=$(awk -v b="$BYTES" 'BEGIN{printf "%.0f", b/1e6}')
grep -rIEc -e "$PAT" "$TREE" >/dev/null 2>&1 || true # warm the page cache
echo "### strongroom scan: throughput over $TREE ($MB MB on disk, $(find "$TREE" -type f | wc -l) files), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| tool | wall s | CPU s (user+sys) | MB/s wall | MB/s per CPU-second |"
echo "|---|---:|---:|---:|---:|"
run() { # name, command...
  local name=$1; shift
  local t0 t1 c0 c1
  c0=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  t0=$(now); "$@" >/dev/null 2>&1 || true; t1=$(now)
  # children's CPU ticks of this shell (cutime+cstime), 100 Hz
  c1=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  local wall cpu
  wall=$(secs "$t0" "$t1"); cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", (b-a)/100}')
  echo "| $name | $wall | $cpu | $(awk -v m="$MB" -v s="$wall" 'BEGIN{printf "%.0f", m/s}') | $(awk -v m="$MB" -v s="$cpu" 'BEGIN{printf "%.0f", (s>0)?(m/s):0}') |"
}
run "strongroom scan (all rules, $(nproc) threads)" "$BIN" scan "$TREE" --format json
run "grep -rIE (combined pattern, 1 thread)" grep -rIE -e "$PAT" "$TREE"
echo
# detect-secrets is timed on a subtree of about DS_MB MB, and strongroom scan on the same one.
mkdir -p "$W/subtree"
total=0
for d in "$TREE"/*/*/; do
  [ "$total" -ge $((DS_MB * 1000000)) ] && break
  size=$(du -sb "$d" | cut -f1)
  [ "$size" -gt $((DS_MB * 250000)) ] && continue # small crates only: many files, no single giant
  cp -r "$d" "$W/subtree/"
  total=$((total + size))
done
SMB=$(awk -v b="$total" 'BEGIN{printf "%.1f", b/1e6}')
echo "Same-run comparison with detect-secrets $("$VENV/bin/detect-secrets" --version) on a $SMB MB subtree (the first crates of the registry under DS_MB/4 each):"
echo
echo "| tool | wall s | CPU s (user+sys) | MB/s wall | MB/s per CPU-second |"
echo "|---|---:|---:|---:|---:|"
MB=$SMB
run "strongroom scan" "$BIN" scan "$W/subtree" --format json
# detect-secrets filters paths through git when the working directory is a repository: run it inside the tree
DS="$PWD/$VENV/bin/detect-secrets"
run "detect-secrets scan --all-files" bash -c "cd '$W/subtree' && '$DS' scan --all-files . | grep -c line_number"
echo
echo "### Precision and recall on the labelled corpus (secret families; other tools do not look for weak crypto)"
echo
./target/release/examples/gen_corpus "$W/corpus" >/dev/null
"$BIN" scan "$W/corpus" --format json >"$W/ours.json"
(cd "$W/corpus" && "$OLDPWD/$VENV/bin/detect-secrets" scan --all-files . >"$W/ds.json")
(cd "$W/corpus" && grep -rnIE -e "$PAT" . | sed 's#^\./##' >"$W/grep.txt" || true)
"$VENV/bin/python" scripts/scan-compare.py "$W/corpus" "$W/ours.json" "$W/ds.json" "$W/grep.txt"
