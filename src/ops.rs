//! Client operations still to be answered, and their deadline.
//!
//! Maelstrom's client waits 5 s for an answer, then records the operation as indeterminate and
//! takes a new client id; an answer sent later goes to an id Maelstrom no longer knows, which
//! kills its reader of the node's stdout, and everything the node writes afterwards is lost.
//! So every request from a client (`c` followed by digits, Maelstrom's naming) has a deadline,
//! [`Config::op_deadline`](crate::Config::op_deadline) after its arrival. A request answered
//! by its handler never enters this table; one left unanswered becomes an [`OpenOps`] entry
//! with a timer at its deadline. An answer through the request's
//! [`ReplyTo`](crate::ReplyTo) closes the entry; at the deadline the runtime closes it and
//! answers error 0 itself; an answer after that finds the entry gone and is dropped.
//!
//! Entries live in a slab, whose keys are reused: an [`OpRef`] carries a generation as well, so
//! an old reference never closes a newer operation in the same slot.

use slab::Slab;

/// Names a client operation: a slot of [`OpenOps`] and the generation that tells it from
/// later operations in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpRef {
    key: u32,
    generation: u64,
}

/// An operation waiting for its answer.
#[derive(Debug)]
pub struct Open<T> {
    generation: u64,
    /// The client.
    pub dest: Box<str>,
    /// The `msg_id` of its request.
    pub in_reply_to: u64,
    /// The deadline's timer, to cancel when the answer comes first.
    pub timer: T,
}

/// Operations waiting for their answer.
#[derive(Debug)]
pub struct OpenOps<T> {
    slots: Slab<Open<T>>,
    next_generation: u64,
}

impl<T> Default for OpenOps<T> {
    fn default() -> Self {
        OpenOps {
            slots: Slab::new(),
            next_generation: 0,
        }
    }
}

impl<T> OpenOps<T> {
    /// The reference the next [`open`](Self::open) will take, reserved before the handler
    /// runs so that its [`ReplyTo`](crate::ReplyTo) can carry it. Nothing is stored yet.
    pub fn next_ref(&mut self) -> OpRef {
        let generation = self.next_generation;
        self.next_generation += 1;
        let key = u32::try_from(self.slots.vacant_key()).expect("4 billion operations open");
        OpRef { key, generation }
    }

    /// Opens the operation `op` names: [`next_ref`](Self::next_ref)'s, with no other open in
    /// between.
    pub fn open(&mut self, op: OpRef, dest: Box<str>, in_reply_to: u64, timer: T) {
        let key = self.slots.insert(Open {
            generation: op.generation,
            dest,
            in_reply_to,
            timer,
        });
        debug_assert_eq!(key, op.key as usize, "slot changed since next_ref");
    }

    /// Closes `op` if it is still open, and gives its entry.
    pub fn close(&mut self, op: OpRef) -> Option<Open<T>> {
        let open = self.slots.get(op.key as usize)?;
        (open.generation == op.generation).then(|| self.slots.remove(op.key as usize))
    }

    /// Operations open.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Whether `src` is a Maelstrom client: `c` followed by one or more digits.
///
/// ```
/// use mionode::ops::is_client;
/// assert!(is_client("c12"));
/// assert!(!is_client("n1") && !is_client("c") && !is_client("lin-kv") && !is_client("cx"));
/// ```
pub fn is_client(src: &str) -> bool {
    match src.as_bytes() {
        [b'c', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_reference_does_not_close_a_newer_operation_in_its_slot() {
        let mut ops = OpenOps::default();
        let first = ops.next_ref();
        ops.open(first, "c1".into(), 1, ());
        assert!(ops.close(first).is_some());
        let second = ops.next_ref();
        ops.open(second, "c2".into(), 2, ());
        assert!(ops.close(first).is_none(), "same slot, older generation");
        assert_eq!(ops.close(second).map(|o| o.in_reply_to), Some(2));
        assert!(ops.is_empty());
    }
}
