//! "Check my task"'s checks (the `course` crate) on traces of real runs:
//! a real bridge on port 0, a student's programs and the lab's own
//! programs speaking the page's program protocol over `/ws` (the calls the
//! page's Python would send for them, line by line), real sockets behind
//! them; then `course::check` on the trace the bridge sent.

use course::{Check, LAB_CLIENT, LAB_SERVER, STUDENT_CLIENT, STUDENT_SERVER, Student};
use e2e::page::{Page, start};
use e2e::watch::Instructor;
use protocol::program::HOSTNAME;
use protocol::{
    Bytes, CheckStatus, ClientMsg, Family, Lane, Mode, ServerMsg, SockId, SockOp, SockResult,
    SockValue, TraceEvent, Transport,
};

const STUDENT_SERVER_ID: u32 = 1;
const LAB_CLIENT_ID: u32 = 2;
const LAB_SERVER_ID: u32 = 3;
const STUDENT_CLIENT_ID: u32 = 4;

fn sock_of(value: SockValue) -> SockId {
    match value {
        SockValue::Socket { sock } => sock,
        other => panic!("expected a socket, got {other:?}"),
    }
}

fn data_of(result: SockResult) -> Vec<u8> {
    match result {
        SockResult::Ok(SockValue::Data { data }) => data.0,
        // A reset reads as the end, as the lab's client treats it.
        _ => Vec::new(),
    }
}

fn sendall(sock: SockId, data: &[u8]) -> SockOp {
    SockOp::Send {
        sock,
        data: Bytes(data.to_vec()),
        all: true,
    }
}

fn recv(sock: SockId) -> SockOp {
    SockOp::Recv { sock, max: 1024 }
}

/// A server's `socket()`, `bind()` to the session's port 1234 and
/// `listen(5)` on lines 4, 5 and 6; then `accept()` sent (line 8), waiting.
async fn listen_and_accept(page: &mut Page, program: u32, file: &str) -> (SockId, u64) {
    page.program_start(program, Lane::Server, file).await;
    let tcp = SockOp::Socket {
        family: Family::Ipv4,
        transport: Transport::Tcp,
    };
    let s = sock_of(page.sock_ok(program, tcp, 4).await);
    let bind = SockOp::Bind {
        sock: s,
        host: HOSTNAME.into(),
        port: 1234,
    };
    page.sock_ok(program, bind, 5).await;
    let listen = SockOp::Listen {
        sock: s,
        backlog: 5,
    };
    page.sock_ok(program, listen, 6).await;
    let accept = page
        .sock_send(program, SockOp::Accept { sock: s }, 8, None)
        .await;
    (s, accept)
}

/// A client's `socket()` (line 3) and `connect()` to port 1234 (line 4).
async fn connect(page: &mut Page, program: u32, file: &str) -> SockId {
    page.program_start(program, Lane::Client, file).await;
    let tcp = SockOp::Socket {
        family: Family::Ipv4,
        transport: Transport::Tcp,
    };
    let c = sock_of(page.sock_ok(program, tcp, 3).await);
    let connect = SockOp::Connect {
        sock: c,
        host: HOSTNAME.into(),
        port: 1234,
    };
    page.sock_ok(program, connect, 4).await;
    c
}

async fn accepted(page: &mut Page, program: u32, call: u64) -> SockId {
    match page.sock_reply(program, call).await {
        SockResult::Ok(SockValue::Accepted { sock, .. }) => sock,
        other => panic!("expected accepted, got {other:?}"),
    }
}

async fn print(page: &mut Page, program: u32, line: u32, text: &str) {
    page.say(ClientMsg::ProgramPrint {
        program,
        text: text.into(),
        line: Some(line),
    })
    .await;
}

