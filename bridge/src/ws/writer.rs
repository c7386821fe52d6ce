//! The batched writer: messages queued for a page, written to its
//! WebSocket in bursts, then the closing frame.
//!
//! A burst of events (a `recv` and the server's steps that came with it)
//! is fed to the socket one message at a time and flushed once, so it
//! leaves in one system call, not one each. Nothing waits for a batch to
//! fill: the first message is written as soon as it is queued.

use super::close::{self, Ending};
use axum::extract::ws::{Message, Utf8Bytes};
use futures_util::{FutureExt, Sink, SinkExt};
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

/// How the writer makes queued messages into WebSocket messages.
pub struct Wire<E, F, C> {
    /// The WebSocket message the page gets for a queued one.
    pub encode: E,
    /// Whether more is about to follow a queued message (see
    /// [`write_messages`]).
    pub more_follows: F,
    /// Joins a burst's text messages into frames of at most this many
    /// bytes, one message to a line (see [`protocol::LINES_QUERY`]);
    /// `None`: one message per frame.
    pub lines: Option<usize>,
    /// Told of each burst written: its messages and the frames they took.
    pub written: C,
}

/// How many times the writer steps aside for more before a write (see
/// [`write_messages`]): an in-process echo's steps arrive within three.
pub const STEP_ASIDE: usize = 3;

