//! [`BridgeConfig`]: what the bridge's front door allows, and the
//! [`SessionLimits`] it holds every browser to. [`BridgeArgs`] are the
//! `socket-lab` flags that fill them in.
//!
//! Every number here bounds something a browser controls. A relay is an
//! attack surface: without these, one tab could open a thousand sockets,
//! or stop reading and make the bridge buffer a stream forever.

use crate::proxy::PublicOrigin;
use crate::tls::Tls;
use clap::builder::TypedValueParser;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// How much one browser may ask of the bridge. The defaults suit a class.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// WebSocket sessions (`/ws` and `/relay` together) at once; the next
    /// one gets `503 Service Unavailable` before upgrading.
    pub max_sessions: usize,
    /// Private lab servers one session may run at once.
    pub max_servers_per_session: usize,
    /// Client connections one session may have open at once.
    pub max_connections_per_session: usize,
    /// The largest WebSocket message (and frame) the bridge reads; larger
    /// ones close the session with code 1009.
    pub max_message_bytes: usize,
    /// Bytes a session may have queued in each direction: events waiting
    /// for the browser to read them, and data waiting to be written to
    /// sockets. When the first is full the bridge stops reading the
    /// sockets (TCP backpressure); when the second is full `send` is refused.
    pub max_buffered_bytes: usize,
    /// A session that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// How long `connect()` may take before it fails as "timed out".
    pub connect_timeout: Duration,
    /// How long goodbyes (close frames) may take at shutdown.
    pub shutdown_grace: Duration,
    /// Student programs (see [`protocol::program`]) one session may run at
    /// once.
    pub max_programs_per_session: usize,
    /// Sockets one session's programs may have open at once, all together.
    pub max_program_sockets_per_session: usize,
    /// The name of a student's "Download my lab" zip: `{name}` stands for
    /// the student number the student typed (told to the page in the
    /// hello).
    pub submission_name: String,
}

/// The handout's submission name: `E18XXX_Lab03.zip`.
pub const DEFAULT_SUBMISSION_NAME: &str = "{name}_Lab03.zip";

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_sessions: 10_000,
            max_servers_per_session: 8,
            max_connections_per_session: 16,
            max_message_bytes: 64 * 1024,
            max_buffered_bytes: 256 * 1024,
            idle_timeout: Duration::from_secs(30 * 60),
            connect_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(3),
            max_programs_per_session: 4,
            max_program_sockets_per_session: 32,
            submission_name: DEFAULT_SUBMISSION_NAME.to_string(),
        }
    }
}

impl SessionLimits {
    /// The largest chunk a client connection reads at once: one `recv()`'s
    /// bytes travel as hex in one event, which must fit in a message the
    /// page will accept and in the session's buffer.
    pub fn read_chunk(&self) -> usize {
        let by_message = self.max_message_bytes.saturating_sub(512) / 2;
        let by_buffer = self.max_buffered_bytes / 4;
        by_message.min(by_buffer).clamp(1, 16 * 1024)
    }

    /// These limits as the page is told them in `hello`.
    pub fn to_protocol(&self) -> protocol::Limits {
        let u32_of = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        protocol::Limits {
            max_servers: u32_of(self.max_servers_per_session),
            max_connections: u32_of(self.max_connections_per_session),
            max_message_bytes: u32_of(self.max_message_bytes),
            idle_timeout_secs: u32::try_from(self.idle_timeout.as_secs()).unwrap_or(u32::MAX),
            max_programs: u32_of(self.max_programs_per_session),
            max_program_sockets: u32_of(self.max_program_sockets_per_session),
        }
    }
}

