//! The recorded trace: every [`TraceEvent`] the bridge sent, in order,
//! with what the views need worked out once, when the event arrives.
//!
//! Two jobs make this more than a `Vec`:
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
/// followed for arrows (past that, arrows of older ones may be missed).
const MAX_CONNS: usize = 256;

/// One event of the trace and what the views derive from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in this page's trace since it was opened (never reused,
    /// even after clearing): the key of its log row and diagram row.
    pub seq: u64,
    pub event: TraceEvent,
    /// Microseconds since the previous event, if there was one.
    pub since_prev_us: Option<u64>,
    /// The events whose arrows end here: the `send`s whose bytes this
    /// `recv` returned, the `connect` this `accept` answered, the
    /// `close`/`shutdown` this end-of-file reports.
    pub links: Vec<Link>,
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

/// The trace: events in arrival order, capped at a maximum length.
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

    /// Appends an event, working out its arrows; returns its `seq`.
    pub fn push(&mut self, event: TraceEvent) -> u64 {
        let seq = self.next_seq();
        let since_prev_us = self
            .last()
            .map(|prev| event.at_us.saturating_sub(prev.event.at_us));
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
            event,
            since_prev_us,
            links,
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
    /// Adds an arrow ending at an event already stored: the entry is
    /// replaced (entries never change in place, so views holding the old
    /// one stay consistent), which costs copying its chunk at most.
    fn link_earlier(&mut self, target: u64, link: Link) {
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
            entry.links.push(link);
            entry.links.sort_by_key(|l| l.seq);
            *slot = Rc::new(entry);
        }
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
    text.to_lowercase()
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
        if self.by_conn.len() >= MAX_CONNS && !self.by_conn.contains_key(&conn) {
            self.by_conn.clear();
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
    /// a recv (or accept, or end-of-file) that arrives before the event
    /// that caused it still gets its arrow, judged by the bridge's clock.
    #[test]
    fn late_senders_still_draw_their_arrows() {
        let mut trace = Trace::with_cap(1000);
        let r = trace.push(event(20, Lane::Client, 1, recv("hello")));
        let s1 = trace.push(event(10, Lane::Server, 1, send("hel")));
        let s2 = trace.push(event(11, Lane::Server, 1, send("lo")));
        assert_eq!(seqs(trace.get(r)), vec![s1, s2]);
        assert!(trace.get(s1).unwrap().links.is_empty());

        // A send stamped after the read cannot explain it.
        let old = trace.push(event(30, Lane::Client, 1, recv("x")));
        trace.push(event(40, Lane::Server, 1, send("x")));
        assert!(seqs(trace.get(old)).is_empty());
        let r2 = trace.push(event(50, Lane::Client, 1, recv("x")));
        assert_eq!(trace.get(r2).unwrap().links.len(), 1);

        let accept = trace.push(event(
            61,
            Lane::Server,
            2,
            Step::Accept {
                peer: "127.0.0.1:1".into(),
                local: "127.0.0.1:9".into(),
            },
        ));
        let connect = trace.push(event(
            60,
            Lane::Client,
            2,
            Step::Connect {
                target: "127.0.0.1:9".into(),
            },
        ));
        assert_eq!(seqs(trace.get(accept)), vec![connect]);
        let eof = trace.push(event(71, Lane::Server, 2, Step::RecvEof));
        let close = trace.push(event(70, Lane::Client, 2, Step::Close));
        assert_eq!(seqs(trace.get(eof)), vec![close]);
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
