//! Student programs: a student's own Python program runs in the page, and
//! the bridge performs each of its socket calls on a real socket (the
//! protocol is in [`protocol::program`]).
//!
//! Run the bridge (`make run`), open the page's code view, run the
//! handout's `server.py`: its `bind((socket.gethostname(), 1234))`,
//! `listen(5)` and `accept()` happen here, on a real `TcpListener`. Then,
//! in a terminal, `nc 127.0.0.1 PORT` with the real port the trace shows:
//! the student's `accept()` returns your `nc`.
//!
//! # Layout
//!
//! - [`Programs`] (here): a session's running programs. It starts one task
//!   per program and hands it the program's calls.
//! - `runner.rs`: [`ProgramRunner`], one program's task. It performs the
//!   calls one at a time, in order (a program is single-threaded), and
//!   traces each. Programs of one session run at once: the student's
//!   server blocked in `accept()` never holds up the client's `connect()`.
//! - `stream.rs` and `datagram.rs`: the calls of TCP (`listen`, `accept`,
//!   `connect`, `send`, `recv`, `shutdown`) and of UDP (`sendto`,
//!   `recvfrom`), on real tokio sockets.
//! - `socket.rs`: [`ProgramSocket`], one socket and the stage it is at
//!   (fresh, listening, connected, UDP).
//! - `ports.rs`: [`PortSpace`], the session's own port numbers (its 1234
//!   is a real ephemeral port), and which hosts mean "this machine".
//! - `destination.rs`: where a `connect()` or `sendto()` goes: the
//!   session's own port, the public lab server, an allowed target, or
//!   nowhere (refused).
//! - `errno.rs`: errors as Python raises them (`ECONNREFUSED`, ...).
//!
//! # Bounds
//!
//! The same safety model as the rest of `/ws`: a session runs at most
//! `max_programs_per_session` programs and has at most
//! `max_program_sockets_per_session` sockets open across them; one
//! `recv()` reads at most [`SessionLimits::read_chunk`] bytes; data to
//! send counts against the session's buffered bytes; at most
//! [`CALL_QUEUE`] calls wait per program; every call waits at most until
//! its timeout, the program's end or the session's end. A program reaches
//! only its session's own ports, the public lab server and the
//! `--allow-target`s: a bad call gets an error, as in Python, and the
//! session goes on.

mod datagram;
mod destination;
mod errno;
mod ports;
mod runner;
mod socket;
mod stream;

pub use ports::{Known, Loopback, NotHere, PortLease, PortSpace, host_port, loopback};
pub use runner::{CallRequest, ProgramRunner};
pub use socket::ProgramSocket;

