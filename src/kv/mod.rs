//! Clients of Maelstrom's services: the key-value stores [`Kv::LIN`] (`lin-kv`),
//! [`Kv::SEQ`] (`seq-kv`) and [`Kv::LWW`] (`lww-kv`), and the timestamp oracle [`Tso`]
//! (`lin-tso`).
//!
//! Each call is one [`Context::rpc`] to the service: it returns the request's [`MsgId`] (to
//! [`cancel_rpc`](Context::cancel_rpc) it) and runs its callback exactly once, with the
//! typed result, the service's error, or a timeout, like any RPC of the runtime. Keys and
//! values are any serde types: the services store JSON, so a value reads back as any type
//! its JSON fits.
//!
//! What the services promise (Maelstrom's `doc/services.md`, and its `service.clj`):
//!
//! - `lin-kv` is linearizable: every operation takes effect at one instant between its
//!   request and its reply.
//! - `seq-kv` is sequentially consistent: each node sees the store's states in order, but an
//!   operation that changes nothing (a read, a failed `cas`, a write of the value already
//!   there) may be served from a *stale* state, up to 32 states old; an operation that changes
//!   the store takes effect on the newest state and moves this node's view up to it. So a read
//!   after this node's own write sees that write, but not necessarily other nodes' writes
//!   that finished earlier; to read fresh, first write a value that is certainly new.
//! - `lww-kv` is last-write-wins across replicas that merge at random: reads may be stale and
//!   concurrent writes may be lost.
//!
//! Compared with Maelstrom's Go client (`demo/go/kv.go`): keys need not be strings; a read
//! parses straight into the caller's type (no `float64` to `int` guessing); the errors a
//! caller branches on are enum variants, not codes to compare; and a call never blocks a
//! thread, nor leaks its pending entry when the service does not answer.

mod tso;

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::context::{Context, MsgId};
use crate::error::{Error, ErrorCode};
use crate::request::Reply;

pub use tso::Tso;

/// A client of one of Maelstrom's key-value services, named by its constant: [`Kv::LIN`],
/// [`Kv::SEQ`] or [`Kv::LWW`]. It holds only the service's name; copy it freely.
///
/// ```
/// use std::time::Duration;
/// use mionode::kv::{Kv, KvError};
/// use mionode::{App, NoFlags, Routes};
/// use serde_json::json;
///
/// /// Answers `get` with the value of key "x" in lin-kv, or 0 when there is none.
/// struct Getter;
///
/// impl App for Getter {
///     type Flags = NoFlags;
///     fn new(_: &NoFlags) -> Self { Getter }
///     fn routes(routes: &mut Routes<Self>) {
///         routes.on("get", |_, ctx, req| {
///             let to = req.reply_to();
///             Kv::LIN.read::<i64, _>(ctx, "x", Duration::from_secs(1), move |_, ctx, result| {
///                 match result {
///                     Ok(value) => ctx.reply_later(&to, &json!({"type": "get_ok", "value": value})),
///                     Err(KvError::KeyDoesNotExist) => {
///                         ctx.reply_later(&to, &json!({"type": "get_ok", "value": 0}))
///                     }
///                     Err(e) => ctx.reply_error(&to, &e.into()),
///                 }
///             });
///             Ok(())
///         });
///     }
/// }
///
/// let mut node = mionode::testing::TestNode::<Getter>::started("n1", &["n1"]);
/// let sent = node.request("c1", json!({"type": "get", "msg_id": 1}));
/// assert_eq!(sent["dest"], "lin-kv");
/// assert_eq!(sent["body"]["type"], "read");
/// assert_eq!(sent["body"]["key"], "x");
/// // Play lin-kv: the key does not exist.
/// let id = &sent["body"]["msg_id"];
/// let missing = json!({"type": "error", "code": 20, "text": "key does not exist", "in_reply_to": id});
/// let out = node.request("lin-kv", missing);
/// assert_eq!(out["body"]["value"], 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kv {
    service: &'static str,
}

impl Kv {
    /// `lin-kv`: linearizable.
    pub const LIN: Kv = Kv { service: "lin-kv" };
    /// `seq-kv`: sequentially consistent; reads may be stale (see the module docs).
    pub const SEQ: Kv = Kv { service: "seq-kv" };
    /// `lww-kv`: last-write-wins; reads may be stale and concurrent writes lost.
    pub const LWW: Kv = Kv { service: "lww-kv" };

