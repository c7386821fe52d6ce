//! Reading what comes from the bridge, and trace files, with one small
//! reader.
//!
//! serde's derived readers were the largest part of the page's wasm
//! (about 31 KB of its gzipped weight): every message and step type had a
//! reader of its own, generic over serde_json's parser. Here the text is
//! parsed once by miniserde (a JSON parser built to be small: one
//! parser, no code per type) into a [`Value`], and each message is then
//! picked out of it field by field, checked for the fields its `type` (a
//! step: its `call`) needs. That gives the same messages and events as
//! the protocol's own serde reader, and refuses the same malformed ones:
//! the tests below hold the two readers to each other.

use miniserde::json::{self, Number, Object, Value};
use protocol::program::Source;
use protocol::{Bytes, CheckReport, Limits, ProgramId, PublicServer, ServerMsg, Step, TraceEvent};
use protocol::{Call, ErrorKind, Family, Lane, Mode, Refusal, Transport};

/// Parses JSON text.
fn parse(json: &str) -> Result<Value, String> {
    json::from_str(json).map_err(|_| "not valid JSON".to_string())
}

/// An object's fields, named for messages about them (`in \`send\``).
struct Fields<'a> {
    of: &'a Object,
    what: &'a str,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, what: &'a str) -> Result<Fields<'a>, String> {
        match value {
            Value::Object(of) => Ok(Fields { of, what }),
            _ => Err(format!("`{what}` must be an object")),
        }
    }

    /// A field that is there and not `null`.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.of.get(key).filter(|v| !matches!(v, Value::Null))
    }

    fn wrong(&self, key: &str, kind: &str) -> String {
        format!("field `{key}` in `{}` must be {kind}", self.what)
    }

    fn missing(&self, key: &str) -> String {
        format!("missing field `{key}` in `{}`", self.what)
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    fn str(&self, key: &str) -> Result<String, String> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(Number::U64(n))) => Ok(Some(*n)),
            Some(_) => Err(self.wrong(key, "a whole number of 0 or more")),
        }
    }

    fn u64(&self, key: &str) -> Result<u64, String> {
        self.opt_u64(key)?.ok_or_else(|| self.missing(key))
    }

    fn opt_u32(&self, key: &str) -> Result<Option<u32>, String> {
        self.opt_u64(key)?
            .map(|n| u32::try_from(n).map_err(|_| self.wrong(key, "a smaller number")))
            .transpose()
    }

    fn u32(&self, key: &str) -> Result<u32, String> {
        self.opt_u32(key)?.ok_or_else(|| self.missing(key))
    }

    fn bool(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.wrong(key, "true or false")),
        }
    }

    /// One of the protocol's named values (`"client"`, `"tcp"`, ...).
    fn opt_name<T: Named>(&self, key: &str) -> Result<Option<T>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => T::ALL
                .iter()
                .find(|(_, name)| name == s)
                .map(|&(value, _)| Some(value))
                .ok_or_else(|| format!("unknown `{key}` \"{s}\" in `{}`", self.what)),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    fn name<T: Named>(&self, key: &str) -> Result<T, String> {
        self.opt_name(key)?.ok_or_else(|| self.missing(key))
    }

    fn bytes(&self, key: &str) -> Result<Bytes, String> {
        Bytes::from_hex(&self.str(key)?)
            .map_err(|e| format!("field `{key}` in `{}`: {e}", self.what))
    }

    fn opt_object(&self, key: &'a str) -> Result<Option<Fields<'a>>, String> {
        self.get(key).map(|v| Fields::of(v, key)).transpose()
    }

    fn object(&self, key: &'a str) -> Result<Fields<'a>, String> {
        self.opt_object(key)?.ok_or_else(|| self.missing(key))
    }

    fn array(&self, key: &str) -> Result<&'a [Value], String> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(self.wrong(key, "an array")),
        }
    }
}

/// A protocol enum whose values are written as names: each value and its
/// name in JSON (a table is smaller than serde's reader per enum; the
/// tests hold each table to serde's names).
trait Named: Copy + 'static {
    const ALL: &'static [(Self, &'static str)];
}

macro_rules! named {
    ($($t:ident { $($v:ident = $n:literal),* $(,)? })*) => {$(
        impl Named for $t {
            const ALL: &'static [(Self, &'static str)] = &[$(($t::$v, $n)),*];
        }
    )*
        /// Fails to compile when a protocol enum gains a value the table
        /// does not have.
        #[cfg(test)]
        #[allow(dead_code)]
        mod every_value_named {
            use super::*;
            $(
                #[allow(non_snake_case)]
                fn $t(value: $t) {
                    match value {
                        $($t::$v)|* => {}
                    }
                }
            )*
        }
    };
}

