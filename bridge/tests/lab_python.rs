//! Interop with the lab's own Python programs (`lab/`), run with
//! `python3`: the lab's clients against our server in each mode, and the
//! lab's servers for Tasks 1-3 against a plain tokio client.

mod common;

use common::*;
use protocol::{Mode, Step};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};

/// Where the lab's Python programs live: the workspace's `lab/`, one
/// folder a task (`task3_client.py` is `lab/task3/client.py`).
fn fixture(name: &str) -> PathBuf {
    let (task, file) = name.split_once('_').unwrap_or(("", name));
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lab")
        .join(task)
        .join(file)
}

/// Runs one of the lab's client programs against `addr`, to its end.
async fn run_client(script: &str, addr: SocketAddr, extra: &[&str]) -> Output {
    let output = within(
        script,
        Command::new("python3")
            .arg(fixture(script))
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .args(extra)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python3 runs (is it installed?)");
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// One of the lab's Python servers, running on a free port.
struct PythonServer {
    child: Child,
    port: u16,
    /// What it prints, line by line (its `print(..., flush=True)` calls).
    lines: Lines<BufReader<ChildStdout>>,
}

impl PythonServer {
    /// Starts `script` on 127.0.0.1, port 0, and reads which port it got.
    async fn start(script: &str) -> PythonServer {
        let mut child = Command::new("python3")
            .arg(fixture(script))
            .args(["127.0.0.1", "0"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (is it installed?)");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut server = PythonServer {
            child,
            port: 0,
            lines: BufReader::new(stdout).lines(),
        };
        let first = server.line().await;
        server.port = first
            .strip_prefix("listening on ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("{script} said {first:?}, not `listening on PORT`"));
        server
    }

    fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// The next line the server prints.
    async fn line(&mut self) -> String {
        within("a line from the Python server", self.lines.next_line())
            .await
            .expect("read its stdout")
            .expect("it is still running")
    }

    /// Ends the server (it loops forever, as the lab's does).
    async fn stop(mut self) {
        self.child.start_kill().expect("kill our own child");
        within("python3 to exit", self.child.wait())
            .await
            .expect("wait");
    }
}

/// Task 1: the lab's client.py connects to our server and says so; our
/// server's trace shows the accept and the lab's own print line.
#[tokio::test]
async fn task1_client_against_our_connect_server() {
    let (lab, mut events) = start(config(Mode::Connect, |_| {}));
    let output = run_client("task1_client.py", lab.addr, &[]).await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("Connected to ('127.0.0.1', {})\n", lab.addr.port())
    );
    let seen = until_closed(&mut events, 1).await;
    let Some((Some(1), Step::Accept { peer, .. })) = seen.get(3) else {
        panic!("no accept in {seen:#?}")
    };
    let peer: SocketAddr = peer.parse().expect("an address");
    assert_eq!(seen[3..5], accepted(1, peer, lab.addr)[..]);
    assert_eq!(seen[5], (Some(1), Step::Close));
    lab.stop().await;
}

/// Task 2: the lab's client prints exactly the greeting our server sent.
#[tokio::test]
async fn task2_client_prints_our_greeting() {
    let (lab, _events) = start(config(Mode::Greet, |_| {}));
    let output = run_client("task2_client.py", lab.addr, &[]).await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        protocol::DEFAULT_GREETING
    );
    lab.stop().await;
}

/// Task 3: the lab's client sends a line to our echo server and prints the
/// echo; our trace shows that line received and sent back.
#[tokio::test]
async fn task3_client_prints_our_echo() {
    let (lab, mut events) = start(config(Mode::Echo, |_| {}));
    let output = run_client("task3_client.py", lab.addr, &["hello from python"]).await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello from python\n"
    );
    let seen = until_closed(&mut events, 1).await;
    assert_eq!(
        seen[5..],
        [
            recv(1, b"hello from python\n"),
            send(1, b"hello from python\n"),
            (Some(1), Step::RecvEof),
            (Some(1), Step::Close),
        ]
    );
    lab.stop().await;
}

/// Task 1's Python server prints, for our client, the very line our own
/// server's trace prints (`Connection from ('127.0.0.1', PORT) ...`).
#[tokio::test]
async fn task1_python_server_prints_what_our_server_prints() {
    let mut server = PythonServer::start("task1_server.py").await;
    let client = within("connect", TcpStream::connect(server.addr()))
        .await
        .expect("connect");
    let me = client.local_addr().expect("addr").to_string();
    assert_eq!(server.line().await, protocol::connection_established(&me));
    server.stop().await;
}

/// Task 2's Python server: our client reads its greeting, then end-of-file.
#[tokio::test]
async fn task2_python_server_greets_our_client() {
    let mut server = PythonServer::start("task2_server.py").await;
    for _ in 0..2 {
        let mut client = within("connect", TcpStream::connect(server.addr()))
            .await
            .expect("connect");
        let mut got = Vec::new();
        within("the greeting", client.read_to_end(&mut got))
            .await
            .expect("read");
        assert_eq!(got, b"Thank you for connecting\n");
        let me = client.local_addr().expect("addr").to_string();
        assert_eq!(server.line().await, protocol::connection_established(&me));
    }
    server.stop().await;
}

/// Task 3's Python server echoes our client's bytes, then closes when we
/// close; it then serves the next client (one at a time, as written).
#[tokio::test]
async fn task3_python_server_echoes_our_client() {
    let server = PythonServer::start("task3_server.py").await;
    for line in [&b"echo me\n"[..], b"and me\n"] {
        let mut client = within("connect", TcpStream::connect(server.addr()))
            .await
            .expect("connect");
        client.write_all(line).await.expect("send");
        let mut echo = vec![0; line.len()];
        within("the echo", client.read_exact(&mut echo))
            .await
            .expect("read");
        assert_eq!(echo, line);
        client.shutdown().await.expect("shutdown(SHUT_WR)");
        let mut rest = Vec::new();
        within("EOF", client.read_to_end(&mut rest))
            .await
            .expect("read");
        assert!(rest.is_empty());
    }
    server.stop().await;
}
