//! A tiny HTTP/1.1 responder for `GET /metrics`, driven by the node's poll loop.
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
//! chunked bodies, no request bodies, no TLS. `GET` or `HEAD` on `/metrics` (a query string is
//! ignored) renders; another path is 404, another method 405, a request line that does not
//! parse 400, a version other than HTTP/1.0 or 1.1 505, a request too large 431.
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

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use slab::Slab;

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

/// The `Content-Type` of the Prometheus text exposition format.
pub const CONTENT_TYPE_METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The one path served.
pub const METRICS_PATH: &str = "/metrics";

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

/// What a request asks for, once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics`: render and send.
    Metrics,
    /// `HEAD /metrics`: render, send the headers only.
    MetricsHead,
    /// Anything else, answered with this status and no rendering.
    Status(Status),
}

/// The statuses the responder sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200
    Ok,
    /// 400: the request line does not parse.
    BadRequest,
    /// 404: a path other than `/metrics`.
    NotFound,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// 431: no end of headers within the size limit.
    TooLarge,
    /// 505: not HTTP/1.0 or HTTP/1.1.
    VersionNotSupported,
}

impl Status {
    /// The status code and reason phrase.
    pub fn line(self) -> (u16, &'static str) {
        match self {
            Status::Ok => (200, "OK"),
            Status::BadRequest => (400, "Bad Request"),
            Status::NotFound => (404, "Not Found"),
            Status::MethodNotAllowed => (405, "Method Not Allowed"),
            Status::TooLarge => (431, "Request Header Fields Too Large"),
            Status::VersionNotSupported => (505, "HTTP Version Not Supported"),
        }
    }
}

/// Outcome of looking at the bytes of a request received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// The end of the headers has not arrived yet.
    Incomplete,
    /// A whole request, routed.
    Done(Route),
}

/// Parses what has arrived of a request. Only the request line matters; headers are skipped.
///
/// `scanned` is how many leading bytes an earlier call already searched for the end of the
/// headers, so a request trickling in byte by byte costs linear, not quadratic, time.
///
/// ```
/// use mionode::metrics::http::{parse_request, Parse, Route, Status};
///
/// assert_eq!(parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0), Parse::Done(Route::Metrics));
/// assert_eq!(parse_request(b"GET /metrics HTTP/1.1\r\nHost:", 0), Parse::Incomplete);
/// assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n", 0), Parse::Done(Route::Status(Status::NotFound)));
/// ```
pub fn parse_request(buf: &[u8], scanned: usize) -> Parse {
    // The end may straddle the old and new bytes: back up by the length of the terminator.
    let from = scanned.saturating_sub(3);
    let Some(end) = find_end_of_headers(&buf[from..]) else {
        return Parse::Incomplete;
    };
    let head = &buf[..from + end];
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    Parse::Done(route(line))
}

