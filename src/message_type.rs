//! The message types mionode counts, as a small enum: a fixed label set for metrics and an
//! index into the per-type counters of [`Stats`](crate::stats::Stats).
//!
//! Counting by type must cost an array increment, and a metric label must come from a fixed
//! list (every distinct value is a time series kept forever by Prometheus). So a type is
//! classified once into [`MessageType`], and anything outside the list is
//! [`MessageType::Other`].
//!
//! Incoming messages are classified from their header's `type` ([`MessageType::from_wire`]);
//! outgoing ones by the body they are written from ([`OutgoingBody`]): a [`Body`] knows its
//! variant, a payload passed through untouched ([`RawValue`]) is asked for its `type`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::protocol::Body;

/// A message `type` from the fixed list mionode counts by; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// `init`
    Init,
    /// `init_ok`
    InitOk,
    /// `echo`
    Echo,
    /// `echo_ok`
    EchoOk,
    /// `batch_echo`
    BatchEcho,
    /// `batch_echo_ok`
    BatchEchoOk,
    /// `proxy`
    Proxy,
    /// `proxy_ok`
    ProxyOk,
    /// `relay`
    Relay,
    /// `relay_ok`
    RelayOk,
    /// `send_fire_forget`
    SendFireForget,
    /// `send_fire_forget_ok`
    SendFireForgetOk,
    /// `pending_count`
    PendingCount,
    /// `pending_count_ok`
    PendingCountOk,
    /// `backoff_relay`
    BackoffRelay,
    /// `backoff_relay_ok`
    BackoffRelayOk,
    /// `compute_backoff`
    ComputeBackoff,
    /// `compute_backoff_ok`
    ComputeBackoffOk,
    /// `error`
    Error,
    /// Any type not listed above.
    Other,
}

impl MessageType {
    /// Number of types, `Other` included: the length of the per-type counter arrays.
    pub const COUNT: usize = MessageType::ALL.len();

    /// Every type, in the order of their discriminants (the index into counter arrays).
    pub const ALL: [MessageType; 20] = [
        MessageType::Init,
        MessageType::InitOk,
        MessageType::Echo,
        MessageType::EchoOk,
        MessageType::BatchEcho,
        MessageType::BatchEchoOk,
        MessageType::Proxy,
        MessageType::ProxyOk,
        MessageType::Relay,
        MessageType::RelayOk,
        MessageType::SendFireForget,
        MessageType::SendFireForgetOk,
        MessageType::PendingCount,
        MessageType::PendingCountOk,
        MessageType::BackoffRelay,
        MessageType::BackoffRelayOk,
        MessageType::ComputeBackoff,
        MessageType::ComputeBackoffOk,
        MessageType::Error,
        MessageType::Other,
    ];

    /// The type named `kind` on the wire, or `Other`.
    pub fn from_wire(kind: &str) -> MessageType {
        match kind {
            "init" => MessageType::Init,
            "init_ok" => MessageType::InitOk,
            "echo" => MessageType::Echo,
            "echo_ok" => MessageType::EchoOk,
            "batch_echo" => MessageType::BatchEcho,
            "batch_echo_ok" => MessageType::BatchEchoOk,
            "proxy" => MessageType::Proxy,
            "proxy_ok" => MessageType::ProxyOk,
            "relay" => MessageType::Relay,
            "relay_ok" => MessageType::RelayOk,
            "send_fire_forget" => MessageType::SendFireForget,
            "send_fire_forget_ok" => MessageType::SendFireForgetOk,
            "pending_count" => MessageType::PendingCount,
            "pending_count_ok" => MessageType::PendingCountOk,
            "backoff_relay" => MessageType::BackoffRelay,
            "backoff_relay_ok" => MessageType::BackoffRelayOk,
            "compute_backoff" => MessageType::ComputeBackoff,
            "compute_backoff_ok" => MessageType::ComputeBackoffOk,
            "error" => MessageType::Error,
            _ => MessageType::Other,
        }
    }

    /// The wire name (`"other"` for `Other`), used as the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Init => "init",
            MessageType::InitOk => "init_ok",
            MessageType::Echo => "echo",
            MessageType::EchoOk => "echo_ok",
            MessageType::BatchEcho => "batch_echo",
            MessageType::BatchEchoOk => "batch_echo_ok",
            MessageType::Proxy => "proxy",
            MessageType::ProxyOk => "proxy_ok",
            MessageType::Relay => "relay",
            MessageType::RelayOk => "relay_ok",
            MessageType::SendFireForget => "send_fire_forget",
            MessageType::SendFireForgetOk => "send_fire_forget_ok",
            MessageType::PendingCount => "pending_count",
            MessageType::PendingCountOk => "pending_count_ok",
            MessageType::BackoffRelay => "backoff_relay",
            MessageType::BackoffRelayOk => "backoff_relay_ok",
            MessageType::ComputeBackoff => "compute_backoff",
            MessageType::ComputeBackoffOk => "compute_backoff_ok",
            MessageType::Error => "error",
            MessageType::Other => "other",
        }
    }
}

