//! What the browser tests share: chromedriver and a headless Chromium, a
//! real server on a loopback port, screenshots and small page helpers. Each
//! test file that uses it also declares `mod common;`.
//!
//! Nothing here may wait without end: every session gets WebDriver timeouts
//! (script, page load), element waits are bounded, and each test runs its
//! body under [`within`], which on overrun saves what the browser showed and
//! fails the test, instead of stalling CI until its own limit.
#![allow(dead_code, unused_imports)]

mod watchdog;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

pub use watchdog::{try_within, within};

/// The longest a whole browser test may take; the slowest one takes about
/// 20 s on a quiet machine.
pub const TEST_LIMIT: Duration = Duration::from_secs(120);
/// A script run with `execute` is interrupted after this long.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);
/// A navigation (and chromedriver's wait for a busy page) ends after this long.
const PAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(20);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Kills chromedriver and every browser process it started when the test
/// ends, passed or failed: they share a process group of their own. Killing
/// chromedriver alone leaves a Chromium behind whenever a test fails before
/// closing its session, and a tab stuck in a loop then burns a core for good.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start_driver() -> (Driver, u16) {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (driver, port)
}

/// A headless Chromium session with bounded WebDriver timeouts, known to
/// the [`within`] watchdog around the running test.
pub async fn browser(driver_port: u16, profile: &std::path::Path) -> Client {
    let client = session(driver_port, Some(profile), true)
        .await
        .unwrap_or_else(|e| panic!("start a Chromium session: {e}"));
    watchdog::register(&client, driver_port);
    client
}

/// A new Chromium session; `script` false turns JavaScript off (the
/// watchdog's fallback view of a page whose own tab hangs).
async fn session(
    driver_port: u16,
    profile: Option<&std::path::Path>,
    script: bool,
) -> Result<Client, String> {
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    if let Some(profile) = profile {
        args.push(format!("--user-data-dir={}", profile.display()));
    }
    let mut options = json!({ "binary": CHROMIUM, "args": args });
    if !script {
        options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let client = tokio::time::timeout(
        PAGE_LOAD_TIMEOUT,
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{driver_port}")),
    )
    .await
    .map_err(|_| format!("no session within {PAGE_LOAD_TIMEOUT:?}"))?
    .map_err(|e| e.to_string())?;
    client
        .update_timeouts(TimeoutConfiguration::new(
            Some(SCRIPT_TIMEOUT),
            Some(PAGE_LOAD_TIMEOUT),
            Some(Duration::ZERO),
        ))
        .await
        .map_err(|e| e.to_string())?;
    Ok(client)
}

/// Puts `text` into a form field the way a paste does: at once, not one key
/// event per character (typing a busy host's `ss -tan` through WebDriver
/// takes minutes and keeps the page busy all that time).
pub async fn paste_into(client: &Client, css: &str, text: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    client
        .execute(
            "arguments[0].value = arguments[1];\
             arguments[0].dispatchEvent(new Event('input', {bubbles: true}));\
             return true;",
            vec![serde_json::to_value(&element).unwrap(), json!(text)],
        )
        .await
        .unwrap_or_else(|e| panic!("paste into {css}: {e}"));
}

pub fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

pub async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Clicks an element the way a user would, after scrolling it to the middle
/// of the window (the sticky top bar would otherwise cover it).
pub async fn click(client: &Client, css: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'}); return true;",
            vec![serde_json::to_value(&element).unwrap()],
        )
        .await
        .unwrap();
    element
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

pub async fn js_bool(client: &Client, script: &str) -> bool {
    client
        .execute(script, vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap_or(false)
}

pub async fn start_server() -> (SocketAddr, crate::common::TestApp) {
    let t = crate::common::app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = t.state.clone();
    tokio::spawn(async move {
        let app = faultline::web::app(state.clone());
        let never = std::future::pending::<faultline::web::Stop>();
        faultline::web::serve(listener, app, state, never)
            .await
            .unwrap();
    });
    (addr, t)
}

/// A real server with logins required (no anonymous read).
pub async fn start_server_with_login() -> (SocketAddr, crate::common::TestApp) {
    let t = crate::common::app_with(faultline::config::Config::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = t.state.clone();
    tokio::spawn(async move {
        let app = faultline::web::app(state.clone());
        let never = std::future::pending::<faultline::web::Stop>();
        faultline::web::serve(listener, app, state, never)
            .await
            .unwrap();
    });
    (addr, t)
}

/// Logs in through the login form and waits for the page after it.
pub async fn log_in(client: &Client, base: &str, name: &str, password: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    client
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    client
        .find(Locator::Css(".auth-box button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css(".user-indicator"))
        .await
        .unwrap();
    watchdog::remember_cookies(client).await;
}

/// Polls a script until it returns true, or fails the test after `secs`.
pub async fn wait_until(client: &Client, script: &str, secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !js_bool(client, script).await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Chrome DevTools Protocol command sent through chromedriver's
/// `goog/cdp/execute` endpoint (device metrics, emulated media).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
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

    fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// Runs one DevTools command on the session's tab.
pub async fn cdp(client: &Client, cmd: &'static str, params: serde_json::Value) {
    client
        .issue_cmd(Cdp { cmd, params })
        .await
        .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"));
}

/// Makes the page's viewport exactly `width` × `height` CSS pixels, as a
/// phone (touch, `mobile`) or a desktop browser would have it.
pub async fn viewport(client: &Client, width: u32, height: u32, mobile: bool) {
    cdp(
        client,
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
    )
    .await;
}

/// Emulates the system's colour scheme preference (`light` or `dark`):
/// what `prefers-color-scheme` media queries see, with no theme chosen on
/// the page.
pub async fn color_scheme(client: &Client, scheme: &str) {
    cdp(
        client,
        "Emulation.setEmulatedMedia",
        json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
    )
    .await;
}
