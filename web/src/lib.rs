//! Socket Lab's page: the lab's client, and the views of what its sockets
//! did, drawn from the bridge's trace.
//!
//! # Layout
//!
//! - [`app`]: the page; holds the state and lays out the components.
//! - [`instructor_app`]: the instructor's page (`/?instructor=TOKEN`):
//!   every session live, one followed and projected to the class.
//! - [`state`]: the student's page's state, one reducer made of parts,
//!   changed only by `Action`s:
//!   - [`session`]: the student's session (the socket, servers, clients,
//!     notices, the commands for the bridge);
//!   - [`trace_view`]: a view of a trace (the trace, its filter, the
//!     selection, replay), shared with the instructor's page;
//!   - [`prefs`]: projector mode and the theme.
//! - [`instructor`]: the instructor's view's own reducer (its sessions, the
//!   one followed, its connection, and the followed session's `TraceView`).
//! - [`trace`]: the recorded events, cheap to append, with their arrows.
//! - [`filter`]: which events the log shows.
//! - [`diagram`]: the sequence diagram's geometry, and SVG export.
//! - [`export`]: JSON and Mermaid export, and loading a trace file.
//! - [`lab`]: the lab's Python programs and which line makes which call.
//! - [`code`]: the code view's state: the student's own `server.py` and
//!   `client.py`, their runs and output, and what the page says about them.
//! - [`lazy`]: the parts loaded only when the code view opens: the
//!   editor (CodeMirror) and the Python runner (Pyodide in Web Workers).
//! - [`format`]: times, directions and byte previews as the page writes them.
//! - [`predict`]: predict, then observe: the questions replay asks before
//!   telling moments of a trace, found by rules in its real events.
//! - [`sample`]: a small recorded trace (`?demo`).
//! - [`wire`]: the bridge's messages and trace files read with one small reader.
//! - [`browser`]: the few browser calls (downloads, files, the address bar).
//! - [`hooks`]: `use_bridge` (the student's WebSocket), `use_watch` (the
//!   instructor's: with `use_bridge`, the only network code) and
//!   `use_interval` (replay, and the instructor's clock).
//! - [`components`]: one component per file; they only dispatch actions.
//!
//! Everything but `app`, `instructor_app`, `browser`, `lazy`, `hooks` and
//! `components` is plain Rust, tested natively with `cargo test -p web`.

pub mod app;
pub mod browser;
pub mod checks;
pub mod code;
pub mod components;
pub mod diagram;
pub mod export;
pub mod filter;
pub mod format;
pub mod hooks;
pub mod instructor;
pub mod instructor_app;
pub mod keep;
pub mod lab;
pub mod lazy;
pub mod predict;
pub mod prefs;
pub mod sample;
pub mod session;
pub mod state;
pub mod submission;
pub mod trace;
pub mod trace_view;
pub mod wire;
pub mod workspace;

pub use app::App;
pub use instructor_app::InstructorApp;

/// Shows the student's page, or for `/?instructor=TOKEN` loads the
/// instructor's (a wasm of its own, `dist/instructor/`: students never
/// download its code, and the student's page stays small).
pub fn start() {
    if browser::query("instructor").is_some() {
        wasm_bindgen_futures::spawn_local(async {
            if let Err(why) = lazy::load_instructor().await {
                lazy::show_page_failure(&format!("The instructor's view could not load: {why}"));
            }
        });
    } else {
        yew::Renderer::<App>::new().render();
    }
}

/// The instructor's page: the entry point of the `instructor` wasm.
pub fn start_instructor() {
    yew::Renderer::<InstructorApp>::new().render();
}
