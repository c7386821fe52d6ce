//! A student's own programs' socket calls, end to end: a real bridge on
//! port 0, a real WebSocket on `/ws` speaking the page's program protocol
//! (`program_start`, `sock_call`, `program_end`), and real sockets behind
//! it. The calls are the handout's `server.py` and `client.py`, line by
//! line, as the page's Python would make them.
//!
//! No sleeps and no fixed ports: port 1234 here is in each session's own
//! port space (the bridge binds a real ephemeral port for it), and every
//! wait is for a message, bounded.

use bridge::config::{AllowList, BridgeConfig, SessionLimits};
use e2e::page::{Page, WAIT, outside_listener, start, start_with};
use protocol::program::{HOSTNAME, Shut};
use protocol::{
    Bytes, Call, ClientMsg, ErrorKind, Family, Lane, Mode, Refusal, ServerMsg, SockId, SockOp,
    SockResult, SockValue, Step, StepKind, Target, TraceEvent, Transport, connection_established,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

/// The program ids the page would give `server.py` and `client.py`.
const SERVER: u32 = 1;
const CLIENT: u32 = 2;

fn socket(family: Family, transport: Transport) -> SockOp {
    SockOp::Socket { family, transport }
}

fn tcp() -> SockOp {
    socket(Family::Ipv4, Transport::Tcp)
}

fn bind(sock: SockId, host: &str, port: u16) -> SockOp {
    SockOp::Bind {
        sock,
        host: host.to_string(),
        port,
    }
}

fn connect(sock: SockId, host: &str, port: u16) -> SockOp {
    SockOp::Connect {
        sock,
        host: host.to_string(),
        port,
    }
}

fn sendall(sock: SockId, data: &[u8]) -> SockOp {
    SockOp::Send {
        sock,
        data: Bytes(data.to_vec()),
        all: true,
    }
}

fn recv(sock: SockId, max: u32) -> SockOp {
    SockOp::Recv { sock, max }
}

fn close(sock: SockId) -> SockOp {
    SockOp::Close { sock }
}

fn sock_of(value: SockValue) -> SockId {
    match value {
        SockValue::Socket { sock } => sock,
        other => panic!("expected a socket, got {other:?}"),
    }
}

fn data_of(value: SockValue) -> Vec<u8> {
    match value {
        SockValue::Data { data } => data.0,
        other => panic!("expected data, got {other:?}"),
    }
}

/// The handout's server.py up to `listen(5)`, on the session's `port`:
/// the listening socket and its real address.
async fn listening(page: &mut Page, program: u32, port: u16) -> (SockId, SocketAddr) {
    let s = sock_of(page.sock_ok(program, tcp(), 4).await);
    let real = match page.sock_ok(program, bind(s, HOSTNAME, port), 5).await {
        SockValue::Bound { local, real } => {
            assert_eq!(local, format!("127.0.0.1:{port}"), "as the program asked");
            real.parse::<SocketAddr>().expect("a real address")
        }
        other => panic!("expected bound, got {other:?}"),
    };
    assert!(real.ip().is_loopback(), "{real}");
    let listened = page
        .sock_ok(
            program,
            SockOp::Listen {
                sock: s,
                backlog: 5,
            },
            6,
        )
        .await;
    assert_eq!(listened, SockValue::Done);
    (s, real)
}

/// The client's connect to the session's `port`: its socket and the real
/// local address the server will see.
async fn connected(page: &mut Page, program: u32, port: u16) -> (SockId, String) {
    let c = sock_of(page.sock_ok(program, tcp(), 3).await);
    match page.sock_ok(program, connect(c, HOSTNAME, port), 4).await {
        SockValue::Connected { local, peer } => {
            assert_eq!(peer, format!("127.0.0.1:{port}"), "the peer as asked");
            (c, local)
        }
        other => panic!("expected connected, got {other:?}"),
    }
}

/// A server's `accept()` reply: the new socket and the client's address.
fn accepted(result: SockResult) -> (SockId, String) {
    match result {
        SockResult::Ok(SockValue::Accepted { sock, peer, local }) => {
            assert!(local.ends_with(":1234"), "{local}");
            (sock, peer)
        }
        other => panic!("expected accepted, got {other:?}"),
    }
}

/// The student's `server.py` listening on the session's port 1234 and
/// `client.py` connected to it: the listening socket, the accepted
/// connection and the client's socket.
async fn server_and_client(page: &mut Page) -> (SockId, SockId, SockId) {
    page.program_start(SERVER, Lane::Server, "server.py").await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    let (s, _) = listening(page, SERVER, 1234).await;
    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    let (c, _) = connected(page, CLIENT, 1234).await;
    let (conn, _) = accepted(page.sock_reply(SERVER, accept).await);
    (s, conn, c)
}

/// The first event of `program` whose step is `name`.
fn event(page: &Page, program: u32, name: StepKind) -> &TraceEvent {
    page.program_events(program)
        .into_iter()
        .find(|event| event.step.kind() == name)
        .unwrap_or_else(|| panic!("no {name} of program {program}; seen: {:#?}", page.seen))
}

fn line_of(event: &TraceEvent) -> u32 {
    event.source.as_ref().expect("a program's event").line
}

/// The handout's Task 1: the server blocks in `accept()` while the client
/// connects to port 1234; `accept()` returns the client's real address;
/// both lanes are traced with the student's lines and one connection id.
#[tokio::test]
async fn task1_server_and_client_meet_on_the_sessions_port_1234() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;

    let (s, real) = listening(&mut page, SERVER, 1234).await;
    assert_ne!(
        real.port(),
        1234,
        "port 1234 is the session's own, not real"
    );
    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    let (c, client_local) = connected(&mut page, CLIENT, 1234).await;
    let (conn_sock, peer) = accepted(page.sock_reply(SERVER, accept).await);
    assert_eq!(peer, client_local, "accept() returns the client's address");

    let line = connection_established(&peer);
    page.say(ClientMsg::ProgramPrint {
        program: SERVER,
        text: line.clone(),
        line: Some(9),
    })
    .await;
    page.sock_ok(SERVER, close(conn_sock), 10).await;
    assert!(data_of(page.sock_ok(CLIENT, recv(c, 1024), 5).await).is_empty());
    page.sock_ok(CLIENT, close(c), 6).await;
    page.sock_ok(SERVER, close(s), 11).await;
    assert_eq!(page.program_end(SERVER).await, 0, "all closed already");
    assert_eq!(page.program_end(CLIENT).await, 0);

    // The server lane: server.py's calls, at its lines.
    let bind = event(&page, SERVER, StepKind::Bind);
    assert_eq!(
        bind.step,
        Step::Bind {
            addr: real.to_string(),
            asked: Some("127.0.0.1:1234".into())
        }
    );
    assert_eq!(line_of(bind), 5);
    assert_eq!(bind.lane, Lane::Server);
    let source = bind.source.as_ref().expect("source");
    assert_eq!(
        (source.program, source.file.as_str()),
        (SERVER, "server.py")
    );
    let accept = event(&page, SERVER, StepKind::Accept);
    assert_eq!(line_of(accept), 8);
    let print = event(&page, SERVER, StepKind::Print);
    assert_eq!(print.step, Step::Print { text: line });
    assert_eq!((print.lane, line_of(print)), (Lane::Server, 9));
    // The client lane, and one connection id on both.
    let connect = event(&page, CLIENT, StepKind::Connect);
    assert_eq!((connect.lane, line_of(connect)), (Lane::Client, 4));
    assert!(connect.conn.is_some());
    assert_eq!(accept.conn, connect.conn, "connect -> accept is one arrow");
    let eof = event(&page, CLIENT, StepKind::RecvEof);
    assert_eq!(eof.conn, connect.conn);
    let server_close = page
        .program_events(SERVER)
        .into_iter()
        .find(|e| e.step == Step::Close && e.conn.is_some())
        .expect("the connection's close");
    assert_eq!(
        (server_close.conn, line_of(server_close)),
        (connect.conn, 10)
    );
    bridge.stop().await.expect("clean stop");
}

