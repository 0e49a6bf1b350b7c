//! The list's sparklines (docs/console.md): each belt's last hour as two small inline SVGs drawn
//! by the belt page's chart code, records waiting and records consumed per second (the points of
//! `belts::lag`, at most `SPARKLINE_POINTS`, read for the whole page at once), with no script.
//! Each has a fixed size, so nothing moves when it is there or not, and an accessible name that
//! says in words what it draws (`spark_words.rs`). A belt without samples shows a dash that says
//! so in the same words. Each has an id of its belt and kind, by which `ui/live.js` puts in place
//! the ones the list's fragment route answers later.

use time::OffsetDateTime;

use super::chart::{polylines, Frame};
use super::html::Html;
use super::spark_words::{lag_in_words, rate_in_words};
use crate::domain::lag_series::LagPoint;
use crate::domain::BeltId;

/// Its size in CSS pixels (ui/style.css's `.spark` says the same, for the dash).
const SPARK: Frame = Frame {
    width: 120.0,
    height: 24.0,
};

/// What a sparkline draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spark {
    /// Records waiting.
    Lag,
    /// Records consumed per second, between consecutive samples as `GET …/lag` has them.
    Rate,
}

impl Spark {
    /// Both, in the order of the list's columns.
    pub const BOTH: [Spark; 2] = [Spark::Lag, Spark::Rate];

    fn name(self) -> &'static str {
        match self {
            Spark::Lag => "lag",
            Spark::Rate => "rate",
        }
    }

    fn values(self, points: &[LagPoint]) -> Vec<(OffsetDateTime, f64)> {
        match self {
            Spark::Lag => (points.iter())
                .map(|p| (p.at, p.total_lag as f64))
                .collect(),
            Spark::Rate => (points.iter())
                .filter_map(|p| p.records_per_second.map(|rate| (p.at, rate)))
                .collect(),
        }
    }

    fn in_words(self, points: &[LagPoint]) -> String {
        match self {
            Spark::Lag => lag_in_words(points),
            Spark::Rate => rate_in_words(points),
        }
    }

    fn unavailable(self) -> &'static str {
        match self {
            Spark::Lag => "lag unavailable",
            Spark::Rate => "records consumed per second unavailable",
        }
    }
}

/// The sparkline of belt `id` with these points (oldest first; none: not measured).
pub fn sparkline(html: &mut Html, spark: Spark, id: BeltId, points: &[LagPoint]) {
    let said = spark.in_words(points);
    let values = spark.values(points);
    if values.is_empty() {
        return dash(html, spark, id, &said);
    }
    let highest = values.iter().map(|&(_, v)| v).fold(0.0, f64::max);
    html.raw("<svg class=\"spark\" id=\"");
    slot(html, spark, id);
    html.raw("\" width=\"120\" height=\"24\" viewBox=\"0 0 120 24\" ")
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

/// The sparkline's place when the samples could not be read.
pub fn unavailable(html: &mut Html, spark: Spark, id: BeltId) {
    dash(html, spark, id, spark.unavailable());
}

/// The id both the page and the fragment give belt `id`'s `spark`: `spark-lag-12`.
fn slot(html: &mut Html, spark: Spark, id: BeltId) {
    html.raw("spark-").raw(spark.name()).raw("-").text(id);
}

fn dash(html: &mut Html, spark: Spark, id: BeltId, said: &str) {
    html.raw("<span class=\"spark none\" id=\"");
    slot(html, spark, id);
    html.raw("\" role=\"img\" aria-label=\"")
        .text(said)
        .raw("\" title=\"")
        .text(said)
        .raw("\">–</span>");
}

#[cfg(test)]
mod tests {
    use super::super::spark_words::test_points as points;
    use super::*;

    fn drawn(spark: Spark, points: &[LagPoint]) -> String {
        let mut html = Html::default();
        sparkline(&mut html, spark, BeltId::new(7).unwrap(), points);
        html.finish()
    }

    #[test]
    fn a_sparkline_has_a_fixed_size_an_id_and_a_dash_says_the_same_in_words() {
        let lag = drawn(Spark::Lag, &points(&[(10, None), (0, Some(4.0))]));
        assert!(
            lag.starts_with("<svg class=\"spark\" id=\"spark-lag-7\" width=\"120\" height=\"24\"")
        );
        assert!(
            lag.contains("aria-label=\"lag 0 records, falling\""),
            "{lag}"
        );
        assert!(lag.contains("points=\"0.0,2.0 120.0,22.0\""), "{lag}");
        let none = drawn(Spark::Lag, &[]);
        assert!(none.contains("id=\"spark-lag-7\""), "{none}");
        assert!(none.contains("aria-label=\"lag: no measurement in the last hour\""));
        assert!(none.contains(">–</span>"), "{none}");
    }

    #[test]
    fn the_rate_draws_only_the_points_that_have_one() {
        let rate = drawn(
            Spark::Rate,
            &points(&[(9, None), (5, Some(2.0)), (5, Some(4.0))]),
        );
        assert!(rate.contains("id=\"spark-rate-7\""), "{rate}");
        assert!(
            rate.contains("aria-label=\"4 records consumed per second, rising\""),
            "{rate}"
        );
        // From the second sample (30 s) to the third (60 s): the whole width.
        assert!(rate.contains("points=\"0.0,12.0 120.0,2.0\""), "{rate}");
        let one = drawn(Spark::Rate, &points(&[(9, None)]));
        assert!(one.starts_with("<span class=\"spark none\""), "{one}");
    }
}
