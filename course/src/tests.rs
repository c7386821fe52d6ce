//! Every check against a correct program and the typical wrong ones.
//!
//! The traces here are built the way the bridge traces a student's
//! program (each event on the program's lane, with its file and line; a
//! student's program and the lab's share one connection id). The same
//! checks run on traces of real runs in `tests/tests/checks.rs`.

use super::*;
use protocol::{Bytes, Call, ConnId, ErrorKind, Source};

/// The connection of the student's server with the lab's client.
const TO_SERVER: ConnId = 1;
/// The connection of the student's client with the lab's server.
const TO_CLIENT: ConnId = 2;

/// A trace, event by event, as the bridge would send it.
#[derive(Default)]
struct Trace(Vec<TraceEvent>);

impl Trace {
    fn push(&mut self, who: Who, line: u32, conn: Option<ConnId>, step: Step) -> &mut Self {
        let program = match who {
            Who::StudentServer => 1,
            Who::LabClient => 2,
            Who::LabServer => 3,
            Who::StudentClient => 4,
        };
        self.0.push(TraceEvent {
            at_us: self.0.len() as u64 * 100,
            lane: who.lane(),
            server: None,
            conn,
            server_conn: None,
            source: Some(Source {
                program,
                file: who.file().to_string(),
                line,
            }),
            step,
        });
        self
    }

    /// `socket()`, `bind()`, `listen()` of a server at these lines.
    fn listens(&mut self, who: Who, lines: [u32; 3]) -> &mut Self {
        self.push(
            who,
            lines[0],
            None,
            Step::Socket {
                family: protocol::Family::Ipv4,
                transport: protocol::Transport::Tcp,
            },
        )
        .push(
            who,
            lines[1],
            None,
            Step::Bind {
                addr: "127.0.0.1:40211".into(),
                asked: Some("127.0.0.1:1234".into()),
            },
        )
        .push(who, lines[2], None, Step::Listen { backlog: 5 })
    }

    fn accept(&mut self, who: Who, line: u32, conn: ConnId) -> &mut Self {
        self.push(
            who,
            line,
            Some(conn),
            Step::Accept {
                peer: "127.0.0.1:50312".into(),
                local: "127.0.0.1:40211".into(),
            },
        )
    }

    fn connect(&mut self, who: Who, line: u32, conn: ConnId) -> &mut Self {
        self.push(
            who,
            line,
            Some(conn),
            Step::Connect {
                target: "127.0.0.1:1234".into(),
            },
        )
        .push(
            who,
            line,
            Some(conn),
            Step::Connected {
                local: "127.0.0.1:50312".into(),
                peer: "127.0.0.1:40211".into(),
            },
        )
    }

    fn send(&mut self, who: Who, line: u32, conn: ConnId, data: &[u8]) -> &mut Self {
        self.push(
            who,
            line,
            Some(conn),
            Step::Send {
                data: Bytes(data.to_vec()),
            },
        )
    }

    fn recv(&mut self, who: Who, line: u32, conn: ConnId, data: &[u8]) -> &mut Self {
        let step = if data.is_empty() {
            Step::RecvEof
        } else {
            Step::Recv {
                data: Bytes(data.to_vec()),
            }
        };
        self.push(who, line, Some(conn), step)
    }

    fn print(&mut self, who: Who, line: u32, text: &str) -> &mut Self {
        self.push(who, line, None, Step::Print { text: text.into() })
    }

    fn error(
        &mut self,
        who: Who,
        line: u32,
        call: Call,
        kind: ErrorKind,
        message: &str,
    ) -> &mut Self {
        self.push(
            who,
            line,
            None,
            Step::Error {
                kind,
                message: message.into(),
                failed: Some(call),
            },
        )
    }
}

fn run(task: u8, trace: &Trace, student: Student) -> Vec<Check> {
    check(task, &trace.0, &student)
}

fn find<'a>(checks: &'a [Check], title: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.title == title)
        .unwrap_or_else(|| panic!("no check {title:?} in {checks:#?}"))
}

fn assert_all_pass(checks: &[Check]) {
    for check in checks {
        assert!(check.passed, "{}", check.sentence());
        assert!(
            check.event.is_some(),
            "a pass points at its event: {check:?}"
        );
    }
}

