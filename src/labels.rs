//! The message types the runtime counts by: a label set fixed when the node is built.
//!
//! Counting by type must cost an array increment, and a metric label must come from a
//! bounded list (every distinct value is a time series Prometheus keeps). So the set is made
//! once from the app's [`Routes`](crate::Routes): `init` and `init_ok`, each registered type
//! and its `_ok` reply, then `error` and `other`. Any type outside the set counts as `other`,
//! whatever a peer sends; the set has `2 × (registered + 1) + 2` labels at most.

/// The label set and its lookup.
#[derive(Debug, Clone)]
pub struct MessageTypes {
    names: Vec<String>,
}

/// Index of `init`.
pub const INIT: usize = 0;

impl MessageTypes {
    /// The set for an app that registered `kinds` (in that order).
    pub fn new<'k>(kinds: impl IntoIterator<Item = &'k str>) -> MessageTypes {
        let mut names: Vec<String> = vec!["init".into(), "init_ok".into()];
        for kind in kinds {
            for name in [kind.to_owned(), format!("{kind}_ok")] {
                if !names.contains(&name) && name != "error" && name != "other" {
                    names.push(name);
                }
            }
        }
        names.push("error".into());
        names.push("other".into());
        MessageTypes { names }
    }

    /// Number of labels, `other` included.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Never true: `init`, `init_ok`, `error` and `other` are always there.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The index of `kind`, or of `other`.
    ///
    /// A linear scan: the set is small, and most lookups end at one of the first entries
    /// (comparing strings of another length costs one comparison of lengths).
    pub fn index(&self, kind: &str) -> usize {
        let other = self.names.len() - 1;
        self.names[..other]
            .iter()
            .position(|n| n == kind)
            .unwrap_or(other)
    }

    /// The label of index `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Every label, in index order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

/// The `type` of a body as written by [`write_message`](crate::protocol::write_message):
/// read from the front when it is the first key (every body made from a struct with `type`
/// first), else found by parsing the body, a cost paid only by bodies written otherwise.
pub(crate) fn written_type(body: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    const PREFIX: &[u8] = b"{\"type\":\"";
    if let Some(rest) = body.strip_prefix(PREFIX) {
        if let Some(end) = memchr::memchr2(b'"', b'\\', rest) {
            if rest[end] == b'"' {
                return std::str::from_utf8(&rest[..end]).ok().map(Into::into);
            }
        }
    }
    #[derive(serde::Deserialize)]
    struct TypeOnly<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<TypeOnly<'_>>(body)
        .ok()
        .map(|t| t.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_is_init_the_registered_types_and_their_replies_then_error_and_other() {
        let types = MessageTypes::new(["echo", "read", "echo"]);
        let names: Vec<_> = types.names().collect();
        assert_eq!(
            names,
            ["init", "init_ok", "echo", "echo_ok", "read", "read_ok", "error", "other"]
        );
        assert_eq!(types.index("read_ok"), 5);
        assert_eq!(types.index("cas"), 7);
        assert_eq!(types.index("other"), 7);
    }

    #[test]
    fn written_type_reads_the_front_or_parses() {
        let kind = |s: &str| written_type(s.as_bytes()).map(|k| k.into_owned());
        assert_eq!(
            kind(r#"{"type":"echo","msg_id":1}"#).as_deref(),
            Some("echo")
        );
        assert_eq!(kind(r#"{"echo":1,"type":"x"}"#).as_deref(), Some("x"));
        assert_eq!(kind(r#"{"type":"e\u0063ho"}"#).as_deref(), Some("echo"));
        assert_eq!(kind(r#"{"echo":1}"#), None);
    }
}
