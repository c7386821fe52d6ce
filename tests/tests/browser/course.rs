//! The lab as a course in the browser: the student's name reaching the
//! instructor's list live (with the tasks seen working, sortable), and a
//! reload that brings back the name, the trace and the task.

use super::{
    ONE_BROWSER, choose_task, click, eval, open_instructor, open_page, screenshot_path,
    start_and_connect, start_bridge, type_and_send, wait_for_row,
};
use e2e::browser::Browser;
use fantoccini::Locator;
use protocol::Mode;

/// Types `name` into the name box and saves it, as a student would.
async fn give_name(student: &Browser, name: &str) {
    let input = student
        .client
        .wait()
        .at_most(e2e::browser::PATIENCE)
        .for_element(Locator::Id("student-name-input"))
        .await
        .expect("the name box");
    input.send_keys(name).await.expect("type the name");
    click(student, "student-name-save").await;
    let shown = student.text_of("#student-name").await;
    assert_eq!(shown, name.trim());
}

/// The rows of the instructor's list: name (if any) and task chips.
const ROWS: &str = "return Array.from(document.querySelectorAll('#session-list .session-row'))\
     .map(r => ({ name: (r.querySelector('.session-name') || {}).innerText || null,\
       text: r.innerText,\
       tasks: Array.from(r.querySelectorAll('.task-chip')).map(c => c.dataset.done) }));";

/// A student gives a name; the instructor's list shows it live beside the
/// student's tasks (none seen working yet); a bad name is explained and
/// not sent; sorting by name puts the named student first.
#[tokio::test(flavor = "multi_thread")]
async fn the_instructor_sees_a_students_name_live() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let unnamed = open_page(&bridge, 1280, 720).await;
    let student = open_page(&bridge, 1366, 768).await;
    let instructor = open_instructor(&bridge, &bridge.instructor_token, 1366, 768).await;
    instructor
        .wait_until("two students listed", ROWS, |v| {
            v.as_array().is_some_and(|rows| rows.len() == 2)
        })
        .await;

    // A name of two lines cannot be typed into a text box; a blank one is
    // the mistake a student makes.
    click(&student, "student-name-save").await;
    let problem = student.text_of(".name-problem").await;
    assert!(problem.contains("empty"), "{problem}");
    give_name(&student, "  E18123 ").await;
    student
        .screenshot(&screenshot_path("course-name-1366x768"))
        .await;
    student.assert_accessible("the student's name given").await;

    let rows = instructor
        .wait_until("the student's name in the list", ROWS, |v| {
            v.as_array()
                .is_some_and(|rows| rows.iter().any(|r| r["name"] == "E18123"))
        })
        .await;
    let named = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "E18123"))
        .expect("the named row");
    assert_eq!(
        named["tasks"],
        serde_json::json!(["false", "false", "false"])
    );
    assert!(
        named["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Task 3")
    );

    // Sorted by name: the named student first, whatever the order came.
    instructor
        .client
        .find(Locator::Id("session-sort"))
        .await
        .expect("#session-sort")
        .select_by_value("name")
        .await
        .expect("sort by name");
    instructor
        .wait_until("the named student first", ROWS, |v| {
            v[0]["name"] == "E18123"
        })
        .await;
    // Sorted by last activity: the student who just did something first.
    start_and_connect(&unnamed, "echo").await;
    instructor
        .client
        .find(Locator::Id("session-sort"))
        .await
        .expect("#session-sort")
        .select_by_value("activity")
        .await
        .expect("sort by activity");
    instructor
        .wait_until("the active student first", ROWS, |v| v[0]["name"].is_null())
        .await;
    for (width, height) in [(1366, 768), (1280, 720), (390, 844)] {
        instructor
            .client
            .set_window_size(width, height)
            .await
            .expect("resize");
        instructor
            .screenshot(&screenshot_path(&format!(
                "course-instructor-{width}x{height}"
            )))
            .await;
        instructor
            .assert_accessible(&format!(
                "the instructor's list with names and progress, {width}x{height}"
            ))
            .await;
    }
    unnamed.close().await;
    student.close().await;
    instructor.close().await;
}

