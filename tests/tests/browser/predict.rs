//! Predict, then observe, and the instructor following a student's code:
//! real traces made on the bridge's real sockets, replayed in a real
//! Chromium.

use super::*;
use e2e::browser::Browser;
use serde_json::Value;

/// What the replay shows now: the question (if one is asked), the verdict
/// and why (once answered), whether it plays, and the log's rows.
const REPLAY_STATE: &str = r#"
const text = id => { const e = document.getElementById(id); return e ? e.innerText : null; };
const rows = Array.from(document.querySelectorAll('#event-log .event-row'));
const selected = document.querySelector('#event-log .event-row.selected');
return {
  question: text('predict-question'),
  context: text('predict-context'),
  verdict: text('predict-verdict'),
  why: text('predict-why'),
  none: text('predict-none'),
  playing: document.getElementById('play').getAttribute('aria-pressed') === 'true',
  rows: rows.map(r => r.dataset.lane + ':' + r.dataset.call),
  selected: selected ? selected.dataset.lane + ':' + selected.dataset.call : null,
  focused: document.activeElement ? document.activeElement.id : null,
};
"#;

async fn replay_state(browser: &Browser) -> Value {
    eval(browser, REPLAY_STATE).await
}

/// Waits until the replay asks a question whose text contains `needle`.
async fn wait_question(browser: &Browser, needle: &str) -> Value {
    browser
        .wait_until(
            &format!("a question containing {needle:?}"),
            REPLAY_STATE,
            |v| v["question"].as_str().is_some_and(|q| q.contains(needle)),
        )
        .await
}

async fn wait_verdict(browser: &Browser) -> Value {
    browser
        .wait_until("the answer revealed", REPLAY_STATE, |v| {
            v["verdict"].is_string()
        })
        .await
}

/// The rows of `lane:call` in the log.
fn count(state: &Value, row: &str) -> usize {
    state["rows"]
        .as_array()
        .map_or(0, |rows| rows.iter().filter(|r| *r == row).count())
}

/// Scrolls the question into view (on a phone it is below the controls).
async fn show_card(browser: &Browser) {
    eval(
        browser,
        "document.getElementById('predict').scrollIntoView({block: 'start'}); return true;",
    )
    .await;
}

async fn resize(browser: &Browser, width: u32, height: u32) {
    browser
        .client
        .set_window_size(width, height)
        .await
        .expect("resize");
}

