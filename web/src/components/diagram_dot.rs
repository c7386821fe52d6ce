use crate::diagram::{self, px};
use crate::format;
use crate::trace::Entry;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties)]
pub struct DiagramDotProps {
    pub entry: Rc<Entry>,
    /// Where the row is drawn: its place in the window, from the top.
    pub index: usize,
    pub selected: bool,
}

impl PartialEq for DiagramDotProps {
    /// The same Rc at the same place is the same dot (see `DiagramRow`).
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.entry, &other.entry)
            && self.index == other.index
            && self.selected == other.selected
    }
}

/// One event's dot on its lane and its label, drawn above every arrow so
/// labels stay readable where arrows cross them.
#[component]
pub fn DiagramDot(props: &DiagramDotProps) -> Html {
    let row = diagram::row(&props.entry, props.index);
    let label = &row.label;
    html! {
        <g class={classes!("dot-g", props.selected.then_some("selected"))}>
            <circle class={classes!("dot", row.class, format!("lane-{}", format::lane_name(row.lane)))}
                cx={px(row.x)} cy={px(row.y)} r="4.5" />
            <text class="row-label" x={px(label.x)} y={px(label.y)} text-anchor={label.anchor}>
                { &label.text }
            </text>
        </g>
    }
}
