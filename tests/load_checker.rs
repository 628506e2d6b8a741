//! The checker catches what it must: deliberately wrong nodes (the stub with `--fault`) make
//! the run fail, with exit status 1 and a failure naming the violation in results.json and on
//! stdout. And a correct node is not blamed for the faults the network injects.

mod load_support;

use load_support::{run, stub, Run};

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

/// Asserts the run failed with a failure of `kind` whose message contains `words`.
fn assert_fails_with(run: &Run, kind: &str, words: &str) {
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(run.results["valid"], false, "{}", run.describe());
    let failures = run.results["failures"].as_array().expect("failures");
    let named = failures
        .iter()
        .any(|f| f["kind"] == kind && f["message"].as_str().unwrap_or("").contains(words));
    assert!(
        named,
        "no {kind} failure saying {words:?}\n{}",
        run.describe()
    );
    assert!(run.stdout.contains(words), "{}", run.describe());
    assert!(
        run.stdout.contains("verdict: INVALID"),
        "{}",
        run.describe()
    );
}

#[test]
fn batch_answered_out_of_order_fails_the_run() {
    let run = faulty("reorder-batch", "batch_echo");
    assert_fails_with(&run, "wrong-answer", "results are in the wrong order");
}

#[test]
fn extra_field_in_a_reply_fails_the_run() {
    let run = faulty("extra-field", "echo");
    assert_fails_with(&run, "schema", "echo_ok has an extra field `extra`");
}

#[test]
fn wrong_echo_value_fails_the_run() {
    let run = faulty("wrong-echo", "echo");
    assert_fails_with(&run, "wrong-answer", "echo_ok echoes [\"not\"");
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
