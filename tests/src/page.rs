//! A student's page without a browser: a real bridge on port 0 (via
//! `bridge::app::Bridge::start`), and a [`Page`] that speaks the page's
//! protocol over a real tokio-tungstenite WebSocket on `/ws`. Also what
//! other WebSocket clients of those tests share: [`receive`], [`closed`],
//! [`refused_upgrade`], [`with_origin`], and [`http_get`].
//!
//! No sleeps: every wait is for a message, with a timeout ([`WAIT`]) so a
//! broken bridge fails the test instead of hanging it.

use bridge::app::{Bridge, RunningBridge};
use bridge::config::BridgeConfig;
use bridge::lab::LabArgs;
use futures_util::{SinkExt, StreamExt};
use protocol::{
    ClientMsg, ConnId, Data, Family, Lane, Mode, PROTOCOL_VERSION, ProgramId, Refusal, ServerId,
    ServerMsg, SockError, SockOp, SockResult, SockValue, StepKind, Target, TraceEvent, Transport,
};
use serde::de::DeserializeOwned;
use std::any::type_name;
use std::collections::HashMap;
use std::fmt::Debug;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long any one expected message may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A client WebSocket, as `connect_async` opens it.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The lab on free ports: the public TCP server in `mode`, and a UDP echo
/// server.
pub fn lab_args(mode: Mode) -> LabArgs {
    LabArgs {
        lab: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        udp: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        mode,
        ..LabArgs::default()
    }
}

/// A bridge with the default configuration and the lab in `mode`.
pub async fn start(mode: Mode) -> RunningBridge {
    Bridge::start_for_tests(mode).await.expect("bridge starts")
}

/// A bridge with `config` and the lab in `mode` (see [`lab_args`]).
pub async fn start_with(config: BridgeConfig, mode: Mode) -> RunningBridge {
    Bridge::start(config, &lab_args(mode))
        .await
        .expect("bridge starts")
}

/// Waits for `bridge`, once told to shut down, to stop cleanly within 10
/// seconds.
pub async fn stops_in_time(bridge: RunningBridge) {
    tokio::time::timeout(Duration::from_secs(10), bridge.handle)
        .await
        .expect("the bridge stops in time")
        .expect("joins")
        .expect("clean stop");
}

/// The loopback address of the tests' own peers and closed ports. A bridge
/// in the tests binds its lab servers on 127.0.0.1, so a listener here can
/// never be confused with one of them, even when the kernel hands out a
/// port number a test's listener already holds (seen once in CI: a target
/// and a lab server shared a port, and the target's connection reached the
/// lab server).
pub const OUTSIDE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A listener for a test's own peer (a target the bridge may be allowed to
/// reach), on [`OUTSIDE`].
pub async fn outside_listener() -> TcpListener {
    TcpListener::bind((OUTSIDE, 0)).await.expect("binds")
}

/// A port where nothing listens (bound, then closed) on [`OUTSIDE`], as
/// `IP:PORT`.
pub async fn closed_port() -> String {
    let listener = outside_listener().await;
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    addr
}

/// A plain HTTP/1.1 GET, the whole response as text.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut response))
        .await
        .expect("in time")
        .expect("reads");
    String::from_utf8_lossy(&response).into_owned()
}

/// Sends `request` (a whole HTTP/1.1 request head, `\r\n`-separated, as
/// a program or an attacker's page could) and returns the status and the
/// whole response as text.
pub async fn http_raw(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.expect("connects");
    tcp.write_all(request.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut response))
        .await
        .expect("in time")
        .expect("reads");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// A GET of `path` with this `Host` header (and `Connection: close`).
pub async fn http_get_as(addr: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    http_raw(addr, &request).await
}

