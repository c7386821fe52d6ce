use crate::browser;
use crate::lab::{Task, split_comment};
use protocol::Lane;
use std::rc::Rc;
use yew::prelude::*;

/// The student's own program behind the selected event.
#[derive(Clone, PartialEq)]
pub struct StudentCode {
    pub lane: Lane,
    pub text: Rc<str>,
    /// 1-based.
    pub line: usize,
}

#[derive(Properties, PartialEq)]
pub struct CodePanelProps {
    pub task: Task,
    /// The selected event's side and call (`Step::name()`), if any.
    pub selected: Option<(Lane, &'static str)>,
    /// The selected event's `seq`: a new event with the same line still
    /// brings the line back into sight (the detail above this panel
    /// changes size with each event, moving the panel's edges).
    #[prop_or_default]
    pub event: Option<u64>,
    /// Set when the selected event was made by the student's own program:
    /// the panel shows that program instead of the lab's.
    #[prop_or_default]
    pub student: Option<StudentCode>,
}

/// The lab's `server.py` and `client.py` for the task, with the line that
/// made the selected event highlighted.
#[component]
pub fn CodePanel(props: &CodePanelProps) -> Html {
    let student = props.student.as_ref();
    let highlight = match student {
        Some(code) => Some((code.lane, code.line)),
        None => props
            .selected
            .and_then(|(lane, call)| Some((lane, props.task.line_for(lane, call)?))),
    };
    let panel_ref = use_node_ref();
    {
        let panel_ref = panel_ref.clone();
        use_effect_with((highlight, props.event), move |(highlight, _)| {
            if let (Some((lane, line)), Some(panel)) =
                (*highlight, panel_ref.cast::<web_sys::Element>())
            {
                // After the browser has laid out the whole page: the
                // selected event's detail, above this panel, changes size
                // with the same selection and moves this panel's edges.
                gloo_timers::callback::Timeout::new(0, move || {
                    // The panel's title stays at its top (sticky): the line
                    // must show below it, not under it.
                    let title = panel.query_selector("#code-title").ok().flatten();
                    browser::reveal_below(&panel, &line_id(lane, line), title.as_ref());
                })
                .forget();
            }
        });
    }
    let text_of = |lane: Lane| -> &str {
        match student {
            Some(code) if code.lane == lane => &code.text,
            _ => props.task.program(lane),
        }
    };
    let program = |lane: Lane, name: &str| {
        let lit = highlight.filter(|(l, _)| *l == lane).map(|(_, n)| n);
        html! {
            <figure class="program">
                <figcaption>{ name }</figcaption>
                <pre><code>
                    { for text_of(lane).lines().enumerate().map(|(i, line)| {
                        let n = i + 1;
                        let (code, comment) = split_comment(line);
                        // A long line wraps under its own indentation (see
                        // `.line` in style.css).
                        let indent = line.len() - line.trim_start().len();
                        html! {
                            <span
                                id={line_id(lane, n)}
                                class={classes!("line", (lit == Some(n)).then_some("highlight"))}
                                data-line={n.to_string()}
                                style={format!("--indent: {indent}")}
                            >
                                <span class="ln" aria-hidden="true">{ n }</span>
                                { code }
                                <span class="comment">{ comment }</span>
                                { "\n" }
                            </span>
                        }
                    }) }
                </code></pre>
            </figure>
        }
    };
    let note = match (props.selected, highlight) {
        _ if student.is_some() => "The highlighted line of your program made the selected event.",
        (None, _) => "Select an event to see the line of the lab's code that made it.",
        (Some(_), None) => "The lab's code has no line for this event (the bridge did it).",
        (Some(_), Some(_)) => "The highlighted line made the selected event.",
    };
    html! {
        // A tab stop of its own: it scrolls, and a keyboard scrolls only
        // what has the focus.
        <section id="lab-code" class="panel code" aria-labelledby="code-title" tabindex="0" ref={panel_ref}>
            if let Some(code) = student {
                <h2 id="code-title">{ "Your code: " }<code>{ crate::code::file_of(code.lane) }</code></h2>
                <p class="hint">{ note }</p>
                { program(code.lane, crate::code::file_of(code.lane)) }
            } else {
                <h2 id="code-title">{ "The lab's code: " }{ props.task.title() }</h2>
                <p class="hint">{ note }</p>
                { program(Lane::Server, "server.py") }
                { program(Lane::Client, "client.py") }
            }
        </section>
    }
}

fn line_id(lane: Lane, line: usize) -> String {
    let side = match lane {
        Lane::Server => "server",
        Lane::Client => "client",
    };
    format!("code-{side}-{line}")
}
