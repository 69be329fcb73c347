//! Outbound notifications, with real HTTP receivers on loopback ports: what
//! a likely diagnosis sends to Slack and to a JSON webhook (and the signed
//! Right / Wrong link it carries, followed back to the incident page),
//! retries after 5xx, routing by label, a receiver that hangs, the rate
//! limit, and the delivery notes on the timeline.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use faultline::config::Config;
use faultline::notify::{Kind, Notifications, Settings, TargetSettings, Trigger, WebhookUrl};
use faultline::store::{EventKind, NewIncident, Role};
use serde_json::{Value, json};

use super::common::{self, TestApp, form, get, get_as, post_report, session_for};
use super::{alertmanager, token, webhook};

/// Where the links in messages point, in these tests.
const BASE: &str = "https://faultline.example.test";

/// How a receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reply {
    Status(u16),
    /// Reads the request and never answers.
    Hang,
}

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    body: String,
    reply: Reply,
}

/// An HTTP server on a loopback port that records every request and
/// answers from a script (then 200).
struct Receiver {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(script: &[Reply]) -> Receiver {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, body: String| {
            let (log, script) = (log.clone(), script.clone());
            async move {
                let reply = script
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(Reply::Status(200));
                log.lock().unwrap().push(Seen {
                    path: uri.path().to_owned(),
                    body,
                    reply,
                });
                match reply {
                    Reply::Status(s) => (StatusCode::from_u16(s).unwrap(), "ok").into_response(),
                    Reply::Hang => std::future::pending().await,
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { base, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The bodies of requests answered 2xx, as JSON.
    fn accepted(&self) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| matches!(s.reply, Reply::Status(200..=299)))
            .map(|s| serde_json::from_str(&s.body).unwrap())
            .collect()
    }
}

fn target(name: &str, kind: Kind, url: &str, labels: &[(&str, &str)]) -> TargetSettings {
    TargetSettings {
        name: name.into(),
        kind,
        url: Some(WebhookUrl::parse(url).unwrap()),
        url_env: None,
        labels: labels_of(labels),
        events: Trigger::all(),
        fallback: false,
    }
}

fn labels_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Anonymous read on, fast retries, these targets.
fn config(targets: Vec<TargetSettings>) -> Config {
    let mut c = common::anonymous_read_config();
    c.notifications = Settings {
        base_url: Some(BASE.into()),
        timeout_s: 5,
        backoff_base_ms: 20,
        backoff_max_ms: 200,
        targets,
        ..Settings::default()
    };
    c
}

/// Starts the dispatcher as `faultline serve` does. Keep the handle: the
/// dispatcher stops when it is dropped.
fn start(t: &TestApp) -> Notifications {
    faultline::notify::spawn(
        t.state.kb.clone(),
        t.state.incident_bus.clone(),
        t.state.links.clone(),
        &t.state.config.notifications,
    )
}

/// The delivery notes on the incident's timeline: (text, notification).
async fn notes(t: &TestApp, id: i64) -> Vec<(String, Value)> {
    t.state
        .kb
        .store()
        .events(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Note && e.body.get("notification").is_some())
        .map(|e| {
            assert_eq!(e.who, "notifications");
            (
                e.body["text"].as_str().unwrap().to_owned(),
                e.body["notification"].clone(),
            )
        })
        .collect()
}

/// Polls `check` every 20 ms until it holds; fails after `limit`.
async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for `n` delivery notes on the incident, then a little longer, so
/// a message sent twice would have shown.
async fn settle(t: &TestApp, id: i64, n: usize) -> Vec<(String, Value)> {
    wait_until(
        &format!("{n} delivery notes"),
        Duration::from_secs(15),
        || async { notes(t, id).await.len() >= n },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    notes(t, id).await
}

/// The path and query of a link in a message, for the in-process router.
fn path_of(link: &str) -> String {
    let rest = link.strip_prefix(BASE).expect("a link to this server");
    rest.split('#').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_likely_diagnosis_sends_one_slack_and_one_webhook_message_with_both_links() {
    let slack = Receiver::start(&[]).await;
    let hook = Receiver::start(&[]).await;
    let t = common::app_with(config(vec![
        target(
            "team-slack",
            Kind::Slack,
            &slack.url("/services/T1/B1/s3cr3t"),
            &[],
        ),
        target("bridge", Kind::Webhook, &hook.url("/hook/t0ken"), &[]),
    ]))
    .await;
    let _notifications = start(&t);
    let id = common::close_wait_incident(&t.state, &labels_of(&[("service", "payments")])).await;

    let delivered = settle(&t, id, 2).await;
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    assert_eq!((slack.count(), hook.count()), (1, 1), "one message each");
    for (text, n) in &delivered {
        assert_eq!(n["outcome"], "delivered", "{text}");
        assert_eq!(n["event"], "opened");
        assert_eq!(n["top"], "close-wait-leak");
        assert!(
            !text.contains("s3cr3t") && !text.contains("t0ken"),
            "{text}"
        );
    }
    assert_eq!(slack.seen()[0].path, "/services/T1/B1/s3cr3t");

    let incident_url = format!("{BASE}/incidents/{id}");
    let playbook_url = format!("{BASE}/playbooks/close-wait-leak");
    let title = t
        .state
        .kb
        .get("close-wait-leak")
        .unwrap()
        .playbook
        .meta
        .title
        .clone();

    // The JSON webhook: the documented payload.
    let h = &hook.accepted()[0];
    assert_eq!(h["schema"], "faultline.notification.v1");
    assert_eq!(h["event"], "opened");
    assert_eq!(h["incident"]["id"], id);
    assert_eq!(h["incident"]["labels"]["service"], "payments");
    assert_eq!(h["incident"]["url"], incident_url);
    assert_eq!(h["likely"], "close-wait-leak");
    let top = &h["candidates"][0];
    assert_eq!(top["playbook"], "close-wait-leak");
    assert_eq!(top["likely"], true);
    assert_eq!(top["playbook_url"], playbook_url);
    let evidence = top["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty(), "{top}");
    assert!(
        evidence[0]["observed"]
            .as_object()
            .is_some_and(|o| !o.is_empty())
    );
    assert_eq!(h["links"]["incident"], incident_url);
    assert_eq!(h["links"]["playbook"], playbook_url);

    // Slack: Block Kit with the same candidate and both links.
    let s = &slack.accepted()[0];
    assert!(s["blocks"].as_array().is_some_and(|b| b.len() >= 4), "{s}");
    let text = s["blocks"].to_string();
    assert!(
        text.contains(&format!("<{incident_url}|Open incident {id}>")),
        "{text}"
    );
    assert!(
        text.contains(&format!("<{playbook_url}|Playbook>")),
        "{text}"
    );
    assert!(text.contains(&title), "{text}");
    assert!(s["text"].as_str().unwrap().contains(&title));

    // The Right link is signed: it opens the incident page offering that
    // verdict to a responder, records nothing by itself, and a changed
    // link offers nothing.
    let right = path_of(h["links"]["right"].as_str().unwrap());
    assert!(
        text.contains(h["links"]["right"].as_str().unwrap()),
        "Slack has it too"
    );
    let rita = session_for(&t.state, "rita", Role::Responder).await;
    let page = get_as(&t.state, &rita, &right).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("id=\"verdict-link\""), "{}", page.text);
    assert!(page.text.contains("Record: right"));
    assert!(t.state.kb.store().verdicts(id).await.unwrap().is_empty());
    let anonymous = get(&t.state, &right).await;
    assert!(
        anonymous.text.contains("log in as a responder"),
        "{}",
        anonymous.text
    );
    assert!(
        anonymous.text.contains("/login?next="),
        "{}",
        anonymous.text
    );
    assert!(!anonymous.text.contains("Record: right"));
    let changed = right.replace("verdict=right", "verdict=wrong");
    let page = get_as(&t.state, &rita, &changed).await;
    assert!(
        page.text.contains("was not written by this server"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("Record: wrong"));

    // Confirming it records the verdict, and that is told too.
    let fields = [("playbook", "close-wait-leak"), ("verdict", "right")];
    let confirmed = form(
        &t.state,
        &rita,
        &format!("/incidents/{id}/verdict"),
        &fields,
    )
    .await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.text
    );
    settle(&t, id, 4).await;
    let told = &hook.accepted()[1];
    assert_eq!(told["event"], "verdict");
    assert_eq!(told["verdict"]["verdict"], "right");
    assert_eq!(told["verdict"]["who"], "rita");
    assert_eq!(told["links"]["playbook"], playbook_url);
    assert_eq!(slack.count(), 2);
}

#[tokio::test]
async fn a_receiver_answering_500_twice_then_200_gets_the_message_once() {
    let flaky = Receiver::start(&[Reply::Status(500), Reply::Status(500)]).await;
    let gone = Receiver::start(&[Reply::Status(404)]).await;
    let t = common::app_with(config(vec![
        target("flaky", Kind::Webhook, &flaky.url("/in"), &[]),
        target("gone", Kind::Teams, &gone.url("/workflows/x"), &[]),
    ]))
    .await;
    let _notifications = start(&t);
    let labels = BTreeMap::new();
    let incident = faultline::incidents::open_by_hand(
        &t.state.kb,
        &t.state.incident_bus,
        NewIncident {
            title: "Checkout answers slowly",
            severity: "warning",
            labels: &labels,
            opened_by: "rita",
            group_key: None,
        },
    )
    .await
    .unwrap();
    let id = incident.id;
    let notes = settle(&t, id, 2).await;
    let by = |name: &str| {
        notes
            .iter()
            .find(|(_, n)| n["target"] == name)
            .unwrap_or_else(|| panic!("no note for {name}: {notes:?}"))
    };

    // Tried three times, the same message each time, accepted once.
    let seen = flaky.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().all(|s| s.body == seen[0].body));
    let replies: Vec<Reply> = seen.iter().map(|s| s.reply).collect();
    assert_eq!(
        replies,
        [Reply::Status(500), Reply::Status(500), Reply::Status(200)]
    );
    assert_eq!(flaky.accepted().len(), 1);
    let (text, n) = by("flaky");
    assert_eq!(n["outcome"], "delivered");
    assert_eq!(n["attempts"], 3);
    assert!(text.contains("after 3 attempts"), "{text}");

    // A 404 is final: not tried again, and the timeline says so.
    assert_eq!(gone.count(), 1);
    let (text, n) = by("gone");
    assert_eq!(n["outcome"], "refused");
    assert_eq!(n["status"], 404);
    assert!(text.contains("refused with HTTP 404"), "{text}");
    // It was a Teams card.
    let card: Value = serde_json::from_str(&gone.seen()[0].body).unwrap();
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        card["attachments"][0]["content"]["actions"][0]["url"],
        format!("{BASE}/incidents/{id}")
    );
}

#[tokio::test]
async fn labels_route_each_incident_to_its_receiver_only() {
    let payments = Receiver::start(&[]).await;
    let search = Receiver::start(&[]).await;
    let rest = Receiver::start(&[]).await;
    let mut fallback = target("everything-else", Kind::Webhook, &rest.url("/r"), &[]);
    fallback.fallback = true;
    let t = common::app_with(config(vec![
        target(
            "payments",
            Kind::Slack,
            &payments.url("/p"),
            &[("service", "payments")],
        ),
        target(
            "search",
            Kind::Slack,
            &search.url("/s"),
            &[("service", "search")],
        ),
        fallback,
    ]))
    .await;
    let _notifications = start(&t);
    let am = token(&t.state, "alertmanager", Role::Responder).await;

    let paid = webhook(&t.state, &am, &alertmanager("firing", "p1", "payments")).await;
    let id = paid.json()["opened"][0].as_i64().unwrap();
    let delivered = settle(&t, id, 1).await;
    assert_eq!(delivered[0].1["target"], "payments");
    assert_eq!((payments.count(), search.count(), rest.count()), (1, 0, 0));
    assert!(
        payments.accepted()[0]["text"]
            .as_str()
            .unwrap()
            .contains("HighErrorRate")
    );

    // No target takes service=checkout: the fallback does.
    let other = webhook(&t.state, &am, &alertmanager("firing", "c1", "checkout")).await;
    let id = other.json()["opened"][0].as_i64().unwrap();
    let delivered = settle(&t, id, 1).await;
    assert_eq!(delivered[0].1["target"], "everything-else");
    assert_eq!((payments.count(), search.count(), rest.count()), (1, 0, 1));
    assert_eq!(
        rest.accepted()[0]["incident"]["labels"]["service"],
        "checkout"
    );
}

#[tokio::test]
async fn a_receiver_that_hangs_delays_neither_ingest_nor_the_incident_page() {
    let stuck = Receiver::start(&[Reply::Hang]).await;
    let fine = Receiver::start(&[]).await;
    let mut c = config(vec![
        target("stuck", Kind::Slack, &stuck.url("/hang"), &[]),
        target("fine", Kind::Webhook, &fine.url("/ok"), &[]),
    ]);
    c.notifications.timeout_s = 4;
    c.notifications.attempts = 1;
    let t = common::app_with(c).await;
    let _notifications = start(&t);
    let (_, probe) =
        faultline::ingest::add_collector(t.state.kb.store(), "orders-api-1", &BTreeMap::new())
            .await
            .unwrap();
    let opened = post_report(&t.state, &probe, common::example("close-wait-leak-1")).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    let id = common::incidents(&t.state).await[0].id;
    wait_until(
        "the stuck receiver to hold a request",
        Duration::from_secs(10),
        || async { stuck.count() == 1 },
    )
    .await;
    let hung_at = Instant::now();

    // While it hangs: ingest answers, the page renders, the other target
    // has its message.
    let ingest = Instant::now();
    let more = post_report(&t.state, &probe, common::example("close-wait-leak-1")).await;
    let ingest = ingest.elapsed();
    assert_eq!(more.status, StatusCode::CREATED, "{}", more.text);
    let page = Instant::now();
    let shown = get(&t.state, &format!("/incidents/{id}")).await;
    let page = page.elapsed();
    assert_eq!(shown.status, StatusCode::OK);
    wait_until(
        "the other receiver's message",
        Duration::from_secs(5),
        || async { fine.count() == 1 },
    )
    .await;
    let pending = notes(&t, id).await;
    assert!(
        pending.iter().all(|(_, n)| n["target"] != "stuck"),
        "the stuck delivery is still pending: {pending:?}"
    );
    assert!(
        hung_at.elapsed() < Duration::from_secs(4),
        "all of that happened while the receiver hung"
    );
    eprintln!(
        "while a receiver hung: ingest answered in {ingest:?}, the incident page in {page:?}"
    );
    assert!(ingest < Duration::from_secs(2) && page < Duration::from_secs(3));

    // The attempt times out and the timeline says so.
    let notes = settle(&t, id, 2).await;
    let (text, n) = notes.iter().find(|(_, n)| n["target"] == "stuck").unwrap();
    assert_eq!(n["outcome"], "failed", "{text}");
    assert!(
        text.contains("timed out") || text.contains("no answer"),
        "{text}"
    );
    assert!(!text.contains("/hang"), "{text}");
    assert_eq!(stuck.count(), 1, "one attempt configured");
}

#[tokio::test]
async fn diagnosis_changes_verdicts_and_resolution_are_told_within_the_rate_limit() {
    let hook = Receiver::start(&[]).await;
    let mut c = config(vec![target("bridge", Kind::Webhook, &hook.url("/h"), &[])]);
    c.notifications.burst = 4;
    c.notifications.refill_s = 3600;
    let t = common::app_with(c).await;
    let _notifications = start(&t);
    let store = t.state.kb.store();

    // An alert opens it with nothing measured: nothing likely yet.
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let mut alert: Value = serde_json::from_str(&alertmanager("firing", "h1", "orders")).unwrap();
    alert["alerts"][0]["labels"]["host"] = json!("web-1");
    let id = webhook(&t.state, &am, &alert.to_string()).await.json()["opened"][0]
        .as_i64()
        .unwrap();
    settle(&t, id, 1).await;
    assert_eq!(hook.accepted()[0]["likely"], Value::Null);

    // A report from that host makes CLOSE_WAIT likely: the diagnosis changed.
    let host = labels_of(&[("host", "web-1")]);
    let (_, probe) = faultline::ingest::add_collector(store, "probe-web-1", &host)
        .await
        .unwrap();
    let sent = post_report(&t.state, &probe, common::example("close-wait-leak-1")).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    settle(&t, id, 2).await;
    let changed = &hook.accepted()[1];
    assert_eq!(changed["event"], "diagnosis");
    assert_eq!(changed["likely"], "close-wait-leak");
    // The same evidence again changes nothing: no message.
    post_report(&t.state, &probe, common::example("close-wait-leak-1")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.count(), 2);

    // A verdict, then resolved: both told (the burst of 4 is spent).
    let rita = session_for(&t.state, "rita", Role::Responder).await;
    let fields = [("playbook", "close-wait-leak"), ("verdict", "right")];
    form(
        &t.state,
        &rita,
        &format!("/incidents/{id}/verdict"),
        &fields,
    )
    .await;
    settle(&t, id, 3).await;
    let status = |s: &'static str| [("action", "status"), ("status", s)];
    form(
        &t.state,
        &rita,
        &format!("/incidents/{id}"),
        &status("resolved"),
    )
    .await;
    settle(&t, id, 4).await;
    let events: Vec<Value> = hook.accepted().iter().map(|m| m["event"].clone()).collect();
    assert_eq!(
        events,
        [
            json!("opened"),
            json!("diagnosis"),
            json!("verdict"),
            json!("resolved")
        ]
    );

    // Reopened and resolved again: over the limit, held back and noted.
    form(
        &t.state,
        &rita,
        &format!("/incidents/{id}"),
        &status("open"),
    )
    .await;
    form(
        &t.state,
        &rita,
        &format!("/incidents/{id}"),
        &status("resolved"),
    )
    .await;
    let notes = settle(&t, id, 5).await;
    let (text, n) = notes.last().unwrap();
    assert_eq!(n["outcome"], "rate_limited", "{text}");
    assert_eq!(n["event"], "resolved");
    assert!(text.contains("limit of 4 messages"), "{text}");
    assert_eq!(hook.count(), 4);
}

#[tokio::test]
async fn admins_add_test_and_remove_targets_on_the_admin_page() {
    let rx = Receiver::start(&[]).await;
    let t = common::app_with(config(vec![target(
        "from-file",
        Kind::Slack,
        &rx.url("/services/file/s3cr3t"),
        &[],
    )]))
    .await;
    let _notifications = start(&t);
    let ada = session_for(&t.state, "ada", Role::Admin).await;
    let page = get_as(&t.state, &ada, "/admin").await;
    assert!(page.text.contains("from-file") && page.text.contains("config file"));
    assert!(page.text.contains(&format!("{}/…", rx.base)), "redacted");
    assert!(!page.text.contains("s3cr3t"), "{}", page.text);

    let hook = rx.url("/hook/t0ken");
    let add = [
        ("name", "payments"),
        ("kind", "webhook"),
        ("url", hook.as_str()),
        ("labels", "service=payments"),
        ("ev_opened", "on"),
        ("ev_resolved", "on"),
    ];
    let added = form(&t.state, &ada, "/admin/notifications", &add).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.text);
    let page = get_as(&t.state, &ada, "/admin").await;
    assert!(page.text.contains("service=payments") && page.text.contains("opened, resolved"));
    assert!(!page.text.contains("t0ken"), "{}", page.text);
    let audit = t.state.kb.store().recent_audit(10).await.unwrap();
    let entry = audit
        .iter()
        .find(|a| a.action == "notification.add")
        .unwrap();
    assert_eq!(entry.target, "payments");
    assert!(!entry.detail.contains("t0ken"), "{}", entry.detail);

