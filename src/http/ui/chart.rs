//! The belt page's lag chart (docs/console.md): the series of `GET …/lag` (the last hour) drawn as
//! two small SVG line charts, records waiting and records consumed per second, rendered here with
//! no script. Each chart is an image with a text alternative that says what it shows; the numbers
//! are also written out below it, so nothing is said by the drawing alone.

use time::OffsetDateTime;

use super::html::Html;
use crate::belts::BeltError;
use crate::domain::lag_series::LagPoint;

/// The size of a drawing, in the units of its `viewBox`.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
}

const CHART: Frame = Frame {
    width: 600.0,
    height: 100.0,
};
/// A gap longer than this many median intervals between samples breaks the line: the belt was
/// not running (or not measured) in between, and a line across would claim it was.
const GAP_INTERVALS: f64 = 2.5;

pub fn section(html: &mut Html, series: Result<Vec<LagPoint>, BeltError>) {
    html.raw("<section aria-labelledby=\"lag\"><h2 id=\"lag\">Lag, the last hour</h2>");
    match series {
        Ok(points) if points.is_empty() => {
            html.raw("<p>No measurement yet: belt-api measures a running belt's lag every ")
                .raw("lag interval (30 s by default) when it has a data plane.</p>");
        }
        Ok(points) => {
            let lag: Vec<(OffsetDateTime, f64)> =
                points.iter().map(|p| (p.at, p.total_lag as f64)).collect();
            let rate: Vec<(OffsetDateTime, f64)> = (points.iter())
                .filter_map(|p| p.records_per_second.map(|r| (p.at, r)))
                .collect();
            chart(html, "lag-waiting", "Records waiting", &lag);
            chart(html, "lag-rate", "Records consumed per second", &rate);
        }
        Err(err) => {
            html.raw("<p class=\"problem\">Lag unavailable: ")
                .text(err)
                .raw("</p>");
        }
    }
    html.raw("</section>");
}

fn chart(html: &mut Html, id: &'static str, title: &'static str, values: &[(OffsetDateTime, f64)]) {
    let Some(&(_, now)) = values.last() else {
        return;
    };
    let highest = values.iter().map(|&(_, v)| v).fold(0.0, f64::max);
    let summary = format!("now {}, highest {} in the hour", shown(now), shown(highest));
    html.raw(
        "<figure class=\"chart\"><svg viewBox=\"0 0 600 100\" role=\"img\" aria-labelledby=\"",
    )
    .raw(id)
    .raw("\" preserveAspectRatio=\"none\"><title id=\"")
    .raw(id)
    .raw("\">")
    .raw(title)
    .raw(": ")
    .text(&summary)
    .raw("</title>");
    for line in polylines(values, highest, CHART) {
        html.raw("<polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\" ")
            .raw("vector-effect=\"non-scaling-stroke\" points=\"")
            .text(line)
            .raw("\"/>");
    }
    html.raw("</svg><figcaption>")
        .raw(title)
        .raw(": ")
        .text(summary)
        .raw("</figcaption></figure>");
}

fn shown(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The `points` attributes of the lines in `frame`, x over the series' time span, y over
/// 0..=`highest` (2 units kept free above and below, so a line at either end is not clipped).
/// The belt page's charts and the list's sparklines (`sparkline.rs`) both draw with it.
pub fn polylines(values: &[(OffsetDateTime, f64)], highest: f64, frame: Frame) -> Vec<String> {
    let first = values[0].0;
    let span = (values[values.len() - 1].0 - first)
        .as_seconds_f64()
        .max(1.0);
    let top = if highest > 0.0 { highest } else { 1.0 };
    let mut gaps: Vec<f64> = (values.windows(2))
        .map(|w| (w[1].0 - w[0].0).as_seconds_f64())
        .collect();
    gaps.sort_by(f64::total_cmp);
    let usual = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
    let mut lines = vec![String::new()];
    for (i, &(at, value)) in values.iter().enumerate() {
        if i > 0 && usual > 0.0 && (at - values[i - 1].0).as_seconds_f64() > usual * GAP_INTERVALS {
            lines.push(String::new());
        }
        let x = (at - first).as_seconds_f64() / span * frame.width;
        let y = frame.height - value / top * (frame.height - 4.0) - 2.0;
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&format!("{x:.1},{y:.1}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(seconds)
    }

    #[test]
    fn the_line_spans_the_chart_and_breaks_where_samples_are_missing() {
        let values = [(at(0), 0.0), (at(30), 10.0), (at(60), 5.0), (at(600), 10.0)];
        let lines = polylines(&values, 10.0, CHART);
        assert_eq!(lines, ["0.0,98.0 30.0,2.0 60.0,50.0", "600.0,2.0"]);
    }

    #[test]
    fn the_chart_says_in_words_what_it_draws() {
        let mut html = Html::default();
        chart(
            &mut html,
            "t",
            "Records waiting",
            &[(at(0), 3.0), (at(30), 7.5)],
        );
        let page = html.finish();
        assert!(page
            .contains("<title id=\"t\">Records waiting: now 7.5, highest 7.5 in the hour</title>"));
        assert!(page.contains("<figcaption>Records waiting: now 7.5, highest 7.5 in the hour"));
    }
}
