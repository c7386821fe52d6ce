//! Socket Lab's benchmark: how much does the bridge add to what it shows?
//!
//! The same echo client runs over three paths in one run, against the same
//! echo server: raw TCP (the baseline, the physical limit here), `/relay`
//! (binary WebSocket frames) and `/ws` (the page's JSON session protocol).
//! Each workload prints one JSON line per path, with ratios to raw TCP
//! measured in that same run (these machines are shared and noisy: compare
//! ratios, not absolute numbers across runs).
//!
//! ```text
//! make bench                                   # everything, to bench-results/latest.json
//! cargo run --release -p e2e --bin bench -- --spawn --connections 100 --size 32
//! ```
//!
//! With `--spawn` it starts two `socket-lab` processes on free loopback
//! ports: an echo lab server, and the bridge under test, which may relay to
//! it (`--allow-target`). Keeping the echo server in its own process means
//! the bridge's CPU time and memory are the relay's alone.
//!
//! With `--peers` (`make bench-peers`) the byte relays run side by side in
//! front of that separate echo server: `/relay`, websocat and websockify,
//! each line with its ratios to websocat as well as to raw TCP.

mod client;
mod code_view;
mod page;
mod page_speed;
mod peers;
mod programs;
mod scale;
mod spawn;
mod stats;

use clap::Parser;
use client::{Client, Endpoints, PathKind};
use serde_json::{Value, json};
use stats::Latencies;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    about = "Measure the bridge against raw TCP: latency, throughput, CPU, memory, scale, page"
)]
struct Args {
    /// Start an echo server and a bridge of our own on free loopback ports.
    #[arg(long)]
    spawn: bool,
    /// The socket-lab binary to start with --spawn.
    #[arg(long, default_value = "target/release/socket-lab")]
    bin: PathBuf,
    /// Without --spawn: the bridge's HTTP address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: std::net::SocketAddr,
    /// Without --spawn: the echo server (the bridge must allow it as a target).
    #[arg(long, default_value = "127.0.0.1:1234")]
    echo: std::net::SocketAddr,
    /// Without --spawn: the bridge's process id, for CPU time and memory.
    #[arg(long)]
    pid: Option<u32>,
    /// Without --spawn: the echo server is the bridge's public lab server
    /// (the `/ws` clients then use `Target::Public`).
    #[arg(long)]
    echo_is_public: bool,
    /// With --spawn: measure against the echo server in its own process
    /// instead of the bridge's own public lab server.
    #[arg(long)]
    separate_echo: bool,
    /// Request-reply (echo) or streaming.
    #[arg(long, value_enum, default_value = "echo")]
    workload: Workload,
    /// Concurrent connections (C).
    #[arg(long, short = 'c', default_value_t = 1)]
    connections: usize,
    /// Messages per connection (M).
    #[arg(long, short = 'm', default_value_t = 1000)]
    messages: usize,
    /// Payload bytes per message (S).
    #[arg(long, short = 's', default_value_t = 32)]
    size: usize,
    /// The standard suite: the goals' workloads, the scale run and the page.
    #[arg(long)]
    all: bool,
    /// Scale run: ramp to this many concurrent /ws sessions.
    #[arg(long)]
    scale: Option<usize>,
    /// Page weight and speed (needs chromium, chromedriver and a built dist/).
    #[arg(long)]
    page: bool,
    /// A student's echo server and client (programs run in the page) doing
    /// this many round trips of 32 bytes through the socket-call protocol.
    #[arg(long, value_name = "ROUND_TRIPS")]
    programs: Option<usize>,
    /// The built page, for the page report.
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// Also append every JSON line to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only these paths (raw TCP always runs first: it is the baseline).
    #[arg(long, value_delimiter = ',', value_enum)]
    paths: Vec<PathKind>,
    /// `/relay` beside websocat and websockify, in front of the separate
    /// echo server: the peer suite's workloads (with --one, only the
    /// workload of --workload/-c/-m/-s).
    #[arg(long, requires = "spawn")]
    peers: bool,
    /// Rounds each workload is split into, the paths taking turns (more
    /// rounds: finer interleaving, so bursts of other work on the machine
    /// land on every path more evenly).
    #[arg(long, default_value_t = ROUNDS)]
    rounds: usize,
    /// With --spawn: the bridge's worker threads (tokio's
    /// TOKIO_WORKER_THREADS, for the bridge process alone); default one per
    /// core.
    #[arg(long)]
    bridge_threads: Option<usize>,
    /// With --peers: only the one workload given by --workload/-c/-m/-s.
    #[arg(long, requires = "peers")]
    one: bool,
    /// The websocat binary for --peers (scripts/peers.sh installs it).
    #[arg(long, default_value = ".tools/websocat/bin/websocat")]
    websocat: PathBuf,
    /// The websockify program for --peers (scripts/peers.sh installs it).
    #[arg(long, default_value = ".tools/websockify/bin/websockify")]
    websockify: PathBuf,
}

