//! The messages between the Socket Lab page (wasm) and its bridge (native).
//!
//! Defined once, here, so both sides agree by construction. This crate
//! depends only on `serde`, compiles for native and `wasm32-unknown-unknown`,
//! and never reads a clock: every timestamp is stamped by the bridge.
//!
//! # Layout
//!
//! - [`ClientMsg`]: what the page asks the bridge to do (start a lab server,
//!   connect, send, half-close, close). JSON in WebSocket text frames.
//! - [`ServerMsg`]: what the bridge tells the page: a greeting, replies, and
//!   a stream of [`TraceEvent`]s.
//! - [`TraceEvent`]: one socket call on one side of a connection, with the
//!   exact bytes it moved. The server lane is the lab server, the client lane
//!   is the socket the bridge opened on the page's behalf.
//! - [`ErrorKind`]: the errors a student meets, each with one plain sentence.
//! - [`Bytes`]: a byte string that travels as lower-case hex in JSON.
//! - [`program`]: a student's own Python program, run in the page, whose
//!   socket calls ([`SockOp`]) the bridge performs on real sockets.
//! - [`WatchCmd`] and [`WatchMsg`]: the instructor's view (`/watch`): every
//!   session live, and one followed.
//!
//! # From the top
//!
//! A session starts with [`ClientMsg::Hello`] and [`ServerMsg::Hello`], each
//! naming [`PROTOCOL_VERSION`]. After that the page sends commands and the
//! bridge answers with events, in the order they happened.

use serde::{Deserialize, Serialize};
use std::fmt;

mod bytes;
mod error_kind;
pub mod program;
mod watch;

pub use bytes::{Bytes, HexError};
pub use error_kind::ErrorKind;
pub use program::{ProgramId, SockError, SockId, SockOp, SockResult, SockValue, Source};
pub use watch::{
    CheckStatus, MAX_NAME_CHARS, Progress, SessionId, SessionSummary, WATCH_BUSY, WatchCmd,
    WatchMsg, clean_name,
};

/// The version both sides name in their `hello`. A bridge refuses a page
/// that speaks another version, with a clear error rather than confusion.
pub const PROTOCOL_VERSION: u32 = 1;

/// The query a page adds to `/ws` (`/ws?lines=true`) to take several of
/// the bridge's messages in one frame, one JSON message to a line (`\n`
/// between them; JSON text has none of its own). A client that does not
/// ask gets one message per frame. A burst of trace events and replies
/// then costs the browser one message event, not one each. (A query, not
/// a WebSocket subprotocol: `trunk serve`'s proxy does not pass a
/// subprotocol back to the browser, which then fails the upgrade.)
pub const LINES_QUERY: &str = "lines=true";

/// The most bytes of messages the bridge joins into one frame for a page
/// that asked for them ([`LINES_QUERY`]; a larger message goes alone).
pub const MAX_LINES_FRAME_BYTES: usize = 256 * 1024;

/// The id of the public lab server (the one on the lab's port, 1234, shared
/// by everyone). Private servers get ids the page chooses, from 1 up.
pub const PUBLIC_SERVER: ServerId = 0;

/// The lab's own backlog: `s.listen(5)`.
pub const DEFAULT_BACKLOG: u32 = 5;

/// The greeting of Task 2 when none is given.
pub const DEFAULT_GREETING: &str = "Thank you for connecting\n";

/// Identifies a lab server within a session (0 is the public server).
pub type ServerId = u32;
/// Identifies one client connection the page opened (chosen by the page).
pub type ConnId = u32;

/// What a lab server does with each client it accepts (the lab's tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Task 1: accept, report "Connection from ... has been established.", close.
    Connect,
    /// Task 2: accept, send a greeting, close.
    Greet,
    /// Task 3: send back every byte received until the client closes.
    Echo,
}

impl Mode {
    /// All modes, in the lab's order.
    pub const ALL: [Mode; 3] = [Mode::Connect, Mode::Greet, Mode::Echo];

    /// The name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Connect => "connect",
            Mode::Greet => "greet",
            Mode::Echo => "echo",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown mode {s:?}: expected connect, greet or echo"))
    }
}

/// `SOCK_STREAM` (TCP) or `SOCK_DGRAM` (UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

impl Transport {
    /// The constant a Python program would pass to `socket.socket`.
    pub fn python_name(self) -> &'static str {
        match self {
            Transport::Tcp => "SOCK_STREAM",
            Transport::Udp => "SOCK_DGRAM",
        }
    }
}

