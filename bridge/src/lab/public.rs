//! [`start_public`]: the public lab server, the one on the lab's port that
//! every student's `client.py` (or `nc`) can reach.

use super::{LabArgs, LabControl, LabServer, UdpEchoServer};
use crate::clock::Clock;
use crate::error::Error;
use crate::trace::{self, Tracer};
use protocol::{Mode, PUBLIC_SERVER};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The running public lab server: where it listens, and how to watch and
/// steer it.
#[derive(Debug, Clone)]
pub struct PublicLab {
    /// Where the TCP server listens (the real port if `--lab` said 0).
    pub tcp_addr: SocketAddr,
    /// Where the UDP echo server listens, if `--udp` was given.
    pub udp_addr: Option<SocketAddr>,
    /// The task the TCP server plays.
    pub mode: Mode,
    /// The TCP server's tracer. Browser sessions register routes here, so
    /// each gets the events of its own connections only; subscribe to
    /// watch everything. Its `socket`, `bind` and `listen` steps happened
    /// before anyone could subscribe; they are in the log, not in a new
    /// subscriber's stream.
    pub tracer: Tracer,
    /// The UDP echo server's tracer (routes by the sender's address, as
    /// for TCP; subscribe to watch everything). A separate stream (with
    /// the same server id, [`PUBLIC_SERVER`]), so a TCP view is not mixed
    /// with datagrams.
    pub udp_tracer: Option<Tracer>,
    /// Pauses and resumes the TCP server's `accept()`.
    pub control: LabControl,
}

/// Binds the public TCP lab server (and the UDP echo server, if `--udp`
/// was given) and runs them on `tracker` until `shutdown`.
///
/// Both are bound before either runs, so a bad `--udp` address fails the
/// start instead of leaving half a lab running.
pub async fn start_public(
    args: &LabArgs,
    clock: Clock,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Result<PublicLab, Error> {
    let tracer = Tracer::new(clock, PUBLIC_SERVER, trace::channel());
    let tcp = LabServer::bind(args.lab, args.config(), tracer.clone())?;
    let udp = match args.udp {
        Some(addr) => {
            let udp_tracer = Tracer::new(clock, PUBLIC_SERVER, trace::channel());
            Some(UdpEchoServer::bind(addr, udp_tracer).await?)
        }
        None => None,
    };
    let lab = PublicLab {
        tcp_addr: tcp.local_addr(),
        udp_addr: udp.as_ref().map(UdpEchoServer::local_addr),
        mode: args.mode,
        tracer,
        udp_tracer: udp.as_ref().map(|udp| udp.tracer().clone()),
        control: tcp.control(),
    };
    // Tell whoever started it how to reach it with the lab's own client.
    let client = match lab.mode {
        Mode::Connect => "task1",
        Mode::Greet => "task2",
        Mode::Echo => "task3",
    };
    let (ip, port) = (lab.tcp_addr.ip(), lab.tcp_addr.port());
    tracing::info!(
        "lab server ({} mode) listening on {}: try `python3 lab/{client}/client.py {ip} {port}` or `nc {ip} {port}`",
        lab.mode,
        lab.tcp_addr,
    );
    tracker.spawn(tcp.run(shutdown.clone()));
    if let Some(udp) = udp {
        tracing::info!("UDP echo server listening on {}", udp.local_addr());
        tracker.spawn(udp.run(shutdown));
    }
    Ok(lab)
}
