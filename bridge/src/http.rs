//! The HTTP front door: one port for the page, `/ws`, `/relay`, `/watch`
//! and `/metrics` (an axum [`Router`]), and [`AppState`], what its
//! handlers share.
//!
//! Every request passes the **Host** check first (`403`): the bridge
//! answers only for a name it serves, which is what stops DNS rebinding
//! (see [`crate::allowed_hosts`]). A path that no file can have (a segment
//! over 255 bytes) is a `404`, a URL over 8 KiB a `414`.
//!
//! Every WebSocket upgrade then passes three checks before it is accepted:
//!
//! 1. **Origin**: a page on another site must not be able to drive a
//!    student's bridge. The `Origin` is compared with the allowed set
//!    ([`AllowedHosts`]), never with the request's own Host; requests
//!    without `Origin` (command-line tools) pass. A browser cannot read an
//!    HTTP status on a failed WebSocket, so `/ws` and `/watch` accept the
//!    upgrade and close it at once with 1008 (policy violation) and a
//!    reason naming the fix (`--allow-origin ORIGIN`), reading no command;
//!    `/relay` (for programs) answers `403`.
//! 2. **Target** (`/relay` only, `403`): the bridge's public lab server or
//!    an `--allow-target` entry; it is not an open proxy.
//! 3. **Room** (`503`): at most `--max-sessions` WebSockets at once.
//!
//! `/watch` (the instructor's view) then passes the **token** check
//! (`403`: the bridge's instructor token, compared in constant time), and
//! has its own room: at most [`MAX_WATCHERS`](crate::watch::MAX_WATCHERS)
//! at once (beyond that it opens and closes at once with 1013, "try again
//! later", and the reason: a browser can read a close code, not an HTTP
//! status).

use crate::allowed_hosts::AllowedHosts;
use crate::config::BridgeConfig;
use crate::config::SessionLimits;
use crate::metrics::Metrics;
use crate::proxy;
use crate::relay;
use crate::session::RelaySession;
use crate::session::SessionEnv;
use crate::targets::Targets;
use crate::watch::Registry;
use crate::watch::{self, MAX_WATCHERS, watcher::WatchEnv};
use crate::ws::close;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use protocol::Transport;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

/// The router for a bridge. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: `/ws` lists each
/// session with the student's address.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/ws", get(ws))
        .route("/relay", get(relay_query))
        .route("/relay/{target}", get(relay_path))
        .route("/watch", get(watch))
        .route("/metrics", get(metrics))
        .nest_service("/pyodide", crate::pyodide::service(state.pyodide_dir()));
    let page = state
        .static_dir()
        .filter(|dir| dir.join("index.html").is_file());
    let routes = match page {
        // Unknown paths get index.html, so the page's own routes work.
        Some(dir) => {
            let index = ServeFile::new(dir.join("index.html"));
            routes.fallback_service(ServeDir::new(dir).fallback(index))
        }
        None => {
            let dir = state.static_dir().map(|dir| dir.display().to_string());
            tracing::warn!(
                "the page is not built (no index.html in {}): serving a note instead",
                dir.as_deref().unwrap_or("--static")
            );
            routes.fallback(not_built)
        }
    };
    // Cross-origin isolation, on every response: a student's Python
    // program runs in a Web Worker whose blocking socket calls wait on a
    // `SharedArrayBuffer`, which a browser offers only to a page that is
    // cross-origin isolated. The page loads nothing from other sites, so
    // this costs it nothing.
    let isolate = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    };
    routes
        .with_state(state.clone())
        .layer(isolate("cross-origin-opener-policy", "same-origin"))
        .layer(isolate("cross-origin-embedder-policy", "require-corp"))
        .layer(isolate("cross-origin-resource-policy", "same-origin"))
        .layer(middleware::from_fn_with_state(state, front_door))
}

