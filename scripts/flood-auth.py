#!/usr/bin/env python3
"""Bad-token flood against a dev server (issue #21; a measurement, not a test).

Starts `strongroom server --dev` (release binary) with its audit log in a
temp directory, then --clients threads send requests with a wrong token for
--seconds over keep-alive connections, while one client with the valid
token encrypts. Waits for the aggregate records, and prints one JSON line:
requests, answers by status, audit records and bytes written for the flood,
and the valid client's request count and p99 latency.

  scripts/flood-auth.py [--bin target/release/strongroom] [--clients 8] [--seconds 10]

Python standard library only.
"""

import argparse
import base64
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/strongroom")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--interval-secs", type=int, default=5)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="strongroom-flood-auth-")
    audit = os.path.join(work, "audit.jsonl")
    env = dict(os.environ, STRONGROOM_LOG="warn",
               STRONGROOM_AUTH_FAILURE_AUDIT_INTERVAL_SECS=str(a.interval_secs))
    p = subprocess.Popen(
        [a.bin, "server", "--dev", "--listen", "127.0.0.1:0", "--dev-root-token", "flood-auth",
         "--audit-path", audit],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    addr = None
    while addr is None:
        line = p.stdout.readline().decode()
        if not line:
            raise SystemExit("the server exited at start")
        if " listening on " in line:
            addr = line.split(" listening on ", 1)[1].strip()
    host, port = addr.replace("http://", "").split(":")
    time.sleep(0.5)

    def conn():
        return http.client.HTTPConnection(host, int(port), timeout=10)

    c = conn()
    c.request("POST", "/v1/keys", body="{}", headers={"Authorization": "Bearer flood-auth",
                                                       "Content-Type": "application/json"})
    key = json.loads(c.getresponse().read())["id"]
    before_lines = sum(1 for _ in open(audit))
    before_bytes = os.path.getsize(audit)
    stop = time.time() + a.seconds
    counts = {}
    lock = threading.Lock()

    def flood():
        h = conn()
        local = {}
        while time.time() < stop:
            try:
                h.request("GET", "/v1/keys", headers={"Authorization": "Bearer sr.0123456789abcdef.wrong"})
                r = h.getresponse()
                r.read()
                local[r.status] = local.get(r.status, 0) + 1
            except Exception:
                local["conn_error"] = local.get("conn_error", 0) + 1
                h = conn()
        with lock:
            for k, v in local.items():
                counts[k] = counts.get(k, 0) + v

    lat = []

    def valid():
        h = conn()
        body = json.dumps({"key": key, "plaintext": base64.b64encode(b"hello").decode()})
        while time.time() < stop:
            t = time.time()
            h.request("POST", "/v1/encrypt", body=body, headers={"Authorization": "Bearer flood-auth",
                                                                  "Content-Type": "application/json"})
            r = h.getresponse()
            r.read()
            assert r.status == 200, r.status
            lat.append(time.time() - t)

    threads = [threading.Thread(target=flood) for _ in range(a.clients)] + [threading.Thread(target=valid)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(a.interval_secs + 2)
    lines = [json.loads(l) for l in open(audit)][before_lines:]
    anon = [l for l in lines if l.get("event", {}).get("identity") == "anonymous"]
    anon_bytes = sum(len(json.dumps(l, separators=(",", ":"))) + 1 for l in anon)
    lat.sort()
    out = {
        "flood_clients": a.clients,
        "seconds": a.seconds,
        "flood_requests": sum(counts.values()),
        "flood_answers": counts,
        "flood_requests_per_s": round(sum(counts.values()) / a.seconds),
        "audit_records_anonymous": len(anon),
        "audit_bytes_anonymous": anon_bytes,
        "audit_bytes_total_growth": os.path.getsize(audit) - before_bytes,
        "aggregate_records": [l["event"]["detail"] for l in anon if l["event"]["operation"] == "anonymous-failures"],
        "valid_requests": len(lat),
        "valid_p50_ms": round(lat[len(lat) // 2] * 1000, 2) if lat else None,
        "valid_p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2) if lat else None,
    }
    p.kill()
    p.wait()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
