//! Routes: a lab server's events, delivered to the one session whose
//! socket made the connection. The one way every lab server's events reach
//! a page: the public server's, shared by a class, and a session's private
//! servers' alike.
//!
//! The public lab server is shared by a whole class. If every session
//! watched all of its events and kept its own, each event would be copied
//! into, and wake, every session: with hundreds of students, the work per
//! event grows with the class, and a busy class slows every page. Instead:
//!
//! 1. Before its client socket connects, a session binds it to an ephemeral
//!    port, so it knows the address the server's `accept()` will report as
//!    the peer. It registers that address in the server's [`RouteTable`]
//!    (through [`Tracer::route`](crate::trace::Tracer::route)), naming its
//!    own queue ([`RouteSink`]) and the page's id for the connection.
//! 2. When `accept()` returns, the server looks the peer up *once* and hands
//!    the connection's task the route it found. Every event of that
//!    connection then goes straight into that one queue, tagged with the
//!    page's connection id: one hash lookup per connection and one push per
//!    event, however many students are connected.
//! 3. The [`RouteGuard`] removes the entry when the client socket closes.
//!
//! A connection nobody registered (a terminal's `nc`, the lab's own
//! `client.py`) has no route. A private server's session sees it all the
//! same: its tracer has a sink for the events no route claims
//! ([`Tracer::with_unrouted`](crate::trace::Tracer::with_unrouted)), which
//! also gets the listening socket's own steps (`socket`, `bind`,
//! `listen`). The public server has none: a stranger's connection is
//! nobody's business but the stranger's.
//!
//! [`Locals`] is the session's own book of its sockets' addresses, for the
//! student's programs: their `accept()` and `recvfrom()` look a peer up
//! there to show one connection id on both lanes. Both maps find a socket
//! by the same rule ([`find_by_addr`]).
//!
//! A lab server never waits for a browser: when a session's queue is full
//! (in events, or in bytes), the event is dropped and counted, and the
//! session's [`RouteReceiver`] reports the gap where it happened, the way a
//! lagging `broadcast` receiver is told how many events it missed.

use protocol::{ConnId, TraceEvent};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc::{self, error::TryRecvError};

/// Creates a session's queue for routed events: at most `max_events`
/// events and `max_bytes` bytes of them (see [`cost`]) wait at once.
pub fn route_queue(max_events: usize, max_bytes: usize) -> (RouteSink, RouteReceiver) {
    let (tx, rx) = mpsc::channel(max_events.max(1));
    let books = Arc::new(Books {
        max_bytes: max_bytes.max(1),
        state: Mutex::new(BookState::default()),
    });
    let sink = RouteSink {
        tx,
        books: books.clone(),
    };
    (sink, RouteReceiver { rx, books })
}

/// What travels through a session's queue.
#[derive(Debug)]
enum Routed {
    /// An event, and the bytes it holds of the queue's budget.
    Event(TraceEvent, usize),
    /// This many events were dropped here, before the next one.
    Gap(u64),
}

/// The sending side of a session's queue, given to the server's routes.
/// Cheap to clone: every connection of a session shares one queue.
#[derive(Debug, Clone)]
pub struct RouteSink {
    /// Bounded in count; `try_send` only, so the server never waits.
    tx: mpsc::Sender<Routed>,
    /// Bytes queued and events dropped, shared with the receiver.
    books: Arc<Books>,
}

/// The bytes a queue holds and the events it dropped.
#[derive(Debug)]
struct Books {
    max_bytes: usize,
    /// A std mutex, held for a few additions and one `try_send`, never
    /// across an `.await`. Holding it while sending makes "the queue is
    /// full, count a drop" one step as far as the receiver can tell, so a
    /// drop can never slip past a receiver that has just found the queue
    /// empty (it would otherwise go unreported until the next event).
    state: Mutex<BookState>,
}

#[derive(Debug, Default)]
struct BookState {
    queued_bytes: usize,
    /// Dropped and not yet reported.
    missed: u64,
}