/// Ends the client half's programs, then the trace as the page got it, and what each
/// student program printed (its `print` steps).
async fn finish(page: &mut Page) -> (Vec<TraceEvent>, String, String) {
    for program in [LAB_SERVER_ID, STUDENT_CLIENT_ID] {
        page.program_end(program).await;
    }
    let events: Vec<TraceEvent> = page
        .seen
        .iter()
        .filter_map(|msg| match msg {
            ServerMsg::Trace(event) => Some(event.clone()),
            _ => None,
        })
        .collect();
    let printed = |file: &str| {
        events
            .iter()
            .filter(|e| e.source.as_ref().is_some_and(|s| s.file == file))
            .filter_map(|e| match &e.step {
                protocol::Step::Print { text } => Some(format!("{text}\n")),
                _ => None,
            })
            .collect::<String>()
    };
    let (server, client) = (printed(STUDENT_SERVER), printed(STUDENT_CLIENT));
    (events, server, client)
}

fn find<'a>(checks: &'a [Check], title: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.title == title)
        .unwrap_or_else(|| panic!("no check {title:?} in {checks:#?}"))
}

/// The right echo server, line by line (lines as the driver below says).
const ECHO_SERVER: &str = "import socket

Port = 1234
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), Port))
s.listen(5)
while True:
    clientsocket, address = s.accept()
    while True:
        data = clientsocket.recv(1024)
        if not data:
            break
        clientsocket.sendall(data)
    clientsocket.close()
";

/// An echo server without its loop: one recv(), one send, close.
const ONE_RECV_SERVER: &str = "import socket

Port = 1234
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), Port))
s.listen(5)
while True:
    clientsocket, address = s.accept()
    data = clientsocket.recv(1024)
    clientsocket.sendall(data)
    clientsocket.close()
";

const ECHO_CLIENT: &str = "import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
s.sendall(b'hello')
data = s.recv(1024)
print('Echo:', data.decode())
s.close()
";

/// Task 3's server half: the student's echo server (looping, or with one
/// recv()) against the lab's client, which sends its three messages as
/// `lab/task3/client.py` does, waiting for each whole echo.
async fn task3_server_half(page: &mut Page, loops: bool) {
    let (_, accept) = listen_and_accept(page, STUDENT_SERVER_ID, STUDENT_SERVER).await;
    let lab = connect(page, LAB_CLIENT_ID, LAB_CLIENT).await;
    let conn = accepted(page, STUDENT_SERVER_ID, accept).await;
    let mut open = true;
    for message in course::task3_messages() {
        page.sock(LAB_CLIENT_ID, sendall(lab, &message), 29).await;
        // The student's server: what it would do with these bytes.
        let mut echoed = 0;
        while open && echoed < message.len() {
            let data = data_of(page.sock(STUDENT_SERVER_ID, recv(conn), 10).await);
            page.sock_ok(STUDENT_SERVER_ID, sendall(conn, &data), 13)
                .await;
            echoed += data.len();
            if !loops {
                page.sock_ok(STUDENT_SERVER_ID, SockOp::Close { sock: conn }, 11)
                    .await;
                open = false;
            }
        }
        // The lab's client reads until the whole message came back.
        let mut echo = Vec::new();
        while echo.len() < message.len() {
            let chunk = data_of(page.sock(LAB_CLIENT_ID, recv(lab), 34).await);
            if chunk.is_empty() {
                break;
            }
            echo.extend(chunk);
        }
        if echo != message {
            break;
        }
    }
    let shutdown = SockOp::Shutdown {
        sock: lab,
        how: protocol::program::Shut::Write,
    };
    page.sock(LAB_CLIENT_ID, shutdown, 49).await;
    if open {
        let eof = data_of(page.sock(STUDENT_SERVER_ID, recv(conn), 10).await);
        assert!(eof.is_empty(), "b'' after the client's shutdown");
        page.sock_ok(STUDENT_SERVER_ID, SockOp::Close { sock: conn }, 14)
            .await;
    }
    page.sock(LAB_CLIENT_ID, SockOp::Close { sock: lab }, 51)
        .await;
    // The page stops both before the client half: the lab's server needs
    // the session's port 1234.
    page.program_end(STUDENT_SERVER_ID).await;
    page.program_end(LAB_CLIENT_ID).await;
}

