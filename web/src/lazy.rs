//! The parts of the page loaded only when the student opens the code view:
//! the editor (`dist/editor/editor.js`, CodeMirror 6, bundled at set-up
//! from `web/editor/editor.mjs`) and the Python runner
//! (`dist/py/runner.mjs`, which starts Pyodide in Web Workers).
//!
//! "Download my lab"'s zip writer (`dist/editor/zip.js`, fflate) is
//! loaded the same way, on the first click of that button.
//!
//! All are ES modules fetched with a dynamic `import()` of a path relative
//! to the page (never `/`-absolute), so the page also works under a path
//! prefix such as `https://host/co223/`. Neither is part of the page's own
//! weight: a student who never opens the code view never downloads them.
//!
//! This module only declares what the page calls on them; the hooks
//! (`hooks::use_code_view`) and the editor component use it.

use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Where the editor bundle is, relative to the page.
pub const EDITOR_MODULE: &str = "editor/editor.js";
/// The code view's stylesheet, beside the editor.
pub const CODE_VIEW_CSS: &str = "editor/codeview.css";
/// Where the runner is, relative to the page.
pub const RUNNER_MODULE: &str = "py/runner.mjs";
/// The instructor's page, a wasm of its own (the `instructor` binary, built
/// by trunk into `dist/instructor/`), loaded only for `/?instructor=TOKEN`.
pub const INSTRUCTOR_MODULE: &str = "instructor/instructor.js";
/// "Download my lab"'s zip writer (fflate, bundled at set-up from
/// `web/editor/zip.mjs`), loaded on the first click of that button.
pub const ZIP_MODULE: &str = "editor/zip.js";

#[wasm_bindgen(inline_js = r#"
export function import_page_relative(path) {
  // Relative to the page, not to this snippet's own URL.
  return import(new URL(path, document.baseURI).href);
}
// The code view's stylesheet comes with it, not with the page.
export function add_stylesheet(path) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL(path, document.baseURI).href;
  document.head.append(link);
}
// The runner's five callbacks, as one: `event(kind, program, a, b)` with
// kind 0 output (stream, text), 1 input (prompt, resolve), 2 state
// (state, detail), 3 a message a program sent by itself (json). One
// closure type costs the page less than five. `channel`: where programs
// are attached to the bridge's socket directly (or null).
export function runner_options(send, event, channel) {
  return {
    send,
    channel,
    onSent: (program, json) => { event(3, program, json, null); },
    onOutput: (program, stream, text) => { event(0, program, stream, text); },
    onInput: (program, prompt) => new Promise((resolve) => event(1, program, prompt, resolve)),
    onState: (program, state, detail) => { event(2, program, state, detail ?? null); },
  };
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn import_page_relative(path: &str) -> Result<js_sys::Promise, JsValue>;
    fn add_stylesheet(path: &str);
    /// The runner's options (see the top of `web/py/runner.mjs`) from two
    /// closures, `send(json)` and `event(kind, program, a, b)`, and the
    /// channel of the bridge's socket worker (or null).
    pub fn runner_options(send: &JsValue, event: &JsValue, channel: &JsValue) -> JsValue;
}

/// What `event` of [`runner_options`] was told.
pub const OUTPUT: u32 = 0;
pub const INPUT: u32 = 1;
pub const STATE: u32 = 2;
/// A program's message that went to the bridge by itself (not by `send`).
pub const SENT: u32 = 3;

