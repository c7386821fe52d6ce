//! [`Outbox`]: the one queue of messages from a session to its browser,
//! bounded in bytes.
//!
//! Every task of a session (the command loop, each client connection, each
//! server-lane forwarder) puts its messages here, so the browser gets them
//! in the order they were queued. The queue holds at most
//! `max_buffered_bytes` (estimated as JSON). A connection that read data
//! waits here for room before it reads again: if the browser stops reading,
//! the bridge stops reading the socket, and TCP's own flow control tells
//! the server to slow down. Memory stays bounded either way.

use crate::metrics::Metrics;
use protocol::ServerMsg;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// A message waiting for the browser, holding its share of the budget.
#[derive(Debug)]
pub struct Queued {
    pub msg: ServerMsg,
    /// Returned to the budget when the message has been written out.
    _room: Room,
}

/// A share of a session's byte budget, given back on drop.
#[derive(Debug)]
struct Room {
    permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Room {
    fn drop(&mut self) {
        self.metrics.sent_to_page(self.permit.num_permits());
    }
}

/// The sending side of a session's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Messages in the order they were queued; the session's writer drains
    /// it. Unbounded as a channel: the byte budget bounds it, the count
    /// too (a message costs at least [`cost`]'s fixed allowance), and a
    /// second, per-message bound would cost a lock for every message read.
    tx: mpsc::UnboundedSender<Queued>,
    /// One permit per byte the queue may hold. Taking permits before
    /// queueing is what bounds the bytes (a bounded channel alone bounds
    /// only the count of messages).
    budget: Arc<Semaphore>,
    capacity: usize,
    metrics: Arc<Metrics>,
}

/// The browser is gone; nobody will read this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl Outbox {
    /// A queue holding at most `capacity` bytes, and its receiving side.
    pub fn new(
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> (Outbox, mpsc::UnboundedReceiver<Queued>) {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        let (tx, rx) = mpsc::unbounded_channel();
        let outbox = Outbox {
            tx,
            budget: Arc::new(Semaphore::new(capacity)),
            capacity,
            metrics,
        };
        (outbox, rx)
    }

    /// Queues `msg`, waiting for room if the browser is behind.
    pub async fn send(&self, msg: ServerMsg) -> Result<(), Closed> {
        let cost = cost(&msg).min(self.capacity);
        let cost_u32 = u32::try_from(cost).unwrap_or(u32::MAX);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(cost_u32)
            .await
            .map_err(|_| Closed)?;
        self.metrics.queued_to_page(
            permit.num_permits(),
            self.capacity - self.budget.available_permits(),
        );
        let room = Room {
            permit,
            metrics: self.metrics.clone(),
        };
        self.tx
            .send(Queued { msg, _room: room })
            .map_err(|_| Closed)
    }

    /// Bytes queued now (the session's gauge).
    pub fn queued_bytes(&self) -> usize {
        self.capacity - self.budget.available_permits()
    }
}

/// The least a queued message costs of the byte budget: its field names.
const FIXED: usize = 160;

/// About how many bytes `msg` takes as JSON: hex doubles data, and a
/// fixed allowance covers the field names. An estimate is enough for a
/// bound; serializing twice to measure would not be worth it.
pub fn cost(msg: &ServerMsg) -> usize {
    match msg {
        ServerMsg::Trace(event) => {
            let data = event.step.data().map_or(0, |data| data.len() * 2);
            let text = match &event.step {
                protocol::Step::Print { text } => text.len(),
                protocol::Step::Error { message, .. } => message.len(),
                _ => 0,
            };
            FIXED + data + text
        }
        ServerMsg::Refused { message, .. } => FIXED + message.len(),
        _ => FIXED * 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use protocol::{Bytes, Lane, Step, TraceEvent};

    fn recv(n: usize) -> ServerMsg {
        ServerMsg::Trace(TraceEvent {
            at_us: 0,
            lane: Lane::Client,
            server: None,
            conn: Some(1),
            server_conn: None,
            source: None,
            step: Step::Recv {
                data: Bytes(vec![b'x'; n]),
            },
        })
    }

    /// When the reader stops, senders wait instead of growing the queue,
    /// and reading frees the room again. (Polled by hand: a send that is
    /// not ready when polled is waiting, with no timer involved.)
    #[tokio::test]
    async fn a_full_outbox_makes_senders_wait() {
        let metrics = Arc::new(Metrics::default());
        let (outbox, mut rx) = Outbox::new(4096, metrics.clone());
        outbox.send(recv(1000)).await.expect("room for one");
        assert_eq!(outbox.queued_bytes(), cost(&recv(1000)));
        let mut blocked = std::pin::pin!(outbox.send(recv(1000)));
        assert!(
            blocked.as_mut().now_or_never().is_none(),
            "the second message must wait for room"
        );
        drop(rx.recv().await.expect("queued"));
        assert_eq!(
            blocked.now_or_never(),
            Some(Ok(())),
            "the waiting message goes in once there is room"
        );
        drop(rx.recv().await.expect("queued"));
        assert_eq!(outbox.queued_bytes(), 0);
        assert_eq!(metrics.snapshot().queued_to_page_bytes, 0);
        outbox.send(recv(1000)).await.expect("room again");
        assert!(metrics.snapshot().peak_session_queued_to_page_bytes <= 4096);
    }
}
