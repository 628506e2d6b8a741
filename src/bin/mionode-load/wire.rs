//! The wire format as Maelstrom reads it (`net.clj`, `process.clj`): one JSON object per
//! line with string `src` and `dest`, a `body` of any JSON, and optionally an integer `id`
//! (which the network replaces); any other top-level key, or a line that is not JSON, kills
//! Maelstrom's reader for the node. The body is not checked on the network: a body without
//! `type` between nodes is delivered as written. Only a client checks the reply it waits for.
//!
//! Parsing borrows from the line: `body` stays a `&RawValue` until the destination is known.
//! A message between nodes has only its head read for the trace ([`head`]) and is forwarded
//! as the bytes the node wrote, with Maelstrom's top-level `id` spliced in front ([`stamp`]);
//! only a message to a client has its body parsed into values ([`client_body`]), once, for
//! the checker.

use std::borrow::Cow;
use std::io::Write;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::network::Head;

/// A message as a node wrote it. Unknown top-level keys are refused, as Maelstrom's
/// `Message` schema refuses them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<'a> {
    /// The sender's id.
    #[serde(borrow)]
    pub src: Cow<'a, str>,
    /// The receiver's id.
    #[serde(borrow)]
    pub dest: Cow<'a, str>,
    /// The body, unparsed.
    #[serde(borrow)]
    pub body: &'a RawValue,
    /// An id the node wrote (allowed, and replaced by the network's).
    #[allow(dead_code)]
    pub id: Option<i64>,
}

/// The head of a body, read leniently: every field optional and of any type.
#[derive(Debug, Default, Deserialize)]
struct BodyHead<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    msg_id: Option<Value>,
    #[serde(default)]
    in_reply_to: Option<Value>,
}

/// Parses one line a node wrote (without its newline) into its envelope, or says in one
/// sentence why Maelstrom would refuse it.
pub fn envelope(line: &[u8]) -> Result<Envelope<'_>, String> {
    serde_json::from_slice(line).map_err(|e| format!("not a valid message: {e}"))
}

/// Reads the body's `type`, `msg_id` and `in_reply_to` for the trace and calls `f` with
/// them: empty or `None` where the body has none (or is not an object).
pub fn head<R>(body: &RawValue, f: impl FnOnce(Head<'_>) -> R) -> R {
    let parsed: BodyHead<'_> = serde_json::from_str(body.get()).unwrap_or_default();
    let id = |v: &Option<Value>| v.as_ref().and_then(Value::as_u64);
    f(Head {
        kind: parsed.kind.as_deref().unwrap_or(""),
        msg_id: id(&parsed.msg_id),
        in_reply_to: id(&parsed.in_reply_to),
    })
}

/// Parses the body of a message to a client, and returns it with its `in_reply_to`, or
/// `None` when the body is not an object (a client skips it, as a reply to nothing).
pub fn client_body(body: &RawValue) -> Option<(Map<String, Value>, Option<i64>)> {
    let map: Map<String, Value> = serde_json::from_str(body.get()).ok()?;
    let in_reply_to = map.get("in_reply_to").and_then(Value::as_i64);
    Some((map, in_reply_to))
}

/// Calls `route` with every line (without its newline) that `data` completes. `partial`
/// holds the start of a line split across reads, and is left holding the new incomplete
/// tail. Lines wholly inside `data` are passed without a copy; only a split line is
/// assembled in `partial`.
pub fn split_lines(partial: &mut Vec<u8>, data: &[u8], mut route: impl FnMut(&[u8])) {
    let mut start = 0;
    if !partial.is_empty() {
        let Some(end) = memchr::memchr(b'\n', data) else {
            partial.extend_from_slice(data);
            return;
        };
        partial.extend_from_slice(&data[..end]);
        route(partial);
        partial.clear();
        start = end + 1;
    }
    let base = start;
    for at in memchr::memchr_iter(b'\n', &data[base..]) {
        let end = base + at;
        route(&data[start..end]);
        start = end + 1;
    }
    partial.extend_from_slice(&data[start..]);
}

/// Appends `line` to `out` with Maelstrom's top-level `"id":id` as its first key, and a
/// newline. `line` must be a JSON object that [`envelope`] accepted.
pub fn stamp(out: &mut Vec<u8>, id: u64, line: &[u8]) {
    // A parsed object's first non-blank byte is its `{`.
    let open = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    debug_assert_eq!(line.get(open), Some(&b'{'), "stamp needs a JSON object");
    let _ = write!(out, "{{\"id\":{id},");
    out.extend_from_slice(&line[open + 1..]);
    out.push(b'\n');
}

/// Appends a message from a client: `{"id":..,"src":..,"dest":..,"body":` + the body that
/// `body` writes + `}` and a newline; returns what `body` returns. Ids are ours, so they
/// need no escaping beyond JSON's.
pub fn client_message<R>(
    out: &mut Vec<u8>,
    id: u64,
    src: &str,
    dest: &str,
    body: impl FnOnce(&mut Vec<u8>) -> R,
) -> R {
    let _ = write!(out, "{{\"id\":{id},\"src\":");
    write_json_str(out, src);
    out.extend_from_slice(b",\"dest\":");
    write_json_str(out, dest);
    out.extend_from_slice(b",\"body\":");
    let r = body(out);
    out.extend_from_slice(b"}\n");
    r
}

/// Appends `s` as a JSON string.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail; serde_json only fails on non-string map keys.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A line shortened for a failure message: at most [`EXCERPT_CHARS`] characters.
pub fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    if text.chars().count() <= EXCERPT_CHARS {
        return text.into_owned();
    }
    let mut short: String = text.chars().take(EXCERPT_CHARS).collect();
    short.push('…');
    short
}

