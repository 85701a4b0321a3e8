#!/usr/bin/env python3
"""The house rules of ARCHITECTURE.md, read from the crates' Cargo.toml files
(`cargo metadata`): every workspace crate may depend (normal dependencies;
dev-dependencies are for tests) only on the crates of ours listed here.
Exit 1 with the offending arrows otherwise. Run by scripts/test.sh.
"""
import json
import subprocess
import sys

ALLOWED = {
    "strongroom-core": set(),
    "strongroom-sigv4": set(),
    "strongroom-audit": set(),
    "strongroom-store": {"strongroom-core"},
    "strongroom-store-sql": {"strongroom-core", "strongroom-store"},
    "strongroom-engine": {"strongroom-core", "strongroom-store"},
    "strongroom-proto": {"strongroom-core"},
    "strongroom-service": {
        "strongroom-core", "strongroom-store", "strongroom-store-sql",
        "strongroom-audit", "strongroom-engine", "strongroom-proto",
    },
    "strongroom-api": {
        "strongroom-core", "strongroom-audit", "strongroom-engine", "strongroom-service",
    },
    "strongroom-aws": {
        "strongroom-core", "strongroom-engine", "strongroom-service", "strongroom-sigv4",
    },
    "strongroom-vault": {"strongroom-core", "strongroom-engine", "strongroom-service"},
    "strongroom-console": {
        "strongroom-core", "strongroom-audit", "strongroom-engine", "strongroom-service",
    },
    "strongroom-xks": {
        "strongroom-core", "strongroom-engine", "strongroom-service", "strongroom-sigv4",
    },
    "strongroom-server": {
        "strongroom-core", "strongroom-audit", "strongroom-store", "strongroom-store-sql",
        "strongroom-engine", "strongroom-service", "strongroom-api", "strongroom-aws",
        "strongroom-vault", "strongroom-console", "strongroom-xks",
    },
    "strongroom-cli": {"strongroom-core", "strongroom-proto", "strongroom-scan"},
    "strongroom-bench": {"strongroom-core", "strongroom-cli", "strongroom-sigv4"},
    # A client of the server, like the CLI (its HTTP client); never below it.
    "strongroom-kms-plugin": {"strongroom-core", "strongroom-cli"},
    "strongroom-scan": set(),
    "strongroom-testkit": set(),
    "strongroom": {
        "strongroom-cli", "strongroom-server", "strongroom-bench", "strongroom-kms-plugin",
        "strongroom-core",
        "strongroom-engine", "strongroom-service", "strongroom-store-sql",
    },
}

# The rules the issue states, checked on top of the table (so a table edit
# cannot quietly break them).
FRONT_ENDS = {"strongroom-api", "strongroom-aws", "strongroom-vault", "strongroom-console",
              "strongroom-xks"}
BELOW_SERVICE = {"strongroom-core", "strongroom-sigv4", "strongroom-store",
                 "strongroom-engine", "strongroom-proto"}
BACKENDS_AND_WRITER = {"strongroom-store-sql", "strongroom-audit"}
CLIENTS = {"strongroom-cli", "strongroom-kms-plugin"}
CLI_FORBIDDEN = {"strongroom-engine", "strongroom-store", "strongroom-store-sql",
                 "strongroom-service", "strongroom-server", "strongroom-audit"}


def main() -> int:
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        check=True, capture_output=True, text=True).stdout)
    ours = {p["name"] for p in meta["packages"]}
    bad = []
    for p in meta["packages"]:
        name = p["name"]
        deps = {d["name"] for d in p["dependencies"]
                if d["name"] in ours and d.get("kind") in (None, "normal")}
        if name not in ALLOWED:
            bad.append(f"{name}: not in the table of scripts/check-arrows.py (add it, with its allowed arrows)")
            continue
        for d in sorted(deps - ALLOWED[name]):
            bad.append(f"{name} -> {d}: not an allowed arrow (ARCHITECTURE.md)")
        if name in FRONT_ENDS and deps & (FRONT_ENDS - {name}):
            bad.append(f"{name}: a front-end depends on another front-end")
        if name in BELOW_SERVICE and deps & BACKENDS_AND_WRITER:
            bad.append(f"{name}: below the service, it depends on {sorted(deps & BACKENDS_AND_WRITER)}")
        if name in CLIENTS and deps & CLI_FORBIDDEN:
            bad.append(f"{name} depends on {sorted(deps & CLI_FORBIDDEN)}")
    for b in bad:
        print(b, file=sys.stderr)
    if bad:
        return 1
    print(f"crate arrows OK ({len(meta['packages'])} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
