//! The WebSocket to the bridge: the page's only network code.
//!
//! The socket is opened inside `use_effect_with(())`, so once per page, and
//! closed in the effect's cleanup (never in the component body, which would
//! reconnect on every render). When it drops, it reconnects with a growing
//! delay (0.5 s, 1 s, 2 s ... at most 10 s). Messages are handled as they
//! arrive, with no `requestAnimationFrame`, so nothing is lost while the
//! tab is hidden.
//!
//! Commands come from the reducer's [`Outbox`]: whenever it changes, what
//! is new in it is sent.

use crate::browser;
use crate::state::{Action, LabState, Outbox};
use gloo_timers::callback::Timeout;
use protocol::{ClientMsg, PROTOCOL_VERSION, ServerMsg};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};
use yew::prelude::*;

/// Keeps the page connected to the bridge and sends the reducer's commands.
#[hook]
pub fn use_bridge(lab: &UseReducerHandle<LabState>) {
    let link = use_mut_ref(|| None::<Rc<Bridge>>);
    {
        let link = link.clone();
        let dispatcher = lab.dispatcher();
        use_effect_with((), move |_| {
            let bridge = browser::bridge_url().map(|url| Bridge::start(url, dispatcher));
            *link.borrow_mut() = bridge.clone();
            move || {
                if let Some(bridge) = bridge {
                    bridge.stop();
                }
            }
        });
    }
    use_effect_with(lab.outbox.clone(), move |outbox| {
        if let Some(bridge) = link.borrow().as_ref() {
            bridge.send_new(outbox);
        }
    });
}

/// One page's connection to the bridge, across reconnects.
struct Bridge {
    url: String,
    dispatcher: UseReducerDispatcher<LabState>,
    inner: RefCell<Inner>,
}

#[derive(Default)]
struct Inner {
    socket: Option<WebSocket>,
    /// The socket's event handlers: they must live as long as the socket.
    handlers: Option<Handlers>,
    /// The pending reconnect, if the socket is down.
    retry: Option<Timeout>,
    /// Failed attempts since the last successful open (for the backoff).
    attempts: u32,
    /// Set by cleanup: do not reconnect.
    stopped: bool,
    /// Outbox commands numbered below this were sent already.
    sent_upto: u64,
}

struct Handlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

impl Bridge {
    fn start(url: String, dispatcher: UseReducerDispatcher<LabState>) -> Rc<Bridge> {
        let bridge = Rc::new(Bridge {
            url,
            dispatcher,
            inner: RefCell::default(),
        });
        bridge.connect();
        bridge
    }

    fn connect(self: &Rc<Self>) {
        self.dispatcher.dispatch(Action::BridgeConnecting);
        let socket = match WebSocket::new(&self.url) {
            Ok(socket) => socket,
            Err(_) => {
                self.dispatcher.dispatch(Action::BridgeClosed);
                self.retry_later();
                return;
            }
        };
        // The handlers hold a Weak: the bridge owns them, not the reverse.
        let weak = Rc::downgrade(self);
        let open = {
            let weak = weak.clone();
            Closure::<dyn FnMut()>::new(move || {
                if let Some(bridge) = weak.upgrade() {
                    bridge.opened();
                }
            })
        };
        let message = {
            let dispatcher = self.dispatcher.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let Some(text) = event.data().as_string() else {
                    return;
                };
                dispatcher.dispatch(match serde_json::from_str::<ServerMsg>(&text) {
                    Ok(msg) => Action::FromBridge(msg),
                    Err(e) => Action::BadMessage(e.to_string()),
                });
            })
        };
        let close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
            if let Some(bridge) = weak.upgrade() {
                bridge.closed();
            }
        });
        socket.set_onopen(Some(open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(close.as_ref().unchecked_ref()));
        let mut inner = self.inner.borrow_mut();
        inner.socket = Some(socket);
        inner.handlers = Some(Handlers {
            _open: open,
            _message: message,
            _close: close,
        });
    }

    fn opened(&self) {
        {
            let mut inner = self.inner.borrow_mut();
            inner.attempts = 0;
            if let Some(socket) = &inner.socket {
                send(
                    socket,
                    &ClientMsg::Hello {
                        version: PROTOCOL_VERSION,
                    },
                );
            }
        }
        // A Performance API mark, so tools (the benchmark, the browser's
        // own profiler) can read how long after navigation the page got
        // its connection to the bridge.
        if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
            let _ = performance.mark("socket-lab:connected");
        }
        self.dispatcher.dispatch(Action::BridgeOpened);
    }

    fn closed(self: &Rc<Self>) {
        {
            let mut inner = self.inner.borrow_mut();
            // The handlers stay until the next connect replaces them: this
            // code is running inside one of them.
            inner.socket = None;
            if inner.stopped {
                return;
            }
        }
        self.dispatcher.dispatch(Action::BridgeClosed);
        self.retry_later();
    }

    fn retry_later(self: &Rc<Self>) {
        let mut inner = self.inner.borrow_mut();
        let delay = super::retry_delay_ms(inner.attempts);
        inner.attempts += 1;
        let weak: Weak<Bridge> = Rc::downgrade(self);
        inner.retry = Some(Timeout::new(delay, move || {
            if let Some(bridge) = weak.upgrade() {
                bridge.connect();
            }
        }));
    }

    /// Sends the outbox's commands that were not sent yet.
    fn send_new(&self, outbox: &Outbox) {
        let mut inner = self.inner.borrow_mut();
        let Some(socket) = inner.socket.clone() else {
            return;
        };
        if socket.ready_state() != WebSocket::OPEN {
            return;
        }
        for outgoing in outbox.queued.iter() {
            if outgoing.seq >= inner.sent_upto {
                send(&socket, &outgoing.msg);
                inner.sent_upto = outgoing.seq + 1;
            }
        }
    }

    /// Closes the socket for good (the page is going away).
    fn stop(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.stopped = true;
        inner.retry = None;
        if let Some(socket) = inner.socket.take() {
            socket.set_onopen(None);
            socket.set_onmessage(None);
            socket.set_onclose(None);
            let _ = socket.close();
        }
        inner.handlers = None;
    }
}

fn send(socket: &WebSocket, msg: &ClientMsg) {
    if let Ok(text) = serde_json::to_string(msg) {
        let _ = socket.send_with_str(&text);
    }
}
