//! What the lab server writes to the log, through `tracing`. One test in
//! its own binary, because it installs the process's global subscriber.

mod common;

use common::*;
use protocol::Mode;
use std::io;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A log destination the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("log buffer poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Each step is one readable line; the lab's print is logged as exactly
/// the line the Python server prints; the bytes of a recv appear (at
/// DEBUG) escaped once, as the page's text view shows them.
#[tokio::test]
async fn each_step_is_a_readable_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let (lab, mut events) = start(config(Mode::Echo, |_| {}));
    let mut client = within("connect", TcpStream::connect(lab.addr))
        .await
        .expect("connect");
    let me = client.local_addr().expect("addr");
    client.write_all(b"hi\n").await.expect("send");
    let mut echo = [0; 3];
    within("the echo", client.read_exact(&mut echo))
        .await
        .expect("read");
    drop(client);
    until_closed(&mut events, 1).await;
    lab.stop().await;

    let log = String::from_utf8_lossy(&captured.0.lock().expect("not poisoned")).into_owned();
    let lines: Vec<&str> = log.lines().collect();
    let port = me.port();
    let addr = lab_addr_line(&lines);
    assert_eq!(
        lines,
        [
            "server 1: socket(AF_INET, SOCK_STREAM)",
            addr.as_str(),
            "server 1: listen(5)",
            &format!("server 1 conn 1: accept() -> 127.0.0.1:{port}"),
            &format!("Connection from ('127.0.0.1', {port}) has been established."),
            "server 1 conn 1: recv() -> 3 bytes \"hi\\n\"",
            "server 1 conn 1: send() -> 3 bytes \"hi\\n\"",
            "server 1 conn 1: recv() -> 0 bytes (peer closed)",
            "server 1 conn 1: close()",
            "server 1: close()",
        ]
    );
}

/// The bind line, whose port the test cannot know before it binds.
fn lab_addr_line(lines: &[&str]) -> String {
    lines
        .iter()
        .find(|line| line.starts_with("server 1: bind(127.0.0.1:"))
        .map(|line| line.to_string())
        .unwrap_or_else(|| panic!("no bind line in {lines:#?}"))
}
