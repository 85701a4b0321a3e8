//! Unseal shares. The splitting and recombination are blahaj's (a
//! maintained fork of `sharks`); this file only frames each share so that a
//! corrupted share, a share from another installation, and a duplicate are
//! each detected before recombination.
//!
//! Share text: base64url (no padding) of
//! `"SS" || 0x01 || cluster_id(16) || x(1) || y(32) || check(8)` where
//! `check = SHA-256("strongroom-share-v1" || cluster_id || x || y)[..8]`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use blahaj::{Share, Sharks};

use crate::crypto::rng::{RandCoreAdapter, Rng};
use crate::crypto::SecretBytes;
use crate::error::Error;

const MAGIC: &[u8; 3] = b"SS\x01";
const SECRET_LEN: usize = 32;
const FRAMED_LEN: usize = 3 + 16 + 1 + SECRET_LEN + 8;

fn check(cluster: &[u8; 16], x: u8, y: &[u8]) -> [u8; 8] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"strongroom-share-v1");
    ctx.update(cluster);
    ctx.update(&[x]);
    ctx.update(y);
    let d = ctx.finish();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d.as_ref()[..8]);
    out
}

/// Splits a 32-byte secret into `n` framed shares, any `m` of which recover it.
pub fn split(
    secret: &SecretBytes,
    n: u8,
    m: u8,
    cluster: &[u8; 16],
    rng: &dyn Rng,
) -> Result<Vec<SecretBytes>, Error> {
    if secret.len() != SECRET_LEN {
        return Err(Error::Internal("unseal key has the wrong length".into()));
    }
    let mut adapter = RandCoreAdapter(rng);
    let shares: Vec<Share> = Sharks(m)
        .dealer_rng(secret.expose(), &mut adapter)
        .take(n as usize)
        .collect();
    let mut out = Vec::with_capacity(shares.len());
    for s in &shares {
        let raw = SecretBytes::new(Vec::from(s));
        let (x, y) = raw
            .expose()
            .split_first()
            .ok_or_else(|| Error::Internal("empty share".into()))?;
        let mut framed = SecretBytes::zeroed(FRAMED_LEN);
        {
            let f = framed.expose_mut();
            f[..3].copy_from_slice(MAGIC);
            f[3..19].copy_from_slice(cluster);
            f[19] = *x;
            f[20..52].copy_from_slice(y);
            f[52..].copy_from_slice(&check(cluster, *x, y));
        }
        out.push(SecretBytes::new(
            URL_SAFE_NO_PAD.encode(framed.expose()).into_bytes(),
        ));
    }
    Ok(out)
}

/// A share that passed its framing checks.
pub struct ParsedShare {
    pub x: u8,
    bytes: SecretBytes, // x || y, blahaj's encoding
}

/// Parses and checks one share. Errors never echo the share.
pub fn parse(text: &str, cluster: &[u8; 16]) -> Result<ParsedShare, Error> {
    let framed = SecretBytes::new(URL_SAFE_NO_PAD.decode(text.trim().as_bytes()).map_err(|_| {
        Error::InvalidShare("it is not valid share text (expected the base64url string printed by `operator init`)".into())
    })?);
    let f = framed.expose();
    if f.len() != FRAMED_LEN || &f[..3] != MAGIC {
        return Err(Error::InvalidShare(
            "it is not a Strongroom unseal share (wrong length or format)".into(),
        ));
    }
    let mut c = [0u8; 16];
    c.copy_from_slice(&f[3..19]);
    let x = f[19];
    let y = &f[20..52];
    if !crate::crypto::secret::ct_eq(&check(&c, x, y), &f[52..]) {
        return Err(Error::InvalidShare(
            "it is corrupted (checksum mismatch); check it was copied exactly".into(),
        ));
    }
    if &c != cluster {
        return Err(Error::InvalidShare(
            "it belongs to a different Strongroom installation".into(),
        ));
    }
    let mut bytes = SecretBytes::zeroed(1 + SECRET_LEN);
    bytes.expose_mut()[0] = x;
    bytes.expose_mut()[1..].copy_from_slice(y);
    Ok(ParsedShare { x, bytes })
}

/// Recombines `m` or more distinct shares.
pub fn combine(shares: &[ParsedShare], m: u8) -> Result<SecretBytes, Error> {
    let parsed: Vec<Share> = shares
        .iter()
        .map(|s| Share::try_from(s.bytes.expose()))
        .collect::<Result<_, _>>()
        .map_err(|_| Error::InvalidShare("share could not be decoded".into()))?;
    let secret = Sharks(m)
        .recover(&parsed)
        .map_err(|_| Error::InvalidShare("not enough distinct shares".into()))?;
    Ok(SecretBytes::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rng::SystemRng;

    fn text(s: &SecretBytes) -> String {
        String::from_utf8(s.expose().to_vec()).expect("utf8")
    }

    #[test]
    fn threshold_recovers_and_fewer_do_not() {
        let secret = SecretBytes::from_slice(&[42u8; 32]);
        let cluster = [1u8; 16];
        let shares = split(&secret, 5, 3, &cluster, &SystemRng).expect("split");
        assert_eq!(shares.len(), 5);
        let parsed: Vec<ParsedShare> = shares
            .iter()
            .map(|s| parse(&text(s), &cluster).expect("parse"))
            .collect();
        let got = combine(&parsed[1..4], 3).expect("combine");
        assert!(got.ct_eq(&[42u8; 32]));
        let got = combine(
            &[
                parse(&text(&shares[4]), &cluster).expect("p"),
                parse(&text(&shares[0]), &cluster).expect("p"),
                parse(&text(&shares[2]), &cluster).expect("p"),
            ],
            3,
        )
        .expect("combine");
        assert!(got.ct_eq(&[42u8; 32]));
        // k-1 shares: refused by the crate.
        assert!(combine(&parsed[..2], 3).is_err());
    }

    #[test]
    fn corrupted_and_foreign_shares_are_detected() {
        let secret = SecretBytes::from_slice(&[7u8; 32]);
        let cluster = [2u8; 16];
        let shares = split(&secret, 3, 2, &cluster, &SystemRng).expect("split");
        let t = text(&shares[0]);
        // flip one character in the y part
        let mut chars: Vec<char> = t.chars().collect();
        let i = 40;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let corrupted: String = chars.into_iter().collect();
        let e = parse(&corrupted, &cluster)
            .err()
            .expect("corrupted must fail");
        assert!(e.to_string().contains("corrupted"), "{e}");
        let e = parse(&t, &[3u8; 16]).err().expect("foreign must fail");
        assert!(
            e.to_string().contains("different Strongroom installation"),
            "{e}"
        );
        assert!(parse("not a share!", &cluster).is_err());
        assert!(parse("", &cluster).is_err());
        assert!(!e.to_string().contains(&t));
    }
}
