// One student program's interpreter: a module Web Worker running CPython
// (Pyodide). Started by runner.mjs, which it talks to with postMessage.
//
// A socket call must block, as it does in a terminal, while the page does
// the round trip to the bridge. Two ways, chosen by the runner:
//
// - "atomics": the worker waits with Atomics.wait on a SharedArrayBuffer
//   until the runner writes the reply into it (needs a cross-origin
//   isolated page). The wait wakes every 100 ms to look at the interrupt
//   buffer, so Stop ends even a blocked accept().
// - "jspi": the call returns a promise and Pyodide's run_sync suspends
//   Python until it settles (JavaScript Promise Integration); the worker's
//   event loop stays free to receive the reply and Stop.
//
// In "atomics" mode the runner may give `run` a MessagePort to the page's
// socket worker (web/bridge_socket.js): each call then goes there as the
// sock_call's JSON, and the reply is written into `data` there, so the
// page's main thread is not on a call's way (the runner only gets a
// "sent" note of it). There a blocking TCP send() or sendall() is
// "posted": it returns once its bytes are handed over, as a kernel's
// returns once they are in its buffer, so an echo's round trip waits for
// two answers, not four. At most MAX_POSTED of them are unanswered (the
// socket worker counts answers in ACKED); the program waits for all of
// them before it prints, asks for input or ends, so the trace keeps its
// order and its last bytes are sent.
//
// Messages in: init, run, and for "jspi" reply and stop.
// Messages out: ready | init_failed, started, sock_call | sent, output, input, end.

const POLL_MS = 100;
// The control words shared with the runner (Int32Array over a SharedArrayBuffer).
const STATE = 0; // 0: no reply; else the tag of the reply in `data` (the call's number, or INPUT_TAG)
const LENGTH = 1; // its length in bytes
const WAITING = 3; // the call this program waits for (0: none): a reply to another is not written
const ACKED = 4; // the latest call the bridge has answered (written by the socket worker)
// Posted calls that may be unanswered at once (protocol's MAX_POSTED_CALLS).
const MAX_POSTED = 8;
const INPUT_TAG = -1;
const INTERRUPTED = '{"interrupted":true}';

let pyodide = null;
let boot = null;
let mode = "atomics";
let control = null; // Int32Array
let data = null; // Uint8Array
let interrupt = null; // Int32Array, Pyodide's interrupt buffer (2 = SIGINT)
let pending = null; // jspi: the resolve function of the call in flight
let stopping = false;
let port = null; // the socket worker's port for this program's calls, if any
let program = 0;
let calls = 0; // this program's calls so far: each is numbered from 1
let lastPosted = 0; // the latest posted call

const decoder = new TextDecoder();

// Atomics: waits for the reply tagged `tag`, or for Stop. Returns the
// reply's text, or null if the program is being stopped.
function waitForReply(tag) {
  for (;;) {
    const state = Atomics.load(control, STATE);
    if (state === tag) {
      const length = Atomics.load(control, LENGTH);
      // TextDecoder does not read shared memory: copy it out first.
      const text = decoder.decode(data.slice(0, length));
      Atomics.store(control, WAITING, 0);
      Atomics.store(control, STATE, 0);
      Atomics.notify(control, STATE);
      return text;
    }
    if (state !== 0) {
      // A late reply to a call given up when Stop came: nobody's.
      Atomics.store(control, STATE, 0);
      Atomics.notify(control, STATE);
      continue;
    }
    if (Atomics.load(interrupt, 0) !== 0) {
      Atomics.store(control, WAITING, 0);
      // Python raises KeyboardInterrupt itself on our answer; clear the
      // flag so the interpreter does not raise a second one while the
      // program unwinds.
      Atomics.store(interrupt, 0, 0);
      return null;
    }
    Atomics.wait(control, STATE, 0, POLL_MS);
  }
}

// Atomics: waits until the bridge has answered every call up to `call`;
// false if the program is being stopped (Python then raises
// KeyboardInterrupt itself, at its next line).
function waitAnswered(call) {
  for (;;) {
    const acked = Atomics.load(control, ACKED);
    if (acked >= call) return true;
    if (Atomics.load(interrupt, 0) !== 0) return false;
    Atomics.wait(control, ACKED, acked, POLL_MS);
  }
}

// Before the program does something the trace shows in order with its
// calls (a print, input(), its end): its posted sends are answered.
function settlePosted() {
  if (lastPosted !== 0 && control !== null) waitAnswered(lastPosted);
}

