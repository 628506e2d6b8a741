//! Maelstrom's wire format: envelopes, bodies, error codes, and the writer that frames replies.
//!
//! Incoming lines are parsed in two borrowed passes: the [`Envelope`] keeps `body` as a
//! [`RawValue`] (a slice of the line), then [`Header`] reads just `type`, `msg_id` and
//! `in_reply_to` from it. Replies are routed on the header alone and handlers parse only the
//! fields they need, so payloads passed through (an `echo` value, a proxied body) are never
//! built into a tree. Unknown keys, such as the `id` Maelstrom adds to what it delivers, are
//! ignored at every level.
//!
//! Outgoing bodies are any `Serialize` value that renders as a JSON object with its own
//! `type`; [`write_message`] appends `msg_id` and `in_reply_to` inside it.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The outer object of every message.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    /// Sender: a node id, a client id (`c1`) or a service (`lin-kv`).
    #[serde(borrow)]
    pub src: Cow<'a, str>,
    /// Receiver.
    #[serde(borrow)]
    pub dest: Cow<'a, str>,
    /// The body, unparsed.
    #[serde(borrow)]
    pub body: &'a RawValue,
}

/// The fields of a body that decide where it goes.
#[derive(Debug, Deserialize)]
pub struct Header<'a> {
    /// Message type, such as `echo` or `echo_ok`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// Set on requests that expect a reply.
    pub msg_id: Option<u64>,
    /// Set on replies: the `msg_id` of the request answered.
    pub in_reply_to: Option<u64>,
}

/// Whether `json`, a JSON value without leading whitespace, is an object.
///
/// serde reads a struct from an array of its fields (`["c1","n1",{...}]`) as readily as from
/// an object; Maelstrom's envelopes and bodies are objects only, so the input path checks this
/// before it deserializes.
pub fn is_object(json: &str) -> bool {
    json.starts_with('{')
}

/// The fields of an `error` body.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// Maelstrom error code.
    pub code: u32,
    /// Human-readable explanation.
    #[serde(default)]
    pub text: String,
}

/// Maelstrom's error codes (its protocol document, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorCode {
    /// The requested operation timed out; it may or may not have happened.
    Timeout = 0,
    /// The destination node does not exist.
    NodeNotFound = 1,
    /// The request type is not supported.
    NotSupported = 10,
    /// The operation cannot be done now (for example, before `init`).
    TemporarilyUnavailable = 11,
    /// The request is malformed: missing or mistyped fields.
    MalformedRequest = 12,
    /// The node crashed while handling it; it may or may not have happened.
    Crash = 13,
    /// The operation was aborted and did not happen.
    Abort = 14,
    /// A key does not exist.
    KeyDoesNotExist = 20,
    /// A key already exists.
    KeyAlreadyExists = 21,
    /// A precondition does not hold.
    PreconditionFailed = 22,
    /// A transaction conflicted and did not happen.
    TxnConflict = 30,
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// Whether an error with numeric `code` means the operation certainly did not happen.
    /// Codes Maelstrom does not define count as indefinite.
    pub fn is_definite(code: u32) -> bool {
        matches!(code, 1 | 10 | 11 | 12 | 14 | 20 | 21 | 22 | 30)
    }
}

/// The bodies mionode writes, tagged with their `type`.
///
/// Serialized by [`write_message`], which adds `msg_id` and `in_reply_to`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body<'a> {
    /// Answer to `init`.
    InitOk {},
    /// An echo request (batch_echo sends one to itself per value).
    Echo {
        /// The value to echo back.
        echo: &'a RawValue,
    },
    /// Answer to `echo`.
    EchoOk {
        /// The value received.
        echo: &'a RawValue,
    },
    /// Answer to `batch_echo`.
    BatchEchoOk {
        /// The echoed values, in the order of the request's `values`.
        results: &'a [Box<RawValue>],
    },
    /// Answer to `pending_count`.
    PendingCountOk {
        /// RPCs awaiting a reply or a timeout.
        count: usize,
    },
    /// Answer to `send_fire_forget`.
    SendFireForgetOk {
        /// RPCs awaiting a reply or a timeout, the one just sent included.
        pending: usize,
    },
    /// Answer to `proxy`.
    ProxyOk {
        /// The body of the target's reply.
        result: &'a RawValue,
    },
    /// Answer to `relay`.
    RelayOk {
        /// Attempts made, the successful one included.
        attempts: u32,
        /// The body of the target's reply.
        result: &'a RawValue,
    },
    /// Answer to `backoff_relay`.
    BackoffRelayOk {
        /// Attempts made, the successful one included.
        attempts: u32,
        /// Milliseconds spent waiting between attempts.
        total_delay_ms: u64,
    },
    /// Answer to `compute_backoff`.
    ComputeBackoffOk {
        /// Delay before each retry, in milliseconds.
        schedule_ms: &'a [u64],
        /// Sum of `schedule_ms`.
        total_ms: u64,
        /// Number of retries in the schedule.
        retries: u32,
    },
    /// An error reply.
    Error {
        /// Maelstrom error code.
        code: u32,
        /// What went wrong, for people.
        text: &'a str,
    },
}

