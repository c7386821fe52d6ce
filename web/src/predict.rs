//! Predict, then observe: while a trace is replayed, the page stops just
//! before a few telling moments and asks the student what will happen,
//! then shows it.
//!
//! Teaching research on visualisations says they help when students
//! engage with them (predict, then check), not when they watch. So the
//! questions are not a script: each is a *rule* that looks for a kind of
//! moment in the trace's real events (a `recv()` that returned bytes, a
//! `connect()` while `accept()` is paused, ...), and works on any trace
//! that has one, the student's own or the lab's. The answer is read from
//! the same trace, so it is what really happened, with one sentence of why.
//!
//! Answers count toward nothing: they are kept only to show the student
//! what they said beside what happened.
//!
//! This module is plain Rust (tested natively): [`moments`] finds the
//! questions in a [`Trace`], [`PredictState`] keeps what the student
//! answered. `components::PredictCard` asks and reveals; the replay stops
//! before an unanswered moment through `LabState::holds`.

use crate::trace::{Entry, Trace};
use protocol::{Bytes, ErrorKind, Lane, Step};
use std::rc::Rc;
use yew::Reducible;

/// The kinds of moment the page asks about, one rule each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// How many bytes will this `recv()` return?
    RecvBytes,
    /// Will this client's `connect()` succeed while `accept()` is paused?
    ConnectWhilePaused,
    /// What does `recv()` return after the peer closes?
    RecvAfterClose,
    /// What does the client print when the greeting arrives in pieces?
    GreetingInPieces,
    /// Which side's `close()` comes first?
    CloseOrder,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::RecvBytes,
        Kind::ConnectWhilePaused,
        Kind::RecvAfterClose,
        Kind::GreetingInPieces,
        Kind::CloseOrder,
    ];

    /// What a trace needs for this question, said when it has none.
    pub fn needs(self) -> &'static str {
        match self {
            Kind::RecvBytes => "a recv() that returned bytes (Task 2 or 3)",
            Kind::ConnectWhilePaused => {
                "clients connecting while accept() is paused (\"Pause accept()\", then connect 7 clients)"
            }
            Kind::RecvAfterClose => {
                "a recv() after the other side closed (Task 3: close the client)"
            }
            Kind::GreetingInPieces => {
                "your server.py sending its greeting with two send()s, and your client.py printing what it received"
            }
            Kind::CloseOrder => "a connection that both sides closed",
        }
    }
}

/// How the student answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A number (of bytes).
    Number(usize),
    /// One of `choices`; `correct` is its index.
    Choice {
        choices: Vec<String>,
        correct: usize,
    },
}

impl Answer {
    /// The right answer as the page writes it.
    pub fn correct_text(&self) -> String {
        match self {
            Answer::Number(n) => bytes_word(*n),
            Answer::Choice { choices, correct } => {
                choices.get(*correct).cloned().unwrap_or_default()
            }
        }
    }

    /// What the student gave, as the page writes it.
    pub fn given_text(&self, given: &Given) -> String {
        match (self, given) {
            (_, Given::Skipped) => "nothing (you skipped)".to_string(),
            (Answer::Number(_), Given::Number(n)) => bytes_word(*n),
            (Answer::Choice { choices, .. }, Given::Choice(i)) => {
                choices.get(*i).cloned().unwrap_or_default()
            }
            (_, Given::Number(n)) => n.to_string(),
            (_, Given::Choice(i)) => format!("choice {}", i + 1),
        }
    }

    /// True when `given` is the right answer.
    pub fn is_right(&self, given: &Given) -> bool {
        match (self, given) {
            (Answer::Number(n), Given::Number(m)) => n == m,
            (Answer::Choice { correct, .. }, Given::Choice(i)) => correct == i,
            _ => false,
        }
    }
}

/// What the student answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    Number(usize),
    Choice(usize),
    /// "Just show me".
    Skipped,
}

/// One question, about one event of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    pub kind: Kind,
    /// The event whose result the question is about (its `seq`): replay
    /// stops just before it, so its row, bytes and arrow are not shown.
    pub at: u64,
    /// What has happened so far, in a sentence or two.
    pub context: String,
    /// The question itself.
    pub question: String,
    pub answer: Answer,
    /// What happened, and one sentence of why.
    pub why: String,
}