/// A real trace (Task 3's echo, the client's close, then seven clients
/// while accept() is paused), replayed: playback stops before the
/// server's recv() with the row hidden and asks how many bytes; a wrong
/// number is answered with the real count and why, the row appears and is
/// selected; Continue plays on to the next question (which close() comes
/// first), answered with the keyboard; then recv() after the close and the
/// seventh client, each revealed from the trace. axe-core finds nothing in
/// any of these states; screenshots at three sizes. First, a trace with
/// none of these moments says so.
#[tokio::test(flavor = "multi_thread")]
async fn replay_asks_before_it_shows() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1366, 768).await;
    // A trace with no such moment (a server that only listens) says so.
    choose_task(&browser, "echo").await;
    click(&browser, "start-server").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=listen]",
        "listen(5)",
    )
    .await;
    click(&browser, "step-forward").await;
    let none = browser
        .wait_until(
            "the page to say there is nothing to predict",
            REPLAY_STATE,
            |v| v["none"].is_string(),
        )
        .await;
    assert!(
        none["none"]
            .as_str()
            .is_some_and(|t| t.starts_with("No moment to predict in this trace.")),
        "{none:#}"
    );
    click(&browser, "live-button").await;

    start_and_connect(&browser, "echo").await;
    type_and_send(&browser, "hello class").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "hello class",
    )
    .await;
    click(&browser, "close-button").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=close]",
        "",
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
    // The seventh client's connect() gives up (the bridge's timeout).
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=error]",
        "",
    )
    .await;

    // Replay from the start, at the fastest speed.
    browser
        .client
        .find(Locator::Id("play-speed"))
        .await
        .expect("#play-speed")
        .select_by_value("4")
        .await
        .expect("speed 4");
    click(&browser, "play").await;
    let asked = wait_question(
        &browser,
        "How many bytes will the server's next recv() return?",
    )
    .await;
    assert!(
        asked["context"]
            .as_str()
            .is_some_and(|c| c.contains("b'hello class' (11 bytes)")),
        "{asked:#}"
    );
    assert_eq!(asked["playing"], false, "playback paused: {asked:#}");
    assert_eq!(
        count(&asked, "server:recv"),
        0,
        "the recv() row is hidden: {asked:#}"
    );
    assert_eq!(count(&asked, "client:send"), 1, "{asked:#}");
    assert_eq!(
        asked["focused"], "predict-number",
        "the question has the focus"
    );
    // Forward does not give it away.
    click(&browser, "step-forward").await;
    assert_eq!(count(&replay_state(&browser).await, "server:recv"), 0);
    browser
        .screenshot(&screenshot_path("predict-asking-1366"))
        .await;
    browser
        .assert_accessible("student page, replay asks how many bytes")
        .await;
    resize(&browser, 390, 844).await;
    show_card(&browser).await;
    browser
        .screenshot(&screenshot_path("predict-asking-390"))
        .await;
    resize(&browser, 1280, 720).await;
    browser
        .screenshot(&screenshot_path("predict-asking-1280"))
        .await;

    // A wrong guess: the real count, why, and the row, selected.
    let number = browser
        .client
        .find(Locator::Id("predict-number"))
        .await
        .expect("#predict-number");
    number.send_keys("5").await.expect("type");
    number
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter");
    let revealed = wait_verdict(&browser).await;
    assert_eq!(
        revealed["verdict"].as_str().map(str::trim),
        Some("→ You said 5 bytes; it was 11 bytes."),
        "{revealed:#}"
    );
    assert!(
        revealed["why"]
            .as_str()
            .is_some_and(|w| w.contains("returned all 11 bytes")),
        "{revealed:#}"
    );
    assert_eq!(revealed["selected"], "server:recv", "{revealed:#}");
    assert_eq!(revealed["focused"], "predict-continue");
    browser
        .screenshot(&screenshot_path("predict-revealed-1280"))
        .await;
    resize(&browser, 390, 844).await;
    show_card(&browser).await;
    browser
        .screenshot(&screenshot_path("predict-revealed-390"))
        .await;
    resize(&browser, 1366, 768).await;
    browser
        .screenshot(&screenshot_path("predict-revealed-1366"))
        .await;
    browser
        .assert_accessible("student page, replay shows the answer")
        .await;

    // Continue: the next question, answered by keyboard (the focus is on
    // the first choice; arrow keys move it, Enter submits).
    click(&browser, "predict-continue").await;
    let asked = wait_question(&browser, "Which side's close() comes first?").await;
    assert_eq!(asked["focused"], "predict-choice-0");
    assert_eq!(count(&asked, "client:close"), 0, "{asked:#}");
    browser.press(Key::Down, false).await;
    browser.press(Key::Enter, false).await;
    let revealed = wait_verdict(&browser).await;
    assert_eq!(
        revealed["verdict"].as_str().map(str::trim),
        Some("✓ You said The client's: right."),
        "{revealed:#}"
    );
    assert_eq!(revealed["selected"], "client:close");

    click(&browser, "predict-continue").await;
    let asked = wait_question(&browser, "What will that recv() return?").await;
    assert!(
        asked["context"]
            .as_str()
            .is_some_and(|c| c.starts_with("The client has called close().")),
        "{asked:#}"
    );
    assert_eq!(count(&asked, "server:recv_eof"), 0);
    click(&browser, "predict-skip").await;
    let revealed = wait_verdict(&browser).await;
    assert_eq!(
        revealed["verdict"].as_str().map(str::trim),
        Some("→ The answer: b'' (0 bytes)."),
        "{revealed:#}"
    );
    assert_eq!(revealed["selected"], "server:recv_eof");

    click(&browser, "predict-continue").await;
    let asked = wait_question(&browser, "(the 7th while accept() is paused) succeed?").await;
    assert_eq!(count(&asked, "client:error"), 0, "{asked:#}");
    click(&browser, "predict-choice-0").await;
    click(&browser, "predict-show").await;
    let revealed = wait_verdict(&browser).await;
    assert!(
        revealed["verdict"].as_str().is_some_and(|v| v.contains(
            "it was It waits: connect() returns only when accept() runs again (or gives up)"
        )),
        "{revealed:#}"
    );
    assert_eq!(revealed["selected"], "client:error");
    browser
        .assert_accessible("student page, the seventh client's answer")
        .await;

    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Python's patience: Pyodide starts slowly on a busy machine.