    /// The service's node id, as messages address it.
    ///
    /// ```
    /// use mionode::kv::Kv;
    /// assert_eq!(Kv::SEQ.service(), "seq-kv");
    /// assert!(mionode::SERVICES.contains(&Kv::LWW.service()));
    /// ```
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Reads `key`: `Ok(value)` parsed as `T`, [`KvError::KeyDoesNotExist`] when the key has
    /// no value, or [`KvError::Other`] (a timeout, or error 13 when the value does not parse
    /// as `T`). Returns the request's `msg_id`. `T` comes first among the type parameters, so
    /// `Kv::SEQ.read::<u64, _>(...)` names it where the callback does not.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mionode::kv::Kv;
    /// use mionode::{App, NoFlags, Routes};
    /// use serde_json::json;
    ///
    /// /// Keeps the last list it read from seq-kv.
    /// #[derive(Default)]
    /// struct Reader { last: Option<Vec<u32>> }
    ///
    /// impl App for Reader {
    ///     type Flags = NoFlags;
    ///     fn new(_: &NoFlags) -> Self { Reader::default() }
    ///     fn routes(routes: &mut Routes<Self>) {
    ///         routes.on("poll", |_, ctx, _| {
    ///             // Keys are any serde type: here a (name, shard) pair.
    ///             Kv::SEQ.read(ctx, &("log", 7), Duration::from_secs(1), |app: &mut Reader, _, result| {
    ///                 app.last = result.ok();
    ///             });
    ///             Ok(())
    ///         });
    ///     }
    /// }
    ///
    /// let mut node = mionode::testing::TestNode::<Reader>::started("n1", &["n1"]);
    /// let sent = node.request("c1", json!({"type": "poll", "msg_id": 1}));
    /// assert_eq!(sent["body"]["key"], json!(["log", 7]));
    /// let id = &sent["body"]["msg_id"];
    /// node.deliver("seq-kv", json!({"type": "read_ok", "value": [1, 2], "in_reply_to": id}));
    /// assert_eq!(node.app().last, Some(vec![1, 2]));
    /// ```
    pub fn read<T, A>(
        &self,
        ctx: &mut Context<A>,
        key: impl Serialize,
        timeout: Duration,
        cb: impl FnOnce(&mut A, &mut Context<A>, Result<T, KvError>) + 'static,
    ) -> MsgId
    where
        T: DeserializeOwned,
        A: App,
    {
        let body = Request {
            kind: "read",
            key,
            value: None::<()>,
            from: None::<()>,
            to: None::<()>,
            create_if_not_exists: false,
        };
        ctx.rpc(self.service, &body, timeout, move |app, ctx, result| {
            let value = result
                .and_then(|reply| expect(&reply, "read_ok")?.body::<ReadOk<T>>())
                .map(|ok| ok.value);
            cb(app, ctx, value.map_err(KvError::from))
        })
    }

    /// Sets `key` to `value`, creating it if needed: `Ok(())` once the service has done it.
    /// A timeout ([`KvError::Other`] with code 0) leaves unknown whether the write happened.
    /// Returns the request's `msg_id`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mionode::kv::Kv;
    /// use mionode::{App, NoFlags, Routes};
    /// use serde::Deserialize;
    /// use serde_json::json;
    ///
    /// /// Stores `put {key, value}` in lww-kv and answers once it is stored.
    /// struct Putter;
    ///
    /// #[derive(Deserialize)]
    /// struct Put { key: String, value: i64 }
    ///
    /// impl App for Putter {
    ///     type Flags = NoFlags;
    ///     fn new(_: &NoFlags) -> Self { Putter }
    ///     fn routes(routes: &mut Routes<Self>) {
    ///         routes.on("put", |_, ctx, req| {
    ///             let Put { key, value } = req.body()?;
    ///             let to = req.reply_to();
    ///             Kv::LWW.write(ctx, key, value, Duration::from_secs(1), move |_, ctx, result| {
    ///                 match result {
    ///                     Ok(()) => ctx.reply_later(&to, &json!({"type": "put_ok"})),
    ///                     Err(e) => ctx.reply_error(&to, &e.into()),
    ///                 }
    ///             });
    ///             Ok(())
    ///         });
    ///     }
    /// }
    ///
    /// let mut node = mionode::testing::TestNode::<Putter>::started("n1", &["n1"]);
    /// let sent = node.request("c1", json!({"type": "put", "msg_id": 1, "key": "a", "value": 3}));
    /// assert_eq!(sent["dest"], "lww-kv");
    /// assert_eq!(sent["body"]["value"], 3);
    /// // No answer from the service: the client gets the timeout, code 0 (indefinite).
    /// let out = node.advance_ms(1000);
    /// assert_eq!(out[0]["body"]["code"], 0);
    /// assert_eq!(node.context().pending_rpcs(), 0);
    /// ```
    pub fn write<A, K, V, F>(
        &self,
        ctx: &mut Context<A>,
        key: K,
        value: V,
        timeout: Duration,
        cb: F,
    ) -> MsgId
    where
        A: App,
        K: Serialize,
        V: Serialize,
        F: FnOnce(&mut A, &mut Context<A>, Result<(), KvError>) + 'static,
    {
        let body = Request {
            kind: "write",
            key,
            value: Some(value),
            from: None::<()>,
            to: None::<()>,
            create_if_not_exists: false,
        };
        ctx.rpc(self.service, &body, timeout, move |app, ctx, result| {
            let done = result.and_then(|reply| expect(&reply, "write_ok").map(drop));
            cb(app, ctx, done.map_err(KvError::from))
        })
    }

