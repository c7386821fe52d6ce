use crate::instructor::{Followed, WatchAction};
use crate::trace_view::TraceAction;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SessionBarProps {
    pub followed: Followed,
    /// The student's page has gone.
    pub left: bool,
    /// This page is connected to the bridge.
    pub online: bool,
    pub projecting: bool,
    /// "Event 5 of 25", or how many events there are.
    pub position: AttrValue,
    /// Showing the newest events (nothing selected).
    pub live: bool,
    pub onaction: Callback<WatchAction>,
}

/// The followed session's title, its state, what the trace may be
/// missing, and the buttons to project it or go back to the list.
#[component]
pub fn SessionBar(props: &SessionBarProps) -> Html {
    let f = &props.followed;
    let (state, class) = if props.left {
        ("The student left", "closed")
    } else if !props.online {
        ("Disconnected: reconnecting…", "closed")
    } else if f.streaming {
        ("Live", "open")
    } else {
        ("Loading the session…", "connecting")
    };
    let project = if props.projecting {
        html! {
            <button id="back-button" type="button" title="Back to the list (Escape)"
                onclick={props.onaction.reform(|_| WatchAction::Project(false))}>
                <span aria-hidden="true">{ "← " }</span>{ "Back to all sessions" }
            </button>
        }
    } else {
        html! {
            <button id="project-button" type="button" class="primary"
                title="Large type and high contrast for the class; Escape comes back"
                onclick={props.onaction.reform(|_| WatchAction::Project(true))}>
                { "Project this session" }
            </button>
        }
    };
    html! {
        <div class="panel session-bar">
            <div class="toolbar">
                <h2 id="followed-title">
                    { format!("Session {}", f.session) }
                    if let Some(peer) = &f.peer {
                        <span class="followed-peer">{ " · " }{ peer }</span>
                    }
                </h2>
                <span
                    id="followed-state"
                    class={classes!("badge", class)}
                    role="status"
                >
                    { state }
                </span>
                <span class="position">{ &props.position }</span>
                <button id="live-button" type="button" disabled={props.live}
                    title="Show the newest events and follow new ones (Escape in the log)"
                    onclick={props.onaction.reform(|_| WatchAction::View(TraceAction::Live))}>{ "Live" }</button>
                { project }
            </div>
            <div class="session-notes" aria-live="polite">
                if f.dropped > 0 {
                    <p class="trace-note dropped-note">
                        { format!("The bridge keeps only recent history: this session's first {} messages are not shown.", f.dropped) }
                    </p>
                }
                if f.missed > 0 {
                    <p id="gap-notice" class="gap-note">
                        <span aria-hidden="true">{ "⚠ " }</span>
                        { format!("This view fell behind: {} of the session's messages were skipped, so the trace has a gap.", f.missed) }
                    </p>
                }
            </div>
        </div>
    }
}
