//! What a student and an instructor meet in class, each moment where the
//! page used to mislead or lose work: the trace in the bridge's order, a
//! message at the limit, the highlighted code line, the projector and the
//! phone, times from the start, a stopped server, Task 2's greeting and
//! IPv6, and a page that cannot reach its bridge.

use super::{
    ONE_BROWSER, arrows, choose_task, click, eval, open_instructor, open_page, screenshot_path,
    start_and_connect, start_bridge, type_and_send, wait_for_row,
};
use bridge::app::{Bridge, RunningBridge};
use bridge::config::{BridgeConfig, SessionLimits};
use bridge::lab::LabArgs;
use e2e::browser::{Browser, PATIENCE};
use fantoccini::Locator;
use fantoccini::key::Key;
use futures_util::SinkExt;
use protocol::Mode;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A bridge serving the page with these session limits.
async fn bridge_with(limits: SessionLimits) -> RunningBridge {
    let config = BridgeConfig {
        static_dir: Some(super::dist()),
        limits,
        ..BridgeConfig::default()
    };
    let lab = LabArgs {
        lab: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        mode: Mode::Echo,
        ..LabArgs::default()
    };
    Bridge::start(config, &lab).await.expect("start the bridge")
}

/// Makes the page's viewport exactly `width` x `height` (a window's size
/// includes the browser's own bars): a projector shows the page full
/// screen.
async fn set_viewport(browser: &Browser, width: u32, height: u32) {
    let bars = eval(
        browser,
        "return [outerWidth - innerWidth, outerHeight - innerHeight];",
    )
    .await;
    let extra = |i: usize| bars[i].as_u64().unwrap_or(0) as u32;
    browser
        .client
        .set_window_size(width + extra(0), height + extra(1))
        .await
        .expect("resize");
    browser
        .wait_until(
            "the viewport's new size",
            "return [innerWidth, innerHeight];",
            |v| v[0].as_u64() == Some(u64::from(width)) && v[1].as_u64() == Some(u64::from(height)),
        )
        .await;
}

/// Everything in the sequence diagram that breaks its rules, in its own
/// units: a label over another label, a label crossed by a lifeline, an
/// arrow or a WebSocket hop, and an arrow that points up. Empty when the
/// drawing is right.
const DIAGRAM_PROBLEMS: &str = r#"
const svg = document.getElementById('sequence-diagram');
if (!svg) return ['no diagram'];
const boxes = [...svg.querySelectorAll('text.row-label, text.time')]
  .map(t => { const b = t.getBBox(); return { text: t.textContent, x0: b.x + 0.5, x1: b.x + b.width - 0.5, y0: b.y + 0.5, y1: b.y + b.height - 0.5 }; })
  .filter(b => b.x1 > b.x0);
const lines = [...svg.querySelectorAll('line.arrow, line.hop, g.lanes line.lifeline')]
  .map(l => ({ kind: l.getAttribute('class'), x1: +l.getAttribute('x1'), y1: +l.getAttribute('y1'), x2: +l.getAttribute('x2'), y2: +l.getAttribute('y2') }));
const problems = [];
for (const l of lines) {
  if (l.kind.startsWith('arrow') && l.y2 < l.y1) problems.push('an arrow points up: ' + JSON.stringify(l));
}
for (let i = 0; i < boxes.length; i++) {
  const a = boxes[i];
  for (let j = i + 1; j < boxes.length; j++) {
    const b = boxes[j];
    if (a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) problems.push('labels overlap: ' + a.text + ' / ' + b.text);
  }
  for (const l of lines) {
    for (let k = 0; k <= 200; k++) {
      const x = l.x1 + (l.x2 - l.x1) * k / 200, y = l.y1 + (l.y2 - l.y1) * k / 200;
      if (x > a.x0 && x < a.x1 && y > a.y0 && y < a.y1) { problems.push(l.kind + ' crosses ' + a.text); break; }
    }
  }
}
return problems.slice(0, 12);
"#;

/// Asserts the diagram on `browser`'s page breaks none of its rules.
async fn assert_diagram_clean(browser: &Browser, when: &str) {
    let problems = eval(browser, DIAGRAM_PROBLEMS).await;
    assert_eq!(problems, Value::Array(Vec::new()), "{when}: {problems}");
}

