//! Shares the student's `server.py` and `client.py` with the bridge, so
//! an instructor who follows the student sees their code as it is now
//! (`ClientMsg::Code`).
//!
//! Sent only when a file changed, and only once the student has stopped
//! typing for [`SHARE_AFTER_MS`]: a class typing costs the bridge a message
//! per pause, not per key. A new session (the page reconnected) gets both
//! files again. A file too large to share is said once (and sent again
//! once it fits); the student's text is never touched.

use super::BridgeLink;
use crate::code::file_of;
use crate::session::{BridgeStatus, SessionAction, fits};
use crate::state::{Action, LabState};
use gloo_timers::callback::Timeout;
use protocol::{ClientMsg, Lane};
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// How long after the last key the programs are shared.
pub const SHARE_AFTER_MS: u32 = 1000;

/// What was shared (or refused) of each file in this session.
#[derive(Default)]
struct Shared {
    /// The text last sent, per lane (server, client).
    sent: [Option<Rc<str>>; 2],
    /// The file is over a limit, and the student was told.
    told: [bool; 2],
    /// Waits for the student to stop typing.
    timer: Option<Timeout>,
}

fn index(lane: Lane) -> usize {
    match lane {
        Lane::Server => 0,
        Lane::Client => 1,
    }
}

/// Shares the student's programs with the bridge while the page is
/// connected (see the module's documentation).
#[hook]
pub fn use_share_code(lab: &UseReducerHandle<LabState>, bridge: &BridgeLink) {
    let shared = use_mut_ref(Shared::default);
    let server = lab.code.file(Lane::Server).text.clone();
    let client = lab.code.file(Lane::Client).text.clone();
    let open = lab.session.status == BridgeStatus::Open;
    let limit = lab
        .session
        .bridge
        .as_ref()
        .map(|b| b.limits.max_message_bytes);
    let (bridge, dispatcher) = (bridge.clone(), lab.dispatcher());
    use_effect_with(
        (server, client, open, limit),
        move |(server, client, open, limit)| {
            let mut state = shared.borrow_mut();
            if !*open {
                // The next session knows nothing of this one's files.
                *state = Shared::default();
                return;
            }
            let files = [
                (Lane::Server, server.clone()),
                (Lane::Client, client.clone()),
            ];
            let limit = *limit;
            let shared = shared.clone();
            state.timer = Some(Timeout::new(SHARE_AFTER_MS, move || {
                share(&shared, &bridge, &dispatcher, &files, limit)
            }));
        },
    );
}

/// Sends each file that changed since it was last sent, or says once why
/// it cannot be.
fn share(
    shared: &Rc<RefCell<Shared>>,
    bridge: &BridgeLink,
    dispatcher: &UseReducerDispatcher<LabState>,
    files: &[(Lane, Rc<str>)],
    limit: Option<u32>,
) {
    let mut state = shared.borrow_mut();
    state.timer = None;
    for (lane, text) in files {
        let i = index(*lane);
        if state.sent[i].as_deref() == Some(&**text) {
            continue;
        }
        let file = file_of(*lane).to_string();
        let msg = ClientMsg::Code {
            lane: *lane,
            file: file.clone(),
            text: text.to_string(),
        };
        let problem = match protocol::check_code(&file, text) {
            Err((_, why)) => Some(why),
            Ok(()) => match limit.map(|limit| (limit, fits(limit, &msg))) {
                Some((limit, Err(size))) => Some(format!(
                    "{file} takes {size} bytes as a message, and this bridge takes at most \
                     {limit}: the instructor's view keeps showing the last version that fit"
                )),
                _ => None,
            },
        };
        if let Some(why) = problem {
            if !state.told[i] {
                state.told[i] = true;
                dispatcher.dispatch(Action::Session(SessionAction::Warn(format!(
                    "Your instructor cannot see this version of {file}: {why}. Your code is \
                     kept here as it is."
                ))));
            }
            continue;
        }
        let Ok(json) = serde_json::to_string(&msg) else {
            continue;
        };
        if bridge.send_text(&json) {
            state.sent[i] = Some(text.clone());
            state.told[i] = false;
        }
    }
}
