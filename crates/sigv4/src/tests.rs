//! Tests: the whole AWS signing test suite (vendored under
//! `tests/data/sigv4/`, see its README) plus negative tests of `verify`.

use super::canonical::{canonical_query, canonical_uri, query_pairs};
use super::*;

// ---------------------------------------------------------------------------
// Test-suite plumbing
// ---------------------------------------------------------------------------

/// The vendored `aws-signing-test-suite/v4` folder.
const SUITE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sigv4/v4");

/// Every case folder of the vendored suite. The test asserts the folder holds
/// exactly these, so a case cannot silently disappear or be skipped.
const SUITE_CASES: [&str; 40] = [
    "double-encode-path",
    "double-url-encode",
    "get-header-key-duplicate",
    "get-header-value-multiline",
    "get-header-value-order",
    "get-header-value-trim",
    "get-relative-normalized",
    "get-relative-relative-normalized",
    "get-relative-relative-unnormalized",
    "get-relative-unnormalized",
    "get-slash-dot-slash-normalized",
    "get-slash-dot-slash-unnormalized",
    "get-slash-normalized",
    "get-slash-pointless-dot-normalized",
    "get-slash-pointless-dot-unnormalized",
    "get-slash-unnormalized",
    "get-slashes-normalized",
    "get-slashes-unnormalized",
    "get-space-normalized",
    "get-space-unnormalized",
    "get-unreserved",
    "get-utf8",
    "get-vanilla",
    "get-vanilla-empty-query-key",
    "get-vanilla-query",
    "get-vanilla-query-order-encoded",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query",
    "get-vanilla-with-session-token",
    "post-header-key-case",
    "post-header-key-sort",
    "post-header-value-case",
    "post-sts-header-after",
    "post-sts-header-before",
    "post-vanilla",
    "post-vanilla-empty-query-value",
    "post-vanilla-query",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
];

/// The suite's credentials (every `context.json` uses these).
const SUITE_AKID: &str = "AKIDEXAMPLE";
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// `Credentials::for_tests()` of the aws-credential-types crate, used by
/// aws-sigv4's own test of the `double-encode-path` case.
const ANOTREAL_AKID: &str = "ANOTREAL";
const ANOTREAL_SECRET: &str = "notrealrnrELgWzOk3IfjzDKtFBhDby";
/// 2015-08-30T12:36:00Z, the suite's signing time.
const SUITE_NOW: i64 = 1_440_938_160;

fn read_case_file(case: &str, file: &str) -> Result<Vec<u8>, String> {
    let path = format!("{SUITE_DIR}/{case}/{file}");
    std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// An expected-output file as text, without a final newline (some of the
/// suite's files end with one, most do not).
fn read_expected(case: &str, file: &str) -> Result<String, String> {
    let bytes = read_case_file(case, file)?;
    let s = String::from_utf8(bytes).map_err(|_| format!("{case}/{file} is not UTF-8"))?;
    Ok(s.strip_suffix('\n').unwrap_or(&s).to_string())
}

/// An HTTP request parsed from a suite `.txt` file.
#[derive(Debug, Clone)]
struct RawRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawRequest {
    fn wire(&self) -> WireRequest<'_> {
        WireRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set_header(&mut self, name: &str, value: &str) {
        for (k, v) in &mut self.headers {
            if k.eq_ignore_ascii_case(name) {
                *v = value.to_string();
            }
        }
    }
}

/// Parses a raw request as the suite writes it: a request line
/// (`METHOD target [HTTP/1.1]`; the target may contain spaces), header lines
/// `Name:value` (a line starting with a space or tab continues the previous
/// value, the obsolete line folding that `get-header-value-multiline` uses),
/// an empty line, then the body. With `strip_ows` the values lose their
/// surrounding spaces/tabs, as an HTTP server's parser does; without it they
/// are kept exactly as in the file.
fn parse_raw(bytes: &[u8], strip_ows: bool) -> Result<RawRequest, String> {
    let (head, body) = match bytes.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&bytes[..i], bytes[i + 2..].to_vec()),
        None => (bytes, Vec::new()),
    };
    let head = std::str::from_utf8(head).map_err(|_| "head is not UTF-8".to_string())?;
    let mut lines = head.lines();
    let request_line = lines.next().ok_or("empty request")?;
    let (method, rest) = request_line
        .split_once(' ')
        .ok_or("request line without a target")?;
    let target = match rest.rfind(" HTTP/") {
        Some(i) => &rest[..i],
        None => rest,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers
                .last_mut()
                .ok_or("continuation line before any header")?;
            last.1.push(' ');
            last.1.push_str(line);
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line without ':': {line:?}"))?;
        headers.push((name.to_string(), value.to_string()));
    }
    if strip_ows {
        for (_, v) in &mut headers {
            *v = v.trim_matches([' ', '\t']).to_string();
        }
    }
    Ok(RawRequest {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body,
    })
}

/// The fields of a suite `context.json` that matter here. The files are
/// flat and regular, so a small scanner is enough (the module is
/// self-contained, so no JSON crate).
#[derive(Debug)]
struct Context {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    normalize: bool,
    region: String,
    service: String,
    sign_body: bool,
    omit_session_token: bool,
    amz_date: String,
}

fn json_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let start = json.find(&pat)? + pat.len();
    let rest = json[start..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        s.find('"').map(|end| &s[..end])
    } else {
        let end = rest.find([',', '\n', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim())
    }
}