/// Task 3 between the student's own programs: what the client sends, the
/// server's `recv()` gets and sends back; send -> recv share one id.
#[tokio::test]
async fn task3_echo_between_a_students_programs() {
    let bridge = start(Mode::Connect).await;
    let mut page = Page::open(&bridge).await;
    let (_, conn, c) = server_and_client(&mut page).await;

    let message = b"Hello, echo server!\n";
    page.sock_ok(CLIENT, sendall(c, message), 5).await;
    let mut got = Vec::new();
    while got.len() < message.len() {
        let chunk = data_of(page.sock_ok(SERVER, recv(conn, 1024), 10).await);
        assert!(!chunk.is_empty(), "the client closed early");
        page.sock_ok(SERVER, sendall(conn, &chunk), 11).await;
        got.extend(chunk);
    }
    let mut echo = Vec::new();
    while echo.len() < message.len() {
        let chunk = data_of(page.sock_ok(CLIENT, recv(c, 1024), 8).await);
        assert!(!chunk.is_empty(), "the server closed early");
        echo.extend(chunk);
    }
    assert_eq!(echo, message);
    page.sock_ok(CLIENT, close(c), 12).await;
    assert!(data_of(page.sock_ok(SERVER, recv(conn, 1024), 10).await).is_empty());
    assert_eq!(page.program_end(SERVER).await, 2, "the bridge closed both");
    page.program_end(CLIENT).await;

    let send = event(&page, CLIENT, StepKind::Send);
    let server_recv = event(&page, SERVER, StepKind::Recv);
    assert_eq!(send.conn, server_recv.conn, "send -> recv is one arrow");
    assert_eq!(send.step.data().map(|d| d.0.as_slice()), Some(&message[..]));
    assert_eq!(line_of(server_recv), 10);
    let client_recv = event(&page, CLIENT, StepKind::Recv);
    assert_eq!(client_recv.conn, send.conn);
    // The closes the bridge made at the end are traced too.
    let closes = page
        .program_events(SERVER)
        .into_iter()
        .filter(|e| e.step == Step::Close)
        .count();
    assert_eq!(closes, 2);
    bridge.stop().await.expect("clean stop");
}

