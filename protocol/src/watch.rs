//! The instructor's view: every session of a bridge, live, and one of them
//! followed (to project it to the class).
//!
//! A separate WebSocket, `/watch?token=TOKEN`, carries it; the token is the
//! bridge's instructor token (`--instructor-token`, or a random one the
//! bridge prints at start). Students' `/ws` sessions never see this.
//!
//! # From the top
//!
//! 1. The bridge sends [`WatchMsg::Hello`], then the whole list once as
//!    [`WatchMsg::Sessions`], then only what changed, as
//!    [`WatchMsg::Changed`] (at most a few times a second): a class of
//!    hundreds costs the instructor's page only the sessions that did
//!    something.
//! 2. The instructor sends [`WatchCmd::Follow`] with a session id. The
//!    bridge answers [`WatchMsg::Following`], then that session's recent
//!    history and then its live messages, each as [`WatchMsg::Session`]:
//!    exactly the [`ServerMsg`]s the student's page got, in order.
//!    The student's programs as they are now come with it, as
//!    [`WatchMsg::Code`], and again whenever the student changes them.
//! 3. [`WatchCmd::Unfollow`] (or following another session) stops the
//!    stream. When the followed session ends: [`WatchMsg::Ended`].

use crate::{Lane, ServerMsg};
use serde::{Deserialize, Serialize};

/// The close code of a `/watch` the bridge cannot take now: the most
/// instructor views it allows are open already (RFC 6455's "try again
/// later"). The page says so, and tries again.
pub const WATCH_BUSY: u16 = 1013;

/// Identifies one `/ws` session of a bridge (1, 2, ... in order of opening).
pub type SessionId = u64;

/// What the instructor's page asks of `/watch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WatchCmd {
    /// Stream this session's messages (history first), instead of any
    /// session followed before.
    Follow { session: SessionId },
    /// Stop streaming.
    Unfollow,
}

/// One session as the instructor's list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: SessionId,
    /// The student's address as the bridge sees it (`IP:PORT`).
    pub peer: String,
    /// False once the student's page has gone (closed sessions stay in the
    /// list for a while, so the instructor sees who left).
    pub open: bool,
    /// When the session opened and when it last did anything, in the
    /// bridge's microseconds (the same clock as every `TraceEvent`).
    pub opened_at_us: u64,
    pub last_at_us: u64,
    /// Private lab servers listening now.
    pub servers: u32,
    /// Client connections open now.
    pub connections: u32,
    /// Trace events so far.
    pub events: u64,
    /// Error events and refusals so far.
    pub errors: u32,
    /// The label of the latest trace event (`recv() -> 5 bytes`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    /// The name or student number the student gave ([`ClientMsg::SetName`]).
    ///
    /// [`ClientMsg::SetName`]: crate::ClientMsg::SetName
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which tasks the student's own programs have been seen doing.
    #[serde(default)]
    pub progress: Progress,
}

/// Which of the lab's tasks a student's own programs (run in the page)
/// have been seen doing on real sockets, as the bridge traced them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Task 1: their server accepted a connection and their client connected.
    #[serde(default)]
    pub task1: bool,
    /// Task 2: their server sent bytes and their client received bytes.
    #[serde(default)]
    pub task2: bool,
    /// Task 3: their server sent back the very bytes it received.
    #[serde(default)]
    pub task3: bool,
    /// "Check my task"'s latest verdict for Tasks 1, 2 and 3, as the
    /// student's page ran it (absent from an older bridge: not run).
    #[serde(default)]
    pub checked: [CheckStatus; 3],
}

/// The latest "Check my task" of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The student has not checked this task yet.
    #[default]
    NotRun,
    /// Every check passed.
    Passing,
    /// At least one check failed.
    Failing,
}

impl Progress {
    /// How many tasks have been seen working or pass their check (0 to 3).
    pub fn count(self) -> u8 {
        let done =
            |seen: bool, checked: CheckStatus| u8::from(seen || checked == CheckStatus::Passing);
        done(self.task1, self.checked[0])
            + done(self.task2, self.checked[1])
            + done(self.task3, self.checked[2])
    }

    /// Each task with whether it has been seen working, in order.
    pub fn tasks(self) -> [(u8, bool); 3] {
        [(1, self.task1), (2, self.task2), (3, self.task3)]
    }
}

