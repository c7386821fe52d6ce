//! The bridge's share of a student's echo pair run in the page: a
//! `server.py` and a `client.py` exchanging 32-byte messages, every round
//! trip four socket calls (the client's `sendall()` and `recv()`, the
//! server's `recv()` and `sendall()`) over one `/ws` session.
//!
//! The two programs are played as the page's two workers would play them:
//! each makes its next call as soon as the previous one's reply comes, and
//! neither waits for the other. What is left out is the page's own time
//! (Python in WebAssembly, the workers' round trips through the page), so
//! the rate here is the ceiling the bridge allows.

use crate::client::{Endpoints, Error};
use crate::stats::{self, Latencies};
use futures_util::{SinkExt, StreamExt};
use protocol::program::HOSTNAME;
use protocol::{
    Bytes, ClientMsg, Family, Lane, PROTOCOL_VERSION, ProgramId, ServerMsg, SockOp, SockResult,
    SockValue, Transport,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const SERVER: ProgramId = 1;
const CLIENT: ProgramId = 2;

/// Runs `round_trips` echoes of `size` bytes and reports the rate (and,
/// with the bridge's `pid`, its CPU time per round trip).
pub async fn run(ep: Endpoints, pid: Option<u32>, round_trips: usize, size: usize) -> Value {
    let cpu_before = pid.and_then(stats::cpu_time);
    match measure(ep, round_trips, size).await {
        Ok((elapsed, mut latencies)) => {
            let secs = elapsed.as_secs_f64().max(1e-6);
            let cpu = cpu_before
                .zip(pid.and_then(stats::cpu_time))
                .map(|(before, after)| after.saturating_sub(before));
            let mut report = json!({
                "bench": "program_echo",
                "round_trips": round_trips,
                "payload_bytes": size,
                "socket_calls": round_trips * 4,
                "seconds": (secs * 1000.0).round() / 1000.0,
                "round_trips_per_s": (round_trips as f64 / secs).round(),
                "socket_calls_per_s": (round_trips as f64 * 4.0 / secs).round(),
                "rtt_p50_us": latencies.percentile(50.0),
                "rtt_p99_us": latencies.percentile(99.0),
                "goal_round_trips_per_s": 500,
            });
            if let Some(cpu) = cpu {
                report["bridge_cpu_us_per_round_trip"] =
                    json!((cpu.as_secs_f64() * 1e6 / round_trips.max(1) as f64).round());
            }
            report
        }
        Err(err) => json!({ "bench": "program_echo", "error": err.to_string() }),
    }
}

/// One `/ws` session with its two programs, and the calls it is waiting on.
struct Session {
    ws: e2e::page::Ws,
    calls: [u64; 2],
}

impl Session {
    async fn say(&mut self, msg: &ClientMsg) -> Result<(), Error> {
        self.ws
            .send(Message::text(serde_json::to_string(msg)?))
            .await?;
        Ok(())
    }

    /// Sends `program`'s next call; returns its number.
    async fn call(&mut self, program: ProgramId, op: SockOp) -> Result<u64, Error> {
        let slot = &mut self.calls[program as usize - 1];
        *slot += 1;
        let call = *slot;
        let msg = ClientMsg::SockCall {
            program,
            call,
            op,
            timeout_ms: None,
            line: Some(1),
            posted: false,
        };
        self.say(&msg).await?;
        Ok(call)
    }

    /// The next reply (trace events are skipped): which program, its value.
    async fn reply(&mut self) -> Result<(ProgramId, SockValue), Error> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .map_err(|_| "no reply within 10 s")?
                .ok_or("session closed")??;
            let Message::Text(text) = frame else { continue };
            match serde_json::from_str::<ServerMsg>(&text)? {
                ServerMsg::SockReply {
                    program,
                    result: SockResult::Ok(value),
                    ..
                } => return Ok((program, value)),
                ServerMsg::SockReply {
                    result: SockResult::Err(err),
                    ..
                } => return Err(format!("a call failed: {err:?}").into()),
                ServerMsg::Refused { message, .. } => return Err(message.into()),
                _ => {}
            }
        }
    }

    /// One call, and its reply (nothing else may be waiting).
    async fn ask(&mut self, program: ProgramId, op: SockOp) -> Result<SockValue, Error> {
        self.call(program, op).await?;
        Ok(self.reply().await?.1)
    }
}