/// A blocking TCP send is posted: the page goes on without its answer, so
/// an echo waits for two answers a round trip, not four. The bridge sends
/// posted bytes in order, all of them, before the program's next call;
/// one that fails is raised by the next call on that socket; and no more
/// than the window of calls waits at once.
#[tokio::test]
async fn posted_sends_keep_order_and_a_failure_comes_at_the_next_call() {
    let bridge = start(Mode::Connect).await;
    let mut page = Page::open(&bridge).await;
    let (s, conn, c) = server_and_client(&mut page).await;

    // A full window of sends, then a recv, all sent before any answer.
    let window = protocol::program::MAX_POSTED_CALLS;
    let mut posted = Vec::new();
    let mut expected = Vec::new();
    for i in 0..window {
        let piece = format!("piece {i};").into_bytes();
        expected.extend_from_slice(&piece);
        let op = SockOp::Send {
            sock: c,
            data: Bytes(piece),
            all: false,
        };
        posted.push(page.sock_post(CLIENT, op, 6).await);
    }
    let client_recv = page.sock_send(CLIENT, recv(c, 1024), 7, None).await;
    for call in posted {
        match page.sock_reply(CLIENT, call).await {
            SockResult::Ok(SockValue::Sent { n }) => assert!(n > 0),
            other => panic!("a posted send's answer: {other:?}"),
        }
    }
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let chunk = data_of(page.sock_ok(SERVER, recv(conn, 4096), 10).await);
        assert!(!chunk.is_empty(), "the client closed early");
        got.extend(chunk);
    }
    assert_eq!(got, expected, "every posted byte, in order");
    page.sock_ok(SERVER, sendall(conn, b"ok"), 11).await;
    match page.sock_reply(CLIENT, client_recv).await {
        SockResult::Ok(value) => assert_eq!(data_of(value), b"ok"),
        other => panic!("the recv after the posted sends: {other:?}"),
    }

    // A posted send that fails: its own answer says so, and the program's
    // next call on that socket raises it (then the socket is as it was).
    let fresh = sock_of(page.sock_ok(CLIENT, tcp(), 12).await);
    let failed = page.sock_post(CLIENT, sendall(fresh, b"nobody"), 13).await;
    match page.sock_reply(CLIENT, failed).await {
        SockResult::Err(err) => assert_eq!(err.errno, "ENOTCONN"),
        other => panic!("a send on an unconnected socket: {other:?}"),
    }
    let raised = page.sock_err(CLIENT, recv(fresh, 10), 14).await;
    assert_eq!(raised.errno, "ENOTCONN");
    assert!(
        raised
            .message
            .contains("an earlier send() on this socket failed"),
        "{}",
        raised.message
    );
    let again = page.sock_err(CLIENT, recv(fresh, 10), 15).await;
    assert!(!again.message.contains("earlier"), "{}", again.message);
    // Another socket of the program was not touched by it.
    page.sock_ok(CLIENT, sendall(c, b"still fine"), 16).await;

    // The window is bounded: behind an accept() that waits, the bridge
    // keeps the window's calls and one more (two, if the accept() itself
    // has not been taken up yet), and refuses the rest at once.
    page.sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    let mut behind = Vec::new();
    for _ in 0..window + 2 {
        behind.push(page.sock_post(SERVER, sendall(conn, b"x"), 11).await);
    }
    // Ending the program answers the calls it left waiting (EINTR).
    assert_eq!(page.program_end(SERVER).await, 2);
    let mut refused = 0;
    for (i, &call) in behind.iter().enumerate() {
        match page.sock_reply(SERVER, call).await {
            SockResult::Err(err) if err.errno == "EINVAL" => {
                assert!(i >= window, "call {i} of the window was refused");
                assert!(
                    err.message.contains("calls may wait unanswered"),
                    "{}",
                    err.message
                );
                refused += 1;
            }
            SockResult::Err(err) => assert_eq!(err.errno, "EINTR", "call {i}"),
            SockResult::Ok(value) => panic!("call {i} was performed: {value:?}"),
        }
    }
    assert!((1..=2).contains(&refused), "refused {refused}");
    page.program_end(CLIENT).await;
    bridge.stop().await.expect("clean stop");
}

