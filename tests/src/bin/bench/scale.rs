//! The scale run: many concurrent `/ws` sessions, each with its own TCP
//! connection to the echo server and a verified echo, and what each
//! session costs the bridge in memory and latency.

use crate::client::{Client, Endpoints, PathKind};
use crate::stats::{self, Latencies};
use serde_json::{Value, json};
use std::time::Instant;

/// How many sessions connect at once while ramping up.
const RAMP_CONCURRENCY: usize = 64;
/// Round trips sampled at each checkpoint for latency.
const SAMPLES: usize = 300;

pub async fn run(ep: Endpoints, pid: Option<u32>, wanted: usize) -> Vec<Value> {
    let mut lines = Vec::new();
    // Each session holds two descriptors in the bridge (its WebSocket and
    // its TCP connection) and one here; stay inside both processes' limits.
    let bridge_limit = pid.and_then(process_fd_limit).unwrap_or(u64::MAX);
    let own_limit = stats::fd_limit().unwrap_or(u64::MAX);
    let cap = ((bridge_limit.saturating_sub(64)) / 2).min(own_limit.saturating_sub(64)) as usize;
    let target = wanted.min(cap);
    if target < wanted {
        lines.push(json!({
            "bench": "scale_note",
            "note": format!(
                "ramping to {target} sessions, not {wanted}: the open-file limit here is {bridge_limit} \
                 for the bridge ({} descriptors per session) and cannot be raised without privileges",
                2
            ),
        }));
    }
    let checkpoints: Vec<usize> = [100, 1_000, 10_000, target]
        .into_iter()
        .filter(|&n| n <= target)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();

    let baseline_rss = pid.and_then(stats::rss_kib);
    let payload: Vec<u8> = b"0123456789abcdef0123456789abcdef".to_vec();
    let mut sessions: Vec<Client> = Vec::with_capacity(target);
    let mut errors = 0usize;
    let mut first_error: Option<String> = None;
    let started = Instant::now();
    for checkpoint in checkpoints {
        while sessions.len() + errors < checkpoint {
            let batch = (checkpoint - sessions.len() - errors).min(RAMP_CONCURRENCY);
            let mut tasks = Vec::with_capacity(batch);
            for _ in 0..batch {
                let payload = payload.clone();
                tasks.push(tokio::spawn(async move {
                    let mut client = Client::connect(PathKind::Ws, ep, 32).await?;
                    // Every session proves its connection with one echo.
                    client.round_trip(&payload, &mut Vec::new()).await?;
                    Ok::<_, crate::client::Error>(client)
                }));
            }
            for task in tasks {
                match task.await {
                    Ok(Ok(client)) => sessions.push(client),
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
        }
        // Latency with this many sessions open: round trips on sessions
        // spread across the whole set.
        let mut latencies = Latencies::default();
        let mut buf = Vec::new();
        let step = (sessions.len() / SAMPLES).max(1);
        let mut i = 0;
        while i < sessions.len() && latencies.len() < SAMPLES {
            let t = Instant::now();
            match sessions[i].round_trip(&payload, &mut buf).await {
                Ok(()) => latencies.record(t.elapsed()),
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(e.to_string());
                }
            }
            i += step;
        }
        let rss = pid.and_then(stats::rss_kib);
        let per_session = match (rss, baseline_rss) {
            (Some(now), Some(base)) if !sessions.is_empty() => Some(
                (now.saturating_sub(base) as f64 / sessions.len() as f64 * 10.0).round() / 10.0,
            ),
            _ => None,
        };
        let mut line = json!({
            "bench": "scale",
            "sessions": sessions.len(),
            "errors": errors,
            "bridge_rss_kib": rss,
            "bridge_rss_kib_per_session": per_session,
            "rtt_p50_us": latencies.percentile(50.0),
            "rtt_p90_us": latencies.percentile(90.0),
            "rtt_p99_us": latencies.percentile(99.0),
            "ramp_seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        });
        if let Some(e) = &first_error {
            line["first_error"] = json!(e);
        }
        lines.push(line);
    }
    lines
}

/// The open-file limit of another process, from /proc.
fn process_fd_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
}
