#!/usr/bin/env python3
"""Turns the shell blocks of a Markdown file into one bash script, for
scripts/readme-check.sh (which documents the convention).

A fenced block runs when its info string's first word is sh, bash or shell
and no other word of it is `norun`:

    ```sh           runs
    ```sh server    the server the reader leaves running in another terminal:
                    run in the background, then waited for (below)
    ```sh norun     shown, not run (the first word still gives the highlighting)
    ```text         not run (nor is any other language)

Each block becomes: `cd "$README_REPO"`, a marker naming the block and its
line, then the block's text unchanged, except:

- a `server` block is wrapped in `{ ... } > LOG 2>&1 &` and followed by
  `readme_server_wait PID PORT` (PORT from its `--listen ADDR:PORT`, else
  8200); `cargo run --release --` in it becomes `strongroom` (the release
  binary the checker puts first on PATH: the same program, not rebuilt);
- a command that starts a line with `! ` (the documented way to show a
  command that must fail) is followed by `readme_must_fail $?`: bash's
  errexit ignores a negated command, so without it a command that wrongly
  succeeds would pass unseen.

Prints the script on stdout and writes a line map (script line -> Markdown
line) to --map, so a failure can be reported at the Markdown line it came
from. With --strict (the docs/ walkthroughs), every `norun` block must say
why in its first line, a comment shown in the doc: `# not run in CI: REASON`.

    readme_blocks.py README.md --map out.map > out.sh
    readme_blocks.py README.md --list     # the blocks that run, one per line
    readme_blocks.py README.md --ports    # ports the blocks start servers on
    readme_blocks.py docs/X.md --strict --norun   # the norun blocks and their reasons
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


NORUN_REASON = re.compile(r"^# not run in CI: \S")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
CARGO_RUN = re.compile(r"\bcargo run --release --(?=\s)")
LISTEN_PORT = re.compile(r"--listen\s+[\w.\[\]:]*:(\d+)")


def shell_blocks(path):
    return [(start, info, body) for start, info, body in blocks(path)
            if info and info[0] in RUN_LANGS]


def runnable(path):
    return [(start, body) for start, info, body in shell_blocks(path) if "norun" not in info[1:]]


def is_server(info):
    return "server" in info[1:]


def norun_blocks(path, strict=False):
    """The norun shell blocks as (start, reason); with strict, a missing
    reason is an error naming the block's line."""
    out = []
    for start, info, body in shell_blocks(path):
        if "norun" not in info[1:]:
            continue
        first = body[0].strip() if body else ""
        if NORUN_REASON.match(first):
            out.append((start, first[len("# not run in CI: "):].strip()))
        elif strict:
            sys.exit(f"{path}:{start}: a norun block must say why in its first line: "
                     "`# not run in CI: REASON` (a comment the reader sees)")
        else:
            out.append((start, ""))
    return out


def server_port(body):
    m = LISTEN_PORT.search("\n".join(body))
    return int(m.group(1)) if m else 8200


def with_must_fail(start, body):
    """Yields (script_line, markdown_line): the body, and after each command
    that starts a line with `! ` (through its continuation lines, or its
    heredoc), a check that it failed, mapped to the `!` line."""
    i = 0
    while i < len(body):
        first, negated = i, body[i].startswith("! ")
        while True:
            line = body[i]
            yield line, start + i
            i += 1
            m = HEREDOC.search(line)
            if m and "<<<" not in line:
                while i < len(body):
                    yield body[i], start + i
                    i += 1
                    if body[i - 1].strip() == m.group(2):
                        break
                break
            if not line.endswith("\\") or i >= len(body):
                break
        if negated:
            yield "readme_must_fail $?", start + first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("markdown")
    ap.add_argument("--map", help="write 'script_line markdown_line' pairs here")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--ports", action="store_true")
    ap.add_argument("--strict", action="store_true",
                    help="a norun block without its reason is an error")
    ap.add_argument("--norun", action="store_true", help="list the norun blocks and why")
    a = ap.parse_args()
    norun = norun_blocks(a.markdown, a.strict)
    if a.norun:
        for start, why in norun:
            print(f"{a.markdown}:{start}: not run: {why or '(no reason given)'}")
        return
    runs = runnable(a.markdown)
    infos = {start: info for start, info, _ in shell_blocks(a.markdown)}
    if a.list:
        for n, (start, body) in enumerate(runs, 1):
            print(f"block {n}: {a.markdown}:{start}: {body[0] if body else ''}")
        return
    if a.ports:
        ports = set()
        for start, body in runs:
            if is_server(infos[start]):
                ports.add(server_port(body))
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
        server = is_server(infos[start])
        if server:
            out.append("{")
            mapping.append(start - 1)
        for line, md in with_must_fail(start, body):
            out.append(CARGO_RUN.sub("strongroom", line) if server else line)
            mapping.append(md)
        if server:
            out.append(f'}} > "$README_WORK/server-{n}.log" 2>&1 &')
            mapping.append(start - 1)
            out.append(f"readme_server_wait $! {server_port(body)} \"$README_WORK/server-{n}.log\"")
            mapping.append(start - 1)
    sys.stdout.write("\n".join(out) + "\n")
    if a.map:
        with open(a.map, "w", encoding="utf-8") as f:
            for k, md in enumerate(mapping, 1):
                if md is not None:
                    f.write(f"{k} {md}\n")


if __name__ == "__main__":
    main()
