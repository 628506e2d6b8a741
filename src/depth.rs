//! How deeply a JSON text nests arrays and objects, checked before anyone trusts it.
//!
//! serde_json refuses values nested deeper than 128 levels when it builds them, but a body
//! kept as a [`RawValue`](serde_json::value::RawValue) (an echo payload, a proxied body) is only
//! skipped over, at any depth, and would be passed on byte for byte: most JSON readers
//! (Python's, Jackson's default of 1,000 levels, which Maelstrom uses) cannot read such a line.
//! The node therefore treats a body nested deeper than [`MAX_DEPTH`] as malformed.
//!
//! The scan costs nothing on the usual message: nesting `n` levels takes at least `2n` bytes,
//! so a text shorter than that is not scanned at all ([`deeper_than`]).

/// Deepest nesting of arrays and objects accepted in a body, the body itself being level 1:
/// serde_json's default limit of 128 (which, counting down to zero, builds values of at most
/// 127 levels; the node passes one more on untouched).
pub const MAX_DEPTH: usize = 128;

/// Whether `json` nests arrays and objects more than `max` levels deep. Brackets inside
/// strings do not count; the text need not be valid JSON (unbalanced closers are ignored).
///
/// ```
/// use mionode::depth::deeper_than;
///
/// assert!(!deeper_than(br#"{"a":[[1]]}"#, 3));
/// assert!(deeper_than(br#"{"a":[[1]]}"#, 2));
/// assert!(!deeper_than(br#"{"a":"[[[[[[[["}"#, 1), "brackets in strings");
/// ```
pub fn deeper_than(json: &[u8], max: usize) -> bool {
    if json.len() < 2 * (max + 1) {
        return false;
    }
    let mut depth = 0usize;
    let mut bytes = json.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' => skip_string(&mut bytes),
            _ => {}
        }
    }
    false
}

/// Moves past the rest of a string whose opening quote was just read.
fn skip_string(bytes: &mut std::slice::Iter<'_, u8>) {
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => return,
            b'\\' => {
                bytes.next();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn the_limit_is_inclusive() {
        assert!(!deeper_than(nested(MAX_DEPTH).as_bytes(), MAX_DEPTH));
        assert!(deeper_than(nested(MAX_DEPTH + 1).as_bytes(), MAX_DEPTH));
        assert!(deeper_than(nested(5000).as_bytes(), MAX_DEPTH));
    }

    #[test]
    fn escaped_quotes_do_not_end_a_string() {
        let text = format!(r#"{{"a":"\"{}"}}"#, "[".repeat(300));
        assert!(!deeper_than(text.as_bytes(), 2));
    }

    proptest! {
        /// Agrees with serde_json on the depth of any value it builds (serde_json refuses a
        /// 128th level: its limit of 128 counts down to zero).
        #[test]
        fn agrees_with_serde_json(levels in 0usize..300, width in 0usize..3) {
            let mut text = String::from("1");
            for i in 0..levels {
                text = if (i + width) % 2 == 0 {
                    format!("[{text}{}]", ",0".repeat(width))
                } else {
                    format!(r#"{{"k{i}":{text},"s":"]}}"}}"#)
                };
            }
            let parsed = serde_json::from_str::<serde_json::Value>(&text).is_ok();
            prop_assert_eq!(parsed, !deeper_than(text.as_bytes(), MAX_DEPTH - 1));
        }
    }
}
