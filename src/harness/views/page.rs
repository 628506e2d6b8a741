//! `index.html`: one self-contained page per run.

use std::fmt::Write;
use std::fs;
use std::io;
use std::path::Path;

use super::escape::{time, xml};
use super::run::Run;
use super::{
    named, HISTORY, INDEX, LATENCY_QUANTILES, LATENCY_RAW, MESSAGES, MESSAGES_SVG, NEMESIS,
    NODE_LOGS, RATE, RESULTS, SUMMARY,
};

/// The page's only style sheet, inline so that the page needs nothing from elsewhere.
const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1060px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; font-weight: bold; padding: 0.25em 0.7em; border-radius: 4px; color: #fff; }
.valid { background: #2a8a3a; } .invalid { background: #c62828; } .unknown { background: #d97706; } .missing { background: #777; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 12.5px; line-height: 1.35; }
img, object { max-width: 100%; height: auto; display: block; margin: 0.6em 0; border: 1px solid #eee; }
.diagram { max-height: 80vh; overflow: auto; border: 1px solid #ddd; }
.diagram object { max-width: none; border: 0; margin: 0; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 0.2em 0.8em; text-align: left; border-bottom: 1px solid #eee; }
a { color: #1f5fa8; }
";

/// The page of the run in `dir`, given the records read from it and how many messages the
/// diagram draws. Links name only files that exist in `dir`.
pub(super) fn page(dir: &Path, run: &Run, drawn: usize) -> io::Result<String> {
    let name = run_name(dir);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        xml(&format!("mionode run {name}")),
        xml(&name)
    );
    verdict(&mut html, run);
    if let Some(summary) = &run.summary {
        let _ = write!(
            html,
            "<h2>Summary</h2>\n<pre>{}</pre>\n",
            xml(summary.trim_end())
        );
    }
    plots(&mut html, run);
    nemesis(&mut html, run);
    diagram(&mut html, run, drawn);
    files(&mut html, dir)?;
    html.push_str("</body>\n</html>\n");
    Ok(html)
}

/// `<workload>/<timestamp>` from the last two components of the run directory's path.
fn run_name(dir: &Path) -> String {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let last: Vec<String> = dir
        .iter()
        .rev()
        .take(2)
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    last.into_iter().rev().collect::<Vec<_>>().join("/")
}

fn verdict(html: &mut String, run: &Run) {
    let (class, word) = (run.verdict.class(), run.verdict.word());
    let line = run
        .summary
        .as_deref()
        .and_then(|s| s.lines().rev().find_map(|l| l.strip_prefix("verdict:")))
        .map(str::trim)
        .unwrap_or("");
    let _ = writeln!(
        html,
        "<p><span class=\"verdict {class}\">{word}</span> {}</p>",
        xml(line)
    );
}

fn plots(html: &mut String, run: &Run) {
    let _ = writeln!(
        html,
        "<h2>Latency</h2>\n<p>{} operations completed{}. Every operation at the time it was \
         invoked, on a log scale; shaded: nemesis.</p>",
        run.completed.len(),
        match run.pending {
            0 => String::new(),
            n => format!(", {n} still open at the end"),
        }
    );
    for (file, alt) in [
        (LATENCY_RAW, "latency of every operation over time"),
        (LATENCY_QUANTILES, "latency quantiles over time"),
    ] {
        let _ = writeln!(
            html,
            "<img src=\"{file}\" alt=\"{alt}\" width=\"1000\" height=\"480\">"
        );
    }
    let _ = writeln!(
        html,
        "<h2>Rate</h2>\n<img src=\"{RATE}\" alt=\"completions per second over time\" width=\"1000\" height=\"480\">"
    );
}

fn nemesis(html: &mut String, run: &Run) {
    if run.nemesis.is_empty() {
        return;
    }
    html.push_str(
        "<h2>Nemesis</h2>\n<table>\n<tr><th>from</th><th>to</th><th>fault</th><th>what</th></tr>\n",
    );
    for p in &run.nemesis {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(p.start),
            p.end.map_or_else(|| "the end".to_string(), time),
            xml(&p.kind),
            xml(&p.detail)
        );
    }
    html.push_str("</table>\n");
}

fn diagram(html: &mut String, run: &Run, drawn: usize) {
    let total = run.message_count;
    let which = if drawn < total {
        format!("the first {drawn} of {total} messages")
    } else {
        format!("all {total} messages")
    };
    let _ = writeln!(
        html,
        "<h2>Messages</h2>\n<p>A Lamport diagram of {which} (every send and delivery in order, \
         time running down); hover an arrow for its ids, or <a href=\"{MESSAGES_SVG}\">open it \
         alone</a>.</p>\n<div class=\"diagram\"><object data=\"{MESSAGES_SVG}\" \
         type=\"image/svg+xml\">messages.svg</object></div>"
    );
}

/// Links to the records, the pictures and every node log that exist.
fn files(html: &mut String, dir: &Path) -> io::Result<()> {
    html.push_str("<h2>Files</h2>\n<ul>\n");
    let mut names: Vec<String> = [RESULTS, SUMMARY, HISTORY, MESSAGES, NEMESIS]
        .into_iter()
        .filter(|f| dir.join(f).is_file())
        .map(String::from)
        .collect();
    let logs = dir.join(NODE_LOGS);
    if logs.is_dir() {
        let mut entries: Vec<String> = fs::read_dir(&logs)
            .map_err(|e| named(&logs, e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| format!("{NODE_LOGS}/{}", e.file_name().to_string_lossy()))
            .collect();
        entries.sort();
        names.extend(entries);
    }
    names.extend([LATENCY_RAW, LATENCY_QUANTILES, RATE, MESSAGES_SVG].map(String::from));
    for name in names {
        let _ = writeln!(
            html,
            "<li><a href=\"{}\">{}</a></li>",
            href(&name),
            xml(&name)
        );
    }
    let _ = writeln!(
        html,
        "</ul>\n<p><small>{INDEX} written by mionode</small></p>"
    );
    Ok(())
}

/// A relative path as a link target: each byte outside the URL-safe set percent-encoded.
pub(super) fn href(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_badge_says_the_verdict_and_the_summary_says_why() {
        let run = Run {
            verdict: crate::harness::views::Verdict::Unknown,
            summary: Some("op ...\nverdict: UNKNOWN: the search gave up\n".into()),
            ..Run::default()
        };
        let mut html = String::new();
        verdict(&mut html, &run);
        assert_eq!(
            html,
            "<p><span class=\"verdict unknown\">UNKNOWN</span> UNKNOWN: the search gave up</p>\n"
        );
    }

    #[test]
    fn links_are_percent_encoded() {
        assert_eq!(href("node-logs/n0.log"), "node-logs/n0.log");
        assert_eq!(href("node-logs/a b&<.log"), "node-logs/a%20b%26%3C.log");
    }
}