/// A WebSocket request for `url` with these headers set (`Host` and
/// `Origin`, say: what a page on another site would send).
pub fn with_headers(url: &str, headers: &[(&'static str, &str)]) -> Request {
    let mut request = url.into_client_request().expect("request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, value.parse().expect("header value"));
    }
    request
}

/// The next text frame on `ws` as a `T`, added to `log` too. Pings and
/// pongs are skipped; anything else, a close, or nothing within [`WAIT`]
/// fails the test (showing `log`).
pub async fn receive<T: DeserializeOwned + Clone + Debug>(ws: &mut Ws, log: &mut Vec<T>) -> T {
    loop {
        let Ok(frame) = tokio::time::timeout(WAIT, ws.next()).await else {
            panic!("no message in time; seen: {log:#?}");
        };
        match frame.expect("the WebSocket is open").expect("a good frame") {
            Message::Text(text) => {
                let msg: T = serde_json::from_str(&text).unwrap_or_else(|err| {
                    panic!("not a valid {}: {err}: {text}", type_name::<T>())
                });
                log.push(msg.clone());
                return msg;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// A WebSocket request for `url` that comes from a page at `origin`.
pub fn with_origin(url: &str, origin: &str) -> Request {
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Origin", origin.parse().expect("header value"));
    request
}

/// Opens a WebSocket that the bridge must turn away before the upgrade;
/// returns the HTTP status and body it answers with.
pub async fn refused_upgrade(request: impl IntoClientRequest + Unpin) -> (StatusCode, String) {
    let request = request.into_client_request().expect("request");
    let uri = request.uri().clone();
    match connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            (response.status(), body)
        }
        other => panic!("expected {uri} refused with an HTTP status, got {other:?}"),
    }
}

/// Opens a WebSocket the bridge must turn away by its Origin: it opens
/// (a page cannot read an HTTP status) and its first frame is a close with
/// 1008 (policy) and a reason naming the fix. Returns the reason.
pub async fn refused_by_policy(request: impl IntoClientRequest + Unpin) -> String {
    let request = request.into_client_request().expect("request");
    let uri = request.uri().clone();
    let (mut ws, _) = connect_async(request)
        .await
        .unwrap_or_else(|err| panic!("{uri}: the upgrade should open, then close: {err}"));
    first_close_is_policy(&uri.to_string(), ws.next().await)
}

/// Checks that `first`, the first frame of a WebSocket, is a close with
/// 1008 (policy) and a reason naming `--allow-origin`; returns the reason.
pub fn first_close_is_policy(
    what: &str,
    first: Option<Result<Message, tungstenite::Error>>,
) -> String {
    match first {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, CloseCode::Policy, "{what}: {}", frame.reason);
            assert!(
                frame.reason.contains("--allow-origin"),
                "{what}: {}",
                frame.reason
            );
            frame.reason.to_string()
        }
        other => panic!("{what}: expected a close with 1008 first, got {other:?}"),
    }
}

/// Waits for the close frame on `ws`, skipping whatever comes before it;
/// returns its code and reason.
pub async fn closed(ws: &mut Ws) -> (CloseCode, String) {
    close_frame(ws, |_| {}).await
}

/// Waits for the close frame on `ws`, handing each text frame before it to
/// `text`; returns its code and reason.
async fn close_frame(ws: &mut Ws, mut text: impl FnMut(&str)) -> (CloseCode, String) {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a close in time");
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (frame.code, frame.reason.to_string());
            }
            Some(Ok(Message::Text(frame))) => text(&frame),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Whether `msg` is the event `step` on `lane` for `conn`.
pub fn is_step(msg: &ServerMsg, lane: Lane, conn: ConnId, step: StepKind) -> bool {
    step_matches(msg, lane, conn, step, None)
}

/// [`is_step`], carrying exactly `data`.
pub fn is_step_with(
    msg: &ServerMsg,
    lane: Lane,
    conn: ConnId,
    step: StepKind,
    data: &[u8],
) -> bool {
    step_matches(msg, lane, conn, step, Some(data))
}

fn step_matches(
    msg: &ServerMsg,
    lane: Lane,
    conn: ConnId,
    step: StepKind,
    data: Option<&[u8]>,
) -> bool {
    matches!(msg, ServerMsg::Trace(event)
        if event.lane == lane
            && event.conn == Some(conn)
            && event.step.kind() == step
            && data.is_none_or(|data| event.step.data().is_some_and(|d| d.0 == data)))
}

/// A student's browser tab: a WebSocket on `/ws` and everything it has
/// received.
pub struct Page {
    pub ws: Ws,
    /// The address the bridge sees this page at.
    pub local: SocketAddr,
    /// Every message from the bridge so far, the hello first.
    pub seen: Vec<ServerMsg>,
    /// Each program's latest call number (programs number calls from 1).
    calls: HashMap<ProgramId, u64>,
}

impl Page {
    /// A page over a WebSocket opened elsewhere (its hello not yet read).
    pub fn from_ws(ws: Ws, local: SocketAddr) -> Page {
        Page {
            ws,
            local,
            seen: Vec::new(),
            calls: HashMap::new(),
        }
    }

    /// Opens `/ws`, reads the bridge's hello and says ours.
    pub async fn open(bridge: &RunningBridge) -> Page {
        let mut page = Page::open_silent(bridge).await;
        page.say(ClientMsg::Hello {
            version: PROTOCOL_VERSION,
        })
        .await;
        page
    }

    /// Opens `/ws` and reads the bridge's hello, saying nothing yet.
    pub async fn open_silent(bridge: &RunningBridge) -> Page {
        let (ws, _) = connect_async(bridge.ws_url()).await.expect("ws opens");
        let MaybeTlsStream::Plain(tcp) = ws.get_ref() else {
            panic!("a plain TCP WebSocket");
        };
        let local = tcp.local_addr().expect("local address");
        let mut page = Page {
            ws,
            local,
            seen: Vec::new(),
            calls: HashMap::new(),
        };
        match page.next().await {
            ServerMsg::Hello { version, .. } => assert_eq!(version, PROTOCOL_VERSION),
            other => panic!("expected hello first, got {other:?}"),
        }
        page
    }

    /// Sends `msg` as JSON.
    pub async fn say(&mut self, msg: ClientMsg) {
        let json = serde_json::to_string(&msg).expect("serializes");
        self.ws.send(Message::text(json)).await.expect("ws send");
    }

    /// Sends `msg` as it is (for what a good page would never send).
    pub async fn say_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.expect("ws send");
    }

    /// The next message from the bridge (panics on close or timeout).
    pub async fn next(&mut self) -> ServerMsg {
        receive(&mut self.ws, &mut self.seen).await
    }

    /// Reads until a new message matches `want`, returning it. Messages
    /// already seen do not count: each call waits for one more.
    pub async fn until(&mut self, what: &str, want: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} in time; seen: {:#?}",
                self.seen
            );
            let msg = self.next().await;
            if want(&msg) {
                return msg;
            }
        }
    }

    /// Reads until the event `step` on `lane` for `conn`.
    /// Returns the first such event at once if it was already seen (each
    /// step but `recv` happens once per connection; loops over `recv` use
    /// [`Page::next`], or [`Page::until_step_with`] to tell them apart).
    pub async fn until_step(&mut self, lane: Lane, conn: ConnId, step: StepKind) -> TraceEvent {
        self.until_step_matching(lane, conn, step, None).await
    }

    /// [`Page::until_step`] for the event that carries exactly `data`.
    pub async fn until_step_with(
        &mut self,
        lane: Lane,
        conn: ConnId,
        step: StepKind,
        data: &[u8],
    ) -> TraceEvent {
        self.until_step_matching(lane, conn, step, Some(data)).await
    }

    async fn until_step_matching(
        &mut self,
        lane: Lane,
        conn: ConnId,
        step: StepKind,
        data: Option<&[u8]>,
    ) -> TraceEvent {
        let want = |msg: &ServerMsg| step_matches(msg, lane, conn, step, data);
        let msg = match self.seen.iter().find(|msg| want(msg)) {
            Some(msg) => msg.clone(),
            None => {
                let what = match data {
                    Some(data) => format!(
                        "{lane:?} {step} of {:?} on conn {conn}",
                        String::from_utf8_lossy(data)
                    ),
                    None => format!("{lane:?} {step} of conn {conn}"),
                };
                self.until(&what, want).await
            }
        };
        match msg {
            ServerMsg::Trace(event) => event,
            _ => unreachable!(),
        }
    }

    /// An event already seen: `step` on `lane` for `conn`.
    pub fn seen_step(&self, lane: Lane, conn: ConnId, step: StepKind) -> TraceEvent {
        self.events(lane, conn)
            .find(|event| event.step.kind() == step)
            .cloned()
            .unwrap_or_else(|| panic!("no {lane:?} {step} of conn {conn} seen"))
    }

    /// Reads until the next `refused`; returns its reason and message.
    pub async fn until_refused(&mut self) -> (Refusal, String) {
        match self
            .until("refused", |msg| matches!(msg, ServerMsg::Refused { .. }))
            .await
        {
            ServerMsg::Refused {
                reason, message, ..
            } => (reason, message),
            _ => unreachable!(),
        }
    }

    /// Starts private server `id` and returns its address (panics if it is
    /// refused).
    pub async fn start_server(&mut self, id: ServerId, mode: Mode, transport: Transport) -> String {
        self.say(ClientMsg::StartServer {
            server: id,
            mode,
            transport,
            family: Family::Ipv4,
            backlog: None,
            greeting: None,
        })
        .await;
        match self
            .until("server_started", |msg| {
                matches!(
                    msg,
                    ServerMsg::ServerStarted { .. } | ServerMsg::Refused { .. }
                )
            })
            .await
        {
            ServerMsg::ServerStarted { server, addr, .. } => {
                assert_eq!(server, id);
                addr
            }
            other => panic!("server did not start: {other:?}"),
        }
    }

    /// Connects `conn` to `target` over TCP.
    pub async fn connect(&mut self, conn: ConnId, target: Target) {
        self.say(ClientMsg::Connect {
            conn,
            target,
            transport: Transport::Tcp,
        })
        .await;
    }

    /// Sends `text` on `conn`.
    pub async fn send_text(&mut self, conn: ConnId, text: &str) {
        self.say(ClientMsg::Send {
            conn,
            data: Data::Text(text.to_string()),
        })
        .await;
    }

    /// The steps seen so far on `lane` for `conn`, with runs of `recv`
    /// merged (TCP may split or join reads).
    pub fn steps(&self, lane: Lane, conn: ConnId) -> Vec<StepKind> {
        let mut steps: Vec<StepKind> = Vec::new();
        for event in self.events(lane, conn) {
            let kind = event.step.kind();
            if kind == StepKind::Recv && steps.last() == Some(&StepKind::Recv) {
                continue;
            }
            steps.push(kind);
        }
        steps
    }

    /// The events seen so far on `lane` for `conn`, in order.
    pub fn events(&self, lane: Lane, conn: ConnId) -> impl Iterator<Item = &TraceEvent> {
        self.seen.iter().filter_map(move |msg| match msg {
            ServerMsg::Trace(event) if event.lane == lane && event.conn == Some(conn) => {
                Some(event)
            }
            _ => None,
        })
    }

    /// All bytes carried by `step` (recv or send) on `lane` for `conn`.
    pub fn bytes(&self, lane: Lane, conn: ConnId, step: StepKind) -> Vec<u8> {
        self.events(lane, conn)
            .filter(|event| event.step.kind() == step)
            .flat_map(|event| {
                event
                    .step
                    .data()
                    .map(|data| data.0.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// How many trace events (of any lane and connection) were seen.
    pub fn event_count(&self) -> u64 {
        self.seen
            .iter()
            .filter(|msg| matches!(msg, ServerMsg::Trace(_)))
            .count() as u64
    }

    /// The label of the latest trace event seen.
    pub fn last_label(&self) -> Option<String> {
        self.seen.iter().rev().find_map(|msg| match msg {
            ServerMsg::Trace(event) => Some(event.step.label()),
            _ => None,
        })
    }

    /// Everything seen after the hello: what the instructor's history of
    /// this session should be.
    pub fn after_hello(&self) -> &[ServerMsg] {
        &self.seen[1..]
    }

    /// Waits for the close frame and returns its code and reason; the
    /// messages before it are added to [`Page::seen`].
    pub async fn closed(&mut self) -> (CloseCode, String) {
        let seen = &mut self.seen;
        close_frame(&mut self.ws, |text| {
            if let Ok(msg) = serde_json::from_str(text) {
                seen.push(msg);
            }
        })
        .await
    }

    /// Starts a student program: `file` drawn on `lane`.
    pub async fn program_start(&mut self, program: ProgramId, lane: Lane, file: &str) {
        self.say(ClientMsg::ProgramStart {
            program,
            lane,
            file: file.to_string(),
        })
        .await;
    }

    /// Sends `program`'s next socket call, made on `line`, without waiting
    /// for its reply (a server's `accept()` waits for a client); returns
    /// its call number, for [`Page::sock_reply`].
    pub async fn sock_send(
        &mut self,
        program: ProgramId,
        op: SockOp,
        line: u32,
        timeout_ms: Option<u64>,
    ) -> u64 {
        self.sock_message(program, op, line, timeout_ms, false)
            .await
    }

    /// Sends `program`'s next call as the page sends a blocking TCP send:
    /// `posted`, the program going on without waiting for its reply.
    pub async fn sock_post(&mut self, program: ProgramId, op: SockOp, line: u32) -> u64 {
        self.sock_message(program, op, line, None, true).await
    }

    async fn sock_message(
        &mut self,
        program: ProgramId,
        op: SockOp,
        line: u32,
        timeout_ms: Option<u64>,
        posted: bool,
    ) -> u64 {
        let call = self.calls.entry(program).or_insert(0);
        *call += 1;
        let call = *call;
        self.say(ClientMsg::SockCall {
            program,
            call,
            op,
            timeout_ms,
            line: Some(line),
            posted,
        })
        .await;
        call
    }

    /// The reply to `program`'s call `call` (already seen, or the next one
    /// to come).
    pub async fn sock_reply(&mut self, program: ProgramId, call: u64) -> SockResult {
        let want = |msg: &ServerMsg| matches!(msg, ServerMsg::SockReply { program: p, call: c, .. } if *p == program && *c == call);
        let msg = match self.seen.iter().find(|msg| want(msg)) {
            Some(msg) => msg.clone(),
            None => {
                self.until(
                    &format!("the reply to program {program}'s call {call}"),
                    want,
                )
                .await
            }
        };
        match msg {
            ServerMsg::SockReply { result, .. } => result,
            _ => unreachable!(),
        }
    }

    /// One socket call of `program`, made on `line`, and its result.
    pub async fn sock(&mut self, program: ProgramId, op: SockOp, line: u32) -> SockResult {
        let call = self.sock_send(program, op, line, None).await;
        self.sock_reply(program, call).await
    }

    /// A call that must succeed: its value.
    pub async fn sock_ok(&mut self, program: ProgramId, op: SockOp, line: u32) -> SockValue {
        let shown = format!("{op:?}");
        match self.sock(program, op, line).await {
            SockResult::Ok(value) => value,
            SockResult::Err(err) => panic!("program {program}: {shown} failed: {err:?}"),
        }
    }

    /// A call that must fail: its error.
    pub async fn sock_err(&mut self, program: ProgramId, op: SockOp, line: u32) -> SockError {
        let shown = format!("{op:?}");
        match self.sock(program, op, line).await {
            SockResult::Err(err) => err,
            SockResult::Ok(value) => panic!("program {program}: {shown} succeeded: {value:?}"),
        }
    }

    /// Ends `program`; returns how many sockets the bridge closed for it.
    pub async fn program_end(&mut self, program: ProgramId) -> u32 {
        self.say(ClientMsg::ProgramEnd { program }).await;
        let ended = self
            .until(
                &format!("program {program} ended"),
                |msg| matches!(msg, ServerMsg::ProgramEnded { program: p, .. } if *p == program),
            )
            .await;
        match ended {
            ServerMsg::ProgramEnded { closed, .. } => closed,
            _ => unreachable!(),
        }
    }

    /// The trace events of `program` seen so far (its `source` names it).
    pub fn program_events(&self, program: ProgramId) -> Vec<&TraceEvent> {
        self.seen
            .iter()
            .filter_map(|msg| match msg {
                ServerMsg::Trace(event)
                    if event.source.as_ref().is_some_and(|s| s.program == program) =>
                {
                    Some(event)
                }
                _ => None,
            })
            .collect()
    }
}
