//! The page: one reducer for all state (`state`: the session, the trace
//! view, the preferences and the code view), the bridge connection, and
//! the layout of the components.

use crate::browser;
use crate::code::CodeAction;
use crate::code::CodeState;
use crate::components::{
    CheckPanel, CodePanel, CodeView, Composer, EventDetail, ExportBar, Header, LabControls,
    Notices, PlaybackBar, PredictCard, StudentCode, StudentName, TaskPanel, TraceViews,
};
use crate::hooks::{RunnerLink, use_bridge, use_code_view, use_interval, use_share_code};
use crate::predict::{self, PredictAction, PredictState};
use crate::prefs::Theme;
use crate::sample;
use crate::session::{BridgeStatus, SessionAction};
use crate::state::{Action, LabState};
use crate::trace_view::{Toward, TraceAction};
use protocol::{Lane, Transport};
use std::rc::Rc;
use yew::prelude::*;

/// The state the page opens with: saved display preferences applied.
fn initial_state() -> LabState {
    let mut state = LabState::default();
    state.prefs.theme = browser::load_pref("theme")
        .map(|v| Theme::from_value(&v))
        .unwrap_or_default();
    state.prefs.projector = browser::load_pref("projector").as_deref() == Some("1");
    // The student's programs survive a reload; `?code` opens the code view.
    state.code = CodeState::restored(
        browser::load_pref(crate::hooks::SAVED_SERVER),
        browser::load_pref(crate::hooks::SAVED_CLIENT),
        browser::load_pref(crate::hooks::SAVED_OPEN).as_deref() == Some("1")
            || browser::query("code").is_some(),
    );
    // The trace and the task, as the student left them.
    crate::keep::restore(&mut state);
    state
}

/// How often the trace and the task are kept in the browser (when they
/// changed): a reload loses at most this much.
const KEEP_EVERY_MS: u32 = 1000;

