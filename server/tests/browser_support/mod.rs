//! What the browser tests share: chromedriver and a headless Chromium, a
//! real server on a loopback port, screenshots and small page helpers. Each
//! test file that uses it also declares `mod common;`.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Kills chromedriver (and with it the browser) when the test ends.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
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

pub async fn browser(driver_port: u16, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("start a Chromium session")
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
}

/// Polls a script until it returns true, or fails the test after `secs`.
pub async fn wait_until(client: &Client, script: &str, secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !js_bool(client, script).await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
