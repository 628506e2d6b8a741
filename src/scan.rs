//! One pass over an input line: the envelope's `src` and `dest`, the body's `type`, `msg_id`
//! and `in_reply_to`, and the body's text, all read by a single walk of the line.
//!
//! # Why
//!
//! Parsing with serde_json alone takes two passes before a handler sees anything: the
//! envelope, which skips over the body to keep it raw, then the body again for its header.
//! serde cannot keep a value's raw text and look into it in the same pass. This scanner does
//! both: it walks the envelope, steps into the body reading the three header fields, skips
//! every other value while checking its syntax, and keeps the body as a slice of the line.
//! A handler's [`Request::body`](crate::Request::body) is then the only other pass.
//!
//! # A fast path, not a second parser
//!
//! [`scan`] answers only for the ordinary message and returns `None` for anything else: an
//! escape in a key or in `src`, `dest` or `type`, a repeated field, a missing one, a value of
//! the wrong type, a number `msg_id` that is not a plain integer, nesting deeper than
//! [`MAX_NESTING`], and every syntax error. The caller then parses the line with serde_json
//! ([`Incoming::parse`](crate::protocol::Incoming::parse)), which decides and explains. So
//! what this module must guarantee is narrow: **whenever it returns a message, serde_json
//! would have read the same one.** Its syntax checks are serde_json's own for skipped values
//! (the grammar of numbers and literals, escapes in strings, no control characters in them),
//! and the property tests below, and the fuzz target `envelope`, compare the two on
//! arbitrary and on mutated lines.
//!
//! Nesting is bounded by [`MAX_NESTING`] levels inside any skipped value, far below the
//! runtime's [`MAX_DEPTH`](crate::depth::MAX_DEPTH): a line the scan accepts is never too
//! deep, so the depth check runs only on the careful path.

use std::borrow::Cow;

use crate::protocol::Incoming;

/// Deepest nesting inside one skipped value that the scan follows (one bit each of a `u64`);
/// deeper lines take the careful path.
pub const MAX_NESTING: u32 = 64;

/// The message `line` holds, if it is an ordinary one; `None` leaves the line to
/// [`Incoming::parse`], which reads it the same way or explains what is wrong.
///
/// `line` is a JSON text without leading or trailing whitespace.
///
/// ```
/// use mionode::scan::scan;
///
/// let line = r#"{"id":3,"src":"c1","dest":"n1","body":{"type":"echo","echo":[1,"}"],"msg_id":7}}"#;
/// let msg = scan(line).unwrap();
/// assert_eq!((&*msg.src, &*msg.dest, &*msg.kind), ("c1", "n1", "echo"));
/// assert_eq!((msg.msg_id, msg.in_reply_to), (Some(7), None));
/// assert_eq!(msg.body, r#"{"type":"echo","echo":[1,"}"],"msg_id":7}"#);
/// // An escape in `type`: left to serde_json.
/// assert!(scan(r#"{"src":"c1","dest":"n1","body":{"type":"e\u0063ho"}}"#).is_none());
/// ```
pub fn scan(line: &str) -> Option<Incoming<'_>> {
    let mut cursor = Cursor {
        text: line,
        bytes: line.as_bytes(),
        at: 0,
    };
    let msg = cursor.envelope()?;
    cursor.whitespace();
    (cursor.at == cursor.bytes.len()).then_some(msg)
}

/// Stores `value` in an empty `slot`; `None` if the field came before (serde_json refuses a
/// repeated field).
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

