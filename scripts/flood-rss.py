#!/usr/bin/env python3
"""Slow-header flood and server memory (issue #21; a measurement, not a test).

Starts `strongroom server --dev` (release binary), records its RSS, opens
--sockets connections that each send --header-bytes of an unfinished
request header and then stall, records the RSS at the peak, checks that a
fresh client's health check is answered during the flood, waits for the
header read timeout to close them, and records the RSS again.

  scripts/flood-rss.py [--bin target/release/strongroom] [--sockets 2000]
                       [--header-bytes 12000] [--timeout-ms 3000] [--max-connections 4096]
                       [--max-header-bytes 16384]

Prints one JSON line. Python standard library only.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import time
import urllib.request


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def health(addr, timeout=5):
    t = time.time()
    try:
        with urllib.request.urlopen(addr + "/v1/sys/health", timeout=timeout) as r:
            return r.status, round((time.time() - t) * 1000, 1)
    except Exception as e:
        return str(e), round((time.time() - t) * 1000, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/strongroom")
    ap.add_argument("--sockets", type=int, default=2000)
    ap.add_argument("--header-bytes", type=int, default=12000)
    ap.add_argument("--timeout-ms", type=int, default=3000)
    ap.add_argument("--max-connections", type=int, default=4096)
    ap.add_argument("--max-header-bytes", type=int, default=16384)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.sockets + 256)), hard))
    env = dict(
        os.environ,
        STRONGROOM_HEADER_READ_TIMEOUT_MS=str(a.timeout_ms),
        STRONGROOM_MAX_CONNECTIONS=str(a.max_connections),
        STRONGROOM_MAX_HEADER_BYTES=str(a.max_header_bytes),
        STRONGROOM_LOG="warn",
    )
    p = subprocess.Popen(
        [a.bin, "server", "--dev", "--listen", "127.0.0.1:0", "--dev-root-token", "flood-rss"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    addr = None
    while addr is None:
        line = p.stdout.readline().decode()
        if not line:
            raise SystemExit("the server exited at start")
        if " listening on " in line:
            addr = line.split(" listening on ", 1)[1].strip()
    host, port = addr.replace("http://", "").split(":")
    time.sleep(0.5)
    out = {"sockets": a.sockets, "header_bytes": a.header_bytes, "header_read_timeout_ms": a.timeout_ms,
           "max_connections": a.max_connections, "max_header_bytes": a.max_header_bytes}
    out["rss_kib_idle"] = rss_kib(p.pid)
    socks = []
    chunk = b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * max(0, a.header_bytes - 50)
    t0 = time.time()
    for _ in range(a.sockets):
        s = socket.create_connection((host, int(port)))
        try:
            s.sendall(chunk)
        except OSError:
            pass
        socks.append(s)
    out["flood_open_s"] = round(time.time() - t0, 2)
    time.sleep(0.5)
    out["rss_kib_peak"] = rss_kib(p.pid)
    out["server_fds_peak"] = fds(p.pid)
    out["health_during_flood"] = health(addr)
    time.sleep(a.timeout_ms / 1000 + 2)
    out["rss_kib_after_timeout"] = rss_kib(p.pid)
    out["server_fds_after_timeout"] = fds(p.pid)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    out["flood_sockets_closed_by_server"] = closed
    time.sleep(1)
    out["rss_kib_after_close"] = rss_kib(p.pid)
    out["health_after"] = health(addr)
    peak = out["rss_kib_peak"] - out["rss_kib_idle"]
    out["kib_per_stalled_connection"] = round(peak / a.sockets, 1)
    p.kill()
    p.wait()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
