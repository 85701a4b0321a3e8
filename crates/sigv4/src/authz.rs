//! Parsing of the `Authorization: AWS4-HMAC-SHA256 ...` header.

use super::canonical::check_signed_header_list;
use super::{SigV4Error, ALGORITHM, SCOPE_TERMINATOR};

/// Longest `Authorization` value accepted. Real SDK headers are well under
/// 1 KiB; the cap keeps a hostile header from costing anything.
pub const MAX_AUTHORIZATION_LEN: usize = 8192;

/// Most signed headers accepted in one request.
pub const MAX_SIGNED_HEADERS: usize = 64;

/// A parsed `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id (first element of `Credential`).
    pub access_key_id: String,
    /// The scope date, `yyyymmdd`.
    pub date: String,
    /// The scope region.
    pub region: String,
    /// The scope service.
    pub service: String,
    /// The signed header names: lowercase, sorted, without duplicates.
    pub signed_headers: Vec<String>,
    /// The signature: 64 lowercase hex digits.
    pub signature: String,
}

impl Authorization {
    /// The credential scope, `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, SCOPE_TERMINATOR
        )
    }
}

fn malformed(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::MalformedAuthorization(msg.into())
}

/// A short, printable rendering of client-supplied text for an error message:
/// at most 40 characters, quoted and escaped.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}...")
    }
}

/// Parses an `Authorization` header value. Every failure is
/// [`SigV4Error::MalformedAuthorization`] with a message that says what is
/// wrong; nothing here panics on any input.
pub fn parse_authorization(value: &str) -> Result<Authorization, SigV4Error> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(malformed(format!(
            "the header is {} bytes long; at most {MAX_AUTHORIZATION_LEN} are accepted",
            value.len()
        )));
    }
    let value = value.trim_matches(' ');
    if value.is_empty() {
        return Err(malformed(format!(
            "the header is empty; expected '{ALGORITHM} Credential=..., SignedHeaders=..., Signature=...'"
        )));
    }
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(malformed(format!(
            "unsupported algorithm {}; only {ALGORITHM} is supported",
            quote(algorithm)
        )));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim_matches(' ');
        if part.is_empty() {
            if rest.trim_matches(' ').is_empty() {
                break;
            }
            return Err(malformed("empty component between commas"));
        }
        let (key, val) = part.split_once('=').ok_or_else(|| {
            malformed(format!(
                "component {} is not of the form Name=Value",
                quote(part)
            ))
        })?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(malformed(format!(
                    "unknown component {}; expected Credential, SignedHeaders and Signature",
                    quote(other)
                )))
            }
        };
        if slot.is_some() {
            return Err(malformed(format!(
                "component '{key}' appears more than once"
            )));
        }
        *slot = Some(val);
    }

    let missing: Vec<&str> = [
        ("Credential", credential.is_none()),
        ("SignedHeaders", signed_headers.is_none()),
        ("Signature", signature.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(n, _)| *n)
    .collect();
    if !missing.is_empty() {
        return Err(malformed(format!(
            "Authorization header requires the {} parameter{}",
            missing
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() > 1 { "s" } else { "" }
        )));
    }
    let (credential, signed_headers, signature) = (
        credential.unwrap_or_default(),
        signed_headers.unwrap_or_default(),
        signature.unwrap_or_default(),
    );

    // Credential=AKID/yyyymmdd/region/service/aws4_request
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 {
        return Err(malformed(format!(
            "Credential {} must be 'ACCESS_KEY_ID/yyyymmdd/region/service/{SCOPE_TERMINATOR}'",
            quote(credential)
        )));
    }
    let (akid, date, region, service, terminator) =
        (parts[0], parts[1], parts[2], parts[3], parts[4]);
    if akid.is_empty() || akid.len() > 128 || !akid.bytes().all(is_id_byte) {
        return Err(malformed(format!(
            "the access key id {} in Credential is not valid",
            quote(akid)
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!(
            "the Credential scope date {} must be yyyymmdd",
            quote(date)
        )));
    }
    for (what, v) in [("region", region), ("service", service)] {
        if v.is_empty() || v.len() > 64 || !v.bytes().all(is_scope_byte) {
            return Err(malformed(format!(
                "the Credential scope {what} {} is not valid",
                quote(v)
            )));
        }
    }
    if terminator != SCOPE_TERMINATOR {
        return Err(malformed(format!(
            "the Credential scope must end with '{SCOPE_TERMINATOR}', not {}",
            quote(terminator)
        )));
    }

    let names: Vec<String> = signed_headers.split(';').map(str::to_string).collect();
    if names.len() > MAX_SIGNED_HEADERS {
        return Err(malformed(format!(
            "SignedHeaders lists {} headers; at most {MAX_SIGNED_HEADERS} are accepted",
            names.len()
        )));
    }
    if signed_headers.is_empty() {
        return Err(malformed(
            "SignedHeaders is empty; it must list at least 'host' and 'x-amz-date'",
        ));
    }
    check_signed_header_list(&names)?;

    if signature.is_empty() {
        return Err(malformed("Signature is empty"));
    }
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(malformed(
            "Signature must be 64 lowercase hexadecimal digits (HMAC-SHA256)",
        ));
    }

    Ok(Authorization {
        access_key_id: akid.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: names,
        signature: signature.to_string(),
    })
}

/// Characters accepted in an access key id: printable ASCII without the
/// separators of the header (`/`, `,`, `=`, `;`) and without spaces.
fn is_id_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'/' | b',' | b'=' | b';')
}

/// Characters accepted in a region or service name.
fn is_scope_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}
