//! Faults, on real sockets: pages that freeze (with and without output
//! waiting for them), peers that reset, relay clients that vanish, SIGTERM
//! under load (the bridge as a process of its own), and 2,000 sessions
//! opened and closed. After each, the bridge holds nothing for the peers
//! that are gone, and a bystander still works.
//!
//! Waits are for conditions (a socket closed, a gauge back to zero),
//! checked until a bound; none sleeps through a time window.

use bridge::config::{AllowList, BridgeConfig, SessionLimits};
use bridge::lab::LabArgs;
use e2e::page::{Page, WAIT, outside_listener, start, start_with};
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMsg, Data, Lane, Mode, ServerMsg, Step, StepKind, Target};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, connect_async};

/// The longest a fault may take to be cleaned up.
const CLEANUP: Duration = Duration::from_secs(30);

/// Checks `done` every 20 ms until it holds; fails with `what` after `bound`.
async fn until(what: &str, bound: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {bound:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The public lab server's connections open now, counted from its own
/// trace (each `accept` opens one, each `close` of a connection ends it).
fn lab_connections(bridge: &bridge::app::RunningBridge) -> Arc<AtomicI64> {
    let open = Arc::new(AtomicI64::new(0));
    let mut events = bridge.lab.tracer.subscribe();
    tokio::spawn({
        let open = open.clone();
        async move {
            loop {
                match events.recv().await {
                    Ok(event) => match event.step {
                        Step::Accept { .. } => {
                            open.fetch_add(1, Ordering::SeqCst);
                        }
                        Step::Close if event.server_conn.is_some() => {
                            open.fetch_sub(1, Ordering::SeqCst);
                        }
                        _ => {}
                    },
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                }
            }
        }
    });
    open
}

/// A target the bridge may connect to: each connection gets `stream`
/// bytes (as fast as they are taken, or none), and the returned channel
/// says when the bridge closed its end (the write failed, or EOF).
async fn target(stream: bool) -> (String, tokio::sync::mpsc::Receiver<&'static str>) {
    let listener = outside_listener().await;
    let addr = listener.local_addr().expect("addr").to_string();
    let (closed_tx, closed_rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let (mut rx, mut tx) = socket.into_split();
                let reading = async {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = rx.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                    "eof"
                };
                let writing = async {
                    let chunk = vec![b'z'; 16 * 1024];
                    while stream && tx.write_all(&chunk).await.is_ok() {}
                    if stream {
                        "write failed"
                    } else {
                        std::future::pending().await
                    }
                };
                let how = tokio::select! {
                    how = reading => how,
                    how = writing => how,
                };
                let _ = closed_tx.send(how).await;
            });
        }
    });
    (addr, closed_rx)
}

/// A bridge whose sessions may reach `target`, idle after `idle`.
async fn bridge_for(target: &str, idle: Duration) -> bridge::app::RunningBridge {
    let config = BridgeConfig {
        allow_targets: AllowList::new([target]),
        limits: SessionLimits {
            idle_timeout: idle,
            max_buffered_bytes: 64 * 1024,
            ..SessionLimits::default()
        },
        ..BridgeConfig::default()
    };
    start_with(config, Mode::Echo).await
}

/// A page that freezes (reads and sends nothing) while the bridge has
/// output waiting for it is closed after the idle timeout, and so is its
/// connection: it does not hold its upstream socket forever.
#[tokio::test]
async fn a_frozen_page_with_output_pending_is_reaped() {
    let (addr, mut closed) = target(true).await;
    let bridge = bridge_for(&addr, Duration::from_secs(1)).await;
    let mut page = Page::open(&bridge).await;
    page.connect(1, Target::Addr { addr }).await;
    page.until_step(Lane::Client, 1, StepKind::Recv).await;
    // The page freezes now, with the stream still coming.
    let how = tokio::time::timeout(CLEANUP, closed.recv())
        .await
        .expect("the frozen page's connection is closed")
        .expect("target");
    assert!(matches!(how, "write failed" | "eof"), "{how}");
    until("the session ends", CLEANUP, || {
        bridge.metrics().sessions == 0
    })
    .await;
    drop(page);
    bridge.stop().await.expect("clean stop");
}

/// A frozen page with nothing waiting for it is closed after the idle
/// timeout too, and its connection with it.
#[tokio::test]
async fn a_frozen_page_without_output_is_reaped() {
    let (addr, mut closed) = target(false).await;
    let bridge = bridge_for(&addr, Duration::from_secs(1)).await;
    let mut page = Page::open(&bridge).await;
    page.connect(1, Target::Addr { addr }).await;
    page.until_step(Lane::Client, 1, StepKind::Connected).await;
    let how = tokio::time::timeout(CLEANUP, closed.recv())
        .await
        .expect("the frozen page's connection is closed")
        .expect("target");
    assert_eq!(how, "eof");
    until("the session ends", CLEANUP, || {
        bridge.metrics().sessions == 0
    })
    .await;
    drop(page);
    bridge.stop().await.expect("clean stop");
}

