//! Helpers shared by the lab server's integration tests: start a server on
//! port 0 with a subscriber attached *before* `bind`, read its trace, and
//! put a time limit on every wait so a bug fails a test instead of hanging
//! it.

#![allow(dead_code)] // each test file uses its own subset

use bridge::clock::Clock;
use bridge::lab::{LabConfig, LabControl, LabServer};
use bridge::trace::{self, Tracer};
use protocol::{Mode, Step, TraceEvent};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest any single wait in a test may take before the test fails.
/// A guard against hangs, not a delay: passing tests never reach it.
pub const GUARD: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test if it takes longer than [`GUARD`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(GUARD, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {GUARD:?} waiting for {what}"),
    }
}

/// Reports `test` as skipped, and why: a line `SKIPPED <test>: <why>` on
/// the real standard error (written past the test harness's capture, which
/// takes only `print!`/`eprint!`), which `scripts/cargo-test-summary.sh`
/// counts as skipped rather than passed. The test returns right after.
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// A step and the connection it belongs to (None: the listening socket).
/// Time stamps vary from run to run, so tests compare these.
pub type Seen = (Option<u64>, Step);

/// A tracer for server `id`, and a receiver subscribed before anything
/// happened, so it sees `socket`, `bind` and `listen` too.
pub fn tracer(id: u32) -> (Tracer, broadcast::Receiver<TraceEvent>) {
    let tracer = Tracer::new(Clock::start(), id, trace::channel());
    let events = tracer.subscribe();
    (tracer, events)
}

/// A lab server for `mode` with the lab's defaults, changed by `adjust`.
pub fn config(mode: Mode, adjust: impl FnOnce(&mut LabConfig)) -> LabConfig {
    let mut config = LabConfig::new(1, mode);
    adjust(&mut config);
    config
}

/// A lab server bound to `addr` and running in a task.
pub struct Running {
    pub addr: SocketAddr,
    pub control: LabControl,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
}

impl Running {
    /// Starts `server` running.
    pub fn spawn(server: LabServer) -> Running {
        let shutdown = CancellationToken::new();
        Running {
            addr: server.local_addr(),
            control: server.control(),
            shutdown: shutdown.clone(),
            task: tokio::spawn(server.run(shutdown)),
        }
    }

    /// Cancels the server and waits for `run` to return.
    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the server to stop", self.task)
            .await
            .expect("run() does not panic");
    }
}

/// Binds `config` on 127.0.0.1:0 and runs it; returns it and its trace.
pub fn start(config: LabConfig) -> (Running, broadcast::Receiver<TraceEvent>) {
    let (tracer, events) = tracer(config.id);
    let server =
        LabServer::bind(([127, 0, 0, 1], 0).into(), config, tracer).expect("bind 127.0.0.1:0");
    (Running::spawn(server), events)
}

/// The next event's connection and step.
pub async fn next(events: &mut broadcast::Receiver<TraceEvent>) -> Seen {
    let event = within("a trace event", events.recv())
        .await
        .expect("the trace stream neither lags nor closes here");
    (event.server_conn, event.step)
}

/// Events up to and including the first for which `last` holds.
pub async fn until(
    events: &mut broadcast::Receiver<TraceEvent>,
    last: impl Fn(&Seen) -> bool,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    loop {
        let event = next(events).await;
        let done = last(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

/// Events up to and including connection `conn`'s `close()`.
pub async fn until_closed(events: &mut broadcast::Receiver<TraceEvent>, conn: u64) -> Vec<Seen> {
    until(events, |(c, step)| *c == Some(conn) && *step == Step::Close).await
}

/// The three steps every TCP lab server starts with.
pub fn opening(addr: SocketAddr, backlog: u32) -> Vec<Seen> {
    let family = if addr.is_ipv4() {
        protocol::Family::Ipv4
    } else {
        protocol::Family::Ipv6
    };
    vec![
        (
            None,
            Step::Socket {
                family,
                transport: protocol::Transport::Tcp,
            },
        ),
        (
            None,
            Step::Bind {
                addr: addr.to_string(),
                asked: None,
            },
        ),
        (None, Step::Listen { backlog }),
    ]
}

/// `accept()` of connection `conn` from `peer` on `local`, and the lab's
/// print line that follows it.
pub fn accepted(conn: u64, peer: SocketAddr, local: SocketAddr) -> Vec<Seen> {
    vec![
        (
            Some(conn),
            Step::Accept {
                peer: peer.to_string(),
                local: local.to_string(),
            },
        ),
        (
            Some(conn),
            Step::Print {
                text: protocol::connection_established(&peer.to_string()),
            },
        ),
    ]
}

pub fn recv(conn: u64, bytes: &[u8]) -> Seen {
    (Some(conn), Step::Recv { data: bytes.into() })
}

pub fn send(conn: u64, bytes: &[u8]) -> Seen {
    (Some(conn), Step::Send { data: bytes.into() })
}
