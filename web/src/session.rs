//! The student's session with the bridge: the WebSocket's state, the lab
//! servers and client connections this page asked for, the notices, and
//! the commands waiting to be sent. Student-only (the instructor's view
//! follows a session's trace, not its controls).
//!
//! One reducer ([`Session`], changed by [`SessionAction`]s). Commands for
//! the bridge are not sent from here: the reducer appends them to the
//! [`Outbox`] and `hooks::use_bridge` sends what is new. That keeps this
//! module free of browser calls, so it is tested natively. The trace
//! itself is not kept here: the session only follows what each event says
//! about its servers and connections (see `state`, which holds both).

use crate::lab::Task;
use protocol::{
    ClientMsg, ConnId, DEFAULT_BACKLOG, Data, ErrorKind, Family, Lane, Limits, Mode,
    PROTOCOL_VERSION, PublicServer, Refusal, ServerId, ServerMsg, Step, Target, TraceEvent,
    Transport,
};
use std::rc::Rc;
use yew::Reducible;

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

/// Everything that can happen to the student's session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionAction {
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
    /// A message from the bridge (a trace event: what it says about this
    /// session's servers and connections).
    FromBridge(ServerMsg),
    /// A message from the bridge that could not be read.
    BadMessage(String),

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
}

/// "Check my task"'s latest answer from the bridge.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskChecks {
    /// Counts the answers, so the same verdicts twice are two answers.
    pub n: u64,
    pub task: u8,
    pub checks: Rc<Vec<protocol::CheckReport>>,
}

/// The student's session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// "Check my task"'s latest answer, if any.
    pub task_checks: Option<TaskChecks>,
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
    pub notices: Vec<Notice>,
    next_notice: u64,
    pub outbox: Outbox,
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
}

impl Default for Session {
    fn default() -> Self {
        Session {
            status: BridgeStatus::Connecting,
            bridge: None,
            task: Task::default(),
            servers: Vec::new(),
            current_server: None,
            next_server: 1,
            conns: Vec::new(),
            current_conn: None,
            next_conn: 1,
            notices: Vec::new(),
            next_notice: 1,
            outbox: Outbox::default(),
            greeting: protocol::DEFAULT_GREETING.trim_end().to_string(),
            family: Family::Ipv4,
            problem: None,
            failed_opens: 0,
            sends_queued: 0,
            last_send: None,
            returned_draft: None,
            task_checks: None,
        }
    }
}

impl Reducible for Session {
    type Action = SessionAction;

    fn reduce(self: Rc<Self>, action: SessionAction) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

impl Session {
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

