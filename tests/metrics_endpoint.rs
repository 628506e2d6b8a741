//! `/metrics` of the real binary: flags and environment, promtool's lint, the discovery file,
//! and scrapers that misbehave while the node works. Without `promtool` on `PATH` the lint is
//! skipped, saying so on stderr, unless `MIONODE_REQUIRE_PROMETHEUS=1` (set by `.ci/run`).

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::metrics::{free_port, http_get, promtool_check_metrics, wait_for, TempDir};
use support::{init_msg, request, NodeProc};

/// Sends `body` from c1 and returns the reply, passing messages the node sends itself back.
fn call(node: &mut NodeProc, body: Value) -> Value {
    node.send(&request("c1", "n1", body));
    loop {
        let msg = node.recv();
        if msg["dest"] == "n1" {
            node.send(&msg);
        } else {
            return msg;
        }
    }
}

fn scrape(addr: SocketAddr) -> String {
    let response = http_get(addr, "/metrics").expect("scrape");
    assert_eq!(response.status, 200, "{}", response.body);
    response.body
}

/// The value of the sample `series` (name and labels exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[test]
fn metrics_text_passes_promtool_and_counts_what_happened() {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut node = NodeProc::init("n1", &["n1"], &["--metrics-addr", &addr.to_string()]);
    call(&mut node, json!({"type":"echo","msg_id":2,"echo":"x"}));
    let batch = call(
        &mut node,
        json!({"type":"batch_echo","msg_id":3,"values":[1,2,3]}),
    );
    assert_eq!(batch["body"]["results"], json!([1, 2, 3]));
    node.send_raw(b"not json\n");
    call(&mut node, json!({"type":"echo","msg_id":4}));

    let text = scrape(addr);
    if let Some((clean, said)) = promtool_check_metrics(&text) {
        assert!(
            clean && said.is_empty(),
            "promtool check metrics: {said}\n{text}"
        );
    }
    let expect = [
        ("mionode_messages_received_total{type=\"echo\"}", 5.0),
        ("mionode_messages_received_total{type=\"echo_ok\"}", 3.0),
        ("mionode_messages_sent_total{type=\"batch_echo_ok\"}", 1.0),
        ("mionode_rpcs_sent_total", 3.0),
        ("mionode_rpcs_completed_total{outcome=\"ok\"}", 3.0),
        ("mionode_rpcs_outstanding", 0.0),
        ("mionode_rpc_duration_seconds_count", 3.0),
        ("mionode_batch_size_sum", 3.0),
        (
            "mionode_malformed_input_total{reason=\"bad_envelope\"}",
            1.0,
        ),
        (
            "mionode_malformed_input_total{reason=\"malformed_request\"}",
            1.0,
        ),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    assert!(sample(&text, "mionode_loop_turns_total").unwrap() > 0.0);

    let (status, _, stderr) = node.finish();
    assert!(status.success());
    assert!(
        stderr.contains(&format!("serving metrics on http://{addr}/metrics")),
        "{stderr}"
    );
}

#[test]
fn address_comes_from_the_environment_too() {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut node = NodeProc::spawn_with_env(&[], &[("MIONODE_METRICS_ADDR", &addr)]);
    let text = wait_for("the listener", Duration::from_secs(10), || {
        http_get(addr.parse().unwrap(), "/metrics").ok()
    });
    assert_eq!(text.status, 200);
    node.send(&init_msg("n1", &["n1"]));
    assert_eq!(node.recv()["body"]["type"], "init_ok");
}

fn read_target(file: &Path) -> Option<(SocketAddr, String)> {
    let text = std::fs::read_to_string(file).ok()?;
    let groups: Value = serde_json::from_str(&text).expect("a whole JSON file, never a part");
    let target = groups[0]["targets"][0].as_str()?.parse().ok()?;
    Some((target, groups[0]["labels"]["node"].as_str()?.to_owned()))
}

#[test]
fn discovery_file_appears_after_init_and_goes_on_a_clean_exit() {
    let dir = TempDir::new("sd-endpoint");
    let sd = dir.path().join("sd");
    let sd_text = sd.to_str().unwrap();
    // The directory alone turns metrics on, on a free loopback port.
    let mut node = NodeProc::spawn_with_env(&[], &[("MIONODE_METRICS_SD_DIR", sd_text)]);
    std::thread::sleep(Duration::from_millis(300));
    let file = sd.join("n2.json");
    assert!(!file.exists(), "no id, no file before init");
    node.send(&init_msg("n2", &["n1", "n2"]));
    assert_eq!(node.recv()["body"]["type"], "init_ok");
    let (target, label) = wait_for("the discovery file", Duration::from_secs(10), || {
        read_target(&file)
    });
    assert_eq!(label, "n2");
    assert!(target.ip().is_loopback() && target.port() != 0, "{target}");
    assert!(scrape(target).contains("mionode_loop_turns_total"));

    let (status, _, stderr) = node.finish();
    assert!(status.success(), "{stderr}");
    assert!(!file.exists(), "removed on a clean exit");
}

#[test]
fn silent_and_eager_scrapers_do_not_stall_the_node() {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut node = NodeProc::init("n1", &["n1"], &["--metrics-addr", &addr.to_string()]);
    // More silent clients than the responder keeps open: it closes the extra ones at once.
    let silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let start = Instant::now();
    for i in 0..50 {
        let reply = call(&mut node, json!({"type":"echo","msg_id":10 + i,"echo":i}));
        assert_eq!(reply["body"]["echo"], i);
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "echoes took {:?}",
        start.elapsed()
    );
    drop(silent);
    // Once the silent ones are gone (the node sees them close), concurrent scrapers are all
    // served.
    std::thread::sleep(Duration::from_millis(300));
    let scrapers: Vec<_> = (0..20)
        .map(|_| std::thread::spawn(move || scrape(addr)))
        .collect();
    for scraper in scrapers {
        assert!(scraper.join().unwrap().contains("mionode_rpcs_outstanding"));
    }
    let (status, _, _) = node.finish();
    assert!(status.success());
}
