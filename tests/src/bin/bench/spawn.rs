//! `--spawn`: an echo server and a bridge of the benchmark's own, each a
//! `socket-lab` process on free loopback ports.

use crate::client::{Endpoints, Error};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The two processes, stopped (SIGKILL on drop, SIGTERM on [`Spawned::stop`]).
pub struct Spawned {
    echo: Child,
    bridge: Child,
    /// The separate echo server.
    endpoints: Endpoints,
    /// The bridge's own public lab server (in echo mode).
    bridge_lab: SocketAddr,
}

impl Spawned {
    /// `bridge_threads`: the bridge's worker threads, if not one per core.
    pub async fn start(bin: &Path, bridge_threads: Option<usize>) -> Result<Spawned, Error> {
        if !bin.is_file() {
            return Err(format!(
                "{} not found: build it with `cargo build --release -p bridge`",
                bin.display()
            )
            .into());
        }
        let echo_addr = free_addr()?;
        let echo_http = free_addr()?;
        let bridge_http = free_addr()?;
        let bridge_lab = free_addr()?;
        // The echo server: a plain lab server in echo mode, allowed plenty of
        // clients (the scale run connects one per session) and a backlog
        // that does not drop the ramp's bursts of connects (the lab's 5
        // would: dropped SYNs are retried only after a second).
        let echo = Command::new(bin)
            .args([
                "--mode",
                "echo",
                "--max-connections",
                "20000",
                "--backlog",
                "1024",
            ])
            .arg("--lab")
            .arg(echo_addr.to_string())
            .arg("--http")
            .arg(echo_http.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        // The bridge under test: its public lab server is an echo server
        // too, and it may relay to the separate one.
        let mut bridge = Command::new(bin);
        if let Some(threads) = bridge_threads {
            bridge.env("TOKIO_WORKER_THREADS", threads.to_string());
        }
        let bridge = bridge
            .args(["--max-sessions", "20000", "--mode", "echo"])
            .args(["--max-connections", "20000", "--backlog", "1024"])
            .arg("--lab")
            .arg(bridge_lab.to_string())
            .arg("--http")
            .arg(bridge_http.to_string())
            .arg("--allow-target")
            .arg(echo_addr.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        wait_listening(echo_addr).await?;
        wait_listening(bridge_http).await?;
        wait_listening(bridge_lab).await?;
        Ok(Spawned {
            echo,
            bridge,
            endpoints: Endpoints {
                http: bridge_http,
                echo: echo_addr,
                echo_is_public: false,
                peers: None,
            },
            bridge_lab,
        })
    }

    /// Endpoints with the echo server in its own process.
    pub fn endpoints(&self) -> Endpoints {
        self.endpoints
    }

    /// Endpoints with the bridge's own public lab server as the echo server.
    pub fn endpoints_in_bridge(&self) -> Endpoints {
        Endpoints {
            echo: self.bridge_lab,
            echo_is_public: true,
            ..self.endpoints
        }
    }

    pub fn bridge_pid(&self) -> u32 {
        self.bridge.id().unwrap_or(0)
    }

    pub fn echo_pid(&self) -> u32 {
        self.echo.id().unwrap_or(0)
    }

    /// Asks both to stop (SIGTERM, as Ctrl-C would) and waits for them.
    pub async fn stop(mut self) {
        for child in [&mut self.bridge, &mut self.echo] {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill").arg(pid.to_string()).status().await;
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}

pub fn free_addr() -> Result<SocketAddr, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

pub async fn wait_listening(addr: SocketAddr) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("nothing listening on {addr}: {e}").into());
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
