//! The instructor's view end to end: a real bridge on port 0, students'
//! pages on `/ws` and the instructor's on `/watch`, all real
//! tokio-tungstenite clients, with real TCP sockets behind them.
//!
//! No sleeps: every wait is for a message, with a timeout so a broken
//! bridge fails the test instead of hanging it. The assertions are on what
//! the instructor would see: the list, and the followed session's messages
//! (exactly what that student's page got).

use bridge::app::RunningBridge;
use bridge::config::{AllowList, BridgeConfig, SessionLimits};
use bridge::watch::{HISTORY_MESSAGES, MAX_WATCHERS};
use e2e::page::{
    Page, WAIT, Ws, closed, closed_port, http_get, is_step_with, receive, refused_upgrade, start,
    start_with, stops_in_time, with_origin,
};
use futures_util::SinkExt;
use protocol::{
    ClientMsg, ConnId, ErrorKind, Lane, Mode, PROTOCOL_VERSION, Refusal, ServerMsg, SessionId,
    SessionSummary, Step, StepKind, Target, Transport, WatchCmd, WatchMsg,
};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What a `/watch` without the right token is told.
const TOKEN_NEEDED: &str = "the instructor view needs the bridge's instructor token: open the \
     instructor link the bridge printed when it started (or start it with --instructor-token)";

/// The connection a message belongs to, if any.
fn conn_of(msg: &ServerMsg) -> Option<ConnId> {
    match msg {
        ServerMsg::Trace(event) => event.conn,
        ServerMsg::Refused { conn, .. } => *conn,
        _ => None,
    }
}

/// The instructor's page: `/watch`, everything it received, and how far
/// the test has read.
struct Watcher {
    ws: Ws,
    log: Vec<WatchMsg>,
    /// Messages before this index have been looked at by [`Watcher::until`].
    cursor: usize,
    /// The list as the page would show it: the first list, with every
    /// change since applied.
    list: Vec<SessionSummary>,
}

impl Watcher {
    /// Opens `/watch` with the bridge's token; reads hello and the first
    /// list.
    async fn open(bridge: &RunningBridge) -> Watcher {
        let (ws, _) = connect_async(bridge.watch_url())
            .await
            .expect("watch opens");
        let mut watcher = Watcher {
            ws,
            log: Vec::new(),
            cursor: 0,
            list: Vec::new(),
        };
        match watcher.receive().await {
            WatchMsg::Hello { version, bridge } => {
                assert_eq!(version, PROTOCOL_VERSION);
                assert!(bridge.starts_with("socket-lab "), "{bridge}");
            }
            other => panic!("expected hello first, got {other:?}"),
        }
        assert!(
            matches!(watcher.receive().await, WatchMsg::Sessions { .. }),
            "the list comes at once: {:?}",
            watcher.log
        );
        watcher.cursor = watcher.log.len();
        watcher
    }

    async fn say(&mut self, cmd: WatchCmd) {
        let json = serde_json::to_string(&cmd).expect("serializes");
        self.ws.send(Message::text(json)).await.expect("ws send");
    }

    /// The next message from the bridge, logged.
    async fn receive(&mut self) -> WatchMsg {
        let msg: WatchMsg = receive(&mut self.ws, &mut self.log).await;
        e2e::watch::apply(&mut self.list, &msg);
        if matches!(msg, WatchMsg::Changed { .. }) {
            self.list.sort_by_key(|s| (!s.open, s.id));
        }
        msg
    }

    /// The next message not yet looked at.
    async fn next(&mut self) -> WatchMsg {
        if self.cursor == self.log.len() {
            self.receive().await;
        }
        self.cursor += 1;
        self.log[self.cursor - 1].clone()
    }

