//! The workloads end to end: requests, completions, and checkers that must fail
//! deliberately wrong histories.

use serde_json::{json, Map, Value};

use super::*;
use crate::harness::check::{Check, Valid};
use crate::harness::record::OpType;

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

fn workload(kind: WorkloadKind) -> Workload {
    Workload::new(Config::new(kind, ids(3)))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Runs a history: each step is (process, invocation, reply); completions follow at once.
struct Run {
    w: Workload,
    history: Vec<Op>,
}

impl Run {
    fn new(kind: WorkloadKind) -> Run {
        Run {
            w: workload(kind),
            history: Vec::new(),
        }
    }

    fn op(&mut self, process: &str, inv: &Invocation, reply: Reply<'_>) -> Completion {
        let t = self.history.len() as u64 * 1_000_000;
        self.history
            .push(inv.op(self.history.len() as u64, t, process, "n0"));
        let c = self.w.complete(inv, reply);
        let i = self.history.len() as u64;
        self.history.push(c.op(inv, i, t + 500_000, process, "n0"));
        c
    }

    fn ok(&mut self, process: &str, inv: &Invocation, reply: Value) -> Completion {
        let mut body = obj(reply);
        body.insert("in_reply_to".into(), json!(1));
        self.op(process, inv, Reply::Body(&body))
    }

    fn check(&self) -> Check {
        self.w.check(&self.history)
    }
}

fn inv(f: &'static str, value: Value, b: Value) -> Invocation {
    Invocation::new(f, value, obj(b))
}

#[test]
fn names_parse_back() {
    for k in WorkloadKind::ALL {
        assert_eq!(k.name().parse::<WorkloadKind>(), Ok(k));
    }
    assert_eq!("batch-echo".parse(), Ok(WorkloadKind::BatchEcho));
    assert!("kafka".parse::<WorkloadKind>().is_err());
}

#[test]
fn echo_requests_are_maelstroms() {
    let mut w = workload(WorkloadKind::Echo);
    let mut rng = fastrand::Rng::with_seed(1);
    let turn = Turn {
        now: 0,
        process: "c3",
        node: 0,
    };
    let i = w.invoke(&mut rng, &turn);
    let text = i.value.as_str().unwrap().to_string();
    let n: u32 = text.strip_prefix("Please echo ").unwrap().parse().unwrap();
    assert!(n < 128);
    let mut out = Vec::new();
    i.write_body(7, &mut out);
    let body: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(body, json!({"type": "echo", "msg_id": 7, "echo": text}));
    assert!(String::from_utf8(out)
        .unwrap()
        .starts_with(r#"{"type":"echo","msg_id":7,"#));
}

#[test]
fn completions_follow_maelstroms_with_errors() {
    let w = workload(WorkloadKind::LinKv);
    let read = inv("read", json!([1, null]), json!({"type": "read", "key": 1}));
    let write = inv(
        "write",
        json!([1, 2]),
        json!({"type": "write", "key": 1, "value": 2}),
    );
    let err =
        |code: u32| obj(json!({"type": "error", "in_reply_to": 1, "code": code, "text": "x"}));
    let kind = |i: &Invocation, r: Reply<'_>| w.complete(i, r).kind;
    assert_eq!(kind(&write, Reply::Timeout), OpType::Info);
    assert_eq!(
        kind(&read, Reply::Timeout),
        OpType::Fail,
        "reads are idempotent"
    );
    assert_eq!(kind(&write, Reply::Body(&err(11))), OpType::Fail);
    assert_eq!(kind(&write, Reply::Body(&err(13))), OpType::Info);
    assert_eq!(kind(&write, Reply::Body(&err(0))), OpType::Info);
    assert_eq!(kind(&write, Reply::Body(&err(1234))), OpType::Info);
    assert_eq!(kind(&read, Reply::Body(&err(13))), OpType::Fail);
    let ok = obj(json!({"type": "read_ok", "in_reply_to": 1, "value": 4}));
    let c = w.complete(&read, Reply::Body(&ok));
    assert_eq!((c.kind, c.value), (OpType::Ok, json!([1, 4])));
    // g-set's client catches no error: every error is info, with an exception
    let g = workload(WorkloadKind::GSet);
    let add = inv("add", json!(1), json!({"type": "add", "element": 1}));
    let c = g.complete(&add, Reply::Body(&err(11)));
    assert_eq!(c.kind, OpType::Info);
    assert!(c.exception.is_some());
}

#[test]
fn schema_violations_are_info_with_an_exception() {
    let w = workload(WorkloadKind::Echo);
    let e = inv("echo", json!("a"), json!({"type": "echo", "echo": "a"}));
    let extra = obj(json!({"type": "echo_ok", "in_reply_to": 1, "echo": "a", "node": "n0"}));
    let c = w.complete(&e, Reply::Body(&extra));
    assert_eq!(c.kind, OpType::Info);
    assert!(c.exception.unwrap().contains("extra field `node`"));
    let wrong_type = obj(json!({"type": "proxy_ok", "in_reply_to": 1}));
    assert_eq!(w.complete(&e, Reply::Body(&wrong_type)).kind, OpType::Info);
    let c = workload(WorkloadKind::PnCounter);
    let read = inv("read", Value::Null, json!({"type": "read"}));
    let float = obj(json!({"type": "read_ok", "in_reply_to": 1, "value": 1.5}));
    assert_eq!(c.complete(&read, Reply::Body(&float)).kind, OpType::Info);
}

#[test]
fn echo_with_a_definite_error_fails() {
    let mut r = Run::new(WorkloadKind::Echo);
    let e = inv(
        "echo",
        json!("Please echo 1"),
        json!({"type": "echo", "echo": "Please echo 1"}),
    );
    r.ok(
        "c1",
        &e,
        json!({"type": "echo_ok", "echo": "Please echo 1"}),
    );
    r.op("c1", &e, Reply::Timeout);
    assert_eq!(r.check().valid, Valid::True, "a timeout is skipped");
    let err = obj(json!({"type": "error", "in_reply_to": 1, "code": 11, "text": "busy"}));
    r.op("c1", &e, Reply::Body(&err));
    let c = r.check();
    assert_eq!(c.valid, Valid::False);
    assert!(
        c.details["errors"][0]
            .as_str()
            .unwrap()
            .contains("error 11"),
        "{:?}",
        c.details
    );
    let mut wrong = Run::new(WorkloadKind::Echo);
    wrong.ok(
        "c1",
        &e,
        json!({"type": "echo_ok", "echo": "Please echo 2"}),
    );
    assert_eq!(wrong.check().valid, Valid::False);
}

#[test]
fn silent_echo_fails_stats_and_has_zero_availability() {
    let mut r = Run::new(WorkloadKind::Echo);
    let e = inv(
        "echo",
        json!("Please echo 1"),
        json!({"type": "echo", "echo": "Please echo 1"}),
    );
    for _ in 0..3 {
        r.op("c1", &e, Reply::Timeout);
    }
    let results = r.w.results(&r.history, None);
    assert_eq!(results.valid(), Valid::False);
    assert_eq!(results.checks["stats"].valid, Valid::False);
    assert_eq!(
        results.checks["availability"].details["ok_fraction"],
        json!(0.0)
    );
    assert_eq!(results.checks["workload"].valid, Valid::True);
}

#[test]
fn duplicate_ids_fail_unique_ids() {
    let mut r = Run::new(WorkloadKind::UniqueIds);
    let g = unique::generate();
    r.ok("c1", &g, json!({"type": "generate_ok", "id": "n0-1"}));
    r.ok("c2", &g, json!({"type": "generate_ok", "id": 1}));
    assert_eq!(r.check().valid, Valid::True, "1 and \"n0-1\" differ");
    r.ok("c2", &g, json!({"type": "generate_ok", "id": "n0-1"}));
    let c = r.check();
    assert_eq!(c.valid, Valid::False);
    assert_eq!(c.details["duplicated"], json!({"\"n0-1\"": 2}));
    assert_eq!(c.details["acknowledged_count"], json!(3));
}

fn broadcast(x: u64) -> Invocation {
    inv(
        "broadcast",
        json!(x),
        json!({"type": "broadcast", "message": x}),
    )
}

fn final_read(r: &Run) -> Invocation {
    r.w.final_reads().remove(0).1
}

#[test]
fn a_lost_broadcast_value_fails() {
    let mut r = Run::new(WorkloadKind::Broadcast);
    r.ok("c1", &broadcast(0), json!({"type": "broadcast_ok"}));
    r.ok("c2", &broadcast(1), json!({"type": "broadcast_ok"}));
    let read = final_read(&r);
    r.ok("c1", &read, json!({"type": "read_ok", "messages": [0, 1]}));
    r.ok(
        "c2",
        &read,
        json!({"type": "read_ok", "messages": [1, 0, 7]}),
    );
    let c = r.check();
    assert_eq!(c.valid, Valid::True, "{:?}", c.details);
    assert_eq!(c.details["stable_count"], json!(2));
    assert!(c.details["stable_latencies"].is_object());
    r.ok("c3", &read, json!({"type": "read_ok", "messages": [1]}));
    let c = r.check();
    assert_eq!(c.valid, Valid::False);
    assert_eq!(c.details["lost"], json!([0]));
}

#[test]
fn a_value_never_read_is_unknown_not_lost() {
    let mut r = Run::new(WorkloadKind::GSet);
    let add = inv("add", json!(0), json!({"type": "add", "element": 0}));
    r.ok("c1", &add, json!({"type": "add_ok"}));
    assert_eq!(r.check().valid, Valid::Unknown);
    assert_eq!(r.check().details["never_read_count"], json!(1));
    let read = final_read(&r);
    r.ok("c1", &read, json!({"type": "read_ok", "value": []}));
    assert_eq!(r.check().valid, Valid::False, "g-set reads its `value`");
}

fn add(delta: i64) -> Invocation {
    inv("add", json!(delta), json!({"type": "add", "delta": delta}))
}

#[test]
fn a_counter_that_double_counts_fails() {
    let mut r = Run::new(WorkloadKind::PnCounter);
    r.ok("c1", &add(3), json!({"type": "add_ok"}));
    r.ok("c1", &add(-1), json!({"type": "add_ok"}));
    r.op("c2", &add(4), Reply::Timeout);
    let read = final_read(&r);
    r.ok("c1", &read, json!({"type": "read_ok", "value": 2}));
    r.ok("c2", &read, json!({"type": "read_ok", "value": 6}));
    let c = r.check();
    assert_eq!(c.valid, Valid::True, "{:?}", c.details);
    assert_eq!(c.details["acceptable"], json!([[2, 2], [6, 6]]));
    r.ok("c3", &read, json!({"type": "read_ok", "value": 5}));
    let c = r.check();
    assert_eq!(c.valid, Valid::False);
    assert_eq!(c.details["errors"][0]["value"], json!(5));
}

#[test]
fn a_non_final_read_is_not_judged() {
    let mut r = Run::new(WorkloadKind::GCounter);
    r.ok("c1", &add(2), json!({"type": "add_ok"}));
    let read = inv("read", Value::Null, json!({"type": "read"}));
    r.ok("c1", &read, json!({"type": "read_ok", "value": 0}));
    assert_eq!(r.check().valid, Valid::True);
}

#[test]
fn counter_ranges_merge_as_maelstroms() {
    let mut s = counter::RangeSet::single(0);
    s.maybe_add(1);
    s.maybe_add(1);
    assert_eq!(s.ranges(), &[(0, 2)]);
    s.maybe_add(-5);
    assert_eq!(s.ranges(), &[(-5, -3), (0, 2)]);
    assert!(s.contains(-4) && !s.contains(-2));
}

fn kv_read(k: u64) -> Invocation {
    inv("read", json!([k, null]), json!({"type": "read", "key": k}))
}

fn kv_write(k: u64, v: u64) -> Invocation {
    inv(
        "write",
        json!([k, v]),
        json!({"type": "write", "key": k, "value": v}),
    )
}

#[test]
fn a_stale_lin_kv_read_fails() {
    let mut r = Run::new(WorkloadKind::LinKv);
    r.ok("c1", &kv_write(0, 1), json!({"type": "write_ok"}));
    r.ok("c1", &kv_write(1, 3), json!({"type": "write_ok"}));
    r.ok("c2", &kv_read(0), json!({"type": "read_ok", "value": 1}));
    assert_eq!(r.check().valid, Valid::True);
    r.ok("c1", &kv_write(0, 2), json!({"type": "write_ok"}));
    r.ok("c2", &kv_read(0), json!({"type": "read_ok", "value": 1}));
    let c = r.check();
    assert_eq!(c.valid, Valid::False);
    assert_eq!(c.details["failures"][0]["key"], json!("0"));
    assert_eq!(c.details["key_count"], json!(2));
}

#[test]
fn lin_kv_requests_rotate_keys_and_wait_as_maelstroms() {
    let mut cfg = Config::new(WorkloadKind::LinKv, ids(3));
    cfg.latency_mean_ms = 500;
    let mut w = Workload::new(cfg);
    let mut rng = fastrand::Rng::with_seed(4);
    let turn = Turn {
        now: 0,
        process: "c3",
        node: 1,
    };
    let mut fs = std::collections::BTreeMap::new();
    for _ in 0..600 {
        let i = w.invoke(&mut rng, &turn);
        assert_eq!(i.timeout, 5 * SECOND);
        assert!(
            i.value[0].as_u64().unwrap() < 10,
            "two generations of 5 keys in 600 ops"
        );
        *fs.entry(i.f).or_insert(0) += 1;
    }
    assert_eq!(fs.len(), 3);
    assert!(fs["read"] > fs["cas"] && fs["cas"] > fs["write"], "{fs:?}");
}

#[test]
fn broadcast_sets_up_a_topology_and_reads_every_node() {
    let w = workload(WorkloadKind::Broadcast);
    let setup = w.setup();
    assert_eq!(setup.len(), 3);
    assert_eq!(
        setup[0].1.body["topology"]["n0"],
        json!(["n2", "n1"]),
        "a 2x2 grid"
    );
    let topo_ok = obj(json!({"type": "topology_ok", "in_reply_to": 1}));
    assert_eq!(
        w.complete(&setup[0].1, Reply::Body(&topo_ok)).kind,
        OpType::Ok
    );
    let finals = w.final_reads();
    assert_eq!(
        finals.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert!(finals.iter().all(|(_, i)| i.final_read && i.f == "read"));
    assert!(workload(WorkloadKind::Echo).final_reads().is_empty());
    assert!(workload(WorkloadKind::Echo).setup().is_empty());
}

#[test]
fn broadcast_values_count_up_across_clients() {
    let mut w = workload(WorkloadKind::Broadcast);
    let mut rng = fastrand::Rng::with_seed(2);
    let turn = Turn {
        now: 0,
        process: "c3",
        node: 0,
    };
    let values: Vec<u64> = (0..50)
        .map(|_| w.invoke(&mut rng, &turn))
        .filter(|i| i.f == "broadcast")
        .map(|i| i.body["message"].as_u64().unwrap())
        .collect();
    assert!(values.len() > 10);
    assert!(values.iter().enumerate().all(|(i, &v)| v == i as u64));
}

#[test]
fn chapter_checker_catches_wrong_batches_and_relays() {
    let mut r = Run::new(WorkloadKind::Mixed);
    let b = inv(
        "batch_echo",
        json!([1, 2, 3]),
        json!({"type": "batch_echo", "values": [1, 2, 3]}),
    );
    r.ok(
        "c1",
        &b,
        json!({"type": "batch_echo_ok", "results": [1, 2, 3]}),
    );
    let relay = inv(
        "relay",
        json!({"target": "n1", "echo": 5}),
        json!({"type": "relay", "target": "n1", "payload": {"type": "echo", "echo": 5}}),
    );
    let result = json!({"type": "echo_ok", "echo": 5, "in_reply_to": 2});
    r.ok(
        "c2",
        &relay,
        json!({"type": "relay_ok", "attempts": 2, "result": result}),
    );
    let err = obj(
        json!({"type": "error", "in_reply_to": 1, "code": 0, "text": "RPC failed after 3 attempts"}),
    );
    r.op("c2", &relay, Reply::Body(&err));
    let err11 = obj(json!({"type": "error", "in_reply_to": 1, "code": 11}));
    r.op("c2", &relay, Reply::Body(&err11));
    assert_eq!(r.check().valid, Valid::True, "{:?}", r.check().details);
    r.ok(
        "c1",
        &b,
        json!({"type": "batch_echo_ok", "results": [2, 1, 3]}),
    );
    r.ok(
        "c2",
        &relay,
        json!({"type": "relay_ok", "attempts": 4, "result": result}),
    );
    let c = r.check();
    assert_eq!(c.valid, Valid::False);
    let errors = c.details["errors"].to_string();
    assert!(
        errors.contains("wrong order") && errors.contains("attempts 4"),
        "{errors}"
    );
}

#[test]
fn chapter_requests_target_another_node() {
    let mut w = Workload::new(Config::new(WorkloadKind::Mixed, ids(3)));
    let mut rng = fastrand::Rng::with_seed(9);
    let turn = Turn {
        now: 0,
        process: "c3",
        node: 1,
    };
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let i = w.invoke(&mut rng, &turn);
        seen.insert(i.f);
        if let Some(t) = i.body.get("target") {
            assert_ne!(t, "n1");
        }
        let mut out = Vec::new();
        i.write_body(3, &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], i.f);
    }
    assert_eq!(seen.len(), 4);
}

/// A tiny event-driven run of `clients` clients against a service: each request reaches the
/// service after 0-4 ms and its reply comes back after 0-4 ms more; a request that takes
/// more than its timeout ends `info` (the service applied it anyway). Returns the history.
fn run_against(
    service: crate::harness::service::ServiceKind,
    clients: usize,
    ops: usize,
    seed: u64,
) -> (Workload, Vec<Op>) {
    use crate::harness::service::Service;
    let mut cfg = Config::new(WorkloadKind::LinKv, ids(3));
    cfg.keys = 2;
    let mut w = Workload::new(cfg);
    let mut svc = Service::new(service);
    let mut rng = fastrand::Rng::with_seed(seed);
    let ms = 1_000_000;
    // (time, client, stage): stage 0 invoke, 1 apply, 2 reply
    let mut events: Vec<(u64, usize, u8)> = (0..clients).map(|c| (c as u64, c, 0)).collect();
    let mut pending: Vec<Option<(Invocation, Value)>> = vec![None; clients];
    let mut history = Vec::new();
    let mut started = 0;
    while let Some(pos) = (0..events.len()).min_by_key(|&i| (events[i].0, events[i].1)) {
        let (now, c, stage) = events.swap_remove(pos);
        let process = format!("c{c}");
        match stage {
            0 if started < ops => {
                started += 1;
                let turn = Turn {
                    now,
                    process: &process,
                    node: c % 3,
                };
                let inv = w.invoke(&mut rng, &turn);
                history.push(inv.op(history.len() as u64, now, &process, "n0"));
                pending[c] = Some((inv, Value::Null));
                events.push((now + rng.u64(0..5) * ms, c, 1));
            }
            0 => {}
            1 => {
                let (inv, _) = pending[c].take().unwrap();
                let mut body = Value::Object(inv.body.clone());
                body["msg_id"] = json!(1);
                let reply = svc.handle(&process, &body, now, &mut rng);
                pending[c] = Some((inv, reply));
                // one request in 20 is slow enough to time out
                let back = if rng.u32(..20) == 0 {
                    6_000
                } else {
                    rng.u64(0..5)
                };
                events.push((now + back * ms, c, 2));
            }
            _ => {
                let (inv, reply) = pending[c].take().unwrap();
                let timed_out = back_too_late(&history, &process, now, inv.timeout);
                let done = if timed_out {
                    w.complete(&inv, Reply::Timeout)
                } else {
                    w.complete(&inv, Reply::Body(reply.as_object().unwrap()))
                };
                history.push(done.op(&inv, history.len() as u64, now, &process, "n0"));
                events.push((now + rng.u64(0..3) * ms, c, 0));
            }
        }
    }
    (w, history)
}

fn back_too_late(history: &[Op], process: &str, now: u64, timeout: u64) -> bool {
    let invoked = history
        .iter()
        .rev()
        .find(|o| o.process == process)
        .unwrap()
        .time;
    now - invoked > timeout
}

#[test]
fn histories_of_maelstroms_lin_kv_are_linearizable() {
    use crate::harness::service::ServiceKind;
    for seed in 0..20 {
        let (w, h) = run_against(ServiceKind::LinKv, 6, 400, seed);
        assert!(
            h.iter().any(|o| o.kind == OpType::Info),
            "some writes time out"
        );
        let results = w.results(&h, None);
        assert_eq!(
            results.checks["workload"].valid,
            Valid::True,
            "seed {seed}: {:?}",
            results.checks["workload"]
        );
        assert_eq!(results.valid(), Valid::True, "seed {seed}");
    }
}

#[test]
fn histories_of_seq_kv_are_caught_not_linearizable() {
    use crate::harness::service::ServiceKind;
    let caught = (0..20)
        .filter(|&seed| {
            let (w, h) = run_against(ServiceKind::SeqKv, 6, 400, seed);
            w.check(&h).valid == Valid::False
        })
        .count();
    assert!(
        caught >= 15,
        "stale reads of seq-kv caught in {caught} of 20 runs"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The acceptable sums are exactly the definite sum plus each subset of the
        /// indeterminate deltas.
        #[test]
        fn counter_ranges_are_subset_sums(definite in -20i64..20, maybe in prop::collection::vec(-5i64..5, 0..9)) {
            let mut set = counter::RangeSet::single(definite);
            for &d in &maybe {
                set.maybe_add(d);
            }
            let mut sums = std::collections::BTreeSet::new();
            for mask in 0u32..(1 << maybe.len()) {
                let s: i64 = (0..maybe.len()).filter(|i| mask >> i & 1 == 1).map(|i| maybe[i]).sum();
                sums.insert(definite + s);
            }
            for x in -80..80 {
                prop_assert_eq!(set.contains(x), sums.contains(&x), "{}", x);
            }
        }

        /// Final reads that hold every acknowledged element pass; one that misses an
        /// acknowledged element fails.
        #[test]
        fn set_full_passes_complete_reads_and_fails_a_missing_element(
            outcomes in prop::collection::vec(0u8..3, 1..30),
            seen_maybe in prop::collection::vec(any::<bool>(), 30),
            victim in any::<prop::sample::Index>(),
        ) {
            let mut r = Run::new(WorkloadKind::Broadcast);
            let mut present = Vec::new();
            let mut acked = Vec::new();
            for (x, &o) in outcomes.iter().enumerate() {
                let b = broadcast(x as u64);
                match o {
                    0 => { r.ok("c1", &b, json!({"type": "broadcast_ok"})); acked.push(x); present.push(x); }
                    1 => { r.op("c1", &b, Reply::Timeout); if seen_maybe[x] { present.push(x); } }
                    _ => { let e = obj(json!({"type": "error", "in_reply_to": 1, "code": 11})); r.op("c1", &b, Reply::Body(&e)); }
                }
            }
            let read = final_read(&r);
            r.ok("c2", &read, json!({"type": "read_ok", "messages": present}));
            let valid = r.check().valid;
            prop_assert!(valid == Valid::True || (valid == Valid::Unknown && present.is_empty()), "{:?}", r.check().details);
            if !acked.is_empty() {
                let gone = acked[victim.index(acked.len())];
                let fewer: Vec<usize> = present.iter().copied().filter(|&x| x != gone).collect();
                r.ok("c3", &read, json!({"type": "read_ok", "messages": fewer}));
                let c = r.check();
                prop_assert_eq!(c.valid, Valid::False);
                prop_assert_eq!(&c.details["lost"], &json!([gone]));
            }
        }
    }
}
