//! Accessibility, checked in the real browser: axe-core (the engine behind
//! Lighthouse's and Chrome DevTools' accessibility audits) run in the page
//! as it is now, and what Chromium's own accessibility tree (what a screen
//! reader is given) says about an element.
//!
//! From the top: a test puts the page in the state a user meets, then
//!
//! ```ignore
//! browser.assert_accessible("student page, mid-trace").await;
//! ```
//!
//! fails on any violation of impact "serious" or "critical", printing each
//! with its elements and help text, and lists the lesser ones in the
//! output. [`Browser::accessible_text`] and [`Browser::focused`] read the
//! accessibility tree over the Chrome DevTools Protocol (chromedriver's
//! `goog/cdp/execute`), for the checks a machine rule cannot make: the
//! focus order and what a screen reader says for a row.
//!
//! axe-core is the npm package `axe-core`, installed by
//! `scripts/setup.sh test` into `.tools/` (or point `AXE_CORE_JS` at an
//! `axe.min.js`).

use crate::browser::Browser;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long one axe-core run may take: a long trace is thousands of
/// elements, and the machine may be busy.
const AXE_PATIENCE: Duration = Duration::from_secs(120);

/// Impacts that fail a test; "moderate" and "minor" are listed only.
const BLOCKING: [&str; 2] = ["serious", "critical"];

/// One rule axe-core found broken, and where.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    /// The rule, e.g. `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for, in a sentence.
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    pub nodes: Vec<ViolationNode>,
}

/// One element that breaks a rule.
#[derive(Debug, Clone, Deserialize)]
pub struct ViolationNode {
    /// A CSS selector for the element.
    pub target: String,
    /// The start of its HTML.
    pub html: String,
    /// What is wrong with it and how to fix it.
    pub summary: String,
}

impl Violation {
    /// Whether this one fails a test.
    pub fn is_blocking(&self) -> bool {
        self.impact
            .as_deref()
            .is_some_and(|impact| BLOCKING.contains(&impact))
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "[{}] {}: {} ({} element{}; {})",
            self.impact.as_deref().unwrap_or("no impact"),
            self.id,
            self.help,
            self.nodes.len(),
            if self.nodes.len() == 1 { "" } else { "s" },
            self.help_url
        )?;
        for node in &self.nodes {
            writeln!(f, "    at {}: {}", node.target, node.html)?;
            for line in node.summary.lines() {
                writeln!(f, "        {line}")?;
            }
        }
        Ok(())
    }
}

/// What axe-core found on the page in one state.
#[derive(Debug, Clone)]
pub struct AxeReport {
    /// The state, as the test named it ("student page, dark").
    pub state: String,
    pub violations: Vec<Violation>,
    /// How many rules passed (a run that checked nothing would be 0).
    pub passes: usize,
    /// Rules axe-core could not decide (e.g. contrast over an image).
    pub incomplete: Vec<String>,
}

impl AxeReport {
    /// The violations of impact "serious" or "critical".
    pub fn blocking(&self) -> Vec<&Violation> {
        self.violations.iter().filter(|v| v.is_blocking()).collect()
    }
}

impl fmt::Display for AxeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "axe-core, {}: {} rules passed, {} violated ({} serious or critical){}",
            self.state,
            self.passes,
            self.violations.len(),
            self.blocking().len(),
            if self.incomplete.is_empty() {
                String::new()
            } else {
                format!("; to review by hand: {}", self.incomplete.join(", "))
            }
        )?;
        for violation in &self.violations {
            write!(f, "  {violation}")?;
        }
        Ok(())
    }
}

/// The accessible role and name of an element, as Chromium's
/// accessibility tree has them (what a screen reader announces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accessible {
    pub role: String,
    pub name: String,
}

impl fmt::Display for Accessible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.role, self.name)
    }
}

/// Where axe-core's browser script is.
fn axe_script() -> PathBuf {
    if let Some(path) = std::env::var_os("AXE_CORE_JS") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join(".tools/node_modules/axe-core/axe.min.js")
}

