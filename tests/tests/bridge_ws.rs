//! The bridge end to end: a real bridge on port 0 (via
//! `bridge::app::Bridge::start`), driven by real tokio-tungstenite clients
//! over `/ws` and `/relay`, with real TCP sockets behind it.
//!
//! No sleeps and no fixed ports: every wait is for a message, with a
//! timeout so a broken bridge fails the test instead of hanging it.

use bridge::config::{AllowList, BridgeConfig, SessionLimits};
use e2e::page::{
    Page, WAIT, closed_port, http_get, outside_listener, refused_upgrade, start, start_with,
    stops_in_time, with_origin,
};
use futures_util::{SinkExt, StreamExt};
use protocol::{
    Bytes, ClientMsg, ConnId, Data, ErrorKind, Family, Lane, Mode, Refusal, ServerMsg, Step,
    StepKind, Target, Transport,
};
use rand::RngCore;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The `Connected` event's local address, and the server's `Accept` peer,
/// must be the same socket: that is how both lanes are linked.
fn assert_linked(page: &Page, conn: ConnId) {
    let local = page
        .events(Lane::Client, conn)
        .find_map(|event| match &event.step {
            Step::Connected { local, .. } => Some(local.clone()),
            _ => None,
        })
        .expect("connected");
    let peer = page
        .events(Lane::Server, conn)
        .find_map(|event| match &event.step {
            Step::Accept { peer, .. } => Some(peer.clone()),
            _ => None,
        })
        .expect("accept");
    assert_eq!(local, peer, "the server accepted our socket");
}

/// Task 1 on a private server: connect; the server accepts, prints the
/// lab's line, and closes; the client sees EOF. Both lanes, in order.
#[tokio::test]
async fn task1_connect_on_a_private_server() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.start_server(1, Mode::Connect, Transport::Tcp).await;
    page.connect(1, Target::Server { id: 1 }).await;
    page.until_step(Lane::Server, 1, StepKind::Close).await;
    page.until_step(Lane::Client, 1, StepKind::RecvEof).await;
    page.say(ClientMsg::Close { conn: 1 }).await;
    page.until_step(Lane::Client, 1, StepKind::Close).await;

    assert_eq!(
        page.steps(Lane::Client, 1),
        [
            StepKind::Socket,
            StepKind::Connect,
            StepKind::Connected,
            StepKind::RecvEof,
            StepKind::Close
        ]
    );
    assert_eq!(
        page.steps(Lane::Server, 1),
        [StepKind::Accept, StepKind::Print, StepKind::Close]
    );
    assert_linked(&page, 1);
    let print = page
        .events(Lane::Server, 1)
        .find_map(|e| match &e.step {
            Step::Print { text } => Some(text.clone()),
            _ => None,
        })
        .expect("print");
    assert!(
        print.starts_with("Connection from ('127.0.0.1', "),
        "{print}"
    );
    // The private server's own setup is shown too (not tied to a conn).
    let setup: Vec<_> = page
        .seen
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Trace(e) if e.lane == Lane::Server && e.conn.is_none() => {
                Some(e.step.kind())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        setup[..3],
        [StepKind::Socket, StepKind::Bind, StepKind::Listen]
    );
    bridge.stop().await.expect("clean stop");
}

/// A terminal's `nc` on a student's private server: nobody registered that
/// connection, yet its whole life shows on the session's server lane (with
/// no page connection id: it is not one of the page's), and the page's own
/// connection to the same server still carries its id on both lanes.
#[tokio::test]
async fn a_terminal_client_of_a_private_server_shows_on_its_session() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    let addr = page.start_server(1, Mode::Echo, Transport::Tcp).await;
    let mut terminal = TcpStream::connect(addr.as_str()).await.expect("connects");
    let terminal_addr = terminal.local_addr().expect("local").to_string();
    terminal.write_all(b"from nc\n").await.expect("writes");
    let mut echo = [0u8; 8];
    terminal.read_exact(&mut echo).await.expect("the echo");
    assert_eq!(&echo, b"from nc\n");
    drop(terminal);
    let accepted = page
        .until("the terminal's accept", |m| {
            matches!(m, ServerMsg::Trace(e)
                if matches!(&e.step, Step::Accept { peer, .. } if *peer == terminal_addr))
        })
        .await;
    let ServerMsg::Trace(accepted) = accepted else {
        unreachable!()
    };
    assert_eq!(accepted.conn, None, "not one of the page's connections");
    let server_conn = accepted.server_conn.expect("the server numbers it");
    page.until("the terminal's close", |m| {
        matches!(m, ServerMsg::Trace(e)
            if e.server_conn == Some(server_conn) && e.step.kind() == StepKind::Close)
    })
    .await;
    let terminal_events: Vec<_> = page
        .seen
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Trace(e) if e.lane == Lane::Server && e.server_conn == Some(server_conn) => {
                Some(e)
            }
            _ => None,
        })
        .collect();
    assert!(terminal_events.iter().all(|e| e.conn.is_none()));
    let kinds: Vec<_> = terminal_events.iter().map(|e| e.step.kind()).collect();
    assert_eq!(kinds[..2], [StepKind::Accept, StepKind::Print], "{kinds:?}");
    assert!(kinds.contains(&StepKind::Recv) && kinds.contains(&StepKind::Send));
    assert_eq!(kinds.last(), Some(&StepKind::Close), "{kinds:?}");

    page.connect(1, Target::Server { id: 1 }).await;
    page.send_text(1, "mine").await;
    page.until_step_with(Lane::Server, 1, StepKind::Recv, b"mine")
        .await;
    page.until_step_with(Lane::Client, 1, StepKind::Recv, b"mine")
        .await;
    assert_linked(&page, 1);
    bridge.stop().await.expect("clean stop");
}

