//! From the alert to the playbook, through the router: the alert's words
//! suggest candidates (ranked below measured evidence), a mapped alert sets
//! the checklist at once, responders judge candidates below the threshold,
//! and the JSON API lists incidents and gives each one's diagnosis.

use axum::http::{StatusCode, header};
use faultline::store::{EventKind, Role};
use serde_json::{Value, json};

use super::{alertmanager, edited, token, webhook};
use crate::common::{self, example, form, get, incidents, post_report};

/// nginx's own words for the keep-alive race, as an alert's summary.
const NGINX_502: &str =
    "upstream prematurely closed connection while reading response header from upstream";

/// A firing alert named `name` on `host` with `summary`.
fn alert(name: &str, host: &str, summary: &str, fingerprint: &str) -> String {
    edited(&alertmanager("firing", fingerprint, "edge"), |v| {
        v["groupLabels"] = json!({"alertname": name});
        v["commonLabels"] = json!({"alertname": name});
        let a = &mut v["alerts"][0];
        a["labels"] = json!({"alertname": name, "host": host, "severity": "warning"});
        a["annotations"] = json!({"summary": summary});
    })
}

async fn opened(state: &faultline::web::AppState, am: &str, body: &str) -> i64 {
    let answer = webhook(state, am, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()["opened"][0]
        .as_i64()
        .unwrap_or_else(|| panic!("an incident opened: {}", answer.text))
}

async fn diagnosis(state: &faultline::web::AppState, id: i64) -> Value {
    let answer = get(state, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let v = answer.json();
    assert_eq!(v["incident"]["id"], id, "existing fields kept");
    assert!(v["timeline"].is_array());
    v["diagnosis"].clone()
}

fn first(d: &Value) -> (String, String) {
    let c = &d["candidates"][0];
    (
        c["playbook"].as_str().unwrap_or_default().to_owned(),
        c["source"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn an_unmapped_alert_suggests_from_its_words_and_evidence_still_decides_likely() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let id = opened(
        &t.state,
        &am,
        &alert("EdgeProxyErrors", "edge-7", NGINX_502, "a1"),
    )
    .await;
    let d = diagnosis(&t.state, id).await;
    assert_eq!(
        first(&d),
        ("keepalive-race-502".into(), "alert".into()),
        "{d}"
    );
    assert_eq!(
        d["candidates"][0]["likely"], false,
        "text alone is never likely"
    );
    assert_eq!(d["matches"], json!([]), "nothing measured, nothing likely");
    assert_eq!(d["checklist"]["source"], "alert");
    assert!(
        d["alert_text"]
            .as_str()
            .unwrap()
            .starts_with("Edge Proxy Errors upstream")
    );
    // The page says which and why.
    let page = get(&t.state, &format!("/incidents/{id}")).await;
    assert!(
        page.text.contains("suggested by the alert text"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("No playbook is mapped to alert EdgeProxyErrors"),
        "{}",
        page.text
    );
    assert!(page.text.contains("nothing measured confirms it yet"));

    // Evidence arrives from the host: the likely match ranks first, the
    // suggestion stays below it.
    let labels = [("host".to_owned(), "edge-7".to_owned())].into();
    let (_, probe) = faultline::ingest::add_collector(t.state.kb.store(), "edge-7", &labels)
        .await
        .unwrap();
    let sent = post_report(&t.state, &probe, example("close-wait-leak-1")).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let d = diagnosis(&t.state, id).await;
    assert_eq!(first(&d), ("close-wait-leak".into(), "evidence".into()));
    assert_eq!(d["matches"][0]["playbook"], "close-wait-leak");
    assert!(!d["matches"][0]["clauses"].as_array().unwrap().is_empty());
    let sources: Vec<(&str, &str)> = d["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["playbook"].as_str().unwrap(),
                c["source"].as_str().unwrap(),
            )
        })
        .collect();
    let at = |p: &str| sources.iter().position(|s| s.0 == p).unwrap();
    assert_eq!(sources[at("keepalive-race-502")].1, "alert");
    assert!(
        at("close-wait-leak") < at("keepalive-race-502"),
        "{sources:?}"
    );
    assert_eq!(d["checklist"]["playbook"], "close-wait-leak");
    assert_eq!(d["checklist"]["source"], "evidence");
}

#[tokio::test]
async fn grafana_alerts_and_titles_typed_by_hand_are_searched_too() {
    let t = common::app().await;
    let am = token(&t.state, "grafana", Role::Responder).await;
    let grafana = json!({
        "receiver": "faultline", "status": "firing", "orgId": 1, "version": "1",
        "title": "[FIRING:1] PodDnsSlow", "state": "alerting", "message": "",
        "groupLabels": {}, "commonLabels": {"alertname": "PodDnsSlow"}, "commonAnnotations": {},
        "externalURL": "http://grafana:3000/", "groupKey": "{}", "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "PodDnsSlow", "namespace": "shop"},
            "annotations": {"description": "external names take 5 seconds to resolve in pods: ndots search list"},
            "startsAt": "2026-11-24T02:00:00+01:00", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "", "fingerprint": ""
        }]
    })
    .to_string();
    let id = opened(&t.state, &am, &grafana).await;
    let d = diagnosis(&t.state, id).await;
    assert_eq!(
        first(&d),
        ("dns-ndots-search-delay".into(), "alert".into()),
        "{d}"
    );

    // By hand: the title is the alert text.
    let alice = common::session_for(&t.state, "alice", Role::Responder).await;
    let answer = form(
        &t.state,
        &alice,
        "/incidents",
        &[
            ("title", "nf_conntrack: table full, dropping packet"),
            ("severity", "critical"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let id = incidents(&t.state).await[0].id;
    let d = diagnosis(&t.state, id).await;
    assert_eq!(
        first(&d),
        ("conntrack-table-full".into(), "alert".into()),
        "{d}"
    );
    let page = get(&t.state, &format!("/incidents/{id}")).await;
    assert!(page.text.contains("title was searched"), "{}", page.text);
}

#[tokio::test]
async fn a_mapped_alert_opens_with_its_checklist_ready() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let editor = common::session_for(&t.state, "ed", Role::Editor).await;
    let mapped = form(
        &t.state,
        &editor,
        "/alert-routes",
        &[
            ("alertname", "EdgeGatewayDrops"),
            ("playbook", "mtu-blackhole"),
        ],
    )
    .await;
    assert_eq!(mapped.status, StatusCode::SEE_OTHER, "{}", mapped.text);
    // The summary's words point elsewhere: the mapping wins the checklist.
    let id = opened(
        &t.state,
        &am,
        &alert("EdgeGatewayDrops", "gw-2", NGINX_502, "b2"),
    )
    .await;
    let events = t.state.kb.store().events(id).await.unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Alert, EventKind::Step]);
    assert_eq!(events[1].body["route"], "EdgeGatewayDrops");
    assert_eq!(events[1].who, "token:alertmanager");
    let incident = t.state.kb.store().incident(id).await.unwrap().unwrap();
    assert_eq!(incident.playbook.as_deref(), Some("mtu-blackhole"));
    let d = diagnosis(&t.state, id).await;
    assert_eq!(first(&d), ("mtu-blackhole".into(), "route".into()));
    assert_eq!(d["checklist"]["source"], "route");
    let page = get(&t.state, &format!("/incidents/{id}")).await;
    assert!(
        page.text.contains("alert EdgeGatewayDrops is mapped to it"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("words were searched too"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("No playbook is mapped"));
    assert!(
        page.text.contains("id=\"step-1\""),
        "the checklist's steps are there"
    );

    // A responder's choice replaces it, and says so.
    let rita = common::session_for(&t.state, "rita", Role::Responder).await;
    form(
        &t.state,
        &rita,
        &format!("/incidents/{id}"),
        &[("action", "playbook"), ("playbook", "keepalive-race-502")],
    )
    .await;
    let d = diagnosis(&t.state, id).await;
    assert_eq!(first(&d), ("keepalive-race-502".into(), "responder".into()));

    // A title typed by hand that starts with the mapped name: the same.
    form(
        &t.state,
        &rita,
        "/incidents",
        &[("title", "EdgeGatewayDrops on gw-9 since the VPN change")],
    )
    .await;
    let by_hand = incidents(&t.state).await[0].clone();
    assert_eq!(by_hand.playbook.as_deref(), Some("mtu-blackhole"));
    assert_eq!(by_hand.severity, "warning", "the default severity");
}

#[tokio::test]
async fn responders_judge_a_candidate_below_the_threshold() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let id = opened(
        &t.state,
        &am,
        &alert("EdgeProxyErrors", "edge-7", NGINX_502, "c3"),
    )
    .await;
    let rita = common::session_for(&t.state, "rita", Role::Responder).await;
    let page = common::get_as(&t.state, &rita, &format!("/incidents/{id}")).await;
    assert!(
        page.text
            .contains("name=\"playbook\" value=\"keepalive-race-502\""),
        "a verdict form for the suggestion: {}",
        page.text
    );
    assert!(!page.text.contains("No candidate to judge yet"));
    let judged = form(
        &t.state,
        &rita,
        &format!("/incidents/{id}/verdict"),
        &[("playbook", "keepalive-race-502"), ("verdict", "right")],
    )
    .await;
    assert_eq!(judged.status, StatusCode::SEE_OTHER, "{}", judged.text);
    let page = get(&t.state, &format!("/incidents/{id}")).await;
    assert!(page.text.contains("Confirmed diagnosis"), "{}", page.text);
    assert!(
        page.text.contains("confirmed by rita"),
        "the checklist says who decided"
    );
    let d = diagnosis(&t.state, id).await;
    assert_eq!(first(&d), ("keepalive-race-502".into(), "responder".into()));
    assert_eq!(
        faultline::feedback::confirmed_playbook(t.state.kb.store(), id)
            .await
            .unwrap()
            .as_deref(),
        Some("keepalive-race-502")
    );

    // Marked wrong instead: no longer offered as a suggestion or checklist.
    form(
        &t.state,
        &rita,
        &format!("/incidents/{id}/verdict"),
        &[("playbook", "keepalive-race-502"), ("verdict", "wrong")],
    )
    .await;
    let d = diagnosis(&t.state, id).await;
    let listed = d["candidates"].as_array().unwrap();
    assert!(
        listed.iter().all(|c| c["playbook"] != "keepalive-race-502"),
        "{d}"
    );
    assert_ne!(d["checklist"]["playbook"], "keepalive-race-502");
    let confirmed = faultline::feedback::confirmed_playbook(t.state.kb.store(), id).await;
    assert_eq!(confirmed.unwrap(), None);
}

#[tokio::test]
async fn the_api_lists_incidents_newest_first_and_names_a_bad_filter() {
    let t = common::app().await;
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let api = opened(&t.state, &am, &alertmanager("firing", "d1", "api")).await;
    let db = opened(&t.state, &am, &alertmanager("firing", "d2", "db")).await;
    webhook(&t.state, &am, &alertmanager("resolved", "d1", "api")).await;
    let ids = |uri: &str| {
        let state = t.state.clone();
        let uri = uri.to_owned();
        async move {
            let answer = get(&state, &uri).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.text);
            answer.json()["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("/api/v1/incidents").await, [db, api]);
    assert_eq!(ids("/api/v1/incidents?status=open").await, [db]);
    assert_eq!(ids("/api/v1/incidents?status=resolved").await, [api]);
    assert_eq!(ids("/api/v1/incidents?label=service%3Dapi").await, [api]);
    assert_eq!(ids("/api/v1/incidents?limit=1").await, [db]);
    assert_eq!(ids("/api/v1/incidents?since=1h").await, [db, api]);
    assert_eq!(
        ids("/api/v1/incidents?since=2999-01-01T00:00:00Z").await,
        Vec::<i64>::new()
    );
    for (query, field) in [
        ("status=closed", "status"),
        ("label=service", "label"),
        ("since=forever", "since"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
    ] {
        let answer = get(&t.state, &format!("/api/v1/incidents?{query}")).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(answer.json()["error"]["field"], field, "{}", answer.text);
    }
    let missing = get(&t.state, "/api/v1/incidents/99999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    let word = get(&t.state, "/api/v1/incidents/first").await;
    assert_eq!(word.status, StatusCode::NOT_FOUND);
    assert_eq!(word.json()["error"]["field"], "id");
}

#[tokio::test]
async fn unknown_api_paths_answer_json_never_the_html_page() {
    let t = common::app().await;
    for path in [
        "/api/v1/nothing-here",
        "/api/v2/incidents",
        "/api",
        "/api/v1/incidents/1/x",
    ] {
        let answer = get(&t.state, path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            answer.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}: {}",
            answer.text
        );
        assert_eq!(answer.json()["error"]["code"], "not_found", "{path}");
        assert!(
            answer.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(path)
        );
    }
    let page = get(&t.state, "/no-such-page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.text.contains("<html"), "pages keep the friendly page");
}
