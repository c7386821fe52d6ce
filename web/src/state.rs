//! All of the page's state, in one [`Reducible`], changed only by [`Action`]s.
//!
//! Components dispatch actions; nothing else changes state. Commands for
//! the bridge are not sent from here: the reducer appends them to the
//! [`Outbox`] and `hooks::use_bridge` sends what is new. That keeps this
//! module free of browser calls, so it is tested natively.

use crate::code::{CodeAction, CodeState};
use crate::export;
use crate::filter::{ConnFilter, Filter, KindFilter};
use crate::lab::Task;
use crate::trace::{Entry, Trace};
use protocol::{
    ClientMsg, ConnId, DEFAULT_BACKLOG, Data, ErrorKind, Family, Lane, Limits, Mode,
    PROTOCOL_VERSION, PublicServer, Refusal, ServerId, ServerMsg, Step, Target, TraceEvent,
    Transport,
};
use std::rc::Rc;
use yew::Reducible;

/// The most events kept; older ones are dropped (with a note on the page).
pub const MAX_EVENTS: usize = 20_000;
/// The most notices shown at once.
const MAX_NOTICES: usize = 3;
/// Client connections remembered for the `client-select` (oldest closed
/// ones are forgotten first).
const MAX_CONNS: usize = 16;
/// Commands kept in the outbox for the hook to pick up.
const MAX_OUTBOX: usize = 64;

/// The WebSocket to the bridge (the `data-state` of `#ws-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BridgeStatus {
    #[default]
    Connecting,
    Open,
    Closed,
}

impl BridgeStatus {
    pub fn value(self) -> &'static str {
        match self {
            BridgeStatus::Connecting => "connecting",
            BridgeStatus::Open => "open",
            BridgeStatus::Closed => "closed",
        }
    }
}

/// How the WebSocket to the bridge closed (from the browser's
/// `CloseEvent`), so the page can say why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SocketClosed {
    /// It had opened (the bridge accepted it) before it closed.
    pub opened: bool,
    /// The close code (1006 when the connection just dropped).
    pub code: u16,
    /// The bridge's reason, if it gave one.
    pub reason: String,
}

/// Failed attempts in a row (the socket never opened) before the page
/// says it cannot reach the bridge.
pub const UNREACHABLE_AFTER: u32 = 3;

/// Why the page has no session with the bridge, or just lost one: shown
/// above everything until the student dismisses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionProblem {
    pub title: String,
    pub text: String,
}

/// What the bridge said about itself in its `hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeInfo {
    pub bridge: String,
    pub public_server: Option<PublicServer>,
    pub limits: Limits,
    /// The zip's name for "Download my lab" (`{name}_Lab03.zip`).
    pub submission: Option<String>,
}

/// Where a private lab server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Starting,
    Listening,
    Stopping,
    Stopped,
}

/// A lab server this page started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub id: ServerId,
    pub task: Task,
    pub addr: Option<String>,
    pub state: ServerState,
    /// accept() paused: clients queue in the backlog.
    pub paused: bool,
}

impl ServerInfo {
    pub fn is_up(&self) -> bool {
        matches!(self.state, ServerState::Starting | ServerState::Listening)
    }
}

/// Where a client connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnTarget {
    MyServer(ServerId),
    Public,
    /// `HOST:PORT`, if the bridge allows it (`--allow-target`).
    Addr(String),
}

/// A client connection the page asked the bridge to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    pub id: ConnId,
    pub target: ConnTarget,
    pub transport: Transport,
    /// connect() returned.
    pub connected: bool,
    /// We called shutdown(SHUT_WR).
    pub write_closed: bool,
    /// recv() returned 0 bytes.
    pub peer_closed: bool,
    /// close() was called, or the connection failed.
    pub closed: bool,
    /// What made it fail, if it did.
    pub failure: Option<String>,
}

impl ConnInfo {
    /// How the `client-select` describes it.
    pub fn describe(&self) -> String {
        let target = match &self.target {
            ConnTarget::MyServer(id) => format!("my server {id}"),
            ConnTarget::Public => "public server".to_string(),
            ConnTarget::Addr(addr) => addr.clone(),
        };
        let state = if let Some(failure) = &self.failure {
            failure.as_str()
        } else if self.closed {
            "closed"
        } else if self.write_closed && self.peer_closed {
            "both sides shut"
        } else if self.write_closed {
            "you shut down writing"
        } else if self.peer_closed {
            "peer closed"
        } else if self.connected {
            "open"
        } else {
            "connecting…"
        };
        format!("Client {} → {target} ({state})", self.id)
    }

    pub fn can_send(&self) -> bool {
        !self.closed && !self.write_closed
    }
}

/// How a notice looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Info,
    Refused,
    Error,
}

/// A message to the student that is not a trace event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: u64,
    pub kind: NoticeKind,
    pub title: String,
    pub text: String,
    /// One plain sentence on what it means.
    pub explanation: Option<&'static str>,
}

/// A command waiting for the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub seq: u64,
    pub msg: ClientMsg,
}

/// Commands for the bridge, numbered so the hook sends each once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outbox {
    pub queued: Rc<Vec<Outgoing>>,
    /// The number the next command gets.
    pub next_seq: u64,
}

impl Outbox {
    fn push(&mut self, msg: ClientMsg) {
        let queued = Rc::make_mut(&mut self.queued);
        if queued.len() == MAX_OUTBOX {
            queued.remove(0);
        }
        queued.push(Outgoing {
            seq: self.next_seq,
            msg,
        });
        self.next_seq += 1;
    }
}

/// Replay speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Speed {
    Half,
    #[default]
    One,
    Two,
    Four,
}

impl Speed {
    pub const ALL: [Speed; 4] = [Speed::Half, Speed::One, Speed::Two, Speed::Four];

    pub fn value(self) -> &'static str {
        match self {
            Speed::Half => "0.5",
            Speed::One => "1",
            Speed::Two => "2",
            Speed::Four => "4",
        }
    }

    pub fn from_value(value: &str) -> Speed {
        Speed::ALL
            .into_iter()
            .find(|s| s.value() == value)
            .unwrap_or_default()
    }

    /// Time between steps while playing.
    pub fn interval_ms(self) -> u32 {
        match self {
            Speed::Half => 1600,
            Speed::One => 800,
            Speed::Two => 400,
            Speed::Four => 200,
        }
    }
}

/// Light, dark, or what the system prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Auto,
    Light,
    Dark,
}

impl Theme {
    pub fn value(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn from_value(value: &str) -> Theme {
        match value {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            _ => Theme::Auto,
        }
    }

    pub fn next(self) -> Theme {
        match self {
            Theme::Auto => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::Auto,
        }
    }
}

/// Which neighbour to select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    First,
    Prev,
    Next,
    Last,
}

impl Action {
    /// What a key does in a view of the trace (the log, the diagram):
    /// arrows move the selection, Home and End go to the first and last
    /// event, Escape goes back to live.
    pub fn for_trace_key(key: &str) -> Option<Action> {
        Some(match key {
            "ArrowDown" => Action::Move(Toward::Next),
            "ArrowUp" => Action::Move(Toward::Prev),
            "Home" => Action::Move(Toward::First),
            "End" => Action::Move(Toward::Last),
            "Escape" => Action::Live,
            _ => return None,
        })
    }
}

