//! What a handler reads ([`Request`]) and what an RPC callback reads ([`Reply`]): views of
//! one input line, borrowed, parsed only as far as asked.

use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorCode};
use crate::ops::OpRef;

/// A request being handled: who sent it, its `msg_id` and `type`, and its body, unparsed.
///
/// Borrowed from the input line: it lives as long as the handler call. To answer after the
/// handler has returned (once an RPC comes back), keep [`reply_to`](Request::reply_to).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub(crate) src: &'a str,
    pub(crate) dest: &'a str,
    pub(crate) msg_id: u64,
    pub(crate) kind: &'a str,
    /// The body's JSON text, an object checked to be valid JSON.
    pub(crate) body: &'a str,
    /// The operation a client's request opened, and its deadline.
    pub(crate) op: Option<(OpRef, Instant)>,
}

impl<'a> Request<'a> {
    /// The sender: a client (`c1`), a node (`n2`) or a service.
    pub fn src(&self) -> &'a str {
        self.src
    }

    /// The receiver as addressed: this node's id (misaddressed lines never reach handlers).
    pub fn dest(&self) -> &'a str {
        self.dest
    }

    /// The request's `type`, as written.
    pub fn kind(&self) -> &'a str {
        self.kind
    }

    /// The request's `msg_id`.
    pub fn msg_id(&self) -> u64 {
        self.msg_id
    }

    /// Parses the body's fields into `T`. Unknown fields (`type`, `msg_id`, anything
    /// Maelstrom adds) are ignored unless `T` denies them.
    ///
    /// A failure is error 12 with serde's message, so `req.body()?` in a handler answers a
    /// malformed request. Borrowing types (`&'a str`, `&'a RawValue`, `Cow<'a, str>` with
    /// `#[serde(borrow)]`) parse without copying; `&'a str` fails on strings with escapes,
    /// where `Cow` copies.
    ///
    /// ```
    /// use mionode::{App, NoFlags, Routes};
    /// use serde::Deserialize;
    /// use std::borrow::Cow;
    ///
    /// #[derive(Deserialize)]
    /// struct Write<'a> {
    ///     #[serde(borrow)]
    ///     key: Cow<'a, str>,
    ///     value: i64,
    /// }
    ///
    /// struct Store(Vec<(String, i64)>);
    ///
    /// impl App for Store {
    ///     type Flags = NoFlags;
    ///     fn new(_: &NoFlags) -> Self { Store(Vec::new()) }
    ///     fn routes(routes: &mut Routes<Self>) {
    ///         routes.on("write", |app, ctx, req| {
    ///             let Write { key, value } = req.body()?;
    ///             app.0.push((key.into_owned(), value));
    ///             ctx.reply(req, &serde_json::json!({"type": "write_ok"}));
    ///             Ok(())
    ///         });
    ///     }
    /// }
    ///
    /// let mut node = mionode::testing::TestNode::<Store>::started("n1", &["n1"]);
    /// let ok = node.deliver("c1", serde_json::json!({"type":"write","msg_id":1,"key":"a","value":1}));
    /// assert_eq!(ok[0]["body"]["type"], "write_ok");
    /// let bad = node.deliver("c1", serde_json::json!({"type":"write","msg_id":2,"key":"a"}));
    /// assert_eq!(bad[0]["body"]["code"], 12);
    /// assert!(bad[0]["body"]["text"].as_str().unwrap().contains("value"));
    /// ```
    pub fn body<T: Deserialize<'a>>(&self) -> Result<T, Error> {
        serde_json::from_str(self.body)
            .map_err(|e| Error::malformed(format!("malformed {}: {e}", self.kind)))
    }

    /// The whole body as it came, `type` and `msg_id` included.
    ///
    /// Made a [`RawValue`] on demand: that checks the body's syntax again, a pass over it,
    /// paid only by the handlers that ask. [`body_text`](Self::body_text) is the same text
    /// for free.
    pub fn raw_body(&self) -> &'a RawValue {
        raw_value(self.body)
    }

    /// The whole body's JSON text, `type` and `msg_id` included: a JSON object, valid.
    pub fn body_text(&self) -> &'a str {
        self.body
    }

    /// Whom to answer and to what, to answer later: owned (one small copy of `src`).
    pub fn reply_to(&self) -> ReplyTo {
        ReplyTo {
            dest: self.src.into(),
            in_reply_to: self.msg_id,
            op: self.op,
        }
    }

    /// For a client's request, the instant by which it must be answered:
    /// [`Config::op_deadline`](crate::Config::op_deadline) after its arrival. `None` for
    /// requests from nodes and services, which have no deadline of the runtime's.
    pub fn deadline(&self) -> Option<Instant> {
        self.op.map(|(_, at)| at)
    }
}

