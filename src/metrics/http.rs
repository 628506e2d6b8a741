//! A tiny HTTP/1.1 responder for `GET /metrics`, driven by the node's poll loop: the
//! connections, their limits and deadlines. Parsing and routing a request, and building the
//! response, are in `http/request.rs`.
//!
//! # What it guarantees
//!
//! The node must never stall because of a scraper, however it behaves. So:
//!
//! - Every socket is non-blocking and edge-triggered; each one is read or written until
//!   `WouldBlock` and then left until its next event. A response too large for the socket
//!   buffer is written over as many events as it takes.
//! - A request must arrive whole, within [`HttpConfig::max_request_bytes`], before
//!   [`HttpConfig::request_timeout`] has passed since the connection was accepted. A client
//!   that connects and never speaks, or trickles a byte at a time, is closed at its deadline.
//! - A response must make progress: each write that moves bytes grants another
//!   `request_timeout`; a reader that stops reading is closed.
//! - At most [`HttpConfig::max_connections`] connections are open at once; one more is
//!   accepted and closed at once, so the listen backlog never fills with clients we ignore.
//!
//! # What it does not do
//!
//! One request per connection: every response says `Connection: close`. No keep-alive, no
//! chunked bodies, no request bodies, no TLS. What a request may ask for, and the status of
//! everything else, is [`parse_request`]'s business (in `http/request.rs`, with `httparse`); a
//! request over [`HttpConfig::max_request_bytes`] is answered 431 here.
//!
//! # Closing without losing the response
//!
//! Closing a socket whose receive buffer still holds unread bytes (a request body, a second
//! pipelined request, the rest of an oversized request) makes the kernel send a reset, and a
//! reset can destroy the response before the client has read it. So after the last byte is
//! written the write half is shut down and the connection lingers, reading and discarding,
//! until the client closes its end or [`HttpConfig::linger`] passes.
//!
//! # Time
//!
//! Time is an argument (`now`), never read here: the loop passes the instant of its turn, and
//! tests drive deadlines without sleeping. [`HttpServer::next_deadline`] tells the loop when
//! [`HttpServer::expire`] next has work.

mod request;
#[cfg(test)]
mod tests;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use slab::Slab;

use request::answer;
pub use request::{
    parse_request, response, Parse, Route, Status, CONTENT_TYPE_METRICS, MAX_HEADERS, METRICS_PATH,
};

/// Default [`HttpConfig::max_request_bytes`]: 8 KiB, plenty for a scraper's request line and
/// headers.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 << 10;

/// Default [`HttpConfig::request_timeout`]: 10 s, Prometheus's default scrape timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`HttpConfig::max_connections`]: enough for many scrapers at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// Default [`HttpConfig::linger`]: how long a finished connection waits for the client to
/// close before it is closed anyway.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(2);

/// Bytes read from a socket per `read` call.
const READ_CHUNK: usize = 4096;

/// Reads of discarded input per event while lingering, so a client that keeps sending cannot
/// hold the loop; what is left unread brings another event or waits for the deadline.
const DISCARD_READS_PER_EVENT: usize = 16;

/// Limits of the responder. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request (request line and headers) accepted; a larger one is answered 431.
    pub max_request_bytes: usize,
    /// Time a client has to send its whole request after being accepted, and the longest a
    /// response may go without progress.
    pub request_timeout: Duration,
    /// Connections open at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// Time a connection whose response is written waits for the client to close.
    pub linger: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            linger: DEFAULT_LINGER,
        }
    }
}

/// Where a connection is in its one exchange.
enum State {
    /// Receiving the request; `scanned` bytes of `buf` were searched for its end.
    Reading { buf: Vec<u8>, scanned: usize },
    /// Sending `out`, of which `written` bytes are gone.
    Writing { out: Vec<u8>, written: usize },
    /// Response sent and write half shut: discarding input until the client closes.
    Lingering,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    state: State,
    /// When the connection is closed if it has not finished by then.
    deadline: Instant,
}