fn read_context(case: &str) -> Result<Context, String> {
    let json = read_expected(case, "context.json")?;
    let field =
        |k: &str| json_field(&json, k).ok_or_else(|| format!("{case}/context.json lacks {k}"));
    let flag = |k: &str, default: bool| match json_field(&json, k) {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        None => Ok(default),
        Some(other) => Err(format!("{case}/context.json: {k} = {other}")),
    };
    let timestamp = field("timestamp")?;
    Ok(Context {
        access_key_id: field("access_key_id")?.to_string(),
        secret_access_key: field("secret_access_key")?.to_string(),
        token: json_field(&json, "token").map(str::to_string),
        normalize: flag("normalize", true)?,
        region: field("region")?.to_string(),
        service: field("service")?.to_string(),
        // aws-sigv4's harness defaults sign_body to true when absent.
        sign_body: flag("sign_body", true)?,
        omit_session_token: flag("omit_session_token", false)?,
        // 2015-08-30T12:36:00Z -> 20150830T123600Z
        amz_date: timestamp.replace(['-', ':'], ""),
    })
}

fn expect_eq(what: &str, expected: &str, actual: &str) -> Result<(), String> {
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{what} differs\n--- expected\n{expected}\n--- actual\n{actual}\n---"
        ))
    }
}

fn cfg_for(service: &str, region: &str, allow_token: bool) -> VerifyConfig {
    VerifyConfig {
        service: service.to_string(),
        region: Some(region.to_string()),
        max_skew_secs: DEFAULT_MAX_SKEW_SECS,
        required_signed_headers: vec!["host".into(), "x-amz-date".into()],
        allow_security_token: allow_token,
    }
}

/// One regular case (it has a `context.json`): the header-signed variant
/// end to end, then the query-signed (presigned) variant's canonicalisation.
fn run_full_case(case: &str) -> Result<(), String> {
    let ctx = read_context(case)?;
    if ctx.access_key_id != SUITE_AKID || ctx.secret_access_key != SUITE_SECRET {
        return Err(format!("{case}: unexpected credentials in context.json"));
    }
    let secret = ctx.secret_access_key.as_bytes();
    let opts = CanonicalOptions {
        normalize_path: ctx.normalize,
    };

    // --- Header signing: the request as the server receives it.
    let signed_raw = read_case_file(case, "header-signed-request.txt")?;
    let wire = parse_raw(&signed_raw, false)?;
    let wire_ows = parse_raw(&signed_raw, true)?;
    let authz = wire.header("authorization").ok_or("no Authorization")?;
    let auth = parse_authorization(authz).map_err(|e| format!("parse_authorization: {e}"))?;
    if auth.access_key_id != ctx.access_key_id
        || auth.region != ctx.region
        || auth.service != ctx.service
        || auth.date != ctx.amz_date[..8]
    {
        return Err(format!("{case}: Authorization scope {auth:?} != context"));
    }
    if wire.header("x-amz-date") != Some(ctx.amz_date.as_str()) {
        return Err(format!("{case}: X-Amz-Date is not the context timestamp"));
    }
    let sha_header = wire.header("x-amz-content-sha256").is_some();
    if sha_header != ctx.sign_body {
        return Err(format!(
            "{case}: sign_body={} but header={sha_header}",
            ctx.sign_body
        ));
    }

    let creq = canonical_request_with_options(&wire.wire(), &auth.signed_headers, opts)
        .map_err(|e| format!("canonical_request: {e}"))?;
    expect_eq(
        "header canonical request",
        &read_expected(case, "header-canonical-request.txt")?,
        &creq,
    )?;
    let creq_ows = canonical_request_with_options(&wire_ows.wire(), &auth.signed_headers, opts)
        .map_err(|e| format!("canonical_request (OWS stripped): {e}"))?;
    expect_eq("canonical request with OWS stripped", &creq, &creq_ows)?;

    let sts = string_to_sign(&ctx.amz_date, &auth.scope(), &creq);
    expect_eq(
        "header string to sign",
        &read_expected(case, "header-string-to-sign.txt")?,
        &sts,
    )?;
    let sig = signature(secret, &auth.date, &auth.region, &auth.service, &sts);
    expect_eq(
        "header signature",
        &read_expected(case, "header-signature.txt")?,
        &sig,
    )?;
    expect_eq("Authorization signature", &auth.signature, &sig)?;

    // verify() end to end. It always normalises the path (KMS is not S3), so
    // an unnormalized case verifies only when normalising changes nothing.
    let lookup = |id: &str| (id == SUITE_AKID).then(|| SUITE_SECRET.as_bytes().to_vec());
    let has_token = ctx.token.is_some();
    let normalized_creq = canonical_request(&wire.wire(), &auth.signed_headers)
        .map_err(|e| format!("canonical_request (normalized): {e}"))?;
    let expected: Result<String, SigV4Error> = if has_token && ctx.omit_session_token {
        // The token was added after signing: refuse an unsigned token.
        Err(SigV4Error::UnsignedHeader("x-amz-security-token".into()))
    } else if normalized_creq != creq {
        Err(SigV4Error::SignatureMismatch)
    } else {
        Ok(SUITE_AKID.to_string())
    };
    let cfg = cfg_for(&ctx.service, &ctx.region, has_token);
    let got = verify(&wire.wire(), &cfg, SUITE_NOW, &lookup);
    if got != expected {
        return Err(format!("verify: expected {expected:?}, got {got:?}"));
    }
    if has_token {
        let got = verify(
            &wire.wire(),
            &cfg_for(&ctx.service, &ctx.region, false),
            SUITE_NOW,
            &lookup,
        );
        if got != Err(SigV4Error::SecurityTokenNotSupported) {
            return Err(format!("verify without token support: got {got:?}"));
        }
    }

    // --- Query signing (presigned URL): same canonicalisation, with the
    // signature (and a token added after signing) removed from the query.
    let qraw = read_case_file(case, "query-signed-request.txt")?;
    let mut qreq = parse_raw(&qraw, false)?;
    let presigned = qreq.wire();
    if verify(&presigned, &cfg, SUITE_NOW, &lookup) != Err(SigV4Error::PresignedUrlNotSupported) {
        return Err("verify accepted a presigned URL".into());
    }
    let mut qsig = None;
    let mut qdate = None;
    let mut qsigned = None;
    let mut kept = Vec::new();
    for piece in qreq.query.split('&') {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let decoded = query_pairs(piece)
            .next()
            .map(|(_, v)| String::from_utf8_lossy(&v).into_owned());
        match k {
            "X-Amz-Signature" => {
                qsig = Some(v.to_string());
                continue;
            }
            "X-Amz-Security-Token" if ctx.omit_session_token => continue,
            "X-Amz-Date" => qdate = decoded,
            "X-Amz-SignedHeaders" => qsigned = decoded,
            _ => {}
        }
        kept.push(piece);
    }
    qreq.query = kept.join("&");
    let qsigned: Vec<String> = qsigned
        .ok_or("no X-Amz-SignedHeaders")?
        .split(';')
        .map(str::to_string)
        .collect();
    let qdate = qdate.ok_or("no X-Amz-Date")?;
    let qcreq = canonical_request_with_options(&qreq.wire(), &qsigned, opts)
        .map_err(|e| format!("query canonical_request: {e}"))?;
    expect_eq(
        "query canonical request",
        &read_expected(case, "query-canonical-request.txt")?,
        &qcreq,
    )?;
    let qsts = string_to_sign(&qdate, &auth.scope(), &qcreq);
    expect_eq(
        "query string to sign",
        &read_expected(case, "query-string-to-sign.txt")?,
        &qsts,
    )?;
    let qs = signature(secret, &auth.date, &auth.region, &auth.service, &qsts);
    expect_eq(
        "query signature",
        &read_expected(case, "query-signature.txt")?,
        &qs,
    )?;
    expect_eq("X-Amz-Signature", qsig.as_deref().unwrap_or(""), &qs)?;
    Ok(())
}

