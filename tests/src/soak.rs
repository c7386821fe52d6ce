//! The soak: a bridge process under hours' worth of classroom traffic,
//! compressed into minutes, every byte checked.
//!
//! Hundreds of `/ws` sessions and raw TCP clients at once, against the
//! bridge's own public lab server in echo mode: each opens, echoes a few
//! messages of random size (random binary bytes as hex, or text) and
//! checks that exactly those bytes came back, then closes, or, one time in
//! ten, drops its connection mid-stream without waiting for the echo.
//! Meanwhile the bridge's file descriptors and memory (RSS) are read from
//! /proc: at the start, at the peak, and after the load, once every
//! session is gone.
//!
//! ```text
//! make soak                                    # 5 minutes, the default
//! make soak SOAK_SECS=60 SOAK_SESSIONS=400     # shorter, busier
//! ```
//!
//! A lost, altered or duplicated byte is counted (and must be 0); so is
//! every echo's round trip time.

use futures_util::{SinkExt, StreamExt};
use protocol::{
    Bytes, ClientMsg, Data, Lane, PROTOCOL_VERSION, ServerMsg, Step, Target, Transport,
};
use rand::{Rng, RngCore};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The bridge binary (`socket-lab`, or the tests' `bridge-process`).
    pub bin: PathBuf,
    /// `/ws` sessions at once.
    pub sessions: usize,
    /// Raw TCP clients of the public lab server at once.
    pub raw_clients: usize,
    pub duration: Duration,
    /// The largest message echoed, in bytes.
    pub max_message: usize,
}

/// What happened. `lost + altered + duplicated` must be 0.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    pub duration: Duration,
    pub sessions_opened: u64,
    pub raw_connections: u64,
    pub dropped_mid_stream: u64,
    /// Sessions that failed: could not open, or an echo did not come back.
    pub failed: u64,
    pub echoes: u64,
    pub bytes_verified: u64,
    pub lost: u64,
    pub altered: u64,
    pub duplicated: u64,
    /// Echo round trips, microseconds.
    pub latency_p50_us: u64,
    pub latency_p99_us: u64,
    pub latency_max_us: u64,
    /// The bridge's open file descriptors: at the start, at the peak, after.
    pub fds: [usize; 3],
    /// The bridge's resident memory (KiB): at the start, at the peak, after.
    pub rss_kib: [u64; 3],
    /// After: what the bridge's allocator says it holds (`/metrics`):
    /// live data, and what it keeps resident, in bytes.
    pub allocated_after: u64,
    pub allocator_resident_after: u64,
}

impl SoakReport {
    /// Whether every byte came back exactly once, unchanged.
    pub fn faithful(&self) -> bool {
        self.lost == 0
            && self.altered == 0
            && self.duplicated == 0
            && self.failed == 0
            && self.bytes_verified > 0
    }
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |kib: u64| kib as f64 / 1024.0;
        writeln!(f, "soak: {:.0} s", self.duration.as_secs_f64())?;
        writeln!(
            f,
            "  sessions: {} /ws, {} raw TCP; {} dropped mid-stream on purpose; {} failed",
            self.sessions_opened, self.raw_connections, self.dropped_mid_stream, self.failed
        )?;
        writeln!(
            f,
            "  bytes verified: {} ({:.1} MiB) in {} echoes",
            self.bytes_verified,
            self.bytes_verified as f64 / (1024.0 * 1024.0),
            self.echoes
        )?;
        writeln!(
            f,
            "  lost: {}, altered: {}, duplicated: {}",
            self.lost, self.altered, self.duplicated
        )?;
        writeln!(
            f,
            "  echo latency: p50 {} us, p99 {} us, max {} us",
            self.latency_p50_us, self.latency_p99_us, self.latency_max_us
        )?;
        writeln!(
            f,
            "  bridge fds: baseline {}, peak {}, after {}",
            self.fds[0], self.fds[1], self.fds[2]
        )?;
        writeln!(
            f,
            "  bridge RSS: baseline {:.1} MiB, peak {:.1} MiB, after {:.1} MiB",
            mib(self.rss_kib[0]),
            mib(self.rss_kib[1]),
            mib(self.rss_kib[2])
        )?;
        write!(
            f,
            "  bridge allocator after: {:.1} MiB allocated, {:.1} MiB resident",
            mib(self.allocated_after / 1024),
            mib(self.allocator_resident_after / 1024)
        )
    }
}

