//! Report ingest: `POST /api/v1/reports` through the real router (oneshot),
//! the report and collector pages, and a durability test that SIGKILLs the
//! real `faultline serve` binary right after its 2xx answers.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Answer, send};
use faultline::config::Config;
use faultline::web::AppState;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::Connection;
use tower::ServiceExt;
use uuid::Uuid;

const FIXTURE: &str = include_str!("fixtures/reports/node-5.json");

/// The fixture report with a fresh id.
fn report() -> Value {
    let mut v: Value = serde_json::from_str(FIXTURE).unwrap();
    v["report_id"] = json!(Uuid::new_v4().to_string());
    v
}

fn config() -> Config {
    let mut c = Config::default();
    // The pages are read without logging in, as a viewer.
    c.security.anonymous_read = true;
    c
}

async fn collector(state: &AppState, name: &str) -> String {
    let labels = BTreeMap::from([("cluster".to_owned(), "prod".to_owned())]);
    let (_, token) = faultline::ingest::add_collector(state.kb.store(), name, &labels)
        .await
        .unwrap();
    token
}

/// Checks on what the router answered, for this file's JSON errors.
impl Answer {
    /// A JSON error with this status and code; returns it.
    fn error(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(
            self.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{:?}",
            self.headers
        );
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(
            v["error"]["message"].as_str().is_some_and(|m| m.len() > 10),
            "{v}"
        );
        v
    }
}

fn post_request(auth: Option<&str>, content_type: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut r = Request::post("/api/v1/reports");
    if let Some(a) = auth {
        r = r.header(header::AUTHORIZATION, a);
    }
    if let Some(c) = content_type {
        r = r.header(header::CONTENT_TYPE, c);
    }
    r.body(Body::from(body)).unwrap()
}

async fn post(state: &AppState, token: &str, body: &Value) -> Answer {
    post_raw(state, token, serde_json::to_vec(body).unwrap()).await
}

async fn post_raw(state: &AppState, token: &str, body: Vec<u8>) -> Answer {
    send(
        state,
        post_request(
            Some(&format!("Bearer {token}")),
            Some("application/json"),
            body,
        ),
    )
    .await
}

async fn get(state: &AppState, uri: &str) -> Answer {
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// `text` appears HTML-escaped (askama writes `&#60;`, others `&lt;`).
fn shows_escaped(page: &str, text: &str) -> bool {
    let named = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let numeric = text
        .replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;");
    page.contains(&named) || page.contains(&numeric)
}

fn id_of(report: &Value) -> Uuid {
    report["report_id"].as_str().unwrap().parse().unwrap()
}

// ---- Accepting, replaying --------------------------------------------------

#[tokio::test]
async fn a_report_is_stored_once_and_a_resend_gets_the_first_answer() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    let report = report();

    let first = post(&t.state, &token, &report).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let answer = first.json();
    assert_eq!(answer["report_id"], report["report_id"]);
    assert_eq!(answer["stored"], true);
    assert!(answer["received_at"].as_str().unwrap().ends_with('Z'));
    assert!(answer.as_object().unwrap().contains_key("diagnosis"));

    tokio::time::sleep(Duration::from_millis(5)).await;
    for _ in 0..2 {
        let again = post(&t.state, &token, &report).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        // Byte for byte the first answer, but for `stored`.
        assert_eq!(
            again.text,
            first
                .text
                .replacen("\"stored\":true", "\"stored\":false", 1)
        );
    }

    // Stored once, as sent; the collector's last report moved.
    let store = t.state.kb.store();
    let listed = store.recent_reports(None, 100).await.unwrap();
    assert_eq!(listed.len(), 1);
    let stored = store.report(id_of(&report)).await.unwrap().unwrap();
    assert_eq!(stored.answer, first.text);
    assert_eq!(serde_json::from_str::<Value>(&stored.body).unwrap(), report);
    assert_eq!(stored.summary.collector, "node-5");
    assert_eq!(stored.summary.host, "node-5.prod");
    assert_eq!(stored.summary.labels["zone"], "eu-1");
    let c = store.collector("node-5").await.unwrap().unwrap();
    assert_eq!(c.last_report_at, Some(stored.summary.received_at));

    // A resend with a changed body still gets the first answer.
    let mut changed = report.clone();
    changed["observations"] = json!([]);
    let again = post(&t.state, &token, &changed).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["received_at"], answer["received_at"]);
}

