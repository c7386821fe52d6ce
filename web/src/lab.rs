//! The lab's own Python programs, and which line does which socket call.
//!
//! The page shows these beside the trace: selecting a `recv` event
//! highlights `clientsocket.recv(1024)`, so a student connects the line
//! they wrote to what the real socket did. The programs follow the lab
//! handout (Lab 04) task by task, with the comments the lab asks for.

use protocol::{Lane, Mode, Transport};

/// The lab exercise the student is working on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Task {
    /// Task 1: the server accepts and prints who connected.
    #[default]
    Connect,
    /// Task 2: the server sends a message; the client prints it.
    Greet,
    /// Task 3: an echo server.
    Echo,
    /// The UDP version of the echo server (`recvfrom`/`sendto`).
    Udp,
}

impl Task {
    /// All tasks, in the order of the `<select>`.
    pub const ALL: [Task; 4] = [Task::Connect, Task::Greet, Task::Echo, Task::Udp];

    /// The value of its `<option>` (stable: the browser tests use it).
    pub fn value(self) -> &'static str {
        match self {
            Task::Connect => "connect",
            Task::Greet => "greet",
            Task::Echo => "echo",
            Task::Udp => "udp",
        }
    }

    /// Parses an `<option>` value.
    pub fn from_value(value: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.value() == value)
    }

    /// What the `<select>` shows.
    pub fn title(self) -> &'static str {
        match self {
            Task::Connect => "Task 1: connect",
            Task::Greet => "Task 2: greet the client",
            Task::Echo => "Task 3: echo server",
            Task::Udp => "UDP echo (recvfrom/sendto)",
        }
    }

    /// What the bridge's lab server should do for this task.
    pub fn mode(self) -> Mode {
        match self {
            Task::Connect => Mode::Connect,
            Task::Greet => Mode::Greet,
            Task::Echo | Task::Udp => Mode::Echo,
        }
    }

    /// TCP for the lab's three tasks, UDP for the UDP echo.
    pub fn transport(self) -> Transport {
        match self {
            Task::Udp => Transport::Udp,
            _ => Transport::Tcp,
        }
    }

    /// The task a server with this mode and transport runs (for traces
    /// that were imported or came from the public server).
    pub fn for_server(mode: Mode, transport: Transport) -> Task {
        match (mode, transport) {
            (_, Transport::Udp) => Task::Udp,
            (Mode::Connect, _) => Task::Connect,
            (Mode::Greet, _) => Task::Greet,
            (Mode::Echo, _) => Task::Echo,
        }
    }

    /// The task a recorded trace looks like, judged by what its server
    /// did: datagrams are UDP, reading is the echo, only sending is the
    /// greeting, only accepting is Task 1.
    pub fn infer(events: &[protocol::TraceEvent]) -> Option<Task> {
        use protocol::Step;
        let server = || events.iter().filter(|e| e.lane == Lane::Server);
        let did = |f: fn(&Step) -> bool| server().any(|e| f(&e.step));
        if did(|s| {
            matches!(
                s,
                Step::RecvFrom { .. }
                    | Step::SendTo { .. }
                    | Step::Socket {
                        transport: Transport::Udp,
                        ..
                    }
            )
        }) {
            Some(Task::Udp)
        } else if did(|s| matches!(s, Step::Recv { .. })) {
            Some(Task::Echo)
        } else if did(|s| matches!(s, Step::Send { .. })) {
            Some(Task::Greet)
        } else if did(|s| matches!(s, Step::Accept { .. })) {
            Some(Task::Connect)
        } else {
            None
        }
    }

    /// One sentence on what to try with this task.
    pub fn hint(self) -> &'static str {
        match self {
            Task::Connect => {
                "Start the server, then connect a client: watch connect() meet accept()."
            }
            Task::Greet => {
                "Start the server and connect: the server sends its greeting, then closes."
            }
            Task::Echo => "Start the server, connect, then type a message: every byte comes back.",
            Task::Udp => {
                "No connection in UDP: each sendto() is one datagram, each recvfrom() reads one."
            }
        }
    }

    /// The lab's `server.py` for this task.
    pub fn server_py(self) -> &'static str {
        match self {
            Task::Connect => SERVER_TASK1,
            Task::Greet => SERVER_TASK2,
            Task::Echo => SERVER_TASK3,
            Task::Udp => SERVER_UDP,
        }
    }

    /// The lab's `client.py` for this task.
    pub fn client_py(self) -> &'static str {
        match self {
            Task::Connect => CLIENT_TASK1,
            Task::Greet => CLIENT_TASK2,
            Task::Echo => CLIENT_TASK3,
            Task::Udp => CLIENT_UDP,
        }
    }

    /// The program that runs on `lane`.
    pub fn program(self, lane: Lane) -> &'static str {
        match lane {
            Lane::Server => self.server_py(),
            Lane::Client => self.client_py(),
        }
    }

    /// The 1-based line of this task's program on `lane` that makes the
    /// socket call `step` (a `Step::name()`), if the program has one.
    pub fn line_for(self, lane: Lane, step: &str) -> Option<usize> {
        let needle = marker(self, lane, step)?;
        self.program(lane)
            .lines()
            .position(|line| line.contains(needle))
            .map(|i| i + 1)
    }
}