#[wasm_bindgen]
extern "C" {
    /// `web/editor/editor.mjs` once imported.
    #[derive(Clone)]
    pub type EditorModule;
    #[wasm_bindgen(method, catch, js_name = createEditor)]
    fn create_editor(
        this: &EditorModule,
        parent: &web_sys::Element,
        options: &JsValue,
    ) -> Result<Editor, JsValue>;

    /// One editor, mounted in an element of the page.
    #[derive(Clone)]
    pub type Editor;
    #[wasm_bindgen(method)]
    pub fn text(this: &Editor) -> String;
    #[wasm_bindgen(method, js_name = setText)]
    pub fn set_text(this: &Editor, text: &str);
    /// Highlights line `line` (1-based) and scrolls to it; 0 clears.
    #[wasm_bindgen(method, js_name = markLine)]
    pub fn mark_line(this: &Editor, line: u32);
    /// A sentence under line `line`; 0 clears.
    #[wasm_bindgen(method, js_name = setNote)]
    pub fn set_note(this: &Editor, line: u32, text: &str);
    #[wasm_bindgen(method)]
    pub fn destroy(this: &Editor);

    /// `web/py/runner.mjs` once imported.
    #[derive(Clone)]
    pub type RunnerModule;
    #[wasm_bindgen(method, catch, js_name = createRunner)]
    fn create_runner(this: &RunnerModule, options: &JsValue) -> Result<js_sys::Promise, JsValue>;

    /// The runner: runs programs in workers, one per program.
    #[derive(Clone)]
    pub type Runner;
    /// `{ mode: "atomics" | "jspi" | "none", reason }`.
    #[wasm_bindgen(method, getter)]
    pub fn capability(this: &Runner) -> JsValue;
    #[wasm_bindgen(method, catch)]
    pub fn run(this: &Runner, options: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    pub fn stop(this: &Runner, program: u32) -> Result<JsValue, JsValue>;
    /// Hands the runner a `sock_reply` (to `call`) or `program_ended` (no
    /// call) from the bridge, for `program`.
    #[wasm_bindgen(method, catch)]
    pub fn deliver(
        this: &Runner,
        json: &str,
        program: protocol::ProgramId,
        call: Option<f64>,
    ) -> Result<JsValue, JsValue>;
    /// Starts a spare interpreter now, so the student's first Run starts
    /// warm (a promise; a failure shows at Run, where it is explained).
    #[wasm_bindgen(method, catch)]
    pub fn warm(this: &Runner) -> Result<js_sys::Promise, JsValue>;

    /// `web/editor/zip.mjs` once imported.
    pub type ZipModule;
    #[wasm_bindgen(method, catch, js_name = zipFiles)]
    fn zip_files(
        this: &ZipModule,
        paths: Vec<String>,
        texts: Vec<String>,
    ) -> Result<js_sys::Uint8Array, JsValue>;
}

thread_local! {
    static EDITOR: RefCell<Option<EditorModule>> = const { RefCell::new(None) };
}

/// A JavaScript error in plain words (its message, not `[object Error]`).
pub fn js_error_text(error: &JsValue) -> String {
    if let Some(error) = error.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    error
        .as_string()
        .unwrap_or_else(|| "unknown error".to_string())
}

async fn import(path: &str) -> Result<JsValue, String> {
    let promise = import_page_relative(path).map_err(|e| js_error_text(&e))?;
    JsFuture::from(promise)
        .await
        .map_err(|e| format!("could not load {path}: {}", js_error_text(&e)))
}

/// Loads the editor module (once; later calls return at once).
pub async fn load_editor() -> Result<(), String> {
    if editor_module().is_some() {
        return Ok(());
    }
    add_stylesheet(CODE_VIEW_CSS);
    let module: EditorModule = import(EDITOR_MODULE).await?.unchecked_into();
    EDITOR.with(|e| *e.borrow_mut() = Some(module));
    Ok(())
}

/// The editor module, once loaded.
pub fn editor_module() -> Option<EditorModule> {
    EDITOR.with(|e| e.borrow().clone())
}

/// Mounts an editor in `parent` holding `text`; `on_change` gets the whole
/// text after each change. The closure must live as long as the editor.
pub fn create_editor(
    parent: &web_sys::Element,
    text: &str,
    label: &str,
    on_change: &Closure<dyn FnMut(String)>,
) -> Result<Editor, String> {
    let module = editor_module().ok_or("the editor is not loaded")?;
    let options = js_sys::Object::new();
    let set = |key: &str, value: &JsValue| {
        let _ = js_sys::Reflect::set(&options, &JsValue::from_str(key), value);
    };
    set("doc", &JsValue::from_str(text));
    set("label", &JsValue::from_str(label));
    set("onChange", on_change.as_ref());
    module
        .create_editor(parent, &options)
        .map_err(|e| js_error_text(&e))
}

/// The zip file holding `files` (path, text), written by the zip module,
/// which is imported on the first call.
pub async fn zip_files(files: Vec<(String, String)>) -> Result<js_sys::Uint8Array, String> {
    let module: ZipModule = import(ZIP_MODULE).await?.unchecked_into();
    let (paths, texts) = files.into_iter().unzip();
    module
        .zip_files(paths, texts)
        .map_err(|e| js_error_text(&e))
}

/// Imports the instructor's page and starts it (wasm-bindgen's `init`,
/// which fetches `instructor_bg.wasm` beside the module and runs its
/// `main`).
pub async fn load_instructor() -> Result<(), String> {
    let module = import(INSTRUCTOR_MODULE).await?;
    let init: js_sys::Function = js_sys::Reflect::get(&module, &JsValue::from_str("default"))
        .ok()
        .and_then(|init| init.dyn_into().ok())
        .ok_or("its module has no init")?;
    let started = init
        .call0(&JsValue::UNDEFINED)
        .map_err(|e| js_error_text(&e))?;
    JsFuture::from(js_sys::Promise::resolve(&started))
        .await
        .map_err(|e| js_error_text(&e))?;
    Ok(())
}

/// Says in the page's body why it could not start.
pub fn show_page_failure(text: &str) {
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        body.set_text_content(Some(text));
    }
}

/// Imports the runner module and creates the runner with these callbacks
/// (their contract is at the top of `web/py/runner.mjs`).
pub async fn create_runner(options: &JsValue) -> Result<Runner, String> {
    let module: RunnerModule = import(RUNNER_MODULE).await?.unchecked_into();
    let promise = module
        .create_runner(options)
        .map_err(|e| format!("could not start Python: {}", js_error_text(&e)))?;
    let runner = JsFuture::from(promise)
        .await
        .map_err(|e| format!("could not start Python: {}", js_error_text(&e)))?;
    Ok(runner.unchecked_into())
}
