//! The recorded trace: every [`TraceEvent`] the bridge sent, in the order
//! of the bridge's clock, with what the views need worked out once, when
//! the event arrives.
//!
//! Three jobs make this more than a `Vec`:
//!
//! - **The bridge's order, not arrival order.** The server lane reaches
//!   the page through a forwarding task of the bridge, so a client's
//!   `recv() -> 0 bytes` can arrive before the server's `close()` that
//!   caused it. Each event is put in its place by `at_us` (searching from
//!   the end: events arrive nearly sorted), so the log and the diagram
//!   read top to bottom as things happened, and arrows point down.
//!
//! - **Cheap appends to a long trace.** Each state change in yew makes a new
//!   state value while the views may still hold the old one, so a plain
//!   `Rc<Vec<_>>` would be copied whole on every append. [`Trace`] keeps
//!   events in chunks of [`CHUNK`]; only the last, unfinished chunk is copied,
//!   and full chunks are shared between old and new states.
//! - **Arrows.** A `recv()` on the server lane ends the arrow from the
//!   client's `send()`. TCP is a byte stream, so the match is by bytes, not
//!   by message: two sends may arrive as one recv (two arrows end there),
//!   and one send may arrive in two recvs. [`Flows`] keeps, per connection
//!   and direction, the sends whose bytes have not been read yet.

use protocol::{ConnId, Lane, Step, TraceEvent};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// Events per chunk of storage.
pub const CHUNK: usize = 256;

/// At most this many unread sends remembered per direction of a connection
/// (a server that never reads must not grow the page without bound).
const MAX_PENDING: usize = 1024;

/// At most this many connections listed in the connection filter, and
/// followed for arrows (past that, the oldest connection is forgotten).
const MAX_CONNS: usize = 256;

/// How far back (in events) a late event can still be put in its place.
/// An event later than this is appended where it arrived; the bridge's
/// lanes are never that far apart in practice (a few events at most).
const REORDER_DEPTH: usize = 64;

/// One event of the trace and what the views derive from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in this page's trace since it was opened (never reused,
    /// even after clearing): the key of its log row and diagram row.
    pub seq: u64,
    pub event: TraceEvent,
    /// Microseconds since the previous event, if there was one.
    pub since_prev_us: Option<u64>,
    /// Microseconds since the trace's first event (what the page shows:
    /// the bridge's own clock counts from when it started).
    pub since_start_us: u64,
    /// The events whose arrows end here: the `send`s whose bytes this
    /// `recv` returned, the `connect` this `accept` answered, the
    /// `close`/`shutdown` this end-of-file reports.
    pub links: Vec<Link>,
    /// Earlier entries this one added a link to (a read that arrived
    /// before this send): undone if this entry has to move.
    linked_earlier: Vec<u64>,
    /// Lower-case text the search box matches against.
    search_text: String,
}

impl Entry {
    /// True when this event's text (label, payload as text and hex,
    /// message) contains `needle`, which must already be lower case.
    pub fn matches_search(&self, needle: &str) -> bool {
        needle.is_empty() || self.search_text.contains(needle)
    }
}

/// The start of an arrow: an earlier event and its call, kept here so the
/// arrow can be named even when that event is out of view or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    /// `Step::name()` of that event (`send`, `connect`, `shutdown`, ...).
    pub call: &'static str,
}

/// The trace: events in the order of the bridge's clock, capped at a
/// maximum length.
#[derive(Debug, Clone)]
pub struct Trace {
    chunks: Rc<Vec<Rc<Vec<Rc<Entry>>>>>,
    len: usize,
    /// `seq` of the oldest stored event.
    first_seq: u64,
    /// Events dropped from the front to respect `cap`.
    dropped: u64,
    cap: usize,
    /// Shared like the chunks: a state change that is not an append (a
    /// click, a filter) copies a pointer, not every unread send.
    flows: Rc<Flows>,
    /// Connection ids seen, for the connection filter.
    conns: Rc<Vec<ConnId>>,
    /// The bridge's time of the first event: times are shown from here.
    start_us: Option<u64>,
    /// For each of the newest events (at most [`REORDER_DEPTH`]), the
    /// arrow bookkeeping and the number of connections as they were just
    /// before it: a late event goes in before them, and they are added
    /// again after it.
    before: Rc<VecDeque<(Rc<Flows>, usize)>>,
}