/// `double-url-encode`: a Lambda request (us-east-2, 2021-05-11T15:40:45Z)
/// whose path holds `%3A`, which must be encoded again (`%253A`).
fn run_double_url_encode() -> Result<(), String> {
    let case = "double-url-encode";
    let req = parse_raw(&read_case_file(case, "request.txt")?, false)?;
    let signed = parse_raw(&read_case_file(case, "header-signed-request.txt")?, false)?;
    let auth = parse_authorization(signed.header("authorization").ok_or("no Authorization")?)
        .map_err(|e| format!("parse_authorization: {e}"))?;
    let creq = canonical_request(&req.wire(), &auth.signed_headers)
        .map_err(|e| format!("canonical_request: {e}"))?;
    expect_eq(
        "canonical request",
        &read_expected(case, "header-canonical-request.txt")?,
        &creq,
    )?;
    let amz_date = req.header("x-amz-date").ok_or("no X-Amz-Date")?;
    let sts = string_to_sign(amz_date, &auth.scope(), &creq);
    expect_eq(
        "string to sign",
        &read_expected(case, "header-string-to-sign.txt")?,
        &sts,
    )?;
    let sig = signature(
        SUITE_SECRET.as_bytes(),
        &auth.date,
        &auth.region,
        &auth.service,
        &sts,
    );
    expect_eq("signature", &auth.signature, &sig)?;
    let now = parse_amz_date(amz_date).map_err(|e| e.to_string())?;
    let lookup = |id: &str| (id == SUITE_AKID).then(|| SUITE_SECRET.as_bytes().to_vec());
    let got = verify(
        &signed.wire(),
        &cfg_for("lambda", "us-east-2", false),
        now,
        &lookup,
    );
    if got != Ok(SUITE_AKID.to_string()) {
        return Err(format!("verify: {got:?}"));
    }
    Ok(())
}

/// `double-encode-path`: `@` and `%3D` in the path. The canonical request
/// file was produced by aws-sigv4's own test, which signs at
/// 20210511T154045Z and so overwrites `X-Amz-Date` with that time; the signed
/// request was signed at the suite time with `Credentials::for_tests()`.
fn run_double_encode_path() -> Result<(), String> {
    let case = "double-encode-path";
    let mut req = parse_raw(&read_case_file(case, "request.txt")?, false)?;
    req.set_header("x-amz-date", "20210511T154045Z");
    let signed_headers = vec!["host".to_string(), "x-amz-date".to_string()];
    let creq = canonical_request(&req.wire(), &signed_headers)
        .map_err(|e| format!("canonical_request: {e}"))?;
    expect_eq(
        "canonical request",
        &read_expected(case, "header-canonical-request.txt")?,
        &creq,
    )?;

    let signed = parse_raw(&read_case_file(case, "header-signed-request.txt")?, false)?;
    let lookup = |id: &str| (id == ANOTREAL_AKID).then(|| ANOTREAL_SECRET.as_bytes().to_vec());
    let got = verify(
        &signed.wire(),
        &cfg_for("service", "us-east-1", false),
        SUITE_NOW,
        &lookup,
    );
    if got != Ok(ANOTREAL_AKID.to_string()) {
        return Err(format!("verify: {got:?}"));
    }
    Ok(())
}

#[test]
fn aws_signing_test_suite_v4_all_cases_pass() {
    let mut found: Vec<String> = std::fs::read_dir(SUITE_DIR)
        .expect("the vendored suite folder exists")
        .map(|e| e.expect("readable dir entry"))
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, SUITE_CASES.to_vec(), "vendored case folders changed");
    assert_eq!(found.len(), 40);

    let mut passed = 0usize;
    let mut failures = Vec::new();
    for case in &found {
        let result = match case.as_str() {
            "double-url-encode" => run_double_url_encode(),
            "double-encode-path" => run_double_encode_path(),
            _ => run_full_case(case),
        };
        match result {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("[{case}] {e}")),
        }
    }
    println!(
        "aws-signing-test-suite/v4: {passed}/{} cases passed",
        found.len()
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n\n")
    );
    assert_eq!(passed, SUITE_CASES.len());
}

// ---------------------------------------------------------------------------
// Canonicalisation details
// ---------------------------------------------------------------------------

