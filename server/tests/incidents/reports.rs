//! Reports meet incidents, through the router: a collector's labels apply
//! to its reports so they join the open incident of their host without a
//! hand attach; a report page opens an incident; attaching says it did;
//! admins add collectors on `/admin`; the new-incident form's severity.

use axum::http::StatusCode;
use faultline::store::{EventKind, Role};
use serde_json::{Value, json};

use super::{alertmanager, edited, token, webhook};
use crate::common::{self, example, form, get, get_as, incidents, post_report};

fn report_events(events: &[faultline::store::IncidentEvent]) -> usize {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Report)
        .count()
}

/// A report that names itself after the machine, not the host label.
fn from_machine(name: &str) -> Value {
    let mut report = example(name);
    report["collector"]["host"] = json!("ip-10-0-3-17");
    report
}

#[tokio::test]
async fn a_labelled_collectors_reports_join_its_hosts_incident_without_a_hand_attach() {
    let t = common::app().await;
    let store = t.state.kb.store();
    let am = token(&t.state, "alertmanager", Role::Responder).await;
    let alert = edited(&alertmanager("firing", "e5", "web"), |v| {
        v["alerts"][0]["labels"]["host"] = json!("web-1")
    });
    let id = webhook(&t.state, &am, &alert).await.json()["opened"][0]
        .as_i64()
        .unwrap();
    let labels = [
        ("host".to_owned(), "web-1".to_owned()),
        ("cluster".to_owned(), "eu".to_owned()),
    ]
    .into();
    let (_, probe) = faultline::ingest::add_collector(store, "probe-a", &labels)
        .await
        .unwrap();

    // Nothing likely in it, but it is the first word from that host.
    let healthy = post_report(&t.state, &probe, from_machine("healthy/quiet-host")).await;
    assert_eq!(healthy.status, StatusCode::CREATED, "{}", healthy.text);
    let report_id = healthy.json()["report_id"].as_str().unwrap().to_owned();
    assert_eq!(report_events(&store.events(id).await.unwrap()), 1);
    let stored = store
        .report(report_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.summary.host, "web-1",
        "the collector's host label wins"
    );
    assert_eq!(stored.summary.labels["cluster"], "eu");
    assert!(
        stored.body.contains("ip-10-0-3-17"),
        "the body is kept as sent"
    );

    // The same again says nothing new: not added.
    post_report(&t.state, &probe, from_machine("healthy/quiet-host")).await;
    assert_eq!(report_events(&store.events(id).await.unwrap()), 1);

    // A likely one joins (no second incident), and so does the recovery.
    post_report(&t.state, &probe, from_machine("close-wait-leak-1")).await;
    post_report(&t.state, &probe, from_machine("healthy/quiet-host")).await;
    assert_eq!(report_events(&store.events(id).await.unwrap()), 3);
    assert_eq!(incidents(&t.state).await.len(), 1);

    // A collector of another host stays out.
    let other = [("host".to_owned(), "web-2".to_owned())].into();
    let (_, probe_b) = faultline::ingest::add_collector(store, "probe-b", &other)
        .await
        .unwrap();
    post_report(&t.state, &probe_b, from_machine("healthy/quiet-host")).await;
    assert_eq!(report_events(&store.events(id).await.unwrap()), 3);
}

