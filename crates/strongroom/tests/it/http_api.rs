//! The native HTTP API under bad input (security.md 1-5, 8, 9, 25): error
//! shape and status codes, body limits, hostile JSON, ciphertext tampering,
//! usage confusion, tag lengths, batches, metrics and the OpenAPI document.
//!
//! Every response in this file goes through `check`, which fails the test on
//! any 5xx and checks the error shape of every 4xx.

use crate::common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use common::{b64, error_code, unb64, BIN};
use serde_json::{json, Value};
use strongroom_testkit::Server;

/// Fails on 5xx; checks the error shape of every error response.
fn check(what: &str, status: u16, body: &Value) {
    assert!(
        status < 500,
        "{what}: HTTP {status} (no 5xx allowed): {body}"
    );
    if status >= 400 {
        error_code(status, body);
    } else {
        assert!(
            body.get("error").is_none(),
            "{what}: HTTP {status} with an error body: {body}"
        );
    }
}

fn req(
    s: &Server,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, Value) {
    // A new connection per request (see `common::http`): many requests here
    // are answered before their body is read.
    let (st, v) = common::http(s, method, path, body, token);
    check(&format!("{method} {path}"), st, &v);
    (st, v)
}

fn post(s: &Server, path: &str, body: &Value) -> (u16, Value) {
    req(s, "POST", path, Some(body), Some(&s.token))
}

fn get(s: &Server, path: &str) -> (u16, Value) {
    req(s, "GET", path, None, Some(&s.token))
}

fn post_raw(s: &Server, path: &str, ctype: &str, body: Vec<u8>) -> (u16, Value) {
    let (st, v) = common::http_raw(s, path, ctype, &body);
    check(&format!("POST {path} (raw)"), st, &v);
    (st, v)
}

