//! A stand-in for Maelstrom's network, fast enough not to be what is measured.
//!
//! The driver owns a node's stdin and stdout as non-blocking pipes on one `mio::Poll`. What the
//! node writes to itself (`"dest":"n1"`) goes straight back into its stdin; every other line is
//! handed to the caller. Lines are recognised by a substring search, never parsed, and
//! forwarded in as few writes as the pipe allows.

use std::io::{self, ErrorKind, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use memchr::memmem;
use mio::unix::pipe::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token};

use crate::measure::wait_cpu;

/// The node's id in every benchmark.
pub const NODE_ID: &str = "n1";

/// What marks a line as addressed to the node itself.
const TO_SELF: &[u8] = br#""dest":"n1""#;

const STDIN: Token = Token(0);
const STDOUT: Token = Token(1);

/// Bytes read from the node per read; lines longer than this grow the buffer.
const READ_CHUNK: usize = 1 << 20;

/// How long the driver waits for the node to say anything before it gives up.
const STALL: Duration = Duration::from_secs(30);

/// A node process whose messages to itself are looped back.
pub struct Loopback {
    child: Child,
    to_node: Option<Sender>,
    from_node: Receiver,
    poll: Poll,
    events: Events,
    /// Output of the node not yet split into lines: `inbuf[start..end]`.
    inbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Input for the node not yet written: `outbuf[written..]`.
    outbuf: Vec<u8>,
    written: usize,
    /// Lines looped back so far.
    pub looped: u64,
}

impl Loopback {
    /// Starts `cmd` with piped stdin and stdout.
    pub fn spawn(cmd: &mut Command) -> io::Result<Loopback> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut to_node = Sender::from(child.stdin.take().expect("piped stdin"));
        let mut from_node = Receiver::from(child.stdout.take().expect("piped stdout"));
        to_node.set_nonblocking(true)?;
        from_node.set_nonblocking(true)?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut to_node, STDIN, Interest::WRITABLE)?;
        poll.registry()
            .register(&mut from_node, STDOUT, Interest::READABLE)?;
        Ok(Loopback {
            child,
            to_node: Some(to_node),
            from_node,
            poll,
            events: Events::with_capacity(8),
            inbuf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            outbuf: Vec::new(),
            written: 0,
            looped: 0,
        })
    }

    /// Queues `bytes` for the node's stdin; they are written by [`run_until`](Self::run_until).
    pub fn send(&mut self, bytes: &[u8]) {
        self.outbuf.extend_from_slice(bytes);
    }

    /// Moves messages both ways until `on_line` returns true for a line not addressed to
    /// the node. Lines after that one stay buffered for the next call.
    pub fn run_until(&mut self, mut on_line: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
        loop {
            if self.take_lines(&mut on_line) {
                return Ok(());
            }
            let wrote = self.write_some()?;
            let read = self.read_some()?;
            if !wrote && !read {
                self.poll.poll(&mut self.events, Some(STALL))?;
                if self.events.is_empty() {
                    return Err(io::Error::new(ErrorKind::TimedOut, "node went silent"));
                }
            }
        }
    }

    /// Closes the node's stdin and waits for it to exit; returns the CPU time it used.
    pub fn finish(mut self) -> io::Result<Duration> {
        drop(self.to_node.take());
        // Drain what it still writes, so it never blocks on a full pipe while exiting.
        self.from_node.set_nonblocking(false)?;
        let mut sink = vec![0u8; READ_CHUNK];
        while self.from_node.read(&mut sink)? > 0 {}
        let (status, cpu) = wait_cpu(&mut self.child)?;
        if !status.success() {
            return Err(io::Error::other(format!("node exited with {status}")));
        }
        Ok(cpu)
    }

    /// Loops back or hands out every complete line read so far; true once `on_line` is.
    fn take_lines(&mut self, on_line: &mut impl FnMut(&[u8]) -> bool) -> bool {
        while let Some(len) = memchr::memchr(b'\n', &self.inbuf[self.start..self.end]) {
            let line = &self.inbuf[self.start..self.start + len + 1];
            self.start += len + 1;
            if memmem::find(line, TO_SELF).is_some() {
                self.outbuf.extend_from_slice(line);
                self.looped += 1;
            } else if on_line(&line[..len]) {
                return true;
            }
        }
        false
    }

    /// Writes queued input until done or the pipe is full; true if anything was written.
    fn write_some(&mut self) -> io::Result<bool> {
        let to_node = self.to_node.as_mut().expect("stdin open until finish");
        let mut wrote = false;
        while self.written < self.outbuf.len() {
            match to_node.write(&self.outbuf[self.written..]) {
                Ok(n) => {
                    self.written += n;
                    wrote = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.written == self.outbuf.len() {
            self.outbuf.clear();
            self.written = 0;
        }
        Ok(wrote)
    }

    /// Reads what the node has written, once; true if anything was read.
    fn read_some(&mut self) -> io::Result<bool> {
        self.make_room();
        loop {
            match self.from_node.read(&mut self.inbuf[self.end..]) {
                Ok(0) => return Err(io::Error::new(ErrorKind::UnexpectedEof, "node exited")),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves the partial line to the front, growing the buffer if it fills it.
    fn make_room(&mut self) {
        if self.start > 0 {
            self.inbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.inbuf.len() - self.end < READ_CHUNK / 2 {
            self.inbuf.resize(self.inbuf.len() + READ_CHUNK, 0);
        }
    }
}
