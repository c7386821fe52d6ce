//! The sequence diagram's geometry, and the SVG text of it for export.
//!
//! Three vertical lanes, time going down, one row per event:
//!
//! - **Browser**: this page. Commands go to the bridge over the WebSocket
//!   `/ws` and trace reports come back; that hop is drawn dashed, because
//!   it is not the socket the lab is about.
//! - **Client socket**: the real TCP/UDP socket the bridge opened for the
//!   page (what the lab's `client.py` would be).
//! - **Server**: the lab server (the lab's `server.py`).
//!
//! Arrows run from a `send()` to the `recv()`s that read its bytes, from
//! `connect()` to `accept()`, and from `close()` to the peer's end-of-file,
//! as [`crate::trace`] matched them. They always point down (or across,
//! for two events the bridge stamped in the same microsecond): the trace
//! is in the order of the bridge's clock.
//!
//! Labels never touch a line: the arrows all run between the client and
//! server lifelines, so a client event's label sits left of its lifeline
//! (above the dashed WebSocket hop) and a server event's right of its
//! lifeline, each on its own row, cut to [`LABEL_CHARS`]. The tests below
//! check this by measuring every label against every line.
//!
//! Geometry is plain numbers so it can be tested natively. The page draws it one event at a time ([`row`],
//! [`arrows_to`], [`hop_of`] in memoised components, so a new event costs
//! one row); [`layout`] puts the same pieces together for [`to_svg`], which
//! writes it out as a file.

use crate::format;
use crate::trace::Entry;
use protocol::{Lane, Step};
use std::collections::HashMap;
use std::fmt::Write;

/// Width of the drawing, in SVG units.
pub const WIDTH: f64 = 720.0;
/// Height of one event's row.
pub const ROW: f64 = 30.0;
/// Where the first row starts (below the lane headers).
pub const TOP: f64 = 64.0;
/// The x of the Browser, Client socket and Server lanes.
pub const BROWSER_X: f64 = 92.0;
pub const CLIENT_X: f64 = 316.0;
pub const SERVER_X: f64 = 504.0;
/// The most characters of a label drawn, before its `…` (the log shows
/// all of it).
pub const LABEL_CHARS: usize = 27;
/// Space between a lifeline and the label beside it.
pub const LABEL_GAP: f64 = 10.0;
/// Labels are 12-unit monospace: at most this wide per character (the
/// usual monospace fonts are 0.6 of their size), and reaching this far
/// above and below their baseline.
pub const LABEL_CHAR_W: f64 = 7.3;
pub const LABEL_ASCENT: f64 = 11.5;
pub const LABEL_DESCENT: f64 = 3.0;
/// The time column: 12-unit monospace like the labels, from x = [`TIME_X`].
pub const TIME_X: f64 = 4.0;
pub const TIME_CHAR_W: f64 = LABEL_CHAR_W;
/// What the two hops are, in the header: between the Browser and the
/// client socket, and between the client socket and the server.
pub const HOPS: [(f64, &str); 2] = [
    ((BROWSER_X + CLIENT_X) / 2.0, "⇠ WebSocket /ws ⇢"),
    ((CLIENT_X + SERVER_X) / 2.0, "⇠ real TCP/UDP ⇢"),
];

/// The lanes' headers: x and title.
pub const LANES: [(f64, &str, &str); 3] = [
    (BROWSER_X, "Browser", "this page"),
    (CLIENT_X, "Client socket", "in the bridge"),
    (SERVER_X, "Server", "lab server"),
];

/// One event's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub seq: u64,
    pub y: f64,
    pub lane: Lane,
    /// x of the event's lane.
    pub x: f64,
    /// `Step::name()`.
    pub call: &'static str,
    /// Milliseconds since the trace's first event, `"12.345"`.
    pub time: String,
    /// The call's label (`recv() -> 5 bytes "hello"`), beside its lane.
    pub label: Label,
    /// `format::direction(..).class`: colours and shapes by kind.
    pub class: &'static str,
}