/// The TCP stream under a client WebSocket.
fn tcp_of(ws: &e2e::page::Ws) -> &TcpStream {
    match ws.get_ref() {
        MaybeTlsStream::Plain(tcp) => tcp,
        _ => panic!("a plain TCP WebSocket"),
    }
}

/// Pages that reset their connection mid-session (with a connection of
/// their own open) and a target that resets: the bridge lets go of the
/// pages' sessions and sockets, shows the reset to the page it happened
/// to, and a bystander goes on.
#[tokio::test]
async fn peers_that_reset() {
    let bridge = start(Mode::Echo).await;
    let lab_open = lab_connections(&bridge);
    let mut bystander = Page::open(&bridge).await;
    for _ in 0..20 {
        let mut page = Page::open(&bridge).await;
        page.connect(1, Target::Public).await;
        page.until_step(Lane::Client, 1, StepKind::Connected).await;
        page.send_text(1, "about to vanish").await;
        tcp_of(&page.ws).set_zero_linger().expect("SO_LINGER 0");
        drop(page); // RST, no close frame
    }
    until("the reset sessions end", CLEANUP, || {
        bridge.metrics().sessions == 1
    })
    .await;
    until("their connections close", CLEANUP, || {
        lab_open.load(Ordering::SeqCst) == 0
    })
    .await;

    // A target that answers a connection with a reset.
    let resetter = outside_listener().await;
    let addr = resetter.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((socket, _)) = resetter.accept().await {
            let mut socket = socket;
            let mut buf = [0u8; 16];
            let _ = socket.read(&mut buf).await;
            let _ = socket.set_zero_linger();
        }
    });
    let config = BridgeConfig {
        allow_targets: AllowList::new([addr.as_str()]),
        ..BridgeConfig::default()
    };
    let other = start_with(config, Mode::Echo).await;
    let mut page = Page::open(&other).await;
    page.connect(7, Target::Addr { addr }).await;
    page.until_step(Lane::Client, 7, StepKind::Connected).await;
    page.send_text(7, "hello?").await;
    let reset = page.until_step(Lane::Client, 7, StepKind::Error).await;
    assert!(
        reset.step.label().contains("reset"),
        "{}",
        reset.step.label()
    );
    page.start_server(1, Mode::Echo, protocol::Transport::Tcp)
        .await;
    bystander
        .start_server(1, Mode::Echo, protocol::Transport::Tcp)
        .await;
    other.stop().await.expect("clean stop");
    bridge.stop().await.expect("clean stop");
}

/// Relay clients that vanish (reset, mid-stream) free their relays and
/// connections; a bystander relay still echoes every byte.
#[tokio::test]
async fn relay_clients_that_vanish() {
    let bridge = start(Mode::Echo).await;
    let lab_open = lab_connections(&bridge);
    let url = format!("ws://{}/relay/{}", bridge.http_addr, bridge.lab_addr());
    let (mut bystander, _) = connect_async(url.as_str()).await.expect("opens");
    for _ in 0..20 {
        let (mut relay, _) = connect_async(url.as_str()).await.expect("opens");
        relay
            .send(Message::binary(vec![7u8; 100_000]))
            .await
            .expect("sends");
        tcp_of(&relay).set_zero_linger().expect("SO_LINGER 0");
        drop(relay);
    }
    until("the vanished relays end", CLEANUP, || {
        bridge.metrics().relays == 1
    })
    .await;
    until("their connections close", CLEANUP, || {
        lab_open.load(Ordering::SeqCst) == 1
    })
    .await;
    bystander
        .send(Message::binary(b"still here".to_vec()))
        .await
        .expect("sends");
    let mut back = Vec::new();
    while back.len() < 10 {
        match tokio::time::timeout(WAIT, bystander.next()).await {
            Ok(Some(Ok(Message::Binary(bytes)))) => back.extend_from_slice(&bytes),
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    assert_eq!(back, b"still here");
    bridge.stop().await.expect("clean stop");
}

/// The bridge as a process of its own (the same command line as
/// `socket-lab`), on port 0; returns it and the address it serves on.
async fn spawn_bridge(args: &[&str]) -> (tokio::process::Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bridge-process"))
        .args([
            "--http",
            "127.0.0.1:0",
            "--lab",
            "127.0.0.1:0",
            "--static",
            "/nonexistent",
        ])
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the bridge starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("open http://").nth(1)
                && let Some(addr) = rest.split('/').next()
                && let Ok(addr) = addr.parse::<SocketAddr>()
            {
                return addr;
            }
        }
        panic!("the bridge did not say where it listens");
    })
    .await
    .expect("the bridge says where it listens in time");
    // Keep reading its log, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// SIGTERM while 50 pages echo through the bridge: every page gets close
