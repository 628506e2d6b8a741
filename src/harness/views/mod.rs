//! What a run directory shows a person: plots, a Lamport diagram and one page per run.
//!
//! [`render`] reads the records of a finished run ([`HISTORY`], [`MESSAGES`], [`NEMESIS`],
//! [`RESULTS`], [`SUMMARY`] and the node logs) and writes beside them:
//!
//! | file | what it shows |
//! |---|---|
//! | [`LATENCY_RAW`] | every completed operation: its latency (log scale) at the time it was invoked; colour by outcome, marker by operation |
//! | [`LATENCY_QUANTILES`] | p50, p95, p99 and max latency per time window |
//! | [`RATE`] | completions per second per time window, one line per outcome |
//! | [`MESSAGES_SVG`] | a Lamport diagram of the first [`ViewOptions::max_messages`] messages |
//! | [`INDEX`] | the verdict, the summary as the terminal showed it, the pictures and links to every file |
//!
//! Nemesis periods are shaded on the three plots and on the diagram, so the effect of a
//! partition shows at a glance.
//!
//! For a store of many runs (`store/<workload>/<timestamp>/`), [`runs`] finds them and
//! [`store_page`] lists them newest first; `mionode-load serve` serves those pages.
//!
//! The record files are the only input, so the load driver and the simulator render the same
//! pages from the same kind of directory. A record file that is missing counts as empty (a run
//! that recorded no messages still gets its plots); one that does not parse is an error.
//!
//! Everything written is self-contained: SVG with no external reference and no script, and an
//! HTML page with inline CSS that loads only files of its own directory, so a run directory
//! can be copied anywhere and opened from disk. The plots are drawn with `plotters` and its SVG
//! backend, which writes text as SVG `<text>` for the viewer to lay out (no font is read);
//! the diagram and the page are written here.
//!
//! Rendering is deterministic: the same records give the same bytes (no clock, no random
//! choice), which the simulator relies on when it replays a seed.

mod chart;
mod escape;
mod lamport;
mod latency;
mod page;
mod rate;
mod run;
mod store;
mod verdict;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use crate::harness::record::{HISTORY, MESSAGES, NEMESIS, NODE_LOGS, RESULTS, SUMMARY};
pub use store::{listing_page, runs, store_page, StoredRun};
pub use verdict::Verdict;

/// File name of the raw latency plot.
pub const LATENCY_RAW: &str = "latency-raw.svg";
/// File name of the latency quantiles plot.
pub const LATENCY_QUANTILES: &str = "latency-quantiles.svg";
/// File name of the rate plot.
pub const RATE: &str = "rate.svg";
/// File name of the Lamport diagram.
pub const MESSAGES_SVG: &str = "messages.svg";
/// File name of the run's page.
pub const INDEX: &str = "index.html";

/// How many messages the Lamport diagram draws unless told otherwise: about 12,000 pixels of
/// diagram, as much as anyone scrolls through; the rest are in [`MESSAGES`].
pub const DEFAULT_MAX_MESSAGES: usize = 500;

/// How many operations the raw latency plot draws at most unless told otherwise; above it,
/// every k-th completion is drawn and the title says so. Keeps the SVG under a few megabytes
/// for long runs.
pub const DEFAULT_MAX_POINTS: usize = 20_000;

/// What to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewOptions {
    /// The Lamport diagram draws the first this many messages, in the order they were sent.
    pub max_messages: usize,
    /// The raw latency plot draws at most this many operations (evenly spaced in the history).
    pub max_points: usize,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            max_messages: DEFAULT_MAX_MESSAGES,
            max_points: DEFAULT_MAX_POINTS,
        }
    }
}

/// What [`render`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The files written, in the run directory: the three plots, the diagram, the page.
    pub files: Vec<PathBuf>,
    /// How many messages the diagram draws (at most [`ViewOptions::max_messages`]).
    pub messages_drawn: usize,
}

/// Reads the records of the run in `run_dir` and writes the plots, the diagram and the page
/// beside them, replacing earlier ones.
///
/// Guarantees: every file in the table of the module doc is written, even when the run
/// recorded no operation or no message (the picture says so). Does not guarantee anything
/// about a directory that is being written to at the same time.
///
/// The records are streamed: memory grows with the number of completed operations (a few
/// dozen bytes each) and the messages drawn, not with the size of [`MESSAGES`].
///
/// # Errors
///
/// A record file that exists but cannot be read or does not parse (the error names the file
/// and the line; a last line cut short by a writer that stopped is skipped), and any error
/// writing the output files.
///
/// # Example
///
/// ```no_run
/// use mionode::harness::views::{render, ViewOptions, INDEX};
///
/// let run = std::path::Path::new("store/latest");
/// let rendered = render(run, &ViewOptions { max_messages: 100, ..ViewOptions::default() })?;
/// assert!(rendered.messages_drawn <= 100);
/// assert!(run.join(INDEX).is_file());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn render(run_dir: &Path, options: &ViewOptions) -> io::Result<Rendered> {
    let run = run::Run::load(run_dir, options.max_messages)?;
    let mut files = Vec::new();
    let mut write = |name: &str, text: String| -> io::Result<()> {
        let path = run_dir.join(name);
        fs::write(&path, text).map_err(|e| named(&path, e))?;
        files.push(path);
        Ok(())
    };
    write(LATENCY_RAW, latency::raw(&run, options.max_points)?)?;
    write(LATENCY_QUANTILES, latency::quantiles(&run)?)?;
    write(RATE, rate::rate(&run)?)?;
    let diagram = lamport::diagram(&run, options.max_messages);
    write(MESSAGES_SVG, diagram.svg)?;
    write(INDEX, page::page(run_dir, &run, diagram.drawn)?)?;
    Ok(Rendered {
        files,
        messages_drawn: diagram.drawn,
    })
}

/// `e`, with the path it happened on in front.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
