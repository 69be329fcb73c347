//! The store suite: the same tests against SQLite (in a temporary directory)
//! and a real PostgreSQL, plus a few backend-specific checks.
//!
//! PostgreSQL: `postgres://postgres@127.0.0.1:5432/postgres`, or the URL in
//! `FAULTLINE_TEST_POSTGRES`. Each test creates its own database
//! `faultline_test_<uuid>` and drops it afterwards. If the server cannot be
//! reached the PostgreSQL tests fail; they never skip.

use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Timelike, Utc};
use faultline::store::{
    self, DynStore, NewVersion, Origin, PlaybookVersion, SqliteStore, StoreError,
};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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
    let hint = "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) \
                main start`, or point FAULTLINE_TEST_POSTGRES at a server";
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&admin)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!("PostgreSQL is not reachable at {admin}: {e}; {hint}"),
        Err(_) => panic!("PostgreSQL at {admin} did not answer within 10 s; {hint}"),
    }
}

/// A fresh database for one test.
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
        // Sessions in a far-from-UTC zone: times must still round-trip.
        sqlx::query(AssertSqlSafe(format!(
            "ALTER DATABASE {name} SET timezone TO 'Pacific/Chatham'"
        )))
        .execute(&mut conn)
        .await
        .expect("set the test database's time zone");
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

