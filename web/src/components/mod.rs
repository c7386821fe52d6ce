//! The page's components, one per file. Each takes what it shows as props
//! and reports what the student (or the instructor) did through an `on*`
//! callback.

mod code_editor;
mod code_panel;
mod code_view;
mod composer;
mod diagram_dot;
mod diagram_row;
mod event_detail;
mod event_log;
mod event_row;
mod export_bar;
mod filter_bar;
mod header;
mod instructor_header;
mod lab_controls;
mod notices;
mod playback_bar;
mod program_output;
mod program_pane;
mod sequence_diagram;
mod session_bar;
mod session_list;
mod session_row;
mod status_badge;
mod student_name;
mod task_panel;
mod trace_views;
mod watch_problem;

pub use code_editor::CodeEditor;
pub use code_panel::{CodePanel, StudentCode};
pub use code_view::CodeView;
pub use composer::Composer;
pub use diagram_dot::DiagramDot;
pub use diagram_row::DiagramRow;
pub use event_detail::EventDetail;
pub use event_log::EventLog;
pub use event_row::EventRow;
pub use export_bar::ExportBar;
pub use filter_bar::FilterBar;
pub use header::Header;
pub use instructor_header::InstructorHeader;
pub use lab_controls::LabControls;
pub use notices::Notices;
pub use playback_bar::PlaybackBar;
pub use program_output::ProgramOutput;
pub use program_pane::ProgramPane;
pub use sequence_diagram::SequenceDiagram;
pub use session_bar::SessionBar;
pub use session_list::SessionList;
pub use session_row::SessionRow;
pub use status_badge::StatusBadge;
pub use student_name::{SAVED_NAME, StudentName, saved_name_msg};
pub use task_panel::TaskPanel;
pub use trace_views::TraceViews;
pub use watch_problem::WatchProblemBox;
