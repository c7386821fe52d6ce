use crate::instructor::WatchAction;
use protocol::{CheckStatus, SessionSummary};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SessionRowProps {
    pub session: SessionSummary,
    /// This is the session followed.
    pub followed: bool,
    /// How long since it last did anything (`"12 s ago"`), once known.
    pub ago: Option<AttrValue>,
    pub onaction: Callback<WatchAction>,
}

/// One student's session in the instructor's list: its number, address,
/// whether the student is still there, what it has open, how many events
/// and errors, its latest event and how long ago; and a button to follow
/// it (pressed again, it stops following).
#[component]
pub fn SessionRow(props: &SessionRowProps) -> Html {
    let s = &props.session;
    let id = s.id;
    let count = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let onclick = if props.followed {
        props.onaction.reform(|_| WatchAction::Unfollow)
    } else {
        props.onaction.reform(move |_| WatchAction::Follow(id))
    };
    let follow = if props.followed {
        "Following"
    } else {
        "Follow"
    };
    let (state_glyph, state_word) = if s.open {
        ("●", "open")
    } else {
        ("○", "left")
    };
    html! {
        <li
            class={classes!("session-row", (!s.open).then_some("left"), props.followed.then_some("followed"))}
            data-session={id.to_string()}
            data-open={s.open.to_string()}
            aria-current={props.followed.then_some("true")}
        >
            <div class="session-head">
                <span class="session-number">
                    if let Some(name) = &s.name {
                        <span class="session-name">{ name }</span>{ " · " }
                    }
                    { format!("Session {id}") }
                </span>
                <span class={classes!("session-state", if s.open { "open" } else { "left" })}>
                    <span aria-hidden="true">{ state_glyph }</span>{ " " }{ state_word }
                </span>
            </div>
            <div class="session-peer">{ &s.peer }</div>
            <ul class="session-progress" aria-label="Tasks seen working, and Check my task">
                { for s.progress.tasks().into_iter().zip(s.progress.checked).map(|((task, done), checked)| {
                    // "Check my task"'s verdict, when the student ran it,
                    // says more than what was seen working.
                    let (glyph, said, check) = match checked {
                        CheckStatus::Passing => ("✔ ", " check passing", "passing"),
                        CheckStatus::Failing => ("✗ ", " check failing", "failing"),
                        CheckStatus::NotRun if done => ("✓ ", " seen working", "not_run"),
                        CheckStatus::NotRun => ("· ", " not yet", "not_run"),
                    };
                    html! {
                        <li class={classes!("task-chip", done.then_some("done"), format!("check-{check}"))}
                            data-task={task.to_string()} data-done={done.to_string()} data-check={check}>
                            <span aria-hidden="true">{ glyph }</span>
                            { format!("Task {task}") }
                            <span class="sr-only">{ said }</span>
                        </li>
                    }
                }) }
            </ul>
            <div class="session-counts">
                <span class="session-servers">{ count(s.servers.into(), "server", "servers") }</span>
                <span class="session-conns">{ count(s.connections.into(), "connection", "connections") }</span>
                <span class="session-events">{ count(s.events, "event", "events") }</span>
                <span class={classes!("session-errors", (s.errors > 0).then_some("has-errors"))}>
                    if s.errors > 0 { <span aria-hidden="true">{ "⚠ " }</span> }
                    { count(s.errors.into(), "error", "errors") }
                </span>
            </div>
            <div class="session-last">
                <code class="session-label">{ s.last.clone().unwrap_or_else(|| "no events yet".to_string()) }</code>
                if let Some(ago) = &props.ago {
                    <span class="session-ago">{ ago }</span>
                }
            </div>
            <button
                type="button"
                class={classes!("follow-button", (!props.followed).then_some("primary"))}
                aria-pressed={props.followed.to_string()}
                // The name starts with the words on the button (what a
                // voice-control user says to press it); aria-pressed says
                // whether it is followed.
                aria-label={match &s.name {
                    Some(name) => format!("{follow} {name}, session {id} ({})", s.peer),
                    None => format!("{follow} session {id} ({})", s.peer),
                }}
                {onclick}
            >
                { follow }
            </button>
        </li>
    }
}
