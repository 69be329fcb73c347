//! An incident walked in a real browser (headless Chromium through
//! chromedriver) against a real server: an Alertmanager webhook opens it, a
//! probe report arrives and the open page's diagnosis updates live (SSE, no
//! reload), the engineer pastes real `ss -tan` output, ticks steps and
//! resolves it. And the alert as evidence: an unmapped alert's words
//! suggest the playbook, a responder confirms it below the threshold, a
//! mapped alert opens with its checklist. Screenshots land in
//! `target/screenshots/incident-*.png`.

mod browser_support;
mod common;

use std::time::{Duration, Instant};

use browser_support::*;
use fantoccini::Locator;
use faultline::store::{IncidentStatus, Role};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_walks_an_incident_from_alert_to_resolved() {
    within(
        "an_engineer_walks_an_incident_from_alert_to_resolved",
        TEST_LIMIT,
        an_engineer_walks_an_incident_from_alert_to_resolved_body(),
    )
    .await
}

async fn an_engineer_walks_an_incident_from_alert_to_resolved_body() {
    let (addr, app) = start_server().await;
    let store = app.state.kb.store().clone();
    faultline::accounts::add_user(&store, "oncall", "pager-duty-3am", Role::Responder, "test")
        .await
        .unwrap();
    let (am_token, _) =
        faultline::accounts::add_api_token(&store, "alertmanager", Role::Responder, "test")
            .await
            .unwrap();
    let (_, probe_token) =
        faultline::ingest::add_collector(&store, "orders-api-1", &Default::default())
            .await
            .unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let (_driver, port) = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path()).await;

    // Log in as the on-call engineer.
    log_in(&client, &base, "oncall", "pager-duty-3am").await;

    // Alertmanager pages: the incident appears.
    let payload = json!({
        "version": "4", "groupKey": "{}:{alertname=\"OrdersApiErrors\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "faultline",
        "groupLabels": {"alertname": "OrdersApiErrors"},
        "commonLabels": {"alertname": "OrdersApiErrors"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "OrdersApiErrors", "host": "orders-api-1",
                       "service": "orders", "severity": "critical"},
            "annotations": {"summary": "orders API answers 502 and 'too many open files'"},
            "startsAt": "2026-11-24T03:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": "5e1f0a9c3b7d2e41"
        }]
    });
    let answer = http
        .post(format!("{base}/api/v1/alertmanager"))
        .bearer_auth(&am_token)
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let id = answer.json::<Value>().await.unwrap()["opened"][0]
        .as_i64()
        .unwrap();

    client.goto(&base).await.unwrap();
    assert!(
        text_of(&client, ".home-incidents")
            .await
            .contains("OrdersApiErrors")
    );
    shot(&client, "incident-home").await;
    client.goto(&format!("{base}/incidents")).await.unwrap();
    shot(&client, "incident-list").await;
    click(&client, &format!("a[href='/incidents/{id}']")).await;
    client
        .wait()
        .for_element(Locator::Css("#incident-live"))
        .await
        .unwrap();
    assert!(
        text_of(&client, "#summary")
            .await
            .contains("No likely root cause")
    );
    // The live stream is connected.
    wait_until(
        &client,
        "return (document.getElementById('inc-live-state').textContent || '').startsWith('Live')",
        20,
        "the live stream to connect",
    )
    .await;
    // A mark that a reload would wipe.
    client
        .execute("window.__notReloaded = true; return true;", vec![])
        .await
        .unwrap();
    shot(&client, "incident-opened").await;

    // The probe on the host reports a CLOSE_WAIT pile-up: the open page's
    // diagnosis updates by itself.
    let mut report: Value =
        serde_json::from_str(include_str!("../playbooks/examples/close-wait-leak-1.json")).unwrap();
    report["report_id"] = json!(uuid::Uuid::new_v4().to_string());
    let sent = Instant::now();
    let stored = http
        .post(format!("{base}/api/v1/reports"))
        .bearer_auth(&probe_token)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    wait_until(
        &client,
        "return !!document.querySelector('#incident-live .dx-heading')",
        20,
        "the diagnosis to update live",
    )
    .await;
    let live_ms = sent.elapsed().as_millis();
    assert!(
        js_bool(&client, "return window.__notReloaded === true").await,
        "updated without a reload"
    );
    let diagnosis = text_of(&client, "#incident-live #summary").await;
    assert!(diagnosis.contains("CLOSE_WAIT"), "{diagnosis}");
    let checklist = text_of(&client, "#checklist").await;
    assert!(checklist.contains("Checklist"), "{checklist}");
    println!("report to live diagnosis on the open page: {live_ms} ms");
    shot(&client, "incident-live-diagnosis").await;

    // Diagnosis first: what is likely, why, and the next step's commands,
    // each with a copy button; the evidence that decided it next.
    let summary = text_of(&client, "#summary").await;
    assert!(summary.contains("Likely"), "{summary}");
    let copyable = client
        .find_all(Locator::Css("#summary code.cmd + button.copy"))
        .await
        .unwrap();
    assert!(
        !copyable.is_empty(),
        "next-step commands are copyable: {summary}"
    );
    assert!(
        text_of(&client, "#deciding")
            .await
            .contains("TCP sockets by state"),
        "the socket counts that decided it are shown"
    );

    // On a 1400×1000 laptop the side column fits the window: "Use" and the
    // paste box are on screen at the top of the page and halfway down it.
    viewport(&client, 1400, 1000, false).await;
    for at in ["0", "document.scrollingElement.scrollHeight / 2"] {
        let check = format!(
            "window.scrollTo(0, {at});\
             const bar = document.querySelector('.topbar').getBoundingClientRect().bottom;\
             const side = document.querySelector('.inc-side').getBoundingClientRect();\
             const seen = css => {{ const r = document.querySelector(css).getBoundingClientRect();\
               return r.top >= bar && r.bottom <= innerHeight; }};\
             return [side.height <= innerHeight - bar, seen('#choose button[type=submit]'),\
               seen('#paste textarea'), seen('#paste button[type=submit]')];"
        );
        let seen = client.execute(&check, vec![]).await.unwrap();
        assert_eq!(seen, json!([true, true, true, true]), "scrolled to {at}");
    }
    client
        .execute("window.scrollTo(0, 0); return true;", vec![])
        .await
        .unwrap();
    shot(&client, "incident-laptop").await;

    // Paste real `ss -tan` output (this host's, so any size).
    paste_into(&client, "#paste textarea", &common::real_ss_tan()).await;
    click(&client, "#paste button[type=submit]").await;
    if client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#inc-flash"))
        .await
        .is_err()
    {
        shot(&client, "incident-paste-failed").await;
        panic!(
            "no message after the paste; the page says: {}",
            text_of(&client, "main").await
        );
    }
    let flash = text_of(&client, "#inc-flash").await;
    assert!(flash.contains("recognised as ss -tan"), "{flash}");
    assert!(
        js_bool(
            &client,
            "return document.querySelector('#paste #inc-flash') !== null \
             && document.querySelector('#paste textarea').value === '' \
             && window.__notReloaded === true"
        )
        .await,
        "the paste's outcome is said next to the paste box, in place"
    );
    assert!(
        text_of(&client, "#timeline")
            .await
            .contains("Pasted output recognised as ss -tan")
    );
    shot(&client, "incident-pasted").await;

    // Tick the first two steps; the ticks persist.
    for step in [1, 2] {
        click(&client, &format!("#step-{step} button[value=tick]")).await;
        client
            .wait()
            .for_element(Locator::Css(&format!("#step-{step}.inc-step-done")))
            .await
            .unwrap();
    }
    assert!(
        js_bool(&client, "return window.__notReloaded === true").await,
        "ticks update in place"
    );
    let ticks = store.ticks(id).await.unwrap();
    assert_eq!(ticks.iter().map(|t| t.step).collect::<Vec<_>>(), [1, 2]);
    assert!(ticks.iter().all(|t| t.ticked_by == "oncall"));
    client.refresh().await.unwrap();
    assert!(text_of(&client, "#checklist h2").await.contains("2 of"));
    shot(&client, "incident-ticked").await;

    // Resolve.
    click(&client, ".inc-statusform button[value=resolved]").await;
    wait_until(
        &client,
        "return document.getElementById('inc-status').textContent === 'resolved'",
        20,
        "the status to read resolved",
    )
    .await;
    assert_eq!(
        store.incident(id).await.unwrap().unwrap().status,
        IncidentStatus::Resolved
    );
    assert!(
        text_of(&client, "#timeline")
            .await
            .contains("Status open → resolved")
    );
    shot(&client, "incident-resolved").await;
    client.close().await.unwrap();
}

