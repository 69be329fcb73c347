//! Study mode through the router: every built-in playbook is a working
//! exercise, hints are counted by the server, answers are graded and
//! scheduled, free answers can be self-marked, and the team page is for
//! editors.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use faultline::config::Config;
use faultline::store::Role;
use faultline::web::{self, AppState};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn send(state: &AppState, req: Request<Body>) -> Answer {
    let r = web::app(state.clone()).oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(uri: &str, login: Option<&common::Login>) -> Request<Body> {
    let mut req = Request::get(uri).header(header::HOST, "localhost");
    if let Some(l) = login {
        req = req.header(header::COOKIE, &l.cookie);
    }
    req.body(Body::empty()).unwrap()
}

fn post(uri: &str, login: &common::Login, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header(header::COOKIE, &login.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("{body}&csrf_token={}", login.csrf)))
        .unwrap()
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The candidate ids offered on an exercise page, in order.
fn choices(html: &str) -> Vec<String> {
    html.split("name=\"choice\" value=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

async fn app() -> common::TestApp {
    common::app_with(Config::default()).await
}

#[tokio::test]
async fn every_builtin_playbook_is_a_working_exercise() {
    let t = app().await;
    let me = common::session_for(&t.state, "walker", Role::Viewer).await;
    let ids: Vec<String> = faultline::builtin::playbooks()
        .iter()
        .map(|(name, _)| name.trim_end_matches(".md").to_owned())
        .collect();
    assert_eq!(ids.len(), 13);

    let list = send(&t.state, get("/study", Some(&me))).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        !list.body.contains("class=\"layer "),
        "no layer badges on the list"
    );
    for id in &ids {
        assert!(
            list.body.contains(&format!("href=\"/study/{id}\"")),
            "{id} listed"
        );
    }

    for id in &ids {
        let page = send(&t.state, get(&format!("/study/{id}"), Some(&me))).await;
        assert_eq!(page.status, StatusCode::OK, "{id}: {}", page.body);
        let offered = choices(&page.body);
        assert_eq!(offered.len(), 4, "{id}: {offered:?}");
        assert!(offered.contains(id), "{id} among {offered:?}");
        assert!(
            page.body.contains("<section class=\"obs obs-"),
            "{id}: the example evidence"
        );
        assert!(page.body.contains("id=\"symptoms\""), "{id}");
        // The answer is not on the page before the reveal.
        let title = &t.state.kb.get(id).unwrap().playbook.meta.title;
        let before_choices = &page.body[..page.body.find("study-choices").unwrap()];
        assert!(!before_choices.contains(&askama_escape(title)), "{id}");
        // Nor its layer: the distractors come from the same layer first,
        // so a layer badge would narrow the choice.
        assert!(!page.body.contains("class=\"layer "), "{id}: a layer badge");

        let answered = send(
            &t.state,
            post(&format!("/study/{id}"), &me, &format!("choice={id}")),
        )
        .await;
        assert_eq!(
            answered.status,
            StatusCode::SEE_OTHER,
            "{id}: {}",
            answered.body
        );
        let reveal = send(&t.state, get(answered.location(), Some(&me))).await;
        assert_eq!(reveal.status, StatusCode::OK, "{id}");
        assert!(reveal.body.contains("study-right"), "{id} graded right");
        assert!(
            reveal.body.contains("id=\"points\">100<"),
            "{id}: no hints, full points"
        );
        assert!(reveal.body.contains("id=\"root-cause\""), "{id}");
        assert!(
            gave_away(&reveal.body).contains(&format!("href=\"/playbooks/{id}\"")),
            "{id}: the diagnosis panel names the playbook"
        );
        assert!(reveal.body.contains("due in 24 h"), "{id}");

        let sheet = send(&t.state, get(&format!("/study/{id}/sheet"), Some(&me))).await;
        assert_eq!(sheet.status, StatusCode::OK, "{id}");
        assert!(sheet.body.contains("<h2>Root cause</h2>"), "{id}");
        assert!(sheet.body.contains("/static/study.css"), "{id}");
    }
    let attempts = t.state.kb.store().attempts("walker").await.unwrap();
    assert_eq!(attempts.len(), 13);
    assert!(attempts.iter().all(|a| a.correct && a.points == 100));
}

/// The reveal page from "the evidence that gave it away" on: the diagnosis
/// panel.
fn gave_away(html: &str) -> &str {
    let from = html
        .find("id=\"gave-it-away\"")
        .expect("the evidence section");
    let to = html.find("id=\"steps\"").expect("the steps section");
    &html[from..to]
}

fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn hints_cost_points_and_a_miss_comes_back_sooner() {
    let t = app().await;
    let me = common::session_for(&t.state, "ann", Role::Viewer).await;
    let id = "conntrack-table-full";

    for n in 1..=2 {
        let a = send(&t.state, post(&format!("/study/{id}/hint"), &me, "")).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        assert_eq!(a.location(), format!("/study/{id}#hint-{n}"));
    }
    let page = send(&t.state, get(&format!("/study/{id}"), Some(&me))).await;
    assert!(page.body.contains("id=\"hint-2\""), "two hints shown");
    assert!(!page.body.contains("id=\"hint-3\""));
    assert!(page.body.contains("What it showed:"));

    let wrong = choices(&page.body).into_iter().find(|c| c != id).unwrap();
    let a = send(
        &t.state,
        post(&format!("/study/{id}"), &me, &format!("choice={wrong}")),
    )
    .await;
    let reveal = send(&t.state, get(a.location(), Some(&me))).await;
    assert!(reveal.body.contains("study-wrong"), "{}", reveal.body);
    assert!(reveal.body.contains("id=\"points\">0<"));
    assert!(reveal.body.contains("2 of 7"), "hints used of the steps");
    assert!(reveal.body.contains("due in 10 min"));

    // The hints were spent on that try: the next one starts with none.
    let page = send(&t.state, get(&format!("/study/{id}"), Some(&me))).await;
    assert!(!page.body.contains("id=\"hint-1\""));

    // One hint, then right: fewer points than none.
    send(&t.state, post(&format!("/study/{id}/hint"), &me, "")).await;
    let a = send(
        &t.state,
        post(&format!("/study/{id}"), &me, &format!("choice={id}")),
    )
    .await;
    let reveal = send(&t.state, get(a.location(), Some(&me))).await;
    assert!(reveal.body.contains("study-right"));
    assert!(reveal.body.contains("id=\"points\">88<"), "100 × (1 − 1/8)");

    let s = t.state.kb.store().schedules("ann").await.unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].leitner_box, 1, "a miss then a right answer: box 1");

    // Another learner's try is not yours to read.
    let bob = common::session_for(&t.state, "bob", Role::Viewer).await;
    let other = send(&t.state, get(a.location(), Some(&bob))).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn free_answers_are_graded_loosely_and_can_be_self_marked() {
    let t = app().await;
    let me = common::session_for(&t.state, "fay", Role::Viewer).await;
    let id = "close-wait-leak";
    let page = send(&t.state, get(&format!("/study/{id}"), Some(&me))).await;
    assert!(page.body.contains("graded loosely"));

    let text = "sockets stuck in close wait: the code never closes response bodies, file descriptors run out";
    let a = send(
        &t.state,
        post(
            &format!("/study/{id}"),
            &me,
            &format!("free={}", form_encode(text)),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let reveal = send(&t.state, get(a.location(), Some(&me))).await;
    assert!(reveal.body.contains("study-right"), "{}", reveal.body);
    assert!(reveal.body.contains("graded loosely"));
    assert!(reveal.body.contains("descriptor"), "matched words shown");

    // The learner disagrees with the loose grade.
    let marked = send(&t.state, post(a.location(), &me, "verdict=wrong")).await;
    assert_eq!(marked.status, StatusCode::SEE_OTHER);
    let reveal = send(&t.state, get(a.location(), Some(&me))).await;
    assert!(reveal.body.contains("study-wrong"));
    assert!(reveal.body.contains("marked by you"));
    let s = t.state.kb.store().schedules("fay").await.unwrap();
    assert_eq!(s[0].leitner_box, 0, "self-marked wrong: back to box 0");

    // A nonsense answer is wrong; an empty one is refused.
    let a = send(
        &t.state,
        post(&format!("/study/{id}"), &me, "free=cosmic+rays"),
    )
    .await;
    let reveal = send(&t.state, get(a.location(), Some(&me))).await;
    assert!(reveal.body.contains("study-wrong"));
    let empty = send(&t.state, post(&format!("/study/{id}"), &me, "free=+")).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("Pick one of the candidates"));

    // A chosen answer cannot be self-marked.
    let a = send(
        &t.state,
        post(&format!("/study/{id}"), &me, &format!("choice={id}")),
    )
    .await;
    let refused = send(&t.state, post(a.location(), &me, "verdict=wrong")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn progress_team_page_and_who_may_study() {
    let t = app().await;
    let me = common::session_for(&t.state, "gus", Role::Viewer).await;

    // Anonymous readers are sent to log in (even with anonymous reading on).
    let anon = common::app().await;
    let a = send(&anon.state, get("/study", None)).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.body);
    assert!(a.location().starts_with("/login?next="), "{}", a.location());

    // Without the CSRF token a try is refused.
    let no_csrf = Request::post("/study/mtu-blackhole")
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header(header::COOKIE, &me.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("choice=mtu-blackhole"))
        .unwrap();
    assert_eq!(send(&t.state, no_csrf).await.status, StatusCode::FORBIDDEN);

    for (id, choice) in [
        ("mtu-blackhole", "mtu-blackhole"),
        ("missing-masquerade", "mtu-blackhole"),
    ] {
        send(
            &t.state,
            post(&format!("/study/{id}"), &me, &format!("choice={choice}")),
        )
        .await;
    }
    let page = send(&t.state, get("/study", Some(&me))).await;
    assert!(
        page.body.contains("id=\"stat-attempts\">2<"),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"stat-accuracy\">50%<"));
    // The missed one is due (soon) after the new ones; the right one later.
    let due = &page.body[page.body.find("id=\"due\"").unwrap()..];
    let later = &page.body[page.body.find("id=\"later\"").unwrap()..];
    assert!(later.contains("data-exercise=\"mtu-blackhole\""));
    assert!(
        later.contains("data-exercise=\"missing-masquerade\""),
        "due in 10 min"
    );
    assert!(
        due.contains("data-exercise=\"close-wait-leak\""),
        "new ones are due"
    );
    assert!(
        !page.body.contains("href=\"/study/team\""),
        "viewers get no team link"
    );

    assert_eq!(
        send(&t.state, get("/study/team", Some(&me))).await.status,
        StatusCode::FORBIDDEN
    );
    let editor = common::session_for(&t.state, "lead", Role::Editor).await;
    let team = send(&t.state, get("/study/team", Some(&editor))).await;
    assert_eq!(team.status, StatusCode::OK);
    assert!(team.body.contains("<td>gus</td>"), "{}", team.body);
    assert!(team.body.contains("2 / 13"));
    assert!(team.body.contains("50%"));
    assert!(
        send(&t.state, get("/study", Some(&editor)))
            .await
            .body
            .contains("href=\"/study/team\"")
    );

    let missing = send(&t.state, get("/study/no-such-playbook", Some(&me))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn team_playbooks_with_stored_evidence_are_exercises_too() {
    use std::collections::BTreeMap;

    use faultline::store::{NewReport, Origin};

    let t = app().await;
    let store = t.state.kb.store();
    // The evidence: a report stored the way a collector's arrives.
    let body = faultline::builtin::example("examples/close-wait-leak-2.json").unwrap();
    let report = faultline_probe::report::Report::from_json(body.as_bytes()).unwrap();
    store
        .add_collector("node-7", &[7u8; 32], &BTreeMap::new())
        .await
        .unwrap();
    let now = chrono::Utc::now();
    store
        .insert_report(NewReport {
            report_id: report.report_id,
            collector: "node-7",
            host: "node-7",
            labels: &BTreeMap::new(),
            started_at: now,
            finished_at: now,
            received_at: now,
            body: &body,
            answer: "{}",
        })
        .await
        .unwrap();
    // A team playbook (say, a promoted postmortem) whose example is that
    // stored report.
    let source = t
        .state
        .kb
        .get("close-wait-leak")
        .unwrap()
        .playbook
        .source()
        .replace("id = \"close-wait-leak\"", "id = \"billing-fd-leak\"")
        .replace(
            "title = \"Sockets pile up in CLOSE_WAIT until the process runs out of file descriptors\"",
            "title = \"Billing API leaks CLOSE_WAIT sockets to the ledger\"",
        )
        .replace(
            "report = \"examples/close-wait-leak-1.json\"",
            &format!("report = \"{}\"", report.report_id),
        )
        .replace("[[example]]\nreport = \"examples/close-wait-leak-2.json\"\n", "");
    assert!(source.contains(&report.report_id.to_string()));
    t.state
        .kb
        .save(
            "billing-fd-leak.md",
            &source,
            Origin::Edit,
            Some("lead"),
            None,
        )
        .await
        .unwrap();

    let me = common::session_for(&t.state, "hal", Role::Viewer).await;
    let list = send(&t.state, get("/study", Some(&me))).await;
    let row = &list.body[list.body.find("data-exercise=\"billing-fd-leak\"").unwrap()..];
    assert!(
        row[..row.find("</li>").unwrap()].contains(">team<"),
        "marked as the team's own"
    );
    let page = send(&t.state, get("/study/billing-fd-leak", Some(&me))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<section class=\"obs obs-tcp_states\""),
        "stored evidence shown"
    );
    assert!(choices(&page.body).contains(&"billing-fd-leak".to_owned()));
    let a = send(
        &t.state,
        post("/study/billing-fd-leak", &me, "choice=billing-fd-leak"),
    )
    .await;
    let reveal = send(&t.state, get(a.location(), Some(&me))).await;
    assert!(reveal.body.contains("study-right"));
    assert!(
        gave_away(&reveal.body).contains("href=\"/playbooks/billing-fd-leak\""),
        "the matcher reads the stored evidence"
    );
}
