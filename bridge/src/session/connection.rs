//! [`ClientConnection`]: one socket the bridge opened as the page's client,
//! every call it makes reported on the client lane.
//!
//! The steps are the lab's `client.py`: `socket()`, `connect()`, `send()`,
//! `recv()` until it returns 0 bytes, `close()`. Each connection runs in
//! its own task, reading and writing at once (reading while a write waits
//! avoids the classic deadlock of two peers both stuck in `send()`).

use crate::clock::Clock;
use crate::error::error_kind;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::route::{Locals, RouteGuard, RouteSink};
use crate::targets::Targets;
use crate::trace::Tracer;
use protocol::{
    Call, ConnId, Family, Lane, Refusal, ServerId, ServerMsg, Step, TraceEvent, Transport,
};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

/// How many commands may wait for one connection (the byte budget bounds
/// their size; this bounds their count).
pub const COMMAND_QUEUE: usize = 64;

/// What the page asks of an open connection.
#[derive(Debug)]
pub enum ConnCommand {
    /// `send()` these bytes. The permit is their share of the session's
    /// to-sockets budget, given back once they are written.
    Send(Vec<u8>, SocketBudget),
    /// `shutdown(SHUT_WR)`.
    Shutdown,
    /// `close()`.
    Close,
}

/// Bytes of `send` data waiting for a socket, counted in the metrics.
#[derive(Debug)]
pub struct SocketBudget {
    pub permit: OwnedSemaphorePermit,
    pub metrics: Arc<Metrics>,
}

impl Drop for SocketBudget {
    fn drop(&mut self) {
        self.metrics.written_to_socket(self.permit.num_permits());
    }
}

/// One client connection of a session, before it runs.
#[derive(Debug)]
pub struct ClientConnection {
    pub conn: ConnId,
    /// The lab server it is aimed at, when it is one of the bridge's.
    pub server: Option<ServerId>,
    /// Where to connect, as the page will see it in `connect(...)`.
    pub target: String,
    /// The resolved address (for `--allow-target` names: resolved here).
    pub addr: Option<SocketAddr>,
    pub transport: Transport,
    pub clock: Clock,
    pub outbox: Outbox,
    /// The session's book of its sockets' local addresses, so a student's
    /// program that accepts this connection shows the same id.
    pub locals: Locals,
    /// Set when it goes to a lab server (the public one, or one of the
    /// session's own): where to register this socket's address, so the
    /// server sends this connection's events to this session.
    pub route: Option<ServerRoute>,
    /// Looks up an `--allow-target` name, bounded by the connect timeout
    /// (which also bounds `connect()`).
    pub targets: Targets,
    pub read_chunk: usize,
    /// When the page asked to close (the bridge's clock, 0 if it has not):
    /// `close()` is stamped then, before the socket is dropped.
    pub closing_at: AtomicU64,
}

/// How a lab server's events of one connection find their session.
#[derive(Debug, Clone)]
pub struct ServerRoute {
    /// The server's tracer, which holds its routes.
    pub tracer: Tracer,
    /// The session's queue for them.
    pub sink: RouteSink,
}

/// Why the connection stopped early (already reported as an event).
struct Stop;

impl ClientConnection {
    /// Runs the connection until the page closes it, an error ends it, or
    /// `token` is cancelled (the session ended).
    pub async fn run(self, commands: mpsc::Receiver<ConnCommand>, token: CancellationToken) {
        let _ = tokio::select! {
            _ = token.cancelled() => Err(Stop),
            done = self.play(commands, &token) => done,
        };
        // close(): the socket was dropped when `play` returned. Stamped
        // when the page asked for it, before the drop, if it did.
        let asked = self.closing_at.load(Ordering::Relaxed);
        let at = if asked == 0 {
            self.clock.now_us()
        } else {
            asked
        };
        self.emit_at(at, Step::Close).await;
    }

    async fn play(
        &self,
        commands: mpsc::Receiver<ConnCommand>,
        token: &CancellationToken,
    ) -> Result<(), Stop> {
        let addr = match self.addr {
            Some(addr) => addr,
            None => self.resolve().await?,
        };
        match self.transport {
            Transport::Tcp => self.play_tcp(addr, commands, token).await,
            Transport::Udp => self.play_udp(addr, commands, token).await,
        }
    }

    /// Looks up an allowed `HOST:PORT` name (only allowed names get here).
    async fn resolve(&self) -> Result<SocketAddr, Stop> {
        match self.targets.resolve(&self.target).await {
            Ok(addr) => Ok(addr),
            Err(err) => {
                self.fail(Call::Connect, protocol::ErrorKind::BadAddress, &err)
                    .await
            }
        }
    }