#[component]
pub fn App() -> Html {
    let lab = use_reducer(initial_state);
    let programs = (*use_memo((), |_| RunnerLink::default())).clone();
    let bridge = use_bridge(&lab, &programs);
    let send_to_bridge = {
        let bridge = bridge.clone();
        use_callback((), move |json: String, _| bridge.send_text(&json))
    };
    use_code_view(&lab, &bridge, &programs);
    // An instructor who follows this student sees their code.
    use_share_code(&lab, &bridge);

    // Components get these callbacks: one for any action, and one for
    // each part of the state a component acts on. Made once, they never
    // change, so they never make a memoised component render again.
    let callbacks = {
        let dispatcher = lab.dispatcher();
        use_memo((), move |_| {
            let (to_session, to_trace) = (dispatcher.clone(), dispatcher.clone());
            (
                Callback::from(move |action: Action| dispatcher.dispatch(action)),
                Callback::from(move |action: SessionAction| {
                    to_session.dispatch(Action::Session(action))
                }),
                Callback::from(move |action: TraceAction| to_trace.dispatch(Action::Trace(action))),
            )
        })
    };
    let (onaction, onsession, ontrace) = (*callbacks).clone();
    // Tasks as workspaces (see `workspace`): leaving a task keeps its
    // files, output and trace; entering one brings its files back.
    let entered = use_mut_ref(|| 0u64);
    let origin = use_state(|| crate::workspace::Origin::Own);
    {
        let shown = use_mut_ref(|| lab.session.task);
        let (lab, onaction, entered, origin) = (
            lab.clone(),
            onaction.clone(),
            entered.clone(),
            origin.clone(),
        );
        use_effect_with(lab.session.task, move |&task| {
            let left = *shown.borrow();
            if left != task {
                if let Some(n) = crate::workspace::number(left) {
                    let own = crate::workspace::trace_since(&lab.view.trace, *entered.borrow());
                    crate::workspace::keep_task(n, &lab.code, &own);
                }
                if let Some(n) = crate::workspace::number(task) {
                    let (server, client, from) = crate::workspace::files_for(n);
                    for (lane, text) in [(Lane::Server, server), (Lane::Client, client)] {
                        if *lab.code.file(lane).text != *text {
                            onaction.emit(Action::Code(CodeAction::Edit(lane, text)));
                        }
                    }
                    origin.set(from);
                }
                *entered.borrow_mut() = lab.view.trace.next_seq();
                *shown.borrow_mut() = task;
            }
        });
    }
    let said = use_state(|| None::<AttrValue>);
    let online = lab.session.status == BridgeStatus::Open;
    let onhandout = onaction.reform(|()| {
        Action::Code(CodeAction::Edit(
            Lane::Server,
            crate::code::HANDOUT_SERVER.to_string(),
        ))
    });
    let onhandout = {
        let onaction = onaction.clone();
        let origin = origin.clone();
        Callback::from(move |()| {
            onhandout.emit(());
            onaction.emit(Action::Code(CodeAction::Edit(
                Lane::Client,
                crate::code::HANDOUT_CLIENT.to_string(),
            )));
            origin.set(crate::workspace::Origin::Handout);
        })
    };
    let ondownload = {
        let (lab, entered, said) = (lab.clone(), entered.clone(), said.clone());
        Callback::from(move |()| {
            let Some(name) = browser::load_pref(crate::components::SAVED_NAME) else {
                said.set(Some(
                    "Type your name or student number first (above): it names the zip.".into(),
                ));
                browser::focus("student-name-input");
                return;
            };
            let current = crate::workspace::number(lab.session.task);
            let folders: Vec<_> = (1..=3)
                .map(|n| {
                    if Some(n) == current {
                        let own = crate::workspace::trace_since(&lab.view.trace, *entered.borrow());
                        crate::workspace::live_folder(n, &lab.code, &own)
                    } else {
                        crate::workspace::kept_folder(n)
                    }
                })
                .collect();
            let pattern = lab
                .session
                .bridge
                .as_ref()
                .and_then(|b| b.submission.clone())
                .unwrap_or_else(|| crate::submission::DEFAULT_PATTERN.to_string());
            let file = crate::submission::zip_name(&pattern, &name);
            let files = crate::submission::files(&folders, &name);
            let said = said.clone();
            // The zip writer is loaded on the first click (see `lazy`).
            wasm_bindgen_futures::spawn_local(async move {
                match crate::lazy::zip_files(files).await {
                    Ok(bytes) => {
                        crate::submission::download(&file, &bytes);
                        said.set(Some(
                            format!("Downloaded {file}: Task01, Task02 and Task03, each with its programs, output, diagram and summary page.").into(),
                        ));
                    }
                    Err(why) => said.set(Some(format!("The zip could not be made: {why}").into())),
                }
            });
        })
    };
    // Kept in the browser as the student works (see `keep`).
    {
        let latest = use_mut_ref(|| (lab.view.trace.clone(), lab.session.task));
        *latest.borrow_mut() = (lab.view.trace.clone(), lab.session.task);
        let saved = use_mut_ref(|| (u64::MAX, 0));
        let keep = Callback::from(move |()| {
            let (trace, task) = &*latest.borrow();
            let next = crate::keep::save(trace, *task, *saved.borrow());
            *saved.borrow_mut() = next;
        });
        use_interval(true, KEEP_EVERY_MS, keep.clone());
        // And when the page goes (a reload, a closed tab): the last
        // second's events too, the ones a check's verdict may point at.
        use_effect_with((), move |_| {
            let listener = web_sys::window().map(|window| {
                browser::listen(
                    &window,
                    "pagehide",
                    false,
                    Box::new(move |_: &web_sys::Event| keep.emit(())),
                )
            });
            move || drop(listener)
        });
    }
    use_interval(
        lab.view.playing,
        lab.view.speed.interval_ms(),
        ontrace.reform(|()| TraceAction::Tick),
    );

    // `?demo` loads the sample trace (`?demo=8` also selects event 8).
    {
        let onaction = onaction.clone();
        use_effect_with((), move |_| {
            if let Some(value) = browser::query("demo") {
                onaction.emit(Action::Import(sample::TRACE.to_string()));
                if let Ok(seq) = value.parse() {
                    onaction.emit(Action::Trace(TraceAction::Select(seq)));
                }
            }
        });
    }
    // Display preferences live on <html>, where the CSS reads them.
    use_effect_with(
        (lab.prefs.theme, lab.prefs.projector),
        |&(theme, projector)| {
            let theme_attr = (theme != Theme::Auto).then_some(theme.value());
            browser::set_root_attribute("data-theme", theme_attr);
            browser::set_root_attribute("data-projector", projector.then_some("on"));
            browser::save_pref("theme", theme.value());
            browser::save_pref("projector", if projector { "1" } else { "0" });
        },
    );

    // Predict, then observe (see `predict`): while replaying, the trace's
    // telling moments hold the replay until the student answers.
    let prediction = use_reducer(PredictState::default);
    let moments = use_memo(
        (lab.view.trace.clone(), lab.view.replay),
        |(trace, replay)| {
            if *replay {
                predict::moments(trace)
            } else {
                Vec::new()
            }
        },
    );
    {
        let holds = Rc::new(prediction.holds(&moments));
        let ontrace = ontrace.clone();
        let current = lab.view.holds.clone();
        use_effect_with(holds, move |holds| {
            if *holds != current {
                ontrace.emit(TraceAction::Hold(holds.clone()));
            }
        });
    }
    let onanswer = {
        let (prediction, ontrace, moments) = (prediction.clone(), ontrace.clone(), moments.clone());
        Callback::from(move |(at, given)| {
            prediction.dispatch(PredictAction::Answer { at, given });
            let mut holds = prediction.holds(&moments);
            holds.retain(|&h| h != at);
            // Released, and shown: the answer is the event, in the trace.
            ontrace.emit(TraceAction::Hold(Rc::new(holds)));
            ontrace.emit(TraceAction::Step(Toward::Next));
        })
    };
    // An answer stays on screen until the student continues, even when
    // the next event is another question's.
    let continued = use_state(|| None::<u64>);
    let revealed = lab
        .view
        .selected
        .filter(|seq| lab.view.replay && *continued != Some(*seq))
        .and_then(|seq| {
            let moment = moments.iter().find(|m| m.at == seq)?;
            Some((moment.clone(), prediction.answer(seq)?))
        });
    let waiting = lab.view.waiting_at();
    let asking = waiting
        .filter(|_| revealed.is_none())
        .and_then(|at| moments.iter().find(|m| m.at == at).cloned());
    let oncontinue = {
        let (continued, ontrace) = (continued.clone(), ontrace.clone());
        let (selected, waiting) = (lab.view.selected, waiting.is_some());
        Callback::from(move |()| {
            continued.set(selected);
            // Plays on, unless the next question is right there.
            if !waiting {
                ontrace.emit(TraceAction::TogglePlay);
            }
        })
    };

    let conn = lab.session.conn();
    let can_send = online && conn.is_some_and(|c| c.can_send());
    let can_shutdown = can_send && conn.is_some_and(|c| c.transport == Transport::Tcp);
    let can_close = online && conn.is_some_and(|c| !c.closed);
    let view = &lab.view;
    let number = view.selected_number();
    let position = match (view.selected, view.trace.len()) {
        (_, 0) => "No events".to_string(),
        (Some(_), n) if view.replay => format!("Step {number} of {n}"),
        (Some(_), n) => format!("Event {number} of {n}"),
        (None, n) => format!("{n} events, live"),
    };

    let student = lab.student_selection();
    // The lab's own programs ("Check my task" runs them) are not the
    // student's: their lines are not marked in the student's editor.
    let students_own = lab.view.selected_entry().is_some_and(|e| {
        e.event
            .source
            .as_ref()
            .is_some_and(|s| s.file != course::LAB_SERVER && s.file != course::LAB_CLIENT)
    });
    let marked = student
        .as_ref()
        .filter(|_| students_own)
        .map(|(lane, _, line)| (*lane, *line));
    let student_code = student.map(|(lane, ran, line)| StudentCode {
        lane,
        // The text the program ran; if it is no longer kept, the file's
        // text now.
        text: ran.unwrap_or_else(|| lab.code.file(lane).text.clone()),
        line: line as usize,
    });

    html! {
        <div class={classes!("app", lab.code.open.then_some("coding"))}>
            <Header
                status={lab.session.status}
                bridge={lab.session.bridge.as_ref().map(|b| AttrValue::from(b.bridge.clone()))}
                projector={lab.prefs.projector}
                theme={lab.prefs.theme}
                code_open={lab.code.open}
                onaction={onaction.clone()}
            />
            if let Some(problem) = &lab.session.problem {
                // Where the student is looking: right under the title bar,
                // in every layout, until dismissed.
                <div id="session-problem" class="session-problem" role="alert">
                    <strong>{ &problem.title }</strong>
                    <span class="session-problem-text">{ " " }{ &problem.text }</span>
                    <button type="button" class="dismiss" aria-label="Dismiss"
                        onclick={onsession.reform(|_| SessionAction::DismissProblem)}>{ "×" }</button>
                </div>
            }
            <main class="layout">
                if lab.code.open {
                    <CodeView code={lab.code.clone()} {marked} onaction={onaction.clone()} />
                }
                <div class="column left">
                    <StudentName send={send_to_bridge.clone()} />
                    if let Some(task) = crate::workspace::number(lab.session.task) {
                        <TaskPanel {task} origin={*origin} said={(*said).clone()} {onhandout} {ondownload} />
                    }
                    <LabControls
                        {online}
                        task={lab.session.task}
                        greeting={AttrValue::from(lab.session.greeting.clone())}
                        family={lab.session.family}
                        server={lab.session.server().cloned()}
                        conns={lab.session.conns.clone()}
                        current_conn={lab.session.current_conn}
                        public_server={lab.session.bridge.as_ref().and_then(|b| b.public_server.clone())}
                        onaction={onsession.clone()}
                    />
                    <Notices notices={lab.session.notices.clone()} onaction={onsession.clone()} />
                    <Composer {can_send} {can_shutdown} {can_close}
                        max_message_bytes={lab.session.bridge.as_ref().map(|b| b.limits.max_message_bytes)}
                        conn={lab.session.current_conn}
                        sends_queued={lab.session.sends_queued}
                        returned={lab.session.returned_draft.clone()}
                        onaction={onsession.clone()} />
                    // Below the lab's controls: on a projector (1280x720)
                    // start, connect and send stay on screen.
                    if let Some(task) = crate::workspace::number(lab.session.task) {
                        <CheckPanel {task} {online} code={lab.code.clone()} trace={lab.view.trace.clone()}
                            answer={lab.session.task_checks.clone()}
                            onaction={onaction.clone()} send={send_to_bridge.clone()} />
                    }
                    if let Some(limits) = lab.session.bridge.as_ref().map(|b| &b.limits) {
                        <p class="limits">
                            { format!(
                                "This bridge allows {} servers and {} clients per page, {} bytes per command (the message and its wrapping), {} s idle.",
                                limits.max_servers, limits.max_connections, limits.max_message_bytes, limits.idle_timeout_secs
                            ) }
                        </p>
                    }
                </div>
                <section class="column trace" aria-labelledby="trace-title">
                    <h2 id="trace-title" class="sr-only">{ "Trace" }</h2>
                    <PlaybackBar
                        playing={view.playing}
                        live={view.selected.is_none() && !view.replay}
                        speed={view.speed}
                        position={AttrValue::from(position)}
                        has_events={!view.trace.is_empty()}
                        onaction={ontrace.clone()}
                    />
                    <PredictCard {asking} {revealed} replaying={view.replay}
                        count={moments.len()} missing={predict::missing(&moments)}
                        {onanswer} {oncontinue} />
                    <TraceViews
                        trace={view.trace.clone()}
                        filter={view.filter.clone()}
                        selected={view.selected}
                        shown_upto={view.shown_upto()}
                        onaction={ontrace.clone()}
                    />
                    <ExportBar trace={view.trace.clone()} onaction={onaction.clone()} />
                </section>
                <div class="column right">
                    <EventDetail entry={view.selected_entry()} {number} />
                    <CodePanel task={lab.session.task} selected={view.code_selection()} event={view.selected} student={student_code} />
                </div>
            </main>
        </div>
    }
}