    /// Reads on until a message matches `want`, and returns it.
    async fn until(&mut self, what: &str, want: impl Fn(&WatchMsg) -> bool) -> WatchMsg {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let msg = self.next().await;
            if want(&msg) {
                return msg;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} in time; seen: {:#?}",
                self.log
            );
        }
    }

    /// The messages of `session` among the next ones, skipping lists,
    /// until `count` of them have come.
    async fn session_messages(&mut self, session: SessionId, count: usize) -> Vec<ServerMsg> {
        let mut messages = Vec::with_capacity(count);
        while messages.len() < count {
            match self
                .until("a session message", |msg| {
                    !matches!(msg, WatchMsg::Sessions { .. } | WatchMsg::Changed { .. })
                })
                .await
            {
                WatchMsg::Session { session: s, msg } if s == session => messages.push(msg),
                other => panic!("expected a message of session {session}, got {other:?}"),
            }
        }
        messages
    }

    /// The next refusal's message.
    async fn refused(&mut self) -> String {
        match self
            .until("refused", |msg| matches!(msg, WatchMsg::Refused { .. }))
            .await
        {
            WatchMsg::Refused { message } => message,
            _ => unreachable!(),
        }
    }

    /// Follows `session`; returns `Following.dropped`.
    async fn follow(&mut self, session: SessionId) -> u64 {
        self.say(WatchCmd::Follow { session }).await;
        match self
            .until("following", |msg| matches!(msg, WatchMsg::Following { .. }))
            .await
        {
            WatchMsg::Following {
                session: s,
                dropped,
            } => {
                assert_eq!(s, session);
                dropped
            }
            _ => unreachable!(),
        }
    }

    /// The latest list that satisfies `want`: the newest one already
    /// received, or the next ones (they come when something changed).
    async fn list_until(
        &mut self,
        what: &str,
        want: impl Fn(&[SessionSummary]) -> bool,
    ) -> Vec<SessionSummary> {
        if want(&self.list) {
            return self.list.clone();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let msg = self.receive().await;
            if matches!(msg, WatchMsg::Sessions { .. } | WatchMsg::Changed { .. })
                && want(&self.list)
            {
                return self.list.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no list with {what} in time; last: {:#?}",
                self.list
            );
        }
    }
}

fn find(sessions: &[SessionSummary], id: SessionId) -> Option<&SessionSummary> {
    sessions.iter().find(|summary| summary.id == id)
}

/// `/watch` without the token or with a wrong one: `403` with a sentence
/// saying what to do; nothing is upgraded. From a foreign page: closed at
/// once with 1008 and the fix (what a page can read).
#[tokio::test]
async fn the_instructor_view_needs_the_token_and_the_origin() {
    let config = BridgeConfig {
        instructor_token: Some("class-2b".into()),
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    assert_eq!(bridge.instructor_token, "class-2b");
    assert_eq!(
        bridge.instructor_url(),
        format!("http://{}/?instructor=class-2b", bridge.http_addr)
    );
    let base = format!("ws://{}/watch", bridge.http_addr);
    for url in [
        base.clone(),
        format!("{base}?token="),
        format!("{base}?token=class-2c"),
        format!("{base}?token=class-2"),
        format!("{base}?token=class-2bb"),
        format!("{base}?instructor=class-2b"),
    ] {
        let (status, body) = refused_upgrade(url.as_str()).await;
        assert_eq!(status, 403, "{url}");
        assert_eq!(body.trim_end(), TOKEN_NEEDED, "{url}");
    }
    // The right token from another site's page: refused all the same.
    let (mut refused, _) = connect_async(with_origin(&bridge.watch_url(), "https://evil.example"))
        .await
        .expect("opens, to say why it closes");
    let (code, reason) = e2e::page::closed(&mut refused).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("--allow-origin"), "{reason}");
    // The page's own origin, with the token: in.
    let own = format!("http://{}", bridge.http_addr);
    connect_async(with_origin(&bridge.watch_url(), &own))
        .await
        .expect("own origin");
    bridge.stop().await.expect("clean stop");
}