/// Runs one suite test against a fresh SQLite file.
async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(DynStore, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = store::sqlite_url(dir.path());
    let store = store::connect(&url).await.expect("open the SQLite store");
    let result = tokio::spawn(test(store.clone(), url)).await;
    store.close().await;
    drop(dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs one suite test against a fresh PostgreSQL database, dropped after
/// the test whether it passed or not.
async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(DynStore, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let db = TestDatabase::create().await;
    let result = match store::connect(&db.url).await {
        Ok(store) => {
            let result = tokio::spawn(test(store.clone(), db.url.clone())).await;
            store.close().await;
            result.map_err(|e| e.into_panic())
        }
        Err(e) => Err(Box::new(format!("cannot open the PostgreSQL store: {e}")) as _),
    };
    db.drop_database().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn version<'a>(
    id: &'a str,
    source: &'a str,
    origin: Origin,
    base_version: Option<i64>,
) -> NewVersion<'a> {
    NewVersion {
        id,
        source,
        origin,
        author: None,
        base_version,
    }
}

fn versions(history: &[PlaybookVersion]) -> Vec<i64> {
    history.iter().map(|v| v.version).collect()
}

/// The shared suite: each test takes the store and the URL it came from.
mod suite {
    use super::*;

    pub async fn migrations_apply_and_reopen(store: DynStore, url: String) {
        store.ping().await.expect("ping a fresh store");
        assert!(store.current_playbooks().await.unwrap().is_empty());
        let saved = store
            .save_playbook(version("mtu-blackhole", "v1", Origin::Builtin, None))
            .await
            .unwrap();

        // Reopening runs the migrations again: nothing to do, nothing lost.
        for _ in 0..2 {
            let again = store::connect(&url).await.expect("reopen the store");
            again.ping().await.unwrap();
            assert_eq!(
                again.current_playbook("mtu-blackhole").await.unwrap(),
                Some(saved.clone())
            );
            again.close().await;
        }
        store.ping().await.unwrap();
    }

    pub async fn create_append_history_lookup(store: DynStore, _url: String) {
        let id = "close-wait-leak";
        let v1 = store
            .save_playbook(version(id, "one", Origin::Builtin, None))
            .await
            .unwrap();
        assert_eq!(
            (v1.version, v1.origin, v1.author.as_deref()),
            (1, Origin::Builtin, None)
        );

        let v2 = store
            .save_playbook(NewVersion {
                id,
                source: "two",
                origin: Origin::Edit,
                author: Some("alice"),
                base_version: Some(1),
            })
            .await
            .unwrap();
        assert_eq!((v2.version, v2.author.as_deref()), (2, Some("alice")));

        // No base: imports and built-in upgrades append.
        let v3 = store
            .save_playbook(version(id, "three", Origin::Import, None))
            .await
            .unwrap();
        assert_eq!((v3.version, v3.origin), (3, Origin::Import));

        assert_eq!(store.current_playbook(id).await.unwrap(), Some(v3.clone()));
        let history = store.playbook_history(id).await.unwrap();
        assert_eq!(history, vec![v3.clone(), v2.clone(), v1.clone()]);
        assert_eq!(store.playbook_version(id, 2).await.unwrap(), Some(v2));
        assert_eq!(store.playbook_version(id, 1).await.unwrap(), Some(v1));
        assert_eq!(store.playbook_version(id, 4).await.unwrap(), None);
        assert_eq!(store.playbook_version("missing", 1).await.unwrap(), None);
        assert_eq!(store.current_playbook("missing").await.unwrap(), None);
        assert!(store.playbook_history("missing").await.unwrap().is_empty());

        // Ids ordered bytewise on both backends, whatever the locale.
        for other in ["b", "ab", "a_b", "a-z", "A"] {
            store
                .save_playbook(version(other, other, Origin::Import, None))
                .await
                .unwrap();
        }
        let current = store.current_playbooks().await.unwrap();
        let ids: Vec<&str> = current.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["A", "a-z", "a_b", "ab", "b", id]);
        assert_eq!(current.last(), Some(&v3));
        assert!(current[..5].iter().all(|v| v.version == 1));
    }

    pub async fn stale_base_conflicts_and_writes_nothing(store: DynStore, _url: String) {
        let id = "idle-timeout-reset";
        store
            .save_playbook(version(id, "one", Origin::Builtin, None))
            .await
            .unwrap();
        let v2 = store
            .save_playbook(version(id, "two", Origin::Edit, Some(1)))
            .await
            .unwrap();

        for stale in [1, 3, 0] {
            let err = store
                .save_playbook(version(id, "stale edit", Origin::Edit, Some(stale)))
                .await
                .unwrap_err();
            assert!(
                matches!(err, StoreError::Conflict { current: 2 }),
                "base {stale}: {err:?}"
            );
        }
        assert_eq!(store.current_playbook(id).await.unwrap(), Some(v2));
        assert_eq!(versions(&store.playbook_history(id).await.unwrap()), [2, 1]);

        // A base version for a playbook that does not exist.
        let err = store
            .save_playbook(version("nope", "x", Origin::Edit, Some(3)))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
        assert_eq!(store.current_playbook("nope").await.unwrap(), None);

        // Base 0: create, and it must not exist yet.
        let created = store
            .save_playbook(version("fresh", "x", Origin::Edit, Some(0)))
            .await
            .unwrap();
        assert_eq!(created.version, 1);
        let err = store
            .save_playbook(version("fresh", "y", Origin::Edit, Some(0)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { current: 1 }),
            "{err:?}"
        );
    }

    pub async fn concurrent_saves_one_wins(store: DynStore, _url: String) {
        let id = "keepalive-race-502";
        store
            .save_playbook(version(id, "base", Origin::Builtin, None))
            .await
            .unwrap();

        // Eight editors start from version 1 at once: one wins.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let source = format!("edit {i}");
                    store
                        .save_playbook(version(id, &source, Origin::Edit, Some(1)))
                        .await
                })
            })
            .collect();
        let mut won = Vec::new();
        let mut conflicts = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(v) => won.push(v),
                Err(StoreError::Conflict { current: 2 }) => conflicts += 1,
                Err(e) => panic!("unexpected error: {e:?}"),
            }
        }
        assert_eq!((won.len(), conflicts), (1, 7));
        assert_eq!(won[0].version, 2);
        assert_eq!(
            store.current_playbook(id).await.unwrap().as_ref(),
            Some(&won[0])
        );
        assert_eq!(versions(&store.playbook_history(id).await.unwrap()), [2, 1]);

        // Eight imports without a base at once: all append, numbers stay
        // contiguous.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let source = format!("import {i}");
                    store
                        .save_playbook(version(id, &source, Origin::Import, None))
                        .await
                })
            })
            .collect();
        let mut numbers = Vec::new();
        for task in tasks {
            numbers.push(task.await.unwrap().expect("append without base").version);
        }
        numbers.sort_unstable();
        assert_eq!(numbers, (3..=10).collect::<Vec<_>>());
        assert_eq!(
            versions(&store.playbook_history(id).await.unwrap()),
            (1..=10).rev().collect::<Vec<_>>()
        );

        // Eight people create the same new playbook at once.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let source = format!("new {i}");
                    store
                        .save_playbook(version("brand-new", &source, Origin::Edit, Some(0)))
                        .await
                })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(v) => {
                    assert_eq!(v.version, 1);
                    created += 1;
                }
                Err(StoreError::Conflict { current: 1 }) => {}
                Err(e) => panic!("unexpected error: {e:?}"),
            }
        }
        assert_eq!(created, 1);
        assert_eq!(
            versions(&store.playbook_history("brand-new").await.unwrap()),
            [1]
        );
    }

    pub async fn identical_source_is_a_no_op(store: DynStore, _url: String) {
        let id = "dns-ndots-search-delay";
        let v1 = store
            .save_playbook(version(id, "same", Origin::Builtin, None))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        for base in [Some(1), None] {
            let again = store
                .save_playbook(version(id, "same", Origin::Edit, base))
                .await
                .unwrap();
            assert_eq!(again, v1, "base {base:?}");
        }
        assert_eq!(versions(&store.playbook_history(id).await.unwrap()), [1]);

        let v2 = store
            .save_playbook(version(id, "changed", Origin::Edit, Some(1)))
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        let again = store
            .save_playbook(version(id, "changed", Origin::Edit, Some(2)))
            .await
            .unwrap();
        assert_eq!(again, v2);
        // Going back to an older text is a real change.
        let v3 = store
            .save_playbook(version(id, "same", Origin::Edit, Some(2)))
            .await
            .unwrap();
        assert_eq!(v3.version, 3);
        assert_eq!(
            versions(&store.playbook_history(id).await.unwrap()),
            [3, 2, 1]
        );
    }

    pub async fn utc_timestamps_round_trip(store: DynStore, _url: String) {
        let before = Utc::now().trunc_subsecs(6);
        let v1 = store
            .save_playbook(version(
                "tls-version-mismatch",
                "one",
                Origin::Builtin,
                None,
            ))
            .await
            .unwrap();
        let after = Utc::now();
        assert!(before <= v1.created_at && v1.created_at <= after, "{v1:?}");
        // Microseconds: what both backends keep.
        assert_eq!(v1.created_at.nanosecond() % 1_000, 0);

        tokio::time::sleep(Duration::from_millis(3)).await;
        let v2 = store
            .save_playbook(version(
                "tls-version-mismatch",
                "two",
                Origin::Edit,
                Some(1),
            ))
            .await
            .unwrap();
        assert!(v2.created_at > v1.created_at);

        let read = store
            .playbook_version("tls-version-mismatch", 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.created_at, v1.created_at);
        assert_eq!(read.created_at.timezone(), Utc);
        let history = store
            .playbook_history("tls-version-mismatch")
            .await
            .unwrap();
        assert_eq!(history[0].created_at, v2.created_at);
        assert_eq!(history[1].created_at, v1.created_at);
    }
    // ---- Collectors and reports (issue 4) ----------------------------------

    fn new_report<'a>(
        id: uuid::Uuid,
        collector: &'a str,
        labels: &'a std::collections::BTreeMap<String, String>,
        started: chrono::DateTime<Utc>,
        answer: &'a str,
    ) -> store::NewReport<'a> {
        store::NewReport {
            report_id: id,
            collector,
            host: "host-1",
            labels,
            started_at: started,
            finished_at: started + chrono::Duration::seconds(5),
            received_at: Utc::now(),
            body: "{\"schema\":\"faultline.report.v1\"}",
            answer,
        }
    }

    // ---- Group commit (issue 19) ---------------------------------------------

    fn batch_report(
        id: uuid::Uuid,
        collector: &str,
        answer: &str,
        likely: &[&str],
    ) -> store::BatchWrite {
        store::BatchWrite::Report {
            report: store::ReportRow {
                report_id: id,
                collector: collector.to_owned(),
                host: "host-1".into(),
                labels: Default::default(),
                started_at: Utc::now().trunc_subsecs(6),
                finished_at: Utc::now().trunc_subsecs(6),
                received_at: Utc::now(),
                body: "{\"schema\":\"faultline.report.v1\"}".into(),
                answer: answer.to_owned(),
            },
            likely: likely.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// One transaction for the batch, one savepoint per write: the writes
    /// that fail (an unknown collector, a missing incident) are undone
    /// alone, their batch-mates commit, and each gets its own answer.
    pub async fn group_commit_isolates_each_write(store: DynStore, _url: String) {
        store
            .add_collector("node-g", &[42; store::TOKEN_HASH_LEN], &Default::default())
            .await
            .unwrap();
        let labels = std::collections::BTreeMap::new();
        let (incident, _) = store
            .open_incident(
                store::NewIncident {
                    title: "batch",
                    severity: "warning",
                    labels: &labels,
                    opened_by: "node-g",
                    group_key: None,
                },
                (store::EventKind::Note, &serde_json::json!({"text": "open"})),
            )
            .await
            .unwrap();
        let (a, b, ghost) = (
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
        );
        let writes = vec![
            batch_report(a, "node-g", "{\"a\":1}", &["gc-playbook"]),
            batch_report(ghost, "no-such-collector", "{}", &["gc-playbook"]),
            store::BatchWrite::ReportEvent {
                incident_id: incident.id + 1000,
                who: "node-g".into(),
                body: serde_json::json!({"report_id": a.to_string()}),
                likely: vec!["gc-playbook".into()],
            },
            batch_report(a, "node-g", "{\"again\":1}", &[]),
            store::BatchWrite::ReportEvent {
                incident_id: incident.id,
                who: "node-g".into(),
                body: serde_json::json!({"report_id": a.to_string()}),
                likely: vec!["gc-playbook".into()],
            },
            batch_report(b, "node-g", "{\"b\":1}", &[]),
        ];
        let results = store.write_batch(&writes).await;
        assert_eq!(results.len(), writes.len());
        assert!(
            matches!(
                results[0],
                Ok(store::BatchDone::Report(store::Inserted::Stored))
            ),
            "{:?}",
            results[0]
        );
        assert!(
            matches!(results[1], Err(StoreError::Database(_))),
            "{:?}",
            results[1]
        );
        assert!(
            matches!(results[2], Err(StoreError::NotFound)),
            "{:?}",
            results[2]
        );
        // The same id again in the same batch: the first one's answer.
        assert_eq!(
            results[3].as_ref().unwrap(),
            &store::BatchDone::Report(store::Inserted::Existing {
                collector: "node-g".into(),
                answer: "{\"a\":1}".into()
            })
        );
        let Ok(store::BatchDone::Event(event)) = &results[4] else {
            panic!("{:?}", results[4]);
        };
        assert_eq!(event.incident_id, incident.id);
        assert_eq!(event.kind, store::EventKind::Report);
        assert!(matches!(
            results[5],
            Ok(store::BatchDone::Report(store::Inserted::Stored))
        ));

        assert_eq!(store.report(a).await.unwrap().unwrap().answer, "{\"a\":1}");
        assert!(store.report(b).await.unwrap().is_some());
        assert!(store.report(ghost).await.unwrap().is_none());
        let events = store.events(incident.id).await.unwrap();
        assert_eq!(events.len(), 2, "{events:?}");
        // Matches: report a's (once: the ghost's was undone) and the incident's.
        let feedback = store.playbook_feedback("gc-playbook").await.unwrap();
        assert_eq!(
            (feedback.matched_reports, feedback.matched_incidents),
            (1, 1)
        );
        let collector = store.collector("node-g").await.unwrap().unwrap();
        assert!(collector.last_report_at.is_some());
        assert!(store.write_batch(&[]).await.is_empty());
    }

    // ---- Retention (issue 10) -----------------------------------------------

    /// Old reports are deleted, older-than-30-days ones rolled up (signals
    /// and answer kept, observations dropped) in batches, recent ones left
    /// alone; a second run finds nothing; ingest runs alongside.
    pub async fn retention_rolls_up_then_deletes_in_batches(store: DynStore, _url: String) {
        use faultline::retention::{self, Policy};
        let labels = std::collections::BTreeMap::new();
        store
            .add_collector("ret-node", &[7u8; 32], &labels)
            .await
            .unwrap();
        let fixture = include_str!("fixtures/reports/node-5.json");
        let now = Utc::now();
        let body_for = |id: uuid::Uuid| {
            fixture.replace("0b6f4b3e-5f0c-4c41-9a53-3f0f5a1c2d11", &id.to_string())
        };
        let mut inserted = Vec::new();
        // 1 past deletion, 5 past roll-up (3 batches of 2), 1 recent.
        for days in [100, 40, 41, 42, 43, 44, 1] {
            let id = uuid::Uuid::new_v4();
            let body = body_for(id);
            let answer = format!("{{\"report_id\":\"{id}\",\"diagnosis\":{{\"matches\":[]}}}}");
            let received = now - chrono::Duration::days(days);
            store
                .insert_report(store::NewReport {
                    received_at: received,
                    body: &body,
                    ..new_report(id, "ret-node", &labels, received, &answer)
                })
                .await
                .unwrap();
            inserted.push((id, days, answer));
        }
        let policy = Policy {
            roll_up_after: Some(chrono::Duration::days(30)),
            delete_after: Some(chrono::Duration::days(90)),
            batch: 2,
            pause: Duration::from_millis(1),
        };
        // Ingest alongside retention: every insert succeeds.
        let ingest = {
            let store = store.clone();
            let labels = labels.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    let id = uuid::Uuid::new_v4();
                    store
                        .insert_report(new_report(id, "ret-node", &labels, Utc::now(), "{}"))
                        .await
                        .expect("ingest during retention");
                }
            })
        };
        let outcome = retention::run_once(&store, &policy, now).await.unwrap();
        ingest.await.unwrap();
        assert_eq!((outcome.deleted, outcome.rolled_up), (1, 5), "{outcome:?}");
        assert!(outcome.batches >= 4, "{outcome:?}");

        for (id, days, answer) in &inserted {
            let stored = store.report(*id).await.unwrap();
            let signals = store.report_signals(*id).await.unwrap();
            match days {
                100 => assert!(stored.is_none() && signals.is_none(), "{days}"),
                1 => {
                    let stored = stored.unwrap();
                    assert_eq!(stored.body, body_for(*id));
                    assert!(signals.is_none());
                }
                _ => {
                    let stored = stored.expect("rolled up, not deleted");
                    assert_eq!(&stored.answer, answer, "the diagnosis summary is kept");
                    let report = faultline_probe::report::Report::from_json(stored.body.as_bytes())
                        .expect("the compact body is still a v1 report");
                    assert!(report.observations.is_empty());
                    assert_eq!(report.report_id, *id);
                    let signals: serde_json::Value =
                        serde_json::from_str(&signals.expect("signals kept")).unwrap();
                    assert!(
                        signals.as_object().is_some_and(|s| !s.is_empty()),
                        "{signals}"
                    );
                }
            }
        }
        let again = retention::run_once(&store, &policy, now).await.unwrap();
        assert_eq!((again.deleted, again.rolled_up), (0, 0));
    }

    /// Stores the fixture report under a fresh id, received `days` before
    /// `now` from collector `ret-node`; returns its id and body.
    async fn aged_report(
        store: &DynStore,
        now: chrono::DateTime<Utc>,
        days: i64,
    ) -> (uuid::Uuid, String) {
        let labels = std::collections::BTreeMap::new();
        let id = uuid::Uuid::new_v4();
        let body = include_str!("fixtures/reports/node-5.json")
            .replace("0b6f4b3e-5f0c-4c41-9a53-3f0f5a1c2d11", &id.to_string());
        let received = now - chrono::Duration::days(days);
        store
            .insert_report(store::NewReport {
                received_at: received,
                body: &body,
                ..new_report(id, "ret-node", &labels, received, "{}")
            })
            .await
            .unwrap();
        (id, body)
    }

    fn pin_policy() -> faultline::retention::Policy {
        faultline::retention::Policy {
            roll_up_after: Some(chrono::Duration::days(30)),
            delete_after: Some(chrono::Duration::days(90)),
            batch: 2,
            pause: Duration::from_millis(1),
        }
    }

    /// Pinned reports past both ages stay whole while unpinned ones of the
    /// same ages are deleted or rolled up; a report goes once no holder pins
    /// it any more.
    pub async fn retention_leaves_pinned_reports_whole(store: DynStore, _url: String) {
        use faultline::retention::run_once;
        let labels = std::collections::BTreeMap::new();
        store
            .add_collector("ret-node", &[7u8; 32], &labels)
            .await
            .unwrap();
        let now = Utc::now();
        let (old_pinned, old_body) = aged_report(&store, now, 100).await;
        let (old_free, _) = aged_report(&store, now, 100).await;
        let (mid_pinned, mid_body) = aged_report(&store, now, 40).await;
        let (mid_free, mid_free_body) = aged_report(&store, now, 40).await;
        // Two holders share one report; a repeated id is pinned once.
        store
            .set_report_pins("playbook:p", &[old_pinned, old_pinned])
            .await
            .unwrap();
        store
            .set_report_pins("postmortem:1", &[mid_pinned, old_pinned])
            .await
            .unwrap();
        let mut both = vec![old_pinned, mid_pinned];
        both.sort();
        assert_eq!(store.report_pins("postmortem:1").await.unwrap(), both);
        assert_eq!(store.report_pins("playbook:p").await.unwrap(), [old_pinned]);
        assert!(store.report_pins("playbook:q").await.unwrap().is_empty());
        let all = store.all_report_pins().await.unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all["postmortem:1"], both);
        assert_eq!(all["playbook:p"], [old_pinned]);

        let outcome = run_once(&store, &pin_policy(), now).await.unwrap();
        assert_eq!((outcome.deleted, outcome.rolled_up), (1, 1), "{outcome:?}");
        assert!(store.report(old_free).await.unwrap().is_none());
        let rolled = store.report(mid_free).await.unwrap().unwrap();
        assert_ne!(rolled.body, mid_free_body, "the unpinned one is rolled up");
        for (id, body) in [(old_pinned, &old_body), (mid_pinned, &mid_body)] {
            let kept = store.report(id).await.unwrap().expect("pinned: kept");
            assert_eq!(&kept.body, body, "pinned: body unchanged");
            assert!(store.report_signals(id).await.unwrap().is_none());
        }

        // One holder lets go: the other still pins it.
        store.set_report_pins("playbook:p", &[]).await.unwrap();
        assert!(store.report_pins("playbook:p").await.unwrap().is_empty());
        let outcome = run_once(&store, &pin_policy(), now).await.unwrap();
        assert_eq!((outcome.deleted, outcome.rolled_up), (0, 0), "{outcome:?}");
        // The last holder lets go of both: deleted and rolled up in turn.
        store.set_report_pins("postmortem:1", &[]).await.unwrap();
        let outcome = run_once(&store, &pin_policy(), now).await.unwrap();
        assert_eq!((outcome.deleted, outcome.rolled_up), (1, 1), "{outcome:?}");
        assert!(store.report(old_pinned).await.unwrap().is_none());
        assert!(store.report_signals(mid_pinned).await.unwrap().is_some());
    }

    /// The knowledge base keeps the pins current: a playbook's stored-report
    /// example and a postmortem's `reports` are pinned on save, a re-save
    /// without the example unpins it, and opening the knowledge base again
    /// restores pins a crash lost.
    pub async fn saves_pin_cited_reports(store: DynStore, _url: String) {
        use faultline::kb::KnowledgeBase;
        use faultline::retention::run_once;
        let labels = std::collections::BTreeMap::new();
        store
            .add_collector("ret-node", &[7u8; 32], &labels)
            .await
            .unwrap();
        let now = Utc::now();
        let (example, example_body) = aged_report(&store, now, 100).await;
        let (cited, cited_body) = aged_report(&store, now, 100).await;
        let playbook = |examples: &str| {
            faultline::authoring::BLANK.replace(
                "says = \"why this signal points here, in one line\"\n",
                &format!("says = \"why this signal points here, in one line\"\n{examples}"),
            )
        };
        let with_example = playbook(&format!(
            "\n[[example]]\nreport = \"{example}\"\n\n[[example]]\nreport = \"examples/close-wait-leak.json\"\n"
        ));
        assert!(with_example.contains(&example.to_string()));
        let kb = KnowledgeBase::open(store.clone()).await.unwrap();
        let saved = kb
            .save("p.md", &with_example, Origin::Edit, Some("alice"), None)
            .await
            .unwrap();
        let holder = "playbook:new-playbook";
        assert_eq!(store.report_pins(holder).await.unwrap(), [example]);

        let postmortem = format!(
            "+++\nid = 3\nincident = 12\ntitle = \"Checkout 502s\"\n\
             impact_start = \"2026-11-23T10:00:00Z\"\nreports = [\"{cited}\"]\n+++\n\
             ## Summary\n\n## Impact\n\n## Symptoms\n\n## Timeline\n\n## Evidence\n\n\
             ## Investigation\n\n## Root cause\n\n## Fix\n\n## Prevention\n"
        );
        faultline::postmortems::import(&kb, "3.md", &postmortem, "alice")
            .await
            .unwrap();
        assert_eq!(store.report_pins("postmortem:3").await.unwrap(), [cited]);

        // A crash between a save and its pin write: the next start heals it.
        store.set_report_pins(holder, &[]).await.unwrap();
        store.set_report_pins("postmortem:3", &[]).await.unwrap();
        let kb = KnowledgeBase::open(store.clone()).await.unwrap();
        assert_eq!(store.report_pins(holder).await.unwrap(), [example]);
        assert_eq!(store.report_pins("postmortem:3").await.unwrap(), [cited]);
        // A start only adds: a pin another replica's save wrote for a
        // report this replica's snapshot does not cite stays.
        store.add_report_pins(holder, &[cited]).await.unwrap();
        store.add_report_pins(holder, &[cited]).await.unwrap();
        let mut both = vec![example, cited];
        both.sort();
        KnowledgeBase::open(store.clone()).await.unwrap();
        assert_eq!(store.report_pins(holder).await.unwrap(), both);
        store.set_report_pins(holder, &[example]).await.unwrap();
        let outcome = run_once(&store, &pin_policy(), now).await.unwrap();
        assert_eq!(outcome.deleted, 0, "{outcome:?}");
        for (id, body) in [(example, &example_body), (cited, &cited_body)] {
            assert_eq!(&store.report(id).await.unwrap().unwrap().body, body);
        }

        // Saved again without the example: unpinned, and retention takes it.
        kb.save(
            "p.md",
            &playbook(""),
            Origin::Edit,
            Some("alice"),
            Some(saved.version.version),
        )
        .await
        .unwrap();
        assert!(store.report_pins(holder).await.unwrap().is_empty());
        let outcome = run_once(&store, &pin_policy(), now).await.unwrap();
        assert_eq!(outcome.deleted, 1, "{outcome:?}");
        assert!(store.report(example).await.unwrap().is_none());
        assert!(store.report(cited).await.unwrap().is_some());
    }

    pub async fn collectors_add_find_revoke(store: DynStore, _url: String) {
        let labels = std::collections::BTreeMap::from([
            ("cluster".to_owned(), "prod".to_owned()),
            ("odd".to_owned(), "\u{0}<\"é\">".to_owned()),
        ]);
        let hash_b = [2u8; store::TOKEN_HASH_LEN];
        let b = store
            .add_collector("node-b", &hash_b, &labels)
            .await
            .unwrap();
        assert_eq!(
            (b.labels.clone(), b.last_report_at, b.revoked_at),
            (labels.clone(), None, None)
        );
        let a = store
            .add_collector("node-a", &[1u8; store::TOKEN_HASH_LEN], &Default::default())
            .await
            .unwrap();
        let err = store
            .add_collector("node-b", &[3u8; store::TOKEN_HASH_LEN], &labels)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");

        let found = store
            .collector_by_token_hash(&hash_b)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.collector, b);
        assert_eq!(found.token_hash, hash_b.to_vec());
        assert!(
            store
                .collector_by_token_hash(&[9u8; store::TOKEN_HASH_LEN])
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(store.collectors().await.unwrap(), vec![a, b.clone()]);
        assert_eq!(store.collector("node-b").await.unwrap(), Some(b));
        assert_eq!(store.collector("nope").await.unwrap(), None);

        let revoked = store.revoke_collector("node-b").await.unwrap();
        let when = revoked.revoked_at.expect("revoked");
        tokio::time::sleep(Duration::from_millis(3)).await;
        let again = store.revoke_collector("node-b").await.unwrap();
        assert_eq!(again.revoked_at, Some(when), "the first revocation stands");
        let found = store
            .collector_by_token_hash(&hash_b)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.collector.revoked_at, Some(when));
        let err = store.revoke_collector("nope").await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }

    pub async fn reports_insert_once_list_and_read(store: DynStore, _url: String) {
        let labels = std::collections::BTreeMap::from([("zone".to_owned(), "eu".to_owned())]);
        for (i, name) in ["node-a", "node-b"].into_iter().enumerate() {
            store
                .add_collector(name, &[i as u8; store::TOKEN_HASH_LEN], &labels)
                .await
                .unwrap();
        }
        let base = Utc::now().trunc_subsecs(6) - chrono::Duration::hours(1);
        let mut ids = Vec::new();
        for i in 0..5i64 {
            let id = uuid::Uuid::new_v4();
            let collector = if i % 2 == 0 { "node-a" } else { "node-b" };
            let answer = format!("{{\"n\":{i}}}");
            let new = new_report(
                id,
                collector,
                &labels,
                base + chrono::Duration::minutes(i),
                &answer,
            );
            assert_eq!(
                store.insert_report(new).await.unwrap(),
                store::Inserted::Stored
            );
            ids.push(id);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // A resend: nothing written, the first answer back.
        let resend = new_report(ids[0], "node-a", &labels, base, "{\"other\":1}");
        assert_eq!(
            store.insert_report(resend).await.unwrap(),
            store::Inserted::Existing {
                collector: "node-a".into(),
                answer: "{\"n\":0}".into()
            }
        );

        let read = store.report(ids[2]).await.unwrap().unwrap();
        assert_eq!(read.answer, "{\"n\":2}");
        assert_eq!(read.body, "{\"schema\":\"faultline.report.v1\"}");
        assert_eq!(read.summary.started_at, base + chrono::Duration::minutes(2));
        assert_eq!(read.summary.started_at.timezone(), Utc);
        assert_eq!(read.summary.labels, labels);
        assert_eq!(read.summary.host, "host-1");
        assert!(store.report(uuid::Uuid::new_v4()).await.unwrap().is_none());

        let all = store.recent_reports(None, 100).await.unwrap();
        let got: Vec<_> = all.iter().map(|r| r.report_id).collect();
        assert_eq!(
            got,
            ids.iter().rev().copied().collect::<Vec<_>>(),
            "newest first"
        );
        let b = store.recent_reports(Some("node-b"), 100).await.unwrap();
        assert_eq!(
            b.iter().map(|r| r.report_id).collect::<Vec<_>>(),
            vec![ids[3], ids[1]]
        );
        assert_eq!(store.recent_reports(None, 2).await.unwrap().len(), 2);
        assert!(
            store
                .recent_reports(Some("nope"), 10)
                .await
                .unwrap()
                .is_empty()
        );

        let a = store.collector("node-a").await.unwrap().unwrap();
        assert_eq!(a.last_report_at, Some(all[0].received_at));
        let starts = store.recent_start_times(2).await.unwrap();
        assert_eq!(
            starts,
            vec![
                ("node-a".to_owned(), base + chrono::Duration::minutes(4)),
                ("node-a".to_owned(), base + chrono::Duration::minutes(2)),
                ("node-b".to_owned(), base + chrono::Duration::minutes(3)),
                ("node-b".to_owned(), base + chrono::Duration::minutes(1)),
            ]
        );
    }

    pub async fn concurrent_report_inserts_store_once(store: DynStore, _url: String) {
        let labels = std::collections::BTreeMap::new();
        store
            .add_collector("node-a", &[1u8; store::TOKEN_HASH_LEN], &labels)
            .await
            .unwrap();
        let id = uuid::Uuid::new_v4();
        let started = Utc::now();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let labels = std::collections::BTreeMap::new();
                    let answer = format!("answer {i}");
                    store
                        .insert_report(new_report(id, "node-a", &labels, started, &answer))
                        .await
                })
            })
            .collect();
        let mut stored = 0;
        let mut answers = std::collections::HashSet::new();
        for task in tasks {
            match task.await.unwrap().expect("insert") {
                store::Inserted::Stored => stored += 1,
                store::Inserted::Existing { answer, .. } => {
                    answers.insert(answer);
                }
            }
        }
        assert_eq!(stored, 1);
        let kept = store.report(id).await.unwrap().unwrap().answer;
        assert!(
            answers.len() <= 1 && answers.iter().all(|a| *a == kept),
            "{answers:?} vs {kept}"
        );
        assert_eq!(store.recent_reports(None, 10).await.unwrap().len(), 1);
    }

    pub async fn accounts_users_sessions_tokens_audit(store: DynStore, _url: String) {
        use faultline::store::{NewSession, Role, UserChange};

        let alice = store
            .create_user("alice", "$argon2id$fake", Role::Editor, "cli")
            .await
            .unwrap();
        assert_eq!((alice.role, alice.disabled), (Role::Editor, false));
        assert!(matches!(
            store
                .create_user("alice", "x", Role::Viewer, "cli")
                .await
                .unwrap_err(),
            StoreError::AlreadyExists(_)
        ));
        let (found, hash) = store.user_by_name("alice").await.unwrap().unwrap();
        assert_eq!(
            (found.clone(), hash.as_str()),
            (alice.clone(), "$argon2id$fake")
        );
        assert_eq!(found.created_at.timezone(), Utc);
        assert!(store.user_by_name("nobody").await.unwrap().is_none());

        // Sessions: stored by hash, rotated, touched, swept.
        for (id, replaces) in [("h1", None), ("h2", Some("h1"))] {
            store
                .create_session(NewSession {
                    id_hash: id,
                    user_id: alice.id,
                    csrf_token: "csrf",
                    replaces,
                })
                .await
                .unwrap();
        }
        assert!(store.session("h1").await.unwrap().is_none(), "rotated away");
        let s = store.session("h2").await.unwrap().unwrap();
        assert_eq!(
            (s.user.name.as_str(), s.csrf_token.as_str()),
            ("alice", "csrf")
        );
        store.touch_session("h2").await.unwrap();
        let later = store.session("h2").await.unwrap().unwrap();
        assert!(later.last_seen_at >= s.last_seen_at);
        let past = Utc::now() - chrono::Duration::hours(1);
        assert_eq!(store.delete_expired_sessions(past, past).await.unwrap(), 0);
        let future = Utc::now() + chrono::Duration::hours(1);
        assert_eq!(
            store.delete_expired_sessions(future, past).await.unwrap(),
            1
        );

        // A role change or disabling ends the user's sessions.
        store
            .create_session(NewSession {
                id_hash: "h3",
                user_id: alice.id,
                csrf_token: "c",
                replaces: None,
            })
            .await
            .unwrap();
        let changed = store
            .update_user(
                "alice",
                UserChange {
                    role: Some(Role::Admin),
                    disabled: Some(true),
                    ..UserChange::default()
                },
                "root",
            )
            .await
            .unwrap();
        assert_eq!((changed.role, changed.disabled), (Role::Admin, true));
        assert!(store.session("h3").await.unwrap().is_none());
        assert!(matches!(
            store
                .update_user("nobody", UserChange::default(), "root")
                .await
                .unwrap_err(),
            StoreError::NotFound
        ));
        assert_eq!(store.list_users().await.unwrap().len(), 1);

        // API tokens.
        let t = store
            .create_api_token("ci", "hash-1", Role::Viewer, "root")
            .await
            .unwrap();
        assert!(t.last_used_at.is_none() && t.revoked_at.is_none());
        store.touch_api_token(t.id).await.unwrap();
        let t2 = store.api_token_by_hash("hash-1").await.unwrap().unwrap();
        assert!(t2.last_used_at.is_some());
        let revoked = store.revoke_api_token(t.id, "root").await.unwrap();
        assert!(revoked.revoked_at.is_some());
        let again = store.revoke_api_token(t.id, "root").await.unwrap();
        assert_eq!(
            again.revoked_at, revoked.revoked_at,
            "revoking twice keeps the first time"
        );
        assert_eq!(store.list_api_tokens().await.unwrap().len(), 1);

        // Every change above is in the audit log, newest first.
        let audit = store.recent_audit(10).await.unwrap();
        let actions: Vec<_> = audit.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "token.revoke",
                "token.revoke",
                "token.create",
                "user.update",
                "user.create"
            ]
        );
        assert_eq!(audit[3].detail, "role=admin disabled=true");
        assert_eq!(audit[3].actor, "root");
    }

    // ---- Incidents ---------------------------------------------------------

    fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    pub async fn incidents_timeline_status_ticks(store: DynStore, _url: String) {
        use store::{EventKind, IncidentFilter, IncidentStatus, NewIncident};
        let web = labels(&[("host", "web-1"), ("service", "api")]);
        let db = labels(&[("host", "db-1")]);
        let opened = serde_json::json!({"opened": "by hand"});
        let (first, event) = store
            .open_incident(
                NewIncident {
                    title: "502s from the API",
                    severity: "critical",
                    labels: &web,
                    opened_by: "alice",
                    group_key: None,
                },
                (EventKind::Note, &opened),
            )
            .await
            .unwrap();
        assert_eq!(first.status, IncidentStatus::Open);
        assert_eq!(event.incident_id, first.id);
        assert_eq!(store.incident(first.id).await.unwrap().unwrap(), first);
        tokio::time::sleep(Duration::from_millis(2)).await;
        let (second, _) = store
            .open_incident(
                NewIncident {
                    title: "slow lookups",
                    severity: "warning",
                    labels: &db,
                    opened_by: "bob",
                    group_key: None,
                },
                (EventKind::Note, &opened),
            )
            .await
            .unwrap();

        // Timeline: appended in order, bodies round-trip, unknown incident refused.
        let note = serde_json::json!({"text": "restarted nginx", "n": 1.5});
        let appended = store
            .append_event(first.id, "alice", EventKind::Note, &note)
            .await
            .unwrap();
        assert!(matches!(
            store
                .append_event(first.id + 1000, "alice", EventKind::Note, &note)
                .await,
            Err(StoreError::NotFound)
        ));
        let events = store.events(first.id).await.unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1], appended);
        assert_eq!(events[1].body, note);

        // Status: one event per real change; resolved_at set and cleared.
        let changed = store
            .set_status(first.id, IncidentStatus::Resolved, "alice")
            .await
            .unwrap()
            .expect("a status event");
        assert_eq!(changed.kind, EventKind::Status);
        assert_eq!(changed.body["from"], "open");
        assert!(
            store
                .set_status(first.id, IncidentStatus::Resolved, "alice")
                .await
                .unwrap()
                .is_none(),
            "the same status twice writes nothing"
        );
        let resolved = store.incident(first.id).await.unwrap().unwrap();
        assert_eq!(resolved.status, IncidentStatus::Resolved);
        assert!(resolved.resolved_at.is_some());
        assert_eq!(store.events(first.id).await.unwrap().len(), 3);

        // Filters: status, label, time; newest first.
        let all = store
            .incidents(&IncidentFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|i| i.id).collect::<Vec<_>>(),
            [second.id, first.id]
        );
        let open = store
            .incidents(&IncidentFilter {
                status: Some(IncidentStatus::Open),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(open.iter().map(|i| i.id).collect::<Vec<_>>(), [second.id]);
        let by_label = store
            .incidents(&IncidentFilter {
                label: Some(("host".into(), "web-1".into())),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            by_label.iter().map(|i| i.id).collect::<Vec<_>>(),
            [first.id]
        );
        let future = store
            .incidents(&IncidentFilter {
                since: Some(Utc::now() + chrono::Duration::hours(1)),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(future.is_empty());

        // Checklist ticks persist, once each, and untick.
        let tick = store
            .set_tick(second.id, "dns-ndots-search-delay", 2, true, "bob")
            .await
            .unwrap();
        assert!(tick.is_some());
        assert!(
            store
                .set_tick(second.id, "dns-ndots-search-delay", 2, true, "bob")
                .await
                .unwrap()
                .is_none()
        );
        store
            .set_tick(second.id, "dns-ndots-search-delay", 3, true, "carol")
            .await
            .unwrap();
        store
            .set_tick(second.id, "dns-ndots-search-delay", 3, false, "carol")
            .await
            .unwrap();
        let ticks = store.ticks(second.id).await.unwrap();
        assert_eq!(ticks.len(), 1);
        assert_eq!((ticks[0].step, ticks[0].ticked_by.as_str()), (2, "bob"));

        let chose = store
            .set_playbook(second.id, Some("close-wait-leak"), "bob", None)
            .await
            .unwrap();
        assert_eq!(chose.body["playbook"], "close-wait-leak");
        assert_eq!(
            store
                .incident(second.id)
                .await
                .unwrap()
                .unwrap()
                .playbook
                .as_deref(),
            Some("close-wait-leak")
        );
    }

    pub async fn alert_deliveries_deduplicate_attach_resolve(store: DynStore, _url: String) {
        use store::{AlertDelivery, AlertOutcome, IncidentStatus};
        let l = labels(&[("alertname", "HighErrorRate"), ("service", "api")]);
        let key = store::group_key(&l);
        let starts = Utc::now().trunc_subsecs(6) - chrono::Duration::minutes(5);
        let body = serde_json::json!({"status": "firing"});
        let alert = |fingerprint: &'static str, resolved: bool| AlertDelivery {
            fingerprint,
            starts_at: starts,
            resolved,
            group_key: &key,
            title: "HighErrorRate",
            severity: "critical",
            labels: &l,
            who: "token:am",
            body: &body,
        };
        let (opened, events) = store.deliver_alert(alert("aaa", false)).await.unwrap();
        let AlertOutcome::Opened(id) = opened else {
            panic!("first firing alert opens: {opened:?}")
        };
        assert_eq!(events.len(), 1);
        // The HA pair's second delivery, and a replay: nothing changes.
        for _ in 0..2 {
            let (again, events) = store.deliver_alert(alert("aaa", false)).await.unwrap();
            assert_eq!(again, AlertOutcome::Duplicate);
            assert!(events.is_empty());
        }
        assert_eq!(store.events(id).await.unwrap().len(), 1);
        // Another alert of the same group attaches.
        let (attached, _) = store.deliver_alert(alert("bbb", false)).await.unwrap();
        assert_eq!(attached, AlertOutcome::Attached(id));
        // Concurrent deliveries of one new alert: stored once.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            let (l, key, body) = (l.clone(), key.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .deliver_alert(AlertDelivery {
                        fingerprint: "ccc",
                        starts_at: starts,
                        resolved: false,
                        group_key: &key,
                        title: "HighErrorRate",
                        severity: "critical",
                        labels: &l,
                        who: "token:am",
                        body: &body,
                    })
                    .await
                    .unwrap()
                    .0
            }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == AlertOutcome::Duplicate)
                .count(),
            7,
            "{outcomes:?}"
        );
        assert_eq!(store.events(id).await.unwrap().len(), 3);

        // Resolved: resolves the incident its firing alert went to, once.
        let (resolved, events) = store.deliver_alert(alert("aaa", true)).await.unwrap();
        assert_eq!(resolved, AlertOutcome::Attached(id));
        assert_eq!(events.len(), 2, "the alert and the status change");
        assert_eq!(
            store.incident(id).await.unwrap().unwrap().status,
            IncidentStatus::Resolved
        );
        let (replayed, _) = store.deliver_alert(alert("aaa", true)).await.unwrap();
        assert_eq!(replayed, AlertOutcome::Duplicate);
        // The group is free again: the next firing alert opens a new incident.
        let (next, _) = store.deliver_alert(alert("ddd", false)).await.unwrap();
        assert!(
            matches!(next, AlertOutcome::Opened(other) if other != id),
            "{next:?}"
        );
        assert!(store.open_incident_for_group(&key).await.unwrap().is_some());
    }

    /// Reopening a resolved alert incident while its group has another
    /// unresolved one would break "one unresolved incident per group": it
    /// is refused, naming the open one, and changes nothing.
    pub async fn reopening_into_an_open_alert_group_conflicts(store: DynStore, _url: String) {
        use store::{AlertDelivery, AlertOutcome, IncidentStatus};
        let l = labels(&[("alertname", "DiskFull"), ("host", "db-1")]);
        let key = store::group_key(&l);
        let starts = Utc::now().trunc_subsecs(6) - chrono::Duration::minutes(5);
        let body = serde_json::json!({"status": "firing"});
        let alert = |fingerprint: &'static str, resolved: bool| AlertDelivery {
            fingerprint,
            starts_at: starts,
            resolved,
            group_key: &key,
            title: "DiskFull",
            severity: "critical",
            labels: &l,
            who: "token:am",
            body: &body,
        };
        let (AlertOutcome::Opened(old), _) = store.deliver_alert(alert("d1", false)).await.unwrap()
        else {
            panic!("first firing alert opens")
        };
        store.deliver_alert(alert("d1", true)).await.unwrap();
        let (AlertOutcome::Opened(new), _) = store.deliver_alert(alert("d2", false)).await.unwrap()
        else {
            panic!("the group is free after the resolve")
        };
        let before = store.events(old).await.unwrap().len();
        for status in [IncidentStatus::Open, IncidentStatus::Mitigated] {
            match store.set_status(old, status, "alice").await {
                Err(StoreError::AlreadyExists(what)) => assert!(
                    what.contains(&format!(
                        "incident {new} open for the alert group of incident {old}"
                    )),
                    "{what}"
                ),
                other => panic!("reopening {old} as {status:?}: {other:?}"),
            }
        }
        let kept = store.incident(old).await.unwrap().unwrap();
        assert_eq!(kept.status, IncidentStatus::Resolved);
        assert!(kept.resolved_at.is_some());
        assert_eq!(store.events(old).await.unwrap().len(), before);
        // Once the other is resolved, reopening works.
        store
            .set_status(new, IncidentStatus::Resolved, "alice")
            .await
            .unwrap();
        assert!(
            store
                .set_status(old, IncidentStatus::Open, "alice")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            store
                .open_incident_for_group(&key)
                .await
                .unwrap()
                .map(|i| i.id),
            Some(old)
        );
    }

    /// The order of deliveries decides an alert's state: resolved after
    /// firing resolves, firing after resolved with the same startsAt (an
    /// alert that expired in Alertmanager and fired again) reopens, and a
    /// delivery in the state already recorded changes nothing, even when an
    /// HA pair sends it at once. Checked against a model over a random
    /// sequence of deliveries with replays.
    pub async fn alert_delivery_order_decides_the_state(store: DynStore, _url: String) {
        use rand::Rng;
        use store::{AlertDelivery, AlertOutcome, EventKind, IncidentStatus};
        let l = labels(&[("alertname", "NodeMTUBlackhole"), ("instance", "edge-3")]);
        let key = store::group_key(&l);
        let starts = Utc::now().trunc_subsecs(6) - chrono::Duration::minutes(30);
        let body = serde_json::json!({"status": "x"});
        let alert = |resolved: bool| AlertDelivery {
            fingerprint: "e3a1",
            starts_at: starts,
            resolved,
            group_key: &key,
            title: "NodeMTUBlackhole",
            severity: "warning",
            labels: &l,
            who: "token:am",
            body: &body,
        };
        let status = |store: DynStore, id: i64| async move {
            store.incident(id).await.unwrap().unwrap().status
        };
        let (AlertOutcome::Opened(id), _) = store.deliver_alert(alert(false)).await.unwrap() else {
            panic!("the first firing delivery opens")
        };
        let (resolved, events) = store.deliver_alert(alert(true)).await.unwrap();
        assert_eq!(resolved, AlertOutcome::Attached(id));
        assert_eq!(events.len(), 2, "the alert, then the status change");
        // The same alert fires again with the same startsAt: reopened.
        let (again, events) = store.deliver_alert(alert(false)).await.unwrap();
        assert_eq!(again, AlertOutcome::Reopened(id));
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Alert, EventKind::Status]);
        assert_eq!(events[1].body["from"], "resolved");
        assert_eq!(events[1].body["to"], "open");
        let reopened = store.incident(id).await.unwrap().unwrap();
        assert_eq!(reopened.status, IncidentStatus::Open);
        assert_eq!(reopened.resolved_at, None);
        assert_eq!(
            store
                .open_incident_for_group(&key)
                .await
                .unwrap()
                .map(|i| i.id),
            Some(id)
        );

        // An HA pair: both Alertmanagers send the same state at once; one
        // delivery applies, the others are duplicates.
        for resolved in [true, false, true] {
            let mut tasks = Vec::new();
            for _ in 0..6 {
                let (store, l, key, body) = (store.clone(), l.clone(), key.clone(), body.clone());
                tasks.push(tokio::spawn(async move {
                    let delivery = AlertDelivery {
                        fingerprint: "e3a1",
                        starts_at: starts,
                        resolved,
                        group_key: &key,
                        title: "NodeMTUBlackhole",
                        severity: "warning",
                        labels: &l,
                        who: "token:am",
                        body: &body,
                    };
                    store.deliver_alert(delivery).await.unwrap().0
                }));
            }
            let mut applied = Vec::new();
            for t in tasks {
                let outcome = t.await.unwrap();
                if outcome != AlertOutcome::Duplicate {
                    applied.push(outcome);
                }
            }
            let expected = if resolved {
                AlertOutcome::Attached(id)
            } else {
                AlertOutcome::Reopened(id)
            };
            assert_eq!(applied, [expected], "resolved={resolved}");
        }
        assert_eq!(status(store.clone(), id).await, IncidentStatus::Resolved);

        // A random run of deliveries, each sent one to three times: the
        // incident follows the last state, and only changes append events.
        let plan: Vec<(bool, usize)> = {
            let mut rng = rand::rng();
            (0..rng.random_range(12..24))
                .map(|_| (rng.random_bool(0.5), rng.random_range(1..=3)))
                .collect()
        };
        let mut last = true;
        let mut expected_events = store.events(id).await.unwrap().len();
        for (resolved, copies) in plan {
            for copy in 0..copies {
                let (outcome, events) = store.deliver_alert(alert(resolved)).await.unwrap();
                let want = match (copy, resolved == last, resolved) {
                    (0, false, true) => AlertOutcome::Attached(id),
                    (0, false, false) => AlertOutcome::Reopened(id),
                    _ => AlertOutcome::Duplicate,
                };
                assert_eq!(
                    outcome, want,
                    "copy {copy}, resolved={resolved}, last={last}"
                );
                expected_events += events.len();
                assert_eq!(
                    events.len(),
                    if want == AlertOutcome::Duplicate {
                        0
                    } else {
                        2
                    }
                );
            }
            last = resolved;
            let want = if last {
                IncidentStatus::Resolved
            } else {
                IncidentStatus::Open
            };
            assert_eq!(status(store.clone(), id).await, want);
        }
        assert_eq!(store.events(id).await.unwrap().len(), expected_events);
    }

    /// Firing again while another incident of the alert's group is open
    /// joins that one (reopening the old one would break "one unresolved
    /// incident per group"); a resolved alert nothing was opened for is
    /// recorded, so its firing after it opens one; an incident a responder
    /// resolved is reopened by the next firing after a resolved delivery.
    pub async fn refiring_alerts_follow_the_reopen_rules(store: DynStore, _url: String) {
        use store::{AlertDelivery, AlertOutcome, IncidentStatus};
        let l = labels(&[("alertname", "CoreDNSLatencyHigh"), ("server", "dns://:53")]);
        let key = store::group_key(&l);
        let starts = Utc::now().trunc_subsecs(6) - chrono::Duration::minutes(9);
        let later = starts + chrono::Duration::minutes(4);
        let body = serde_json::json!({"status": "x"});
        let alert = |fingerprint: &'static str, starts_at, resolved: bool| AlertDelivery {
            fingerprint,
            starts_at,
            resolved,
            group_key: &key,
            title: "CoreDNSLatencyHigh",
            severity: "critical",
            labels: &l,
            who: "token:am",
            body: &body,
        };
        let deliver = |a| {
            let store = store.clone();
            async move { store.deliver_alert(a).await.unwrap().0 }
        };
        let AlertOutcome::Opened(a) = deliver(alert("a", starts, false)).await else {
            panic!("opens")
        };
        assert_eq!(
            deliver(alert("a", starts, true)).await,
            AlertOutcome::Attached(a)
        );
        // A new startsAt is a new alert: a new incident.
        let AlertOutcome::Opened(b) = deliver(alert("a", later, false)).await else {
            panic!("a new startsAt opens a new incident")
        };
        assert_ne!(a, b);
        // The first one fires again while b is open: it joins b.
        assert_eq!(
            deliver(alert("a", starts, false)).await,
            AlertOutcome::Attached(b)
        );
        let old = store.incident(a).await.unwrap().unwrap();
        assert_eq!(old.status, IncidentStatus::Resolved);

        // Resolved with nothing to resolve, then firing: opens one.
        assert_eq!(
            deliver(alert("a", later, true)).await,
            AlertOutcome::Attached(b)
        );
        assert_eq!(
            deliver(alert("a", starts, true)).await,
            AlertOutcome::Attached(b)
        );
        let lonely = starts - chrono::Duration::hours(2);
        let other = labels(&[("alertname", "CoreDNSDown")]);
        let other_key = store::group_key(&other);
        let stray = AlertDelivery {
            labels: &other,
            group_key: &other_key,
            ..alert("z", lonely, true)
        };
        assert_eq!(deliver(stray.clone()).await, AlertOutcome::NoIncident);
        assert_eq!(deliver(stray.clone()).await, AlertOutcome::Duplicate);
        let AlertOutcome::Opened(c) = deliver(AlertDelivery {
            resolved: false,
            ..stray
        })
        .await
        else {
            panic!("firing after an unmatched resolve opens")
        };

        // A responder resolves c; the alert resolves, then fires again.
        store
            .set_status(c, IncidentStatus::Resolved, "alice")
            .await
            .unwrap();
        let refire = |resolved| AlertDelivery {
            labels: &other,
            group_key: &other_key,
            ..alert("z", lonely, resolved)
        };
        assert_eq!(deliver(refire(true)).await, AlertOutcome::Attached(c));
        assert_eq!(deliver(refire(false)).await, AlertOutcome::Reopened(c));
        assert_eq!(
            store.incident(c).await.unwrap().unwrap().status,
            IncidentStatus::Open
        );
    }

    /// Reports of one collector racing to open incidents (different causes,
    /// so the group index does not decide): the stored cool-down lets one
    /// through; other collectors and an elapsed cool-down are not held off.
    pub async fn collector_cool_down_opens_one_incident_at_once(store: DynStore, _url: String) {
        use std::time::Duration;
        use store::{EventKind, NewIncident};
        let open = |store: DynStore,
                    collector: &'static str,
                    cause: String,
                    cool_down: Duration| async move {
            let labels = labels(&[("host", collector)]);
            let body = serde_json::json!({"collector": collector});
            store
                .open_incident_cooled(
                    NewIncident {
                        title: "likely",
                        severity: "warning",
                        labels: &labels,
                        opened_by: collector,
                        group_key: Some(&cause),
                    },
                    (EventKind::Report, &body),
                    collector,
                    cool_down,
                )
                .await
                .unwrap()
        };
        let hour = Duration::from_secs(3600);
        let tasks: Vec<_> = (0..8)
            .map(|i| tokio::spawn(open(store.clone(), "node-1", format!("cause-{i}"), hour)))
            .collect();
        let mut opened = Vec::new();
        for t in tasks {
            opened.extend(t.await.unwrap());
        }
        assert_eq!(opened.len(), 1, "{opened:?}");
        let (incident, event) = &opened[0];
        assert_eq!(
            store.events(incident.id).await.unwrap(),
            vec![event.clone()]
        );
        assert!(
            open(store.clone(), "node-1", "cause-x".into(), hour)
                .await
                .is_none()
        );
        assert!(
            open(store.clone(), "node-2", "cause-y".into(), hour)
                .await
                .is_some()
        );
        // A cool-down shorter than the time since: it opens.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let short = Duration::from_millis(10);
        assert!(
            open(store.clone(), "node-1", "cause-z".into(), short)
                .await
                .is_some()
        );
        assert!(
            open(store.clone(), "node-1", "cause-w".into(), hour)
                .await
                .is_none()
        );
        let all = store
            .incidents(&store::IncidentFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 3, "{all:?}");
    }

    pub async fn alert_routes_set_replace_remove(store: DynStore, _url: String) {
        assert!(
            store
                .alert_route("KubePodCrashLooping")
                .await
                .unwrap()
                .is_none()
        );
        store
            .set_alert_route("KubePodCrashLooping", Some("close-wait-leak"), "alice")
            .await
            .unwrap();
        store
            .set_alert_route(
                "KubePodCrashLooping",
                Some("crashing-endpoint-refused"),
                "bob",
            )
            .await
            .unwrap();
        store
            .set_alert_route("ConntrackFull", Some("conntrack-table-full"), "bob")
            .await
            .unwrap();
        let route = store
            .alert_route("KubePodCrashLooping")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (route.playbook.as_str(), route.set_by.as_str()),
            ("crashing-endpoint-refused", "bob")
        );
        let all = store.alert_routes().await.unwrap();
        assert_eq!(
            all.iter().map(|r| r.alertname.as_str()).collect::<Vec<_>>(),
            ["ConntrackFull", "KubePodCrashLooping"]
        );
        store
            .set_alert_route("ConntrackFull", None, "bob")
            .await
            .unwrap();
        assert_eq!(store.alert_routes().await.unwrap().len(), 1);
    }

    pub async fn study_attempts_schedule_and_summaries(store: DynStore, _url: String) {
        use chrono::Duration as Span;
        use faultline::core::study::Schedule;
        use faultline::store::{NewAttempt, Role};

        for name in ["ann", "bob"] {
            store
                .create_user(name, "hash", Role::Viewer, "test")
                .await
                .unwrap();
        }
        assert!(store.schedules("ann").await.unwrap().is_empty());

        // Hints on the open try count up to the number of steps, no further.
        assert_eq!(store.take_hint("ann", "mtu-blackhole", 2).await.unwrap(), 1);
        assert_eq!(store.take_hint("ann", "mtu-blackhole", 2).await.unwrap(), 2);
        assert_eq!(store.take_hint("ann", "mtu-blackhole", 2).await.unwrap(), 2);
        let open = store.schedules("ann").await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].open_hints, open[0].due_at), (2, None));

        let at = Utc::now().trunc_subsecs(6) - Span::hours(1);
        let new = |playbook: &'static str, correct: bool, hints: i64| NewAttempt {
            user: "ann",
            playbook,
            answer: "mtu-blackhole",
            free: false,
            correct,
            hints_used: hints,
            hint_count: 6,
            points: if correct { 100 } else { 0 },
            at,
        };
        let missed = store
            .record_attempt(
                new("mtu-blackhole", false, 2),
                Schedule {
                    leitner_box: 0,
                    due_at: at + Span::minutes(10),
                },
            )
            .await
            .unwrap();
        assert_eq!(missed.at, at, "time round-trips");
        assert!(!missed.correct && !missed.free && !missed.self_marked);
        let right = store
            .record_attempt(
                NewAttempt {
                    answer: "the conntrack table is full",
                    free: true,
                    ..new("conntrack-table-full", true, 0)
                },
                Schedule {
                    leitner_box: 1,
                    due_at: at + Span::days(1),
                },
            )
            .await
            .unwrap();
        assert!(right.id > missed.id);

        let sched = store.schedules("ann").await.unwrap();
        let ids: Vec<_> = sched.iter().map(|s| s.playbook.as_str()).collect();
        assert_eq!(ids, ["conntrack-table-full", "mtu-blackhole"]);
        assert_eq!(sched[1].open_hints, 0, "answering closes the open try");
        assert_eq!(sched[1].due_at, Some(at + Span::minutes(10)));
        assert_eq!(
            (sched[0].leitner_box, sched[0].due_at),
            (1, Some(at + Span::days(1)))
        );

        // A self-marked free answer: only its owner may mark it.
        assert!(matches!(
            store
                .mark_attempt(
                    "bob",
                    right.id,
                    false,
                    0,
                    Schedule {
                        leitner_box: 0,
                        due_at: at
                    }
                )
                .await
                .unwrap_err(),
            StoreError::NotFound
        ));
        let marked = store
            .mark_attempt(
                "ann",
                right.id,
                false,
                0,
                Schedule {
                    leitner_box: 0,
                    due_at: at + Span::minutes(10),
                },
            )
            .await
            .unwrap();
        assert!(marked.self_marked && !marked.correct && marked.points == 0);
        assert_eq!(store.attempt("ann", right.id).await.unwrap(), Some(marked));
        assert_eq!(store.attempt("bob", right.id).await.unwrap(), None);
        let sched = store.schedules("ann").await.unwrap();
        assert_eq!(sched[0].leitner_box, 0);

        let all = store.attempts("ann").await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(store.attempts("bob").await.unwrap().is_empty());

        store
            .record_attempt(
                NewAttempt {
                    user: "bob",
                    ..new("mtu-blackhole", true, 1)
                },
                Schedule {
                    leitner_box: 1,
                    due_at: at + Span::days(1),
                },
            )
            .await
            .unwrap();
        let team = store.study_summaries().await.unwrap();
        let rows: Vec<_> = team
            .iter()
            .map(|s| {
                (
                    s.user.as_str(),
                    s.playbook.as_str(),
                    s.attempts,
                    s.correct,
                    s.hints_used,
                    s.points,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("ann", "conntrack-table-full", 1, 0, 0, 0),
                ("ann", "mtu-blackhole", 1, 0, 2, 0),
                ("bob", "mtu-blackhole", 1, 1, 1, 100),
            ]
        );
        assert_eq!(team[0].last_at, at);
    }

    pub async fn feedback_verdicts_and_matches(store: DynStore, _url: String) {
        use store::{EventKind, MatchSource, NewIncident, NewVerdict, StoreError, Verdict};
        let none = labels(&[]);
        let opened = serde_json::json!({"text": "opened"});
        let mut ids = Vec::new();
        for title in ["sockets pile up", "resets"] {
            let (incident, _) = store
                .open_incident(
                    NewIncident {
                        title,
                        severity: "warning",
                        labels: &none,
                        opened_by: "alice",
                        group_key: None,
                    },
                    (EventKind::Note, &opened),
                )
                .await
                .unwrap();
            ids.push(incident.id);
        }
        let verdict = |incident_id, who, verdict, comment| NewVerdict {
            incident_id,
            playbook: "close-wait-leak",
            who,
            verdict,
            comment,
        };
        let (first, event) = store
            .set_verdict(verdict(
                ids[0],
                "alice",
                Verdict::Right,
                Some("fd limit hit"),
            ))
            .await
            .unwrap();
        assert_eq!(
            (first.verdict, first.comment.as_deref(), first.who.as_str()),
            (Verdict::Right, Some("fd limit hit"), "alice")
        );
        // The timeline note is part of the same write.
        assert_eq!((event.kind, event.incident_id), (EventKind::Note, ids[0]));
        assert_eq!(event.body["verdict"], "right");
        assert_eq!(
            event.body["text"],
            "Diagnosis close-wait-leak marked right: fd limit hit"
        );
        let timeline = store.events(ids[0]).await.unwrap();
        assert_eq!(timeline.last(), Some(&event));
        assert_eq!(store.verdicts(ids[0]).await.unwrap(), vec![first.clone()]);

        let counts = store.playbook_feedback("close-wait-leak").await.unwrap();
        assert_eq!((counts.confirmed, counts.marked_wrong), (1, 0));
        assert_eq!(counts.last_verdict_at, Some(first.at));

        // Bob disagrees later: the incident's verdict is now wrong; Alice's
        // stays on record. Alice changing hers replaces her row.
        tokio::time::sleep(Duration::from_millis(2)).await;
        store
            .set_verdict(verdict(ids[0], "bob", Verdict::Wrong, None))
            .await
            .unwrap();
        let counts = store.playbook_feedback("close-wait-leak").await.unwrap();
        assert_eq!((counts.confirmed, counts.marked_wrong), (0, 1));
        tokio::time::sleep(Duration::from_millis(2)).await;
        store
            .set_verdict(verdict(ids[0], "alice", Verdict::Right, None))
            .await
            .unwrap();
        store
            .set_verdict(verdict(ids[1], "bob", Verdict::Right, None))
            .await
            .unwrap();
        let verdicts = store.verdicts(ids[0]).await.unwrap();
        let who: Vec<(&str, Verdict)> = verdicts
            .iter()
            .map(|v| (v.who.as_str(), v.verdict))
            .collect();
        assert_eq!(who, [("alice", Verdict::Right), ("bob", Verdict::Wrong)]);
        assert_eq!(
            verdicts[0].comment, None,
            "a changed verdict replaces the comment"
        );
        assert_eq!(store.events(ids[0]).await.unwrap().len(), 4);
        let counts = store.playbook_feedback("close-wait-leak").await.unwrap();
        assert_eq!((counts.confirmed, counts.marked_wrong), (2, 0));
        assert_eq!(
            store.playbook_feedback("mtu-blackhole").await.unwrap(),
            Default::default()
        );

        // No such incident: nothing written.
        assert!(matches!(
            store
                .set_verdict(verdict(ids[1] + 100, "alice", Verdict::Right, None))
                .await,
            Err(StoreError::NotFound)
        ));

        // Matches: once per piece of evidence, whatever the repeats.
        let both = ["close-wait-leak".to_owned(), "mtu-blackhole".to_owned()];
        let report = "0b6f4b3e-5f0c-4c41-9a53-3f0f5a1c2d11";
        assert_eq!(
            store
                .record_matches(MatchSource::Report, report, &both)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .record_matches(MatchSource::Report, report, &both)
                .await
                .unwrap(),
            0
        );
        let incident = ids[0].to_string();
        store
            .record_matches(MatchSource::Incident, &incident, &both[..1])
            .await
            .unwrap();
        assert_eq!(
            store
                .record_matches(MatchSource::Incident, &incident, &[])
                .await
                .unwrap(),
            0
        );
        let counts = store.playbook_feedback("close-wait-leak").await.unwrap();
        assert_eq!(
            (
                counts.matched_reports,
                counts.matched_incidents,
                counts.matched()
            ),
            (1, 1, 2)
        );
        let mtu = store.playbook_feedback("mtu-blackhole").await.unwrap();
        assert_eq!((mtu.matched_reports, mtu.matched_incidents), (1, 0));
    }

    pub async fn postmortems_create_save_conflict_import(store: DynStore, _url: String) {
        use faultline::store::{ImportPostmortem, NewPostmortem, SavePostmortem};
        let text = |id: i64| format!("postmortem {id} v1");
        let (pm, created) = store
            .create_postmortem(NewPostmortem {
                incident_id: 12,
                title: "Checkout 502s",
                who: "alice",
                draft: &text,
            })
            .await
            .unwrap();
        assert!(created);
        assert_eq!((pm.incident_id, pm.current_version), (12, 1));
        let v1 = store.postmortem_version(pm.id, 1).await.unwrap().unwrap();
        assert_eq!(
            v1.source,
            format!("postmortem {} v1", pm.id),
            "the text knows its id"
        );
        assert_eq!(
            (v1.saved_by.as_str(), v1.saved_at),
            ("alice", pm.created_at)
        );

        // One per incident: the second writer gets the first one back.
        let (again, created) = store
            .create_postmortem(NewPostmortem {
                incident_id: 12,
                title: "other",
                who: "bob",
                draft: &|_| unreachable!("no second draft"),
            })
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(again, pm);
        assert_eq!(
            store.postmortem_for_incident(12).await.unwrap(),
            Some(pm.clone())
        );
        assert_eq!(store.postmortem(pm.id + 100).await.unwrap(), None);

        let save = |source: &'static str, base: i64, who: &'static str| SavePostmortem {
            id: pm.id,
            title: "Checkout 502s after the upgrade",
            source,
            who,
            base_version: Some(base),
        };
        let v2 = store.save_postmortem(save("v2", 1, "alice")).await.unwrap();
        assert_eq!((v2.version, v2.saved_by.as_str()), (2, "alice"));
        // A stale base writes nothing.
        let stale = store.save_postmortem(save("bob's", 1, "bob")).await;
        assert!(
            matches!(stale, Err(StoreError::Conflict { current: 2 })),
            "{stale:?}"
        );
        // The same text again is no new version.
        assert_eq!(
            store.save_postmortem(save("v2", 2, "bob")).await.unwrap(),
            v2
        );
        let history = store.postmortem_history(pm.id).await.unwrap();
        assert_eq!(
            history.iter().map(|v| v.version).collect::<Vec<_>>(),
            [2, 1]
        );
        let listed = store.postmortems().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].title, "Checkout 502s after the upgrade");
        assert_eq!(
            (listed[0].updated_by.as_str(), listed[0].updated_at),
            ("alice", v2.saved_at)
        );
        let missing = store
            .save_postmortem(SavePostmortem {
                id: pm.id + 100,
                ..save("x", 1, "a")
            })
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");

        // Two saves from the same base at once: one wins, one conflicts.
        let (a, b) = tokio::join!(
            store.save_postmortem(save("from a", 2, "a")),
            store.save_postmortem(save("from b", 2, "b"))
        );
        assert_eq!(
            [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
            1,
            "{a:?} {b:?}"
        );

        // Import: its own id; later drafts number past it; a second import
        // appends; another postmortem for the same incident is refused.
        let import = |id: i64, incident_id: i64, source: &'static str| ImportPostmortem {
            id,
            incident_id,
            title: "Imported",
            source,
            who: "import",
        };
        let imported = store
            .import_postmortem(import(40, 99, "imported text"))
            .await
            .unwrap();
        assert_eq!((imported.postmortem_id, imported.version), (40, 1));
        let (next, _) = store
            .create_postmortem(NewPostmortem {
                incident_id: 13,
                title: "next",
                who: "alice",
                draft: &text,
            })
            .await
            .unwrap();
        assert!(next.id > 40, "{}", next.id);
        let same = store
            .import_postmortem(import(40, 99, "imported text"))
            .await
            .unwrap();
        assert_eq!(same.version, 1, "the same bytes are no new version");
        let newer = store
            .import_postmortem(import(40, 99, "changed"))
            .await
            .unwrap();
        assert_eq!(newer.version, 2);
        // Another incident's number, or a second postmortem for incident 99.
        for (id, incident) in [(next.id, 99), (500, 99)] {
            let taken = store.import_postmortem(import(id, incident, "x")).await;
            assert!(
                matches!(taken, Err(StoreError::AlreadyExists(_))),
                "{taken:?}"
            );
        }
        let texts = store.current_postmortem_texts().await.unwrap();
        assert_eq!(texts.len(), 3);
        assert!(
            texts
                .iter()
                .any(|t| t.postmortem_id == 40 && t.source == "changed")
        );
    }

    pub async fn notification_targets_and_server_secrets(store: DynStore, url: String) {
        use std::collections::BTreeMap;

        use faultline::store::NewTarget;
        assert!(store.notification_targets().await.unwrap().is_empty());
        let labels = BTreeMap::from([("service".to_owned(), "payments".to_owned())]);
        let events = vec!["opened".to_owned(), "resolved".to_owned()];
        let new = |name: &'static str, kind: &'static str| NewTarget {
            name,
            kind,
            url: "https://hooks.slack.com/services/T0/B0/secret",
            labels: &labels,
            events: &events,
            fallback: name == "b-rest",
            who: "ada",
        };
        let a = store
            .add_notification_target(new("a-payments", "slack"))
            .await
            .unwrap();
        store
            .add_notification_target(new("b-rest", "teams"))
            .await
            .unwrap();
        let taken = store
            .add_notification_target(new("a-payments", "webhook"))
            .await;
        assert!(
            matches!(taken, Err(StoreError::AlreadyExists(_))),
            "{taken:?}"
        );
        let bad_kind = store.add_notification_target(new("c", "pager")).await;
        assert!(bad_kind.is_err(), "the schema refuses unknown kinds");

        let listed = store.notification_targets().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0], a, "read back as written, times included");
        assert_eq!(listed[0].labels["service"], "payments");
        assert_eq!(listed[0].events, events);
        assert!(!listed[0].fallback && listed[1].fallback);
        assert_eq!(listed[1].kind, "teams");

        store
            .remove_notification_target("a-payments")
            .await
            .unwrap();
        assert!(matches!(
            store.remove_notification_target("a-payments").await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(store.notification_targets().await.unwrap().len(), 1);

        // A secret is made once: later candidates, and other connections
        // (replicas), get the first.
        let first = store.server_secret("k", "one").await.unwrap();
        assert_eq!(first, "one");
        assert_eq!(store.server_secret("k", "two").await.unwrap(), "one");
        let other = store::connect(&url).await.unwrap();
        assert_eq!(other.server_secret("k", "three").await.unwrap(), "one");
        other.close().await;
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::on_sqlite(crate::suite::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::on_postgres(crate::suite::$name).await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_apply_and_reopen,
    create_append_history_lookup,
    stale_base_conflicts_and_writes_nothing,
    concurrent_saves_one_wins,
    identical_source_is_a_no_op,
    utc_timestamps_round_trip,
    collectors_add_find_revoke,
    reports_insert_once_list_and_read,
    concurrent_report_inserts_store_once,
    accounts_users_sessions_tokens_audit,
    retention_rolls_up_then_deletes_in_batches,
    retention_leaves_pinned_reports_whole,
    saves_pin_cited_reports,
    incidents_timeline_status_ticks,
    alert_deliveries_deduplicate_attach_resolve,
    reopening_into_an_open_alert_group_conflicts,
    alert_delivery_order_decides_the_state,
    refiring_alerts_follow_the_reopen_rules,
    collector_cool_down_opens_one_incident_at_once,
    alert_routes_set_replace_remove,
    study_attempts_schedule_and_summaries,
    feedback_verdicts_and_matches,
    postmortems_create_save_conflict_import,
    notification_targets_and_server_secrets,
    group_commit_isolates_each_write,
);

// ---- SQLite only -----------------------------------------------------------

#[tokio::test]
async fn sqlite_pragmas_are_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&store::sqlite_url(dir.path()))
        .await
        .unwrap();
    let (writer, reader) = store.pragmas().await.unwrap();
    for pragmas in [writer, reader] {
        assert_eq!(pragmas.journal_mode, "wal");
        assert_eq!(pragmas.synchronous, 2, "synchronous=FULL");
        assert_eq!(pragmas.foreign_keys, 1);
        assert_eq!(pragmas.busy_timeout_ms, 5_000);
    }
    faultline::store::Store::close(&store).await;
}

