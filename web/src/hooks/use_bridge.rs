//! The WebSocket to the bridge: with `socket.rs` (reconnecting), the
//! page's only network code.
//!
//! The socket is opened inside `use_effect_with(())`, so once per page, and
//! closed in the effect's cleanup (never in the component body, which would
//! reconnect on every render). When it drops, it reconnects (see
//! [`Reconnecting`]).
//!
//! Commands come from the session's [`Outbox`]: whenever it changes, what
//! is new in it is sent. The bridge's messages go to the reducer at once
//! when they come one by one, and in batches when they come fast (at most
//! one render per [`BATCH_MS`], and per [`FLOOD_MS`] while they flood in):
//! a student's echo loop in the page makes over a thousand steps a second,
//! and must not wait for the page to draw each (nobody reads a thousand
//! rows a second; the newest stay in view). A student program's messages
//! take a shorter way:
//! the runner sends its own (through [`BridgeLink::send_text`]), and the
//! bridge's answers to them go straight to the runner ([`RunnerLink`]),
//! not through the reducer.

use super::runner_link::RunnerLink;
use super::socket::{Events, Reconnecting};
use crate::browser;
use crate::session::{Outbox, SessionAction, SocketClosed};
use crate::state::{Action, LabState};
use gloo_timers::callback::Timeout;
use protocol::{ClientMsg, PROTOCOL_VERSION};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use web_sys::{CloseEvent, WebSocket};
use yew::prelude::*;

/// The longest a message from the bridge waits before it is shown.
const BATCH_MS: u32 = 100;
/// ... while they flood in: after a batch of [`FLOOD`] messages or more.
/// Drawing less often leaves a student's echo loop in the page more of the
/// page's main thread (measured: 307-338 round trips a second at 100 ms,
/// 351-374 at 500 ms, 360-388 at 1 s).
const FLOOD_MS: u32 = 500;
const FLOOD: usize = 50;

/// The bridge's messages waiting for the next render.
struct Batch {
    dispatcher: UseReducerDispatcher<LabState>,
    actions: RefCell<Vec<Action>>,
    /// The pending flush, if any.
    timer: RefCell<Option<Timeout>>,
    /// When the last batch went to the reducer (ms).
    flushed_at: Cell<f64>,
    /// How long the next batch may wait: [`BATCH_MS`], or [`FLOOD_MS`]
    /// after a flood.
    wait_ms: Cell<u32>,
}

impl Batch {
    fn push(self: &Rc<Self>, action: Action) {
        self.actions.borrow_mut().push(action);
        if self.timer.borrow().is_some() {
            return;
        }
        let since = browser::now_ms() - self.flushed_at.get();
        let most = f64::from(self.wait_ms.get());
        if since >= most {
            self.flush();
        } else {
            let batch = Rc::clone(self);
            let wait = (most - since).max(0.0) as u32;
            *self.timer.borrow_mut() = Some(Timeout::new(wait, move || batch.flush()));
        }
    }

    /// Hands what is waiting to the reducer, now.
    fn flush(&self) {
        self.timer.borrow_mut().take();
        self.flushed_at.set(browser::now_ms());
        let actions = std::mem::take(&mut *self.actions.borrow_mut());
        self.wait_ms.set(if actions.len() >= FLOOD {
            FLOOD_MS
        } else {
            BATCH_MS
        });
        if !actions.is_empty() {
            self.dispatcher.dispatch(Action::Batch(actions));
        }
    }
}

/// The page's socket to the bridge, for the runner to send on.
#[derive(Clone)]
pub struct BridgeLink(Rc<RefCell<Option<Rc<Reconnecting<Bridge>>>>>);

impl BridgeLink {
    /// Sends one `ClientMsg`, already JSON; false when the socket is not
    /// open (the session is gone, and the reducer stops the programs).
    pub fn send_text(&self, text: &str) -> bool {
        let socket = self.0.borrow().as_ref().and_then(|b| b.open_socket());
        socket.is_some_and(|socket| socket.send_with_str(text).is_ok())
    }
}

