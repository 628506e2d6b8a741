//! The protocol vectors in `tests/fixtures/vectors` (a copy of the track's public sample cases)
//! run against the binary: stdin is the `.in` file, and the expected lines must be a prefix of
//! stdout, compared as JSON values.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vectors")
}

fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// Runs one vector with its input file as stdin (a regular file, as `mionode < in.jsonl`).
fn run_vector(name: &str) -> (Vec<Value>, Vec<Value>) {
    let dir = vectors_dir();
    let input = std::fs::File::open(dir.join(format!("{name}.in.jsonl"))).unwrap();
    let expected = std::fs::read_to_string(dir.join(format!("{name}.expected.jsonl"))).unwrap();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mionode"))
        .stdin(Stdio::from(input))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{name}: exit {:?}", out.status);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{name}: took {:?}",
        start.elapsed()
    );
    (
        parse_lines(&String::from_utf8(out.stdout).unwrap()),
        parse_lines(&expected),
    )
}

fn check(name: &str) -> Vec<Value> {
    let (got, expected) = run_vector(name);
    assert!(
        got.len() >= expected.len(),
        "{name}: {} lines, expected at least {}:\n{got:#?}",
        got.len(),
        expected.len()
    );
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "{name}: line {i}");
    }
    got
}

macro_rules! vectors {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*
    };
}

vectors! {
    init_handler_1 => "1-2-init-handler-1",
    echo_service_1 => "1-3-echo-service-1",
    envelope_validation_1 => "1-4-envelope-validation-1",
    async_handler_1 => "1-5-async-handler-1",
    async_rpc_1 => "1-2-3-async-rpc-1",
    async_rpc_2 => "1-2-3-async-rpc-2",
    sync_rpc_1 => "1-2-1-sync-rpc-1",
    timeout_retry_1 => "1-2-2-timeout-retry-1",
    exponential_backoff_1 => "1-2-5-exponential-backoff-1",
}

#[test]
fn every_vector_in_the_directory_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".in.jsonl").map(str::to_owned)
        })
        .collect();
    names.sort();
    let source = include_str!("vectors.rs");
    let rpc_family =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors_rpc.rs"))
            .unwrap_or_default();
    for name in names {
        let quoted = format!("\"{name}\"");
        assert!(
            source.contains(&quoted) || rpc_family.contains(&quoted),
            "vector {name} has no test"
        );
    }
}
