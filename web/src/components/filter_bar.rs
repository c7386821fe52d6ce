use crate::filter::{ConnFilter, Filter, KindFilter};
use crate::trace_view::TraceAction;
use protocol::ConnId;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FilterBarProps {
    pub filter: Filter,
    /// The connections in the trace.
    pub conns: Vec<ConnId>,
    pub onaction: Callback<TraceAction>,
}

/// Filter the log by connection and kind, and search it.
#[component]
pub fn FilterBar(props: &FilterBarProps) -> Html {
    let onaction = &props.onaction;
    let on_conn = onaction.reform(|e: Event| {
        TraceAction::FilterConn(ConnFilter::from_value(
            &e.target_unchecked_into::<HtmlSelectElement>().value(),
        ))
    });
    let on_kind = onaction.reform(|e: Event| {
        TraceAction::FilterKind(KindFilter::from_value(
            &e.target_unchecked_into::<HtmlSelectElement>().value(),
        ))
    });
    let on_search = onaction.reform(|e: InputEvent| {
        TraceAction::Search(e.target_unchecked_into::<HtmlInputElement>().value())
    });
    let conn = props.filter.conn;
    html! {
        <div class="toolbar filters" role="search" aria-label="Filter the events">
            <label class="inline" for="filter-conn">{ "Connection" }</label>
            <select id="filter-conn" onchange={on_conn}>
                <option value="all" selected={conn == ConnFilter::All}>{ "All" }</option>
                { for props.conns.iter().map(|id| {
                    let value = ConnFilter::Conn(*id);
                    html! {
                        <option value={value.value()} selected={conn == value}>{ format!("Client {id}") }</option>
                    }
                }) }
                <option value="none" selected={conn == ConnFilter::NoConn}>{ "No client" }</option>
            </select>
            <label class="inline" for="filter-kind">{ "Kind" }</label>
            <select id="filter-kind" onchange={on_kind}>
                { for KindFilter::ALL.iter().map(|k| html! {
                    <option value={k.value()} selected={*k == props.filter.kind}>{ k.title() }</option>
                }) }
            </select>
            <label class="sr-only" for="search-input">{ "Search" }</label>
            <input id="search-input" type="search" placeholder="Search text, hex or call"
                value={props.filter.search.clone()} oninput={on_search} />
        </div>
    }
}
