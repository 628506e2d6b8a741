//! What the handlers that talk to other nodes share: the payload they pass on, and the target
//! check.
//!
//! A payload (`proxy`'s `inner`, the `payload` of `relay`, `send_fire_forget` and
//! `backoff_relay`) is someone else's message body. It is passed on field by field without
//! parsing the values, except for `msg_id` and `in_reply_to`: the node numbers what it sends
//! from its own counter, and a forwarded `in_reply_to` would make the target take the request
//! for a reply. `type` is written first so the forwarded line reads like any other message.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use mionode::{Context, Error, ErrorCode, Request};

/// A message body to pass on: a JSON object with a string `type`, its values left unparsed,
/// without the sender's `msg_id` and `in_reply_to`.
#[derive(Debug)]
pub(super) struct Payload<'a> {
    /// Keys are borrowed from the input unless they contained escapes.
    fields: BTreeMap<Cow<'a, str>, &'a RawValue>,
}

/// The fields of `relay`, `send_fire_forget` and `backoff_relay`.
#[derive(Deserialize)]
pub(super) struct Forward<'a> {
    /// Where the payload goes.
    #[serde(borrow)]
    pub(super) target: Cow<'a, str>,
    /// What goes there.
    #[serde(borrow)]
    pub(super) payload: Payload<'a>,
}

/// Fields of a payload the node replaces with its own.
const STRIPPED: [&str; 2] = ["msg_id", "in_reply_to"];

impl Payload<'_> {
    /// The payload as one JSON object, for an operation that sends it more than once.
    pub(super) fn to_raw(&self) -> Result<Box<RawValue>, serde_json::Error> {
        serde_json::value::to_raw_value(self)
    }
}

impl Serialize for Payload<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        if let Some(kind) = self.fields.get("type") {
            map.serialize_entry("type", kind)?;
        }
        for (key, value) in self.fields.iter().filter(|(k, _)| *k != "type") {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A key that borrows from the input when it can.
#[derive(Deserialize)]
#[serde(transparent)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Payload<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PayloadVisitor(std::marker::PhantomData))
    }
}

struct PayloadVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for PayloadVisitor<'a> {
    type Value = Payload<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message body: an object with a string `type`")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut fields = BTreeMap::new();
        while let Some(Key(key)) = map.next_key()? {
            let value: &'a RawValue = map.next_value()?;
            if STRIPPED.contains(&&*key) {
                continue;
            }
            // Two values for one key would be forwarded as both, or silently as one of them.
            if fields.insert(key, value).is_some() {
                return Err(de::Error::custom("payload has a duplicate key"));
            }
        }
        match fields.get("type") {
            Some(kind) if kind.get().starts_with('"') => Ok(Payload { fields }),
            Some(_) => Err(de::Error::custom("payload `type` is not a string")),
            None => Err(de::Error::missing_field("type")),
        }
    }
}

/// Error 1 unless `target` may be sent to: a node of the cluster or one of Maelstrom's
/// services. Sending anywhere else would break Maelstrom's reader for this node, losing
/// everything it sends afterwards.
pub(super) fn check_target<A>(
    ctx: &mut Context<A>,
    req: &Request<'_>,
    target: &str,
) -> Result<(), Error> {
    if ctx.is_known_target(target) {
        return Ok(());
    }
    let text = format!("node {target:?} not found: neither in node_ids nor a Maelstrom service");
    ctx.warn(format_args!("{} from {}: {text}", req.kind(), req.src()));
    Err(Error::new(ErrorCode::NodeNotFound, text))
}

impl<'a> Forward<'a> {
    /// Parses the fields of `req` and checks its target: error 12 (malformed) or error 1
    /// (unknown target) otherwise.
    pub(super) fn parse<A>(ctx: &mut Context<A>, req: &Request<'a>) -> Result<Self, Error> {
        let forward: Forward<'a> = req.body()?;
        check_target(ctx, req, &forward.target)?;
        Ok(forward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(text: &str) -> Result<Value, String> {
        let payload: Payload<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(serde_json::from_str(&serde_json::to_string(&payload).unwrap()).unwrap())
    }

    #[test]
    fn payload_keeps_its_fields_and_drops_sender_ids() {
        let got = parse(r#"{"echo":{"a":[1]},"msg_id":7,"type":"echo","in_reply_to":3}"#);
        assert_eq!(got, Ok(json!({"type":"echo","echo":{"a":[1]}})));
    }

    #[test]
    fn payload_type_is_written_first() {
        let payload: Payload<'_> = serde_json::from_str(r#"{"a":1,"type":"x","z":2}"#).unwrap();
        let written = serde_json::to_string(&payload).unwrap();
        assert_eq!(written, r#"{"type":"x","a":1,"z":2}"#);
    }

    #[test]
    fn payload_keys_with_escapes_survive() {
        let got = parse(r#"{"type":"t","a\"b":1,"\u00e9":2}"#);
        assert_eq!(got, Ok(json!({"type":"t","a\"b":1,"é":2})));
    }

    #[test]
    fn payload_without_a_string_type_is_refused() {
        for bad in [
            r#"{"echo":1}"#,
            r#"{"type":5}"#,
            r#"[1]"#,
            r#""echo""#,
            "null",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn payload_with_a_duplicate_key_is_refused() {
        assert!(parse(r#"{"type":"a","x":1,"x":2}"#).is_err());
        // Duplicate ids are dropped with the rest of the sender's numbering.
        assert!(parse(r#"{"type":"a","msg_id":1,"msg_id":2}"#).is_ok());
    }
}
