//! The code view's state: the student's own `server.py` and `client.py`,
//! each program's runs, its output, and what the page says about it.
//!
//! The programs run in the page (CPython in a Web Worker, see
//! `web/py/runner.mjs`); their socket calls go to the bridge, which
//! performs them on real sockets (`protocol::program`). This module only
//! keeps what the student sees. Like [`crate::state`] it makes no browser
//! calls: what the runner must do (run, stop, answer `input()`) is queued
//! as [`RunnerCmd`]s, and `hooks::use_code_view` hands them to the runner.
//! So everything here is tested natively.
//!
//! # What a student should notice
//!
//! - A run's status says where the program is: loading Python, running,
//!   and, while it waits, *which call* it waits in and on which line
//!   (`accept()` really blocks until a client comes).
//! - An error is shown as Python gives it (the traceback, with the
//!   student's own line numbers), plus one sentence on what it means,
//!   beside the line ([`Failure::explanation`]).
//! - The port the program asked for (1234) is not the real one: every
//!   student of a class has their own 1234, mapped by the bridge to a
//!   free port, which [`Run::bound`] shows so a terminal can reach it.

use protocol::{ErrorKind, Lane, ProgramId, Step, TraceEvent};
use std::rc::Rc;

/// The server's file name, as the student sees it.
pub const SERVER_FILE: &str = "server.py";
/// The client's file name.
pub const CLIENT_FILE: &str = "client.py";

/// The handout's full `server.py` of Task 1, as printed in the handout:
/// what the code view starts from.
pub const HANDOUT_SERVER: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
Host = socket.gethostname()
Port = 1234
s.bind((Host, Port))
s.listen(5)

while True:
    # now our endpoint knows about the OTHER endpoint.
    clientsocket, address = s.accept()
    print(f"Connection from {address} has been established.")
"#;

/// The handout's full `client.py` of Task 1.
pub const HANDOUT_CLIENT: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
"#;

/// Lines of output kept per run (older ones are dropped, and counted).
pub const MAX_OUTPUT_LINES: usize = 2000;
/// Characters kept of one output line (a program printing a megabyte on
/// one line must not freeze the page).
pub const MAX_LINE_CHARS: usize = 4000;
/// The longest program the page runs (a pasted file of that size is not a
/// lab exercise, and it would travel to the worker and the trace).
pub const MAX_PROGRAM_BYTES: usize = 100_000;
/// Runs whose program text is kept, so a selected old event can still
/// show the code that made it.
const MAX_KEPT_SOURCES: usize = 16;
/// Runner commands kept for the hook to pick up.
const MAX_COMMANDS: usize = 64;
/// `recv()` returning `b''` this many times in a row gets a hint.
const EOF_STREAK_HINT: u32 = 3;

/// The file on `lane`: `server.py` draws in the server lane.
pub fn file_of(lane: Lane) -> &'static str {
    match lane {
        Lane::Server => SERVER_FILE,
        Lane::Client => CLIENT_FILE,
    }
}

/// An `ErrorKind` from its JSON name (`"connection_refused"`), without a
/// JSON reader: the runner hands the page a JavaScript object.
pub fn error_kind(name: &str) -> Option<ErrorKind> {
    Some(match name {
        "connection_refused" => ErrorKind::ConnectionRefused,
        "timed_out" => ErrorKind::TimedOut,
        "connection_reset" => ErrorKind::ConnectionReset,
        "connection_aborted" => ErrorKind::ConnectionAborted,
        "broken_pipe" => ErrorKind::BrokenPipe,
        "addr_in_use" => ErrorKind::AddrInUse,
        "addr_not_available" => ErrorKind::AddrNotAvailable,
        "unreachable" => ErrorKind::Unreachable,
        "not_allowed" => ErrorKind::NotAllowed,
        "idle" => ErrorKind::Idle,
        "bad_address" => ErrorKind::BadAddress,
        "other" => ErrorKind::Other,
        _ => return None,
    })
}

/// A socket call as Python spells it (`accept()`), for "waiting in
/// accept()", from its `SockOp` tag (`"accept"`, `"recv_from"`).
pub fn call_name(op: &str) -> &'static str {
    match op {
        "socket" => "socket()",
        "bind" => "bind()",
        "listen" => "listen()",
        "accept" => "accept()",
        "connect" => "connect()",
        "send" => "send()",
        "recv" => "recv()",
        "send_to" => "sendto()",
        "recv_from" => "recvfrom()",
        "shutdown" => "shutdown()",
        "close" => "close()",
        _ => "a socket call",
    }
}

/// Where a run is in its life (the `data-state` of its status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Run was pressed; the runner has not started it yet (it may still be
    /// loading itself).
    Starting,
    /// Python is starting in its worker.
    Loading,
    Running,
    /// The program finished by itself.
    Exited,
    /// It raised an exception (see [`Run::failure`]).
    Failed,
    /// Stop was pressed; waiting for the runner to confirm.
    Stopping,
    Stopped,
}

impl RunState {
    /// The value the page uses in `data-state` (stable: tests read it).
    pub fn value(self) -> &'static str {
        match self {
            RunState::Starting => "starting",
            RunState::Loading => "loading",
            RunState::Running => "running",
            RunState::Exited => "exited",
            RunState::Failed => "failed",
            RunState::Stopping => "stopping",
            RunState::Stopped => "stopped",
        }
    }

    /// What the status badge says.
    pub fn label(self) -> &'static str {
        match self {
            RunState::Starting | RunState::Loading => "Loading Python…",
            RunState::Running => "Running",
            RunState::Exited => "Exited",
            RunState::Failed => "Failed",
            RunState::Stopping => "Stopping…",
            RunState::Stopped => "Stopped",
        }
    }

    /// The runner's word for a state (`onState`), if it is one.
    pub fn from_runner(state: &str) -> Option<RunState> {
        Some(match state {
            "loading" => RunState::Loading,
            "running" => RunState::Running,
            "exited" => RunState::Exited,
            "failed" => RunState::Failed,
            "stopped" => RunState::Stopped,
            _ => return None,
        })
    }

    /// Still going: Stop makes sense, Run would restart it.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            RunState::Starting | RunState::Loading | RunState::Running | RunState::Stopping
        )
    }
}