impl Books {
    fn lock(&self) -> std::sync::MutexGuard<'_, BookState> {
        // Nothing in the critical sections can panic half-way; a poisoned
        // lock still holds consistent numbers.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RouteSink {
    /// Queues `event` if there is room, else drops it and counts the drop.
    /// Never waits.
    pub fn offer(&self, event: TraceEvent) {
        // One event larger than the whole budget still fits an empty queue.
        let cost = cost(&event).min(self.books.max_bytes);
        let mut books = self.books.lock();
        // Events went missing since the last one got through: say so first,
        // so the page sees the gap where it is, not later.
        if books.missed > 0 {
            if self.tx.try_send(Routed::Gap(books.missed)).is_err() {
                books.missed += 1;
                return;
            }
            books.missed = 0;
        }
        if books.queued_bytes + cost > self.books.max_bytes {
            books.missed += 1;
            return;
        }
        match self.tx.try_send(Routed::Event(event, cost)) {
            Ok(()) => books.queued_bytes += cost,
            Err(mpsc::error::TrySendError::Full(_)) => books.missed += 1,
            // The session has gone; nobody is left to tell.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// A session's end of its queue of routed events.
#[derive(Debug)]
pub struct RouteReceiver {
    rx: mpsc::Receiver<Routed>,
    books: Arc<Books>,
}

impl RouteReceiver {
    /// The next event, or `Lagged(n)` where `n` events were dropped because
    /// this queue was full. The same answers as a `broadcast` receiver's, so
    /// a forwarder handles both alike. `Closed` once no route can send.
    pub async fn recv(&mut self) -> Result<TraceEvent, RecvError> {
        let routed = match self.rx.try_recv() {
            Ok(routed) => routed,
            Err(TryRecvError::Empty) => {
                // Everything queued has been delivered. Drops that no later
                // event has marked yet (the last events of a connection,
                // say) belong here, at the end.
                let missed = std::mem::take(&mut self.books.lock().missed);
                if missed > 0 {
                    return Err(RecvError::Lagged(missed));
                }
                self.rx.recv().await.ok_or(RecvError::Closed)?
            }
            Err(TryRecvError::Disconnected) => return Err(RecvError::Closed),
        };
        match routed {
            Routed::Event(event, cost) => {
                let mut books = self.books.lock();
                books.queued_bytes = books.queued_bytes.saturating_sub(cost);
                Ok(event)
            }
            Routed::Gap(missed) => Err(RecvError::Lagged(missed)),
        }
    }
}

/// About how many bytes of memory a queued event holds: its data (a
/// `recv` holds up to the server's `max_read`), any text, and a fixed
/// allowance for the rest. An estimate is enough for a bound.
fn cost(event: &TraceEvent) -> usize {
    const FIXED: usize = 128;
    let text = match &event.step {
        protocol::Step::Print { text } => text.len(),
        protocol::Step::Error { message, .. } => message.len(),
        _ => 0,
    };
    FIXED + text + event.step.data().map_or(0, |data| data.len())
}

/// Where one accepted connection's events go: a session's queue, and the
/// page's id for the connection.
#[derive(Debug, Clone)]
pub struct Route {
    sink: RouteSink,
    conn: ConnId,
}

impl Route {
    /// Tags `event` with the page's connection id and offers it to the
    /// session's queue.
    pub fn deliver(&self, mut event: TraceEvent) {
        event.conn = Some(self.conn);
        self.sink.offer(event);
    }
}

/// A server's routes: the address a client socket connects from -> where
/// that connection's events go. Shared by every clone of the server's
/// tracer.
///
/// Bounded by the sockets that exist: every entry belongs to an open,
/// bound client socket, and its [`RouteGuard`] removes it when that socket
/// closes.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// A std mutex, held for one map operation, never across an `.await`.
    inner: Arc<Mutex<TableInner>>,
}

#[derive(Debug, Default)]
struct TableInner {
    routes: HashMap<SocketAddr, (u64, Route)>,
    /// Numbers each registration, so a guard removes its own entry only,
    /// never a newer one for the same address.
    next_id: u64,
}

impl RouteTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, TableInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Routes the events of a connection from `local` to `sink`, tagged
    /// `conn`, until the guard is dropped.
    pub fn insert(&self, local: SocketAddr, sink: &RouteSink, conn: ConnId) -> RouteGuard {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let route = Route {
            sink: sink.clone(),
            conn,
        };
        inner.routes.insert(local, (id, route));
        RouteGuard {
            table: self.clone(),
            local,
            id,
        }
    }

    /// The route for a connection accepted from `peer`, if a session
    /// registered it (see [`find_by_addr`]).
    pub fn lookup(&self, peer: SocketAddr) -> Option<Route> {
        let inner = self.lock();
        find_by_addr(&inner.routes, peer).map(|(_, route)| route.clone())
    }

    /// How many routes are registered now.
    pub fn len(&self) -> usize {
        self.lock().routes.len()
    }

    /// Whether no route is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes a route when dropped (when its client socket closes).
#[derive(Debug)]
pub struct RouteGuard {
    table: RouteTable,
    local: SocketAddr,
    id: u64,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        if inner
            .routes
            .get(&self.local)
            .is_some_and(|(id, _)| *id == self.id)
        {
            inner.routes.remove(&self.local);
        }
    }
}

/// The entry for the socket a peer saw as `peer`: the one registered with
/// exactly that address, or else one registered on "any address" of the
/// same family with the same port (a socket bound to `0.0.0.0:port`,
/// because its target was not on loopback, learns its IP only when it
/// connects).
pub fn find_by_addr<V>(map: &HashMap<SocketAddr, V>, peer: SocketAddr) -> Option<&V> {
    let any: IpAddr = match peer.ip() {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    map.get(&peer)
        .or_else(|| map.get(&SocketAddr::new(any, peer.port())))
}

/// The local addresses of a session's sockets (the page's client
/// connections and its programs'), so a student's program that accepts
/// one of them, or receives a datagram from one, shows the same connection
/// id on both lanes.
#[derive(Debug, Clone, Default)]
pub struct Locals {
    /// Shared by the session's connection and program tasks. A std mutex:
    /// it is held for a map operation only, never across an `.await`.
    inner: Arc<Mutex<LocalsInner>>,
}

#[derive(Debug, Default)]
struct LocalsInner {
    by_addr: HashMap<SocketAddr, ConnId>,
    /// Insertion order, to forget the oldest past [`Locals::MAX`].
    order: VecDeque<SocketAddr>,
}

impl Locals {
    /// Addresses remembered per session (a program may accept a client
    /// after the client closed, so entries outlive their connection).
    pub const MAX: usize = 256;

    /// Remembers that `conn`'s socket has the address `local`.
    pub fn insert(&self, local: SocketAddr, conn: ConnId) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.by_addr.insert(local, conn).is_none() {
            inner.order.push_back(local);
            if inner.order.len() > Self::MAX
                && let Some(oldest) = inner.order.pop_front()
            {
                inner.by_addr.remove(&oldest);
            }
        }
    }

    /// The connection whose socket has address `peer`, if ours (see
    /// [`find_by_addr`]).
    pub fn lookup(&self, peer: SocketAddr) -> Option<ConnId> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        find_by_addr(&inner.by_addr, peer).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Bytes, Lane, Step};

