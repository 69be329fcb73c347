//! The router, driven in-process with `oneshot`.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

async fn get(
    state: &faultline::web::AppState,
    uri: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let app = faultline::web::app(state.clone());
    let response = app
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn get_json(state: &faultline::web::AppState, uri: &str) -> (StatusCode, Value) {
    let (status, headers, body) = get(state, uri).await;
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{uri} answered {:?}",
        headers.get(header::CONTENT_TYPE)
    );
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn home_lists_every_playbook_with_a_search_box() {
    let t = common::app().await;
    let (status, headers, body) = get(&t.state, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("name=\"q\""), "search box");
    assert!(body.contains("/playbooks/keepalive-race-502"));
    assert!(body.contains("/playbooks/conntrack-table-full"));
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn playbook_page_numbers_steps_and_has_contents() {
    let t = common::app().await;
    let (status, _, body) = get(&t.state, "/playbooks/close-wait-leak").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("id=\"step-1\""), "numbered steps");
    assert!(body.contains("href=\"#root_cause\""), "table of contents");
    assert!(body.contains("<pre><code"), "commands in code blocks");
    assert!(!body.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn unknown_pages_and_ids_are_friendly_404s() {
    let t = common::app().await;
    let (status, _, body) = get(&t.state, "/playbooks/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("no-such-thing") && body.contains("<form"),
        "{body}"
    );
    let (status, _, _) = get(&t.state, "/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, json) = get_json(&t.state, "/api/v1/playbooks/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["error"]["code"], "not_found");
    assert_eq!(json["error"]["field"], "id");
}

#[tokio::test]
async fn api_lists_filters_and_returns_playbooks() {
    let t = common::app().await;
    let (status, json) = get_json(&t.state, "/api/v1/playbooks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(json["playbooks"].as_array().unwrap().len() >= 13);
    let (_, dns) = get_json(&t.state, "/api/v1/playbooks?layer=dns").await;
    assert!(
        dns["playbooks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["layer"] == "dns")
    );
    assert!(!dns["playbooks"].as_array().unwrap().is_empty());
    let (status, bad) = get_json(&t.state, "/api/v1/playbooks?layer=physics").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["error"]["field"], "layer");
    let (status, one) = get_json(&t.state, "/api/v1/playbooks/dns-ndots-search-delay").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], "dns-ndots-search-delay");
    assert!(one["steps"].as_array().unwrap().len() >= 3);
    assert!(one["source"].as_str().unwrap().starts_with("+++"));
    assert_eq!(one["version"], 1);
}

#[tokio::test]
async fn search_api_ranks_and_rejects_bad_queries() {
    let t = common::app().await;
    let (status, json) = get_json(&t.state, "/api/v1/search?q=ndots").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["hits"][0]["id"], "dns-ndots-search-delay");
    assert!(json["hits"][0]["snippet"].as_str().unwrap().contains("<b>"));
    for uri in [
        "/api/v1/search",
        "/api/v1/search?q=",
        "/api/v1/search?q=%20%20",
    ] {
        let (status, json) = get_json(&t.state, uri).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert_eq!(json["error"]["field"], "q", "{uri}");
    }
    let huge = format!("/api/v1/search?q={}", "x".repeat(5000));
    let (status, json) = get_json(&t.state, &huge).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too long")
    );
}

#[tokio::test]
async fn search_page_shows_snippets_facets_and_errors() {
    let t = common::app().await;
    let (status, _, body) = get(&t.state, "/search?q=CLOSE_WAIT").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("/playbooks/close-wait-leak"));
    assert!(body.contains("<b>"), "highlighted snippet");
    let (status, _, body) = get(&t.state, "/search?q=").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("error-box"),
        "empty query explained on the page"
    );
    let (_, _, body) = get(&t.state, "/search?q=%3Cscript%3Ealert(1)%3C/script%3E").await;
    assert!(!body.contains("<script>alert(1)"), "query is escaped");
}

#[tokio::test]
async fn lessons_and_assets_are_served() {
    let t = common::app().await;
    let (status, _, body) = get(&t.state, "/lessons").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("href=\"/playbooks/"),
        "lessons link to playbooks"
    );
    let (status, headers, _) = get(&t.state, "/static/app.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(headers.contains_key(header::ETAG));
    let (status, _, _) = get(&t.state, "/static/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn readiness_fails_while_draining_but_liveness_holds() {
    let t = common::app().await;
    assert_eq!(get(&t.state, "/readyz").await.0, StatusCode::OK);
    t.state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        get(&t.state, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get(&t.state, "/healthz").await.0, StatusCode::OK);
    let (_, _, metrics) = get(&t.state, "/metrics").await;
    assert!(metrics.contains("faultline_draining 1"), "{metrics}");
}

#[tokio::test]
async fn a_users_edit_to_a_built_in_survives_a_restart_and_an_upgrade() {
    use faultline::kb::KnowledgeBase;
    use faultline::store::{NewVersion, Origin};

    let dir = tempfile::tempdir().unwrap();
    let url = faultline::store::sqlite_url(dir.path());
    let store = faultline::store::connect(&url).await.unwrap();
    let kb = KnowledgeBase::open(store.clone()).await.unwrap();
    let original = kb.get("mtu-blackhole").unwrap();
    let edited = original.playbook.source().replace(
        "\n## Prevention\n",
        "\n## Prevention\n\n- Our team's own rule.\n",
    );
    kb.save(
        "mtu-blackhole.md",
        &edited,
        Origin::Edit,
        Some("alice"),
        Some(original.version.version),
    )
    .await
    .unwrap();

    // A built-in that an older binary shipped differently gets upgraded.
    let dns = kb.get("dns-ndots-search-delay").unwrap();
    let stale = dns
        .playbook
        .source()
        .replace("## Symptoms", "## Symptoms\n\n- (older wording)\n");
    store
        .save_playbook(NewVersion {
            id: "dns-ndots-search-delay",
            source: &stale,
            origin: Origin::Builtin,
            author: None,
            base_version: None,
        })
        .await
        .unwrap();
    store.close().await;
    drop(kb);

    let store = faultline::store::connect(&url).await.unwrap();
    let kb = KnowledgeBase::open(store).await.unwrap();
    let kept = kb.get("mtu-blackhole").unwrap();
    assert_eq!(kept.playbook.source(), edited, "the edit is kept");
    assert_eq!(kept.version.author.as_deref(), Some("alice"));
    let upgraded = kb.get("dns-ndots-search-delay").unwrap();
    assert_eq!(
        upgraded.playbook.source(),
        dns.playbook.source(),
        "the built-in is current again"
    );
    assert_eq!(
        upgraded.version.version, 3,
        "history kept: shipped, older, shipped again"
    );
}