/// The tallies every client adds to.
#[derive(Debug, Default)]
struct Tally {
    sessions: AtomicU64,
    raw: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    echoes: AtomicU64,
    verified: AtomicU64,
    lost: AtomicU64,
    altered: AtomicU64,
    duplicated: AtomicU64,
}

impl Tally {
    /// Compares what came back with what was sent.
    fn check(&self, sent: &[u8], back: &[u8]) {
        let same = sent.len().min(back.len());
        let altered = sent[..same]
            .iter()
            .zip(&back[..same])
            .filter(|(a, b)| a != b)
            .count() as u64;
        self.altered.fetch_add(altered, Ordering::Relaxed);
        self.verified
            .fetch_add(same as u64 - altered, Ordering::Relaxed);
        self.lost.fetch_add(
            sent.len().saturating_sub(back.len()) as u64,
            Ordering::Relaxed,
        );
        self.duplicated.fetch_add(
            back.len().saturating_sub(sent.len()) as u64,
            Ordering::Relaxed,
        );
    }
}

/// Error type of the soak's own plumbing (not of the bridge under test).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The bridge process under test and where it serves.
struct Bridge {
    child: Child,
    pid: u32,
    http: SocketAddr,
    lab: SocketAddr,
}

impl Bridge {
    /// Starts `bin` on port 0 (page, /ws and the lab alike) and reads from
    /// its log where it listens.
    async fn start(bin: &PathBuf) -> Result<Bridge, Error> {
        let mut child = Command::new(bin)
            .args(["--http", "127.0.0.1:0", "--lab", "127.0.0.1:0"])
            .args(["--mode", "echo", "--static", "/nonexistent"])
            .args(["--max-sessions", "20000", "--max-connections", "20000"])
            .args(["--backlog", "1024"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", bin.display()))?;
        let pid = child.id().ok_or("the bridge exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut http, mut lab) = (None, None);
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("open http://").nth(1) {
                    http = rest.split('/').next().and_then(|a| a.parse().ok());
                }
                if let Some(rest) = line.split("listening on ").nth(1) {
                    lab = lab.or(rest.split(": ").next().and_then(|a| a.parse().ok()));
                }
                if http.is_some() && lab.is_some() {
                    return true;
                }
            }
            false
        })
        .await;
        let (Ok(true), Some(http), Some(lab)) = (found, http, lab) else {
            return Err("the bridge did not say where it listens".into());
        };
        // Keep reading its log, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Bridge {
            child,
            pid,
            http,
            lab,
        })
    }

    fn fds(&self) -> usize {
        Probe(self.pid).fds()
    }

    fn rss_kib(&self) -> u64 {
        Probe(self.pid).rss()
    }

    /// SIGTERM, as Ctrl-C would; waits for the exit.
    async fn stop(mut self) -> Result<(), Error> {
        Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await??;
        if !status.success() {
            return Err(format!("the bridge exited with {status}").into());
        }
        Ok(())
    }
}

