//! Replicas on one PostgreSQL: two real `faultline serve` processes on
//! loopback sharing a fresh database. A playbook saved through one reaches
//! the other's search index within a second (LISTEN/NOTIFY), a replica that
//! lost its listening connection resyncs, a report sent to one is read from
//! the other, and replicas starting at once on a fresh database both migrate.
//!
//! PostgreSQL: `postgres://postgres@127.0.0.1:5432/postgres`, or the URL in
//! `FAULTLINE_TEST_POSTGRES`; never skipped.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const BIN: &str = env!("CARGO_BIN_EXE_faultline");

fn admin_url() -> String {
    std::env::var("FAULTLINE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned())
}

/// The admin URL with its database replaced by `name`.
fn url_with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

async fn admin_connection() -> PgConnection {
    let admin = admin_url();
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&admin)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!("PostgreSQL is not reachable at {admin}: {e}"),
        Err(_) => panic!("PostgreSQL at {admin} did not answer within 10 s"),
    }
}

/// A fresh database, dropped (with its connections) when the test ends.
struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create() -> TestDatabase {
        let name = format!("faultline_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin_connection().await;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = conn.close().await;
        let url = url_with_database(&admin_url(), &name);
        TestDatabase { name, url }
    }

    async fn drop_database(self) {
        let mut conn = admin_connection().await;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot drop test database {}: {e}", self.name));
        let _ = conn.close().await;
    }
}

