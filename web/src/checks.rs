//! "Check my task": the student's programs run against the lab's own, on
//! real sockets, then judged by the `course` crate.
//!
//! A check run goes in stages, each waiting on what the page sees (a run's
//! state, a `listen()` in the trace), each bounded in time:
//!
//! 1. Stop whatever runs; run the student's `server.py`.
//! 2. Once it listens, run the lab's own client (`lab/taskN/client.py`,
//!    as `lab_client.py`) against it, until that client ends.
//! 3. Stop both; run the lab's own server (`lab_server.py`).
//! 4. Once it listens, run the student's `client.py` against it (an
//!    `input()` is answered with a line, then an empty one), until it ends.
//! 5. Stop the lab's server; ask the bridge to judge its own trace of the
//!    run since step 1 ([`request`]): it runs `course::check` and answers
//!    with the checks ([`shown`] links them to the page's trace). The
//!    judging stays out of the page's wasm, and the verdict the
//!    instructor's list shows is the bridge's.
//!
//! The student sees it all happen: their programs' terminals fill, the
//! diagram draws both sides. [`CheckRun`] is the stages as a plain state
//! machine (the component `CheckPanel` drives it), so it is tested natively.

use crate::code::{CodeAction, CodeState, Run, Stream};
use crate::lab::Task;
use crate::trace::Trace;
use protocol::{CheckReport, ClientMsg, Lane};
use std::rc::Rc;

/// How long Python may take to start a program and reach `listen()` (the
/// first run loads Python itself).
const LISTEN_MS: f64 = 40_000.0;
/// How long a program may run against the other side before it is stopped
/// (the lab's client of Task 2 waits for a close that may never come).
const TALK_MS: f64 = 12_000.0;
/// How long stopping may take before the run goes on anyway.
const STOP_MS: f64 = 5_000.0;
/// How long the trace must stay still before the run is judged.
const STILL_MS: f64 = 600.0;

/// What the student's `input()` is answered with during a check: one line
/// to send, then an empty one (the usual "empty line ends" loop).
pub const INPUT_LINE: &str = "Hello from Check my task";

/// Where a check run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Stopping what ran before.
    Clearing,
    /// The student's server is starting.
    StudentServer,
    /// The lab's client talks to the student's server.
    LabClient,
    /// Stopping the student's server and the lab's client.
    ServerDone,
    /// The lab's server is starting.
    LabServer,
    /// The student's client talks to the lab's server.
    StudentClient,
    /// Stopping the lab's server.
    Finishing,
}

impl Stage {
    /// What the page says while the stage lasts.
    pub fn doing(self) -> &'static str {
        match self {
            Stage::Clearing => "Stopping your programs…",
            Stage::StudentServer => "Starting your server.py…",
            Stage::LabClient => "The lab's client is talking to your server.py…",
            Stage::ServerDone => "Stopping your server.py…",
            Stage::LabServer => "Starting the lab's server…",
            Stage::StudentClient => "Your client.py is talking to the lab's server…",
            Stage::Finishing => "Reading the trace…",
        }
    }
}

/// One check run in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRun {
    /// 1, 2 or 3.
    pub task: u8,
    pub stage: Stage,
    /// The trace's first event of this run (its `seq`).
    pub since: u64,
    /// When the stage began (ms, the page's clock).
    stage_at: f64,
    /// The program id of the run that was there before this stage started
    /// one, so an old run is not taken for the new one.
    before: Option<protocol::ProgramId>,
    /// `input()`s answered so far.
    answered: u32,
    /// The trace's length as last seen, and since when (ms): the trace
    /// reaches the page a little after the programs' replies, so the run
    /// is judged only once the trace has been still for a moment.
    seen_seq: u64,
    seen_at: f64,
}

/// The lab's task for a handout task number.
fn lab_task(task: u8) -> Task {
    match task {
        1 => Task::Connect,
        2 => Task::Greet,
        _ => Task::Echo,
    }
}

fn program_of(run: Option<&Run>) -> Option<protocol::ProgramId> {
    run.map(|r| r.program)
}

fn live(run: Option<&Run>) -> bool {
    run.is_some_and(|r| r.state.is_live())
}