/// Two students' servers both bind port 1234 at once: each gets its own
/// real port, and each student's client reaches its own server.
#[tokio::test]
async fn two_sessions_both_bind_1234() {
    let bridge = start(Mode::Echo).await;
    let mut alice = Page::open(&bridge).await;
    let mut bob = Page::open(&bridge).await;
    for page in [&mut alice, &mut bob] {
        page.program_start(SERVER, Lane::Server, "server.py").await;
        page.program_start(CLIENT, Lane::Client, "client.py").await;
    }
    let (alice_s, alice_real) = listening(&mut alice, SERVER, 1234).await;
    let (bob_s, bob_real) = listening(&mut bob, SERVER, 1234).await;
    assert_ne!(alice_real, bob_real);
    for (page, s) in [(&mut alice, alice_s), (&mut bob, bob_s)] {
        let accept = page
            .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
            .await;
        let (_, local) = connected(page, CLIENT, 1234).await;
        let (_, peer) = accepted(page.sock_reply(SERVER, accept).await);
        assert_eq!(peer, local, "each client reached its own session's server");
    }
    bridge.stop().await.expect("clean stop");
}

/// Binding a port the session's open socket has fails with EADDRINUSE, at
/// the student's line; once that socket is closed the port is free again.
#[tokio::test]
async fn binding_a_port_twice_is_address_in_use() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    page.program_start(3, Lane::Server, "server2.py").await;
    let (s, _) = listening(&mut page, SERVER, 1234).await;
    let again = sock_of(page.sock_ok(3, tcp(), 4).await);
    let err = page.sock_err(3, bind(again, "", 1234), 5).await;
    assert_eq!(err.errno, "EADDRINUSE");
    assert_eq!(err.kind, ErrorKind::AddrInUse);
    let error = event(&page, 3, StepKind::Error);
    assert_eq!(line_of(error), 5);
    assert_eq!(error.step.call_kind(), StepKind::Bind);
    // UDP has its own ports.
    let udp = sock_of(
        page.sock_ok(3, socket(Family::Ipv4, Transport::Udp), 6)
            .await,
    );
    page.sock_ok(3, bind(udp, HOSTNAME, 1234), 7).await;
    page.sock_ok(SERVER, close(s), 12).await;
    match page.sock_ok(3, bind(again, "", 1234), 5).await {
        SockValue::Bound { local, .. } => assert_eq!(local, "0.0.0.0:1234"),
        other => panic!("expected bound, got {other:?}"),
    }
    bridge.stop().await.expect("clean stop");
}

/// A connect to a port no socket of the session has is refused; so is one
/// to a server that has closed (the operating system's own refusal, from
/// its old real port). Both are traced at the connect's line.
#[tokio::test]
async fn connecting_where_nothing_listens_is_refused() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    let c = sock_of(page.sock_ok(CLIENT, tcp(), 3).await);
    let err = page.sock_err(CLIENT, connect(c, HOSTNAME, 4321), 4).await;
    assert_eq!(
        (err.errno.as_str(), err.kind),
        ("ECONNREFUSED", ErrorKind::ConnectionRefused)
    );
    let error = event(&page, CLIENT, StepKind::Error);
    assert_eq!(
        (error.step.call_kind(), line_of(error)),
        (StepKind::Connect, 4)
    );
    assert_eq!(error.conn, event(&page, CLIENT, StepKind::Connect).conn);

    page.program_start(SERVER, Lane::Server, "server.py").await;
    let (s, real) = listening(&mut page, SERVER, 1234).await;
    page.sock_ok(SERVER, close(s), 7).await;
    assert_eq!(page.program_end(SERVER).await, 0);
    // As on Linux, the same socket may try again after a refusal.
    let err = page.sock_err(CLIENT, connect(c, HOSTNAME, 1234), 4).await;
    assert_eq!(err.errno, "ECONNREFUSED");
    assert_eq!(err.message, "Connection refused", "the OS's words");
    let refused = TcpStream::connect(real).await.expect_err("closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    bridge.stop().await.expect("clean stop");
}

/// `settimeout()`: a call that waits longer fails with "timeout" (Python's
/// `TimeoutError`), is traced, and the socket still works afterwards.
#[tokio::test]
async fn a_call_past_its_timeout_fails_and_the_socket_goes_on() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    let (s, _) = listening(&mut page, SERVER, 1234).await;
    let started = Instant::now();
    let call = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, Some(100))
        .await;
    let SockResult::Err(err) = page.sock_reply(SERVER, call).await else {
        panic!("accept() with nobody connecting must time out");
    };
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(
        (err.errno.as_str(), err.kind),
        ("timeout", ErrorKind::TimedOut)
    );
    assert_eq!(
        event(&page, SERVER, StepKind::Error).step.call_kind(),
        StepKind::Accept
    );

    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    let (c, _) = connected(&mut page, CLIENT, 1234).await;
    let (conn, _) = accepted(page.sock_reply(SERVER, accept).await);
    let call = page.sock_send(CLIENT, recv(c, 1024), 5, Some(50)).await;
    let result = page.sock_reply(CLIENT, call).await;
    assert!(
        matches!(&result, SockResult::Err(err) if err.errno == "timeout"),
        "{result:?}"
    );
    page.sock_ok(SERVER, sendall(conn, b"late\n"), 9).await;
    assert_eq!(
        data_of(page.sock_ok(CLIENT, recv(c, 1024), 5).await),
        b"late\n"
    );
    bridge.stop().await.expect("clean stop");
}

