//! The `socket-lab` command line: parse flags, set up logging, and hand
//! over to [`crate::app::serve`] until Ctrl-C or SIGTERM.
//!
//! In the library (not in `main.rs`) so the end-to-end tests can run the
//! very same program as a process of their own (SIGTERM under load, the
//! soak): `main.rs` is one call to [`main`].

use crate::config::BridgeArgs;
use crate::lab::LabArgs;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
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
    Serve(Box<ServeArgs>),
    /// Write a self-signed HTTPS certificate and key for this machine
    /// (localhost, 127.0.0.1, ::1, its host name, and each --name), for
    /// --tls-cert and --tls-key. Browsers warn about it until it is trusted:
    /// see the README's "Teaching remotely".
    Cert(CertArgs),
}

#[derive(Debug, Clone, Args)]
struct CertArgs {
    /// Another DNS name or IP address students use to reach this machine
    /// (repeatable), e.g. --name lab.example.edu --name 192.0.2.10.
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    /// Where to write the certificate.
    #[arg(long, value_name = "FILE", default_value = "socket-lab-cert.pem")]
    cert: PathBuf,
    /// Where to write the private key (readable by its owner only).
    #[arg(long, value_name = "FILE", default_value = "socket-lab-key.pem")]
    key: PathBuf,
    /// Replace files that are already there.
    #[arg(long)]
    force: bool,
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
        Some(Command::Serve(serve)) => *serve,
        Some(Command::Cert(cert)) => return write_cert(&cert),
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

/// `socket-lab cert`: writes the pair and says how to use it.
fn write_cert(args: &CertArgs) -> ExitCode {
    for path in [&args.cert, &args.key] {
        if path.exists() && !args.force {
            tracing::error!(
                "{} is already there: keep it, or add --force to replace it",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let names = crate::tls::machine_names(&args.name);
    let pair = match crate::tls::SelfSigned::generate(&names) {
        Ok(pair) => pair,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = write_file(&args.cert, &pair.cert_pem, false)
        .and_then(|()| write_file(&args.key, &pair.key_pem, true))
    {
        tracing::error!("{err}");
        return ExitCode::FAILURE;
    }
    println!("Wrote {} and {}.", args.cert.display(), args.key.display());
    println!("Valid for: {}", pair.names.join(", "));
    println!("SHA-256 fingerprint: {}", pair.fingerprint());
    println!();
    println!("Serve the lab over HTTPS with:");
    println!(
        "  socket-lab --allow-remote --http 0.0.0.0:8443 --tls-cert {} --tls-key {}",
        args.cert.display(),
        args.key.display()
    );
    println!();
    println!("Browsers do not know this certificate: each student is warned once (\"Your");
    println!("connection is not private\") and can check the fingerprint above under the");
    println!("warning's details before going on. To avoid the warning, import the");
    println!("certificate file as trusted in the browser or the system (see the README).");
    ExitCode::SUCCESS
}

/// Writes `text` to `path`; `private` files are readable by their owner only.
fn write_file(path: &Path, text: &str, private: bool) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    use std::io::Write;
    let mut file = options
        .open(path)
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    // A file that was already there (--force) keeps its old mode otherwise.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|err| format!("cannot make {} private: {err}", path.display()))?;
    }
    file.write_all(text.as_bytes())
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}
