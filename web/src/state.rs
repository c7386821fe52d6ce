//! The student's page's state: one [`Reducible`] made of parts that each
//! have their own module, actions and tests:
//!
//! - [`Session`] (`session`): the WebSocket, the lab's servers and clients,
//!   notices, and the commands waiting for the bridge;
//! - [`TraceView`] (`trace_view`): the trace, its filter, the selection and
//!   replay (the instructor's view has one too);
//! - [`Prefs`] (`prefs`): projector mode and the theme;
//! - [`CodeState`] (`code`): the student's own programs.
//!
//! Components dispatch [`Action`]s; nothing else changes state. An action
//! for one part goes to that part; the few that concern several (a message
//! from the bridge, loading a trace file, the bridge going away) are
//! handed out here. Free of browser calls, so it is tested natively.

use crate::code::{CodeAction, CodeState};
use crate::export;
use crate::lab::Task;
use crate::prefs::{Prefs, PrefsAction};
use crate::session::{BridgeStatus, NoticeKind, Session, SessionAction};
use crate::trace_view::{TraceAction, TraceView};
use protocol::{Lane, ServerMsg, TraceEvent};
use std::rc::Rc;
use yew::Reducible;

/// Everything that can happen to the student's page.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The session with the bridge and the lab's controls.
    Session(SessionAction),
    /// The views of the trace.
    Trace(TraceAction),
    Prefs(PrefsAction),
    /// The code view: the student's own programs (see `code`).
    Code(CodeAction),
    /// A message from the bridge: a trace event goes to the trace, to the
    /// session (what it says about its servers and clients) and to the
    /// code view; anything else to the session.
    FromBridge(ServerMsg),
    /// Several actions at once, with one render (the bridge's messages of
    /// a busy moment: a student's echo loop makes hundreds a second).
    Batch(Vec<Action>),
    /// The text of a trace file to replay.
    Import(String),
    /// A trace file could not be read (why).
    ImportFailed(String),
}

/// The student's page's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabState {
    pub session: Session,
    pub view: TraceView,
    pub prefs: Prefs,
    /// The student's own `server.py` and `client.py`.
    pub code: CodeState,
}

impl Reducible for LabState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        // The replay timer may fire once after playing stopped: returning
        // the same Rc tells yew nothing changed.
        if matches!(action, Action::Trace(TraceAction::Tick)) && !self.view.playing {
            return self;
        }
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

