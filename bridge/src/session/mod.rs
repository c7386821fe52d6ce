//! [`RelaySession`]: one browser tab's WebSocket on `/ws`, turned into real
//! sockets.
//!
//! The page sends JSON commands ([`ClientMsg`]); the session performs them
//! on real sockets as the client (and starts private lab servers on
//! request), and answers with [`ServerMsg`]s: replies, refusals, and the
//! [`TraceEvent`](protocol::TraceEvent)s of both lanes.
//!
//! - `connection.rs`: [`ClientConnection`], one client socket, its own task.
//! - `forward.rs`: [`ServerLane`], a lab server's events for this session.
//!
//! Everything goes back to the page through one [`Outbox`]
//! ([`crate::outbox`]) and the batched writer ([`crate::ws::writer`]).
//!
//! A session is written against any `Stream + Sink` of WebSocket messages,
//! so its logic is tested with in-memory channels as well as real sockets.
//!
//! # What closes a session, and with which code
//!
//! - The page closes it, or goes away: no close frame needed.
//! - The first message is not `hello` with our version: `refused`
//!   (`version`), then close code 1002 (protocol error).
//! - A message larger than `--max-message-bytes`: close code 1009 (message
//!   too big). The WebSocket library stops reading at the limit, so the
//!   rest of that message cannot be skipped and the session cannot go on.
//! - A frame that breaks the WebSocket rules: 1007 (text that is not
//!   UTF-8) or 1002 (reserved bits or opcodes...), with the rule broken
//!   (see [`crate::ws::close`]).
//! - Nothing from the page for `--session-idle-timeout`: close code 1001.
//!   Nor may the page stop reading for that long while the bridge has
//!   something to write to it: a frozen page is closed too (1001), so it
//!   cannot hold its sockets forever.
//! - The bridge shuts down: close code 1001, "bridge shutting down".
//!
//! Everything else a page can get wrong (malformed JSON, an unknown
//! command, a binary frame, an unknown id) is a `refused` message naming
//! what was wrong, and the session carries on.

mod connection;
mod forward;

pub use connection::{ClientConnection, ConnCommand, ServerRoute};
pub use forward::ServerLane;

use crate::clock::Clock;
use crate::config::SessionLimits;
use crate::lab::{LabConfig, LabControl, LabLimits, LabServer, PublicLab, UdpEchoServer};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Queued};
use crate::program::{CallRequest, ProgramEnv, Programs};
use crate::route::{self, Locals, RouteReceiver, RouteSink};
use crate::targets::{Targets, connect_addr};
use crate::trace::{self, TRACE_CAPACITY, Tracer};
use crate::watch::SessionTap;
use crate::ws::bridge_version;
use crate::ws::close::{self, Ending, ReadFailure};
use crate::ws::writer::{Bounds, Wire, write_messages};
use axum::extract::ws::{Message, Utf8Bytes};
use connection::{COMMAND_QUEUE, SocketBudget};
use futures_util::{Sink, Stream, StreamExt};
use protocol::program::{SockResult, SockValue};
use protocol::{
    CheckReport, ClientMsg, ConnId, DEFAULT_GREETING, Data, ErrorKind, Family, Lane, Mode,
    PROTOCOL_VERSION, PUBLIC_SERVER, PublicServer, Refusal, ServerId, ServerMsg, Step, Target,
    TraceEvent, Transport,
};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What every session of a bridge shares.
#[derive(Debug, Clone)]
pub struct SessionEnv {
    pub clock: Clock,
    pub limits: SessionLimits,
    /// Where the page's client may connect besides the session's own
    /// servers: the public lab, the `--allow-target`s.
    pub targets: Targets,
    /// The public lab server, if this bridge runs one.
    pub public: Option<PublicLab>,
    pub metrics: Arc<Metrics>,
}

/// One browser tab's session.
#[derive(Debug)]
pub struct RelaySession {
    env: Arc<SessionEnv>,
    outbox: Outbox,
    /// The outbox's receiving end, taken by the writer when the session runs.
    queue: Option<mpsc::UnboundedReceiver<Queued>>,
    /// Cancelled when the session ends: stops its connections, servers and
    /// forwarders. A child of the bridge's shutdown token.
    token: CancellationToken,
    /// The session's tasks, waited for (briefly) when it ends.
    tasks: TaskTracker,
    /// Bytes of `send` data waiting for sockets, one permit per byte: a
    /// `send` that does not fit is refused rather than queued.
    to_sockets: Arc<Semaphore>,
    locals: Locals,
    servers: HashMap<ServerId, PrivateServer>,
    /// Where stopped servers listened, newest last (at most
    /// [`STOPPED_REMEMBERED`]): a client aimed at one connects to that real
    /// address, where nothing listens now, and the operating system itself
    /// refuses it (the lesson), rather than the bridge saying "no server".
    stopped: VecDeque<(ServerId, SocketAddr, Transport)>,
    conns: HashMap<ConnId, ConnHandle>,
    /// Where the writer records what it sends (the instructor's view), if
    /// the session is registered.
    tap: Option<Arc<SessionTap>>,
    /// This session's queue for the public servers' events (TCP and UDP),
    /// made with its forwarder on the first connection to them. Each such
    /// connection registers a route into it, so the servers send this
    /// session the events of its own connections and nobody else's.
    public_route: Option<RouteSink>,
    /// The student's own programs, whose socket calls the bridge performs
    /// (see [`crate::program`]).
    programs: Programs,
    /// The latest trace events sent to the page (at most
    /// [`RECENT_EVENTS`]), recorded by the writer: "Check my task" is
    /// judged on these, the bridge's own trace, not on the page's.
    recent: Arc<Recent>,
    /// The page asked for several messages a frame ([`protocol::LINES_QUERY`]).
    lines: bool,
}

