//! Teaching remotely, in a real Chromium: the page over `https://` from a
//! bridge with a self-signed certificate, and two classes behind Debian's
//! nginx (the committed `deploy/nginx/` configuration, its ports and
//! certificate paths filled in), each class under its own path prefix.
//!
//! Chromium is told to trust the test's certificate by its public key
//! (`--ignore-certificate-errors-spki-list`), for these tests only: every
//! other certificate would still be refused.

use super::{
    ONE_BROWSER, dist, eval, screenshot_path, start_and_connect, type_and_send, wait_for_row,
};
use bridge::app::{Bridge, RunningBridge};
use bridge::config::BridgeConfig;
use bridge::lab::LabArgs;
use bridge::proxy::PublicOrigin;
use bridge::tls::SelfSigned;
use e2e::browser::Browser;
use e2e::page::{WAIT, with_origin};
use e2e::remote::{Nginx, NginxError, TlsClient, free_port, refusal};
use futures_util::{SinkExt, StreamExt};
use protocol::Mode;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio_tungstenite::tungstenite::Message;

/// The test's certificate, for the loopback names.
fn certificate() -> SelfSigned {
    SelfSigned::generate(&["localhost".into(), "127.0.0.1".into()]).expect("a certificate")
}

/// A Chromium that trusts `pair` (and no other unknown certificate).
async fn browser_trusting(pair: &SelfSigned, width: u32, height: u32) -> Browser {
    let pin = format!(
        "--ignore-certificate-errors-spki-list={}",
        pair.spki_sha256_base64()
    );
    Browser::start_with(width, height, &[pin]).await
}

/// Opens `url` and waits until the page says it is connected.
async fn open_at(browser: &Browser, url: &str) {
    browser.client.goto(url).await.expect("open the page");
    browser
        .wait_until(
            &format!("the connection badge to say open at {url}"),
            "const s = document.getElementById('ws-status'); return s ? s.dataset.state : null;",
            |v| v == "open",
        )
        .await;
}

/// The page's scheme, and whether it is cross-origin isolated (what a
/// student's Python program needs).
async fn isolation(browser: &Browser) -> (String, bool) {
    let v = eval(
        browser,
        "return [location.protocol, self.crossOriginIsolated === true];",
    )
    .await;
    (
        v[0].as_str().unwrap_or_default().to_string(),
        v[1].as_bool().unwrap_or(false),
    )
}

/// Task 3 as a student does it: start the echo server, connect, send a
/// line, and see it come back.
async fn echo(browser: &Browser, text: &str) {
    start_and_connect(browser, "echo").await;
    type_and_send(browser, text).await;
    wait_for_row(
        browser,
        ".event-row[data-lane=client][data-call=recv]",
        text,
    )
    .await;
}

/// A bridge serving the page with `config` besides it, the lab on a free
/// port.
async fn start_bridge_with(config: BridgeConfig) -> RunningBridge {
    let config = BridgeConfig {
        static_dir: Some(dist()),
        ..config
    };
    let lab = LabArgs {
        lab: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        mode: Mode::Echo,
        ..LabArgs::default()
    };
    Bridge::start(config, &lab).await.expect("start the bridge")
}

