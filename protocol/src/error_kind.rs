//! [`ErrorKind`]: the socket errors a student meets, in plain words.

use serde::{Deserialize, Serialize};

/// A socket error, by what it means to the person who met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// `ECONNREFUSED`.
    ConnectionRefused,
    /// `ETIMEDOUT`, or our own time limit on connect.
    TimedOut,
    /// `ECONNRESET`.
    ConnectionReset,
    /// `ECONNABORTED`.
    ConnectionAborted,
    /// `EPIPE`: writing after the peer closed.
    BrokenPipe,
    /// `EADDRINUSE`.
    AddrInUse,
    /// `EADDRNOTAVAIL`.
    AddrNotAvailable,
    /// `ENETUNREACH` / `EHOSTUNREACH`.
    Unreachable,
    /// The bridge refused: the target is not one it may connect to.
    NotAllowed,
    /// The connection sat idle longer than the bridge allows.
    Idle,
    /// A name that could not be resolved, or an address that is not one.
    BadAddress,
    /// Anything else; the OS message says what.
    Other,
}

impl ErrorKind {
    /// A short title (`"Connection refused"`).
    pub fn title(self) -> &'static str {
        match self {
            ErrorKind::ConnectionRefused => "Connection refused",
            ErrorKind::TimedOut => "Timed out",
            ErrorKind::ConnectionReset => "Connection reset by peer",
            ErrorKind::ConnectionAborted => "Connection aborted",
            ErrorKind::BrokenPipe => "Broken pipe",
            ErrorKind::AddrInUse => "Address already in use",
            ErrorKind::AddrNotAvailable => "Address not available",
            ErrorKind::Unreachable => "Network unreachable",
            ErrorKind::NotAllowed => "Target not allowed",
            ErrorKind::Idle => "Idle too long",
            ErrorKind::BadAddress => "Bad address",
            ErrorKind::Other => "Socket error",
        }
    }

    /// One plain sentence on what happened and what to do.
    pub fn explanation(self) -> &'static str {
        match self {
            ErrorKind::ConnectionRefused => {
                "Nothing is listening on that port: the other machine answered the connection request with a reset. Start the server first, then connect."
            }
            ErrorKind::TimedOut => {
                "No answer came in time: the server may be too busy to accept (its backlog queue is full), or a firewall dropped the packets."
            }
            ErrorKind::ConnectionReset => {
                "The other side closed the connection abruptly (it sent a reset), so any data still in flight was thrown away."
            }
            ErrorKind::ConnectionAborted => {
                "The connection was aborted on this machine before it could be used."
            }
            ErrorKind::BrokenPipe => {
                "You sent data after the other side had closed the connection, so there is nobody left to read it."
            }
            ErrorKind::AddrInUse => {
                "Another socket is already bound to that address and port: stop the other server or pick another port."
            }
            ErrorKind::AddrNotAvailable => {
                "That address does not belong to this machine, so a socket cannot be bound to it."
            }
            ErrorKind::Unreachable => {
                "There is no route to that network or host from this machine."
            }
            ErrorKind::NotAllowed => {
                "For safety the bridge connects only to its own lab servers and to targets the instructor allowed."
            }
            ErrorKind::Idle => {
                "Nothing was sent or received for too long, so the connection was closed to free the server for others."
            }
            ErrorKind::BadAddress => {
                "That is not an address the socket can use: write it as HOST:PORT, for example 127.0.0.1:1234."
            }
            ErrorKind::Other => "The operating system reported an error on this socket.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_words() {
        let kinds = [
            ErrorKind::ConnectionRefused,
            ErrorKind::TimedOut,
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::BrokenPipe,
            ErrorKind::AddrInUse,
            ErrorKind::AddrNotAvailable,
            ErrorKind::Unreachable,
            ErrorKind::NotAllowed,
            ErrorKind::Idle,
            ErrorKind::BadAddress,
            ErrorKind::Other,
        ];
        for kind in kinds {
            assert!(!kind.title().is_empty());
            assert!(kind.explanation().ends_with('.'), "{kind:?}");
        }
    }
}
