//! [`LabServer`]: the lab's TCP server (Tasks 1, 2 and 3), every step traced.
//!
//! Run it, then in another terminal connect with the lab's own client:
//!
//! ```text
//! cargo run -p bridge -- --mode echo          # listens on 127.0.0.1:1234
//! python3 lab/task3/client.py      # or: nc 127.0.0.1 1234
//! ```
//!
//! What a student should notice, in order: `socket()` makes an endpoint,
//! `bind()` gives it an address, `listen(5)` turns it into a listening
//! socket with a queue of 5, and each `accept()` returns a *new* socket for
//! one client while the listening socket keeps listening.

use super::{LabConfig, LabControl, LabLimits};
use crate::error::{Error, error_kind};
use crate::trace::Tracer;
use protocol::{Call, Family, Mode, Step, Transport, connection_established};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A listening lab server. Made by [`LabServer::bind`], driven by
/// [`LabServer::run`].
#[derive(Debug)]
pub struct LabServer {
    listener: TcpListener,
    local: SocketAddr,
    config: Arc<LabConfig>,
    tracer: Tracer,
    control: LabControl,
    /// The accept loop watches this to pause and resume `accept()`.
    paused: watch::Receiver<bool>,
}

impl LabServer {
    /// `socket()`, `bind(addr)`, `listen(backlog)`: each step is traced, and
    /// a failure (address in use, say) is traced as an error too.
    pub fn bind(addr: SocketAddr, config: LabConfig, tracer: Tracer) -> Result<LabServer, Error> {
        let fail = |call: Call, source: io::Error| {
            tracer.emit(
                None,
                Step::Error {
                    kind: error_kind(&source),
                    message: source.to_string(),
                    failed: Some(call),
                },
            );
            Error::Listen { addr, source }
        };
        let (socket, family) = if addr.is_ipv4() {
            (TcpSocket::new_v4(), Family::Ipv4)
        } else {
            (TcpSocket::new_v6(), Family::Ipv6)
        };
        let socket = socket.map_err(|e| fail(Call::Socket, e))?;
        tracer.emit(
            None,
            Step::Socket {
                family,
                transport: Transport::Tcp,
            },
        );
        // SO_REUSEADDR lets the server restart while old connections sit in
        // TIME_WAIT; a second *listener* on the same port still fails with
        // "address in use", which is the lesson worth keeping.
        socket
            .set_reuseaddr(true)
            .map_err(|e| fail(Call::Socket, e))?;
        socket.bind(addr).map_err(|e| fail(Call::Bind, e))?;
        let local = socket.local_addr().map_err(|e| fail(Call::Bind, e))?;
        tracer.emit(
            None,
            Step::Bind {
                addr: local.to_string(),
                asked: None,
            },
        );
        let listener = socket
            .listen(config.backlog)
            .map_err(|e| fail(Call::Listen, e))?;
        tracer.emit(
            None,
            Step::Listen {
                backlog: config.backlog,
            },
        );
        let (control, paused) = LabControl::new();
        Ok(LabServer {
            listener,
            local,
            config: Arc::new(config),
            tracer,
            control,
            paused,
        })
    }

    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Pause/resume switch for `accept()`.
    pub fn control(&self) -> LabControl {
        self.control.clone()
    }

