use super::StatusBadge;
use crate::prefs::Theme;
use crate::session::BridgeStatus;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct InstructorHeaderProps {
    pub status: BridgeStatus,
    /// `/watch` opened at least once since the page loaded.
    pub ever_opened: bool,
    /// The bridge's version, once it said hello.
    pub bridge: Option<AttrValue>,
    pub theme: Theme,
    pub on_theme: Callback<()>,
}

/// The instructor's title bar: the connection badge (as on the student's
/// page) and the theme toggle.
#[component]
pub fn InstructorHeader(props: &InstructorHeaderProps) -> Html {
    let theme_label = match props.theme {
        Theme::Auto => "Theme: system",
        Theme::Light => "Theme: light",
        Theme::Dark => "Theme: dark",
    };
    html! {
        <header class="topbar">
            <h1>{ "Socket Lab" }<span class="title-sep" aria-hidden="true">{ " · " }</span>
                <span class="title-view">{ "instructor view" }</span></h1>
            <StatusBadge status={props.status} bridge={props.bridge.clone()} ever_opened={props.ever_opened} />
            <span class="spacer"></span>
            <button id="theme-toggle" type="button" onclick={props.on_theme.reform(|_| ())}>
                { theme_label }
            </button>
        </header>
    }
}
