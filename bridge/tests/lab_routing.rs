//! Routes on a real lab server: a connection's events reach the one queue
//! that registered its address, and a queue that is full costs its session
//! events (reported as a gap), never the server its pace.

mod common;

use bridge::lab::LabServer;
use bridge::metrics::Metrics;
use bridge::outbox::{Outbox, Queued};
use bridge::route::{RouteReceiver, RouteSink, route_queue};
use bridge::session::ServerLane;
use bridge::trace::Tracer;
use common::{Running, config, tracer, until_closed, within};
use protocol::{Mode, Refusal, ServerMsg, StepKind, TraceEvent};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// An echo server on 127.0.0.1:0, its tracer (to route with) and a
/// subscriber to all its events (to know when a connection is done).
fn echo_server() -> (Running, Tracer, broadcast::Receiver<TraceEvent>) {
    let (tracer, events) = tracer(0);
    let server = LabServer::bind(
        ([127, 0, 0, 1], 0).into(),
        config(Mode::Echo, |_| {}),
        tracer.clone(),
    )
    .expect("bind 127.0.0.1:0");
    (Running::spawn(server), tracer, events)
}

/// Connects to `server` from a socket whose events are routed to `sink` as
/// the page's connection `conn`, the way a session's client does: bind to
/// an ephemeral port, register the route, then connect.
async fn routed_client(
    tracer: &Tracer,
    server: SocketAddr,
    sink: &RouteSink,
    conn: u32,
) -> (TcpStream, bridge::route::RouteGuard) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(([127, 0, 0, 1], 0).into()).expect("bind");
    let guard = tracer.route(socket.local_addr().expect("bound"), sink, conn);
    let stream = within("connect", socket.connect(server))
        .await
        .expect("connect");
    (stream, guard)
}

/// `rounds` one-byte echoes, then a half-close and EOF: every echo must
/// come back, whoever reads the trace.
async fn echo_and_close(mut stream: TcpStream, rounds: usize) {
    for _ in 0..rounds {
        stream.write_all(b"x").await.expect("send");
        let mut echo = [0u8; 1];
        within("the echo", stream.read_exact(&mut echo))
            .await
            .expect("echo");
    }
    stream.shutdown().await.expect("shutdown");
    let mut rest = Vec::new();
    within("EOF", stream.read_to_end(&mut rest))
        .await
        .expect("read");
}