    // Clear refusals.
    let try_add =
        |name: &'static str, kind: &'static str, url: &'static str, labels: &'static str| {
            vec![
                ("name", name),
                ("kind", kind),
                ("url", url),
                ("labels", labels),
                ("ev_opened", "on"),
            ]
        };
    let ok_url = "https://hooks.slack.com/services/T/B/x";
    for (fields, status, says) in [
        (
            try_add("payments", "webhook", ok_url, ""),
            StatusCode::CONFLICT,
            "payments",
        ),
        (
            try_add("from-file", "slack", ok_url, ""),
            StatusCode::CONFLICT,
            "config file",
        ),
        (
            try_add("no spaces", "slack", ok_url, ""),
            StatusCode::UNPROCESSABLE_ENTITY,
            "target name",
        ),
        (
            try_add("other", "slack", "hooks.slack.com/x", ""),
            StatusCode::UNPROCESSABLE_ENTITY,
            "https://",
        ),
        (
            try_add("other", "pager", ok_url, ""),
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook, slack or teams",
        ),
        (
            try_add("other", "slack", ok_url, "service"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "key=value",
        ),
    ] {
        let answer = form(&t.state, &ada, "/admin/notifications", &fields).await;
        assert_eq!(answer.status, status, "{fields:?}: {}", answer.text);
        assert!(answer.text.contains(says), "{says}: {}", answer.text);
    }
    let no_events: Vec<_> = add
        .iter()
        .copied()
        .filter(|(k, _)| !k.starts_with("ev_") && *k != "name")
        .chain([("name", "quiet")])
        .collect();
    let answer = form(&t.state, &ada, "/admin/notifications", &no_events).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let rita = session_for(&t.state, "rita", Role::Responder).await;
    let denied = form(&t.state, &rita, "/admin/notifications", &add).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    // A test message goes out at once, and the page says how it went.
    let tested = form(&t.state, &ada, "/admin/notifications/payments/test", &[]).await;
    assert_eq!(tested.status, StatusCode::OK);
    assert!(
        tested.text.contains("delivered (HTTP 200)"),
        "{}",
        tested.text
    );
    assert_eq!(rx.seen()[0].path, "/hook/t0ken");
    assert_eq!(rx.accepted()[0]["schema"], "faultline.notification.v1");

    // The stored target takes the incidents its labels match.
    let id = common::close_wait_incident(&t.state, &labels_of(&[("service", "payments")])).await;
    let notes = settle(&t, id, 2).await;
    let mut targets: Vec<&str> = notes
        .iter()
        .map(|(_, n)| n["target"].as_str().unwrap())
        .collect();
    targets.sort_unstable();
    assert_eq!(targets, ["from-file", "payments"]);

    // Removed, it is gone; the config file's cannot be removed here.
    let removed = form(&t.state, &ada, "/admin/notifications/payments/remove", &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(
        t.state
            .kb
            .store()
            .notification_targets()
            .await
            .unwrap()
            .is_empty()
    );
    let kept = form(&t.state, &ada, "/admin/notifications/from-file/remove", &[]).await;
    assert_eq!(kept.status, StatusCode::NOT_FOUND);
    assert!(kept.text.contains("config file"), "{}", kept.text);
}
