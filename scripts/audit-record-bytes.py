#!/usr/bin/env python3
"""Bytes per audit record of one native encrypt (issue #21; a measurement).

Starts `strongroom server --dev` with its audit log in a temp directory,
creates a key, encrypts --n times, and prints the mean line length (with
newline) of the `kms:Encrypt` records and of all records, as JSON.

  scripts/audit-record-bytes.py [--bin target/release/strongroom] [--n 200]
"""

import argparse
import base64
import http.client
import json
import os
import subprocess
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/strongroom")
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args()
    audit = os.path.join(tempfile.mkdtemp(prefix="strongroom-record-bytes-"), "audit.jsonl")
    p = subprocess.Popen([a.bin, "server", "--dev", "--listen", "127.0.0.1:0", "--dev-root-token", "record-bytes",
                          "--audit-path", audit], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    addr = None
    while addr is None:
        line = p.stdout.readline().decode()
        if not line:
            raise SystemExit("the server exited at start")
        if " listening on " in line:
            addr = line.split(" listening on ", 1)[1].strip()
    host, port = addr.replace("http://", "").split(":")
    time.sleep(0.3)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    h = {"Authorization": "Bearer record-bytes", "Content-Type": "application/json"}
    c.request("POST", "/v1/keys", body="{}", headers=h)
    key = json.loads(c.getresponse().read())["id"]
    body = json.dumps({"key": key, "plaintext": base64.b64encode(b"hello").decode()})
    for _ in range(a.n):
        c.request("POST", "/v1/encrypt", body=body, headers=h)
        r = c.getresponse()
        r.read()
        assert r.status == 200
    p.kill()
    p.wait()
    lines = open(audit, "rb").read().splitlines(keepends=True)
    enc = [l for l in lines if b'"operation":"kms:Encrypt"' in l]
    print(json.dumps({
        "encrypt_records": len(enc),
        "bytes_per_encrypt_record": round(sum(map(len, enc)) / len(enc), 1),
        "example": enc[-1].decode().strip(),
    }))


if __name__ == "__main__":
    main()
