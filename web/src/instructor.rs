//! The instructor's view: the bridge's sessions as `/watch` lists them,
//! the one followed, and the connection to `/watch`.
//!
//! One [`Reducible`], changed only by [`WatchAction`]s and free of browser
//! calls (the local clock comes in with the messages that need it), so it
//! is tested natively. The followed session's messages come here too:
//! its trace goes to a [`TraceView`], the same the student's page has, and
//! only while the bridge streams the session asked for last (what was
//! seen before is forgotten when another session is followed).

use crate::lab::Task;
use crate::prefs::Theme;
use crate::session::BridgeStatus;
use crate::trace_view::{TraceAction, TraceView};
use protocol::{
    PROTOCOL_VERSION, PUBLIC_SERVER, ServerId, ServerMsg, SessionId, SessionSummary, WatchCmd,
    WatchMsg,
};
use std::cmp::Ordering;
use std::rc::Rc;
use yew::Reducible;

/// Failed reconnects in a row, after the page had been connected, before
/// it says the link may have changed (a restarted bridge may have a new
/// instructor token).
pub const LOST_AFTER: u32 = 3;

/// Something the instructor must be told, above everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchProblem {
    /// `/watch` closed before it ever opened: the bridge refused the
    /// link's token (the browser cannot see the 403), or it is not running.
    BadLink,
    /// The page had been connected, then failed to reconnect several times.
    LinkLost,
    /// The bridge speaks another protocol version.
    Version(u32),
    /// The bridge has as many instructor views open as it allows, in its
    /// words; this page tries again.
    Busy(String),
    /// The bridge refused a command, in its words.
    Refused(String),
    /// A message this page could not read.
    BadMessage(String),
}

impl WatchProblem {
    /// A title and one or two plain sentences.
    pub fn words(&self) -> (&'static str, String) {
        match self {
            WatchProblem::BadLink => (
                "The instructor link is wrong or old",
                "The bridge did not accept it. Open the link the bridge printed when it started \
                 (a restarted bridge prints a new one). If the bridge is not running, start it: \
                 this page keeps trying."
                    .to_string(),
            ),
            WatchProblem::LinkLost => (
                "Cannot reconnect to the bridge",
                "It may have stopped, or restarted with a new instructor link: if it restarted, \
                 open the link it printed. This page keeps trying."
                    .to_string(),
            ),
            WatchProblem::Version(version) => (
                "Different versions",
                format!(
                    "The bridge speaks protocol {version}, this page {PROTOCOL_VERSION}: reload the page."
                ),
            ),
            WatchProblem::Busy(reason) => (
                "Too many instructor views are open",
                format!("The bridge says: {reason}. This page keeps trying."),
            ),
            WatchProblem::Refused(message) => ("The bridge refused", message.clone()),
            WatchProblem::BadMessage(why) => (
                "The bridge sent something this page cannot read",
                why.clone(),
            ),
        }
    }

    /// True for the problems of the link itself, which go away when the
    /// socket opens.
    fn is_link(&self) -> bool {
        matches!(self, WatchProblem::BadLink | WatchProblem::LinkLost)
    }
}

/// The session being followed, and what `/watch` said about its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    pub session: SessionId,
    /// The student's address, from the list (kept when the list forgets
    /// the session).
    pub peer: Option<String>,
    /// The bridge said `following`: the session's messages are coming.
    pub streaming: bool,
    /// The oldest messages the bridge no longer kept for it.
    pub dropped: u64,
    /// Messages skipped because this page fell behind (every gap added up).
    pub missed: u64,
    /// The student's page has gone.
    pub ended: bool,
    /// The student's `server.py` and `client.py` as they are now, when
    /// their page shared them (`WatchMsg::Code`).
    pub server_code: Option<Rc<str>>,
    pub client_code: Option<Rc<str>>,
}

impl Followed {
    fn new(session: SessionId, peer: Option<String>) -> Followed {
        Followed {
            session,
            peer,
            streaming: false,
            dropped: 0,
            missed: 0,
            ended: false,
            server_code: None,
            client_code: None,
        }
    }
}

/// A command for `/watch`, numbered so the hook sends each once. Follow
/// and unfollow replace each other, so only the latest is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub seq: u64,
    pub cmd: WatchCmd,
}

