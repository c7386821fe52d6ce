//! The page's `/ws` socket, held in a Web Worker (`dist/bridge_socket.js`,
//! from `web/bridge_socket.js`) so that a student's programs' socket calls
//! go from their Python worker to the bridge and back without waiting for
//! the page's main thread, which may be busy drawing the trace.
//!
//! [`open_socket`] gives an object that behaves as the browser's
//! `WebSocket` does for [`super::socket::Reconnecting`] (`readyState`,
//! `send`, `close`; `open`, `message` and `close` events, the last with
//! `code` and `reason`), backed by the worker. [`program_channel`] is what the
//! runner (`web/py/runner.mjs`) attaches each program's own port and
//! shared memory to. Where a worker cannot be started, the page uses a
//! plain `WebSocket` and the runner its slower way through the page.

use wasm_bindgen::prelude::*;
use web_sys::WebSocket;

/// The worker's script, relative to the page.
pub const WORKER_SCRIPT: &str = "bridge_socket.js";

#[wasm_bindgen(inline_js = r#"
let worker = null;
let nextId = 1;
const sockets = new Map();
function bridgeWorker(script) {
  if (worker === null) {
    try {
      worker = new Worker(new URL(script, document.baseURI), { name: "bridge" });
    } catch (err) {
      worker = false;
      return false;
    }
    worker.onmessage = (event) => {
      const message = event.data;
      const socket = sockets.get(message.id);
      if (socket) socket.fromWorker(message);
    };
  }
  return worker;
}
// The subset of WebSocket the page uses, over the worker: real open,
// message and close events (the page listens with addEventListener).
class WorkerSocket extends EventTarget {
  constructor(worker, url) {
    super();
    this.worker = worker;
    this.id = nextId++;
    this.readyState = 0;
    this.onopen = this.onmessage = this.onclose = null;
    sockets.set(this.id, this);
    worker.postMessage({ t: "open", id: this.id, url });
  }
  send(text) {
    if (this.readyState === 0) throw new DOMException("Still in CONNECTING state.", "InvalidStateError");
    if (this.readyState === 1) this.worker.postMessage({ t: "send", text: String(text) });
  }
  close() {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.worker.postMessage({ t: "close" });
  }
  fromWorker(message) {
    let event = null;
    if (message.t === "open") {
      this.readyState = 1;
      event = new Event("open");
    } else if (message.t === "message") {
      event = new MessageEvent("message", { data: message.text });
    } else if (message.t === "close") {
      this.readyState = 3;
      sockets.delete(this.id);
      event = new CloseEvent("close", { code: message.code, reason: message.reason, wasClean: message.code === 1000 });
    }
    if (event === null) return;
    const handler = this["on" + event.type];
    if (handler) handler.call(this, event);
    this.dispatchEvent(event);
  }
}
export function open_socket(script, url) {
  const worker = bridgeWorker(script);
  return worker ? new WorkerSocket(worker, url) : new WebSocket(url);
}
export function program_channel(script) {
  const worker = bridgeWorker(script);
  if (!worker) return null;
  return {
    attach(program, port, control, data) {
      worker.postMessage({ t: "attach", program, port, control, data }, [port]);
    },
    detach(program) {
      worker.postMessage({ t: "detach", program });
    },
  };
}
"#)]
extern "C" {
    #[wasm_bindgen(catch, js_name = open_socket)]
    fn open_socket_js(script: &str, url: &str) -> Result<WebSocket, JsValue>;
    #[wasm_bindgen(js_name = program_channel)]
    fn program_channel_js(script: &str) -> JsValue;
}

/// A socket to `url`, held by the worker (or a plain `WebSocket` where no
/// worker can start). Only the methods and handlers listed above may be
/// used on it.
pub fn open_socket(url: &str) -> Result<WebSocket, JsValue> {
    open_socket_js(WORKER_SCRIPT, url)
}

/// `{ attach(program, port, control, data), detach(program) }` for the
/// runner, or `null` where no worker can start.
pub fn program_channel() -> JsValue {
    program_channel_js(WORKER_SCRIPT)
}