/// Text placed at a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub x: f64,
    pub y: f64,
    /// `"start"`, `"middle"` or `"end"` (SVG `text-anchor`).
    pub anchor: &'static str,
    pub text: String,
}

/// An arrow between the client socket and the server lanes.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    /// The event the arrow ends at.
    pub seq: u64,
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    /// `Step::name()` of the event it starts from (`connect`, `send`,
    /// `shutdown`, ...): an arrow is named by the call that sent it.
    pub call: &'static str,
    /// `Step::name()` of the event it ends at (`accept`, `recv`, ...).
    pub to_call: &'static str,
    /// Whether its start is in the window (otherwise it starts at the top).
    pub from_in_view: bool,
    /// `"handshake"`, `"data"` or `"fin"`.
    pub class: &'static str,
}

/// The WebSocket hop between the page and the bridge's client socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    pub seq: u64,
    pub y: f64,
    /// True for a command from the page; false for a report to it.
    pub to_bridge: bool,
    /// `Step::name()` of the client-socket event.
    pub call: &'static str,
    pub text: &'static str,
}

/// Everything to draw, for a window of events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagram {
    pub height: f64,
    pub rows: Vec<Row>,
    pub arrows: Vec<Arrow>,
    pub hops: Vec<Hop>,
    /// The lanes' headers ([`lane_heads`]).
    pub lanes: [(f64, &'static str, &'static str); 3],
}

/// The lanes' headers for these events: [`LANES`], except that a lane
/// where the student's own program made steps is named after its file
/// (`server.py`, `client.py`): the lanes are the student's programs.
pub fn lane_heads<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
) -> [(f64, &'static str, &'static str); 3] {
    let mut lanes = LANES;
    for entry in entries {
        if entry.event.source.is_some() {
            match entry.event.lane {
                Lane::Client => lanes[1] = (CLIENT_X, "client.py", "your program"),
                Lane::Server => lanes[2] = (SERVER_X, "server.py", "your program"),
            }
        }
    }
    lanes
}

fn lane_x(lane: Lane) -> f64 {
    match lane {
        Lane::Client => CLIENT_X,
        Lane::Server => SERVER_X,
    }
}

fn other(lane: Lane) -> Lane {
    match lane {
        Lane::Client => Lane::Server,
        Lane::Server => Lane::Client,
    }
}

fn arrow_class(step: &Step) -> &'static str {
    match step {
        Step::Accept { .. } => "handshake",
        Step::RecvEof => "fin",
        _ => "data",
    }
}

/// Whether the bridge's client socket did this because the page asked
/// (`Some(true)`), reported it to the page (`Some(false)`), or neither.
fn hop(step: &Step) -> Option<(bool, &'static str)> {
    match step {
        Step::Connect { .. } => Some((true, "/ws: connect")),
        Step::Send { .. } | Step::SendTo { .. } => Some((true, "/ws: send")),
        Step::Shutdown => Some((true, "/ws: shutdown")),
        Step::Close => Some((true, "/ws: close")),
        Step::Connected { .. }
        | Step::Recv { .. }
        | Step::RecvFrom { .. }
        | Step::RecvEof
        | Step::Error { .. } => Some((false, "/ws: trace")),
        _ => None,
    }
}

/// A coordinate as SVG text. Every coordinate of the drawing is a whole
/// number of units; writing it as an integer keeps the code that writes
/// fractions (several KB of wasm) out of the page.
pub fn num(value: f64) -> String {
    (value.round() as i64).to_string()
}

/// [`num`] for `write!`: a coordinate that formats as an integer.
struct Num(f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.round() as i64)
    }
}

/// The y of the middle of the row at `index` (counted from the top).
pub fn row_y(index: usize) -> f64 {
    TOP + ROW * (index as f64 + 0.5)
}

/// The height of a drawing of `rows` rows.
pub fn height(rows: usize) -> f64 {
    TOP + ROW * rows as f64 + 24.0
}

/// Rows the page's drawing grows by at a time.
pub const GROW_ROWS: usize = 8;

/// Up to this many rows the page's drawing is exactly as tall as its rows.
pub const EXACT_ROWS: usize = 32;