/// Trace events a session keeps for "Check my task" (a check run of Task 3
/// makes a few hundred).
const RECENT_EVENTS: usize = 4096;

/// A private lab server this session started.
#[derive(Debug)]
struct PrivateServer {
    /// Where it listens (its `ServerStarted` address).
    addr: SocketAddr,
    transport: Transport,
    /// Pauses `accept()` (TCP only).
    control: Option<LabControl>,
    /// Cancelling it stops the server (closes its listening socket).
    stop: CancellationToken,
    /// Its task: done once the listening socket is closed.
    task: tokio::task::JoinHandle<()>,
    /// Its tracer, where the session's clients register their routes, and
    /// the session's queue for its events.
    route: ServerRoute,
}

/// Stopped servers whose address a session remembers.
const STOPPED_REMEMBERED: usize = 16;

/// How long "stop server" waits for its listening socket to close before
/// saying it stopped (it closes at once unless the machine is very busy).
const STOP_WAIT: Duration = Duration::from_secs(2);

/// The session's end of a client connection's task.
#[derive(Debug)]
struct ConnHandle {
    /// Commands for the connection, in order. Bounded; `try_send` so the
    /// session never waits on one slow connection.
    commands: mpsc::Sender<ConnCommand>,
    /// Closes the connection at once, even if its queue is full.
    stop: CancellationToken,
}

fn close_frame(code: u16, reason: impl Into<String>) -> Ending {
    Some(close::frame(code, reason))
}

impl RelaySession {
    /// A session that will stop when `shutdown` is cancelled.
    pub fn new(env: Arc<SessionEnv>, shutdown: &CancellationToken) -> RelaySession {
        let (outbox, queue) = Outbox::new(env.limits.max_buffered_bytes, env.metrics.clone());
        let to_sockets = Arc::new(Semaphore::new(
            env.limits.max_buffered_bytes.min(Semaphore::MAX_PERMITS),
        ));
        let locals = Locals::default();
        let programs = Programs::new(ProgramEnv::new(
            env.clock,
            outbox.clone(),
            env.limits.clone(),
            env.targets.allow_list().clone(),
            env.public.clone(),
            locals.clone(),
            to_sockets.clone(),
        ));
        RelaySession {
            env,
            outbox,
            queue: Some(queue),
            token: shutdown.child_token(),
            tasks: TaskTracker::new(),
            to_sockets,
            locals,
            servers: HashMap::new(),
            stopped: VecDeque::new(),
            conns: HashMap::new(),
            tap: None,
            public_route: None,
            programs,
            recent: Arc::default(),
            lines: false,
        }
    }

    /// Writes several messages to a frame, one to a line, when `lines` (the
    /// page asked for them, [`protocol::LINES_QUERY`]).
    pub fn lines(mut self, lines: bool) -> RelaySession {
        self.lines = lines;
        self
    }

    /// Records every message the page gets after its hello into `tap`
    /// (the instructor's view of this session).
    pub fn watched(mut self, tap: Arc<SessionTap>) -> RelaySession {
        self.tap = Some(tap);
        self
    }

    /// Runs the session on `socket` until the page leaves, the session is
    /// closed for a reason above, or `shutdown` is cancelled.
    pub async fn run<S>(self, socket: S, shutdown: CancellationToken)
    where
        S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error>,
    {
        let (sink, stream) = socket.split();
        self.run_split(sink, stream, shutdown).await
    }

