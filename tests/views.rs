//! The views of a run directory (`mionode::harness::views`), on a run written by hand with the
//! record types (tests/views_support): every file is written, every SVG is well-formed XML
//! that a real renderer (resvg) draws as a picture that is not blank, with the outcomes'
//! colours and the nemesis shading where they belong; the diagram has one arrow per message
//! up to its limit; the page links only to files that exist and loads nothing from elsewhere;
//! and, where Chromium is installed, a real browser shows the page.

mod views_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mionode::harness::views::{self, render, ViewOptions};
use resvg::tiny_skia::Pixmap;

const SVGS: [&str; 4] = [
    views::LATENCY_RAW,
    views::LATENCY_QUANTILES,
    views::RATE,
    views::MESSAGES_SVG,
];

fn fixture_run(valid: bool) -> (tempfile::TempDir, PathBuf, views_support::Fixture) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mixed").join("20261202T101500.000Z");
    let fixture = views_support::write_run(&dir, 7, valid);
    (tmp, dir, fixture)
}

/// Renders `svg` with resvg onto white.
fn rasterize(svg: &str) -> Pixmap {
    let tree =
        resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).expect("usvg parses it");
    let size = tree.size().to_int_size();
    let mut pixmap = Pixmap::new(size.width(), size.height()).unwrap();
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap
}

/// How many pixels are within `tolerance` of `rgb` on every channel.
fn count_near(pixmap: &Pixmap, rgb: (u8, u8, u8), tolerance: u8) -> usize {
    pixmap
        .pixels()
        .iter()
        .filter(|p| {
            let c = p.demultiply();
            c.red().abs_diff(rgb.0) <= tolerance
                && c.green().abs_diff(rgb.1) <= tolerance
                && c.blue().abs_diff(rgb.2) <= tolerance
        })
        .count()
}

fn non_white(pixmap: &Pixmap) -> usize {
    pixmap.pixels().len() - count_near(pixmap, (255, 255, 255), 0)
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn render_writes_every_file() {
    let (_tmp, dir, _) = fixture_run(true);
    let rendered = render(&dir, &ViewOptions::default()).unwrap();
    let names: Vec<_> = rendered
        .files
        .iter()
        .map(|p| p.strip_prefix(&dir).unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(names, [SVGS[0], SVGS[1], SVGS[2], SVGS[3], views::INDEX]);
    for path in &rendered.files {
        assert!(
            std::fs::metadata(path).unwrap().len() > 500,
            "{}",
            path.display()
        );
    }
}

#[test]
fn svgs_parse_and_draw_something() {
    let (_tmp, dir, _) = fixture_run(true);
    render(&dir, &ViewOptions::default()).unwrap();
    for name in SVGS {
        let svg = read(&dir, name);
        roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name} is not XML: {e}"));
        let pixmap = rasterize(&svg);
        let ink = non_white(&pixmap);
        let total = pixmap.pixels().len();
        assert!(
            ink > total / 100,
            "{name}: only {ink} of {total} pixels drawn"
        );
    }
}

/// Light red, the nemesis shading over white (12% of tab10's red).
const SHADE: (u8, u8, u8) = (250, 229, 229);
/// tab10's blue, orange and red: ok, info and fail.
const OK: (u8, u8, u8) = (31, 119, 180);
const INFO: (u8, u8, u8) = (255, 127, 14);

#[test]
fn plots_shade_the_nemesis_and_colour_outcomes() {
    let (_tmp, dir, _) = fixture_run(true);
    render(&dir, &ViewOptions::default()).unwrap();
    for name in [views::LATENCY_RAW, views::LATENCY_QUANTILES, views::RATE] {
        let pixmap = rasterize(&read(&dir, name));
        // Two periods, about 1.4 s of 3 s, over most of the plot's height.
        let shaded = count_near(&pixmap, SHADE, 3);
        assert!(
            shaded > pixmap.pixels().len() / 10,
            "{name}: {shaded} shaded pixels"
        );
    }
    let raw = rasterize(&read(&dir, views::LATENCY_RAW));
    // Markers are drawn at 75% opacity: allow for the blend.
    assert!(count_near(&raw, OK, 70) > 200, "no ok markers");
    assert!(count_near(&raw, INFO, 70) > 20, "no info markers");
}

#[test]
fn an_empty_run_still_gets_every_picture() {
    let tmp = tempfile::tempdir().unwrap();
    let rendered = render(tmp.path(), &ViewOptions::default()).unwrap();
    assert_eq!(rendered.messages_drawn, 0);
    for name in SVGS {
        let svg = read(tmp.path(), name);
        roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
        rasterize(&svg);
    }
    assert!(read(tmp.path(), views::INDEX).contains("no verdict recorded"));
}

/// The `<g>` of each message drawn, by class.
fn message_groups(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter_map(|n| n.attribute("class"))
        .filter(|c| c.starts_with("msg "))
        .map(String::from)
        .collect()
}

#[test]
fn diagram_has_one_arrow_per_message_up_to_the_limit() {
    let (_tmp, dir, fixture) = fixture_run(true);
    let total = fixture.messages.len();
    assert!(
        total > 600,
        "the fixture should exceed the default limit: {total}"
    );
    for max in [1, 50, views::DEFAULT_MAX_MESSAGES, total + 10] {
        let options = ViewOptions {
            max_messages: max,
            ..ViewOptions::default()
        };
        let rendered = render(&dir, &options).unwrap();
        let groups = message_groups(&read(&dir, views::MESSAGES_SVG));
        let drawn = max.min(total);
        assert_eq!(
            (groups.len(), rendered.messages_drawn),
            (drawn, drawn),
            "max {max}"
        );
        let lost = groups.iter().filter(|c| c.contains("lost-msg")).count();
        assert_eq!(lost, fixture.dropped_in_first(drawn), "max {max}");
    }
    // All of them: the one still in flight at the end is drawn as such.
    let svg = read(&dir, views::MESSAGES_SVG);
    assert_eq!(
        message_groups(&svg)
            .iter()
            .filter(|c| c.contains("flight-msg"))
            .count(),
        1
    );
}

#[test]
fn diagram_titles_carry_ids_and_drops_end_in_a_cross() {
    let (_tmp, dir, fixture) = fixture_run(true);
    render(&dir, &ViewOptions::default()).unwrap();
    let svg = read(&dir, views::MESSAGES_SVG);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let groups: Vec<_> = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("g") && n.attribute("class").is_some_and(|c| c.starts_with("msg "))
        })
        .collect();
    for (g, m) in groups.iter().zip(&fixture.messages) {
        let title = g
            .children()
            .find(|n| n.has_tag_name("title"))
            .and_then(|t| t.text())
            .unwrap();
        assert!(
            title.starts_with(&format!("{} {} → {}", m.kind, m.src, m.dest)),
            "{title}"
        );
        assert!(
            title.contains(&format!("msg_id {}", m.msg_id.unwrap())),
            "{title}"
        );
        if let Some(id) = m.in_reply_to {
            assert!(title.contains(&format!("in_reply_to {id}")), "{title}");
        }
        let cross = g.children().any(|n| n.attribute("class") == Some("cross"));
        assert_eq!(cross, m.dropped, "{title}");
    }
    let bands = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("band"))
        .count();
    assert!(
        bands >= 1,
        "the first partition falls within the first 500 messages"
    );
}

