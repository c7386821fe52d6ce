//! The view of a trace, shared by the student's page and the instructor's:
//! the recorded events, which of them the log shows (the filter), the one
//! selected, and stepping through them (replay, play, speed).
//!
//! A [`TraceView`] changes only by [`TraceAction`]s (its own reducer) and by
//! [`TraceView::record`] for each new event. It knows nothing of where the
//! events come from: the student's session (`state`) or the session the
//! instructor follows (`instructor`) feed it. Free of browser calls, so it
//! is tested natively.

use crate::filter::{ConnFilter, Filter, KindFilter};
use crate::trace::{Entry, Trace};
use protocol::{Lane, TraceEvent};
use std::rc::Rc;
use yew::Reducible;

/// The most events kept; older ones are dropped (with a note on the page).
pub const MAX_EVENTS: usize = 20_000;

/// Replay speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Speed {
    Half,
    #[default]
    One,
    Two,
    Four,
}

impl Speed {
    pub const ALL: [Speed; 4] = [Speed::Half, Speed::One, Speed::Two, Speed::Four];

    pub fn value(self) -> &'static str {
        match self {
            Speed::Half => "0.5",
            Speed::One => "1",
            Speed::Two => "2",
            Speed::Four => "4",
        }
    }

    pub fn from_value(value: &str) -> Speed {
        Speed::ALL
            .into_iter()
            .find(|s| s.value() == value)
            .unwrap_or_default()
    }

    /// Time between steps while playing.
    pub fn interval_ms(self) -> u32 {
        match self {
            Speed::Half => 1600,
            Speed::One => 800,
            Speed::Two => 400,
            Speed::Four => 200,
        }
    }
}

/// Which neighbour to select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    First,
    Prev,
    Next,
    Last,
}

impl TraceAction {
    /// What a key does in a view of the trace (the log, the diagram):
    /// arrows move the selection, Home and End go to the first and last
    /// event, Escape goes back to live.
    pub fn for_key(key: &str) -> Option<TraceAction> {
        Some(match key {
            "ArrowDown" => TraceAction::Move(Toward::Next),
            "ArrowUp" => TraceAction::Move(Toward::Prev),
            "Home" => TraceAction::Move(Toward::First),
            "End" => TraceAction::Move(Toward::Last),
            "Escape" => TraceAction::Live,
            _ => return None,
        })
    }
}

/// Everything that can happen to a view of the trace.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceAction {
    Select(u64),
    /// Moves the selection (arrow keys); keeps replay as it is.
    Move(Toward),
    /// Steps through the trace: later events stay hidden until reached.
    Step(Toward),
    TogglePlay,
    /// The replay timer fired.
    Tick,
    SetSpeed(Speed),
    /// Leaves replay and follows new events again.
    Live,
    Clear,
    FilterConn(ConnFilter),
    FilterKind(KindFilter),
    Search(String),
    /// The events a question waits on (see `predict`): replay stops just
    /// before each until it is answered.
    Hold(Rc<Vec<u64>>),
}

/// A trace and how it is being looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceView {
    pub trace: Trace,
    pub selected: Option<u64>,
    /// Stepping through: events after `selected` are hidden.
    pub replay: bool,
    pub playing: bool,
    pub speed: Speed,
    pub filter: Filter,
    /// Predict, then observe: events replay stops before (see `predict`).
    pub holds: Rc<Vec<u64>>,
}

impl Default for TraceView {
    fn default() -> Self {
        TraceView {
            trace: Trace::with_cap(MAX_EVENTS),
            selected: None,
            replay: false,
            playing: false,
            speed: Speed::default(),
            filter: Filter::default(),
            holds: Rc::default(),
        }
    }
}

impl Reducible for TraceView {
    type Action = TraceAction;

