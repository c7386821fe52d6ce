//! How times, directions and bytes are written on the page and in exports.

use protocol::{Bytes, Lane, Step, TraceEvent};

/// A bridge timestamp in milliseconds with three decimals (`"12.345 ms"`).
pub fn millis(at_us: u64) -> String {
    format!("{}.{:03} ms", at_us / 1000, at_us % 1000)
}

/// Milliseconds with three decimals, without the unit (`"12.345"`), for
/// the diagram's time column.
pub fn millis_number(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// Time since the previous event (`"+0.125 ms"`).
pub fn delta(us: u64) -> String {
    format!("+{}.{:03} ms", us / 1000, us % 1000)
}

/// How long ago something happened, as the instructor's list says it
/// (`"just now"`, `"12 s ago"`, `"3 min ago"`, `"2 h ago"`).
pub fn ago(us: u64) -> String {
    let secs = us / 1_000_000;
    match secs {
        0..=1 => "just now".to_string(),
        2..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
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

/// What a screen reader says for one row of the event log, in words: the
/// side and its connection, the call and what it returned, the bytes (how
/// many, and the start of their text), and the time and the time since
/// the previous event. The row's columns (glyphs, hex, "+0.120 ms") are
/// hidden from it: read out, they are noise.
pub fn spoken(event: &TraceEvent, since_start_us: u64, since_prev_us: Option<u64>) -> String {
    let side = match event.lane {
        Lane::Server => "Server",
        Lane::Client => "Client",
    };
    let who = match (event.conn, event.server_conn) {
        (Some(conn), _) => format!("{side}, connection {conn}"),
        (None, Some(n)) if event.lane == Lane::Server => format!("{side}, its client {n}"),
        _ => side.to_string(),
    };
    let call = match &event.step {
        // The printed line itself follows the sentence in the row.
        Step::Print { .. } => "print()".to_string(),
        step => step.label().replace(" -> ", " returned "),
    };
    let bytes = match event.step.data() {
        Some(data) if !data.is_empty() => format!(", as text {}", preview(data, 60)),
        _ => String::new(),
    };
    let since = since_prev_us
        .map(|us| format!(", {} after the previous event", spoken_millis(us)))
        .unwrap_or_default();
    format!(
        "{who}: {}, {call}{bytes}. At {}{since}.",
        direction(&event.step).word,
        spoken_millis(since_start_us)
    )
}

/// Microseconds as milliseconds, in words (`"12.345 milliseconds"`).
fn spoken_millis(us: u64) -> String {
    format!("{}.{:03} milliseconds", us / 1000, us % 1000)
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

    #[test]
    fn ages_are_rounded_down_to_a_unit() {
        assert_eq!(ago(900_000), "just now");
        assert_eq!(ago(12_400_000), "12 s ago");
        assert_eq!(ago(185_000_000), "3 min ago");
        assert_eq!(ago(7_300_000_000), "2 h ago");
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

    fn event(lane: Lane, conn: Option<u32>, at_us: u64, step: Step) -> TraceEvent {
        TraceEvent {
            at_us,
            lane,
            server: None,
            conn,
            server_conn: None,
            source: None,
            step,
        }
    }

    /// A log row read aloud says the side, the connection, the call, the
    /// bytes and the times in words, with no arrows or abbreviations.
    #[test]
    fn rows_are_spoken_in_words() {
        let recv = event(
            Lane::Client,
            Some(1),
            1_234_567,
            Step::Recv {
                data: Bytes(b"hello lab\n".to_vec()),
            },
        );
        assert_eq!(
            spoken(&recv, 1_234_567, Some(120)),
            "Client, connection 1: received, recv() returned 10 bytes, as text \"hello lab\\n\". \
             At 1234.567 milliseconds, 0.120 milliseconds after the previous event."
        );
        let listen = event(Lane::Server, None, 5, Step::Listen { backlog: 5 });
        assert_eq!(
            spoken(&listen, 5, None),
            "Server: set up, listen(5). At 0.005 milliseconds."
        );
        let eof = event(Lane::Server, Some(2), 2_000, Step::RecvEof);
        assert_eq!(
            spoken(&eof, 2_000, Some(1_500)),
            "Server, connection 2: peer closed, recv() returned 0 bytes (peer closed). \
             At 2.000 milliseconds, 1.500 milliseconds after the previous event."
        );
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
