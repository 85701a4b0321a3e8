//! Client-side SigV4 signing (the benchmark's AWS workload uses it).
//!
//! Signing reuses the verifier's building blocks: the same
//! [`canonical_request`], [`string_to_sign`] and [`signature`], so a request
//! signed here is canonicalised by exactly the code that verifies it.

use super::{canonical_request, signature, string_to_sign, SigV4Error, WireRequest};
use super::{ALGORITHM, SCOPE_TERMINATOR};

/// What to sign a request with.
pub struct SigningParams<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a [u8],
    pub region: &'a str,
    pub service: &'a str,
    /// Unix seconds, written as `X-Amz-Date`.
    pub time_unix: i64,
}

/// Signs `req` and returns `(x-amz-date value, Authorization value)`.
///
/// Every header in `req.headers` is signed. They must include `host`;
/// `x-amz-date` is added by the caller from the returned value (it is signed
/// here as if already present). Header names are matched case-insensitively.
pub fn sign(req: &WireRequest, p: &SigningParams) -> Result<(String, String), SigV4Error> {
    let amz_date = format_amz_date(p.time_unix);
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-amz-date"))
        .cloned()
        .collect();
    headers.push(("x-amz-date".to_string(), amz_date.clone()));
    let mut signed: Vec<String> = headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    signed.sort();
    signed.dedup();
    let wire = WireRequest {
        headers: &headers,
        ..*req
    };
    let creq = canonical_request(&wire, &signed)?;
    let date = &amz_date[..8];
    let scope = format!("{date}/{}/{}/{SCOPE_TERMINATOR}", p.region, p.service);
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let sig = signature(p.secret, date, p.region, p.service, &sts);
    let auth = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
        p.access_key_id,
        signed.join(";")
    );
    Ok((amz_date, auth))
}

/// Unix seconds as `yyyymmddThhmmssZ` (UTC).
pub fn format_amz_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Howard Hinnant's `civil_from_days`: the inverse of `days_from_civil`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::super::{parse_amz_date, verify, VerifyConfig};
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn signed(body: &[u8], secret: &[u8]) -> Vec<(String, String)> {
        let mut headers = vec![
            ("Host".to_string(), "127.0.0.1:8200".to_string()),
            (
                "X-Amz-Target".to_string(),
                "TrentService.Encrypt".to_string(),
            ),
            (
                "Content-Type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
        ];
        let req = WireRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        let (date, auth) = sign(
            &req,
            &SigningParams {
                access_key_id: "AKIDBENCH",
                secret,
                region: "us-east-1",
                service: "kms",
                time_unix: NOW,
            },
        )
        .expect("sign");
        headers.push(("X-Amz-Date".to_string(), date));
        headers.push(("Authorization".to_string(), auth));
        headers
    }

    fn check(headers: &[(String, String)], body: &[u8]) -> Result<String, SigV4Error> {
        let req = WireRequest {
            method: "POST",
            path: "/",
            query: "",
            headers,
            body,
        };
        verify(&req, &VerifyConfig::default(), NOW + 3, &|akid| {
            (akid == "AKIDBENCH").then(|| b"s3cret".to_vec())
        })
    }

    #[test]
    fn a_signed_request_verifies() {
        let body = br#"{"KeyId":"alias/x","Plaintext":"aGk="}"#;
        let h = signed(body, b"s3cret");
        assert_eq!(check(&h, body).expect("verifies"), "AKIDBENCH");
    }

    #[test]
    fn a_changed_body_or_wrong_secret_does_not_verify() {
        let body = br#"{"KeyId":"alias/x","Plaintext":"aGk="}"#;
        let h = signed(body, b"s3cret");
        assert_eq!(
            check(&h, br#"{"KeyId":"alias/y","Plaintext":"aGk="}"#),
            Err(SigV4Error::SignatureMismatch)
        );
        let h = signed(body, b"other");
        assert_eq!(check(&h, body), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn amz_date_round_trips() {
        for t in [0, 951_782_400, 1_700_000_000, 4_102_444_799, 1_709_164_800] {
            assert_eq!(parse_amz_date(&format_amz_date(t)), Ok(t), "{t}");
        }
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
    }
}