/// The height the page draws `rows` rows at. Resizing an SVG makes the
/// browser lay out every text in it again, so a long drawing grows in
/// steps of [`GROW_ROWS`]: most new events then only add their own row,
/// and nothing else in the drawing changes. A short one costs little to
/// lay out again, and fits its rows exactly (no blank rows at the end).
pub fn page_height(rows: usize) -> f64 {
    if rows <= EXACT_ROWS {
        height(rows)
    } else {
        height(rows.div_ceil(GROW_ROWS) * GROW_ROWS)
    }
}

/// The row of `entry`, drawn at `index`: where its dot and label go.
pub fn row(entry: &Entry, index: usize) -> Row {
    let y = row_y(index);
    let step = &entry.event.step;
    let lane = entry.event.lane;
    let x = lane_x(lane);
    let text = shorten(&format::summary(step), LABEL_CHARS);
    // Every event's label sits on its own row, outside the band between
    // the client and server lifelines where the arrows run: the client's
    // to the left of its lifeline, above the row's WebSocket hop; the
    // server's to the right of its lifeline.
    let label = match lane {
        Lane::Client => Label {
            x: x - LABEL_GAP,
            y: y - 5.0,
            anchor: "end",
            text,
        },
        Lane::Server => Label {
            x: x + LABEL_GAP,
            y: y + 4.0,
            anchor: "start",
            text,
        },
    };
    Row {
        seq: entry.seq,
        y,
        lane,
        x,
        call: step.name(),
        time: format::millis_number(entry.since_start_us),
        label,
        class: format::direction(step).class,
    }
}

/// The arrows that end at `entry`, drawn at `index`. `from_y` gives the y
/// of each of its links' start (`None` when that event is not drawn: the
/// arrow then starts at the top edge).
pub fn arrows_to(
    entry: &Entry,
    index: usize,
    from_y: impl Fn(u64) -> Option<f64>,
) -> impl Iterator<Item = Arrow> {
    let y = row_y(index);
    let step = &entry.event.step;
    let x = lane_x(entry.event.lane);
    let from_x = lane_x(other(entry.event.lane));
    let (seq, to_call, class) = (entry.seq, step.name(), arrow_class(step));
    entry.links.iter().map(move |link| {
        let from = from_y(link.seq);
        Arrow {
            seq,
            x1: from_x,
            // Never up: a start drawn below this row can only be an event
            // stamped in the same microsecond, drawn across.
            y1: from.unwrap_or(TOP).min(y),
            x2: x,
            y2: y,
            call: link.call,
            to_call,
            from_in_view: from.is_some(),
            class,
        }
    })
}

/// The WebSocket hop drawn beside `entry` at `index`, if it has one.
pub fn hop_of(entry: &Entry, index: usize) -> Option<Hop> {
    let step = &entry.event.step;
    if entry.event.lane != Lane::Client {
        return None;
    }
    let (to_bridge, text) = hop(step)?;
    Some(Hop {
        seq: entry.seq,
        y: row_y(index),
        to_bridge,
        call: step.name(),
        text,
    })
}

/// Lays out `entries` (a window of the trace, oldest first). Arrows from
/// events above the window start at its top edge.
pub fn layout<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Diagram {
    let entries: Vec<&Entry> = entries.into_iter().collect();
    let y_of: HashMap<u64, f64> = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| (entry.seq, row_y(index)))
        .collect();
    let mut diagram = Diagram::default();
    for (index, entry) in entries.iter().enumerate() {
        diagram
            .arrows
            .extend(arrows_to(entry, index, |seq| y_of.get(&seq).copied()));
        diagram.hops.extend(hop_of(entry, index));
        diagram.rows.push(row(entry, index));
    }
    diagram.height = height(diagram.rows.len());
    diagram.lanes = lane_heads(entries.iter().copied());
    diagram
}

