//! A secret version's value: a map of named string fields, held as secret
//! bytes (zeroized on drop, no Debug/Clone), with the size limits.

use crate::crypto::SecretBytes;
use crate::error::{Error, Result};

/// Most bytes in one version's value (field names plus values).
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Most fields in one version.
pub const MAX_FIELDS: usize = 256;
/// Longest field name, in bytes.
pub const MAX_FIELD_NAME_LEN: usize = 128;

/// The fields of one secret version. Values never reach Debug output.
#[derive(Default)]
pub struct SecretFields {
    fields: Vec<(String, SecretBytes)>,
}

impl std::fmt::Debug for SecretFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretFields")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretFields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a field (replacing one of the same name). The value's bytes
    /// are moved, not copied.
    pub fn insert(&mut self, name: String, value: String) {
        let v = SecretBytes::new(value.into_bytes());
        match self.fields.binary_search_by(|(n, _)| n.as_str().cmp(&name)) {
            Ok(i) => {
                if let Some(slot) = self.fields.get_mut(i) {
                    slot.1 = v;
                }
            }
            Err(i) => self.fields.insert(i, (name, v)),
        }
    }

    pub fn remove(&mut self, name: &str) -> bool {
        match self.fields.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => {
                self.fields.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// A field's value (UTF-8, checked when the fields were built).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v.expose()).ok())
    }

    /// Field names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(n, _)| n.as_str())
    }

    /// `(name, value)` pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| {
            (
                n.as_str(),
                std::str::from_utf8(v.expose()).unwrap_or_default(),
            )
        })
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// A copy, for a patch (the copy is zeroized on drop too).
    pub fn duplicate(&self) -> Self {
        SecretFields {
            fields: self
                .fields
                .iter()
                .map(|(n, v)| (n.clone(), v.duplicate()))
                .collect(),
        }
    }

    /// Names plus values, in bytes (what the size limit counts).
    pub fn size(&self) -> usize {
        self.fields.iter().map(|(n, v)| n.len() + v.len()).sum()
    }

    /// Checks the limits and the field names.
    pub fn validate(&self) -> Result<()> {
        if self.fields.is_empty() {
            return Err(Error::InvalidArgument(
                "a secret version needs at least one field (e.g. password=...)".into(),
            ));
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(Error::InvalidArgument(format!(
                "a secret version has at most {MAX_FIELDS} fields; this one has {}",
                self.fields.len()
            )));
        }
        let size = self.size();
        if size > MAX_VALUE_BYTES {
            return Err(Error::PayloadTooLarge {
                limit: MAX_VALUE_BYTES,
            });
        }
        for (n, _) in &self.fields {
            validate_field_name(n).map_err(Error::InvalidArgument)?;
        }
        Ok(())
    }

    /// The sealed form's plaintext: a JSON object, written straight into
    /// secret bytes (sized up front so no partial copy is left behind).
    pub fn to_json(&self) -> Result<SecretBytes> {
        // Worst case JSON escaping is 6 bytes per input byte.
        let cap = 2 + self
            .fields
            .iter()
            .map(|(n, v)| 6 * (n.len() + v.len()) + 6)
            .sum::<usize>();
        let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(cap));
        buf.push(b'{');
        for (i, (n, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            let value = std::str::from_utf8(v.expose())
                .map_err(|_| Error::Internal("secret field is not UTF-8".into()))?;
            serde_json::to_writer(&mut *buf, n)
                .and_then(|()| {
                    buf.push(b':');
                    serde_json::to_writer(&mut *buf, value)
                })
                .map_err(|e| Error::Internal(format!("secret encoding: {e}")))?;
        }
        buf.push(b'}');
        Ok(SecretBytes::new(std::mem::take(&mut *buf)))
    }

    /// The inverse of [`to_json`](Self::to_json).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let map: std::collections::BTreeMap<String, String> = serde_json::from_slice(bytes)
            .map_err(|e| {
                Error::Internal(format!("secret version unreadable: {}", e.classify_name()))
            })?;
        let mut f = SecretFields::new();
        for (n, v) in map {
            f.fields.push((n, SecretBytes::new(v.into_bytes())));
        }
        Ok(f)
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        // The position and content of a JSON error could quote the value.
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        }
    }
}

/// Field names: 1 to 128 bytes of `A-Z a-z 0-9 _ - .`.
pub fn validate_field_name(n: &str) -> std::result::Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= MAX_FIELD_NAME_LEN
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "field name {n:?} is not allowed: field names are 1-128 characters of A-Z a-z 0-9 _ - ."
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_limits() {
        let mut f = SecretFields::new();
        f.insert("user".into(), "app".into());
        f.insert("password".into(), "p\"w\\\n€".into());
        let j = f.to_json().expect("json");
        let back = SecretFields::from_json(j.expose()).expect("back");
        assert_eq!(back.get("password"), Some("p\"w\\\n€"));
        assert_eq!(back.names().collect::<Vec<_>>(), vec!["password", "user"]);
        assert!(back.validate().is_ok());
        assert!(!format!("{back:?}").contains("p\\\"w"));
        let mut big = SecretFields::new();
        big.insert("v".into(), "x".repeat(MAX_VALUE_BYTES));
        assert!(matches!(big.validate(), Err(Error::PayloadTooLarge { .. })));
        let mut bad = SecretFields::new();
        bad.insert("a b".into(), "x".into());
        assert!(matches!(bad.validate(), Err(Error::InvalidArgument(_))));
        assert!(SecretFields::new().validate().is_err());
    }
}
