// Runs a student's own Python programs in the page, each in its own Web
// Worker (CPython, via Pyodide), their socket calls performed for real by
// the bridge over the page's /ws.
//
// The page imports this lazily, only when the student opens the code view
// (`import("./py/runner.mjs")`, relative to the page), and wires it to the
// session's WebSocket:
//
//   const runner = await createRunner({ send, onOutput, onInput, onState, channel, onSent });
//   runner.run({ program: 1, file: "server.py", source, lane: "server" });
//   runner.stop(1);          // within 0.5 s, even in accept() or `while True: pass`
//   runner.deliver(json, program, call);  // every sock_reply (and program_ended, call null) from /ws
//   runner.warm();           // optional: start a spare interpreter now
//
// Starting Python takes seconds (a 9.6 MB interpreter); a program then
// reaches its first socket call in tens of milliseconds. So call warm() as
// the code view opens: the student's first Run is then warm too. After
// each Run the runner keeps one spare interpreter ready by itself.
//
// The runner builds the program_start, sock_call and program_end messages
// itself, and the worker each program_print (protocol/src/program.rs); the
// page only passes them on. With a `channel` (the page's socket worker,
// web/bridge_socket.js) a program's sock_call and sock_reply skip the
// page: its worker hands each call to the socket worker on a port of its
// own, and the reply is written into its shared memory there; `onSent`
// then only tells the page what was sent. Everything it loads is relative to this file, so the
// page also works under a path prefix (https://host/co223/).

const PYODIDE_VERSION = "314.0.7";
const PYODIDE_URL = new URL(`../pyodide/${PYODIDE_VERSION}/`, import.meta.url).href;
const WORKER_URL = new URL("./worker.mjs", import.meta.url);
const SHIM_URL = new URL("./socket.py", import.meta.url).href;
const BOOT_URL = new URL("./boot.py", import.meta.url).href;

// Stop asks Python to raise KeyboardInterrupt (seen within about 100 ms,
// even in a blocked call); a program that ignores it is terminated after
// this long, so Stop always ends it within half a second.
const HARD_STOP_MS = 400;
// The largest reply the shared buffer holds (the bridge's messages are at
// most 64 KiB).
const REPLY_BYTES = 1 << 20;
// A spare interpreter is started this long after a program's first socket
// call at the latest, so loading it does not slow that program's start.
const SPARE_DELAY_MS = 1500;
// ... and only once no reply has come for this long (the programs are
// quiet), or at the latest this long after it was asked for.
const SPARE_QUIET_MS = 300;
const SPARE_MAX_WAIT_MS = 10000;
const encoder = new TextEncoder();
// What the shared STATE word holds for input()'s answer (a socket call's
// reply is tagged with the call's own number, from 1).
const INPUT_TAG = -1;

// The interpreter's WebAssembly (9.6 MB), compiled once per page and
// handed to every worker: a second interpreter then skips the compile,
// which is most of its start-up. Null if the browser cannot share it (the
// worker then fetches and compiles it itself).
let compiled = null;
function compiledInterpreter() {
  compiled ??= WebAssembly.compileStreaming(fetch(`${PYODIDE_URL}pyodide.asm.wasm`)).catch(() => null);
  return compiled;
}

/// Which way this browser can make a socket call block (see worker.mjs).
export function detectCapability(prefer) {
  const atomics =
    globalThis.crossOriginIsolated === true &&
    typeof SharedArrayBuffer === "function" &&
    typeof Atomics === "object" &&
    typeof Atomics.wait === "function";
  const jspi =
    typeof WebAssembly === "object" &&
    typeof WebAssembly.Suspending === "function" &&
    typeof WebAssembly.promising === "function";
  if (atomics && prefer !== "jspi") {
    return {
      mode: "atomics",
      reason: "The page is cross-origin isolated: Python waits for each socket call on shared memory.",
    };
  }
  if (jspi && prefer !== "atomics") {
    return {
      mode: "jspi",
      reason:
        "The page is not cross-origin isolated, so Python waits for each socket call with " +
        "JavaScript Promise Integration (this browser has it).",
    };
  }
  const how =
    globalThis.isSecureContext === false
      ? "This page came over plain http from another machine, which browsers do not trust " +
        "with the shared memory that Python's blocking socket calls need. Ask your instructor " +
        "to serve Socket Lab over HTTPS (or open it on the bridge's own machine, at " +
        "http://localhost or http://127.0.0.1), or use Chrome 137 or later."
      : "This page is not cross-origin isolated (its server did not send the " +
        "Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy headers), so Python's " +
        "blocking socket calls cannot wait in this browser. Ask your instructor to serve the " +
        "page from the Socket Lab bridge itself, which sends them, or use Chrome 137 or later.";
  return { mode: "none", reason: how };
}