/// Everything that can happen to the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    // The WebSocket (from hooks::use_bridge).
    BridgeConnecting,
    BridgeOpened,
    /// The socket closed (how), or could not be opened; `origin` is the
    /// page's own (`http://127.0.0.1:8000`), to name it when refused.
    BridgeClosed {
        closed: SocketClosed,
        origin: String,
        url: String,
    },
    DismissProblem,
    FromBridge(ServerMsg),
    /// Several actions at once, with one render (the bridge's messages of
    /// a busy moment: a student's echo loop makes hundreds a second).
    Batch(Vec<Action>),
    /// A message from the bridge that could not be read.
    BadMessage(String),
    /// Forgets the session (keeping the display preferences): the
    /// instructor's view follows another one, whose messages come next.
    Reset,

    // The lab's controls.
    ChooseTask(Task),
    /// Task 2's greeting, as typed (a newline is added when sent).
    SetGreeting(String),
    /// `AF_INET` or `AF_INET6` for "Start my server".
    SetFamily(Family),
    StartServer,
    StopServer,
    TogglePauseAccept,
    ConnectClient,
    ConnectPublic,
    /// Connect to `HOST:PORT` (only targets the bridge allows).
    ConnectTarget(String),
    ChooseClient(ConnId),
    /// Send `data` on the current client; `typed` is the composer's text.
    Send {
        data: Data,
        typed: String,
    },
    Shutdown,
    Close,
    /// A problem found before sending (bad hex, too long).
    Warn(String),
    DismissNotice(u64),

    // The trace views.
    Select(u64),
    /// Moves the selection (arrow keys); keeps replay as it is.
    Move(Toward),
    /// Steps through the trace: later events stay hidden until reached.
    Step(Toward),
    TogglePlay,
    /// The replay timer fired.
    Tick,
    SetSpeed(Speed),
    /// Leaves replay and follows new events again.
    Live,
    Clear,
    FilterConn(ConnFilter),
    FilterKind(KindFilter),
    Search(String),
    /// The text of a trace file to replay.
    Import(String),
    /// The events a question waits on (see `predict`): replay stops just
    /// before each until it is answered.
    Hold(Rc<Vec<u64>>),
    /// A trace file could not be read (why).
    ImportFailed(String),

    // Preferences.
    ToggleProjector,
    CycleTheme,

    /// The code view: the student's own programs (see `code`).
    Code(CodeAction),
}

/// The page's state.
#[derive(Debug, Clone, PartialEq)]
pub struct LabState {
    pub status: BridgeStatus,
    pub bridge: Option<BridgeInfo>,
    pub task: Task,
    pub servers: Vec<ServerInfo>,
    /// The server that "Start my server" started last.
    pub current_server: Option<ServerId>,
    next_server: ServerId,
    pub conns: Vec<ConnInfo>,
    /// The connection the composer sends on.
    pub current_conn: Option<ConnId>,
    next_conn: ConnId,
    pub trace: Trace,
    pub selected: Option<u64>,
    /// Stepping through: events after `selected` are hidden.
    pub replay: bool,
    pub playing: bool,
    pub speed: Speed,
    pub filter: Filter,
    pub notices: Vec<Notice>,
    next_notice: u64,
    pub outbox: Outbox,
    pub projector: bool,
    pub theme: Theme,
    /// Task 2's greeting, as the student typed it.
    pub greeting: String,
    /// The address family "Start my server" uses.
    pub family: Family,
    /// Why the session ended or cannot start, if it did.
    pub problem: Option<SessionProblem>,
    /// Closes in a row without the socket ever opening.
    failed_opens: u32,
    /// Counts the composer's sends that were queued: the composer empties
    /// its box when this changes (never when a send is refused).
    pub sends_queued: u64,
    /// The last send queued, until it is on its way: `(conn, text)`.
    last_send: Option<(ConnId, String)>,
    /// A refused send's text for the composer to put back: `(n, text)`,
    /// `n` counting such returns.
    pub returned_draft: Option<(u64, String)>,
    /// The student's own `server.py` and `client.py`.
    pub code: CodeState,
    /// Predict, then observe: events replay stops before (see `predict`).
    pub holds: Rc<Vec<u64>>,
}

impl Default for LabState {
    fn default() -> Self {
        LabState {
            status: BridgeStatus::Connecting,
            bridge: None,
            task: Task::default(),
            servers: Vec::new(),
            current_server: None,
            next_server: 1,
            conns: Vec::new(),
            current_conn: None,
            next_conn: 1,
            trace: Trace::with_cap(MAX_EVENTS),
            selected: None,
            replay: false,
            playing: false,
            speed: Speed::default(),
            filter: Filter::default(),
            notices: Vec::new(),
            next_notice: 1,
            outbox: Outbox::default(),
            projector: false,
            theme: Theme::default(),
            greeting: protocol::DEFAULT_GREETING.trim_end().to_string(),
            family: Family::Ipv4,
            problem: None,
            failed_opens: 0,
            sends_queued: 0,
            last_send: None,
            returned_draft: None,
            code: CodeState::default(),
            holds: Rc::default(),
        }
    }
}

impl Reducible for LabState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        // The replay timer may fire once after playing stopped: returning
        // the same Rc tells yew nothing changed.
        if action == Action::Tick && !self.playing {
            return self;
        }
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

impl LabState {
    /// The server "Start my server" started last, if any.
    pub fn server(&self) -> Option<&ServerInfo> {
        let id = self.current_server?;
        self.servers.iter().find(|s| s.id == id)
    }

    /// The connection the composer acts on.
    pub fn conn(&self) -> Option<&ConnInfo> {
        let id = self.current_conn?;
        self.conns.iter().find(|c| c.id == id)
    }

    /// The last event shown while stepping through (later ones hidden).
    pub fn shown_upto(&self) -> Option<u64> {
        if self.replay { self.selected } else { None }
    }

    /// The selected event, if any.
    pub fn selected_entry(&self) -> Option<Rc<Entry>> {
        self.selected.and_then(|seq| self.trace.get(seq)).cloned()
    }

    /// The selected event's place in the trace, from 1 (0 if none).
    pub fn selected_number(&self) -> u64 {
        self.selected
            .map_or(0, |seq| seq.saturating_sub(self.trace.first_seq()) + 1)
    }

    /// What the code panel highlights: the lane and the call of the
    /// selected event (a failed call's own line, see `Step::call_name`).
    pub fn code_selection(&self) -> Option<(Lane, &'static str)> {
        let entry = self.selected_entry()?;
        Some((entry.event.lane, entry.event.step.call_name()))
    }

