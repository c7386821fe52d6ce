//! [`PortSpace`]: a session's own port numbers, and [`loopback`], which
//! turns the host a student's program names into an address on this
//! machine.
//!
//! A whole class runs the handout's `s.bind((socket.gethostname(), 1234))`
//! at once. Only one socket on a machine can have port 1234, so each
//! session gets a port space of its own: the program's port 1234 is really
//! an ephemeral port the operating system picked (say 40211), and the
//! session remembers the pair. A `connect()` to port 1234 from the same
//! session is sent to 40211. Two sessions both binding 1234 each get their
//! own real port and never meet.
//!
//! What a student should notice: the port a server *asks* for and the port
//! it really has are both shown in the trace (`bind(127.0.0.1:1234) ->
//! really 127.0.0.1:40211`), so a terminal client on the bridge's machine
//! can reach the student's server on the real one.

use protocol::program::HOSTNAME;
use protocol::{Family, Transport};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

/// How many closed ports a session remembers (see [`PortSpace::lookup`]).
const MAX_REMEMBERED: usize = 64;

/// One session's ports: the port a program asked for -> the real one.
/// Cheap to clone; every program of the session shares it.
#[derive(Debug, Clone, Default)]
pub struct PortSpace {
    /// A std mutex: held for one map operation, never across an `.await`.
    inner: Arc<Mutex<Ports>>,
}

#[derive(Debug, Default)]
struct Ports {
    entries: HashMap<(Transport, u16), Entry>,
    /// Ports whose socket has closed, oldest first, so only the latest
    /// [`MAX_REMEMBERED`] are kept.
    closed: VecDeque<((Transport, u16), u64)>,
    /// Numbers each lease, so a lease only ever changes its own entry.
    next_lease: u64,
}

#[derive(Debug)]
struct Entry {
    lease: u64,
    /// The real address, once the socket is bound.
    real: Option<SocketAddr>,
    /// Whether the socket that has this port is still open.
    open: bool,
}

/// Where a port of the session's space really is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// A socket of the session has it now.
    Open(SocketAddr),
    /// A socket of the session had it and is closed: connecting to the old
    /// real port gets the operating system's own refusal.
    Closed(SocketAddr),
}

impl Known {
    pub fn real(self) -> SocketAddr {
        match self {
            Known::Open(real) | Known::Closed(real) => real,
        }
    }
}

impl PortSpace {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ports> {
        // Nothing in the critical sections can panic half-way.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims `port` for a socket about to bind, or `None` if an open
    /// socket of this session has it (`EADDRINUSE`). The claim lasts as
    /// long as the returned lease.
    pub fn reserve(&self, transport: Transport, port: u16) -> Option<PortLease> {
        let mut ports = self.lock();
        if ports
            .entries
            .get(&(transport, port))
            .is_some_and(|entry| entry.open)
        {
            return None;
        }
        ports.next_lease += 1;
        let lease = ports.next_lease;
        ports.entries.insert(
            (transport, port),
            Entry {
                lease,
                real: None,
                open: true,
            },
        );
        Some(PortLease {
            space: self.clone(),
            key: (transport, port),
            lease,
        })
    }

    /// Where the session's `port` really is, if one of its sockets has (or
    /// had) it.
    pub fn lookup(&self, transport: Transport, port: u16) -> Option<Known> {
        let ports = self.lock();
        let entry = ports.entries.get(&(transport, port))?;
        let real = entry.real?;
        Some(if entry.open {
            Known::Open(real)
        } else {
            Known::Closed(real)
        })
    }

    /// The session's port of the open socket really bound to `real`, if
    /// any: what the program sees as a datagram's sender.
    pub fn asked_port(&self, transport: Transport, real: SocketAddr) -> Option<u16> {
        let ports = self.lock();
        ports
            .entries
            .iter()
            .find(|((t, _), entry)| {
                *t == transport
                    && entry.open
                    && entry
                        .real
                        .is_some_and(|r| r.port() == real.port() && same_family(r, real))
            })
            .map(|((_, port), _)| *port)
    }
}

fn same_family(a: SocketAddr, b: SocketAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// A socket's claim on a port of its session's space; dropping it (when the
/// socket closes) frees the port but remembers where it was.
#[derive(Debug)]
pub struct PortLease {
    space: PortSpace,
    key: (Transport, u16),
    lease: u64,
}

impl PortLease {
    /// The port in the session's space.
    pub fn port(&self) -> u16 {
        self.key.1
    }

    /// Records the real address the socket got.
    pub fn settle(&self, real: SocketAddr) {
        let mut ports = self.space.lock();
        if let Some(entry) = ports.entries.get_mut(&self.key)
            && entry.lease == self.lease
        {
            entry.real = Some(real);
        }
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut ports = self.space.lock();
        let Some(entry) = ports.entries.get_mut(&self.key) else {
            return;
        };
        if entry.lease != self.lease {
            return;
        }
        if entry.real.is_none() {
            // Never bound (the bind failed): nothing to remember.
            ports.entries.remove(&self.key);
            return;
        }
        entry.open = false;
        ports.closed.push_back((self.key, self.lease));
        while ports.closed.len() > MAX_REMEMBERED {
            let Some((key, lease)) = ports.closed.pop_front() else {
                break;
            };
            // Forget it only if nobody bound the port again since.
            if ports
                .entries
                .get(&key)
                .is_some_and(|entry| entry.lease == lease && !entry.open)
            {
                ports.entries.remove(&key);
            }
        }
    }
}

/// A host a program named, on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loopback {
    /// The loopback address a real socket uses (`127.0.0.1` or `::1`).
    pub ip: IpAddr,
    /// What the program sees (`0.0.0.0` for `bind(('', port))`, as
    /// Python's `getsockname()` would say).
    pub shown: IpAddr,
}

/// Why a host is not one of this machine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotHere {
    /// A loopback address of the other family (`'::1'` on an `AF_INET`
    /// socket).
    WrongFamily,
    /// Any other host: reachable only if the instructor allowed it.
    Elsewhere,
}

