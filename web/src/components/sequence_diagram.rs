use crate::diagram::{self, BROWSER_X, CLIENT_X, LANES, Label, ROW, TOP, WIDTH};
use crate::filter::Filter;
use crate::state::Action;
use crate::trace::Trace;
use yew::prelude::*;

/// Events drawn at once: the newest, or those around the selection.
const DIAGRAM_WINDOW: usize = 120;

#[derive(Properties, PartialEq)]
pub struct SequenceDiagramProps {
    pub trace: Trace,
    /// The diagram follows the log's connection filter (not kind or
    /// search: hiding sends would leave recv arrows dangling).
    pub filter: Filter,
    pub selected: Option<u64>,
    pub shown_upto: Option<u64>,
    pub onaction: Callback<Action>,
}

/// The sequence diagram: Browser, Client socket and Server lanes, time
/// going down, arrows from each send to the recv that read it.
#[component]
pub fn SequenceDiagram(props: &SequenceDiagramProps) -> Html {
    let scroll_ref = use_node_ref();
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
    let d = diagram::layout(window.iter().map(|e| &***e));

    // Follow the newest event when live; keep the selection in view.
    {
        let scroll_ref = scroll_ref.clone();
        let selected_y = props
            .selected
            .and_then(|seq| d.rows.iter().find(|r| r.seq == seq))
            .map(|r| r.y);
        let last = window.last().map(|e| e.seq);
        use_effect_with((selected_y.map(|y| y as i64), last), move |(y, _)| {
            if let Some(el) = scroll_ref.cast::<web_sys::Element>() {
                let scale = f64::from(el.client_width()) / WIDTH;
                match y {
                    Some(y) => {
                        let target = (*y as f64 * scale) as i32 - el.client_height() / 2;
                        el.set_scroll_top(target.max(0));
                    }
                    None => el.set_scroll_top(el.scroll_height()),
                }
            }
        });
    }

    let height = d.height;
    let label = |label: &Label, class: &'static str| {
        html! {
            <text class={class} x={label.x.to_string()} y={label.y.to_string()} text-anchor={label.anchor}>
                { &label.text }
            </text>
        }
    };
    html! {
        <div class="diagram-wrap">
            if hidden_before {
                <p class="trace-note">
                    { format!("Showing {} events; earlier ones are in the log and the exports.", window.len()) }
                </p>
            }
            <div class="diagram-scroll" ref={scroll_ref}>
                <svg
                    id="sequence-diagram"
                    viewBox={format!("0 0 {WIDTH} {height}")}
                    role="img"
                    aria-label="Sequence diagram of the trace: the event log below lists the same events"
                    preserveAspectRatio="xMidYMin meet"
                    style={format!("aspect-ratio: {WIDTH} / {height}")}
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
                    { for LANES.iter().map(|(x, title, sub)| html! {
                        <g class="lane">
                            <text class="lane-title" x={x.to_string()} y="22" text-anchor="middle">{ *title }</text>
                            <text class="lane-sub" x={x.to_string()} y="38" text-anchor="middle">{ *sub }</text>
                            <line class="lifeline" x1={x.to_string()} y1={TOP.to_string()} x2={x.to_string()} y2={height.to_string()} />
                        </g>
                    }) }
                    </g>
                    <g class="rows">
                    { for d.rows.iter().map(|row| {
                        let seq = row.seq;
                        let onclick = props.onaction.reform(move |_| Action::Select(seq));
                        html! {
                            <g key={format!("r{seq}")}
                                class={classes!("drow", (props.selected == Some(seq)).then_some("selected"))}
                                data-seq={seq.to_string()} {onclick}>
                                <rect class="hit" x="0" y={(row.y - ROW / 2.0).to_string()} width={WIDTH.to_string()} height={ROW.to_string()} />
                                <text class="time" x="4" y={(row.y + 4.0).to_string()}>{ &row.time }</text>
                            </g>
                        }
                    }) }
                    </g>
                    <g class="hops">
                    { for d.hops.iter().map(|hop| {
                        let (x1, x2) = if hop.to_bridge { (BROWSER_X, CLIENT_X) } else { (CLIENT_X, BROWSER_X) };
                        html! {
                            <g key={format!("h{}", hop.seq)} class="hop-g">
                                <line class="hop" data-call={hop.call} x1={x1.to_string()} y1={hop.y.to_string()}
                                    x2={x2.to_string()} y2={hop.y.to_string()} marker-end="url(#ah)" />
                                <text class="hop-text" x={((BROWSER_X + CLIENT_X) / 2.0).to_string()} y={(hop.y - 4.0).to_string()} text-anchor="middle">
                                    { hop.text }
                                </text>
                            </g>
                        }
                    }) }
                    </g>
                    <g class="arrows">
                    { for d.arrows.iter().enumerate().map(|(i, a)| html! {
                        <g key={format!("a{}-{i}", a.seq)} class="arrow-g">
                            <line class={classes!("arrow", a.class)} data-call={a.call}
                                data-to-call={a.to_call}
                                x1={a.x1.to_string()} y1={a.y1.to_string()} x2={a.x2.to_string()} y2={a.y2.to_string()}
                                marker-end="url(#ah)" />
                        </g>
                    }) }
                    </g>
                    <g class="dots">
                    { for d.rows.iter().map(|row| html! {
                        <g key={format!("d{}", row.seq)} class={classes!("dot-g", (props.selected == Some(row.seq)).then_some("selected"))}>
                            <circle class={classes!("dot", row.class, format!("lane-{}", crate::format::lane_name(row.lane)))}
                                cx={row.x.to_string()} cy={row.y.to_string()} r="4.5" />
                            { label(&row.label, "row-label") }
                        </g>
                    }) }
                    </g>
                </svg>
            </div>
        </div>
    }
}
