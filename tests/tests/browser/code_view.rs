//! The code view, as a student uses it: the handout's programs typed into
//! the page's editors, Run and Stop pressed, the output and the trace read
//! off the page. Real bridge, real sockets, real headless Chromium; the
//! programs run in the page's own Python (Pyodide in Web Workers).

use super::{ONE_BROWSER, click, screenshot_path, start_bridge, workspace};
use bridge::app::RunningBridge;
use e2e::browser::Browser;
use fantoccini::Locator;
use fantoccini::key::Key;
use protocol::Mode;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Starting Python can take a while on a busy two-core machine.
const PYTHON_PATIENCE: Duration = Duration::from_secs(90);

/// The handout's Task 1 `server.py`, exactly as written.
const TASK1_SERVER: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
Host = socket.gethostname()
Port = 1234
s.bind((Host, Port))
s.listen(5)

while True:
    # now our endpoint knows about the OTHER endpoint.
    clientsocket, address = s.accept()
    print(f"Connection from {address} has been established.")
"#;

/// The handout's Task 1 `client.py`, exactly as written.
const TASK1_CLIENT: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
"#;

/// Task 2 as a student writes it: the server sends a message, the client
/// prints it.
const TASK2_SERVER: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)

while True:
    clientsocket, address = s.accept()
    print(f"Connection from {address} has been established.")
    clientsocket.send(bytes("Welcome to the server!", "utf-8"))
    clientsocket.close()
"#;

const TASK2_CLIENT: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
msg = s.recv(1024)
print(msg.decode("utf-8"))
"#;

/// Task 3 as a student writes it: an echo server, and a client that sends
/// what the student types.
const TASK3_SERVER: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)

while True:
    clientsocket, address = s.accept()
    print(f"Connection from {address} has been established.")
    while True:
        data = clientsocket.recv(1024)
        if not data:
            break
        clientsocket.send(data)
    clientsocket.close()
"#;

const TASK3_CLIENT: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
msg = input("Message: ")
s.send(msg.encode("utf-8"))
print("Echo:", s.recv(1024).decode("utf-8"))
s.close()
"#;

/// Opens the page with the code view (`?code`), and waits for the bridge
/// and the editors.
pub(super) async fn open_code_view(bridge: &RunningBridge, width: u32, height: u32) -> Browser {
    let browser = Browser::start(width, height).await;
    browser
        .client
        .goto(&format!("{}?code", bridge.http_url()))
        .await
        .expect("open the page");
    wait_long(
        &browser,
        "the bridge and both editors",
        "return document.getElementById('ws-status')?.dataset.state === 'open' \
         && document.querySelectorAll('.editor[data-ready=true] .cm-content').length === 2;",
        |v| v == true,
    )
    .await;
    browser
}

/// Waits (bounded, with Python's patience) until `script` gives a value
/// `ok` accepts.
pub(super) async fn wait_long(
    browser: &Browser,
    what: &str,
    script: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + PYTHON_PATIENCE;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        last = browser
            .client
            .execute(script, vec![])
            .await
            .unwrap_or(Value::Null);
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = page_text(browser).await;
    panic!("waited {PYTHON_PATIENCE:?} for {what}; last value: {last}\n--- the page said:\n{page}");
}