/// Why a program failed, as the runner reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    /// The exception's type (`ConnectionRefusedError`).
    pub exception: String,
    /// Its message (`[Errno 111] Connection refused`).
    pub message: String,
    /// The student's line it was raised on.
    pub line: Option<u32>,
    /// The traceback as Python prints it.
    pub traceback: String,
    /// The symbolic errno of the socket error behind it (`ECONNREFUSED`).
    pub errno: Option<String>,
    /// What that socket error means (`protocol::ErrorKind`).
    pub kind: Option<ErrorKind>,
}

impl Failure {
    /// The runner's `detail` (`{ type, message, line, traceback, errno,
    /// kind }`), read field by field by `field`; what is missing stays
    /// empty rather than losing the rest.
    pub fn from_runner(field: impl Fn(&str) -> Option<String>, line: Option<u32>) -> Failure {
        let exception = field("type").unwrap_or_default();
        Failure {
            exception: if exception.is_empty() {
                "Error".into()
            } else {
                exception
            },
            message: field("message").unwrap_or_default(),
            line: line.filter(|&l| l > 0),
            traceback: field("traceback").unwrap_or_default(),
            errno: field("errno").filter(|e| !e.is_empty()),
            kind: field("kind").and_then(|k| error_kind(&k)),
        }
    }

    /// `ConnectionRefusedError: [Errno 111] Connection refused`: the
    /// traceback's last line.
    pub fn headline(&self) -> String {
        if self.message.is_empty() {
            self.exception.clone()
        } else {
            format!("{}: {}", self.exception, self.message)
        }
    }

    /// One sentence on what it means, when the page has one. Socket errors
    /// use the protocol's sentences (the same ones the lab's own client
    /// shows); a few errors students meet in this lab have their own.
    pub fn explanation(&self) -> Option<&'static str> {
        let errno = self.errno.as_deref().unwrap_or("");
        let text = crate::browser::lowercase(&format!("{} {}", self.exception, self.message));
        Some(match errno {
            "EBADF" => {
                "This socket was already closed by your program: a closed socket cannot be used again, so call close() only after its last recv() or send()."
            }
            "ENOTCONN" => {
                "This socket is not connected: a client must connect() first, and a server talks to a client on the socket accept() returned, not on the listening one."
            }
            "timeout" => {
                "The call waited longer than settimeout() allows, so Python raised TimeoutError instead of waiting forever."
            }
            "EINTR" => "The program was stopped while it waited in this call.",
            "EACCES" => ErrorKind::NotAllowed.explanation(),
            _ => {
                if let Some(kind) = self.kind.filter(|k| *k != ErrorKind::Other) {
                    kind.explanation()
                } else if text.contains("thread") {
                    "Programs that start threads cannot run in the browser: Python here has one thread. Serve one client at a time (a loop around accept()), or run this program with python3 in a terminal."
                } else if text.contains("select") {
                    "select() cannot run in the browser: the page's sockets are not the operating system's. Serve one client at a time (a loop around accept()), or run this program with python3 in a terminal."
                } else {
                    match self.exception.as_str() {
                        "IndentationError" | "TabError" => {
                            "The lines of a block must be indented the same way: after a line ending in a colon, indent the next lines by the same amount (Tab gives four spaces)."
                        }
                        "SyntaxError" => {
                            "Python could not read this line: look for a missing colon, bracket or quote here or on the line above."
                        }
                        "NameError" => {
                            "Python does not know this name: check its spelling and capitals, and that it is defined or imported above this line."
                        }
                        "AttributeError" if text.contains("socket") => {
                            "The socket module or socket has no such name: check the spelling against the handout (socket.AF_INET, s.accept(), s.recv(1024))."
                        }
                        "TypeError" if text.contains("bytes") => {
                            "Sockets send bytes, not text: write b\"...\" or message.encode(), and decode() what recv() returns before printing it as text."
                        }
                        "EOFError" => "input() found no more lines to read.",
                        _ => return None,
                    }
                }
            }
        })
    }
}

/// Which stream a line of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// The page's own words (a run starting, a connection lost).
    Note,
}

impl Stream {
    pub fn value(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Note => "note",
        }
    }
}

/// One line of a program's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    /// Without its `\n`.
    pub text: String,
}

/// A run's output, like a terminal's scrollback: capped, cheap to share.
#[derive(Debug, Clone, Default)]
pub struct Output {
    lines: Rc<Vec<OutputLine>>,
    /// Lines dropped from the front to keep [`MAX_OUTPUT_LINES`].
    dropped: usize,
    /// The last stdout line had no `\n` yet (`print(x, end="")`).
    open_line: bool,
}

impl PartialEq for Output {
    /// Every change makes new storage, so comparing pointers is exact and
    /// costs nothing (the terminal may hold thousands of lines).
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.lines, &other.lines) && self.dropped == other.dropped
    }
}

