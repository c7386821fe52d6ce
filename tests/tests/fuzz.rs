//! A structured mutation fuzzer for the bridge's two doors: the `/ws`
//! protocol and the HTTP front door, on a real bridge over real sockets.
//!
//! - `/ws`: commands with random fields (ids, modes, targets, data), the
//!   same JSON mutated (bytes replaced, cut, repeated, nested), garbage
//!   text, binary frames, frames that break the WebSocket rules, oversize
//!   messages. Oracle: every input gets an answer within a bound: a reply,
//!   a `refused`, or a close frame with a code (never 1005 or 1006) and a
//!   reason. After each input a probe (closing a connection id no input
//!   uses) must be refused: until its refusal arrives, the input is still
//!   being answered; if the session closes instead, the close must say why.
//! - HTTP: request heads with random methods, paths (long segments,
//!   escapes, bytes), Host and Origin values and headers, some malformed.
//!   Oracle: a response within a bound, never a 5xx.
//!
//! Meanwhile a bystander session echoes and checks every byte.
//!
//! `FUZZ_INPUTS=200000 cargo test -p e2e --test fuzz --release` runs more;
//! `FUZZ_SEED=N` replays a run (each run prints its seed).

use bridge::app::RunningBridge;
use e2e::page::{Page, WAIT, start};
use futures_util::{SinkExt, StreamExt};
use protocol::{
    Bytes, ClientMsg, Data, Family, Lane, Mode, PROTOCOL_VERSION, ServerMsg, StepKind, Target,
    Transport,
};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{
    CloseCode, Control, Data as OpData, OpCode,
};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