/// Whom to answer and to what: a request's sender and `msg_id`, kept after the request is
/// gone. Answer it with [`Context::reply_later`](crate::Context::reply_later) or
/// [`Context::reply_error`](crate::Context::reply_error).
///
/// A client's request is answered once and only before its [`deadline`](Self::deadline): a
/// request its handler left unanswered is answered with error 0 by the runtime at the
/// deadline, and an answer through its `ReplyTo` after that, or after a first answer, is
/// dropped (counted, and logged within the warnings' rate limit). Requests from nodes and
/// services are not policed: nothing stops answering them twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub(crate) dest: Box<str>,
    pub(crate) in_reply_to: u64,
    pub(crate) op: Option<(OpRef, Instant)>,
}

impl ReplyTo {
    /// The requester.
    pub fn dest(&self) -> &str {
        &self.dest
    }

    /// The `msg_id` of its request.
    pub fn in_reply_to(&self) -> u64 {
        self.in_reply_to
    }

    /// The request's [`deadline`](Request::deadline): for a client, the instant by which the
    /// answer must be written, to plan retries within; `None` for nodes and services.
    pub fn deadline(&self) -> Option<Instant> {
        self.op.map(|(_, at)| at)
    }
}

/// A reply to an RPC, as handed to its callback: borrowed from the input line, for the length
/// of the callback. Never an `error` body: those arrive as `Err(Error)`.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'r> {
    pub(crate) src: &'r str,
    pub(crate) kind: &'r str,
    /// The body's JSON text, an object checked to be valid JSON.
    pub(crate) body: &'r str,
}

impl<'r> Reply<'r> {
    /// Who answered: always the RPC's `dest` (replies from anyone else are dropped as stale).
    pub fn src(&self) -> &'r str {
        self.src
    }

    /// The reply's `type`, such as `read_ok`.
    pub fn kind(&self) -> &'r str {
        self.kind
    }

    /// Parses the reply's fields into `T`; a failure is an error 13 (the peer answered, but
    /// not in a shape this node understands, so whether it acted is unknown).
    pub fn body<T: Deserialize<'r>>(&self) -> Result<T, Error> {
        serde_json::from_str(self.body).map_err(|e| {
            Error::new(
                ErrorCode::Crash,
                format!("unreadable {} reply: {e}", self.kind),
            )
        })
    }

    /// The whole body as it came, `type` and `in_reply_to` included.
    ///
    /// Made a [`RawValue`] on demand, at the cost of a pass over the body, as
    /// [`Request::raw_body`]. [`body_text`](Self::body_text) is the same text for free.
    pub fn raw_body(&self) -> &'r RawValue {
        raw_value(self.body)
    }

    /// The whole body's JSON text, `type` and `in_reply_to` included: a JSON object, valid.
    pub fn body_text(&self) -> &'r str {
        self.body
    }
}

/// `body`, the text of a body the node read, as a [`RawValue`].
fn raw_value(body: &str) -> &RawValue {
    // A body reaches a Request or a Reply only once its syntax was checked, by the scan or by
    // serde_json: this cannot fail.
    serde_json::from_str(body).expect("a body the node read is valid JSON")
}