/// `AF_INET` (IPv4) or `AF_INET6` (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    #[default]
    Ipv4,
    Ipv6,
}

impl Family {
    /// The constant a Python program would pass to `socket.socket`.
    pub fn python_name(self) -> &'static str {
        match self {
            Family::Ipv4 => "AF_INET",
            Family::Ipv6 => "AF_INET6",
        }
    }
}

/// Where a client connection should go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// The public lab server (port 1234 by default).
    Public,
    /// One of this session's private lab servers.
    Server { id: ServerId },
    /// `HOST:PORT`; allowed only if the bridge was started with
    /// `--allow-target HOST:PORT` (the bridge is not an open proxy).
    Addr { addr: String },
}

/// Bytes to send, as the student typed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Data {
    /// UTF-8 text, sent as its bytes.
    Text(String),
    /// Any bytes, written as hex (so binary and non-UTF-8 data work).
    Hex(Bytes),
}

impl Data {
    /// The bytes this stands for.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Data::Text(text) => text.into_bytes(),
            Data::Hex(bytes) => bytes.0,
        }
    }

    /// How many bytes this stands for.
    pub fn len(&self) -> usize {
        match self {
            Data::Text(text) => text.len(),
            Data::Hex(bytes) => bytes.len(),
        }
    }

    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A command from the page to the bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// The first message: which protocol version the page speaks.
    Hello { version: u32 },
    /// Start a private lab server on an ephemeral loopback port.
    StartServer {
        /// The id the page will use for it (1 or more).
        server: ServerId,
        mode: Mode,
        #[serde(default)]
        transport: Transport,
        #[serde(default)]
        family: Family,
        /// `listen(backlog)`; the lab uses 5.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backlog: Option<u32>,
        /// Task 2's greeting; a default is used when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        greeting: Option<String>,
    },
    /// Stop a private lab server: close its listening socket.
    StopServer { server: ServerId },
    /// Stop (or restart) calling `accept()`, so the backlog fills up.
    PauseAccept { server: ServerId, paused: bool },
    /// Open a client socket and connect it (TCP) or aim it (UDP).
    Connect {
        /// The id the page will use for this connection.
        conn: ConnId,
        target: Target,
        #[serde(default)]
        transport: Transport,
    },
    /// `send()` (TCP) or `sendto()` (UDP) on a client connection.
    Send { conn: ConnId, data: Data },
    /// `shutdown(SHUT_WR)`: no more sending, but keep receiving.
    Shutdown { conn: ConnId },
    /// `close()` a client connection.
    Close { conn: ConnId },
    /// A student's program starts running in the page (see [`program`]).
    ProgramStart {
        program: ProgramId,
        /// The lane it draws in: `server.py` the server's, `client.py` the
        /// client's.
        lane: Lane,
        /// Its file name as the student sees it (`server.py`).
        file: String,
    },
    /// One socket call of a running program. The program waits for the
    /// [`ServerMsg::SockReply`], except for a `posted` call: of those, at
    /// most [`MAX_POSTED_CALLS`](crate::program::MAX_POSTED_CALLS) may be
    /// unanswered at once, plus the one call the program waits for.
    SockCall {
        program: ProgramId,
        /// Numbers the program's calls from 1; the reply names it.
        call: u64,
        op: SockOp,
        /// `settimeout()`'s value in milliseconds; absent: block until done
        /// (or until the program is stopped).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
        /// The student's line that made the call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
        /// The program went on without waiting for the reply (a blocking
        /// TCP `send()`/`sendall()`, which returns once the bytes are
        /// handed over, as a kernel returns once they are in its buffer). If
        /// such a call fails, the program's next call on that socket
        /// raises the error, as a terminal's Python meets a reset
        /// connection at its next call.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        posted: bool,
    },
    /// A line the program printed, traced in order with its calls.
    ProgramPrint {
        program: ProgramId,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
    },
    /// The program finished, failed or was stopped: close its sockets.
    ProgramEnd { program: ProgramId },
    /// The student's name or student number, for the instructor's list
    /// (at most [`MAX_NAME_CHARS`] characters, on one line).
    SetName { name: String },
    /// "Check my task"'s programs have run for task 1, 2 or 3: the bridge
    /// judges them on its own trace of this session, from `from_us` (the
    /// run's first event), answers [`ServerMsg::TaskChecks`] and records
    /// the verdict for the instructor's list. The page sends what the
    /// bridge does not see: the programs' text and what they printed
    /// (stderr included, as their terminals show it).
    CheckTask {
        task: u8,
        from_us: u64,
        server_py: String,
        client_py: String,
        server_output: String,
        client_output: String,
    },
    /// The current text of one of the student's programs, for an
    /// instructor who follows them (`/watch`): sent when it changes, a
    /// moment after the student stops typing. At most [`MAX_CODE_BYTES`]
    /// of text; the bridge keeps the latest of each file.
    Code {
        /// `server.py` is the server's, `client.py` the client's.
        lane: Lane,
        /// Its file name as the student sees it (`server.py`).
        file: String,
        text: String,
    },
}

