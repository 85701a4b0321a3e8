#!/usr/bin/env python3
"""Runs a command the way strongroom.service runs the server, as far as can
be done without systemd: no writable-and-executable memory (the kernel's
PR_SET_MDWE, which systemd >= 253 uses for MemoryDenyWriteExecute=yes and
which survives execve), no core dumps (LimitCORE=0), umask 0077, and,
with --user NAME, that user's uid/gid with no new privileges (setpriv).

    mdwe-exec.py [--user NAME] -- COMMAND [ARG...]
    mdwe-exec.py --self-test     shows that a W+X mapping is refused under it
"""

import ctypes
import mmap
import os
import resource
import sys

PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1


def deny_write_execute():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit(f"mdwe-exec: prctl(PR_SET_MDWE) failed: {os.strerror(ctypes.get_errno())} (Linux >= 6.3 needed)")
    if libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) & PR_MDWE_REFUSE_EXEC_GAIN == 0:
        sys.exit("mdwe-exec: PR_GET_MDWE does not report the flag")


def main():
    args = sys.argv[1:]
    if args == ["--self-test"]:
        deny_write_execute()
        try:
            mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        except OSError as e:
            print(f"W+X mapping refused: {e}")
            return
        sys.exit("mdwe-exec: a W+X mapping was allowed: MDWE is not in force")
    user = None
    if args[:1] == ["--user"]:
        user, args = args[1], args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit(__doc__)
    deny_write_execute()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.umask(0o077)
    if user:
        args = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                "--no-new-privs", "--"] + args
    os.execvp(args[0], args)


if __name__ == "__main__":
    main()
