#!/usr/bin/env python3
"""Turns the shell blocks of a Markdown file into one bash script, for
scripts/readme-check.sh (which documents the convention).

A fenced block runs when its info string's first word is sh, bash or shell
and no other word of it is `norun`:

    ```sh           runs
    ```sh norun     shown, not run (the first word still gives the highlighting)
    ```text         not run (nor is any other language)

Each block becomes: `cd "$README_REPO"`, a marker naming the block and its
line, then the block's text unchanged. Prints the script on stdout and writes
a line map (script line -> Markdown line) to --map, so a failure can be
reported at the Markdown line it came from.

    readme_blocks.py README.md --map out.map > out.sh
    readme_blocks.py README.md --list     # the blocks that run, one per line
    readme_blocks.py README.md --ports    # ports the blocks start servers on
"""

import argparse
import re
import sys

RUN_LANGS = {"sh", "bash", "shell"}
FENCE = re.compile(r"^(\s{0,3})(`{3,}|~{3,})(.*)$")


def blocks(path):
    """Yields (first_line_number, info_words, [lines]) for each fenced block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(2), m.group(3).strip().split()
        body, start = [], i + 2  # 1-based line of the block's first line
        i += 1
        while i < len(lines):
            close = FENCE.match(lines[i])
            if close and close.group(2)[0] == fence[0] and len(close.group(2)) >= len(fence) \
                    and not close.group(3).strip():
                break
            body.append(lines[i])
            i += 1
        else:
            sys.exit(f"{path}: the block opened at line {start - 1} is never closed")
        i += 1
        yield start, info, body


def runnable(path):
    return [(start, body) for start, info, body in blocks(path)
            if info and info[0] in RUN_LANGS and "norun" not in info[1:]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("markdown")
    ap.add_argument("--map", help="write 'script_line markdown_line' pairs here")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--ports", action="store_true")
    a = ap.parse_args()
    runs = runnable(a.markdown)
    if a.list:
        for n, (start, body) in enumerate(runs, 1):
            print(f"block {n}: {a.markdown}:{start}: {body[0] if body else ''}")
        return
    if a.ports:
        ports = set()
        for _, body in runs:
            text = "\n".join(body)
            for m in re.finditer(r'(?:listen\s*=\s*"|--listen\s+)[\w.\[\]:]*:(\d+)', text):
                ports.add(int(m.group(1)))
            for m in re.finditer(r"sed[^\n]*s/(\d{4,5})/(\d{4,5})/", text):  # node2 from node1
                ports.add(int(m.group(2)))
        print(" ".join(str(p) for p in sorted(ports)))
        return
    out, mapping = [], []
    for n, (start, body) in enumerate(runs, 1):
        out.append('cd "$README_REPO"')
        mapping.append(None)
        out.append(f"readme_block {n} {start}")
        mapping.append(None)
        for k, line in enumerate(body):
            out.append(line)
            mapping.append(start + k)
    sys.stdout.write("\n".join(out) + "\n")
    if a.map:
        with open(a.map, "w", encoding="utf-8") as f:
            for k, md in enumerate(mapping, 1):
                if md is not None:
                    f.write(f"{k} {md}\n")


if __name__ == "__main__":
    main()