/// Inputs per door, unless `FUZZ_INPUTS` says otherwise.
fn inputs(default: usize) -> usize {
    std::env::var("FUZZ_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A seeded generator; the seed is printed so a failure can be replayed.
fn rng(door: &str) -> StdRng {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| rand::rng().next_u64());
    println!("{door}: FUZZ_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// A bystander: echoes on the public server until told to stop, checking
/// every byte; returns how many echoes came back right.
fn bystander(bridge: &RunningBridge, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let url = bridge.ws_url();
    tokio::spawn(async move {
        let (ws, _) = connect_async(url).await.expect("bystander opens");
        let mut page = Page::from_ws(ws, "127.0.0.1:0".parse().expect("addr"));
        page.next().await; // hello
        page.say(ClientMsg::Hello {
            version: PROTOCOL_VERSION,
        })
        .await;
        page.connect(1, Target::Public).await;
        page.until_step(Lane::Client, 1, StepKind::Connected).await;
        let mut echoes = 0;
        let mut expected = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let text = format!("bystander {echoes};");
            expected.extend_from_slice(text.as_bytes());
            page.send_text(1, &text).await;
            while page.bytes(Lane::Client, 1, StepKind::Recv).len() < expected.len() {
                page.next().await;
            }
            assert_eq!(
                page.bytes(Lane::Client, 1, StepKind::Recv),
                expected,
                "the bystander's echo"
            );
            echoes += 1;
            page.seen
                .retain(|msg| !matches!(msg, ServerMsg::Refused { .. }));
        }
        echoes
    })
}

/// Connection ids the inputs use (the probe's are far above them).
fn conn_id(rng: &mut StdRng) -> u32 {
    match rng.random_range(0..10) {
        0 => 0,
        1 => u32::MAX,
        _ => rng.random_range(1..20),
    }
}

fn text(rng: &mut StdRng, max: usize) -> String {
    let len = rng.random_range(0..max);
    (0..len)
        .map(|_| match rng.random_range(0..4) {
            0 => char::from(rng.random_range(0u8..128)),
            1 => ['é', '€', '😀', '\u{0}', '\u{ffff}', '"', '\\'][rng.random_range(0..7)],
            _ => char::from(rng.random_range(b'a'..=b'z')),
        })
        .collect()
}

/// A well-formed command with random fields.
fn command(rng: &mut StdRng) -> ClientMsg {
    let mode = [Mode::Connect, Mode::Greet, Mode::Echo][rng.random_range(0..3)];
    let transport = [Transport::Tcp, Transport::Udp][rng.random_range(0..2)];
    let target = match rng.random_range(0..4) {
        0 => Target::Public,
        1 => Target::Server { id: conn_id(rng) },
        2 => Target::Addr {
            addr: ["127.0.0.1:1", "example.org:80", "[::1]:0", "x", ""][rng.random_range(0..5)]
                .into(),
        },
        _ => Target::Addr {
            addr: text(rng, 30),
        },
    };
    match rng.random_range(0..9) {
        0 => ClientMsg::Hello {
            version: if rng.random_bool(0.5) {
                PROTOCOL_VERSION
            } else {
                rng.random()
            },
        },
        1 => ClientMsg::StartServer {
            server: conn_id(rng),
            mode,
            transport,
            family: [Family::Ipv4, Family::Ipv6][rng.random_range(0..2)],
            backlog: rng.random_bool(0.5).then(|| rng.random_range(0..70_000)),
            greeting: rng.random_bool(0.5).then(|| text(rng, 100)),
        },
        2 => ClientMsg::StopServer {
            server: conn_id(rng),
        },
        3 => ClientMsg::PauseAccept {
            server: conn_id(rng),
            paused: rng.random(),
        },
        4 => ClientMsg::Connect {
            conn: conn_id(rng),
            target,
            transport,
        },
        5 | 6 => ClientMsg::Send {
            conn: conn_id(rng),
            data: if rng.random() {
                Data::Text(text(rng, 2000))
            } else {
                let mut bytes = vec![0u8; rng.random_range(0..2000)];
                rng.fill_bytes(&mut bytes);
                Data::Hex(Bytes(bytes))
            },
        },
        7 => ClientMsg::Shutdown { conn: conn_id(rng) },
        _ => ClientMsg::Close { conn: conn_id(rng) },
    }
}

/// A frame that breaks the WebSocket rules.
fn broken_frame(rng: &mut StdRng) -> Message {
    let (opcode, rsv1, payload): (OpCode, bool, Vec<u8>) = match rng.random_range(0..5) {
        0 => (OpCode::Data(OpData::Text), false, vec![0xff, 0xc3, 0x28]),
        1 => (OpCode::Data(OpData::Text), true, b"{}".to_vec()),
        2 => (
            OpCode::Data(OpData::Reserved(rng.random_range(3..8))),
            false,
            b"x".to_vec(),
        ),
        3 => (
            OpCode::Control(Control::Reserved(rng.random_range(11..16))),
            false,
            vec![],
        ),
        _ => (OpCode::Data(OpData::Continue), false, b"x".to_vec()),
    };
    let header = FrameHeader {
        is_final: true,
        rsv1,
        opcode,
        ..FrameHeader::default()
    };
    Message::Frame(Frame::from_payload(header, payload.into()))
}

/// One input for `/ws`.
fn ws_input(rng: &mut StdRng) -> Message {
    match rng.random_range(0..100) {
        0..40 => Message::text(serde_json::to_string(&command(rng)).unwrap_or_default()),
        40..70 => {
            // The same JSON, mutated.
            let mut bytes = serde_json::to_string(&command(rng))
                .unwrap_or_default()
                .into_bytes();
            for _ in 0..rng.random_range(1..4) {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.random_range(0..bytes.len());
                match rng.random_range(0..4) {
                    0 => {
                        let tokens = b"{}[]\":,0-9ae\\ ";
                        bytes[at] = tokens[rng.random_range(0..tokens.len())];
                    }
                    1 => bytes.truncate(at),
                    2 => {
                        let piece = bytes[at..].to_vec();
                        bytes.extend_from_slice(&piece);
                    }
                    _ => bytes.insert(at, rng.random_range(b' '..=b'~')),
                }
            }
            Message::text(String::from_utf8_lossy(&bytes).into_owned())
        }
        70..78 => Message::text(text(rng, 200)),
        78..82 => {
            let depth = rng.random_range(100..2000);
            Message::text(format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
        }
        82..86 => {
            let mut bytes = vec![0u8; rng.random_range(0..500)];
            rng.fill_bytes(&mut bytes);
            Message::binary(bytes)
        }
        86..89 => Message::Ping(vec![1, 2, 3].into()),
        89..93 => Message::text(format!(
            r#"{{"type":"send","conn":{},"data":{{"text":"{}"}}}}"#,
            ["-1", "1e99", "4294967296", "null", "\"1\"", "1.5"][rng.random_range(0..6)],
            text(rng, 10).replace(['"', '\\'], "")
        )),
        93..97 => broken_frame(rng),
        _ => Message::text("x".repeat(70_000)),
    }
}

/// Where fuzzing `/ws` stands.
#[derive(Debug, Default)]
struct WsTally {
    answered: u64,
    closed: u64,
    codes: std::collections::BTreeMap<u16, u64>,
}

/// A greeted session for the fuzzer.
async fn session(bridge: &RunningBridge) -> e2e::page::Ws {
    let (mut ws, _) = connect_async(bridge.ws_url()).await.expect("opens");
    let hello = ClientMsg::Hello {
        version: PROTOCOL_VERSION,
    };
    ws.send(Message::text(serde_json::to_string(&hello).expect("json")))
        .await
        .expect("hello");
    ws
}

/// Every `/ws` input is answered in bounded time (a reply, a refusal, or
/// a close with a code and a reason), and a bystander's echoes stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ws_input_gets_an_answer() {
    let count = inputs(10_000);
    let mut rng = rng("ws");
    let bridge = start(Mode::Echo).await;
    let stop = Arc::new(AtomicBool::new(false));
    let echoes = bystander(&bridge, stop.clone());
    let started = Instant::now();
    let mut tally = WsTally::default();
    let mut ws = session(&bridge).await;
    // Inputs go in windows of up to WINDOW, each followed by its probe;
    // the bridge answers in order, so the probes answered say which
    // inputs were, and a close belongs to the first input not answered.
    // The inputs after it go again, on a new session.
    const WINDOW: usize = 32;
    let mut pending: std::collections::VecDeque<Message> =
        (0..count).map(|_| ws_input(&mut rng)).collect();
    let mut next_probe: u32 = 1_000_000_000;
    while !pending.is_empty() {
        let window: Vec<Message> = pending.drain(..pending.len().min(WINDOW)).collect();
        let first_probe = next_probe;
        for input in &window {
            let _ = ws.feed(input.clone()).await;
            let probe = ClientMsg::Close { conn: next_probe };
            next_probe += 1;
            let _ = ws
                .feed(Message::text(serde_json::to_string(&probe).expect("json")))
                .await;
        }
        let _ = ws.flush().await;
        let last_probe = first_probe + window.len() as u32 - 1;
        let mut answered = 0usize;
        let describe = |k: usize| {
            let shown = format!("{:?}", window[k]);
            shown[..shown.len().min(200)].to_string()
        };
        let ending = tokio::time::timeout(WAIT, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let msg: ServerMsg = serde_json::from_str(&text)
                            .unwrap_or_else(|err| panic!("not a ServerMsg ({err}): {text}"));
                        if let ServerMsg::Refused {
                            conn: Some(conn), ..
                        } = msg
                            && (first_probe..=last_probe).contains(&conn)
                        {
                            answered = (conn - first_probe) as usize + 1;
                            if conn == last_probe {
                                return None;
                            }
                        }
                    }
                    Some(Ok(Message::Close(frame))) => return Some(frame),
                    Some(Ok(_)) => {}
                    other => panic!(
                        "input {} ({}): the connection ended without a close frame: {other:?}",
                        answered,
                        describe(answered.min(window.len() - 1))
                    ),
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "input {} ({}): no answer within {WAIT:?}",
                answered,
                describe(answered.min(window.len() - 1))
            )
        });
        tally.answered += answered as u64;
        if let Some(frame) = ending {
            let culprit = describe(answered.min(window.len() - 1));
            let frame =
                frame.unwrap_or_else(|| panic!("input ({culprit}): closed with no status (1005)"));
            let code = u16::from(frame.code);
            assert!(
                !matches!(frame.code, CloseCode::Status | CloseCode::Abnormal),
                "input ({culprit}): {code}"
            );
            assert!(
                !frame.reason.is_empty(),
                "input ({culprit}): close {code} without a reason"
            );
            *tally.codes.entry(code).or_default() += 1;
            tally.closed += 1;
            // The inputs after the one that closed the session go again.
            for input in window.into_iter().skip(answered + 1).rev() {
                pending.push_front(input);
            }
            ws = session(&bridge).await;
        }
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let echoed = echoes.await.expect("the bystander kept echoing");
    println!(
        "/ws fuzz: {count} inputs in {took:?}: {} answered in the session, {} closed with codes {:?}; \
         bystander: {echoed} exact echoes",
        tally.answered, tally.closed, tally.codes
    );
    assert!(echoed > 0);
    bridge.stop().await.expect("clean stop");
}

