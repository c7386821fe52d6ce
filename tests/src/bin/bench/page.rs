//! Page weight and page speed, in a real headless Chromium.

use crate::client::Endpoints;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// Bytes and gzipped bytes of the page's wasm, JS and CSS, and how fast it
/// connects in Chromium.
pub async fn run(dist: &Path, ep: Endpoints) -> Value {
    let mut report = json!({ "bench": "page" });
    let mut raw_total = 0u64;
    let mut gz_total = 0u64;
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dist) {
        for entry in entries.flatten() {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "wasm" | "js" | "css") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let gz = gzip_len(&bytes);
            raw_total += bytes.len() as u64;
            gz_total += gz;
            files.push(json!({
                "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "bytes": bytes.len(),
                "gzip_bytes": gz,
            }));
        }
    }
    report["files"] = json!(files);
    report["total_bytes"] = json!(raw_total);
    report["total_gzip_bytes"] = json!(gz_total);
    match crate::page_speed::measure(ep).await {
        Ok(speed) => {
            for (k, v) in speed {
                report[k] = v;
            }
        }
        Err(e) => report["speed_error"] = json!(e.to_string()),
    }
    report
}

/// gzip -9's output size, by the system's gzip (no compression crate needed).
fn gzip_len(bytes: &[u8]) -> u64 {
    let child = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else { return 0 };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(bytes);
    }
    child
        .wait_with_output()
        .map(|o| o.stdout.len() as u64)
        .unwrap_or(0)
}
