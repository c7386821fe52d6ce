//! [`ServerLane`]: forwards a lab server's trace events to one session, so
//! the student sees the server's side of their own connections.
//!
//! Every lab server's events reach a session the same way, through a
//! route queue (see [`crate::route`]): the server itself puts each event of
//! this session's connections there, already tagged with the page's
//! connection id, and nobody else's. A private server also puts there the
//! events no route claims (its listening socket's own steps, a terminal's
//! `nc`), untagged. The lane only moves them to the page, and says so when
//! the queue was full and events were dropped.

use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::route::RouteReceiver;
use protocol::{Refusal, ServerId, ServerMsg};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// One server's events, on their way to one session.
#[derive(Debug)]
pub struct ServerLane {
    pub server: ServerId,
    /// Bounded, and the server never waits on it: if this session falls
    /// behind, it loses events and is told how many.
    pub events: RouteReceiver,
    pub outbox: Outbox,
    pub metrics: Arc<Metrics>,
}

impl ServerLane {
    /// Forwards events until the server stops or `token` is cancelled.
    pub async fn run(mut self, token: CancellationToken) {
        // One wait for the lane's life: a fresh `cancelled()` per event
        // would register with the token's waiter list, under its lock, and
        // leave it again, for every event.
        let mut ended = std::pin::pin!(token.cancelled());
        loop {
            let received = tokio::select! {
                biased;
                _ = &mut ended => return,
                received = self.events.recv() => received,
            };
            let event = match received {
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
            if self.outbox.send(ServerMsg::Trace(event)).await.is_err() {
                return;
            }
        }
    }
}