/// The most bytes of one program's text a page shares ([`ClientMsg::Code`]):
/// far more than any of the lab's programs, and well under a command's
/// limit even written as JSON.
pub const MAX_CODE_BYTES: usize = 16 * 1024;

/// The longest file name of a shared program, in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 64;

/// Whether a program's text can be shared ([`ClientMsg::Code`]), or why
/// not: the refusal and a sentence for the student.
pub fn check_code(file: &str, text: &str) -> Result<(), (Refusal, String)> {
    if file.is_empty() || file.len() > MAX_FILE_NAME_BYTES || file.chars().any(char::is_control) {
        return Err((
            Refusal::BadMessage,
            format!("a program's file name must be 1 to {MAX_FILE_NAME_BYTES} bytes on one line"),
        ));
    }
    if text.len() > MAX_CODE_BYTES {
        return Err((
            Refusal::TooLarge,
            format!(
                "{file} is {} bytes; the instructor's view shows programs of at most \
                 {MAX_CODE_BYTES} bytes, so it keeps showing the last version that fit",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// What the bridge knows about the public lab server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicServer {
    pub addr: String,
    pub mode: Mode,
    pub transport: Transport,
}

/// The limits this bridge enforces on a session, so the page can say them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_servers: u32,
    pub max_connections: u32,
    pub max_message_bytes: u32,
    pub idle_timeout_secs: u32,
    /// Student programs running at once in one session.
    #[serde(default)]
    pub max_programs: u32,
    /// Sockets open at once across one session's programs.
    #[serde(default)]
    pub max_program_sockets: u32,
}

/// Why the bridge refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The text was not JSON, or not a known command.
    BadMessage,
    /// The first message must be `hello` with our version.
    Version,
    /// The message was larger than the bridge accepts.
    TooLarge,
    /// The target is neither one of the bridge's lab servers nor allowed.
    NotAllowed,
    /// No server or connection with that id in this session.
    Unknown,
    /// The id is already in use in this session.
    InUse,
    /// A limit (servers, connections, buffered bytes) was reached.
    Limit,
    /// The command does not fit the connection's state (e.g. send after close).
    State,
}

/// A message from the bridge to the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The first message: protocol version and what this bridge offers.
    Hello {
        version: u32,
        /// The bridge's own version string.
        bridge: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_server: Option<PublicServer>,
        limits: Limits,
        /// The name of the student's "Download my lab" zip, `{name}`
        /// standing for their student number (set by the instructor).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        submission: Option<String>,
    },
    /// A private lab server is listening.
    ServerStarted {
        server: ServerId,
        addr: String,
        mode: Mode,
        transport: Transport,
    },
    /// A private lab server's listening socket is closed.
    ServerStopped { server: ServerId },
    /// One step on one side of a connection.
    Trace(TraceEvent),
    /// The bridge could not do what was asked; nothing else was affected.
    Refused {
        reason: Refusal,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<ConnId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<ServerId>,
    },
    /// The answer to one [`ClientMsg::SockCall`].
    ///
    /// The page never reads one itself: it hands the text to the Python
    /// runner (`web/py/`), which does. On wasm it is not deserialized, so
    /// that the page's wasm carries no reader for every call's result.
    #[cfg_attr(target_arch = "wasm32", serde(skip_deserializing))]
    SockReply {
        program: ProgramId,
        call: u64,
        result: SockResult,
    },
    /// A program's end is done: its sockets are closed.
    ProgramEnded {
        program: ProgramId,
        /// How many sockets the bridge closed for it.
        closed: u32,
    },
    /// The answer to one [`ClientMsg::CheckTask`]: one check per thing
    /// the task asks, in the handout's order.
    TaskChecks { task: u8, checks: Vec<CheckReport> },
}

/// One thing a task asks, as "Check my task" judged it (the `course`
/// crate's `Check`, as the page shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Whose program it is about: the student's server or client.
    pub side: Lane,
    /// What is checked ("Your server accepts a client").
    pub title: String,
    pub passed: bool,
    /// What the task expects, in a sentence.
    pub expected: String,
    /// What happened, in a sentence; for a failure, with what to change.
    pub happened: String,
    /// The student's line it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The trace event it is about, by its `at_us`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_us: Option<u64>,
}

