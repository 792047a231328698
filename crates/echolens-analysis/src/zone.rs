//! Time zones: days and weeks as people in a place live them (`--tz Asia/Tehran`), from the IANA database
//! compiled in by `chrono-tz`. UTC is the default and costs nothing.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::datatypes::DataType;
use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, create_udf};

use crate::{Error, Result};

/// An IANA zone name (`Asia/Tehran`, `Europe/Moscow`, `UTC`), or an error listing how to find one.
pub fn parse(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::Param(format!(
            "unknown time zone {name:?}; expected an IANA name such as UTC, Asia/Tehran, Europe/Moscow"
        ))
    })
}

/// Seconds since 1970-01-01 00:00 local time in `zone` of the UTC time `us` (µs since the epoch).
fn local_secs(zone: Tz, us: i64) -> i64 {
    let secs = us.div_euclid(1_000_000);
    let offset = chrono::DateTime::from_timestamp(secs, 0)
        .map_or(0, |t| zone.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc() as i64);
    secs + offset
}

/// The day (days since 1970-01-01) in `zone` of the UTC time `us` (µs since the epoch).
pub fn local_day(zone: Tz, us: i64) -> i64 {
    local_secs(zone, us).div_euclid(86_400)
}

/// The hour of day (0–23) in `zone` of the UTC time `us`.
pub fn local_hour(zone: Tz, us: i64) -> i64 {
    local_secs(zone, us).rem_euclid(86_400) / 3600
}

/// The UTC time (µs) at which the local date `date` begins in `zone` (the first such instant when a clock
/// change skips midnight).
pub fn local_midnight(zone: Tz, date: chrono::NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    match zone.from_local_datetime(&midnight).earliest() {
        Some(t) => t.timestamp_micros(),
        // Midnight skipped by a clock change: the day starts an hour later.
        None => zone
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map_or_else(|| midnight.and_utc().timestamp_micros(), |t| t.timestamp_micros()),
    }
}

/// `name(ts_us)`: `f(zone, ts_us)` as a UDF over BIGINT microseconds.
fn zone_udf(name: &str, zone: Tz, f: fn(Tz, i64) -> i64) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int64],
        DataType::Int64,
        datafusion::logical_expr::Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let ts = arrays[0].as_any().downcast_ref::<Int64Array>().expect("Int64 by the signature");
            let out: Int64Array = (0..ts.len()).map(|i| ts.is_valid(i).then(|| f(zone, ts.value(i)))).collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    )
}

/// `local_day(ts_us)`: [`local_day`] in `zone`, as a UDF over BIGINT microseconds.
pub fn local_day_udf(zone: Tz) -> ScalarUDF {
    crate::udf::parameterised(zone_udf("local_day", zone, local_day), zone.name().to_owned())
}

/// `local_hour(ts_us)`: [`local_hour`] in `zone`, as a UDF over BIGINT microseconds.
pub fn local_hour_udf(zone: Tz) -> ScalarUDF {
    crate::udf::parameterised(zone_udf("local_hour", zone, local_hour), zone.name().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_follow_the_zone() {
        let tehran = parse("Asia/Tehran").unwrap();
        // 2024-03-01T21:00:00Z is 00:30 on March 2nd in Tehran (UTC+3:30).
        let us = 1_709_326_800_000_000;
        assert_eq!(local_day(Tz::UTC, us), 19_783);
        assert_eq!(local_day(tehran, us), 19_784);
        let date = chrono::NaiveDate::from_ymd_opt(2024, 3, 2).unwrap();
        assert_eq!(local_midnight(tehran, date), 1_709_325_000_000_000, "2024-03-01T20:30:00Z");
        assert!(parse("Mars/Olympus").is_err());
        assert_eq!((local_hour(Tz::UTC, us), local_hour(tehran, us)), (21, 0));
    }
}
