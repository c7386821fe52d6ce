//! Check my task: does a student's own `server.py` and `client.py` do what
//! each task of the lab asks? Judged from what their sockets really did.
//!
//! "Check my task" runs the student's server against the lab's own client
//! (`lab/taskN/client.py`, run as [`LAB_CLIENT`]) and the student's client
//! against the lab's own server ([`LAB_SERVER`]), on real sockets through
//! the bridge. Every socket call lands in the trace as a [`TraceEvent`]
//! whose `source` names the program's file and line. [`check`] reads those
//! events (and what the student's programs printed) and says, for each
//! thing the task asks, whether it happened, in a plain sentence: what was
//! expected, what happened, and where (the event, and the student's line).
//!
//! Pure: no I/O, no clock. The page compiles it to wasm and shows its
//! sentences; the tests call it natively on traces of real runs.
//!
//! # From the top
//!
//! - [`check`]: a task's number, the events of one check run, the
//!   student's programs and outputs in, one [`Check`] per thing asked out.
//! - [`Check::passed`], [`Check::title`], [`Check::expected`],
//!   [`Check::happened`], [`Check::event`] and [`Check::line`]: what the
//!   page shows and links to.
//! - [`TASK2_PIECES`], [`TASK3_MESSAGES`]: what the lab's own programs
//!   send, so the sentences can name them.

use protocol::{Lane, Step, TraceEvent};

/// The student's server's file name, as the page runs it.
pub const STUDENT_SERVER: &str = "server.py";
/// The student's client's file name.
pub const STUDENT_CLIENT: &str = "client.py";
/// The lab's own server (`lab/taskN/server.py`) as a check runs it: its
/// own file name, so its events are told from the student's.
pub const LAB_SERVER: &str = "lab_server.py";
/// The lab's own client (`lab/taskN/client.py`) as a check runs it.
pub const LAB_CLIENT: &str = "lab_client.py";

/// Task 2's message as the lab's server sends it: in two pieces, a moment
/// apart, so a client that reads once shows only the first.
pub const TASK2_PIECES: [&[u8]; 2] = [b"Thank you ", b"for connecting\n"];

/// Task 3's messages as the lab's client sends them, in order: a line of
/// text, bytes that are not text, and more bytes than one `recv()` returns.
pub fn task3_messages() -> [Vec<u8>; 3] {
    let binary: Vec<u8> = (0..=255).collect();
    [
        b"Hello, echo server!\n".to_vec(),
        binary.clone(),
        binary.repeat(80),
    ]
}

/// How Task 3's messages are named in the sentences.
pub const TASK3_MESSAGES: [&str; 3] = [
    "a line of text (20 bytes)",
    "256 bytes that are not text",
    "20,480 bytes, more than one recv() returns",
];

/// The student's programs as they ran, and what they printed (stdout and
/// stderr, as a terminal shows them).
#[derive(Debug, Clone, Copy, Default)]
pub struct Student<'a> {
    pub server_py: &'a str,
    pub client_py: &'a str,
    pub server_output: &'a str,
    pub client_output: &'a str,
}

/// One thing a task asks, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Whose program it is about: the student's server or client.
    pub side: Lane,
    /// What is checked, as a sentence about the student's program
    /// ("Your server accepts a client").
    pub title: &'static str,
    pub passed: bool,
    /// What the task expects, in a sentence.
    pub expected: String,
    /// What the trace shows happened, in a sentence; for a failure, with
    /// what to change.
    pub happened: String,
    /// The event it is about: an index into the events given to [`check`].
    pub event: Option<usize>,
    /// The student's line it is about (in `server.py` or `client.py`, as
    /// [`Check::side`] says).
    pub line: Option<u32>,
}

impl Check {
    /// The whole verdict in one sentence, for a screen reader or a log.
    pub fn sentence(&self) -> String {
        let verdict = if self.passed { "Passed" } else { "Failed" };
        format!("{verdict}: {}. {}", self.title, self.happened)
    }

    /// The student's file it is about.
    pub fn file(&self) -> &'static str {
        match self.side {
            Lane::Server => STUDENT_SERVER,
            Lane::Client => STUDENT_CLIENT,
        }
    }
}

