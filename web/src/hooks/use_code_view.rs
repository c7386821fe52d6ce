//! The code view's side effects: loading the editor and the Python runner
//! the first time the view opens, handing the runner the reducer's
//! [`RunnerCmd`]s, saving the student's programs in this browser, and
//! watching what running programs wait in.
//!
//! The runner is created with four callbacks: `send` puts a program's
//! message on the session's own `/ws` (through [`BridgeLink`]); `onOutput`,
//! `onInput` and `onState` become [`CodeAction`]s. The bridge's replies
//! reach the runner through [`RunnerLink::deliver`] (called by
//! `use_bridge`).

use super::runner_link::RunnerLink;
use super::use_bridge::BridgeLink;
use crate::browser;
use crate::code::{Capability, CodeAction, Failure, RunState, RunnerCmd, Stream};
use crate::lazy;
use crate::state::{Action, LabState};
use gloo_timers::callback::Interval;
use protocol::{Lane, ProgramId};
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use yew::prelude::*;

/// How often running programs are looked at (what they wait in, whether
/// they spin).
const WATCH_MS: u32 = 500;

/// Where the programs and the view's state are saved in this browser.
pub const SAVED_SERVER: &str = "code.server.py";
pub const SAVED_CLIENT: &str = "code.client.py";
pub const SAVED_OPEN: &str = "codeview";

#[hook]
pub fn use_code_view(lab: &UseReducerHandle<LabState>, bridge: &BridgeLink, programs: &RunnerLink) {
    let code = &lab.code;

    // The editor and Python: loaded once, the first time the view opens.
    let started = use_mut_ref(|| false);
    {
        let dispatcher = lab.dispatcher();
        let bridge = bridge.clone();
        let programs = programs.clone();
        use_effect_with(code.open, move |&open| {
            if open && !*started.borrow() {
                *started.borrow_mut() = true;
                let editor_dispatcher = dispatcher.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    editor_dispatcher.dispatch(Action::Code(match lazy::load_editor().await {
                        Ok(()) => CodeAction::EditorLoaded,
                        Err(why) => CodeAction::EditorFailed(why),
                    }));
                });
                wasm_bindgen_futures::spawn_local(start_runner(dispatcher, bridge, programs));
            }
        });
    }

    // The reducer's commands for the runner, each done once, in order,
    // once the runner is there.
    {
        let sent_upto = use_mut_ref(|| 0u64);
        let programs = programs.clone();
        let dispatcher = lab.dispatcher();
        use_effect_with(
            (code.commands.clone(), code.runner.clone()),
            move |(commands, _)| {
                let Some(runner) = programs.runner() else {
                    return;
                };
                for (seq, cmd) in commands.queued.iter() {
                    if *seq < *sent_upto.borrow() {
                        continue;
                    }
                    *sent_upto.borrow_mut() = seq + 1;
                    do_command(&runner, &programs, &dispatcher, cmd);
                }
            },
        );
    }

    // Nothing lost on a reload: the programs as typed, and whether the
    // view was open.
    use_effect_with(
        (
            code.server.text.clone(),
            code.client.text.clone(),
            code.open,
        ),
        |(server, client, open)| {
            browser::save_pref(SAVED_SERVER, server);
            browser::save_pref(SAVED_CLIENT, client);
            browser::save_pref(SAVED_OPEN, if *open { "1" } else { "0" });
        },
    );

    // While programs run: what they wait in, and whether one spins.
    {
        let live = |lane: Lane| {
            let file = code.file(lane);
            file.run
                .as_ref()
                .filter(|r| r.state.is_live())
                .map(|r| r.program)
        };
        let running: Vec<ProgramId> = [live(Lane::Server), live(Lane::Client)]
            .into_iter()
            .flatten()
            .collect();
        let programs = programs.clone();
        let dispatcher = lab.dispatcher();
        use_effect_with(running, move |running| {
            let running = running.clone();
            let mut told = HashMap::new();
            let interval = (!running.is_empty()).then(|| {
                Interval::new(WATCH_MS, move || {
                    let now = browser::now_ms();
                    for &program in &running {
                        let activity = programs.activity(program, now);
                        if told.get(&program) != Some(&activity) {
                            told.insert(program, activity.clone());
                            let (waiting, spinning) = activity;
                            dispatcher.dispatch(Action::Code(CodeAction::Activity {
                                program,
                                waiting,
                                spinning,
                            }));
                        }
                    }
                })
            });
            move || drop(interval)
        });
    }
}

