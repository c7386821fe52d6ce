//! `/watch`: one instructor's view of the bridge, over its own WebSocket.
//!
//! Hello, then the list of sessions at once, and then only the sessions
//! that changed (checked every [`LIST_EVERY`], see [`Listed`]); and, while the instructor follows a
//! session, that session's history and then its live messages. See
//! [`protocol::WatchMsg`] for the messages.
//!
//! A watcher only ever reads what sessions recorded: a slow instructor's
//! page slows its own watcher, never a student's session.
//!
//! # What closes a watcher
//!
//! - The instructor's page closes it, or goes away.
//! - A message larger than `--max-message-bytes`: close code 1009; a frame
//!   that breaks the WebSocket rules: 1002 or 1007 (see [`crate::ws::close`]).
//! - The page reads nothing for `--session-idle-timeout` while there is
//!   something to write to it: it is frozen, and the view ends.
//! - The bridge shuts down: close code 1001, "bridge shutting down".
//!
//! Malformed JSON, an unknown command or a binary frame gets
//! [`WatchMsg::Refused`] and the watcher carries on.

use super::code::{Sent, SharedCode};
use super::{Registry, session_frame};
use crate::metrics::Metrics;
use crate::ws::bridge_version;
use crate::ws::close::{self, Ending, ReadFailure, goodbye};
use axum::extract::ws::{Message, Utf8Bytes};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use protocol::{PROTOCOL_VERSION, SessionId, SessionSummary, WatchCmd, WatchMsg};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;

/// How often the list is checked for changes.
pub const LIST_EVERY: Duration = Duration::from_millis(250);

/// Live messages written out before one flush.
const WRITE_BATCH: usize = 64;

/// What a watcher needs from its bridge.
#[derive(Debug, Clone)]
pub struct WatchEnv {
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    /// The largest message read (as `/ws`).
    pub max_message_bytes: usize,
    /// How long the goodbye may take at shutdown.
    pub grace: Duration,
    /// How long the page may take to read what is written to it: an
    /// instructor's page that reads nothing for this long is frozen, and
    /// its watcher ends (the idle timeout of `/ws`).
    pub stall: Duration,
}

/// The session being followed.
struct Followed {
    session: SessionId,
    live: broadcast::Receiver<Utf8Bytes>,
    /// The student's programs, and what of them this page has been sent.
    code: tokio::sync::watch::Receiver<SharedCode>,
    code_sent: Sent,
}

/// What woke the watcher up.
enum Wake {
    Tick,
    Page(Option<Result<Message, axum::Error>>),
    Live(SessionId, Result<Utf8Bytes, RecvError>),
    /// The followed student changed their programs.
    Code(Vec<WatchMsg>),
}

/// Counts the watcher in the metrics while it runs.
struct Counted(Arc<Metrics>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.watcher_closed();
    }
}

/// Runs one instructor's view on `socket` until the page leaves, it is
/// closed for a reason above, or `shutdown` is cancelled.
pub async fn run<S>(socket: S, env: WatchEnv, shutdown: CancellationToken)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error>,
{
    env.metrics.watcher_opened();
    let _counted = Counted(env.metrics.clone());
    let (mut sink, mut stream) = socket.split();
    let mut watch = Watch {
        env: env.clone(),
        following: None,
    };
    let ending = tokio::select! {
        _ = shutdown.cancelled() => None,
        ending = watch.serve(&mut sink, &mut stream) => ending,
    };
    goodbye(sink, ending, &shutdown, env.grace).await;
}

fn close_frame(code: u16, reason: impl Into<String>) -> Ending {
    Some(close::frame(code, reason))
}

/// A write to the page, given up (as if the page were gone) when the page
/// takes none of it within `stall`.
async fn bounded(
    stall: Duration,
    write: impl std::future::Future<Output = Result<(), Gone>>,
) -> Result<(), Gone> {
    match tokio::time::timeout(stall, write).await {
        Ok(written) => written,
        Err(_) => {
            tracing::warn!("an instructor's page read nothing for {stall:?}: closing its view");
            Err(Gone)
        }
    }
}

struct Watch {
    env: WatchEnv,
    following: Option<Followed>,
}

/// The sink failed: the page is gone.
struct Gone;