/// Writes queued messages to the browser (each made into a WebSocket
/// message by `wire.encode`), then the closing frame.
///
/// Every wait is bounded: raced against `shutdown` and the reader's end
/// (so a browser that stopped reading cannot hold shutdown, or its own
/// idle close, up), and a batch the page does not take within
/// `bounds.stall` ends the session; the goodbye itself gets `bounds.grace`.
/// `token` is cancelled when the writer is done, to tell the reader (and
/// every task of the session).
///
/// When the newest message is one that `wire.more_follows` (bytes moving
/// between two sockets of this process, say), the writer steps aside
/// before writing (`yield_now` lets the runtime run what became ready), at
/// most [`STEP_ASIDE`] times, and no more once a step brought nothing (the
/// first step excepted: the task those bytes wake may not have run yet on
/// the other worker thread): the steps those bytes cause a moment later
/// join this write instead of each costing a system call. A WebSocket
/// write that wakes the browser is the most expensive thing a session
/// does.
pub async fn write_messages<W, T>(
    mut sink: W,
    mut queue: mpsc::UnboundedReceiver<T>,
    mut end: oneshot::Receiver<Ending>,
    token: CancellationToken,
    shutdown: CancellationToken,
    bounds: Bounds,
    wire: Wire<impl Fn(&T) -> Message, impl Fn(&T) -> bool, impl Fn(usize, usize)>,
) where
    W: Sink<Message> + Unpin,
{
    let Wire {
        encode,
        more_follows,
        lines,
        written,
    } = wire;
    // Each wait below is one future for the session's whole life, not a new
    // one per message: a cancellation future registers with its token's
    // waiter list under a lock when first polled and again when dropped,
    // and the bridge's shutdown token is shared by every session (its lock
    // contended between the worker threads). A child token is ours alone.
    let stop = shutdown.child_token();
    let mut stopping = std::pin::pin!(stop.cancelled());
    let mut ended = std::pin::pin!(token.cancelled());
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
            _ = &mut stopping => break Some(close::shutdown_frame()),
            _ = &mut ended => break None,
            queued = queue.recv() => match queued {
                Some(queued) => queued,
                None => break None,
            },
        };
        // Write this message and whatever else is already queued, then
        // flush once. The messages stay held (and counted against the
        // byte budget) until the flush has written them.
        let mut held = Vec::new();
        let mut asides = 0;
        loop {
            let before = held.len();
            while held.len() + 1 < WRITE_BATCH {
                let Ok(next) = queue.try_recv() else { break };
                held.push(next);
            }
            let brought = held.len() > before;
            let newest = held.last().unwrap_or(&queued);
            if held.len() + 1 >= WRITE_BATCH
                || asides == STEP_ASIDE
                || (asides > 1 && !brought)
                || !more_follows(newest)
            {
                break;
            }
            asides += 1;
            tokio::task::yield_now().await;
        }
        let batch = async {
            let mut frames = Frames::new(lines);
            let mut fed = 0;
            for message in std::iter::once(&queued).chain(&held) {
                for frame in frames.add(encode(message)) {
                    sink.feed(frame).await?;
                    fed += 1;
                }
            }
            if let Some(frame) = frames.finish() {
                sink.feed(frame).await?;
                fed += 1;
            }
            written(held.len() + 1, fed);
            sink.flush().await
        };
        let mut batch = std::pin::pin!(batch);
        // Mostly the socket takes the batch at once: no timer needed.
        if let Some(sent) = (&mut batch).now_or_never() {
            if sent.is_err() {
                break None;
            }
            continue;
        }
        tokio::select! {
            sent = &mut batch => if sent.is_err() { break None },
            _ = &mut stopping => break Some(close::shutdown_frame()),
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

/// A burst's messages made into frames: each message its own frame, or
/// (with a byte bound) text messages joined a line each, up to the bound.
/// A burst of one message is sent as it is, not copied.
struct Frames {
    bound: Option<usize>,
    /// The first text message of a frame, while it is the only one.
    first: Option<Utf8Bytes>,
    /// Two or more joined.
    joined: String,
}

impl Frames {
    fn new(bound: Option<usize>) -> Frames {
        Frames {
            bound,
            first: None,
            joined: String::new(),
        }
    }

    fn len(&self) -> usize {
        self.first
            .as_ref()
            .map_or(self.joined.len(), |first| first.len())
    }

    /// The frames ready to go once `message` is added (none while the
    /// frame being joined has room for it).
    fn add(&mut self, message: Message) -> impl Iterator<Item = Message> + use<> {
        let (bound, text) = match (self.bound, message) {
            (Some(bound), Message::Text(text)) => (bound, text),
            (_, message) => return self.finish().into_iter().chain(Some(message)),
        };
        let ready = if self.len() > 0 && self.len() + 1 + text.len() > bound {
            self.finish()
        } else {
            None
        };
        if let Some(first) = self.first.take() {
            self.joined.reserve(first.len() + 1 + text.len());
            self.joined.push_str(first.as_str());
        }
        if self.joined.is_empty() {
            self.first = Some(text);
        } else {
            self.joined.push('\n');
            self.joined.push_str(text.as_str());
        }
        // (The same iterator type as the other arm's.)
        ready.into_iter().chain(None)
    }

    /// What was added since the last frame, as one frame.
    fn finish(&mut self) -> Option<Message> {
        if let Some(first) = self.first.take() {
            return Some(Message::Text(first));
        }
        (!self.joined.is_empty()).then(|| Message::text(std::mem::take(&mut self.joined)))
    }
}

#[cfg(test)]
mod frames {
    use super::*;

    fn frames(bound: Option<usize>, messages: &[Message]) -> Vec<Message> {
        let mut frames = Frames::new(bound);
        let mut out: Vec<Message> = Vec::new();
        for message in messages {
            out.extend(frames.add(message.clone()));
        }
        out.extend(frames.finish());
        out
    }

    #[test]
    fn without_a_bound_each_message_is_a_frame() {
        let burst = [Message::text("{\"a\":1}"), Message::text("{\"b\":2}")];
        assert_eq!(frames(None, &burst), burst);
    }

    #[test]
    fn with_a_bound_a_burst_is_joined_a_line_each_up_to_the_bound() {
        let burst = [
            Message::text("{\"a\":1}"),
            Message::text("{\"b\":2}"),
            Message::text("{\"c\":3}"),
        ];
        assert_eq!(
            frames(Some(1024), &burst),
            [Message::text("{\"a\":1}\n{\"b\":2}\n{\"c\":3}")]
        );
        // 7 + 1 + 7 fits in 15; the third starts the next frame.
        assert_eq!(
            frames(Some(15), &burst),
            [
                Message::text("{\"a\":1}\n{\"b\":2}"),
                Message::text("{\"c\":3}")
            ]
        );
        // A message larger than the bound goes alone, whole.
        let big = Message::text(format!("{{\"d\":\"{}\"}}", "x".repeat(40)));
        assert_eq!(
            frames(Some(15), &[burst[0].clone(), big.clone(), burst[1].clone()]),
            [burst[0].clone(), big, burst[1].clone()]
        );
    }

    #[test]
    fn a_single_message_and_other_kinds_go_as_they_are() {
        let one = [Message::text("{\"a\":1}")];
        assert_eq!(frames(Some(1024), &one), one);
        let mixed = [
            Message::text("{\"a\":1}"),
            Message::Ping(vec![1].into()),
            Message::text("{\"b\":2}"),
        ];
        assert_eq!(frames(Some(1024), &mixed), mixed);
    }
}