/// Everything the front door needs besides the lab itself.
#[derive(Debug, Clone, Default)]
pub struct BridgeConfig {
    /// The built page (trunk's `dist/`). `None`, or a folder without an
    /// `index.html`, serves a short page saying how to build it.
    pub static_dir: Option<PathBuf>,
    /// Pyodide's files, one folder per version (`314.0.7/`), served at
    /// `/pyodide/` for the code view. `None`, or a missing folder, answers
    /// `404` with how to install them.
    pub pyodide_dir: Option<PathBuf>,
    /// `HOST:PORT` targets a session may connect to besides the bridge's
    /// own lab servers.
    pub allow_targets: AllowList,
    /// Origins (`http://host:port`) allowed to open WebSockets besides the
    /// pages the bridge serves (see [`crate::allowed_hosts`]).
    pub allow_origins: Vec<String>,
    /// Host names the bridge answers for besides loopback names and the
    /// address it listens on.
    pub allow_hosts: Vec<String>,
    /// The token of the instructor's view (`/watch`). `None` (or empty):
    /// the bridge makes a random one at start.
    pub instructor_token: Option<String>,
    pub limits: SessionLimits,
    /// HTTPS (`--tls-cert`, `--tls-key`); `None` serves plain HTTP.
    pub tls: Option<Tls>,
    /// The addresses students open when a reverse proxy is in front
    /// (`--public-origin`): each one's origin may open WebSockets, and the
    /// bridge prints its links with the first.
    pub public_origins: Vec<PublicOrigin>,
    /// Reverse proxies whose `X-Forwarded-For` names the student
    /// (`--trust-proxy`).
    pub trusted_proxies: Vec<IpAddr>,
}

/// The `--allow-target` entries: the only places besides the lab servers
/// the bridge will open a connection to. The bridge is not an open proxy.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    entries: Vec<String>,
}

impl AllowList {
    /// Allows exactly these `HOST:PORT` targets.
    pub fn new<I, S>(entries: I) -> AllowList
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        AllowList {
            entries: entries
                .into_iter()
                .map(|entry| normalize_target(entry.as_ref()))
                .collect(),
        }
    }

    /// Whether `target` was allowed. The match is on the text, after
    /// writing IP addresses the standard way: `localhost:7` and
    /// `127.0.0.1:7` are different entries, so nothing a name resolves to
    /// can widen the list.
    pub fn permits(&self, target: &str) -> bool {
        let target = normalize_target(target);
        self.entries.contains(&target)
    }

    /// The entries, as given (normalized).
    pub fn entries(&self) -> &[String] {
        &self.entries
    }
}

/// `HOST:PORT` with IPs written canonically and names in lower case.
pub fn normalize_target(target: &str) -> String {
    let target = target.trim();
    match target.parse::<SocketAddr>() {
        Ok(addr) => addr.to_string(),
        Err(_) => target.to_ascii_lowercase(),
    }
}

/// The `socket-lab` flags for the HTTP front door and the sessions.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Bridge (page, /ws, /relay)")]
pub struct BridgeArgs {
    /// Address the page, /ws and /relay are served on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,

    /// Allow --http on an address other than loopback. Other machines then
    /// reach the page, /ws and /relay (sockets opened on this machine, to
    /// its lab servers and --allow-target entries only) and /metrics
    /// (counts only); the instructor view (/watch) still needs its token.
    /// Use HTTPS (--tls-cert) or a proxy in front: over plain HTTP the
    /// token and the students' traffic cross the network readable, and the
    /// page's Python is off.
    #[arg(long)]
    pub allow_remote: bool,

    /// Folder with the built page (trunk's output). Relative to the current
    /// folder. If it has no index.html, a page saying how to build it is
    /// served instead.
    #[arg(long = "static", value_name = "DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Folder with Pyodide (CPython for the code view), one subfolder per
    /// version, as `scripts/setup.sh build` fills it. Relative to the
    /// current folder; served at /pyodide/.
    #[arg(long = "pyodide", value_name = "DIR", default_value = "pyodide")]
    pub pyodide_dir: PathBuf,

    /// A HOST:PORT sessions may connect to besides the bridge's own lab
    /// servers (repeatable). Nothing else is reachable: not an open proxy.
    #[arg(long, value_name = "HOST:PORT")]
    pub allow_target: Vec<String>,

    /// An Origin (e.g. http://192.168.1.5:8000) allowed to open
    /// WebSockets besides the pages this bridge serves (repeatable). On
    /// loopback, pages on any loopback port are allowed already.
    #[arg(long, value_name = "ORIGIN", value_parser = parse_origin)]
    pub allow_origin: Vec<String>,