/// Without --instructor-token, each bridge makes its own random token.
#[tokio::test]
async fn without_a_token_the_bridge_makes_one() {
    let first = start(Mode::Echo).await;
    let second = start(Mode::Echo).await;
    for bridge in [&first, &second] {
        assert_eq!(bridge.instructor_token.len(), 32);
        assert!(
            bridge
                .instructor_token
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
    }
    assert_ne!(first.instructor_token, second.instructor_token);
    let mut watcher = Watcher::open(&first).await;
    watcher.say(WatchCmd::Unfollow).await;
    first.stop().await.expect("clean stop");
    second.stop().await.expect("clean stop");
}

/// Two students: A echoes "hello" through a private server, B connects to
/// a port where nothing listens. The instructor sees both in the list,
/// follows A (its history and then its live messages, nothing of B's),
/// and sees A leave.
#[tokio::test]
async fn the_instructor_sees_every_session_and_follows_one() {
    let nowhere = closed_port().await;
    let config = BridgeConfig {
        allow_targets: AllowList::new([nowhere.as_str()]),
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let mut watcher = Watcher::open(&bridge).await;

    // A: private echo server 1, connection 1, "hello" and its echo. Done
    // when both lanes have it: nothing more happens until A does more.
    let mut a = Page::open(&bridge).await;
    a.start_server(1, Mode::Echo, Transport::Tcp).await;
    a.connect(1, Target::Server { id: 1 }).await;
    a.until_step(Lane::Client, 1, StepKind::Connected).await;
    a.send_text(1, "hello").await;
    a.until_step_with(Lane::Client, 1, StepKind::Recv, b"hello")
        .await;
    a.until_step_with(Lane::Server, 1, StepKind::Send, b"hello")
        .await;

    // B: connection 7 to a closed port: refused, then closed.
    let mut b = Page::open(&bridge).await;
    b.connect(
        7,
        Target::Addr {
            addr: nowhere.clone(),
        },
    )
    .await;
    b.until_step(Lane::Client, 7, StepKind::Close).await;
    let refused = b
        .seen
        .iter()
        .find_map(|msg| match msg {
            ServerMsg::Trace(event) => match &event.step {
                Step::Error { kind, .. } => Some(*kind),
                _ => None,
            },
            _ => None,
        })
        .expect("an error event");
    assert_eq!(refused, ErrorKind::ConnectionRefused);

    // The list: both, open, in order, each as its page saw it.
    let (a_events, b_events) = (a.event_count(), b.event_count());
    let list = watcher
        .list_until("both sessions up to date", |list| {
            list.len() == 2
                && find(list, 1).is_some_and(|s| s.events == a_events)
                && find(list, 2).is_some_and(|s| s.events == b_events)
        })
        .await;
    let (sa, sb) = (&list[0], &list[1]);
    assert_eq!((sa.id, sb.id), (1, 2), "{list:#?}");
    assert!(sa.open && sb.open, "{list:#?}");
    assert_eq!(sa.peer, a.local.to_string());
    assert_eq!(sb.peer, b.local.to_string());
    assert_eq!(
        (sa.servers, sa.connections, sa.errors),
        (1, 1, 0),
        "A listens on one server and has one connection open: {sa:#?}"
    );
    assert_eq!(
        (sb.servers, sb.connections, sb.errors),
        (0, 0, 1),
        "B's one connection was refused and is closed: {sb:#?}"
    );
    assert_eq!(sa.last, a.last_label());
    assert_eq!(sb.last, b.last_label());
    assert_eq!(sb.last.as_deref(), Some("close()"));
    assert!(sa.opened_at_us <= sa.last_at_us && sb.opened_at_us <= sb.last_at_us);
    assert!(sa.opened_at_us < sb.opened_at_us, "A opened first");

    // Follow A: the history is exactly what A's page got after its hello.
    assert_eq!(watcher.follow(1).await, 0);
    let history = watcher.session_messages(1, a.after_hello().len()).await;
    assert_eq!(history, a.after_hello());
    assert!(
        history
            .iter()
            .any(|msg| is_step_with(msg, Lane::Client, 1, StepKind::Recv, b"hello")),
        "{history:#?}"
    );
    assert!(history.iter().all(|msg| conn_of(msg) != Some(7)));

    // B does more (a second refused connection), then A sends "again":
    // A's arrives live, B's does not.
    b.connect(8, Target::Addr { addr: nowhere }).await;
    b.until_step(Lane::Client, 8, StepKind::Close).await;
    let seen_before = a.seen.len();
    a.send_text(1, "again").await;
    a.until_step_with(Lane::Client, 1, StepKind::Recv, b"again")
        .await;
    let live = watcher
        .until("A's recv of again", |msg| {
            matches!(msg, WatchMsg::Session { msg, .. }
                if is_step_with(msg, Lane::Client, 1, StepKind::Recv, b"again"))
        })
        .await;
    assert!(matches!(live, WatchMsg::Session { session: 1, .. }));
    let frames: Vec<&WatchMsg> = watcher
        .log
        .iter()
        .filter(|msg| {
            !matches!(
                msg,
                WatchMsg::Hello { .. } | WatchMsg::Sessions { .. } | WatchMsg::Changed { .. }
            )
        })
        .collect();
    for frame in &frames {
        match frame {
            WatchMsg::Following { session: 1, .. } => {}
            WatchMsg::Session { session: 1, msg } => assert!(
                !matches!(conn_of(msg), Some(7 | 8)),
                "B's message shown as A's: {msg:?}"
            ),
            other => panic!("only A's messages were expected, got {other:?}"),
        }
    }
    // Live, in order: what A's page got since.
    let live: Vec<ServerMsg> = frames
        .iter()
        .filter_map(|frame| match frame {
            WatchMsg::Session { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .skip(history.len())
        .collect();
    assert_eq!(live[..], a.seen[seen_before..seen_before + live.len()]);

    // A's page closes: the instructor hears the end, and the list keeps A
    // as closed (nothing open now), after the open B.
    a.ws.close(None).await.expect("closes");
    watcher
        .until("A's end", |msg| {
            matches!(msg, WatchMsg::Ended { session: 1 })
        })
        .await;
    let list = watcher
        .list_until("A closed", |list| find(list, 1).is_some_and(|s| !s.open))
        .await;
    assert_eq!(list.len(), 2);
    assert_eq!((list[0].id, list[0].open), (2, true), "{list:#?}");
    assert_eq!((list[1].id, list[1].open), (1, false), "{list:#?}");
    assert_eq!((list[1].servers, list[1].connections), (0, 0));
    assert_eq!(list[1].peer, a.local.to_string());
    assert_eq!(find(&list, 2).map(|s| s.errors), Some(2));

    // A closed session can still be followed: all the instructor saw of
    // it (history and live), then the end.
    let shown: Vec<ServerMsg> = watcher
        .log
        .iter()
        .filter_map(|frame| match frame {
            WatchMsg::Session { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(watcher.follow(1).await, 0);
    let again = watcher.session_messages(1, shown.len()).await;
    assert_eq!(again, shown);
    let next = watcher
        .until("the end of closed A", |msg| {
            !matches!(msg, WatchMsg::Sessions { .. } | WatchMsg::Changed { .. })
        })
        .await;
    assert_eq!(next, WatchMsg::Ended { session: 1 });
    bridge.stop().await.expect("clean stop");
}

/// Bad commands get `refused` and the watch goes on; an unknown session is
/// named in the refusal; following another session replaces the first.
#[tokio::test]
async fn bad_commands_are_refused_and_the_watch_goes_on() {
    let bridge = start(Mode::Echo).await;
    let mut a = Page::open(&bridge).await;
    let mut b = Page::open(&bridge).await;
    let mut watcher = Watcher::open(&bridge).await;

    watcher
        .ws
        .send(Message::text("{nope"))
        .await
        .expect("sends");
    let message = watcher.refused().await;
    assert!(message.contains("not a command"), "{message}");
    watcher
        .ws
        .send(Message::text(r#"{"type":"project","session":1}"#))
        .await
        .expect("sends");
    let message = watcher.refused().await;
    assert!(message.contains("project"), "{message}");
    watcher
        .ws
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("sends");
    let message = watcher.refused().await;
    assert!(message.contains("binary"), "{message}");
    watcher.say(WatchCmd::Follow { session: 999 }).await;
    let message = watcher.refused().await;
    assert!(message.contains("999"), "{message}");

    // Still working: follow A, then B instead; only B's messages follow.
    assert_eq!(watcher.follow(1).await, 0);
    assert_eq!(watcher.follow(2).await, 0);
    a.say(ClientMsg::Close { conn: 41 }).await;
    a.until("A's refusal", |msg| conn_of(msg) == Some(41)).await;
    b.say(ClientMsg::Close { conn: 42 }).await;
    b.until("B's refusal", |msg| conn_of(msg) == Some(42)).await;
    let shown = watcher.session_messages(2, 1).await;
    assert!(
        matches!(
            &shown[0],
            ServerMsg::Refused {
                reason: Refusal::Unknown,
                conn: Some(42),
                ..
            }
        ),
        "{shown:?}"
    );
    // Unfollow (done once the refusal that follows it comes): nothing
    // more of B, so the next thing after that refusal is another.
    watcher.say(WatchCmd::Unfollow).await;
    watcher.say(WatchCmd::Follow { session: 1000 }).await;
    assert!(watcher.refused().await.contains("1000"));
    b.say(ClientMsg::Close { conn: 43 }).await;
    b.until("B's refusal", |msg| conn_of(msg) == Some(43)).await;
    watcher.say(WatchCmd::Follow { session: 1001 }).await;
    let next = watcher
        .until("not a list", |msg| {
            !matches!(msg, WatchMsg::Sessions { .. } | WatchMsg::Changed { .. })
        })
        .await;
    assert!(
        matches!(&next, WatchMsg::Refused { message } if message.contains("1001")),
        "{next:?}"
    );
    bridge.stop().await.expect("clean stop");
}

/// A session with more messages than the history keeps: following it says
/// how many were dropped, and the history is the newest ones, in order.
#[tokio::test]
async fn the_history_is_the_newest_messages() {
    let bridge = start(Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    let total = HISTORY_MESSAGES as ConnId + 100;
    // Each closes a connection that does not exist: one refusal each.
    for conn in 1..=total {
        page.say(ClientMsg::Close { conn }).await;
    }
    page.until("the last refusal", |msg| conn_of(msg) == Some(total))
        .await;
    assert_eq!(page.after_hello().len(), total as usize);

    let mut watcher = Watcher::open(&bridge).await;
    let dropped = watcher.follow(1).await;
    assert_eq!(dropped, 100);
    let history = watcher.session_messages(1, HISTORY_MESSAGES).await;
    assert_eq!(history, page.after_hello()[100..]);
    assert_eq!(conn_of(&history[0]), Some(101));
    // Live messages come after the history, at once.
    page.say(ClientMsg::Close { conn: 9999 }).await;
    let live = watcher.session_messages(1, 1).await;
    assert_eq!(conn_of(&live[0]), Some(9999));
    let list = watcher
        .list_until("the refusals counted", |list| {
            find(list, 1).is_some_and(|s| s.errors == total + 1)
        })
        .await;
    assert_eq!(list[0].events, 0);
    bridge.stop().await.expect("clean stop");
}

/// At most eight instructor views at once: the ninth is closed at once
/// with "try again later" (1013) and the reason, which a browser can read
/// (it cannot read an HTTP status), and `/metrics` counts them.
#[tokio::test]
async fn the_ninth_watcher_is_told_to_try_later() {
    let bridge = start(Mode::Echo).await;
    let mut watchers = Vec::new();
    for _ in 0..MAX_WATCHERS {
        watchers.push(Watcher::open(&bridge).await);
    }
    assert_eq!(bridge.metrics().watchers, MAX_WATCHERS);
    let (mut ninth, _) = connect_async(bridge.watch_url()).await.expect("upgrades");
    let (code, reason) = closed(&mut ninth).await;
    assert_eq!(u16::from(code), protocol::WATCH_BUSY);
    assert!(
        reason.contains("8 instructor views are open already"),
        "{reason}"
    );
    assert_eq!(bridge.metrics().watchers, MAX_WATCHERS);
    // When one closes, there is room again.
    drop(watchers.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    while bridge.metrics().watchers == MAX_WATCHERS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watcher count never fell"
        );
        tokio::task::yield_now().await;
    }
    watchers.push(Watcher::open(&bridge).await);
    // Students are not affected by the full instructor views.
    Page::open(&bridge).await;
    let body = http_get(bridge.http_addr, "/metrics").await;
    assert!(body.contains(r#""watchers":8"#), "{body}");
    bridge.stop().await.expect("clean stop");
}

/// A message over --max-message-bytes closes the watcher with 1009; the
/// bridge's shutdown closes watchers with 1001, in bounded time.
#[tokio::test]
async fn oversize_closes_1009_and_shutdown_1001() {
    let config = BridgeConfig {
        limits: SessionLimits {
            max_message_bytes: 4096,
            ..SessionLimits::default()
        },
        ..BridgeConfig::default()
    };
    let bridge = start_with(config, Mode::Echo).await;
    let mut page = Page::open(&bridge).await;
    let mut big = Watcher::open(&bridge).await;
    big.ws
        .send(Message::text("x".repeat(10_000)))
        .await
        .expect("sends");
    let (code, reason) = closed(&mut big.ws).await;
    assert_eq!(code, CloseCode::Size);
    assert!(reason.contains("4096"), "{reason}");

    let mut watcher = Watcher::open(&bridge).await;
    watcher.follow(1).await;
    bridge.shutdown.cancel();
    let (code, reason) = closed(&mut watcher.ws).await;
    assert_eq!(code, CloseCode::Away);
    assert_eq!(reason, "bridge shutting down");
    let (code, _) = page.closed().await;
    assert_eq!(code, CloseCode::Away);
    stops_in_time(bridge).await;
}

/// The `Code` messages `/watch` sent for `session` among the next ones
/// (skipping lists and the session's own messages), until `count` came.
async fn code_of(watcher: &mut Watcher, count: usize) -> Vec<(SessionId, Lane, String, String)> {
    let mut code = Vec::with_capacity(count);
    while code.len() < count {
        if let WatchMsg::Code {
            session,
            lane,
            file,
            text,
        } = watcher
            .until("the student's code", |msg| {
                matches!(msg, WatchMsg::Code { .. })
            })
            .await
        {
            code.push((session, lane, file, text));
        }
    }
    code
}

/// A student's programs reach the instructor who follows them: both files
/// with the follow, then each change as it comes (a file sent again
/// unchanged is no change), and a change counts as activity in the list.
/// A file over the limit is refused with a sentence saying so, the session
/// goes on, and the instructor keeps the last version that fit; a program
/// of exactly the limit goes through whole. Following another student
/// shows theirs, and a student who left still shows their last code.
#[tokio::test]
async fn the_followed_students_code_reaches_the_instructor() {
    use protocol::MAX_CODE_BYTES;
    let bridge = start(Mode::Echo).await;
    let mut watcher = Watcher::open(&bridge).await;
    let mut a = Page::open(&bridge).await;
    let mut b = Page::open(&bridge).await;
    let code = |lane, file: &str, text: &str| ClientMsg::Code {
        lane,
        file: file.into(),
        text: text.into(),
    };
    a.say(code(Lane::Server, "server.py", "import socket\n# v1\n"))
        .await;
    a.say(code(Lane::Client, "client.py", "import socket\n"))
        .await;
    b.say(code(Lane::Server, "server.py", "# B's server\n"))
        .await;
    // A refusal after them: the bridge has handled them by then.
    for page in [&mut a, &mut b] {
        page.say(ClientMsg::SetName { name: " ".into() }).await;
        page.until_refused().await;
    }

    assert_eq!(watcher.follow(1).await, 0);
    let mut first = code_of(&mut watcher, 2).await;
    first.sort_by_key(|(_, lane, _, _)| *lane == Lane::Client);
    assert_eq!(
        first,
        vec![
            (
                1,
                Lane::Server,
                "server.py".into(),
                "import socket\n# v1\n".into()
            ),
            (
                1,
                Lane::Client,
                "client.py".into(),
                "import socket\n".into()
            ),
        ]
    );

    // A change arrives live, and is A's latest activity in the list.
    let listed = watcher
        .list_until("A listed", |list| find(list, 1).is_some())
        .await;
    let before = find(&listed, 1).expect("listed").last_at_us;
    a.say(code(Lane::Server, "server.py", "import socket\n# v2\n"))
        .await;
    assert_eq!(
        code_of(&mut watcher, 1).await,
        vec![(
            1,
            Lane::Server,
            "server.py".into(),
            "import socket\n# v2\n".into()
        )]
    );
    watcher
        .list_until("A active again", |list| {
            find(list, 1).is_some_and(|s| s.last_at_us > before)
        })
        .await;
    // The same text again is no change: the next code is the client's.
    a.say(code(Lane::Server, "server.py", "import socket\n# v2\n"))
        .await;
    a.say(code(Lane::Client, "client.py", "import socket\n# v2\n"))
        .await;
    assert_eq!(
        code_of(&mut watcher, 1).await,
        vec![(
            1,
            Lane::Client,
            "client.py".into(),
            "import socket\n# v2\n".into()
        )]
    );

    // Over the limit: refused in a sentence, nothing else lost.
    let over = "x".repeat(MAX_CODE_BYTES + 1);
    a.say(code(Lane::Server, "server.py", &over)).await;
    let (reason, message) = a.until_refused().await;
    assert_eq!(reason, Refusal::TooLarge);
    assert_eq!(
        message,
        format!(
            "server.py is {} bytes; the instructor's view shows programs of at most {MAX_CODE_BYTES} \
             bytes, so it keeps showing the last version that fit",
            MAX_CODE_BYTES + 1
        )
    );
    for bad in ["", "server\n.py", &"s".repeat(65)] {
        a.say(code(Lane::Server, bad, "x")).await;
        let (reason, message) = a.until_refused().await;
        assert_eq!(reason, Refusal::BadMessage, "{bad:?}");
        assert!(message.contains("file name"), "{message}");
    }
    // The session goes on: exactly the limit is shown whole, and it is
    // the next code the instructor gets (the refused ones never came).
    let most = "y".repeat(MAX_CODE_BYTES);
    a.say(code(Lane::Server, "server.py", &most)).await;
    let got = code_of(&mut watcher, 1).await;
    assert_eq!(
        (got[0].0, got[0].1, got[0].3.len()),
        (1, Lane::Server, MAX_CODE_BYTES)
    );
    a.start_server(1, Mode::Echo, Transport::Tcp).await;

    // Following B shows B's code, and no more of A's.
    watcher.follow(2).await;
    assert_eq!(
        code_of(&mut watcher, 1).await,
        vec![(2, Lane::Server, "server.py".into(), "# B's server\n".into())]
    );
    a.say(code(Lane::Client, "client.py", "# A again\n")).await;
    b.say(code(Lane::Client, "client.py", "# B's client\n"))
        .await;
    assert_eq!(
        code_of(&mut watcher, 1).await,
        vec![(2, Lane::Client, "client.py".into(), "# B's client\n".into())]
    );

    // A leaves: following A shows its last code, then that it ended.
    drop(a);
    watcher
        .list_until("A closed", |list| find(list, 1).is_some_and(|s| !s.open))
        .await;
    watcher.follow(1).await;
    let mut last = code_of(&mut watcher, 2).await;
    last.sort_by_key(|(_, lane, _, _)| *lane == Lane::Client);
    assert_eq!(last[0].3.len(), MAX_CODE_BYTES);
    assert_eq!(last[1].3, "# A again\n");
    watcher
        .until("ended", |msg| matches!(msg, WatchMsg::Ended { session: 1 }))
        .await;
    bridge.stop().await.expect("clean stop");
}
