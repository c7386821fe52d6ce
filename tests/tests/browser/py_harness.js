// Wires web/py/runner.mjs to a /ws session of its own, inside the real
// page (same origin, same cross-origin isolation), the way the page's code
// view does, and records what a student would see: each program's output
// and states, and the bridge's replies. The Rust tests read `window.__py`.
//
// Called through WebDriver with one argument: the runner's `mode`
// ("atomics", "jspi", or null to let it choose). Resolves with the
// runner's capability once the session's hello is answered.
const mode = arguments[0];
const py = (window.__py = {
  outputs: {}, // program -> [[stream, text], ...]
  states: {}, // program -> [[state, detail, ms], ...]
  sent: [], // [ms, message] for every message the runner sent
  replies: [], // every sock_reply and program_ended from the bridge
  inputs: [], // [program, prompt]
  runAt: {}, // program -> ms when run() was called
  stopAt: {}, // program -> ms when stop() was called
  answer: "",
  text(program) {
    return (this.outputs[program] || []).map(([, text]) => text).join("");
  },
  state(program) {
    const all = this.states[program] || [];
    return all.length ? all[all.length - 1] : null;
  },
  firstCallMs(program) {
    const first = this.sent.find(([, m]) => m.type === "sock_call" && m.program === program);
    return first ? first[0] - this.runAt[program] : null;
  },
});
const { createRunner } = await import(new URL("py/runner.mjs", document.baseURI).href);
const url = new URL("ws", document.baseURI);
url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
const ws = new WebSocket(url);
let runner = null;
const hello = new Promise((resolve, reject) => {
  ws.onerror = () => reject(new Error("the /ws session did not open"));
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "hello") resolve();
    if (message.type === "sock_reply" || message.type === "program_ended") {
      py.replies.push(message);
      runner.deliver(event.data, message.program, message.type === "sock_reply" ? message.call : null);
    }
  };
});
await new Promise((resolve) => (ws.onopen = resolve));
ws.send(JSON.stringify({ type: "hello", version: 1 }));
await hello;
runner = await createRunner({
  mode: mode || undefined,
  send(json) {
    py.sent.push([performance.now(), JSON.parse(json)]);
    ws.send(json);
  },
  onOutput(program, stream, text) {
    (py.outputs[program] ||= []).push([stream, text]);
  },
  onInput(program, prompt) {
    py.inputs.push([program, prompt]);
    return Promise.resolve(py.answer);
  },
  onState(program, state, detail) {
    (py.states[program] ||= []).push([state, detail, performance.now()]);
  },
});
py.runner = runner;
py.ws = ws;
py.run = (program, file, source) => {
  py.runAt[program] = performance.now();
  runner.run({ program, file, source });
};
py.stop = (program) => {
  py.stopAt[program] = performance.now();
  runner.stop(program);
};
return runner.capability;
