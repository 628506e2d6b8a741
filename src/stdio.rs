//! Standard input and output as poll sources, and line framing of what stdin delivers.
//!
//! # Descriptors of every kind
//!
//! epoll accepts pipes, sockets and terminals but refuses regular files and `/dev/null`
//! (`EPERM`). [`StdStream::stdin`] and [`StdStream::stdout`] make the descriptor
//! non-blocking and register it; where epoll refuses, the stream is [`Readiness::Always`]:
//! reads and writes on such files never block, so the loop treats them as always ready.
//!
//! `O_NONBLOCK` belongs to the open file description, which a terminal shares with every
//! process attached to it: setting it on fd 0 of a shell's terminal would leave the shell with
//! a non-blocking terminal. A terminal is therefore reopened through `/proc/self/fd/N`, which
//! gives a description of our own. Other descriptors get the flag directly and have their
//! original flags restored when the stream is dropped.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

use memchr::memchr;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// Whether a stream's readiness comes from the poll or is assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Registered with the poll; readiness arrives as events (edge-triggered).
    Polled,
    /// A regular file or similar that epoll refuses: always ready, never blocks.
    Always,
}

/// Standard input or output, set up for the poll loop.
#[derive(Debug)]
pub struct StdStream {
    file: File,
    readiness: Readiness,
    /// Flags of the shared description (which `file`, a duplicate, also refers to) to put
    /// back on drop, when we changed them.
    restore: Option<libc::c_int>,
}

impl StdStream {
    /// Prepares stdin (fd 0) for reading and registers it for `READABLE`.
    pub fn stdin(registry: &Registry, token: Token) -> io::Result<StdStream> {
        StdStream::open(io::stdin().as_fd(), registry, token, Interest::READABLE)
    }

    /// Prepares stdout (fd 1) for writing and registers it for `WRITABLE`.
    pub fn stdout(registry: &Registry, token: Token) -> io::Result<StdStream> {
        StdStream::open(io::stdout().as_fd(), registry, token, Interest::WRITABLE)
    }

    fn open(
        fd: BorrowedFd<'_>,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<Self> {
        let mut stream = if fd.is_terminal() {
            StdStream::reopen(fd, interest)?
        } else {
            StdStream::borrow_nonblocking(fd)?
        };
        match registry.register(&mut SourceFd(&stream.file.as_raw_fd()), token, interest) {
            Ok(()) => stream.readiness = Readiness::Polled,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                // A regular file or /dev/null: never blocks, so blocking mode is harmless
                // and a descriptor shared with others is left as we found it.
                stream.restore_flags();
                stream.readiness = Readiness::Always;
            }
            Err(e) => return Err(e),
        }
        Ok(stream)
    }

    /// Opens a fresh description of a terminal, non-blocking, leaving the shared one alone.
    fn reopen(fd: BorrowedFd<'_>, interest: Interest) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(interest.is_readable())
            .write(interest.is_writable())
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        Ok(StdStream {
            file,
            readiness: Readiness::Polled,
            restore: None,
        })
    }

    /// Duplicates `fd` and sets `O_NONBLOCK` on the shared description, to restore on drop.
    fn borrow_nonblocking(fd: BorrowedFd<'_>) -> io::Result<Self> {
        // The duplicate (close-on-exec, numbered 3 or above) shares the description, so its
        // flags are the shared ones.
        let file = File::from(fd.try_clone_to_owned()?);
        let flags = status_flags(&file)?;
        set_status_flags(&file, flags | libc::O_NONBLOCK)?;
        Ok(StdStream {
            file,
            readiness: Readiness::Polled,
            restore: Some(flags),
        })
    }

    fn restore_flags(&mut self) {
        if let Some(flags) = self.restore.take() {
            // Failure leaves nothing to undo.
            let _ = set_status_flags(&self.file, flags);
        }
    }

    /// Whether readiness events will arrive for this stream.
    pub fn readiness(&self) -> Readiness {
        self.readiness
    }

    /// Deregisters the stream from the poll, if it was registered.
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        if self.readiness == Readiness::Polled {
            registry.deregister(&mut SourceFd(&self.file.as_raw_fd()))?;
        }
        Ok(())
    }
}

impl AsRawFd for StdStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }
}

impl Read for StdStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for StdStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for StdStream {
    fn drop(&mut self) {
        self.restore_flags();
    }
}

