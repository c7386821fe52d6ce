//! The instructor's page on `/watch`, for tests: the list of sessions as
//! the page would show it (the first list, with every change applied).

use crate::page::{WAIT, Ws, receive};
use protocol::{SessionId, SessionSummary, WatchMsg};
use tokio_tungstenite::connect_async;

/// The instructor's page: the list as it would show it (the first list,
/// with every change applied), and every list message received.
pub struct Instructor {
    ws: Ws,
    /// Every list message received.
    pub log: Vec<WatchMsg>,
    /// The list as the page shows it now.
    pub list: Vec<SessionSummary>,
}

impl Instructor {
    pub async fn open(bridge: &bridge::app::RunningBridge) -> Instructor {
        let (ws, _) = connect_async(bridge.watch_url())
            .await
            .expect("watch opens");
        let mut instructor = Instructor {
            ws,
            log: Vec::new(),
            list: Vec::new(),
        };
        assert!(matches!(instructor.receive().await, WatchMsg::Hello { .. }));
        assert!(
            matches!(instructor.receive().await, WatchMsg::Sessions { .. }),
            "the whole list comes first"
        );
        instructor
    }

    pub async fn receive(&mut self) -> WatchMsg {
        let msg: WatchMsg = receive(&mut self.ws, &mut self.log).await;
        apply(&mut self.list, &msg);
        msg
    }

    /// Reads lists until `want` holds for session `id`; returns it.
    pub async fn until(
        &mut self,
        what: &str,
        id: SessionId,
        want: impl Fn(&SessionSummary) -> bool,
    ) -> SessionSummary {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(found) = self.list.iter().find(|s| s.id == id && want(s)) {
                return found.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} in time; list: {:#?}",
                self.list
            );
            self.receive().await;
        }
    }
}

/// Applies a list message to the list as the instructor's page keeps it:
/// `sessions` replaces it, `changed` updates, adds and drops sessions.
pub fn apply(list: &mut Vec<SessionSummary>, msg: &WatchMsg) {
    match msg {
        WatchMsg::Sessions { sessions } => *list = sessions.clone(),
        WatchMsg::Changed { sessions, gone } => {
            list.retain(|s| !gone.contains(&s.id));
            for summary in sessions {
                match list.iter_mut().find(|s| s.id == summary.id) {
                    Some(old) => *old = summary.clone(),
                    None => list.push(summary.clone()),
                }
            }
        }
        _ => {}
    }
}