#[test]
fn canonical_uri_normalizes_then_encodes_again() {
    assert_eq!(canonical_uri("", true), "/");
    assert_eq!(canonical_uri("/", true), "/");
    assert_eq!(canonical_uri("//a/./b/../c/", true), "/a/c/");
    assert_eq!(canonical_uri("/a/b/..", true), "/a/");
    assert_eq!(canonical_uri("/a/b/.", true), "/a/b/");
    assert_eq!(canonical_uri("/../../x", true), "/x");
    // Encoded dots are data, not dot segments; '%' is encoded again.
    assert_eq!(canonical_uri("/a/%2E%2E/b", true), "/a/%252E%252E/b");
    assert_eq!(canonical_uri("/key%2Fid", true), "/key%252Fid");
    assert_eq!(canonical_uri("/a b/é", true), "/a%20b/%C3%A9");
    assert_eq!(canonical_uri("//a//", false), "//a//");
}

#[test]
fn canonical_query_decodes_sorts_and_reencodes() {
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=");
    assert_eq!(canonical_query("k=a+b&k2=%7e%2f"), "k=a%20b&k2=~%2F");
    assert_eq!(canonical_query("&&x=1&&"), "x=1");
    // A '%' not followed by two hex digits is taken literally.
    assert_eq!(canonical_query("p=%zz&q=%4"), "p=%25zz&q=%254");
    assert_eq!(canonical_query("%E1%88%B4=v"), "%E1%88%B4=v");
}