/// Everything queued for `receiver` right now, stopping at the first gap.
async fn drain(receiver: &mut RouteReceiver) -> (Vec<TraceEvent>, Option<u64>) {
    let mut events = Vec::new();
    loop {
        match within("a routed event", receiver.recv()).await {
            Ok(event) => events.push(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => return (events, Some(missed)),
            Err(broadcast::error::RecvError::Closed) => return (events, None),
        }
    }
}

/// Two routed clients and one that is not: each queue gets exactly its own
/// connection's events, tagged with its id, and the unrouted client's
/// events reach the broadcast only.
#[tokio::test]
async fn each_connection_reaches_only_its_own_route() {
    let (lab, tracer, mut all) = echo_server();
    let (sink_a, mut queue_a) = route_queue(64, 1 << 20);
    let (sink_b, mut queue_b) = route_queue(64, 1 << 20);
    let (a, _guard_a) = routed_client(&tracer, lab.addr, &sink_a, 7).await;
    echo_and_close(a, 2).await;
    until_closed(&mut all, 1).await;
    let stranger = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    echo_and_close(stranger, 1).await;
    until_closed(&mut all, 2).await;
    let (b, _guard_b) = routed_client(&tracer, lab.addr, &sink_b, 9).await;
    echo_and_close(b, 1).await;
    until_closed(&mut all, 3).await;
    // The server is done with all three: whatever was routed is queued.
    drop((sink_a, sink_b, _guard_a, _guard_b));

    let (got_a, gap_a) = drain(&mut queue_a).await;
    let (got_b, gap_b) = drain(&mut queue_b).await;
    assert_eq!((gap_a, gap_b), (None, None), "nothing dropped, then closed");
    let steps = |events: &[TraceEvent]| events.iter().map(|e| e.step.kind()).collect::<Vec<_>>();
    assert_eq!(
        steps(&got_a),
        [
            StepKind::Accept,
            StepKind::Print,
            StepKind::Recv,
            StepKind::Send,
            StepKind::Recv,
            StepKind::Send,
            StepKind::RecvEof,
            StepKind::Close
        ]
    );
    assert_eq!(
        steps(&got_b),
        [
            StepKind::Accept,
            StepKind::Print,
            StepKind::Recv,
            StepKind::Send,
            StepKind::RecvEof,
            StepKind::Close
        ]
    );
    assert!(
        got_a
            .iter()
            .all(|e| (e.conn, e.server_conn) == (Some(7), Some(1)))
    );
    assert!(
        got_b
            .iter()
            .all(|e| (e.conn, e.server_conn) == (Some(9), Some(3)))
    );
    assert_eq!(tracer.route_count(), 0, "guards removed their routes");
    lab.stop().await;
}

/// A session that does not read its queue: the server keeps serving at
/// full pace (every echo comes back), the events that do not fit are
/// dropped and counted, and the session's lane tells the page how many,
/// where the gap is, then carries on with the next connection's events.
#[tokio::test]
async fn a_full_route_drops_events_and_the_page_is_told_while_the_server_serves() {
    // Room for the whole second connection below (6 events), even if the
    // lane were slow to drain, and far less than the first one's 64.
    const QUEUE: usize = 8;
    const ROUNDS: usize = 30;
    let (lab, tracer, mut all) = echo_server();
    let (sink, receiver) = route_queue(QUEUE, 1 << 20);
    let (stream, _guard) = routed_client(&tracer, lab.addr, &sink, 1).await;
    // Nobody reads the queue while the client echoes: had the server waited
    // for room, this would hang.
    echo_and_close(stream, ROUNDS).await;
    until_closed(&mut all, 1).await;

    // Now the session starts forwarding (as if the page caught up).
    let metrics = Arc::new(Metrics::default());
    let (outbox, mut page) = Outbox::new(1 << 20, metrics.clone());
    let token = CancellationToken::new();
    let lane = ServerLane {
        server: 0,
        events: receiver,
        outbox,
        metrics: metrics.clone(),
    };
    let forwarding = tokio::spawn(lane.run(token.clone()));
    // accept, print, ROUNDS x (recv, send), recv_eof, close.
    let total = 2 + 2 * ROUNDS + 2;
    let dropped = (total - QUEUE) as u64;
    let first: Vec<_> = next_messages(&mut page, QUEUE + 1).await;
    for msg in &first[..QUEUE] {
        assert!(
            matches!(msg, ServerMsg::Trace(e) if e.conn == Some(1)),
            "{msg:?}"
        );
    }
    match &first[QUEUE] {
        ServerMsg::Refused {
            reason: Refusal::Limit,
            message,
            server: Some(0),
            ..
        } => assert!(
            message.contains(&format!("{dropped} trace events were dropped")),
            "{message}"
        ),
        other => panic!("expected the gap to be reported, got {other:?}"),
    }
    assert_eq!(metrics.snapshot().dropped_events, dropped);

    // The queue has room again: the next connection is seen whole.
    let (stream, _guard2) = routed_client(&tracer, lab.addr, &sink, 2).await;
    echo_and_close(stream, 1).await;
    let next: Vec<_> = next_messages(&mut page, 6).await;
    let steps: Vec<_> = next
        .iter()
        .map(|msg| match msg {
            ServerMsg::Trace(e) if e.conn == Some(2) => e.step.kind(),
            other => panic!("expected conn 2's events, got {other:?}"),
        })
        .collect();
    assert_eq!(
        steps,
        [
            StepKind::Accept,
            StepKind::Print,
            StepKind::Recv,
            StepKind::Send,
            StepKind::RecvEof,
            StepKind::Close
        ]
    );
    token.cancel();
    forwarding.await.expect("the lane ends");
    lab.stop().await;
}

/// The next `n` messages queued for the page.
async fn next_messages(page: &mut mpsc::UnboundedReceiver<Queued>, n: usize) -> Vec<ServerMsg> {
    let mut out = Vec::new();
    for _ in 0..n {
        let queued = within("a message for the page", page.recv())
            .await
            .expect("the lane is running");
        out.push(queued.msg);
    }
    out
}