impl PartialEq for Trace {
    /// Two traces are equal when they share storage: every change makes new
    /// storage, so this is exact and costs nothing.
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.chunks, &other.chunks) && self.first_seq == other.first_seq
    }
}

impl Trace {
    /// An empty trace keeping at most `cap` events (rounded up to whole
    /// chunks: the oldest chunk goes when the cap is passed).
    pub fn with_cap(cap: usize) -> Trace {
        Trace {
            chunks: Rc::new(Vec::new()),
            len: 0,
            first_seq: 0,
            dropped: 0,
            cap: cap.max(CHUNK),
            flows: Rc::default(),
            conns: Rc::default(),
            start_us: None,
            before: Rc::default(),
        }
    }

    /// An empty trace that continues numbering after this one.
    pub fn cleared(&self) -> Trace {
        Trace {
            first_seq: self.next_seq(),
            ..Trace::with_cap(self.cap)
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many old events were dropped to stay under the cap.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The most events kept.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The `seq` the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.len as u64
    }

    /// `seq` of the oldest stored event.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// The event with this `seq`, if it is still stored.
    pub fn get(&self, seq: u64) -> Option<&Rc<Entry>> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    /// The newest event.
    pub fn last(&self) -> Option<&Rc<Entry>> {
        self.chunks.last().and_then(|c| c.last())
    }

    /// All stored events, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Rc<Entry>> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// The events a view draws: those `keep` accepts, oldest first, from
    /// before `end` (exclusive), the newest ones or, when `around` is
    /// given, those around that event.
    ///
    /// The window is a range of `seq`s whose edges snap to blocks of
    /// `size / 4`, so it holds between `size` and `size + size / 4` events
    /// and its first event changes only once per block. Appending an event
    /// or stepping to the next one then adds one row and moves none: a long
    /// trace costs no more to draw than a short one. When a filter leaves
    /// few events in the range, the range grows back in time until it has
    /// `size / 2` of them (or reaches the start).
    pub fn window(
        &self,
        keep: impl Fn(&Entry) -> bool,
        end: u64,
        around: Option<u64>,
        size: usize,
    ) -> Vec<&Rc<Entry>> {
        let first = self.first_seq;
        let end = end.min(self.next_seq());
        if end <= first || size == 0 {
            return Vec::new();
        }
        let size = size as u64;
        let block = (size / 4).max(1);
        let hi = match around.filter(|a| (first..end).contains(a)) {
            Some(at) => ((at + size / 2) / block + 1) * block,
            None => end,
        }
        .min(end);
        let mut lo = (hi.saturating_sub(size) / block * block).max(first);
        let kept = |seq: u64| self.get(seq).filter(|e| keep(e));
        let mut shown: Vec<&Rc<Entry>> = (lo..hi).filter_map(kept).collect();
        while (shown.len() as u64) < size / 2 && lo > first {
            let span = (hi - lo) * 2;
            let older = (hi.saturating_sub(span) / block * block).max(first);
            let mut more: Vec<&Rc<Entry>> = (older..lo).filter_map(kept).collect();
            more.append(&mut shown);
            shown = more;
            lo = older;
        }
        if shown.len() as u64 > size + block {
            shown.drain(..shown.len() - (size + block) as usize);
        }
        shown
    }

    /// The page's connections that appear in the trace, in order.
    pub fn conns(&self) -> &[ConnId] {
        &self.conns
    }

    /// The bridge's time of the trace's first event, if there is one.
    pub fn start_us(&self) -> Option<u64> {
        self.start_us
    }

    /// Adds an event in its place by the bridge's clock (after every event
    /// stamped at the same time or earlier), working out its arrows;
    /// returns its `seq`. Events after that place move down one `seq`.
    pub fn push(&mut self, event: TraceEvent) -> u64 {
        let at = event.at_us;
        // Searching from the end: nearly always the event goes last.
        let later = self
            .iter()
            .rev()
            .take(self.before.len() + 1)
            .take_while(|e| e.event.at_us > at)
            .count();
        if later == 0 || later > self.before.len() {
            return self.append(event);
        }
        // Take the later events off, add this one, and add them again:
        // their arrows are worked out anew, in the right order.
        let keep = self.len - later;
        let moved: Vec<Rc<Entry>> = self.iter().skip(keep).cloned().collect();
        let first_moved = self.first_seq + keep as u64;
        for entry in &moved {
            for &target in &entry.linked_earlier {
                if target < first_moved {
                    self.unlink_earlier(target, entry.seq);
                }
            }
        }
        let before = Rc::make_mut(&mut self.before);
        let (flows, conns) = before[before.len() - later].clone();
        before.truncate(before.len() - later);
        self.flows = flows;
        Rc::make_mut(&mut self.conns).truncate(conns);
        self.truncate(keep);
        if self.is_empty() && self.dropped == 0 {
            // It is the trace's new first event: times count from it.
            self.start_us = None;
        }
        let seq = self.append(event);
        for entry in moved {
            let Entry { event, .. } = Rc::unwrap_or_clone(entry);
            self.append(event);
        }
        seq
    }

    /// Keeps the first `keep` stored events.
    fn truncate(&mut self, keep: usize) {
        let chunks = Rc::make_mut(&mut self.chunks);
        while self.len > keep {
            let Some(last) = chunks.last_mut() else {
                break;
            };
            let extra = (self.len - keep).min(last.len());
            let left = last.len() - extra;
            if left == 0 {
                chunks.pop();
            } else {
                Rc::make_mut(last).truncate(left);
            }
            self.len -= extra;
        }
    }

    /// Adds an event at the end, working out its arrows; returns its `seq`.
    fn append(&mut self, event: TraceEvent) -> u64 {
        let seq = self.next_seq();
        let since_prev_us = self
            .last()
            .map(|prev| event.at_us.saturating_sub(prev.event.at_us));
        let start = *self.start_us.get_or_insert(event.at_us);
        let before = Rc::make_mut(&mut self.before);
        if before.len() == REORDER_DEPTH {
            before.pop_front();
        }
        before.push_back((self.flows.clone(), self.conns.len()));
        let Matches {
            here: links,
            earlier,
        } = Rc::make_mut(&mut self.flows).observe(seq, &event);
        if let Some(conn) = event.conn
            && self.conns.len() < MAX_CONNS
            && !self.conns.contains(&conn)
        {
            Rc::make_mut(&mut self.conns).push(conn);
        }
        let entry = Rc::new(Entry {
            seq,
            search_text: search_text(&event),
            since_start_us: event.at_us.saturating_sub(start),
            event,
            since_prev_us,
            links,
            linked_earlier: earlier.iter().map(|(target, _)| *target).collect(),
        });
        let chunks = Rc::make_mut(&mut self.chunks);
        match chunks.last_mut() {
            Some(last) if last.len() < CHUNK => Rc::make_mut(last).push(entry),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(entry);
                chunks.push(Rc::new(chunk));
            }
        }
        self.len += 1;
        if self.len > self.cap {
            let oldest = chunks.remove(0);
            self.len -= oldest.len();
            self.first_seq += oldest.len() as u64;
            self.dropped += oldest.len() as u64;
        }
        for (target, link) in earlier {
            self.link_earlier(target, link);
        }
        seq
    }
}

