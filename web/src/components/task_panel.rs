//! The current task as the handout puts it, where its files came from, the
//! way back to the handout's code, and "Download my lab".

use crate::submission::handout_words;
use crate::workspace::Origin;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct TaskPanelProps {
    /// 1, 2 or 3.
    pub task: u8,
    pub origin: Origin,
    /// What the last download said (its file name, or why not).
    pub said: Option<AttrValue>,
    pub onhandout: Callback<()>,
    pub ondownload: Callback<()>,
}

#[component]
pub fn TaskPanel(props: &TaskPanelProps) -> Html {
    let task = props.task;
    let origin = match props.origin {
        Origin::Own => format!("Your own Task {task} files are in the code view."),
        Origin::FromTask1 => {
            format!("Task {task} started from your Task 1 files: change them to do this task.")
        }
        Origin::Handout => format!("Task {task} starts from the handout's code."),
    };
    html! {
        <section class="panel task-panel" aria-labelledby="task-panel-title">
            <h2 id="task-panel-title">{ format!("Handout, Task {task}") }</h2>
            <p class="handout-words">{ handout_words(task) }</p>
            <p class="hint task-origin">{ origin }</p>
            <div class="task-buttons">
                <button type="button" id="handout-code" onclick={props.onhandout.reform(|_| ())}>
                    { "Back to the handout's code" }
                </button>
                <button type="button" id="download-lab" class="primary" onclick={props.ondownload.reform(|_| ())}>
                    { "Download my lab" }
                </button>
            </div>
            if let Some(said) = &props.said {
                <p class="download-said" role="status">{ said }</p>
            }
        </section>
    }
}