/// A reload brings back the student's name, the trace (the echoed text in
/// the log) and the task, and says so; new events follow.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_restores_the_name_trace_and_task() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let student = open_page(&bridge, 1280, 720).await;
    give_name(&student, "E18042").await;
    start_and_connect(&student, "echo").await;
    type_and_send(&student, "kept across a reload").await;
    wait_for_row(
        &student,
        ".event-row[data-lane=client][data-call=recv]",
        "kept across a reload",
    )
    .await;
    // Kept within a second: wait until the browser holds the echo ("kept"
    // in hex, as events carry bytes).
    student
        .wait_until(
            "the trace kept in the browser",
            "const t = localStorage.getItem('socket-lab.trace'); \
             return t ? t.split('6b65707420').length - 1 : 0;",
            |v| v.as_u64().is_some_and(|n| n >= 2),
        )
        .await;

    student.client.refresh().await.expect("reload");
    student
        .wait_until(
            "the page to connect again",
            "const s = document.getElementById('ws-status'); return s ? s.dataset.state : null;",
            |v| v == "open",
        )
        .await;
    student.wait_for_text("Restored from this browser").await;
    let notice = student.text_of(".notices").await;
    assert!(notice.contains("your name (E18042)"), "{notice}");
    assert!(notice.contains("trace events"), "{notice}");
    assert!(notice.contains("Task 3"), "{notice}");
    wait_for_row(
        &student,
        ".event-row[data-lane=client][data-call=recv]",
        "kept across a reload",
    )
    .await;
    assert_eq!(student.text_of("#student-name").await, "E18042");
    let task = eval(
        &student,
        "return document.getElementById('task-select').value;",
    )
    .await;
    assert_eq!(task, "echo");
    for (width, height) in [(1280, 720), (390, 844)] {
        student
            .client
            .set_window_size(width, height)
            .await
            .expect("resize");
        student
            .screenshot(&screenshot_path(&format!(
                "course-restored-{width}x{height}"
            )))
            .await;
    }
    // New events follow the restored ones.
    choose_task(&student, "echo").await;
    click(&student, "start-server").await;
    wait_for_row(
        &student,
        ".event-row[data-lane=server][data-call=listen]",
        "listen(5)",
    )
    .await;

    // A reload at once, within the second between two keepings: the page
    // keeps its trace as it goes, so the newest events (this server's
    // listen()) come back too.
    let rows = "return document.querySelectorAll('#event-log .event-row').length;";
    let before = eval(&student, rows).await;
    student.client.refresh().await.expect("reload at once");
    student.wait_for_text("Restored from this browser").await;
    student
        .wait_until("every event restored", rows, |v| *v == before)
        .await;
    student.close().await;
}

