//! [`AllowedHosts`]: the names this bridge answers to, and the pages that
//! may open its WebSockets.
//!
//! Two checks guard a bridge that a browser can reach:
//!
//! - **Host**, on every request: DNS rebinding. A page on `evil.example`
//!   whose name the attacker then points at 127.0.0.1 is still, to the
//!   browser, `evil.example`: its scripts may read whatever the bridge
//!   answers. What it cannot change is the `Host` header the browser sends:
//!   `evil.example`. So the bridge answers only a Host it serves: loopback
//!   names, the address it is bound to, and `--allow-host` names (as
//!   Jupyter, Vite's `server.allowedHosts` and webpack-dev-server do). The
//!   port does not matter: a proxy such as `trunk serve` sends the bare name.
//! - **Origin**, on WebSocket upgrades: a browser lets any page open a
//!   WebSocket anywhere and names that page in `Origin`. The Origin is
//!   compared with this allowed set, never with the request's own `Host`
//!   (a rebinding page's Host and Origin agree: both are `evil.example`).
//!   Allowed: a page this bridge serves (an allowed host on the bridge's own
//!   port), an `--allow-origin` entry, and, when the bridge listens on
//!   loopback, any loopback page (`http://127.0.0.1:*`, `http://localhost:*`,
//!   `http://[::1]:*`): programs on this machine can reach the bridge's
//!   ports anyway, and this is what `trunk serve` on :8000 needs.
//!
//! A request without `Origin` comes from a program, not a page (browsers
//! always send it on WebSocket upgrades); only its Host is checked.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The hosts and origins a bridge accepts. Built from the address it is
/// bound to, then widened with [`AllowedHosts::allow_host`],
/// [`AllowedHosts::allow_origin`] and [`AllowedHosts::allow_site`].
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    /// The address the bridge listens on.
    bound: SocketAddr,
    /// Names and addresses (lower case, no port) added besides loopback
    /// and the bound address.
    hosts: Vec<String>,
    /// Exact origins allowed besides the pages the bridge serves.
    origins: Vec<Origin>,
}

/// An origin, `scheme://host[:port]`, with its port made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    /// Lower case; an IPv6 address without its brackets.
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]` (a trailing `/` is allowed). `null`
    /// (a sandboxed page, a file) and anything with a path are not origins.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let text = text.trim().trim_end_matches('/');
        let invalid = || {
            format!(
                "{text:?} is not an origin: write scheme://host[:port], e.g. http://127.0.0.1:8000"
            )
        };
        let (scheme, authority) = text.split_once("://").ok_or_else(invalid)?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(invalid()),
        };
        if authority.contains(['/', '?', '#', '@']) {
            return Err(invalid());
        }
        let (host, port) = split_host(authority).ok_or_else(invalid)?;
        Ok(Origin {
            scheme,
            host,
            port: port.unwrap_or(default_port),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.host.clone(),
        };
        write!(f, "{}://{host}:{}", self.scheme, self.port)
    }
}

impl AllowedHosts {
    /// Loopback names and `bound`'s address (any address, if it is bound
    /// to all of them: 0.0.0.0 or ::).
    pub fn new(bound: SocketAddr) -> AllowedHosts {
        AllowedHosts {
            bound,
            hosts: Vec::new(),
            origins: Vec::new(),
        }
    }

    /// Answers requests for `host` too (a name or an address; a port, if
    /// given, is ignored): `--allow-host`.
    pub fn allow_host(&mut self, host: &str) -> Result<(), String> {
        let host = host_name(host)?;
        if !self.hosts.contains(&host) {
            self.hosts.push(host);
        }
        Ok(())
    }

    /// Lets pages from `origin` open WebSockets: `--allow-origin`.
    pub fn allow_origin(&mut self, origin: &str) -> Result<(), String> {
        let origin = Origin::parse(origin)?;
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
        Ok(())
    }

    /// The address the bridge is reached at from outside (a reverse
    /// proxy's `https://lab.example.org`): its pages may open WebSockets,
    /// and its host is answered.
    pub fn allow_site(&mut self, origin: &str) -> Result<(), String> {
        self.allow_origin(origin)?;
        let host = Origin::parse(origin)?.host;
        self.allow_host(&host)
    }

    /// Whether the bridge listens on loopback only.
    pub fn loopback_only(&self) -> bool {
        self.bound.ip().is_loopback()
    }

    /// Whether a request with this `Host` header (`name`, `name:port`,
    /// `[v6]:port`) is for this bridge.
    pub fn permits_host(&self, host_header: &str) -> bool {
        split_host(host_header.trim()).is_some_and(|(host, _)| self.serves(&host))
    }

    /// Whether a page from `origin` (the `Origin` header) may open a
    /// WebSocket. See the module's documentation for the rules.
    pub fn permits_origin(&self, origin: &str) -> bool {
        let Ok(origin) = Origin::parse(origin) else {
            return false;
        };
        if self.origins.contains(&origin) {
            return true;
        }
        if self.loopback_only() && is_loopback_name(&origin.host) {
            return true;
        }
        origin.port == self.bound.port() && self.serves(&origin.host)
    }

    /// Whether `host` (lower case, no port, no brackets) names this bridge.
    fn serves(&self, host: &str) -> bool {
        if is_loopback_name(host) || self.hosts.iter().any(|allowed| allowed == host) {
            return true;
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => ip == self.bound.ip() || self.bound.ip().is_unspecified(),
            Err(_) => false,
        }
    }
}

