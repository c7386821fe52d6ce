//! A student's Python in the page, in a real headless Chromium: how long
//! from Run to the program's first socket call, cold (Python starts in a
//! fresh page) and warm (the spare interpreter the runner keeps), and an
//! echo server and client written in Python doing round trips of 32 bytes
//! through the bridge (four socket calls each, every one a trip from the
//! worker through the page to the bridge and back).
//!
//! The runner is driven as the browser tests drive it
//! (`tests/tests/browser/py_harness.js`), on a `/ws` session of its own.

use crate::client::{Endpoints, Error};
use e2e::browser::Browser;
use serde_json::{Value, json};

const HARNESS: &str = include_str!("../../../tests/browser/py_harness.js");

const SERVER: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((socket.gethostname(), 1234))
s.listen(5)
conn, addr = s.accept()
while True:
    data = conn.recv(1024)
    if not data:
        break
    conn.sendall(data)
conn.close()
"#;

fn client(round_trips: usize) -> String {
    format!(
        r#"import socket
import time

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
message = b"0123456789abcdef0123456789abcdef"
start = time.time()
for _ in range({round_trips}):
    s.sendall(message)
    echoed = b""
    while len(echoed) < len(message):
        echoed += s.recv(1024)
print(time.time() - start)
s.close()
"#
    )
}

/// Cold and warm start, and the echo pair's rate, as one report line.
pub async fn run(ep: Endpoints, round_trips: usize) -> Value {
    let browser = Browser::start(1280, 720).await;
    let result = measure(&browser, ep, round_trips).await;
    browser.close().await;
    match result {
        Ok(report) => report,
        Err(err) => json!({ "bench": "python_in_page", "error": err.to_string() }),
    }
}

async fn measure(browser: &Browser, ep: Endpoints, round_trips: usize) -> Result<Value, Error> {
    browser.client.goto(&format!("http://{}/", ep.http)).await?;
    let harness = format!("return (async () => {{ {HARNESS} }})();");
    let capability = browser.client.execute(&harness, vec![Value::Null]).await?;
    let run = |program: u32, file: &'static str, source: String| async move {
        browser
            .client
            .execute(
                "window.__py.run(arguments[0], arguments[1], arguments[2]); return true;",
                vec![json!(program), json!(file), json!(source)],
            )
            .await
    };
    run(1, "server.py", SERVER.to_string()).await?;
    browser
        .wait_until(
            "server.py to call accept()",
            "return window.__py.sent.some(([, m]) => m.type === 'sock_call' && m.program === 1 \
             && m.op.op === 'accept');",
            |v| v == &json!(true),
        )
        .await;
    // The spare interpreter, ready as it is when a student switches files.
    browser
        .client
        .execute("return window.__py.runner.warm().then(() => true);", vec![])
        .await?;
    run(2, "client.py", client(round_trips)).await?;
    let seconds = browser
        .wait_until(
            "client.py to finish",
            "const s = window.__py.state(2); \
             return s && s[0] !== 'running' && s[0] !== 'loading' ? window.__py.text(2) : null;",
            |v| v.is_string(),
        )
        .await;
    let seconds: f64 = seconds
        .as_str()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| format!("client.py did not finish its round trips: {seconds}"))?;
    let first_call = |program: u32| {
        let script = format!("return window.__py.firstCallMs({program});");
        async move { browser.client.execute(&script, vec![]).await }
    };
    let cold = first_call(1).await?;
    let warm = first_call(2).await?;
    let round = |v: &Value| v.as_f64().map(|ms| ms.round());
    Ok(json!({
        "bench": "python_in_page",
        "blocking": capability["mode"],
        "run_to_first_call_cold_ms": round(&cold),
        "run_to_first_call_warm_ms": round(&warm),
        "echo_round_trips": round_trips,
        "echo_payload_bytes": 32,
        "echo_round_trips_per_sec": (round_trips as f64 / seconds.max(1e-6)).round(),
    }))
}
