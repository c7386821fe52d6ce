//! [`Targets`]: the only places the bridge connects to on a browser's
//! behalf, and how it gets there.
//!
//! The bridge is not an open proxy. A page's client (`/ws`) and a byte
//! relay (`/relay`) reach the public lab server, and the `--allow-target
//! HOST:PORT` entries the instructor named; nothing else. (A session's own
//! private servers and programs are the session's business: see
//! [`crate::session`] and [`crate::program`].)
//!
//! Every lookup and connect is bounded by `--connect-timeout`, so a name
//! server or a target that does not answer costs a session one timeout,
//! never a stuck task.

use crate::config::{AllowList, normalize_target};
use crate::lab::PublicLab;
use protocol::Transport;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;

/// Where the bridge may connect, and how long it tries. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// The public lab's TCP server, if the bridge runs one.
    public_tcp: Option<SocketAddr>,
    /// The public lab's UDP echo server, if it runs one.
    public_udp: Option<SocketAddr>,
    /// `--allow-target`: the entries the instructor named.
    allowed: AllowList,
    /// How long a lookup, or a lookup and a connect together, may take.
    connect_timeout: Duration,
}

impl Targets {
    /// The public lab's servers (if any), the allow list, and the bound on
    /// every lookup and connect.
    pub fn new(public: Option<&PublicLab>, allowed: AllowList, connect_timeout: Duration) -> Self {
        Targets {
            public_tcp: public.map(|public| public.tcp_addr),
            public_udp: public.and_then(|public| public.udp_addr),
            allowed,
            connect_timeout,
        }
    }

    /// Whether `target` (`HOST:PORT` as the page wrote it) names one of the
    /// public lab's servers: TCP or UDP, at the address it listens on or
    /// the one to connect to (loopback, for a server on "any address").
    pub fn is_public(&self, target: &str) -> bool {
        self.is_public_on(target, Transport::Tcp) || self.is_public_on(target, Transport::Udp)
    }

    /// Whether `target` names the public lab's server of `transport`.
    pub fn is_public_on(&self, target: &str, transport: Transport) -> bool {
        let server = match transport {
            Transport::Tcp => self.public_tcp,
            Transport::Udp => self.public_udp,
        };
        let wanted = normalize_target(target);
        server.is_some_and(|addr| {
            wanted == addr.to_string() || wanted == connect_addr(addr).to_string()
        })
    }

    /// Whether `target` is an `--allow-target` entry (see
    /// [`AllowList::permits`]: the match is on the text).
    pub fn allowed(&self, target: &str) -> bool {
        self.allowed.permits(target)
    }

    /// How long a lookup or a `connect()` may take (`--connect-timeout`).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The `--allow-target` entries.
    pub fn allow_list(&self) -> &AllowList {
        &self.allowed
    }

    /// Looks up `target` (`HOST:PORT`, or an IP address and port), within
    /// the connect timeout.
    pub async fn resolve(&self, target: &str) -> io::Result<SocketAddr> {
        tokio::time::timeout(self.connect_timeout, lookup(target))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "looking up the name timed out"))?
    }

    /// Looks up `target` and connects to it over TCP, both within the
    /// connect timeout, with no Nagle delay on the connection (a relay's
    /// point is latency).
    pub async fn connect_tcp(&self, target: &str) -> io::Result<TcpStream> {
        let connecting = async {
            let addr = lookup(target).await?;
            TcpStream::connect(connect_addr(addr)).await
        };
        let tcp = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect() timed out"))??;
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }
}

/// The first address of `target`: an address as it is, a name looked up.
async fn lookup(target: &str) -> io::Result<SocketAddr> {
    let target = target.trim();
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok(addr);
    }
    tokio::net::lookup_host(target)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the name has no address"))
}

/// The address to connect to for a server listening on `addr`: a server
/// on "any address" (0.0.0.0 or ::) is reached through loopback.
pub fn connect_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(tcp: &str, allowed: &[&str]) -> Targets {
        Targets {
            public_tcp: tcp.parse().ok(),
            public_udp: None,
            allowed: AllowList::new(allowed.iter().copied()),
            connect_timeout: Duration::from_secs(1),
        }
    }

    /// The public server is named by its address or, on "any address", by
    /// the loopback address a client connects to; the allow list matches
    /// its entries' text, nothing a name might resolve to.
    #[test]
    fn public_and_allowed_targets_are_recognised() {
        let targets = targets("0.0.0.0:1234", &["localhost:7"]);
        assert!(targets.is_public("127.0.0.1:1234"));
        assert!(targets.is_public(" 0.0.0.0:1234 "));
        assert!(!targets.is_public("127.0.0.1:1235"));
        assert!(!targets.is_public_on("127.0.0.1:1234", Transport::Udp));
        assert!(targets.allowed("LOCALHOST:7"));
        assert!(!targets.allowed("127.0.0.1:7"));
    }

    /// A name nobody answers for fails within the timeout, as an error,
    /// never a wait without end.
    #[tokio::test]
    async fn a_target_that_cannot_be_found_is_an_error() {
        let targets = targets("127.0.0.1:1", &[]);
        assert!(targets.resolve("no-such-host.invalid:7").await.is_err());
        assert_eq!(
            targets.resolve("127.0.0.1:9").await.ok(),
            "127.0.0.1:9".parse().ok()
        );
    }
}
