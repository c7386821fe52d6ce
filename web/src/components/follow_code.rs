//! The followed student's own `server.py` and `client.py`, read-only,
//! beside their trace in the instructor's view.

use crate::lab::split_comment;
use protocol::Lane;
use std::rc::Rc;
use yew::prelude::*;

/// Both of the student's programs as they are now (`None`: not shared
/// yet), with `line` (the lane of its file, and the line from 1), the line
/// that made the selected event, highlighted.
///
/// A plain view, not a component: it keeps no state, and each component
/// adds to the page's download.
pub fn follow_code(
    server: &Option<Rc<str>>,
    client: &Option<Rc<str>>,
    line: Option<(Lane, usize)>,
) -> Html {
    let program = |lane: Lane, text: &Option<Rc<str>>| {
        let name = crate::code::file_of(lane);
        let side = crate::format::lane_name(lane);
        let lit = line.filter(|(l, _)| *l == lane).map(|(_, n)| n);
        html! {
            <figure class="program" id={format!("follow-{side}")}>
                <figcaption>{ name }</figcaption>
                if let Some(text) = text {
                    <pre><code>
                        { for text.lines().enumerate().map(|(i, line)| {
                            let n = i + 1;
                            let (code, comment) = split_comment(line);
                            // A long line wraps under its own indentation.
                            let indent = line.len() - line.trim_start().len();
                            html! {
                                <span id={format!("follow-{side}-{n}")}
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
    let note = if line.is_some() {
        "The highlighted line made the selected event (the code is shown as it is now)."
    } else {
        "Their code as it is now, updated as they type. Select one of their events to see its line."
    };
    html! {
        // A tab stop of its own: it scrolls, and a keyboard scrolls only
        // what has the focus.
        <section id="follow-code" class="panel code" aria-labelledby="follow-code-title" tabindex="0">
            <h2 id="follow-code-title">{ "The student's code" }</h2>
            <p class="hint">{ note }</p>
            { program(Lane::Server, server) }
            { program(Lane::Client, client) }
        </section>
    }
}
