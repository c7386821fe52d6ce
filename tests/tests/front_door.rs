//! The bridge's front door against what a hostile or broken client sends:
//! DNS rebinding (a foreign `Host`), pages from other origins, URLs no file
//! can have, frames that break the WebSocket rules, and clients that are
//! still sending when the bridge closes. A real bridge on port 0, real
//! sockets; every wait bounded.

use bridge::config::{BridgeConfig, SessionLimits};
use e2e::browser::TempDir;
use e2e::page::{
    Page, WAIT, closed, http_get_as, receive, refused_upgrade, start, start_with, with_headers,
};
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMsg, Mode, PROTOCOL_VERSION, Refusal, ServerMsg, Transport, WatchMsg};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{
    CloseCode, Control, Data as OpData, OpCode,
};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::{MaybeTlsStream, connect_async};

/// The hosts of a DNS rebinding attack (a name the attacker points at
/// 127.0.0.1), and addresses that are not this bridge's.
const FOREIGN_HOSTS: [&str; 4] = [
    "evil.example:8080",
    "127.0.0.1.evil.example",
    "attacker.test",
    "192.168.1.10",
];

/// A rebinding page's requests (foreign Host, its own Origin) are refused
/// on every route: the page, /metrics, /ws, /watch and /relay, each with a
/// 403 naming `--allow-host`; the bridge's own names are still served.
#[tokio::test]
async fn dns_rebinding_is_refused_on_every_route() {
    let bridge = start(Mode::Echo).await;
    let addr = bridge.http_addr;
    let relay = format!("ws://{addr}/relay?target={}", bridge.lab_addr());
    for host in FOREIGN_HOSTS {
        for path in ["/", "/metrics", "/index.html", "/ws"] {
            let (status, body) = http_get_as(addr, host, path).await;
            assert_eq!(status, 403, "{host} {path}: {body}");
            assert!(body.contains("--allow-host"), "{body}");
        }
        let origin = format!("http://{host}");
        for url in [bridge.ws_url(), bridge.watch_url(), relay.clone()] {
            let request = with_headers(&url, &[("Host", host), ("Origin", &origin)]);
            let (status, body) = refused_upgrade(request).await;
            assert_eq!(status, 403, "{host} {url}: {body}");
        }
    }
    for host in [addr.to_string(), "localhost".into(), "127.0.0.1".into()] {
        let (status, body) = http_get_as(addr, &host, "/metrics").await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    bridge.stop().await.expect("clean stop");
}

/// `--allow-host` adds a name: requests for it are served, and so are
/// WebSockets from the pages it serves (that name, the bridge's port).
#[tokio::test]
async fn an_allowed_host_is_served() {
    let config = BridgeConfig {
        allow_hosts: vec!["lab.example.org".into()],
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let port = bridge.http_addr.port();
    let (status, _) = http_get_as(bridge.http_addr, "lab.example.org", "/metrics").await;
    assert_eq!(status, 200);
    let host = format!("lab.example.org:{port}");
    let origin = format!("http://lab.example.org:{port}");
    let request = with_headers(&bridge.ws_url(), &[("Host", &host), ("Origin", &origin)]);
    let (mut ws, _) = connect_async(request).await.expect("ws opens");
    let hello: ServerMsg = receive(&mut ws, &mut Vec::new()).await;
    assert!(matches!(hello, ServerMsg::Hello { .. }), "{hello:?}");
    bridge.stop().await.expect("clean stop");
}

/// What `trunk serve` on :8000 sends when it passes the page's WebSocket
/// on to a bridge started by `make run`: the bare backend host and the
/// page's origin. Loopback pages on any port are let in, on /ws and
/// /watch alike.
#[tokio::test]
async fn loopback_pages_on_any_port_are_let_in() {
    let bridge = start(Mode::Echo).await;
    for origin in [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:3000",
    ] {
        let request = with_headers(
            &bridge.ws_url(),
            &[("Host", "127.0.0.1"), ("Origin", origin)],
        );
        let (mut ws, _) = connect_async(request).await.expect("ws opens");
        let hello: ServerMsg = receive(&mut ws, &mut Vec::new()).await;
        assert!(
            matches!(hello, ServerMsg::Hello { .. }),
            "{origin}: {hello:?}"
        );
        let request = with_headers(&bridge.watch_url(), &[("Origin", origin)]);
        let (mut watch, _) = connect_async(request).await.expect("watch opens");
        let hello: WatchMsg = receive(&mut watch, &mut Vec::new()).await;
        assert!(
            matches!(hello, WatchMsg::Hello { .. }),
            "{origin}: {hello:?}"
        );
    }
    bridge.stop().await.expect("clean stop");
}

/// A page from a foreign origin, with the bridge's own Host: /ws and /watch
/// open and close at once with 1008 and a reason naming the fix (a page
/// can read that, not a 403), answering no command; /relay answers 403.
#[tokio::test]
async fn a_foreign_page_is_closed_with_1008_and_the_fix() {
    let bridge = start(Mode::Echo).await;
    let evil = "https://evil.example";
    for url in [bridge.ws_url(), bridge.watch_url()] {
        let (mut ws, _) = connect_async(with_headers(&url, &[("Origin", evil)]))
            .await
            .expect("the upgrade is accepted");
        // A command sent at once must not be performed.
        let hello = ClientMsg::Hello {
            version: PROTOCOL_VERSION,
        };
        let _ = ws
            .send(Message::text(serde_json::to_string(&hello).expect("json")))
            .await;
        let first = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("in time");
        match first {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::Policy, "{url}");
                assert!(frame.reason.contains("--allow-origin"), "{}", frame.reason);
                assert!(frame.reason.contains(evil), "{}", frame.reason);
            }
            other => panic!("{url}: expected a close frame first, got {other:?}"),
        }
    }
    let relay = format!(
        "ws://{}/relay?target={}",
        bridge.http_addr,
        bridge.lab_addr()
    );
    let (status, body) = refused_upgrade(with_headers(&relay, &[("Origin", evil)])).await;
    assert_eq!(status, 403);
    assert!(body.contains("--allow-origin"), "{body}");
    assert_eq!(bridge.metrics().sessions_total, 0, "no session was started");
    bridge.stop().await.expect("clean stop");
}