    /// The student's line behind the selected event, for an event of the
    /// student's own program: its file's lane, the program's text as it
    /// ran (if still kept), and the line.
    pub fn student_selection(&self) -> Option<(Lane, Option<Rc<str>>, u32)> {
        let entry = self.selected_entry()?;
        let source = entry.event.source.as_ref()?;
        let ran = self.code.source_of(source.program);
        let lane = ran
            .as_ref()
            .map_or_else(|| protocol::program::lane_of_file(&source.file), |r| r.0);
        Some((lane, ran.map(|r| r.1), source.line))
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::BridgeConnecting => self.status = BridgeStatus::Connecting,
            Action::BridgeOpened => {
                self.status = BridgeStatus::Open;
                self.outbox.queued = Rc::default();
                self.failed_opens = 0;
                // "Cannot reach" is over; a closed session's reason stays
                // until dismissed (the student has to start again).
                if self
                    .problem
                    .as_ref()
                    .is_some_and(|p| p.title == UNREACHABLE)
                {
                    self.problem = None;
                }
            }
            Action::BridgeClosed {
                closed,
                origin,
                url,
            } => self.bridge_closed(closed, &origin, &url),
            Action::DismissProblem => self.problem = None,
            Action::FromBridge(msg) => self.on_bridge_message(msg),
            Action::Batch(actions) => {
                for action in actions {
                    self.apply(action);
                }
            }
            Action::Reset => {
                *self = LabState {
                    // Numbering goes on, so no row is mistaken for an old one.
                    trace: self.trace.cleared(),
                    projector: self.projector,
                    theme: self.theme,
                    sends_queued: self.sends_queued,
                    ..LabState::default()
                };
            }
            Action::BadMessage(why) => self.notify(
                NoticeKind::Error,
                "The bridge sent something this page cannot read",
                why,
                None,
            ),
            Action::ChooseTask(task) => self.task = task,
            Action::SetGreeting(text) => self.greeting = text,
            Action::SetFamily(family) => self.family = family,
            Action::StartServer => self.start_server(),
            Action::StopServer => self.stop_server(),
            Action::TogglePauseAccept => self.toggle_pause(),
            Action::ConnectClient => {
                let server = self.current_server.unwrap_or(self.next_server);
                let transport = self
                    .server()
                    .map_or(self.task.transport(), |s| s.task.transport());
                self.connect(ConnTarget::MyServer(server), transport);
            }
            Action::ConnectPublic => {
                let transport = self
                    .bridge
                    .as_ref()
                    .and_then(|b| b.public_server.as_ref())
                    .map_or(Transport::Tcp, |p| p.transport);
                self.connect(ConnTarget::Public, transport);
            }
            Action::ConnectTarget(addr) => {
                let addr = addr.trim();
                if addr.is_empty() {
                    self.notify(
                        NoticeKind::Info,
                        "No address",
                        "Type an address as HOST:PORT, for example 127.0.0.1:1234.".to_string(),
                        None,
                    );
                } else {
                    self.connect(ConnTarget::Addr(addr.to_string()), self.task.transport());
                }
            }
            Action::ChooseClient(id) => {
                if self.conns.iter().any(|c| c.id == id) {
                    self.current_conn = Some(id);
                }
            }
            Action::Send { data, typed } => self.send(data, typed),
            Action::Shutdown => self.on_conn(|conn| ClientMsg::Shutdown { conn }),
            Action::Close => self.on_conn(|conn| ClientMsg::Close { conn }),
            Action::Warn(text) => self.notify(NoticeKind::Error, "Not sent", text, None),
            Action::DismissNotice(id) => self.notices.retain(|n| n.id != id),
            Action::Select(seq) => {
                if self.trace.get(seq).is_some() {
                    self.selected = Some(seq);
                }
            }
            Action::Move(toward) => {
                if let Some(seq) = self.neighbour(toward) {
                    let before = self.selected;
                    self.selected = Some(seq);
                    if self.replay {
                        self.stop_before_hold(before);
                    }
                }
            }
            Action::Step(toward) => self.step(toward),
            Action::TogglePlay => self.toggle_play(),
            Action::Tick => {
                let before = self.selected;
                self.step(Toward::Next);
                if self.selected == before {
                    self.playing = false;
                }
            }
            Action::SetSpeed(speed) => self.speed = speed,
            Action::Live => {
                self.selected = None;
                self.replay = false;
                self.playing = false;
            }
            Action::Clear => {
                self.trace = self.trace.cleared();
                self.selected = None;
                self.replay = false;
                self.playing = false;
            }
            Action::FilterConn(conn) => self.filter.conn = conn,
            Action::FilterKind(kind) => self.filter.kind = kind,
            Action::Search(text) => self.filter.set_search(text),
            Action::Import(text) => self.import(&text),
            Action::Hold(holds) => self.holds = holds,
            Action::ImportFailed(why) => {
                self.notify(NoticeKind::Error, "Could not load that file", why, None)
            }
            Action::ToggleProjector => self.projector = !self.projector,
            Action::CycleTheme => self.theme = self.theme.next(),
            Action::Code(action) => {
                let online = self.status == BridgeStatus::Open;
                self.code.apply(action, online);
            }
        }
    }

    pub(crate) fn notify(
        &mut self,
        kind: NoticeKind,
        title: &str,
        text: String,
        explanation: Option<&'static str>,
    ) {
        if self.notices.len() == MAX_NOTICES {
            self.notices.remove(0);
        }
        self.notices.push(Notice {
            id: self.next_notice,
            kind,
            title: title.to_string(),
            text,
            explanation,
        });
        self.next_notice += 1;
    }

    /// True when the bridge can take commands; otherwise tells the student.
    fn bridge_ready(&mut self) -> bool {
        if self.status != BridgeStatus::Open {
            self.notify(
                NoticeKind::Error,
                "Not connected to the bridge",
                "The page reconnects on its own; try again when the badge says Connected."
                    .to_string(),
                None,
            );
            return false;
        }
        true
    }

    /// Queues a command if the bridge is there to take it.
    fn command(&mut self, msg: ClientMsg) -> bool {
        if !self.bridge_ready() {
            return false;
        }
        self.outbox.push(msg);
        true
    }

    fn bridge_closed(&mut self, closed: SocketClosed, origin: &str, url: &str) {
        let had_session = self.status == BridgeStatus::Open;
        if closed.opened {
            self.failed_opens = 0;
        } else {
            self.failed_opens += 1;
        }
        if let Some(problem) = close_problem(&closed, had_session, self.failed_opens, origin, url) {
            // Said twice: under the title bar, and among the notices by the
            // message box, where a student who just sent something looks.
            if had_session {
                self.notify(
                    NoticeKind::Error,
                    &problem.title,
                    problem.text.clone(),
                    None,
                );
            }
            self.problem = Some(problem);
        }
        self.status = BridgeStatus::Closed;
        self.outbox.queued = Rc::default();
        // The bridge ends a session's servers and connections with it.
        for server in &mut self.servers {
            server.state = ServerState::Stopped;
        }
        for conn in &mut self.conns {
            conn.closed = true;
        }
        self.playing = false;
        self.code.bridge_closed();
    }

    fn on_bridge_message(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Hello {
                version,
                bridge,
                public_server,
                limits,
                submission,
            } => {
                if version != PROTOCOL_VERSION {
                    self.notify(
                        NoticeKind::Error,
                        "Different versions",
                        format!(
                            "The bridge speaks protocol {version}, this page {PROTOCOL_VERSION}."
                        ),
                        Some("Reload the page to get the version the bridge serves."),
                    );
                }
                self.bridge = Some(BridgeInfo {
                    bridge,
                    public_server,
                    limits,
                    submission,
                });
            }
            ServerMsg::ServerStarted {
                server,
                addr,
                mode,
                transport,
            } => {
                let task = Task::for_server(mode, transport);
                match self.servers.iter_mut().find(|s| s.id == server) {
                    Some(info) => {
                        info.addr = Some(addr);
                        info.state = ServerState::Listening;
                        info.task = task;
                    }
                    None => self.servers.push(ServerInfo {
                        id: server,
                        task,
                        addr: Some(addr),
                        state: ServerState::Listening,
                        paused: false,
                    }),
                }
            }
            ServerMsg::ServerStopped { server } => {
                if let Some(info) = self.servers.iter_mut().find(|s| s.id == server) {
                    info.state = ServerState::Stopped;
                }
            }
            ServerMsg::Trace(event) => self.record(event),
            ServerMsg::Refused {
                reason,
                message,
                conn,
                server,
            } => self.refused(reason, message, conn, server),
            // A student program's replies go to the program that asked.
            ServerMsg::SockReply { .. } | ServerMsg::ProgramEnded { .. } => {}
        }
    }

    /// Adds an event to the trace and follows what it says about our
    /// servers and connections.
    fn record(&mut self, event: TraceEvent) {
        self.code.on_trace(&event);
        // A student program's steps are its own, not the lab client's.
        let conn = event.conn.filter(|_| event.source.is_none());
        match (&event.step, event.lane, conn, event.server) {
            (Step::AcceptPaused | Step::AcceptResumed, Lane::Server, _, Some(id)) => {
                if let Some(s) = self.servers.iter_mut().find(|s| s.id == id) {
                    s.paused = matches!(event.step, Step::AcceptPaused);
                }
            }
            (step, Lane::Client, Some(id), _) => {
                if let Some(conn) = self.conns.iter_mut().find(|c| c.id == id) {
                    match step {
                        Step::Connected { .. } => conn.connected = true,
                        Step::Shutdown => conn.write_closed = true,
                        Step::RecvEof => conn.peer_closed = true,
                        Step::Close => conn.closed = true,
                        Step::Error { kind, .. } => {
                            conn.failure = Some(kind.title().to_string());
                            // A failed connect() leaves nothing open; after
                            // that, the bridge reports close() itself.
                            if !conn.connected {
                                conn.closed = true;
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        let seq = self.trace.push(event);
        // An event that went in before later ones moved them down one.
        if seq + 1 < self.trace.next_seq()
            && let Some(selected) = self.selected.as_mut()
            && *selected >= seq
        {
            *selected += 1;
        }
    }

    fn refused(
        &mut self,
        reason: Refusal,
        message: String,
        conn: Option<ConnId>,
        server: Option<ServerId>,
    ) {
        let (title, explanation) = refusal_words(reason);
        // A send the bridge turned down: its text goes back in the box.
        if let (Some(id), Some((sent_on, _))) = (conn, &self.last_send)
            && *sent_on == id
            && matches!(
                reason,
                Refusal::TooLarge | Refusal::Limit | Refusal::State | Refusal::Unknown
            )
            && let Some((_, text)) = self.last_send.take()
        {
            self.return_draft(text);
        }
        if let Some(info) = conn.and_then(|id| self.conns.iter_mut().find(|c| c.id == id))
            && !info.connected
        {
            // The connection was never made.
            info.closed = true;
            info.failure = Some(format!("refused: {title}"));
        }
        if let Some(info) = server.and_then(|id| self.servers.iter_mut().find(|s| s.id == id))
            && info.state == ServerState::Starting
        {
            info.state = ServerState::Stopped;
        }
        self.notify(
            NoticeKind::Refused,
            &format!("Refused: {title}"),
            message,
            Some(explanation),
        );
    }

    fn start_server(&mut self) {
        if !self.bridge_ready() {
            return;
        }
        if let Some(old) = self.server().filter(|s| s.is_up()).map(|s| s.id) {
            self.outbox.push(ClientMsg::StopServer { server: old });
            if let Some(s) = self.servers.iter_mut().find(|s| s.id == old) {
                s.state = ServerState::Stopping;
            }
        }
        let id = self.next_server;
        self.next_server += 1;
        let transport = self.task.transport();
        let mode = self.task.mode();
        self.outbox.push(ClientMsg::StartServer {
            server: id,
            mode,
            transport,
            family: self.family,
            backlog: (transport == Transport::Tcp).then_some(DEFAULT_BACKLOG),
            greeting: (mode == Mode::Greet).then(|| format!("{}\n", self.greeting)),
        });
        self.servers
            .retain(|s| s.is_up() || s.state == ServerState::Stopping);
        self.servers.push(ServerInfo {
            id,
            task: self.task,
            addr: None,
            state: ServerState::Starting,
            paused: false,
        });
        self.current_server = Some(id);
    }

    fn stop_server(&mut self) {
        let Some(id) = self.server().filter(|s| s.is_up()).map(|s| s.id) else {
            return;
        };
        if self.command(ClientMsg::StopServer { server: id })
            && let Some(s) = self.servers.iter_mut().find(|s| s.id == id)
        {
            s.state = ServerState::Stopping;
        }
    }

    fn toggle_pause(&mut self) {
        let Some((id, paused)) = self
            .server()
            .filter(|s| s.is_up() && s.task.transport() == Transport::Tcp)
            .map(|s| (s.id, s.paused))
        else {
            return;
        };
        if self.command(ClientMsg::PauseAccept {
            server: id,
            paused: !paused,
        }) && let Some(s) = self.servers.iter_mut().find(|s| s.id == id)
        {
            s.paused = !paused;
        }
    }

    fn connect(&mut self, target: ConnTarget, transport: Transport) {
        let id = self.next_conn;
        let msg = ClientMsg::Connect {
            conn: id,
            target: match &target {
                ConnTarget::MyServer(id) => Target::Server { id: *id },
                ConnTarget::Public => Target::Public,
                ConnTarget::Addr(addr) => Target::Addr { addr: addr.clone() },
            },
            transport,
        };
        if !self.command(msg) {
            return;
        }
        self.next_conn += 1;
        if self.conns.len() == MAX_CONNS {
            let oldest = self.conns.iter().position(|c| c.closed).unwrap_or(0);
            self.conns.remove(oldest);
        }
        self.conns.push(ConnInfo {
            id,
            target,
            transport,
            connected: false,
            write_closed: false,
            peer_closed: false,
            closed: false,
            failure: None,
        });
        self.current_conn = Some(id);
    }

    fn on_conn(&mut self, msg: impl FnOnce(ConnId) -> ClientMsg) {
        match self.current_conn {
            Some(id) => {
                self.command(msg(id));
            }
            None => self.notify(
                NoticeKind::Info,
                "No client yet",
                "Connect a client first.".to_string(),
                None,
            ),
        }
    }

    /// Sends the composer's message on the current client, after checking
    /// it fits the bridge's limit. `typed` is the box's text, kept (and
    /// given back) whenever the send is refused.
    fn send(&mut self, data: Data, typed: String) {
        if data.is_empty() {
            return;
        }
        let Some(conn) = self.current_conn else {
            self.notify(
                NoticeKind::Info,
                "No client yet",
                "Connect a client first.".to_string(),
                None,
            );
            return;
        };
        if let Some(info) = self.conns.iter().find(|c| c.id == conn)
            && !info.can_send()
        {
            self.notify(
                NoticeKind::Info,
                "Not sent",
                format!(
                    "{}: it can send no more. Your text is still in the box: connect a new \
                     client to send it.",
                    info.describe()
                ),
                None,
            );
            return;
        }
        if let Some(limits) = self.bridge.as_ref().map(|b| &b.limits) {
            let msg = ClientMsg::Send {
                conn,
                data: data.clone(),
            };
            if let Err(size) = fits(limits.max_message_bytes, &msg) {
                let hex = matches!(data, Data::Hex(_));
                let most = largest_payload(limits.max_message_bytes, conn, hex);
                self.notify(
                    NoticeKind::Error,
                    "Too long: not sent",
                    format!(
                        "The message is {} bytes ({size} bytes with the command around it); this \
                         bridge takes at most {} bytes per command, so at most {most} bytes {} at \
                         once. Your text is still in the box: send it in smaller pieces.",
                        data.len(),
                        limits.max_message_bytes,
                        if hex {
                            "written as hex"
                        } else {
                            "of plain text"
                        },
                    ),
                    None,
                );
                return;
            }
        }
        if self.command(ClientMsg::Send { conn, data }) {
            self.sends_queued += 1;
            self.last_send = Some((conn, typed));
        }
    }

    /// Puts a refused message's text back in the composer.
    fn return_draft(&mut self, text: String) {
        let n = self.returned_draft.as_ref().map_or(1, |(n, _)| n + 1);
        self.returned_draft = Some((n, text));
    }

    /// The nearest event `toward` the selection that the filter shows.
    fn neighbour(&self, toward: Toward) -> Option<u64> {
        let trace = &self.trace;
        let shown = |seq: &u64| trace.get(*seq).is_some_and(|e| self.filter.matches(e));
        let (first, end) = (trace.first_seq(), trace.next_seq());
        match (toward, self.selected) {
            (Toward::First, _) | (Toward::Next, None) => (first..end).find(shown),
            (Toward::Last, _) | (Toward::Prev, None) => (first..end).rev().find(shown),
            (Toward::Next, Some(at)) => (at.saturating_add(1).max(first)..end).find(shown),
            (Toward::Prev, Some(at)) => (first..at.min(end)).rev().find(shown),
        }
    }

    fn step(&mut self, toward: Toward) {
        let toward = match (toward, self.replay) {
            // Stepping forward into a trace starts from its beginning.
            (Toward::Next, false) => Toward::First,
            (other, _) => other,
        };
        let before = self.selected.filter(|_| self.replay);
        if let Some(seq) = self.neighbour(toward) {
            self.selected = Some(seq);
        }
        self.stop_before_hold(before);
        self.replay = self.selected.is_some();
        // Playing pauses where a question waits.
        if self.waiting_at().is_some() {
            self.playing = false;
        }
    }

    /// Predict, then observe: a move forward from `before` that would show
    /// an event a question waits on stops on the shown event just before
    /// it (or stays where it was).
    fn stop_before_hold(&mut self, before: Option<u64>) {
        let Some(to) = self.selected else {
            return;
        };
        let shown = |seq: &u64| self.trace.get(*seq).is_some_and(|e| self.filter.matches(e));
        // A question about an event the filter hides is not asked.
        let hold = self
            .holds
            .iter()
            .copied()
            .filter(|&h| before.is_none_or(|b| h > b) && h <= to && shown(&h))
            .min();
        if let Some(hold) = hold {
            let first = self.trace.first_seq();
            self.selected = (first..hold).rev().find(shown).or(before);
        }
    }

    /// The event a question waits on, when replay stands just before it.
    pub fn waiting_at(&self) -> Option<u64> {
        if !self.replay {
            return None;
        }
        self.neighbour(Toward::Next)
            .filter(|next| self.holds.contains(next))
    }

    fn toggle_play(&mut self) {
        if self.playing {
            self.playing = false;
            return;
        }
        // A question waits: it is answered before playing on.
        if self.waiting_at().is_some() {
            return;
        }
        let at_end = self.selected.is_some() && self.neighbour(Toward::Next).is_none();
        if !self.replay || at_end {
            self.selected = self.neighbour(Toward::First);
        }
        self.replay = self.selected.is_some();
        self.playing = self.replay;
    }

    fn import(&mut self, text: &str) {
        match export::parse_json(text) {
            Ok(events) => {
                let count = events.len();
                if let Some(task) = Task::infer(&events) {
                    self.task = task;
                }
                self.trace = self.trace.cleared();
                self.selected = None;
                self.replay = false;
                self.playing = false;
                for event in events {
                    self.trace.push(event);
                }
                self.notify(
                    NoticeKind::Info,
                    "Trace loaded",
                    format!("{count} events. Press Play or step through them."),
                    None,
                );
            }
            Err(why) => self.notify(NoticeKind::Error, "Could not load that file", why, None),
        }
    }
}

/// The title of the problem "the page cannot reach the bridge".
const UNREACHABLE: &str = "Cannot reach the bridge";

/// What to tell the student when the socket to the bridge closes: why the
/// session ended (the bridge's close code and reason), or, after a few
/// attempts that never opened, that the bridge cannot be reached and the
/// likely causes. `None` when there is nothing new to say.
pub fn close_problem(
    closed: &SocketClosed,
    had_session: bool,
    failed_opens: u32,
    origin: &str,
    url: &str,
) -> Option<SessionProblem> {
    let reason = closed.reason.trim();
    if closed.opened || !reason.is_empty() {
        let why = match (closed.code, reason) {
            (_, reason) if !reason.is_empty() => format!("it said: \"{reason}\""),
            (1000, _) => "it ended the session normally".to_string(),
            (1001, _) => "it is going away (shutting down or restarting)".to_string(),
            (1006, _) => "the connection dropped without a goodbye (the bridge stopped, or the \
                          network went away)"
                .to_string(),
            (1008, _) => "it refused this page (policy violation)".to_string(),
            (1009, _) => "a message was larger than it accepts".to_string(),
            (1011, _) => "it met an internal error".to_string(),
            (code, _) => format!("close code {code}"),
        };
        let meaning = match closed.code {
            1008 => {
                " This page's address is not one the bridge accepts: open the page at the \
                      address the bridge printed when it started."
            }
            1009 => " Send less at once: the message box says how much fits.",
            _ if had_session => {
                " Your servers and clients in it are gone; the page reconnects \
                                 by itself, then start your server again."
            }
            _ => " The page keeps trying.",
        };
        return Some(SessionProblem {
            title: format!("The bridge closed the session (code {})", closed.code),
            text: format!("The bridge closed this page's session: {why}.{meaning}"),
        });
    }
    (failed_opens == UNREACHABLE_AFTER).then(|| SessionProblem {
        title: UNREACHABLE.to_string(),
        text: format!(
            "The page tried {failed_opens} times to open its WebSocket to {url} and the browser \
             could not open it (browsers do not say why). Either the bridge is not running there \
             (start it with `make run`), or it refuses pages from {origin}: open the page at the \
             address the bridge printed, or start the bridge with --allow-origin {origin}. The \
             page keeps trying."
        ),
    })
}

/// The length of `msg` as the bridge receives it (one JSON text message),
/// or that length as the error when it is over `limit`.
pub fn fits(limit: u32, msg: &ClientMsg) -> Result<usize, usize> {
    let size = serde_json::to_string(msg).map_or(usize::MAX, |json| json.len());
    if size <= limit as usize {
        Ok(size)
    } else {
        Err(size)
    }
}

/// The most payload bytes one `send` on `conn` can carry under `limit`:
/// the limit applies to the whole JSON command, so its wrapping is taken
/// off; plain text (no characters JSON escapes) takes one byte a byte,
/// hex two characters a byte.
pub fn largest_payload(limit: u32, conn: ConnId, hex: bool) -> usize {
    let data = if hex {
        Data::Hex(protocol::Bytes(Vec::new()))
    } else {
        Data::Text(String::new())
    };
    let wrapping = fits(u32::MAX, &ClientMsg::Send { conn, data }).unwrap_or(0);
    let room = (limit as usize).saturating_sub(wrapping);
    if hex { room / 2 } else { room }
}

/// A refusal in plain words: a title and one sentence.
pub fn refusal_words(reason: Refusal) -> (&'static str, &'static str) {
    match reason {
        Refusal::BadMessage => (
            "bad message",
            "The bridge could not understand the command; reloading the page usually fixes this.",
        ),
        Refusal::Version => (
            "different versions",
            "This page and the bridge speak different protocol versions: reload the page.",
        ),
        Refusal::TooLarge => (
            "too large",
            "The message was larger than the bridge accepts at once: send it in smaller pieces.",
        ),
        Refusal::NotAllowed => ("not allowed", ErrorKind::NotAllowed.explanation()),
        Refusal::Unknown => (
            "unknown server or client",
            "There is no server or client with that number in this session: start the server first, then connect.",
        ),
        Refusal::InUse => (
            "number in use",
            "That server or client number is already taken in this session.",
        ),
        Refusal::Limit => (
            "limit reached",
            "This session has as many servers or clients as the bridge allows: close some first.",
        ),
        Refusal::State => (
            "not possible now",
            "The connection is not in a state for that, for example sending after shutdown or close.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Bytes, Mode};

    fn open() -> Rc<LabState> {
        let state = Rc::new(LabState::default());
        state.reduce(Action::BridgeOpened)
    }

    fn sent(state: &LabState) -> Vec<ClientMsg> {
        state.outbox.queued.iter().map(|o| o.msg.clone()).collect()
    }

    fn trace(lane: Lane, conn: Option<ConnId>, step: Step) -> Action {
        Action::FromBridge(ServerMsg::Trace(TraceEvent {
            at_us: 1000,
            lane,
            server: Some(1),
            conn,
            server_conn: None,
            source: None,
            step,
        }))
    }

    /// "Start my server" asks for server 1 in the chosen task's mode with
    /// the lab's backlog of 5; starting again stops 1 and starts 2.
    #[test]
    fn starting_a_server_queues_the_command() {
        let state = open().reduce(Action::ChooseTask(Task::Echo));
        let state = state.reduce(Action::StartServer);
        assert_eq!(
            sent(&state),
            vec![ClientMsg::StartServer {
                server: 1,
                mode: Mode::Echo,
                transport: Transport::Tcp,
                family: Family::Ipv4,
                backlog: Some(5),
                greeting: None,
            }]
        );
        assert_eq!(state.server().unwrap().state, ServerState::Starting);
        let state = state.reduce(Action::FromBridge(ServerMsg::ServerStarted {
            server: 1,
            addr: "127.0.0.1:40000".into(),
            mode: Mode::Echo,
            transport: Transport::Tcp,
        }));
        assert_eq!(state.server().unwrap().state, ServerState::Listening);

        let state = state.reduce(Action::StartServer);
        let msgs = sent(&state);
        assert_eq!(msgs[1], ClientMsg::StopServer { server: 1 });
        assert!(matches!(msgs[2], ClientMsg::StartServer { server: 2, .. }));
        assert_eq!(state.current_server, Some(2));
        assert_eq!(state.outbox.next_seq, 3);
    }

    /// UDP servers have no backlog, and clients connect over UDP.
    #[test]
    fn udp_task_uses_udp() {
        let state = open()
            .reduce(Action::ChooseTask(Task::Udp))
            .reduce(Action::StartServer)
            .reduce(Action::ConnectClient);
        let msgs = sent(&state);
        assert!(matches!(
            msgs[0],
            ClientMsg::StartServer {
                transport: Transport::Udp,
                backlog: None,
                ..
            }
        ));
        assert_eq!(
            msgs[1],
            ClientMsg::Connect {
                conn: 1,
                target: Target::Server { id: 1 },
                transport: Transport::Udp
            }
        );
    }

    /// Without the bridge nothing is queued and the student is told why.
    #[test]
    fn commands_wait_for_the_bridge() {
        let state = Rc::new(LabState::default()).reduce(Action::ConnectPublic);
        assert!(sent(&state).is_empty());
        assert_eq!(state.notices.len(), 1);
        assert!(state.conns.is_empty());
    }

    /// Sending goes to the current client; the trace updates its state;
    /// a refusal of a connect closes it with the refusal's words.
    #[test]
    fn clients_follow_their_events() {
        let state = open()
            .reduce(Action::StartServer)
            .reduce(Action::ConnectClient)
            .reduce(Action::ConnectClient)
            .reduce(Action::ChooseClient(1))
            .reduce(Action::Send {
                data: Data::Text("hi".into()),
                typed: "hi".into(),
            });
        assert_eq!(
            sent(&state).last(),
            Some(&ClientMsg::Send {
                conn: 1,
                data: Data::Text("hi".into())
            })
        );
        let state = state
            .reduce(trace(
                Lane::Client,
                Some(1),
                Step::Connected {
                    local: "127.0.0.1:5".into(),
                    peer: "127.0.0.1:6".into(),
                },
            ))
            .reduce(trace(Lane::Client, Some(1), Step::Shutdown));
        assert!(
            state
                .conn()
                .unwrap()
                .describe()
                .contains("you shut down writing")
        );
        assert!(!state.conn().unwrap().can_send());

        let state = state.reduce(Action::FromBridge(ServerMsg::Refused {
            reason: Refusal::Limit,
            message: "at most 1 connection".into(),
            conn: Some(2),
            server: None,
        }));
        let second = state.conns.iter().find(|c| c.id == 2).unwrap();
        assert!(second.closed);
        let notice = state.notices.last().unwrap();
        assert_eq!(notice.kind, NoticeKind::Refused);
        assert_eq!(notice.title, "Refused: limit reached");
        assert_eq!(notice.text, "at most 1 connection");
    }

    /// Any allowed HOST:PORT can be the target; an empty one is not sent.
    #[test]
    fn connecting_to_an_address() {
        let state = open()
            .reduce(Action::ConnectTarget("  ".into()))
            .reduce(Action::ConnectTarget(" 127.0.0.1:9 ".into()));
        assert_eq!(
            sent(&state),
            vec![ClientMsg::Connect {
                conn: 1,
                target: Target::Addr {
                    addr: "127.0.0.1:9".into()
                },
                transport: Transport::Tcp
            }]
        );
        assert_eq!(state.notices[0].title, "No address");
        assert!(state.conn().unwrap().describe().contains("127.0.0.1:9"));
    }

    /// A refused connect() is an error event that closes the client.
    #[test]
    fn connection_refused_closes_the_client() {
        let state = open().reduce(Action::ConnectClient).reduce(trace(
            Lane::Client,
            Some(1),
            Step::Error {
                kind: ErrorKind::ConnectionRefused,
                message: "Connection refused (os error 111)".into(),
                failed: Some(protocol::Call::Connect),
            },
        ));
        let conn = state.conn().unwrap();
        assert!(conn.closed);
        assert!(conn.describe().contains("Connection refused"));
        assert_eq!(state.trace.len(), 1);
        // Selected, it is event 1, and the code panel shows connect()'s line.
        assert_eq!(state.code_selection(), None);
        let seq = state.trace.first_seq();
        let state = state.reduce(Action::Select(seq));
        assert_eq!(state.selected_number(), 1);
        assert!(state.selected_entry().is_some());
        assert_eq!(state.code_selection(), Some((Lane::Client, "connect")));
    }

    /// The bridge going away closes everything of the session but keeps
    /// the trace.
    #[test]
    fn losing_the_bridge_keeps_the_trace() {
        let state = open()
            .reduce(Action::StartServer)
            .reduce(Action::ConnectClient)
            .reduce(trace(Lane::Server, None, Step::Listen { backlog: 5 }))
            .reduce(closed(true, 1001, "bridge shutting down"));
        assert_eq!(state.status, BridgeStatus::Closed);
        assert!(state.conns.iter().all(|c| c.closed));
        assert!(state.servers.iter().all(|s| !s.is_up()));
        assert!(state.outbox.queued.is_empty());
        assert_eq!(state.trace.len(), 1);
    }

    /// The trace is capped: the oldest events go and the count is kept
    /// for the note on the page.
    #[test]
    fn the_trace_is_capped() {
        let mut state = LabState::default();
        for i in 0..(MAX_EVENTS + 300) as u64 {
            state.apply(trace(
                Lane::Client,
                Some(1),
                Step::Send {
                    data: Bytes(vec![i as u8]),
                },
            ));
        }
        assert!(state.trace.len() <= MAX_EVENTS);
        assert!(state.trace.dropped() > 0);
        assert_eq!(
            state.trace.len() as u64 + state.trace.dropped(),
            (MAX_EVENTS + 300) as u64
        );
    }

    /// Stepping starts at the first event, hides the rest, follows the
    /// filter, and playing stops at the end.
    /// The trace views' keys: arrows, Home, End and Escape; other keys are
    /// left to the browser.
    #[test]
    fn trace_keys_move_the_selection() {
        assert_eq!(
            Action::for_trace_key("ArrowUp"),
            Some(Action::Move(Toward::Prev))
        );
        assert_eq!(
            Action::for_trace_key("ArrowDown"),
            Some(Action::Move(Toward::Next))
        );
        assert_eq!(
            Action::for_trace_key("Home"),
            Some(Action::Move(Toward::First))
        );
        assert_eq!(
            Action::for_trace_key("End"),
            Some(Action::Move(Toward::Last))
        );
        assert_eq!(Action::for_trace_key("Escape"), Some(Action::Live));
        assert_eq!(Action::for_trace_key("Tab"), None);
        assert_eq!(Action::for_trace_key("a"), None);
    }

    #[test]
    fn stepping_and_playing() {
        let mut state = LabState::default();
        state.apply(trace(Lane::Server, None, Step::Listen { backlog: 5 }));
        state.apply(trace(Lane::Client, Some(1), Step::Close));
        state.apply(trace(Lane::Server, Some(1), Step::RecvEof));
        let state = Rc::new(state);

        let s = state.clone().reduce(Action::Step(Toward::Next));
        assert_eq!((s.selected, s.shown_upto()), (Some(0), Some(0)));
        let s = s.reduce(Action::Step(Toward::Next));
        assert_eq!(s.selected, Some(1));
        let s = s.reduce(Action::Step(Toward::Prev));
        assert_eq!(s.selected, Some(0));

        let s = state.clone().reduce(Action::Step(Toward::Prev));
        assert_eq!(s.selected, Some(2));

        let s = state
            .clone()
            .reduce(Action::FilterConn(ConnFilter::Conn(1)))
            .reduce(Action::Step(Toward::Next));
        assert_eq!(s.selected, Some(1));

        let s = state.clone().reduce(Action::TogglePlay);
        assert!(s.playing);
        assert_eq!(s.selected, Some(0));
        let s = s.reduce(Action::Tick).reduce(Action::Tick);
        assert_eq!(s.selected, Some(2));
        let s = s.reduce(Action::Tick);
        assert!(!s.playing);
        let same = s.clone().reduce(Action::Tick);
        assert!(Rc::ptr_eq(&s, &same));

        let s = s.reduce(Action::Live);
        assert_eq!((s.selected, s.replay), (None, false));

        let s = state.reduce(Action::Move(Toward::Last));
        assert_eq!((s.selected, s.replay), (Some(2), false));
    }

    /// Loading a trace file replaces the trace; a bad one leaves it alone
    /// and says why.
    #[test]
    fn importing_a_trace() {
        let state = Rc::new(LabState::default())
            .reduce(trace(Lane::Server, None, Step::Listen { backlog: 5 }))
            .reduce(Action::Import(crate::sample::TRACE.to_string()));
        assert!(state.trace.len() > 10);
        assert_eq!(state.trace.first_seq(), 1);
        assert_eq!(state.notices.last().unwrap().title, "Trace loaded");
        assert_eq!(state.task, Task::Echo);

        let before = state.trace.len();
        let state = state.reduce(Action::Import("{ not json".into()));
        assert_eq!(state.trace.len(), before);
        assert_eq!(state.notices.last().unwrap().kind, NoticeKind::Error);
    }

    /// Reset forgets the session's servers, trace and selection, keeps the
    /// display preferences, and numbers new events after the old ones.
    #[test]
    fn reset_forgets_the_session() {
        let state = Rc::new(LabState {
            theme: Theme::Dark,
            ..LabState::default()
        })
        .reduce(Action::FromBridge(ServerMsg::ServerStarted {
            server: 1,
            addr: "127.0.0.1:40000".into(),
            mode: Mode::Echo,
            transport: Transport::Tcp,
        }))
        .reduce(trace(Lane::Server, None, Step::Listen { backlog: 5 }))
        .reduce(Action::Select(0))
        .reduce(Action::Reset);
        assert!(state.servers.is_empty());
        assert!(state.trace.is_empty());
        assert_eq!(state.selected, None);
        assert_eq!(state.theme, Theme::Dark);
        let state = state.reduce(trace(Lane::Server, None, Step::Listen { backlog: 5 }));
        assert_eq!(state.trace.first_seq(), 1);
    }

    /// An event of the student's own program points at the student's
    /// line, in the text that program ran; the lab client's state is not
    /// touched by it, even when its conn id matches one of the page's.
    #[test]
    fn student_events_point_at_the_students_line() {
        use crate::code::{CodeAction, HANDOUT_CLIENT};
        let state = open()
            .reduce(Action::ConnectClient)
            .reduce(Action::Code(CodeAction::Open))
            .reduce(Action::Code(CodeAction::Run(Lane::Client)));
        let state = state.reduce(Action::FromBridge(ServerMsg::Trace(TraceEvent {
            at_us: 5,
            lane: Lane::Client,
            server: None,
            conn: Some(1),
            server_conn: None,
            source: Some(protocol::Source {
                program: 1,
                file: "client.py".into(),
                line: 4,
            }),
            step: Step::Close,
        })));
        assert!(
            !state.conn().unwrap().closed,
            "the lab's client 1 is still open"
        );
        let seq = state.trace.first_seq();
        assert_eq!(state.student_selection(), None);
        let state = state.reduce(Action::Select(seq));
        let (lane, text, line) = state.student_selection().unwrap();
        assert_eq!((lane, line), (Lane::Client, 4));
        assert_eq!(text.as_deref(), Some(HANDOUT_CLIENT));
        let lanes = crate::diagram::lane_heads(state.trace.iter().map(|e| &**e));
        assert_eq!(lanes[1].1, "client.py");
        assert_eq!(lanes[2].1, "Server");
    }

    /// Messages larger than the bridge's limit are not queued.
    #[test]
    fn the_message_limit_is_checked_before_sending() {
        let state = open()
            .reduce(Action::FromBridge(ServerMsg::Hello {
                version: PROTOCOL_VERSION,
                bridge: "test".into(),
                public_server: None,
                limits: Limits {
                    max_servers: 2,
                    max_connections: 8,
                    max_message_bytes: 4,
                    idle_timeout_secs: 60,
                    max_programs: 4,
                    max_program_sockets: 16,
                },
                submission: None,
            }))
            .reduce(Action::ConnectClient)
            .reduce(Action::Send {
                data: Data::Hex(Bytes(vec![0; 5])),
                typed: "00 00 00 00 00".into(),
            });
        assert_eq!(sent(&state).len(), 1);
        assert_eq!(state.notices.last().unwrap().title, "Too long: not sent");
        assert_eq!(state.sends_queued, 0, "the box keeps the text");
    }

    fn closed(opened: bool, code: u16, reason: &str) -> Action {
        Action::BridgeClosed {
            closed: SocketClosed {
                opened,
                code,
                reason: reason.into(),
            },
            origin: "http://127.0.0.1:8000".into(),
            url: "ws://127.0.0.1:8000/ws".into(),
        }
    }

    fn hello(max_message_bytes: u32) -> Action {
        Action::FromBridge(ServerMsg::Hello {
            version: PROTOCOL_VERSION,
            bridge: "test".into(),
            public_server: None,
            limits: Limits {
                max_servers: 2,
                max_connections: 8,
                max_message_bytes,
                idle_timeout_secs: 60,
                max_programs: 4,
                max_program_sockets: 16,
            },
            submission: None,
        })
    }

    /// The limit is on the whole JSON command: the largest payload that
    /// fits is sent, one byte more is refused in the page, for text and
    /// for hex alike.
    #[test]
    fn the_largest_payload_fits_and_one_more_does_not() {
        let limit = 1000;
        let state = open().reduce(hello(limit)).reduce(Action::ConnectClient);
        let conn = state.current_conn.unwrap();
        for hex in [false, true] {
            let most = largest_payload(limit, conn, hex);
            assert!(most > 400 && most < limit as usize, "{most}");
            let data = |n: usize| {
                if hex {
                    Data::Hex(Bytes(vec![0xab; n]))
                } else {
                    Data::Text("x".repeat(n))
                }
            };
            let full = ClientMsg::Send {
                conn,
                data: data(most),
            };
            // Exactly the limit (hex: within the one byte a half byte wastes).
            let size = fits(limit, &full).expect("the largest payload fits");
            assert!(size + 1 >= limit as usize, "{size}");
            let over = ClientMsg::Send {
                conn,
                data: data(most + 1),
            };
            assert!(fits(limit, &over).is_err());

            let ok = state.clone().reduce(Action::Send {
                data: data(most),
                typed: "t".into(),
            });
            assert_eq!(ok.sends_queued, 1);
            let refused = state.clone().reduce(Action::Send {
                data: data(most + 1),
                typed: "t".into(),
            });
            assert_eq!(refused.sends_queued, 0);
            assert_eq!(sent(&refused).len(), 1, "only the connect");
        }
    }

    /// A send the bridge refuses gives its text back to the composer.
    #[test]
    fn a_refused_send_returns_its_text() {
        let state = open().reduce(Action::ConnectClient).reduce(Action::Send {
            data: Data::Text("my long essay".into()),
            typed: "my long essay".into(),
        });
        assert_eq!(state.sends_queued, 1);
        let state = state.reduce(Action::FromBridge(ServerMsg::Refused {
            reason: Refusal::Limit,
            message: "too much waiting".into(),
            conn: Some(1),
            server: None,
        }));
        assert_eq!(state.returned_draft, Some((1, "my long essay".into())));
    }

    /// A closed session says why, with the bridge's code and reason; a
    /// socket that never opens is explained after a few tries, naming the
    /// page's origin.
    #[test]
    fn closes_are_explained() {
        let state = open().reduce(closed(
            true,
            1009,
            "message larger than the limit of 65536 bytes",
        ));
        let problem = state.problem.clone().unwrap();
        assert!(problem.title.contains("1009"), "{problem:?}");
        assert_eq!(state.notices.last().unwrap().text, problem.text);
        assert!(
            problem
                .text
                .contains("larger than the limit of 65536 bytes")
        );
        let state = state.reduce(closed(true, 1008, "origin not allowed"));
        assert!(
            state
                .problem
                .as_ref()
                .unwrap()
                .text
                .contains("origin not allowed")
        );
        // Reconnecting keeps the reason; dismissing clears it.
        let state = state.reduce(Action::BridgeOpened);
        assert!(state.problem.is_some());
        let state = state.reduce(Action::DismissProblem);
        assert!(state.problem.is_none());

        let mut state = Rc::new(LabState::default());
        for _ in 0..UNREACHABLE_AFTER - 1 {
            state = state.reduce(closed(false, 1006, ""));
            assert!(state.problem.is_none());
        }
        let state = state.reduce(closed(false, 1006, ""));
        let text = &state.problem.as_ref().unwrap().text;
        assert!(
            text.contains("--allow-origin http://127.0.0.1:8000"),
            "{text}"
        );
        assert!(text.contains("ws://127.0.0.1:8000/ws"), "{text}");
        assert!(state.reduce(Action::BridgeOpened).problem.is_none());
    }

    /// Task 2's greeting and the address family go into StartServer.
    #[test]
    fn greeting_and_family_are_sent() {
        let state = open()
            .reduce(Action::ChooseTask(Task::Greet))
            .reduce(Action::SetGreeting("Hello from my server".into()))
            .reduce(Action::SetFamily(Family::Ipv6))
            .reduce(Action::StartServer);
        assert!(matches!(
            &sent(&state)[0],
            ClientMsg::StartServer { family: Family::Ipv6, greeting: Some(g), mode: Mode::Greet, .. }
                if g == "Hello from my server\n"
        ));
    }

    /// A late event goes in before later ones, and the selection stays on
    /// the event it was on.
    #[test]
    fn a_late_event_keeps_the_selection() {
        let at = |at_us: u64, lane: Lane, step: Step| {
            Action::FromBridge(ServerMsg::Trace(TraceEvent {
                at_us,
                lane,
                server: Some(1),
                conn: Some(1),
                server_conn: None,
                source: None,
                step,
            }))
        };
        let state = open()
            .reduce(at(10, Lane::Client, Step::Close))
            .reduce(at(30, Lane::Client, Step::Close))
            .reduce(Action::Select(1))
            .reduce(at(20, Lane::Server, Step::RecvEof));
        assert_eq!(state.selected, Some(2));
        assert_eq!(state.selected_entry().unwrap().event.at_us, 30);
    }
}
