//! [`Reconnecting`]: a browser WebSocket that reconnects by itself, shared
//! by the student's page (`use_bridge`) and the instructor's (`use_watch`).
//!
//! When the socket drops it tries again after a growing delay (0.5 s, 1 s,
//! 2 s ... at most 10 s), until [`Reconnecting::stop`]. What the socket
//! does is told to an [`Events`] value, which owns everything else (what
//! to dispatch, what was sent). Messages are handled as they arrive, with
//! no `requestAnimationFrame`, so nothing is lost while the tab is hidden.

use crate::browser;
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// What a [`Reconnecting`] socket tells its owner.
pub trait Events: 'static {
    /// A new socket is being opened.
    fn connecting(&self);
    /// The socket opened; `socket` may be sent on.
    fn opened(&self, socket: &WebSocket);
    /// A text message arrived.
    fn message(&self, text: &str);
    /// The socket closed; `opened` tells whether it had opened first, and
    /// `event` is `None` when it could not even be created. Returns true
    /// to wait longer before the next try (the server said "later").
    fn closed(&self, opened: bool, event: Option<&CloseEvent>) -> bool;
}

/// One page's connection, across reconnects.
pub struct Reconnecting<E: Events> {
    url: String,
    events: E,
    /// Opens one socket (the browser's `WebSocket`, or one held by a worker).
    open: fn(&str) -> Result<WebSocket, wasm_bindgen::JsValue>,
    inner: RefCell<Inner>,
}

#[derive(Default)]
struct Inner {
    socket: Option<WebSocket>,
    /// The socket's event listeners (open, message, close): dropping
    /// them removes them from the socket.
    listeners: Vec<EventListener>,
    /// The pending reconnect, if the socket is down.
    retry: Option<Timeout>,
    /// Failed attempts since the last successful open (for the backoff).
    attempts: u32,
    /// The current socket has opened.
    opened: bool,
    /// Set by [`Reconnecting::stop`]: do not reconnect.
    stopped: bool,
}

/// Failed attempts a "try later" counts as at least: the next try waits 4 s.
const LATER_ATTEMPTS: u32 = 3;

impl<E: Events> Reconnecting<E> {
    /// Opens the first socket to `url`.
    pub fn start(url: String, events: E) -> Rc<Self> {
        Self::start_with(url, events, WebSocket::new)
    }

    /// Opens the first socket to `url` with `open`.
    pub fn start_with(
        url: String,
        events: E,
        open: fn(&str) -> Result<WebSocket, wasm_bindgen::JsValue>,
    ) -> Rc<Self> {
        let socket = Rc::new(Reconnecting {
            url,
            events,
            open,
            inner: RefCell::default(),
        });
        socket.connect();
        socket
    }

    pub fn events(&self) -> &E {
        &self.events
    }

    /// The socket, if it is open now.
    pub fn open_socket(&self) -> Option<WebSocket> {
        let inner = self.inner.borrow();
        inner
            .socket
            .clone()
            .filter(|socket| socket.ready_state() == WebSocket::OPEN)
    }

    fn connect(self: &Rc<Self>) {
        self.events.connecting();
        let socket = match (self.open)(&self.url) {
            Ok(socket) => socket,
            Err(_) => {
                let later = self.events.closed(false, None);
                self.retry_later(later);
                return;
            }
        };
        // The listeners hold a Weak: this struct owns them, not the reverse.
        let weak = Rc::downgrade(self);
        let open = {
            let weak = weak.clone();
            let opened = move |_: &web_sys::Event| {
                if let Some(this) = weak.upgrade() {
                    this.opened();
                }
            };
            browser::listen(&socket, "open", false, Box::new(opened))
        };
        let message = {
            let weak = weak.clone();
            let message = move |event: &web_sys::Event| {
                let text = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|event| event.data().as_string());
                if let (Some(this), Some(text)) = (weak.upgrade(), text) {
                    this.events.message(&text);
                }
            };
            browser::listen(&socket, "message", false, Box::new(message))
        };
        let closed = move |event: &web_sys::Event| {
            if let (Some(this), Some(event)) = (weak.upgrade(), event.dyn_ref::<CloseEvent>()) {
                this.closed(event);
            }
        };
        let close = browser::listen(&socket, "close", false, Box::new(closed));
        let mut inner = self.inner.borrow_mut();
        inner.socket = Some(socket);
        inner.opened = false;
        // The old socket's listeners go now (not while one of them runs).
        inner.listeners = vec![open, message, close];
    }

    fn opened(&self) {
        let socket = {
            let mut inner = self.inner.borrow_mut();
            inner.attempts = 0;
            inner.opened = true;
            inner.socket.clone()
        };
        if let Some(socket) = socket {
            self.events.opened(&socket);
        }
    }

    fn closed(self: &Rc<Self>, event: &CloseEvent) {
        let opened = {
            let mut inner = self.inner.borrow_mut();
            // The listeners stay until the next connect replaces them:
            // this code is running inside one of them.
            inner.socket = None;
            if inner.stopped {
                return;
            }
            inner.opened
        };
        let later = self.events.closed(opened, Some(event));
        self.retry_later(later);
    }

    fn retry_later(self: &Rc<Self>, later: bool) {
        let mut inner = self.inner.borrow_mut();
        if later {
            inner.attempts = inner.attempts.max(LATER_ATTEMPTS);
        }
        let delay = retry_delay_ms(inner.attempts);
        inner.attempts += 1;
        let weak: Weak<Self> = Rc::downgrade(self);
        inner.retry = Some(Timeout::new(delay, move || {
            if let Some(this) = weak.upgrade() {
                this.connect();
            }
        }));
    }

    /// Closes the socket for good (the page is going away).
    pub fn stop(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.stopped = true;
        inner.retry = None;
        // Removed before closing, so the close is not reported.
        inner.listeners.clear();
        if let Some(socket) = inner.socket.take() {
            let _ = socket.close();
        }
    }
}

/// How long to wait before reconnecting after `attempts` failures in a row:
/// 0.5 s, doubling, at most 10 s (a bridge that restarts is found quickly,
/// one that is down is not hammered).
fn retry_delay_ms(attempts: u32) -> u32 {
    const FIRST_RETRY_MS: u32 = 500;
    const MAX_RETRY_MS: u32 = 10_000;
    FIRST_RETRY_MS
        .saturating_mul(1 << attempts.min(5))
        .min(MAX_RETRY_MS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_to_ten_seconds() {
        let delays: Vec<u32> = (0..8).map(super::retry_delay_ms).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
    }
}
