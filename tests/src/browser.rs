//! A real headless Chromium, driven over WebDriver (chromedriver + fantoccini).
//!
//! Each test gets its own chromedriver on a free port and its own fresh
//! Chromium profile, so tests cannot see each other's state.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);
/// How many chromedrivers a test starts before it gives up on one.
const DRIVER_STARTS: usize = 2;

/// A chromedriver process and a WebDriver session with Chromium.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        Browser::launch(width, height, None, &[], None).await
    }

    /// The same with more Chromium flags, e.g. one that trusts a test's
    /// own certificate (`--ignore-certificate-errors-spki-list=PIN`).
    pub async fn start_with(width: u32, height: u32, extra_args: &[String]) -> Browser {
        Browser::launch(width, height, None, extra_args, None).await
    }

    /// As [`Browser::start`], saving downloads into `downloads` without
    /// asking.
    pub async fn start_downloading(width: u32, height: u32, downloads: &Path) -> Browser {
        Browser::launch(width, height, None, &[], Some(downloads)).await
    }

    /// Starts a headless Chromium that shows pages as a phone of `width` x
    /// `height` CSS pixels would (a window cannot be narrower than 500
    /// pixels, so the phone's screen is emulated).
    pub async fn start_phone(width: u32, height: u32) -> Browser {
        let phone = json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 }
        });
        Browser::launch(width.max(500), height, Some(phone), &[], None).await
    }

    async fn launch(
        width: u32,
        height: u32,
        phone: Option<Value>,
        extra_args: &[String],
        downloads: Option<&Path>,
    ) -> Browser {
        let chromedriver = which("chromedriver").unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed: run `make test` (it installs Debian's \
                 chromium and chromium-driver), or `apt-get install chromium chromium-driver`"
            )
        });
        let chromium = which("chromium").unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        // Port 0: chromedriver binds a free port itself and says which;
        // no port is picked here and then raced for. Once in a full run it
        // said nothing within PATIENCE: a second one is started then.
        let (mut driver, port) = (1..=DRIVER_STARTS)
            .find_map(|_| {
                let mut driver = Command::new(&chromedriver)
                    .arg("--port=0")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start chromedriver");
                match driver_port(&mut driver) {
                    Some(port) => Some((driver, port)),
                    None => {
                        let _ = driver.kill();
                        let _ = driver.wait();
                        None
                    }
                }
            })
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver did not say which port it listens on within {PATIENCE:?}, \
                     {DRIVER_STARTS} times"
                )
            });
        let profile = TempDir::new("socket-lab-chromium");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-dev-shm-usage".to_string(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let args: Vec<String> = args.into_iter().chain(extra_args.iter().cloned()).collect();
        let mut caps = Map::new();
        let mut options = json!({ "binary": chromium, "args": args });
        if let Some(phone) = phone {
            options["mobileEmulation"] = phone;
        }
        if let Some(dir) = downloads {
            options["prefs"] = json!({
                "download.default_directory": dir,
                "download.prompt_for_download": false,
            });
        }
        caps.insert("goog:chromeOptions".to_string(), options);
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver needs a moment to listen; retry until a deadline.
        let deadline = Instant::now() + PATIENCE;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) if Instant::now() < deadline => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => {
                    let _ = driver.kill();
                    let _ = driver.wait();
                    panic!("cannot start a WebDriver session with Chromium: {err}")
                }
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Waits until the element matched by `css` exists, then returns its text.
    pub async fn text_of(&self, css: &str) -> String {
        let element = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no element {css:?} on the page: {err}"));
        element.text().await.expect("element text")
    }

    /// Waits until the page's `document.body.innerText` contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        self.wait_until(needle, "return document.body.innerText", |v| {
            v.as_str().is_some_and(|s| s.contains(needle))
        })
        .await;
    }

    /// Waits until `script` (a function body that returns a value) returns a
    /// value that `ok` accepts; fails the test with `what` after [`PATIENCE`].
    pub async fn wait_until(&self, what: &str, script: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            last = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or(Value::Null);
            if ok(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("waited {PATIENCE:?} for {what}; last value: {last}");
    }

    /// Saves a PNG screenshot of the window.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Ends the WebDriver session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// The port chromedriver says it listens on ("ChromeDriver was started
/// successfully on port N."). Its output is read on a thread of its own,
/// to the end, so chromedriver never blocks on a full pipe.
fn driver_port(driver: &mut Child) -> Option<u16> {
    let stdout = driver.stdout.take().expect("chromedriver's output");
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // (The line before says "Starting ChromeDriver ... on port 0".)
            let port = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok());
            if let Some(port) = port {
                let _ = port_tx.send(port);
            }
        }
    });
    port_rx.recv_timeout(PATIENCE).ok()
}

/// An executable on PATH.
fn which(name: &str) -> Option<PathBuf> {
    which::which(name).ok()
}

/// A temporary folder with a name that says what it is for, removed on
/// drop (`tempfile`'s, which makes it with a unique name, safely).
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir()
            .expect("a temporary folder");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}
