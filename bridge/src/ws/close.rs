//! How the bridge's WebSockets (`/ws`, `/relay`, `/watch`) end: a close
//! frame with a code and a reason, never a bare disconnect (which a page
//! sees as 1005, "no status", or 1006, and cannot explain to anyone), and
//! the [`goodbye`] that sends it within a bounded time.
//!
//! - The bridge shuts down, or the peer was idle too long: 1001 (going
//!   away), with [`SHUTDOWN_REASON`] or the idle time.
//! - Invalid UTF-8 in a text frame: 1007 (invalid data).
//! - Reserved bits, an unknown opcode, a stray continuation frame, an
//!   unmasked frame: 1002 (protocol error), with the rule that was broken.
//! - A message or frame over `--max-message-bytes`: 1009 (too big).
//! - A page from an origin that is not allowed: 1008 (policy violation).
//!
//! A close reason travels in a control frame of at most 125 bytes, so
//! [`frame`] cuts a long one (at a character boundary).

use axum::extract::ws::{CloseFrame, Message};
use futures_util::{Sink, SinkExt};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tungstenite::error::ProtocolError;

/// Close code 1000: normal closure (the other end of a relay closed).
pub const NORMAL: u16 = 1000;
/// Close code 1001: going away (shutdown, idle).
pub const GOING_AWAY: u16 = 1001;
/// Close code 1002: protocol error.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Close code 1007: a text frame that is not UTF-8.
pub const INVALID_DATA: u16 = 1007;
/// Close code 1008: policy violation (an origin that is not allowed).
pub const POLICY: u16 = 1008;
/// Close code 1009: message too big.
pub const TOO_BIG: u16 = 1009;
/// Close code 1011: the bridge could not go on (a relay's target failed).
pub const INTERNAL: u16 = 1011;

/// The reason sent with the close frame at shutdown.
pub const SHUTDOWN_REASON: &str = "bridge shutting down";

/// The most bytes of reason a close frame carries (125 less the code).
pub const MAX_REASON: usize = 123;

/// A close frame with `code` and `reason`, the reason cut to fit.
pub fn frame(code: u16, reason: impl Into<String>) -> CloseFrame {
    let mut reason: String = reason.into();
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// How a WebSocket should end: a close frame to send, or none (the peer
/// is gone, or closed first).
pub type Ending = Option<CloseFrame>;

/// The close frame at shutdown: 1001, [`SHUTDOWN_REASON`].
pub fn shutdown_frame() -> CloseFrame {
    frame(GOING_AWAY, SHUTDOWN_REASON)
}

/// The reason (and refusal) for a message over `limit` bytes.
pub fn too_big(limit: usize) -> String {
    format!("message larger than the limit of {limit} bytes")
}

/// What a failed WebSocket read means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFailure {
    /// The connection is gone (reset, or closed without a close frame):
    /// nobody is left to tell.
    Gone,
    /// A message or frame over the limit (the caller names the limit).
    TooBig,
    /// The peer broke the protocol: close with this code and reason.
    Broken { code: u16, reason: String },
}

/// Sorts a read error from the WebSocket library.
pub fn read_failure(err: &axum::Error) -> ReadFailure {
    let source = std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>());
    let Some(err) = source else {
        return ReadFailure::Gone;
    };
    match err {
        tungstenite::Error::Capacity(_) => ReadFailure::TooBig,
        tungstenite::Error::Utf8(_) => ReadFailure::Broken {
            code: INVALID_DATA,
            reason: "a text frame was not valid UTF-8".to_string(),
        },
        tungstenite::Error::Protocol(
            ProtocolError::ResetWithoutClosingHandshake | ProtocolError::ReceivedAfterClosing,
        ) => ReadFailure::Gone,
        tungstenite::Error::Protocol(rule) => ReadFailure::Broken {
            code: PROTOCOL_ERROR,
            reason: format!("WebSocket protocol error: {rule}"),
        },
        _ => ReadFailure::Gone,
    }
}

/// Closes a WebSocket within `grace`: the close frame if there is a reason
/// (the shutdown's, if the bridge is shutting down: another task may have
/// noticed it first, and the browser still deserves to hear why), then
/// whatever is pending (such as the library's answer to the browser's own
/// close frame).
pub async fn goodbye<W>(
    mut sink: W,
    ending: Option<CloseFrame>,
    shutdown: &CancellationToken,
    grace: Duration,
) where
    W: Sink<Message> + Unpin,
{
    let ending = match ending {
        None if shutdown.is_cancelled() => Some(shutdown_frame()),
        ending => ending,
    };
    let goodbye = async {
        if let Some(frame) = ending {
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(grace, goodbye).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long reason is cut to fit a control frame, never mid-character.
    #[test]
    fn reasons_fit_a_control_frame() {
        let long = "é".repeat(100);
        let frame = frame(POLICY, long);
        assert!(frame.reason.len() <= MAX_REASON);
        assert!(frame.reason.chars().all(|c| c == 'é'));
        assert_eq!(super::frame(1000, "ok").reason.as_str(), "ok");
    }

    /// Library errors map to the codes a page can explain.
    #[test]
    fn read_errors_map_to_codes() {
        let wrap = |err: tungstenite::Error| axum::Error::new(err);
        assert!(matches!(
            read_failure(&wrap(tungstenite::Error::Utf8("invalid".into()))),
            ReadFailure::Broken {
                code: INVALID_DATA,
                ..
            }
        ));
        assert!(matches!(
            read_failure(&wrap(tungstenite::Error::Protocol(
                ProtocolError::NonZeroReservedBits
            ))),
            ReadFailure::Broken {
                code: PROTOCOL_ERROR,
                ..
            }
        ));
        assert_eq!(
            read_failure(&wrap(tungstenite::Error::Protocol(
                ProtocolError::ResetWithoutClosingHandshake
            ))),
            ReadFailure::Gone
        );
        assert_eq!(
            read_failure(&wrap(tungstenite::Error::ConnectionClosed)),
            ReadFailure::Gone
        );
    }
}