/// Every moment of `trace` the page can ask about: at most one per kind,
/// in the trace's order, each about an event of its own.
pub fn moments(trace: &Trace) -> Vec<Moment> {
    let entries: Vec<&Rc<Entry>> = trace.iter().collect();
    // The most particular rules first: the recv() of a greeting in pieces
    // is that question's, and the byte count asks about another recv().
    let mut found: Vec<Moment> = [
        greeting_in_pieces(&entries),
        connect_while_paused(&entries),
        recv_after_close(&entries),
        close_order(&entries),
    ]
    .into_iter()
    .flatten()
    .collect();
    let taken: Vec<u64> = found.iter().map(|m| m.at).collect();
    found.extend(recv_bytes(&entries, &taken));
    // At most five: put in order by hand (a sort costs the page kilobytes).
    let mut ordered: Vec<Moment> = Vec::with_capacity(found.len());
    for moment in found {
        if ordered.iter().any(|m| m.at == moment.at) {
            continue;
        }
        let place = ordered.iter().take_while(|m| m.at < moment.at).count();
        ordered.insert(place, moment);
    }
    ordered
}

/// The kinds `trace`'s moments leave out, to say what else a trace needs.
pub fn missing(found: &[Moment]) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|kind| found.iter().all(|m| m.kind != *kind))
        .collect()
}

fn bytes_word(n: usize) -> String {
    if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    }
}

/// The bytes as Python writes them: `b'hello\n'`.
fn py_bytes(data: &Bytes) -> String {
    const MOST: usize = 40;
    let text = data.to_escaped_text().replace('\'', "\\'");
    if text.chars().count() > MOST {
        let cut: String = text.chars().take(MOST).collect();
        format!("b'{cut}…'")
    } else {
        format!("b'{text}'")
    }
}

/// "the server" or, for a student's own program, "your server.py".
fn side(entry: &Entry) -> String {
    match &entry.event.source {
        Some(source) => format!("your {}", source.file),
        None => format!("the {}", crate::format::lane_name(entry.event.lane)),
    }
}

fn other(lane: Lane) -> Lane {
    match lane {
        Lane::Server => Lane::Client,
        Lane::Client => Lane::Server,
    }
}

fn find_seq<'a>(entries: &[&'a Rc<Entry>], seq: u64) -> Option<&'a Rc<Entry>> {
    entries.iter().find(|e| e.seq == seq).copied()
}

/// Rule: a TCP `recv()` that returned bytes whose `send()`s are in the
/// trace. Preferred: one that returned two sends at once, or part of one
/// (what a student thinking in messages gets wrong); else the first.
fn recv_bytes(entries: &[&Rc<Entry>], taken: &[u64]) -> Option<Moment> {
    let candidates = entries.iter().filter(|e| {
        matches!(&e.event.step, Step::Recv { data } if !data.is_empty())
            && !e.links.is_empty()
            && !taken.contains(&e.seq)
    });
    let sends_of = |entry: &Entry| -> Vec<&Rc<Entry>> {
        entry
            .links
            .iter()
            .filter_map(|link| find_seq(entries, link.seq))
            .filter(|send| matches!(send.event.step, Step::Send { .. }))
            .collect()
    };
    let telling = |entry: &&&Rc<Entry>| {
        let sends = sends_of(entry);
        let got = entry.event.step.data().map_or(0, Bytes::len);
        sends.len() > 1
            || sends
                .first()
                .and_then(|s| s.event.step.data())
                .is_some_and(|d| d.len() != got)
    };
    let entry = candidates
        .clone()
        .find(telling)
        .or_else(|| candidates.clone().next())?;
    let sends = sends_of(entry);
    let first = sends.first()?;
    let got = entry.event.step.data().map_or(0, Bytes::len);
    let pieces: Vec<String> = sends
        .iter()
        .filter_map(|s| s.event.step.data())
        .map(|d| format!("{} ({})", py_bytes(d), bytes_word(d.len())))
        .collect();
    let sent_total: usize = sends
        .iter()
        .filter_map(|s| s.event.step.data())
        .map(Bytes::len)
        .sum();
    let context = match pieces.as_slice() {
        [one] => format!("{} called send() with {one}.", capital(&side(first))),
        many => format!(
            "{} called send() {} times: {}.",
            capital(&side(first)),
            many.len(),
            many.join(", then ")
        ),
    };
    let why = if sends.len() > 1 {
        format!(
            "One recv() returned {}: TCP is a stream of bytes, not of messages, so bytes of \
             several send()s that have all arrived come back together.",
            bytes_word(got)
        )
    } else if got < sent_total {
        format!(
            "This recv() returned {} of the {}: recv() returns what has arrived (up to the size \
             it asks for), and the rest comes in a later recv().",
            bytes_word(got),
            bytes_word(sent_total)
        )
    } else {
        format!(
            "recv() returned all {}: they had all arrived and fit the size it asked for. TCP \
             promises the bytes and their order, not the pieces: it could have been fewer.",
            bytes_word(got)
        )
    };
    Some(Moment {
        kind: Kind::RecvBytes,
        at: entry.seq,
        context,
        question: format!("How many bytes will {}'s next recv() return?", side(entry)),
        answer: Answer::Number(got),
        why,
    })
}

