//! `mionode-load serve [STORE] [--port P]`: the store in a browser, as `maelstrom serve`.
//!
//! A small blocking HTTP server on 127.0.0.1, one connection at a time on one thread, in the
//! manner of HTTP/1.0: it reads one request, answers it and closes the connection
//! (`Connection: close`). It is meant for one person looking at their own runs, not for a
//! network: it binds only the loopback address, answers only `GET` and `HEAD`, reads at most
//! [`MAX_REQUEST`] bytes of request head and gives a slow client [`IO_TIMEOUT`].
//!
//! What it serves: `/` lists the runs of the store newest first
//! ([`views::store_page`]); every other path is a file or directory under the store. A
//! directory's URL ends in `/` (a request without it is redirected, so the relative links of
//! a run's `index.html` resolve); it shows its `index.html` if it has one, else a listing.
//! Nothing outside the store is served: a path with a `..` component is refused, and a path
//! whose real location (after symbolic links such as `store/latest`) is outside the store is
//! not found.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mionode::harness::views;

/// The subcommand's name, as the first argument of `mionode-load`.
pub const SUBCOMMAND: &str = "serve";

/// The port `maelstrom serve` uses, and so ours by default.
const DEFAULT_PORT: u16 = 8080;
/// The longest request head read; a longer one gets 431.
const MAX_REQUEST: usize = 8 * 1024;
/// How long a client may take to send its request or to take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the rest of a refused request is read and dropped after the answer.
const LINGER: Duration = Duration::from_millis(500);

/// `mionode-load serve`: serves a store of runs on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(
    name = "mionode-load serve",
    about = "Serves a store of runs on 127.0.0.1: / lists the runs newest first, each links \
             to its page. Prints the address it listens on to stderr."
)]
pub struct ServeArgs {
    /// The store directory: runs are found up to three levels down.
    #[arg(default_value = "store")]
    pub store: PathBuf,

    /// The port to listen on; 0 picks a free one (the address printed says which).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
}

/// Runs the subcommand with `args` (the words after `serve`); serves until killed.
pub fn main(args: impl Iterator<Item = OsString>) -> ExitCode {
    let args =
        ServeArgs::parse_from(std::iter::once(OsString::from("mionode-load serve")).chain(args));
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "mionode-load serve: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: &ServeArgs) -> io::Result<()> {
    let root = fs::canonicalize(&args.store)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", args.store.display())))?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))?;
    let _ = writeln!(
        io::stderr(),
        "mionode-load serve: serving {} at http://{}/",
        root.display(),
        listener.local_addr()?
    );
    // A failed accept (the client gave up, too many files open) costs only that client, and
    // a failed answer only that request.
    for stream in listener.incoming().flatten() {
        let _ = handle(stream, &root);
    }
    Ok(())
}

/// An answer: status line, content type and body.
struct Response {
    status: &'static str,
    content_type: &'static str,
    body: Body,
    location: Option<String>,
}

enum Body {
    Text(String),
    File(File, u64),
}

impl Response {
    fn text(status: &'static str, content_type: &'static str, text: String) -> Response {
        Response {
            status,
            content_type,
            body: Body::Text(text),
            location: None,
        }
    }

    fn error(status: &'static str) -> Response {
        Response::text(status, "text/plain; charset=utf-8", format!("{status}\n"))
    }
}

fn handle(mut stream: TcpStream, root: &Path) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let (response, head_only) = match read_head(&mut stream)? {
        None => (
            Response::error("431 Request Header Fields Too Large"),
            false,
        ),
        Some(head) => match parse_request_line(&head) {
            Err(status) => (Response::error(status), false),
            Ok(request) => (answer(root, &request), request.method == "HEAD"),
        },
    };
    write_response(&mut stream, response, head_only)?;
    linger(&mut stream);
    Ok(())
}

/// Closes our side and reads what the client still sends, up to [`MAX_REQUEST`] bytes or
/// [`LINGER`]: closing a socket with unread bytes makes the kernel reset the connection, and
/// a client that is still writing (an overlong request) would lose the answer.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let _ = io::copy(&mut stream.take(MAX_REQUEST as u64 * 4), &mut io::sink());
}

