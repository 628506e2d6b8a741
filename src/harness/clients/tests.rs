use super::*;
use crate::harness::workload::{Config, Turn, Workload, WorkloadKind, CLIENT_TIMEOUT};

fn echo(c: &mut Clients, k: usize) -> Invocation {
    let mut w = Workload::new(Config::new(
        WorkloadKind::Echo,
        vec!["n0".into(), "n1".into()],
    ));
    let turn = Turn {
        now: 0,
        process: "c9",
        node: c.node_of(k),
    };
    w.invoke(c.rng(k), &turn)
}

#[test]
fn slots_are_bound_round_robin_after_init_clients() {
    let c = Clients::new(2, 3, Schedule::Closed, 1);
    assert_eq!((c.node_of(0), c.node_of(1), c.node_of(2)), (0, 1, 0));
    assert_eq!(c.lookup("c2"), Some(0));
    assert_eq!(c.lookup("c4"), Some(2));
    assert_eq!(c.name(2), "c4");
    assert_eq!(
        c.lookup("c1"),
        None,
        "init clients are not workload clients"
    );
    assert_eq!(c.lookup("c5"), None);
    assert_eq!(c.lookup("cx"), None);
    assert_eq!(c.lookup("c02"), None, "c02 is not c2");
    assert_eq!(c.lookup("c+2"), None);
    assert_eq!(c.lookup("c"), None);
    assert_eq!(client_number("c0"), Some(0));
    assert!(c.was_opened(2) && c.was_opened(4) && !c.was_opened(1) && !c.was_opened(5));
}

#[test]
fn a_reply_ends_only_the_request_it_answers() {
    let mut c = Clients::new(2, 1, Schedule::Closed, 1);
    let inv = echo(&mut c, 0);
    let (name, msg_id) = c.begin(0, 0, inv, Some(0));
    assert_eq!((name.as_str(), msg_id), ("c2", 1));
    assert_eq!(c.busy(), 1);
    assert!(c.answer(0, Some(7)).is_none());
    assert!(c.answer(0, None).is_none());
    let p = c.answer(0, Some(1)).expect("answers msg_id 1");
    assert_eq!((p.msg_id, p.inv.f, p.index), (1, "echo", Some(0)));
    assert!(c.answer(0, Some(1)).is_none(), "a duplicate reply is late");
    assert_eq!(c.busy(), 0);
}