impl Trace {
    /// Removes the arrows from `from` that end at the stored event `target`.
    fn unlink_earlier(&mut self, target: u64, from: u64) {
        self.replace_entry(target, |entry| entry.links.retain(|l| l.seq != from));
    }

    /// Replaces the stored event `target` by a changed copy.
    fn replace_entry(&mut self, target: u64, change: impl FnOnce(&mut Entry)) {
        let Some(index) = target
            .checked_sub(self.first_seq)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        let Some(chunk) = Rc::make_mut(&mut self.chunks).get_mut(index / CHUNK) else {
            return;
        };
        if let Some(slot) = Rc::make_mut(chunk).get_mut(index % CHUNK) {
            let mut entry = (**slot).clone();
            change(&mut entry);
            *slot = Rc::new(entry);
        }
    }

    /// Adds an arrow ending at an event already stored: the entry is
    /// replaced (entries never change in place, so views holding the old
    /// one stay consistent), which costs copying its chunk at most.
    fn link_earlier(&mut self, target: u64, link: Link) {
        self.replace_entry(target, |entry| {
            entry.links.push(link);
            entry.links.sort_by_key(|l| l.seq);
        });
    }
}

/// What the search box looks in, lower-cased once.
fn search_text(event: &TraceEvent) -> String {
    let mut text = event.step.label();
    if let Some(data) = event.step.data() {
        text.push(' ');
        text.push_str(&data.to_escaped_text());
        text.push(' ');
        text.push_str(&data.to_spaced_hex());
    }
    if let Step::Error { message, .. } = &event.step {
        text.push(' ');
        text.push_str(message);
    }
    crate::browser::lowercase(&text)
}

