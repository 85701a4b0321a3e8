#!/usr/bin/env bash
# Validates `strongroom scan --format sarif` against the vendored SARIF 2.1.0
# JSON schema (crates/scan/tests/sarif/, OASIS, see its LICENSE.md) with
# Python's jsonschema in a venv: a working-tree scan of the labelled corpus
# and a --history scan (which adds properties.commit).
# Usage: scripts/scan-sarif-check.sh   (uses target/release/strongroom, building it if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${STRONGROOM_BIN:-target/release/strongroom}
[ -x "$BIN" ] || cargo build --release -p strongroom
VENV=${SCAN_VENV:-target/scan-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import jsonschema' 2>/dev/null || "$VENV/bin/pip" install -q jsonschema
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Built with the workspace's feature set (not `-p strongroom-scan`, which
# would rebuild its dependencies with other features): it reuses the
# release build that ran just before.
cargo build -q --release --workspace --example gen_corpus
target/release/examples/gen_corpus "$work/corpus" >/dev/null
"$BIN" scan "$work/corpus" --format sarif >"$work/tree.sarif"
# a repository whose secret exists only in history
git init -q -b main "$work/repo"
cp -r "$work/corpus/svc4/." "$work/repo/"
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=t -c user.email=t@example.invalid -c commit.gpgsign=false commit -qm add
git -C "$work/repo" rm -rq .
git -C "$work/repo" -c user.name=t -c user.email=t@example.invalid -c commit.gpgsign=false commit -qm remove
"$BIN" scan --history "$work/repo" --format sarif >"$work/history.sarif"
"$VENV/bin/python" - "$work/tree.sarif" "$work/history.sarif" <<'PY'
import json, sys
import jsonschema
schema = json.load(open("crates/scan/tests/sarif/sarif-schema-2.1.0.json"))
validator = jsonschema.Draft4Validator(schema)
for path in sys.argv[1:]:
    doc = json.load(open(path))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    for e in errors[:10]:
        print(f"{path}: {'/'.join(map(str, e.path))}: {e.message}")
    if errors:
        sys.exit(f"{path}: {len(errors)} schema errors")
    results = doc["runs"][0]["results"]
    assert results, f"{path}: no results"
    for r in results:
        assert r["properties"]["category"] in ("secret", "weak-crypto"), r
        assert r["partialFingerprints"]
    if "history" in path:
        assert all(len(r["properties"]["commit"]) == 40 for r in results), "history results carry the commit"
    print(f"{path.rsplit('/', 1)[-1]}: valid SARIF 2.1.0, {len(results)} results")
PY