/// Task 2 on a private server: the client receives the greeting, exactly.
#[tokio::test]
async fn task2_greet_on_a_private_server() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.say(ClientMsg::StartServer {
        server: 7,
        mode: Mode::Greet,
        transport: Transport::Tcp,
        family: Family::Ipv4,
        backlog: Some(5),
        greeting: Some("Thank you for connecting\n".into()),
    })
    .await;
    page.until("server_started", |m| {
        matches!(m, ServerMsg::ServerStarted { server: 7, .. })
    })
    .await;
    page.connect(3, Target::Server { id: 7 }).await;
    page.until_step(Lane::Client, 3, StepKind::RecvEof).await;
    page.until_step(Lane::Server, 3, StepKind::Close).await;
    page.say(ClientMsg::Close { conn: 3 }).await;
    page.until_step(Lane::Client, 3, StepKind::Close).await;

    assert_eq!(
        page.steps(Lane::Client, 3),
        [
            StepKind::Socket,
            StepKind::Connect,
            StepKind::Connected,
            StepKind::Recv,
            StepKind::RecvEof,
            StepKind::Close
        ]
    );
    assert_eq!(
        page.steps(Lane::Server, 3),
        [
            StepKind::Accept,
            StepKind::Print,
            StepKind::Send,
            StepKind::Close
        ]
    );
    assert_eq!(
        page.bytes(Lane::Client, 3, StepKind::Recv),
        b"Thank you for connecting\n"
    );
    assert_eq!(
        page.bytes(Lane::Server, 3, StepKind::Send),
        b"Thank you for connecting\n"
    );
    assert_linked(&page, 3);
    // Every event is stamped by the bridge, and each lane is in time order.
    for lane in [Lane::Client, Lane::Server] {
        let times: Vec<u64> = page.events(lane, 3).map(|e| e.at_us).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{lane:?}: {times:?}"
        );
    }
    bridge.stop().await.expect("clean stop");
}

/// Task 3 on a private server: send, the echo comes back, half-close, and
/// the server sees EOF and closes. Both lanes, with the exact bytes.
#[tokio::test]
async fn task3_echo_on_a_private_server() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.start_server(2, Mode::Echo, Transport::Tcp).await;
    page.connect(1, Target::Server { id: 2 }).await;
    page.until_step(Lane::Client, 1, StepKind::Connected).await;
    page.send_text(1, "hello, lab").await;
    page.until_step(Lane::Server, 1, StepKind::Send).await;
    while page.bytes(Lane::Client, 1, StepKind::Recv).len() < 10 {
        page.next().await;
    }
    page.say(ClientMsg::Shutdown { conn: 1 }).await;
    page.until_step(Lane::Client, 1, StepKind::RecvEof).await;
    page.until_step(Lane::Server, 1, StepKind::Close).await;
    page.say(ClientMsg::Close { conn: 1 }).await;
    page.until_step(Lane::Client, 1, StepKind::Close).await;

    assert_eq!(
        page.steps(Lane::Client, 1),
        [
            StepKind::Socket,
            StepKind::Connect,
            StepKind::Connected,
            StepKind::Send,
            StepKind::Recv,
            StepKind::Shutdown,
            StepKind::RecvEof,
            StepKind::Close
        ]
    );
    assert_eq!(
        page.steps(Lane::Server, 1),
        [
            StepKind::Accept,
            StepKind::Print,
            StepKind::Recv,
            StepKind::Send,
            StepKind::RecvEof,
            StepKind::Close
        ]
    );
    assert_eq!(page.bytes(Lane::Client, 1, StepKind::Send), b"hello, lab");
    assert_eq!(page.bytes(Lane::Client, 1, StepKind::Recv), b"hello, lab");
    assert_eq!(page.bytes(Lane::Server, 1, StepKind::Recv), b"hello, lab");
    assert_linked(&page, 1);
    bridge.stop().await.expect("clean stop");
}