/// Everything that can happen to the instructor's view.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchAction {
    // The WebSocket (from hooks::use_watch).
    Connecting,
    Opened,
    /// The socket closed; `opened` tells whether it had opened first.
    Closed {
        opened: bool,
    },
    /// The bridge closed the socket at once: it has as many instructor
    /// views as it allows (the close frame's reason).
    Busy(String),
    /// A message from `/watch` and the local clock (ms) when it came.
    Received {
        msg: WatchMsg,
        now_ms: f64,
    },
    /// A message that could not be read.
    BadMessage(String),

    // The instructor.
    Follow(SessionId),
    Unfollow,
    /// Shows the followed session large, for the class (true), or goes
    /// back to the list (false).
    Project(bool),
    DismissProblem,
    CycleTheme,
    /// Orders the list of students.
    Sort(SessionSort),
    /// The views of the followed session's trace.
    View(TraceAction),
}

/// How the instructor's list of students is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionSort {
    /// Open sessions first, each in the order they came.
    #[default]
    Arrival,
    /// The furthest along first (tasks seen working), then the most recent.
    Progress,
    /// The most recently active first: who is working, who is stuck.
    Activity,
    /// By the name (or student number) given; unnamed last.
    Name,
}

impl SessionSort {
    pub const ALL: [SessionSort; 4] = [
        SessionSort::Arrival,
        SessionSort::Progress,
        SessionSort::Activity,
        SessionSort::Name,
    ];

    pub fn value(self) -> &'static str {
        match self {
            SessionSort::Arrival => "arrival",
            SessionSort::Progress => "progress",
            SessionSort::Activity => "activity",
            SessionSort::Name => "name",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SessionSort::Arrival => "Arrival",
            SessionSort::Progress => "Progress",
            SessionSort::Activity => "Last activity",
            SessionSort::Name => "Name",
        }
    }

    pub fn from_value(value: &str) -> SessionSort {
        SessionSort::ALL
            .into_iter()
            .find(|sort| sort.value() == value)
            .unwrap_or_default()
    }

    /// Puts `sessions` in this order: open sessions first, ties in
    /// arrival order. One comparison serves every order, so the page
    /// carries one sort, not one per order.
    pub fn apply(self, sessions: &mut [SessionSummary]) {
        let last = |s: &SessionSummary| s.last_at_us.max(s.opened_at_us);
        let name =
            |s: &SessionSummary| (s.name.is_none(), s.name.as_deref().map(str::to_lowercase));
        sessions.sort_by(|a, b| {
            let ordered = match self {
                SessionSort::Arrival => Ordering::Equal,
                SessionSort::Progress => {
                    (b.progress.count(), last(b)).cmp(&(a.progress.count(), last(a)))
                }
                SessionSort::Activity => last(b).cmp(&last(a)),
                SessionSort::Name => name(a).cmp(&name(b)),
            };
            (!a.open).cmp(&!b.open).then(ordered).then(a.id.cmp(&b.id))
        });
    }
}

/// The instructor's view's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstructorState {
    pub status: BridgeStatus,
    /// `/watch` opened at least once since the page loaded.
    pub ever_opened: bool,
    /// Attempts in a row that closed before opening.
    failures: u32,
    /// The bridge's version, from its hello.
    pub bridge: Option<String>,
    /// Every session, as the bridge last listed them.
    pub sessions: Rc<Vec<SessionSummary>>,
    pub followed: Option<Followed>,
    /// The followed session fills the screen in projector mode.
    pub projecting: bool,
    pub problem: Option<WatchProblem>,
    /// Reconnected while following: follow again once the list shows the
    /// session is still the same student's.
    refollow: bool,
    /// The latest command for `/watch`.
    pub command: Option<Command>,
    next_command: u64,
    /// The bridge's clock minus the page's, in µs: the largest lower
    /// bound seen (each session's latest activity is no later than the
    /// moment its list arrived).
    clock_offset_us: Option<i64>,
    pub theme: Theme,
    /// How the list is ordered.
    pub sort: SessionSort,
    /// The followed session's trace, as its messages built it.
    pub view: TraceView,
    /// The followed session's servers, and what each runs.
    servers: Vec<(ServerId, Task)>,
    /// What the bridge's public server runs, from the session's hello.
    public_task: Option<Task>,
}

impl Reducible for InstructorState {
    type Action = WatchAction;

    fn reduce(self: Rc<Self>, action: WatchAction) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

impl InstructorState {
    /// A new view, not connected yet, in `theme`.
    pub fn new(theme: Theme) -> InstructorState {
        InstructorState {
            theme,
            ..InstructorState::default()
        }
    }

    /// True when `session` is the one followed: the same number and the
    /// same student's address (a restarted bridge numbers from 1 again).
    pub fn is_followed(&self, session: &SessionSummary) -> bool {
        self.followed.as_ref().is_some_and(|f| {
            f.session == session.id && f.peer.as_ref().is_none_or(|peer| *peer == session.peer)
        })
    }

    /// What the list shows of the followed session, if it still lists it.
    pub fn followed_summary(&self) -> Option<&SessionSummary> {
        self.sessions.iter().find(|s| self.is_followed(s))
    }

