//! The page: one reducer for all state, the bridge connection, and the
//! layout of the components.

use crate::browser;
use crate::code::CodeAction;
use crate::code::CodeState;
use crate::components::{
    CodePanel, CodeView, Composer, EventDetail, ExportBar, Header, LabControls, Notices,
    PlaybackBar, PredictCard, StudentCode, StudentName, TaskPanel, TraceViews,
};
use crate::hooks::{RunnerLink, use_bridge, use_code_view, use_interval, use_share_code};
use crate::predict::{self, PredictAction, PredictState};
use crate::sample;
use crate::state::{Action, BridgeStatus, LabState, Theme, Toward};
use protocol::{Lane, Transport};
use std::rc::Rc;
use yew::prelude::*;

/// The state the page opens with: saved display preferences applied.
fn initial_state() -> LabState {
    let mut state = LabState::default();
    state.theme = browser::load_pref("theme")
        .map(|v| Theme::from_value(&v))
        .unwrap_or_default();
    state.projector = browser::load_pref("projector").as_deref() == Some("1");
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

    // Components get this one callback; it never changes, so it never
    // makes a memoised component render again.
    let onaction = {
        let dispatcher = lab.dispatcher();
        use_callback((), move |action: Action, _| dispatcher.dispatch(action))
    };
    // Tasks as workspaces (see `workspace`): leaving a task keeps its
    // files, output and trace; entering one brings its files back.
    let entered = use_mut_ref(|| 0u64);
    let origin = use_state(|| crate::workspace::Origin::Own);
    {
        let shown = use_mut_ref(|| lab.task);
        let (lab, onaction, entered, origin) = (
            lab.clone(),
            onaction.clone(),
            entered.clone(),
            origin.clone(),
        );
        use_effect_with(lab.task, move |&task| {
            let left = *shown.borrow();
            if left != task {
                if let Some(n) = crate::workspace::number(left) {
                    let own = crate::workspace::trace_since(&lab.trace, *entered.borrow());
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
                *entered.borrow_mut() = lab.trace.next_seq();
                *shown.borrow_mut() = task;
            }
        });
    }
    let said = use_state(|| None::<AttrValue>);
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
            let current = crate::workspace::number(lab.task);
            let folders: Vec<_> = (1..=3)
                .map(|n| {
                    if Some(n) == current {
                        let own = crate::workspace::trace_since(&lab.trace, *entered.borrow());
                        crate::workspace::live_folder(n, &lab.code, &own)
                    } else {
                        crate::workspace::kept_folder(n)
                    }
                })
                .collect();
            let pattern = lab
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
        let latest = use_mut_ref(|| (lab.trace.clone(), lab.task));
        *latest.borrow_mut() = (lab.trace.clone(), lab.task);
        let saved = use_mut_ref(|| (u64::MAX, 0));
        use_interval(
            true,
            KEEP_EVERY_MS,
            Callback::from(move |()| {
                let (trace, task) = &*latest.borrow();
                let next = crate::keep::save(trace, *task, *saved.borrow());
                *saved.borrow_mut() = next;
            }),
        );
    }
    use_interval(
        lab.playing,
        lab.speed.interval_ms(),
        onaction.reform(|()| Action::Tick),
    );

    // `?demo` loads the sample trace (`?demo=8` also selects event 8).
    {
        let onaction = onaction.clone();
        use_effect_with((), move |_| {
            if let Some(value) = browser::query("demo") {
                onaction.emit(Action::Import(sample::TRACE.to_string()));
                if let Ok(seq) = value.parse() {
                    onaction.emit(Action::Select(seq));
                }
            }
        });
    }
    // Display preferences live on <html>, where the CSS reads them.
    use_effect_with((lab.theme, lab.projector), |&(theme, projector)| {
        let theme_attr = (theme != Theme::Auto).then_some(theme.value());
        browser::set_root_attribute("data-theme", theme_attr);
        browser::set_root_attribute("data-projector", projector.then_some("on"));
        browser::save_pref("theme", theme.value());
        browser::save_pref("projector", if projector { "1" } else { "0" });
    });

    // Predict, then observe (see `predict`): while replaying, the trace's
    // telling moments hold the replay until the student answers.
    let prediction = use_reducer(PredictState::default);
    let moments = use_memo((lab.trace.clone(), lab.replay), |(trace, replay)| {
        if *replay {
            predict::moments(trace)
        } else {
            Vec::new()
        }
    });
    {
        let holds = Rc::new(prediction.holds(&moments));
        let onaction = onaction.clone();
        let current = lab.holds.clone();
        use_effect_with(holds, move |holds| {
            if *holds != current {
                onaction.emit(Action::Hold(holds.clone()));
            }
        });
    }
    let onanswer = {
        let (prediction, onaction, moments) =
            (prediction.clone(), onaction.clone(), moments.clone());
        Callback::from(move |(at, given)| {
            prediction.dispatch(PredictAction::Answer { at, given });
            let mut holds = prediction.holds(&moments);
            holds.retain(|&h| h != at);
            // Released, and shown: the answer is the event, in the trace.
            onaction.emit(Action::Hold(Rc::new(holds)));
            onaction.emit(Action::Step(Toward::Next));
        })
    };
    // An answer stays on screen until the student continues, even when
    // the next event is another question's.
    let continued = use_state(|| None::<u64>);
    let revealed = lab
        .selected
        .filter(|seq| lab.replay && *continued != Some(*seq))
        .and_then(|seq| {
            let moment = moments.iter().find(|m| m.at == seq)?;
            Some((moment.clone(), prediction.answer(seq)?))
        });
    let waiting = lab.waiting_at();
    let asking = waiting
        .filter(|_| revealed.is_none())
        .and_then(|at| moments.iter().find(|m| m.at == at).cloned());
    let oncontinue = {
        let (continued, onaction) = (continued.clone(), onaction.clone());
        let (selected, waiting) = (lab.selected, waiting.is_some());
        Callback::from(move |()| {
            continued.set(selected);
            // Plays on, unless the next question is right there.
            if !waiting {
                onaction.emit(Action::TogglePlay);
            }
        })
    };

    let online = lab.status == BridgeStatus::Open;
    let conn = lab.conn();
    let can_send = online && conn.is_some_and(|c| c.can_send());
    let can_shutdown = can_send && conn.is_some_and(|c| c.transport == Transport::Tcp);
    let can_close = online && conn.is_some_and(|c| !c.closed);
    let number = lab.selected_number();
    let position = match (lab.selected, lab.trace.len()) {
        (_, 0) => "No events".to_string(),
        (Some(_), n) if lab.replay => format!("Step {number} of {n}"),
        (Some(_), n) => format!("Event {number} of {n}"),
        (None, n) => format!("{n} events, live"),
    };

    let student = lab.student_selection();
    let marked = student.as_ref().map(|(lane, _, line)| (*lane, *line));
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
                status={lab.status}
                bridge={lab.bridge.as_ref().map(|b| AttrValue::from(b.bridge.clone()))}
                projector={lab.projector}
                theme={lab.theme}
                code_open={lab.code.open}
                onaction={onaction.clone()}
            />
            if let Some(problem) = &lab.problem {
                // Where the student is looking: right under the title bar,
                // in every layout, until dismissed.
                <div id="session-problem" class="session-problem" role="alert">
                    <strong>{ &problem.title }</strong>
                    <span class="session-problem-text">{ " " }{ &problem.text }</span>
                    <button type="button" class="dismiss" aria-label="Dismiss"
                        onclick={onaction.reform(|_| Action::DismissProblem)}>{ "×" }</button>
                </div>
            }
            <main class="layout">
                if lab.code.open {
                    <CodeView code={lab.code.clone()} {marked} onaction={onaction.clone()} />
                }
                <div class="column left">
                    <StudentName send={send_to_bridge} />
                    if let Some(task) = crate::workspace::number(lab.task) {
                        <TaskPanel {task} origin={*origin} said={(*said).clone()} {onhandout} {ondownload} />
                    }
                    <LabControls
                        {online}
                        task={lab.task}
                        greeting={AttrValue::from(lab.greeting.clone())}
                        family={lab.family}
                        server={lab.server().cloned()}
                        conns={lab.conns.clone()}
                        current_conn={lab.current_conn}
                        public_server={lab.bridge.as_ref().and_then(|b| b.public_server.clone())}
                        onaction={onaction.clone()}
                    />
                    <Notices notices={lab.notices.clone()} onaction={onaction.clone()} />
                    <Composer {can_send} {can_shutdown} {can_close}
                        max_message_bytes={lab.bridge.as_ref().map(|b| b.limits.max_message_bytes)}
                        conn={lab.current_conn}
                        sends_queued={lab.sends_queued}
                        returned={lab.returned_draft.clone()}
                        onaction={onaction.clone()} />
                    if let Some(limits) = lab.bridge.as_ref().map(|b| &b.limits) {
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
                        playing={lab.playing}
                        live={lab.selected.is_none() && !lab.replay}
                        speed={lab.speed}
                        position={AttrValue::from(position)}
                        has_events={!lab.trace.is_empty()}
                        onaction={onaction.clone()}
                    />
                    <PredictCard {asking} {revealed} replaying={lab.replay}
                        count={moments.len()} missing={predict::missing(&moments)}
                        {onanswer} {oncontinue} />
                    <TraceViews
                        trace={lab.trace.clone()}
                        filter={lab.filter.clone()}
                        selected={lab.selected}
                        shown_upto={lab.shown_upto()}
                        onaction={onaction.clone()}
                    />
                    <ExportBar trace={lab.trace.clone()} onaction={onaction.clone()} />
                </section>
                <div class="column right">
                    <EventDetail entry={lab.selected_entry()} {number} />
                    <CodePanel task={lab.task} selected={lab.code_selection()} event={lab.selected} student={student_code} />
                </div>
            </main>
        </div>
    }
}
