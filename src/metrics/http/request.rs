//! What a scraper asked for: the request line and headers parsed with `httparse`, routed, and
//! the response built. No sockets here; [`super`] drives the connections.
//!
//! # What it accepts
//!
//! `GET` or `HEAD` on [`METRICS_PATH`] (a query string is ignored) over HTTP/1.0 or 1.1, with
//! at most [`MAX_HEADERS`] well-formed headers whose values are not looked at. Anything else
//! gets a status and no rendering: another path 404, another method 405, a request line or a
//! header that does not parse 400, a version other than HTTP/1.0 or 1.1 505, more headers than
//! [`MAX_HEADERS`] 431. A request body is never read.

use std::io::Write;

/// The `Content-Type` of the Prometheus text exposition format.
pub const CONTENT_TYPE_METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The one path served.
pub const METRICS_PATH: &str = "/metrics";

/// Most headers a request may have; a scraper sends about five. More is answered 431.
pub const MAX_HEADERS: usize = 32;

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
    /// 400: the request line or a header does not parse.
    BadRequest,
    /// 404: a path other than `/metrics`.
    NotFound,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// 431: no end of headers within the size limit, or more than [`MAX_HEADERS`] headers.
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

/// Parses what has arrived of a request.
///
/// `scanned` is how many leading bytes an earlier call already searched for the end of the
/// headers. `httparse` starts over on every call, so it runs only once a blank line has
/// arrived past `scanned`: a request trickling in byte by byte costs linear, not quadratic,
/// time.
///
/// ```
/// use mionode::metrics::http::{parse_request, Parse, Route, Status};
///
/// assert_eq!(parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0), Parse::Done(Route::Metrics));
/// assert_eq!(parse_request(b"GET /metrics HTTP/1.1\r\nHost:", 0), Parse::Incomplete);
/// assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n", 0), Parse::Done(Route::Status(Status::NotFound)));
/// ```
pub fn parse_request(buf: &[u8], scanned: usize) -> Parse {
    // A blank line may straddle the old and new bytes: back up by its length less one.
    let from = scanned.saturating_sub(2);
    if !has_blank_line(&buf[from..]) {
        return Parse::Incomplete;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        // The blank line was not the end of the headers (empty lines before the request line
        // are skipped): wait for more, within the size limit and the deadline.
        Ok(httparse::Status::Partial) => return Parse::Incomplete,
        Err(httparse::Error::TooManyHeaders) => {
            return Parse::Done(Route::Status(Status::TooLarge))
        }
        Err(httparse::Error::Version) => return Parse::Done(Route::Status(version_status(buf))),
        Err(_) => return Parse::Done(Route::Status(Status::BadRequest)),
    }
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Parse::Done(Route::Status(Status::BadRequest));
    };
    Parse::Done(route(method, target))
}

/// Whether `buf` holds an empty line: `\n\n`, or `\n\r\n` (which `\r\n\r\n` contains).
fn has_blank_line(buf: &[u8]) -> bool {
    memchr::memmem::find(buf, b"\n\n").is_some() || memchr::memmem::find(buf, b"\n\r\n").is_some()
}

/// The status for a version `httparse` refused: an HTTP version we do not speak is 505,
/// anything else in its place a malformed request line.
fn version_status(buf: &[u8]) -> Status {
    let line_end = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
    let line = &buf[..line_end];
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(line);
    if version.starts_with(b"HTTP/") {
        Status::VersionNotSupported
    } else {
        Status::BadRequest
    }
}

fn route(method: &str, target: &str) -> Route {
    if !target.starts_with('/') {
        return Route::Status(Status::BadRequest);
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
pub(super) fn answer(route: Route, render: &mut dyn FnMut() -> Vec<u8>) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(request: &[u8]) -> Parse {
        parse_request(request, 0)
    }

    fn status(status: Status) -> Parse {
        Parse::Done(Route::Status(status))
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
            routed(b"GET /metrics HTTP/1.0\n\n"),
            Parse::Done(Route::Metrics)
        );
        assert_eq!(
            routed(b"GET /metrics HTTP/1.0\nHost: x\n\r\n"),
            Parse::Done(Route::Metrics)
        );
    }

    #[test]
    fn a_blank_line_before_the_request_line_is_not_its_end() {
        assert_eq!(
            routed(b"\r\n\r\nGET /metrics HTTP/1.1\r\n"),
            Parse::Incomplete
        );
        assert_eq!(
            routed(b"\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n"),
            Parse::Done(Route::Metrics)
        );
    }

    #[test]
    fn routes_and_refusals() {
        let cases: [(&[u8], Parse); 14] = [
            (
                b"GET /metrics?a=b HTTP/1.1\r\n\r\n",
                Parse::Done(Route::Metrics),
            ),
            (
                b"HEAD /metrics HTTP/1.0\r\n\r\n",
                Parse::Done(Route::MetricsHead),
            ),
            (b"GET /metricsx HTTP/1.1\r\n\r\n", status(Status::NotFound)),
            (b"GET /?/metrics HTTP/1.1\r\n\r\n", status(Status::NotFound)),
            (
                b"PUT /metrics HTTP/1.1\r\n\r\n",
                status(Status::MethodNotAllowed),
            ),
            (
                b"get /metrics HTTP/1.1\r\n\r\n",
                status(Status::MethodNotAllowed),
            ),
            (
                b"GET /metrics HTTP/2.0\r\n\r\n",
                status(Status::VersionNotSupported),
            ),
            (
                b"GET /metrics HTTP/1.10\r\n\r\n",
                status(Status::BadRequest),
            ),
            (b"GET /metrics FOO/1.1\r\n\r\n", status(Status::BadRequest)),
            (b"GET /metrics\r\n\r\n", status(Status::BadRequest)),
            (
                b"GET http://x/metrics HTTP/1.1\r\n\r\n",
                status(Status::BadRequest),
            ),
            (
                b"GET  /metrics HTTP/1.1\r\n\r\n",
                status(Status::BadRequest),
            ),
            (
                b"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
                status(Status::BadRequest),
            ),
            (
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n",
                status(Status::BadRequest),
            ),
        ];
        for (request, want) in cases {
            assert_eq!(
                routed(request),
                want,
                "{:?}",
                String::from_utf8_lossy(request)
            );
        }
    }

    #[test]
    fn headers_are_counted_not_read() {
        let mut request = b"GET /metrics HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            request.extend_from_slice(format!("X-{i}: any value; at=\"all\"\r\n").as_bytes());
        }
        let mut more = request.clone();
        request.extend_from_slice(b"\r\n");
        assert_eq!(routed(&request), Parse::Done(Route::Metrics));
        more.extend_from_slice(b"X-one-more: y\r\n\r\n");
        assert_eq!(routed(&more), status(Status::TooLarge));
    }

    #[test]
    fn responses_tell_length_and_close() {
        let head = response(Status::Ok, CONTENT_TYPE_METRICS, b"abc", true);
        assert_eq!(
            head,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
              Content-Length: 3\r\nConnection: close\r\n\r\n"
        );
        let refused = status_response(Status::MethodNotAllowed);
        let text = String::from_utf8(refused).unwrap();
        assert!(text.contains("Allow: GET, HEAD\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n405 Method Not Allowed\n"), "{text}");
    }
}