impl Output {
    pub fn lines(&self) -> &[OutputLine] {
        &self.lines
    }

    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Adds `text` (which may hold several lines, and may end without a
    /// newline) from `stream`.
    pub fn push(&mut self, stream: Stream, text: &str) {
        let lines = Rc::make_mut(&mut self.lines);
        let mut rest = text;
        while !rest.is_empty() {
            let (piece, ended) = match rest.find('\n') {
                Some(at) => (&rest[..at], true),
                None => (rest, false),
            };
            rest = &rest[(piece.len() + usize::from(ended)).min(rest.len())..];
            let continues = self.open_line
                && lines
                    .last()
                    .is_some_and(|last| last.stream == stream && stream != Stream::Note);
            if continues {
                if let Some(last) = lines.last_mut() {
                    push_capped(&mut last.text, piece);
                }
            } else {
                let mut line = String::new();
                push_capped(&mut line, piece);
                lines.push(OutputLine { stream, text: line });
            }
            self.open_line = !ended;
        }
        if lines.len() > MAX_OUTPUT_LINES {
            let extra = lines.len() - MAX_OUTPUT_LINES;
            lines.drain(..extra);
            self.dropped += extra;
        }
    }

    /// A whole line, never joined to the line before or after it.
    pub fn line(&mut self, stream: Stream, text: &str) {
        self.open_line = false;
        self.push(stream, text);
        self.open_line = false;
    }

    /// A line of the page's own (a run that could not start, a lost
    /// connection).
    pub fn note(&mut self, text: &str) {
        self.line(Stream::Note, text);
    }
}

fn push_capped(line: &mut String, piece: &str) {
    let room = MAX_LINE_CHARS.saturating_sub(line.chars().count());
    if room == 0 {
        return;
    }
    if piece.chars().count() <= room {
        line.push_str(piece);
    } else {
        line.extend(piece.chars().take(room));
        line.push('…');
    }
}

/// The address a server's `bind()` got: the one it asked for, in the
/// session's own port space, and the real one on the bridge's machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// `127.0.0.1:1234` (or `socket-lab:1234` as the program wrote it).
    pub asked: String,
    /// `127.0.0.1:40211`.
    pub real: String,
}

impl Bound {
    /// The real port (`40211`), for the sentence and for `nc`.
    pub fn real_port(&self) -> &str {
        self.real.rsplit(':').next().unwrap_or(&self.real)
    }

    /// The port the program asked for (`1234`).
    pub fn asked_port(&self) -> &str {
        self.asked.rsplit(':').next().unwrap_or(&self.asked)
    }
}

/// A socket call a running program is waiting in, as the runner's traffic
/// shows it (see `hooks::use_code_view`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// As Python spells it: `accept()`.
    pub call: String,
    pub line: Option<u32>,
    /// Whole seconds waited so far.
    pub secs: u32,
}

/// One run of a program: from Run to its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub program: ProgramId,
    pub state: RunState,
    pub output: Output,
    pub failure: Option<Failure>,
    /// The server's `bind()`, once it returned.
    pub bound: Option<Bound>,
    /// `input(prompt)` waits for the student's line.
    pub prompt: Option<String>,
    /// The socket call it waits in now, if any.
    pub waiting: Option<Waiting>,
    /// Running for a while with no socket call, output or input: spinning.
    pub spinning: bool,
    /// It called `listen()`.
    pub listened: bool,
    /// `accept()` returned at least once.
    pub accepted: bool,
    /// `recv()` returned `b''` this many times in a row.
    pub eof_streak: u32,
}

impl Run {
    fn new(program: ProgramId) -> Run {
        Run {
            program,
            state: RunState::Starting,
            output: Output::default(),
            failure: None,
            bound: None,
            prompt: None,
            waiting: None,
            spinning: false,
            listened: false,
            accepted: false,
            eof_streak: 0,
        }
    }

    fn ended(&mut self, state: RunState) {
        self.state = state;
        self.prompt = None;
        self.waiting = None;
        self.spinning = false;
    }
}

/// One of the two programs: its text and its latest run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramFile {
    pub lane: Lane,
    /// The program as the student last typed it.
    pub text: Rc<str>,
    pub run: Option<Run>,
}

impl ProgramFile {
    fn new(lane: Lane, text: &str) -> ProgramFile {
        ProgramFile {
            lane,
            text: Rc::from(text),
            run: None,
        }
    }

    pub fn file(&self) -> &'static str {
        file_of(self.lane)
    }

    pub fn is_live(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.state.is_live())
    }
}

/// A lazily loaded part (the editor, the Python runner).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Loader {
    #[default]
    Idle,
    Loading,
    Ready,
    /// It could not be loaded: why, in plain words.
    Failed(String),
}

/// What the runner can do in this browser (`runner.capability`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// `"atomics"`, `"jspi"` or `"none"`.
    pub mode: String,
    /// Why, and for `"none"` what the instructor must do.
    pub reason: String,
}

impl Capability {
    pub fn can_run(&self) -> bool {
        self.mode != "none"
    }
}

/// Something the runner must do, numbered so the hook does each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerCmd {
    Run {
        program: ProgramId,
        file: &'static str,
        source: Rc<str>,
        lane: Lane,
    },
    Stop {
        program: ProgramId,
    },
    /// The line the student typed for `input()`.
    Answer {
        program: ProgramId,
        text: String,
    },
}

/// Runner commands waiting for the hook.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunnerOutbox {
    pub queued: Rc<Vec<(u64, RunnerCmd)>>,
    /// The number the next command gets.
    pub next_seq: u64,
}

impl RunnerOutbox {
    fn push(&mut self, cmd: RunnerCmd) {
        let queued = Rc::make_mut(&mut self.queued);
        if queued.len() == MAX_COMMANDS {
            queued.remove(0);
        }
        queued.push((self.next_seq, cmd));
        self.next_seq += 1;
    }
}

/// What happens in the code view.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeAction {
    Open,
    Close,
    /// On a phone the two files are tabs: show this one.
    ShowTab(Lane),
    /// The student changed the program's text.
    Edit(Lane, String),
    Run(Lane),
    Stop(Lane),
    /// The line typed for the pending `input()`.
    Answer(Lane, String),
    EditorLoaded,
    EditorFailed(String),
    RunnerLoaded(Capability),
    RunnerFailed(String),
    /// The runner's `onOutput`.
    Output {
        program: ProgramId,
        stream: Stream,
        text: String,
    },
    /// The runner's `onState`.
    State {
        program: ProgramId,
        state: RunState,
        failure: Option<Failure>,
    },
    /// The runner's `onInput`: the program waits in `input(prompt)`.
    Input {
        program: ProgramId,
        prompt: String,
    },
    /// What a running program is doing now (from the hook's watch on its
    /// socket calls).
    Activity {
        program: ProgramId,
        waiting: Option<Waiting>,
        spinning: bool,
    },
    /// Run the lab's own program on `lane` (its server or client, for
    /// "Check my task"), beside the student's; `file` names it in the trace.
    RunLab {
        lane: Lane,
        file: &'static str,
        source: Rc<str>,
    },
    /// Stop the lab's program on `lane`.
    StopLab(Lane),
}