/// Task 3's client half: the lab's echo server, the student's client
/// sending "hello" and printing the echo.
async fn task3_client_half(page: &mut Page) {
    let (_, accept) = listen_and_accept(page, LAB_SERVER_ID, LAB_SERVER).await;
    let c = connect(page, STUDENT_CLIENT_ID, STUDENT_CLIENT).await;
    let conn = accepted(page, LAB_SERVER_ID, accept).await;
    page.sock_ok(STUDENT_CLIENT_ID, sendall(c, b"hello"), 5)
        .await;
    let data = data_of(page.sock(LAB_SERVER_ID, recv(conn), 30).await);
    page.sock_ok(LAB_SERVER_ID, sendall(conn, &data), 33).await;
    let echo = data_of(page.sock(STUDENT_CLIENT_ID, recv(c), 6).await);
    let text = format!("Echo: {}", String::from_utf8_lossy(&echo));
    print(page, STUDENT_CLIENT_ID, 7, &text).await;
    page.sock_ok(STUDENT_CLIENT_ID, SockOp::Close { sock: c }, 8)
        .await;
}

/// A right echo server and client pass every one of Task 3's checks on a
/// real run: text, binary and 20,480 bytes all come back through real
/// sockets, and each check points at the student's line.
#[tokio::test]
async fn task3_right_programs_pass_on_real_sockets() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    task3_server_half(&mut page, true).await;
    task3_client_half(&mut page).await;
    let (events, server_output, client_output) = finish(&mut page).await;
    let checks = course::check(
        3,
        &events,
        &Student {
            server_py: ECHO_SERVER,
            client_py: ECHO_CLIENT,
            server_output: &server_output,
            client_output: &client_output,
        },
    );
    for check in &checks {
        assert!(check.passed, "{}", check.sentence());
    }
    assert_eq!(checks.len(), 9);
    let big = find(
        &checks,
        "Your server echoes a message larger than one recv()",
    );
    assert!(
        big.happened.contains("All 20480 bytes came back"),
        "{big:?}"
    );
    assert_eq!(
        find(&checks, "Then your server closes the connection").line,
        Some(14)
    );
    assert_eq!(
        find(&checks, "Your client displays the echo").line,
        Some(7),
        "the print's line"
    );
    bridge.stop().await.expect("clean stop");
}

/// The issue's own example, on a real run: a server that calls recv()
/// once and closes gets "your server called recv() once and closed ...
/// loops until recv() returns b''", pointing at its close() line.
#[tokio::test]
async fn task3_server_with_one_recv_fails_on_real_sockets() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    task3_server_half(&mut page, false).await;
    task3_client_half(&mut page).await;
    let (events, server_output, client_output) = finish(&mut page).await;
    let checks = course::check(
        3,
        &events,
        &Student {
            server_py: ONE_RECV_SERVER,
            client_py: ECHO_CLIENT,
            server_output: &server_output,
            client_output: &client_output,
        },
    );
    assert!(find(&checks, "Your server echoes a line of text").passed);
    let binary = find(
        &checks,
        "Your server echoes bytes that are not text, unchanged",
    );
    assert!(!binary.passed);
    assert!(
        binary.happened.contains(
            "your server called recv() once and closed, so the rest got no echo. An echo server loops until recv() returns b''."
        ),
        "{binary:?}"
    );
    assert_eq!(binary.line, Some(11), "the close() line");
    assert!(!find(&checks, "Your server keeps serving until the client closes").passed);
    assert!(find(&checks, "Your client gets its message back").passed);
    bridge.stop().await.expect("clean stop");
}