/// Offset of the blank line that ends the headers (`\r\n\r\n`, or a bare `\n\n`).
fn find_end_of_headers(buf: &[u8]) -> Option<usize> {
    let crlf = memchr::memmem::find(buf, b"\r\n\r\n");
    let lf = memchr::memmem::find(buf, b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn route(request_line: &[u8]) -> Route {
    let Ok(line) = std::str::from_utf8(request_line) else {
        return Route::Status(Status::BadRequest);
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Status(Status::BadRequest);
    };
    if method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/") {
        return Route::Status(Status::BadRequest);
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Route::Status(Status::VersionNotSupported);
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match (method, path == METRICS_PATH) {
        (_, false) => Route::Status(Status::NotFound),
        ("GET", true) => Route::Metrics,
        ("HEAD", true) => Route::MetricsHead,
        (_, true) => Route::Status(Status::MethodNotAllowed),
    }
}

/// Builds a whole response; with `head_only` (a HEAD request) the body's length is told and
/// the body left out.
pub fn response(status: Status, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let (code, reason) = status.line();
    let mut out = Vec::with_capacity(160 + if head_only { 0 } else { body.len() });
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if status == Status::MethodNotAllowed {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// The whole response to `route`; only a request for the metrics renders them.
fn answer(route: Route, render: &mut dyn FnMut() -> Vec<u8>) -> Vec<u8> {
    match route {
        Route::Metrics => response(Status::Ok, CONTENT_TYPE_METRICS, &render(), false),
        Route::MetricsHead => response(Status::Ok, CONTENT_TYPE_METRICS, &render(), true),
        Route::Status(status) => status_response(status),
    }
}

fn status_response(status: Status) -> Vec<u8> {
    let (code, reason) = status.line();
    let body = format!("{code} {reason}\n");
    response(status, "text/plain; charset=utf-8", body.as_bytes(), false)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream as StdStream;

    use mio::{Events, Poll};

    const LISTENER: Token = Token(10);

    /// A server on a loopback port with its own poll; `body` is what a render returns.
    struct Harness {
        poll: Poll,
        events: Events,
        server: HttpServer,
        now: Instant,
        body: Vec<u8>,
        renders: usize,
    }

    impl Harness {
        fn new(config: HttpConfig) -> Self {
            let poll = Poll::new().unwrap();
            let mut server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), config).unwrap();
            let taken = server.register(poll.registry(), LISTENER).unwrap();
            assert_eq!(taken, 1 + server.config.max_connections);
            Harness {
                poll,
                events: Events::with_capacity(64),
                server,
                now: Instant::now(),
                body: b"metric_total 1\n".to_vec(),
                renders: 0,
            }
        }

        fn connect(&self) -> StdStream {
            let stream = StdStream::connect(self.server.local_addr().unwrap()).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream
        }

        /// Handles events until none comes for 20 ms.
        fn pump(&mut self) {
            for _ in 0..1000 {
                self.poll
                    .poll(&mut self.events, Some(Duration::from_millis(20)))
                    .unwrap();
                if self.events.is_empty() {
                    return;
                }
                let tokens: Vec<Token> = self.events.iter().map(|e| e.token()).collect();
                for token in tokens {
                    let (body, renders) = (&self.body, &mut self.renders);
                    let mut render = || {
                        *renders += 1;
                        body.clone()
                    };
                    self.server
                        .ready(self.poll.registry(), token, self.now, &mut render);
                }
            }
            panic!("events kept coming");
        }

        fn expire(&mut self, after: Duration) {
            self.server.expire(self.poll.registry(), self.now + after);
        }

        /// Sends `request` on a new connection and returns the whole response.
        fn exchange(&mut self, request: &[u8]) -> String {
            let mut client = self.connect();
            client.write_all(request).unwrap();
            self.pump();
            read_to_close(&mut client)
        }
    }

    fn read_to_close(client: &mut StdStream) -> String {
        let mut response = Vec::new();
        client.read_to_end(&mut response).unwrap();
        String::from_utf8(response).unwrap()
    }

    fn status_of(response: &str) -> &str {
        response.lines().next().unwrap_or("")
    }

    #[test]
    fn get_metrics_returns_the_rendered_text() {
        let mut h = Harness::new(HttpConfig::default());
        let response = h.exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
        assert_eq!(
            response,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: 15\r\nConnection: close\r\n\r\nmetric_total 1\n"
        );
        assert_eq!(h.renders, 1);
        assert_eq!(h.server.stats().responses, 1);
        assert_eq!(
            h.server.connections(),
            1,
            "lingering until the client closes"
        );
        h.pump();
        assert_eq!(h.server.connections(), 0, "closed once the client closed");
    }

    #[test]
    fn head_tells_the_length_without_the_body() {
        let mut h = Harness::new(HttpConfig::default());
        let response = h.exchange(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("Content-Length: 15\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\n"), "{response}");
    }

    #[test]
    fn anything_but_get_metrics_is_refused_without_rendering() {
        let mut h = Harness::new(HttpConfig::default());
        let cases: [(&[u8], &str); 7] = [
            (b"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            (b"GET /metricsx HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            (
                b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
                "HTTP/1.1 405 Method Not Allowed",
            ),
            (
                b"GET /metrics HTTP/2.0\r\n\r\n",
                "HTTP/1.1 505 HTTP Version Not Supported",
            ),
            (b"GET /metrics\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            (
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n",
                "HTTP/1.1 400 Bad Request",
            ),
            (
                b"GET  /metrics HTTP/1.1\r\n\r\n",
                "HTTP/1.1 400 Bad Request",
            ),
        ];
        for (request, status) in cases {
            let response = h.exchange(request);
            assert_eq!(
                status_of(&response),
                status,
                "{:?}",
                String::from_utf8_lossy(request)
            );
        }
        assert!(h
            .exchange(b"PUT /metrics HTTP/1.1\r\n\r\n")
            .contains("Allow: GET, HEAD\r\n"));
        assert_eq!(h.renders, 0);
    }

    #[test]
    fn a_request_trickling_in_byte_by_byte_is_served() {
        let mut h = Harness::new(HttpConfig::default());
        let mut client = h.connect();
        client.set_nodelay(true).unwrap();
        for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" {
            client.write_all(&[*byte]).unwrap();
            h.pump();
        }
        assert_eq!(status_of(&read_to_close(&mut client)), "HTTP/1.1 200 OK");
    }

    #[test]
    fn an_oversized_request_gets_431_and_the_response_survives_the_unread_rest() {
        let config = HttpConfig {
            max_request_bytes: 1024,
            ..HttpConfig::default()
        };
        let mut h = Harness::new(config);
        let mut client = h.connect();
        let mut request = b"GET /metrics HTTP/1.1\r\n".to_vec();
        request.extend(std::iter::repeat_n(b'x', 64 * 1024));
        client.write_all(&request).unwrap();
        h.pump();
        // Everything past the limit was read and discarded while lingering, not reset.
        let response = read_to_close(&mut client);
        assert_eq!(
            status_of(&response),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        assert_eq!(h.renders, 0);
    }

    #[test]
    fn a_client_that_never_speaks_is_closed_at_its_deadline_and_stalls_nobody() {
        let mut h = Harness::new(HttpConfig::default());
        let mut silent = h.connect();
        h.pump();
        assert_eq!(h.server.connections(), 1);
        assert_eq!(
            h.server.next_deadline(),
            Some(h.now + DEFAULT_REQUEST_TIMEOUT)
        );
        // Others are served meanwhile.
        let response = h.exchange(b"GET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&response), "HTTP/1.1 200 OK");
        h.expire(DEFAULT_REQUEST_TIMEOUT - Duration::from_millis(1));
        assert_eq!(h.server.connections(), 1, "not before its deadline");
        h.expire(DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(h.server.connections(), 0);
        assert_eq!(h.server.stats().timed_out, 1);
        assert_eq!(h.server.next_deadline(), None);
        assert_eq!(read_to_close(&mut silent), "", "closed without a word");
    }

    #[test]
    fn connections_past_the_cap_are_closed_at_once() {
        let config = HttpConfig {
            max_connections: 2,
            ..HttpConfig::default()
        };
        let mut h = Harness::new(config);
        let _a = h.connect();
        let _b = h.connect();
        let mut c = h.connect();
        h.pump();
        assert_eq!(h.server.connections(), 2);
        assert_eq!(h.server.stats().refused, 1);
        let mut rest = Vec::new();
        assert!(matches!(c.read_to_end(&mut rest), Ok(0) | Err(_)));
        // A slot freed is a slot reused.
        h.expire(DEFAULT_REQUEST_TIMEOUT);
        let response = h.exchange(b"GET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&response), "HTTP/1.1 200 OK");
    }

    #[test]
    fn a_large_response_is_written_across_many_events() {
        let mut h = Harness::new(HttpConfig::default());
        h.body = (0..8 << 20).map(|i| b'a' + (i % 26) as u8).collect();
        let mut client = h.connect();
        client.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        client.set_nonblocking(true).unwrap();
        let mut response = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        'exchange: loop {
            h.pump();
            loop {
                match client.read(&mut chunk) {
                    Ok(0) => break 'exchange,
                    Ok(n) => response.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        let split = memchr::memmem::find(&response, b"\r\n\r\n").unwrap() + 4;
        assert_eq!(&response[split..], &h.body[..]);
        assert_eq!(h.renders, 1);
    }

    #[test]
    fn a_reader_that_stops_reading_is_closed_when_writing_stalls() {
        let mut h = Harness::new(HttpConfig::default());
        h.body = vec![b'x'; 32 << 20];
        let mut client = h.connect();
        client.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        h.pump();
        assert_eq!(h.server.connections(), 1, "still writing");
        h.expire(DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(h.server.connections(), 0);
        assert_eq!(h.server.stats().timed_out, 1);
    }

    #[test]
    fn end_of_headers_is_found_across_reads() {
        let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        for split in 1..request.len() {
            assert_eq!(parse_request(&request[..split], 0), Parse::Incomplete);
            assert_eq!(
                parse_request(request, split),
                Parse::Done(Route::Metrics),
                "split at {split}"
            );
        }
        assert_eq!(
            parse_request(b"GET /metrics HTTP/1.0\n\n", 0),
            Parse::Done(Route::Metrics)
        );
    }
}
