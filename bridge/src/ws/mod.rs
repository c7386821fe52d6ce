//! What the bridge's three WebSockets share: `/ws` (a browser tab's
//! session, [`crate::session`]), `/relay` (a byte relay, [`crate::relay`])
//! and `/watch` (the instructor's view, [`crate::watch`]).
//!
//! - [`close`]: the close codes and frames, what a failed read means (a
//!   message over the limit, a broken rule, a peer that is gone), and the
//!   [`goodbye`] that sends the close frame within a bounded
//!   time.
//! - [`writer`]: the batched writer: what is queued for the page leaves in
//!   bursts, one flush (one system call) per burst, every wait bounded.
//! - [`bridge_version`]: the bridge's name for itself in every `hello`.

pub mod close;
pub mod writer;

pub use close::goodbye;

/// The bridge's own version string, as its `hello`s name it.
pub fn bridge_version() -> String {
    format!("socket-lab {}", env!("CARGO_PKG_VERSION"))
}
