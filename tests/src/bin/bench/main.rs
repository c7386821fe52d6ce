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

mod client;
mod page;
mod page_speed;
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
    /// The built page, for the page report.
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// Also append every JSON line to this file.
    #[arg(long)]
    out: Option<PathBuf>,
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
        Some(spawn::Spawned::start(&args.bin).await?)
    } else {
        None
    };
    let (ep, pid) = match &spawned {
        Some(s) => (s.endpoints(), Some(s.bridge_pid())),
        None => (
            Endpoints {
                http: args.http,
                echo: args.echo,
            },
            args.pid,
        ),
    };

    out.line(&json!({
        "bench": "setup",
        "bridge": ep.http.to_string(),
        "echo": ep.echo.to_string(),
        "bridge_pid": pid,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }));

    let specs: Vec<Spec> = if args.all {
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
    } else if args.scale.is_none() && !args.page {
        vec![Spec {
            workload: args.workload,
            connections: args.connections,
            messages: args.messages,
            size: args.size,
        }]
    } else {
        Vec::new()
    };

    for spec in specs {
        let mut baseline: Option<(f64, u64)> = None;
        for path in PathKind::ALL {
            // The JSON protocol caps one message's size; 64 KiB payloads are
            // the byte relay's business, not the page's.
            if path == PathKind::Ws && spec.size > 16 * 1024 {
                continue;
            }
            let mut report = run(path, ep, spec, pid).await;
            let rate = report["msgs_per_s"].as_f64().unwrap_or(0.0);
            let p50 = report["rtt_p50_us"].as_u64().unwrap_or(0);
            match baseline {
                None => baseline = Some((rate, p50)),
                Some((base_rate, base_p50)) => {
                    report["throughput_vs_tcp"] = json!(ratio(rate, base_rate));
                    if spec.workload == Workload::Echo {
                        report["p50_vs_tcp"] = json!(ratio(p50 as f64, base_p50 as f64));
                    }
                }
            }
            out.line(&report);
        }
    }

    let scale = if args.all { Some(10_000) } else { args.scale };
    if let Some(sessions) = scale {
        for line in scale::run(ep, pid, sessions).await {
            out.line(&line);
        }
    }

    if args.all || args.page {
        out.line(&page::run(&args.dist, ep).await);
    }

    if let Some(spawned) = spawned {
        spawned.stop().await;
    }
    Ok(())
}

fn ratio(value: f64, base: f64) -> f64 {
    if base > 0.0 {
        (value / base * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// Runs one workload over one path and reports it as a JSON object.
async fn run(path: PathKind, ep: Endpoints, spec: Spec, pid: Option<u32>) -> Value {
    let payload: Vec<u8> = (0..spec.size).map(|i| b'a' + (i % 26) as u8).collect();

    // Connect everyone first: the clock measures traffic, not handshakes.
    let mut clients = Vec::with_capacity(spec.connections);
    let mut errors = 0usize;
    let mut first_error = None;
    for _ in 0..spec.connections {
        match Client::connect(path, ep).await {
            Ok(c) => clients.push(c),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }

    let cpu_before = pid.and_then(stats::cpu_time);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients.len());
    for mut client in clients {
        let payload = payload.clone();
        let messages = spec.messages;
        let workload = spec.workload;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            match workload {
                Workload::Echo => {
                    let mut buf = Vec::with_capacity(payload.len());
                    for _ in 0..messages {
                        let t = Instant::now();
                        client.round_trip(&payload, &mut buf).await?;
                        latencies.record(t.elapsed());
                    }
                }
                Workload::Stream => client.stream(messages, &payload).await?,
            }
            Ok::<_, client::Error>(latencies)
        }));
    }
    let mut latencies = Latencies::default();
    let mut completed = 0usize;
    for task in tasks {
        match task.await {
            Ok(Ok(l)) => {
                latencies.extend(l);
                completed += 1;
            }
            Ok(Err(e)) => {
                errors += 1;
                first_error.get_or_insert(e.to_string());
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    let cpu_after = pid.and_then(stats::cpu_time);

    let messages = completed * spec.messages;
    let secs = elapsed.as_secs_f64();
    let cpu_us_per_msg = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) if messages > 0 => {
            Some(((b - a).as_secs_f64() * 1e6 / messages as f64 * 100.0).round() / 100.0)
        }
        _ => None,
    };
    let mut report = json!({
        "bench": "throughput",
        "path": path.name(),
        "workload": spec.workload.name(),
        "connections": spec.connections,
        "messages_per_connection": spec.messages,
        "payload_bytes": spec.size,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "msgs_per_s": (messages as f64 / secs).round(),
        "mb_per_s": ((messages * spec.size) as f64 / secs / 1e6 * 100.0).round() / 100.0,
        "errors": errors,
        "bridge_cpu_us_per_msg": cpu_us_per_msg,
        "bridge_rss_kib": pid.and_then(stats::rss_kib),
    });
    if spec.workload == Workload::Echo {
        report["rtt_p50_us"] = json!(latencies.percentile(50.0));
        report["rtt_p90_us"] = json!(latencies.percentile(90.0));
        report["rtt_p99_us"] = json!(latencies.percentile(99.0));
        report["round_trips"] = json!(latencies.len());
    }
    if let Some(e) = first_error {
        report["first_error"] = json!(e);
    }
    report
}
