//! [`destination`]: where a program's `connect()` or `sendto()` goes.
//!
//! The bridge is not an open proxy, and a student's program is no
//! exception. A host of this machine (`socket.gethostname()`,
//! `"localhost"`, `"127.0.0.1"`, ...) with a port means, in this order:
//!
//! 1. a port of the session's own space ([`PortSpace`]): the student's own
//!    server, at its real port (also once it has closed, so the refusal is
//!    the operating system's own);
//! 2. the public lab server's port: the handout's `client.py` works
//!    against the lab's server;
//! 3. an `--allow-target` the instructor named;
//! 4. nothing: `connect()` is refused (`ECONNREFUSED`, as for a port where
//!    nothing listens), and a datagram is lost, as UDP loses it.
//!
//! Any other host is reachable only as an `--allow-target`; otherwise the
//! call fails with `EACCES`, saying why.
//!
//! [`PortSpace`]: super::PortSpace

use super::ProgramEnv;
use super::errno;
use super::ports::{NotHere, host_port, loopback};
use crate::targets::connect_addr;
use crate::trace::Tracer;
use protocol::{Family, SockError, Transport};
use std::net::SocketAddr;
use std::time::Duration;

/// Where a `connect()` or `sendto()` goes.
pub enum Destination {
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

/// Where a program's `connect()` or `sendto()` to `host:port` goes.
pub fn destination(
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

/// Looks up an allowed `HOST:PORT`, an address of the socket's family,
/// waiting at most `limit` for the name server.
pub async fn resolve(
    target: &str,
    family: Family,
    limit: Duration,
) -> Result<SocketAddr, SockError> {
    let unknown = || {
        errno::named(
            "EAI_NONAME",
            format!("Name or service not known ({target})"),
            protocol::ErrorKind::BadAddress,
        )
    };
    let addrs = tokio::time::timeout(limit, tokio::net::lookup_host(target))
        .await
        .map_err(|_| {
            errno::named(
                "EAI_AGAIN",
                format!(
                    "Temporary failure in name resolution ({target}: no answer in {} s)",
                    limit.as_secs()
                ),
                protocol::ErrorKind::BadAddress,
            )
        })?
        .map_err(|_| unknown())?;
    addrs
        .into_iter()
        .find(|addr| addr.is_ipv4() == (family == Family::Ipv4))
        .ok_or_else(unknown)
}