    /// The followed session's student has left (the bridge said it ended,
    /// or lists it as closed).
    pub fn followed_left(&self) -> bool {
        self.followed.as_ref().is_some_and(|f| f.ended)
            || (!self.refollow && self.followed_summary().is_some_and(|s| !s.open))
    }

    /// The task whose code the panel shows: that of the server the
    /// selected event happened on, else of the session's latest server,
    /// else of the public server.
    pub fn task_shown(&self) -> Task {
        let selected_server = self
            .view
            .selected
            .and_then(|seq| self.view.trace.get(seq))
            .and_then(|e| e.event.server);
        match selected_server {
            Some(PUBLIC_SERVER) => self.public_task,
            Some(id) => self
                .servers
                .iter()
                .find(|(server, _)| *server == id)
                .map(|(_, task)| *task),
            None => None,
        }
        .or_else(|| self.servers.last().map(|(_, task)| *task))
        .or(self.public_task)
        .unwrap_or_default()
    }

    /// How long since `session` last did anything, by the page's clock
    /// `now_ms`; `None` before any list arrived.
    pub fn idle_us(&self, session: &SessionSummary, now_ms: f64) -> Option<u64> {
        let bridge_now = local_us(now_ms).saturating_add(self.clock_offset_us?);
        let last = session.last_at_us.max(session.opened_at_us);
        Some(u64::try_from(bridge_now).unwrap_or(0).saturating_sub(last))
    }

    fn apply(&mut self, action: WatchAction) {
        match action {
            WatchAction::Connecting => self.status = BridgeStatus::Connecting,
            WatchAction::Opened => self.opened(),
            WatchAction::Closed { opened } => self.closed(opened),
            WatchAction::Busy(reason) => self.problem = Some(WatchProblem::Busy(reason)),
            WatchAction::Received { msg, now_ms } => self.received(msg, now_ms),
            WatchAction::BadMessage(why) => self.problem = Some(WatchProblem::BadMessage(why)),
            WatchAction::Follow(session) => {
                if self.followed_summary().is_some_and(|s| s.id == session) {
                    return;
                }
                let peer = self
                    .sessions
                    .iter()
                    .find(|s| s.id == session)
                    .map(|s| s.peer.clone());
                self.followed = Some(Followed::new(session, peer));
                self.refollow = false;
                self.issue(WatchCmd::Follow { session });
                self.forget_trace();
            }
            WatchAction::Unfollow => {
                if self.followed.take().is_some() {
                    self.issue(WatchCmd::Unfollow);
                    self.forget_trace();
                }
                self.projecting = false;
            }
            WatchAction::Project(on) => self.projecting = on && self.followed.is_some(),
            WatchAction::DismissProblem => self.problem = None,
            WatchAction::CycleTheme => self.theme = self.theme.next(),
            WatchAction::Sort(sort) => {
                self.sort = sort;
                let mut sessions = (*self.sessions).clone();
                sort.apply(&mut sessions);
                self.sessions = Rc::new(sessions);
            }
            WatchAction::View(action) => self.view.apply(action),
        }
    }

    /// Forgets what was seen of the followed session (another one's
    /// messages, or its history again, come next).
    fn forget_trace(&mut self) {
        self.view.start_again();
        self.servers.clear();
        self.public_task = None;
    }

    /// A message of the followed session, as its student's page got it:
    /// the trace, and what the code panel needs to know.
    fn session_message(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Hello { public_server, .. } => {
                self.public_task = public_server.map(|p| Task::for_server(p.mode, p.transport));
            }
            ServerMsg::ServerStarted {
                server,
                mode,
                transport,
                ..
            } => {
                let task = Task::for_server(mode, transport);
                match self.servers.iter_mut().find(|(id, _)| *id == server) {
                    Some(known) => known.1 = task,
                    None => self.servers.push((server, task)),
                }
            }
            ServerMsg::Trace(event) => self.view.record(event),
            _ => {}
        }
    }

    /// The followed session, if it is `session`.
    fn followed_mut(&mut self, session: SessionId) -> Option<&mut Followed> {
        self.followed.as_mut().filter(|f| f.session == session)
    }

    fn issue(&mut self, cmd: WatchCmd) {
        self.command = Some(Command {
            seq: self.next_command,
            cmd,
        });
        self.next_command += 1;
    }

    fn opened(&mut self) {
        self.status = BridgeStatus::Open;
        self.ever_opened = true;
        self.failures = 0;
        // It may be another bridge, with a clock of its own.
        self.clock_offset_us = None;
        if self.problem.as_ref().is_some_and(WatchProblem::is_link) {
            self.problem = None;
        }
        // A new socket follows nothing: ask again (the history comes
        // again) once the list has come, since a restarted bridge numbers
        // its sessions from 1 again.
        self.refollow = self.followed.is_some();
    }