/// Asserts status and error code; returns the message.
fn expect_err(
    what: &str,
    (status, body): (u16, Value),
    want_status: u16,
    want_code: &str,
) -> String {
    assert_eq!(status, want_status, "{what}: {body}");
    let code = error_code(status, &body);
    assert_eq!(code, want_code, "{what}: {body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

fn ok(what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{what}: {body}");
    body
}

fn create(s: &Server, body: Value) -> String {
    let v = ok("create key", post(s, "/v1/keys", &body));
    v["id"].as_str().unwrap().to_string()
}

fn encrypt(s: &Server, key: &str, pt: &[u8], ctx: Value) -> Vec<u8> {
    let v = ok(
        "encrypt",
        post(
            s,
            "/v1/encrypt",
            &json!({ "key": key, "plaintext": b64(pt), "context": ctx }),
        ),
    );
    unb64(v["ciphertext"].as_str().unwrap())
}

fn decrypt(s: &Server, ct: &[u8], ctx: Value) -> (u16, Value) {
    post(
        s,
        "/v1/decrypt",
        &json!({ "ciphertext": b64(ct), "context": ctx }),
    )
}

/// No request on this server ever ended in an internal error.
fn assert_no_internal_errors(s: &Server) {
    let (st, m) = get(s, "/metrics");
    assert_eq!(st, 200);
    let text = m.as_str().unwrap();
    assert!(
        !text.contains("InternalError"),
        "an internal error was recorded:\n{text}"
    );
    assert!(
        !s.logs().contains(" ERROR "),
        "server logged an error:\n{}",
        s.logs()
    );
}

/// One HTTP/1.1 exchange over a raw socket; returns (status, parsed body),
/// or `None` if the server did not answer within 10 s. The body is written
/// from another thread, so a server that answers early (and stops reading)
/// cannot block the exchange.
fn raw_exchange(addr: &str, head: &str, body: &[u8]) -> Option<(u16, Value)> {
    let hostport = addr.trim_start_matches("http://");
    let mut sock = TcpStream::connect(hostport).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(head.as_bytes()).unwrap();
    let mut wsock = sock.try_clone().unwrap();
    let data = body.to_vec();
    let writer = std::thread::spawn(move || {
        // The server may answer and close before reading everything.
        let _ = wsock.write_all(&data);
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break Some(i + 4);
        }
        match sock.read(&mut chunk) {
            Ok(0) | Err(_) => break None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let result = header_end.map(|header_end| {
        let head_text = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let status: u16 = head_text
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let len: usize = head_text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < header_end + len {
            match sock.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let text = String::from_utf8_lossy(&buf[header_end..]).to_string();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    });
    let _ = sock.shutdown(std::net::Shutdown::Both);
    writer.join().unwrap();
    result
}

#[test]
fn routing_auth_and_error_shape() {
    let s = Server::dev(BIN);
    let msg = expect_err(
        "unknown path",
        req(&s, "GET", "/v1/nope", None, Some(&s.token)),
        404,
        "NotFound",
    );
    assert!(msg.contains("/v1/nope"), "{msg}");
    expect_err(
        "unknown path POST",
        req(&s, "POST", "/v1/nope", Some(&json!({})), None),
        404,
        "NotFound",
    );
    // `/` is the AWS KMS endpoint: POST only.
    expect_err(
        "root",
        req(&s, "GET", "/", None, None),
        405,
        "MethodNotAllowed",
    );
    expect_err(
        "unknown /v2",
        req(&s, "GET", "/v2/keys", None, None),
        404,
        "NotFound",
    );
    let long = format!("/v1/{}", "x".repeat(5000));
    let msg = expect_err(
        "long path",
        req(&s, "GET", &long, None, None),
        404,
        "NotFound",
    );
    assert!(
        msg.len() < 1000,
        "the message echoes an unbounded path: {} bytes",
        msg.len()
    );

    expect_err(
        "GET encrypt",
        req(&s, "GET", "/v1/encrypt", None, Some(&s.token)),
        405,
        "MethodNotAllowed",
    );
    expect_err(
        "DELETE keys",
        req(&s, "DELETE", "/v1/keys", None, Some(&s.token)),
        405,
        "MethodNotAllowed",
    );
    expect_err(
        "PATCH rotate",
        req(&s, "PATCH", "/v1/rotate", Some(&json!({})), Some(&s.token)),
        405,
        "MethodNotAllowed",
    );
    expect_err(
        "POST health",
        req(&s, "POST", "/v1/sys/health", Some(&json!({})), None),
        405,
        "MethodNotAllowed",
    );

    let id = create(&s, json!({}));
    let enc = json!({ "key": id, "plaintext": b64(b"x") });
    for (path, body) in [
        ("/v1/encrypt", Some(&enc)),
        ("/v1/keys", None),
        ("/v1/sys/seal", Some(&json!({}))),
        ("/v1/random", Some(&json!({ "number_of_bytes": 8 }))),
    ] {
        let method = if body.is_some() { "POST" } else { "GET" };
        let m = expect_err(
            path,
            req(&s, method, path, body, None),
            401,
            "Unauthenticated",
        );
        assert!(m.contains("STRONGROOM_TOKEN"), "{m}");
        expect_err(
            path,
            req(&s, method, path, body, Some("sr.not-the-token")),
            401,
            "InvalidToken",
        );
        // `Bearer ` with nothing after it counts as no token.
        expect_err(
            path,
            req(&s, method, path, body, Some("")),
            401,
            "Unauthenticated",
        );
        let near = format!("{}x", s.token);
        expect_err(
            path,
            req(&s, method, path, body, Some(&near)),
            401,
            "InvalidToken",
        );
        let prefix = &s.token[..s.token.len() - 1];
        expect_err(
            path,
            req(&s, method, path, body, Some(prefix)),
            401,
            "InvalidToken",
        );
    }
    // Auth is checked before the body is parsed: garbage without a token is 401.
    let (st, v) = req(&s, "POST", "/v1/encrypt", Some(&json!("garbage")), None);
    assert_eq!(st, 401, "{v}");
    // Unauthenticated endpoints.
    assert_eq!(req(&s, "GET", "/v1/sys/health", None, None).0, 200);
    assert_eq!(req(&s, "GET", "/v1/sys/seal-status", None, None).0, 200);
    assert_eq!(req(&s, "GET", "/v1/openapi.json", None, None).0, 200);
    // The server is still unsealed after all that.
    assert_eq!(
        ok(
            "encrypt",
            req(&s, "POST", "/v1/encrypt", Some(&enc), Some(&s.token))
        )["version"],
        1
    );
    assert_no_internal_errors(&s);
}

#[test]
fn malformed_bodies() {
    let s = Server::dev(BIN);
    let id = create(&s, json!({}));
    let j = "application/json";

    let m = expect_err(
        "invalid JSON",
        post_raw(&s, "/v1/encrypt", j, b"{\"key\": ".to_vec()),
        400,
        "MalformedRequest",
    );
    assert!(m.starts_with("malformed request body"), "{m}");
    expect_err(
        "not JSON",
        post_raw(&s, "/v1/encrypt", j, b"hello".to_vec()),
        400,
        "MalformedRequest",
    );
    expect_err(
        "empty body",
        post_raw(&s, "/v1/encrypt", j, Vec::new()),
        400,
        "MalformedRequest",
    );
    expect_err(
        "JSON array",
        post_raw(&s, "/v1/encrypt", j, b"[]".to_vec()),
        400,
        "MalformedRequest",
    );
    expect_err(
        "JSON null",
        post(&s, "/v1/encrypt", &Value::Null),
        400,
        "MalformedRequest",
    );
    expect_err(
        "invalid UTF-8",
        post_raw(&s, "/v1/encrypt", j, b"{\"key\":\"\xff\xfe\"}".to_vec()),
        400,
        "MalformedRequest",
    );
    expect_err(
        "text/plain",
        post_raw(&s, "/v1/encrypt", "text/plain", enc_body(&id)),
        400,
        "MalformedRequest",
    );
    expect_err(
        "no content type",
        post_raw(&s, "/v1/encrypt", "", enc_body(&id)),
        400,
        "MalformedRequest",
    );
    assert_eq!(
        post_raw(&s, "/v1/encrypt", j, enc_body(&id)).0,
        200,
        "the same body with the right type works"
    );

    let m = expect_err(
        "unknown field",
        post(
            &s,
            "/v1/encrypt",
            &json!({ "key": id, "plaintext": "eA==", "plaintxt": "x" }),
        ),
        400,
        "MalformedRequest",
    );
    assert!(m.contains("plaintxt"), "names the unknown field: {m}");
    expect_err(
        "unknown field in create",
        post(&s, "/v1/keys", &json!({ "spek": "AES_256_GCM" })),
        400,
        "MalformedRequest",
    );
    let m = expect_err(
        "missing field",
        post(&s, "/v1/encrypt", &json!({ "key": id })),
        400,
        "MalformedRequest",
    );
    assert!(m.contains("plaintext"), "{m}");
    expect_err(
        "wrong type",
        post(&s, "/v1/encrypt", &json!({ "key": id, "plaintext": 5 })),
        400,
        "MalformedRequest",
    );
    expect_err(
        "context not strings",
        post(
            &s,
            "/v1/encrypt",
            &json!({ "key": id, "plaintext": "eA==", "context": { "a": 1 } }),
        ),
        400,
        "MalformedRequest",
    );
    expect_err(
        "negative bytes",
        post(&s, "/v1/random", &json!({ "number_of_bytes": -1 })),
        400,
        "MalformedRequest",
    );
    expect_err(
        "huge bytes",
        post(&s, "/v1/random", &json!({ "number_of_bytes": 1e300 })),
        400,
        "MalformedRequest",
    );
    expect_err(
        "u64 overflow",
        post_raw(
            &s,
            "/v1/random",
            j,
            b"{\"number_of_bytes\": 99999999999999999999999999}".to_vec(),
        ),
        400,
        "MalformedRequest",
    );
    expect_err(
        "version overflow",
        post(
            &s,
            "/v1/enable-version",
            &json!({ "key": id, "version": 4294967296u64 }),
        ),
        400,
        "MalformedRequest",
    );
    expect_err(
        "duplicate field",
        post_raw(
            &s,
            "/v1/random",
            j,
            b"{\"number_of_bytes\": 4, \"number_of_bytes\": 5}".to_vec(),
        ),
        400,
        "MalformedRequest",
    );
    expect_err(
        "bad query",
        req(&s, "GET", "/v1/keys?limit=abc", None, Some(&s.token)),
        400,
        "InvalidArgument",
    );
    expect_err(
        "unknown query",
        req(&s, "GET", "/v1/keys?colour=red", None, Some(&s.token)),
        400,
        "InvalidArgument",
    );
    expect_err(
        "bad state",
        req(&s, "GET", "/v1/keys?state=Sleeping", None, Some(&s.token)),
        400,
        "InvalidArgument",
    );

    // Bad base64 names the field.
    for (path, body, field) in [
        (
            "/v1/encrypt",
            json!({ "key": id, "plaintext": "not base64!" }),
            "plaintext",
        ),
        ("/v1/decrypt", json!({ "ciphertext": "%%%" }), "ciphertext"),
        (
            "/v1/encrypt",
            json!({ "key": id, "plaintext": "eA" }),
            "plaintext",
        ),
        (
            "/v1/encrypt",
            json!({ "key": id, "plaintext": "eA==\n" }),
            "plaintext",
        ),
        (
            "/v1/reencrypt",
            json!({ "ciphertext": "@@", "destination_key": id }),
            "ciphertext",
        ),
    ] {
        let m = expect_err(path, post(&s, path, &body), 400, "InvalidArgument");
        assert!(m.contains(field) && m.contains("base64"), "{path}: {m}");
    }

    // Plaintext over 4096 bytes, in a body well inside the 1 MiB limit.
    let m = expect_err(
        "4097 bytes",
        post(
            &s,
            "/v1/encrypt",
            &json!({ "key": id, "plaintext": b64(&[1u8; 4097]) }),
        ),
        400,
        "InvalidArgument",
    );
    assert!(m.contains("4096"), "{m}");
    assert_eq!(
        post(
            &s,
            "/v1/encrypt",
            &json!({ "key": id, "plaintext": b64(&[1u8; 4096]) })
        )
        .0,
        200
    );
    expect_err(
        "900 KiB plaintext",
        post(
            &s,
            "/v1/encrypt",
            &json!({ "key": id, "plaintext": b64(&vec![7u8; 700 * 1024]) }),
        ),
        400,
        "InvalidArgument",
    );
    expect_err(
        "huge message",
        post(
            &s,
            "/v1/sign",
            &json!({ "key": id, "message": b64(&vec![7u8; 600 * 1024]) }),
        ),
        400,
        "InvalidArgument",
    );
    // A huge context.
    let big_ctx: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    expect_err(
        "65 context entries",
        post(
            &s,
            "/v1/encrypt",
            &json!({ "key": id, "plaintext": "eA==", "context": big_ctx }),
        ),
        400,
        "InvalidArgument",
    );
    expect_err(
        "context too many bytes",
        post(
            &s,
            "/v1/encrypt",
            &json!({ "key": id, "plaintext": "eA==", "context": { "k": "v".repeat(9000) } }),
        ),
        400,
        "InvalidArgument",
    );

    // Deeply nested documents, within the size limit: refused, no crash.
    for doc in [
        "[".repeat(100_000).into_bytes(),
        "{\"a\":".repeat(100_000).into_bytes(),
        format!(
            "{{\"key\":\"{id}\",\"plaintext\":\"eA==\",\"context\":{}}}",
            "[".repeat(200_000)
        )
        .into_bytes(),
        format!("{}1{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
    ] {
        let n = doc.len();
        let (st, v) = post_raw(&s, "/v1/encrypt", j, doc);
        assert_eq!(st, 400, "nested document of {n} bytes: {v}");
        let (st, v) = post_raw(
            &s,
            "/v1/batch/encrypt",
            j,
            "[".repeat(n.min(500_000)).into_bytes(),
        );
        assert_eq!(st, 400, "{v}");
    }
    assert_eq!(s.get("/v1/sys/health").0, 200, "server died on nested JSON");
    assert_eq!(
        post(
            &s,
            "/v1/encrypt",
            &json!({ "key": id, "plaintext": "eA==" })
        )
        .0,
        200
    );
    assert_no_internal_errors(&s);
}

fn enc_body(id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "key": id, "plaintext": "eA==" })).unwrap()
}

#[test]
fn body_limit_is_enforced_before_reading() {
    let s = Server::dev(BIN);
    let id = create(&s, json!({}));
    let host = s.addr.trim_start_matches("http://").to_string();
    let auth = format!("Authorization: Bearer {}\r\n", s.token);

    // Only the headers: a server that waited for the body would time out.
    for path in [
        "/v1/encrypt",
        "/v1/keys",
        "/v1/batch/encrypt",
        "/v1/sys/unseal",
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 << 20
        );
        let (st, v) = raw_exchange(&s.addr, &head, b"")
            .expect("no answer: the server waited for a body it must refuse");
        check(path, st, &v);
        let m = expect_err(path, (st, v), 413, "PayloadTooLarge");
        assert!(m.contains("1048576"), "{m}");
    }
    // Unauthenticated oversize requests are refused the same way.
    let head = format!(
        "POST /v1/encrypt HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n"
    );
    let (st, v) = raw_exchange(&s.addr, &head, b"").expect("no answer");
    expect_err("no token, huge length", (st, v), 413, "PayloadTooLarge");

    // A real 2 MiB body through the test kit's client.
    let mut big = b"{\"key\":\"".to_vec();
    big.extend_from_slice(id.as_bytes());
    big.extend_from_slice(b"\",\"plaintext\":\"");
    big.extend(std::iter::repeat_n(b'A', 2 << 20));
    big.extend_from_slice(b"\"}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let sent = agent
        .post(&format!("{}/v1/encrypt", s.addr))
        .header("Authorization", &format!("Bearer {}", s.token))
        .header("Content-Type", "application/json")
        .send(&big[..]);
    match sent {
        Ok(mut resp) => {
            let st = resp.status().as_u16();
            let v: Value =
                serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
            check("2 MiB", st, &v);
            expect_err("2 MiB body", (st, v), 413, "PayloadTooLarge");
        }
        // The server may close the connection while the client is still
        // sending; then the raw socket must still see the 413.
        Err(_) => {
            let head = format!(
                "POST /v1/encrypt HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                big.len()
            );
            let (st, v) = raw_exchange(&s.addr, &head, &big).expect("no answer to a 2 MiB body");
            expect_err("2 MiB body (raw)", (st, v), 413, "PayloadTooLarge");
        }
    }

    // Chunked transfer without Content-Length: the limit applies while reading.
    let mut chunked = Vec::new();
    let piece = vec![b'A'; 64 * 1024];
    let first = format!("{{\"key\":\"{id}\",\"plaintext\":\"");
    chunked.extend_from_slice(format!("{:x}\r\n{first}\r\n", first.len()).as_bytes());
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(&piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"2\r\n\"}\r\n0\r\n\r\n");
    let head = format!(
        "POST /v1/encrypt HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let (st, v) = raw_exchange(&s.addr, &head, &chunked).expect("no answer to a chunked body");
    expect_err("chunked 2.5 MiB", (st, v), 413, "PayloadTooLarge");

    // Just under the limit is parsed (and refused for its content, not its size).
    let mut under = b"{\"key\":\"".to_vec();
    under.extend_from_slice(id.as_bytes());
    under.extend_from_slice(b"\",\"plaintext\":\"");
    under.extend(std::iter::repeat_n(b'A', (1 << 20) - 200));
    under.extend_from_slice(b"\"}");
    expect_err(
        "just under the limit",
        post_raw(&s, "/v1/encrypt", "application/json", under),
        400,
        "InvalidArgument",
    );

    assert_eq!(s.get("/v1/sys/health").0, 200);
    assert_no_internal_errors(&s);
}

#[test]
fn every_bit_flip_and_truncation_is_one_generic_error() {
    let s = Server::dev(BIN);
    let id = create(&s, json!({}));
    let ctx = json!({ "purpose": "test" });
    let ct = encrypt(&s, &id, b"k", ctx.clone());
    assert_eq!(ct.len(), 24 + 12 + 1 + 16);
    assert_eq!(
        unb64(
            ok("control", decrypt(&s, &ct, ctx.clone()))["plaintext"]
                .as_str()
                .unwrap()
        ),
        b"k"
    );

    let mut message: Option<String> = None;
    let mut same = |what: &str, r: (u16, Value)| {
        let m = expect_err(what, r, 400, "InvalidCiphertext");
        match &message {
            None => message = Some(m),
            Some(first) => assert_eq!(&m, first, "{what}: a different message is an oracle"),
        }
    };
    for byte in 0..ct.len() {
        for bit in 0..8 {
            let mut bad = ct.clone();
            bad[byte] ^= 1 << bit;
            same(
                &format!("flip byte {byte} bit {bit}"),
                decrypt(&s, &bad, ctx.clone()),
            );
        }
    }
    for n in 0..ct.len() {
        same(
            &format!("truncated to {n}"),
            decrypt(&s, &ct[..n], ctx.clone()),
        );
    }
    // Extended, garbage, and a valid header on a garbage body.
    let mut longer = ct.clone();
    longer.push(0);
    same("one byte appended", decrypt(&s, &longer, ctx.clone()));
    for (i, len) in [1usize, 23, 24, 52, 53, 54, 100, 4096]
        .into_iter()
        .enumerate()
    {
        let g = common::pseudo_random(len, 99 + i as u64);
        same(&format!("garbage of {len}"), decrypt(&s, &g, ctx.clone()));
        let mut hdr = ct[..24].to_vec();
        hdr.extend_from_slice(&g);
        same(
            &format!("header + garbage of {len}"),
            decrypt(&s, &hdr, ctx.clone()),
        );
    }
    // The header claiming the RSA-OAEP algorithm for an AES key.
    let mut alg = ct.clone();
    alg[3] = 2;
    same("algorithm byte changed", decrypt(&s, &alg, ctx.clone()));
    // A well-formed header naming a key that does not exist.
    let mut unknown = ct.clone();
    unknown[4..20].copy_from_slice(&[0x42; 16]);
    same("unknown key id", decrypt(&s, &unknown, ctx.clone()));

    // Batch decrypt gives the same answer per item.
    let mut flipped = ct.clone();
    flipped[40] ^= 4;
    let v = ok(
        "batch",
        post(
            &s,
            "/v1/batch/decrypt",
            &json!({ "items": [
            { "ciphertext": b64(&ct), "context": ctx },
            { "ciphertext": b64(&flipped), "context": ctx },
        ] }),
        ),
    );
    assert_eq!(unb64(v["results"][0]["plaintext"].as_str().unwrap()), b"k");
    assert_eq!(v["results"][1]["error"]["code"], "InvalidCiphertext");
    assert_eq!(
        v["results"][1]["error"]["message"].as_str(),
        message.as_deref()
    );
    // Nothing was disturbed: the original still decrypts.
    ok("after attacks", decrypt(&s, &ct, ctx));
    assert_no_internal_errors(&s);
}

#[test]
fn wrong_key_context_and_minimum_version() {
    let s = Server::dev(BIN);
    let a = create(&s, json!({ "aliases": ["alias/a"] }));
    let b = create(&s, json!({ "aliases": ["alias/b"] }));
    let ctx = json!({ "tenant": "t1", "app": "billing" });
    let ct = encrypt(&s, &a, b"secret", ctx.clone());
    let ctb = b64(&ct);

    // Key A's ciphertext naming key B.
    for k in [b.as_str(), "alias/b"] {
        expect_err(
            k,
            post(
                &s,
                "/v1/decrypt",
                &json!({ "ciphertext": ctb, "context": ctx, "key": k }),
            ),
            400,
            "IncorrectKey",
        );
        expect_err(
            k,
            post(
                &s,
                "/v1/reencrypt",
                &json!({ "ciphertext": ctb, "source_context": ctx, "source_key": k, "destination_key": b }),
            ),
            400,
            "IncorrectKey",
        );
    }
    ok(
        "naming A",
        post(
            &s,
            "/v1/decrypt",
            &json!({ "ciphertext": ctb, "context": ctx, "key": "alias/a" }),
        ),
    );
    expect_err(
        "naming a missing key",
        post(
            &s,
            "/v1/decrypt",
            &json!({ "ciphertext": ctb, "context": ctx, "key": "alias/zzz" }),
        ),
        404,
        "AliasNotFound",
    );

    // Context: changed, missing, extra, or case-changed entries fail.
    for bad in [
        json!({ "tenant": "t2", "app": "billing" }),
        json!({ "tenant": "t1" }),
        json!({}),
        json!({ "tenant": "t1", "app": "billing", "x": "" }),
        json!({ "tenant": "t1", "app": "billing", "": "" }),
        json!({ "Tenant": "t1", "app": "billing" }),
        json!({ "tenant": "t1 ", "app": "billing" }),
        json!({ "tenant": "t1app", "": "billing" }),
    ] {
        expect_err(
            &format!("context {bad}"),
            decrypt(&s, &ct, bad),
            400,
            "InvalidCiphertext",
        );
    }
    let no_ctx = post(&s, "/v1/decrypt", &json!({ "ciphertext": ctb }));
    expect_err("context omitted", no_ctx, 400, "InvalidCiphertext");
    // The same entries in another order, as raw JSON text.
    for text in [
        format!(
            "{{\"context\":{{\"app\":\"billing\",\"tenant\":\"t1\"}},\"ciphertext\":\"{ctb}\"}}"
        ),
        format!(
            "{{\"ciphertext\":\"{ctb}\",\"context\":{{\"tenant\":\"t1\",\"app\":\"billing\"}}}}"
        ),
    ] {
        let v = ok(
            "reordered",
            post_raw(&s, "/v1/decrypt", "application/json", text.into_bytes()),
        );
        assert_eq!(unb64(v["plaintext"].as_str().unwrap()), b"secret");
    }

    // Minimum decryption version.
    let v1 = encrypt(&s, "alias/a", b"old", json!({}));
    ok("rotate", post(&s, "/v1/rotate", &json!({ "key": a })));
    let v2 = encrypt(&s, "alias/a", b"new", json!({}));
    assert_eq!(u32::from_be_bytes(v2[20..24].try_into().unwrap()), 2);
    ok(
        "min 2",
        post(
            &s,
            "/v1/min-decryption-version",
            &json!({ "key": a, "version": 2 }),
        ),
    );
    let m = expect_err(
        "below minimum",
        decrypt(&s, &v1, json!({})),
        409,
        "VersionBelowMinimum",
    );
    assert!(m.contains('2') && m.contains('1'), "{m}");
    expect_err(
        "reencrypt below minimum",
        post(
            &s,
            "/v1/reencrypt",
            &json!({ "ciphertext": b64(&v1), "destination_key": b }),
        ),
        409,
        "VersionBelowMinimum",
    );
    ok("v2 still fine", decrypt(&s, &v2, json!({})));
    // A header edited to claim another version.
    let mut claim2 = v1.clone();
    claim2[20..24].copy_from_slice(&2u32.to_be_bytes());
    expect_err(
        "v1 body claiming v2",
        decrypt(&s, &claim2, json!({})),
        400,
        "InvalidCiphertext",
    );
    let mut claim1 = v2.clone();
    claim1[20..24].copy_from_slice(&1u32.to_be_bytes());
    let (st, v) = decrypt(&s, &claim1, json!({}));
    assert!(st == 409 || st == 400, "v2 body claiming v1: {v}");
    let mut claim9 = v2.clone();
    claim9[20..24].copy_from_slice(&9u32.to_be_bytes());
    expect_err(
        "v2 body claiming v9",
        decrypt(&s, &claim9, json!({})),
        400,
        "InvalidCiphertext",
    );
    // Raising the minimum above the primary, or to 0, is refused and changes nothing.
    expect_err(
        "min 3",
        post(
            &s,
            "/v1/min-decryption-version",
            &json!({ "key": a, "version": 3 }),
        ),
        400,
        "InvalidArgument",
    );
    expect_err(
        "min 0",
        post(
            &s,
            "/v1/min-decryption-version",
            &json!({ "key": a, "version": 0 }),
        ),
        400,
        "InvalidArgument",
    );
    assert_eq!(
        ok("describe", get(&s, &format!("/v1/keys/{a}")))["min_decryption_version"],
        2
    );
    // Lowering it again restores v1.
    ok(
        "min 1",
        post(
            &s,
            "/v1/min-decryption-version",
            &json!({ "key": a, "version": 1 }),
        ),
    );
    ok("v1 again", decrypt(&s, &v1, json!({})));
    assert_no_internal_errors(&s);
}

#[test]
fn usage_confusion_is_refused() {
    let s = Server::dev(BIN);
    let aes = create(&s, json!({}));
    let hmac = create(&s, json!({ "spec": "HMAC_SHA_256" }));
    let ecc = create(&s, json!({ "spec": "ECC_NIST_P256" }));
    let rsa_enc = create(
        &s,
        json!({ "spec": "RSA_2048", "usage": "ENCRYPT_DECRYPT" }),
    );
    let m = b64(b"message");
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "sign with AES",
            "/v1/sign",
            json!({ "key": aes, "message": m }),
        ),
        (
            "verify with AES",
            "/v1/verify",
            json!({ "key": aes, "message": m, "signature": "AAAA" }),
        ),
        (
            "sign with HMAC",
            "/v1/sign",
            json!({ "key": hmac, "message": m }),
        ),
        (
            "sign with RSA encryption key",
            "/v1/sign",
            json!({ "key": rsa_enc, "message": m }),
        ),
        (
            "encrypt with HMAC",
            "/v1/encrypt",
            json!({ "key": hmac, "plaintext": m }),
        ),
        (
            "encrypt with ECC",
            "/v1/encrypt",
            json!({ "key": ecc, "plaintext": m }),
        ),
        (
            "data key with HMAC",
            "/v1/generate-data-key",
            json!({ "key": hmac }),
        ),
        (
            "data key with ECC",
            "/v1/generate-data-key",
            json!({ "key": ecc }),
        ),
        (
            "mac with ECC",
            "/v1/mac",
            json!({ "key": ecc, "message": m }),
        ),
        (
            "mac with AES",
            "/v1/mac",
            json!({ "key": aes, "message": m }),
        ),
        (
            "verify-mac with ECC",
            "/v1/verify-mac",
            json!({ "key": ecc, "message": m, "mac": "AAAA" }),
        ),
        ("public key of AES", "/v1/public-key", json!({ "key": aes })),
        (
            "public key of HMAC",
            "/v1/public-key",
            json!({ "key": hmac }),
        ),
        (
            "reencrypt to HMAC",
            "/v1/reencrypt",
            json!({ "ciphertext": b64(&encrypt(&s, &aes, b"x", json!({}))), "destination_key": hmac }),
        ),
    ];
    for (what, path, body) in cases {
        let msg = expect_err(what, post(&s, path, &body), 400, "InvalidKeyUsage");
        assert!(!msg.is_empty());
    }
    let v = ok(
        "batch with HMAC",
        post(
            &s,
            "/v1/batch/encrypt",
            &json!({ "items": [{ "key": hmac, "plaintext": m }] }),
        ),
    );
    assert_eq!(v["results"][0]["error"]["code"], "InvalidKeyUsage", "{v}");
    assert_no_internal_errors(&s);
}

#[test]
fn verification_rejects_bad_tag_lengths() {
    let s = Server::dev(BIN);
    let msg = b64(b"the message");
    for spec in ["ECC_NIST_P256", "ED25519", "RSA_2048"] {
        let k = create(&s, json!({ "spec": spec }));
        let sig = unb64(
            ok(
                spec,
                post(&s, "/v1/sign", &json!({ "key": k, "message": msg })),
            )["signature"]
                .as_str()
                .unwrap(),
        );
        let verify = |sig: &[u8]| -> bool {
            let v = ok(
                spec,
                post(
                    &s,
                    "/v1/verify",
                    &json!({ "key": k, "message": msg, "signature": b64(sig) }),
                ),
            );
            v["valid"].as_bool().unwrap_or_else(|| panic!("{v}"))
        };
        assert!(verify(&sig), "{spec}: good signature");
        let mut long = sig.clone();
        long.push(0);
        let mut longer = sig.clone();
        longer.extend_from_slice(&[0u8; 4000]);
        let mut flipped = sig.clone();
        flipped[sig.len() / 2] ^= 1;
        for (what, bad) in [
            ("empty", Vec::new()),
            ("one byte", vec![sig[0]]),
            ("truncated by one", sig[..sig.len() - 1].to_vec()),
            ("half", sig[..sig.len() / 2].to_vec()),
            ("one byte longer", long),
            ("4000 bytes longer", longer),
            ("flipped", flipped),
            ("zeros", vec![0u8; sig.len()]),
        ] {
            assert!(!verify(&bad), "{spec}: {what} signature verified");
        }
        // Another message.
        let v = ok(
            spec,
            post(
                &s,
                "/v1/verify",
                &json!({ "key": k, "message": b64(b"other"), "signature": b64(&sig) }),
            ),
        );
        assert_eq!(v["valid"], false);
        // A signing algorithm that does not fit.
        expect_err(
            spec,
            post(
                &s,
                "/v1/verify",
                &json!({ "key": k, "message": msg, "signature": b64(&sig), "signing_algorithm": "HS256" }),
            ),
            400,
            "InvalidArgument",
        );
    }

    let h = create(&s, json!({ "spec": "HMAC_SHA_256" }));
    let mac = unb64(
        ok(
            "mac",
            post(&s, "/v1/mac", &json!({ "key": h, "message": msg })),
        )["mac"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(mac.len(), 32);
    let verify = |m: &[u8]| -> bool {
        let v = ok(
            "verify-mac",
            post(
                &s,
                "/v1/verify-mac",
                &json!({ "key": h, "message": msg, "mac": b64(m) }),
            ),
        );
        v["valid"].as_bool().unwrap_or_else(|| panic!("{v}"))
    };
    assert!(verify(&mac));
    let mut long = mac.clone();
    long.push(mac[0]);
    let mut flipped = mac.clone();
    flipped[31] ^= 0x80;
    for (what, bad) in [
        ("empty", Vec::new()),
        ("one byte", mac[..1].to_vec()),
        ("16 bytes", mac[..16].to_vec()),
        ("31 bytes", mac[..31].to_vec()),
        ("33 bytes", long),
        ("64 bytes", [mac.clone(), mac.clone()].concat()),
        ("flipped", flipped),
    ] {
        assert!(!verify(&bad), "HMAC: {what} tag verified");
    }
    assert_no_internal_errors(&s);
}

#[test]
fn batches() {
    let s = Server::dev(BIN);
    let a = create(&s, json!({ "aliases": ["alias/a"] }));
    let disabled = create(&s, json!({}));
    ok(
        "disable",
        post(&s, "/v1/disable", &json!({ "key": disabled })),
    );
    let v = ok(
        "batch encrypt",
        post(
            &s,
            "/v1/batch/encrypt",
            &json!({ "items": [
            { "key": "alias/a", "plaintext": b64(b"one") },
            { "key": "alias/a", "plaintext": "not base64" },
            { "key": "alias/missing", "plaintext": b64(b"x") },
            { "key": disabled, "plaintext": b64(b"x") },
            { "key": a, "plaintext": b64(b"two"), "context": { "c": "1" } },
            { "key": a, "plaintext": b64(&[0u8; 4097]) },
        ] }),
        ),
    );
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 6, "{v}");
    let codes: Vec<Option<&str>> = r.iter().map(|x| x["error"]["code"].as_str()).collect();
    assert_eq!(
        codes,
        vec![
            None,
            Some("InvalidArgument"),
            Some("AliasNotFound"),
            Some("KeyDisabled"),
            None,
            Some("InvalidArgument")
        ],
        "{v}"
    );
    for x in r.iter().filter(|x| x.get("error").is_some()) {
        assert!(!x["error"]["message"].as_str().unwrap().is_empty(), "{x}");
        assert!(x.get("ciphertext").is_none(), "{x}");
    }
    let c1 = r[0]["ciphertext"].as_str().unwrap();
    let c2 = r[4]["ciphertext"].as_str().unwrap();
    let d = ok(
        "batch decrypt",
        post(
            &s,
            "/v1/batch/decrypt",
            &json!({ "items": [
            { "ciphertext": c1 },
            { "ciphertext": c2 },
            { "ciphertext": c2, "context": { "c": "1" } },
            { "ciphertext": "!!" },
            { "ciphertext": c1, "key": disabled },
        ] }),
        ),
    );
    let r = d["results"].as_array().unwrap();
    assert_eq!(r.len(), 5, "{d}");
    assert_eq!(unb64(r[0]["plaintext"].as_str().unwrap()), b"one");
    assert_eq!(r[1]["error"]["code"], "InvalidCiphertext");
    assert_eq!(unb64(r[2]["plaintext"].as_str().unwrap()), b"two");
    assert_eq!(r[3]["error"]["code"], "InvalidArgument");
    assert_eq!(r[4]["error"]["code"], "IncorrectKey");

    // Size limits: 0 and 1001 items are refused whole; 1000 is fine.
    let item = json!({ "key": "alias/a", "plaintext": b64(b"x") });
    let m = expect_err(
        "0 items",
        post(&s, "/v1/batch/encrypt", &json!({ "items": [] })),
        400,
        "InvalidArgument",
    );
    assert!(m.contains("1000"), "{m}");
    expect_err(
        "0 items",
        post(&s, "/v1/batch/decrypt", &json!({ "items": [] })),
        400,
        "InvalidArgument",
    );
    expect_err(
        "1001 items",
        post(
            &s,
            "/v1/batch/encrypt",
            &json!({ "items": vec![item.clone(); 1001] }),
        ),
        400,
        "InvalidArgument",
    );
    let dec_item = json!({ "ciphertext": c1 });
    expect_err(
        "1001 items",
        post(
            &s,
            "/v1/batch/decrypt",
            &json!({ "items": vec![dec_item.clone(); 1001] }),
        ),
        400,
        "InvalidArgument",
    );
    let v = ok(
        "1000 items",
        post(
            &s,
            "/v1/batch/encrypt",
            &json!({ "items": vec![item; 1000] }),
        ),
    );
    assert_eq!(v["results"].as_array().unwrap().len(), 1000);
    let v = ok(
        "1000 items",
        post(
            &s,
            "/v1/batch/decrypt",
            &json!({ "items": vec![dec_item; 1000] }),
        ),
    );
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["plaintext"] == b64(b"one")));
    expect_err(
        "items missing",
        post(&s, "/v1/batch/encrypt", &json!({})),
        400,
        "MalformedRequest",
    );
    expect_err(
        "items not array",
        post(&s, "/v1/batch/encrypt", &json!({ "items": {} })),
        400,
        "MalformedRequest",
    );
    expect_err(
        "unknown field in an item",
        post(
            &s,
            "/v1/batch/encrypt",
            &json!({ "items": [{ "key": a, "plaintext": "eA==", "extra": 1 }] }),
        ),
        400,
        "MalformedRequest",
    );
    assert_no_internal_errors(&s);
}

#[test]
fn metrics_and_openapi() {
    let s = Server::dev(BIN);
    create(&s, json!({}));
    let _ = req(&s, "GET", "/v1/keys", None, None);
    let (st, m) = get(&s, "/metrics");
    assert_eq!(st, 200);
    let text = m.as_str().expect("metrics are text");
    assert!(text.contains("strongroom_requests_total"), "{text}");
    assert!(text.lines().any(|l| l == "strongroom_sealed 0"), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "strongroom_keys{state=\"Enabled\"} 1"),
        "{text}"
    );
    assert!(text.contains("route=\"/v1/keys\""), "{text}");
    assert!(text.contains("outcome=\"Unauthenticated\""), "{text}");
    assert!(!text.contains(&s.token), "metrics expose the token");

    let (st, doc) = get(&s, "/v1/openapi.json");
    assert_eq!(st, 200);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    let paths = doc["paths"].as_object().expect("paths object");
    // Every route of api::router(), with axum wildcards as OpenAPI parameters.
    let routes: &[(&str, &[&str])] = &[
        ("/v1/sys/health", &["get"]),
        ("/v1/sys/seal-status", &["get"]),
        ("/v1/sys/init", &["post"]),
        ("/v1/sys/unseal", &["post"]),
        ("/v1/sys/seal", &["post"]),
        ("/v1/sys/rekey", &["post"]),
        ("/v1/sys/generate-root", &["post"]),
        ("/v1/sys/revoke-root", &["post"]),
        ("/v1/openapi.json", &["get"]),
        ("/metrics", &["get"]),
        ("/v1/keys", &["post", "get"]),
        ("/v1/keys/{key}", &["get", "patch"]),
        ("/v1/rotate", &["post"]),
        ("/v1/enable", &["post"]),
        ("/v1/disable", &["post"]),
        ("/v1/enable-version", &["post"]),
        ("/v1/disable-version", &["post"]),
        ("/v1/min-decryption-version", &["post"]),
        ("/v1/schedule-deletion", &["post"]),
        ("/v1/cancel-deletion", &["post"]),
        ("/v1/aliases", &["get", "post"]),
        ("/v1/aliases/{alias}", &["delete"]),
        ("/v1/encrypt", &["post"]),
        ("/v1/decrypt", &["post"]),
        ("/v1/reencrypt", &["post"]),
        ("/v1/generate-data-key", &["post"]),
        ("/v1/random", &["post"]),
        ("/v1/sign", &["post"]),
        ("/v1/verify", &["post"]),
        ("/v1/mac", &["post"]),
        ("/v1/verify-mac", &["post"]),
        ("/v1/public-key", &["post"]),
        ("/v1/batch/encrypt", &["post"]),
        ("/v1/batch/decrypt", &["post"]),
    ];
    for (path, methods) in routes {
        let entry = paths
            .get(*path)
            .unwrap_or_else(|| panic!("OpenAPI lacks {path}"));
        for m in *methods {
            assert!(entry.get(*m).is_some(), "OpenAPI lacks {m} {path}");
        }
    }
    // Routes added to the router since this list was written must be documented too.
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../api/src/lib.rs")).unwrap();
    for piece in src.split(".route(\"").skip(1) {
        let raw = piece.split('"').next().unwrap();
        let path = raw.replace("{*", "{");
        assert!(
            paths.contains_key(&path),
            "route {raw} in api/mod.rs is not in /v1/openapi.json"
        );
    }
    // And every documented path answers (not the 404 fallback).
    for path in paths.keys() {
        let concrete = path
            .replace("{key}", "alias/none")
            .replace("{alias}", "alias/none");
        for m in paths[path].as_object().unwrap().keys() {
            let method = m.to_ascii_uppercase();
            if method == "POST"
                && matches!(
                    concrete.as_str(),
                    "/v1/sys/init" | "/v1/sys/seal" | "/v1/sys/revoke-root"
                )
            {
                continue; // init is refused anyway on dev; seal and revoke-root would end the test's access
            }
            if concrete == "/" {
                continue; // the AWS endpoint answers AWS's error shape (tests/it/aws_sdk.rs)
            }
            let body = (method != "GET" && method != "DELETE").then(|| json!({}));
            let (st, v) = req(&s, &method, &concrete, body.as_ref(), Some(&s.token));
            assert!(
                st != 404 || v["error"]["code"] != "NotFound",
                "{method} {concrete}: {v}"
            );
            assert_ne!(st, 405, "{method} {concrete}: {v}");
        }
    }
    assert_no_internal_errors(&s);
}

