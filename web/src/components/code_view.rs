use super::ProgramPane;
use crate::code::{CodeAction, CodeState, Loader};
use crate::state::Action;
use protocol::Lane;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct CodeViewProps {
    pub code: CodeState,
    /// The student's line behind the selected trace event.
    pub marked: Option<(Lane, u32)>,
    pub onaction: Callback<Action>,
}

/// The student's own `server.py` and `client.py`, side by side (tabs on a
/// phone and in projector mode), each with Run, Stop, its editor and its
/// terminal. Their socket calls are real (the bridge makes them) and
/// appear in the trace, in the lanes named after the files.
#[component]
pub fn CodeView(props: &CodeViewProps) -> Html {
    let code = &props.code;
    let onclose = props.onaction.reform(|_| Action::Code(CodeAction::Close));
    let tab = |lane: Lane, name: &'static str| {
        let onclick = props
            .onaction
            .reform(move |_| Action::Code(CodeAction::ShowTab(lane)));
        let current = code.tab == lane;
        // The file not shown still says how its run is going (a server
        // waiting in accept() while the class looks at the client).
        let state = code.file(lane).run.as_ref().map(|run| run.state);
        html! {
            <button type="button" id={format!("tab-{name}")}
                aria-pressed={current.to_string()} {onclick}
                data-state={state.map_or("idle", |s| s.value())}>
                <code>{ name }</code>
                if let Some(state) = state {
                    { " " }
                    <span class="tab-state">{ state.label() }</span>
                }
            </button>
        }
    };
    let python = match (&code.runner, &code.capability) {
        (Loader::Failed(why), _) => format!("Python could not be loaded: {why}"),
        (_, Some(capability)) if !capability.can_run() => {
            format!("Python cannot run in this browser: {}", capability.reason)
        }
        (Loader::Ready, _) => {
            "Python is ready. Run the server first, then the client; every socket call is real, and drawn in the trace.".to_string()
        }
        _ => "Loading Python (about 6 MB, once)… you can edit meanwhile.".to_string(),
    };
    let editor_note = match &code.editor {
        Loader::Failed(why) => Some(format!(
            "The editor could not be loaded ({why}): a plain text box stands in for it."
        )),
        _ => None,
    };
    let pane = |lane: Lane| {
        let mark = props
            .marked
            .filter(|(l, _)| *l == lane)
            .map_or(0, |(_, line)| line);
        html! {
            <ProgramPane
                file={code.file(lane).clone()}
                editor_ready={code.editor == Loader::Ready}
                {mark}
                hints={code.hints(lane)}
                current={code.tab == lane}
                onaction={props.onaction.clone()}
            />
        }
    };
    html! {
        <section id="code-view" class="codeview panel" aria-labelledby="codeview-title">
            <div class="codeview-bar">
                <h2 id="codeview-title">{ "Your code" }</h2>
                // One file at a time on a phone and a projector; both side
                // by side otherwise (the tabs are hidden).
                <div class="code-tabs" role="group" aria-label="Show file">
                    { tab(Lane::Server, "server.py") }
                    { tab(Lane::Client, "client.py") }
                </div>
                <p class="hint" id="python-status" data-state={match &code.runner {
                    Loader::Ready => "ready",
                    Loader::Failed(_) => "failed",
                    _ => "loading",
                }}>{ python }</p>
                <span class="spacer"></span>
                <button type="button" id="code-view-close" onclick={onclose}>{ "Close" }</button>
            </div>
            if code.restored {
                <p class="hint restored" id="code-restored">
                    { "Your server.py and client.py were restored from this browser: the page saves them as you type." }
                </p>
            }
            if let Some(note) = editor_note {
                <p class="hint">{ note }</p>
            }
            <div class="panes">
                { pane(Lane::Server) }
                { pane(Lane::Client) }
            </div>
        </section>
    }
}
