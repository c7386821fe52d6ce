//! Reading trace events (the bridge's `trace` messages, a trace file's
//! events, the trace kept in the browser) with one small reader.
//!
//! serde's derived reader for an internally tagged enum such as
//! [`Step`] (`{"call":"send","data":"..."}`) first copies every message
//! into a buffer of its own and then has a reader per variant: that was
//! the largest single part of the page's wasm. Here a step is read as one
//! flat struct of optional fields ([`StepWire`]) and then checked for the
//! fields its `call` needs, which gives the same events, and the same
//! refusals of malformed ones. The bridge's other messages are read with
//! [`PageMsg`], `ServerMsg` without its `trace` (and the `sock_reply` the
//! page hands on unread), so the page links no second reader of steps.

use protocol::program::Source;
use protocol::{
    Bytes, Call, CheckReport, ConnId, ErrorKind, Family, Lane, Limits, Mode, ProgramId,
    PublicServer, Refusal, ServerId, ServerMsg, Step, TraceEvent, Transport,
};
use serde::Deserialize;

/// What the page reads of every message first: its type, and the program
/// and call it is for (a `sock_reply` or `program_ended`).
#[derive(Deserialize)]
pub struct Peek<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: &'a str,
    #[serde(default)]
    pub program: Option<ProgramId>,
    /// The call a `sock_reply` answers.
    #[serde(default)]
    pub call: Option<u64>,
}

/// `ServerMsg` as the page reads it, but for `trace` (read by
/// [`event_from_json`]) and `sock_reply` (which the runner reads): like a
/// step, one flat struct of every field, checked for those its `type`
/// needs. Its variants and fields are `ServerMsg`'s own: see the test below.
#[derive(Deserialize)]
struct PageMsg {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    bridge: Option<String>,
    #[serde(default)]
    public_server: Option<PublicServer>,
    #[serde(default)]
    limits: Option<Limits>,
    #[serde(default)]
    submission: Option<String>,
    #[serde(default)]
    server: Option<ServerId>,
    #[serde(default)]
    addr: Option<String>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    transport: Option<Transport>,
    #[serde(default)]
    reason: Option<Refusal>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    conn: Option<ConnId>,
    #[serde(default)]
    program: Option<ProgramId>,
    #[serde(default)]
    closed: Option<u32>,
    #[serde(default)]
    task: Option<u8>,
    #[serde(default)]
    checks: Option<Vec<CheckReport>>,
}

impl TryFrom<PageMsg> for ServerMsg {
    type Error = String;

    fn try_from(m: PageMsg) -> Result<ServerMsg, String> {
        let t = m.kind.as_str();
        Ok(match t {
            "hello" => ServerMsg::Hello {
                version: need(m.version, t, "version")?,
                bridge: need(m.bridge, t, "bridge")?,
                public_server: m.public_server,
                limits: need(m.limits, t, "limits")?,
                submission: m.submission,
            },
            "server_started" => ServerMsg::ServerStarted {
                server: need(m.server, t, "server")?,
                addr: need(m.addr, t, "addr")?,
                mode: need(m.mode, t, "mode")?,
                transport: need(m.transport, t, "transport")?,
            },
            "server_stopped" => ServerMsg::ServerStopped {
                server: need(m.server, t, "server")?,
            },
            "refused" => ServerMsg::Refused {
                reason: need(m.reason, t, "reason")?,
                message: need(m.message, t, "message")?,
                conn: m.conn,
                server: m.server,
            },
            "program_ended" => ServerMsg::ProgramEnded {
                program: need(m.program, t, "program")?,
                closed: need(m.closed, t, "closed")?,
            },
            "task_checks" => ServerMsg::TaskChecks {
                task: need(m.task, t, "task")?,
                checks: need(m.checks, t, "checks")?,
            },
            other => return Err(format!("unknown message type `{other}`")),
        })
    }
}

/// One message from the bridge, as the page reads it (a `sock_reply` is
/// not read here: it goes to the runner as it came).
pub fn server_msg(json: &str) -> Result<ServerMsg, String> {
    let peek: Peek = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if peek.kind == "trace" {
        return event_from_json(json).map(ServerMsg::Trace);
    }
    let msg: PageMsg = serde_json::from_str(json).map_err(|e| e.to_string())?;
    ServerMsg::try_from(msg)
}

