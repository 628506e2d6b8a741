//! `rate.svg`: completions per second over the run, one line per outcome.

use std::io;

use plotters::prelude::*;

use super::chart::{self, legend, outcome_color, plot_error, seconds, shade_nemesis, FONT, SIZE};
use super::run::{Outcome, Run};

/// Completions per second in each time window, by the time they completed, one line per
/// outcome that occurred (a window without any is a zero, so a stall shows as a dip).
pub(super) fn rate(run: &Run) -> io::Result<String> {
    let window = chart::window(run.end, run.completed.len());
    let windows = (run.end / window + 1) as usize;
    let per_second = 1e9 / window as f64;
    let lines: Vec<(Outcome, Vec<f64>)> = Outcome::ALL
        .into_iter()
        .filter_map(|outcome| {
            let mut counts = vec![0.0; windows];
            let mut any = false;
            for c in run.completed.iter().filter(|c| c.outcome == outcome) {
                counts[(c.completed / window) as usize] += per_second;
                any = true;
            }
            any.then_some((outcome, counts))
        })
        .collect();
    let top = lines
        .iter()
        .flat_map(|(_, counts)| counts.iter().copied())
        .fold(0.0f64, f64::max);
    let y = (0.0, if top > 0.0 { top * 1.15 } else { 1.0 });
    let title = format!(
        "Completions per second, per {} window",
        super::escape::time(window)
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(chart::x_range(run), y.0..y.1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("time since the start (s)")
            .y_desc("operations per second")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .axis_desc_style((FONT, 14))
            .label_style((FONT, 12))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_error)?;
        shade_nemesis(&mut chart, run, y)?;
        for (outcome, counts) in lines {
            let points = counts
                .into_iter()
                .enumerate()
                .map(|(i, r)| (seconds(i as u64 * window + window / 2), r));
            let color = outcome_color(outcome);
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(2))
                .map_err(plot_error)?
                .label(outcome.label())
                .legend(move |(x, y)| {
                    PathElement::new([(x - 8, y), (x + 8, y)], color.stroke_width(2))
                });
        }
        legend(&mut chart)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}
