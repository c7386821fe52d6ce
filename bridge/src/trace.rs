//! [`Tracer`]: how a lab server reports every step it takes.
//!
//! A lab server does not know who is watching. It sends each
//! [`TraceEvent`] into a `tokio::sync::broadcast` channel; every browser
//! session that takes part subscribes. A broadcast channel is bounded: a
//! session that falls behind loses the oldest events and is told how many
//! (it never makes the server wait, and never grows without bound).
//!
//! When nobody is subscribed, building an event (which copies the bytes of
//! every `recv`) would be wasted work, so [`Tracer::emit_data`] builds it
//! only when someone is listening. Each event is also logged through
//! `tracing`, the way the lab's Python server prints what it does.

use crate::clock::Clock;
use protocol::{Lane, ServerId, Step, TraceEvent};
use tokio::sync::broadcast;

/// How many events a lagging subscriber may fall behind before it loses
/// the oldest ones.
pub const TRACE_CAPACITY: usize = 1024;

/// The sending half of a lab server's event stream.
pub type TraceSender = broadcast::Sender<TraceEvent>;

/// Creates an event stream for one lab server.
pub fn channel() -> TraceSender {
    broadcast::channel(TRACE_CAPACITY).0
}

/// Stamps and publishes the steps of one lab server (the server lane).
#[derive(Debug, Clone)]
pub struct Tracer {
    clock: Clock,
    server: ServerId,
    /// Subscribers (browser sessions) receive from this. Cloning a
    /// `Tracer` shares the channel, so every connection task of a server
    /// publishes into the same stream.
    events: TraceSender,
}

impl Tracer {
    /// A tracer for the server `server`, publishing into `events`.
    pub fn new(clock: Clock, server: ServerId, events: TraceSender) -> Tracer {
        Tracer {
            clock,
            server,
            events,
        }
    }

    /// The lab server these events belong to.
    pub fn server(&self) -> ServerId {
        self.server
    }

    /// A new receiver of this server's events, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TraceEvent> {
        self.events.subscribe()
    }

    /// The clock events are stamped with.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Publishes a step of connection `server_conn` (None for the
    /// listening socket itself).
    pub fn emit(&self, server_conn: Option<u64>, step: Step) {
        log_step(self.server, server_conn, &step);
        if self.events.receiver_count() > 0 {
            self.publish(server_conn, step);
        }
    }

    /// Publishes a step that carries bytes (`recv`, `send`), building it only
    /// if anyone will see it: a subscriber, or a log at DEBUG level. This
    /// keeps an unwatched echo server from copying every byte it moves.
    pub fn emit_data(&self, server_conn: Option<u64>, step: impl FnOnce() -> Step) {
        let watched = self.events.receiver_count() > 0;
        if !watched && !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let step = step();
        log_step(self.server, server_conn, &step);
        if watched {
            self.publish(server_conn, step);
        }
    }

    fn publish(&self, server_conn: Option<u64>, step: Step) {
        // An error here only means the last subscriber just left.
        let _ = self.events.send(TraceEvent {
            at_us: self.clock.now_us(),
            lane: Lane::Server,
            server: Some(self.server),
            conn: None,
            server_conn,
            step,
        });
    }
}

/// Logs a step as a readable line. Lifecycle steps at INFO (the lines a
/// teacher wants in the terminal), the bytes of every read/write at DEBUG.
fn log_step(server: ServerId, conn: Option<u64>, step: &Step) {
    let conn = conn.map(|c| format!(" conn {c}")).unwrap_or_default();
    match step {
        Step::Print { text } => tracing::info!("{text}"),
        Step::Error { kind, message } => {
            tracing::warn!("server {server}{conn}: {}: {message}", kind.title())
        }
        // `to_escaped_text` already escapes (`\n`, `\x00`); formatting
        // it with `{:?}` would escape the escapes (`\\n`).
        Step::Send { data } | Step::Recv { data } => {
            tracing::debug!(
                "server {server}{conn}: {} \"{}\"",
                step.label(),
                data.to_escaped_text()
            )
        }
        Step::SendTo { data, .. } | Step::RecvFrom { data, .. } => {
            tracing::debug!(
                "server {server}: {} \"{}\"",
                step.label(),
                data.to_escaped_text()
            )
        }
        _ => tracing::info!("server {server}{conn}: {}", step.label()),
    }
}

#[cfg(test)]
mod tests {
    //! How lines look in the log is tested in `tests/lab_logging.rs`,
    //! which owns its process's one global subscriber.

    use super::*;
    use protocol::Bytes;

    /// With nobody subscribed, nothing is queued; a subscriber sees the
    /// steps from the moment it subscribed, stamped and labelled.
    #[test]
    fn subscribers_see_steps_from_when_they_subscribed() {
        let tracer = Tracer::new(Clock::start(), 3, channel());
        tracer.emit(None, Step::Close);
        let mut events = tracer.subscribe();
        tracer.emit_data(Some(4), || Step::Send {
            data: Bytes(b"x".to_vec()),
        });
        let event = events.try_recv().expect("one event");
        assert_eq!(event.server, Some(3));
        assert_eq!(event.server_conn, Some(4));
        assert_eq!(event.lane, Lane::Server);
        assert_eq!(event.step.name(), "send");
        assert!(events.try_recv().is_err());
    }
}