    /// The tracer its events go through (subscribe to watch it).
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// Accepts clients until `shutdown` is cancelled, serving each in its
    /// own task; then closes the listening socket and waits for the clients'
    /// tasks (which see `shutdown` too) to finish.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let limits = self.config.limits.clamped();
        let clients = TaskTracker::new();
        // A permit per client being served, taken *before* accept(): when
        // all are taken the server stops accepting and new clients wait in
        // the backlog, as they would for a busy Python server.
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let mut accepted: u64 = 0;
        let mut was_paused = false;
        // Every `select!` below is `biased`: shutdown first, then the pause
        // switch, then accept(). Unbiased, a pause could lose the race to a
        // client that is ready at the same moment and be accepted anyway.
        // `self.control` keeps the switch's sender alive as long as `self`,
        // so `paused.changed()` only returns when the switch is flipped.
        loop {
            let paused = *self.paused.borrow_and_update();
            if paused != was_paused {
                was_paused = paused;
                let step = if paused {
                    Step::AcceptPaused
                } else {
                    Step::AcceptResumed
                };
                self.tracer.emit(None, step);
            }
            if paused {
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => break,
                    _ = self.paused.changed() => continue,
                }
            }
            let permit = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                // Paused while every permit is taken: say so at once.
                _ = self.paused.changed() => continue,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break, // never closed; stop rather than spin
                },
            };
            let result = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                // Dropping the permit here is fine: we take a new one.
                _ = self.paused.changed() => continue,
                result = self.listener.accept() => result,
            };
            match result {
                Ok((stream, peer)) => {
                    accepted += 1;
                    let conn = accepted;
                    // accept() returns a *new* socket for this client; the
                    // listening socket keeps listening for the next one.
                    let local = stream.local_addr().unwrap_or(self.local);
                    // Which browser session (if any) made this connection:
                    // looked up once, here, so each event of the connection
                    // goes straight to that session (see `crate::route`).
                    let tracer = self.tracer.for_peer(peer);
                    tracer.emit(
                        Some(conn),
                        Step::Accept {
                            peer: peer.to_string(),
                            local: local.to_string(),
                        },
                    );
                    // Small lab messages should leave at once, not wait
                    // for Nagle's algorithm to batch them.
                    let _ = stream.set_nodelay(true);
                    let client = Client {
                        conn,
                        peer,
                        config: self.config.clone(),
                        limits,
                        tracer,
                    };
                    // A token of its own: its wait is polled at every wake
                    // of the client's task, and each poll takes the token's
                    // lock, which the server's token shares with every
                    // client (and both worker threads).
                    let shutdown = shutdown.child_token();
                    clients.spawn(async move {
                        client.serve(stream, shutdown).await;
                        // Only now may the next queued client be accepted.
                        drop(permit);
                    });
                }
                Err(err) => {
                    // Out of file descriptors, or a client that reset while
                    // queued: report it, back off, and keep listening (a
                    // `while let Ok(..) = accept()` loop would stop here).
                    drop(permit);
                    self.tracer.emit(
                        None,
                        Step::Error {
                            kind: error_kind(&err),
                            message: err.to_string(),
                            failed: Some(Call::Accept),
                        },
                    );
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            }
        }
        // close() on the listening socket: clients still in the backlog are
        // reset; clients already accepted are served until shutdown.
        let closing = self.tracer.clock().now_us();
        drop(self.listener);
        self.tracer.emit_at(closing, None, Step::Close);
        clients.close();
        clients.wait().await;
    }
}

/// How long to wait after a failed `accept()` before trying again, so an
/// error that repeats (no file descriptors left) does not spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// One accepted client: the socket `accept()` returned, and what to do.
struct Client {
    /// The server's number for this connection (1, 2, ...).
    conn: u64,
    peer: SocketAddr,
    config: Arc<LabConfig>,
    /// `config.limits`, clamped to sane values once by the accept loop.
    limits: LabLimits,
    tracer: Tracer,
}

/// Why serving a client stopped early.
enum ServeError {
    /// A call failed.
    Io(Call, io::Error),
    /// The client kept the connection open but did nothing for this long:
    /// sent nothing (`reading`) or read nothing we sent (not `reading`).
    Idle { after: Duration, reading: bool },
}

impl ServeError {
    /// The error step the trace shows for this.
    fn step(self) -> Step {
        match self {
            ServeError::Io(call, err) => Step::Error {
                kind: error_kind(&err),
                message: err.to_string(),
                failed: Some(call),
            },
            // The server gave up waiting in recv() (or in send()).
            ServeError::Idle { after, reading } => Step::Error {
                kind: protocol::ErrorKind::Idle,
                failed: Some(if reading { Call::Recv } else { Call::Send }),
                message: if reading {
                    format!("the client sent nothing for {after:?}")
                } else {
                    format!("the client read nothing we sent for {after:?}")
                },
            },
        }
    }
}

impl Client {
    /// Serves one client in the configured mode, then closes its socket.
    ///
    /// Generic over the stream so the unit tests below can drive it through
    /// an in-memory `tokio::io::duplex` pipe instead of a socket.
    async fn serve<S>(self, mut stream: S, shutdown: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = Some(self.conn);
        // The lab's server prints this line for every client.
        self.tracer.emit(
            conn,
            Step::Print {
                text: connection_established(&self.peer.to_string()),
            },
        );
        let served = tokio::select! {
            biased;
            _ = shutdown.cancelled() => Ok(()),
            served = self.play(&mut stream) => served,
        };
        if let Err(err) = served {
            self.tracer.emit(conn, err.step());
        }
        // close(): dropping the socket sends FIN (or RST if unread bytes
        // are still waiting, which is what a real server does too). It is
        // stamped before: the client's recv() -> 0 comes after it.
        let closing = self.tracer.clock().now_us();
        drop(stream);
        self.tracer.emit_at(closing, conn, Step::Close);
    }

