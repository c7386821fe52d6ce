//! The lab server on real sockets: each task with a tokio client, the exact
//! bytes and the exact trace; then the bounds, bad input and errors.

mod common;

use bridge::lab::{LabArgs, LabServer, UdpEchoServer, start_public};
use common::*;
use protocol::{ErrorKind, Family, Mode, Step, Transport};
use rand::Rng;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Task 1: the server accepts, prints the lab's line and closes; the client
/// reads end-of-file and not one byte.
#[tokio::test]
async fn connect_mode_accepts_prints_and_closes() {
    let (lab, mut events) = start(config(Mode::Connect, |_| {}));
    let mut client = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    let me = client.local_addr().expect("local addr");
    let mut got = Vec::new();
    within("EOF", client.read_to_end(&mut got))
        .await
        .expect("read");
    assert!(got.is_empty());

    let mut want = opening(lab.addr, 5);
    want.extend(accepted(1, me, lab.addr));
    want.push((Some(1), Step::Close));
    assert_eq!(until_closed(&mut events, 1).await, want);
    lab.stop().await;
    assert_eq!(next(&mut events).await, (None, Step::Close));
}

/// Task 2: the client receives exactly the greeting, then end-of-file.
#[tokio::test]
async fn greet_mode_sends_the_greeting_and_closes() {
    let (lab, mut events) = start(config(Mode::Greet, |c| {
        c.greeting = b"Welcome to the server!\n".to_vec()
    }));
    let mut client = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    let me = client.local_addr().expect("local addr");
    let mut got = Vec::new();
    within("the greeting", client.read_to_end(&mut got))
        .await
        .expect("read");
    assert_eq!(got, b"Welcome to the server!\n");

    let mut want = opening(lab.addr, 5);
    want.extend(accepted(1, me, lab.addr));
    want.push(send(1, b"Welcome to the server!\n"));
    want.push((Some(1), Step::Close));
    assert_eq!(until_closed(&mut events, 1).await, want);
    lab.stop().await;
}

/// Task 3: each line comes back as sent; when the client shuts down its
/// side, the server's recv() returns 0 bytes and the server closes too.
#[tokio::test]
async fn echo_mode_sends_back_every_byte_until_the_client_closes() {
    let (lab, mut events) = start(config(Mode::Echo, |_| {}));
    let mut client = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    let me = client.local_addr().expect("local addr");
    for line in [&b"hello\n"[..], b"\x00\xffbinary too\n"] {
        client.write_all(line).await.expect("send");
        let mut echo = vec![0; line.len()];
        within("the echo", client.read_exact(&mut echo))
            .await
            .expect("read");
        assert_eq!(echo, line);
    }
    client.shutdown().await.expect("shutdown(SHUT_WR)");
    let mut rest = Vec::new();
    within("EOF", client.read_to_end(&mut rest))
        .await
        .expect("read");
    assert!(rest.is_empty());

    let mut want = opening(lab.addr, 5);
    want.extend(accepted(1, me, lab.addr));
    want.push(recv(1, b"hello\n"));
    want.push(send(1, b"hello\n"));
    want.push(recv(1, b"\x00\xffbinary too\n"));
    want.push(send(1, b"\x00\xffbinary too\n"));
    want.push((Some(1), Step::RecvEof));
    want.push((Some(1), Step::Close));
    assert_eq!(until_closed(&mut events, 1).await, want);
    lab.stop().await;
    assert_eq!(next(&mut events).await, (None, Step::Close));
}

