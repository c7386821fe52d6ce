//! The bridge serves Pyodide (CPython for the code view) the way browsers
//! need it: under its version, cached for a year, gzipped, with the MIME
//! types module workers and streaming WebAssembly compilation insist on,
//! and cross-origin isolated like everything else the bridge sends.
//!
//! Reads the files `scripts/setup.sh build` put in `pyodide/`.

use bridge::app::{Bridge, RunningBridge};
use bridge::config::BridgeConfig;
use bridge::lab::LabArgs;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The version `web/py/runner.mjs` loads (and `scripts/setup.sh` fetches).
const VERSION: &str = "314.0.7";

fn pyodide_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("pyodide");
    assert!(
        dir.join(VERSION).join("pyodide.asm.wasm").is_file(),
        "Pyodide is not installed: run `scripts/setup.sh build` (make test does) first"
    );
    dir
}

async fn start(pyodide: Option<PathBuf>) -> RunningBridge {
    let config = BridgeConfig {
        pyodide_dir: pyodide,
        ..BridgeConfig::default()
    };
    let lab = LabArgs {
        lab: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        ..LabArgs::default()
    };
    Bridge::start(config, &lab).await.expect("start the bridge")
}

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// One HTTP/1.1 GET, as a browser sends it (gzip accepted).
async fn get(bridge: &RunningBridge, path: &str) -> Reply {
    let mut tcp = TcpStream::connect(bridge.http_addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: close\r\n\r\n",
        bridge.http_addr
    );
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// The interpreter's wasm and module come with a year of caching, their
/// right MIME types, gzipped, and cross-origin isolated.
#[tokio::test]
async fn pyodide_is_served_cacheable_with_the_right_types() {
    let bridge = start(Some(pyodide_dir())).await;
    let wasm = get(&bridge, &format!("/pyodide/{VERSION}/pyodide.asm.wasm")).await;
    assert_eq!(wasm.status, 200);
    assert_eq!(wasm.headers["content-type"], "application/wasm");
    assert_eq!(
        wasm.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(wasm.headers["content-encoding"], "gzip");
    assert_eq!(wasm.headers["cross-origin-embedder-policy"], "require-corp");
    assert_eq!(wasm.headers["cross-origin-resource-policy"], "same-origin");
    // Gzip's magic number: the 9.6 MB file travels as about 3.5 MB.
    assert_eq!(&wasm.body[..2], &[0x1f, 0x8b]);

    for module in ["pyodide.mjs", "pyodide.asm.mjs"] {
        let reply = get(&bridge, &format!("/pyodide/{VERSION}/{module}")).await;
        assert_eq!(reply.status, 200, "{module}");
        assert_eq!(reply.headers["content-type"], "text/javascript", "{module}");
    }
    let stdlib = get(&bridge, &format!("/pyodide/{VERSION}/python_stdlib.zip")).await;
    assert_eq!(stdlib.status, 200);
    assert_eq!(&stdlib.body[..2], b"PK", "the zip as it is");
    bridge.stop().await.expect("bridge stops");
}

/// A missing file is a plain 404 that says how to install Pyodide, never
/// cached and never the page's index.html in its place.
#[tokio::test]
async fn a_missing_pyodide_says_how_to_install_it() {
    let bridge = start(Some(pyodide_dir())).await;
    let missing = get(&bridge, &format!("/pyodide/{VERSION}/no-such-file.whl")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.headers["cache-control"], "no-store");
    assert!(String::from_utf8_lossy(&missing.body).contains("scripts/setup.sh build"));
    bridge.stop().await.expect("bridge stops");

    let bridge = start(None).await;
    let none = get(&bridge, &format!("/pyodide/{VERSION}/pyodide.mjs")).await;
    assert_eq!(none.status, 404);
    assert!(String::from_utf8_lossy(&none.body).contains("--pyodide DIR"));
    bridge.stop().await.expect("bridge stops");
}
