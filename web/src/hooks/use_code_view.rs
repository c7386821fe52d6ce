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
        (code.server.text.clone(), code.client.text.clone()),
        |(server, client)| {
            browser::save_pref(SAVED_SERVER, server);
            browser::save_pref(SAVED_CLIENT, client);
        },
    );
    use_effect_with(code.open, |&open| {
        browser::save_pref(SAVED_OPEN, if open { "1" } else { "0" });
    });

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
    let options = js_sys::Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = js_sys::Reflect::set(&options, &JsValue::from_str(key), &value);
    };

    let send = {
        let programs = programs.clone();
        Closure::<dyn FnMut(String)>::new(move |json: String| {
            programs.sent(&json, browser::now_ms());
            bridge.send_text(&json);
        })
    };
    let on_output = {
        let programs = programs.clone();
        let dispatcher = dispatcher.clone();
        Closure::<dyn FnMut(u32, String, JsValue)>::new(
            move |program: u32, stream: String, text: JsValue| {
                programs.touched(program, browser::now_ms());
                dispatcher.dispatch(Action::Code(CodeAction::Output {
                    program,
                    stream: if stream == "stderr" {
                        Stream::Stderr
                    } else {
                        Stream::Stdout
                    },
                    text: text.as_string().unwrap_or_default(),
                }));
            },
        )
    };
    let on_input = {
        let programs = programs.clone();
        let dispatcher = dispatcher.clone();
        Closure::<dyn FnMut(u32, JsValue) -> js_sys::Promise>::new(
            move |program: u32, prompt: JsValue| {
                let programs = programs.clone();
                let promise = js_sys::Promise::new(&mut |resolve, _reject| {
                    programs.wait_input(program, resolve);
                });
                dispatcher.dispatch(Action::Code(CodeAction::Input {
                    program,
                    prompt: prompt.as_string().unwrap_or_default(),
                }));
                promise
            },
        )
    };
    let on_state = {
        let programs = programs.clone();
        let dispatcher = dispatcher.clone();
        Closure::<dyn FnMut(u32, String, JsValue)>::new(
            move |program: u32, state: String, detail: JsValue| {
                let Some(state) = RunState::from_runner(&state) else {
                    return;
                };
                match state {
                    RunState::Running => programs.touched(program, browser::now_ms()),
                    RunState::Exited | RunState::Failed | RunState::Stopped => {
                        programs.forget(program)
                    }
                    _ => {}
                }
                let failure = (state == RunState::Failed).then(|| {
                    let json = js_sys::JSON::stringify(&detail)
                        .ok()
                        .and_then(|s| s.as_string())
                        .unwrap_or_default();
                    Failure::from_runner_json(&json)
                });
                dispatcher.dispatch(Action::Code(CodeAction::State {
                    program,
                    state,
                    failure,
                }));
            },
        )
    };
    // The runner keeps these for the page's lifetime: JavaScript owns them.
    set("send", send.into_js_value());
    set("onOutput", on_output.into_js_value());
    set("onInput", on_input.into_js_value());
    set("onState", on_state.into_js_value());

    match lazy::create_runner(&options).await {
        Ok(runner) => {
            let capability = read_capability(&runner.capability());
            programs.set_runner(runner);
            dispatcher.dispatch(Action::Code(CodeAction::RunnerLoaded(capability)));
        }
        Err(why) => dispatcher.dispatch(Action::Code(CodeAction::RunnerFailed(why))),
    }
}

/// `runner.capability`: `{ mode, reason }`.
fn read_capability(value: &JsValue) -> Capability {
    let field = |key: &str| {
        js_sys::Reflect::get(value, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let mode = field("mode");
    Capability {
        mode: if mode.is_empty() {
            "unknown".to_string()
        } else {
            mode
        },
        reason: field("reason"),
    }
}
