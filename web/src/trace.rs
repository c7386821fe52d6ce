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
    pub links: Vec<u64>,
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
    flows: Flows,
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
            flows: Flows::default(),
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

    /// Appends an event, working out its arrows; returns its `seq`.
    pub fn push(&mut self, event: TraceEvent) -> u64 {
        let seq = self.next_seq();
        let since_prev_us = self
            .last()
            .map(|prev| event.at_us.saturating_sub(prev.event.at_us));
        let links = self.flows.observe(seq, &event);
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
        seq
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

/// Sends not yet matched to the reads that received them, per connection.
#[derive(Debug, Clone, Default)]
struct Flows {
    by_conn: HashMap<ConnId, ConnFlows>,
}

/// The two directions of one connection.
#[derive(Debug, Clone, Default)]
struct ConnFlows {
    /// The client's `connect` waiting for the server's `accept`.
    connect: Option<u64>,
    /// Client to server.
    up: Direction,
    /// Server to client.
    down: Direction,
}

/// One direction of a connection.
#[derive(Debug, Clone, Default)]
struct Direction {
    /// Sends whose bytes are not all read yet: `(seq, bytes left)`.
    unread: VecDeque<(u64, usize)>,
    /// The `shutdown`/`close` that will show up as end-of-file.
    fin: Option<u64>,
}

impl Direction {
    fn sent(&mut self, seq: u64, len: usize) {
        if self.unread.len() == MAX_PENDING {
            self.unread.pop_front();
        }
        self.unread.push_back((seq, len));
    }

    /// A read of `len` bytes: the sends it consumed, oldest first.
    fn read(&mut self, mut len: usize) -> Vec<u64> {
        let mut from = Vec::new();
        while len > 0 {
            let Some((seq, left)) = self.unread.front_mut() else {
                break;
            };
            from.push(*seq);
            let taken = len.min(*left);
            *left -= taken;
            len -= taken;
            if *left == 0 {
                self.unread.pop_front();
            }
        }
        from
    }

    /// A datagram read: exactly one send, whatever its size.
    fn read_datagram(&mut self) -> Vec<u64> {
        self.unread.pop_front().map(|(seq, _)| seq).into_iter().collect()
    }
}

impl Flows {
    /// Records `event` and returns the events whose arrows end at it.
    fn observe(&mut self, seq: u64, event: &TraceEvent) -> Vec<u64> {
        let Some(conn) = event.conn else {
            return Vec::new();
        };
        let flows = self.by_conn.entry(conn).or_default();
        match (&event.step, event.lane) {
            (Step::Connect { .. }, Lane::Client) => {
                // A new connect on this id starts afresh.
                *flows = ConnFlows {
                    connect: Some(seq),
                    ..ConnFlows::default()
                };
                return Vec::new();
            }
            (Step::Accept { .. }, _) => return flows.connect.take().into_iter().collect(),
            _ => {}
        }
        let (mine, theirs) = match event.lane {
            Lane::Client => (&mut flows.up, &mut flows.down),
            Lane::Server => (&mut flows.down, &mut flows.up),
        };
        match &event.step {
            Step::Send { data } => {
                mine.sent(seq, data.len());
                Vec::new()
            }
            Step::SendTo { data, .. } => {
                mine.sent(seq, data.len());
                Vec::new()
            }
            Step::Recv { data } => theirs.read(data.len()),
            Step::RecvFrom { .. } => theirs.read_datagram(),
            Step::Shutdown | Step::Close => {
                mine.fin.get_or_insert(seq);
                Vec::new()
            }
            Step::RecvEof => theirs.fin.take().into_iter().collect(),
            _ => Vec::new(),
        }
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
            step,
        }
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
        assert_eq!(trace.get(r).unwrap().links, vec![a, b]);

        let c = trace.push(event(4, Lane::Server, 1, send("abcd")));
        let r1 = trace.push(event(5, Lane::Client, 1, recv("ab")));
        let r2 = trace.push(event(6, Lane::Client, 1, recv("cd")));
        assert_eq!(trace.get(r1).unwrap().links, vec![c]);
        assert_eq!(trace.get(r2).unwrap().links, vec![c]);
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
        assert_eq!(trace.get(a2).unwrap().links, vec![c2]);
        assert_eq!(trace.get(a1).unwrap().links, vec![c1]);

        let close = trace.push(event(5, Lane::Client, 1, Step::Shutdown));
        trace.push(event(6, Lane::Client, 1, Step::Close));
        let eof = trace.push(event(7, Lane::Server, 1, Step::RecvEof));
        assert_eq!(trace.get(eof).unwrap().links, vec![close]);
        let stray = trace.push(event(8, Lane::Server, 2, Step::RecvEof));
        assert!(trace.get(stray).unwrap().links.is_empty());
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
        assert_eq!(trace.get(CHUNK as u64 + 3).unwrap().event.at_us, CHUNK as u64 + 3);
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
