//! [`Clock`]: the bridge's one monotonic clock.
//!
//! Every [`TraceEvent`](protocol::TraceEvent) is stamped here, on the native
//! side, in microseconds since the bridge started. The page never reads a
//! clock of its own for the trace, so both lanes share one time line.

use std::time::Instant;

/// Microseconds since the bridge started. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// Starts the clock at zero, now.
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Microseconds since [`Clock::start`]; never goes backwards.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::start()
    }
}
