//! Playbook authoring through the router: the editor form, conflicts, the
//! JSON calls behind the live preview and the test bench, history, diffs
//! and revert.

mod common;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Answer, Login, send};
use faultline::store::Role;
use faultline::web::AppState;
use serde_json::{Value, json};

/// Percent-encoding for a form field value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Text as the templates escape it (askama: numeric entities).
fn esc(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn get_as(state: &AppState, uri: &str, login: Option<&Login>) -> Answer {
    let mut req = Request::get(uri).header(header::HOST, "localhost");
    if let Some(l) = login {
        req = req.header(header::COOKIE, &l.cookie);
    }
    send(state, req.body(Body::empty()).unwrap()).await
}

/// A browser form post: the CSRF token travels in the form, not a header.
async fn post_form(state: &AppState, uri: &str, login: &Login, fields: &[(&str, &str)]) -> Answer {
    let mut all = vec![("csrf_token", login.csrf.as_str())];
    all.extend_from_slice(fields);
    let req = Request::post(uri)
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header(header::COOKIE, &login.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form(&all)))
        .unwrap();
    send(state, req).await
}

/// A script's JSON call with the session's CSRF header.
async fn json_call(
    state: &AppState,
    method: Method,
    uri: &str,
    login: &Login,
    body: Value,
) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header(header::COOKIE, &login.cookie)
        .header("x-csrf-token", &login.csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(state, req).await
}

fn current_source(state: &AppState, id: &str) -> (String, i64) {
    let c = state.kb.get(id).unwrap();
    (c.playbook.source().to_owned(), c.version.version)
}