/// A `faultline serve` process, killed when dropped.
struct Replica {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

fn start_replica(database: &str, dir: &Path, name: &str) -> Replica {
    let addr = free_port();
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).expect("log file");
    let child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--database",
            database,
        ])
        .env("FAULTLINE_ANONYMOUS_READ", "true")
        .env("RUST_LOG", "faultline=debug")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .expect("start faultline serve");
    Replica { child, addr, log }
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                panic!("replica exited with {status}:\n{}", self.log());
            }
            if let Ok(r) = http.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica not ready in 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The log shows the listener is up (its first resync done).
    async fn wait_following(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains("following other replicas' changes") {
            assert!(
                Instant::now() < deadline,
                "replica never listened:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn search_ids(&self, http: &reqwest::Client, q: &str) -> Vec<String> {
        let r = http
            .get(self.url("/api/v1/search"))
            .query(&[("q", q)])
            .send()
            .await
            .expect("search");
        assert!(r.status().is_success(), "search: {}", r.status());
        let body: Value = r.json().await.expect("search json");
        body["hits"]
            .as_array()
            .unwrap_or_else(|| panic!("no hits array: {body}"))
            .iter()
            .filter_map(|h| h["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Polls search until `id` is a hit; returns how long that took.
    async fn wait_for_hit(
        &self,
        http: &reqwest::Client,
        q: &str,
        id: &str,
        limit: Duration,
    ) -> Duration {
        let start = Instant::now();
        loop {
            if self.search_ids(http, q).await.iter().any(|h| h == id) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "{id} not found for {q:?} on {} within {limit:?}:\n{}",
                self.addr,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs the `faultline` CLI against `database`; returns stdout.
fn cli(database: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(["--database", database])
        .current_dir(dir)
        .output()
        .expect("run faultline");
    assert!(
        out.status.success(),
        "faultline {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A playbook file whose text holds `word` (and nothing else does).
fn write_playbook(dir: &Path, id: &str, word: &str) -> std::path::PathBuf {
    let text = format!(
        r#"+++
id = "{id}"
title = "Replica check {word}"
alert = "{word} alarm fired"
tags = ["tcp"]
layer = "application"

[[clause]]
when = "tcp.close_wait_share > 0.5"
weight = 3
says = "most sockets wait for our own close()"
+++
## Symptoms

- The {word} counter climbs.

## Investigation

1. **Count sockets by state.**

   ```sh
   ss -tan | awk '{{print $1}}' | sort | uniq -c
   ```

   What it shows: thousands of CLOSE-WAIT sockets.

## Root cause

The peer closed; our code never closed its side.

## Fix

Close the response body.

## Prevention

A test that counts sockets.
"#
    );
    let path = dir.join(format!("{id}.md"));
    std::fs::write(&path, text).expect("write playbook");
    path
}

/// Kills the listening connections of the replica whose search index we
/// check, as a lost network would.
async fn kill_listeners(database: &str) -> u64 {
    let mut conn = PgConnection::connect(database).await.expect("connect");
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("terminate listeners");
    let _ = conn.close().await;
    killed.len() as u64
}

/// Replicas `a` and `b` on `database`, started together (both migrate at
/// once), ready and following each other's changes.
async fn two_replicas(database: &str, dir: &Path, http: &reqwest::Client) -> (Replica, Replica) {
    let mut a = start_replica(database, dir, "a");
    let mut b = start_replica(database, dir, "b");
    a.wait_ready(http).await;
    b.wait_ready(http).await;
    a.wait_following().await;
    b.wait_following().await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_on_one_replica_reaches_the_other_within_a_second() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Both start at once on the fresh database: both migrate safely.
    let (a, b) = two_replicas(&db.url, dir.path(), &http).await;

    // A new playbook saved through replica A's database session (the CLI
    // import: there is no edit route yet) reaches B's index.
    let word = format!("zq{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let path = write_playbook(dir.path(), "replica-check", &word);
    assert!(b.search_ids(&http, &word).await.is_empty());
    cli(&db.url, dir.path(), &["import", path.to_str().unwrap()]);
    let took = b
        .wait_for_hit(&http, &word, "replica-check", Duration::from_secs(1))
        .await;
    eprintln!("new playbook reached replica B in {took:?}");
    a.wait_for_hit(&http, &word, "replica-check", Duration::from_secs(1))
        .await;

    // An edit of it (a new version with a new word) too; the old word is gone.
    let word2 = format!("zq{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let path = write_playbook(dir.path(), "replica-check", &word2);
    cli(&db.url, dir.path(), &["import", path.to_str().unwrap()]);
    let took = b
        .wait_for_hit(&http, &word2, "replica-check", Duration::from_secs(1))
        .await;
    eprintln!("edit reached replica B in {took:?}");
    assert!(
        b.search_ids(&http, &word).await.is_empty(),
        "old text still indexed on B"
    );
    let page = http
        .get(b.url("/api/v1/playbooks/replica-check"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&word2),
        "B's in-memory playbook is stale: {page}"
    );

    // Lost listening connections: a save made while B reconnects is picked
    // up by its resync.
    assert!(kill_listeners(&db.url).await >= 2, "no listeners to kill");
    let word3 = format!("zq{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let path = write_playbook(dir.path(), "replica-resync", &word3);
    cli(&db.url, dir.path(), &["import", path.to_str().unwrap()]);
    let took = b
        .wait_for_hit(&http, &word3, "replica-resync", Duration::from_secs(10))
        .await;
    eprintln!("save during reconnect reached replica B in {took:?}");
    assert!(b.log().contains("reconnecting"), "{}", b.log());

    // A report sent to A is read from B.
    let token = cli(&db.url, dir.path(), &["collector", "add", "node-5"])
        .trim()
        .to_owned();
    let report_id = uuid::Uuid::new_v4();
    let mut report: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports/node-5.json"),
        )
        .unwrap(),
    )
    .unwrap();
    report["report_id"] = Value::String(report_id.to_string());
    let sent = http
        .post(a.url("/api/v1/reports"))
        .bearer_auth(&token)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "ingest on A: {}", sent.status());
    let read = http
        .get(b.url(&format!("/api/v1/reports/{report_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200, "report not readable on B");
    let read: Value = read.json().await.unwrap();
    assert!(read.to_string().contains(&report_id.to_string()), "{read}");

    drop(a);
    drop(b);
    db.drop_database().await;
}

/// A logged-in session on a replica: cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

/// Adds a responder with the CLI (before the replicas start).
fn add_responder(database: &str, dir: &Path, name: &str) {
    let out = Command::new(BIN)
        .args([
            "user",
            "add",
            name,
            "--role",
            "responder",
            "--database",
            database,
        ])
        .env("FAULTLINE_PASSWORD", RESPONDER_PASSWORD)
        .current_dir(dir)
        .output()
        .expect("run faultline user add");
    assert!(
        out.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const RESPONDER_PASSWORD: &str = "correct horse battery staple 42";

impl Replica {
    async fn login(&self, http: &reqwest::Client, name: &str) -> Session {
        let base = self.url("");
        let (cookie, csrf) =
            common::http_login(http, &base, name, RESPONDER_PASSWORD, "/incidents/new").await;
        Session { csrf, cookie }
    }

    /// POSTs a form as `session`; returns the status and `Location`.
    async fn post_form(
        &self,
        http: &reqwest::Client,
        session: &Session,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String) {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &session.csrf));
        let r = http
            .post(self.url(path))
            .header("origin", self.url(""))
            .header("cookie", &session.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status().as_u16(), location)
    }

    /// Opens the incident page's event stream; every `timeline` event's id
    /// is sent on the channel with the moment it arrived.
    async fn timeline_stream(
        &self,
        http: &reqwest::Client,
        incident: i64,
    ) -> tokio::sync::mpsc::UnboundedReceiver<(i64, Instant)> {
        let mut response = http
            .get(self.url(&format!("/incidents/{incident}/events")))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "event stream on {}", self.addr);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                let at = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let frame: String = buffer.drain(..end + 2).collect();
                    if !frame.lines().any(|l| l == "event: timeline") {
                        continue;
                    }
                    let id = frame
                        .lines()
                        .find_map(|l| l.strip_prefix("id: ")?.parse().ok())
                        .expect("timeline event id");
                    if tx.send((id, at)).is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }
}

/// A browser on replica B watches an incident; notes added on replica A
/// reach B's event stream within a second, once each; A's own stream also
/// gets each exactly once (its bus, not also the database's notice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_note_on_one_replica_streams_live_on_the_other() {
    const NOTES: usize = 20;
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    add_responder(&db.url, dir.path(), "alice");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (a, b) = two_replicas(&db.url, dir.path(), &http).await;

    let alice = a.login(&http, "alice").await;
    let (status, location) = a
        .post_form(
            &http,
            &alice,
            "/incidents",
            &[("title", "Replica live check"), ("severity", "warning")],
        )
        .await;
    assert_eq!(status, 303, "open incident on A");
    let incident: i64 = location
        .trim_start_matches("/incidents/")
        .split(['?', '#'])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no incident id in {location:?}"));

    let mut on_b = b.timeline_stream(&http, incident).await;
    let mut on_a = a.timeline_stream(&http, incident).await;
    let mut latencies = Vec::new();
    let mut ids = Vec::new();
    for i in 0..NOTES {
        let text = format!("note {i} from replica A");
        let sent = Instant::now();
        let (status, _) = a
            .post_form(
                &http,
                &alice,
                &format!("/incidents/{incident}"),
                &[("action", "note"), ("text", &text)],
            )
            .await;
        assert_eq!(status, 303, "note {i} on A");
        let (id, at) = tokio::time::timeout(Duration::from_secs(1), on_b.recv())
            .await
            .unwrap_or_else(|_| panic!("note {i} did not reach B within 1 s:\n{}", b.log()))
            .expect("B's stream ended");
        latencies.push(at.duration_since(sent));
        ids.push(id);
    }
    // Each id is the note as B reads it from the shared database.
    let timeline: Value = http
        .get(b.url(&format!("/api/v1/incidents/{incident}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let notes: Vec<i64> = timeline["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| {
            e["kind"] == "note"
                && e["body"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("from replica A"))
        })
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, notes, "B streamed other events than the notes");

    // A's own stream: every note once, none twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut on_a_ids = Vec::new();
    while let Ok((id, _)) = on_a.try_recv() {
        on_a_ids.push(id);
    }
    assert_eq!(on_a_ids, notes, "A's stream: each note exactly once");
    assert!(on_b.try_recv().is_err(), "B got an event twice");

    latencies.sort();
    eprintln!(
        "note on A -> SSE event on B, {NOTES} notes (from sending the POST): \
         min {:?}, median {:?}, max {:?}",
        latencies[0],
        latencies[NOTES / 2],
        latencies[NOTES - 1]
    );
    drop(a);
    drop(b);
    db.drop_database().await;
}

/// A report body from an example, as a new report of host `host`.
fn likely_report(example: &str, host: &str) -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("playbooks/examples/{example}.json"));
    let mut report: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    report["report_id"] = Value::String(uuid::Uuid::new_v4().to_string());
    report["collector"]["host"] = Value::String(host.to_owned());
    let now = chrono::Utc::now().to_rfc3339();
    report["started_at"] = Value::String(now.clone());
    report["finished_at"] = Value::String(now);
    report
}

/// The incidents in the shared database.
async fn incident_ids(database: &str) -> Vec<i64> {
    let mut conn = PgConnection::connect(database).await.expect("connect");
    let ids = sqlx::query_scalar("SELECT id FROM incidents ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .expect("list incidents");
    let _ = conn.close().await;
    ids
}

/// One bad node's collector sends likely reports (of two different causes,
/// so no unique index decides) to both replicas at once: one incident
/// opens. Resolved, and the node still bad: the cool-down, kept in the
/// shared database, holds a new one off on both replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_collector_reporting_to_two_replicas_at_once_opens_one_incident() {
    const EACH: usize = 4;
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    add_responder(&db.url, dir.path(), "alice");
    let token = cli(&db.url, dir.path(), &["collector", "add", "node-9"])
        .trim()
        .to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut a = start_replica(&db.url, dir.path(), "a");
    let mut b = start_replica(&db.url, dir.path(), "b");
    a.wait_ready(&http).await;
    b.wait_ready(&http).await;

    let burst = |round: usize| {
        let mut sends = Vec::new();
        for i in 0..EACH {
            for (replica, example) in [(&a, "close-wait-leak-1"), (&b, "conntrack-table-full-1")] {
                let request = http
                    .post(replica.url("/api/v1/reports"))
                    .bearer_auth(&token)
                    .json(&likely_report(example, "node-9"));
                sends.push(tokio::spawn(async move {
                    let r = request.send().await.expect("send report");
                    (round, i, r.status().as_u16())
                }));
            }
        }
        sends
    };
    for send in burst(1) {
        let (round, i, status) = send.await.unwrap();
        assert_eq!(status, 201, "round {round} report {i}");
    }
    let ids = incident_ids(&db.url).await;
    assert_eq!(ids.len(), 1, "one incident for one collector: {ids:?}");
    let incident = ids[0];
    let timeline: Value = http
        .get(a.url(&format!("/api/v1/incidents/{incident}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reports = timeline["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "report")
        .count();
    assert_eq!(reports, 2 * EACH, "every report reached the incident");

    // Resolved on A; the node is still bad and reports to both.
    let alice = a.login(&http, "alice").await;
    let (status, _) = a
        .post_form(
            &http,
            &alice,
            &format!("/incidents/{incident}"),
            &[("action", "status"), ("status", "resolved")],
        )
        .await;
    assert_eq!(status, 303);
    for send in burst(2) {
        let (round, i, status) = send.await.unwrap();
        assert_eq!(status, 201, "round {round} report {i}");
    }
    assert_eq!(
        incident_ids(&db.url).await,
        vec![incident],
        "the cool-down held on both replicas"
    );
    drop(a);
    drop(b);
    db.drop_database().await;
}

/// Replicas starting at the same moment on a fresh database: the migrations
/// run under an advisory lock, so every `connect` succeeds and the schema is
/// applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrating_a_fresh_database_at_once_all_succeed() {
    let db = TestDatabase::create().await;
    let connects = (0..4).map(|_| {
        let url = db.url.clone();
        async move { faultline::store::connect(&url).await }
    });
    let results = futures_join_all(connects).await;
    for r in &results {
        if let Err(e) = r {
            panic!("a concurrent connect failed: {e}");
        }
    }
    for store in results.into_iter().flatten() {
        store.ping().await.expect("ping");
        store.close().await;
    }
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let (applied, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT version) FROM _sqlx_migrations WHERE success",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(applied, distinct);
    assert!(applied >= 3, "{applied} migrations");
    let _ = conn.close().await;
    db.drop_database().await;
}

/// Runs futures concurrently on the runtime, results in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// On SQLite nothing is shared: no listener task runs, and `notify` is a
/// no-op that succeeds.
#[tokio::test]
async fn sqlite_has_no_replica_listener() {
    let dir = tempfile::tempdir().unwrap();
    let store = faultline::store::connect(&faultline::store::sqlite_url(dir.path()))
        .await
        .unwrap();
    store.notify("faultline_events", "x").await.unwrap();
    let kb = faultline::kb::KnowledgeBase::open(store.clone())
        .await
        .unwrap();
    let sync = faultline::replicas::spawn(kb, None);
    assert!(!sync.is_running());
    sync.stop().await;
    store.close().await;
}

/// In one process on PostgreSQL: a save notifies, the listener refreshes
/// that playbook; an incident event notice from another process is read
/// and published on the bus, this process's own notices and malformed ones
/// are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_refresh_the_playbook_and_reach_the_event_bus() {
    use faultline::replicas::{self, EVENTS_CHANNEL};
    use faultline::store::{EventKind, EventNotice, NewIncident};
    let db = TestDatabase::create().await;
    let store = faultline::store::connect(&db.url).await.unwrap();
    let kb = faultline::kb::KnowledgeBase::open(store.clone())
        .await
        .unwrap();
    // A second KB on its own store: the "other replica".
    let other_store = faultline::store::connect(&db.url).await.unwrap();
    let other = faultline::kb::KnowledgeBase::open(other_store.clone())
        .await
        .unwrap();
    let bus = faultline::incidents::bus::Bus::default();
    let mut received = bus.subscribe();
    let sync = replicas::spawn(kb.clone(), Some(bus.clone()));
    assert!(sync.is_running());

    let labels = std::collections::BTreeMap::new();
    let (incident, first) = store
        .open_incident(
            NewIncident {
                title: "replica bus check",
                severity: "warning",
                labels: &labels,
                opened_by: "tester",
                group_key: None,
            },
            (EventKind::Note, &serde_json::json!({"text": "opened"})),
        )
        .await
        .unwrap();
    let foreign = EventNotice {
        origin: "another-process".into(),
        incident_id: incident.id,
        event_id: first.id,
    }
    .encode();
    // Wait for the listener: a notice from "another process" comes through
    // as the stored event.
    let deadline = Instant::now() + Duration::from_secs(10);
    let event = loop {
        store.notify(EVENTS_CHANNEL, &foreign).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(200), received.recv()).await {
            Ok(Ok(event)) => break event,
            _ => assert!(Instant::now() < deadline, "no event came through"),
        }
    };
    assert_eq!(event, first);
    while received.try_recv().is_ok() {}
    // This process's own append (it publishes on its bus itself) and a
    // malformed notice publish nothing; the next foreign one does.
    let note = store
        .append_event(
            incident.id,
            "tester",
            EventKind::Note,
            &serde_json::json!({"text": "local"}),
        )
        .await
        .unwrap();
    store.notify(EVENTS_CHANNEL, "incident:42").await.unwrap();
    store.notify(EVENTS_CHANNEL, &foreign).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(2), received.recv())
        .await
        .expect("the foreign notice came through")
        .unwrap();
    assert_eq!(next, first, "got {next:?}, not the foreign event");
    assert_ne!(next.id, note.id);
    assert!(received.try_recv().is_err());
    // Notices sent while the listener was away are lost: once it is back,
    // the live pages are told to reload.
    let mut resyncs = bus.resyncs();
    resyncs.borrow_and_update();
    assert!(kill_listeners(&db.url).await >= 1, "no listener to kill");
    tokio::time::timeout(Duration::from_secs(10), resyncs.changed())
        .await
        .expect("a resync after reconnecting")
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let word = format!("zq{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let path = write_playbook(dir.path(), "replica-inproc", &word);
    let source = std::fs::read_to_string(&path).unwrap();
    other
        .save(
            "replica-inproc.md",
            &source,
            faultline::store::Origin::Edit,
            Some("tester"),
            None,
        )
        .await
        .unwrap();
    let start = Instant::now();
    let request = faultline::search::SearchRequest {
        text: word.clone(),
        tag: None,
        layer: None,
        limit: 5,
    };
    while kb.get("replica-inproc").is_none() || kb.search(&request).unwrap().hits.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "not refreshed in 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(kb.get("replica-inproc").unwrap().version.version, 1);
    // Refreshing again changes nothing.
    assert!(!kb.refresh("replica-inproc").await.unwrap());

    sync.stop().await;
    store.close().await;
    other_store.close().await;
    db.drop_database().await;
}

/// A postmortem saved through one process (the CLI import) is found by
/// search on both replicas: saves notify every replica's index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postmortem_saved_anywhere_is_searchable_on_every_replica() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let (a, b) = two_replicas(&db.url, dir.path(), &http).await;

    let word = format!("zq{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let text = format!(
        "+++\nid = 900\nincident = 900\ntitle = \"Replica check\"\n\
         impact_start = \"2026-11-23T10:00:00Z\"\n+++\n\n## Summary\n\n## Impact\n\n\
         ## Symptoms\n\n## Timeline\n\n## Evidence\n\n## Investigation\n\n\
         ## Root cause\n\nThe {word} pool leaked.\n\n## Fix\n\n## Prevention\n"
    );
    let path = dir.path().join("900.md");
    std::fs::write(&path, text).unwrap();
    cli(&db.url, dir.path(), &["import", path.to_str().unwrap()]);
    for replica in [&b, &a] {
        let took = replica
            .wait_for_hit(&http, &word, "900", Duration::from_secs(1))
            .await;
        eprintln!("postmortem reached replica {} in {took:?}", replica.addr);
    }
}
