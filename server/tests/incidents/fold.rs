//! Many hosts, one symptom: reports from several hosts whose likely
//! diagnosis is the same playbook, sharing a `service` label, fold into one
//! incident with a host × clause matrix; a host of another service with the
//! same symptom gets its own; the fold window bounds it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::Value;

use crate::common::{self, example, get, incidents, post_report};

/// A collector for `host` of `service`, in a cluster named after the
/// service (the example reports say `cluster=prod`; a collector's labels
/// override the report's).
async fn collector(state: &faultline::web::AppState, host: &str, service: &str) -> String {
    let labels = BTreeMap::from([
        ("host".to_owned(), host.to_owned()),
        ("service".to_owned(), service.to_owned()),
        ("cluster".to_owned(), format!("{service}-cluster")),
    ]);
    faultline::ingest::add_collector(state.kb.store(), &format!("probe-{host}"), &labels)
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn three_hosts_with_one_symptom_make_one_incident_with_a_host_matrix() {
    let t = common::app().await;
    for host in ["node-a", "node-b", "node-c"] {
        let token = collector(&t.state, host, "edge").await;
        let r = post_report(&t.state, &token, example("conntrack-table-full-1")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    // The same symptom on a host of another service: not the same incident.
    let other = collector(&t.state, "node-d", "billing").await;
    post_report(&t.state, &other, example("conntrack-table-full-2")).await;

    let all = incidents(&t.state).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let edge = all.iter().find(|i| i.labels["service"] == "edge").unwrap();
    let billing = all
        .iter()
        .find(|i| i.labels["service"] == "billing")
        .unwrap();

    let body: Value = get(&t.state, &format!("/api/v1/incidents/{}", edge.id))
        .await
        .json();
    let hosts = &body["hosts"];
    assert_eq!(hosts["playbook"], "conntrack-table-full", "{body}");
    let rows: Vec<&str> = hosts["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["node-a", "node-b", "node-c"]);
    let columns = hosts["columns"].as_array().unwrap().len();
    for row in hosts["rows"].as_array().unwrap() {
        assert_eq!(row["likely"], true, "{row}");
        assert_eq!(row["cells"].as_array().unwrap().len(), columns);
        assert_eq!(row["cells"][0]["state"], "true", "{row}");
        assert!(
            row["cells"][0]["observed"]
                .as_str()
                .unwrap()
                .contains("conntrack.fill=")
        );
    }
    // The page shows it too.
    let page = get(&t.state, &format!("/incidents/{}", edge.id)).await;
    assert!(page.text.contains("id=\"hosts\""));
    assert!(page.text.contains("data-host=\"node-c\""));

    // One host's evidence is no matrix.
    let alone: Value = get(&t.state, &format!("/api/v1/incidents/{}", billing.id))
        .await
        .json();
    assert!(alone["hosts"].is_null(), "{alone}");
}

#[tokio::test]
async fn no_folding_outside_the_window_or_without_a_shared_label() {
    let mut config = common::anonymous_read_config();
    config.fold_window_s = 0;
    let t = common::app_with(config).await;
    for host in ["node-a", "node-b"] {
        let token = collector(&t.state, host, "edge").await;
        post_report(&t.state, &token, example("conntrack-table-full-1")).await;
    }
    assert_eq!(incidents(&t.state).await.len(), 2, "folding is off");

    let t = common::app().await;
    for host in ["node-a", "node-b"] {
        // No service or cluster in common: one each.
        let labels = BTreeMap::from([
            ("host".to_owned(), host.to_owned()),
            ("cluster".to_owned(), format!("{host}-cluster")),
        ]);
        let (_, token) = faultline::ingest::add_collector(t.state.kb.store(), host, &labels)
            .await
            .unwrap();
        post_report(&t.state, &token, example("conntrack-table-full-1")).await;
    }
    assert_eq!(incidents(&t.state).await.len(), 2);

    // Same service, different symptom: not folded either.
    let t = common::app().await;
    let a = collector(&t.state, "node-a", "edge").await;
    post_report(&t.state, &a, example("conntrack-table-full-1")).await;
    let b = collector(&t.state, "node-b", "edge").await;
    post_report(&t.state, &b, example("close-wait-leak-1")).await;
    assert_eq!(incidents(&t.state).await.len(), 2);
}