/// The text that identifies the line making `step` on `lane`. Searching
/// for the text, rather than storing line numbers, keeps the mapping right
/// when a comment is added above.
fn marker(task: Task, lane: Lane, step: &str) -> Option<&'static str> {
    let udp = task == Task::Udp;
    let found = match (lane, step) {
        (_, "socket") => "socket.socket(",
        (Lane::Server, "bind") => "s.bind(",
        (Lane::Server, "listen") if !udp => "s.listen(",
        (Lane::Server, "accept" | "accept_paused" | "accept_resumed") if !udp => "s.accept()",
        (Lane::Server, "print") if !udp => "print(f\"Connection from",
        (Lane::Server, "send") => match task {
            Task::Greet => "clientsocket.sendall(",
            Task::Echo => "clientsocket.sendall(data)",
            _ => return None,
        },
        (Lane::Server, "recv") if task == Task::Echo => "clientsocket.recv(",
        (Lane::Server, "recv_eof") if task == Task::Echo => "if not data:",
        (Lane::Server, "close") if !udp => "clientsocket.close()",
        (Lane::Server, "recv_from") => "s.recvfrom(",
        (Lane::Server, "send_to") => "s.sendto(",
        (Lane::Client, "connect" | "connected") => {
            if udp {
                "server = ("
            } else {
                "s.connect("
            }
        }
        (Lane::Client, "send") if task == Task::Echo => "s.sendall(",
        (Lane::Client, "recv" | "recv_eof") if matches!(task, Task::Greet | Task::Echo) => {
            "= s.recv("
        }
        (Lane::Client, "send_to") => "s.sendto(",
        (Lane::Client, "recv_from") => "s.recvfrom(",
        (Lane::Client, "shutdown") if task == Task::Echo => "s.shutdown(",
        (Lane::Client, "close") => "s.close()",
        // An error that names its failed call maps to that call's line
        // (see `Step::call_name`); for one that names none (from an older
        // trace), the server's usual failure is bind() (address in use),
        // the client's is connect().
        (_, "error") => match lane {
            Lane::Server => "s.bind(",
            Lane::Client if udp => "s.sendto(",
            Lane::Client => "s.connect(",
        },
        _ => return None,
    };
    Some(found)
}

/// Splits a Python line into code and its `# comment` (a `#` inside a
/// string literal is code), so the panel can colour comments.
pub fn split_comment(line: &str) -> (&str, &str) {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('#', None) => return line.split_at(i),
            _ => {}
        }
    }
    (line, "")
}

/// What a student should notice about a step, in one or two sentences.
pub fn what_to_notice(step: &protocol::Step) -> &'static str {
    use protocol::Step;
    match step {
        Step::Socket { .. } => "socket() makes an endpoint; it is not connected to anything yet.",
        Step::Bind { .. } => {
            "bind() gives the socket its address: the (host, port) clients will use."
        }
        Step::Listen { .. } => {
            "listen(5) turns the socket into a listening socket: the operating system now completes handshakes and queues up to 5 clients until accept() takes them."
        }
        Step::AcceptPaused => {
            "The server stopped calling accept(): new clients still connect (the OS finishes the handshake) but wait in the backlog queue."
        }
        Step::AcceptResumed => {
            "The server calls accept() again and takes waiting clients from the queue."
        }
        Step::Accept { .. } => {
            "accept() returns a NEW socket for this client; the listening socket keeps listening for the next one."
        }
        Step::Connect { .. } => {
            "connect() starts the three-way handshake (SYN, SYN-ACK, ACK) with the server."
        }
        Step::Connected { .. } => {
            "connect() returned: the handshake is done. Notice it can finish before the server's accept(): the OS completes it."
        }
        Step::Send { .. } => {
            "send() copies bytes into the socket's buffer; TCP delivers them as a stream, not as separate messages."
        }
        Step::Recv { .. } => {
            "recv() returns whatever bytes have arrived, up to the size asked: two sends may come as one recv, or one send as two."
        }
        Step::RecvEof => {
            "recv() returned 0 bytes (b''): the other side closed its sending direction. This is how a program knows the conversation is over."
        }
        Step::SendTo { .. } => {
            "sendto() sends one datagram to an address; no connection is needed."
        }
        Step::RecvFrom { .. } => {
            "recvfrom() returns exactly one datagram and who sent it; datagrams are never merged."
        }
        Step::Shutdown => {
            "shutdown(SHUT_WR) says \"I will send no more\" but keeps reading: the peer's recv() returns b''."
        }
        Step::Close => {
            "close() releases the socket; the peer sees end-of-file (or a reset if data was unread)."
        }
        Step::Print { .. } => "A line the lab's program prints to its terminal.",
        Step::Error { .. } => "The call failed; the explanation below says why.",
    }
}