async fn measure(
    ep: Endpoints,
    round_trips: usize,
    size: usize,
) -> Result<(Duration, Latencies), Error> {
    let url = format!("ws://{}/ws", ep.http);
    // No Nagle delay, as a browser's WebSocket: each call is one small
    // message that should leave at once.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    let mut session = Session { ws, calls: [0; 2] };
    session
        .say(&ClientMsg::Hello {
            version: PROTOCOL_VERSION,
        })
        .await?;
    for (program, lane, file) in [
        (SERVER, Lane::Server, "server.py"),
        (CLIENT, Lane::Client, "client.py"),
    ] {
        session
            .say(&ClientMsg::ProgramStart {
                program,
                lane,
                file: file.into(),
            })
            .await?;
    }
    let tcp = SockOp::Socket {
        family: Family::Ipv4,
        transport: Transport::Tcp,
    };
    let SockValue::Socket { sock: listener } = session.ask(SERVER, tcp.clone()).await? else {
        return Err("socket() returned no socket".into());
    };
    let bind = SockOp::Bind {
        sock: listener,
        host: HOSTNAME.into(),
        port: 1234,
    };
    session.ask(SERVER, bind).await?;
    let listen = SockOp::Listen {
        sock: listener,
        backlog: 5,
    };
    session.ask(SERVER, listen).await?;
    session
        .call(SERVER, SockOp::Accept { sock: listener })
        .await?;
    let SockValue::Socket { sock: client } = session.ask(CLIENT, tcp).await? else {
        return Err("socket() returned no socket".into());
    };
    let connect = SockOp::Connect {
        sock: client,
        host: HOSTNAME.into(),
        port: 1234,
    };
    session.call(CLIENT, connect).await?;
    let mut accepted = None;
    let mut connected = false;
    while accepted.is_none() || !connected {
        match session.reply().await? {
            (SERVER, SockValue::Accepted { sock, .. }) => accepted = Some(sock),
            (CLIENT, SockValue::Connected { .. }) => connected = true,
            other => return Err(format!("unexpected reply while connecting: {other:?}").into()),
        }
    }
    let conn = accepted.ok_or("no accept")?;

    let payload = Bytes((0..size).map(|i| b'a' + (i % 26) as u8).collect());
    let recv = |sock| SockOp::Recv { sock, max: 1024 };
    let sendall = |sock, data: Bytes| SockOp::Send {
        sock,
        data,
        all: true,
    };
    let mut latencies = Latencies::default();
    let started = Instant::now();
    // The server waits in recv(); the client sends.
    session.call(SERVER, recv(conn)).await?;
    let mut round_started = Instant::now();
    session
        .call(CLIENT, sendall(client, payload.clone()))
        .await?;
    let mut done = 0;
    let mut echoed = 0;
    while done < round_trips {
        match session.reply().await? {
            // server.py: `data = conn.recv(1024)`, then `conn.sendall(data)`.
            (SERVER, SockValue::Data { data }) if !data.is_empty() => {
                session.call(SERVER, sendall(conn, data)).await?;
            }
            (SERVER, SockValue::Sent { .. }) => {
                session.call(SERVER, recv(conn)).await?;
            }
            // client.py: `s.sendall(line)`, then `recv()` until the echo is
            // whole.
            (CLIENT, SockValue::Sent { .. }) => {
                session.call(CLIENT, recv(client)).await?;
            }
            (CLIENT, SockValue::Data { data }) if !data.is_empty() => {
                echoed += data.len();
                if echoed < size {
                    session.call(CLIENT, recv(client)).await?;
                    continue;
                }
                echoed = 0;
                done += 1;
                latencies.record(round_started.elapsed());
                if done < round_trips {
                    round_started = Instant::now();
                    session
                        .call(CLIENT, sendall(client, payload.clone()))
                        .await?;
                }
            }
            other => return Err(format!("unexpected reply: {other:?}").into()),
        }
    }
    let elapsed = started.elapsed();
    for program in [SERVER, CLIENT] {
        session.say(&ClientMsg::ProgramEnd { program }).await?;
    }
    let _ = session.ws.close(None).await;
    Ok((elapsed, latencies))
}