/// The log's times, top to bottom, in milliseconds.
async fn log_times(browser: &Browser) -> Vec<f64> {
    let times = eval(
        browser,
        "return [...document.querySelectorAll('#event-log .ev-time')].map(e => e.textContent);",
    )
    .await;
    times
        .as_array()
        .map(|times| {
            times
                .iter()
                .filter_map(|t| t.as_str()?.trim().trim_end_matches(" ms").parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Counts the log rows matching `selector`.
async fn count_rows(browser: &Browser, selector: &str) -> u64 {
    eval(
        browser,
        &format!("return document.querySelectorAll('#event-log {selector}').length;"),
    )
    .await
    .as_u64()
    .unwrap_or(0)
}

/// Twelve Task 1 clients in a row, as a new user would: every diagram
/// arrow points down, every log time is at or after the one above it,
/// each client's `recv() -> 0 bytes` has its arrow from the server's
/// `close()`, and times count from the trace's first event (0.000 ms), not
/// from when the bridge started.
#[tokio::test(flavor = "multi_thread")]
async fn twelve_task1_clients_read_top_to_bottom() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1366, 768).await;
    choose_task(&browser, "connect").await;
    click(&browser, "start-server").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=listen]",
        "listen(5)",
    )
    .await;
    for n in 1..=12u64 {
        click(&browser, "connect-client").await;
        browser
            .wait_until(
                &format!("client {n}'s recv() -> 0 bytes"),
                "return document.querySelectorAll('#event-log .event-row[data-lane=client][data-call=recv_eof]').length;",
                |v| v.as_u64().is_some_and(|c| c >= n),
            )
            .await;
    }
    browser
        .wait_until(
            "twelve closes on the server lane, each with its arrow",
            "return [document.querySelectorAll('#event-log .event-row[data-lane=server][data-call=close]').length, \
             document.querySelectorAll('#sequence-diagram .arrow[data-to-call=recv_eof]').length];",
            |v| v[0].as_u64() >= Some(12) && v[1].as_u64() >= Some(12),
        )
        .await;
    assert_diagram_clean(&browser, "twelve Task 1 clients").await;
    let times = log_times(&browser).await;
    assert!(times.len() >= 70, "the log shows {} times", times.len());
    for pair in times.windows(2) {
        assert!(
            pair[1] >= pair[0],
            "the log goes back in time: {} then {} in {times:?}",
            pair[0],
            pair[1]
        );
    }
    // Times count from the first event; the bridge's clock is kept too.
    let first = eval(
        &browser,
        "const t = document.querySelector('#event-log .ev-time'); return [t.textContent.trim(), t.title];",
    )
    .await;
    assert_eq!(first[0], "0.000 ms", "{first}");
    assert!(
        first[1]
            .as_str()
            .is_some_and(|t| t.starts_with("bridge clock: ") && !t.ends_with(" 0.000 ms")),
        "{first}"
    );
    assert!(arrows(&browser, "connect").await >= 12);
    browser.screenshot(&screenshot_path("task1-twelve")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Sets the message box's text as a paste would (typing 60 KB key by key
/// takes minutes), and tells the page.
async fn paste(browser: &Browser, text_js: &str) {
    eval(
        browser,
        &format!(
            "const box = document.getElementById('message-input'); box.value = {text_js}; \
             box.dispatchEvent(new InputEvent('input', {{ bubbles: true }})); return true;"
        ),
    )
    .await;
}

/// The limit is the bridge's, on the whole command: the page works out the
/// largest payload from the bridge's hello; that message is sent and
/// echoed, one byte more is refused in the page with the student's text
/// left in the box, and the session goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_at_the_limit_is_sent_and_one_more_is_kept() {
    let _one = ONE_BROWSER.lock().await;
    let limits = SessionLimits::default();
    let bridge = bridge_with(limits.clone()).await;
    let browser = open_page(&bridge, 1366, 768).await;
    start_and_connect(&browser, "echo").await;
    let count = browser
        .wait_until(
            "the box to say how much fits",
            "return document.getElementById('byte-count').textContent;",
            |v| v.as_str().is_some_and(|t| t.starts_with("0 of ")),
        )
        .await;
    let most: usize = count
        .as_str()
        .and_then(|t| {
            t.strip_prefix("0 of ")?
                .strip_suffix(" bytes")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no limit in {count}"));
    assert!(
        most < limits.max_message_bytes && most > limits.max_message_bytes - 100,
        "the page says {most} bytes fit under {}",
        limits.max_message_bytes
    );

    // The largest message that fits goes, and comes back.
    paste(&browser, &format!("'x'.repeat({most})")).await;
    click(&browser, "send-button").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=send]",
        &format!("{most} bytes"),
    )
    .await;
    browser
        .wait_until(
            "the box to be emptied once sent",
            "return document.getElementById('message-input').value.length;",
            |v| v == 0,
        )
        .await;
    browser
        .wait_until(
            "the whole echo to come back",
            "return [...document.querySelectorAll('#event-log .event-row[data-lane=client][data-call=recv] .ev-label')]\
             .map(e => parseInt(e.textContent.split('-> ')[1])).reduce((a, b) => a + b, 0);",
            |v| v.as_u64() == Some(most as u64),
        )
        .await;

    // One byte more: refused here, said why, the text kept.
    paste(&browser, &format!("'y'.repeat({})", most + 1)).await;
    let said = eval(
        &browser,
        "return document.getElementById('byte-count').textContent;",
    )
    .await;
    assert!(
        said.as_str().is_some_and(|t| t.contains("too long")),
        "{said}"
    );
    click(&browser, "send-button").await;
    browser.wait_for_text("Too long: not sent").await;
    let kept = eval(
        &browser,
        "return document.getElementById('message-input').value.length;",
    )
    .await;
    assert_eq!(kept.as_u64(), Some(most as u64 + 1), "the text is kept");
    // Enter does the same.
    browser
        .client
        .find(Locator::Id("message-input"))
        .await
        .expect("#message-input")
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter");
    let state = eval(
        &browser,
        "return [document.getElementById('ws-status').dataset.state, \
         document.getElementById('message-input').value.length, \
         document.getElementById('session-problem') === null];",
    )
    .await;
    assert_eq!(state[0], "open", "the session is still open: {state}");
    assert_eq!(state[1].as_u64(), Some(most as u64 + 1), "{state}");
    assert_eq!(state[2], true, "no session ended: {state}");
    assert_eq!(
        count_rows(&browser, ".event-row[data-lane=client][data-call=send]").await,
        1,
        "only the message that fits was sent"
    );
    browser.screenshot(&screenshot_path("too-long")).await;

    // After shutdown(SHUT_WR) the client can send no more: what the
    // student typed stays in the box, and the page says why.
    click(&browser, "shutdown-button").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=shutdown]",
        "",
    )
    .await;
    paste(&browser, "'one more line'").await;
    browser
        .client
        .find(Locator::Id("message-input"))
        .await
        .expect("#message-input")
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter");
    browser.wait_for_text("it can send no more").await;
    let kept = eval(
        &browser,
        "return document.getElementById('message-input').value;",
    )
    .await;
    assert_eq!(kept, "one more line");
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The bridge ends a session (here after its idle time): the page says so
/// under its title bar, with the bridge's reason, and keeps saying it
/// after it has reconnected, until dismissed.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_session_says_why() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = bridge_with(SessionLimits {
        idle_timeout: Duration::from_secs(2),
        ..SessionLimits::default()
    })
    .await;
    let browser = open_page(&bridge, 1366, 768).await;
    let problem = browser.text_of("#session-problem").await;
    assert!(
        problem.contains("without a message") && problem.contains("1001"),
        "{problem}"
    );
    assert!(problem.contains("start your server again"), "{problem}");
    // Also by the message box, where a student who just sent looks.
    let notice = browser.text_of(".notices .notice").await;
    assert!(notice.contains("without a message"), "{notice}");
    browser.screenshot(&screenshot_path("session-closed")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Stepping through Task 3's trace, the highlighted line of the lab's code
/// is always fully in sight: below the code panel's sticky title and above
/// its bottom edge.
#[tokio::test(flavor = "multi_thread")]
async fn the_highlighted_code_line_is_always_in_sight() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1366, 768).await;
    start_and_connect(&browser, "echo").await;
    type_and_send(&browser, "hello").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "hello",
    )
    .await;
    click(&browser, "shutdown-button").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv_eof]",
        "",
    )
    .await;
    let total = count_rows(&browser, ".event-row").await;
    eval(
        &browser,
        "document.querySelector('.diagram-scroll').focus(); return true;",
    )
    .await;
    // Where the highlighted line is, against the panel and its title.
    let sight = "const line = document.querySelector('#lab-code .highlight'); \
        const sel = document.querySelector('.event-row[aria-current=true]'); \
        if (!line) return [sel && sel.dataset.seq, null]; \
        const panel = document.getElementById('lab-code').getBoundingClientRect(); \
        const title = document.getElementById('code-title').getBoundingClientRect(); \
        const r = line.getBoundingClientRect(); \
        return [sel && sel.dataset.seq, r.top >= title.bottom - 0.5 && r.bottom <= panel.bottom + 0.5, \
                line.textContent, r.top, title.bottom, panel.bottom, \
                document.getElementById('lab-code').scrollTop, document.getElementById('lab-code').scrollHeight, \
                document.getElementById('lab-code').clientHeight, innerHeight, \
                document.getElementById('lab-code').parentElement.scrollTop, document.documentElement.scrollTop];";
    let mut seen = 0;
    let mut last = Value::Null;
    for step in 0..total {
        let key = if step == 0 { Key::Home } else { Key::Down };
        browser
            .client
            .active_element()
            .await
            .expect("focus")
            .send_keys(&key.to_string())
            .await
            .expect("a key");
        // The page scrolls the code panel once it has drawn the new
        // selection: wait (bounded) for the line to be in sight.
        let now = browser
            .wait_until(
                "the selection to move and its code line to be in sight",
                sight,
                |v| v[0].is_string() && v[0] != last && (v[1].is_null() || v[1] == true),
            )
            .await;
        last = now[0].clone();
        if !now[1].is_null() {
            seen += 1;
        }
    }
    assert!(seen >= 8, "only {seen} events had a line");
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Projector mode at 1280x720: the diagram gets most of the screen and
/// shows many rows; starting, connecting and sending stay on screen with
/// no scrolling; labels clear every line and each other. The same for the
/// instructor's "Project this session".
#[tokio::test(flavor = "multi_thread")]
async fn projector_mode_fits_a_live_demo() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1280, 720).await;
    set_viewport(&browser, 1280, 720).await;
    click(&browser, "projector-toggle").await;
    start_and_connect(&browser, "echo").await;
    for line in ["hello", "projector", "third line"] {
        type_and_send(&browser, line).await;
        wait_for_row(
            &browser,
            ".event-row[data-lane=client][data-call=recv]",
            line,
        )
        .await;
    }
    browser.screenshot(&screenshot_path("projector")).await;
    let fit = eval(
        &browser,
        "const inside = id => { const r = document.getElementById(id).getBoundingClientRect(); \
           return r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth; }; \
         const d = document.querySelector('.diagram-scroll').getBoundingClientRect(); \
         const svg = document.getElementById('sequence-diagram'); \
         const rowPx = 30 * svg.getBoundingClientRect().width / 720; \
         return { controls: ['start-server', 'connect-client', 'message-input', 'send-button'].filter(id => !inside(id)), \
                  scrolls: document.documentElement.scrollHeight > innerHeight, \
                  area: d.width * d.height / (innerWidth * innerHeight), \
                  others: Math.max(...['.log-panel', '.controls', '#lab-code'].map(s => { const r = document.querySelector(s).getBoundingClientRect(); \
                    return r.width * Math.min(r.height, innerHeight) / (innerWidth * innerHeight); })), \
                  rows: (d.height - 64 * rowPx / 30) / rowPx, \
                  text: 12 * svg.getScreenCTM().a,                   below: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().bottom > innerHeight + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().bottom)),                   sizes: ['.app', '.topbar', '.layout', '.column.left', '.column.trace', '.column.right', '.views', '.diagram-panel', '.log-panel', '.playback, .toolbar']                    .map(s => { const e = document.querySelector(s); if (!e) return s; const r = e.getBoundingClientRect(); return s + ' ' + Math.round(r.top) + '+' + Math.round(r.height) + ' x' + Math.round(r.left) + '+' + Math.round(r.width); }) };",
    )
    .await;
    assert_eq!(
        fit["controls"],
        Value::Array(Vec::new()),
        "off screen: {fit}"
    );
    assert_eq!(fit["scrolls"], false, "the page scrolls: {fit}");
    // The largest part of the screen by far (the log, the code and the
    // controls share the rest), with room for many rows.
    assert!(
        fit["area"].as_f64() > Some(0.27),
        "the diagram is small: {fit}"
    );
    assert!(
        fit["area"].as_f64() > fit["others"].as_f64().map(|a| a * 1.5),
        "the diagram is not the largest part: {fit}"
    );
    assert!(fit["rows"].as_f64() > Some(10.0), "too few rows: {fit}");
    assert!(fit["text"].as_f64() >= Some(11.0), "small text: {fit}");
    assert_diagram_clean(&browser, "projector").await;
    if let Some(dir) = std::env::var_os("SOCKET_LAB_SCREENSHOT_DIR") {
        browser
            .screenshot(&PathBuf::from(dir).join("screenshot-projector.png"))
            .await;
    }

    // The instructor projects this session.
    let instructor = open_instructor(&bridge, &bridge.instructor_token, 1280, 720).await;
    set_viewport(&instructor, 1280, 720).await;
    instructor
        .client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#session-list .session-row .follow-button"))
        .await
        .expect("a follow button")
        .click()
        .await
        .expect("follow");
    wait_for_row(
        &instructor,
        ".event-row[data-lane=client][data-call=recv]",
        "third line",
    )
    .await;
    click(&instructor, "project-button").await;
    instructor
        .wait_until(
            "projector mode",
            "return document.documentElement.dataset.projector === 'on';",
            |v| v == true,
        )
        .await;
    assert_diagram_clean(&instructor, "the instructor's projection").await;
    instructor
        .screenshot(&screenshot_path("instructor-project-labels"))
        .await;
    instructor.close().await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// On a phone (390 px) every text of the diagram is at least 12 px tall