/// A path segment longer than any file name is a 404, a huge URL a 414,
/// never a 500 (the file server's "File name too long").
#[tokio::test]
async fn a_long_url_is_a_bad_request_not_a_fault() {
    let page = TempDir::new("socket-lab-page");
    std::fs::write(
        page.path().join("index.html"),
        "<!doctype html><title>lab</title>",
    )
    .expect("writes index.html");
    let config = BridgeConfig {
        static_dir: Some(page.path().to_path_buf()),
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let host = bridge.http_addr.to_string();
    let (status, body) = http_get_as(bridge.http_addr, &host, "/index.html").await;
    assert_eq!(status, 200, "{body}");
    for (path, want) in [
        (format!("/{}", "a".repeat(300)), 404),
        (format!("/assets/{}.js", "b".repeat(1000)), 404),
        (format!("/{}", "%62".repeat(300)), 404),
        (format!("/?q={}", "c".repeat(10_000)), 414),
    ] {
        let (status, body) = http_get_as(bridge.http_addr, &host, &path).await;
        assert_eq!(status, want, "{}...: {body}", &path[..20]);
    }
    bridge.stop().await.expect("clean stop");
}

/// A frame with `opcode`, reserved bits `rsv1`, and `payload`.
fn raw_frame(opcode: OpCode, rsv1: bool, payload: &[u8]) -> Message {
    let header = FrameHeader {
        is_final: true,
        rsv1,
        opcode,
        ..FrameHeader::default()
    };
    Message::Frame(Frame::from_payload(header, payload.to_vec().into()))
}

/// Frames that break the WebSocket rules close the session with 1007 (not
/// UTF-8) or 1002 (reserved bits, unknown opcodes, a stray continuation)
/// and a reason, on /ws, /watch and /relay; never 1005 ("no status").
#[tokio::test]
async fn protocol_errors_close_with_a_code_and_a_reason() {
    let bridge = start(Mode::Echo).await;
    let relay = format!(
        "ws://{}/relay?target={}",
        bridge.http_addr,
        bridge.lab_addr()
    );
    let cases = [
        (
            raw_frame(OpCode::Data(OpData::Text), false, &[0xff, 0xfe]),
            CloseCode::Invalid,
        ),
        (
            raw_frame(OpCode::Data(OpData::Text), true, b"{}"),
            CloseCode::Protocol,
        ),
        (
            raw_frame(OpCode::Data(OpData::Reserved(3)), false, b"x"),
            CloseCode::Protocol,
        ),
        (
            raw_frame(OpCode::Control(Control::Reserved(11)), false, b""),
            CloseCode::Protocol,
        ),
        (
            raw_frame(OpCode::Data(OpData::Continue), false, b"x"),
            CloseCode::Protocol,
        ),
    ];
    let mut bystander = Page::open(&bridge).await;
    for url in [bridge.ws_url(), bridge.watch_url(), relay] {
        for (frame, want) in &cases {
            let (mut ws, _) = connect_async(url.as_str()).await.expect("opens");
            ws.send(frame.clone()).await.expect("sends");
            let (code, reason) = closed(&mut ws).await;
            assert_eq!(code, *want, "{url} {frame:?}: {reason}");
            assert!(!reason.is_empty(), "{url} {frame:?}: a reason");
        }
    }
    bystander.start_server(1, Mode::Echo, Transport::Tcp).await;
    bridge.stop().await.expect("clean stop");
}

/// Writes `bytes` of garbage straight to the TCP stream under `page`'s
/// WebSocket, as a page still sending the rest of a huge message would
/// (more than the kernel's buffers can hold, so the writer is still
/// writing when the bridge closes). Fails if the connection is reset.
async fn keep_sending(page: &mut Page, bytes: usize) {
    let MaybeTlsStream::Plain(tcp) = page.ws.get_mut() else {
        panic!("a plain TCP WebSocket");
    };
    let chunk = vec![0u8; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        tcp.write_all(&chunk)
            .await
            .unwrap_or_else(|err| panic!("reset after {sent} bytes: {err}"));
        sent += chunk.len();
    }
}

/// A page still sending when the bridge closes (a message of 32 MiB into a
/// 4 KiB limit; 32 MiB of commands straight after a wrong hello) gets the
/// whole goodbye: the refusal and the close frame with its reason, never a
/// reset.
#[tokio::test]
async fn close_frames_are_not_lost_to_a_reset() {
    let config = BridgeConfig {
        limits: SessionLimits {
            max_message_bytes: 4096,
            ..SessionLimits::default()
        },
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let size: usize = 32 << 20;
    for _ in 0..3 {
        let mut page = Page::open(&bridge).await;
        // A masked text frame's header announcing `size` bytes; then them.
        let mut header = vec![0x81, 0x80 | 127];
        header.extend_from_slice(&(size as u64).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        let MaybeTlsStream::Plain(tcp) = page.ws.get_mut() else {
            panic!("a plain TCP WebSocket");
        };
        tcp.write_all(&header).await.expect("writes the header");
        keep_sending(&mut page, size).await;
        let (code, reason) = page.closed().await;
        assert_eq!(code, CloseCode::Size, "{reason}");
        assert!(reason.contains("4096"), "{reason}");
        assert!(page.seen.iter().any(|m| matches!(
            m,
            ServerMsg::Refused {
                reason: Refusal::TooLarge,
                ..
            }
        )));
    }
    for _ in 0..3 {
        let mut page = Page::open_silent(&bridge).await;
        let stale = serde_json::to_string(&ClientMsg::Hello { version: 99 }).expect("json");
        page.ws.send(Message::text(stale)).await.expect("sends");
        keep_sending(&mut page, size).await;
        let (code, reason) = page.closed().await;
        assert_eq!(code, CloseCode::Protocol, "{reason}");
        assert!(page.seen.iter().any(|m| matches!(
            m,
            ServerMsg::Refused {
                reason: Refusal::Version,
                ..
            }
        )));
    }
    let mut bystander = Page::open(&bridge).await;
    bystander.start_server(1, Mode::Echo, Transport::Tcp).await;
    bridge.stop().await.expect("clean stop");
}
