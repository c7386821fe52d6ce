use crate::session::BridgeStatus;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StatusBadgeProps {
    pub status: BridgeStatus,
    /// The bridge's version, once it said hello.
    pub bridge: Option<AttrValue>,
    /// The WebSocket has been open at least once: closed now means it is
    /// reconnecting, not that it never got through.
    #[prop_or(true)]
    pub ever_opened: bool,
}

/// The connection badge of a title bar: the WebSocket to the bridge, by
/// shape and words as well as colour (`#ws-status[data-state]`).
#[component]
pub fn StatusBadge(props: &StatusBadgeProps) -> Html {
    let (glyph, text) = match props.status {
        BridgeStatus::Connecting => ("◌", "Connecting to the bridge…".to_string()),
        BridgeStatus::Open => (
            "●",
            match &props.bridge {
                Some(version) => format!("Connected (bridge {version})"),
                None => "Connected".to_string(),
            },
        ),
        BridgeStatus::Closed if props.ever_opened => {
            ("○", "Disconnected: reconnecting…".to_string())
        }
        BridgeStatus::Closed => ("○", "Not connected".to_string()),
    };
    html! {
        <span
            id="ws-status"
            class={classes!("badge", props.status.value())}
            data-state={props.status.value()}
            role="status"
            title="The WebSocket between this page and the bridge"
        >
            <span aria-hidden="true">{ glyph }</span>{ " " }{ text }
        </span>
    }
}
