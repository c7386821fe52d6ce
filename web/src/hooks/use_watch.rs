//! The instructor's WebSocket, `/watch?token=TOKEN`: the only network code
//! of the instructor's view.
//!
//! Opened once per page inside `use_effect_with(())` and closed in its
//! cleanup, like `use_bridge`; it reconnects with the same growing delay
//! (0.5 s, 1 s, 2 s ... at most 10 s). A socket that closes before it
//! opened is reported as such: the bridge answers a wrong token with 403,
//! which the browser does not show, so the page can only tell the
//! instructor the link was not accepted.
//!
//! Messages of the followed session go to its `LabState` as
//! `Action::FromBridge`, exactly as `use_bridge` gives the student's page
//! its messages; everything else goes to the `InstructorState`. Sending
//! `follow` (or `unfollow`) empties the `LabState`, and so does the
//! bridge's `following`, after which the session's history and live
//! messages arrive.

use crate::browser;
use crate::instructor::{Command, InstructorState, WatchAction};
use crate::state::{Action, LabState};
use gloo_timers::callback::Timeout;
use protocol::{SessionId, WATCH_BUSY, WatchCmd, WatchMsg};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};
use yew::prelude::*;

/// Keeps the instructor's page connected to `/watch` with `token`, sends
/// the reducer's commands, and feeds the followed session into `lab`.
#[hook]
pub fn use_watch(
    token: &str,
    watch: &UseReducerHandle<InstructorState>,
    lab: &UseReducerHandle<LabState>,
) {
    let link = use_mut_ref(|| None::<Rc<Watch>>);
    {
        let link = link.clone();
        let dispatchers = (watch.dispatcher(), lab.dispatcher());
        use_effect_with(token.to_string(), move |token| {
            let (watch, lab) = dispatchers;
            let socket = browser::watch_url(token).map(|url| Watch::start(url, watch, lab));
            *link.borrow_mut() = socket.clone();
            move || {
                if let Some(socket) = socket {
                    socket.stop();
                }
            }
        });
    }
    use_effect_with(watch.command.clone(), move |command| {
        if let (Some(socket), Some(command)) = (link.borrow().as_ref(), command) {
            socket.send(command);
        }
    });
}

/// The instructor's connection to `/watch`, across reconnects.
struct Watch {
    url: String,
    watch: UseReducerDispatcher<InstructorState>,
    lab: UseReducerDispatcher<LabState>,
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
    /// The current socket has opened.
    opened: bool,
    /// Set by cleanup: do not reconnect.
    stopped: bool,
    /// The session last asked for on this socket.
    wanted: Option<SessionId>,
    /// The session whose messages go to the LabState now: the bridge
    /// said `following` for the session last asked for.
    streaming: Option<SessionId>,
}

struct Handlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

impl Watch {
    fn start(
        url: String,
        watch: UseReducerDispatcher<InstructorState>,
        lab: UseReducerDispatcher<LabState>,
    ) -> Rc<Watch> {
        let socket = Rc::new(Watch {
            url,
            watch,
            lab,
            inner: RefCell::default(),
        });
        socket.connect();
        socket
    }

    fn connect(self: &Rc<Self>) {
        self.watch.dispatch(WatchAction::Connecting);
        let socket = match WebSocket::new(&self.url) {
            Ok(socket) => socket,
            Err(_) => {
                self.watch.dispatch(WatchAction::Closed { opened: false });
                self.retry_later();
                return;
            }
        };
        // The handlers hold a Weak: this struct owns them, not the reverse.
        let weak = Rc::downgrade(self);
        let open = {
            let weak = weak.clone();
            Closure::<dyn FnMut()>::new(move || {
                if let Some(watch) = weak.upgrade() {
                    watch.opened();
                }
            })
        };
        let message = {
            let weak = weak.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if let (Some(watch), Some(text)) = (weak.upgrade(), event.data().as_string()) {
                    watch.received(&text);
                }
            })
        };
        let close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            if let Some(watch) = weak.upgrade() {
                watch.closed(&event);
            }
        });
        socket.set_onopen(Some(open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(close.as_ref().unchecked_ref()));
        let mut inner = self.inner.borrow_mut();
        inner.socket = Some(socket);
        inner.opened = false;
        inner.wanted = None;
        inner.streaming = None;
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
            inner.opened = true;
        }
        // The reducer asks again for the session it follows.
        self.watch.dispatch(WatchAction::Opened);
    }

    fn received(&self, text: &str) {
        let msg = match serde_json::from_str::<WatchMsg>(text) {
            Ok(msg) => msg,
            Err(e) => {
                self.watch.dispatch(WatchAction::BadMessage(e.to_string()));
                return;
            }
        };
        match msg {
            WatchMsg::Session { session, msg } => {
                if self.inner.borrow().streaming == Some(session) {
                    self.lab.dispatch(Action::FromBridge(msg));
                }
            }
            msg => {
                if let WatchMsg::Following { session, .. } = msg {
                    let streaming = {
                        let mut inner = self.inner.borrow_mut();
                        // An answer to an older follow is not the one we want.
                        inner.streaming = inner.wanted.filter(|&wanted| wanted == session);
                        inner.streaming
                    };
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

    fn closed(self: &Rc<Self>, event: &CloseEvent) {
        let busy = event.code() == WATCH_BUSY;
        let opened = {
            let mut inner = self.inner.borrow_mut();
            // The handlers stay until the next connect replaces them: this
            // code is running inside one of them.
            inner.socket = None;
            inner.streaming = None;
            if inner.stopped {
                return;
            }
            if busy {
                // Opened only to be told to try later: wait longer.
                inner.attempts = inner.attempts.max(3);
            }
            inner.opened
        };
        if busy {
            self.watch.dispatch(WatchAction::Busy(event.reason()));
        }
        self.watch.dispatch(WatchAction::Closed { opened });
        self.retry_later();
    }

    fn retry_later(self: &Rc<Self>) {
        let mut inner = self.inner.borrow_mut();
        let delay = super::retry_delay_ms(inner.attempts);
        inner.attempts += 1;
        let weak: Weak<Watch> = Rc::downgrade(self);
        inner.retry = Some(Timeout::new(delay, move || {
            if let Some(watch) = weak.upgrade() {
                watch.connect();
            }
        }));
    }

    /// Sends a command, if the socket is open (when it opens, the reducer
    /// issues the follow again).
    fn send(&self, command: &Command) {
        {
            let mut inner = self.inner.borrow_mut();
            let Some(socket) = inner.socket.clone() else {
                return;
            };
            if socket.ready_state() != WebSocket::OPEN {
                return;
            }
            let Ok(text) = serde_json::to_string(&command.cmd) else {
                return;
            };
            if socket.send_with_str(&text).is_err() {
                return;
            }
            inner.wanted = match command.cmd {
                WatchCmd::Follow { session } => Some(session),
                WatchCmd::Unfollow => None,
            };
            inner.streaming = None;
        }
        self.lab.dispatch(Action::Reset);
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
