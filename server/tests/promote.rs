//! Promoting a postmortem through the router: who may, what a promotion
//! saves (a playbook the search finds, a note on the timeline), a second
//! promotion getting a fresh id, evidence too thin to promote, and the
//! report-attach action the evidence arrives through.

mod common;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use faultline::store::{IncidentStatus, NewIncident, Role};
use faultline::web::AppState;

const NOVEL: &str = include_str!("fixtures/promote/fd-exhaustion-retry-storm.json");
const NOVEL_ID: &str = "5c0f7a52-2d3e-4b8e-9f61-0a7d3c9e1b44";

async fn post(
    state: &AppState,
    login: &common::Login,
    uri: &str,
    body: &str,
    csrf: bool,
) -> (StatusCode, String, String) {
    let mut req = Request::post(uri)
        .header(header::COOKIE, &login.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if csrf {
        req = req.header("x-csrf-token", &login.csrf);
    }
    let answer = common::send(state, req.body(Body::from(body.to_owned())).unwrap()).await;
    (
        answer.status,
        answer.location.unwrap_or_default(),
        answer.text,
    )
}

/// Stores `report` through the ingest endpoint and opens an incident by hand.
async fn incident_with_report(state: &AppState, collector: &str, report: &str) -> i64 {
    let store = state.kb.store();
    let (_, token) = faultline::ingest::add_collector(store, collector, &BTreeMap::new())
        .await
        .unwrap();
    let sent = common::send_report(state, &token, report.to_owned()).await;
    assert_eq!(sent.status, StatusCode::CREATED);
    let labels = BTreeMap::from([("host".to_owned(), collector.to_owned())]);
    faultline::incidents::open_by_hand(
        &state.kb,
        &state.incident_bus,
        NewIncident {
            title: &format!("{collector} misbehaves"),
            severity: "warning",
            labels: &labels,
            opened_by: "rita",
            group_key: None,
        },
    )
    .await
    .unwrap()
    .id
}

/// Attaches, resolves and drafts the postmortem; returns its page path.
async fn postmortem_for(
    state: &AppState,
    rita: &common::Login,
    incident: i64,
    report: &str,
) -> String {
    let uri = format!("/incidents/{incident}");
    let (status, _, _) = post(
        state,
        rita,
        &uri,
        &format!("action=report&report={report}"),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    state
        .kb
        .store()
        .set_status(incident, IncidentStatus::Resolved, "rita")
        .await
        .unwrap();
    let (status, location, body) = post(
        state,
        rita,
        &format!("/incidents/{incident}/postmortem"),
        "",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    location
}

#[tokio::test]
async fn editors_promote_a_postmortem_into_a_searchable_playbook() {
    let t = common::app().await;
    let state = &t.state;
    let rita = common::session_for(state, "rita", Role::Responder).await;
    let ed = common::session_for(state, "ed", Role::Editor).await;
    let incident = incident_with_report(state, "edge-gw-3", NOVEL).await;
    let postmortem = postmortem_for(state, &rita, incident, NOVEL_ID).await;
    let promote = format!("{postmortem}/promote");

    // The button shows for editors only.
    for (login, shown) in [(&rita, false), (&ed, true)] {
        let page = common::get_as(state, login, &postmortem).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.text.contains(&format!("action=\"{promote}\"")), shown);
    }

    // Responders write postmortems; only editors add playbooks. CSRF holds.
    let (status, _, _) = post(state, &rita, &promote, "", true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(state, &ed, &promote, "", false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = post(state, &ed, "/postmortems/9999/promote", "", true).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, location, body) = post(state, &ed, &promote, "", true).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = location
        .strip_prefix("/playbooks/")
        .and_then(|l| l.strip_suffix("/edit?bench=1#bench"))
        .unwrap_or_else(|| panic!("{location}"))
        .to_owned();
    let saved = state.kb.get(&id).expect("saved through the knowledge base");
    let clauses = &saved.playbook.meta.clauses;
    assert!((3..=6).contains(&clauses.len()), "{clauses:?}");
    assert_eq!(saved.playbook.meta.examples[0].report, NOVEL_ID);
    // Both the drafted postmortem and the new playbook cite the report, so
    // retention leaves it whole.
    let store = state.kb.store();
    let novel = uuid::Uuid::parse_str(NOVEL_ID).unwrap();
    let postmortem_id = postmortem.strip_prefix("/postmortems/").unwrap();
    for holder in [
        format!("postmortem:{postmortem_id}"),
        format!("playbook:{id}"),
    ] {
        assert_eq!(
            store.report_pins(&holder).await.unwrap(),
            [novel],
            "{holder}"
        );
    }
    assert_eq!(saved.version.author.as_deref(), Some("ed"));
    let hits = common::search(&state.kb, "edge-gw-3 misbehaves", 5);
    assert!(hits.hits.iter().any(|h| h.id == id), "{:?}", hits.hits);
    let events = state.kb.store().events(incident).await.unwrap();
    let note = events.last().unwrap();
    assert!(
        note.body["text"]
            .as_str()
            .unwrap()
            .contains(&format!("playbook {id}")),
        "{note:?}"
    );

    // The editor opens with the bench already run against the example.
    let editor = common::get_as(state, &ed, location.trim_end_matches("#bench")).await;
    assert_eq!(editor.status, StatusCode::OK);
    assert!(editor.text.contains("bench-good"), "the example matches");
    assert!(!editor.text.contains("bench-fail"));

    // Promoting again makes a second playbook rather than overwriting.
    let (status, again, _) = post(state, &ed, &promote, "", true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        again.starts_with(&format!("/playbooks/{id}-2/edit")),
        "{again}"
    );
}

#[tokio::test]
async fn thin_evidence_and_bad_report_ids_are_clear_errors() {
    let t = common::app().await;
    let state = &t.state;
    let rita = common::session_for(state, "rita", Role::Responder).await;
    let ed = common::session_for(state, "ed", Role::Editor).await;
    let mut quiet: serde_json::Value =
        serde_json::from_str(&faultline::builtin::example("healthy/quiet-host.json").unwrap())
            .unwrap();
    let quiet_id = uuid::Uuid::new_v4().to_string();
    quiet["report_id"] = quiet_id.clone().into();
    let incident = incident_with_report(state, "quiet-1", &quiet.to_string()).await;

    let uri = format!("/incidents/{incident}");
    let (status, _, body) = post(state, &rita, &uri, "action=report&report=not-an-id", true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("report id"), "{body}");
    let unknown = uuid::Uuid::new_v4();
    let (status, _, body) = post(
        state,
        &rita,
        &uri,
        &format!("action=report&report=%2Freports%2F{unknown}"),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("no stored report"), "{body}");

    // A healthy host's report: nothing stood out, so nothing to promote.
    let postmortem = postmortem_for(state, &rita, incident, &quiet_id).await;
    let (status, _, body) = post(state, &ed, &format!("{postmortem}/promote"), "", true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("attach more evidence"), "{body}");
    assert_eq!(state.kb.list().len(), faultline::builtin::playbooks().len());
}
