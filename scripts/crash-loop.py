#!/usr/bin/env python3
"""Crash loop (issue #21, a bench, not a test): a durable Strongroom server
is killed with SIGKILL while concurrent creates, rotates, schedule-deletions
and encrypts are in flight, restarted, unsealed, and checked:

  * every acknowledged change is present (key exists; primary version at
    least the acknowledged rotation; acknowledged schedule-deletion is
    PendingDeletion);
  * every acknowledged ciphertext decrypts to its plaintext (all of the last
    cycle's, plus a random sample of older ones);
  * `strongroom audit verify` passes.

Storage: SQLite (a file), or PostgreSQL: a private PostgreSQL cluster
(initdb into the work directory, its own port) that is also crashed
(`pg_ctl stop -m immediate`) and restarted every --pg-restart-every cycles,
so the shared server on :5432 is left alone.

Usage:
  scripts/crash-loop.py --cycles 1000 [--storage sqlite|postgres] [--bin target/release/strongroom]
Prints one progress line per cycle to stderr and a JSON summary at the end
(also on SIGINT/SIGTERM, with the cycles that finished). Exit 1 on any loss.
Python standard library only.
"""

import argparse
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

PG_BIN = "/usr/lib/postgresql/15/bin"


def http(addr, method, path, body=None, token=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(addr + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


class Server:
    def __init__(self, binary, config, log):
        self.binary, self.config, self.log = binary, config, log
        self.proc = None
        self.addr = None

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "server", "--config", self.config],
            stdout=subprocess.PIPE,
            stderr=logf,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError("server exited at start; see " + self.log)
                continue
            if " listening on " in line:
                self.addr = line.split(" listening on ", 1)[1].strip()
                # Keep draining stdout so the server never blocks on it.
                threading.Thread(target=self._drain, daemon=True).start()
                return
        raise RuntimeError("server did not start in 60 s; see " + self.log)

    def _drain(self):
        try:
            for _ in self.proc.stdout:
                pass
        except Exception:
            pass

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class Acked:
    """Everything the server acknowledged (answered 200 to)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys = {}  # id -> {"version": n, "pending": bool}
        self.ciphertexts = []  # (key, ct, pt)
        self.new_ciphertexts = []
        self.ops = {"create": 0, "rotate": 0, "schedule_deletion": 0, "encrypt": 0}
        self.errors = 0
        self.dirty = set()  # keys changed since the last check


def worker(addr, token, acked, stop, rng):
    while not stop.is_set():
        with acked.lock:
            live = [k for k, v in acked.keys.items() if not v["pending"]]
        r = rng.random()
        try:
            if r < 0.02 or len(live) < 4:
                st, v = http(addr, "POST", "/v1/keys", {"description": "crash-loop"}, token)
                if st == 200:
                    with acked.lock:
                        acked.keys[v["id"]] = {"version": v["primary_version"], "pending": False}
                        acked.dirty.add(v["id"])
                        acked.ops["create"] += 1
            elif r < 0.20:
                k = rng.choice(live)
                st, v = http(addr, "POST", "/v1/rotate", {"key": k}, token)
                if st == 200:
                    with acked.lock:
                        e = acked.keys[k]
                        e["version"] = max(e["version"], v["primary_version"])
                        acked.dirty.add(k)
                        acked.ops["rotate"] += 1
            elif r < 0.22 and len(live) > 6:
                k = rng.choice(live)
                st, v = http(addr, "POST", "/v1/schedule-deletion", {"key": k, "pending_window_days": 30}, token)
                if st == 200:
                    with acked.lock:
                        acked.keys[k]["pending"] = True
                        acked.dirty.add(k)
                        acked.ops["schedule_deletion"] += 1
            else:
                k = rng.choice(live)
                pt = os.urandom(rng.randint(1, 64))
                st, v = http(addr, "POST", "/v1/encrypt", {"key": k, "plaintext": base64.b64encode(pt).decode()}, token)
                if st == 200:
                    with acked.lock:
                        acked.new_ciphertexts.append((k, v["ciphertext"], pt))
                        acked.ops["encrypt"] += 1
        except Exception:
            # Connection refused/reset at the kill: not acknowledged.
            with acked.lock:
                acked.errors += 1


def unseal(addr, share):
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            st, v = http(addr, "POST", "/v1/sys/unseal", {"share": share})
            if st == 200 and not v.get("sealed", True):
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError("could not unseal")


def wait_health(addr):
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if http(addr, "GET", "/v1/sys/health")[0] == 200:
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError("health never 200")


def check(addr, token, acked, binary, rng, sample, verify):
    """Returns (losses, audit entries verified, ciphertexts not checkable)."""
    losses = []
    keys = list(acked.dirty)
    old = [k for k in acked.keys if k not in acked.dirty]
    keys += rng.sample(old, min(sample, len(old)))
    for k in keys:
        e = acked.keys[k]
        st, v = http(addr, "GET", "/v1/keys/" + k, None, token)
        if st != 200:
            losses.append(f"key {k} missing: {st} {v}")
            continue
        if v["primary_version"] < e["version"]:
            losses.append(f"key {k} version {v['primary_version']} < acked {e['version']}")
        if e["pending"] and v["state"] != "PendingDeletion":
            losses.append(f"key {k} state {v['state']}, acked PendingDeletion")
        if v["state"] == "PendingDeletion":
            # Also one whose schedule was in flight at the kill (done, not acked).
            e["pending"] = True
    acked.dirty = set()
    todo = list(acked.new_ciphertexts)
    if acked.ciphertexts:
        todo += rng.sample(acked.ciphertexts, min(sample, len(acked.ciphertexts)))
    skipped = 0
    keep = []
    for item in todo:
        k, ct, pt = item
        st, v = http(addr, "POST", "/v1/decrypt", {"ciphertext": ct}, token)
        if st == 409 and isinstance(v, dict) and v.get("error", {}).get("code") == "KeyPendingDeletion":
            skipped += 1  # its key is scheduled for deletion: refused by design, not lost
            continue
        if st != 200 or base64.b64decode(v["plaintext"]) != pt:
            losses.append(f"ciphertext under {k} does not decrypt: {st} {v}")
        keep.append(item)
    acked.ciphertexts += [c for c in acked.new_ciphertexts if c in keep]
    acked.new_ciphertexts = []
    entries = None
    if verify:
        env = dict(os.environ, STRONGROOM_ADDR=addr, STRONGROOM_TOKEN=token)
        out = subprocess.run([binary, "-o", "json", "audit", "verify"], env=env, capture_output=True, text=True)
        try:
            rep = json.loads(out.stdout)
        except ValueError:
            rep = {"ok": False, "raw": out.stdout + out.stderr}
        if out.returncode != 0 or not rep.get("ok"):
            losses.append(f"audit verify failed: {rep}")
        entries = rep.get("entries", 0)
    return losses, entries, skipped


def pg_setup(work, port):
    data = os.path.join(work, "pgdata")
    os.makedirs(data)
    shutil.chown(work, "postgres")
    shutil.chown(data, "postgres")
    run_pg = lambda *a: subprocess.run(["su", "postgres", "-c", " ".join(a)], check=True, capture_output=True)
    run_pg(f"{PG_BIN}/initdb", "-D", data, "-A", "trust", "-U", "postgres")
    pg_ctl(data, port, "start")
    subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "crashloop"], check=True)
    return data


def pg_ctl(data, port, action):
    opts = f"-o '-p {port} -k /tmp -c listen_addresses=127.0.0.1'"
    extra = "-m immediate" if action == "stop" else ""
    cmd = f"{PG_BIN}/pg_ctl -D {data} -w -l {data}/../pg.log {extra} {opts} {action}"
    subprocess.run(["su", "postgres", "-c", cmd], check=True, capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--bin", default="target/release/strongroom")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--min-run", type=float, default=0.2)
    ap.add_argument("--max-run", type=float, default=2.0)
    ap.add_argument("--sample", type=int, default=20, help="older ciphertexts re-checked per cycle")
    ap.add_argument("--pg-port", type=int, default=55432)
    ap.add_argument("--pg-restart-every", type=int, default=10)
    ap.add_argument("--verify-every", type=int, default=5, help="run `audit verify` every N cycles (and at the last)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    work = a.work or tempfile.mkdtemp(prefix=f"strongroom-crash-{a.storage}-")
    os.makedirs(work, exist_ok=True)
    pgdata = None
    if a.storage == "postgres":
        pgdata = pg_setup(work, a.pg_port)
        storage = f"postgres://postgres@127.0.0.1:{a.pg_port}/crashloop"
    else:
        storage = os.path.join(work, "strongroom.db")
    config = os.path.join(work, "strongroom.toml")
    with open(config, "w") as f:
        f.write(
            f'listen = "127.0.0.1:0"\nstorage_path = "{storage}"\n'
            f'audit_path = "{os.path.join(work, "audit.jsonl")}"\ntls_disable = true\n'
            "dual_control = false\n"
        )
    log = os.path.join(work, "server.log")
    srv = Server(binary, config, log)
    srv.start()
    st, v = http(srv.addr, "POST", "/v1/sys/init", {"shares": 1, "threshold": 1})
    assert st == 200, v
    share, token = v["shares"][0], v["root_token"]
    unseal(srv.addr, share)
    wait_health(srv.addr)

    acked = Acked()
    losses = []
    started = time.time()
    done = 0
    pg_restarts = 0
    entries = 0
    skipped = 0
    verifies = 0
    stopping = {"now": False}

    def on_signal(*_):
        stopping["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for cycle in range(1, a.cycles + 1):
            if stopping["now"]:
                break
            stop = threading.Event()
            threads = [
                threading.Thread(target=worker, args=(srv.addr, token, acked, stop, random.Random(rng.random())))
                for _ in range(a.workers)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(a.min_run, a.max_run))
            srv.kill9()
            stop.set()
            for t in threads:
                t.join()
            if pgdata and cycle % a.pg_restart_every == 0:
                pg_ctl(pgdata, a.pg_port, "stop")  # -m immediate: a crash of PostgreSQL
                pg_ctl(pgdata, a.pg_port, "start")
                pg_restarts += 1
            srv.start()
            unseal(srv.addr, share)
            wait_health(srv.addr)
            verify = cycle % a.verify_every == 0 or cycle == a.cycles
            new, ent, skip = check(srv.addr, token, acked, binary, rng, a.sample, verify)
            entries = ent if ent is not None else entries
            skipped += skip
            verifies += int(verify)
            losses += [f"cycle {cycle}: {x}" for x in new]
            done = cycle
            print(
                f"cycle {cycle}/{a.cycles} ops={acked.ops} keys={len(acked.keys)} "
                f"ciphertexts={len(acked.ciphertexts)} audit_entries={entries} losses={len(losses)} "
                f"pg_restarts={pg_restarts} elapsed={time.time() - started:.0f}s",
                file=sys.stderr,
                flush=True,
            )
            for x in new:
                print("LOSS " + x, file=sys.stderr, flush=True)
        if done and done % a.verify_every != 0 and done != a.cycles:
            # Stopped early: the last finished cycle gets its audit verify too.
            new, ent, _ = check(srv.addr, token, acked, binary, rng, 0, True)
            losses += [f"final: {x}" for x in new]
            entries = ent if ent is not None else entries
            verifies += 1
    finally:
        srv.kill9()
        if pgdata:
            try:
                pg_ctl(pgdata, a.pg_port, "stop")
            except Exception:
                pass
    summary = {
        "storage": a.storage,
        "cycles_requested": a.cycles,
        "cycles_done": done,
        "acknowledged": acked.ops,
        "acknowledged_total": sum(acked.ops.values()),
        "keys": len(acked.keys),
        "ciphertexts_checked_pool": len(acked.ciphertexts),
        "audit_entries": entries,
        "audit_verifies": verifies,
        "decrypts_skipped_pending_deletion": skipped,
        "client_errors_at_kill": acked.errors,
        "pg_restarts": pg_restarts,
        "losses": len(losses),
        "loss_detail": losses[:20],
        "seconds": round(time.time() - started),
        "seed": seed,
        "work": work,
    }
    print(json.dumps(summary))
    sys.exit(1 if losses else 0)


if __name__ == "__main__":
    main()