/// Runs the soak and reports.
pub async fn run(config: SoakConfig) -> Result<SoakReport, Error> {
    let bridge = Bridge::start(&config.bin).await?;
    let baseline = (bridge.fds(), bridge.rss_kib());
    let tally = Arc::new(Tally::default());
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let started = Instant::now();
    let deadline = started + config.duration;

    // The peaks, read every 100 ms while the load runs.
    let running = Arc::new(AtomicBool::new(true));
    let peak_fds = Arc::new(AtomicUsize::new(baseline.0));
    let peak_rss = Arc::new(AtomicU64::new(baseline.1));
    let sampler = {
        let (running, peak_fds, peak_rss) = (running.clone(), peak_fds.clone(), peak_rss.clone());
        let pid = bridge.pid;
        tokio::spawn(async move {
            let probe = Probe(pid);
            while running.load(Ordering::Relaxed) {
                peak_fds.fetch_max(probe.fds(), Ordering::Relaxed);
                peak_rss.fetch_max(probe.rss(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let mut clients = Vec::new();
    for _ in 0..config.sessions {
        let (tally, latencies) = (tally.clone(), latencies.clone());
        let (http, max) = (bridge.http, config.max_message);
        clients.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let mut times = Vec::new();
                if ws_session(http, max, deadline, &tally, &mut times)
                    .await
                    .is_err()
                {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
                extend(&latencies, times);
            }
        }));
    }
    for _ in 0..config.raw_clients {
        let (tally, latencies) = (tally.clone(), latencies.clone());
        let (lab, max) = (bridge.lab, config.max_message);
        clients.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let mut times = Vec::new();
                if raw_session(lab, max, deadline, &tally, &mut times)
                    .await
                    .is_err()
                {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
                extend(&latencies, times);
            }
        }));
    }
    for client in clients {
        client.await?;
    }
    let duration = started.elapsed();
    running.store(false, Ordering::Relaxed);
    sampler.await?;

    // After: every session gone (bounded wait for the descriptors to come
    // back, lingering closes included), then one more reading.
    let settle = Instant::now() + Duration::from_secs(40);
    while bridge.fds() > baseline.0 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Memory is given back after the allocator's decay time: read it once
    // it has stopped falling (three readings a second apart within 1%), or
    // after 30 s.
    let mut rss = bridge.rss_kib();
    let mut steady = 0;
    while steady < 3 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = bridge.rss_kib();
        steady = if now * 100 >= rss * 99 { steady + 1 } else { 0 };
        rss = now;
    }
    let after = (bridge.fds(), rss);
    let memory = allocator_stats(bridge.http).await;
    let mut times = std::mem::take(&mut *latencies.lock().map_err(|_| "poisoned")?);
    times.sort_unstable();
    let percentile = |p: f64| -> u64 {
        if times.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * times.len() as f64).ceil() as usize;
        u64::from(times[rank.clamp(1, times.len()) - 1])
    };
    let report = SoakReport {
        duration,
        sessions_opened: tally.sessions.load(Ordering::Relaxed),
        raw_connections: tally.raw.load(Ordering::Relaxed),
        dropped_mid_stream: tally.dropped.load(Ordering::Relaxed),
        failed: tally.failed.load(Ordering::Relaxed),
        echoes: tally.echoes.load(Ordering::Relaxed),
        bytes_verified: tally.verified.load(Ordering::Relaxed),
        lost: tally.lost.load(Ordering::Relaxed),
        altered: tally.altered.load(Ordering::Relaxed),
        duplicated: tally.duplicated.load(Ordering::Relaxed),
        latency_p50_us: percentile(50.0),
        latency_p99_us: percentile(99.0),
        latency_max_us: times.last().copied().map_or(0, u64::from),
        fds: [baseline.0, peak_fds.load(Ordering::Relaxed), after.0],
        rss_kib: [baseline.1, peak_rss.load(Ordering::Relaxed), after.1],
        allocated_after: memory.0,
        allocator_resident_after: memory.1,
    };
    bridge.stop().await?;
    Ok(report)
}

/// The allocator's `allocated` and `resident` bytes from `/metrics` (0 if
/// it does not say).
async fn allocator_stats(http: SocketAddr) -> (u64, u64) {
    let read = async {
        let json = metrics(http).await?;
        let memory = json.get("memory")?;
        Some((
            memory.get("allocated")?.as_u64()?,
            memory.get("resident")?.as_u64()?,
        ))
    };
    read.await.unwrap_or((0, 0))
}

/// The bridge's `/metrics` at `http`, if it answers.
pub async fn metrics(http: SocketAddr) -> Option<serde_json::Value> {
    let mut tcp = TcpStream::connect(http).await.ok()?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.ok()?;
    let body = response.split("\r\n\r\n").nth(1)?;
    serde_json::from_str(body).ok()
}

/// Reads a process's fds and RSS without holding it.
struct Probe(u32);

impl Probe {
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.0)).map_or(0, |dir| dir.count())
    }

    fn rss(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.0))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|line| line.starts_with("VmRSS:"))
                    .and_then(|line| line.split_whitespace().nth(1))
                    .and_then(|kib| kib.parse().ok())
            })
            .unwrap_or(0)
    }
}