#[test]

fn undecodable_path_segments_get_the_error_shape() {
    let s = Server::dev(BIN);
    for (method, path, body) in [
        ("GET", "/v1/keys/%FF", None),
        ("PATCH", "/v1/keys/%FF", Some(json!({}))),
        ("DELETE", "/v1/aliases/alias%2F%FF", None),
    ] {
        let (st, v) = req(&s, method, path, body.as_ref(), Some(&s.token));
        assert_eq!(st, 400, "{method} {path}: {v}");
        assert_eq!(error_code(st, &v), "InvalidArgument", "{method} {path}");
    }
}

#[test]

fn made_up_methods_do_not_grow_metrics() {
    let s = Server::dev(BIN);
    let host = s.addr.trim_start_matches("http://").to_string();
    for i in 0..50 {
        let head =
            format!("XMETHOD{i} /v1/keys HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let (st, v) = raw_exchange(&s.addr, &head, b"").expect("answer");
        assert_eq!(st, 405, "{v}");
    }
    let (_, m) = get(&s, "/metrics");
    let text = m.as_str().unwrap();
    let series = text.lines().filter(|l| l.contains("XMETHOD")).count();
    assert_eq!(
        series, 0,
        "{series} metric lines carry client-chosen method names"
    );
}

#[test]

fn auth_scheme_is_case_insensitive() {
    let s = Server::dev(BIN);
    let host = s.addr.trim_start_matches("http://").to_string();
    for scheme in ["bearer", "BEARER"] {
        let head = format!("GET /v1/keys HTTP/1.1\r\nHost: {host}\r\nAuthorization: {scheme} {}\r\nConnection: close\r\n\r\n", s.token);
        let (st, v) = raw_exchange(&s.addr, &head, b"").expect("answer");
        assert_eq!(st, 200, "{scheme}: {v}");
    }
}

#[test]

fn early_rejection_keeps_or_closes_cleanly() {
    let s = Server::dev(BIN);
    let hostport = s.addr.trim_start_matches("http://").to_string();
    let body = br#"{"key":"alias/x","plaintext":"eA=="}"#;
    for (what, auth) in [
        ("no token", String::new()),
        (
            "bad token",
            "Authorization: Bearer sr.wrong-token\r\n".to_string(),
        ),
    ] {
        let mut sock = TcpStream::connect(&hostport).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let head = format!(
            "POST /v1/encrypt HTTP/1.1\r\nHost: {hostport}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        sock.write_all(head.as_bytes()).unwrap();
        // The body is late (a slow client, or a separate TCP segment). The
        // server may answer before it arrives (then it must announce
        // `Connection: close`) or read it first and keep the connection.
        std::thread::sleep(Duration::from_millis(100));
        sock.write_all(body).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).unwrap();
        let first = String::from_utf8_lossy(&buf[..n]).to_lowercase();
        assert!(first.starts_with("http/1.1 401"), "{what}: {first}");
        if first.contains("connection: close") {
            continue; // announced: no client will reuse it
        }
        let _ = sock.write_all(
            format!("GET /v1/sys/health HTTP/1.1\r\nHost: {hostport}\r\n\r\n").as_bytes(),
        );
        let mut second = Vec::new();
        while !String::from_utf8_lossy(&second).contains("\r\n\r\n") {
            match sock.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => second.extend_from_slice(&buf[..n]),
            }
        }
        let second = String::from_utf8_lossy(&second);
        assert!(
            second.starts_with("HTTP/1.1 200"),
            "{what}: the connection was closed without `Connection: close` after the early answer; the next request got {second:?}"
        );
    }
}

