//! `socket-lab`: the lab's server, the browser's socket, and the page.
//!
//! ```text
//! socket-lab                       # lab on 127.0.0.1:1234, page on http://127.0.0.1:8080
//! socket-lab --mode greet --greeting "Hello!\n"
//! nc 127.0.0.1 1234                # in another terminal: a client of your own
//! ```
//!
//! Thin on purpose: parse flags, set up logging, and hand over to
//! [`bridge::app::serve`]. Everything else is in the library, where the
//! tests can reach it.

use bridge::config::BridgeArgs;
use bridge::lab::LabArgs;
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Socket Lab: the lab's real TCP/UDP servers, a WebSocket relay for the
/// browser, and the page. With no subcommand, runs the lab.
#[derive(Debug, Parser)]
#[command(name = "socket-lab", version, args_conflicts_with_subcommands = true)]
struct Cli {
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
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
            bridge::app::shutdown_signal().await;
            tracing::info!("shutting down: closing sessions and sockets");
            shutdown.cancel();
        }
    });
    match bridge::app::serve(&serve.lab, &serve.bridge, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}