/// One Web Worker with a Python interpreter, used for one program only
/// (a fresh one for each run: nothing is left over from the last).
class Interpreter {
  constructor(mode) {
    this.mode = mode;
    this.isReady = false;
    this.failure = null;
    this.onMessage = () => {};
    this.worker = new Worker(WORKER_URL, { type: "module", name: "python" });
    const init = {
      type: "init",
      mode,
      pyodideUrl: PYODIDE_URL,
      shimUrl: SHIM_URL,
      bootUrl: BOOT_URL,
    };
    if (mode === "atomics") {
      this.control = new Int32Array(new SharedArrayBuffer(4 * 8));
      this.data = new Uint8Array(new SharedArrayBuffer(REPLY_BYTES));
      this.interrupt = new Int32Array(new SharedArrayBuffer(4));
      init.control = this.control.buffer;
      init.data = this.data.buffer;
      init.interrupt = this.interrupt.buffer;
    }
    const started = compiledInterpreter().then((module) => {
      if (module) init.module = module;
      this.worker.postMessage(init);
    });
    this.ready = new Promise((resolve) => {
      this.worker.onmessage = (event) => {
        const message = event.data;
        if (message.type === "ready") {
          this.isReady = true;
          this.timings = message.timings;
          resolve();
        } else if (message.type === "init_failed") {
          this.failure = message.message;
          resolve();
        } else {
          this.onMessage(message);
        }
      };
      this.worker.onerror = (event) => {
        event.preventDefault();
        const text = event.message || "the Python worker could not start";
        if (!this.isReady && this.failure === null) {
          this.failure = text;
          resolve();
        } else {
          this.onMessage({ type: "crashed", message: text });
        }
      };
    }).then(() => started);
  }

  /// Hands the waiting program its reply to call `tag` (or input()'s
  /// answer, INPUT_TAG).
  reply(text, tag) {
    if (this.mode === "jspi") {
      this.worker.postMessage({ type: "reply", text });
      return;
    }
    let bytes = encoder.encode(text);
    if (bytes.length > this.data.length) {
      bytes = encoder.encode(
        JSON.stringify({
          err: { errno: "EMSGSIZE", message: "Message too long for the page", kind: "other" },
        }),
      );
    }
    this.data.set(bytes);
    Atomics.store(this.control, 1, bytes.length);
    Atomics.store(this.control, 0, tag);
    Atomics.notify(this.control, 0);
  }

  /// Asks Python to raise KeyboardInterrupt, waking any wait at once.
  interruptNow() {
    if (this.mode === "jspi") {
      this.worker.postMessage({ type: "stop" });
      return;
    }
    Atomics.store(this.interrupt, 0, 2);
    Atomics.notify(this.control, 0);
    Atomics.notify(this.control, 2);
    Atomics.notify(this.control, 4);
  }

  terminate() {
    this.worker.terminate();
  }
}

class Runner {
  constructor(options) {
    this.send = options.send;
    this.onOutput = options.onOutput ?? (() => {});
    this.onInput = options.onInput ?? (() => Promise.reject(new Error("no input")));
    this.onState = options.onState ?? (() => {});
    this.onSent = options.onSent ?? (() => {});
    this.channel = options.channel ?? null;
    this.capability = detectCapability(options.mode);
    this.programs = new Map();
    this.spare = null;
    this.spareTimer = null;
    // When a reply last came (see spareSoon).
    this.lastReplyAt = -Infinity;
    // The code view is open, so a Run will come: fetch and compile the
    // interpreter now (it is what takes longest on a slow network).
    if (this.capability.mode !== "none") compiledInterpreter();
  }

