//! Each simulated node's log, captured: the `log` facade's records go into the buffer of the
//! node being stepped, stamped with virtual time, and end up in `node-logs/<id>.log` as
//! Maelstrom keeps each node's stderr.
//!
//! The `log` facade has one logger per process; [`install`] makes it this one (once; if the
//! process already has another logger, capture is off and [`install`] says so). The
//! simulator marks the thread as capturing ([`Capture`]), sets the virtual time before each
//! step, and takes what was written after it ([`take`]). Buffers are thread-local, so tests
//! simulating on several threads at once do not mix their logs. Nothing here reads a clock:
//! the stamp is the simulator's virtual time.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::Once;

use log::{LevelFilter, Log, Metadata, Record};

use crate::harness::record::Nanos;

thread_local! {
    /// Whether this thread is simulating (else records are dropped).
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// The virtual time stamped on records.
    static NOW: Cell<Nanos> = const { Cell::new(0) };
    /// What was logged since the last [`take`].
    static BUFFER: Cell<String> = const { Cell::new(String::new()) };
}

/// The logger that writes into the thread's buffer.
struct SimLogger;

static LOGGER: SimLogger = SimLogger;
static INSTALL: Once = Once::new();

impl Log for SimLogger {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        ACTIVE.with(Cell::get)
    }

    fn log(&self, record: &Record<'_>) {
        if !ACTIVE.with(Cell::get) {
            return;
        }
        let now = NOW.with(Cell::get);
        BUFFER.with(|b| {
            let mut text = b.take();
            // Writing into a String cannot fail.
            let _ = writeln!(
                text,
                "{}.{:09} {:<5} {}: {}",
                now / 1_000_000_000,
                now % 1_000_000_000,
                record.level(),
                record.target(),
                record.args()
            );
            b.set(text);
        });
    }

    fn flush(&self) {}
}

/// Makes the capturing logger the process's logger, at `level`. Returns false when another
/// logger was installed first (records then go there, not into node logs).
pub fn install(level: LevelFilter) -> bool {
    let mut ours = false;
    INSTALL.call_once(|| ours = log::set_logger(&LOGGER).is_ok());
    log::set_max_level(level);
    ours || log::logger() as *const dyn Log as *const () == &LOGGER as *const SimLogger as *const ()
}

/// Capture on this thread while it lives; off (and the buffer cleared) when dropped.
pub struct Capture(());

impl Capture {
    /// Starts capturing on this thread.
    pub fn start() -> Capture {
        ACTIVE.with(|a| a.set(true));
        BUFFER.with(Cell::take);
        Capture(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(false));
        BUFFER.with(Cell::take);
    }
}

/// Sets the virtual time stamped on the next records.
pub fn set_now(now: Nanos) {
    NOW.with(|n| n.set(now));
}

/// Appends what was logged since the last call to `into`.
pub fn take(into: &mut String) {
    BUFFER.with(|b| {
        let text = b.take();
        if into.is_empty() {
            *into = text;
        } else {
            into.push_str(&text);
            b.set(String::new());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_land_in_the_buffer_only_while_capturing() {
        assert!(install(LevelFilter::Info));
        log::info!("before");
        let capture = Capture::start();
        set_now(1_500_000_000);
        log::info!(target: "node", "hello {}", 7);
        log::debug!("below the level");
        let mut out = String::new();
        take(&mut out);
        assert_eq!(out, "1.500000000 INFO  node: hello 7\n");
        drop(capture);
        log::info!("after");
        let mut out = String::new();
        take(&mut out);
        assert_eq!(out, "");
    }
}
