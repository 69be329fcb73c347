//! Playbook authoring in a real browser: the live preview, an error shown
//! at its line, the test bench, saving a version, the history diff, and a
//! second editor saving on a stale base. Screenshots in `target/screenshots/`.

mod browser_support;
mod common;

use browser_support::*;
use fantoccini::{Client, Locator};
use faultline::store::Role;

const ID: &str = "mtu-blackhole";

/// Runs a script against the editor's textarea `t`, then fires `input` the
/// way typing does.
async fn edit_text(client: &Client, body: &str) {
    let script = format!(
        "const t = document.getElementById('source'); {body}; \
         t.dispatchEvent(new Event('input', {{bubbles: true}})); return true;"
    );
    client.execute(&script, vec![]).await.unwrap();
}

/// The text of every element matching `css`, joined by newlines.
async fn all_text(client: &Client, css: &str) -> String {
    let mut out = Vec::new();
    for e in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out.join("\n")
}

async fn path(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_editors_edit_a_playbook_with_preview_history_and_a_conflict() {
    within(
        "two_editors_edit_a_playbook_with_preview_history_and_a_conflict",
        TEST_LIMIT,
        two_editors_edit_a_playbook_with_preview_history_and_a_conflict_body(),
    )
    .await
}

async fn two_editors_edit_a_playbook_with_preview_history_and_a_conflict_body() {
    let (addr, app) = start_server_with_login().await;
    for name in ["erin", "bob"] {
        faultline::accounts::add_user(
            app.state.kb.store(),
            name,
            "correct horse battery",
            Role::Editor,
            "test",
        )
        .await
        .unwrap();
    }
    let source = app.state.kb.get(ID).unwrap().playbook.source().to_owned();
    let when_line = source
        .lines()
        .position(|l| l.starts_with("when = "))
        .unwrap()
        + 1;
    let (_driver, port) = start_driver();
    let (pa, pb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let erin = browser(port, pa.path()).await;
    let bob = browser(port, pb.path()).await;
    let base = format!("http://{addr}");

    // Erin opens the playbook and follows its Edit link.
    log_in(&erin, &base, "erin", "correct horse battery").await;
    erin.goto(&format!("{base}/playbooks/{ID}")).await.unwrap();
    click(&erin, "a.pb-edit").await;
    erin.wait()
        .for_element(Locator::Css("#source"))
        .await
        .unwrap();
    assert_eq!(path(&erin).await, format!("/playbooks/{ID}/edit"));
    // Bob opens the same version in his own browser.
    log_in(&bob, &base, "bob", "correct horse battery").await;
    bob.goto(&format!("{base}/playbooks/{ID}/edit"))
        .await
        .unwrap();
    bob.wait()
        .for_element(Locator::Css("#source"))
        .await
        .unwrap();

    // Live preview: a paste, then real typing.
    edit_text(
        &erin,
        "t.value = t.value.replace('## Fix\\n', '## Fix\\n\\nLive preview marker: **restart the tunnel**.\\n')",
    )
    .await;
    erin.find(Locator::Css("#source"))
        .await
        .unwrap()
        .send_keys("\nTyped by hand.")
        .await
        .unwrap();
    wait_until(
        &erin,
        "const p = document.getElementById('preview'); \
         return p.textContent.includes('Typed by hand.') \
           && p.querySelector('strong') !== null \
           && [...p.querySelectorAll('strong')].some(s => s.textContent === 'restart the tunnel')",
        10,
        "the preview to show the new text, rendered",
    )
    .await;
    assert_eq!(text_of(&erin, "#preview-state").await, "up to date");
    shot(&erin, "editor-live-preview").await;

    // A deliberate error: shown at its line, in the list and the gutter.
    edit_text(
        &erin,
        &format!(
            "const l = t.value.split('\\n'); l[{}] = 'when = \"pmtu.black_hole &&\"'; t.value = l.join('\\n')",
            when_line - 1
        ),
    )
    .await;
    wait_until(
        &erin,
        &format!(
            "return document.querySelector('.editor-error[data-line=\"{when_line}\"]') !== null"
        ),
        10,
        "the error at its line",
    )
    .await;
    let error = text_of(&erin, ".editor-error").await;
    assert!(
        error.contains(&format!("Line {when_line}")) && error.contains("clause 1"),
        "{error}"
    );
    // The gutter marks the line (scrolled with the text: read it in the DOM).
    assert!(
        js_bool(
            &erin,
            &format!(
                "const g = document.querySelectorAll('.gutter-error');                  return g.length === 1 && g[0].textContent === '{when_line}'"
            )
        )
        .await
    );
    assert!(
        text_of(&erin, "#preview-state")
            .await
            .contains("fix the error")
    );
    click(&erin, ".editor-error a.error-line").await;
    assert!(
        js_bool(
            &erin,
            &format!(
                "const t = document.getElementById('source'); \
                 return t.value.substring(0, t.selectionStart).split('\\n').length === {when_line}"
            )
        )
        .await,
        "the link selects the line in the text"
    );
    // …and scrolls it into view, with its gutter mark.
    assert_eq!(text_of(&erin, ".gutter-error").await, when_line.to_string());
    shot(&erin, "editor-error-at-line").await;

    // Fixed: the error goes, the preview is current again.
    let original_line = source
        .lines()
        .nth(when_line - 1)
        .unwrap()
        .replace('\'', "\\'");
    edit_text(
        &erin,
        &format!(
            "const l = t.value.split('\\n'); l[{}] = '{original_line}'; t.value = l.join('\\n')",
            when_line - 1
        ),
    )
    .await;
    wait_until(
        &erin,
        "return document.querySelectorAll('.editor-error').length === 0 \
         && document.getElementById('preview-state').textContent === 'up to date'",
        10,
        "the error to clear",
    )
    .await;

    // The test bench runs the unsaved clauses on the playbook's examples.
    click(&erin, "#bench-run").await;
    wait_until(
        &erin,
        "return document.querySelectorAll('#bench-out .bench-run').length >= 2",
        10,
        "test bench results",
    )
    .await;
    let bench = text_of(&erin, "#bench-out").await;
    assert!(
        bench.contains("matches") && bench.contains("score"),
        "{bench}"
    );
    assert!(!bench.contains("does not match"), "{bench}");
    erin.execute("document.getElementById('bench').scrollIntoView()", vec![])
        .await
        .unwrap();
    shot(&erin, "editor-testbench").await;

    // Save: version 2, on the playbook page.
    click(&erin, "button[value=save]").await;
    // The playbook page's header: the editor's live preview has a `#fix` too.
    erin.wait()
        .for_element(Locator::Css(".pb-head"))
        .await
        .unwrap();
    assert_eq!(path(&erin).await, format!("/playbooks/{ID}"));
    assert!(text_of(&erin, "#fix").await.contains("Live preview marker"));
    assert!(text_of(&erin, ".pb-head").await.contains("Version 2"));

    // History: two versions, who and how, and the diff of version 2.
    click(&erin, "a[href$='/history']").await;
    erin.wait()
        .for_element(Locator::Css(".history"))
        .await
        .unwrap();
    let rows = erin.find_all(Locator::Css(".history-row")).await.unwrap();
    assert_eq!(rows.len(), 2);
    let newest = rows[0].text().await.unwrap();
    assert!(
        newest.contains("erin") && newest.contains("edit"),
        "{newest}"
    );
    assert!(rows[1].text().await.unwrap().contains("builtin"));
    let added = text_of(&erin, ".history-diff").await;
    assert!(added.contains("Version 1 → version 2"), "{added}");
    let added_text = all_text(&erin, ".history-diff tr.diff-add").await;
    assert!(
        added_text.contains("Live preview marker: **restart the tunnel**."),
        "{added_text}"
    );
    assert!(added_text.contains("Typed by hand."), "{added_text}");
    shot(&erin, "history-diff").await;

    // Bob saves on version 1: a conflict, his text kept, Erin's change shown.
    edit_text(
        &bob,
        "t.value = t.value.replace('## Prevention\\n', '## Prevention\\n\\nBob: alert on ICMP frag-needed drops.\\n')",
    )
    .await;
    click(&bob, "button[value=save]").await;
    bob.wait()
        .for_element(Locator::Css(".conflict"))
        .await
        .unwrap();
    assert_eq!(path(&bob).await, format!("/playbooks/{ID}/edit"));
    let conflict = text_of(&bob, ".conflict").await;
    assert!(
        conflict.contains("erin saved version 2 first"),
        "{conflict}"
    );
    assert!(
        js_bool(
            &bob,
            "return document.getElementById('source').value.includes('Bob: alert on ICMP frag-needed drops.')"
        )
        .await,
        "Bob's text is still in the editor"
    );
    let theirs = all_text(&bob, ".conflict tr.diff-del").await;
    assert!(
        theirs.contains("Live preview marker"),
        "Erin's line in the diff: {theirs}"
    );
    let mine = all_text(&bob, ".conflict tr.diff-add").await;
    assert!(mine.contains("Bob: alert"), "{mine}");
    shot(&bob, "editor-conflict").await;

    // Re-base on version 2, take Erin's line, save as version 3.
    click(&bob, "button[value=rebase]").await;
    bob.wait()
        .for_element(Locator::Css(".editor-notice"))
        .await
        .unwrap();
    assert!(
        text_of(&bob, ".editor-notice")
            .await
            .contains("based on version 2")
    );
    assert_eq!(
        bob.find(Locator::Css("input[name=base_version]"))
            .await
            .unwrap()
            .attr("value")
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );
    edit_text(
        &bob,
        "t.value = t.value.replace('## Fix\\n', '## Fix\\n\\nLive preview marker: **restart the tunnel**.\\n')",
    )
    .await;
    click(&bob, "button[value=save]").await;
    // The playbook page's header: the editor's live preview has a `#fix` too.
    bob.wait()
        .for_element(Locator::Css(".pb-head"))
        .await
        .unwrap();
    assert!(text_of(&bob, ".pb-head").await.contains("Version 3"));
    assert!(text_of(&bob, "#fix").await.contains("Live preview marker"));
    assert!(text_of(&bob, "#prevention").await.contains("Bob: alert"));

    // A new playbook: from the library, a blank template with its preview.
    erin.goto(&format!("{base}/playbooks")).await.unwrap();
    click(&erin, "a.new-playbook").await;
    erin.wait()
        .for_element(Locator::Css("#preview .pb-body"))
        .await
        .unwrap();
    assert_eq!(path(&erin).await, "/playbooks/new");
    assert!(
        js_bool(
            &erin,
            "return document.getElementById('source').value.startsWith('+++\\nid = \"new-playbook\"')"
        )
        .await
    );
    shot(&erin, "editor-new").await;

    erin.close().await.unwrap();
    bob.close().await.unwrap();
}
