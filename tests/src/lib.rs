//! Shared helpers for Socket Lab's end-to-end tests and benchmarks.
//!
//! - [`browser`]: a real headless Chromium driven over WebDriver.
//!
//! The tests themselves are in `tests/tests/`; the benchmark is the `bench`
//! binary (`src/bin/bench/`).

pub mod browser;