/// Tasks as workspaces and "Download my lab": Task 2 starts from the
/// student's Task 1 and says so; the zip the page downloads is named from
/// the student number with the instructor's pattern, holds Task01-03 with
/// their six files each (the Task 3 trace as SVG and Mermaid, the summary
/// page with the diagram), and its Task 1 client runs with python3
/// against the bridge's public lab server.
#[tokio::test(flavor = "multi_thread")]
async fn download_my_lab_makes_the_handouts_zip() {
    let _one = ONE_BROWSER.lock().await;
    let config = bridge::config::BridgeConfig {
        static_dir: Some(super::dist()),
        pyodide_dir: Some(super::workspace().join("pyodide")),
        limits: bridge::config::SessionLimits {
            submission_name: "{name}_Lab04.zip".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let lab = bridge::lab::LabArgs {
        lab: std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        mode: Mode::Echo,
        ..Default::default()
    };
    let bridge = bridge::app::Bridge::start(config, &lab)
        .await
        .expect("start the bridge");
    let downloads = e2e::browser::TempDir::new("socket-lab-downloads");
    let student = Browser::start_downloading(1366, 768, downloads.path()).await;
    student
        .client
        .goto(&bridge.http_url())
        .await
        .expect("open the page");
    student
        .wait_until(
            "the page to connect",
            "const s = document.getElementById('ws-status'); return s ? s.dataset.state : null;",
            |v| v == "open",
        )
        .await;

    // Without a name the zip cannot be named: the page says so.
    click(&student, "download-lab").await;
    let said = student.text_of(".download-said").await;
    assert!(said.contains("name or student number first"), "{said}");
    give_name(&student, "E18123").await;

    assert!(
        student
            .text_of(".handout-words")
            .await
            .contains("server.py and client.py")
    );
    choose_task(&student, "greet").await;
    let origin = student.text_of(".task-origin").await;
    assert!(origin.contains("started from your Task 1"), "{origin}");
    assert!(
        student
            .text_of(".handout-words")
            .await
            .contains("send a message")
    );
    start_and_connect(&student, "echo").await;
    type_and_send(&student, "zip me").await;
    wait_for_row(
        &student,
        ".event-row[data-lane=client][data-call=recv]",
        "zip me",
    )
    .await;
    student
        .screenshot(&screenshot_path("course-task-panel-1366x768"))
        .await;
    student
        .assert_accessible("the task panel with a trace, before the download")
        .await;

    click(&student, "download-lab").await;
    let zip = downloads.path().join("E18123_Lab04.zip");
    student
        .wait_until(
            "the zip to be downloaded",
            "return document.querySelector('.download-said')?.innerText || null;",
            |v| {
                v.as_str()
                    .is_some_and(|t| t.contains("Downloaded E18123_Lab04.zip"))
            },
        )
        .await;
    let deadline = std::time::Instant::now() + e2e::browser::PATIENCE;
    while !zip.is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "no {} in {:?}",
            zip.display(),
            std::fs::read_dir(downloads.path()).map(|d| d.count())
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Unzipped with python3's zipfile: the file list and contents.
    let unzipped = downloads.path().join("lab");
    let listing = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nz.extractall(sys.argv[2])\nprint('\\n'.join(sorted(z.namelist())))"])
        .arg(&zip)
        .arg(&unzipped)
        .output()
        .expect("python3 runs");
    assert!(listing.status.success(), "{listing:?}");
    let names: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(String::from)
        .collect();
    let mut expected = Vec::new();
    for task in ["Task01", "Task02", "Task03"] {
        for file in [
            "client.py",
            "output.txt",
            "server.py",
            "summary.html",
            "trace.mmd",
            "trace.svg",
        ] {
            expected.push(format!("{task}/{file}"));
        }
    }
    assert_eq!(names, expected);
    let read = |path: &str| std::fs::read_to_string(unzipped.join(path)).expect(path);
    assert!(read("Task01/server.py").contains("s.listen(5)"));
    assert!(
        read("Task02/client.py").contains("s.connect("),
        "Task 2 from Task 1"
    );
    let mermaid = read("Task03/trace.mmd");
    assert!(
        mermaid.starts_with("sequenceDiagram") && mermaid.contains("zip me"),
        "{mermaid}"
    );
    assert!(read("Task03/trace.svg").starts_with("<svg"));
    let summary = read("Task03/summary.html");
    assert!(
        summary.contains("<svg") && summary.contains("echo server"),
        "{summary}"
    );

    // The Task 1 client, run with python3 against the public lab server
    // (its port is the test's, not 1234; the host its address).
    let public = bridge.lab_addr();
    let client = read("Task01/client.py")
        .replace(
            "socket.gethostname()",
            &format!("{:?}", public.ip().to_string()),
        )
        .replace("1234", &public.port().to_string());
    let ran = tokio::time::timeout(
        e2e::browser::PATIENCE,
        tokio::process::Command::new("python3")
            .arg("-c")
            .arg(&client)
            .output(),
    )
    .await
    .expect("the client ends in time")
    .expect("python3 runs");
    assert!(ran.status.success(), "{ran:?}");
    student.close().await;
}

/// Waits, with Python's patience (starting CPython in the page takes a
/// while on a busy machine), until `script` gives a value `ok` accepts.
async fn wait_python(
    browser: &Browser,
    what: &str,
    script: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) {
    let patience = std::time::Duration::from_secs(90);
    let deadline = std::time::Instant::now() + patience;
    let mut last = serde_json::Value::Null;
    while std::time::Instant::now() < deadline {
        last = browser
            .client
            .execute(script, vec![])
            .await
            .unwrap_or(serde_json::Value::Null);
        if ok(&last) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("waited {patience:?} for {what}; last value: {last}");
}

/// The instructor sees a named student's Task 1 turn green live when the
/// student runs the handout's server.py and client.py in the page.
#[tokio::test(flavor = "multi_thread")]
async fn the_instructor_sees_task1_turn_green_live() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let student = Browser::start(1280, 720).await;
    student
        .client
        .goto(&format!("{}?code", bridge.http_url()))
        .await
        .expect("open the page");
    wait_python(
        &student,
        "the bridge and both editors",
        "return document.getElementById('ws-status')?.dataset.state === 'open' \
         && document.querySelectorAll('.editor[data-ready=true] .cm-content').length === 2;",
        |v| v == true,
    )
    .await;
    give_name(&student, "E18007").await;
    let instructor = open_instructor(&bridge, &bridge.instructor_token, 1280, 720).await;
    let task1 = "return Array.from(document.querySelectorAll('#session-list .session-row'))\
         .filter(r => (r.querySelector('.session-name') || {}).innerText === 'E18007')\
         .map(r => r.querySelector('.task-chip[data-task=\"1\"]').dataset.done)[0] || null;";
    instructor
        .wait_until("the student, Task 1 not yet", task1, |v| v == "false")
        .await;

    // The code view opens with the handout's Task 1: run both.
    click(&student, "run-server").await;
    wait_python(
        &student,
        "server.py waiting in accept()",
        "return document.getElementById('state-server')?.innerText ?? '';",
        |v| v.as_str().is_some_and(|t| t.contains("accept()")),
    )
    .await;
    click(&student, "run-client").await;
    wait_python(
        &instructor,
        "Task 1 seen working in the instructor's list",
        task1,
        |v| v == "true",
    )
    .await;
    instructor
        .screenshot(&screenshot_path("course-instructor-task1-1280x720"))
        .await;
    student.close().await;
    instructor.close().await;
}
