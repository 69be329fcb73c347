//! A time limit for a whole browser test, and what it keeps when the limit
//! is hit: a screenshot of every session the test opened, or, when a tab is
//! too busy to draw one (a page whose script never yields blocks every
//! WebDriver call on it), the same address opened in a fresh session with
//! scripts off and the first session's cookies.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::Client;
use fantoccini::cookies::Cookie;

/// A tab that draws no screenshot within this is busy.
const SCREENSHOT_BUDGET: Duration = Duration::from_secs(5);
/// Starting a second browser for the fallback view can take a while on a
/// loaded machine.
const FALLBACK_BUDGET: Duration = Duration::from_secs(30);

struct Watched {
    client: Client,
    driver_port: u16,
    cookies: Vec<Cookie<'static>>,
}

type Sessions = Arc<Mutex<Vec<Watched>>>;

tokio::task_local! {
    static SESSIONS: Sessions;
}

/// A test that ran past its limit, and what was kept of it.
#[derive(Debug)]
pub struct Overrun {
    pub name: String,
    pub limit: Duration,
    /// Screenshots written, one or more per session.
    pub screenshots: Vec<PathBuf>,
    /// What could not be gathered, and why.
    pub notes: Vec<String>,
}

impl fmt::Display for Overrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: still running after {:?}; screenshots: {:?}",
            self.name, self.limit, self.screenshots
        )?;
        for note in &self.notes {
            write!(f, "\n  {note}")?;
        }
        Ok(())
    }
}

/// Runs `body`, failing the test with screenshots if it takes over `limit`.
pub async fn within<F: Future>(name: &str, limit: Duration, body: F) -> F::Output {
    match try_within(name, limit, body).await {
        Ok(out) => out,
        Err(overrun) => panic!("{overrun}"),
    }
}

/// [`within`], returning the overrun instead of failing.
pub async fn try_within<F: Future>(
    name: &str,
    limit: Duration,
    body: F,
) -> Result<F::Output, Overrun> {
    let sessions: Sessions = Arc::default();
    let body = SESSIONS.scope(sessions.clone(), body);
    tokio::pin!(body);
    tokio::select! {
        out = &mut body => Ok(out),
        () = tokio::time::sleep(limit) => {
            // The body is still alive here, so its chromedriver still runs.
            let mut overrun = Overrun {
                name: name.to_owned(),
                limit,
                screenshots: Vec::new(),
                notes: Vec::new(),
            };
            let watched: Vec<_> = sessions
                .lock()
                .unwrap()
                .iter()
                .map(|w| (w.client.clone(), w.driver_port, w.cookies.clone()))
                .collect();
            for (n, (client, port, cookies)) in watched.into_iter().enumerate() {
                overrun
                    .gather(&format!("{name}-overrun-{n}"), &client, port, cookies)
                    .await;
            }
            Err(overrun)
        }
    }
}

/// Makes a new session known to the test's watchdog, if it has one.
pub(super) fn register(client: &Client, driver_port: u16) {
    let _ = SESSIONS.try_with(|s| {
        s.lock().unwrap().push(Watched {
            client: client.clone(),
            driver_port,
            cookies: Vec::new(),
        })
    });
}

/// Keeps the session's cookies (its login) for the fallback view.
pub(super) async fn remember_cookies(client: &Client) {
    let Ok(sessions) = SESSIONS.try_with(Arc::clone) else {
        return;
    };
    let (Ok(cookies), Ok(Some(id))) = (client.get_all_cookies().await, client.session_id().await)
    else {
        return;
    };
    let clients: Vec<Client> = sessions
        .lock()
        .unwrap()
        .iter()
        .map(|w| w.client.clone())
        .collect();
    for (n, other) in clients.iter().enumerate() {
        if other.session_id().await.ok().flatten().as_deref() == Some(id.as_str()) {
            sessions.lock().unwrap()[n].cookies = cookies;
            return;
        }
    }
}

impl Overrun {
    async fn gather(
        &mut self,
        stem: &str,
        client: &Client,
        port: u16,
        cookies: Vec<Cookie<'static>>,
    ) {
        match tokio::time::timeout(SCREENSHOT_BUDGET, client.screenshot()).await {
            Ok(Ok(png)) => return self.keep(stem, &png),
            Ok(Err(e)) => self.notes.push(format!("{stem}: screenshot failed: {e}")),
            Err(_) => self.notes.push(format!(
                "{stem}: no screenshot within {SCREENSHOT_BUDGET:?}: the tab is busy"
            )),
        }
        let Some(url) = page_url(client).await else {
            self.notes.push(format!(
                "{stem}: the browser did not say which page it shows"
            ));
            return;
        };
        self.notes.push(format!("{stem}: the busy tab shows {url}"));
        match tokio::time::timeout(FALLBACK_BUDGET, view_without_script(port, &url, cookies)).await
        {
            Ok(Ok(png)) => self.keep(&format!("{stem}-noscript"), &png),
            Ok(Err(e)) => self
                .notes
                .push(format!("{stem}: fallback view failed: {e}")),
            Err(_) => self.notes.push(format!(
                "{stem}: fallback view took over {FALLBACK_BUDGET:?}"
            )),
        }
    }

    fn keep(&mut self, stem: &str, png: &[u8]) {
        let path = super::screenshots_dir().join(format!("{stem}.png"));
        match std::fs::write(&path, png) {
            Ok(()) => self.screenshots.push(path),
            Err(e) => self.notes.push(format!("{}: {e}", path.display())),
        }
    }
}

/// The address the session's first tab shows, asked of the browser process
/// (its DevTools list), which answers while the tab's own thread is busy.
async fn page_url(client: &Client) -> Option<String> {
    let debugger = client
        .capabilities()?
        .get("goog:chromeOptions")?
        .get("debuggerAddress")?
        .as_str()?
        .to_owned();
    let list: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{debugger}/json/list"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    list.as_array()?
        .iter()
        .find(|t| t["type"] == "page")
        .and_then(|t| t["url"].as_str())
        .map(String::from)
}

/// `url` in a new session with scripts off and `cookies` set: what the
/// server sent, drawn without the script that keeps the other tab busy.
async fn view_without_script(
    port: u16,
    url: &str,
    cookies: Vec<Cookie<'static>>,
) -> Result<Vec<u8>, String> {
    let client = super::session(port, None, false).await?;
    let result = async {
        // Cookies can only be set on a page of their site.
        let origin = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        client
            .goto(&format!("{origin}/healthz"))
            .await
            .map_err(|e| e.to_string())?;
        for cookie in cookies {
            client.add_cookie(cookie).await.map_err(|e| e.to_string())?;
        }
        client.goto(url).await.map_err(|e| e.to_string())?;
        client.screenshot().await.map_err(|e| e.to_string())
    }
    .await;
    let _ = client.close().await;
    result
}