/// What [`Flows::observe`] found for a new event.
#[derive(Debug, Default)]
struct Matches {
    /// Arrows that end at the new event.
    here: Vec<Link>,
    /// Arrows from the new event to events that arrived before it (the
    /// bridge reports the two sides from different tasks, so a `recv`
    /// can reach the page before the `send` it read).
    earlier: Vec<(u64, Link)>,
}

/// Sends not yet matched to the reads that received them, per connection.
/// Each connection's part is shared too: an append copies the map of
/// pointers and the one connection it touches.
#[derive(Debug, Clone, Default)]
struct Flows {
    by_conn: HashMap<ConnId, Rc<ConnFlows>>,
    /// The connections in `by_conn`, oldest first: past [`MAX_CONNS`] the
    /// oldest is forgotten (never all of them: that would untag the
    /// connections still open).
    order: VecDeque<ConnId>,
}

/// The two directions of one connection.
#[derive(Debug, Clone, Default)]
struct ConnFlows {
    /// The client's `connect` waiting for the server's `accept`.
    connect: Option<Link>,
    /// An `accept` that arrived before its `connect`: `(seq, at_us)`.
    early_accept: Option<(u64, u64)>,
    /// Client to server.
    up: Direction,
    /// Server to client.
    down: Direction,
}

/// One direction of a connection.
#[derive(Debug, Clone, Default)]
struct Direction {
    /// Sends whose bytes are not all read yet, with the bytes left.
    unread: VecDeque<(Link, usize)>,
    /// Reads that arrived before their sends: `(seq, at_us, bytes left)`.
    early: VecDeque<(u64, u64, usize)>,
    /// The `shutdown`/`close` that will show up as end-of-file.
    fin: Option<Link>,
    /// An end-of-file that arrived before its `shutdown`/`close`.
    early_eof: Option<(u64, u64)>,
}

impl Direction {
    /// A send of `len` bytes at `at_us`: first it answers reads that came
    /// early (only those stamped after it: a read cannot come before its
    /// send on the bridge's clock), the rest waits for reads.
    fn sent(&mut self, link: Link, at_us: u64, mut len: usize, datagram: bool) -> Vec<(u64, Link)> {
        let mut earlier = Vec::new();
        self.early.retain(|&(_, read_at, _)| read_at >= at_us);
        while len > 0 || datagram {
            let Some((seq, _, left)) = self.early.front_mut() else {
                break;
            };
            earlier.push((*seq, link));
            if datagram {
                self.early.pop_front();
                return earlier;
            }
            let taken = len.min(*left);
            *left -= taken;
            len -= taken;
            if *left == 0 {
                self.early.pop_front();
            }
        }
        if len > 0 || (datagram && earlier.is_empty()) {
            if self.unread.len() == MAX_PENDING {
                self.unread.pop_front();
            }
            self.unread.push_back((link, len));
        }
        earlier
    }

    /// A read of `len` bytes: the sends it consumed, oldest first. Bytes
    /// no send accounts for yet wait for a send that arrives late.
    fn read(&mut self, seq: u64, at_us: u64, mut len: usize, datagram: bool) -> Vec<Link> {
        let mut from = Vec::new();
        if datagram {
            if let Some((link, _)) = self.unread.pop_front() {
                from.push(link);
            }
        } else {
            while len > 0 {
                let Some((link, left)) = self.unread.front_mut() else {
                    break;
                };
                from.push(*link);
                let taken = len.min(*left);
                *left -= taken;
                len -= taken;
                if *left == 0 {
                    self.unread.pop_front();
                }
            }
        }
        let unexplained = if datagram { from.is_empty() } else { len > 0 };
        if unexplained {
            if self.early.len() == MAX_PENDING {
                self.early.pop_front();
            }
            self.early.push_back((seq, at_us, len));
        }
        from
    }
}