/// Stop during a blocked `accept()`: the call returns EINTR within 0.5 s,
/// the bridge closes the program's sockets (traced), and the real port
/// refuses connections afterwards: nothing leaks.
#[tokio::test]
async fn ending_a_program_interrupts_accept_and_closes_its_sockets() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    let (s, real) = listening(&mut page, SERVER, 1234).await;
    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    let stopped = Instant::now();
    page.say(ClientMsg::ProgramEnd { program: SERVER }).await;
    let result = page.sock_reply(SERVER, accept).await;
    assert!(
        stopped.elapsed() < Duration::from_millis(500),
        "{:?}",
        stopped.elapsed()
    );
    assert!(
        matches!(&result, SockResult::Err(err) if err.errno == "EINTR"),
        "{result:?}"
    );
    let ended = page
        .until("program_ended", |m| {
            matches!(
                m,
                ServerMsg::ProgramEnded {
                    program: SERVER,
                    ..
                }
            )
        })
        .await;
    assert_eq!(
        ended,
        ServerMsg::ProgramEnded {
            program: SERVER,
            closed: 1
        }
    );
    let close = event(&page, SERVER, StepKind::Close);
    assert_eq!(close.lane, Lane::Server);
    let refused = TcpStream::connect(real).await.expect_err("closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // A call after the end is answered, not left waiting.
    let late = page.sock_err(SERVER, tcp(), 12).await;
    assert_eq!(late.errno, "EBADF");
    bridge.stop().await.expect("clean stop");
}

/// Bad ids and calls in the wrong state get the errors Python would raise,
/// never a panic; the session and the page's own connections go on.
#[tokio::test]
async fn bad_calls_get_errors_and_the_session_goes_on() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    let errno = |err: protocol::SockError| err.errno;
    assert_eq!(errno(page.sock_err(SERVER, recv(99, 10), 1).await), "EBADF");
    assert_eq!(errno(page.sock_err(SERVER, close(99), 1).await), "EBADF");
    let s = sock_of(page.sock_ok(SERVER, tcp(), 2).await);
    assert_eq!(
        errno(page.sock_err(SERVER, SockOp::Accept { sock: s }, 3).await),
        "EINVAL"
    );
    assert_eq!(
        errno(page.sock_err(SERVER, recv(s, 10), 4).await),
        "ENOTCONN"
    );
    assert_eq!(
        errno(page.sock_err(SERVER, sendall(s, b"x"), 4).await),
        "ENOTCONN"
    );
    let shut = SockOp::Shutdown {
        sock: s,
        how: Shut::Write,
    };
    assert_eq!(errno(page.sock_err(SERVER, shut, 4).await), "ENOTCONN");
    let udp = sock_of(
        page.sock_ok(SERVER, socket(Family::Ipv4, Transport::Udp), 5)
            .await,
    );
    let listen = SockOp::Listen {
        sock: udp,
        backlog: 5,
    };
    assert_eq!(errno(page.sock_err(SERVER, listen, 6).await), "EOPNOTSUPP");
    page.sock_ok(SERVER, bind(s, HOSTNAME, 1234), 7).await;
    assert_eq!(
        errno(page.sock_err(SERVER, bind(s, HOSTNAME, 1235), 7).await),
        "EINVAL"
    );
    // Closing twice is fine, as in Python.
    page.sock_ok(SERVER, close(s), 8).await;
    assert_eq!(page.sock_ok(SERVER, close(s), 8).await, SockValue::Done);
    assert_eq!(errno(page.sock_err(SERVER, recv(s, 10), 9).await), "EBADF");

    // A program that is not running: answered at once.
    assert_eq!(errno(page.sock_err(42, tcp(), 1).await), "EBADF");
    assert_eq!(page.program_end(42).await, 0);
    page.program_start(SERVER, Lane::Server, "server.py").await;
    let (reason, message) = page.until_refused().await;
    assert_eq!(reason, Refusal::InUse, "{message}");

    // The session goes on: the program and the page's own client work.
    sock_of(page.sock_ok(SERVER, tcp(), 10).await);
    page.connect(1, Target::Public).await;
    page.send_text(1, "still here\n").await;
    page.until_step_with(Lane::Client, 1, StepKind::Recv, b"still here\n")
        .await;
    bridge.stop().await.expect("clean stop");
}

