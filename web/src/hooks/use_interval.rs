//! A timer that ticks while `active` (replay uses it).

use gloo_timers::callback::Interval;
use yew::prelude::*;

/// Calls `on_tick` every `period_ms` while `active`; the timer stops when
/// `active` turns false or the component goes away.
#[hook]
pub fn use_interval(active: bool, period_ms: u32, on_tick: Callback<()>) {
    use_effect_with((active, period_ms), move |&(active, period_ms)| {
        let interval = active.then(|| Interval::new(period_ms, move || on_tick.emit(())));
        move || drop(interval)
    });
}
