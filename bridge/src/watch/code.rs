//! The student's programs as they are now, kept for an instructor who
//! follows them: the latest `server.py` and `client.py` each session's
//! page shared ([`ClientMsg::Code`]).
//!
//! Kept in a `tokio::sync::watch` channel per session: the session
//! replaces the value and never waits; a follower is woken when it changed
//! and reads only the latest (a student typing faster than the instructor's
//! page reads costs nothing but the last version). They are not part of the
//! session's summary, so the list's deltas never carry them.
//!
//! [`ClientMsg::Code`]: protocol::ClientMsg::Code

use protocol::{Lane, SessionId, WatchMsg};
use std::sync::Arc;
use tokio::sync::watch;

/// One program's text, numbered so a follower sends each version once.
#[derive(Debug, PartialEq, Eq)]
pub struct SharedFile {
    pub file: String,
    pub text: String,
    /// Counts the session's changes (of either file) from 1.
    pub version: u64,
}

/// The latest text of each of the student's two programs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SharedCode {
    pub server: Option<Arc<SharedFile>>,
    pub client: Option<Arc<SharedFile>>,
    last_version: u64,
}

impl SharedCode {
    fn slot(&mut self, lane: Lane) -> &mut Option<Arc<SharedFile>> {
        match lane {
            Lane::Server => &mut self.server,
            Lane::Client => &mut self.client,
        }
    }

    /// Replaces one file; false if it is the same text already kept.
    fn set(&mut self, lane: Lane, file: String, text: String) -> bool {
        let same = self
            .slot(lane)
            .as_ref()
            .is_some_and(|kept| kept.file == file && kept.text == text);
        if same {
            return false;
        }
        self.last_version += 1;
        let version = self.last_version;
        *self.slot(lane) = Some(Arc::new(SharedFile {
            file,
            text,
            version,
        }));
        true
    }
}

/// A session's shared programs: the session writes, followers read.
#[derive(Debug)]
pub struct CodeCell {
    sender: watch::Sender<SharedCode>,
}

impl Default for CodeCell {
    fn default() -> Self {
        CodeCell {
            sender: watch::Sender::new(SharedCode::default()),
        }
    }
}

impl CodeCell {
    /// Keeps `text` as the student's `lane` program (already checked with
    /// [`protocol::check_code`]); true if it changed. Never waits.
    pub fn set(&self, lane: Lane, file: String, text: String) -> bool {
        self.sender
            .send_if_modified(|code| code.set(lane, file, text))
    }

    /// A follower's view of the programs, woken at each change.
    pub fn subscribe(&self) -> watch::Receiver<SharedCode> {
        self.sender.subscribe()
    }
}

/// What a follower of `session` has sent of its programs: each file's
/// version, so that only the files that changed are sent again.
#[derive(Debug, Default)]
pub struct Sent {
    server: u64,
    client: u64,
}

impl Sent {
    /// The `/watch` messages for the files of `code` newer than those sent.
    pub fn news(&mut self, session: SessionId, code: &SharedCode) -> Vec<WatchMsg> {
        let mut messages = Vec::new();
        for (lane, file, sent) in [
            (Lane::Server, &code.server, &mut self.server),
            (Lane::Client, &code.client, &mut self.client),
        ] {
            if let Some(file) = file
                && file.version > *sent
            {
                *sent = file.version;
                messages.push(WatchMsg::Code {
                    session,
                    lane,
                    file: file.file.clone(),
                    text: file.text.clone(),
                });
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only new versions are sent, each file once; the same text again is
    /// no change.
    #[test]
    fn each_version_is_sent_once() {
        let cell = CodeCell::default();
        let mut follower = cell.subscribe();
        assert!(cell.set(Lane::Server, "server.py".into(), "a".into()));
        assert!(!cell.set(Lane::Server, "server.py".into(), "a".into()));
        assert!(cell.set(Lane::Client, "client.py".into(), "b".into()));
        let mut sent = Sent::default();
        let first = sent.news(7, &follower.borrow_and_update());
        assert_eq!(first.len(), 2);
        assert!(sent.news(7, &follower.borrow()).is_empty());
        assert!(cell.set(Lane::Client, "client.py".into(), "c".into()));
        assert!(follower.has_changed().unwrap_or(false));
        let news = sent.news(7, &follower.borrow_and_update());
        assert_eq!(
            news,
            vec![WatchMsg::Code {
                session: 7,
                lane: Lane::Client,
                file: "client.py".into(),
                text: "c".into(),
            }]
        );
    }
}