/// The host `text` names (`name`, `name:port`, `[v6]`), lower case,
/// without its port.
pub fn host_name(text: &str) -> Result<String, String> {
    match split_host(text.trim()) {
        Some((host, _port)) => Ok(host),
        None => Err(format!(
            "{text:?} is not a host name: write a name or address, e.g. lab.example.org"
        )),
    }
}

/// `localhost`, or a loopback address (127.0.0.0/8, ::1).
fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Splits `host[:port]` (`[v6]` or `[v6]:port` for IPv6) into the host,
/// lower case and without a final dot, and the port. `None` if it is not
/// one (empty, a bad port, characters no host name has).
fn split_host(text: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => None,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':');
    if host.is_empty() || !host.chars().all(name_char) {
        return None;
    }
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(addr: &str) -> AllowedHosts {
        AllowedHosts::new(addr.parse().expect("an address"))
    }

    /// On loopback: loopback names are served, whatever the port; the
    /// names of a rebinding attack are not.
    #[test]
    fn loopback_hosts_only() {
        let allowed = on("127.0.0.1:8080");
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST.",
            "[::1]:8080",
            "[::1]",
            "127.0.0.2:9",
        ] {
            assert!(allowed.permits_host(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "attacker.test",
            "192.168.1.10",
            "localhost.evil.example",
            "",
            "[::1",
            "a b",
            "127.0.0.1:99999",
        ] {
            assert!(!allowed.permits_host(host), "{host}");
        }
    }

    /// `--allow-host` adds a name; an address bound to all interfaces
    /// serves any IP address (an address cannot be rebound), not names.
    #[test]
    fn allowed_names_and_addresses() {
        let mut allowed = on("127.0.0.1:8080");
        allowed.allow_host("Lab.Example.org").expect("a name");
        assert!(allowed.permits_host("lab.example.org:8080"));
        assert!(allowed.permits_host("lab.example.org"));
        assert!(!allowed.permits_host("example.org"));
        assert!(allowed.allow_host("http://x/").is_err());

        let any = on("0.0.0.0:8080");
        assert!(any.permits_host("192.168.1.10:8080"));
        assert!(any.permits_host("[fe80::1]:8080"));
        assert!(!any.permits_host("evil.example:8080"));

        let lan = on("192.168.1.5:8080");
        assert!(lan.permits_host("192.168.1.5:8080"));
        assert!(!lan.permits_host("192.168.1.10:8080"));
    }

    /// On loopback, any loopback page may connect (trunk serve on :8000);
    /// foreign pages, `null` and rebinding pages may not, whatever Host
    /// they send.
    #[test]
    fn origins_on_loopback() {
        let allowed = on("127.0.0.1:8080");
        for origin in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8000",
            "http://localhost:8000/",
            "http://[::1]:3000",
            "https://localhost",
        ] {
            assert!(allowed.permits_origin(origin), "{origin}");
        }
        for origin in [
            "http://evil.example:8080",
            "https://evil.example",
            "http://127.0.0.1.evil.example:8080",
            "null",
            "file://",
            "127.0.0.1:8000",
            "ftp://127.0.0.1:8080",
            "http://127.0.0.1:8080/path",
        ] {
            assert!(!allowed.permits_origin(origin), "{origin}");
        }
    }

    /// Off loopback: only the pages the bridge serves (an allowed host on
    /// its own port) and listed origins; not other local ports.
    #[test]
    fn origins_off_loopback() {
        let mut allowed = on("0.0.0.0:8080");
        assert!(allowed.permits_origin("http://192.168.1.5:8080"));
        assert!(allowed.permits_origin("http://localhost:8080"));
        assert!(!allowed.permits_origin("http://localhost:8000"));
        assert!(!allowed.permits_origin("http://lab.example.org:8080"));
        allowed
            .allow_origin("http://127.0.0.1:8000")
            .expect("an origin");
        assert!(allowed.permits_origin("http://127.0.0.1:8000"));
        assert!(!allowed.permits_origin("http://127.0.0.1:8001"));
        assert!(allowed.allow_origin("127.0.0.1:8000").is_err());
    }

    /// A public site (behind a proxy) adds its origin and its host.
    #[test]
    fn a_public_site_adds_origin_and_host() {
        let mut allowed = on("127.0.0.1:8080");
        allowed
            .allow_site("https://lab.example.org")
            .expect("an origin");
        assert!(allowed.permits_host("lab.example.org"));
        assert!(allowed.permits_origin("https://lab.example.org"));
        assert!(allowed.permits_origin("https://lab.example.org:443"));
        assert!(!allowed.permits_origin("http://lab.example.org:8000"));
        assert_eq!(
            Origin::parse("HTTP://[::1]:80").map(|o| o.to_string()),
            Ok("http://[::1]:80".to_string())
        );
    }
}