/// Why a body could not be written.
#[derive(Debug)]
pub enum WriteError {
    /// Serialization failed (a map with non-string keys, say).
    Json(serde_json::Error),
    /// The body did not render as a JSON object.
    NotAnObject,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Json(e) => write!(f, "body did not serialize: {e}"),
            WriteError::NotAnObject => f.write_str("body is not a JSON object"),
        }
    }
}

impl std::error::Error for WriteError {}

/// Appends one message, newline-terminated, to `out`.
///
/// `body` must serialize to a JSON object; `msg_id` and `in_reply_to` (when given) are added
/// as its last keys. On error nothing is appended.
///
/// ```
/// use mionode::protocol::{write_message, Body};
///
/// let mut out = Vec::new();
/// write_message(&mut out, "n1", "c0", &Body::InitOk {}, 0, Some(1)).unwrap();
/// assert_eq!(
///     out,
///     b"{\"src\":\"n1\",\"dest\":\"c0\",\"body\":{\"type\":\"init_ok\",\"msg_id\":0,\"in_reply_to\":1}}\n"
/// );
/// ```
pub fn write_message<B: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    src: &str,
    dest: &str,
    body: &B,
    msg_id: u64,
    in_reply_to: Option<u64>,
) -> Result<(), WriteError> {
    let mark = out.len();
    let result = write_unchecked(out, src, dest, body, msg_id, in_reply_to);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

fn write_unchecked<B: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    src: &str,
    dest: &str,
    body: &B,
    msg_id: u64,
    in_reply_to: Option<u64>,
) -> Result<(), WriteError> {
    out.extend_from_slice(b"{\"src\":");
    serde_json::to_writer(&mut *out, src).map_err(WriteError::Json)?;
    out.extend_from_slice(b",\"dest\":");
    serde_json::to_writer(&mut *out, dest).map_err(WriteError::Json)?;
    out.extend_from_slice(b",\"body\":");
    let body_start = out.len();
    serde_json::to_writer(&mut *out, body).map_err(WriteError::Json)?;
    // Reopen the object: drop its `}` and, unless it was empty, add a separator.
    if out.len() <= body_start || out[body_start] != b'{' || out.pop() != Some(b'}') {
        return Err(WriteError::NotAnObject);
    }
    let inner = &out[body_start + 1..];
    if inner.iter().any(|b| !b.is_ascii_whitespace()) {
        out.push(b',');
    }
    out.extend_from_slice(b"\"msg_id\":");
    serde_json::to_writer(&mut *out, &msg_id).map_err(WriteError::Json)?;
    if let Some(id) = in_reply_to {
        out.extend_from_slice(b",\"in_reply_to\":");
        serde_json::to_writer(&mut *out, &id).map_err(WriteError::Json)?;
    }
    out.extend_from_slice(b"}}\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn written(body: &impl Serialize, in_reply_to: Option<u64>) -> Value {
        let mut out = Vec::new();
        write_message(&mut out, "n\"1", "c0", body, 5, in_reply_to).unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn body_gets_msg_id_and_in_reply_to() {
        let echo = RawValue::from_string(r#"{"a":[1,2]}"#.into()).unwrap();
        let v = written(&Body::EchoOk { echo: &echo }, Some(9));
        assert_eq!(
            v,
            serde_json::json!({"src":"n\"1","dest":"c0","body":
                {"type":"echo_ok","echo":{"a":[1,2]},"msg_id":5,"in_reply_to":9}})
        );
    }

    #[test]
    fn empty_and_raw_objects_stay_valid_json() {
        let empty = RawValue::from_string("{ }".into()).unwrap();
        assert_eq!(
            written(&empty, None)["body"],
            serde_json::json!({"msg_id":5})
        );
        let v = written(&Body::InitOk {}, None);
        assert_eq!(v["body"], serde_json::json!({"type":"init_ok","msg_id":5}));
    }

    #[test]
    fn non_object_body_is_refused_and_leaves_nothing() {
        let mut out = b"kept".to_vec();
        let err = write_message(&mut out, "n1", "c0", &[1, 2], 0, None);
        assert!(matches!(err, Err(WriteError::NotAnObject)));
        assert_eq!(out, b"kept");
    }

    #[test]
    fn header_ignores_unknown_fields() {
        let h: Header = serde_json::from_str(r#"{"type":"echo","echo":[1],"msg_id":3}"#).unwrap();
        assert_eq!(
            (h.kind.as_ref(), h.msg_id, h.in_reply_to),
            ("echo", Some(3), None)
        );
    }

    #[test]
    fn definite_codes() {
        assert!(!ErrorCode::is_definite(ErrorCode::Timeout.code()));
        assert!(!ErrorCode::is_definite(ErrorCode::Crash.code()));
        assert!(ErrorCode::is_definite(ErrorCode::MalformedRequest.code()));
        assert!(!ErrorCode::is_definite(99));
    }
}
