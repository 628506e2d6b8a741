//! Maelstrom's g-counter workload on the `seq-kv` service: `add {delta}` -> `add_ok`,
//! `read` -> `read_ok {value}`.
//!
//! Each node owns one key, its id, holding the sum of the deltas added through it; the
//! counter is the sum over all nodes' keys. Why per-node keys and not one shared key: a node
//! is the only writer of its key, so its `cas` never races another node's, and an add costs
//! one `cas` when the node's cached total is current. The `cas` loop is still needed: the
//! cache is only a hint (after a timeout, or a restart, it may be behind), and a `cas` from
//! a stale total fails with error 22 instead of losing an add; the node then reads its key
//! afresh and tries again, until [`BUDGET`] runs out.
//!
//! `seq-kv` may serve an operation that changes nothing (a read, a failed `cas`) from a
//! state up to 32 states old, but runs one that changes the store on the newest state and
//! moves this node's view up to it. So a fresh read first writes a value that is certainly
//! new (random, to the key [`SYNC_KEY`]), then reads: it sees every add acknowledged before
//! the read began, on every node. Both `read` and the `cas` loop read that way.
//!
//! Answers: a timed-out `cas` may or may not have happened, and after it the loop could not
//! tell its own success from a lost race (a `cas` from the new total would count the delta
//! twice), so the add answers the client with that timeout (indefinite, code 0). Requests that change nothing the client can see (the write to [`SYNC_KEY`], reads)
//! are retried when lost. Any other failure before a `cas` succeeded means the add did not
//! happen: error 11. No request starts after [`BUDGET`], so every answer comes within
//! [`BUDGET`] plus one [`TIMEOUT`], well inside the client's 5 s. Partitions between nodes
//! change nothing: nodes only talk to `seq-kv`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mionode::kv::{Kv, KvError};
use mionode::{App, Context, Error, ErrorCode, NoFlags, ReplyTo, Request, Routes};
use serde::Deserialize;
use serde_json::json;

/// Deadline of every `seq-kv` request.
const TIMEOUT: Duration = Duration::from_millis(1000);
/// No request to `seq-kv` for a client's operation starts this long after the operation came,
/// so every answer comes within `BUDGET + TIMEOUT`, 3.5 s: inside the client's 5 s.
const BUDGET: Duration = Duration::from_millis(2500);
/// The key fresh reads write to first.
const SYNC_KEY: &str = "sync";

/// This node's cached total, and the reads being summed.
#[derive(Default)]
struct Counter {
    /// The value of this node's key as of its last successful `cas` or fresh read; a hint.
    mine: u64,
    /// Reads waiting for the values of all keys, by a number of their own.
    sums: BTreeMap<u64, Sum>,
    next_sum: u64,
}

/// A read summing the nodes' keys as their values come in.
struct Sum {
    to: ReplyTo,
    total: u64,
    waiting: usize,
    failed: bool,
}

/// An add in its `cas` loop.
struct Adding {
    to: ReplyTo,
    delta: u64,
    deadline: Instant,
}

#[derive(Deserialize)]
struct Add {
    delta: u64,
}

/// What runs once a step of an operation has its result.
type Then<T> = Box<dyn FnOnce(&mut Counter, &mut Context<Counter>, Result<T, KvError>)>;

/// Whether `result` says a request was lost: then it is sent again.
fn lost<T>(result: &Result<T, KvError>) -> bool {
    matches!(result, Err(KvError::Other(e)) if e.code() == ErrorCode::Timeout)
}

/// What a step that would start after its operation's deadline gets instead.
fn too_late() -> KvError {
    KvError::Other(Error::unavailable("out of time"))
}

fn unavailable(e: KvError) -> Error {
    Error::unavailable(format!("seq-kv: {e}"))
}

/// Moves this node's view of `seq-kv` up to its newest state (a write of a value certainly
/// new), sending again what is lost; no request starts after `deadline`.
fn fresh(app: &mut Counter, ctx: &mut Context<Counter>, deadline: Instant, then: Then<()>) {
    if ctx.now() >= deadline {
        return then(app, ctx, Err(too_late()));
    }
    let unique = (ctx.node_id().to_owned(), ctx.rng().u64(..));
    Kv::SEQ.write(ctx, SYNC_KEY, unique, TIMEOUT, move |app, ctx, result| {
        if lost(&result) {
            return fresh(app, ctx, deadline, then);
        }
        then(app, ctx, result)
    });
}