/// A body the node can write: serializable, and knowing its own [`MessageType`].
///
/// [`Context`](crate::Context)'s `reply`, `send` and `rpc` take any `OutgoingBody`, and count
/// what they wrote by its type.
pub trait OutgoingBody: Serialize {
    /// The `type` this body is written with.
    fn message_type(&self) -> MessageType;
}

impl OutgoingBody for Body<'_> {
    fn message_type(&self) -> MessageType {
        match self {
            Body::InitOk {} => MessageType::InitOk,
            Body::Echo { .. } => MessageType::Echo,
            Body::EchoOk { .. } => MessageType::EchoOk,
            Body::BatchEchoOk { .. } => MessageType::BatchEchoOk,
            Body::PendingCountOk { .. } => MessageType::PendingCountOk,
            Body::SendFireForgetOk { .. } => MessageType::SendFireForgetOk,
            Body::ProxyOk { .. } => MessageType::ProxyOk,
            Body::RelayOk { .. } => MessageType::RelayOk,
            Body::BackoffRelayOk { .. } => MessageType::BackoffRelayOk,
            Body::ComputeBackoffOk { .. } => MessageType::ComputeBackoffOk,
            Body::Error { .. } => MessageType::Error,
        }
    }
}

/// Just the `type` of a body, skipping the rest.
#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// A payload passed through untouched (a proxied or relayed body): its `type` is read from
/// the text, which costs a scan of the payload, paid only on these paths.
impl OutgoingBody for RawValue {
    fn message_type(&self) -> MessageType {
        match serde_json::from_str::<TypeOnly<'_>>(self.get()) {
            Ok(t) => MessageType::from_wire(&t.kind),
            Err(_) => MessageType::Other,
        }
    }
}

impl OutgoingBody for serde_json::Value {
    fn message_type(&self) -> MessageType {
        match self.get("type").and_then(serde_json::Value::as_str) {
            Some(kind) => MessageType::from_wire(kind),
            None => MessageType::Other,
        }
    }
}

impl<T: OutgoingBody + ?Sized> OutgoingBody for &T {
    fn message_type(&self) -> MessageType {
        (**self).message_type()
    }
}

impl<T: OutgoingBody + ?Sized> OutgoingBody for Box<T> {
    fn message_type(&self) -> MessageType {
        (**self).message_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order_and_round_trips() {
        for (i, t) in MessageType::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i, "{t:?}");
            if *t != MessageType::Other {
                assert_eq!(MessageType::from_wire(t.as_str()), *t);
            }
        }
        assert_eq!(MessageType::from_wire("other"), MessageType::Other);
        assert_eq!(MessageType::from_wire("Echo"), MessageType::Other);
    }

    #[test]
    fn body_type_matches_its_serialized_type() {
        let echo = RawValue::from_string("1".into()).unwrap();
        let results = [echo.clone()];
        let bodies = [
            Body::InitOk {},
            Body::Echo { echo: &echo },
            Body::EchoOk { echo: &echo },
            Body::BatchEchoOk { results: &results },
            Body::PendingCountOk { count: 1 },
            Body::SendFireForgetOk { pending: 1 },
            Body::ProxyOk { result: &echo },
            Body::RelayOk {
                attempts: 1,
                result: &echo,
            },
            Body::BackoffRelayOk {
                attempts: 1,
                total_delay_ms: 0,
            },
            Body::ComputeBackoffOk {
                schedule_ms: &[],
                total_ms: 0,
                retries: 0,
            },
            Body::Error { code: 0, text: "" },
        ];
        for body in &bodies {
            let v = serde_json::to_value(body).unwrap();
            assert_eq!(body.message_type().as_str(), v["type"], "{body:?}");
        }
    }

    #[test]
    fn raw_payloads_are_classified_by_their_type_field() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let echo = raw(r#"{ "echo": {"type": "x"}, "type" : "echo" }"#);
        assert_eq!(echo.message_type(), MessageType::Echo);
        assert_eq!(raw(r#"{"type":"cas"}"#).message_type(), MessageType::Other);
        assert_eq!(raw("[1]").message_type(), MessageType::Other);
        let value = serde_json::json!({"type": "relay"});
        assert_eq!(value.message_type(), MessageType::Relay);
    }
}
