//! The trace as files for a lab report: JSON (which the page can load
//! again), a Mermaid `sequenceDiagram`, and (in [`crate::diagram`]) SVG.

use crate::trace::Trace;
use crate::wire::Incoming;
use protocol::{Lane, ServerMsg, Step, TraceEvent};
use std::fmt::Write;

/// The `format` field of an exported trace.
pub const FORMAT: &str = "socket-lab-trace";

/// Files larger than this are not loaded (a trace at the page's cap is
/// a few megabytes).
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

/// The trace as JSON: `{"format":"socket-lab-trace","version":1,"events":[...]}`,
/// each event exactly as the bridge sent it, one to a line (easy to read
/// and to compare; and one JSON writer in the page, not a second, pretty
/// one).
pub fn to_json(trace: &Trace) -> String {
    let mut out = format!(
        "{{\"format\":\"{FORMAT}\",\"version\":{},\"events\":[",
        protocol::PROTOCOL_VERSION
    );
    for (i, entry) in trace.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str(&serde_json::to_string(&entry.event).unwrap_or_default());
    }
    out.push_str("\n]}\n");
    out
}

/// Reads a trace back: the export format, a bare array of events, or the
/// bridge's own messages one per line (only `trace` messages are kept).
pub fn parse_json(text: &str) -> Result<Vec<TraceEvent>, String> {
    if text.len() > MAX_IMPORT_BYTES {
        return Err(format!(
            "the file is larger than {} MB",
            MAX_IMPORT_BYTES / 1024 / 1024
        ));
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return crate::wire::events_from_json(trimmed);
    }
    if let Some(file) = crate::wire::trace_file(trimmed) {
        let (format, events) = file?;
        if format != FORMAT {
            return Err(format!("expected format \"{FORMAT}\", found \"{format}\""));
        }
        return Ok(events);
    }
    let mut events = Vec::new();
    for (i, line) in trimmed.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // A program's sock_reply is the runner's business, not the trace's.
        match crate::wire::incoming(line) {
            Ok(Incoming::Msg(ServerMsg::Trace(event))) => events.push(event),
            Ok(_) => {}
            Err(e) => return Err(format!("line {}: {e}", i + 1)),
        }
    }
    if events.is_empty() {
        return Err("no trace events found".into());
    }
    Ok(events)
}

/// Mermaid treats `;` and `#` specially and reads `<` as the start of
/// markup such as `<br>`: write them as Mermaid's `#code;` entities.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#60;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn participant(lane: Lane) -> &'static str {
    match lane {
        Lane::Client => "C",
        Lane::Server => "S",
    }
}