/// Rule: clients connecting while the server's `accept()` is paused.
/// Asked about the first client past what `listen(backlog)` queues (the
/// 7th with the lab's backlog of 5: Linux queues backlog + 1), or else the
/// last that connected while paused; the answer is what its `connect()`
/// did, read from the trace.
fn connect_while_paused(entries: &[&Rc<Entry>]) -> Option<Moment> {
    let paused = entries
        .iter()
        .position(|e| matches!(e.event.step, Step::AcceptPaused))?;
    let server = entries[paused].event.server;
    let backlog = entries[..paused]
        .iter()
        .rev()
        .find_map(|e| match e.event.step {
            Step::Listen { backlog } if e.event.server == server => Some(backlog),
            _ => None,
        })
        .unwrap_or(protocol::DEFAULT_BACKLOG);
    let resumed = entries[paused..]
        .iter()
        .position(|e| matches!(e.event.step, Step::AcceptResumed) && e.event.server == server)
        .map(|i| paused + i);
    let until = resumed.unwrap_or(entries.len());
    let connects: Vec<usize> = (paused..until)
        .filter(|&i| {
            let e = &entries[i].event;
            e.lane == Lane::Client
                && matches!(e.step, Step::Connect { .. })
                && (e.server.is_none() || e.server == server)
        })
        .collect();
    let nth = (backlog as usize + 2).min(connects.len());
    let at_connect = *connects.get(nth.checked_sub(1)?)?;
    let conn = entries[at_connect].event.conn?;
    // What its connect() did: connected, or failed.
    let outcome = entries[at_connect + 1..].iter().position(|e| {
        e.event.lane == Lane::Client
            && e.event.conn == Some(conn)
            && match &e.event.step {
                Step::Connected { .. } => true,
                Step::Error { failed, .. } => {
                    failed.is_none_or(|call| call == protocol::Call::Connect)
                }
                _ => false,
            }
    })? + at_connect
        + 1;
    let after_resume = resumed.is_some_and(|r| r < outcome);
    let choices = vec![
        "Yes: connect() returns at once, though accept() is not running".to_string(),
        "It waits: connect() returns only when accept() runs again (or gives up)".to_string(),
        "No: it is refused at once".to_string(),
    ];
    let (correct, why) = match &entries[outcome].event.step {
        Step::Connected { .. } if !after_resume => (
            0,
            format!(
                "It connected: the kernel completes the handshake and queues the connection \
                 without waiting for accept(); listen({backlog}) lets about {backlog} wait (Linux \
                 takes {}), and this one still fit.",
                backlog + 1
            ),
        ),
        Step::Connected { .. } => (
            1,
            format!(
                "It waited: the queue listen({backlog}) allows was full, so the kernel ignored \
                 this client's handshake and connect() kept retrying; it connected only once \
                 accept() ran again and made room."
            ),
        ),
        Step::Error {
            kind: ErrorKind::TimedOut,
            ..
        } => (
            1,
            format!(
                "It waited and then gave up: the queue listen({backlog}) allows was full, so the \
                 kernel ignored this client's handshake until connect() timed out."
            ),
        ),
        Step::Error {
            kind: ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset,
            ..
        } => (
            2,
            format!(
                "It was refused: the queue listen({backlog}) allows was full and this system \
                 answers a full queue with a reset."
            ),
        ),
        _ => return None,
    };
    let number = nth;
    Some(Moment {
        kind: Kind::ConnectWhilePaused,
        at: if after_resume {
            resumed.map_or(entries[outcome].seq, |r| entries[r].seq)
        } else {
            entries[outcome].seq
        },
        context: format!(
            "The server called listen({backlog}), then stopped calling accept(). {} clients \
             have called connect() since; the last is client {conn}.",
            connects.len().min(number)
        ),
        question: format!(
            "Will client {conn}'s connect() (the {} while accept() is paused) succeed?",
            ordinal(number)
        ),
        answer: Answer::Choice { choices, correct },
        why,
    })
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Rule: a `recv()` that returned 0 bytes after the peer's `close()` (or
/// `shutdown()`) in the trace.
fn recv_after_close(entries: &[&Rc<Entry>]) -> Option<Moment> {
    let entry = entries
        .iter()
        .find(|e| matches!(e.event.step, Step::RecvEof) && !e.links.is_empty())?;
    let closer = find_seq(entries, entry.links.first()?.seq)?;
    let how = match closer.event.step {
        Step::Shutdown => "shutdown(SHUT_WR)",
        _ => "close()",
    };
    Some(Moment {
        kind: Kind::RecvAfterClose,
        at: entry.seq,
        context: format!(
            "{} has called {how}. {} has read every byte sent before it, and calls recv() again.",
            capital(&side(closer)),
            capital(&side(entry))
        ),
        question: "What will that recv() return?".to_string(),
        answer: Answer::Choice {
            choices: vec![
                "b'' (0 bytes)".to_string(),
                "It raises an error".to_string(),
                "It waits for more bytes forever".to_string(),
                "The last bytes again".to_string(),
            ],
            correct: 0,
        },
        why: "recv() returned b'': 0 bytes means the other side has closed its sending side. \
              That is how a program knows the other side is done (an echo server's loop ends \
              on it), never an error."
            .to_string(),
    })
}

/// The sentence's first letter in capitals ("the server" and "your
/// server.py" start with ASCII letters; no Unicode tables are needed).
fn capital(text: &str) -> String {
    let mut text = text.to_string();
    if let Some(first) = text.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    text
}

/// Rule: a server that sent its greeting with two or more `send()`s on a
/// connection, and a client program that then printed what it received.
/// Asked before the client's first `recv()` on that connection (its bytes
/// would give the answer away); the answer is what the client printed.
fn greeting_in_pieces(entries: &[&Rc<Entry>]) -> Option<Moment> {
    for (i, print) in entries.iter().enumerate() {
        let Step::Print { text } = &print.event.step else {
            continue;
        };
        if print.event.lane != Lane::Client || print.event.source.is_none() {
            continue;
        }
        let program = print.event.source.as_ref().map(|s| s.program);
        // The client's first recv() before the print, on its connection.
        let Some(recv_at) = entries[..i].iter().position(|e| {
            e.event.lane == Lane::Client
                && e.event.source.as_ref().map(|s| s.program) == program
                && matches!(&e.event.step, Step::Recv { data } if !data.is_empty())
        }) else {
            continue;
        };
        let recv = entries[recv_at];
        let conn = recv.event.conn;
        // The server's greeting: what it sent on that connection until it
        // closed it (the second piece may come after the client printed).
        let pieces: Vec<&Bytes> = entries
            .iter()
            .filter(|e| e.event.lane == Lane::Server && e.event.conn == conn)
            .take_while(|e| !matches!(e.event.step, Step::Close))
            .filter_map(|e| match &e.event.step {
                Step::Send { data } if !data.is_empty() => Some(data),
                _ => None,
            })
            .collect();
        if pieces.len() < 2 {
            continue;
        }
        let text_of = |data: &Bytes| String::from_utf8_lossy(&data.0).trim().to_string();
        let whole: String = String::from_utf8_lossy(
            &pieces
                .iter()
                .flat_map(|p| p.0.iter().copied())
                .collect::<Vec<u8>>(),
        )
        .trim()
        .to_string();
        let first = text_of(pieces[0]);
        let last = text_of(pieces[pieces.len() - 1]);
        let printed = text.trim();
        let correct = if !whole.is_empty() && printed.contains(&whole) {
            0
        } else if !first.is_empty() && printed.contains(&first) {
            1
        } else if !last.is_empty() && printed.contains(&last) {
            2
        } else {
            continue;
        };
        let choices = vec![
            format!("All of it: \"{whole}\""),
            format!("Only the first piece: \"{first}\""),
            format!("Only the last piece: \"{last}\""),
            "Nothing: it waits for a whole message".to_string(),
        ];
        let shown: Vec<String> = pieces.iter().map(|p| py_bytes(p)).collect();
        let why = match correct {
            0 => "It printed all of it: both pieces had arrived when it called recv(), and TCP \
                  hands over whatever has arrived, as one stream of bytes."
                .to_string(),
            _ => "It printed only part: recv() returns what has arrived so far and does not \
                  wait for the rest of a \"message\" (TCP has none); a client that must get all \
                  of it calls recv() until it has everything, or until it returns b''."
                .to_string(),
        };
        return Some(Moment {
            kind: Kind::GreetingInPieces,
            at: recv.seq,
            context: format!(
                "The server sends its greeting in {} pieces: {}. {} calls recv() once, then \
                 prints what it received.",
                pieces.len(),
                shown.join(", then "),
                capital(&side(print)),
            ),
            question: "What will the client print?".to_string(),
            answer: Answer::Choice { choices, correct },
            why,
        });
    }
    None
}

/// Rule: a connection that both sides closed; asked before the first of
/// the two `close()`s.
fn close_order(entries: &[&Rc<Entry>]) -> Option<Moment> {
    for (i, entry) in entries.iter().enumerate() {
        if !matches!(entry.event.step, Step::Close) {
            continue;
        }
        let Some(conn) = entry.event.conn else {
            continue;
        };
        let lane = entry.event.lane;
        let peer_closes = entries[i + 1..].iter().any(|e| {
            e.event.conn == Some(conn)
                && e.event.lane == other(lane)
                && matches!(e.event.step, Step::Close)
        });
        // Only a connection that really connected: a failed connect()
        // closes one side only, and is no question.
        let accepted = entries[..i]
            .iter()
            .any(|e| e.event.conn == Some(conn) && matches!(e.event.step, Step::Accept { .. }));
        if !peer_closes || !accepted {
            continue;
        }
        let (correct, why) = match lane {
            Lane::Server => (
                0,
                "The server closed first: it had sent all it had to say and needs nothing more \
                 from the client, which learns it when its recv() returns b''.",
            ),
            Lane::Client => (
                1,
                "The client closed first: the server keeps the connection open and answers until \
                 its recv() returns b'' (the client is done), and only then closes its side.",
            ),
        };
        return Some(Moment {
            kind: Kind::CloseOrder,
            at: entry.seq,
            context: format!(
                "Connection {conn} is open on both sides, and both will call close()."
            ),
            question: "Which side's close() comes first?".to_string(),
            answer: Answer::Choice {
                choices: vec!["The server's".to_string(), "The client's".to_string()],
                correct,
            },
            why: why.to_string(),
        });
    }
    None
}

/// What the student has answered, by moment (its event's `seq`: numbering
/// never restarts in a page, so a new trace's moments are new keys).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PredictState {
    /// `(moment, answer)`, a few per trace.
    pub answers: Vec<(u64, Given)>,
}