/// Every value of `attr="..."` in `html`.
fn attributes<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn page_links_resolve_and_load_nothing_from_elsewhere() {
    let (_tmp, dir, _) = fixture_run(false);
    render(&dir, &ViewOptions::default()).unwrap();
    let html = read(&dir, views::INDEX);
    let mut links = attributes(&html, "href");
    links.extend(attributes(&html, "src"));
    links.extend(attributes(&html, "data"));
    for link in &links {
        assert!(
            !link.contains("//") && !link.starts_with('/'),
            "not local: {link}"
        );
        let path = dir.join(percent_decode(link));
        assert!(path.is_file(), "{link} -> {} is missing", path.display());
    }
    for needed in [
        "results.json",
        "history.jsonl",
        "node-logs/n0.log",
        "node-logs/n2.log",
        "messages.svg",
    ] {
        assert!(links.contains(&needed), "no link to {needed}: {links:?}");
    }
    assert!(
        !html.contains("<script") && !html.contains("http"),
        "not self-contained"
    );
    assert!(
        html.contains("<span class=\"verdict invalid\">INVALID</span>"),
        "{html}"
    );
    assert!(
        html.contains("mixed/20261202T101500.000Z"),
        "the title names the run"
    );
    assert!(html.contains("n0 | n1 n2"), "the nemesis table");
}

#[test]
fn rendering_is_deterministic() {
    let (_tmp, dir, _) = fixture_run(true);
    let first: Vec<String> = render(&dir, &ViewOptions::default())
        .unwrap()
        .files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let second: Vec<String> = render(&dir, &ViewOptions::default())
        .unwrap()
        .files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(first == second, "two renders of the same records differ");
}

/// A browser that takes longer than this to take one screenshot is stuck: it is killed and
/// the test fails (a cold start on a loaded 2-core machine takes a few seconds).
const CHROMIUM_LIMIT: Duration = Duration::from_secs(120);

/// Waits for `child`, killing it past `limit` (its stderr is in `log`).
fn wait_at_most(mut child: Child, limit: Duration, log: &Path) {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("chromium took more than {limit:?}: {log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The Chromium binary, if one is installed.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

#[test]
fn chromium_shows_the_page() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: no chromium on PATH (Debian: apt-get install chromium)");
        return;
    };
    // Left in target/tmp for a person to look at: the run, its page and the screenshot.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("views");
    let _ = std::fs::remove_dir_all(&keep);
    let dir = keep.join("mixed").join("20261202T101500.000Z");
    views_support::write_run(&dir, 7, false);
    render(&dir, &ViewOptions::default()).unwrap();
    let shot = keep.join("index.png");
    let scratch = tempfile::tempdir().unwrap();
    let profile = scratch.path().join("profile");
    let log = scratch.path().join("chromium.log");
    let url = format!("file://{}", dir.join(views::INDEX).display());
    let child = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
        ])
        .args([
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=1280,2000", &url])
        .stdout(Stdio::null())
        // A file, not a pipe: a chatty browser must not block on a pipe nobody reads yet.
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_at_most(child, CHROMIUM_LIMIT, &log);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(shot.is_file(), "no screenshot: {}", log_text());
    let png = Pixmap::decode_png(&std::fs::read(&shot).unwrap()).unwrap();
    assert_eq!((png.width(), png.height()), (1280, 2000));
    // The page's verdict badge (#c62828) and the plots' blue markers are on screen.
    assert!(
        count_near(&png, (198, 40, 40), 8) > 200,
        "no INVALID badge in {}",
        shot.display()
    );
    assert!(
        count_near(&png, OK, 70) > 200,
        "no plot in {}",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());
}