    /// Compare-and-set: sets `key` to `to` if its value is `from`. Errors:
    /// [`KvError::PreconditionFailed`] when the value is something else,
    /// [`KvError::KeyDoesNotExist`] when there is no value and `create_if_not_exists` is
    /// false. With `create_if_not_exists`, a missing key is created with `to`, whatever
    /// `from` is. Values compare as JSON, so `from` must serialize exactly as the stored
    /// value did. Returns the request's `msg_id`.
    ///
    /// On `seq-kv`, a `cas` that fails may have been judged against a stale state: re-read
    /// and try again. A timeout leaves unknown whether it happened: retrying the same `cas`
    /// is safe only if nobody else may have set `key` back to `from` meanwhile.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mionode::kv::{Kv, KvError};
    /// use mionode::{App, Context, NoFlags, Routes};
    /// use serde_json::json;
    ///
    /// /// Increments key "n" in lin-kv: read, then cas, again on a lost race.
    /// #[derive(Default)]
    /// struct Incr { done: u32 }
    ///
    /// fn bump(_: &mut Incr, ctx: &mut Context<Incr>) {
    ///     let timeout = Duration::from_secs(1);
    ///     Kv::LIN.read(ctx, "n", timeout, move |_, ctx, read: Result<u64, KvError>| {
    ///         let now = match read {
    ///             Ok(n) => n,
    ///             Err(KvError::KeyDoesNotExist) => 0,
    ///             Err(_) => return,
    ///         };
    ///         Kv::LIN.cas(ctx, "n", now, now + 1, true, timeout, |app: &mut Incr, ctx, result| {
    ///             match result {
    ///                 Ok(()) => app.done += 1,
    ///                 Err(KvError::PreconditionFailed) => bump(app, ctx),
    ///                 Err(_) => {}
    ///             }
    ///         });
    ///     });
    /// }
    ///
    /// impl App for Incr {
    ///     type Flags = NoFlags;
    ///     fn new(_: &NoFlags) -> Self { Incr::default() }
    ///     fn routes(routes: &mut Routes<Self>) {
    ///         routes.on("bump", |app, ctx, _| {
    ///             bump(app, ctx);
    ///             Ok(())
    ///         });
    ///     }
    /// }
    ///
    /// let mut node = mionode::testing::TestNode::<Incr>::started("n1", &["n1"]);
    /// let answer = |node: &mut mionode::testing::TestNode<Incr>, sent: &serde_json::Value, body| {
    ///     let mut body: serde_json::Value = body;
    ///     body["in_reply_to"] = sent["body"]["msg_id"].clone();
    ///     node.deliver("lin-kv", body)
    /// };
    /// let read = node.request("c1", json!({"type": "bump", "msg_id": 1}));
    /// let cas = answer(&mut node, &read, json!({"type": "read_ok", "value": 4}));
    /// assert_eq!(cas[0]["body"]["from"], 4);
    /// assert_eq!(cas[0]["body"]["to"], 5);
    /// assert_eq!(cas[0]["body"]["create_if_not_exists"], true);
    /// // Someone else got there first: the node reads again.
    /// let lost = json!({"type": "error", "code": 22, "text": "current value 5 is not 4"});
    /// let read = answer(&mut node, &cas[0], lost);
    /// assert_eq!(read[0]["body"]["type"], "read");
    /// let cas = answer(&mut node, &read[0], json!({"type": "read_ok", "value": 5}));
    /// answer(&mut node, &cas[0], json!({"type": "cas_ok"}));
    /// assert_eq!(node.app().done, 1);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn cas<A, K, V, W, F>(
        &self,
        ctx: &mut Context<A>,
        key: K,
        from: V,
        to: W,
        create_if_not_exists: bool,
        timeout: Duration,
        cb: F,
    ) -> MsgId
    where
        A: App,
        K: Serialize,
        V: Serialize,
        W: Serialize,
        F: FnOnce(&mut A, &mut Context<A>, Result<(), KvError>) + 'static,
    {
        let body = Request {
            kind: "cas",
            key,
            value: None::<()>,
            from: Some(from),
            to: Some(to),
            create_if_not_exists,
        };
        ctx.rpc(self.service, &body, timeout, move |app, ctx, result| {
            let done = result.and_then(|reply| expect(&reply, "cas_ok").map(drop));
            cb(app, ctx, done.map_err(KvError::from))
        })
    }
}

