#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (small, valid inputs).

Run from the repository root: python3 fuzz/seeds.py. Needs the
`cryptography` package (for the envelope seed, which is encrypted under
the fuzz target's fixed data key exactly as docs/FILE_FORMAT.md says; the
envelope_reader target decrypts it, which checks this script against the
Rust code). Seeds taken from a real dev server and CLI are added by hand
and named real-* (ciphertext_header/real-aes-cli and real-rsa-cli: the
decoded `ciphertext` of `strongroom encrypt --plaintext hello` under an
AES_256_GCM and an RSA_2048 ENCRYPT_DECRYPT key; envelope_reader/
real-cli-file: byte 0x00 then the file `strongroom encrypt --in/--out`
wrote); this script never deletes files.
"""
import hashlib, json, os, struct, uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SUITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                     "crates", "strongroom", "tests", "data", "sigv4", "v4")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- sigv4_authorization: signed requests from the vendored AWS suite.
for case in ["get-vanilla", "get-vanilla-query", "post-vanilla",
             "post-x-www-form-urlencoded", "get-header-value-trim",
             "get-vanilla-with-session-token", "post-header-key-sort",
             "get-utf8", "get-slashes-unnormalized", "get-header-key-duplicate"]:
    p = os.path.join(SUITE, case, "header-signed-request.txt")
    if os.path.exists(p):
        put("sigv4_authorization", case, open(p, "rb").read())
    q = os.path.join(SUITE, case, "query-signed-request.txt")
    if case == "get-vanilla-query" and os.path.exists(q):
        put("sigv4_authorization", case + "-presigned", open(q, "rb").read())
put("sigv4_authorization", "bare-header",
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
    "SignedHeaders=host;x-amz-date, "
    "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
put("sigv4_authorization", "kms-encrypt",
    "POST / HTTP/1.1\nhost:127.0.0.1:8200\ncontent-type:application/x-amz-json-1.1\n"
    "x-amz-target:TrentService.Encrypt\n"
    "x-amz-content-sha256:" + hashlib.sha256(b'{"KeyId":"alias/app","Plaintext":"aGVsbG8="}').hexdigest() + "\n"
    "\n" + '{"KeyId":"alias/app","Plaintext":"aGVsbG8="}')

# --- ciphertext_header: SR v1 headers with minimal bodies.
kid = uuid.UUID("1b4e28ba-2fa1-41d2-883f-0016d3cca427").bytes
put("ciphertext_header", "aes", b"SR\x01\x01" + kid + struct.pack(">I", 1) + bytes(28))
put("ciphertext_header", "rsa", b"SR\x01\x02" + kid + struct.pack(">I", 7) + bytes(256))

# --- envelope_reader: byte 0 even = a file to read, odd = a plaintext pattern.
DATA_KEY = bytes([0x42] * 32)


def envelope(wrapped, plaintext, salt):
    header = b"SRENV\x01" + struct.pack(">H", len(wrapped)) + wrapped + struct.pack(">I", 65536) + salt
    aad = hashlib.sha256(header).digest()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
               info=b"strongroom envelope v1 payload key").derive(DATA_KEY)
    g = AESGCM(key)
    out, i, n = header, 0, 0
    while True:
        chunk = plaintext[i:i + 65536]
        last = len(chunk) < 65536
        nonce = bytes(3) + struct.pack(">Q", n) + (b"\x01" if last else b"\x00")
        out += g.encrypt(nonce, chunk, aad)
        if last:
            return out
        i += 65536
        n += 1


put("envelope_reader", "file-small", b"\x00" + envelope(b"SR-wrapped-key", b"hello, envelope\n", bytes(range(16))))
put("envelope_reader", "file-empty", b"\x00" + envelope(b"w", b"", bytes(16)))
put("envelope_reader", "roundtrip-pattern", b"\x01\x05" + b"0123456789abcdef" * 8)
put("envelope_reader", "roundtrip-chunk", b"\x01\x3f" + bytes(range(256)) * 4)

# --- key_policy_json
put("key_policy_json", "default-and-app", json.dumps({
    "Version": "2012-10-17", "Id": "key-default-1",
    "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "app", "Effect": "Allow",
         "Principal": {"AWS": ["arn:aws:iam::000000000000:user/app", "ops"]},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::000000000000:role/batch"},
         "Action": "kms:Decrypt",
         "Resource": "arn:aws:kms:us-east-1:000000000000:key/1b4e28ba-2fa1-41d2-883f-0016d3cca427"},
    ]}, indent=2))
put("key_policy_json", "single-statement",
    '{"Statement":{"Effect":"Allow","Principal":"app","Action":"kms:Sign","Resource":"*"}}')

# --- native_request_body: selector byte (index into BODIES in the target) + JSON.
NATIVE = [
    (0, "encrypt", {"key": "alias/app", "plaintext": "aGVsbG8=", "context": {"tenant": "a"}}),
    (1, "decrypt", {"ciphertext": "U1IBAQ==", "context": {"tenant": "a"}, "allow_compromised": False}),
    (2, "reencrypt", {"ciphertext": "U1IBAQ==", "destination_key": "k2", "source_context": {}}),
    (3, "generate-data-key", {"key": "app", "number_of_bytes": 32, "include_plaintext": False}),
    (4, "random", {"number_of_bytes": 16}),
    (5, "sign", {"key": "sig", "message": "bWVzc2FnZQ==", "message_type": "RAW", "signing_algorithm": "ECDSA_SHA_256"}),
    (6, "verify", {"key": "sig", "message": "bWVzc2FnZQ==", "signature": "AAAA"}),
    (7, "mac", {"key": "hmac", "message": "bWVzc2FnZQ=="}),
    (8, "verify-mac", {"key": "hmac", "message": "bWVzc2FnZQ==", "mac": "AAAA"}),
    (9, "public-key", {"key": "sig"}),
    (10, "batch-encrypt", {"items": [{"key": "app", "plaintext": "YQ=="}, {"key": "app", "plaintext": ""}]}),
    (11, "batch-decrypt", {"items": [{"ciphertext": "U1IBAQ=="}]}),
    (12, "encapsulate", {"key": "kem"}),
    (13, "decapsulate", {"key": "kem", "ciphertext": "AAAA", "version": 1}),
    (14, "create-key", {"spec": "ECC_NIST_P256", "usage": "sign-verify", "description": "d",
                        "tags": {"team": "x"}, "aliases": ["alias/x"], "rotation_period_days": 90}),
    (15, "update-key", {"description": "new", "set_tags": {"a": "b"}, "remove_tags": ["c"], "expiry_date": None}),
    (16, "key-ref", {"key": "app"}),
    (17, "key-version", {"key": "app", "version": 2}),
    (18, "schedule-deletion", {"key": "app", "pending_window_days": 7}),
    (19, "create-alias", {"alias": "alias/app", "key": "1b4e28ba-2fa1-41d2-883f-0016d3cca427"}),
    (20, "create-identity", {"name": "app", "kind": "service", "roles": ["crypto-user"], "policies": []}),
    (21, "name", {"name": "app"}),
    (22, "set-grants", {"name": "app", "roles": ["auditor"]}),
    (23, "create-token", {"identity": "app", "ttl_secs": 3600}),
    (24, "revoke-token", {"token_id": "tok"}),
    (25, "identity", {"identity": "app"}),
    (26, "access-key", {"access_key_id": "AKIAEXAMPLE"}),
    (27, "policy", {"name": "app-encrypt", "description": "app may encrypt",
                    "statements": [{"effect": "Allow", "actions": ["kms:Encrypt"], "resources": ["key/*"],
                                    "condition": {"context_equals": {"tenant": "a"}}}]}),
    (28, "explain", {"identity": "app", "action": "kms:Encrypt", "key": "app", "context": {"a": "b"}}),
    (29, "approval", {"id": "req-1"}),
    (30, "compromise", {"key": "app", "version": 1, "reason": "leaked"}),
    (31, "rotation-policy", {"key": "app", "days": 30}),
    (32, "advance-clock", {"days": 1, "seconds": 60}),
    (33, "backup-drill", {"backup": "/tmp/b.srbk"}),
    (34, "init", {"shares": 5, "threshold": 3}),
    (35, "unseal", {"share": "sr-share-1-abc"}),
    (36, "rekey", {"shares": ["a", "b"], "new_shares": 3, "new_threshold": 2}),
    (37, "generate-root", {"shares": ["a"]}),
    (38, "b64", "aGVsbG8gd29ybGQ="),
    (39, "context", {"tenant": "a", "purpose": "fuzz"}),
]
for sel, name, body in NATIVE:
    put("native_request_body", f"{sel:02}-{name}", bytes([sel]) + json.dumps(body).encode())

# --- aws_request_body: AWS KMS JSON 1.1 bodies as the AWS SDKs send them.
for name, body in [
    ("encrypt", {"KeyId": "alias/app", "Plaintext": "aGVsbG8=", "EncryptionContext": {"tenant": "a"}}),
    ("decrypt", {"CiphertextBlob": "U1IBAQ==", "KeyId": "arn:aws:kms:us-east-1:000000000000:key/1b4e28ba-2fa1-41d2-883f-0016d3cca427"}),
    ("create-key", {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY", "Description": "d",
                    "Tags": [{"TagKey": "a", "TagValue": "b"}], "Origin": "AWS_KMS"}),
    ("sign", {"KeyId": "k", "Message": "bWVzc2FnZQ==", "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"}),
    ("reencrypt", {"CiphertextBlob": "U1IBAQ==", "DestinationKeyId": "alias/x", "SourceEncryptionContext": {},
                   "DestinationEncryptionContext": {"a": "b"}}),
    ("list-keys", {"Limit": 10, "Marker": "m"}),
    ("put-key-policy", {"KeyId": "k", "PolicyName": "default",
                        "Policy": "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"app\",\"Action\":\"kms:Sign\",\"Resource\":\"*\"}}"}),
    ("import", {"KeyId": "k", "ImportToken": "AAAA", "EncryptedKeyMaterial": "AAAA",
                "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": 1700000000}),
    ("decapsulate", {"KeyId": "k", "SharedSecretCiphertextBlob": "AAAA", "EncapsulationAlgorithm": "ML_KEM"}),
    ("mac", {"KeyId": "k", "Message": "AA==", "MacAlgorithm": "HMAC_SHA_256", "Mac": "AAAA"}),
]:
    put("aws_request_body", name, json.dumps(body))
