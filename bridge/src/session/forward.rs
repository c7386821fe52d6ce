//! [`ServerLane`]: forwards a lab server's trace events to one session, so
//! the student sees the server's side of their own connections.
//!
//! Two sources, one forwarder ([`LaneEvents`]):
//!
//! - A private server belongs to the session: the lane subscribes to its
//!   broadcast and forwards every event, linking each accepted connection
//!   to the page's id by the address pair (the peer the server's
//!   `accept()` returned is the local address of one of our sockets).
//! - The public server is shared by the whole class: the server itself
//!   routes the events of this session's connections here, already tagged
//!   with the page's ids (see [`crate::route`]), and nobody else's. The
//!   session never sees another student's events, so their number does not
//!   slow it down.

use super::Locals;
use super::outbox::Outbox;
use crate::metrics::Metrics;
use crate::route::RouteReceiver;
use protocol::{ConnId, Refusal, ServerId, ServerMsg, Step, TraceEvent};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// The most accepted connections of one server a session keeps track of.
const MAX_TRACKED: usize = 1024;

/// Where a lane's events come from. Both are bounded and neither makes the
/// server wait: if this session falls behind, it loses events and is told
/// how many.
#[derive(Debug)]
pub enum LaneEvents {
    /// All events of a server only this session watches (its private
    /// server); the lane finds the page's connection ids itself.
    All(broadcast::Receiver<TraceEvent>),
    /// The events of this session's own connections to a shared server,
    /// routed here and tagged with the page's connection ids at the source.
    Routed(RouteReceiver),
}

impl LaneEvents {
    async fn recv(&mut self) -> Result<TraceEvent, RecvError> {
        match self {
            LaneEvents::All(events) => events.recv().await,
            LaneEvents::Routed(events) => events.recv().await,
        }
    }
}

/// One server's events, on their way to one session.
#[derive(Debug)]
pub struct ServerLane {
    pub server: ServerId,
    pub events: LaneEvents,
    /// Our sockets' local addresses, to link a private server's accepted
    /// connections to the page's ids.
    pub locals: Locals,
    pub outbox: Outbox,
    pub metrics: Arc<Metrics>,
}

impl ServerLane {
    /// Forwards events until the server stops or `token` is cancelled.
    pub async fn run(mut self, token: CancellationToken) {
        // The server's number for an accepted connection -> the page's id.
        let mut ours: HashMap<u64, ConnId> = HashMap::new();
        loop {
            let received = tokio::select! {
                _ = token.cancelled() => return,
                received = self.events.recv() => received,
            };
            let mut event = match received {
                Ok(event) => event,
                Err(RecvError::Closed) => return,
                Err(RecvError::Lagged(missed)) => {
                    self.metrics.dropped_events(missed);
                    let note = ServerMsg::Refused {
                        reason: Refusal::Limit,
                        message: format!(
                            "server {}: {missed} trace events were dropped because the page \
                             fell behind; the trace of this server has a gap here",
                            self.server
                        ),
                        conn: None,
                        server: Some(self.server),
                    };
                    if self.outbox.send(note).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            if let LaneEvents::All(_) = self.events {
                event.conn = self.conn_of(&event, &mut ours);
            }
            if self.outbox.send(ServerMsg::Trace(event)).await.is_err() {
                return;
            }
        }
    }

    /// The page's connection a private server's event belongs to, if any.
    fn conn_of(&self, event: &TraceEvent, ours: &mut HashMap<u64, ConnId>) -> Option<ConnId> {
        match (&event.step, event.server_conn) {
            (Step::Accept { peer, .. }, Some(server_conn)) => {
                let conn = self.locals.lookup(parse(peer)?)?;
                if ours.len() >= MAX_TRACKED {
                    ours.clear();
                }
                ours.insert(server_conn, conn);
                Some(conn)
            }
            // UDP has no accept: each datagram names its sender.
            (Step::RecvFrom { peer, .. } | Step::SendTo { peer, .. }, _) => {
                self.locals.lookup(parse(peer)?)
            }
            (Step::Close, Some(server_conn)) => ours.remove(&server_conn),
            (_, Some(server_conn)) => ours.get(&server_conn).copied(),
            (_, None) => None,
        }
    }
}

fn parse(addr: &str) -> Option<SocketAddr> {
    addr.parse().ok()
}