/// The three tasks against the public lab server: the session sees the
/// server's side of *its own* connections only, not another client's.
#[tokio::test]
async fn the_three_tasks_on_the_public_server() {
    for mode in Mode::ALL {
        let bridge = start(mode).await;
        let mut page = Page::open(&bridge).await;
        page.connect(1, Target::Public).await;
        page.until_step(Lane::Client, 1, StepKind::Connected).await;
        page.until_step(Lane::Server, 1, StepKind::Accept).await;
        // Someone else (a terminal user) uses the public server meanwhile.
        let mut other = TcpStream::connect(bridge.lab_addr())
            .await
            .expect("connects");
        let other_addr = other.local_addr().expect("local").to_string();
        if mode == Mode::Echo {
            other.write_all(b"not yours").await.expect("writes");
            let mut buf = [0u8; 9];
            other.read_exact(&mut buf).await.expect("echo");
            page.send_text(1, "ping").await;
            page.until_step(Lane::Server, 1, StepKind::Send).await;
            page.say(ClientMsg::Shutdown { conn: 1 }).await;
        }
        page.until_step(Lane::Client, 1, StepKind::RecvEof).await;
        page.until_step(Lane::Server, 1, StepKind::Close).await;
        drop(other);
        let expected_server: &[StepKind] = match mode {
            Mode::Connect => &[StepKind::Accept, StepKind::Print, StepKind::Close],
            Mode::Greet => &[
                StepKind::Accept,
                StepKind::Print,
                StepKind::Send,
                StepKind::Close,
            ],
            Mode::Echo => &[
                StepKind::Accept,
                StepKind::Print,
                StepKind::Recv,
                StepKind::Send,
                StepKind::RecvEof,
                StepKind::Close,
            ],
        };
        assert_eq!(page.steps(Lane::Server, 1), expected_server, "{mode}");
        let expected_client: &[StepKind] = match mode {
            Mode::Connect => &[
                StepKind::Socket,
                StepKind::Connect,
                StepKind::Connected,
                StepKind::RecvEof,
            ],
            Mode::Greet => &[
                StepKind::Socket,
                StepKind::Connect,
                StepKind::Connected,
                StepKind::Recv,
                StepKind::RecvEof,
            ],
            Mode::Echo => &[
                StepKind::Socket,
                StepKind::Connect,
                StepKind::Connected,
                StepKind::Send,
                StepKind::Recv,
                StepKind::Shutdown,
                StepKind::RecvEof,
            ],
        };
        assert_eq!(page.steps(Lane::Client, 1), expected_client, "{mode}");
        assert_linked(&page, 1);
        if mode == Mode::Echo {
            assert_eq!(page.bytes(Lane::Server, 1, StepKind::Recv), b"ping");
        }
        // Nothing about the other client reached this session.
        for msg in &page.seen {
            if let ServerMsg::Trace(event) = msg {
                if event.lane == Lane::Server {
                    assert_eq!(event.conn, Some(1), "only our connection: {event:?}");
                    assert_eq!(event.server, Some(0));
                }
                if let Step::Accept { peer, .. } = &event.step {
                    assert_ne!(*peer, other_addr);
                }
            }
        }
        bridge.stop().await.expect("clean stop");
    }
}

/// A whole class on the public server: 50 sessions connect, one echoes.
/// The server routes each connection's events to the one session that made
/// it: the others get none of the echoing session's events, no session
/// subscribes to the public server's broadcast (so an event costs the same
/// however many students are connected), and closing a connection removes
/// its route.
#[tokio::test]
async fn public_server_events_go_only_to_the_session_that_made_the_connection() {
    const CLASS: usize = 50;
    const ECHOES: usize = 20;
    let bridge = start(Mode::Echo).await;
    let mut pages = Vec::new();
    for _ in 0..CLASS {
        let mut page = Page::open(&bridge).await;
        page.connect(1, Target::Public).await;
        page.until_step(Lane::Client, 1, StepKind::Connected).await;
        page.until_step(Lane::Server, 1, StepKind::Accept).await;
        pages.push(page);
    }
    let tracer = &bridge.lab.tracer;
    assert_eq!(
        tracer.subscriber_count(),
        0,
        "no session watches everything"
    );
    assert_eq!(tracer.route_count(), CLASS, "one route per connection");

    let (echoer, others) = pages.split_first_mut().expect("a class");
    for i in 0..ECHOES {
        echoer.send_text(1, &format!("echo {i:02}\n")).await;
        let want = (i + 1) * "echo 00\n".len();
        while echoer.bytes(Lane::Client, 1, StepKind::Recv).len() < want {
            echoer.next().await;
        }
    }
    // The echoer's last events were published before its last echo came
    // back. Each other session now ends its own connection and waits for
    // the server's close of it, which its queue delivers after anything the
    // server sent it earlier: had any of the echoer's events been sent to
    // it, it would have them by now.
    for page in others.iter_mut() {
        page.say(ClientMsg::Shutdown { conn: 1 }).await;
        page.until_step(Lane::Server, 1, StepKind::Close).await;
    }
    echoer.say(ClientMsg::Shutdown { conn: 1 }).await;
    echoer.until_step(Lane::Server, 1, StepKind::Close).await;

    let server_conn_of = |page: &Page| {
        page.seen_step(Lane::Server, 1, StepKind::Accept)
            .server_conn
            .expect("accept names the server's connection")
    };
    let echoer_conn = server_conn_of(echoer);
    let mut expected = vec![StepKind::Accept, StepKind::Print];
    expected.extend([StepKind::Recv, StepKind::Send].repeat(ECHOES));
    expected.extend([StepKind::RecvEof, StepKind::Close]);
    let echoer_steps: Vec<_> = echoer
        .events(Lane::Server, 1)
        .map(|e| e.step.kind())
        .collect();
    assert_eq!(echoer_steps, expected, "the echoer sees all of its own");
    for page in others.iter() {
        let own = server_conn_of(page);
        assert_ne!(own, echoer_conn);
        for msg in &page.seen {
            if let ServerMsg::Trace(event) = msg
                && event.lane == Lane::Server
            {
                assert_eq!(event.server_conn, Some(own), "only its own: {event:?}");
                assert_eq!(event.conn, Some(1), "tagged with the page's id");
            }
        }
        assert_eq!(
            page.steps(Lane::Server, 1),
            [
                StepKind::Accept,
                StepKind::Print,
                StepKind::RecvEof,
                StepKind::Close
            ]
        );
    }
    assert_eq!(bridge.metrics().dropped_events, 0);

    // Closing the client sockets removes their routes.
    for page in pages.iter_mut() {
        page.say(ClientMsg::Close { conn: 1 }).await;
        page.until_step(Lane::Client, 1, StepKind::Close).await;
    }
    assert_eq!(bridge.lab.tracer.route_count(), 0);
    bridge.stop().await.expect("clean stop");
}

