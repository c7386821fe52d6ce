//! Teaching remotely, without a browser: the bridge over HTTPS with a
//! self-signed certificate (and a client that trusts only it), its Origin
//! check with `--public-origin`, and the student's address through a
//! trusted proxy (`--trust-proxy`). The browser tests of the same set-up,
//! nginx in front included, are in `browser/remote.rs`.

use bridge::config::BridgeConfig;
use bridge::proxy::PublicOrigin;
use bridge::tls::SelfSigned;
use e2e::page::{WAIT, refused_by_policy, start_with, stops_in_time, with_origin};
use e2e::remote::{TlsClient, Wss};
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMsg, Mode, PROTOCOL_VERSION, ServerMsg, WatchMsg};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn self_signed() -> SelfSigned {
    SelfSigned::generate(&["localhost".into(), "127.0.0.1".into()]).expect("a certificate")
}

/// `GET /` over plain HTTP with `Host: host`, the whole response.
async fn get_with_host(addr: std::net::SocketAddr, host: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut response))
        .await
        .expect("in time")
        .expect("reads");
    String::from_utf8_lossy(&response).into_owned()
}

/// The next text frame on a `wss:` socket.
async fn next_text(ws: &mut Wss) -> String {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time");
        match frame {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Over HTTPS the page comes with the headers that make it cross-origin
/// isolated, `/ws` works as `wss:`, and shutting down (what Ctrl-C does)
/// still closes the session with 1001 and stops in time.
#[tokio::test]
async fn https_serves_the_page_and_wss_and_shuts_down_with_1001() {
    let pair = self_signed();
    let config = BridgeConfig {
        tls: Some(pair.tls().expect("the pair loads")),
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    assert!(bridge.http_url().starts_with("https://"));
    assert!(bridge.ws_url().starts_with("wss://"));
    let client = TlsClient::trusting(&pair.cert_der);

    let page = client
        .get(bridge.http_addr, &bridge.http_addr.to_string(), "/")
        .await
        .to_ascii_lowercase();
    assert!(page.starts_with("http/1.1 200"), "{page}");
    for header in [
        "cross-origin-opener-policy: same-origin",
        "cross-origin-embedder-policy: require-corp",
        "cross-origin-resource-policy: same-origin",
    ] {
        assert!(page.contains(header), "no {header:?} in\n{page}");
    }

    let (mut ws, _) = client.websocket(bridge.ws_url()).await.expect("wss opens");
    let hello: ServerMsg = serde_json::from_str(&next_text(&mut ws).await).expect("JSON");
    assert!(
        matches!(hello, ServerMsg::Hello { version, .. } if version == PROTOCOL_VERSION),
        "{hello:?}"
    );
    let ours = ClientMsg::Hello {
        version: PROTOCOL_VERSION,
    };
    ws.send(Message::text(serde_json::to_string(&ours).expect("JSON")))
        .await
        .expect("send hello");

    bridge.shutdown.cancel();
    let close = loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(close.reason, "bridge shutting down");
    stops_in_time(bridge).await;
}

/// A client that does not trust the bridge's certificate gets no page:
/// the handshake fails (what a browser shows as a warning).
#[tokio::test]
async fn an_untrusted_certificate_fails_the_handshake() {
    let pair = self_signed();
    let config = BridgeConfig {
        tls: Some(pair.tls().expect("the pair loads")),
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let stranger = TlsClient::trusting(&self_signed().cert_der);
    let err = stranger
        .connect(bridge.http_addr)
        .await
        .expect_err("a certificate the client does not trust");
    assert!(
        err.to_string().to_ascii_lowercase().contains("certificate"),
        "{err}"
    );
    bridge.stop().await.expect("clean stop");
}

/// Behind a proxy, `--public-origin https://lab.example.edu/co223/` lets
/// that origin open `/ws` and `/watch`, whatever `Host` the proxy passes
/// on (nginx's default, the bridge's own address; or the public host, as
/// `deploy/nginx/` passes it, which also gets the page), and nothing else:
/// other sites, look-alike names and other ports are closed at once with
/// 1008 and the fix, as is the public origin at a bridge not started with it.
#[tokio::test]
async fn a_public_origin_is_let_in_and_no_other() {
    let config = BridgeConfig {
        public_origins: vec![
            PublicOrigin::parse("https://lab.example.edu/co223/").expect("parses"),
        ],
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    for url in [bridge.ws_url(), bridge.watch_url()] {
        connect_async(with_origin(&url, "https://lab.example.edu"))
            .await
            .unwrap_or_else(|err| panic!("the public origin is refused on {url}: {err}"));
        // With `proxy_set_header Host $host` (deploy/nginx/), the public
        // host without its port.
        let mut public_host = with_origin(&url, "https://lab.example.edu");
        public_host
            .headers_mut()
            .insert("Host", "lab.example.edu".parse().expect("header"));
        connect_async(public_host)
            .await
            .unwrap_or_else(|err| panic!("the public host is refused on {url}: {err}"));
        for foreign in [
            "https://evil.example",
            "https://lab.example.edu.evil.example",
            "https://lab.example.edu:8443",
            "http://lab.example.edu",
            "null",
        ] {
            let reason = refused_by_policy(with_origin(&url, foreign)).await;
            assert!(reason.contains(foreign), "{foreign} on {url}: {reason}");
        }
    }
    // The page itself, asked for with the public host.
    let page = get_with_host(bridge.http_addr, "lab.example.edu").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    bridge.stop().await.expect("clean stop");

    let without = start_with(BridgeConfig::default(), Mode::Echo).await;
    // A bridge without --public-origin turns the origin away.
    refused_by_policy(with_origin(&without.ws_url(), "https://lab.example.edu")).await;
    without.stop().await.expect("clean stop");
}

/// The instructor view lists a student behind a `--trust-proxy` proxy by
/// the address the proxy forwards; a bridge that trusts no proxy ignores
/// the header (a student cannot pick an address to show).
#[tokio::test]
async fn a_trusted_proxy_names_the_student() {
    for (trusted, expected) in [(true, "192.0.2.7"), (false, "127.0.0.1:")] {
        let config = BridgeConfig {
            trusted_proxies: if trusted {
                vec!["127.0.0.1".parse().expect("ip")]
            } else {
                Vec::new()
            },
            ..BridgeConfig::default()
        };
        let bridge = start_with(config, Mode::Echo).await;
        let mut request = with_origin(&bridge.ws_url(), &format!("http://{}", bridge.http_addr));
        request
            .headers_mut()
            .insert("X-Forwarded-For", "192.0.2.7".parse().expect("header"));
        let (mut student, _) = connect_async(request).await.expect("ws opens");
        // The hello means the session is registered.
        let hello = tokio::time::timeout(WAIT, student.next())
            .await
            .expect("hello");
        assert!(matches!(hello, Some(Ok(Message::Text(_)))), "{hello:?}");

        let (mut watch, _) = connect_async(bridge.watch_url())
            .await
            .expect("watch opens");
        let peer = loop {
            let frame = tokio::time::timeout(WAIT, watch.next())
                .await
                .expect("a list");
            let Some(Ok(Message::Text(text))) = frame else {
                panic!("expected the list, got {frame:?}");
            };
            if let WatchMsg::Sessions { sessions } = serde_json::from_str(&text).expect("JSON") {
                assert_eq!(sessions.len(), 1, "{sessions:?}");
                break sessions[0].peer.clone();
            }
        };
        if trusted {
            assert_eq!(peer, expected);
        } else {
            assert!(peer.starts_with(expected), "{peer}");
        }
        bridge.stop().await.expect("clean stop");
    }
}