/// Reads up to the blank line that ends the request head; `None` if it is longer than
/// [`MAX_REQUEST`].
fn read_head(stream: &mut TcpStream) -> io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_REQUEST {
            return Ok(None);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

/// A request: its method, its path as sent and decoded.
#[derive(Debug, PartialEq)]
struct Request {
    method: String,
    raw: String,
    path: String,
}

/// The request of a request line, or the status that refuses it.
fn parse_request_line(head: &str) -> Result<Request, &'static str> {
    let line = head.lines().next().unwrap_or("");
    let mut words = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return Err("400 Bad Request");
    };
    if !version.starts_with("HTTP/1.") {
        return Err("505 HTTP Version Not Supported");
    }
    if method != "GET" && method != "HEAD" {
        return Err("405 Method Not Allowed");
    }
    let raw = target.split(['?', '#']).next().unwrap_or("");
    let path = percent_decode(raw).ok_or("400 Bad Request")?;
    if !path.starts_with('/') {
        return Err("400 Bad Request");
    }
    Ok(Request {
        method: method.to_string(),
        raw: raw.to_string(),
        path,
    })
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The answer to a `GET` of the request's path.
fn answer(root: &Path, request: &Request) -> Response {
    let path = request.path.as_str();
    if path == "/" {
        return match views::store_page(root) {
            Ok(html) => Response::text("200 OK", "text/html; charset=utf-8", html),
            Err(_) => Response::error("500 Internal Server Error"),
        };
    }
    let Some(file) = resolve(root, path) else {
        return Response::error("404 Not Found");
    };
    if file.is_dir() {
        if !path.ends_with('/') {
            let mut r = Response::error("301 Moved Permanently");
            r.location = Some(format!("{}/", request.raw));
            return r;
        }
        let index = file.join(views::INDEX);
        if !index.is_file() {
            return match views::listing_page(&file, path) {
                Ok(html) => Response::text("200 OK", "text/html; charset=utf-8", html),
                Err(_) => Response::error("403 Forbidden"),
            };
        }
        return send_file(&index);
    }
    send_file(&file)
}

fn send_file(path: &Path) -> Response {
    match File::open(path).and_then(|f| Ok((f.metadata()?.len(), f))) {
        Ok((len, file)) => Response {
            status: "200 OK",
            content_type: content_type(path),
            body: Body::File(file, len),
            location: None,
        },
        Err(_) => Response::error("403 Forbidden"),
    }
}

/// The file under `root` that `path` names, if there is one and it really is under `root`
/// (after following symbolic links). `..` components are refused outright.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let mut file = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." || part.contains('\\') || part.contains('\0') {
            return None;
        }
        file.push(part);
    }
    let real = fs::canonicalize(&file).ok()?;
    real.starts_with(root).then_some(real)
}

/// The content type of a file of the store, by its extension. Records and logs are shown as
/// text, so that a browser displays them instead of downloading them.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "css" => "text/css; charset=utf-8",
        "jsonl" | "log" | "txt" | "edn" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn write_response(stream: &mut TcpStream, response: Response, head_only: bool) -> io::Result<()> {
    let len = match &response.body {
        Body::Text(text) => text.len() as u64,
        Body::File(_, len) => *len,
    };
    let mut head = format!(
        "HTTP/1.0 {}\r\nContent-Type: {}\r\nContent-Length: {len}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\n",
        response.status, response.content_type
    );
    if let Some(location) = &response.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        match response.body {
            Body::Text(text) => stream.write_all(text.as_bytes())?,
            Body::File(mut file, _) => {
                io::copy(&mut file, stream)?;
            }
        }
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let get = |l: &str| parse_request_line(l).map(|r| (r.method, r.raw, r.path));
        let ok = |m: &str, raw: &str, path: &str| Ok((m.into(), raw.into(), path.into()));
        assert_eq!(
            get("GET /a%20b/?x=1 HTTP/1.1\r\n"),
            ok("GET", "/a%20b/", "/a b/")
        );
        assert_eq!(get("HEAD / HTTP/1.0\r\n"), ok("HEAD", "/", "/"));
        assert_eq!(get("POST / HTTP/1.1\r\n"), Err("405 Method Not Allowed"));
        assert_eq!(get("GET /%zz HTTP/1.1\r\n"), Err("400 Bad Request"));
        assert_eq!(get("GET http://x/ HTTP/1.1\r\n"), Err("400 Bad Request"));
        assert_eq!(
            get("GET / SPDY/3\r\n"),
            Err("505 HTTP Version Not Supported")
        );
        assert_eq!(get("\r\n"), Err("400 Bad Request"));
    }

    #[test]
    fn nothing_outside_the_store_resolves() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap().join("store");
        fs::create_dir_all(root.join("run")).unwrap();
        fs::write(root.join("run/index.html"), "").unwrap();
        fs::write(tmp.path().join("secret"), "").unwrap();
        assert_eq!(
            resolve(&root, "/run/index.html"),
            Some(root.join("run/index.html"))
        );
        assert_eq!(resolve(&root, "/run/../run/index.html"), None);
        assert_eq!(resolve(&root, "/../secret"), None);
        assert_eq!(resolve(&root, "/missing"), None);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("out")).unwrap();
            std::os::unix::fs::symlink("run", root.join("latest")).unwrap();
            assert_eq!(resolve(&root, "/out"), None);
            assert_eq!(
                resolve(&root, "/latest/index.html"),
                Some(root.join("run/index.html"))
            );
        }
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(content_type(Path::new("a/messages.svg")), "image/svg+xml");
        assert_eq!(
            content_type(Path::new("node-logs/n0.log")),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("bin")), "application/octet-stream");
    }
}