impl CheckRun {
    /// Starts a check of `task`: what was running stops first.
    pub fn start(task: u8, since: u64, now_ms: f64) -> (CheckRun, Vec<CodeAction>) {
        let run = CheckRun {
            task,
            stage: Stage::Clearing,
            since,
            stage_at: now_ms,
            before: None,
            answered: 0,
            seen_seq: since,
            seen_at: now_ms,
        };
        let mut actions = vec![CodeAction::Open];
        actions.extend([
            CodeAction::Stop(Lane::Server),
            CodeAction::Stop(Lane::Client),
            CodeAction::StopLab(Lane::Server),
            CodeAction::StopLab(Lane::Client),
        ]);
        (run, actions)
    }

    fn enter(&mut self, stage: Stage, before: Option<protocol::ProgramId>, now_ms: f64) {
        self.stage = stage;
        self.stage_at = now_ms;
        self.before = before;
    }

    /// The run this stage started, once the page has it.
    fn started<'a>(&self, run: Option<&'a Run>) -> Option<&'a Run> {
        run.filter(|r| Some(r.program) != self.before)
    }

    /// One step: what to do now, given the code view's state. Returns the
    /// actions, and true once the run is over (then [`request`]). `next_seq`:
    /// the trace's [`Trace::next_seq`] now.
    pub fn advance(
        &mut self,
        code: &CodeState,
        next_seq: u64,
        now_ms: f64,
    ) -> (Vec<CodeAction>, bool) {
        if next_seq != self.seen_seq {
            self.seen_seq = next_seq;
            self.seen_at = now_ms;
        }
        let waited = now_ms - self.stage_at;
        let server = code.server.run.as_ref();
        let client = code.client.run.as_ref();
        let (lab_server, lab_client) = (code.lab_run(Lane::Server), code.lab_run(Lane::Client));
        let lab = lab_task(self.task);
        match self.stage {
            Stage::Clearing => {
                let quiet =
                    !live(server) && !live(client) && !live(lab_server) && !live(lab_client);
                if quiet || waited > STOP_MS {
                    self.enter(Stage::StudentServer, program_of(server), now_ms);
                    return (vec![CodeAction::Run(Lane::Server)], false);
                }
            }
            Stage::StudentServer => {
                let ours = self.started(server);
                if ours.is_some_and(|r| r.listened) {
                    self.enter(Stage::LabClient, program_of(lab_client), now_ms);
                    let source = Rc::from(lab.client_py());
                    return (
                        vec![CodeAction::RunLab {
                            lane: Lane::Client,
                            file: course::LAB_CLIENT,
                            source,
                        }],
                        false,
                    );
                }
                let ended = ours.is_some_and(|r| !r.state.is_live());
                if ended || waited > LISTEN_MS {
                    self.enter(Stage::ServerDone, None, now_ms);
                    return (vec![CodeAction::Stop(Lane::Server)], false);
                }
            }
            Stage::LabClient => {
                let ended = self.started(lab_client).is_some_and(|r| !r.state.is_live());
                // The student's server has a moment to see the client go
                // (recv() returns b'', close()) before it is stopped.
                let settled = now_ms - self.seen_at >= STILL_MS;
                if (ended && settled) || waited > TALK_MS {
                    self.enter(Stage::ServerDone, None, now_ms);
                    return (
                        vec![
                            CodeAction::StopLab(Lane::Client),
                            CodeAction::Stop(Lane::Server),
                        ],
                        false,
                    );
                }
            }
            Stage::ServerDone => {
                if (!live(server) && !live(lab_client)) || waited > STOP_MS {
                    self.enter(Stage::LabServer, program_of(lab_server), now_ms);
                    let source = Rc::from(lab.server_py());
                    return (
                        vec![CodeAction::RunLab {
                            lane: Lane::Server,
                            file: course::LAB_SERVER,
                            source,
                        }],
                        false,
                    );
                }
            }
            Stage::LabServer => {
                let ours = self.started(lab_server);
                let ready = ours.is_some_and(|r| r.listened);
                let ended = ours.is_some_and(|r| !r.state.is_live());
                if ready || ended || waited > LISTEN_MS {
                    self.enter(Stage::StudentClient, program_of(client), now_ms);
                    return (vec![CodeAction::Run(Lane::Client)], false);
                }
            }
            Stage::StudentClient => {
                let ours = self.started(client);
                if ours.is_some_and(|r| r.prompt.is_some()) {
                    let line = if self.answered == 0 { INPUT_LINE } else { "" };
                    self.answered += 1;
                    return (
                        vec![CodeAction::Answer(Lane::Client, line.to_string())],
                        false,
                    );
                }
                let ended = ours.is_some_and(|r| !r.state.is_live());
                if ended || waited > TALK_MS {
                    self.enter(Stage::Finishing, None, now_ms);
                    return (
                        vec![
                            CodeAction::Stop(Lane::Client),
                            CodeAction::StopLab(Lane::Server),
                        ],
                        false,
                    );
                }
            }
            Stage::Finishing => {
                let stopped = (!live(client) && !live(lab_server)) || waited > STOP_MS;
                if stopped && now_ms - self.seen_at >= STILL_MS {
                    return (Vec::new(), true);
                }
            }
        }
        (Vec::new(), false)
    }
}