    /// [`RelaySession::run`] on a separate sink and stream: a real
    /// socket's halves, or in-memory channels (as in axum's
    /// testing-websockets example), so the session's logic is tested
    /// without a socket, in paused time.
    pub async fn run_split<W, R>(mut self, sink: W, stream: R, shutdown: CancellationToken)
    where
        W: Sink<Message> + Unpin,
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let metrics = self.env.metrics.clone();
        metrics.session_opened();
        let grace = self.env.limits.shutdown_grace;
        let Some(queue) = self.queue.take() else {
            return;
        };
        let (end_tx, end_rx) = oneshot::channel();
        let _ = self.outbox.send(self.hello()).await;
        let token = self.token.clone();
        let tap = self.tap.clone();
        let recent = self.recent.clone();
        let writer = write_messages(
            sink,
            queue,
            end_rx,
            token.clone(),
            shutdown,
            Bounds {
                grace,
                stall: self.env.limits.idle_timeout,
            },
            Wire {
                encode: |queued: &Queued| encode(queued, tap.as_deref(), &recent),
                more_follows: |queued: &Queued| more_follows(&queued.msg),
                lines: self.lines.then_some(protocol::MAX_LINES_FRAME_BYTES),
                written: |messages, frames| metrics.written_to_page(messages, frames),
            },
        );
        let reader = async {
            let ending = self.read_commands(stream).await;
            let _ = end_tx.send(ending);
        };
        futures_util::join!(reader, writer);
        // Stop every connection, server and forwarder of this session, and
        // give them a moment to say their last events' goodbyes.
        token.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("a session's tasks did not stop within {grace:?}");
        }
        metrics.session_closed();
    }

    fn hello(&self) -> ServerMsg {
        ServerMsg::Hello {
            version: PROTOCOL_VERSION,
            bridge: bridge_version(),
            public_server: self.env.public.as_ref().map(|public| PublicServer {
                addr: connect_addr(public.tcp_addr).to_string(),
                mode: public.mode,
                transport: Transport::Tcp,
            }),
            limits: self.env.limits.to_protocol(),
            submission: Some(self.env.limits.submission_name.clone()),
        }
    }

    /// Reads and performs commands; returns how the session should end.
    async fn read_commands<R>(&mut self, mut stream: R) -> Ending
    where
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let idle = self.env.limits.idle_timeout;
        let mut greeted = false;
        // One wait for the whole session (see `write_messages`).
        let token = self.token.clone();
        let mut ended = std::pin::pin!(token.cancelled());
        // One timer for the session's life, moved on only when it fires
        // early: a timeout around each read would put a timer in the
        // runtime's wheel and take it out again for every command.
        let mut last = tokio::time::Instant::now();
        let mut deadline = std::pin::pin!(tokio::time::sleep_until(last + idle));
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut ended => return None,
                next = stream.next() => next,
                () = &mut deadline => {
                    if last.elapsed() >= idle {
                        let reason = format!("closed after {} s without a message", idle.as_secs());
                        return close_frame(close::GOING_AWAY, reason);
                    }
                    deadline.as_mut().reset(last + idle);
                    continue;
                }
            };
            last = tokio::time::Instant::now();
            let message = match next {
                None => return None,
                Some(Ok(message)) => message,
                Some(Err(err)) => return self.read_failed(err).await,
            };
            let text = match message {
                Message::Text(text) => text,
                Message::Binary(_) => {
                    let message = "binary frames are not accepted on /ws: send each command as JSON in a text frame";
                    if !greeted {
                        return self.wrong_start(message).await;
                    }
                    self.refuse(Refusal::BadMessage, message, None, None).await;
                    continue;
                }
                Message::Close(_) => return None,
                // Pings are answered by the WebSocket library itself.
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            let command = match serde_json::from_str::<ClientMsg>(text.as_str()) {
                Ok(command) => command,
                Err(err) => {
                    let message = format!("not a command: {err}");
                    if !greeted {
                        return self.wrong_start(&message).await;
                    }
                    self.refuse(Refusal::BadMessage, message, None, None).await;
                    continue;
                }
            };
            match command {
                ClientMsg::Hello { version } if version == PROTOCOL_VERSION => greeted = true,
                ClientMsg::Hello { version } => {
                    let message = format!(
                        "this bridge speaks protocol version {PROTOCOL_VERSION}, the page version {version}: reload the page"
                    );
                    return self.wrong_start(&message).await;
                }
                _ if !greeted => {
                    return self
                        .wrong_start("the first message must be hello with the protocol version")
                        .await;
                }
                command => self.perform(command).await,
            }
        }
    }

    /// Refuses a session that did not start with our `hello`, and closes it.
    async fn wrong_start(&self, message: &str) -> Ending {
        self.refuse(Refusal::Version, message, None, None).await;
        close_frame(
            close::PROTOCOL_ERROR,
            "expected hello with protocol version 1",
        )
    }

    /// A read error: a message over the limit gets a refusal and close
    /// code 1009; a broken rule of the WebSocket protocol, a refusal and
    /// 1002 or 1007 with the rule; anything else means the connection is
    /// gone.
    async fn read_failed(&self, err: axum::Error) -> Ending {
        match close::read_failure(&err) {
            ReadFailure::Gone => {
                tracing::debug!("session read failed: {err}");
                None
            }
            ReadFailure::TooBig => {
                let message = close::too_big(self.env.limits.max_message_bytes);
                self.refuse(Refusal::TooLarge, &message, None, None).await;
                close_frame(close::TOO_BIG, message)
            }
            ReadFailure::Broken { code, reason } => {
                self.refuse(Refusal::BadMessage, &reason, None, None).await;
                close_frame(code, reason)
            }
        }
    }

    async fn perform(&mut self, command: ClientMsg) {
        match command {
            ClientMsg::Hello { .. } => {}
            ClientMsg::StartServer {
                server,
                mode,
                transport,
                family,
                backlog,
                greeting,
            } => {
                self.start_server(server, mode, transport, family, backlog, greeting)
                    .await
            }
            ClientMsg::StopServer { server } => match self.servers.remove(&server) {
                Some(private) => {
                    private.stop.cancel();
                    // "Stopped" means the port is closed: a connect() after
                    // it is refused by the operating system.
                    let _ = tokio::time::timeout(STOP_WAIT, private.task).await;
                    if self.stopped.len() == STOPPED_REMEMBERED {
                        self.stopped.pop_front();
                    }
                    self.stopped
                        .push_back((server, private.addr, private.transport));
                    let _ = self.outbox.send(ServerMsg::ServerStopped { server }).await;
                }
                None => self.unknown_server(server).await,
            },
            ClientMsg::PauseAccept { server, paused } => match self.servers.get(&server) {
                Some(PrivateServer {
                    control: Some(control),
                    ..
                }) => control.set_paused(paused),
                Some(_) => {
                    let message = format!("server {server} is UDP: it has no accept() to pause");
                    self.refuse(Refusal::State, message, None, Some(server))
                        .await
                }
                None => self.unknown_server(server).await,
            },
            ClientMsg::Connect {
                conn,
                target,
                transport,
            } => self.connect(conn, target, transport).await,
            ClientMsg::Send { conn, data } => self.send(conn, data).await,
            ClientMsg::Shutdown { conn } => self.command(conn, ConnCommand::Shutdown).await,
            ClientMsg::Close { conn } => {
                if let Some(handle) = self.conns.remove(&conn) {
                    // Queued sends go first; if the queue is full, close now.
                    if handle.commands.try_send(ConnCommand::Close).is_err() {
                        handle.stop.cancel();
                    }
                } else {
                    self.unknown_conn(conn).await
                }
            }
            ClientMsg::ProgramStart {
                program,
                lane,
                file,
            } => {
                let public_route = self.env.public.is_some().then(|| self.public_sink());
                let started = self.programs.start(
                    program,
                    lane,
                    file,
                    public_route,
                    &self.tasks,
                    &self.token,
                );
                if let Err((reason, message)) = started {
                    self.refuse(reason, message, None, None).await
                }
            }
            ClientMsg::SockCall {
                program,
                call,
                op,
                timeout_ms,
                line,
                posted,
            } => {
                let request = CallRequest {
                    call,
                    op,
                    timeout_ms,
                    line,
                    posted,
                };
                self.programs.call(program, request).await
            }
            ClientMsg::ProgramPrint {
                program,
                text,
                line,
            } => self.programs.print(program, text, line).await,
            ClientMsg::ProgramEnd { program } => self.programs.end(program).await,
            ClientMsg::SetName { name } => match protocol::clean_name(&name) {
                Ok(name) => {
                    if let Some(tap) = &self.tap {
                        tap.set_name(name);
                    }
                }
                Err(why) => self.refuse(Refusal::BadMessage, why, None, None).await,
            },
            ClientMsg::Code { lane, file, text } => match protocol::check_code(&file, &text) {
                Ok(()) => {
                    if let Some(tap) = &self.tap {
                        tap.set_code(lane, file, text);
                    }
                }
                Err((reason, why)) => self.refuse(reason, why, None, None).await,
            },
            ClientMsg::CheckTask {
                task,
                from_us,
                server_py,
                client_py,
                server_output,
                client_output,
            } => {
                if !(1..=3).contains(&task) {
                    let why = format!("there is no task {task}: the lab has Tasks 1, 2 and 3");
                    return self.refuse(Refusal::BadMessage, why, None, None).await;
                }
                let events = recent_events(&self.recent, from_us);
                let student = course::Student {
                    server_py: &server_py,
                    client_py: &client_py,
                    server_output: &server_output,
                    client_output: &client_output,
                };
                let checks: Vec<CheckReport> = course::check(task, &events, &student)
                    .into_iter()
                    .map(|c| CheckReport {
                        side: c.side,
                        title: c.title.to_string(),
                        passed: c.passed,
                        expected: c.expected,
                        happened: c.happened,
                        line: c.line,
                        at_us: c.event.and_then(|i| events.get(i)).map(|e| e.at_us),
                    })
                    .collect();
                let passed = !checks.is_empty() && checks.iter().all(|c| c.passed);
                if let Some(tap) = &self.tap {
                    tap.set_checked(task, passed);
                }
                let _ = self
                    .outbox
                    .send(ServerMsg::TaskChecks { task, checks })
                    .await;
            }
        }
    }

    async fn start_server(
        &mut self,
        server: ServerId,
        mode: Mode,
        transport: Transport,
        family: Family,
        backlog: Option<u32>,
        greeting: Option<String>,
    ) {
        let refused = if server == PUBLIC_SERVER {
            Some((
                Refusal::InUse,
                "server id 0 is the public lab server; use 1 or more".to_string(),
            ))
        } else if self.servers.contains_key(&server) {
            Some((
                Refusal::InUse,
                format!("server {server} is already running"),
            ))
        } else if self.servers.len() >= self.env.limits.max_servers_per_session {
            Some((
                Refusal::Limit,
                format!(
                    "a session may run at most {} servers: stop one first",
                    self.env.limits.max_servers_per_session
                ),
            ))
        } else {
            None
        };
        if let Some((reason, message)) = refused {
            return self.refuse(reason, message, None, Some(server)).await;
        }
        let ip = match family {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        let addr = SocketAddr::new(ip, 0);
        // The server is this session's: every event comes here, its
        // listening socket's steps (socket, bind, listen) included.
        let (sink, receiver) = self.server_queue();
        let tracer =
            Tracer::new(self.env.clock, server, trace::channel()).with_unrouted(sink.clone());
        self.forward(server, receiver);
        let route = ServerRoute {
            tracer: tracer.clone(),
            sink,
        };
        let stop = self.token.child_token();
        let (local, control, task) = match transport {
            Transport::Tcp => {
                let mut config = LabConfig::new(server, mode);
                config.backlog = backlog.unwrap_or(protocol::DEFAULT_BACKLOG).min(128);
                config.greeting = greeting
                    .unwrap_or_else(|| DEFAULT_GREETING.to_string())
                    .into_bytes();
                config.limits = LabLimits {
                    max_connections: self.env.limits.max_connections_per_session.max(1),
                    max_read: 16 * 1024,
                    idle_timeout: self.env.limits.idle_timeout,
                };
                match LabServer::bind(addr, config, tracer) {
                    Ok(lab) => {
                        let local = lab.local_addr();
                        let control = lab.control();
                        let task = self.tasks.spawn(lab.run(stop.clone()));
                        (local, Some(control), task)
                    }
                    // The error is in the server lane already; say so here too.
                    Err(err) => return self.server_failed(server, err).await,
                }
            }
            Transport::Udp => match UdpEchoServer::bind(addr, tracer).await {
                Ok(udp) => {
                    let local = udp.local_addr();
                    let task = self.tasks.spawn(udp.run(stop.clone()));
                    (local, None, task)
                }
                Err(err) => return self.server_failed(server, err).await,
            },
        };
        self.servers.insert(
            server,
            PrivateServer {
                addr: local,
                transport,
                control,
                stop,
                task,
                route,
            },
        );
        // The id names this server now, not an old stopped one.
        self.stopped.retain(|(id, _, _)| *id != server);
        let started = ServerMsg::ServerStarted {
            server,
            addr: local.to_string(),
            mode,
            transport,
        };
        let _ = self.outbox.send(started).await;
    }

    async fn server_failed(&self, server: ServerId, err: crate::Error) {
        let message = format!("server {server} could not start: {err}");
        self.refuse(Refusal::State, message, None, Some(server))
            .await
    }

    /// A queue for one server's events to this session. Bounded like the
    /// outbox: a page that stops reading costs the bridge at most this
    /// much here too.
    fn server_queue(&self) -> (RouteSink, RouteReceiver) {
        route::route_queue(TRACE_CAPACITY, self.env.limits.max_buffered_bytes)
    }

    /// Forwards a server's events to this session.
    fn forward(&self, server: ServerId, events: RouteReceiver) {
        let lane = ServerLane {
            server,
            events,
            outbox: self.outbox.clone(),
            metrics: self.env.metrics.clone(),
        };
        self.tasks.spawn(lane.run(self.token.clone()));
    }

    async fn connect(&mut self, conn: ConnId, target: Target, transport: Transport) {
        self.conns.retain(|_, handle| !handle.commands.is_closed());
        if self.conns.contains_key(&conn) {
            let message = format!("connection {conn} is already open");
            return self.refuse(Refusal::InUse, message, Some(conn), None).await;
        }
        let limit = self.env.limits.max_connections_per_session;
        if self.conns.len() >= limit {
            let message =
                format!("a session may have at most {limit} connections open: close one first");
            return self.refuse(Refusal::Limit, message, Some(conn), None).await;
        }
        let Some(Aim {
            server,
            target,
            addr,
            route,
        }) = self.aim(conn, target, transport).await
        else {
            return;
        };
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let stop = self.token.child_token();
        let connection = ClientConnection {
            conn,
            server,
            target,
            addr,
            transport,
            clock: self.env.clock,
            outbox: self.outbox.clone(),
            locals: self.locals.clone(),
            route,
            targets: self.env.targets.clone(),
            read_chunk: self.env.limits.read_chunk(),
            closing_at: AtomicU64::new(0),
        };
        self.tasks.spawn(connection.run(receiver, stop.clone()));
        self.conns.insert(conn, ConnHandle { commands, stop });
    }

    /// Where a connection goes, or `None` after refusing it.
    async fn aim(&mut self, conn: ConnId, target: Target, transport: Transport) -> Option<Aim> {
        // A student's own server (a program's socket) in this session's
        // port space: the page's client may connect to it, as a terminal's
        // client on the bridge's machine can.
        let program_server = match &target {
            Target::Addr { addr } => self.programs.reach(addr, transport),
            _ => None,
        };
        match target {
            Target::Public => self.aim_public(conn, transport).await,
            Target::Addr { addr } if program_server.is_some() => Some(Aim {
                server: None,
                target: addr.trim().to_string(),
                addr: program_server,
                route: None,
            }),
            Target::Addr { addr } if self.env.targets.is_public(&addr) => {
                self.aim_public(conn, transport).await
            }
            Target::Server { id } if id == PUBLIC_SERVER => self.aim_public(conn, transport).await,
            Target::Server { id } if !self.servers.contains_key(&id) => {
                match self
                    .stopped
                    .iter()
                    .rev()
                    .find(|(stopped, _, _)| *stopped == id)
                {
                    // Where it listened: connect() there is refused by the
                    // operating system, as it would be for client.py.
                    Some(&(_, addr, was)) if was == transport => {
                        let addr = connect_addr(addr);
                        Some(Aim {
                            server: Some(id),
                            target: addr.to_string(),
                            addr: Some(addr),
                            route: None,
                        })
                    }
                    _ => {
                        self.unknown_server(id).await;
                        None
                    }
                }
            }
            Target::Server { id } => {
                let Some(private) = self.servers.get(&id) else {
                    self.unknown_server(id).await;
                    return None;
                };
                if private.transport != transport {
                    let message = format!(
                        "server {id} is a {} server: connect to it with {}",
                        private.transport.python_name(),
                        private.transport.python_name()
                    );
                    self.refuse(Refusal::State, message, Some(conn), Some(id))
                        .await;
                    return None;
                }
                // Ask the server's own address, as a student would.
                let addr = private.addr;
                Some(Aim {
                    server: Some(id),
                    target: addr.to_string(),
                    addr: Some(addr),
                    route: Some(private.route.clone()),
                })
            }
            Target::Addr { addr } if self.env.targets.allowed(&addr) => {
                let resolved = addr.trim().parse::<SocketAddr>().ok();
                Some(Aim {
                    server: None,
                    target: addr.trim().to_string(),
                    addr: resolved,
                    route: None,
                })
            }
            Target::Addr { addr } => {
                let message = format!(
                    "{addr} is not allowed: this bridge connects only to its own lab servers and to \
                     targets started with --allow-target HOST:PORT (it is not an open proxy)"
                );
                self.not_allowed(conn, message).await;
                None
            }
        }
    }

    async fn aim_public(&mut self, conn: ConnId, transport: Transport) -> Option<Aim> {
        let Some(public) = self.env.public.clone() else {
            let message = "this bridge runs no public lab server".to_string();
            self.refuse(Refusal::Unknown, message, Some(conn), Some(PUBLIC_SERVER))
                .await;
            return None;
        };
        let (addr, tracer) = match transport {
            Transport::Tcp => (public.tcp_addr, public.tracer.clone()),
            Transport::Udp => match (public.udp_addr, public.udp_tracer.clone()) {
                (Some(addr), Some(tracer)) => (addr, tracer),
                _ => {
                    let message =
                        "the public lab has no UDP server (start the bridge with --udp ADDR)";
                    self.refuse(Refusal::Unknown, message, Some(conn), Some(PUBLIC_SERVER))
                        .await;
                    return None;
                }
            },
        };
        let sink = self.public_sink();
        let addr = connect_addr(addr);
        Some(Aim {
            server: Some(PUBLIC_SERVER),
            target: addr.to_string(),
            addr: Some(addr),
            route: Some(ServerRoute { tracer, sink }),
        })
    }

    /// This session's queue for the public servers' events, made (with its
    /// forwarder) the first time it is needed.
    fn public_sink(&mut self) -> RouteSink {
        match &self.public_route {
            Some(sink) => sink.clone(),
            None => {
                let (sink, receiver) = self.server_queue();
                self.forward(PUBLIC_SERVER, receiver);
                self.public_route = Some(sink.clone());
                sink
            }
        }
    }

    async fn send(&mut self, conn: ConnId, data: Data) {
        let bytes = data.into_bytes();
        let len = bytes.len();
        let Some(permit) = u32::try_from(len)
            .ok()
            .and_then(|n| self.to_sockets.clone().try_acquire_many_owned(n).ok())
        else {
            let message = format!(
                "{len} more bytes do not fit: at most {} bytes may wait to be written per session; \
                 wait for the earlier sends",
                self.env.limits.max_buffered_bytes
            );
            return self.refuse(Refusal::Limit, message, Some(conn), None).await;
        };
        self.env.metrics.queued_to_sockets(len);
        let budget = SocketBudget {
            permit,
            metrics: self.env.metrics.clone(),
        };
        self.command(conn, ConnCommand::Send(bytes, budget)).await
    }

    /// Hands a command to a connection's task, or says why it cannot.
    async fn command(&mut self, conn: ConnId, command: ConnCommand) {
        let Some(handle) = self.conns.get(&conn) else {
            return self.unknown_conn(conn).await;
        };
        match handle.commands.try_send(command) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let message = format!(
                    "connection {conn} has {COMMAND_QUEUE} commands waiting; wait for them"
                );
                self.refuse(Refusal::Limit, message, Some(conn), None).await
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.conns.remove(&conn);
                let message = format!("connection {conn} is closed");
                self.refuse(Refusal::State, message, Some(conn), None).await
            }
        }
    }

    async fn not_allowed(&self, conn: ConnId, message: String) {
        // On the client lane too, with the kind's plain explanation, so
        // the student sees it where the connect would have been.
        let event = TraceEvent {
            at_us: self.env.clock.now_us(),
            lane: Lane::Client,
            server: None,
            conn: Some(conn),
            server_conn: None,
            source: None,
            step: Step::Error {
                kind: ErrorKind::NotAllowed,
                message: message.clone(),
                failed: None,
            },
        };
        let _ = self.outbox.send(ServerMsg::Trace(event)).await;
        self.refuse(Refusal::NotAllowed, message, Some(conn), None)
            .await
    }

    async fn unknown_server(&self, server: ServerId) {
        let message = format!("this session has no server {server}");
        self.refuse(Refusal::Unknown, message, None, Some(server))
            .await
    }

    async fn unknown_conn(&self, conn: ConnId) {
        let message = format!("this session has no open connection {conn}");
        self.refuse(Refusal::Unknown, message, Some(conn), None)
            .await
    }

    async fn refuse(
        &self,
        reason: Refusal,
        message: impl Into<String>,
        conn: Option<ConnId>,
        server: Option<ServerId>,
    ) {
        let message = message.into();
        tracing::debug!(?reason, "refused: {message}");
        let refused = ServerMsg::Refused {
            reason,
            message,
            conn,
            server,
        };
        let _ = self.outbox.send(refused).await;
    }
}