impl Flows {
    /// Records `event` and returns the arrows it starts or ends.
    fn observe(&mut self, seq: u64, event: &TraceEvent) -> Matches {
        let mut found = Matches::default();
        let Some(conn) = event.conn else {
            return found;
        };
        let me = Link {
            seq,
            call: event.step.name(),
        };
        let at = event.at_us;
        if !self.by_conn.contains_key(&conn) {
            if self.by_conn.len() >= MAX_CONNS
                && let Some(oldest) = self.order.pop_front()
            {
                self.by_conn.remove(&oldest);
            }
            self.order.push_back(conn);
        }
        let flows = Rc::make_mut(self.by_conn.entry(conn).or_default());
        match (&event.step, event.lane) {
            (Step::Connect { .. }, Lane::Client) => {
                // A new connect on this id starts afresh.
                let early = flows.early_accept.take();
                *flows = ConnFlows::default();
                match early {
                    Some((accept, accept_at)) if accept_at >= at => {
                        found.earlier.push((accept, me));
                    }
                    _ => flows.connect = Some(me),
                }
                return found;
            }
            (Step::Accept { .. }, _) => {
                match flows.connect.take() {
                    Some(link) => found.here.push(link),
                    None => flows.early_accept = Some((seq, at)),
                }
                return found;
            }
            _ => {}
        }
        let (mine, theirs) = match event.lane {
            Lane::Client => (&mut flows.up, &mut flows.down),
            Lane::Server => (&mut flows.down, &mut flows.up),
        };
        match &event.step {
            Step::Send { data } => found.earlier = mine.sent(me, at, data.len(), false),
            Step::SendTo { data, .. } => found.earlier = mine.sent(me, at, data.len(), true),
            Step::Recv { data } => found.here = theirs.read(seq, at, data.len(), false),
            Step::RecvFrom { data, .. } => found.here = theirs.read(seq, at, data.len(), true),
            Step::Shutdown | Step::Close => match mine.early_eof.take() {
                Some((eof, eof_at)) if eof_at >= at => found.earlier.push((eof, me)),
                _ => {
                    mine.fin.get_or_insert(me);
                }
            },
            Step::RecvEof => match theirs.fin.take() {
                Some(link) => found.here.push(link),
                None => theirs.early_eof = Some((seq, at)),
            },
            _ => {}
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Bytes;

    pub(crate) fn event(at_us: u64, lane: Lane, conn: u32, step: Step) -> TraceEvent {
        TraceEvent {
            at_us,
            lane,
            server: Some(1),
            conn: Some(conn),
            server_conn: None,
            source: None,
            step,
        }
    }

    fn seqs(entry: Option<&Rc<Entry>>) -> Vec<u64> {
        entry.unwrap().links.iter().map(|l| l.seq).collect()
    }

    fn send(text: &str) -> Step {
        Step::Send {
            data: Bytes(text.as_bytes().to_vec()),
        }
    }

    fn recv(text: &str) -> Step {
        Step::Recv {
            data: Bytes(text.as_bytes().to_vec()),
        }
    }

    /// Two sends that arrive as one recv both draw an arrow to it, and a
    /// send read in two pieces draws an arrow to each piece.
    #[test]
    fn bytes_are_matched_as_a_stream() {
        let mut trace = Trace::with_cap(1000);
        let a = trace.push(event(1, Lane::Client, 1, send("hel")));
        let b = trace.push(event(2, Lane::Client, 1, send("lo")));
        let r = trace.push(event(3, Lane::Server, 1, recv("hello")));
        assert_eq!(seqs(trace.get(r)), vec![a, b]);

        let c = trace.push(event(4, Lane::Server, 1, send("abcd")));
        let r1 = trace.push(event(5, Lane::Client, 1, recv("ab")));
        let r2 = trace.push(event(6, Lane::Client, 1, recv("cd")));
        assert_eq!(seqs(trace.get(r1)), vec![c]);
        assert_eq!(seqs(trace.get(r2)), vec![c]);
        assert_eq!(trace.get(r2).unwrap().links[0].call, "send");
        assert_eq!(trace.get(r2).unwrap().since_prev_us, Some(1));
    }

    /// connect() is answered by accept(), close() by the peer's EOF, and
    /// connections do not mix.
    #[test]
    fn handshakes_and_closes_are_matched_per_connection() {
        let mut trace = Trace::with_cap(1000);
        let c1 = trace.push(event(
            1,
            Lane::Client,
            1,
            Step::Connect {
                target: "127.0.0.1:9".into(),
            },
        ));
        let c2 = trace.push(event(
            2,
            Lane::Client,
            2,
            Step::Connect {
                target: "127.0.0.1:9".into(),
            },
        ));
        let accept = |peer: &str| Step::Accept {
            peer: peer.into(),
            local: "127.0.0.1:9".into(),
        };
        let a2 = trace.push(event(3, Lane::Server, 2, accept("127.0.0.1:2")));
        let a1 = trace.push(event(4, Lane::Server, 1, accept("127.0.0.1:1")));
        assert_eq!(seqs(trace.get(a2)), vec![c2]);
        assert_eq!(seqs(trace.get(a1)), vec![c1]);
        assert_eq!(trace.get(a1).unwrap().links[0].call, "connect");

        let close = trace.push(event(5, Lane::Client, 1, Step::Shutdown));
        trace.push(event(6, Lane::Client, 1, Step::Close));
        let eof = trace.push(event(7, Lane::Server, 1, Step::RecvEof));
        assert_eq!(seqs(trace.get(eof)), vec![close]);
        assert_eq!(trace.get(eof).unwrap().links[0].call, "shutdown");
        let stray = trace.push(event(8, Lane::Server, 2, Step::RecvEof));
        assert!(trace.get(stray).unwrap().links.is_empty());
    }

    /// The two sides reach the page from different tasks of the bridge:
    /// an event that arrives after later ones goes in before them, by the
    /// bridge's clock, and the arrows are worked out in that order.
    #[test]
    fn late_events_go_in_their_place() {
        let mut trace = Trace::with_cap(1000);
        trace.push(event(20, Lane::Client, 1, recv("hello")));
        trace.push(event(10, Lane::Server, 1, send("hel")));
        trace.push(event(11, Lane::Server, 1, send("lo")));
        let order: Vec<u64> = trace.iter().map(|e| e.event.at_us).collect();
        assert_eq!(order, vec![10, 11, 20]);
        let seqs_in_order: Vec<u64> = trace.iter().map(|e| e.seq).collect();
        assert_eq!(seqs_in_order, vec![0, 1, 2]);
        assert_eq!(seqs(trace.get(2)), vec![0, 1]);
        assert!(trace.get(0).unwrap().links.is_empty());
        assert_eq!(trace.get(2).unwrap().since_prev_us, Some(9));
        assert_eq!(trace.get(2).unwrap().since_start_us, 10);

        // A close that arrives after the end-of-file it caused.
        let eof = event(71, Lane::Client, 2, Step::RecvEof);
        trace.push(event(
            60,
            Lane::Client,
            2,
            Step::Connect {
                target: "127.0.0.1:9".into(),
            },
        ));
        trace.push(eof);
        trace.push(event(70, Lane::Server, 2, Step::Close));
        let last: Vec<(u64, &str)> = trace
            .iter()
            .skip(3)
            .map(|e| (e.event.at_us, e.event.step.name()))
            .collect();
        assert_eq!(last, vec![(60, "connect"), (70, "close"), (71, "recv_eof")]);
        assert_eq!(seqs(trace.get(5)), vec![4]);
        assert_eq!(trace.get(5).unwrap().links[0].call, "close");
    }

    /// In the same microsecond, a read that arrived before its send still
    /// gets its arrow (drawn across); moving events undoes and redoes such
    /// arrows without leaving stale ones.
    #[test]
    fn same_instant_reads_still_draw_their_arrows() {
        let mut trace = Trace::with_cap(1000);
        let r = trace.push(event(20, Lane::Client, 1, recv("hello")));
        let s = trace.push(event(20, Lane::Server, 1, send("hello")));
        assert_eq!(seqs(trace.get(r)), vec![s]);
        // A later-arriving earlier event moves the send (and re-links it).
        trace.push(event(15, Lane::Server, 2, Step::Listen { backlog: 5 }));
        let recv = trace
            .iter()
            .find(|e| e.event.step.name() == "recv")
            .unwrap();
        let send_seq = trace
            .iter()
            .find(|e| e.event.step.name() == "send")
            .unwrap()
            .seq;
        assert_eq!(seqs(Some(recv)), vec![send_seq]);
    }

    /// Past the connection cap the oldest connection is forgotten, never
    /// all of them: the newest ones keep their arrows.
    #[test]
    fn the_connection_cap_forgets_the_oldest() {
        let mut trace = Trace::with_cap(100_000);
        let mut at = 0;
        for conn in 0..(MAX_CONNS as u32 + 5) {
            at += 1;
            trace.push(event(at, Lane::Client, conn, send("x")));
        }
        // A live connection from before the cap was passed still matches.
        at += 1;
        let r = trace.push(event(at, Lane::Server, MAX_CONNS as u32, recv("x")));
        assert_eq!(trace.get(r).unwrap().links.len(), 1);
        assert!(trace.flows.by_conn.len() <= MAX_CONNS);
        assert!(!trace.flows.by_conn.contains_key(&0));
    }

    /// The oldest events go once the cap is passed, a chunk at a time, and
    /// what is left is still found by its seq.
    #[test]
    fn the_cap_drops_the_oldest_events() {
        let mut trace = Trace::with_cap(CHUNK * 2);
        for i in 0..(CHUNK * 2 + 10) as u64 {
            trace.push(event(i, Lane::Client, 1, send("x")));
        }
        assert_eq!(trace.len(), CHUNK + 10);
        assert_eq!(trace.dropped(), CHUNK as u64);
        assert_eq!(trace.first_seq(), CHUNK as u64);
        assert!(trace.get(0).is_none());
        assert_eq!(
            trace.get(CHUNK as u64 + 3).unwrap().event.at_us,
            CHUNK as u64 + 3
        );
        assert_eq!(trace.iter().count(), trace.len());
        assert_eq!(trace.last().unwrap().seq, trace.next_seq() - 1);
    }

    /// Appending to a trace another state still holds leaves that one as
    /// it was and shares the full chunks.
    #[test]
    fn appends_share_full_chunks() {
        let mut trace = Trace::with_cap(100_000);
        for i in 0..(CHUNK as u64 + 1) {
            trace.push(event(i, Lane::Client, 1, send("x")));
        }
        let before = trace.clone();
        trace.push(event(999, Lane::Client, 1, send("y")));
        assert_eq!(before.len(), CHUNK + 1);
        assert_eq!(trace.len(), CHUNK + 2);
        assert!(Rc::ptr_eq(&before.chunks[0], &trace.chunks[0]));
        assert_ne!(before, trace);
        // A copy that is not appended to shares the arrow bookkeeping.
        let copy = trace.clone();
        assert!(Rc::ptr_eq(&copy.flows, &trace.flows));
    }

    /// The window holds the newest events, or those around the selected
    /// one, and stops at the replay cursor.
    #[test]
    fn windows_follow_the_selection() {
        let mut trace = Trace::with_cap(1000);
        for i in 0..100 {
            trace.push(event(i, Lane::Client, (i % 2) as u32, send("x")));
        }
        let seqs = |w: Vec<&Rc<Entry>>| w.iter().map(|e| e.seq).collect::<Vec<_>>();
        // The newest: 8 to 10 events, starting at a block edge.
        assert_eq!(
            seqs(trace.window(|_| true, u64::MAX, None, 8)),
            (92..100).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(trace.window(|_| true, 51, None, 8)),
            (42..51).collect::<Vec<_>>()
        );
        // Appending does not move the first row until a block fills.
        assert_eq!(trace.window(|_| true, 52, None, 8)[0].seq, 44);
        assert_eq!(trace.window(|_| true, 53, None, 8)[0].seq, 44);
        // Around a selection, which stays in view near the middle.
        let around = seqs(trace.window(|_| true, u64::MAX, Some(10), 8));
        assert_eq!(around, (8..16).collect::<Vec<_>>());
        assert_eq!(seqs(trace.window(|_| true, u64::MAX, Some(11), 8)), around);
        let start = seqs(trace.window(|_| true, u64::MAX, Some(0), 8));
        assert_eq!(start, (0..6).collect::<Vec<_>>());
        let end = seqs(trace.window(|_| true, u64::MAX, Some(99), 8));
        assert_eq!(end, (92..100).collect::<Vec<_>>());
        // A filter that keeps few events reaches back for more.
        let odd = |e: &Entry| e.event.conn == Some(1) && e.seq < 20;
        let sparse = seqs(trace.window(odd, u64::MAX, None, 8));
        assert_eq!(sparse, vec![1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
        assert!(trace.window(|_| true, 0, None, 8).is_empty());
        assert_eq!(trace.conns(), &[0, 1]);
    }

    #[test]
    fn search_looks_in_text_hex_and_labels() {
        let mut trace = Trace::with_cap(1000);
        let seq = trace.push(event(1, Lane::Client, 1, send("Hello\n")));
        let entry = trace.get(seq).unwrap();
        assert!(entry.matches_search("hello\\n"));
        assert!(entry.matches_search("48 65"));
        assert!(entry.matches_search("send()"));
        assert!(!entry.matches_search("recv"));
    }
}