#[tokio::test]
async fn a_report_page_opens_an_incident_and_attaching_says_it_did() {
    let t = common::app().await;
    let labels = [("service".to_owned(), "checkout".to_owned())].into();
    let (_, probe) = faultline::ingest::add_collector(t.state.kb.store(), "probe-c", &labels)
        .await
        .unwrap();
    let sent = post_report(&t.state, &probe, example("healthy/busy-host")).await;
    let report = sent.json()["report_id"].as_str().unwrap().to_owned();
    let rita = common::session_for(&t.state, "rita", Role::Responder).await;
    let page = get_as(&t.state, &rita, &format!("/reports/{report}")).await;
    assert!(
        page.text.contains("Open an incident from this report"),
        "{}",
        page.text
    );
    let viewer = common::session_for(&t.state, "vic", Role::Viewer).await;
    let page = get_as(&t.state, &viewer, &format!("/reports/{report}")).await;
    assert!(!page.text.contains("Open an incident from this report"));

    let uri = format!("/reports/{report}/incident");
    let refused = form(
        &t.state,
        &rita,
        &uri,
        &[("title", "x"), ("severity", "sev1")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.text.contains("critical, warning or info"),
        "{}",
        refused.text
    );
    let denied = form(&t.state, &viewer, &uri, &[("title", "x")]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    let opened = form(
        &t.state,
        &rita,
        &uri,
        &[
            ("title", "Checkout slow on busy host"),
            ("severity", "critical"),
        ],
    )
    .await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.text);
    let to = opened.location.clone().unwrap();
    assert!(to.contains("?attached="), "{to}");
    let incident = incidents(&t.state).await[0].clone();
    assert_eq!(incident.severity, "critical");
    assert_eq!(incident.labels["service"], "checkout");
    assert!(!incident.labels["host"].is_empty());
    let shown = get(&t.state, &to).await;
    assert!(
        shown
            .text
            .contains("Report from probe-c is attached as evidence"),
        "{}",
        shown.text
    );

    // Attaching another report to it from the report's page: said too.
    let second = post_report(&t.state, &probe, example("healthy/quiet-host")).await;
    let second = second.json()["report_id"].as_str().unwrap().to_owned();
    let attached = form(
        &t.state,
        &rita,
        &format!("/incidents/{}", incident.id),
        &[("action", "report"), ("report", &second)],
    )
    .await;
    let to = attached.location.unwrap();
    assert!(to.contains("?attached="), "{to}");
    let shown = get(&t.state, &to).await;
    assert!(
        shown.text.contains("is attached as evidence"),
        "{}",
        shown.text
    );
    let missing = form(
        &t.state,
        &rita,
        &format!("/reports/{}/incident", uuid::Uuid::new_v4()),
        &[("title", "nothing")],
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admins_add_a_collector_on_the_admin_page_and_see_its_token_once() {
    let t = common::app().await;
    let admin = common::session_for(&t.state, "root", Role::Admin).await;
    let fields = [("name", "web-1"), ("labels", "host=web-1\ncluster=eu")];
    let added = form(&t.state, &admin, "/admin/collectors", &fields).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let at = added.text.find("flc_").expect("the token is shown");
    let token: String = added.text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert!(faultline::ingest::well_formed_token(&token), "{token}");
    let again = get_as(&t.state, &admin, "/admin").await;
    assert!(!again.text.contains(&token), "shown once");
    assert!(again.text.contains("host=web-1"), "labels listed");
    let audit = t.state.kb.store().recent_audit(5).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "collector.add" && a.target == "web-1")
    );

    // The token works, and its labels reach the report.
    let sent = post_report(&t.state, &token, from_machine("healthy/quiet-host")).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let listed = get(&t.state, "/api/v1/reports?collector=web-1").await;
    assert_eq!(
        listed.json()["reports"][0]["host"],
        "web-1",
        "{}",
        listed.text
    );

    let twice = form(&t.state, &admin, "/admin/collectors", &fields).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    for bad in [
        [("name", "web 1"), ("labels", "")],
        [("name", "web-3"), ("labels", "host")],
    ] {
        let answer = form(&t.state, &admin, "/admin/collectors", &bad).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
    let responder = common::session_for(&t.state, "rita", Role::Responder).await;
    let denied = form(&t.state, &responder, "/admin/collectors", &fields).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_new_incident_form_offers_severities_and_refuses_others() {
    let t = common::app().await;
    let rita = common::session_for(&t.state, "rita", Role::Responder).await;
    let page = get_as(&t.state, &rita, "/incidents/new").await;
    assert!(
        page.text.contains("<select name=\"severity\">"),
        "{}",
        page.text
    );
    assert!(page.text.contains("<option value=\"warning\" selected>"));
    assert!(
        !page.text.contains("name=\"severity\" value="),
        "no pre-filled text"
    );
    let refused = form(
        &t.state,
        &rita,
        "/incidents",
        &[("title", "t"), ("severity", "warningcritical")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text
            .contains("not one of critical, warning or info"),
        "{}",
        refused.text
    );
    let ok = form(
        &t.state,
        &rita,
        "/incidents",
        &[("title", "t"), ("severity", "info")],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(incidents(&t.state).await[0].severity, "info");
}
