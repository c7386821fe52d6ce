use crate::components::event_log::NO_EVENTS;
use crate::components::{EventLog, FilterBar, SequenceDiagram};
use crate::filter::Filter;
use crate::format;
use crate::trace::Trace;
use crate::trace_view::TraceAction;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct TraceViewsProps {
    pub trace: Trace,
    pub filter: Filter,
    pub selected: Option<u64>,
    /// While stepping through: the last event shown.
    pub shown_upto: Option<u64>,
    /// What the log says when the trace is empty.
    #[prop_or(AttrValue::Static(NO_EVENTS))]
    pub empty_text: AttrValue,
    pub onaction: Callback<TraceAction>,
}

/// The two views of one trace side by side: the sequence diagram, and the
/// event log with its filters (the student's page and the instructor's).
#[component]
pub fn TraceViews(props: &TraceViewsProps) -> Html {
    // Moving the selection with the arrow keys (in the diagram or the
    // log) moves no focus, so a screen reader is told the event here.
    let selected = props
        .selected
        .and_then(|seq| props.trace.get(seq))
        .map(|entry| {
            format!(
                "Selected: {}",
                format::spoken(&entry.event, entry.since_start_us, entry.since_prev_us)
            )
        })
        .unwrap_or_default();
    html! {
        <div class="views">
            <p id="selection-spoken" class="sr-only" aria-live="polite">{ selected }</p>
            <div class="panel view diagram-panel">
                <SequenceDiagram
                    trace={props.trace.clone()}
                    filter={props.filter.clone()}
                    selected={props.selected}
                    shown_upto={props.shown_upto}
                    onaction={props.onaction.clone()}
                />
            </div>
            <div class="panel view log-panel">
                <FilterBar
                    filter={props.filter.clone()}
                    conns={props.trace.conns().to_vec()}
                    onaction={props.onaction.clone()}
                />
                <EventLog
                    trace={props.trace.clone()}
                    filter={props.filter.clone()}
                    selected={props.selected}
                    shown_upto={props.shown_upto}
                    empty_text={props.empty_text.clone()}
                    onaction={props.onaction.clone()}
                />
            </div>
        </div>
    }
}
