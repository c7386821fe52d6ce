use super::StatusBadge;
use crate::code::CodeAction;
use crate::prefs::{PrefsAction, Theme};
use crate::session::BridgeStatus;
use crate::state::Action;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct HeaderProps {
    pub status: BridgeStatus,
    /// The bridge's version, once it said hello.
    pub bridge: Option<AttrValue>,
    pub projector: bool,
    pub theme: Theme,
    /// The code view (the student's own programs) is open.
    #[prop_or_default]
    pub code_open: bool,
    pub onaction: Callback<Action>,
}

/// The title bar: the connection badge and the display toggles.
#[component]
pub fn Header(props: &HeaderProps) -> Html {
    let on_projector = props
        .onaction
        .reform(|_| Action::Prefs(PrefsAction::ToggleProjector));
    let on_theme = props
        .onaction
        .reform(|_| Action::Prefs(PrefsAction::CycleTheme));
    let code_open = props.code_open;
    let on_code = props.onaction.reform(move |_| {
        Action::Code(if code_open {
            CodeAction::Close
        } else {
            CodeAction::Open
        })
    });
    let theme_label = match props.theme {
        Theme::Auto => "Theme: system",
        Theme::Light => "Theme: light",
        Theme::Dark => "Theme: dark",
    };
    html! {
        <header class="topbar">
            <h1>{ "Socket Lab" }</h1>
            <StatusBadge status={props.status} bridge={props.bridge.clone()} />
            <span class="spacer"></span>
            <button id="code-view-toggle" type="button" aria-pressed={code_open.to_string()}
                onclick={on_code} title="Write and run your own server.py and client.py">
                { "Your code" }
            </button>
            <button
                id="projector-toggle"
                type="button"
                aria-pressed={props.projector.to_string()}
                onclick={on_projector}
            >
                { "Projector mode" }
            </button>
            <button id="theme-toggle" type="button" onclick={on_theme}>{ theme_label }</button>
        </header>
    }
}
