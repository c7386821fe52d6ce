//! `/relay`: a plain byte relay between a WebSocket and a TCP connection,
//! compatible with websockify's binary mode.
//!
//! Binary frames from the browser are written to the TCP socket as they
//! are; what the socket returns goes back as binary frames. Text frames are
//! relayed as their UTF-8 bytes (websockify's old base64 mode is not
//! supported). The subprotocol `binary` is accepted and echoed.
//!
//! A relay with no bytes either way for `--session-idle-timeout` is closed
//! (1001), as an idle `/ws` session is. A browser that breaks the
//! WebSocket rules gets the close code and reason of [`crate::ws::close`].
//!
//! Bounded both ways, with no queue of our own: a direction that cannot
//! write stops reading. One WebSocket message (at most
//! `--max-message-bytes`) waits for the TCP socket; one read buffer
//! (`CHUNK`) waits for the browser. The read buffer is reused: each read's
//! bytes are split off and handed to the WebSocket, and once written the
//! space is reclaimed, so the steady state allocates nothing per message.
//!
//! Try it, with the bridge running and a websockify client (or a browser):
//!
//! ```text
//! socket-lab --mode echo
//! websocat --binary ws://127.0.0.1:8080/relay?target=127.0.0.1:1234
//! ```

use crate::metrics::Metrics;
use crate::ws::close::{self, ReadFailure};
use axum::extract::ws::{CloseFrame, Message};
use bytes::BytesMut;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes read from the TCP side at once (and so the largest frame sent).
pub const CHUNK: usize = 64 * 1024;

/// The WebSocket side's read buffer: the most read from the browser in one
/// system call. tungstenite zeroes this much of its buffer before every
/// read attempt, including those that find nothing to read, so a 64 KiB
/// buffer cost two 64 KiB `memset`s per relayed 32-byte round trip (15% of
/// the bridge's CPU in a profile). 16 KiB keeps large frames at a few reads
/// each and small messages cheap.
pub const READ_BUFFER: usize = 16 * 1024;

/// Relays until either side closes, an error, `shutdown`, or `idle`
/// passes with no bytes either way.
pub async fn run<S>(
    socket: S,
    tcp: TcpStream,
    shutdown: CancellationToken,
    idle: Duration,
    grace: Duration,
    metrics: Arc<Metrics>,
) where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error>,
{
    let (ws_tx, ws_rx) = socket.split();
    relay(
        (ws_tx, ws_rx),
        tcp.into_split(),
        shutdown,
        idle,
        grace,
        metrics,
    )
    .await
}

/// [`run`] on the two halves of each side: any WebSocket sink and stream
/// (a real socket's, or in-memory channels), and any byte stream's read
/// and write halves (a TCP connection's, or `tokio::io::duplex`), so the
/// relay's logic, idle time included, is tested without sockets.
pub async fn relay<W, R, TR, TW>(
    (mut ws_tx, mut ws_rx): (W, R),
    (mut tcp_rx, mut tcp_tx): (TR, TW),
    shutdown: CancellationToken,
    idle: Duration,
    grace: Duration,
    metrics: Arc<Metrics>,
) where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    TR: AsyncRead + Unpin,
    TW: AsyncWrite + Unpin,
{
    metrics.relay_opened();
    // When bytes last moved, either way: milliseconds since `opened`.
    let opened = Instant::now();
    let last_active = AtomicU64::new(0);
    let touch = || last_active.store(millis(opened.elapsed()), Ordering::Relaxed);

    // Browser -> TCP. Ends when the browser closes (or fails).
    //
    // A message is written as it comes; but when more messages are already
    // waiting (a client streaming many small frames), they go out together
    // in one write of at most `CHUNK` bytes: one system call instead of one
    // per frame. Nothing waits for a batch to fill.
    let to_tcp = async {
        let mut batch = BytesMut::new();
        // Why the browser side ended, if it broke the rules.
        let mut broken = None;
        let mut open = true;
        while open {
            let first = match ws_rx.next().await {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    broken = read_ending(&err);
                    break;
                }
                None => break,
            };
            let Some(first) = payload(first) else {
                break; // a close frame
            };
            let mut more = false;
            while batch.len() + first.len() < CHUNK {
                match ws_rx.next().now_or_never() {
                    Some(Some(Ok(message))) => match payload(message) {
                        Some(bytes) => {
                            if !more {
                                batch.extend_from_slice(&first);
                                more = true;
                            }
                            batch.extend_from_slice(&bytes);
                        }
                        None => {
                            open = false;
                            break;
                        }
                    },
                    Some(Some(Err(err))) => {
                        broken = read_ending(&err);
                        open = false;
                        break;
                    }
                    Some(None) => {
                        open = false;
                        break;
                    }
                    None => break, // nothing more right now
                }
            }
            touch();
            let written = if more {
                let written = tcp_tx.write_all(&batch).await;
                batch.clear();
                written
            } else {
                tcp_tx.write_all(&first).await
            };
            if written.is_err() {
                return close(close::INTERNAL, "the target connection failed");
            }
        }
        // The browser is done sending: half-close, as websockify does.
        let _ = tcp_tx.shutdown().await;
        broken
    };

    // TCP -> browser. Ends when the target closes (or fails), or shutdown.
    //
    // The bridge's shutdown token is shared by every relay and session: a
    // fresh `cancelled()` per message would take its one waiter list's lock
    // (contended between the worker threads) to register and again to
    // deregister. A child token of our own, waited on by one future for the
    // relay's whole life, makes that lock this relay's alone.
    let stop = shutdown.child_token();
    let to_ws = async {
        let stopping = stop.cancelled();
        tokio::pin!(stopping);
        let mut buf = BytesMut::with_capacity(CHUNK);
        loop {
            buf.reserve(CHUNK);
            let read = tokio::select! {
                biased;
                _ = &mut stopping => return close(close::GOING_AWAY, close::SHUTDOWN_REASON),
                read = tcp_rx.read_buf(&mut buf) => read,
            };
            match read {
                Ok(0) => return close(close::NORMAL, "the target closed the connection"),
                Ok(_) => {
                    touch();
                    let frame = Message::Binary(buf.split().freeze());
                    let sent = tokio::select! {
                        biased;
                        _ = &mut stopping => return close(close::GOING_AWAY, close::SHUTDOWN_REASON),
                        sent = ws_tx.send(frame) => sent,
                    };
                    if sent.is_err() {
                        return None;
                    }
                }
                Err(_) => return close(close::INTERNAL, "the target connection failed"),
            }
        }
    };

    // A relay nobody uses holds a socket and a session slot: after `idle`
    // with no bytes either way, it ends (as an idle `/ws` session does).
    let watchdog = async {
        loop {
            let last = Duration::from_millis(last_active.load(Ordering::Relaxed));
            let quiet = opened.elapsed().saturating_sub(last);
            if quiet >= idle {
                let reason = format!(
                    "idle for {} with no bytes either way (--session-idle-timeout)",
                    human(idle)
                );
                return close(close::GOING_AWAY, &reason);
            }
            tokio::time::sleep(idle - quiet).await;
        }
    };

    let ending = tokio::select! {
        ending = to_tcp => ending,
        ending = to_ws => ending,
        ending = watchdog => ending,
    };
    // A close frame if we have a reason; either way flush what is pending
    // (including the library's answer to the browser's own close frame).
    close::goodbye(ws_tx, ending, &shutdown, grace).await;
    metrics.relay_closed();
}