/// What `host` means for a socket of `family`: a program's own machine
/// is the bridge's loopback. `socket.gethostname()` ([`HOSTNAME`]),
/// `"localhost"`, `""`, `"0.0.0.0"` and `"127.0.0.1"` are IPv4 loopback;
/// `"::"` and `"::1"` IPv6 loopback. Names mean the loopback of the
/// socket's own family. Everything else is [`NotHere::Elsewhere`]: the
/// bridge is not an open proxy.
pub fn loopback(host: &str, family: Family) -> Result<Loopback, NotHere> {
    let host = host.trim().to_ascii_lowercase();
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let (ip, shown) = match (host.as_str(), family) {
        (name, Family::Ipv4) if name == HOSTNAME || name == "localhost" => (v4, v4),
        (name, Family::Ipv6) if name == HOSTNAME || name == "localhost" => (v6, v6),
        ("", Family::Ipv4) => (v4, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ("", Family::Ipv6) => (v6, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        ("0.0.0.0", Family::Ipv4) => (v4, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ("127.0.0.1", Family::Ipv4) => (v4, v4),
        ("::", Family::Ipv6) => (v6, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        ("::1", Family::Ipv6) => (v6, v6),
        ("0.0.0.0" | "127.0.0.1" | "::" | "::1", _) => return Err(NotHere::WrongFamily),
        _ => return Err(NotHere::Elsewhere),
    };
    Ok(Loopback { ip, shown })
}

/// `HOST:PORT` as a program would write it, IPv6 literals in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    /// A port is in use while its lease lives; after, it is remembered as
    /// closed (so a connect gets the real refusal) and can be bound again.
    #[test]
    fn a_lease_holds_a_port_and_remembers_it() {
        let ports = PortSpace::default();
        let lease = ports.reserve(Transport::Tcp, 1234).expect("free");
        assert_eq!(ports.lookup(Transport::Tcp, 1234), None, "not bound yet");
        lease.settle(real(40211));
        assert!(ports.reserve(Transport::Tcp, 1234).is_none(), "in use");
        assert!(
            ports.reserve(Transport::Udp, 1234).is_some(),
            "UDP is apart"
        );
        assert_eq!(
            ports.lookup(Transport::Tcp, 1234),
            Some(Known::Open(real(40211)))
        );
        assert_eq!(ports.asked_port(Transport::Tcp, real(40211)), Some(1234));
        drop(lease);
        assert_eq!(
            ports.lookup(Transport::Tcp, 1234),
            Some(Known::Closed(real(40211)))
        );
        let again = ports.reserve(Transport::Tcp, 1234).expect("free again");
        again.settle(real(40999));
        assert_eq!(
            ports.lookup(Transport::Tcp, 1234),
            Some(Known::Open(real(40999)))
        );
    }

    /// A failed bind leaves nothing behind.
    #[test]
    fn an_unsettled_lease_is_forgotten() {
        let ports = PortSpace::default();
        drop(ports.reserve(Transport::Tcp, 7).expect("free"));
        assert_eq!(ports.lookup(Transport::Tcp, 7), None);
        assert!(ports.reserve(Transport::Tcp, 7).is_some());
    }

    /// Only so many closed ports are remembered.
    #[test]
    fn closed_ports_are_bounded() {
        let ports = PortSpace::default();
        for port in 1..=(MAX_REMEMBERED as u16 + 10) {
            let lease = ports.reserve(Transport::Tcp, port).expect("free");
            lease.settle(real(port));
        }
        assert_eq!(ports.lookup(Transport::Tcp, 1), None, "forgotten");
        assert!(
            ports
                .lookup(Transport::Tcp, MAX_REMEMBERED as u16 + 10)
                .is_some()
        );
    }

    /// The handout's names are this machine; anything else is not.
    #[test]
    fn the_handouts_hosts_are_loopback() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for host in [HOSTNAME, "localhost", "LocalHost", "127.0.0.1"] {
            assert_eq!(loopback(host, Family::Ipv4).map(|l| l.ip), Ok(v4), "{host}");
        }
        assert_eq!(
            loopback("", Family::Ipv4).map(|l| l.shown),
            Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(
            loopback("::", Family::Ipv6).map(|l| l.ip),
            Ok(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(
            loopback(HOSTNAME, Family::Ipv6).map(|l| l.ip),
            Ok(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(loopback("::1", Family::Ipv4), Err(NotHere::WrongFamily));
        assert_eq!(
            loopback("example.org", Family::Ipv4),
            Err(NotHere::Elsewhere)
        );
        assert_eq!(loopback("10.0.0.1", Family::Ipv4), Err(NotHere::Elsewhere));
        assert_eq!(host_port("::1", 80), "[::1]:80");
    }
}
