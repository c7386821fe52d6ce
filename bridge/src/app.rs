//! [`run`]: the whole bridge on one listener, until shutdown; and
//! [`Bridge::start`], which starts everything (lab server included) on
//! port 0 in-process, for tests.
//!
//! Shutdown in three steps, as in tokio's graceful-shutdown example:
//! *decide* (Ctrl-C, SIGTERM, or a test cancels the token), *tell* (the
//! token reaches every session, which sends close code 1001 "bridge
//! shutting down" and closes its sockets), *wait* (a [`TaskTracker`] counts
//! the sessions; the wait is bounded, so a browser that does not answer
//! cannot hold the bridge up).
//!
//! Over HTTPS (`--tls-cert`) the same router is served by axum-server
//! with rustls, and shutdown takes the same three steps.

use crate::clock::Clock;
use crate::config::{BridgeArgs, BridgeConfig};
use crate::error::Error;
use crate::http::{self, AppState};
use crate::lab::{self, LabArgs, PublicLab};
use crate::linger::LingeringListener;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::session::SessionEnv;
use crate::targets::Targets;
use crate::tls::{self, Tls};
use crate::watch;
use axum::serve::ListenerExt;
use std::future::IntoFuture;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A bridge, ready to [`run`]: its configuration and its public lab.
#[derive(Debug, Clone)]
pub struct Bridge {
    pub config: BridgeConfig,
    /// The public lab server (already running), if any.
    pub public: Option<PublicLab>,
    /// The clock every event is stamped with (the lab's own).
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// The token of the instructor's view (`/watch`): the configured one,
    /// or a random one.
    pub instructor_token: String,
}

impl Bridge {
    /// A bridge with this configuration and public lab. Without an
    /// instructor token in `config`, it makes a random one.
    pub fn new(config: BridgeConfig, public: Option<PublicLab>, clock: Clock) -> Bridge {
        let instructor_token = config
            .instructor_token
            .clone()
            .filter(|token| !token.is_empty())
            .unwrap_or_else(watch::random_token);
        Bridge {
            config,
            public,
            clock,
            metrics: Arc::new(Metrics::default()),
            instructor_token,
        }
    }

    /// Starts a whole bridge in this process: the public lab server as
    /// `lab` says (give `127.0.0.1:0` for a free port; UDP too if
    /// `lab.udp` is set) and the HTTP front door on `127.0.0.1:0`. Stop it
    /// with [`RunningBridge::stop`], or cancel [`RunningBridge::shutdown`].
    pub async fn start(config: BridgeConfig, lab: &LabArgs) -> Result<RunningBridge, Error> {
        let shutdown = CancellationToken::new();
        let labs = TaskTracker::new();
        let clock = Clock::start();
        let public = lab::start_public(lab, clock, shutdown.clone(), &labs).await?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let http_addr = listener.local_addr()?;
        let https = config.tls.is_some();
        let bridge = Bridge::new(config, Some(public.clone()), clock);
        let metrics = bridge.metrics.clone();
        let instructor_token = bridge.instructor_token.clone();
        let handle = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                let served = run(listener, bridge, shutdown).await;
                labs.close();
                labs.wait().await;
                served
            }
        });
        Ok(RunningBridge {
            http_addr,
            https,
            lab: public,
            metrics,
            instructor_token,
            shutdown,
            handle,
        })
    }

    /// [`Bridge::start`] with the defaults and the lab on free ports
    /// (TCP in `mode`, and a UDP echo server).
    pub async fn start_for_tests(mode: protocol::Mode) -> Result<RunningBridge, Error> {
        let lab = LabArgs {
            lab: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            udp: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            mode,
            ..LabArgs::default()
        };
        Bridge::start(BridgeConfig::default(), &lab).await
    }
}

/// A bridge running in this process (see [`Bridge::start`]).
#[derive(Debug)]
pub struct RunningBridge {
    /// Where the page, `/ws` and `/relay` are served.
    pub http_addr: SocketAddr,
    /// Served over HTTPS (the configuration had [`BridgeConfig::tls`]).
    pub https: bool,
    /// The public lab server (`lab.tcp_addr`, `lab.udp_addr`, its tracer).
    pub lab: PublicLab,
    pub metrics: Arc<Metrics>,
    /// The token of the instructor's view: `/watch?token=...`, and the
    /// page's `/?instructor=...`.
    pub instructor_token: String,
    /// Cancel to shut the bridge down (what Ctrl-C does).
    pub shutdown: CancellationToken,
    /// The bridge's task: [`run`]'s result, after the lab has stopped too.
    pub handle: JoinHandle<Result<(), Error>>,
}

impl RunningBridge {
    /// The public lab server's TCP address.
    pub fn lab_addr(&self) -> SocketAddr {
        self.lab.tcp_addr
    }