/// Asks the bridge to judge the run from `from_us`, and reads its answer.
async fn ask_bridge(
    page: &mut Page,
    task: u8,
    from_us: u64,
    student: &Student<'_>,
) -> Vec<protocol::CheckReport> {
    page.say(ClientMsg::CheckTask {
        task,
        from_us,
        server_py: student.server_py.into(),
        client_py: student.client_py.into(),
        server_output: student.server_output.into(),
        client_output: student.client_output.into(),
    })
    .await;
    match page
        .until("task_checks", |m| matches!(m, ServerMsg::TaskChecks { .. }))
        .await
    {
        ServerMsg::TaskChecks {
            task: answered,
            checks,
        } => {
            assert_eq!(answered, task);
            checks
        }
        _ => unreachable!(),
    }
}

/// "Check my task" judged by the bridge over /ws, on its own trace of a
/// real run: the page asks with `check_task` once the run is over, and the
/// answer is course::check's verdict on the very events the page got (the
/// failing close() line, the event each check is about); a task that does
/// not exist is refused with a clear message and the session goes on.
#[tokio::test]
async fn the_bridge_judges_a_check_run_on_its_own_trace() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    task3_server_half(&mut page, false).await;
    task3_client_half(&mut page).await;
    let (events, server_output, client_output) = finish(&mut page).await;
    let student = Student {
        server_py: ONE_RECV_SERVER,
        client_py: ECHO_CLIENT,
        server_output: &server_output,
        client_output: &client_output,
    };
    let expected = course::check(3, &events, &student);
    let from_us = events.first().expect("the run was traced").at_us;
    let answer = ask_bridge(&mut page, 3, from_us, &student).await;
    assert_eq!(answer.len(), expected.len());
    for (got, want) in answer.iter().zip(&expected) {
        assert_eq!(got.title, want.title);
        assert_eq!(got.passed, want.passed, "{}", want.sentence());
        assert_eq!(got.happened, want.happened);
        assert_eq!(got.expected, want.expected);
        assert_eq!(got.line, want.line);
        assert_eq!(got.side, want.side);
        assert_eq!(got.at_us, want.event.map(|i| events[i].at_us));
    }
    let binary = answer
        .iter()
        .find(|c| c.title == "Your server echoes bytes that are not text, unchanged")
        .expect("the binary echo's check");
    assert!(!binary.passed);
    assert_eq!(binary.line, Some(11), "the close() line");
    assert!(binary.at_us.is_some(), "it points at an event");

    page.say(ClientMsg::CheckTask {
        task: 7,
        from_us,
        server_py: String::new(),
        client_py: String::new(),
        server_output: String::new(),
        client_output: String::new(),
    })
    .await;
    let (reason, message) = page.until_refused().await;
    assert_eq!(reason, protocol::Refusal::BadMessage);
    assert!(message.contains("there is no task 7"), "{message}");
    // The session goes on: the same run is judged again.
    let again = ask_bridge(&mut page, 3, from_us, &student).await;
    assert_eq!(again, answer);
    bridge.stop().await.expect("clean stop");
}

