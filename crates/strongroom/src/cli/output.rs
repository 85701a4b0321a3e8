//! Output: readable tables for people, `--output json` for scripts.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

pub fn json(v: &Value) {
    out!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(o) if o.is_empty() => "-".into(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// Prints rows of objects as an aligned table with the given columns.
pub fn table(rows: &[Value], columns: &[(&str, &str)]) {
    let data: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|(k, _)| cell(&r[*k])).collect())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|(_, h)| h.len()).collect();
    for row in &data {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out!("{}", s.join("  ").trim_end());
    };
    line(columns.iter().map(|(_, h)| h.to_string()).collect());
    for row in data {
        line(row);
    }
}

/// Prints one object as `field: value` lines.
pub fn record(v: &Value, fields: &[(&str, &str)]) {
    let w = fields.iter().map(|(_, h)| h.len()).max().unwrap_or(0);
    for (k, h) in fields {
        out!("{h:<w$}  {}", cell(&v[*k]));
    }
}

pub const KEY_COLUMNS: &[(&str, &str)] = &[
    ("id", "KEY ID"),
    ("aliases", "ALIASES"),
    ("spec", "SPEC"),
    ("usage", "USAGE"),
    ("state", "STATE"),
    ("primary_version", "VERSION"),
    ("owner", "OWNER"),
];

pub const KEY_FIELDS: &[(&str, &str)] = &[
    ("id", "Key ID"),
    ("aliases", "Aliases"),
    ("description", "Description"),
    ("owner", "Owner"),
    ("purpose", "Purpose"),
    ("tags", "Tags"),
    ("spec", "Spec"),
    ("usage", "Usage"),
    ("origin", "Origin"),
    ("state", "State"),
    ("primary_version", "Primary version"),
    ("min_decryption_version", "Min decryption version"),
    ("created_at", "Created (unix)"),
    ("rotated_at", "Rotated (unix)"),
    ("rotation_period_days", "Rotation period (days)"),
    ("next_rotation_at", "Next rotation (unix)"),
    ("deletion_date", "Deletion date (unix)"),
    ("destroyed_at", "Destroyed (unix)"),
    ("activation_date", "Activation date (unix)"),
    ("expiry_date", "Expiry date (unix)"),
];