/// on screen: the diagram scrolls sideways by itself, the page does not.
#[tokio::test(flavor = "multi_thread")]
async fn the_phone_diagram_is_readable() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = Browser::start_phone(390, 844).await;
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
    let width = eval(&browser, "return innerWidth;").await;
    assert_eq!(width, 390, "a phone's width");
    start_and_connect(&browser, "echo").await;
    type_and_send(&browser, "hello").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "hello",
    )
    .await;
    let sizes = eval(
        &browser,
        "return [...document.querySelectorAll('#sequence-diagram text, .lane-heads text')]\
         .map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a);",
    )
    .await;
    let sizes: Vec<f64> = sizes
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    assert!(sizes.len() > 10, "{sizes:?}");
    let smallest = sizes.iter().copied().fold(f64::MAX, f64::min);
    assert!(smallest >= 12.0 - 1e-6, "diagram text of {smallest} px");
    let overflow = eval(
        &browser,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
    )
    .await;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the page scrolls sideways"
    );
    assert_diagram_clean(&browser, "phone").await;
    eval(
        &browser,
        "document.querySelector('.diagram-scroll').scrollIntoView(); return true;",
    )
    .await;
    browser.screenshot(&screenshot_path("phone-diagram")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// After "Stop server", "Connect a client" goes to the port where the
/// server listened, and the operating system refuses it: the client lane
/// shows the real `ConnectionRefused` and its explanation, not a refusal
/// by the bridge.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_server_refuses_the_next_client() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1366, 768).await;
    start_and_connect(&browser, "echo").await;
    let status = browser.text_of(".server-status").await;
    let addr = status
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no address in {status:?}"))
        .to_string();
    click(&browser, "stop-server").await;
    browser
        .wait_until(
            "the server to be stopped",
            "return document.querySelector('.server-status').textContent;",
            |v| v.as_str().is_some_and(|t| t.contains("stopped")),
        )
        .await;
    click(&browser, "connect-client").await;
    let row = wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=error]",
        "Connection refused",
    )
    .await;
    assert!(
        row.contains("Nothing is listening on that port"),
        "no explanation in {row:?}"
    );
    let connect = wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=connect]",
        &addr,
    )
    .await;
    assert!(connect.contains(&addr), "{connect}");
    let refused = eval(
        &browser,
        "return [...document.querySelectorAll('.notice')].map(n => n.textContent).join(' | ');",
    )
    .await;
    assert!(
        !refused.as_str().unwrap_or_default().contains("Refused"),
        "the bridge refused: {refused}"
    );
    browser.screenshot(&screenshot_path("stopped-server")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Task 2's greeting is typed in the page, and "Start my server" can use
/// AF_INET6: the server listens on ::1 and the client receives the
/// student's own greeting over IPv6.
#[tokio::test(flavor = "multi_thread")]
async fn task2_greeting_and_ipv6_from_the_page() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1366, 768).await;
    choose_task(&browser, "greet").await;
    let greeting = browser
        .client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Id("greeting-input"))
        .await
        .expect("a greeting box for Task 2");
    greeting.clear().await.expect("clear");
    greeting
        .send_keys("Hello over IPv6")
        .await
        .expect("type the greeting");
    browser
        .client
        .find(Locator::Id("family-select"))
        .await
        .expect("#family-select")
        .select_by_value("ipv6")
        .await
        .expect("choose AF_INET6");
    click(&browser, "start-server").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=socket]",
        "AF_INET6",
    )
    .await;
    browser
        .wait_until(
            "the server to listen on ::1",
            "return document.querySelector('.server-status').textContent;",
            |v| v.as_str().is_some_and(|t| t.contains("[::1]:")),
        )
        .await;
    click(&browser, "connect-client").await;
    let row = wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "Hello over IPv6\\n",
    )
    .await;
    assert!(row.contains("48 65 6c 6c 6f"), "{row}");
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=connected]",
        "[::1]:",
    )
    .await;
    browser.screenshot(&screenshot_path("task2-ipv6")).await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A stand-in for a page server that is not the bridge (as `trunk serve`
/// without the bridge's consent): it serves the built page, and answers
/// `/ws` either with a 404 (the socket never opens) or by accepting it
/// and closing at once with `close` (code and reason), as a bridge that
/// refuses an Origin does.
async fn page_server(close: Option<(u16, &'static str)>) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_one(stream, close));
        }
    });
    addr
}

