//! [`Metrics`]: a few gauges and counters that show the bridge keeps its
//! bounds (served as JSON on `/metrics`, and read directly by tests).
//!
//! Plain atomics: each is updated on its own, and a reader that sees two
//! of them from slightly different moments is fine for a gauge.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Live numbers for the whole bridge. Shared as `Arc<Metrics>`.
#[derive(Debug, Default)]
pub struct Metrics {
    sessions: AtomicUsize,
    sessions_total: AtomicU64,
    relays: AtomicUsize,
    watchers: AtomicUsize,
    queued_to_page: AtomicUsize,
    peak_session_queued_to_page: AtomicUsize,
    queued_to_sockets: AtomicUsize,
    dropped_events: AtomicU64,
    messages_to_pages: AtomicU64,
    frames_to_pages: AtomicU64,
}

/// A copy of [`Metrics`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// `/ws` sessions open now.
    pub sessions: usize,
    /// `/ws` sessions ever opened.
    pub sessions_total: u64,
    /// `/relay` connections open now.
    pub relays: usize,
    /// Instructor views (`/watch`) open now.
    pub watchers: usize,
    /// Bytes of events queued for browsers, all sessions together.
    pub queued_to_page_bytes: usize,
    /// The most bytes any one session has ever had queued for its browser
    /// (never more than `--max-buffered-bytes`).
    pub peak_session_queued_to_page_bytes: usize,
    /// Bytes of `send` data queued for sockets, all sessions together.
    pub queued_to_sockets_bytes: usize,
    /// Server-lane events dropped because a browser fell behind.
    pub dropped_events: u64,
    /// Messages written to `/ws` pages, all sessions, ever.
    pub messages_to_pages: u64,
    /// The WebSocket frames they went in (fewer than the messages where a
    /// page takes several a frame, `/ws?lines=true`): each frame is a
    /// wake-up for the browser, so the fewer, the better.
    pub frames_to_pages: u64,
}

impl Metrics {
    /// The numbers now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            sessions: self.sessions.load(Ordering::Relaxed),
            sessions_total: self.sessions_total.load(Ordering::Relaxed),
            relays: self.relays.load(Ordering::Relaxed),
            watchers: self.watchers.load(Ordering::Relaxed),
            queued_to_page_bytes: self.queued_to_page.load(Ordering::Relaxed),
            peak_session_queued_to_page_bytes: self
                .peak_session_queued_to_page
                .load(Ordering::Relaxed),
            queued_to_sockets_bytes: self.queued_to_sockets.load(Ordering::Relaxed),
            dropped_events: self.dropped_events.load(Ordering::Relaxed),
            messages_to_pages: self.messages_to_pages.load(Ordering::Relaxed),
            frames_to_pages: self.frames_to_pages.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn session_opened(&self) {
        self.sessions.fetch_add(1, Ordering::Relaxed);
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn session_closed(&self) {
        self.sessions.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn relay_opened(&self) {
        self.relays.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn relay_closed(&self) {
        self.relays.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn watcher_opened(&self) {
        self.watchers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn watcher_closed(&self) {
        self.watchers.fetch_sub(1, Ordering::Relaxed);
    }

    /// `bytes` more are queued for a page; its session now holds `session`.
    pub(crate) fn queued_to_page(&self, bytes: usize, session: usize) {
        self.queued_to_page.fetch_add(bytes, Ordering::Relaxed);
        self.peak_session_queued_to_page
            .fetch_max(session, Ordering::Relaxed);
    }

    pub(crate) fn sent_to_page(&self, bytes: usize) {
        self.queued_to_page.fetch_sub(bytes, Ordering::Relaxed);
    }

    pub(crate) fn queued_to_sockets(&self, bytes: usize) {
        self.queued_to_sockets.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn written_to_socket(&self, bytes: usize) {
        self.queued_to_sockets.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// A page was written `messages` messages in `frames` frames.
    pub(crate) fn written_to_page(&self, messages: usize, frames: usize) {
        self.messages_to_pages
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.frames_to_pages
            .fetch_add(frames as u64, Ordering::Relaxed);
    }

    pub(crate) fn dropped_events(&self, count: u64) {
        self.dropped_events.fetch_add(count, Ordering::Relaxed);
    }
}
