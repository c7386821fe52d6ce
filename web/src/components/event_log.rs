use crate::browser;
use crate::components::EventRow;
use crate::filter::Filter;
use crate::trace::Trace;
use crate::trace_view::TraceAction;
use yew::prelude::*;

/// Rows drawn at once: the newest ones, or those around the selection.
const LOG_WINDOW: usize = 100;

#[derive(Properties, PartialEq)]
pub struct EventLogProps {
    pub trace: Trace,
    pub filter: Filter,
    pub selected: Option<u64>,
    /// While stepping through, the last event shown.
    pub shown_upto: Option<u64>,
    /// What the log says while the trace is empty.
    #[prop_or(AttrValue::Static(NO_EVENTS))]
    pub empty_text: AttrValue,
    pub onaction: Callback<TraceAction>,
}

pub const NO_EVENTS: &str =
    "No events yet. Start your server and connect a client, or load a trace.";

/// The event log: keyed, memoised rows for a window of the trace. Arrow
/// keys move the selection while the log has focus; Escape goes live.
#[component]
pub fn EventLog(props: &EventLogProps) -> Html {
    let log_ref = use_node_ref();
    let onselect = {
        let onaction = props.onaction.clone();
        use_callback((), move |seq: u64, _| {
            onaction.emit(TraceAction::Select(seq))
        })
    };
    let end = props.shown_upto.map_or(u64::MAX, |s| s + 1);
    let filter = &props.filter;
    let rows = props
        .trace
        .window(|e| filter.matches(e), end, props.selected, LOG_WINDOW);

    // Keep the selected row in view; follow the newest row when live.
    {
        let log_ref = log_ref.clone();
        let last = rows.last().map(|e| e.seq);
        use_effect_with((props.selected, last), move |(selected, _)| {
            if let Some(log) = log_ref.cast::<web_sys::Element>() {
                match selected {
                    Some(seq) => browser::reveal_in(&log, &format!("ev-{seq}")),
                    None => log.set_scroll_top(log.scroll_height()),
                }
            }
        });
    }

    let onkeydown = {
        let onaction = props.onaction.clone();
        Callback::from(move |e: KeyboardEvent| {
            if let Some(action) = TraceAction::for_key(&e.key()) {
                e.prevent_default();
                onaction.emit(action);
            }
        })
    };

    let total = props.trace.len();
    let note = if props.trace.dropped() > 0 {
        Some(format!(
            "The oldest {} events were dropped to keep the page fast (it keeps {}).",
            props.trace.dropped(),
            props.trace.cap()
        ))
    } else {
        None
    };
    let window_note = (props.filter.is_empty() && rows.len() < total).then(|| {
        format!(
            "Showing {} of {total} events; select, step or filter to see others.",
            rows.len()
        )
    });
    html! {
        <div class="log-wrap">
            if let Some(note) = note {
                <p class="trace-note">{ note }</p>
            }
            if let Some(note) = window_note {
                <p class="trace-note">{ note }</p>
            }
            if rows.is_empty() {
                <p class="empty">
                    { if total == 0 {
                        props.empty_text.clone()
                    } else {
                        AttrValue::Static("No events match the filter.")
                    } }
                </p>
            }
            // Only the keyed rows go in here: yew lines up a list with
            // unkeyed siblings by position, which would rebuild every row
            // when one is added.
            <div
                id="event-log"
                class="event-log"
                role="log"
                aria-live="polite"
                aria-label="Event log: arrow keys move between events"
                tabindex="0"
                ref={log_ref}
                {onkeydown}
            >
                { for rows.iter().map(|entry| html! {
                    <EventRow
                        key={entry.seq}
                        entry={(*entry).clone()}
                        selected={Some(entry.seq) == props.selected}
                        onselect={onselect.clone()}
                    />
                }) }
            </div>
        </div>
    }
}