/// The bytes a message carries to the target: binary frames as they are,
/// text frames as their UTF-8 (pings and pongs carry none). `None` for a
/// close frame.
fn payload(message: Message) -> Option<bytes::Bytes> {
    match message {
        Message::Binary(bytes) => Some(bytes),
        Message::Text(text) => Some(bytes::Bytes::from(text.as_str().to_owned())),
        Message::Ping(_) | Message::Pong(_) => Some(bytes::Bytes::new()),
        Message::Close(_) => None,
    }
}

/// `120 s`, or `300 ms` under a second.
fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn close(code: u16, reason: &str) -> Option<CloseFrame> {
    Some(close::frame(code, reason))
}

/// The close frame for a browser that broke the WebSocket rules (see
/// [`crate::ws::close`]); `None` if it is simply gone.
fn read_ending(err: &axum::Error) -> Option<CloseFrame> {
    match close::read_failure(err) {
        ReadFailure::Gone => None,
        ReadFailure::TooBig => close(
            close::TOO_BIG,
            "a message larger than the bridge's limit (--max-message-bytes)",
        ),
        ReadFailure::Broken { code, reason } => close(code, &reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;
    use tokio_util::sync::PollSender;

    /// In paused time, over in-memory pipes: bytes flow both ways, then a
    /// relay with no bytes either way is closed with 1001 once its idle
    /// time has passed since the last byte, and not before.
    #[tokio::test(start_paused = true)]
    async fn an_idle_relay_closes_after_its_idle_time() {
        let idle = Duration::from_secs(120);
        let (browser_tx, mut incoming) = mpsc::unbounded_channel::<Message>();
        let (outgoing, mut browser_rx) = mpsc::channel(16);
        let ws_rx = futures_util::stream::poll_fn(move |cx| incoming.poll_recv(cx)).map(Ok);
        let (bridge_end, mut target) = tokio::io::duplex(CHUNK);
        let metrics = Arc::new(Metrics::default());
        let relaying = tokio::spawn(relay(
            (PollSender::new(outgoing), ws_rx),
            tokio::io::split(bridge_end),
            CancellationToken::new(),
            idle,
            Duration::from_secs(1),
            metrics.clone(),
        ));
        browser_tx
            .send(Message::Binary(bytes::Bytes::from_static(b"hi")))
            .expect("the relay reads");
        let mut got = [0u8; 2];
        target.read_exact(&mut got).await.expect("the target reads");
        assert_eq!(&got, b"hi");
        target.write_all(b"yo").await.expect("the target writes");
        let back = browser_rx.recv().await.expect("a frame");
        assert_eq!(back, Message::Binary(bytes::Bytes::from_static(b"yo")));
        assert_eq!(metrics.snapshot().relays, 1);

        let last_byte = Instant::now();
        let closing = match browser_rx.recv().await {
            Some(Message::Close(Some(frame))) => frame,
            other => panic!("expected a close frame, got {other:?}"),
        };
        let quiet = last_byte.elapsed();
        assert!(quiet >= idle, "closed after {quiet:?}");
        assert!(
            quiet < idle + Duration::from_secs(1),
            "closed after {quiet:?}"
        );
        assert_eq!(closing.code, close::GOING_AWAY);
        assert!(
            closing.reason.contains("idle for 120 s"),
            "{}",
            closing.reason
        );
        relaying.await.expect("the relay ends");
        assert_eq!(metrics.snapshot().relays, 0);
    }
}
