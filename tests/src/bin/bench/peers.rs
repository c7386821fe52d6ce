//! `--peers`: websocat and websockify, the WebSocket-to-TCP bridges a user
//! would compare `/relay` with, each started on a free loopback port in
//! front of the benchmark's separate echo server (as `/relay` is).
//!
//! Both are run as their own documentation shows, in binary mode:
//!
//! ```text
//! websocat --binary --server-protocol binary ws-l:127.0.0.1:PORT tcp:ECHO
//! websockify 127.0.0.1:PORT ECHO
//! ```
//!
//! websockify forks a process per connection: its CPU time is that of the
//! listener and all its children ([`crate::stats::tree_cpu_time`]).

use crate::client::{Error, PeerAddrs};
use crate::spawn::{free_addr, wait_listening};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use tokio::process::{Child, Command};

/// The two peer bridges (killed on drop).
pub struct Peers {
    websocat: Child,
    websockify: Child,
    pub addrs: PeerAddrs,
}

impl Peers {
    pub async fn start(
        websocat: &Path,
        websockify: &Path,
        echo: SocketAddr,
    ) -> Result<Peers, Error> {
        for bin in [websocat, websockify] {
            if !bin.is_file() {
                return Err(format!(
                    "{} not found: install it with `scripts/peers.sh` (or `make bench-peers`)",
                    bin.display()
                )
                .into());
            }
        }
        let addrs = PeerAddrs {
            websocat: free_addr()?,
            websockify: free_addr()?,
        };
        let websocat = Command::new(websocat)
            .args(["--binary", "--server-protocol", "binary", "-q"])
            .arg(format!("ws-l:{}", addrs.websocat))
            .arg(format!("tcp:{echo}"))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let websockify = Command::new(websockify)
            .arg(addrs.websockify.to_string())
            .arg(echo.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        wait_listening(addrs.websocat).await?;
        wait_listening(addrs.websockify).await?;
        Ok(Peers {
            websocat,
            websockify,
            addrs,
        })
    }

    pub fn websocat_pid(&self) -> Option<u32> {
        self.websocat.id()
    }

    pub fn websockify_pid(&self) -> Option<u32> {
        self.websockify.id()
    }
}