// jspi: a promise the runner's `reply` message (or Stop) settles.
function replyPromise() {
  return new Promise((resolve) => {
    pending = resolve;
  });
}

function ask(message, tag) {
  postMessage(message);
  if (mode === "jspi") return replyPromise();
  return waitForReply(tag);
}

// The functions Python calls (module `_socketlab_js`, used by boot.py).
const hooks = {
  mode: "atomics",
  hostname: "socket-lab",
  // One socket call: the op as JSON, settimeout()'s value, the student's
  // line, and whether the program may go on without the answer (a
  // blocking TCP send). Returns the answer's JSON, or undefined (None in
  // Python; null would be JsNull) for a call that was posted.
  call(op, timeoutMs, line, post) {
    calls += 1;
    const call = calls;
    if (port !== null) {
      // Straight to the bridge's socket: the op is JSON already.
      let text = `{"type":"sock_call","program":${program},"call":${call},"op":${op}`;
      if (timeoutMs != null) text += `,"timeout_ms":${timeoutMs}`;
      if (line != null) text += `,"line":${line}`;
      if (post) {
        // The send window: at most MAX_POSTED calls unanswered.
        if (!waitAnswered(call - MAX_POSTED)) return INTERRUPTED;
        text += `,"posted":true}`;
        lastPosted = call;
        port.postMessage({ call, text, posted: true });
        // The page is not told (its "sent" note is what shows a program
        // waiting in a call, and this one does not wait): a message to its
        // busy main thread saved on every send of an echo.
        return undefined;
      }
      text += "}";
      Atomics.store(control, WAITING, call);
      port.postMessage({ call, text });
      postMessage({ type: "sent", call, text });
      return waitForReply(call) ?? INTERRUPTED;
    }
    const message = { type: "sock_call", call, op, timeout_ms: timeoutMs ?? null, line: line ?? null };
    if (mode === "jspi") return ask(message).then((text) => text ?? INTERRUPTED);
    return ask(message, call) ?? INTERRUPTED;
  },
  output(stream, text, line) {
    if (mode === "atomics") {
      settlePosted();
      keepPace();
    }
    // A printed line is traced in order with the program's calls: it goes
    // to the bridge on the calls' own port, never behind a later call.
    // (Without that port, the runner sends `print` on.)
    let print = stream === "stdout" ? printMessage(text, line) : null;
    if (print !== null && port !== null) {
      port.postMessage({ print: true, text: print });
      print = null;
    }
    postMessage({ type: "output", stream, text, print });
  },
  input(prompt) {
    const answer = (text) => (text === null ? "\u0000interrupted" : text);
    if (mode === "jspi") return ask({ type: "input", prompt }).then(answer);
    settlePosted();
    return answer(ask({ type: "input", prompt }, INPUT_TAG));
  },
  // time.sleep(): true if Stop ended it.
  sleep(ms) {
    if (mode === "jspi") {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          pending = null;
          resolve(false);
        }, ms);
        pending = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
    }
    const until = performance.now() + ms;
    for (;;) {
      if (Atomics.load(interrupt, 0) !== 0) {
        Atomics.store(interrupt, 0, 0);
        return true;
      }
      const left = until - performance.now();
      if (left <= 0) return false;
      // Nobody writes word 2: this is a sleep that wakes for Stop's notify.
      Atomics.wait(control, 2, 0, Math.min(left, POLL_MS));
    }
  },
};

// The longest printed line the trace gets (the student's output shows it
// all): the bridge reads messages of at most 64 KiB.
const TRACED_LINE_CHARS = 4096;

// The program_print message for a line the program printed.
function printMessage(text, line) {
  let shown = text.replace(/\n$/, "");
  if (shown.length > TRACED_LINE_CHARS) {
    const more = shown.length - TRACED_LINE_CHARS;
    shown = `${shown.slice(0, TRACED_LINE_CHARS)}… (${more} more characters)`;
  }
  const print = { type: "program_print", program, text: shown };
  if (line != null) print.line = line;
  return JSON.stringify(print);
}

// A terminal makes a program that prints faster than it can show wait;
// so does the page: `while True: print(x)` gets LINES_PER_SECOND lines a
// second (in bursts of as many), not a flood that would freeze the page.
const LINES_PER_SECOND = 2000;
let lineBudget = LINES_PER_SECOND;
let budgetAt = performance.now();
function keepPace() {
  for (;;) {
    const now = performance.now();
    lineBudget = Math.min(LINES_PER_SECOND, lineBudget + ((now - budgetAt) * LINES_PER_SECOND) / 1000);
    budgetAt = now;
    if (lineBudget >= 1 || Atomics.load(interrupt, 0) !== 0) break;
    // Woken early by Stop's notify; the interpreter then sees the interrupt.
    Atomics.wait(control, 2, 0, Math.ceil(((1 - lineBudget) * 1000) / LINES_PER_SECOND));
  }
  lineBudget -= 1;
}

