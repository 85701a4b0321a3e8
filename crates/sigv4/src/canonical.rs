//! The SigV4 canonical request, rebuilt from the request as received.

use super::crypto::sha256_hex;
use super::{SigV4Error, WireRequest};

/// How to canonicalise the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalOptions {
    /// Normalise the URI path (remove `.`/`..` segments and empty segments)
    /// before encoding it. True for every AWS service except S3; KMS uses it.
    pub normalize_path: bool,
}

impl Default for CanonicalOptions {
    fn default() -> Self {
        CanonicalOptions {
            normalize_path: true,
        }
    }
}

/// Header carrying the client's payload hash.
pub(crate) const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// The canonical request for `req`, with the URI path normalised (the rule for
/// every service but S3, so for KMS).
///
/// `signed_headers` is the list from the `Authorization` header: lowercase,
/// sorted, without duplicates. Every listed header must be present.
pub fn canonical_request(
    req: &WireRequest,
    signed_headers: &[String],
) -> Result<String, SigV4Error> {
    canonical_request_with_options(req, signed_headers, CanonicalOptions::default())
}

/// [`canonical_request`] with explicit options (the suite's `normalize: false`
/// cases need `normalize_path: false`).
pub fn canonical_request_with_options(
    req: &WireRequest,
    signed_headers: &[String],
    opts: CanonicalOptions,
) -> Result<String, SigV4Error> {
    check_signed_header_list(signed_headers)?;

    let mut out = String::with_capacity(256 + req.path.len() + req.query.len());
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.path, opts.normalize_path));
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in signed_headers {
        let value = canonical_header_value(req.headers, name)
            .ok_or_else(|| SigV4Error::MissingSignedHeader(name.clone()))?;
        out.push_str(name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&payload_hash(req)?);
    Ok(out)
}

/// The payload hash line: the `x-amz-content-sha256` header if present (as
/// the signer put it there), else the hex SHA-256 of the body.
fn payload_hash(req: &WireRequest) -> Result<String, SigV4Error> {
    match single_header(req.headers, CONTENT_SHA256)? {
        Some(v) => Ok(v.trim_matches(' ').to_string()),
        None => Ok(sha256_hex(req.body)),
    }
}

/// The only value of header `name` (case-insensitive), `None` when absent,
/// an error when repeated.
pub(crate) fn single_header<'h>(
    headers: &'h [(String, String)],
    name: &str,
) -> Result<Option<&'h str>, SigV4Error> {
    let mut found = None;
    for (k, v) in headers {
        if k.eq_ignore_ascii_case(name) {
            if found.is_some() {
                return Err(SigV4Error::DuplicateHeader(name.to_string()));
            }
            found = Some(v.as_str());
        }
    }
    Ok(found)
}

/// The list must be non-empty, lowercase header names, strictly ascending
/// (so sorted and without duplicates), and must not include `authorization`.
pub(crate) fn check_signed_header_list(signed_headers: &[String]) -> Result<(), SigV4Error> {
    if signed_headers.is_empty() {
        return Err(SigV4Error::MalformedAuthorization(
            "SignedHeaders is empty; it must list at least 'host' and 'x-amz-date'".into(),
        ));
    }
    let mut prev: Option<&str> = None;
    for name in signed_headers {
        if name.is_empty() || !name.bytes().all(is_lower_token_byte) {
            return Err(SigV4Error::MalformedAuthorization(format!(
                "SignedHeaders entry {} is not a lowercase header name",
                super::authz::quote(name)
            )));
        }
        if name == "authorization" {
            return Err(SigV4Error::MalformedAuthorization(
                "SignedHeaders must not include 'authorization'".into(),
            ));
        }
        if let Some(p) = prev {
            if p >= name.as_str() {
                return Err(SigV4Error::MalformedAuthorization(
                    "SignedHeaders must be sorted and must not repeat a header name".into(),
                ));
            }
        }
        prev = Some(name);
    }
    Ok(())
}

/// An RFC 7230 `tchar`, lowercase letters only.
fn is_lower_token_byte(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// All values of header `name` (matched case-insensitively) in the order
/// received, each trimmed of spaces with runs of spaces collapsed, joined by
/// `,`. `None` if the header is absent.
fn canonical_header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for (_, v) in headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)) {
        match out.as_mut() {
            Some(s) => {
                s.push(',');
                push_trimmed_collapsed(s, v);
            }
            None => {
                let mut s = String::with_capacity(v.len());
                push_trimmed_collapsed(&mut s, v);
                out = Some(s);
            }
        }
    }
    out
}

/// Appends `v` with leading/trailing spaces removed and every run of spaces
/// collapsed to one (the SDKs' "trimall"; only U+0020 counts, as in the AWS
/// SDK for Rust, so all SDKs agree on real-world values).
fn push_trimmed_collapsed(out: &mut String, v: &str) {
    let mut prev_space = false;
    for c in v.trim_matches(' ').chars() {
        if c == ' ' {
            if !prev_space {
                out.push(' ');
            }
            prev_space = true;
        } else {
            out.push(c);
            prev_space = false;
        }
    }
}

/// The canonical URI: the raw (still percent-encoded) path, optionally
/// normalised, then each segment URI-encoded again. Encoding the received
/// path once more is AWS's "double encoding" rule for every service but S3.
pub(crate) fn canonical_uri(raw_path: &str, normalize: bool) -> String {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    let path = if normalize {
        normalize_path(path)
    } else {
        path.to_string()
    };
    let mut out = String::with_capacity(path.len() + 16);
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode_into(&mut out, segment.as_bytes());
    }
    out
}

/// RFC 3986 section 5.2.4 dot-segment removal plus merging of repeated
/// slashes, as the AWS SDKs do it: `//a/./b/../c/` becomes `/a/c/`.
fn normalize_path(path: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    out.push('/');
    out.push_str(&stack.join("/"));
    let trailing = ["/", "/.", "/.."].iter().any(|t| path.ends_with(t));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query string: parameters split on `&` and the first `=`,
/// percent-decoded (`+` is a space, as in form encoding), re-encoded with
/// the SigV4 rules, sorted by encoded name then encoded value, and joined as
/// `name=value` with `&`. A parameter without `=` gets an empty value.
pub(crate) fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(raw_query)
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(raw_query.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Decoded `(name, value)` pairs of a raw query string; empty pieces skipped.
pub(crate) fn query_pairs(raw_query: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    raw_query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// Percent-decodes `s`; `+` becomes a space; a `%` not followed by two hex
/// digits is kept literally.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// SigV4 URI encoding: every byte except the unreserved set
/// `A-Z a-z 0-9 - . _ ~` becomes `%XY` (uppercase hex); `/` is encoded too.
pub(crate) fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    uri_encode_into(&mut out, bytes);
    out
}

fn uri_encode_into(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}
