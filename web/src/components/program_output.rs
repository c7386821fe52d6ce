use crate::code::{Output, Stream};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ProgramOutputProps {
    /// `output-server` or `output-client`.
    pub id: AttrValue,
    pub file: AttrValue,
    pub output: Output,
    /// `input(prompt)` waits for a line.
    pub prompt: Option<AttrValue>,
    /// The program has been run (an empty terminal then means it printed
    /// nothing).
    pub ran: bool,
    pub onanswer: Callback<String>,
}

/// A program's terminal: what it printed (stderr in its own colour, and
/// marked as such for screen readers), and a line for `input()`.
#[component]
pub fn ProgramOutput(props: &ProgramOutputProps) -> Html {
    let scroll = use_node_ref();
    let input = use_node_ref();
    // Follow the newest line, as a terminal does; when input() starts
    // waiting, the cursor goes there.
    {
        let scroll = scroll.clone();
        let input = input.clone();
        let count = props.output.lines().len() + props.output.dropped();
        use_effect_with((count, props.prompt.is_some()), move |&(_, asking)| {
            if let Some(el) = scroll.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
            if asking && let Some(el) = input.cast::<web_sys::HtmlInputElement>() {
                let _ = el.focus();
            }
        });
    }
    let onsubmit = {
        let onanswer = props.onanswer.clone();
        let input = input.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(el) = input.cast::<web_sys::HtmlInputElement>() {
                onanswer.emit(el.value());
                el.set_value("");
            }
        })
    };
    let empty = props.output.lines().is_empty() && props.prompt.is_none();
    html! {
        <div class="terminal-wrap">
            <pre class="terminal" id={props.id.clone()} ref={scroll} tabindex="0"
                aria-label={format!("Output of {}", props.file)}>
                if props.output.dropped() > 0 {
                    <span class="out note">{ format!("({} earlier lines not shown)\n", props.output.dropped()) }</span>
                }
                if empty {
                    <span class="out note">{
                        if props.ran { "(nothing printed yet)" } else { "Press Run: what the program prints shows here." }
                    }</span>
                }
                { for props.output.lines().iter().map(|line| {
                    let class = classes!("out", line.stream.value());
                    html! {
                        <span {class}>
                            if line.stream == Stream::Stderr {
                                <span class="sr-only">{ "error output: " }</span>
                            }
                            { &line.text }{ "\n" }
                        </span>
                    }
                }) }
            </pre>
            if let Some(prompt) = &props.prompt {
                <form class="stdin" {onsubmit}>
                    <label class="inline" for={format!("{}-input", props.id)}>
                        { format!("{} waits in input(): ", props.file) }
                        <code>{ prompt.to_string() }</code>
                    </label>
                    <input type="text" id={format!("{}-input", props.id)} ref={input}
                        autocomplete="off" spellcheck="false" />
                    <button type="submit">{ "Enter" }</button>
                </form>
            }
        </div>
    }
}
