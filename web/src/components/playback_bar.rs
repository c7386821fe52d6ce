use crate::trace_view::{Speed, Toward, TraceAction};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct PlaybackBarProps {
    pub playing: bool,
    /// Showing every event and following new ones (nothing selected).
    pub live: bool,
    pub speed: Speed,
    /// "Event 5 of 25", or how many events there are.
    pub position: AttrValue,
    pub has_events: bool,
    pub onaction: Callback<TraceAction>,
}

/// Step through a recorded trace: back, forward, play at a speed, back to
/// live, clear.
#[component]
pub fn PlaybackBar(props: &PlaybackBarProps) -> Html {
    let onaction = &props.onaction;
    let on_speed = onaction.reform(|e: Event| {
        TraceAction::SetSpeed(Speed::from_value(
            &e.target_unchecked_into::<HtmlSelectElement>().value(),
        ))
    });
    let none = !props.has_events;
    html! {
        <div class="toolbar playback" role="toolbar" aria-label="Step through the trace">
            <button id="step-back" type="button" disabled={none} title="Previous event"
                onclick={onaction.reform(|_| TraceAction::Step(Toward::Prev))}>
                <span aria-hidden="true">{ "◀ " }</span>{ "Back" }
            </button>
            <button id="play" type="button" disabled={none} aria-pressed={props.playing.to_string()}
                onclick={onaction.reform(|_| TraceAction::TogglePlay)}>
                // The glyph is drawn, not read out: the name is the word.
                <span aria-hidden="true">{ if props.playing { "❚❚ " } else { "▶ " } }</span>
                { if props.playing { "Pause" } else { "Play" } }
            </button>
            <button id="step-forward" type="button" disabled={none} title="Next event"
                onclick={onaction.reform(|_| TraceAction::Step(Toward::Next))}>
                { "Forward" }<span aria-hidden="true">{ " ▶" }</span>
            </button>
            <label class="inline" for="play-speed">{ "Speed" }</label>
            <select id="play-speed" onchange={on_speed}>
                { for Speed::ALL.iter().map(|s| html! {
                    <option value={s.value()} selected={*s == props.speed}>{ format!("{}×", s.value()) }</option>
                }) }
            </select>
            <button id="live-button" type="button" disabled={props.live}
                title="Show every event and follow new ones (Escape)"
                onclick={onaction.reform(|_| TraceAction::Live)}>{ "Live" }</button>
            <button id="clear-trace" type="button" disabled={none}
                onclick={onaction.reform(|_| TraceAction::Clear)}>{ "Clear" }</button>
            <span class="position" aria-live="polite">{ &props.position }</span>
        </div>
    }
}
