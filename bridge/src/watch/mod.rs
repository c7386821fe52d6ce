//! The instructor's view, bridge side: a [`Registry`] of every `/ws`
//! session, each with a [`SessionTap`] that keeps its live
//! [`SessionSummary`] and its recent history; and `/watch`
//! ([`watcher::run`]), which shows them to the instructor.
//!
//! # What a session pays
//!
//! A session's writer hands every message it writes to its page (after its
//! hello) to its tap, with the JSON it already made: the tap takes a
//! reference to those bytes (no copy, no second serialization), updates a
//! few counters and pushes the reference onto the history, all under a std
//! mutex held for just that. It never waits. A broadcast channel for
//! followers exists only while someone follows the session; a follower that
//! falls behind loses messages ([`WatchMsg::Gap`]), the session never waits
//! for it.
//!
//! [`WatchMsg::Gap`]: protocol::WatchMsg::Gap

pub mod code;
pub mod watcher;

use crate::clock::Clock;
use axum::extract::ws::Utf8Bytes;
use protocol::{ConnId, Lane, Progress, ServerId, ServerMsg, SessionId, SessionSummary, Step};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::broadcast;

/// Instructor views (`/watch`) open at once; the next is closed with
/// [`WATCH_BUSY`](protocol::WATCH_BUSY).
pub const MAX_WATCHERS: usize = 8;
/// The most messages a session's history keeps.
pub const HISTORY_MESSAGES: usize = 500;
/// The most bytes of JSON a session's history keeps.
pub const HISTORY_BYTES: usize = 256 * 1024;
/// The most bytes of JSON all sessions' histories keep together: past it, a
/// session that records trims its own history down to [`HISTORY_FLOOR`]
/// (so many busy sessions cannot grow the bridge without bound, and each
/// still shows its latest steps).
pub const HISTORY_TOTAL_BYTES: usize = 64 * 1024 * 1024;
/// What a session's history may keep when the total is over its bound.
pub const HISTORY_FLOOR: usize = 8 * 1024;
/// Closed sessions kept in the list (the most recently closed).
pub const CLOSED_KEPT: usize = 50;
/// Messages a follower may be behind before it misses some
/// ([`WatchMsg::Gap`](protocol::WatchMsg::Gap)).
pub const FOLLOW_QUEUE: usize = 256;

/// Locks, carrying on after a panic elsewhere (the data is counters and a
/// queue; nothing is left half-done that matters).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every `/ws` session of a bridge: the open ones, and the most recently
/// closed. Shared as `Arc<Registry>`.
pub struct Registry {
    clock: Clock,
    /// Bumped on every change of any session (opened, closed, a message).
    generation: Arc<AtomicU64>,
    /// Bytes held by every session's history together.
    history_total: Arc<AtomicUsize>,
    inner: Mutex<Sessions>,
}

#[derive(Default)]
struct Sessions {
    last_id: SessionId,
    open: BTreeMap<SessionId, Arc<SessionTap>>,
    /// Oldest first; at most [`CLOSED_KEPT`].
    closed: VecDeque<Arc<SessionTap>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sessions = lock(&self.inner);
        f.debug_struct("Registry")
            .field("generation", &self.generation())
            .field("open", &sessions.open.len())
            .field("closed", &sessions.closed.len())
            .finish()
    }
}

impl Registry {
    pub fn new(clock: Clock) -> Registry {
        Registry {
            clock,
            generation: Arc::new(AtomicU64::new(0)),
            history_total: Arc::new(AtomicUsize::new(0)),
            inner: Mutex::new(Sessions::default()),
        }
    }

    /// Bytes held by every session's history together.
    pub fn history_bytes(&self) -> usize {
        self.history_total.load(Ordering::Relaxed)
    }