/// Where a connection goes.
struct Aim {
    /// The lab server it is aimed at, when it is one of the bridge's.
    server: Option<ServerId>,
    /// The target as the page will see it in `connect(...)`.
    target: String,
    /// The resolved address, if known yet.
    addr: Option<SocketAddr>,
    /// For a lab server: how its events of this connection reach this
    /// session.
    route: Option<ServerRoute>,
}

/// A message after which more comes at once, so the writer steps aside
/// for it (see [`write_messages`]): a step that moved bytes on a
/// connection to one of this bridge's lab servers (its other end is in
/// this process and acts on them at once), and the answer to a program's
/// `send()`, which mostly nobody waits for (a page's program goes on once
/// a TCP send is handed over; where one does wait, a JSPI page or a UDP
/// `sendto()`, the steps aside cost it microseconds), while the bytes it
/// sent may already be bringing the peer's `recv()` answer. In a
/// student's echo, both programs in the page, each send's answer then
/// shares a frame with the peer's `recv()` answer: two frames a round
/// trip, not four.
fn more_follows(msg: &ServerMsg) -> bool {
    match msg {
        ServerMsg::Trace(event) => event.server.is_some() && event.step.data().is_some(),
        ServerMsg::SockReply {
            result: SockResult::Ok(SockValue::Sent { .. }),
            ..
        } => true,
        _ => false,
    }
}

