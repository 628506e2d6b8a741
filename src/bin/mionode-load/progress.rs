//! The progress bar: elapsed time against the time limit, operations ended and the current
//! rate. Drawn on stdout only when it is a terminal (so never into a pipe or a file), and
//! cleared before the summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ProgressArg;

/// Runs shorter than this draw no bar in `auto` mode: it would only flicker.
pub const MIN_RUN_FOR_BAR: Duration = Duration::from_secs(2);

/// Window over which the current rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// The progress bar, or nothing.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    /// (when, ops ended then), oldest first, spanning about [`RATE_WINDOW`].
    samples: Vec<(Instant, u64)>,
}

impl Progress {
    /// A bar for a run of `time_limit`, if `mode` and the terminal allow one.
    pub fn new(mode: ProgressArg, time_limit: Duration) -> Self {
        let wanted = match mode {
            ProgressArg::Never => false,
            ProgressArg::Always => true,
            ProgressArg::Auto => time_limit > MIN_RUN_FOR_BAR,
        };
        let bar = (wanted && std::io::stdout().is_terminal()).then(|| {
            let len = time_limit.as_millis() as u64;
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stdout());
            let template = "{prefix} [{bar:30.cyan/blue}] {msg}";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            bar,
            samples: Vec::new(),
        }
    }

    /// Shows `ops` operations ended `elapsed` into the workload.
    pub fn update(&mut self, now: Instant, elapsed: Duration, ops: u64) {
        let Some(bar) = &self.bar else {
            return;
        };
        self.samples.push((now, ops));
        let cutoff = self
            .samples
            .partition_point(|&(t, _)| now - t > RATE_WINDOW);
        self.samples.drain(..cutoff.saturating_sub(1));
        let (t0, ops0) = self.samples[0];
        let span = (now - t0).as_secs_f64();
        let rate = if span > 0.0 {
            (ops - ops0) as f64 / span
        } else {
            0.0
        };
        bar.set_prefix(format!("{:5.1}s", elapsed.as_secs_f64()));
        bar.set_position(elapsed.as_millis() as u64);
        bar.set_message(format!("{ops} ops, {rate:.0} ops/s"));
    }

    /// Says the clients have stopped and replies are being drained.
    pub fn draining(&self) {
        self.message("stopping: waiting for replies in flight");
    }

    /// Shows `text` as the bar's message.
    pub fn message(&self, text: &'static str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text);
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