/// A check as the page shows it: the verdict, and the trace event it is
/// about (its `seq`), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub check: CheckReport,
    pub seq: Option<u64>,
}

/// What a program printed, as a terminal shows it (stderr included).
fn printed(run: Option<&Run>) -> String {
    let mut out = String::new();
    for line in run.map(|r| r.output.lines()).unwrap_or_default() {
        if line.stream == Stream::Note {
            continue;
        }
        out.push_str(&line.text);
        out.push('\n');
    }
    out
}

/// The request that has the bridge judge a finished check run: the run's
/// first event (the bridge judges its own trace from there), the
/// student's programs, and what they printed.
pub fn request(task: u8, since: u64, trace: &Trace, code: &CodeState) -> ClientMsg {
    // No event since the run began: nothing for the bridge to read.
    let from_us = trace
        .iter()
        .find(|e| e.seq >= since)
        .map_or(u64::MAX, |e| e.event.at_us);
    ClientMsg::CheckTask {
        task,
        from_us,
        server_py: code.server.text.to_string(),
        client_py: code.client.text.to_string(),
        server_output: printed(code.server.run.as_ref()),
        client_output: printed(code.client.run.as_ref()),
    }
}

/// The bridge's checks, each linked to the event of the page's trace it is
/// about (the run's event with its time).
pub fn shown(checks: &[CheckReport], since: u64, trace: &Trace) -> Vec<Shown> {
    checks
        .iter()
        .map(|check| Shown {
            seq: check.at_us.and_then(|at_us| {
                trace
                    .iter()
                    .find(|e| e.seq >= since && e.event.at_us == at_us)
                    .map(|e| e.seq)
            }),
            check: check.clone(),
        })
        .collect()
}

/// Where the latest verdicts are kept (`socket-lab.checks`), so a reload
/// shows them again: the task and the bridge's checks, as JSON.
pub const SAVED_CHECKS: &str = "checks";

