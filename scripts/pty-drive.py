#!/usr/bin/env python3
"""Runs a command on a real pseudo-terminal, as a person at a terminal would,
and prints what the terminal showed, for the TTY tests of share entry
(crates/strongroom/tests/it/operator.rs).

    pty-drive.py [--expect TEXT --send LINE]... [--echo-ok] [--timeout S] -- CMD [ARG...]

The command runs in a new session whose controlling terminal is the pty
(so /dev/tty is the pty, as it is for a person). For each --expect/--send
pair, in order: wait until TEXT has appeared on the terminal, then, unless
--echo-ok, wait until the terminal's ECHO flag is off (the program is ready
for hidden input; it is typed only then, as a person would after seeing the
prompt), then type LINE and Enter. Then read until the command exits.

Prints one JSON object: {"exit": status, "output": everything the terminal
showed (the prompts, anything echoed, the command's output)}. Exits 2, with
the output so far, if a prompt does not come or ECHO stays on within the
timeout: input that would be echoed is never typed.
"""

import argparse
import json
import os
import pty
import select
import sys
import termios
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--send", action="append", default=[])
    ap.add_argument("--echo-ok", action="store_true",
                    help="type without waiting for ECHO off (the control case)")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd or len(a.expect) != len(a.send):
        ap.error("give a command after --, and as many --send as --expect")

    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)

    out = bytearray()
    deadline = time.monotonic() + a.timeout

    def give_up(why):
        print(json.dumps({"exit": None, "error": why, "output": out.decode("utf-8", "replace")}))
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        sys.exit(2)

    def pump(wait):
        """Reads what is there (waiting up to `wait` s); False at EOF."""
        r, _, _ = select.select([fd], [], [], wait)
        if not r:
            return True
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        out.extend(chunk)
        return True

    seen = 0
    for text, line in zip(a.expect, a.send):
        while text.encode() not in out[seen:]:
            if time.monotonic() > deadline:
                give_up(f"the prompt {text!r} did not appear")
            if not pump(0.05):
                give_up(f"the command ended before the prompt {text!r}")
        seen = len(out)
        if not a.echo_ok:
            while termios.tcgetattr(fd)[3] & termios.ECHO:
                if time.monotonic() > deadline:
                    give_up(f"ECHO stayed on after the prompt {text!r}: the input would be shown")
                pump(0.01)
        os.write(fd, line.encode() + b"\n")
    while pump(0.1):
        if time.monotonic() > deadline:
            give_up("the command did not exit")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    print(json.dumps({"exit": os.waitstatus_to_exitcode(status), "output": out.decode("utf-8", "replace")}))


if __name__ == "__main__":
    main()
