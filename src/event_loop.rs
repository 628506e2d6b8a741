//! The poll loop: the one place that touches file descriptors.
//!
//! One thread, one [`mio::Poll`], four kinds of source:
//!
//! | token            | source  | readiness means                                 |
//! |------------------|---------|-------------------------------------------------|
//! | [`STDIN`]        | fd 0    | lines to read (or end of input)                 |
//! | [`STDOUT`]       | fd 1    | room in the pipe again after a short write      |
//! | [`SIGNALS`]      | signals | SIGTERM or SIGINT arrived: flush and exit       |
//! | [`Service`] ones | others  | whatever the service (the metrics listener) has |
//!
//! Each turn: wait for events, with the timer wheel's next deadline as the timeout; read
//! stdin until `WouldBlock` or the per-turn budget; fire due timers; flush the outbox until
//! `WouldBlock`. mio is edge-triggered, so "stdin readable" and "stdout writable" are
//! remembered as flags and cleared only by `WouldBlock`; a turn that stops reading for the
//! budget polls again with a zero timeout.
//!
//! # Backpressure
//!
//! While the outbox holds more than the high-water mark, stdin is not read. The node only
//! writes in response to input or timers, so the outbox drains as fast as stdout's reader
//! takes it and memory stays bounded however slow that reader is. Nothing is dropped.
//!
//! # Shutdown
//!
//! At end of input the loop stops reading, flushes what was written and returns: pending RPC
//! callbacks are not run, since nothing could answer them. A signal does the same, giving the
//! flush at most [`SIGNAL_FLUSH_GRACE`], then logs how many lines and bytes it could not
//! write. `BrokenPipe` on stdout means nobody is listening: the loop returns at once.
//!
//! # Whole lines
//!
//! When stdout is a pipe, every write is of whole lines the kernel is sure to take whole
//! ([`pipe::next_chunk`]), so the output never ends inside a line, whenever the reader stops
//! reading and whenever the node exits (a line longer than the pipe excepted). A line too long
//! for a sure write waits for the pipe to empty, polled every millisecond.

use std::io::{self, ErrorKind, Write};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Registry, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::app::App;
use crate::node::Node;
use crate::pipe::{self, Chunk};
use crate::stdio::{Frame, LineFramer, Readiness, StdStream};

/// Token of stdin.
pub const STDIN: Token = Token(0);
/// Token of stdout.
pub const STDOUT: Token = Token(1);
/// Token of the signal source.
pub const SIGNALS: Token = Token(2);
/// First token free for [`Service`]s.
pub const FIRST_SERVICE_TOKEN: Token = Token(3);

/// Reads of stdin per turn before timers and other sources get their turn.
const READS_PER_TURN: usize = 16;

/// Longest the loop keeps flushing after a signal before it gives up and exits.
pub const SIGNAL_FLUSH_GRACE: Duration = Duration::from_secs(2);

/// Capacity of the event buffer; more ready sources are reported on the next turn.
const EVENTS_CAPACITY: usize = 256;

/// Another source sharing the loop, such as the metrics listener.
///
/// A service with deadlines of its own (a connection's idle timeout) says when the next one
/// is due through [`next_deadline`](Service::next_deadline): the loop waits no longer than
/// that, so [`tick`](Service::tick) runs on time even when nothing else happens. Its deadlines
/// cannot live on the node's timer wheel, whose closures get the node but not the service.
pub trait Service<A: App> {
    /// Registers the service's sources with tokens from `first` on; returns how many it took.
    fn register(&mut self, registry: &Registry, first: Token) -> io::Result<usize>;
    /// Handles readiness of one of its tokens, at `now` (the time the turn's wait ended).
    fn ready(&mut self, registry: &Registry, token: Token, node: &mut Node<A>, now: Instant);
    /// Called once a turn after timers fired, for deadlines of its own.
    fn tick(&mut self, _registry: &Registry, _node: &mut Node<A>, _now: Instant) {}
    /// When `tick` next has work, if ever.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
}

