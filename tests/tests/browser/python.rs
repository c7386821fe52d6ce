//! Students' own Python programs, run in the page by `web/py/runner.mjs`
//! (CPython in a Web Worker via Pyodide), their socket calls performed by
//! a real bridge on real sockets, in a real headless Chromium.
//!
//! The runner is driven from the page itself, wired to a `/ws` session of
//! its own exactly as the code view wires it (`py_harness.js`): these tests
//! show the runtime; the code view's own tests type into its editors.

use super::{ONE_BROWSER, start_bridge};
use bridge::app::RunningBridge;
use e2e::browser::Browser;
use protocol::Mode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Starting Python can take a while on a busy two-core machine.
const PYTHON_PATIENCE: Duration = Duration::from_secs(60);

/// The handout's Task 1 `server.py`, exactly as written.
const TASK1_SERVER: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
Host = socket.gethostname()
Port = 1234
s.bind((Host, Port))
s.listen(5)

while True:
    # now our endpoint knows about the OTHER endpoint.
    clientsocket, address = s.accept()
    print(f"Connection from {address} has been established.")
"#;

/// The handout's Task 1 `client.py`, exactly as written.
const TASK1_CLIENT: &str = r#"import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
"#;

const HARNESS: &str = include_str!("py_harness.js");

/// The page from the bridge, with the runner wired to a `/ws` session of
/// its own; `mode` forces a way of blocking ("atomics", "jspi").
async fn open_runner(bridge: &RunningBridge, mode: Option<&str>) -> (Browser, Value) {
    let browser = Browser::start(1280, 720).await;
    browser
        .client
        .goto(&bridge.http_url())
        .await
        .expect("open the page");
    let script = format!("return (async () => {{ {HARNESS} }})();");
    let capability = browser
        .client
        .execute(&script, vec![json!(mode)])
        .await
        .expect("the runner loads in the page");
    (browser, capability)
}

async fn eval(browser: &Browser, script: &str) -> Value {
    browser
        .client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|err| panic!("script {script:?} failed: {err}"))
}

/// Runs `source` as program `program` named `file`.
async fn run(browser: &Browser, program: u32, file: &str, source: &str) {
    browser
        .client
        .execute(
            "window.__py.run(arguments[0], arguments[1], arguments[2]); return true;",
            vec![json!(program), json!(file), json!(source)],
        )
        .await
        .expect("run()");
}

/// Waits (bounded) until `script` gives a value `ok` accepts.
async fn wait_for(
    browser: &Browser,
    what: &str,
    script: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + PYTHON_PATIENCE;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        last = browser
            .client
            .execute(script, vec![])
            .await
            .unwrap_or(Value::Null);
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("waited {PYTHON_PATIENCE:?} for {what}; last value: {last}");
}

/// Waits until program `program`'s latest state is `state`; returns its detail.
async fn wait_for_state(browser: &Browser, program: u32, state: &str) -> Value {
    let script = format!("const s = window.__py.state({program}); return s;");
    let last = wait_for(
        browser,
        &format!("program {program} to be {state}"),
        &script,
        |v| {
            v[0] == state
                || (v[0] != "running" && v[0] != "loading" && !v[0].is_null() && v[0] != state)
        },
    )
    .await;
    assert_eq!(
        last[0],
        state,
        "program {program} ended otherwise; output: {}",
        output(browser, program).await
    );
    last[1].clone()
}