async fn serve_one(mut stream: TcpStream, close: Option<(u16, &'static str)>) {
    let mut head = [0u8; 1024];
    let Ok(n) = stream.peek(&mut head).await else {
        return;
    };
    let request = String::from_utf8_lossy(&head[..n]).into_owned();
    let path = request
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    if let ("/ws", Some((code, reason))) = (path.as_str(), close) {
        if let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await {
            let _ = ws
                .send(Message::Close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                })))
                .await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                use futures_util::StreamExt;
                while ws.next().await.is_some() {}
            })
            .await;
        }
        return;
    }
    let mut skip = vec![0u8; n];
    let _ = stream.read_exact(&mut skip).await;
    let file = if path == "/" {
        "index.html".to_string()
    } else {
        path.trim_start_matches('/').replace("..", "")
    };
    let (status, body) = match std::fs::read(super::dist().join(&file)) {
        Ok(body) => ("200 OK", body),
        Err(_) => ("404 Not Found", Vec::new()),
    };
    let kind = match file.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
}

/// A page that cannot get a session says why: a socket that never opens
/// (after a few tries) names the likely causes and the fix with the page's
/// own origin; a socket the bridge closes with a code and a reason (a
/// refused Origin: 1008) shows that reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_cannot_connect_says_why() {
    let _one = ONE_BROWSER.lock().await;
    let never = page_server(None).await;
    let browser = Browser::start(1366, 768).await;
    browser
        .client
        .goto(&format!("http://{never}/"))
        .await
        .expect("open the page");
    let problem = browser.text_of("#session-problem").await;
    assert!(problem.contains("Cannot reach the bridge"), "{problem}");
    assert!(
        problem.contains(&format!("--allow-origin http://{never}")),
        "{problem}"
    );
    assert!(problem.contains("make run"), "{problem}");
    browser.screenshot(&screenshot_path("cannot-connect")).await;

    let refusing = page_server(Some((
        1008,
        "origin http://elsewhere is not allowed: start the bridge with --allow-origin",
    )))
    .await;
    browser
        .client
        .goto(&format!("http://{refusing}/"))
        .await
        .expect("open the page");
    let problem = browser
        .wait_until(
            "the bridge's reason on the page",
            "const p = document.getElementById('session-problem'); return p ? p.textContent : null;",
            |v| v.as_str().is_some_and(|t| t.contains("1008")),
        )
        .await;
    let problem = problem.as_str().unwrap_or_default();
    assert!(
        problem.contains("origin http://elsewhere is not allowed"),
        "{problem}"
    );
    browser.close().await;
}
