//! The page in a real headless Chromium, against a real bridge, doing the
//! lab the way a student would: pick a task, start the server, connect,
//! type, and read what the page shows.
//!
//! Each test starts its own bridge (port 0, public lab server on port 0)
//! serving the built page from `dist/`, and its own Chromium. Screenshots of
//! the main states go to `target/screenshots/` for a person to look at.

use bridge::app::{Bridge, RunningBridge};
use bridge::config::BridgeConfig;
use bridge::lab::LabArgs;
use e2e::browser::Browser;
use fantoccini::Locator;
use fantoccini::key::Key;
use protocol::Mode;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use tokio::sync::Mutex;

mod accessibility;
mod checks;
mod classroom;
mod code_view;
mod course;
mod predict;
mod python;
mod remote;

/// One Chromium at a time: these machines have two cores, and a browser
/// starved of CPU makes every wait longer.
static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The built page; the tests need it (`make test` builds it first).
fn dist() -> PathBuf {
    let dist = workspace().join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "the page is not built: run `make test` (or `trunk build --release --offline`) first"
    );
    dist
}

fn screenshot_path(name: &str) -> PathBuf {
    workspace()
        .join("target")
        .join("screenshots")
        .join(format!("{name}.png"))
}

/// A bridge serving the page, its public lab server in `mode`.
async fn start_bridge(mode: Mode, allow_targets: &[&str]) -> RunningBridge {
    let config = BridgeConfig {
        static_dir: Some(dist()),
        pyodide_dir: Some(workspace().join("pyodide")),
        allow_targets: bridge::config::AllowList::new(allow_targets.iter().copied()),
        ..BridgeConfig::default()
    };
    let lab = LabArgs {
        lab: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        mode,
        ..LabArgs::default()
    };
    Bridge::start(config, &lab).await.expect("start the bridge")
}

/// Opens the page and waits until it says it is connected to the bridge.
async fn open_page(bridge: &RunningBridge, width: u32, height: u32) -> Browser {
    let browser = Browser::start(width, height).await;
    browser
        .client
        .goto(&bridge.http_url())
        .await
        .expect("open the page");
    browser
        .wait_until(
            "the connection badge to say open",
            "const s = document.getElementById('ws-status'); return s ? s.dataset.state : null;",
            |v| v == "open",
        )
        .await;
    browser
}

async fn click(browser: &Browser, id: &str) {
    browser
        .client
        .wait()
        .at_most(e2e::browser::PATIENCE)
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id} on the page: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click #{id}: {e}"));
}

async fn choose_task(browser: &Browser, value: &str) {
    browser
        .client
        .find(Locator::Id("task-select"))
        .await
        .expect("#task-select")
        .select_by_value(value)
        .await
        .expect("choose the task");
}

/// Waits until some row of the event log matches `selector` and its text
/// contains `needle`; returns that row's text.
async fn wait_for_row(browser: &Browser, selector: &str, needle: &str) -> String {
    let script = format!(
        "return Array.from(document.querySelectorAll({sel:?})).map(e => e.innerText)\
         .find(t => t.includes({needle:?})) || null;",
        sel = format!("#event-log {selector}"),
    );
    let found = browser
        .wait_until(
            &format!("a log row {selector} containing {needle:?}"),
            &script,
            |v| v.is_string(),
        )
        .await;
    found.as_str().unwrap_or_default().to_string()
}

/// How many diagram arrows there are for `call`.
async fn arrows(browser: &Browser, call: &str) -> u64 {
    browser
        .client
        .execute(
            &format!(
                "return document.querySelectorAll('#sequence-diagram .arrow[data-call={call:?}]').length;"
            ),
            vec![],
        )
        .await
        .expect("count arrows")
        .as_u64()
        .unwrap_or(0)
}

/// Types `text` into the composer and presses Enter, as a student would.
async fn type_and_send(browser: &Browser, text: &str) {
    let input = browser
        .client
        .find(Locator::Id("message-input"))
        .await
        .expect("#message-input");
    input.send_keys(text).await.expect("type");
    input
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter");
}

/// Starts "my server" for `task` and connects one client to it.
async fn start_and_connect(browser: &Browser, task: &str) {
    choose_task(browser, task).await;
    click(browser, "start-server").await;
    // socket(), bind() and listen(5) happen on the server lane.
    wait_for_row(
        browser,
        ".event-row[data-lane=server][data-call=listen]",
        "listen(5)",
    )
    .await;
    click(browser, "connect-client").await;
    wait_for_row(
        browser,
        ".event-row[data-lane=client][data-call=connected]",
        "",
    )
    .await;
}