/// The JSON [`SAVED_CHECKS`] keeps for `task`'s `checks`: the bridge's own
/// `task_checks` message, so the page's one small reader
/// ([`crate::wire`]) reads it back (serde's derived reader for it would
/// add 15 KB to the page).
pub fn kept_json(task: u8, checks: &[CheckReport]) -> String {
    let checks = serde_json::to_string(checks).unwrap_or_else(|_| "[]".to_string());
    format!(r#"{{"type":"task_checks","task":{task},"checks":{checks}}}"#)
}

/// The task and checks in kept JSON; `None` for nothing kept (an empty
/// string: a check was started since) or text that is not ours.
pub fn from_kept_json(json: &str) -> Option<(u8, Vec<CheckReport>)> {
    match crate::wire::server_msg(json).ok()? {
        protocol::ServerMsg::TaskChecks { task, checks } if (1..=3).contains(&task) => {
            Some((task, checks))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::RunState;

    /// The verdicts kept for a reload come back as they were; nothing kept
    /// (a check started since) and text that is not ours give none.
    #[test]
    fn kept_verdicts_come_back() {
        let checks = vec![CheckReport {
            side: Lane::Server,
            title: "Your server accepts a client".into(),
            passed: false,
            expected: "accept() returns a connection".into(),
            happened: "no client connected".into(),
            line: Some(11),
            at_us: Some(1234),
        }];
        let json = kept_json(3, &checks);
        assert_eq!(from_kept_json(&json), Some((3, checks)));
        assert_eq!(from_kept_json(""), None);
        assert_eq!(
            from_kept_json(r#"{"type":"task_checks","task":9,"checks":[]}"#),
            None
        );
        assert_eq!(from_kept_json("not json"), None);
    }

    fn state(code: &mut CodeState, lane: Lane, lab: bool, state: RunState) {
        let program = if lab {
            code.lab_run(lane).map(|r| r.program)
        } else {
            code.file(lane).run.as_ref().map(|r| r.program)
        };
        code.apply(
            CodeAction::State {
                program: program.expect("a run"),
                state,
                failure: None,
            },
            true,
        );
    }

    fn apply(code: &mut CodeState, actions: Vec<CodeAction>) {
        for action in actions {
            code.apply(action, true);
        }
    }

    fn listened(code: &mut CodeState, lane: Lane, lab: bool) {
        let program = if lab {
            code.lab_run(lane).map(|r| r.program)
        } else {
            code.file(lane).run.as_ref().map(|r| r.program)
        };
        code.on_trace(&protocol::TraceEvent {
            at_us: 0,
            lane,
            server: None,
            conn: None,
            server_conn: None,
            source: Some(protocol::Source {
                program: program.expect("a run"),
                file: "x.py".into(),
                line: 4,
            }),
            step: protocol::Step::Listen { backlog: 5 },
        });
    }

    /// A check runs the student's server, then the lab's client, then the
    /// lab's server, then the student's client (answering its input()),
    /// each when the one before is ready, and ends once all have stopped.
    #[test]
    fn the_stages_follow_the_programs() {
        let mut code = CodeState::default();
        let (mut run, actions) = CheckRun::start(3, 10, 0.0);
        apply(&mut code, actions);
        let (actions, done) = run.advance(&code, 0, 1.0);
        assert!(!done);
        assert_eq!(actions, vec![CodeAction::Run(Lane::Server)]);
        apply(&mut code, actions);
        assert_eq!(run.stage, Stage::StudentServer);
        // Nothing until the student's server listens.
        assert!(run.advance(&code, 0, 2.0).0.is_empty());
        listened(&mut code, Lane::Server, false);
        let (actions, _) = run.advance(&code, 0, 3.0);
        assert!(matches!(
            &actions[..],
            [CodeAction::RunLab { lane: Lane::Client, file: "lab_client.py", source }]
                if source.contains("Messages")
        ));
        apply(&mut code, actions);
        state(&mut code, Lane::Client, true, RunState::Exited);
        // The server gets a moment to close after the client has gone.
        let (actions, _) = run.advance(&code, 0, 4.0);
        assert!(actions.is_empty());
        let (actions, _) = run.advance(&code, 0, 1004.0);
        assert_eq!(run.stage, Stage::ServerDone);
        apply(&mut code, actions);
        state(&mut code, Lane::Server, false, RunState::Stopped);
        let (actions, _) = run.advance(&code, 0, 1005.0);
        assert!(matches!(
            &actions[..],
            [CodeAction::RunLab {
                lane: Lane::Server,
                file: "lab_server.py",
                ..
            }]
        ));
        apply(&mut code, actions);
        listened(&mut code, Lane::Server, true);
        let (actions, _) = run.advance(&code, 0, 1006.0);
        assert_eq!(actions, vec![CodeAction::Run(Lane::Client)]);
        apply(&mut code, actions);
        code.apply(
            CodeAction::Input {
                program: code.client.run.as_ref().map(|r| r.program).expect("a run"),
                prompt: "> ".into(),
            },
            true,
        );
        let (actions, _) = run.advance(&code, 0, 1007.0);
        assert_eq!(
            actions,
            vec![CodeAction::Answer(Lane::Client, INPUT_LINE.into())]
        );
        apply(&mut code, actions);
        state(&mut code, Lane::Client, false, RunState::Exited);
        let (actions, done) = run.advance(&code, 0, 1008.0);
        assert!(!done);
        assert_eq!(run.stage, Stage::Finishing);
        apply(&mut code, actions);
        state(&mut code, Lane::Server, true, RunState::Stopped);
        // Judged once the trace has been still for a moment.
        let quiet_since = 1008.0;
        run.advance(&code, 1, quiet_since);
        assert_eq!(run.advance(&code, 1, 1009.0), (Vec::new(), false));
        assert_eq!(
            run.advance(&code, 1, quiet_since + STILL_MS),
            (Vec::new(), true)
        );
    }

    /// A student's server that never listens does not hold the check up:
    /// after the bound, the check moves on to the client half.
    #[test]
    fn a_server_that_never_listens_is_given_up_on() {
        let mut code = CodeState::default();
        let (mut run, actions) = CheckRun::start(1, 0, 0.0);
        apply(&mut code, actions);
        let (actions, _) = run.advance(&code, 0, 1.0);
        apply(&mut code, actions);
        assert!(run.advance(&code, 0, 1000.0).0.is_empty());
        let (actions, _) = run.advance(&code, 0, 1.0 + LISTEN_MS + 1.0);
        assert_eq!(run.stage, Stage::ServerDone);
        assert_eq!(actions, vec![CodeAction::Stop(Lane::Server)]);
    }
}
