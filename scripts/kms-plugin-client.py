#!/usr/bin/env python3
"""A small Kubernetes KMS v2 client: calls a plugin's unix socket the way
kube-apiserver does (gRPC, service v2.KeyManagementService). For the README
and for trying `strongroom kms-plugin` by hand; needs grpcio (PyPI).

  kms-plugin-client.py SOCKET status                     JSON: version, healthz, key_id
                                                         (exit 1 unless healthz is "ok")
  kms-plugin-client.py SOCKET encrypt TEXT               JSON: key_id, ciphertext (base64)
  kms-plugin-client.py SOCKET decrypt KEY_ID CIPHERTEXT  the plaintext

The messages are encoded by hand (proto3 wire format; the fields of
crates/kms-plugin/proto/api.proto), so no protoc and no generated code.
A failed call prints `error: CODE: message` and exits 1.
"""
import base64
import json
import sys

import grpc

SERVICE = "/v2.KeyManagementService/"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, data: bytes) -> bytes:
    """A length-delimited field (every field of this API is one)."""
    return varint(number << 3 | 2) + varint(len(data)) + data


def fields(buf: bytes) -> dict:
    """number -> bytes of the last occurrence (maps are not read here)."""
    out, i = {}, 0
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]; i += 1
            key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        if key & 7 != 2:
            raise ValueError(f"unexpected wire type {key & 7}")
        n, shift = 0, 0
        while True:
            b = buf[i]; i += 1
            n |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        out[key >> 3] = buf[i:i + n]
        i += n
    return out


def call(channel, method: str, request: bytes) -> dict:
    rpc = channel.unary_unary(SERVICE + method,
                              request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
    return fields(rpc(request, timeout=10))


def main(argv) -> int:
    if len(argv) < 3 or argv[2] not in ("status", "encrypt", "decrypt"):
        print(__doc__, file=sys.stderr)
        return 2
    socket, op, args = argv[1], argv[2], argv[3:]
    # The HTTP/2 layer (hyper's h2) refuses an invalid :authority, and
    # grpcio's default for a unix socket is its path: say localhost, as
    # kube-apiserver and the kubelet do.
    options = [("grpc.default_authority", "localhost")]
    with grpc.insecure_channel("unix://" + socket, options=options) as ch:
        try:
            if op == "status":
                r = call(ch, "Status", b"")
                healthz = r.get(2, b"").decode()
                print(json.dumps({"version": r.get(1, b"").decode(),
                                  "healthz": healthz,
                                  "key_id": r.get(3, b"").decode()}))
                if healthz != "ok":
                    return 1
            elif op == "encrypt":
                r = call(ch, "Encrypt", field(1, args[0].encode()) + field(2, b"readme"))
                print(json.dumps({"key_id": r.get(2, b"").decode(),
                                  "ciphertext": base64.b64encode(r.get(1, b"")).decode()}))
            else:
                req = field(1, base64.b64decode(args[1])) + field(2, b"readme") + field(3, args[0].encode())
                r = call(ch, "Decrypt", req)
                sys.stdout.write(r.get(1, b"").decode(errors="replace") + "\n")
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