/// What the student does with a question.
#[derive(Debug, Clone, PartialEq)]
pub enum PredictAction {
    Answer { at: u64, given: Given },
}

impl Reducible for PredictState {
    type Action = PredictAction;

    fn reduce(self: Rc<Self>, action: PredictAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            PredictAction::Answer { at, given } => {
                next.answers.retain(|(a, _)| *a != at);
                next.answers.push((at, given));
            }
        }
        Rc::new(next)
    }
}

impl PredictState {
    /// What the student answered to the moment at `at`, if anything.
    pub fn answer(&self, at: u64) -> Option<Given> {
        self.answers
            .iter()
            .find_map(|(a, given)| (*a == at).then_some(*given))
    }

    /// The moments still waiting for an answer: replay stops before them.
    pub fn holds(&self, moments: &[Moment]) -> Vec<u64> {
        moments
            .iter()
            .filter(|m| self.answer(m.at).is_none())
            .map(|m| m.at)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Call, Source, TraceEvent};

    struct Builder {
        trace: Trace,
        at: u64,
    }

    impl Builder {
        fn new() -> Builder {
            Builder {
                trace: Trace::with_cap(10_000),
                at: 0,
            }
        }

        fn add(&mut self, lane: Lane, conn: Option<u32>, step: Step) -> u64 {
            self.add_from(lane, conn, None, step)
        }