/// Keeps the page connected to the bridge and sends the reducer's commands;
/// a student program's replies go to `programs`.
#[hook]
pub fn use_bridge(lab: &UseReducerHandle<LabState>, programs: &RunnerLink) -> BridgeLink {
    let link = use_mut_ref(|| None::<Rc<Reconnecting<Bridge>>>);
    {
        let link = link.clone();
        let dispatcher = lab.dispatcher();
        let programs = programs.clone();
        use_effect_with((), move |_| {
            let bridge = browser::bridge_url().map(|url| {
                let events = Bridge {
                    batch: Rc::new(Batch {
                        dispatcher: dispatcher.clone(),
                        actions: RefCell::default(),
                        timer: RefCell::default(),
                        flushed_at: Cell::new(0.0),
                        wait_ms: Cell::new(BATCH_MS),
                    }),
                    dispatcher,
                    sent_upto: Cell::new(0),
                    url: url.clone(),
                    programs,
                };
                Reconnecting::start_with(url, events, super::bridge_worker::open_socket)
            });
            *link.borrow_mut() = bridge.clone();
            move || {
                if let Some(bridge) = bridge {
                    bridge.stop();
                }
            }
        });
    }
    {
        let link = link.clone();
        use_effect_with(lab.session.outbox.clone(), move |outbox| {
            if let Some(bridge) = link.borrow().as_ref()
                && let Some(socket) = bridge.open_socket()
            {
                bridge.events().send_new(&socket, outbox);
            }
        });
    }
    BridgeLink(link)
}

/// What the page does with its socket to the bridge.
struct Bridge {
    dispatcher: UseReducerDispatcher<LabState>,
    /// Outbox commands numbered below this were sent already.
    sent_upto: Cell<u64>,
    /// The socket's address, to name it when it cannot be opened.
    url: String,
    /// The runner of the student's programs.
    programs: RunnerLink,
    /// Messages waiting for the next render.
    batch: Rc<Batch>,
}

impl Bridge {
    fn one_message(&self, text: &str) {
        // A program's reply goes to the runner as it came: only its type,
        // program and call are read here (see `ServerMsg::SockReply`).
        let action = match crate::wire::incoming(text) {
            Ok(crate::wire::Incoming::Program {
                program,
                call,
                ended,
            }) => {
                self.programs
                    .deliver(program, ended, call, text, browser::now_ms());
                return;
            }
            Ok(crate::wire::Incoming::Msg(msg)) => Action::FromBridge(msg),
            Err(why) => Action::Session(SessionAction::BadMessage(why)),
        };
        self.batch.push(action);
    }
}

impl Events for Bridge {
    fn connecting(&self) {
        self.batch.flush();
        self.dispatcher
            .dispatch(Action::Session(SessionAction::BridgeConnecting));
    }

    fn opened(&self, socket: &WebSocket) {
        self.batch.flush();
        send(
            socket,
            &ClientMsg::Hello {
                version: PROTOCOL_VERSION,
            },
        );
        // The student's name, for the instructor's list, on every
        // connection (a reconnect is a new session on the bridge).
        if let Some(json) = crate::components::saved_name_msg() {
            let _ = socket.send_with_str(&json);
        }
        // A Performance API mark, so tools (the benchmark, the browser's
        // own profiler) can read how long after navigation the page got
        // its connection to the bridge.
        if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
            let _ = performance.mark("socket-lab:connected");
        }
        self.dispatcher
            .dispatch(Action::Session(SessionAction::BridgeOpened));
    }

    fn message(&self, text: &str) {
        // One or more of the bridge's messages, one to a line (the socket
        // asks for them: `protocol::LINES_QUERY`).
        for line in text.split('\n') {
            self.one_message(line);
        }
    }

    fn closed(&self, opened: bool, event: Option<&CloseEvent>) -> bool {
        // What the browser tells about a close: the code and the bridge's
        // reason when the socket had opened; a refused upgrade (a 403)
        // shows only as 1006, with no reason.
        self.batch.flush();
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
        self.dispatcher
            .dispatch(Action::Session(SessionAction::BridgeClosed {
                closed,
                origin,
                url: self.url.clone(),
            }));
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