    /// A new session from `peer` (ids 1, 2, ... in order). It stays open
    /// until the [`Registration`] is dropped.
    pub fn register(self: &Arc<Self>, peer: impl ToString) -> Registration {
        let mut sessions = lock(&self.inner);
        sessions.last_id += 1;
        let id = sessions.last_id;
        let now = self.clock.now_us();
        let tap = Arc::new(SessionTap {
            id,
            peer: peer.to_string(),
            opened_at_us: now,
            clock: self.clock,
            generation: self.generation.clone(),
            history_total: self.history_total.clone(),
            state: Mutex::new(TapState {
                open: true,
                last_at_us: now,
                ..TapState::default()
            }),
            code: code::CodeCell::default(),
        });
        sessions.open.insert(id, tap.clone());
        drop(sessions);
        self.bump();
        Registration {
            registry: self.clone(),
            tap,
        }
    }

    /// Changes so far: different numbers mean the list changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The session with this id, open or recently closed.
    pub fn find(&self, id: SessionId) -> Option<Arc<SessionTap>> {
        let sessions = lock(&self.inner);
        sessions
            .open
            .get(&id)
            .or_else(|| sessions.closed.iter().find(|tap| tap.id == id))
            .cloned()
    }

    /// Every session: open ones first, then closed ones, each by id.
    pub fn sessions(&self) -> Vec<SessionSummary> {
        // Only references are taken under the registry's lock, so sessions
        // opening or closing meanwhile wait as little as possible.
        let taps: Vec<Arc<SessionTap>> = {
            let sessions = lock(&self.inner);
            sessions
                .open
                .values()
                .chain(sessions.closed.iter())
                .cloned()
                .collect()
        };
        let mut list: Vec<SessionSummary> = taps.iter().map(|tap| tap.summary()).collect();
        list.sort_by_key(|summary| (!summary.open, summary.id));
        list
    }

    fn close(&self, tap: &Arc<SessionTap>) {
        tap.close();
        let mut sessions = lock(&self.inner);
        if sessions.open.remove(&tap.id).is_some() {
            sessions.closed.push_back(tap.clone());
            while sessions.closed.len() > CLOSED_KEPT {
                sessions.closed.pop_front();
            }
        }
        drop(sessions);
        self.bump();
    }
}

/// A session's place in the [`Registry`]; dropping it marks the session
/// closed (it stays in the list for a while).
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    tap: Arc<SessionTap>,
}

impl Registration {
    /// The tap the session's writer records into.
    pub fn tap(&self) -> Arc<SessionTap> {
        self.tap.clone()
    }

    pub fn id(&self) -> SessionId {
        self.tap.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.close(&self.tap);
    }
}

/// One session as the instructor sees it: its summary, its recent history,
/// and its followers.
pub struct SessionTap {
    id: SessionId,
    /// The student's address (`IP:PORT`, or the IP a trusted proxy named).
    peer: String,
    opened_at_us: u64,
    clock: Clock,
    generation: Arc<AtomicU64>,
    history_total: Arc<AtomicUsize>,
    state: Mutex<TapState>,
    /// The student's programs as they are now, for followers.
    code: code::CodeCell,
}