/// A trace event as JSON (a `trace` message's extra `type` field is
/// ignored).
#[derive(Deserialize)]
pub struct TraceEventWire {
    at_us: u64,
    lane: Lane,
    #[serde(default)]
    server: Option<ServerId>,
    #[serde(default)]
    conn: Option<ConnId>,
    #[serde(default)]
    server_conn: Option<u64>,
    #[serde(default)]
    source: Option<Source>,
    step: StepWire,
}

/// Every field any step has; `call` says which step it is.
#[derive(Deserialize)]
struct StepWire {
    call: String,
    #[serde(default)]
    family: Option<Family>,
    #[serde(default)]
    transport: Option<Transport>,
    #[serde(default)]
    addr: Option<String>,
    #[serde(default)]
    asked: Option<String>,
    #[serde(default)]
    backlog: Option<u32>,
    #[serde(default)]
    peer: Option<String>,
    #[serde(default)]
    local: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    data: Option<Bytes>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    kind: Option<ErrorKind>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    failed: Option<Call>,
}

fn need<T>(value: Option<T>, what: &str, field: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("missing field `{field}` in `{what}`"))
}

impl TryFrom<StepWire> for Step {
    type Error = String;

    fn try_from(w: StepWire) -> Result<Step, String> {
        let c = w.call.as_str();
        Ok(match c {
            "socket" => Step::Socket {
                family: need(w.family, c, "family")?,
                transport: need(w.transport, c, "transport")?,
            },
            "bind" => Step::Bind {
                addr: need(w.addr, c, "addr")?,
                asked: w.asked,
            },
            "listen" => Step::Listen {
                backlog: need(w.backlog, c, "backlog")?,
            },
            "accept_paused" => Step::AcceptPaused,
            "accept_resumed" => Step::AcceptResumed,
            "accept" => Step::Accept {
                peer: need(w.peer, c, "peer")?,
                local: need(w.local, c, "local")?,
            },
            "connect" => Step::Connect {
                target: need(w.target, c, "target")?,
            },
            "connected" => Step::Connected {
                local: need(w.local, c, "local")?,
                peer: need(w.peer, c, "peer")?,
            },
            "send" => Step::Send {
                data: need(w.data, c, "data")?,
            },
            "recv" => Step::Recv {
                data: need(w.data, c, "data")?,
            },
            "recv_eof" => Step::RecvEof,
            "send_to" => Step::SendTo {
                peer: need(w.peer, c, "peer")?,
                data: need(w.data, c, "data")?,
            },
            "recv_from" => Step::RecvFrom {
                peer: need(w.peer, c, "peer")?,
                data: need(w.data, c, "data")?,
            },
            "shutdown" => Step::Shutdown,
            "close" => Step::Close,
            "print" => Step::Print {
                text: need(w.text, c, "text")?,
            },
            "error" => Step::Error {
                kind: need(w.kind, c, "kind")?,
                message: need(w.message, c, "message")?,
                failed: w.failed,
            },
            other => return Err(format!("unknown step `{other}`")),
        })
    }
}

impl TryFrom<TraceEventWire> for TraceEvent {
    type Error = String;

    fn try_from(w: TraceEventWire) -> Result<TraceEvent, String> {
        Ok(TraceEvent {
            at_us: w.at_us,
            lane: w.lane,
            server: w.server,
            conn: w.conn,
            server_conn: w.server_conn,
            source: w.source,
            step: Step::try_from(w.step)?,
        })
    }
}

/// One trace event from its JSON (or a `trace` message's).
pub fn event_from_json(json: &str) -> Result<TraceEvent, String> {
    let wire: TraceEventWire = serde_json::from_str(json).map_err(|e| e.to_string())?;
    TraceEvent::try_from(wire)
}

/// A JSON array of trace events (a trace file's, or the one kept in the
/// browser).
pub fn events_from_json(json: &str) -> Result<Vec<TraceEvent>, String> {
    let wires: Vec<TraceEventWire> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    wires.into_iter().map(TraceEvent::try_from).collect()
}

