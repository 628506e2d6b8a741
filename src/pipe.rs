//! Writing whole lines to a pipe whose reader may stop reading.
//!
//! A write to a pipe takes what fits; with a slow reader the pipe fills in the middle of a
//! line, and if the node then exits (SIGTERM after its grace period), its output ends with half
//! a JSON line that no reader can parse. So the loop, when stdout is a pipe, only ever asks the
//! kernel to write what it is sure to take whole ([`next_chunk`]):
//!
//! - Linux writes up to `PIPE_BUF` bytes (4 KiB) to a pipe atomically: all of them, or none
//!   (`EAGAIN`). Whole lines adding up to at most that are always safe.
//! - An empty pipe takes a write of up to its capacity whole: every page is free. So while the
//!   pipe is empty (`FIONREAD` says 0 unread) whole lines up to the capacity go in one write,
//!   and a line longer than `PIPE_BUF` waits for the pipe to empty.
//!
//! The capacity is raised to 1 MiB where the system allows it (`F_SETPIPE_SZ`), so that a big
//! answer (a `batch_echo_ok` of 10,000 values) fits whole. A line longer than the pipe cannot be
//! written whole by any means; it is written as the reader takes it, and only such a line can
//! still be cut. The price: while the reader lags (the pipe not empty), writes are of 4 KiB.

use std::io;
use std::os::fd::AsRawFd;

use memchr::{memchr, memrchr};

/// Bytes Linux writes to a pipe atomically.
pub const PIPE_BUF: usize = 4096;

/// The capacity asked for stdout's pipe.
pub const WANTED_CAPACITY: usize = 1 << 20;

/// The capacity of the pipe `fd` writes to, raised to [`WANTED_CAPACITY`] if allowed; `None`
/// if `fd` is not a pipe.
pub fn capacity(fd: &impl AsRawFd) -> Option<usize> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on an open descriptor with integer arguments touches no memory.
    let current = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    if current < 0 {
        return None;
    }
    let wanted = libc::c_int::try_from(WANTED_CAPACITY).unwrap_or(libc::c_int::MAX);
    // SAFETY: as above. Refused (EPERM over /proc/sys/fs/pipe-max-size) leaves it as it was.
    let raised = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, wanted) };
    usize::try_from(raised.max(current)).ok()
}

/// Bytes written to the pipe `fd` and not yet read.
pub fn unread(fd: &impl AsRawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at `n`.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// What to do with the output waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Write this many bytes from the start.
    Write(usize),
    /// Write nothing until the pipe empties: the next line is too long for a sure write now.
    Wait,
}

/// The next write of `pending` (whole lines, unless `line_open`: the previous write stopped
/// inside the first one) to a pipe of `capacity` holding `unread` bytes.
///
/// ```
/// use mionode::pipe::{next_chunk, Chunk, PIPE_BUF};
///
/// let lines = b"ab\ncd\n";
/// assert_eq!(next_chunk(lines, false, 0, 1 << 16), Chunk::Write(6), "empty: all");
/// assert_eq!(next_chunk(lines, false, 10, 1 << 16), Chunk::Write(6), "under PIPE_BUF");
/// let long = [vec![b'x'; PIPE_BUF], b"\n".to_vec()].concat();
/// assert_eq!(next_chunk(&long, false, 10, 1 << 16), Chunk::Wait, "too long to be sure");
/// assert_eq!(next_chunk(&long, false, 0, 1 << 16), Chunk::Write(PIPE_BUF + 1));
/// assert_eq!(next_chunk(b"d\nef\n", true, 10, 1 << 16), Chunk::Write(2), "finish the line");
/// ```
pub fn next_chunk(pending: &[u8], line_open: bool, unread: usize, capacity: usize) -> Chunk {
    let end_of_first = memchr(b'\n', pending).map_or(pending.len(), |i| i + 1);
    if line_open {
        return Chunk::Write(end_of_first);
    }
    let room = if unread == 0 { capacity } else { PIPE_BUF };
    let window = &pending[..pending.len().min(room)];
    match last_line_end(window) {
        Some(end) => Chunk::Write(end),
        // Longer than the whole pipe: no write can be sure; write it as the reader takes it.
        None if unread == 0 => Chunk::Write(end_of_first),
        None => Chunk::Wait,
    }
}

/// The end of the last whole line in `bytes`, newline included.
fn last_line_end(bytes: &[u8]) -> Option<usize> {
    memrchr(b'\n', bytes).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every chunk is whole lines within what the pipe is sure to take, or the rest of an
        /// open line, or a line longer than the empty pipe.
        #[test]
        fn chunks_are_whole_lines_that_fit(
            lens in prop::collection::vec(0usize..10_000, 1..20),
            unread in prop_oneof![Just(0usize), 1usize..100_000],
            capacity in 4096usize..100_000,
        ) {
            let pending: Vec<u8> = lens.iter()
                .flat_map(|&n| std::iter::repeat_n(b'x', n).chain([b'\n']))
                .collect();
            match next_chunk(&pending, false, unread, capacity) {
                Chunk::Write(n) => {
                    prop_assert!(n > 0 && pending[n - 1] == b'\n');
                    let room = if unread == 0 { capacity } else { PIPE_BUF };
                    prop_assert!(n <= room || (unread == 0 && n == lens[0] + 1));
                }
                Chunk::Wait => prop_assert!(unread > 0 && lens[0] + 1 > PIPE_BUF),
            }
        }
    }
}