#[test]
fn canonical_headers_trim_collapse_and_join_in_order() {
    let headers = vec![
        ("Host".to_string(), "  example.com ".to_string()),
        ("X-Multi".to_string(), "b".to_string()),
        ("x-multi".to_string(), "  a   c  ".to_string()),
        ("X-Empty".to_string(), String::new()),
        ("X-Amz-Date".to_string(), "20150830T123600Z".to_string()),
    ];
    let req = WireRequest {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
        body: b"",
    };
    let signed: Vec<String> = ["host", "x-amz-date", "x-empty", "x-multi"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let creq = canonical_request(&req, &signed).expect("canonical request");
    assert_eq!(
        creq,
        "GET\n/\n\nhost:example.com\nx-amz-date:20150830T123600Z\nx-empty:\nx-multi:b,a c\n\n\
         host;x-amz-date;x-empty;x-multi\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // A signed header that is absent is an error, not an empty value.
    let mut more = signed.clone();
    more.push("x-nope".into());
    assert_eq!(
        canonical_request(&req, &more),
        Err(SigV4Error::MissingSignedHeader("x-nope".into()))
    );
    // The list must be sorted and unique.
    let unsorted = vec!["x-amz-date".to_string(), "host".to_string()];
    assert!(matches!(
        canonical_request(&req, &unsorted),
        Err(SigV4Error::MalformedAuthorization(_))
    ));
}

#[test]
fn amz_date_parsing() {
    assert_eq!(parse_amz_date("20150830T123600Z"), Ok(SUITE_NOW));
    assert_eq!(parse_amz_date("19700101T000000Z"), Ok(0));
    assert_eq!(parse_amz_date("20160229T000000Z"), Ok(1_456_704_000));
    for bad in [
        "",
        "20150830T123600",
        "20150830t123600Z",
        "20150830T123600z",
        "2015-08-30T12:36:00Z",
        "20151330T123600Z",
        "20150230T123600Z",
        "20150229T000000Z",
        "20150800T000000Z",
        "20150830T240000Z",
        "20150830T126000Z",
        "20150830T123660Z",
        "2015083aT123600Z",
        "20150830T12360éZ",
        "20150830ééé3600Z",
        "+0150830T123600Z",
    ] {
        assert!(
            matches!(parse_amz_date(bad), Err(SigV4Error::BadDate(_))),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn signature_matches_the_aws_documentation_example() {
    // The worked example of the AWS SigV4 documentation (IAM ListUsers).
    let creq = "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
                content-type:application/x-www-form-urlencoded; charset=utf-8\n\
                host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                content-type;host;x-amz-date\n\
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let sts = string_to_sign(
        "20150830T123600Z",
        "20150830/us-east-1/iam/aws4_request",
        creq,
    );
    assert!(sts.ends_with("f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"));
    assert_eq!(
        signature(
            SUITE_SECRET.as_bytes(),
            "20150830",
            "us-east-1",
            "iam",
            &sts
        ),
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

// ---------------------------------------------------------------------------
// verify(): a signed KMS request and everything that must break it
// ---------------------------------------------------------------------------

const AKID: &str = "SRAKTESTACCESSKEY0001";
const SECRET: &str = "CANARY-sigv4-secret-2b7e151628aed2a6abf71589";
const T0: &str = "20150830T123600Z";
const REGION: &str = "us-east-1";
const BODY: &[u8] = br#"{"KeyId":"alias/app","Plaintext":"aGVsbG8="}"#;

fn lookup(id: &str) -> Option<Vec<u8>> {
    (id == AKID).then(|| SECRET.as_bytes().to_vec())
}

/// A KMS Encrypt request signed the way the AWS SDKs sign it.
struct Signed {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    query: String,
}

impl Signed {
    fn wire(&self) -> WireRequest<'_> {
        WireRequest {
            method: "POST",
            path: "/",
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn authorization(&self) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k == "Authorization")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn set_authorization(&mut self, value: &str) {
        self.headers.retain(|(k, _)| k != "Authorization");
        self.headers.push(("Authorization".into(), value.into()));
    }

    fn verify(&self, cfg: &VerifyConfig, now: i64) -> Result<String, SigV4Error> {
        verify(&self.wire(), cfg, now, &lookup)
    }
}

struct SignSpec<'a> {
    akid: &'a str,
    secret: &'a str,
    amz_date: &'a str,
    scope_date: Option<&'a str>,
    region: &'a str,
    service: &'a str,
    extra_headers: Vec<(&'a str, &'a str)>,
    signed: Vec<&'a str>,
}

impl Default for SignSpec<'_> {
    fn default() -> Self {
        SignSpec {
            akid: AKID,
            secret: SECRET,
            amz_date: T0,
            scope_date: None,
            region: REGION,
            service: "kms",
            extra_headers: Vec::new(),
            signed: vec!["content-type", "host", "x-amz-date", "x-amz-target"],
        }
    }
}

fn sign(spec: SignSpec<'_>) -> Signed {
    let mut headers: Vec<(String, String)> = vec![
        ("Host".into(), "kms.us-east-1.amazonaws.com".into()),
        ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ("X-Amz-Target".into(), "TrentService.Encrypt".into()),
        ("X-Amz-Date".into(), spec.amz_date.into()),
        ("Content-Length".into(), BODY.len().to_string()),
    ];
    for (k, v) in &spec.extra_headers {
        headers.push((k.to_string(), v.to_string()));
    }
    let mut signed = Signed {
        headers,
        body: BODY.to_vec(),
        query: String::new(),
    };
    let names: Vec<String> = spec.signed.iter().map(|s| s.to_string()).collect();
    let creq = canonical_request(&signed.wire(), &names).expect("canonical request");
    let date = spec.scope_date.unwrap_or(&spec.amz_date[..8]);
    let scope = format!("{date}/{}/{}/aws4_request", spec.region, spec.service);
    let sts = string_to_sign(spec.amz_date, &scope, &creq);
    let sig = signature(
        spec.secret.as_bytes(),
        date,
        spec.region,
        spec.service,
        &sts,
    );
    signed.headers.push((
        "Authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
            spec.akid,
            names.join(";")
        ),
    ));
    signed
}

fn kms_cfg() -> VerifyConfig {
    VerifyConfig {
        region: Some(REGION.to_string()),
        ..VerifyConfig::default()
    }
}

/// No error text may contain the secret.
fn assert_no_canary(err: &SigV4Error) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(SECRET), "secret leaked into {text}");
    assert!(!text.contains("CANARY"), "secret leaked into {text}");
}

#[test]
fn default_config_is_the_kms_front_end() {
    let cfg = VerifyConfig::default();
    assert_eq!(cfg.service, "kms");
    assert_eq!(cfg.region, None);
    assert_eq!(cfg.max_skew_secs, 300);
    assert_eq!(
        cfg.required_signed_headers,
        vec!["host", "x-amz-date", "x-amz-target"]
    );
    assert!(!cfg.allow_security_token);
}

#[test]
fn a_correctly_signed_kms_request_verifies() {
    let req = sign(SignSpec::default());
    assert_eq!(req.verify(&kms_cfg(), SUITE_NOW), Ok(AKID.to_string()));
    assert_eq!(
        req.verify(&VerifyConfig::default(), SUITE_NOW),
        Ok(AKID.to_string())
    );
}

#[test]
fn header_names_match_in_any_case() {
    let mut req = sign(SignSpec::default());
    for (k, _) in &mut req.headers {
        *k = match k.as_str() {
            "Host" => "HOST".into(),
            "X-Amz-Date" => "x-AMZ-date".into(),
            "Authorization" => "authorization".into(),
            other => other.to_ascii_lowercase(),
        };
    }
    assert_eq!(req.verify(&kms_cfg(), SUITE_NOW), Ok(AKID.to_string()));
}

#[test]
fn a_flipped_signature_digit_is_a_mismatch() {
    let mut req = sign(SignSpec::default());
    let authz = req.authorization();
    let last = authz.chars().last().expect("non-empty");
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &authz[..authz.len() - 1]);
    req.set_authorization(&tampered);
    let err = req.verify(&kms_cfg(), SUITE_NOW).expect_err("must fail");
    assert_eq!(err, SigV4Error::SignatureMismatch);
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    assert_no_canary(&err);
}

#[test]
fn unknown_key_and_wrong_secret_are_indistinguishable() {
    let wrong_secret = sign(SignSpec {
        secret: "some-other-secret",
        ..SignSpec::default()
    });
    let unknown_key = sign(SignSpec {
        akid: "SRAKNOSUCHKEY",
        ..SignSpec::default()
    });
    let a = wrong_secret
        .verify(&kms_cfg(), SUITE_NOW)
        .expect_err("wrong secret");
    let b = unknown_key
        .verify(&kms_cfg(), SUITE_NOW)
        .expect_err("unknown key");
    assert_eq!(a, SigV4Error::SignatureMismatch);
    assert_eq!(a, b);
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!(a.aws_error_type(), b.aws_error_type());
    assert_eq!(a.http_status(), b.http_status());
    assert!(!b.to_string().contains("SRAKNOSUCHKEY"));
    assert_no_canary(&a);
}

#[test]
fn tampering_with_signed_content_is_a_mismatch() {
    let cfg = kms_cfg();
    let mut body = sign(SignSpec::default());
    body.body = br#"{"KeyId":"alias/other","Plaintext":"aGVsbG8="}"#.to_vec();
    assert_eq!(
        body.verify(&cfg, SUITE_NOW),
        Err(SigV4Error::SignatureMismatch)
    );

    let mut target = sign(SignSpec::default());
    target.headers[2].1 = "TrentService.Decrypt".into();
    assert_eq!(
        target.verify(&cfg, SUITE_NOW),
        Err(SigV4Error::SignatureMismatch)
    );

    let mut host = sign(SignSpec::default());
    host.headers[0].1 = "kms.eu-west-1.amazonaws.com".into();
    assert_eq!(
        host.verify(&cfg, SUITE_NOW),
        Err(SigV4Error::SignatureMismatch)
    );

    let mut query = sign(SignSpec::default());
    query.query = "x=1".into();
    assert_eq!(
        query.verify(&cfg, SUITE_NOW),
        Err(SigV4Error::SignatureMismatch)
    );

    // A repeated signed header changes its canonical value.
    let mut repeated = sign(SignSpec::default());
    repeated
        .headers
        .push(("X-Amz-Target".into(), "TrentService.Decrypt".into()));
    assert_eq!(
        repeated.verify(&cfg, SUITE_NOW),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn x_amz_target_must_be_signed() {
    let req = sign(SignSpec {
        signed: vec!["content-type", "host", "x-amz-date"],
        ..SignSpec::default()
    });
    let err = req
        .verify(&kms_cfg(), SUITE_NOW)
        .expect_err("unsigned target");
    assert_eq!(err, SigV4Error::UnsignedHeader("x-amz-target".into()));
    assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
    assert!(err.to_string().contains("x-amz-target"));
    // Not required by configuration: accepted.
    let cfg = VerifyConfig {
        required_signed_headers: vec!["HOST".into(), "X-Amz-Date".into()],
        ..kms_cfg()
    };
    assert_eq!(req.verify(&cfg, SUITE_NOW), Ok(AKID.to_string()));
}

#[test]
fn host_and_date_must_be_signed_whatever_the_config() {
    let cfg = VerifyConfig {
        required_signed_headers: Vec::new(),
        ..kms_cfg()
    };
    let no_host = sign(SignSpec {
        signed: vec!["content-type", "x-amz-date", "x-amz-target"],
        ..SignSpec::default()
    });
    assert_eq!(
        no_host.verify(&cfg, SUITE_NOW),
        Err(SigV4Error::UnsignedHeader("host".into()))
    );
    let no_date = sign(SignSpec {
        signed: vec!["content-type", "host", "x-amz-target"],
        ..SignSpec::default()
    });
    assert_eq!(
        no_date.verify(&cfg, SUITE_NOW),
        Err(SigV4Error::UnsignedHeader("x-amz-date".into()))
    );
}

#[test]
fn clock_skew_window_both_directions_and_boundary() {
    let req = sign(SignSpec::default());
    let cfg = kms_cfg();
    // Exactly at the boundary: inside.
    assert_eq!(req.verify(&cfg, SUITE_NOW + 300), Ok(AKID.to_string()));
    assert_eq!(req.verify(&cfg, SUITE_NOW - 300), Ok(AKID.to_string()));
    // One second past it, either way.
    let late = req.verify(&cfg, SUITE_NOW + 301).expect_err("expired");
    assert_eq!(late, SigV4Error::ClockSkew { skew_secs: 301 });
    assert_eq!(late.aws_error_type(), "InvalidSignatureException");
    assert!(late.to_string().starts_with("Signature expired"), "{late}");
    let early = req.verify(&cfg, SUITE_NOW - 301).expect_err("future");
    assert_eq!(early, SigV4Error::ClockSkew { skew_secs: -301 });
    assert_eq!(early.aws_error_type(), "InvalidSignatureException");
    assert!(
        early.to_string().starts_with("Signature not yet current"),
        "{early}"
    );
    // Far away and extreme clocks do not overflow.
    assert!(matches!(
        req.verify(&cfg, i64::MAX),
        Err(SigV4Error::ClockSkew { .. })
    ));
    assert!(matches!(
        req.verify(&cfg, i64::MIN),
        Err(SigV4Error::ClockSkew { .. })
    ));
    // A configured window.
    let tight = VerifyConfig {
        max_skew_secs: 60,
        ..kms_cfg()
    };
    assert_eq!(req.verify(&tight, SUITE_NOW + 60), Ok(AKID.to_string()));
    assert_eq!(
        req.verify(&tight, SUITE_NOW + 61),
        Err(SigV4Error::ClockSkew { skew_secs: 61 })
    );
}

#[test]
fn scope_date_must_be_the_x_amz_date_date() {
    let req = sign(SignSpec {
        scope_date: Some("20150829"),
        ..SignSpec::default()
    });
    let err = req.verify(&kms_cfg(), SUITE_NOW).expect_err("scope date");
    assert_eq!(err, SigV4Error::ScopeDateMismatch);
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
}

#[test]
fn wrong_service_is_refused() {
    let req = sign(SignSpec {
        service: "s3",
        ..SignSpec::default()
    });
    let err = req.verify(&kms_cfg(), SUITE_NOW).expect_err("service");
    assert_eq!(err, SigV4Error::WrongService("s3".into()));
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    assert!(err.to_string().contains("'s3'"));
}

#[test]
fn region_is_checked_only_when_configured() {
    let req = sign(SignSpec {
        region: "eu-west-1",
        ..SignSpec::default()
    });
    let err = req.verify(&kms_cfg(), SUITE_NOW).expect_err("region");
    assert_eq!(err, SigV4Error::WrongRegion("eu-west-1".into()));
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    let any = VerifyConfig {
        region: None,
        ..kms_cfg()
    };
    assert_eq!(req.verify(&any, SUITE_NOW), Ok(AKID.to_string()));
    let local = sign(SignSpec {
        region: "local",
        ..SignSpec::default()
    });
    assert_eq!(local.verify(&any, SUITE_NOW), Ok(AKID.to_string()));
}

#[test]
fn security_token_is_refused_unless_allowed_and_signed() {
    let token = "FQoGZXIvYXdzEXAMPLETOKEN";
    let signed_token = sign(SignSpec {
        extra_headers: vec![("X-Amz-Security-Token", token)],
        signed: vec![
            "content-type",
            "host",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-target",
        ],
        ..SignSpec::default()
    });
    let err = signed_token
        .verify(&kms_cfg(), SUITE_NOW)
        .expect_err("token");
    assert_eq!(err, SigV4Error::SecurityTokenNotSupported);
    assert_eq!(err.aws_error_type(), "UnrecognizedClientException");
    let allow = VerifyConfig {
        allow_security_token: true,
        ..kms_cfg()
    };
    assert_eq!(signed_token.verify(&allow, SUITE_NOW), Ok(AKID.to_string()));

    // Added after signing (not covered by the signature).
    let unsigned_token = sign(SignSpec {
        extra_headers: vec![("x-amz-security-token", token)],
        ..SignSpec::default()
    });
    assert_eq!(
        unsigned_token.verify(&kms_cfg(), SUITE_NOW),
        Err(SigV4Error::SecurityTokenNotSupported)
    );
    assert_eq!(
        unsigned_token.verify(&allow, SUITE_NOW),
        Err(SigV4Error::UnsignedHeader("x-amz-security-token".into()))
    );

    // In the query string.
    let mut in_query = sign(SignSpec::default());
    in_query.query = format!("X-Amz-Security-Token={token}");
    assert_eq!(
        in_query.verify(&kms_cfg(), SUITE_NOW),
        Err(SigV4Error::SecurityTokenNotSupported)
    );
}

#[test]
fn missing_or_repeated_authorization_and_date() {
    let cfg = kms_cfg();
    let mut none = sign(SignSpec::default());
    none.headers.retain(|(k, _)| k != "Authorization");
    let err = none.verify(&cfg, SUITE_NOW).expect_err("no auth");
    assert_eq!(err, SigV4Error::MissingAuthorization);
    assert_eq!(err.aws_error_type(), "MissingAuthenticationTokenException");

    let mut twice = sign(SignSpec::default());
    let authz = twice.authorization();
    twice.headers.push(("authorization".into(), authz));
    assert_eq!(
        twice.verify(&cfg, SUITE_NOW),
        Err(SigV4Error::DuplicateHeader("authorization".into()))
    );

    let mut no_date = sign(SignSpec::default());
    no_date.headers.retain(|(k, _)| k != "X-Amz-Date");
    let err = no_date.verify(&cfg, SUITE_NOW).expect_err("no date");
    assert_eq!(err, SigV4Error::MissingDate);
    assert_eq!(err.aws_error_type(), "IncompleteSignatureException");

    let mut two_dates = sign(SignSpec::default());
    two_dates
        .headers
        .push(("x-amz-date".into(), "20150830T123601Z".into()));
    assert_eq!(
        two_dates.verify(&cfg, SUITE_NOW),
        Err(SigV4Error::DuplicateHeader("x-amz-date".into()))
    );

    let mut bad_date = sign(SignSpec::default());
    bad_date.headers[3].1 = "2015-08-30T12:36:00Z".into();
    let err = bad_date.verify(&cfg, SUITE_NOW).expect_err("bad date");
    assert!(matches!(err, SigV4Error::BadDate(_)), "{err:?}");
    assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
}

#[test]
fn a_signed_header_absent_from_the_request_is_refused() {
    let mut req = sign(SignSpec::default());
    req.headers.retain(|(k, _)| k != "Content-Type");
    let err = req.verify(&kms_cfg(), SUITE_NOW).expect_err("absent");
    assert_eq!(err, SigV4Error::MissingSignedHeader("content-type".into()));
    assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
}

#[test]
fn content_sha256_must_match_the_body() {
    let hash = super::crypto::sha256_hex(BODY);
    let signed = vec![
        "content-type",
        "host",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-target",
    ];
    let good = sign(SignSpec {
        extra_headers: vec![("X-Amz-Content-Sha256", hash.as_str())],
        signed: signed.clone(),
        ..SignSpec::default()
    });
    assert_eq!(good.verify(&kms_cfg(), SUITE_NOW), Ok(AKID.to_string()));

    // The header is signed, the body is swapped: the header no longer matches.
    let mut swapped = sign(SignSpec {
        extra_headers: vec![("X-Amz-Content-Sha256", hash.as_str())],
        signed: signed.clone(),
        ..SignSpec::default()
    });
    swapped.body = b"{}".to_vec();
    assert_eq!(
        swapped.verify(&kms_cfg(), SUITE_NOW),
        Err(SigV4Error::ContentSha256Mismatch)
    );

    let unsigned_payload = sign(SignSpec {
        extra_headers: vec![("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")],
        signed,
        ..SignSpec::default()
    });
    assert_eq!(
        unsigned_payload.verify(&kms_cfg(), SUITE_NOW),
        Err(SigV4Error::ContentSha256Mismatch)
    );
}

#[test]
fn presigned_urls_are_refused() {
    let mut req = sign(SignSpec::default());
    req.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00".into();
    let err = req.verify(&kms_cfg(), SUITE_NOW).expect_err("presigned");
    assert_eq!(err, SigV4Error::PresignedUrlNotSupported);
    assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
}

fn valid_authz() -> String {
    sign(SignSpec::default()).authorization()
}

#[test]
fn parse_authorization_accepts_the_sdk_format() {
    let a = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    )
    .expect("valid");
    assert_eq!(a.access_key_id, "AKIDEXAMPLE");
    assert_eq!(a.date, "20150830");
    assert_eq!(a.region, "us-east-1");
    assert_eq!(a.service, "service");
    assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
    assert_eq!(
        a.signature,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert_eq!(a.scope(), "20150830/us-east-1/service/aws4_request");
    // Without spaces after the commas, and in another order.
    let b = parse_authorization(
        "AWS4-HMAC-SHA256 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31,\
         SignedHeaders=host;x-amz-date,Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
    )
    .expect("valid");
    assert_eq!(a, b);
}

#[test]
fn malformed_authorization_is_an_error_not_a_panic() {
    let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let cred = "Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request";
    let sh = "SignedHeaders=host;x-amz-date;x-amz-target";
    let long_garbage = "A".repeat(1 << 20);
    let long_headers = format!(
        "AWS4-HMAC-SHA256 {cred}, SignedHeaders={}, Signature={sig}",
        (0..100)
            .map(|i| format!("h{i:03}"))
            .collect::<Vec<_>>()
            .join(";")
    );
    let cases: Vec<String> = vec![
        String::new(),
        " ".into(),
        "garbage".into(),
        "\u{0}\u{1}\u{7f}\u{ff}\u{fffd}".into(),
        "Bearer abcdef".into(),
        "AWS4-HMAC-SHA256".into(),
        "AWS4-HMAC-SHA256 ".into(),
        "AWS4-HMAC-SHA256 ,,,".into(),
        format!("AWS4-HMAC-SHA512 {cred}, {sh}, Signature={sig}"),
        format!("AWS4-ECDSA-P256-SHA256 {cred}, {sh}, Signature={sig}"),
        format!("aws4-hmac-sha256 {cred}, {sh}, Signature={sig}"),
        format!("AWS {cred}, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}"),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature="),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature={}", "z".repeat(64)),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature={}", &sig[..63]),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature={sig}0"),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature={}", sig.to_uppercase()),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature={sig}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, {cred}, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature={sig}, Extra=1"),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature={sig},"),
        format!("AWS4-HMAC-SHA256 {cred},, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred} {sh} Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms, {sh}, Signature={sig}"),
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request/x, {sh}, \
             Signature={sig}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws5_request, {sh}, \
             Signature={sig}"
        ),
        format!("AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/kms/aws4_request, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AKID/2015083/us-east-1/kms/aws4_request, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AKID/2015-08-30/us-east-1/kms/aws4_request, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AKID/20150830//kms/aws4_request, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AKID/20150830/us east/kms/aws4_request, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1//aws4_request, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=ключ/20150830/us-east-1/kms/aws4_request, {sh}, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=x-amz-date;host, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;host;x-amz-date, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=Host;x-amz-date, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;;x-amz-date, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=authorization;host, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host x-amz-date, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=h\u{e9};host, Signature={sig}"),
        long_headers,
        long_garbage.clone(),
        format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature={sig}{long_garbage}"),
    ];
    for value in &cases {
        let err = parse_authorization(value).expect_err("must be refused");
        assert!(
            matches!(err, SigV4Error::MalformedAuthorization(_)),
            "{value:.80?} -> {err:?}"
        );
        assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
        let msg = err.to_string();
        assert!(msg.starts_with("Malformed Authorization header: "));
        assert!(msg.len() < 400, "message too long: {msg}");

        // Through verify() too.
        let mut req = sign(SignSpec::default());
        req.set_authorization(value);
        let err = req
            .verify(&kms_cfg(), SUITE_NOW)
            .expect_err("verify refuses");
        assert!(
            matches!(err, SigV4Error::MalformedAuthorization(_)),
            "{value:.80?} -> {err:?}"
        );
    }
}