named! {
    Lane { Server = "server", Client = "client" }
    Family { Ipv4 = "ipv4", Ipv6 = "ipv6" }
    Transport { Tcp = "tcp", Udp = "udp" }
    Mode { Connect = "connect", Greet = "greet", Echo = "echo" }
    Refusal {
        BadMessage = "bad_message", Version = "version", TooLarge = "too_large",
        NotAllowed = "not_allowed", Unknown = "unknown", InUse = "in_use", Limit = "limit",
        State = "state",
    }
    Call {
        Socket = "socket", Bind = "bind", Listen = "listen", Accept = "accept",
        Connect = "connect", Send = "send", Recv = "recv", SendTo = "send_to",
        RecvFrom = "recv_from", Shutdown = "shutdown", Close = "close",
    }
    ErrorKind {
        ConnectionRefused = "connection_refused", TimedOut = "timed_out",
        ConnectionReset = "connection_reset", ConnectionAborted = "connection_aborted",
        BrokenPipe = "broken_pipe", AddrInUse = "addr_in_use",
        AddrNotAvailable = "addr_not_available", Unreachable = "unreachable",
        NotAllowed = "not_allowed", Idle = "idle", BadAddress = "bad_address", Other = "other",
    }
}

/// A message from the bridge as the page takes it.
pub enum Incoming {
    /// For a student's program: a `sock_reply` (handed to the runner as it
    /// came) or its `program_ended`.
    Program {
        program: ProgramId,
        call: Option<u64>,
        ended: bool,
    },
    /// Any other message, read.
    Msg(ServerMsg),
}

/// Reads a message from the bridge, parsing its text once.
pub fn incoming(json: &str) -> Result<Incoming, String> {
    let value = parse(json)?;
    let m = Fields::of(&value, "message")?;
    let kind = m.str("type")?;
    let ended = kind == "program_ended";
    if (ended || kind == "sock_reply")
        && let Some(program) = m.opt_u32("program")?
    {
        return Ok(Incoming::Program {
            program,
            call: m.opt_u64("call")?,
            ended,
        });
    }
    message(&m, &kind).map(Incoming::Msg)
}

/// One message from the bridge, as the page reads it (a `sock_reply` is
/// not read here: it goes to the runner as it came).
pub fn server_msg(json: &str) -> Result<ServerMsg, String> {
    let value = parse(json)?;
    let m = Fields::of(&value, "message")?;
    message(&m, &m.str("type")?)
}

fn message(m: &Fields, kind: &str) -> Result<ServerMsg, String> {
    let m = Fields {
        of: m.of,
        what: kind,
    };
    Ok(match kind {
        "trace" => ServerMsg::Trace(event(&m)?),
        "hello" => ServerMsg::Hello {
            version: m.u32("version")?,
            bridge: m.str("bridge")?,
            public_server: m
                .opt_object("public_server")?
                .map(|p| public_server(&p))
                .transpose()?,
            limits: limits(&m.object("limits")?)?,
            submission: m.opt_str("submission")?,
        },
        "server_started" => ServerMsg::ServerStarted {
            server: m.u32("server")?,
            addr: m.str("addr")?,
            mode: m.name("mode")?,
            transport: m.name("transport")?,
        },
        "server_stopped" => ServerMsg::ServerStopped {
            server: m.u32("server")?,
        },
        "refused" => ServerMsg::Refused {
            reason: m.name("reason")?,
            message: m.str("message")?,
            conn: m.opt_u32("conn")?,
            server: m.opt_u32("server")?,
        },
        "program_ended" => ServerMsg::ProgramEnded {
            program: m.u32("program")?,
            closed: m.u32("closed")?,
        },
        "task_checks" => ServerMsg::TaskChecks {
            task: u8::try_from(m.u32("task")?).map_err(|_| m.wrong("task", "a task's number"))?,
            checks: m
                .array("checks")?
                .iter()
                .map(|c| check_report(&Fields::of(c, "checks")?))
                .collect::<Result<_, String>>()?,
        },
        other => return Err(format!("unknown message type `{other}`")),
    })
}

fn public_server(p: &Fields) -> Result<PublicServer, String> {
    Ok(PublicServer {
        addr: p.str("addr")?,
        mode: p.name("mode")?,
        transport: p.name("transport")?,
    })
}

fn limits(l: &Fields) -> Result<Limits, String> {
    Ok(Limits {
        max_servers: l.u32("max_servers")?,
        max_connections: l.u32("max_connections")?,
        max_message_bytes: l.u32("max_message_bytes")?,
        idle_timeout_secs: l.u32("idle_timeout_secs")?,
        max_programs: l.opt_u32("max_programs")?.unwrap_or_default(),
        max_program_sockets: l.opt_u32("max_program_sockets")?.unwrap_or_default(),
    })
}