async fn page_text(browser: &Browser) -> String {
    browser
        .client
        .execute(
            "return document.getElementById('code-view')?.innerText ?? document.body.innerText;",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Types `program` into `side`'s editor (`server` or `client`) as a
/// student would, key by key, after clearing it. The editor indents after
/// a colon by itself, so each line first selects that indentation
/// (Shift+Home) and types over it with the line's own.
pub(super) async fn type_program(browser: &Browser, side: &str, program: &str) {
    let content = browser
        .client
        .find(Locator::Css(&format!("#editor-{side} .cm-content")))
        .await
        .expect("the editor");
    content.click().await.expect("focus the editor");
    let select_all = format!("{}a{}", Key::Control, Key::Null);
    content.send_keys(&select_all).await.expect("Ctrl+A");
    content
        .send_keys(&Key::Delete.to_string())
        .await
        .expect("Delete");
    let over_indent = format!("{}{}{}", Key::Shift, Key::Home, Key::Null);
    for (i, line) in program.lines().enumerate() {
        if i > 0 {
            content
                .send_keys(&format!("{}{over_indent}", Key::Enter))
                .await
                .expect("Enter");
        }
        if !line.is_empty() {
            content.send_keys(line).await.expect("type a line");
        }
    }
    // The handout's files end with a newline.
    content
        .send_keys(&format!("{}{over_indent}{}", Key::Enter, Key::Delete))
        .await
        .expect("the last newline");
    // What the editor holds is what the page saved for a reload.
    let key = format!("socket-lab.code.{side}.py");
    let saved = wait_long(
        browser,
        &format!("{side}.py saved as typed"),
        &format!("return localStorage.getItem({key:?});"),
        |v| v.as_str() == Some(program),
    )
    .await;
    assert_eq!(saved.as_str(), Some(program));
}

/// The text of `#id`.
async fn text(browser: &Browser, id: &str) -> String {
    browser
        .client
        .execute(
            &format!("return document.getElementById({id:?})?.innerText ?? '';"),
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Waits until `#id`'s text contains `needle`; returns the text.
async fn wait_text(browser: &Browser, id: &str, needle: &str) -> String {
    let value = wait_long(
        browser,
        &format!("#{id} to say {needle:?}"),
        &format!("const t = document.getElementById({id:?})?.innerText ?? ''; return t.includes({needle:?}) ? t : null;"),
        |v| v.is_string(),
    )
    .await;
    value.as_str().unwrap_or_default().to_string()
}

/// Waits until `side`'s program is in `state` (`data-state`).
async fn wait_state(browser: &Browser, side: &str, state: &str) {
    wait_long(
        browser,
        &format!("{side}.py to be {state}"),
        &format!("return document.getElementById('state-{side}')?.dataset.state;"),
        |v| v == state,
    )
    .await;
}

/// Waits until the event log has a row `selector` whose text has `needle`.
async fn wait_row(browser: &Browser, selector: &str, needle: &str) -> String {
    let script = format!(
        "return Array.from(document.querySelectorAll({sel:?})).map(e => e.innerText)\
         .find(t => t.includes({needle:?})) || null;",
        sel = format!("#event-log {selector}"),
    );
    wait_long(
        browser,
        &format!("a log row {selector} with {needle:?}"),
        &script,
        |v| v.is_string(),
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// The port in `('127.0.0.1', P)`.
fn printed_port(line: &str) -> Option<u16> {
    let start = line.find("('127.0.0.1', ")? + "('127.0.0.1', ".len();
    let end = start + line[start..].find(')')?;
    line[start..end].parse().ok()
}

/// The handout's exact Task 1, typed into the editors and run: the
/// server's output says `Connection from ('127.0.0.1', P) has been
/// established.` with the client's real port P, both lanes are traced and
/// named after the files, the page shows the real port behind 1234, and
/// selecting `accept()` highlights the student's `s.accept()` line.
#[tokio::test(flavor = "multi_thread")]
async fn handout_task1_typed_and_run_in_the_page() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_code_view(&bridge, 1366, 768).await;
    type_program(&browser, "server", TASK1_SERVER).await;
    type_program(&browser, "client", TASK1_CLIENT).await;

    click(&browser, "run-server").await;
    wait_text(&browser, "state-server", "waiting in accept() on line 11").await;
    let port_note = wait_text(&browser, "real-port-server", "Your port 1234 is really").await;
    click(&browser, "run-client").await;
    let output = wait_text(&browser, "output-server", "has been established.").await;
    let line = output
        .lines()
        .find(|l| l.starts_with("Connection from ('127.0.0.1', "))
        .unwrap_or_else(|| panic!("no Connection line in {output:?}"));
    let port = printed_port(line).unwrap_or_else(|| panic!("no port in {line:?}"));
    assert!(line.ends_with(") has been established."), "{line:?}");
    wait_state(&browser, "client", "exited").await;

    // P is the client's real port: the trace's connect() says so.
    let connected = wait_row(
        &browser,
        ".event-row[data-lane=client][data-call=connected]",
        &format!("127.0.0.1:{port}"),
    )
    .await;
    assert!(connected.contains(&port.to_string()));
    // The real port of 1234 is the bind()'s real address.
    let bind = wait_row(
        &browser,
        ".event-row[data-lane=server][data-call=bind]",
        "really",
    )
    .await;
    let real = port_note
        .split("really ")
        .nth(1)
        .and_then(|rest| rest.split(':').nth(1))
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .unwrap_or_default();
    assert!(
        !real.is_empty() && bind.contains(&real),
        "{port_note:?} / {bind:?}"
    );
    let heads = browser.text_of(".lane-heads").await;
    assert!(
        heads.contains("server.py") && heads.contains("client.py"),
        "{heads:?}"
    );

    // Selecting accept() highlights the student's own s.accept() line, in
    // the editor and in the code panel.
    browser
        .client
        .find(Locator::Css(
            "#event-log .event-row[data-lane=server][data-call=accept]",
        ))
        .await
        .expect("an accept() row")
        .click()
        .await
        .expect("select accept()");
    let traced = wait_long(
        &browser,
        "the editor to highlight the accept() line",
        "return document.querySelector('#editor-server .cm-traced-line')?.innerText ?? null;",
        |v| v.is_string(),
    )
    .await;
    assert!(
        traced
            .as_str()
            .unwrap_or_default()
            .contains("clientsocket, address = s.accept()"),
        "{traced}"
    );
    let panel = browser.text_of("#lab-code .highlight").await;
    assert!(panel.contains("s.accept()"), "{panel:?}");
    let detail = browser.text_of(".detail-source").await;
    assert!(
        detail.contains("server.py") && detail.contains("line 11"),
        "{detail:?}"
    );
    // The code view, with both programs run and an event selected, as a
    // screen reader and a keyboard meet it.
    browser
        .assert_accessible("the code view, Task 1 run, accept() selected")
        .await;

    for (w, h, name) in [
        (1366, 768, "code-view-1366x768"),
        (1280, 720, "code-view-1280x720"),
        (390, 844, "code-view-390x844"),
    ] {
        browser
            .client
            .set_window_size(w, h)
            .await
            .expect("resize the window");
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.screenshot(&screenshot_path(name)).await;
    }

    // Stop the server (it loops in accept() for ever).
    browser
        .client
        .set_window_size(1366, 768)
        .await
        .expect("resize");
    click(&browser, "stop-server").await;
    wait_state(&browser, "server", "stopped").await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A student's Task 2 and Task 3, written in the page: the client prints
/// the server's message; then the echo comes back for what the student
/// types into `input()`. A reload keeps the programs and says so.
#[tokio::test(flavor = "multi_thread")]
async fn students_task2_and_task3_in_the_page() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_code_view(&bridge, 1366, 768).await;

    type_program(&browser, "server", TASK2_SERVER).await;
    type_program(&browser, "client", TASK2_CLIENT).await;
    click(&browser, "run-server").await;
    wait_text(&browser, "state-server", "accept()").await;
    click(&browser, "run-client").await;
    wait_text(&browser, "output-client", "Welcome to the server!").await;
    wait_state(&browser, "client", "exited").await;
    wait_row(
        &browser,
        ".event-row[data-lane=server][data-call=send]",
        "22 bytes",
    )
    .await;
    wait_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "22 bytes",
    )
    .await;

    type_program(&browser, "server", TASK3_SERVER).await;
    type_program(&browser, "client", TASK3_CLIENT).await;
    // Run again: the old server stops, its port 1234 is free for the new one.
    click(&browser, "run-server").await;
    wait_text(&browser, "state-server", "accept()").await;
    click(&browser, "run-client").await;
    let input = browser
        .client
        .wait()
        .at_most(PYTHON_PATIENCE)
        .for_element(Locator::Id("output-client-input"))
        .await
        .expect("input() asks for a line");
    input.send_keys("hello, echo").await.expect("type");
    input
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter");
    let out = wait_text(&browser, "output-client", "Echo: hello, echo").await;
    assert!(out.contains("Message: hello, echo"), "{out:?}");
    wait_state(&browser, "client", "exited").await;
    wait_row(
        &browser,
        ".event-row[data-lane=server][data-call=recv]",
        "hello, echo",
    )
    .await;

    // A reload restores both programs, and says so.
    browser.client.refresh().await.expect("reload");
    wait_long(
        &browser,
        "the editors after a reload",
        "return document.querySelectorAll('.editor[data-ready=true] .cm-content').length === 2;",
        |v| v == true,
    )
    .await;
    let restored = browser.text_of("#code-restored").await;
    assert!(restored.contains("restored"), "{restored:?}");
    let editor = browser.text_of("#editor-server .cm-content").await;
    assert!(editor.contains("clientsocket.send(data)"), "{editor:?}");
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A blocking `sendall()` goes on without waiting for the bridge's answer
/// (it is posted, as a kernel's send returns once the bytes are in its
/// buffer), yet nothing changes for the student: every byte reaches the
/// peer, and the trace keeps the program's order (its sends, then its
/// print, then its `close()`).
#[tokio::test(flavor = "multi_thread")]
async fn sends_that_do_not_wait_keep_their_order_and_their_bytes() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_code_view(&bridge, 1366, 768).await;
    let server = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)
conn, address = s.accept()
total = 0
while True:
    data = conn.recv(4096)
    if not data:
        break
    total += len(data)
print(f"got {total} bytes")
"#;
    let client = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
for i in range(40):
    s.sendall(b"x" * 1000)
print("sent 40000 bytes")
s.close()
"#;
    type_program(&browser, "server", server).await;
    type_program(&browser, "client", client).await;
    click(&browser, "run-server").await;
    wait_text(&browser, "state-server", "accept()").await;
    click(&browser, "run-client").await;
    wait_text(&browser, "output-client", "sent 40000 bytes").await;
    wait_state(&browser, "client", "exited").await;
    wait_text(&browser, "output-server", "got 40000 bytes").await;
    // In the log, the client's print comes after each of its sends, and
    // before its close() (once the log has drawn the close: while events
    // flood in it is drawn every half second).
    let calls = browser
        .wait_until(
            "the client's close() in the log",
            "const calls = Array.from(document.querySelectorAll('#event-log .event-row[data-lane=client]'))\
             .map(row => row.dataset.call); return calls.includes('close') ? calls : null;",
            |v| v.is_array(),
        )
        .await;
    let calls: Vec<String> = serde_json::from_value(calls).expect("a list of calls");
    let print = calls.iter().position(|c| c == "print");
    let last_send = calls.iter().rposition(|c| c == "send");
    let close = calls.iter().position(|c| c == "close");
    assert!(
        print.is_some() && last_send.is_some() && last_send < print && print < close,
        "the client's rows: {calls:?}"
    );
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Two students (two sessions) both bind port 1234 at once: each server
/// gets its own real port, and each student's client reaches its own.
#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_both_bind_port_1234() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let first = open_code_view(&bridge, 1280, 720).await;
    let second = open_code_view(&bridge, 1280, 720).await;
    let mut reals = Vec::new();
    for browser in [&first, &second] {
        type_program(browser, "server", TASK2_SERVER).await;
        type_program(browser, "client", TASK2_CLIENT).await;
        click(browser, "run-server").await;
        let note = wait_text(browser, "real-port-server", "Your port 1234 is really").await;
        reals.push(note);
    }
    assert_ne!(
        reals[0], reals[1],
        "each student has a real port of their own"
    );
    for browser in [&first, &second] {
        click(browser, "run-client").await;
        wait_text(browser, "output-client", "Welcome to the server!").await;
        let server = wait_text(browser, "output-server", "has been established.").await;
        assert_eq!(
            server.matches("has been established.").count(),
            1,
            "{server:?}"
        );
    }
    first.close().await;
    second.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The shown panes, the server's editor's width in pixels, and both tabs'
/// text.
const PROJECTOR_LAYOUT: &str = "const shown = id => { const e = document.getElementById(id); \
     return !!e && getComputedStyle(e).display !== 'none'; }; \
     return { server: shown('pane-server'), client: shown('pane-client'), \
     width: document.getElementById('editor-server').getBoundingClientRect().width, \
     tabs: [...document.querySelectorAll('.code-tabs button')].map(b => b.innerText) };";

/// On a projector (1280x720, projector mode) the code view shows one file
/// at a time, picked by the tabs beside its title, nearly as wide as the
/// code view (side by side, each was 320 px and most lines wrapped); the
/// tab of the file not shown says how its run is going, and the lab works
/// through the tabs: run the server, switch, run the client.
#[tokio::test(flavor = "multi_thread")]
async fn projector_mode_shows_one_file_at_a_time() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_code_view(&bridge, 1280, 720).await;
    type_program(&browser, "server", TASK1_SERVER).await;
    type_program(&browser, "client", TASK1_CLIENT).await;
    let side_by_side = browser
        .client
        .execute(PROJECTOR_LAYOUT, vec![])
        .await
        .expect("the layout");
    assert_eq!(side_by_side["client"], true, "{side_by_side}");
    click(&browser, "projector-toggle").await;
    let layout = wait_long(&browser, "one file at a time", PROJECTOR_LAYOUT, |v| {
        v["server"] == true && v["client"] == false
    })
    .await;
    let width = layout["width"].as_f64().unwrap_or_default();
    assert!(width > 560.0, "the editor is {width} px wide: {layout}");
    browser
        .screenshot(&screenshot_path("projector-code-view"))
        .await;

    click(&browser, "run-server").await;
    wait_text(&browser, "state-server", "waiting in accept()").await;
    click(&browser, "tab-client.py").await;
    let layout = wait_long(&browser, "the client's file", PROJECTOR_LAYOUT, |v| {
        v["server"] == false && v["client"] == true
    })
    .await;
    assert_eq!(
        layout["tabs"][0], "server.py Running",
        "the hidden server's tab: {layout}"
    );
    click(&browser, "run-client").await;
    let printed = wait_text(&browser, "output-server", "has been established.").await;
    assert!(
        printed.contains("Connection from ('127.0.0.1', "),
        "{printed:?}"
    );
    wait_state(&browser, "client", "exited").await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Stop during `accept()`: the server is blocked in it, Stop ends it
/// within half a second of the click, and the trace shows its listening
/// socket closed.
#[tokio::test(flavor = "multi_thread")]
async fn stop_during_accept() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_code_view(&bridge, 1280, 720).await;
    type_program(&browser, "server", TASK1_SERVER).await;
    click(&browser, "run-server").await;
    wait_text(&browser, "state-server", "waiting in accept()").await;
    let hint = text(&browser, "hints-server").await;
    assert!(
        hint.contains("accept() waits until a client connects"),
        "{hint:?}"
    );
    let started = Instant::now();
    click(&browser, "stop-server").await;
    wait_state(&browser, "server", "stopped").await;
    let took = started.elapsed();
    // The click and the polling add their own time to the runner's 0.5 s.
    assert!(took < Duration::from_millis(1500), "Stop took {took:?}");
    wait_row(
        &browser,
        ".event-row[data-lane=server][data-call=close]",
        "close()",
    )
    .await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A refused connect: the handout's client with no server running fails
/// with Python's own traceback, at its line 4, and the page explains it in
/// one sentence beside that line.
#[tokio::test(flavor = "multi_thread")]
async fn refused_connect_shows_the_traceback_line() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_code_view(&bridge, 1280, 720).await;
    // Port 1235: nothing of this session listens there, and it is not the
    // lab's public port.
    let client = TASK1_CLIENT.replace("1234", "1235");
    type_program(&browser, "client", &client).await;
    click(&browser, "run-client").await;
    wait_state(&browser, "client", "failed").await;
    let output = text(&browser, "output-client").await;
    assert!(
        output.contains("Traceback (most recent call last):"),
        "{output:?}"
    );
    assert!(output.contains("File \"client.py\", line 4"), "{output:?}");
    assert!(output.contains("ConnectionRefusedError"), "{output:?}");
    let error = text(&browser, "error-client").await;
    assert!(error.contains("ConnectionRefusedError"), "{error:?}");
    assert!(error.contains("(line 4)"), "{error:?}");
    assert!(
        error.contains("Nothing is listening on that port"),
        "{error:?}"
    );
    let note = browser.text_of("#editor-client .cm-error-note").await;
    assert!(note.contains("Nothing is listening"), "{note:?}");
    browser
        .screenshot(&screenshot_path("code-view-refused"))
        .await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The lab's own `task3_client.py`, run with `python3` in a terminal,
/// reaches a student's in-page echo server through the real port the
/// page shows: the echo comes back, and the server's output names it.
#[tokio::test(flavor = "multi_thread")]
async fn python3_task3_client_reaches_the_in_page_echo_server() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_code_view(&bridge, 1280, 720).await;
    type_program(&browser, "server", TASK3_SERVER).await;
    click(&browser, "run-server").await;
    wait_text(&browser, "state-server", "accept()").await;
    let note = text(&browser, "real-port-server").await;
    let real = note
        .split("really ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|addr| addr.trim_end_matches(':').to_string())
        .unwrap_or_else(|| panic!("no real address in {note:?}"));
    let (host, port) = real.rsplit_once(':').expect("HOST:PORT");

    let fixture = workspace().join("lab/task3/client.py");
    let child = tokio::process::Command::new("python3")
        .arg(&fixture)
        .arg(host)
        .arg(port)
        .arg("hello from a terminal")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let out = tokio::time::timeout(PYTHON_PATIENCE, child.wait_with_output())
        .await
        .expect("task3_client.py finishes")
        .expect("its output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hello from a terminal"),
        "task3_client.py printed {stdout:?}, stderr {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = wait_text(&browser, "output-server", "has been established.").await;
    assert!(
        server.contains("Connection from ('127.0.0.1', "),
        "{server:?}"
    );
    wait_row(
        &browser,
        ".event-row[data-lane=server][data-call=recv]",
        "hello from a terminal",
    )
    .await;

    // The page's own lab client reaches the same student server too, by
    // the student's port 1234, and its message is echoed.
    click(&browser, "connect-lab-client").await;
    wait_row(
        &browser,
        ".event-row[data-lane=client][data-call=connected]",
        "",
    )
    .await;
    let input = browser
        .client
        .find(Locator::Id("message-input"))
        .await
        .expect("#message-input");
    input
        .send_keys("hi from the lab client")
        .await
        .expect("type");
    input
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter");
    wait_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "hi from the lab client",
    )
    .await;
    let server = text(&browser, "output-server").await;
    assert_eq!(
        server.matches("has been established.").count(),
        2,
        "{server:?}"
    );

    click(&browser, "stop-server").await;
    wait_state(&browser, "server", "stopped").await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The student's client against the lab's public server (on the lab's
/// port, 1234, in a class; on a free port in this test): the client's
/// connect() reaches it and prints the lab's greeting.
#[tokio::test(flavor = "multi_thread")]
async fn students_client_reaches_the_labs_public_server() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Greet, &[]).await;
    let browser = open_code_view(&bridge, 1280, 720).await;
    let public_port = bridge.lab_addr().port().to_string();
    let client = TASK2_CLIENT.replace("1234", &public_port);
    type_program(&browser, "client", &client).await;
    click(&browser, "run-client").await;
    wait_text(&browser, "output-client", protocol::DEFAULT_GREETING.trim()).await;
    wait_state(&browser, "client", "exited").await;
    let heads = browser.text_of(".lane-heads").await;
    assert!(heads.contains("client.py"), "{heads:?}");
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}
