//! Evidence pulled from Prometheus, against the real thing: Debian's
//! `prometheus-node-exporter` and `prometheus` (installed by scripts/test)
//! on loopback ports the test picks, scraping this machine every second
//! into temporary storage; Debian's Alertmanager delivering to a real
//! `faultline serve` that is pointed at that Prometheus. Then the same
//! server with its Prometheus gone, and another pointed at a Prometheus
//! that is slow, answers errors, refuses the credentials or answers too
//! much: each leaves a note on the incident saying so, within the timeout,
//! and nothing else fails.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::alertmanager::{Alertmanager, alert, incident_when};
use super::{Server, client, faultline, free_port, run};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// A child process killed and waited for when dropped.
struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    fn start(cmd: &mut Command, log: &Path) -> Daemon {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Daemon {
            child,
            log: log.to_owned(),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn need(bin: &str) {
    assert!(
        Path::new(bin).is_file(),
        "{bin} is missing: install Debian's prometheus and prometheus-node-exporter \
         (scripts/test does)"
    );
}

/// node_exporter with the collectors the mapping reads (`conntrack` only
/// when asked), on a loopback port.
fn node_exporter(dir: &Path, name: &str, conntrack: bool) -> (Daemon, u16) {
    need(NODE_EXPORTER);
    let port = free_port();
    let mut cmd = Command::new(NODE_EXPORTER);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args([
            "--collector.disable-defaults",
            "--collector.netstat",
            "--collector.sockstat",
            "--collector.tcpstat",
        ]);
    if conntrack {
        cmd.arg("--collector.conntrack");
    }
    (
        Daemon::start(&mut cmd, &dir.join(format!("{name}.log"))),
        port,
    )
}

/// Prometheus scraping each (port, instance label) every second.
async fn prometheus(dir: &Path, targets: &[(u16, &str)]) -> (Daemon, String) {
    need(PROMETHEUS);
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n",
    );
    for (port, instance) in targets {
        config += &format!(
            "      - targets: ['127.0.0.1:{port}']\n        labels: {{instance: '{instance}'}}\n"
        );
    }
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    let port = free_port();
    let daemon = Daemon::start(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
        &dir.join("prometheus.log"),
    );
    let url = format!("http://127.0.0.1:{port}");
    // Ready once every target has two samples (a counter's increase needs two).
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let q = http
            .get(format!("{url}/api/v1/query"))
            .query(&[("query", "count_over_time(up[1m]) >= 2")])
            .send()
            .await;
        if let Ok(r) = q
            && let Ok(v) = r.json::<Value>().await
            && v["data"]["result"].as_array().map(Vec::len) == Some(targets.len())
        {
            return (daemon, url);
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped its targets:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The incident's first timeline event of `kind` that `pick` accepts,
/// once there is one (within 30 s).
async fn event_when(
    server: &Server,
    am: Option<&Alertmanager>,
    id: i64,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http
            .get(server.url(&format!("/api/v1/incidents/{id}")))
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            let body: Value = r.json().await.unwrap();
            if let Some(e) = body["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| pick(e))
            {
                return e.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "incident {id}: no such event\n--- faultline:\n{}\n--- alertmanager:\n{}",
            server.log_text(),
            am.map(Alertmanager::log_text).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pulled(e: &Value) -> bool {
    e["kind"] == "report" && e["body"]["source"] == "prometheus"
}

fn note(e: &Value) -> bool {
    e["kind"] == "note" && e["body"]["source"] == "prometheus"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alertmanager_incident_carries_evidence_pulled_from_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (_full, full_port) = node_exporter(dir.path(), "node-1", true);
    let (_bare, bare_port) = node_exporter(dir.path(), "node-2", false);
    let (mut prom, prom_url) = prometheus(
        dir.path(),
        &[(full_port, "node-1:9100"), (bare_port, "node-2:9100")],
    )
    .await;

    // faultline pull: a v1 report, pipeable into faultline diagnose.
    let cli = faultline(dir.path())
        .args([
            "pull",
            "--prometheus",
            &prom_url,
            "--instance",
            "node-2:9100",
        ])
        .args(["--at", "now", "--window", "2m"])
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let report: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(report["schema"], "faultline.report.v1");
    assert_eq!(report["source"], "prometheus");
    assert_eq!(report["collector"]["host"], "node-2");
    let kinds: Vec<&str> = report["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["tcp_states", "net_counters"], "{report}");
    // Its conntrack collector is off: unknown, with why, never zero.
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains("conntrack"), "{skipped}");
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(stderr.contains("conntrack not read"), "{stderr}");
    let mut diagnose = faultline(dir.path())
        .args(["diagnose", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut diagnose.stdin.take().unwrap(), &cli.stdout).unwrap();
    let out = diagnose.wait_with_output().unwrap();
    assert!(out.status.success());
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(d["matches"].is_array(), "{d}");
    let signals = faultline::core::signals::derive(
        &faultline_probe::report::Report::from_json(&cli.stdout).unwrap(),
    );
    assert!(signals.get("conntrack.fill").is_none());
    assert!(signals.get("tcp.established_count").is_some());
    assert!(signals.get("counters.listen_overflows").is_some());

    // An alert through Alertmanager opens an incident; the evidence
    // follows without a click.
    let data = tempfile::tempdir().unwrap();
    let token = run(
        data.path(),
        &["token", "add", "alertmanager", "--role", "responder"],
    )
    .trim()
    .to_owned();
    run(data.path(), &["user", "add", "root", "--role", "responder"]);
    let port = free_port();
    let env = [
        ("FAULTLINE_ANONYMOUS_READ", "true"),
        ("FAULTLINE_PROMETHEUS_URL", prom_url.as_str()),
        ("FAULTLINE_PROMETHEUS_TIMEOUT_S", "3"),
        // This Prometheus is seconds old: a short window keeps the step at
        // 1 s, so its few samples are all read.
        ("FAULTLINE_PROMETHEUS_WINDOW_S", "60"),
    ];
    let server = Server::start_on(port, data.path(), &[], &env).await;
    let webhook = format!("http://127.0.0.1:{port}/api/v1/alertmanager");
    let am = Alertmanager::start(&webhook, &token).await;
    let starts =
        (Utc::now() - chrono::Duration::seconds(30)).to_rfc3339_opts(SecondsFormat::Secs, true);
    am.post(json!([alert("node-1:9100", &starts, 3600)])).await;
    incident_when(&server, &am, 1, "opened", |b| {
        b["incident"]["status"] == "open"
    })
    .await;
    let event = event_when(&server, Some(&am), 1, pulled).await;
    assert_eq!(event["who"], "prometheus");
    assert_eq!(
        event["body"]["target"], "instance=~\"node-1(:[0-9]+)?\"",
        "{event}"
    );
    let id = event["body"]["report_id"].as_str().unwrap();
    let stored: Value = client()
        .get(server.url(&format!("/api/v1/reports/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = &stored["report"];
    assert_eq!(body["source"], "prometheus", "{stored}");
    assert_eq!(body["collector"]["labels"]["instance"], "node-1:9100");
    let kinds: Vec<&str> = body["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["tcp_states", "conntrack", "net_counters"],
        "{stored}"
    );
    // The incident page shows it as evidence, and offers a pull again.
    let page = client()
        .get(server.url("/incidents/1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Evidence pulled from Prometheus"), "{page}");
    assert!(page.contains("prometheus about node-1"), "{page}");

    // On demand: a responder's "Pull evidence from Prometheus".
    let http = client();
    let (cookie, csrf) =
        super::common::http_login(&http, &server.base, "root", super::PASSWORD, "/incidents/1")
            .await;
    let pulled_again = http
        .post(server.url("/incidents/1"))
        .header("cookie", &cookie)
        .header("origin", server.url(""))
        .form(&[("csrf_token", csrf.as_str()), ("action", "pull")])
        .send()
        .await
        .unwrap();
    assert_eq!(pulled_again.status(), 303);
    let to = pulled_again.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(to.starts_with("/incidents/1?pulled="), "{to}");
    let flash = http
        .get(server.url(&to))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        flash.contains("inc-flash-ok") && flash.contains("the diagnosis below includes it"),
        "{flash}"
    );
    assert!(flash.contains("Pull evidence from Prometheus"));
    let timeline: Value = http
        .get(server.url("/api/v1/incidents/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pulls = timeline["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| pulled(e))
        .count();
    assert_eq!(pulls, 2, "{timeline}");

    // Prometheus goes away: the next alert's incident says so, in a note.
    let _ = prom.child.kill();
    let _ = prom.child.wait();
    am.post(json!([alert("node-3:9100", &starts, 3600)])).await;
    incident_when(&server, &am, 2, "opened", |b| {
        b["incident"]["status"] == "open"
    })
    .await;
    let down = event_when(&server, Some(&am), 2, note).await;
    let text = down["body"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Evidence not pulled from Prometheus: Prometheus at http://127.0.0.1:")
            && text.contains("could not be reached"),
        "{text}"
    );
    let healthy = client().get(server.url("/readyz")).send().await.unwrap();
    assert!(healthy.status().is_success());
}

/// What the stand-in Prometheus does for a query naming `host`.
fn behaviour(request: &str) -> &'static str {
    for b in ["slow", "error", "huge", "locked", "empty", "junk"] {
        if request.contains(&format!("{b}-host")) {
            return b;
        }
    }
    "error"
}

/// A Prometheus that misbehaves on purpose, one way per host asked about:
/// never answers, answers 422 with Prometheus's error envelope, answers
/// 9 MiB, refuses the credentials, has no such series, or answers HTML.
async fn misbehaving_prometheus() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = Vec::new();
                // Head and form body arrive in a packet or two on loopback.
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline {
                    match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                        Ok(_) => break,
                        Err(_) if !got.is_empty() => break,
                        Err(_) => {}
                    }
                }
                let text = String::from_utf8_lossy(&got).into_owned();
                let (status, body): (&str, Vec<u8>) = match behaviour(&text) {
                    "slow" => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                    "huge" => {
                        let mut b = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"node_netstat_Tcp_OutSegs","instance":"huge-host:9100"},"values":["#.to_vec();
                        while b.len() < 9 * 1024 * 1024 {
                            b.extend_from_slice(br#"[1800000000,"1"],"#);
                        }
                        b.extend_from_slice(br#"[1800000001,"1"]]}]}}"#);
                        ("200 OK", b)
                    }
                    "locked" => ("401 Unauthorized", b"Unauthorized\n".to_vec()),
                    "empty" => (
                        "200 OK",
                        br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#.to_vec(),
                    ),
                    "junk" => ("200 OK", b"<html>it works</html>".to_vec()),
                    _ => (
                        "422 Unprocessable Entity",
                        br#"{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory"}"#.to_vec(),
                    ),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_prometheus_leaves_a_note_and_nothing_else_fails() {
    let (url, stand_in) = misbehaving_prometheus().await;
    let data = tempfile::tempdir().unwrap();
    let token = run(
        data.path(),
        &["token", "add", "alertmanager", "--role", "responder"],
    )
    .trim()
    .to_owned();
    let env = [
        ("FAULTLINE_ANONYMOUS_READ", "true"),
        ("FAULTLINE_PROMETHEUS_URL", url.as_str()),
        ("FAULTLINE_PROMETHEUS_TIMEOUT_S", "2"),
    ];
    let server = Server::start(data.path(), &env).await;
    let http = client();
    let cases = [
        ("slow", "did not answer within 2 s"),
        (
            "error",
            "answered 422 Unprocessable Entity: execution: query processing would load too many samples",
        ),
        ("huge", "is larger than 8 MiB; left unread"),
        ("locked", "refused the credentials (401 Unauthorized)"),
        (
            "empty",
            "has no series for instance=~\"empty-host(:[0-9]+)?\"",
        ),
        (
            "junk",
            "answered something that is not Prometheus's JSON API",
        ),
    ];
    let starts =
        (Utc::now() - chrono::Duration::seconds(60)).to_rfc3339_opts(SecondsFormat::Secs, true);
    for (i, (host, _)) in cases.iter().enumerate() {
        let payload = json!({
            "version": "4", "status": "firing", "receiver": "faultline",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "NodeDown", "instance": format!("{host}-host:9100")},
                "annotations": {}, "startsAt": starts, "fingerprint": format!("f{i}"),
            }],
        });
        let sent = Instant::now();
        let r = http
            .post(server.url("/api/v1/alertmanager"))
            .bearer_auth(&token)
            .json(&payload)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "the webhook waited for Prometheus: {:?}",
            sent.elapsed()
        );
    }
    let from = Instant::now();
    for (i, (host, says)) in cases.iter().enumerate() {
        let id = i as i64 + 1;
        let e = event_when(&server, None, id, note).await;
        let text = e["body"]["text"].as_str().unwrap();
        assert!(text.contains(says), "{host}: {text}");
        assert!(text.contains(&url), "{host}: names the Prometheus: {text}");
        let body: Value = http
            .get(server.url(&format!("/api/v1/incidents/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            !body["timeline"].as_array().unwrap().iter().any(pulled),
            "{host}: no evidence from a failed pull"
        );
    }
    // Bounded: the slow one gave up at its 2 s, not at the 60 s it hung.
    assert!(
        from.elapsed() < Duration::from_secs(15),
        "{:?}",
        from.elapsed()
    );
    assert!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    stand_in.abort();
}