#[tokio::test]
async fn an_editor_saves_a_new_version_from_the_form() {
    let t = common::app().await;
    let ed = common::session_for(&t.state, "erin", Role::Editor).await;
    let (source, version) = current_source(&t.state, "close-wait-leak");

    let page = get_as(&t.state, "/playbooks/close-wait-leak/edit", Some(&ed)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text.contains("name=\"base_version\" value=\"1\""),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains(&format!("name=\"csrf_token\" value=\"{}\"", ed.csrf))
    );
    assert!(
        page.text.contains(&esc("tcp.close_wait_share > 0.3")),
        "the text is in the textarea, escaped"
    );
    assert!(
        page.text.contains("id=\"preview\""),
        "a server-rendered preview"
    );
    assert!(
        page.text.contains("class=\"steps\""),
        "the preview shows the numbered steps"
    );

    let edited = source.replace("## Fix\n", "## Fix\n\nRestart the pool first.\n");
    assert_ne!(edited, source);
    // Browsers send CRLF from a textarea; the stored text keeps LF.
    let sent = edited.replace('\n', "\r\n");
    let saved = post_form(
        &t.state,
        "/playbooks/close-wait-leak/edit",
        &ed,
        &[
            ("source", &sent),
            ("base_version", &version.to_string()),
            ("intent", "save"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    assert_eq!(
        saved.headers[header::LOCATION],
        "/playbooks/close-wait-leak"
    );

    let (now, v) = current_source(&t.state, "close-wait-leak");
    assert_eq!((now.as_str(), v), (edited.as_str(), version + 1));
    let history = t
        .state
        .kb
        .store()
        .playbook_history("close-wait-leak")
        .await
        .unwrap();
    assert_eq!(history[0].author.as_deref(), Some("erin"));
    assert_eq!(history[0].origin, faultline::store::Origin::Edit);
    let page = get_as(&t.state, "/playbooks/close-wait-leak", Some(&ed)).await;
    assert!(
        page.text.contains("Restart the pool first."),
        "the page shows the new version"
    );
    assert!(
        page.text
            .contains("href=\"/playbooks/close-wait-leak/edit\""),
        "an Edit link for editors"
    );
    assert!(
        page.text
            .contains("href=\"/playbooks/close-wait-leak/history\"")
    );
    let library = get_as(&t.state, "/playbooks", Some(&ed)).await;
    assert!(
        library.text.contains("href=\"/playbooks/new\""),
        "New playbook on the library"
    );
}

#[tokio::test]
async fn a_viewer_cannot_open_or_post_the_editor() {
    let t = common::app().await;
    let viewer = common::session_for(&t.state, "vic", Role::Viewer).await;
    let (source, version) = current_source(&t.state, "close-wait-leak");
    let page = get_as(&t.state, "/playbooks/close-wait-leak/edit", Some(&viewer)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let post = post_form(
        &t.state,
        "/playbooks/close-wait-leak/edit",
        &viewer,
        &[
            ("source", &format!("{source}\nmore\n")),
            ("base_version", &version.to_string()),
        ],
    )
    .await;
    assert_eq!(post.status, StatusCode::FORBIDDEN);
    let put = json_call(
        &t.state,
        Method::PUT,
        "/api/v1/playbooks/close-wait-leak",
        &viewer,
        json!({"source": source, "base_version": version}),
    )
    .await;
    assert_eq!(put.status, StatusCode::FORBIDDEN);
    assert_eq!(
        current_source(&t.state, "close-wait-leak").1,
        version,
        "nothing saved"
    );
    // Viewers see no edit links.
    let page = get_as(&t.state, "/playbooks/close-wait-leak", Some(&viewer)).await;
    assert!(!page.text.contains("/edit\""), "{}", page.text);
    assert!(
        !get_as(&t.state, "/playbooks", Some(&viewer))
            .await
            .text
            .contains("/playbooks/new")
    );
}

#[tokio::test]
async fn a_stale_base_is_a_conflict_that_keeps_both_texts() {
    let t = common::app().await;
    let ann = common::session_for(&t.state, "ann", Role::Editor).await;
    let bob = common::session_for(&t.state, "bob", Role::Editor).await;
    let (source, base) = current_source(&t.state, "mtu-blackhole");

    let anns = source.replace("## Fix\n", "## Fix\n\nAnn's fix note.\n");
    let first = post_form(
        &t.state,
        "/playbooks/mtu-blackhole/edit",
        &ann,
        &[("source", &anns), ("base_version", &base.to_string())],
    )
    .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.text);

    // Bob started from the same version.
    let bobs = source.replace(
        "## Prevention\n",
        "## Prevention\n\nBob's <b>prevention</b> note.\n",
    );
    let second = post_form(
        &t.state,
        "/playbooks/mtu-blackhole/edit",
        &bob,
        &[("source", &bobs), ("base_version", &base.to_string())],
    )
    .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    let page = &second.text;
    assert!(page.contains("ann saved version 2 first"), "{page}");
    assert!(
        page.contains(&esc("Bob's <b>prevention</b> note.")),
        "Bob's text is still there, escaped: {page}"
    );
    let textarea = &page[page.find("<textarea").unwrap()..page.find("</textarea>").unwrap()];
    assert!(
        textarea.contains(&esc("Bob's <b>prevention</b> note.")),
        "in the editor: {textarea}"
    );
    assert!(
        page.contains(&esc("Ann's fix note.")),
        "Ann's version is shown"
    );
    assert!(
        page.contains("class=\"diff-add\"") && page.contains("class=\"diff-del\""),
        "a diff between them"
    );
    assert!(page.contains("value=\"rebase\""), "a way to re-base");
    let their_change = &page[page
        .find("What changed from version 1 to their version 2")
        .expect("what the other editor changed")..];
    assert!(their_change.contains(&esc("Ann's fix note.")));
    assert_eq!(
        current_source(&t.state, "mtu-blackhole").0,
        anns,
        "Bob overwrote nothing"
    );

    // Re-base: Bob's text, now on version 2; nothing saved yet.
    let rebased = post_form(
        &t.state,
        "/playbooks/mtu-blackhole/edit",
        &bob,
        &[
            ("source", &bobs),
            ("base_version", &base.to_string()),
            ("intent", "rebase"),
        ],
    )
    .await;
    assert_eq!(rebased.status, StatusCode::OK, "{}", rebased.text);
    assert!(rebased.text.contains("name=\"base_version\" value=\"2\""));
    assert!(rebased.text.contains(&esc("prevention</b> note.")));
    assert_eq!(current_source(&t.state, "mtu-blackhole").1, 2);
    let saved = post_form(
        &t.state,
        "/playbooks/mtu-blackhole/edit",
        &bob,
        &[("source", &bobs), ("base_version", "2")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(current_source(&t.state, "mtu-blackhole"), (bobs, 3));
}

#[tokio::test]
async fn the_json_api_answers_a_stale_base_with_409_conflict() {
    let t = common::app().await;
    let ed = common::session_for(&t.state, "script", Role::Editor).await;
    let (source, base) = current_source(&t.state, "idle-timeout-reset");
    let one = format!("{source}\nFirst.\n");
    let put = json_call(
        &t.state,
        Method::PUT,
        "/api/v1/playbooks/idle-timeout-reset",
        &ed,
        json!({"source": one, "base_version": base}),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(put.json()["version"], base + 1);
    let stale = json_call(
        &t.state,
        Method::PUT,
        "/api/v1/playbooks/idle-timeout-reset",
        &ed,
        json!({"source": format!("{source}\nSecond.\n"), "base_version": base}),
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    assert_eq!(stale.json()["error"]["code"], "conflict");
    // Scripts get JSON errors for bodies that are not JSON or miss a field.
    for (body, status, code) in [
        ("{not json", StatusCode::BAD_REQUEST, "malformed_json"),
        (
            "{\"source\": \"x\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        let req = Request::put("/api/v1/playbooks/idle-timeout-reset")
            .header(header::HOST, "localhost")
            .header(header::COOKIE, &ed.cookie)
            .header("x-csrf-token", &ed.csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let answer = send(&t.state, req).await;
        assert_eq!(answer.status, status, "{}", answer.text);
        assert_eq!(answer.json()["error"]["code"], code);
    }
    assert_eq!(current_source(&t.state, "idle-timeout-reset").0, one);
    // Renaming through an edit is refused at the id line.
    let renamed = json_call(
        &t.state,
        Method::PUT,
        "/api/v1/playbooks/idle-timeout-reset",
        &ed,
        json!({"source": one.replacen("id = \"idle-timeout-reset\"", "id = \"other\"", 1), "base_version": base + 1}),
    )
    .await;
    assert_eq!(
        renamed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        renamed.text
    );
    assert_eq!(renamed.json()["error"]["field"], "line 2");
}

#[tokio::test]
async fn preview_renders_safe_html_and_reports_errors_at_their_line() {
    let t = common::app().await;
    let ed = common::session_for(&t.state, "pat", Role::Editor).await;
    let (source, _) = current_source(&t.state, "close-wait-leak");

    let ok = json_call(
        &t.state,
        Method::POST,
        "/api/v1/playbooks/preview",
        &ed,
        json!({"source": source.replace("## Symptoms\n", "## Symptoms\n\n<script>alert(1)</script>\n\nNow **bold**.\n")}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let body = ok.json();
    assert_eq!(body["valid"], true);
    let html = body["html"].as_str().unwrap();
    assert!(html.contains("<strong>bold</strong>"), "{html}");
    assert!(!html.contains("<script"), "sanitised: {html}");
    assert!(
        html.contains("class=\"step\""),
        "steps numbered as on the page"
    );

    // A clause whose expression does not compile, on line 9 of the file.
    let lines: Vec<&str> = source.lines().collect();
    assert_eq!(
        lines[8],
        "when = \"tcp.close_wait_count >= 100 || (tcp.close_wait_count >= 20 && tcp.close_wait_share > 0.3)\""
    );
    let broken = source.replacen("tcp.close_wait_share > 0.3", "tcp.close_wait_share >", 1);
    let bad = json_call(
        &t.state,
        Method::POST,
        "/api/v1/playbooks/preview",
        &ed,
        json!({"source": broken}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::OK);
    let body = bad.json();
    assert_eq!(body["valid"], false, "{body}");
    assert_eq!(body["errors"][0]["line"], 9, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("clause 1"),
        "{body}"
    );

    // A TOML error names its line too.
    let toml = source.replacen("weight = 2\n", "weight = = 2\n", 1);
    let line = toml.lines().position(|l| l == "weight = = 2").unwrap() + 1;
    let body = json_call(
        &t.state,
        Method::POST,
        "/api/v1/playbooks/preview",
        &ed,
        json!({"source": toml}),
    )
    .await
    .json();
    assert_eq!(body["errors"][0]["line"], line, "{body}");

    // Without script: the form's check shows the error at its line, 422.
    let page = post_form(
        &t.state,
        "/playbooks/close-wait-leak/edit",
        &ed,
        &[
            ("source", &broken),
            ("base_version", "1"),
            ("intent", "save"),
        ],
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.text
    );
    assert!(page.text.contains("data-line=\"9\""), "{}", page.text);
    assert!(page.text.contains("Line 9</a>"));
    assert_eq!(
        current_source(&t.state, "close-wait-leak").1,
        1,
        "nothing saved"
    );
}

#[tokio::test]
async fn history_diffs_escape_html_and_revert_makes_a_new_version() {
    let t = common::app().await;
    let ed = common::session_for(&t.state, "rita", Role::Editor).await;
    let (v1, _) = current_source(&t.state, "tls-incomplete-chain");
    let v2 = v1.replace(
        "## Fix\n",
        "## Fix\n\n<img src=x onerror=alert(1)> & done\n",
    );
    let saved = post_form(
        &t.state,
        "/playbooks/tls-incomplete-chain/edit",
        &ed,
        &[("source", &v2), ("base_version", "1")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);

    let page = get_as(
        &t.state,
        "/playbooks/tls-incomplete-chain/history",
        Some(&ed),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("rita"), "the author");
    assert!(
        page.text.contains("builtin") && page.text.contains(">edit<"),
        "origins"
    );
    assert!(page.text.contains("Version 1 → version 2"));
    assert!(
        page.text
            .contains(&esc("<img src=x onerror=alert(1)> & done")),
        "the added line, escaped: {}",
        page.text
    );
    assert!(!page.text.contains("<img src=x"), "never markup");
    assert!(page.text.contains("<tr class=\"diff-add\">"));

    // Any two versions; revert v1 as version 3.
    let same = get_as(
        &t.state,
        "/playbooks/tls-incomplete-chain/history?a=2&b=2",
        Some(&ed),
    )
    .await;
    assert!(same.text.contains("No difference."));
    let missing = get_as(
        &t.state,
        "/playbooks/tls-incomplete-chain/history?a=1&b=9",
        Some(&ed),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let viewer = common::session_for(&t.state, "val", Role::Viewer).await;
    let denied = post_form(
        &t.state,
        "/playbooks/tls-incomplete-chain/revert",
        &viewer,
        &[("version", "1"), ("base_version", "2")],
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let stale = post_form(
        &t.state,
        "/playbooks/tls-incomplete-chain/revert",
        &ed,
        &[("version", "1"), ("base_version", "1")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    let reverted = post_form(
        &t.state,
        "/playbooks/tls-incomplete-chain/revert",
        &ed,
        &[("version", "1"), ("base_version", "2")],
    )
    .await;
    assert_eq!(reverted.status, StatusCode::SEE_OTHER, "{}", reverted.text);
    assert_eq!(current_source(&t.state, "tls-incomplete-chain"), (v1, 3));
    let history = t
        .state
        .kb
        .store()
        .playbook_history("tls-incomplete-chain")
        .await
        .unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].author.as_deref(), Some("rita"));
}

#[tokio::test]
async fn the_test_bench_runs_unsaved_clauses_on_examples_and_a_stored_report() {
    let t = common::app().await;
    let ed = common::session_for(&t.state, "ben", Role::Editor).await;
    let (source, _) = current_source(&t.state, "close-wait-leak");

    // A stored report: the conntrack example, ingested as a collector would.
    let labels = BTreeMap::new();
    let (_, token) = faultline::ingest::add_collector(t.state.kb.store(), "node-9", &labels)
        .await
        .unwrap();
    let report = faultline::builtin::example("examples/conntrack-table-full-1.json").unwrap();
    let report_id = serde_json::from_str::<Value>(&report).unwrap()["report_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ingest = send(
        &t.state,
        Request::post("/api/v1/reports")
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(report))
            .unwrap(),
    )
    .await;
    assert!(ingest.status.is_success(), "{}", ingest.text);

    let bench = json_call(
        &t.state,
        Method::POST,
        "/api/v1/playbooks/testbench",
        &ed,
        json!({"source": source, "reports": [report_id]}),
    )
    .await;
    assert_eq!(bench.status, StatusCode::OK, "{}", bench.text);
    let body = bench.json();
    let runs = body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5, "four examples and the stored report: {body}");
    for example in &runs[..4] {
        assert_eq!(example["kind"], "example");
        assert_eq!(example["candidate"]["likely"], true, "{example}");
        assert_eq!(example["fails"], false);
        assert_eq!(example["candidate"]["clauses"].as_array().unwrap().len(), 7);
    }
    assert_eq!(runs[4]["kind"], "stored report");
    assert_eq!(
        runs[4]["candidate"]["likely"], false,
        "a conntrack report is no CLOSE_WAIT leak"
    );
    let html = body["html"].as_str().unwrap();
    assert!(
        html.contains("<meter") && html.contains("clause-true"),
        "the diagnosis panel's candidate: {html}"
    );
    assert!(html.contains("node-9"));

    // Unsaved clauses: one that can never be true makes the examples fail.
    let never = source.replacen(
        "tcp.close_wait_count >= 100 || (tcp.close_wait_count >= 20 && tcp.close_wait_share > 0.3)",
        "tcp.close_wait_share > 2.0",
        1,
    );
    let body = json_call(
        &t.state,
        Method::POST,
        "/api/v1/playbooks/testbench",
        &ed,
        json!({"source": never}),
    )
    .await
    .json();
    assert!(
        body["runs"][0]["candidate"]["clauses"][0]["state"] == "false",
        "{body}"
    );
    assert!(body["html"].as_str().unwrap().contains("does not match"));

    // Without script: the form's bench button answers the same on the page.
    let page = post_form(
        &t.state,
        "/playbooks/close-wait-leak/edit",
        &ed,
        &[
            ("source", &source),
            ("base_version", "1"),
            ("intent", "bench"),
            ("report", &report_id),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("bench-run"), "{}", page.text);
    assert!(
        page.text
            .contains(&format!("value=\"{report_id}\" selected"))
    );
}

#[tokio::test]
async fn new_playbooks_start_blank_or_from_a_copy() {
    let t = common::app().await;
    let ed = common::session_for(&t.state, "nia", Role::Editor).await;
    let blank = get_as(&t.state, "/playbooks/new", Some(&ed)).await;
    assert_eq!(blank.status, StatusCode::OK);
    assert!(
        blank.text.contains(&esc("id = \"new-playbook\"")),
        "{}",
        blank.text
    );

    let copy = get_as(&t.state, "/playbooks/new?from=mtu-blackhole", Some(&ed)).await;
    assert_eq!(copy.status, StatusCode::OK);
    let start = copy.text.find("<textarea").unwrap();
    let end = copy.text.find("</textarea>").unwrap();
    let text = &copy.text[start..end];
    assert!(text.contains(&esc("id = \"mtu-blackhole-copy\"")), "{text}");

    let (source, _) = current_source(&t.state, "mtu-blackhole");
    let fresh = faultline::authoring::duplicate(&source, "mtu-blackhole-2");
    let saved = post_form(
        &t.state,
        "/playbooks/new",
        &ed,
        &[("source", &fresh), ("base_version", "0")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    assert_eq!(
        saved.headers[header::LOCATION],
        "/playbooks/mtu-blackhole-2"
    );
    assert_eq!(current_source(&t.state, "mtu-blackhole-2").1, 1);

    // The same id again is refused at the id line, nothing overwritten.
    let again = post_form(
        &t.state,
        "/playbooks/new",
        &ed,
        &[("source", &source), ("base_version", "0")],
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        again.text
    );
    assert!(
        again.text.contains("already a playbook with the id"),
        "{}",
        again.text
    );
    assert!(again.text.contains("Line 2</a>"));
    assert_eq!(current_source(&t.state, "mtu-blackhole").1, 1);
}