fn do_command(
    runner: &lazy::Runner,
    programs: &RunnerLink,
    dispatcher: &UseReducerDispatcher<LabState>,
    cmd: &RunnerCmd,
) {
    match cmd {
        RunnerCmd::Run {
            program,
            file,
            source,
            lane,
        } => {
            let options = js_sys::Object::new();
            let set = |key: &str, value: JsValue| {
                let _ = js_sys::Reflect::set(&options, &JsValue::from_str(key), &value);
            };
            set("program", JsValue::from(*program));
            set("file", JsValue::from_str(file));
            set("source", JsValue::from_str(source));
            set(
                "lane",
                JsValue::from_str(match lane {
                    Lane::Server => "server",
                    Lane::Client => "client",
                }),
            );
            if let Err(error) = runner.run(&options) {
                dispatcher.dispatch(Action::Code(CodeAction::State {
                    program: *program,
                    state: RunState::Failed,
                    failure: Some(Failure {
                        exception: "Error".into(),
                        message: format!(
                            "the page could not start it: {}",
                            lazy::js_error_text(&error)
                        ),
                        ..Failure::default()
                    }),
                }));
            }
        }
        RunnerCmd::Stop { program } => {
            let _ = runner.stop(*program);
        }
        RunnerCmd::Answer { program, text } => {
            programs.answer(*program, text, browser::now_ms());
        }
    }
}

/// Imports the runner and creates it with the page's callbacks.
async fn start_runner(
    dispatcher: UseReducerDispatcher<LabState>,
    bridge: BridgeLink,
    programs: RunnerLink,
) {
    let send = {
        let programs = programs.clone();
        Closure::<dyn FnMut(String)>::new(move |json: String| {
            programs.sent(&json, browser::now_ms());
            bridge.send_text(&json);
        })
    };
    let event = {
        let programs = programs.clone();
        let dispatcher = dispatcher.clone();
        Closure::<dyn FnMut(u32, u32, JsValue, JsValue)>::new(
            move |kind: u32, program: u32, a: JsValue, b: JsValue| {
                let now = browser::now_ms();
                let text = |v: &JsValue| v.as_string().unwrap_or_default();
                let action = match kind {
                    lazy::SENT => {
                        // Only noted: it is on its way already.
                        programs.sent(&text(&a), now);
                        return;
                    }
                    lazy::OUTPUT => {
                        programs.touched(program, now);
                        CodeAction::Output {
                            program,
                            stream: if text(&a) == "stderr" {
                                Stream::Stderr
                            } else {
                                Stream::Stdout
                            },
                            text: text(&b),
                        }
                    }
                    lazy::INPUT => {
                        if let Ok(resolve) = b.dyn_into::<js_sys::Function>() {
                            programs.wait_input(program, resolve);
                        }
                        CodeAction::Input {
                            program,
                            prompt: text(&a),
                        }
                    }
                    _ => {
                        let Some(state) = RunState::from_runner(&text(&a)) else {
                            return;
                        };
                        match state {
                            RunState::Running => programs.touched(program, now),
                            RunState::Exited | RunState::Failed | RunState::Stopped => {
                                programs.forget(program)
                            }
                            _ => {}
                        }
                        let failure = (state == RunState::Failed).then(|| read_failure(&b));
                        CodeAction::State {
                            program,
                            state,
                            failure,
                        }
                    }
                };
                dispatcher.dispatch(Action::Code(action));
            },
        )
    };
    // The runner keeps these for the page's lifetime: JavaScript owns them.
    let options = lazy::runner_options(
        &send.into_js_value(),
        &event.into_js_value(),
        &super::bridge_worker::program_channel(),
    );
    match lazy::create_runner(&options).await {
        Ok(runner) => {
            let capability = read_capability(&runner.capability());
            // The view is open, so a Run will come: start an interpreter
            // now, and the first Run reaches its first call in tens of
            // milliseconds instead of seconds.
            if let Ok(warming) = runner.warm() {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = wasm_bindgen_futures::JsFuture::from(warming).await;
                });
            }
            programs.set_runner(runner);
            dispatcher.dispatch(Action::Code(CodeAction::RunnerLoaded(capability)));
        }
        Err(why) => dispatcher.dispatch(Action::Code(CodeAction::RunnerFailed(why))),
    }
}

fn field(of: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(of, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// The runner's `detail` of a failed run.
fn read_failure(detail: &JsValue) -> Failure {
    let line = field(detail, "line").as_f64().map(|l| l as u32);
    Failure::from_runner(|key| field(detail, key).as_string(), line)
}

/// `runner.capability`: `{ mode, reason }`.
fn read_capability(value: &JsValue) -> Capability {
    let mode = field(value, "mode").as_string().unwrap_or_default();
    Capability {
        mode: if mode.is_empty() {
            "unknown".to_string()
        } else {
            mode
        },
        reason: field(value, "reason").as_string().unwrap_or_default(),
    }
}