/// The code view's state (a part of `LabState`).
#[derive(Debug, Clone, PartialEq)]
pub struct CodeState {
    pub open: bool,
    /// The file shown on a narrow screen.
    pub tab: Lane,
    pub server: ProgramFile,
    pub client: ProgramFile,
    next_program: ProgramId,
    pub editor: Loader,
    pub runner: Loader,
    pub capability: Option<Capability>,
    pub commands: RunnerOutbox,
    /// The programs were restored from this browser's storage.
    pub restored: bool,
    /// The text each recent run ran, so an event of an old run still shows
    /// the code that made it.
    sources: Rc<Vec<(ProgramId, Lane, Rc<str>)>>,
    /// The lab's own server and client, when "Check my task" runs them
    /// (see `checks`): their latest runs.
    pub lab_server: Option<Run>,
    pub lab_client: Option<Run>,
}

impl Default for CodeState {
    fn default() -> Self {
        CodeState {
            open: false,
            tab: Lane::Server,
            server: ProgramFile::new(Lane::Server, HANDOUT_SERVER),
            client: ProgramFile::new(Lane::Client, HANDOUT_CLIENT),
            next_program: 1,
            editor: Loader::Idle,
            runner: Loader::Idle,
            capability: None,
            commands: RunnerOutbox::default(),
            restored: false,
            sources: Rc::default(),
            lab_server: None,
            lab_client: None,
        }
    }
}

impl CodeState {
    /// The code view as a reload finds it: the student's saved programs
    /// (when there are any and they differ from the handout's), open if it
    /// was open.
    pub fn restored(server: Option<String>, client: Option<String>, open: bool) -> CodeState {
        let mut view = CodeState {
            open,
            ..CodeState::default()
        };
        for (file, saved) in [(Lane::Server, server), (Lane::Client, client)] {
            if let Some(text) = saved.filter(|t| t.len() <= MAX_PROGRAM_BYTES) {
                let program = view.file_mut(file);
                if *program.text != *text {
                    program.text = Rc::from(text.as_str());
                    view.restored = true;
                }
            }
        }
        view
    }

    pub fn file(&self, lane: Lane) -> &ProgramFile {
        match lane {
            Lane::Server => &self.server,
            Lane::Client => &self.client,
        }
    }

    fn file_mut(&mut self, lane: Lane) -> &mut ProgramFile {
        match lane {
            Lane::Server => &mut self.server,
            Lane::Client => &mut self.client,
        }
    }

    /// The run with this program id, if it is a file's latest run.
    fn run_mut(&mut self, program: ProgramId) -> Option<&mut Run> {
        [&mut self.server.run, &mut self.client.run]
            .into_iter()
            .chain([&mut self.lab_server, &mut self.lab_client])
            .filter_map(Option::as_mut)
            .find(|r| r.program == program)
    }

    /// The lab's own program's latest run on `lane`.
    pub fn lab_run(&self, lane: Lane) -> Option<&Run> {
        match lane {
            Lane::Server => self.lab_server.as_ref(),
            Lane::Client => self.lab_client.as_ref(),
        }
    }

    fn lab_run_mut(&mut self, lane: Lane) -> &mut Option<Run> {
        match lane {
            Lane::Server => &mut self.lab_server,
            Lane::Client => &mut self.lab_client,
        }
    }

    /// Starts the lab's own program on `lane`, as the student's are.
    fn run_lab(&mut self, lane: Lane, file: &'static str, source: Rc<str>) {
        self.stop_lab(lane);
        let program = self.next_program;
        self.next_program += 1;
        let sources = Rc::make_mut(&mut self.sources);
        if sources.len() == MAX_KEPT_SOURCES {
            sources.remove(0);
        }
        sources.push((program, lane, source.clone()));
        self.commands.push(RunnerCmd::Run {
            program,
            file,
            source,
            lane,
        });
        *self.lab_run_mut(lane) = Some(Run::new(program));
    }

    fn stop_lab(&mut self, lane: Lane) {
        let Some(run) = self.lab_run_mut(lane).as_mut() else {
            return;
        };
        if !run.state.is_live() || run.state == RunState::Stopping {
            return;
        }
        let program = run.program;
        run.state = RunState::Stopping;
        run.prompt = None;
        self.commands.push(RunnerCmd::Stop { program });
    }

    /// The text program `program` ran, if it is recent enough to be kept.
    pub fn source_of(&self, program: ProgramId) -> Option<(Lane, Rc<str>)> {
        self.sources
            .iter()
            .find(|(p, _, _)| *p == program)
            .map(|(_, lane, text)| (*lane, text.clone()))
    }

