use crate::components::{DiagramDot, DiagramRow};
use crate::diagram::{self, HOPS, ROW, TIME_X, TOP, WIDTH};
use crate::filter::Filter;
use crate::trace::Trace;
use crate::trace_view::TraceAction;
use std::collections::HashMap;
use yew::prelude::*;

/// Events drawn at once: the newest, or those around the selection. About
/// six screens of the panel; the log and the exports have the rest.
const DIAGRAM_WINDOW: usize = 80;

/// Where the lane titles end and the lifelines begin, in the header.
const HEAD_TITLES: f64 = 46.0;

#[derive(Properties, PartialEq)]
pub struct SequenceDiagramProps {
    pub trace: Trace,
    /// The diagram follows the log's connection filter (not kind or
    /// search: hiding sends would leave recv arrows dangling).
    pub filter: Filter,
    pub selected: Option<u64>,
    pub shown_upto: Option<u64>,
    pub onaction: Callback<TraceAction>,
}

/// The sequence diagram: Browser, Client socket and Server lanes, time
/// going down, arrows from each send to the recv that read it.
///
/// Each event is two memoised components (its row under the arrows, its
/// dot and label over them), keyed by `seq` and compared by pointer, so a
/// new event draws one row and leaves the others alone. The lane titles
/// are a drawing of their own that stays at the top while the rows scroll.
#[component]
pub fn SequenceDiagram(props: &SequenceDiagramProps) -> Html {
    let scroll_ref = use_node_ref();
    let onselect = {
        let onaction = props.onaction.clone();
        use_callback((), move |seq: u64, _| {
            onaction.emit(TraceAction::Select(seq))
        })
    };
    let end = props.shown_upto.map_or(u64::MAX, |s| s + 1);
    let conn = props.filter.conn;
    let window = props.trace.window(
        |e| conn.matches(e.event.conn),
        end,
        props.selected,
        DIAGRAM_WINDOW,
    );
    let hidden_before = window
        .first()
        .is_some_and(|first| first.seq > props.trace.first_seq());
    let index_of: HashMap<u64, usize> =
        window.iter().enumerate().map(|(i, e)| (e.seq, i)).collect();

    // Follow the newest event when live; keep the selection in view.
    {
        let scroll_ref = scroll_ref.clone();
        let selected_y = props
            .selected
            .and_then(|seq| index_of.get(&seq))
            .map(|&i| diagram::row_y(i));
        let last_y = window.len().checked_sub(1).map(diagram::row_y);
        let key = (selected_y.map(|y| y as i64), last_y.map(|y| y as i64));
        use_effect_with(key, move |&(selected_y, last_y)| {
            if let Some(el) = scroll_ref.cast::<web_sys::Element>() {
                let scale = f64::from(el.client_width()) / WIDTH;
                let height = f64::from(el.client_height());
                // The drawing grows in steps, so "the end" is the last row,
                // not the bottom of the drawing: never scroll past it.
                let end = last_y.map_or(0.0, |y| (y as f64 + ROW) * scale - height);
                let target = match selected_y {
                    Some(y) => (y as f64 * scale - height / 2.0).min(end),
                    None => end,
                };
                el.set_scroll_top(target.max(0.0) as i32);
            }
        });
    }

    // One tab stop for the whole drawing: arrow keys move the selection,
    // as in the log (a tab stop per row would be thousands of them).
    let onkeydown = {
        let onaction = props.onaction.clone();
        Callback::from(move |e: KeyboardEvent| {
            if let Some(action) = TraceAction::for_key(&e.key()) {
                e.prevent_default();
                onaction.emit(action);
            }
        })
    };

    let height = diagram::page_height(window.len());
    let lanes = diagram::lane_heads(window.iter().map(|e| &***e));
    let lanes_x = || {
        lanes
            .iter()
            .map(|(x, title, sub)| (diagram::num(*x), *title, *sub))
    };
    html! {
        <div class="diagram-wrap">
            if hidden_before {
                <p class="trace-note">
                    { format!("Showing {} events; earlier ones are in the log and the exports.", window.len()) }
                </p>
            }
            <div
                class="diagram-scroll"
                ref={scroll_ref}
                role="group"
                tabindex="0"
                aria-label="Sequence diagram: arrow keys move between events, Escape goes back to live"
                {onkeydown}
            >
                <svg class="lane-heads" viewBox={format!("0 0 {} {}", diagram::num(WIDTH), diagram::num(TOP))} aria-hidden="true"
                    preserveAspectRatio="xMidYMin meet">
                    { for lanes_x().map(|(x, title, sub)| html! {
                        <g class="lane">
                            <text class="lane-title" x={x.clone()} y="22" text-anchor="middle">{ title }</text>
                            <text class="lane-sub" x={x.clone()} y="38" text-anchor="middle">{ sub }</text>
                            <line class="lifeline" x1={x.clone()} y1={diagram::num(HEAD_TITLES)} x2={x} y2={diagram::num(TOP)} />
                        </g>
                    }) }
                    { for HOPS.iter().map(|(x, text)| html! {
                        <text class="hop-title" x={diagram::num(*x)} y="58" text-anchor="middle">{ *text }</text>
                    }) }
                    <text class="lane-sub" x={diagram::num(TIME_X)} y="58">{ "ms" }</text>
                </svg>
                // The rows' drawing starts where the header ends: its
                // viewBox begins at TOP, so rows keep their coordinates.
                <svg
                    id="sequence-diagram"
                    viewBox={format!("0 {} {} {}", diagram::num(TOP), diagram::num(WIDTH), diagram::num(height - TOP))}
                    role="img"
                    aria-label="Sequence diagram of the trace: the event log below lists the same events"
                    preserveAspectRatio="xMidYMin meet"
                    style={format!("aspect-ratio: {} / {}", diagram::num(WIDTH), diagram::num(height - TOP))}
                >
                    <defs>
                        <marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                            <path class="ah" d="M0,0L10,5L0,10z" />
                        </marker>
                    </defs>
                    // Each list in a group of its own: yew lines up a keyed
                    // list with unkeyed siblings by position, which would
                    // rebuild every row when one is added.
                    <g class="lanes">
                    { for lanes_x().map(|(x, _, _)| html! {
                        <line class="lifeline" x1={x.clone()} y1={diagram::num(TOP)} x2={x} y2={diagram::num(height)} />
                    }) }
                    </g>
                    <g class="rows">
                    { for window.iter().enumerate().map(|(index, entry)| {
                        let from_y = entry
                            .links
                            .iter()
                            .map(|l| index_of.get(&l.seq).map(|&i| diagram::row_y(i)))
                            .collect::<Vec<_>>();
                        html! {
                            <DiagramRow key={format!("r{}", entry.seq)} entry={(*entry).clone()} {index} {from_y}
                                selected={props.selected == Some(entry.seq)} onselect={onselect.clone()} />
                        }
                    }) }
                    </g>
                    <g class="dots">
                    { for window.iter().enumerate().map(|(index, entry)| html! {
                        <DiagramDot key={format!("d{}", entry.seq)} entry={(*entry).clone()} {index}
                            selected={props.selected == Some(entry.seq)} />
                    }) }
                    </g>
                </svg>
            </div>
        </div>
    }
}
