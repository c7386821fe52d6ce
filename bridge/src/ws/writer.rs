//! The batched writer: messages queued for a page, written to its
//! WebSocket in bursts, then the closing frame.
//!
//! A burst of events (a `recv` and the server's steps that came with it)
//! is fed to the socket one message at a time and flushed once, so it
//! leaves in one system call, not one each. Nothing waits for a batch to
//! fill: the first message is written as soon as it is queued.

use super::close::{self, Ending};
use axum::extract::ws::Message;
use futures_util::{Sink, SinkExt};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// The most messages written out before one flush.
pub const WRITE_BATCH: usize = 32;

/// How long the writer waits on the page.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// For the goodbye (and the last messages before it).
    pub grace: Duration,
    /// For the page to take one batch: a page that reads nothing for this
    /// long (the idle timeout) is frozen.
    pub stall: Duration,
}

/// Writes queued messages to the browser (each made into a WebSocket
/// message by `encode`), then the closing frame.
///
/// Every wait is bounded: raced against `shutdown` and the reader's end
/// (so a browser that stopped reading cannot hold shutdown, or its own
/// idle close, up), and a batch the page does not take within
/// `bounds.stall` ends the session; the goodbye itself gets `bounds.grace`.
/// `token` is cancelled when the writer is done, to tell the reader (and
/// every task of the session).
pub async fn write_messages<W, T>(
    mut sink: W,
    mut queue: mpsc::Receiver<T>,
    mut end: oneshot::Receiver<Ending>,
    token: CancellationToken,
    shutdown: CancellationToken,
    bounds: Bounds,
    encode: impl Fn(&T) -> Message,
) where
    W: Sink<Message> + Unpin,
{
    let ending = loop {
        let queued = tokio::select! {
            biased;
            ending = &mut end => {
                // The reader is done: send what is queued (a refusal that
                // explains the close, say), then the close frame.
                let ending = ending.ok().flatten();
                let flush = async {
                    while let Ok(queued) = queue.try_recv() {
                        if sink.send(encode(&queued)).await.is_err() {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(bounds.grace, flush).await;
                break ending;
            }
            _ = shutdown.cancelled() => break Some(close::shutdown_frame()),
            _ = token.cancelled() => break None,
            queued = queue.recv() => match queued {
                Some(queued) => queued,
                None => break None,
            },
        };
        // Write this message and whatever else is already queued, then
        // flush once. The messages stay held (and counted against the
        // byte budget) until the flush has written them.
        let batch = async {
            sink.feed(encode(&queued)).await?;
            let mut held = Vec::new();
            for _ in 1..WRITE_BATCH {
                let Ok(next) = queue.try_recv() else { break };
                sink.feed(encode(&next)).await?;
                held.push(next);
            }
            sink.flush().await
        };
        tokio::select! {
            sent = batch => if sent.is_err() { break None },
            _ = shutdown.cancelled() => break Some(close::shutdown_frame()),
            // The reader ended the session (idle, a bad message) while the
            // page was not taking what we write: its reason stands.
            ending = &mut end => break ending.ok().flatten(),
            _ = tokio::time::sleep(bounds.stall) => {
                let reason = format!(
                    "closed: the page read nothing for {:?} (--session-idle-timeout)",
                    bounds.stall
                );
                break Some(close::frame(close::GOING_AWAY, reason));
            }
        }
    };
    // Tell the reader (and every task of the session) we are done.
    token.cancel();
    close::goodbye(sink, ending, &shutdown, bounds.grace).await;
}