impl CheckReport {
    /// The student's file it is about.
    pub fn file(&self) -> &'static str {
        match self.side {
            Lane::Server => "server.py",
            Lane::Client => "client.py",
        }
    }
}

/// Which side of the connection took a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// The lab server (the program that binds, listens and accepts).
    Server,
    /// The client socket the bridge opened for the page.
    Client,
}

/// One socket call, on one side, at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Microseconds since the bridge started (monotonic clock).
    pub at_us: u64,
    pub lane: Lane,
    /// The lab server this happened on or was aimed at, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerId>,
    /// The page's connection this belongs to, when known (on the server
    /// lane: the connection the server accepted from that client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<ConnId>,
    /// The server's own number for an accepted connection (1, 2, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_conn: Option<u64>,
    /// The student's line that made this step, for a student's own program
    /// (none for the lab's built-in servers and the page's own client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    pub step: Step,
}

/// The socket calls a student learns, and what they returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Step {
    /// `socket(family, type)`.
    Socket {
        family: Family,
        transport: Transport,
    },
    /// `bind((host, port))`.
    Bind {
        /// The real address the socket is bound to.
        addr: String,
        /// The address the program asked for, when the bridge gave it
        /// another (a student's `bind(('socket-lab', 1234))` is mapped to a
        /// real ephemeral port: see [`program`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asked: Option<String>,
    },
    /// `listen(backlog)`.
    Listen { backlog: u32 },
    /// The server stopped calling `accept()` (waiting clients queue up).
    AcceptPaused,
    /// The server calls `accept()` again.
    AcceptResumed,
    /// `accept()` returned a new socket for a client; the listening socket
    /// keeps listening.
    Accept { peer: String, local: String },
    /// `connect((host, port))` was called.
    Connect { target: String },
    /// `connect()` returned: the three-way handshake is done.
    Connected { local: String, peer: String },
    /// `send()` wrote these bytes.
    Send { data: Bytes },
    /// `recv()` returned these bytes (exactly one read's worth).
    Recv { data: Bytes },
    /// `recv()` returned 0 bytes: the peer closed its sending side.
    RecvEof,
    /// `sendto(data, peer)` (UDP).
    SendTo { peer: String, data: Bytes },
    /// `recvfrom()` returned a datagram (UDP).
    RecvFrom { peer: String, data: Bytes },
    /// `shutdown(SHUT_WR)`: this side will send no more.
    Shutdown,
    /// `close()`.
    Close,
    /// A line the lab's program prints, e.g.
    /// `Connection from ('127.0.0.1', 50312) has been established.`
    Print { text: String },
    /// A call failed.
    Error {
        kind: ErrorKind,
        /// The operating system's own words.
        message: String,
        /// The call that failed, when one did (a refusal by the bridge, or
        /// an idle timeout between calls, names none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed: Option<Call>,
    },
}

/// A socket call that can fail, in the lab's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    Socket,
    Bind,
    Listen,
    Accept,
    Connect,
    Send,
    Recv,
    SendTo,
    RecvFrom,
    Shutdown,
    Close,
}