/// The process whose CPU time is a path's cost: the bridge, or a peer.
#[derive(Debug, Default, Clone, Copy)]
struct Pids {
    bridge: Option<u32>,
    websocat: Option<u32>,
    /// websockify's listener; its per-connection children count with it.
    websockify: Option<u32>,
}

impl Pids {
    fn cpu_time(&self, path: PathKind) -> Option<Duration> {
        match path {
            PathKind::Websocat => self.websocat.and_then(stats::cpu_time),
            PathKind::Websockify => self.websockify.and_then(stats::tree_cpu_time),
            _ => self.bridge.and_then(stats::cpu_time),
        }
    }

    fn pid(&self, path: PathKind) -> Option<u32> {
        match path {
            PathKind::Websocat => self.websocat,
            PathKind::Websockify => self.websockify,
            _ => self.bridge,
        }
    }
}

/// The suite's workloads (`--all`, `--peers`): the goals' echo at 1 and 100
/// clients, 64 KiB messages streamed, and many small messages streamed.
fn suite() -> Vec<Spec> {
    vec![
        Spec {
            workload: Workload::Echo,
            connections: 1,
            messages: 3000,
            size: 32,
        },
        Spec {
            workload: Workload::Echo,
            connections: 100,
            messages: 300,
            size: 32,
        },
        Spec {
            workload: Workload::Stream,
            connections: 1,
            messages: 2000,
            size: 64 * 1024,
        },
        Spec {
            workload: Workload::Stream,
            connections: 100,
            messages: 1000,
            size: 32,
        },
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    Echo,
    Stream,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::Stream => "stream",
        }
    }
}

/// One workload: C connections, M messages of S bytes each.
#[derive(Debug, Clone, Copy)]
struct Spec {
    workload: Workload,
    connections: usize,
    messages: usize,
    size: usize,
}

/// Where results go: stdout, and optionally a file.
struct Output {
    file: Option<std::fs::File>,
}