fn check_report(c: &Fields) -> Result<CheckReport, String> {
    Ok(CheckReport {
        side: c.name("side")?,
        title: c.str("title")?,
        passed: c.bool("passed")?,
        expected: c.str("expected")?,
        happened: c.str("happened")?,
        line: c.opt_u32("line")?,
        at_us: c.opt_u64("at_us")?,
    })
}

/// A trace event (a `trace` message's extra `type` field is ignored).
fn event(e: &Fields) -> Result<TraceEvent, String> {
    let source = match e.opt_object("source")? {
        Some(s) => Some(Source {
            program: s.u32("program")?,
            file: s.str("file")?,
            line: s.u32("line")?,
        }),
        None => None,
    };
    Ok(TraceEvent {
        at_us: e.u64("at_us")?,
        lane: e.name("lane")?,
        server: e.opt_u32("server")?,
        conn: e.opt_u32("conn")?,
        server_conn: e.opt_u64("server_conn")?,
        source,
        step: step(&e.object("step")?)?,
    })
}

fn step(w: &Fields) -> Result<Step, String> {
    let call = w.str("call")?;
    let w = Fields {
        of: w.of,
        what: &call,
    };
    Ok(match call.as_str() {
        "socket" => Step::Socket {
            family: w.name("family")?,
            transport: w.name("transport")?,
        },
        "bind" => Step::Bind {
            addr: w.str("addr")?,
            asked: w.opt_str("asked")?,
        },
        "listen" => Step::Listen {
            backlog: w.u32("backlog")?,
        },
        "accept_paused" => Step::AcceptPaused,
        "accept_resumed" => Step::AcceptResumed,
        "accept" => Step::Accept {
            peer: w.str("peer")?,
            local: w.str("local")?,
        },
        "connect" => Step::Connect {
            target: w.str("target")?,
        },
        "connected" => Step::Connected {
            local: w.str("local")?,
            peer: w.str("peer")?,
        },
        "send" => Step::Send {
            data: w.bytes("data")?,
        },
        "recv" => Step::Recv {
            data: w.bytes("data")?,
        },
        "recv_eof" => Step::RecvEof,
        "send_to" => Step::SendTo {
            peer: w.str("peer")?,
            data: w.bytes("data")?,
        },
        "recv_from" => Step::RecvFrom {
            peer: w.str("peer")?,
            data: w.bytes("data")?,
        },
        "shutdown" => Step::Shutdown,
        "close" => Step::Close,
        "print" => Step::Print {
            text: w.str("text")?,
        },
        "error" => Step::Error {
            kind: w.name("kind")?,
            message: w.str("message")?,
            failed: w.opt_name("failed")?,
        },
        other => return Err(format!("unknown step `{other}`")),
    })
}

/// One trace event from its JSON (or a `trace` message's).
pub fn event_from_json(json: &str) -> Result<TraceEvent, String> {
    let value = parse(json)?;
    event(&Fields::of(&value, "event")?)
}

/// Events from a JSON array of them.
fn events_of(items: &[Value]) -> Result<Vec<TraceEvent>, String> {
    items
        .iter()
        .map(|item| event(&Fields::of(item, "event")?))
        .collect()
}

/// A JSON array of trace events (a trace file's, or the one kept in the
/// browser).
pub fn events_from_json(json: &str) -> Result<Vec<TraceEvent>, String> {
    match parse(json)? {
        Value::Array(items) => events_of(&items),
        _ => Err("expected an array of events".into()),
    }
}

/// A trace file's `format` and its events (`{"format":...,"events":[...]}`);
/// `None` if the text is not such an object.
pub fn trace_file(json: &str) -> Option<Result<(String, Vec<TraceEvent>), String>> {
    let value = parse(json).ok()?;
    let file = Fields::of(&value, "trace file").ok()?;
    let format = file.str("format").ok()?;
    let events = file.array("events").ok()?;
    Some(events_of(events).map(|events| (format, events)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ServerMsg;

    fn names_are_serdes<T: Named + serde::Serialize>() {
        for (value, name) in T::ALL {
            assert_eq!(serde_json::to_string(value).unwrap(), format!("\"{name}\""));
        }
    }

    /// Each enum's table says the names serde writes.
    #[test]
    fn the_tables_of_names_are_the_protocols() {
        names_are_serdes::<Lane>();
        names_are_serdes::<Family>();
        names_are_serdes::<Transport>();
        names_are_serdes::<Mode>();
        names_are_serdes::<Refusal>();
        names_are_serdes::<Call>();
        names_are_serdes::<ErrorKind>();
    }

    /// The `call` of each step as the protocol writes it. A step added to
    /// the protocol fails to compile here: add it to [`step`] and to
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
    /// added to the protocol fails to compile here: add it to [`server_msg`]
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
