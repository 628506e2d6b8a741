//! The bare serde_json echo, shared by `benches/micro.rs` and the process benchmark's
//! `--bare-loop`: the least work serde_json allows for an echo, one typed, borrowed parse of
//! the line and one serialization of the reply. It checks nothing, and a line without an
//! `echo` is answered as an `init`. mionode's echo path is compared against it.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct In<'a> {
    #[serde(borrow)]
    src: &'a str,
    #[serde(borrow)]
    dest: &'a str,
    #[serde(borrow)]
    body: InBody<'a>,
}

#[derive(Deserialize)]
struct InBody<'a> {
    msg_id: u64,
    #[serde(borrow)]
    echo: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct Out<'a> {
    src: &'a str,
    dest: &'a str,
    body: OutBody<'a>,
}

#[derive(Serialize)]
struct OutBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    echo: Option<&'a RawValue>,
    msg_id: u64,
    in_reply_to: u64,
}

/// Writes the answer to `line`, newline-terminated, with `msg_id` as its own.
pub fn answer(line: &str, msg_id: u64, mut out: impl Write) -> io::Result<()> {
    let req: In = serde_json::from_str(line).map_err(io::Error::other)?;
    let kind = if req.body.echo.is_some() {
        "echo_ok"
    } else {
        "init_ok"
    };
    let reply = Out {
        src: req.dest,
        dest: req.src,
        body: OutBody {
            kind,
            echo: req.body.echo,
            msg_id,
            in_reply_to: req.body.msg_id,
        },
    };
    serde_json::to_writer(&mut out, &reply)?;
    out.write_all(b"\n")
}
