//! [`Error`]: what can go wrong in the bridge, and [`error_kind`], which
//! turns an operating-system error into the words a student needs.

use protocol::ErrorKind;
use std::io;
use std::net::SocketAddr;

/// The bridge's errors. Each says what was being done when it happened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Creating, binding or listening on a lab server's socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// Any other socket error.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The HTTPS certificate or key cannot be used (or made).
    #[error("TLS: {0}")]
    Tls(String),
}

impl Error {
    /// The student-facing kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Listen { source, .. } | Error::Io(source) => error_kind(source),
            Error::Tls(_) => ErrorKind::Other,
        }
    }
}

/// Maps an OS error to the kind a student meets (refused, reset, ...).
pub fn error_kind(err: &io::Error) -> ErrorKind {
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused => ErrorKind::ConnectionRefused,
        K::TimedOut => ErrorKind::TimedOut,
        K::ConnectionReset => ErrorKind::ConnectionReset,
        K::ConnectionAborted => ErrorKind::ConnectionAborted,
        K::BrokenPipe => ErrorKind::BrokenPipe,
        K::AddrInUse => ErrorKind::AddrInUse,
        K::AddrNotAvailable => ErrorKind::AddrNotAvailable,
        K::NetworkUnreachable | K::HostUnreachable => ErrorKind::Unreachable,
        K::InvalidInput => ErrorKind::BadAddress,
        _ => ErrorKind::Other,
    }
}
