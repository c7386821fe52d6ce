//! Accessibility in every state a user meets, checked by axe-core in the
//! real page (no serious or critical violation), and what no rule checks:
//! the keyboard's way through the page, and what a screen reader says.
//!
//! The check is one line, for any view: `browser.assert_accessible("the
//! code view, running").await` (see `e2e::accessibility`).

use super::*;

/// Sets the window's size and waits until the page has laid itself out
/// at that width.
async fn resize(browser: &Browser, width: u32, height: u32) {
    browser
        .client
        .set_window_size(width, height)
        .await
        .expect("resize");
    browser
        .wait_until(
            &format!("the window to be {width} wide"),
            "return window.innerWidth;",
            |v| v.as_u64() == Some(u64::from(width)),
        )
        .await;
}

/// Clicks the theme button until the page is in `theme` (system, light
/// and dark, in turn).
async fn set_theme(browser: &Browser, theme: &str) {
    for _ in 0..3 {
        let now = eval(
            browser,
            "return document.documentElement.dataset.theme || 'system';",
        )
        .await;
        if now == theme {
            return;
        }
        click(browser, "theme-toggle").await;
        browser
            .wait_until(
                "the theme to change",
                "return document.documentElement.dataset.theme || 'system';",
                |v| *v != now,
            )
            .await;
    }
    panic!("the theme button never gave {theme}");
}

/// Turns projector mode on or off with its button.
async fn set_projector(browser: &Browser, on: bool) {
    let now = eval(
        browser,
        "return document.documentElement.dataset.projector === 'on';",
    )
    .await;
    if now != on {
        click(browser, "projector-toggle").await;
    }
    browser
        .wait_until(
            "projector mode to switch",
            "return document.documentElement.dataset.projector === 'on';",
            |v| *v == on,
        )
        .await;
}

