//! [`ProgramRunner`]: one student program's task. It performs the
//! program's socket calls on real sockets, one at a time and in order, and
//! traces each on the program's lane with the student's line.
//!
//! A program is single-threaded: it makes a call and waits for the reply
//! before its next line runs. So one task per program, fed by a bounded
//! channel, is exactly the program's own order. Two programs (the
//! student's server and client) are two tasks: while the server's task
//! waits in `accept()`, the client's task connects, and the server's
//! `accept()` returns that connection.
//!
//! Every wait is bounded: by the call's timeout (`settimeout()`), by the
//! program's end (Stop: the call returns `EINTR`), and by the session's
//! end. When the program ends, the task closes every socket it still has,
//! tracing each `close()`, so nothing a program opened outlives it.
//!
//! Here: the task's loop, `socket()`, `bind()` and `close()`, and how a
//! call is traced. TCP's other calls are in `stream.rs`, UDP's in
//! `datagram.rs`.

use super::errno;
use super::ports::{NotHere, loopback};
use super::socket::{Bound, Datagram, ProgramSocket, Stage};
use super::{ProgramEnv, ports::PortLease};
use crate::route::RouteSink;
use protocol::{
    Call, ConnId, Family, Lane, ProgramId, ServerMsg, SockError, SockId, SockOp, SockResult,
    SockValue, Source, Step, TraceEvent, Transport,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The largest backlog a program may ask `listen()` for.
pub(super) const MAX_BACKLOG: u32 = 128;

/// One socket call, as the page sent it.
#[derive(Debug)]
pub struct CallRequest {
    /// The program's number for the call; the reply names it.
    pub call: u64,
    pub op: SockOp,
    /// `settimeout()`: how long the call may wait.
    pub timeout_ms: Option<u64>,
    /// The student's line that made the call.
    pub line: Option<u32>,
    /// The program did not wait for the reply (a blocking TCP send): a
    /// failure is kept for its next call on the socket.
    pub posted: bool,
}

/// One running program.
#[derive(Debug)]
pub struct ProgramRunner {
    pub(super) program: ProgramId,
    /// The lane its events are drawn in.
    pub(super) lane: Lane,
    pub(super) file: String,
    pub(super) env: Arc<ProgramEnv>,
    /// The session's queue for the public server's events, for this
    /// program's connections to it.
    pub(super) public_route: Option<RouteSink>,
    /// Cancelled when the program ends (or the session does): the call
    /// waiting now returns `EINTR`.
    pub(super) end: CancellationToken,
    /// The line of the latest call (shared with the session, for prints).
    pub(super) line: Arc<AtomicU32>,
    /// The program's open sockets, by number (ordered, so they close in
    /// the order they were made).
    pub(super) sockets: BTreeMap<SockId, ProgramSocket>,
    /// Failures of posted calls the program has not yet been told of: its
    /// next call on the socket raises it.
    pub(super) deferred: BTreeMap<SockId, SockError>,
}

/// A failed call: its error, and the connection it belongs to when the
/// socket itself does not say (a `connect()` that failed).
pub(super) struct Failed(pub(super) SockError, pub(super) Option<ConnId>);

impl From<SockError> for Failed {
    fn from(err: SockError) -> Failed {
        Failed(err, None)
    }
}

pub(super) type Outcome = Result<SockValue, Failed>;

impl ProgramRunner {
    /// Performs calls until the program ends, then closes its sockets and
    /// says so with `program_ended`.
    pub async fn run(mut self, mut calls: mpsc::Receiver<CallRequest>) {
        // One wait for the program's life, not one registered and dropped
        // per call.
        let end = self.end.clone();
        let mut ended = std::pin::pin!(end.cancelled());
        loop {
            let request = tokio::select! {
                biased;
                _ = &mut ended => break,
                request = calls.recv() => match request {
                    Some(request) => request,
                    None => break,
                },
            };
            let call = request.call;
            let posted = request.posted.then(|| request.op.sock()).flatten();
            let result = self.perform(request).await;
            if let (Some(sock), Err(err)) = (posted, &result)
                && err.errno != "EINTR"
            {
                self.deferred.insert(sock, err.clone());
            }
            if !self.reply(call, result).await {
                // The page has gone: nobody is left to answer.
                break;
            }
        }
        // Calls that came after the end: the program is gone.
        calls.close();
        while let Ok(request) = calls.try_recv() {
            let _ = self.reply(request.call, Err(errno::interrupted())).await;
        }
        let closed = self.close_all().await;
        let ended = ServerMsg::ProgramEnded {
            program: self.program,
            closed,
        };
        let _ = self.env.outbox.send(ended).await;
    }

    /// Answers call `call`; false if the page has gone.
    async fn reply(&self, call: u64, result: Result<SockValue, SockError>) -> bool {
        let result = match result {
            Ok(value) => SockResult::Ok(value),
            Err(err) => SockResult::Err(err),
        };
        let reply = ServerMsg::SockReply {
            program: self.program,
            call,
            result,
        };
        self.env.outbox.send(reply).await.is_ok()
    }

    /// Performs one call; a failure is traced (as Python would raise it)
    /// on the socket's connection.
    async fn perform(&mut self, request: CallRequest) -> Result<SockValue, SockError> {
        if let Some(line) = request.line {
            self.line.store(line, Ordering::Relaxed);
        }
        let timeout = request.timeout_ms.map(Duration::from_millis);
        let call = call_of(&request.op);
        let sock = request.op.sock();
        let earlier = match (&request.op, sock) {
            (SockOp::Close { sock }, _) => {
                self.deferred.remove(sock);
                None
            }
            (_, Some(sock)) => self.deferred.remove(&sock),
            _ => None,
        };
        let outcome = if let Some(mut err) = earlier {
            // A posted send on this socket failed after the program went
            // on: this call raises it, as a kernel reports a reset
            // connection at the next call.
            err.message = format!("{} (an earlier send() on this socket failed)", err.message);
            Err(Failed(err, None))
        } else {
            self.dispatch(request.op, timeout, request.posted).await
        };
        match outcome {
            Ok(value) => Ok(value),
            Err(Failed(err, conn)) => {
                // A stopped program's last call is not a mistake of the
                // student's: its sockets' closes tell what happened.
                if err.errno != "EINTR" {
                    let conn = conn.or_else(|| {
                        sock.and_then(|sock| self.sockets.get(&sock))
                            .and_then(ProgramSocket::conn)
                    });
                    let step = Step::Error {
                        kind: err.kind,
                        message: err.message.clone(),
                        failed: Some(call),
                    };
                    self.emit(conn, step).await;
                }
                Err(err)
            }
        }
    }

    /// Performs one call's operation. A posted `send()` sends all its
    /// bytes, as a blocking one does on Linux (the program has gone on,
    /// counting on it).
    async fn dispatch(&mut self, op: SockOp, timeout: Option<Duration>, posted: bool) -> Outcome {
        match op {
            SockOp::Socket { family, transport } => self.socket(family, transport).await,
            SockOp::Bind { sock, host, port } => self.bind(sock, &host, port).await,
            SockOp::Listen { sock, backlog } => self.listen(sock, backlog).await,
            SockOp::Accept { sock } => self.accept(sock, timeout).await,
            SockOp::Connect { sock, host, port } => self.connect(sock, &host, port, timeout).await,
            SockOp::Send { sock, data, all } => self.send(sock, data, all || posted, timeout).await,
            SockOp::Recv { sock, max } => self.recv(sock, max, timeout, false).await,
            SockOp::SendTo {
                sock,
                data,
                host,
                port,
            } => self.send_to(sock, data, &host, port, timeout).await,
            SockOp::RecvFrom { sock, max } => self.recv(sock, max, timeout, true).await,
            SockOp::Shutdown { sock, how } => self.shutdown(sock, how).await,
            SockOp::Close { sock } => self.close(sock).await,
        }
    }

    /// `socket(family, type)`: a real socket (TCP at once; UDP when it is
    /// bound or first used, as the OS binds it then).
    async fn socket(&mut self, family: Family, transport: Transport) -> Outcome {
        let Ok(slot) = self.env.sockets.clone().try_acquire_owned() else {
            return Err(errno::limit(
                "EMFILE",
                "Too many open files",
                format!(
                    "a session's programs may have at most {} sockets open at once",
                    self.env.limits.max_program_sockets_per_session
                ),
            )
            .into());
        };
        let (stage, conn) = match transport {
            Transport::Tcp => {
                let socket = new_tcp(family).map_err(|err| errno::from_io(&err))?;
                (
                    Stage::Fresh {
                        socket,
                        bound: None,
                    },
                    None,
                )
            }
            Transport::Udp => {
                let conn = self.env.conn_id();
                let datagram = Datagram {
                    socket: None,
                    bound: None,
                    conn,
                    server: false,
                    peer: None,
                    _route: None,
                };
                (Stage::Datagram(Box::new(datagram)), Some(conn))
            }
        };
        let sock = self.env.sock_id();
        self.sockets.insert(
            sock,
            ProgramSocket {
                family,
                transport,
                stage,
                _slot: slot,
            },
        );
        self.emit(conn, Step::Socket { family, transport }).await;
        Ok(SockValue::Socket { sock })
    }

    /// `bind((host, port))`: the port is the session's own; the real
    /// socket gets an ephemeral loopback port, and both are traced.
    async fn bind(&mut self, sock: SockId, host: &str, port: u16) -> Outcome {
        let env = self.env.clone();
        let socket = self.sockets.get_mut(&sock).ok_or_else(errno::bad_socket)?;
        let place = loopback(host, socket.family).map_err(|not_here| match not_here {
            NotHere::WrongFamily => errno::wrong_family(),
            NotHere::Elsewhere => errno::not_here(),
        })?;
        let transport = socket.transport;
        let bindable = match &socket.stage {
            Stage::Fresh { bound, .. } => bound.is_none(),
            Stage::Datagram(datagram) => datagram.socket.is_none(),
            _ => false,
        };
        if !bindable {
            return Err(errno::invalid("the socket is already bound").into());
        }
        // Claimed before binding, so two programs of the session binding
        // the same port at the same moment cannot both get it.
        let lease = claim(&env, transport, port)?;
        let (bound, conn) = match &mut socket.stage {
            Stage::Fresh {
                socket,
                bound: None,
            } => {
                socket
                    .bind(SocketAddr::new(place.ip, 0))
                    .map_err(|err| errno::from_io(&err))?;
                let real = socket.local_addr().map_err(|err| errno::from_io(&err))?;
                let bound = settle(&env, transport, lease, real, place.shown)?;
                (bound, None)
            }
            Stage::Datagram(datagram) if datagram.socket.is_none() => {
                let udp = UdpSocket::bind(SocketAddr::new(place.ip, 0))
                    .await
                    .map_err(|err| errno::from_io(&err))?;
                let real = udp.local_addr().map_err(|err| errno::from_io(&err))?;
                let bound = settle(&env, transport, lease, real, place.shown)?;
                env.locals.insert(real, datagram.conn);
                datagram.socket = Some(udp);
                datagram.server = true;
                (bound, Some(datagram.conn))
            }
            _ => return Err(errno::invalid("the socket is already bound").into()),
        };
        let value = SockValue::Bound {
            local: bound.shown.to_string(),
            real: bound.real.to_string(),
        };
        let step = Step::Bind {
            addr: bound.real.to_string(),
            asked: Some(bound.shown.to_string()),
        };
        match &mut socket.stage {
            Stage::Fresh { bound: slot, .. } => *slot = Some(bound),
            Stage::Datagram(datagram) => datagram.bound = Some(bound),
            _ => {}
        }
        self.emit(conn, step).await;
        Ok(value)
    }

    /// `close()`: the real socket is closed (a listening socket's port is
    /// free again; a connected one's peer reads `b''`). Closing twice is
    /// not an error, as in Python.
    async fn close(&mut self, sock: SockId) -> Outcome {
        match self.sockets.remove(&sock) {
            Some(socket) => {
                let conn = socket.conn();
                drop(socket);
                self.emit(conn, Step::Close).await;
                Ok(SockValue::Done)
            }
            None if self.env.was_given(sock) => Ok(SockValue::Done),
            None => Err(errno::bad_socket().into()),
        }
    }

    /// Closes every socket the program still has, tracing each; returns
    /// how many.
    async fn close_all(&mut self) -> u32 {
        let sockets = std::mem::take(&mut self.sockets);
        let mut closed = 0;
        for (_, socket) in sockets {
            let conn = socket.conn();
            drop(socket);
            closed += 1;
            self.emit(conn, Step::Close).await;
        }
        closed
    }

    /// Puts a socket's stage back after a call took it out.
    pub(super) fn restore(&mut self, sock: SockId, stage: Stage) {
        if let Some(socket) = self.sockets.get_mut(&sock) {
            socket.stage = stage;
        }
    }

    /// Traces a step of this program, on its lane, with its current line.
    pub(super) async fn emit(&self, conn: Option<ConnId>, step: Step) {
        let event = TraceEvent {
            at_us: self.env.clock.now_us(),
            lane: self.lane,
            server: None,
            conn,
            server_conn: None,
            source: Some(Source {
                program: self.program,
                file: self.file.clone(),
                line: self.line.load(Ordering::Relaxed),
            }),
            step,
        };
        // Closed only means the page has gone.
        let _ = self.env.outbox.send(ServerMsg::Trace(event)).await;
    }
}

/// Waits for `work`, at most until `limit` passes (then its error) or the
/// program ends (`EINTR`).
pub(super) async fn bounded<T>(
    end: &CancellationToken,
    limit: Option<(Duration, SockError)>,
    work: impl Future<Output = io::Result<T>>,
) -> Result<T, SockError> {
    let timed = async {
        match limit {
            Some((limit, expired)) => match tokio::time::timeout(limit, work).await {
                Ok(result) => result.map_err(|err| errno::from_io(&err)),
                Err(_) => Err(expired),
            },
            None => work.await.map_err(|err| errno::from_io(&err)),
        }
    };
    tokio::select! {
        biased;
        _ = end.cancelled() => Err(errno::interrupted()),
        result = timed => result,
    }
}

/// Claims `port` in the session's space (port 0: claimed once the real
/// port is known).
pub(super) fn claim(
    env: &ProgramEnv,
    transport: Transport,
    port: u16,
) -> Result<Option<PortLease>, SockError> {
    if port == 0 {
        return Ok(None);
    }
    env.ports
        .reserve(transport, port)
        .map(Some)
        .ok_or_else(errno::addr_in_use)
}

/// Records a bound socket's real address under its claim (or, for port 0,
/// under its real port number).
pub(super) fn settle(
    env: &ProgramEnv,
    transport: Transport,
    lease: Option<PortLease>,
    real: SocketAddr,
    shown_ip: IpAddr,
) -> Result<Bound, SockError> {
    let lease = match lease {
        Some(lease) => lease,
        None => env
            .ports
            .reserve(transport, real.port())
            .ok_or_else(errno::addr_in_use)?,
    };
    lease.settle(real);
    Ok(Bound {
        shown: SocketAddr::new(shown_ip, lease.port()),
        real,
        lease,
    })
}

/// A share of the session's budget of bytes waiting for sockets.
pub(super) fn budget(
    env: &ProgramEnv,
    len: usize,
) -> Result<tokio::sync::OwnedSemaphorePermit, SockError> {
    u32::try_from(len)
        .ok()
        .and_then(|n| env.to_sockets.clone().try_acquire_many_owned(n).ok())
        .ok_or_else(|| {
            errno::limit(
                "ENOBUFS",
                "No buffer space available",
                format!(
                    "at most {} bytes may wait to be written per session",
                    env.limits.max_buffered_bytes
                ),
            )
        })
}

pub(super) fn too_many_sockets(env: &ProgramEnv) -> SockError {
    errno::limit(
        "EMFILE",
        "Too many open files",
        format!(
            "a session's programs may have at most {} sockets open at once",
            env.limits.max_program_sockets_per_session
        ),
    )
}

pub(super) fn new_tcp(family: Family) -> io::Result<TcpSocket> {
    match family {
        Family::Ipv4 => TcpSocket::new_v4(),
        Family::Ipv6 => TcpSocket::new_v6(),
    }
}

/// A fresh TCP socket in place of one a failed call used up.
pub(super) fn fresh(family: Family, bound: Option<Bound>) -> Stage {
    match new_tcp(family) {
        Ok(socket) => Stage::Fresh { socket, bound },
        Err(_) => Stage::Busy,
    }
}

pub(super) fn loopback_ip(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// Where to bind before connecting to `target`: the same loopback address
/// for a loopback target, else any address of its family; port 0.
pub(super) fn source_for(target: SocketAddr) -> SocketAddr {
    let ip = match target.ip() {
        ip if ip.is_loopback() => ip,
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// The call a socket operation is, in the lab's words.
fn call_of(op: &SockOp) -> Call {
    match op {
        SockOp::Socket { .. } => Call::Socket,
        SockOp::Bind { .. } => Call::Bind,
        SockOp::Listen { .. } => Call::Listen,
        SockOp::Accept { .. } => Call::Accept,
        SockOp::Connect { .. } => Call::Connect,
        SockOp::Send { .. } => Call::Send,
        SockOp::Recv { .. } => Call::Recv,
        SockOp::SendTo { .. } => Call::SendTo,
        SockOp::RecvFrom { .. } => Call::RecvFrom,
        SockOp::Shutdown { .. } => Call::Shutdown,
        SockOp::Close { .. } => Call::Close,
    }
}