  /// Starts a spare interpreter now, so the next Run starts warm. Resolves
  /// when it is ready.
  warm() {
    if (this.capability.mode === "none") return Promise.resolve();
    if (!this.spare) this.spare = new Interpreter(this.capability.mode);
    return this.spare.ready;
  }

  /// Runs `source` as `file` (`server.py`, `client.py`) in a worker of its own.
  run({ program, file, source, lane }) {
    if (this.programs.has(program)) {
      throw new Error(`program ${program} already ran: program ids are never reused`);
    }
    const p = {
      id: program,
      file,
      interpreter: null,
      call: 0,
      waitingFor: null,
      inputs: 0,
      waitingForInput: null,
      endSent: false,
      stopRequested: false,
      ended: false,
      hardStop: null,
      direct: false,
    };
    this.programs.set(program, p);
    if (this.capability.mode === "none") {
      const why = `Python cannot run in this browser: ${this.capability.reason}`;
      this.onState(program, "failed", failure("RuntimeError", why));
      return;
    }
    const interpreter = this.spare ?? new Interpreter(this.capability.mode);
    this.spare = null;
    p.interpreter = interpreter;
    interpreter.onMessage = (message) => this.fromWorker(p, message);
    this.post({
      type: "program_start",
      program,
      lane: lane ?? (file.includes("server") ? "server" : "client"),
      file,
    });
    if (!interpreter.isReady) this.onState(program, "loading", null);
    interpreter.ready.then(() => {
      if (p.ended) return;
      if (interpreter.failure !== null) {
        const why =
          `Python could not start in this page (${interpreter.failure}). If the bridge has no ` +
          "Pyodide, the instructor can install it with scripts/setup.sh build.";
        this.finish(p, "failed", failure("RuntimeError", why));
        return;
      }
      const run = { type: "run", program, file, source };
      if (interpreter.mode === "atomics" && this.channel) {
        // The program's calls go to the bridge's socket worker directly.
        const { port1, port2 } = new MessageChannel();
        this.channel.attach(program, port1, interpreter.control.buffer, interpreter.data.buffer);
        p.direct = true;
        run.port = port2;
        interpreter.worker.postMessage(run, [port2]);
      } else {
        interpreter.worker.postMessage(run);
      }
    });
  }

  /// Ends a program within half a second, even one blocked in accept() or
  /// spinning in `while True: pass`; the bridge then closes its sockets.
  stop(program) {
    const p = this.programs.get(program);
    if (!p || p.ended) return;
    p.stopRequested = true;
    // The worker gives up its wait now: an answer that comes later must not
    // be taken for the answer to a call the program makes while it stops
    // (a `finally:` that closes its socket).
    p.waitingFor = null;
    p.waitingForInput = null;
    // The bridge closes the program's sockets now and answers its calls
    // at once (EINTR), so a program that cleans up on KeyboardInterrupt
    // (`finally: s.close()`) is not left waiting for an accept().
    this.endOnBridge(p);
    if (!p.interpreter || !p.interpreter.isReady) {
      this.finish(p, "stopped", null);
      return;
    }
    p.interpreter.interruptNow();
    p.hardStop = setTimeout(() => this.finish(p, "stopped", null), HARD_STOP_MS);
  }

  /// The page passes every sock_reply and program_ended here (JSON text),
  /// with the program and the call it answers (none for program_ended).
  deliver(json, program, call) {
    this.lastReplyAt = performance.now();
    const p = this.programs.get(program);
    // A reply for a program that has ended (Stop's EINTR), for a call it
    // no longer waits for, or for a program whose replies go straight to
    // it from the socket worker (no call waits here) has nobody to go to:
    // it is not even read.
    if (!p || p.ended || call == null || call !== p.waitingFor) return;
    let message;
    try {
      message = typeof json === "string" ? JSON.parse(json) : json;
    } catch {
      return;
    }
    if (!message || message.type !== "sock_reply") return;
    p.waitingFor = null;
    p.interpreter.reply(JSON.stringify(message.result), message.call);
  }

