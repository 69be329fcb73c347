//! The pages in a real browser: Debian's headless Chromium driven through
//! chromedriver, against a real server on a loopback port. Screenshots land
//! in `target/screenshots/` for people to look at.

mod browser_support;
mod common;

use browser_support::*;
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_searches_and_reads_a_playbook() {
    within(
        "an_engineer_searches_and_reads_a_playbook",
        TEST_LIMIT,
        an_engineer_searches_and_reads_a_playbook_body(),
    )
    .await
}

async fn an_engineer_searches_and_reads_a_playbook_body() {
    let (addr, _app) = start_server().await;
    let (_driver, port) = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path()).await;
    let base = format!("http://{addr}");

    // Home: a search box and every playbook.
    client.goto(&base).await.unwrap();
    assert_eq!(client.title().await.unwrap(), "Faultline");
    assert!(text_of(&client, "h1").await.contains("network"));
    let cards = client.find_all(Locator::Css(".cards .card")).await.unwrap();
    assert!(cards.len() >= 13, "{} playbook cards", cards.len());
    assert!(
        js_bool(
            &client,
            "return getComputedStyle(document.querySelector('.topbar')).position === 'sticky'"
        )
        .await,
        "the stylesheet is applied"
    );
    shot(&client, "home").await;

    // Search the way an engineer would: the words on the screen.
    let input = client
        .find(Locator::Css(".bigsearch input[name=q]"))
        .await
        .unwrap();
    input
        .send_keys("upstream prematurely closed connection")
        .await
        .unwrap();
    client
        .find(Locator::Css(".bigsearch button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css(".hits"))
        .await
        .unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/search")
    );
    let first = client.find(Locator::Css(".hit .hit-title")).await.unwrap();
    assert_eq!(
        first.attr("href").await.unwrap().as_deref(),
        Some("/playbooks/keepalive-race-502")
    );
    let highlighted = client
        .find_all(Locator::Css(".hit .snippet b"))
        .await
        .unwrap();
    assert!(!highlighted.is_empty(), "matched words are highlighted");
    shot(&client, "search").await;

    // Open it: numbered steps, copy buttons from our script (the CSP allows it).
    first.click().await.unwrap();
    client
        .wait()
        .for_element(Locator::Css("#step-1"))
        .await
        .unwrap();
    assert!(text_of(&client, "h1").await.contains("502"));
    let steps = client.find_all(Locator::Css(".steps .step")).await.unwrap();
    assert!(steps.len() >= 3, "{} steps", steps.len());
    assert_eq!(text_of(&client, "#step-1 .step-no").await, "1");
    let copies = client
        .find_all(Locator::Css(".code-wrap > pre + button.copy"))
        .await
        .unwrap();
    assert!(!copies.is_empty(), "app.js ran and added copy buttons");
    for section in [
        "#symptoms",
        "#investigation",
        "#root_cause",
        "#fix",
        "#prevention",
    ] {
        client
            .find(Locator::Css(section))
            .await
            .unwrap_or_else(|e| panic!("{section}: {e}"));
    }
    client
        .find(Locator::Css(".toc a[href='#fix']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    shot(&client, "playbook").await;

    // Dark theme, remembered across pages.
    client
        .find(Locator::Css(".theme-toggle"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        js_bool(
            &client,
            "return document.documentElement.dataset.theme === 'dark'"
        )
        .await
    );
    client
        .goto(&format!("{base}/playbooks?layer=dns"))
        .await
        .unwrap();
    assert!(
        js_bool(
            &client,
            "return document.documentElement.dataset.theme === 'dark'"
        )
        .await
    );
    let dns_cards = client.find_all(Locator::Css(".cards .card")).await.unwrap();
    assert!(!dns_cards.is_empty());
    for card in &dns_cards {
        assert_eq!(
            card.find(Locator::Css(".layer"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "dns"
        );
    }
    shot(&client, "library-dns-dark").await;

    // Phone width: nothing wider than the screen.
    client.set_window_size(390, 844).await.unwrap();
    client
        .goto(&format!("{base}/playbooks/mtu-blackhole"))
        .await
        .unwrap();
    assert!(
        js_bool(
            &client,
            "return document.documentElement.scrollWidth <= window.innerWidth + 1"
        )
        .await,
        "no horizontal scrolling at phone width"
    );
    shot(&client, "playbook-phone").await;

    // Lessons and a friendly 404.
    client.set_window_size(1280, 900).await.unwrap();
    client.goto(&format!("{base}/lessons")).await.unwrap();
    let links = client
        .find_all(Locator::Css(".lessons a[href^='/playbooks/']"))
        .await
        .unwrap();
    assert!(links.len() >= 8, "{} links to playbooks", links.len());
    shot(&client, "lessons").await;
    client
        .goto(&format!("{base}/playbooks/not-a-playbook"))
        .await
        .unwrap();
    assert!(
        text_of(&client, ".error-page")
            .await
            .contains("not-a-playbook")
    );
    shot(&client, "not-found").await;

    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_logs_in_sees_who_they_are_and_logs_out() {
    within(
        "an_engineer_logs_in_sees_who_they_are_and_logs_out",
        TEST_LIMIT,
        an_engineer_logs_in_sees_who_they_are_and_logs_out_body(),
    )
    .await
}

async fn an_engineer_logs_in_sees_who_they_are_and_logs_out_body() {
    let (addr, app) = start_server_with_login().await;
    faultline::accounts::add_user(
        app.state.kb.store(),
        "oncall",
        "pager-duty-3am",
        faultline::store::Role::Responder,
        "test",
    )
    .await
    .unwrap();
    let (_driver, port) = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path()).await;
    let base = format!("http://{addr}");

    // Not logged in: a playbook link lands on the login page, and back.
    client
        .goto(&format!("{base}/playbooks/close-wait-leak"))
        .await
        .unwrap();
    assert!(client.current_url().await.unwrap().path() == "/login");
    assert!(text_of(&client, "h1").await.contains("Log in"));
    client
        .find(Locator::Css("a.login-link"))
        .await
        .expect("a log-in link instead of a user");
    client
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("oncall")
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("pager-duty-3am")
        .await
        .unwrap();
    shot(&client, "login").await;
    client
        .find(Locator::Css(".auth-box button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css(".user-indicator"))
        .await
        .unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/playbooks/close-wait-leak",
        "back where the engineer was going"
    );
    let who = text_of(&client, ".user-indicator").await;
    assert!(who.contains("oncall") && who.contains("responder"), "{who}");
    assert!(
        js_bool(
            &client,
            "return document.cookie.indexOf('faultline_session') === -1"
        )
        .await,
        "the session cookie is HttpOnly"
    );
    shot(&client, "logged-in").await;

    // A playbook whose title and body carry markup: shown as text, never run.
    let payload = "<img src=x onerror=alert(1)><script>window.__xss=1</script>";
    let source = format!(
        "+++\nid = \"xss-probe\"\ntitle = \"Probe {payload}\"\nalert = \"a {payload}\"\n\
         layer = \"application\"\n+++\n## Symptoms\nText {payload}\n"
    );
    app.state
        .kb
        .save(
            "xss.md",
            &source,
            faultline::store::Origin::Edit,
            None,
            None,
        )
        .await
        .unwrap();
    client
        .goto(&format!("{base}/playbooks/xss-probe"))
        .await
        .unwrap();
    assert!(text_of(&client, "h1").await.contains("<img src=x onerror"));
    assert!(
        js_bool(
            &client,
            "return document.querySelectorAll('img[src=x], main script').length === 0 \
             && window.__xss === undefined"
        )
        .await,
        "no injected element exists"
    );
    shot(&client, "xss-escaped").await;

    // Log out: back to the login page, and pages need a login again.
    client
        .find(Locator::Css("button.logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css(".auth-box"))
        .await
        .unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/login");
    assert!(
        client
            .find_all(Locator::Css(".user-indicator"))
            .await
            .unwrap()
            .is_empty()
    );
    client.goto(&format!("{base}/lessons")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/login");
    shot(&client, "logged-out").await;

    client.close().await.unwrap();
}

/// The watchdog itself: a page whose script never yields blocks every
/// WebDriver call on its tab; the test fails soon after its limit, with a
/// screenshot of the page drawn in a fresh session with scripts off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_page_fails_its_test_within_the_limit_with_a_screenshot() {
    let (addr, _app) = start_server().await;
    let base = format!("http://{addr}");
    let limit = std::time::Duration::from_secs(6);
    let profile = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let overrun = try_within("hung-page", limit, async {
        let (_driver, port) = start_driver();
        let client = browser(port, profile.path()).await;
        client.goto(&format!("{base}/lessons")).await.unwrap();
        client
            .execute(
                "setTimeout(function () { for (;;) {} }, 50); return true;",
                vec![],
            )
            .await
            .unwrap();
        // Every call now waits on the busy tab, and the test never ends.
        loop {
            let _ = client.find(Locator::Css("h1")).await;
        }
    })
    .await
    .expect_err("a page that never yields cannot pass");
    let took = started.elapsed();
    println!("{overrun}\nfailed after {took:?}");
    // The limit, then at most one screenshot try and one fallback view.
    assert!(
        took < limit + std::time::Duration::from_secs(40),
        "{took:?}"
    );
    let shot = overrun
        .screenshots
        .iter()
        .find(|p| p.to_string_lossy().ends_with("noscript.png"))
        .unwrap_or_else(|| panic!("no fallback screenshot: {overrun}"));
    let png = std::fs::read(shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "{shot:?}");
    assert!(
        overrun.notes.iter().any(|n| n.contains("/lessons")),
        "{overrun}"
    );
    // The failed test leaves no browser behind (the busy tab would spin on).
    let profile = profile.path().to_string_lossy().into_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !processes_mentioning(&profile).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left running: {:?}",
            processes_mentioning(&profile)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Live processes whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

/// Presses and releases one key (a `fantoccini::key::Key` code or a character).
async fn press(client: &fantoccini::Client, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    client.perform_actions(keys).await.unwrap();
}

/// axe-core, vendored for this test (see `browser_support/vendor/README.md`).
const AXE: &str = include_str!("browser_support/vendor/axe.min.js");

/// The widths the pages must work at: a phone and a laptop.
const SIZES: [(&str, u32, u32, bool); 2] =
    [("phone", 390, 844, true), ("desktop", 1400, 1000, false)];
const SCHEMES: [&str; 2] = ["light", "dark"];

/// Runs axe on the page and measures sideways scrolling at the viewport
/// width given as the first argument. Returns a JSON
/// string: `{violations: [{id, impact, help, nodes: [{target, summary,
/// contrast}]}], scroll: {width, inner, offenders}}`.
const AUDIT: &str = r#"
    var done = arguments[arguments.length - 1];
    function describe(el) {
        var s = el.tagName.toLowerCase();
        if (el.id) s += '#' + el.id;
        if (el.classList.length) s += '.' + Array.prototype.join.call(el.classList, '.');
        return s;
    }
    // The width asked for: a phone's layout viewport widens to fit content
    // that overflows, so innerWidth alone would hide the overflow.
    var inner = Math.min(window.innerWidth, arguments[0]);
    var offenders = [];
    document.querySelectorAll('body *').forEach(function (el) {
        var r = el.getBoundingClientRect();
        if (r.width === 0 || r.right <= inner + 0.5) return;
        for (var p = el.parentElement; p && p !== document.body; p = p.parentElement) {
            var ox = getComputedStyle(p).overflowX;
            if (ox !== 'visible') return; // clipped or scrolled inside p
            if (p.getBoundingClientRect().right > inner + 0.5) return; // p is reported
        }
        if (offenders.length < 6) offenders.push(describe(el) + ' right=' + Math.round(r.right));
    });
    var scroll = { width: document.scrollingElement.scrollWidth, inner: inner, offenders: offenders, height: document.scrollingElement.scrollHeight };
    axe.run(document, { resultTypes: ['violations'] }).then(function (r) {
        var out = r.violations.map(function (v) {
            return { id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map(function (n) {
                var c = null;
                (n.any || []).forEach(function (a) {
                    if (a.data && a.data.contrastRatio) c = a.data.fgColor + ' on ' + a.data.bgColor + ' ' + a.data.contrastRatio + ':1';
                });
                return { target: n.target.join(' '), contrast: c, count: v.nodes.length };
            }) };
        });
        done(JSON.stringify({ violations: out, scroll: scroll }));
    }, function (e) { done(JSON.stringify({ error: String(e) })); });
"#;

/// Every page type at phone and laptop width, in the light and the dark
/// system theme: axe-core finds no serious or critical violation, and the
/// page never scrolls sideways. Screenshots of each land in
/// `target/screenshots/a11y-{page}-{width}-{theme}.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_without_sideways_scroll_in_both_themes_and_widths() {
    within(
        "every_page_passes_axe_without_sideways_scroll_in_both_themes_and_widths",
        TEST_LIMIT,
        every_page_passes_axe_body(),
    )
    .await
}

async fn every_page_passes_axe_body() {
    use faultline::store::Role;
    let started = std::time::Instant::now();
    let (addr, app) = start_server_with_login().await;
    let state = &app.state;
    let store = state.kb.store();
    faultline::accounts::add_user(store, "ada", "audit-every-page", Role::Admin, "test")
        .await
        .unwrap();
    let login = common::session_for(state, "ada", Role::Admin).await;
    // Evidence as the lab's probe measured it (every collector's output),
    // which opens an incident; its postmortem drafted.
    let (_, token) = faultline::ingest::add_collector(store, "orders-api-1", &Default::default())
        .await
        .unwrap();
    let lab: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/lab/close_wait.json")).unwrap();
    let sent = common::post_report(state, &token, lab).await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let report = sent.json()["report_id"].as_str().unwrap().to_owned();
    let incidents = common::incidents(state).await;
    assert_eq!(
        incidents.len(),
        1,
        "the lab's CLOSE_WAIT report opens an incident"
    );
    let incident = incidents[0].id;
    let drafted = common::form(
        state,
        &login,
        &format!("/incidents/{incident}/postmortem"),
        &[],
    )
    .await;
    let postmortem = drafted.location.expect("a postmortem is drafted");

    let logged_out = [("login", "/login".to_owned())];
    let pages = [
        ("home", "/".to_owned()),
        ("search", "/search?q=connection+reset+timeout".to_owned()),
        ("library", "/playbooks".to_owned()),
        ("playbook", "/playbooks/keepalive-race-502".to_owned()),
        ("incidents", "/incidents".to_owned()),
        ("incident", format!("/incidents/{incident}")),
        ("report", format!("/reports/{report}")),
        ("study", "/study".to_owned()),
        ("exercise", "/study/close-wait-leak".to_owned()),
        ("postmortem", postmortem),
        ("admin", "/admin".to_owned()),
        ("editor", "/playbooks/close-wait-leak/edit".to_owned()),
        ("lessons", "/lessons".to_owned()),
    ];

    let (_driver, port) = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path()).await;
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(std::time::Duration::from_secs(40)),
            Some(std::time::Duration::from_secs(20)),
            Some(std::time::Duration::ZERO),
        ))
        .await
        .unwrap();
    cdp(
        &client,
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({ "source": AXE }),
    )
    .await;
    let base = format!("http://{addr}");

    let mut failures: Vec<String> = Vec::new();
    let mut counts: Vec<String> = Vec::new();
    let mut total = 0usize;
    for (round, list) in [&logged_out[..], &pages[..]].into_iter().enumerate() {
        if round == 1 {
            viewport(&client, 1400, 1000, false).await;
            log_in(&client, &base, "ada", "audit-every-page").await;
        }
        for scheme in SCHEMES {
            color_scheme(&client, scheme).await;
            for (size, width, height, mobile) in SIZES {
                viewport(&client, width, height, mobile).await;
                for (name, path) in list {
                    client.goto(&format!("{base}{path}")).await.unwrap();
                    let out = client
                        .execute_async(AUDIT, vec![width.into()])
                        .await
                        .unwrap();
                    let out: serde_json::Value =
                        serde_json::from_str(out.as_str().unwrap()).unwrap();
                    assert!(out.get("error").is_none(), "{name}: axe failed: {out}");
                    shot(&client, &format!("a11y-{name}-{size}-{scheme}")).await;
                    let bad: Vec<&serde_json::Value> = out["violations"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
                        .collect();
                    let nodes: usize = bad
                        .iter()
                        .map(|v| v["nodes"][0]["count"].as_u64().unwrap_or(0) as usize)
                        .sum();
                    total += nodes;
                    counts.push(format!(
                        "{name} {size} {scheme}: {} rules, {nodes} nodes, {} px tall",
                        bad.len(),
                        out["scroll"]["height"]
                    ));
                    for v in bad {
                        failures.push(format!(
                            "{name} {size} {scheme}: {} ({}): {} — {}",
                            v["id"].as_str().unwrap_or(""),
                            v["impact"].as_str().unwrap_or(""),
                            v["help"].as_str().unwrap_or(""),
                            v["nodes"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|n| match n["contrast"].as_str() {
                                    Some(c) =>
                                        format!("{} [{c}]", n["target"].as_str().unwrap_or("")),
                                    None => n["target"].as_str().unwrap_or("").to_owned(),
                                })
                                .collect::<Vec<_>>()
                                .join("; ")
                        ));
                    }
                    let scroll = &out["scroll"];
                    if scroll["width"].as_f64() > scroll["inner"].as_f64() {
                        failures.push(format!(
                            "{name} {size} {scheme}: scrolls sideways, {} px wide in {} px: {}",
                            scroll["width"], scroll["inner"], scroll["offenders"]
                        ));
                    }
                }
            }
        }
    }
    // The keyboard: Tab first reaches a visible "Skip to content", Enter
    // moves to the page's content, `/` puts the cursor in search.
    viewport(&client, 1400, 1000, false).await;
    client
        .goto(&format!("{base}/incidents/{incident}"))
        .await
        .unwrap();
    press(&client, '\u{e004}').await;
    assert!(
        js_bool(
            &client,
            "const a = document.activeElement; const r = a.getBoundingClientRect();\
             return a.classList.contains('skip-link') && r.top >= 0 && r.bottom <= innerHeight\
               && getComputedStyle(a).outlineStyle !== 'none';"
        )
        .await,
        "Tab reaches a visible, outlined skip link first"
    );
    shot(&client, "a11y-skip-link").await;
    press(&client, '\u{e007}').await;
    assert!(
        js_bool(&client, "return document.activeElement.id === 'main'").await,
        "the skip link moves to the content"
    );
    press(&client, '/').await;
    assert!(
        js_bool(
            &client,
            "return document.activeElement.matches('.topsearch input[name=q]')"
        )
        .await,
        "/ focuses search"
    );
    // "… ago" and the incident's duration keep time without a reload.
    assert!(
        text_of(&client, "#inc-duration")
            .await
            .starts_with("open for")
    );
    client
        .execute(
            "const t = document.querySelector('#timeline time.ago');\
             t.setAttribute('datetime', new Date(Date.now() - 125000).toISOString()); return true;",
            vec![],
        )
        .await
        .unwrap();
    wait_until(
        &client,
        "return document.querySelector('#timeline time.ago').textContent === '2 min ago'",
        20,
        "the relative time to tick",
    )
    .await;

    println!("{}", counts.join("\n"));
    println!(
        "serious/critical axe nodes: {total}; {} pages checked in {:?}",
        counts.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    client.close().await.unwrap();
}
