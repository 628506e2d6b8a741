//! The responder over real loopback sockets, with its own poll and a hand-driven clock.

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