/// Counters of the responder's own work, for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Connections accepted and served.
    pub accepted: u64,
    /// Connections accepted and closed at once because too many were open.
    pub refused: u64,
    /// Responses fully written, by any status.
    pub responses: u64,
    /// Connections closed at their deadline.
    pub timed_out: u64,
}

/// The listener and its connections. See the module docs for the guarantees.
pub struct HttpServer {
    listener: TcpListener,
    config: HttpConfig,
    /// Token of the listener; connection `k` of the slab has token `first + 1 + k`.
    first: Token,
    conns: Slab<Conn>,
    stats: HttpStats,
}

impl HttpServer {
    /// A server on `listener`; it takes no events until [`register`](Self::register)ed.
    pub fn new(listener: TcpListener, config: HttpConfig) -> Self {
        let conns = Slab::with_capacity(config.max_connections);
        HttpServer {
            listener,
            config,
            first: Token(usize::MAX),
            conns,
            stats: HttpStats::default(),
        }
    }

    /// Binds `addr` (port 0 picks a free port) and makes a server on it.
    pub fn bind(addr: SocketAddr, config: HttpConfig) -> io::Result<Self> {
        Ok(Self::new(TcpListener::bind(addr)?, config))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// What the responder has done so far.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Registers the listener with token `first`; connections will use the next
    /// [`HttpConfig::max_connections`] tokens. Returns the number of tokens taken.
    pub fn register(&mut self, registry: &Registry, first: Token) -> io::Result<usize> {
        self.first = first;
        registry.register(&mut self.listener, first, Interest::READABLE)?;
        Ok(1 + self.config.max_connections)
    }

    /// Handles readiness of `token`; `render` produces the metrics text when a request asks
    /// for it.
    pub fn ready(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
        render: &mut dyn FnMut() -> Vec<u8>,
    ) {
        if token == self.first {
            return self.accept_all(registry, now, render);
        }
        let Some(key) = token.0.checked_sub(self.first.0 + 1) else {
            return;
        };
        // A connection closed earlier this turn may still have an event queued.
        if self.conns.contains(key) {
            self.drive(registry, key, now, render);
        }
    }

    /// When [`expire`](Self::expire) next has work, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        // The loop asks every turn: skip walking the slab's vacant slots when none is open.
        if self.conns.is_empty() {
            return None;
        }
        self.conns.iter().map(|(_, c)| c.deadline).min()
    }

    /// Closes every connection whose deadline has passed.
    pub fn expire(&mut self, registry: &Registry, now: Instant) {
        if self.conns.is_empty() {
            return;
        }
        let stats = &mut self.stats;
        self.conns.retain(|_, conn| {
            if conn.deadline > now {
                return true;
            }
            if !matches!(conn.state, State::Lingering) {
                stats.timed_out += 1;
                log::debug!("metrics: closing idle connection from {}", conn.peer);
            }
            // Deregistering a socket about to be closed cannot usefully fail.
            let _ = registry.deregister(&mut conn.stream);
            false
        });
    }

