use crate::format;
use crate::lab;
use crate::trace::Entry;
use protocol::Step;
use std::rc::Rc;
use yew::prelude::*;

/// The most bytes the detail panel shows.
const DETAIL_BYTES: usize = 4096;

#[derive(Properties, PartialEq)]
pub struct EventDetailProps {
    pub entry: Option<Rc<Entry>>,
    /// Its position in the trace, counting from 1.
    pub number: u64,
}

/// The selected event in full, and what a student should notice about it.
#[component]
pub fn EventDetail(props: &EventDetailProps) -> Html {
    let Some(entry) = &props.entry else {
        return html! {
            <section class="panel detail" aria-labelledby="detail-title">
                <h2 id="detail-title">{ "Selected event" }</h2>
                <p class="hint">{ "Click an event in the diagram or the log, or use Step." }</p>
            </section>
        };
    };
    let event = &entry.event;
    let direction = format::direction(&event.step);
    let data = event.step.data().map(|data| {
        let shown = protocol::Bytes(data.0.iter().take(DETAIL_BYTES).copied().collect());
        html! {
            <div class="detail-data">
                <h3>{ format!("{} bytes as text", data.len()) }</h3>
                <pre class="detail-text">{ shown.to_escaped_text() }</pre>
                <h3>{ "as hex" }</h3>
                <pre class="detail-hex">{ shown.to_spaced_hex() }</pre>
                if data.len() > DETAIL_BYTES {
                    <p class="hint">{ format!("(first {DETAIL_BYTES} bytes shown)") }</p>
                }
            </div>
        }
    });
    let problem = match &event.step {
        Step::Error {
            kind,
            message,
            failed,
        } => html! {
            <div class="detail-error">
                <strong>
                    { failed.map_or_else(
                        || kind.title().to_string(),
                        |call| format!("{} failed: {}", call.python(), kind.title()),
                    ) }
                </strong>{ ": " }{ message }
                <p class="detail-explanation">{ kind.explanation() }</p>
            </div>
        },
        _ => Html::default(),
    };
    // A tab stop: a long payload makes it scroll, and a keyboard scrolls
    // only what has the focus.
    html! {
        <section class="panel detail" aria-labelledby="detail-title" tabindex="0">
            <h2 id="detail-title">
                { format!("Event {} · {} · ", props.number, format::lane_name(event.lane)) }
                <span aria-hidden="true">{ direction.glyph }</span>{ " " }{ direction.word }
            </h2>
            <p class="detail-label"><code>{ event.step.label() }</code></p>
            if let Some(source) = &event.source {
                <p class="detail-source">
                    { "Made by " }<code>{ &source.file }</code>{ format!(", line {}", source.line) }
                </p>
            }
            <p class="detail-time">
                { format!("at {} from the start of the trace", format::millis(entry.since_start_us)) }
                { entry.since_prev_us.map(|d| format!(", {} after the previous event", format::delta(d))).unwrap_or_default() }
                { format!(" (the bridge's clock: {})", format::millis(event.at_us)) }
            </p>
            <p class="notice-this">{ lab::what_to_notice(&event.step) }</p>
            { problem }
            { for data }
        </section>
    }
}