impl Call {
    /// The name of the step this call makes ([`Step::name`]), so a failed
    /// call maps to the same line of the lab's program as a good one.
    pub fn step_name(self) -> &'static str {
        self.step_kind().name()
    }

    /// The kind of step this call makes.
    pub fn step_kind(self) -> StepKind {
        match self {
            Call::Socket => StepKind::Socket,
            Call::Bind => StepKind::Bind,
            Call::Listen => StepKind::Listen,
            Call::Accept => StepKind::Accept,
            Call::Connect => StepKind::Connect,
            Call::Send => StepKind::Send,
            Call::Recv => StepKind::Recv,
            Call::SendTo => StepKind::SendTo,
            Call::RecvFrom => StepKind::RecvFrom,
            Call::Shutdown => StepKind::Shutdown,
            Call::Close => StepKind::Close,
        }
    }

    /// As the lab's Python spells it: `connect()`, `sendto()`.
    pub fn python(self) -> &'static str {
        match self {
            Call::Socket => "socket()",
            Call::Bind => "bind()",
            Call::Listen => "listen()",
            Call::Accept => "accept()",
            Call::Connect => "connect()",
            Call::Send => "send()",
            Call::Recv => "recv()",
            Call::SendTo => "sendto()",
            Call::RecvFrom => "recvfrom()",
            Call::Shutdown => "shutdown()",
            Call::Close => "close()",
        }
    }
}

impl Step {
    /// The short label a sequence diagram shows for this step, in the words
    /// of the lab's Python (`accept()`, `recv() -> 5 bytes`).
    pub fn label(&self) -> String {
        fn n(count: usize) -> String {
            if count == 1 {
                "1 byte".to_string()
            } else {
                format!("{count} bytes")
            }
        }
        match self {
            Step::Socket { family, transport } => {
                format!(
                    "socket({}, {})",
                    family.python_name(),
                    transport.python_name()
                )
            }
            Step::Bind {
                addr,
                asked: Some(asked),
            } => format!("bind({asked}) -> really {addr}"),
            Step::Bind { addr, .. } => format!("bind({addr})"),
            Step::Listen { backlog } => format!("listen({backlog})"),
            Step::AcceptPaused => "accept() paused".to_string(),
            Step::AcceptResumed => "accept() resumed".to_string(),
            Step::Accept { peer, .. } => format!("accept() -> {peer}"),
            Step::Connect { target } => format!("connect({target})"),
            Step::Connected { local, .. } => format!("connected from {local}"),
            Step::Send { data } => format!("send() -> {}", n(data.len())),
            Step::Recv { data } => format!("recv() -> {}", n(data.len())),
            Step::RecvEof => "recv() -> 0 bytes (peer closed)".to_string(),
            Step::SendTo { peer, data } => format!("sendto({peer}) -> {}", n(data.len())),
            Step::RecvFrom { peer, data } => format!("recvfrom() -> {} from {peer}", n(data.len())),
            Step::Shutdown => "shutdown(SHUT_WR)".to_string(),
            Step::Close => "close()".to_string(),
            Step::Print { text } => format!("print: {text}"),
            Step::Error {
                kind,
                failed: Some(call),
                ..
            } => format!("{} failed: {}", call.python(), kind.title()),
            Step::Error { kind, .. } => format!("error: {}", kind.title()),
        }
    }

    /// The bytes this step moved, if it moved any.
    pub fn data(&self) -> Option<&Bytes> {
        match self {
            Step::Send { data }
            | Step::Recv { data }
            | Step::SendTo { data, .. }
            | Step::RecvFrom { data, .. } => Some(data),
            _ => None,
        }
    }

    /// The name of the call this step is about: [`Step::name`], except that
    /// an error that names its failed call is about that call (`"connect"`
    /// for a refused connection), so it maps to the same line of the lab's
    /// program.
    pub fn call_name(&self) -> &'static str {
        self.call_kind().name()
    }

    /// A stable snake_case name for filters and exports (`"recv"`): the
    /// name of its [`StepKind`].
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Which step this is, without its fields: what code (and tests) match
    /// on, rather than the step's name.
    pub fn kind(&self) -> StepKind {
        match self {
            Step::Socket { .. } => StepKind::Socket,
            Step::Bind { .. } => StepKind::Bind,
            Step::Listen { .. } => StepKind::Listen,
            Step::AcceptPaused => StepKind::AcceptPaused,
            Step::AcceptResumed => StepKind::AcceptResumed,
            Step::Accept { .. } => StepKind::Accept,
            Step::Connect { .. } => StepKind::Connect,
            Step::Connected { .. } => StepKind::Connected,
            Step::Send { .. } => StepKind::Send,
            Step::Recv { .. } => StepKind::Recv,
            Step::RecvEof => StepKind::RecvEof,
            Step::SendTo { .. } => StepKind::SendTo,
            Step::RecvFrom { .. } => StepKind::RecvFrom,
            Step::Shutdown => StepKind::Shutdown,
            Step::Close => StepKind::Close,
            Step::Print { .. } => StepKind::Print,
            Step::Error { .. } => StepKind::Error,
        }
    }

    /// The kind of call this step is about: [`Step::kind`], except that an
    /// error that names its failed call is about that call
    /// ([`StepKind::Connect`] for a refused connection).
    pub fn call_kind(&self) -> StepKind {
        match self {
            Step::Error {
                failed: Some(call), ..
            } => call.step_kind(),
            step => step.kind(),
        }
    }
}

