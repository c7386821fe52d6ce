//! Nothing lost on reload: the trace and the task are kept in the browser
//! (`localStorage`) as the student works, and put back when the page opens
//! again, with a notice saying what came back. (The programs' text, the
//! student's name and the latest check's verdicts are kept by the code
//! view, the name box and the check panel.)
//!
//! `localStorage` holds a few megabytes per site, shared with everything
//! else the page keeps: the trace kept is the newest [`KEPT_EVENTS`]
//! events, at most [`KEPT_BYTES`] of JSON, so a long session never fills
//! it (older events are dropped first, and the notice says so).

use crate::browser;
use crate::components::SAVED_NAME;
use crate::lab::Task;
use crate::session::NoticeKind;
use crate::state::LabState;
use crate::trace::Trace;
use protocol::TraceEvent;

/// Where the trace is kept (`socket-lab.trace`), as a JSON array.
pub const SAVED_TRACE: &str = "trace";
/// Where the task is kept.
pub const SAVED_TASK: &str = "task";
/// The most events kept.
pub const KEPT_EVENTS: usize = 2_000;
/// The most bytes of JSON kept for the trace.
pub const KEPT_BYTES: usize = 1024 * 1024;

/// The newest events of `trace` that fit [`KEPT_EVENTS`] and
/// [`KEPT_BYTES`], as a JSON array (oldest first), and how many older
/// events were left out.
pub fn trace_json(trace: &Trace) -> (String, usize) {
    let mut kept: Vec<String> = Vec::new();
    let mut bytes = 2;
    for entry in trace.iter().rev() {
        if kept.len() == KEPT_EVENTS {
            break;
        }
        let Ok(json) = serde_json::to_string(&entry.event) else {
            continue;
        };
        if bytes + json.len() + 1 > KEPT_BYTES {
            break;
        }
        bytes += json.len() + 1;
        kept.push(json);
    }
    let left_out = trace.len() - kept.len();
    kept.reverse();
    (format!("[{}]", kept.join(",")), left_out)
}

/// Keeps the trace (only when it changed since `last_saved`: its next
/// event number and length then) and the task. Returns the trace's mark
/// now, for the next call.
pub fn save(trace: &Trace, task: Task, last_saved: (u64, usize)) -> (u64, usize) {
    browser::save_pref(SAVED_TASK, task.value());
    let mark = (trace.next_seq(), trace.len());
    if mark != last_saved {
        let (json, _) = trace_json(trace);
        browser::save_pref(SAVED_TRACE, &json);
    }
    mark
}

/// What came back, in words: `"your name (E18123), 42 trace events and
/// Task 3"`; `None` when nothing did.
fn restored_words(name: Option<&str>, events: usize, task: Option<Task>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(name) = name {
        parts.push(format!("your name ({name})"));
    }
    match events {
        0 => {}
        1 => parts.push("1 trace event".to_string()),
        n => parts.push(format!("{n} trace events")),
    }
    if let Some(task) = task {
        parts.push(format!("the task ({})", task.title()));
    }
    let last = parts.pop()?;
    Some(if parts.is_empty() {
        last
    } else {
        format!("{} and {last}", parts.join(", "))
    })
}

/// Puts back what was kept into a page that is opening: the task and
/// the trace, and a notice saying what came back (the name, the trace,
/// the task, the programs). A trace that cannot be read is said so and
/// dropped; nothing else is lost.
pub fn restore(state: &mut LabState) {
    let task = browser::load_pref(SAVED_TASK).and_then(|value| Task::from_value(&value));
    if let Some(task) = task {
        state.session.task = task;
    }
    let events: Vec<TraceEvent> = match browser::load_pref(SAVED_TRACE) {
        None => Vec::new(),
        Some(json) => match crate::wire::events_from_json(&json) {
            Ok(events) => events,
            Err(err) => {
                state.session.notify(
                    NoticeKind::Error,
                    "The saved trace could not be read",
                    format!("It was left out ({err}); your programs and name are kept."),
                    None,
                );
                Vec::new()
            }
        },
    };
    let count = events.len();
    for event in events {
        state.view.trace.push(event);
    }
    let name = browser::load_pref(SAVED_NAME);
    let task = task.filter(|task| *task != Task::default() || count > 0);
    if let Some(words) = restored_words(name.as_deref(), count, task) {
        let programs = if state.code.restored {
            " Your programs are as you left them."
        } else {
            ""
        };
        let checked = browser::load_pref(crate::checks::SAVED_CHECKS)
            .and_then(|json| crate::checks::from_kept_json(&json))
            .map(|(task, _)| format!(" Your last check of Task {task} is shown again."))
            .unwrap_or_default();
        state.session.notify(
            NoticeKind::Info,
            "Restored from this browser",
            format!("Back: {words}.{programs}{checked} New events follow the restored ones."),
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Lane, Step};

    fn event(at_us: u64, bytes: usize) -> TraceEvent {
        TraceEvent {
            at_us,
            lane: Lane::Client,
            server: None,
            conn: Some(1),
            server_conn: None,
            source: None,
            step: Step::Send {
                data: protocol::Bytes(vec![b'x'; bytes]),
            },
        }
    }

    /// The newest events are kept, within the byte bound, oldest first.
    #[test]
    fn the_newest_events_are_kept_within_the_bounds() {
        let mut trace = Trace::with_cap(10_000);
        for at in 0..3_000 {
            trace.push(event(at, 10));
        }
        let (json, left_out) = trace_json(&trace);
        let kept: Vec<TraceEvent> = serde_json::from_str(&json).expect("an array");
        assert_eq!((kept.len(), left_out), (KEPT_EVENTS, 1_000));
        assert_eq!(kept.first().map(|e| e.at_us), Some(1_000));
        assert_eq!(kept.last().map(|e| e.at_us), Some(2_999));

        let mut big = Trace::with_cap(10_000);
        for at in 0..100 {
            big.push(event(at, 64 * 1024));
        }
        let (json, left_out) = trace_json(&big);
        assert!(json.len() <= KEPT_BYTES, "{}", json.len());
        assert!(left_out > 0);
        let kept: Vec<TraceEvent> = serde_json::from_str(&json).expect("an array");
        assert_eq!(kept.last().map(|e| e.at_us), Some(99));
    }

    #[test]
    fn what_was_restored_is_said_plainly() {
        assert_eq!(restored_words(None, 0, None), None);
        assert_eq!(
            restored_words(Some("E18123"), 42, Some(Task::Echo)).as_deref(),
            Some("your name (E18123), 42 trace events and the task (Task 3: echo server)")
        );
        assert_eq!(
            restored_words(None, 1, None).as_deref(),
            Some("1 trace event")
        );
    }
}