/// The bridge's verdicts reach the instructor's list live, for that task
/// alone: a check of a window with no run in it fails, the same right
/// programs' run passes. Only the bridge judges: the page has no message
/// that could claim a pass.
#[tokio::test]
async fn the_instructor_sees_the_bridges_verdicts_live() {
    let bridge = start(Mode::Echo).await;
    let mut instructor = Instructor::open(&bridge).await;
    let mut page = Page::open(&bridge).await;
    instructor.until("the student", 1, |_| true).await;
    task3_server_half(&mut page, true).await;
    task3_client_half(&mut page).await;
    let (events, server_output, client_output) = finish(&mut page).await;
    let student = Student {
        server_py: ECHO_SERVER,
        client_py: ECHO_CLIENT,
        server_output: &server_output,
        client_output: &client_output,
    };
    let after = events.last().expect("the run was traced").at_us + 1;
    let nothing = ask_bridge(&mut page, 3, after, &student).await;
    assert!(nothing.iter().any(|c| !c.passed), "{nothing:#?}");
    let failing = instructor
        .until("Task 3 failing", 1, |s| {
            s.progress.checked[2] == CheckStatus::Failing
        })
        .await;
    assert_eq!(
        failing.progress.checked,
        [
            CheckStatus::NotRun,
            CheckStatus::NotRun,
            CheckStatus::Failing
        ]
    );

    let from_us = events.first().expect("the run was traced").at_us;
    let run = ask_bridge(&mut page, 3, from_us, &student).await;
    assert!(run.iter().all(|c| c.passed), "{run:#?}");
    let passing = instructor
        .until("Task 3 passing", 1, |s| {
            s.progress.checked[2] == CheckStatus::Passing
        })
        .await;
    assert_eq!(passing.progress.checked[..2], [CheckStatus::NotRun; 2]);
    bridge.stop().await.expect("clean stop");
}

const ONE_RECV_CLIENT: &str = "import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
msg = s.recv(1024)
print(msg.decode('utf-8'))
s.close()
";

/// Task 2's client half on a real run: the lab's server sends its message
/// in two pieces; a client that reads once is told it got only "Thank
/// you " and why; one that reads until b'' passes.
#[tokio::test]
async fn task2_client_reading_once_fails_on_real_sockets() {
    for reads_all in [false, true] {
        let bridge = start(Mode::Greet).await;
        let mut page = Page::open(&bridge).await;
        let (_, accept) = listen_and_accept(&mut page, LAB_SERVER_ID, LAB_SERVER).await;
        let c = connect(&mut page, STUDENT_CLIENT_ID, STUDENT_CLIENT).await;
        let conn = accepted(&mut page, LAB_SERVER_ID, accept).await;
        let [first, second] = course::TASK2_PIECES;
        page.sock_ok(LAB_SERVER_ID, sendall(conn, first), 34).await;
        let mut got = data_of(page.sock(STUDENT_CLIENT_ID, recv(c), 5).await);
        page.sock_ok(LAB_SERVER_ID, sendall(conn, second), 36).await;
        page.sock_ok(LAB_SERVER_ID, SockOp::Close { sock: conn }, 38)
            .await;
        if reads_all {
            loop {
                let chunk = data_of(page.sock(STUDENT_CLIENT_ID, recv(c), 5).await);
                if chunk.is_empty() {
                    break;
                }
                got.extend(chunk);
            }
        }
        print(
            &mut page,
            STUDENT_CLIENT_ID,
            6,
            &String::from_utf8_lossy(&got),
        )
        .await;
        page.sock_ok(STUDENT_CLIENT_ID, SockOp::Close { sock: c }, 7)
            .await;
        let (events, _, client_output) = finish(&mut page).await;
        let checks = course::check(
            2,
            &events,
            &Student {
                client_py: ONE_RECV_CLIENT,
                client_output: &client_output,
                ..Student::default()
            },
        );
        let all = find(&checks, "Your client receives all of the message");
        let shown = find(&checks, "Your client displays the message");
        assert!(find(&checks, "Your client connects to the server").passed);
        if reads_all {
            assert!(all.passed, "{all:?}");
            assert!(shown.passed, "{shown:?}");
        } else {
            assert!(!all.passed);
            assert!(
                all.happened.starts_with("Your client called recv() once and got \"Thank you \" (10 bytes): the rest, \"for connecting\\n\", came in a second piece it never read."),
                "{all:?}"
            );
            assert_eq!(all.line, Some(5));
            assert!(!shown.passed);
        }
        // The server half did not run: its checks fail, saying so.
        let accepts = find(&checks, "Your server accepts a client");
        assert!(!accepts.passed);
        assert!(
            accepts.happened.contains("made no socket call"),
            "{accepts:?}"
        );
        bridge.stop().await.expect("clean stop");
    }
}
