//! Time as Berth stores it (unix seconds, UTC) and as Harbor renders it (RFC 3339, UTC). Shared by
//! every crate that stamps or shows a time, so the format cannot differ between them.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// Now, in unix seconds.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: i64) -> String {
    match DateTime::from_timestamp(secs, 0) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        // Out of chrono's range (±262,000 years): no stored time gets there.
        None => secs.to_string(),
    }
}

/// Harbor's zero time: what Harbor sends for a time that was never set (Go's zero `time.Time`, in
/// the millisecond format of Harbor's API).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// A time that may never have been set (a pull time, the end of a job still running): unix
/// seconds as RFC 3339, or [`ZERO_TIME`] for `None` and for 0, which is how "never" is stored.
pub fn rfc3339_or_zero(secs: Option<i64>) -> String {
    match secs {
        Some(secs) if secs != 0 => rfc3339(secs),
        _ => ZERO_TIME.to_owned(),
    }
}

/// Parses an RFC 3339 time (any offset, optional fractions), `YYYY-MM-DD HH:MM:SS` or
/// `YYYY-MM-DDTHH:MM:SS` (UTC), or plain unix seconds, as audit-log queries give them.
pub fn parse_rfc3339ish(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Some(secs);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(naive, format).ok())
        .map(|t| t.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_seconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn a_time_never_set_is_harbors_zero_time() {
        assert_eq!(rfc3339_or_zero(None), "0001-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_or_zero(Some(0)), "0001-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_or_zero(Some(1_795_000_000)), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn parses_what_it_formats_and_the_query_forms() {
        for secs in [0, 951_782_400, 1_795_000_000, 1_800_000_123] {
            assert_eq!(parse_rfc3339ish(&rfc3339(secs)), Some(secs));
        }
        assert_eq!(parse_rfc3339ish("2026-11-18 11:06:40"), Some(1_795_000_000));
        assert_eq!(parse_rfc3339ish("2026-11-18T11:06:40.250Z"), Some(1_795_000_000));
        assert_eq!(parse_rfc3339ish("2026-11-18T12:06:40+01:00"), Some(1_795_000_000));
        assert_eq!(parse_rfc3339ish("42"), Some(42));
        assert_eq!(parse_rfc3339ish("2026-13-01 00:00:00"), None);
        assert_eq!(parse_rfc3339ish("2026-02-30 00:00:00"), None);
        assert_eq!(parse_rfc3339ish("yesterday"), None);
    }
}