/// At most `max` characters, with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// XML-escapes text for SVG.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Styles for the standalone SVG file (the page has its own in CSS).
const EXPORT_STYLE: &str = "text{font:12px ui-monospace,Menlo,Consolas,monospace;fill:#1b1b1b}\
.lane-title{font-weight:bold;font-size:13px}.lane-sub{fill:#555;font-size:12px}\
.lifeline{stroke:#888;stroke-dasharray:4 4}.time{fill:#555;font-size:12px}\
.arrow{stroke-width:1.6;fill:none}.arrow.data{stroke:#1f5fbf}.arrow.handshake{stroke:#1a7f37}\
.arrow.fin{stroke:#6e4aa8;stroke-dasharray:6 3}.hop{stroke:#777;stroke-dasharray:3 3;fill:none}\
.hop-title{fill:#555;font-size:12px}.dot.error{fill:#c62828}.dot{fill:#333}\
.ah{fill:#333}.label{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}";

/// The diagram as a standalone SVG document (for the lab report).
pub fn to_svg(diagram: &Diagram) -> String {
    let h = Num(diagram.height);
    let (width, top, time_x) = (Num(WIDTH), Num(TOP), Num(TIME_X));
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {h}" width="{width}" height="{h}" font-family="monospace"><style>{EXPORT_STYLE}</style>"#
    );
    out.push_str(r#"<defs><marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path class="ah" d="M0,0L10,5L0,10z"/></marker></defs>"#);
    let _ = write!(out, r##"<rect width="{width}" height="{h}" fill="#fff"/>"##);
    for (x, title, sub) in diagram.lanes {
        let x = Num(x);
        let _ = write!(
            out,
            r#"<text class="lane-title" x="{x}" y="22" text-anchor="middle">{title}</text><text class="lane-sub" x="{x}" y="38" text-anchor="middle">{sub}</text><line class="lifeline" x1="{x}" y1="{top}" x2="{x}" y2="{h}"/>"#
        );
    }
    for (x, text) in HOPS {
        let x = Num(x);
        let _ = write!(
            out,
            r#"<text class="hop-title" x="{x}" y="56" text-anchor="middle">{text}</text>"#
        );
    }
    let _ = write!(
        out,
        r#"<text class="lane-sub" x="{time_x}" y="56">ms</text>"#
    );
    for hop in &diagram.hops {
        let (x1, x2) = if hop.to_bridge {
            (Num(BROWSER_X), Num(CLIENT_X))
        } else {
            (Num(CLIENT_X), Num(BROWSER_X))
        };
        let _ = write!(
            out,
            r#"<line class="hop" data-call="{}" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" marker-end="url(#ah)"><title>{}</title></line>"#,
            hop.call,
            hop.text,
            y = Num(hop.y),
        );
    }
    for arrow in &diagram.arrows {
        let _ = write!(
            out,
            r#"<line class="arrow {}" data-call="{}" data-to-call="{}" x1="{}" y1="{}" x2="{}" y2="{}" marker-end="url(#ah)"/>"#,
            arrow.class,
            arrow.call,
            arrow.to_call,
            Num(arrow.x1),
            Num(arrow.y1),
            Num(arrow.x2),
            Num(arrow.y2)
        );
    }
    for row in &diagram.rows {
        let _ = write!(
            out,
            r#"<text class="time" x="{time_x}" y="{}">{}</text><circle class="dot {}" cx="{}" cy="{}" r="4"/>"#,
            Num(row.y + 4.0),
            row.time,
            row.class,
            Num(row.x),
            Num(row.y)
        );
        write_label(&mut out, &row.label);
    }
    out.push_str("</svg>\n");
    out
}

fn write_label(out: &mut String, label: &Label) {
    let _ = write!(
        out,
        r#"<text class="label" x="{}" y="{}" text-anchor="{}">{}</text>"#,
        Num(label.x),
        Num(label.y),
        label.anchor,
        escape_xml(&label.text)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole coordinates print as `f64` would print them; others round.
    #[test]
    fn coordinates_print_as_integers() {
        for v in [0.0, 79.0, -4.0, 660.0, 1234.0] {
            assert_eq!(num(v), v.to_string(), "{v}");
            assert_eq!(Num(v).to_string(), v.to_string(), "{v}");
        }
        assert_eq!(num(12.4), "12");
        assert_eq!(num(-0.6), "-1");
    }
    use crate::trace::Trace;
    use protocol::{Bytes, TraceEvent};

    fn ev(lane: Lane, step: Step) -> TraceEvent {
        TraceEvent {
            at_us: 1500,
            lane,
            server: Some(1),
            conn: Some(1),
            server_conn: None,
            source: None,
            step,
        }
    }

    fn echo_trace() -> Trace {
        let mut trace = Trace::with_cap(100);
        trace.push(ev(Lane::Server, Step::Listen { backlog: 5 }));
        trace.push(ev(
            Lane::Client,
            Step::Connect {
                target: "127.0.0.1:1234".into(),
            },
        ));
        trace.push(ev(
            Lane::Server,
            Step::Accept {
                peer: "127.0.0.1:5000".into(),
                local: "127.0.0.1:1234".into(),
            },
        ));
        trace.push(ev(
            Lane::Client,
            Step::Send {
                data: Bytes(b"<hi>".to_vec()),
            },
        ));
        trace.push(ev(
            Lane::Server,
            Step::Recv {
                data: Bytes(b"<hi>".to_vec()),
            },
        ));
        trace
    }

    /// connect() draws an arrow to accept(), send() to recv(), labelled
    /// with the receiving call; set-up calls sit on their own lane.
    #[test]
    fn arrows_join_the_matched_calls() {
        let trace = echo_trace();
        let d = layout(trace.iter().map(|e| &**e));
        assert_eq!(d.rows.len(), 5);
        let calls: Vec<_> = d.arrows.iter().map(|a| (a.call, a.to_call)).collect();
        assert_eq!(calls, vec![("connect", "accept"), ("send", "recv")]);
        assert!(d.arrows.iter().all(|a| a.from_in_view));
        let recv = &d.arrows[1];
        assert_eq!((recv.x1, recv.x2), (CLIENT_X, SERVER_X));
        assert_eq!(recv.y1, d.rows[3].y);
        assert_eq!(recv.y2, d.rows[4].y);
        assert_eq!(d.rows[4].label.text, "recv() -> 4 bytes \"<hi>\"");
        assert_eq!(d.rows[0].label.text, "listen(5)");
        assert!(d.rows[0].label.x > SERVER_X);
        assert!(d.rows[1].label.x < CLIENT_X);
        // The page's commands cross the WebSocket hop first.
        let hops: Vec<_> = d.hops.iter().map(|h| (h.call, h.to_bridge)).collect();
        assert_eq!(hops, vec![("connect", true), ("send", true)]);
    }

    /// An arrow whose start scrolled out of the window starts at the top.
    #[test]
    fn arrows_from_outside_the_window_start_at_the_top() {
        let trace = echo_trace();
        let d = layout(trace.iter().skip(4).map(|e| &**e));
        assert_eq!(d.arrows.len(), 1);
        assert_eq!(d.arrows[0].y1, TOP);
        assert!(!d.arrows[0].from_in_view);
        assert_eq!(d.arrows[0].call, "send");
    }

    /// Drawing one row at a time gives what laying out the window gives,
    /// and the page's drawing grows in whole steps.
    #[test]
    fn rows_drawn_alone_match_the_layout() {
        let trace = echo_trace();
        let entries: Vec<&Entry> = trace.iter().map(|e| &**e).collect();
        let d = layout(entries.iter().copied());
        let y_of = |seq: u64| d.rows.iter().find(|r| r.seq == seq).map(|r| r.y);
        let mut arrows = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(row(entry, i), d.rows[i]);
            arrows.extend(arrows_to(entry, i, y_of));
        }
        assert_eq!(arrows, d.arrows);
        let hops: Vec<_> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| hop_of(e, i))
            .collect();
        assert_eq!(hops, d.hops);
        assert_eq!(d.height, height(5));
        assert_eq!(page_height(5), height(5));
        assert_eq!(page_height(EXACT_ROWS), height(EXACT_ROWS));
        let long = EXACT_ROWS + 1;
        assert_eq!(
            page_height(long),
            height(long.div_ceil(GROW_ROWS) * GROW_ROWS)
        );
        assert_eq!(page_height(long), page_height(long + 1));
        assert!(page_height(long) >= height(long));
    }

    /// The exported SVG is a document with escaped payload text, arrows
    /// marked by call, and the three lanes.
    #[test]
    fn svg_export_is_escaped_and_complete() {
        let trace = echo_trace();
        let svg = to_svg(&layout(trace.iter().map(|e| &**e)));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("recv() -&gt; 4 bytes &quot;&lt;hi&gt;&quot;"));
        assert!(!svg.contains("<hi>"));
        assert!(
            svg.contains(r#"class="arrow handshake" data-call="connect" data-to-call="accept""#)
        );
        assert!(svg.contains(r#"class="arrow data" data-call="send" data-to-call="recv""#));
        for (_, title, _) in LANES {
            assert!(svg.contains(title));
        }
        assert!(
            svg.contains(">0.000</text>"),
            "times count from the first event"
        );
    }

    /// A box around a label: x from..to, y from..to.
    fn label_box(label: &Label) -> (f64, f64, f64, f64) {
        let width = label.text.chars().count() as f64 * LABEL_CHAR_W;
        let (x0, x1) = match label.anchor {
            "start" => (label.x, label.x + width),
            "end" => (label.x - width, label.x),
            _ => (label.x - width / 2.0, label.x + width / 2.0),
        };
        (x0, x1, label.y - LABEL_ASCENT, label.y + LABEL_DESCENT)
    }

    /// Whether the segment from (x1, y1) to (x2, y2) passes through the box.
    fn crosses(seg: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
        let (x1, y1, x2, y2) = seg;
        let (bx0, bx1, by0, by1) = b;
        // Sample the segment finely: simpler than clipping, and exact
        // enough for boxes a dozen units tall.
        (0..=400).any(|i| {
            let t = f64::from(i) / 400.0;
            let (x, y) = (x1 + (x2 - x1) * t, y1 + (y2 - y1) * t);
            x >= bx0 && x <= bx1 && y >= by0 && y <= by1
        })
    }

    /// A busy trace: the server set up, twelve clients with long payloads
    /// and errors, sends read late and in pieces, and closes.
    fn busy_trace() -> Trace {
        let mut trace = Trace::with_cap(1000);
        let mut at = 0;
        let mut push = |lane: Lane, conn: Option<u32>, step: Step| {
            at += 7;
            trace.push(TraceEvent {
                at_us: at,
                lane,
                server: Some(1),
                conn,
                server_conn: None,
                source: None,
                step,
            });
        };
        push(
            Lane::Server,
            None,
            Step::Socket {
                family: protocol::Family::Ipv6,
                transport: protocol::Transport::Tcp,
            },
        );
        push(
            Lane::Server,
            None,
            Step::Bind {
                addr: "[0000:0000:0000:0000:0000:0000:0000:0001]:65535".into(),
                asked: None,
            },
        );
        push(Lane::Server, None, Step::Listen { backlog: 5 });
        let long = Bytes(b"a long line of text that goes on and on\n".repeat(3));
        for conn in 1..=12 {
            push(
                Lane::Client,
                Some(conn),
                Step::Connect {
                    target: "[::1]:65535".into(),
                },
            );
            push(
                Lane::Client,
                Some(conn),
                Step::Connected {
                    local: "[::1]:54321".into(),
                    peer: "[::1]:65535".into(),
                },
            );
            push(
                Lane::Server,
                Some(conn),
                Step::Accept {
                    peer: "[::1]:54321".into(),
                    local: "[::1]:65535".into(),
                },
            );
            push(
                Lane::Server,
                Some(conn),
                Step::Print {
                    text: "Connection from ('::1', 54321, 0, 0) has been established.".into(),
                },
            );
            push(Lane::Client, Some(conn), Step::Send { data: long.clone() });
            push(Lane::Client, Some(conn), Step::Send { data: long.clone() });
            push(
                Lane::Server,
                Some(conn),
                Step::Recv {
                    data: Bytes(long.0.repeat(2)),
                },
            );
            push(
                Lane::Server,
                Some(conn),
                Step::Send {
                    data: Bytes(long.0.repeat(2)),
                },
            );
            push(
                Lane::Client,
                Some(conn),
                Step::Recv {
                    data: Bytes(long.0[..10].to_vec()),
                },
            );
            push(
                Lane::Client,
                Some(conn),
                Step::Recv {
                    data: Bytes(long.0[10..].repeat(2)),
                },
            );
            push(
                Lane::Client,
                Some(conn),
                Step::Error {
                    kind: protocol::ErrorKind::ConnectionRefused,
                    message: "Connection refused (os error 111) and more words".into(),
                    failed: Some(protocol::Call::Recv),
                },
            );
            push(Lane::Server, Some(conn), Step::Close);
            push(Lane::Client, Some(conn), Step::RecvEof);
            push(Lane::Client, Some(conn), Step::Close);
            push(Lane::Server, Some(conn), Step::RecvEof);
        }
        trace
    }

    /// Labels never overlap each other, any lifeline, arrow or hop, and
    /// stay inside the drawing; times stay left of the Browser lane; and
    /// every arrow points down.
    #[test]
    fn labels_clear_every_line_and_each_other() {
        let trace = busy_trace();
        let d = layout(trace.iter().map(|e| &**e));
        assert!(d.arrows.len() > 24, "{} arrows", d.arrows.len());
        let boxes: Vec<_> = d.rows.iter().map(|r| label_box(&r.label)).collect();
        for (i, b) in boxes.iter().enumerate() {
            assert!(
                b.0 >= 0.0 && b.1 <= WIDTH,
                "label {i} leaves the drawing: {b:?}"
            );
            for (x, _, _) in LANES {
                assert!(
                    x < b.0 - 2.0 || x > b.1 + 2.0,
                    "label {:?} crosses the lifeline at {x}",
                    d.rows[i].label.text
                );
            }
            for other in &boxes[i + 1..] {
                let apart = b.1 <= other.0 || other.1 <= b.0 || b.3 <= other.2 || other.3 <= b.2;
                assert!(apart, "labels overlap: {b:?} {other:?}");
            }
            for a in &d.arrows {
                assert!(
                    !crosses((a.x1, a.y1, a.x2, a.y2), *b),
                    "the {}->{} arrow crosses {:?}",
                    a.call,
                    a.to_call,
                    d.rows[i].label.text
                );
            }
            for h in &d.hops {
                assert!(
                    !crosses((BROWSER_X, h.y, CLIENT_X, h.y), *b),
                    "a hop crosses {:?}",
                    d.rows[i].label.text
                );
            }
        }
        for a in &d.arrows {
            assert!(a.y2 >= a.y1, "an arrow points up: {a:?}");
        }
        // The longest time a lab session shows (an hour) fits before the
        // Browser lane.
        let longest = format::millis_number(3_600_000_000).chars().count() as f64;
        assert!(TIME_X + longest * TIME_CHAR_W < BROWSER_X - 4.0);
    }

    /// Two events of different lanes stamped in the same microsecond, the
    /// effect first: its arrow is drawn across, never up.
    #[test]
    fn an_arrow_from_the_same_instant_is_drawn_across() {
        let mut trace = Trace::with_cap(100);
        let mut at = |lane: Lane, step: Step| {
            trace.push(TraceEvent {
                at_us: 50,
                ..ev(lane, step)
            })
        };
        at(
            Lane::Client,
            Step::Recv {
                data: Bytes(b"hi".to_vec()),
            },
        );
        at(
            Lane::Server,
            Step::Send {
                data: Bytes(b"hi".to_vec()),
            },
        );
        let d = layout(trace.iter().map(|e| &**e));
        assert_eq!(d.arrows.len(), 1);
        assert_eq!(d.arrows[0].y1, d.arrows[0].y2);
    }
}
