//! Maelstrom's services as state machines: `lin-kv`, `seq-kv`, `lww-kv` and `lin-tso`
//! (`service.clj`, `doc/services.md`).
//!
//! A driver hands a request addressed to a service to [`Services::handle`] (body, sender,
//! `now`, the run's generator) and delivers the reply body it returns to the sender, through
//! the network like any message. The services themselves take no time.
//!
//! | service | behaves as | requests |
//! |---|---|---|
//! | `lin-kv` | one map, every request applied in arrival order: linearizable | `read {key}`, `write {key, value}`, `cas {key, from, to, create_if_not_exists}` |
//! | `seq-kv` | Maelstrom's `sequential` wrapper: see below | the same |
//! | `lww-kv` | two replicas, each request served by one at random; see below | the same, without `create_if_not_exists` |
//! | `lin-tso` | a counter from 0 | `ts` → `ts_ok {ts}` |
//!
//! **seq-kv**: the service keeps its last [`SEQ_HISTORY`] states. Client `c` (any sender) has
//! seen state number `s_c`; a request is tried on a state drawn uniformly from `s_c` to the
//! newest. If it changes nothing there (a read, a failing cas, a write of the value already
//! there), that answer stands and `s_c` becomes that state: reads may be stale, but never
//! older than what the same sender saw before. Otherwise it is applied to the newest state,
//! which it extends. Maelstrom's ring buffer wraps around past 32 states; here the draw is
//! clamped to the oldest state kept.
//!
//! **lww-kv**: each replica keeps a Lamport clock and stamps what it writes. Maelstrom's code
//! (at the commit DESIGN.md cites) computes a merge of two random replicas on every request
//! and then discards it (`replicas'` is rebuilt from the unmerged vector), so its replicas
//! never converge: a read sees the writes of the replica it happens to hit. That is what is
//! reproduced here; a node that expects lww-kv to converge fails under Maelstrom too.
//!
//! Errors: 20 (key does not exist) for a read or cas of a missing key, 22 (precondition
//! failed) for a cas whose `from` differs. Beyond Maelstrom, which logs and never answers a
//! request it cannot handle (the node's RPC times out), a request of unknown type gets error
//! 10 and one without its fields (`key`, `value`, `from`, `to`) error 12. Maelstrom never
//! sends 21 (key already exists); neither do these services.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Value};

use crate::harness::record::Nanos;

/// How many past states `seq-kv` may serve reads from (Maelstrom's ring buffer size).
pub const SEQ_HISTORY: usize = 32;

/// How many replicas `lww-kv` has (Maelstrom's `eventual` default).
pub const LWW_REPLICAS: usize = 2;

/// A service, by its node id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    /// `lin-kv`: a linearizable key-value store.
    LinKv,
    /// `seq-kv`: a sequentially consistent key-value store.
    SeqKv,
    /// `lww-kv`: a last-write-wins key-value store that may lose writes.
    LwwKv,
    /// `lin-tso`: a linearizable timestamp oracle.
    LinTso,
}

impl ServiceKind {
    /// Every service.
    pub const ALL: [ServiceKind; 4] = [
        ServiceKind::LinKv,
        ServiceKind::SeqKv,
        ServiceKind::LwwKv,
        ServiceKind::LinTso,
    ];

    /// Its node id.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::LinKv => "lin-kv",
            ServiceKind::SeqKv => "seq-kv",
            ServiceKind::LwwKv => "lww-kv",
            ServiceKind::LinTso => "lin-tso",
        }
    }

    /// The service whose node id is `id`, if any.
    pub fn from_id(id: &str) -> Option<ServiceKind> {
        ServiceKind::ALL.into_iter().find(|s| s.name() == id)
    }
}

/// A key-value map; keys are the JSON text of any JSON value (`1` and `"1"` differ).
type Kv = BTreeMap<String, Value>;

/// An LWW replica: a Lamport clock and stamped values.
#[derive(Debug, Clone, Default)]
struct LwwReplica {
    clock: u64,
    values: BTreeMap<String, (u64, Value)>,
}