/// The first slice: the page loads from the bridge, opens `/ws` and says
/// it is connected.
#[tokio::test(flavor = "multi_thread")]
async fn page_connects_to_the_bridge() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1280, 720).await;
    let badge = browser.text_of("#ws-status").await;
    assert!(badge.contains("Connected"), "badge says {badge:?}");
    browser.screenshot(&screenshot_path("connected")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Task 1: the server prints the lab's "Connection from ... has been
/// established." line, and the diagram draws connect() meeting accept().
#[tokio::test(flavor = "multi_thread")]
async fn task1_connect_shows_the_connection_established_line() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1280, 720).await;
    start_and_connect(&browser, "connect").await;
    let line = wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=print]",
        "has been established.",
    )
    .await;
    assert!(line.contains("Connection from ('127.0.0.1', "), "{line}");
    // Task 1's server closes the connection; the client sees recv() -> 0.
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv_eof]",
        "",
    )
    .await;
    assert!(arrows(&browser, "connect").await >= 1, "no connect() arrow");
    browser.screenshot(&screenshot_path("task1")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The sequence diagram is one tab stop: with it focused, Home selects the
/// first event, the arrow keys step through the trace (the same event is
/// selected in the log, and the code panel shows its line of the lab's
/// program), and Escape goes back to live.
#[tokio::test(flavor = "multi_thread")]
async fn the_diagram_steps_by_keyboard() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1280, 720).await;
    start_and_connect(&browser, "connect").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv_eof]",
        "",
    )
    .await;
    // What is selected, in the diagram, the log and the code panel.
    let selection = "const row = document.querySelector('#sequence-diagram .drow.selected'); \
         const logged = document.querySelector('.event-row[aria-current=true]'); \
         const line = document.querySelector('#lab-code .highlight'); \
         return [row && row.dataset.seq, logged && logged.dataset.call, line && line.textContent];";
    let press = |key: Key| {
        let browser = &browser;
        async move {
            browser
                .client
                .active_element()
                .await
                .expect("the focused element")
                .send_keys(&key.to_string())
                .await
                .expect("a key");
        }
    };
    eval(
        &browser,
        "document.querySelector('.diagram-scroll').focus(); return true;",
    )
    .await;
    press(Key::Home).await;
    let first = browser
        .wait_until("Home to select the first event", selection, |v| {
            v[0].is_string()
        })
        .await;
    assert_eq!(
        first[1], "socket",
        "the log selects the same event: {first}"
    );
    assert!(
        first[2]
            .as_str()
            .is_some_and(|line| line.contains("socket.socket(")),
        "the code panel shows socket(): {first}"
    );
    press(Key::Down).await;
    let second = browser
        .wait_until("ArrowDown to select the next event", selection, |v| {
            v[1] == "bind"
        })
        .await;
    assert!(
        second[2]
            .as_str()
            .is_some_and(|line| line.contains("s.bind(")),
        "the code panel shows bind(): {second}"
    );
    press(Key::Escape).await;
    browser
        .wait_until("Escape to go back to live", selection, |v| v[0].is_null())
        .await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Task 2: the greeting the server sends is shown as received by the
/// client, as text and as hex.
#[tokio::test(flavor = "multi_thread")]
async fn task2_greeting_reaches_the_client() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1280, 720).await;
    start_and_connect(&browser, "greet").await;
    let row = wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "Thank you for connecting",
    )
    .await;
    // "Thank" in hex.
    assert!(row.contains("54 68 61 6e 6b"), "no hex in {row:?}");
    browser.screenshot(&screenshot_path("task2")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Task 3: what the student types is sent, echoed, and shown on both
/// lanes with its hex; the diagram has send and recv arrows.
#[tokio::test(flavor = "multi_thread")]
async fn task3_echo_shows_the_text_and_hex_on_both_lanes() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1280, 720).await;
    start_and_connect(&browser, "echo").await;
    type_and_send(&browser, "hello lab").await;
    let sent = wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=send]",
        "hello lab",
    )
    .await;
    assert!(
        sent.contains("68 65 6c 6c 6f"),
        "no hex in sent row {sent:?}"
    );
    wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=recv]",
        "hello lab",
    )
    .await;
    let echoed = wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "hello lab",
    )
    .await;
    assert!(
        echoed.contains("68 65 6c 6c 6f"),
        "no hex in echoed row {echoed:?}"
    );
    assert!(
        arrows(&browser, "send").await >= 2,
        "expected send() arrows both ways"
    );
    browser.screenshot(&screenshot_path("task3")).await;

    // Half-close: the server sees recv() -> 0 and closes its side too.
    click(&browser, "shutdown-button").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=recv_eof]",
        "",
    )
    .await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv_eof]",
        "",
    )
    .await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A connection to a port where nothing listens is refused, and the page
