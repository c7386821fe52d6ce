//! The `socket-lab` command line: parse flags, set up logging, and hand
//! over to [`crate::app::serve`] until Ctrl-C or SIGTERM.
//!
//! In the library (not in `main.rs`) so the end-to-end tests can run the
//! very same program as a process of their own (SIGTERM under load, the
//! soak): `main.rs` is one call to [`main`].

use crate::config::BridgeArgs;
use crate::lab::LabArgs;
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Socket Lab: the lab's real TCP/UDP servers, a WebSocket relay for the
/// browser, and the page. With no subcommand, runs the lab.
#[derive(Debug, Parser)]
#[command(name = "socket-lab", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the lab server and the bridge (what no subcommand does).
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    #[command(flatten)]
    lab: LabArgs,
    #[command(flatten)]
    bridge: BridgeArgs,
}

/// Parses the command line and runs the bridge until Ctrl-C or SIGTERM.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("socket-lab: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

/// Runs what `cli` asks for.
pub async fn run(cli: Cli) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let serve = match cli.command {
        Some(Command::Serve(serve)) => serve,
        None => cli.serve,
    };
    // Decide: Ctrl-C or SIGTERM cancels the token; the library does the rest.
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            crate::app::shutdown_signal().await;
            tracing::info!("shutting down: closing sessions and sockets");
            shutdown.cancel();
        }
    });
    match crate::app::serve(&serve.lab, &serve.bridge, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}