impl Watch {
    async fn serve<W, R>(&mut self, sink: &mut W, stream: &mut R) -> Ending
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let hello = WatchMsg::Hello {
            version: PROTOCOL_VERSION,
            bridge: bridge_version(),
        };
        if send(sink, &hello).await.is_err() {
            return None;
        }
        let mut tick = tokio::time::interval(LIST_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut listed: Option<u64> = None;
        let mut list = Listed::default();
        loop {
            let wake = tokio::select! {
                _ = tick.tick() => Wake::Tick,
                message = stream.next() => Wake::Page(message),
                wake = next_followed(&mut self.following) => wake,
            };
            let stall = self.env.stall;
            let done = match wake {
                Wake::Tick => {
                    // Read the generation first: a change while the list
                    // is being made is sent next time.
                    let generation = self.env.registry.generation();
                    if listed == Some(generation) {
                        continue;
                    }
                    let first = listed.is_none();
                    listed = Some(generation);
                    let sessions = self.env.registry.sessions();
                    match list.update(sessions, first) {
                        Some(msg) => bounded(stall, send(sink, &msg)).await,
                        None => Ok(()),
                    }
                }
                Wake::Page(None) => return None,
                Wake::Page(Some(Err(err))) => return self.read_failed(sink, err).await,
                Wake::Page(Some(Ok(message))) => match message {
                    Message::Text(text) => bounded(stall, self.command(sink, text.as_str())).await,
                    Message::Binary(_) => {
                        let message = "binary frames are not accepted on /watch: send each \
                                       command as JSON in a text frame";
                        bounded(stall, refuse(sink, message)).await
                    }
                    Message::Close(_) => return None,
                    Message::Ping(_) | Message::Pong(_) => continue,
                },
                Wake::Live(session, live) => bounded(stall, self.live(sink, session, live)).await,
                Wake::Code(news) => bounded(stall, send_all(sink, &news)).await,
            };
            if done.is_err() {
                return None;
            }
        }
    }

    async fn command<W>(&mut self, sink: &mut W, text: &str) -> Result<(), Gone>
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        match serde_json::from_str::<WatchCmd>(text) {
            Err(err) => refuse(sink, &format!("not a command: {err}")).await,
            Ok(WatchCmd::Unfollow) => {
                self.following = None;
                Ok(())
            }
            Ok(WatchCmd::Follow { session }) => {
                self.following = None;
                let Some(tap) = self.env.registry.find(session) else {
                    let message = format!(
                        "there is no session {session}: the list shows the sessions there are \
                         (closed ones are kept for a while only)"
                    );
                    return refuse(sink, &message).await;
                };
                let follow = tap.follow();
                let following = WatchMsg::Following {
                    session,
                    dropped: follow.dropped,
                };
                feed(sink, json(&following)).await?;
                for json in &follow.history {
                    feed(sink, session_frame(session, json.as_str())).await?;
                }
                // The student's programs as they are now (not in the list).
                let mut code = tap.code();
                let mut code_sent = Sent::default();
                let now = code.borrow_and_update().clone();
                for msg in code_sent.news(session, &now) {
                    feed(sink, json(&msg)).await?;
                }
                match follow.live {
                    Some(live) => {
                        self.following = Some(Followed {
                            session,
                            live,
                            code,
                            code_sent,
                        })
                    }
                    None => feed(sink, json(&WatchMsg::Ended { session })).await?,
                }
                flush(sink).await
            }
        }
    }

    /// Writes a live message of the followed session, and whatever else
    /// is already waiting, then flushes once.
    async fn live<W>(
        &mut self,
        sink: &mut W,
        session: SessionId,
        first: Result<Utf8Bytes, RecvError>,
    ) -> Result<(), Gone>
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        let mut received = first;
        let mut written = 0;
        loop {
            match received {
                Ok(json) => feed(sink, session_frame(session, json.as_str())).await?,
                Err(RecvError::Lagged(missed)) => {
                    feed(sink, json(&WatchMsg::Gap { session, missed })).await?
                }
                Err(RecvError::Closed) => {
                    self.following = None;
                    feed(sink, json(&WatchMsg::Ended { session })).await?;
                    break;
                }
            }
            written += 1;
            let Some(followed) = &mut self.following else {
                break;
            };
            if written >= WRITE_BATCH {
                break;
            }
            received = match followed.live.try_recv() {
                Ok(json) => Ok(json),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
        }
        flush(sink).await
    }

    /// A read error: a message over the limit closes with 1009, a broken
    /// rule of the WebSocket protocol with 1002 or 1007 (see
    /// [`crate::ws::close`]); anything else means the page is gone.
    async fn read_failed<W>(&self, sink: &mut W, err: axum::Error) -> Ending
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        let (code, message) = match close::read_failure(&err) {
            ReadFailure::Gone => {
                tracing::debug!("watcher read failed: {err}");
                return None;
            }
            ReadFailure::TooBig => (close::TOO_BIG, close::too_big(self.env.max_message_bytes)),
            ReadFailure::Broken { code, reason } => (code, reason),
        };
        let _ = bounded(self.env.stall, refuse(sink, &message)).await;
        close_frame(code, message)
    }
}