/// says so in plain words.
#[tokio::test(flavor = "multi_thread")]
async fn refused_connection_is_explained() {
    let _one = ONE_BROWSER.lock().await;
    // A port that was free a moment ago and has nothing listening now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let bridge = start_bridge(Mode::Echo, &[&closed]).await;
    let browser = open_page(&bridge, 1280, 720).await;
    let target = browser
        .client
        .find(Locator::Id("target-input"))
        .await
        .expect("#target-input");
    target.clear().await.expect("clear");
    target.send_keys(&closed).await.expect("type the address");
    click(&browser, "connect-target").await;
    let explanation = browser.text_of(".error-explanation").await;
    assert!(
        explanation.contains("Nothing is listening on that port"),
        "explanation: {explanation:?}"
    );
    browser.screenshot(&screenshot_path("refused")).await;
    browser
        .assert_accessible("student page, a refused connection explained")
        .await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The page is usable at phone width: the controls and the log are there
/// and nothing overflows sideways.
#[tokio::test(flavor = "multi_thread")]
async fn phone_width_has_no_sideways_scroll() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 390, 844).await;
    start_and_connect(&browser, "echo").await;
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .expect("measure");
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "page scrolls sideways by {overflow}px"
    );
    browser.screenshot(&screenshot_path("phone")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The README's picture: Task 3 with a few echoes. Writes
/// `$SOCKET_LAB_SCREENSHOT_DIR/screenshot.png` when that is set
/// (`make screenshot`), and always `target/screenshots/readme.png`.
#[tokio::test(flavor = "multi_thread")]
async fn readme_screenshot() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1440, 900).await;
    start_and_connect(&browser, "echo").await;
    for line in ["hello", "socket lab"] {
        type_and_send(&browser, line).await;
        wait_for_row(
            &browser,
            ".event-row[data-lane=client][data-call=recv]",
            line,
        )
        .await;
    }
    // Select the server's last recv(): the page explains it and highlights
    // `data = clientsocket.recv(1024)` in the lab's server.py.
    let rows = browser
        .client
        .find_all(Locator::Css(
            "#event-log .event-row[data-lane=server][data-call=recv]",
        ))
        .await
        .expect("server recv rows");
    rows.last()
        .expect("a server recv row")
        .click()
        .await
        .expect("select it");
    let highlighted = browser.text_of("#lab-code .highlight").await;
    assert!(
        highlighted.contains("recv("),
        "highlighted line: {highlighted:?}"
    );
    browser.screenshot(&screenshot_path("readme")).await;
    if let Some(dir) = std::env::var_os("SOCKET_LAB_SCREENSHOT_DIR") {
        browser
            .screenshot(&PathBuf::from(dir).join("screenshot.png"))
            .await;
    }
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The backlog lesson: with accept() paused and listen(5), six clients
/// complete the handshake (Linux queues backlog + 1), and the seventh times
/// out (its SYNs are dropped, not refused); the page explains why.
#[tokio::test(flavor = "multi_thread")]
async fn the_seventh_client_times_out_when_the_backlog_is_full() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1280, 720).await;
    choose_task(&browser, "echo").await;
    click(&browser, "start-server").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=listen]",
        "listen(5)",
    )
    .await;
    click(&browser, "pause-accept").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=accept_paused]",
        "",
    )
    .await;
    for _ in 0..7 {
        click(&browser, "connect-client").await;
    }
    let explanation = browser.text_of(".error-explanation").await;
    assert!(
        explanation.contains("backlog"),
        "the 7th client should time out with a word on the backlog: {explanation:?}"
    );
    let connected = browser
        .client
        .execute(
            "return document.querySelectorAll(\
             '#event-log .event-row[data-lane=client][data-call=connected]').length;",
            vec![],
        )
        .await
        .expect("count connected rows");
    assert_eq!(connected, 6, "backlog 5 lets six handshakes complete");
    let accepted = browser
        .client
        .execute(
            "return document.querySelectorAll(\
             '#event-log .event-row[data-lane=server][data-call=accept]').length;",
            vec![],
        )
        .await
        .expect("count accept rows");
    assert_eq!(accepted, 0, "nobody is accepted while accept() is paused");
    browser.screenshot(&screenshot_path("backlog")).await;
    browser
        .assert_accessible("student page, the seventh client timed out")
        .await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The instructor's page for `token`, as the link the bridge prints.