async function fetchText(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}

// How long each part of warming up took (ms), for the runner's `timings`.
const timings = {};
function lap(name, since) {
  const now = performance.now();
  timings[name] = Math.round(now - since);
  return now;
}

async function init(message) {
  let t = performance.now();
  mode = message.mode;
  hooks.mode = mode;
  const [{ loadPyodide }, shimSource, bootSource] = await Promise.all([
    import(message.pyodideUrl + "pyodide.mjs"),
    fetchText(message.shimUrl),
    fetchText(message.bootUrl),
  ]);
  const raw = (stream) => ({
    batched: (text) => postMessage({ type: "output", stream, text: text + "\n", line: null }),
  });
  t = lap("import", t);
  if (message.module) {
    // The runner compiled the interpreter once for the page: instantiate
    // that instead of fetching and compiling 9.6 MB again.
    const module = message.module;
    WebAssembly.instantiateStreaming = async (source, imports) => {
      Promise.resolve(source)
        .then((response) => response.body && response.body.cancel())
        .catch(() => {});
      const instance = await WebAssembly.instantiate(module, imports);
      return { instance, module };
    };
  }
  pyodide = await loadPyodide({
    indexURL: message.pyodideUrl,
    stdout: raw("stdout").batched,
    stderr: raw("stderr").batched,
  });
  if (mode === "atomics") {
    control = new Int32Array(message.control);
    data = new Uint8Array(message.data);
    interrupt = new Int32Array(message.interrupt);
  } else {
    // Only this worker writes it (on Stop), so plain memory will do.
    interrupt = new Int32Array(1);
  }
  t = lap("loadPyodide", t);
  pyodide.setInterruptBuffer(interrupt);
  pyodide.registerJsModule("_socketlab_js", hooks);
  pyodide.FS.mkdirTree("/socketlab");
  pyodide.FS.writeFile("/socketlab/socketlab_boot.py", bootSource);
  pyodide.runPython(
    "import sys\nsys.path.insert(0, '/socketlab')\nimport socketlab_boot\nsys.path.remove('/socketlab')",
  );
  boot = pyodide.pyimport("socketlab_boot");
  t = lap("boot", t);
  boot.prepare(shimSource);
  lap("prepare", t);
}

async function run(message) {
  port = message.port ?? null;
  program = message.program;
  postMessage({ type: "started" });
  let result;
  try {
    const proxy =
      mode === "jspi"
        ? await boot.run.callPromising(message.file, message.source)
        : boot.run(message.file, message.source);
    result = proxy.toJs({ dict_converter: Object.fromEntries });
    proxy.destroy();
    // Its last sends reach the bridge before its end closes its sockets
    // (as a kernel still sends what a program wrote before it exited).
    if (result.state !== "stopped") settlePosted();
  } catch (err) {
    // Only the runner's own failures land here (the program's are
    // caught in boot.py), or a second KeyboardInterrupt while stopping.
    const interrupted = stopping || (err && err.type === "KeyboardInterrupt");
    result = interrupted
      ? { state: "stopped", detail: null }
      : {
          state: "failed",
          detail: {
            type: "RuntimeError",
            message: String(err && err.message ? err.message : err),
            line: null,
            traceback: String(err && err.message ? err.message : err),
            errno: null,
            kind: null,
          },
        };
  }
  postMessage({ type: "end", state: result.state, detail: result.detail ?? null });
}

self.onmessage = async (event) => {
  const message = event.data;
  switch (message.type) {
    case "init":
      try {
        await init(message);
        postMessage({ type: "ready", timings });
      } catch (err) {
        postMessage({ type: "init_failed", message: String(err && err.message ? err.message : err) });
      }
      break;
    case "run":
      await run(message);
      break;
    case "reply": {
      // jspi: the reply to the call in flight (or input's answer).
      const resolve = pending;
      pending = null;
      if (resolve) resolve(message.text);
      break;
    }
    case "stop": {
      // jspi: end a wait in progress now; a running loop sees the
      // interrupt buffer (and the runner terminates us if it does not).
      stopping = true;
      interrupt[0] = 2;
      const resolve = pending;
      pending = null;
      if (resolve) {
        interrupt[0] = 0;
        resolve(null);
      }
      break;
    }
    default:
      break;
  }
};