const TASK1_SERVER: &str = "import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)
while True:
    clientsocket, address = s.accept()
    print(f\"Connection from {address} has been established.\")
";

const TASK1_CLIENT: &str = "import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
";

/// Task 1 done right: the handout's own programs.
fn task1(server_prints: bool, client_connects: bool) -> Trace {
    let mut t = Trace::default();
    t.listens(Who::StudentServer, [2, 3, 4]);
    t.connect(Who::LabClient, 17, TO_SERVER);
    t.accept(Who::StudentServer, 6, TO_SERVER);
    if server_prints {
        t.print(
            Who::StudentServer,
            7,
            "Connection from ('127.0.0.1', 50312) has been established.",
        );
    }
    t.push(Who::LabClient, 21, Some(TO_SERVER), Step::Close);
    t.listens(Who::LabServer, [16, 18, 20]);
    if client_connects {
        t.accept(Who::LabServer, 27, TO_CLIENT);
        t.connect(Who::StudentClient, 3, TO_CLIENT);
    }
    t
}

/// Task 1's handout programs pass every check, each pointing at the
/// student's line.
#[test]
fn task1_handout_programs_pass() {
    let trace = task1(true, true);
    let student = Student {
        server_py: TASK1_SERVER,
        client_py: TASK1_CLIENT,
        server_output: "Connection from ('127.0.0.1', 50312) has been established.\n",
        client_output: "",
    };
    let checks = run(1, &trace, student);
    assert_eq!(checks.len(), 3);
    assert_all_pass(&checks);
    let accepts = find(&checks, "Your server accepts a client");
    assert_eq!((accepts.side, accepts.line), (Lane::Server, Some(6)));
    let connects = find(&checks, "Your client connects to the server");
    assert_eq!((connects.side, connects.line), (Lane::Client, Some(3)));
    assert_eq!(
        find(&checks, "Your server prints the connection line").line,
        Some(7)
    );
}

/// A server that accepts but prints nothing fails the print check, saying
/// what to print and pointing at accept().
#[test]
fn task1_server_that_prints_nothing() {
    let trace = task1(false, true);
    let checks = run(1, &trace, Student::default());
    let printed = find(&checks, "Your server prints the connection line");
    assert!(!printed.passed);
    assert!(
        printed.happened.contains("it printed nothing"),
        "{printed:?}"
    );
    assert_eq!(printed.line, Some(6));
    assert!(find(&checks, "Your server accepts a client").passed);
}

/// A server that listens but never accepts: the check says so, at listen().
#[test]
fn task1_server_without_accept() {
    let mut t = Trace::default();
    t.listens(Who::StudentServer, [2, 3, 4]);
    t.connect(Who::LabClient, 17, TO_SERVER);
    let checks = run(1, &t, Student::default());
    let accepts = find(&checks, "Your server accepts a client");
    assert!(!accepts.passed);
    assert!(accepts.happened.contains("never called accept()"));
    assert_eq!(accepts.line, Some(4));
}

/// A server whose bind() failed, and a client refused: each failure gives
/// the operating system's words and the student's line.
#[test]
fn task1_errors_name_the_call_and_line() {
    let mut t = Trace::default();
    t.error(
        Who::StudentServer,
        3,
        Call::Bind,
        ErrorKind::AddrInUse,
        "[Errno 98] Address already in use",
    );
    t.listens(Who::LabServer, [16, 18, 20]);
    t.error(
        Who::StudentClient,
        3,
        Call::Connect,
        ErrorKind::ConnectionRefused,
        "[Errno 111] Connection refused",
    );
    let checks = run(1, &t, Student::default());
    let accepts = find(&checks, "Your server accepts a client");
    assert!(!accepts.passed);
    assert!(
        accepts.happened.contains("bind() failed: [Errno 98]"),
        "{accepts:?}"
    );
    assert_eq!(accepts.line, Some(3));
    let connects = find(&checks, "Your client connects to the server");
    assert!(!connects.passed);
    assert!(connects.happened.contains("Connection refused"));
    assert!(connects.happened.contains("port 1234"));
}

/// A program that crashed before any socket call: the traceback's last
/// line is the reason.
#[test]
fn a_program_that_never_ran_its_sockets() {
    let checks = run(
        1,
        &Trace::default(),
        Student {
            client_output: "Traceback (most recent call last):\n  File \"client.py\", line 1\nNameError: name 'sockt' is not defined\n",
            ..Student::default()
        },
    );
    assert!(checks.iter().all(|c| !c.passed));
    let connects = find(&checks, "Your client connects to the server");
    assert!(connects.happened.contains("NameError"), "{connects:?}");
    let accepts = find(&checks, "Your server accepts a client");
    assert!(accepts.happened.contains("made no socket call"));
}

const TASK2_SERVER: &str = "import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)
while True:
    clientsocket, address = s.accept()
    print(f\"Connection from {address} has been established.\")
    clientsocket.send(bytes(\"Welcome!\", \"utf-8\"))
    clientsocket.close()
";

/// Task 2's server half: the student's server greets the lab's client.
fn task2_server(closes: bool) -> Trace {
    let mut t = Trace::default();
    t.listens(Who::StudentServer, [2, 3, 4]);
    t.connect(Who::LabClient, 15, TO_SERVER);
    t.accept(Who::StudentServer, 6, TO_SERVER);
    t.send(Who::StudentServer, 8, TO_SERVER, b"Welcome!");
    t.recv(Who::LabClient, 22, TO_SERVER, b"Welcome!");
    if closes {
        t.push(Who::StudentServer, 9, Some(TO_SERVER), Step::Close);
        t.recv(Who::LabClient, 22, TO_SERVER, b"");
    }
    t
}

/// Task 2's client half: the lab's server sends two pieces; the student's
/// client reads them with these `recv()`s (a line each).
fn task2_client(t: &mut Trace, reads: &[&[u8]]) {
    t.listens(Who::LabServer, [16, 18, 20]);
    t.accept(Who::LabServer, 24, TO_CLIENT);
    t.connect(Who::StudentClient, 3, TO_CLIENT);
    t.send(Who::LabServer, 34, TO_CLIENT, TASK2_PIECES[0]);
    t.send(Who::LabServer, 36, TO_CLIENT, TASK2_PIECES[1]);
    for read in reads {
        t.recv(Who::StudentClient, 6, TO_CLIENT, read);
    }
}

const TASK2_CLIENT: &str = "import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
msg = b''
while True:
    chunk = s.recv(1024)
    if not chunk:
        break
    msg += chunk
print(msg.decode('utf-8'))
";

/// Task 2 done right: the server sends and closes; the client reads both
/// pieces until b'' and prints the whole message.
#[test]
fn task2_right_programs_pass() {
    let mut t = task2_server(true);
    task2_client(&mut t, &[TASK2_PIECES[0], TASK2_PIECES[1], b""]);
    t.print(Who::StudentClient, 10, "Thank you for connecting");
    let checks = run(
        2,
        &t,
        Student {
            server_py: TASK2_SERVER,
            client_py: TASK2_CLIENT,
            server_output: "Connection from ('127.0.0.1', 50312) has been established.\n",
            client_output: "Thank you for connecting\n\n",
        },
    );
    assert_eq!(checks.len(), 6);
    assert_all_pass(&checks);
    assert_eq!(
        find(&checks, "Your server sends a message to the client").line,
        Some(8)
    );
    assert_eq!(
        find(&checks, "Your server closes the connection after sending").line,
        Some(9)
    );
}

/// A client that calls recv() once shows only the first piece: the check
/// says what it got, what it missed and what to do.
#[test]
fn task2_client_printing_only_the_first_piece() {
    let mut t = task2_server(true);
    task2_client(&mut t, &[TASK2_PIECES[0]]);
    t.print(Who::StudentClient, 7, "Thank you ");
    let checks = run(
        2,
        &t,
        Student {
            server_py: TASK2_SERVER,
            client_output: "Thank you \n",
            ..Student::default()
        },
    );
    let all = find(&checks, "Your client receives all of the message");
    assert!(!all.passed);
    assert!(
        all.happened.starts_with(
            "Your client called recv() once and got \"Thank you \" (10 bytes): the rest, \"for connecting\\n\", came in a second piece it never read."
        ),
        "{all:?}"
    );
    assert_eq!(all.line, Some(6));
    let shown = find(&checks, "Your client displays the message");
    assert!(!shown.passed);
    assert!(
        shown
            .happened
            .contains("\"Thank you\", not the whole message")
    );
    assert!(find(&checks, "Your client connects to the server").passed);
}

/// A server that sends on the listening socket before accept(): the
/// failure names the mistake and the line.
#[test]
fn task2_server_sending_before_accept() {
    let mut t = Trace::default();
    t.listens(Who::StudentServer, [2, 3, 4]);
    t.error(
        Who::StudentServer,
        5,
        Call::Send,
        ErrorKind::Other,
        "[Errno 107] Transport endpoint is not connected",
    );
    let checks = run(2, &t, Student::default());
    let sends = find(&checks, "Your server sends a message to the client");
    assert!(!sends.passed);
    assert!(
        sends
            .happened
            .starts_with("Your server called send() before accept() ([Errno 107]"),
        "{sends:?}"
    );
    assert_eq!(sends.line, Some(5));
}

/// A server that sends but never closes leaves the client waiting for
/// b'': the close check fails (at accept()), the send check passes.
#[test]
fn task2_server_that_never_closes() {
    let t = task2_server(false);
    let checks = run(
        2,
        &t,
        Student {
            server_py: TASK2_SERVER,
            ..Student::default()
        },
    );
    assert!(find(&checks, "Your server sends a message to the client").passed);
    let closes = find(&checks, "Your server closes the connection after sending");
    assert!(!closes.passed);
    assert!(closes.happened.contains("never closed"));
    assert_eq!(closes.line, Some(6));
}

/// A close the bridge made when the program was stopped (it carries the
/// line of the program's latest call, not a close()) is not the student's.
#[test]
fn a_close_at_the_end_of_the_program_is_not_the_students() {
    let mut t = task2_server(false);
    t.push(Who::StudentServer, 6, Some(TO_SERVER), Step::Close);
    let checks = run(
        2,
        &t,
        Student {
            server_py: TASK2_SERVER,
            ..Student::default()
        },
    );
    assert!(!find(&checks, "Your server closes the connection after sending").passed);
}

const ECHO_SERVER: &str = "import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)
while True:
    clientsocket, address = s.accept()
    while True:
        data = clientsocket.recv(1024)
        if not data:
            break
        clientsocket.send(data)
    clientsocket.close()
";

/// How a student's echo server behaves, for the lab's client's messages.
#[derive(Clone, Copy, PartialEq)]
enum Echo {
    /// Loops until b'', then closes.
    Right,
    /// One recv(), one send(), then close(): no loop.
    OnceThenClose,
    /// One recv(), one send(), back to accept() without closing.
    OnceNoClose,
    /// Loops, but closes after the first message (a `break` too early).
    ClosesEarly,
    /// Loops on recv() after b'' without breaking.
    NeverBreaks,
}

/// The server half of Task 3: the lab's client sends its three messages,
/// one at a time, waiting for each whole echo; the student's server reads
/// with recv(1024) as `echo` says.
fn task3_server(echo: Echo) -> Trace {
    let mut t = Trace::default();
    t.listens(Who::StudentServer, [2, 3, 4]);
    t.connect(Who::LabClient, 25, TO_SERVER);
    t.accept(Who::StudentServer, 6, TO_SERVER);
    let mut recvs = 0;
    let mut open = true;
    'messages: for message in task3_messages() {
        t.send(Who::LabClient, 29, TO_SERVER, &message);
        let mut back = 0;
        for chunk in message.chunks(1024) {
            if !open || (recvs == 1 && matches!(echo, Echo::OnceThenClose | Echo::OnceNoClose)) {
                break;
            }
            recvs += 1;
            t.recv(Who::StudentServer, 8, TO_SERVER, chunk);
            t.send(Who::StudentServer, 11, TO_SERVER, chunk);
            t.recv(Who::LabClient, 34, TO_SERVER, chunk);
            back += chunk.len();
            if matches!(echo, Echo::OnceThenClose | Echo::ClosesEarly) && back == message.len()
                || echo == Echo::OnceThenClose
            {
                t.push(Who::StudentServer, 12, Some(TO_SERVER), Step::Close);
                t.recv(Who::LabClient, 34, TO_SERVER, b"");
                open = false;
            }
        }
        if back < message.len() {
            // The lab's client prints that it was not an echo and stops.
            break 'messages;
        }
    }
    t.push(Who::LabClient, 49, Some(TO_SERVER), Step::Shutdown);
    // Without a loop the server is back in accept(): it reads no more.
    if open && echo != Echo::OnceNoClose {
        t.recv(Who::StudentServer, 8, TO_SERVER, b"");
        if echo == Echo::NeverBreaks {
            t.recv(Who::StudentServer, 8, TO_SERVER, b"");
            t.recv(Who::StudentServer, 8, TO_SERVER, b"");
        } else {
            t.push(Who::StudentServer, 12, Some(TO_SERVER), Step::Close);
        }
    }
    t.push(Who::LabClient, 51, Some(TO_SERVER), Step::Close);
    t
}

const ECHO_CLIENT: &str = "import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
s.send(b'hello')
data = s.recv(1024)
print('Echo:', data.decode())
s.close()
";

/// The client half of Task 3: the student's client sends "hello" to the
/// lab's echo server and reads the echo in `pieces`.
fn task3_client(t: &mut Trace, pieces: &[&[u8]], prints: Option<&str>) {
    t.listens(Who::LabServer, [16, 18, 20]);
    t.accept(Who::LabServer, 25, TO_CLIENT);
    t.connect(Who::StudentClient, 3, TO_CLIENT);
    t.send(Who::StudentClient, 4, TO_CLIENT, b"hello");
    t.recv(Who::LabServer, 30, TO_CLIENT, b"hello");
    t.send(Who::LabServer, 33, TO_CLIENT, b"hello");
    for piece in pieces {
        t.recv(Who::StudentClient, 5, TO_CLIENT, piece);
    }
    if let Some(text) = prints {
        t.print(Who::StudentClient, 6, text);
    }
    t.push(Who::StudentClient, 7, Some(TO_CLIENT), Step::Close);
}

fn task3_student(client_output: &str) -> Student<'_> {
    Student {
        server_py: ECHO_SERVER,
        client_py: ECHO_CLIENT,
        server_output: "",
        client_output,
    }
}

/// Task 3 done right: every message (text, binary, larger than a recv())
/// comes back whole, the server reads until b'' and then closes; the
/// client gets its echo and prints it.
#[test]
fn task3_right_programs_pass() {
    let mut t = task3_server(Echo::Right);
    task3_client(&mut t, &[b"hello"], Some("Echo: hello"));
    let checks = run(3, &t, task3_student("Echo: hello\n"));
    assert_eq!(checks.len(), 9);
    assert_all_pass(&checks);
    let big = find(
        &checks,
        "Your server echoes a message larger than one recv()",
    );
    assert_eq!(
        big.happened,
        "All 20480 bytes came back; your server read them in 20 recv() calls."
    );
    assert_eq!(
        find(&checks, "Your server echoes a line of text").happened,
        "All 20 bytes came back; your server read them in 1 recv() call."
    );
    assert!(
        find(&checks, "Your server keeps serving until the client closes")
            .happened
            .starts_with("Your server served all 3 messages")
    );
    assert_eq!(
        find(&checks, "Then your server closes the connection").line,
        Some(12)
    );
}

/// The issue's own example: a server that calls recv() once and closes.
#[test]
fn task3_server_with_one_recv_then_close() {
    let t = task3_server(Echo::OnceThenClose);
    let checks = run(3, &t, task3_student(""));
    assert!(find(&checks, "Your server echoes a line of text").passed);
    let binary = find(
        &checks,
        "Your server echoes bytes that are not text, unchanged",
    );
    assert!(!binary.passed);
    assert!(
        binary
            .happened
            .contains("your server called recv() once and closed, so the rest got no echo. An echo server loops until recv() returns b''."),
        "{binary:?}"
    );
    assert_eq!(binary.line, Some(12));
    let big = find(
        &checks,
        "Your server echoes a message larger than one recv()",
    );
    assert!(big.happened.starts_with("Not sent"), "{big:?}");
    let serves = find(&checks, "Your server keeps serving until the client closes");
    assert!(!serves.passed);
    assert!(serves.happened.contains("before the client had finished"));
}

/// No loop, no close: one recv() and back to accept(); the next message
/// gets no echo and the failure says the server never read again.
#[test]
fn task3_server_without_a_loop() {
    let t = task3_server(Echo::OnceNoClose);
    let checks = run(3, &t, task3_student(""));
    let binary = find(
        &checks,
        "Your server echoes bytes that are not text, unchanged",
    );
    assert!(!binary.passed);
    assert!(
        binary
            .happened
            .contains("called recv() once for this client and never again")
    );
    assert_eq!(binary.line, Some(8));
    let closes = find(&checks, "Then your server closes the connection");
    assert!(!closes.passed);
}

/// A loop that closes after the first message: closing too early.
#[test]
fn task3_server_closing_too_early() {
    let t = task3_server(Echo::ClosesEarly);
    let checks = run(3, &t, task3_student(""));
    assert!(find(&checks, "Your server echoes a line of text").passed);
    let serves = find(&checks, "Your server keeps serving until the client closes");
    assert!(!serves.passed);
    assert_eq!(
        serves.happened,
        "Your server closed the connection after 1 message, before the client had finished: an echo server loops until recv() returns b''."
    );
    assert_eq!(serves.line, Some(12));
}

/// A loop that never breaks on b'' spins on recv(): the failure says
/// what b'' means.
#[test]
fn task3_server_that_never_breaks() {
    let t = task3_server(Echo::NeverBreaks);
    let checks = run(3, &t, task3_student(""));
    assert!(find(&checks, "Your server keeps serving until the client closes").passed);
    let closes = find(&checks, "Then your server closes the connection");
    assert!(!closes.passed);
    assert!(
        closes
            .happened
            .contains("recv() again after it returned b'' (3 times)")
    );
}

/// A server that decodes the bytes as text fails on the binary message,
/// and the check says why.
#[test]
fn task3_server_that_decodes() {
    let mut t = Trace::default();
    t.listens(Who::StudentServer, [2, 3, 4]);
    t.connect(Who::LabClient, 25, TO_SERVER);
    t.accept(Who::StudentServer, 6, TO_SERVER);
    let [text, binary, _] = task3_messages();
    t.send(Who::LabClient, 29, TO_SERVER, &text);
    t.recv(Who::StudentServer, 8, TO_SERVER, &text);
    t.send(Who::StudentServer, 11, TO_SERVER, &text);
    t.recv(Who::LabClient, 34, TO_SERVER, &text);
    t.send(Who::LabClient, 29, TO_SERVER, &binary);
    t.recv(Who::StudentServer, 8, TO_SERVER, &binary);
    t.push(Who::StudentServer, 8, Some(TO_SERVER), Step::Close);
    let checks = run(
        3,
        &t,
        Student {
            server_output: "Traceback (most recent call last):\nUnicodeDecodeError: 'utf-8' codec can't decode byte 0x80\n",
            ..task3_student("")
        },
    );
    let binary = find(
        &checks,
        "Your server echoes bytes that are not text, unchanged",
    );
    assert!(!binary.passed);
    assert!(binary.happened.contains("UnicodeDecodeError"));
}

/// A client that reads the echo partly, and one that prints nothing.
#[test]
fn task3_client_mistakes() {
    let mut t = task3_server(Echo::Right);
    task3_client(&mut t, &[b"hel"], None);
    let checks = run(3, &t, task3_student(""));
    let back = find(&checks, "Your client gets its message back");
    assert!(!back.passed);
    assert!(back.happened.contains("sent 5 bytes and read 3 back"));
    assert_eq!(back.line, Some(5));
    let shown = find(&checks, "Your client displays the echo");
    assert!(!shown.passed);
    assert!(shown.happened.contains("did not print it"));
}

/// Sentences read as one line, pass or fail; an unknown task has none.
#[test]
fn sentences_and_unknown_tasks() {
    let trace = task1(true, false);
    let checks = run(1, &trace, Student::default());
    let connects = find(&checks, "Your client connects to the server");
    assert!(
        connects.sentence().starts_with(
            "Failed: Your client connects to the server. Your client.py made no socket call"
        ),
        "{}",
        connects.sentence()
    );
    assert_eq!(connects.file(), "client.py");
    assert!(check(4, &trace.0, &Student::default()).is_empty());
}

/// A client that reads once and ends at once may close before the lab's
/// server sends its second piece (that send then fails): it still got
/// only the first piece, and is told so.
#[test]
fn task2_client_gone_before_the_second_piece() {
    let mut t = task2_server(true);
    t.listens(Who::LabServer, [16, 18, 20]);
    t.accept(Who::LabServer, 24, TO_CLIENT);
    t.connect(Who::StudentClient, 3, TO_CLIENT);
    t.send(Who::LabServer, 34, TO_CLIENT, TASK2_PIECES[0]);
    t.recv(Who::StudentClient, 5, TO_CLIENT, TASK2_PIECES[0]);
    t.push(Who::StudentClient, 5, Some(TO_CLIENT), Step::Close);
    t.error(
        Who::LabServer,
        36,
        Call::Send,
        ErrorKind::BrokenPipe,
        "[Errno 32] Broken pipe",
    );
    let checks = run(2, &t, Student::default());
    let all = find(&checks, "Your client receives all of the message");
    assert!(!all.passed);
    assert!(
        all.happened.contains("the rest, \"for connecting\\n\""),
        "{all:?}"
    );
}
