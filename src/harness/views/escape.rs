//! Text into XML and HTML, and times into words.

use std::fmt::Write;

use crate::harness::record::Nanos;

/// `s` with the five characters that XML and HTML give a meaning escaped, so that it can stand
/// in element text and in a quoted attribute.
pub(super) fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline are not allowed in XML 1.0 at all.
            c if c.is_control() && c != '\t' && c != '\n' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A time since the start of the run, as a person reads it: `850 µs`, `12.3 ms`, `4.567 s`.
pub(super) fn time(t: Nanos) -> String {
    match t {
        0..=999_999 => format!("{} µs", t / 1_000),
        1_000_000..=999_999_999 => format!("{:.1} ms", t as f64 / 1e6),
        _ => format!("{:.3} s", t as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_controls_are_escaped() {
        assert_eq!(
            xml(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(xml("a\u{1}b\tc"), "a\\u{1}b\tc");
    }

    #[test]
    fn times_pick_their_unit() {
        assert_eq!(time(850_000), "850 µs");
        assert_eq!(time(12_345_678), "12.3 ms");
        assert_eq!(time(4_567_000_000), "4.567 s");
    }
}
