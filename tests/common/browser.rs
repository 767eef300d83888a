//! Headless Chromium through its own chromedriver, for the tests that need
//! a real browser (`tests/browser.rs`: the camera; `tests/journey.rs`: the
//! whole path through the pages): starting it (with Chromium's fake camera
//! when given a video), what it logged (console messages and network
//! responses, through chromedriver's log endpoint), and small helpers.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/test` installs
//! them); without chromedriver the tests fail and say so.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Headless Chromium, through its own chromedriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Kills chromedriver with the Chromium it started (its own process
    /// group): killing the driver alone leaves Chromium running, fake
    /// camera and all, after a test that failed before closing it.
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals that process group only.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

/// How the browser starts.
pub struct Options<'a> {
    /// A Y4M video for Chromium's fake camera.
    pub video: Option<&'a Path>,
    pub width: u32,
    pub height: u32,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            video: None,
            width: 1280,
            height: 1100,
        }
    }
}

pub async fn start(options: Options<'_>) -> Browser {
    let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(&driver_path)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start chromedriver ({driver_path}: {e}): the browser tests need Debian's \
                 chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/test \
                 installs them), or CHROMEDRIVER naming the driver"
            )
        });
    let profile = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        format!("--window-size={},{}", options.width, options.height),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    if let Some(video) = options.video {
        args.extend([
            "--use-fake-device-for-media-stream".into(),
            "--use-fake-ui-for-media-stream".into(),
            format!("--use-file-for-fake-video-capture={}", video.display()),
        ]);
    }
    let mut chrome = json!({ "args": args });
    if let Ok(binary) = std::env::var("CHROME_BIN") {
        chrome["binary"] = json!(binary);
    } else if Path::new("/usr/bin/chromium").exists() {
        chrome["binary"] = json!("/usr/bin/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), chrome);
    caps.insert(
        "goog:loggingPrefs".into(),
        json!({ "browser": "ALL", "performance": "ALL" }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => break client,
            // chromedriver takes a moment to listen.
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("chromedriver at {url} did not open Chromium: {e}"),
        }
    };
    Browser {
        client,
        driver,
        _profile: profile,
    }
}

/// chromedriver's log of one kind (`browser`: the console; `performance`:
/// DevTools events), the entries since the last read.
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": self.0 }).to_string()),
        )
    }
}

impl Browser {
    /// What went wrong in the pages since the last call: console errors
    /// (script errors, refused content, failed loads) and HTTP responses of
    /// 400 and above, each as a line.
    pub async fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let console = self.client.issue_cmd(GetLog("browser")).await.unwrap();
        for entry in console.as_array().into_iter().flatten() {
            if entry["level"] == "SEVERE" {
                out.push(format!("console: {}", entry["message"]));
            }
        }
        let events = self.client.issue_cmd(GetLog("performance")).await.unwrap();
        for entry in events.as_array().into_iter().flatten() {
            let Some(message) = entry["message"].as_str() else {
                continue;
            };
            let event: Value = serde_json::from_str(message).unwrap_or_default();
            if event["message"]["method"] == "Network.responseReceived" {
                let response = &event["message"]["params"]["response"];
                let status = response["status"].as_u64().unwrap_or(0);
                if status >= 400 {
                    out.push(format!("HTTP {status}: {}", response["url"]));
                }
            }
        }
        out
    }
}

/// Runs `script` (which returns a value) until the value is truthy.
pub async fn until(client: &Client, script: &str, within: Duration, what: &str) -> Value {
    let started = Instant::now();
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        let truthy = match &value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        if started.elapsed() > within {
            panic!("waited {within:?} for {what} ({script})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element with id `id`.
pub async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Types `text` into the element with id `id`.
pub async fn type_into(c: &Client, id: &str, text: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// Saves a screenshot under `target/tmp/screenshots/` and returns its path.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, client.screenshot().await.unwrap()).unwrap();
    println!("screenshot: {}", path.display());
    path
}
