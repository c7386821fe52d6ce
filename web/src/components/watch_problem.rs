use crate::instructor::{WatchAction, WatchProblem};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct WatchProblemBoxProps {
    pub problem: WatchProblem,
    pub onaction: Callback<WatchAction>,
}

/// What stops the instructor's view from working, in plain words: a link
/// the bridge did not accept, a lost connection, a refusal.
#[component]
pub fn WatchProblemBox(props: &WatchProblemBoxProps) -> Html {
    let (title, text) = props.problem.words();
    // A problem of the link goes away by itself when the socket opens.
    let dismissable = !matches!(
        props.problem,
        WatchProblem::BadLink | WatchProblem::LinkLost
    );
    html! {
        <div id="watch-problem" class="notice problem watch-problem" role="alert">
            <div class="notice-head">
                <strong>{ title }</strong>
                if dismissable {
                    <button type="button" class="dismiss" aria-label="Dismiss"
                        onclick={props.onaction.reform(|_| WatchAction::DismissProblem)}>{ "×" }</button>
                }
            </div>
            <p class="watch-problem-text">{ text }</p>
        </div>
    }
}