/// What this instructor's page was last told of each session, so that
/// only changes are sent: with a class of hundreds, most sessions are
/// quiet in any quarter of a second, and re-sending them all would cost
/// the page (and the network) for nothing.
#[derive(Debug, Default)]
pub struct Listed {
    sent: HashMap<SessionId, SessionSummary>,
}

impl Listed {
    /// The message that brings the page from what it was told to
    /// `sessions`: the whole list the `first` time, then the sessions that
    /// are new or changed and those gone; `None` if nothing changed.
    pub fn update(&mut self, sessions: Vec<SessionSummary>, first: bool) -> Option<WatchMsg> {
        let mut gone: Vec<SessionId> = self.sent.keys().copied().collect();
        let mut changed = Vec::new();
        let mut now = HashMap::with_capacity(sessions.len());
        for summary in sessions {
            if first || self.sent.get(&summary.id) != Some(&summary) {
                changed.push(summary.clone());
            }
            now.insert(summary.id, summary);
        }
        gone.retain(|id| !now.contains_key(id));
        gone.sort_unstable();
        self.sent = now;
        if first {
            return Some(WatchMsg::Sessions { sessions: changed });
        }
        if changed.is_empty() && gone.is_empty() {
            return None;
        }
        Some(WatchMsg::Changed {
            sessions: changed,
            gone,
        })
    }
}

/// The followed session's next message, or a change of its programs;
/// never, if none is followed.
async fn next_followed(following: &mut Option<Followed>) -> Wake {
    let Some(followed) = following else {
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            live = followed.live.recv() => return Wake::Live(followed.session, live),
            // Fails only when the session is gone from the registry: then
            // its live messages end it.
            Ok(()) = followed.code.changed() => {
                let code = followed.code.borrow_and_update().clone();
                let news = followed.code_sent.news(followed.session, &code);
                if !news.is_empty() {
                    return Wake::Code(news);
                }
            }
        }
    }
}

async fn send_all<W>(sink: &mut W, messages: &[WatchMsg]) -> Result<(), Gone>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    for msg in messages {
        feed(sink, json(msg)).await?;
    }
    flush(sink).await
}

fn json(msg: &WatchMsg) -> String {
    // Serializing a WatchMsg cannot fail (no maps with non-string keys).
    serde_json::to_string(msg).unwrap_or_default()
}

async fn feed<W>(sink: &mut W, text: String) -> Result<(), Gone>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    sink.feed(Message::Text(text.into()))
        .await
        .map_err(|_| Gone)
}

async fn flush<W>(sink: &mut W) -> Result<(), Gone>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    sink.flush().await.map_err(|_| Gone)
}

async fn send<W>(sink: &mut W, msg: &WatchMsg) -> Result<(), Gone>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    feed(sink, json(msg)).await?;
    flush(sink).await
}