/// The public UDP echo server routes too: the session sees the datagrams
/// of its own socket, tagged with its id, and not a terminal user's.
#[tokio::test]
async fn public_udp_events_go_only_to_the_session_that_sent_them() {
    let bridge = start(Mode::Echo).await;
    let udp_addr = bridge.lab.udp_addr.expect("a public UDP server");
    let mut page = Page::open(&bridge).await;
    page.say(ClientMsg::Connect {
        conn: 4,
        target: Target::Addr {
            addr: udp_addr.to_string(),
        },
        transport: Transport::Udp,
    })
    .await;
    page.until_step(Lane::Client, 4, StepKind::Connected).await;
    // A terminal user's datagram, echoed before ours is sent.
    let other = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("binds");
    other.send_to(b"not yours", udp_addr).await.expect("sends");
    let mut buf = [0u8; 16];
    other.recv_from(&mut buf).await.expect("echoed");
    page.send_text(4, "ours").await;
    page.until_step(Lane::Server, 4, StepKind::SendTo).await;
    page.until_step(Lane::Client, 4, StepKind::RecvFrom).await;
    let other_addr = other.local_addr().expect("local").to_string();
    for msg in &page.seen {
        if let ServerMsg::Trace(event) = msg
            && event.lane == Lane::Server
        {
            assert_eq!(event.conn, Some(4), "only ours: {event:?}");
            if let Step::RecvFrom { peer, .. } | Step::SendTo { peer, .. } = &event.step {
                assert_ne!(*peer, other_addr);
            }
        }
    }
    assert_eq!(
        page.steps(Lane::Server, 4),
        [StepKind::RecvFrom, StepKind::SendTo]
    );
    assert_eq!(
        bridge.lab.udp_tracer.as_ref().map(|t| t.subscriber_count()),
        Some(0)
    );
    bridge.stop().await.expect("clean stop");
}

/// UDP: a private echo server answers a connected UDP socket's datagram.
#[tokio::test]
async fn udp_echo_on_a_private_server() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.start_server(1, Mode::Echo, Transport::Udp).await;
    page.say(ClientMsg::Connect {
        conn: 1,
        target: Target::Server { id: 1 },
        transport: Transport::Udp,
    })
    .await;
    page.until_step(Lane::Client, 1, StepKind::Connected).await;
    page.send_text(1, "dgram").await;
    let event = page.until_step(Lane::Client, 1, StepKind::RecvFrom).await;
    assert_eq!(event.step.data(), Some(&Bytes(b"dgram".to_vec())));
    let server = page.until_step(Lane::Server, 1, StepKind::SendTo).await;
    assert_eq!(server.server, Some(1));
    bridge.stop().await.expect("clean stop");
}