/// Reads node `key`'s total (0 while it has none), sending again what is lost; no request
/// starts after `deadline`.
fn read_key(
    app: &mut Counter,
    ctx: &mut Context<Counter>,
    key: String,
    deadline: Instant,
    then: Then<u64>,
) {
    if ctx.now() >= deadline {
        return then(app, ctx, Err(too_late()));
    }
    Kv::SEQ.read(
        ctx,
        key.clone(),
        TIMEOUT,
        move |app, ctx, result| match result {
            Err(KvError::KeyDoesNotExist) => then(app, ctx, Ok(0)),
            result if lost(&result) => read_key(app, ctx, key, deadline, then),
            result => then(app, ctx, result),
        },
    );
}

fn add(app: &mut Counter, ctx: &mut Context<Counter>, req: &Request) -> Result<(), Error> {
    let Add { delta } = req.body()?;
    if delta == 0 {
        ctx.reply(req, &json!({"type": "add_ok"}));
        return Ok(());
    }
    let deadline = ctx.now() + BUDGET;
    try_add(
        app,
        ctx,
        Adding {
            to: req.reply_to(),
            delta,
            deadline,
        },
    );
    Ok(())
}

/// One `cas` of the loop: from the cached total to that plus the delta.
fn try_add(app: &mut Counter, ctx: &mut Context<Counter>, op: Adding) {
    if ctx.now() >= op.deadline {
        return ctx.reply_error(&op.to, &unavailable(too_late()));
    }
    let (from, to) = (app.mine, app.mine + op.delta);
    let me = ctx.node_id().to_owned();
    Kv::SEQ.cas(
        ctx,
        me,
        from,
        to,
        true,
        TIMEOUT,
        move |app, ctx, result| match result {
            Ok(()) => {
                app.mine = app.mine.max(to);
                ctx.reply_later(&op.to, &json!({"type": "add_ok"}));
            }
            Err(KvError::PreconditionFailed) => {
                let deadline = op.deadline;
                fresh(
                    app,
                    ctx,
                    deadline,
                    Box::new(move |app, ctx, result| match result {
                        Ok(()) => reread(app, ctx, op),
                        Err(e) => ctx.reply_error(&op.to, &unavailable(e)),
                    }),
                );
            }
            Err(e) if e.is_definite() => ctx.reply_error(&op.to, &unavailable(e)),
            Err(e) => ctx.reply_error(&op.to, &e.into()),
        },
    );
}

/// After a lost race: reads this node's key (the view is fresh) into the cache, tries again.
fn reread(app: &mut Counter, ctx: &mut Context<Counter>, op: Adding) {
    let (me, deadline) = (ctx.node_id().to_owned(), op.deadline);
    read_key(
        app,
        ctx,
        me,
        deadline,
        Box::new(move |app, ctx, result| match result {
            Ok(total) => {
                app.mine = app.mine.max(total);
                try_add(app, ctx, op);
            }
            Err(e) => ctx.reply_error(&op.to, &unavailable(e)),
        }),
    );
}

fn read(app: &mut Counter, ctx: &mut Context<Counter>, req: &Request) -> Result<(), Error> {
    let to = req.reply_to();
    let deadline = ctx.now() + BUDGET;
    fresh(
        app,
        ctx,
        deadline,
        Box::new(move |app, ctx, result| match result {
            Ok(()) => sum_all(app, ctx, to, deadline),
            Err(e) => ctx.reply_error(&to, &unavailable(e)),
        }),
    );
    Ok(())
}

/// Reads every node's key at once; the last answer answers the client.
fn sum_all(app: &mut Counter, ctx: &mut Context<Counter>, to: ReplyTo, deadline: Instant) {
    let id = app.next_sum;
    app.next_sum += 1;
    let nodes = ctx.node_ids().to_vec();
    app.sums.insert(
        id,
        Sum {
            to,
            total: 0,
            waiting: nodes.len(),
            failed: false,
        },
    );
    for node in nodes {
        read_key(
            app,
            ctx,
            node,
            deadline,
            Box::new(move |app, ctx, result| {
                let Some(sum) = app.sums.get_mut(&id) else {
                    return;
                };
                match result {
                    Ok(total) => sum.total += total,
                    Err(_) => sum.failed = true,
                }
                sum.waiting -= 1;
                if sum.waiting == 0 {
                    let sum = app.sums.remove(&id).expect("present above");
                    if sum.failed {
                        ctx.reply_error(&sum.to, &Error::unavailable("seq-kv did not answer"));
                    } else {
                        ctx.reply_later(&sum.to, &json!({"type": "read_ok", "value": sum.total}));
                    }
                }
            }),
        );
    }
}

impl App for Counter {
    type Flags = NoFlags;

    fn new(_: &NoFlags) -> Self {
        Counter::default()
    }

    fn routes(routes: &mut Routes<Self>) {
        routes.on("add", add).on("read", read);
    }
}

fn main() -> std::process::ExitCode {
    mionode::run::<Counter>()
}
