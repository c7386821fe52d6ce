//! The backlog lesson: what happens to the 6th and 7th client of a server
//! that called `listen(5)` and is not calling `accept()`.

mod common;

use bridge::lab::LabServer;
use common::*;
use protocol::{Mode, Step};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a client waits for its handshake before giving up. Queued
/// handshakes on loopback finish in microseconds; a dropped SYN is resent
/// only after a second, so this cannot be mistaken either way.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// More attempts than any backlog here can take: the loop is bounded even
/// if the kernel behaves unlike Linux.
const MAX_ATTEMPTS: usize = 20;

/// With accept() paused and listen(5), Linux completes backlog + 1 = 6
/// handshakes; it then silently drops the 7th client's SYN, so that
/// client's connect() times out (it is not refused). When accept()
/// resumes, the six queued clients are accepted in the order they came
/// and each is served.
#[tokio::test]
async fn a_full_backlog_makes_the_next_client_time_out() {
    let (tracer, mut events) = tracer(1);
    let server = LabServer::bind(
        ([127, 0, 0, 1], 0).into(),
        config(Mode::Echo, |_| {}),
        tracer,
    )
    .expect("bind");
    // Paused before it runs, so not one client is accepted too early.
    server.control().set_paused(true);
    let lab = Running::spawn(server);
    until(&mut events, |(_, step)| *step == Step::AcceptPaused).await;

    let mut queued = Vec::new();
    let mut timed_out_at = None;
    for attempt in 1..=MAX_ATTEMPTS {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(lab.addr)).await {
            Ok(Ok(stream)) => queued.push(stream),
            Ok(Err(err)) => panic!("connect #{attempt} failed at once ({err}): expected a timeout"),
            Err(_) => {
                timed_out_at = Some(attempt);
                break;
            }
        }
    }
    assert_eq!(queued.len(), 6, "handshakes completed with accept() paused");
    assert_eq!(timed_out_at, Some(7), "the first connect() that timed out");
    // Nobody was accepted meanwhile: the trace holds no connection step.
    assert!(events.is_empty(), "{:?}", events.try_recv());

    lab.control.set_paused(false);
    assert_eq!(next(&mut events).await, (None, Step::AcceptResumed));
    for (i, client) in queued.iter_mut().enumerate() {
        let line = format!("client {}\n", i + 1);
        client.write_all(line.as_bytes()).await.expect("send");
        let mut echo = vec![0; line.len()];
        within("the echo", client.read_exact(&mut echo))
            .await
            .expect("read");
        assert_eq!(echo, line.as_bytes());
    }
    // The kernel's queue is first in, first out: connection n is client n.
    let accepted: Vec<String> = queued
        .iter()
        .map(|client| client.local_addr().expect("addr").to_string())
        .collect();
    let mut peers = Vec::new();
    while peers.len() < accepted.len() {
        if let (_, Step::Accept { peer, .. }) = next(&mut events).await {
            peers.push(peer);
        }
    }
    assert_eq!(peers, accepted);
    lab.stop().await;
}
