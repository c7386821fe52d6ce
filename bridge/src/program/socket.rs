//! [`ProgramSocket`]: one real socket of a student's program, and the
//! state it is in.
//!
//! A Python socket object is one thing that changes as calls are made on
//! it: `socket()` makes it, `bind()` names it, `listen()` turns it into a
//! listening socket, `connect()` (or `accept()`, on the server's side)
//! gives a connected one. Tokio has a type for each stage (`TcpSocket`,
//! `TcpListener`, `TcpStream`), so a socket here is an enum of stages
//! ([`Stage`]), and each call checks that the stage fits it, as the
//! operating system would (`accept()` on a socket that is not listening is
//! `EINVAL`).

use super::ports::PortLease;
use crate::route::RouteGuard;
use protocol::{ConnId, Family, Transport};
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::OwnedSemaphorePermit;

/// One socket of a program.
#[derive(Debug)]
pub struct ProgramSocket {
    pub family: Family,
    pub transport: Transport,
    pub stage: Stage,
    /// Its share of the session's socket limit, given back when it closes.
    pub _slot: OwnedSemaphorePermit,
}

/// Where a socket is in its life.
#[derive(Debug)]
pub enum Stage {
    /// TCP, after `socket()` (and maybe `bind()`): neither listening nor
    /// connected yet.
    Fresh {
        socket: TcpSocket,
        bound: Option<Bound>,
    },
    /// TCP, after `listen()`: `accept()` takes clients from its queue.
    Listening { listener: TcpListener, bound: Bound },
    /// TCP, connected: made by `connect()`, or returned by `accept()`.
    Connected(Box<Connection>),
    /// UDP: a real socket once bound (by `bind()`, or on first use).
    Datagram(Box<Datagram>),
    /// Taken out while a call works on it (`connect()` consumes a
    /// `TcpSocket`); only seen if the program ends in the middle.
    Busy,
}

/// A socket's address in the session's port space, and the real one.
#[derive(Debug)]
pub struct Bound {
    /// The session's claim on the port (freed when the socket closes).
    pub lease: PortLease,
    /// The address the program sees (`127.0.0.1:1234`).
    pub shown: SocketAddr,
    /// The real address on the bridge's machine (`127.0.0.1:40211`).
    pub real: SocketAddr,
}

/// A connected TCP socket.
#[derive(Debug)]
pub struct Connection {
    pub stream: TcpStream,
    /// The connection's id in the trace: the same on both lanes when a
    /// student's client talks to the same student's server.
    pub conn: ConnId,
    /// For a connection to the public lab server: keeps its events routed
    /// to this session while the socket lives.
    pub _route: Option<RouteGuard>,
    /// Kept when the program bound the socket before connecting.
    pub _bound: Option<Bound>,
}

/// A UDP socket.
#[derive(Debug)]
pub struct Datagram {
    /// `None` until bound (a first `sendto()` binds it, as the OS would).
    pub socket: Option<UdpSocket>,
    pub bound: Option<Bound>,
    /// The id its datagrams carry in the trace.
    pub conn: ConnId,
    /// Bound by the program itself (a server): its datagrams are traced
    /// under the *sender's* id, so they line up with the client's.
    pub server: bool,
    /// After `connect()`: the real peer (none: a port of this machine no
    /// socket of the session has, where datagrams are lost) and what the
    /// program sees.
    pub peer: Option<(Option<SocketAddr>, String)>,
    /// Routes the public UDP server's events to this session.
    pub _route: Option<RouteGuard>,
}

impl ProgramSocket {
    /// The connection id its events carry, if it has one yet.
    pub fn conn(&self) -> Option<ConnId> {
        match &self.stage {
            Stage::Connected(connection) => Some(connection.conn),
            Stage::Datagram(datagram) => Some(datagram.conn),
            _ => None,
        }
    }
}
