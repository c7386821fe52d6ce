use crate::session::{Notice, NoticeKind, SessionAction};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct NoticesProps {
    pub notices: Vec<Notice>,
    pub onaction: Callback<SessionAction>,
}

/// Refusals, load results and other messages that are not socket events.
#[component]
pub fn Notices(props: &NoticesProps) -> Html {
    html! {
        <div class="notices" role="status" aria-live="polite">
            { for props.notices.iter().map(|notice| {
                let kind = match notice.kind {
                    NoticeKind::Info => "info",
                    NoticeKind::Refused => "refusal",
                    NoticeKind::Error => "problem",
                };
                let id = notice.id;
                let dismiss = props.onaction.reform(move |_| SessionAction::DismissNotice(id));
                html! {
                    <div key={id} class={classes!("notice", kind)}>
                        <div class="notice-head">
                            <strong>{ &notice.title }</strong>
                            <button type="button" class="dismiss" aria-label="Dismiss" onclick={dismiss}>
                                { "×" }
                            </button>
                        </div>
                        <div class="notice-text">{ &notice.text }</div>
                        if let Some(explanation) = notice.explanation {
                            <p class="refusal-explanation">{ explanation }</p>
                        }
                    </div>
                }
            }) }
        </div>
    }
}
