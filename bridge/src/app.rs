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

use crate::clock::Clock;
use crate::config::{BridgeArgs, BridgeConfig, SessionLimits};
use crate::error::Error;
use crate::http;
use crate::lab::{self, LabArgs, PublicLab};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::session::SessionEnv;
use crate::watch::{self, MAX_WATCHERS, Registry};
use axum::serve::ListenerExt;
use std::future::IntoFuture;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

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

    /// `ws://127.0.0.1:PORT/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.http_addr)
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn http_url(&self) -> String {
        format!("http://{}/", self.http_addr)
    }

    /// `ws://127.0.0.1:PORT/watch?token=TOKEN`: the instructor's view.
    pub fn watch_url(&self) -> String {
        format!(
            "ws://{}/watch?token={}",
            self.http_addr, self.instructor_token
        )
    }

    /// `http://127.0.0.1:PORT/?instructor=TOKEN`: the page as the
    /// instructor opens it (the link the bridge prints at start).
    pub fn instructor_url(&self) -> String {
        instructor_link(self.http_addr, &self.instructor_token)
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

/// What the HTTP handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    env: Arc<SessionEnv>,
    static_dir: Option<PathBuf>,
    pyodide_dir: Option<PathBuf>,
    allow_origins: Vec<String>,
    /// One permit per WebSocket (`/ws` or `/relay`), taken before the
    /// upgrade: the `--max-sessions` bound.
    sessions: Arc<Semaphore>,
    /// Counts live WebSockets, so shutdown can wait for their goodbyes.
    tasks: TaskTracker,
    /// Cancelled to shut down; every session watches it.
    shutdown: CancellationToken,
    /// Every `/ws` session, for the instructor's view.
    registry: Arc<Registry>,
    instructor_token: String,
    /// One permit per instructor view (`/watch`): at most [`MAX_WATCHERS`].
    watchers: Arc<Semaphore>,
}

/// A WebSocket's admission: its place among `--max-sessions`, and its
/// count in the tracker shutdown waits on. Dropped when it ends.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    _tracked: TaskTrackerToken,
}

impl AppState {
    fn new(bridge: Bridge, tasks: TaskTracker, shutdown: CancellationToken) -> AppState {
        let limits = bridge.config.limits.clone();
        let registry = Arc::new(Registry::new(bridge.clock));
        let env = SessionEnv {
            clock: bridge.clock,
            limits: limits.clone(),
            allow_targets: bridge.config.allow_targets.clone(),
            public: bridge.public,
            metrics: bridge.metrics,
        };
        AppState {
            inner: Arc::new(Shared {
                env: Arc::new(env),
                static_dir: bridge.config.static_dir,
                pyodide_dir: bridge.config.pyodide_dir,
                allow_origins: bridge.config.allow_origins,
                sessions: Arc::new(Semaphore::new(
                    limits.max_sessions.clamp(1, Semaphore::MAX_PERMITS),
                )),
                tasks,
                shutdown,
                registry,
                instructor_token: bridge.instructor_token,
                watchers: Arc::new(Semaphore::new(MAX_WATCHERS)),
            }),
        }
    }

    /// A place for one more WebSocket, unless full or shutting down.
    pub fn admit(&self) -> Option<Admission> {
        if self.inner.shutdown.is_cancelled() {
            return None;
        }
        let permit = self.inner.sessions.clone().try_acquire_owned().ok()?;
        Some(Admission {
            _permit: permit,
            _tracked: self.inner.tasks.token(),
        })
    }

    /// A place for one more instructor view, unless [`MAX_WATCHERS`] are
    /// open or the bridge is shutting down. Shutdown waits for it too.
    pub fn admit_watcher(&self) -> Option<Admission> {
        if self.inner.shutdown.is_cancelled() {
            return None;
        }
        let permit = self.inner.watchers.clone().try_acquire_owned().ok()?;
        Some(Admission {
            _permit: permit,
            _tracked: self.inner.tasks.token(),
        })
    }

    /// Every `/ws` session, for the instructor's view.
    pub fn registry(&self) -> Arc<Registry> {
        self.inner.registry.clone()
    }

    /// Whether `token` is the instructor's (compared in constant time).
    pub fn is_instructor(&self, token: &str) -> bool {
        watch::token_matches(token, &self.inner.instructor_token)
    }

    pub fn session_env(&self) -> Arc<SessionEnv> {
        self.inner.env.clone()
    }

    pub fn limits(&self) -> SessionLimits {
        self.inner.env.limits.clone()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.inner.env.metrics.clone()
    }

    pub fn shutdown(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    pub fn static_dir(&self) -> Option<PathBuf> {
        self.inner.static_dir.clone()
    }

    /// Pyodide's folder (`--pyodide`), served at `/pyodide/`.
    pub fn pyodide_dir(&self) -> Option<PathBuf> {
        self.inner.pyodide_dir.clone()
    }

    pub fn allow_origins(&self) -> &[String] {
        &self.inner.allow_origins
    }

    /// The public lab server's TCP address, if there is one.
    pub fn public_addr(&self) -> Option<SocketAddr> {
        self.inner.env.public.as_ref().map(|public| public.tcp_addr)
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
    tracing::info!("Socket Lab: open http://{addr}/ in a browser");
    tracing::info!(
        "instructor view (every session live): {}",
        instructor_link(addr, &bridge.instructor_token)
    );
    let state = AppState::new(bridge, tasks.clone(), shutdown.clone());
    // Latency matters more than packet count for a lab (and for /relay).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // Each /ws session is listed with the student's address.
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let serve = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    // Decide: serve until the token is cancelled. HTTP requests in flight
    // get `grace` to finish after that.
    let served = tokio::select! {
        served = serve => served.map_err(Error::from),
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("HTTP connections still open after {grace:?}; closing them");
            Ok(())
        }
    };
    // Tell has happened (every session watches the token); wait.
    tasks.close();
    if tokio::time::timeout(grace * 2, tasks.wait()).await.is_err() {
        tracing::warn!("some sessions did not finish within {:?}", grace * 2);
    }
    tracing::info!("bridge stopped");
    served
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
    let clock = Clock::start();
    let labs = TaskTracker::new();
    let public = lab::start_public(lab, clock, shutdown.clone(), &labs).await?;
    let listener = TcpListener::bind(args.http)
        .await
        .map_err(|source| Error::Listen {
            addr: args.http,
            source,
        })?;
    let served = run(
        listener,
        Bridge::new(args.config(), Some(public), clock),
        shutdown,
    )
    .await;
    labs.close();
    labs.wait().await;
    served
}

/// The page's address with the instructor's token: what the instructor
/// opens.
pub fn instructor_link(addr: SocketAddr, token: &str) -> String {
    format!("http://{addr}/?instructor={token}")
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