    async fn play<S>(&self, stream: &mut S) -> Result<(), ServeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match self.config.mode {
            // Task 1: the connection itself is the lesson; close at once.
            Mode::Connect => Ok(()),
            // Task 2: one send(), then close.
            Mode::Greet => {
                let greeting = &self.config.greeting;
                let sending = self.tracer.clock().now_us();
                self.write(stream, greeting).await?;
                self.tracer
                    .emit_data_at(sending, Some(self.conn), || Step::Send {
                        data: greeting.clone().into(),
                    });
                Ok(())
            }
            Mode::Echo => self.echo(stream).await,
        }
    }

    /// Task 3: `data = recv(); if not data: break; sendall(data)`.
    async fn echo<S>(&self, stream: &mut S) -> Result<(), ServeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = Some(self.conn);
        let idle = self.limits.idle_timeout;
        // The most one recv() may return: a client cannot make the server
        // buffer more than this, however much it sends.
        let mut buf = vec![0u8; self.limits.max_read];
        loop {
            let n = tokio::time::timeout(idle, stream.read(&mut buf))
                .await
                .map_err(|_| ServeError::Idle {
                    after: idle,
                    reading: true,
                })?
                .map_err(|e| ServeError::Io(Call::Recv, e))?;
            if n == 0 {
                // recv() returned 0 bytes: the client closed its side.
                self.tracer.emit(conn, Step::RecvEof);
                return Ok(());
            }
            // One event per read, with exactly the bytes of that read: two
            // sends by the client may arrive here as one recv, and one send
            // may arrive as two. TCP moves bytes, not messages.
            let chunk = &buf[..n];
            self.tracer
                .emit_data(conn, || Step::Recv { data: chunk.into() });
            // Stamped before the write: the client's recv() is later.
            let sending = self.tracer.clock().now_us();
            self.write(stream, chunk).await?;
            self.tracer
                .emit_data_at(sending, conn, || Step::Send { data: chunk.into() });
        }
    }

    /// `sendall()`, bounded by the idle timeout so a client that never
    /// reads (its receive window full) cannot hold the server.
    async fn write<S>(&self, stream: &mut S, bytes: &[u8]) -> Result<(), ServeError>
    where
        S: AsyncWrite + Unpin,
    {
        let idle = self.limits.idle_timeout;
        tokio::time::timeout(idle, stream.write_all(bytes))
            .await
            .map_err(|_| ServeError::Idle {
                after: idle,
                reading: false,
            })?
            .map_err(|e| ServeError::Io(Call::Send, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! `Client::serve` driven through an in-memory pipe: the protocol logic
    //! of each task, without sockets, and with paused time where time
    //! matters (the idle timeout).

    use super::*;
    use crate::clock::Clock;
    use crate::trace;
    use protocol::{ErrorKind, TraceEvent};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
    use tokio::sync::broadcast;

    const PEER: &str = "127.0.0.1:50312";

    /// A client of a server in `mode`, and a receiver of what it traces.
    fn client(mode: Mode, limits: LabLimits) -> (Client, broadcast::Receiver<TraceEvent>) {
        let tracer = Tracer::new(Clock::start(), 7, trace::channel());
        let events = tracer.subscribe();
        let mut config = LabConfig::new(7, mode);
        config.limits = limits;
        let client = Client {
            conn: 1,
            peer: PEER.parse().expect("a valid literal address"),
            config: Arc::new(config),
            limits: limits.clamped(),
            tracer,
        };
        (client, events)
    }

    /// Everything traced so far, as steps (time stamps vary from run to run).
    fn steps(events: &mut broadcast::Receiver<TraceEvent>) -> Vec<Step> {
        let mut out = Vec::new();
        while let Ok(event) = events.try_recv() {
            assert_eq!(event.server, Some(7));
            assert_eq!(event.server_conn, Some(1));
            out.push(event.step);
        }
        out
    }

    fn print_line() -> Step {
        Step::Print {
            text: "Connection from ('127.0.0.1', 50312) has been established.".into(),
        }
    }

    fn recv(bytes: &[u8]) -> Step {
        Step::Recv { data: bytes.into() }
    }

    fn send(bytes: &[u8]) -> Step {
        Step::Send { data: bytes.into() }
    }

    async fn serve(client: Client, server_side: DuplexStream) {
        client.serve(server_side, CancellationToken::new()).await;
    }

    /// Task 1 prints the lab's line and closes without a byte either way.
    #[tokio::test]
    async fn connect_mode_prints_and_closes() {
        let (client, mut events) = client(Mode::Connect, LabLimits::default());
        let (mut ours, theirs) = duplex(64);
        serve(client, theirs).await;
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await.expect("pipe read");
        assert!(got.is_empty());
        assert_eq!(steps(&mut events), vec![print_line(), Step::Close]);
    }

    /// Task 2 sends exactly the configured greeting, then closes.
    #[tokio::test]
    async fn greet_mode_sends_the_greeting_then_closes() {
        let (client, mut events) = client(Mode::Greet, LabLimits::default());
        let (mut ours, theirs) = duplex(64);
        serve(client, theirs).await;
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await.expect("pipe read");
        assert_eq!(got, protocol::DEFAULT_GREETING.as_bytes());
        assert_eq!(
            steps(&mut events),
            vec![
                print_line(),
                send(protocol::DEFAULT_GREETING.as_bytes()),
                Step::Close
            ]
        );
    }

    /// Two sends that are both waiting when the server reads come back as
    /// ONE recv: the trace shows reads, not the client's messages.
    #[tokio::test]
    async fn two_sends_waiting_are_one_recv() {
        let (client, mut events) = client(Mode::Echo, LabLimits::default());
        let (mut ours, theirs) = duplex(64);
        ours.write_all(b"hel").await.expect("pipe write");
        ours.write_all(b"lo\n").await.expect("pipe write");
        ours.shutdown().await.expect("pipe shutdown");
        serve(client, theirs).await;
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await.expect("pipe read");
        assert_eq!(got, b"hello\n");
        assert_eq!(
            steps(&mut events),
            vec![
                print_line(),
                recv(b"hello\n"),
                send(b"hello\n"),
                Step::RecvEof,
                Step::Close
            ]
        );
    }

    /// `max_read` bounds each recv: 10 bytes with a 4-byte limit are three
    /// reads (4, 4, 2), each echoed before the next.
    #[tokio::test]
    async fn max_read_bounds_each_recv() {
        let limits = LabLimits {
            max_read: 4,
            ..LabLimits::default()
        };
        let (client, mut events) = client(Mode::Echo, limits);
        let (mut ours, theirs) = duplex(64);
        ours.write_all(b"0123456789").await.expect("pipe write");
        ours.shutdown().await.expect("pipe shutdown");
        serve(client, theirs).await;
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await.expect("pipe read");
        assert_eq!(got, b"0123456789");
        assert_eq!(
            steps(&mut events),
            vec![
                print_line(),
                recv(b"0123"),
                send(b"0123"),
                recv(b"4567"),
                send(b"4567"),
                recv(b"89"),
                send(b"89"),
                Step::RecvEof,
                Step::Close
            ]
        );
    }

    /// A client that sends nothing and never closes is dropped after the
    /// idle timeout (paused time: the five minutes pass at once).
    #[tokio::test(start_paused = true)]
    async fn silent_client_is_dropped_after_idle_timeout() {
        let (client, mut events) = client(Mode::Echo, LabLimits::default());
        let (mut ours, theirs) = duplex(64);
        let started = tokio::time::Instant::now();
        serve(client, theirs).await;
        assert!(started.elapsed() >= LabLimits::default().idle_timeout);
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await.expect("pipe read");
        assert!(got.is_empty());
        let steps = steps(&mut events);
        assert!(
            matches!(
                &steps[..],
                [_, Step::Error { kind: ErrorKind::Idle, message, failed: Some(Call::Recv) }, Step::Close]
                    if message == "the client sent nothing for 300s"
            ),
            "{steps:?}"
        );
    }

    /// A client that sends but never reads fills the pipe; the server's
    /// write gives up after the idle timeout instead of waiting forever.
    #[tokio::test(start_paused = true)]
    async fn client_that_never_reads_is_dropped_after_idle_timeout() {
        let (client, mut events) = client(Mode::Echo, LabLimits::default());
        // 16 bytes of room each way: the echo of 32 bytes cannot fit.
        let (mut ours, theirs) = duplex(16);
        let server = tokio::spawn(serve(client, theirs));
        // Write 32 bytes; the server reads 16, echoes them into a full
        // pipe... and we never read.
        let _ = ours.write_all(&[b'x'; 32]).await;
        server.await.expect("serve does not panic");
        let steps = steps(&mut events);
        assert!(
            matches!(
                steps.last_chunk::<2>(),
                Some([Step::Error { kind: ErrorKind::Idle, message, failed: Some(Call::Send) }, Step::Close])
                    if message.starts_with("the client read nothing")
            ),
            "{steps:?}"
        );
    }

    /// Shutdown ends a client's service at once, with a close in the trace.
    #[tokio::test]
    async fn shutdown_closes_a_waiting_client() {
        let (client, mut events) = client(Mode::Echo, LabLimits::default());
        let (_ours, theirs) = duplex(64);
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        client.serve(theirs, shutdown).await;
        assert_eq!(steps(&mut events), vec![print_line(), Step::Close]);
    }

    /// Limits out of range are clamped, never a panic or a zero timeout.
    #[test]
    fn limits_are_clamped() {
        let wild = LabLimits {
            max_connections: usize::MAX,
            max_read: 0,
            idle_timeout: Duration::ZERO,
        }
        .clamped();
        assert_eq!(wild.max_connections, LabLimits::MAX_CONNECTIONS);
        assert_eq!(wild.max_read, 1);
        assert!(wild.idle_timeout > Duration::ZERO);
    }
}