#[tokio::test]
async fn the_answer_carries_the_diagnosis_and_the_page_shows_it() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    let text = faultline::builtin::example("examples/conntrack-table-full-2.json").unwrap();
    let mut report: Value = serde_json::from_str(&text).unwrap();
    report["report_id"] = json!(Uuid::new_v4().to_string());
    let a = post(&t.state, &token, &report).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let v = a.json();
    assert_eq!(
        v["diagnosis"]["matches"][0]["playbook"], "conntrack-table-full",
        "{v}"
    );
    let page = get(&t.state, &format!("/reports/{}", id_of(&report))).await;
    assert_eq!(page.status, StatusCode::OK);
    let section = page.text.find("<section id=\"diagnosis\"").unwrap();
    assert!(page.text[section..].contains("/playbooks/conntrack-table-full"));
}

/// A DaemonSet probe's report: the page lists each network namespace in
/// a row of its own, the pod with the leak first, and folds the pods'
/// own tables away.
#[tokio::test]
async fn the_page_breaks_the_sockets_down_by_network_namespace() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "k8s-node-7").await;
    let text = faultline::builtin::example("examples/close-wait-leak-4.json").unwrap();
    let mut report: Value = serde_json::from_str(&text).unwrap();
    report["report_id"] = json!(Uuid::new_v4().to_string());
    let a = post(&t.state, &token, &report).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        a.json()["diagnosis"]["matches"][0]["playbook"],
        "close-wait-leak"
    );
    let page = get(&t.state, &format!("/reports/{}", id_of(&report))).await;
    assert_eq!(page.status, StatusCode::OK);
    let table = page
        .text
        .find("<h2 id=\"namespaces\">")
        .expect("a namespace table");
    let rows = &page.text[table..page.text[table..].find("</table>").unwrap() + table];
    let pod = rows
        .find("pod payments/ledger-6c8f9-2xk4q")
        .expect("the leaking pod");
    let host = rows.find("<td>host (the probe").expect("the host's row");
    assert!(pod < host, "most CLOSE_WAIT first: {rows}");
    assert!(rows.contains("java (18502): 642"));
    let folded = page
        .text
        .find("id=\"namespace-sockets\"")
        .expect("the pods' own tables, folded");
    assert!(page.text[folded..].contains("TCP sockets in pod shop/web-5f7c9-8tq2m"));
    // The diagnosis names the pod beside the counts.
    let diagnosis = page.text.find("<section id=\"diagnosis\"").unwrap();
    assert!(page.text[diagnosis..table].contains("pod payments/ledger-6c8f9-2xk4q"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicate_sends_store_once() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    let body = serde_json::to_vec(&report()).unwrap();
    let app = faultline::web::app(t.state.clone());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let app = app.clone();
            let request = post_request(
                Some(&format!("Bearer {token}")),
                Some("application/json"),
                body.clone(),
            );
            tokio::spawn(async move {
                let response = app.oneshot(request).await.unwrap();
                let status = response.status();
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                (status, String::from_utf8(bytes.to_vec()).unwrap())
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut replayed = Vec::new();
    for task in tasks {
        let (status, text) = task.await.unwrap();
        match status {
            StatusCode::CREATED => created.push(text),
            StatusCode::OK => replayed.push(text),
            other => panic!("{other}: {text}"),
        }
    }
    assert_eq!((created.len(), replayed.len()), (1, 15));
    let expected = created[0].replacen("\"stored\":true", "\"stored\":false", 1);
    assert!(replayed.iter().all(|r| *r == expected), "{replayed:?}");
    assert_eq!(
        t.state
            .kb
            .store()
            .recent_reports(None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn another_collector_cannot_reuse_a_report_id() {
    let t = common::app_with(config()).await;
    let a = collector(&t.state, "node-a").await;
    let b = collector(&t.state, "node-b").await;
    let report = report();
    assert_eq!(
        post(&t.state, &a, &report).await.status,
        StatusCode::CREATED
    );
    let v = post(&t.state, &b, &report)
        .await
        .error(StatusCode::CONFLICT, "conflict");
    assert_eq!(v["error"]["field"], "report_id");
    // It did not leak the first answer.
    assert!(v.get("diagnosis").is_none() && v.get("received_at").is_none());
}

#[tokio::test]
async fn unknown_kinds_are_kept_raw_and_unknown_fields_ignored() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    let mut report = report();
    report["observations"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kind": "quic_handshakes", "rtt_ms": [1, 2], "nested": {"x": null}}));
    report["collector"]["extra"] = json!("ignored");
    let answer = post(&t.state, &token, &report).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);

    let detail = get(&t.state, &format!("/api/v1/reports/{}", id_of(&report))).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    let v = detail.json();
    let kinds: Vec<&str> = v["report"]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"ebpf_retransmits") && kinds.contains(&"quic_handshakes"));
    let quic = v["report"]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "quic_handshakes")
        .unwrap();
    assert_eq!(quic["nested"], json!({"x": null}), "kept verbatim");
    assert_eq!(v["answer"]["stored"], true);
    assert_eq!(v["collector"], "node-5");

    // The page shows it raw, escaped.
    let page = get(&t.state, &format!("/reports/{}", id_of(&report))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("quic_handshakes"));
    assert!(shows_escaped(&page.text, "<b>kept raw</b>"));
    assert!(!page.text.contains("<b>kept raw</b>"));
}

// ---- Refusals ------------------------------------------------------------------

#[tokio::test]
async fn missing_or_malformed_credentials_are_401() {
    let t = common::app_with(config()).await;
    collector(&t.state, "node-5").await;
    let body = serde_json::to_vec(&report()).unwrap();
    for auth in [
        None,
        Some("Basic bm9kZTpwdw=="),
        Some("Bearer"),
        Some("Bearer not-a-collector-token"),
        Some("Bearer flc_short"),
    ] {
        let a = send(
            &t.state,
            post_request(auth, Some("application/json"), body.clone()),
        )
        .await;
        let v = a.error(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(v["error"]["field"], "Authorization", "{auth:?}");
        assert!(a.headers.contains_key(header::WWW_AUTHENTICATE), "{auth:?}");
    }
    assert!(
        t.state
            .kb
            .store()
            .recent_reports(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn wrong_and_revoked_tokens_are_403() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    let wrong = faultline::ingest::generate_token();
    post(&t.state, &wrong, &report())
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");

    assert_eq!(
        post(&t.state, &token, &report()).await.status,
        StatusCode::CREATED
    );
    let revoked = t.state.kb.store().revoke_collector("node-5").await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let v = post(&t.state, &token, &report())
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert!(v["error"]["message"].as_str().unwrap().contains("revoked"));
    assert_eq!(
        t.state
            .kb
            .store()
            .recent_reports(None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_collector_over_its_rate_gets_429_with_retry_after() {
    let mut c = config();
    c.security.ingest_token_burst = 2;
    c.security.ingest_token_per_s = 1;
    let t = common::app_with(c).await;
    let token = collector(&t.state, "node-5").await;
    let other = collector(&t.state, "node-6").await;
    for _ in 0..2 {
        assert_eq!(
            post(&t.state, &token, &report()).await.status,
            StatusCode::CREATED
        );
    }
    let a = post(&t.state, &token, &report()).await;
    a.error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(a.headers.contains_key(header::RETRY_AFTER));
    // Another collector has its own bucket.
    assert_eq!(
        post(&t.state, &other, &report()).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    let body = serde_json::to_vec(&report()).unwrap();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let a = send(
            &t.state,
            post_request(Some(&format!("Bearer {token}")), ct, body.clone()),
        )
        .await;
        a.error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
    let a = send(
        &t.state,
        post_request(
            Some(&format!("Bearer {token}")),
            Some("Application/JSON; charset=utf-8"),
            body,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
}

#[tokio::test]
async fn malformed_json_is_400_with_line_and_column() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    for (body, line, column) in [
        (
            &b"{\"schema\": \"faultline.report.v1\",\n  \"report_id\": }"[..],
            2,
            16,
        ),
        (b"", 1, 0),
        (b"{\"a\": 1} trailing", 1, 10),
        (b"\xff\xfe{}", 1, 1),
    ] {
        let a = post_raw(&t.state, &token, body.to_vec()).await;
        let v = a.error(StatusCode::BAD_REQUEST, "malformed_json");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("line {line} column {column}")),
            "{message}"
        );
    }
}

#[tokio::test]
async fn invalid_reports_are_422_naming_the_field() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|r| r["observations"][0]["counts"]["ESTABLISHED"] = json!(-4)),
            "observations[0].counts.ESTABLISHED",
        ),
        (
            Box::new(|r| r["schema"] = json!("faultline.report.v9")),
            "schema",
        ),
        (
            Box::new(|r| r["report_id"] = json!("not-a-uuid")),
            "report_id",
        ),
        (
            Box::new(|r| {
                r.as_object_mut().unwrap().remove("collector");
            }),
            "",
        ),
        (
            Box::new(|r| r["observations"][3]["samples"][0] = json!([1, "slow", 200])),
            "observations[3].samples[0]",
        ),
    ];
    for (mutate, field) in cases {
        let mut r = report();
        mutate(&mut r);
        let v = post(&t.state, &token, &r)
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_report");
        if field.is_empty() {
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("collector"),
                "{v}"
            );
        } else {
            assert!(
                v["error"]["field"].as_str().unwrap().starts_with(field),
                "{field}: {v}"
            );
        }
    }
    assert!(
        t.state
            .kb
            .store()
            .recent_reports(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn oversized_reports_are_413_json() {
    let mut c = config();
    c.report_body_limit = 64 * 1024;
    let t = common::app_with(c).await;
    let token = collector(&t.state, "node-5").await;
    let mut r = report();
    r["observations"][5]["padding"] = json!("x".repeat(100 * 1024));
    let a = post(&t.state, &token, &r).await;
    let v = a.error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert!(v["error"]["message"].as_str().unwrap().contains("65536"));

    // Past the server-wide limit too (refused before the handler).
    r["observations"][5]["padding"] = json!("x".repeat(3 * 1024 * 1024));
    post(&t.state, &token, &r)
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");

    // Just under the limit is fine.
    let mut r = report();
    r["observations"][5]["padding"] = json!("x".repeat(50 * 1024));
    assert_eq!(post(&t.state, &token, &r).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_busy_store_answers_503_not_a_hang() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    // Another process holds the write lock.
    let url = faultline::store::sqlite_url(t.dir.path());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let started = Instant::now();
    let r = report();
    let a = post(&t.state, &token, &r).await;
    a.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(a.headers[header::RETRY_AFTER], "1");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    // Nothing half-stored: the retry is a first send.
    assert_eq!(post(&t.state, &token, &r).await.status, StatusCode::CREATED);
}

// ---- Group commit (issue 19) ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reports_share_commits_and_each_gets_its_answer() {
    let mut c = config();
    c.security.ingest_token_burst = 10_000;
    let t = common::app_with(c).await;
    let token = collector(&t.state, "node-5").await;
    // Hold the write lock a moment, so the first sends queue up behind it
    // (as they do behind an fsync): the writer then takes them together.
    let url = faultline::store::sqlite_url(t.dir.path());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let sends: Vec<_> = (0..32)
        .map(|_| {
            let (state, token) = (t.state.clone(), token.clone());
            tokio::spawn(async move {
                let r = report();
                (id_of(&r), post(&state, &token, &r).await)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    let mut ids = HashSet::new();
    for s in sends {
        let (id, answer) = s.await.unwrap();
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(answer.json()["report_id"], id.to_string(), "its own answer");
        let stored = t.state.kb.store().report(id).await.unwrap().unwrap();
        assert_eq!(stored.answer, answer.text);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 32);
    let stats = t.state.report_writer.stats();
    // 32 reports plus their incident events, in far fewer transactions.
    assert!(stats.writes >= 32, "{stats:?}");
    assert!(stats.batches * 4 <= stats.writes, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_ingest_queue_answers_503_at_once() {
    let mut c = config();
    c.ingest_queue = 1;
    let t = common::app_with(c).await;
    let token = collector(&t.state, "node-5").await;
    let url = faultline::store::sqlite_url(t.dir.path());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    // The writer takes the first and waits for the lock; the second fills
    // the queue.
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let (state, token) = (t.state.clone(), token.clone());
        waiting.push(tokio::spawn(async move {
            post(&state, &token, &report()).await.status
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let started = Instant::now();
    let r = report();
    let a = post(&t.state, &token, &r).await;
    // Refused at once (a store wait would take the 5 s busy timeout).
    a.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(a.headers[header::RETRY_AFTER], "1");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    for w in waiting {
        assert_eq!(w.await.unwrap(), StatusCode::CREATED);
    }
    // Refused, not half-stored: the retry is a first send.
    assert_eq!(post(&t.state, &token, &r).await.status, StatusCode::CREATED);
}

// ---- JSON API reads ---------------------------------------------------------

#[tokio::test]
async fn list_and_get_reports() {
    let t = common::app_with(config()).await;
    let a = collector(&t.state, "node-a").await;
    let b = collector(&t.state, "node-b").await;
    let mut ids = Vec::new();
    for token in [&a, &b, &a] {
        let r = report();
        ids.push(r["report_id"].as_str().unwrap().to_owned());
        assert_eq!(post(&t.state, token, &r).await.status, StatusCode::CREATED);
    }
    let all = get(&t.state, "/api/v1/reports").await.json();
    let listed: Vec<&str> = all["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [&ids[2], &ids[1], &ids[0]], "newest first");
    let only_a = get(&t.state, "/api/v1/reports?collector=node-a&limit=1")
        .await
        .json();
    assert_eq!(only_a["reports"].as_array().unwrap().len(), 1);
    assert_eq!(only_a["reports"][0]["report_id"], ids[2].as_str());
    assert_eq!(only_a["reports"][0]["collector"], "node-a");
    for bad in ["0", "abc", "100000", "-1"] {
        get(&t.state, &format!("/api/v1/reports?limit={bad}"))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit");
    }
    get(&t.state, &format!("/api/v1/reports/{}", Uuid::new_v4()))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    get(&t.state, "/api/v1/reports/not-a-uuid")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

// ---- Pages --------------------------------------------------------------------

#[tokio::test]
async fn pages_render_and_escape_names() {
    let t = common::app_with(config()).await;
    let store = t.state.kb.store();
    let evil = "<script>x</script>";
    let labels = BTreeMap::from([("team".to_owned(), "<b>ops</b>".to_owned())]);
    store
        .add_collector(evil, &faultline::ingest::hash_token("flc_x"), &labels)
        .await
        .unwrap();
    let token = collector(&t.state, "node-5").await;
    collector(&t.state, "quiet-node").await;
    let r = report();
    assert_eq!(post(&t.state, &token, &r).await.status, StatusCode::CREATED);
    store.revoke_collector(evil).await.unwrap();

    let page = get(&t.state, "/collectors").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(shows_escaped(&page.text, evil));
    assert!(!page.text.contains(evil));
    assert!(!page.text.contains("<b>ops</b>"));
    assert!(page.text.contains("status-fresh"), "node-5 just reported");
    assert!(page.text.contains("status-never"), "quiet-node");
    assert!(page.text.contains("status-revoked"));

    let page = get(&t.state, "/reports").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(&format!("/reports/{}", id_of(&r))));
    assert!(
        page.text.contains("href=\"/reports\">Reports</a>"),
        "nav link"
    );
    assert!(!page.text.contains(evil));

    let page = get(&t.state, "/reports?collector=%3Cscript%3Ex%3C%2Fscript%3E").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains(evil));
    assert!(page.text.contains("No report yet"));

    let page = get(&t.state, &format!("/reports/{}", id_of(&r))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for expected in [
        "<section id=\"diagnosis\"",
        "chart-tcp-states",
        "chart-gauge",
        "chart-dns",
        "chart-latency",
        "chart-lifetime",
        "most end at",
        "node-5.prod",
        "no --k8s-pods input",
    ] {
        assert!(page.text.contains(expected), "{expected} missing");
    }
    assert!(!page.text.contains("style="), "no inline styles (CSP)");
    assert!(!page.text.contains("<script>"), "no inline scripts");

    let page = get(&t.state, &format!("/reports/{}", Uuid::new_v4())).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = get(&t.state, "/reports/%3Cscript%3E").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.text.contains("<script>"));
}

#[tokio::test]
async fn stale_collectors_show_as_stale() {
    let t = common::app_with(config()).await;
    let token = collector(&t.state, "node-5").await;
    // Reports a minute apart whose last one arrived long ago: simulate by
    // sending reports collected an hour ago, then checking the status
    // function with the stored times.
    for minute in 0..3 {
        let mut r = report();
        r["started_at"] = json!(format!("2026-11-23T09:0{minute}:00Z"));
        r["finished_at"] = json!(format!("2026-11-23T09:0{minute}:05Z"));
        assert_eq!(post(&t.state, &token, &r).await.status, StatusCode::CREATED);
    }
    let store = t.state.kb.store();
    let starts: Vec<_> = store
        .recent_start_times(8)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let interval = faultline::ingest::expected_interval(&starts).unwrap();
    assert_eq!(interval, Duration::from_secs(60));
    let c = store.collector("node-5").await.unwrap().unwrap();
    let later = c.last_report_at.unwrap() + chrono::Duration::minutes(4);
    assert_eq!(
        faultline::ingest::collector_status(&c, Some(interval), later),
        faultline::ingest::CollectorStatus::Stale
    );
    let page = get(&t.state, "/collectors").await;
    assert!(page.text.contains("every 60 s"), "{}", page.text);
}

// ---- Durability: SIGKILL the real server right after its 2xx answers ---------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn faultline_cmd(data_dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"));
    cmd.arg("--data-dir").arg(data_dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("FAULTLINE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_acknowledged_is_lost_when_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = faultline_cmd(&data)
        .args(["collector", "add", "node-5", "--label", "cluster=prod"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("flc_"), "{token}");

    let port = free_port();
    let mut server = faultline_cmd(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        assert!(server.try_wait().unwrap().is_none(), "the server exited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Four senders; stop (SIGKILL) as soon as 40 reports are acknowledged.
    const ACKED: usize = 40;
    let acked = Arc::new(std::sync::Mutex::new(Vec::<(Uuid, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let (acked, stop) = (acked.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let r = report();
                    let body = serde_json::to_string(&r).unwrap();
                    let sent = client
                        .post(format!("{base}/api/v1/reports"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(resp) if resp.status().is_success() => {
                            let mut a = acked.lock().unwrap();
                            a.push((id_of(&r), body));
                            if a.len() >= ACKED {
                                stop.store(true, Ordering::SeqCst);
                            }
                        }
                        Ok(resp) => panic!("HTTP {}", resp.status()),
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    for s in senders {
        s.await.unwrap();
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= ACKED);
    let store = faultline::store::connect(&faultline::store::sqlite_url(&data))
        .await
        .unwrap();
    let mut seen = HashSet::new();
    for (id, body) in &acked {
        let stored = store
            .report(*id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged report {id} was lost"));
        assert_eq!(&stored.body, body);
        seen.insert(*id);
    }
    assert_eq!(seen.len(), acked.len());
    eprintln!(
        "{} acknowledged reports, all present after SIGKILL",
        acked.len()
    );
    store.close().await;
}

#[test]
fn collector_cli_adds_lists_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| faultline_cmd(&data).args(args).output().unwrap();

    let out = run(&["collector", "add", "node-7", "--label", "zone=eu-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(
        faultline::ingest::well_formed_token(token.trim()),
        "{token:?}"
    );
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(note.contains("shown once"), "{note}");

    let out = run(&["collector", "add", "node-7"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = run(&["collector", "add", "bad name"]);
    assert!(!out.status.success());
    let out = run(&["collector", "add", "x", "--label", "novalue"]);
    assert!(!out.status.success());

    let out = run(&["collector", "list", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["collectors"][0]["name"], "node-7");
    assert_eq!(v["collectors"][0]["labels"]["zone"], "eu-1");
    assert_eq!(v["collectors"][0]["status"], "never");
    // The token is never printed again, nor stored.
    assert!(!String::from_utf8_lossy(&out.stdout).contains(token.trim()));
    let needle = token.trim().as_bytes();
    for file in ["faultline.db", "faultline.db-wal"] {
        let bytes = std::fs::read(data.join(file)).unwrap_or_default();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{file}");
    }

    let out = run(&["collector", "revoke", "node-7"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["collector", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));
    let out = run(&["collector", "revoke", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no collector named"));
}