/// A random HTTP request head: method, path, Host, Origin, headers; some
/// malformed.
fn http_input(rng: &mut StdRng, addr: &str) -> Vec<u8> {
    let method = [
        "GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "BREW", "G\tET", "",
    ][rng.random_range(0..9)];
    let segment = |rng: &mut StdRng| match rng.random_range(0..6) {
        0 => "a".repeat(rng.random_range(200..400)),
        1 => "%2e%2e".into(),
        2 => "..".into(),
        3 => format!("%{:02x}", rng.random::<u8>()),
        4 => text(rng, 20)
            .chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#'))
            .collect(),
        _ => ["ws", "watch", "relay", "metrics", "index.html", "assets"][rng.random_range(0..6)]
            .into(),
    };
    let path: String = (0..rng.random_range(0..5))
        .map(|_| format!("/{}", segment(rng)))
        .collect();
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    let host = match rng.random_range(0..5) {
        0 => addr.to_string(),
        1 => "localhost".into(),
        2 => "evil.example".into(),
        3 => text(rng, 30).replace(['\r', '\n'], ""),
        _ => String::new(),
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !host.is_empty() || rng.random_bool(0.5) {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for _ in 0..rng.random_range(0..4) {
        let header = match rng.random_range(0..6) {
            0 => "Origin: https://evil.example".to_string(),
            1 => "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".to_string(),
            2 => format!("Content-Length: {}", rng.random_range(0..100)),
            3 => format!("X-{}: {}", text(rng, 10).replace(['\r', '\n', ':'], ""), text(rng, 50).replace(['\r', '\n'], "")),
            4 => "Transfer-Encoding: chunked".to_string(),
            _ => "no colon here".to_string(),
        };
        head.push_str(&header);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    // Now and then one byte of the head (not of its final blank line)
    // replaced by any byte.
    if rng.random_bool(0.1) {
        let at = rng.random_range(0..bytes.len() - 4);
        bytes[at] = rng.random();
    }
    bytes
}

/// Every HTTP request head gets a response (or, if it is not HTTP at all,
/// the connection closes) in bounded time, never a 5xx; a bystander's
/// echoes stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_request_gets_a_response_and_no_5xx() {
    let count = inputs(10_000);
    let mut rng = rng("http");
    let bridge = start(Mode::Echo).await;
    let stop = Arc::new(AtomicBool::new(false));
    let echoes = bystander(&bridge, stop.clone());
    let addr = bridge.http_addr.to_string();
    let statuses = Arc::new(std::sync::Mutex::new(
        std::collections::BTreeMap::<u16, u64>::new(),
    ));
    let closed_without_response = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    // Eight at a time.
    let mut inputs: Vec<Vec<u8>> = (0..count).map(|_| http_input(&mut rng, &addr)).collect();
    while !inputs.is_empty() {
        let batch: Vec<Vec<u8>> = inputs.drain(..inputs.len().min(8)).collect();
        let mut running = Vec::new();
        for request in batch {
            let http = bridge.http_addr;
            let statuses = statuses.clone();
            let closed = closed_without_response.clone();
            running.push(tokio::spawn(async move {
                let mut tcp = TcpStream::connect(http).await.expect("connects");
                let _ = tcp.write_all(&request).await;
                let mut response = Vec::new();
                // Enough to see the status line (a 101 stays open).
                let read = tokio::time::timeout(WAIT, async {
                    let mut buf = [0u8; 4096];
                    loop {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => response.extend_from_slice(&buf[..n]),
                        }
                        if response.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                })
                .await;
                let shown = String::from_utf8_lossy(&request).into_owned();
                assert!(read.is_ok(), "no response within {WAIT:?} to {shown:?}");
                let head = String::from_utf8_lossy(&response).into_owned();
                match head.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()) {
                    Some(status) => {
                        assert!(status < 500, "{status} for {shown:?}: {head}");
                        *statuses.lock().expect("tally").entry(status).or_default() += 1;
                    }
                    None => {
                        assert!(head.is_empty(), "not a response to {shown:?}: {head}");
                        closed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for request in running {
            request.await.expect("a request");
        }
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let echoed = echoes.await.expect("the bystander kept echoing");
    println!(
        "HTTP fuzz: {count} requests in {took:?}: statuses {:?}, {} closed without a response \
         (not HTTP); bystander: {echoed} exact echoes",
        statuses.lock().expect("tally"),
        closed_without_response.load(Ordering::Relaxed)
    );
    assert!(echoed > 0);
    bridge.stop().await.expect("clean stop");
}
