//! Incidents through the router: the Alertmanager webhook (replays, HA
//! double delivery, an alert firing again after it resolved, malformed
//! payloads, a closed store), reports opening incidents with a cool-down,
//! the incident page's actions, and the live event stream. `triage` (alert
//! text, routes, verdicts, the JSON API), `reports` (collector labels,
//! reports opening incidents, /admin), `alert_links` (`/r/{alertname}`)
//! and `notify` (outbound messages to receivers on loopback) add to it.

#[path = "incidents/alert_links.rs"]
mod alert_links;
mod common;
#[path = "incidents/fold.rs"]
mod fold;
#[path = "incidents/notify.rs"]
mod notify;
#[path = "incidents/reports.rs"]
mod reports;
#[path = "incidents/triage.rs"]
mod triage;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Answer, example, form, incidents, post_report, real_ss_tan, send};
use faultline::store::{EventKind, IncidentStatus, Role};
use faultline::web::AppState;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn token(state: &AppState, name: &str, role: Role) -> String {
    faultline::accounts::add_api_token(state.kb.store(), name, role, "test")
        .await
        .unwrap()
        .0
}

async fn webhook(state: &AppState, token: &str, body: &str) -> Answer {
    send(
        state,
        Request::post("/api/v1/alertmanager")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap(),
    )
    .await
}

/// An Alertmanager v4 delivery of one alert.
fn alertmanager(status: &str, fingerprint: &str, service: &str) -> String {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "faultline",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": "HighErrorRate", "service": service, "severity": "critical"},
            "annotations": {"summary": "5xx above 5% on the API"},
            "startsAt": "2026-11-24T03:00:00Z",
            "endsAt": if status == "resolved" { "2026-11-24T03:20:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": fingerprint
        }]
    })
    .to_string()
}

#[tokio::test]
async fn webhook_opens_once_and_replays_change_nothing() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let first = webhook(&t.state, &am, &alertmanager("firing", "f00d", "api")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let id = first.json()["opened"][0]
        .as_i64()
        .expect("an incident opened");

    // A replay and the HA pair's second Alertmanager: nothing changes.
    for _ in 0..2 {
        let again = webhook(&t.state, &am, &alertmanager("firing", "f00d", "api")).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.json()["duplicates"], 1, "{}", again.text);
    }
    assert_eq!(incidents(&t.state).await.len(), 1);
    let events = t.state.kb.store().events(id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Alert);
    assert_eq!(events[0].who, "token:alertmanager");

    // Another alert of another service opens its own incident.
    let other = webhook(&t.state, &am, &alertmanager("firing", "beef", "db")).await;
    assert_ne!(other.json()["opened"][0].as_i64(), Some(id));

    // Resolved: the incident resolves, once.
    let resolved = webhook(&t.state, &am, &alertmanager("resolved", "f00d", "api")).await;
    assert_eq!(
        resolved.json()["attached"][0].as_i64(),
        Some(id),
        "{}",
        resolved.text
    );
    let incident = t.state.kb.store().incident(id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    let replay = webhook(&t.state, &am, &alertmanager("resolved", "f00d", "api")).await;
    assert_eq!(replay.json()["duplicates"], 1);
    assert_eq!(t.state.kb.store().events(id).await.unwrap().len(), 3);

    // The page shows it.
    let page = send(
        &t.state,
        Request::get(format!("/incidents/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("HighErrorRate: 5xx above 5% on the API"));
    assert!(page.text.contains("Alert HighErrorRate resolved"));
}

/// Alertmanager resolves an alert that expired (its source re-sent it too
/// late), then the same alert fires again with the same startsAt: the order
/// decides, so the incident reopens; replays of either state change nothing.
#[tokio::test]
async fn an_alert_firing_again_after_it_resolved_reopens_its_incident() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let deliver = |status: &'static str| {
        let (state, am) = (t.state.clone(), am.clone());
        async move { webhook(&state, &am, &alertmanager(status, "5ca1ab1e", "api")).await }
    };
    let id = deliver("firing").await.json()["opened"][0]
        .as_i64()
        .expect("opened");
    let status = |state: AppState| async move {
        state.kb.store().incident(id).await.unwrap().unwrap().status
    };
    for round in 0..3 {
        let resolved = deliver("resolved").await.json();
        assert_eq!(
            resolved["attached"],
            json!([id]),
            "round {round}: {resolved}"
        );
        assert_eq!(deliver("resolved").await.json()["duplicates"], 1);
        assert_eq!(status(t.state.clone()).await, IncidentStatus::Resolved);
        let again = deliver("firing").await.json();
        assert_eq!(again["reopened"], json!([id]), "round {round}: {again}");
        assert_eq!(again["opened"], json!([]));
        assert_eq!(deliver("firing").await.json()["duplicates"], 1);
        assert_eq!(status(t.state.clone()).await, IncidentStatus::Open);
    }
    assert_eq!(incidents(&t.state).await.len(), 1);
    let timeline = send(
        &t.state,
        Request::get(format!("/incidents/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        timeline.text.contains("Status resolved → open"),
        "{}",
        timeline.text.len()
    );
}

#[tokio::test]
async fn grafana_variant_is_accepted() {
    let t = common::app().await;
    let am = token(&t.state, "grafana", Role::Responder).await;
    let body = json!({
        "receiver": "faultline", "status": "firing", "orgId": 1, "version": "1",
        "title": "[FIRING:1] DiskFull", "state": "alerting", "message": "disk",
        "groupLabels": {}, "commonLabels": {"alertname": "DiskFull"}, "commonAnnotations": {},
        "externalURL": "http://grafana:3000/", "groupKey": "{}", "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing", "labels": {"alertname": "DiskFull", "host": "db-1"},
            "annotations": {}, "startsAt": "2026-11-24T02:00:00+01:00",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "",
            "values": {"B": 91.5}, "valueString": "[ var='B' value=91.5 ]"
        }]
    })
    .to_string();
    let answer = webhook(&t.state, &am, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["opened"].as_array().unwrap().len(), 1);
    assert_eq!(webhook(&t.state, &am, &body).await.json()["duplicates"], 1);
    let all = incidents(&t.state).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].labels["host"], "db-1");
}

