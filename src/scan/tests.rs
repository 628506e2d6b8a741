//! The scan against serde_json: whenever the scan reads a line, serde_json reads the same
//! message from it ([`Incoming::parse`]); and the scan does read the ordinary lines.

use super::*;
use proptest::prelude::*;
use serde_json::{json, Value};

/// The scan's answer for `line`, checked against serde_json's.
fn checked(line: &str) -> Option<Incoming<'_>> {
    let fast = scan(line);
    if let Some(msg) = &fast {
        match Incoming::parse(line) {
            Ok(careful) => assert_eq!(msg, &careful, "{line}"),
            Err(e) => panic!("the scan read a line serde_json refuses ({e}): {line}"),
        }
    }
    fast
}

#[test]
fn ordinary_lines_are_read_in_one_pass() {
    let lines = [
        r#"{"id":17,"src":"c1","dest":"n1","body":{"type":"echo","echo":"hello 12345","msg_id":42}}"#,
        r#"{"src":"n2","dest":"n1","body":{"type":"echo_ok","echo":{"a":[1,-2.5e3,true,null,"\"]"]},"in_reply_to":0,"msg_id":9}}"#,
        r#" { "src" : "c1" , "dest":"n1" ,"body": { "msg_id" : 0 , "type":"x" } , "id" : [ ] } "#
            .trim(),
        r#"{"body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2"]},"dest":"n1","src":"c0"}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"t","msg_id":18446744073709551615,"v":{}}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"t","s":"\u00e9\n\\","k":{"\u0031":1}}}"#,
    ];
    for line in lines {
        assert!(checked(line).is_some(), "not read: {line}");
    }
    let msg = checked(lines[1]).unwrap();
    assert_eq!((msg.msg_id, msg.in_reply_to), (Some(9), Some(0)));
}

#[test]
fn anything_unusual_is_left_to_serde_json() {
    let lines = [
        // Escapes where the scan would have to decode them.
        r#"{"src":"c\u0031","dest":"n1","body":{"type":"echo","msg_id":1}}"#,
        r#"{"src":"c1","dest":"n1","body":{"typ\u0065":"echo","msg_id":1}}"#,
        r#"{"sr\u0063":"c1","dest":"n1","body":{"type":"echo","msg_id":1}}"#,
        // Repeated, missing and mistyped fields.
        r#"{"src":"c1","src":"c2","dest":"n1","body":{"type":"echo","msg_id":1}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","type":"x"}}"#,
        r#"{"src":"c1","dest":"n1","body":{"msg_id":1}}"#,
        r#"{"dest":"n1","body":{"type":"echo"}}"#,
        r#"{"src":1,"dest":"n1","body":{"type":"echo"}}"#,
        r#"{"src":"c1","dest":"n1","body":[1]}"#,
        // msg_id written otherwise than as a plain integer of 64 bits.
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":null}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":1.0}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":1e2}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":-1}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":01}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":18446744073709551616}}"#,
        // Syntax errors in skipped values.
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":[1,]}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":{"a":1,}}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":"\x"}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":"\u12g4"}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":-}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":1.}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":1e}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":tru}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":[1 2]}}"#,
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"echo\":\"\t\"}}",
        // Trailing text, a trailing comma.
        r#"{"src":"c1","dest":"n1","body":{"type":"echo"}}x"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo"},}"#,
    ];
    for line in lines {
        assert!(checked(line).is_none(), "read: {line}");
    }
}

#[test]
fn nesting_past_the_bound_is_left_to_serde_json() {
    let nested = |levels: usize| {
        let value = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"echo","echo":{value}}}}}"#)
    };
    assert!(checked(&nested(MAX_NESTING as usize)).is_some());
    assert!(checked(&nested(MAX_NESTING as usize + 1)).is_none());
    assert!(checked(&nested(10_000)).is_none());
}

/// Any JSON value, with strings that need escapes and numbers of every shape.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z\"\\\\/\u{1}\u{e9}\u{1F600} ]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_\"]{0,4}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A field of an envelope or body: mostly of the right type, sometimes anything.
fn field(right: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        6 => right.prop_map(Some),
        1 => any_value().prop_map(Some),
        1 => Just(None),
    ]
}

