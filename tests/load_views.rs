//! A real `mionode-load` run with partitions draws its views: the three plots shade every
//! nemesis period it recorded, the diagram draws the first `--diagram-messages` messages, and
//! the page links resolve.

mod load_support;

use std::path::Path;

use mionode::harness::views;

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The nemesis shading of a plot: full-height rectangles in its light red.
fn shaded_bands(svg: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#D62728"))
        .filter(|n| n.attribute("height").and_then(|h| h.parse::<f64>().ok()) > Some(100.0))
        .count()
}

#[test]
fn a_load_run_with_partitions_draws_its_views() {
    let run = load_support::run(&[
        "--bin",
        load_support::NODE,
        "--workload",
        "mixed",
        "--rate",
        "40",
        "--time-limit",
        "3",
        "--latency",
        "2",
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "1",
        "--diagram-messages",
        "150",
    ]);
    let dir = run.store();
    assert!(dir.join(views::INDEX).is_file(), "{}", run.describe());
    assert!(!run.stderr.contains("cannot draw"), "{}", run.describe());
    let periods = read(&dir, views::NEMESIS).lines().count();
    assert!(periods >= 1, "no partition in 3 s\n{}", run.describe());
    for name in [views::LATENCY_RAW, views::LATENCY_QUANTILES, views::RATE] {
        assert_eq!(shaded_bands(&read(&dir, name)), periods, "{name}");
    }
    let messages = read(&dir, views::MESSAGES).lines().count();
    let svg = read(&dir, views::MESSAGES_SVG);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let arrows = doc
        .descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("msg ")))
        .count();
    assert_eq!(arrows, messages.min(150), "{}", run.describe());
    let html = read(&dir, views::INDEX);
    for link in html
        .split(" href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        assert!(dir.join(link).is_file(), "{link} is missing");
    }
    for log in ["node-logs/n0.log", "node-logs/n1.log", "node-logs/n2.log"] {
        assert!(
            html.contains(&format!("href=\"{log}\"")),
            "no link to {log}"
        );
    }
}
