use super::{CodeEditor, ProgramOutput};
use crate::code::{CodeAction, ProgramFile, RunState};
use crate::session::SessionAction;
use crate::state::Action;
use protocol::Lane;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ProgramPaneProps {
    pub file: ProgramFile,
    /// The editor module is loaded.
    pub editor_ready: bool,
    /// The line the selected trace event points at (0: none).
    pub mark: u32,
    /// Plain sentences on what the program is doing (see `CodeState::hints`).
    pub hints: Vec<&'static str>,
    /// Shown on a narrow screen, where the files are tabs.
    pub current: bool,
    pub onaction: Callback<Action>,
}

/// One program: Run and Stop, its status, its editor and its terminal,
/// and what the page can say about it (the real port, an error's meaning).
#[component]
pub fn ProgramPane(props: &ProgramPaneProps) -> Html {
    let file = &props.file;
    let lane = file.lane;
    let side = match lane {
        Lane::Server => "server",
        Lane::Client => "client",
    };
    let name = file.file();
    let run = file.run.as_ref();
    let live = file.is_live();
    let state = run.map(|r| r.state);

    let onrun = props
        .onaction
        .reform(move |_| Action::Code(CodeAction::Run(lane)));
    let onstop = props
        .onaction
        .reform(move |_| Action::Code(CodeAction::Stop(lane)));
    let onedit = props
        .onaction
        .reform(move |text| Action::Code(CodeAction::Edit(lane, text)));
    let onanswer = props
        .onaction
        .reform(move |text| Action::Code(CodeAction::Answer(lane, text)));

    let failure = run.and_then(|r| r.failure.as_ref());
    let note = failure.and_then(|f| {
        let line = f.line?;
        let mut text = f.headline();
        if let Some(why) = f.explanation() {
            text.push_str(" — ");
            text.push_str(why);
        }
        Some((line, AttrValue::from(text)))
    });
    let status = match (state, run.and_then(|r| r.waiting.as_ref())) {
        (None, _) => "Not run yet".to_string(),
        (Some(RunState::Running), Some(waiting)) => {
            let at = waiting
                .line
                .map(|l| format!(" on line {l}"))
                .unwrap_or_default();
            format!(
                "Running: waiting in {}{at} for {} s",
                waiting.call, waiting.secs
            )
        }
        (Some(RunState::Running), None) if run.is_some_and(|r| r.prompt.is_some()) => {
            "Running: waiting in input()".to_string()
        }
        (Some(state), _) => state.label().to_string(),
    };

    html! {
        <section
            class={classes!("program-pane", side, (!props.current).then_some("not-current"))}
            id={format!("pane-{side}")}
            aria-labelledby={format!("pane-{side}-title")}
        >
            <div class="pane-bar">
                <h3 id={format!("pane-{side}-title")}><code>{ name }</code></h3>
                <span
                    class="run-state"
                    id={format!("state-{side}")}
                    data-state={state.map_or("idle", |s| s.value())}
                    role="status"
                >
                    { status }
                </span>
                <span class="spacer"></span>
                <button id={format!("run-{side}")} type="button" class="primary" onclick={onrun}
                    title={if live { "Stop this run and start again" } else { "Run this program" }}>
                    { if live { "Run again" } else { "Run" } }
                </button>
                <button id={format!("stop-{side}")} type="button" onclick={onstop}
                    disabled={!live || state == Some(RunState::Stopping)}>
                    { "Stop" }
                </button>
            </div>
            if let Some(bound) = run.and_then(|r| r.bound.as_ref()) {
                <p class="real-port" id={format!("real-port-{side}")}>
                    { format!("Your port {} is really ", bound.asked_port()) }
                    <strong><code>{ &bound.real }</code></strong>
                    { ": from a terminal on the bridge's machine, " }
                    <code>{ format!("nc 127.0.0.1 {}", bound.real_port()) }</code>
                    { " reaches it." }
                    if live {
                        <button type="button" id="connect-lab-client" class="inline-action"
                            onclick={props.onaction.reform({
                                let asked = format!("127.0.0.1:{}", bound.asked_port());
                                move |_| Action::Session(SessionAction::ConnectTarget(asked.clone()))
                            })}>
                            { "Connect the lab's client to it" }
                        </button>
                    }
                </p>
            }
            if let Some(failure) = failure {
                <div class="run-error" id={format!("error-{side}")} role="alert">
                    <code>{ failure.headline() }</code>
                    if let Some(line) = failure.line {
                        { format!(" (line {line})") }
                    }
                    if let Some(why) = failure.explanation() {
                        <p class="why">{ why }</p>
                    }
                </div>
            }
            if !props.hints.is_empty() {
                <ul class="run-hints" id={format!("hints-{side}")}>
                    { for props.hints.iter().map(|h| html! { <li>{ *h }</li> }) }
                </ul>
            }
            <CodeEditor
                id={format!("editor-{side}")}
                label={AttrValue::from(name)}
                text={file.text.clone()}
                ready={props.editor_ready}
                mark={props.mark}
                {note}
                {onedit}
            />
            <ProgramOutput
                id={format!("output-{side}")}
                file={AttrValue::from(name)}
                output={run.map(|r| r.output.clone()).unwrap_or_default()}
                prompt={run.and_then(|r| r.prompt.clone()).map(AttrValue::from)}
                ran={run.is_some()}
                {onanswer}
            />
        </section>
    }
}
