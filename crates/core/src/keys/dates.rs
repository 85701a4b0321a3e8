//! Timestamps as people write them: RFC 3339 (UTC `Z` or an offset) or
//! Unix seconds in, RFC 3339 UTC out. No time zone database is needed.

use crate::clock::Timestamp;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2027-01-31T12:00:00Z`.
pub fn format_rfc3339(t: Timestamp) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses Unix seconds (`1767225600`), an RFC 3339 date-time
/// (`2026-01-01T00:00:00Z`, `2026-01-01T01:00:00+01:00`, fractions ignored)
/// or a date (`2026-01-01`, midnight UTC).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "{s:?} is not a time; use RFC 3339 like 2027-01-31T00:00:00Z, a date like 2027-01-31, or Unix seconds"
        )
    };
    if let Some(n) = num(s) {
        return Ok(n);
    }
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let dp: Vec<&str> = date.split('-').collect();
    let [y, mo, d] = dp.as_slice() else {
        return Err(bad());
    };
    let (y, mo, d) = (
        num(y).ok_or_else(bad)?,
        num(mo).ok_or_else(bad)?,
        num(d).ok_or_else(bad)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return Err(bad());
    }
    let days = days_from_civil(y, mo, d);
    if civil_from_days(days) != (y, mo, d) {
        return Err(bad());
    }
    if rest.is_empty() {
        return Ok(days * 86_400);
    }
    // HH:MM:SS[.frac](Z|±HH:MM)
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':').ok_or_else(bad)?;
        let (oh, om) = (num(oh).ok_or_else(bad)?, num(om).ok_or_else(bad)?);
        if oh > 23 || om > 59 {
            return Err(bad());
        }
        (c, sign * (oh * 3600 + om * 60))
    } else {
        return Err(bad());
    };
    let clock = clock.split('.').next().unwrap_or_default();
    let cp: Vec<&str> = clock.split(':').collect();
    let [h, mi, sec] = cp.as_slice() else {
        return Err(bad());
    };
    let (h, mi, sec) = (
        num(h).ok_or_else(bad)?,
        num(mi).ok_or_else(bad)?,
        num(sec).ok_or_else(bad)?,
    );
    if h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    Ok(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        for t in [0, 86_399, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_time(&format_rfc3339(t)), Ok(t), "{t}");
        }
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_time("2000-02-29"), Ok(951_782_400));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.999Z"), Ok(1_700_000_000));
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000));
        for bad in [
            "",
            "tomorrow",
            "2023-02-30",
            "2023-13-01",
            "2023-11-14T25:00:00Z",
            "2023-11-14T10:00:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
