//! mionode under `mionode-load`: every workload, with latency, drops, duplicates and
//! partitions, must give a valid run (timeouts and error 0 answers are acceptable outcomes
//! under faults; wrong answers, definite errors and protocol violations are not).

mod load_support;

use load_support::{assert_valid, run, Run, NODE};

fn load(args: &[&str]) -> Run {
    let mut all = vec!["--bin", NODE];
    all.extend_from_slice(args);
    run(&all)
}

fn count(run: &Run, path: &[&str]) -> u64 {
    path.iter()
        .fold(&run.results, |v, key| &v[*key])
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn default_mixed_run_is_valid() {
    let run = load(&["--time-limit", "1", "--rate", "200"]);
    assert_valid(&run, &["echo", "batch_echo", "proxy", "relay"]);
    assert_eq!(
        count(&run, &["ops", "total", "timed_out"]),
        0,
        "{}",
        run.describe()
    );
    assert_eq!(
        count(&run, &["ops", "total", "indeterminate"]),
        0,
        "{}",
        run.describe()
    );
    let per_op = run.results["net"]["all"]["msgs_per_op"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(per_op > 2.0, "msgs-per-op {per_op}");
}

#[test]
fn echo_with_uniform_latency_is_valid() {
    let run = load(&[
        "--workload",
        "echo",
        "--latency",
        "5",
        "--latency-dist",
        "uniform",
        "--time-limit",
        "1",
        "--rate",
        "200",
    ]);
    assert_valid(&run, &["echo"]);
    assert_eq!(
        count(&run, &["ops", "echo", "timed_out"]),
        0,
        "{}",
        run.describe()
    );
}

#[test]
fn batch_echo_survives_drops_and_duplicates() {
    let run = load(&[
        "--workload",
        "batch_echo",
        "--drop",
        "0.03",
        "--duplicate",
        "0.1",
        "--time-limit",
        "2",
        "--closed-loop",
        "--concurrency",
        "4n",
    ]);
    assert_valid(&run, &["batch_echo"]);
    assert!(count(&run, &["net", "dropped"]) > 0, "{}", run.describe());
    assert!(
        count(&run, &["net", "duplicated"]) > 0,
        "{}",
        run.describe()
    );
}

#[test]
fn proxy_across_partitions_is_valid() {
    let run = load(&[
        "--workload",
        "proxy",
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "0.4",
        "--time-limit",
        "2",
        "--rate",
        "300",
        "--concurrency",
        "4n",
    ]);
    assert_valid(&run, &["proxy"]);
    assert!(
        count(&run, &["net", "partitioned"]) > 0,
        "{}",
        run.describe()
    );
    let events = run.results["nemesis"].as_array().map_or(0, Vec::len);
    assert!(events >= 2, "{}", run.describe());
}

#[test]
fn relay_with_exponential_latency_and_drops_is_valid() {
    let run = load(&[
        "--workload",
        "relay",
        "--latency",
        "3",
        "--latency-dist",
        "exponential",
        "--drop",
        "0.1",
        "--time-limit",
        "2",
        "--closed-loop",
        "--concurrency",
        "4n",
    ]);
    assert_valid(&run, &["relay"]);
    assert!(count(&run, &["net", "dropped"]) > 0, "{}", run.describe());
}

#[test]
fn high_rate_of_every_workload_is_valid() {
    let run = load(&[
        "--rate",
        "2000",
        "--concurrency",
        "10n",
        "--time-limit",
        "1",
        "--latency",
        "1",
    ]);
    assert_valid(&run, &["echo", "batch_echo", "proxy", "relay"]);
    assert_eq!(count(&run, &["replaced_clients"]), 0, "{}", run.describe());
}
