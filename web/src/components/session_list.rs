use crate::components::SessionRow;
use crate::instructor::{SessionSort, WatchAction};
use protocol::{SessionId, SessionSummary};
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SessionListProps {
    pub sessions: Rc<Vec<SessionSummary>>,
    /// For each session, how long since it last did anything.
    pub ages: Rc<Vec<Option<AttrValue>>>,
    pub followed: Option<SessionId>,
    /// The address students open (the page's own, without the token).
    pub page_address: AttrValue,
    /// The bridge has let this page in (said hello): until then an empty
    /// list means nothing yet, not "no students".
    pub let_in: bool,
    /// How the list is ordered.
    pub sort: SessionSort,
    pub onaction: Callback<WatchAction>,
}

/// Every session of the bridge, open ones first, each with a follow button.
#[component]
pub fn SessionList(props: &SessionListProps) -> Html {
    let open = props.sessions.iter().filter(|s| s.open).count();
    let total = props.sessions.len();
    let count = match (total, open) {
        (0, _) if !props.let_in => "Waiting for the bridge…".to_string(),
        (0, _) => "No sessions".to_string(),
        (1, 1) => "1 session, open".to_string(),
        (1, _) => "1 session, closed".to_string(),
        (n, o) => format!("{n} sessions, {o} open"),
    };
    let onsort = props.onaction.reform(|e: Event| {
        let value = e
            .target_dyn_into::<web_sys::HtmlSelectElement>()
            .map(|select| select.value())
            .unwrap_or_default();
        WatchAction::Sort(SessionSort::from_value(&value))
    });
    html! {
        <section class="column sessions" aria-labelledby="sessions-title">
            <div class="panel sessions-panel">
                <h2 id="sessions-title">{ "Students" }</h2>
                <p class="hint session-count" aria-live="polite">{ count }</p>
                <label class="session-sort">
                    { "Sort by " }
                    <select id="session-sort" onchange={onsort}>
                        { for SessionSort::ALL.into_iter().map(|sort| html! {
                            <option value={sort.value()} selected={sort == props.sort}>
                                { sort.label() }
                            </option>
                        }) }
                    </select>
                </label>
                if total == 0 && props.let_in {
                    <p class="empty sessions-empty">
                        { "No students yet: students open " }
                        <code class="page-address">{ &props.page_address }</code>
                    </p>
                }
                <ul id="session-list" class="session-list" aria-labelledby="sessions-title">
                    { for props.sessions.iter().enumerate().map(|(i, s)| html! {
                        <SessionRow
                            key={s.id}
                            session={s.clone()}
                            followed={props.followed == Some(s.id)}
                            ago={props.ages.get(i).cloned().flatten()}
                            onaction={props.onaction.clone()}
                        />
                    }) }
                </ul>
            </div>
        </section>
    }
}
