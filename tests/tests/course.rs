//! The lab as a course, bridge side, end to end: students' names and the
//! tasks their own programs have been seen doing, as the instructor's
//! `/watch` lists them, and the list sending only what changed.
//!
//! A real bridge on port 0, students' pages on `/ws` speaking the page's
//! program protocol (the calls the handout's `server.py` and `client.py`
//! make, as the page's Python would send them), the instructor's page on
//! `/watch`; real sockets behind them. Every wait is for a message,
//! bounded.

use e2e::page::{Page, start};
use e2e::watch::Instructor;
use protocol::program::HOSTNAME;
use protocol::{
    Bytes, ClientMsg, Family, Lane, Mode, Refusal, SockId, SockOp, SockResult, SockValue,
    Transport, WatchMsg,
};

const SERVER: u32 = 1;
const CLIENT: u32 = 2;

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

fn tcp() -> SockOp {
    SockOp::Socket {
        family: Family::Ipv4,
        transport: Transport::Tcp,
    }
}

/// The handout's Task 3 as the student's own programs would run it: the
/// server accepts, the client sends a line, the server sends back what it
/// received, the client reads the echo.
async fn echo_task(page: &mut Page) {
    page.program_start(SERVER, Lane::Server, "server.py").await;
    page.program_start(CLIENT, Lane::Client, "client.py").await;
    let s = sock_of(page.sock_ok(SERVER, tcp(), 4).await);
    let bind = SockOp::Bind {
        sock: s,
        host: HOSTNAME.into(),
        port: 1234,
    };
    page.sock_ok(SERVER, bind, 5).await;
    let listen = SockOp::Listen {
        sock: s,
        backlog: 5,
    };
    page.sock_ok(SERVER, listen, 6).await;
    let accept = page
        .sock_send(SERVER, SockOp::Accept { sock: s }, 8, None)
        .await;
    let c = sock_of(page.sock_ok(CLIENT, tcp(), 3).await);
    let connect = SockOp::Connect {
        sock: c,
        host: HOSTNAME.into(),
        port: 1234,
    };
    page.sock_ok(CLIENT, connect, 4).await;
    let conn = match page.sock_reply(SERVER, accept).await {
        SockResult::Ok(SockValue::Accepted { sock, .. }) => sock,
        other => panic!("expected accepted, got {other:?}"),
    };
    let message = b"hello\n";
    let send = |sock, data: &[u8]| SockOp::Send {
        sock,
        data: Bytes(data.to_vec()),
        all: true,
    };
    page.sock_ok(CLIENT, send(c, message), 5).await;
    let got = data_of(
        page.sock_ok(
            SERVER,
            SockOp::Recv {
                sock: conn,
                max: 1024,
            },
            10,
        )
        .await,
    );
    page.sock_ok(SERVER, send(conn, &got), 11).await;
    let mut echo = Vec::new();
    while echo.len() < got.len() {
        let recv = SockOp::Recv { sock: c, max: 1024 };
        echo.extend(data_of(page.sock_ok(CLIENT, recv, 6).await));
    }
    assert_eq!(echo, message);
    page.program_end(CLIENT).await;
    page.program_end(SERVER).await;
}

/// The instructor sees the name a student gives, and the tasks the
/// student's own programs did turn on as they happen; a change in one
/// session sends that session alone, not the whole list; a bad name is
/// refused with a sentence and changes nothing.
#[tokio::test]
async fn the_instructor_sees_names_and_progress_as_changes() {
    let bridge = start(Mode::Echo).await;
    let mut instructor = Instructor::open(&bridge).await;
    let mut a = Page::open(&bridge).await;
    let _b = Page::open(&bridge).await;
    instructor.until("both students", 2, |_| true).await;
    instructor.until("the first student", 1, |_| true).await;

    a.say(ClientMsg::SetName {
        name: "  E18123 ".into(),
    })
    .await;
    let named = instructor.until("A's name", 1, |s| s.name.is_some()).await;
    assert_eq!(named.name.as_deref(), Some("E18123"), "trimmed");
    assert_eq!(named.progress.count(), 0);
    let naming = instructor
        .log
        .iter()
        .rev()
        .find_map(|msg| match msg {
            WatchMsg::Changed { sessions, .. } => Some(sessions),
            _ => None,
        })
        .expect("the name came as a change");
    assert_eq!(
        naming.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![1],
        "only the session that changed is sent"
    );

    a.say(ClientMsg::SetName {
        name: "two\nlines".into(),
    })
    .await;
    let (reason, message) = a.until_refused().await;
    assert_eq!(reason, Refusal::BadMessage);
    assert!(message.contains("on one line"), "{message}");

    echo_task(&mut a).await;
    let done = instructor
        .until("all three tasks seen", 1, |s| s.progress.count() == 3)
        .await;
    assert_eq!(done.name.as_deref(), Some("E18123"), "the name stays");
    let b = instructor.list.iter().find(|s| s.id == 2).expect("B");
    assert_eq!((b.name.as_deref(), b.progress.count()), (None, 0));
}