/// An envelope as Maelstrom would write it, or nearly.
fn any_line() -> impl Strategy<Value = String> {
    let name = || "[a-z0-9-]{0,4}".prop_map(Value::String);
    let id = || {
        prop_oneof![
            any::<u64>().prop_map(Value::from),
            (0u64..100).prop_map(Value::from)
        ]
    };
    let body = (
        field(name()),
        field(id()),
        field(id()),
        prop::collection::vec(("[a-z_]{1,5}", any_value()), 0..3),
    )
        .prop_map(|(kind, msg_id, in_reply_to, extra)| {
            let mut body = serde_json::Map::new();
            for (key, value) in [
                ("type", kind),
                ("msg_id", msg_id),
                ("in_reply_to", in_reply_to),
            ] {
                if let Some(value) = value {
                    body.insert(key.into(), value);
                }
            }
            body.extend(extra);
            Value::Object(body)
        });
    (field(name()), field(name()), field(body), field(id())).prop_map(|(src, dest, body, id)| {
        let mut envelope = serde_json::Map::new();
        for (key, value) in [("id", id), ("src", src), ("dest", dest), ("body", body)] {
            if let Some(value) = value {
                envelope.insert(key.into(), value);
            }
        }
        Value::Object(envelope).to_string()
    })
}

/// A few edits of a line, each at a fraction of its length, inserting or replacing with a
/// character that matters to JSON (or deleting).
fn edits() -> impl Strategy<Value = Vec<(f64, Option<char>, bool)>> {
    let chars = prop_oneof![
        Just(None),
        prop::sample::select(
            &[
                '{', '}', '[', ']', ',', ':', '"', '\\', '0', '1', '-', '.', 'e', '+', ' ', '\t',
                '\u{1}', 'n', 't', 'u', 'x',
            ][..]
        )
        .prop_map(Some),
    ];
    prop::collection::vec((0.0..1.0f64, chars, any::<bool>()), 0..3)
}

fn edited(line: &str, edits: &[(f64, Option<char>, bool)]) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    for &(at, c, replace) in edits {
        let i = ((chars.len() as f64) * at) as usize;
        match c {
            Some(c) if replace && i < chars.len() => chars[i] = c,
            Some(c) => chars.insert(i.min(chars.len()), c),
            None if i < chars.len() => {
                chars.remove(i);
            }
            None => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Whatever the scan reads, serde_json reads the same; and it reads every line whose
    /// fields are plain (no escapes in `src`, `dest` and `type`, integers as such).
    #[test]
    fn agrees_with_serde_json(line in any_line()) {
        let fast = checked(&line);
        let plain = |v: &Value| v.as_str().is_some_and(|s| !s.contains(['"', '\\', '\u{1}']));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        let body = &parsed["body"];
        let ordinary = plain(&parsed["src"]) && plain(&parsed["dest"]) && plain(&body["type"])
            && body.is_object()
            && ["msg_id", "in_reply_to"].iter().all(|k| body.get(k).is_none_or(Value::is_u64));
        let nested = line.matches(['[', '{']).count() > MAX_NESTING as usize;
        prop_assert!(fast.is_some() || !ordinary || nested, "not read: {line}");
    }

    /// The same on lines broken in a few places.
    #[test]
    fn agrees_with_serde_json_on_broken_lines(line in any_line(), edits in edits()) {
        checked(&edited(&line, &edits));
    }
}

#[test]
fn the_example_line_of_the_doc_round_trips() {
    let line =
        json!({"src": "c1", "dest": "n1", "body": {"type": "echo", "msg_id": 1}}).to_string();
    assert_eq!(
        checked(&line).map(|m| m.body),
        Some(r#"{"msg_id":1,"type":"echo"}"#)
    );
}

proptest! {
    /// The word test stops at the first byte a string's scan must look at, or finds none.
    #[test]
    fn specials_finds_the_first_byte_to_stop_at(word in any::<[u8; 8]>()) {
        let first = word.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        let found = specials(u64::from_le_bytes(word));
        let by_word = (found != 0).then(|| (found.trailing_zeros() / 8) as usize);
        prop_assert_eq!(by_word, first);
    }
}

/// Strings of every length around the word size, with a byte to stop at in every position.
#[test]
fn strings_of_any_length_are_read_whole() {
    for len in 0..20 {
        let text: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
        let line = format!(r#"{{"src":"{text}","dest":"n1","body":{{"type":"t","x":"{text}"}}}}"#);
        let msg = checked(&line).expect("a plain line");
        assert_eq!(&*msg.src, text);
        for at in 0..len {
            for stop in ["\\\"", "\\n", "\u{1}"] {
                let mut odd = text.clone();
                odd.insert_str(at, stop);
                let line =
                    format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"t","x":"{odd}"}}}}"#);
                let read = checked(&line);
                assert_eq!(read.is_some(), stop != "\u{1}", "{line:?}");
                let line = format!(r#"{{"src":"{odd}","dest":"n1","body":{{"type":"t"}}}}"#);
                assert!(
                    checked(&line).is_none(),
                    "an escape or control in src: {line:?}"
                );
            }
        }
    }
}
