//! Postmortems through the router and the command line: drafted from a real
//! incident (a stored report, a note, a ticked step, a resolution), viewed
//! with its charts, edited, a stale save refused with 409, history, export
//! with inline SVG, who may do what, search, and `faultline export` /
//! `import` re-creating it byte for byte.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{form, get, get_as, send};
use faultline::store::{IncidentStatus, Role};
use faultline::web::AppState;
use serde_json::{Value, json};

/// A resolved incident opened by a CLOSE_WAIT report, with a note and the
/// checklist's first step ticked. Returns its id.
async fn resolved_incident(state: &AppState) -> i64 {
    let store = state.kb.store();
    let labels = BTreeMap::from([("service".to_owned(), "orders".to_owned())]);
    let id = common::close_wait_incident(state, &labels).await;
    faultline::incidents::add_note(
        &state.kb,
        &state.incident_bus,
        id,
        "alice",
        "restarted the orders pods to free the sockets",
    )
    .await
    .unwrap();
    store
        .set_tick(id, "close-wait-leak", 1, true, "alice")
        .await
        .unwrap();
    store
        .set_status(id, IncidentStatus::Resolved, "alice")
        .await
        .unwrap();
    id
}

/// The text in the editor's textarea (askama escapes it; undo that).
fn textarea(html: &str) -> String {
    let start = html.find("<textarea id=\"source\"").unwrap();
    let open_end = start + html[start..].find('>').unwrap() + 2; // the newline after it
    let end = open_end + html[open_end..].find("</textarea>").unwrap();
    let mut out = String::new();
    let mut rest = &html[open_end..end];
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let semi = rest[i..].find(';').unwrap() + i;
        let entity = &rest[i + 1..semi];
        out.push(match entity {
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "amp" => '&',
            "apos" => '\'',
            n => {
                let n = n.trim_start_matches('#');
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                    None => n.parse().unwrap(),
                };
                char::from_u32(code).unwrap()
            }
        });
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn write_edit_conflict_history_export_search_and_roles() {
    let t = common::app().await;
    let state = &t.state;
    let incident = resolved_incident(state).await;
    let alice = common::session_for(state, "alice", Role::Responder).await;
    let bob = common::session_for(state, "bob", Role::Responder).await;
    let vera = common::session_for(state, "vera", Role::Viewer).await;

    // The incident page offers it; a viewer may not write one.
    let page = get_as(state, &alice, &format!("/incidents/{incident}")).await;
    assert!(
        page.text
            .contains(&format!("action=\"/incidents/{incident}/postmortem\""))
    );
    let refused = form(
        state,
        &vera,
        &format!("/incidents/{incident}/postmortem"),
        &[],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Write postmortem: drafted once; pressing it again opens the same one.
    let made = form(
        state,
        &alice,
        &format!("/incidents/{incident}/postmortem"),
        &[],
    )
    .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let url = made.location.unwrap();
    let again = form(
        state,
        &bob,
        &format!("/incidents/{incident}/postmortem"),
        &[],
    )
    .await;
    assert_eq!(again.location.unwrap(), url);
    let id: i64 = url.rsplit('/').next().unwrap().parse().unwrap();
    let all = state.kb.store().postmortems().await.unwrap();
    assert_eq!(all.len(), 1);

    // The page: sections, the timeline, charts drawn inline as SVG.
    let view = get(state, &url).await;
    assert_eq!(view.status, StatusCode::OK);
    for part in [
        "<h2>Impact</h2>",
        "<h2>Timeline</h2>",
        "restarted the orders pods",
        "<figure class=\"chart-box pm-chart\"><svg",
    ] {
        assert!(view.text.contains(part), "missing {part:?}");
    }
    let list = get(state, "/postmortems").await;
    assert!(list.text.contains(&format!("href=\"/postmortems/{id}\"")));
    assert!(list.text.contains("inc-status-resolved"));

    // The draft's text: impact window closed, the ticked step, the report.
    let v1 = state
        .kb
        .store()
        .postmortem_version(id, 1)
        .await
        .unwrap()
        .unwrap();
    assert!(v1.source.contains("impact_end = "), "{}", v1.source);
    assert!(v1.source.contains("Done by alice"), "{}", v1.source);
    assert!(v1.source.contains("](charts/report-"), "{}", v1.source);

    // Editing: the viewer cannot open the editor; alice saves version 2.
    assert_eq!(
        get_as(state, &vera, &format!("{url}/edit")).await.status,
        StatusCode::FORBIDDEN
    );
    let editor = get_as(state, &alice, &format!("{url}/edit")).await;
    assert_eq!(editor.status, StatusCode::OK);
    let text = textarea(&editor.text);
    assert_eq!(text, v1.source, "the editor shows the stored text");
    let edited = text.replace(
        "## Root cause\n\n",
        "## Root cause\n\nThe frobnicated retry loop never closed its responses.\n\n",
    );
    let saved = form(
        state,
        &alice,
        &format!("{url}/edit"),
        &[("source", &edited), ("base_version", "1")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);

    // Bob edited from version 1 too: 409, his text kept, theirs shown.
    let bobs = text.replace("## Fix\n\n", "## Fix\n\nBob's fix.\n\n");
    let stale = form(
        state,
        &bob,
        &format!("{url}/edit"),
        &[("source", &bobs), ("base_version", "1")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(
        stale
            .text
            .contains("Not saved: alice saved version 2 first")
    );
    assert!(stale.text.contains("Bob&#39;s fix.") || stale.text.contains("Bob&#x27;s fix."));
    assert!(
        stale.text.contains("frobnicated retry loop"),
        "their text is shown"
    );
    assert_eq!(
        state
            .kb
            .store()
            .postmortem(id)
            .await
            .unwrap()
            .unwrap()
            .current_version,
        2
    );

    // A broken text is a 422 naming the line.
    let broken = form(
        state,
        &alice,
        &format!("{url}/edit"),
        &[
            ("source", &edited.replace("## Fix", "## Fixes")),
            ("base_version", "2"),
        ],
    )
    .await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(broken.text.contains("unknown section `## Fixes`"));

    // History: the diff of version 1 to 2.
    let history = get(state, &format!("{url}/history")).await;
    assert!(history.text.contains("Version 1 → version 2"));
    assert!(history.text.contains("frobnicated retry loop"));

    // Export: one file, charts inline as SVG data URIs.
    let export = get(state, &format!("{url}/export.md")).await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(
        export.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(
        export
            .text
            .contains("](data:image/svg+xml;charset=utf-8,%3Csvg")
    );
    assert!(!export.text.contains("](charts/"), "every chart inlined");
    assert!(export.text.contains("frobnicated retry loop"));
    // Pasted elsewhere, its links still lead here: absolute, from the
    // request's host when no `public_url` is set.
    let hosted = send(
        state,
        Request::get(format!("{url}/export.md"))
            .header(header::HOST, "faultline.internal:8740")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        hosted
            .text
            .contains("](http://faultline.internal:8740/reports/"),
        "{}",
        hosted.text
    );
    assert!(!hosted.text.contains("](/"), "no site-relative link left");
    // The draft proposes action items from the playbook's prevention.
    assert!(
        hosted.text.contains("## Action items\n\n- [ ] "),
        "{}",
        hosted.text
    );

    // Search: the postmortem by a word of its root cause, marked as one; the
    // playbook still first for the design's query.
    let hits = common::search(&state.kb, "frobnicated", 5);
    assert_eq!(hits.hits[0].kind, "postmortem");
    assert_eq!(hits.hits[0].id, id.to_string());
    let page = get(state, "/search?q=frobnicated").await;
    assert!(page.text.contains(&format!("href=\"/postmortems/{id}\"")));
    assert!(page.text.contains(&format!("postmortem #{id}")));
    let close_wait = common::search(&state.kb, "CLOSE_WAIT", 5);
    assert_eq!(close_wait.hits[0].id, "close-wait-leak");

    // The preview call renders unsaved text with its charts.
    let preview = send(
        state,
        Request::post("/api/v1/postmortems/preview")
            .header(header::COOKIE, &alice.cookie)
            .header("x-csrf-token", &alice.csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "source": edited }).to_string()))
            .unwrap(),
    )
    .await;
    let answer: Value = serde_json::from_str(&preview.text).unwrap();
    assert_eq!(answer["valid"], true, "{}", preview.text);
    assert!(answer["html"].as_str().unwrap().contains("<svg"));
}

fn faultline_cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "faultline {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn export_and_import_recreate_a_postmortem_byte_for_byte() {
    let t = common::app().await;
    let state = &t.state;
    let incident = resolved_incident(state).await;
    let alice = common::session_for(state, "alice", Role::Responder).await;
    let made = form(
        state,
        &alice,
        &format!("/incidents/{incident}/postmortem"),
        &[],
    )
    .await;
    let id: i64 = made
        .location
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let stored = state
        .kb
        .store()
        .postmortem_version(id, 1)
        .await
        .unwrap()
        .unwrap();
    let data = t.dir.path().to_owned();
    state.kb.store().close().await;

    let out = tempfile::tempdir().unwrap();
    let said = faultline_cli(&data, &["export", out.path().to_str().unwrap()]);
    assert!(said.contains("exported 1 postmortem(s)"), "{said}");
    let file = out.path().join(format!("postmortems/{id}.md"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stored.source);
    let charts: Vec<_> = std::fs::read_dir(out.path().join("postmortems/charts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!charts.is_empty());
    for c in &charts {
        let svg = std::fs::read_to_string(c).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<style>"),
            "{}",
            c.display()
        );
        let name = c.file_name().unwrap().to_str().unwrap();
        assert!(
            stored.source.contains(&format!("(charts/{name})")),
            "{name} is referenced"
        );
    }

    // A fresh database: importing the whole export brings it back exactly,
    // and a second export writes the same bytes.
    let fresh = tempfile::tempdir().unwrap();
    let said = faultline_cli(fresh.path(), &["import", out.path().to_str().unwrap()]);
    assert!(
        said.contains(&format!("imported postmortem {id}")),
        "{said}"
    );
    let again = tempfile::tempdir().unwrap();
    faultline_cli(fresh.path(), &["export", again.path().to_str().unwrap()]);
    assert_eq!(
        std::fs::read(again.path().join(format!("postmortems/{id}.md"))).unwrap(),
        stored.source.as_bytes()
    );
    // Importing it again changes nothing (no new version).
    faultline_cli(fresh.path(), &["import", file.to_str().unwrap()]);
    let store = faultline::store::connect(&faultline::store::sqlite_url(fresh.path()))
        .await
        .unwrap();
    assert_eq!(store.postmortem_history(id).await.unwrap().len(), 1);
    let dry = faultline_cli(
        fresh.path(),
        &["import", "--dry-run", file.to_str().unwrap()],
    );
    assert!(
        dry.contains(&format!("would import postmortem {id}")),
        "{dry}"
    );
    store.close().await;
}

/// The worst case for ranking: every built-in playbook retold as a
/// postmortem with its own title and text. The design's queries must still
/// put the right playbook first; the postmortems come after.
#[tokio::test]
async fn postmortems_do_not_displace_playbooks_for_the_design_queries() {
    use faultline::core::playbook::SectionKind;
    use faultline::core::postmortem::{PmSection, Postmortem, PostmortemMeta};

    let t = common::app().await;
    let kb = &t.state.kb;
    for (n, current) in kb.list().iter().enumerate() {
        let p = &current.playbook;
        let meta = PostmortemMeta {
            id: n as i64 + 1,
            incident: n as i64 + 1,
            title: p.meta.title.clone(),
            playbook: Some(p.id().to_owned()),
            impact_start: "2026-11-23T10:00:00Z".into(),
            impact_end: None,
            reports: Vec::new(),
        };
        let copy = |k| p.section_markdown(k).to_owned();
        let sections = [
            (PmSection::Summary, p.meta.alert.clone()),
            (PmSection::Impact, String::new()),
            (PmSection::Symptoms, copy(SectionKind::Symptoms)),
            (PmSection::Timeline, String::new()),
            (PmSection::Evidence, String::new()),
            (PmSection::Investigation, copy(SectionKind::Investigation)),
            (PmSection::RootCause, copy(SectionKind::RootCause)),
            (PmSection::Fix, copy(SectionKind::Fix)),
            (PmSection::Prevention, copy(SectionKind::Prevention)),
        ];
        kb.index_postmortem(&Postmortem::compose(&meta, &sections).unwrap())
            .unwrap();
    }
    for (query, expected) in [
        ("ndots", "dns-ndots-search-delay"),
        ("502", "keepalive-race-502"),
        ("CLOSE_WAIT", "close-wait-leak"),
        ("conntrack table full", "conntrack-table-full"),
        ("exactly 60 seconds", "idle-timeout-reset"),
    ] {
        let r = common::search(kb, query, 10);
        assert_eq!(r.hits[0].id, expected, "{query}");
        assert_eq!(r.hits[0].kind, "playbook", "{query}");
        let copy = r.hits.iter().find(|h| h.kind == "postmortem").unwrap();
        assert!(
            copy.score <= r.hits[0].score / 2.0 + 1e-3,
            "{query}: {copy:?}"
        );
    }
}

#[tokio::test]
async fn json_api_lists_and_gets_postmortems_and_the_incident_page_opens_one() {
    let t = common::app().await;
    let state = &t.state;
    let incident = resolved_incident(state).await;
    let alice = common::session_for(state, "alice", Role::Responder).await;
    let vera = common::session_for(state, "vera", Role::Viewer).await;
    let page_url = format!("/incidents/{incident}");

    // Before: a responder may write one; nobody is offered one to open.
    let before = get_as(state, &alice, &page_url).await;
    assert!(before.text.contains(">Write postmortem</button>"));
    assert!(!before.text.contains("Open postmortem"));
    let listed = get_as(state, &vera, "/api/v1/postmortems").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.json(), json!({ "postmortems": [] }));

    let made = form(state, &alice, &format!("{page_url}/postmortem"), &[]).await;
    let url = made.location.expect("drafting redirects to the postmortem");
    let id: i64 = url.rsplit('/').next().unwrap().parse().unwrap();
    let stored = state.kb.store().postmortem(id).await.unwrap().unwrap();

    // After: the button opens it, for responders and viewers alike.
    for who in [&alice, &vera] {
        let after = get_as(state, who, &page_url).await;
        assert!(
            after
                .text
                .contains(&format!("href=\"/postmortems/{id}\">Open postmortem</a>")),
            "{}",
            after.text
        );
        assert!(!after.text.contains("Write postmortem"));
    }

    // The list, whole and filtered by incident.
    let summary = json!({
        "id": id,
        "incident": incident,
        "title": stored.title,
        "version": 1,
        "updated_at": stored.updated_at.to_rfc3339(),
        "updated_by": "alice",
    });
    for query in ["", "?incident=", &format!("?incident={incident}")] {
        let list = get_as(state, &vera, &format!("/api/v1/postmortems{query}")).await;
        assert_eq!(list.status, StatusCode::OK, "{query}: {}", list.text);
        assert_eq!(list.json(), json!({ "postmortems": [summary] }), "{query}");
    }
    let other = get(
        state,
        &format!("/api/v1/postmortems?incident={}", incident + 1),
    )
    .await;
    assert_eq!(other.json(), json!({ "postmortems": [] }));

    // A bad filter is a 422 naming the field.
    for bad in ["abc", "-3", "0", "1.5"] {
        let refused = get(state, &format!("/api/v1/postmortems?incident={bad}")).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let error = &refused.json()["error"];
        assert_eq!(error["code"], "invalid_incident", "{bad}");
        assert_eq!(error["field"], "incident", "{bad}");
        assert!(error["message"].as_str().unwrap().contains(bad), "{error}");
    }

    // One postmortem: its facts and the current text, which follows a save.
    let v1 = state
        .kb
        .store()
        .postmortem_version(id, 1)
        .await
        .unwrap()
        .unwrap();
    let one = get_as(state, &vera, &format!("/api/v1/postmortems/{id}")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    let body = one.json();
    assert_eq!(body["id"], id);
    assert_eq!(body["incident"], incident);
    assert_eq!(body["version"], 1);
    assert_eq!(body["created_by"], "alice");
    assert_eq!(body["source"], v1.source.as_str());
    let edited = v1.source.replace(
        "## Root cause\n\n",
        "## Root cause\n\nThe retry loop never closed its responses.\n\n",
    );
    assert_ne!(edited, v1.source);
    let saved = form(
        state,
        &alice,
        &format!("{url}/edit"),
        &[("source", &edited), ("base_version", "1")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let body = get(state, &format!("/api/v1/postmortems/{id}"))
        .await
        .json();
    assert_eq!(body["version"], 2);
    assert_eq!(body["source"], edited.as_str());
    assert_eq!(body["created_by"], "alice");

    // A postmortem that is not there: the API's 404 JSON, naming the id.
    for missing in [(id + 1).to_string(), "abc".to_owned()] {
        let gone = get(state, &format!("/api/v1/postmortems/{missing}")).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{missing}");
        let error = &gone.json()["error"];
        assert_eq!(error["code"], "not_found");
        assert_eq!(error["field"], "id");
        assert!(error["message"].as_str().unwrap().contains(&missing));
    }
}

#[tokio::test]
async fn postmortem_json_api_needs_a_login_without_anonymous_read() {
    let t = common::app_with(faultline::config::Config::default()).await;
    let state = &t.state;
    for uri in ["/api/v1/postmortems", "/api/v1/postmortems/1"] {
        let anonymous = get(state, uri).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(anonymous.json()["error"]["code"].is_string(), "{uri}");
    }
    // The page beside it sends a browser to log in instead.
    let page = get(state, "/postmortems").await;
    assert!(page.location.is_some_and(|l| l.starts_with("/login")));
    let vera = common::session_for(state, "vera", Role::Viewer).await;
    let list = get_as(state, &vera, "/api/v1/postmortems").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
}