/// The longest name a student may give, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A student's name as given, trimmed; or why it cannot be used (empty,
/// too long, or with control characters).
pub fn clean_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the name is empty: type your name or student number".into());
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(format!(
            "the name has {chars} characters; at most {MAX_NAME_CHARS} fit the instructor's list"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(
            "the name has a control character (a tab or a new line): type it on one line".into(),
        );
    }
    Ok(name.to_string())
}

/// What `/watch` tells the instructor's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WatchMsg {
    /// The first message.
    Hello {
        version: u32,
        /// The bridge's own version string.
        bridge: String,
    },
    /// Every session the bridge has (open ones, then recently closed):
    /// sent once, first.
    Sessions { sessions: Vec<SessionSummary> },
    /// What changed since the last list: these sessions are new or
    /// different (each whole), and those in `gone` are no longer listed.
    Changed {
        sessions: Vec<SessionSummary>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        gone: Vec<SessionId>,
    },
    /// From now on, this session's messages follow. `dropped` counts the
    /// oldest messages no longer kept in its history (0 if none).
    Following { session: SessionId, dropped: u64 },
    /// One message of the followed session, as its page got it.
    Session { session: SessionId, msg: ServerMsg },
    /// The instructor's page fell behind and `missed` messages of the
    /// followed session were skipped.
    Gap { session: SessionId, missed: u64 },
    /// The followed session has ended.
    Ended { session: SessionId },
    /// The followed student's current program text
    /// ([`ClientMsg::Code`](crate::ClientMsg::Code)): each file kept when
    /// following starts, then each time the student changes it. Never in
    /// the list's messages.
    Code {
        session: SessionId,
        lane: Lane,
        file: String,
        text: String,
    },
    /// The command could not be done (unknown session, bad JSON).
    Refused { message: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bytes, Lane, Step, TraceEvent};

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  E18123 ").as_deref(), Ok("E18123"));
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(clean_name("a\nb").is_err());
        assert_eq!(
            clean_name(&"é".repeat(MAX_NAME_CHARS)).map(|n| n.len()),
            Ok(128)
        );
    }

    /// A summary from an older bridge (no name, no progress) still reads.
    #[test]
    fn progress_and_name_are_optional() {
        let json = r#"{"id":1,"peer":"127.0.0.1:5","open":true,"opened_at_us":0,"last_at_us":0,"servers":0,"connections":0,"events":0,"errors":0}"#;
        let summary: SessionSummary = serde_json::from_str(json).unwrap();
        assert_eq!(summary.name, None);
        assert_eq!(summary.progress.count(), 0);
        assert_eq!(summary.progress.checked, [CheckStatus::NotRun; 3]);
    }

    #[test]
    fn commands_are_tagged_json() {
        let follow: WatchCmd = serde_json::from_str(r#"{"type":"follow","session":3}"#).unwrap();
        assert_eq!(follow, WatchCmd::Follow { session: 3 });
        let unfollow: WatchCmd = serde_json::from_str(r#"{"type":"unfollow"}"#).unwrap();
        assert_eq!(unfollow, WatchCmd::Unfollow);
    }

    #[test]
    fn a_session_message_carries_the_page_message_whole() {
        let msg = WatchMsg::Session {
            session: 7,
            msg: ServerMsg::Trace(TraceEvent {
                at_us: 12,
                lane: Lane::Client,
                server: None,
                conn: Some(1),
                server_conn: None,
                source: None,
                step: Step::Send {
                    data: Bytes(b"hi".to_vec()),
                },
            }),
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.starts_with(r#"{"type":"session","session":7,"msg":{"type":"trace""#));
        let back: WatchMsg = serde_json::from_str(&json).unwrap();
        assert_eq!(back, msg);
    }

    /// A task counts when it has been seen working or its check passes;
    /// a failing check takes nothing away, and adds nothing.
    #[test]
    fn a_failing_check_is_not_progress() {
        let mut progress = Progress {
            checked: [CheckStatus::Failing; 3],
            ..Progress::default()
        };
        assert_eq!(progress.count(), 0);
        progress.checked[1] = CheckStatus::Passing;
        assert_eq!(progress.count(), 1);
        progress.task3 = true;
        assert_eq!(progress.count(), 2, "seen working, though its check fails");
    }
}
