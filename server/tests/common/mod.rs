//! Shared set-up for the integration tests: a real SQLite file in a
//! temporary directory, the built-in playbooks loaded into it, and requests
//! through the real router (pages, forms, reports).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use faultline::config::Config;
use faultline::kb::KnowledgeBase;
use faultline::search::{SearchRequest, SearchResults};
use faultline::store::{Incident, IncidentFilter};
use faultline::web::AppState;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

pub struct TestApp {
    pub dir: TempDir,
    pub state: AppState,
}

pub async fn app_with(config: Config) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = faultline::store::connect(&faultline::store::sqlite_url(dir.path()))
        .await
        .expect("open sqlite");
    let kb: Arc<KnowledgeBase> = KnowledgeBase::open(store)
        .await
        .expect("open knowledge base");
    TestApp {
        dir,
        state: AppState::new(kb, config),
    }
}

/// The default config with anonymous read access on: most page and API
/// tests read without logging in.
pub fn anonymous_read_config() -> Config {
    let mut config = Config::default();
    config.security.anonymous_read = true;
    config
}

pub async fn app() -> TestApp {
    app_with(anonymous_read_config()).await
}

/// A logged-in browser session: the `Cookie` header value and the CSRF token.
#[derive(Debug, Clone)]
pub struct Login {
    pub cookie: String,
    pub csrf: String,
}

/// Creates a user with `role` (no usable password: tests that log in
/// through the form use `accounts::add_user`) and a session for them.
pub async fn session_for(state: &AppState, name: &str, role: faultline::store::Role) -> Login {
    use faultline::accounts::{hash_secret, random_secret};
    let store = state.kb.store();
    let user = match store.user_by_name(name).await.unwrap() {
        Some((user, _)) => user,
        None => store
            .create_user(name, "not-a-password-hash", role, "test")
            .await
            .expect("create user"),
    };
    let id = random_secret();
    let csrf = random_secret();
    store
        .create_session(faultline::store::NewSession {
            id_hash: &hash_secret(&id),
            user_id: user.id,
            csrf_token: &csrf,
            replaces: None,
        })
        .await
        .expect("create session");
    Login {
        cookie: format!("{}={id}", faultline::web::auth::SESSION_COOKIE),
        csrf,
    }
}

/// What the router answered, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The `Location` header of a redirect.
    pub location: Option<String>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

/// Sends `req` through the real router, in-process.
pub async fn send(state: &AppState, req: Request<Body>) -> Answer {
    let response = faultline::web::app(state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let location = headers
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        location,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// An anonymous GET.
pub async fn get(state: &AppState, uri: &str) -> Answer {
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// A GET from a logged-in session.
pub async fn get_as(state: &AppState, login: &Login, uri: &str) -> Answer {
    let req = Request::get(uri).header(header::COOKIE, &login.cookie);
    send(state, req.body(Body::empty()).unwrap()).await
}

/// Percent-encoding for a form field value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A form post from a logged-in session, its CSRF token in the header.
pub async fn form(state: &AppState, login: &Login, uri: &str, fields: &[(&str, &str)]) -> Answer {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    send(
        state,
        Request::post(uri)
            .header(header::COOKIE, &login.cookie)
            .header("x-csrf-token", &login.csrf)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// A built-in example report, `playbooks/examples/{name}.json`.
pub fn example(name: &str) -> Value {
    let path = format!(
        "{}/playbooks/examples/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Sends `body` to the report endpoint as the collector holding `token`.
pub async fn send_report(state: &AppState, token: &str, body: String) -> Answer {
    send(
        state,
        Request::post("/api/v1/reports")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// Sends `report` as a new one taken now: a fresh id and times.
pub async fn post_report(state: &AppState, token: &str, mut report: Value) -> Answer {
    report["report_id"] = json!(uuid::Uuid::new_v4().to_string());
    report["started_at"] = json!(chrono::Utc::now().to_rfc3339());
    report["finished_at"] = json!(chrono::Utc::now().to_rfc3339());
    send_report(state, token, report.to_string()).await
}

/// The knowledge base's first `limit` hits for `text`, no filters.
pub fn search(kb: &KnowledgeBase, text: &str, limit: usize) -> SearchResults {
    kb.search(&SearchRequest {
        text: text.into(),
        limit,
        ..Default::default()
    })
    .unwrap()
}

/// The newest incidents (up to 100).
pub async fn incidents(state: &AppState) -> Vec<Incident> {
    state
        .kb
        .store()
        .incidents(&IncidentFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// A new collector `orders-api-1` with `labels` sends the CLOSE_WAIT
/// example: the likely report opens an incident. Returns its id.
pub async fn close_wait_incident(state: &AppState, labels: &BTreeMap<String, String>) -> i64 {
    let (_, token) = faultline::ingest::add_collector(state.kb.store(), "orders-api-1", labels)
        .await
        .unwrap();
    let sent = post_report(state, &token, example("close-wait-leak-1")).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let incidents = incidents(state).await;
    assert_eq!(incidents.len(), 1, "the likely report opens one incident");
    incidents[0].id
}

/// Real `ss -tan` output of this machine, with a listener and a connection
/// made for the occasion so there is something in it.
pub fn real_ss_tan() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let out = std::process::Command::new("ss")
        .arg("-tan")
        .output()
        .expect("ss is installed (iproute2)");
    assert!(out.status.success());
    format!("$ ss -tan\n{}", String::from_utf8(out.stdout).unwrap())
}

/// The whole app on a loopback port, served as `faultline serve` serves it
/// (keep-alive, drain), in this process; stopped when the sender fires.
pub async fn serve_in_process(
    config: Config,
) -> (
    std::net::SocketAddr,
    TestApp,
    tokio::sync::oneshot::Sender<faultline::web::Stop>,
    tokio::task::JoinHandle<()>,
) {
    let t = app_with(config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let state = t.state.clone();
    let handle = tokio::spawn(async move {
        let app = faultline::web::app(state.clone());
        faultline::web::serve(listener, app, state, async {
            rx.await.unwrap_or(faultline::web::Stop::Interrupt)
        })
        .await
        .unwrap();
    });
    (addr, t, tx, handle)
}

/// Logs in over real HTTP (a server on a port) and reads the CSRF token off
/// `page`: the session cookie and the token, as a browser would hold them.
pub async fn http_login(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
    page: &str,
) -> (String, String) {
    let login = client
        .post(format!("{base}/login"))
        .header("origin", base)
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303, "login as {name} on {base}");
    let cookie = login.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = client
        .get(format!("{base}{page}"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (cookie, csrf_meta(&html))
}

/// The CSRF token a page carries in its `csrf-token` meta tag.
pub fn csrf_meta(html: &str) -> String {
    let at = html
        .find("name=\"csrf-token\" content=\"")
        .unwrap_or_else(|| panic!("no csrf meta in {html}"))
        + 27;
    html[at..at + 64].to_owned()
}
