//! "Download my lab": the folder the handout asks students to hand in, as
//! one zip named from the student number (`E18123_Lab03.zip`, the pattern
//! set by the instructor with the bridge's `--submission-name`).
//!
//! ```text
//! Task01/server.py  client.py  output.txt  trace.svg  trace.mmd  summary.html
//! Task02/...
//! Task03/...
//! ```
//!
//! `summary.html` is one page per task, ready for the report: the task's
//! words from the handout, the sequence diagram, both programs and what
//! they printed. The page lists the files here; the zip itself is written
//! by fflate in `web/editor/zip.mjs` (see `lazy::zip_files`), stored
//! without compression (a few KB of text), loaded only when the student
//! asks for it so that the page does not carry a zip writer.

use crate::diagram;
use crate::export;
use crate::trace::Trace;

/// The pattern when the bridge names none.
pub const DEFAULT_PATTERN: &str = "{name}_Lab03.zip";

/// One task's folder.
#[derive(Debug, Clone)]
pub struct TaskFolder {
    /// 1, 2 or 3.
    pub task: u8,
    pub server: String,
    pub client: String,
    /// What the programs printed, `server.py` then `client.py`.
    pub output: String,
    pub trace: Trace,
}

/// The handout's words for each task (Lab Exercise 1-3).
pub fn handout_words(task: u8) -> &'static str {
    match task {
        1 => {
            "Create the codes for server.py and client.py, with comments for the code lines. \
              Run both codes (first the server, then the client) and observe the outputs."
        }
        2 => {
            "The initial code only creates a connection between server and client. Modify it \
              to send a message from the server to the client. The client should display the \
              message received."
        }
        _ => {
            "An echo server receives a message from a client and sends the same message back \
              to the client. Modify the code to create an echo server."
        }
    }
}

/// The zip's name: `pattern` with `{name}` replaced by the student number,
/// kept to letters, digits, `-` and `_` (a name with spaces or slashes
/// must not make a path).
pub fn zip_name(pattern: &str, name: &str) -> String {
    let safe: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = if safe.is_empty() {
        "student".into()
    } else {
        safe
    };
    let pattern = if pattern.contains("{name}") && pattern.ends_with(".zip") {
        pattern
    } else {
        DEFAULT_PATTERN
    };
    pattern.replace("{name}", &safe)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The task's summary page: self-contained HTML (no scripts, no links out).
pub fn summary_html(folder: &TaskFolder, name: &str, svg: &str) -> String {
    let task = folder.task;
    let output = if folder.output.is_empty() {
        "(no output yet: run the programs in the page)".to_string()
    } else {
        folder.output.clone()
    };
    let events = folder.trace.len();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Task {task:02}: {name}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}}\
         pre{{background:#f4f5f7;padding:.6rem;overflow-x:auto}}svg{{max-width:100%;height:auto}}</style>\
         </head><body>\n<h1>Task {task:02}</h1>\n<p>{name}</p>\n<p><em>{words}</em></p>\n\
         <h2>Sequence diagram ({events} events)</h2>\n{svg}\n\
         <h2>server.py</h2>\n<pre>{server}</pre>\n<h2>client.py</h2>\n<pre>{client}</pre>\n\
         <h2>Output</h2>\n<pre>{output}</pre>\n</body></html>\n",
        name = escape(name),
        words = escape(handout_words(task)),
        server = escape(&folder.server),
        client = escape(&folder.client),
        output = escape(&output),
    )
}

/// The zip's files, `(path, text)`: one folder per task.
pub fn files(folders: &[TaskFolder], name: &str) -> Vec<(String, String)> {
    let mut files = Vec::with_capacity(folders.len() * 6);
    for folder in folders {
        let dir = format!("Task{:02}", folder.task);
        let svg = diagram::to_svg(&diagram::layout(folder.trace.iter().map(|e| &**e)));
        let summary = summary_html(folder, name, &svg);
        let each = [
            ("server.py", folder.server.clone()),
            ("client.py", folder.client.clone()),
            ("output.txt", folder.output.clone()),
            ("trace.svg", svg),
            ("trace.mmd", export::to_mermaid(&folder.trace)),
            ("summary.html", summary),
        ];
        for (file, text) in each {
            files.push((format!("{dir}/{file}"), text));
        }
    }
    files
}

/// Offers `bytes` as a download named `filename`.
pub fn download(filename: &str, bytes: &js_sys::Uint8Array) {
    use wasm_bindgen::JsCast;
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let parts = js_sys::Array::of1(bytes);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/zip");
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Some(anchor) = document
        .create_element("a")
        .ok()
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        anchor.set_href(&url);
        anchor.set_download(filename);
        anchor.click();
    }
    // The download has started from the URL; freeing it at once can cut
    // it short in some browsers: free it a minute later.
    let later = gloo_timers::callback::Timeout::new(60_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    later.forget();
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Lane, Step, TraceEvent};

    fn folder(task: u8) -> TaskFolder {
        let mut trace = Trace::with_cap(100);
        trace.push(TraceEvent {
            at_us: 1,
            lane: Lane::Server,
            server: None,
            conn: None,
            server_conn: None,
            source: None,
            step: Step::Listen { backlog: 5 },
        });
        TaskFolder {
            task,
            server: format!("# task {task} server <ok>\n"),
            client: "import socket\n".into(),
            output: "Connection from ('127.0.0.1', 5) has been established.\n".into(),
            trace,
        }
    }

    #[test]
    fn the_name_comes_from_the_student_number() {
        assert_eq!(zip_name("{name}_Lab04.zip", " E18123 "), "E18123_Lab04.zip");
        assert_eq!(zip_name("{name}_Lab04.zip", "../x y"), "___x_y_Lab04.zip");
        assert_eq!(zip_name("lab.tar", "E1"), "E1_Lab03.zip");
        assert_eq!(zip_name(DEFAULT_PATTERN, ""), "student_Lab03.zip");
    }

    /// The zip holds every task's six files, the programs and output
    /// exactly, the summary escaped.
    #[test]
    fn the_zip_holds_every_tasks_folder() {
        let files = files(&[folder(1), folder(2), folder(3)], "E18123");
        let text = |path: &str| -> &str {
            let found = files.iter().find(|(p, _)| p == path);
            &found.unwrap_or_else(|| panic!("{path}")).1
        };
        let mut names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 18);
        assert_eq!(names[0], "Task01/client.py");
        assert_eq!(text("Task02/server.py"), "# task 2 server <ok>\n");
        let html = text("Task03/summary.html");
        assert!(html.contains("&lt;ok&gt;"), "escaped");
        assert!(html.contains("<svg"), "the diagram inline");
        assert!(html.contains("echo server"));
        assert!(text("Task01/trace.mmd").starts_with("sequenceDiagram"));
    }
}
