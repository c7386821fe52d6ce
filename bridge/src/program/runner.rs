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

use super::errno;
use super::ports::{NotHere, host_port, loopback};
use super::socket::{Bound, Connection, Datagram, ProgramSocket, Stage};
use super::{ProgramEnv, ports::PortLease};
use crate::route::RouteSink;
use crate::session::connect_addr;
use crate::trace::Tracer;
use protocol::{
    Bytes, Call, ConnId, Family, Lane, ProgramId, ServerMsg, SockError, SockId, SockOp, SockResult,
    SockValue, Source, Step, TraceEvent, Transport, program::Shut,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The largest backlog a program may ask `listen()` for.
const MAX_BACKLOG: u32 = 128;

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
}

/// A failed call: its error, and the connection it belongs to when the
/// socket itself does not say (a `connect()` that failed).
struct Failed(SockError, Option<ConnId>);

impl From<SockError> for Failed {
    fn from(err: SockError) -> Failed {
        Failed(err, None)
    }
}

type Outcome = Result<SockValue, Failed>;

/// Where a `connect()` or `sendto()` goes.
enum Destination {
    /// A real address: a port of the session's own space, or the public
    /// lab server (`public` is then its tracer, to route its events here).
    Real {
        addr: SocketAddr,
        shown: String,
        public: Option<Tracer>,
    },
    /// A port of this machine that no socket of the session has:
    /// `connect()` is refused, a datagram goes nowhere.
    Nowhere { shown: String },
    /// An `--allow-target` name, looked up when used.
    Allowed(String),
}