#[derive(Debug, Clone)]
enum State {
    Lin(Kv),
    Seq {
        states: VecDeque<Kv>,
        last: u64,
        seen: HashMap<String, u64>,
    },
    Lww(Vec<LwwReplica>),
    Tso(u64),
}

/// One service's state.
#[derive(Debug, Clone)]
pub struct Service {
    kind: ServiceKind,
    state: State,
}

impl Service {
    /// A fresh service: empty maps, the oracle at 0.
    pub fn new(kind: ServiceKind) -> Self {
        let state = match kind {
            ServiceKind::LinKv => State::Lin(Kv::new()),
            ServiceKind::SeqKv => State::Seq {
                states: VecDeque::from([Kv::new()]),
                last: 0,
                seen: HashMap::new(),
            },
            ServiceKind::LwwKv => State::Lww(vec![LwwReplica::default(); LWW_REPLICAS]),
            ServiceKind::LinTso => State::Tso(0),
        };
        Service { kind, state }
    }

    /// Which service.
    pub fn kind(&self) -> ServiceKind {
        self.kind
    }

    /// Answers `body`, a request from `src`: the reply body, with `in_reply_to` set to the
    /// request's `msg_id` (`null` when it has none). `now` is unused today (services take no
    /// time); `rng` draws seq-kv's stale states and lww-kv's replica.
    pub fn handle(
        &mut self,
        src: &str,
        body: &Value,
        _now: Nanos,
        rng: &mut fastrand::Rng,
    ) -> Value {
        let mut reply = match Request::parse(body) {
            Err(e) => e,
            Ok(req) => match &mut self.state {
                State::Lin(kv) => apply_kv(kv, &req, true).1,
                State::Seq { states, last, seen } => seq(states, last, seen, src, &req, rng),
                State::Lww(replicas) => {
                    let i = rng.usize(..replicas.len());
                    apply_lww(&mut replicas[i], &req)
                }
                State::Tso(next) => match req {
                    Request::Ts => {
                        *next += 1;
                        json!({"type": "ts_ok", "ts": *next - 1})
                    }
                    _ => unsupported(body),
                },
            },
        };
        let in_reply_to = body.get("msg_id").cloned().unwrap_or(Value::Null);
        if let Some(m) = reply.as_object_mut() {
            m.insert("in_reply_to".into(), in_reply_to);
        }
        reply
    }
}

/// The four services, by node id.
#[derive(Debug, Clone)]
pub struct Services {
    list: Vec<Service>,
}

impl Default for Services {
    fn default() -> Self {
        Services::new()
    }
}

impl Services {
    /// Every service, fresh.
    pub fn new() -> Self {
        Services {
            list: ServiceKind::ALL.into_iter().map(Service::new).collect(),
        }
    }

    /// Answers a request to the service `dest`; `None` if `dest` is not a service.
    pub fn handle(
        &mut self,
        dest: &str,
        src: &str,
        body: &Value,
        now: Nanos,
        rng: &mut fastrand::Rng,
    ) -> Option<Value> {
        let kind = ServiceKind::from_id(dest)?;
        let service = self.list.iter_mut().find(|s| s.kind == kind)?;
        Some(service.handle(src, body, now, rng))
    }
}

/// A parsed request.
#[derive(Debug)]
enum Request {
    Read(String),
    Write(String, Value),
    Cas {
        key: String,
        from: Value,
        to: Value,
        create: bool,
    },
    Ts,
    Other(String),
}