    /// After a reconnect: follow the same session again if the list has it
    /// with the same student's address; otherwise it is gone, and what was
    /// seen of it stays on the screen.
    fn follow_again(&mut self) {
        self.refollow = false;
        let same = self.followed_summary().is_some();
        let Some(followed) = &mut self.followed else {
            return;
        };
        let session = followed.session;
        if same {
            *followed = Followed::new(session, followed.peer.take());
            self.issue(WatchCmd::Follow { session });
            self.forget_trace();
        } else {
            followed.ended = true;
        }
    }

    fn closed(&mut self, opened: bool) {
        self.status = BridgeStatus::Closed;
        if let Some(followed) = &mut self.followed {
            followed.streaming = false;
        }
        if opened {
            self.failures = 0;
            return;
        }
        self.failures += 1;
        if !self.ever_opened {
            self.problem = Some(WatchProblem::BadLink);
        } else if self.failures >= LOST_AFTER {
            self.problem = Some(WatchProblem::LinkLost);
        }
    }

    fn received(&mut self, msg: WatchMsg, now_ms: f64) {
        match msg {
            WatchMsg::Hello { version, bridge } => {
                // Let in at last.
                if matches!(self.problem, Some(WatchProblem::Busy(_))) {
                    self.problem = None;
                }
                if version != PROTOCOL_VERSION {
                    self.problem = Some(WatchProblem::Version(version));
                }
                self.bridge = Some(bridge);
            }
            WatchMsg::Changed {
                sessions: changed,
                gone,
            } => {
                let mut sessions = (*self.sessions).clone();
                sessions.retain(|s| !gone.contains(&s.id));
                for summary in changed {
                    match sessions.iter_mut().find(|s| s.id == summary.id) {
                        Some(old) => *old = summary,
                        None => sessions.push(summary),
                    }
                }
                self.received(WatchMsg::Sessions { sessions }, now_ms);
            }
            WatchMsg::Sessions { mut sessions } => {
                self.sort.apply(&mut sessions);
                let now = local_us(now_ms);
                let seen = sessions
                    .iter()
                    .map(|s| s.last_at_us.max(s.opened_at_us))
                    .max()
                    .map(|last| i64::try_from(last).unwrap_or(i64::MAX).saturating_sub(now));
                self.clock_offset_us = self.clock_offset_us.max(seen);
                self.sessions = Rc::new(sessions);
                if self.refollow {
                    self.follow_again();
                }
            }
            WatchMsg::Following { session, dropped } => {
                if let Some(f) = self.followed_mut(session) {
                    *f = Followed {
                        streaming: true,
                        dropped,
                        ..Followed::new(session, f.peer.take())
                    };
                    // The session's history comes next, from its start.
                    self.forget_trace();
                }
            }
            // Only the session asked for last, once the bridge streams
            // it: an answer to an older follow is not the one wanted.
            WatchMsg::Session { session, msg } => {
                if self
                    .followed
                    .as_ref()
                    .is_some_and(|f| f.session == session && f.streaming)
                {
                    self.session_message(msg);
                }
            }
            WatchMsg::Gap { session, missed } => {
                if let Some(f) = self.followed_mut(session) {
                    f.missed = f.missed.saturating_add(missed);
                }
            }
            WatchMsg::Ended { session } => {
                if let Some(f) = self.followed_mut(session) {
                    f.ended = true;
                }
            }
            WatchMsg::Code {
                session,
                lane,
                text,
                ..
            } => {
                if let Some(f) = self.followed_mut(session) {
                    let text = Some(Rc::from(text));
                    match lane {
                        protocol::Lane::Server => f.server_code = text,
                        protocol::Lane::Client => f.client_code = text,
                    }
                }
            }
            WatchMsg::Refused { message } => {
                // The only command that can fail is follow (an unknown or
                // expired session): then nothing is followed.
                if self.followed.as_ref().is_some_and(|f| !f.streaming) {
                    self.followed = None;
                    self.projecting = false;
                }
                self.problem = Some(WatchProblem::Refused(message));
            }
        }
    }
}

