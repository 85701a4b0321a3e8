//! The canonical encoding of an encryption context (string → string map)
//! used as AAD: entries sorted by key bytes, every field length-prefixed, so
//! two different maps never encode to the same bytes and order never matters.

use std::collections::BTreeMap;

/// An encryption context. `BTreeMap` keeps it sorted by key.
pub type EncryptionContext = BTreeMap<String, String>;

/// `u32 count || (u32 klen || key || u32 vlen || value)*`, all big-endian.
pub fn canonical(ctx: &EncryptionContext) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        4 + ctx
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>(),
    );
    canonical_into(ctx, &mut out);
    out
}

pub fn canonical_into(ctx: &EncryptionContext, out: &mut Vec<u8>) {
    out.extend_from_slice(&(ctx.len() as u32).to_be_bytes());
    for (k, v) in ctx {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn order_independent() {
        assert_eq!(
            canonical(&ctx(&[("a", "1"), ("b", "2")])),
            canonical(&ctx(&[("b", "2"), ("a", "1")]))
        );
    }

    #[test]
    fn unambiguous() {
        // Concatenation-based encodings would collide on these.
        let cases = [
            ctx(&[("ab", "c")]),
            ctx(&[("a", "bc")]),
            ctx(&[("a", "b"), ("c", "")]),
            ctx(&[("a", ""), ("bc", "")]),
            ctx(&[]),
            ctx(&[("", "")]),
        ];
        for (i, a) in cases.iter().enumerate() {
            for (j, b) in cases.iter().enumerate() {
                assert_eq!(i == j, canonical(a) == canonical(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn vector() {
        assert_eq!(
            canonical(&ctx(&[("k", "v")])),
            vec![0, 0, 0, 1, 0, 0, 0, 1, b'k', 0, 0, 0, 1, b'v']
        );
        assert_eq!(canonical(&ctx(&[])), vec![0, 0, 0, 0]);
    }
}
