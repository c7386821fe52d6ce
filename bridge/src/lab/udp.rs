//! [`UdpEchoServer`]: `recvfrom()` a datagram, `sendto()` it back.
//!
//! What a student should notice: no `listen()`, no `accept()`, no
//! connection. Each datagram arrives whole (one `recvfrom` per `sendto`),
//! with the sender's address beside it.

use crate::error::{Error, error_kind};
use crate::trace::Tracer;
use protocol::{Call, Family, Step, Transport};
use std::net::SocketAddr;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// The largest datagram an IPv4/IPv6 UDP socket can carry.
const MAX_DATAGRAM: usize = 65_535;

/// A bound UDP echo server. Made by [`UdpEchoServer::bind`], driven by
/// [`UdpEchoServer::run`].
#[derive(Debug)]
pub struct UdpEchoServer {
    socket: UdpSocket,
    local: SocketAddr,
    tracer: Tracer,
}

impl UdpEchoServer {
    /// `socket(AF_INET, SOCK_DGRAM)` and `bind(addr)`, traced.
    pub async fn bind(addr: SocketAddr, tracer: Tracer) -> Result<UdpEchoServer, Error> {
        let family = if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        };
        tracer.emit(
            None,
            Step::Socket {
                family,
                transport: Transport::Udp,
            },
        );
        let socket = match UdpSocket::bind(addr).await {
            Ok(socket) => socket,
            Err(source) => {
                tracer.emit(
                    None,
                    Step::Error {
                        kind: error_kind(&source),
                        message: source.to_string(),
                        failed: Some(Call::Bind),
                    },
                );
                return Err(Error::Listen { addr, source });
            }
        };
        let local = socket.local_addr()?;
        tracer.emit(
            None,
            Step::Bind {
                addr: local.to_string(),
                asked: None,
            },
        );
        Ok(UdpEchoServer {
            socket,
            local,
            tracer,
        })
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The tracer its events go through.
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// Echoes datagrams until `shutdown` is cancelled, then closes.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => break,
                received = self.socket.recv_from(&mut buf) => received,
            };
            let (n, peer) = match received {
                Ok(received) => received,
                Err(err) => {
                    // A UDP error (an ICMP "port unreachable" from an
                    // earlier reply, say) concerns one datagram, not the
                    // server: report it and keep serving.
                    self.tracer.emit(
                        None,
                        Step::Error {
                            kind: error_kind(&err),
                            message: err.to_string(),
                            failed: Some(Call::RecvFrom),
                        },
                    );
                    continue;
                }
            };
            let datagram = &buf[..n];
            // If a browser session's socket sent this datagram, its events
            // go straight to that session (see `crate::route`).
            let tracer = self.tracer.for_peer(peer);
            tracer.emit_data(None, || Step::RecvFrom {
                peer: peer.to_string(),
                data: datagram.into(),
            });
            // Stamped before the call: the client's recvfrom() is later.
            let sending = tracer.clock().now_us();
            match self.socket.send_to(datagram, peer).await {
                Ok(_) => tracer.emit_data_at(sending, None, || Step::SendTo {
                    peer: peer.to_string(),
                    data: datagram.into(),
                }),
                Err(err) => tracer.emit(
                    None,
                    Step::Error {
                        kind: error_kind(&err),
                        message: err.to_string(),
                        failed: Some(Call::SendTo),
                    },
                ),
            }
        }
        self.tracer.emit(None, Step::Close);
    }
}
