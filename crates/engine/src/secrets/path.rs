//! The secret path grammar. Paths are matched byte-for-byte everywhere
//! (storage, policy, audit), so the grammar is strict and nothing is ever
//! cleaned, decoded, trimmed or case-folded:
//!
//! - 1 to [`MAX_PATH_LEN`] bytes, at most [`MAX_DEPTH`] segments joined by
//!   single `/`; no leading or trailing `/`, no `//`;
//! - each segment is 1 to 128 bytes of `A-Z a-z 0-9 _ - .`, and is not `.`
//!   or `..`;
//! - case-sensitive: `App/db` and `app/db` are two secrets.
//!
//! A *folder* (what `list` takes) is empty (the root) or a path followed by
//! `/`.

/// Longest path, in bytes.
pub const MAX_PATH_LEN: usize = 512;
/// Most segments in a path.
pub const MAX_DEPTH: usize = 16;
/// Longest segment, in bytes.
pub const MAX_SEGMENT_LEN: usize = 128;

const RULE: &str = "secret paths are segments of A-Z a-z 0-9 _ - . joined by single '/', with no leading or trailing '/', no '.' or '..' segment, at most 512 bytes and 16 segments (e.g. app/db)";

/// Checks `p` against the grammar; the error says what is wrong and the rule.
pub fn validate_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err(format!("the secret path is empty; {RULE}"));
    }
    if let Some(c) = p.chars().find(|c| !c.is_ascii()) {
        return Err(format!(
            "secret path contains the non-ASCII character U+{:04X}; {RULE}",
            u32::from(c)
        ));
    }
    if p.len() > MAX_PATH_LEN {
        return Err(format!("secret path is {} bytes; {RULE}", p.len()));
    }
    let segments: Vec<&str> = p.split('/').collect();
    if segments.len() > MAX_DEPTH {
        return Err(format!(
            "secret path has {} segments; {RULE}",
            segments.len()
        ));
    }
    for s in segments {
        if s.is_empty() {
            return Err(format!(
                "secret path {p:?} has an empty segment (a leading, trailing or double '/'); {RULE}"
            ));
        }
        if s == "." || s == ".." {
            return Err(format!(
                "secret path {p:?} has a {s:?} segment; paths are never cleaned; {RULE}"
            ));
        }
        if s.len() > MAX_SEGMENT_LEN {
            return Err(format!("a segment of {p:?} is over 128 bytes; {RULE}"));
        }
        if let Some(b) = s
            .bytes()
            .find(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        {
            let shown = if b.is_ascii_graphic() {
                format!("{:?}", b as char)
            } else {
                format!("byte 0x{b:02x}")
            };
            return Err(format!("secret path {p:?} contains {shown}; {RULE}"));
        }
    }
    Ok(())
}

/// Checks a folder for `list`: `""` (every secret) or a valid path plus `/`.
pub fn validate_folder(f: &str) -> Result<(), String> {
    if f.is_empty() {
        return Ok(());
    }
    match f.strip_suffix('/') {
        Some(p) => validate_path(p),
        None => Err(format!(
            "a list prefix is a folder: empty (every secret) or a path ending in '/', such as {:?}",
            format!("{f}/")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_paths() {
        for p in ["app", "app/db", "team/payments/stripe", "A.b_c-d/x", "v1.2"] {
            assert!(validate_path(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn bad_paths_say_why() {
        for p in [
            "",
            "/app",
            "app/",
            "app//db",
            "../app",
            "app/..",
            "./x",
            "app/%2Fdb",
            "app db",
            "app ",
            "аpp",
            "app\u{0}",
            "a*",
            "a?b",
            "a\\b",
            "a:b",
            "a@1",
        ] {
            let e = validate_path(p).expect_err(p);
            assert!(e.contains("secret path"), "{p}: {e}");
        }
        assert!(validate_path(&["a"; 16].join("/")).is_ok());
        assert!(validate_path(&["a"; 17].join("/")).is_err());
        assert!(validate_path(&"a".repeat(129)).is_err());
    }

    #[test]
    fn folders() {
        assert!(validate_folder("").is_ok());
        assert!(validate_folder("app/").is_ok());
        assert!(validate_folder("app").is_err());
        assert!(validate_folder("/").is_err());
        assert!(validate_folder("app//").is_err());
    }
}
