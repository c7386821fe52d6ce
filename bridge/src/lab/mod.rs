//! The lab's server, for real: Task 1 (connect), Task 2 (greet), Task 3
//! (echo) over TCP, and a UDP echo server.
//!
//! - [`LabServer`] (in `tcp.rs`): binds, `listen(backlog)`s and accepts on a
//!   real `TcpListener`, one task per client, every step traced.
//! - [`UdpEchoServer`] (in `udp.rs`): `recvfrom` / `sendto`, one datagram
//!   back per datagram received.
//! - [`LabConfig`] and [`LabLimits`]: what a server does and how much a
//!   client may ask of it.
//! - [`LabControl`]: pauses and resumes `accept()` while the server runs.
//! - [`LabArgs`] (in `args.rs`): the `socket-lab` flags for the public lab
//!   server, and [`start_public`] (in `public.rs`), which binds and runs it.

mod args;
mod public;
mod tcp;
mod udp;

pub use args::LabArgs;
pub use public::{PublicLab, start_public};
pub use tcp::LabServer;
pub use udp::UdpEchoServer;

use protocol::{DEFAULT_BACKLOG, DEFAULT_GREETING, Mode, ServerId};
use std::time::Duration;
use tokio::sync::watch;

/// What a lab server does, and its bounds.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The id its trace events carry ([`protocol::PUBLIC_SERVER`] for the
    /// public one).
    pub id: ServerId,
    /// Which of the lab's tasks it plays.
    pub mode: Mode,
    /// `listen(backlog)`: how many finished handshakes the kernel queues
    /// while nobody calls `accept()`.
    pub backlog: u32,
    /// What Task 2 sends each client.
    pub greeting: Vec<u8>,
    pub limits: LabLimits,
}

impl LabConfig {
    /// A server for `mode` with the lab's defaults (backlog 5).
    pub fn new(id: ServerId, mode: Mode) -> LabConfig {
        LabConfig {
            id,
            mode,
            backlog: DEFAULT_BACKLOG,
            greeting: DEFAULT_GREETING.as_bytes().to_vec(),
            limits: LabLimits::default(),
        }
    }
}

/// How much any one client, or all of them, may ask of a lab server.
#[derive(Debug, Clone, Copy)]
pub struct LabLimits {
    /// Clients served at once; the rest wait in the backlog (a permit is
    /// taken *before* `accept()`, so the limit is real).
    pub max_connections: usize,
    /// The most bytes one `recv()` asks for (the Python lab's `recv(1024)`).
    pub max_read: usize,
    /// A client that sends nothing (or reads nothing we send) for this long
    /// is disconnected, so it cannot hold the server.
    pub idle_timeout: Duration,
}

impl LabLimits {
    /// The most clients a server may be asked to serve at once. A
    /// `Semaphore` panics above `Semaphore::MAX_PERMITS`; a lab needs far
    /// fewer, and each client costs a buffer of `max_read` bytes.
    pub const MAX_CONNECTIONS: usize = 65_536;
    /// The largest `recv()` buffer we allocate per client (1 MiB).
    pub const MAX_READ: usize = 1024 * 1024;

    /// These limits with every value in its sane range: at least one
    /// client, at least one byte per read, and a non-zero idle timeout (a
    /// zero timeout would drop every client before its first byte).
    pub fn clamped(self) -> LabLimits {
        LabLimits {
            max_connections: self.max_connections.clamp(1, Self::MAX_CONNECTIONS),
            max_read: self.max_read.clamp(1, Self::MAX_READ),
            idle_timeout: self.idle_timeout.max(Duration::from_millis(1)),
        }
    }
}

impl Default for LabLimits {
    fn default() -> Self {
        LabLimits {
            max_connections: 256,
            max_read: 16 * 1024,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Pauses and resumes a running server's `accept()` calls. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LabControl {
    /// `true` while paused. A watch channel, so the accept loop sees the
    /// latest value and wakes when it changes.
    paused: watch::Sender<bool>,
}

impl LabControl {
    fn new() -> (LabControl, watch::Receiver<bool>) {
        let (paused, rx) = watch::channel(false);
        (LabControl { paused }, rx)
    }

    /// Stops calling `accept()` (true) or starts again (false). Clients that
    /// connect meanwhile wait in the kernel's backlog queue.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Whether `accept()` is paused now.
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }
}