/// The file status flags (`O_NONBLOCK` and the like) of `fd`'s open file description.
fn status_flags(fd: &impl AsRawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL on an open descriptor (borrowed for the call) touches no memory.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

/// Sets the file status flags of `fd`'s open file description.
fn set_status_flags(fd: &impl AsRawFd, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: F_SETFL on an open descriptor (borrowed for the call) touches no memory.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bytes requested from stdin per read.
pub const READ_CHUNK: usize = 64 * 1024;

/// One framed piece of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its `\n`.
    Line(&'a [u8]),
    /// A line longer than the maximum, of this many bytes (its `\n` excluded), discarded.
    TooLong(usize),
}

/// Splits a byte stream into `\n`-terminated lines, holding at most one maximum-length line.
///
/// A line that grows past the maximum is dropped as it arrives: the framer keeps only a
/// count of its bytes until its `\n`, then reports [`Frame::TooLong`]. Memory therefore stays
/// below the maximum plus one read, whatever the input.
///
/// ```
/// use mionode::stdio::{Frame, LineFramer};
///
/// let mut framer = LineFramer::new(5);
/// let mut input: &[u8] = b"ab\ntoo long\ncd";
/// while framer.fill(&mut input).unwrap() > 0 {}
/// assert_eq!(framer.next_frame(), Some(Frame::Line(b"ab")));
/// assert_eq!(framer.next_frame(), Some(Frame::TooLong(8)));
/// assert_eq!(framer.next_frame(), None, "cd has no newline yet");
/// assert_eq!(framer.take_rest(), b"cd");
/// ```
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// First byte not yet framed.
    start: usize,
    /// End of the bytes read.
    end: usize,
    /// Bytes after `start` already searched for `\n` without success.
    scanned: usize,
    /// Bytes dropped so far of an over-long line, while discarding one.
    discarded: Option<usize>,
    max_line: usize,
}

impl LineFramer {
    /// A framer for lines of at most `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            discarded: None,
            max_line,
        }
    }

    /// Reads once from `src` into the buffer; returns the bytes read (0 at end of input).
    pub fn fill(&mut self, src: &mut impl Read) -> io::Result<usize> {
        self.compact();
        if self.buf.len() - self.end < READ_CHUNK {
            self.buf.resize(self.end + READ_CHUNK, 0);
        }
        let n = src.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// The next complete frame, or `None` when the rest needs more input.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        let from = self.start + self.scanned;
        let Some(offset) = memchr(b'\n', &self.buf[from..self.end]) else {
            self.scanned = self.end - self.start;
            self.discard_if_too_long();
            return None;
        };
        let line_end = from + offset;
        let line_start = self.start;
        self.start = line_end + 1;
        self.scanned = 0;
        let len = line_end - line_start;
        if let Some(dropped) = self.discarded.take() {
            return Some(Frame::TooLong(dropped + len));
        }
        if len > self.max_line {
            return Some(Frame::TooLong(len));
        }
        Some(Frame::Line(&self.buf[line_start..line_end]))
    }

    /// Takes the bytes of an unterminated last line (at end of input).
    pub fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.buf[self.start..self.end].to_vec();
        self.start = self.end;
        self.scanned = 0;
        rest
    }

    /// Bytes of an over-long line dropped so far, if one is being discarded.
    pub fn discarding(&self) -> Option<usize> {
        self.discarded
    }

    fn discard_if_too_long(&mut self) {
        let partial = self.end - self.start;
        if partial > self.max_line || (self.discarded.is_some() && partial > 0) {
            *self.discarded.get_or_insert(0) += partial;
            self.end = self.start;
            self.scanned = 0;
        }
    }

    /// Moves the unframed tail to the front, and lets go of a buffer grown for a long line.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buf.len() > 4 * READ_CHUNK && self.end < READ_CHUNK {
            self.buf.truncate(READ_CHUNK);
            self.buf.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader that hands out its input in fixed-size pieces.
    struct Chunked<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[derive(Debug, PartialEq)]
    enum Owned {
        Line(Vec<u8>),
        TooLong(usize),
    }

    fn frame_all(data: &[u8], chunk: usize, max: usize) -> (Vec<Owned>, usize) {
        let mut framer = LineFramer::new(max);
        let mut src = Chunked { data, chunk };
        let mut out = Vec::new();
        let mut peak = 0;
        loop {
            let n = framer.fill(&mut src).unwrap();
            peak = peak.max(framer.end - framer.start);
            while let Some(frame) = framer.next_frame() {
                out.push(match frame {
                    Frame::Line(l) => Owned::Line(l.to_vec()),
                    Frame::TooLong(n) => Owned::TooLong(n),
                });
            }
            if n == 0 {
                return (out, peak);
            }
        }
    }

    #[test]
    fn over_long_line_is_reported_with_its_length_and_not_buffered() {
        let mut data = vec![b'x'; 1000];
        data.extend_from_slice(b"\nok\n");
        let (frames, peak) = frame_all(&data, 7, 50);
        assert_eq!(
            frames,
            vec![Owned::TooLong(1000), Owned::Line(b"ok".to_vec())]
        );
        assert!(peak <= 50 + 7, "held {peak} bytes");
    }

    proptest! {
        /// Framing in any chunking equals splitting on `\n`, with long lines reported.
        #[test]
        fn matches_split(
            lines in prop::collection::vec(prop::collection::vec(0u8..=255, 0..40), 0..20),
            chunk in 1usize..64,
            max in 1usize..30,
        ) {
            let lines: Vec<Vec<u8>> = lines
                .into_iter()
                .map(|l| l.into_iter().filter(|&b| b != b'\n').collect())
                .collect();
            let data: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
            let expected: Vec<Owned> = lines
                .iter()
                .map(|l| if l.len() > max { Owned::TooLong(l.len()) } else { Owned::Line(l.clone()) })
                .collect();
            let (frames, peak) = frame_all(&data, chunk, max);
            prop_assert_eq!(frames, expected);
            prop_assert!(peak <= max + chunk);
        }
    }
}