/// A program reaches only its session's ports, the lab's server and the
/// allowed targets: anything else is refused, as an error, not a proxy.
#[tokio::test]
async fn a_program_is_not_an_open_proxy() {
    // On 127.0.0.2: never the address of a lab server on 127.0.0.1.
    let allowed = outside_listener().await;
    let allowed_addr = allowed.local_addr().expect("addr");
    let config = BridgeConfig {
        allow_targets: AllowList::new([allowed_addr.to_string()]),
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    let c = sock_of(page.sock_ok(CLIENT, tcp(), 3).await);
    let err = page.sock_err(CLIENT, connect(c, "192.0.2.7", 80), 4).await;
    assert_eq!(
        (err.errno.as_str(), err.kind),
        ("EACCES", ErrorKind::NotAllowed)
    );
    let err = page.sock_err(CLIENT, connect(c, "::1", 1234), 4).await;
    assert_eq!(err.errno, "EAFNOSUPPORT");
    let err = page.sock_err(CLIENT, bind(c, "192.0.2.7", 0), 4).await;
    assert_eq!(err.errno, "EADDRNOTAVAIL");
    // An allowed target is reached for real.
    let ip = allowed_addr.ip().to_string();
    let value = page
        .sock_ok(CLIENT, connect(c, &ip, allowed_addr.port()), 4)
        .await;
    assert!(matches!(value, SockValue::Connected { .. }), "{value:?}");
    let (mut stream, _) = tokio::time::timeout(WAIT, allowed.accept())
        .await
        .expect("in time")
        .expect("accepts");
    page.sock_ok(CLIENT, sendall(c, b"hi"), 5).await;
    let mut buf = [0u8; 2];
    stream.read_exact(&mut buf).await.expect("reads");
    assert_eq!(&buf, b"hi");
    bridge.stop().await.expect("clean stop");
}

/// The handout's client.py works against the lab's public server: its
/// port reaches it, and the server's side of the connection is routed to
/// this session under the client's connection id.
#[tokio::test]
async fn a_students_client_reaches_the_public_lab_server() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    let public: SocketAddr = match &page.seen[0] {
        ServerMsg::Hello {
            public_server: Some(public),
            ..
        } => public.addr.parse().expect("an address"),
        other => panic!("expected a hello with the public server, got {other:?}"),
    };
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    let c = sock_of(page.sock_ok(CLIENT, tcp(), 3).await);
    page.sock_ok(CLIENT, connect(c, HOSTNAME, public.port()), 4)
        .await;
    page.sock_ok(CLIENT, sendall(c, b"echo me\n"), 5).await;
    let mut echo = Vec::new();
    while echo.len() < 8 {
        let chunk = data_of(page.sock_ok(CLIENT, recv(c, 1024), 6).await);
        assert!(!chunk.is_empty());
        echo.extend(chunk);
    }
    assert_eq!(echo, b"echo me\n");
    let conn = event(&page, CLIENT, StepKind::Connect).conn.expect("an id");
    page.until_step_with(Lane::Server, conn, StepKind::Recv, b"echo me\n")
        .await;
    page.sock_ok(CLIENT, close(c), 7).await;
    page.until_step(Lane::Server, conn, StepKind::Close).await;
    bridge.stop().await.expect("clean stop");
}

/// The lab's own `task3_client.py`, run with `python3` in a terminal,
/// reaches a student's echo server (driven over /ws) on the real port the
/// bind reply shows; that outside client gets its own connection id.
#[tokio::test]
async fn python3_task3_client_reaches_a_students_echo_server() {
    let bridge = start(Mode::Connect).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    let (s, real) = listening(&mut page, SERVER, 1234).await;
    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/task3/client.py");
    let message = "Hello from a terminal";
    let python = Command::new("python3")
        .arg(fixture)
        .arg(real.ip().to_string())
        .arg(real.port().to_string())
        .arg(message)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (is it installed?)");
    let (conn, peer) = accepted(page.sock_reply(SERVER, accept).await);
    assert!(peer.starts_with("127.0.0.1:"), "{peer}");
    // The echo loop of the lab's server.py, until the client closes.
    loop {
        let chunk = data_of(page.sock_ok(SERVER, recv(conn, 1024), 10).await);
        if chunk.is_empty() {
            break;
        }
        page.sock_ok(SERVER, sendall(conn, &chunk), 11).await;
    }
    page.sock_ok(SERVER, close(conn), 12).await;
    let output = tokio::time::timeout(WAIT, python.wait_with_output())
        .await
        .expect("python3 exits in time")
        .expect("python3 ran");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{message}\n")
    );
    let accept = event(&page, SERVER, StepKind::Accept);
    let id = accept.conn.expect("its own id");
    let recv = event(&page, SERVER, StepKind::Recv);
    assert_eq!(recv.conn, Some(id));
    assert!(
        page.events(Lane::Client, id).next().is_none(),
        "no client lane of ours: it was a terminal's"
    );
    bridge.stop().await.expect("clean stop");
}

