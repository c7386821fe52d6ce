//! The code view's speed in a real headless Chromium, against the bridge:
//! the time from pressing Run to the program's first socket call in the
//! trace, cold (the page's first Python) and warm (the runner keeps a
//! spare interpreter ready after the first run), and the echo round trips
//! per second between a student's client and echo server, both in the
//! page, 32 bytes each (four socket calls per round trip, each one a trip
//! to the bridge and back, each traced).

use crate::client::Endpoints;
use e2e::browser::Browser;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Round trips the client makes.
const ROUND_TRIPS: u32 = 1000;
/// Loading Python on a busy two-core machine can take a while.
const PATIENCE: Duration = Duration::from_secs(120);
/// How often a wait looks at the page. Every look takes the page's main
/// thread, which the echo shares two cores with, so looks are few and
/// cheap (`textContent`, which needs no layout); no figure waits for a
/// look (the echo is timed in Python, a run by a MutationObserver).
const POLL: Duration = Duration::from_millis(100);

const ECHO_SERVER: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)
while True:
    clientsocket, address = s.accept()
    while True:
        data = clientsocket.recv(1024)
        if not data:
            break
        clientsocket.sendall(data)
    clientsocket.close()
"#;

fn echo_client() -> String {
    format!(
        r#"import socket
import time

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
message = b"x" * 32
start = time.perf_counter()
for i in range({ROUND_TRIPS}):
    s.sendall(message)
    got = b""
    while len(got) < len(message):
        got += s.recv(1024)
took = time.perf_counter() - start
print(f"ROUNDS {ROUND_TRIPS} SECONDS {{took:.4f}}")
s.close()
"#
    )
}

pub async fn run(ep: Endpoints) -> Value {
    let browser = Browser::start(1366, 768).await;
    let mut report =
        json!({ "bench": "code_view", "round_trips": ROUND_TRIPS, "payload_bytes": 32 });
    match measure(&browser, ep, &mut report).await {
        Ok(()) => {}
        Err(why) => report["error"] = json!(why),
    }
    browser.close().await;
    report
}

async fn eval(browser: &Browser, script: &str) -> Result<Value, String> {
    browser
        .client
        .execute(script, vec![])
        .await
        .map_err(|e| e.to_string())
}

async fn wait(browser: &Browser, what: &str, script: &str) -> Result<Value, String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = eval(browser, script).await.unwrap_or(Value::Null);
        if !value.is_null() && value != json!(false) {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("waited {PATIENCE:?} for {what}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Presses Run for `side` and returns the milliseconds until that
/// program's first `socket()` shows in the trace.
async fn run_to_first_call(browser: &Browser, side: &str) -> Result<f64, String> {
    eval(
        browser,
        &format!(
            "window.__first = window.__first || {{}};
             const seen = () => document.querySelector('#event-log .event-row[data-lane={side}][data-call=socket]');
             const observer = new MutationObserver(() => {{
                 if (!window.__first.{side} && seen()) {{ window.__first.{side} = performance.now(); observer.disconnect(); }}
             }});
             observer.observe(document.body, {{ subtree: true, childList: true }});
             window.__run_{side} = performance.now();
             document.getElementById('run-{side}').click();
             return true;"
        ),
    )
    .await?;
    let ms = wait(
        browser,
        &format!("{side}.py's first socket call"),
        &format!(
            "return window.__first.{side} ? window.__first.{side} - window.__run_{side} : null;"
        ),
    )
    .await?;
    Ok(round(ms.as_f64().unwrap_or(0.0)))
}

async fn measure(browser: &Browser, ep: Endpoints, report: &mut Value) -> Result<(), String> {
    let page = format!("http://{}/", ep.http);
    // The programs go in as a reload finds them: saved in the browser.
    browser
        .client
        .goto(&page)
        .await
        .map_err(|e| e.to_string())?;
    browser
        .client
        .execute(
            "localStorage.setItem('socket-lab.code.server.py', arguments[0]);
             localStorage.setItem('socket-lab.code.client.py', arguments[1]);
             localStorage.setItem('socket-lab.codeview', '1');
             return true;",
            vec![json!(ECHO_SERVER), json!(echo_client())],
        )
        .await
        .map_err(|e| e.to_string())?;
    browser
        .client
        .goto(&page)
        .await
        .map_err(|e| e.to_string())?;
    wait(
        browser,
        "the bridge, the editors and Python",
        "return document.getElementById('ws-status')?.dataset.state === 'open' \
         && document.getElementById('python-status')?.dataset.state === 'ready' \
         && document.querySelectorAll('.editor[data-ready=true]').length === 2;",
    )
    .await?;

    report["cold_run_to_first_call_ms"] = json!(run_to_first_call(browser, "server").await?);
    wait(
        browser,
        "the server to wait in accept()",
        "return document.getElementById('state-server')?.innerText.includes('accept()');",
    )
    .await?;
    // The runner starts a spare interpreter once the first program made
    // its first call; give it the time a student takes to switch files.
    tokio::time::sleep(Duration::from_secs(5)).await;
    report["warm_run_to_first_call_ms"] = json!(run_to_first_call(browser, "client").await?);

    let before = written_to_pages(ep).await;
    let line = wait(
        browser,
        "the echo client's round trips",
        "const t = document.getElementById('output-client')?.textContent ?? '';
         const m = t.match(/ROUNDS (\\d+) SECONDS ([0-9.]+)/);
         return m ? [Number(m[1]), Number(m[2])] : (document.getElementById('state-client')?.dataset.state === 'failed' ? t : null);",
    )
    .await?;
    let (rounds, seconds) = match (line[0].as_f64(), line[1].as_f64()) {
        (Some(r), Some(s)) if s > 0.0 => (r, s),
        _ => return Err(format!("the echo client failed: {line}")),
    };
    report["echo_seconds"] = json!(seconds);
    // How many messages the bridge wrote the page per round trip, and in
    // how many WebSocket frames (each one a wake-up for the browser's
    // network service, the page's socket worker and its main thread);
    // from just after the client started to its end (its close is in).
    if let (Some(before), Some(after)) = (before, written_to_pages(ep).await) {
        let per_round = |i: usize| round((after[i] - before[i]) as f64 / rounds);
        report["messages_to_page_per_round_trip"] = json!(per_round(0));
        report["frames_to_page_per_round_trip"] = json!(per_round(1));
    }
    report["echo_round_trips_per_s"] = json!(round(rounds / seconds));
    let _ = eval(
        browser,
        "document.getElementById('stop-server').click(); return true;",
    )
    .await;
    Ok(())
}

/// The messages and frames the bridge has written to pages so far.
async fn written_to_pages(ep: Endpoints) -> Option<[u64; 2]> {
    let metrics = e2e::soak::metrics(ep.http).await?;
    let count = |key: &str| metrics.get(key).and_then(Value::as_u64);
    Some([count("messages_to_pages")?, count("frames_to_pages")?])
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
