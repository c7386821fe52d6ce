//! The followed student's own `server.py` and `client.py`, read-only,
//! beside their trace in the instructor's view.

use crate::browser;
use crate::lab::split_comment;
use protocol::Lane;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FollowCodeProps {
    /// The student's programs as they are now (`None`: not shared yet).
    pub server: Option<Rc<str>>,
    pub client: Option<Rc<str>>,
    /// The student's line behind the selected event: its file's lane and
    /// the line (1-based).
    pub line: Option<(Lane, usize)>,
    /// The selected event's `seq`, to bring the line into sight again.
    pub event: Option<u64>,
}

/// Both of the student's programs as they are now, with the line that
/// made the selected event highlighted.
#[component]
pub fn FollowCode(props: &FollowCodeProps) -> Html {
    let panel_ref = use_node_ref();
    {
        let panel_ref = panel_ref.clone();
        use_effect_with((props.line, props.event), move |(line, _)| {
            if let (Some((lane, n)), Some(panel)) = (*line, panel_ref.cast::<web_sys::Element>()) {
                let title = panel.query_selector("#follow-code-title").ok().flatten();
                browser::reveal_below(&panel, &line_id(lane, n), title.as_ref());
            }
        });
    }
    let program = |lane: Lane, text: &Option<Rc<str>>| {
        let name = crate::code::file_of(lane);
        let lit = props.line.filter(|(l, _)| *l == lane).map(|(_, n)| n);
        html! {
            <figure class="program" id={format!("follow-{}", crate::format::lane_name(lane))}>
                <figcaption>{ name }</figcaption>
                if let Some(text) = text {
                    <pre><code>
                        { for text.lines().enumerate().map(|(i, line)| {
                            let n = i + 1;
                            let (code, comment) = split_comment(line);
                            let indent = line.len() - line.trim_start().len();
                            html! {
                                <span id={line_id(lane, n)}
                                    class={classes!("line", (lit == Some(n)).then_some("highlight"))}
                                    data-line={n.to_string()}
                                    style={format!("--indent: {indent}")}>
                                    <span class="ln" aria-hidden="true">{ n }</span>
                                    { code }
                                    <span class="comment">{ comment }</span>
                                    { "\n" }
                                </span>
                            }
                        }) }
                    </code></pre>
                } else {
                    <p class="hint">{ format!("The student's page has not shared its {name} yet.") }</p>
                }
            </figure>
        }
    };
    let note = if props.line.is_some() {
        "The highlighted line made the selected event (the code is shown as it is now)."
    } else {
        "Their code as it is now, updated as they type. Select one of their events to see its line."
    };
    html! {
        <section id="follow-code" class="panel code" aria-labelledby="follow-code-title" tabindex="0"
            ref={panel_ref}>
            <h2 id="follow-code-title">{ "The student's code" }</h2>
            <p class="hint">{ note }</p>
            { program(Lane::Server, &props.server) }
            { program(Lane::Client, &props.client) }
        </section>
    }
}

fn line_id(lane: Lane, line: usize) -> String {
    format!("follow-{}-{line}", crate::format::lane_name(lane))
}