async fn output(browser: &Browser, program: u32) -> String {
    eval(browser, &format!("return window.__py.text({program});"))
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until program `program` has sent a `sock_call` whose op is `op`.
async fn wait_for_call(browser: &Browser, program: u32, op: &str) {
    let script = format!(
        "return window.__py.sent.some(([, m]) => m.type === 'sock_call' && m.program === {program} \
         && m.op.op === {op:?});"
    );
    wait_for(
        browser,
        &format!("program {program} to call {op}()"),
        &script,
        |v| v == &Value::Bool(true),
    )
    .await;
}

/// Stops `program` and returns how long the runner took to say "stopped".
async fn stop_and_time(browser: &Browser, program: u32) -> f64 {
    eval(
        browser,
        &format!("window.__py.stop({program}); return true;"),
    )
    .await;
    wait_for_state(browser, program, "stopped").await;
    eval(
        browser,
        &format!("const p = window.__py; return p.state({program})[2] - p.stopAt[{program}];"),
    )
    .await
    .as_f64()
    .expect("a time")
}

/// The handout's Task 1, unchanged, in two workers at once: the server
/// binds port 1234 of the session's own port space, the client connects to
/// it through the bridge's real sockets, and the server prints the lab's
/// line with the client's real port. Stop then ends the server in
/// `accept()` well within half a second and the bridge closes its socket.
/// Also measures Run -> first socket call, cold and warm.
#[tokio::test(flavor = "multi_thread")]
async fn task1_server_and_client_run_unchanged_in_the_page() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let (browser, capability) = open_runner(&bridge, None).await;
    assert_eq!(capability["mode"], "atomics", "{capability}");

    run(&browser, 1, "server.py", TASK1_SERVER).await;
    wait_for_call(&browser, 1, "accept").await;
    // The spare interpreter the runner started meanwhile, as it is by the
    // time a student switches to client.py.
    eval(
        &browser,
        "return window.__py.runner.warm().then(() => true);",
    )
    .await;
    run(&browser, 2, "client.py", TASK1_CLIENT).await;
    wait_for_state(&browser, 2, "exited").await;

    let printed = wait_for(
        &browser,
        "the server's line",
        "return window.__py.text(1);",
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("has been established."))
        },
    )
    .await;
    let printed = printed.as_str().unwrap_or_default();
    // The client's real local port, from the bridge's reply to connect().
    let client_port = eval(
        &browser,
        "const r = window.__py.replies.find(r => r.program === 2 && r.result.ok && r.result.ok.value === 'connected'); \
         return r ? r.result.ok.local.split(':').pop() : null;",
    )
    .await;
    let client_port = client_port.as_str().expect("the client connected");
    assert_eq!(
        printed,
        format!("Connection from ('127.0.0.1', {client_port}) has been established.\n")
    );

    let stopped_in = stop_and_time(&browser, 1).await;
    assert!(stopped_in < 500.0, "Stop took {stopped_in} ms in accept()");
    // The bridge closed the server's listening socket (and answered the
    // program's end).
    let ended = wait_for(
        &browser,
        "the bridge to end program 1",
        "return window.__py.replies.find(r => r.type === 'program_ended' && r.program === 1) || null;",
        |v| v.is_object(),
    )
    .await;
    assert!(ended["closed"].as_u64() >= Some(1), "{ended}");

    let cold = eval(&browser, "return window.__py.firstCallMs(1);").await;
    let warm = eval(&browser, "return window.__py.firstCallMs(2);").await;
    eprintln!("Run -> first socket call: cold {cold} ms (server.py), warm {warm} ms (client.py)");
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A client with no server to connect to fails as in a terminal:
/// `ConnectionRefusedError` with the student's own line in the traceback,
/// and the socket error's kind for the page's explanation. Run both ways a
/// browser may block (shared memory, and JSPI where a page is not
/// cross-origin isolated); each way, Stop also ends a server in `accept()`.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connect_names_the_students_line() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    for mode in ["atomics", "jspi"] {
        let (browser, capability) = open_runner(&bridge, Some(mode)).await;
        assert_eq!(capability["mode"], mode, "{capability}");
        run(&browser, 1, "client.py", TASK1_CLIENT).await;
        let detail = wait_for_state(&browser, 1, "failed").await;
        assert_eq!(detail["type"], "ConnectionRefusedError", "{mode}: {detail}");
        assert_eq!(detail["message"], "[Errno 111] Connection refused");
        assert_eq!(detail["line"], 4);
        assert_eq!(detail["errno"], "ECONNREFUSED");
        assert_eq!(detail["kind"], "connection_refused");
        let traceback = detail["traceback"].as_str().unwrap_or_default();
        assert!(
            traceback.starts_with("Traceback (most recent call last):\n  File \"client.py\", line 4, in <module>\n    s.connect((socket.gethostname(), 1234))\n"),
            "{mode}: {traceback}"
        );
        assert!(traceback.ends_with("ConnectionRefusedError: [Errno 111] Connection refused\n"));
        // The student sees the same traceback in the program's output.
        assert!(output(&browser, 1).await.contains(traceback));

        run(&browser, 2, "server.py", TASK1_SERVER).await;
        wait_for_call(&browser, 2, "accept").await;
        let stopped_in = stop_and_time(&browser, 2).await;
        assert!(
            stopped_in < 500.0,
            "{mode}: Stop took {stopped_in} ms in accept()"
        );
        browser.close().await;
    }
    bridge.stop().await.expect("bridge stops");
}