/// The same echo over IPv6 on `[::1]`, printed the way Python prints an
/// IPv6 peer's host and port. Skipped only if this machine has no `::1`.
#[tokio::test]
async fn echo_works_over_ipv6() {
    let (tracer, mut events) = tracer(1);
    let server = match LabServer::bind(
        "[::1]:0".parse().expect("literal"),
        config(Mode::Echo, |_| {}),
        tracer,
    ) {
        Ok(server) => server,
        Err(bridge::Error::Listen { source, .. })
            if source.kind() == io::ErrorKind::AddrNotAvailable =>
        {
            skipped(
                "echo_works_over_ipv6",
                &format!("this machine has no IPv6 loopback (::1): {source}"),
            );
            return;
        }
        Err(err) => panic!("bind [::1]:0: {err}"),
    };
    let lab = Running::spawn(server);
    let mut client = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    let me = client.local_addr().expect("local addr");
    client.write_all(b"over v6\n").await.expect("send");
    let mut echo = [0; 8];
    within("the echo", client.read_exact(&mut echo))
        .await
        .expect("read");
    assert_eq!(&echo, b"over v6\n");
    drop(client);

    let seen = until_closed(&mut events, 1).await;
    assert_eq!(seen[..3], opening(lab.addr, 5)[..]);
    assert_eq!(
        seen[0].1,
        Step::Socket {
            family: Family::Ipv6,
            transport: Transport::Tcp
        }
    );
    assert_eq!(seen[3..5], accepted(1, me, lab.addr)[..]);
    assert_eq!(
        seen[4].1,
        Step::Print {
            text: format!(
                "Connection from ('::1', {}, 0, 0) has been established.",
                me.port()
            )
        }
    );
    lab.stop().await;
}

/// UDP echo: one datagram back per datagram, traced as recvfrom/sendto
/// with the sender's address (no listen, no accept, no connection).
#[tokio::test]
async fn udp_echo_round_trip() {
    let (tracer, mut events) = tracer(2);
    let server = UdpEchoServer::bind(([127, 0, 0, 1], 0).into(), tracer)
        .await
        .expect("bind udp");
    let addr = server.local_addr();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));

    let client = UdpSocket::bind("127.0.0.1:0").await.expect("client bind");
    let me = client.local_addr().expect("local addr");
    for datagram in [&b"ping"[..], b"pong?"] {
        client.send_to(datagram, addr).await.expect("sendto");
        let mut buf = [0; 64];
        let (n, from) = within("the echo", client.recv_from(&mut buf))
            .await
            .expect("recvfrom");
        assert_eq!((&buf[..n], from), (datagram, addr));
    }
    shutdown.cancel();
    within("the server to stop", task).await.expect("no panic");

    let peer = me.to_string();
    let mut want: Vec<Seen> = vec![
        (
            None,
            Step::Socket {
                family: Family::Ipv4,
                transport: Transport::Udp,
            },
        ),
        (
            None,
            Step::Bind {
                addr: addr.to_string(),
                asked: None,
            },
        ),
    ];
    for datagram in [&b"ping"[..], b"pong?"] {
        want.push((
            None,
            Step::RecvFrom {
                peer: peer.clone(),
                data: datagram.into(),
            },
        ));
        want.push((
            None,
            Step::SendTo {
                peer: peer.clone(),
                data: datagram.into(),
            },
        ));
    }
    want.push((None, Step::Close));
    assert_eq!(
        until(&mut events, |(_, step)| *step == Step::Close).await,
        want
    );
}

/// Binding a second server to a port another server listens on fails with
/// "address in use", both as the `Err` and as an error step in its trace.
#[tokio::test]
async fn second_server_on_the_same_port_is_addr_in_use() {
    let (first, _events) = start(config(Mode::Echo, |_| {}));
    let (tracer, mut events) = tracer(2);
    let err = LabServer::bind(first.addr, config(Mode::Echo, |_| {}), tracer)
        .expect_err("the port is taken");
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&first.addr.to_string()), "{err}");
    assert_eq!(
        next(&mut events).await.1,
        Step::Socket {
            family: Family::Ipv4,
            transport: Transport::Tcp
        }
    );
    assert!(matches!(
        next(&mut events).await,
        (
            None,
            Step::Error {
                kind: ErrorKind::AddrInUse,
                ..
            }
        )
    ));
    first.stop().await;
}