    /// `ws://127.0.0.1:PORT/ws` (`wss:` over HTTPS).
    pub fn ws_url(&self) -> String {
        format!("{}://{}/ws", self.ws_scheme(), self.http_addr)
    }

    /// `http://127.0.0.1:PORT/` (`https:` over HTTPS).
    pub fn http_url(&self) -> String {
        format!("{}://{}/", self.http_scheme(), self.http_addr)
    }

    /// `ws://127.0.0.1:PORT/watch?token=TOKEN`: the instructor's view.
    pub fn watch_url(&self) -> String {
        format!(
            "{}://{}/watch?token={}",
            self.ws_scheme(),
            self.http_addr,
            self.instructor_token
        )
    }

    /// `http://127.0.0.1:PORT/?instructor=TOKEN`: the page as the
    /// instructor opens it (the link the bridge prints at start).
    pub fn instructor_url(&self) -> String {
        instructor_link(&self.http_url(), &self.instructor_token)
    }

    fn http_scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    fn ws_scheme(&self) -> &'static str {
        if self.https { "wss" } else { "ws" }
    }

    /// The bridge's gauges now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Shuts down and waits for the bridge to finish.
    pub async fn stop(self) -> Result<(), Error> {
        self.shutdown.cancel();
        self.handle
            .await
            .map_err(|err| Error::Io(io::Error::other(err)))?
    }
}

/// Serves the page, `/ws`, `/relay`, `/watch` and `/metrics` on
/// `listener` until `shutdown` is cancelled; then closes every session and
/// instructor view (close code 1001) and returns within a bounded time.
pub async fn run(
    listener: TcpListener,
    bridge: Bridge,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let grace = bridge.config.limits.shutdown_grace;
    let tasks = TaskTracker::new();
    let addr = listener.local_addr()?;
    let tls = bridge.config.tls.clone();
    let pages = page_urls(&bridge.config, addr);
    for page in &pages {
        tracing::info!("Socket Lab: open {page} in a browser");
    }
    if !bridge.config.public_origins.is_empty() {
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!("behind a proxy: point it at {scheme}://{addr}/");
        if bridge.config.trusted_proxies.is_empty() {
            tracing::info!(
                "the instructor view lists the proxy's address for every student: add \
                 --trust-proxy with the proxy's IP to list theirs"
            );
        }
    }
    if let Some(page) = pages.first() {
        tracing::info!(
            "instructor view (every session live): {}",
            instructor_link(page, &bridge.instructor_token)
        );
    }
    let env = SessionEnv {
        clock: bridge.clock,
        limits: bridge.config.limits.clone(),
        targets: Targets::new(
            bridge.public.as_ref(),
            bridge.config.allow_targets.clone(),
            bridge.config.limits.connect_timeout,
        ),
        public: bridge.public,
        metrics: bridge.metrics,
    };
    let state = AppState::new(
        bridge.config,
        env,
        bridge.instructor_token,
        addr,
        tasks.clone(),
        shutdown.clone(),
    );
    // Each /ws session is listed with the student's address.
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = match tls {
        None => serve_http(listener, app, &tasks, &shutdown, grace).await,
        Some(tls) => serve_https(listener, app, tls, &shutdown, grace).await,
    };
    // Tell has happened (every session watches the token); wait.
    tasks.close();
    if tokio::time::timeout(grace * 2, tasks.wait()).await.is_err() {
        tracing::warn!("some sessions did not finish within {:?}", grace * 2);
    }
    tracing::info!("bridge stopped");
    served
}

type App = axum::extract::connect_info::IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr>;

/// Plain HTTP: `axum::serve` until `shutdown`; HTTP requests in flight get
/// `grace` to finish after that.
async fn serve_http(
    listener: TcpListener,
    app: App,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
    grace: std::time::Duration,
) -> Result<(), Error> {
    // Every connection closes without losing its last words (see
    // `linger`); shutdown waits for those closes too.
    let listener = LingeringListener::new(listener, tasks.clone());
    // Latency matters more than packet count for a lab (and for /relay).
    let listener = listener.tap_io(|io| {
        if let Some(tcp) = io.tcp() {
            let _ = tcp.set_nodelay(true);
        }
    });
    let serve = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    // Decide: serve until the token is cancelled.
    tokio::select! {
        served = serve => served.map_err(Error::from),
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("HTTP connections still open after {grace:?}; closing them");
            Ok(())
        }
    }
}