impl Request {
    fn parse(body: &Value) -> Result<Request, Value> {
        let Some(m) = body.as_object() else {
            return Err(error(12, "request body is not a JSON object".into()));
        };
        let Some(ty) = m.get("type").and_then(Value::as_str) else {
            return Err(error(12, "request has no string `type`".into()));
        };
        let field = |name: &str| {
            m.get(name)
                .cloned()
                .ok_or_else(|| error(12, format!("{ty} request has no field `{name}`")))
        };
        let key = || field("key").map(|k| k.to_string());
        Ok(match ty {
            "read" => Request::Read(key()?),
            "write" => Request::Write(key()?, field("value")?),
            "cas" => Request::Cas {
                key: key()?,
                from: field("from")?,
                to: field("to")?,
                create: m
                    .get("create_if_not_exists")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            "ts" => Request::Ts,
            other => Request::Other(other.to_string()),
        })
    }
}

fn error(code: u32, text: String) -> Value {
    json!({"type": "error", "code": code, "text": text})
}

fn unsupported(body: &Value) -> Value {
    let ty = body.get("type").and_then(Value::as_str).unwrap_or("");
    error(10, format!("unsupported request type {ty:?}"))
}

fn key_missing() -> Value {
    error(20, "key does not exist".into())
}

fn mismatch(current: &Value, from: &Value) -> Value {
    error(22, format!("current value {current} is not {from}"))
}

/// Applies `req` to `kv`: whether it changed the map, and the reply. `create` tells whether
/// cas honours `create_if_not_exists`.
fn apply_kv(kv: &mut Kv, req: &Request, create: bool) -> (bool, Value) {
    match req {
        Request::Read(k) => match kv.get(k) {
            Some(v) => (false, json!({"type": "read_ok", "value": v})),
            None => (false, key_missing()),
        },
        Request::Write(k, v) => {
            let changed = kv.get(k) != Some(v);
            kv.insert(k.clone(), v.clone());
            (changed, json!({"type": "write_ok"}))
        }
        Request::Cas {
            key,
            from,
            to,
            create: c,
        } => match kv.get(key) {
            Some(cur) if cur == from => {
                let changed = cur != to;
                kv.insert(key.clone(), to.clone());
                (changed, json!({"type": "cas_ok"}))
            }
            Some(cur) => (false, mismatch(cur, from)),
            None if *c && create => {
                kv.insert(key.clone(), to.clone());
                (true, json!({"type": "cas_ok"}))
            }
            None => (false, key_missing()),
        },
        Request::Ts | Request::Other(_) => {
            let ty = match req {
                Request::Other(t) => t.as_str(),
                _ => "ts",
            };
            (false, error(10, format!("unsupported request type {ty:?}")))
        }
    }
}

/// seq-kv: try a state between what `src` saw and the newest; apply to the newest if the
/// request would change the one tried.
fn seq(
    states: &mut VecDeque<Kv>,
    last: &mut u64,
    seen: &mut HashMap<String, u64>,
    src: &str,
    req: &Request,
    rng: &mut fastrand::Rng,
) -> Value {
    let oldest = *last + 1 - states.len() as u64;
    let from = seen.get(src).copied().unwrap_or(0).max(oldest);
    let index = rng.u64(from..=*last);
    let mut tried = states[(index - oldest) as usize].clone();
    let (changed, reply) = apply_kv(&mut tried, req, true);
    if !changed {
        seen.insert(src.to_string(), index);
        return reply;
    }
    let mut newest = states.back().cloned().unwrap_or_default();
    let (changed, reply) = apply_kv(&mut newest, req, true);
    if changed {
        states.push_back(newest);
        if states.len() > SEQ_HISTORY {
            states.pop_front();
        }
        *last += 1;
    }
    seen.insert(src.to_string(), *last);
    reply
}

/// lww-kv on one replica: writes are stamped with its clock; cas never creates.
fn apply_lww(r: &mut LwwReplica, req: &Request) -> Value {
    match req {
        Request::Read(k) => match r.values.get(k) {
            Some((_, v)) => json!({"type": "read_ok", "value": v}),
            None => key_missing(),
        },
        Request::Write(k, v) => {
            r.values.insert(k.clone(), (r.clock, v.clone()));
            r.clock += 1;
            json!({"type": "write_ok"})
        }
        Request::Cas { key, from, to, .. } => match r.values.get(key) {
            Some((_, cur)) if cur == from => {
                r.values.insert(key.clone(), (r.clock, to.clone()));
                r.clock += 1;
                json!({"type": "cas_ok"})
            }
            Some((_, cur)) => mismatch(cur, from),
            None => key_missing(),
        },
        Request::Ts | Request::Other(_) => apply_kv(&mut Kv::new(), req, false).1,
    }
}

#[cfg(test)]
mod tests;
