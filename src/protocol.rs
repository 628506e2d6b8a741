//! Maelstrom's wire format: envelopes, headers, and the writer that frames messages.
//!
//! What the runtime reads of an incoming line is an [`Incoming`]: `src`, `dest`, the body's
//! `type`, `msg_id` and `in_reply_to`, and the body's text (a slice of the line). The
//! ordinary line is read in one pass by [`scan`](crate::scan::scan); anything else by
//! [`Incoming::parse`], two borrowed serde_json passes: the [`Envelope`] keeps `body` as a
//! [`RawValue`], then [`Header`] reads the three fields from it. Replies are routed on the
//! header alone and handlers parse only the fields they need, so payloads passed through (an
//! `echo` value, a proxied body) are never built into a tree. Unknown keys, such as the `id`
//! Maelstrom adds to what it delivers, are ignored at every level.
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

/// What the runtime reads of every input line: who sent it to whom, the body's header, and
/// the body's text, unparsed.
///
/// Read by [`scan`](crate::scan::scan) in one pass for the ordinary message, else by
/// [`Incoming::parse`]; both give the same fields for any line both accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming<'a> {
    /// Sender: a node id, a client id (`c1`) or a service (`lin-kv`).
    pub src: Cow<'a, str>,
    /// Receiver.
    pub dest: Cow<'a, str>,
    /// The body's JSON text, an object, exactly as it appears in the line.
    pub body: &'a str,
    /// The body's `type`.
    pub kind: Cow<'a, str>,
    /// The body's `msg_id`, set on requests that expect a reply.
    pub msg_id: Option<u64>,
    /// The body's `in_reply_to`, set on replies.
    pub in_reply_to: Option<u64>,
}

/// Why [`Incoming::parse`] refused a line.
#[derive(Debug)]
pub enum ParseError {
    /// The line is not JSON, or not an envelope (`src`, `dest`, `body`).
    Envelope(serde_json::Error),
    /// The body is not a JSON object.
    BodyNotObject,
    /// The body has no string `type`, or a `msg_id` or `in_reply_to` that is not an integer
    /// of 64 bits.
    Header(serde_json::Error),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Envelope(e) | ParseError::Header(e) => e.fmt(f),
            ParseError::BodyNotObject => f.write_str("body is not a JSON object"),
        }
    }
}

impl std::error::Error for ParseError {}

impl<'a> Incoming<'a> {
    /// Reads `line`, a JSON object without surrounding whitespace, with serde_json: the
    /// [`Envelope`] keeping the body raw, then the body's [`Header`]. Two passes where
    /// [`scan`](crate::scan::scan) makes one, but it reads every line serde_json accepts, and
    /// says what is wrong with the others.
    pub fn parse(line: &'a str) -> Result<Incoming<'a>, ParseError> {
        let envelope: Envelope<'a> = serde_json::from_str(line).map_err(ParseError::Envelope)?;
        let body = envelope.body.get();
        if !is_object(body) {
            return Err(ParseError::BodyNotObject);
        }
        let header: Header<'a> = serde_json::from_str(body).map_err(ParseError::Header)?;
        Ok(Incoming {
            src: envelope.src,
            dest: envelope.dest,
            body,
            kind: header.kind,
            msg_id: header.msg_id,
            in_reply_to: header.in_reply_to,
        })
    }
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
/// as its last keys. Returns where the body starts in `out`. On error nothing is appended.
///
/// ```
/// use mionode::protocol::write_message;
///
/// let mut out = Vec::new();
/// let body = serde_json::json!({"type": "init_ok"});
/// write_message(&mut out, "n1", "c0", &body, 0, Some(1)).unwrap();
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
) -> Result<usize, WriteError> {
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
) -> Result<usize, WriteError> {
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
    Ok(body_start)
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
        let echo =
            RawValue::from_string(r#"{"type":"echo_ok","echo":{"a":[1,2]}}"#.into()).unwrap();
        let v = written(&echo, Some(9));
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
        let v = written(&serde_json::json!({"type":"init_ok"}), None);
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
}