/// UDP between the student's programs: the client's `sendto()` reaches the
/// server's `recvfrom()` on the session's port 1234, the reply comes back
/// from `('127.0.0.1', 1234)`, and both lanes share one id.
#[tokio::test]
async fn udp_between_a_students_programs() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    let udp = socket(Family::Ipv4, Transport::Udp);
    let s = sock_of(page.sock_ok(SERVER, udp.clone(), 3).await);
    page.sock_ok(SERVER, bind(s, HOSTNAME, 1234), 4).await;
    let recvfrom = page
        .sock_send(SERVER, SockOp::RecvFrom { sock: s, max: 1024 }, 5, None)
        .await;
    let c = sock_of(page.sock_ok(CLIENT, udp, 3).await);
    let send_to = SockOp::SendTo {
        sock: c,
        data: Bytes(b"ping".to_vec()),
        host: HOSTNAME.into(),
        port: 1234,
    };
    page.sock_ok(CLIENT, send_to, 4).await;
    let SockResult::Ok(SockValue::DataFrom { data, peer }) =
        page.sock_reply(SERVER, recvfrom).await
    else {
        panic!("expected a datagram");
    };
    assert_eq!(data.0, b"ping");
    let peer: SocketAddr = peer.parse().expect("an address");
    let reply = SockOp::SendTo {
        sock: s,
        data: Bytes(b"pong".to_vec()),
        host: peer.ip().to_string(),
        port: peer.port(),
    };
    page.sock_ok(SERVER, reply, 6).await;
    match page
        .sock_ok(CLIENT, SockOp::RecvFrom { sock: c, max: 1024 }, 5)
        .await
    {
        SockValue::DataFrom { data, peer } => {
            assert_eq!(data.0, b"pong");
            assert_eq!(peer, "127.0.0.1:1234", "the server's port, as asked");
        }
        other => panic!("expected a datagram, got {other:?}"),
    }
    let sent = event(&page, CLIENT, StepKind::SendTo);
    let received = event(&page, SERVER, StepKind::RecvFrom);
    assert_eq!(sent.conn, received.conn, "sendto -> recvfrom is one arrow");
    bridge.stop().await.expect("clean stop");
}

/// IPv6: `bind(('::1', 1234))` and a client on `AF_INET6` meet the same way.
#[tokio::test]
async fn ipv6_server_and_client() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    let v6 = socket(Family::Ipv6, Transport::Tcp);
    let s = sock_of(page.sock_ok(SERVER, v6.clone(), 3).await);
    match page.sock_ok(SERVER, bind(s, "::1", 1234), 4).await {
        SockValue::Bound { local, real } => {
            assert_eq!(local, "[::1]:1234");
            assert!(real.starts_with("[::1]:"), "{real}");
        }
        other => panic!("expected bound, got {other:?}"),
    }
    page.sock_ok(
        SERVER,
        SockOp::Listen {
            sock: s,
            backlog: 5,
        },
        5,
    )
    .await;
    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 6, None)
        .await;
    let c = sock_of(page.sock_ok(CLIENT, v6, 3).await);
    let SockValue::Connected { local, .. } = page.sock_ok(CLIENT, connect(c, "::1", 1234), 4).await
    else {
        panic!("expected connected");
    };
    let (_, peer) = match page.sock_reply(SERVER, accept).await {
        SockResult::Ok(SockValue::Accepted { sock, peer, .. }) => (sock, peer),
        other => panic!("expected accepted, got {other:?}"),
    };
    assert_eq!(peer, local);
    assert!(peer.starts_with("[::1]:"), "{peer}");
    bridge.stop().await.expect("clean stop");
}

/// The limits hold: programs per session, sockets per session, and one
/// `recv()` reads at most one message's worth whatever `max` says.
#[tokio::test]
async fn programs_sockets_and_reads_are_bounded() {
    let config = BridgeConfig {
        limits: SessionLimits {
            max_programs_per_session: 2,
            max_program_sockets_per_session: 4,
            ..SessionLimits::default()
        },
        ..BridgeConfig::default()
    };
    let chunk = config.limits.read_chunk();
    let bridge = start_with(config, Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    page.program_start(3, Lane::Client, "client2.py").await;
    let (reason, message) = page.until_refused().await;
    assert_eq!(reason, Refusal::Limit, "{message}");

    let (s, _) = listening(&mut page, SERVER, 1234).await;
    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    let (c, _) = connected(&mut page, CLIENT, 1234).await;
    let (conn, _) = accepted(page.sock_reply(SERVER, accept).await);
    // Three open; one more may open, then no more.
    let spare = sock_of(page.sock_ok(CLIENT, tcp(), 9).await);
    let err = page.sock_err(CLIENT, tcp(), 10).await;
    assert_eq!(err.errno, "EMFILE");
    page.sock_ok(CLIENT, close(spare), 11).await;
    let spare = sock_of(page.sock_ok(CLIENT, tcp(), 12).await);
    // accept() too needs room for the socket it returns.
    let err = page.sock_err(SERVER, SockOp::Accept { sock: s }, 8).await;
    assert_eq!(err.errno, "EMFILE");
    page.sock_ok(CLIENT, close(spare), 13).await;

    // 30 KB sent (in one message: hex doubles it); recv(huge) returns at
    // most one chunk.
    let big = vec![b'x'; 30_000];
    page.sock_ok(SERVER, sendall(conn, &big), 13).await;
    let got = data_of(page.sock_ok(CLIENT, recv(c, u32::MAX), 14).await);
    assert!(
        !got.is_empty() && got.len() <= chunk,
        "{} > {chunk}",
        got.len()
    );

    // Calls sent while one waits: past the queue's room they are refused
    // at once; the rest end with the program.
    let waiting = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 15, None)
        .await;
    let mut busy = Vec::new();
    for _ in 0..protocol::program::MAX_POSTED_CALLS + 2 {
        busy.push(page.sock_send(SERVER, tcp(), 16, None).await);
    }
    page.say(ClientMsg::ProgramEnd { program: SERVER }).await;
    let result = page.sock_reply(SERVER, waiting).await;
    assert!(matches!(result, SockResult::Err(err) if err.errno == "EINTR"));
    let mut refused = 0;
    for call in busy {
        match page.sock_reply(SERVER, call).await {
            SockResult::Err(err) if err.errno == "EINVAL" => refused += 1,
            SockResult::Err(err) => assert_eq!(err.errno, "EINTR"),
            SockResult::Ok(value) => panic!("a queued call ran after the end: {value:?}"),
        }
    }
    assert!(refused >= 1, "a page that does not wait is told so");
    bridge.stop().await.expect("clean stop");
}

