//! The simulator, black-box: the same seed gives the same files; a correct broadcast stays
//! valid over many seeds with partitions; a planted bug is found and its seed replays; the
//! node binaries' `simulate` works with no code in the app.

mod sim_support;

use std::path::Path;
use std::process::Command;

use clap::Parser;
use mionode::harness::check::Valid;
use mionode::harness::flags::RunFlags;
use mionode::harness::record;
use mionode::sim::{report, run_one, Options, Outcome};
use sim_support::{Flood, FloodFlags, LateEcho};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunFlags,
}

/// Run flags as the command line would give them.
fn flags(args: &str) -> RunFlags {
    let words = std::iter::once("sim").chain(args.split_whitespace());
    Cli::try_parse_from(words).expect("flags parse").run
}

/// A 5-node broadcast with partitions every second or so.
const BROADCAST: &str = "--workload broadcast --node-count 5 --rate 20 --time-limit 10 \
                         --latency 5 --latency-dist exponential --nemesis partition \
                         --nemesis-interval 1";

fn flood(args: &str, seed: u64, no_retry: bool) -> Outcome {
    run_one::<Flood>(&FloodFlags { no_retry }, Options::new(flags(args), seed))
}

/// Every file of a run that must be the same for the same seed, as bytes.
fn files(o: &Outcome) -> Vec<(String, Vec<u8>)> {
    let jsonl = |items: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        items(&mut buf).unwrap();
        buf
    };
    let mut out = vec![
        (
            record::HISTORY.to_string(),
            jsonl(&|b| record::write_jsonl(b, &o.history)),
        ),
        (
            record::MESSAGES.to_string(),
            jsonl(&|b| record::write_jsonl(b, &o.messages)),
        ),
        (
            record::NEMESIS.to_string(),
            jsonl(&|b| record::write_jsonl(b, &o.nemesis)),
        ),
        (
            record::RESULTS.to_string(),
            report::results_json(o).into_bytes(),
        ),
    ];
    for (id, log) in &o.logs {
        out.push((format!("{id}.log"), log.clone().into_bytes()));
    }
    out
}

#[test]
fn the_same_seed_gives_the_same_files_byte_for_byte() {
    let a = flood(BROADCAST, 42, false);
    let b = flood(BROADCAST, 42, false);
    assert!(a.history.len() > 100, "a real run: {} ops", a.history.len());
    assert!(!a.nemesis.is_empty(), "partitions happened");
    assert_eq!(files(&a), files(&b));
    let mut untraced = Options::new(flags(BROADCAST), 42);
    untraced.max_messages = 0;
    let d = run_one::<Flood>(&FloodFlags::default(), untraced);
    assert_eq!(
        files(&a)[0],
        files(&d)[0],
        "--seeds runs untraced: the same history"
    );
    let c = flood(BROADCAST, 43, false);
    assert_ne!(files(&a)[0], files(&c)[0], "another seed, another history");
}

#[test]
fn a_correct_broadcast_is_valid_over_many_seeds_with_partitions() {
    for seed in 1..=20 {
        let o = flood(BROADCAST, seed, false);
        assert_eq!(
            o.valid(),
            Valid::True,
            "seed {seed}: {}",
            report::summary("flood", &o, Default::default())
        );
        assert!(o.stats.cut > 0, "seed {seed}: partitions cut messages");
    }
}

#[test]
fn a_broadcast_that_never_retries_is_caught_and_its_seed_replays() {
    const BOUND: u64 = 30;
    let found = (1..=BOUND)
        .map(|seed| flood(BROADCAST, seed, true))
        .find(|o| o.valid() == Valid::False);
    let Some(failing) = found else {
        panic!("no seed in 1..={BOUND} caught the bug");
    };
    let workload = &failing.results.checks["workload"];
    assert_eq!(workload.valid, Valid::False);
    let lost = workload
        .details
        .get("lost_count")
        .or(workload.details.get("lost"));
    assert!(
        lost.is_some(),
        "the checker names lost values: {:?}",
        workload.details
    );
    let replay = flood(BROADCAST, failing.seed, true);
    assert_eq!(replay.valid(), Valid::False);
    assert_eq!(
        files(&replay),
        files(&failing),
        "seed {} replays",
        failing.seed
    );
}

#[test]
fn a_reply_after_the_client_timeout_mutes_the_node_and_names_the_cause() {
    // The runtime's operation deadline (4.5 s) would answer error 0 in time and drop the late
    // reply (see the test below); lift it to let the app's lateness through.
    let mut opts = Options::new(flags("--workload echo --node-count 1 --time-limit 10"), 7);
    opts.node.op_deadline = std::time::Duration::from_secs(60);
    let o = run_one::<LateEcho>(&mionode::NoFlags {}, opts);
    assert_eq!(o.results.checks["protocol"].valid, Valid::False);
    let v = &o.violations[0];
    assert_eq!((v.node.as_str(), v.kind), ("n0", "unknown-destination"));
    assert!(
        v.message.contains("closed after its request timed out"),
        "{}",
        v.message
    );
    assert!(o.stats.clients_replaced > 0);
}