/// Stop ends a program within half a second whether it is blocked in
/// `accept()` or spinning in `while True: pass`, and the runner tells the
/// bridge so it closes the program's sockets.
#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_a_blocked_accept_and_a_spinning_loop() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let (browser, _) = open_runner(&bridge, None).await;
    run(&browser, 1, "server.py", TASK1_SERVER).await;
    wait_for_call(&browser, 1, "accept").await;
    // Blocked for real: nothing connects.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let in_accept = stop_and_time(&browser, 1).await;
    assert!(in_accept < 500.0, "Stop took {in_accept} ms in accept()");
    let ended = eval(
        &browser,
        "return window.__py.sent.some(([, m]) => m.type === 'program_end' && m.program === 1);",
    )
    .await;
    assert_eq!(ended, Value::Bool(true), "program_end was not sent");

    run(&browser, 2, "spin.py", "n = 0\nwhile True:\n    n += 1\n").await;
    wait_for_state(&browser, 2, "running").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spinning = stop_and_time(&browser, 2).await;
    assert!(spinning < 500.0, "Stop took {spinning} ms in a loop");

    // A loop that prints as fast as it can is paced, as a terminal paces
    // it, and stops as quickly.
    run(
        &browser,
        3,
        "flood.py",
        "i = 0\nwhile True:\n    print(i)\n    i += 1\n",
    )
    .await;
    wait_for(
        &browser,
        "the first lines",
        "return window.__py.text(3).length;",
        |v| v.as_u64() > Some(0),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let printing = stop_and_time(&browser, 3).await;
    assert!(printing < 500.0, "Stop took {printing} ms in a print loop");
    let lines = output(&browser, 3).await.lines().count();
    let ran_ms = eval(
        &browser,
        "const p = window.__py; return p.stopAt[3] - p.states[3].find(([s]) => s === 'running')[2];",
    )
    .await
    .as_f64()
    .unwrap_or(0.0);
    // 2000 at once, then 2 a millisecond (with room for messages in
    // flight); unpaced, a loop prints a hundred times as many.
    assert!(
        (lines as f64) <= 2000.0 + ran_ms * 2.0 + 500.0,
        "{lines} lines in {ran_ms} ms"
    );

    // A program that cleans up on Stop: its `finally:` closes the socket
    // (the bridge has already ended its accept()) and says so.
    let tidy = "import socket\n\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
                s.bind((socket.gethostname(), 1234))\ns.listen(5)\ntry:\n    s.accept()\n\
                finally:\n    s.close()\n    print('closed')\n";
    run(&browser, 4, "server.py", tidy).await;
    wait_for_call(&browser, 4, "accept").await;
    let tidying = stop_and_time(&browser, 4).await;
    assert!(tidying < 500.0, "Stop took {tidying} ms with a finally:");
    assert_eq!(output(&browser, 4).await, "closed\n");
    eprintln!(
        "Stop: {in_accept:.0} ms in accept(), {spinning:.0} ms in while True, {printing:.0} ms \
         printing ({lines} lines in {ran_ms:.0} ms), {tidying:.0} ms with a finally:"
    );
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// What a program with no sockets needs: print line by line, `input()`
/// answered by the page (the transcript shows prompt and answer as a
/// terminal does), `if __name__ == "__main__":`, `sys.exit()`, and a plain
/// message for threads, which the browser cannot run.
#[tokio::test(flavor = "multi_thread")]
async fn print_input_and_threads_behave_as_a_student_expects() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let (browser, _) = open_runner(&bridge, None).await;
    eval(&browser, "window.__py.answer = 'Ada'; return true;").await;
    let greet = "def main():\n    name = input('Your name: ')\n    print(f'Hello, {name}!')\n    \
                 print('partial', end='')\n\nif __name__ == '__main__':\n    main()\n";
    run(&browser, 1, "greet.py", greet).await;
    let detail = wait_for_state(&browser, 1, "exited").await;
    assert_eq!(detail["code"], 0);
    assert_eq!(
        output(&browser, 1).await,
        "Your name: Ada\nHello, Ada!\npartial"
    );
    let prompt = eval(&browser, "return window.__py.inputs[0];").await;
    assert_eq!(prompt, json!([1, "Your name: "]));
    // Each printed line is traced with the student's line.
    let print = eval(
        &browser,
        "const s = window.__py.sent.find(([, m]) => m.type === 'program_print' && m.text === 'Hello, Ada!'); \
         return s ? s[1] : null;",
    )
    .await;
    assert_eq!(print["line"], 3, "{print}");

    // A very long line: the student sees all of it; the trace gets its
    // start, and the session (whose messages are bounded) lives on.
    run(
        &browser,
        2,
        "exit.py",
        "import sys\nprint('x' * 100000)\nsys.exit(3)\n",
    )
    .await;
    let detail = wait_for_state(&browser, 2, "exited").await;
    assert_eq!(detail["code"], 3);
    assert_eq!(output(&browser, 2).await.len(), 100_001);
    let traced = eval(
        &browser,
        "const s = window.__py.sent.find(([, m]) => m.type === 'program_print' && m.program === 2); \
         return s ? s[1].text.length : null;",
    )
    .await;
    assert!(traced.as_u64() < Some(4200), "{traced}");

    let threads =
        "import threading\n\ndef serve():\n    pass\n\nthreading.Thread(target=serve).start()\n";
    run(&browser, 3, "threads.py", threads).await;
    let detail = wait_for_state(&browser, 3, "failed").await;
    assert_eq!(detail["type"], "RuntimeError");
    assert_eq!(detail["line"], 6);
    let message = detail["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("cannot start another") && message.contains("terminal"),
        "{message}"
    );
    let open = eval(&browser, "return window.__py.ws.readyState;").await;
    assert_eq!(open, 1, "the session's /ws closed");
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// After a first Run the runner keeps a spare interpreter ready: the next
/// program starts without loading Python again (no "loading" state), and
/// its first socket call comes sooner than the first program's did.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_starts_warm() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let (browser, _) = open_runner(&bridge, None).await;
    run(&browser, 1, "client.py", TASK1_CLIENT).await;
    wait_for_state(&browser, 1, "failed").await;
    // The spare is being made; give it the time a student takes to edit.
    eval(
        &browser,
        "return window.__py.runner.warm().then(() => true);",
    )
    .await;
    run(&browser, 2, "client.py", TASK1_CLIENT).await;
    wait_for_state(&browser, 2, "failed").await;
    let states = eval(&browser, "return window.__py.states[2].map(([s]) => s);").await;
    assert_eq!(states, json!(["running", "failed"]));
    let cold = eval(&browser, "return window.__py.firstCallMs(1);").await;
    let warm = eval(&browser, "return window.__py.firstCallMs(2);").await;
    let (cold, warm) = (cold.as_f64().unwrap_or(0.0), warm.as_f64().unwrap_or(0.0));
    assert!(warm < cold, "warm {warm} ms, cold {cold} ms");
    eprintln!("Run -> first socket call: cold {cold:.0} ms, warm {warm:.0} ms");
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}

