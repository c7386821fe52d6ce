//! "Check my task": one button for the current task, and each check's
//! sentence, linked to the trace event and the student's line.

use crate::browser;
use crate::checks::{CheckRun, SAVED_CHECKS, Shown, from_kept_json, kept_json, request, shown};
use crate::code::{CodeAction, CodeState};
use crate::hooks::use_interval;
use crate::session::TaskChecks;
use crate::state::Action;
use crate::trace::Trace;
use yew::prelude::*;

/// How often a running check looks at the programs (for its time bounds;
/// changes in the trace or the runs advance it at once).
const TICK_MS: u32 = 250;
/// How long the bridge may take to judge a run before the page says so.
const ANSWER_MS: f64 = 10_000.0;
/// What the page says when the bridge did not judge the run.
const NO_ANSWER: &str =
    "The bridge did not judge this run (the connection may have dropped): try Check again.";

#[derive(Properties, PartialEq)]
pub struct CheckPanelProps {
    /// 1, 2 or 3.
    pub task: u8,
    pub online: bool,
    pub code: CodeState,
    pub trace: Trace,
    pub onaction: Callback<Action>,
    /// Sends a JSON message to the bridge (the request to judge a run).
    pub send: Callback<String, bool>,
    /// The bridge's latest checks.
    pub answer: Option<TaskChecks>,
}

/// A run the bridge has been asked to judge.
struct Asked {
    task: u8,
    since: u64,
    /// The answers there were before (the next one is this run's).
    after: u64,
    at_ms: f64,
}

/// The verdicts as shown: each check linked to its trace event, if the
/// trace has it.
#[derive(PartialEq)]
struct Linked {
    task: u8,
    checks: Vec<Shown>,
}

/// The latest verdicts: of which task, each check, and where the run's
/// events start in the trace. Each check is linked to its trace event when
/// shown, not when it came: the bridge's answer can come before the page
/// has drawn the run's last events.
#[derive(Clone, PartialEq)]
struct Verdicts {
    task: u8,
    since: u64,
    checks: std::rc::Rc<Vec<protocol::CheckReport>>,
}