#[test]
fn every_prefix_and_byte_mutation_of_a_valid_header_is_handled() {
    let valid = valid_authz();
    assert!(parse_authorization(&valid).is_ok());
    for end in 0..valid.len() {
        if valid.is_char_boundary(end) {
            assert!(
                parse_authorization(&valid[..end]).is_err(),
                "prefix {end} accepted"
            );
        }
    }
    let bytes = valid.as_bytes();
    for i in 0..bytes.len() {
        for replacement in [b' ', b',', b'=', b'/', b';', b'A', b'0', 0u8, 0x7f] {
            let mut m = bytes.to_vec();
            m[i] = replacement;
            let s = String::from_utf8_lossy(&m);
            // Must not panic; a mutation may still be well-formed.
            let _ = parse_authorization(&s);
            let mut req = sign(SignSpec::default());
            req.set_authorization(&s);
            let r = req.verify(&kms_cfg(), SUITE_NOW);
            if s != valid {
                assert!(r.is_err(), "mutation at {i} verified: {s}");
            }
        }
    }
}

#[test]
fn error_types_and_messages() {
    let all = [
        SigV4Error::MissingAuthorization,
        SigV4Error::MalformedAuthorization("x".into()),
        SigV4Error::MissingDate,
        SigV4Error::BadDate("x".into()),
        SigV4Error::WrongService("s3".into()),
        SigV4Error::WrongRegion("eu-west-1".into()),
        SigV4Error::ScopeDateMismatch,
        SigV4Error::ClockSkew { skew_secs: 400 },
        SigV4Error::ClockSkew { skew_secs: -400 },
        SigV4Error::UnsignedHeader("x-amz-target".into()),
        SigV4Error::MissingSignedHeader("content-type".into()),
        SigV4Error::DuplicateHeader("x-amz-date".into()),
        SigV4Error::SecurityTokenNotSupported,
        SigV4Error::PresignedUrlNotSupported,
        SigV4Error::ContentSha256Mismatch,
        SigV4Error::SignatureMismatch,
    ];
    for e in &all {
        assert!(!e.to_string().is_empty());
        assert!((400..500).contains(&e.http_status()));
        let t = e.aws_error_type();
        assert!(
            [
                "MissingAuthenticationTokenException",
                "IncompleteSignatureException",
                "InvalidSignatureException",
                "UnrecognizedClientException",
            ]
            .contains(&t),
            "{t}"
        );
        let _: &dyn std::error::Error = e;
    }
    assert_eq!(
        SigV4Error::SignatureMismatch.to_string(),
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method."
    );
    assert!(SigV4Error::ClockSkew { skew_secs: 400 }
        .to_string()
        .contains("400 seconds behind"));
    assert!(SigV4Error::ClockSkew { skew_secs: -400 }
        .to_string()
        .contains("400 seconds ahead"));
}

#[test]
fn wire_request_debug_hides_values_and_body() {
    let req = sign(SignSpec::default());
    let dbg = format!("{:?}", req.wire());
    assert!(dbg.contains("x-amz-target") || dbg.contains("X-Amz-Target"));
    assert!(!dbg.contains("Plaintext"));
    assert!(!dbg.contains("Signature="));
}