#[test]
fn the_operation_deadline_keeps_a_late_app_from_muting_its_node() {
    let o = run_one::<LateEcho>(
        &mionode::NoFlags {},
        Options::new(flags("--workload echo --node-count 1 --time-limit 10"), 7),
    );
    assert_eq!(o.results.checks["protocol"].valid, Valid::True);
    assert!(o.violations.is_empty(), "{:?}", o.violations);
}

/// The mionode binary (the RPC chapter app), with no log settings from the environment.
fn mionode() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mionode"));
    c.env_remove("RUST_LOG").env_remove("MIONODE_LOG");
    c
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_binary_replays_a_seed_to_the_same_store() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let dir = tmp.path().join(name);
        let out = mionode()
            .args(["--log-level", "info", "simulate", "--workload", "echo"])
            .args([
                "--node-count",
                "3",
                "--nemesis",
                "partition",
                "--nemesis-interval",
                "1",
            ])
            .args([
                "--latency",
                "20",
                "--latency-dist",
                "uniform",
                "--seed",
                "9",
            ])
            .arg("--store")
            .arg(&dir)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, stdout)
    };
    let (a, summary) = run("a");
    let (b, _) = run("b");
    assert!(summary.contains(", seed 9: VALID"), "{summary}");
    assert!(summary.contains("x real time"), "{summary}");
    assert!(
        summary.contains("replay: ") && summary.contains("--seed 9"),
        "{summary}"
    );
    for name in [
        record::HISTORY,
        record::MESSAGES,
        record::NEMESIS,
        record::RESULTS,
    ] {
        assert_eq!(read(&a, name), read(&b, name), "{name} differs");
    }
    let log = read(&a, "node-logs/n0.log");
    assert_eq!(log, read(&b, "node-logs/n0.log"));
    assert!(
        String::from_utf8_lossy(&log).contains("initialized as n0"),
        "info lines captured"
    );
    for view in [
        "index.html",
        "messages.svg",
        "latency-raw.svg",
        record::SUMMARY,
    ] {
        assert!(a.join(view).exists(), "{view} written");
    }
}

#[test]
fn seeds_lists_every_failing_seed_with_a_command_that_replays_it() {
    // The mionode binary does not answer `generate`: error 10 on every request.
    let tmp = tempfile::tempdir().unwrap();
    let out = mionode()
        .args([
            "simulate",
            "--workload",
            "unique-ids",
            "--time-limit",
            "1",
            "--seeds",
            "3",
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("seeds 1..=3: 0 valid, 3 not"), "{stdout}");
    let replay = (stdout.lines())
        .find_map(|l| l.trim().strip_prefix("replay: "))
        .expect("a replay line");
    assert!(
        replay.ends_with("--seed 1") && !replay.contains("--seeds"),
        "{replay}"
    );
    let words: Vec<&str> = replay.split_whitespace().collect();
    let again = Command::new(words[0])
        .args(&words[1..])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(1), "{text}");
    assert!(text.contains("seed 1: INVALID"), "{text}");
}

#[test]
fn node_flags_before_simulate_parse_and_node_seeds_are_refused() {
    let out = mionode()
        .args(["--seed", "3", "simulate", "--time-limit", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seed"));
    let out = mionode()
        .args(["simulate", "--workload", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "bad run flags are clap errors");
}

#[test]
fn the_rpc_chapter_is_valid_over_many_seeds_with_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    for workload in ["mixed", "echo"] {
        let out = mionode()
            .args([
                "simulate",
                "--workload",
                workload,
                "--node-count",
                "5",
                "--rate",
                "20",
            ])
            .args([
                "--nemesis",
                "partition",
                "--nemesis-interval",
                "2",
                "--latency",
                "10",
            ])
            .args([
                "--latency-dist",
                "exponential",
                "--time-limit",
                "10",
                "--seeds",
                "15",
            ])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{workload}: {stdout}");
        assert!(stdout.contains("15 valid, 0 not"), "{workload}: {stdout}");
    }
}

#[test]
fn a_sweep_lists_a_seed_whose_node_panics_and_goes_on() {
    let base = Options::new(flags("--workload echo --node-count 2 --time-limit 2"), 1);
    let sweep =
        mionode::sim::cli::sweep_seeds::<sim_support::Panicky>(&mionode::NoFlags {}, &base, 1..6);
    assert!(
        sweep.bad.len() > 1,
        "one panic ended the sweep: {:?}",
        sweep.bad
    );
    for (seed, why) in &sweep.bad {
        assert!(
            why.contains("PANIC (the planted panic)"),
            "seed {seed}: {why}"
        );
    }
}
