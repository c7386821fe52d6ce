//! [`ServerLane`]: forwards a lab server's trace events to one session, so
//! the student sees the server's side of their own connections.
//!
//! A private server belongs to the session: all its events go to the page.
//! The public server is shared by the whole class: only the events of
//! connections that came from this session's sockets are forwarded. The
//! link is the address pair: the peer the server's `accept()` returned is
//! the local address of one of our client sockets.

use super::Locals;
use super::outbox::Outbox;
use crate::metrics::Metrics;
use protocol::{ConnId, Refusal, ServerId, ServerMsg, Step, TraceEvent};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The most accepted connections of one server a session keeps track of.
const MAX_TRACKED: usize = 1024;

/// One server's events, on their way to one session.
#[derive(Debug)]
pub struct ServerLane {
    pub server: ServerId,
    /// The server's event stream. A broadcast receiver: if this session
    /// falls behind, it loses the oldest events and is told how many,
    /// while the server itself never waits.
    pub events: broadcast::Receiver<TraceEvent>,
    /// Forward only events of our own connections (the public server).
    pub only_ours: bool,
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
                Err(broadcast::error::RecvError::Closed) => return,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
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
            event.conn = self.conn_of(&event, &mut ours);
            if self.only_ours && event.conn.is_none() {
                continue;
            }
            if self.outbox.send(ServerMsg::Trace(event)).await.is_err() {
                return;
            }
        }
    }

    /// The page's connection this event belongs to, if any.
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
