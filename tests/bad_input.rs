//! Bad input never stops the node: each malformed line is followed by a valid echo that must
//! still be answered, and each is answered with an error where that is safe, else logged.

mod support;

use serde_json::{json, Value};
use support::{init_msg, NodeProc};

fn echo(msg_id: u64) -> Value {
    json!({"src":"c1","dest":"n1","body":{"type":"echo","msg_id":msg_id,"echo":msg_id}})
}

/// Lines that must not be answered: there is no one safe to answer, or no msg_id.
const SILENT: &[(&[u8], &str)] = &[
    (b"", "empty"),
    (b"   \t ", "empty"),
    (b"not json", "bad_envelope"),
    (b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":", "bad_envelope"),
    (b"[1,2,3]", "bad_envelope"),
    (b"\"a string\"", "bad_envelope"),
    (b"42", "bad_envelope"),
    (b"null", "bad_envelope"),
    (b"{}", "bad_envelope"),
    (
        b"{\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"msg_id\":1}}",
        "bad_envelope",
    ),
    (
        b"{\"src\":\"c1\",\"body\":{\"type\":\"echo\",\"msg_id\":1}}",
        "bad_envelope",
    ),
    (b"{\"src\":\"c1\",\"dest\":\"n1\"}", "bad_envelope"),
    (
        b"{\"src\":1,\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"msg_id\":1}}",
        "bad_envelope",
    ),
    (
        b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"msg_id\":1}}",
        "bad_body",
    ),
    (
        b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":7,\"msg_id\":1}}",
        "bad_body",
    ),
    (
        b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":[\"echo\"]}",
        "bad_body",
    ),
    (
        b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"msg_id\":\"1\"}}",
        "bad_body",
    ),
    (
        b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"msg_id\":-1}}",
        "bad_body",
    ),
    (
        b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"msg_id\":1.5}}",
        "bad_body",
    ),
    (
        b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"echo\":1}}",
        "no_msg_id",
    ),
    (
        b"{\"src\":\"c1\",\"dest\":\"n9\",\"body\":{\"type\":\"echo\",\"msg_id\":1,\"echo\":1}}",
        "misaddressed",
    ),
    (
        b"{\"src\":\"c\xff\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"msg_id\":1}}",
        "not_utf8",
    ),
    (b"\xfe\xfe\xfe", "not_utf8"),
    // serde reads a struct from an array of its fields; messages are objects only.
    (
        b"[\"c1\",\"n1\",{\"type\":\"echo\",\"msg_id\":1,\"echo\":1}]",
        "bad_envelope",
    ),
    (
        b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":[\"echo\",1,null]}",
        "bad_body",
    ),
    (
        b"{\"src\":\"n1\",\"dest\":\"n1\",\"body\":{\"type\":\"echo_ok\",\"in_reply_to\":999}}",
        "",
    ),
];

#[test]
fn malformed_lines_are_logged_and_the_next_echo_is_answered() {
    let mut node = NodeProc::init("n1", &["n1"], &["--max-line-bytes", "65536"]);
    for (i, (line, _)) in SILENT.iter().enumerate() {
        node.send_raw(line);
        node.send_raw(b"\n");
        let id = 100 + i as u64;
        node.send(&echo(id));
        let reply = node.recv();
        assert_eq!(
            reply["body"],
            json!({"type":"echo_ok","echo":id,"in_reply_to":id,"msg_id":reply["body"]["msg_id"]}),
            "after {:?}",
            String::from_utf8_lossy(line)
        );
    }
    let (status, rest, stderr) = node.finish();
    assert!(status.success());
    assert!(rest.is_empty(), "unexpected output: {rest:?}");
    for (line, reason) in SILENT.iter().filter(|(_, r)| !r.is_empty()) {
        assert!(
            stderr.contains(&format!("({reason})")),
            "no log line for {reason} ({:?}) in:\n{stderr}",
            String::from_utf8_lossy(line)
        );
    }
    let rejected = stderr.matches("rejected input line").count();
    assert_eq!(
        rejected,
        SILENT.iter().filter(|(_, r)| !r.is_empty()).count()
    );
}

