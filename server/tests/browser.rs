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
        .find_all(Locator::Css("pre button.copy"))
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
