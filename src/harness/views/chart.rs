//! What the three plots share: size, colours, markers, time windows and the nemesis shading.

use std::io;

use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::run::{Outcome, Run};
use crate::harness::record::Nanos;

/// Width and height of every plot, in SVG pixels.
pub(super) const SIZE: (u32, u32) = (1000, 480);

/// Font of captions, axis descriptions and legends (the viewer picks the face).
pub(super) const FONT: &str = "sans-serif";

/// Colour of the shading of nemesis periods: a light red, drawn under the data.
const NEMESIS_FILL: RGBColor = RGBColor(214, 39, 40);
/// How opaque the nemesis shading is.
const NEMESIS_ALPHA: f64 = 0.12;

/// Time windows the quantiles and rate plots bin into, in milliseconds: the smallest that
/// gives at most [`MAX_WINDOWS`] windows, each with [`MIN_PER_WINDOW`] operations on average.
const WINDOWS_MS: [u64; 12] = [
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000,
];
/// At most this many time windows across a run (unless it is longer than an hour and a half).
const MAX_WINDOWS: u64 = 80;
/// At least this many operations in a window on average, so that a p99 means something (a
/// window of 4 operations has a p95 equal to its max).
const MIN_PER_WINDOW: u64 = 10;

/// One plot's coordinates: seconds across, `Y` up.
pub(super) type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// The colour of an outcome (matplotlib's tab10: blue ok, red fail, orange info).
pub(super) fn outcome_color(outcome: Outcome) -> RGBColor {
    match outcome {
        Outcome::Ok => RGBColor(31, 119, 180),
        Outcome::Fail => RGBColor(214, 39, 40),
        Outcome::Info => RGBColor(255, 127, 14),
    }
}

/// The n-th colour of a small palette, for lines that are not outcomes (quantiles).
pub(super) fn palette(n: usize) -> RGBColor {
    const COLORS: [RGBColor; 4] = [
        RGBColor(44, 160, 44),
        RGBColor(31, 119, 180),
        RGBColor(148, 103, 189),
        RGBColor(30, 30, 30),
    ];
    COLORS[n % COLORS.len()]
}

/// A marker for the `shape`-th operation kind: a filled circle, a triangle, a cross, a ring.
pub(super) fn marker<DB: DrawingBackend, C: Clone + 'static>(
    shape: usize,
    at: C,
    color: RGBColor,
) -> DynElement<'static, DB, C> {
    let style = color.mix(0.75);
    match shape % 4 {
        0 => Circle::new(at, 3, style.filled()).into_dyn(),
        1 => TriangleMarker::new(at, 4, style.filled()).into_dyn(),
        2 => Cross::new(at, 3, style.stroke_width(1)).into_dyn(),
        _ => Circle::new(at, 3, style.stroke_width(1)).into_dyn(),
    }
}

/// Seconds since the start, as the x axis counts them.
pub(super) fn seconds(t: Nanos) -> f64 {
    t as f64 / 1e9
}

/// The x range of a run: from 0 to its end, never empty.
pub(super) fn x_range(run: &Run) -> std::ops::Range<f64> {
    0.0..seconds(run.end).max(0.001) * 1.02
}

/// The width of the time windows for a run that lasted until `end` and completed `ops`
/// operations.
pub(super) fn window(end: Nanos, ops: usize) -> Nanos {
    let windows = MAX_WINDOWS.min(ops as u64 / MIN_PER_WINDOW).max(1);
    let ms = WINDOWS_MS
        .iter()
        .copied()
        .find(|w| end / (w * 1_000_000) < windows)
        .unwrap_or(WINDOWS_MS[WINDOWS_MS.len() - 1]);
    ms * 1_000_000
}

/// Shades every nemesis period across the plot's height `y` and adds one legend entry per
/// kind of fault.
pub(super) fn shade_nemesis<Y>(
    chart: &mut Chart<'_, '_, Y>,
    run: &Run,
    y: (f64, f64),
) -> io::Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    let mut kinds: Vec<&str> = run.nemesis.iter().map(|p| p.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let style = NEMESIS_FILL.mix(NEMESIS_ALPHA).filled();
    for kind in kinds {
        let bands = run.nemesis.iter().filter(|p| p.kind == kind).map(|p| {
            let end = seconds(p.end.unwrap_or(run.end));
            Rectangle::new([(seconds(p.start), y.0), (end, y.1)], style)
        });
        chart
            .draw_series(bands)
            .map_err(plot_error)?
            .label(kind.to_string())
            .legend(move |(x, y)| Rectangle::new([(x - 6, y - 5), (x + 6, y + 5)], style));
    }
    Ok(())
}

/// Draws the legend in the upper right corner.
pub(super) fn legend<'a, 'b: 'a, Y: Ranged>(chart: &mut Chart<'a, 'b, Y>) -> io::Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 13))
        .draw()
        .map_err(plot_error)
}

/// A plotters error as an I/O error (drawing into a string only fails on a bug).
pub(super) fn plot_error<E: std::error::Error>(e: E) -> io::Error {
    io::Error::other(format!("plotting failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_grow_with_the_run() {
        let many = 1_000_000;
        assert_eq!(window(0, many), 10_000_000);
        assert_eq!(window(500_000_000, many), 10_000_000);
        assert_eq!(window(5_000_000_000, many), 100_000_000);
        assert_eq!(window(60_000_000_000, many), 1_000_000_000);
        assert_eq!(window(u64::MAX / 2, many), 60_000_000_000);
    }

    #[test]
    fn windows_hold_enough_operations() {
        // 234 operations in 3 s: 23 windows at most, so 200 ms ones.
        assert_eq!(window(3_000_000_000, 234), 200_000_000);
        assert_eq!(window(3_000_000_000, 0), 5_000_000_000);
    }
}
