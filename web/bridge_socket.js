// The page's WebSocket to the bridge (/ws), held in a Web Worker of its
// own, so that a student's programs' socket calls never wait for the
// page's main thread (which is busy drawing the trace).
//
// The page (web/src/hooks/bridge_worker.rs) talks to this worker with
// postMessage, and sees the socket as if it were a WebSocket of its own:
//
//   in:  {t: "open", id, url}, {t: "send", text}, {t: "close"}
//        {t: "attach", program, port, control, data}, {t: "detach", program}
//   out: {t: "open", id}, {t: "message", id, text}, {t: "close", id, code, reason}
//
// A student's program run in the page (web/py/worker.mjs, "atomics"
// mode) is attached here with a MessagePort of its own and the shared
// memory it waits on: its sock_call and program_print messages come
// straight from its worker on the port, in the program's order, and go on
// the socket, and the bridge's sock_reply to
// it goes straight into its shared memory (Atomics.notify wakes it). The
// page still gets every message (sock_reply included) to trace and show;
// it just is no longer on the way.

// The shared control words (see web/py/worker.mjs).
const STATE = 0; // 0: no reply; else the number of the call the reply answers
const LENGTH = 1; // the reply's length in bytes
const WAITING = 3; // the call the program waits for (0: none)
const ACKED = 4; // the latest call the bridge has answered (for posted sends)
// A reply waits at most this long for the program to take the last one
// (only a stale reply the program has not thrown away yet can be there).
const HANDOVER_MS = 50;

const encoder = new TextEncoder();
let socket = null;
// program -> { port, control, data }
const programs = new Map();

function open(id, url) {
  if (socket) {
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.close();
  }
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (err) {
    postMessage({ t: "close", id, code: 1006, reason: "" });
    return;
  }
  socket = ws;
  ws.onopen = () => postMessage({ t: "open", id });
  ws.onmessage = (event) => {
    const text = event.data;
    if (typeof text !== "string") return;
    // The page asks for several of the bridge's messages a frame
    // (`/ws?lines=true`), one to a line; the page splits them the same way.
    let start = 0;
    for (;;) {
      const end = text.indexOf("\n", start);
      if (text.startsWith('{"type":"sock_reply"', start)) deliver(end < 0 ? text.slice(start) : text.slice(start, end));
      if (end < 0) break;
      start = end + 1;
    }
    postMessage({ t: "message", id, text });
  };
  ws.onclose = (event) => {
    if (socket === ws) socket = null;
    postMessage({ t: "close", id, code: event.code, reason: event.reason });
  };
}

// The start of a sock_reply, as the bridge writes it (protocol/src/program.rs).
const REPLY_HEAD = /^\{"type":"sock_reply","program":(\d+),"call":(\d+),"result":/;

// A sock_reply for an attached program: counted as answered, and written
// into its shared memory if it waits for that very call (the answer to a
// posted send is only counted; a reply to a call it gave up on, when it
// was stopped, is for nobody).
function deliver(text) {
  const head = REPLY_HEAD.exec(text);
  if (!head) return;
  const p = programs.get(Number(head[1]));
  if (!p) return;
  const call = Number(head[2]);
  acknowledge(p, call);
  if (Atomics.load(p.control, WAITING) !== call) return;
  answer(p, call, text.slice(head[0].length, -1));
}

function acknowledge(p, call) {
  if (call > Atomics.load(p.control, ACKED)) {
    Atomics.store(p.control, ACKED, call);
    Atomics.notify(p.control, ACKED);
  }
}

function answer(p, call, text) {
  let bytes = encoder.encode(text);
  if (bytes.length > p.data.length) {
    bytes = encoder.encode(
      JSON.stringify({ err: { errno: "EMSGSIZE", message: "Message too long for the page", kind: "other" } }),
    );
  }
  // The slot is free unless the program has not yet thrown away a stale
  // reply; it does so as soon as it looks (or it was terminated).
  const until = performance.now() + HANDOVER_MS;
  for (;;) {
    const state = Atomics.load(p.control, STATE);
    if (state === 0 || performance.now() > until) break;
    Atomics.wait(p.control, STATE, state, 5);
  }
  p.data.set(bytes);
  Atomics.store(p.control, LENGTH, bytes.length);
  Atomics.store(p.control, STATE, call);
  Atomics.notify(p.control, STATE);
}

function attach(message) {
  const p = {
    port: message.port,
    control: new Int32Array(message.control),
    data: new Uint8Array(message.data),
  };
  programs.set(message.program, p);
  p.port.onmessage = (event) => {
    // One sock_call, already JSON: {call, text, posted}; or a line the
    // program printed: {print: true, text}.
    const { call, text, posted, print } = event.data;
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(text);
      return;
    }
    if (print) return;
    // The page lost its connection to the bridge: the call fails at once
    // rather than waiting for ever (a posted one at the program's next call).
    if (posted) {
      acknowledge(p, call);
      return;
    }
    const why = "The page lost its connection to the bridge";
    answer(p, call, JSON.stringify({ err: { errno: "ENETDOWN", message: why, kind: "other" } }));
  };
}

self.onmessage = (event) => {
  const message = event.data;
  switch (message.t) {
    case "open":
      open(message.id, message.url);
      break;
    case "send":
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(message.text);
      break;
    case "close":
      if (socket) socket.close();
      break;
    case "attach":
      attach(message);
      break;
    case "detach": {
      const p = programs.get(message.program);
      if (p) {
        p.port.close();
        programs.delete(message.program);
      }
      break;
    }
    default:
      break;
  }
};