    /// A host name (e.g. lab.example.org) the bridge answers for besides
    /// loopback names and the address it listens on (repeatable). Any
    /// other Host is refused (403): that is what stops DNS rebinding.
    #[arg(long, value_name = "HOST", value_parser = parse_host)]
    pub allow_host: Vec<String>,

    /// The token that opens the instructor view (every session live, one
    /// followed to show the class): /?instructor=TOKEN. Letters, digits,
    /// '-', '_', '.' and '~'. Default: a random one, new at every start;
    /// the bridge prints the link with it when it starts.
    #[arg(long, value_name = "TOKEN", value_parser = parse_token)]
    pub instructor_token: Option<String>,

    /// WebSocket sessions (/ws and /relay) at once.
    #[arg(long, value_name = "N", default_value_t = SessionLimits::default().max_sessions,
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub max_sessions: usize,

    /// Private lab servers one session may run at once.
    #[arg(long, value_name = "N", default_value_t = SessionLimits::default().max_servers_per_session,
          value_parser = clap::value_parser!(u32).range(0..=1024).map(|n| n as usize))]
    pub max_servers_per_session: usize,

    /// Client connections one session may have open at once.
    #[arg(long, value_name = "N", default_value_t = SessionLimits::default().max_connections_per_session,
          value_parser = clap::value_parser!(u32).range(0..=4096).map(|n| n as usize))]
    pub max_connections_per_session: usize,

    /// Student programs (Python run in the page) one session may run at once.
    #[arg(long, value_name = "N", default_value_t = SessionLimits::default().max_programs_per_session,
          value_parser = clap::value_parser!(u32).range(0..=64).map(|n| n as usize))]
    pub max_programs_per_session: usize,

    /// Sockets one session's programs may have open at once, all together.
    #[arg(long, value_name = "N", default_value_t = SessionLimits::default().max_program_sockets_per_session,
          value_parser = clap::value_parser!(u32).range(0..=4096).map(|n| n as usize))]
    pub max_program_sockets_per_session: usize,

    /// Largest WebSocket message or frame the bridge reads, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = SessionLimits::default().max_message_bytes,
          value_parser = clap::value_parser!(u32).range(1024..=(16 << 20)).map(|n| n as usize))]
    pub max_message_bytes: usize,

    /// Bytes a session may queue in each direction before backpressure.
    #[arg(long, value_name = "BYTES", default_value_t = SessionLimits::default().max_buffered_bytes,
          value_parser = clap::value_parser!(u32).range(4096..=(64 << 20)).map(|n| n as usize))]
    pub max_buffered_bytes: usize,

    /// Seconds a browser session may send nothing before it is closed (and
    /// a /relay may carry no bytes either way).
    #[arg(long = "session-idle-timeout", value_name = "SECS",
          default_value_t = SessionLimits::default().idle_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub session_idle_timeout: u64,

    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The name of a student's "Download my lab" zip, `{name}` standing for
    /// the student number the student typed (e.g. `{name}_Lab04.zip`).
    #[arg(long, value_name = "PATTERN", default_value = DEFAULT_SUBMISSION_NAME,
          value_parser = parse_submission_name)]
    pub submission_name: String,
}

/// A submission name pattern: one `{name}`, ending in `.zip`, no folders.
fn parse_submission_name(pattern: &str) -> Result<String, String> {
    if pattern.matches("{name}").count() != 1 {
        return Err(
            "the pattern needs {name} once, where the student number goes (e.g. {name}_Lab04.zip)"
                .into(),
        );
    }
    if !pattern.ends_with(".zip") {
        return Err("the pattern must end in .zip".into());
    }
    if pattern.contains(['/', '\\']) {
        return Err("the pattern is a file name: no / or \\".into());
    }
    Ok(pattern.to_string())
}

/// The `socket-lab` flags for teaching remotely: HTTPS, and a reverse
/// proxy in front (see [`crate::proxy`]).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Remote: HTTPS and a reverse proxy")]
pub struct RemoteArgs {
    /// Serve HTTPS with this PEM certificate (the server's first, then any
    /// chain). Needs --tls-key. `socket-lab cert` makes a self-signed one.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The address students open when a reverse proxy is in front, e.g.
    /// https://lab.example.edu/co223/ (repeatable). Its origin (and only
    /// it) may open WebSockets; the bridge prints links with it.
    #[arg(long, value_name = "URL", value_parser = PublicOrigin::parse)]
    pub public_origin: Vec<PublicOrigin>,

