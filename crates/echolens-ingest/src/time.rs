//! Timestamps as the sources write them, to microseconds since the epoch (UTC).

use chrono::{DateTime, NaiveDateTime};
use echolens_model::TimestampUs;

/// Seconds (integer or fractional) since the epoch.
pub(crate) fn from_secs_f64(secs: f64) -> Option<TimestampUs> {
    (secs.is_finite() && secs.abs() < 1e13).then(|| (secs * 1e6).round() as i64)
}

/// Seconds since the epoch written as a string ("1674783830", "1606451170.518101").
pub(crate) fn from_secs_str(s: &str) -> Option<TimestampUs> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1_000_000);
    }
    s.parse::<f64>().ok().and_then(from_secs_f64)
}

/// RFC 3339 / ISO 8601 with an offset ("2024-12-04T09:00:28+00:00", "2021-04-08T19:34:16.000Z").
pub(crate) fn from_rfc3339(s: &str) -> Option<TimestampUs> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.timestamp_micros())
}

/// A wall-clock time without offset ("2023-01-27T08:43:50", "2017-06-22 16:03"), read as if it were UTC.
pub(crate) fn from_naive(s: &str) -> Option<TimestampUs> {
    const FORMATS: [&str; 6] = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ];
    let s = s.trim();
    FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(s, f).ok()).map(|t| t.and_utc().timestamp_micros())
}

/// Any of the above: epoch seconds, RFC 3339, or a naive time (then `exact` is false).
pub(crate) fn parse_any(s: &str) -> Option<(TimestampUs, bool)> {
    if let Some(t) = from_secs_str(s) {
        return Some((t, true));
    }
    if let Some(t) = from_rfc3339(s) {
        return Some((t, true));
    }
    from_naive(s).map(|t| (t, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(from_secs_str("1674783830"), Some(1_674_783_830_000_000));
        assert_eq!(from_secs_str("1606451170.518101"), Some(1_606_451_170_518_101));
        assert_eq!(from_rfc3339("2021-04-08T19:34:16.000Z"), Some(1_617_910_456_000_000));
        assert_eq!(from_rfc3339("2024-12-04T09:00:28+00:00"), Some(1_733_302_828_000_000));
        assert_eq!(from_naive("2017-06-22 16:03"), Some(1_498_147_380_000_000));
        assert_eq!(parse_any("2023-01-27T08:43:50"), Some((1_674_809_030_000_000, false)));
        assert_eq!(parse_any("yesterday"), None);
    }
}
