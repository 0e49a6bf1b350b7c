//! The list's lag sparklines (docs/console.md): each belt's records waiting over the last hour
//! (at most `belts::lag::SPARKLINE_POINTS` samples, read for the whole page at once) as a small
//! inline SVG drawn by the belt page's chart code, with no script. It has a fixed size, so nothing
//! moves when it is there or not, and an accessible name that says in words what it draws: the
//! last lag and its trend. A belt without samples shows a dash that says so in the same words.

use time::OffsetDateTime;

use super::chart::{polylines, Frame};
use super::html::Html;
use crate::domain::lag_series::LagSample;

/// Its size in CSS pixels (ui/style.css's `.spark` says the same, for the dash).
const SPARK: Frame = Frame {
    width: 120.0,
    height: 24.0,
};

/// The cell's content for a belt with these samples (oldest first; none: not measured).
pub fn sparkline(html: &mut Html, samples: &[LagSample]) {
    let said = in_words(samples);
    if samples.is_empty() {
        return dash(html, &said);
    }
    let values: Vec<(OffsetDateTime, f64)> = (samples.iter())
        .map(|s| (s.at, s.total_lag as f64))
        .collect();
    let highest = values.iter().map(|&(_, v)| v).fold(0.0, f64::max);
    html.raw("<svg class=\"spark\" width=\"120\" height=\"24\" viewBox=\"0 0 120 24\" ")
        .raw("role=\"img\" aria-label=\"")
        .text(&said)
        .raw("\"><title>")
        .text(&said)
        .raw("</title>");
    for line in polylines(&values, highest, SPARK) {
        html.raw("<polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" points=\"")
            .text(line)
            .raw("\"/>");
    }
    html.raw("</svg>");
}

/// The cell's content when the samples could not be read.
pub fn unavailable(html: &mut Html) {
    dash(html, "lag unavailable");
}

fn dash(html: &mut Html, said: &str) {
    html.raw("<span class=\"spark none\" role=\"img\" aria-label=\"")
        .text(said)
        .raw("\" title=\"")
        .text(said)
        .raw("\">–</span>");
}

/// "lag 1,234 records, falling": the last sample, and where it went since the first shown.
fn in_words(samples: &[LagSample]) -> String {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return "lag: no measurement in the last hour".to_string();
    };
    let records = if last.total_lag == 1 {
        "record"
    } else {
        "records"
    };
    let trend = if samples.len() < 2 {
        "one measurement"
    } else {
        match last.total_lag.cmp(&first.total_lag) {
            std::cmp::Ordering::Greater => "rising",
            std::cmp::Ordering::Less => "falling",
            std::cmp::Ordering::Equal => "steady",
        }
    };
    format!("lag {} {records}, {trend}", grouped(last.total_lag))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(lags: &[i64]) -> Vec<LagSample> {
        (lags.iter().zip(0i64..))
            .map(|(&total_lag, i)| LagSample {
                at: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(30 * i),
                total_lag,
                committed: 0,
            })
            .collect()
    }

    #[test]
    fn the_words_say_the_last_lag_and_its_trend() {
        assert_eq!(
            in_words(&samples(&[2000, 1234])),
            "lag 1,234 records, falling"
        );
        assert_eq!(in_words(&samples(&[0, 1])), "lag 1 record, rising");
        assert_eq!(in_words(&samples(&[5, 9, 5])), "lag 5 records, steady");
        assert_eq!(
            in_words(&samples(&[1_234_567])),
            "lag 1,234,567 records, one measurement"
        );
        assert_eq!(in_words(&[]), "lag: no measurement in the last hour");
        assert_eq!(grouped(-1000), "-1,000");
        assert_eq!(grouped(999), "999");
    }

    #[test]
    fn a_sparkline_has_a_fixed_size_and_a_dash_says_the_same_in_words() {
        let mut html = Html::default();
        sparkline(&mut html, &samples(&[10, 0]));
        let drawn = html.finish();
        assert!(drawn.starts_with("<svg class=\"spark\" width=\"120\" height=\"24\""));
        assert!(
            drawn.contains("aria-label=\"lag 0 records, falling\""),
            "{drawn}"
        );
        assert!(drawn.contains("points=\"0.0,2.0 120.0,22.0\""), "{drawn}");
        let mut html = Html::default();
        sparkline(&mut html, &[]);
        let none = html.finish();
        assert!(none.contains("aria-label=\"lag: no measurement in the last hour\""));
        assert!(none.contains(">–</span>"), "{none}");
    }
}