impl LabState {
    /// The student's line behind the selected event, for an event of the
    /// student's own program: its file's lane, the program's text as it
    /// ran (if still kept), and the line.
    pub fn student_selection(&self) -> Option<(Lane, Option<Rc<str>>, u32)> {
        let entry = self.view.selected_entry()?;
        let source = entry.event.source.as_ref()?;
        let ran = self.code.source_of(source.program);
        let lane = ran
            .as_ref()
            .map_or_else(|| protocol::program::lane_of_file(&source.file), |r| r.0);
        Some((lane, ran.map(|r| r.1), source.line))
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Session(action) => {
                let closed = matches!(action, SessionAction::BridgeClosed { .. });
                self.session.apply(action);
                if closed {
                    self.view.playing = false;
                    self.code.bridge_closed();
                }
            }
            Action::FromBridge(ServerMsg::Trace(event)) => self.record(event),
            Action::FromBridge(msg) => self.session.apply(SessionAction::FromBridge(msg)),
            Action::Batch(actions) => {
                for action in actions {
                    self.apply(action);
                }
            }
            Action::Trace(action) => self.view.apply(action),
            Action::Prefs(action) => self.prefs.apply(action),
            Action::Code(action) => {
                let online = self.session.status == BridgeStatus::Open;
                self.code.apply(action, online);
            }
            Action::Import(text) => self.import(&text),
            Action::ImportFailed(why) => {
                self.session
                    .notify(NoticeKind::Error, "Could not load that file", why, None)
            }
        }
    }

    /// Adds an event to the trace; the session and the code view follow
    /// what it says.
    fn record(&mut self, event: TraceEvent) {
        self.code.on_trace(&event);
        self.session.follow(&event);
        self.view.record(event);
    }

    fn import(&mut self, text: &str) {
        match export::parse_json(text) {
            Ok(events) => {
                let count = events.len();
                if let Some(task) = Task::infer(&events) {
                    self.session.task = task;
                }
                self.view.load(events);
                self.session.notify(
                    NoticeKind::Info,
                    "Trace loaded",
                    format!("{count} events. Press Play or step through them."),
                    None,
                );
            }
            Err(why) => {
                self.session
                    .notify(NoticeKind::Error, "Could not load that file", why, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ConnId, ErrorKind, Step};

    fn open() -> Rc<LabState> {
        let state = Rc::new(LabState::default());
        state.reduce(Action::Session(SessionAction::BridgeOpened))
    }

    fn trace(lane: Lane, conn: Option<ConnId>, step: Step) -> Action {
        Action::FromBridge(ServerMsg::Trace(TraceEvent {
            at_us: 1000,
            lane,
            server: Some(1),
            conn,
            server_conn: None,
            source: None,
            step,
        }))
    }

    /// A refused connect() is an error event that closes the client.
    #[test]
    fn connection_refused_closes_the_client() {
        let state = open()
            .reduce(Action::Session(SessionAction::ConnectClient))
            .reduce(trace(
                Lane::Client,
                Some(1),
                Step::Error {
                    kind: ErrorKind::ConnectionRefused,
                    message: "Connection refused (os error 111)".into(),
                    failed: Some(protocol::Call::Connect),
                },
            ));
        let conn = state.session.conn().unwrap();
        assert!(conn.closed);
        assert!(conn.describe().contains("Connection refused"));
        assert_eq!(state.view.trace.len(), 1);
        // Selected, it is event 1, and the code panel shows connect()'s line.
        assert_eq!(state.view.code_selection(), None);
        let seq = state.view.trace.first_seq();
        let state = state.reduce(Action::Trace(TraceAction::Select(seq)));
        assert_eq!(state.view.selected_number(), 1);
        assert!(state.view.selected_entry().is_some());
        assert_eq!(state.view.code_selection(), Some((Lane::Client, "connect")));
    }

    /// The bridge going away closes everything of the session but keeps
    /// the trace.
    #[test]
    fn losing_the_bridge_keeps_the_trace() {
        let state = open()
            .reduce(Action::Session(SessionAction::StartServer))
            .reduce(Action::Session(SessionAction::ConnectClient))
            .reduce(trace(Lane::Server, None, Step::Listen { backlog: 5 }))
            .reduce(closed(true, 1001, "bridge shutting down"));
        assert_eq!(state.session.status, BridgeStatus::Closed);
        assert!(state.session.conns.iter().all(|c| c.closed));
        assert!(state.session.servers.iter().all(|s| !s.is_up()));
        assert!(state.session.outbox.queued.is_empty());
        assert_eq!(state.view.trace.len(), 1);
    }

    /// Loading a trace file replaces the trace; a bad one leaves it alone
    /// and says why.
    #[test]
    fn importing_a_trace() {
        let state = Rc::new(LabState::default())
            .reduce(trace(Lane::Server, None, Step::Listen { backlog: 5 }))
            .reduce(Action::Import(crate::sample::TRACE.to_string()));
        assert!(state.view.trace.len() > 10);
        assert_eq!(state.view.trace.first_seq(), 1);
        assert_eq!(state.session.notices.last().unwrap().title, "Trace loaded");
        assert_eq!(state.session.task, Task::Echo);

        let before = state.view.trace.len();
        let state = state.reduce(Action::Import("{ not json".into()));
        assert_eq!(state.view.trace.len(), before);
        assert_eq!(
            state.session.notices.last().unwrap().kind,
            NoticeKind::Error
        );
    }

    /// An event of the student's own program points at the student's
    /// line, in the text that program ran; the lab client's state is not
    /// touched by it, even when its conn id matches one of the page's.
    #[test]
    fn student_events_point_at_the_students_line() {
        use crate::code::{CodeAction, HANDOUT_CLIENT};
        let state = open()
            .reduce(Action::Session(SessionAction::ConnectClient))
            .reduce(Action::Code(CodeAction::Open))
            .reduce(Action::Code(CodeAction::Run(Lane::Client)));
        let state = state.reduce(Action::FromBridge(ServerMsg::Trace(TraceEvent {
            at_us: 5,
            lane: Lane::Client,
            server: None,
            conn: Some(1),
            server_conn: None,
            source: Some(protocol::Source {
                program: 1,
                file: "client.py".into(),
                line: 4,
            }),
            step: Step::Close,
        })));
        assert!(
            !state.session.conn().unwrap().closed,
            "the lab's client 1 is still open"
        );
        let seq = state.view.trace.first_seq();
        assert_eq!(state.student_selection(), None);
        let state = state.reduce(Action::Trace(TraceAction::Select(seq)));
        let (lane, text, line) = state.student_selection().unwrap();
        assert_eq!((lane, line), (Lane::Client, 4));
        assert_eq!(text.as_deref(), Some(HANDOUT_CLIENT));
        let lanes = crate::diagram::lane_heads(state.view.trace.iter().map(|e| &**e));
        assert_eq!(lanes[1].1, "client.py");
        assert_eq!(lanes[2].1, "Server");
    }

    fn closed(opened: bool, code: u16, reason: &str) -> Action {
        Action::Session(SessionAction::BridgeClosed {
            closed: crate::session::SocketClosed {
                opened,
                code,
                reason: reason.into(),
            },
            origin: "http://127.0.0.1:8000".into(),
            url: "ws://127.0.0.1:8000/ws".into(),
        })
    }
}