const PYTHON_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits (bounded by [`PYTHON_PATIENCE`]) until `script` gives a value
/// `ok` accepts.
async fn wait_long(
    browser: &Browser,
    what: &str,
    script: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PYTHON_PATIENCE;
    let mut last = Value::Null;
    while tokio::time::Instant::now() < deadline {
        last = browser
            .client
            .execute(script, vec![])
            .await
            .unwrap_or(Value::Null);
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("waited {PYTHON_PATIENCE:?} for {what}; last value: {last}");
}

/// What the instructor's code pane shows: each file's text, and the
/// highlighted line.
const FOLLOW_CODE: &str = r#"
const pane = document.getElementById('follow-code');
if (!pane) return null;
const text = id => { const e = document.querySelector('#' + id + ' code'); return e ? e.innerText : null; };
const lit = pane.querySelector('.line.highlight');
return {
  server: text('follow-server'),
  client: text('follow-client'),
  highlight: lit ? { id: lit.id, line: Number(lit.dataset.line), text: lit.innerText } : null,
};
"#;

/// Following a student shows their own server.py and client.py beside
/// their trace: the handout's code they start from, then their edit a
/// moment after they type it (without following again); when they run
/// server.py and the instructor selects its listen(5), that line of their
/// server.py is highlighted (and running it costs the instructor's page
/// no error). axe-core finds nothing; screenshots at three sizes. The
/// list's order is kept across a reload.
#[tokio::test(flavor = "multi_thread")]
async fn the_instructor_sees_the_students_code_change_live() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let student = Browser::start(1280, 720).await;
    student
        .client
        .goto(&format!("{}?code", bridge.http_url()))
        .await
        .expect("open the page");
    wait_long(
        &student,
        "the bridge and both editors",
        "return document.getElementById('ws-status')?.dataset.state === 'open' \
         && document.querySelectorAll('.editor[data-ready=true] .cm-content').length === 2;",
        |v| v == true,
    )
    .await;

    let instructor = open_instructor(&bridge, &bridge.instructor_token, 1366, 768).await;
    instructor
        .client
        .wait()
        .at_most(e2e::browser::PATIENCE)
        .for_element(Locator::Css("#session-list .session-row .follow-button"))
        .await
        .expect("a follow button")
        .click()
        .await
        .expect("follow");
    let shown = wait_long(&instructor, "the student's code", FOLLOW_CODE, |v| {
        v["server"]
            .as_str()
            .is_some_and(|t| t.contains("s.listen(5)"))
            && v["client"]
                .as_str()
                .is_some_and(|t| t.contains("s.connect("))
    })
    .await;
    assert!(shown["highlight"].is_null(), "{shown:#}");

    // The student adds a line at the end of server.py.
    let content = student
        .client
        .find(Locator::Css("#editor-server .cm-content"))
        .await
        .expect("the editor");
    content.click().await.expect("focus the editor");
    content
        .send_keys(&format!("{}{}{}", Key::Control, Key::End, Key::Null))
        .await
        .expect("Ctrl+End");
    content
        .send_keys("# a line the instructor should see")
        .await
        .expect("type");
    let changed = wait_long(&instructor, "the student's edit, live", FOLLOW_CODE, |v| {
        v["server"]
            .as_str()
            .is_some_and(|t| t.contains("# a line the instructor should see"))
    })
    .await;
    assert!(
        changed["client"]
            .as_str()
            .is_some_and(|t| t.contains("s.connect(")),
        "{changed:#}"
    );

    // They run it; the instructor selects its listen(5): that line.
    click(&student, "run-server").await;
    wait_long(
        &instructor,
        "the student's listen(5) in the instructor's log",
        "return document.querySelector('#event-log .event-row[data-lane=server][data-call=listen]') !== null;",
        |v| v == true,
    )
    .await;
    instructor
        .client
        .find(Locator::Css(
            "#event-log .event-row[data-lane=server][data-call=listen]",
        ))
        .await
        .expect("the listen row")
        .click()
        .await
        .expect("select it");
    let lit = wait_long(
        &instructor,
        "the listen line highlighted",
        FOLLOW_CODE,
        |v| !v["highlight"].is_null(),
    )
    .await;
    assert_eq!(lit["highlight"]["id"], "follow-server-7", "{lit:#}");
    // Following a running program costs the instructor's page no error.
    let problem = eval(
        &instructor,
        "return document.getElementById('watch-problem')?.innerText ?? null;",
    )
    .await;
    assert!(problem.is_null(), "{problem}");
    assert!(
        lit["highlight"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("s.listen(5)")),
        "{lit:#}"
    );
    instructor
        .screenshot(&screenshot_path("follow-code-1366"))
        .await;
    instructor
        .assert_accessible("instructor page, following a student's code")
        .await;
    resize(&instructor, 1280, 720).await;
    instructor
        .screenshot(&screenshot_path("follow-code-1280"))
        .await;
    resize(&instructor, 390, 844).await;
    eval(
        &instructor,
        "document.getElementById('follow-code').scrollIntoView({block: 'start'}); return true;",
    )
    .await;
    instructor
        .screenshot(&screenshot_path("follow-code-390"))
        .await;
    // The list's order (by progress, by last activity) is kept for the
    // next lesson.
    resize(&instructor, 1366, 768).await;
    instructor
        .client
        .find(Locator::Id("session-sort"))
        .await
        .expect("#session-sort")
        .select_by_value("progress")
        .await
        .expect("sort by progress");
    instructor
        .client
        .refresh()
        .await
        .expect("reload the instructor's page");
    instructor
        .wait_until(
            "the list sorted by progress after a reload",
            "return document.getElementById('session-sort')?.value ?? null;",
            |v| v == "progress",
        )
        .await;
    click(&student, "stop-server").await;
    student.close().await;
    instructor.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A student's Task 2 greeting sent in two pieces.
const TWO_PIECE_SERVER: &str = "import socket\n\
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
s.bind((socket.gethostname(), 1234))\n\
s.listen(5)\n\
clientsocket, address = s.accept()\n\
clientsocket.send(b'Thank you ')\n\
clientsocket.send(b'for connecting')\n\
clientsocket.close()\n\
s.close()\n";

/// A student's Task 2 client: one recv(), then print.
const ONE_RECV_CLIENT: &str = "import socket\n\
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
s.connect((socket.gethostname(), 1234))\n\
msg = s.recv(1024)\n\
print(msg.decode('utf-8'))\n\
s.close()\n";

/// The student's own programs, run in the page on real sockets: their
/// server sends its greeting with two send()s, their client calls recv()
/// once and prints. Replaying their trace asks what the client will print
/// before its recv() is shown, and the answer is what it really printed.
#[tokio::test(flavor = "multi_thread")]
async fn replay_asks_what_the_students_client_prints() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = Browser::start(1366, 768).await;
    browser
        .client
        .goto(&bridge.http_url())
        .await
        .expect("open the page");
    // The student's programs, as the page keeps them in the browser.
    eval(
        &browser,
        &format!(
            "localStorage.setItem('socket-lab.code.server.py', {TWO_PIECE_SERVER:?}); \
             localStorage.setItem('socket-lab.code.client.py', {ONE_RECV_CLIENT:?}); return true;"
        ),
    )
    .await;
    browser
        .client
        .goto(&format!("{}?code", bridge.http_url()))
        .await
        .expect("open the code view");
    wait_long(
        &browser,
        "the bridge and both editors",
        "return document.getElementById('ws-status')?.dataset.state === 'open' \
         && document.querySelectorAll('.editor[data-ready=true] .cm-content').length === 2;",
        |v| v == true,
    )
    .await;
    click(&browser, "run-server").await;
    wait_long(
        &browser,
        "the student's server in accept()",
        "return document.querySelector('#event-log .event-row[data-lane=server][data-call=listen]') !== null;",
        |v| v == true,
    )
    .await;
    click(&browser, "run-client").await;
    let printed = wait_long(
        &browser,
        "the client's print",
        "const r = document.querySelector('#event-log .event-row[data-lane=client][data-call=print]'); \
         return r ? r.innerText : null;",
        |v| v.is_string(),
    )
    .await;
    let printed = printed.as_str().unwrap_or_default().to_string();

    click(&browser, "play").await;
    // Other questions may come first: each is skipped until this one.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let asked = loop {
        if tokio::time::Instant::now() >= deadline {
            let kept = eval(
                &browser,
                "return Object.keys(localStorage).filter(k => k.includes('trace')).map(k => localStorage.getItem(k)).join('\\n');",
            )
            .await;
            panic!("no question about the print; the trace: {kept}");
        }
        let state = replay_state(&browser).await;
        match (state["question"].as_str(), state["verdict"].is_string()) {
            (Some("What will the client print?"), _) => break state,
            (Some(_), _) => click(&browser, "predict-skip").await,
            (None, true) => click(&browser, "predict-continue").await,
            (None, false) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    };
    assert!(
        asked["context"].as_str().is_some_and(|c| c.contains(
            "The server sends its greeting in 2 pieces: b'Thank you ', then b'for connecting'. \
             Your client.py calls recv() once, then prints what it received."
        )),
        "{asked:#}"
    );
    assert_eq!(
        count(&asked, "client:recv"),
        0,
        "its recv() is hidden: {asked:#}"
    );
    assert_eq!(count(&asked, "client:print"), 0, "{asked:#}");
    browser
        .screenshot(&screenshot_path("predict-greeting-1366"))
        .await;
    click(&browser, "predict-choice-0").await;
    click(&browser, "predict-show").await;
    let revealed = wait_verdict(&browser).await;
    // The answer is what the client really printed.
    let verdict = revealed["verdict"].as_str().unwrap_or_default();
    if printed.contains("Thank you for connecting") {
        assert!(verdict.contains("right"), "{revealed:#} {printed}");
    } else {
        assert!(
            verdict.contains("it was Only the first piece"),
            "{revealed:#} {printed}"
        );
    }
    assert_eq!(revealed["selected"], "client:recv");
    browser
        .assert_accessible("student page, what the client prints")
        .await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}