/// code 1001 "bridge shutting down", and the process exits cleanly, in
/// bounded time.
#[tokio::test]
async fn sigterm_under_load_closes_every_session() {
    let (mut child, addr) = spawn_bridge(&[
        "--mode",
        "echo",
        "--max-connections",
        "1000",
        "--backlog",
        "1024",
    ])
    .await;
    let url = format!("ws://{addr}/ws");
    let mut pages = Vec::new();
    for _ in 0..50 {
        let (mut ws, _) = connect_async(url.as_str()).await.expect("opens");
        let hello = ClientMsg::Hello {
            version: protocol::PROTOCOL_VERSION,
        };
        for msg in [
            hello,
            ClientMsg::Connect {
                conn: 1,
                target: Target::Public,
                transport: protocol::Transport::Tcp,
            },
        ] {
            let json = serde_json::to_string(&msg).expect("json");
            ws.send(Message::text(json)).await.expect("sends");
        }
        pages.push(ws);
    }
    // Load: every page echoes, one message after another, until closed.
    let (closes_tx, mut closes) = tokio::sync::mpsc::channel(64);
    let echoing = Arc::new(AtomicUsize::new(0));
    for mut ws in pages {
        let closes_tx = closes_tx.clone();
        let echoing = echoing.clone();
        tokio::spawn(async move {
            let send = ClientMsg::Send {
                conn: 1,
                data: Data::Text("load ".repeat(20)),
            };
            let send = serde_json::to_string(&send).expect("json");
            let mut echoes = 0;
            let close = 'echo: loop {
                if ws.send(Message::text(send.clone())).await.is_err() {
                    break None;
                }
                // Until this message's echo (or the close).
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Close(frame))) => {
                            break 'echo frame.map(|frame| (frame.code, frame.reason.to_string()));
                        }
                        Some(Ok(Message::Text(text))) => {
                            let msg = serde_json::from_str::<ServerMsg>(&text);
                            if msg.is_ok_and(|msg| {
                                e2e::page::is_step(&msg, Lane::Client, 1, StepKind::Recv)
                            }) {
                                echoes += 1;
                                if echoes == 1 {
                                    echoing.fetch_add(1, Ordering::SeqCst);
                                }
                                break;
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break 'echo None,
                    }
                }
            };
            let _ = closes_tx.send((close, Instant::now())).await;
        });
    }
    drop(closes_tx);
    // The load runs until the echo has answered every page.
    until("every page is echoed", WAIT, || {
        echoing.load(Ordering::SeqCst) == 50
    })
    .await;
    let pid = child.id().expect("running").to_string();
    let term = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(status.success());
    let mut count = 0;
    let mut last = Duration::ZERO;
    while let Some((close, at)) = tokio::time::timeout(WAIT, closes.recv())
        .await
        .expect("every page hears in time")
    {
        let (code, reason) = close.expect("a close frame, not a dropped connection");
        assert_eq!(code, CloseCode::Away);
        assert_eq!(reason, "bridge shutting down");
        last = last.max(at.duration_since(term));
        count += 1;
    }
    assert_eq!(count, 50);
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the bridge exits in time")
        .expect("waits");
    assert!(exit.success(), "{exit:?}");
    eprintln!("SIGTERM under load: 50 sessions closed with 1001 within {last:?}");
}

/// File descriptors this process has open.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// 2,000 sessions opened, used (a verified echo on the public server) and
/// closed, 50 at a time: afterwards no session, no lab connection and no
/// file descriptor is left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_of_2000_sessions_leaves_nothing_behind() {
    let lab = LabArgs {
        lab: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        max_connections: 5000,
        backlog: 1024,
        ..LabArgs::default()
    };
    let bridge = bridge::app::Bridge::start(BridgeConfig::default(), &lab)
        .await
        .expect("bridge starts");
    let mut bystander = Page::open(&bridge).await;
    let baseline = open_fds();
    let bridge = std::sync::Arc::new(bridge);
    let started = Instant::now();
    for round in 0..40 {
        let mut batch = Vec::new();
        for i in 0..50 {
            let bridge = bridge.clone();
            batch.push(tokio::spawn(async move {
                let mut page = Page::open(&bridge).await;
                page.connect(1, Target::Public).await;
                page.until_step(Lane::Client, 1, StepKind::Connected).await;
                let text = format!("session {round}-{i}");
                page.send_text(1, &text).await;
                while page.bytes(Lane::Client, 1, StepKind::Recv).len() < text.len() {
                    page.next().await;
                }
                assert_eq!(page.bytes(Lane::Client, 1, StepKind::Recv), text.as_bytes());
                page.ws.close(None).await.expect("closes");
            }));
        }
        for session in batch {
            session.await.expect("a session");
        }
    }
    let took = started.elapsed();
    until("every churned session ends", CLEANUP, || {
        bridge.metrics().sessions == 1
    })
    .await;
    until("file descriptors back to the baseline", CLEANUP, || {
        open_fds() <= baseline
    })
    .await;
    assert_eq!(bridge.metrics().sessions_total, 2001);
    bystander
        .start_server(1, Mode::Echo, protocol::Transport::Tcp)
        .await;
    eprintln!("2,000-session churn: {took:?}, fds back to {}", open_fds());
    let Ok(bridge) = std::sync::Arc::try_unwrap(bridge) else {
        panic!("sessions still hold the bridge");
    };
    bridge.stop().await.expect("clean stop");
}