fn edited(body: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(body).unwrap();
    change(&mut v);
    v.to_string()
}

#[tokio::test]
async fn malformed_webhooks_get_4xx_naming_the_field() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let good = alertmanager("firing", "f00d", "api");
    let cases = [
        ("{not json".to_owned(), "body"),
        (
            good.replace("\"version\":\"4\"", "\"version\":\"2\""),
            "version",
        ),
        (
            good.replace("2026-11-24T03:00:00Z", "yesterday"),
            "alerts[0].startsAt",
        ),
        (
            edited(&good, |v| v["alerts"][0]["status"] = json!("pending")),
            "alerts[0].status",
        ),
        (
            edited(&good, |v| v["alerts"][0]["labels"]["service"] = json!(7)),
            "alerts[0].labels.service",
        ),
        (edited(&good, |v| v["alerts"] = json!({})), "alerts"),
    ];
    for (body, field) in cases {
        let answer = webhook(&t.state, &am, &body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text
        );
        assert_eq!(answer.json()["error"]["field"], field, "{}", answer.text);
        assert!(
            answer.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(field),
            "{}",
            answer.text
        );
    }
    assert!(incidents(&t.state).await.is_empty());

    // Viewers may not post alerts; nobody at all is 401.
    let viewer = token(&t.state, "viewer", Role::Viewer).await;
    assert_eq!(
        webhook(&t.state, &viewer, &good).await.status,
        StatusCode::FORBIDDEN
    );
    let anonymous = send(
        &t.state,
        Request::post("/api/v1/alertmanager")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(good))
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn closed_store_answers_503_never_4xx() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    // Authenticate first, then lose the database: the token check would
    // otherwise fail before the handler.
    let app = faultline::web::app(t.state.clone());
    t.state.kb.store().close().await;
    let response = app
        .oneshot(
            Request::post("/api/v1/alertmanager")
                .header(header::AUTHORIZATION, format!("Bearer {am}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(alertmanager("firing", "f00d", "api")))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    assert!(
        status == StatusCode::SERVICE_UNAVAILABLE,
        "Alertmanager drops a notification on any 4xx; got {status}"
    );
}

#[tokio::test]
async fn likely_reports_open_one_incident_per_collector_cool_down() {
    let t = common::app().await;
    let store = t.state.kb.store();
    let labels = BTreeMap::from([("cluster".to_owned(), "prod".to_owned())]);
    let (_, node) = faultline::ingest::add_collector(store, "orders-api-1", &labels)
        .await
        .unwrap();

    // Healthy: no incident.
    let healthy = post_report(&t.state, &node, example("healthy/quiet-host")).await;
    assert_eq!(healthy.status, StatusCode::CREATED, "{}", healthy.text);
    assert!(incidents(&t.state).await.is_empty());

    // Likely CLOSE_WAIT leak: one incident; the next such report attaches.
    for _ in 0..3 {
        let r = post_report(&t.state, &node, example("close-wait-leak-1")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let all = incidents(&t.state).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let id = all[0].id;
    assert_eq!(all[0].labels["host"], "orders-api-1");
    let events = store.events(id).await.unwrap();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.kind == EventKind::Report));

    // Resolved, and the node is still bad: the cool-down holds a new one off.
    store
        .set_status(id, IncidentStatus::Resolved, "alice")
        .await
        .unwrap();
    post_report(&t.state, &node, example("close-wait-leak-1")).await;
    assert_eq!(incidents(&t.state).await.len(), 1, "cool-down");

    // With no cool-down, the next likely report opens a new incident.
    let mut config = common::anonymous_read_config();
    config.incident_cool_down_s = 0;
    let t0 = common::app_with(config).await;
    let (_, node) = faultline::ingest::add_collector(t0.state.kb.store(), "n", &labels)
        .await
        .unwrap();
    post_report(&t0.state, &node, example("close-wait-leak-1")).await;
    let first = incidents(&t0.state).await[0].id;
    t0.state
        .kb
        .store()
        .set_status(first, IncidentStatus::Resolved, "alice")
        .await
        .unwrap();
    post_report(&t0.state, &node, example("close-wait-leak-1")).await;
    assert_eq!(incidents(&t0.state).await.len(), 2);
}

#[tokio::test]
async fn the_incident_page_takes_notes_pastes_ticks_and_status() {
    let t = common::app().await;
    let alice = common::session_for(&t.state, "alice", Role::Responder).await;
    let opened = form(
        &t.state,
        &alice,
        "/incidents",
        &[
            ("title", "Orders API leaking sockets"),
            ("severity", "critical"),
            (
                "labels",
                "host=orders-api-1\nnamespace=shop\npod=orders-7d9",
            ),
        ],
    )
    .await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.text);
    let url = opened.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let id: i64 = url.trim_start_matches("/incidents/").parse().unwrap();
    assert_eq!(incidents(&t.state).await[0].opened_by, "alice");

    // Bad input is refused with what is wrong.
    let untitled = form(&t.state, &alice, "/incidents", &[("title", " ")]).await;
    assert_eq!(untitled.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(untitled.text.contains("A title"));

    // A paste of real `ss -tan` output becomes evidence.
    let pasted = form(
        &t.state,
        &alice,
        &url,
        &[("action", "paste"), ("text", &real_ss_tan())],
    )
    .await;
    assert_eq!(pasted.status, StatusCode::SEE_OTHER, "{}", pasted.text);
    let back = pasted.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let page = send(&t.state, Request::get(&back).body(Body::empty()).unwrap()).await;
    assert!(
        page.text.contains("Pasted output recognised as ss -tan"),
        "{}",
        page.text
    );
    assert!(page.text.contains("TCP states") || page.text.contains("tcp_states"));

    // Gibberish is kept as a note with a clear message.
    let junk = form(
        &t.state,
        &alice,
        &url,
        &[("action", "paste"), ("text", "hello\nworld")],
    )
    .await;
    let back = junk.headers[header::LOCATION].to_str().unwrap().to_owned();
    let page = send(&t.state, Request::get(&back).body(Body::empty()).unwrap()).await;
    assert!(
        page.text.contains("Nothing in the paste was recognised"),
        "{}",
        page.text
    );
    let events = t.state.kb.store().events(id).await.unwrap();
    assert_eq!(events.last().unwrap().kind, EventKind::Note);

    // Choose a playbook: its steps become the checklist, commands filled.
    form(
        &t.state,
        &alice,
        &url,
        &[
            ("action", "playbook"),
            ("playbook", "crashing-endpoint-refused"),
        ],
    )
    .await;
    let page = send(&t.state, Request::get(&url).body(Body::empty()).unwrap()).await;
    assert!(
        page.text
            .contains("kubectl describe pod -n shop orders-7d9"),
        "labels fill the commands"
    );
    assert!(!page.text.contains("-n $NS $POD"));
    let tick = form(
        &t.state,
        &alice,
        &url,
        &[
            ("action", "tick"),
            ("playbook", "crashing-endpoint-refused"),
            ("step", "1"),
        ],
    )
    .await;
    assert_eq!(tick.status, StatusCode::SEE_OTHER);
    let ticks = t.state.kb.store().ticks(id).await.unwrap();
    assert_eq!((ticks.len(), ticks[0].step), (1, 1));
    let page = send(&t.state, Request::get(&url).body(Body::empty()).unwrap()).await;
    assert!(page.text.contains("1 of "), "progress shown");

    // Resolve; a viewer may not.
    let bob = common::session_for(&t.state, "bob", Role::Viewer).await;
    let refused = form(
        &t.state,
        &bob,
        &url,
        &[("action", "status"), ("status", "resolved")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    form(
        &t.state,
        &alice,
        &url,
        &[("action", "status"), ("status", "resolved")],
    )
    .await;
    let incident = t.state.kb.store().incident(id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);

    // Lists and filters.
    let list = send(
        &t.state,
        Request::get("/incidents?status=resolved&label=namespace%3Dshop")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(list.text.contains("Orders API leaking sockets"));
    let list = send(
        &t.state,
        Request::get("/incidents?status=open")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(!list.text.contains("Orders API leaking sockets"));
    let bad = send(
        &t.state,
        Request::get("/incidents?since=forever")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn home_shows_open_incidents_first() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    webhook(&t.state, &am, &alertmanager("firing", "f00d", "api")).await;
    let home = send(&t.state, Request::get("/").body(Body::empty()).unwrap()).await;
    let incident = home
        .text
        .find("HighErrorRate: 5xx above 5%")
        .expect("listed");
    let search = home.text.find("What is the network doing?").unwrap();
    assert!(incident < search, "open incidents come first");
}

#[tokio::test]
async fn the_event_stream_sends_appends_and_ends_on_shutdown() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let id = webhook(&t.state, &am, &alertmanager("firing", "f00d", "api"))
        .await
        .json()["opened"][0]
        .as_i64()
        .unwrap();
    let response = faultline::web::app(t.state.clone())
        .oneshot(
            Request::get(format!("/incidents/{id}/events"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();

    let note =
        faultline::incidents::add_note(&t.state.kb, &t.state.incident_bus, id, "alice", "looking")
            .await
            .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(frame.data_ref().unwrap()).into_owned();
    assert!(text.contains("event: timeline"), "{text}");
    assert!(text.contains(&format!("\"id\":{}", note.id)), "{text}");

    // Events may have been missed (the replica listener reconnected): the
    // page is told to reload.
    t.state.incident_bus.resync();
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("a reload within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(frame.data_ref().unwrap()).into_owned();
    assert!(text.contains("event: reload"), "{text}");

    // Shutdown: the stream ends.
    t.state.incident_bus.close();
    let end = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the stream ends on shutdown");
    assert!(end.is_none(), "no more frames");
}

#[tokio::test]
async fn a_likely_report_joins_the_open_incident_of_its_host() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let alert = edited(&alertmanager("firing", "f00d", "orders"), |v| {
        v["alerts"][0]["labels"]["host"] = json!("orders-api-1")
    });
    let id = webhook(&t.state, &am, &alert).await.json()["opened"][0]
        .as_i64()
        .unwrap();
    let labels = BTreeMap::new();
    let (_, node) = faultline::ingest::add_collector(t.state.kb.store(), "orders-api-1", &labels)
        .await
        .unwrap();
    post_report(&t.state, &node, example("close-wait-leak-1")).await;
    assert_eq!(incidents(&t.state).await.len(), 1, "no second incident");
    let events = t.state.kb.store().events(id).await.unwrap();
    assert_eq!(events.last().unwrap().kind, EventKind::Report);
    let page = send(
        &t.state,
        Request::get(format!("/incidents/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        page.text.contains("Likely root cause"),
        "the report's evidence is diagnosed"
    );
    assert!(page.text.contains("CLOSE_WAIT"), "{}", page.text.len());
}

/// Reopening a resolved alert incident while a newer incident of the same
/// alert group is unresolved: a 409 page naming the open incident, nothing
/// changed (it used to be a 500 from the unique index).
#[tokio::test]
async fn reopening_while_the_alert_group_has_an_open_incident_is_409() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let alice = common::session_for(&t.state, "alice", Role::Responder).await;
    let first = webhook(&t.state, &am, &alertmanager("firing", "f00d", "api")).await;
    let old = first.json()["opened"][0].as_i64().expect("opened");
    webhook(&t.state, &am, &alertmanager("resolved", "f00d", "api")).await;
    let second = webhook(&t.state, &am, &alertmanager("firing", "f00e", "api")).await;
    let new = second.json()["opened"][0]
        .as_i64()
        .unwrap_or_else(|| panic!("a new incident for the group: {}", second.text));
    assert_ne!(old, new);

    let before = t.state.kb.store().events(old).await.unwrap().len();
    let answer = form(
        &t.state,
        &alice,
        &format!("/incidents/{old}"),
        &[("action", "status"), ("status", "open")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
    assert!(
        answer.text.contains(&format!(
            "incident {new} open for the alert group of incident {old}"
        )),
        "{}",
        answer.text
    );
    let kept = t.state.kb.store().incident(old).await.unwrap().unwrap();
    assert_eq!(kept.status, IncidentStatus::Resolved);
    assert_eq!(t.state.kb.store().events(old).await.unwrap().len(), before);

    // Resolve the newer one: now the old one reopens.
    for (id, status) in [(new, "resolved"), (old, "open")] {
        let answer = form(
            &t.state,
            &alice,
            &format!("/incidents/{id}"),
            &[("action", "status"), ("status", status)],
        )
        .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    }
    let reopened = t.state.kb.store().incident(old).await.unwrap().unwrap();
    assert_eq!(reopened.status, IncidentStatus::Open);
}

/// A form of the incident page posted by its script (`Accept:
/// application/json`) as a browser's fetch sends it.
async fn form_json(
    state: &AppState,
    login: &common::Login,
    uri: &str,
    fields: &[(&str, &str)],
) -> Answer {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", common::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    send(
        state,
        Request::post(uri)
            .header(header::COOKIE, &login.cookie)
            .header(header::ACCEPT, "application/json")
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=UTF-8",
            )
            .body(Body::from(format!("{body}&csrf_token={}", login.csrf)))
            .unwrap(),
    )
    .await
}

/// The page's script posts the same forms and gets what happened as JSON
/// (to say next to the form, without a reload); errors as the API's JSON
/// with the field. Without the header the same post still redirects.
#[tokio::test]
async fn the_page_script_gets_each_outcome_as_json() {
    let t = common::app().await;
    let id = common::close_wait_incident(&t.state, &Default::default()).await;
    let alice = common::session_for(&t.state, "alice", Role::Responder).await;
    let url = format!("/incidents/{id}");

    let pasted = form_json(
        &t.state,
        &alice,
        &url,
        &[("action", "paste"), ("text", &real_ss_tan())],
    )
    .await;
    assert_eq!(pasted.status, StatusCode::OK, "{}", pasted.text);
    let said = pasted.json();
    assert_eq!(said["kind"], "ok", "{said}");
    assert!(
        said["message"]
            .as_str()
            .unwrap()
            .contains("recognised as ss -tan"),
        "{said}"
    );

    let junk = form_json(
        &t.state,
        &alice,
        &url,
        &[("action", "paste"), ("text", "hello")],
    )
    .await;
    assert_eq!(junk.json()["kind"], "warn", "{}", junk.text);

    let ticked = form_json(
        &t.state,
        &alice,
        &url,
        &[
            ("action", "tick"),
            ("playbook", "close-wait-leak"),
            ("step", "2"),
        ],
    )
    .await;
    assert_eq!(
        ticked.json()["message"],
        "Step 2 marked done.",
        "{}",
        ticked.text
    );

    let resolved = form_json(
        &t.state,
        &alice,
        &url,
        &[("action", "status"), ("status", "resolved")],
    )
    .await;
    assert_eq!(resolved.json()["message"], "Marked resolved.");
    let incident = t.state.kb.store().incident(id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);

    let right = form_json(
        &t.state,
        &alice,
        &format!("{url}/verdict"),
        &[("playbook", "close-wait-leak"), ("verdict", "right")],
    )
    .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
    assert!(
        right.json()["message"]
            .as_str()
            .unwrap()
            .ends_with("right."),
        "{}",
        right.text
    );

    // Errors: JSON naming the field, the status as for a page.
    let empty = form_json(
        &t.state,
        &alice,
        &url,
        &[("action", "note"), ("text", "  ")],
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.json()["error"]["field"], "text", "{}", empty.text);
    let nowhere = form_json(
        &t.state,
        &alice,
        "/incidents/99999",
        &[("action", "note"), ("text", "x")],
    )
    .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert!(
        nowhere.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("99999")
    );

    // Without script: the redirect, as before.
    let plain = form(
        &t.state,
        &alice,
        &url,
        &[("action", "note"), ("text", "checked the LB")],
    )
    .await;
    assert_eq!(plain.status, StatusCode::SEE_OTHER);
    assert_eq!(
        plain.location.as_deref(),
        Some(format!("{url}#timeline").as_str())
    );
}