/// Checks one run of "Check my task" for task 1, 2 or 3: `events` are the
/// run's trace (the student's server with the lab's client, then the
/// student's client with the lab's server). An unknown task has no checks.
pub fn check(task: u8, events: &[TraceEvent], student: &Student) -> Vec<Check> {
    let run = Run { events, student };
    let mut checks = Vec::new();
    match task {
        1 => {
            checks.push(run.accepts());
            checks.push(run.prints_connection());
            checks.push(run.connects());
        }
        2 => {
            checks.push(run.accepts());
            checks.push(run.sends_message());
            checks.push(run.closes_after_sending());
            checks.push(run.connects());
            checks.push(run.receives_all());
            checks.push(run.displays_message());
        }
        3 => {
            checks.push(run.accepts());
            checks.extend(run.echoes());
            checks.push(run.serves_until_client_closes());
            checks.push(run.closes_after_eof());
            checks.push(run.connects());
            checks.push(run.gets_echo_back());
            checks.push(run.displays_echo());
        }
        _ => {}
    }
    checks
}

/// One of the four programs of a check run.
#[derive(Clone, Copy)]
enum Who {
    StudentServer,
    StudentClient,
    LabServer,
    LabClient,
}

impl Who {
    fn lane(self) -> Lane {
        match self {
            Who::StudentServer | Who::LabServer => Lane::Server,
            Who::StudentClient | Who::LabClient => Lane::Client,
        }
    }

    fn file(self) -> &'static str {
        match self {
            Who::StudentServer => STUDENT_SERVER,
            Who::StudentClient => STUDENT_CLIENT,
            Who::LabServer => LAB_SERVER,
            Who::LabClient => LAB_CLIENT,
        }
    }
}

type Seen<'a> = (usize, &'a TraceEvent);

struct Run<'a> {
    events: &'a [TraceEvent],
    student: &'a Student<'a>,
}

/// A check's verdict before it is named.
struct Verdict {
    passed: bool,
    happened: String,
    at: Option<usize>,
}

fn pass(happened: String, at: Option<usize>) -> Verdict {
    Verdict {
        passed: true,
        happened,
        at,
    }
}

fn fail(happened: String, at: Option<usize>) -> Verdict {
    Verdict {
        passed: false,
        happened,
        at,
    }
}