#[test]
fn requests_time_out_after_their_timeout() {
    let mut c = Clients::new(2, 2, Schedule::Closed, 1);
    let (a, b) = (echo(&mut c, 0), echo(&mut c, 1));
    c.begin(0, 0, a, None);
    c.begin(1, 0, b, None);
    c.answer(0, Some(1));
    assert!(c.expire(CLIENT_TIMEOUT / 2).is_none());
    let (k, p) = c.expire(CLIENT_TIMEOUT).expect("slot 1 times out");
    assert_eq!((k, p.msg_id), (1, 1));
    assert!(c.expire(CLIENT_TIMEOUT * 2).is_none());
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn shorter_timeouts_expire_first_whatever_the_send_order() {
    let mut c = Clients::new(1, 2, Schedule::Closed, 1);
    let long = echo(&mut c, 0);
    let mut short = echo(&mut c, 1);
    short.timeout = SECOND;
    c.begin(0, 0, long, None);
    c.begin(1, 10, short, None);
    assert_eq!(c.next_deadline(), Some(SECOND + 10));
    assert_eq!(c.expire(SECOND + 10).map(|(k, _)| k), Some(1));
}

#[test]
fn a_crashed_client_is_replaced_by_a_new_id_at_its_next_request() {
    let mut c = Clients::new(2, 2, Schedule::Closed, 1);
    let inv = echo(&mut c, 1);
    c.begin(1, 0, inv, None);
    let (k, _) = c.expire(CLIENT_TIMEOUT).expect("times out");
    c.crash(k);
    assert_eq!(c.lookup("c3"), Some(1), "still open until the next request");
    let inv = echo(&mut c, 1);
    let (name, msg_id) = c.begin(1, 0, inv, None);
    assert_eq!(c.lookup("c3"), None, "the old id is closed");
    assert_eq!(
        (name.as_str(), msg_id),
        ("c4", 1),
        "a new client counts from 1"
    );
    assert_eq!(c.lookup("c4"), Some(1));
    assert_eq!(c.node_of(1), 1, "same node");
    assert_eq!((c.opened(), c.replaced()), (3, 1));
    assert!(c.was_opened(3), "c3 was a client, now closed");
}

#[test]
fn rate_starts_wait_for_an_idle_slot() {
    let mut c = Clients::new(2, 2, Schedule::Rate(1000.0), 1);
    assert!(c.start(0).is_empty());
    let first = c.take_start(0).expect("first start is due now");
    let inv = echo(&mut c, first);
    c.begin(first, 0, inv, None);
    let later = SECOND;
    let second = c.take_start(later).expect("due");
    assert_ne!(second, first);
    let inv = echo(&mut c, second);
    c.begin(second, later, inv, None);
    assert_eq!(
        c.take_start(later),
        None,
        "both slots busy: the start waits"
    );
    assert_eq!(c.next_start(), None);
    c.answer(first, Some(1));
    assert_eq!(c.take_start(2 * SECOND), Some(first));
    c.stop();
    assert!(c.take_start(3 * SECOND).is_none());
}

#[test]
fn rate_spacing_averages_one_over_the_rate() {
    let mut c = Clients::new(1, 1, Schedule::Rate(100.0), 3);
    c.start(0);
    let mut at = 0;
    for _ in 0..2000 {
        let k = c.take_start(at).expect("due");
        c.idle.push(k);
        at = c.next_start().expect("next");
    }
    let mean_ms = at as f64 / 1e6 / 2000.0;
    assert!((9.0..11.0).contains(&mean_ms), "mean gap {mean_ms} ms");
}

#[test]
fn added_slots_are_outside_the_schedule() {
    let mut c = Clients::new(2, 1, Schedule::Rate(1000.0), 1);
    let k = c.add_slot(1);
    assert_eq!((k, c.name(k).as_str(), c.node_of(k)), (1, "c3", 1));
    c.start(0);
    let inv = echo(&mut c, k);
    c.begin(k, 0, inv, None);
    c.answer(k, Some(1));
    assert_eq!(c.take_start(0), Some(0));
    assert_eq!(
        c.take_start(SECOND),
        None,
        "slot 1 never joins the schedule"
    );
}

#[test]
fn rate_zero_sends_nothing() {
    let mut c = Clients::new(2, 2, Schedule::Idle, 1);
    assert!(c.start(0).is_empty());
    assert_eq!(c.take_start(CLIENT_TIMEOUT), None);
}

/// Found by the simulator (mixed workload, partitions, seed 4): a replacement client counts
/// its msg_ids from 1 again, and its predecessor's stale deadline for the same msg_id used
/// to expire the new request early.
#[test]
fn a_replacement_does_not_inherit_its_predecessors_deadlines() {
    let mut c = Clients::new(1, 1, Schedule::Closed, 1);
    let inv = echo(&mut c, 0);
    c.begin(0, 0, inv, None);
    c.answer(0, Some(1)).expect("answered at once");
    let inv = echo(&mut c, 0);
    c.begin(0, 10, inv, None);
    let (_, p) = c.expire(10 + CLIENT_TIMEOUT).expect("msg_id 2 times out");
    assert_eq!(p.msg_id, 2);
    c.crash(0);
    let inv = echo(&mut c, 0);
    let (name, msg_id) = c.begin(0, SECOND, inv, None);
    assert_eq!((name.as_str(), msg_id), ("c2", 1));
    assert!(
        c.expire(CLIENT_TIMEOUT).is_none(),
        "c1's msg_id 1 deadline is not c2's"
    );
    assert!(c.expire(SECOND + CLIENT_TIMEOUT).is_some());
}

#[test]
fn numbered_from_leaves_room_for_setup_clients() {
    let c = Clients::numbered_from(2, 4, 2, Schedule::Closed, 1);
    assert_eq!((c.name(0), c.name(1)), ("c4".to_string(), "c5".to_string()));
    assert_eq!(
        c.lookup("c2"),
        None,
        "a setup client is not a workload client"
    );
    assert_eq!(c.node_of(1), 1);
}

/// From mionode-load's copy: Jepsen's workers close their clients when they exit, so a late
/// reply to one is to an unknown destination, named as such.
#[test]
fn exiting_closes_idle_clients_now_and_busy_ones_when_they_end() {
    let mut c = Clients::new(2, 2, Schedule::Closed, 1);
    let inv = echo(&mut c, 0);
    c.begin(0, 0, inv, None);
    c.stop();
    c.exit();
    assert_eq!(c.lookup("c3"), None, "slot 1 was idle: closed");
    assert_eq!(c.closed("c3"), Some(Closed::Exited));
    assert_eq!(c.lookup("c2"), Some(0), "slot 0 waits for its reply");
    let (k, _) = c.expire(CLIENT_TIMEOUT).expect("times out");
    c.crash(k);
    assert_eq!(c.lookup("c2"), None);
    assert_eq!(c.closed("c2"), Some(Closed::Crashed));
    assert_eq!(c.closed("c9"), None);
}

#[test]
fn a_replaced_client_is_closed_as_crashed() {
    let mut c = Clients::new(2, 2, Schedule::Closed, 1);
    let inv = echo(&mut c, 1);
    c.begin(1, 0, inv, None);
    let (k, _) = c.expire(CLIENT_TIMEOUT).expect("times out");
    c.crash(k);
    assert_eq!(c.closed("c3"), None, "open until the next request");
    let inv = echo(&mut c, 1);
    c.begin(1, SECOND, inv, None);
    assert_eq!(c.closed("c3"), Some(Closed::Crashed));
}

#[test]
fn final_reads_take_an_idle_slot_of_the_node_or_a_new_one() {
    let mut c = Clients::new(2, 2, Schedule::Rate(1000.0), 1);
    c.start(0);
    let k = c.take_start(0).expect("due");
    let inv = echo(&mut c, k);
    c.begin(k, 0, inv, None);
    c.stop();
    let busy_node = c.node_of(k);
    let other = c.idle_slot_of(1 - busy_node);
    assert_eq!(other, 1 - k, "the node's idle slot");
    let inv = echo(&mut c, other);
    c.begin(other, 0, inv, None);
    c.set_bytes(other, 42);
    assert_eq!(c.pending(other).map(|p| p.bytes), Some(42));
    let fresh = c.idle_slot_of(busy_node);
    assert_eq!((fresh, c.slots()), (2, 3), "a new slot for the busy node");
    assert_eq!(c.name(fresh), "c4");
}