/// One byte of `b` in every byte of a word.
const fn splat(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

/// The bytes of `word` (eight bytes, the first lowest) that a string's scan must stop at: `"`,
/// `\` and those below 0x20 get their high bit set. Of the flagged bytes only the lowest is
/// sure (the subtraction's borrow may flag a byte above a true one), which is the one used.
fn specials(word: u64) -> u64 {
    const HIGH: u64 = splat(0x80);
    let zero = |v: u64| v.wrapping_sub(splat(1)) & !v & HIGH;
    let control = word.wrapping_sub(splat(0x20)) & !word & HIGH;
    zero(word ^ splat(b'"')) | zero(word ^ splat(b'\\')) | control
}

/// A position in the line.
struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// Past whitespace, the byte `b`.
    fn expect(&mut self, b: u8) -> Option<()> {
        self.whitespace();
        (self.next()? == b).then_some(())
    }

    /// The envelope: `src`, `dest` and the body, other members skipped.
    fn envelope(&mut self) -> Option<Incoming<'a>> {
        self.expect(b'{')?;
        let (mut src, mut dest, mut body) = (None, None, None);
        self.members(|c, key| match key {
            "src" => set(&mut src, c.plain_string()?),
            "dest" => set(&mut dest, c.plain_string()?),
            "body" => set(&mut body, c.body()?),
            _ => c.skip_value(),
        })?;
        let (body, kind, msg_id, in_reply_to) = body?;
        Some(Incoming {
            src: Cow::Borrowed(src?),
            dest: Cow::Borrowed(dest?),
            body,
            kind: Cow::Borrowed(kind),
            msg_id,
            in_reply_to,
        })
    }

    /// The body: an object, its header read, its text kept.
    #[allow(clippy::type_complexity)]
    fn body(&mut self) -> Option<(&'a str, &'a str, Option<u64>, Option<u64>)> {
        let start = self.at;
        self.expect(b'{')?;
        let (mut kind, mut msg_id, mut in_reply_to) = (None, None, None);
        self.members(|c, key| match key {
            "type" => set(&mut kind, c.plain_string()?),
            "msg_id" => set(&mut msg_id, c.integer()?),
            "in_reply_to" => set(&mut in_reply_to, c.integer()?),
            _ => c.skip_value(),
        })?;
        Some((self.text.get(start..self.at)?, kind?, msg_id, in_reply_to))
    }

    /// The members of an object whose `{` was just read, up to its `}`: `member` reads each
    /// value, the cursor just before it. Keys must be plain strings.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.plain_string()?;
            self.expect(b':')?;
            self.whitespace();
            member(self, key)?;
            self.whitespace();
            match self.next()? {
                b',' => self.whitespace(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// Moves past string bytes that need no attention (anything but `"`, `\` and control
    /// characters), eight at a time: the strings of a message are mostly such bytes, and a
    /// word at a time costs a few instructions where a byte at a time cost about ten per byte.
    #[inline]
    fn plain_run(&mut self) {
        while let Some(chunk) = self.bytes.get(self.at..self.at + 8) {
            let Ok(word) = <[u8; 8]>::try_from(chunk) else {
                return;
            };
            let found = specials(u64::from_le_bytes(word));
            if found != 0 {
                self.at += (found.trailing_zeros() / 8) as usize;
                return;
            }
            self.at += 8;
        }
    }

    /// A string without escapes, next after whitespace: its text.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            self.plain_run();
            match self.next()? {
                b'"' => return self.text.get(start..self.at - 1),
                b'\\' | 0..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// A non-negative integer that fits a `u64`, written plainly (no fraction, no exponent).
    fn integer(&mut self) -> Option<u64> {
        let first = self.next()?;
        let mut n = match first {
            b'0'..=b'9' => u64::from(first - b'0'),
            _ => return None,
        };
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if first == b'0' {
                return None; // a leading zero
            }
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        match self.peek()? {
            b'.' | b'e' | b'E' => None,
            _ => Some(n),
        }
    }

    /// Moves past one JSON value, which starts here, checking its syntax as serde_json does
    /// when it skips a value.
    fn skip_value(&mut self) -> Option<()> {
        // One bit per open container, innermost lowest: 1 for an object, 0 for an array.
        let mut stack = 0u64;
        let mut open = 0u32;
        loop {
            // A value starts here.
            self.whitespace();
            match self.peek()? {
                open_b @ (b'{' | b'[') => {
                    self.at += 1;
                    if open == MAX_NESTING {
                        return None;
                    }
                    let object = open_b == b'{';
                    self.whitespace();
                    if self.peek()? != if object { b'}' } else { b']' } {
                        stack = stack << 1 | u64::from(object);
                        open += 1;
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                    self.at += 1; // empty
                }
                b'"' => {
                    self.at += 1;
                    self.skip_string()?;
                }
                b'-' | b'0'..=b'9' => self.skip_number()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => return None,
            }
            // A value ended: close containers until one goes on, or the outermost closes.
            loop {
                if open == 0 {
                    return Some(());
                }
                self.whitespace();
                let object = stack & 1 == 1;
                match (self.next()?, object) {
                    (b',', true) => {
                        self.key()?;
                        break;
                    }
                    (b',', false) => break,
                    (b'}', true) | (b']', false) => {
                        stack >>= 1;
                        open -= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// A key of a skipped object and its colon.
    fn key(&mut self) -> Option<()> {
        self.expect(b'"')?;
        self.skip_string()?;
        self.expect(b':')
    }

    /// Moves past the rest of a string whose opening quote was just read.
    fn skip_string(&mut self) -> Option<()> {
        loop {
            self.plain_run();
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => self.escape()?,
                0..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// An escape whose backslash was just read: one of serde_json's (`\uXXXX` with any four
    /// hex digits, as serde_json skips them).
    fn escape(&mut self) -> Option<()> {
        match self.next()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => {
                let hex = self.bytes.get(self.at..self.at + 4)?;
                self.at += 4;
                hex.iter().all(u8::is_ascii_hexdigit).then_some(())
            }
            _ => None,
        }
    }

    /// Moves past a number, JSON's grammar: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)?
    /// ([eE] [+-]? [0-9]+)?
    fn skip_number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' if matches!(self.peek(), Some(b'0'..=b'9')) => return None,
            b'0' => {}
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Moves past decimal digits; how many.
    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }
}

#[cfg(test)]
mod tests;