/// The kind of a [`Step`], without its fields. Serialized as the step's
/// `call` tag (`"recv_eof"`), which is also [`StepKind::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Socket,
    Bind,
    Listen,
    AcceptPaused,
    AcceptResumed,
    Accept,
    Connect,
    Connected,
    Send,
    Recv,
    RecvEof,
    SendTo,
    RecvFrom,
    Shutdown,
    Close,
    Print,
    Error,
}

impl StepKind {
    /// Every kind, in the order a connection's life shows them.
    pub const ALL: [StepKind; 17] = [
        StepKind::Socket,
        StepKind::Bind,
        StepKind::Listen,
        StepKind::AcceptPaused,
        StepKind::AcceptResumed,
        StepKind::Accept,
        StepKind::Connect,
        StepKind::Connected,
        StepKind::Send,
        StepKind::Recv,
        StepKind::RecvEof,
        StepKind::SendTo,
        StepKind::RecvFrom,
        StepKind::Shutdown,
        StepKind::Close,
        StepKind::Print,
        StepKind::Error,
    ];

    /// The stable snake_case name (`"recv_eof"`), as in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Socket => "socket",
            StepKind::Bind => "bind",
            StepKind::Listen => "listen",
            StepKind::AcceptPaused => "accept_paused",
            StepKind::AcceptResumed => "accept_resumed",
            StepKind::Accept => "accept",
            StepKind::Connect => "connect",
            StepKind::Connected => "connected",
            StepKind::Send => "send",
            StepKind::Recv => "recv",
            StepKind::RecvEof => "recv_eof",
            StepKind::SendTo => "send_to",
            StepKind::RecvFrom => "recv_from",
            StepKind::Shutdown => "shutdown",
            StepKind::Close => "close",
            StepKind::Print => "print",
            StepKind::Error => "error",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The lab's way of printing an address: `('127.0.0.1', 50312)`, as Python
/// prints the tuple `accept()` returns. Takes `IP:PORT` or `[IP]:PORT`; an
/// IPv6 address is a 4-tuple in Python (`('::1', 50312, 0, 0)`: flow info
/// and scope id follow the port).
pub fn python_address(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((ip, port)) if ip.starts_with('[') => {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            format!("('{ip}', {port}, 0, 0)")
        }
        Some((ip, port)) => format!("('{ip}', {port})"),
        None => format!("'{addr}'"),
    }
}