use crate::clock::Clock;
use crate::config::{AllowList, SessionLimits};
use crate::lab::PublicLab;
use crate::outbox::Outbox;
use crate::route::Locals;
use crate::route::RouteSink;
use protocol::{
    ConnId, Family, Lane, ProgramId, Refusal, ServerMsg, SockResult, Source, Step, TraceEvent,
    Transport,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How many calls may wait for one program: its posted sends (see
/// [`protocol::program::MAX_POSTED_CALLS`]) and the one call it waits for.
pub const CALL_QUEUE: usize = protocol::program::MAX_POSTED_CALLS + 1;

/// Connection ids of programs' connections start above this, far from the
/// page's own (which count from 1), so the two never collide.
pub const PROGRAM_CONNS: ConnId = 10_000;

/// The longest file name a program may have (it is in every event).
const MAX_FILE_NAME: usize = 128;

fn not_running(program: ProgramId) -> protocol::SockError {
    errno::named(
        "EBADF",
        format!("Bad file descriptor (program {program} is not running)"),
        protocol::ErrorKind::Other,
    )
}

/// What every program of one session shares.
#[derive(Debug)]
pub struct ProgramEnv {
    pub clock: Clock,
    /// The session's queue to its page: traces and replies.
    pub outbox: Outbox,
    pub limits: SessionLimits,
    pub allow_targets: AllowList,
    /// The public lab server, if this bridge runs one: `connect()` to its
    /// port reaches it.
    pub public: Option<PublicLab>,
    /// The session's sockets' local addresses -> their connection ids
    /// (the page's connections and the programs'), so an `accept()` can
    /// tell which client it got.
    pub locals: Locals,
    /// The session's own port numbers.
    pub ports: PortSpace,
    /// One permit per socket the session's programs may still open.
    pub sockets: Arc<Semaphore>,
    /// The session's budget of bytes waiting to be written to sockets,
    /// shared with the page's own connections.
    pub to_sockets: Arc<Semaphore>,
    /// The session's socket numbers, from 1 up.
    next_sock: AtomicU32,
    /// The programs' connection ids, from [`PROGRAM_CONNS`] + 1 up.
    next_conn: AtomicU32,
}

impl ProgramEnv {
    pub fn new(
        clock: Clock,
        outbox: Outbox,
        limits: SessionLimits,
        allow_targets: AllowList,
        public: Option<PublicLab>,
        locals: Locals,
        to_sockets: Arc<Semaphore>,
    ) -> ProgramEnv {
        let sockets = Arc::new(Semaphore::new(
            limits
                .max_program_sockets_per_session
                .min(Semaphore::MAX_PERMITS),
        ));
        ProgramEnv {
            clock,
            outbox,
            limits,
            allow_targets,
            public,
            locals,
            ports: PortSpace::default(),
            sockets,
            to_sockets,
            next_sock: AtomicU32::new(1),
            next_conn: AtomicU32::new(PROGRAM_CONNS + 1),
        }
    }

    /// A new socket number.
    fn sock_id(&self) -> u32 {
        self.next_sock.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether `sock` was ever given out in this session.
    fn was_given(&self, sock: u32) -> bool {
        sock >= 1 && sock < self.next_sock.load(Ordering::Relaxed)
    }

    /// A new connection id.
    fn conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }
}

/// A session's running programs.
#[derive(Debug)]
pub struct Programs {
    env: Arc<ProgramEnv>,
    running: HashMap<ProgramId, ProgramHandle>,
}

/// The session's end of one program's task.
#[derive(Debug)]
struct ProgramHandle {
    /// The program's calls, in order. Bounded, and fed with `try_send`:
    /// the session never waits for one program.
    calls: mpsc::Sender<CallRequest>,
    /// Cancelled by `program_end` (or the session's end): a waiting call
    /// returns `EINTR`, and the task closes the program's sockets.
    end: CancellationToken,
    lane: Lane,
    file: String,
    /// The line of the program's latest call, shared with its task: a
    /// print that names no line is traced at it.
    line: Arc<AtomicU32>,
}

impl Programs {
    pub fn new(env: ProgramEnv) -> Programs {
        Programs {
            env: Arc::new(env),
            running: HashMap::new(),
        }
    }

    /// What the programs share (for tests and the session).
    pub fn env(&self) -> &Arc<ProgramEnv> {
        &self.env
    }

    /// Starts `program`'s task on `tasks`, ended by `session` at the
    /// latest. `public_route` is the session's queue for the public
    /// server's events of its own connections. Refused: why.
    pub fn start(
        &mut self,
        program: ProgramId,
        lane: Lane,
        file: String,
        public_route: Option<RouteSink>,
        tasks: &TaskTracker,
        session: &CancellationToken,
    ) -> Result<(), (Refusal, String)> {
        // A program whose task has finished is gone for good.
        self.running.retain(|_, handle| !handle.calls.is_closed());
        if self.running.contains_key(&program) {
            return Err((
                Refusal::InUse,
                format!("program {program} is already running: number each run anew"),
            ));
        }
        let limit = self.env.limits.max_programs_per_session;
        if self.running.len() >= limit {
            return Err((
                Refusal::Limit,
                format!("a session may run at most {limit} programs at once: stop one first"),
            ));
        }
        if file.is_empty() || file.len() > MAX_FILE_NAME {
            return Err((
                Refusal::BadMessage,
                format!("a program's file name must have 1 to {MAX_FILE_NAME} bytes"),
            ));
        }
        let (calls, receiver) = mpsc::channel(CALL_QUEUE);
        let end = session.child_token();
        let line = Arc::new(AtomicU32::new(1));
        let runner = ProgramRunner {
            program,
            lane,
            file: file.clone(),
            env: self.env.clone(),
            public_route,
            end: end.clone(),
            line: line.clone(),
            sockets: Default::default(),
            deferred: Default::default(),
        };
        tasks.spawn(runner.run(receiver));
        self.running.insert(
            program,
            ProgramHandle {
                calls,
                end,
                lane,
                file,
                line,
            },
        );
        Ok(())
    }

    /// Hands one call to its program. A call the program cannot take gets
    /// its error reply here, so the page's program never waits in vain.
    pub async fn call(&mut self, program: ProgramId, request: CallRequest) {
        let call = request.call;
        let refused = match self.running.get(&program) {
            Some(handle) if handle.calls.is_closed() => not_running(program),
            None => not_running(program),
            Some(handle) if handle.end.is_cancelled() => errno::interrupted(),
            Some(handle) => match handle.calls.try_send(request) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => errno::invalid(&format!(
                    "at most {CALL_QUEUE} calls may wait unanswered: wait for the replies first"
                )),
                Err(mpsc::error::TrySendError::Closed(_)) => errno::interrupted(),
            },
        };
        let reply = ServerMsg::SockReply {
            program,
            call,
            result: SockResult::Err(refused),
        };
        let _ = self.env.outbox.send(reply).await;
    }

    /// Traces a line the program printed, on its lane, in order with its
    /// calls (the program waits for each call's reply before it prints).
    pub async fn print(&mut self, program: ProgramId, text: String, line: Option<u32>) {
        let Some(handle) = self.running.get(&program) else {
            return;
        };
        let event = TraceEvent {
            at_us: self.env.clock.now_us(),
            lane: handle.lane,
            server: None,
            conn: None,
            server_conn: None,
            source: Some(Source {
                program,
                file: handle.file.clone(),
                line: line.unwrap_or_else(|| handle.line.load(Ordering::Relaxed)),
            }),
            step: Step::Print { text },
        };
        let _ = self.env.outbox.send(ServerMsg::Trace(event)).await;
    }

    /// Ends `program`: its task answers a waiting call with `EINTR`,
    /// closes its sockets and replies `program_ended`. A program that is
    /// not running is answered at once (nothing to close).
    pub async fn end(&mut self, program: ProgramId) {
        match self.running.get(&program) {
            Some(handle) if !handle.calls.is_closed() => handle.end.cancel(),
            _ => {
                let ended = ServerMsg::ProgramEnded { program, closed: 0 };
                let _ = self.env.outbox.send(ended).await;
            }
        }
    }

    /// Where `addr` (`HOST:PORT`) reaches an open socket of this session's
    /// programs: a loopback host and a port of the session's own space
    /// (`127.0.0.1:1234`), or that socket's real address. `None` for any
    /// other address.
    pub fn reach(&self, addr: &str, transport: Transport) -> Option<SocketAddr> {
        let (host, port) = addr.trim().rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let family = if host.contains(':') {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        let place = loopback(host, family).ok()?;
        if let Some(Known::Open(real)) = self.env.ports.lookup(transport, port) {
            return Some(SocketAddr::new(place.ip, real.port()));
        }
        let real = SocketAddr::new(place.ip, port);
        self.env.ports.asked_port(transport, real).map(|_| real)
    }

    /// Whether `program` is running (its task has not finished).
    pub fn is_running(&self, program: ProgramId) -> bool {
        self.running
            .get(&program)
            .is_some_and(|handle| !handle.calls.is_closed())
    }
}