        fn add_from(
            &mut self,
            lane: Lane,
            conn: Option<u32>,
            source: Option<Source>,
            step: Step,
        ) -> u64 {
            self.at += 10;
            self.trace.push(TraceEvent {
                at_us: self.at,
                lane,
                server: Some(1),
                conn,
                server_conn: None,
                source,
                step,
            })
        }

        /// socket, bind, listen(5) on the server.
        fn listening(&mut self) {
            self.add(
                Lane::Server,
                None,
                Step::Socket {
                    family: protocol::Family::Ipv4,
                    transport: protocol::Transport::Tcp,
                },
            );
            self.add(
                Lane::Server,
                None,
                Step::Bind {
                    addr: "127.0.0.1:4000".into(),
                    asked: None,
                },
            );
            self.add(Lane::Server, None, Step::Listen { backlog: 5 });
        }

        fn connect(&mut self, conn: u32) -> u64 {
            self.add(
                Lane::Client,
                Some(conn),
                Step::Connect {
                    target: "127.0.0.1:4000".into(),
                },
            )
        }

        fn connected(&mut self, conn: u32) -> u64 {
            self.add(
                Lane::Client,
                Some(conn),
                Step::Connected {
                    local: format!("127.0.0.1:{}", 50000 + conn),
                    peer: "127.0.0.1:4000".into(),
                },
            )
        }

        fn accept(&mut self, conn: u32) -> u64 {
            self.add(
                Lane::Server,
                Some(conn),
                Step::Accept {
                    peer: format!("127.0.0.1:{}", 50000 + conn),
                    local: "127.0.0.1:4000".into(),
                },
            )
        }

        fn handshake(&mut self, conn: u32) {
            self.connect(conn);
            self.connected(conn);
            self.accept(conn);
        }

        fn send(&mut self, lane: Lane, conn: u32, text: &str) -> u64 {
            self.add(
                lane,
                Some(conn),
                Step::Send {
                    data: Bytes(text.as_bytes().to_vec()),
                },
            )
        }