impl Output {
    fn line(&mut self, value: &Value) {
        let line = value.to_string();
        println!("{line}");
        if let Some(file) = &mut self.file {
            let _ = writeln!(file, "{line}");
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), client::Error> {
    let args = Args::parse();
    let mut out = Output {
        file: match &args.out {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Some(std::fs::File::create(path)?)
            }
            None => None,
        },
    };

    let spawned = if args.spawn {
        Some(spawn::Spawned::start(&args.bin, args.bridge_threads).await?)
    } else {
        None
    };
    // Throughput runs against the bridge's own public lab server (what a
    // class uses; the relay's hop to it stays inside one process) unless
    // --separate-echo; the scale run always uses the separate echo server,
    // so that each session costs the bridge two descriptors, not three.
    let (ep, scale_ep, pid, echo_pid) = match &spawned {
        Some(s) if args.separate_echo || args.peers => (
            s.endpoints(),
            s.endpoints(),
            Some(s.bridge_pid()),
            Some(s.echo_pid()),
        ),
        Some(s) => (
            s.endpoints_in_bridge(),
            s.endpoints(),
            Some(s.bridge_pid()),
            None,
        ),
        None => {
            let ep = Endpoints {
                http: args.http,
                echo: args.echo,
                echo_is_public: args.echo_is_public,
                peers: None,
            };
            (ep, ep, args.pid, None)
        }
    };

    out.line(&json!({
        "bench": "setup",
        "bridge": ep.http.to_string(),
        "echo": ep.echo.to_string(),
        "echo_server": if ep.echo_is_public { "the bridge's public lab server" } else { "a separate process" },
        "bridge_pid": pid,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }));

    if args.peers {
        let Some(s) = &spawned else {
            return Err("--peers needs --spawn".into());
        };
        let mut ep = s.endpoints();
        let peers = peers::Peers::start(&args.websocat, &args.websockify, ep.echo).await?;
        ep.peers = Some(peers.addrs);
        let pids = Pids {
            bridge: Some(s.bridge_pid()),
            websocat: peers.websocat_pid(),
            websockify: peers.websockify_pid(),
        };
        out.line(&json!({
            "bench": "peers",
            "websocat": peers.addrs.websocat.to_string(),
            "websocat_pid": pids.websocat,
            "websockify": peers.addrs.websockify.to_string(),
            "websockify_pid": pids.websockify,
        }));
        let specs = if args.one {
            vec![Spec {
                workload: args.workload,
                connections: args.connections,
                messages: args.messages,
                size: args.size,
            }]
        } else {
            suite()
        };
        for spec in specs {
            let paths = selected(&PathKind::PEERS, &args.paths);
            let mut lines = run(&paths, ep, spec, pids, Some(s.echo_pid()), args.rounds).await;
            add_peer_ratios(&mut lines);
            for line in lines {
                out.line(&line);
            }
        }
        drop(peers);
        if let Some(spawned) = spawned {
            spawned.stop().await;
        }
        return Ok(());
    }

    let specs: Vec<Spec> = if args.all {
        suite()
    } else if args.scale.is_none() && !args.page && args.programs.is_none() {
        vec![Spec {
            workload: args.workload,
            connections: args.connections,
            messages: args.messages,
            size: args.size,
        }]
    } else {
        Vec::new()
    };

    // With --all the suite runs twice: against the bridge's own lab server
    // (a class's set-up), then against the echo server in its own process,
    // where the bridge's CPU time is the relay's alone.
    let mut arrangements = vec![(ep, echo_pid)];
    if let (true, Some(s), false) = (args.all, &spawned, args.separate_echo) {
        arrangements.push((s.endpoints(), Some(s.echo_pid())));
    }
    for (ep, echo_pid) in arrangements {
        for spec in &specs {
            // The JSON protocol caps one message's size; 64 KiB payloads
            // are the byte relay's business, not the page's.
            let paths: Vec<PathKind> = selected(&PathKind::ALL, &args.paths)
                .into_iter()
                .filter(|&p| !(p == PathKind::Ws && spec.size > 16 * 1024))
                .collect();
            let pids = Pids {
                bridge: pid,
                ..Pids::default()
            };
            for line in run(&paths, ep, *spec, pids, echo_pid, args.rounds).await {
                out.line(&line);
            }
        }
    }

    let programs = if args.all { Some(1000) } else { args.programs };
    if let Some(round_trips) = programs {
        out.line(&programs::run(ep, pid, round_trips, 32).await);
    }

    let scale = if args.all { Some(10_000) } else { args.scale };
    let mut spawned = spawned;
    let (mut scale_ep, mut scale_pid) = (scale_ep, pid);
    if let Some(sessions) = scale {
        // A fresh bridge, so that memory per session is not blurred by what
        // the throughput runs left in the allocator.
        if let Some(old) = spawned.take() {
            old.stop().await;
            let fresh = spawn::Spawned::start(&args.bin, args.bridge_threads).await?;
            scale_ep = fresh.endpoints();
            scale_pid = Some(fresh.bridge_pid());
            spawned = Some(fresh);
        }
        for line in scale::run(scale_ep, scale_pid, sessions).await {
            out.line(&line);
        }
    }

    if args.all || args.page {
        out.line(&page::run(&args.dist, scale_ep).await);
        out.line(&code_view::run(scale_ep).await);
    }

    if let Some(spawned) = spawned {
        spawned.stop().await;
    }
    Ok(())
}

/// The paths of `all` that `--paths` asks for; raw TCP always (the baseline).
fn selected(all: &[PathKind], wanted: &[PathKind]) -> Vec<PathKind> {
    all.iter()
        .copied()
        .filter(|p| *p == PathKind::Tcp || wanted.is_empty() || wanted.contains(p))
        .collect()
}

/// Each line of one workload gets its ratios to websocat's line in the
/// same run: above 1 is better for throughput, below 1 better for latency
/// and CPU. Nothing is added when websocat did not run or had errors.
fn add_peer_ratios(lines: &mut [Value]) {
    let Some(websocat) = lines
        .iter()
        .find(|l| l["path"] == "websocat" && l["errors"] == 0)
        .cloned()
    else {
        return;
    };
    let keys = [
        ("msgs_per_s", "throughput_vs_websocat"),
        ("rtt_p50_us", "p50_vs_websocat"),
        ("rtt_p99_us", "p99_vs_websocat"),
        ("path_cpu_us_per_msg", "cpu_vs_websocat"),
    ];
    for line in lines.iter_mut() {
        for (key, name) in keys {
            if let (Some(value), Some(base)) = (line[key].as_f64(), websocat[key].as_f64()) {
                line[name] = json!(ratio(value, base));
            }
        }
    }
}

fn ratio(value: f64, base: f64) -> f64 {
    if base > 0.0 {
        (value / base * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// Rounds each workload is split into, unless `--rounds`. The paths take turns round by
/// round, so a burst of noise from other work on this shared machine lands
/// on all of them alike, and the ratios stay fair.
const ROUNDS: usize = 10;

/// What one path did over all rounds.
#[derive(Default)]
struct Tally {
    elapsed: Duration,
    cpu: Duration,
    /// The echo server's CPU time: what the same bytes cost a plain server.
    echo_cpu: Duration,
    /// This process's CPU time: what the client side costs.
    client_cpu: Duration,
    /// The bridge's CPU time in user space and in the kernel (10 ms ticks).
    bridge_user: Duration,
    bridge_kernel: Duration,
    latencies: Latencies,
    messages: usize,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, e: impl ToString) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| e.to_string());
    }
}

/// Runs one workload over every path, in interleaved rounds, and reports
/// one JSON object per path with its ratios to raw TCP.
async fn run(
    paths: &[PathKind],
    ep: Endpoints,
    spec: Spec,
    pids: Pids,
    echo_pid: Option<u32>,
    rounds: usize,
) -> Vec<Value> {
    let rounds = rounds.max(1);
    let payload: Vec<u8> = (0..spec.size).map(|i| b'a' + (i % 26) as u8).collect();
    let per_round = spec.messages.div_ceil(rounds).max(1);
    let mut tallies: Vec<Tally> = paths.iter().map(|_| Tally::default()).collect();

    // Connect everyone first: the clock measures traffic, not handshakes.
    let mut clients: Vec<Vec<Client>> = Vec::new();
    for (path, tally) in paths.iter().zip(&mut tallies) {
        let mut these = Vec::with_capacity(spec.connections);
        for _ in 0..spec.connections {
            match Client::connect(*path, ep, spec.size).await {
                Ok(c) => these.push(c),
                Err(e) => tally.error(e),
            }
        }
        clients.push(these);
    }

    for _ in 0..rounds {
        for ((these, tally), path) in clients.iter_mut().zip(&mut tallies).zip(paths) {
            let pid = pids.pid(*path);
            let cpu_before = pids.cpu_time(*path);
            let echo_before = echo_pid.and_then(stats::cpu_time);
            let client_before = stats::cpu_time(std::process::id());
            let split_before = pid.and_then(stats::user_kernel);
            let started = Instant::now();
            let tasks = these.iter_mut().map(|client| {
                let payload = &payload;
                async move {
                    let mut latencies = Latencies::default();
                    match spec.workload {
                        Workload::Echo => {
                            let mut buf = Vec::with_capacity(payload.len());
                            for _ in 0..per_round {
                                let t = Instant::now();
                                client.round_trip(payload, &mut buf).await?;
                                latencies.record(t.elapsed());
                            }
                        }
                        Workload::Stream => client.stream(per_round, payload).await?,
                    }
                    Ok::<_, client::Error>(latencies)
                }
            });
            // All connections of this path at once, in this task.
            let results = futures_util::future::join_all(tasks).await;
            tally.elapsed += started.elapsed();
            if let (Some(a), Some(b)) = (cpu_before, pids.cpu_time(*path)) {
                tally.cpu += b.saturating_sub(a);
            }
            if let (Some(a), Some(b)) = (echo_before, echo_pid.and_then(stats::cpu_time)) {
                tally.echo_cpu += b.saturating_sub(a);
            }
            if let (Some(a), Some(b)) = (client_before, stats::cpu_time(std::process::id())) {
                tally.client_cpu += b.saturating_sub(a);
            }
            if let (Some(a), Some(b)) = (split_before, pid.and_then(stats::user_kernel)) {
                tally.bridge_user += b.0.saturating_sub(a.0);
                tally.bridge_kernel += b.1.saturating_sub(a.1);
            }
            for result in results {
                match result {
                    Ok(l) => {
                        tally.latencies.extend(l);
                        tally.messages += per_round;
                    }
                    Err(e) => tally.error(e),
                }
            }
        }
    }

    let mut reports: Vec<Value> = Vec::new();
    let mut baseline: Option<(f64, u64, f64)> = None;
    // With the echo server inside the bridge, the raw TCP rounds show what
    // echoing alone costs the bridge; the rest of a path's CPU is the path's.
    let echo_cost = tallies
        .first()
        .filter(|t| t.messages > 0)
        .map(|t| t.cpu.as_secs_f64() / t.messages as f64);
    for (path, mut tally) in paths.iter().zip(tallies) {
        let pid = pids.pid(*path);
        let secs = tally.elapsed.as_secs_f64().max(1e-6);
        let rate = tally.messages as f64 / secs;
        let mut report = json!({
            "bench": "throughput",
            "path": path.name(),
            "workload": spec.workload.name(),
            "connections": spec.connections,
            "messages_per_connection": per_round * rounds,
            "payload_bytes": spec.size,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "msgs_per_s": rate.round(),
            "mb_per_s": ((tally.messages * spec.size) as f64 / secs / 1e6 * 100.0).round() / 100.0,
            "errors": tally.errors,
            "bridge_cpu_us_per_msg": (pid.is_some() && tally.messages > 0).then(||
                (tally.cpu.as_secs_f64() * 1e6 / tally.messages as f64 * 100.0).round() / 100.0),
            "bridge_rss_kib": pid.and_then(stats::rss_kib),
            "echo_server": if ep.echo_is_public { "bridge" } else { "separate" },
            "echo_server_cpu_us_per_msg": (echo_pid.is_some() && tally.messages > 0).then(||
                (tally.echo_cpu.as_secs_f64() * 1e6 / tally.messages as f64 * 100.0).round() / 100.0),
        });
        let per_msg = |d: Duration| {
            (d.as_secs_f64() * 1e6 / tally.messages.max(1) as f64 * 100.0).round() / 100.0
        };
        // Every process on the path: client, bridge (when it is on the
        // path) and echo server. On 2 cores shared by all of them, this is
        // what bounds the throughput once the cores are busy.
        let on_path = *path != PathKind::Tcp || ep.echo_is_public;
        let machine =
            tally.client_cpu + tally.echo_cpu + if on_path { tally.cpu } else { Duration::ZERO };
        let machine_us = per_msg(machine);
        report["client_cpu_us_per_msg"] = json!(per_msg(tally.client_cpu));
        report["machine_cpu_us_per_msg"] = json!(machine_us);
        if pid.is_some() && on_path {
            // Only over enough 10 ms ticks to mean something.
            let ticks = tally.bridge_user + tally.bridge_kernel;
            if ticks >= Duration::from_millis(200) {
                report["bridge_kernel_share"] = json!(
                    (tally.bridge_kernel.as_secs_f64() / ticks.as_secs_f64() * 100.0).round()
                        / 100.0
                );
            }
        }
        let p50 = tally.latencies.percentile(50.0);
        if spec.workload == Workload::Echo {
            report["rtt_p50_us"] = json!(p50);
            report["rtt_p90_us"] = json!(tally.latencies.percentile(90.0));
            report["rtt_p99_us"] = json!(tally.latencies.percentile(99.0));
        }
        match baseline {
            None => baseline = Some((rate, p50, machine_us)),
            Some((base_rate, base_p50, base_machine)) => {
                // The throughput ratio the CPU work alone allows, were the
                // cores the only limit: compare it with throughput_vs_tcp.
                report["cpu_bound_vs_tcp"] = json!(ratio(base_machine, machine_us));
                if let (Some(echo_cost), true) = (echo_cost, pid.is_some() && tally.messages > 0) {
                    let own = tally.cpu.as_secs_f64() / tally.messages as f64 - echo_cost;
                    report["path_cpu_us_per_msg"] = json!((own * 1e6 * 100.0).round() / 100.0);
                    if path.is_byte_relay() {
                        // Each request and each reply is one relayed
                        // message, read from one socket and written to the
                        // other: a round trip is two (a streamed message
                        // likewise goes there and back).
                        report["bridge_cpu_us_per_relayed_msg"] =
                            json!((own / 2.0 * 1e6 * 100.0).round() / 100.0);
                    }
                }
                report["throughput_vs_tcp"] = json!(ratio(rate, base_rate));
                if spec.workload == Workload::Echo {
                    report["p50_vs_tcp"] = json!(ratio(p50 as f64, base_p50 as f64));
                }
            }
        }
        // Leave out what this run could not measure, rather than print null.
        if let Some(map) = report.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        if let Some(e) = tally.first_error {
            report["first_error"] = json!(e);
        }
        reports.push(report);
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `make bench-peers`'s command line selects the peer suite with the
    /// installed tools, and --peers without --spawn is refused.
    #[test]
    fn peers_command_line() {
        let args = Args::try_parse_from(["bench", "--spawn", "--peers", "--out", "x.json"])
            .expect("make bench-peers' arguments");
        assert!(args.peers && args.spawn && !args.one);
        assert_eq!(args.websocat, PathBuf::from(".tools/websocat/bin/websocat"));
        assert_eq!(
            args.websockify,
            PathBuf::from(".tools/websockify/bin/websockify")
        );
        assert!(Args::try_parse_from(["bench", "--peers"]).is_err());
        assert!(Args::try_parse_from(["bench", "--spawn", "--one"]).is_err());

        let one = Args::try_parse_from([
            "bench",
            "--spawn",
            "--peers",
            "--one",
            "-c",
            "100",
            "-m",
            "300",
            "--paths",
            "relay,websocat",
        ])
        .expect("one workload, two paths");
        assert_eq!(one.connections, 100);
        assert_eq!(
            selected(&PathKind::PEERS, &one.paths),
            vec![PathKind::Tcp, PathKind::Relay, PathKind::Websocat]
        );
        assert_eq!(selected(&PathKind::PEERS, &[]), PathKind::PEERS.to_vec());
    }

    /// Every line of a workload gets its ratios to websocat's line; a
    /// websocat line with errors is no baseline.
    #[test]
    fn ratios_to_websocat() {
        let mut lines = vec![
            json!({"path": "tcp", "errors": 0, "msgs_per_s": 90000.0, "rtt_p50_us": 50, "rtt_p99_us": 100}),
            json!({"path": "relay", "errors": 0, "msgs_per_s": 60000.0, "rtt_p50_us": 80, "rtt_p99_us": 150, "path_cpu_us_per_msg": 12.0}),
            json!({"path": "websocat", "errors": 0, "msgs_per_s": 50000.0, "rtt_p50_us": 100, "rtt_p99_us": 200, "path_cpu_us_per_msg": 16.0}),
        ];
        add_peer_ratios(&mut lines);
        assert_eq!(lines[1]["throughput_vs_websocat"], json!(1.2));
        assert_eq!(lines[1]["p50_vs_websocat"], json!(0.8));
        assert_eq!(lines[1]["p99_vs_websocat"], json!(0.75));
        assert_eq!(lines[1]["cpu_vs_websocat"], json!(0.75));
        assert_eq!(lines[2]["throughput_vs_websocat"], json!(1.0));
        assert_eq!(lines[0]["throughput_vs_websocat"], json!(1.8));
        // Raw TCP has no path CPU of its own: no ratio rather than a wrong one.
        assert!(lines[0].get("cpu_vs_websocat").is_none());

        let mut failed = vec![
            json!({"path": "relay", "errors": 0, "msgs_per_s": 60000.0}),
            json!({"path": "websocat", "errors": 3, "msgs_per_s": 10.0}),
        ];
        add_peer_ratios(&mut failed);
        assert!(failed[0].get("throughput_vs_websocat").is_none());
    }
}
