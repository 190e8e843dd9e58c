//! Resource metadata helpers: weak ETags over the integer version, and timestamps.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// The weak ETag for a version: `W/"3"`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Parses an ETag produced by [`etag`]; accepts `W/"3"` and `"3"` (surrounding whitespace
/// ignored). Returns `None` for anything else, including `*`.
pub fn parse_etag(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// RFC 3339 with milliseconds and `Z`: `2024-01-31T09:00:00.000Z`.
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an `xsd:dateTime`: RFC 3339, or without an offset (taken as UTC). A date alone
/// (`2024-03-01`, as HR systems send start and end dates) means 00:00 UTC that day.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(n.and_utc());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn etags_round_trip() {
        assert_eq!(etag(3), "W/\"3\"");
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag(" \"42\" "), Some(42));
        for bad in ["3", "*", "W/3", "\"x\"", "W/\"\"", ""] {
            assert_eq!(parse_etag(bad), None, "{bad}");
        }
    }

    #[test]
    fn datetimes() {
        let t = Utc.with_ymd_and_hms(2011, 5, 13, 4, 42, 34).unwrap();
        assert_eq!(format_datetime(t), "2011-05-13T04:42:34.000Z");
        assert_eq!(parse_datetime("2011-05-13T06:42:34+02:00"), Some(t));
        assert_eq!(parse_datetime("2011-05-13T04:42:34"), Some(t));
        assert_eq!(
            parse_datetime("2011-05-13"),
            Some(Utc.with_ymd_and_hms(2011, 5, 13, 0, 0, 0).unwrap()),
            "a date alone is midnight UTC"
        );
        assert_eq!(parse_datetime("2011-13-13"), None);
    }
}
