//! [`Tracer`]: how a lab server reports every step it takes.
//!
//! A lab server does not know who is watching. Its events go two ways:
//!
//! - **Routes** (see [`crate::route`]): the events of a connection that a
//!   browser session's socket made go straight to that one session, tagged
//!   with the page's id for the connection. This is how the public server,
//!   shared by a whole class, reaches each student: the cost of an event
//!   does not grow with the number of students.
//! - **The unrouted sink**: a server one session owns (a private server)
//!   sends that session, untagged, every event no route claims: its
//!   listening socket's own steps, and connections nobody registered (a
//!   terminal's `nc`). See [`Tracer::with_unrouted`].
//! - **The broadcast**: every subscriber gets every event. For watchers
//!   that want everything: a view of the whole public server, or a test.
//!   A broadcast channel is bounded: a subscriber that falls behind loses
//!   the oldest events and is told how many.
//!
//! Neither way ever makes the server wait. When nobody is watching,
//! building an event (which copies the bytes of every `recv`) would be
//! wasted work, so [`Tracer::emit_data`] builds it only when someone is.
//! Each event is also logged through `tracing`, the way the lab's Python
//! server prints what it does.

use crate::clock::Clock;
use crate::route::{Route, RouteGuard, RouteSink, RouteTable};
use protocol::{ConnId, Lane, ServerId, Step, TraceEvent};
use std::net::SocketAddr;
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
    /// Subscribers receive from this. Cloning a `Tracer` shares the
    /// channel, so every connection task of a server publishes into the
    /// same stream.
    events: TraceSender,
    /// Which session each connection's events go to, by the address the
    /// connection comes from. Shared by clones, like `events`.
    routes: RouteTable,
    /// Set on the tracer of one accepted connection whose peer was in
    /// `routes` ([`Tracer::for_peer`]): looked up once, used for every event.
    route: Option<Route>,
    /// Where events no route claims go, for a server one session owns.
    unrouted: Option<RouteSink>,
}

impl Tracer {
    /// A tracer for the server `server`, publishing into `events`.
    pub fn new(clock: Clock, server: ServerId, events: TraceSender) -> Tracer {
        Tracer {
            clock,
            server,
            events,
            routes: RouteTable::default(),
            route: None,
            unrouted: None,
        }
    }

    /// This tracer, for a server that one session owns: the events no
    /// route claims (the listening socket's own steps, a connection from a
    /// terminal) go to `sink` too, untagged, so the session sees its
    /// server's whole life. Routed connections still go to their route,
    /// tagged with the page's connection id.
    pub fn with_unrouted(mut self, sink: RouteSink) -> Tracer {
        self.unrouted = Some(sink);
        self
    }

    /// The lab server these events belong to.
    pub fn server(&self) -> ServerId {
        self.server
    }

    /// A new receiver of all of this server's events, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TraceEvent> {
        self.events.subscribe()
    }

    /// How many broadcast subscribers there are now.
    pub fn subscriber_count(&self) -> usize {
        self.events.receiver_count()
    }

    /// Routes the events of the connection that will come from `local` (a
    /// client socket's bound address) into `sink`, tagged `conn`, until the
    /// guard is dropped. Register before connecting, so the route exists
    /// when the server's `accept()` returns.
    pub fn route(&self, local: SocketAddr, sink: &RouteSink, conn: ConnId) -> RouteGuard {
        self.routes.insert(local, sink, conn)
    }

    /// How many routes are registered now.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// This tracer, for the events of one peer: a connection accepted from
    /// `peer`, or (UDP) a datagram from it. If a session routed that
    /// address, the events also go to it. One lookup, whatever the number
    /// of routes; do it once per connection.
    pub fn for_peer(&self, peer: SocketAddr) -> Tracer {
        Tracer {
            route: self.routes.lookup(peer),
            ..self.clone()
        }
    }

    /// The clock events are stamped with.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Publishes a step of connection `server_conn` (None for the
    /// listening socket itself).
    pub fn emit(&self, server_conn: Option<u64>, step: Step) {
        self.emit_at(self.clock.now_us(), server_conn, step);
    }

    /// [`Tracer::emit`], stamped `at_us`: a call that makes the peer act
    /// (`send`, `close`) is stamped when it is made, before the system
    /// call, so the peer's `recv` can never be stamped earlier than it.
    pub fn emit_at(&self, at_us: u64, server_conn: Option<u64>, step: Step) {
        log_step(self.server, server_conn, &step);
        self.publish(at_us, server_conn, step);
    }

    /// Publishes a step that carries bytes (`recv`, `send`), building it only
    /// if anyone will see it: a route, a subscriber, or a log at DEBUG
    /// level. This keeps an unwatched echo server from copying every byte
    /// it moves.
    pub fn emit_data(&self, server_conn: Option<u64>, step: impl FnOnce() -> Step) {
        self.emit_data_at(self.clock.now_us(), server_conn, step);
    }

    /// [`Tracer::emit_data`], stamped `at_us` (see [`Tracer::emit_at`]).
    pub fn emit_data_at(&self, at_us: u64, server_conn: Option<u64>, step: impl FnOnce() -> Step) {
        let watched = self.delivers() || self.events.receiver_count() > 0;
        if !watched && !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let step = step();
        log_step(self.server, server_conn, &step);
        self.publish(at_us, server_conn, step);
    }

    /// Whether events go to a session: a route, or the unrouted sink.
    fn delivers(&self) -> bool {
        self.route.is_some() || self.unrouted.is_some()
    }

    fn publish(&self, at_us: u64, server_conn: Option<u64>, step: Step) {
        let subscribed = self.events.receiver_count() > 0;
        if !self.delivers() && !subscribed {
            return;
        }
        let event = TraceEvent {
            at_us,
            lane: Lane::Server,
            server: Some(self.server),
            // The page's id for a connection means something to that page
            // only: the route adds it, the broadcast goes without.
            conn: None,
            server_conn,
            source: None,
            step,
        };
        // An error from the broadcast only means the last subscriber just
        // left. The event is copied only when both ways want it.
        let event = match (self.delivers(), subscribed) {
            (true, true) => {
                let _ = self.events.send(event.clone());
                event
            }
            (true, false) => event,
            (false, _) => {
                let _ = self.events.send(event);
                return;
            }
        };
        match (&self.route, &self.unrouted) {
            (Some(route), _) => route.deliver(event),
            (None, Some(sink)) => sink.offer(event),
            (None, None) => {}
        }
    }
}

