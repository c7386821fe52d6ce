//! Student programs: the socket calls of a student's own Python program,
//! run in the page, each one performed for real by the bridge.
//!
//! The page runs `server.py` or `client.py` in a Web Worker (CPython, via
//! Pyodide). The program's `socket` module is the page's own: every call
//! (`socket()`, `bind()`, `accept()`, `recv()`, ...) becomes one
//! [`ClientMsg::SockCall`](crate::ClientMsg::SockCall) on the session's
//! `/ws`, and the program waits (really blocks) until the bridge answers
//! with [`ServerMsg::SockReply`](crate::ServerMsg::SockReply). The bridge
//! performs the call on a real socket and traces it like any other step,
//! with the student's file and line in [`Source`].
//!
//! # A run, from the top
//!
//! 1. `program_start { program, lane, file }`: the page names the run (its
//!    id, chosen by the page from 1 up, never reused in a session), which
//!    lane of the diagram it draws in (`server.py` the server lane,
//!    `client.py` the client lane) and its file name.
//! 2. `sock_call { program, call, op, ... }`, in order: `call` numbers the
//!    program's calls from 1, and the reply names it. The program waits
//!    for each reply, except for a `posted` call (a blocking TCP send,
//!    which returns as soon as its bytes are handed over): the bridge
//!    still answers it, and at most [`MAX_POSTED_CALLS`] may be
//!    unanswered. The page waits for their answers before the program
//!    prints, ends or waits for input, so the trace keeps the program's
//!    order.
//! 3. `program_print { program, text }` for each line the program prints,
//!    so the trace (and the instructor) see it in order with the calls.
//! 4. `program_end { program }` when it finishes, fails or is stopped: the
//!    bridge closes every socket the program still has (tracing each
//!    `close()`), answers a call still waiting with `EINTR`, and replies
//!    `program_ended`.
//!
//! # Ports: each session has its own
//!
//! The handout's `s.bind((socket.gethostname(), 1234))` must work for every
//! student of a class at once. A program's `bind()` asks for a port in its
//! session's own port space; the bridge binds a real ephemeral loopback
//! port and remembers the pair. A `connect()` to a port of that space from
//! the same session reaches the real one. The trace says both: the
//! [`Step::Bind`](crate::Step::Bind) event's `addr` is the real address and
//! its `asked` the one the program asked for, and [`SockValue::Bound`]
//! gives both to the page, so a terminal's `python3 client.py` or `nc` on
//! the bridge's machine can reach the student's server on the real port.

use crate::{Bytes, ErrorKind, Family, Lane, Transport};
use serde::{Deserialize, Serialize};

/// One run of a student's program within a session (chosen by the page,
/// from 1 up).
pub type ProgramId = u32;

/// One socket of a student's program (chosen by the bridge, from 1 up, per
/// session; an `accept()` returns a new one).
pub type SockId = u32;

/// The name `socket.gethostname()` returns to a student's program; it
/// resolves to the loopback address, so the handout's code runs as written.
pub const HOSTNAME: &str = "socket-lab";

/// How many `posted` calls of one program may be unanswered at once (a
/// send carries at most 16 KiB: this many is the program's send window).
pub const MAX_POSTED_CALLS: usize = 8;

/// Where in the student's program a step was made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Source {
    pub program: ProgramId,
    /// The program's file name as the student sees it (`server.py`).
    pub file: String,
    /// 1-based line in that file.
    pub line: u32,
}

/// `shutdown(how)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shut {
    /// `SHUT_RD`.
    Read,
    /// `SHUT_WR`.
    Write,
    /// `SHUT_RDWR`.
    Both,
}

/// One socket call of a student's program, with its arguments as Python
/// gave them. Hosts are as the program wrote them (`"localhost"`,
/// `"socket-lab"`, `""`, `"127.0.0.1"`, `"::1"`); the bridge resolves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SockOp {
    /// `socket.socket(family, type)`: returns [`SockValue::Socket`].
    Socket {
        family: Family,
        transport: Transport,
    },
    /// `s.bind((host, port))`: returns [`SockValue::Bound`]. Port 0 asks
    /// for any free port, as in Python.
    Bind {
        sock: SockId,
        host: String,
        port: u16,
    },
    /// `s.listen(backlog)`: returns [`SockValue::Done`].
    Listen { sock: SockId, backlog: u32 },
    /// `s.accept()`: returns [`SockValue::Accepted`].
    Accept { sock: SockId },
    /// `s.connect((host, port))`: returns [`SockValue::Connected`] (TCP),
    /// or aims a UDP socket.
    Connect {
        sock: SockId,
        host: String,
        port: u16,
    },
    /// `s.send(data)` (`all: false`, may write less) or `s.sendall(data)`
    /// (`all: true`): returns [`SockValue::Sent`].
    Send {
        sock: SockId,
        data: Bytes,
        #[serde(default)]
        all: bool,
    },
    /// `s.recv(max)`: returns [`SockValue::Data`] (empty: the peer closed).
    Recv { sock: SockId, max: u32 },
    /// `s.sendto(data, (host, port))`: returns [`SockValue::Sent`].
    SendTo {
        sock: SockId,
        data: Bytes,
        host: String,
        port: u16,
    },
    /// `s.recvfrom(max)`: returns [`SockValue::DataFrom`].
    RecvFrom { sock: SockId, max: u32 },
    /// `s.shutdown(how)`: returns [`SockValue::Done`].
    Shutdown { sock: SockId, how: Shut },
    /// `s.close()`: returns [`SockValue::Done`]. Closing a socket twice is
    /// not an error, as in Python.
    Close { sock: SockId },
}