impl ProgramRunner {
    /// Performs calls until the program ends, then closes its sockets and
    /// says so with `program_ended`.
    pub async fn run(mut self, mut calls: mpsc::Receiver<CallRequest>) {
        loop {
            let request = tokio::select! {
                biased;
                _ = self.end.cancelled() => break,
                request = calls.recv() => match request {
                    Some(request) => request,
                    None => break,
                },
            };
            let call = request.call;
            let result = self.perform(request).await;
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
        let outcome = match request.op {
            SockOp::Socket { family, transport } => self.socket(family, transport).await,
            SockOp::Bind { sock, host, port } => self.bind(sock, &host, port).await,
            SockOp::Listen { sock, backlog } => self.listen(sock, backlog).await,
            SockOp::Accept { sock } => self.accept(sock, timeout).await,
            SockOp::Connect { sock, host, port } => self.connect(sock, &host, port, timeout).await,
            SockOp::Send { sock, data, all } => self.send(sock, data, all, timeout).await,
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

    /// `listen(backlog)`: a real listening socket with that backlog (an
    /// unbound socket gets a free port first, as on Linux).
    async fn listen(&mut self, sock: SockId, backlog: u32) -> Outcome {
        let env = self.env.clone();
        let socket = self.sockets.get_mut(&sock).ok_or_else(errno::bad_socket)?;
        let family = socket.family;
        match &socket.stage {
            Stage::Fresh { .. } => {}
            // Listening again only changes the backlog.
            Stage::Listening { .. } => {}
            Stage::Datagram(_) => {
                return Err(
                    errno::not_supported("UDP has no listen(): it has no connections").into(),
                );
            }
            Stage::Connected(_) => {
                return Err(errno::invalid("a connected socket cannot listen").into());
            }
            Stage::Busy => return Err(errno::invalid("the socket is busy").into()),
        }
        if let Stage::Fresh { socket, bound } = std::mem::replace(&mut socket.stage, Stage::Busy) {
            let bound = match bound {
                Some(bound) => bound,
                None => {
                    let ip = loopback_ip(family);
                    let bound = socket
                        .bind(SocketAddr::new(ip, 0))
                        .and_then(|()| socket.local_addr())
                        .map_err(|err| errno::from_io(&err))
                        .and_then(|real| settle(&env, Transport::Tcp, None, real, ip));
                    match bound {
                        Ok(bound) => bound,
                        Err(err) => {
                            self.restore(sock, fresh(family, None));
                            return Err(err.into());
                        }
                    }
                }
            };
            match socket.listen(backlog.min(MAX_BACKLOG)) {
                Ok(listener) => self.restore(sock, Stage::Listening { listener, bound }),
                Err(err) => {
                    self.restore(sock, fresh(family, None));
                    return Err(errno::from_io(&err).into());
                }
            }
        }
        self.emit(None, Step::Listen { backlog }).await;
        Ok(SockValue::Done)
    }

    /// `accept()`: waits for a client; returns a new socket for it (the
    /// listening socket keeps listening for the next one).
    async fn accept(&mut self, sock: SockId, timeout: Option<Duration>) -> Outcome {
        let env = self.env.clone();
        let socket = self.sockets.get(&sock).ok_or_else(errno::bad_socket)?;
        let (listener, bound) = match &socket.stage {
            Stage::Listening { listener, bound } => (listener, bound),
            Stage::Datagram(_) => {
                return Err(
                    errno::not_supported("UDP has no accept(): it has no connections").into(),
                );
            }
            _ => {
                return Err(errno::invalid(
                    "accept() needs a listening socket: call listen() first",
                )
                .into());
            }
        };
        let family = socket.family;
        let local_shown = bound.shown.to_string();
        // The new socket's place under the session's limit is taken before
        // accepting, so a client is never accepted and then dropped.
        let slot = env
            .sockets
            .clone()
            .try_acquire_owned()
            .map_err(|_| too_many_sockets(&env))?;
        let (stream, peer) = bounded(
            &self.end,
            timeout.map(|t| (t, errno::timed_out())),
            listener.accept(),
        )
        .await?;
        // Small messages leave at once (no Nagle delay), as the lab's
        // servers do.
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().map_err(|err| errno::from_io(&err))?;
        // Our own client (a program's, or the page's) if its socket has
        // this address: then both lanes show one connection.
        let conn = env.locals.lookup(peer).unwrap_or_else(|| env.conn_id());
        let new = env.sock_id();
        let connection = Connection {
            stream,
            conn,
            _route: None,
            _bound: None,
        };
        self.sockets.insert(
            new,
            ProgramSocket {
                family,
                transport: Transport::Tcp,
                stage: Stage::Connected(Box::new(connection)),
                _slot: slot,
            },
        );
        let step = Step::Accept {
            peer: peer.to_string(),
            local: local.to_string(),
        };
        self.emit(Some(conn), step).await;
        Ok(SockValue::Accepted {
            sock: new,
            peer: peer.to_string(),
            local: local_shown,
        })
    }

    /// `connect((host, port))`: TCP's three-way handshake, for real; a
    /// UDP socket only remembers its peer.
    async fn connect(
        &mut self,
        sock: SockId,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Outcome {
        let env = self.env.clone();
        let socket = self.sockets.get(&sock).ok_or_else(errno::bad_socket)?;
        let family = socket.family;
        let transport = socket.transport;
        let refused = match &socket.stage {
            Stage::Fresh { .. } | Stage::Datagram(_) => None,
            Stage::Connected(_) => Some(errno::already_connected()),
            Stage::Listening { .. } => Some(errno::invalid("a listening socket cannot connect")),
            Stage::Busy => Some(errno::invalid("the socket is busy")),
        };
        if let Some(err) = refused {
            return Err(err.into());
        }
        if transport == Transport::Udp {
            return self.aim_datagram(sock, host, port).await;
        }
        let conn = env.conn_id();
        let target = match host {
            "" => host_port("0.0.0.0", port),
            host => host_port(host, port),
        };
        self.emit(Some(conn), Step::Connect { target }).await;
        let failed = |err: SockError| Failed(err, Some(conn));
        let (limit, expired) = match timeout {
            Some(timeout) if timeout < env.limits.connect_timeout => (timeout, errno::timed_out()),
            _ => (env.limits.connect_timeout, errno::connect_timed_out()),
        };
        let (addr, shown, public) =
            match destination(&env, transport, family, host, port).map_err(failed)? {
                Destination::Real {
                    addr,
                    shown,
                    public,
                } => (addr, shown, public),
                Destination::Nowhere { .. } => return Err(failed(errno::refused())),
                Destination::Allowed(target) => {
                    let lookup = resolve(&target, family);
                    let addr = bounded(&self.end, Some((limit, expired.clone())), async {
                        Ok(lookup.await)
                    })
                    .await
                    .map_err(failed)?
                    .map_err(failed)?;
                    (addr, target, None)
                }
            };
        let Some(Stage::Fresh { socket, bound }) = self
            .sockets
            .get_mut(&sock)
            .map(|socket| std::mem::replace(&mut socket.stage, Stage::Busy))
        else {
            return Err(failed(errno::invalid("the socket is busy")));
        };
        // Bound before connecting, so our own address is known now: the
        // server's accept() (the student's own, or the public lab's) can
        // tell, as soon as it returns, that this client is ours.
        if bound.is_none()
            && let Err(err) = socket.bind(source_for(addr))
        {
            self.restore(sock, fresh(family, None));
            return Err(failed(errno::from_io(&err)));
        }
        let local = socket.local_addr().ok();
        if let Some(local) = local {
            env.locals.insert(local, conn);
        }
        let route = match (public, &self.public_route, local) {
            (Some(tracer), Some(sink), Some(local)) => Some(tracer.route(local, sink, conn)),
            _ => None,
        };
        let connected = bounded(&self.end, Some((limit, expired)), socket.connect(addr)).await;
        let stream = match connected {
            Ok(stream) => stream,
            Err(err) => {
                // As on Linux, a socket whose connect() failed may try again.
                self.restore(sock, fresh(family, None));
                return Err(failed(err));
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream
            .local_addr()
            .map_err(|err| failed(errno::from_io(&err)))?;
        let peer = stream
            .peer_addr()
            .map_err(|err| failed(errno::from_io(&err)))?;
        let connection = Connection {
            stream,
            conn,
            _route: route,
            _bound: bound,
        };
        self.restore(sock, Stage::Connected(Box::new(connection)));
        let step = Step::Connected {
            local: local.to_string(),
            peer: peer.to_string(),
        };
        self.emit(Some(conn), step).await;
        Ok(SockValue::Connected {
            local: local.to_string(),
            peer: shown,
        })
    }

    /// `connect()` on a UDP socket: no handshake, nothing is sent; the
    /// socket remembers where `send()` goes.
    async fn aim_datagram(&mut self, sock: SockId, host: &str, port: u16) -> Outcome {
        let env = self.env.clone();
        let (family, conn) = self.datagram(sock).await?;
        let target = host_port(host, port);
        self.emit(
            Some(conn),
            Step::Connect {
                target: target.clone(),
            },
        )
        .await;
        let (real, shown) = match destination(&env, Transport::Udp, family, host, port)? {
            Destination::Real {
                addr,
                shown,
                public,
            } => {
                self.route_public(sock, public);
                (Some(addr), shown)
            }
            Destination::Nowhere { shown } => (None, shown),
            Destination::Allowed(target) => {
                let addr = resolve(&target, family).await?;
                (Some(addr), target)
            }
        };
        let local = self.datagram_local(sock);
        if let Some(Stage::Datagram(datagram)) = self.sockets.get_mut(&sock).map(|s| &mut s.stage) {
            datagram.peer = Some((real, shown.clone()));
        }
        let step = Step::Connected {
            local: local.map(|l| l.to_string()).unwrap_or_default(),
            peer: real.map_or(shown, |real| real.to_string()),
        };
        self.emit(Some(conn), step).await;
        Ok(SockValue::Done)
    }

    /// `send(data)` (one write: it may write less) or `sendall(data)`.
    async fn send(
        &mut self,
        sock: SockId,
        data: Bytes,
        all: bool,
        timeout: Option<Duration>,
    ) -> Outcome {
        let env = self.env.clone();
        let _budget = budget(&env, data.len())?;
        let socket = self.sockets.get(&sock).ok_or_else(errno::bad_socket)?;
        let aimed = match &socket.stage {
            Stage::Connected(_) => None,
            Stage::Datagram(datagram) => match datagram.peer.clone() {
                Some(peer) => Some(peer),
                None => {
                    return Err(errno::named(
                        "EDESTADDRREQ",
                        "Destination address required",
                        protocol::ErrorKind::Other,
                    )
                    .into());
                }
            },
            _ => return Err(errno::not_connected().into()),
        };
        if let Some((real, shown)) = aimed {
            return self.send_datagram(sock, data, real, shown, timeout).await;
        }
        let Some(Stage::Connected(connection)) = self.sockets.get_mut(&sock).map(|s| &mut s.stage)
        else {
            return Err(errno::not_connected().into());
        };
        let conn = connection.conn;
        let stream = &mut connection.stream;
        let write = async {
            if all {
                stream.write_all(&data.0).await.map(|()| data.len())
            } else {
                stream.write(&data.0).await
            }
        };
        let n = bounded(&self.end, timeout.map(|t| (t, errno::timed_out())), write).await?;
        let sent = Bytes(data.0[..n.min(data.len())].to_vec());
        self.emit(Some(conn), Step::Send { data: sent }).await;
        Ok(SockValue::Sent {
            n: u32::try_from(n).unwrap_or(u32::MAX),
        })
    }

    /// `recv(max)` (and `recvfrom(max)`): exactly one read of at most
    /// `max` bytes (and at most what one message to the page may carry).
    async fn recv(
        &mut self,
        sock: SockId,
        max: u32,
        timeout: Option<Duration>,
        from: bool,
    ) -> Outcome {
        let env = self.env.clone();
        let cap = usize::try_from(max)
            .unwrap_or(usize::MAX)
            .min(env.limits.read_chunk());
        let socket = self.sockets.get(&sock).ok_or_else(errno::bad_socket)?;
        let datagram = match &socket.stage {
            Stage::Connected(_) => false,
            Stage::Datagram(_) => true,
            _ => return Err(errno::not_connected().into()),
        };
        if datagram {
            return self.recv_datagram(sock, cap, timeout, from).await;
        }
        let Some(Stage::Connected(connection)) = self.sockets.get_mut(&sock).map(|s| &mut s.stage)
        else {
            return Err(errno::not_connected().into());
        };
        let conn = connection.conn;
        let peer = connection
            .stream
            .peer_addr()
            .map(|peer| peer.to_string())
            .unwrap_or_default();
        let mut buf = vec![0u8; cap];
        let n = if cap == 0 {
            // recv(0) returns b'' at once, as in Python.
            0
        } else {
            let stream = &mut connection.stream;
            bounded(
                &self.end,
                timeout.map(|t| (t, errno::timed_out())),
                stream.read(&mut buf),
            )
            .await?
        };
        buf.truncate(n);
        if cap > 0 {
            let step = if n == 0 {
                // recv() returned 0 bytes: the peer will send no more.
                Step::RecvEof
            } else {
                Step::Recv {
                    data: Bytes(buf.clone()),
                }
            };
            self.emit(Some(conn), step).await;
        }
        Ok(if from {
            SockValue::DataFrom {
                data: Bytes(buf),
                peer,
            }
        } else {
            SockValue::Data { data: Bytes(buf) }
        })
    }

    /// `sendto(data, (host, port))`.
    async fn send_to(
        &mut self,
        sock: SockId,
        data: Bytes,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Outcome {
        let env = self.env.clone();
        let socket = self.sockets.get(&sock).ok_or_else(errno::bad_socket)?;
        match &socket.stage {
            Stage::Datagram(_) => {}
            Stage::Connected(_) => return Err(errno::already_connected().into()),
            _ => {
                return Err(
                    errno::named("EPIPE", "Broken pipe", protocol::ErrorKind::BrokenPipe).into(),
                );
            }
        }
        let _budget = budget(&env, data.len())?;
        let (family, _) = self.datagram(sock).await?;
        let (real, shown) = match destination(&env, Transport::Udp, family, host, port)? {
            Destination::Real {
                addr,
                shown,
                public,
            } => {
                self.route_public(sock, public);
                (Some(addr), shown)
            }
            Destination::Nowhere { shown } => (None, shown),
            Destination::Allowed(target) => {
                let addr = resolve(&target, family).await?;
                (Some(addr), target)
            }
        };
        self.send_datagram(sock, data, real, shown, timeout).await
    }

    /// Sends one datagram to `real` (none: a port of this machine nobody
    /// has, so it is lost, as UDP loses it) and traces it.
    async fn send_datagram(
        &mut self,
        sock: SockId,
        data: Bytes,
        real: Option<SocketAddr>,
        shown: String,
        timeout: Option<Duration>,
    ) -> Outcome {
        let (_, own) = self.datagram(sock).await?;
        let Some(Stage::Datagram(datagram)) = self.sockets.get(&sock).map(|s| &s.stage) else {
            return Err(errno::bad_socket().into());
        };
        let server = datagram.server;
        let n = match (&datagram.socket, real) {
            (Some(udp), Some(real)) => {
                bounded(
                    &self.end,
                    timeout.map(|t| (t, errno::timed_out())),
                    udp.send_to(&data.0, real),
                )
                .await?
            }
            _ => data.len(),
        };
        let conn = match (server, real) {
            (true, Some(real)) => self.env.locals.lookup(real).unwrap_or(own),
            _ => own,
        };
        let step = Step::SendTo {
            peer: real.map_or(shown, |real| real.to_string()),
            data,
        };
        self.emit(Some(conn), step).await;
        Ok(SockValue::Sent {
            n: u32::try_from(n).unwrap_or(u32::MAX),
        })
    }

    /// `recvfrom(max)` (or `recv(max)`) on a UDP socket: one datagram.
    async fn recv_datagram(
        &mut self,
        sock: SockId,
        cap: usize,
        timeout: Option<Duration>,
        from: bool,
    ) -> Outcome {
        let env = self.env.clone();
        let (_, own) = self.datagram(sock).await?;
        let Some(Stage::Datagram(datagram)) = self.sockets.get(&sock).map(|s| &s.stage) else {
            return Err(errno::bad_socket().into());
        };
        let Some(udp) = &datagram.socket else {
            return Err(errno::bad_socket().into());
        };
        let server = datagram.server;
        // A datagram longer than the buffer is cut short, as in Python.
        let mut buf = vec![0u8; cap.max(1)];
        let (n, peer) = bounded(
            &self.end,
            timeout.map(|t| (t, errno::timed_out())),
            udp.recv_from(&mut buf),
        )
        .await?;
        buf.truncate(n.min(cap));
        let conn = if server {
            env.locals.lookup(peer).unwrap_or(own)
        } else {
            own
        };
        // The sender as the program sees it: its port in the session's
        // own space, if it is one of the session's sockets.
        let shown = match env.ports.asked_port(Transport::Udp, peer) {
            Some(port) => SocketAddr::new(peer.ip(), port),
            None => peer,
        };
        let step = Step::RecvFrom {
            peer: peer.to_string(),
            data: Bytes(buf.clone()),
        };
        self.emit(Some(conn), step).await;
        Ok(if from {
            SockValue::DataFrom {
                data: Bytes(buf),
                peer: shown.to_string(),
            }
        } else {
            SockValue::Data { data: Bytes(buf) }
        })
    }

    /// `shutdown(how)`: `SHUT_WR` sends the peer an end of stream (its
    /// `recv()` returns `b''`), while this side can still receive.
    async fn shutdown(&mut self, sock: SockId, how: Shut) -> Outcome {
        let socket = self.sockets.get(&sock).ok_or_else(errno::bad_socket)?;
        let Stage::Connected(connection) = &socket.stage else {
            return Err(errno::not_connected().into());
        };
        let conn = connection.conn;
        let std_how = match how {
            Shut::Read => std::net::Shutdown::Read,
            Shut::Write => std::net::Shutdown::Write,
            Shut::Both => std::net::Shutdown::Both,
        };
        socket2::SockRef::from(&connection.stream)
            .shutdown(std_how)
            .map_err(|err| errno::from_io(&err))?;
        if how != Shut::Read {
            self.emit(Some(conn), Step::Shutdown).await;
        }
        Ok(SockValue::Done)
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

    /// A UDP socket's family and id, binding it first if it is not yet
    /// (to a free loopback port, as the OS does on first use).
    async fn datagram(&mut self, sock: SockId) -> Result<(Family, ConnId), Failed> {
        let env = self.env.clone();
        let socket = self.sockets.get_mut(&sock).ok_or_else(errno::bad_socket)?;
        let family = socket.family;
        let Stage::Datagram(datagram) = &mut socket.stage else {
            return Err(errno::invalid("not a UDP socket").into());
        };
        if datagram.socket.is_none() {
            let ip = loopback_ip(family);
            let udp = UdpSocket::bind(SocketAddr::new(ip, 0))
                .await
                .map_err(|err| errno::from_io(&err))?;
            let real = udp.local_addr().map_err(|err| errno::from_io(&err))?;
            // In the port space under its real number, so a reply sent to
            // the address recvfrom() showed finds it.
            datagram.bound = Some(settle(&env, Transport::Udp, None, real, ip)?);
            env.locals.insert(real, datagram.conn);
            datagram.socket = Some(udp);
        }
        Ok((family, datagram.conn))
    }

    fn datagram_local(&self, sock: SockId) -> Option<SocketAddr> {
        match self.sockets.get(&sock).map(|s| &s.stage) {
            Some(Stage::Datagram(datagram)) => datagram.bound.as_ref().map(|bound| bound.real),
            _ => None,
        }
    }

    /// Routes the public UDP server's events of this socket to the
    /// session, once.
    fn route_public(&mut self, sock: SockId, public: Option<Tracer>) {
        let (Some(tracer), Some(sink)) = (public, self.public_route.clone()) else {
            return;
        };
        if let Some(Stage::Datagram(datagram)) = self.sockets.get_mut(&sock).map(|s| &mut s.stage)
            && datagram._route.is_none()
            && let Some(bound) = &datagram.bound
        {
            datagram._route = Some(tracer.route(bound.real, &sink, datagram.conn));
        }
    }

    /// Puts a socket's stage back after a call took it out.
    fn restore(&mut self, sock: SockId, stage: Stage) {
        if let Some(socket) = self.sockets.get_mut(&sock) {
            socket.stage = stage;
        }
    }

    /// Traces a step of this program, on its lane, with its current line.
    async fn emit(&self, conn: Option<ConnId>, step: Step) {
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
async fn bounded<T>(
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

/// Where a program's `connect()` or `sendto()` to `host:port` goes.
fn destination(
    env: &ProgramEnv,
    transport: Transport,
    family: Family,
    host: &str,
    port: u16,
) -> Result<Destination, SockError> {
    let place = match loopback(host, family) {
        Ok(place) => place,
        Err(NotHere::WrongFamily) => return Err(errno::wrong_family()),
        Err(NotHere::Elsewhere) => {
            let target = host_port(host, port);
            return if env.allow_targets.permits(&target) {
                Ok(Destination::Allowed(target))
            } else {
                Err(errno::not_allowed(&target))
            };
        }
    };
    // Connecting to "0.0.0.0" or "" reaches this machine's loopback.
    let shown = SocketAddr::new(place.ip, port).to_string();
    // 1. A port of the session's own space (open, or closed: then the real
    //    port refuses, in the operating system's own words).
    if let Some(known) = env.ports.lookup(transport, port) {
        return Ok(Destination::Real {
            addr: SocketAddr::new(place.ip, known.real().port()),
            shown,
            public: None,
        });
    }
    // 2. The public lab server's port: the handout's client.py works
    //    against the lab's server.
    if let Some(public) = &env.public {
        let server = match transport {
            Transport::Tcp => Some((public.tcp_addr, public.tracer.clone())),
            Transport::Udp => public.udp_addr.zip(public.udp_tracer.clone()),
        };
        if let Some((addr, tracer)) = server {
            let addr = connect_addr(addr);
            if addr.port() == port && addr.is_ipv4() == place.ip.is_ipv4() {
                return Ok(Destination::Real {
                    addr,
                    shown,
                    public: Some(tracer),
                });
            }
        }
    }
    // 3. A target the instructor allowed (`--allow-target 127.0.0.1:7`).
    let target = host_port(host, port);
    if env.allow_targets.permits(&target) {
        return Ok(Destination::Allowed(target));
    }
    // 4. Nothing of the session's has that port.
    Ok(Destination::Nowhere { shown })
}

/// Looks up an allowed `HOST:PORT`, an address of the socket's family.
async fn resolve(target: &str, family: Family) -> Result<SocketAddr, SockError> {
    let unknown = || {
        errno::named(
            "EAI_NONAME",
            format!("Name or service not known ({target})"),
            protocol::ErrorKind::BadAddress,
        )
    };
    let addrs = tokio::net::lookup_host(target)
        .await
        .map_err(|_| unknown())?;
    addrs
        .into_iter()
        .find(|addr| addr.is_ipv4() == (family == Family::Ipv4))
        .ok_or_else(unknown)
}

/// Claims `port` in the session's space (port 0: claimed once the real
/// port is known).
fn claim(
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
fn settle(
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
fn budget(env: &ProgramEnv, len: usize) -> Result<tokio::sync::OwnedSemaphorePermit, SockError> {
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

fn too_many_sockets(env: &ProgramEnv) -> SockError {
    errno::limit(
        "EMFILE",
        "Too many open files",
        format!(
            "a session's programs may have at most {} sockets open at once",
            env.limits.max_program_sockets_per_session
        ),
    )
}

fn new_tcp(family: Family) -> io::Result<TcpSocket> {
    match family {
        Family::Ipv4 => TcpSocket::new_v4(),
        Family::Ipv6 => TcpSocket::new_v6(),
    }
}

/// A fresh TCP socket in place of one a failed call used up.
fn fresh(family: Family, bound: Option<Bound>) -> Stage {
    match new_tcp(family) {
        Ok(socket) => Stage::Fresh { socket, bound },
        Err(_) => Stage::Busy,
    }
}

fn loopback_ip(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// Where to bind before connecting to `target`: the same loopback address
/// for a loopback target, else any address of its family; port 0.
fn source_for(target: SocketAddr) -> SocketAddr {
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