    fn accept_all(
        &mut self,
        registry: &Registry,
        now: Instant,
        render: &mut dyn FnMut() -> Vec<u8>,
    ) {
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // The client gave up before we got to it: nothing to serve.
                Err(e) if e.kind() == ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // Out of descriptors, say: the next connection retries.
                    log::warn!("metrics: accept failed: {e}");
                    return;
                }
            };
            if self.conns.len() >= self.config.max_connections {
                self.stats.refused += 1;
                log::debug!("metrics: refusing {peer}: {} open", self.conns.len());
                continue; // dropping the stream closes it
            }
            let key = self.conns.vacant_key();
            let mut conn = Conn {
                stream,
                peer,
                state: State::Reading {
                    buf: Vec::new(),
                    scanned: 0,
                },
                deadline: now + self.config.request_timeout,
            };
            let token = Token(self.first.0 + 1 + key);
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = registry.register(&mut conn.stream, token, interest) {
                log::warn!("metrics: cannot register connection from {peer}: {e}");
                continue;
            }
            self.conns.insert(conn);
            self.stats.accepted += 1;
            // The request may have arrived with the connection.
            self.drive(registry, key, now, render);
        }
    }

    /// Moves connection `key` as far as its socket allows; closes it when it is done or broken.
    fn drive(
        &mut self,
        registry: &Registry,
        key: usize,
        now: Instant,
        render: &mut dyn FnMut() -> Vec<u8>,
    ) {
        let config = &self.config;
        let Conn {
            stream,
            peer,
            state,
            deadline,
        } = &mut self.conns[key];
        let open = loop {
            let step = match state {
                State::Reading { buf, scanned } => {
                    read_request(stream, *peer, buf, scanned, config)
                }
                State::Writing { out, written } => {
                    let before = *written;
                    let step = write_response(stream, *peer, out, written);
                    if *written > before {
                        *deadline = now + config.request_timeout;
                    }
                    step
                }
                State::Lingering => discard_input(stream),
            };
            match step {
                Step::Wait => break true,
                Step::Close => break false,
                Step::Respond(route) => {
                    let out = answer(route, render);
                    *state = State::Writing { out, written: 0 };
                }
                Step::Written => {
                    self.stats.responses += 1;
                    // Ignore failure: the peer may have closed already; lingering finds out.
                    let _ = stream.shutdown(Shutdown::Write);
                    *state = State::Lingering;
                    *deadline = now + config.linger;
                }
            }
        };
        if !open {
            self.close(registry, key);
        }
    }

    fn close(&mut self, registry: &Registry, key: usize) {
        let mut conn = self.conns.remove(key);
        // Deregistering a socket about to be closed cannot usefully fail.
        let _ = registry.deregister(&mut conn.stream);
    }
}

/// What a connection needs next.
enum Step {
    /// Nothing until its next event.
    Wait,
    /// Close it.
    Close,
    /// The request is in (or is refused): answer it.
    Respond(Route),
    /// The response is out.
    Written,
}

fn read_request(
    stream: &mut TcpStream,
    peer: SocketAddr,
    buf: &mut Vec<u8>,
    scanned: &mut usize,
    config: &HttpConfig,
) -> Step {
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        match stream.read(&mut chunk) {
            // The client closed before finishing its request: there is nobody to answer.
            Ok(0) => return Step::Close,
            Ok(n) => {
                let room = config.max_request_bytes - buf.len();
                buf.extend_from_slice(&chunk[..n.min(room)]);
                if let Parse::Done(route) = parse_request(buf, *scanned) {
                    return Step::Respond(route);
                }
                *scanned = buf.len();
                if n >= room {
                    log::debug!("metrics: request from {peer} over {} bytes", buf.len());
                    return Step::Respond(Route::Status(Status::TooLarge));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Wait,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                log::debug!("metrics: reading from {peer}: {e}");
                return Step::Close;
            }
        }
    }
}

fn write_response(
    stream: &mut TcpStream,
    peer: SocketAddr,
    out: &[u8],
    written: &mut usize,
) -> Step {
    while *written < out.len() {
        match stream.write(&out[*written..]) {
            Ok(0) => return Step::Close,
            Ok(n) => *written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Wait,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                log::debug!("metrics: writing to {peer}: {e}");
                return Step::Close;
            }
        }
    }
    Step::Written
}

fn discard_input(stream: &mut TcpStream) -> Step {
    let mut chunk = [0u8; READ_CHUNK];
    for _ in 0..DISCARD_READS_PER_EVENT {
        match stream.read(&mut chunk) {
            Ok(0) => return Step::Close,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Wait,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Step::Close,
        }
    }
    Step::Wait
}