/// Why the loop returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// stdin reached its end and the output was flushed.
    EndOfInput,
    /// SIGTERM or SIGINT.
    Signal,
    /// stdout's reader went away.
    BrokenPipe,
}

/// State of the loop's own sources.
struct Io {
    stdin: StdStream,
    stdout: StdStream,
    framer: LineFramer,
    stdin_ready: bool,
    stdout_ready: bool,
    eof: bool,
    /// When a signal asked us to stop.
    stopping: Option<Instant>,
    high_water: usize,
    /// The capacity of stdout's pipe, if it is one: writes are then whole lines.
    pipe_capacity: Option<usize>,
    /// Whether the last write stopped inside a line (only a line longer than the pipe can).
    line_open: bool,
    /// Whether output waits for the pipe to empty.
    waiting_for_room: bool,
}

/// Runs `node` on stdin and stdout until end of input, a signal, or a broken pipe.
pub fn run<A: App>(node: &mut Node<A>, services: &mut [&mut dyn Service<A>]) -> io::Result<Exit> {
    let mut poll = Poll::new()?;
    let registry = poll.registry();
    let config = node.context().config().clone();
    let mut io = Io {
        stdin: StdStream::stdin(registry, STDIN).map_err(context("setting up stdin"))?,
        stdout: StdStream::stdout(registry, STDOUT).map_err(context("setting up stdout"))?,
        framer: LineFramer::new(config.max_line_bytes),
        // Readiness may predate registration; find out by reading.
        stdin_ready: true,
        stdout_ready: true,
        eof: false,
        stopping: None,
        high_water: config.outbox_high_water,
        pipe_capacity: None,
        line_open: false,
        waiting_for_room: false,
    };
    io.pipe_capacity = pipe::capacity(&io.stdout);
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    registry.register(&mut signals, SIGNALS, Interest::READABLE)?;
    let mut service_tokens = Vec::with_capacity(services.len());
    let mut next_token = FIRST_SERVICE_TOKEN.0;
    for service in services.iter_mut() {
        let taken = service.register(registry, Token(next_token))?;
        service_tokens.push(next_token..next_token + taken);
        next_token += taken;
    }
    log::debug!(
        "stdin {:?}, stdout {:?}",
        io.stdin.readiness(),
        io.stdout.readiness()
    );

    let mut events = Events::with_capacity(EVENTS_CAPACITY);
    loop {
        let deadline = services.iter().filter_map(|s| s.next_deadline()).min();
        let timeout = io.poll_timeout(node, deadline);
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        node.count_loop_turn();
        let woke = Instant::now();
        for event in events.iter() {
            match event.token() {
                STDIN => io.stdin_ready = true,
                STDOUT => io.stdout_ready = true,
                SIGNALS => {
                    if signals.pending().count() > 0 && io.stopping.is_none() {
                        log::info!("signal received: flushing and exiting");
                        io.stopping = Some(Instant::now());
                    }
                }
                token => {
                    let owner = service_tokens.iter().position(|r| r.contains(&token.0));
                    match owner {
                        Some(i) => services[i].ready(poll.registry(), token, node, woke),
                        // Spurious events happen (a source deregistered while its event was
                        // queued); there is nothing to do for a token nobody owns.
                        None => log::debug!("event for unknown token {token:?}"),
                    }
                }
            }
        }
        let now = Instant::now();
        io.read_input(node, now)?;
        node.fire_timers(now);
        for service in services.iter_mut() {
            service.tick(poll.registry(), node, now);
        }
        if let Some(exit) = io.flush(node)? {
            return Ok(exit);
        }
        if let Some(exit) = io.finished(node) {
            return Ok(exit);
        }
    }
}