async fn open_instructor(bridge: &RunningBridge, token: &str, width: u32, height: u32) -> Browser {
    let browser = Browser::start(width, height).await;
    browser
        .client
        .goto(&format!("{}?instructor={token}", bridge.http_url()))
        .await
        .expect("open the instructor's page");
    browser
}

/// Runs `script` (a function body) in the page and returns its value.
async fn eval(browser: &Browser, script: &str) -> serde_json::Value {
    browser
        .client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// The instructor's view: a student does Task 3 and the instructor sees
/// the session in the list, follows it (the echoed text in the log, the
/// arrows in the diagram), sees the next message arrive live, projects
/// it, comes back with Escape, and sees the student leave; at phone width
/// the page still fits.
#[tokio::test(flavor = "multi_thread")]
async fn instructor_follows_a_student_live() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let student = open_page(&bridge, 1280, 720).await;
    start_and_connect(&student, "echo").await;
    type_and_send(&student, "hello class").await;
    wait_for_row(
        &student,
        ".event-row[data-lane=client][data-call=recv]",
        "hello class",
    )
    .await;

    let instructor = open_instructor(&bridge, &bridge.instructor_token, 1280, 720).await;
    instructor
        .wait_until(
            "the instructor's badge to say open",
            "const s = document.getElementById('ws-status'); return s ? s.dataset.state : null;",
            |v| v == "open",
        )
        .await;
    let title = instructor.text_of(".topbar h1").await;
    assert_eq!(title, "Socket Lab · instructor view");
    // One open session: the student's address and its events so far.
    let row = instructor
        .wait_until(
            "the student's session in the list, with its events",
            "const r = document.querySelector('#session-list .session-row[data-open=true]');\
             return r ? { text: r.innerText, events: r.querySelector('.session-events').innerText } : null;",
            |v| {
                v["events"]
                    .as_str()
                    .and_then(|t| t.split(' ').next()?.parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            },
        )
        .await;
    let row_text = row["text"].as_str().unwrap_or_default();
    assert!(
        row_text.contains("127.0.0.1:"),
        "no address in {row_text:?}"
    );
    assert!(row_text.contains("open"), "row: {row_text:?}");
    instructor.wait_for_text("Pick a session to follow").await;
    instructor
        .screenshot(&screenshot_path("instructor-list"))
        .await;

    // Follow it: the session's history arrives, as the student saw it.
    instructor
        .client
        .find(Locator::Css("#session-list .session-row .follow-button"))
        .await
        .expect("a follow button")
        .click()
        .await
        .expect("follow");
    let echoed = wait_for_row(
        &instructor,
        ".event-row[data-lane=client][data-call=recv]",
        "hello class",
    )
    .await;
    assert!(echoed.contains("68 65 6c 6c 6f"), "no hex in {echoed:?}");
    assert!(
        arrows(&instructor, "send").await >= 2,
        "expected send() arrows both ways in the instructor's diagram"
    );
    let current = eval(
        &instructor,
        "return document.querySelector('#session-list .session-row[aria-current=true]') !== null;",
    )
    .await;
    assert_eq!(current, true, "the followed row is not marked");
    // Read-only: none of the student's controls.
    let controls = eval(
        &instructor,
        "return ['start-server', 'connect-client', 'message-input', 'send-button']\
         .filter(id => document.getElementById(id)).length;",
    )
    .await;
    assert_eq!(controls, 0, "the instructor's view has lab controls");

    // What the student sends next appears live.
    type_and_send(&student, "live from the lab").await;
    wait_for_row(
        &instructor,
        ".event-row[data-lane=server][data-call=recv]",
        "live from the lab",
    )
    .await;
    wait_for_row(
        &instructor,
        ".event-row[data-lane=client][data-call=recv]",
        "live from the lab",
    )
    .await;
    // The list catches up too (it is sent at most four times a second).
    instructor
        .wait_until(
            "the list to show the latest step",
            "const row = document.querySelector('.session-row'); \
             return row ? row.textContent : '';",
            |v| v.as_str().is_some_and(|t| t.contains("17 bytes")),
        )
        .await;
    instructor
        .screenshot(&screenshot_path("instructor-follow"))
        .await;
    // The README's picture of the instructor view (`make screenshot`).
    if let Some(dir) = std::env::var_os("SOCKET_LAB_SCREENSHOT_DIR") {
        instructor
            .screenshot(&PathBuf::from(dir).join("instructor.png"))
            .await;
    }

    // Project it: the list goes, projector mode comes on.
    click(&instructor, "project-button").await;
    instructor
        .wait_until(
            "the list to go and projector mode to come on",
            "return document.getElementById('session-list') === null \
             && document.documentElement.dataset.projector === 'on';",
            |v| v == true,
        )
        .await;
    wait_for_row(
        &instructor,
        ".event-row[data-lane=client][data-call=recv]",
        "live from the lab",
    )
    .await;
    instructor
        .screenshot(&screenshot_path("instructor-project"))
        .await;
    // Escape comes back to the list.
    instructor
        .client
        .active_element()
        .await
        .expect("the focused element")
        .send_keys(&Key::Escape.to_string())
        .await
        .expect("Escape");
    instructor
        .wait_until(
            "the list to come back",
            "return document.getElementById('session-list') !== null \
             && document.documentElement.dataset.projector === undefined;",
            |v| v == true,
        )
        .await;

    // The student closes the page: the session is listed as left, and
    // the followed session says so.
    student.close().await;
    instructor.wait_for_text("The student left").await;
    instructor
        .wait_until(
            "the session to be listed as left",
            "const r = document.querySelector('#session-list .session-row');\
             return r ? r.dataset.open : null;",
            |v| v == "false",
        )
        .await;
    instructor
        .screenshot(&screenshot_path("instructor-left"))
        .await;

    // The same in the dark theme (system, light, dark).
    click(&instructor, "theme-toggle").await;
    click(&instructor, "theme-toggle").await;
    instructor
        .wait_until(
            "the dark theme",
            "return document.documentElement.dataset.theme || null;",
            |v| v == "dark",
        )
        .await;
    instructor
        .screenshot(&screenshot_path("instructor-dark"))
        .await;

    // At phone width nothing overflows sideways.
    instructor
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    let overflow = instructor
        .wait_until(
            "the page to fit the phone's width",
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            |v| v.as_i64().is_some_and(|px| px <= 0),
        )
        .await;
    assert!(overflow.as_i64().unwrap_or(1) <= 0);
    instructor
        .screenshot(&screenshot_path("instructor-phone"))
        .await;
    instructor.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A wrong or old instructor link: the bridge refuses the socket (403,
/// which the browser does not show), and the page says what to do.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_instructor_link_is_explained() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let instructor = open_instructor(&bridge, "not-the-token", 1280, 720).await;
    instructor
        .wait_for_text("The instructor link is wrong or old")
        .await;
    let problem = instructor.text_of("#watch-problem").await;
    assert!(
        problem.contains("Open the link the bridge printed when it started"),
        "problem: {problem:?}"
    );
    let state = eval(
        &instructor,
        "return document.getElementById('ws-status').dataset.state;",
    )
    .await;
    assert_eq!(state, "closed");
    let list = eval(
        &instructor,
        "return document.getElementById('session-list') === null;",
    )
    .await;
    assert_eq!(list, true, "no list without the bridge's consent");
    instructor
        .screenshot(&screenshot_path("instructor-wrong-token"))
        .await;
    instructor
        .assert_accessible("instructor, a wrong link explained")
        .await;
    instructor.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// With every instructor view the bridge allows already open, another
/// instructor page says so (not "wrong link") and lets in once one closes.
#[tokio::test(flavor = "multi_thread")]
async fn a_busy_bridge_is_explained_to_the_instructor() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let mut others = Vec::new();
    for _ in 0..bridge::watch::MAX_WATCHERS {
        let (ws, _) = tokio_tungstenite::connect_async(bridge.watch_url())
            .await
            .expect("an instructor view opens");
        others.push(ws);
    }
    let instructor = open_instructor(&bridge, &bridge.instructor_token, 1280, 720).await;
    instructor
        .wait_for_text("Too many instructor views are open")
        .await;
    let problem = instructor.text_of("#watch-problem").await;
    assert!(
        problem.contains("8 instructor views are open already"),
        "problem: {problem:?}"
    );
    instructor
        .screenshot(&screenshot_path("instructor-busy"))
        .await;
    instructor
        .assert_accessible("instructor, too many views open")
        .await;
    // One closes: the page gets in on its next try.
    drop(others.pop());
    instructor
        .wait_until(
            "the page to get in",
            "return [document.getElementById('ws-status').dataset.state, \
             document.getElementById('watch-problem') === null];",
            |v| v[0] == "open" && v[1] == true,
        )
        .await;
    drop(others);
    instructor.close().await;
    bridge.stop().await.expect("bridge stops");
}
