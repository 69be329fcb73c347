//! From a novel fault to a playbook that explains it, in a real browser
//! against a real `faultline serve`: a collector reports evidence no
//! built-in playbook explains, an engineer opens an incident, attaches the
//! report, resolves it, writes the postmortem, exports it and promotes it;
//! the editor opens on the new playbook with its test bench passing, and
//! the real `faultline diagnose` then ranks the new playbook first on that
//! evidence. Screenshots land in `target/screenshots/postmortem-*.png`.

mod browser_support;
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use browser_support::*;
use fantoccini::{Client, Locator};
use serde_json::Value;

const FAULTLINE: &str = env!("CARGO_BIN_EXE_faultline");
const REPORT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/promote/fd-exhaustion-retry-storm.json"
);
const REPORT_ID: &str = "5c0f7a52-2d3e-4b8e-9f61-0a7d3c9e1b44";
const EDITOR: (&str, &str) = ("pat", "promote-the-lesson-7");

/// `faultline serve` as a child process, stopped when the test ends.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn faultline(data: &Path, args: &[&str]) -> Output {
    let out = Command::new(FAULTLINE)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("FAULTLINE_PASSWORD", EDITOR.1)
        .output()
        .expect("run faultline");
    assert!(
        out.status.success(),
        "faultline {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn start_serve(data: &Path, log: &Path) -> (Serve, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(FAULTLINE)
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start faultline serve");
    let serve = Serve(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "faultline serve did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    (serve, addr)
}

/// `faultline diagnose --format json` on the evidence file.
fn diagnose(data: Option<&Path>, file: &Path) -> Value {
    let mut cmd = Command::new(FAULTLINE);
    if let Some(d) = data {
        cmd.arg("--data-dir").arg(d);
    }
    let out = cmd
        .args(["diagnose", "--format", "json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn path_of(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

/// Replaces the body of `## heading` in the editor's textarea, as typing
/// over it would, and tells the page the text changed.
async fn write_section(client: &Client, heading: &str, body: &str) {
    let script = r#"
        var [heading, body] = arguments;
        var ta = document.getElementById('source');
        var lines = ta.value.split('\n');
        var start = lines.indexOf('## ' + heading);
        if (start < 0) return 'no section ' + heading;
        var end = start + 1;
        while (end < lines.length && !lines[end].startsWith('## ')) end++;
        var tail = end < lines.length ? [''] : [];
        lines.splice(start + 1, end - start - 1, '', ...body.split('\n'), ...tail);
        ta.value = lines.join('\n');
        ta.dispatchEvent(new Event('input', {bubbles: true}));
        return 'ok';
    "#;
    let done = client
        .execute(script, vec![heading.into(), body.into()])
        .await
        .unwrap();
    assert_eq!(done, "ok", "{heading}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postmortem_becomes_the_playbook_that_explains_its_incident() {
    within(
        "a_postmortem_becomes_the_playbook_that_explains_its_incident",
        TEST_LIMIT,
        a_postmortem_becomes_the_playbook_that_explains_its_incident_body(),
    )
    .await
}

async fn a_postmortem_becomes_the_playbook_that_explains_its_incident_body() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report_file = PathBuf::from(REPORT);

    // The evidence is a fault the built-in playbooks do not explain.
    let builtin_only = diagnose(None, &report_file);
    assert_eq!(
        builtin_only["matches"].as_array().unwrap().len(),
        0,
        "{builtin_only}"
    );

    faultline(&data, &["user", "add", EDITOR.0, "--role", "editor"]);
    let token_out = faultline(&data, &["collector", "add", "edge-gw-3"]);
    let token = String::from_utf8(token_out.stdout).unwrap();
    let token = token
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap()
        .trim()
        .to_owned();
    let (_serve, addr) = start_serve(&data, &dir.path().join("serve.log"));
    let base = format!("http://{addr}");

    // The collector on the gateway reports.
    let sent = reqwest::Client::new()
        .post(format!("{base}/api/v1/reports"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(std::fs::read(&report_file).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201, "{}", sent.text().await.unwrap());

    let (_driver, port) = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path()).await;
    log_in(&client, &base, EDITOR.0, EDITOR.1).await;

    // Open the incident by hand.
    client.goto(&format!("{base}/incidents/new")).await.unwrap();
    client
        .find(Locator::Css("input[name=title]"))
        .await
        .unwrap()
        .send_keys("Edge gateway: upstream connects time out, accept() failing")
        .await
        .unwrap();
    client
        .find(Locator::Css("textarea[name=labels]"))
        .await
        .unwrap()
        .send_keys("host=edge-gw-3\nservice=edge-gateway")
        .await
        .unwrap();
    click(&client, ".inc-form button[type=submit]").await;
    client
        .wait()
        .for_element(Locator::Css("#incident-live"))
        .await
        .unwrap();
    let incident: i64 = path_of(&client)
        .await
        .trim_start_matches("/incidents/")
        .parse()
        .unwrap();

    // Attach the report from its page.
    client
        .goto(&format!("{base}/reports/{REPORT_ID}"))
        .await
        .unwrap();
    click(&client, "#attach summary").await;
    shot(&client, "postmortem-report-attach").await;
    click(
        &client,
        &format!("#attach button[data-incident='{incident}']"),
    )
    .await;
    wait_until(
        &client,
        &format!("return location.pathname === '/incidents/{incident}'"),
        10,
        "the incident page after attaching",
    )
    .await;
    let evidence = text_of(&client, "#incident-live").await;
    assert!(evidence.contains("edge-gw-3"), "{evidence}");

    // Resolve it, then write the postmortem.
    click(&client, "button[name=status][value=resolved]").await;
    wait_until(
        &client,
        "return (document.getElementById('inc-status') || {}).textContent === 'resolved'",
        10,
        "the incident to show resolved",
    )
    .await;
    click(&client, ".inc-postmortem button[type=submit]").await;
    wait_until(
        &client,
        "return /^\\/postmortems\\/\\d+$/.test(location.pathname)",
        10,
        "the postmortem page",
    )
    .await;
    let postmortem = path_of(&client).await;
    client
        .goto(&format!("{base}{postmortem}/edit"))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#source"))
        .await
        .unwrap();
    let sections = [
        (
            "Symptoms",
            "- Upstream connects from the edge gateway time out (63 % of attempts).\n\
             - The gateway logs `too many open files`; its listen queue overflows.",
        ),
        (
            "Investigation",
            "1. **Count the gateway's descriptors against its limit.**\n\n   \
             ```sh\n   ls /proc/$(pgrep edge-gateway)/fd | wc -l; grep 'open files' /proc/$(pgrep edge-gateway)/limits\n   ```\n\n\
             2. **Watch retransmissions.**\n\n   ```sh\n   nstat -az TcpRetransSegs TcpOutSegs\n   ```",
        ),
        (
            "Root cause",
            "A lossy uplink made upstream connects slow; the gateway retried every failed \
             connect at once with no backoff, each retry holding a descriptor, until it hit \
             its 10240-descriptor limit and could no longer accept clients.",
        ),
        (
            "Fix",
            "Capped retries at two with jittered exponential backoff and raised the \
             descriptor limit to 65536.",
        ),
        (
            "Prevention",
            "Alert on descriptor use above 80 % of the limit and on retransmissions above 5 %.",
        ),
    ];
    for (heading, body) in sections {
        write_section(&client, heading, body).await;
    }
    shot(&client, "postmortem-editor").await;
    click(&client, ".editor-actions button[value=save]").await;
    wait_until(
        &client,
        &format!("return location.pathname === '{postmortem}'"),
        10,
        "the saved postmortem",
    )
    .await;
    let page = text_of(&client, ".pm-body").await;
    assert!(page.contains("jittered exponential backoff"), "{page}");

    // Export it: one Markdown file with the written sections and the evidence.
    let exported = client
        .execute_async(
            "var done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.text()).then(done, e => done('failed: ' + e));",
            vec![format!("{postmortem}/export.md").into()],
        )
        .await
        .unwrap();
    let exported = exported.as_str().unwrap();
    assert!(exported.starts_with("+++\n"), "{exported}");
    assert!(exported.contains(REPORT_ID), "{exported}");
    assert!(
        exported.contains("## Root cause\n\nA lossy uplink"),
        "{exported}"
    );
    assert!(
        exported.contains("## Prevention\n\nAlert on descriptor use"),
        "{exported}"
    );

    // Promote it: the editor opens on the new playbook with the bench run.
    shot(&client, "postmortem-page").await;
    click(&client, "#pm-promote").await;
    wait_until(
        &client,
        "return /^\\/playbooks\\/[a-z0-9-]+\\/edit$/.test(location.pathname)",
        10,
        "the playbook editor",
    )
    .await;
    let new_id = path_of(&client)
        .await
        .trim_start_matches("/playbooks/")
        .trim_end_matches("/edit")
        .to_owned();
    let bench = text_of(&client, "#bench-out").await;
    assert!(bench.contains(REPORT_ID), "{bench}");
    assert!(bench.contains("matches"), "{bench}");
    assert!(
        !js_bool(
            &client,
            "return !!document.querySelector('#bench-out .bench-fail')"
        )
        .await,
        "{bench}"
    );
    let source = client
        .execute("return document.getElementById('source').value;", vec![])
        .await
        .unwrap();
    let source = source.as_str().unwrap();
    assert!(
        source.contains("A lossy uplink made upstream connects slow"),
        "{source}"
    );
    assert!(
        source.contains(&format!("report = \"{REPORT_ID}\"")),
        "{source}"
    );
    shot(&client, "postmortem-promoted-editor").await;

    // The incident's timeline says what happened.
    client
        .goto(&format!("{base}/incidents/{incident}"))
        .await
        .unwrap();
    let timeline = text_of(&client, "#incident-live").await;
    assert!(
        timeline.contains(&format!("promoted to the playbook {new_id}")),
        "{timeline}"
    );
    client.close().await.unwrap();

    // The real CLI, on the same data: the new playbook is first and likely.
    let with_new = diagnose(Some(&data), &report_file);
    let first = &with_new["matches"][0];
    assert_eq!(first["playbook"], new_id.as_str(), "{with_new}");
    println!(
        "{new_id}: score {} confidence {} ({} clauses); built-ins alone: no likely match",
        first["score"],
        first["confidence"],
        first["clauses"].as_array().map_or(0, Vec::len)
    );
}
