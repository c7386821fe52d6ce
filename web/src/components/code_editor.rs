use crate::lazy::{self, Editor};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct CodeEditorProps {
    /// `editor-server` or `editor-client`.
    pub id: AttrValue,
    /// The file's name, for screen readers.
    pub label: AttrValue,
    pub text: Rc<str>,
    /// The editor module is loaded: mount it.
    pub ready: bool,
    /// The line the selected trace event points at (0: none).
    pub mark: u32,
    /// A sentence under a line: the error, and what it means.
    pub note: Option<(u32, AttrValue)>,
    pub onedit: Callback<String>,
}

/// One program's editor: CodeMirror once its module is loaded, a plain
/// text box before that (or if it cannot load), so the student can always
/// write and run the program.
///
/// CodeMirror owns the DOM inside its host `<div>`; yew renders the host
/// with no children, so it never touches what CodeMirror drew.
#[component]
pub fn CodeEditor(props: &CodeEditorProps) -> Html {
    let host = use_node_ref();
    let editor = use_mut_ref(|| None::<(Editor, Closure<dyn FnMut(String)>)>);
    let mounted = use_state(|| false);
    {
        let host = host.clone();
        let editor = editor.clone();
        let onedit = props.onedit.clone();
        let text = props.text.clone();
        let label = props.label.clone();
        let mounted = mounted.setter();
        use_effect_with(props.ready, move |&ready| {
            if ready && let Some(element) = host.cast::<web_sys::Element>() {
                let on_change = Closure::<dyn FnMut(String)>::new(move |text: String| {
                    onedit.emit(text);
                });
                if let Ok(made) = lazy::create_editor(&element, &text, &label, &on_change) {
                    *editor.borrow_mut() = Some((made, on_change));
                    mounted.set(true);
                }
            }
            move || {
                if let Some((made, _)) = editor.borrow_mut().take() {
                    made.destroy();
                }
            }
        });
    }
    // What the page says goes into the editor: a change from elsewhere (a
    // restored program; the editor's own changes come back equal and are
    // left alone), the traced line, the error note.
    {
        let editor = editor.clone();
        let deps = (props.text.clone(), props.mark, props.note.clone(), *mounted);
        use_effect_with(deps, move |(text, mark, note, _)| {
            if let Some((made, _)) = editor.borrow().as_ref() {
                if made.text() != **text {
                    made.set_text(text);
                }
                made.mark_line(*mark);
                match note {
                    Some((line, text)) => made.set_note(*line, text),
                    None => made.set_note(0, ""),
                }
            }
        });
    }

    let oninput = props.onedit.reform(|e: InputEvent| {
        let area: web_sys::HtmlTextAreaElement = e.target_unchecked_into();
        area.value()
    });
    html! {
        <div class="editor" id={props.id.clone()} data-ready={mounted.to_string()}>
            <div class="editor-host" ref={host}></div>
            if !*mounted {
                <textarea
                    class="editor-fallback"
                    aria-label={props.label.clone()}
                    spellcheck="false"
                    value={props.text.to_string()}
                    {oninput}
                />
            }
        </div>
    }
}