    fn reduce(self: Rc<Self>, action: TraceAction) -> Rc<Self> {
        // The replay timer may fire once after playing stopped: returning
        // the same Rc tells yew nothing changed.
        if matches!(action, TraceAction::Tick) && !self.playing {
            return self;
        }
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

impl TraceView {
    /// The last event shown while stepping through (later ones hidden).
    pub fn shown_upto(&self) -> Option<u64> {
        if self.replay { self.selected } else { None }
    }

    /// The selected event, if any.
    pub fn selected_entry(&self) -> Option<Rc<Entry>> {
        self.selected.and_then(|seq| self.trace.get(seq)).cloned()
    }

    /// The selected event's place in the trace, from 1 (0 if none).
    pub fn selected_number(&self) -> u64 {
        self.selected
            .map_or(0, |seq| seq.saturating_sub(self.trace.first_seq()) + 1)
    }

    /// What the code panel highlights: the lane and the call of the
    /// selected event (a failed call's own line, see `Step::call_name`).
    pub fn code_selection(&self) -> Option<(Lane, &'static str)> {
        let entry = self.selected_entry()?;
        Some((entry.event.lane, entry.event.step.call_name()))
    }

    pub fn apply(&mut self, action: TraceAction) {
        match action {
            TraceAction::Select(seq) => {
                if self.trace.get(seq).is_some() {
                    self.selected = Some(seq);
                }
            }
            TraceAction::Move(toward) => {
                if let Some(seq) = self.neighbour(toward) {
                    let before = self.selected;
                    self.selected = Some(seq);
                    if self.replay {
                        self.stop_before_hold(before);
                    }
                }
            }
            TraceAction::Step(toward) => self.step(toward),
            TraceAction::TogglePlay => self.toggle_play(),
            TraceAction::Tick => {
                let before = self.selected;
                self.step(Toward::Next);
                if self.selected == before {
                    self.playing = false;
                }
            }
            TraceAction::SetSpeed(speed) => self.speed = speed,
            TraceAction::Live => {
                self.selected = None;
                self.replay = false;
                self.playing = false;
            }
            TraceAction::Clear => {
                self.trace = self.trace.cleared();
                self.selected = None;
                self.replay = false;
                self.playing = false;
            }
            TraceAction::FilterConn(conn) => self.filter.conn = conn,
            TraceAction::FilterKind(kind) => self.filter.kind = kind,
            TraceAction::Search(text) => self.filter.set_search(text),
            TraceAction::Hold(holds) => self.holds = holds,
        }
    }

    /// Adds an event to the trace, keeping the selection on its event.
    pub fn record(&mut self, event: TraceEvent) {
        let seq = self.trace.push(event);
        // An event that went in before later ones moved them down one.
        if seq + 1 < self.trace.next_seq()
            && let Some(selected) = self.selected.as_mut()
            && *selected >= seq
        {
            *selected += 1;
        }
    }

    /// Replaces the trace with `events` (a loaded trace file), from the
    /// start and not playing.
    pub fn load(&mut self, events: Vec<TraceEvent>) {
        self.trace = self.trace.cleared();
        self.selected = None;
        self.replay = false;
        self.playing = false;
        for event in events {
            self.trace.push(event);
        }
    }

    /// Forgets the trace and how it was looked at (another session's
    /// events come next); numbering goes on, so no row is mistaken for an
    /// old one.
    pub fn start_again(&mut self) {
        *self = TraceView {
            trace: self.trace.cleared(),
            ..TraceView::default()
        };
    }

    /// The nearest event `toward` the selection that the filter shows.
    fn neighbour(&self, toward: Toward) -> Option<u64> {
        let trace = &self.trace;
        let shown = |seq: &u64| trace.get(*seq).is_some_and(|e| self.filter.matches(e));
        let (first, end) = (trace.first_seq(), trace.next_seq());
        match (toward, self.selected) {
            (Toward::First, _) | (Toward::Next, None) => (first..end).find(shown),
            (Toward::Last, _) | (Toward::Prev, None) => (first..end).rev().find(shown),
            (Toward::Next, Some(at)) => (at.saturating_add(1).max(first)..end).find(shown),
            (Toward::Prev, Some(at)) => (first..at.min(end)).rev().find(shown),
        }
    }

    fn step(&mut self, toward: Toward) {
        let toward = match (toward, self.replay) {
            // Stepping forward into a trace starts from its beginning.
            (Toward::Next, false) => Toward::First,
            (other, _) => other,
        };
        let before = self.selected.filter(|_| self.replay);
        if let Some(seq) = self.neighbour(toward) {
            self.selected = Some(seq);
        }
        self.stop_before_hold(before);
        self.replay = self.selected.is_some();
        // Playing pauses where a question waits.
        if self.waiting_at().is_some() {
            self.playing = false;
        }
    }

    /// Predict, then observe: a move forward from `before` that would show
    /// an event a question waits on stops on the shown event just before
    /// it (or stays where it was).
    fn stop_before_hold(&mut self, before: Option<u64>) {
        let Some(to) = self.selected else {
            return;
        };
        let shown = |seq: &u64| self.trace.get(*seq).is_some_and(|e| self.filter.matches(e));
        // A question about an event the filter hides is not asked.
        let hold = self
            .holds
            .iter()
            .copied()
            .filter(|&h| before.is_none_or(|b| h > b) && h <= to && shown(&h))
            .min();
        if let Some(hold) = hold {
            let first = self.trace.first_seq();
            self.selected = (first..hold).rev().find(shown).or(before);
        }
    }

    /// The event a question waits on, when replay stands just before it.
    pub fn waiting_at(&self) -> Option<u64> {
        if !self.replay {
            return None;
        }
        self.neighbour(Toward::Next)
            .filter(|next| self.holds.contains(next))
    }

    fn toggle_play(&mut self) {
        if self.playing {
            self.playing = false;
            return;
        }
        // A question waits: it is answered before playing on.
        if self.waiting_at().is_some() {
            return;
        }
        let at_end = self.selected.is_some() && self.neighbour(Toward::Next).is_none();
        if !self.replay || at_end {
            self.selected = self.neighbour(Toward::First);
        }
        self.replay = self.selected.is_some();
        self.playing = self.replay;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Bytes, ConnId, Step};

    fn event(lane: Lane, conn: Option<ConnId>, step: Step) -> TraceEvent {
        TraceEvent {
            at_us: 1000,
            lane,
            server: Some(1),
            conn,
            server_conn: None,
            source: None,
            step,
        }
    }

    /// The trace is capped: the oldest events go and the count is kept
    /// for the note on the page.
    #[test]
    fn the_trace_is_capped() {
        let mut view = TraceView::default();
        for i in 0..(MAX_EVENTS + 300) as u64 {
            view.record(event(
                Lane::Client,
                Some(1),
                Step::Send {
                    data: Bytes(vec![i as u8]),
                },
            ));
        }
        assert!(view.trace.len() <= MAX_EVENTS);
        assert!(view.trace.dropped() > 0);
        assert_eq!(
            view.trace.len() as u64 + view.trace.dropped(),
            (MAX_EVENTS + 300) as u64
        );
    }

    /// The trace views' keys: arrows, Home, End and Escape; other keys are
    /// left to the browser.
    #[test]
    fn trace_keys_move_the_selection() {
        assert_eq!(
            TraceAction::for_key("ArrowUp"),
            Some(TraceAction::Move(Toward::Prev))
        );
        assert_eq!(
            TraceAction::for_key("ArrowDown"),
            Some(TraceAction::Move(Toward::Next))
        );
        assert_eq!(
            TraceAction::for_key("Home"),
            Some(TraceAction::Move(Toward::First))
        );
        assert_eq!(
            TraceAction::for_key("End"),
            Some(TraceAction::Move(Toward::Last))
        );
        assert_eq!(TraceAction::for_key("Escape"), Some(TraceAction::Live));
        assert_eq!(TraceAction::for_key("Tab"), None);
        assert_eq!(TraceAction::for_key("a"), None);
    }

    /// Stepping starts at the first event, hides the rest, follows the
    /// filter, and playing stops at the end.
    #[test]
    fn stepping_and_playing() {
        let mut view = TraceView::default();
        view.record(event(Lane::Server, None, Step::Listen { backlog: 5 }));
        view.record(event(Lane::Client, Some(1), Step::Close));
        view.record(event(Lane::Server, Some(1), Step::RecvEof));
        let state = Rc::new(view);

        let s = state.clone().reduce(TraceAction::Step(Toward::Next));
        assert_eq!((s.selected, s.shown_upto()), (Some(0), Some(0)));
        let s = s.reduce(TraceAction::Step(Toward::Next));
        assert_eq!(s.selected, Some(1));
        let s = s.reduce(TraceAction::Step(Toward::Prev));
        assert_eq!(s.selected, Some(0));

        let s = state.clone().reduce(TraceAction::Step(Toward::Prev));
        assert_eq!(s.selected, Some(2));

        let s = state
            .clone()
            .reduce(TraceAction::FilterConn(ConnFilter::Conn(1)))
            .reduce(TraceAction::Step(Toward::Next));
        assert_eq!(s.selected, Some(1));

        let s = state.clone().reduce(TraceAction::TogglePlay);
        assert!(s.playing);
        assert_eq!(s.selected, Some(0));
        let s = s.reduce(TraceAction::Tick).reduce(TraceAction::Tick);
        assert_eq!(s.selected, Some(2));
        let s = s.reduce(TraceAction::Tick);
        assert!(!s.playing);
        let same = s.clone().reduce(TraceAction::Tick);
        assert!(Rc::ptr_eq(&s, &same));

        let s = s.reduce(TraceAction::Live);
        assert_eq!((s.selected, s.replay), (None, false));

        let s = state.reduce(TraceAction::Move(Toward::Last));
        assert_eq!((s.selected, s.replay), (Some(2), false));
    }

    /// A late event goes in before later ones, and the selection stays on
    /// the event it was on.
    #[test]
    fn a_late_event_keeps_the_selection() {
        let at = |at_us: u64, lane: Lane, step: Step| TraceEvent {
            at_us,
            ..event(lane, Some(1), step)
        };
        let mut view = TraceView::default();
        view.record(at(10, Lane::Client, Step::Close));
        view.record(at(30, Lane::Client, Step::Close));
        view.apply(TraceAction::Select(1));
        view.record(at(20, Lane::Server, Step::RecvEof));
        assert_eq!(view.selected, Some(2));
        assert_eq!(view.selected_entry().unwrap().event.at_us, 30);
    }

    /// Starting again forgets the trace and the selection, and numbers
    /// new events after the old ones.
    #[test]
    fn starting_again_numbers_on() {
        let mut view = TraceView::default();
        view.record(event(Lane::Server, None, Step::Listen { backlog: 5 }));
        view.apply(TraceAction::Select(0));
        view.start_again();
        assert!(view.trace.is_empty());
        assert_eq!(view.selected, None);
        view.record(event(Lane::Server, None, Step::Listen { backlog: 5 }));
        assert_eq!(view.trace.first_seq(), 1);
    }
}