async fn refuse<W>(sink: &mut W, message: &str) -> Result<(), Gone>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    let refused = WatchMsg::Refused {
        message: message.to_string(),
    };
    send(sink, &refused).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::watch::Registry;
    use protocol::{Lane, ServerMsg, Step, TraceEvent};
    use std::net::{Ipv4Addr, SocketAddr};
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::task::{Context, Poll};

    /// The instructor's page as a socket that counts the bytes it is sent
    /// and never says anything.
    struct CountingPage {
        bytes: Arc<AtomicU64>,
    }

    impl Stream for CountingPage {
        type Item = Result<Message, axum::Error>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    impl Sink<Message> for CountingPage {
        type Error = axum::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            if let Message::Text(text) = item {
                self.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Bytes per second the instructor's page receives once the first
    /// list is in, with `students` sessions (named), each doing one thing
    /// every `every_s` seconds (staggered); and what re-sending the whole
    /// list at each change would cost.
    async fn list_bytes_per_second(students: u64, every_s: u64) -> (u64, u64) {
        let registry = Arc::new(Registry::new(Clock::start()));
        let sessions: Vec<_> = (0..students)
            .map(|i| {
                let port = u16::try_from(1024 + i % 60_000).unwrap_or(1024);
                let registration = registry.register(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
                registration.tap().set_name(format!("E18{i:03}"));
                registration
            })
            .collect();
        let bytes = Arc::new(AtomicU64::new(0));
        let env = WatchEnv {
            registry: registry.clone(),
            metrics: Arc::new(Metrics::default()),
            max_message_bytes: 1 << 20,
            grace: Duration::from_millis(10),
            stall: Duration::from_secs(60),
        };
        let shutdown = CancellationToken::new();
        let watcher = tokio::spawn(run(
            CountingPage {
                bytes: bytes.clone(),
            },
            env,
            shutdown.clone(),
        ));
        // The first list (hello and every session) is not counted.
        tokio::time::sleep(LIST_EVERY * 2).await;
        let first = bytes.swap(0, Ordering::Relaxed);
        let full_list = serde_json::to_string(&WatchMsg::Sessions {
            sessions: registry.sessions(),
        })
        .unwrap_or_default()
        .len() as u64;
        assert!(first >= full_list, "{first} {full_list}");
        // Ten seconds of a class at work, in steps of 50 ms.
        let step = Duration::from_millis(50);
        let steps = 10_000 / 50;
        let per_step = students * 50 / (every_s * 1000);
        let mut next = 0usize;
        for at in 0..steps {
            for _ in 0..per_step.max(u64::from(at % 2 == 0)) {
                let msg = ServerMsg::Trace(TraceEvent {
                    at_us: 0,
                    lane: Lane::Client,
                    server: None,
                    conn: Some(1),
                    server_conn: None,
                    source: None,
                    step: Step::Recv {
                        data: protocol::Bytes(b"Thank you for connecting\n".to_vec()),
                    },
                });
                let json: Utf8Bytes = serde_json::to_string(&msg).unwrap_or_default().into();
                sessions[next % sessions.len()].tap().record(&msg, &json);
                next += 1;
            }
            tokio::time::sleep(step).await;
        }
        let changes = bytes.load(Ordering::Relaxed) / 10;
        shutdown.cancel();
        let _ = watcher.await;
        // Before: the whole list at every tick with a change (4 a second).
        let whole = full_list * (1000 / LIST_EVERY.as_millis() as u64);
        (changes, whole)
    }

    /// How many bytes a second the instructor's page receives with 1,000
    /// and 10,000 students at work (each doing something every 5 s): only
    /// the sessions that changed, far less than the whole list four times
    /// a second. Prints the numbers (`--nocapture`).
    #[tokio::test(start_paused = true)]
    async fn the_list_costs_the_page_only_its_changes() {
        for students in [1_000, 10_000] {
            let (changes, whole) = list_bytes_per_second(students, 5).await;
            println!(
                "{students} students, each active every 5 s: {changes} B/s of changes \
                 (the whole list 4 times a second would be {whole} B/s)"
            );
            assert!(changes * 4 < whole, "{changes} vs {whole}");
        }
    }

    fn summary(id: SessionId, events: u64) -> SessionSummary {
        SessionSummary {
            id,
            peer: format!("127.0.0.1:{id}"),
            open: true,
            opened_at_us: 0,
            last_at_us: events,
            servers: 0,
            connections: 0,
            events,
            errors: 0,
            last: None,
            name: None,
            progress: protocol::Progress::default(),
        }
    }

    /// The whole list first; then only what changed, what is new and what
    /// went; nothing when nothing changed.
    #[test]
    fn only_changes_are_sent_after_the_first_list() {
        let mut listed = Listed::default();
        let first = listed.update(vec![summary(1, 0), summary(2, 0)], true);
        assert!(matches!(first, Some(WatchMsg::Sessions { sessions }) if sessions.len() == 2));
        assert_eq!(
            listed.update(vec![summary(1, 0), summary(2, 0)], false),
            None
        );
        let changed = listed.update(vec![summary(2, 5), summary(3, 0)], false);
        assert_eq!(
            changed,
            Some(WatchMsg::Changed {
                sessions: vec![summary(2, 5), summary(3, 0)],
                gone: vec![1],
            })
        );
    }
}
