//! Faults from outside, against the real `faultline serve` binary: a full
//! disk, a gzip bomb, SIGTERM under ingest load, a client that lies about
//! its address in `X-Forwarded-For`, a real Alertmanager delivering
//! through an outage (`alertmanager`), and evidence pulled from a real
//! Prometheus, or from one that is down, slow, erroring or huge
//! (`prometheus`).

#[path = "faults/alertmanager.rs"]
mod alertmanager;
mod common;
#[path = "faults/prometheus.rs"]
mod prometheus;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faultline::config::Config;
use faultline::web::{self, Stop};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::{Value, json};
use uuid::Uuid;

const FIXTURE: &str = include_str!("fixtures/reports/node-5.json");
const PASSWORD: &str = "correct-horse-battery";

/// The fixture report with a fresh id and, when `filler` > 0, an
/// observation of an unknown kind carrying that many bytes of random hex
/// (kept raw by the server, so it takes that much room on disk).
fn report(filler: usize) -> Value {
    let mut v: Value = serde_json::from_str(FIXTURE).unwrap();
    v["report_id"] = json!(Uuid::new_v4().to_string());
    if filler > 0 {
        let mut data = String::with_capacity(filler);
        while data.len() < filler {
            data.push_str(&Uuid::new_v4().simple().to_string());
        }
        v["observations"]
            .as_array_mut()
            .unwrap()
            .push(json!({"kind": "x_filler", "data": data}));
    }
    v
}

fn report_id(report: &Value) -> Uuid {
    report["report_id"].as_str().unwrap().parse().unwrap()
}