        fn recv(&mut self, lane: Lane, conn: u32, text: &str) -> u64 {
            self.add(
                lane,
                Some(conn),
                Step::Recv {
                    data: Bytes(text.as_bytes().to_vec()),
                },
            )
        }

        fn moments(&self) -> Vec<Moment> {
            moments(&self.trace)
        }

        fn only(&self, kind: Kind) -> Moment {
            let found = self.moments();
            found
                .into_iter()
                .find(|m| m.kind == kind)
                .unwrap_or_else(|| panic!("no {kind:?} moment"))
        }
    }

    /// Two sends read by one recv: the question is about that recv, and
    /// the answer is both sends' bytes together.
    #[test]
    fn two_sends_in_one_recv_ask_for_their_total() {
        let mut t = Builder::new();
        t.listening();
        t.handshake(1);
        t.send(Lane::Client, 1, "hi\n");
        t.recv(Lane::Server, 1, "hi\n");
        t.send(Lane::Client, 1, "hello");
        t.send(Lane::Client, 1, " world\n");
        let recv = t.recv(Lane::Server, 1, "hello world\n");
        let m = t.only(Kind::RecvBytes);
        assert_eq!(m.at, recv, "the telling recv, not the first one");
        assert_eq!(m.answer, Answer::Number(12));
        assert!(m.context.contains("2 times"), "{}", m.context);
        assert!(m.context.contains("b'hello' (5 bytes)"), "{}", m.context);
        assert!(m.why.contains("not of messages"), "{}", m.why);
        assert!(m.answer.is_right(&Given::Number(12)));
        assert!(!m.answer.is_right(&Given::Number(5)));
    }

    /// A plain echo still gets a recv question (the first recv), and one
    /// send read in two pieces says so.
    #[test]
    fn a_send_read_in_pieces_is_explained() {
        let mut t = Builder::new();
        t.listening();
        t.handshake(1);
        t.send(Lane::Client, 1, "abcdef");
        let first = t.recv(Lane::Server, 1, "abc");
        t.recv(Lane::Server, 1, "def");
        let m = t.only(Kind::RecvBytes);
        assert_eq!((m.at, m.answer.clone()), (first, Answer::Number(3)));
        assert!(m.why.contains("3 bytes of the 6 bytes"), "{}", m.why);

        let mut plain = Builder::new();
        plain.listening();
        plain.handshake(1);
        plain.send(Lane::Client, 1, "hey");
        let recv = plain.recv(Lane::Server, 1, "hey");
        let m = plain.only(Kind::RecvBytes);
        assert_eq!((m.at, m.answer), (recv, Answer::Number(3)));
    }

    /// Seven clients while accept() is paused with listen(5): the 7th is
    /// asked about, and the answer is what its connect() did.
    #[test]
    fn the_seventh_client_while_paused() {
        let mut t = Builder::new();
        t.listening();
        t.add(Lane::Server, None, Step::AcceptPaused);
        for conn in 1..=6 {
            t.connect(conn);
            t.connected(conn);
        }
        t.connect(7);
        t.connect(8);
        let resumed = t.add(Lane::Server, None, Step::AcceptResumed);
        t.accept(1);
        t.connected(7);
        let m = t.only(Kind::ConnectWhilePaused);
        assert!(m.question.contains("client 7"), "{}", m.question);
        assert!(m.question.contains("7th"), "{}", m.question);
        // It connected only after accept() resumed: asked before the resume.
        assert_eq!(m.at, resumed);
        let Answer::Choice { correct, .. } = m.answer else {
            panic!("a choice")
        };
        assert_eq!(correct, 1);
        assert!(m.why.contains("waited"), "{}", m.why);

        // The same, but the 7th client's connect() timed out while paused.
        let mut t = Builder::new();
        t.listening();
        t.add(Lane::Server, None, Step::AcceptPaused);
        for conn in 1..=7 {
            t.connect(conn);
            if conn < 7 {
                t.connected(conn);
            }
        }
        let failed = t.add(
            Lane::Client,
            Some(7),
            Step::Error {
                kind: ErrorKind::TimedOut,
                message: "timed out".into(),
                failed: Some(Call::Connect),
            },
        );
        let m = t.only(Kind::ConnectWhilePaused);
        assert_eq!(m.at, failed);
        assert!(matches!(m.answer, Answer::Choice { correct: 1, .. }));
    }

    /// Fewer clients than the queue holds: the last one is asked about,
    /// and it connected at once.
    #[test]
    fn a_client_that_fits_the_queue_connects() {
        let mut t = Builder::new();
        t.listening();
        t.add(Lane::Server, None, Step::AcceptPaused);
        t.connect(1);
        t.connected(1);
        t.connect(2);
        let connected = t.connected(2);
        let m = t.only(Kind::ConnectWhilePaused);
        assert_eq!(m.at, connected);
        assert!(m.question.contains("client 2"));
        assert!(matches!(m.answer, Answer::Choice { correct: 0, .. }));
        assert!(m.why.contains("Linux takes 6"), "{}", m.why);
    }