/// Makes a queued message into the WebSocket message the page gets, and
/// records it in the session's tap (the same bytes: no copy, no second
/// serialization). The hello is the bridge's greeting, not the session's
/// doing: it is not recorded. A trace event's text is also kept in
/// `recent`, for "Check my task" (sharing the same bytes).
///
/// The JSON is written into a buffer each worker thread keeps, then copied
/// once into a string of exactly its size: growing a fresh string from 128
/// bytes and trimming it to size (kept text is counted by its size) cost
/// two or three reallocations and copies per event.
fn encode(queued: &Queued, tap: Option<&SessionTap>, recent: &Recent) -> Message {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let json = SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        // Serializing a ServerMsg cannot fail (no maps with non-string keys).
        let _ = serde_json::to_writer(&mut *scratch, &queued.msg);
        let json = Utf8Bytes::try_from(bytes::Bytes::copy_from_slice(scratch)).unwrap_or_default();
        // A rare huge message does not keep its buffer's size on the thread.
        if scratch.capacity() > SCRATCH_KEPT {
            *scratch = Vec::new();
        }
        json
    });
    if let ServerMsg::Trace(event) = &queued.msg {
        let mut recent = recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_EVENTS {
            recent.pop_front();
        }
        recent.push_back((event.at_us, json.clone()));
    }
    if let Some(tap) = tap
        && !matches!(
            queued.msg,
            ServerMsg::Hello { .. } | ServerMsg::TaskChecks { .. }
        )
    {
        tap.record(&queued.msg, &json);
    }
    Message::Text(json)
}