/// How much of an offending line a failure message quotes.
pub const EXCERPT_CHARS: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_accepts_any_body_and_an_integer_id() {
        let line = br#"{"src":"n0","dest":"n1","body":{"type":"echo","msg_id":3,"echo":[1]}}"#;
        let env = envelope(line).unwrap();
        assert_eq!((&*env.src, &*env.dest), ("n0", "n1"));
        for ok in [
            &br#"{"src":"n0","dest":"n1","body":{"msg_id":1}}"#[..],
            br#"{"src":"n0","dest":"n1","body":[1]}"#,
            br#"{"id":7,"src":"n0","dest":"n1","body":{"type":"x"}}"#,
        ] {
            assert!(envelope(ok).is_ok(), "{}", String::from_utf8_lossy(ok));
        }
    }

    #[test]
    fn envelope_refuses_what_maelstrom_refuses() {
        for bad in [
            &b"not json"[..],
            br#"{"src":"n0","dest":"n1"}"#,
            br#"{"src":"n0","dest":"n1","body":{"type":"x"},"extra":1}"#,
            br#"{"src":"n0","dest":"n1","body":{"type":"x"}} trailing"#,
            br#"{"src":1,"dest":"n1","body":{"type":"x"}}"#,
            br#"{"id":"7","src":"n0","dest":"n1","body":{}}"#,
        ] {
            assert!(envelope(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn heads_are_read_leniently() {
        let raw: Box<RawValue> =
            serde_json::from_str(r#"{"type":"x","msg_id":4,"in_reply_to":"no"}"#).unwrap();
        head(&raw, |h| {
            assert_eq!((h.kind, h.msg_id, h.in_reply_to), ("x", Some(4), None))
        });
        let raw: Box<RawValue> = serde_json::from_str("[1,2]").unwrap();
        head(&raw, |h| assert_eq!((h.kind, h.msg_id), ("", None)));
        assert!(client_body(&raw).is_none());
        let raw: Box<RawValue> = serde_json::from_str(r#"{"in_reply_to":-4}"#).unwrap();
        assert_eq!(client_body(&raw).unwrap().1, Some(-4));
    }

    /// Splits `reads` one after another, returning the lines and what is left over.
    fn split_all(reads: &[&[u8]]) -> (Vec<String>, Vec<u8>) {
        let mut partial = Vec::new();
        let mut lines = Vec::new();
        for data in reads {
            split_lines(&mut partial, data, |l| {
                lines.push(String::from_utf8_lossy(l).into_owned())
            });
        }
        (lines, partial)
    }

    #[test]
    fn split_lines_in_one_read() {
        let (lines, rest) = split_all(&[b"a\nbb\nccc\nd"]);
        assert_eq!(lines, ["a", "bb", "ccc"]);
        assert_eq!(rest, b"d");
    }

    #[test]
    fn split_lines_across_reads() {
        let (lines, rest) = split_all(&[b"ab", b"c\nde", b"f", b"\n", b"\ng\nh"]);
        assert_eq!(lines, ["abc", "def", "", "g"]);
        assert_eq!(rest, b"h");
        let (lines, rest) = split_all(&[b"x", b"\ny\nzz\n"]);
        assert_eq!(lines, ["x", "y", "zz"]);
        assert!(rest.is_empty());
    }

    #[test]
    fn split_lines_matches_a_plain_split_for_any_cut() {
        let text = b"{\"a\":1}\n{\"b\":22}\n\n{\"c\":333}\ntail";
        let want: Vec<String> = text
            .split(|&b| b == b'\n')
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        for cut in 0..=text.len() {
            for cut2 in cut..=text.len() {
                let (lines, rest) = split_all(&[&text[..cut], &text[cut..cut2], &text[cut2..]]);
                assert_eq!(lines, want[..want.len() - 1], "cuts {cut} {cut2}");
                assert_eq!(rest, b"tail");
            }
        }
    }

    #[test]
    fn stamp_puts_id_first_and_keeps_the_rest() {
        let line = br#"  {"src":"n0","dest":"n1","body":{"type":"echo"}}"#;
        let mut out = Vec::new();
        stamp(&mut out, 42, line);
        assert_eq!(
            out,
            b"{\"id\":42,\"src\":\"n0\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\"}}\n"
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], 42);
    }

    #[test]
    fn client_message_is_valid_json() {
        let mut out = Vec::new();
        client_message(&mut out, 7, "c3", "n\"0", |b| {
            b.extend_from_slice(br#"{"type":"echo","msg_id":1,"echo":null}"#)
        });

        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["dest"], "n\"0");
        assert_eq!(v["body"]["type"], "echo");
        assert_eq!(out.last(), Some(&b'\n'));
    }

    #[test]
    fn excerpt_shortens_long_lines() {
        let long = vec![b'x'; EXCERPT_CHARS + 10];
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(excerpt(b"short"), "short");
    }
}
