//! Reading request fields as Vault does: the CLI (`bao write k=v`) sends
//! every value as a string, hvac sends JSON types, so `"true"` and `true`,
//! `"256"` and `256` are the same. Unknown fields are refused by name.

use serde_json::{Map, Value};

use crate::error::VaultError;

pub type Fields = Map<String, Value>;

/// Refuses any field not in `allowed`, naming it and the allowed ones.
pub fn only(body: &Fields, allowed: &[&str], what: &str) -> Result<(), VaultError> {
    for k in body.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(VaultError::bad_request(format!(
                "unknown field {:?} for {what}; the fields are: {}",
                k.chars().take(64).collect::<String>(),
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

pub fn string(body: &Fields, name: &str) -> Result<Option<String>, VaultError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(VaultError::bad_request(format!("{name} must be a string"))),
    }
}

pub fn required(body: &Fields, name: &str, hint: &str) -> Result<String, VaultError> {
    match string(body, name)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(VaultError::bad_request(format!("missing {name}: {hint}"))),
    }
}

pub fn boolean(body: &Fields, name: &str) -> Result<Option<bool>, VaultError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(Some(true)),
            "false" | "0" | "f" | "" => Ok(Some(false)),
            _ => Err(VaultError::bad_request(format!(
                "{name} must be true or false, not {:?}",
                s.chars().take(32).collect::<String>()
            ))),
        },
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Some(false)),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(Some(true)),
        Some(_) => Err(VaultError::bad_request(format!(
            "{name} must be true or false"
        ))),
    }
}

pub fn integer(body: &Fields, name: &str) -> Result<Option<i64>, VaultError> {
    let bad = || VaultError::bad_request(format!("{name} must be a whole number"));
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// A non-negative number that fits a `u32`.
pub fn version(body: &Fields, name: &str) -> Result<Option<u32>, VaultError> {
    match integer(body, name)? {
        None => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            VaultError::bad_request(format!(
                "{name}={n} is out of range; use 0 or a key version"
            ))
        }),
    }
}

/// A duration as Vault takes it: seconds, or `<n>s|m|h|d`. Returns seconds.
pub fn duration(body: &Fields, name: &str) -> Result<Option<i64>, VaultError> {
    let bad = |v: &str| {
        VaultError::bad_request(format!(
            "{name}={v:?} is not a duration; use seconds or a number with s, m, h or d (e.g. 720h)"
        ))
    };
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| bad(&n.to_string())),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(Some(0));
            }
            let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
                None => (s, 1),
                Some((i, _)) => {
                    let unit = match &s[i..] {
                        "s" => 1,
                        "m" => 60,
                        "h" => 3600,
                        "d" => 86_400,
                        _ => return Err(bad(s)),
                    };
                    (&s[..i], unit)
                }
            };
            num.parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(unit))
                .map(Some)
                .ok_or_else(|| bad(s))
        }
        Some(_) => Err(bad("?")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(v: Value) -> Fields {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn cli_strings_and_json_types_read_the_same() {
        let a = f(json!({"b": "true", "n": "256", "d": "48h"}));
        let b = f(json!({"b": true, "n": 256, "d": 172800}));
        assert_eq!(boolean(&a, "b").ok().flatten(), Some(true));
        assert_eq!(boolean(&b, "b").ok().flatten(), Some(true));
        assert_eq!(integer(&a, "n").ok().flatten(), Some(256));
        assert_eq!(integer(&b, "n").ok().flatten(), Some(256));
        assert_eq!(duration(&a, "d").ok().flatten(), Some(172_800));
        assert_eq!(duration(&b, "d").ok().flatten(), Some(172_800));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let a = f(json!({"b": "maybe", "n": "x", "d": "3 weeks", "z": 1}));
        assert!(matches!(boolean(&a, "b"), Err(e) if e.message.contains("b must")));
        assert!(integer(&a, "n").is_err());
        assert!(duration(&a, "d").is_err());
        assert!(matches!(only(&a, &["b", "n", "d"], "t"), Err(e) if e.message.contains("\"z\"")));
    }
}
