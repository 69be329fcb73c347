//! Study mode in a real browser: a new account logs in and works through
//! three exercises (one right, one wrong after hints, one free answer),
//! then finds its progress and schedule on `/study`. Screenshots land in
//! `target/screenshots/study-*.png`.

mod browser_support;
mod common;

use browser_support::*;
use fantoccini::{Client, Locator};

async fn wait_for(client: &Client, css: &str) {
    client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"));
}

/// The `value` of every candidate radio button, in page order.
async fn candidates(client: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for e in client
        .find_all(Locator::Css("input[name=choice]"))
        .await
        .unwrap()
    {
        out.push(e.attr("value").await.unwrap().unwrap());
    }
    out
}

async fn choose_and_answer(client: &Client, id: &str) {
    click(client, &format!("input[name=choice][value='{id}']")).await;
    click(client, ".study-choices button[type=submit]").await;
    wait_for(client, "#verdict").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_studies_three_exercises() {
    within(
        "a_new_account_studies_three_exercises",
        TEST_LIMIT,
        a_new_account_studies_three_exercises_body(),
    )
    .await
}

async fn a_new_account_studies_three_exercises_body() {
    let (addr, app) = start_server_with_login().await;
    faultline::accounts::add_user(
        app.state.kb.store(),
        "newhire",
        "first-week-on-call",
        faultline::store::Role::Viewer,
        "test",
    )
    .await
    .unwrap();
    let (_driver, port) = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path()).await;
    let base = format!("http://{addr}");

    // Log in from the Study link.
    client.goto(&format!("{base}/study")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/login");
    client
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("newhire")
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("first-week-on-call")
        .await
        .unwrap();
    click(&client, ".auth-box button[type=submit]").await;
    wait_for(&client, ".study-stats").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/study");
    assert_eq!(text_of(&client, "#stat-attempts").await, "0");
    let due = client
        .find_all(Locator::Css("#due .study-row"))
        .await
        .unwrap();
    assert_eq!(due.len(), 13, "every exercise is new, so due");
    assert!(
        client
            .find(Locator::Css("nav.nav a[href='/study']"))
            .await
            .is_ok(),
        "Study is in the navigation"
    );
    assert!(
        js_bool(
            &client,
            "return getComputedStyle(document.querySelector('.study-stats')).display === 'grid'"
        )
        .await,
        "study.css is applied"
    );
    shot(&client, "study-start").await;

    // 1. Right, no hints.
    click(&client, "a[href='/study/close-wait-leak']").await;
    wait_for(&client, "#evidence .chart-box svg").await;
    assert!(text_of(&client, "h1").await.contains("root cause"));
    let offered = candidates(&client).await;
    assert_eq!(offered.len(), 4, "{offered:?}");
    assert!(offered.contains(&"close-wait-leak".to_owned()));
    shot(&client, "study-exercise").await;
    choose_and_answer(&client, "close-wait-leak").await;
    assert!(
        text_of(&client, ".study-verdict-head")
            .await
            .starts_with("Right")
    );
    assert_eq!(text_of(&client, "#points").await, "100");
    let right_due = text_of(&client, "#next-due").await;
    assert!(right_due.contains("due in"), "{right_due}");
    assert!(
        client
            .find(Locator::Css(
                "#gave-it-away .diagnosis a[href='/playbooks/close-wait-leak']"
            ))
            .await
            .is_ok(),
        "the matcher's reading of the evidence names the playbook"
    );
    shot(&client, "study-reveal-right").await;

    // 2. Two hints, then a wrong choice.
    client
        .goto(&format!("{base}/study/mtu-blackhole"))
        .await
        .unwrap();
    click(&client, ".study-hint-button").await;
    wait_for(&client, "#hint-1").await;
    click(&client, ".study-hint-button").await;
    wait_for(&client, "#hint-2").await;
    assert!(text_of(&client, "#hint-1").await.contains("What it showed"));
    shot(&client, "study-hints").await;
    let wrong = candidates(&client)
        .await
        .into_iter()
        .find(|c| c != "mtu-blackhole")
        .unwrap();
    choose_and_answer(&client, &wrong).await;
    assert!(
        text_of(&client, ".study-verdict-head")
            .await
            .starts_with("Not this time")
    );
    assert_eq!(text_of(&client, "#points").await, "0");
    let wrong_due = text_of(&client, "#next-due").await;
    assert!(
        wrong_due.contains("min"),
        "a miss comes back in minutes: {wrong_due}"
    );
    shot(&client, "study-reveal-wrong").await;

    // 3. A free answer, graded loosely, then confirmed by the learner.
    client
        .goto(&format!("{base}/study/dns-ndots-search-delay"))
        .await
        .unwrap();
    client
        .find(Locator::Css("textarea[name=free]"))
        .await
        .unwrap()
        .send_keys(
            "ndots 5 makes the resolver try every search domain before the absolute name, \
             each lookup waits on the extra queries",
        )
        .await
        .unwrap();
    click(&client, ".study-free button[type=submit]").await;
    wait_for(&client, "#verdict").await;
    let verdict = text_of(&client, "#verdict").await;
    assert!(verdict.contains("graded loosely"), "{verdict}");
    assert!(verdict.starts_with("Right"), "{verdict}");
    click(&client, ".study-mark button[value=right]").await;
    wait_for(&client, "#verdict").await;
    assert!(text_of(&client, "#verdict").await.contains("marked by you"));
    shot(&client, "study-reveal-free").await;

    // Progress and schedule.
    click(&client, "nav.nav a[href='/study']").await;
    wait_for(&client, ".study-stats").await;
    assert_eq!(text_of(&client, "#stat-attempts").await, "3");
    assert_eq!(text_of(&client, "#stat-accuracy").await, "67%");
    assert_eq!(text_of(&client, "#stat-hints").await, "2");
    assert_eq!(text_of(&client, "#stat-day-streak").await, "1");
    let due_now = client
        .find_all(Locator::Css("#due .study-row"))
        .await
        .unwrap();
    assert_eq!(due_now.len(), 10, "the three tried are scheduled");
    let label = |id: &str| {
        let client = client.clone();
        let css = format!("#later [data-exercise='{id}'] .study-due-label");
        async move { text_of(&client, &css).await }
    };
    let missed = label("mtu-blackhole").await;
    let known = label("close-wait-leak").await;
    assert!(missed.contains("min"), "{missed}");
    assert!(known.contains("day") || known.contains(" h"), "{known}");
    // The later list is ordered by due date: the miss comes first.
    let order: Vec<String> = {
        let mut v = Vec::new();
        for e in client
            .find_all(Locator::Css("#later .study-row"))
            .await
            .unwrap()
        {
            v.push(e.attr("data-exercise").await.unwrap().unwrap());
        }
        v
    };
    assert_eq!(order[0], "mtu-blackhole", "{order:?}");
    shot(&client, "study-progress").await;

    // The schedule in the store agrees: the missed one is due sooner.
    let schedules = app.state.kb.store().schedules("newhire").await.unwrap();
    let due_of = |id: &str| {
        schedules
            .iter()
            .find(|s| s.playbook == id)
            .and_then(|s| s.due_at)
            .unwrap()
    };
    assert!(due_of("mtu-blackhole") < due_of("close-wait-leak"));
    assert!(due_of("mtu-blackhole") < due_of("dns-ndots-search-delay"));

    // The printable sheet: the print stylesheet hides the navigation.
    client
        .goto(&format!("{base}/study/mtu-blackhole/sheet"))
        .await
        .unwrap();
    wait_for(&client, ".study-sheet").await;
    shot(&client, "study-sheet").await;
    let pdf_ok = client
        .execute(
            "return [...document.styleSheets].some(s => { try { return [...s.cssRules].some(r => r.media && r.media.mediaText === 'print' && r.cssText.includes('.topbar')); } catch (e) { return false; } })",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        pdf_ok.as_bool(),
        Some(true),
        "a print stylesheet hides the top bar"
    );

    client.close().await.unwrap();
}