    /// `online`: the page's WebSocket to the bridge is open (a program's
    /// socket calls go through it).
    pub fn apply(&mut self, action: CodeAction, online: bool) {
        match action {
            CodeAction::Open => {
                self.open = true;
                if self.editor == Loader::Idle {
                    self.editor = Loader::Loading;
                }
                if self.runner == Loader::Idle {
                    self.runner = Loader::Loading;
                }
            }
            CodeAction::Close => self.open = false,
            CodeAction::ShowTab(lane) => self.tab = lane,
            CodeAction::Edit(lane, text) => self.file_mut(lane).text = Rc::from(text.as_str()),
            CodeAction::Run(lane) => self.run(lane, online),
            CodeAction::Stop(lane) => self.stop(lane),
            CodeAction::Answer(lane, text) => self.answer(lane, text),
            CodeAction::EditorLoaded => self.editor = Loader::Ready,
            CodeAction::EditorFailed(why) => self.editor = Loader::Failed(why),
            CodeAction::RunnerLoaded(capability) => {
                self.runner = Loader::Ready;
                if !capability.can_run() {
                    // Runs queued while Python loaded cannot start.
                    self.commands.queued = Rc::default();
                    for file in [&mut self.server, &mut self.client] {
                        if let Some(run) = file.run.as_mut().filter(|r| r.state.is_live()) {
                            run.output.note(&format!(
                                "Python cannot run in this browser: {}",
                                capability.reason
                            ));
                            run.ended(RunState::Stopped);
                        }
                    }
                }
                self.capability = Some(capability);
            }
            CodeAction::RunnerFailed(why) => {
                self.commands.queued = Rc::default();
                for file in [&mut self.server, &mut self.client] {
                    if let Some(run) = file.run.as_mut().filter(|r| r.state.is_live()) {
                        run.output
                            .note(&format!("Python could not be loaded: {why}"));
                        run.ended(RunState::Stopped);
                    }
                }
                self.runner = Loader::Failed(why);
            }
            CodeAction::Output {
                program,
                stream,
                text,
            } => {
                if let Some(run) = self.run_mut(program) {
                    run.output.push(stream, &text);
                    run.spinning = false;
                }
            }
            CodeAction::State {
                program,
                state,
                failure,
            } => {
                if let Some(run) = self.run_mut(program) {
                    match state {
                        RunState::Exited | RunState::Failed | RunState::Stopped => {
                            run.ended(state);
                            if state == RunState::Failed
                                && let Some(failure) = failure
                            {
                                // The traceback, as a terminal shows it,
                                // unless the program's stderr already did.
                                let last = failure
                                    .traceback
                                    .lines()
                                    .rfind(|l| !l.trim().is_empty())
                                    .unwrap_or_default();
                                let printed = run
                                    .output
                                    .lines()
                                    .iter()
                                    .any(|l| l.stream == Stream::Stderr && l.text == last);
                                if !printed && !failure.traceback.is_empty() {
                                    run.output.line(Stream::Stderr, &failure.traceback);
                                }
                                run.failure = Some(failure);
                            }
                        }
                        // A late "running" must not undo a Stop.
                        _ if run.state == RunState::Stopping => {}
                        _ => run.state = state,
                    }
                }
            }
            CodeAction::Input { program, prompt } => {
                if let Some(run) = self.run_mut(program) {
                    run.prompt = Some(prompt);
                    run.spinning = false;
                }
            }
            CodeAction::Activity {
                program,
                waiting,
                spinning,
            } => {
                if let Some(run) = self.run_mut(program).filter(|r| r.state.is_live()) {
                    run.waiting = waiting;
                    run.spinning = spinning;
                }
            }
            CodeAction::RunLab { lane, file, source } => self.run_lab(lane, file, source),
            CodeAction::StopLab(lane) => self.stop_lab(lane),
        }
    }

    fn run(&mut self, lane: Lane, online: bool) {
        let text = self.file(lane).text.clone();
        if self.file(lane).is_live() {
            self.stop(lane);
        }
        let program = self.next_program;
        self.next_program += 1;
        let mut run = Run::new(program);
        let file = file_of(lane);
        if !online {
            run.output.note(
                "Not connected to the bridge: a program's sockets are the bridge's, so wait until the page is connected again, then press Run.",
            );
            run.ended(RunState::Stopped);
        } else if text.len() > MAX_PROGRAM_BYTES {
            run.output.note(&format!(
                "{file} is {} bytes; the page runs programs of at most {MAX_PROGRAM_BYTES} bytes.",
                text.len()
            ));
            run.ended(RunState::Stopped);
        } else if let Some(capability) = self.capability.as_ref().filter(|c| !c.can_run()) {
            run.output.note(&format!(
                "Python cannot run in this browser: {}",
                capability.reason
            ));
            run.ended(RunState::Stopped);
        } else if let Loader::Failed(why) = &self.runner {
            run.output
                .note(&format!("Python could not be loaded: {why}"));
            run.ended(RunState::Stopped);
        } else {
            let sources = Rc::make_mut(&mut self.sources);
            if sources.len() == MAX_KEPT_SOURCES {
                sources.remove(0);
            }
            sources.push((program, lane, text.clone()));
            self.commands.push(RunnerCmd::Run {
                program,
                file,
                source: text,
                lane,
            });
        }
        self.file_mut(lane).run = Some(run);
    }

    fn stop(&mut self, lane: Lane) {
        let Some(run) = self.file_mut(lane).run.as_mut() else {
            return;
        };
        if !run.state.is_live() || run.state == RunState::Stopping {
            return;
        }
        let program = run.program;
        run.state = RunState::Stopping;
        run.prompt = None;
        self.commands.push(RunnerCmd::Stop { program });
    }

    fn answer(&mut self, lane: Lane, text: String) {
        let Some(run) = self.file_mut(lane).run.as_mut() else {
            return;
        };
        // The runner prints the prompt and the answer on one line, as a
        // terminal shows them; the page only hands the answer over.
        if run.prompt.take().is_none() {
            return;
        }
        let program = run.program;
        self.commands.push(RunnerCmd::Answer { program, text });
    }

    /// The bridge's connection closed: the session, and with it every
    /// socket of the running programs, is gone. Stop them and say so.
    pub fn bridge_closed(&mut self) {
        for lane in [Lane::Server, Lane::Client] {
            let live = self.file(lane).is_live();
            if live {
                self.stop(lane);
                if let Some(run) = self.file_mut(lane).run.as_mut() {
                    run.output.note(
                        "The connection to the bridge closed, and with it this program's sockets: it was stopped. Run it again when the page is connected.",
                    );
                }
            }
        }
    }

