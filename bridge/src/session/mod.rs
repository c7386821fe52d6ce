//! [`RelaySession`]: one browser tab's WebSocket on `/ws`, turned into real
//! sockets.
//!
//! The page sends JSON commands ([`ClientMsg`]); the session performs them
//! on real sockets as the client (and starts private lab servers on
//! request), and answers with [`ServerMsg`]s: replies, refusals, and the
//! [`TraceEvent`](protocol::TraceEvent)s of both lanes.
//!
//! - `outbox.rs`: [`Outbox`], the one byte-bounded queue to the browser.
//! - `connection.rs`: [`ClientConnection`], one client socket, its own task.
//! - `forward.rs`: [`ServerLane`], a lab server's events for this session.
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
//!   (see [`crate::close`]).
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
mod outbox;

pub use connection::{ClientConnection, ConnCommand, PublicRoute};
pub use forward::{LaneEvents, ServerLane};
pub use outbox::{Outbox, Queued};

use crate::clock::Clock;
use crate::close::{self, ReadFailure};
use crate::config::{AllowList, SessionLimits, normalize_target};
use crate::lab::{LabConfig, LabControl, LabLimits, LabServer, PublicLab, UdpEchoServer};
use crate::metrics::Metrics;
use crate::program::{CallRequest, ProgramEnv, Programs};
use crate::route::{self, RouteSink};
use crate::trace::{self, TRACE_CAPACITY, Tracer};
use crate::watch::SessionTap;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use connection::{COMMAND_QUEUE, SocketBudget};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use protocol::{
    ClientMsg, ConnId, DEFAULT_GREETING, Data, ErrorKind, Family, Lane, Mode, PROTOCOL_VERSION,
    PUBLIC_SERVER, PublicServer, Refusal, ServerId, ServerMsg, Step, Target, TraceEvent, Transport,
};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Close code 1001: going away (shutdown, idle).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code 1002: protocol error (no hello, wrong version).
pub const CLOSE_PROTOCOL: u16 = 1002;
/// Close code 1009: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// The reason sent with the close frame at shutdown.
pub const SHUTDOWN_REASON: &str = "bridge shutting down";

/// What every session of a bridge shares.
#[derive(Debug, Clone)]
pub struct SessionEnv {
    pub clock: Clock,
    pub limits: SessionLimits,
    pub allow_targets: AllowList,
    /// The public lab server, if this bridge runs one.
    pub public: Option<PublicLab>,
    pub metrics: Arc<Metrics>,
}

/// The local addresses of a session's client sockets, so a private
/// server's `accept()` peer can be matched to the page's connection id.
/// (The public server needs no such matching: it routes each connection's
/// events here already tagged, see [`crate::route`].)
#[derive(Debug, Clone, Default)]
pub struct Locals {
    /// Shared by the session's connection tasks (which insert) and its
    /// server-lane forwarders (which look up). A std mutex: it is held for
    /// a map operation only, never across an `.await`.
    inner: Arc<Mutex<LocalsInner>>,
}

#[derive(Debug, Default)]
struct LocalsInner {
    by_addr: HashMap<SocketAddr, ConnId>,
    /// Insertion order, to forget the oldest past [`Locals::MAX`].
    order: VecDeque<SocketAddr>,
}

impl Locals {
    /// Addresses remembered per session (a server's events may arrive after
    /// the client closed, so entries outlive their connection).
    pub const MAX: usize = 256;

    /// Remembers that `conn`'s socket has the address `local`.
    pub fn insert(&self, local: SocketAddr, conn: ConnId) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.by_addr.insert(local, conn).is_none() {
            inner.order.push_back(local);
            if inner.order.len() > Self::MAX
                && let Some(oldest) = inner.order.pop_front()
            {
                inner.by_addr.remove(&oldest);
            }
        }
    }

    /// The connection whose socket has address `peer`, if ours. A socket
    /// bound to "any address" matches by port.
    pub fn lookup(&self, peer: SocketAddr) -> Option<ConnId> {
        let inner = self.inner.lock().ok()?;
        if let Some(conn) = inner.by_addr.get(&peer) {
            return Some(*conn);
        }
        inner
            .by_addr
            .iter()
            .find(|(addr, _)| addr.ip().is_unspecified() && addr.port() == peer.port())
            .map(|(_, conn)| *conn)
    }
}