/// 1 MiB of random bytes (every byte value, no line structure) comes back
/// identical. The client writes and reads at once, as it must: a client
/// that writes everything before reading would fill both directions'
/// buffers and wait on the server forever.
#[tokio::test]
async fn one_mebibyte_of_random_bytes_comes_back_identical() {
    let (lab, _events) = start(config(Mode::Echo, |_| {}));
    let mut data = vec![0u8; 1024 * 1024];
    rand::rng().fill(&mut data[..]);
    let stream = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let sent = data.clone();
    let writing = tokio::spawn(async move {
        writer.write_all(&sent).await?;
        writer.shutdown().await
    });
    let mut echo = Vec::with_capacity(data.len());
    within("the whole echo", reader.read_to_end(&mut echo))
        .await
        .expect("read");
    within("the writer", writing)
        .await
        .expect("no panic")
        .expect("write");
    assert_eq!(echo.len(), data.len());
    assert!(echo == data, "the echo differs from what was sent");
    lab.stop().await;
}

/// A client that resets its connection (SO_LINGER 0, then close) is
/// traced as "connection reset by peer", and the server goes on serving
/// the next client.
#[tokio::test]
async fn a_reset_is_reported_and_the_server_keeps_serving() {
    let (lab, mut events) = start(config(Mode::Echo, |_| {}));
    let mut rude = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    rude.write_all(b"hi\n").await.expect("send");
    let mut echo = [0; 3];
    within("the echo", rude.read_exact(&mut echo))
        .await
        .expect("read");
    // The server is now waiting in recv(). Close with a reset, not a FIN.
    rude.set_zero_linger().expect("SO_LINGER 0");
    drop(rude);
    let seen = until_closed(&mut events, 1).await;
    assert!(
        matches!(
            seen.last_chunk::<2>(),
            Some([
                (
                    Some(1),
                    Step::Error {
                        kind: ErrorKind::ConnectionReset,
                        ..
                    }
                ),
                _
            ])
        ),
        "{seen:#?}"
    );

    // Mid-transfer: 64 KiB sent, none of the echo read, then a reset. The
    // server meets it in recv() (reset) or in send() (reset, or broken pipe
    // if the reset was already reported): which one depends on timing.
    let mut rude = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    rude.write_all(&[b'x'; 64 * 1024]).await.expect("send");
    rude.set_zero_linger().expect("SO_LINGER 0");
    drop(rude);
    let seen = until_closed(&mut events, 2).await;
    assert!(
        matches!(
            seen.last_chunk::<2>(),
            Some([
                (
                    Some(2),
                    Step::Error {
                        kind: ErrorKind::ConnectionReset | ErrorKind::BrokenPipe,
                        ..
                    }
                ),
                _
            ])
        ),
        "{seen:#?}"
    );

    let mut polite = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    polite.write_all(b"still there?\n").await.expect("send");
    let mut echo = [0; 13];
    within("the echo", polite.read_exact(&mut echo))
        .await
        .expect("read");
    assert_eq!(&echo, b"still there?\n");
    lab.stop().await;
}

/// With `max_connections` 1 the server serves one client at a time: the
/// second is accepted only after the first has been closed.
#[tokio::test]
async fn max_connections_makes_clients_take_turns() {
    let (lab, mut events) = start(config(Mode::Echo, |c| c.limits.max_connections = 1));
    let mut first = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    first.write_all(b"1\n").await.expect("send");
    let mut echo = [0; 2];
    within("the echo", first.read_exact(&mut echo))
        .await
        .expect("read");
    // The second client connects (the kernel completes the handshake and
    // queues it) and sends, while the first still holds the only place.
    let mut second = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    second.write_all(b"2\n").await.expect("send");
    drop(first);
    within("the echo", second.read_exact(&mut echo))
        .await
        .expect("read");
    assert_eq!(&echo, b"2\n");

    let seen = until_closed(&mut events, 1).await;
    assert!(
        !seen.iter().any(|(conn, _)| *conn == Some(2)),
        "client 2 was served before client 1 was closed: {seen:#?}"
    );
    assert!(matches!(
        next(&mut events).await,
        (Some(2), Step::Accept { .. })
    ));
    lab.stop().await;
}

