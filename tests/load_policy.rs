//! The congestion test of issue 11, through `mionode-load`: one big batch on a network with
//! 50 ms of latency each way and a tenth of the messages lost must be answered correctly, by
//! the default deadline, with at most 1.2x the echo requests its losses require (no retry
//! storm).
//!
//! The figure is a batch of 10,000 values: `cargo test --release --test load_policy`.
//! A debug build (plain `cargo test`) is about ten times slower at JSON, enough to miss the
//! deadline through CPU alone, so it runs the same checks on a tenth of the values.

mod load_support;

use load_support::{assert_valid, run, Run, NODE};

/// Values in the batch: the 10,000 on an optimized build.
const VALUES: u64 = if cfg!(debug_assertions) {
    1_000
} else {
    10_000
};

fn count(run: &Run, path: &[&str]) -> u64 {
    path.iter()
        .fold(&run.results, |v, key| &v[*key])
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_big_batch_on_a_slow_lossy_network_completes_without_a_retry_storm() {
    let values = VALUES.to_string();
    let run = run(&[
        "--bin",
        NODE,
        "--node-count",
        "1",
        "-w",
        "batch_echo",
        "--batch-size",
        &values,
        "--closed-loop",
        "--concurrency",
        "1",
        // One batch: the first takes longer than the time limit.
        "--time-limit",
        "1",
        "--grace",
        "6",
        "--latency",
        "50",
        "--drop",
        "0.1",
    ]);
    assert_valid(&run, &["batch_echo"]);
    let batches = count(&run, &["ops", "batch_echo", "invoked"]);
    assert_eq!(
        count(&run, &["ops", "batch_echo", "ok"]),
        batches,
        "{}",
        run.describe()
    );
    // Only echoes and their replies cross the network. Each lost message costs one echo
    // request more: E = values + lost, at the least. Of the E sent, the lost requests got no
    // reply, so the network carried E + (E - lost requests) <= 2E messages, and
    // E <= (carried + lost) / 2.
    let carried = count(&run, &["net", "servers", "send_count"]);
    let lost = count(&run, &["net", "dropped"]);
    let needed = batches * VALUES + lost;
    let echoes_at_most = (carried + lost) / 2;
    assert!(
        echoes_at_most * 10 <= needed * 12,
        "up to {echoes_at_most} echo requests where {needed} were needed\n{}",
        run.describe()
    );
    eprintln!(
        "{batches} batch of {VALUES}: at most {echoes_at_most} echo requests, {needed} needed \
         ({lost} lost); {}",
        run.results["ops"]["batch_echo"]
    );
}

/// DESIGN.md section 6's congestion collapse, on a network that carries a limited number of
/// messages a second (`--net-rate`, as Maelstrom's one routing process does): the batch is
/// answered correctly, with at most 1.2x the minimal echo requests.
#[test]
fn a_big_batch_on_a_network_of_limited_rate_does_not_collapse() {
    // 18,000 messages a second was measured of a Maelstrom-like network.
    let (values, rate) = (2 * VALUES, "18000");
    let size = values.to_string();
    let run = run(&[
        "--bin",
        NODE,
        "--node-count",
        "1",
        "-w",
        "batch_echo",
        "--batch-size",
        &size,
        "--closed-loop",
        "--concurrency",
        "1",
        "--time-limit",
        "1",
        "--grace",
        "6",
        "--latency",
        "1",
        "--latency-dist",
        "uniform",
        "--net-rate",
        rate,
    ]);
    assert_valid(&run, &["batch_echo"]);
    let batches = count(&run, &["ops", "batch_echo", "invoked"]);
    assert_eq!(
        count(&run, &["ops", "batch_echo", "ok"]),
        batches,
        "{}",
        run.describe()
    );
    // Nothing is lost: every echo request has its reply.
    let echoes = count(&run, &["net", "servers", "send_count"]) / 2;
    let needed = batches * values;
    assert!(
        echoes * 10 <= needed * 12,
        "{echoes} echo requests where {needed} were needed\n{}",
        run.describe()
    );
    eprintln!("{batches} batch of {values} at {rate} msgs/s: {echoes} echo requests");
}