/// ML-KEM and ML-DSA on the native API: round trips, the published SPKI,
/// and bad input (wrong lengths, bad base64, unknown fields, unknown
/// versions, EXTERNAL_MU, DIGEST, usage confusion) as clear 4xx errors that
/// change nothing.
#[test]
fn post_quantum_keys_and_bad_input() {
    let s = Server::dev(BIN);
    let kem = create(&s, json!({ "spec": "ML_KEM_768" }));
    let dsa = create(&s, json!({ "spec": "ML_DSA_65" }));
    let aes = create(&s, json!({}));
    let described = ok("describe", get(&s, &format!("/v1/keys/{kem}")));
    assert_eq!(described["usage"], "ENCAPSULATE_DECAPSULATE", "{described}");

    let enc = ok(
        "encapsulate",
        post(&s, "/v1/encapsulate", &json!({ "key": kem })),
    );
    assert_eq!(enc["version"], 1);
    assert_eq!(enc["encapsulation_algorithm"], "ML_KEM");
    let ct = unb64(enc["ciphertext"].as_str().unwrap());
    let ss = unb64(enc["shared_secret"].as_str().unwrap());
    assert_eq!((ct.len(), ss.len()), (1088, 32));
    let dec = ok(
        "decapsulate",
        post(
            &s,
            "/v1/decapsulate",
            &json!({ "key": kem, "ciphertext": b64(&ct) }),
        ),
    );
    assert_eq!(unb64(dec["shared_secret"].as_str().unwrap()), ss);
    let pk = ok(
        "public key",
        post(&s, "/v1/public-key", &json!({ "key": kem })),
    );
    assert_eq!(pk["encapsulation_algorithms"], json!(["ML_KEM"]), "{pk}");
    assert!(pk["pem"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));

    // Rotation: the old ciphertext needs its version named.
    ok("rotate", post(&s, "/v1/rotate", &json!({ "key": kem })));
    let dec = ok(
        "decapsulate v1",
        post(
            &s,
            "/v1/decapsulate",
            &json!({ "key": kem, "ciphertext": b64(&ct), "version": 1 }),
        ),
    );
    assert_eq!(unb64(dec["shared_secret"].as_str().unwrap()), ss);
    let enc2 = ok(
        "encapsulate v2",
        post(&s, "/v1/encapsulate", &json!({ "key": kem })),
    );
    assert_eq!(enc2["version"], 2);

    let m = expect_err(
        "short ciphertext",
        post(
            &s,
            "/v1/decapsulate",
            &json!({ "key": kem, "ciphertext": b64(&ct[..100]) }),
        ),
        400,
        "InvalidArgument",
    );
    assert!(m.contains("1088"), "{m}");
    expect_err(
        "bad base64",
        post(
            &s,
            "/v1/decapsulate",
            &json!({ "key": kem, "ciphertext": "not base64!" }),
        ),
        400,
        "InvalidArgument",
    );
    expect_err(
        "unknown version",
        post(
            &s,
            "/v1/decapsulate",
            &json!({ "key": kem, "ciphertext": b64(&ct), "version": 7 }),
        ),
        404,
        "VersionNotFound",
    );
    let (st, body) = post(&s, "/v1/encapsulate", &json!({ "key": kem, "extra": 1 }));
    assert_eq!(st, 400, "unknown field: {body}");
    let (st, body) = post(&s, "/v1/decapsulate", &json!({ "key": kem }));
    assert_eq!(st, 400, "missing ciphertext: {body}");
    for (what, path, body) in [
        (
            "encapsulate with AES",
            "/v1/encapsulate",
            json!({ "key": aes }),
        ),
        (
            "encapsulate with ML-DSA",
            "/v1/encapsulate",
            json!({ "key": dsa }),
        ),
        (
            "decapsulate with AES",
            "/v1/decapsulate",
            json!({ "key": aes, "ciphertext": b64(&ct) }),
        ),
        (
            "encrypt with ML-KEM",
            "/v1/encrypt",
            json!({ "key": kem, "plaintext": b64(b"x") }),
        ),
        (
            "sign with ML-KEM",
            "/v1/sign",
            json!({ "key": kem, "message": b64(b"x") }),
        ),
    ] {
        expect_err(what, post(&s, path, &body), 400, "InvalidKeyUsage");
    }

    // ML-DSA: RAW only; EXTERNAL_MU and DIGEST say why.
    let sig = ok(
        "sign",
        post(
            &s,
            "/v1/sign",
            &json!({ "key": dsa, "message": b64(b"pq") }),
        ),
    );
    assert_eq!(sig["signing_algorithm"], "ML_DSA_SHAKE_256");
    let v = ok(
        "verify",
        post(
            &s,
            "/v1/verify",
            &json!({ "key": dsa, "message": b64(b"pq"), "signature": sig["signature"] }),
        ),
    );
    assert_eq!(v["valid"], true);
    for mt in ["EXTERNAL_MU", "DIGEST"] {
        let m = expect_err(
            mt,
            post(
                &s,
                "/v1/sign",
                &json!({ "key": dsa, "message": b64(&[1u8; 64]), "message_type": mt }),
            ),
            400,
            "InvalidArgument",
        );
        assert!(m.contains("RAW"), "{m}");
    }
    let m = expect_err(
        "EXTERNAL_MU verify",
        post(
            &s,
            "/v1/verify",
            &json!({ "key": dsa, "message": b64(&[1u8; 64]), "message_type": "EXTERNAL_MU", "signature": sig["signature"] }),
        ),
        400,
        "InvalidArgument",
    );
    assert!(m.contains("EXTERNAL_MU"), "{m}");
    expect_err(
        "ML-DSA with ENCRYPT_DECRYPT",
        post(
            &s,
            "/v1/keys",
            &json!({ "spec": "ML_DSA_65", "usage": "ENCRYPT_DECRYPT" }),
        ),
        400,
        "InvalidArgument",
    );
    // Nothing above changed the keys: ML-KEM has its two versions, ML-DSA one.
    let d = ok("describe", get(&s, &format!("/v1/keys/{kem}")));
    assert_eq!(d["versions"].as_array().unwrap().len(), 2, "{d}");
    let d = ok("describe", get(&s, &format!("/v1/keys/{dsa}")));
    assert_eq!(d["versions"].as_array().unwrap().len(), 1, "{d}");
    assert_no_internal_errors(&s);
}