impl Browser {
    /// Runs axe-core on the page as it is now and fails the test on any
    /// violation of impact "serious" or "critical", printing each with its
    /// elements and help text; lesser ones are printed too. `state` names
    /// what the page shows, for the message. Returns the report.
    pub async fn assert_accessible(&self, state: &str) -> AxeReport {
        let report = self.axe(state).await;
        println!("{report}");
        let blocking = report.blocking();
        assert!(
            blocking.is_empty(),
            "{} serious or critical accessibility violation(s) on the {state}:\n{}",
            blocking.len(),
            blocking
                .iter()
                .map(|v| format!("  {v}"))
                .collect::<String>()
        );
        report
    }

    /// Runs axe-core (every rule it runs by default: WCAG 2.x A and AA and
    /// its best practices) on the whole page as it is now.
    pub async fn axe(&self, state: &str) -> AxeReport {
        let path = axe_script();
        let source = std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "cannot read axe-core at {}: {err}; run `scripts/setup.sh test` (or `make test`), \
                 which installs the npm package axe-core into .tools/",
                path.display()
            )
        });
        // Injected through WebDriver, not a <script> tag, so the page's own
        // Content-Security-Policy (whatever it becomes) does not matter.
        let inject = format!("if (!window.axe) {{ {source}\n }} return typeof window.axe.run;");
        let injected = self
            .client
            .execute(&inject, vec![])
            .await
            .unwrap_or_else(|err| panic!("cannot load axe-core into the page: {err}"));
        assert_eq!(injected, "function", "axe-core did not load into the page");
        // Started here, read back below: one run can take longer than
        // WebDriver's script timeout on a busy machine.
        self.client
            .execute(
                "window.__socketLabAxe = null;
                 axe.run(document, { resultTypes: ['violations'] }).then(r => {
                     window.__socketLabAxe = {
                         passes: r.passes.length,
                         incomplete: r.incomplete.map(v => v.id),
                         violations: r.violations.map(v => ({
                             id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                             nodes: v.nodes.map(n => ({
                                 target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : t).join(' '),
                                 html: n.html.length > 160 ? n.html.slice(0, 160) + '…' : n.html,
                                 summary: n.failureSummary || '',
                             })),
                         })),
                     };
                 }, e => { window.__socketLabAxe = { error: String(e) }; });
                 return true;",
                vec![],
            )
            .await
            .unwrap_or_else(|err| panic!("cannot start axe-core: {err}"));
        let deadline = Instant::now() + AXE_PATIENCE;
        let result = loop {
            let result = self
                .client
                .execute("return window.__socketLabAxe;", vec![])
                .await
                .unwrap_or(Value::Null);
            if !result.is_null() {
                break result;
            }
            assert!(
                Instant::now() < deadline,
                "axe-core did not finish within {AXE_PATIENCE:?} on the {state}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if let Some(error) = result.get("error") {
            panic!("axe-core failed on the {state}: {error}");
        }
        let violations: Vec<Violation> = serde_json::from_value(result["violations"].clone())
            .unwrap_or_else(|err| panic!("axe-core's violations: {err}: {result}"));
        let incomplete = result["incomplete"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        AxeReport {
            state: state.to_string(),
            violations,
            passes: result["passes"].as_u64().unwrap_or(0) as usize,
            incomplete,
        }
    }

    /// Runs a Chrome DevTools Protocol command (through chromedriver) and
    /// returns its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.client
            .issue_cmd(CdpCommand {
                cmd: cmd.to_string(),
                params,
            })
            .await
            .unwrap_or_else(|err| panic!("DevTools command {cmd} failed: {err}"))
    }

    /// For each element matched by `css`, the text a screen reader reads
    /// for it: the text of its part of Chromium's accessibility tree, in
    /// order, leaving out whatever is hidden from assistive technology
    /// (`aria-hidden`, `display: none`).
    pub async fn accessible_text(&self, css: &str) -> Vec<String> {
        let tree = self.ax_tree().await;
        let mut texts = Vec::new();
        for backend in self.backend_ids(css).await {
            let Some(node) = tree.by_backend.get(&backend) else {
                texts.push(String::new());
                continue;
            };
            let mut words = Vec::new();
            tree.collect_text(node, &mut words);
            texts.push(
                words
                    .join(" ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        texts
    }

    /// The accessible role and name of each element matched by `css`.
    pub async fn accessible(&self, css: &str) -> Vec<Accessible> {
        let tree = self.ax_tree().await;
        self.backend_ids(css)
            .await
            .into_iter()
            .map(|backend| {
                tree.by_backend
                    .get(&backend)
                    .and_then(|id| tree.nodes.get(id))
                    .map(|node| Accessible {
                        role: ax_value(&node["role"]),
                        name: ax_value(&node["name"]),
                    })
                    .unwrap_or(Accessible {
                        role: "(not in the accessibility tree)".to_string(),
                        name: String::new(),
                    })
            })
            .collect()
    }

    /// The element that has the keyboard focus: its role and name as a
    /// screen reader announces them, and whether the browser draws a
    /// visible focus ring on it (`:focus-visible` with an outline or a
    /// box-shadow at least 2 px wide).
    pub async fn focused(&self) -> Option<(Accessible, FocusRing)> {
        let ring = self
            .client
            .execute(
                "const el = document.activeElement;
                 if (!el || el === document.body) return null;
                 document.querySelectorAll('[data-focus-probe]')
                     .forEach(e => e.removeAttribute('data-focus-probe'));
                 el.setAttribute('data-focus-probe', '');
                 const s = getComputedStyle(el);
                 // A visually hidden input shows its ring on its label.
                 const shown = el.classList.contains('file-input') && el.labels && el.labels[0]
                     ? getComputedStyle(el.labels[0]) : s;
                 return {
                     what: el.id ? '#' + el.id
                         : el.tagName.toLowerCase() + (el.classList.length ? '.' + [...el.classList].join('.') : ''),
                     visible: el.matches(':focus-visible'),
                     outline: shown.outlineStyle !== 'none' ? parseFloat(shown.outlineWidth) : 0,
                     shadow: shown.boxShadow !== 'none',
                     color: shown.outlineColor,
                 };",
                vec![],
            )
            .await
            .ok()?;
        if ring.is_null() {
            return None;
        }
        let accessible = self
            .accessible("[data-focus-probe]")
            .await
            .into_iter()
            .next()?;
        let ring = FocusRing {
            what: ring["what"].as_str().unwrap_or_default().to_string(),
            focus_visible: ring["visible"] == true,
            outline_px: ring["outline"].as_f64().unwrap_or(0.0),
            shadow: ring["shadow"] == true,
        };
        Some((accessible, ring))
    }

    /// Presses `key` on the keyboard, as a person would (to whatever has
    /// the focus), with Shift held when `shift`.
    pub async fn press(&self, key: Key, shift: bool) {
        let mut keys = KeyActions::new("keyboard".to_string());
        if shift {
            keys = keys.then(KeyAction::Down {
                value: Key::Shift.into(),
            });
        }
        keys = keys
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        if shift {
            keys = keys.then(KeyAction::Up {
                value: Key::Shift.into(),
            });
        }
        self.client
            .perform_actions(keys)
            .await
            .unwrap_or_else(|err| panic!("cannot press {key:?}: {err}"));
    }

    /// Presses Tab until the element `#id` has the focus; returns how many
    /// presses it took. Fails the test if it is not reached in `max`.
    pub async fn tab_to(&self, id: &str, max: usize) -> usize {
        self.tab_to_match(&format!("#{id}"), max).await
    }

    /// Presses Tab until the focused element matches `css`; returns how
    /// many presses it took. Fails the test if it is not reached in `max`.
    pub async fn tab_to_match(&self, css: &str, max: usize) -> usize {
        for presses in 1..=max {
            self.press(Key::Tab, false).await;
            let now = self
                .client
                .execute(
                    "return !!document.activeElement && document.activeElement.matches(arguments[0]);",
                    vec![json!(css)],
                )
                .await
                .unwrap_or(Value::Null);
            if now == true {
                return presses;
            }
        }
        panic!("{css} is not reached by {max} presses of Tab");
    }

    /// Walks the page with Tab from where the focus is, at most `max`
    /// presses, until the focus leaves the page or comes round to the
    /// first stop. Prints each stop with its role and name as a screen
    /// reader announces them, and fails the test if a stop shows no
    /// visible focus ring or has no name. Returns the stops (`#id`, or
    /// tag and classes), in order.
    pub async fn tab_order(&self, max: usize) -> Vec<String> {
        let mut order: Vec<String> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        for _ in 0..max {
            self.press(Key::Tab, false).await;
            let Some((accessible, ring)) = self.focused().await else {
                break;
            };
            if order.first() == Some(&ring.what) {
                break;
            }
            if !ring.is_visible() {
                problems.push(format!("{} shows no focus ring: {ring:?}", ring.what));
            }
            if accessible.name.trim().is_empty() {
                problems.push(format!(
                    "{} has no accessible name ({accessible})",
                    ring.what
                ));
            }
            println!("Tab {:>2}: {:<24} {accessible}", order.len() + 1, ring.what);
            order.push(ring.what);
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        order
    }

    /// Chromium's whole accessibility tree of the page.
    async fn ax_tree(&self) -> AxTree {
        let full = self.cdp("Accessibility.getFullAXTree", json!({})).await;
        let mut tree = AxTree::default();
        for node in full["nodes"].as_array().into_iter().flatten() {
            let Some(id) = node["nodeId"].as_str() else {
                continue;
            };
            if let Some(backend) = node["backendDOMNodeId"].as_i64() {
                tree.by_backend.insert(backend, id.to_string());
            }
            tree.nodes.insert(id.to_string(), node.clone());
        }
        tree
    }

    /// The DevTools backend ids of the elements matched by `css`.
    async fn backend_ids(&self, css: &str) -> Vec<i64> {
        let document = self.cdp("DOM.getDocument", json!({ "depth": 0 })).await;
        let root = document["root"]["nodeId"].clone();
        let found = self
            .cdp(
                "DOM.querySelectorAll",
                json!({ "nodeId": root, "selector": css }),
            )
            .await;
        let mut ids = Vec::new();
        for node in found["nodeIds"].as_array().into_iter().flatten() {
            let described = self
                .cdp("DOM.describeNode", json!({ "nodeId": node }))
                .await;
            if let Some(backend) = described["node"]["backendNodeId"].as_i64() {
                ids.push(backend);
            }
        }
        ids
    }
}

/// Whether the focused element shows where the focus is.
#[derive(Debug, Clone)]
pub struct FocusRing {
    /// `#id`, or the tag and classes of an element without an id.
    pub what: String,
    /// The browser matched `:focus-visible` (keyboard focus).
    pub focus_visible: bool,
    /// The outline's width (0 without one).
    pub outline_px: f64,
    /// A box-shadow is drawn.
    pub shadow: bool,
}

impl FocusRing {
    /// An outline of at least 2 px, or a shadow, while `:focus-visible`.
    pub fn is_visible(&self) -> bool {
        self.focus_visible && (self.outline_px >= 2.0 || self.shadow)
    }
}

#[derive(Default)]
struct AxTree {
    nodes: HashMap<String, Value>,
    by_backend: HashMap<i64, String>,
}

impl AxTree {
    /// Adds the text under `id` to `words`: the names of its text nodes
    /// that are not ignored (hidden ones are ignored, and so is all under
    /// them).
    fn collect_text(&self, id: &str, words: &mut Vec<String>) {
        let Some(node) = self.nodes.get(id) else {
            return;
        };
        let ignored = node["ignored"] == true;
        if !ignored && ax_value(&node["role"]) == "StaticText" {
            words.push(ax_value(&node["name"]));
            // Its children are the same text in line boxes.
            return;
        }
        for child in node["childIds"].as_array().into_iter().flatten() {
            if let Some(child) = child.as_str() {
                self.collect_text(child, words);
            }
        }
    }
}

/// The value of an `AXValue` (`{ "type": ..., "value": ... }`), as text.
fn ax_value(value: &Value) -> String {
    match &value["value"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A Chrome DevTools Protocol command sent through chromedriver's
/// `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct CdpCommand {
    cmd: String,
    params: Value,
}

impl WebDriverCompatibleCommand for CdpCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}