/// HTTPS: the same router behind rustls (axum-server, which does each
/// TLS handshake in the connection's own task, under a time limit, so a
/// slow client cannot hold up the others). On `shutdown` it stops
/// accepting and gives requests in flight `grace`, like [`serve_http`];
/// WebSocket sessions close themselves with 1001 as over HTTP.
async fn serve_https(
    listener: TcpListener,
    app: App,
    tls: Tls,
    shutdown: &CancellationToken,
    grace: std::time::Duration,
) -> Result<(), Error> {
    let handle = axum_server::Handle::new();
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
        axum_server::tls_rustls::RustlsConfig::from_config(tls.server_config()),
    )
    // Latency matters more than packet count for a lab (and /relay).
    .acceptor(axum_server::accept::NoDelayAcceptor);
    let server = axum_server::from_tcp(listener.into_std()?)
        .acceptor(acceptor)
        .handle(handle.clone());
    let serve = server.serve(app);
    tokio::pin!(serve);
    // Decide: serve until the token is cancelled (or serving fails).
    tokio::select! {
        served = &mut serve => return served.map_err(Error::from),
        () = shutdown.cancelled() => handle.graceful_shutdown(Some(grace)),
    }
    // axum-server closes what is still open after `grace`.
    serve.await.map_err(Error::from)
}

/// The addresses to give students: each `--public-origin`, or else the
/// bridge's own (with this machine's name when it listens on every
/// address).
pub fn page_urls(config: &BridgeConfig, addr: SocketAddr) -> Vec<String> {
    if !config.public_origins.is_empty() {
        return config
            .public_origins
            .iter()
            .map(|public| public.page_url())
            .collect();
    }
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    if !addr.ip().is_unspecified() {
        return vec![format!("{scheme}://{addr}/")];
    }
    // 0.0.0.0 or [::]: the machine's name is what students can type; the
    // loopback address works on this machine.
    let port = addr.port();
    let mut urls = Vec::new();
    if let Some(host) = tls::host_name() {
        urls.push(format!("{scheme}://{host}:{port}/"));
    }
    urls.push(format!("{scheme}://127.0.0.1:{port}/"));
    urls
}

/// `socket-lab` (no subcommand): starts the public lab server and the
/// bridge, and runs until `shutdown`.
pub async fn serve(
    lab: &LabArgs,
    args: &BridgeArgs,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    if !is_loopback(args.http.ip()) && !args.allow_remote {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing to serve on {}: other machines could drive this bridge. \
                 Add --allow-remote if that is what you want.",
                args.http
            ),
        )));
    }
    let mut config = args.config();
    if let (Some(cert), Some(key)) = (&args.remote.tls_cert, &args.remote.tls_key) {
        config.tls = Some(Tls::from_pem_files(cert, key)?);
    }
    if !is_loopback(args.http.ip()) && config.tls.is_none() {
        tracing::warn!(
            "serving plain HTTP to other machines: the instructor's token and the students' \
             traffic cross the network readable, and browsers keep the page's Python off \
             outside a secure context. Use --tls-cert/--tls-key (socket-lab cert makes a pair) \
             or a proxy with HTTPS in front"
        );
    }
    crate::memory::return_freed_memory();
    let clock = Clock::start();
    let labs = TaskTracker::new();
    let public = lab::start_public(lab, clock, shutdown.clone(), &labs).await?;
    let listener = TcpListener::bind(args.http)
        .await
        .map_err(|source| Error::Listen {
            addr: args.http,
            source,
        })?;
    let served = run(listener, Bridge::new(config, Some(public), clock), shutdown).await;
    labs.close();
    labs.wait().await;
    served
}

/// The page's address (`page`, ending in `/`) with the instructor's
/// token: what the instructor opens.
pub fn instructor_link(page: &str, token: &str) -> String {
    format!("{page}?instructor={token}")
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// Waits for Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::PublicOrigin;

    /// The address given to students: the public one behind a proxy, the
    /// bridge's own otherwise, with https when it serves TLS.
    #[test]
    fn page_urls_follow_the_configuration() {
        let addr: SocketAddr = "127.0.0.1:8443".parse().expect("addr");
        let plain = BridgeConfig::default();
        assert_eq!(page_urls(&plain, addr), ["http://127.0.0.1:8443/"]);
        let pair = tls::SelfSigned::generate(&["localhost".into()]).expect("pair");
        let https = BridgeConfig {
            tls: Some(pair.tls().expect("loads")),
            ..BridgeConfig::default()
        };
        assert_eq!(page_urls(&https, addr), ["https://127.0.0.1:8443/"]);
        let everywhere: SocketAddr = "0.0.0.0:8443".parse().expect("addr");
        let urls = page_urls(&https, everywhere);
        assert_eq!(
            urls.last().map(String::as_str),
            Some("https://127.0.0.1:8443/")
        );
        let proxied = BridgeConfig {
            public_origins: vec![
                PublicOrigin::parse("https://lab.example.edu/co223/").expect("parses"),
            ],
            ..BridgeConfig::default()
        };
        let urls = page_urls(&proxied, addr);
        assert_eq!(urls, ["https://lab.example.edu/co223/"]);
        assert_eq!(
            instructor_link(&urls[0], "t0k"),
            "https://lab.example.edu/co223/?instructor=t0k"
        );
    }
}