#[tokio::test]
async fn sqlite_data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // The data directory is created when missing.
    let data_dir = dir.path().join("data dir #1").join("nested");
    let url = store::sqlite_url(&data_dir);
    let store = store::connect(&url).await.unwrap();
    let a = store
        .save_playbook(version(
            "conntrack-table-full",
            "one",
            Origin::Builtin,
            None,
        ))
        .await
        .unwrap();
    let b = store
        .save_playbook(version(
            "conntrack-table-full",
            "two",
            Origin::Edit,
            Some(1),
        ))
        .await
        .unwrap();
    store.close().await;
    drop(store);
    assert!(data_dir.join("faultline.db").is_file());

    let reopened = store::connect(&url).await.unwrap();
    assert_eq!(
        reopened
            .playbook_history("conntrack-table-full")
            .await
            .unwrap(),
        vec![b, a]
    );
    reopened.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_store_works() {
    let store = store::connect("sqlite::memory:").await.unwrap();
    let saved = store
        .save_playbook(version("missing-masquerade", "one", Origin::Builtin, None))
        .await
        .unwrap();
    // Reads go through the same single connection, so they see the write.
    assert_eq!(store.current_playbooks().await.unwrap(), vec![saved]);
    store.close().await;
}

#[tokio::test]
async fn sqlite_closed_store_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::connect(&store::sqlite_url(dir.path()))
        .await
        .unwrap();
    store.close().await;
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store
        .save_playbook(version("x", "x", Origin::Edit, None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

// ---- Upgrading alert deliveries (migration 0012) ----------------------------

/// Before 0012 each (fingerprint, startsAt, status) had a row. Two alerts as
/// an older store left them: "gone" fired then resolved (incident 1,
/// resolved), "live" fired (incident 2, open).
const OLD_DELIVERIES: [(&str, &str, i64, i64); 3] = [
    ("gone", "firing", 1, 10),
    ("gone", "resolved", 1, 20),
    ("live", "firing", 2, 30),
];

fn upgrade_labels(fingerprint: &str) -> std::collections::BTreeMap<String, String> {
    [("alertname", "OldAlert"), ("fp", fingerprint)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// After the upgrade each alert's newest state holds: replays of it are
/// duplicates, the other state applies to its incident.
async fn check_upgraded_alerts(store: DynStore, starts: chrono::DateTime<Utc>) {
    use store::{AlertDelivery, AlertOutcome, IncidentStatus};
    let body = serde_json::json!({"status": "x"});
    for (fingerprint, resolved, want) in [
        ("gone", true, AlertOutcome::Duplicate),
        ("live", false, AlertOutcome::Duplicate),
        ("gone", false, AlertOutcome::Reopened(1)),
        ("live", true, AlertOutcome::Attached(2)),
    ] {
        let l = upgrade_labels(fingerprint);
        let key = store::group_key(&l);
        let (outcome, _) = store
            .deliver_alert(AlertDelivery {
                fingerprint,
                starts_at: starts,
                resolved,
                group_key: &key,
                title: "OldAlert",
                severity: "warning",
                labels: &l,
                who: "token:am",
                body: &body,
            })
            .await
            .unwrap();
        assert_eq!(outcome, want, "{fingerprint} resolved={resolved}");
    }
    let status = |id| {
        let store = store.clone();
        async move { store.incident(id).await.unwrap().unwrap().status }
    };
    assert_eq!(status(1).await, IncidentStatus::Open);
    assert_eq!(status(2).await, IncidentStatus::Resolved);
    store.close().await;
}

#[tokio::test]
async fn sqlite_upgrade_keeps_each_alerts_newest_delivery() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    let dir = tempfile::tempdir().unwrap();
    let url = store::sqlite_url(dir.path());
    let starts = Utc::now().trunc_subsecs(6) - chrono::Duration::hours(1);
    let text = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let mut conn = SqliteConnection::connect_with(
        &SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::migrate!("../migrations/sqlite")
        .run_to(11, &mut conn)
        .await
        .unwrap();
    for (id, status, resolved_at) in [(1, "resolved", Some(text(starts))), (2, "open", None)] {
        let fingerprint = if id == 1 { "gone" } else { "live" };
        sqlx::query(
            "INSERT INTO incidents (id, title, status, severity, labels, opened_at, opened_by, \
             resolved_at, group_key) VALUES (?, 'OldAlert', ?, 'warning', '{}', ?, 'am', ?, ?)",
        )
        .bind(id)
        .bind(status)
        .bind(text(starts))
        .bind(resolved_at)
        .bind(store::group_key(&upgrade_labels(fingerprint)))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    for (fingerprint, status, incident, seconds) in OLD_DELIVERIES {
        sqlx::query("INSERT INTO alert_deliveries VALUES (?, ?, ?, ?, ?)")
            .bind(fingerprint)
            .bind(text(starts))
            .bind(status)
            .bind(incident)
            .bind(text(starts + chrono::Duration::seconds(seconds)))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    check_upgraded_alerts(store::connect(&url).await.unwrap(), starts).await;
}

#[tokio::test]
async fn postgres_upgrade_keeps_each_alerts_newest_delivery() {
    let db = TestDatabase::create().await;
    let starts = Utc::now().trunc_subsecs(6) - chrono::Duration::hours(1);
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::migrate!("../migrations/postgres")
        .run_to(11, &mut conn)
        .await
        .unwrap();
    for (id, status, resolved_at) in [(1_i64, "resolved", Some(starts)), (2, "open", None)] {
        let fingerprint = if id == 1 { "gone" } else { "live" };
        sqlx::query(
            "INSERT INTO incidents (id, title, status, severity, labels, opened_at, opened_by, \
             resolved_at, group_key) VALUES ($1, 'OldAlert', $2, 'warning', '{}', $3, 'am', $4, $5)",
        )
        .bind(id)
        .bind(status)
        .bind(starts)
        .bind(resolved_at)
        .bind(store::group_key(&upgrade_labels(fingerprint)))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    // The next incident the store opens must not reuse these ids.
    sqlx::query("SELECT setval('incidents_id_seq', 2)")
        .execute(&mut conn)
        .await
        .unwrap();
    for (fingerprint, status, incident, seconds) in OLD_DELIVERIES {
        sqlx::query("INSERT INTO alert_deliveries VALUES ($1, $2, $3, $4, $5)")
            .bind(fingerprint)
            .bind(starts)
            .bind(status)
            .bind(incident)
            .bind(starts + chrono::Duration::seconds(seconds))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    let result = tokio::spawn(async move {
        let store = store::connect(&db.url).await.unwrap();
        check_upgraded_alerts(store, starts).await;
        db
    })
    .await;
    match result {
        Ok(db) => db.drop_database().await,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

// ---- Bad locations -----------------------------------------------------------

/// Connects, expecting a failure within `limit`.
async fn connect_fails(url: &str, limit: Duration) -> StoreError {
    let started = Instant::now();
    let result = tokio::time::timeout(limit + Duration::from_secs(2), store::connect(url))
        .await
        .unwrap_or_else(|_| panic!("connect({url:?}) hung"));
    let elapsed = started.elapsed();
    let err = match result {
        Ok(_) => panic!("connect({url:?}) succeeded"),
        Err(err) => err,
    };
    assert!(elapsed < limit, "connect({url:?}) took {elapsed:?}: {err}");
    eprintln!("connect({url:?}) failed in {elapsed:.1?}: {err}");
    err
}

#[tokio::test]
async fn unknown_scheme_is_a_bad_location() {
    for url in ["mysql://x", "", "faultline.db", "http://localhost/db"] {
        let err = connect_fails(url, Duration::from_millis(500)).await;
        let StoreError::BadLocation(message) = &err else {
            panic!("{url:?}: {err:?}");
        };
        assert!(
            message.contains("sqlite:") && message.contains("postgres://"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn bad_sqlite_locations() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let not_a_db = dir.path().join("garbage");
    std::fs::create_dir(&not_a_db).unwrap();
    std::fs::write(not_a_db.join("faultline.db"), vec![b'x'; 4096]).unwrap();

    let cases = [
        "sqlite:/nonexistent-dir/\0bad".to_owned(),
        "sqlite:".to_owned(),
        format!("sqlite://{}/sub/faultline.db", file.display()),
        store::sqlite_url(&not_a_db),
        format!("sqlite://{}", dir.path().display()), // a directory
        format!("sqlite://{}/x.db?mode=bogus", dir.path().display()),
    ];
    for url in &cases {
        let err = connect_fails(url, Duration::from_secs(2)).await;
        assert!(
            matches!(err, StoreError::BadLocation(_)),
            "{url:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn bad_postgres_locations() {
    // Nothing listens on port 1: refused at once, not retried.
    let err = connect_fails("postgres://postgres@127.0.0.1:1/x", Duration::from_secs(2)).await;
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    let err = connect_fails(
        "postgresql://postgres:s3cret-pw@127.0.0.1:1/x",
        Duration::from_secs(2),
    )
    .await;
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("s3cret-pw"), "{err}");

    let err = connect_fails(
        "postgres://postgres@127.0.0.1:notaport/x",
        Duration::from_secs(1),
    )
    .await;
    assert!(matches!(err, StoreError::BadLocation(_)), "{err:?}");

    // A real server: an unknown role, an unknown database.
    let admin = PgConnectOptions::from_str(&admin_url()).expect("parse the admin URL");
    let server = format!("{}:{}", admin.get_host(), admin.get_port());
    let err = connect_fails(
        &format!("postgres://no_such_role_faultline@{server}/postgres"),
        Duration::from_secs(2),
    )
    .await;
    let StoreError::Unavailable(message) = &err else {
        panic!("unknown role: {err:?}");
    };
    assert!(message.contains("refused the login"), "{message}");

    let err = connect_fails(
        &url_with_database(&admin_url(), "faultline_no_such_database"),
        Duration::from_secs(2),
    )
    .await;
    assert!(matches!(err, StoreError::BadLocation(_)), "{err:?}");
}

#[tokio::test]
async fn silent_postgres_server_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let err = connect_fails(
        &format!("postgres://postgres@127.0.0.1:{port}/x?sslmode=disable"),
        store::CONNECT_TIMEOUT + Duration::from_secs(1),
    )
    .await;
    let StoreError::Unavailable(message) = &err else {
        panic!("{err:?}");
    };
    assert!(message.contains("did not answer"), "{message}");
    held.abort();
}

#[test]
fn connect_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let future = store::connect("sqlite::memory:");
    assert_send(&future);
    let future = store::PgStore::connect("postgres://x@127.0.0.1:1/x");
    assert_send(&future);
}

#[test]
fn sqlite_url_escapes_the_path() {
    let url = store::sqlite_url(std::path::Path::new("/var/lib/faultline"));
    assert_eq!(url, "sqlite:///var/lib/faultline/faultline.db");
    let url = store::sqlite_url(std::path::Path::new("/tmp/a?b#c%d"));
    assert_eq!(url, "sqlite:///tmp/a%3Fb%23c%25d/faultline.db");
}
