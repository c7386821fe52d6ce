//! How fast the page is in a real headless Chromium: the time from
//! navigation to "connected", and the time to show one more event when the
//! trace already holds 10,000.

use crate::client::{Endpoints, Error};
use e2e::browser::{Browser, TempDir};
use fantoccini::Locator;
use protocol::{Bytes, Lane, Step, TraceEvent};
use serde_json::{Value, json};

/// Events already in the trace when the append is timed.
const BACKLOG_EVENTS: usize = 10_000;
/// Appends timed (the median is reported).
const APPENDS: usize = 5;

pub async fn measure(ep: Endpoints) -> Result<Vec<(&'static str, Value)>, Error> {
    let browser = Browser::start(1280, 720).await;
    let result = measure_in(&browser, ep).await;
    browser.close().await;
    result
}

async fn measure_in(browser: &Browser, ep: Endpoints) -> Result<Vec<(&'static str, Value)>, Error> {
    let mut out = Vec::new();
    browser.client.goto(&format!("http://{}/", ep.http)).await?;
    // The page marks `socket-lab:connected` (Performance API) when its
    // WebSocket to the bridge opens; its startTime is ms since navigation.
    let connected = browser
        .wait_until(
            "the page to connect",
            "const m = performance.getEntriesByName('socket-lab:connected'); \
             return m.length ? m[0].startTime : null;",
            |v| v.is_number(),
        )
        .await;
    out.push((
        "navigation_to_connected_ms",
        json!(round(connected.as_f64())),
    ));

    // Load a 10,000-event trace the way a student loads an export.
    let dir = TempDir::new("socket-lab-bench-trace");
    let file = dir.path().join("trace.json");
    std::fs::write(
        &file,
        serde_json::to_string(&synthetic_trace(BACKLOG_EVENTS))?,
    )?;
    browser
        .client
        .find(Locator::Id("import-json"))
        .await?
        .send_keys(&file.display().to_string())
        .await?;
    browser
        .wait_until(
            "the trace to load",
            "return document.body.innerText.includes('Trace loaded');",
            |v| v == &json!(true),
        )
        .await;

    // A live connection, so that a click on send() appends real events.
    browser
        .client
        .find(Locator::Id("task-select"))
        .await?
        .select_by_value("echo")
        .await?;
    browser
        .client
        .find(Locator::Id("start-server"))
        .await?
        .click()
        .await?;
    browser
        .wait_until(
            "the server to listen",
            "return !!document.querySelector('#event-log .event-row[data-call=listen]');",
            |v| v == &json!(true),
        )
        .await;
    browser
        .client
        .find(Locator::Id("connect-client"))
        .await?
        .click()
        .await?;
    browser
        .wait_until(
            "the client to connect",
            "return !!document.querySelector('#event-log .event-row[data-lane=client][data-call=connected]');",
            |v| v == &json!(true),
        )
        .await;

    // Time from the click on send() to the new row being in the DOM. This
    // includes the trip to the bridge and back (a fraction of a ms here),
    // so it is an upper bound on the page's own append time.
    let mut times = Vec::new();
    for i in 0..APPENDS {
        let marker = format!("bench-{i}");
        browser
            .client
            .find(Locator::Id("message-input"))
            .await?
            .send_keys(&marker)
            .await?;
        let script = format!(
            "const done = arguments[arguments.length - 1];
             const marker = {marker:?};
             const seen = () => Array.from(document.querySelectorAll(
               '#event-log .event-row[data-lane=client][data-call=send]'))
               .some(r => r.innerText.includes(marker));
             const t0 = performance.now();
             const obs = new MutationObserver(() => {{
               if (seen()) {{ obs.disconnect(); done(performance.now() - t0); }}
             }});
             obs.observe(document.body, {{ childList: true, subtree: true, characterData: true }});
             document.getElementById('send-button').click();
             setTimeout(() => {{ obs.disconnect(); done(null); }}, 10000);"
        );
        let took = browser.client.execute_async(&script, vec![]).await?;
        match took.as_f64() {
            Some(ms) => times.push(ms),
            None => return Err("the sent message never showed in the log".into()),
        }
    }
    times.sort_by(f64::total_cmp);
    out.push(("trace_events_before_append", json!(BACKLOG_EVENTS)));
    out.push((
        "append_event_ms_median",
        json!(round(Some(times[times.len() / 2]))),
    ));
    out.push(("append_event_ms_max", json!(round(times.last().copied()))));
    Ok(out)
}

/// A plausible echo conversation of `n` events.
fn synthetic_trace(n: usize) -> Vec<TraceEvent> {
    (0..n)
        .map(|i| {
            let data = Bytes(format!("message {}\n", i / 4).into_bytes());
            let (lane, step) = match i % 4 {
                0 => (Lane::Client, Step::Send { data }),
                1 => (Lane::Server, Step::Recv { data }),
                2 => (Lane::Server, Step::Send { data }),
                _ => (Lane::Client, Step::Recv { data }),
            };
            TraceEvent {
                at_us: 1_000 + i as u64 * 150,
                lane,
                server: Some(1),
                conn: Some(1),
                server_conn: Some(1),
                source: None,
                step,
            }
        })
        .collect()
}

fn round(v: Option<f64>) -> Option<f64> {
    v.map(|v| (v * 10.0).round() / 10.0)
}
