//! Output: readable tables for people, `--output json` for scripts.
//! Times are RFC 3339 UTC (`2026-12-03T09:21:44Z`). Tables keep to a
//! human width: long cells are cut with `…` and some commands drop their
//! widest columns, unless `-o wide`.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

/// How a command prints: the `-o` choices minus `wide`, which is a table
/// with every column and whole cells ([`set_wide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// The `-o/--output` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputArg {
    /// Aligned tables for people (long cells cut, widest columns left out).
    #[default]
    Table,
    /// Tables with every column and whole cells.
    Wide,
    /// JSON for scripts.
    Json,
}

static WIDE: AtomicBool = AtomicBool::new(false);

/// Applies `-o`: returns the format and remembers whether tables are wide.
pub fn select(arg: OutputArg) -> Format {
    WIDE.store(arg == OutputArg::Wide, Ordering::Relaxed);
    match arg {
        OutputArg::Json => Format::Json,
        OutputArg::Table | OutputArg::Wide => Format::Table,
    }
}

/// Whether `-o wide` was given.
pub fn wide() -> bool {
    WIDE.load(Ordering::Relaxed)
}

/// Longest cell of a normal table; longer ones end in `…` (`-o wide`: whole).
/// Wide enough for a key id (36) and a time with milliseconds (24).
pub const MAX_CELL: usize = 40;

/// RFC 3339 UTC from Unix seconds, with milliseconds when given.
pub fn rfc3339(secs: i64, millis: Option<i64>) -> String {
    let base = strongroom_core::keys::dates::format_rfc3339(secs);
    match millis {
        Some(ms) => format!("{}.{ms:03}Z", base.trim_end_matches('Z')),
        None => base,
    }
}

/// "1 key", "2 keys".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Fields holding Unix seconds, printed as RFC 3339.
fn is_time_field(k: &str) -> bool {
    k.ends_with("_at") || k.ends_with("_date")
}

fn cell_for(k: &str, v: &Value) -> String {
    match v.as_i64() {
        Some(t) if is_time_field(k) => rfc3339(t, None),
        _ => cell(v),
    }
}

fn fit(c: String) -> String {
    if wide() || c.chars().count() <= MAX_CELL {
        return c;
    }
    let mut s: String = c.chars().take(MAX_CELL - 1).collect();
    s.push('…');
    s
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
        .map(|r| {
            columns
                .iter()
                .map(|(k, _)| fit(cell_for(k, &r[*k])))
                .collect()
        })
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
        out!("{h:<w$}  {}", cell_for(k, &v[*k]));
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
    ("created_at", "Created"),
    ("rotated_at", "Rotated"),
    ("rotation_period_days", "Rotation period (days)"),
    ("next_rotation_at", "Next rotation"),
    ("deletion_date", "Deletion date"),
    ("destroyed_at", "Destroyed"),
    ("activation_date", "Activation date"),
    ("expiry_date", "Expiry date"),
];
