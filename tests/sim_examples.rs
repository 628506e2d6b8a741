//! The example nodes in simulation, through their own binaries' `simulate` (no code in the
//! apps): each is valid over many seeds with partitions, and the deliberately wrong nodes of
//! tests/wrong that partitions expose are caught within a bounded number of seeds, the seed
//! replaying to the same failure. (`wrong_unique_ids_counter` is wrong only across a
//! restart, which neither Maelstrom's partitions nor the simulator inject: it passes here.)

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::cluster::example;

/// A 5-node cluster with latency and partitions every second or so.
const FAULTS: &[&str] = &[
    "--node-count",
    "5",
    "--latency",
    "5",
    "--latency-dist",
    "exponential",
    "--nemesis",
    "partition",
    "--nemesis-interval",
    "1",
    "--time-limit",
    "10",
    "--rate",
    "20",
];

fn simulate(name: &str, workload: &str, extra: &[&str], dir: &Path) -> Output {
    Command::new(example(name))
        .args(["simulate", "--workload", workload])
        .args(FAULTS)
        .args(extra)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("MIONODE_LOG")
        .output()
        .expect("run the example")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_valid_over_seeds(name: &str, workload: &str, seeds: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let out = simulate(name, workload, &["--seeds", &seeds.to_string()], tmp.path());
    let text = text(&out);
    assert!(out.status.success(), "{name}: {text}");
    assert!(
        text.contains(&format!("{seeds} valid, 0 not")),
        "{name}: {text}"
    );
}

#[test]
fn echo_is_valid_over_many_seeds_with_partitions() {
    assert_valid_over_seeds("echo", "echo", 20);
}

#[test]
fn unique_ids_is_valid_over_many_seeds_with_partitions() {
    assert_valid_over_seeds("unique_ids", "unique-ids", 20);
}

#[test]
fn broadcast_is_valid_over_many_seeds_with_partitions() {
    assert_valid_over_seeds("broadcast", "broadcast", 20);
}

#[test]
fn g_counter_is_valid_over_many_seeds_with_partitions() {
    assert_valid_over_seeds("g_counter", "g-counter", 20);
}

/// Runs `wrong` over `bound` seeds, expects failing seeds, and replays the first one twice to
/// the same history.
fn assert_caught_and_replayed(wrong: &str, workload: &str, bound: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let out = simulate(
        wrong,
        workload,
        &["--seeds", &bound.to_string()],
        tmp.path(),
    );
    let listing = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{wrong} not caught in {bound} seeds: {listing}"
    );
    let seed = (listing.lines())
        .find_map(|l| l.strip_prefix("seed ")?.split(':').next())
        .expect("a failing seed");
    let replay = |store: &str| {
        let out = simulate(
            wrong,
            workload,
            &["--seed", seed, "--store", store],
            tmp.path(),
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "seed {seed} replays: {}",
            text(&out)
        );
        std::fs::read(tmp.path().join(store).join("history.jsonl")).unwrap()
    };
    assert_eq!(
        replay("a"),
        replay("b"),
        "{wrong}: seed {seed}, same history"
    );
}

#[test]
fn a_broadcast_that_gossips_once_is_caught_and_replays() {
    assert_caught_and_replayed("wrong_broadcast_once", "broadcast", 20);
}

#[test]
fn a_g_counter_that_trusts_stale_reads_is_caught_and_replays() {
    assert_caught_and_replayed("wrong_g_counter_stale", "g-counter", 50);
}
