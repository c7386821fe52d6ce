//! Behind a reverse proxy: [`PublicOrigin`], the address students open
//! (`--public-origin https://lab.example.edu/co223/`), and
//! [`client_address`], the student's own address when a trusted proxy
//! (`--trust-proxy 127.0.0.1`) forwards it.
//!
//! A proxy such as nginx terminates HTTPS and passes `/ws`, `/watch` and
//! `/relay` on to the bridge on loopback. Two things then look different
//! to the bridge, and each is fixed by naming exactly what to trust:
//!
//! - The browser's `Origin` is the public one (`https://lab.example.edu`),
//!   not the bridge's own address. `--public-origin` adds that one origin
//!   to the allowed ones, nothing wider: a page on any other site is still
//!   refused.
//! - Every connection comes from the proxy. With `--trust-proxy IP`, a
//!   connection *from that IP* may say whose it is in `X-Forwarded-For`;
//!   from anyone else the header is ignored, so a student cannot pretend
//!   to be another.

use axum::http::{HeaderMap, Uri};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The address students open when the bridge is behind a proxy: scheme,
/// host, port (when not the scheme's default) and path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOrigin {
    scheme: String,
    /// The host as it appears in a URL (an IPv6 address in brackets), in
    /// lower case.
    host: String,
    /// The port, only when it is not the scheme's default (as browsers
    /// write `Origin`).
    port: Option<u16>,
    /// The path prefix, starting and ending with `/`.
    path: String,
}

impl PublicOrigin {
    /// Parses `https://lab.example.edu/co223/` (or `http://...`). The path
    /// is the page's folder; a missing final `/` is added.
    pub fn parse(text: &str) -> Result<PublicOrigin, String> {
        let text = text.trim();
        let uri: Uri = text
            .parse()
            .map_err(|err| format!("{text:?} is not an address: {err}"))?;
        let scheme = match uri.scheme_str() {
            Some(scheme @ ("http" | "https")) => scheme.to_string(),
            _ => {
                return Err(format!(
                    "{text:?} must start with https:// (or http://), e.g. \
                     https://lab.example.edu/co223/"
                ));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{text:?} has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("{text:?} must not carry a user name"));
        }
        if uri.query().is_some() || text.contains('#') {
            return Err(format!(
                "{text:?} must be the page's folder, without ?query or #fragment"
            ));
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port = authority.port_u16().filter(|port| *port != default_port);
        let mut path = uri.path().to_string();
        if !path.ends_with('/') {
            path.push('/');
        }
        Ok(PublicOrigin {
            scheme,
            host,
            port,
            path,
        })
    }

    /// `https://lab.example.edu` (with `:port` if not the default): what a
    /// browser sends as `Origin` from the page.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority())
    }

    /// `lab.example.edu` (with `:port` if not the default): the `Host` a
    /// browser sends to the proxy.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The host alone, without a port (`lab.example.edu`, `[::1]`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The page's address: `https://lab.example.edu/co223/`.
    pub fn page_url(&self) -> String {
        format!("{}{}", self.origin(), self.path)
    }
}

impl fmt::Display for PublicOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.page_url())
    }
}

/// The student's address, as the instructor view lists it: the TCP peer,
/// or, when the peer is one of `trusted` proxies, the client it names in
/// `X-Forwarded-For` (the nearest address there that is not itself a
/// trusted proxy; proxies only ever append, so anything further left
/// could have been written by the client).
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> String {
    if !trusted.contains(&peer.ip()) {
        return peer.to_string();
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = None;
    for entry in forwarded.iter().rev() {
        let Some(ip) = parse_forwarded_ip(entry) else {
            // Garbage: nothing to its left can be believed either.
            break;
        };
        client = Some(ip);
        if !trusted.contains(&ip) {
            break;
        }
    }
    match client {
        Some(ip) => ip.to_string(),
        None => peer.to_string(),
    }
}

/// One `X-Forwarded-For` entry: an IP, possibly with a port or brackets.
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    entry.trim_matches(['[', ']']).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The public address gives the origin and host a browser sends.
    #[test]
    fn public_origins_parse() {
        let public = PublicOrigin::parse("https://Lab.Example.edu/co223").expect("parses");
        assert_eq!(public.origin(), "https://lab.example.edu");
        assert_eq!(public.authority(), "lab.example.edu");
        assert_eq!(public.page_url(), "https://lab.example.edu/co223/");
        let public = PublicOrigin::parse("https://lab.example.edu:443/").expect("parses");
        assert_eq!(public.origin(), "https://lab.example.edu");
        let public = PublicOrigin::parse("https://127.0.0.1:8443/a/b/").expect("parses");
        assert_eq!(public.origin(), "https://127.0.0.1:8443");
        assert_eq!(public.page_url(), "https://127.0.0.1:8443/a/b/");
        let public = PublicOrigin::parse("http://[::1]:8080").expect("parses");
        assert_eq!(public.origin(), "http://[::1]:8080");
        assert_eq!(public.host(), "[::1]");
        for bad in [
            "lab.example.edu",
            "ftp://lab.example.edu/",
            "https://user@lab.example.edu/",
            "https://lab.example.edu/?x=1",
            "https:///co223/",
            "",
        ] {
            assert!(PublicOrigin::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        headers
    }

    /// Only a trusted proxy may name the client, and only the entry it
    /// appended counts.
    #[test]
    fn client_address_trusts_only_the_proxy() {
        let proxy: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let student: SocketAddr = "192.0.2.7:50000".parse().expect("addr");
        let trusted = ["127.0.0.1".parse().expect("ip")];
        // Not through the proxy: the header is the client's own claim.
        assert_eq!(
            client_address(student, &forwarded(&["203.0.113.9"]), &trusted),
            "192.0.2.7:50000"
        );
        // Through the proxy: the address it appended.
        assert_eq!(
            client_address(proxy, &forwarded(&["192.0.2.7"]), &trusted),
            "192.0.2.7"
        );
        // A client that sends its own header gets its claim ignored: the
        // proxy's entry is the last one.
        assert_eq!(
            client_address(proxy, &forwarded(&["203.0.113.9, 192.0.2.7"]), &trusted),
            "192.0.2.7"
        );
        assert_eq!(
            client_address(proxy, &forwarded(&["203.0.113.9", "192.0.2.7"]), &trusted),
            "192.0.2.7"
        );
        // Garbage stops the walk; nothing to forward means the peer.
        assert_eq!(
            client_address(proxy, &forwarded(&["nonsense"]), &trusted),
            "127.0.0.1:40000"
        );
        assert_eq!(
            client_address(proxy, &HeaderMap::new(), &trusted),
            "127.0.0.1:40000"
        );
        // Without --trust-proxy nothing is believed.
        assert_eq!(
            client_address(proxy, &forwarded(&["192.0.2.7"]), &[]),
            "127.0.0.1:40000"
        );
        // Bracketed IPv6 with a port, as some proxies write it.
        assert_eq!(
            client_address(proxy, &forwarded(&["[2001:db8::1]:443"]), &trusted),
            "2001:db8::1"
        );
    }
}