/// The largest serialization buffer a worker thread keeps between messages.
const SCRATCH_KEPT: usize = 64 * 1024;

/// The latest trace events sent to the page, as the JSON text sent (with
/// each event's time): see [`RelaySession::recent`].
type Recent = std::sync::Mutex<VecDeque<(u64, Utf8Bytes)>>;

/// The trace events in `recent` from `from_us` on, read back from their
/// JSON (only when a check asks, so the writer keeps text, not copies).
fn recent_events(recent: &Recent, from_us: u64) -> Vec<TraceEvent> {
    let texts: Vec<Utf8Bytes> = {
        let recent = recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .iter()
            .filter(|(at_us, _)| *at_us >= from_us)
            .map(|(_, json)| json.clone())
            .collect()
    };
    texts
        .iter()
        .filter_map(|json| match serde_json::from_str(json.as_str()) {
            Ok(ServerMsg::Trace(event)) => Some(event),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::CloseFrame;
    use protocol::Bytes;
    use protocol::program::SockError;
    use tokio_util::sync::PollSender;

    #[test]
    fn the_writer_waits_for_more_only_after_a_send_or_a_lab_servers_bytes() {
        let reply = |result| ServerMsg::SockReply {
            program: 1,
            call: 2,
            result,
        };
        // A send's answer: the peer's recv() answer is on its way.
        assert!(more_follows(&reply(SockResult::Ok(SockValue::Sent {
            n: 32
        }))));
        // An answer a program waits for goes at once.
        let data = SockValue::Data {
            data: Bytes(b"hi".to_vec()),
        };
        assert!(!more_follows(&reply(SockResult::Ok(data))));
        assert!(!more_follows(&reply(SockResult::Ok(SockValue::Done))));
        let failed = SockError {
            errno: "EPIPE".into(),
            message: "Broken pipe".into(),
            kind: ErrorKind::BrokenPipe,
        };
        assert!(!more_follows(&reply(SockResult::Err(failed))));
        // Bytes on a connection to a lab server: its answer is on its way;
        // on a connection elsewhere, nothing is known to follow.
        let event = |server| {
            ServerMsg::Trace(TraceEvent {
                at_us: 0,
                lane: Lane::Client,
                server,
                conn: Some(10001),
                server_conn: None,
                source: None,
                step: Step::Send {
                    data: Bytes(b"hi".to_vec()),
                },
            })
        };
        assert!(more_follows(&event(Some(PUBLIC_SERVER))));
        assert!(!more_follows(&event(None)));
    }

    /// The page's ends of a session run on in-memory channels, as in axum's
    /// testing-websockets example: what the page sends, what it receives.
    struct PageEnds {
        to_session: mpsc::UnboundedSender<Message>,
        from_session: mpsc::Receiver<Message>,
    }

    /// Starts a session on in-memory channels.
    fn run_on_channels(
        env: Arc<SessionEnv>,
        shutdown: &CancellationToken,
    ) -> (PageEnds, tokio::task::JoinHandle<()>) {
        let (to_session, mut incoming) = mpsc::unbounded_channel::<Message>();
        let (outgoing, from_session) = mpsc::channel(1024);
        let stream = futures_util::stream::poll_fn(move |cx| incoming.poll_recv(cx)).map(Ok);
        let session = RelaySession::new(env, shutdown);
        let running =
            tokio::spawn(session.run_split(PollSender::new(outgoing), stream, shutdown.clone()));
        let page = PageEnds {
            to_session,
            from_session,
        };
        (page, running)
    }

    fn env_with(limits: SessionLimits) -> Arc<SessionEnv> {
        Arc::new(SessionEnv {
            clock: Clock::start(),
            limits,
            targets: Targets::default(),
            public: None,
            metrics: Arc::new(Metrics::default()),
        })
    }

    fn env() -> Arc<SessionEnv> {
        env_with(SessionLimits::default())
    }

    fn text(msg: &ClientMsg) -> Message {
        Message::Text(serde_json::to_string(msg).unwrap_or_default().into())
    }

    async fn next(out: &mut mpsc::Receiver<Message>) -> ServerMsg {
        let message = tokio::time::timeout(Duration::from_secs(10), out.recv())
            .await
            .expect("in time")
            .expect("open");
        match message {
            Message::Text(text) => serde_json::from_str(text.as_str()).expect("a ServerMsg"),
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// The close frame the page gets, skipping what comes before it.
    async fn close_frame_of(out: &mut mpsc::Receiver<Message>) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(Duration::from_secs(3600), out.recv()).await {
                Ok(Some(Message::Close(frame))) => break frame,
                Ok(Some(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Over in-memory channels: hello first, then a private echo server,
    /// a connection to it, and the echoed bytes on the client lane.
    #[tokio::test]
    async fn a_session_runs_over_any_stream_and_sink() {
        let shutdown = CancellationToken::new();
        let (page, running) = run_on_channels(env(), &shutdown);
        let (page_tx, mut page_rx) = (page.to_session, page.from_session);
        assert!(matches!(
            next(&mut page_rx).await,
            ServerMsg::Hello {
                public_server: None,
                ..
            }
        ));
        for msg in [
            ClientMsg::Hello {
                version: PROTOCOL_VERSION,
            },
            ClientMsg::StartServer {
                server: 1,
                mode: Mode::Echo,
                transport: Transport::Tcp,
                family: Family::Ipv4,
                backlog: None,
                greeting: None,
            },
            ClientMsg::Connect {
                conn: 5,
                target: Target::Server { id: 1 },
                transport: Transport::Tcp,
            },
            ClientMsg::Send {
                conn: 5,
                data: Data::Text("hi".into()),
            },
        ] {
            page_tx.send(text(&msg)).expect("session reads");
        }
        loop {
            if let ServerMsg::Trace(event) = next(&mut page_rx).await
                && event.lane == Lane::Client
                && let Step::Recv { data } = event.step
            {
                assert_eq!(data.0, b"hi");
                assert_eq!(event.conn, Some(5));
                break;
            }
        }
        shutdown.cancel();
        let closing = close_frame_of(&mut page_rx).await;
        assert_eq!(closing.map(|frame| frame.code), Some(close::GOING_AWAY));
        running.await.expect("the session ends");
    }

    /// In paused time: a page that says nothing after its hello is closed
    /// with 1001 once the idle timeout has passed, and not before.
    #[tokio::test(start_paused = true)]
    async fn an_idle_session_is_closed_after_its_idle_timeout() {
        let idle = Duration::from_secs(600);
        let limits = SessionLimits {
            idle_timeout: idle,
            ..SessionLimits::default()
        };
        let shutdown = CancellationToken::new();
        let (mut page, running) = run_on_channels(env_with(limits), &shutdown);
        assert!(matches!(
            next(&mut page.from_session).await,
            ServerMsg::Hello { .. }
        ));
        let hello = ClientMsg::Hello {
            version: PROTOCOL_VERSION,
        };
        page.to_session.send(text(&hello)).expect("session reads");
        let quiet_since = tokio::time::Instant::now();
        let closing = close_frame_of(&mut page.from_session)
            .await
            .expect("a close frame with a reason");
        assert!(quiet_since.elapsed() >= idle, "{:?}", quiet_since.elapsed());
        assert_eq!(closing.code, close::GOING_AWAY);
        assert!(
            closing.reason.contains("600 s without a message"),
            "{}",
            closing.reason
        );
        running.await.expect("the session ends");
    }
}