/// One browser tab's session.
#[derive(Debug)]
pub struct RelaySession {
    env: Arc<SessionEnv>,
    outbox: Outbox,
    /// The outbox's receiving end, taken by the writer when the session runs.
    queue: Option<mpsc::Receiver<Queued>>,
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
}

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

/// How the session should end: a close frame to send, or none.
type Ending = Option<CloseFrame>;

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
            env.allow_targets.clone(),
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
        }
    }

    /// Records every message the page gets after its hello into `tap`
    /// (the instructor's view of this session).
    pub fn watched(mut self, tap: Arc<SessionTap>) -> RelaySession {
        self.tap = Some(tap);
        self
    }

    /// Runs the session on `socket` until the page leaves, the session is
    /// closed for a reason above, or `shutdown` is cancelled.
    pub async fn run<S>(mut self, socket: S, shutdown: CancellationToken)
    where
        S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error>,
    {
        let metrics = self.env.metrics.clone();
        metrics.session_opened();
        let grace = self.env.limits.shutdown_grace;
        let (sink, stream) = socket.split();
        let Some(queue) = self.queue.take() else {
            return;
        };
        let (end_tx, end_rx) = oneshot::channel();
        let _ = self.outbox.send(self.hello()).await;
        let token = self.token.clone();
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
            self.tap.clone(),
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
        loop {
            let next = tokio::select! {
                _ = self.token.cancelled() => return None,
                next = tokio::time::timeout(idle, stream.next()) => next,
            };
            let message = match next {
                Err(_) => {
                    let reason = format!("closed after {} s without a message", idle.as_secs());
                    return close_frame(CLOSE_GOING_AWAY, reason);
                }
                Ok(None) => return None,
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(err))) => return self.read_failed(err).await,
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
        close_frame(CLOSE_PROTOCOL, "expected hello with protocol version 1")
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
                let limit = self.env.limits.max_message_bytes;
                let message = format!("message larger than the limit of {limit} bytes");
                self.refuse(Refusal::TooLarge, &message, None, None).await;
                close_frame(CLOSE_TOO_BIG, message)
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
            } => {
                let request = CallRequest {
                    call,
                    op,
                    timeout_ms,
                    line,
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
        let tracer = Tracer::new(self.env.clock, server, trace::channel());
        // Subscribe before binding, so the page sees socket/bind/listen.
        self.forward(server, LaneEvents::All(tracer.subscribe()));
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

    /// Forwards a server's events to this session.
    fn forward(&self, server: ServerId, events: LaneEvents) {
        let lane = ServerLane {
            server,
            events,
            locals: self.locals.clone(),
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
            connect_timeout: self.env.limits.connect_timeout,
            read_chunk: self.env.limits.read_chunk(),
            closing_at: AtomicU64::new(0),
        };
        self.tasks.spawn(connection.run(receiver, stop.clone()));
        self.conns.insert(conn, ConnHandle { commands, stop });
    }

    /// Where a connection goes, or `None` after refusing it.
    async fn aim(&mut self, conn: ConnId, target: Target, transport: Transport) -> Option<Aim> {
        let public = self.env.public.clone();
        let is_public = |addr: &str| {
            public.as_ref().is_some_and(|public| {
                let addr = normalize_target(addr);
                [Some(public.tcp_addr), public.udp_addr]
                    .into_iter()
                    .flatten()
                    .any(|a| addr == a.to_string() || addr == connect_addr(a).to_string())
            })
        };
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
            Target::Addr { addr } if is_public(&addr) => self.aim_public(conn, transport).await,
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
                let addr = self.server_addr(id)?;
                Some(Aim {
                    server: Some(id),
                    target: addr.to_string(),
                    addr: Some(addr),
                    route: None,
                })
            }
            Target::Addr { addr } if self.env.allow_targets.permits(&addr) => {
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
            route: Some(PublicRoute { tracer, sink }),
        })
    }

    /// This session's queue for the public servers' events, made (with its
    /// forwarder) the first time it is needed.
    fn public_sink(&mut self) -> RouteSink {
        match &self.public_route {
            Some(sink) => sink.clone(),
            None => {
                // Bounded like the outbox: a page that stops reading costs
                // the bridge at most this much here too.
                let (sink, receiver) =
                    route::route_queue(TRACE_CAPACITY, self.env.limits.max_buffered_bytes);
                self.forward(PUBLIC_SERVER, LaneEvents::Routed(receiver));
                self.public_route = Some(sink.clone());
                sink
            }
        }
    }

    /// The address of a private server (from its `ServerStarted`).
    fn server_addr(&self, id: ServerId) -> Option<SocketAddr> {
        self.servers.get(&id).map(|server| server.addr)
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
    /// For the public server: how its events reach this session.
    route: Option<PublicRoute>,
}