/// Says what the loop was doing when `e` happened; `main` logs it before exiting with 1.
fn context(what: &'static str) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Io {
    /// Zero when work is waiting, else until the next timer or `service_deadline` (or
    /// forever).
    fn poll_timeout<A: App>(
        &self,
        node: &Node<A>,
        service_deadline: Option<Instant>,
    ) -> Option<Duration> {
        if self.waiting_for_room {
            return Some(Duration::from_millis(1));
        }
        if self.stopping.is_some() {
            return Some(Duration::from_millis(50));
        }
        if self.can_read(node) {
            return Some(Duration::ZERO);
        }
        let next = match (node.next_deadline(), service_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn can_read<A: App>(&self, node: &Node<A>) -> bool {
        self.stdin_ready
            && !self.eof
            && self.stopping.is_none()
            && node.context().outbox_len() <= self.high_water
    }

    /// Reads and handles input until `WouldBlock`, end of input, the budget, or backpressure.
    fn read_input<A: App>(&mut self, node: &mut Node<A>, now: Instant) -> io::Result<()> {
        for _ in 0..READS_PER_TURN {
            if !self.can_read(node) {
                return Ok(());
            }
            match self.framer.fill(&mut self.stdin) {
                Ok(0) => {
                    self.eof = true;
                    let rest = self.framer.take_rest();
                    if !rest.is_empty() {
                        // A last line without its newline still counts as a line.
                        node.handle_line(&rest, now);
                    } else if let Some(len) = self.framer.discarding() {
                        node.handle_oversized_line(len);
                    }
                    log::debug!("end of input");
                }
                Ok(_) => {
                    while let Some(frame) = self.framer.next_frame() {
                        match frame {
                            Frame::Line(line) => node.handle_line(line, now),
                            Frame::TooLong(len) => node.handle_oversized_line(len),
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if self.stdin.readiness() == Readiness::Polled {
                        self.stdin_ready = false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(context("reading stdin")(e)),
            }
        }
        Ok(())
    }

    /// Writes the outbox until it is empty or stdout would block.
    fn flush<A: App>(&mut self, node: &mut Node<A>) -> io::Result<Option<Exit>> {
        let outbox = node.outbox();
        self.waiting_for_room = false;
        while self.stdout_ready && !outbox.is_empty() {
            let pending = outbox.pending();
            let len = match self.pipe_capacity {
                None => pending.len(),
                Some(capacity) => {
                    // Unknown (never on Linux): write as before, whole lines not promised.
                    let unread = pipe::unread(&self.stdout).ok();
                    let chunk =
                        unread.map(|u| pipe::next_chunk(pending, self.line_open, u, capacity));
                    match chunk.unwrap_or(Chunk::Write(pending.len())) {
                        Chunk::Write(len) => len,
                        Chunk::Wait => {
                            self.waiting_for_room = true;
                            break;
                        }
                    }
                }
            };
            match self.stdout.write(&pending[..len]) {
                Ok(n) => {
                    if n > 0 {
                        self.line_open = pending[n - 1] != b'\n';
                    }
                    outbox.advance(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if self.stdout.readiness() == Readiness::Polled {
                        self.stdout_ready = false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                    log::info!("stdout closed by its reader: exiting");
                    return Ok(Some(Exit::BrokenPipe));
                }
                Err(e) => return Err(context("writing stdout")(e)),
            }
        }
        Ok(None)
    }

    fn finished<A: App>(&self, node: &mut Node<A>) -> Option<Exit> {
        let flushed = node.outbox().is_empty();
        if let Some(since) = self.stopping {
            if flushed {
                return Some(Exit::Signal);
            }
            if since.elapsed() >= SIGNAL_FLUSH_GRACE {
                let pending = node.outbox().pending();
                let lines = memchr::memchr_iter(b'\n', pending).count();
                let cut = if self.line_open {
                    "; the last line written is cut: it was longer than the pipe"
                } else {
                    ""
                };
                log::warn!(
                    "exiting {SIGNAL_FLUSH_GRACE:?} after the signal with {lines} lines ({} \
                     bytes) unwritten: stdout's reader is not reading{cut}",
                    pending.len()
                );
                return Some(Exit::Signal);
            }
        }
        (self.eof && flushed).then_some(Exit::EndOfInput)
    }
}