/// The line the lab's Task 1 server prints for each client.
pub fn connection_established(peer: &str) -> String {
    format!(
        "Connection from {} has been established.",
        python_address(peer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step's kind names it as its JSON does: for every kind, the step's
    /// `call` tag, the kind's own JSON and [`StepKind::name`] agree.
    #[test]
    fn step_kinds_name_steps_as_their_json_does() {
        let data = || Bytes(b"x".to_vec());
        let addr = || "127.0.0.1:1234".to_string();
        let steps = [
            Step::Socket {
                family: Family::Ipv4,
                transport: Transport::Tcp,
            },
            Step::Bind {
                addr: addr(),
                asked: None,
            },
            Step::Listen { backlog: 5 },
            Step::AcceptPaused,
            Step::AcceptResumed,
            Step::Accept {
                peer: addr(),
                local: addr(),
            },
            Step::Connect { target: addr() },
            Step::Connected {
                local: addr(),
                peer: addr(),
            },
            Step::Send { data: data() },
            Step::Recv { data: data() },
            Step::RecvEof,
            Step::SendTo {
                peer: addr(),
                data: data(),
            },
            Step::RecvFrom {
                peer: addr(),
                data: data(),
            },
            Step::Shutdown,
            Step::Close,
            Step::Print { text: "hi".into() },
            Step::Error {
                kind: ErrorKind::Other,
                message: "no".into(),
                failed: None,
            },
        ];
        for (step, kind) in steps.iter().zip(StepKind::ALL) {
            assert_eq!(step.kind(), kind);
            let json = serde_json::to_value(step).expect("a step serializes");
            assert_eq!(json["call"], kind.name());
            let own = serde_json::to_value(kind).expect("a kind serializes");
            assert_eq!(own, kind.name());
            assert_eq!(kind.to_string(), step.name());
        }
    }

    /// Commands are readable JSON tagged by `type`, as documented.
    #[test]
    fn client_messages_are_tagged_json() {
        let msg = ClientMsg::Connect {
            conn: 1,
            target: Target::Public,
            transport: Transport::Tcp,
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            json,
            r#"{"type":"connect","conn":1,"target":{"kind":"public"},"transport":"tcp"}"#
        );
        let send: ClientMsg =
            serde_json::from_str(r#"{"type":"send","conn":1,"data":{"hex":"00ff41"}}"#).unwrap();
        assert_eq!(
            send,
            ClientMsg::Send {
                conn: 1,
                data: Data::Hex(Bytes(vec![0, 255, 65]))
            }
        );
        let start: ClientMsg =
            serde_json::from_str(r#"{"type":"start_server","server":1,"mode":"echo"}"#).unwrap();
        assert_eq!(
            start,
            ClientMsg::StartServer {
                server: 1,
                mode: Mode::Echo,
                transport: Transport::Tcp,
                family: Family::Ipv4,
                backlog: None,
                greeting: None,
            }
        );
    }

    /// A trace event round-trips and carries its bytes as hex.
    #[test]
    fn trace_events_round_trip() {
        let msg = ServerMsg::Trace(TraceEvent {
            at_us: 1500,
            lane: Lane::Server,
            server: Some(0),
            conn: Some(2),
            server_conn: Some(7),
            source: None,
            step: Step::Recv {
                data: Bytes(b"hi\n".to_vec()),
            },
        });
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            json,
            r#"{"type":"trace","at_us":1500,"lane":"server","server":0,"conn":2,"server_conn":7,"step":{"call":"recv","data":"68690a"}}"#
        );
        assert_eq!(serde_json::from_str::<ServerMsg>(&json).unwrap(), msg);
    }

    /// Unknown commands and bad hex are errors, not panics.
    #[test]
    fn bad_input_is_an_error() {
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"launch"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientMsg>(r#"{"type":"send","conn":1,"data":{"hex":"0g"}}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<ClientMsg>("not json").is_err());
    }

    /// Labels read like the lab's Python calls.
    #[test]
    fn labels_use_the_labs_words() {
        assert_eq!(Step::Listen { backlog: 5 }.label(), "listen(5)");
        assert_eq!(
            Step::Recv {
                data: Bytes(b"hello".to_vec())
            }
            .label(),
            "recv() -> 5 bytes"
        );
        assert_eq!(
            Step::Socket {
                family: Family::Ipv6,
                transport: Transport::Udp
            }
            .label(),
            "socket(AF_INET6, SOCK_DGRAM)"
        );
        let refused = Step::Error {
            kind: ErrorKind::ConnectionRefused,
            message: "Connection refused (os error 111)".into(),
            failed: Some(Call::Connect),
        };
        assert_eq!(refused.label(), "connect() failed: Connection refused");
        assert_eq!(refused.call_name(), "connect");
        assert_eq!(refused.call_kind(), StepKind::Connect);
        assert_eq!(refused.kind(), StepKind::Error);
        assert_eq!(refused.name(), "error");
        // A bridge's own refusal names no call.
        let json = r#"{"call":"error","kind":"not_allowed","message":"x"}"#;
        let old: Step = serde_json::from_str(json).unwrap();
        assert!(old.label().starts_with("error: "), "{}", old.label());
        // The failed call travels by name, and only when there is one.
        let json = serde_json::to_string(&refused).unwrap();
        assert!(json.contains(r#""failed":"connect""#), "{json}");
        assert_eq!(serde_json::from_str::<Step>(&json).unwrap(), refused);
    }

    /// The Task 1 line matches what the lab's Python server prints.
    #[test]
    fn connection_line_matches_python() {
        assert_eq!(
            connection_established("127.0.0.1:50312"),
            "Connection from ('127.0.0.1', 50312) has been established."
        );
        assert_eq!(python_address("[::1]:8080"), "('::1', 8080, 0, 0)");
    }

    #[test]
    fn modes_parse_from_their_names() {
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>(), Ok(mode));
        }
        assert!("chat".parse::<Mode>().is_err());
    }
}
