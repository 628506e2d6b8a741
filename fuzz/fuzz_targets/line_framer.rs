//! `LineFramer` against a model: splitting on `\n`, with the max-line rule.
//!
//! Input: byte 0 is the maximum line length (0 to 255), byte 1 seeds the sizes of the reads
//! (1 to 40 bytes, and now and then a `WouldBlock` error, after which `fill` must be safe to
//! call again), and the rest is the stream.
//!
//! Asserted: the frames are exactly the `\n`-terminated lines of the stream, in order, each a
//! `Line` with its bytes when it is at most the maximum and a `TooLong` with its length
//! otherwise; at end of input an unterminated last line comes back whole from `take_rest` when
//! it is at most the maximum, else it is reported by `discarding` with its length and nothing
//! of it is kept.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use mionode::stdio::{Frame, LineFramer};

/// Hands out the stream in pieces of pseudo-random size, with an occasional `WouldBlock`.
struct Reader<'a> {
    data: &'a [u8],
    state: u32,
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A linear congruential generator: deterministic for a given input, cheap, and the
        // seed byte lets the fuzzer pick among many chunkings of the same stream.
        self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let size = (self.state >> 16) as usize % 41;
        if size == 0 && !self.data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Line(Vec<u8>),
    TooLong(usize),
}

fuzz_target!(|input: &[u8]| {
    let [max, seed, stream @ ..] = input else {
        return;
    };
    let max = usize::from(*max);

    let mut expected: Vec<Owned> = Vec::new();
    let mut pieces = stream.split(|&b| b == b'\n');
    let last = pieces.next_back().unwrap_or_default();
    for line in pieces {
        expected.push(if line.len() > max {
            Owned::TooLong(line.len())
        } else {
            Owned::Line(line.to_vec())
        });
    }

    let mut framer = LineFramer::new(max);
    let mut reader = Reader {
        data: stream,
        state: u32::from(*seed),
    };
    let mut got = Vec::new();
    loop {
        match framer.fill(&mut reader) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("unexpected read error {e}"),
        }
        while let Some(frame) = framer.next_frame() {
            got.push(match frame {
                Frame::Line(line) => Owned::Line(line.to_vec()),
                Frame::TooLong(len) => Owned::TooLong(len),
            });
        }
    }
    assert_eq!(got, expected, "max {max}");

    let discarding = framer.discarding();
    let rest = framer.take_rest();
    if last.len() > max {
        assert_eq!(discarding, Some(last.len()), "over-long last line");
        assert!(
            rest.is_empty(),
            "kept {} bytes of a discarded line",
            rest.len()
        );
    } else {
        assert_eq!(discarding, None, "max {max}");
        assert_eq!(rest, last);
    }
});
