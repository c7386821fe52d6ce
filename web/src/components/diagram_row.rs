use crate::diagram::{self, BROWSER_X, CLIENT_X, ROW, WIDTH, px};
use crate::trace::Entry;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties)]
pub struct DiagramRowProps {
    pub entry: Rc<Entry>,
    /// Where the row is drawn: its place in the window, from the top.
    pub index: usize,
    /// For each of the entry's links, the y of the arrow's start, or
    /// `None` when that event is not drawn.
    pub from_y: Vec<Option<f64>>,
    pub selected: bool,
    pub onselect: Callback<u64>,
}

impl PartialEq for DiagramRowProps {
    /// Entries never change once recorded, so the same Rc at the same place
    /// draws the same row: appending an event draws only the new row.
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.entry, &other.entry)
            && self.index == other.index
            && self.from_y == other.from_y
            && self.selected == other.selected
            && self.onselect == other.onselect
    }
}

/// One event's row in the sequence diagram, under the dots: the band that
/// selects it, its time, the WebSocket hop and the arrows that end here.
#[component]
pub fn DiagramRow(props: &DiagramRowProps) -> Html {
    let entry = &props.entry;
    let seq = entry.seq;
    let y = diagram::row_y(props.index);
    let onclick = props.onselect.reform(move |_| seq);
    let time = format!(
        "{}.{:03}",
        entry.event.at_us / 1000,
        entry.event.at_us % 1000
    );
    let hop = diagram::hop_of(entry, props.index).map(|hop| {
        let (x1, x2) = if hop.to_bridge {
            (BROWSER_X, CLIENT_X)
        } else {
            (CLIENT_X, BROWSER_X)
        };
        html! {
            <g class="hop-g">
                <line class="hop" data-call={hop.call} x1={px(x1)} y1={px(hop.y)}
                    x2={px(x2)} y2={px(hop.y)} marker-end="url(#ah)" />
                <text class="hop-text" x={px((BROWSER_X + CLIENT_X) / 2.0)} y={px(hop.y - 4.0)} text-anchor="middle">
                    { hop.text }
                </text>
            </g>
        }
    });
    let from_y = &props.from_y;
    let index_of = |seq: u64| entry.links.iter().position(|l| l.seq == seq);
    let arrows = diagram::arrows_to(entry, props.index, |seq| {
        index_of(seq).and_then(|i| from_y.get(i).copied().flatten())
    })
    .map(|a| {
        html! {
            <g class="arrow-g">
                <line class={classes!("arrow", a.class)} data-call={a.call}
                    data-to-call={a.to_call}
                    x1={px(a.x1)} y1={px(a.y1)} x2={px(a.x2)} y2={px(a.y2)}
                    marker-end="url(#ah)" />
            </g>
        }
    });
    html! {
        <g class={classes!("drow", props.selected.then_some("selected"))}
            data-seq={seq.to_string()} {onclick}>
            <rect class="hit" x="0" y={px(y - ROW / 2.0)} width={px(WIDTH)} height={px(ROW)} />
            <text class="time" x="4" y={px(y + 4.0)}>{ time }</text>
            { for hop }
            { for arrows }
        </g>
    }
}