/// Logs a step as a readable line. Lifecycle steps at INFO (the lines a
/// teacher wants in the terminal), the bytes of every read/write at DEBUG.
fn log_step(server: ServerId, conn: Option<u64>, step: &Step) {
    let conn = conn.map(|c| format!(" conn {c}")).unwrap_or_default();
    match step {
        Step::Print { text } => tracing::info!("{text}"),
        Step::Error { message, .. } => {
            tracing::warn!("server {server}{conn}: {}: {message}", step.label())
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
        assert_eq!(event.step.kind(), protocol::StepKind::Send);
        assert!(events.try_recv().is_err());
    }

    /// A connection from a routed address reaches its route (tagged with
    /// the page's id) and the broadcast (untagged); another peer's events
    /// reach the broadcast only.
    #[tokio::test]
    async fn a_routed_peer_goes_to_its_route_and_the_broadcast() {
        let tracer = Tracer::new(Clock::start(), 0, channel());
        let mut everything = tracer.subscribe();
        let (sink, mut routed) = crate::route::route_queue(8, 1 << 16);
        let ours: SocketAddr = "127.0.0.1:40001".parse().expect("literal");
        let theirs: SocketAddr = "127.0.0.1:40002".parse().expect("literal");
        let guard = tracer.route(ours, &sink, 5);
        assert_eq!(tracer.route_count(), 1);
        tracer.for_peer(theirs).emit(Some(1), Step::Close);
        tracer.for_peer(ours).emit(Some(2), Step::Close);
        let mine = routed.recv().await.expect("routed");
        assert_eq!((mine.conn, mine.server_conn), (Some(5), Some(2)));
        assert!(
            futures_util::FutureExt::now_or_never(routed.recv()).is_none(),
            "nothing else was routed"
        );
        let all: Vec<_> = std::iter::from_fn(|| everything.try_recv().ok()).collect();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|event| event.conn.is_none()));
        drop(guard);
        assert_eq!(tracer.route_count(), 0);
    }

    /// A server one session owns: its listening socket's steps and a
    /// stranger's connection reach the session's sink untagged; a routed
    /// connection reaches its route, tagged, and only there.
    #[tokio::test]
    async fn an_owned_server_sends_what_no_route_claims_to_its_session() {
        let (unrouted, mut session) = crate::route::route_queue(8, 1 << 16);
        let tracer = Tracer::new(Clock::start(), 1, channel()).with_unrouted(unrouted.clone());
        let ours: SocketAddr = "127.0.0.1:40001".parse().expect("literal");
        let stranger: SocketAddr = "127.0.0.1:40002".parse().expect("literal");
        let _guard = tracer.route(ours, &unrouted, 5);
        tracer.emit(None, Step::Listen { backlog: 5 });
        tracer.for_peer(stranger).emit(Some(1), Step::Close);
        tracer.for_peer(ours).emit(Some(2), Step::Close);
        let mut got = Vec::new();
        for _ in 0..3 {
            let event = session.recv().await.expect("queued");
            got.push((event.conn, event.server_conn, event.step.kind()));
        }
        assert_eq!(
            got,
            [
                (None, None, protocol::StepKind::Listen),
                (None, Some(1), protocol::StepKind::Close),
                (Some(5), Some(2), protocol::StepKind::Close),
            ]
        );
        assert!(futures_util::FutureExt::now_or_never(session.recv()).is_none());
    }
}
