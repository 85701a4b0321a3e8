//! Drives `strongroom_sigv4::parse_authorization` (the `Authorization`
//! header parser) and `strongroom_sigv4::verify` (the whole SigV4 check),
//! plus `strongroom_sigv4::sign::sign` for a sign-then-verify round trip.
//!
//! Input: an HTTP/1.1-style request, as in the AWS signing test suite's
//! `*.txt` files: `METHOD TARGET [HTTP/1.1]`, `Name:Value` header lines, an
//! empty line, the body. The whole input is also tried as a bare
//! `Authorization` value.
//!
//! Invariants:
//! - nothing panics;
//! - `parse_amz_date` and `sign::format_amz_date` are inverse for years
//!   0000-9999 (the first 8 input bytes as a time, the first 16 as a date);
//! - a parsed header satisfies the documented shape and re-renders to a
//!   string that parses to the same value;
//! - `verify` only ever accepts the one known access key id;
//! - a request signed by `sign` with the known secret verifies, unless the
//!   request itself carries something `verify` refuses by design (presigned
//!   query parameters, a session token, a wrong `X-Amz-Content-Sha256`, a
//!   repeated single-valued header, a header name that is not a token, more
//!   than 64 headers, no `host`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom_sigv4::sign::{format_amz_date, sign, SigningParams};
use strongroom_sigv4::{
    parse_amz_date, parse_authorization, verify, Authorization, SigV4Error, VerifyConfig,
    WireRequest, MAX_SIGNED_HEADERS,
};

/// The AWS signing test suite's credentials and clock (2015-08-30T12:36:00Z).
const AKID: &str = "AKIDEXAMPLE";
const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_440_938_160;

fn check_parsed(a: &Authorization) {
    assert!(!a.access_key_id.is_empty());
    assert!(a.date.len() == 8 && a.date.bytes().all(|b| b.is_ascii_digit()));
    assert!(!a.region.is_empty() && !a.service.is_empty());
    assert!(!a.signed_headers.is_empty() && a.signed_headers.len() <= MAX_SIGNED_HEADERS);
    assert!(a.signed_headers.windows(2).all(|w| w[0] < w[1]));
    assert!(a.signature.len() == 64);
    let rendered = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
        a.access_key_id,
        a.scope(),
        a.signed_headers.join(";"),
        a.signature
    );
    match parse_authorization(&rendered) {
        Ok(b) => assert_eq!(&b, a, "re-rendered header parses differently"),
        Err(e) => panic!("re-rendered header {rendered:?} does not parse: {e}"),
    }
}

fn parse_auth(v: &str) {
    if let Ok(a) = parse_authorization(v) {
        check_parsed(&a);
    }
    // Error messages are client-visible: they must render.
    if let Err(e) = parse_authorization(v) {
        let _ = e.to_string();
    }
}

struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn split_request(data: &[u8]) -> Req {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    Req {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: body.to_vec(),
    }
}

fn cfg() -> VerifyConfig {
    VerifyConfig {
        service: "service".into(),
        region: None,
        max_skew_secs: 300,
        required_signed_headers: vec![],
        allow_security_token: false,
    }
}

fn lookup(akid: &str) -> Option<Vec<u8>> {
    (akid == AKID).then(|| SECRET.to_vec())
}

fn is_token_name(k: &str) -> bool {
    !k.is_empty()
        && k.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn count(headers: &[(String, String)], name: &str) -> usize {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .count()
}

/// Sign the request (minus any Authorization / X-Amz-Date) with the known
/// secret, then verify it.
fn sign_then_verify(r: &Req) {
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("authorization") && !k.eq_ignore_ascii_case("x-amz-date")
        })
        .cloned()
        .collect();
    let wire = WireRequest {
        method: &r.method,
        path: &r.path,
        query: &r.query,
        headers: &headers,
        body: &r.body,
    };
    let params = SigningParams {
        access_key_id: AKID,
        secret: SECRET,
        region: "us-east-1",
        service: "service",
        time_unix: NOW,
    };
    let Ok((date, auth)) = sign(&wire, &params) else {
        return;
    };
    let mut signed = headers.clone();
    signed.push(("X-Amz-Date".into(), date));
    signed.push(("Authorization".into(), auth));
    let wire = WireRequest {
        headers: &signed,
        ..wire
    };
    let got = verify(&wire, &cfg(), NOW, &lookup);
    match &got {
        Ok(id) => assert_eq!(id, AKID),
        Err(e) => {
            // The names `sign` put in SignedHeaders (all but Authorization).
            let mut names: Vec<String> = signed[..signed.len() - 1]
                .iter()
                .map(|(k, _)| k.to_ascii_lowercase())
                .collect();
            names.sort();
            names.dedup();
            let excused = match e {
                SigV4Error::PresignedUrlNotSupported | SigV4Error::SecurityTokenNotSupported => {
                    true
                }
                SigV4Error::ContentSha256Mismatch => count(&signed, "x-amz-content-sha256") > 0,
                SigV4Error::DuplicateHeader(h) => count(&signed, h) > 1,
                SigV4Error::UnsignedHeader(h) => h == "host" && count(&signed, "host") == 0,
                SigV4Error::MalformedAuthorization(_) => {
                    names.len() > MAX_SIGNED_HEADERS
                        || !signed.iter().all(|(k, _)| is_token_name(k))
                        || auth_too_long(&signed)
                }
                _ => false,
            };
            assert!(
                excused,
                "a request signed with the right secret fails verification: {e:?} \
                 (method {:?}, path {:?}, query {:?}, headers {:?})",
                r.method, r.path, r.query, signed
            );
        }
    }
}

fn auth_too_long(h: &[(String, String)]) -> bool {
    h.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("authorization")
            && v.len() > strongroom_sigv4::MAX_AUTHORIZATION_LEN
    })
}

/// X-Amz-Date parsing and formatting are inverse on 0000-01-01 .. 9999-12-31.
fn dates(data: &[u8]) {
    const END: i64 = 253_402_300_800; // 10000-01-01T00:00:00Z
    const START: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    if let Some(b) = data.get(..8) {
        let raw = i64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        let t = START + raw.rem_euclid(END - START);
        let s = format_amz_date(t);
        assert_eq!(parse_amz_date(&s), Ok(t), "{t} formats as {s}");
    }
    if let Some(b) = data.get(..16) {
        if let Ok(s) = std::str::from_utf8(b) {
            if let Ok(t) = parse_amz_date(s) {
                assert_eq!(format_amz_date(t), s);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    dates(data);

    // 1. The whole input as a bare Authorization value.
    parse_auth(&String::from_utf8_lossy(data));

    // 2. The input as a request, verified as it is.
    let r = split_request(data);
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("authorization") {
            parse_auth(v);
        }
    }
    let wire = WireRequest {
        method: &r.method,
        path: &r.path,
        query: &r.query,
        headers: &r.headers,
        body: &r.body,
    };
    match verify(&wire, &cfg(), NOW, &lookup) {
        Ok(id) => assert_eq!(id, AKID, "verify accepted an unknown access key id"),
        Err(e) => {
            let _ = (e.to_string(), e.aws_error_type());
        }
    }

    // 3. The same request signed with the right secret must verify.
    sign_then_verify(&r);
});