fn extend(latencies: &std::sync::Mutex<Vec<u32>>, times: Vec<u32>) {
    if let Ok(mut all) = latencies.lock() {
        all.extend(times);
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Random bytes of a random size; as text (printable ASCII) or binary.
fn payload(max: usize) -> (Vec<u8>, bool) {
    let mut rng = rand::rng();
    let len = rng.random_range(1..=max);
    if rng.random_bool(0.5) {
        let text = (0..len).map(|_| rng.random_range(b' '..=b'~')).collect();
        (text, true)
    } else {
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        (bytes, false)
    }
}

/// How long one echo may take before its bytes count as lost.
const ECHO_WAIT: Duration = Duration::from_secs(10);

/// One `/ws` session: hello, a connection to the public echo server, a few
/// verified echoes, then a clean close (or, one time in ten, a drop
/// mid-stream).
async fn ws_session(
    http: SocketAddr,
    max: usize,
    deadline: Instant,
    tally: &Tally,
    times: &mut Vec<u32>,
) -> Result<(), Error> {
    let (mut ws, _) = connect_async(format!("ws://{http}/ws")).await?;
    tally.sessions.fetch_add(1, Ordering::Relaxed);
    let say = |msg: &ClientMsg| Message::text(serde_json::to_string(msg).unwrap_or_default());
    ws.send(say(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
    }))
    .await?;
    ws.send(say(&ClientMsg::Connect {
        conn: 1,
        target: Target::Public,
        transport: Transport::Tcp,
    }))
    .await?;
    let (rounds, drop_at) = {
        let mut rng = rand::rng();
        let rounds = rng.random_range(1..=20);
        (
            rounds,
            rng.random_bool(0.1).then(|| rng.random_range(0..rounds)),
        )
    };
    for round in 0..rounds {
        if Instant::now() >= deadline {
            break;
        }
        let (sent, text) = payload(max);
        let data = if text {
            Data::Text(String::from_utf8_lossy(&sent).into_owned())
        } else {
            Data::Hex(Bytes(sent.clone()))
        };
        let start = Instant::now();
        ws.send(say(&ClientMsg::Send { conn: 1, data })).await?;
        if drop_at == Some(round) {
            tally.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(()); // dropped: no close frame, the echo unread
        }
        let mut back = Vec::with_capacity(sent.len());
        let read = tokio::time::timeout(ECHO_WAIT, async {
            while back.len() < sent.len() {
                let Some(Ok(message)) = ws.next().await else {
                    return;
                };
                let Message::Text(text) = message else {
                    continue;
                };
                if let Ok(ServerMsg::Trace(event)) = serde_json::from_str::<ServerMsg>(&text)
                    && event.lane == Lane::Client
                    && event.conn == Some(1)
                    && let Step::Recv { data } = event.step
                {
                    back.extend_from_slice(&data.0);
                }
            }
        })
        .await;
        times.push(micros(start.elapsed()));
        tally.check(&sent, &back);
        tally.echoes.fetch_add(1, Ordering::Relaxed);
        if read.is_err() || back.len() != sent.len() {
            return Err("an echo did not come back".into());
        }
    }
    ws.send(say(&ClientMsg::Close { conn: 1 })).await?;
    ws.close(None).await?;
    // Read to the end of the close handshake.
    let _ = tokio::time::timeout(ECHO_WAIT, async { while ws.next().await.is_some() {} }).await;
    Ok(())
}

/// One raw TCP client of the public echo server: a few verified echoes,
/// then a close (or, one time in ten, a reset mid-stream).
async fn raw_session(
    lab: SocketAddr,
    max: usize,
    deadline: Instant,
    tally: &Tally,
    times: &mut Vec<u32>,
) -> Result<(), Error> {
    let mut tcp = TcpStream::connect(lab).await?;
    tcp.set_nodelay(true)?;
    tally.raw.fetch_add(1, Ordering::Relaxed);
    let (rounds, drop_at) = {
        let mut rng = rand::rng();
        let rounds = rng.random_range(1..=20);
        (
            rounds,
            rng.random_bool(0.1).then(|| rng.random_range(0..rounds)),
        )
    };
    for round in 0..rounds {
        if Instant::now() >= deadline {
            break;
        }
        let (sent, _) = payload(max);
        let start = Instant::now();
        tcp.write_all(&sent).await?;
        if drop_at == Some(round) {
            tally.dropped.fetch_add(1, Ordering::Relaxed);
            let _ = tcp.set_zero_linger();
            return Ok(());
        }
        let mut back = vec![0u8; sent.len()];
        let mut got = 0;
        let read = tokio::time::timeout(ECHO_WAIT, async {
            while got < back.len() {
                match tcp.read(&mut back[got..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got += n,
                }
            }
        })
        .await;
        back.truncate(got);
        times.push(micros(start.elapsed()));
        tally.check(&sent, &back);
        tally.echoes.fetch_add(1, Ordering::Relaxed);
        if read.is_err() || got != sent.len() {
            return Err("an echo did not come back".into());
        }
    }
    tcp.shutdown().await?;
    // The echo server sees EOF and closes: read to our own EOF, and count
    // anything more as duplicated.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(ECHO_WAIT, tcp.read_to_end(&mut rest)).await;
    tally
        .duplicated
        .fetch_add(rest.len() as u64, Ordering::Relaxed);
    Ok(())
}
