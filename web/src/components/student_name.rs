//! The student's name or student number: typed once, kept in the browser,
//! and told to the bridge (for the instructor's list) on every connection.

use crate::browser;
use protocol::{ClientMsg, clean_name};
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Where the name is kept in the browser (`localStorage`).
pub const SAVED_NAME: &str = "name";

/// The `ClientMsg` that tells the bridge the saved name, if there is one.
pub fn saved_name_msg() -> Option<String> {
    let name = clean_name(&browser::load_pref(SAVED_NAME)?).ok()?;
    serde_json::to_string(&ClientMsg::SetName { name }).ok()
}

#[derive(Properties, PartialEq)]
pub struct StudentNameProps {
    /// Sends one `ClientMsg` (JSON) to the bridge; false if not connected
    /// (the name is sent again when the page connects).
    pub send: Callback<String, bool>,
}

/// "Your name or student number", with Save; once saved, the name and a
/// button to change it.
#[component]
pub fn StudentName(props: &StudentNameProps) -> Html {
    let saved = use_state(|| browser::load_pref(SAVED_NAME).and_then(|n| clean_name(&n).ok()));
    let editing = use_state(|| saved.is_none());
    let problem = use_state(|| None::<String>);
    let input = use_node_ref();
    let onsubmit = {
        let (saved, editing, problem, input, send) = (
            saved.clone(),
            editing.clone(),
            problem.clone(),
            input.clone(),
            props.send.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let typed = input
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            match clean_name(&typed) {
                Ok(name) => {
                    browser::save_pref(SAVED_NAME, &name);
                    if let Ok(json) =
                        serde_json::to_string(&ClientMsg::SetName { name: name.clone() })
                    {
                        send.emit(json);
                    }
                    saved.set(Some(name));
                    editing.set(false);
                    problem.set(None);
                }
                Err(why) => problem.set(Some(why)),
            }
        })
    };
    let onchange = {
        let editing = editing.clone();
        Callback::from(move |_| editing.set(true))
    };
    html! {
        <section class="panel student-name" aria-labelledby="student-name-title">
            <h2 id="student-name-title" class="sr-only">{ "Your name" }</h2>
            if *editing {
                <form class="student-name-form" {onsubmit}>
                    <label for="student-name-input">{ "Your name or student number" }</label>
                    <input
                        id="student-name-input"
                        ref={input}
                        type="text"
                        maxlength={protocol::MAX_NAME_CHARS.to_string()}
                        autocomplete="off"
                        value={(*saved).clone().unwrap_or_default()}
                        placeholder="E18123"
                        aria-describedby="student-name-hint"
                    />
                    <button type="submit" id="student-name-save" class="primary">{ "Save" }</button>
                    <p id="student-name-hint" class="hint">
                        { "Your instructor sees it beside your progress; it names your submission." }
                    </p>
                    if let Some(why) = &*problem {
                        <p class="name-problem" role="alert">{ why }</p>
                    }
                </form>
            } else {
                <p class="student-name-saved">
                    { "Working as " }
                    <strong id="student-name">{ (*saved).clone().unwrap_or_default() }</strong>
                    { " " }
                    <button type="button" id="student-name-change" onclick={onchange}>{ "Change" }</button>
                </p>
            }
        </section>
    }
}
