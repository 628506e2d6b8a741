//! The checks catch what they must: deliberately wrong nodes (the stub with `--fault`) make
//! the run fail, with exit status 1 and the check that failed naming the violation in
//! results.json and on stdout. A reply that breaks the schema is what Maelstrom makes of it
//! (an exception, the operation indeterminate), not a failure. And a correct node is not
//! blamed for the faults the network injects.

mod load_support;

use load_support::{assert_invalid, run, stub, Run};

/// Runs the stub with `fault` on `workload` for a short while.
fn faulty(fault: &str, workload: &str) -> Run {
    let bin = stub();
    let bin = bin.to_str().expect("utf-8 path");
    run(&[
        "--bin",
        bin,
        "--workload",
        workload,
        "--time-limit",
        "1",
        "--grace",
        "1",
        "--rate",
        "100",
        "--",
        "--fault",
        fault,
    ])
}

/// Asserts the run failed with a `nodes` failure of `kind` whose message contains `words`.
fn assert_fails_with(run: &Run, kind: &str, words: &str) {
    assert_invalid(run, "nodes", words);
    let failures = run.results["failures"].as_array().expect("failures");
    let named = failures
        .iter()
        .any(|f| f["kind"] == kind && f["message"].as_str().unwrap_or("").contains(words));
    assert!(
        named,
        "no {kind} failure saying {words:?}\n{}",
        run.describe()
    );
}

#[test]
fn batch_answered_out_of_order_fails_the_run() {
    let run = faulty("reorder-batch", "batch_echo");
    assert_invalid(&run, "workload", "results in the wrong order");
}

#[test]
fn extra_field_in_a_reply_is_an_exception_and_a_new_client_not_a_failure() {
    let run = faulty("extra-field", "echo");
    load_support::assert_valid(&run, &["echo"]);
    let exceptions = run.results["checks"]["exceptions"].to_string();
    assert!(
        exceptions.contains("echo_ok has an extra field `extra`"),
        "{exceptions}\n{}",
        run.describe()
    );
    // Once per node: each reply with the extra field made its client crash and be replaced.
    let replaced = run.results["replaced_clients"].as_u64().unwrap_or(0);
    assert!(replaced >= 1, "{}", run.describe());
    assert_eq!(run.results["ops"]["echo"]["indeterminate"], replaced);
}

#[test]
fn wrong_echo_value_fails_the_run() {
    let run = faulty("wrong-echo", "echo");
    assert_invalid(&run, "workload", "expected echo");
}

#[test]
fn message_to_an_unknown_node_fails_the_run() {
    let run = faulty("unknown-dest", "echo");
    assert_fails_with(&run, "unknown-destination", "sent a message to \"n99\"");
}

#[test]
fn message_to_a_closed_init_client_fails_the_run() {
    let run = faulty("late-init-ok", "echo");
    assert_fails_with(&run, "unknown-destination", "the init client of");
    let message = run.results["failures"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("\"init_ok\""), "{message}");
}

#[test]
fn line_that_is_not_json_fails_the_run() {
    let run = faulty("garbage", "echo");
    assert_fails_with(&run, "invalid-message", "this is not json");
}

#[test]
fn node_that_exits_early_fails_the_run() {
    let run = faulty("exit-early", "mixed");
    assert_fails_with(
        &run,
        "crashed",
        "exited before the end of the run (exit status: 3)",
    );
}

#[test]
fn node_that_never_answers_init_fails_the_run() {
    let bin = stub();
    let bin = bin.to_str().expect("utf-8 path");
    let run = run(&[
        "--bin",
        bin,
        "--init-timeout",
        "0.5",
        "--",
        "--fault",
        "no-init",
    ]);
    assert_fails_with(&run, "init", "did not answer init within 0.5 s");
    assert_eq!(run.results["ops"]["total"]["invoked"], 0);
}

#[test]
fn correct_node_passes_under_every_fault() {
    let bin = stub();
    let bin = bin.to_str().expect("utf-8 path");
    let run = run(&[
        "--bin",
        bin,
        "--time-limit",
        "3",
        "--latency",
        "2",
        "--latency-dist",
        "exponential",
        "--drop",
        "0.05",
        "--duplicate",
        "0.05",
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "0.5",
        "--rate",
        "300",
        "--concurrency",
        "4n",
    ]);
    load_support::assert_valid(&run, &["echo", "batch_echo", "proxy", "relay"]);
    let net = &run.results["net"];
    for count in ["dropped", "duplicated", "partitioned"] {
        assert!(
            net[count].as_u64().unwrap_or(0) > 0,
            "no {count}\n{}",
            run.describe()
        );
    }
}