/// Why a key-value operation did not succeed: the three errors a caller of a KV service
/// branches on, each definite (the operation did not happen), and everything else.
///
/// ```
/// use mionode::kv::KvError;
/// use mionode::{Error, ErrorCode};
///
/// assert_eq!(KvError::from(Error::new(22, "current value 1 is not 2")), KvError::PreconditionFailed);
/// let timeout = KvError::from(Error::timeout());
/// assert!(!timeout.is_definite());
/// assert_eq!(timeout.code(), ErrorCode::Timeout);
/// // Back into the runtime's error, to answer a client with it.
/// assert_eq!(Error::from(KvError::KeyDoesNotExist).code().code(), 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// Error 20: the key has no value. Definite.
    KeyDoesNotExist,
    /// Error 21: the key already has a value. Definite. Maelstrom's KV services do not send
    /// it today; it is here because the protocol defines it.
    KeyAlreadyExists,
    /// Error 22: a `cas` found a value other than `from`. Definite.
    PreconditionFailed,
    /// Anything else, as the runtime reports it: a timeout (code 0, indefinite), a reply
    /// this client could not read (13, indefinite), or another error from the service.
    Other(Error),
}

impl KvError {
    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        match self {
            KvError::KeyDoesNotExist => ErrorCode::KeyDoesNotExist,
            KvError::KeyAlreadyExists => ErrorCode::KeyAlreadyExists,
            KvError::PreconditionFailed => ErrorCode::PreconditionFailed,
            KvError::Other(e) => e.code(),
        }
    }

    /// Whether the operation certainly did not happen ([`ErrorCode::is_definite`]).
    pub fn is_definite(&self) -> bool {
        self.code().is_definite()
    }
}

impl From<Error> for KvError {
    fn from(e: Error) -> Self {
        match e.code() {
            ErrorCode::KeyDoesNotExist => KvError::KeyDoesNotExist,
            ErrorCode::KeyAlreadyExists => KvError::KeyAlreadyExists,
            ErrorCode::PreconditionFailed => KvError::PreconditionFailed,
            _ => KvError::Other(e),
        }
    }
}

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Other(e) => e,
            typed => Error::new(typed.code(), typed.to_string()),
        }
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::KeyDoesNotExist => f.write_str("key does not exist"),
            KvError::KeyAlreadyExists => f.write_str("key already exists"),
            KvError::PreconditionFailed => f.write_str("precondition failed"),
            KvError::Other(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KvError {}

/// A request to a KV service; absent fields are left out.
#[derive(Serialize)]
struct Request<K, V, F, T> {
    #[serde(rename = "type")]
    kind: &'static str,
    key: K,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<V>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<F>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<T>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    create_if_not_exists: bool,
}

#[derive(Deserialize)]
struct ReadOk<T> {
    value: T,
}

/// `reply` if its type is `kind`; else error 13: the service answered, in a way this client
/// does not understand, so whether it acted is unknown.
pub(crate) fn expect<'r>(reply: &Reply<'r>, kind: &str) -> Result<Reply<'r>, Error> {
    if reply.kind() == kind {
        Ok(*reply)
    } else {
        let text = format!("expected {kind} from {}, got {}", reply.src(), reply.kind());
        Err(Error::crash(text))
    }
}