#[test]
fn over_long_line_is_discarded_and_the_node_goes_on() {
    let mut node = NodeProc::init("n1", &["n1"], &["--max-line-bytes", "65536"]);
    let mut long = br#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":5,"echo":""#.to_vec();
    long.extend(std::iter::repeat_n(b'x', 200_000));
    long.extend_from_slice(b"\"}}\n");
    node.send_raw(&long);
    node.send(&echo(6));
    let reply = node.recv();
    assert_eq!(
        reply["body"]["in_reply_to"], 6,
        "the long echo got no answer"
    );
    let (_, _, stderr) = node.finish();
    assert!(stderr.contains("(too_long)"), "{stderr}");
}

#[test]
fn answerable_mistakes_get_maelstrom_errors() {
    let mut node = NodeProc::spawn(&[]);
    let cases: Vec<(Value, u64)> = vec![
        // Before init: temporarily unavailable.
        (json!({"type":"echo","msg_id":1,"echo":1}), 11),
        (init_msg("n1", &["n1"])["body"].clone(), u64::MAX),
        (json!({"type":"no_such_type","msg_id":2}), 10),
        (json!({"type":"echo","msg_id":3}), 12),
        (
            json!({"type":"batch_echo","msg_id":4,"values":"not a list"}),
            12,
        ),
        (json!({"type":"batch_echo","msg_id":5}), 12),
        (json!({"type":"init","msg_id":6,"node_id":"n1"}), 12),
        (
            json!({"type":"init","msg_id":7,"node_id":"n2","node_ids":["n1","n2"]}),
            22,
        ),
        (
            json!({"type":"init","msg_id":8,"node_id":"n1","node_ids":["n1"]}),
            u64::MAX,
        ),
    ];
    for (body, code) in cases {
        let msg_id = body["msg_id"].clone();
        node.send(&json!({"src":"c1","dest":"n1","body":body}));
        let reply = node.recv();
        assert_eq!(reply["body"]["in_reply_to"], msg_id);
        assert_eq!(reply["dest"], "c1");
        assert_eq!(reply["src"], "n1");
        if code == u64::MAX {
            assert_eq!(reply["body"]["type"], "init_ok");
        } else {
            assert_eq!(reply["body"]["type"], "error", "{reply}");
            assert_eq!(reply["body"]["code"], code, "{reply}");
            assert!(reply["body"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty()));
        }
    }
}

#[test]
fn last_line_without_newline_is_still_handled() {
    let mut node = NodeProc::spawn(&[]);
    let mut input = init_msg("n1", &["n1"]).to_string().into_bytes();
    input.push(b'\n');
    input.extend_from_slice(echo(2).to_string().as_bytes());
    node.send_raw(&input);
    let (status, out, _) = node.finish();
    assert!(status.success());
    assert_eq!(out.len(), 2);
    assert_eq!(out[1]["body"]["type"], "echo_ok");
}

#[test]
fn a_flood_of_bad_lines_is_summed_up_in_the_log() {
    let mut node = NodeProc::init("n1", &["n1"], &[]);
    node.send_raw(&b"garbage\n".repeat(5000));
    node.send(&echo(2));
    assert_eq!(node.recv()["body"]["in_reply_to"], 2);
    // The summary comes from a timer at the end of the one-second window.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    node.send(&echo(3));
    assert_eq!(node.recv()["body"]["in_reply_to"], 3);
    let (_, _, stderr) = node.finish();
    let one_by_one = stderr.matches("rejected input line").count();
    assert!(one_by_one <= 200, "{one_by_one} lines logged one by one");
    assert!(
        stderr.contains("more warnings not logged one by one"),
        "{stderr}"
    );
}

/// The start of every fuzz seed: a node `n1` alone in its cluster.
const SEED_INIT: &str = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#;