/// The bridge's own version string, as its `hello`s name it.
pub fn bridge_version() -> String {
    format!("socket-lab {}", env!("CARGO_PKG_VERSION"))
}

/// The address to connect to for a server listening on `addr`: a server
/// on "any address" (0.0.0.0 or ::) is reached through loopback.
pub fn connect_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// How long the writer waits on the page.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// For the goodbye (and the last messages before it).
    grace: Duration,
    /// For the page to take one batch: a page that reads nothing for this
    /// long (the idle timeout) is frozen.
    stall: Duration,
}

/// Writes queued messages to the browser, then the closing frame.
///
/// Every wait is bounded: raced against `shutdown` and the reader's end
/// (so a browser that stopped reading cannot hold shutdown, or its own
/// idle close, up), and a batch the page does not take within
/// `bounds.stall` ends the session; the goodbye itself gets `bounds.grace`.
async fn write_messages<W>(
    mut sink: W,
    mut queue: mpsc::Receiver<Queued>,
    mut end: oneshot::Receiver<Ending>,
    token: CancellationToken,
    shutdown: CancellationToken,
    bounds: Bounds,
    tap: Option<Arc<SessionTap>>,
) where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    let tap = tap.as_deref();
    let ending = loop {
        let queued = tokio::select! {
            biased;
            ending = &mut end => {
                // The reader is done: send what is queued (a refusal that
                // explains the close, say), then the close frame.
                let ending = ending.ok().flatten();
                let flush = async {
                    while let Ok(queued) = queue.try_recv() {
                        if send_json(&mut sink, &queued, tap).await.is_err() {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(bounds.grace, flush).await;
                break ending;
            }
            _ = shutdown.cancelled() => break close_frame(CLOSE_GOING_AWAY, SHUTDOWN_REASON),
            _ = token.cancelled() => break None,
            queued = queue.recv() => match queued {
                Some(queued) => queued,
                None => break None,
            },
        };
        // Write this message and whatever else is already queued, then
        // flush once: a burst of events (a recv and the server's steps
        // that came with it) leaves in one system call, not one each.
        // The messages stay held (and counted against the byte budget)
        // until the flush has written them.
        let batch = async {
            feed_json(&mut sink, &queued, tap).await?;
            let mut held = Vec::new();
            for _ in 1..WRITE_BATCH {
                let Ok(next) = queue.try_recv() else { break };
                feed_json(&mut sink, &next, tap).await?;
                held.push(next);
            }
            sink.flush().await
        };
        tokio::select! {
            sent = batch => if sent.is_err() { break None },
            _ = shutdown.cancelled() => break close_frame(CLOSE_GOING_AWAY, SHUTDOWN_REASON),
            // The reader ended the session (idle, a bad message) while the
            // page was not taking what we write: its reason stands.
            ending = &mut end => break ending.ok().flatten(),
            _ = tokio::time::sleep(bounds.stall) => {
                let reason = format!(
                    "closed: the page read nothing for {:?} (--session-idle-timeout)",
                    bounds.stall
                );
                break close_frame(CLOSE_GOING_AWAY, reason);
            }
        }
    };
    // Tell the reader (and every task of the session) we are done.
    token.cancel();
    goodbye(sink, ending, &shutdown, bounds.grace).await;
}

/// Closes a WebSocket within `grace`: the close frame if there is a reason
/// (the shutdown's, if the bridge is shutting down: another task may have
/// noticed it first, and the browser still deserves to hear why), then
/// whatever is pending (such as the library's answer to the browser's own
/// close frame).
pub async fn goodbye<W>(
    mut sink: W,
    ending: Option<CloseFrame>,
    shutdown: &CancellationToken,
    grace: Duration,
) where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    let ending = match ending {
        None if shutdown.is_cancelled() => close_frame(CLOSE_GOING_AWAY, SHUTDOWN_REASON),
        ending => ending,
    };
    let goodbye = async {
        if let Some(frame) = ending {
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(grace, goodbye).await;
}

/// The most messages written out before one flush.
const WRITE_BATCH: usize = 32;

async fn send_json<W>(
    sink: &mut W,
    queued: &Queued,
    tap: Option<&SessionTap>,
) -> Result<(), axum::Error>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    feed_json(sink, queued, tap).await?;
    sink.flush().await
}

/// Hands a message to the WebSocket without flushing it, and records it
/// in the session's tap (the same bytes: no copy, no second
/// serialization). The hello is the bridge's greeting, not the session's
/// doing: it is not recorded.
async fn feed_json<W>(
    sink: &mut W,
    queued: &Queued,
    tap: Option<&SessionTap>,
) -> Result<(), axum::Error>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    // Serializing a ServerMsg cannot fail (no maps with non-string keys).
    let mut json = serde_json::to_string(&queued.msg).unwrap_or_default();
    let json = match tap {
        Some(tap) if !matches!(queued.msg, ServerMsg::Hello { .. }) => {
            // Kept in the history: without the spare room the string grew
            // with (up to half of it), so its bound in bytes is its cost.
            json.shrink_to_fit();
            let json = Utf8Bytes::from(json);
            tap.record(&queued.msg, &json);
            json
        }
        _ => Utf8Bytes::from(json),
    };
    sink.feed(Message::Text(json)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A WebSocket made of two in-memory channels: the session's logic
    /// runs on it exactly as on a real one.
    struct FakeSocket {
        incoming: mpsc::UnboundedReceiver<Message>,
        outgoing: mpsc::UnboundedSender<Message>,
    }

    impl Stream for FakeSocket {
        type Item = Result<Message, axum::Error>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.incoming.poll_recv(cx).map(|message| message.map(Ok))
        }
    }

    impl Sink<Message> for FakeSocket {
        type Error = axum::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            self.outgoing.send(item).map_err(axum::Error::new)
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    fn env() -> Arc<SessionEnv> {
        Arc::new(SessionEnv {
            clock: Clock::start(),
            limits: SessionLimits::default(),
            allow_targets: AllowList::default(),
            public: None,
            metrics: Arc::new(Metrics::default()),
        })
    }

    fn text(msg: &ClientMsg) -> Message {
        Message::Text(serde_json::to_string(msg).unwrap_or_default().into())
    }

    async fn next(out: &mut mpsc::UnboundedReceiver<Message>) -> ServerMsg {
        let message = tokio::time::timeout(Duration::from_secs(10), out.recv())
            .await
            .expect("in time")
            .expect("open");
        match message {
            Message::Text(text) => serde_json::from_str(text.as_str()).expect("a ServerMsg"),
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// Over in-memory channels: hello first, then a private echo server,
    /// a connection to it, and the echoed bytes on the client lane.
    #[tokio::test]
    async fn a_session_runs_over_any_stream_and_sink() {
        let (page_tx, incoming) = mpsc::unbounded_channel();
        let (outgoing, mut page_rx) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let session = RelaySession::new(env(), &shutdown);
        let running =
            tokio::spawn(session.run(FakeSocket { incoming, outgoing }, shutdown.clone()));
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
        let closing = loop {
            match tokio::time::timeout(Duration::from_secs(10), page_rx.recv()).await {
                Ok(Some(Message::Close(frame))) => break frame,
                Ok(Some(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        assert_eq!(closing.map(|frame| frame.code), Some(CLOSE_GOING_AWAY));
        running.await.expect("the session ends");
    }
}
