//! `mionode-load serve`: started on a free port over a store of rendered runs, it answers the
//! list of runs (newest first), a run's page and its files with their content types, redirects
//! a directory to its trailing slash, and serves nothing outside the store.

mod views_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mionode::harness::views::{render, ViewOptions};

/// The server, killed when the test ends however it ends.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mionode-load serve STORE --port 0` and reads the address it prints.
fn start(store: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mionode-load"))
        .arg("serve")
        .arg(store)
        .args(["--port", "0"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.trim().trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Server { child, addr }
}

/// One request; the status line, the headers and the body.
fn get(addr: SocketAddr, target: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

#[test]
fn serve_answers_the_list_of_runs_and_a_run_page() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    for (name, valid) in [
        ("echo/20261202T090000.000Z", true),
        ("mixed/20261202T100000.000Z", false),
    ] {
        let dir = store.join(name);
        views_support::write_run(&dir, 3, valid);
        render(
            &dir,
            &ViewOptions {
                max_messages: 40,
                ..ViewOptions::default()
            },
        )
        .unwrap();
    }
    std::fs::write(tmp.path().join("secret"), "not yours").unwrap();
    let server = start(&store);

    let (status, headers, body) = get(server.addr, "/");
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert!(headers.contains("Content-Type: text/html"), "{headers}");
    let newer = body
        .find("mixed/20261202T100000.000Z/index.html")
        .expect("the newer run");
    let older = body
        .find("echo/20261202T090000.000Z/index.html")
        .expect("the older run");
    assert!(newer < older, "newest first:\n{body}");
    assert!(body.contains("INVALID"), "{body}");

    let (status, _, body) = get(server.addr, "/mixed/20261202T100000.000Z/index.html");
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert!(body.contains("<img src=\"latency-raw.svg\""), "{body}");
    let (status, headers, _) = get(server.addr, "/mixed/20261202T100000.000Z");
    assert_eq!(status, "HTTP/1.0 301 Moved Permanently");
    assert!(
        headers.contains("Location: /mixed/20261202T100000.000Z/"),
        "{headers}"
    );
    let (status, _, page) = get(server.addr, "/mixed/20261202T100000.000Z/");
    assert_eq!((status.as_str(), page), ("HTTP/1.0 200 OK", body));

    let (status, headers, svg) = get(server.addr, "/mixed/20261202T100000.000Z/messages.svg");
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert!(headers.contains("Content-Type: image/svg+xml"), "{headers}");
    assert!(
        headers.contains(&format!("Content-Length: {}", svg.len())),
        "{headers}"
    );
    let (_, headers, log) = get(server.addr, "/echo/20261202T090000.000Z/node-logs/n1.log");
    assert!(headers.contains("Content-Type: text/plain"), "{headers}");
    assert_eq!(log, "n1 started\n");
    let (status, _, listing) = get(server.addr, "/echo/20261202T090000.000Z/node-logs/");
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert!(listing.contains("href=\"n2.log\""), "{listing}");

    for outside in [
        "/../secret",
        "/echo/../../secret",
        "/%2e%2e/secret",
        "/nothing.html",
    ] {
        let (status, _, body) = get(server.addr, outside);
        assert_eq!(status, "HTTP/1.0 404 Not Found", "{outside}");
        assert!(!body.contains("not yours"));
    }
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(b"DELETE / HTTP/1.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.0 405"), "{response}");
}

#[test]
fn an_overlong_request_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
    // The server may close before reading it all; only its answer matters.
    let _ = stream.write_all(long.as_bytes());
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.0 431"), "{response}");
    let (status, _, body) = get(server.addr, "/");
    assert_eq!(status, "HTTP/1.0 200 OK", "still serving after it");
    assert!(body.contains("0 runs"), "{body}");
}