/// Seeds written by hand for the fuzz target's directives (see fuzz/fuzz_targets/node_input.rs):
/// `@N` moves the clock N ms, `@l`/`@r` deliver what the node sent itself, `@a`/`@e` answer
/// what it sent others (with `T_ok` or an error), `@d` drops both, `@cN` makes reads N bytes
/// long.
const HAND_SEEDS: &[(&str, &str)] = &[
    (
        "batch-retried",
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"batch_echo\",\"msg_id\":2,\"values\":[1,\"two\",{\"3\":[3]}]}}\n@d\n@1000\n@l\n@l\n",
    ),
    (
        "batch-reordered",
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"batch_echo\",\"msg_id\":2,\"values\":[1,2,3]}}\n@r\n@r\n",
    ),
    (
        "batch-times-out",
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"batch_echo\",\"msg_id\":2,\"values\":[1]}}\n@1000\n@1000\n@1000\n",
    ),
    (
        "batch-error-reply",
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"batch_echo\",\"msg_id\":2,\"values\":[1,2]}}\n{\"src\":\"n1\",\"dest\":\"n1\",\"body\":{\"type\":\"error\",\"in_reply_to\":1,\"code\":14}}\n",
    ),
    (
        "proxy-answered",
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"proxy\",\"msg_id\":2,\"target\":\"lin-kv\",\"inner\":{\"type\":\"read\",\"key\":1}}}\n@a\n",
    ),
    (
        "relay-retried",
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"relay\",\"msg_id\":2,\"target\":\"seq-kv\",\"payload\":{\"type\":\"read\",\"msg_id\":9}}}\n@d\n@500\n@a\n",
    ),
    (
        "backoff-error-reply",
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"backoff_relay\",\"msg_id\":2,\"target\":\"lww-kv\",\"payload\":{\"type\":\"write\",\"key\":1,\"value\":2}}}\n@500\n@150\n@e\n",
    ),
    (
        "fire-forget-reaped",
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"send_fire_forget\",\"msg_id\":2,\"target\":\"lin-tso\",\"payload\":{\"type\":\"ts\"}}}\n@2000\n{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"pending_count\",\"msg_id\":3}}\n{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"compute_backoff\",\"msg_id\":4,\"max_retries\":3,\"base_delay\":0.1}}\n",
    ),
    (
        "short-reads",
        "@c1\n{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"msg_id\":2,\"echo\":[null,true,1e5]}}\n",
    ),
];

/// The seed corpus of the fuzz target `node_input`: each protocol vector (with the node's
/// messages to itself delivered), each malformed line above between `init` and an echo, and
/// [`HAND_SEEDS`]. Named `seed-*`, the only files of `fuzz/corpus/` that git tracks.
fn fuzz_seeds() -> Vec<(String, Vec<u8>)> {
    let echo = r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":2,"echo":"after"}}"#;
    let mut seeds = Vec::new();
    let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vectors");
    for entry in std::fs::read_dir(vectors).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        if let Some(name) = name.strip_suffix(".in.jsonl") {
            let mut seed = std::fs::read(&path).unwrap();
            seed.extend_from_slice(b"@l\n@l\n");
            seeds.push((format!("seed-vector-{name}"), seed));
        }
    }
    for (i, (line, reason)) in SILENT.iter().enumerate() {
        let reason = if reason.is_empty() { "stale" } else { reason };
        let mut seed = format!("{SEED_INIT}\n").into_bytes();
        seed.extend_from_slice(line);
        seed.extend_from_slice(format!("\n{echo}\n").as_bytes());
        seeds.push((format!("seed-bad-{i:02}-{reason}"), seed));
    }
    for (name, body) in HAND_SEEDS {
        seeds.push((
            format!("seed-{name}"),
            format!("{SEED_INIT}\n{body}").into_bytes(),
        ));
    }
    seeds.sort();
    seeds
}

/// The committed fuzz seeds are the ones [`fuzz_seeds`] builds; with `MIONODE_WRITE_SEEDS=1`
/// this test rewrites them instead.
#[test]
fn fuzz_seed_corpus_is_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/node_input");
    let expected = fuzz_seeds();
    let on_disk = || -> Vec<(String, Vec<u8>)> {
        let mut found: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_else(|_| Vec::new())
            .into_iter()
            .filter_map(|path: std::path::PathBuf| {
                let name = path.file_name()?.to_str()?.to_owned();
                name.starts_with("seed-")
                    .then(|| (name, std::fs::read(&path).unwrap()))
            })
            .collect();
        found.sort();
        found
    };
    if std::env::var("MIONODE_WRITE_SEEDS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, _) in on_disk() {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        for (name, bytes) in &expected {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let found = on_disk();
    let names = |seeds: &[(String, Vec<u8>)]| seeds.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&found),
        names(&expected),
        "fuzz seeds are stale: MIONODE_WRITE_SEEDS=1 cargo test --test bad_input fuzz_seed"
    );
    for ((name, got), (_, want)) in found.iter().zip(&expected) {
        assert!(
            got == want,
            "fuzz seed {name} is stale: MIONODE_WRITE_SEEDS=1 cargo test --test bad_input fuzz_seed"
        );
    }
}
