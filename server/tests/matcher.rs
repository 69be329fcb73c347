//! The matcher end to end: the confusion matrix of the built-in playbooks
//! against their example reports and the healthy ones, the robustness suite
//! (the fault lab's reports replayed with noise), `faultline diagnose`, and
//! `POST /api/v1/diagnose`.

mod common;
#[path = "matcher/noise.rs"]
mod noise;

use std::io::Write;
use std::process::{Command, Stdio};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use faultline::builtin;
use faultline::core::matcher::{Diagnosis, Matcher};
use faultline::core::playbook::Playbook;
use faultline::core::signals;
use faultline_probe::report::Report;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn builtins() -> Vec<Playbook> {
    builtin::playbooks()
        .iter()
        .map(|(name, text)| Playbook::parse(name, text).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn load(name: &str) -> Report {
    let text = builtin::example(name).unwrap_or_else(|| panic!("{name} is not embedded"));
    Report::from_json(text.as_bytes())
        .unwrap_or_else(|e| panic!("{name} is not a valid v1 report: {e:?}"))
}

fn diagnose(m: &Matcher, r: &Report) -> Diagnosis {
    m.diagnose(&signals::derive(r))
}

/// Rows: every example report and healthy report. Columns: every playbook,
/// cell = score × confidence, `*` on the best. Printed whatever happens, then
/// asserted, so a failure shows the whole picture.
#[test]
fn confusion_matrix_every_example_ranks_its_playbook_first_and_healthy_is_quiet() {
    let playbooks = builtins();
    let (matcher, rejected) = Matcher::new(&playbooks);
    assert!(rejected.is_empty(), "{rejected:?}");
    let ids: Vec<&str> = playbooks.iter().map(|p| p.id()).collect();
    let mut rows: Vec<(String, Option<String>, Report)> = Vec::new();
    for p in &playbooks {
        assert!(
            p.meta.examples.len() >= 2,
            "{} has fewer than two examples",
            p.id()
        );
        assert!(
            p.meta.clauses.len() >= 3,
            "{} has fewer than three clauses",
            p.id()
        );
        for e in &p.meta.examples {
            rows.push((e.report.clone(), Some(p.id().to_owned()), load(&e.report)));
        }
    }
    for (name, _) in builtin::healthy_examples() {
        rows.push((name.clone(), None, load(&name)));
    }

    let mut out =
        String::from("\nconfusion matrix (score × confidence; * = ranked first; L = likely)\n");
    out.push_str(&format!("{:<44}", "report \\ playbook"));
    for (i, _) in ids.iter().enumerate() {
        out.push_str(&format!("{:>7}", format!("P{}", i + 1)));
    }
    out.push('\n');
    let mut failures = Vec::new();
    let mut firsts = 0;
    for (name, expected, report) in &rows {
        let d = diagnose(&matcher, report);
        let best = &d.candidates[0].playbook;
        out.push_str(&format!("{name:<44}"));
        for id in &ids {
            let c = d
                .candidates
                .iter()
                .find(|c| &c.playbook.as_str() == id)
                .unwrap();
            let mark = if &c.playbook == best { "*" } else { " " };
            let likely = if c.likely { "L" } else { " " };
            out.push_str(&format!("{:>5.2}{mark}{likely}", c.rank()));
        }
        out.push('\n');
        match expected {
            Some(id) if best == id && d.candidates[0].likely => firsts += 1,
            Some(id) => failures.push(format!(
                "{name}: expected {id} first and likely, got {best}"
            )),
            None => {
                let likely: Vec<_> = d.likely().map(|c| c.playbook.clone()).collect();
                if !likely.is_empty() {
                    failures.push(format!("{name}: healthy but likely {likely:?}"));
                }
            }
        }
    }
    for (i, id) in ids.iter().enumerate() {
        out.push_str(&format!("  P{:<3} {id}\n", i + 1));
    }
    let examples = rows.iter().filter(|r| r.1.is_some()).count();
    out.push_str(&format!(
        "{firsts} of {examples} examples ranked their own playbook first\n"
    ));
    // Printed to stderr directly so it shows without --nocapture.
    let _ = writeln!(std::io::stderr(), "{out}");
    let _ = std::fs::write(
        std::env::temp_dir().join("faultline-confusion-matrix.txt"),
        &out,
    );
    assert!(failures.is_empty(), "{}\n{out}", failures.join("\n"));
    assert_eq!(ids.len(), 13);
    assert_eq!(firsts, examples);
}

/// Every lab report clean, on a busy host, on a busy proxy and with idle
/// timers no catalogue lists, plus healthy hosts that look alarming: the
/// top likely answer must be the scenario's playbook, and nothing for the
/// healthy ones. Prints precision and recall per playbook first.
#[test]
fn noise_suite_precision_and_recall_per_playbook() {
    let playbooks = builtins();
    let (matcher, _) = Matcher::new(&playbooks);
    let ids: Vec<&str> = playbooks.iter().map(|p| p.id()).collect();
    let cases = noise::cases();
    let mut scores: std::collections::BTreeMap<String, noise::Score> = Default::default();
    let (mut alarms, mut healthy) = (0, 0);
    let mut failures = Vec::new();
    let mut also = Vec::new();
    for case in &cases {
        let report = Report::from_json(case.report.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{}: not a valid report: {e:?}", case.name));
        let d = diagnose(&matcher, &report);
        let top = d.likely().next().map(|c| c.playbook.clone());
        for c in d.likely().skip(1) {
            if case.truth.as_ref() != Some(&c.playbook) {
                scores.entry(c.playbook.clone()).or_default().also_likely += 1;
                also.push(format!("{}: {} also likely", case.name, c.playbook));
            }
        }
        match (&case.truth, &top) {
            (Some(want), Some(got)) if want == got => {
                scores.entry(want.clone()).or_default().tp += 1
            }
            (Some(want), got) => {
                scores.entry(want.clone()).or_default().fn_ += 1;
                if let Some(got) = got {
                    scores.entry(got.clone()).or_default().fp += 1;
                }
                failures.push(format!("{}: expected {want}, got {got:?}", case.name));
            }
            (None, got) => {
                healthy += 1;
                if let Some(got) = got {
                    alarms += 1;
                    scores.entry(got.clone()).or_default().fp += 1;
                    failures.push(format!("{}: healthy, got {got}", case.name));
                }
            }
        }
    }
    let table = noise::table(&ids, &scores, (alarms, healthy));
    let out = format!(
        "\nnoise suite: {} cases (precision and recall of the top likely answer)\n{table}{}\n{}\n",
        cases.len(),
        also.join("\n"),
        failures.join("\n")
    );
    let _ = writeln!(std::io::stderr(), "{out}");
    let _ = std::fs::write(std::env::temp_dir().join("faultline-noise-suite.txt"), &out);
    assert!(failures.is_empty(), "{out}");
}

#[test]
fn examples_differ_from_each_other() {
    for p in builtins() {
        let texts: Vec<String> = p
            .meta
            .examples
            .iter()
            .map(|e| builtin::example(&e.report).unwrap())
            .collect();
        let signals: Vec<_> = p
            .meta
            .examples
            .iter()
            .map(|e| signals::derive(&load(&e.report)))
            .collect();
        assert_ne!(texts[0], texts[1], "{}", p.id());
        assert_ne!(signals[0], signals[1], "{}: same numbers twice", p.id());
    }
}

fn example_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("playbooks")
        .join(name)
}

/// Runs `faultline diagnose` in an empty directory (no data dir: built-ins only).
fn run_cli(args: &[&str], stdin: Option<&[u8]>) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        !dir.path().join("faultline-data").exists(),
        "diagnose must not create a data directory"
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_json_lists_only_likely_matches_best_first() {
    let path = example_path("examples/mtu-blackhole-1.json");
    let (ok, stdout, stderr) = run_cli(
        &["diagnose", path.to_str().unwrap(), "--format", "json"],
        None,
    );
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let matches = v["matches"].as_array().unwrap();
    assert_eq!(matches[0]["playbook"], "mtu-blackhole", "{stdout}");
    assert_eq!(
        matches[0]["title"].as_str().map(|t| !t.is_empty()),
        Some(true)
    );
    assert!(matches.iter().all(|m| m["score"].as_f64().unwrap() >= 0.75));
    let clause = &matches[0]["clauses"][0];
    assert_eq!(clause["state"], "true");
    assert!(clause["observed"]["pmtu.blackhole"].as_bool().unwrap());
    assert!(v["next_steps"].is_array());
}

#[test]
fn cli_reads_stdin_and_prints_text_for_a_terminal() {
    let text = builtin::example("examples/idle-timeout-reset-2.json").unwrap();
    let (ok, stdout, stderr) = run_cli(&["diagnose", "-"], Some(text.as_bytes()));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("LIKELY  idle-timeout-reset"), "{stdout}");
    assert!(
        stdout.contains("AWS NLB idle timeout"),
        "the matched timer is named: {stdout}"
    );
    let (ok, stdout, _) = run_cli(
        &["diagnose"],
        Some(
            builtin::example("healthy/busy-host.json")
                .unwrap()
                .as_bytes(),
        ),
    );
    assert!(ok);
    assert!(stdout.starts_with("No likely root cause"), "{stdout}");
}

/// A DaemonSet probe's report: the node's sockets and each pod's network
/// namespace apart. The leak is in one pod; the diagnosis names it beside
/// the counts, and the same node without the leak (one idle pod holding a
/// single CLOSE_WAIT, a share of 1) is quiet.
#[test]
fn close_wait_in_a_pod_is_attributed_to_the_pod() {
    let (matcher, _) = Matcher::new(&builtins());
    let d = diagnose(&matcher, &load("examples/close-wait-leak-4.json"));
    let top = d.likely().next().expect("a likely candidate");
    assert_eq!(top.playbook, "close-wait-leak");
    let count = top
        .clauses
        .iter()
        .find(|c| c.when.contains("tcp.close_wait_count"))
        .unwrap();
    assert_eq!(
        count.observed.get("tcp.close_wait_where"),
        Some(&signals::SignalValue::Text(
            "pod payments/ledger-6c8f9-2xk4q".into()
        )),
        "{:?}",
        count.observed
    );
    assert_eq!(
        count.observed.get("tcp.close_wait_count"),
        Some(&signals::SignalValue::Number(642.0)),
        "the pod's count, not the node's"
    );
    let quiet = diagnose(&matcher, &load("healthy/pods-node.json"));
    assert_eq!(quiet.likely().count(), 0, "{:?}", quiet.candidates[0]);
}

#[test]
fn cli_rejects_an_invalid_report_naming_the_field() {
    let text = builtin::example("examples/close-wait-leak-1.json")
        .unwrap()
        .replace("\"ESTABLISHED\": 3", "\"ESTABLISHED\": -3");
    let (ok, _, stderr) = run_cli(&["diagnose", "-"], Some(text.as_bytes()));
    assert!(!ok);
    assert!(
        stderr.contains("observations[0].counts.ESTABLISHED"),
        "{stderr}"
    );
}

async fn post(state: &faultline::web::AppState, body: &str) -> (StatusCode, Value) {
    let response = faultline::web::app(state.clone())
        .oneshot(
            Request::post("/api/v1/diagnose")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn api_diagnoses_a_report_with_the_cli_shape() {
    let t = common::app().await;
    let body = builtin::example("examples/reconnect-storm-syn-flood-2.json").unwrap();
    let (status, v) = post(&t.state, &body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["matches"][0]["playbook"], "reconnect-storm-syn-flood",
        "{v}"
    );
    assert!(v["matches"][0]["confidence"].as_f64().unwrap() > 0.5);
    assert!(v["next_steps"].is_array());

    let healthy = builtin::example("healthy/quiet-host.json").unwrap();
    let (status, v) = post(&t.state, &healthy).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["matches"].as_array().map(Vec::len), Some(0), "{v}");
}

#[tokio::test]
async fn api_answers_400_for_malformed_json_and_422_naming_the_field() {
    let t = common::app().await;
    let (status, v) = post(&t.state, "{\"schema\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "malformed_json");

    let bad = builtin::example("examples/tls-incomplete-chain-1.json")
        .unwrap()
        .replace("\"unknown_issuer\"", "\"weird\"");
    let (status, v) = post(&t.state, &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "observations[0].verify", "{v}");

    let (status, v) = post(&t.state, "{\"schema\": \"faultline.report.v1\"}").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("report_id"),
        "{v}"
    );
}

#[tokio::test]
async fn signals_page_lists_signals_with_the_playbooks_that_use_them() {
    let t = common::app().await;
    let response = faultline::web::app(t.state.clone())
        .oneshot(Request::get("/signals").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for signal in signals::SIGNALS {
        assert!(
            html.contains(&format!("id=\"sig-{}\"", signal.name)),
            "{} missing",
            signal.name
        );
    }
    assert!(html.contains("href=\"/playbooks/conntrack-table-full\""));
    assert!(
        html.contains("logs.upstream_prematurely_closed_connection"),
        "family members listed"
    );
    assert!(html.contains("AWS ALB idle timeout"), "timer catalogue");
    assert!(html.contains("href=\"/signals\""), "linked from the nav");
}

#[tokio::test]
async fn a_playbook_with_a_bad_clause_is_refused_on_save_with_its_position() {
    let t = common::app().await;
    let source = builtin::playbooks()
        .into_iter()
        .find(|(n, _)| n == "close-wait-leak.md")
        .unwrap()
        .1
        .replace(
            "tcp.close_wait_count >= 100",
            "tcp.close_wait_count > > 100",
        );
    let err = t
        .state
        .kb
        .save(
            "close-wait-leak.md",
            &source,
            faultline::store::Origin::Import,
            None,
            None,
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("close-wait-leak.md:9: clause 1: "), "{msg}");
    assert!(msg.contains("at column 24"), "{msg}");
}

/// The next steps follow what the evidence says about the host: nothing
/// that only a Kubernetes node has on a plain nginx host, and nothing for a
/// candidate its missing evidence could not make likely.
#[test]
fn next_steps_fit_the_host_and_can_change_a_verdict() {
    let playbooks = builtins();
    let (matcher, _) = Matcher::new(&playbooks);
    let report = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/lab")
            .join(name);
        Report::from_json(&std::fs::read(path).unwrap()).unwrap()
    };
    for name in [
        "keepalive.json",
        "idle_reset.json",
        "close_wait.json",
        "healthy/host.json",
    ] {
        let d = diagnose(&matcher, &report(name));
        for step in &d.next_steps {
            assert!(
                !step
                    .signals
                    .iter()
                    .any(|s| s.starts_with("k8s.") || s.starts_with("nat.pod_cidrs")),
                "{name}: a Kubernetes step on a plain host: {step:?}"
            );
            assert!(!step.collect.contains("iptables-save"), "{name}: {step:?}");
        }
    }
    let d = diagnose(&matcher, &report("idle_reset.json"));
    assert!(d.likely().any(|c| c.playbook == "idle-timeout-reset"));
    assert!(
        !d.next_steps
            .iter()
            .any(|s| s.settles.iter().any(|p| p == "close-wait-leak")),
        "close-wait-leak is ruled out by the sockets measured: {:?}",
        d.next_steps
    );
    // A Kubernetes node still gets the pod evidence asked for.
    let d = diagnose(&matcher, &report("masquerade.json"));
    assert!(
        d.likely()
            .next()
            .is_some_and(|c| c.playbook == "missing-masquerade")
    );
}