    fn recv(n: usize) -> TraceEvent {
        TraceEvent {
            at_us: 0,
            lane: Lane::Server,
            server: Some(0),
            conn: None,
            server_conn: Some(1),
            source: None,
            step: Step::Recv {
                data: Bytes(vec![b'x'; n]),
            },
        }
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("a valid literal address")
    }

    /// A full queue drops events instead of waiting, and the receiver is
    /// told how many, at the place they went missing: before the next event
    /// that got through, or at the end if none did.
    #[tokio::test]
    async fn a_full_queue_drops_and_reports_the_gap_where_it_is() {
        let (sink, mut receiver) = route_queue(2, usize::MAX);
        let table = RouteTable::default();
        let _guard = table.insert(addr("127.0.0.1:5000"), &sink, 9);
        let route = table.lookup(addr("127.0.0.1:5000")).expect("registered");
        for _ in 0..5 {
            route.deliver(recv(1));
        }
        let first = receiver.recv().await.expect("queued");
        assert_eq!(first.conn, Some(9), "tagged with the page's id");
        assert!(receiver.recv().await.is_ok());
        // Room again: the gap marker goes first, then the event.
        route.deliver(recv(1));
        assert_eq!(receiver.recv().await, Err(RecvError::Lagged(3)));
        assert!(receiver.recv().await.is_ok());
        // Dropped with nothing after them: reported when the queue is empty.
        route.deliver(recv(1));
        route.deliver(recv(1));
        route.deliver(recv(1));
        assert!(receiver.recv().await.is_ok());
        assert!(receiver.recv().await.is_ok());
        assert_eq!(receiver.recv().await, Err(RecvError::Lagged(1)));
    }

    /// The byte budget bounds the queue too: big events are dropped once it
    /// is spent, and one event larger than the whole budget still fits an
    /// empty queue.
    #[tokio::test]
    async fn the_byte_budget_bounds_the_queue() {
        let (sink, mut receiver) = route_queue(100, 1000);
        let table = RouteTable::default();
        let _guard = table.insert(addr("127.0.0.1:5000"), &sink, 1);
        let route = table.lookup(addr("127.0.0.1:5000")).expect("registered");
        route.deliver(recv(5000));
        route.deliver(recv(1));
        assert!(receiver.recv().await.is_ok());
        assert_eq!(receiver.recv().await, Err(RecvError::Lagged(1)));
    }

    /// A guard removes its own route only; a socket bound to any address is
    /// found by its port.
    #[test]
    fn guards_remove_their_own_route_and_any_address_matches_by_port() {
        let (sink, _receiver) = route_queue(1, 1);
        let table = RouteTable::default();
        let old = table.insert(addr("127.0.0.1:5000"), &sink, 1);
        let new = table.insert(addr("127.0.0.1:5000"), &sink, 2);
        drop(old);
        assert_eq!(table.len(), 1, "the newer route stays");
        drop(new);
        assert!(table.is_empty());
        let _any = table.insert(addr("0.0.0.0:6000"), &sink, 3);
        assert!(table.lookup(addr("192.0.2.7:6000")).is_some());
        assert!(table.lookup(addr("192.0.2.7:6001")).is_none());
        assert!(table.lookup(addr("[::1]:6000")).is_none(), "other family");
    }

    /// A session's book of its sockets forgets its oldest entry at the
    /// cap, one at a time: the newest connections keep their ids.
    #[test]
    fn locals_forget_the_oldest_never_everything() {
        let locals = Locals::default();
        let port = |i: usize| SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16));
        for i in 0..=Locals::MAX {
            locals.insert(port(i), i as ConnId);
        }
        assert_eq!(locals.lookup(port(0)), None, "the oldest is forgotten");
        assert_eq!(locals.lookup(port(1)), Some(1));
        assert_eq!(
            locals.lookup(port(Locals::MAX)),
            Some(Locals::MAX as ConnId)
        );
        locals.insert(addr("0.0.0.0:6000"), 77);
        assert_eq!(locals.lookup(addr("192.0.2.7:6000")), Some(77));
    }
}
