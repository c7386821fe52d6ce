//! How fast the page is in a real headless Chromium: time from navigation
//! to "connected", and the time to show one more event when the trace
//! already holds 10,000.

use crate::client::{Endpoints, Error};
use e2e::browser::Browser;
use serde_json::{Value, json};

pub async fn measure(ep: Endpoints) -> Result<Vec<(&'static str, Value)>, Error> {
    let browser = Browser::start(1280, 720).await;
    let url = format!("http://{}/", ep.http);
    let mut out = Vec::new();
    let result = async {
        browser.client.goto(&url).await?;
        // The page stamps `data-open-ms` (performance.now(), i.e. ms since
        // navigation started) on #ws-status when its WebSocket opens.
        let opened = browser
            .wait_until(
                "the page to connect",
                "const s = document.getElementById('ws-status'); \
                 return s && s.dataset.state === 'open' ? Number(s.dataset.openMs) : null;",
                |v| v.is_number(),
            )
            .await;
        out.push(("navigation_to_connected_ms", json!(round(opened.as_f64()))));
        Ok::<_, Error>(())
    }
    .await;
    browser.close().await;
    result?;
    Ok(out)
}

fn round(v: Option<f64>) -> Option<f64> {
    v.map(|v| (v * 10.0).round() / 10.0)
}
