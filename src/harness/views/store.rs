//! The pages of a store as a whole: the list of its runs, and a plain listing of a directory.

use std::fmt::Write;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::escape::xml;
use super::page::href;
use super::{named, Verdict, HISTORY, INDEX, RESULTS};

/// How deep under the store runs are looked for: `store/<workload>/<timestamp>/` is two.
const MAX_DEPTH: usize = 3;

/// One run found in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    /// Its directory, relative to the store, with `/` between components (`echo/20261202T...`).
    pub path: String,
    /// What its results say.
    pub verdict: Verdict,
    /// Whether it has a page ([`INDEX`]).
    pub has_page: bool,
    modified: Option<SystemTime>,
}

/// The runs under `store`, newest first: every directory at most three levels down that holds
/// [`RESULTS`] or [`HISTORY`]. Symbolic links are not followed (`store/latest` would list a
/// run twice), and nothing under a run is searched.
///
/// "Newest" is by the modification time of the run's results (or of the run directory),
/// ties broken by the path in reverse order, which for Maelstrom-style timestamp names is
/// newest first as well.
///
/// # Errors
///
/// When `store` itself cannot be read; unreadable directories below it are skipped.
pub fn runs(store: &Path) -> io::Result<Vec<StoredRun>> {
    fs::read_dir(store).map_err(|e| named(store, e))?;
    let mut found = Vec::new();
    collect(store, store, 0, &mut found);
    found.sort_by(|a, b| {
        b.modified
            .cmp(&a.modified)
            .then_with(|| b.path.cmp(&a.path))
    });
    Ok(found)
}

fn collect(store: &Path, dir: &Path, depth: usize, found: &mut Vec<StoredRun>) {
    if depth > 0 && (dir.join(RESULTS).is_file() || dir.join(HISTORY).is_file()) {
        found.push(stored_run(store, dir));
        return;
    }
    if depth == MAX_DEPTH {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for sub in dirs {
        collect(store, &sub, depth + 1, found);
    }
}

fn stored_run(store: &Path, dir: &Path) -> StoredRun {
    let relative = dir.strip_prefix(store).unwrap_or(dir);
    let path = relative
        .iter()
        .map(|c| c.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let verdict = Verdict::read(&dir.join(RESULTS)).unwrap_or(Verdict::Missing);
    let modified = fs::metadata(dir.join(RESULTS))
        .or_else(|_| fs::metadata(dir))
        .and_then(|m| m.modified())
        .ok();
    StoredRun {
        path,
        verdict,
        has_page: dir.join(INDEX).is_file(),
        modified,
    }
}

const STYLE: &str =
    "body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 960px; \
padding: 0 1em; color: #222; } table { border-collapse: collapse; } td, th { padding: 0.25em 1em; \
text-align: left; border-bottom: 1px solid #eee; } .valid { color: #2a8a3a; font-weight: bold; } \
.invalid { color: #c62828; font-weight: bold; } .unknown { color: #d97706; font-weight: bold; } \
.missing { color: #777; } a { color: #1f5fa8; }";

fn head(html: &mut String, title: &str) {
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = xml(title)
    );
}

/// The page listing the runs of `store` (see [`runs`]), newest first, each linking to its page
/// (or to its directory when it has none). Links are relative to the store's root URL.
///
/// # Errors
///
/// As [`runs`].
pub fn store_page(store: &Path) -> io::Result<String> {
    let runs = runs(store)?;
    let mut html = String::new();
    head(&mut html, "mionode runs");
    let _ = writeln!(
        html,
        "<p>{} runs in {}, newest first.</p>",
        runs.len(),
        xml(&store.display().to_string())
    );
    html.push_str("<table>\n<tr><th>run</th><th>verdict</th><th></th></tr>\n");
    for run in &runs {
        let (class, word) = (run.verdict.class(), run.verdict.word());
        let page = if run.has_page { INDEX } else { "" };
        let _ = writeln!(
            html,
            "<tr><td><a href=\"{p}/{page}\">{name}</a></td><td class=\"{class}\">{word}</td>\
             <td><a href=\"{p}/\">files</a></td></tr>",
            p = href(&run.path),
            name = xml(&run.path),
        );
    }
    html.push_str("</table>\n</body>\n</html>\n");
    Ok(html)
}

/// A plain listing of `dir`, shown at `url_path` (which ends in `/`): its subdirectories and
/// files, sorted by name, each a relative link.
///
/// # Errors
///
/// When `dir` cannot be read.
pub fn listing_page(dir: &Path, url_path: &str) -> io::Result<String> {
    let mut entries: Vec<(String, bool)> = fs::read_dir(dir)
        .map_err(|e| named(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().is_dir(),
            )
        })
        .collect();
    entries.sort();
    let mut html = String::new();
    head(&mut html, url_path);
    html.push_str("<ul>\n<li><a href=\"../\">../</a></li>\n");
    for (name, is_dir) in entries {
        let slash = if is_dir { "/" } else { "" };
        let _ = writeln!(
            html,
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>",
            href(&name),
            xml(&name)
        );
    }
    html.push_str("</ul>\n</body>\n</html>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_run(store: &Path, path: &str, valid: bool) {
        let dir = store.join(path);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(RESULTS), format!("{{\"valid\": {valid}}}")).unwrap();
    }

    #[test]
    fn runs_are_found_at_any_depth_up_to_three_newest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path();
        touch_run(store, "echo/20261202T100000.000Z", true);
        touch_run(store, "20261202T090000.000Z", false);
        touch_run(store, "a/b/c/d", true);
        touch_run(store, "echo/20261202T110000.000Z", true);
        fs::create_dir_all(store.join("echo/20261202T110000.000Z/node-logs/x")).unwrap();
        fs::write(
            store.join("echo/20261202T110000.000Z/node-logs/x/results.json"),
            "{}",
        )
        .unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("echo", store.join("latest")).unwrap();
        let mut found: Vec<_> = runs(store)
            .unwrap()
            .into_iter()
            .map(|r| (r.path, r.verdict))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            found,
            [
                ("20261202T090000.000Z".to_string(), Verdict::Invalid),
                ("echo/20261202T100000.000Z".to_string(), Verdict::Valid),
                ("echo/20261202T110000.000Z".to_string(), Verdict::Valid),
            ]
        );
        let html = store_page(store).unwrap();
        assert!(
            html.contains("href=\"echo/20261202T100000.000Z/\""),
            "{html}"
        );
    }

    #[test]
    fn a_listing_links_every_entry() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("node-logs")).unwrap();
        fs::write(tmp.path().join("a b.txt"), "").unwrap();
        let html = listing_page(tmp.path(), "/run/").unwrap();
        assert!(html.contains("<a href=\"a%20b.txt\">a b.txt</a>"), "{html}");
        assert!(
            html.contains("<a href=\"node-logs/\">node-logs/</a>"),
            "{html}"
        );
    }
}