  fromWorker(p, message) {
    if (p.ended) return;
    switch (message.type) {
      case "started":
        this.onState(p.id, "running", null);
        this.spareSoon(SPARE_DELAY_MS);
        break;
      case "sent":
        // A call that went to the bridge directly: the page notes it.
        p.call = message.call;
        this.onSent(p.id, message.text);
        if (p.call === 1) this.spareSoon(0);
        break;
      case "sock_call": {
        p.call = message.call;
        p.waitingFor = p.call;
        const call = { type: "sock_call", program: p.id, call: p.call, op: JSON.parse(message.op) };
        if (message.timeout_ms !== null) call.timeout_ms = message.timeout_ms;
        if (message.line !== null) call.line = message.line;
        try {
          this.post(call);
        } catch (err) {
          // The page's connection to the bridge is gone: the call fails
          // at once rather than waiting for ever.
          p.waitingFor = null;
          const message = `The page lost its connection to the bridge (${err && err.message ? err.message : err})`;
          p.interpreter.reply(JSON.stringify({ err: { errno: "ENETDOWN", message, kind: "other" } }), p.call);
        }
        if (p.call === 1) this.spareSoon(0);
        break;
      }
      case "output": {
        this.onOutput(p.id, message.stream, message.text);
        // The program_print for the trace, when the worker has no port of
        // its own to send it on (see worker.mjs).
        if (message.print) this.send(message.print);
        break;
      }
      case "input": {
        const ticket = ++p.inputs;
        p.waitingForInput = ticket;
        Promise.resolve()
          .then(() => this.onInput(p.id, message.prompt))
          .then(
            (line) => String(line ?? "").replace(/\r?\n$/, ""),
            () => "\u0000eof",
          )
          .then((line) => {
            if (p.ended || p.waitingForInput !== ticket) return;
            p.waitingForInput = null;
            p.interpreter.reply(line, INPUT_TAG);
          });
        break;
      }
      case "end":
        this.finish(p, message.state, message.detail);
        break;
      case "crashed":
        this.finish(p, "failed", failure("RuntimeError", `Python stopped unexpectedly: ${message.message}`));
        break;
      default:
        break;
    }
  }

  finish(p, state, detail) {
    if (p.ended) return;
    p.ended = true;
    clearTimeout(p.hardStop);
    // A used interpreter still holds the program's globals: never reuse it
    // (and let its memory go: the page may run hundreds of programs).
    if (p.interpreter) p.interpreter.terminate();
    p.interpreter = null;
    if (p.direct) this.channel.detach(p.id);
    this.endOnBridge(p);
    this.onState(p.id, p.stopRequested ? "stopped" : state, p.stopRequested ? null : detail);
    this.spareSoon(SPARE_DELAY_MS);
  }

  endOnBridge(p) {
    if (p.endSent) return;
    p.endSent = true;
    this.post({ type: "program_end", program: p.id });
  }

  // After the first run, one initialized interpreter is kept ready. It is
  // loaded while the programs are quiet (no reply for SPARE_QUIET_MS): a
  // load takes a core for a second or more, which a running echo would
  // lose. A program that never pauses gets one after SPARE_MAX_WAIT_MS.
  spareSoon(delay) {
    if (this.spare || this.spareTimer !== null) return;
    const asked = performance.now();
    const load = () => {
      const now = performance.now();
      const quietFor = now - this.lastReplyAt;
      if (quietFor < SPARE_QUIET_MS && now - asked < SPARE_MAX_WAIT_MS) {
        this.spareTimer = setTimeout(load, SPARE_QUIET_MS - quietFor);
        return;
      }
      this.spareTimer = null;
      this.warm();
    };
    this.spareTimer = setTimeout(load, delay);
  }

  post(message) {
    this.send(JSON.stringify(message));
  }
}

function failure(type, message) {
  return { type, message, line: null, traceback: `${type}: ${message}\n`, errno: null, kind: null };
}

/// The runner (see the top of this file). `options.mode` ("atomics" or
/// "jspi") forces one way of blocking, for tests and for diagnosis.
export async function createRunner(options) {
  return new Runner(options);
}