/// Scrolls an element to the top of the window, for a screenshot of it.
async fn scroll_to(client: &fantoccini::Client, css: &str) {
    let script = format!(
        "const top = document.querySelector({css:?}).getBoundingClientRect().top; \
         window.scrollTo(0, top + window.scrollY - 70); return true;"
    );
    client.execute(&script, vec![]).await.unwrap();
}

/// An Alertmanager v4 delivery of one firing alert.
fn firing(name: &str, host: &str, summary: &str, fingerprint: &str) -> Value {
    json!({
        "version": "4", "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"), "truncatedAlerts": 0,
        "status": "firing", "receiver": "faultline",
        "groupLabels": {"alertname": name}, "commonLabels": {"alertname": name},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": name, "host": host, "severity": "critical"},
            "annotations": {"summary": summary},
            "startsAt": "2026-11-24T03:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_points_at_the_playbook_and_a_responder_decides() {
    within(
        "the_alert_points_at_the_playbook_and_a_responder_decides",
        TEST_LIMIT,
        the_alert_points_at_the_playbook_and_a_responder_decides_body(),
    )
    .await
}

async fn the_alert_points_at_the_playbook_and_a_responder_decides_body() {
    let (addr, app) = start_server().await;
    let store = app.state.kb.store().clone();
    faultline::accounts::add_user(&store, "oncall", "pager-duty-3am", Role::Responder, "test")
        .await
        .unwrap();
    let (am_token, _) =
        faultline::accounts::add_api_token(&store, "alertmanager", Role::Responder, "test")
            .await
            .unwrap();
    store
        .set_alert_route("EdgeGatewayDrops", Some("mtu-blackhole"), "editor")
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let deliver = |payload: Value| {
        let (http, url, token) = (
            http.clone(),
            format!("{base}/api/v1/alertmanager"),
            am_token.clone(),
        );
        async move {
            let answer = http
                .post(url)
                .bearer_auth(token)
                .json(&payload)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            answer.json::<Value>().await.unwrap()["opened"][0]
                .as_i64()
                .expect("an incident opened")
        }
    };

    // An alert nobody mapped, with nginx's own error line in its summary.
    let unmapped = deliver(firing(
        "NginxUpstreamResets",
        "edge-4",
        "nginx on edge-4: upstream prematurely closed connection while reading response \
         header from upstream, client: 10.2.0.7, server: shop",
        "7a1c0de5",
    ))
    .await;
    let mapped = deliver(firing(
        "EdgeGatewayDrops",
        "gw-2",
        "large responses stall through the gateway",
        "7a1c0de6",
    ))
    .await;

    let (_driver, port) = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path()).await;
    log_in(&client, &base, "oncall", "pager-duty-3am").await;

    // The first candidate is the keep-alive race, suggested by the alert
    // text and not (yet) likely: nothing was measured.
    client
        .goto(&format!("{base}/incidents/{unmapped}"))
        .await
        .unwrap();
    let first = "#candidates .inc-cand:first-child";
    let playbook = client
        .find(Locator::Css(first))
        .await
        .unwrap()
        .attr("data-playbook")
        .await
        .unwrap();
    assert_eq!(playbook.as_deref(), Some("keepalive-race-502"));
    let candidate = text_of(&client, first).await;
    assert!(
        candidate.contains("suggested by the alert text"),
        "{candidate}"
    );
    let why = text_of(&client, "#candidates").await;
    assert!(
        why.contains("No playbook is mapped to alert NginxUpstreamResets"),
        "{why}"
    );
    assert!(
        text_of(&client, "#summary")
            .await
            .contains("No likely root cause")
    );
    let checklist = text_of(&client, "#checklist h2").await;
    assert!(
        checklist.contains("suggested by the alert text"),
        "{checklist}"
    );
    scroll_to(&client, "#candidates").await;
    shot(&client, "incident-alert-suggested").await;

    // The responder decides: the suggestion, below the threshold, is right.
    let target = "#verdict li[data-playbook='keepalive-race-502']";
    click(&client, &format!("{target} button.fb-right")).await;
    wait_until(
        &client,
        "return !!document.querySelector('.fb-confirmed')",
        10,
        "the confirmed diagnosis",
    )
    .await;
    let confirmed = text_of(&client, ".fb-confirmed").await;
    assert!(confirmed.contains("502"), "{confirmed}");
    let verdict = text_of(&client, &format!("{target} .fb-verdict")).await;
    assert!(verdict.eq_ignore_ascii_case("right"), "{verdict}");
    scroll_to(&client, "#verdict").await;
    shot(&client, "incident-verdict-below-threshold").await;

    // The mapped alert opened with its playbook's checklist ready.
    client
        .goto(&format!("{base}/incidents/{mapped}"))
        .await
        .unwrap();
    let checklist = text_of(&client, "#checklist h2").await;
    assert!(
        checklist.contains("alert EdgeGatewayDrops is mapped to it"),
        "{checklist}"
    );
    client
        .find(Locator::Css("#checklist #step-1 .inc-tickbox"))
        .await
        .expect("steps to tick");
    assert_eq!(
        client
            .find(Locator::Css(first))
            .await
            .unwrap()
            .attr("data-source")
            .await
            .unwrap()
            .as_deref(),
        Some("route")
    );
    let why = text_of(&client, "#candidates").await;
    assert!(!why.contains("No playbook is mapped"), "{why}");
    scroll_to(&client, "#candidates").await;
    shot(&client, "incident-mapped-checklist").await;
    client.close().await.unwrap();
}
