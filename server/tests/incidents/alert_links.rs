//! `/r/{alertname}`, the link an alerting rule's `runbook_url` points at:
//! the mapped playbook, else never a silent guess. Unmapped names show the
//! matches for their words under a notice; only a strong, unambiguous first
//! hit opens directly, with the notice on the playbook page. The networking
//! alert names of the public rule sets land where a network engineer would
//! look (tests/fixtures/alerts/network-alert-names.txt).

use axum::http::StatusCode;

use crate::common::{self, Answer, form, get, get_as, urlencode};
use faultline::store::Role;

const NOTICE: &str = "No playbook is mapped to the alert";

/// The playbooks a results page lists, in order.
fn hits(page: &Answer) -> Vec<String> {
    page.text
        .split("class=\"hit-title\" href=\"/playbooks/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect()
}

/// The results page under the notice for `alertname`.
fn assert_results_with_notice(page: &Answer, alertname: &str) {
    assert_eq!(page.status, StatusCode::OK, "{alertname}: {}", page.text);
    assert!(page.text.contains(NOTICE), "{alertname}: no notice");
    assert!(
        page.text.contains(&format!("<code>{alertname}</code>")),
        "{alertname}: the notice names the alert"
    );
}

#[tokio::test]
async fn mapped_alert_links_redirect_and_only_editors_map_them() {
    let t = common::app().await;
    let responder = common::session_for(&t.state, "rita", Role::Responder).await;
    let fields = [
        ("alertname", "ConntrackTableFull"),
        ("playbook", "mtu-blackhole"),
    ];
    let refused = form(&t.state, &responder, "/alert-routes", &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let editor = common::session_for(&t.state, "ed", Role::Editor).await;
    let saved = form(&t.state, &editor, "/alert-routes", &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let mapped = get(&t.state, "/r/ConntrackTableFull").await;
    assert_eq!(mapped.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(mapped.location.as_deref(), Some("/playbooks/mtu-blackhole"));
    let page = get(&t.state, "/alert-routes").await;
    assert!(
        page.text.contains("href=\"/r/ConntrackTableFull\""),
        "{}",
        page.text
    );
    // A mapped alert's old "opened by its words" link no longer says
    // that nothing is mapped.
    let old = get(
        &t.state,
        "/playbooks/conntrack-table-full?alert=ConntrackTableFull",
    )
    .await;
    assert_eq!(old.status, StatusCode::OK);
    assert!(!old.text.contains(NOTICE));

    // Unknown playbooks and bad names are refused with a reason.
    let bad = form(
        &t.state,
        &editor,
        "/alert-routes",
        &[("alertname", "X"), ("playbook", "nope")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text.contains("There is no playbook"));
}

#[tokio::test]
async fn unmapped_alert_links_show_the_matches_under_a_notice() {
    let t = common::app().await;
    // An alert the playbooks do not know: its words' matches, not a guess.
    let unknown = get(&t.state, "/r/SomethingUnknown").await;
    assert_results_with_notice(&unknown, "SomethingUnknown");
    assert!(unknown.text.contains("“Something Unknown”"));
    assert!(unknown.text.contains("none clearly enough to open it"));
    assert!(unknown.text.contains("href=\"/alert-routes\""));
    // Nothing matches at all: the notice over an empty result.
    let none = get(&t.state, "/r/Zzqxv").await;
    assert_results_with_notice(&none, "Zzqxv");
    assert!(hits(&none).is_empty());
    assert!(none.text.contains("Nothing matched"));

    // A weak lead is shown, never opened: DNS playbook first.
    let dns = get(&t.state, "/r/KubeDNSLatencyHigh").await;
    assert_results_with_notice(&dns, "KubeDNSLatencyHigh");
    let listed = hits(&dns);
    assert_eq!(
        listed.first().map(String::as_str),
        Some("dns-ndots-search-delay")
    );
    assert!(listed.len() > 1, "the other matches are listed: {listed:?}");

    // Editors get a link that maps it, the name filled in.
    let editor = common::session_for(&t.state, "ed", Role::Editor).await;
    let as_editor = get_as(&t.state, &editor, "/r/KubeDNSLatencyHigh").await;
    assert!(
        as_editor
            .text
            .contains("href=\"/alert-routes?alertname=KubeDNSLatencyHigh\""),
        "{}",
        as_editor.text
    );
    let routes = get_as(
        &t.state,
        &editor,
        "/alert-routes?alertname=KubeDNSLatencyHigh",
    )
    .await;
    assert!(routes.text.contains("value=\"KubeDNSLatencyHigh\""));

    // A name with no words, and one with markup: shown, escaped.
    let empty = get(&t.state, "/r/___").await;
    assert_results_with_notice(&empty, "___");
    let hostile = get(&t.state, "/r/%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert_eq!(hostile.status, StatusCode::OK);
    assert!(!hostile.text.contains("<script>alert(1)"));
    assert!(
        hostile
            .text
            .contains("<code>&#60;script&#62;alert(1)&#60;/script&#62;</code>")
    );
}

#[tokio::test]
async fn a_strong_hit_opens_with_the_notice_on_the_playbook_page() {
    let t = common::app().await;
    let name = "NodeHighNumberConntrackEntriesUsed";
    let opened = get(&t.state, &format!("/r/{name}")).await;
    assert_eq!(
        opened.status,
        StatusCode::TEMPORARY_REDIRECT,
        "{}",
        opened.text
    );
    let to = opened.location.expect("a redirect");
    assert_eq!(to, format!("/playbooks/conntrack-table-full?alert={name}"));
    let page = get(&t.state, &to).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(NOTICE), "the notice comes along");
    assert!(page.text.contains("clearly ahead of the others"));
    let every = format!("/r/{name}?show=matches");
    assert!(
        page.text.contains(&format!("href=\"{every}\"")),
        "{}",
        page.text
    );
    // The matches behind it, on request.
    let matches = get(&t.state, &every).await;
    assert_results_with_notice(&matches, name);
    assert_eq!(hits(&matches)[0], "conntrack-table-full");
    // The playbook page without `?alert=` has no notice.
    let plain = get(&t.state, "/playbooks/conntrack-table-full").await;
    assert!(!plain.text.contains(NOTICE));
}

/// Where one fixture line says `/r/` lands.
enum Lands {
    /// Opens this playbook (a strong, unambiguous hit).
    Opens(String),
    /// The results page with the notice, this playbook first when named.
    Results(Option<String>),
}

fn fixture() -> Vec<(String, String, Lands)> {
    let text = include_str!("../fixtures/alerts/network-alert-names.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let lands = match f.as_slice() {
                [_, _, "results"] => Lands::Results(None),
                [_, _, "results", first] => Lands::Results(Some((*first).to_owned())),
                [_, _, id] => Lands::Opens((*id).to_owned()),
                _ => panic!("bad fixture line: {line}"),
            };
            (f[0].to_owned(), f[1].to_owned(), lands)
        })
        .collect()
}

#[tokio::test]
async fn networking_alert_names_land_where_a_network_engineer_would_look() {
    let t = common::app().await;
    let cases = fixture();
    assert!(cases.len() >= 35, "{} names", cases.len());
    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for (set, name, lands) in &cases {
        let page = get(&t.state, &format!("/r/{}", urlencode(name))).await;
        let landed = match page.status {
            StatusCode::TEMPORARY_REDIRECT => {
                let to = page.location.clone().unwrap_or_default();
                let id = to
                    .strip_prefix("/playbooks/")
                    .and_then(|rest| rest.split('?').next())
                    .unwrap_or_default()
                    .to_owned();
                assert_eq!(to, format!("/playbooks/{id}?alert={}", urlencode(name)));
                Lands::Opens(id)
            }
            StatusCode::OK => {
                assert_results_with_notice(&page, name);
                Lands::Results(hits(&page).into_iter().next())
            }
            other => panic!("{name}: {other}"),
        };
        let right = match (lands, &landed) {
            (Lands::Opens(want), Lands::Opens(got)) => want == got,
            (Lands::Results(None), Lands::Results(_)) => true,
            (Lands::Results(Some(want)), Lands::Results(got)) => Some(want) == got.as_ref(),
            _ => false,
        };
        let shown = match &landed {
            Lands::Opens(id) => format!("opens {id}"),
            Lands::Results(first) => format!(
                "results, first {}",
                first.as_deref().unwrap_or("(nothing matched)")
            ),
        };
        table.push(format!("| {set} | {name} | {shown} |"));
        if !right {
            wrong.push(format!("{name}: {shown}"));
        }
    }
    println!("{}", table.join("\n"));
    assert!(wrong.is_empty(), "landed elsewhere:\n{}", wrong.join("\n"));
}
