//! "Check my task" in the browser, as a student uses it: write the
//! programs in the editor, check, read a failing check's sentence, follow
//! it to the trace event and the line, fix the program, check again and
//! pass; the instructor's list shows the task's check turn green live.

use super::code_view::{open_code_view, type_program, wait_long};
use super::{ONE_BROWSER, choose_task, click, open_instructor, screenshot_path, start_bridge};
use e2e::browser::Browser;
use fantoccini::Locator;
use protocol::Mode;
use serde_json::Value;

/// An echo server without its loop: one recv(), one send, close.
const ONE_RECV_SERVER: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)

while True:
    clientsocket, address = s.accept()
    print(f"Connection from {address} has been established.")
    data = clientsocket.recv(1024)
    clientsocket.send(data)
    clientsocket.close()
"#;

/// The same server with the loop an echo server needs.
const ECHO_SERVER: &str = r#"import socket

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

const ECHO_CLIENT: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
s.send(b"hello")
data = s.recv(1024)
print("Echo:", data.decode("utf-8"))
s.close()
"#;

/// Task 2's server: sends the greeting, closes.
const GREET_SERVER: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)

while True:
    clientsocket, address = s.accept()
    print(f"Connection from {address} has been established.")
    clientsocket.send(bytes("Welcome to the lab\n", "utf-8"))
    clientsocket.close()
"#;

/// Task 2's client reading once: it shows only the first piece.
const READ_ONCE_CLIENT: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
msg = s.recv(1024)
print(msg.decode("utf-8"))
"#;

/// Task 2's client reading until b''.
const READ_ALL_CLIENT: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
msg = b""
while True:
    chunk = s.recv(1024)
    if not chunk:
        break
    msg += chunk
print(msg.decode("utf-8"))
"#;

/// Whether the checks shown have links to the trace, and none disabled
/// (a check that names a line has an event).
const ALL_LINKED: &str = "return document.querySelectorAll('.check-results .check-where').length > 0 \
     && document.querySelectorAll('.check-results .check-where[disabled]').length === 0;";

/// Presses "Check Task N" and waits (with Python's patience: four
/// programs start) for the verdict; returns the status line.
async fn check(student: &Browser) -> String {
    click(student, "check-task").await;
    let status = wait_long(
        student,
        "the checks' verdict",
        "const t = document.getElementById('check-status')?.innerText ?? ''; \
         return /checks? (pass|fail)/.test(t) ? t : null;",
        Value::is_string,
    )
    .await;
    status.as_str().unwrap_or_default().to_string()
}

/// The checks shown: each one's text, and whether it passed.
async fn checks(student: &Browser) -> Vec<(String, bool)> {
    let value = student
        .client
        .execute(
            "return Array.from(document.querySelectorAll('.check-results .check'))\
             .map(c => [c.innerText, c.dataset.passed === 'true']);",
            vec![],
        )
        .await
        .expect("read the checks");
    serde_json::from_value(value).expect("pairs")
}