fn faultline(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
    cmd.arg("--data-dir").arg(data_dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("FAULTLINE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// Runs a `faultline` command to completion and returns its stdout.
fn run(data_dir: &Path, args: &[&str]) -> String {
    let out = faultline(data_dir)
        .args(args)
        .env("FAULTLINE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "faultline {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `faultline serve` child process, killed if a test fails before it
/// stops it on purpose. Its log goes to a file outside the data directory
/// (which may be the full disk).
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Server {
    async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_with(data_dir, &[], env).await
    }

    /// `faultline --data-dir DIR ARGS... serve` with `env` set.
    async fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_on(free_port(), data_dir, args, env).await
    }

    /// As [`Server::start_with`], listening on loopback `port` (a restart
    /// where a client expects it).
    async fn start_on(port: u16, data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("serve.log");
        let mut cmd = faultline(data_dir);
        cmd.args(args)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut server = Server {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            log,
            _log_dir: log_dir,
        };
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(server.url("/readyz")).send().await
                && r.status().is_success()
            {
                return server;
            }
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "the server exited: {}",
                server.log_text()
            );
            assert!(Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn sigterm(&self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// Waits for the process to exit on its own; how long it took.
    async fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let from = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, from.elapsed());
            }
            assert!(
                from.elapsed() < limit,
                "still running {limit:?} after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A logged-in admin: the session cookie and the page's CSRF token.
async fn login(server: &Server, client: &reqwest::Client) -> (String, String) {
    common::http_login(client, &server.base, "root", PASSWORD, "/admin").await
}

async fn post_report(
    server: &Server,
    client: &reqwest::Client,
    token: &str,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(server.url("/api/v1/reports"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
}

async fn add_user(
    server: &Server,
    client: &reqwest::Client,
    (cookie, csrf): &(String, String),
    name: &str,
) -> reqwest::Response {
    client
        .post(server.url("/admin/users"))
        .header("origin", &server.base)
        .header("cookie", cookie)
        .form(&[
            ("name", name),
            ("password", PASSWORD),
            ("role", "viewer"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

// ---- a full disk -------------------------------------------------------------

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `12m`), or says why it could not.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the file system says it is full; returns the bytes
/// written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 1] {
        let block = vec![0xa5u8; chunk];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }
    let _ = file.sync_all();
    written
}

/// The disk holding the database fills up: writes answer 503 at once with
/// a clear error and store nothing, acknowledged reports stay readable,
/// `/readyz` says the disk is full, and once space is freed writes work
/// again in the same process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_keeps_reads_and_recovers_without_a_restart() {
    let disk = match Tmpfs::mount("12m") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("SKIPPED a_full_disk_answers_503…: {why}");
            return;
        }
    };
    let data = disk.path().join("data");
    run(&data, &["user", "add", "root", "--role", "admin"]);
    let token = run(&data, &["collector", "add", "node-5"])
        .trim()
        .to_owned();
    let mut server = Server::start(&data, &[]).await;
    let client = client();
    let admin = login(&server, &client).await;

    let kept = report(0);
    let sent = post_report(&server, &client, &token, kept.to_string())
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);

    let filled = fill(&disk.path().join("filler"));
    eprintln!("filled the disk with {} KiB", filled / 1024);

    // Reports of 256 KiB: more than any slack left in the write-ahead log.
    let mut stored_on_full_disk = Vec::new();
    let (refused, took) = loop {
        let r = report(256 * 1024);
        let started = Instant::now();
        let answer = post_report(&server, &client, &token, r.to_string())
            .await
            .expect("an answer, not a dropped connection");
        let took = started.elapsed();
        if answer.status().is_success() {
            stored_on_full_disk.push(report_id(&r));
            assert!(
                stored_on_full_disk.len() < 10,
                "10 reports of 256 KiB stored on a full 12 MiB disk"
            );
            continue;
        }
        break (answer, took);
    };
    eprintln!(
        "ingest on a full disk: 503 after {took:?} ({} stored first in existing log space)",
        stored_on_full_disk.len()
    );
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unavailable", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("disk is full"), "{message}");
    assert!(took < Duration::from_secs(5), "503 took {took:?}");

    // A small form write may still fit where the write-ahead log already
    // has room (SQLite reuses it after a checkpoint): that one is stored
    // for real and must survive; the next ones get 503.
    let mut users_on_full_disk = Vec::new();
    let (form, form_took) = loop {
        let name = format!("on-full-disk-{}", users_on_full_disk.len());
        let started = Instant::now();
        let form = add_user(&server, &client, &admin, &name).await;
        if form.status() != StatusCode::SEE_OTHER {
            break (form, started.elapsed());
        }
        users_on_full_disk.push(name);
        assert!(
            users_on_full_disk.len() < 50,
            "50 users added on a full disk"
        );
    };
    assert_eq!(
        form.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        server.log_text()
    );
    let page = form.text().await.unwrap();
    assert!(page.contains("disk is full"), "{page}");
    eprintln!(
        "form write on a full disk: 503 after {form_took:?} ({} stored first)",
        users_on_full_disk.len()
    );

    // Reads still work, acknowledged reports among them.
    for id in std::iter::once(report_id(&kept)).chain(stored_on_full_disk.iter().copied()) {
        let got = client
            .get(server.url(&format!("/api/v1/reports/{id}")))
            .header("cookie", &admin.0)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK, "report {id}");
    }
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let why = ready.text().await.unwrap();
    assert!(why.contains("disk"), "{why}");

    // Space returns: the same process takes writes again.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let again = report(256 * 1024);
    let sent = post_report(&server, &client, &token, again.to_string())
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED, "{}", server.log_text());
    let form = add_user(&server, &client, &admin, "after-full-disk").await;
    assert_eq!(form.status(), StatusCode::SEE_OTHER);

    server.sigterm();
    let (status, _) = server.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "exit {status}: {}", server.log_text());
    let store = faultline::store::connect(&faultline::store::sqlite_url(&data))
        .await
        .unwrap();
    for id in [report_id(&kept), report_id(&again)]
        .into_iter()
        .chain(stored_on_full_disk)
    {
        assert!(store.report(id).await.unwrap().is_some(), "{id} lost");
    }
    let users: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert!(users.contains(&"after-full-disk".to_owned()), "{users:?}");
    for name in &users_on_full_disk {
        assert!(users.contains(name), "{name} acknowledged but lost");
    }
    let refused = format!("on-full-disk-{}", users_on_full_disk.len());
    assert!(!users.contains(&refused), "{users:?}");
    store.close().await;
}

// ---- SIGTERM under ingest load ------------------------------------------------------

/// What one client saw for one report.
#[derive(Debug)]
enum Outcome {
    Acknowledged(Uuid, String),
    Refused(String),
}

/// Sends reports one after another until the server stops answering.
async fn ingest_until_refused(base: String, token: String) -> Vec<Outcome> {
    let client = client();
    let mut seen = Vec::new();
    let mut refusals = 0;
    while refusals < 3 {
        let r = report(0);
        let body = r.to_string();
        let sent = client
            .post(format!("{base}/api/v1/reports"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => {
                seen.push(Outcome::Acknowledged(report_id(&r), body));
            }
            Ok(answer) => {
                let status = answer.status();
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "answered {status}");
                seen.push(Outcome::Refused(status.to_string()));
                refusals += 1;
            }
            Err(e) => {
                seen.push(Outcome::Refused(format!("{e}")));
                refusals += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    seen
}

/// `faultline serve` gets SIGTERM while six clients post reports as fast
/// as they can: it exits 0 within drain delay + grace, every report it
/// acknowledged is there after a restart, exactly as sent, and every other
/// send was refused (503 or no connection), never answered and then lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_ingest_load_keeps_every_acknowledged_report() {
    const DRAIN_S: u64 = 1;
    const GRACE_S: u64 = 5;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("faultline.toml");
    // No rate limit in the way: the load is the point.
    std::fs::write(
        &config,
        "[security]\ningest_token_burst = 1000000\ningest_token_per_s = 1000000\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let reader = run(
        &data,
        &[
            "--config", config, "token", "add", "reader", "--role", "viewer",
        ],
    );
    let reader = reader
        .split_whitespace()
        .find(|w| w.starts_with("flt_"))
        .expect("an API token")
        .to_owned();
    let collector = run(&data, &["--config", config, "collector", "add", "node-5"]);
    let collector = collector.trim().to_owned();
    let (drain, grace) = (DRAIN_S.to_string(), GRACE_S.to_string());
    let env = [
        ("FAULTLINE_DRAIN_DELAY_S", drain.as_str()),
        ("FAULTLINE_SHUTDOWN_GRACE_S", grace.as_str()),
    ];
    let mut server = Server::start_with(&data, &["--config", config], &env).await;

    let clients: Vec<_> = (0..6)
        .map(|_| tokio::spawn(ingest_until_refused(server.base.clone(), collector.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.sigterm();
    let (status, took) = server
        .wait_exit(Duration::from_secs(DRAIN_S + GRACE_S + 5))
        .await;
    assert!(status.success(), "exit {status}: {}", server.log_text());
    assert!(
        took < Duration::from_secs(DRAIN_S + GRACE_S),
        "exited after {took:?}"
    );

    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for c in clients {
        for outcome in c.await.unwrap() {
            match outcome {
                Outcome::Acknowledged(id, body) => acknowledged.push((id, body)),
                Outcome::Refused(why) => refused.push(why),
            }
        }
    }
    eprintln!(
        "SIGTERM under load: exited after {took:?}; {} reports acknowledged, {} sends refused",
        acknowledged.len(),
        refused.len()
    );
    assert!(
        acknowledged.len() >= 20,
        "only {} acknowledged",
        acknowledged.len()
    );

    // Restart and read every acknowledged report back through the API.
    let server = Server::start_with(&data, &["--config", config], &[]).await;
    let client = client();
    for (id, body) in &acknowledged {
        let got = client
            .get(server.url(&format!("/api/v1/reports/{id}")))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.status(),
            StatusCode::OK,
            "acknowledged report {id} lost"
        );
        let got: Value = got.json().await.unwrap();
        let sent: Value = serde_json::from_str(body).unwrap();
        assert_eq!(got["report"], sent, "report {id} changed");
    }
}

// ---- X-Forwarded-For -----------------------------------------------------------

/// Two attempts per address, plenty per account: the address limit is the
/// one under test.
fn login_limited_config(trusted: &str) -> Config {
    let mut config = Config::default();
    config.security.login_address_burst = 2;
    config.security.login_address_refill_s = 600;
    config.security.login_account_burst = 1000;
    config.security.trusted_proxies =
        faultline::web::forwarded::TrustedProxies::parse_list(trusted).unwrap();
    config
}

/// One wrong-password login, claiming to come from `forwarded_for`.
async fn login_from(addr: SocketAddr, forwarded_for: &str) -> StatusCode {
    client()
        .post(format!("http://{addr}/login"))
        .header("origin", format!("http://{addr}"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("name", "nobody"), ("password", "wrong-password")])
        .send()
        .await
        .unwrap()
        .status()
}

/// By default the header is not believed: a client that makes up a new
/// address for every attempt still runs out of its own budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_does_not_dodge_the_login_limit() {
    let (addr, _t, stop, handle) = common::serve_in_process(login_limited_config("")).await;
    let answers = [
        login_from(addr, "198.51.100.1").await,
        login_from(addr, "198.51.100.2").await,
        login_from(addr, "198.51.100.3").await,
    ];
    assert_eq!(
        answers,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    stop.send(Stop::Interrupt).unwrap();
    handle.await.unwrap();
}

/// Behind a trusted proxy (127.0.0.1 here) each client has its own budget,
/// found as the right-most address the proxy appended; what the client
/// wrote left of it changes nothing. The audit log names the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let (addr, t, stop, handle) = common::serve_in_process(login_limited_config("127.0.0.1")).await;
    assert_eq!(
        login_from(addr, "198.51.100.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(addr, "203.0.113.50, 198.51.100.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(addr, "203.0.113.51, 198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a made-up left-most hop is not a new client"
    );
    assert_eq!(
        login_from(addr, "198.51.100.2").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(addr, "198.51.100.2").await,
        StatusCode::UNAUTHORIZED
    );

    let audit = t.state.kb.store().recent_audit(10).await.unwrap();
    let from: Vec<&str> = audit
        .iter()
        .filter(|e| e.action == "login.fail")
        .map(|e| e.detail.as_str())
        .collect();
    assert!(from.contains(&"198.51.100.1"), "{from:?}");
    assert!(from.contains(&"198.51.100.2"), "{from:?}");
    assert!(!from.iter().any(|a| a.starts_with("203.0.113")), "{from:?}");
    stop.send(Stop::Interrupt).unwrap();
    handle.await.unwrap();
}

// ---- gzip request bodies ---------------------------------------------------------

/// `gzip -9` of `input` piped through `shell` first (`cat` for as is).
fn gzip_of(shell: &str, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("sh")
        .args(["-c", &format!("{shell} | gzip -9 -c")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// Posts `body` with `Content-Encoding: gzip` through the router, in 4 KiB
/// chunks; answers the status, the JSON answer and how many of the
/// compressed bytes the server pulled.
async fn post_gzip(
    state: &faultline::web::AppState,
    token: &str,
    body: Vec<u8>,
) -> (StatusCode, Value, usize) {
    post_encoded(state, token, "gzip", body).await
}

/// [`post_gzip`] with any `Content-Encoding`.
async fn post_encoded(
    state: &faultline::web::AppState,
    token: &str,
    encoding: &str,
    body: Vec<u8>,
) -> (StatusCode, Value, usize) {
    use axum::body::{Body, Bytes};
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let chunks: Vec<Result<Bytes, std::convert::Infallible>> = body
        .chunks(4096)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures_util::stream::iter(chunks).inspect(move |c| {
        counter.fetch_add(c.as_ref().map_or(0, Bytes::len), Ordering::SeqCst);
    });
    let request = axum::http::Request::post("/api/v1/reports")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, encoding)
        .body(Body::from_stream(stream))
        .unwrap();
    let response = web::app(state.clone()).oneshot(request).await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let answer = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, answer, pulled.load(Ordering::SeqCst))
}

async fn collector_token(state: &faultline::web::AppState) -> String {
    let labels = std::collections::BTreeMap::new();
    faultline::ingest::add_collector(state.kb.store(), "node-5", &labels)
        .await
        .unwrap()
        .1
}

/// A gzip report is taken, and the report body limit counts the inflated
/// bytes: 99 KiB of gzip that would inflate to 100 MiB gets 413 after the
/// server has inflated at most `report_body_limit`. (The compressed body
/// itself is read whole first, up to the raw body limit, before the request
/// takes one of the request places: see `web::limits::read_body`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_reports_are_limited_after_decompression() {
    let t = common::app_with(Config::default()).await;
    let token = collector_token(&t.state).await;

    let r = report(0);
    let compressed = gzip_of("cat", r.to_string().as_bytes());
    let (status, answer, _) = post_gzip(&t.state, &token, compressed).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let stored = t
        .state
        .kb
        .store()
        .report(report_id(&r))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.body, r.to_string(), "stored as inflated JSON");

    let bomb = gzip_of("head -c 104857600 /dev/zero", b"");
    let size = bomb.len();
    let started = Instant::now();
    let (status, answer, pulled) = post_gzip(&t.state, &token, bomb).await;
    let took = started.elapsed();
    eprintln!(
        "gzip bomb: {size} bytes inflating to 100 MiB; 413 after pulling {pulled} \
         compressed bytes in {took:?}"
    );
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], "too_large", "{answer}");

    let (status, answer, _) = post_encoded(&t.state, &token, "gzip", b"not gzip".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer, _) = post_encoded(&t.state, &token, "br", b"\x0b\x01".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    assert_eq!(answer["error"]["field"], "Content-Encoding", "{answer}");
}

// ---- logs into a file ------------------------------------------------------------

/// Starts `faultline serve` logging at info, asks `/healthz`, stops it with
/// SIGTERM, and returns what it wrote to stderr (a file, not a terminal).
async fn serve_log(args: &[&str], env: &[(&str, &str)]) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut all_env = vec![("RUST_LOG", "info"), ("FAULTLINE_DRAIN_DELAY_S", "0")];
    all_env.extend_from_slice(env);
    let mut server = Server::start_with(data.path(), args, &all_env).await;
    let r = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    server.sigterm();
    let (status, _) = server.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{}", server.log_text());
    server.log_text()
}

/// `faultline serve 2> file` writes plain text (no ANSI colour codes, which
/// it used to write whatever the output was); `--log-format json` and
/// `FAULTLINE_LOG_FORMAT=json` write one JSON object a line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_into_a_file_are_plain_text_or_json_lines() {
    let text = serve_log(&[], &[]).await;
    assert!(text.contains("INFO"), "{text}");
    assert!(!text.contains('\u{1b}'), "ANSI codes in a file: {text:?}");

    for (args, env) in [
        (&["--log-format", "json"][..], &[][..]),
        (&[][..], &[("FAULTLINE_LOG_FORMAT", "json")][..]),
    ] {
        let log = serve_log(args, env).await;
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(lines.len() >= 2, "{log}");
        for line in &lines {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(
                v["timestamp"].is_string() && v["level"].is_string(),
                "{line}"
            );
            assert!(v["fields"].is_object(), "{line}");
        }
        assert!(!log.contains('\u{1b}'));
    }
}