    /// The IP of a reverse proxy in front (e.g. 127.0.0.1) whose
    /// X-Forwarded-For header names the student (repeatable). From any
    /// other address the header is ignored.
    #[arg(long, value_name = "IP")]
    pub trust_proxy: Vec<IpAddr>,
}

impl BridgeArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> BridgeConfig {
        BridgeConfig {
            static_dir: Some(self.static_dir.clone()),
            pyodide_dir: Some(self.pyodide_dir.clone()),
            allow_targets: AllowList::new(&self.allow_target),
            allow_origins: self.allow_origin.clone(),
            allow_hosts: self.allow_host.clone(),
            instructor_token: self.instructor_token.clone(),
            limits: SessionLimits {
                max_sessions: self.max_sessions,
                max_servers_per_session: self.max_servers_per_session,
                max_connections_per_session: self.max_connections_per_session,
                max_programs_per_session: self.max_programs_per_session,
                max_program_sockets_per_session: self.max_program_sockets_per_session,
                max_message_bytes: self.max_message_bytes,
                max_buffered_bytes: self.max_buffered_bytes,
                idle_timeout: Duration::from_secs(self.session_idle_timeout),
                submission_name: self.submission_name.clone(),
                ..SessionLimits::default()
            },
            // Read from files by `app::serve`, which can fail with a reason.
            tls: None,
            public_origins: self.remote.public_origin.clone(),
            trusted_proxies: self.remote.trust_proxy.clone(),
        }
    }
}

/// An origin, `scheme://host[:port]`.
fn parse_origin(origin: &str) -> Result<String, String> {
    crate::allowed_hosts::Origin::parse(origin).map(|_| origin.trim_end_matches('/').to_string())
}

/// A host name or address.
fn parse_host(host: &str) -> Result<String, String> {
    crate::allowed_hosts::host_name(host).map(|_| host.trim().to_string())
}

/// An instructor token: non-empty, and safe in a URL as it is.
fn parse_token(token: &str) -> Result<String, String> {
    if token.is_empty() {
        return Err("the instructor token cannot be empty".to_string());
    }
    let url_safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
    match token.chars().find(|c| !url_safe(*c)) {
        Some(c) => Err(format!(
            "{c:?} cannot be in the instructor token: use letters, digits, '-', '_', '.' and '~' \
             (it goes into a link as it is)"
        )),
        None => Ok(token.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allowed targets match exactly, with IPs written the standard way.
    #[test]
    fn allow_list_matches_exact_targets() {
        let allow = AllowList::new(["127.0.0.1:7000", "Example.org:80", "[::1]:9"]);
        assert!(allow.permits("127.0.0.1:7000"));
        assert!(allow.permits(" example.org:80"));
        assert!(allow.permits("[0:0:0:0:0:0:0:1]:9"));
        assert!(!allow.permits("127.0.0.1:7001"));
        assert!(!allow.permits("localhost:7000"));
        assert!(!AllowList::default().permits("127.0.0.1:7000"));
    }

    /// Instructor tokens go into a link as they are.
    #[test]
    fn instructor_tokens_are_url_safe() {
        assert_eq!(parse_token("class-2b_x.y~z"), Ok("class-2b_x.y~z".into()));
        assert!(parse_token("").is_err());
        assert!(parse_token("a b").is_err());
        assert!(parse_token("a&b").is_err());
    }

    /// One recv()'s hex fits in a message and in the session's buffer.
    #[test]
    fn read_chunk_fits_the_limits() {
        let limits = SessionLimits::default();
        assert!(limits.read_chunk() * 2 + 512 <= limits.max_message_bytes);
        assert!(limits.read_chunk() <= limits.max_buffered_bytes / 4);
        let tiny = SessionLimits {
            max_buffered_bytes: 4096,
            ..SessionLimits::default()
        };
        assert_eq!(tiny.read_chunk(), 1024);
    }
}
