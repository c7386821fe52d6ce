//! Socket Lab's bridge: the lab's real servers, the browser's socket, and
//! the page.
//!
//! # Layout
//!
//! - [`clock`]: the one monotonic clock every trace event is stamped with.
//! - [`trace`]: [`trace::Tracer`], how a lab server reports each step.
//! - [`lab`]: [`lab::LabServer`] (Tasks 1-3 over TCP) and
//!   [`lab::UdpEchoServer`], on real sockets.
//! - [`error`]: the bridge's [`Error`] and the student-facing error kinds.

pub mod clock;
pub mod error;
pub mod lab;
pub mod trace;

pub use error::Error;
