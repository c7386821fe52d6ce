//! Shared helpers for Socket Lab's end-to-end tests and benchmarks.
//!
//! - [`browser`]: a real headless Chromium driven over WebDriver.
//! - [`accessibility`]: axe-core run in that browser, and Chromium's
//!   accessibility tree (what a screen reader is told).
//! - [`page`]: a student's page without a browser, a WebSocket on `/ws`
//!   (and the bridge it talks to, started on free ports).
//! - [`remote`]: the remote set-up's parts: a TLS client that trusts one
//!   certificate, and Debian's nginx in front of bridges.
//! - [`soak`]: a bridge process under many verified echoes at once
//!   (`make soak`, and a short one in the tests).
//!
//! The tests themselves are in `tests/tests/`; the benchmark is the `bench`
//! binary (`src/bin/bench/`).

pub mod accessibility;
pub mod browser;
pub mod page;
pub mod remote;
pub mod soak;
pub mod watch;