impl Drop for SessionTap {
    fn drop(&mut self) {
        let held = lock(&self.state).history_bytes;
        self.history_total.fetch_sub(held, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct TapState {
    open: bool,
    last_at_us: u64,
    /// Private servers listening now (few: a session's limit).
    servers: Vec<ServerId>,
    /// Client connections open now (from their `socket()` to `close()`).
    conns: Vec<ConnId>,
    events: u64,
    errors: u32,
    /// The latest trace event's JSON, until its label is worked out (only
    /// when someone asks for the list: the session does not pay for it).
    last_trace: Option<Utf8Bytes>,
    label: Option<String>,
    /// The name the student gave, if any.
    name: Option<String>,
    /// What the student's own programs have been seen doing.
    seen: Seen,
    /// "Check my task"'s latest verdict for each task, from the page.
    checked: [protocol::CheckStatus; 3],
    /// The page's messages as written, oldest first.
    history: VecDeque<Utf8Bytes>,
    history_bytes: usize,
    /// Messages no longer in the history.
    dropped: u64,
    /// Exists only while someone follows this session.
    followers: Option<broadcast::Sender<Utf8Bytes>>,
}

impl fmt::Debug for SessionTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTap")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// What following a session starts with.
#[derive(Debug)]
pub struct Follow {
    /// Messages older than the history, no longer kept.
    pub dropped: u64,
    /// The history, oldest first (each the JSON the page got).
    pub history: Vec<Utf8Bytes>,
    /// The messages after the history; `None` if the session has ended.
    pub live: Option<broadcast::Receiver<Utf8Bytes>>,
}

impl SessionTap {
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Records one message the session's writer is sending its page, as
    /// `json` (the very text it sends). Never waits.
    pub fn record(&self, msg: &ServerMsg, json: &Utf8Bytes) {
        // A program's replies are plumbing for the page's Python runner:
        // the trace already says what each call did, and the instructor's
        // page cannot read them (see `ServerMsg::SockReply`). Not kept,
        // not followed.
        if matches!(msg, ServerMsg::SockReply { .. }) {
            return;
        }
        let at_us = match msg {
            ServerMsg::Trace(event) => event.at_us,
            _ => self.clock.now_us(),
        };
        let mut state = lock(&self.state);
        if !state.open {
            return;
        }
        state.last_at_us = state.last_at_us.max(at_us);
        match msg {
            ServerMsg::Hello { .. } => {}
            ServerMsg::ServerStarted { server, .. } => state.servers.push(*server),
            ServerMsg::ServerStopped { server } => state.servers.retain(|s| s != server),
            ServerMsg::Refused { .. } => state.errors = state.errors.saturating_add(1),
            ServerMsg::SockReply { .. }
            | ServerMsg::ProgramEnded { .. }
            | ServerMsg::TaskChecks { .. } => {}
            ServerMsg::Trace(event) => {
                state.events += 1;
                state.last_trace = Some(json.clone());
                state.label = None;
                // A student program's connection is open from its
                // connect() or accept() to its close(), on either lane
                // (its client and its server share one id: counted once).
                let program = event.source.is_some();
                if program {
                    state.seen.saw(event);
                }
                match (&event.step, event.lane, event.conn) {
                    (Step::Error { .. }, _, _) => state.errors = state.errors.saturating_add(1),
                    (Step::Connected { .. } | Step::Accept { .. }, _, Some(conn))
                        if program && !state.conns.contains(&conn) =>
                    {
                        state.conns.push(conn)
                    }
                    (Step::Close, _, Some(conn)) if program => state.conns.retain(|c| *c != conn),
                    (Step::Socket { .. }, Lane::Client, Some(conn)) => state.conns.push(conn),
                    (Step::Close, Lane::Client, Some(conn)) => state.conns.retain(|c| *c != conn),
                    _ => {}
                }
            }
        }
        state.history_bytes += json.len();
        state.history.push_back(json.clone());
        let total = self.history_total.fetch_add(json.len(), Ordering::Relaxed) + json.len();
        let limit = if total > HISTORY_TOTAL_BYTES {
            HISTORY_FLOOR
        } else {
            HISTORY_BYTES
        };
        // The latest message stays, whatever its size.
        while state.history.len() > HISTORY_MESSAGES
            || (state.history_bytes > limit && state.history.len() > 1)
        {
            let Some(old) = state.history.pop_front() else {
                break;
            };
            state.history_bytes -= old.len();
            self.history_total.fetch_sub(old.len(), Ordering::Relaxed);
            state.dropped += 1;
        }
        // A send fails only when nobody follows any more: free the channel.
        if let Some(followers) = &state.followers
            && followers.send(json.clone()).is_err()
        {
            state.followers = None;
        }
        drop(state);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The student's name (already checked with [`protocol::clean_name`]).
    pub fn set_name(&self, name: String) {
        let mut state = lock(&self.state);
        if state.name.as_deref() == Some(name.as_str()) {
            return;
        }
        state.name = Some(name);
        state.last_at_us = state.last_at_us.max(self.clock.now_us());
        drop(state);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// "Check my task" ran for `task` (1 to 3) in the student's page.
    pub fn set_checked(&self, task: u8, passed: bool) {
        let Some(slot) = usize::from(task).checked_sub(1).filter(|&i| i < 3) else {
            return;
        };
        let status = if passed {
            protocol::CheckStatus::Passing
        } else {
            protocol::CheckStatus::Failing
        };
        let mut state = lock(&self.state);
        if state.checked[slot] == status {
            return;
        }
        state.checked[slot] = status;
        state.last_at_us = state.last_at_us.max(self.clock.now_us());
        drop(state);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The student's program text (already checked with
    /// [`protocol::check_code`]), kept for followers. A change counts as
    /// the student's activity.
    pub fn set_code(&self, lane: Lane, file: String, text: String) {
        if self.code.set(lane, file, text) {
            let mut state = lock(&self.state);
            state.last_at_us = state.last_at_us.max(self.clock.now_us());
            drop(state);
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The student's programs, woken at each change.
    pub fn code(&self) -> tokio::sync::watch::Receiver<code::SharedCode> {
        self.code.subscribe()
    }

    /// The history, and (if the session is open) everything after it.
    /// Taken under one lock, so nothing is missed or repeated between the
    /// two.
    pub fn follow(&self) -> Follow {
        let mut state = lock(&self.state);
        let live = if state.open {
            let followers = state
                .followers
                .get_or_insert_with(|| broadcast::channel(FOLLOW_QUEUE).0);
            Some(followers.subscribe())
        } else {
            None
        };
        Follow {
            dropped: state.dropped,
            history: state.history.iter().cloned().collect(),
            live,
        }
    }

    /// The session as the list shows it.
    pub fn summary(&self) -> SessionSummary {
        let (mut summary, pending) = {
            let state = lock(&self.state);
            let summary = SessionSummary {
                id: self.id,
                peer: self.peer.clone(),
                open: state.open,
                opened_at_us: self.opened_at_us,
                last_at_us: state.last_at_us,
                servers: u32::try_from(state.servers.len()).unwrap_or(u32::MAX),
                connections: u32::try_from(state.conns.len()).unwrap_or(u32::MAX),
                events: state.events,
                errors: state.errors,
                last: state.label.clone(),
                name: state.name.clone(),
                progress: Progress {
                    checked: state.checked,
                    ..state.seen.progress()
                },
            };
            let pending = match (&state.label, &state.last_trace) {
                (None, Some(json)) => Some((state.events, json.clone())),
                _ => None,
            };
            (summary, pending)
        };
        // Work out the latest event's label outside the lock (parsing a
        // large `recv` takes a moment the session should not wait for),
        // and keep it unless a newer event came meanwhile.
        if let Some((events, json)) = pending {
            let label = match serde_json::from_str::<ServerMsg>(json.as_str()) {
                Ok(ServerMsg::Trace(event)) => Some(event.step.label()),
                _ => None,
            };
            let mut state = lock(&self.state);
            if state.events == events {
                state.label = label.clone();
                state.last_trace = None;
            }
            summary.last = label;
        }
        summary
    }

    /// The session has ended: nothing is listening or open any more, and
    /// followers hear the end once they have read what was sent.
    fn close(&self) {
        let mut state = lock(&self.state);
        state.open = false;
        state.last_at_us = state.last_at_us.max(self.clock.now_us());
        state.servers = Vec::new();
        state.conns = Vec::new();
        state.followers = None;
    }
}

/// What a student's own programs have been seen doing, step by step,
/// towards each task (see [`Progress`]).
#[derive(Default)]
struct Seen {
    accepted: bool,
    connected: bool,
    server_sent: bool,
    client_received: bool,
    echoed: bool,
    /// The latest bytes a program's server received, by connection: an
    /// echo sends them back.
    received: Vec<(ConnId, Vec<u8>)>,
}

/// Connections whose latest received bytes are kept for the echo check.
const ECHO_CONNS: usize = 8;

impl Seen {
    fn saw(&mut self, event: &protocol::TraceEvent) {
        match (&event.step, event.lane) {
            (Step::Accept { .. }, Lane::Server) => self.accepted = true,
            (Step::Connected { .. }, Lane::Client) => self.connected = true,
            (Step::Recv { data }, Lane::Client) if !data.is_empty() => self.client_received = true,
            (Step::Recv { data }, Lane::Server) if !data.is_empty() => {
                if let Some(conn) = event.conn {
                    self.received.retain(|(c, _)| *c != conn);
                    if self.received.len() >= ECHO_CONNS {
                        self.received.remove(0);
                    }
                    self.received.push((conn, data.0.clone()));
                }
            }
            (Step::Send { data }, Lane::Server) if !data.is_empty() => {
                self.server_sent = true;
                let echo = self
                    .received
                    .iter()
                    .any(|(conn, got)| Some(*conn) == event.conn && got.starts_with(&data.0));
                self.echoed |= echo;
            }
            _ => {}
        }
    }

    fn progress(&self) -> Progress {
        Progress {
            task1: self.accepted && self.connected,
            task2: self.server_sent && self.client_received,
            task3: self.echoed && self.client_received,
            checked: Default::default(),
        }
    }
}

/// The `/watch` frame for one of a session's messages, made from the JSON
/// its page got (no second serialization): a [`WatchMsg::Session`].
///
/// [`WatchMsg::Session`]: protocol::WatchMsg::Session
pub fn session_frame(session: SessionId, json: &str) -> String {
    const HEAD: &str = r#"{"type":"session","session":"#;
    const MSG: &str = r#","msg":"#;
    let mut frame = String::with_capacity(HEAD.len() + 20 + MSG.len() + json.len() + 1);
    frame.push_str(HEAD);
    frame.push_str(&session.to_string());
    frame.push_str(MSG);
    frame.push_str(json);
    frame.push('}');
    frame
}

/// Compares a token given with the bridge's, in time that does not depend
/// on where they differ (`subtle`: a guess cannot be refined byte by byte
/// by timing the answers). An empty expected token matches nothing.
pub fn token_matches(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// A random 128-bit token, as 32 hex digits, from the operating system's
/// generator (`getrandom`). Should that fail (it does not on any system
/// the bridge runs on), std's randomly keyed hasher, also seeded by the
/// operating system, stands in.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if let Err(err) = getrandom::fill(&mut bytes) {
        tracing::warn!("the system's random generator failed ({err}); using std's hasher keys");
        use std::hash::{BuildHasher, RandomState};
        let now = std::time::SystemTime::now();
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let hash = RandomState::new().hash_one((i, now, std::process::id()));
            chunk.copy_from_slice(&hash.to_le_bytes());
        }
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Bytes, Lane, Refusal, TraceEvent, WatchMsg};
    use std::net::{Ipv4Addr, SocketAddr};

    fn trace(at_us: u64, conn: ConnId, step: Step) -> ServerMsg {
        ServerMsg::Trace(TraceEvent {
            at_us,
            lane: Lane::Client,
            server: None,
            conn: Some(conn),
            server_conn: None,
            source: None,
            step,
        })
    }

    fn json(msg: &ServerMsg) -> Utf8Bytes {
        serde_json::to_string(msg).expect("serializes").into()
    }

    fn registry() -> Arc<Registry> {
        Arc::new(Registry::new(Clock::start()))
    }

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    /// Many busy sessions together keep at most about
    /// [`HISTORY_TOTAL_BYTES`]: past it, each session that records trims
    /// its own history to its latest message(s), and the bytes of sessions
    /// that are gone are given back.
    #[test]
    fn histories_together_are_bounded() {
        let registry = registry();
        let msg = trace(1, 1, Step::Close);
        // One 64 KiB message, shared: the bound counts bytes of JSON.
        let big: Utf8Bytes = "x".repeat(64 * 1024).into();
        let sessions: Vec<Registration> = (0..300).map(|i| registry.register(peer(i))).collect();
        for session in &sessions {
            for _ in 0..4 {
                session.tap().record(&msg, &big);
            }
        }
        // 256 sessions fill the total with 256 KiB each; the 44 after
        // them keep only their latest message.
        let total = registry.history_bytes();
        assert!(total <= HISTORY_TOTAL_BYTES + 44 * big.len(), "{total}");
        let last = sessions.last().expect("300").tap().follow();
        assert_eq!(last.history.len(), 1);
        assert_eq!(last.dropped, 3);
        // The first session, recording again while the total is over the
        // bound, gives its older messages back.
        sessions[0].tap().record(&msg, &big);
        assert_eq!(sessions[0].tap().follow().history.len(), 1);
        assert!(registry.history_bytes() < total);
        // Sessions that are gone from the list give back all they held:
        // what is left is the 50 closed sessions kept.
        drop(sessions);
        let kept: usize = (251..=300)
            .map(|id| {
                let follow = registry.find(id).expect("kept").follow();
                follow.history.iter().map(|json| json.len()).sum::<usize>()
            })
            .sum();
        assert_eq!(registry.history_bytes(), kept);
    }

    /// The frame made from the page's JSON is exactly the `WatchMsg`
    /// serde would make, and parses back into it.
    #[test]
    fn a_session_frame_is_a_watch_msg() {
        let msg = trace(
            12,
            1,
            Step::Recv {
                data: Bytes(b"hello".to_vec()),
            },
        );
        let frame = session_frame(42, json(&msg).as_str());
        let parsed: WatchMsg = serde_json::from_str(&frame).expect("parses");
        let expected = WatchMsg::Session {
            session: 42,
            msg: msg.clone(),
        };
        assert_eq!(parsed, expected);
        assert_eq!(frame, serde_json::to_string(&expected).expect("serializes"));
    }

    #[test]
    fn tokens_match_only_exactly() {
        assert!(token_matches("abc123", "abc123"));
        assert!(!token_matches("abc124", "abc123"));
        assert!(!token_matches("abc12", "abc123"));
        assert!(!token_matches("abc1234", "abc123"));
        assert!(!token_matches("", "abc123"));
        assert!(!token_matches("", ""));
        let token = random_token();
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(token, random_token());
    }

    /// A student program's connection counts once while open, whichever
    /// lanes its ends are on.
    #[test]
    fn program_connections_are_counted_once() {
        let registry = registry();
        let session = registry.register(peer(5000));
        let tap = session.tap();
        let program_event = |lane, step| {
            ServerMsg::Trace(TraceEvent {
                at_us: 1,
                lane,
                server: None,
                conn: Some(10_001),
                server_conn: None,
                source: Some(protocol::Source {
                    program: 1,
                    file: "client.py".into(),
                    line: 4,
                }),
                step,
            })
        };
        let connected = Step::Connected {
            local: "127.0.0.1:5".into(),
            peer: "127.0.0.1:6".into(),
        };
        let accepted = Step::Accept {
            peer: "127.0.0.1:5".into(),
            local: "127.0.0.1:6".into(),
        };
        for msg in [
            program_event(Lane::Client, connected),
            program_event(Lane::Server, accepted),
        ] {
            tap.record(&msg, &json(&msg));
        }
        assert_eq!(registry.sessions()[0].connections, 1);
        let close = program_event(Lane::Client, Step::Close);
        tap.record(&close, &json(&close));
        assert_eq!(registry.sessions()[0].connections, 0);
    }

    /// Counts follow the messages; the label is the latest event's.
    #[test]
    fn the_summary_follows_the_messages() {
        let registry = registry();
        let a = registry.register(peer(5000));
        let b = registry.register(peer(5001));
        assert_eq!((a.id(), b.id()), (1, 2));
        let tap = a.tap();
        let messages = [
            ServerMsg::ServerStarted {
                server: 1,
                addr: "127.0.0.1:9".into(),
                mode: protocol::Mode::Echo,
                transport: protocol::Transport::Tcp,
            },
            trace(
                10,
                1,
                Step::Socket {
                    family: protocol::Family::Ipv4,
                    transport: protocol::Transport::Tcp,
                },
            ),
            trace(
                11,
                2,
                Step::Socket {
                    family: protocol::Family::Ipv4,
                    transport: protocol::Transport::Tcp,
                },
            ),
            trace(
                12,
                2,
                Step::Error {
                    kind: protocol::ErrorKind::ConnectionRefused,
                    message: "refused".into(),
                    failed: Some(protocol::Call::Connect),
                },
            ),
            trace(13, 2, Step::Close),
            ServerMsg::Refused {
                reason: Refusal::Unknown,
                message: "no".into(),
                conn: Some(9),
                server: None,
            },
            trace(
                20,
                1,
                Step::Recv {
                    data: Bytes(b"hello".to_vec()),
                },
            ),
        ];
        let before = registry.generation();
        for msg in &messages {
            tap.record(msg, &json(msg));
        }
        assert!(registry.generation() > before);
        let list = registry.sessions();
        assert_eq!(list.len(), 2);
        let first = &list[0];
        assert_eq!(first.peer, "127.0.0.1:5000");
        assert!(first.open);
        assert_eq!(
            (first.servers, first.connections, first.events, first.errors),
            (1, 1, 5, 2)
        );
        assert_eq!(first.last_at_us.max(20), first.last_at_us);
        assert_eq!(first.last.as_deref(), Some("recv() -> 5 bytes"));
        assert_eq!(list[1].events, 0);
        assert_eq!(list[1].last, None);

        // Closed: nothing open now, listed after the open ones.
        drop(a);
        let list = registry.sessions();
        assert_eq!(list[0].id, 2);
        assert_eq!(list[1].id, 1);
        assert!(!list[1].open);
        assert_eq!((list[1].servers, list[1].connections), (0, 0));
        assert_eq!(list[1].events, 5);
    }

    /// The history keeps the newest messages; a follower gets the history,
    /// then live messages, then the end.
    #[tokio::test]
    async fn history_then_live_then_end() {
        let registry = registry();
        let session = registry.register(peer(5000));
        let tap = session.tap();
        let refusal = |conn: ConnId| ServerMsg::Refused {
            reason: Refusal::Unknown,
            message: format!("no connection {conn}"),
            conn: Some(conn),
            server: None,
        };
        for conn in 1..=(HISTORY_MESSAGES as ConnId + 20) {
            let msg = refusal(conn);
            tap.record(&msg, &json(&msg));
        }
        // Nobody follows yet: no channel.
        assert!(lock(&tap.state).followers.is_none());
        let Follow {
            dropped,
            history,
            live,
        } = tap.follow();
        assert_eq!(dropped, 20);
        assert_eq!(history.len(), HISTORY_MESSAGES);
        assert_eq!(history[0], json(&refusal(21)));
        let mut live = live.expect("open");
        let msg = refusal(1000);
        tap.record(&msg, &json(&msg));
        assert_eq!(live.recv().await.expect("live"), json(&msg));
        drop(session);
        assert!(matches!(
            live.recv().await,
            Err(broadcast::error::RecvError::Closed)
        ));
        // A closed session: its history, and no live part.
        let closed = registry.find(1).expect("kept").follow();
        assert!(closed.live.is_none());
        assert_eq!(closed.history.last(), Some(&json(&msg)));
    }

    /// The history is bounded in bytes too, and the channel goes when the
    /// last follower does.
    #[test]
    fn history_bytes_are_bounded_and_followers_are_freed() {
        let registry = registry();
        let session = registry.register(peer(5000));
        let tap = session.tap();
        let big = trace(
            1,
            1,
            Step::Recv {
                data: Bytes(vec![b'x'; 16 * 1024]),
            },
        );
        for _ in 0..20 {
            tap.record(&big, &json(&big));
        }
        let follow = tap.follow();
        let total: usize = follow.history.iter().map(|json| json.len()).sum();
        assert!(total <= HISTORY_BYTES, "{total}");
        assert!(follow.dropped > 0);
        assert_eq!(follow.history.len() as u64 + follow.dropped, 20);
        drop(follow);
        tap.record(&big, &json(&big));
        assert!(lock(&tap.state).followers.is_none());
    }

    /// At most CLOSED_KEPT closed sessions stay; the oldest go first.
    #[test]
    fn closed_sessions_are_kept_for_a_while() {
        let registry = registry();
        for port in 0..(CLOSED_KEPT as u16 + 5) {
            drop(registry.register(peer(6000 + port)));
        }
        let list = registry.sessions();
        assert_eq!(list.len(), CLOSED_KEPT);
        assert_eq!(list[0].id, 6);
        assert!(registry.find(5).is_none());
        assert!(registry.find(6).is_some());
    }
}
