//! The instructor's WebSocket, `/watch?token=TOKEN`: with `socket.rs`, the
//! only network code of the instructor's view.
//!
//! Opened once per page inside `use_effect_with(())` and closed in its
//! cleanup, like `use_bridge`, and reconnecting the same way
//! ([`Reconnecting`]). A socket that closes before it opened is reported
//! as such: the bridge answers a wrong token with 403, which the browser
//! does not show, so the page can only tell the instructor the link was not
//! accepted. A bridge with all its instructor views taken closes at once
//! with [`WATCH_BUSY`]: the page says so, and waits longer before trying
//! again.
//!
//! Messages of the followed session go to its `LabState` as
//! `Action::FromBridge`, exactly as `use_bridge` gives the student's page
//! its messages; everything else goes to the `InstructorState`. Sending
//! `follow` (or `unfollow`) empties the `LabState`, and so does the
//! bridge's `following`, after which the session's history and live
//! messages arrive.

use super::socket::{Events, Reconnecting};
use crate::browser;
use crate::instructor::{Command, InstructorState, WatchAction};
use crate::state::{Action, LabState};
use protocol::{SessionId, WATCH_BUSY, WatchCmd, WatchMsg};
use std::cell::Cell;
use std::rc::Rc;
use web_sys::{CloseEvent, WebSocket};
use yew::prelude::*;

/// Keeps the instructor's page connected to `/watch` with `token`, sends
/// the reducer's commands, and feeds the followed session into `lab`.
#[hook]
pub fn use_watch(
    token: &str,
    watch: &UseReducerHandle<InstructorState>,
    lab: &UseReducerHandle<LabState>,
) {
    let link = use_mut_ref(|| None::<Rc<Reconnecting<Watch>>>);
    {
        let link = link.clone();
        let dispatchers = (watch.dispatcher(), lab.dispatcher());
        use_effect_with(token.to_string(), move |token| {
            let (watch, lab) = dispatchers;
            let socket = browser::watch_url(token).map(|url| {
                let events = Watch {
                    watch,
                    lab,
                    wanted: Cell::new(None),
                    streaming: Cell::new(None),
                };
                Reconnecting::start(url, events)
            });
            *link.borrow_mut() = socket.clone();
            move || {
                if let Some(socket) = socket {
                    socket.stop();
                }
            }
        });
    }
    use_effect_with(watch.command.clone(), move |command| {
        if let (Some(link), Some(command)) = (link.borrow().as_ref(), command)
            && let Some(socket) = link.open_socket()
        {
            link.events().send(&socket, command);
        }
    });
}

/// What the instructor's page does with its socket to `/watch`.
struct Watch {
    watch: UseReducerDispatcher<InstructorState>,
    lab: UseReducerDispatcher<LabState>,
    /// The session last asked for on this socket.
    wanted: Cell<Option<SessionId>>,
    /// The session whose messages go to the LabState now: the bridge
    /// said `following` for the session last asked for.
    streaming: Cell<Option<SessionId>>,
}

impl Events for Watch {
    fn connecting(&self) {
        // A new socket follows nothing yet.
        self.wanted.set(None);
        self.streaming.set(None);
        self.watch.dispatch(WatchAction::Connecting);
    }

    fn opened(&self, _socket: &WebSocket) {
        // The reducer asks again for the session it follows.
        self.watch.dispatch(WatchAction::Opened);
    }

    fn message(&self, text: &str) {
        let msg = match serde_json::from_str::<WatchMsg>(text) {
            Ok(msg) => msg,
            Err(e) => {
                self.watch.dispatch(WatchAction::BadMessage(e.to_string()));
                return;
            }
        };
        match msg {
            WatchMsg::Session { session, msg } => {
                if self.streaming.get() == Some(session) {
                    self.lab.dispatch(Action::FromBridge(msg));
                }
            }
            msg => {
                if let WatchMsg::Following { session, .. } = msg {
                    // An answer to an older follow is not the one we want.
                    let streaming = self.wanted.get().filter(|&wanted| wanted == session);
                    self.streaming.set(streaming);
                    if streaming.is_some() {
                        self.lab.dispatch(Action::Reset);
                    }
                }
                self.watch.dispatch(WatchAction::Received {
                    msg,
                    now_ms: browser::now_ms(),
                });
            }
        }
    }

    fn closed(&self, opened: bool, event: Option<&CloseEvent>) -> bool {
        self.streaming.set(None);
        let busy = event.filter(|event| event.code() == WATCH_BUSY);
        if let Some(event) = busy {
            self.watch.dispatch(WatchAction::Busy(event.reason()));
        }
        self.watch.dispatch(WatchAction::Closed { opened });
        busy.is_some()
    }
}

impl Watch {
    /// Sends a command on the open socket (when a socket opens, the
    /// reducer issues the follow again).
    fn send(&self, socket: &WebSocket, command: &Command) {
        let Ok(text) = serde_json::to_string(&command.cmd) else {
            return;
        };
        if socket.send_with_str(&text).is_err() {
            return;
        }
        self.wanted.set(match command.cmd {
            WatchCmd::Follow { session } => Some(session),
            WatchCmd::Unfollow => None,
        });
        self.streaming.set(None);
        self.lab.dispatch(Action::Reset);
    }
}
