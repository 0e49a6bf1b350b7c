//! What the list's sparklines say in words (their accessible names): the last value and where it
//! went since the first one shown, for the records waiting and for the records consumed per
//! second. A reader of the page hears what a sighted user reads off the line.

use std::cmp::Ordering;

use crate::domain::lag_series::LagPoint;

/// "lag 1,234 records, falling": the last point, and where it went since the first shown.
pub fn lag_in_words(points: &[LagPoint]) -> String {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return "lag: no measurement in the last hour".to_string();
    };
    let records = if last.total_lag == 1 {
        "record"
    } else {
        "records"
    };
    let trend = trend(
        points.len(),
        last.total_lag.cmp(&first.total_lag),
        "one measurement",
    );
    format!("lag {} {records}, {trend}", grouped(last.total_lag))
}

/// "12.5 records consumed per second, rising": the last rate and where it went since the first
/// shown. A rate needs two measurements (and none after a reset moved the offsets back), so
/// samples without one say that there were too few.
pub fn rate_in_words(points: &[LagPoint]) -> String {
    let rates: Vec<i64> = (points.iter())
        .filter_map(|p| p.records_per_second.map(tenths))
        .collect();
    let (Some(&first), Some(&last)) = (rates.first(), rates.last()) else {
        let why = if points.is_empty() {
            "no measurement in the last hour"
        } else {
            "too few measurements"
        };
        return format!("records consumed per second: {why}");
    };
    let records = if last == 10 { "record" } else { "records" };
    let trend = trend(rates.len(), last.cmp(&first), "one interval");
    format!(
        "{} {records} consumed per second, {trend}",
        shown_tenths(last)
    )
}

fn trend(count: usize, since_first: Ordering, alone: &'static str) -> &'static str {
    if count < 2 {
        return alone;
    }
    match since_first {
        Ordering::Greater => "rising",
        Ordering::Less => "falling",
        Ordering::Equal => "steady",
    }
}

/// A rate in tenths, as it is said: two rates that read the same are steady, whatever their
/// floating-point noise.
fn tenths(rate: f64) -> i64 {
    (rate * 10.0).round() as i64
}

/// `123456` tenths as "12,345.6"; a whole number without its ".0".
fn shown_tenths(tenths: i64) -> String {
    let whole = grouped(tenths / 10);
    match (tenths % 10).abs() {
        0 => whole,
        tenth => format!("{whole}.{tenth}"),
    }
}

/// `1234567` as "1,234,567".
fn grouped(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0 {
        out.insert(0, '-');
    }
    out
}

/// Points 30 s apart from the epoch, each (lag, records per second): what the tests of the
/// words and of the drawing both start from.
#[cfg(test)]
pub fn test_points(shown: &[(i64, Option<f64>)]) -> Vec<LagPoint> {
    (shown.iter().zip(0i64..))
        .map(|(&(total_lag, records_per_second), i)| LagPoint {
            at: time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(30 * i),
            total_lag,
            records_per_second,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::test_points as points;
    use super::*;

    fn lags(lags: &[i64]) -> Vec<LagPoint> {
        points(&lags.iter().map(|&l| (l, None)).collect::<Vec<_>>())
    }

    #[test]
    fn the_words_say_the_last_lag_and_its_trend() {
        assert_eq!(
            lag_in_words(&lags(&[2000, 1234])),
            "lag 1,234 records, falling"
        );
        assert_eq!(lag_in_words(&lags(&[0, 1])), "lag 1 record, rising");
        assert_eq!(lag_in_words(&lags(&[5, 9, 5])), "lag 5 records, steady");
        assert_eq!(
            lag_in_words(&lags(&[1_234_567])),
            "lag 1,234,567 records, one measurement"
        );
        assert_eq!(lag_in_words(&[]), "lag: no measurement in the last hour");
        assert_eq!(grouped(-1000), "-1,000");
        assert_eq!(grouped(999), "999");
    }

    #[test]
    fn the_words_say_the_last_rate_and_its_trend() {
        let shown = points(&[(9, None), (5, Some(20.0)), (5, Some(1234.56))]);
        assert_eq!(
            rate_in_words(&shown),
            "1,234.6 records consumed per second, rising"
        );
        let shown = points(&[(9, None), (5, Some(3.0)), (0, Some(1.0))]);
        assert_eq!(
            rate_in_words(&shown),
            "1 record consumed per second, falling"
        );
        let noise = points(&[(0, Some(0.1 + 0.2)), (0, Some(0.3))]);
        assert_eq!(
            rate_in_words(&noise),
            "0.3 records consumed per second, steady"
        );
        let one = points(&[(9, None), (5, Some(0.0))]);
        assert_eq!(
            rate_in_words(&one),
            "0 records consumed per second, one interval"
        );
        assert_eq!(
            rate_in_words(&points(&[(9, None)])),
            "records consumed per second: too few measurements"
        );
        assert_eq!(
            rate_in_words(&[]),
            "records consumed per second: no measurement in the last hour"
        );
    }
}
