//! Bytes written by the node and not yet taken by stdout.

/// Capacity above which an empty outbox gives its memory back: 8 MiB.
///
/// The outbox fills up to the high-water mark (4 MiB by default) plus one turn's replies (a
/// turn reads up to 1 MiB), so a buffer of up to twice the default mark is what steady
/// traffic needs: it is kept and reused, and only a larger burst is released. A smaller
/// limit frees the buffer and grows it again from nothing on nearly every turn.
const IDLE_CAPACITY: usize = 8 << 20;

/// An append-only byte queue: handlers append whole lines, the event loop flushes a prefix.
///
/// The event loop stops reading input while [`Outbox::len`] is above its high-water mark, so
/// the queue stays bounded however slow the reader of stdout is.
#[derive(Debug, Default)]
pub struct Outbox {
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already flushed.
    flushed: usize,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes waiting to be flushed.
    pub fn len(&self) -> usize {
        self.buf.len() - self.flushed
    }

    /// Whether everything written has been flushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes waiting to be flushed, oldest first.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.flushed..]
    }

    /// Marks the first `n` pending bytes as flushed.
    pub fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.len(), "advance {n} past {} pending", self.len());
        self.flushed = (self.flushed + n).min(self.buf.len());
        if self.flushed == self.buf.len() {
            self.buf.clear();
            self.flushed = 0;
            if self.buf.capacity() > IDLE_CAPACITY {
                self.buf = Vec::new();
            }
        } else if self.flushed > self.buf.len() / 2 {
            // Move the tail down once it is the smaller part, so appends don't grow forever.
            self.buf.drain(..self.flushed);
            self.flushed = 0;
        }
    }

    /// The buffer to append complete lines to.
    pub(crate) fn buf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Takes every pending byte, leaving the outbox empty (for tests and embedders that
    /// do their own I/O).
    pub fn take(&mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buf);
        all.drain(..self.flushed);
        self.flushed = 0;
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_flushes_keep_order() {
        let mut out = Outbox::new();
        out.buf_mut().extend_from_slice(b"abcdef");
        out.advance(2);
        assert_eq!(out.pending(), b"cdef");
        out.buf_mut().extend_from_slice(b"gh");
        out.advance(3);
        assert_eq!(out.pending(), b"fgh");
        assert_eq!(out.take(), b"fgh");
        assert!(out.is_empty());
    }
}
