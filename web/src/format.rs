//! How times, directions and bytes are written on the page and in exports.

use protocol::{Bytes, Lane, Step};

/// A bridge timestamp in milliseconds with three decimals (`"12.345 ms"`).
pub fn millis(at_us: u64) -> String {
    format!("{}.{:03} ms", at_us / 1000, at_us % 1000)
}

/// Time since the previous event (`"+0.125 ms"`).
pub fn delta(us: u64) -> String {
    format!("+{}.{:03} ms", us / 1000, us % 1000)
}

/// Which way an event moved data or a connection, told by a glyph *and* a
/// word, so it never depends on colour alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Direction {
    /// `→`, `←`, `■`, `✕`, `⚠` or `•`.
    pub glyph: &'static str,
    /// `"sent"`, `"received"`, ...
    pub word: &'static str,
    /// A CSS class for the row (`"out"`, `"in"`, `"end"`, `"error"`, `"local"`).
    pub class: &'static str,
}

/// The direction of `step` as seen from the side that took it.
pub fn direction(step: &Step) -> Direction {
    let (glyph, word, class) = match step {
        Step::Send { .. } | Step::SendTo { .. } => ("→", "sent", "out"),
        Step::Recv { .. } | Step::RecvFrom { .. } => ("←", "received", "in"),
        Step::Connect { .. } => ("→", "connecting", "out"),
        Step::Connected { .. } => ("↔", "connected", "in"),
        Step::Accept { .. } => ("←", "accepted", "in"),
        Step::RecvEof => ("←", "peer closed", "end"),
        Step::Shutdown => ("■", "shut down writing", "end"),
        Step::Close => ("✕", "closed", "end"),
        Step::Error { .. } => ("⚠", "error", "error"),
        Step::Print { .. } => ("»", "printed", "local"),
        _ => ("•", "set up", "local"),
    };
    Direction { glyph, word, class }
}

/// The lane's name as the page shows it.
pub fn lane_name(lane: Lane) -> &'static str {
    match lane {
        Lane::Server => "server",
        Lane::Client => "client",
    }
}

/// At most `max` characters of the escaped text of `data`, in quotes,
/// with `…` when cut (for diagram labels).
pub fn preview(data: &Bytes, max: usize) -> String {
    let text = data.to_escaped_text();
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("\"{head}…\"")
    } else {
        format!("\"{head}\"")
    }
}

/// The one line a row or a diagram label shows: the call, and for data
/// the start of the bytes.
pub fn summary(step: &Step) -> String {
    match step.data() {
        Some(data) if !data.is_empty() => format!("{} {}", step.label(), preview(data, 24)),
        _ => step.label(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_three_decimals() {
        assert_eq!(millis(1_234_567), "1234.567 ms");
        assert_eq!(millis(5), "0.005 ms");
        assert_eq!(delta(120), "+0.120 ms");
    }

    /// Direction is said in words as well as a glyph.
    #[test]
    fn directions_have_words_and_shapes() {
        let sent = direction(&Step::Send {
            data: Bytes(b"hi".to_vec()),
        });
        assert_eq!((sent.glyph, sent.word), ("→", "sent"));
        assert_eq!(direction(&Step::RecvEof).word, "peer closed");
    }

    #[test]
    fn previews_are_cut_and_escaped() {
        let data = Bytes(b"hello\nworld".to_vec());
        assert_eq!(preview(&data, 5), "\"hello…\"");
        assert_eq!(preview(&data, 50), "\"hello\\nworld\"");
        assert_eq!(
            summary(&Step::Recv { data }),
            "recv() -> 11 bytes \"hello\\nworld\""
        );
    }
}