/// A target that is neither a lab server nor allowed is refused, naming
/// the rule, on both the reply and the client lane; an allowed one works.
#[tokio::test]
async fn only_allowed_targets_are_reachable() {
    let listener = outside_listener().await;
    let allowed = listener.local_addr().expect("addr").to_string();
    let config = BridgeConfig {
        allow_targets: AllowList::new([allowed.as_str()]),
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.connect(
        1,
        Target::Addr {
            addr: "127.0.0.1:9".into(),
        },
    )
    .await;
    let (reason, message) = page.until_refused().await;
    assert_eq!(reason, Refusal::NotAllowed);
    assert!(message.contains("--allow-target"), "{message}");
    assert!(message.contains("not an open proxy"), "{message}");
    let event = page.until_step(Lane::Client, 1, StepKind::Error).await;
    assert!(matches!(
        event.step,
        Step::Error {
            kind: ErrorKind::NotAllowed,
            ..
        }
    ));

    page.connect(
        2,
        Target::Addr {
            addr: allowed.clone(),
        },
    )
    .await;
    let (mut accepted, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("in time")
        .expect("accepts");
    page.until_step(Lane::Client, 2, StepKind::Connected).await;
    accepted.write_all(b"hi").await.expect("writes");
    page.until_step(Lane::Client, 2, StepKind::Recv).await;
    bridge.stop().await.expect("clean stop");
}

/// Connecting where nothing listens is an error event with the OS's kind
/// (connection refused), then close; the session goes on.
#[tokio::test]
async fn connection_refused_is_an_event() {
    let addr = closed_port().await;
    let config = BridgeConfig {
        allow_targets: AllowList::new([addr.as_str()]),
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.connect(1, Target::Addr { addr }).await;
    let event = page.until_step(Lane::Client, 1, StepKind::Error).await;
    // The event names the call that failed, as a student would say it.
    assert_eq!(event.step.label(), "connect() failed: Connection refused");
    let Step::Error { kind, failed, .. } = event.step else {
        unreachable!()
    };
    assert_eq!(kind, ErrorKind::ConnectionRefused);
    assert_eq!(failed, Some(protocol::Call::Connect));
    assert!(!kind.explanation().is_empty());
    page.until_step(Lane::Client, 1, StepKind::Close).await;
    page.start_server(1, Mode::Echo, Transport::Tcp).await;
    bridge.stop().await.expect("clean stop");
}

/// Malformed JSON, an unknown command, a binary frame, unknown ids: each a
/// `refused` with a reason, and the session carries on; a second session
/// is untouched throughout.
#[tokio::test]
async fn bad_input_is_refused_and_the_session_goes_on() {
    let bridge = start(Mode::Echo).await;
    let mut bystander = Page::open(&bridge).await;
    let mut page = Page::open(&bridge).await;

    page.say_raw(Message::text("{not json")).await;
    assert_eq!(page.until_refused().await.0, Refusal::BadMessage);
    page.say_raw(Message::text(r#"{"type":"launch_missiles"}"#))
        .await;
    let (reason, message) = page.until_refused().await;
    assert_eq!(reason, Refusal::BadMessage);
    assert!(message.contains("launch_missiles"), "{message}");
    page.say_raw(Message::binary(vec![0u8, 1, 2])).await;
    let (reason, message) = page.until_refused().await;
    assert_eq!(reason, Refusal::BadMessage);
    assert!(message.contains("binary"), "{message}");
    page.send_text(42, "to nowhere").await;
    assert_eq!(page.until_refused().await.0, Refusal::Unknown);
    page.say(ClientMsg::StopServer { server: 9 }).await;
    assert_eq!(page.until_refused().await.0, Refusal::Unknown);
    page.say(ClientMsg::StartServer {
        server: 0,
        mode: Mode::Echo,
        transport: Transport::Tcp,
        family: Family::Ipv4,
        backlog: None,
        greeting: None,
    })
    .await;
    assert_eq!(page.until_refused().await.0, Refusal::InUse);

    // Still a working session, and so is the other one.
    page.start_server(1, Mode::Echo, Transport::Tcp).await;
    bystander.start_server(1, Mode::Echo, Transport::Tcp).await;
    bridge.stop().await.expect("clean stop");
}

/// A page that does not start with our hello (or names another version)
/// is refused (`version`) and closed with 1002.
#[tokio::test]
async fn a_wrong_hello_is_refused_and_closed() {
    let bridge = start(Mode::Echo).await;
    let mut bystander = Page::open(&bridge).await;
    for first in [
        serde_json::to_string(&ClientMsg::Hello { version: 99 }).expect("json"),
        serde_json::to_string(&ClientMsg::StopServer { server: 1 }).expect("json"),
        "garbage".to_string(),
    ] {
        let mut page = Page::open_silent(&bridge).await;
        page.say_raw(Message::text(first)).await;
        assert_eq!(page.until_refused().await.0, Refusal::Version);
        let (code, _) = page.closed().await;
        assert_eq!(code, CloseCode::Protocol);
    }
    bystander.start_server(1, Mode::Echo, Transport::Tcp).await;
    bridge.stop().await.expect("clean stop");
}

/// A message over --max-message-bytes closes that session with 1009 (and a
/// `too_large` refusal); other sessions are untouched.
#[tokio::test]
async fn an_oversize_message_closes_with_1009() {
    let config = BridgeConfig {
        limits: SessionLimits {
            max_message_bytes: 4096,
            ..SessionLimits::default()
        },
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let mut bystander = Page::open(&bridge).await;
    let mut page = Page::open(&bridge).await;
    let huge = ClientMsg::Send {
        conn: 1,
        data: Data::Text("x".repeat(10_000)),
    };
    page.say(huge).await;
    let (code, reason) = page.closed().await;
    assert_eq!(code, CloseCode::Size);
    assert!(reason.contains("4096"), "{reason}");
    assert!(
        page.seen.iter().any(|m| matches!(
            m,
            ServerMsg::Refused {
                reason: Refusal::TooLarge,
                ..
            }
        )),
        "{:?}",
        page.seen
    );
    bystander.start_server(1, Mode::Echo, Transport::Tcp).await;
    bridge.stop().await.expect("clean stop");
}

/// Servers, connections and sessions are limited, each with a clear refusal.
#[tokio::test]
async fn limits_are_enforced() {
    let config = BridgeConfig {
        limits: SessionLimits {
            max_sessions: 2,
            max_servers_per_session: 1,
            max_connections_per_session: 1,
            ..SessionLimits::default()
        },
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.start_server(1, Mode::Echo, Transport::Tcp).await;
    page.say(ClientMsg::StartServer {
        server: 2,
        mode: Mode::Echo,
        transport: Transport::Tcp,
        family: Family::Ipv4,
        backlog: None,
        greeting: None,
    })
    .await;
    assert_eq!(page.until_refused().await.0, Refusal::Limit);
    page.connect(1, Target::Server { id: 1 }).await;
    page.until_step(Lane::Client, 1, StepKind::Connected).await;
    page.connect(2, Target::Public).await;
    assert_eq!(page.until_refused().await.0, Refusal::Limit);
    page.connect(1, Target::Public).await;
    // Conn 1 is open, so its id is in use (checked before the count).
    let (reason, _) = page.until_refused().await;
    assert!(matches!(reason, Refusal::InUse | Refusal::Limit));

    let _second = Page::open(&bridge).await;
    let (status, _) = refused_upgrade(bridge.ws_url()).await;
    assert_eq!(status, 503);
    bridge.stop().await.expect("clean stop");
}

/// A browser that stops reading while the target keeps sending: the
/// bridge stops reading the socket, and its queue never exceeds
/// --max-buffered-bytes. When the browser reads again, data flows again.
#[tokio::test]
async fn a_stalled_browser_gets_backpressure_not_buffering() {
    // An allowed target that streams bytes for as long as anyone reads.
    let source = outside_listener().await;
    let target = source.local_addr().expect("addr").to_string();
    let (stalled_tx, stalled_rx) = tokio::sync::oneshot::channel();
    let streamer = tokio::spawn(async move {
        let (mut socket, _) = source.accept().await.expect("accepts");
        let chunk = vec![b'z'; 16 * 1024];
        let mut sent = 0usize;
        let mut stalled_tx = Some(stalled_tx);
        loop {
            // A write that cannot finish for a while means every buffer on
            // the way (the bridge's included) is full: report how much got
            // out, then keep pushing.
            match tokio::time::timeout(Duration::from_millis(500), socket.write_all(&chunk)).await {
                Ok(Ok(())) => sent += chunk.len(),
                Ok(Err(_)) => return sent,
                Err(_) => {
                    if let Some(tx) = stalled_tx.take() {
                        let _ = tx.send(sent);
                    }
                }
            }
        }
    });
    let limit = 64 * 1024;
    let config = BridgeConfig {
        allow_targets: AllowList::new([target.as_str()]),
        limits: SessionLimits {
            max_buffered_bytes: limit,
            ..SessionLimits::default()
        },
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    page.connect(1, Target::Addr { addr: target }).await;
    page.until_step(Lane::Client, 1, StepKind::Recv).await;
    // Now the page stops reading, and the stream stalls.
    let sent = tokio::time::timeout(Duration::from_secs(60), stalled_rx)
        .await
        .expect("the stream stalls: backpressure reached the source")
        .expect("streamer");
    let metrics = bridge.metrics();
    assert!(
        metrics.peak_session_queued_to_page_bytes <= limit,
        "{metrics:?} (limit {limit})"
    );
    assert!(metrics.queued_to_page_bytes <= limit, "{metrics:?}");
    assert!(
        metrics.queued_to_page_bytes > 0,
        "the queue is in use: {metrics:?}"
    );
    assert!(sent > 0);
    // Reading again makes it flow again.
    let before = page.bytes(Lane::Client, 1, StepKind::Recv).len();
    while page.bytes(Lane::Client, 1, StepKind::Recv).len() < before + 1024 * 1024 {
        page.next().await;
    }
    // The /metrics endpoint says the same, as JSON.
    let body = http_get(bridge.http_addr, "/metrics").await;
    assert!(body.contains("peak_session_queued_to_page_bytes"), "{body}");
    bridge.stop().await.expect("clean stop");
    streamer.abort();
}

/// An idle session is closed (1001) after --session-idle-timeout.
#[tokio::test]
async fn an_idle_session_is_closed() {
    let config = BridgeConfig {
        limits: SessionLimits {
            idle_timeout: Duration::from_millis(300),
            ..SessionLimits::default()
        },
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    let (code, reason) = page.closed().await;
    assert_eq!(code, CloseCode::Away);
    assert!(reason.contains("without a message"), "{reason}");
    bridge.stop().await.expect("clean stop");
}

/// A /relay with no bytes either way for --session-idle-timeout is closed
/// (1001, saying why); one that carries bytes all along stays open past
/// that time. No time window is slept through: the busy relay echoes until
/// the quiet one's close arrives, then must still echo.
#[tokio::test]
async fn an_idle_relay_is_closed_and_a_busy_one_is_not() {
    let idle = Duration::from_millis(300);
    let config = BridgeConfig {
        limits: SessionLimits {
            idle_timeout: idle,
            ..SessionLimits::default()
        },
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let url = format!("ws://{}/relay/{}", bridge.http_addr, bridge.lab_addr());
    // The quiet relay's idle time counts from its opening: note the time
    // before the handshake starts, so a slow second handshake cannot make
    // the close look early.
    let opened = tokio::time::Instant::now();
    let (mut quiet, _) = connect_async(url.clone()).await.expect("relay opens");
    let (mut busy, _) = connect_async(url).await.expect("relay opens");

    let echo = async |busy: &mut e2e::page::Ws| {
        busy.send(Message::binary(b"x".to_vec()))
            .await
            .expect("sends");
        match tokio::time::timeout(WAIT, busy.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Binary(bytes))) => assert_eq!(&bytes[..], b"x"),
            other => panic!("the busy relay should echo, got {other:?}"),
        }
    };
    let frame = {
        let mut quiet_closed = std::pin::pin!(tokio::time::timeout(WAIT, quiet.next()));
        loop {
            tokio::select! {
                frame = &mut quiet_closed => break frame.expect("the quiet relay closes in time"),
                () = echo(&mut busy) => {}
            }
        }
    };
    match frame {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, CloseCode::Away);
            assert!(frame.reason.contains("idle for 300 ms"), "{}", frame.reason);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert!(opened.elapsed() >= idle, "not closed before its time");
    // The busy one, open all along, still echoes.
    echo(&mut busy).await;
    bridge.stop().await.expect("clean stop");
}

/// Shutdown with live sessions (and a relay): every client gets a close
/// frame 1001 "bridge shutting down", and the bridge stops in time.
#[tokio::test]
async fn shutdown_closes_every_session() {
    let bridge = start(Mode::Echo).await;
    let mut pages = Vec::new();
    for _ in 0..3 {
        let mut page = Page::open(&bridge).await;
        page.start_server(1, Mode::Echo, Transport::Tcp).await;
        page.connect(1, Target::Server { id: 1 }).await;
        page.until_step(Lane::Client, 1, StepKind::Connected).await;
        pages.push(page);
    }
    let (mut relay, _) = connect_async(format!(
        "ws://{}/relay?target={}",
        bridge.http_addr,
        bridge.lab_addr()
    ))
    .await
    .expect("relay opens");
    bridge.shutdown.cancel();
    for page in &mut pages {
        let (code, reason) = page.closed().await;
        assert_eq!(code, CloseCode::Away);
        assert_eq!(reason, "bridge shutting down");
    }
    let frame = tokio::time::timeout(WAIT, relay.next())
        .await
        .expect("in time");
    assert!(
        matches!(&frame, Some(Ok(Message::Close(Some(f)))) if f.code == CloseCode::Away),
        "{frame:?}"
    );
    stops_in_time(bridge).await;
}

/// /relay carries 1 MiB of random bytes to the echo server and back,
/// byte for byte, and answers the `binary` subprotocol.
#[tokio::test]
async fn relay_round_trips_a_mebibyte() {
    let bridge = start(Mode::Echo).await;
    let url = format!(
        "ws://{}/relay?target={}",
        bridge.http_addr,
        bridge.lab_addr()
    );
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "binary".parse().expect("header"));
    let (ws, response) = connect_async(request).await.expect("relay opens");
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.as_bytes()),
        Some(&b"binary"[..])
    );
    let mut data = vec![0u8; 1 << 20];
    rand::rng().fill_bytes(&mut data);
    let (mut tx, mut rx) = ws.split();
    let sending = {
        let data = data.clone();
        tokio::spawn(async move {
            // Frames of every size, from 1 byte to 32 KiB, fed many at a
            // time: the relay writes a single frame as it is and several
            // waiting frames together; both must keep the bytes in order.
            let sizes = [1, 7, 32, 100, 1500, 32 * 1024];
            let mut rest = &data[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = sizes[i % sizes.len()].min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                tx.feed(Message::binary(chunk.to_vec()))
                    .await
                    .expect("sends");
                rest = tail;
                i += 1;
                if i % 64 == 0 {
                    tx.flush().await.expect("flushes");
                }
            }
            tx.flush().await.expect("flushes");
            tx
        })
    };
    let mut back = Vec::with_capacity(data.len());
    while back.len() < data.len() {
        match tokio::time::timeout(WAIT, rx.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Binary(bytes))) => back.extend_from_slice(&bytes),
            other => panic!("expected binary, got {other:?}"),
        }
    }
    assert!(back == data, "the bytes came back unchanged");
    let mut tx = sending.await.expect("sender");
    tx.send(Message::Close(None)).await.expect("closes");
    bridge.stop().await.expect("clean stop");
}

/// The path form `/relay/HOST:PORT` works too.
#[tokio::test]
async fn relay_path_form() {
    let bridge = start(Mode::Echo).await;
    let url = format!("ws://{}/relay/{}", bridge.http_addr, bridge.lab_addr());
    let (mut ws, _) = connect_async(url).await.expect("relay opens");
    ws.send(Message::binary(b"abc".to_vec()))
        .await
        .expect("sends");
    match tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("in time")
    {
        Some(Ok(Message::Binary(bytes))) => assert_eq!(&bytes[..], b"abc"),
        other => panic!("expected binary, got {other:?}"),
    }
    bridge.stop().await.expect("clean stop");
}

/// /relay to a target that is not allowed: 403 before any upgrade.
#[tokio::test]
async fn relay_refuses_targets_not_allowed() {
    let bridge = start(Mode::Echo).await;
    for target in ["127.0.0.1:22", "example.org:80"] {
        let url = format!("ws://{}/relay?target={target}", bridge.http_addr);
        let (status, body) = refused_upgrade(url).await;
        assert_eq!(status, 403);
        assert!(body.contains("--allow-target"), "{body}");
    }
    bridge.stop().await.expect("clean stop");
}

/// A WebSocket from a foreign Origin is refused: /relay with a 403, /ws
/// with close code 1008 (a page can read that); the page's own origin and
/// --allow-origin entries are let in.
#[tokio::test]
async fn a_foreign_origin_is_refused() {
    let config = BridgeConfig {
        allow_origins: vec!["http://192.168.1.5:8000".into()],
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let relay = format!(
        "ws://{}/relay?target={}",
        bridge.http_addr,
        bridge.lab_addr()
    );
    let (status, _) = refused_upgrade(with_origin(&relay, "https://evil.example")).await;
    assert_eq!(status, 403);
    let (mut ws, _) = connect_async(with_origin(&bridge.ws_url(), "https://evil.example"))
        .await
        .expect("opens, to say why it closes");
    assert_eq!(e2e::page::closed(&mut ws).await.0, CloseCode::Policy);
    for url in [bridge.ws_url(), relay] {
        let own = format!("http://{}", bridge.http_addr);
        connect_async(with_origin(&url, &own))
            .await
            .expect("own origin");
        connect_async(with_origin(&url, "http://192.168.1.5:8000"))
            .await
            .expect("listed origin");
    }
    bridge.stop().await.expect("clean stop");
}

/// Without a built page, `/` explains how to build it instead of a 404.
#[tokio::test]
async fn an_unbuilt_page_says_how_to_build_it() {
    let bridge = start(Mode::Echo).await;
    let body = http_get(bridge.http_addr, "/").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("not built"), "{body}");
    bridge.stop().await.expect("clean stop");
}

/// After "stop server", a client aimed at that server connects to the
/// port where it listened, and the operating system refuses it: a real
/// `ConnectionRefused` on the client lane, not a refusal by the bridge.
#[tokio::test]
async fn a_stopped_server_refuses_like_a_closed_port() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    let addr = page.start_server(1, Mode::Echo, Transport::Tcp).await;
    page.say(ClientMsg::StopServer { server: 1 }).await;
    page.until("server 1 stopped", |m| {
        matches!(m, ServerMsg::ServerStopped { server: 1 })
    })
    .await;
    page.connect(7, Target::Server { id: 1 }).await;
    let connect = page.until_step(Lane::Client, 7, StepKind::Connect).await;
    assert_eq!(
        connect.step,
        Step::Connect {
            target: addr.clone()
        },
        "connect() goes to where the server listened"
    );
    let failed = page.until_step(Lane::Client, 7, StepKind::Error).await;
    match failed.step {
        Step::Error {
            kind, failed: call, ..
        } => {
            assert_eq!(kind, protocol::ErrorKind::ConnectionRefused);
            assert_eq!(call, Some(protocol::Call::Connect));
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(
        !page
            .after_hello()
            .iter()
            .any(|m| matches!(m, ServerMsg::Refused { .. })),
        "the bridge itself refused nothing"
    );
    bridge.stop().await.expect("clean stop");
}

/// A page that asks for lines (`/ws?lines=true`) gets a burst of the
/// bridge's messages (an echo's events on both lanes) in one frame, one
/// JSON message to a line, each readable on its own. (A client that does
/// not ask, as every other test here, gets one message a frame.)
#[tokio::test]
async fn a_page_that_asks_for_lines_gets_a_burst_in_one_frame() {
    let bridge = start(Mode::Echo).await;
    let url = format!("{}?{}", bridge.ws_url(), protocol::LINES_QUERY);
    let (mut ws, _) = connect_async(url).await.expect("ws opens");
    let say = |msg: ClientMsg| Message::text(serde_json::to_string(&msg).expect("json"));
    ws.send(say(ClientMsg::Hello {
        version: protocol::PROTOCOL_VERSION,
    }))
    .await
    .expect("sends");
    ws.send(say(ClientMsg::StartServer {
        server: 1,
        mode: Mode::Echo,
        transport: Transport::Tcp,
        family: Family::Ipv4,
        backlog: None,
        greeting: None,
    }))
    .await
    .expect("sends");
    ws.send(say(ClientMsg::Connect {
        conn: 1,
        target: Target::Server { id: 1 },
        transport: Transport::Tcp,
    }))
    .await
    .expect("sends");
    // Echo until one frame has held two messages or more (an echo's four
    // events mostly leave in one write); every line must read as a message.
    let mut most_lines = 0;
    let mut round = 0;
    let mut seen = Vec::new();
    while most_lines < 2 && round < 100 {
        round += 1;
        let text = format!("round {round}");
        ws.send(say(ClientMsg::Send {
            conn: 1,
            data: Data::Text(text.clone()),
        }))
        .await
        .expect("sends");
        // Until the client lane's recv of this round is in.
        'round: loop {
            let frame = tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("a frame in time")
                .expect("open")
                .expect("a good frame");
            let Message::Text(frame) = frame else {
                continue;
            };
            let lines: Vec<&str> = frame.split('\n').collect();
            most_lines = most_lines.max(lines.len());
            for line in lines {
                let msg: ServerMsg = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not one message a line: {e}: {line}"));
                let done = matches!(&msg, ServerMsg::Trace(event)
                    if event.lane == Lane::Client
                        && event.step.data().is_some_and(|d| d.0 == text.as_bytes())
                        && event.step.kind() == StepKind::Recv);
                seen.push(msg);
                if done {
                    break 'round;
                }
            }
        }
    }
    assert!(
        most_lines >= 2,
        "{round} echoes, never two messages in a frame; seen: {seen:#?}"
    );
    bridge.stop().await.expect("clean stop");
}