/// Task 3 as a student does it: an echo server without its loop fails,
/// with the issue's sentence ("called recv() once and closed ... loops
/// until recv() returns b''"); following it selects the trace event and
/// highlights the student's close() line; with the loop, every check
/// passes. The instructor's list shows Task 3 failing, then passing.
#[tokio::test(flavor = "multi_thread")]
async fn task3_fails_is_explained_then_passes() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let student = open_code_view(&bridge, 1366, 768).await;
    let instructor = open_instructor(&bridge, &bridge.instructor_token, 1280, 720).await;
    let chip = "return document.querySelector('#session-list .session-row .task-chip[data-task=\"3\"]')?.dataset.check ?? null;";
    instructor
        .wait_until("Task 3 not checked yet", chip, |v| v == "not_run")
        .await;

    choose_task(&student, "echo").await;
    type_program(&student, "server", ONE_RECV_SERVER).await;
    type_program(&student, "client", ECHO_CLIENT).await;
    let status = check(&student).await;
    assert!(status.contains("checks fail"), "{status}");
    let shown = checks(&student).await;
    let failing: Vec<&String> = shown.iter().filter(|(_, ok)| !ok).map(|(t, _)| t).collect();
    let once = failing
        .iter()
        .find(|t| t.contains("called recv() once and closed"))
        .unwrap_or_else(|| panic!("no recv()-once failure in {shown:#?}"));
    assert!(once.contains("loops until recv() returns b''"), "{once}");
    assert!(once.contains("Expected:"), "{once}");
    assert!(
        shown
            .iter()
            .any(|(t, ok)| *ok && t.contains("Your client gets its message back")),
        "the client half passes: {shown:#?}\n--- the trace:\n{}\n--- client.py printed:\n{}",
        student.text_of("#event-log").await,
        student.text_of("#output-client").await,
    );
    instructor
        .wait_until("Task 3 failing in the list", chip, |v| v == "failing")
        .await;

    // Following the failure: the event is selected in the log, and the
    // student's close() line is highlighted in the editor.
    let place = student
        .client
        .execute(
            "const b = Array.from(document.querySelectorAll('.check.failed'))\
               .find(c => c.innerText.includes('called recv() once and closed'))\
               .querySelector('.check-where'); b.click(); return b.innerText;",
            vec![],
        )
        .await
        .expect("follow the failure");
    assert_eq!(place.as_str(), Some("Show server.py line 12"));
    wait_long(
        &student,
        "the close() line highlighted",
        "return document.querySelector('#editor-server .cm-traced-line')?.innerText ?? null;",
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("clientsocket.close()"))
        },
    )
    .await;
    let selected = student.text_of("#event-log .selected").await;
    assert!(selected.contains("close"), "{selected}");

    for (width, height) in [(1366, 768), (1280, 720), (390, 844)] {
        student
            .client
            .set_window_size(width, height)
            .await
            .expect("resize");
        student
            .client
            .execute(
                "document.querySelector('.check.failed').scrollIntoView({block: 'center'});",
                vec![],
            )
            .await
            .expect("scroll to the checks");
        student
            .screenshot(&screenshot_path(&format!(
                "check-task3-failing-{width}x{height}"
            )))
            .await;
    }
    student
        .client
        .set_window_size(1366, 768)
        .await
        .expect("resize");
    student
        .assert_accessible("Check my task, Task 3 failing, a check followed")
        .await;

    // The fix: the loop. Every check passes; the instructor sees it.
    type_program(&student, "server", ECHO_SERVER).await;
    let status = check(&student).await;
    assert_eq!(
        status,
        "Task 3: all 9 checks pass.",
        "{:#?}",
        checks(&student).await
    );
    assert!(checks(&student).await.iter().all(|(_, ok)| *ok));
    // Every check that names a line links to its event in the trace, the
    // client's too (its events are the run's last: the answer can come
    // before the page has drawn them).
    wait_long(
        &student,
        "every check linked to the trace",
        ALL_LINKED,
        |v| v == true,
    )
    .await;
    instructor
        .wait_until("Task 3 passing in the list", chip, |v| v == "passing")
        .await;

    // A reload keeps the verdicts, linked again to the trace it keeps.
    let before = checks(&student).await;
    student.client.refresh().await.expect("reload the page");
    let status = wait_long(
        &student,
        "the kept verdicts after a reload",
        "return document.getElementById('check-status')?.innerText || null;",
        Value::is_string,
    )
    .await;
    assert_eq!(status.as_str(), Some("Task 3: all 9 checks pass."));
    assert_eq!(checks(&student).await, before);
    wait_long(
        &student,
        "every kept check linked to the restored trace",
        ALL_LINKED,
        |v| v == true,
    )
    .await;
    let notice = student.text_of(".notices").await;
    assert!(
        notice.contains("Your last check of Task 3 is shown again."),
        "{notice}"
    );
    student
        .client
        .execute(
            "document.querySelector('.check-results').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .expect("scroll to the checks");
    student
        .screenshot(&screenshot_path("check-task3-passing-1366x768"))
        .await;
    instructor
        .screenshot(&screenshot_path("check-instructor-task3-1280x720"))
        .await;
    student.close().await;
    instructor.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Tasks 1 and 2 as a student does them: the handout's Task 1 passes its
/// three checks; Task 2's client that reads once shows only the first of
/// the lab server's two pieces and is told so; reading until b'' passes.
#[tokio::test(flavor = "multi_thread")]
async fn tasks_1_and_2_checked_in_the_page() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let student = open_code_view(&bridge, 1280, 720).await;
    let status = check(&student).await;
    assert_eq!(
        status,
        "Task 1: all 3 checks pass.",
        "{:#?}",
        checks(&student).await
    );

    choose_task(&student, "greet").await;
    student
        .client
        .wait()
        .at_most(e2e::browser::PATIENCE)
        .for_element(Locator::XPath(
            "//button[@id='check-task' and contains(., 'Task 2')]",
        ))
        .await
        .expect("the Task 2 button");
    type_program(&student, "server", GREET_SERVER).await;
    type_program(&student, "client", READ_ONCE_CLIENT).await;
    let status = check(&student).await;
    assert!(status.contains("fail"), "{status}");
    let shown = checks(&student).await;
    let piece = shown
        .iter()
        .find(|(t, _)| t.contains("Your client receives all of the message"))
        .expect("the receive check");
    assert!(!piece.1);
    assert!(
        piece
            .0
            .contains("called recv() once and got \"Thank you \""),
        "{piece:?}"
    );
    assert!(
        shown
            .iter()
            .filter(|(t, _)| t.contains("Your server"))
            .all(|(_, ok)| *ok),
        "the server half passes: {shown:#?}"
    );

    type_program(&student, "client", READ_ALL_CLIENT).await;
    let status = check(&student).await;
    assert_eq!(
        status,
        "Task 2: all 6 checks pass.",
        "{:#?}",
        checks(&student).await
    );
    student.close().await;
    bridge.stop().await.expect("bridge stops");
}
