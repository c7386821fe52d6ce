use crate::browser;
use crate::diagram;
use crate::export;
use crate::state::Action;
use crate::trace::Trace;
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ExportBarProps {
    pub trace: Trace,
    pub onaction: Callback<Action>,
}

/// Download the trace (JSON, Mermaid, SVG) for a lab report, or load a
/// JSON trace to replay it.
#[component]
pub fn ExportBar(props: &ExportBarProps) -> Html {
    let empty = props.trace.is_empty();
    let on_json = {
        let trace = props.trace.clone();
        Callback::from(move |_| {
            browser::download(
                "socket-lab-trace.json",
                "application/json",
                &export::to_json(&trace),
            );
        })
    };
    let on_mermaid = {
        let trace = props.trace.clone();
        Callback::from(move |_| {
            browser::download(
                "socket-lab-trace.mmd",
                "text/plain",
                &export::to_mermaid(&trace),
            );
        })
    };
    let on_svg = {
        let trace = props.trace.clone();
        Callback::from(move |_| {
            let svg = diagram::to_svg(&diagram::layout(trace.iter().map(|e| &**e)));
            browser::download("socket-lab-trace.svg", "image/svg+xml", &svg);
        })
    };
    let on_import = {
        let onaction = props.onaction.clone();
        Callback::from(move |e: Event| {
            let input = e.target_unchecked_into::<HtmlInputElement>();
            let Some(file) = input.files().and_then(|files| files.get(0)) else {
                return;
            };
            // Choosing the same file again must fire `change` again.
            input.set_value("");
            if file.size() > export::MAX_IMPORT_BYTES as f64 {
                onaction.emit(Action::ImportFailed(format!(
                    "the file is larger than {} MB",
                    export::MAX_IMPORT_BYTES / 1024 / 1024
                )));
                return;
            }
            let onaction = onaction.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match browser::read_text(file).await {
                    Ok(text) => onaction.emit(Action::Import(text)),
                    Err(why) => onaction.emit(Action::ImportFailed(why)),
                }
            });
        })
    };
    html! {
        <div class="toolbar exports" role="toolbar" aria-label="Export or load a trace">
            <span class="toolbar-title">{ "Export" }</span>
            <button id="export-json" type="button" disabled={empty} onclick={on_json}>{ "JSON" }</button>
            <button id="export-mermaid" type="button" disabled={empty} onclick={on_mermaid}>{ "Mermaid" }</button>
            <button id="export-svg" type="button" disabled={empty} onclick={on_svg}>{ "SVG" }</button>
            // The input is hidden but focusable; its label looks like a button
            // and shows the input's focus ring (see style.css).
            <input id="import-json" class="file-input" type="file" accept=".json,application/json" onchange={on_import} />
            <label class="file-button" for="import-json">{ "Load a trace (JSON)…" }</label>
        </div>
    }
}
