//! Diagnosis feedback through the router: the Right / Wrong verdict on an
//! incident (who may give one, bad input, the confirmed diagnosis), the
//! counts a playbook's page and JSON show, and the library's list of
//! playbooks not reviewed for a long time.

mod common;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{form, get, get_as, send};
use faultline::store::{EventKind, Role};
use faultline::web::AppState;
use serde_json::Value;

/// The "Matched … marked wrong K" line of a playbook page.
async fn stats_line(state: &AppState, id: &str) -> String {
    let page = get(state, &format!("/playbooks/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let start = page
        .text
        .find("id=\"feedback-stats\">")
        .expect("stats line")
        + 20;
    let end = start + page.text[start..].find("</p>").unwrap();
    page.text[start..end].to_owned()
}

#[tokio::test]
async fn verdicts_confirm_a_diagnosis_and_count_on_the_playbook() {
    let t = common::app().await;
    let state = &t.state;
    assert_eq!(
        stats_line(state, "close-wait-leak").await,
        "Matched 0 times (0 reports, 0 incidents), confirmed 0, marked wrong 0"
    );
    let id = common::close_wait_incident(state, &BTreeMap::new()).await;
    assert_eq!(
        stats_line(state, "close-wait-leak").await,
        "Matched 2 times (1 report, 1 incident), confirmed 0, marked wrong 0"
    );

    // The incident page offers the top candidate for a verdict.
    let alice = common::session_for(state, "alice", Role::Responder).await;
    let url = format!("/incidents/{id}");
    let page = get_as(state, &alice, &url).await;
    assert!(
        page.text.contains("Was the diagnosis right?"),
        "{}",
        page.text
    );
    let section = &page.text[page.text.find("id=\"verdict\"").unwrap()..];
    assert!(
        section.contains(&format!("action=\"/incidents/{id}/verdict\"")),
        "{}",
        &section[..section.find("</section>").unwrap()]
    );
    assert!(page.text.contains("no verdict yet"));

    let verdict = format!("/incidents/{id}/verdict");
    let right = form(
        state,
        &alice,
        &verdict,
        &[
            ("playbook", "close-wait-leak"),
            ("verdict", "right"),
            ("comment", "fd limit of the worker"),
        ],
    )
    .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.text);
    assert_eq!(right.location.as_deref(), Some(&*format!("{url}#verdict")));
    assert_eq!(
        faultline::feedback::confirmed_playbook(state.kb.store(), id)
            .await
            .unwrap()
            .as_deref(),
        Some("close-wait-leak")
    );
    let page = get(state, &url).await;
    assert!(page.text.contains("Confirmed diagnosis:"), "{}", page.text);
    assert!(page.text.contains("by alice"));
    assert!(page.text.contains("fd limit of the worker"));
    let last = state.kb.store().events(id).await.unwrap().pop().unwrap();
    assert_eq!((last.kind, last.who.as_str()), (EventKind::Note, "alice"));
    assert!(page.text.contains("Diagnosis close-wait-leak marked right"));
    assert_eq!(
        stats_line(state, "close-wait-leak").await,
        "Matched 2 times (1 report, 1 incident), confirmed 1, marked wrong 0 · last verdict "
            .to_owned()
            + &last.at.format("%Y-%m-%d %H:%M UTC").to_string()
    );
    let json = get(state, "/api/v1/playbooks/close-wait-leak").await;
    let counts: Value = serde_json::from_str(&json.text).unwrap();
    assert_eq!(counts["feedback"]["matched"], 2);
    assert_eq!(counts["feedback"]["confirmed"], 1);
    assert_eq!(counts["feedback"]["marked_wrong"], 0);

    // Alice changes her mind: the latest counts, and nothing is confirmed.
    let wrong = form(
        state,
        &alice,
        &verdict,
        &[("playbook", "close-wait-leak"), ("verdict", "wrong")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::SEE_OTHER, "{}", wrong.text);
    assert_eq!(
        faultline::feedback::confirmed_playbook(state.kb.store(), id)
            .await
            .unwrap(),
        None
    );
    assert!(
        stats_line(state, "close-wait-leak")
            .await
            .starts_with("Matched 2 times (1 report, 1 incident), confirmed 0, marked wrong 1")
    );
    let json = get(state, "/api/v1/playbooks/close-wait-leak").await;
    let counts: Value = serde_json::from_str(&json.text).unwrap();
    assert_eq!(counts["feedback"]["marked_wrong"], 1);
    assert_eq!(counts["feedback"]["confirmed"], 0);
}

#[tokio::test]
async fn viewers_cannot_give_verdicts_and_bad_input_is_refused() {
    let t = common::app().await;
    let state = &t.state;
    let id = common::close_wait_incident(state, &BTreeMap::new()).await;
    let verdict = format!("/incidents/{id}/verdict");
    let fields = [("playbook", "close-wait-leak"), ("verdict", "right")];

    let viewer = common::session_for(state, "val", Role::Viewer).await;
    let refused = form(state, &viewer, &verdict, &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(state.kb.store().verdicts(id).await.unwrap().is_empty());
    // A viewer sees the verdicts but no buttons.
    let page = get_as(state, &viewer, &format!("/incidents/{id}")).await;
    assert!(page.text.contains("Was the diagnosis right?"));
    assert!(
        !page.text.contains("/verdict\""),
        "no verdict form for a viewer"
    );

    let alice = common::session_for(state, "alice", Role::Responder).await;
    for (fields, field) in [
        (
            [("playbook", "close-wait-leak"), ("verdict", "maybe")],
            "verdict",
        ),
        (
            [("playbook", "no-such-playbook"), ("verdict", "right")],
            "playbook",
        ),
    ] {
        let bad = form(state, &alice, &verdict, &fields).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert!(bad.text.contains(field), "{}", bad.text);
    }
    let long = "x".repeat(501);
    let bad = form(
        state,
        &alice,
        &verdict,
        &[
            ("playbook", "close-wait-leak"),
            ("verdict", "right"),
            ("comment", &long),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = form(
        state,
        &alice,
        &format!("/incidents/{}/verdict", id + 1),
        &fields,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    assert!(state.kb.store().verdicts(id).await.unwrap().is_empty());

    // Without the CSRF token: refused, nothing written.
    let no_csrf = send(
        state,
        Request::post(&verdict)
            .header(header::COOKIE, &alice.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("playbook=close-wait-leak&verdict=right"))
            .unwrap(),
    )
    .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert!(state.kb.store().verdicts(id).await.unwrap().is_empty());
}

/// The "Not reviewed for a long time" section of the library page.
fn review_section(page: &str) -> &str {
    let start = page.find("id=\"not-reviewed\"").expect("review section");
    let end = start + page[start..].find("</section>").unwrap();
    &page[start..end]
}

#[tokio::test]
async fn the_library_lists_playbooks_not_reviewed_for_long() {
    let t = common::app().await;
    let state = &t.state;
    let fresh = get(state, "/playbooks").await;
    assert!(
        review_section(&fresh.text).contains("None: every playbook was saved within 180 days"),
        "{}",
        fresh.text
    );

    // mtu-blackhole's newest version was saved 400 days ago.
    let pool = sqlx::SqlitePool::connect(&faultline::store::sqlite_url(t.dir.path()))
        .await
        .unwrap();
    let old = (chrono::Utc::now() - chrono::Duration::days(400))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let changed = sqlx::query("UPDATE playbook_versions SET created_at = ? WHERE playbook_id = ?")
        .bind(&old)
        .bind("mtu-blackhole")
        .execute(&pool)
        .await
        .unwrap();
    assert!(changed.rows_affected() >= 1);
    pool.close().await;
    state.kb.reload().await.unwrap();

    let page = get(state, "/playbooks").await;
    let section = review_section(&page.text);
    assert!(
        section.contains("href=\"/playbooks/mtu-blackhole\""),
        "{section}"
    );
    assert!(section.contains("400 days ago"), "{section}");
    assert!(
        !section.contains("close-wait-leak"),
        "a fresh one is not listed"
    );

    // The age is configurable; 0 turns the list off.
    for (days, listed) in [(500, false), (0, false), (30, true)] {
        let mut config = common::anonymous_read_config();
        config
            .apply_env(|n| (n == "FAULTLINE_REVIEW_AFTER_DAYS").then(|| days.to_string()))
            .unwrap();
        let other = AppState::new(state.kb.clone(), config);
        let page = get(&other, "/playbooks").await;
        assert_eq!(
            page.text.contains("id=\"not-reviewed\""),
            days > 0,
            "{days}"
        );
        if days > 0 {
            assert_eq!(
                review_section(&page.text).contains("mtu-blackhole"),
                listed,
                "{days}"
            );
        }
    }
}

#[tokio::test]
async fn pasted_evidence_counts_as_a_match_for_the_incident() {
    let t = common::app().await;
    let state = &t.state;
    let alice = common::session_for(state, "alice", Role::Responder).await;
    let opened = form(
        state,
        &alice,
        "/incidents",
        &[
            ("title", "Random drops on node-3"),
            ("labels", "host=node-3"),
        ],
    )
    .await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.text);
    let url = opened.location.unwrap();
    let paste = std::fs::read_to_string(format!(
        "{}/tests/fixtures/paste/conntrack-full-session.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let pasted = form(
        state,
        &alice,
        &url,
        &[("action", "paste"), ("text", &paste)],
    )
    .await;
    assert_eq!(pasted.status, StatusCode::SEE_OTHER, "{}", pasted.text);
    let page = get_as(state, &alice, &url).await;
    let section = &page.text[page.text.find("id=\"verdict\"").unwrap()..];
    assert!(
        section.contains("value=\"conntrack-table-full\""),
        "the paste makes it a candidate to judge"
    );
    let counts = state
        .kb
        .store()
        .playbook_feedback("conntrack-table-full")
        .await
        .unwrap();
    assert_eq!((counts.matched_incidents, counts.matched_reports), (1, 0));
    // The same evidence again is the same incident: still one.
    form(
        state,
        &alice,
        &url,
        &[("action", "paste"), ("text", &paste)],
    )
    .await;
    let again = state
        .kb
        .store()
        .playbook_feedback("conntrack-table-full")
        .await
        .unwrap();
    assert_eq!(again.matched_incidents, 1);
}
