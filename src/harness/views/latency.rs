//! `latency-raw.svg` and `latency-quantiles.svg`: how long operations took, over the run.

use std::collections::BTreeMap;
use std::io;

use plotters::prelude::*;

use super::chart::{
    self, legend, marker, outcome_color, palette, plot_error, seconds, shade_nemesis, FONT, SIZE,
};
use super::run::{Completed, Outcome, Run};

/// The lowest latency the log axis shows, in milliseconds; faster operations sit on it.
const FLOOR_MS: f64 = 0.01;

/// The quantiles plot draws these, with their labels.
const QUANTILES: [(f64, &str); 4] = [(0.5, "p50"), (0.95, "p95"), (0.99, "p99"), (1.0, "max")];

fn millis(c: &Completed) -> f64 {
    (c.latency() as f64 / 1e6).max(FLOOR_MS)
}

/// The y range of a log axis holding `values` (in ms), padded to whole decades' edges.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi == 0.0 {
        return (0.1, 1000.0);
    }
    (lo.max(FLOOR_MS) / 1.5, (hi * 1.5).max(lo * 10.0))
}

/// A tick label of the log axis: at most three significant digits, no float noise
/// (`0.30000000000000004` is `0.3`), no trailing zeros.
fn format_ms(ms: &f64) -> String {
    let decimals = (2.0 - ms.abs().log10().floor()).clamp(0.0, 6.0) as usize;
    let text = format!("{ms:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// The raw latency plot: one marker per completed operation (at most `max_points` of them),
/// at its invocation time, coloured by outcome, shaped by operation kind.
pub(super) fn raw(run: &Run, max_points: usize) -> io::Result<String> {
    let stride = run.completed.len().div_ceil(max_points.max(1)).max(1);
    let shown: Vec<&Completed> = run.completed.iter().step_by(stride).collect();
    let mut kinds: Vec<&str> = run.completed.iter().map(|c| c.f.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let y = y_range(shown.iter().map(|c| millis(c)));
    let mut title = format!("Latency of {} operations", run.completed.len());
    if stride > 1 {
        title.push_str(&format!(" (1 in {stride} drawn)"));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = frame(&root, &title, run, y)?;
        shade_nemesis(&mut chart, run, y)?;
        for (shape, f) in kinds.iter().enumerate() {
            for outcome in Outcome::ALL {
                let points: Vec<_> = shown
                    .iter()
                    .filter(|c| c.f == *f && c.outcome == outcome)
                    .map(|c| (seconds(c.invoked), millis(c)))
                    .collect();
                if points.is_empty() {
                    continue;
                }
                let color = outcome_color(outcome);
                chart
                    .draw_series(points.into_iter().map(|p| marker(shape, p, color)))
                    .map_err(plot_error)?
                    .label(format!("{f} {}", outcome.label()))
                    .legend(move |p| marker(shape, p, color));
            }
        }
        legend(&mut chart)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// The quantiles plot: p50, p95, p99 and max of the latencies of the operations invoked in
/// each time window.
pub(super) fn quantiles(run: &Run) -> io::Result<String> {
    let window = chart::window(run.end, run.completed.len());
    let mut bins: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for c in &run.completed {
        bins.entry(c.invoked / window).or_default().push(millis(c));
    }
    for values in bins.values_mut() {
        values.sort_by(f64::total_cmp);
    }
    let y = y_range(bins.values().flatten().copied());
    let title = format!(
        "Latency quantiles per {} window",
        super::escape::time(window)
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = frame(&root, &title, run, y)?;
        shade_nemesis(&mut chart, run, y)?;
        for (n, (q, label)) in QUANTILES.into_iter().enumerate() {
            let points: Vec<(f64, f64)> = bins
                .iter()
                .map(|(bin, values)| (seconds(bin * window + window / 2), nearest_rank(values, q)))
                .collect();
            let color = palette(n);
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(2))
                .map_err(plot_error)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x - 8, y), (x + 8, y)], color.stroke_width(2))
                });
        }
        legend(&mut chart)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// The `q`-quantile of sorted, non-empty `values` by the nearest-rank method.
fn nearest_rank(values: &[f64], q: f64) -> f64 {
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// The caption, axes and mesh of a latency plot.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    run: &Run,
    y: (f64, f64),
) -> io::Result<chart::Chart<'a, 'b, LogCoord<f64>>> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(chart::x_range(run), (y.0..y.1).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("time since the start (s)")
        .y_desc("latency (ms)")
        .y_label_formatter(&format_ms)
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 12))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_error)?;
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.5), 50.0);
        assert_eq!(nearest_rank(&v, 0.99), 99.0);
        assert_eq!(nearest_rank(&v, 1.0), 100.0);
        assert_eq!(nearest_rank(&[7.0], 0.5), 7.0);
        assert_eq!(nearest_rank(&[1.0, 2.0], 0.0), 1.0);
    }

    #[test]
    fn tick_labels_have_no_float_noise() {
        let labels: Vec<String> = [
            0.30000000000000004,
            0.6000000000000001,
            0.05,
            1.0,
            2.5,
            1000.0,
        ]
        .iter()
        .map(format_ms)
        .collect();
        assert_eq!(labels, ["0.3", "0.6", "0.05", "1", "2.5", "1000"]);
        assert_eq!(format_ms(&0.000_123_4), "0.000123");
    }

    #[test]
    fn an_empty_axis_still_has_a_range() {
        assert_eq!(y_range(std::iter::empty()), (0.1, 1000.0));
        let (lo, hi) = y_range([2.0, 2.0].into_iter());
        assert!(lo < 2.0 && hi >= 20.0, "{lo} {hi}");
    }
}