    /// After the client's close(), the server's recv() returns b''.
    #[test]
    fn recv_after_the_peer_closed() {
        let mut t = Builder::new();
        t.listening();
        t.handshake(1);
        t.add(Lane::Client, Some(1), Step::Close);
        let eof = t.add(Lane::Server, Some(1), Step::RecvEof);
        t.add(Lane::Server, Some(1), Step::Close);
        let m = t.only(Kind::RecvAfterClose);
        assert_eq!(m.at, eof);
        assert!(
            m.context.starts_with("The client has called close()"),
            "{}",
            m.context
        );
        assert!(m.answer.is_right(&Given::Choice(0)));
        assert!(!m.answer.is_right(&Given::Skipped));
        // Which side's close() came first: the client's, asked before it.
        let order = t.only(Kind::CloseOrder);
        assert!(matches!(order.answer, Answer::Choice { correct: 1, .. }));
        assert!(order.at < eof);
    }

    /// A greeting sent in two pieces, a client program that printed only
    /// the first: the question is asked before its recv().
    #[test]
    fn a_greeting_in_two_pieces() {
        let mut t = Builder::new();
        t.listening();
        t.handshake(1);
        t.send(Lane::Server, 1, "Thank you ");
        let source = Some(Source {
            program: 2,
            file: "client.py".into(),
            line: 5,
        });
        let recv = t.add_from(
            Lane::Client,
            Some(1),
            source.clone(),
            Step::Recv {
                data: Bytes(b"Thank you ".to_vec()),
            },
        );
        t.add_from(
            Lane::Client,
            None,
            source,
            Step::Print {
                text: "Thank you".into(),
            },
        );
        // The second piece went after the client had printed (a real run).
        t.send(Lane::Server, 1, "for connecting\n");
        t.add(Lane::Server, Some(1), Step::Close);
        let m = t.only(Kind::GreetingInPieces);
        assert_eq!(m.at, recv);
        assert!(
            m.context.contains("Your client.py calls recv() once"),
            "{}",
            m.context
        );
        assert!(matches!(m.answer, Answer::Choice { correct: 1, .. }));
        assert_eq!(
            m.answer.correct_text(),
            "Only the first piece: \"Thank you\""
        );
        assert!(m.why.contains("only part"));
    }

    /// A greeting whose pieces had both arrived prints whole; a print that
    /// matches no piece asks nothing.
    #[test]
    fn a_whole_greeting_and_an_unrelated_print() {
        let build = |printed: &str| {
            let mut t = Builder::new();
            t.listening();
            t.handshake(1);
            t.send(Lane::Server, 1, "Thank you ");
            t.send(Lane::Server, 1, "for connecting\n");
            let source = Some(Source {
                program: 2,
                file: "client.py".into(),
                line: 5,
            });
            t.add_from(
                Lane::Client,
                Some(1),
                source.clone(),
                Step::Recv {
                    data: Bytes(b"Thank you for connecting\n".to_vec()),
                },
            );
            t.add_from(
                Lane::Client,
                None,
                source,
                Step::Print {
                    text: printed.into(),
                },
            );
            t.moments()
        };
        let whole = build("Received: Thank you for connecting");
        let m = whole
            .iter()
            .find(|m| m.kind == Kind::GreetingInPieces)
            .expect("asked");
        assert!(matches!(m.answer, Answer::Choice { correct: 0, .. }));
        assert!(
            build("done")
                .iter()
                .all(|m| m.kind != Kind::GreetingInPieces)
        );
    }

    /// Task 2's server closes first.
    #[test]
    fn the_server_closes_first_in_task_2() {
        let mut t = Builder::new();
        t.listening();
        t.handshake(1);
        t.send(Lane::Server, 1, "Thank you for connecting\n");
        let close = t.add(Lane::Server, Some(1), Step::Close);
        t.recv(Lane::Client, 1, "Thank you for connecting\n");
        t.add(Lane::Client, Some(1), Step::RecvEof);
        t.add(Lane::Client, Some(1), Step::Close);
        let m = t.only(Kind::CloseOrder);
        assert_eq!(m.at, close);
        assert!(m.answer.is_right(&Given::Choice(0)));
        assert_eq!(m.answer.correct_text(), "The server's");
    }