#[component]
pub fn CheckPanel(props: &CheckPanelProps) -> Html {
    let running = use_mut_ref(|| None::<CheckRun>);
    // Only for rendering: the stage the run is in (the run itself lives in
    // the ref, so an effect and a tick never race on a stale copy).
    let stage = use_state(|| None::<crate::checks::Stage>);
    // The latest verdicts, kept across a reload (linked again to the
    // trace the page put back).
    let verdicts = use_state(|| {
        let (task, checks) = from_kept_json(&browser::load_pref(SAVED_CHECKS)?)?;
        Some(Verdicts {
            task,
            since: 0,
            checks: std::rc::Rc::new(checks),
        })
    });
    let tick = use_state(|| 0u32);
    let asked = use_mut_ref(|| None::<Asked>);
    let failure = use_state(|| None::<&'static str>);
    let answers = props.answer.as_ref().map_or(0, |a| a.n);

    // Advance the run on every change of the programs or the trace, and on
    // a tick for its time bounds.
    {
        let (running, stage, failure) = (running.clone(), stage.clone(), failure.clone());
        let (onaction, send) = (props.onaction.clone(), props.send.clone());
        let (code, trace) = (props.code.clone(), props.trace.clone());
        let asked = asked.clone();
        use_effect_with(
            (props.code.clone(), props.trace.next_seq(), *tick),
            move |_| {
                let now = browser::now_ms();
                let mut slot = running.borrow_mut();
                let overdue = asked
                    .borrow()
                    .as_ref()
                    .is_some_and(|a| now - a.at_ms > ANSWER_MS);
                if overdue {
                    *asked.borrow_mut() = None;
                    stage.set(None);
                    failure.set(Some(NO_ANSWER));
                }
                if let Some(run) = slot.as_mut() {
                    let (actions, done) = run.advance(&code, trace.next_seq(), now);
                    if done {
                        // The bridge judges; "Reading the trace…" stays
                        // until it answers.
                        let ask = request(run.task, run.since, &trace, &code);
                        let sent = serde_json::to_string(&ask).is_ok_and(|json| send.emit(json));
                        if sent {
                            *asked.borrow_mut() = Some(Asked {
                                task: run.task,
                                since: run.since,
                                after: answers,
                                at_ms: now,
                            });
                        } else {
                            stage.set(None);
                            failure.set(Some(NO_ANSWER));
                        }
                        *slot = None;
                    } else if *stage != Some(run.stage) {
                        stage.set(Some(run.stage));
                    }
                    drop(slot);
                    for action in actions {
                        onaction.emit(Action::Code(action));
                    }
                }
            },
        );
    }
    // The bridge's answer to the run it was asked to judge.
    {
        let (asked, stage, verdicts) = (asked.clone(), stage.clone(), verdicts.clone());
        use_effect_with(props.answer.clone(), move |answer| {
            let mut slot = asked.borrow_mut();
            if let (Some(answer), Some(ask)) = (answer, slot.as_ref())
                && answer.n > ask.after
                && answer.task == ask.task
            {
                verdicts.set(Some(Verdicts {
                    task: answer.task,
                    since: ask.since,
                    checks: answer.checks.clone(),
                }));
                browser::save_pref(SAVED_CHECKS, &kept_json(answer.task, &answer.checks));
                *slot = None;
                stage.set(None);
            }
        });
    }
    {
        let tick = tick.clone();
        use_interval(
            stage.is_some(),
            TICK_MS,
            Callback::from(move |()| tick.set(tick.wrapping_add(1))),
        );
    }

    let task = props.task;
    let onclick = {
        let (running, stage, verdicts) = (running.clone(), stage.clone(), verdicts.clone());
        let (asked, failure) = (asked.clone(), failure.clone());
        let onaction = props.onaction.clone();
        let since = props.trace.next_seq();
        Callback::from(move |_| {
            if running.borrow().is_some() || asked.borrow().is_some() {
                return;
            }
            failure.set(None);
            let (run, actions) = CheckRun::start(task, since, browser::now_ms());
            stage.set(Some(run.stage));
            *running.borrow_mut() = Some(run);
            verdicts.set(None);
            browser::save_pref(SAVED_CHECKS, "");
            for action in actions {
                onaction.emit(Action::Code(action));
            }
        })
    };
    // Linked to the trace as it is now (again as it grows, until each
    // check has found its event).
    let linked = use_memo(
        ((*verdicts).clone(), props.trace.clone()),
        |(verdicts, trace)| {
            verdicts.as_ref().map(|v| Linked {
                task: v.task,
                checks: shown(&v.checks, v.since, trace),
            })
        },
    );
    let shown = linked.as_ref().as_ref().filter(|v| v.task == task);
    let summary = shown.map(|v| {
        let failed = v.checks.iter().filter(|c| !c.check.passed).count();
        match failed {
            0 => format!("Task {task}: all {} checks pass.", v.checks.len()),
            1 => format!("Task {task}: 1 of {} checks fails.", v.checks.len()),
            n => format!("Task {task}: {n} of {} checks fail.", v.checks.len()),
        }
    });
    let status = match (*stage, &summary, *failure) {
        (Some(stage), _, _) => Some(stage.doing().to_string()),
        (None, _, Some(failure)) => Some(failure.to_string()),
        (None, Some(summary), None) => Some(summary.clone()),
        (None, None, None) => None,
    };
    let select = |seq: Option<u64>| {
        let onaction = props.onaction.clone();
        Callback::from(move |_| {
            if let Some(seq) = seq {
                onaction.emit(Action::Code(CodeAction::Open));
                onaction.emit(Action::Trace(crate::trace_view::TraceAction::Select(seq)));
            }
        })
    };
    html! {
        <section class="panel check-panel" aria-labelledby="check-title">
            <h2 id="check-title">{ "Check my task" }</h2>
            <p class="hint">
                { "Runs your server.py with the lab's client, then your client.py with the lab's server, on real sockets, and reads the trace." }
            </p>
            <button type="button" id="check-task" class="primary"
                disabled={stage.is_some() || !props.online} {onclick}>
                { if stage.is_some() { format!("Checking Task {task}…") } else { format!("Check Task {task}") } }
            </button>
            <p id="check-status" class="check-status" role="status">{ status.unwrap_or_default() }</p>
            if let Some(v) = shown {
                <ol class="check-results" aria-label={format!("Task {task}'s checks")}>
                    { for v.checks.iter().enumerate().map(|(i, shown)| {
                        let c = &shown.check;
                        let verdict = if c.passed { "passed" } else { "failed" };
                        let place = match (c.line, shown.seq) {
                            (Some(line), _) => Some(format!("{} line {line}", c.file())),
                            (None, Some(_)) => Some("the trace".to_string()),
                            (None, None) => None,
                        };
                        html! {
                            <li class={classes!("check", verdict)} data-check={i.to_string()} data-passed={c.passed.to_string()}>
                                <div class="check-head">
                                    <span class="check-mark" aria-hidden="true">{ if c.passed { "✓" } else { "✗" } }</span>
                                    <strong class="check-title">{ &c.title }</strong>
                                    <span class="sr-only">{ format!(": {verdict}.") }</span>
                                </div>
                                <p class="check-happened">{ &c.happened }</p>
                                if !c.passed {
                                    <p class="check-expected"><span class="check-label">{ "Expected: " }</span>{ &c.expected }</p>
                                }
                                if let Some(place) = place {
                                    <button type="button" class="check-where link"
                                        disabled={shown.seq.is_none()}
                                        onclick={select(shown.seq)}>
                                        { format!("Show {place}") }
                                    </button>
                                }
                            </li>
                        }
                    }) }
                </ol>
            }
        </section>
    }
}
