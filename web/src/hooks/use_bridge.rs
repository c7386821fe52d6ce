//! The WebSocket to the bridge: with `socket.rs` (reconnecting), the
//! page's only network code.
//!
//! The socket is opened inside `use_effect_with(())`, so once per page, and
//! closed in the effect's cleanup (never in the component body, which would
//! reconnect on every render). When it drops, it reconnects (see
//! [`Reconnecting`]).
//!
//! Commands come from the reducer's [`Outbox`]: whenever it changes, what
//! is new in it is sent.

use super::socket::{Events, Reconnecting};
use crate::browser;
use crate::state::{Action, LabState, Outbox, SocketClosed};
use protocol::{ClientMsg, PROTOCOL_VERSION, ServerMsg};
use std::cell::Cell;
use std::rc::Rc;
use web_sys::{CloseEvent, WebSocket};
use yew::prelude::*;

/// Keeps the page connected to the bridge and sends the reducer's commands.
#[hook]
pub fn use_bridge(lab: &UseReducerHandle<LabState>) {
    let link = use_mut_ref(|| None::<Rc<Reconnecting<Bridge>>>);
    {
        let link = link.clone();
        let dispatcher = lab.dispatcher();
        use_effect_with((), move |_| {
            let bridge = browser::bridge_url().map(|url| {
                let events = Bridge {
                    dispatcher,
                    sent_upto: Cell::new(0),
                    url: url.clone(),
                };
                Reconnecting::start(url, events)
            });
            *link.borrow_mut() = bridge.clone();
            move || {
                if let Some(bridge) = bridge {
                    bridge.stop();
                }
            }
        });
    }
    use_effect_with(lab.outbox.clone(), move |outbox| {
        if let Some(bridge) = link.borrow().as_ref()
            && let Some(socket) = bridge.open_socket()
        {
            bridge.events().send_new(&socket, outbox);
        }
    });
}

/// What the page does with its socket to the bridge.
struct Bridge {
    dispatcher: UseReducerDispatcher<LabState>,
    /// Outbox commands numbered below this were sent already.
    sent_upto: Cell<u64>,
    /// The socket's address, to name it when it cannot be opened.
    url: String,
}

impl Events for Bridge {
    fn connecting(&self) {
        self.dispatcher.dispatch(Action::BridgeConnecting);
    }

    fn opened(&self, socket: &WebSocket) {
        send(
            socket,
            &ClientMsg::Hello {
                version: PROTOCOL_VERSION,
            },
        );
        // A Performance API mark, so tools (the benchmark, the browser's
        // own profiler) can read how long after navigation the page got
        // its connection to the bridge.
        if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
            let _ = performance.mark("socket-lab:connected");
        }
        self.dispatcher.dispatch(Action::BridgeOpened);
    }

    fn message(&self, text: &str) {
        self.dispatcher
            .dispatch(match serde_json::from_str::<ServerMsg>(text) {
                Ok(msg) => Action::FromBridge(msg),
                Err(e) => Action::BadMessage(e.to_string()),
            });
    }

    fn closed(&self, opened: bool, event: Option<&CloseEvent>) -> bool {
        // What the browser tells about a close: the code and the bridge's
        // reason when the socket had opened; a refused upgrade (a 403)
        // shows only as 1006, with no reason.
        let closed = SocketClosed {
            opened,
            code: event.map_or(1006, |e| e.code()),
            reason: event.map(|e| e.reason()).unwrap_or_default(),
        };
        // A refusal (1008, policy) or "try again later" (1013) will not
        // change in half a second: wait longer before the next try.
        let later = matches!(closed.code, 1008 | 1013);
        let origin = web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_default();
        self.dispatcher.dispatch(Action::BridgeClosed {
            closed,
            origin,
            url: self.url.clone(),
        });
        later
    }
}

impl Bridge {
    /// Sends the outbox's commands that were not sent yet.
    fn send_new(&self, socket: &WebSocket, outbox: &Outbox) {
        for outgoing in outbox.queued.iter() {
            if outgoing.seq >= self.sent_upto.get() {
                send(socket, &outgoing.msg);
                self.sent_upto.set(outgoing.seq + 1);
            }
        }
    }
}

fn send(socket: &WebSocket, msg: &ClientMsg) {
    if let Ok(text) = serde_json::to_string(msg) {
        let _ = socket.send_with_str(&text);
    }
}
