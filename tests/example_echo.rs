//! examples/echo.rs: the README shows it verbatim, and it answers Maelstrom's echo workload
//! through latency and loss (tests/support/cluster.rs plays Maelstrom).

mod support;

use std::time::Duration;

use serde_json::json;
use support::cluster::{self, Spec};

#[test]
fn the_readme_shows_examples_echo_verbatim() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let echo = std::fs::read_to_string(format!("{root}/examples/echo.rs")).expect("echo.rs");
    let section = readme
        .split("## Write your own node")
        .nth(1)
        .expect("the section");
    let block = section
        .split("```rust\n")
        .nth(1)
        .and_then(|b| b.split("```").next());
    assert_eq!(
        block,
        Some(echo.as_str()),
        "README's first rust block must be examples/echo.rs"
    );
}

#[test]
fn echo_answers_every_request_with_its_payload() {
    let history = cluster::run(&Spec {
        example: "echo",
        nodes: 2,
        seed: 4,
        latency: Duration::from_millis(5),
        loss: 0.05,
        partitions: true,
        nemesis_every: Duration::from_millis(300),
        restarts: Vec::new(),
        duration: Duration::from_secs(2),
        quiesce: Duration::ZERO,
        think: Duration::from_millis(5),
        setup: None,
        op: |rng| json!({"type": "echo", "echo": {"n": rng.u32(..), "s": "é\n"}}),
        final_op: None,
    });
    assert!(history.invalid.is_empty(), "{:?}", history.invalid);
    let echoes: Vec<_> = history.of("echo").collect();
    assert!(echoes.len() >= 20, "{}", history.summary());
    for op in echoes {
        let reply = op
            .reply
            .as_ref()
            .expect("clients are never cut off: every echo answered");
        assert_eq!(reply["type"], "echo_ok");
        assert_eq!(reply["echo"], op.request["echo"]);
    }
}
