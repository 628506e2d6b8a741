use serde_json::json;

use super::*;

fn call(s: &mut Service, src: &str, body: Value, rng: &mut fastrand::Rng) -> Value {
    s.handle(src, &body, 0, rng)
}

#[test]
fn lin_kv_reads_writes_and_cas_with_maelstroms_codes() {
    let mut rng = fastrand::Rng::with_seed(1);
    let mut s = Service::new(ServiceKind::LinKv);
    let r = call(
        &mut s,
        "n0",
        json!({"type": "read", "key": "x", "msg_id": 4}),
        &mut rng,
    );
    assert_eq!(
        (
            r["type"].clone(),
            r["code"].clone(),
            r["in_reply_to"].clone()
        ),
        (json!("error"), json!(20), json!(4))
    );
    let r = call(
        &mut s,
        "n0",
        json!({"type": "cas", "key": "x", "from": 1, "to": 2, "msg_id": 5}),
        &mut rng,
    );
    assert_eq!(r["code"], 20);
    let r = call(
        &mut s,
        "n0",
        json!({"type": "cas", "key": "x", "from": 1, "to": 2, "create_if_not_exists": true, "msg_id": 6}),
        &mut rng,
    );
    assert_eq!(r, json!({"type": "cas_ok", "in_reply_to": 6}));
    let r = call(
        &mut s,
        "n1",
        json!({"type": "cas", "key": "x", "from": 1, "to": 3, "msg_id": 7}),
        &mut rng,
    );
    assert_eq!(r["code"], 22);
    assert_eq!(r["text"], "current value 2 is not 1");
    call(
        &mut s,
        "n1",
        json!({"type": "write", "key": "x", "value": [1, {"a": null}], "msg_id": 8}),
        &mut rng,
    );
    let r = call(
        &mut s,
        "n2",
        json!({"type": "read", "key": "x", "msg_id": 9}),
        &mut rng,
    );
    assert_eq!(
        r,
        json!({"type": "read_ok", "value": [1, {"a": null}], "in_reply_to": 9})
    );
    let r = call(
        &mut s,
        "n2",
        json!({"type": "read", "key": 1, "msg_id": 10}),
        &mut rng,
    );
    assert_eq!(r["code"], 20, "key 1 is not key \"1\" nor \"x\"");
}

#[test]
fn unknown_and_malformed_requests_get_10_and_12() {
    let mut rng = fastrand::Rng::with_seed(1);
    for kind in ServiceKind::ALL {
        let mut s = Service::new(kind);
        let r = call(
            &mut s,
            "n0",
            json!({"type": "frobnicate", "msg_id": 1}),
            &mut rng,
        );
        assert_eq!(r["code"], 10, "{kind:?}");
        let r = call(&mut s, "n0", json!({"msg_id": 2}), &mut rng);
        assert_eq!(r["code"], 12, "{kind:?}");
    }
    let mut s = Service::new(ServiceKind::SeqKv);
    let r = call(
        &mut s,
        "n0",
        json!({"type": "write", "key": 1, "msg_id": 3}),
        &mut rng,
    );
    assert_eq!(r["code"], 12);
    assert!(r["text"].as_str().unwrap().contains("`value`"));
}

#[test]
fn lin_tso_counts_from_zero() {
    let mut rng = fastrand::Rng::with_seed(1);
    let mut s = Services::new();
    let ts: Vec<Value> = (0..3)
        .map(|i| {
            s.handle(
                "lin-tso",
                "n0",
                &json!({"type": "ts", "msg_id": i}),
                0,
                &mut rng,
            )
            .unwrap()["ts"]
                .clone()
        })
        .collect();
    assert_eq!(ts, [json!(0), json!(1), json!(2)]);
    assert!(s
        .handle("n1", "n0", &json!({"type": "ts"}), 0, &mut rng)
        .is_none());
}

#[test]
fn seq_kv_serves_stale_reads_but_never_goes_back_for_one_client() {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut s = Service::new(ServiceKind::SeqKv);
    for v in 0..10 {
        call(
            &mut s,
            "n0",
            json!({"type": "write", "key": "k", "value": v}),
            &mut rng,
        );
    }
    let mut stale = 0;
    let mut last = -1;
    for _ in 0..200 {
        let r = call(&mut s, "n1", json!({"type": "read", "key": "k"}), &mut rng);
        let v = r["value"].as_i64().unwrap_or(-1);
        assert!(v >= last, "n1 read {v} after {last}");
        last = v;
        stale += usize::from(v < 9);
    }
    assert!(stale > 0, "some reads of a fresh client are stale");
    assert_eq!(last, 9, "reads converge to the newest state");
    // the writer sees its own writes
    let r = call(&mut s, "n0", json!({"type": "read", "key": "k"}), &mut rng);
    assert_eq!(r["value"], 9);
    // a cas that would change the state it is tried on applies to the newest one
    let r = call(
        &mut s,
        "n0",
        json!({"type": "cas", "key": "k", "from": 9, "to": 10}),
        &mut rng,
    );
    assert_eq!(r["type"], "cas_ok");
    let r = call(&mut s, "n0", json!({"type": "read", "key": "k"}), &mut rng);
    assert_eq!(r["value"], 10);
    // a fresh client's cas may fail on a stale state (sequential consistency allows it)
    let r = call(
        &mut s,
        "n3",
        json!({"type": "cas", "key": "k", "from": 10, "to": 11}),
        &mut rng,
    );
    assert!(r["type"] == "cas_ok" || r["code"] == 22, "{r}");
}

#[test]
fn lww_kv_replicas_diverge_as_maelstroms_do() {
    let mut rng = fastrand::Rng::with_seed(3);
    let mut s = Service::new(ServiceKind::LwwKv);
    call(
        &mut s,
        "n0",
        json!({"type": "write", "key": "k", "value": 1}),
        &mut rng,
    );
    let mut missing = 0;
    for _ in 0..100 {
        let r = call(&mut s, "n0", json!({"type": "read", "key": "k"}), &mut rng);
        if r["type"] == "error" {
            assert_eq!(r["code"], 20);
            missing += 1;
        } else {
            assert_eq!(r["value"], 1);
        }
    }
    assert!(
        missing > 20 && missing < 80,
        "{missing}: the other replica never learns the write"
    );
    let r = call(
        &mut s,
        "n0",
        json!({"type": "cas", "key": "new", "from": 1, "to": 2, "create_if_not_exists": true}),
        &mut rng,
    );
    assert_eq!(r["code"], 20, "lww-kv's cas never creates");
}
