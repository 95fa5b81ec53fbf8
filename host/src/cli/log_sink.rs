//! Where log lines go: stderr, through a writer that never fails. A log line that cannot be
//! written (stderr on a full disk, a closed pipe, `/dev/full`) is dropped and counted in
//! `weaver_log_write_errors_total`; the process carries on. tracing-subscriber reports a failed
//! write with `eprintln!`, which panics when stderr itself is what failed: a full log disk used
//! to end `weaver serve` at start (exit 101) and kill requests and run tasks mid-way.
//!
//! # Invariants
//! - Writing a log line never returns an error and never panics.
//! - Every line lost is counted: [`lost`] in this process, and the counter
//!   `weaver_log_write_errors_total` once the metrics recorder is installed (it is set to the
//!   process's total at the next loss, so losses before the recorder existed are not missed).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::fmt::MakeWriter;

/// Log lines (writes) lost so far in this process.
static LOST: AtomicU64 = AtomicU64::new(0);

/// The log lines this process could not write.
pub fn lost() -> u64 {
    LOST.load(Ordering::Relaxed)
}

/// A [`MakeWriter`] for stderr that drops and counts failed writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Sink<std::io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        Sink(std::io::stderr())
    }
}

/// Writes to `W`; a failure is counted and reported as success.
#[derive(Debug)]
pub struct Sink<W>(pub W);

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.write_all(buf).is_err() {
            count_loss();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Stderr is unbuffered; a failed flush lost nothing a write did not already count.
        let _ = self.0.flush();
        Ok(())
    }
}

fn count_loss() {
    let total = LOST.fetch_add(1, Ordering::Relaxed) + 1;
    metrics::counter!("weaver_log_write_errors_total").absolute(total);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(28))
        }
    }

    #[test]
    fn failed_writes_are_counted_and_swallowed() {
        let before = lost();
        let mut sink = Sink(Full);
        assert_eq!(sink.write(b"a log line\n").expect("never fails"), 11);
        sink.write_all(b"another\n").expect("never fails");
        sink.flush().expect("never fails");
        assert!(lost() >= before + 2);
        let mut ok = Sink(Vec::new());
        ok.write_all(b"kept\n").expect("written");
        assert_eq!(ok.0, b"kept\n");
    }
}