/// A print is traced on the program's lane at its line, and a failed call
/// names the call that failed, so the page can point at the line.
#[tokio::test]
async fn prints_and_errors_carry_the_students_line() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    page.say(ClientMsg::ProgramPrint {
        program: CLIENT,
        text: "hello".into(),
        line: Some(2),
    })
    .await;
    let print = page
        .until(
            "print",
            |m| matches!(m, ServerMsg::Trace(e) if e.step.kind() == StepKind::Print),
        )
        .await;
    let ServerMsg::Trace(print) = print else {
        unreachable!()
    };
    assert_eq!((print.lane, line_of(&print)), (Lane::Client, 2));
    let c = sock_of(page.sock_ok(CLIENT, tcp(), 3).await);
    page.sock_err(CLIENT, connect(c, HOSTNAME, 1234), 4).await;
    let error = event(&page, CLIENT, StepKind::Error);
    match &error.step {
        Step::Error { failed, kind, .. } => {
            assert_eq!(
                (*failed, *kind),
                (Some(Call::Connect), ErrorKind::ConnectionRefused)
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(line_of(error), 4);
    bridge.stop().await.expect("clean stop");
}

/// A terminal `nc`-style client on the real port, and a shutdown: the
/// student's server reads the client's bytes, then `b''` after the
/// client's `shutdown(SHUT_WR)`; the client still reads the reply.
#[tokio::test]
async fn a_terminal_client_and_a_half_close() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    let (s, real) = listening(&mut page, SERVER, 1234).await;
    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    let mut terminal = TcpStream::connect(real).await.expect("connects");
    let (conn, peer) = accepted(page.sock_reply(SERVER, accept).await);
    assert_eq!(peer, terminal.local_addr().expect("addr").to_string());
    terminal.write_all(b"from nc").await.expect("writes");
    terminal.shutdown().await.expect("half-closes");
    let mut got = Vec::new();
    loop {
        let chunk = data_of(page.sock_ok(SERVER, recv(conn, 1024), 9).await);
        if chunk.is_empty() {
            break;
        }
        got.extend(chunk);
    }
    assert_eq!(got, b"from nc");
    page.sock_ok(SERVER, sendall(conn, b"bye"), 10).await;
    let shut = SockOp::Shutdown {
        sock: conn,
        how: Shut::Both,
    };
    page.sock_ok(SERVER, shut, 11).await;
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, terminal.read_to_end(&mut reply))
        .await
        .expect("in time")
        .expect("reads");
    assert_eq!(reply, b"bye");
    bridge.stop().await.expect("clean stop");
}

/// The page's own client connects to the student's server by the session's
/// port (`127.0.0.1:1234`): the student's `accept()` returns it, under the
/// page's connection id, and its bytes reach the student's `recv()`.
#[tokio::test]
async fn the_pages_client_reaches_a_students_server() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.program_start(SERVER, Lane::Server, "server.py").await;
    let (s, _) = listening(&mut page, SERVER, 1234).await;
    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    page.connect(
        7,
        Target::Addr {
            addr: "127.0.0.1:1234".into(),
        },
    )
    .await;
    let (conn, peer) = accepted(page.sock_reply(SERVER, accept).await);
    let connected = page.until_step(Lane::Client, 7, StepKind::Connected).await;
    let Step::Connected { local, .. } = connected.step else {
        unreachable!()
    };
    assert_eq!(peer, local);
    assert_eq!(
        event(&page, SERVER, StepKind::Accept).conn,
        Some(7),
        "one id"
    );
    page.send_text(7, "hi\n").await;
    assert_eq!(
        data_of(page.sock_ok(SERVER, recv(conn, 1024), 9).await),
        b"hi\n"
    );
    bridge.stop().await.expect("clean stop");
}