/// The student's page has no serious or critical axe-core violation in
/// any state a student meets: fresh, mid-trace, with an event selected,
/// replaying, projector mode (light and dark), dark mode, and at phone
/// width (dark and light).
#[tokio::test(flavor = "multi_thread")]
async fn the_student_page_passes_axe_in_every_state() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1366, 768).await;
    set_theme(&browser, "light").await;
    browser.assert_accessible("student page, fresh").await;

    start_and_connect(&browser, "echo").await;
    type_and_send(&browser, "hello lab").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "hello lab",
    )
    .await;
    browser.assert_accessible("student page, mid-trace").await;

    // Select the server's recv(): the detail panel and the code line.
    browser
        .client
        .find(Locator::Css(
            "#event-log .event-row[data-lane=server][data-call=recv]",
        ))
        .await
        .expect("a server recv row")
        .click()
        .await
        .expect("select it");
    browser.text_of("#lab-code .highlight").await;
    browser
        .assert_accessible("student page, an event selected")
        .await;
    browser.screenshot(&screenshot_path("a11y-selected")).await;

    // Replay: play from the first event, then pause on a step.
    click(&browser, "play").await;
    browser
        .wait_until(
            "the replay to reach step 3",
            "return document.querySelector('.playback .position').innerText;",
            |v| {
                v.as_str()
                    .and_then(|t| t.strip_prefix("Step "))
                    .and_then(|t| t.split(' ').next()?.parse::<u32>().ok())
                    .is_some_and(|n| n >= 3)
            },
        )
        .await;
    click(&browser, "play").await;
    browser
        .wait_until(
            "the replay to pause",
            "return document.getElementById('play').getAttribute('aria-pressed');",
            |v| v == "false",
        )
        .await;
    browser.assert_accessible("student page, replaying").await;

    // Projector mode, as a class sees it (1280x720), light then dark.
    resize(&browser, 1280, 720).await;
    set_projector(&browser, true).await;
    browser
        .assert_accessible("student page, projector mode")
        .await;
    browser.screenshot(&screenshot_path("a11y-projector")).await;
    set_theme(&browser, "dark").await;
    browser
        .assert_accessible("student page, projector mode, dark")
        .await;
    browser
        .screenshot(&screenshot_path("a11y-projector-dark"))
        .await;

    // Dark mode on a laptop.
    set_projector(&browser, false).await;
    resize(&browser, 1366, 768).await;
    browser.assert_accessible("student page, dark").await;
    browser.screenshot(&screenshot_path("a11y-dark")).await;

    // A phone, dark then light.
    resize(&browser, 390, 844).await;
    browser
        .assert_accessible("student page, phone width, dark")
        .await;
    browser
        .screenshot(&screenshot_path("a11y-phone-dark"))
        .await;
    set_theme(&browser, "light").await;
    browser.assert_accessible("student page, phone width").await;
    browser.screenshot(&screenshot_path("a11y-phone")).await;

    // The check is not blind: a button with no name and pale text fails.
    eval(
        &browser,
        "const b = document.createElement('button'); b.id = 'unnamed'; \
         b.style.cssText = 'color: #cccccc; background: #ffffff'; b.textContent = ' '; \
         const t = document.createElement('span'); t.id = 'pale'; t.textContent = 'pale text'; \
         t.style.cssText = 'color: #cccccc; background: #ffffff'; \
         document.querySelector('main').append(b, t); return true;",
    )
    .await;
    let report = browser.axe("student page, with a broken button").await;
    let blocking: Vec<&str> = report.blocking().iter().map(|v| v.id.as_str()).collect();
    assert!(
        blocking.contains(&"button-name") && blocking.contains(&"color-contrast"),
        "axe-core missed the broken button: {report}"
    );
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The instructor's page has no serious or critical axe-core violation
/// in any state an instructor meets: the list of sessions, following one
/// (with an event selected), projecting it (light and dark), following in
/// the dark theme, and at phone width.
#[tokio::test(flavor = "multi_thread")]
async fn the_instructor_page_passes_axe_in_every_state() {
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

    let instructor = open_instructor(&bridge, &bridge.instructor_token, 1366, 768).await;
    set_theme(&instructor, "light").await;
    instructor
        .wait_until(
            "the student's session in the list",
            "return document.querySelector('#session-list .session-row[data-open=true]') !== null;",
            |v| *v == true,
        )
        .await;
    instructor.assert_accessible("instructor's list").await;

    instructor
        .client
        .find(Locator::Css("#session-list .session-row .follow-button"))
        .await
        .expect("a follow button")
        .click()
        .await
        .expect("follow");
    wait_for_row(
        &instructor,
        ".event-row[data-lane=client][data-call=recv]",
        "hello class",
    )
    .await;
    instructor.assert_accessible("instructor, following").await;
    instructor
        .client
        .find(Locator::Css(
            "#event-log .event-row[data-lane=server][data-call=recv]",
        ))
        .await
        .expect("a server recv row")
        .click()
        .await
        .expect("select it");
    instructor.text_of("#lab-code .highlight").await;
    instructor
        .assert_accessible("instructor, following, an event selected")
        .await;

    // Projecting, as the class sees it (1280x720).
    resize(&instructor, 1280, 720).await;
    click(&instructor, "project-button").await;
    instructor
        .wait_until(
            "projector mode",
            "return document.documentElement.dataset.projector === 'on';",
            |v| *v == true,
        )
        .await;
    instructor.assert_accessible("instructor, projecting").await;
    instructor
        .screenshot(&screenshot_path("a11y-instructor-project"))
        .await;
    click(&instructor, "back-button").await;
    instructor
        .wait_until(
            "the list to come back",
            "return document.getElementById('session-list') !== null;",
            |v| *v == true,
        )
        .await;

    // Dark: following, then projecting.
    set_theme(&instructor, "dark").await;
    instructor
        .assert_accessible("instructor, following, dark")
        .await;
    instructor
        .screenshot(&screenshot_path("a11y-instructor-dark"))
        .await;
    click(&instructor, "project-button").await;
    instructor
        .wait_until(
            "projector mode",
            "return document.documentElement.dataset.projector === 'on';",
            |v| *v == true,
        )
        .await;
    instructor
        .assert_accessible("instructor, projecting, dark")
        .await;
    instructor
        .screenshot(&screenshot_path("a11y-instructor-project-dark"))
        .await;
    click(&instructor, "back-button").await;

    // A phone.
    resize(&instructor, 390, 844).await;
    instructor
        .assert_accessible("instructor, following, phone width, dark")
        .await;
    set_theme(&instructor, "light").await;
    instructor
        .assert_accessible("instructor, following, phone width")
        .await;
    instructor
        .screenshot(&screenshot_path("a11y-instructor-phone"))
        .await;
    student.close().await;
    instructor.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// Fails unless `expected` come in `order` in that order (other stops may
/// come between them).
fn assert_in_order(order: &[String], expected: &[&str]) {
    let mut at = 0;
    for stop in order {
        if at < expected.len() && stop == expected[at] {
            at += 1;
        }
    }
    assert_eq!(
        at,
        expected.len(),
        "Tab reaches {:?} out of order or not at all; the order was:\n{}",
        expected.get(at),
        order.join("\n")
    );
}

/// Task 3 by keyboard alone: Tab reaches each control it needs, Enter and
/// Space press buttons, the arrow keys choose the task and step through
/// the log (a screen reader is told the selected event in words), and
/// Escape goes back to live. Then Tab walks the whole page in the order
/// it is laid out (the lab's controls, the composer, the trace's toolbar,
/// diagram, filters and log, the exports, the selected event, the code),
/// every stop with a visible focus ring and a name a screen reader says.
#[tokio::test(flavor = "multi_thread")]
async fn the_student_page_works_by_keyboard_in_a_sensible_order() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1366, 768).await;

    // Choose Task 3 with the arrow keys.
    browser.tab_to("task-select", 10).await;
    for _ in 0..4 {
        if eval(
            &browser,
            "return document.getElementById('task-select').value;",
        )
        .await
            == "echo"
        {
            break;
        }
        browser.press(Key::Down, false).await;
    }
    browser
        .wait_until(
            "Task 3 chosen by keyboard",
            "return document.getElementById('task-select').value;",
            |v| v == "echo",
        )
        .await;
    browser.tab_to("start-server", 5).await;
    browser.press(Key::Enter, false).await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=server][data-call=listen]",
        "listen(5)",
    )
    .await;
    browser.tab_to("connect-client", 10).await;
    browser.press(Key::Space, false).await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=connected]",
        "",
    )
    .await;
    browser.tab_to("message-input", 10).await;
    browser
        .client
        .active_element()
        .await
        .expect("the message box")
        .send_keys("by keyboard")
        .await
        .expect("type");
    browser.press(Key::Enter, false).await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "by keyboard",
    )
    .await;

    // Step through the log with the arrow keys.
    browser.tab_to("event-log", 30).await;
    browser.press(Key::Home, false).await;
    let spoken = browser
        .wait_until(
            "Home to select the first event, said in words",
            "return document.getElementById('selection-spoken').textContent;",
            |v| v.as_str().is_some_and(|t| t.starts_with("Selected: ")),
        )
        .await;
    assert!(
        spoken.as_str().is_some_and(
            |t| t.contains("socket(AF_INET, SOCK_STREAM)") && t.contains("milliseconds")
        ),
        "the first event, said: {spoken}"
    );
    browser.press(Key::Down, false).await;
    browser
        .wait_until(
            "ArrowDown to select bind()",
            "const r = document.querySelector('#event-log .event-row[aria-current=true]'); \
             return r && r.dataset.call;",
            |v| v == "bind",
        )
        .await;
    browser
        .screenshot(&screenshot_path("a11y-keyboard-log"))
        .await;
    browser.press(Key::Escape, false).await;
    browser
        .wait_until(
            "Escape to go back to live",
            "return document.querySelector('#event-log .event-row[aria-current=true]') === null;",
            |v| *v == true,
        )
        .await;
    // Select an event again so that the selected event's panel is on the
    // page for the walk below.
    browser.press(Key::End, false).await;
    browser
        .wait_until(
            "End to select the last event",
            "return document.querySelector('#event-log .event-row[aria-current=true]') !== null;",
            |v| *v == true,
        )
        .await;

    // The whole page, by Tab from the top: nothing comes before the
    // first button of the title bar (Shift+Tab leaves the page).
    eval(
        &browser,
        "document.getElementById('code-view-toggle').focus(); return true;",
    )
    .await;
    browser.press(Key::Tab, true).await;
    assert!(
        browser.focused().await.is_none(),
        "something comes before the title bar's first button"
    );
    let order = browser.tab_order(80).await;
    // The controls a student uses, in the order the page lays them out.
    let expected = [
        "#code-view-toggle",
        "#projector-toggle",
        "#theme-toggle",
        "#task-select",
        "#start-server",
        "#stop-server",
        "#pause-accept",
        "#connect-client",
        "#connect-public",
        "#target-input",
        "#connect-target",
        "#client-select",
        "#message-input",
        "#send-mode",
        "#shutdown-button",
        "#close-button",
        "#step-back",
        "#play",
        "#step-forward",
        "#play-speed",
        "#live-button",
        "#clear-trace",
        "div.diagram-scroll",
        "#filter-conn",
        "#filter-kind",
        "#search-input",
        "#event-log",
        "#export-json",
        "#export-mermaid",
        "#export-svg",
        "#import-json",
        "section.panel.detail",
        "#lab-code",
    ];
    assert_in_order(&order, &expected);
    // Glyphs are drawn, not read out: the play button is called "Play".
    let play = browser.accessible("#play").await;
    assert_eq!(
        play.first().map(|a| a.name.as_str()),
        Some("Play"),
        "{play:?}"
    );
    // Shift+Tab walks the same way back.
    eval(
        &browser,
        "document.getElementById('lab-code').focus(); return true;",
    )
    .await;
    for back in order.iter().rev().skip(1).take(3) {
        browser.press(Key::Tab, true).await;
        let now = browser.focused().await.map(|(_, ring)| ring.what);
        assert_eq!(now.as_ref(), Some(back), "Shift+Tab from the code panel");
    }
    browser
        .screenshot(&screenshot_path("a11y-focus-code"))
        .await;
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A screen reader reads each log row as one sentence in words: the side
/// and connection, the call and what it returned, the bytes and their
/// text, and the times in milliseconds, without the hex, the arrows or
/// "+0.120 ms" (those are hidden from it). Read from Chromium's own
/// accessibility tree. The scrolling panels are named regions.
#[tokio::test(flavor = "multi_thread")]
async fn the_trace_reads_in_words_to_a_screen_reader() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let browser = open_page(&bridge, 1366, 768).await;
    start_and_connect(&browser, "echo").await;
    type_and_send(&browser, "hello lab").await;
    wait_for_row(
        &browser,
        ".event-row[data-lane=client][data-call=recv]",
        "hello lab",
    )
    .await;
    let rows = browser.accessible_text("#event-log .event-row").await;
    for row in &rows {
        println!("row: {row}");
    }
    assert!(rows.len() >= 10, "too few rows: {rows:#?}");
    for row in &rows {
        assert!(
            (row.starts_with("Server") || row.starts_with("Client"))
                && row.contains(". At ")
                && row.contains(" milliseconds"),
            "a row without its side or time in words: {row:?}"
        );
        for noise in ["→", "←", " ms", "+0.", "->"] {
            assert!(!row.contains(noise), "{noise:?} read out in {row:?}");
        }
    }
    let listen = rows
        .iter()
        .find(|r| r.contains("listen(5)"))
        .expect("a listen(5) row");
    assert!(
        listen.starts_with("Server: set up, listen(5). At "),
        "{listen:?}"
    );
    let echoed = rows
        .iter()
        .find(|r| r.starts_with("Client, connection 1: received, recv() returned 9 bytes"))
        .unwrap_or_else(|| panic!("no client recv row in {rows:#?}"));
    assert!(
        echoed.contains("as text \"hello lab\"")
            && echoed.contains("milliseconds after the previous event"),
        "{echoed:?}"
    );
    assert!(!echoed.contains("68 65 6c"), "hex read out: {echoed:?}");

    // The views a keyboard reaches are named for a screen reader.
    let named = [
        ("#event-log", "log", "Event log"),
        (".diagram-scroll", "group", "Sequence diagram"),
        ("#lab-code", "region", "The lab's code"),
    ];
    for (css, role, name) in named {
        let found = browser.accessible(css).await;
        assert!(
            found
                .first()
                .is_some_and(|a| a.role == role && a.name.starts_with(name)),
            "{css}: {found:?}, expected {role} {name:?}…"
        );
    }
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// The instructor's page by keyboard alone: Tab reaches the session's
/// follow button and Enter follows it; Enter on "Project this session"
/// projects it and moves the focus to "Back to all sessions", whose Enter
/// comes back with the focus on "Project" again. Tab walks the page in
/// the order it is laid out (the title bar, the list, the session's bar,
/// its diagram, filters and log, the code), with a visible focus ring and
/// a name at every stop.
#[tokio::test(flavor = "multi_thread")]
async fn the_instructor_page_works_by_keyboard() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let student = open_page(&bridge, 1280, 720).await;
    start_and_connect(&student, "echo").await;
    let instructor = open_instructor(&bridge, &bridge.instructor_token, 1366, 768).await;
    instructor
        .wait_until(
            "the student's session in the list",
            "return document.querySelector('#session-list .session-row[data-open=true]') !== null;",
            |v| *v == true,
        )
        .await;
    instructor.tab_to_match(".follow-button", 10).await;
    instructor.press(Key::Enter, false).await;
    wait_for_row(
        &instructor,
        ".event-row[data-lane=client][data-call=connected]",
        "",
    )
    .await;
    instructor.tab_to("project-button", 20).await;
    instructor.press(Key::Enter, false).await;
    instructor
        .wait_until(
            "projecting, with the focus on Back",
            "return [document.documentElement.dataset.projector || null, document.activeElement.id];",
            |v| v[0] == "on" && v[1] == "back-button",
        )
        .await;
    instructor.press(Key::Enter, false).await;
    instructor
        .wait_until(
            "back to the list, with the focus on Project",
            "return [document.getElementById('session-list') !== null, document.activeElement.id];",
            |v| v[0] == true && v[1] == "project-button",
        )
        .await;

    eval(
        &instructor,
        "document.getElementById('theme-toggle').focus(); return true;",
    )
    .await;
    instructor.press(Key::Tab, true).await;
    assert!(
        instructor.focused().await.is_none(),
        "something comes before the title bar's button"
    );
    let order = instructor.tab_order(60).await;
    assert_in_order(
        &order,
        &[
            "#theme-toggle",
            "button.follow-button",
            "#project-button",
            "div.diagram-scroll",
            "#filter-conn",
            "#filter-kind",
            "#search-input",
            "#event-log",
            "#lab-code",
        ],
    );
    student.close().await;
    instructor.close().await;
    bridge.stop().await.expect("bridge stops");
}