// The lab's own programs for Tasks 1-3, kept once in the workspace's
// `lab/` folder: the tests run the same files with `python3`, and "Check
// my task" runs them against the student's programs.
const SERVER_TASK1: &str = include_str!("../../lab/task1/server.py");
const CLIENT_TASK1: &str = include_str!("../../lab/task1/client.py");
const SERVER_TASK2: &str = include_str!("../../lab/task2/server.py");
const CLIENT_TASK2: &str = include_str!("../../lab/task2/client.py");
const SERVER_TASK3: &str = include_str!("../../lab/task3/server.py");
const CLIENT_TASK3: &str = include_str!("../../lab/task3/client.py");

const SERVER_UDP: &str = r#"# server.py (UDP): echo without connections
import socket

# SOCK_DGRAM means UDP: datagrams, not a stream
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
Host = socket.gethostname()  # this machine
Port = 1234
# tie the socket to (host, port)
s.bind((Host, Port))
# no listen() and no accept() in UDP

while True:
    # one whole datagram, and who sent it
    data, address = s.recvfrom(1024)
    # send it back to that sender
    s.sendto(data, address)
"#;

const CLIENT_UDP: &str = r#"# client.py (UDP): send a datagram
import socket

# SOCK_DGRAM means UDP
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# where to send; there is no connect()
server = (socket.gethostname(), 1234)
# one sendto() is one datagram
s.sendto(b"hello", server)
# one recvfrom() reads one datagram
data, address = s.recvfrom(1024)
print("Echo:", data.decode("utf-8"))
s.close()
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every socket call the bridge reports points at a real line of the
    /// matching program, so a selected event never highlights nothing
    /// when the lab's code has that call.
    #[test]
    fn each_call_finds_its_line() {
        let line = |task: Task, lane, step| {
            let n = task.line_for(lane, step).expect(step);
            task.program(lane).lines().nth(n - 1).unwrap().to_string()
        };
        assert!(line(Task::Connect, Lane::Server, "accept").contains("s.accept()"));
        assert!(line(Task::Connect, Lane::Server, "listen").contains("s.listen(5)"));
        assert!(line(Task::Connect, Lane::Client, "connect").contains("s.connect("));
        assert!(line(Task::Greet, Lane::Server, "send").contains("Thank you"));
        assert!(line(Task::Greet, Lane::Client, "recv").contains("s.recv(1024)"));
        assert!(line(Task::Echo, Lane::Client, "recv").contains("s.recv(4096)"));
        assert!(line(Task::Echo, Lane::Server, "recv").contains("clientsocket.recv(1024)"));
        assert!(line(Task::Echo, Lane::Server, "send").contains("clientsocket.sendall(data)"));
        assert!(line(Task::Echo, Lane::Client, "shutdown").contains("SHUT_WR"));
        assert!(line(Task::Udp, Lane::Server, "recv_from").contains("s.recvfrom(1024)"));
        assert!(line(Task::Udp, Lane::Client, "send_to").contains("s.sendto("));
        for task in Task::ALL {
            for lane in [Lane::Server, Lane::Client] {
                for step in ["socket", "close", "error"] {
                    if task == Task::Udp && lane == Lane::Server && step == "close" {
                        continue;
                    }
                    assert!(
                        task.line_for(lane, step).is_some(),
                        "{task:?} {lane:?} {step}"
                    );
                }
            }
        }
    }

    /// Calls a program does not make highlight nothing, rather than a
    /// wrong line: Task 1's server never calls recv().
    #[test]
    fn calls_the_program_lacks_have_no_line() {
        assert_eq!(Task::Connect.line_for(Lane::Server, "recv"), None);
        assert_eq!(Task::Udp.line_for(Lane::Server, "listen"), None);
        assert_eq!(Task::Udp.line_for(Lane::Server, "accept"), None);
    }

    #[test]
    fn comments_are_split_outside_strings() {
        assert_eq!(
            split_comment("s.listen(5)  # queue up to 5"),
            ("s.listen(5)  ", "# queue up to 5")
        );
        assert_eq!(split_comment("x = \"#1\"  # n"), ("x = \"#1\"  ", "# n"));
        assert_eq!(split_comment("import socket"), ("import socket", ""));
    }

    #[test]
    fn tasks_round_trip_their_values() {
        for task in Task::ALL {
            assert_eq!(Task::from_value(task.value()), Some(task));
        }
        assert_eq!(Task::from_value("chat"), None);
        assert_eq!(Task::Udp.transport(), Transport::Udp);
        assert_eq!(Task::for_server(Mode::Echo, Transport::Udp), Task::Udp);
        let sample = crate::export::parse_json(crate::sample::TRACE).unwrap();
        assert_eq!(Task::infer(&sample), Some(Task::Echo));
        assert_eq!(Task::infer(&sample[..8]), Some(Task::Connect));
        assert_eq!(Task::infer(&[]), None);
    }
}