/// A client that connects, sends nothing and never closes cannot hold the
/// server: with room for one client, the next client waits only until the
/// idle timeout (the default five minutes, passed at once in paused time)
/// drops the silent one.
#[tokio::test(start_paused = true)]
async fn a_silent_client_cannot_hold_the_server() {
    // No `within` guards here: in paused time they would fire at once.
    let (lab, mut events) = start(config(Mode::Echo, |c| c.limits.max_connections = 1));
    let started = tokio::time::Instant::now();
    let mut silent = TcpStream::connect(lab.addr).await.expect("connect");
    until(&mut events, |(conn, step)| {
        *conn == Some(1) && matches!(step, Step::Print { .. })
    })
    .await;

    let mut next_client = TcpStream::connect(lab.addr).await.expect("connect");
    next_client.write_all(b"my turn\n").await.expect("send");
    let mut echo = [0; 8];
    next_client.read_exact(&mut echo).await.expect("read");
    assert_eq!(&echo, b"my turn\n");
    assert!(started.elapsed() >= bridge::lab::LabLimits::default().idle_timeout);

    let mut rest = Vec::new();
    let n = silent
        .read_to_end(&mut rest)
        .await
        .expect("EOF, not an error");
    assert_eq!(n, 0);
    let seen = until_closed(&mut events, 1).await;
    assert!(
        matches!(
            seen.last_chunk::<2>(),
            Some([
                (
                    Some(1),
                    Step::Error {
                        kind: ErrorKind::Idle,
                        ..
                    }
                ),
                _
            ])
        ),
        "{seen:#?}"
    );
    assert!(matches!(
        next(&mut events).await,
        (Some(2), Step::Accept { .. })
    ));
    lab.stop().await;
}

/// `start_public` binds what the flags say (TCP and UDP), runs both on the
/// tracker, and hands back tracers and the pause switch; shutdown stops both.
#[tokio::test]
async fn start_public_runs_tcp_and_udp_until_shutdown() {
    let args = LabArgs {
        lab: ([127, 0, 0, 1], 0).into(),
        mode: Mode::Greet,
        greeting: "hi from the public server\n".into(),
        udp: Some(([127, 0, 0, 1], 0).into()),
        ..LabArgs::default()
    };
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let lab = start_public(
        &args,
        bridge::clock::Clock::start(),
        shutdown.clone(),
        &tracker,
    )
    .await
    .expect("start the public lab");
    assert_eq!(lab.mode, Mode::Greet);
    let mut events = lab.tracer.subscribe();
    assert_eq!(lab.tracer.server(), protocol::PUBLIC_SERVER);

    let mut client = within("connect", TcpStream::connect(lab.tcp_addr))
        .await
        .expect("connect");
    let mut got = Vec::new();
    within("the greeting", client.read_to_end(&mut got))
        .await
        .expect("read");
    assert_eq!(got, b"hi from the public server\n");
    assert!(matches!(
        next(&mut events).await,
        (Some(1), Step::Accept { .. })
    ));

    let udp_addr: SocketAddr = lab.udp_addr.expect("--udp was given");
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    udp.send_to(b"dgram", udp_addr).await.expect("sendto");
    let mut buf = [0; 16];
    let (n, _) = within("the udp echo", udp.recv_from(&mut buf))
        .await
        .expect("recvfrom");
    assert_eq!(&buf[..n], b"dgram");

    lab.control.set_paused(true);
    assert_eq!(
        until(&mut events, |(_, step)| *step == Step::AcceptPaused)
            .await
            .last(),
        Some(&(None, Step::AcceptPaused))
    );

    shutdown.cancel();
    tracker.close();
    within("both servers to stop", tracker.wait()).await;
}

/// A `--udp` address that cannot be bound fails the whole start, and
/// leaves no TCP server running behind it.
#[tokio::test]
async fn start_public_fails_cleanly_on_a_bad_udp_address() {
    let taken = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let args = LabArgs {
        lab: ([127, 0, 0, 1], 0).into(),
        udp: Some(taken.local_addr().expect("addr")),
        ..LabArgs::default()
    };
    let tracker = TaskTracker::new();
    let err = start_public(
        &args,
        bridge::clock::Clock::start(),
        CancellationToken::new(),
        &tracker,
    )
    .await
    .expect_err("the UDP port is taken");
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    assert!(tracker.is_empty());
}
