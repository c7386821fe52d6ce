//! `make soak`: a bridge process under hundreds of verified echoes at once
//! (see [`e2e::soak`]); prints bytes verified, bytes lost, altered or
//! duplicated (must be 0), echo latency, and the bridge's file descriptors
//! and memory at the start, the peak and after. Exits 1 if a byte was
//! wrong.
//!
//! ```text
//! cargo run --release -p e2e --bin soak -- --secs 60 --sessions 400
//! ```

use clap::Parser;
use e2e::soak::{SoakConfig, run};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(about = "Soak a bridge: many verified echoes at once, fds and memory before and after")]
struct Args {
    /// The socket-lab binary to start.
    #[arg(long, default_value = "target/release/socket-lab")]
    bin: PathBuf,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 300)]
    secs: u64,
    /// /ws sessions at once.
    #[arg(long, default_value_t = 300)]
    sessions: usize,
    /// Raw TCP clients of the lab server at once.
    #[arg(long, default_value_t = 100)]
    raw_clients: usize,
    /// The largest message echoed, in bytes.
    #[arg(long, default_value_t = 16 * 1024)]
    max_message: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = SoakConfig {
        bin: args.bin,
        sessions: args.sessions,
        raw_clients: args.raw_clients,
        duration: Duration::from_secs(args.secs),
        max_message: args.max_message,
    };
    match run(config).await {
        Ok(report) => {
            println!("{report}");
            if report.faithful() {
                ExitCode::SUCCESS
            } else {
                println!("FAILED: bytes were lost, altered or duplicated, or sessions failed");
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("soak: {err}");
            ExitCode::FAILURE
        }
    }
}