/// The page's clock in µs.
fn local_us(now_ms: f64) -> i64 {
    (now_ms * 1000.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: SessionId, open: bool, last_at_us: u64) -> SessionSummary {
        SessionSummary {
            id,
            peer: format!("127.0.0.1:{}", 50000 + id),
            open,
            opened_at_us: 1_000,
            last_at_us,
            servers: 1,
            connections: 1,
            events: 12,
            errors: 0,
            last: Some("recv() -> 5 bytes".into()),
            name: None,
            progress: protocol::Progress::default(),
        }
    }

    /// Changes update the list in place (new, changed, gone), and the
    /// chosen order holds for them.
    #[test]
    fn changes_apply_and_the_order_holds() {
        let state = open().reduce(WatchAction::Sort(SessionSort::Progress));
        let mut ahead = summary(2, true, 9_000);
        ahead.name = Some("E18002".into());
        ahead.progress.task1 = true;
        let state = state.reduce(got(WatchMsg::Changed {
            sessions: vec![ahead.clone(), summary(3, true, 7_000)],
            gone: vec![1],
        }));
        let ids: Vec<SessionId> = state.sessions.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![2, 3], "the furthest along first; 1 is gone");
        assert_eq!(state.sessions[0].name.as_deref(), Some("E18002"));
        let state = state.reduce(WatchAction::Sort(SessionSort::Activity));
        assert_eq!(state.sessions[0].id, 2, "the most recently active");
        let state = state.reduce(WatchAction::Sort(SessionSort::Arrival));
        assert_eq!(state.sessions[0].id, 2);
        assert_eq!(state.sessions[1].id, 3);
        let state = state.reduce(WatchAction::Sort(SessionSort::Name));
        assert_eq!(state.sessions[0].id, 2, "named first");
    }

    /// Every order keeps open sessions first and breaks its ties by
    /// arrival; names are compared without case, unnamed last.
    #[test]
    fn ties_keep_arrival_order() {
        let mut sessions = vec![
            summary(4, false, 9_000),
            summary(3, true, 5_000),
            summary(1, true, 5_000),
            summary(2, true, 7_000),
        ];
        sessions[1].name = Some("bob".into());
        sessions[3].name = Some("Alice".into());
        let ids = |sort: SessionSort, sessions: &mut Vec<SessionSummary>| {
            sort.apply(sessions);
            sessions.iter().map(|s| s.id).collect::<Vec<_>>()
        };
        assert_eq!(ids(SessionSort::Arrival, &mut sessions), [1, 2, 3, 4]);
        assert_eq!(ids(SessionSort::Activity, &mut sessions), [2, 1, 3, 4]);
        assert_eq!(ids(SessionSort::Progress, &mut sessions), [2, 1, 3, 4]);
        assert_eq!(ids(SessionSort::Name, &mut sessions), [2, 3, 1, 4]);
    }

    fn got(msg: WatchMsg) -> WatchAction {
        WatchAction::Received { msg, now_ms: 0.0 }
    }

    fn open() -> Rc<InstructorState> {
        Rc::new(InstructorState::default())
            .reduce(WatchAction::Opened)
            .reduce(got(WatchMsg::Hello {
                version: PROTOCOL_VERSION,
                bridge: "socket-lab 0.1.0".into(),
            }))
            .reduce(got(WatchMsg::Sessions {
                sessions: vec![summary(1, true, 5_000), summary(2, false, 9_000)],
            }))
    }

    fn cmd(state: &InstructorState) -> Option<&WatchCmd> {
        state.command.as_ref().map(|c| &c.cmd)
    }

    /// The list is the bridge's; following asks for the session and the
    /// bridge's answers (history kept, gaps, the end) are recorded.
    #[test]
    fn following_a_session() {
        let state = open();
        assert_eq!(state.status, BridgeStatus::Open);
        assert_eq!(state.bridge.as_deref(), Some("socket-lab 0.1.0"));
        assert_eq!(state.sessions.len(), 2);
        assert_eq!(cmd(&state), None);

        let state = state.reduce(WatchAction::Follow(1));
        assert_eq!(cmd(&state), Some(&WatchCmd::Follow { session: 1 }));
        let f = state.followed.as_ref().unwrap();
        assert_eq!((f.session, f.streaming), (1, false));
        assert_eq!(f.peer.as_deref(), Some("127.0.0.1:50001"));
        assert_eq!(state.followed_summary().unwrap().id, 1);

        let state = state
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 40,
            }))
            .reduce(got(WatchMsg::Gap {
                session: 1,
                missed: 3,
            }))
            .reduce(got(WatchMsg::Gap {
                session: 1,
                missed: 2,
            }));
        let f = state.followed.as_ref().unwrap();
        assert!(f.streaming);
        assert_eq!((f.dropped, f.missed, f.ended), (40, 5, false));
        assert_eq!(f.peer.as_deref(), Some("127.0.0.1:50001"));
        assert!(!state.followed_left());

        let state = state.reduce(got(WatchMsg::Ended { session: 1 }));
        assert!(state.followed.as_ref().unwrap().ended);
        assert!(state.followed_left());
    }

    /// Following another session starts afresh, and what the bridge says
    /// about the one followed before is ignored.
    #[test]
    fn following_another_session() {
        let state = open()
            .reduce(WatchAction::Follow(1))
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 0,
            }))
            .reduce(got(WatchMsg::Gap {
                session: 1,
                missed: 7,
            }))
            .reduce(WatchAction::Follow(2));
        let first = state.command.clone().unwrap();
        assert_eq!(first.cmd, WatchCmd::Follow { session: 2 });
        let state = state
            .reduce(got(WatchMsg::Ended { session: 1 }))
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 0,
            }));
        let f = state.followed.as_ref().unwrap();
        assert_eq!(
            (f.session, f.streaming, f.missed, f.ended),
            (2, false, 0, false)
        );
        // Session 2 is listed as closed: its student has left.
        assert!(state.followed_left());

        // Following the same session again asks nothing new.
        let state = state.reduce(WatchAction::Follow(2));
        assert_eq!(state.command.as_ref(), Some(&first));

        let state = state
            .reduce(WatchAction::Project(true))
            .reduce(WatchAction::Unfollow);
        assert_eq!(cmd(&state), Some(&WatchCmd::Unfollow));
        assert!(state.followed.is_none());
        assert!(!state.projecting);
    }

    /// The followed student's code is kept as it comes (each file
    /// replaced by its newer text); another session's is ignored, and
    /// following another student starts without code.
    #[test]
    fn the_followed_students_code() {
        let code = |session, lane, text: &str| {
            got(WatchMsg::Code {
                session,
                lane,
                file: "server.py".into(),
                text: text.into(),
            })
        };
        let state = open()
            .reduce(WatchAction::Follow(1))
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 0,
            }))
            .reduce(code(1, protocol::Lane::Server, "v1"))
            .reduce(code(1, protocol::Lane::Client, "c1"))
            .reduce(code(1, protocol::Lane::Server, "v2"))
            .reduce(code(2, protocol::Lane::Server, "other"));
        let f = state.followed.as_ref().unwrap();
        assert_eq!(f.server_code.as_deref(), Some("v2"));
        assert_eq!(f.client_code.as_deref(), Some("c1"));
        let state = state.reduce(WatchAction::Follow(2));
        let f = state.followed.as_ref().unwrap();
        assert_eq!((f.server_code.clone(), f.client_code.clone()), (None, None));
    }

    /// Projector mode needs a followed session.
    #[test]
    fn projecting_needs_a_session() {
        let state = open().reduce(WatchAction::Project(true));
        assert!(!state.projecting);
        let state = state
            .reduce(WatchAction::Follow(1))
            .reduce(WatchAction::Project(true));
        assert!(state.projecting);
        let state = state.reduce(WatchAction::Project(false));
        assert!(!state.projecting);
        assert!(state.followed.is_some());
    }

    /// A socket that closes before it ever opened is a wrong or old link
    /// (the bridge answers 403, which the browser does not show).
    #[test]
    fn closing_before_opening_is_a_bad_link() {
        let state = Rc::new(InstructorState::default())
            .reduce(WatchAction::Connecting)
            .reduce(WatchAction::Closed { opened: false });
        assert_eq!(state.status, BridgeStatus::Closed);
        assert_eq!(state.problem, Some(WatchProblem::BadLink));
        let (title, text) = state.problem.as_ref().unwrap().words();
        assert!(title.contains("wrong or old"));
        assert!(text.contains("the link the bridge printed when it started"));

        // It opens after all (the bridge was started late): all is well.
        let state = state.reduce(WatchAction::Opened);
        assert_eq!(state.problem, None);
    }

    /// Once connected, a drop is an ordinary reconnect; only repeated
    /// failures suggest the link changed. A reconnect follows again.
    #[test]
    fn reconnecting_follows_again() {
        let state = open()
            .reduce(WatchAction::Follow(1))
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 0,
            }))
            .reduce(WatchAction::Closed { opened: true });
        assert_eq!(state.status, BridgeStatus::Closed);
        assert_eq!(state.problem, None);
        assert!(!state.followed.as_ref().unwrap().streaming);

        let mut state = state;
        for _ in 0..LOST_AFTER - 1 {
            state = state.reduce(WatchAction::Closed { opened: false });
            assert_eq!(state.problem, None);
        }
        let state = state.reduce(WatchAction::Closed { opened: false });
        assert_eq!(state.problem, Some(WatchProblem::LinkLost));

        let before = state.command.as_ref().unwrap().seq;
        let state = state.reduce(WatchAction::Opened);
        assert_eq!(state.problem, None);
        // The list comes first: session 1 is still the same student's.
        assert_eq!(state.command.as_ref().unwrap().seq, before);
        let state = state.reduce(got(WatchMsg::Sessions {
            sessions: vec![summary(1, true, 6_000)],
        }));
        let again = state.command.as_ref().unwrap();
        assert_eq!(again.cmd, WatchCmd::Follow { session: 1 });
        assert!(again.seq > before);
        assert!(!state.followed_left());
    }

    /// A restarted bridge numbers its sessions from 1 again: a session 1
    /// of another student is not followed in place of the one that was.
    #[test]
    fn a_restarted_bridge_is_not_mistaken_for_the_same_session() {
        let state = open()
            .reduce(WatchAction::Follow(1))
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 0,
            }))
            .reduce(WatchAction::Closed { opened: true })
            .reduce(WatchAction::Opened);
        let before = state.command.clone();
        let mut other = summary(1, true, 50);
        other.peer = "127.0.0.1:40404".into();
        let state = state.reduce(got(WatchMsg::Sessions {
            sessions: vec![other],
        }));
        assert_eq!(state.command, before);
        let f = state.followed.as_ref().unwrap();
        assert_eq!((f.session, f.ended), (1, true));
        assert!(state.followed_left());
        // The new session 1 is not marked as followed, and can be.
        assert!(!state.is_followed(&state.sessions[0]));
        let state = state.reduce(WatchAction::Follow(1));
        assert_eq!(cmd(&state), Some(&WatchCmd::Follow { session: 1 }));
        assert_ne!(state.command, before);
        assert!(state.is_followed(&state.sessions[0]));
        // Its clock is the new bridge's: the session was active just now.
        assert_eq!(state.idle_us(&state.sessions[0], 0.0), Some(0));
    }

    /// A refused follow (the session expired) follows nothing and says why.
    #[test]
    fn a_refused_follow_follows_nothing() {
        let state = open()
            .reduce(WatchAction::Follow(9))
            .reduce(got(WatchMsg::Refused {
                message: "no session 9".into(),
            }));
        assert!(state.followed.is_none());
        assert_eq!(
            state.problem,
            Some(WatchProblem::Refused("no session 9".into()))
        );
        let state = state.reduce(WatchAction::DismissProblem);
        assert_eq!(state.problem, None);
    }

    /// A bridge with all its instructor views taken opens and closes at
    /// once with a reason: the page says so (not "wrong link"), keeps it
    /// through the retries, and drops it once let in.
    #[test]
    fn a_busy_bridge_is_explained_until_let_in() {
        let reason = "8 instructor views are open already, the most this bridge allows: close one";
        let state = Rc::new(InstructorState::default())
            .reduce(WatchAction::Opened)
            .reduce(WatchAction::Busy(reason.into()))
            .reduce(WatchAction::Closed { opened: true });
        assert_eq!(state.problem, Some(WatchProblem::Busy(reason.into())));
        let (title, words) = state.problem.as_ref().expect("a problem").words();
        assert_eq!(title, "Too many instructor views are open");
        assert!(words.contains(reason), "{words}");
        // The next try opens again: still busy until the bridge says hello.
        let state = state.reduce(WatchAction::Opened);
        assert_eq!(state.problem, Some(WatchProblem::Busy(reason.into())));
        let state = state.reduce(got(WatchMsg::Hello {
            version: PROTOCOL_VERSION,
            bridge: "socket-lab 0.1.0".into(),
        }));
        assert_eq!(state.problem, None);
    }

    /// How long a session has been idle is told by the bridge's clock,
    /// estimated from the lists: the latest activity in a list is no later
    /// than the moment the list arrived.
    #[test]
    fn idle_time_follows_the_bridges_clock() {
        let state = Rc::new(InstructorState::default());
        let s1 = summary(1, true, 5_000_000);
        assert_eq!(state.idle_us(&s1, 1_000.0), None);
        let state = state.reduce(WatchAction::Received {
            msg: WatchMsg::Sessions {
                sessions: vec![s1.clone(), summary(2, true, 2_000_000)],
            },
            now_ms: 1_000.0,
        });
        assert_eq!(state.idle_us(&s1, 1_000.0), Some(0));
        assert_eq!(state.idle_us(&s1, 13_000.0), Some(12_000_000));
        assert_eq!(state.idle_us(&state.sessions[1], 1_000.0), Some(3_000_000));
        // A later list that came late does not move the clock back.
        let state = state.reduce(WatchAction::Received {
            msg: WatchMsg::Sessions {
                sessions: vec![s1.clone()],
            },
            now_ms: 9_000.0,
        });
        assert_eq!(state.idle_us(&s1, 13_000.0), Some(12_000_000));
    }

    fn in_session(session: SessionId, msg: ServerMsg) -> WatchAction {
        got(WatchMsg::Session { session, msg })
    }

    fn listen(server: ServerId) -> ServerMsg {
        ServerMsg::Trace(protocol::TraceEvent {
            at_us: 1000,
            lane: protocol::Lane::Server,
            server: Some(server),
            conn: None,
            server_conn: None,
            source: None,
            step: protocol::Step::Listen { backlog: 5 },
        })
    }

    fn started(server: ServerId, mode: protocol::Mode) -> ServerMsg {
        ServerMsg::ServerStarted {
            server,
            addr: "127.0.0.1:40000".into(),
            mode,
            transport: protocol::Transport::Tcp,
        }
    }

    /// Following another session forgets the servers, trace and selection
    /// of the one followed before, keeps the display preferences, and
    /// numbers new events after the old ones.
    #[test]
    fn reset_forgets_the_session() {
        let state = Rc::new(InstructorState::new(Theme::Dark))
            .reduce(WatchAction::Opened)
            .reduce(got(WatchMsg::Sessions {
                sessions: vec![summary(1, true, 5_000), summary(2, true, 9_000)],
            }))
            .reduce(WatchAction::Follow(1))
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 0,
            }))
            .reduce(in_session(1, started(1, protocol::Mode::Echo)))
            .reduce(in_session(1, listen(1)))
            .reduce(WatchAction::View(TraceAction::Select(0)));
        assert_eq!(state.view.trace.len(), 1);
        assert_eq!(state.task_shown(), Task::Echo);
        let state = state.reduce(WatchAction::Follow(2));
        assert!(state.servers.is_empty());
        assert!(state.view.trace.is_empty());
        assert_eq!(state.view.selected, None);
        assert_eq!(state.theme, Theme::Dark);
        let state = state
            .reduce(got(WatchMsg::Following {
                session: 2,
                dropped: 0,
            }))
            .reduce(in_session(2, listen(1)));
        assert_eq!(state.view.trace.first_seq(), 1);
    }

    /// A session's messages reach the view only once the bridge streams
    /// the session asked for last: late ones of the session followed
    /// before, and those before `following`, are not shown as this one's.
    #[test]
    fn only_the_streamed_session_reaches_the_view() {
        let state = open()
            .reduce(WatchAction::Follow(1))
            .reduce(in_session(1, listen(1)));
        assert!(state.view.trace.is_empty(), "not streaming yet");
        let state = state
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 0,
            }))
            .reduce(in_session(1, listen(1)))
            .reduce(WatchAction::Follow(2))
            .reduce(in_session(1, listen(1)))
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 0,
            }))
            .reduce(in_session(1, listen(1)));
        assert!(
            state.view.trace.is_empty(),
            "session 1 is no longer followed"
        );
        let state = state
            .reduce(got(WatchMsg::Following {
                session: 2,
                dropped: 0,
            }))
            .reduce(in_session(2, listen(1)));
        assert_eq!(state.view.trace.len(), 1);
        // A dropped socket stops the stream until the follow is answered.
        let state = state
            .reduce(WatchAction::Closed { opened: true })
            .reduce(in_session(2, listen(1)));
        assert_eq!(state.view.trace.len(), 1);
    }

    /// The code panel shows the task of the selected event's server, else
    /// of the session's latest server, else of the public server.
    #[test]
    fn the_code_panel_follows_the_selected_server() {
        let public = protocol::PublicServer {
            addr: "127.0.0.1:1234".into(),
            mode: protocol::Mode::Greet,
            transport: protocol::Transport::Tcp,
        };
        let state = open()
            .reduce(WatchAction::Follow(1))
            .reduce(got(WatchMsg::Following {
                session: 1,
                dropped: 0,
            }))
            .reduce(in_session(
                1,
                ServerMsg::Hello {
                    version: PROTOCOL_VERSION,
                    bridge: "test".into(),
                    public_server: Some(public),
                    limits: protocol::Limits {
                        max_servers: 2,
                        max_connections: 8,
                        max_message_bytes: 65536,
                        idle_timeout_secs: 60,
                        max_programs: 4,
                        max_program_sockets: 16,
                    },
                    submission: None,
                },
            ));
        assert_eq!(state.task_shown(), Task::Greet);
        let state = state
            .reduce(in_session(1, started(1, protocol::Mode::Echo)))
            .reduce(in_session(1, listen(1)))
            .reduce(in_session(1, started(2, protocol::Mode::Greet)));
        assert_eq!(state.task_shown(), Task::Greet, "the latest server");
        let state = state.reduce(WatchAction::View(TraceAction::Select(0)));
        assert_eq!(state.task_shown(), Task::Echo, "the selected event's");
    }
}
