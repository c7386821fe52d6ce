//! Socket Lab's bridge: the lab's real servers, the browser's socket, and
//! the page.
//!
//! # Layout
//!
//! - [`clock`]: the one monotonic clock every trace event is stamped with.
//! - [`trace`]: [`trace::Tracer`], how a lab server reports each step.
//! - [`route`]: routes, which deliver a lab server's events to the one
//!   session whose socket made the connection (every lab server, public or
//!   private, the same way), and [`route::Locals`], a session's book of
//!   its own sockets for its programs.
//! - [`lab`]: [`lab::LabServer`] (Tasks 1-3 over TCP) and
//!   [`lab::UdpEchoServer`], on real sockets.
//! - [`error`]: the bridge's [`Error`] and the student-facing error kinds.
//! - [`allowed_hosts`]: [`allowed_hosts::AllowedHosts`], the Host names the
//!   bridge answers for and the pages that may open its WebSockets (DNS
//!   rebinding, cross-site WebSockets).
//! - [`linger`]: connections that close without losing their last bytes
//!   (FIN, then read until the peer closes, bounded).
//! - [`config`]: [`config::BridgeConfig`] and [`config::SessionLimits`]:
//!   what the front door allows, and the bounds on every browser; and
//!   [`config::BridgeArgs`], the flags that set them.
//! - [`outbox`]: [`outbox::Outbox`], the one byte-bounded queue from a
//!   session to its page (backpressure starts here).
//! - [`session`]: [`session::RelaySession`], one browser tab's `/ws`:
//!   commands in, real sockets out, both lanes' trace events back.
//! - [`targets`]: [`targets::Targets`], where the bridge may connect on a
//!   browser's behalf (the public lab, `--allow-target`; not an open
//!   proxy), each lookup and connect bounded.
//! - [`program`]: a student's own Python program's socket calls, each
//!   performed on a real socket ([`program::Programs`], one task per
//!   program) in the session's own port space.
//! - [`relay`]: `/relay`, a websockify-compatible byte relay.
//! - [`http`]: the axum router: the page, `/ws`, `/relay`, `/watch`,
//!   `/metrics`, and the Origin and token checks.
//! - [`memory`]: the allocator (jemalloc) and what it holds.
//! - [`metrics`]: [`metrics::Metrics`], gauges that show the bounds hold.
//! - [`pyodide`]: `/pyodide/`, CPython for the code view, cached for a year.
//! - [`watch`]: the instructor's view: [`watch::Registry`], every `/ws`
//!   session's live summary and recent history, and `/watch`, which shows
//!   them (one session followed, to project it to the class).
//! - [`ws`]: what `/ws`, `/relay` and `/watch` share: close codes and
//!   frames, the goodbye, the too-big check, the batched writer.
//! - [`cli`]: the `socket-lab` command line (`main.rs` only calls it).
//! - [`tls`]: HTTPS: [`tls::Tls`] (`--tls-cert`, `--tls-key`) and
//!   [`tls::SelfSigned`], the pair `socket-lab cert` makes.
//! - [`proxy`]: behind a reverse proxy: [`proxy::PublicOrigin`]
//!   (`--public-origin`) and the student's address from a trusted proxy
//!   (`--trust-proxy`).
//! - [`app`]: [`app::run`], everything on one listener until shutdown, and
//!   [`app::Bridge::start`], a whole bridge in-process for tests.

pub mod allowed_hosts;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod lab;
pub mod linger;
pub mod memory;
pub mod metrics;
pub mod outbox;
pub mod program;
pub mod proxy;
pub mod pyodide;
pub mod relay;
pub mod route;
pub mod session;
pub mod targets;
pub mod tls;
pub mod trace;
pub mod watch;
pub mod ws;

pub use error::Error;