/// A student's Task 3 echo server and client, in the page at once: `with`
/// blocks, `sendall()`, `recv()` until the peer closes (b''), and a
/// `settimeout()` that expires as `socket.timeout`. Prints the round trips
/// per second the two programs reach through the bridge.
#[tokio::test(flavor = "multi_thread")]
async fn task3_echo_server_and_client_in_the_page() {
    let _one = ONE_BROWSER.lock().await;
    let bridge = start_bridge(Mode::Echo, &[]).await;
    let (browser, _) = open_runner(&bridge, None).await;
    let server = r#"import socket

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((socket.gethostname(), 1234))
    s.listen(5)
    conn, addr = s.accept()
    with conn:
        print(f"Connection from {addr} has been established.")
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data)
print("the client left")
"#;
    let client = r#"import socket
import time

ROUNDS = 200
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((socket.gethostname(), 1234))
message = b"0123456789abcdef0123456789abcdef"
start = time.time()
for _ in range(ROUNDS):
    s.sendall(message)
    echoed = b""
    while len(echoed) < len(message):
        echoed += s.recv(1024)
    if echoed != message:
        raise SystemExit(f"echo differs: {echoed!r}")
print(f"{ROUNDS} round trips, {ROUNDS / (time.time() - start):.0f} per second")
s.settimeout(0.3)
try:
    s.recv(1024)
except socket.timeout as e:
    print(f"recv: {e}")
s.close()
"#;
    run(&browser, 1, "server.py", server).await;
    wait_for_call(&browser, 1, "accept").await;
    eval(
        &browser,
        "return window.__py.runner.warm().then(() => true);",
    )
    .await;
    run(&browser, 2, "client.py", client).await;
    assert_eq!(wait_for_state(&browser, 2, "exited").await["code"], 0);
    assert_eq!(wait_for_state(&browser, 1, "exited").await["code"], 0);
    let client_out = output(&browser, 2).await;
    assert!(client_out.starts_with("200 round trips, "), "{client_out}");
    assert!(
        client_out.ends_with("per second\nrecv: timed out\n"),
        "{client_out}"
    );
    let server_out = output(&browser, 1).await;
    assert!(
        server_out.starts_with("Connection from ('127.0.0.1', ")
            && server_out.ends_with(" has been established.\nthe client left\n"),
        "{server_out}"
    );
    eprintln!("{}", client_out.lines().next().unwrap_or_default());
    browser.close().await;
    bridge.stop().await.expect("bridge stops");
}