/// The trace as a Mermaid `sequenceDiagram`: the WebSocket hop as dashed
/// messages from the browser, socket calls that move something between the
/// sides as arrows (drawn where they are received), the rest as notes.
pub fn to_mermaid(trace: &Trace) -> String {
    let mut out = String::from(
        "sequenceDiagram\n    participant B as Browser (this page)\n    participant C as Client socket (bridge)\n    participant S as Server (lab server)\n",
    );
    for entry in trace.iter() {
        let event = &entry.event;
        let me = participant(event.lane);
        let text = mermaid_text(&crate::format::summary(&event.step));
        let is_command = event.lane == Lane::Client
            && matches!(
                event.step,
                Step::Connect { .. }
                    | Step::Send { .. }
                    | Step::SendTo { .. }
                    | Step::Shutdown
                    | Step::Close
            );
        if is_command {
            let _ = writeln!(out, "    B-->>C: /ws {}", event.step.name());
        }
        if entry.links.is_empty() {
            let _ = writeln!(out, "    Note over {me}: {text}");
        } else {
            let from = participant(match event.lane {
                Lane::Client => Lane::Server,
                Lane::Server => Lane::Client,
            });
            let arrow = if matches!(event.step, Step::RecvEof) {
                "-)"
            } else {
                "->>"
            };
            let _ = writeln!(out, "    {from}{arrow}{me}: {text}");
        }
        if let Step::Error { kind, .. } = &event.step {
            let _ = writeln!(
                out,
                "    Note over {me}: {}",
                mermaid_text(kind.explanation())
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Bytes, ErrorKind};

    fn ev(at_us: u64, lane: Lane, step: Step) -> TraceEvent {
        TraceEvent {
            at_us,
            lane,
            server: Some(1),
            conn: Some(1),
            server_conn: None,
            source: None,
            step,
        }
    }

    fn sample() -> Trace {
        let mut trace = Trace::with_cap(100);
        for event in [
            ev(1, Lane::Server, Step::Listen { backlog: 5 }),
            ev(
                2,
                Lane::Client,
                Step::Connect {
                    target: "127.0.0.1:1234".into(),
                },
            ),
            ev(
                3,
                Lane::Server,
                Step::Accept {
                    peer: "127.0.0.1:5000".into(),
                    local: "127.0.0.1:1234".into(),
                },
            ),
            ev(
                4,
                Lane::Client,
                Step::Send {
                    data: Bytes(b"a;b#".to_vec()),
                },
            ),
            ev(
                5,
                Lane::Server,
                Step::Recv {
                    data: Bytes(b"a;b#".to_vec()),
                },
            ),
            ev(6, Lane::Client, Step::Close),
            ev(7, Lane::Server, Step::RecvEof),
        ] {
            trace.push(event);
        }
        trace
    }

    /// The Mermaid text names the three participants, draws matched calls
    /// as arrows and the rest as notes, and escapes Mermaid's specials.
    #[test]
    fn mermaid_has_arrows_notes_and_escapes() {
        let text = to_mermaid(&sample());
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(lines[0], "sequenceDiagram");
        assert!(lines.contains(&"participant B as Browser (this page)"));
        assert!(lines.contains(&"Note over S: listen(5)"));
        assert!(lines.contains(&"B-->>C: /ws connect"));
        assert!(lines.contains(&"C->>S: accept() -> 127.0.0.1:5000"));
        assert!(lines.contains(&"C->>S: recv() -> 4 bytes \"a#59;b#35;\""));
        assert!(lines.contains(&"C-)S: recv() -> 0 bytes (peer closed)"));
        assert!(!text.contains("a;b"));
    }

    #[test]
    fn errors_carry_their_explanation() {
        let mut trace = Trace::with_cap(100);
        trace.push(ev(
            1,
            Lane::Client,
            Step::Error {
                kind: ErrorKind::ConnectionRefused,
                message: "Connection refused (os error 111)".into(),
                failed: Some(protocol::Call::Connect),
            },
        ));
        let text = to_mermaid(&trace);
        assert!(text.contains("Note over C: connect() failed: Connection refused"));
        assert!(text.contains("Nothing is listening on that port"));
    }

    /// JSON export loads back to the same events, and the other accepted
    /// shapes (bare array, the bridge's own lines) load too.
    #[test]
    fn json_round_trips() {
        let trace = sample();
        let json = to_json(&trace);
        assert!(json.starts_with("{\"format\":\"socket-lab-trace\",\"version\":"));
        assert!(json.contains("\"data\":\"613b6223\""));
        assert_eq!(json.lines().count(), trace.len() + 2, "an event a line");
        let events = parse_json(&json).unwrap();
        let original: Vec<TraceEvent> = trace.iter().map(|e| e.event.clone()).collect();
        assert_eq!(events, original);
        // The file keeps the bridge's clock; the page shows times from the
        // first event, which the file does not need.
        let last = trace.last().unwrap();
        assert!(last.since_start_us < last.event.at_us || last.event.at_us == 0);
        assert!(json.contains(&format!("\"at_us\":{}", last.event.at_us)));
        assert!(!json.contains("since_start"));

        let array = serde_json::to_string(&original).unwrap();
        assert_eq!(parse_json(&array).unwrap(), original);

        let lines = r#"{"type":"server_stopped","server":1}
{"type":"sock_reply","program":1,"call":2,"result":{"ok":{"value":"done"}}}
{"type":"trace","at_us":9,"lane":"client","step":{"call":"close"}}"#;
        let events = parse_json(lines).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].step, Step::Close);
    }

    #[test]
    fn bad_files_say_why() {
        assert!(parse_json("nonsense").is_err());
        assert!(
            parse_json(r#"{"format":"other","version":1,"events":[]}"#)
                .unwrap_err()
                .contains("socket-lab-trace")
        );
        assert!(parse_json(&" ".repeat(MAX_IMPORT_BYTES + 1)).is_err());
    }
}