impl SockOp {
    /// The socket the call is on (none for `socket()`).
    pub fn sock(&self) -> Option<SockId> {
        match self {
            SockOp::Socket { .. } => None,
            SockOp::Bind { sock, .. }
            | SockOp::Listen { sock, .. }
            | SockOp::Accept { sock }
            | SockOp::Connect { sock, .. }
            | SockOp::Send { sock, .. }
            | SockOp::Recv { sock, .. }
            | SockOp::SendTo { sock, .. }
            | SockOp::RecvFrom { sock, .. }
            | SockOp::Shutdown { sock, .. }
            | SockOp::Close { sock } => Some(*sock),
        }
    }
}

/// What a successful call returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "value", rename_all = "snake_case")]
pub enum SockValue {
    /// Nothing to return (`listen`, `shutdown`, `close`, a UDP `connect`).
    Done,
    /// `socket()`: the new socket.
    Socket { sock: SockId },
    /// `bind()`: `local` is the address in the session's own port space,
    /// as the program asked (`127.0.0.1:1234`: what `getsockname()` gives);
    /// `real` is the real socket's address on the bridge's machine
    /// (`127.0.0.1:40211`), where a terminal client can reach it.
    Bound { local: String, real: String },
    /// `accept()`: the new socket for this client, the client's real
    /// address (what the handout's `print` shows), and the new socket's
    /// local address in the session's port space.
    Accepted {
        sock: SockId,
        peer: String,
        local: String,
    },
    /// `connect()`: this socket's real local address and the peer's
    /// address in the session's port space (what `getpeername()` gives).
    Connected { local: String, peer: String },
    /// `send()`/`sendall()`/`sendto()`: bytes written.
    Sent { n: u32 },
    /// `recv()`: the bytes of exactly one read; empty when the peer closed.
    Data { data: Bytes },
    /// `recvfrom()`: one datagram and who sent it.
    DataFrom { data: Bytes, peer: String },
}

/// Why a call failed, as Python will raise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockError {
    /// The symbolic errno (`"ECONNREFUSED"`, `"EADDRINUSE"`, `"ETIMEDOUT"`,
    /// `"ECONNRESET"`, `"EPIPE"`, `"ENOTCONN"`, `"EBADF"`, `"EINVAL"`,
    /// `"EACCES"` for a target the bridge may not reach, `"EINTR"` for a
    /// call ended by Stop). The page's `socket` module turns it into the
    /// exception Python would raise (`ConnectionRefusedError`, ...).
    /// `"timeout"` is special: the call's `timeout_ms` passed, and Python
    /// raises `TimeoutError("timed out")`.
    pub errno: String,
    /// The operating system's words (`"Connection refused"`).
    pub message: String,
    /// What it means to a student, for the page's one-sentence explanation.
    pub kind: ErrorKind,
}

/// The outcome of one [`SockOp`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SockResult {
    Ok(SockValue),
    Err(SockError),
}

/// Which lane a program draws in, and its file: a helper for the page.
pub fn lane_of_file(file: &str) -> Lane {
    if file.contains("server") {
        Lane::Server
    } else {
        Lane::Client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMsg, ServerMsg};

    /// The calls and replies are readable, tagged JSON.
    #[test]
    fn calls_and_replies_are_tagged_json() {
        let call = ClientMsg::SockCall {
            program: 1,
            call: 3,
            op: SockOp::Bind {
                sock: 1,
                host: HOSTNAME.into(),
                port: 1234,
            },
            timeout_ms: None,
            line: Some(5),
            posted: false,
        };
        let json = serde_json::to_string(&call).unwrap();
        assert_eq!(
            json,
            r#"{"type":"sock_call","program":1,"call":3,"op":{"op":"bind","sock":1,"host":"socket-lab","port":1234},"line":5}"#
        );
        assert_eq!(serde_json::from_str::<ClientMsg>(&json).unwrap(), call);

        let reply = ServerMsg::SockReply {
            program: 1,
            call: 3,
            result: SockResult::Ok(SockValue::Bound {
                local: "127.0.0.1:1234".into(),
                real: "127.0.0.1:40211".into(),
            }),
        };
        let json = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            json,
            r#"{"type":"sock_reply","program":1,"call":3,"result":{"ok":{"value":"bound","local":"127.0.0.1:1234","real":"127.0.0.1:40211"}}}"#
        );
        assert_eq!(serde_json::from_str::<ServerMsg>(&json).unwrap(), reply);

        let refused = ServerMsg::SockReply {
            program: 2,
            call: 2,
            result: SockResult::Err(SockError {
                errno: "ECONNREFUSED".into(),
                message: "Connection refused".into(),
                kind: ErrorKind::ConnectionRefused,
            }),
        };
        let json = serde_json::to_string(&refused).unwrap();
        assert!(json.contains(r#""err":{"errno":"ECONNREFUSED""#), "{json}");
        assert_eq!(serde_json::from_str::<ServerMsg>(&json).unwrap(), refused);
    }

    /// `send` defaults to a plain `send()`; `sendall` says so.
    #[test]
    fn send_is_not_sendall_unless_asked() {
        let op: SockOp = serde_json::from_str(r#"{"op":"send","sock":2,"data":"6869"}"#).unwrap();
        assert_eq!(
            op,
            SockOp::Send {
                sock: 2,
                data: Bytes(b"hi".to_vec()),
                all: false
            }
        );
        assert_eq!(op.sock(), Some(2));
    }
}
