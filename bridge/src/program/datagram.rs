//! UDP's calls on a program's socket: `connect()` (only remembers the
//! peer), `sendto()`, `recvfrom()`, and `send()`/`recv()` on a connected
//! one.
//!
//! What a student should notice: UDP has no connection. Each `sendto()`
//! is one datagram, each `recvfrom()` returns one whole datagram and who
//! sent it, and a datagram to a port nobody has is simply lost.

use super::destination::{Destination, destination, resolve};
use super::errno;
use super::ports::host_port;
use super::runner::{Failed, Outcome, ProgramRunner, bounded, budget, loopback_ip, settle};
use super::socket::Stage;
use crate::trace::Tracer;
use protocol::{Bytes, ConnId, Family, SockId, SockValue, Step, Transport};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

impl ProgramRunner {
    /// `connect()` on a UDP socket: no handshake, nothing is sent; the
    /// socket remembers where `send()` goes.
    pub(super) async fn aim_datagram(&mut self, sock: SockId, host: &str, port: u16) -> Outcome {
        let (family, conn) = self.datagram(sock).await?;
        let target = match host {
            "" => host_port("0.0.0.0", port),
            host => host_port(host, port),
        };
        self.emit(
            Some(conn),
            Step::Connect {
                target: target.clone(),
            },
        )
        .await;
        let (real, shown) = self.datagram_peer(sock, family, host, port).await?;
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

    /// `sendto(data, (host, port))`.
    pub(super) async fn send_to(
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
        let (real, shown) = self.datagram_peer(sock, family, host, port).await?;
        self.send_datagram(sock, data, real, shown, timeout).await
    }

    /// Where a datagram to `(host, port)` goes: the real address (none: a
    /// port of this machine nobody has, where UDP loses it) and the address
    /// as the trace shows it. Shared by `connect()` and `sendto()`.
    async fn datagram_peer(
        &mut self,
        sock: SockId,
        family: Family,
        host: &str,
        port: u16,
    ) -> Result<(Option<SocketAddr>, String), Failed> {
        let env = self.env.clone();
        Ok(
            match destination(&env, Transport::Udp, family, host, port)? {
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
                    let addr = resolve(&target, family, self.env.limits.connect_timeout).await?;
                    (Some(addr), target)
                }
            },
        )
    }

    /// Sends one datagram to `real` (none: a port of this machine nobody
    /// has, so it is lost, as UDP loses it) and traces it.
    pub(super) async fn send_datagram(
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
    pub(super) async fn recv_datagram(
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

    /// A UDP socket's family and id, binding it first if it is not yet
    /// (to a free loopback port, as the OS does on first use).
    pub(super) async fn datagram(&mut self, sock: SockId) -> Result<(Family, ConnId), Failed> {
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

    pub(super) fn datagram_local(&self, sock: SockId) -> Option<SocketAddr> {
        match self.sockets.get(&sock).map(|s| &s.stage) {
            Some(Stage::Datagram(datagram)) => datagram.bound.as_ref().map(|bound| bound.real),
            _ => None,
        }
    }

    /// Routes the public UDP server's events of this socket to the
    /// session, once.
    pub(super) fn route_public(&mut self, sock: SockId, public: Option<Tracer>) {
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
}
