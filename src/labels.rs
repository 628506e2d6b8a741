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
    /// The label found last by [`classify`](Self::classify) and by
    /// [`classify_written`](Self::classify_written): a node answers the same types over and
    /// over, so checking the last one first saves the scan on most messages.
    last_received: usize,
    last_sent: usize,
    /// `last_sent`'s name and closing quote as the low bytes of a `u64`, with the mask of
    /// those bytes; `None` when they take more than eight bytes.
    last_sent_probe: Option<(u64, u64)>,
}

/// `name` followed by `"`, as the low bytes of a little-endian `u64`, and their mask; `None`
/// if that is more than eight bytes.
fn probe(name: &[u8]) -> Option<(u64, u64)> {
    if name.len() >= 8 {
        return None;
    }
    let mut bytes = [0u8; 8];
    bytes[..name.len()].copy_from_slice(name);
    bytes[name.len()] = b'"';
    let mask = u64::MAX >> (8 * (7 - name.len()));
    Some((u64::from_le_bytes(bytes), mask))
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
        let other = names.len() - 1;
        MessageTypes {
            names,
            last_received: other,
            last_sent: other,
            last_sent_probe: None,
        }
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
    /// A linear scan: the set is small, most lookups end at one of the first entries, and a
    /// name of another length or first byte is passed over without a call to `memcmp`.
    pub fn index(&self, kind: &str) -> usize {
        self.index_bytes(kind.as_bytes())
    }

    fn index_bytes(&self, kind: &[u8]) -> usize {
        let other = self.names.len() - 1;
        self.names[..other]
            .iter()
            .position(|n| {
                let n = n.as_bytes();
                n.len() == kind.len() && n.first() == kind.first() && n == kind
            })
            .unwrap_or(other)
    }

    /// [`index`](Self::index) of a received message's type, trying the last one first.
    pub(crate) fn classify(&mut self, kind: &str) -> usize {
        if self.names[self.last_received] == kind {
            return self.last_received;
        }
        self.last_received = self.index(kind);
        self.last_received
    }

    /// The index of the `type` of `body`, a JSON object as
    /// [`write_message`](crate::protocol::write_message) wrote it: read from the front when
    /// `type` is the first key and plain (every body made from a struct or a tagged enum with
    /// `type` first), trying the last type written first; else found by parsing the body, a
    /// cost paid only by bodies written otherwise. `other` when it has none.
    pub(crate) fn classify_written(&mut self, body: &[u8]) -> usize {
        const PREFIX: &[u8] = b"{\"type\":\"";
        if let Some(rest) = body.strip_prefix(PREFIX) {
            // One load and one comparison for a short name; a call to `memcmp` for others.
            match (self.last_sent_probe, rest.first_chunk::<8>()) {
                (Some((value, mask)), Some(head)) => {
                    if u64::from_le_bytes(*head) & mask == value {
                        return self.last_sent;
                    }
                }
                _ => {
                    let last = self.names[self.last_sent].as_bytes();
                    if rest.get(last.len()) == Some(&b'"') && rest.starts_with(last) {
                        return self.last_sent;
                    }
                }
            }
            // Names are short: a plain loop beats setting up a vectorized search.
            for (i, &b) in rest.iter().enumerate() {
                match b {
                    b'"' => {
                        let label = self.index_bytes(&rest[..i]);
                        self.last_sent = label;
                        self.last_sent_probe = probe(self.names[label].as_bytes());
                        return label;
                    }
                    b'\\' => break,
                    _ => {}
                }
            }
        }
        #[derive(serde::Deserialize)]
        struct TypeOnly<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        match serde_json::from_slice::<TypeOnly<'_>>(body) {
            Ok(t) => self.index(&t.kind),
            Err(_) => self.names.len() - 1,
        }
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
    fn a_written_type_is_read_from_the_front_or_parsed() {
        let mut types = MessageTypes::new(["echo", "read"]);
        let mut index = |s: &str| {
            let i = types.classify_written(s.as_bytes());
            types.name(i).to_owned()
        };
        assert_eq!(index(r#"{"type":"echo","msg_id":1}"#), "echo");
        assert_eq!(index(r#"{"echo":1,"type":"read_ok"}"#), "read_ok");
        assert_eq!(index(r#"{"type":"e\u0063ho"}"#), "echo");
        assert_eq!(index(r#"{"type":"cas"}"#), "other");
        assert_eq!(index(r#"{"echo":1}"#), "other");
        assert_eq!(index(r#"{"type":"echo_okay"}"#), "other");
        assert_eq!(index(r#"{"type":"echo","msg_id":1}"#), "echo");
        assert_eq!(
            index(r#"{"type":"echo_ok","msg_id":1}"#),
            "echo_ok",
            "not the last one"
        );
        assert_eq!(index(r#"{"type":"echo","msg_id":1}"#), "echo");
        assert_eq!(index(r#"{"type":"echoo","msg_id":1}"#), "other");
        assert_eq!(index(r#"{"type":"read_ok","msg_id":1}"#), "read_ok");
        assert_eq!(index(r#"{"type":"read_ok"}"#), "read_ok");
        assert_eq!(index(r#"{"type":"read"}"#), "read");
    }
}