    /// Follows what the trace says about a program's sockets: the real
    /// port of its `bind()`, whether it listened and accepted.
    pub fn on_trace(&mut self, event: &TraceEvent) {
        let Some(source) = &event.source else {
            return;
        };
        let Some(run) = self.run_mut(source.program) else {
            return;
        };
        match &event.step {
            Step::Bind {
                addr,
                asked: Some(asked),
            } => {
                run.bound = Some(Bound {
                    asked: asked.clone(),
                    real: addr.clone(),
                })
            }
            Step::Listen { .. } => run.listened = true,
            Step::Accept { .. } => run.accepted = true,
            Step::RecvEof => run.eof_streak += 1,
            Step::Recv { .. } | Step::Send { .. } => run.eof_streak = 0,
            _ => {}
        }
    }

    /// Plain sentences about what `lane`'s program is doing now, beyond its
    /// status: the mistakes of this lab that do not raise an exception.
    pub fn hints(&self, lane: Lane) -> Vec<&'static str> {
        let mut hints = Vec::new();
        let Some(run) = &self.file(lane).run else {
            return hints;
        };
        let other = self.file(match lane {
            Lane::Server => Lane::Client,
            Lane::Client => Lane::Server,
        });
        let live = run.state.is_live();
        let waiting_in = |call: &str| run.waiting.as_ref().is_some_and(|w| w.call == call);
        if live && waiting_in("accept()") {
            hints.push(
                "accept() waits until a client connects: run client.py, connect the lab's client to your port, or connect from a terminal.",
            );
        }
        if live && (waiting_in("recv()") || waiting_in("recvfrom()")) {
            hints.push(
                "recv() waits until the other side sends something (or closes): nothing has arrived yet.",
            );
        }
        // A client waiting on a server of this page that never accepts.
        let server_never_accepts = |server: &ProgramFile| {
            server.run.as_ref().is_some_and(|s| {
                s.listened && !s.accepted && s.waiting.as_ref().is_none_or(|w| w.call != "accept()")
            })
        };
        let never_accepts = match lane {
            Lane::Server => server_never_accepts(self.file(Lane::Server)),
            Lane::Client => live && run.waiting.is_some() && server_never_accepts(other),
        };
        if never_accepts {
            hints.push(
                "The server listened but never called accept(): the operating system completes a client's handshake and queues it in the backlog, but no one ever talks to it.",
            );
        }
        if live && run.spinning {
            hints.push(
                "The program has been running for a while without a socket call, output or input: a while True loop with no recv() or accept() inside never waits, so it spins. Press Stop.",
            );
        }
        if run.eof_streak >= EOF_STREAK_HINT {
            hints.push(
                "recv() keeps returning b'': the other side has closed and will never send again. Leave the loop when recv() returns b'' (if not data: break).",
            );
        }
        hints
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Source;

    fn open() -> CodeState {
        let mut view = CodeState::default();
        view.apply(CodeAction::Open, true);
        view
    }

    fn cmds(view: &CodeState) -> Vec<RunnerCmd> {
        view.commands
            .queued
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }

    fn event(program: ProgramId, lane: Lane, step: Step) -> TraceEvent {
        TraceEvent {
            at_us: 1,
            lane,
            server: None,
            conn: None,
            server_conn: None,
            source: Some(Source {
                program,
                file: file_of(lane).into(),
                line: 6,
            }),
            step,
        }
    }

    /// The view starts from the handout's Task 1 code, exactly.
    #[test]
    fn starts_from_the_handout() {
        let view = CodeState::default();
        assert!(
            view.server
                .text
                .contains("clientsocket, address = s.accept()")
        );
        assert!(
            view.client
                .text
                .contains("s.connect((socket.gethostname(), 1234))")
        );
        assert!(!view.open);
    }

    /// Opening loads the editor and Python; Run numbers programs from 1,
    /// never reusing a number, and Run again stops the old run first.
    #[test]
    fn runs_are_numbered_and_restart() {
        let mut view = open();
        assert_eq!(view.editor, Loader::Loading);
        view.apply(CodeAction::Run(Lane::Server), true);
        view.apply(CodeAction::Run(Lane::Client), true);
        view.apply(CodeAction::Run(Lane::Server), true);
        let cmds = cmds(&view);
        assert!(matches!(
            &cmds[0],
            RunnerCmd::Run { program: 1, file: "server.py", lane: Lane::Server, source }
                if source.contains("s.listen(5)")
        ));
        assert!(matches!(
            &cmds[1],
            RunnerCmd::Run {
                program: 2,
                file: "client.py",
                ..
            }
        ));
        assert_eq!(cmds[2], RunnerCmd::Stop { program: 1 });
        assert!(matches!(&cmds[3], RunnerCmd::Run { program: 3, .. }));
        assert_eq!(view.server.run.as_ref().unwrap().program, 3);
        assert_eq!(view.source_of(1).unwrap().0, Lane::Server);
    }

    /// The runner's reports reach the run they are about; a report about
    /// an older run is ignored; Stop waits for the runner's "stopped".
    #[test]
    fn states_and_output_follow_the_runner() {
        let mut view = open();
        view.apply(CodeAction::Run(Lane::Server), true);
        for (state, label) in [
            (RunState::Loading, "Loading Python…"),
            (RunState::Running, "Running"),
        ] {
            view.apply(
                CodeAction::State {
                    program: 1,
                    state,
                    failure: None,
                },
                true,
            );
            assert_eq!(view.server.run.as_ref().unwrap().state.label(), label);
        }
        view.apply(
            CodeAction::Output {
                program: 1,
                stream: Stream::Stdout,
                text: "Connection from ('127.0.0.1', 50312) has been established.\n".into(),
            },
            true,
        );
        view.apply(
            CodeAction::Output {
                program: 9,
                stream: Stream::Stdout,
                text: "not mine\n".into(),
            },
            true,
        );
        let run = view.server.run.as_ref().unwrap();
        assert_eq!(run.output.lines().len(), 1);
        assert!(run.output.lines()[0].text.starts_with("Connection from"));

        view.apply(CodeAction::Stop(Lane::Server), true);
        assert_eq!(view.server.run.as_ref().unwrap().state, RunState::Stopping);
        // A late "running" does not undo the Stop; "stopped" ends it.
        view.apply(
            CodeAction::State {
                program: 1,
                state: RunState::Running,
                failure: None,
            },
            true,
        );
        assert_eq!(view.server.run.as_ref().unwrap().state, RunState::Stopping);
        view.apply(
            CodeAction::State {
                program: 1,
                state: RunState::Stopped,
                failure: None,
            },
            true,
        );
        assert_eq!(view.server.run.as_ref().unwrap().state, RunState::Stopped);
        assert_eq!(cmds(&view)[1], RunnerCmd::Stop { program: 1 });
        // Stop on a stopped program does nothing.
        view.apply(CodeAction::Stop(Lane::Server), true);
        assert_eq!(cmds(&view).len(), 2);
    }