impl<'a> Run<'a> {
    /// The events of one program, with their indices.
    fn of(&self, who: Who) -> Vec<Seen<'a>> {
        self.events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.lane == who.lane() && e.source.as_ref().is_some_and(|s| s.file == who.file())
            })
            .collect()
    }

    fn first(&self, who: Who, want: impl Fn(&Step) -> bool) -> Option<Seen<'a>> {
        self.of(who).into_iter().find(|(_, e)| want(&e.step))
    }

    /// The connection the student's server accepted from the lab's client
    /// (its first accept).
    fn accepted_conn(&self) -> Option<(Seen<'a>, protocol::ConnId)> {
        let seen = self.first(Who::StudentServer, |s| matches!(s, Step::Accept { .. }))?;
        Some((seen, seen.1.conn?))
    }

    /// The connection the student's client made (its first connect).
    fn client_conn(&self) -> Option<protocol::ConnId> {
        self.of(Who::StudentClient)
            .into_iter()
            .find_map(|(_, e)| match e.step {
                Step::Connected { .. } | Step::Connect { .. } => e.conn,
                _ => None,
            })
    }

    /// The bytes a program sent (`send`) or received (`recv`) on `conn`,
    /// joined, with the events that moved them.
    fn bytes(&self, who: Who, conn: protocol::ConnId, sent: bool) -> (Vec<u8>, Vec<Seen<'a>>) {
        let mut all = Vec::new();
        let mut moves = Vec::new();
        for seen in self
            .of(who)
            .into_iter()
            .filter(|(_, e)| e.conn == Some(conn))
        {
            match (&seen.1.step, sent) {
                (Step::Send { data }, true) | (Step::Recv { data }, false) => {
                    all.extend_from_slice(&data.0);
                    moves.push(seen);
                }
                _ => {}
            }
        }
        (all, moves)
    }

    fn output(&self, who: Who) -> &'a str {
        match who {
            Who::StudentServer => self.student.server_output,
            _ => self.student.client_output,
        }
    }

    fn program(&self, who: Who) -> &'a str {
        match who {
            Who::StudentServer => self.student.server_py,
            _ => self.student.client_py,
        }
    }

    /// Did the student write this line to close a socket? (A `close()` the
    /// bridge made when the program ended carries the program's latest
    /// line, which is some other call's.)
    fn closes_here(&self, who: Who, event: &TraceEvent) -> bool {
        let Some(line) = event.source.as_ref().map(|s| s.line) else {
            return false;
        };
        let text = self
            .program(who)
            .lines()
            .nth((line as usize).saturating_sub(1))
            .unwrap_or_default()
            .trim_start();
        text.contains("close(") || text.starts_with("with ")
    }

    /// Why a program made no socket call, or failed before the one asked
    /// for: its error event, or the last line of a traceback it printed.
    fn no_start(&self, who: Who) -> Option<Verdict> {
        let name = who.file();
        if let Some((i, e)) = self.first(who, |s| matches!(s, Step::Error { .. })) {
            let Step::Error {
                message, failed, ..
            } = &e.step
            else {
                return None;
            };
            let call = failed.map(|c| c.python()).unwrap_or("a socket call");
            return Some(fail(
                format!("In your {name}, {call} failed: {message}."),
                Some(i),
            ));
        }
        let output = self.output(who);
        if let Some(last) = traceback_line(output) {
            let at = self.of(who).last().map(|(i, _)| *i);
            return Some(fail(
                format!("Your {name} stopped with an error: {last}"),
                at,
            ));
        }
        if self.of(who).is_empty() {
            return Some(fail(
                format!(
                    "Your {name} made no socket call (did it run? Python may still have been loading)."
                ),
                None,
            ));
        }
        None
    }

    fn named(&self, who: Who, title: &'static str, expected: &str, verdict: Verdict) -> Check {
        let line = verdict
            .at
            .and_then(|i| self.events.get(i))
            .filter(|e| e.source.as_ref().is_some_and(|s| s.file == who.file()))
            .and_then(|e| e.source.as_ref().map(|s| s.line));
        Check {
            side: who.lane(),
            title,
            passed: verdict.passed,
            expected: expected.to_string(),
            happened: verdict.happened,
            event: verdict.at,
            line,
        }
    }

    // ----- The student's server, with the lab's client -----

    fn accepts(&self) -> Check {
        let who = Who::StudentServer;
        let verdict = if let Some(((i, e), _)) = self.accepted_conn() {
            let peer = match &e.step {
                Step::Accept { peer, .. } => peer.as_str(),
                _ => "",
            };
            pass(
                format!("accept() returned the lab's client's connection, from {peer}."),
                Some(i),
            )
        } else if let Some(why) = self.no_start(who) {
            why
        } else if let Some((i, _)) = self.first(who, |s| matches!(s, Step::Listen { .. })) {
            match self.first(Who::LabClient, |s| matches!(s, Step::Error { .. })) {
                Some((_, e)) => fail(
                    format!(
                        "Your server listened, but the lab's client could not connect ({}). The lab's client connects to port 1234 of this machine: bind((socket.gethostname(), 1234)).",
                        error_message(e)
                    ),
                    Some(i),
                ),
                None => fail(
                    "Your server listened but never called accept(): a client's connection waits in the queue until accept() takes it.".into(),
                    Some(i),
                ),
            }
        } else {
            let at = self.of(who).last().map(|(i, _)| *i);
            fail(
                "Your server never called listen(): a socket must bind() and listen() before clients can connect.".into(),
                at,
            )
        };
        self.named(
            who,
            "Your server accepts a client",
            "accept() returns a new socket for the lab's client, which connects to port 1234.",
            verdict,
        )
    }

    fn prints_connection(&self) -> Check {
        let who = Who::StudentServer;
        let expected = "After accept(), the server prints the line the handout shows: Connection from ('127.0.0.1', 50312) has been established.";
        let printed = self.of(who).into_iter().find(
            |(_, e)| matches!(&e.step, Step::Print { text } if text.contains("Connection from")),
        );
        let in_output = self
            .output(who)
            .lines()
            .find(|l| l.contains("Connection from"));
        let verdict = match (printed, in_output, self.accepted_conn()) {
            (Some((i, e)), _, _) => {
                let text = match &e.step {
                    Step::Print { text } => text.as_str(),
                    _ => "",
                };
                pass(format!("Your server printed: {text}"), Some(i))
            }
            (None, Some(line), accepted) => pass(
                format!("Your server printed: {line}"),
                accepted.map(|((i, _), _)| i),
            ),
            (None, None, None) => fail(
                "No client was accepted, so there was no connection to print.".into(),
                None,
            ),
            (None, None, Some(((i, _), _))) => {
                let other = self.output(who).lines().find(|l| !l.trim().is_empty());
                let said = match other {
                    Some(line) => format!("it printed \"{line}\" instead"),
                    None => "it printed nothing".to_string(),
                };
                fail(
                    format!(
                        "Your server accepted the client but {said}: print(f\"Connection from {{address}} has been established.\") after accept()."
                    ),
                    Some(i),
                )
            }
        };
        self.named(
            who,
            "Your server prints the connection line",
            expected,
            verdict,
        )
    }

    fn sends_message(&self) -> Check {
        let who = Who::StudentServer;
        let expected = "After accept(), the server sends a message on the socket accept() returned, and the client receives all of it.";
        let send_error = self.first(who, |s| {
            matches!(
                s,
                Step::Error {
                    failed: Some(protocol::Call::Send),
                    ..
                }
            )
        });
        let accepted = self.accepted_conn();
        let verdict = match (send_error, accepted) {
            (Some((i, e)), accepted) => {
                let before = accepted.is_none_or(|((a, _), _)| i < a);
                let why = if before {
                    "Your server called send() before accept()"
                } else {
                    "Your server's send() failed"
                };
                fail(
                    format!(
                        "{why} ({}): send on the socket accept() returns (clientsocket.send(...)), not on the listening socket s.",
                        error_message(e)
                    ),
                    Some(i),
                )
            }
            (None, None) => self.no_start(who).unwrap_or_else(|| {
                fail(
                    "Your server accepted no client, so it sent nothing.".into(),
                    None,
                )
            }),
            (None, Some(((a, _), conn))) => {
                let (sent, sends) = self.bytes(who, conn, true);
                let (got, _) = self.bytes(Who::LabClient, conn, false);
                match sends.last() {
                    None => fail(
                        "Your server accepted the client but sent nothing: call clientsocket.send(bytes(...)) after accept().".into(),
                        Some(a),
                    ),
                    Some((i, _)) if got.len() >= sent.len() => pass(
                        format!(
                            "Your server sent {} and the lab's client received all of it.",
                            shown(&sent)
                        ),
                        Some(*i),
                    ),
                    Some((i, _)) => fail(
                        format!(
                            "Your server sent {} bytes but the lab's client received {}.",
                            sent.len(),
                            got.len()
                        ),
                        Some(*i),
                    ),
                }
            }
        };
        self.named(
            who,
            "Your server sends a message to the client",
            expected,
            verdict,
        )
    }

    fn closes_after_sending(&self) -> Check {
        let who = Who::StudentServer;
        let expected = "After sending, the server closes the client's socket (clientsocket.close()), so the client's recv() returns b'' and it knows the message is complete.";
        let verdict = match self.accepted_conn() {
            None => fail("Your server accepted no client.".into(), None),
            Some(((a, _), conn)) => {
                let close = self.of(who).into_iter().find(|(_, e)| {
                    e.conn == Some(conn)
                        && matches!(e.step, Step::Close)
                        && self.closes_here(who, e)
                });
                match close {
                    Some((i, _)) => pass(
                        "Your server closed the client's socket after sending.".into(),
                        Some(i),
                    ),
                    None => fail(
                        "Your server never closed the client's socket: the client waits for more, and its recv() never returns b''. Call clientsocket.close() after sending.".into(),
                        Some(a),
                    ),
                }
            }
        };
        self.named(
            who,
            "Your server closes the connection after sending",
            expected,
            verdict,
        )
    }

    /// Task 3: one check per message of the lab's client.
    fn echoes(&self) -> Vec<Check> {
        let who = Who::StudentServer;
        let messages = task3_messages();
        let titles = [
            "Your server echoes a line of text",
            "Your server echoes bytes that are not text, unchanged",
            "Your server echoes a message larger than one recv()",
        ];
        let Some(((a, _), conn)) = self.accepted_conn() else {
            let why = self.no_start(who).unwrap_or_else(|| {
                fail(
                    "Your server accepted no client, so nothing came back.".into(),
                    None,
                )
            });
            return titles
                .iter()
                .zip(TASK3_MESSAGES)
                .map(|(title, what)| {
                    let expected = format!("The lab's client sends {what}; every byte comes back.");
                    let copy = fail(why.happened.clone(), why.at);
                    self.named(who, title, &expected, copy)
                })
                .collect();
        };
        let (sent, _) = self.bytes(Who::LabClient, conn, true);
        let (echo, _) = self.bytes(Who::LabClient, conn, false);
        let (_, recvs) = self.bytes(who, conn, false);
        let (_, sends) = self.bytes(who, conn, true);
        let closed = self
            .of(who)
            .into_iter()
            .find(|(_, e)| e.conn == Some(conn) && matches!(e.step, Step::Close));
        let last_recv = recvs.last().map(|(i, _)| *i);
        let decode_error = self.output(who).contains("UnicodeDecodeError");
        let mut offset = 0;
        let mut checks = Vec::new();
        for (k, message) in messages.iter().enumerate() {
            let expected = format!(
                "The lab's client sends {}; every byte comes back, unchanged.",
                TASK3_MESSAGES[k]
            );
            let end = offset + message.len();
            let was_sent = sent.len() >= end && sent[offset..end] == message[..];
            let back = echo.get(offset..end.min(echo.len())).unwrap_or_default();
            let verdict = if was_sent && back == &message[..] {
                // The server's recv()s that read this message's bytes.
                let mut read = 0;
                let mut calls = 0;
                for (_, e) in &recvs {
                    let n = e.step.data().map_or(0, |d| d.len());
                    if read < end && read + n > offset {
                        calls += 1;
                    }
                    read += n;
                }
                let calls = if calls == 1 {
                    "1 recv() call".to_string()
                } else {
                    format!("{calls} recv() calls")
                };
                pass(
                    format!(
                        "All {} bytes came back; your server read them in {calls}.",
                        message.len()
                    ),
                    sends.last().map(|(i, _)| *i).or(Some(a)),
                )
            } else if !was_sent {
                fail(
                    "Not sent: the lab's client stopped because an earlier message did not come back whole.".into(),
                    None,
                )
            } else if decode_error {
                fail(
                    "Your server stopped with UnicodeDecodeError: it decoded the bytes as text. An echo server sends back the bytes exactly as recv() returned them, without decode().".into(),
                    last_recv,
                )
            } else if !back.is_empty() && back.len() == message.len() {
                let at = back
                    .iter()
                    .zip(message)
                    .position(|(x, y)| x != y)
                    .unwrap_or(0);
                fail(
                    format!(
                        "{} bytes came back, but they differ from what was sent from byte {at} on: an echo server sends back exactly the bytes it received.",
                        back.len()
                    ),
                    sends.last().map(|(i, _)| *i),
                )
            } else if recvs.len() == 1 && closed.is_some() {
                fail(
                    format!(
                        "Only {} of its {} bytes came back: your server called recv() once and closed, so the rest got no echo. An echo server loops until recv() returns b''.",
                        back.len(),
                        message.len()
                    ),
                    closed.map(|(i, _)| i),
                )
            } else if recvs.len() == 1 {
                fail(
                    format!(
                        "Only {} of its {} bytes came back: your server called recv() once for this client and never again. An echo server loops (recv(), send it back) until recv() returns b''.",
                        back.len(),
                        message.len()
                    ),
                    last_recv,
                )
            } else if let Some((i, _)) =
                closed.filter(|(i, _)| Some(*i) < self.lab_client_done(conn))
            {
                fail(
                    format!(
                        "Only {} of its {} bytes came back: your server closed the connection before the client had finished. An echo server loops until recv() returns b''.",
                        back.len(),
                        message.len()
                    ),
                    Some(i),
                )
            } else {
                fail(
                    format!(
                        "Only {} of its {} bytes came back: send back every piece recv() returns (sendall(data)), and keep calling recv() until it returns b''.",
                        back.len(),
                        message.len()
                    ),
                    last_recv,
                )
            };
            checks.push(self.named(who, titles[k], &expected, verdict));
            offset = end;
        }
        checks
    }

    /// Where the lab's client said it will send no more (`shutdown()` or
    /// `close()`) on `conn`.
    fn lab_client_done(&self, conn: protocol::ConnId) -> Option<usize> {
        self.of(Who::LabClient)
            .into_iter()
            .find(|(_, e)| e.conn == Some(conn) && matches!(e.step, Step::Shutdown | Step::Close))
            .map(|(i, _)| i)
    }

    fn serves_until_client_closes(&self) -> Check {
        let who = Who::StudentServer;
        let expected = "The server keeps reading and echoing until the client closes (recv() returns b''), however many messages come.";
        let verdict = match self.accepted_conn() {
            None => fail("Your server accepted no client.".into(), None),
            Some(((a, _), conn)) => {
                let done = self.lab_client_done(conn);
                let closed = self
                    .of(who)
                    .into_iter()
                    .find(|(_, e)| e.conn == Some(conn) && matches!(e.step, Step::Close));
                let eof = self
                    .of(who)
                    .into_iter()
                    .find(|(_, e)| e.conn == Some(conn) && matches!(e.step, Step::RecvEof));
                let sends = self.bytes(Who::LabClient, conn, true).1;
                // Whole messages among the first `bytes` the client sent (a
                // large message may take several send events).
                let whole = |bytes: usize| {
                    let mut end = 0;
                    task3_messages()
                        .iter()
                        .take_while(|m| {
                            end += m.len();
                            end <= bytes
                        })
                        .count()
                };
                let sent_before = |c: usize| -> usize {
                    sends
                        .iter()
                        .filter(|(i, _)| *i < c)
                        .map(|(_, e)| e.step.data().map_or(0, |d| d.len()))
                        .sum()
                };
                let messages = whole(sent_before(usize::MAX));
                // The messages the client had sent when the server closed.
                let early = |c: usize| {
                    let before = whole(sent_before(c));
                    let messages = if before == 1 {
                        "1 message".to_string()
                    } else {
                        format!("{before} messages")
                    };
                    fail(
                        format!(
                            "Your server closed the connection after {messages}, before the client had finished: an echo server loops until recv() returns b''."
                        ),
                        Some(c),
                    )
                };
                match (closed, done, eof) {
                    (Some((c, _)), Some(d), _) if c < d => early(c),
                    (Some((c, _)), None, _) => early(c),
                    (_, Some(_), Some((e, _))) => pass(
                        format!(
                            "Your server served all {messages} messages and read on until recv() returned b'' (the client had closed)."
                        ),
                        Some(e),
                    ),
                    _ => fail(
                        "Your server stopped reading before the client closed: keep calling recv() in a loop until it returns b''.".into(),
                        Some(a),
                    ),
                }
            }
        };
        self.named(
            who,
            "Your server keeps serving until the client closes",
            expected,
            verdict,
        )
    }

    fn closes_after_eof(&self) -> Check {
        let who = Who::StudentServer;
        let expected = "When recv() returns b'', the client has closed: the server leaves its loop and closes the client's socket.";
        let verdict = match self.accepted_conn() {
            None => fail("Your server accepted no client.".into(), None),
            Some((_, conn)) => {
                let on_conn: Vec<Seen> = self
                    .of(who)
                    .into_iter()
                    .filter(|(_, e)| e.conn == Some(conn))
                    .collect();
                let eofs: Vec<usize> = on_conn
                    .iter()
                    .filter(|(_, e)| matches!(e.step, Step::RecvEof))
                    .map(|(i, _)| *i)
                    .collect();
                let close = on_conn.iter().find(|(i, e)| {
                    matches!(e.step, Step::Close)
                        && eofs.first().is_some_and(|f| i > f)
                        && self.closes_here(who, e)
                });
                match (eofs.first(), close) {
                    (None, _) => fail(
                        "Your server's recv() never returned b'' for this client: it stopped reading before the client closed.".into(),
                        on_conn.last().map(|(i, _)| *i),
                    ),
                    (Some(_), _) if eofs.len() > 1 => fail(
                        format!(
                            "Your server called recv() again after it returned b'' ({} times): b'' means the client has closed, so break out of the loop and close().",
                            eofs.len()
                        ),
                        eofs.get(1).copied(),
                    ),
                    (Some(_), Some((i, _))) => pass(
                        "recv() returned b'' and your server closed the client's socket.".into(),
                        Some(*i),
                    ),
                    (Some(&e), None) => fail(
                        "recv() returned b'' but your server never closed the client's socket: call clientsocket.close() after the loop.".into(),
                        Some(e),
                    ),
                }
            }
        };
        self.named(
            who,
            "Then your server closes the connection",
            expected,
            verdict,
        )
    }

    // ----- The student's client, with the lab's server -----

    fn connects(&self) -> Check {
        let who = Who::StudentClient;
        let expected = "connect((socket.gethostname(), 1234)) reaches the lab's server, listening on port 1234.";
        let connected = self.first(who, |s| matches!(s, Step::Connected { .. }));
        let verdict = match connected {
            Some((i, e)) => {
                let peer = match &e.step {
                    Step::Connected { peer, .. } => peer.as_str(),
                    _ => "",
                };
                pass(
                    format!("Your client connected to the lab's server at {peer}."),
                    Some(i),
                )
            }
            None => match self.no_start(who) {
                Some(why) => {
                    let refused = why.happened.contains("refused");
                    let mut why = why;
                    // The lab's server could not listen: not the student's
                    // fault (their own server still held port 1234?).
                    if let Some((_, e)) =
                        self.first(Who::LabServer, |s| matches!(s, Step::Error { .. }))
                    {
                        why.happened.push_str(&format!(
                            " The lab's server could not start ({}): run the check again.",
                            error_message(e)
                        ));
                    } else if refused {
                        why.happened.push_str(
                            " The lab's server listens on port 1234 of this machine: connect((socket.gethostname(), 1234)).",
                        );
                    }
                    why
                }
                None => fail(
                    "Your client never called connect().".into(),
                    self.of(who).last().map(|(i, _)| *i),
                ),
            },
        };
        self.named(who, "Your client connects to the server", expected, verdict)
    }

    fn receives_all(&self) -> Check {
        let who = Who::StudentClient;
        let whole: Vec<u8> = TASK2_PIECES.concat();
        let expected = format!(
            "The lab's server sends {} in two pieces, 0.2 s apart; the client reads until recv() returns b'' and has all of it.",
            shown(&whole)
        );
        let verdict = match self.client_conn() {
            None => self
                .no_start(who)
                .unwrap_or_else(|| fail("Your client never connected.".into(), None)),
            Some(conn) => {
                // The lab's whole message: a client that stops reading early
                // may not even let the lab's server send its second piece.
                let sent = whole;
                let (got, recvs) = self.bytes(who, conn, false);
                match recvs.last() {
                    None => fail(
                        "Your client never called recv(), so it received nothing.".into(),
                        self.of(who).last().map(|(i, _)| *i),
                    ),
                    Some((i, _)) if got == sent => pass(
                        format!(
                            "Your client received all {} bytes, in {} recv() call(s).",
                            got.len(),
                            recvs.len()
                        ),
                        Some(*i),
                    ),
                    Some((i, _)) if recvs.len() == 1 => {
                        let rest = sent.get(got.len()..).unwrap_or_default();
                        fail(
                            format!(
                                "Your client called recv() once and got {} ({} bytes): the rest, {}, came in a second piece it never read. TCP is a stream of bytes: call recv() until it returns b''.",
                                shown(&got),
                                got.len(),
                                shown(rest)
                            ),
                            Some(*i),
                        )
                    }
                    Some((i, _)) => fail(
                        format!(
                            "Your client received {} of the {} bytes sent: read until recv() returns b''.",
                            got.len(),
                            sent.len()
                        ),
                        Some(*i),
                    ),
                }
            }
        };
        self.named(
            who,
            "Your client receives all of the message",
            &expected,
            verdict,
        )
    }

    fn displays_message(&self) -> Check {
        let who = Who::StudentClient;
        let whole = String::from_utf8_lossy(&TASK2_PIECES.concat()).into_owned();
        let whole = whole.trim();
        let expected = format!("The client prints the message: {whole}");
        let printed = self.output(who);
        let print_event = self
            .of(who)
            .into_iter()
            .filter(|(_, e)| matches!(e.step, Step::Print { .. }))
            .map(|(i, _)| i)
            .next();
        let verdict = if printed.contains(whole) {
            pass(format!("Your client printed: {whole}"), print_event)
        } else if let Some(line) = printed.lines().find(|l| !l.trim().is_empty()) {
            fail(
                format!(
                    "Your client printed \"{}\", not the whole message: print everything received, after the last recv().",
                    line.trim()
                ),
                print_event,
            )
        } else {
            fail(
                "Your client printed nothing: print(msg.decode(\"utf-8\")) after receiving.".into(),
                self.of(who).last().map(|(i, _)| *i),
            )
        };
        self.named(who, "Your client displays the message", &expected, verdict)
    }

    fn gets_echo_back(&self) -> Check {
        let who = Who::StudentClient;
        let expected = "The client sends a message to the lab's echo server and reads until every byte it sent has come back.";
        let verdict = match self.client_conn() {
            None => self
                .no_start(who)
                .unwrap_or_else(|| fail("Your client never connected.".into(), None)),
            Some(conn) => {
                let (sent, sends) = self.bytes(who, conn, true);
                let (got, recvs) = self.bytes(who, conn, false);
                match (sends.first(), recvs.last()) {
                    (None, _) => fail(
                        "Your client sent nothing: send a message with s.send(text.encode(\"utf-8\")).".into(),
                        self.of(who).last().map(|(i, _)| *i),
                    ),
                    (Some((i, _)), None) => fail(
                        "Your client sent a message but never called recv() for the echo.".into(),
                        Some(*i),
                    ),
                    (Some(_), Some((i, _))) if got == sent => pass(
                        format!("All {} bytes your client sent came back.", sent.len()),
                        Some(*i),
                    ),
                    (Some(_), Some((i, _))) => fail(
                        format!(
                            "Your client sent {} bytes and read {} back: keep calling recv() until every byte has come back.",
                            sent.len(),
                            got.len()
                        ),
                        Some(*i),
                    ),
                }
            }
        };
        self.named(who, "Your client gets its message back", expected, verdict)
    }

    fn displays_echo(&self) -> Check {
        let who = Who::StudentClient;
        let expected = "The client prints the echo it received.";
        let echo = self
            .client_conn()
            .map(|conn| self.bytes(who, conn, false).0)
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&echo);
        let first = text.lines().find(|l| !l.trim().is_empty()).map(str::trim);
        let print_event = self
            .of(who)
            .into_iter()
            .find(|(_, e)| matches!(e.step, Step::Print { .. }))
            .map(|(i, _)| i);
        let output = self.output(who);
        let verdict = match first {
            None => fail(
                "Nothing came back to your client, so there was nothing to print.".into(),
                None,
            ),
            Some(line) if output.contains(line) => {
                pass(format!("Your client printed the echo: {line}"), print_event)
            }
            Some(line) => fail(
                format!(
                    "The echo \"{line}\" came back but your client did not print it: print(data.decode(\"utf-8\"))."
                ),
                self.of(who).last().map(|(i, _)| *i),
            ),
        };
        self.named(who, "Your client displays the echo", expected, verdict)
    }
}

/// The operating system's words in an error event.
fn error_message(event: &TraceEvent) -> &str {
    match &event.step {
        Step::Error { message, .. } => message,
        _ => "",
    }
}

/// The last line of a Python traceback in a program's output, if any.
fn traceback_line(output: &str) -> Option<&str> {
    if !output.contains("Traceback (most recent call last)") && !output.contains("Error:") {
        return None;
    }
    output
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.contains("Error") || l.contains("Exception") || l.contains("Interrupt"))
}

/// Bytes as a student reads them: quoted text, or a count for other bytes.
fn shown(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.chars().count() <= 60 => format!("{text:?}"),
        _ => format!("{} bytes", bytes.len()),
    }
}

#[cfg(test)]
mod tests;
