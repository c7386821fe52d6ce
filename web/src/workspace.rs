//! Tasks as workspaces: Task 1, 2 and 3 each keep their own `server.py`
//! and `client.py` (and, for the submission, what they printed and the
//! task's trace), in the browser's `localStorage`.
//!
//! The code view always shows the current task's files. Choosing another
//! task keeps the files of the one left and brings the other's: Task 1
//! starts from the handout's code; Tasks 2 and 3 start from the student's
//! own Task 1, as the handout says ("modify the above code"). The
//! handout's code is always one button away.

use crate::browser;
use crate::code::{CodeState, HANDOUT_CLIENT, HANDOUT_SERVER, Stream};
use crate::keep;
use crate::lab::Task;
use crate::submission::TaskFolder;
use crate::trace::Trace;
use protocol::{Lane, TraceEvent};

/// The handout's task number of a task of the page (UDP is not one).
pub fn number(task: Task) -> Option<u8> {
    match task {
        Task::Connect => Some(1),
        Task::Greet => Some(2),
        Task::Echo => Some(3),
        Task::Udp => None,
    }
}

fn key(task: u8, what: &str) -> String {
    format!("task{task}.{what}")
}

/// Where a task's files came from, to say it on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The student's own, kept for this task.
    Own,
    /// Copied from the student's Task 1 (first visit of Task 2 or 3).
    FromTask1,
    /// The handout's code.
    Handout,
}

/// The files to show for `task`, and where they came from.
pub fn files_for(task: u8) -> (String, String, Origin) {
    let saved = |n: u8| {
        Some((
            browser::load_pref(&key(n, "server.py"))?,
            browser::load_pref(&key(n, "client.py"))?,
        ))
    };
    if let Some((server, client)) = saved(task) {
        return (server, client, Origin::Own);
    }
    if task != 1
        && let Some((server, client)) = saved(1)
    {
        return (server, client, Origin::FromTask1);
    }
    (
        HANDOUT_SERVER.to_string(),
        HANDOUT_CLIENT.to_string(),
        Origin::Handout,
    )
}

/// What the programs printed: `server.py`'s latest run, then `client.py`'s.
pub fn output_of(code: &CodeState) -> String {
    let mut out = String::new();
    for lane in [Lane::Server, Lane::Client] {
        let file = code.file(lane);
        let Some(run) = &file.run else {
            continue;
        };
        out.push_str(&format!("$ python3 {}\n", file.file()));
        for line in run.output.lines() {
            if line.stream == Stream::Stderr {
                out.push_str("! ");
            }
            out.push_str(&line.text);
            out.push('\n');
        }
    }
    out
}

/// The events of `trace` numbered `since` or later: the task's own.
pub fn trace_since(trace: &Trace, since: u64) -> Trace {
    let mut own = Trace::with_cap(trace.cap());
    for entry in trace.iter().filter(|e| e.seq >= since) {
        own.push(entry.event.clone());
    }
    own
}

/// Keeps `task`'s files, output and trace (from the page now).
pub fn keep_task(task: u8, code: &CodeState, trace: &Trace) {
    browser::save_pref(&key(task, "server.py"), &code.file(Lane::Server).text);
    browser::save_pref(&key(task, "client.py"), &code.file(Lane::Client).text);
    let output = output_of(code);
    if !output.is_empty() {
        browser::save_pref(&key(task, "output"), &output);
    }
    let (json, _) = keep::trace_json(trace);
    browser::save_pref(&key(task, "trace"), &json);
}

/// A task's folder as kept (for a task other than the current one).
pub fn kept_folder(task: u8) -> TaskFolder {
    let (server, client, _) = files_for(task);
    let mut trace = Trace::with_cap(keep::KEPT_EVENTS);
    let events: Vec<TraceEvent> = browser::load_pref(&key(task, "trace"))
        .and_then(|json| crate::wire::events_from_json(&json).ok())
        .unwrap_or_default();
    for event in events {
        trace.push(event);
    }
    TaskFolder {
        task,
        server,
        client,
        output: browser::load_pref(&key(task, "output")).unwrap_or_default(),
        trace,
    }
}

/// The current task's folder, from the page.
pub fn live_folder(task: u8, code: &CodeState, trace: &Trace) -> TaskFolder {
    // No run since the reload: what was kept of the last one.
    let output = match output_of(code) {
        now if now.is_empty() => browser::load_pref(&key(task, "output")).unwrap_or_default(),
        now => now,
    };
    TaskFolder {
        task,
        server: code.file(Lane::Server).text.to_string(),
        client: code.file(Lane::Client).text.to_string(),
        output,
        trace: trace.clone(),
    }
}