/// Events read from a trace file's `events`.
pub fn events_from_wire(wires: Vec<TraceEventWire>) -> Result<Vec<TraceEvent>, String> {
    wires.into_iter().map(TraceEvent::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ServerMsg;

    /// The `call` of each step as the protocol writes it. A step added to
    /// the protocol fails to compile here: add it to [`StepWire`] and to
    /// [`every_step`] too.
    fn call_of(step: &Step) -> &'static str {
        match step {
            Step::Socket { .. } => "socket",
            Step::Bind { .. } => "bind",
            Step::Listen { .. } => "listen",
            Step::AcceptPaused => "accept_paused",
            Step::AcceptResumed => "accept_resumed",
            Step::Accept { .. } => "accept",
            Step::Connect { .. } => "connect",
            Step::Connected { .. } => "connected",
            Step::Send { .. } => "send",
            Step::Recv { .. } => "recv",
            Step::RecvEof => "recv_eof",
            Step::SendTo { .. } => "send_to",
            Step::RecvFrom { .. } => "recv_from",
            Step::Shutdown => "shutdown",
            Step::Close => "close",
            Step::Print { .. } => "print",
            Step::Error { .. } => "error",
        }
    }

    fn every_step() -> Vec<Step> {
        let addr = || "127.0.0.1:1234".to_string();
        vec![
            Step::Socket {
                family: Family::Ipv6,
                transport: Transport::Udp,
            },
            Step::Bind {
                addr: addr(),
                asked: None,
            },
            Step::Bind {
                addr: addr(),
                asked: Some("socket-lab:1234".into()),
            },
            Step::Listen { backlog: 5 },
            Step::AcceptPaused,
            Step::AcceptResumed,
            Step::Accept {
                peer: addr(),
                local: "127.0.0.1:40000".into(),
            },
            Step::Connect { target: addr() },
            Step::Connected {
                local: "127.0.0.1:40000".into(),
                peer: addr(),
            },
            Step::Send {
                data: Bytes(b"hello \x00\xff".to_vec()),
            },
            Step::Recv {
                data: Bytes(Vec::new()),
            },
            Step::RecvEof,
            Step::SendTo {
                peer: addr(),
                data: Bytes(b"x".to_vec()),
            },
            Step::RecvFrom {
                peer: addr(),
                data: Bytes(b"y".to_vec()),
            },
            Step::Shutdown,
            Step::Close,
            Step::Print {
                text: "Connection from ('127.0.0.1', 5) \"quoted\"".into(),
            },
            Step::Error {
                kind: ErrorKind::ConnectionRefused,
                message: "Connection refused".into(),
                failed: Some(Call::Connect),
            },
            Step::Error {
                kind: ErrorKind::Other,
                message: "idle".into(),
                failed: None,
            },
        ]
    }

    /// Whether the page reads this message with [`server_msg`]. A message
    /// added to the protocol fails to compile here: add it to [`PageMsg`]
    /// (and to [`every_message`]) too.
    fn read_by_page(msg: &ServerMsg) -> bool {
        match msg {
            ServerMsg::Hello { .. }
            | ServerMsg::ServerStarted { .. }
            | ServerMsg::ServerStopped { .. }
            | ServerMsg::Trace(_)
            | ServerMsg::Refused { .. }
            | ServerMsg::ProgramEnded { .. }
            | ServerMsg::TaskChecks { .. } => true,
            ServerMsg::SockReply { .. } => false,
        }
    }

    fn every_message() -> Vec<ServerMsg> {
        use protocol::Refusal;
        let limits = Limits {
            max_servers: 4,
            max_connections: 8,
            max_message_bytes: 65536,
            idle_timeout_secs: 600,
            max_programs: 2,
            max_program_sockets: 16,
        };
        vec![
            ServerMsg::Hello {
                version: 1,
                bridge: "0.1.0".into(),
                public_server: None,
                limits: limits.clone(),
                submission: None,
            },
            ServerMsg::Hello {
                version: 1,
                bridge: "0.1.0".into(),
                public_server: Some(PublicServer {
                    addr: "127.0.0.1:1234".into(),
                    mode: Mode::Echo,
                    transport: Transport::Tcp,
                }),
                limits,
                submission: Some("{name}_Lab04.zip".into()),
            },
            ServerMsg::ServerStarted {
                server: 1,
                addr: "127.0.0.1:40000".into(),
                mode: Mode::Echo,
                transport: Transport::Udp,
            },
            ServerMsg::ServerStopped { server: 1 },
            ServerMsg::Refused {
                reason: Refusal::Limit,
                message: "too many".into(),
                conn: Some(3),
                server: None,
            },
            ServerMsg::Refused {
                reason: Refusal::BadMessage,
                message: "what?".into(),
                conn: None,
                server: Some(2),
            },
            ServerMsg::ProgramEnded {
                program: 4,
                closed: 2,
            },
            ServerMsg::TaskChecks {
                task: 2,
                checks: vec![
                    CheckReport {
                        side: Lane::Server,
                        title: "Your server accepts a client".into(),
                        passed: true,
                        expected: "accept()".into(),
                        happened: "It did.".into(),
                        line: Some(9),
                        at_us: Some(1200),
                    },
                    CheckReport {
                        side: Lane::Client,
                        title: "Your client connects".into(),
                        passed: false,
                        expected: "connect()".into(),
                        happened: "It never called connect().".into(),
                        line: None,
                        at_us: None,
                    },
                ],
            },
        ]
    }

    /// Every message the page reads comes out as the protocol's own reader
    /// reads it.
    #[test]
    fn every_message_reads_as_the_protocols_reader_reads_it() {
        for msg in every_message() {
            assert!(read_by_page(&msg));
            let json = serde_json::to_string(&msg).unwrap();
            assert_eq!(server_msg(&json), Ok(msg), "{json}");
        }
        assert!(server_msg(r#"{"type":"no_such_thing"}"#).is_err());
        assert!(server_msg(r#"{"type":"hello","version":1}"#).is_err());
        assert!(server_msg("not json").is_err());
    }

    /// Every step, as the bridge writes it in a `trace` message and as a
    /// trace file holds it, reads back as the protocol's own reader reads it.
    #[test]
    fn every_step_reads_as_the_protocols_reader_reads_it() {
        let events: Vec<TraceEvent> = every_step()
            .into_iter()
            .enumerate()
            .map(|(i, step)| TraceEvent {
                at_us: 1000 + i as u64,
                lane: if i % 2 == 0 {
                    Lane::Client
                } else {
                    Lane::Server
                },
                server: (i % 3 == 0).then_some(2),
                conn: (i % 2 == 0).then_some(7),
                server_conn: (i % 4 == 0).then_some(1),
                source: (i % 5 == 0).then(|| Source {
                    program: 3,
                    file: "server.py".into(),
                    line: 11,
                }),
                step,
            })
            .collect();
        for event in &events {
            let message = serde_json::to_string(&ServerMsg::Trace(event.clone())).unwrap();
            assert!(message.contains(&format!("\"call\":\"{}\"", call_of(&event.step))));
            assert_eq!(event_from_json(&message).as_ref(), Ok(event), "{message}");
        }
        let array = serde_json::to_string(&events).unwrap();
        assert_eq!(events_from_json(&array), Ok(events));
    }

    /// A step without a field its call needs, or with an unknown call, is
    /// refused with a reason, as the protocol's reader refuses it.
    #[test]
    fn malformed_steps_are_refused() {
        for json in [
            r#"{"at_us":1,"lane":"client","step":{"call":"send"}}"#,
            r#"{"at_us":1,"lane":"client","step":{"call":"teleport"}}"#,
            r#"{"at_us":1,"lane":"client","step":{"call":"listen","backlog":"five"}}"#,
            r#"{"lane":"client","step":{"call":"close"}}"#,
        ] {
            assert!(event_from_json(json).is_err(), "{json}");
            assert!(serde_json::from_str::<TraceEvent>(json).is_err(), "{json}");
        }
    }
}
