//! The wire format as Maelstrom reads it: one JSON object per line, `src`, `dest` and `body`,
//! the body an object with a string `type` and integer `msg_id` / `in_reply_to` when present.
//!
//! Parsing borrows from the line: `body` stays a `&RawValue` until the destination is known.
//! A message between nodes then has its body validated ([`check_body`]) and is forwarded as
//! the bytes the node wrote, with Maelstrom's top-level `id` spliced in front ([`stamp`]);
//! only a message to a client has its body parsed into values ([`client_body`]), once, for
//! the checker.

use std::borrow::Cow;
use std::io::Write;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A message as a node wrote it. Unknown top-level keys are refused: a node must print only
/// `src`, `dest` and `body` (Maelstrom adds `id` itself).
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
}

/// The fields of a body that Maelstrom requires or types; other fields are skipped (their JSON
/// is still validated). Only deserializing it matters, for its type checks: nothing reads the
/// values, hence the fields' leading underscores.
#[derive(Deserialize)]
struct BodyHead<'a> {
    #[serde(rename = "type", borrow)]
    _kind: Cow<'a, str>,
    #[serde(rename = "msg_id")]
    _msg_id: Option<i64>,
    #[serde(rename = "in_reply_to")]
    _in_reply_to: Option<i64>,
}

/// Parses one line a node wrote (without its newline) into its envelope, or says in one
/// sentence why Maelstrom would refuse it.
pub fn envelope(line: &[u8]) -> Result<Envelope<'_>, String> {
    serde_json::from_slice(line).map_err(|e| format!("not a valid message: {e}"))
}

/// Checks that `body` is an object with a string `type` and integer `msg_id` and
/// `in_reply_to` when present.
pub fn check_body(body: &RawValue) -> Result<(), String> {
    serde_json::from_str::<BodyHead<'_>>(body.get())
        .map(drop)
        .map_err(|e| format!("not a valid message body: {e}"))
}

/// Parses the body of a message to a client, with the same checks as [`check_body`], and
/// returns it with its `in_reply_to`.
pub fn client_body(body: &RawValue) -> Result<(Map<String, Value>, Option<i64>), String> {
    let map: Map<String, Value> =
        serde_json::from_str(body.get()).map_err(|e| format!("not a valid message body: {e}"))?;
    if !map.get("type").is_some_and(Value::is_string) {
        return Err("not a valid message body: no string `type`".to_string());
    }
    let integer = |key: &str| match map.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("not a valid message body: `{key}` is not an integer")),
    };
    integer("msg_id")?;
    let in_reply_to = integer("in_reply_to")?;
    Ok((map, in_reply_to))
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

    /// Everything the driver checks of a line, whatever its destination.
    fn parse(line: &[u8]) -> Result<Envelope<'_>, String> {
        let env = envelope(line)?;
        check_body(env.body)?;
        client_body(env.body)?;
        Ok(env)
    }

    #[test]
    fn parse_accepts_a_message_and_skips_body_fields() {
        let line =
            br#"{"src":"n0","dest":"n1","body":{"type":"echo","msg_id":3,"echo":[1,{"a":2}]}}"#;
        let env = parse(line).unwrap();
        assert_eq!((&*env.src, &*env.dest), ("n0", "n1"));
        let (map, in_reply_to) = client_body(env.body).unwrap();
        assert_eq!((map["type"].as_str(), in_reply_to), (Some("echo"), None));
    }

    #[test]
    fn body_checks_agree() {
        for body in [
            r#"{"type":"x","in_reply_to":"1"}"#,
            r#"{"type":2}"#,
            r#"{"msg_id":-1}"#,
            r#"{"type":"x","msg_id":1.5}"#,
        ] {
            let raw: Box<RawValue> = serde_json::from_str(body).unwrap();
            assert!(check_body(&raw).is_err(), "{body}");
            assert!(client_body(&raw).is_err(), "{body}");
        }
        let raw: Box<RawValue> = serde_json::from_str(r#"{"type":"x","in_reply_to":-4}"#).unwrap();
        assert!(check_body(&raw).is_ok());
        assert_eq!(client_body(&raw).unwrap().1, Some(-4));
    }

    #[test]
    fn parse_refuses_what_maelstrom_refuses() {
        for bad in [
            &b"not json"[..],
            br#"{"src":"n0","dest":"n1"}"#,
            br#"{"src":"n0","dest":"n1","body":{"msg_id":1}}"#,
            br#"{"src":"n0","dest":"n1","body":{"type":"x","msg_id":1.5}}"#,
            br#"{"src":"n0","dest":"n1","body":[1]}"#,
            br#"{"src":"n0","dest":"n1","body":{"type":"x"},"extra":1}"#,
            br#"{"src":"n0","dest":"n1","body":{"type":"x"}} trailing"#,
            br#"{"src":1,"dest":"n1","body":{"type":"x"}}"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
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
