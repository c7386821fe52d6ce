//! TCP's calls on a program's socket: `listen()`, `accept()`,
//! `connect()`, `send()`/`sendall()`, `recv()` and `shutdown()`, each on a
//! real tokio socket.
//!
//! What a student should notice: `accept()` returns a *new* socket for
//! each client, while the listening socket keeps listening; `recv()`
//! returns whatever one read got (two sends may arrive as one recv, one
//! send as two), and `b''` once the peer has closed.

use super::destination::{Destination, destination, resolve};
use super::errno;
use super::ports::host_port;
use super::runner::{
    Failed, MAX_BACKLOG, Outcome, ProgramRunner, bounded, budget, fresh, loopback_ip, settle,
    source_for, too_many_sockets,
};
use super::socket::{Connection, ProgramSocket, Stage};
use protocol::{Bytes, SockError, SockId, SockValue, Step, Transport, program::Shut};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

impl ProgramRunner {
    /// `listen(backlog)`: a real listening socket with that backlog (an
    /// unbound socket gets a free port first, as on Linux).
    pub(super) async fn listen(&mut self, sock: SockId, backlog: u32) -> Outcome {
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
    pub(super) async fn accept(&mut self, sock: SockId, timeout: Option<Duration>) -> Outcome {
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
    pub(super) async fn connect(
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
                    let lookup = resolve(&target, family, limit);
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

    /// `send(data)` (one write: it may write less) or `sendall(data)`.
    pub(super) async fn send(
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
    pub(super) async fn recv(
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
        // recvfrom() on a TCP socket names the peer too (recv() does not
        // need it: no system call for it then).
        let peer = from.then(|| {
            connection
                .stream
                .peer_addr()
                .map(|peer| peer.to_string())
                .unwrap_or_default()
        });
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
                peer: peer.unwrap_or_default(),
            }
        } else {
            SockValue::Data { data: Bytes(buf) }
        })
    }

    /// `shutdown(how)`: `SHUT_WR` sends the peer an end of stream (its
    /// `recv()` returns `b''`), while this side can still receive.
    pub(super) async fn shutdown(&mut self, sock: SockId, how: Shut) -> Outcome {
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
}
