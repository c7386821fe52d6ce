//! The soak, short (20 s; `make soak` runs it for 5 minutes): a bridge
//! process under many verified echoes at once, over `/ws` and raw TCP,
//! some dropped mid-stream. Every byte comes back exactly once, unchanged,
//! and the bridge's file descriptors come back to where they started.

use e2e::soak::{SoakConfig, run};
use std::time::Duration;

/// 20 s of 40 `/ws` sessions and 10 raw TCP clients: nothing lost,
/// altered or duplicated, no session failed, and afterwards the bridge
/// holds no more descriptors than at the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_loses_nothing_and_leaks_nothing() {
    let config = SoakConfig {
        bin: env!("CARGO_BIN_EXE_bridge-process").into(),
        sessions: 40,
        raw_clients: 10,
        duration: Duration::from_secs(20),
        max_message: 4 * 1024,
    };
    let report = run(config).await.expect("the soak runs");
    println!("{report}");
    assert!(report.faithful(), "{report}");
    assert!(report.sessions_opened > 40, "{report}");
    assert!(report.dropped_mid_stream > 0, "{report}");
    assert!(report.fds[2] <= report.fds[0], "{report}");
}