    pub fn apply(&mut self, action: SessionAction) {
        match action {
            SessionAction::BridgeConnecting => self.status = BridgeStatus::Connecting,
            SessionAction::BridgeOpened => {
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
            SessionAction::BridgeClosed {
                closed,
                origin,
                url,
            } => self.bridge_closed(closed, &origin, &url),
            SessionAction::DismissProblem => self.problem = None,
            SessionAction::FromBridge(msg) => self.on_bridge_message(msg),
            SessionAction::BadMessage(why) => self.notify(
                NoticeKind::Error,
                "The bridge sent something this page cannot read",
                why,
                None,
            ),
            SessionAction::ChooseTask(task) => self.task = task,
            SessionAction::SetGreeting(text) => self.greeting = text,
            SessionAction::SetFamily(family) => self.family = family,
            SessionAction::StartServer => self.start_server(),
            SessionAction::StopServer => self.stop_server(),
            SessionAction::TogglePauseAccept => self.toggle_pause(),
            SessionAction::ConnectClient => {
                let server = self.current_server.unwrap_or(self.next_server);
                let transport = self
                    .server()
                    .map_or(self.task.transport(), |s| s.task.transport());
                self.connect(ConnTarget::MyServer(server), transport);
            }
            SessionAction::ConnectPublic => {
                let transport = self
                    .bridge
                    .as_ref()
                    .and_then(|b| b.public_server.as_ref())
                    .map_or(Transport::Tcp, |p| p.transport);
                self.connect(ConnTarget::Public, transport);
            }
            SessionAction::ConnectTarget(addr) => {
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
            SessionAction::ChooseClient(id) => {
                if self.conns.iter().any(|c| c.id == id) {
                    self.current_conn = Some(id);
                }
            }
            SessionAction::Send { data, typed } => self.send(data, typed),
            SessionAction::Shutdown => self.on_conn(|conn| ClientMsg::Shutdown { conn }),
            SessionAction::Close => self.on_conn(|conn| ClientMsg::Close { conn }),
            SessionAction::Warn(text) => self.notify(NoticeKind::Error, "Not sent", text, None),
            SessionAction::DismissNotice(id) => self.notices.retain(|n| n.id != id),
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
            ServerMsg::Trace(event) => self.follow(&event),
            ServerMsg::Refused {
                reason,
                message,
                conn,
                server,
            } => self.refused(reason, message, conn, server),
            // A student program's replies go to the program that asked.
            ServerMsg::SockReply { .. } | ServerMsg::ProgramEnded { .. } => {}
            ServerMsg::TaskChecks { task, checks } => {
                let n = self.task_checks.as_ref().map_or(1, |c| c.n + 1);
                self.task_checks = Some(TaskChecks {
                    n,
                    task,
                    checks: Rc::new(checks),
                });
            }
        }
    }

    /// Follows what a trace event says about our servers and connections
    /// (the event itself goes to the trace view).
    pub fn follow(&mut self, event: &TraceEvent) {
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

    fn open() -> Rc<Session> {
        let state = Rc::new(Session::default());
        state.reduce(SessionAction::BridgeOpened)
    }

    fn sent(state: &Session) -> Vec<ClientMsg> {
        state.outbox.queued.iter().map(|o| o.msg.clone()).collect()
    }

    fn trace(lane: Lane, conn: Option<ConnId>, step: Step) -> SessionAction {
        SessionAction::FromBridge(ServerMsg::Trace(TraceEvent {
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
        let state = open().reduce(SessionAction::ChooseTask(Task::Echo));
        let state = state.reduce(SessionAction::StartServer);
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
        let state = state.reduce(SessionAction::FromBridge(ServerMsg::ServerStarted {
            server: 1,
            addr: "127.0.0.1:40000".into(),
            mode: Mode::Echo,
            transport: Transport::Tcp,
        }));
        assert_eq!(state.server().unwrap().state, ServerState::Listening);

        let state = state.reduce(SessionAction::StartServer);
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
            .reduce(SessionAction::ChooseTask(Task::Udp))
            .reduce(SessionAction::StartServer)
            .reduce(SessionAction::ConnectClient);
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
        let state = Rc::new(Session::default()).reduce(SessionAction::ConnectPublic);
        assert!(sent(&state).is_empty());
        assert_eq!(state.notices.len(), 1);
        assert!(state.conns.is_empty());
    }

    /// Sending goes to the current client; the trace updates its state;
    /// a refusal of a connect closes it with the refusal's words.
    #[test]
    fn clients_follow_their_events() {
        let state = open()
            .reduce(SessionAction::StartServer)
            .reduce(SessionAction::ConnectClient)
            .reduce(SessionAction::ConnectClient)
            .reduce(SessionAction::ChooseClient(1))
            .reduce(SessionAction::Send {
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

        let state = state.reduce(SessionAction::FromBridge(ServerMsg::Refused {
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
            .reduce(SessionAction::ConnectTarget("  ".into()))
            .reduce(SessionAction::ConnectTarget(" 127.0.0.1:9 ".into()));
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

    /// Messages larger than the bridge's limit are not queued.
    #[test]
    fn the_message_limit_is_checked_before_sending() {
        let state = open()
            .reduce(SessionAction::FromBridge(ServerMsg::Hello {
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
            .reduce(SessionAction::ConnectClient)
            .reduce(SessionAction::Send {
                data: Data::Hex(Bytes(vec![0; 5])),
                typed: "00 00 00 00 00".into(),
            });
        assert_eq!(sent(&state).len(), 1);
        assert_eq!(state.notices.last().unwrap().title, "Too long: not sent");
        assert_eq!(state.sends_queued, 0, "the box keeps the text");
    }

    fn closed(opened: bool, code: u16, reason: &str) -> SessionAction {
        SessionAction::BridgeClosed {
            closed: SocketClosed {
                opened,
                code,
                reason: reason.into(),
            },
            origin: "http://127.0.0.1:8000".into(),
            url: "ws://127.0.0.1:8000/ws".into(),
        }
    }

    fn hello(max_message_bytes: u32) -> SessionAction {
        SessionAction::FromBridge(ServerMsg::Hello {
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
        let state = open()
            .reduce(hello(limit))
            .reduce(SessionAction::ConnectClient);
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

            let ok = state.clone().reduce(SessionAction::Send {
                data: data(most),
                typed: "t".into(),
            });
            assert_eq!(ok.sends_queued, 1);
            let refused = state.clone().reduce(SessionAction::Send {
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
        let state = open()
            .reduce(SessionAction::ConnectClient)
            .reduce(SessionAction::Send {
                data: Data::Text("my long essay".into()),
                typed: "my long essay".into(),
            });
        assert_eq!(state.sends_queued, 1);
        let state = state.reduce(SessionAction::FromBridge(ServerMsg::Refused {
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
        let state = state.reduce(SessionAction::BridgeOpened);
        assert!(state.problem.is_some());
        let state = state.reduce(SessionAction::DismissProblem);
        assert!(state.problem.is_none());

        let mut state = Rc::new(Session::default());
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
        assert!(state.reduce(SessionAction::BridgeOpened).problem.is_none());
    }

    /// Task 2's greeting and the address family go into StartServer.
    #[test]
    fn greeting_and_family_are_sent() {
        let state = open()
            .reduce(SessionAction::ChooseTask(Task::Greet))
            .reduce(SessionAction::SetGreeting("Hello from my server".into()))
            .reduce(SessionAction::SetFamily(Family::Ipv6))
            .reduce(SessionAction::StartServer);
        assert!(matches!(
            &sent(&state)[0],
            ClientMsg::StartServer { family: Family::Ipv6, greeting: Some(g), mode: Mode::Greet, .. }
                if g == "Hello from my server\n"
        ));
    }
}
