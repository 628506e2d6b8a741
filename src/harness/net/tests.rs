use proptest::prelude::*;
use serde_json::json;

use super::*;

#[test]
fn latencies_are_whole_milliseconds_with_maelstroms_shapes() {
    let mut rng = fastrand::Rng::with_seed(7);
    let n = 20_000;
    for (dist, mean_lo, mean_hi, max) in [
        (LatencyDist::Constant, 10.0, 10.0, 10),
        (LatencyDist::Uniform, 9.3, 9.7, 19),
        (LatencyDist::Exponential, 9.2, 9.8, u64::MAX),
    ] {
        let l = Latency { mean_ms: 10, dist };
        let draws: Vec<u64> = (0..n).map(|_| l.draw(&mut rng)).collect();
        assert!(draws.iter().all(|d| d % MS == 0), "{dist}");
        assert!(draws.iter().all(|d| d / MS <= max), "{dist}");
        let mean = draws.iter().sum::<u64>() as f64 / n as f64 / MS as f64;
        assert!(mean >= mean_lo && mean <= mean_hi, "{dist}: mean {mean}");
    }
    let zero = Latency {
        mean_ms: 0,
        dist: LatencyDist::Exponential,
    };
    assert_eq!(zero.draw(&mut rng), 0);
    assert_eq!("uniform".parse(), Ok(LatencyDist::Uniform));
}

#[test]
fn clients_have_no_latency() {
    assert!(involves_client("c12", "n1"));
    assert!(involves_client("n1", "c0"));
    assert!(!involves_client("n1", "lin-kv"));
    assert!(!involves_client("n1", "n2"));
    assert!(!involves_client("cx", "n2"));
}

#[test]
fn faults_drop_and_duplicate() {
    let mut rng = fastrand::Rng::with_seed(1);
    assert_eq!(Faults::default().copies(&mut rng), 1);
    assert_eq!(
        Faults {
            drop: 1.0,
            duplicate: 1.0
        }
        .copies(&mut rng),
        0
    );
    assert_eq!(
        Faults {
            drop: 0.0,
            duplicate: 1.0
        }
        .copies(&mut rng),
        2
    );
    let f = Faults {
        drop: 0.25,
        duplicate: 0.0,
    };
    let lost = (0..10_000).filter(|_| f.copies(&mut rng) == 0).count();
    assert!((2200..2800).contains(&lost), "{lost}");
}

#[test]
fn doubles_are_written_as_java_does() {
    let cases = [
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (100.0, "100.0"),
        (0.001, "0.001"),
        (1.5e-4, "1.5E-4"),
        (1e7, "1.0E7"),
        (9999999.5, "9999999.5"),
        (12345678.9, "1.23456789E7"),
        (-2.5, "-2.5"),
        (1e21, "1.0E21"),
        (0.1, "0.1"),
        (123.456, "123.456"),
    ];
    for (d, want) in cases {
        assert_eq!(java_double(d), want, "{d}");
    }
    assert_eq!(jvm_number(&Number::from(-42)), "-42");
    assert_eq!(jvm_number(&Number::from(u64::MAX)), u64::MAX.to_string());
}

#[test]
fn reencoding_shuffles_keys_at_every_level() {
    let line = br#"{"src":"n0","dest":"n1","body":{"type":"echo","msg_id":1,"echo":{"a":1,"b":2.50,"c":[{"x":1,"y":2}]}}}"#;
    let want: Value = serde_json::from_slice(line).unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    let mut orders = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let out = reencode_line(line, &mut rng).unwrap();
        let back: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, want);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("2.5") && !text.contains("2.50"), "{text}");
        orders.insert(text);
    }
    assert!(orders.len() > 10, "key orders vary: {}", orders.len());
    let dup = reencode_line(br#"{"a":1,"a":2}"#, &mut rng).unwrap();
    assert_eq!(dup, br#"{"a":2}"#);
    assert!(reencode_line(b"{oops", &mut rng).is_err());
}

#[test]
fn net_rate_queues_messages_first_come_first_served() {
    assert!(NetRate::new(0.0).is_none());
    assert!(NetRate::new(f64::INFINITY).is_none());
    let mut q = NetRate::new(1000.0).unwrap();
    assert_eq!(q.per_message(), MS);
    assert_eq!(q.admit(0), MS);
    assert_eq!(q.admit(0), 2 * MS, "the second waits for the first");
    assert_eq!(q.backlog(0), 2);
    assert_eq!(q.admit(10 * MS), 11 * MS, "an idle queue serves at once");
    assert_eq!(q.backlog(20 * MS), 0);
}

proptest! {
    #[test]
    fn any_double_reads_back_exactly(bits in any::<u64>()) {
        let d = f64::from_bits(bits);
        prop_assume!(d.is_finite());
        let text = java_double(d);
        let back: f64 = text.replace('E', "e").parse().unwrap();
        prop_assert_eq!(back.to_bits(), d.to_bits(), "{}", text);
        let json: Value = serde_json::from_str(&text.replace('E', "e")).unwrap();
        prop_assert_eq!(json.as_f64().unwrap().to_bits(), d.to_bits(), "serde_json reads it back exactly");
    }

    #[test]
    fn reencoding_keeps_the_value(seed in any::<u64>(), depth_seed in any::<u64>()) {
        let mut gen = fastrand::Rng::with_seed(depth_seed);
        let v = crate::harness::workload::values::random_value(&mut gen, 0);
        let msg = json!({"src": "n0", "dest": "n1", "body": {"type": "echo", "echo": v}});
        let mut out = Vec::new();
        reencode(&msg, &mut fastrand::Rng::with_seed(seed), &mut out);
        let back: Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(back, msg);
    }
}

#[test]
fn integer_spellings_are_normalised_as_jackson_reads_them() {
    let mut rng = fastrand::Rng::with_seed(1);
    let out = |s: &str, rng: &mut fastrand::Rng| {
        String::from_utf8(reencode_line(s.as_bytes(), rng).unwrap()).unwrap()
    };
    assert_eq!(
        out("[1E2, 1.50, 2e-5, 18446744073709551615, -7]", &mut rng),
        "[100.0,1.5,2.0E-5,18446744073709551615,-7]"
    );
    // The one known difference: serde_json reads `-0` as the double -0.0; Jackson as the long 0.
    assert_eq!(out("[-0]", &mut rng), "[-0.0]");
}
