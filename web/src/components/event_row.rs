use crate::format;
use crate::trace::Entry;
use protocol::{Lane, Step};
use std::rc::Rc;
use yew::prelude::*;

/// Payloads longer than this are cut in the log (the detail panel shows
/// more), so one large message cannot make the log slow.
const ROW_BYTES: usize = 512;

#[derive(Properties)]
pub struct EventRowProps {
    pub entry: Rc<Entry>,
    pub selected: bool,
    pub onselect: Callback<u64>,
}

impl PartialEq for EventRowProps {
    /// Entries never change once recorded, so the same Rc is the same row:
    /// appending an event re-renders only the new row.
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.entry, &other.entry)
            && self.selected == other.selected
            && self.onselect == other.onselect
    }
}

/// One event in the log: time, time since the previous event, side and
/// direction (glyph and word), the call, and the bytes as text and hex;
/// for a screen reader, the same in one sentence of words
/// ([`format::spoken`]).
#[component]
pub fn EventRow(props: &EventRowProps) -> Html {
    let entry = &props.entry;
    let event = &entry.event;
    let seq = entry.seq;
    let direction = format::direction(&event.step);
    let onclick = props.onselect.reform(move |_| seq);
    let side = match event.lane {
        Lane::Server => "Server",
        Lane::Client => "Client",
    };
    let who = match (event.lane, event.conn, event.server_conn) {
        (_, Some(conn), _) => format!("{side} · conn {conn}"),
        (Lane::Server, None, Some(n)) => format!("{side} · its client {n}"),
        _ => side.to_string(),
    };
    let data = event.step.data().map(|data| {
        let shown = if data.len() > ROW_BYTES {
            protocol::Bytes(data.0[..ROW_BYTES].to_vec())
        } else {
            data.clone()
        };
        let more = data.len().saturating_sub(ROW_BYTES);
        html! {
            <div class="ev-data" aria-hidden="true">
                <code class="event-text" title="as text">{ shown.to_escaped_text() }</code>
                <code class="event-hex" title="as hex">{ shown.to_spaced_hex() }</code>
                if more > 0 {
                    <span class="ev-more">{ format!("… {more} more bytes (select to see them)") }</span>
                }
            </div>
        }
    });
    let extra = match &event.step {
        Step::Print { text } => html! { <div class="ev-print">{ text }</div> },
        Step::Error { kind, message, .. } => html! {
            <div class="ev-error">
                <span class="ev-os">{ message }</span>
                <p class="error-explanation">{ kind.explanation() }</p>
            </div>
        },
        _ => Html::default(),
    };
    html! {
        <div
            id={format!("ev-{seq}")}
            class={classes!(
                "event-row",
                format!("lane-{}", format::lane_name(event.lane)),
                format!("dir-{}", direction.class),
                props.selected.then_some("selected")
            )}
            data-lane={format::lane_name(event.lane)}
            data-call={event.step.name()}
            data-seq={seq.to_string()}
            aria-current={props.selected.then_some("true")}
            {onclick}
        >
            // A screen reader reads this sentence instead of the columns.
            <span class="sr-only">{ format::spoken(event, entry.since_start_us, entry.since_prev_us) }</span>
            <div class="ev-line" aria-hidden="true">
                // From the trace's first event: the bridge's own clock
                // (kept in the exported JSON) counts from when it started.
                <span class="ev-time" title={format!("bridge clock: {}", format::millis(event.at_us))}>
                    { format::millis(entry.since_start_us) }
                </span>
                <span class="ev-delta">{ entry.since_prev_us.map(format::delta).unwrap_or_default() }</span>
                <span class="ev-side">{ who }</span>
                <span class="ev-dir">
                    <span class="glyph" aria-hidden="true">{ direction.glyph }</span>
                    { " " }{ direction.word }
                </span>
                <span class="ev-label">
                    // The printed line itself follows on its own line.
                    { if matches!(event.step, Step::Print { .. }) { "print()".to_string() } else { event.step.label() } }
                </span>
            </div>
            { for data }
            { extra }
        </div>
    }
}