/// Every request, before any route: the Host check (DNS rebinding), and
/// URLs no file can have.
async fn front_door(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // HTTP/1.1 names the host in `Host`; HTTP/2 in the URL's authority.
    let host = request
        .headers()
        .get(header::HOST)
        .map(|host| host.to_str().unwrap_or("(not text)"))
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    match host {
        Some(host) if state.allowed_hosts().permits_host(host) => {}
        Some(host) => {
            tracing::warn!(%host, "refused a request for a host this bridge does not serve");
            let message = format!(
                "this bridge does not answer for the host {host:?}: it serves loopback names and \
                 the address it listens on. If {host:?} is a name for this machine, start the \
                 bridge with --allow-host NAME\n"
            );
            return (StatusCode::FORBIDDEN, message).into_response();
        }
        None => {
            let message = "a request must name its host (the Host header)\n";
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    }
    if let Some(refusal) = impossible_path(request.uri()) {
        return refusal;
    }
    next.run(request).await
}

/// The longest URL (path and query) the bridge reads.
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// The longest file name a file system has (NAME_MAX on Linux).
const MAX_SEGMENT_BYTES: usize = 255;

/// `414` for a URL over [`MAX_URL_BYTES`], `404` for a path with a segment
/// no file name can have: the file server would fail on it ("File name too
/// long") and answer `500`, as if the bridge were at fault.
fn impossible_path(uri: &axum::http::Uri) -> Option<Response> {
    let length = uri.path_and_query().map_or(0, |path| path.as_str().len());
    if length > MAX_URL_BYTES {
        let message =
            format!("this URL is {length} bytes long; the bridge reads at most {MAX_URL_BYTES}\n");
        return Some((StatusCode::URI_TOO_LONG, message).into_response());
    }
    let too_long = uri
        .path()
        .split('/')
        .any(|segment| decoded_len(segment) > MAX_SEGMENT_BYTES);
    too_long.then(|| {
        let message = format!(
            "not found: a part of this path is over {MAX_SEGMENT_BYTES} bytes, longer than any file name\n"
        );
        (StatusCode::NOT_FOUND, message).into_response()
    })
}

/// The length of `segment` once `%XX` escapes are decoded.
fn decoded_len(segment: &str) -> usize {
    let bytes = segment.as_bytes();
    let escapes = bytes
        .windows(3)
        .filter(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
        .count();
    bytes.len() - 2 * escapes
}

/// What `/` says when there is no built page to serve.
async fn not_built() -> Html<&'static str> {
    Html(
        "<!doctype html><meta charset=utf-8><title>Socket Lab: page not built</title>\
         <h1>The Socket Lab page is not built yet</h1>\
         <p>The bridge is running (the lab server, <code>/ws</code> and <code>/relay</code> work), \
         but it found no <code>index.html</code> in its <code>--static</code> folder.</p>\
         <p>Build the page with <code>make run</code> (or <code>trunk build --release</code> in the \
         repository), or start the bridge with <code>--static DIR</code> pointing at the built page.</p>",
    )
}

/// `/metrics`: the gauges, and what the allocator holds.
async fn metrics(State(state): State<AppState>) -> Response {
    #[derive(serde::Serialize)]
    struct Page {
        #[serde(flatten)]
        gauges: crate::metrics::MetricsSnapshot,
        memory: Option<crate::memory::MemoryStats>,
    }
    let page = Page {
        gauges: state.metrics().snapshot(),
        memory: crate::memory::stats(),
    };
    axum::Json(page).into_response()
}

#[derive(Debug, Deserialize)]
struct SessionQuery {
    /// Several messages a frame, one to a line ([`protocol::LINES_QUERY`]).
    #[serde(default)]
    lines: bool,
}

/// `/ws`: one [`RelaySession`] per WebSocket, registered for the
/// instructor's view with the student's address.
async fn ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<SessionQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(origin) = refused_origin(&headers, state.allowed_hosts()) {
        return close_for_origin(upgrade, &origin, &state);
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(admission) = state.admit() else {
        return too_many();
    };
    let limits = state.limits();
    let env = state.session_env();
    let shutdown = state.shutdown();
    let registry = state.registry();
    // The student's address: behind a trusted proxy, the one it forwards.
    let client = state.client_address(peer, &headers);
    let lines = query.lines;
    configure(upgrade, limits, 4096, SESSION_WRITE_BUFFER).on_upgrade(move |socket| async move {
        // Held for the session's life: its place among --max-sessions,
        // and the task tracker's count that shutdown waits on.
        let _admission = admission;
        // Listed while it runs; marked closed when this is dropped.
        let registration = registry.register(client);
        RelaySession::new(env, &shutdown)
            .watched(registration.tap())
            .lines(lines)
            .run(socket, shutdown)
            .await;
        drop(registration);
    })
}

#[derive(Debug, Deserialize)]
struct WatchQuery {
    #[serde(default)]
    token: Option<String>,
}

/// What a `/watch` without the right token is told.
pub const WATCH_TOKEN_NEEDED: &str = "the instructor view needs the bridge's instructor token: \
     open the instructor link the bridge printed when it started (or start it with \
     --instructor-token)";

/// `/watch?token=TOKEN`: the instructor's view (see [`watch::watcher`]).
async fn watch(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<WatchQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(origin) = refused_origin(&headers, state.allowed_hosts()) {
        return close_for_origin(upgrade, &origin, &state);
    }
    let token = query
        .ok()
        .and_then(|Query(query)| query.token)
        .unwrap_or_default();
    if !state.is_instructor(&token) {
        tracing::warn!("refused /watch without the instructor token");
        return (StatusCode::FORBIDDEN, format!("{WATCH_TOKEN_NEEDED}\n")).into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(admission) = state.admit_watcher() else {
        // A browser cannot read an HTTP status on a failed WebSocket, but
        // it can read a close code: open, then close with "try again
        // later" and the reason, so the page can say what is wrong.
        tracing::warn!("refused /watch: {MAX_WATCHERS} instructor views are open already");
        let frame = close::frame(
            protocol::WATCH_BUSY,
            format!(
                "{MAX_WATCHERS} instructor views are open already, the most this bridge allows: \
                 close one"
            ),
        );
        return close_at_once(upgrade, frame, &state);
    };
    let limits = state.limits();
    let env = WatchEnv {
        registry: state.registry(),
        metrics: state.metrics(),
        max_message_bytes: limits.max_message_bytes,
        grace: limits.shutdown_grace,
        stall: limits.idle_timeout,
    };
    let shutdown = state.shutdown();
    configure(upgrade, limits, 4096, WATCH_WRITE_BUFFER).on_upgrade(move |socket| async move {
        let _admission = admission;
        watch::watcher::run(socket, env, shutdown).await;
    })
}

#[derive(Debug, Deserialize)]
struct RelayQuery {
    target: String,
}

/// `/relay?target=HOST:PORT`.
async fn relay_query(
    state: State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RelayQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    relay(state, headers, query.target, upgrade).await
}

/// `/relay/HOST:PORT` (an IPv6 address percent-encoded: `%5B::1%5D:7`).
async fn relay_path(
    state: State<AppState>,
    headers: HeaderMap,
    Path(target): Path<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    relay(state, headers, target, upgrade).await
}

async fn relay(
    State(state): State<AppState>,
    headers: HeaderMap,
    target: String,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(origin) = refused_origin(&headers, state.allowed_hosts()) {
        return forbidden_origin(&origin);
    }
    let targets = state.targets();
    if !(targets.is_public_on(&target, Transport::Tcp) || targets.allowed(&target)) {
        let message = format!(
            "{target} is not allowed: /relay connects only to this bridge's lab server and to \
             targets started with --allow-target HOST:PORT (it is not an open proxy)\n"
        );
        return (StatusCode::FORBIDDEN, message).into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(admission) = state.admit() else {
        return too_many();
    };
    let limits = state.limits();
    // Connect before upgrading, so a target that is down is a plain
    // `502` the client can read, not a WebSocket that opens and closes.
    let tcp = match targets.connect_tcp(&target).await {
        Ok(tcp) => tcp,
        Err(err) => {
            let kind = crate::error::error_kind(&err);
            let message = format!(
                "cannot connect to {target}: {err}. {}\n",
                kind.explanation()
            );
            return (StatusCode::BAD_GATEWAY, message).into_response();
        }
    };
    let shutdown = state.shutdown();
    let metrics = state.metrics();
    configure(upgrade, limits.clone(), relay::READ_BUFFER, 0)
        .protocols(["binary"])
        .on_upgrade(move |socket| async move {
            let _admission = admission;
            relay::run(
                socket,
                tcp,
                shutdown,
                limits.idle_timeout,
                limits.shutdown_grace,
                metrics,
            )
            .await;
        })
}

/// How many bytes of small `/ws` messages the library gathers before it
/// writes them (a session flushes after each burst anyway): a burst of
/// trace events leaves in one system call, and an idle session keeps at
/// most this much buffer.
const SESSION_WRITE_BUFFER: usize = 4096;

/// The same for `/watch`, which sends a history of up to 500 messages at
/// once.
const WATCH_WRITE_BUFFER: usize = 16 * 1024;

/// Sizes the WebSocket to the limits: the largest message and frame we
/// read, and small buffers so an idle session costs little memory.
/// `write_buffer` 0 writes each message out at once (the relay sends one
/// large frame at a time, so gathering would only add a copy).
fn configure(
    upgrade: WebSocketUpgrade,
    limits: SessionLimits,
    read_buffer: usize,
    write_buffer: usize,
) -> WebSocketUpgrade {
    upgrade
        .max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_message_bytes)
        .read_buffer_size(read_buffer)
        .write_buffer_size(write_buffer)
}

fn too_many() -> Response {
    let message =
        "the bridge has as many sessions as it allows (--max-sessions); try again later\n";
    (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
}

/// The `Origin` of a WebSocket upgrade that may not proceed, if it may
/// not. No `Origin` means no browser page: only the Host check applies.
pub fn refused_origin(headers: &HeaderMap, allowed: &AllowedHosts) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?;
    let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    if allowed.permits_origin(&origin) {
        return None;
    }
    tracing::warn!(%origin, "refused a WebSocket from a page this bridge does not serve");
    Some(origin)
}

/// What a refused page is told, in a close frame or a `403`.
pub fn origin_reason(origin: &str) -> String {
    let fix = "start the bridge with --allow-origin ORIGIN";
    let reason = format!("pages from {origin} may not use this bridge: {fix}");
    if reason.len() <= close::MAX_REASON {
        reason
    } else {
        format!("this page's origin is not allowed: {fix}")
    }
}

/// `/relay`'s answer to a refused origin: a plain `403`.
fn forbidden_origin(origin: &str) -> Response {
    let message = format!(
        "WebSocket from origin {origin:?} refused: only pages served by this bridge, loopback \
         pages when it listens on loopback, and origins given with --allow-origin may connect \
         (start the bridge with --allow-origin {origin})\n"
    );
    (StatusCode::FORBIDDEN, message).into_response()
}

/// `/ws` and `/watch`'s answer to a refused origin: the page can read a
/// close code and its reason, not an HTTP status, so accept the upgrade
/// and close at once with 1008, reading no command. A request that is
/// not an upgrade gets the `403`.
fn close_for_origin(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    origin: &str,
    state: &AppState,
) -> Response {
    match upgrade {
        Ok(upgrade) => close_at_once(
            upgrade,
            close::frame(close::POLICY, origin_reason(origin)),
            state,
        ),
        Err(_) => forbidden_origin(origin),
    }
}

/// Accepts the upgrade and closes with `frame` at once (the goodbye
/// bounded by the shutdown grace; the connection then lingers, see
/// [`crate::linger`]).
fn close_at_once(upgrade: WebSocketUpgrade, frame: CloseFrame, state: &AppState) -> Response {
    let grace = state.limits().shutdown_grace;
    let shutdown = state.shutdown();
    upgrade.on_upgrade(move |socket| async move {
        close::goodbye(socket, Some(frame), &shutdown, grace).await;
    })
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
    /// The Hosts the bridge answers for, and the pages that may open its
    /// WebSockets (`--allow-host`, `--allow-origin`, `--public-origin`).
    allowed_hosts: AllowedHosts,
    /// `--trust-proxy`: who may name the student in `X-Forwarded-For`.
    trusted_proxies: Vec<IpAddr>,
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
    /// The state of a bridge with this configuration, serving on `addr`:
    /// every session gets `env`, `/watch` wants `instructor_token`,
    /// `tasks` counts the WebSockets and `shutdown` ends them.
    pub fn new(
        config: BridgeConfig,
        env: SessionEnv,
        instructor_token: String,
        addr: SocketAddr,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) -> AppState {
        let limits = config.limits.clone();
        let allowed_hosts = allowed_hosts(addr, &config);
        let registry = Arc::new(Registry::new(env.clock));
        AppState {
            inner: Arc::new(Shared {
                env: Arc::new(env),
                static_dir: config.static_dir,
                pyodide_dir: config.pyodide_dir,
                allowed_hosts,
                trusted_proxies: config.trusted_proxies,
                sessions: Arc::new(Semaphore::new(
                    limits.max_sessions.clamp(1, Semaphore::MAX_PERMITS),
                )),
                tasks,
                shutdown,
                registry,
                instructor_token,
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

    pub fn allowed_hosts(&self) -> &AllowedHosts {
        &self.inner.allowed_hosts
    }

    /// The student's address for the instructor view: the peer, or the
    /// client a `--trust-proxy` proxy names (see [`proxy::client_address`]).
    pub fn client_address(&self, peer: SocketAddr, headers: &HeaderMap) -> String {
        proxy::client_address(peer, headers, &self.inner.trusted_proxies)
    }

    /// Where `/relay` (and a session's client) may connect.
    pub fn targets(&self) -> &Targets {
        &self.inner.env.targets
    }
}

/// Who may reach a bridge bound to `addr`: loopback names and `addr`,
/// and what `config` adds (an entry that is not valid is logged and
/// skipped; the flags are checked when they are parsed).
fn allowed_hosts(addr: SocketAddr, config: &BridgeConfig) -> AllowedHosts {
    let mut allowed = AllowedHosts::new(addr);
    for host in &config.allow_hosts {
        if let Err(err) = allowed.allow_host(host) {
            tracing::warn!("--allow-host: {err}");
        }
    }
    for origin in &config.allow_origins {
        if let Err(err) = allowed.allow_origin(origin) {
            tracing::warn!("--allow-origin: {err}");
        }
    }
    // Behind a proxy: the public page's origin, and its host as the
    // proxy passes it (`Host $host`, without the port).
    for public in &config.public_origins {
        if let Err(err) = allowed.allow_site(&public.origin()) {
            tracing::warn!("--public-origin: {err}");
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a segment longer than a file name, after decoding, or a huge
    /// URL, is turned away before the routes.
    #[test]
    fn impossible_paths() {
        let uri = |path: String| path.parse::<axum::http::Uri>().expect("a URI");
        assert!(impossible_path(&uri(format!("/{}", "a".repeat(255)))).is_none());
        assert!(impossible_path(&uri(format!("/{}", "%41".repeat(255)))).is_none());
        let long = impossible_path(&uri(format!("/x/{}", "a".repeat(256)))).expect("refused");
        assert_eq!(long.status(), StatusCode::NOT_FOUND);
        let huge = impossible_path(&uri(format!("/?q={}", "a".repeat(9000)))).expect("refused");
        assert_eq!(huge.status(), StatusCode::URI_TOO_LONG);
    }

    /// A refused page is told the fix, within a close frame's room.
    #[test]
    fn origin_reasons_fit() {
        let short = origin_reason("http://evil.example:8080");
        assert!(short.contains("http://evil.example:8080") && short.contains("--allow-origin"));
        let long = origin_reason(&format!("http://{}.example", "x".repeat(200)));
        assert!(long.len() <= close::MAX_REASON && long.contains("--allow-origin"));
    }
}