    /// Output is split into lines; a line printed in pieces stays one
    /// line; the scrollback is capped and counts what it dropped.
    #[test]
    fn output_is_a_capped_scrollback() {
        let mut out = Output::default();
        out.push(Stream::Stdout, "a\nb");
        out.push(Stream::Stdout, "c\n");
        out.push(Stream::Stderr, "Traceback\n  line\n");
        let texts: Vec<_> = out.lines().iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "bc", "Traceback", "  line"]);
        for i in 0..MAX_OUTPUT_LINES + 10 {
            out.push(Stream::Stdout, &format!("{i}\n"));
        }
        assert_eq!(out.lines().len(), MAX_OUTPUT_LINES);
        assert_eq!(out.dropped(), 14);
        let mut long = Output::default();
        long.push(Stream::Stdout, &"x".repeat(MAX_LINE_CHARS * 2));
        assert_eq!(long.lines()[0].text.chars().count(), MAX_LINE_CHARS + 1);
    }

    /// input(): the prompt waits for the student's line; the answer goes
    /// to the runner (which prints prompt and answer, as a terminal does).
    #[test]
    fn input_is_answered_from_the_page() {
        let mut view = open();
        view.apply(CodeAction::Run(Lane::Client), true);
        view.apply(CodeAction::Answer(Lane::Client, "early".into()), true);
        assert_eq!(cmds(&view).len(), 1, "no input() pending: nothing sent");
        view.apply(
            CodeAction::Input {
                program: 1,
                prompt: "> ".into(),
            },
            true,
        );
        assert_eq!(
            view.client.run.as_ref().unwrap().prompt.as_deref(),
            Some("> ")
        );
        view.apply(CodeAction::Answer(Lane::Client, "hello".into()), true);
        assert_eq!(
            cmds(&view)[1],
            RunnerCmd::Answer {
                program: 1,
                text: "hello".into()
            }
        );
        let run = view.client.run.as_ref().unwrap();
        assert_eq!(run.prompt, None);
    }

    /// Without the bridge, or when Python cannot run here, Run says why
    /// instead of starting something that cannot work.
    #[test]
    fn run_says_why_it_cannot() {
        let mut view = open();
        view.apply(CodeAction::Run(Lane::Server), false);
        let run = view.server.run.as_ref().unwrap();
        assert_eq!(run.state, RunState::Stopped);
        assert!(
            run.output.lines()[0]
                .text
                .contains("Not connected to the bridge")
        );
        assert!(cmds(&view).is_empty());

        view.apply(
            CodeAction::RunnerLoaded(Capability {
                mode: "none".into(),
                reason: "serve the page over HTTPS".into(),
            }),
            true,
        );
        view.apply(CodeAction::Run(Lane::Client), true);
        let run = view.client.run.as_ref().unwrap();
        assert!(
            run.output.lines()[0]
                .text
                .contains("serve the page over HTTPS")
        );
        assert!(cmds(&view).is_empty());
    }

    /// Losing the bridge stops what runs, and says why.
    #[test]
    fn losing_the_bridge_stops_programs() {
        let mut view = open();
        view.apply(CodeAction::Run(Lane::Server), true);
        view.bridge_closed();
        assert_eq!(cmds(&view)[1], RunnerCmd::Stop { program: 1 });
        let run = view.server.run.as_ref().unwrap();
        assert!(
            run.output.lines()[0]
                .text
                .contains("connection to the bridge closed")
        );
    }

    /// The trace gives the real port of the server's bind(), and whether
    /// it listened and accepted.
    #[test]
    fn the_trace_shows_the_real_port() {
        let mut view = open();
        view.apply(CodeAction::Run(Lane::Server), true);
        view.on_trace(&event(
            1,
            Lane::Server,
            Step::Bind {
                addr: "127.0.0.1:40211".into(),
                asked: Some("127.0.0.1:1234".into()),
            },
        ));
        view.on_trace(&event(1, Lane::Server, Step::Listen { backlog: 5 }));
        let run = view.server.run.as_ref().unwrap();
        let bound = run.bound.as_ref().unwrap();
        assert_eq!((bound.asked_port(), bound.real_port()), ("1234", "40211"));
        assert!(run.listened && !run.accepted);
    }

    /// The lab's silent mistakes get their sentence: a server that never
    /// accepts, a loop that spins, recv() returning b'' over and over.
    #[test]
    fn silent_mistakes_are_explained() {
        let mut view = open();
        view.apply(CodeAction::Run(Lane::Server), true);
        view.apply(CodeAction::Run(Lane::Client), true);
        view.on_trace(&event(1, Lane::Server, Step::Listen { backlog: 5 }));
        view.apply(
            CodeAction::Activity {
                program: 1,
                waiting: None,
                spinning: true,
            },
            true,
        );
        view.apply(
            CodeAction::Activity {
                program: 2,
                waiting: Some(Waiting {
                    call: "recv()".into(),
                    line: Some(5),
                    secs: 3,
                }),
                spinning: false,
            },
            true,
        );
        let server = view.hints(Lane::Server);
        assert!(server.iter().any(|h| h.contains("never called accept()")));
        assert!(server.iter().any(|h| h.contains("while True")));
        let client = view.hints(Lane::Client);
        assert!(client.iter().any(|h| h.contains("never called accept()")));

        // Waiting in accept() is not "never accepts".
        view.apply(
            CodeAction::Activity {
                program: 1,
                waiting: Some(Waiting {
                    call: "accept()".into(),
                    line: Some(11),
                    secs: 1,
                }),
                spinning: false,
            },
            true,
        );
        let server = view.hints(Lane::Server);
        assert!(server.iter().any(|h| h.starts_with("accept() waits")));
        assert!(!server.iter().any(|h| h.contains("never called accept()")));

        for _ in 0..EOF_STREAK_HINT {
            view.on_trace(&event(2, Lane::Client, Step::RecvEof));
        }
        assert!(view.hints(Lane::Client).iter().any(|h| h.contains("b''")));
    }

    /// Socket errors use the protocol's sentences; the lab's other errors
    /// have their own; errors with nothing to add get none.
    #[test]
    fn failures_are_explained() {
        let refused = Failure {
            exception: "ConnectionRefusedError".into(),
            message: "[Errno 111] Connection refused".into(),
            line: Some(4),
            errno: Some("ECONNREFUSED".into()),
            kind: Some(ErrorKind::ConnectionRefused),
            ..Failure::default()
        };
        assert_eq!(
            refused.explanation(),
            Some(ErrorKind::ConnectionRefused.explanation())
        );
        assert_eq!(
            refused.headline(),
            "ConnectionRefusedError: [Errno 111] Connection refused"
        );
        let in_use = Failure {
            exception: "OSError".into(),
            errno: Some("EADDRINUSE".into()),
            kind: Some(ErrorKind::AddrInUse),
            ..Failure::default()
        };
        assert_eq!(
            in_use.explanation(),
            Some(ErrorKind::AddrInUse.explanation())
        );
        let closed = Failure {
            exception: "OSError".into(),
            message: "[Errno 9] Bad file descriptor".into(),
            errno: Some("EBADF".into()),
            kind: Some(ErrorKind::Other),
            ..Failure::default()
        };
        assert!(closed.explanation().unwrap().contains("already closed"));
        let threads = Failure {
            exception: "RuntimeError".into(),
            message: "can't start new thread".into(),
            ..Failure::default()
        };
        assert!(threads.explanation().unwrap().contains("threads"));
        let select = Failure {
            exception: "ModuleNotFoundError".into(),
            message: "select is not available in the browser".into(),
            ..Failure::default()
        };
        assert!(select.explanation().unwrap().contains("select()"));
        let other = Failure {
            exception: "ZeroDivisionError".into(),
            message: "division by zero".into(),
            ..Failure::default()
        };
        assert_eq!(other.explanation(), None);
    }

    /// Every error kind is read back from its JSON name.
    #[test]
    fn error_kinds_are_read_by_name() {
        for kind in [
            ErrorKind::ConnectionRefused,
            ErrorKind::TimedOut,
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::BrokenPipe,
            ErrorKind::AddrInUse,
            ErrorKind::AddrNotAvailable,
            ErrorKind::Unreachable,
            ErrorKind::NotAllowed,
            ErrorKind::Idle,
            ErrorKind::BadAddress,
            ErrorKind::Other,
        ] {
            let name = serde_json::to_string(&kind).unwrap();
            assert_eq!(error_kind(name.trim_matches('"')), Some(kind));
        }
        assert_eq!(error_kind("nonsense"), None);
    }

    /// Every call's tag has its Python name (the tags are `SockOp`'s).
    #[test]
    fn calls_have_python_names() {
        let op = protocol::SockOp::RecvFrom { sock: 1, max: 9 };
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(call_name(json["op"].as_str().unwrap()), "recvfrom()");
        assert_eq!(call_name("accept"), "accept()");
    }

    /// The runner's failure detail is read whole, or as much as is there.
    #[test]
    fn runner_details_are_read() {
        let detail = |key: &str| {
            Some(
                match key {
                    "type" => "ConnectionRefusedError",
                    "message" => "[Errno 111] Connection refused",
                    "traceback" => "Traceback (most recent call last):\n  File \"client.py\", line 4, in <module>\nConnectionRefusedError: [Errno 111] Connection refused\n",
                    "errno" => "ECONNREFUSED",
                    "kind" => "connection_refused",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let failure = Failure::from_runner(detail, Some(4));
        assert_eq!(failure.line, Some(4));
        assert_eq!(failure.kind, Some(ErrorKind::ConnectionRefused));
        let odd = Failure::from_runner(
            |key| (key == "kind").then(|| "no_such_kind".to_string()),
            Some(0),
        );
        assert_eq!(
            (odd.exception.as_str(), odd.kind, odd.line),
            ("Error", None, None)
        );

        // The traceback goes to the output once.
        let mut view = open();
        view.apply(CodeAction::Run(Lane::Client), true);
        view.apply(
            CodeAction::State {
                program: 1,
                state: RunState::Failed,
                failure: Some(failure),
            },
            true,
        );
        let run = view.client.run.as_ref().unwrap();
        assert_eq!(run.state, RunState::Failed);
        let stderr: Vec<_> = run
            .output
            .lines()
            .iter()
            .filter(|l| l.stream == Stream::Stderr)
            .collect();
        assert_eq!(
            stderr.last().unwrap().text,
            "ConnectionRefusedError: [Errno 111] Connection refused"
        );
        assert_eq!(stderr[0].text, "Traceback (most recent call last):");
    }

    /// A reload restores the student's programs (and says so), but not
    /// the handout's own text nor something too long to be a program.
    #[test]
    fn reload_restores_the_programs() {
        let view = CodeState::restored(Some("print('mine')\n".into()), None, true);
        assert!(view.restored && view.open);
        assert_eq!(&*view.server.text, "print('mine')\n");
        assert_eq!(&*view.client.text, HANDOUT_CLIENT);
        let view = CodeState::restored(Some(HANDOUT_SERVER.into()), None, false);
        assert!(!view.restored);
        let view = CodeState::restored(Some("x".repeat(MAX_PROGRAM_BYTES + 1)), None, false);
        assert!(!view.restored);
    }
}