    async fn play_tcp(
        &self,
        addr: SocketAddr,
        mut commands: mpsc::Receiver<ConnCommand>,
        token: &CancellationToken,
    ) -> Result<(), Stop> {
        let family = family_of(addr);
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        };
        let socket = self.check(Call::Socket, socket).await?;
        self.emit(Step::Socket {
            family,
            transport: Transport::Tcp,
        })
        .await;
        // Binding to an ephemeral port *before* connect() tells us our own
        // address now, so the server's accept() can be told, before it
        // returns, that this peer is ours: its events are routed to this
        // session from its very first one. An implementation detail, not a
        // step of the lab: the Python client never calls bind() (connect()
        // picks the port itself), so the trace shows no bind() here.
        self.check(Call::Connect, socket.bind(bind_addr_for(addr)))
            .await?;
        // Held until this connection ends: the route must be there when the
        // server accepts, which may be long after connect() (the
        // connection can wait in the server's backlog).
        let _route = self.register(socket.local_addr());
        self.emit(Step::Connect {
            target: self.target.clone(),
        })
        .await;
        let connect_timeout = self.targets.connect_timeout();
        let stream = match tokio::time::timeout(connect_timeout, socket.connect(addr)).await {
            Ok(result) => self.check(Call::Connect, result).await?,
            Err(_) => {
                let err = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "connect() got no answer within {} s",
                        connect_timeout.as_secs()
                    ),
                );
                return self
                    .fail(Call::Connect, protocol::ErrorKind::TimedOut, &err)
                    .await;
            }
        };
        // Small lab messages should leave at once (no Nagle delay).
        let _ = stream.set_nodelay(true);
        let local = self.check(Call::Connect, stream.local_addr()).await?;
        let peer = self.check(Call::Connect, stream.peer_addr()).await?;
        self.locals.insert(local, self.conn);
        self.emit(Step::Connected {
            local: local.to_string(),
            peer: peer.to_string(),
        })
        .await;

        let (mut reader, mut writer) = stream.into_split();
        // Either half failing ends the connection; the page's `close`
        // ends it too. This token tells the other half.
        let done = token.child_token();
        // Each half waits on one `cancelled()` for the connection's life,
        // not a new one (two locked updates of the token's waiter list) per
        // read or command.
        let read = async {
            let mut buf = vec![0u8; self.read_chunk];
            let mut stopped = std::pin::pin!(done.cancelled());
            loop {
                let n = tokio::select! {
                    _ = &mut stopped => return,
                    n = reader.read(&mut buf) => n,
                };
                match n {
                    Ok(0) => {
                        // recv() returned 0 bytes: the peer will send no
                        // more. We may still send (the page decides).
                        self.emit(Step::RecvEof).await;
                        return;
                    }
                    // One event per read, with exactly its bytes. Waiting
                    // here for room in the outbox is the backpressure: no
                    // more reads until the browser catches up.
                    Ok(n) => {
                        self.emit(Step::Recv {
                            data: buf[..n].into(),
                        })
                        .await
                    }
                    Err(err) => {
                        let _ = self.fail::<()>(Call::Recv, error_kind(&err), &err).await;
                        done.cancel();
                        return;
                    }
                }
            }
        };
        let write = async {
            let mut shut = false;
            let mut stopped = std::pin::pin!(done.cancelled());
            loop {
                let command = tokio::select! {
                    _ = &mut stopped => return,
                    command = commands.recv() => command,
                };
                match command {
                    Some(ConnCommand::Send(bytes, budget)) if !shut => {
                        let sending = self.clock.now_us();
                        if let Err(err) = writer.write_all(&bytes).await {
                            let _ = self.fail::<()>(Call::Send, error_kind(&err), &err).await;
                            done.cancel();
                            return;
                        }
                        drop(budget);
                        self.emit_at(sending, Step::Send { data: bytes.into() })
                            .await;
                    }
                    Some(ConnCommand::Send(..)) => {
                        self.refuse(Refusal::State, "cannot send after shutdown(SHUT_WR)")
                            .await
                    }
                    Some(ConnCommand::Shutdown) if !shut => {
                        shut = true;
                        let shutting = self.clock.now_us();
                        match writer.shutdown().await {
                            Ok(()) => self.emit_at(shutting, Step::Shutdown).await,
                            Err(err) => {
                                let _ = self
                                    .fail::<()>(Call::Shutdown, error_kind(&err), &err)
                                    .await;
                            }
                        }
                    }
                    Some(ConnCommand::Shutdown) => {
                        self.refuse(Refusal::State, "this connection is already shut down")
                            .await
                    }
                    Some(ConnCommand::Close) | None => {
                        self.closing_at
                            .store(self.clock.now_us(), Ordering::Relaxed);
                        done.cancel();
                        return;
                    }
                }
            }
        };
        tokio::join!(read, write);
        Ok(())
    }

    async fn play_udp(
        &self,
        addr: SocketAddr,
        mut commands: mpsc::Receiver<ConnCommand>,
        token: &CancellationToken,
    ) -> Result<(), Stop> {
        self.emit(Step::Socket {
            family: family_of(addr),
            transport: Transport::Udp,
        })
        .await;
        let socket = self
            .check(Call::Socket, UdpSocket::bind(bind_addr_for(addr)).await)
            .await?;
        // Routed for as long as the socket lives (see `play_tcp`).
        let _route = self.register(socket.local_addr());
        // A "connected" UDP socket only remembers its peer: no handshake,
        // nothing is sent until the first sendto().
        self.emit(Step::Connect {
            target: self.target.clone(),
        })
        .await;
        self.check(Call::Connect, socket.connect(addr).await)
            .await?;
        let local = self.check(Call::Connect, socket.local_addr()).await?;
        self.emit(Step::Connected {
            local: local.to_string(),
            peer: addr.to_string(),
        })
        .await;
        let peer = addr.to_string();
        let mut buf = vec![0u8; self.read_chunk];
        loop {
            tokio::select! {
                _ = token.cancelled() => return Ok(()),
                received = socket.recv(&mut buf) => match received {
                    Ok(n) => self.emit(Step::RecvFrom { peer: peer.clone(), data: buf[..n].into() }).await,
                    // An ICMP "port unreachable" for an earlier datagram
                    // shows up here; the socket itself is still fine.
                    Err(err) => { let _ = self.fail::<()>(Call::RecvFrom, error_kind(&err), &err).await; }
                },
                command = commands.recv() => match command {
                    Some(ConnCommand::Send(bytes, budget)) => {
                        let sent = socket.send(&bytes).await;
                        drop(budget);
                        match sent {
                            Ok(_) => self.emit(Step::SendTo { peer: peer.clone(), data: bytes.into() }).await,
                            Err(err) => { let _ = self.fail::<()>(Call::SendTo, error_kind(&err), &err).await; }
                        }
                    }
                    Some(ConnCommand::Shutdown) => {
                        self.refuse(Refusal::State, "UDP has no shutdown(): there is no connection to half-close").await
                    }
                    Some(ConnCommand::Close) | None => return Ok(()),
                },
            }
        }
    }

    /// Remembers our socket's bound address `local`, and routes the lab
    /// server's events of connections from it to this session.
    fn register(&self, local: io::Result<SocketAddr>) -> Option<RouteGuard> {
        let local = local.ok()?;
        self.locals.insert(local, self.conn);
        let route = self.route.as_ref()?;
        Some(route.tracer.route(local, &route.sink, self.conn))
    }

    /// Reports a client-lane step.
    async fn emit(&self, step: Step) {
        self.emit_at(self.clock.now_us(), step).await
    }

    /// Reports a client-lane step stamped `at_us`: a call that makes the
    /// server act (`send`, `shutdown`, `close`) is stamped before the
    /// system call, so the server's `recv` is never stamped earlier.
    async fn emit_at(&self, at_us: u64, step: Step) {
        let event = TraceEvent {
            at_us,
            lane: Lane::Client,
            server: self.server,
            conn: Some(self.conn),
            server_conn: None,
            source: None,
            step,
        };
        // Closed only means the browser has gone; nothing left to tell.
        let _ = self.outbox.send(ServerMsg::Trace(event)).await;
    }

    async fn refuse(&self, reason: Refusal, message: &str) {
        let _ = self
            .outbox
            .send(ServerMsg::Refused {
                reason,
                message: format!("connection {}: {message}", self.conn),
                conn: Some(self.conn),
                server: None,
            })
            .await;
    }

    /// Reports a failed call as an error step, and stops.
    async fn fail<T>(
        &self,
        call: Call,
        kind: protocol::ErrorKind,
        err: &io::Error,
    ) -> Result<T, Stop> {
        self.emit(Step::Error {
            kind,
            message: err.to_string(),
            failed: Some(call),
        })
        .await;
        Err(Stop)
    }

    /// The value, or the OS error reported as a step.
    async fn check<T>(&self, call: Call, result: io::Result<T>) -> Result<T, Stop> {
        match result {
            Ok(value) => Ok(value),
            Err(err) => self.fail(call, error_kind(&err), &err).await,
        }
    }
}

fn family_of(addr: SocketAddr) -> Family {
    match addr {
        SocketAddr::V4(_) => Family::Ipv4,
        SocketAddr::V6(_) => Family::Ipv6,
    }
}

/// Where to bind before connecting to `target`: the same loopback address
/// for a loopback target (so our full address is known before connect()),
/// else any address of the right family; port 0 either way.
fn bind_addr_for(target: SocketAddr) -> SocketAddr {
    let ip = match target.ip() {
        ip if ip.is_loopback() => ip,
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}