    /// A trace without such moments has none, and says what each kind
    /// needs; a refused connection is no close-order question.
    #[test]
    fn a_trace_without_moments() {
        let mut t = Builder::new();
        t.listening();
        t.connect(1);
        t.add(
            Lane::Client,
            Some(1),
            Step::Error {
                kind: ErrorKind::ConnectionRefused,
                message: "refused".into(),
                failed: Some(Call::Connect),
            },
        );
        t.add(Lane::Client, Some(1), Step::Close);
        let found = t.moments();
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(missing(&found).len(), Kind::ALL.len());
        assert!(Kind::ALL.iter().all(|k| !k.needs().is_empty()));
    }

    /// The lab's sample trace (an echo and a refused connection) has the
    /// recv, recv-after-close and close-order questions.
    #[test]
    fn the_sample_trace_has_moments() {
        let mut trace = Trace::with_cap(10_000);
        for event in crate::export::parse_json(crate::sample::TRACE).expect("sample") {
            trace.push(event);
        }
        let kinds: Vec<Kind> = moments(&trace).iter().map(|m| m.kind).collect();
        for kind in [Kind::RecvBytes, Kind::RecvAfterClose, Kind::CloseOrder] {
            assert!(kinds.contains(&kind), "{kinds:?}");
        }
    }

    /// Replay stops just before a question's event, however it moves
    /// forward (a step, End, the arrow keys, Play), and shows the event
    /// once the question is answered.
    #[test]
    fn replay_stops_before_a_question() {
        use crate::state::{Action, LabState};
        use crate::trace_view::{Toward, TraceAction, TraceView};
        use yew::Reducible;
        let loaded = |actions: &[TraceAction]| {
            let lab =
                Rc::new(LabState::default()).reduce(Action::Import(crate::sample::TRACE.into()));
            actions
                .iter()
                .fold(Rc::new(lab.view.clone()), |view, action| {
                    view.reduce(action.clone())
                })
        };
        let state: Rc<TraceView> = loaded(&[]);
        let found = moments(&state.trace);
        let hold = found[0].at;
        // Playing: it pauses just before the question's event.
        let mut state = state
            .reduce(TraceAction::Hold(Rc::new(vec![hold])))
            .reduce(TraceAction::TogglePlay);
        for _ in 0..state.trace.len() {
            assert!(state.playing || state.waiting_at().is_some());
            state = state.reduce(TraceAction::Tick);
        }
        assert_eq!(state.waiting_at(), Some(hold));
        let before = state.selected;
        assert!(before < Some(hold));
        assert_eq!(state.shown_upto(), before, "the event is not shown");
        for action in [
            TraceAction::Step(Toward::Last),
            TraceAction::Move(Toward::Last),
            TraceAction::Move(Toward::Next),
            TraceAction::Tick,
        ] {
            let moved = state.clone().reduce(action.clone());
            assert_eq!(moved.selected, before, "{action:?}");
        }
        assert!(!state.clone().reduce(TraceAction::TogglePlay).playing);
        assert!(!state.playing);
        // Answered: released, and the next step shows it.
        let state = state
            .reduce(TraceAction::Hold(Rc::default()))
            .reduce(TraceAction::Step(Toward::Next));
        assert_eq!(state.selected, Some(hold));
        assert_eq!(state.waiting_at(), None);
        // A filter that hides the event: replay goes on past it.
        let hidden = loaded(&[
            TraceAction::Hold(Rc::new(vec![hold])),
            TraceAction::FilterKind(crate::filter::KindFilter::Errors),
        ]);
        let hidden = hidden
            .reduce(TraceAction::Step(Toward::First))
            .reduce(TraceAction::Step(Toward::Last));
        assert_eq!(hidden.waiting_at(), None);
        assert!(hidden.selected > Some(hold));
        // Going back and forth again asks nothing.
        let state = state
            .reduce(TraceAction::Step(Toward::Prev))
            .reduce(TraceAction::Step(Toward::Next));
        assert_eq!(state.selected, Some(hold));
    }

    /// Answers are kept; answered moments no longer hold the replay.
    #[test]
    fn answers_release_their_holds() {
        let mut t = Builder::new();
        t.listening();
        t.handshake(1);
        t.send(Lane::Client, 1, "hi");
        t.recv(Lane::Server, 1, "hi");
        t.add(Lane::Client, Some(1), Step::Close);
        t.add(Lane::Server, Some(1), Step::RecvEof);
        t.add(Lane::Server, Some(1), Step::Close);
        let found = t.moments();
        let state = Rc::new(PredictState::default());
        assert_eq!(state.holds(&found).len(), found.len());
        let state = state.reduce(PredictAction::Answer {
            at: found[0].at,
            given: Given::Skipped,
        });
        assert_eq!(
            state.holds(&found),
            found[1..].iter().map(|m| m.at).collect::<Vec<_>>()
        );
        assert_eq!(
            found[0].answer.given_text(&Given::Skipped),
            "nothing (you skipped)"
        );
    }
}
