//! [`RunnerLink`]: the runner of the student's programs, between the
//! bridge's WebSocket (`use_bridge`) and the code view (`use_code_view`).
//!
//! A program's socket calls go from its worker, through the runner's
//! `send`, onto the session's `/ws`; the bridge's `sock_reply` and
//! `program_ended` come back through [`RunnerLink::deliver`]. On the way
//! the link notes which call each program waits in and when it last did
//! anything, so the page can say "waiting in accept(), line 11" or "this
//! loop never waits" (see [`RunnerLink::activity`]).

use crate::code::{Waiting, call_name};
use crate::lazy::Runner;
use protocol::ProgramId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::JsValue;

/// A call shorter than this is not worth saying "waiting in" (an echo
/// loop's recv() returns in a millisecond).
const WAIT_SHOWN_MS: f64 = 1000.0;
/// Running this long with no call, output or input: the program spins.
const SPIN_MS: f64 = 2500.0;

/// The runner, once loaded, and what its programs are doing.
#[derive(Clone, Default)]
pub struct RunnerLink(Rc<RefCell<Inner>>);

#[derive(Default)]
struct Inner {
    runner: Option<Runner>,
    /// The call each program waits in: its name, line, start (ms) and
    /// number.
    calls: HashMap<ProgramId, (&'static str, Option<u32>, f64, u64)>,
    /// When each running program last did something visible (ms).
    active_at: HashMap<ProgramId, f64>,
    /// The `input()` each program waits in: the promise's resolve.
    inputs: HashMap<ProgramId, js_sys::Function>,
}

impl RunnerLink {
    pub fn set_runner(&self, runner: Runner) {
        self.0.borrow_mut().runner = Some(runner);
    }

    pub fn runner(&self) -> Option<Runner> {
        self.0.borrow().runner.clone()
    }

    /// A message from the bridge for a program: hand it to the runner.
    /// `ended`: a `program_ended`, else a `sock_reply` to call `call`.
    /// (A program attached to the socket worker has its reply already, and
    /// may have made its next call: the note of that call can come first.)
    pub fn deliver(
        &self,
        program: ProgramId,
        ended: bool,
        call: Option<u64>,
        text: &str,
        now_ms: f64,
    ) {
        let runner = {
            let mut inner = self.0.borrow_mut();
            let answered = |&(_, _, _, waiting): &(&str, Option<u32>, f64, u64)| {
                ended || call.is_none_or(|call| call >= waiting)
            };
            if inner.calls.get(&program).is_some_and(answered) {
                inner.calls.remove(&program);
            }
            if ended {
                inner.active_at.remove(&program);
            } else {
                inner.active_at.insert(program, now_ms);
            }
            inner.runner.clone()
        };
        // Outside the borrow: the runner may call back into the page.
        if let Some(runner) = runner {
            let _ = runner.deliver(text, program, call.map(|call| call as f64));
        }
    }

    /// The runner sent this on the WebSocket: note what it says. (Read
    /// with the browser's JSON, not serde: a reader for every `ClientMsg`
    /// would weigh on every page, code view or not.)
    pub fn sent(&self, json: &str, now_ms: f64) {
        let Ok(msg) = js_sys::JSON::parse(json) else {
            return;
        };
        let field = |of: &JsValue, key: &str| {
            js_sys::Reflect::get(of, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
        };
        let Some(program) = field(&msg, "program").as_f64().map(|p| p as ProgramId) else {
            return;
        };
        let kind = field(&msg, "type").as_string().unwrap_or_default();
        let mut inner = self.0.borrow_mut();
        match kind.as_str() {
            "sock_call" => {
                let op = field(&field(&msg, "op"), "op")
                    .as_string()
                    .unwrap_or_default();
                let line = field(&msg, "line").as_f64().map(|l| l as u32);
                let call = field(&msg, "call").as_f64().unwrap_or(0.0) as u64;
                inner
                    .calls
                    .insert(program, (call_name(&op), line, now_ms, call));
                inner.active_at.insert(program, now_ms);
            }
            "program_start" | "program_print" => {
                inner.active_at.insert(program, now_ms);
            }
            "program_end" => {
                inner.calls.remove(&program);
            }
            _ => {}
        }
    }

    /// The program printed, or its state changed: it is not spinning.
    pub fn touched(&self, program: ProgramId, now_ms: f64) {
        self.0.borrow_mut().active_at.insert(program, now_ms);
    }

    /// The program waits in `input()`; `resolve` answers it.
    pub fn wait_input(&self, program: ProgramId, resolve: js_sys::Function) {
        self.0.borrow_mut().inputs.insert(program, resolve);
    }

    /// Answers the program's `input()`.
    pub fn answer(&self, program: ProgramId, text: &str, now_ms: f64) {
        let resolve = {
            let mut inner = self.0.borrow_mut();
            inner.active_at.insert(program, now_ms);
            inner.inputs.remove(&program)
        };
        if let Some(resolve) = resolve {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::from_str(text));
        }
    }

    /// The program ended: forget it.
    pub fn forget(&self, program: ProgramId) {
        let mut inner = self.0.borrow_mut();
        inner.calls.remove(&program);
        inner.active_at.remove(&program);
        inner.inputs.remove(&program);
    }

    /// What a running program is doing now: the call it has waited in for
    /// a while (if any), and whether it has been busy with no call, output
    /// or input for a while (a loop that never waits).
    pub fn activity(&self, program: ProgramId, now_ms: f64) -> (Option<Waiting>, bool) {
        let inner = self.0.borrow();
        let waiting = inner
            .calls
            .get(&program)
            .filter(|(_, _, since, _)| now_ms - since >= WAIT_SHOWN_MS)
            .map(|&(call, line, since, _)| Waiting {
                call: call.to_string(),
                line,
                secs: ((now_ms - since) / 1000.0) as u32,
            });
        let idle_since = inner.active_at.get(&program).copied();
        let spinning = !inner.calls.contains_key(&program)
            && !inner.inputs.contains_key(&program)
            && idle_since.is_some_and(|at| now_ms - at >= SPIN_MS);
        (waiting, spinning)
    }
}