/// Task 3 over `https://` from a bridge with a self-signed certificate:
/// the page talks `wss:` by itself, the echo comes back, and the page is
/// cross-origin isolated.
#[tokio::test(flavor = "multi_thread")]
async fn task3_over_https_with_a_self_signed_certificate() {
    let _one = ONE_BROWSER.lock().await;
    let pair = certificate();
    let bridge = start_bridge_with(BridgeConfig {
        tls: Some(pair.tls().expect("the pair loads")),
        ..BridgeConfig::default()
    })
    .await;
    let browser = browser_trusting(&pair, 1366, 768).await;
    open_at(&browser, &bridge.http_url()).await;
    let (scheme, isolated) = isolation(&browser).await;
    assert_eq!(scheme, "https:");
    assert!(isolated, "the page is not cross-origin isolated over HTTPS");
    echo(&browser, "hello over https").await;
    browser.screenshot(&screenshot_path("https-task3")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Where nginx binds its side of each connection to a bridge, so the
/// bridge can tell the proxy (127.0.0.2) from the student (127.0.0.1).
const PROXY_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Two classes, each its own bridge.
struct Department {
    nginx: Nginx,
    co223: RunningBridge,
    co224: RunningBridge,
}

/// The committed nginx configuration with this test's ports and
/// certificate; fails the test if the file no longer has what it replaces.
fn site_config(port: u16, co223: SocketAddr, co224: SocketAddr) -> String {
    let site = std::fs::read_to_string(super::workspace().join("deploy/nginx/socket-lab.conf"))
        .expect("deploy/nginx/socket-lab.conf");
    let replacements = [
        ("listen 443 ssl;", format!("listen 127.0.0.1:{port} ssl;")),
        ("listen [::]:443 ssl;", String::new()),
        ("server 127.0.0.1:8081;", format!("server {co223};")),
        ("server 127.0.0.1:8082;", format!("server {co224};")),
        ("/etc/ssl/certs/lab.example.edu.pem", "cert.pem".to_string()),
        (
            "/etc/ssl/private/lab.example.edu.key",
            "key.pem".to_string(),
        ),
    ];
    replacements.into_iter().fold(site, |site, (from, to)| {
        assert_eq!(
            site.matches(from).count(),
            1,
            "deploy/nginx/socket-lab.conf should have {from:?} once"
        );
        site.replace(from, &to)
    })
}

/// nginx on a free port in front of two bridges started for it (with
/// `--public-origin https://127.0.0.1:PORT/coNNN/` and `--trust-proxy`);
/// a port taken in between means trying again with another.
async fn department(pair: &SelfSigned) -> Department {
    let snippet = std::fs::read(super::workspace().join("deploy/nginx/socket-lab-proxy.conf"))
        .expect("deploy/nginx/socket-lab-proxy.conf");
    let class = |port: u16, prefix: &str| BridgeConfig {
        public_origins: vec![
            PublicOrigin::parse(&format!("https://127.0.0.1:{port}/{prefix}/")).expect("parses"),
        ],
        trusted_proxies: vec![IpAddr::V4(PROXY_IP)],
        ..BridgeConfig::default()
    };
    for _ in 0..5 {
        let port = free_port();
        let co223 = start_bridge_with(class(port, "co223")).await;
        let co224 = start_bridge_with(class(port, "co224")).await;
        let site = site_config(port, co223.http_addr, co224.http_addr);
        let files: [(&str, &[u8]); 3] = [
            ("snippets/socket-lab-proxy.conf", &snippet),
            ("cert.pem", pair.cert_pem.as_bytes()),
            ("key.pem", pair.key_pem.as_bytes()),
        ];
        let proxy_bind = format!("proxy_bind {PROXY_IP};");
        match Nginx::start(port, &site, &proxy_bind, &files) {
            Ok(nginx) => {
                return Department {
                    nginx,
                    co223,
                    co224,
                };
            }
            Err(NginxError::PortTaken) => {
                co223.stop().await.expect("bridge stops");
                co224.stop().await.expect("bridge stops");
            }
            Err(NginxError::Failed(why)) => panic!("{why}"),
        }
    }
    panic!("no free port for nginx in 5 tries");
}

/// Two classes behind one nginx, each under its prefix: nginx passes the
/// bridges' isolation headers and redirects `/co223` to `/co223/`; a
/// foreign Origin and a `/watch` without the token are refused through
/// it; `/relay` carries bytes through it; a student does Task 3 at `/co223/` over `https://`, cross-origin
/// isolated; the class's instructor sees the student's own address (not
/// nginx's); the other class has its own bridge, sessions and token.
#[tokio::test(flavor = "multi_thread")]
async fn two_classes_behind_nginx_under_path_prefixes() {
    let _one = ONE_BROWSER.lock().await;
    let pair = certificate();
    let Department {
        nginx,
        co223,
        co224,
    } = department(&pair).await;
    let base = format!("https://127.0.0.1:{}", nginx.port);
    let host = format!("127.0.0.1:{}", nginx.port);

    // What nginx answers, read with a client that trusts the certificate.
    let client = TlsClient::trusting(&pair.cert_der);
    let page = client
        .get(nginx.addr(), &host, "/co223/")
        .await
        .to_ascii_lowercase();
    assert!(
        page.starts_with("http/1.1 200"),
        "{page}\n{}",
        nginx.error_log()
    );
    for header in [
        "cross-origin-opener-policy: same-origin",
        "cross-origin-embedder-policy: require-corp",
        "cross-origin-resource-policy: same-origin",
    ] {
        assert!(page.contains(header), "nginx dropped {header:?}:\n{page}");
    }
    // (Release builds minify index.html: its attributes may be unquoted.)
    assert!(
        page.contains("href=./") || page.contains("href=\"./"),
        "the page's files are not addressed relative to it:\n{page}"
    );
    assert!(
        !page.contains("href=/") && !page.contains("href=\"/") && !page.contains("src=/"),
        "a file of the page is addressed from the root:\n{page}"
    );
    let bare = client.get(nginx.addr(), &host, "/co223").await;
    assert!(
        bare.starts_with("HTTP/1.1 301") && bare.contains("/co223/\r\n"),
        "{bare}"
    );
    let ws = format!("wss://{host}/co223/ws");
    // A foreign page's socket opens and closes at once with 1008 and the
    // fix (a page can read that, not a 403), through nginx as directly.
    let (mut foreign, _) = client
        .websocket(with_origin(&ws, "https://evil.example"))
        .await
        .expect("the upgrade opens, then closes");
    e2e::page::first_close_is_policy("a foreign origin through nginx", foreign.next().await);
    let (status, _) = refusal(
        client
            .websocket(with_origin(&format!("wss://{host}/co223/watch"), &base))
            .await,
    );
    assert_eq!(status, 403, "/watch without the token through nginx");

    // /relay (the websockify-style byte relay) through nginx too: bytes
    // to the class's lab server and its echo back.
    let relay = format!("wss://{host}/co223/relay?target={}", co223.lab_addr());
    let (mut relay, _) = client
        .websocket(with_origin(&relay, &base))
        .await
        .expect("/relay opens through nginx");
    relay
        .send(Message::binary(b"relayed\n".to_vec()))
        .await
        .expect("send");
    let mut echoed = Vec::new();
    while echoed.len() < 8 {
        match tokio::time::timeout(WAIT, relay.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Binary(bytes))) => echoed.extend_from_slice(&bytes),
            Some(Ok(_)) => {}
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    assert_eq!(echoed, b"relayed\n");
    drop(relay);

    // A student of CO223.
    let browser = browser_trusting(&pair, 1366, 768).await;
    open_at(&browser, &format!("{base}/co223/")).await;
    let (scheme, isolated) = isolation(&browser).await;
    assert_eq!(scheme, "https:");
    assert!(isolated, "not cross-origin isolated behind nginx");
    echo(&browser, "hello through nginx").await;
    browser
        .screenshot(&screenshot_path("nginx-co223-task3"))
        .await;
    assert_eq!(co223.metrics().sessions, 1, "{:?}", co223.metrics());
    assert_eq!(co224.metrics().sessions, 0, "{:?}", co224.metrics());

    // CO223's instructor, in another tab: the student's own address.
    let student_tab = browser.client.window().await.expect("this tab");
    let tab = browser.client.new_window(true).await.expect("a new tab");
    browser
        .client
        .switch_to_window(tab.handle)
        .await
        .expect("switch tabs");
    let instructor = format!("{base}/co223/?instructor={}", co223.instructor_token);
    browser.client.goto(&instructor).await.expect("open");
    let peer = browser
        .wait_until(
            "the student's session in CO223's list",
            "const r = document.querySelector('#session-list .session-row[data-open=true] .session-peer');\
             return r ? r.innerText : null;",
            |v| v.is_string(),
        )
        .await;
    assert_eq!(
        peer, "127.0.0.1",
        "the instructor should see the student's address, not nginx's ({PROXY_IP})"
    );
    browser
        .screenshot(&screenshot_path("nginx-co223-instructor"))
        .await;

    // CO224 is another bridge: its own page, sessions and token.
    browser
        .client
        .goto(&format!(
            "{base}/co224/?instructor={}",
            co223.instructor_token
        ))
        .await
        .expect("open");
    browser
        .wait_for_text("The instructor link is wrong or old")
        .await;
    browser
        .client
        .switch_to_window(student_tab)
        .await
        .expect("switch tabs");
    open_at(&browser, &format!("{base}/co224/")).await;
    echo(&browser, "hello co224").await;
    assert_eq!(co224.metrics().sessions, 1, "{:?}", co224.metrics());

    browser.close().await;
    drop(nginx);
    co223.stop().await.expect("bridge stops");
    co224.stop().await.expect("bridge stops");
}
