//! The one-pass scan against serde_json on arbitrary input: whenever `scan::scan` reads a line,
//! `Incoming::parse` (serde_json's two passes) reads the same message from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mionode::protocol::Incoming;
use mionode::scan::scan;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let line = text.trim_ascii();
    if let Some(fast) = scan(line) {
        match Incoming::parse(line) {
            Ok(careful) => assert_eq!(fast, careful, "{line}"),
            Err(e) => panic!("the scan read a line serde_json refuses ({e}): {line}"),
        }
    }
});
