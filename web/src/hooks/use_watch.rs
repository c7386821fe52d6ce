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
//! Every message goes to the `InstructorState`, the followed session's
//! too: the reducer knows which session it asked for and whether the
//! bridge streams it yet, and gives that session's trace to its
//! `TraceView`. This hook keeps no state of its own but the socket.

use super::socket::{Events, Reconnecting};
use crate::browser;
use crate::instructor::{Command, InstructorState, WatchAction};
use protocol::{WATCH_BUSY, WatchMsg};
use std::rc::Rc;
use web_sys::{CloseEvent, WebSocket};
use yew::prelude::*;

/// Keeps the instructor's page connected to `/watch` with `token`, sends
/// the reducer's commands, and gives it every message.
#[hook]
pub fn use_watch(token: &str, watch: &UseReducerHandle<InstructorState>) {
    let link = use_mut_ref(|| None::<Rc<Reconnecting<Watch>>>);
    {
        let link = link.clone();
        let watch = watch.dispatcher();
        use_effect_with(token.to_string(), move |token| {
            let socket =
                browser::watch_url(token).map(|url| Reconnecting::start(url, Watch { watch }));
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
}

impl Events for Watch {
    fn connecting(&self) {
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
        self.watch.dispatch(WatchAction::Received {
            msg,
            now_ms: browser::now_ms(),
        });
    }

    fn closed(&self, opened: bool, event: Option<&CloseEvent>) -> bool {
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
        let _ = socket.send_with_str(&text);
    }
}
