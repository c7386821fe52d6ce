//! The HTTP front door: one port for the page, `/ws`, `/relay`, `/watch`
//! and `/metrics` (an axum [`Router`]).
//!
//! Every WebSocket upgrade passes three checks before it is accepted, each
//! answered with a plain HTTP status and a sentence, never a half-open
//! WebSocket:
//!
//! 1. **Origin** (`403`): a page on another site must not be able to drive
//!    a student's bridge. Same-origin requests (the `Origin` header's
//!    host:port equals the `Host` header) and `--allow-origin` entries
//!    pass; requests without `Origin` (command-line tools) pass too.
//! 2. **Target** (`/relay` only, `403`): the bridge's public lab server or
//!    an `--allow-target` entry; it is not an open proxy.
//! 3. **Room** (`503`): at most `--max-sessions` WebSockets at once.
//!
//! `/watch` (the instructor's view) passes the Origin check too, then the
//! **token** check (`403`: the bridge's instructor token, compared in
//! constant time), and has its own room: at most
//! [`MAX_WATCHERS`](crate::watch::MAX_WATCHERS) at once (beyond that it
//! opens and closes at once with 1013, "try again later", and the reason:
//! a browser can read a close code, not an HTTP status).

use crate::app::AppState;
use crate::config::{SessionLimits, normalize_target};
use crate::relay;
use crate::session::{RelaySession, connect_addr};
use crate::watch::{self, MAX_WATCHERS, watcher::WatchEnv};
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{
    CloseFrame, Message, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::net::SocketAddr;
use tokio::net::TcpStream;
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
        .with_state(state)
        .layer(isolate("cross-origin-opener-policy", "same-origin"))
        .layer(isolate("cross-origin-embedder-policy", "require-corp"))
        .layer(isolate("cross-origin-resource-policy", "same-origin"))
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

async fn metrics(State(state): State<AppState>) -> Response {
    axum::Json(state.metrics().snapshot()).into_response()
}

/// `/ws`: one [`RelaySession`] per WebSocket, registered for the
/// instructor's view with the student's address.
async fn ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Err(refused) = check_origin(&headers, state.allow_origins()) {
        return *refused;
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
    configure(upgrade, limits, 4096, SESSION_WRITE_BUFFER).on_upgrade(move |socket| async move {
        // Held for the session's life: its place among --max-sessions,
        // and the task tracker's count that shutdown waits on.
        let _admission = admission;
        // Listed while it runs; marked closed when this is dropped.
        let registration = registry.register(peer);
        RelaySession::new(env, &shutdown)
            .watched(registration.tap())
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
    if let Err(refused) = check_origin(&headers, state.allow_origins()) {
        return *refused;
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
        return upgrade.on_upgrade(|mut socket| async move {
            let frame = CloseFrame {
                code: protocol::WATCH_BUSY,
                reason: format!(
                    "{MAX_WATCHERS} instructor views are open already, the most this bridge \
                     allows: close one"
                )
                .into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
        });
    };
    let limits = state.limits();
    let env = WatchEnv {
        registry: state.registry(),
        metrics: state.metrics(),
        max_message_bytes: limits.max_message_bytes,
        grace: limits.shutdown_grace,
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
    if let Err(refused) = check_origin(&headers, state.allow_origins()) {
        return *refused;
    }
    if !relay_allowed(&state, &target) {
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
    let tcp = match connect(&target, &limits).await {
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

fn relay_allowed(state: &AppState, target: &str) -> bool {
    let wanted = normalize_target(target);
    let public = state
        .public_addr()
        .is_some_and(|addr| wanted == addr.to_string() || wanted == connect_addr(addr).to_string());
    public || state.session_env().allow_targets.permits(target)
}

async fn connect(target: &str, limits: &SessionLimits) -> std::io::Result<TcpStream> {
    let connecting = async {
        let addr: SocketAddr = match target.trim().parse() {
            Ok(addr) => addr,
            Err(_) => tokio::net::lookup_host(target.trim())
                .await?
                .next()
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address")
                })?,
        };
        TcpStream::connect(connect_addr(addr)).await
    };
    let tcp = tokio::time::timeout(limits.connect_timeout, connecting)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect() timed out"))??;
    // The relay's point is latency: no Nagle delay on small messages.
    tcp.set_nodelay(true)?;
    Ok(tcp)
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

/// `Ok` if a WebSocket upgrade with these headers may proceed; else the
/// `403` to answer with.
pub fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), Box<Response>> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not a browser (browsers always send Origin on WebSocket upgrades).
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    let same_origin = origin
        .split_once("://")
        .is_some_and(|(_, origin_host)| !host.is_empty() && origin_host.eq_ignore_ascii_case(host));
    let listed = allowed
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin));
    if same_origin || listed {
        return Ok(());
    }
    tracing::warn!(%origin, %host, "refused a WebSocket from another origin");
    let message = format!(
        "WebSocket from origin {origin:?} refused: only the page served by this bridge (or an \
         origin given with --allow-origin) may connect\n"
    );
    Err(Box::new((StatusCode::FORBIDDEN, message).into_response()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    /// Same origin, listed origins and tools without Origin pass; others don't.
    #[test]
    fn origin_rules() {
        let allowed = vec!["http://127.0.0.1:8000".to_string()];
        assert!(check_origin(&headers(None, "127.0.0.1:8080"), &allowed).is_ok());
        assert!(
            check_origin(
                &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
                &allowed
            )
            .is_ok()
        );
        assert!(
            check_origin(
                &headers(Some("http://127.0.0.1:8000"), "127.0.0.1:8080"),
                &allowed
            )
            .is_ok()
        );
        assert!(
            check_origin(
                &headers(Some("https://evil.example"), "127.0.0.1:8080"),
                &allowed
            )
            .is_err()
        );
        assert!(check_origin(&headers(Some("null"), "127.0.0.1:8080"), &allowed).is_err());
        assert!(
            check_origin(
                &headers(Some("http://localhost:8080"), "127.0.0.1:8080"),
                &[]
            )
            .is_err()
        );
    }
}
