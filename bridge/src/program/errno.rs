//! Socket errors as a student's Python program meets them: a symbolic
//! `errno` (`"ECONNREFUSED"`), the operating system's words, and the
//! [`ErrorKind`] the page explains in one sentence.
//!
//! The page's `socket` module raises the exception Python would raise for
//! the `errno` (`ConnectionRefusedError` for `ECONNREFUSED`), so a
//! student's `except` clauses and tracebacks look as they would in a
//! terminal.

use crate::error::error_kind;
use protocol::{ErrorKind, SockError};
use std::io;

/// A failed call's error, from the operating system's own.
pub fn from_io(err: &io::Error) -> SockError {
    SockError {
        errno: name(err).to_string(),
        message: words(err),
        kind: error_kind(err),
    }
}

/// An error the bridge decides itself, in the operating system's words.
pub fn named(errno: &str, message: impl Into<String>, kind: ErrorKind) -> SockError {
    SockError {
        errno: errno.to_string(),
        message: message.into(),
        kind,
    }
}

/// No such socket in this program (never made, or closed).
pub fn bad_socket() -> SockError {
    named("EBADF", "Bad file descriptor", ErrorKind::Other)
}

/// The call does not fit the socket's state (`accept()` on a socket that
/// does not listen).
pub fn invalid(why: &str) -> SockError {
    named(
        "EINVAL",
        format!("Invalid argument ({why})"),
        ErrorKind::Other,
    )
}

/// `send()`/`recv()` on a socket that is not connected.
pub fn not_connected() -> SockError {
    named(
        "ENOTCONN",
        "Transport endpoint is not connected",
        ErrorKind::Other,
    )
}

/// `connect()` on a socket already connected.
pub fn already_connected() -> SockError {
    named(
        "EISCONN",
        "Transport endpoint is already connected",
        ErrorKind::Other,
    )
}

/// A call this kind of socket does not have (`listen()` on UDP).
pub fn not_supported(why: &str) -> SockError {
    named(
        "EOPNOTSUPP",
        format!("Operation not supported ({why})"),
        ErrorKind::Other,
    )
}

/// Nothing of the session listens on that port.
pub fn refused() -> SockError {
    named(
        "ECONNREFUSED",
        "Connection refused",
        ErrorKind::ConnectionRefused,
    )
}

/// Another open socket of the session has that port.
pub fn addr_in_use() -> SockError {
    named("EADDRINUSE", "Address already in use", ErrorKind::AddrInUse)
}

/// A host of the other family (`'::1'` on an `AF_INET` socket).
pub fn wrong_family() -> SockError {
    named(
        "EAFNOSUPPORT",
        "Address family for hostname not supported",
        ErrorKind::BadAddress,
    )
}

/// `bind()` to an address that is not this machine's.
pub fn not_here() -> SockError {
    named(
        "EADDRNOTAVAIL",
        "Cannot assign requested address",
        ErrorKind::AddrNotAvailable,
    )
}

/// A target the bridge may not reach for a program.
pub fn not_allowed(target: &str) -> SockError {
    named(
        "EACCES",
        format!(
            "Permission denied: a program here may reach only its own session's ports, the lab's \
             server and targets the instructor allowed, not {target}"
        ),
        ErrorKind::NotAllowed,
    )
}

/// The call's `timeout_ms` passed: Python raises `TimeoutError("timed out")`.
pub fn timed_out() -> SockError {
    named("timeout", "timed out", ErrorKind::TimedOut)
}

/// `connect()` got no answer within the bridge's own connect timeout.
pub fn connect_timed_out() -> SockError {
    named("ETIMEDOUT", "Connection timed out", ErrorKind::TimedOut)
}

/// The program ended (Stop) while the call waited.
pub fn interrupted() -> SockError {
    named(
        "EINTR",
        "Interrupted system call (the program was stopped)",
        ErrorKind::Other,
    )
}

/// A limit of the session (sockets, bytes waiting) is reached.
pub fn limit(errno: &str, words: &str, why: String) -> SockError {
    named(errno, format!("{words} ({why})"), ErrorKind::Other)
}

/// The operating system's words without Rust's ` (os error 111)`.
fn words(err: &io::Error) -> String {
    let text = err.to_string();
    let words = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text.as_str(),
    };
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Socket error".to_string(),
    }
}

/// The symbolic name of an operating-system error.
fn name(err: &io::Error) -> &'static str {
    if let Some(name) = err.raw_os_error().and_then(linux_name) {
        return name;
    }
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused => "ECONNREFUSED",
        K::ConnectionReset => "ECONNRESET",
        K::ConnectionAborted => "ECONNABORTED",
        K::BrokenPipe => "EPIPE",
        K::NotConnected => "ENOTCONN",
        K::AddrInUse => "EADDRINUSE",
        K::AddrNotAvailable => "EADDRNOTAVAIL",
        K::TimedOut => "ETIMEDOUT",
        K::NetworkUnreachable => "ENETUNREACH",
        K::HostUnreachable => "EHOSTUNREACH",
        K::NetworkDown => "ENETDOWN",
        K::PermissionDenied => "EACCES",
        K::WouldBlock => "EAGAIN",
        K::Interrupted => "EINTR",
        K::InvalidInput => "EINVAL",
        K::Unsupported => "EOPNOTSUPP",
        _ => "EIO",
    }
}

/// Linux's numbers for the errors a socket program meets.
fn linux_name(code: i32) -> Option<&'static str> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    Some(match code {
        1 => "EPERM",
        4 => "EINTR",
        9 => "EBADF",
        11 => "EAGAIN",
        13 => "EACCES",
        22 => "EINVAL",
        24 => "EMFILE",
        32 => "EPIPE",
        88 => "ENOTSOCK",
        89 => "EDESTADDRREQ",
        90 => "EMSGSIZE",
        95 => "EOPNOTSUPP",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        101 => "ENETUNREACH",
        103 => "ECONNABORTED",
        104 => "ECONNRESET",
        105 => "ENOBUFS",
        106 => "EISCONN",
        107 => "ENOTCONN",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        113 => "EHOSTUNREACH",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operating system's errors keep their words and get their names.
    #[test]
    fn os_errors_get_symbolic_names() {
        let refused = from_io(&io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.errno, "ECONNREFUSED");
        assert_eq!(refused.kind, ErrorKind::ConnectionRefused);
        let reset = from_io(&io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(reset.errno, "ECONNRESET");
        assert_eq!(reset.message, "Connection reset");
        #[cfg(target_os = "linux")]
        {
            let in_use = from_io(&io::Error::from_raw_os_error(98));
            assert_eq!(in_use.errno, "EADDRINUSE");
            assert_eq!(in_use.message, "Address already in use");
            assert_eq!(from_io(&io::Error::from_raw_os_error(9)).errno, "EBADF");
        }
    }
}
